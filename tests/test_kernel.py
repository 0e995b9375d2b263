"""Kernel probes: small trees with exact values, unreadable and damaged files, the live
host cross-checked against its own tools, and the real captured corpus trees."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hftinfra.host import Reason, Unread, open_host
from hftinfra.kernel import (
    read_clocksource,
    read_kernel,
    read_kernel_build,
    read_kernel_config,
    read_kernel_version,
    read_machine_check,
    read_mitigations,
    read_preemption,
    read_rt_throttling,
    read_tick,
    read_watchdogs,
)
from hftinfra.records import to_jsonable

RELEASE = "5.14.0-427.13.1.el9_4.x86_64"
VULN = "/sys/devices/system/cpu/vulnerabilities"
CPU_FLAGS = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr "
             "sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon rep_good nopl "
             "xtopology nonstop_tsc cpuid aperfmperf tsc_known_freq pni pclmulqdq tsc_deadline_timer "
             "tsc_adjust")

CONFIG = """\
# Linux/x86 5.14.0 Kernel Configuration
CONFIG_NO_HZ_COMMON=y
# CONFIG_HZ_PERIODIC is not set
# CONFIG_NO_HZ_IDLE is not set
CONFIG_NO_HZ_FULL=y
# CONFIG_PREEMPT_NONE is not set
CONFIG_PREEMPT_VOLUNTARY=y
# CONFIG_PREEMPT is not set
CONFIG_PREEMPT_DYNAMIC=y
CONFIG_HZ_1000=y
CONFIG_HZ=1000
"""


def cpuinfo(n: int, flags: str = CPU_FLAGS) -> str:
    return "\n".join(f"processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6354 "
                     f"CPU @ 3.00GHz\nflags\t\t: {flags}\n" for i in range(n))


def tuned_tree() -> dict:
    return {
        "/proc/sys/kernel/osrelease": RELEASE,
        "/proc/sys/kernel/version": "#1 SMP PREEMPT_DYNAMIC Thu Apr 25 12:00:00 EDT 2024",
        "/proc/sys/kernel/hostname": "trade01",
        f"/boot/config-{RELEASE}": CONFIG,
        "/proc/cmdline": (f"BOOT_IMAGE=/vmlinuz-{RELEASE} ro preempt=full skew_tick=1 nohz=on tsc=reliable "
                          "clocksource=tsc nosoftlockup nmi_watchdog=0 mce=ignore_ce mitigations=off "
                          "nohz_full=2-15 isolcpus=managed_irq,domain,2-15"),
        "/proc/cpuinfo": cpuinfo(4),
        "/sys/devices/system/clocksource/clocksource0/current_clocksource": "tsc",
        "/sys/devices/system/clocksource/clocksource0/available_clocksource": "tsc hpet acpi_pm ",
        "/proc/sys/kernel/watchdog": "0",
        "/proc/sys/kernel/nmi_watchdog": "0",
        "/proc/sys/kernel/soft_watchdog": "0",
        "/proc/sys/kernel/watchdog_thresh": "10",
        "/proc/sys/kernel/hung_task_timeout_secs": "0",
        "/proc/sys/kernel/timer_migration": "0",
        "/proc/sys/vm/stat_interval": "10",
        "/proc/sys/kernel/sched_rt_runtime_us": "-1",
        "/proc/sys/kernel/sched_rt_period_us": "1000000",
        "/sys/devices/system/machinecheck/machinecheck0/ignore_ce": "1",
        f"{VULN}/meltdown": "Not affected",
        f"{VULN}/spectre_v2": "Vulnerable: eIBRS with unprivileged eBPF",
        f"{VULN}/spectre_v1": "Vulnerable: __user pointer sanitization and usercopy barriers only; no swapgs barriers",
        f"{VULN}/mds": "Mitigation: Clear CPU buffers; SMT vulnerable",
        f"{VULN}/itlb_multihit": "KVM: Mitigation: VMX disabled",
        "/sys/class/dmi/id/sys_vendor": "Dell Inc.",
        "/sys/class/dmi/id/product_name": "PowerEdge R750",
    }


# ---- exact values on a small tree --------------------------------------------------------


def test_version_and_build_from_boot_config(tree):
    host = tree(tuned_tree())
    v = read_kernel_version(host)
    assert v.release == RELEASE and v.version.startswith("#1 SMP PREEMPT_DYNAMIC")
    assert v.uname.reason is Reason.MISSING  # not recorded in this snapshot
    b = read_kernel_build(host)
    assert b.source == f"/boot/config-{RELEASE}"
    assert (b.hz, b.preempt_model, b.preempt_dynamic, b.preempt_rt, b.no_hz_full, b.no_hz_idle) == (
        1000, "voluntary", True, False, True, True)


def test_uname_replayed_from_the_snapshot(tree):
    files = tuned_tree()
    uname = f"Linux trade01 {RELEASE} #1 SMP PREEMPT_DYNAMIC Thu Apr 25 12:00:00 EDT 2024 x86_64 GNU/Linux\n"
    files["/hftinfra/commands.json"] = json.dumps({"uname -a": {"returncode": 0, "stdout": uname, "stderr": ""}})
    assert read_kernel_version(tree(files)).uname == uname.strip()


def test_preemption_from_the_command_line_when_debugfs_is_absent(tree):
    p = read_preemption(tree(tuned_tree()))
    assert p.rt is False and p.dynamic is True
    assert p.build_model == "voluntary" and p.configured == "full"
    assert p.current_mode.reason is Reason.MISSING
    assert (p.mode, p.mode_observed) == ("full", False)
    assert "preempt=full" in p.mode_source


def test_preemption_in_effect_from_debugfs(tree):
    files = tuned_tree()
    files["/sys/kernel/debug/sched/preempt"] = "none voluntary (full) lazy "
    p = read_preemption(tree(files))
    assert (p.current_mode, p.mode, p.mode_observed) == ("full", "full", True)
    files["/sys/kernel/debug/sched/preempt"] = "(none) voluntary full "
    p = read_preemption(tree(files))
    # the command line asked for full; the kernel shows none (changed at run time): both kept
    assert (p.configured, p.current_mode, p.mode) == ("full", "none", "none")


def test_preemption_config_default_at_boot(tree):
    files = tuned_tree()
    files["/proc/cmdline"] = "ro quiet"
    p = read_preemption(tree(files))
    assert (p.configured, p.mode, p.mode_observed) == (None, "voluntary", False)
    assert "boot default" in p.mode_source


def test_debugfs_not_mounted_is_said(tmp_path):
    from hftinfra.host import open_host as _open

    root = tmp_path / "snap"
    for path, text in tuned_tree().items():
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text + "\n")
    (root / "sys/kernel/debug").mkdir(parents=True)
    p = read_preemption(_open(root))
    assert p.current_mode.reason is Reason.MISSING
    assert "not mounted" in p.current_mode.detail


def test_preempt_rt(tree):
    files = tuned_tree()
    files["/sys/kernel/realtime"] = "1"
    files["/proc/sys/kernel/version"] = "#1 SMP PREEMPT_RT Thu Apr 25 12:00:00 EDT 2024"
    files[f"/boot/config-{RELEASE}"] = "CONFIG_PREEMPT_RT=y\nCONFIG_HZ=1000\n# CONFIG_PREEMPT_DYNAMIC is not set\n"
    p = read_preemption(tree(files))
    assert p.rt is True and p.rt_evidence == "/sys/kernel/realtime = 1"
    assert p.dynamic is False
    assert p.current_mode.reason is Reason.UNSUPPORTED
    assert (p.mode, p.mode_observed) == ("rt", True)


def test_preemption_without_config_uses_the_version_string(tree):
    files = tuned_tree()
    del files[f"/boot/config-{RELEASE}"]
    files["/proc/cmdline"] = "ro"
    p = read_preemption(tree(files))
    assert p.rt is False and "no PREEMPT_RT" in p.rt_evidence
    assert p.dynamic is True and "PREEMPT_DYNAMIC" in p.dynamic_evidence
    assert p.build_model.reason is Reason.MISSING
    assert p.mode.reason is Reason.MISSING and p.mode_source == "unknown"
    files["/proc/sys/kernel/version"] = "#1 SMP PREEMPT Sun Jan 23 19:27:23 UTC 2022"
    p = read_preemption(tree(files))
    assert isinstance(p.dynamic, Unread)  # 5.12-5.17 printed PREEMPT for dynamic kernels too


def test_config_gz_when_boot_config_is_absent(tree):
    files = tuned_tree()
    del files[f"/boot/config-{RELEASE}"]
    files["/proc/config.gz"] = gzip.compress(CONFIG.replace("CONFIG_HZ=1000", "CONFIG_HZ=250").encode())
    host = tree(files)
    cfg = read_kernel_config(host)
    assert cfg.source == "/proc/config.gz"
    assert read_tick(host).hz == 250


def test_hz_unknown_with_why_when_no_config(tree):
    files = tuned_tree()
    del files[f"/boot/config-{RELEASE}"]
    tick = read_tick(tree(files))
    assert tick.hz.reason is Reason.MISSING
    assert "/boot/config-" in tick.hz.detail and "/proc/config.gz" in tick.hz.detail
    assert tick.hz_source == "unknown"


def test_damaged_config_gz_is_malformed(tree):
    files = tuned_tree()
    del files[f"/boot/config-{RELEASE}"]
    files["/proc/config.gz"] = b"\x1f\x8b\x08\x00 not really gzip"
    hz = read_tick(tree(files)).hz
    assert hz.reason is Reason.MALFORMED and "/proc/config.gz" in str(hz)


def test_tick_clocksource_watchdogs(tree):
    host = tree(tuned_tree())
    t = read_tick(host)
    assert (t.hz, t.no_hz_full_built, t.nohz, t.skew_tick, t.timer_migration) == (1000, True, "on", "1", 0)
    c = read_clocksource(host)
    assert (c.current, c.available, c.tsc, c.clocksource) == ("tsc", ("tsc", "hpet", "acpi_pm"), "reliable", "tsc")
    assert c.tsc_flags == frozenset({"tsc", "rdtscp", "constant_tsc", "nonstop_tsc", "tsc_known_freq",
                                     "tsc_deadline_timer", "tsc_adjust"})
    assert c.missing_tsc_flags() == ()
    w = read_watchdogs(host)
    assert (w.watchdog, w.nmi_watchdog, w.soft_watchdog, w.watchdog_thresh, w.hung_task_timeout_secs) == (
        0, 0, 0, 10, 0)
    assert (w.nowatchdog, w.nosoftlockup, w.nmi_watchdog_cmdline) == (False, True, "0")


def test_tsc_flags_are_those_every_cpu_has(tree):
    files = tuned_tree()
    files["/proc/cpuinfo"] = cpuinfo(2) + "\n" + cpuinfo(1, "fpu tsc rdtscp constant_tsc").replace(
        "processor\t: 0", "processor\t: 2")
    c = read_clocksource(tree(files))
    assert c.tsc_flags == frozenset({"tsc", "rdtscp", "constant_tsc"})
    assert c.missing_tsc_flags() == ("nonstop_tsc",)


def test_tsc_flags_on_arm64_are_unsupported(tree):
    files = tuned_tree()
    files["/proc/cpuinfo"] = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes\n"
    assert read_clocksource(tree(files)).tsc_flags.reason is Reason.UNSUPPORTED


def test_rt_throttling(tree):
    files = tuned_tree()
    rt = read_rt_throttling(tree(files))
    assert (rt.runtime_us, rt.period_us, rt.disabled, rt.rt_share) == (-1, 1000000, True, 1.0)
    files["/proc/sys/kernel/sched_rt_runtime_us"] = "950000"
    rt = read_rt_throttling(tree(files))
    assert (rt.disabled, rt.rt_share) == (False, 0.95)


def test_mitigations_and_states(tree):
    m = read_mitigations(tree(tuned_tree()))
    assert m.configured == "off"
    states = {v.name: v.state for v in m.vulnerabilities}
    assert states == {"itlb_multihit": "mitigated", "mds": "mitigated", "meltdown": "not-affected",
                      "spectre_v1": "vulnerable", "spectre_v2": "vulnerable"}
    assert m.by_state("vulnerable") == ("spectre_v1", "spectre_v2")
    assert next(v for v in m.vulnerabilities if v.name == "mds").text == "Mitigation: Clear CPU buffers; SMT vulnerable"


def test_machine_check(tree):
    mc = read_machine_check(tree(tuned_tree()))
    assert (mc.ignore_ce, mc.mce) == (1, "ignore_ce")


def test_virtualization_reuses_identity(tree):
    k = read_kernel(tree(tuned_tree()))
    assert k.virtualization.detected is False
    files = tuned_tree()
    files["/sys/class/dmi/id/sys_vendor"] = "QEMU"
    assert read_kernel(tree(files)).virtualization.kind == "qemu"


# ---- what cannot be read stays unknown, with why ------------------------------------------


def test_missing_everything_is_missing(tree):
    k = read_kernel(tree({"/proc/version": "x"}))
    for value in (k.version.release, k.build.hz, k.preemption.rt, k.preemption.mode, k.tick.hz,
                  k.tick.timer_migration, k.tick.skew_tick, k.clocksource.current, k.clocksource.tsc_flags,
                  k.watchdogs.watchdog, k.watchdogs.nosoftlockup, k.rt_throttling.runtime_us,
                  k.rt_throttling.rt_share, k.rt_throttling.disabled, k.mitigations.vulnerabilities,
                  k.mitigations.configured, k.machine_check.ignore_ce):
        assert isinstance(value, Unread) and value.reason is Reason.MISSING, value
    assert isinstance(k.virtualization.detected, Unread)
    json.dumps(to_jsonable(k))


def test_malformed_and_denied(tree):
    files = tuned_tree()
    files["/proc/sys/kernel/watchdog"] = "abc"
    files["/sys/devices/system/clocksource/clocksource0/current_clocksource"] = "tsc"
    files["/hftinfra/unread.json"] = json.dumps({
        "/proc/sys/kernel/nmi_watchdog": {"reason": "denied", "detail": ""},
        f"{VULN}/mds": {"reason": "denied", "detail": ""},
        "/sys/kernel/debug/sched/preempt": {"reason": "denied", "detail": ""}})
    host = tree(files)
    w = read_watchdogs(host)
    assert w.watchdog.reason is Reason.MALFORMED and "/proc/sys/kernel/watchdog" in str(w.watchdog)
    assert w.nmi_watchdog.reason is Reason.DENIED
    assert w.soft_watchdog == 0
    mds = next(v for v in read_mitigations(host).vulnerabilities if v.name == "mds")
    assert mds.text.reason is Reason.DENIED and mds.state.reason is Reason.DENIED
    p = read_preemption(host)
    assert p.current_mode.reason is Reason.DENIED and p.mode == "full"


# ---- the live host, cross-checked with its own tools --------------------------------------


def _sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def live_kernel():
    return read_kernel(open_host(None))


@pytest.mark.live
def test_live_version_matches_uname(live_kernel):
    assert live_kernel.version.release == _sh("uname", "-r")
    assert live_kernel.version.version == _sh("uname", "-v")
    assert live_kernel.version.uname == _sh("uname", "-a")


@pytest.mark.live
@pytest.mark.skipif(not shutil.which("sysctl"), reason="sysctl(8) not installed")
def test_live_sysctls_match_sysctl_n(live_kernel):
    pairs = {"kernel.watchdog": live_kernel.watchdogs.watchdog,
             "kernel.nmi_watchdog": live_kernel.watchdogs.nmi_watchdog,
             "kernel.soft_watchdog": live_kernel.watchdogs.soft_watchdog,
             "kernel.hung_task_timeout_secs": live_kernel.watchdogs.hung_task_timeout_secs,
             "kernel.timer_migration": live_kernel.tick.timer_migration,
             "kernel.sched_rt_runtime_us": live_kernel.rt_throttling.runtime_us,
             "kernel.sched_rt_period_us": live_kernel.rt_throttling.period_us}
    for name, value in pairs.items():
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True)
        if out.returncode != 0:
            assert isinstance(value, Unread), name
        else:
            assert value == int(out.stdout.strip()), name


@pytest.mark.live
def test_live_clocksource_and_vulnerabilities(live_kernel):
    cs = "/sys/devices/system/clocksource/clocksource0"
    assert live_kernel.clocksource.current == _sh("cat", f"{cs}/current_clocksource")
    assert list(live_kernel.clocksource.available) == _sh("cat", f"{cs}/available_clocksource").split()
    # x86 prints a "flags" line per CPU; arm64 and others print "Features" instead.
    lines = [x for x in Path("/proc/cpuinfo").read_text().splitlines() if x.split(":")[0].strip() == "flags"]
    if lines:
        assert live_kernel.clocksource.tsc_flags <= set(lines[0].split(":", 1)[1].split())
    else:
        assert isinstance(live_kernel.clocksource.tsc_flags, Unread)
    names = sorted(os.listdir(VULN)) if os.path.isdir(VULN) else []
    if names:
        assert [v.name for v in live_kernel.mitigations.vulnerabilities] == names
        for v in live_kernel.mitigations.vulnerabilities:
            assert v.text == _sh("cat", v.source)


@pytest.mark.live
def test_live_hz_and_preemption_agree_with_the_build(live_kernel):
    if os.path.exists(f"/boot/config-{os.uname().release}"):
        text = Path(f"/boot/config-{os.uname().release}").read_text()
    elif os.path.exists("/proc/config.gz"):
        text = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()
    else:
        assert isinstance(live_kernel.tick.hz, Unread)
        return
    hz = next(line.split("=")[1] for line in text.splitlines() if line.startswith("CONFIG_HZ="))
    assert live_kernel.tick.hz == int(hz)
    assert live_kernel.preemption.dynamic == ("CONFIG_PREEMPT_DYNAMIC=y" in text)
    # uname -v names PREEMPT_DYNAMIC only on kernels whose build prints it (scripts/mkcompile_h
    # gained it after the option itself): one direction holds everywhere.
    if "PREEMPT_DYNAMIC" in os.uname().version:
        assert live_kernel.preemption.dynamic is True


# ---- the real captured trees --------------------------------------------------------------


def test_corpus_never_crashes_and_missing_is_missing(corpus_host):
    k = read_kernel(corpus_host)
    json.dumps(to_jsonable(k))
    assert k.version.release.reason is Reason.MISSING
    assert k.tick.hz.reason is Reason.MISSING
    assert k.watchdogs.watchdog.reason is Reason.MISSING
    assert k.rt_throttling.runtime_us.reason is Reason.MISSING
    assert k.clocksource.current == "tsc"
    assert k.clocksource.available[:2] == ("tsc", "hpet")
    assert not isinstance(k.mitigations.vulnerabilities, Unread) and k.mitigations.vulnerabilities


def _corpus(name: str):
    path = Path(__file__).resolve().parents[2] / "shared" / "corpus" / name
    if not path.is_dir():
        pytest.skip(f"{path} not present (no ../shared/corpus beside this clone)")
    return open_host(path)


def test_corpus_procfs_exact():
    k = read_kernel(_corpus("procfs"))
    states = {v.name: v.state for v in k.mitigations.vulnerabilities}
    assert states["itlb_multihit"] == "mitigated"  # "KVM: Mitigation: VMX unsupported"
    assert states["srbds"] == "unknown"  # "Unknown: Dependent on hypervisor status"
    assert states["mmio_stale_data"] == "vulnerable"
    assert states["tsx_async_abort"] == "not-affected"
    assert len(states) == 9
    # procfs holds a /proc/cmdline without mitigations=: absent, not unknown
    assert k.mitigations.configured is None


# ---- periodic work derived from the settings ---------------------------------------------


def _rates(work):
    return {w.name: w.per_second for w in work}


def test_periodic_work_untuned_vs_tuned(tree):
    from hftinfra.kernel import periodic_work

    files = tuned_tree()
    files.update({"/proc/sys/kernel/watchdog": "1", "/proc/sys/kernel/soft_watchdog": "1",
                  "/proc/sys/kernel/nmi_watchdog": "1", "/proc/sys/vm/stat_interval": "1",
                  "/proc/sys/kernel/watchdog_cpumask": "0-1,16-17"})
    busy = read_kernel(tree(files))
    assert busy.watchdogs.watchdog_cpumask == frozenset({0, 1, 16, 17})
    assert _rates(periodic_work(busy)) == {"scheduler tick": 1000.0, "vmstat update": 1.0,
                                           "soft-lockup hrtimer": 0.25, "NMI watchdog": 0.1}
    # CPU 4 is outside watchdog_cpumask and in nohz_full: since 4.17 even the residual 1 Hz
    # tick runs on a housekeeping CPU (commit d84b31313ef8), before it only that remains.
    assert _rates(periodic_work(busy, nohz_full=True, cpu=4)) == {
        "scheduler tick": 0.0, "vmstat update": 0.0, "soft-lockup hrtimer": 0.0, "NMI watchdog": 0.0}
    old = read_kernel(tree({**files, "/proc/sys/kernel/osrelease": "4.14.35-1902.el7uek.x86_64"}))
    assert _rates(periodic_work(old, nohz_full=True, cpu=4))["scheduler tick"] == 1.0
    unread = read_kernel(tree({**files, "/proc/sys/kernel/osrelease": "(none)"}))
    assert isinstance(_rates(periodic_work(unread, nohz_full=True, cpu=4))["scheduler tick"], Unread)
    files.update({"/proc/sys/kernel/watchdog": "0", "/proc/sys/vm/stat_interval": "10"})
    quiet = read_kernel(tree(files))
    assert _rates(periodic_work(quiet)) == {"scheduler tick": 1000.0, "vmstat update": 0.1,
                                            "soft-lockup hrtimer": 0.0, "NMI watchdog": 0.0}


def test_periodic_work_unknown_stays_unknown(tree):
    from hftinfra.kernel import periodic_work

    work = periodic_work(read_kernel(tree({"/proc/cmdline": "ro"})))
    assert all(isinstance(w.per_second, Unread) for w in work)
    # only the soft watchdog off, NMI on: the hrtimer still runs (it feeds the NMI check)
    files = tuned_tree()
    files.update({"/proc/sys/kernel/watchdog": "1", "/proc/sys/kernel/soft_watchdog": "0",
                  "/proc/sys/kernel/nmi_watchdog": "1", "/proc/sys/kernel/watchdog_thresh": "20"})
    rates = _rates(periodic_work(read_kernel(tree(files))))
    assert rates["soft-lockup hrtimer"] == 0.125 and rates["NMI watchdog"] == 0.05


# ---- the page's figure and tables --------------------------------------------------------


def _host(root: Path, files: dict):
    # The `tree` fixture writes every call into one directory; two hosts in one test need two.
    for path, text in files.items():
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text + "\n")
    return open_host(root)


def test_work_figure_marks_off_and_unknown(tmp_path):
    from hftinfra.viz.kernel import periodic_work_figure, settings_rows, work_rows

    tuned = read_kernel(_host(tmp_path / "tuned", tuned_tree()))
    unknown = read_kernel(_host(tmp_path / "bare", {"/proc/cmdline": "ro"}))
    rows = work_rows([("tuned", tuned, True, 4), ("bare", unknown, False, None)])
    assert [(r["source"], r["state"]) for r in rows if r["host"] == "bare"] == [
        ("scheduler tick", "unknown"), ("vmstat update", "unknown"), ("soft-lockup hrtimer", "unknown"),
        ("NMI watchdog", "unknown")]
    # tuned: watchdog 0, a nohz_full CPU on a kernel past 4.17: even the residual tick is gone
    assert [(r["source"], r["state"]) for r in rows if r["host"] == "tuned"] == [
        ("scheduler tick", "off"), ("vmstat update", "off"), ("soft-lockup hrtimer", "off"), ("NMI watchdog", "off")]
    fig = periodic_work_figure([("tuned", tuned, True, 4), ("bare", unknown, False, None)])
    assert list(fig.data[0].text) == ["off", "off", "off", "off"]
    assert list(fig.data[1].text) == ["unknown"] * 4
    table = dict((r[0], r[1]) for r in settings_rows(tuned))
    assert table["preemption mode"] == "full (boot setting)"
    assert table["RT throttling"] == "-1 of 1000000 us (throttling off)"
    assert table["CPU vulnerabilities"] == "2 vulnerable, 2 mitigated, 1 not-affected"


# ---- the fixture hosts (tests/hosts) ------------------------------------------------------

HOSTS = Path(__file__).resolve().parent / "hosts"
FIXTURE_RELEASE = "5.14.0-362.24.1.el9_3.x86_64"


def test_tuned_2s():
    k = read_kernel(open_host(HOSTS / "tuned-2s"))
    assert k.version.release == FIXTURE_RELEASE
    assert k.version.uname.startswith("Linux ") and FIXTURE_RELEASE in k.version.uname
    assert k.build.source == f"/boot/config-{FIXTURE_RELEASE}"
    assert (k.build.hz, k.build.preempt_model, k.build.preempt_dynamic, k.build.no_hz_full) == (
        1000, "voluntary", True, True)
    p = k.preemption
    assert (p.rt, p.dynamic, p.configured, p.current_mode, p.mode, p.mode_observed) == (
        False, True, None, "voluntary", "voluntary", True)
    assert (k.tick.skew_tick, k.tick.timer_migration, k.tick.stat_interval) == ("1", 0, 10)
    assert (k.clocksource.current, k.clocksource.tsc) == ("tsc", "reliable")
    assert {"constant_tsc", "nonstop_tsc", "tsc"} <= k.clocksource.tsc_flags
    w = k.watchdogs
    assert (w.watchdog, w.nmi_watchdog, w.soft_watchdog, w.hung_task_timeout_secs) == (0, 0, 0, 600)
    assert (w.nosoftlockup, w.nmi_watchdog_cmdline) == (True, "0")
    assert (k.rt_throttling.runtime_us, k.rt_throttling.period_us) == (950000, 1000000)
    assert k.mitigations.configured == "off"
    assert k.mitigations.by_state("mitigated") == ()
    assert len(k.mitigations.by_state("vulnerable")) == 5
    assert (k.machine_check.ignore_ce, k.machine_check.mce) == (1, "ignore_ce")
    assert k.virtualization.detected is False


def test_untuned_2s():
    k = read_kernel(open_host(HOSTS / "untuned-2s"))
    # timer_migration 0: set by hand on this host, in no file (see tests/hosts/build.py)
    assert (k.tick.skew_tick, k.tick.timer_migration, k.tick.stat_interval) == (None, 0, 1)
    w = k.watchdogs
    assert (w.watchdog, w.nmi_watchdog, w.soft_watchdog, w.nosoftlockup) == (1, 1, 1, False)
    assert k.clocksource.tsc is None and k.mitigations.configured is None
    assert k.mitigations.by_state("vulnerable") == () and len(k.mitigations.by_state("mitigated")) == 5
    assert k.machine_check.ignore_ce == 0


def test_tuned_vs_untuned_periodic_work():
    from hftinfra.kernel import periodic_work

    tuned = read_kernel(open_host(HOSTS / "tuned-2s"))
    untuned = read_kernel(open_host(HOSTS / "untuned-2s"))
    # watchdog_thresh is not in the fixture trees, so the untuned watchdog rates stay unknown
    rates = {w.name: w.per_second for w in periodic_work(untuned)}
    assert rates["scheduler tick"] == 1000.0 and rates["vmstat update"] == 1.0
    assert isinstance(rates["soft-lockup hrtimer"], Unread)
    tuned_rates = {w.name: w.per_second for w in periodic_work(tuned, nohz_full=True, cpu=9)}
    assert tuned_rates == {"scheduler tick": 0.0, "vmstat update": 0.0, "soft-lockup hrtimer": 0.0,
                           "NMI watchdog": 0.0}


def test_unreadable_host_keeps_reasons():
    k = read_kernel(open_host(HOSTS / "unreadable"))
    assert k.watchdogs.nmi_watchdog.reason is Reason.DENIED
    assert k.watchdogs.watchdog == 1
    for value in (k.tick.skew_tick, k.clocksource.tsc, k.mitigations.configured, k.preemption.configured,
                  k.watchdogs.nosoftlockup, k.machine_check.mce):
        assert isinstance(value, Unread) and value.reason is Reason.DENIED


def test_every_fixture_host_reads_without_error():
    for host_dir in sorted(p for p in HOSTS.iterdir() if p.is_dir()):
        k = read_kernel(open_host(host_dir))
        json.dumps(to_jsonable(k))
        assert k.version.release == FIXTURE_RELEASE, host_dir.name


def test_sample_cpu_is_the_first_nohz_full_cpu():
    from hftinfra.cpu import read_isolation
    from hftinfra.viz.kernel import sample_cpu

    hosts = Path(__file__).resolve().parent / "hosts"
    assert sample_cpu(read_isolation(open_host(hosts / "tuned-2s"))) == (9, True)
    assert sample_cpu(read_isolation(open_host(hosts / "untuned-2s"))) == (0, False)
    # An unreadable nohz_full is not taken for "no nohz_full CPU" silently: CPU 0, tick on.
    assert sample_cpu(read_isolation(open_host(hosts / "unreadable")))[1] is False
