"""Kernel checks whose verdict depends on the kernel version, the build or the CPU: RT
throttling (6.12), the TSC watchdog (5.2, 5.16, 6.6), the lockup detectors' CPU mask, timer
migration (6.9, 6.19) and the RCU boot parameters (5.16 sysfs, 6.11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_checks import CMDLINE, RCUPDATE, RCUTREE, tuned_host_with

from hftinfra.audit import run_audit

HOSTS = Path(__file__).resolve().parent / "hosts"
OSREL = "/proc/sys/kernel/osrelease"
TSC_ADJUST_FLAGS = "fpu tsc rdtscp constant_tsc nonstop_tsc tsc_deadline_timer tsc_adjust"


@pytest.fixture
def finding(tmp_path):
    """finding(check_id, changes, profile) -> the finding on the tuned mini host so changed."""
    counter = iter(range(1000))

    def make(check_id: str, changes: dict | None = None, profile: str = "hft-isolated"):
        return run_audit(tuned_host_with(tmp_path / f"h{next(counter)}", changes), profile).finding(check_id)

    return make


def kernel(release: str, config: str | None = None) -> dict:
    """Changes that make the host run ``release``, with ``config`` as its build config."""
    changes = {OSREL: release}
    if config is not None:
        changes[f"/boot/config-{release}"] = "CONFIG_HZ=1000\nCONFIG_PREEMPT_DYNAMIC=y\n" + config
    return changes


def cpuinfo(flags: str, packages: int = 1, cpus: int = 8) -> str:
    per = max(cpus // packages, 1)
    return "\n".join(f"processor\t: {n}\nphysical id\t: {n // per}\nflags\t\t: {flags}\n" for n in range(cpus))


def nodes(count: int) -> dict:
    return {"/sys/devices/system/node/online": f"0-{count - 1}" if count > 1 else "0"}


def no_tsc_param() -> dict:
    return {"/proc/cmdline": CMDLINE.replace("tsc=reliable ", "")}


# ---- kernel.sched_rt_runtime: 6.12 removed the default RT throttling -------------------------


def test_rt_throttling_before_6_12_judges_the_value(finding):
    f = finding("kernel.sched_rt_runtime", {"/proc/sys/kernel/sched_rt_runtime_us": "-1", **kernel("5.14.0-427.el9")})
    assert f.status == "warn" and "runaway" in f.message and f.fix
    f = finding("kernel.sched_rt_runtime", kernel("5.14.0-427.el9"))
    assert f.status == "pass" and "kernel 5.14: before 6.12" in f.message


def test_rt_throttling_since_6_12_without_rt_group_sched_is_not_judged(finding):
    f = finding("kernel.sched_rt_runtime", {"/proc/sys/kernel/sched_rt_runtime_us": "-1",
                                             **kernel("6.12.43", "# CONFIG_RT_GROUP_SCHED is not set")})
    assert f.status == "skip" and f.fix is None
    assert "5f6bd380c7bd" in f.message and "fair deadline server" in f.message
    assert "CONFIG_RT_GROUP_SCHED is not set" in f.message and "-1 (RT throttling disabled)" in f.observed


def test_rt_throttling_since_6_12_with_rt_group_sched_still_applies(finding):
    changes = {"/proc/sys/kernel/sched_rt_runtime_us": "500000", **kernel("6.18.2", "CONFIG_RT_GROUP_SCHED=y")}
    f = finding("kernel.sched_rt_runtime", changes)
    assert f.status == "fail" and "root group still throttles" in f.message
    assert "sysctl -w kernel.sched_rt_runtime_us=950000" in f.fix


def test_rt_group_sched_default_disabled_and_its_boot_switch(finding):
    config = "CONFIG_RT_GROUP_SCHED=y\nCONFIG_RT_GROUP_SCHED_DEFAULT_DISABLED=y"
    base = {"/proc/sys/kernel/sched_rt_runtime_us": "-1", **kernel("6.16.1", config)}
    assert finding("kernel.sched_rt_runtime", base).status == "skip"
    on = finding("kernel.sched_rt_runtime", {**base, "/proc/cmdline": CMDLINE + " rt_group_sched=1"})
    assert on.status == "warn" and "throttles RT tasks: kernel 6.16, RT group scheduling" in on.observed


def test_rt_throttling_rule_unknown_only_where_it_decides(finding):
    # 6.12 with no build config: 950000 is fine under either rule, -1 is not known to be.
    f = finding("kernel.sched_rt_runtime")
    assert f.status == "pass" and "either rule" in f.message
    f = finding("kernel.sched_rt_runtime", {"/proc/sys/kernel/sched_rt_runtime_us": "-1"})
    assert f.status == "unknown" and "CONFIG_RT_GROUP_SCHED" in f.message and f.fix is None
    f = finding("kernel.sched_rt_runtime", {OSREL: None, "/proc/sys/kernel/sched_rt_runtime_us": "-1"})
    assert f.status == "unknown" and "kernel version unknown" in f.message


# ---- kernel.clocksource: which rule keeps the watchdog off the TSC ----------------------------


def test_tsc_reliable_passes_and_says_what_else_it_skips(finding):
    f = finding("kernel.clocksource")
    assert f.status == "pass" and "boot-time TSC synchronization checks" in f.message


def test_tsc_nowatchdog_needs_5_2(finding):
    nowatchdog = {"/proc/cmdline": CMDLINE.replace("tsc=reliable", "tsc=nowatchdog")}
    assert finding("kernel.clocksource", nowatchdog).status == "pass"
    old = finding("kernel.clocksource", {**nowatchdog, **kernel("4.19.0-27-amd64")})
    assert old.status == "fail" and "ignores tsc=nowatchdog" in old.message
    assert "tsc=reliable" in old.fix and "tsc=nowatchdog" not in old.fix


def test_kernel_drops_the_tsc_watchdog_itself_since_5_16(finding):
    modern_cpu = {**no_tsc_param(), "/proc/cpuinfo": cpuinfo(TSC_ADJUST_FLAGS)}
    f = finding("kernel.clocksource", modern_cpu)
    assert f.status == "pass" and "drops the watchdog on the TSC by itself" in f.message
    assert "b4bac279319d" in f.message and f.fix is None  # the mini host runs 6.12
    old = finding("kernel.clocksource", {**modern_cpu, **kernel("5.14.0-427.el9")})
    assert old.status == "fail" and "5.16" in old.message
    assert "tsc=nowatchdog" in old.fix and "clocksource=" not in old.fix


def test_tsc_watchdog_exemption_counts_nodes_and_packages(finding):
    modern_cpu = {**no_tsc_param(), "/proc/cpuinfo": cpuinfo(TSC_ADJUST_FLAGS)}
    three = finding("kernel.clocksource", {**modern_cpu, **nodes(3), **kernel("5.16.20")})
    assert three.status == "fail" and "at most 2" in three.message and "3 online NUMA nodes" in three.message
    assert finding("kernel.clocksource", {**modern_cpu, **nodes(3), **kernel("6.6.30")}).status == "pass"
    five = finding("kernel.clocksource", {**modern_cpu, **nodes(5), **kernel("6.6.30")})
    assert five.status == "fail" and "at most 4" in five.message
    sockets = {**no_tsc_param(), "/proc/cpuinfo": cpuinfo(TSC_ADJUST_FLAGS, packages=8)}
    many = finding("kernel.clocksource", {**sockets, **kernel("6.12.43")})
    assert many.status == "fail" and "8 packages" in many.message
    # From 6.12 packages count, not nodes: two sockets split into eight nodes still qualify.
    snc = {**no_tsc_param(), "/proc/cpuinfo": cpuinfo(TSC_ADJUST_FLAGS, packages=2), **nodes(8)}
    assert finding("kernel.clocksource", {**snc, **kernel("6.12.43")}).status == "pass"
    assert finding("kernel.clocksource", {**snc, **kernel("6.6.30")}).status == "fail"


def test_tsc_watchdog_without_tsc_adjust_needs_a_parameter(finding):
    f = finding("kernel.clocksource", no_tsc_param())
    assert f.status == "fail" and "lacks tsc_adjust" in f.message and "tsc=nowatchdog" in f.fix


def test_tsc_reliable_cpu_flag_and_non_x86(finding):
    flagged = {**no_tsc_param(), "/proc/cpuinfo": cpuinfo("fpu tsc constant_tsc nonstop_tsc tsc_reliable")}
    f = finding("kernel.clocksource", flagged)
    assert f.status == "pass" and "tsc_reliable" in f.message
    arm = {"/proc/cpuinfo": "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n",
           "/sys/devices/system/clocksource/clocksource0/current_clocksource": "arch_sys_counter"}
    f = finding("kernel.clocksource", arm)
    assert f.status == "skip" and "no TSC" in f.message


def test_tsc_watchdog_unread_cmdline_decided_by_hardware_rule(finding):
    f = finding("kernel.clocksource", {"/proc/cmdline": None, "/proc/cpuinfo": cpuinfo(TSC_ADJUST_FLAGS)})
    assert f.status == "pass", (f.observed, f.message)
    f = finding("kernel.clocksource", {"/proc/cmdline": None})
    assert f.status == "unknown" and "tsc= unknown (missing: /proc/cmdline)" in f.observed


# ---- kernel.watchdog / kernel.nmi_watchdog: only the CPUs in watchdog_cpumask ---------------


@pytest.mark.parametrize("check_id,changes", [
    ("kernel.watchdog", {"/proc/sys/kernel/soft_watchdog": "1", "/proc/cmdline": CMDLINE.replace("nosoftlockup ", "")}),
    ("kernel.nmi_watchdog", {"/proc/sys/kernel/nmi_watchdog": "1"}),
])
def test_detector_on_outside_the_isolated_cpus_passes(finding, check_id, changes):
    f = finding(check_id, {**changes, "/proc/sys/kernel/watchdog_cpumask": "0-1,4-5"})
    assert f.status == "pass" and "none of the isolated CPUs 2-3,6-7" in f.message and f.fix is None
    f = finding(check_id, {**changes, "/proc/sys/kernel/watchdog_cpumask": "0-2"})
    assert f.status == "fail" and "isolated CPUs 2 among them" in f.message
    assert "sysctl -w kernel.watchdog_cpumask=0-1,4-5" in f.fix
    f = finding(check_id, {**changes, "/proc/sys/kernel/watchdog_cpumask": None})
    assert f.status == "fail" and "kernel.watchdog_cpumask unknown" in f.message


def test_nmi_watchdog_without_isolated_cpus_is_judged_on_its_value(finding):
    f = finding("kernel.nmi_watchdog", {"/proc/sys/kernel/nmi_watchdog": "1"}, profile="network-latency")
    assert f.status == "fail" and "runs on CPUs 0-1,4-5" in f.message
    assert "watchdog_cpumask" not in f.fix


# ---- kernel.timer_migration: push model before 6.9, pull model since -------------------------


@pytest.mark.parametrize("release,words", [
    ("5.14.0-427.el9", "picks a timer's CPU when it is armed"),
    ("6.12.43", "before 6.19 that can be a busy isolated CPU"),
    ("6.19.1", "isolcpus=domain CPUs take no part (6.19+)"),
])
def test_timer_migration_names_the_model(finding, release, words):
    changes = {"/proc/sys/kernel/timer_migration": "1", **kernel(release)}
    f = finding("kernel.timer_migration", changes, profile="network-latency")
    assert f.status == "fail" and words in f.message
    # hft-isolated puts every isolated CPU in nohz_full, where 1 is as defensible: a warning.
    f = finding("kernel.timer_migration", changes)
    assert f.status == "warn" and words in f.message and "nohz_full" in f.reason


# ---- kernel.rcu_normal_after_boot ---------------------------------------------------------------


def test_rcu_normal_after_boot_from_sysfs_or_the_command_line(finding):
    f = finding("kernel.rcu_normal_after_boot")
    assert f.status == "pass" and f"{RCUPDATE}/rcu_normal_after_boot" in f.observed
    hidden = {f"{RCUPDATE}/rcu_normal_after_boot": None, f"{RCUPDATE}/rcu_normal": None}
    f = finding("kernel.rcu_normal_after_boot", {**hidden, **kernel("5.14.0-427.el9")})
    assert f.status == "pass" and "rcupdate.rcu_normal_after_boot=1 on the command line" in f.observed
    assert "not shown in sysfs" in f.message
    dashed = CMDLINE.replace("rcupdate.rcu_normal_after_boot=1", "rcupdate.rcu-normal-after-boot=1")
    assert finding("kernel.rcu_normal_after_boot", {**hidden, "/proc/cmdline": dashed}).status == "pass"
    bare = {**hidden, "/proc/cmdline": CMDLINE.replace("rcupdate.rcu_normal_after_boot=1 ", "")}
    # Before 5.16 the parameter is not in sysfs: nothing on the command line is the default 0.
    f = finding("kernel.rcu_normal_after_boot", {**bare, **kernel("5.14.0-427.el9")})
    assert f.status == "fail" and "0 (the default" in f.observed
    assert "grubby --update-kernel=ALL --args=rcupdate.rcu_normal_after_boot=1" in f.fix
    # A 5.16+ kernel shows it in sysfs: not captured there is unknown, never an invented 0.
    f = finding("kernel.rcu_normal_after_boot", bare)
    assert f.status == "unknown" and "was not read" in f.message
    f = finding("kernel.rcu_normal_after_boot", {**bare, "/sys/kernel/realtime": "1"})
    assert f.status == "pass" and "PREEMPT_RT" in f.observed


def test_rcu_normal_set_directly_counts(finding):
    f = finding("kernel.rcu_normal_after_boot", {f"{RCUPDATE}/rcu_normal_after_boot": "0"})
    assert f.status == "pass" and "rcupdate.rcu_normal = 1" in f.observed


# ---- kernel.rcu_patience_delay (6.11+) -----------------------------------------------------------


def test_patience_delay_judged_where_the_kernel_has_it(finding):
    f = finding("kernel.rcu_patience_delay")
    assert f.status == "pass" and "1000 ms" in f.observed
    f = finding("kernel.rcu_patience_delay", {f"{RCUTREE}/nohz_full_patience_delay": "200"})
    assert f.status == "fail" and "rcutree.nohz_full_patience_delay=1000" in f.fix


def test_patience_delay_skips_before_6_11(finding):
    f = finding("kernel.rcu_patience_delay", {f"{RCUTREE}/nohz_full_patience_delay": None, **kernel("6.6.30")})
    assert f.status == "skip" and "kernel 6.6 predates rcutree.nohz_full_patience_delay (6.11" in f.message
    assert "has no effect" in f.message


def test_patience_delay_without_sysfs_evidence(finding):
    no_dir = {RCUTREE: None}
    f = finding("kernel.rcu_patience_delay", no_dir)
    assert f.status == "pass" and "on the command line" in f.observed
    bare = {**no_dir, "/proc/cmdline": CMDLINE.replace("rcutree.nohz_full_patience_delay=1000 ", "")}
    # 6.11+ shows it in sysfs: not captured there, and not on the command line, is unknown.
    f = finding("kernel.rcu_patience_delay", bare)
    assert f.status == "unknown" and "was not read" in f.message
    f = finding("kernel.rcu_patience_delay", {**no_dir, OSREL: None})
    assert f.status == "unknown" and f.fix is None


# ---- the fixture hosts --------------------------------------------------------------------------


def test_fixture_hosts_kernel_rules():
    tuned = run_audit(str(HOSTS / "tuned-2s"), "hft-isolated")
    assert tuned.finding("kernel.rcu_normal_after_boot").status == "pass"
    patience = tuned.finding("kernel.rcu_patience_delay")
    assert patience.status == "skip" and "kernel 5.14 predates" in patience.message
    assert "tsc=reliable" in tuned.finding("kernel.clocksource").message
    assert "kernel 5.14: before 6.12" in tuned.finding("kernel.sched_rt_runtime").message
    assert {f.status for f in tuned.findings if f.id != "irq.isolated_noise"} <= {"pass", "warn", "skip"}
    untuned = run_audit(str(HOSTS / "untuned-2s"), "hft-isolated")
    cs = untuned.finding("kernel.clocksource")
    assert cs.status == "fail" and "kernel 5.14 keeps the watchdog" in cs.message and "tsc=nowatchdog" in cs.fix
    assert untuned.finding("kernel.rcu_normal_after_boot").status == "fail"
    watchdog = untuned.finding("kernel.watchdog")
    assert watchdog.status == "fail" and "runs on CPUs 0-31" in watchdog.message


def test_reasons_state_the_costs():
    report = run_audit(str(HOSTS / "tuned-2s"), "hft-isolated")
    assert "failing DIMM" in report.finding("kernel.mce_ignore_ce").reason
    assert "spinning alone on an isolated CPU" in report.finding("kernel.preempt").reason
    assert "watchdog_cpumask" in report.finding("kernel.nmi_watchdog").reason


def test_a_warning_keeps_the_rule_it_applied(finding):
    # -1 is allowed with a warning; the message still says which kernel rule judged it.
    f = finding("kernel.sched_rt_runtime", {**kernel("5.14.0-362.el9.x86_64"),
                                           "/proc/sys/kernel/sched_rt_runtime_us": "-1"})
    assert f.status == "warn"
    assert "never yields" in f.message and "kernel 5.14: before 6.12" in f.message


def test_kernel_watchdog_0_turns_the_nmi_detector_off_too(finding):
    f = finding("kernel.nmi_watchdog", {"/proc/sys/kernel/nmi_watchdog": "1", "/proc/sys/kernel/watchdog": "0"})
    assert f.status == "pass" and "kernel.watchdog = 0" in f.observed
    f = finding("kernel.nmi_watchdog", {"/proc/sys/kernel/nmi_watchdog": "1", "/proc/sys/kernel/watchdog": "1",
                                        "/proc/sys/kernel/watchdog_cpumask": "0-7"})
    assert f.status == "fail"
