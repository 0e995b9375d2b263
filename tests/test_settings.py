"""The settings a profile asks for: every check is either made true by a setting or listed
with why not, each setting lands where its check reads, and applying the generated sysctl
and sysfs values to an untuned host makes those checks pass."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hftinfra.audit import run_audit
from hftinfra.checks import catalog
from hftinfra.cpulist import parse_cpulist
from hftinfra.profiles import load_profile, shipped_profiles
from hftinfra.settings import BUILDERS, NOT_SETTINGS, plan_settings

HOSTS = Path(__file__).resolve().parent / "hosts"
VARS = {"isolated_cpus": parse_cpulist("1"), "housekeeping_cpus": parse_cpulist("0"),
        "trading_nics": frozenset({"ens1f0"})}


def test_every_check_has_a_setting_or_says_why_not():
    for cid in catalog():
        assert (cid in BUILDERS) != (cid in NOT_SETTINGS), cid


@pytest.mark.parametrize("name", shipped_profiles())
def test_each_setting_names_its_check_reason_and_source(name):
    profile = load_profile(name)
    plan = plan_settings(profile, VARS, hugepages=(2048, 512), nr_cpus=2)
    assert plan.settings
    covered = {s.check_id for s in plan.settings} | {cid for cid, _ in plan.left}
    assert covered == set(profile.rules)
    for s in plan.settings:
        assert s.check_id in profile.rules and s.reason and s.sources


def test_sysctls_and_sysfs_files_are_what_their_checks_read():
    checks = catalog()
    plan = plan_settings(load_profile("hft-isolated"), VARS, hugepages=(2048, 512), nr_cpus=2)
    for s in plan.sysctls():
        assert "/proc/sys/" + s.key.replace(".", "/") in checks[s.check_id].reads, s
    for section, settings in plan.tuned_sections().items():
        for s in settings:
            if section == "sysfs":
                assert s.key.split(".", 1)[1] in checks[s.check_id].reads, s


def test_isolation_arguments_follow_the_variables():
    plan = plan_settings(load_profile("hft-isolated"), {**VARS, "isolated_cpus": parse_cpulist("2-15,18-31"),
                                                        "housekeeping_cpus": parse_cpulist("0-1,16-17")},
                         hugepages=(1048576, 16), nr_cpus=32)
    args = {s.key: s.value for s in plan.kernel_args()}
    assert args["isolcpus"] == "managed_irq,domain,2-15,18-31"
    assert args["nohz_full"] == args["rcu_nocbs"] == "2-15,18-31"
    assert args["irqaffinity"] == "0-1,16-17"
    assert (args["default_hugepagesz"], args["hugepages"]) == ("1G", "16")
    assert "nosoftlockup" in args and args["nosoftlockup"] is None
    assert plan.cmdline().count("isolcpus=") == 1


def test_without_variables_the_isolation_settings_are_left_with_why():
    plan = plan_settings(load_profile("hft-isolated"), {}, nr_cpus=2)
    left = dict(plan.left)
    assert "isolated_cpus is not set" in left["cpu.nohz_full"]
    assert "no hugepage pool" in left["memory.hugepages"]
    assert not any(s.key == "isolcpus" for s in plan.kernel_args())


def test_network_latency_asks_for_no_isolation():
    plan = plan_settings(load_profile("network-latency"), {}, nr_cpus=2)
    assert not any(s.key in ("isolcpus", "nohz_full") for s in plan.kernel_args())
    assert any(s.key == "vm.swappiness" for s in plan.sysctls())


def test_one_profile_builds_and_audits(tmp_path):
    """The sysctl.d values and tuned [sysfs] values generated for a host, written into an
    untuned host's snapshot, make every check they were generated for pass there."""
    host = tmp_path / "host"
    shutil.copytree(HOSTS / "untuned-2s", host, symlinks=True)
    profile = load_profile("hft-isolated")
    plan = plan_settings(profile, VARS, hugepages=(2048, 512), nr_cpus=2)
    before = {f.id: f.status for f in run_audit(str(host), profile, VARS).findings}
    written: set[str] = set()
    for s in plan.sysctls():
        path = host / ("proc/sys/" + s.key.replace(".", "/"))
        if path.exists():
            path.write_text(f"{s.value}\n")
            written.add(s.check_id)
    for s in plan.tuned_sections().get("sysfs", []):
        path = host / s.key.split(".", 1)[1].lstrip("/")
        if path.exists():
            path.write_text(f"{s.value}\n")
            written.add(s.check_id)
    # Checks that also read the kernel command line or other files are judged on those too.
    pure = {cid for cid in written if all(r.startswith(("/proc/sys/", "/sys/kernel/mm/ksm", "/sys/devices/virtual"))
                                          for r in catalog()[cid].reads)}
    assert len(pure) >= 8
    after = {f.id: f.status for f in run_audit(str(host), profile, VARS).findings}
    assert any(before[cid] == "fail" for cid in pure), "the untuned host should fail some of them first"
    for cid in pure:
        assert after[cid] == "pass", (cid, before[cid], after[cid])


def test_by_check_lists_every_check_with_its_settings_or_why_not():
    profile = load_profile("hft-isolated")
    plan = plan_settings(profile, VARS, hugepages=(2048, 512), nr_cpus=2)
    rows = plan.by_check(profile)
    assert [r.check_id for r in rows] == list(profile.rules)
    left = dict(plan.left)
    for r in rows:
        # Each check is built by settings, or left with why; never both, never neither.
        assert bool(r.settings) != (r.left is not None), r
        assert r.defined_in in profile.chain
        if r.left is not None:
            assert r.left == left[r.check_id] and r.built_by.startswith("not set at install: ")
    by_id = {r.check_id: r for r in rows}
    assert by_id["cpu.nohz_full"].expect == ">=${isolated_cpus}"
    assert by_id["cpu.nohz_full"].built_by == "kernel argument: nohz_full=1"
    assert by_id["memory.swappiness"].built_by == "sysctl: vm.swappiness = 10"
    assert by_id["cpu.governor"].built_by == "tuned [cpu]: governor=performance"
    assert by_id["cpu.governor"].defined_in == "latency-performance"
    assert "dirty_ratio: <=10" in by_id["memory.dirty"].expect
