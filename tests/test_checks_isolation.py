"""The CPU isolation checks where the kernel's version or build decides what a finding says:
the boot CPU in nohz_full, and how the unbound workqueue mask is made persistent."""

from __future__ import annotations

import pytest
from test_checks import CMDLINE, CPU, tuned_host_with

from hftinfra.audit import run_audit
from hftinfra.profiles import load_profile

CLEARED = "NO_HZ: Clearing 0 from nohz_full range for timekeeping"
# nohz_full= asks for CPU 0 as well; the kernel left it out (sysfs shows the rest).
ASKS_FOR_CPU0 = {"/proc/cmdline": CMDLINE.replace("nohz_full=2-3,6-7", "nohz_full=0,2-3,6-7")}


@pytest.fixture
def host_with(tmp_path):
    """host_with({path: content, or None to delete}) -> a snapshot of the tuned 8-CPU host so changed."""
    counter = iter(range(1000))

    return lambda changes=None: tuned_host_with(tmp_path / f"h{next(counter)}", changes)


def finding(host, check_id: str):
    return run_audit(host, "hft-isolated").finding(check_id)


def kernel(release: str, config: str | None = None) -> dict:
    files = {"/proc/sys/kernel/osrelease": release}
    if config is not None:
        files[f"/boot/config-{release}"] = config
    return files


def test_boot_cpu_dropped_by_a_kernel_before_5_2(host_with):
    f = finding(host_with({**ASKS_FOR_CPU0, **kernel("4.14.0-115.el7a.aarch64")}), "cpu.nohz_full")
    assert f.status == "fail"
    assert "older than 5.2" in f.message and CLEARED in f.message, f.message
    assert "Keep CPU 0 for housekeeping" in f.message
    assert "not rebooted" not in f.message


def test_boot_cpu_dropped_by_a_kernel_that_suspends_from_cpu0(host_with):
    config = "CONFIG_NO_HZ_FULL=y\nCONFIG_PM_SLEEP_SMP=y\n# CONFIG_PM_SLEEP_SMP_NONZERO_CPU is not set"
    f = finding(host_with({**ASKS_FOR_CPU0, **kernel("6.1.0-18-amd64", config)}), "cpu.nohz_full")
    assert f.status == "fail"
    assert "5.2+ kernel is built with CONFIG_PM_SLEEP_SMP" in f.message and CLEARED in f.message, f.message


def test_a_kernel_that_accepts_cpu0_does_not_blame_the_boot_cpu_rule(host_with):
    config = "CONFIG_NO_HZ_FULL=y\n# CONFIG_PM_SLEEP_SMP is not set"
    f = finding(host_with({**ASKS_FOR_CPU0, **kernel("6.1.0-18-amd64", config)}), "cpu.nohz_full")
    assert f.status == "fail"
    assert "not rebooted since the change, or the kernel rejected the list" in f.message
    assert CLEARED not in f.message


def test_boot_cpu_rule_without_a_build_config_says_it_cannot_tell(host_with):
    f = finding(host_with({**ASKS_FOR_CPU0, **kernel("6.1.0-18-amd64")}), "cpu.nohz_full")
    assert f.status == "fail"
    assert "no build config here to tell" in f.message and "such as x86" in f.message, f.message


def test_boot_cpu_rule_with_an_unread_kernel_version_names_both_rules(host_with):
    f = finding(host_with({**ASKS_FOR_CPU0, "/proc/sys/kernel/osrelease": None}), "cpu.nohz_full")
    assert f.status == "fail"
    assert "kernels before 5.2, and later ones built with CONFIG_PM_SLEEP_SMP" in f.message, f.message
    assert "kernel version unknown" in f.message


def test_other_cpus_missing_from_nohz_full_are_not_put_on_the_boot_cpu(host_with):
    f = finding(host_with({"/proc/cmdline": CMDLINE.replace("nohz_full=2-3,6-7", "nohz_full=0-3,6-7")}),
                "cpu.nohz_full")
    assert f.status == "fail" and "not rebooted" in f.message and CLEARED not in f.message


def test_cpu0_in_nohz_full_is_a_warning_and_the_fix_moves_it_to_housekeeping(host_with):
    host = host_with({
        "/proc/cmdline": CMDLINE.replace("2-3,6-7", "0,2-3,6-7"),
        f"{CPU}/isolated": "0,2-3,6-7", f"{CPU}/nohz_full": "0,2-3,6-7",
    })
    f = finding(host, "cpu.nohz_full")
    assert f.status == "warn", (f.status, f.message)
    assert "CPU 0, the boot CPU, is nohz_full" in f.message
    assert "--args=nohz_full=2-3,6-7" in f.fix and "keep CPU 0, the boot CPU, for housekeeping" in f.fix


def test_tuned_host_keeps_cpu0_out_and_passes(host_with):
    assert finding(host_with(), "cpu.nohz_full").status == "pass"


WQ_WRONG = {"/sys/devices/virtual/workqueue/cpumask": "ff"}


def test_workqueue_fix_uses_the_boot_parameter_from_6_6(host_with):
    f = finding(host_with({**WQ_WRONG, **kernel("6.8.0-45-generic")}), "cpu.workqueue_mask")
    assert f.status == "fail"
    assert "echo 33 > /sys/devices/virtual/workqueue/cpumask" in f.fix
    assert "--args=workqueue.unbound_cpus=0-1,4-5" in f.fix


def test_workqueue_fix_before_6_6_has_no_boot_parameter(host_with):
    f = finding(host_with({**WQ_WRONG, **kernel("5.14.0-362.24.1.el9_3.x86_64")}), "cpu.workqueue_mask")
    assert f.status == "fail"
    assert "before 6.6" in f.fix and "--args=" not in f.fix


def test_workqueue_fix_with_an_unread_kernel_version_offers_both(host_with):
    f = finding(host_with({**WQ_WRONG, "/proc/sys/kernel/osrelease": None}), "cpu.workqueue_mask")
    assert f.status == "fail"
    assert "on 6.6+ kernels boot with workqueue.unbound_cpus=" in f.fix and "kernel version unknown" in f.fix
    assert "--args=" not in f.fix


def test_isolcpus_flags_are_sourced_from_the_profile_that_sets_them():
    # tuned's realtime profile writes isolcpus=managed_irq,domain,...; cpu-partitioning writes
    # nohz_full= and rcu_nocbs= (and a flagless isolcpus= only for no_balance_cores).
    rules = load_profile("hft-isolated").rules
    assert any("tuned profiles/realtime/tuned.conf" in s for s in rules["cpu.isolated"].sources)
    assert not any("cpu-partitioning" in s for s in rules["cpu.isolated"].sources)
    assert any("cpu-partitioning" in s and "nohz_full" in s for s in rules["cpu.nohz_full"].sources)


def test_irqaffinity_is_described_as_a_default_only():
    from hftinfra.checks import catalog

    check = catalog()["cpu.irqaffinity"]
    rule = load_profile("hft-isolated").rules["cpu.irqaffinity"]
    for text in (check.summary, rule.reason):
        assert "every new interrupt" not in text and "managed" in text, text
