"""Time-sync probes: the clocksource and the kernel log, adjtimex(2) read with modes 0, PTP
hardware clocks and their NICs, chrony and linuxptp. Parsers on real samples (this machine's
dmesg and adjtimex, chronyc 4.3 and ptp4l 3.1 run in network namespaces here), property tests,
tree-built snapshots, the live host against its own reads, and captures that replay equal."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra import snapshot
from hftinfra.host import CALL_PREFIX, CallResult, LiveHost, Reason, Recorder, Unread, open_host
from hftinfra.records import to_jsonable
from hftinfra.timesync import (
    PTP4L_DEFAULTS,
    STA_NANO,
    STA_UNSYNC,
    TIME_STATES,
    TIMEX_LAYOUT,
    TIMEX_SIZE,
    ChronySource,
    ConfLine,
    Setting,
    adjtimex_read,
    getopt,
    log_starts_at_boot,
    parse_chrony_conf,
    parse_chronyc_sources,
    parse_chronyc_sourcestats,
    parse_chronyc_tracking,
    parse_clocksource_log,
    parse_linuxptp_config,
    parse_pmc,
    parse_pmc_answers,
    parse_ptp4l_log,
    parse_refclock,
    parse_timex,
    read_chrony,
    read_clocksource_health,
    read_kernel_time,
    read_linuxptp,
    read_phcs,
    timex_request,
)

LISTED = {"/hftinfra/meta.json": json.dumps({"listed": ["/proc"]})}
CS = "/sys/devices/system/clocksource/clocksource0"


def commands(records: dict[str, object]) -> dict[str, str]:
    """commands.json for a tree: key -> stdout, (returncode, stdout[, stderr]) or a raw dict."""
    out = {}
    for key, rec in records.items():
        if isinstance(rec, dict):
            out[key] = rec
        elif isinstance(rec, tuple):
            out[key] = {"returncode": rec[0], "stdout": rec[1], "stderr": rec[2] if len(rec) > 2 else ""}
        else:
            out[key] = {"returncode": 0, "stdout": rec, "stderr": ""}
    return {"/hftinfra/commands.json": json.dumps(out)}


# ---- 1. clocksource and the kernel log ---------------------------------------------------

# This machine's dmesg (kernel 6.18, a Firecracker guest): kvm-clock first, then the TSC.
DMESG_HERE = """\
[    0.000000] Linux version 6.18.44-fc-v1045 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0
[    0.000002] clocksource: kvm-clock: mask: 0xffffffffffffffff max_cycles: 0x1cd42e4dffb, max_idle_ns: 881590591483 ns
[    0.000051] tsc: Detected 2600.000 MHz processor
[    0.338256] clocksource: Switched to clocksource kvm-clock
[    0.417468] clocksource: tsc: mask: 0xffffffffffffffff max_cycles: 0x257a3c3232d, max_idle_ns: 440795236700 ns
[    0.417497] clocksource: Switched to clocksource tsc
"""
# The watchdog's messages in kernel/time/clocksource.c's and arch/x86/kernel/tsc.c's exact
# formats (a guest whose TSC drifted from kvm-clock), then the newest read-back form and the
# old kernels' form.
DMESG_MARKED = """\
[  812.301114] clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because the skew is too large:
[  812.301120] clocksource:                       'kvm-clock' wd_nsec: 503994726 wd_now: 2e3f4f5a1b wd_last: 2e212b3f95 mask: ffffffffffffffff
[  812.301125] clocksource:                       'tsc' cs_nsec: 488101225 cs_now: 1b9dd0d6e02 cs_last: 1b99b1c1a8c mask: ffffffffffffffff
[  812.301131] clocksource:                       Clocksource 'tsc' skewed -15893501 ns (-15 ms) over watchdog 'kvm-clock' interval of 503994726 ns (503 ms)
[  812.301136] clocksource:                       'tsc' is current clocksource.
[  812.301140] tsc: Marking TSC unstable due to clocksource watchdog
[  812.310212] clocksource: Switched to clocksource kvm-clock
"""
READ_BACK = ("[ 3.1] clocksource: timekeeping watchdog on CPU227: wd-tsc-wd excessive read-back delay of 153560ns "
             "vs. limit of 125000ns, wd-wd read-back delay only 11440ns, attempt 3, marking tsc unstable")
OLD_FORM = "Clocksource tsc unstable (delta = -95563022 ns)"


def test_kernel_log_events_real_and_formats():
    ev = parse_clocksource_log(DMESG_HERE)
    assert [(e.kind, e.clocksource, e.time_s) for e in ev] == [("switched", "kvm-clock", 0.338256),
                                                               ("switched", "tsc", 0.417497)]
    assert not any(e.marks_unstable for e in ev)
    assert log_starts_at_boot(DMESG_HERE) is True
    marked = parse_clocksource_log(DMESG_MARKED)
    assert [(e.kind, e.clocksource, e.cpu) for e in marked] == [("skew", "tsc", 1), ("tsc_unstable", "tsc", None),
                                                               ("switched", "kvm-clock", None)]
    assert marked[1].detail == "clocksource watchdog" and marked[0].time_s == 812.301114
    (rb,) = parse_clocksource_log(READ_BACK)
    assert (rb.kind, rb.clocksource, rb.cpu) == ("read_back", "tsc", 227) and "153560ns" in rb.detail
    (old,) = parse_clocksource_log(OLD_FORM)
    assert (old.kind, old.clocksource, old.time_s, old.detail) == ("unstable", "tsc", None, "delta = -95563022 ns")
    # Other reasons arch/x86 gives (tsc_sync.c) are kept as said.
    (sync,) = parse_clocksource_log("[ 1.2] tsc: Marking TSC unstable due to check_tsc_sync_source failed")
    assert sync.detail == "check_tsc_sync_source failed"
    # Before pr_fmt gave it the "tsc: " prefix (3.x kernels).
    (bare,) = parse_clocksource_log("[ 5.5] Marking TSC unstable due to TSC halts in idle")
    assert (bare.kind, bare.clocksource, bare.detail) == ("tsc_unstable", "tsc", "TSC halts in idle")
    assert log_starts_at_boot("[ 512.1] clocksource: Switched to clocksource tsc") is False
    assert log_starts_at_boot("no stamps here") is None


def clock_tree(cpuinfo_flags: str = "fpu tsc rdtscp constant_tsc nonstop_tsc tsc_known_freq",
               cmdline: str = "ro quiet", dmesg: object = DMESG_HERE) -> dict:
    cpuinfo = "".join(f"processor\t: {n}\nphysical id\t: 0\nflags\t\t: {cpuinfo_flags}\n\n" for n in range(2))
    return {"/proc/cpuinfo": cpuinfo, "/proc/cmdline": cmdline, f"{CS}/current_clocksource": "tsc",
            f"{CS}/available_clocksource": "tsc kvm-clock ", "/sys/devices/system/node/online": "0",
            **commands({"dmesg": dmesg})}


def test_clocksource_health_on_a_tree(tree):
    h = read_clocksource_health(tree(clock_tree(cmdline="ro tsc=reliable clocksource=tsc")))
    assert (h.current, h.available, h.tsc_cmdline, h.clocksource_cmdline) == ("tsc", ("tsc", "kvm-clock"),
                                                                               "reliable", "tsc")
    assert (h.constant_tsc, h.nonstop_tsc, h.tsc_known_freq, h.tsc_reliable) == (True, True, True, False)
    assert h.log_from_boot is True and h.watchdog_marks == () and h.tsc_marked_unstable is False
    assert "dmesg" in h.sources and "/proc/cpuinfo" in h.sources
    assert "Clocksource and TSC" in h._repr_html_()


def test_a_watchdog_mark_is_found_and_a_wrapped_log_proves_nothing(tree, tmp_path):
    h = read_clocksource_health(tree(clock_tree(dmesg=DMESG_HERE + DMESG_MARKED)))
    assert h.tsc_marked_unstable is True and [e.kind for e in h.watchdog_marks] == ["skew", "tsc_unstable"]
    # A log that no longer starts at boot and has no mark: unknown, not "never marked".
    wrapped = read_clocksource_health(open_host(_tree_at(tmp_path / "w", clock_tree(
        dmesg="[ 9000.1] eth0: link up\n"))))
    assert wrapped.log_from_boot is False and wrapped.watchdog_marks == ()
    assert isinstance(wrapped.tsc_marked_unstable, Unread) and "wrapped" in wrapped.tsc_marked_unstable.detail


def _tree_at(root: Path, files: dict) -> Path:
    from conftest import write_tree

    return write_tree(root, files)


def test_an_unreadable_kernel_log_is_unknown_never_no_messages(tmp_path):
    # dmesg_restrict=1 without CAP_SYSLOG, as util-linux dmesg says it.
    denied = clock_tree(dmesg=(1, "", "dmesg: read kernel buffer failed: Operation not permitted\n"))
    h = read_clocksource_health(open_host(_tree_at(tmp_path / "d", denied)))
    assert isinstance(h.kernel_log, Unread) and h.kernel_log.reason is Reason.DENIED
    assert h.watchdog_marks == h.kernel_log and h.tsc_marked_unstable == h.kernel_log
    # A snapshot that did not record dmesg: missing, and said so.
    files = clock_tree()
    files.pop("/hftinfra/commands.json")
    h = read_clocksource_health(open_host(_tree_at(tmp_path / "m", files)))
    assert h.kernel_log.reason is Reason.MISSING and "not recorded" in h.kernel_log.detail


def test_arm64_has_no_tsc_flags_unsupported_not_false(tree):
    arm = {"/proc/cpuinfo": "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n"
                            "CPU implementer\t: 0x41\n\nprocessor\t: 1\nFeatures\t: fp asimd\n",
           "/proc/cmdline": "ro", f"{CS}/current_clocksource": "arch_sys_counter",
           f"{CS}/available_clocksource": "arch_sys_counter ", **commands({"dmesg": "[    0.000000] Booting Linux\n"})}
    h = read_clocksource_health(tree(arm))
    for flag in ("constant_tsc", "nonstop_tsc", "tsc_known_freq", "tsc_reliable"):
        value = getattr(h, flag)
        assert isinstance(value, Unread) and value.reason is Reason.UNSUPPORTED, flag
    assert h.current == "arch_sys_counter" and h.tsc_marked_unstable is False


# ---- 2. adjtimex -------------------------------------------------------------------------

# This machine, no daemon disciplining the clock: adjtimex returned 5 (TIME_ERROR).
TIMEX_HERE = (0, 0, 0, 16000000, 16000000, 0x40, 2, 1, 32768000, 1796220630, 176387, 10000,
              0, 0, 0, 0, 0, 0, 0, 0, 0)
# ptp4l/phc2sys style: STA_PLL | STA_NANO, offset and time in ns, freq -12.5 ppm, TAI 37.
TIMEX_DISCIPLINED = (0, -830, -819200, 1500, 0, 0x2001, 2, 1, 32768000, 1796220630, 176387123, 10000,
                     0, 0, 0, 0, 0, 0, 0, 0, 37)


def test_parse_timex_units_and_status():
    tx = parse_timex(TIMEX_LAYOUT.pack(*TIMEX_HERE))
    assert (tx.nano, tx.synchronized, tx.status_flags) == (False, False, frozenset({"STA_UNSYNC"}))
    assert (tx.maxerror_us, tx.esterror_us, tx.tolerance_ppm, tx.tick_us, tx.precision_us) == (16000000, 16000000,
                                                                                               500.0, 10000, 1)
    assert tx.time_s == pytest.approx(1796220630.176387)
    d = parse_timex(TIMEX_LAYOUT.pack(*TIMEX_DISCIPLINED))
    assert d.nano and d.synchronized and d.status_flags == {"STA_PLL", "STA_NANO"}
    assert (d.offset_ns, d.freq_ppm, d.tai_s) == (-830, -12.5, 37)
    assert d.time_s == pytest.approx(1796220630.176387123)
    micro = parse_timex(TIMEX_LAYOUT.pack(0, -7, *TIMEX_DISCIPLINED[2:5], 0x0001, *TIMEX_DISCIPLINED[6:]))
    assert micro.offset_ns == -7000 and not micro.nano
    with pytest.raises(ValueError):
        parse_timex(b"\0" * 128)  # the 32-bit layout is not this one


def test_the_layout_is_timex_h_on_64_bit():
    # include/uapi/linux/timex.h offsets on a 64-bit kernel: status 40, time 72, tick 88,
    # shift 112, tai 160; 208 bytes in all.
    fields = [0] * 21
    for index, offset in ((5, 40), (9, 72), (11, 88), (14, 112), (20, 160)):
        fields[index] = 0x5A
        assert TIMEX_LAYOUT.pack(*fields)[offset] == 0x5A
        fields[index] = 0
    assert TIMEX_LAYOUT.size == TIMEX_SIZE == 208


def test_adjtimex_is_called_with_modes_zero_and_nothing_else_set():
    seen: list[bytes] = []
    filled = TIMEX_LAYOUT.pack(*TIMEX_DISCIPLINED)

    @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
    def fake_adjtimex(address):
        seen.append(ctypes.string_at(address, TIMEX_SIZE))
        ctypes.memmove(address, filled, TIMEX_SIZE)
        return 0

    assert timex_request() == bytes(TIMEX_SIZE)
    rc, data = adjtimex_read(fake_adjtimex)
    assert rc == 0 and parse_timex(data) == parse_timex(filled)
    (request,) = seen
    assert TIMEX_LAYOUT.unpack(request)[0] == 0  # modes: read only
    assert request == bytes(TIMEX_SIZE)  # and no field carries a value to set


def test_adjtimex_failure_is_an_oserror():
    @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
    def refused(address):
        ctypes.set_errno(1)
        return -1

    with pytest.raises(OSError) as exc:
        adjtimex_read(refused)
    assert exc.value.errno == 1


def test_kernel_time_replays_from_a_snapshot_and_says_why_not(tree, tmp_path):
    key = CALL_PREFIX + "adjtimex"
    mark = {"/proc/cmdline": "ro"}
    good = read_kernel_time(tree({**mark, **commands({key: {"returncode": 5,
                                                            "data": TIMEX_LAYOUT.pack(*TIMEX_HERE).hex()}})}))
    assert good.state == 5 and good.state_name == "TIME_ERROR" and good.synchronized is False
    assert "STA_UNSYNC" in good._repr_html_()
    cases = {
        "missing": ({"/proc/cmdline": "ro"}, Reason.MISSING),
        "denied": ({**mark, **commands({key: {"unavailable": "Operation not permitted", "reason": "denied"}})},
                   Reason.DENIED),
        "damaged": ({**mark, **commands({key: {"returncode": 0, "data": "zz"}})}, Reason.MALFORMED),
    }
    for name, (files, reason) in cases.items():
        kt = read_kernel_time(open_host(_tree_at(tmp_path / name, files)))
        assert isinstance(kt.state, Unread) and kt.state.reason is reason, name
        assert isinstance(kt.timex, Unread)
    short = read_kernel_time(open_host(_tree_at(tmp_path / "short", {**mark, **commands({key: {"returncode": 0,
                                                                                             "data": "00"}})})))
    assert short.state == 0 and short.timex.reason is Reason.MALFORMED


def test_host_call_records_and_replays_generically(tmp_path):
    """host.call: a live host runs the function and records it; a capture writes it into
    commands.json under hftinfra:NAME (bytes as hex); the snapshot replays it; the redacted
    copy keeps it byte for byte; an OSError is a reason, replayed with that reason."""
    rec = Recorder()
    live = LiveHost(recorder=rec)
    got = live.call("demo", lambda: (7, b"\x00\x01\xfe\xff"))
    assert got == CallResult("demo", 7, b"\x00\x01\xfe\xff") and rec.calls["demo"] == got

    def refuse():
        raise PermissionError(1, "Operation not permitted")

    assert live.call("refused", refuse).reason is Reason.DENIED

    def probe(host):
        return host.call("demo", lambda: (7, b"\x00\x01\xfe\xff")), host.call("refused", refuse)

    result = snapshot.capture(live, {"x.demo": probe}, counter_window_s=0)
    assert result.captured.commands["hftinfra:demo"] == {"returncode": 7, "data": "0001feff"}
    assert result.captured.commands["hftinfra:refused"]["reason"] == "denied"
    for kind, captured in (("plain", result.captured), ("redacted", snapshot.Redactor().redact(result.captured))):
        snap = open_host(snapshot.write(captured, tmp_path / kind))
        assert snap.call("demo", lambda: pytest.fail("a snapshot never calls")) == got
        refused = snap.call("refused", refuse)
        assert refused.reason is Reason.DENIED and "not permitted" in refused.detail
        assert snap.call("other", refuse).reason is Reason.MISSING
        # A copy of the snapshot (capture from it) keeps the recorded call as it was.
        copy = snapshot.capture(snap, {"x.demo": probe}, counter_window_s=0).captured
        assert copy.commands["hftinfra:demo"] == {"returncode": 7, "data": "0001feff"}
        assert copy.commands["hftinfra:refused"]["reason"] == "denied"


# ---- 3. PHCs -----------------------------------------------------------------------------

PCI0 = "/sys/devices/pci0000:b0/0000:b0:02.0/0000:b1:00.0"
PCI1 = "/sys/devices/pci0000:b0/0000:b0:02.0/0000:b1:00.1"
# ethtool 6.1 on an E810 port (netlink/tsinfo.c); the second port names the first's clock.
TS_ICE = ("Time stamping parameters for {0}:\nCapabilities:\n\thardware-transmit\n\tsoftware-transmit\n"
          "\thardware-receive\n\tsoftware-receive\n\tsoftware-system-clock\n\thardware-raw-clock\n"
          "PTP Hardware Clock: 0\nHardware Transmit Timestamp Modes:\n\toff\n\ton\n"
          "Hardware Receive Filter Modes:\n\tnone\n\tall\n")
# This machine's virtio_net eth0.
TS_VIRTIO = ("Time stamping parameters for eth0:\nCapabilities:\n\tsoftware-transmit\n\tsoftware-receive\n"
             "\tsoftware-system-clock\nPTP Hardware Clock: none\nHardware Transmit Timestamp Modes: none\n"
             "Hardware Receive Filter Modes: none\n")


def phc_tree() -> dict:
    files = {
        "@/sys/class/ptp/ptp0": "../../devices/pci0000:b0/0000:b0:02.0/0000:b1:00.0/ptp/ptp0",
        f"@{PCI0}/ptp/ptp0/device": "../../../0000:b1:00.0",
        f"{PCI0}/ptp/ptp0/clock_name": "ice-0000:b1:00.0-clk",
        f"{PCI0}/ptp/ptp0/max_adjustment": "100000000",
        f"{PCI0}/ptp/ptp0/n_alarms": "0",
        f"{PCI0}/ptp/ptp0/n_external_timestamps": "3",
        f"{PCI0}/ptp/ptp0/n_periodic_outputs": "4",
        f"{PCI0}/ptp/ptp0/n_programmable_pins": "4",
        f"{PCI0}/ptp/ptp0/pps_available": "1",
        # A hypervisor's clock without a parent device (ptp_kvm registers none).
        "/sys/class/ptp/ptp1/clock_name": "KVM virtual PTP",
        "/sys/class/ptp/ptp1/max_adjustment": "0",
        "/sys/class/ptp/ptp1/max_phase_adjustment": "0",
        "/sys/class/ptp/ptp1/n_alarms": "0",
        "/sys/class/ptp/ptp1/n_external_timestamps": "0",
        "/sys/class/ptp/ptp1/n_periodic_outputs": "0",
        "/sys/class/ptp/ptp1/n_programmable_pins": "0",
        "/sys/class/ptp/ptp1/pps_available": "0",
        "@/sys/class/net/ens1f0": f"../..{PCI0.removeprefix('/sys')}/net/ens1f0",
        "@/sys/class/net/ens1f1": f"../..{PCI1.removeprefix('/sys')}/net/ens1f1",
        "@/sys/class/net/eth0": "../../devices/pci0000:00/0000:00:05.0/virtio1/net/eth0",
        "@/sys/class/net/veth0": "../../devices/virtual/net/veth0",
        f"@{PCI0}/net/ens1f0/device": "../../../0000:b1:00.0",
        f"@{PCI1}/net/ens1f1/device": "../../../0000:b1:00.1",
        f"{PCI1}/vendor": "0x8086",
        "@/sys/devices/pci0000:00/0000:00:05.0/virtio1/net/eth0/device": "../../../virtio1",
        "/sys/devices/virtual/net/veth0/mtu": "1500",
        **commands({"ethtool -T ens1f0": TS_ICE.format("ens1f0"), "ethtool -T ens1f1": TS_ICE.format("ens1f1"),
                    "ethtool -T eth0": TS_VIRTIO}),  # veth0's ethtool -T not recorded
    }
    return files


def test_phcs_named_by_their_nic(tree):
    p = read_phcs(tree(phc_tree()))
    ice, kvm = p.phcs
    assert ice.label == "ens1f0 (ice-0000:b1:00.0-clk)" and ice.path == "/dev/ptp0"
    assert ice.interfaces == ("ens1f0",) and ice.timestamping_interfaces == ("ens1f0", "ens1f1")
    assert (ice.device, ice.max_adjustment_ppb, ice.n_external_timestamps, ice.n_periodic_outputs,
            ice.n_programmable_pins, ice.pps_available, ice.n_alarms) == ("0000:b1:00.0", 100000000, 3, 4, 4, True, 0)
    assert ice.max_phase_adjustment_ns.reason is Reason.MISSING and "6.5" in ice.max_phase_adjustment_ns.detail
    assert kvm.label == "KVM virtual PTP (ptp1, no NIC)" and kvm.device is None and kvm.pps_available is False
    nics = {n.interface: n for n in p.nics}
    assert set(nics) == {"ens1f0", "ens1f1", "eth0", "veth0"}
    assert nics["ens1f0"].sysfs_phcs == (0,) and nics["ens1f1"].sysfs_phcs == ()
    assert nics["ens1f1"].phc_index == 0 and nics["ens1f1"].hardware is True
    assert nics["ens1f0"].rx_filters == ("none", "all") and nics["ens1f0"].tx_types == ("off", "on")
    assert nics["eth0"].phc_index is None and nics["eth0"].hardware is False and nics["eth0"].sysfs_phcs == ()
    assert nics["veth0"].sysfs_phcs is None  # virtual: no device
    assert nics["veth0"].timestamping.reason is Reason.MISSING  # not recorded, and says so
    assert p.of_interface("ens1f1") is ice and p.of_interface("eth0") is None
    html = p._repr_html_()
    assert "ens1f0 (ice-0000:b1:00.0-clk)" in html and "NIC timestamping" in html


def test_no_ptp_class_is_missing_and_an_empty_one_is_no_clock(tree, tmp_path):
    files = {"/sys/class/net/lo/mtu": "65536"}
    assert read_phcs(tree(files)).phcs.reason is Reason.MISSING
    files["/sys/class/ptp/.keep"] = ""
    p = read_phcs(open_host(_tree_at(tmp_path / "e", files)))
    assert p.phcs == () and p.nics == () and "no PTP hardware clock" in p._repr_html_()


# ---- 4. chrony ---------------------------------------------------------------------------

# chronyc 4.3 against chronyd 4.3 clients and a server in network namespaces on this machine.
TRACKING = ("C6120001,198.18.0.1,2,1796220897.777085448,-0.000002660,-0.000001515,0.000000857,-0.084,-0.237,"
            "0.697,0.000008711,0.000003533,1.0,Normal\n")
TRACKING_LOCAL = ("7F7F0101,,1,1796220888.548420918,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,"
                  "0.000000000,0.000000000,0.0,Normal\n")
SOURCES = "^,*,198.18.0.1,1,0,377,1,-0.000000691,-0.000002206,0.000004392\n"
SOURCESTATS = "198.18.0.1,11,6,6,-0.237,0.599,-0.000000192,0.000000762\n"
# A PHC refclock and an unreachable pool server, in client.c's CSV layout.
SOURCES_PHC = ("#,*,PHC0,0,0,377,0,-0.000000012,-0.000000012,0.000000031\n"
               "^,?,203.0.113.7,0,6,0,4294967295,0.000000000,0.000000000,0.000000000\n")


def test_chronyc_tracking_real():
    t = parse_chronyc_tracking(TRACKING)
    assert (t.reference_id, t.reference_name, t.stratum, t.leap_status) == ("C6120001", "198.18.0.1", 2, "Normal")
    assert t.ref_time_s == pytest.approx(1796220897.777085448)
    # chronyc's text form said "0.000002659 seconds fast of NTP time" and "0.084 ppm slow".
    assert t.system_time_offset_s == -0.00000266 and t.frequency_ppm == -0.084
    assert (t.last_offset_s, t.rms_offset_s, t.residual_frequency_ppm, t.skew_ppm) == (-0.000001515, 0.000000857,
                                                                                      -0.237, 0.697)
    assert (t.root_delay_s, t.root_dispersion_s, t.update_interval_s) == (0.000008711, 0.000003533, 1.0)
    local = parse_chronyc_tracking(TRACKING_LOCAL)
    assert local.reference_name == "" and local.reference_id == "7F7F0101" and local.synchronised
    unsynced = TRACKING.replace("Normal", "Not synchronised")
    assert parse_chronyc_tracking(unsynced).synchronised is False
    for bad in ("", "506 Cannot talk to daemon\n", TRACKING + TRACKING, TRACKING.replace("Normal", "Sideways"),
                TRACKING.replace("C6120001", "nothex!")):
        with pytest.raises(ValueError):
            parse_chronyc_tracking(bad)


def test_chronyc_sources_and_sourcestats_real():
    (s,) = parse_chronyc_sources(SOURCES)
    assert (s.mode, s.state, s.name, s.stratum, s.poll_log2, s.reach, s.last_rx_s) == ("^", "*", "198.18.0.1", 1, 0,
                                                                                       255, 1)
    assert (s.adjusted_offset_s, s.measured_offset_s, s.error_s) == (-0.000000691, -0.000002206, 0.000004392)
    assert s.selected and s.mode_name == "server"
    phc, pool = parse_chronyc_sources(SOURCES_PHC)
    assert phc.mode_name == "local reference clock" and phc.name == "PHC0"
    assert pool.last_rx_s is None and pool.reach == 0 and pool.state_name == "unusable"
    assert parse_chronyc_sources("") == ()
    (st_,) = parse_chronyc_sourcestats(SOURCESTATS)
    assert (st_.name, st_.samples, st_.runs, st_.span_s, st_.frequency_ppm, st_.freq_skew_ppm, st_.offset_s,
            st_.std_dev_s) == ("198.18.0.1", 11, 6, 6, -0.237, 0.599, -0.000000192, 0.000000762)
    for bad in ("^,*,x,1,0,389,1,0,0,0", "^*,x,1,0,377,1,0,0,0,0", "a,b,c"):
        with pytest.raises(ValueError):
            parse_chronyc_sources(bad)


names = st.from_regex(r"[A-Za-z0-9.:-]{1,30}", fullmatch=True)
seconds = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False).map(lambda v: round(v, 9))


@given(st.sampled_from("^=#"), st.sampled_from("*+-?x~"), names, st.integers(0, 16), st.integers(-8, 17),
       st.integers(0, 255), st.one_of(st.none(), st.integers(0, 2**32 - 2)), seconds, seconds, seconds)
def test_chronyc_sources_round_trip(mode, state, name, stratum, poll, reach, last, a, m, e):
    # client.c's CSV form: %c,%c,%s,%d,%d,%o,%lu,%.9f,%.9f,%.9f
    line = f"{mode},{state},{name},{stratum},{poll},{reach:o},{0xFFFFFFFF if last is None else last},{a:.9f},{m:.9f},{e:.9f}"
    assert parse_chronyc_sources(line) == (ChronySource(mode, state, name, stratum, poll, reach, last, a, m, e),)


CHRONY_CONF = """\
# Debian's default, plus a PHC
confdir /etc/chrony/conf.d
pool 2.debian.pool.ntp.org iburst
sourcedir /run/chrony-dhcp
sourcedir /etc/chrony/sources.d
keyfile /etc/chrony/chrony.keys
driftfile /var/lib/chrony/chrony.drift
include /etc/chrony/extra/*.inc
refclock PHC /dev/ptp0 poll 0 dpoll -2 offset -37 refid NIC0
hwtimestamp ens1f0
bindcmdaddress /run/chrony-alt/chronyd.sock
bindcmdaddress 127.0.0.1
"""


def chrony_host(running: bool = True) -> dict:
    files = {
        **LISTED, "/proc/1/comm": "init", "/proc/1/cmdline": b"/sbin/init\0",
        "/etc/chrony/chrony.conf": CHRONY_CONF,
        "/etc/chrony/conf.d/10-phc.conf": "% fragment\nRefClock PHC /dev/ptp1:nocrossts:extpps:pin=1 width 0.2 poll 2\n",
        "/etc/chrony/conf.d/README": "refclock SHM 0  # not a .conf: never read\n",
        "/etc/chrony/extra/a.inc": "refclock SOCK /run/chrony.ttyS0.sock refid GPS\n",
        "/etc/chrony/extra/b.txt": "refclock PPS /dev/pps0\n",
    }
    if running:
        files |= {"/proc/812/comm": "chronyd", "/proc/812/cmdline": b"/usr/sbin/chronyd\0-F\0001\0-f\0chrony.conf\0",
                  "@/proc/812/cwd": "/etc/chrony"}
        sock = "/run/chrony-alt/chronyd.sock"
        files |= commands({f"chronyc -h {sock} -c tracking": TRACKING, f"chronyc -h {sock} -c sources": SOURCES_PHC,
                           f"chronyc -h {sock} -c sourcestats": SOURCESTATS})
    else:
        files |= commands({f"chronyc -c {r}": (1, "506 Cannot talk to daemon\n") for r in
                           ("tracking", "sources", "sourcestats")})
    return files


def test_chrony_running_with_includes_and_its_own_socket(tree):
    c = read_chrony(tree(chrony_host()))
    assert c.running is True and c.pids == (812,) and c.pid == 812
    assert c.config_path == "/etc/chrony/chrony.conf"  # -f chrony.conf, relative to its working folder
    cfg = c.config
    assert cfg.files == ("/etc/chrony/chrony.conf", "/etc/chrony/conf.d/10-phc.conf", "/etc/chrony/extra/a.inc")
    assert [(r.driver, r.device, r.refid) for r in cfg.refclocks] == [("PHC", "/dev/ptp1", "PHC0"),
                                                                     ("SOCK", "/run/chrony.ttyS0.sock", "GPS"),
                                                                     ("PHC", "/dev/ptp0", "NIC0")]
    first = cfg.refclocks[0]
    assert first.driver_options == ("nocrossts", "extpps", "pin=1") and first.options == {"width": "0.2", "poll": "2"}
    assert [r.device for r in cfg.phc_refclocks] == ["/dev/ptp1", "/dev/ptp0"]
    assert cfg.refclocks[2].options == {"poll": "0", "dpoll": "-2", "offset": "-37", "refid": "NIC0"}
    assert [h.args for h in cfg.hwtimestamp] == [("ens1f0",)]
    assert cfg.command_socket == "/run/chrony-alt/chronyd.sock" == c.command_socket
    assert c.tracking.reference_name == "198.18.0.1" and [s.name for s in c.sources] == ["PHC0", "203.0.113.7"]
    assert c.sourcestats[0].samples == 11
    assert c.read_from == ("/proc/*/comm", *cfg.files, *(f"chronyc -h /run/chrony-alt/chronyd.sock -c {r}"
                                                          for r in ("tracking", "sources", "sourcestats")))
    assert "PHC /dev/ptp1 refid PHC0" in c._repr_html_()


def test_chrony_not_running_is_unknown_not_empty(tree):
    c = read_chrony(tree(chrony_host(running=False)))
    assert c.running is False and c.pid is None and c.command_socket is None
    assert c.config_path == "/etc/chrony/chrony.conf" and len(c.config.refclocks) == 3
    for report in (c.tracking, c.sources, c.sourcestats):
        assert isinstance(report, Unread) and report.reason is Reason.MISSING and "506" in report.detail
    with pytest.raises(KeyError):
        read_chrony(tree(chrony_host(running=False)), pid=4242)


def test_chrony_edge_cases(tree, tmp_path):
    # Directives on chronyd's command line: the file is ignored (main.c).
    files = {**LISTED, "/proc/9/comm": "chronyd",
             "/proc/9/cmdline": b"chronyd\0-x\0refclock PHC /dev/ptp3 poll -2\0local stratum 10\0",
             "/etc/chrony/chrony.conf": "refclock PHC /dev/ptp9\n"}
    c = read_chrony(tree(files))
    assert c.config_from_cmdline and [r.device for r in c.config.refclocks] == ["/dev/ptp3"]
    assert c.tracking.reason is Reason.MISSING and "not recorded" in c.tracking.detail
    # No /proc list in the snapshot: whether chronyd runs is unknown, not "no".
    bare = read_chrony(open_host(_tree_at(tmp_path / "bare", {"/proc/cmdline": "ro",
                                                              "/etc/chrony.conf": "server x\n"})))
    assert isinstance(bare.running, Unread) and bare.config_path == "/etc/chrony.conf"
    # An include that cannot be read is listed, not dropped; a main file that cannot be read
    # (denied at capture) is the configuration's reason, and the next default is not tried.
    unread = {**LISTED, "/etc/chrony/chrony.conf": "include /etc/chrony/missing.conf\n"}
    cu = read_chrony(open_host(_tree_at(tmp_path / "u", unread)))
    assert cu.config.unread[0][0] == "/etc/chrony/missing.conf" and cu.config.refclocks == ()
    denied = {**LISTED, "/etc/chrony.conf": "refclock PHC /dev/ptp0\n", "/hftinfra/unread.json": json.dumps(
        {"/etc/chrony/chrony.conf": {"reason": "denied", "detail": ""}})}
    cd = read_chrony(open_host(_tree_at(tmp_path / "d", denied)))
    assert cd.config_path == "/etc/chrony/chrony.conf" and cd.config.reason is Reason.DENIED


def test_chrony_conf_comments_and_refclock_parsing():
    lines = parse_chrony_conf("  ! a\n;b\n%c\n#d\n\nREFCLOCK PHC /dev/ptp0 prefer trust poll 1\nserver a iburst")
    assert [line.keyword for line in lines] == ["refclock", "server"] and lines[0].line_number == 6
    r = parse_refclock(lines[0], 2)
    assert r.options == {"prefer": None, "trust": None, "poll": "1"} and r.refid == "PHC2" and r.is_phc
    with pytest.raises(ValueError):
        parse_refclock(ConfLine("refclock", ("PHC",), "f", 1), 0)


# ---- 5. linuxptp -------------------------------------------------------------------------

# ptp4l 3.1, -S -2 -m, a slave over a veth pair in a network namespace here (free_running 1).
PTP4L_OUT = """\
ptp4l[10383.300]: port 1: INITIALIZING to LISTENING on INIT_COMPLETE
ptp4l[10383.300]: port 0: INITIALIZING to LISTENING on INIT_COMPLETE
ptp4l[10389.387]: port 1: new foreign master 8e0529.fffe.ca32b4-1
ptp4l[10393.387]: selected best master clock 8e0529.fffe.ca32b4
ptp4l[10393.387]: port 1: LISTENING to UNCALIBRATED on RS_SLAVE
ptp4l[10396.386]: master offset       -905 s0 freq    -564 path delay      1934
ptp4l[10398.387]: master offset       -324 s0 freq     +45 path delay      1444
"""
# The same with summary_interval 1 and message_tag [v0-gm].
PTP4L_SUMMARY = """\
ptp4l[10417.354]: [v0-gm] port 1: LISTENING to UNCALIBRATED on RS_SLAVE
ptp4l[10422.354]: [v0-gm] rms  427 max  590 freq    +60 +/- 228 delay  2468 +/- 149
ptp4l[10426.355]: [v0-gm] rms  861 max 1215 freq   -354 +/- 295 delay  2542 +/-  54
"""
# phc2sys.c's formats (no PHC here to run it): an offset with delay, one without, a summary,
# and the syslog form through the journal (PID in the brackets, the stamp after).
PHC2SYS_OUT = """\
phc2sys[5374018.735]: CLOCK_REALTIME phc offset        -5 s2 freq      +1 delay    600
phc2sys[5374019.735]: /dev/ptp0 sys offset       312 s1 freq   -2210
phc2sys[5374080.735]: CLOCK_REALTIME rms    9 max   24 freq    -31 +/-  11 delay   598 +/-   4
[ 5374090.201112] host-1 phc2sys[812]: [5374090.200] ens1f0 sys offset         3 s3 freq     -29 delay    601
"""


def test_ptp4l_log_real_lines():
    a, b = parse_ptp4l_log(PTP4L_OUT)
    assert (a.time_s, a.program, a.kind, a.offset_ns, a.state, a.freq_ppb, a.path_delay_ns) == (
        10396.386, "ptp4l", "offset", -905, "s0", -564.0, 1934)
    assert (a.rms_ns, a.max_ns, a.freq_dev_ppb, a.delay_dev_ns) == (None, None, None, None)
    assert b.freq_ppb == 45.0 and b.line.startswith("ptp4l[10398.387]")
    s1, s2 = parse_ptp4l_log(PTP4L_SUMMARY)
    assert (s1.kind, s1.offset_ns, s1.state, s1.rms_ns, s1.max_ns, s1.freq_ppb, s1.freq_dev_ppb, s1.path_delay_ns,
            s1.delay_dev_ns) == ("summary", None, None, 427.0, 590.0, 60.0, 228.0, 2468.0, 149.0)
    assert s2.freq_ppb == -354.0 and s2.delay_dev_ns == 54.0
    off, nodelay, summ, journal = parse_ptp4l_log(PHC2SYS_OUT)
    assert (off.program, off.offset_ns, off.state, off.freq_ppb, off.path_delay_ns) == ("phc2sys", -5, "s2", 1.0, 600)
    assert (nodelay.offset_ns, nodelay.state, nodelay.path_delay_ns) == (312, "s1", None)
    assert (summ.kind, summ.rms_ns, summ.path_delay_ns, summ.delay_dev_ns) == ("summary", 9.0, 598.0, 4.0)
    assert (journal.time_s, journal.state, journal.offset_ns) == (5374090.2, "s3", 3)
    # rsyslog's file: no PID (linuxptp never calls openlog), the stamp after the colon.
    (sys_,) = parse_ptp4l_log("Dec  2 14:31:07 host-1 ptp4l: [10398.387] master offset       -324 s2 freq     +45 "
                              "path delay      1444")
    assert (sys_.time_s, sys_.state, sys_.offset_ns) == (10398.387, "s2", -324)
    # A summary without a measured delay (clock.c's second form).
    (nod,) = parse_ptp4l_log("ptp4l[1.000]: rms   12 max   34 freq    +56 +/-   7")
    assert (nod.path_delay_ns, nod.delay_dev_ns, nod.freq_dev_ppb) == (None, None, 7.0)


PMC_CURRENT = ("sending: GET CURRENT_DATA_SET\n\td69141.fffe.6da744-0 seq 0 RESPONSE MANAGEMENT CURRENT_DATA_SET \n"
               "\t\tstepsRemoved     1\n\t\toffsetFromMaster -324.0\n\t\tmeanPathDelay    1444.0\n")
PMC_TIME_STATUS = ("sending: GET TIME_STATUS_NP\n\td69141.fffe.6da744-0 seq 0 RESPONSE MANAGEMENT TIME_STATUS_NP \n"
                   "\t\tmaster_offset              -189\n\t\tingress_time               1796220849200420556\n"
                   "\t\tcumulativeScaledRateOffset +0.000000000\n\t\tscaledLastGmPhaseChange    0\n"
                   "\t\tgmTimeBaseIndicator        0\n\t\tlastGmPhaseChange          0x0000'0000000000000000.0000\n"
                   "\t\tgmPresent                  true\n\t\tgmIdentity                 8e0529.fffe.ca32b4\n")
PMC_PORT = ("sending: GET PORT_DATA_SET\n\td69141.fffe.6da744-1 seq 0 RESPONSE MANAGEMENT PORT_DATA_SET \n"
            "\t\tportIdentity            d69141.fffe.6da744-1\n\t\tportState               UNCALIBRATED\n"
            "\t\tlogMinDelayReqInterval  0\n\t\tpeerMeanPathDelay       0\n\t\tlogAnnounceInterval     1\n"
            "\t\tannounceReceiptTimeout  3\n\t\tlogSyncInterval         0\n\t\tdelayMechanism          1\n"
            "\t\tlogMinPdelayReqInterval 0\n\t\tversionNumber           2\n")
PMC_PARENT = ("sending: GET PARENT_DATA_SET\n\td69141.fffe.6da744-0 seq 0 RESPONSE MANAGEMENT PARENT_DATA_SET \n"
              "\t\tparentPortIdentity                    8e0529.fffe.ca32b4-1\n\t\tparentStats                           0\n"
              "\t\tobservedParentOffsetScaledLogVariance 0xffff\n"
              "\t\tobservedParentClockPhaseChangeRate    0x7fffffff\n\t\tgrandmasterPriority1                  1\n"
              "\t\tgm.ClockClass                         248\n\t\tgm.ClockAccuracy                      0xfe\n"
              "\t\tgm.OffsetScaledLogVariance            0xffff\n\t\tgrandmasterPriority2                  128\n"
              "\t\tgrandmasterIdentity                   8e0529.fffe.ca32b4\n")


def test_pmc_real_answers():
    assert parse_pmc(PMC_CURRENT) == {"CURRENT_DATA_SET": {"stepsRemoved": "1", "offsetFromMaster": "-324.0",
                                                           "meanPathDelay": "1444.0"}}
    ts = parse_pmc(PMC_TIME_STATUS)["TIME_STATUS_NP"]
    assert ts["master_offset"] == "-189" and ts["gmPresent"] == "true"
    assert ts["lastGmPhaseChange"] == "0x0000'0000000000000000.0000"
    assert parse_pmc(PMC_PORT)["PORT_DATA_SET"]["portState"] == "UNCALIBRATED"
    parent = parse_pmc(PMC_PARENT)["PARENT_DATA_SET"]
    assert parent["gm.ClockClass"] == "248" and parent["grandmasterIdentity"] == "8e0529.fffe.ca32b4"
    # Nobody answered: pmc printed what it sent and exited 0.
    assert parse_pmc("sending: GET CURRENT_DATA_SET\n") == {} and parse_pmc("") == {}
    # A two-port boundary clock answers once per port; an error answer carries no data set.
    two = PMC_PORT + PMC_PORT.split("\n", 1)[1].replace("-1 seq 0", "-2 seq 0").replace("6da744-1\n", "6da744-2\n")
    answers = parse_pmc_answers(two)
    assert [a.port_identity for a in answers] == ["d69141.fffe.6da744-1", "d69141.fffe.6da744-2"]
    assert parse_pmc(two)["PORT_DATA_SET"]["portIdentity"] == "d69141.fffe.6da744-1"
    err = parse_pmc_answers("sending: GET TIME_STATUS_NP\n\t0011.fffe.2233-1 seq 0 RESPONSE MANAGEMENT_ERROR_STATUS \n")
    assert err[0].tlv == "MANAGEMENT_ERROR_STATUS" and err[0].management_id is None
    assert parse_pmc("\t0011.fffe.2233-1 seq 0 RESPONSE MANAGEMENT_ERROR_STATUS \n") == {}


def test_linuxptp_config_by_config_c():
    c = parse_linuxptp_config("# lab\n  [global]\nfree_running 1\nuds_address   /tmp/x.sock\nmessage_tag\n"
                              "[ens1f0]\ndelay_mechanism P2P\n[unicast_master_table]\ntable_id 1\nUDPv4 10.0.0.1\n"
                              "[ GLOBAL ]\n", "/etc/linuxptp/ptp4l.conf")
    assert c.global_settings == {"free_running": "1", "uds_address": "/tmp/x.sock", "message_tag": ""}
    assert c.interfaces == {"ens1f0": {"delay_mechanism": "P2P"}, "GLOBAL": {}}
    with pytest.raises(ValueError):
        parse_linuxptp_config("free_running 1\n")  # "line 1 is not in a section"


def test_getopt_like_gnu():
    assert getopt(["chronyd", "-dx", "-ffoo.conf", "server a", "-u", "_chrony"], "46df:F:hl:L:mnpP:qQrRst:u:Uvx",
                  long_take_value=False) == ((("d", None), ("x", None), ("f", "foo.conf"), ("u", "_chrony")),
                                             ("server a",))
    assert getopt(["phc2sys", "-a", "-rr", "--step_threshold", "1", "--", "-x"], "arc:d:f:s:") == (
        (("a", None), ("r", None), ("r", None), ("step_threshold", "1")), ("-x",))


def linuxptp_host() -> dict:
    cfg = ("[global]\ndomainNumber 24\nuds_address /var/run/ptp4l-a\nfree_running 1\n[ens1f0]\n"
           "delay_mechanism P2P\n[ens1f1]\n")
    sock = "/var/run/ptp4l-a"
    files = {
        **LISTED,
        "/proc/100/comm": "ptp4l", "@/proc/100/cwd": "/etc/linuxptp",
        "/proc/100/cmdline": b"/usr/sbin/ptp4l\0-S\0-2\0-m\0-f\0ptp4l.conf\0-i\0ens1f0\0--domainNumber=0\0",
        "/etc/linuxptp/ptp4l.conf": cfg,
        "/proc/200/comm": "phc2sys", "/proc/200/cmdline": b"phc2sys\0-a\0-rr\0-z\0/var/run/ptp4l-a\0-n\00024\0",
        "/proc/300/comm": "phc2sys", "/proc/300/cmdline": b"phc2sys\0-s\0ens1f0\0-c\0CLOCK_REALTIME\0-O\0000\0-m\0",
        "/proc/400/comm": "bash",
        **commands({
            f"pmc -u -b 0 -s {sock} GET CURRENT_DATA_SET": PMC_CURRENT,
            f"pmc -u -b 0 -s {sock} GET TIME_STATUS_NP": PMC_TIME_STATUS,
            f"pmc -u -b 0 -s {sock} GET PORT_DATA_SET": PMC_PORT,
            f"pmc -u -b 0 -s {sock} GET PARENT_DATA_SET": "sending: GET PARENT_DATA_SET\n",
            "pmc -u -b 0 GET CURRENT_DATA_SET": (255, "", "pmc[1.2]: uds: bind failed: Permission denied\n"),
            "journalctl --no-pager -o short-monotonic -n 500 -t ptp4l -t phc2sys":
                "[ 5374090.201112] host-1 ptp4l[100]: [5374090.200] master offset          7 s2 freq   -1021 "
                "path delay       812\n",
        }),
    }
    return files


def test_linuxptp_processes_settings_and_pmc(tree):
    lp = read_linuxptp(tree(linuxptp_host()))
    assert lp.ptp4l_running is True and lp.phc2sys_running is True
    (p,) = lp.ptp4l
    assert p.pid == 100 and p.config_path == "/etc/linuxptp/ptp4l.conf" and p.interfaces == ("ens1f0", "ens1f1")
    assert p.settings["time_stamping"] == Setting("software", "command line")
    assert p.settings["network_transport"] == Setting("L2", "command line")
    # Command line wins over [global] (config.c: CFG_ITEM_LOCKED)...
    assert p.settings["domainNumber"] == Setting("0", "command line")
    assert p.settings["free_running"] == Setting("1", "[global]")
    assert p.settings["delay_mechanism"] == Setting("E2E", "default")
    # ...and an interface section wins for a port item.
    assert p.setting("delay_mechanism", "ens1f0") == Setting("P2P", "[ens1f0]")
    assert p.setting("delay_mechanism", "ens1f1") == Setting("E2E", "default")
    assert p.uds_address == "/var/run/ptp4l-a"
    auto, manual = lp.phc2sys
    assert auto.automatic and auto.command_line == {"uds_address": "/var/run/ptp4l-a", "domainNumber": "24"}
    assert (manual.automatic, manual.source, manual.sink) == (False, "ens1f0", "CLOCK_REALTIME")
    assert set(lp.pmc) == {PTP4L_DEFAULTS["uds_address"], "/var/run/ptp4l-a"}
    mine = lp.pmc["/var/run/ptp4l-a"]
    assert mine["CURRENT_DATA_SET"][0].fields["stepsRemoved"] == "1"
    assert mine["PORT_DATA_SET"][0].fields["portState"] == "UNCALIBRATED"
    assert mine["PARENT_DATA_SET"].reason is Reason.MISSING and "nobody answered" in mine["PARENT_DATA_SET"].detail
    assert lp.dataset("TIME_STATUS_NP")["gmPresent"] == "true"
    default = lp.pmc[PTP4L_DEFAULTS["uds_address"]]
    assert default["CURRENT_DATA_SET"].reason is Reason.DENIED  # pmc as non-root
    assert default["TIME_STATUS_NP"].reason is Reason.MISSING  # not recorded in this snapshot
    (sample,) = lp.log
    assert (sample.time_s, sample.offset_ns, sample.state, sample.path_delay_ns) == (5374090.2, 7, "s2", 812)
    html = lp._repr_html_()
    assert "ptp4l PID 100" in html and "automatic (-a)" in html


def test_linuxptp_unreadable_pieces_are_unknown(tree, tmp_path):
    files = {**LISTED, "/proc/100/comm": "ptp4l", "/proc/100/cmdline": b"ptp4l\0-f\0rel.conf\0",
             **commands({"pmc -u -b 0 GET CURRENT_DATA_SET": "sending: GET CURRENT_DATA_SET\n"})}
    lp = read_linuxptp(tree(files))
    (p,) = lp.ptp4l
    # Relative -f with no readable working folder: the file, and every setting it could set, unknown.
    assert isinstance(p.config_path, Unread) and "working folder" in p.config_path.detail
    assert isinstance(p.settings["free_running"], Unread) and isinstance(p.uds_address, Unread)
    assert lp.pmc["/var/run/ptp4l"]["CURRENT_DATA_SET"].reason is Reason.MISSING
    assert lp.log.reason is Reason.MISSING
    bare = read_linuxptp(open_host(_tree_at(tmp_path / "b", {"/proc/cmdline": "ro"})))
    assert isinstance(bare.ptp4l, Unread) and isinstance(bare.ptp4l_running, Unread)


JOURNAL = "journalctl --no-pager -o short-monotonic -n 500 -t ptp4l -t phc2sys"
JOURNAL_HINT = ("Hint: You are currently not seeing messages from other users and the system.\n"
                "      Users in groups 'adm', 'systemd-journal' can see all messages.\n"
                "      Pass -q to turn off this notice.\n")


def test_servo_log_a_partial_journal_is_unknown_not_empty(tree):
    # A user outside the journal's groups sees only their own entries, exit 0: "no lines" then
    # says nothing about a ptp4l running as root.
    hidden = read_linuxptp(tree({**LISTED, **commands({JOURNAL: (0, "-- No entries --\n", JOURNAL_HINT)})}))
    assert hidden.log.reason is Reason.DENIED and "own entries" in hidden.log.detail
    # Lines that did show are real, notice or not.
    line = ("[ 5374090.201112] host-1 ptp4l[100]: [5374090.200] master offset 7 s2 freq -1021 path delay 812\n")
    mine = read_linuxptp(tree({**LISTED, **commands({JOURNAL: (0, line, JOURNAL_HINT)})}))
    assert [s.offset_ns for s in mine.log] == [7]
    refused = read_linuxptp(tree({**LISTED, **commands({JOURNAL: (
        1, "", JOURNAL_HINT + "No journal files were opened due to insufficient permissions.\n")})}))
    assert refused.log.reason is Reason.DENIED
    # Root with a journal that holds no servo line: an honest empty answer.
    empty = read_linuxptp(tree({**LISTED, **commands({JOURNAL: "-- No entries --\n"})}))
    assert empty.log == ()


# ---- never crash on arbitrary input ------------------------------------------------------

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)
LINES = st.lists(st.sampled_from(["ptp4l[1.5]: ", "phc2sys[9]: [2.0] ", "master offset ", "-12 ", "s2 ", "freq ",
                                  "+3 ", "path delay ", "rms ", "max ", "+/- ", "delay ", "sys offset ", "\t", "\t\t",
                                  "\n", "seq 0 RESPONSE MANAGEMENT ", "x", "[", "]", ",", "clocksource: ",
                                  "Marking clocksource 'tsc' as unstable", "timekeeping watchdog on CPU1: "]),
                 max_size=60).map("".join)


@settings(max_examples=300)
@given(st.one_of(TEXT, LINES))
def test_parsers_never_crash(text):
    parse_clocksource_log(text)
    log_starts_at_boot(text)
    parse_ptp4l_log(text)
    parse_pmc_answers(text)
    parse_pmc(text)
    parse_chrony_conf(text)
    for parser in (parse_chronyc_tracking, parse_chronyc_sources, parse_chronyc_sourcestats, parse_linuxptp_config):
        try:
            parser(text)
        except ValueError:
            pass


@given(st.binary(max_size=300))
def test_parse_timex_never_crashes(raw):
    try:
        tx = parse_timex(raw)
    except ValueError:
        assert len(raw) != TIMEX_SIZE
    else:
        assert len(raw) == TIMEX_SIZE and isinstance(tx.status_flags, frozenset)


@given(st.lists(st.text(max_size=12), max_size=12))
def test_getopt_never_crashes(words):
    options, operands = getopt(["prog", *words], "ab:c")
    assert all(isinstance(k, str) for k, _ in options)


@given(st.tuples(*[st.integers(0, 2**32 - 1)] + [st.integers(-2**63, 2**63 - 1)] * 4 + [st.integers(-2**31, 2**31 - 1)]
                 + [st.integers(-2**63, 2**63 - 1)] * 8 + [st.integers(-2**31, 2**31 - 1)]
                 + [st.integers(-2**63, 2**63 - 1)] * 5 + [st.integers(-2**31, 2**31 - 1)]))
def test_timex_round_trip(fields):
    tx = parse_timex(TIMEX_LAYOUT.pack(*fields))
    assert TIMEX_LAYOUT.pack(*(getattr(tx, f) for f in tx.__dataclass_fields__)) == TIMEX_LAYOUT.pack(*fields)


# ---- the live host -----------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _comm_pids(name: str) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _read(f"/proc/{entry}/comm") == name:
            out.add(int(entry))
    return out


@pytest.mark.live
def test_live_clocksource_matches_its_own_reads():
    h = read_clocksource_health(open_host(None))
    assert h.current == (_read(f"{CS}/current_clocksource") or h.current)
    text = _read("/proc/cpuinfo") or ""
    flag_lines = [line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")]
    for flag in ("constant_tsc", "nonstop_tsc", "tsc_known_freq", "tsc_reliable"):
        value = getattr(h, flag)
        if not flag_lines:  # arm64, riscv...: no TSC
            assert isinstance(value, Unread) and value.reason is Reason.UNSUPPORTED
        else:
            assert value == all(flag in f for f in flag_lines), flag
    if shutil.which("dmesg") is None:
        assert h.kernel_log.reason is Reason.UNSUPPORTED
        return
    ours = subprocess.run(["dmesg"], capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    if ours.returncode != 0:
        assert isinstance(h.kernel_log, Unread) and h.kernel_log.reason in (Reason.DENIED, Reason.UNSUPPORTED)
        return
    assert isinstance(h.kernel_log, tuple)
    if log_starts_at_boot(ours.stdout) and h.log_from_boot is True:
        lines = {line.strip() for line in ours.stdout.splitlines()}
        assert all(e.line in lines for e in h.kernel_log)
        switches = [e for e in h.kernel_log if e.kind == "switched"]
        if switches:  # the last switch is to the clocksource in effect
            assert switches[-1].clocksource == h.current


@pytest.mark.live
def test_live_adjtimex_reads_and_changes_nothing():
    host = open_host(None)
    first = read_kernel_time(host)
    assert first.state in TIME_STATES, first.state
    tx = first.timex
    assert tx.modes == 0
    # Kernel constants (kernel/time/ntp.c __do_adjtimex): precision 1, tolerance MAXFREQ_SCALED / PPM_SCALE.
    assert tx.precision_us == 1 and tx.tolerance == 500 << 16
    assert abs(tx.time_s - time.time()) < 5  # the struct's time field sits where timex.h puts it
    hz = os.sysconf("SC_CLK_TCK")
    assert 900000 // hz <= tx.tick_us <= 1100000 // hz
    if tx.status & STA_UNSYNC:
        assert first.state == 5  # TIME_ERROR whenever the status is an error status
    assert tx.nano == bool(tx.status & STA_NANO)
    second = read_kernel_time(host).timex
    # Nothing was set: what only a daemon would change reads the same (unless one runs).
    if not _comm_pids("chronyd") and not _comm_pids("ptp4l") and not _comm_pids("phc2sys"):
        assert (second.status, second.freq, second.constant, second.tick_us) == (tx.status, tx.freq, tx.constant,
                                                                                 tx.tick_us)


@pytest.mark.live
def test_live_phcs_match_sysfs():
    p = read_phcs(open_host(None))
    if not os.path.isdir(PTP_CLASS_DIR):
        assert p.phcs.reason is Reason.MISSING
    else:
        names = sorted(n for n in os.listdir(PTP_CLASS_DIR) if re.fullmatch(r"ptp\d+", n))
        assert [f"ptp{x.index}" for x in p.phcs] == sorted(names, key=lambda n: int(n[3:]))
        for x in p.phcs:
            assert x.clock_name == _read(f"{PTP_CLASS_DIR}/ptp{x.index}/clock_name")
    names = sorted(n for n in os.listdir("/sys/class/net") if n not in ("lo", "bonding_masters"))
    assert [n.interface for n in p.nics] == names
    for nic in p.nics:
        if shutil.which("ethtool") is None:
            assert nic.timestamping.reason is Reason.UNSUPPORTED
            continue
        out = subprocess.run(["ethtool", "-T", nic.interface], capture_output=True, text=True,
                             env=dict(os.environ, LC_ALL="C"))
        if out.returncode != 0:
            assert isinstance(nic.timestamping, Unread)
            continue
        m = re.search(r"PTP Hardware Clock: (\S+)", out.stdout)
        if m:
            assert nic.phc_index == (None if m.group(1) == "none" else int(m.group(1)))


PTP_CLASS_DIR = "/sys/class/ptp"


@pytest.mark.live
def test_live_chrony_and_linuxptp_accept_every_honest_answer():
    host = open_host(None)
    before = {n: _comm_pids(n) for n in ("chronyd", "ptp4l", "phc2sys")}
    c = read_chrony(host)
    lp = read_linuxptp(host)
    after = {n: _comm_pids(n) for n in before}
    # A lab's daemon may come or go meanwhile: what ran throughout is found, nothing else is.
    assert before["chronyd"] & after["chronyd"] <= set(c.pids) <= before["chronyd"] | after["chronyd"]
    for name, found in (("ptp4l", lp.ptp4l), ("phc2sys", lp.phc2sys)):
        pids = {p.pid for p in found}
        assert before[name] & after[name] <= pids <= before[name] | after[name], name
    if not shutil.which("chronyc"):
        assert c.tracking.reason is Reason.UNSUPPORTED
    else:
        argv = ["chronyc", *(["-h", c.command_socket] if c.command_socket else []), "-c", "tracking"]
        ours = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
        if ours.returncode != 0 and "Cannot talk to daemon" in ours.stdout + ours.stderr:
            assert isinstance(c.tracking, Unread)
        elif ours.returncode == 0 and not isinstance(c.tracking, Unread):
            assert c.tracking.reference_id == parse_chronyc_tracking(ours.stdout).reference_id
    if isinstance(lp.ptp4l, tuple) and not lp.ptp4l:
        assert lp.pmc == {}  # no ptp4l runs: nobody is asked (each unanswered pmc waits ~100 ms)
    elif shutil.which("pmc"):
        default = lp.pmc[PTP4L_DEFAULTS["uds_address"]]["CURRENT_DATA_SET"]
        ours = subprocess.run(["pmc", "-u", "-b", "0", "GET CURRENT_DATA_SET"], capture_output=True, text=True)
        if ours.returncode == 0 and not parse_pmc(ours.stdout) and not _comm_pids("ptp4l"):
            assert isinstance(default, Unread) and default.reason is Reason.MISSING  # nobody answered: unknown


@pytest.mark.live
@pytest.mark.parametrize("kind", ["dir", "archive"])
def test_live_capture_replays_equal(tmp_path, kind):
    """What each probe saw while the capture recorded it is what the snapshot replays."""
    live = open_host(None)
    probes = {"timesync.clocksource": read_clocksource_health, "timesync.kernel_time": read_kernel_time,
              "timesync.phc": read_phcs, "timesync.chrony": read_chrony, "timesync.linuxptp": read_linuxptp}
    seen: dict[str, object] = {}

    def keep(name, fn):
        return lambda host: seen.setdefault(name, fn(host))

    daemons = ("chronyd", "ptp4l", "phc2sys")
    for _attempt in range(5):
        seen.clear()
        before = {n: _comm_pids(n) for n in daemons}
        result = snapshot.capture(live, {name: keep(name, fn) for name, fn in probes.items()}, counter_window_s=0)
        # A capture keeps a process's files only if it still runs when the capture is written;
        # labs of other tests start and stop daemons: compare a capture no daemon crossed.
        if {n: _comm_pids(n) for n in daemons} == before:
            break
    else:
        pytest.skip("time-sync daemons started or stopped during every capture")
    assert result.probe_errors == {}
    assert "hftinfra:adjtimex" in result.captured.commands
    snap = open_host(snapshot.write(result.captured, tmp_path / ("s.tar.gz" if kind == "archive" else "s")))
    for name, fn in probes.items():
        assert to_jsonable(fn(snap)) == to_jsonable(seen[name]), name


def test_every_probe_is_registered():
    from hftinfra.probes import all_probes

    assert {"timesync.clocksource", "timesync.kernel_time", "timesync.phc", "timesync.chrony",
            "timesync.linuxptp"} <= set(all_probes())


# ---- real daemons in network namespaces (root) ------------------------------------------


def _lab():
    from hftinfra.labs.harness import Lab, LabUnavailable

    lab = Lab("tsync")
    try:
        lab.open()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    return lab


@pytest.mark.root
def test_ptp4l_in_namespaces_is_found_asked_and_its_lines_parse(tmp_path):
    if not shutil.which("ptp4l") or not shutil.which("pmc"):
        pytest.skip("linuxptp is not installed")
    lab = _lab()
    try:
        a, b = lab.netns("gm"), lab.netns("sl")
        pair = lab.veth(a, b)
        tmp = lab.tmpdir
        # free_running 1: neither instance touches CLOCK_REALTIME (FACTS.md).
        (tmp / "gm.cfg").write_text(f"[global]\nfree_running 1\nuds_address {tmp}/gm.sock\npriority1 1\n"
                                    f"[{pair.a.ifname}]\n")
        (tmp / "sl.cfg").write_text(f"[global]\nfree_running 1\nslaveOnly 1\nuds_address {tmp}/sl.sock\n")
        gm = lab.start(a, ["ptp4l", "-S", "-2", "-m", "-f", str(tmp / "gm.cfg")])
        sl = lab.start(b, ["ptp4l", "-S", "-2", "-m", "-f", str(tmp / "sl.cfg"), "-i", pair.b.ifname])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "master offset" not in sl.output():
            time.sleep(0.5)
        lp = read_linuxptp(open_host(None))
        mine = {p.pid: p for p in lp.ptp4l if p.pid in (gm.pid, sl.pid)}
        assert set(mine) == {gm.pid, sl.pid}
        slave = mine[sl.pid]
        assert slave.interfaces == (pair.b.ifname,) and slave.config_path == str(tmp / "sl.cfg")
        assert slave.settings["time_stamping"] == Setting("software", "command line")
        assert slave.settings["free_running"] == Setting("1", "[global]")
        assert slave.uds_address == f"{tmp}/sl.sock"
        current = lp.pmc[f"{tmp}/sl.sock"]["CURRENT_DATA_SET"]
        assert isinstance(current, tuple) and set(current[0].fields) == {"stepsRemoved", "offsetFromMaster",
                                                                          "meanPathDelay"}
        port = lp.pmc[f"{tmp}/sl.sock"]["PORT_DATA_SET"][0].fields
        assert port["portState"] in ("LISTENING", "UNCALIBRATED", "SLAVE")
        samples = parse_ptp4l_log(sl.output())
        assert samples and all(s.kind == "offset" and s.state == "s0" for s in samples)  # free_running: s0
    finally:
        report = lab.close()
    assert report.clean, report.to_text()


@pytest.mark.root
def test_chronyd_in_namespaces_is_found_and_its_csv_parses():
    if not shutil.which("chronyd") or not shutil.which("chronyc"):
        pytest.skip("chrony is not installed")
    import pwd

    try:
        user = pwd.getpwnam("_chrony")
    except KeyError:
        pytest.skip("no _chrony user")
    lab = _lab()
    try:
        srv, cli = lab.netns("srv"), lab.netns("cli")
        pair = lab.veth(srv, cli)
        tmp = lab.tmpdir
        os.chmod(tmp, 0o755)
        for role in ("srv", "cli"):
            (tmp / role).mkdir()
            os.chown(tmp / role, user.pw_uid, user.pw_gid)
            os.chmod(tmp / role, 0o750)

        def conf(role: str, extra: str) -> Path:
            path = tmp / f"{role}.conf"
            path.write_text(f"{extra}pidfile {tmp}/{role}/chronyd.pid\ndriftfile {tmp}/{role}/drift\n"
                            f"bindcmdaddress {tmp}/{role}/chronyd.sock\ncmdport 0\n")
            return path

        lab.start(srv, ["chronyd", "-d", "-x", "-f", str(conf("srv", "local stratum 1\nallow\n"))])
        # No refclock PHC and no named hwtimestamp interface: chronyd exits at start when it
        # cannot open the PHC or enable HW timestamping on that interface (veth has none);
        # "hwtimestamp *" skips interfaces that cannot.
        client = lab.start(cli, ["chronyd", "-d", "-x", "-f", str(conf(
            "cli", f"server {pair.a.ip} iburst minpoll -2 maxpoll 0\nhwtimestamp *\n"))])
        deadline = time.monotonic() + 20
        c = None
        while time.monotonic() < deadline:
            time.sleep(1)
            c = read_chrony(open_host(None), pid=client.pid)
            if isinstance(c.sources, tuple) and any(s.selected for s in c.sources):
                break
        assert c is not None and c.config_path == str(tmp / "cli.conf")
        assert c.command_socket == f"{tmp}/cli/chronyd.sock"
        assert [h.args for h in c.config.hwtimestamp] == [("*",)]
        assert c.tracking.stratum == 2 and c.tracking.reference_name == str(pair.a.ip)
        server = [s for s in c.sources if s.name == str(pair.a.ip)]
        assert server and server[0].selected and server[0].mode == "^"
        assert any(s.name == str(pair.a.ip) for s in c.sourcestats)
    finally:
        report = lab.close()
    assert report.clean, report.to_text()




def test_every_record_renders_in_a_notebook(tmp_path):
    hosts = {"phc": phc_tree(), "chrony": chrony_host(), "chrony-off": chrony_host(running=False),
             "linuxptp": linuxptp_host(), "clock": clock_tree(dmesg=DMESG_HERE + DMESG_MARKED),
             "denied": clock_tree(dmesg=(1, "", "dmesg: read kernel buffer failed: Operation not permitted\n")),
             "bare": {"/proc/cmdline": "ro"}}
    readers = (read_clocksource_health, read_kernel_time, read_phcs, read_chrony, read_linuxptp)
    for name, files in hosts.items():
        host = open_host(_tree_at(tmp_path / name, files))
        for read in readers:
            html = read(host)._repr_html_()
            assert html.startswith("<div>") and "<table>" in html, (name, read.__name__)
    live = open_host(None)
    for read in readers:
        assert "<table>" in read(live)._repr_html_(), read.__name__
    marked = read_clocksource_health(open_host(tmp_path / "clock"))._repr_html_()
    assert "Marking clocksource &#x27;tsc&#x27; as unstable" in marked
