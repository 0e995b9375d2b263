"""Every check on a small, exactly known host: where it passes, and where it fails (warns,
skips, or is unknown) after one precise change to that host."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hftinfra.audit import evaluate, resolve_variables, run_audit
from hftinfra.checks import catalog
from hftinfra.checks.base import Context
from hftinfra.checks.values import ValueTypeError, normalize, parse_expectation
from hftinfra.cpulist import format_cpulist, format_cpumask
from hftinfra.host import open_host
from hftinfra.profiles import load_profile

CPU = "/sys/devices/system/cpu"
RELEASE = "6.12.43+deb13-amd64"
CMDLINE = (f"BOOT_IMAGE=/vmlinuz-{RELEASE} root=/dev/sda1 ro isolcpus=managed_irq,domain,2-3,6-7 "
           "nohz_full=2-3,6-7 rcu_nocbs=2-3,6-7 irqaffinity=0-1,4-5 skew_tick=1 tsc=reliable "
           "rcupdate.rcu_normal_after_boot=1 rcutree.nohz_full_patience_delay=1000 "
           "nosoftlockup mce=ignore_ce mitigations=off transparent_hugepage=never preempt=full "
           "default_hugepagesz=1G hugepagesz=1G hugepages=4")
# A kernel from before 6.12, where sched_rt_runtime_us throttles realtime tasks in any build.
OLDER_KERNEL = {"/proc/sys/kernel/osrelease": "6.1.0-18-amd64"}
RCUPDATE = "/sys/module/rcupdate/parameters"
RCUTREE = "/sys/module/rcutree/parameters"


INTERRUPTS = (
    "           CPU0       CPU1       CPU2       CPU3       CPU4       CPU5       CPU6       CPU7\n"
    "  0:         40          0          0          0          0          0          0          0"
    "   IO-APIC   2-edge      timer\n"
    " 24:          0      91210          0          0          0          0          0          0"
    "   PCI-MSI 1572864-edge      ens1f0-TxRx-0\n"
    " 25:          0          0          0          0          0      90112          0          0"
    "   PCI-MSI 1572865-edge      ens1f0-TxRx-1\n"
    "LOC:       1000       1000          3          2       1000       1000          1          2"
    "   Local timer interrupts\n")


class Link(str):
    """A symbolic link's target, for write_tree."""


NIC_DIR = "/sys/class/net/ens1f0"
PCI_DIR = "/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0"


def ethtool_commands(**replace: str | None) -> str:
    """commands.json with ens1f0's ethtool answers (ethtool 6.1 text); ``coalesce=TEXT``
    and the like replace one, ``=None`` records it as the driver refusing it."""
    outputs = {
        "channels": "Channel parameters for ens1f0:\nPre-set maximums:\nRX:\t\tn/a\nTX:\t\tn/a\nOther:\t\t1\n"
                    "Combined:\t8\nCurrent hardware settings:\nRX:\t\tn/a\nTX:\t\tn/a\nOther:\t\t1\nCombined:\t2\n",
        "coalesce": "Coalesce parameters for ens1f0:\nAdaptive RX: off  TX: off\nstats-block-usecs:\tn/a\n\n"
                    "rx-usecs:\t0\nrx-frames:\tn/a\n\ntx-usecs:\t16\ntx-frames:\tn/a\n",
        "features": "Features for ens1f0:\nrx-checksumming: on\ntx-checksumming: on\n"
                    "generic-receive-offload: off\nlarge-receive-offload: off [fixed]\nrx-hashing: on\n",
    }
    outputs.update(TIME_OUTPUTS)
    outputs.update({k: v for k, v in replace.items() if k not in outputs and k != "timex"})
    options = {"channels": "ethtool -l ens1f0", "coalesce": "ethtool -c ens1f0", "features": "ethtool -k ens1f0"}
    import json

    out: dict = {"hftinfra:adjtimex": {"returncode": 0, "data": timex_bytes(**replace.pop("timex", {})).hex()}}
    for view, text in outputs.items():
        text = replace.get(view, text)
        key = options.get(view, view)
        if isinstance(text, tuple):  # (returncode, stdout, stderr)
            out[key] = {"returncode": text[0], "stdout": text[1], "stderr": text[2]}
        else:
            out[key] = ({"returncode": 1, "stdout": "", "stderr": "netlink error: Operation not supported\n"}
                        if text is None else {"returncode": 0, "stdout": text, "stderr": ""})
    return json.dumps(out)


def timex_bytes(**fields) -> bytes:
    """struct timex as adjtimex(2) fills it (include/uapi/linux/timex.h, 64-bit): a clock that
    phc2sys disciplines (STA_PLL | STA_NANO), maximum error 500 us, TAI offset 37 s."""
    from hftinfra.timesync import TIMEX_LAYOUT

    values = {"modes": 0, "offset": 12, "freq": -1520, "maxerror": 500, "esterror": 0, "status": 0x2001,
              "constant": 2, "precision": 1, "tolerance": 32768000, "time_sec": 1796220000, "time_frac": 0,
              "tick": 10000, "ppsfreq": 0, "jitter": 0, "shift": 0, "stabil": 0, "jitcnt": 0, "calcnt": 0,
              "errcnt": 0, "stbcnt": 0, "tai": 37, **fields}
    return TIMEX_LAYOUT.pack(*values.values())


# pmc, ptp4l's journal, dmesg and ethtool -T of a host whose ens1f0 is a locked PTP slave with
# hardware timestamps (formats as linuxptp 3.1, ethtool 6.1 and dmesg print them).
def _pmc(dataset: str, body: str) -> str:
    return (f"sending: GET {dataset}\n\t3cfdfe.fffe.a1b2c3-1 seq 0 RESPONSE MANAGEMENT {dataset} \n" + body)


TIME_OUTPUTS = {
    "pmc -u -b 0 GET CURRENT_DATA_SET": _pmc("CURRENT_DATA_SET", "\t\tstepsRemoved     2\n"
                                             "\t\toffsetFromMaster -18.0\n\t\tmeanPathDelay    612.0\n"),
    "pmc -u -b 0 GET PORT_DATA_SET": _pmc("PORT_DATA_SET", "\t\tportIdentity            3cfdfe.fffe.a1b2c3-1\n"
                                          "\t\tportState               SLAVE\n\t\tdelayMechanism          1\n"),
    "pmc -u -b 0 GET TIME_STATUS_NP": _pmc("TIME_STATUS_NP", "\t\tmaster_offset              -18\n"
                                           "\t\tgmPresent                  true\n"
                                           "\t\tgmIdentity                 ec4670.fffe.0a0b0c\n"),
    "pmc -u -b 0 GET PARENT_DATA_SET": _pmc("PARENT_DATA_SET", "\t\tgrandmasterIdentity   ec4670.fffe.0a0b0c\n"
                                            "\t\tgm.ClockClass         6\n"),
    "journalctl --no-pager -o short-monotonic -n 500 -t ptp4l -t phc2sys": (
        "[ 8812.104311] mini ptp4l[700]: [8812.103] master offset        -21 s2 freq  -1498 path delay    611\n"
        "[ 8813.104402] mini ptp4l[700]: [8813.104] master offset        -18 s2 freq  -1502 path delay    612\n"),
    "dmesg": "[    0.000000] Linux version 6.12.43+deb13-amd64\n[    0.000000] tsc: Detected 3000.000 MHz processor\n"
             "[    1.402934] clocksource: Switched to clocksource tsc\n",
    "ethtool -T ens1f0": "Time stamping parameters for ens1f0:\nCapabilities:\n\thardware-transmit\n"
                         "\tsoftware-transmit\n\thardware-receive\n\tsoftware-receive\n\tsoftware-system-clock\n"
                         "\thardware-raw-clock\nPTP Hardware Clock: 0\nHardware Transmit Timestamp Modes:\n\toff\n"
                         "\ton\nHardware Receive Filter Modes:\n\tnone\n\tall\n",
}


def nic_files() -> dict:
    """ens1f0: an E810 port on the only node with two combined queues (IRQs 24 and 25) on
    housekeeping CPUs, RPS off, each isolated CPU in an XPS map, a full PCIe link."""
    files: dict = {
        f"{NIC_DIR}/device": Link("../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0"),
        f"{NIC_DIR}/operstate": "up", f"{NIC_DIR}/carrier": "1", f"{NIC_DIR}/speed": "25000",
        f"{NIC_DIR}/duplex": "full", f"{NIC_DIR}/mtu": "1500",
        f"{PCI_DIR}/numa_node": "0", f"{PCI_DIR}/local_cpulist": "0-7",
        f"{PCI_DIR}/current_link_speed": "16.0 GT/s PCIe", f"{PCI_DIR}/max_link_speed": "16.0 GT/s PCIe",
        f"{PCI_DIR}/current_link_width": "8", f"{PCI_DIR}/max_link_width": "8",
        f"{PCI_DIR}/msi_irqs/24": "msix", f"{PCI_DIR}/msi_irqs/25": "msix",
        "/proc/sys/net/core/rps_default_mask": "00",
        "/hftinfra/commands.json": ethtool_commands(),
        # the NIC's PTP clock (drivers/ptp/ptp_sysfs.c), and linuxptp: ptp4l a slave on it,
        # phc2sys steering the system clock from it.
        f"{PCI_DIR}/ptp/ptp0/clock_name": "ice-0000:3b:00.0-clk",
        "/sys/class/ptp/ptp0": Link("../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/ptp/ptp0"),
        **{f"{PCI_DIR}/ptp/ptp0/{k}": v for k, v in (("max_adjustment", "100000000"), ("n_alarms", "0"),
                                                     ("n_external_timestamps", "3"), ("n_periodic_outputs", "4"),
                                                     ("n_programmable_pins", "4"), ("pps_available", "1"))},
        "/proc/700/comm": "ptp4l", "/proc/700/cmdline": b"ptp4l\0-f\0/etc/ptp4l.conf\0-i\0ens1f0\0",
        "/proc/700/stat": "700 (ptp4l) S 1 700 700 0 -1 4194560",
        "/proc/701/comm": "phc2sys", "/proc/701/cmdline": b"phc2sys\0-a\0-r\0",
        "/proc/701/stat": "701 (phc2sys) S 1 701 701 0 -1 4194560",
        "/etc/ptp4l.conf": "[global]\ntime_stamping hardware\ndelay_mechanism E2E\n[ens1f0]\n",
    }
    for q, xps in ((0, "44"), (1, "88")):
        files.update({f"{NIC_DIR}/queues/rx-{q}/rps_cpus": "00", f"{NIC_DIR}/queues/rx-{q}/rps_flow_cnt": "0",
                      f"{NIC_DIR}/queues/tx-{q}/xps_cpus": xps, f"{NIC_DIR}/queues/tx-{q}/xps_rxqs": "0"})
    return files


def tuned_files() -> dict:
    """An 8-CPU, SMT-2 host (siblings n and n+4) with 2-3,6-7 isolated as whole cores,
    tuned for the hft-isolated profile, on a Debian 13 kernel (6.12) whose build config is
    not on the host."""
    files: dict = {
        "/proc/cmdline": CMDLINE,
        f"{CPU}/possible": "0-7", f"{CPU}/present": "0-7", f"{CPU}/online": "0-7", f"{CPU}/offline": "",
        f"{CPU}/isolated": "2-3,6-7", f"{CPU}/nohz_full": "2-3,6-7", f"{CPU}/kernel_max": "8191",
        f"{CPU}/smt/active": "1", f"{CPU}/smt/control": "on",
        "/proc/1/status": "Name:\tsystemd\nCpus_allowed:\t33\nCpus_allowed_list:\t0-1,4-5",
        "/etc/systemd/system.conf": "[Manager]\nCPUAffinity=0-1 4-5",
        "/sys/devices/virtual/workqueue/cpumask": "33",
        "/etc/os-release": 'ID=rocky\nID_LIKE="rhel centos fedora"',
        f"{CPU}/intel_pstate/status": "active", f"{CPU}/intel_pstate/no_turbo": "1",
        f"{CPU}/intel_pstate/min_perf_pct": "100", f"{CPU}/intel_pstate/max_perf_pct": "100",
        f"{CPU}/cpuidle/current_driver": "intel_idle", f"{CPU}/cpuidle/current_governor": "menu",
        "/dev/cpu_dma_latency": struct.pack("<i", 2),
        # drivers/base/cpu.c exposes each CPU's resume latency limit; "0" is no constraint.
        **{f"{CPU}/cpu{n}/power/pm_qos_resume_latency_us": "0" for n in range(8)},
        "/proc/sys/kernel/timer_migration": "0", "/proc/sys/kernel/watchdog": "1",
        "/proc/sys/kernel/soft_watchdog": "0", "/proc/sys/kernel/nmi_watchdog": "0",
        "/proc/sys/kernel/watchdog_thresh": "10", "/proc/sys/kernel/hung_task_timeout_secs": "600",
        "/proc/sys/kernel/sched_rt_runtime_us": "950000", "/proc/sys/kernel/sched_rt_period_us": "1000000",
        "/proc/sys/kernel/version": "#1 SMP PREEMPT_DYNAMIC Debian 6.12.43-1 (2025-08-27)",
        "/proc/sys/kernel/osrelease": RELEASE, "/proc/sys/kernel/hostname": "tuned-mini",
        "/proc/sys/kernel/watchdog_cpumask": "0-1,4-5",
        f"{RCUPDATE}/rcu_expedited": "0", f"{RCUPDATE}/rcu_normal": "1", f"{RCUPDATE}/rcu_normal_after_boot": "1",
        f"{RCUTREE}/blimit": "10", f"{RCUTREE}/qhimark": "10000", f"{RCUTREE}/qlowmark": "100",
        f"{RCUTREE}/jiffies_till_first_fqs": "3", f"{RCUTREE}/nohz_full_patience_delay": "1000",
        "/sys/kernel/debug/sched/preempt": "none voluntary (full)",
        "/sys/devices/system/clocksource/clocksource0/current_clocksource": "tsc",
        "/sys/devices/system/clocksource/clocksource0/available_clocksource": "tsc hpet acpi_pm",
        "/sys/devices/system/machinecheck/machinecheck0/ignore_ce": "1",
        f"{CPU}/vulnerabilities/meltdown": "Not affected",
        f"{CPU}/vulnerabilities/spectre_v2": "Vulnerable",
        "/sys/kernel/mm/transparent_hugepage/enabled": "always madvise [never]",
        "/sys/kernel/mm/transparent_hugepage/defrag": "always defer defer+madvise madvise [never]",
        # Per-size THP controls (6.8+) at their defaults: the PMD size inherits, the others are never.
        "/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled": "always [inherit] madvise never",
        "/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled": "always inherit madvise [never]",
        "/proc/sys/vm/compact_unevictable_allowed": "0",
        # Interrupts: the NIC's two queue IRQs on housekeeping CPUs, irqbalance stopped (the
        # process list was recorded whole, so its absence is a fact).
        "/hftinfra/meta.json": '{"listed": ["/proc"]}',
        "/proc/1/comm": "systemd",
        "/proc/interrupts": INTERRUPTS,
        "/proc/irq/default_smp_affinity": "33",
        "/proc/sys/net/core/busy_read": "50", "/proc/sys/net/core/busy_poll": "50",
        **{f"/proc/irq/{n}/{f}": cpus for n, cpus in ((0, "0"), (24, "1"), (25, "5"))
           for f in ("smp_affinity_list", "effective_affinity_list")},
        "/sys/kernel/mm/ksm/run": "0", "/sys/kernel/mm/ksm/pages_sharing": "0",
        "/proc/swaps": "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority",
        "/proc/meminfo": "MemTotal: 16384000 kB\nMemFree: 8000000 kB\nMemAvailable: 9000000 kB\n"
                         "SwapTotal: 0 kB\nSwapFree: 0 kB\nAnonHugePages: 0 kB\nHugepagesize: 1048576 kB",
        "/proc/sys/vm/swappiness": "10", "/proc/sys/vm/zone_reclaim_mode": "0",
        "/proc/sys/vm/dirty_ratio": "10", "/proc/sys/vm/dirty_background_ratio": "3",
        "/proc/sys/vm/dirty_bytes": "0", "/proc/sys/vm/dirty_background_bytes": "0",
        "/proc/sys/vm/stat_interval": "10", "/proc/sys/kernel/numa_balancing": "0",
        "/sys/devices/system/node/node0/cpulist": "0-7", "/sys/devices/system/node/possible": "0",
        "/sys/devices/system/node/online": "0",
        **nic_files(),
    }
    for size in (2048, 1048576):
        for base in ("/sys/kernel/mm/hugepages", "/sys/devices/system/node/node0/hugepages"):
            d = f"{base}/hugepages-{size}kB"
            n = "4" if size == 1048576 else "0"
            files.update({f"{d}/nr_hugepages": n, f"{d}/free_hugepages": n, f"{d}/surplus_hugepages": "0"})
            if base.startswith("/sys/kernel"):
                files[f"{d}/resv_hugepages"] = "0"
    cpuinfo = []
    for n in range(8):
        core = n % 4
        base = f"{CPU}/cpu{n}"
        files.update({
            f"{base}/topology/thread_siblings_list": f"{core},{core + 4}",
            f"{base}/topology/core_siblings_list": "0-7",
            f"{base}/topology/core_id": str(core), f"{base}/topology/physical_package_id": "0",
            f"{base}/topology/die_id": "0",
            f"{base}/cpufreq/scaling_governor": "performance", f"{base}/cpufreq/scaling_driver": "intel_pstate",
            f"{base}/cpufreq/energy_performance_preference": "performance",
            f"{CPU}/cpufreq/policy{n}/scaling_governor": "performance",
        })
        if n:
            files[f"{base}/online"] = "1"
        for i, (name, lat, dis) in enumerate((("POLL", 0, 0), ("C1", 2, 0), ("C6", 170, 1))):
            s = f"{base}/cpuidle/state{i}"
            files.update({f"{s}/name": name, f"{s}/desc": name, f"{s}/latency": str(lat),
                          f"{s}/residency": str(lat * 3), f"{s}/disable": str(dis), f"{s}/usage": "5",
                          f"{s}/time": "100"})
        cpuinfo.append(f"processor\t: {n}\nmodel name\t: Intel(R) Xeon(R) Gold 6354 CPU @ 3.00GHz\n"
                       "flags\t\t: fpu tsc rdtscp constant_tsc nonstop_tsc tsc_deadline_timer\n")
    files["/proc/cpuinfo"] = "\n".join(cpuinfo)
    return files


def write_tree(root, files: dict) -> None:
    for key, content in files.items():
        dest = root / key.lstrip("/")
        if key.endswith("/"):  # an empty directory
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Link):
            dest.symlink_to(str(content))
        elif isinstance(content, bytes):
            dest.write_bytes(content)
        else:
            dest.write_text(content + "\n")


def tuned_host_with(root: Path, changes: dict | None = None):
    """The tuned host written at root with {path: new content, or None to delete it and
    everything under it}, opened as a snapshot."""
    files = tuned_files()
    for path, content in (changes or {}).items():
        if content is None:
            for key in [k for k in files if k == path or k.startswith(path.rstrip("/") + "/")]:
                del files[key]
        else:
            files[path] = content
    write_tree(root, files)
    return open_host(root)


@pytest.fixture
def host_with(tmp_path):
    """host_with({path: new content or None to delete}) -> a snapshot of the tuned host so changed."""
    counter = iter(range(1000))
    return lambda changes=None: tuned_host_with(tmp_path / f"h{next(counter)}", changes)


def status_of(host, check_id: str, profile: str = "hft-isolated", variables=None):
    report = run_audit(host, profile, variables=variables)
    return report.finding(check_id)


def test_every_check_passes_on_the_tuned_host(host_with):
    report = run_audit(host_with(), "hft-isolated")
    assert report.variables["isolated_cpus"].value == frozenset({2, 3, 6, 7})
    assert report.variables["housekeeping_cpus"].value == frozenset({0, 1, 4, 5})
    # mitigations=off passes; every other check, too.
    # A snapshot holds one reading of the counters: the measured check cannot pass from it.
    # This host takes its time from PTP: chrony's check does not apply.
    bad = [(f.id, f.status, f.observed, f.message) for f in report.findings if f.status != "pass"
           and not (f.id in MEASURED and f.status == "unknown")
           and not (f.id == "time.chrony_offset" and f.status == "skip")]
    assert bad == []
    assert {f.id for f in report.findings} == set(catalog())
    assert report.exit_code == 0


def _percpu(path_tail: str, value: str) -> dict:
    return {f"{CPU}/cpu{n}/{path_tail}": value for n in range(8)}


# (check id, changes to the tuned host, expected status, a word the message or observed must hold)
CASES = [
    ("cpu.isolated", {f"{CPU}/isolated": ""}, "fail", "configured but not in effect"),
    ("cpu.isolated", {"/proc/cmdline": CMDLINE.replace("managed_irq,domain,", "")}, "fail", "flags"),
    ("cpu.isolated", {f"{CPU}/isolated": None}, "unknown", "/sys/devices/system/cpu/isolated"),
    ("cpu.nohz_full", {f"{CPU}/nohz_full": "2-3"}, "fail", "configured but not in effect"),
    ("cpu.nohz_full", {f"{CPU}/nohz_full": None}, "fail", "this kernel has no nohz_full"),
    ("cpu.rcu_nocbs", {"/proc/cmdline": CMDLINE.replace("rcu_nocbs=2-3,6-7", "rcu_nocbs=2"),
                       f"{CPU}/nohz_full": "2-3"}, "fail", "rcu_nocbs=2"),
    ("cpu.irqaffinity", {"/proc/cmdline": CMDLINE.replace("irqaffinity=0-1,4-5 ", "")}, "fail", "all CPUs"),
    ("cpu.irqaffinity", {"/proc/cmdline": CMDLINE.replace("irqaffinity=0-1,4-5", "irqaffinity=0-2")},
     "fail", "differs"),
    ("cpu.systemd_affinity", {"/proc/1/status": "Name:\tsystemd\nCpus_allowed_list:\t0-7"}, "fail",
     "configured but not in effect"),
    ("cpu.systemd_affinity", {"/proc/1/status": "Name:\tsystemd\nCpus_allowed_list:\t0-7",
                              "/etc/systemd/system.conf": "[Manager]"}, "fail", "differs"),
    ("cpu.systemd_affinity", {"/proc/1/status": None}, "unknown", "/proc/1/status"),
    ("cpu.workqueue_mask", {"/sys/devices/virtual/workqueue/cpumask": "ff"}, "fail", "differs"),
    ("cpu.workqueue_mask", {"/sys/devices/virtual/workqueue/cpumask": "zz"}, "unknown", "parsed"),
    ("cpu.smt", {f"{CPU}/cpu2/topology/thread_siblings_list": "1,2"}, "fail", "share a core"),
    ("cpu.smt", {f"{CPU}/smt/active": "0", f"{CPU}/smt/control": "off",
                 **{f"{CPU}/cpu{n}/topology/thread_siblings_list": str(n) for n in range(8)}}, "pass", "off"),
    ("cpu.governor", {f"{CPU}/cpu5/cpufreq/scaling_governor": "powersave"}, "fail", "on CPUs 5"),
    ("cpu.governor", {**{f"{CPU}/cpu{n}/cpufreq": None for n in range(8)}, f"{CPU}/cpufreq": None,
                      f"{CPU}/cpufreq/": "", f"{CPU}/intel_pstate": None},
     "skip", "no cpufreq driver"),
    # The floor matters only where a governor can lower the frequency (intel_pstate.rst).
    ("cpu.pstate_min_perf", {f"{CPU}/intel_pstate/min_perf_pct": "30",
                             **_percpu("cpufreq/scaling_governor", "powersave")}, "fail", "differs"),
    ("cpu.pstate_min_perf", {f"{CPU}/intel_pstate/min_perf_pct": "30"}, "skip", "does not matter"),
    ("cpu.pstate_min_perf", {f"{CPU}/intel_pstate": None, **_percpu("cpufreq/scaling_driver", "acpi-cpufreq")},
     "skip", "lists no intel_pstate"),
    # The driver says intel_pstate yet its directory is not there: a partial capture, not a fact.
    ("cpu.pstate_min_perf", {f"{CPU}/intel_pstate": None}, "unknown", "min_perf_pct"),
    ("cpu.turbo", {f"{CPU}/intel_pstate/no_turbo": "0"}, "warn", "differs"),
    ("cpu.epp", {**_percpu("cpufreq/energy_performance_preference", "balance_power"),
                 **_percpu("cpufreq/scaling_governor", "powersave"), f"{CPU}/intel_pstate/min_perf_pct": "30"},
     "warn", "differs"),
    # Under the performance governor with HWP the driver holds EPP itself: another value is unused.
    ("cpu.epp", _percpu("cpufreq/energy_performance_preference", "balance_power"), "skip", "not used"),
    ("cpu.epp", {f"{CPU}/cpu{n}/cpufreq/energy_performance_preference": None for n in range(8)}, "skip",
     "energy_performance_preference"),
    # One CPU whose driver answers but whose EPP file is missing: that CPU is not judged as good.
    ("cpu.epp", {f"{CPU}/cpu3/cpufreq/energy_performance_preference": None,
                 **_percpu("cpufreq/scaling_governor", "powersave"), f"{CPU}/intel_pstate/min_perf_pct": "30"},
     "unknown", "cpu3/cpufreq/energy_performance_preference"),
    ("cpu.cstates", _percpu("cpuidle/state2/disable", "0") | {"/dev/cpu_dma_latency": struct.pack("<i", 2000000000)},
     "fail", "differs"),
    # A PM QoS request of 2 us keeps the governor out of C6 even when C6 is enabled.
    ("cpu.cstates", _percpu("cpuidle/state2/disable", "0"), "pass", ""),
    ("cpu.cstates", {"/proc/cmdline": CMDLINE + " idle=poll", **_percpu("cpuidle/state2/disable", "0")},
     "pass", "idle=poll"),
    # No state to judge is unknown, never a pass at 0 us.
    ("cpu.cstates", _percpu("cpuidle/state0/disable", "1") | _percpu("cpuidle/state1/disable", "1"),
     "unknown", "every idle state is disabled"),
    ("cpu.cstates", {**{f"{CPU}/cpu{n}/cpuidle": None for n in range(8)},
                     **{f"{CPU}/cpu{n}/cpuidle/": "" for n in range(8)}}, "unknown", "no idle states listed"),
    # A PM QoS limit below every enabled state leaves state 0 (POLL), as the menu governor does.
    ("cpu.cstates", {"/dev/cpu_dma_latency": struct.pack("<i", 1)}, "pass", "0 us"),
    ("cpu.pm_qos", {"/dev/cpu_dma_latency": struct.pack("<i", 2000000000)}, "warn", "no request held"),
    ("cpu.pm_qos", {"/dev/cpu_dma_latency": None, "/dev/null": ""}, "skip", "/dev lists no cpu_dma_latency"),
    ("cpu.pm_qos", {"/dev/cpu_dma_latency": None}, "unknown", "cpu_dma_latency"),
    ("kernel.skew_tick", {"/proc/cmdline": CMDLINE.replace("skew_tick=1 ", "")}, "fail", "no skew_tick"),
    # With every isolated CPU in nohz_full, hft-isolated only warns on 1 (network-latency fails it).
    ("kernel.timer_migration", {"/proc/sys/kernel/timer_migration": "1"}, "warn", "differs"),
    ("kernel.watchdog", {"/proc/sys/kernel/soft_watchdog": "1", "/proc/sys/kernel/watchdog_cpumask": "0-7",
                         "/proc/cmdline": CMDLINE.replace("nosoftlockup ", "")}, "fail", "isolated CPUs 2-3,6-7 among"),
    ("kernel.watchdog", {"/proc/sys/kernel/watchdog": "0", "/proc/sys/kernel/soft_watchdog": "1"}, "pass", ""),
    ("kernel.nmi_watchdog", {"/proc/sys/kernel/nmi_watchdog": "1", "/proc/sys/kernel/watchdog_cpumask": "0-7"},
     "fail", "differs"),
    ("kernel.nmi_watchdog", {"/proc/sys/kernel/nmi_watchdog": None}, "unknown", "nmi_watchdog"),
    ("kernel.sched_rt_runtime", {"/proc/sys/kernel/sched_rt_runtime_us": "-1", **OLDER_KERNEL}, "warn", "runaway"),
    ("kernel.sched_rt_runtime", {"/proc/sys/kernel/sched_rt_runtime_us": "500000", **OLDER_KERNEL}, "fail",
     "before 6.12"),
    # 6.12 with no build config: whether -1 matters depends on CONFIG_RT_GROUP_SCHED.
    ("kernel.sched_rt_runtime", {"/proc/sys/kernel/sched_rt_runtime_us": "-1"}, "unknown", "RT group scheduling"),
    ("kernel.stat_interval", {"/proc/sys/vm/stat_interval": "1"}, "fail", "differs"),
    ("kernel.hung_task", {"/proc/sys/kernel/hung_task_timeout_secs": "120"}, "fail", "differs"),
    ("kernel.hung_task", {"/proc/sys/kernel/hung_task_timeout_secs": "0"}, "pass", ""),
    ("kernel.hung_task", {"/proc/sys/kernel/hung_task_timeout_secs": None}, "skip", "hung-task"),
    ("kernel.clocksource", {"/sys/devices/system/clocksource/clocksource0/current_clocksource": "hpet"},
     "fail", "current"),
    ("kernel.clocksource", {"/proc/cmdline": CMDLINE.replace("tsc=reliable ", "")}, "fail", "tsc_watchdog"),
    ("kernel.rcu_normal_after_boot", {f"{RCUPDATE}/rcu_normal_after_boot": "0", f"{RCUPDATE}/rcu_normal": "0",
                                      "/proc/cmdline": CMDLINE.replace("rcupdate.rcu_normal_after_boot=1 ", "")},
     "fail", "differs"),
    ("kernel.rcu_patience_delay", {f"{RCUTREE}/nohz_full_patience_delay": "0",
                                   "/proc/cmdline": CMDLINE.replace("rcutree.nohz_full_patience_delay=1000 ", "")},
     "fail", "differs"),
    ("kernel.rcu_patience_delay", {f"{RCUTREE}/nohz_full_patience_delay": None}, "skip", "lists no"),
    ("kernel.mce_ignore_ce", {"/sys/devices/system/machinecheck/machinecheck0/ignore_ce": "0"}, "fail",
     "differs"),
    ("kernel.mce_ignore_ce", {"/sys/devices/system/machinecheck": None}, "skip", "machine-check"),
    ("kernel.mitigations", {"/proc/cmdline": CMDLINE.replace("mitigations=off ", "")}, "warn", "auto"),
    ("kernel.preempt", {"/sys/kernel/debug/sched/preempt": "(none) voluntary full"}, "warn", "none"),
    ("kernel.preempt", {"/sys/kernel/realtime": "1"}, "pass", "rt"),
    ("memory.thp", {"/sys/kernel/mm/transparent_hugepage/enabled": "[always] madvise never"}, "fail",
     "configured but not in effect"),
    ("memory.thp", {"/sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never",
                    "/proc/cmdline": CMDLINE.replace("transparent_hugepage=never ", "")}, "fail", "differs"),
    ("memory.thp", {"/sys/kernel/mm/transparent_hugepage": None}, "skip", "transparent hugepages"),
    ("memory.ksm", {"/sys/kernel/mm/ksm/run": "1"}, "fail", "running"),
    ("memory.compact_unevictable", {"/proc/sys/vm/compact_unevictable_allowed": "1"}, "fail", "differs"),
    ("irq.irqbalance", {"/proc/812/comm": "irqbalance", "/proc/812/environ": "PATH=/usr/bin",
                        "/proc/812/cmdline": "irqbalance"}, "pass", "bans 2-3,6-7"),
    ("irq.irqbalance", {"/proc/812/comm": "irqbalance", "/proc/812/environ": "IRQBALANCE_BANNED_CPULIST=",
                        "/proc/812/cmdline": "irqbalance"}, "fail", "2-3,6-7 are not banned"),
    ("irq.irqbalance", {"/hftinfra/meta.json": "{}"}, "unknown", "process list"),
    ("irq.default_affinity", {"/proc/irq/default_smp_affinity": "ff"}, "fail", "differs"),
    ("net.busy_poll", {"/proc/sys/net/core/busy_poll": "0"}, "fail", "busy_poll"),
    ("net.busy_poll", {"/proc/sys/net/core/busy_read": None}, "unknown", "busy_read"),
    ("irq.affinity", {"/proc/irq/25/effective_affinity_list": "6"}, "fail", "IRQ 25 (ens1f0-TxRx-1) effective on CPUs 6"),
    ("irq.nic_numa_local", {"/proc/irq/25/effective_affinity_list": "6"}, "fail",
     "IRQ 25 (ens1f0-TxRx-1) on CPUs 6 (isolated)"),
    ("irq.nic_numa_local", {f"{NIC_DIR}/carrier": "0"}, "skip", "no trading NICs"),
    ("irq.nic_numa_local", {f"{PCI_DIR}/msi_irqs": None, "/proc/interrupts": INTERRUPTS.replace("ens1f0", "eth9")},
     "unknown", "msi_irqs"),
    ("irq.isolated_noise", {}, "unknown", "rates need a live host"),
    ("net.rps", {f"{NIC_DIR}/queues/rx-1/rps_cpus": "0c"}, "fail", "ens1f0 rx-1 -> 2-3"),
    ("net.rps", {"/proc/sys/net/core/rps_default_mask": "ff"}, "fail", "rps_default_mask 0-7"),
    ("net.xps", {f"{NIC_DIR}/queues/tx-1/xps_cpus": "00"}, "warn", "CPUs 2,6"),
    ("net.xps", {f"{NIC_DIR}/queues/tx-1": None}, "skip", "single-queue"),
    ("net.coalescing", {"/hftinfra/commands.json": ethtool_commands(coalesce=(
        "Coalesce parameters for ens1f0:\nAdaptive RX: on  TX: on\nrx-usecs:\t50\nrx-frames:\tn/a\n"))},
     "fail", "adaptive_rx; adaptive_tx; rx_usecs"),
    ("net.coalescing", {"/hftinfra/commands.json": ethtool_commands(coalesce=None)}, "skip", "no coalesce settings"),
    ("net.coalescing", {f"{NIC_DIR}/carrier": "0"}, "skip", "--var trading_nics"),
    ("net.gro_lro", {"/hftinfra/commands.json": ethtool_commands(features=(
        "Features for ens1f0:\ngeneric-receive-offload: on\nlarge-receive-offload: off [fixed]\n"))},
     "warn", "GRO on"),
    ("net.gro_lro", {"/hftinfra/commands.json": ethtool_commands(features=(
        "Features for ens1f0:\ngeneric-receive-offload: off\n"))}, "unknown", "large-receive-offload"),
    ("net.channels", {"/hftinfra/commands.json": ethtool_commands(channels=(
        "Channel parameters for ens1f0:\nPre-set maximums:\nRX:\t\tn/a\nTX:\t\tn/a\nOther:\t\t1\n"
        "Combined:\t16\nCurrent hardware settings:\nRX:\t\tn/a\nTX:\t\tn/a\nOther:\t\t1\nCombined:\t12\n"))},
     "warn", "12 queues for 8 online CPUs"),
    ("net.pcie_link", {f"{PCI_DIR}/current_link_width": "4"}, "fail", "16.0 GT/s PCIe x4 of 16.0 GT/s PCIe x8"),
    ("net.pcie_link", {"/sys/devices/pci0000:3a": None}, "unknown", "PCI device folder is gone"),
    ("irq.nic_numa_local", {"/sys/devices/pci0000:3a": None}, "unknown", "numa_node"),
    # A snapshot from before the NIC probes: no /sys/class/net, no ethtool outputs.
    *((cid, {"/sys/class/net": None, "/hftinfra/commands.json": None}, "unknown", "/sys/class/net")
      for cid in ("irq.nic_numa_local", "net.rps", "net.xps", "net.coalescing", "net.gro_lro", "net.channels",
                  "net.pcie_link")),
    ("net.channels", {"/hftinfra/commands.json": None}, "unknown", "not recorded in this snapshot"),
    ("time.clocksource", {"/sys/devices/system/clocksource/clocksource0/current_clocksource": "hpet"}, "fail",
     "hpet"),
    ("time.tsc_stable", {"/hftinfra/commands.json": ethtool_commands(dmesg=(
        "[    0.000000] Linux version 6.12.43+deb13-amd64\n[ 5021.331211] clocksource: timekeeping watchdog on CPU3: "
        "Marking clocksource 'tsc' as unstable because the skew is too large:\n"))}, "fail", "marked_unstable"),
    ("time.tsc_stable", {"/proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu tsc constant_tsc\n"}, "fail",
     "nonstop_tsc"),
    ("time.tsc_stable", {"/hftinfra/commands.json": ethtool_commands(dmesg=(
        1, "", "dmesg: read kernel buffer failed: Operation not permitted\n"))}, "unknown", "dmesg"),
    ("time.sync_daemon", {"/proc/702/comm": "chronyd", "/proc/702/cmdline": b"/usr/sbin/chronyd\0-F\0" + b"2\0",
                          "/proc/702/stat": "702 (chronyd) S 1 702 702 0 -1 4194560"}, "fail", "chronyd (PID 702)"),
    ("time.sync_daemon", {"/proc/701": None}, "fail", "no daemon disciplines"),
    # phc2sys -a without -r follows ptp4l's ports but leaves the system clock alone (phc2sys(8)).
    ("time.sync_daemon", {"/proc/701/cmdline": b"phc2sys\0-a\0"}, "fail", "no daemon disciplines"),
    ("time.synchronised", {"/hftinfra/commands.json": ethtool_commands(timex={"status": 0x2041})}, "fail",
     "unsynchronised"),
    ("time.synchronised", {"/hftinfra/commands.json": ethtool_commands(timex={"maxerror": 16000000})}, "fail",
     "maxerror_us"),
    ("time.phc_present", {"/hftinfra/commands.json": ethtool_commands(**{"ethtool -T ens1f0": (
        "Time stamping parameters for ens1f0:\nCapabilities:\n\tsoftware-transmit\n\tsoftware-receive\n"
        "\tsoftware-system-clock\nPTP Hardware Clock: none\nHardware Transmit Timestamp Modes: none\n"
        "Hardware Receive Filter Modes: none\n")}), "/sys/class/ptp": None, f"{PCI_DIR}/ptp": None},
     "fail", "ens1f0: no PHC"),
    ("time.ptp_servo", {"/hftinfra/commands.json": ethtool_commands(**{"pmc -u -b 0 GET PORT_DATA_SET": _pmc(
        "PORT_DATA_SET", "\t\tportState               LISTENING\n")})}, "fail", "port_state"),
    ("time.ptp_servo", {"/hftinfra/commands.json": ethtool_commands(**{"pmc -u -b 0 GET CURRENT_DATA_SET": _pmc(
        "CURRENT_DATA_SET", "\t\toffsetFromMaster 5210.0\n\t\tmeanPathDelay    612.0\n")})}, "warn", "RTS 25"),
    ("time.ptp_servo", {"/hftinfra/commands.json": ethtool_commands(**{"pmc -u -b 0 GET CURRENT_DATA_SET": _pmc(
        "CURRENT_DATA_SET", "\t\toffsetFromMaster 250000.0\n\t\tmeanPathDelay    612.0\n")})}, "fail",
     "offset_ns"),
    ("time.ptp_servo", {"/hftinfra/commands.json": ethtool_commands(**{"pmc -u -b 0 GET CURRENT_DATA_SET": (
        0, "sending: GET CURRENT_DATA_SET\n", "")})}, "unknown", "CURRENT_DATA_SET"),
    ("time.ptp_servo", {"/proc/700": None}, "skip", "no ptp4l"),
    ("time.chrony_offset", {"/proc/701": None, "/proc/700": None, "/proc/702/comm": "chronyd",
                            "/proc/702/cmdline": b"/usr/sbin/chronyd\0",
                            "/proc/702/stat": "702 (chronyd) S 1 702 702 0 -1 4194560",
                            "/hftinfra/commands.json": ethtool_commands(**{"chronyc -c tracking": (
                                "A29FC87B,pool.example.net,3,1796220897.777085448,-0.002100000,-0.001515000,"
                                "0.000857000,-0.084,-0.237,0.697,0.018711,0.003533,64.0,Normal\n")})},
     "fail", "offset_ns"),
    ("time.chrony_offset", {"/proc/700": None}, "skip", "chronyd does not run"),
    ("net.pcie_link", {f"{PCI_DIR}/current_link_speed": None, f"{PCI_DIR}/max_link_speed": None}, "skip",
     "not PCI Express"),
    # Before 4.13 there is no effective affinity: the configured one is judged, and says so.
    ("irq.affinity", {"/proc/irq/25/effective_affinity_list": None, "/proc/irq/25/smp_affinity_list": "2"},
     "fail", "IRQ 25 (ens1f0-TxRx-1) configured on CPUs 2"),
    ("irq.affinity", {"/proc/irq/24/effective_affinity_list": "zz"}, "unknown", "could not be read"),
    ("memory.ksm", {"/sys/kernel/mm/ksm": None}, "skip", "KSM"),
    ("memory.swap", {"/proc/swaps": "Filename\tType\tSize\tUsed\tPriority\n/dev/sda2 partition\t8388604\t0\t-2"},
     "fail", "/dev/sda2"),
    ("memory.swappiness", {"/proc/sys/vm/swappiness": "60"}, "fail", "differs"),
    ("memory.swappiness", {"/proc/sys/vm/swappiness": "ten"}, "unknown", "parsed"),
    ("memory.numa_balancing", {"/proc/sys/kernel/numa_balancing": "1"}, "fail", "differs"),
    ("memory.zone_reclaim", {"/proc/sys/vm/zone_reclaim_mode": "1"}, "fail", "differs"),
    ("memory.dirty", {"/proc/sys/vm/dirty_ratio": "20"}, "fail", "dirty_ratio"),
    ("memory.dirty", {"/proc/sys/vm/dirty_background_ratio": "10"}, "fail", "dirty_background_ratio"),
    ("memory.hugepages", {"/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages": "1"}, "fail",
     "configured but not in effect"),
    ("memory.hugepages", {"/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages": "0",
                          "/proc/cmdline": CMDLINE.replace(" hugepagesz=1G hugepages=4", "")}, "fail", "no pool"),
    ("memory.hugepages", {"/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages": "0",
                          "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages": "512",
                          "/proc/cmdline": CMDLINE.replace(" hugepagesz=1G hugepages=4", "")}, "pass", "2 MiB"),
]


@pytest.mark.parametrize("check_id,changes,status,word", CASES,
                         ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_check_on_changed_host(host_with, check_id, changes, status, word):
    f = status_of(host_with(changes), check_id)
    assert f.status == status, (f.observed, f.message)
    assert word in f"{f.observed} {f.message}", (f.observed, f.message)
    if status in ("fail", "warn"):
        assert f.fix, "a failing check must say how to fix it"
    else:
        assert f.fix is None
    if status in ("skip", "unknown"):
        assert f.message, "skip and unknown always say why"


# Checks that measure the live host: their failing cases are in tests/test_checks_noise.py.
MEASURED = {"irq.isolated_noise"}


def test_every_check_has_a_failing_case():
    failing = {c[0] for c in CASES if c[2] in ("fail", "warn")}
    assert failing | MEASURED == set(catalog())


def test_unreadable_value_is_unknown_never_pass(host_with, tmp_path):
    host = host_with({"/proc/sys/vm/swappiness": None})
    f = status_of(host, "memory.swappiness")
    assert f.status == "unknown"
    assert "missing" in f.observed and "/proc/sys/vm/swappiness" in f.message


def test_denied_reads_are_unknown(host_with, tmp_path):
    import json

    host = host_with()
    root = host.source
    meta = tmp_path / "unread"
    (meta).mkdir()
    # A snapshot records reads that were denied at capture time.
    from pathlib import Path
    (Path(root) / "hftinfra").mkdir(exist_ok=True)
    (Path(root) / "hftinfra" / "unread.json").write_text(json.dumps(
        {"/proc/sys/kernel/nmi_watchdog": {"reason": "denied", "detail": ""}}))
    f = status_of(open_host(root), "kernel.nmi_watchdog")
    assert f.status == "unknown" and "denied" in f.message


def test_no_isolation_fails_and_says_so(host_with):
    cmd = ("ro skew_tick=1 tsc=reliable nosoftlockup mitigations=off preempt=full")
    host = host_with({"/proc/cmdline": cmd, f"{CPU}/isolated": "", f"{CPU}/nohz_full": ""})
    report = run_audit(host, "hft-isolated")
    assert report.variables["isolated_cpus"].value is None
    iso = report.finding("cpu.isolated")
    assert iso.status == "fail" and "no CPUs are isolated" in iso.message
    for cid in ("cpu.nohz_full", "cpu.rcu_nocbs", "cpu.irqaffinity", "cpu.workqueue_mask"):
        f = report.finding(cid)
        assert f.status == "fail" and "isolated_cpus" in f.message, cid


def test_var_overrides_host_isolation(host_with):
    report = run_audit(host_with(), "hft-isolated", variables=["isolated_cpus=3,7"])
    assert report.variables["housekeeping_cpus"].value == frozenset({0, 1, 2, 4, 5, 6})
    assert report.finding("cpu.isolated").status == "fail"
    assert report.finding("cpu.nohz_full").status == "pass"  # 2-3,6-7 covers 3,7
    # 0-1,4-5 lies within the housekeeping set 0-2,4-6.
    assert report.finding("cpu.workqueue_mask").status == "pass"
    assert report.finding("cpu.smt").status == "pass"  # 3 and 7 are the two threads of one core
    half = run_audit(host_with(), "hft-isolated", variables=["isolated_cpus=2-3"])
    assert half.finding("cpu.smt").status == "fail" and "2 with 6" in half.finding("cpu.smt").observed



def test_fix_commands_are_exact_for_this_host(host_with):
    host = host_with({"/proc/cmdline": CMDLINE.replace("isolcpus=managed_irq,domain,2-3,6-7 ", ""),
                      f"{CPU}/isolated": "", "/proc/sys/vm/swappiness": "60",
                      "/sys/devices/virtual/workqueue/cpumask": "ff"})
    report = run_audit(host, "hft-isolated", variables=["isolated_cpus=2-3,6-7"])
    iso = report.finding("cpu.isolated")
    assert "grubby --update-kernel=ALL --args=isolcpus=managed_irq,domain,2-3,6-7" in iso.fix
    assert "sysctl -w vm.swappiness=10" in report.finding("memory.swappiness").fix
    assert "echo 33 > /sys/devices/virtual/workqueue/cpumask" in report.finding("cpu.workqueue_mask").fix
    script = report.fix_script()
    assert script.startswith("#!/bin/sh") and "# --- cpu.isolated (fail)" in script


def test_probe_runs_once_per_audit(host_with, monkeypatch):
    from hftinfra.checks import base

    calls: dict[str, int] = {}
    real = base.probe_function

    def counting(name):
        fn = real(name)

        def wrapped(host):
            calls[name] = calls.get(name, 0) + 1
            return fn(host)
        return wrapped

    monkeypatch.setattr(base, "probe_function", counting)
    run_audit(host_with(), "hft-isolated")
    assert calls and all(n == 1 for n in calls.values()), calls


def test_a_crashing_probe_makes_unknown_not_a_crash(host_with, monkeypatch):
    from hftinfra.checks import base

    real = base.probe_function

    def broken(name):
        if name == "memory.thp":
            def boom(host):
                raise RuntimeError("bug")
            return boom
        return real(name)

    monkeypatch.setattr(base, "probe_function", broken)
    report = run_audit(host_with(), "hft-isolated")
    f = report.finding("memory.thp")
    assert f.status == "unknown" and "RuntimeError" in f.message
    assert report.finding("memory.ksm").status == "pass"


# ---- the value grammar --------------------------------------------------------------------


def test_expectation_grammar():
    e = parse_expectation(">=600|0", "int")
    assert e.matches("600") and e.matches(0) and e.matches(" 9000\n") and not e.matches(120)
    assert parse_expectation("never|madvise", "str").matches("madvise")
    assert not parse_expectation("never", "str").matches("always")
    assert parse_expectation("!=jiffies", "str").matches("tsc")
    assert parse_expectation("off", "bool").matches("0") and parse_expectation("on", "bool").matches("Y")
    assert parse_expectation("0x33", "cpuset").matches("0-1,4-5")
    assert parse_expectation("mask:00000000,00000033", "cpuset").matches({0, 1, 4, 5})
    assert parse_expectation("<=0-7", "cpuset").matches("2-3")
    assert not parse_expectation("<=0-1", "cpuset").matches("0-2")
    assert parse_expectation(">=domain,managed_irq", "words").matches("managed_irq,domain,nohz")
    assert parse_expectation(">=2-3", "cpuset").matches("0-7")
    assert parse_expectation("", "cpuset").matches("")
    assert parse_expectation("<10", "int").suggest() == 9
    assert parse_expectation(">10", "int").suggest() == 11


@pytest.mark.parametrize("raw,kind", [("abc", "int"), ("<=fast", "str"), ("x-y", "cpuset"), ("maybe", "bool"),
                                      (">on", "bool"), ("", "int")])
def test_expectation_rejects_wrong_types(raw, kind):
    with pytest.raises(ValueTypeError):
        parse_expectation(raw, kind)


@given(st.integers(-10**9, 10**9), st.integers(-10**9, 10**9))
def test_bounds_agree_with_python(bound, value):
    for op, fn in (("<=", lambda a, b: a <= b), ("<", lambda a, b: a < b), (">=", lambda a, b: a >= b),
                   (">", lambda a, b: a > b), ("", lambda a, b: a == b), ("!=", lambda a, b: a != b)):
        assert parse_expectation(f"{op}{bound}", "int").matches(str(value)) == fn(value, bound)
        suggested = parse_expectation(f"{op}{bound}", "int").suggest()
        if op != "!=":
            assert parse_expectation(f"{op}{bound}", "int").matches(suggested)


@given(st.frozensets(st.integers(0, 300), max_size=40), st.frozensets(st.integers(0, 300), max_size=40))
def test_cpusets_from_lists_and_masks_compare_alike(a, b):
    as_list = format_cpulist(a) or "none"
    as_mask = "0x" + format_cpumask(a).replace(",", "") if a else "none"
    assert normalize(as_list, "cpuset") == a
    if a:
        assert normalize("mask:" + format_cpumask(a), "cpuset") == a
    assert parse_expectation(f"<={as_list}", "cpuset").matches(b) == (b <= a)
    assert parse_expectation(f">={as_list}", "cpuset").matches(b) == (b >= a)
    assert parse_expectation(as_mask, "cpuset").matches(format_cpulist(b)) == (a == b)


@given(st.lists(st.sampled_from(["never", "madvise", "always", "tsc", "hpet"]), min_size=1, max_size=4),
       st.sampled_from(["never", "madvise", "always", "tsc", "hpet", "acpi_pm"]))
def test_alternatives_match_any(alternatives, value):
    assert parse_expectation("|".join(alternatives), "str").matches(value) == (value in alternatives)


@given(st.text(max_size=40))
def test_expectation_parser_never_crashes_unexpectedly(text):
    for kind in ("int", "str", "bool", "cpuset", "words"):
        try:
            parse_expectation(text, kind)
        except ValueTypeError:
            pass


def test_evaluate_with_context_directly(host_with):
    profile = load_profile("network-latency")
    ctx = Context(host_with())
    values = resolve_variables(profile, ctx, {})
    checks = catalog()
    f = evaluate(checks["memory.thp"], profile.rules["memory.thp"], ctx, values)
    assert f.status == "pass" and f.expected == "never"


def test_empty_isolated_cpus_from_var_fails_the_isolation_checks(host_with):
    report = run_audit(host_with(), "hft-isolated", variables=["isolated_cpus="])
    assert report.variables["housekeeping_cpus"].value is None
    assert "no CPUs are isolated" in report.finding("cpu.isolated").message
    for cid in ("cpu.isolated", "cpu.nohz_full", "cpu.rcu_nocbs", "cpu.irqaffinity", "cpu.systemd_affinity",
                "cpu.workqueue_mask"):
        f = report.finding(cid)
        assert f.status == "fail" and "isolated_cpus" in f.message, (cid, f.message)
        assert f.fix
    assert "empty" in report.finding("cpu.nohz_full").message


def test_var_cpus_must_be_on_the_host(host_with):
    from hftinfra.profiles import ProfileError

    with pytest.raises(ProfileError, match=r"--var isolated_cpus: CPUs 100-120 are not on this host "
                                           r"\(possible CPUs: 0-7\)"):
        run_audit(host_with(), "hft-isolated", variables=["isolated_cpus=100-120"])
    with pytest.raises(ProfileError, match="CPUs 8 are not on this host"):
        run_audit(host_with(), "hft-isolated", variables=["housekeeping_cpus=0-1,8"])


@pytest.mark.parametrize("text,cpus", [("2-N", {2, 3, 4, 5, 6, 7}), ("all", set(range(8))),
                                       ("2-3,N", {2, 3, 7}), ("ALL:1/2", {0, 2, 4, 6})])
def test_var_cpulist_resolves_n_and_all_against_possible(host_with, text, cpus):
    report = run_audit(host_with(), "hft-isolated", variables=[f"isolated_cpus={text}"])
    assert report.variables["isolated_cpus"].value == frozenset(cpus)


def test_var_cpus_taken_as_given_when_possible_is_unreadable(host_with):
    from hftinfra.profiles import ProfileError

    host = host_with({f"{CPU}/possible": None})
    report = run_audit(host, "hft-isolated", variables=["isolated_cpus=2-3,6-7"])
    var = report.variables["isolated_cpus"]
    assert var.value == frozenset({2, 3, 6, 7})
    assert "not checked against the host's CPUs" in var.origin and "possible" in var.origin
    with pytest.raises(ProfileError, match="'N' and 'all' need the host's possible CPUs"):
        run_audit(host, "hft-isolated", variables=["isolated_cpus=2-N"])


# ---- "not on this kernel" needs evidence ----------------------------------------------------

NOT_BUILT = [
    ("cpu.nohz_full", f"{CPU}/nohz_full", "CONFIG_NO_HZ_FULL"),
    ("memory.thp", "/sys/kernel/mm/transparent_hugepage", "CONFIG_TRANSPARENT_HUGEPAGE"),
    ("memory.ksm", "/sys/kernel/mm/ksm", "CONFIG_KSM"),
    ("memory.hugepages", "/sys/kernel/mm/hugepages", "CONFIG_HUGETLBFS"),
    ("memory.numa_balancing", "/proc/sys/kernel/numa_balancing", "CONFIG_NUMA_BALANCING"),
    ("memory.zone_reclaim", "/proc/sys/vm/zone_reclaim_mode", "CONFIG_NUMA"),
    ("kernel.hung_task", "/proc/sys/kernel/hung_task_timeout_secs", "CONFIG_DETECT_HUNG_TASK"),
    ("kernel.mce_ignore_ce", "/sys/devices/system/machinecheck", "CONFIG_X86_MCE"),
]


@pytest.mark.parametrize("check_id,path,option", NOT_BUILT, ids=[c[0] for c in NOT_BUILT])
def test_missing_with_a_partial_parent_is_unknown_not_absent(host_with, check_id, path, option):
    """The file's directory is not in the snapshot at all (a partial capture, no build config):
    nothing shows the kernel lacks the feature, so it is unknown."""
    parent = path.rsplit("/", 1)[0]
    f = status_of(host_with({parent: None}), check_id)
    assert f.status == "unknown", (f.observed, f.message)
    assert "built without" not in f"{f.observed} {f.message}" and f.fix is None


@pytest.mark.parametrize("check_id,path,option", NOT_BUILT, ids=[c[0] for c in NOT_BUILT])
def test_build_config_proves_a_feature_absent(host_with, check_id, path, option):
    f = status_of(host_with({path: None, "/proc/config.gz": None,
                             f"/boot/config-{RELEASE}": f"CONFIG_HZ=1000\n# {option} is not set"}), check_id)
    assert option in f"{f.observed} {f.message}", (f.status, f.observed, f.message)
    assert f.status == ("fail" if check_id == "cpu.nohz_full" else "skip")


def test_build_config_with_the_feature_makes_a_missing_file_unknown(host_with):
    f = status_of(host_with({f"{CPU}/nohz_full": None,
                             f"/boot/config-{RELEASE}": "CONFIG_HZ=1000\nCONFIG_NO_HZ_FULL=y"}), "cpu.nohz_full")
    assert f.status == "unknown"


def test_nohz_full_absent_on_this_kernel_fixes_the_kernel_first(host_with):
    f = status_of(host_with({f"{CPU}/nohz_full": None}), "cpu.nohz_full")
    assert f.status == "fail" and "lists no nohz_full" in f.message
    assert f.fix.startswith("# this kernel has no nohz_full") and "CONFIG_NO_HZ_FULL=y" in f.fix


def test_corpus_procfs_nohz_full_is_unknown():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "procfs"
    if not root.is_dir():
        pytest.skip("no ../shared/corpus")
    report = run_audit(str(root), "hft-isolated")
    for cid in ("cpu.nohz_full", "memory.thp", "memory.ksm", "memory.hugepages", "kernel.hung_task",
                "memory.numa_balancing", "cpu.cstates", "cpu.pm_qos"):
        f = report.finding(cid)
        assert f.status == "unknown", (cid, f.observed, f.message)
        assert "built without" not in f.message, cid


@pytest.mark.parametrize("reason", ["missing", "denied"])
def test_unread_cmdline_is_never_shown_as_absent(host_with, tmp_path, reason):
    import json
    from pathlib import Path

    host = host_with({"/proc/cmdline": None})
    if reason == "denied":
        (Path(host.source) / "hftinfra").mkdir(exist_ok=True)
        (Path(host.source) / "hftinfra" / "unread.json").write_text(
            json.dumps({"/proc/cmdline": {"reason": "denied", "detail": ""}}))
        host = open_host(host.source)
    report = run_audit(host, "hft-isolated")
    for f in report.findings:
        assert "on the command line" not in f.observed or "no " not in f.observed, (f.id, f.observed)
    cs = report.finding("kernel.clocksource")
    assert cs.status == "unknown" and f"tsc= unknown ({reason}: /proc/cmdline)" in cs.observed
    assert f"isolcpus= unknown ({reason}: /proc/cmdline)" in report.finding("cpu.isolated").observed
    assert f"nohz_full= unknown ({reason}: /proc/cmdline)" in report.finding("cpu.nohz_full").observed


def test_rcu_nocbs_carries_an_unread_nohz_full(host_with):
    """nohz_full denied: the CPUs it offloads are unknown, so rcu_nocbs= short of the isolated
    set is unknown, not a fail against an empty nohz_full."""
    import json
    from pathlib import Path

    host = host_with({"/proc/cmdline": CMDLINE.replace("rcu_nocbs=2-3,6-7", "rcu_nocbs=2")})
    (Path(host.source) / "hftinfra").mkdir(exist_ok=True)
    (Path(host.source) / "hftinfra" / "unread.json").write_text(
        json.dumps({f"{CPU}/nohz_full": {"reason": "denied", "detail": ""}}))
    f = status_of(open_host(host.source), "cpu.rcu_nocbs")
    assert f.status == "unknown", (f.observed, f.message)
    assert "nohz_full" in f.message and "denied" in f.message and f.fix is None
    assert "nohz_full unknown (denied" in f.observed


def test_rcu_nocbs_alone_decides_when_it_covers_the_isolated_cpus(host_with):
    import json
    from pathlib import Path

    host = host_with()
    (Path(host.source) / "hftinfra").mkdir(exist_ok=True)
    (Path(host.source) / "hftinfra" / "unread.json").write_text(
        json.dumps({f"{CPU}/nohz_full": {"reason": "denied", "detail": ""}}))
    report = run_audit(open_host(host.source), "hft-isolated")
    assert report.finding("cpu.rcu_nocbs").status == "pass"
    assert report.finding("cpu.nohz_full").status == "unknown"


def test_per_cpu_gic_interrupts_are_not_device_irqs(host_with):
    # arm64: the architected timer and the PMU are GIC PPIs (INTIDs 16-31), banked on every
    # CPU; a device SPI on an isolated CPU still fails.
    table = (
        "           CPU0       CPU1       CPU2       CPU3       CPU4       CPU5       CPU6       CPU7\n"
        " 11:       5000       4000       3000       2000       5000       4000       3000       2000"
        "     GICv3  27 Level     arch_timer\n"
        " 14:          0          0          0          0          0          0          0          0"
        "     GICv3  23 Level     arm-pmu\n"
        " 24:          0      91210          0          0          0          0          0          0"
        "     GICv3  40 Level     eth0\n")
    every = {f"/proc/irq/{n}/{f}": "0-7" for n in (11, 14) for f in ("smp_affinity_list", "effective_affinity_list")}
    f = status_of(host_with({"/proc/interrupts": table, **every}), "irq.affinity")
    assert f.status == "pass" and "1 device IRQs" in f.message
    f = status_of(host_with({"/proc/interrupts": table, **every, "/proc/irq/24/effective_affinity_list": "2"}),
                  "irq.affinity")
    assert f.status == "fail" and "IRQ 24 (eth0)" in f.message and "IRQ 11" not in f.message
