"""Time checks: the clocksource and the TSC, which daemon disciplines the system clock,
the kernel's synchronisation state, PHCs on the trading NICs, and the PTP and chrony
servos' offsets."""

from __future__ import annotations

from hftinfra.checks.base import Check, Obs, Skip, register
from hftinfra.checks.common import trading_nics
from hftinfra.host import Reason, Unread

CLOCKSOURCE_DOC = "https://docs.kernel.org/admin-guide/kernel-parameters.html"
ADJTIMEX_DOC = "https://man7.org/linux/man-pages/man2/adjtimex.2.html"
PTP4L_DOC = "https://linuxptp.nwtime.org/documentation/ptp4l/"
CHRONYC_DOC = "https://chrony-project.org/doc/4.3/chronyc.html"
PHC_DOC = "https://docs.kernel.org/driver-api/ptp.html"


# ---- time.clocksource ----------------------------------------------------------------------

def _clocksource(ctx):
    health = ctx.probe("timesync.clocksource")
    if isinstance(health, Unread):
        return health
    current = health.current
    if isinstance(current, Unread):
        return current
    available = health.available
    note = f"available: {' '.join(available)}" if isinstance(available, tuple) else ""
    forced = health.clocksource_cmdline
    if isinstance(forced, str):
        note += f"; clocksource={forced} on the command line"
    return Obs(current, note=note)


def _clocksource_fix(ctx, e, obs):
    return "\n".join([
        "echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource  # now, if tsc is available",
        "# at boot: clocksource=tsc (and tsc=reliable only where the TSC is invariant: time.tsc_stable)",
    ])


register(Check(
    id="time.clocksource", title="The system clock reads the TSC", area="time",
    summary="The clocksource behind clock_gettime(): the TSC is read in user space through the vDSO in "
            "tens of ns; hpet and acpi_pm need a system call and a slow device read. kernel.clocksource "
            "judges the clocksource watchdog next to it.",
    reads=("/sys/devices/system/clocksource/clocksource0/current_clocksource",
           "/sys/devices/system/clocksource/clocksource0/available_clocksource", "/proc/cmdline"),
    docs=CLOCKSOURCE_DOC, observe=_clocksource, fix=_clocksource_fix,
))


# ---- time.tsc_stable -----------------------------------------------------------------------

def _tsc_stable(ctx):
    health = ctx.probe("timesync.clocksource")
    if isinstance(health, Unread):
        return health
    flags = (health.constant_tsc, health.nonstop_tsc)
    if all(isinstance(f, Unread) and f.reason is Reason.UNSUPPORTED for f in flags):
        return Skip("no TSC on this architecture (no x86 flags in /proc/cpuinfo)")
    marked = health.tsc_marked_unstable
    marks = health.watchdog_marks
    note = ""
    if isinstance(marks, tuple) and marks:
        note = "kernel log: " + "; ".join(m.line[:120] for m in marks[:2])
    return Obs({"constant_tsc": health.constant_tsc, "nonstop_tsc": health.nonstop_tsc,
                "marked_unstable": marked}, note=note)


def _tsc_fix(ctx, e, obs):
    return "\n".join([
        "# constant_tsc and nonstop_tsc are CPU features: without them the TSC drifts with frequency or",
        "# stops in deep C-states, and no setting brings them back (use another clocksource, or other CPUs).",
        "# Marked unstable by the watchdog: find why (dmesg | grep -i clocksource), check BIOS settings",
        "# (TSC sync, C-states), and only on an invariant TSC boot with tsc=reliable or tsc=nowatchdog.",
    ])


register(Check(
    id="time.tsc_stable", title="The TSC is invariant and was never marked unstable", area="time",
    summary="constant_tsc (a fixed rate whatever the frequency) and nonstop_tsc (it runs in deep "
            "C-states) in every CPU's flags, and no 'Marking clocksource tsc as unstable' from the "
            "clocksource watchdog in the kernel log (kernel/time/clocksource.c), which would have moved "
            "the system clock to a slower clocksource.",
    reads=("/proc/cpuinfo", "dmesg"), docs=CLOCKSOURCE_DOC, kind="bool",
    fields={"constant_tsc": "bool", "nonstop_tsc": "bool", "marked_unstable": "bool"},
    observe=_tsc_stable, fix=_tsc_fix,
))


# ---- time.sync_daemon ----------------------------------------------------------------------

def disciplining_daemons(ctx) -> list[str] | Unread:
    """Which running daemons adjust CLOCK_REALTIME: chronyd (unless -x), phc2sys with the
    system clock as its sink, ptp4l on software timestamping (it servoes the system clock
    then) unless free_running."""
    chrony = ctx.probe("timesync.chrony")
    ptp = ctx.probe("timesync.linuxptp")
    for rec, field in ((chrony, "pids"), (ptp, "ptp4l"), (ptp, "phc2sys")):
        if isinstance(rec, Unread):
            return rec
        if isinstance(getattr(rec, field), Unread):
            return getattr(rec, field)
    found = []
    if chrony.pids:
        argv = chrony.argv if isinstance(chrony.argv, tuple) else ()
        if "-x" not in argv:
            found.append(f"chronyd (PID {chrony.pid})")
    for p in ptp.phc2sys:
        argv = p.argv if isinstance(p.argv, tuple) else ()
        if p.automatic:
            # phc2sys(8): with -a the system clock is a sink only when -r is given too.
            if any(a in ("-r", "-rr") for a in argv):
                found.append(f"phc2sys (PID {p.pid}, -a -r)")
        elif p.sink in (None, "CLOCK_REALTIME"):
            found.append(f"phc2sys (PID {p.pid}, -c {p.sink or 'CLOCK_REALTIME'})")
    for p in ptp.ptp4l:
        stamping = p.settings.get("time_stamping")
        free = p.settings.get("free_running")
        software = not isinstance(stamping, Unread) and stamping is not None and stamping.value == "software"
        running_free = not isinstance(free, Unread) and free is not None and free.value == "1"
        if software and not running_free:
            found.append(f"ptp4l (PID {p.pid}, software timestamping: it servoes CLOCK_REALTIME)")
    return found


def _sync_daemon(ctx):
    found = disciplining_daemons(ctx)
    if isinstance(found, Unread):
        return found
    value = "none" if not found else "one" if len(found) == 1 else "several"
    return Obs(value, ", ".join(found) or "no daemon disciplines the system clock",
               note="two daemons steering one clock fight: each undoes the other's corrections" if len(found) > 1
               else "")


def _sync_daemon_fix(ctx, e, obs):
    return "\n".join([
        "# one disciplining daemon: with PTP, phc2sys (from the PTP NIC's PHC) and no chronyd, or chronyd",
        "# with the PHC as a refclock (refclock PHC /dev/ptpN) and no phc2sys (chrony.conf(5)).",
        "systemctl disable --now chronyd     # when phc2sys steers the system clock",
        "# or: systemctl disable --now phc2sys, and refclock PHC /dev/ptp0 poll 0 dpoll -2 in chrony.conf",
    ])


register(Check(
    id="time.sync_daemon", title="Exactly one daemon disciplines the system clock", area="time",
    summary="chronyd (without -x), phc2sys with CLOCK_REALTIME as its sink, and ptp4l on software "
            "timestamping all adjust CLOCK_REALTIME; two at once undo each other's corrections and the "
            "clock wanders between them. None leaves it free-running.",
    reads=("/proc/*/comm", "/proc/PID/cmdline", "ptp4l and phc2sys configuration"), docs=PTP4L_DOC,
    observe=_sync_daemon, fix=_sync_daemon_fix,
))


# ---- time.synchronised ---------------------------------------------------------------------

def _synchronised(ctx):
    kt = ctx.probe("timesync.kernel_time")
    if isinstance(kt, Unread):
        return kt
    if isinstance(kt.timex, Unread):
        return kt.timex
    tx = kt.timex
    return Obs({"unsynchronised": not tx.synchronized, "maxerror_us": tx.maxerror_us},
               f"clock state {kt.state_name}, status {', '.join(sorted(tx.status_flags)) or 'none'}, "
               f"maxerror {tx.maxerror_us} us, esterror {tx.esterror_us} us, TAI offset {tx.tai_s} s")


def _synchronised_fix(ctx, e, obs):
    return "\n".join([
        "# STA_UNSYNC stays set until a daemon disciplines the clock: start the one time.sync_daemon names",
        "# (phc2sys -a -r, or chronyd). A maximum error that keeps growing (500 ppm of each second since the",
        "# last update, adjtimex(2)) means that daemon has stopped updating the kernel.",
    ])


register(Check(
    id="time.synchronised", title="The kernel says the system clock is synchronised", area="time",
    summary="adjtimex(2) read with modes 0: STA_UNSYNC clear (a daemon disciplines the clock) and the "
            "maximum error bounded (the kernel grows it by 500 ppm of each second since a daemon last "
            "set it, and marks the clock unsynchronised at 16 s).",
    reads=("adjtimex(2)",), docs=ADJTIMEX_DOC, kind="str",
    fields={"unsynchronised": "bool", "maxerror_us": "int"}, observe=_synchronised, fix=_synchronised_fix,
))


# ---- time.phc_present ----------------------------------------------------------------------

HARDWARE_CAPS = ("hardware-transmit", "hardware-receive", "hardware-raw-clock")


def _phc_present(ctx):
    nics = trading_nics(ctx)
    if isinstance(nics, str):
        return Skip(nics)
    if isinstance(nics, Unread):
        return nics
    phcs = ctx.probe("timesync.phc")
    if isinstance(phcs, Unread):
        return phcs
    if isinstance(phcs.nics, Unread):
        return phcs.nics
    by_name = {n.interface: n for n in phcs.nics}
    parts, missing = [], []
    for nic in nics:
        ts = by_name.get(nic.name)
        if ts is None or isinstance(ts.timestamping, Unread):
            why = ts.timestamping if ts is not None else None
            if isinstance(why, Unread) and why.reason is not Reason.UNSUPPORTED:
                return why
            parts.append(f"{nic.name}: no timestamping information ({why or 'not read'})")
            missing.append(nic.name)
            continue
        caps = set(ts.timestamping.capabilities)
        lacking = [c for c in HARDWARE_CAPS if c not in caps]
        phc = phcs.of_interface(nic.name)
        if phc is None or lacking:
            parts.append(f"{nic.name}: " + ("no PHC" if phc is None else phc.label)
                         + (f", lacks {', '.join(lacking)}" if lacking else ""))
            missing.append(nic.name)
        else:
            parts.append(f"{nic.name}: {phc.label}, hardware RX and TX timestamps")
    return Obs("all" if not missing else "missing", "; ".join(parts),
               note=f"no hardware-timestamping PHC on {', '.join(missing)}" if missing else "")


def _phc_fix(ctx, e, obs):
    return "\n".join([
        "# hardware timestamps need a NIC whose driver registers a PTP clock (ethtool -T IF: PTP Hardware",
        "# Clock, hardware-transmit, hardware-receive); a virtual NIC or a driver without PTP support has",
        "# none: use a PTP-capable NIC (E810, ConnectX, X710, Solarflare) for the trading and PTP ports.",
    ])


register(Check(
    id="time.phc_present", title="Every trading NIC has a PHC with hardware timestamps", area="time",
    summary="A PTP hardware clock on the NIC (ethtool -T: PTP Hardware Clock, /sys/class/ptp) with "
            "hardware transmit and receive timestamps: what PTP needs for ns-level sync, and what "
            "timestamps packets on the wire rather than in the kernel. Judged on the trading NICs.",
    reads=("ethtool -T IF", "/sys/class/ptp/ptp*", "/sys/class/net/IF/device/ptp"), docs=PHC_DOC,
    observe=_phc_present, fix=_phc_fix,
))


# ---- time.ptp_servo ------------------------------------------------------------------------

def _float(fields: dict, key: str, source: str):
    value = fields.get(key)
    if value is None:
        return Unread(Reason.MISSING, source, f"no {key} in pmc's answer")
    try:
        return float(value)
    except ValueError:
        return Unread(Reason.MALFORMED, source, f"{key} {value!r} is not a number")


def _ptp_servo(ctx):
    ptp = ctx.probe("timesync.linuxptp")
    if isinstance(ptp, Unread):
        return ptp
    if isinstance(ptp.ptp4l, Unread):
        return ptp.ptp4l
    if not ptp.ptp4l:
        return Skip("no ptp4l runs: this host does not take its time from PTP")
    port = ptp.dataset("PORT_DATA_SET")
    current = ptp.dataset("CURRENT_DATA_SET")
    state = port if isinstance(port, Unread) else port.get("portState") or Unread(
        Reason.MISSING, "pmc GET PORT_DATA_SET", "no portState in pmc's answer")
    if isinstance(current, Unread):
        offset = delay = current
    else:
        offset = _float(current, "offsetFromMaster", "pmc GET CURRENT_DATA_SET")
        delay = _float(current, "meanPathDelay", "pmc GET CURRENT_DATA_SET")
    servo: object = Unread(Reason.MISSING, "journalctl -t ptp4l", "no servo line of ptp4l in the log")
    if isinstance(ptp.log, Unread):
        servo = ptp.log
    else:
        last = next((s for s in reversed(ptp.log) if s.program == "ptp4l" and s.kind == "offset" and s.state),
                    None)
        if last is not None:
            servo = last.state
    value = {"port_state": state, "servo_state": servo,
             "offset_ns": offset if isinstance(offset, Unread) else int(round(abs(offset))),
             "path_delay_ns": delay if isinstance(delay, Unread) else int(round(delay))}
    return Obs(value)


def _ptp_fix(ctx, e, obs):
    return "\n".join([
        "# a port that is not SLAVE, or a servo not locked (s2), has no usable master: check the grandmaster",
        "# (pmc -u -b 0 'GET PARENT_DATA_SET'), the network path (PTP-aware switches: boundary or transparent",
        "# clocks), time_stamping hardware and the domain. A large offset with a locked servo: asymmetric",
        "# paths or a switch without PTP support; a large path delay: too many hops to the grandmaster.",
    ])


register(Check(
    id="time.ptp_servo", title="ptp4l is a locked slave with a small offset and path delay", area="time",
    summary="pmc's PORT_DATA_SET (portState SLAVE), the last servo line of ptp4l (s2: locked), and "
            "CURRENT_DATA_SET's offsetFromMaster and meanPathDelay. Skipped where no ptp4l runs.",
    reads=("pmc -u -b 0 'GET PORT_DATA_SET'", "pmc -u -b 0 'GET CURRENT_DATA_SET'", "journalctl -t ptp4l"),
    docs=PTP4L_DOC, kind="str",
    fields={"port_state": "str", "servo_state": "str", "offset_ns": "int", "path_delay_ns": "int"},
    observe=_ptp_servo, fix=_ptp_fix,
))


# ---- time.chrony_offset --------------------------------------------------------------------

def _chrony_offset(ctx):
    chrony = ctx.probe("timesync.chrony")
    if isinstance(chrony, Unread):
        return chrony
    if isinstance(chrony.pids, Unread):
        return chrony.pids
    if not chrony.pids:
        return Skip("chronyd does not run here")
    tr = chrony.tracking
    if isinstance(tr, Unread):
        return tr
    return Obs({"synchronised": tr.synchronised, "offset_ns": int(round(abs(tr.system_time_offset_s) * 1e9)),
                "rms_offset_ns": int(round(tr.rms_offset_s * 1e9))},
               f"reference {tr.reference_name or tr.reference_id} (stratum {tr.stratum}), leap {tr.leap_status}, "
               f"system time {tr.system_time_offset_s * 1e6:+.3f} us, RMS offset {tr.rms_offset_s * 1e6:.3f} us, "
               f"frequency {tr.frequency_ppm:+.3f} ppm")


def _chrony_fix(ctx, e, obs):
    return "\n".join([
        "# an NTP source over the network keeps ms-level offsets: for sub-100-us time use a PTP-disciplined",
        "# PHC as a refclock (refclock PHC /dev/ptpN poll 0 dpoll -2 offset 0) or phc2sys instead,",
        "# hwtimestamp * for NTP with hardware timestamps, and check the sources: chronyc sources -v",
    ])


register(Check(
    id="time.chrony_offset", title="chronyd is synchronised and close to its reference", area="time",
    summary="chronyc -c tracking: a leap status other than 'Not synchronised', and the system clock's "
            "offset from chrony's reference and its RMS offset within the profile's bounds. Skipped "
            "where chronyd does not run.",
    reads=("chronyc -c tracking",), docs=CHRONYC_DOC, kind="str",
    fields={"synchronised": "bool", "offset_ns": "int", "rms_offset_ns": "int"},
    observe=_chrony_offset, fix=_chrony_fix,
))
