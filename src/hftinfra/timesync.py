"""Time synchronisation: the clocksource and the TSC, the kernel's NTP state, PTP hardware
clocks and the NICs that own them, chrony and linuxptp (ptp4l, phc2sys, pmc).

Read through a :class:`~hftinfra.host.Host`, parse with the pure functions below, return
frozen records that name their sources. Nothing here changes the host: adjtimex(2) is called
with ``modes`` 0 only, chronyc and pmc only ask (``tracking``, ``GET ...``; pmc binds a UNIX
socket of its own, ``/var/run/pmc.PID``, for the tenth of a second it runs), and no daemon is
started or signalled. A value that cannot be read is an ``Unread`` with its reason; an empty
answer (pmc when nobody replied) is never taken for a value.

Sources behind the formats read here:
- kernel/time/clocksource.c (``pr_fmt`` "clocksource: "): the watchdog's ``timekeeping
  watchdog on CPU%d: Marking clocksource '%s' as unstable because the skew is too large:``,
  its read-back form ``timekeeping watchdog on CPU%d: wd-%s-wd excessive read-back delay of
  %lldns vs. limit of %ldns, wd-wd read-back delay only %lldns, attempt %d, marking %s
  unstable`` (earlier kernels: ``wd-%s-wd read-back delay of %lldns, attempt %d, marking
  unstable``, and before that the watchdog's name in place of ``wd-%s-wd``), ``Switched to
  clocksource %s``, and in old kernels (2.6, 3.x) ``Clocksource %s unstable (delta = %Ld
  ns)``. arch/x86/kernel/tsc.c (``pr_fmt`` "tsc: ", absent in old kernels): ``Marking TSC
  unstable due to %s`` (``mark_tsc_unstable``, reasons such as ``check_tsc_sync_source
  failed``) and ``Marking TSC unstable due to clocksource watchdog``
  (``tsc_cs_mark_unstable``).
- include/uapi/linux/timex.h: ``struct timex`` (208 bytes on 64-bit), the ``STA_*`` status
  bits and the ``TIME_*`` states adjtimex(2) returns; kernel/time/ntp.c ``__do_adjtimex``
  for the units of a read (``offset``, ``time.tv_usec`` and ``jitter`` in ns when
  ``STA_NANO`` is set, in us otherwise).
- drivers/ptp/ptp_sysfs.c: ``/sys/class/ptp/ptpN/`` ``clock_name`` (``%s``),
  ``max_adjustment`` (ppb), ``n_alarms``, ``n_external_timestamps``,
  ``n_periodic_outputs``, ``n_programmable_pins``, ``pps_available`` (each ``%d``) and
  ``max_phase_adjustment`` (ns, 6.5+); Documentation/ABI/testing/sysfs-ptp.
- chronyc(1) and chrony's client.c ``print_report``: the ``-c`` (CSV) columns of
  ``tracking``, ``sources`` and ``sourcestats``; chrony.conf(5) for ``refclock``,
  ``include``, ``confdir``, ``bindcmdaddress``, ``hwtimestamp``; chrony's main.c for
  chronyd's options.
- ptp4l(8), phc2sys(8), pmc(8) and linuxptp's config.c (configuration file and defaults),
  clock.c and phc2sys.c (servo log lines), print.c (the ``ptp4l[sec.ms]:`` prefix), pmc.c
  (answers).
"""

from __future__ import annotations

import ctypes
import errno
import os
import posixpath
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import NamedTuple

from hftinfra.host import CallResult, CommandResult, Host, Reason, Unread
from hftinfra.irq import parse_proc_cmdline
from hftinfra.kernel import Clocksource, read_clocksource
from hftinfra.net import NET_DIR, SKIPPED, Timestamping, read_ethtool_view
from hftinfra.parsers import parse_int
from hftinfra.probes import probe
from hftinfra.records import html_table, show

PROC = "/proc"
PTP_CLASS = "/sys/class/ptp"
DMESG = ("dmesg",)


# =========================================================================================
# Processes: a /proc scan by command name, as irq.read_irqbalance does it


def _pids_by_name(host: Host, names: Iterable[str]) -> dict[str, tuple[int, ...]] | Unread:
    """PIDs whose ``/proc/PID/comm`` is one of ``names`` (comm holds 15 characters at most)."""
    wanted = set(names)
    listed = host.listdir(PROC)
    if isinstance(listed, Unread):
        return listed
    if not host.keeps_all_folders(PROC):
        # A snapshot whose capture did not list /proc holds some process folders at most.
        return Unread(Reason.MISSING, PROC, "this snapshot did not record the process list")
    found: dict[str, list[int]] = {n: [] for n in wanted}
    for name in listed:
        if not name.isdigit():
            continue
        comm = host.read(f"{PROC}/{name}/comm")
        # A process can exit between the listing and the read: that one is simply gone.
        if isinstance(comm, str) and comm.strip() in wanted and not _exited(host, int(name)):
            found[comm.strip()].append(int(name))
    return {n: tuple(sorted(p)) for n, p in found.items()}


def _exited(host: Host, pid: int) -> bool:
    """A zombie (``Z``) or dead (``X``) process: its comm remains, its command line is empty
    and it runs nothing (proc(5), /proc/PID/stat field 3, after the parenthesised comm)."""
    stat = host.read(f"{PROC}/{pid}/stat")
    if isinstance(stat, Unread):
        return stat.reason is Reason.MISSING and not host.exists(f"{PROC}/{pid}/comm")
    state = stat.rpartition(")")[2].split()[:1]
    return state in (["Z"], ["X"])


def _argv(host: Host, pid: int) -> tuple[str, ...] | Unread:
    path = f"{PROC}/{pid}/cmdline"
    data = host.read_bytes(path)
    if isinstance(data, Unread):
        return data
    argv = parse_proc_cmdline(data)
    # Empty for a process that is exiting (its memory is gone) or a kernel thread.
    return argv or Unread(Reason.MISSING, path, "empty command line (the process is exiting)")


def getopt(argv: Iterable[str], optstring: str, long_take_value: bool = True
           ) -> tuple[tuple[tuple[str, str | None], ...], tuple[str, ...]]:
    """A command line split the way GNU ``getopt_long`` splits it: ``(options, operands)``.

    Short options come from ``optstring`` (``"f:"`` takes an argument, attached ``-ffile`` or
    next ``-f file``; flags may be grouped ``-Sm``). Long options are ``--name=value`` or,
    when ``long_take_value`` (every linuxptp long option takes one), ``--name value``. GNU
    getopt permutes, so operands may sit between options; ``--`` ends the options.

    >>> getopt(["ptp4l", "-Sm", "-f", "/etc/ptp4l.conf", "-iens1f0", "--free_running=1"], "AEP246HSLf:i:p:sl:mqvh")
    ((('S', None), ('m', None), ('f', '/etc/ptp4l.conf'), ('i', 'ens1f0'), ('free_running', '1')), ())
    """
    args = list(argv)[1:]
    takes = {c for i, c in enumerate(optstring) if c != ":" and optstring[i + 1:i + 2] == ":"}
    options: list[tuple[str, str | None]] = []
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            operands.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if eq:
                options.append((name, value))
            elif long_take_value and i < len(args):
                options.append((name, args[i]))
                i += 1
            else:
                options.append((name, None))
            continue
        if not arg.startswith("-") or arg == "-":
            operands.append(arg)
            continue
        j = 1
        while j < len(arg):
            c = arg[j]
            j += 1
            if c in takes:
                if j < len(arg):
                    options.append((c, arg[j:]))
                elif i < len(args):
                    options.append((c, args[i]))
                    i += 1
                else:
                    options.append((c, None))
                break
            options.append((c, None))
    return tuple(options), tuple(operands)


def _resolve_path(host: Host, pid: int, path: str) -> str | Unread:
    """A path as a process gave it: a relative one is relative to its working folder."""
    if path.startswith("/"):
        return posixpath.normpath(path)
    cwd = host.readlink(f"{PROC}/{pid}/cwd")
    if isinstance(cwd, Unread):
        return Unread(cwd.reason, cwd.source, f"relative path {path!r}, and the working folder of PID {pid} "
                                              f"could not be read ({cwd.reason})")
    return posixpath.normpath(posixpath.join(cwd, path))


# =========================================================================================
# 1. Clocksource, TSC and the kernel log

# arch/x86/include/asm/cpufeatures.h, as /proc/cpuinfo names them.
TSC_STABILITY_FLAGS = ("constant_tsc", "nonstop_tsc", "tsc_known_freq", "tsc_reliable")

_DMESG_TIME = re.compile(r"^\s*\[\s*(?P<t>[0-9]+\.[0-9]+)\]\s?")
_WATCHDOG_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("skew", re.compile(r"timekeeping watchdog on CPU(?P<cpu>[0-9]+): Marking clocksource '(?P<cs>[^']*)' "
                        r"as unstable because the skew is too large")),
    ("read_back", re.compile(r"timekeeping watchdog on CPU(?P<cpu>[0-9]+): wd-(?P<cs>\S+?)-wd excessive "
                             r"read-back delay of (?P<detail>.*), marking (?:\S+ )?unstable")),
    ("read_back", re.compile(r"timekeeping watchdog on CPU(?P<cpu>[0-9]+): wd-(?P<cs>\S+?)-wd read-back delay of "
                             r"(?P<detail>.*), marking unstable")),
    # The first read-back form: the watchdog's name (not the clocksource's) before "read-back".
    ("read_back", re.compile(r"timekeeping watchdog on CPU(?P<cpu>[0-9]+): (?P<watchdog>\S+) read-back delay of "
                             r"(?P<detail>.*), marking unstable")),
    # The "tsc: " prefix comes from pr_fmt; old kernels print the message bare.
    ("tsc_unstable", re.compile(r"(?:\btsc: )?\bMarking TSC unstable due to (?P<detail>.+?)\s*$")),
    # Old kernels (no pr_fmt prefix): "Clocksource tsc unstable (delta = -95563022 ns)".
    ("unstable", re.compile(r"\bClocksource (?P<cs>\S+) unstable \((?P<detail>delta = [^)]*)\)")),
    ("switched", re.compile(r"\b(?:Switched to|Switching to) clocksource (?P<cs>\S+)")),
)


@dataclass(frozen=True)
class ClocksourceEvent:
    """One kernel-log line about the clocksource. ``kind``: ``skew`` (the watchdog found the
    clocksource off its watchdog by more than the margin), ``read_back`` (the watchdog could
    not read both clocks close enough together), ``tsc_unstable`` (x86 marked the TSC
    unstable; ``detail`` is why), ``unstable`` (old kernels' watchdog message), ``switched``
    (the kernel changed clocksource). All but ``switched`` mark a clocksource unstable, which
    demotes it for the rest of the boot."""

    kind: str
    clocksource: str | None
    detail: str
    cpu: int | None
    time_s: float | None  # seconds since boot, as dmesg prints it
    line: str

    @property
    def marks_unstable(self) -> bool:
        return self.kind != "switched"


def parse_clocksource_log(text: str) -> tuple[ClocksourceEvent, ...]:
    """The clocksource lines of a kernel log (``dmesg`` output, or a syslog or journal that
    carries kernel lines), by the message formats of kernel/time/clocksource.c and
    arch/x86/kernel/tsc.c quoted in the module docstring.

    Real lines (this machine's dmesg, kernel 6.18, a KVM guest)::

        [    0.338256] clocksource: Switched to clocksource kvm-clock
        [    0.417497] clocksource: Switched to clocksource tsc

    and the watchdog's, as its format strings print them when a guest's TSC drifts from
    kvm-clock::

        [  812.301114] clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because the skew is too large:
        [  812.301140] tsc: Marking TSC unstable due to clocksource watchdog
        [  812.310212] clocksource: Switched to clocksource kvm-clock

    >>> ev = parse_clocksource_log("[ 29.74] clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' "
    ...     "as unstable because the skew is too large:\\n[ 29.75] tsc: Marking TSC unstable due to clocksource watchdog")
    >>> [(e.kind, e.clocksource, e.cpu, e.time_s) for e in ev]
    [('skew', 'tsc', 1, 29.74), ('tsc_unstable', 'tsc', None, 29.75)]
    >>> ev[1].detail
    'clocksource watchdog'
    """
    events: list[ClocksourceEvent] = []
    for line in text.splitlines():
        if "lock" not in line and "TSC" not in line:
            continue  # cheap skip: every pattern holds "clock" or "TSC"
        m_time = _DMESG_TIME.match(line)
        time_s = float(m_time.group("t")) if m_time else None
        for kind, pattern in _WATCHDOG_PATTERNS:
            m = pattern.search(line)
            if not m:
                continue
            groups = m.groupdict()
            cs = groups.get("cs")
            if kind == "tsc_unstable":
                cs = "tsc"
            detail = groups.get("detail") or ""
            if groups.get("watchdog"):
                detail = f"watchdog {groups['watchdog']}: {detail}"
            cpu = int(groups["cpu"]) if groups.get("cpu") else None
            events.append(ClocksourceEvent(kind, cs, detail.strip(), cpu, time_s, line.strip()))
            break
    return tuple(events)


def log_starts_at_boot(text: str) -> bool | None:
    """Whether a dmesg output still holds the first message of the boot (its first stamped
    line is at 0.000000 s, where ``Linux version ...`` is printed): when the ring buffer has
    wrapped, a message from early in the boot may be gone. None when no line is stamped.

    >>> log_starts_at_boot("[    0.000000] Linux version 6.18.0\\n[    0.1] x"), log_starts_at_boot("[ 812.5] x")
    (True, False)
    """
    for line in text.splitlines():
        m = _DMESG_TIME.match(line)
        if m:
            return float(m.group("t")) == 0.0
    return None


def _command_unread(result: CommandResult, what: str) -> Unread:
    key = " ".join(result.argv)
    said = " ".join((result.stderr.strip() + " " + result.stdout.strip()).split())
    detail = f"{what}: exit {result.returncode}" + (f": {said}" if said else "")
    if "Operation not permitted" in said or "Permission denied" in said or "Not authorised" in said:
        return Unread(Reason.DENIED, key, detail)
    return Unread(Reason.UNSUPPORTED, key, detail)


def read_kernel_log(host: Host) -> tuple[str | Unread, str]:
    """The kernel log as ``dmesg`` prints it, and the command's key.

    ``dmesg`` runs through ``host.run``, so a snapshot records and replays it. /dev/kmsg is
    not read directly: it is a character device read one record per read(2), blocking at the
    end unless opened non-blocking, which a file read cannot do and a snapshot (regular files
    only) cannot replay. Refused (``kernel.dmesg_restrict`` 1 and no CAP_SYSLOG: ``read
    kernel buffer failed: Operation not permitted``) is ``denied``: unknown, never "no
    messages"."""
    result = host.run(list(DMESG))
    key = " ".join(DMESG)
    if isinstance(result, Unread):
        return result, key
    if not result.ok:
        return _command_unread(result, "the kernel log could not be read"), key
    return result.stdout, key


@dataclass(frozen=True)
class ClocksourceHealth:
    """The clocksource in effect and what could make it change: kernel.clocksource's record
    (current and available clocksources, TSC flags present on every CPU, ``tsc=`` and
    ``clocksource=`` on the command line), each TSC stability flag on its own, and the kernel
    log's clocksource lines.

    A TSC flag is ``unsupported`` where /proc/cpuinfo has no x86 ``flags`` line (arm64 and
    other architectures have no TSC): unknown, not false. ``log_from_boot`` says whether the
    log still starts at boot; when it does not, a mark from the boot may have scrolled out, so
    ``tsc_marked_unstable`` is then unknown rather than False."""

    clocksource: Clocksource
    constant_tsc: bool | Unread
    nonstop_tsc: bool | Unread
    tsc_known_freq: bool | Unread
    tsc_reliable: bool | Unread
    kernel_log: tuple[ClocksourceEvent, ...] | Unread
    log_from_boot: bool | None | Unread
    sources: tuple[str, ...] = ()

    @property
    def current(self) -> str | Unread:
        return self.clocksource.current

    @property
    def available(self) -> tuple[str, ...] | Unread:
        return self.clocksource.available

    @property
    def tsc_cmdline(self) -> str | None | Unread:
        return self.clocksource.tsc

    @property
    def clocksource_cmdline(self) -> str | None | Unread:
        return self.clocksource.clocksource

    @property
    def watchdog_marks(self) -> tuple[ClocksourceEvent, ...] | Unread:
        if isinstance(self.kernel_log, Unread):
            return self.kernel_log
        return tuple(e for e in self.kernel_log if e.marks_unstable)

    @property
    def tsc_marked_unstable(self) -> bool | Unread:
        marks = self.watchdog_marks
        if isinstance(marks, Unread):
            return marks
        if any(e.clocksource in ("tsc", "tsc-early") for e in marks):
            return True
        if self.log_from_boot is True:
            return False
        if isinstance(self.log_from_boot, Unread):
            return self.log_from_boot
        return Unread(Reason.MISSING, " ".join(DMESG), "the kernel log no longer starts at boot (the ring "
                                                       "buffer wrapped): a mark from the boot may be gone")

    def _repr_html_(self) -> str:
        rows = [["current clocksource", self.current], ["available", " ".join(self.available)
                                                       if isinstance(self.available, tuple) else self.available],
                *([[f, getattr(self, f)] for f in TSC_STABILITY_FLAGS]),
                ["tsc= on the command line", self.tsc_cmdline],
                ["clocksource= on the command line", self.clocksource_cmdline],
                ["TSC marked unstable since boot", self.tsc_marked_unstable]]
        marks = self.watchdog_marks
        if isinstance(marks, tuple):
            rows += [[f"log [{e.time_s}]" if e.time_s is not None else "log", e.line] for e in marks]
        else:
            rows.append(["kernel log", marks])
        return html_table("Clocksource and TSC", ["", "value"], rows)


def _flag_of(flags: frozenset[str] | Unread, name: str) -> bool | Unread:
    return flags if isinstance(flags, Unread) else name in flags


@probe("timesync.clocksource")
def read_clocksource_health(host: Host) -> ClocksourceHealth:
    """kernel.clocksource (reused, not read again differently), the four TSC stability flags,
    and the clocksource lines of ``dmesg``."""
    cs = read_clocksource(host)
    text, key = read_kernel_log(host)
    if isinstance(text, Unread):
        events: tuple[ClocksourceEvent, ...] | Unread = text
        from_boot: bool | None | Unread = text
    else:
        events, from_boot = parse_clocksource_log(text), log_starts_at_boot(text)
    return ClocksourceHealth(
        clocksource=cs,
        **{f: _flag_of(cs.tsc_flags, f) for f in TSC_STABILITY_FLAGS},
        kernel_log=events,
        log_from_boot=from_boot,
        sources=(*cs.sources, key),
    )


# =========================================================================================
# 2. The kernel's NTP state: adjtimex(2) with modes 0

# include/uapi/linux/timex.h, struct timex on a 64-bit kernel (__kernel_long_t is 8 bytes):
# modes (4, then 4 of padding), offset, freq, maxerror, esterror (8 each), status (4 + 4),
# constant, precision, tolerance, time.tv_sec, time.tv_usec, tick, ppsfreq, jitter (8 each),
# shift (4 + 4), stabil, jitcnt, calcnt, errcnt, stbcnt (8 each), tai (4), then eleven
# unnamed 32-bit fields. Offsets: freq 16, status 40, time 72, tick 88, shift 112, tai 160.
TIMEX_SIZE = 208
_TIMEX_FIELDS = "I4x4qi4x8qi4x5qi44x"
TIMEX_LAYOUT = struct.Struct("<" + _TIMEX_FIELDS)  # what a snapshot stores: little-endian
_TIMEX_NATIVE = struct.Struct("=" + _TIMEX_FIELDS)
assert TIMEX_LAYOUT.size == TIMEX_SIZE

# Status bits (timex.h).
STA_BITS = {
    0x0001: "STA_PLL", 0x0002: "STA_PPSFREQ", 0x0004: "STA_PPSTIME", 0x0008: "STA_FLL",
    0x0010: "STA_INS", 0x0020: "STA_DEL", 0x0040: "STA_UNSYNC", 0x0080: "STA_FREQHOLD",
    0x0100: "STA_PPSSIGNAL", 0x0200: "STA_PPSJITTER", 0x0400: "STA_PPSWANDER", 0x0800: "STA_PPSERROR",
    0x1000: "STA_CLOCKERR", 0x2000: "STA_NANO", 0x4000: "STA_MODE", 0x8000: "STA_CLK",
}
STA_UNSYNC = 0x0040
STA_NANO = 0x2000
# Clock states, adjtimex's return value (timex.h; TIME_BAD is TIME_ERROR). __do_adjtimex
# returns TIME_ERROR whenever the status is an error status, STA_UNSYNC among them.
TIME_STATES = {0: "TIME_OK", 1: "TIME_INS", 2: "TIME_DEL", 3: "TIME_OOP", 4: "TIME_WAIT", 5: "TIME_ERROR"}
# Fixed-point ppm: freq, tolerance, ppsfreq and stabil hold ppm * 2**16 (adjtimex(2) NOTES).
PPM_SCALE = 1 << 16


@dataclass(frozen=True)
class Timex:
    """``struct timex`` as adjtimex(2) filled it, each field named as timex.h names it, with a
    unit where the field has one fixed unit. ``offset``, ``time_frac`` and ``jitter`` are in
    nanoseconds when ``STA_NANO`` is set, else microseconds: the ``*_ns`` properties convert.
    ``freq``, ``tolerance``, ``ppsfreq`` and ``stabil`` are ppm scaled by 2**16 (the ``*_ppm``
    properties divide)."""

    modes: int
    offset: int
    freq: int
    maxerror_us: int
    esterror_us: int
    status: int
    constant: int
    precision_us: int
    tolerance: int
    time_sec: int
    time_frac: int
    tick_us: int
    ppsfreq: int
    jitter: int
    shift: int  # PPS interval, log2 seconds
    stabil: int
    jitcnt: int
    calcnt: int
    errcnt: int
    stbcnt: int
    tai_s: int

    @property
    def nano(self) -> bool:
        return bool(self.status & STA_NANO)

    @property
    def status_flags(self) -> frozenset[str]:
        return frozenset(name for bit, name in STA_BITS.items() if self.status & bit)

    @property
    def synchronized(self) -> bool:
        """The kernel's view: STA_UNSYNC cleared (by a daemon disciplining the clock)."""
        return not self.status & STA_UNSYNC

    @property
    def offset_ns(self) -> int:
        return self.offset if self.nano else self.offset * 1000

    @property
    def jitter_ns(self) -> int:
        return self.jitter if self.nano else self.jitter * 1000

    @property
    def time_s(self) -> float:
        return self.time_sec + self.time_frac / (1e9 if self.nano else 1e6)

    @property
    def freq_ppm(self) -> float:
        return self.freq / PPM_SCALE

    @property
    def tolerance_ppm(self) -> float:
        return self.tolerance / PPM_SCALE

    @property
    def ppsfreq_ppm(self) -> float:
        return self.ppsfreq / PPM_SCALE

    @property
    def stabil_ppm(self) -> float:
        return self.stabil / PPM_SCALE


def parse_timex(raw: bytes) -> Timex:
    """The 208 bytes of a 64-bit ``struct timex`` in little-endian order (what
    :func:`adjtimex_read` returns and a snapshot stores) to :class:`Timex`.

    Sample (this machine, kernel 6.18, no daemon disciplining the clock): adjtimex returned
    5 (TIME_ERROR) with ``status 0x40`` (STA_UNSYNC), ``maxerror 16000000``, ``esterror
    16000000``, ``constant 2``, ``precision 1``, ``tolerance 32768000`` (500 ppm << 16),
    ``tick 10000``.

    >>> raw = TIMEX_LAYOUT.pack(0, 0, 0, 16000000, 16000000, 0x40, 2, 1, 32768000, 1796220630, 176387, 10000,
    ...                         0, 0, 0, 0, 0, 0, 0, 0, 0)
    >>> tx = parse_timex(raw)
    >>> tx.synchronized, sorted(tx.status_flags), tx.tolerance_ppm, tx.maxerror_us, tx.tick_us
    (False, ['STA_UNSYNC'], 500.0, 16000000, 10000)
    """
    if len(raw) != TIMEX_SIZE:
        raise ValueError(f"struct timex is {TIMEX_SIZE} bytes on 64-bit Linux, got {len(raw)}")
    return Timex(*TIMEX_LAYOUT.unpack(raw))


def timex_request() -> bytes:
    """What adjtimex(2) is given: a zeroed ``struct timex``, so ``modes`` is 0 and the call
    only reads ("If modes is zero, no settings are adjusted", adjtimex(2))."""
    return bytes(TIMEX_SIZE)


def _libc_adjtimex():
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        fn = libc.adjtimex
    except AttributeError:
        raise OSError(errno.ENOSYS, "the C library has no adjtimex") from None
    fn.argtypes = [ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


def adjtimex_read(adjtimex=None) -> tuple[int, bytes]:
    """Call adjtimex(2) with ``modes`` 0 (:func:`timex_request`) and return its return value
    (a ``TIME_*`` state) and the struct it filled, repacked little-endian. ``adjtimex`` is the
    C function to call with the struct's address (libc's by default). Raises OSError."""
    if ctypes.sizeof(ctypes.c_long) != 8:
        raise OSError(errno.EOPNOTSUPP, "only the 64-bit struct timex layout is read")
    request = timex_request()
    buf = ctypes.create_string_buffer(request, TIMEX_SIZE)
    fn = adjtimex if adjtimex is not None else _libc_adjtimex()
    rc = fn(ctypes.addressof(buf))
    if rc == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(rc), TIMEX_LAYOUT.pack(*_TIMEX_NATIVE.unpack(buf.raw))


ADJTIMEX_CALL = "adjtimex"


@dataclass(frozen=True)
class KernelTime:
    """The kernel's NTP state (adjtimex(2) with modes 0): ``state`` is the call's return
    value, a ``TIME_*`` clock state; ``timex`` the struct it filled."""

    state: int | Unread
    timex: Timex | Unread
    sources: tuple[str, ...] = ("adjtimex(2)",)

    @property
    def state_name(self) -> str | Unread:
        if isinstance(self.state, Unread):
            return self.state
        return TIME_STATES.get(self.state, f"unknown state {self.state}")

    @property
    def synchronized(self) -> bool | Unread:
        return self.timex if isinstance(self.timex, Unread) else self.timex.synchronized

    def _repr_html_(self) -> str:
        tx = self.timex
        rows: list[list[object]] = [["state", self.state_name]]
        if isinstance(tx, Unread):
            rows.append(["struct timex", tx])
        else:
            rows += [["status", f"0x{tx.status:04x} " + " ".join(sorted(tx.status_flags))],
                     ["offset", f"{tx.offset_ns} ns"], ["frequency", f"{tx.freq_ppm:+.3f} ppm"],
                     ["maxerror / esterror", f"{tx.maxerror_us} / {tx.esterror_us} us"],
                     ["time constant", tx.constant], ["tick", f"{tx.tick_us} us"], ["TAI offset", f"{tx.tai_s} s"]]
        return html_table("Kernel time (adjtimex)", ["", "value"], rows)


@probe("timesync.kernel_time")
def read_kernel_time(host: Host) -> KernelTime:
    """adjtimex(2) with modes 0 through ``host.call``, so a snapshot replays it."""
    result = host.call(ADJTIMEX_CALL, adjtimex_read)
    if isinstance(result, Unread):
        return KernelTime(result, result)
    assert isinstance(result, CallResult)
    try:
        timex: Timex | Unread = parse_timex(result.data)
    except ValueError as exc:
        timex = Unread(Reason.MALFORMED, "adjtimex(2)", str(exc))
    return KernelTime(result.returncode, timex)


# =========================================================================================
# 3. PTP hardware clocks and NIC timestamping


def parse_ptp_index(name: str) -> int:
    """``ptp3`` -> 3 (a /sys/class/ptp entry or a /dev node name)."""
    m = re.fullmatch(r"ptp([0-9]+)", name)
    if not m:
        raise ValueError(f"not a PTP clock name: {name!r}")
    return int(m.group(1))


def _parse_flag01(text: str) -> bool:
    value = parse_int(text)
    if value not in (0, 1):
        raise ValueError(f"expected 0 or 1, got {text!r}")
    return bool(value)


@dataclass(frozen=True)
class Phc:
    """One PTP hardware clock (``/sys/class/ptp/ptpN``, drivers/ptp/ptp_sysfs.c).

    ``interfaces`` are the network interfaces whose device holds it
    (``/sys/class/net/IF/device/ptp/ptpN``); ``timestamping_interfaces`` those whose
    ``ethtool -T`` names it as their PTP Hardware Clock (on a multi-port NIC every port can
    name the one clock its first port owns). ``device`` is the parent device (a PCI address),
    None for a clock with no parent (a hypervisor's PTP clock)."""

    index: int
    clock_name: str | Unread
    max_adjustment_ppb: int | Unread
    max_phase_adjustment_ns: int | Unread  # 6.5+
    n_alarms: int | Unread
    n_external_timestamps: int | Unread
    n_periodic_outputs: int | Unread
    n_programmable_pins: int | Unread
    pps_available: bool | Unread
    device: str | None | Unread
    interfaces: tuple[str, ...]
    timestamping_interfaces: tuple[str, ...]
    source: str

    @property
    def path(self) -> str:
        return f"/dev/ptp{self.index}"

    @property
    def label(self) -> str:
        """The clock named by its NIC and clock_name: ``ens1f0 (ice-0000:b1:00.0-clk)``."""
        name = self.clock_name if isinstance(self.clock_name, str) else f"ptp{self.index}"
        nics = self.interfaces or self.timestamping_interfaces
        if nics:
            return f"{nics[0]} ({name})"
        if isinstance(self.clock_name, str):
            return f"{name} (ptp{self.index}, no NIC)"
        return f"ptp{self.index} (no NIC; clock_name {self.clock_name})"


@dataclass(frozen=True)
class NicTimestamping:
    """One interface's timestamping (``ethtool -T``, read by net.py's reader) and the PHCs
    its device holds in sysfs (None: a virtual interface, no device)."""

    interface: str
    timestamping: Timestamping | Unread
    sysfs_phcs: tuple[int, ...] | Unread | None
    source: str

    @property
    def phc_index(self) -> int | None | Unread:
        ts = self.timestamping
        return ts if isinstance(ts, Unread) else ts.hardware_clock

    @property
    def hardware(self) -> bool | Unread:
        ts = self.timestamping
        return ts if isinstance(ts, Unread) else ts.hardware

    @property
    def rx_filters(self) -> tuple[str, ...] | Unread:
        ts = self.timestamping
        return ts if isinstance(ts, Unread) else ts.rx_filters

    @property
    def tx_types(self) -> tuple[str, ...] | Unread:
        ts = self.timestamping
        return ts if isinstance(ts, Unread) else ts.tx_types


@dataclass(frozen=True)
class Phcs:
    """Every PHC and every interface's timestamping. ``phcs`` is ``missing`` when the kernel
    has no PTP clock support (no /sys/class/ptp); an empty tuple when it has and no clock is
    registered."""

    phcs: tuple[Phc, ...] | Unread
    nics: tuple[NicTimestamping, ...] | Unread
    sources: tuple[str, ...] = (f"{PTP_CLASS}/ptp*", f"{NET_DIR}/*/device/ptp", "ethtool -T *")

    def phc(self, index: int) -> Phc:
        for p in self.phcs if isinstance(self.phcs, tuple) else ():
            if p.index == index:
                return p
        raise KeyError(f"no PTP clock ptp{index} on this host")

    def of_interface(self, name: str) -> Phc | None:
        """The PHC an interface timestamps with (ethtool's index, else the one its device
        holds), or None."""
        for nic in self.nics if isinstance(self.nics, tuple) else ():
            if nic.interface != name:
                continue
            index = nic.phc_index
            if not isinstance(index, int) and isinstance(nic.sysfs_phcs, tuple) and nic.sysfs_phcs:
                index = nic.sysfs_phcs[0]
            if isinstance(index, int):
                try:
                    return self.phc(index)
                except KeyError:
                    return None
        return None

    def _repr_html_(self) -> str:
        parts = []
        if isinstance(self.phcs, Unread):
            parts.append(html_table("PTP hardware clocks", ["unknown"], [[self.phcs]]))
        else:
            rows = [[p.label, p.path, p.max_adjustment_ppb, p.pps_available, p.n_external_timestamps,
                     p.n_periodic_outputs, p.n_programmable_pins, ", ".join(p.timestamping_interfaces) or "-"]
                    for p in self.phcs]
            parts.append(html_table("PTP hardware clocks", ["clock", "device", "max adj (ppb)", "PPS", "ext ts",
                                                            "per out", "pins", "used by (ethtool -T)"], rows,
                                    "" if rows else "no PTP hardware clock on this host"))
        if isinstance(self.nics, Unread):
            parts.append(html_table("NIC timestamping", ["unknown"], [[self.nics]]))
        else:
            rows = [[n.interface, n.hardware, n.phc_index, " ".join(n.tx_types) if isinstance(n.tx_types, tuple)
                     else n.tx_types, " ".join(n.rx_filters) if isinstance(n.rx_filters, tuple) else n.rx_filters]
                    for n in self.nics]
            parts.append(html_table("NIC timestamping", ["interface", "hardware", "PHC", "tx types", "rx filters"],
                                    rows))
        return "".join(parts)


def _sysfs_phcs(host: Host, iface: str) -> tuple[int, ...] | Unread | None:
    base = f"{NET_DIR}/{iface}"
    if not host.exists(f"{base}/device"):
        return None
    listed = host.listdir(f"{base}/device/ptp")
    if isinstance(listed, Unread):
        # A device without a PHC has no ptp/ folder.
        return () if listed.reason is Reason.MISSING else listed
    return tuple(sorted(parse_ptp_index(n) for n in listed if re.fullmatch(r"ptp[0-9]+", n)))


def _read_phc(host: Host, index: int, owners: dict[int, list[str]], users: dict[int, list[str]]) -> Phc:
    base = f"{PTP_CLASS}/ptp{index}"

    def num(name: str) -> int | Unread:
        return host.read_value(f"{base}/{name}", parse_int)

    name = host.read(f"{base}/clock_name")
    link = host.readlink(f"{base}/device")
    device: str | None | Unread
    if isinstance(link, str):
        device = posixpath.basename(link.rstrip("/"))
    elif link.reason is Reason.MISSING:
        device = None
    else:
        device = link
    phase = num("max_phase_adjustment")
    if isinstance(phase, Unread) and phase.reason is Reason.MISSING:
        phase = Unread(Reason.MISSING, phase.source, "no max_phase_adjustment (kernels before 6.5)")
    return Phc(
        index=index,
        clock_name=name.strip() if isinstance(name, str) else name,
        max_adjustment_ppb=num("max_adjustment"),
        max_phase_adjustment_ns=phase,
        n_alarms=num("n_alarms"),
        n_external_timestamps=num("n_external_timestamps"),
        n_periodic_outputs=num("n_periodic_outputs"),
        n_programmable_pins=num("n_programmable_pins"),
        pps_available=host.read_value(f"{base}/pps_available", _parse_flag01),
        device=device,
        interfaces=tuple(owners.get(index, ())),
        timestamping_interfaces=tuple(users.get(index, ())),
        source=base,
    )


@probe("timesync.phc")
def read_phcs(host: Host) -> Phcs:
    """Every /sys/class/ptp clock with the NICs that own it (sysfs) and use it (``ethtool
    -T``, through net.py's reader), and every interface's timestamping modes and filters."""
    names = host.listdir(NET_DIR)
    nics: tuple[NicTimestamping, ...] | Unread
    owners: dict[int, list[str]] = {}
    users: dict[int, list[str]] = {}
    if isinstance(names, Unread):
        nics = names
    else:
        found = []
        for iface in names:
            if iface in SKIPPED:
                continue
            ts = read_ethtool_view(host, iface, "timestamping")
            sysfs = _sysfs_phcs(host, iface)
            for n in sysfs if isinstance(sysfs, tuple) else ():
                owners.setdefault(n, []).append(iface)
            if isinstance(ts, Timestamping) and ts.hardware_clock is not None:
                users.setdefault(ts.hardware_clock, []).append(iface)
            found.append(NicTimestamping(iface, ts, sysfs, f"{NET_DIR}/{iface}"))
        nics = tuple(found)
    listed = host.listdir(PTP_CLASS)
    phcs: tuple[Phc, ...] | Unread
    if isinstance(listed, Unread):
        if listed.reason is Reason.MISSING:
            listed = Unread(Reason.MISSING, PTP_CLASS, "no /sys/class/ptp: a kernel without PTP clock support "
                                                       "(CONFIG_PTP_1588_CLOCK)")
        phcs = listed
    else:
        indexes = sorted(parse_ptp_index(n) for n in listed if re.fullmatch(r"ptp[0-9]+", n))
        phcs = tuple(_read_phc(host, i, owners, users) for i in indexes)
    return Phcs(phcs, nics)


# =========================================================================================
# 4. chrony

CHRONYC = "chronyc"
CHRONY_CONFIGS = ("/etc/chrony/chrony.conf", "/etc/chrony.conf")  # Debian/Ubuntu, RHEL/Fedora/SUSE
# chronyd's getopt string (main.c, 4.3); --help and --version take no argument.
CHRONYD_OPTSTRING = "46df:F:hl:L:mnpP:qQrRst:u:Uvx"
# client.c prints a source's last sample age as "-" when it is (uint32_t)-1; -c prints the number.
CHRONY_NEVER = 0xFFFFFFFF
LEAP_STATUSES = ("Normal", "Insert second", "Delete second", "Not synchronised", "Invalid")
SOURCE_MODES = {"^": "server", "=": "peer", "#": "local reference clock"}
SOURCE_STATES = {"*": "selected", "+": "combined", "-": "not combined", "?": "unusable",
                 "x": "may be in error", "~": "too variable"}


def _csv_lines(text: str) -> list[list[str]]:
    return [line.strip().split(",") for line in text.splitlines() if line.strip()]


def _float(value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not a number") from None


def _uint(value: str, what: str) -> int:
    if not value.strip().isdigit():
        raise ValueError(f"{what}: {value!r} is not a whole number")
    return int(value)


@dataclass(frozen=True)
class ChronyTracking:
    """``chronyc -c tracking``. Signs as chrony keeps them: ``system_time_offset_s`` is
    negative when the system clock is ahead of NTP time (chronyc prints "fast"),
    ``frequency_ppm`` negative when the clock runs slow (prints "slow"). ``reference_name``
    is empty for a local reference; ``ref_time_s`` seconds since the epoch (0 before the
    first update)."""

    reference_id: str
    reference_name: str
    stratum: int
    ref_time_s: float
    system_time_offset_s: float
    last_offset_s: float
    rms_offset_s: float
    frequency_ppm: float
    residual_frequency_ppm: float
    skew_ppm: float
    root_delay_s: float
    root_dispersion_s: float
    update_interval_s: float
    leap_status: str

    @property
    def synchronised(self) -> bool:
        return self.leap_status not in ("Not synchronised", "Invalid")


def parse_chronyc_tracking(text: str) -> ChronyTracking:
    """``chronyc -c tracking``: one CSV line, the 14 values of client.c's
    ``process_cmd_tracking`` report in order (Reference ID ``%08lX``, its name, stratum, ref
    time as seconds.nanoseconds, system time, last offset, RMS offset, frequency, residual
    frequency, skew, root delay, root dispersion, update interval, leap status). In CSV mode
    every value is printed raw (``%f``), never with units or "fast"/"slow".

    Real line (chronyc 4.3, a client synced to a stratum-1 server in a network namespace)::

        C6120001,198.18.0.1,2,1796220897.777085448,-0.000002660,-0.000001515,0.000000857,-0.084,-0.237,0.697,0.000008711,0.000003533,1.0,Normal

    >>> t = parse_chronyc_tracking("C6120001,198.18.0.1,2,1796220897.777085448,-0.000002660,-0.000001515,"
    ...                            "0.000000857,-0.084,-0.237,0.697,0.000008711,0.000003533,1.0,Normal\\n")
    >>> t.reference_name, t.stratum, t.system_time_offset_s, t.frequency_ppm, t.synchronised
    ('198.18.0.1', 2, -2.66e-06, -0.084, True)
    """
    rows = _csv_lines(text)
    if len(rows) != 1:
        raise ValueError(f"chronyc -c tracking: expected one CSV line, got {len(rows)}")
    parts = rows[0]
    if len(parts) < 14:
        raise ValueError(f"chronyc -c tracking: expected 14 fields, got {len(parts)}: {','.join(parts)[:80]!r}")
    ref_id, tail = parts[0], parts[-12:]
    name = ",".join(parts[1:-12])
    if not re.fullmatch(r"[0-9A-Fa-f]{8}", ref_id):
        raise ValueError(f"chronyc -c tracking: reference ID {ref_id!r} is not 8 hex digits")
    if tail[11] not in LEAP_STATUSES:
        raise ValueError(f"chronyc -c tracking: unknown leap status {tail[11]!r}")
    f = [_float(v, "chronyc -c tracking") for v in tail[1:11]]
    return ChronyTracking(ref_id.upper(), name, _uint(tail[0], "stratum"), *f, tail[11])


@dataclass(frozen=True)
class ChronySource:
    """One line of ``chronyc -c sources``. ``reach`` is the reachability register (chronyc
    prints it in octal: 377 is 255, the last eight polls answered); ``last_rx_s`` None when
    no sample was ever received; offsets in seconds (``adjusted`` for the clock's later
    corrections, ``measured`` as sampled)."""

    mode: str
    state: str
    name: str
    stratum: int
    poll_log2: int
    reach: int
    last_rx_s: int | None
    adjusted_offset_s: float
    measured_offset_s: float
    error_s: float

    @property
    def mode_name(self) -> str:
        return SOURCE_MODES.get(self.mode, "unknown")

    @property
    def state_name(self) -> str:
        return SOURCE_STATES.get(self.state, "unknown")

    @property
    def selected(self) -> bool:
        return self.state == "*"


def parse_chronyc_sources(text: str) -> tuple[ChronySource, ...]:
    """``chronyc -c sources``: one CSV line per source with client.c's
    ``process_cmd_sources`` columns: mode (``^`` server, ``=`` peer, ``#`` reference clock),
    state (``*`` selected, ``+`` combined, ``-`` not combined, ``?`` unusable, ``x`` may be
    in error, ``~`` too variable), name (a reference clock's refid), stratum, poll (log2 s),
    reach (octal), LastRx (s), adjusted offset, measured offset, error (s). No sources is no
    lines.

    Real line (chronyc 4.3)::

        ^,*,198.18.0.1,1,0,377,1,-0.000000691,-0.000002206,0.000004392

    >>> s, = parse_chronyc_sources("^,*,198.18.0.1,1,0,377,1,-0.000000691,-0.000002206,0.000004392\\n")
    >>> s.mode_name, s.state_name, s.reach, s.poll_log2, s.error_s
    ('server', 'selected', 255, 0, 4.392e-06)
    """
    out = []
    for parts in _csv_lines(text):
        if len(parts) < 10:
            raise ValueError(f"chronyc -c sources: expected 10 fields, got {len(parts)}: {','.join(parts)[:80]!r}")
        mode, state, tail = parts[0], parts[1], parts[-7:]
        if len(mode) != 1 or len(state) != 1:
            raise ValueError(f"chronyc -c sources: mode and state are one character each, got {mode!r}, {state!r}")
        if not re.fullmatch(r"[0-7]+", tail[2]):
            raise ValueError(f"chronyc -c sources: reach {tail[2]!r} is not octal")
        if not re.fullmatch(r"-?[0-9]+", tail[0]) or not re.fullmatch(r"-?[0-9]+", tail[1]):
            raise ValueError("chronyc -c sources: stratum and poll must be numbers")
        last = _uint(tail[3], "LastRx")
        out.append(ChronySource(mode, state, ",".join(parts[2:-7]), int(tail[0]), int(tail[1]), int(tail[2], 8),
                                None if last == CHRONY_NEVER else last,
                                *(_float(v, "chronyc -c sources") for v in tail[4:7])))
    return tuple(out)


@dataclass(frozen=True)
class ChronySourceStats:
    """One line of ``chronyc -c sourcestats``: the regression over a source's samples."""

    name: str
    samples: int
    runs: int
    span_s: int
    frequency_ppm: float
    freq_skew_ppm: float
    offset_s: float
    std_dev_s: float


def parse_chronyc_sourcestats(text: str) -> tuple[ChronySourceStats, ...]:
    """``chronyc -c sourcestats``: one CSV line per source, client.c's
    ``process_cmd_sourcestats`` columns: name, NP (samples), NR (runs of residuals with one
    sign), span (s), frequency (ppm), frequency skew (ppm), offset (s), standard deviation (s).

    Real line (chronyc 4.3)::

        198.18.0.1,11,6,6,-0.237,0.599,-0.000000192,0.000000762

    >>> s, = parse_chronyc_sourcestats("198.18.0.1,11,6,6,-0.237,0.599,-0.000000192,0.000000762")
    >>> s.samples, s.runs, s.span_s, s.freq_skew_ppm, s.std_dev_s
    (11, 6, 6, 0.599, 7.62e-07)
    """
    out = []
    for parts in _csv_lines(text):
        if len(parts) < 8:
            raise ValueError(f"chronyc -c sourcestats: expected 8 fields, got {len(parts)}: {','.join(parts)[:80]!r}")
        tail = parts[-7:]
        out.append(ChronySourceStats(",".join(parts[:-7]), _uint(tail[0], "NP"), _uint(tail[1], "NR"),
                                     _uint(tail[2], "span"),
                                     *(_float(v, "chronyc -c sourcestats") for v in tail[3:7])))
    return tuple(out)


class ConfLine(NamedTuple):
    """One directive of a configuration file: its keyword (lower-case), its words, where."""

    keyword: str
    args: tuple[str, ...]
    file: str
    line_number: int


def parse_chrony_conf(text: str, path: str = "") -> tuple[ConfLine, ...]:
    """chrony.conf(5): one directive a line, keywords not case-sensitive; a line whose first
    non-blank character is ``!``, ``;``, ``#`` or ``%`` is a comment (cmdparse.c
    ``CPS_NormalizeLine``); words are separated by white space.

    >>> parse_chrony_conf("# comment\\nrefclock PHC /dev/ptp0 poll 0 dpoll -2 offset 0\\n  ; x\\nMakeStep 1 3")
    (ConfLine(keyword='refclock', args=('PHC', '/dev/ptp0', 'poll', '0', 'dpoll', '-2', 'offset', '0'), file='', line_number=2), ConfLine(keyword='makestep', args=('1', '3'), file='', line_number=4))
    """
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0][0] in "!;#%":
            continue
        out.append(ConfLine(words[0].lower(), tuple(words[1:]), path, number))
    return tuple(out)


# Refclock options that take no value (conf.c parse_refclock, 4.3); every other takes one.
REFCLOCK_FLAGS = frozenset({"local", "pps", "tai", "noselect", "prefer", "trust", "require"})


@dataclass(frozen=True)
class ChronyRefclock:
    """A ``refclock DRIVER PARAMETER[:OPTION]... [OPTION]...`` directive. For the PHC driver
    the parameter is the device (``/dev/ptp0``) and the driver options ``nocrossts``,
    ``extpps``, ``pin=N``, ``channel=N``, ``clear``. ``refid`` is the ``refid`` option or
    chrony's default, the driver's first three letters and the refclock's number."""

    driver: str
    device: str
    driver_options: tuple[str, ...]
    options: dict[str, str | None]
    refid: str
    file: str
    line_number: int

    @property
    def is_phc(self) -> bool:
        return self.driver.upper() == "PHC"


def parse_refclock(line: ConfLine, number: int) -> ChronyRefclock:
    """One refclock directive (``number``: its place among the refclocks, from 0).

    >>> r = parse_refclock(ConfLine("refclock", ("PHC", "/dev/ptp1:nocrossts", "poll", "3", "pps"), "c", 7), 0)
    >>> r.device, r.driver_options, r.options, r.refid
    ('/dev/ptp1', ('nocrossts',), {'poll': '3', 'pps': None}, 'PHC0')
    """
    if len(line.args) < 2:
        raise ValueError(f"{line.file}:{line.line_number}: refclock needs a driver and a parameter")
    driver, parameter, words = line.args[0], line.args[1], list(line.args[2:])
    device, *driver_options = parameter.split(":")
    options: dict[str, str | None] = {}
    while words:
        word = words.pop(0)
        key = word.lower()
        if key in REFCLOCK_FLAGS or not words:
            options[key] = None
        else:
            options[key] = words.pop(0)
    refid = options.get("refid") or f"{driver[:3]}{number}"
    return ChronyRefclock(driver, device, tuple(driver_options), options, refid, line.file, line.line_number)


@dataclass(frozen=True)
class ChronyConfig:
    """chronyd's configuration as read: every file, following ``include`` (a wildcard in the
    last path component only) and ``confdir`` (``*.conf`` in each folder, in file-name order,
    the first folder's file winning a name that several hold), and what it says about clocks.
    ``sourcedir`` files hold only NTP sources (server, pool, peer), so they are not read.
    ``unread`` names included files or folders that could not be read."""

    files: tuple[str, ...]
    refclocks: tuple[ChronyRefclock, ...]
    hwtimestamp: tuple[ConfLine, ...]
    bindcmdaddress: tuple[str, ...]
    unread: tuple[tuple[str, Unread], ...] = ()

    @property
    def phc_refclocks(self) -> tuple[ChronyRefclock, ...]:
        return tuple(r for r in self.refclocks if r.is_phc)

    @property
    def command_socket(self) -> str | None:
        """A ``bindcmdaddress`` that is a path: chronyd's command socket moved there."""
        paths = [a for a in self.bindcmdaddress if a.startswith("/")]
        return paths[-1] if paths else None


_INCLUDE_DEPTH = 10


def _glob(host: Host, pattern: str) -> list[str] | Unread:
    folder, base = posixpath.split(pattern)
    if not any(c in base for c in "*?["):
        return [pattern]
    names = host.listdir(folder or "/")
    if isinstance(names, Unread):
        return names
    return [posixpath.join(folder, n) for n in sorted(names) if fnmatchcase(n, base)]


def _read_chrony_lines(host: Host, path: str, depth: int, files: list[str],
                       unread: list[tuple[str, Unread]]) -> list[ConfLine]:
    text = host.read(path)
    if isinstance(text, Unread):
        unread.append((path, text))
        return []
    files.append(path)
    out: list[ConfLine] = []
    for line in parse_chrony_conf(text, path):
        if line.keyword == "include" and line.args and depth < _INCLUDE_DEPTH:
            found = _glob(host, line.args[0])
            if isinstance(found, Unread):
                unread.append((line.args[0], found))
                continue
            for p in found:
                out += _read_chrony_lines(host, p, depth + 1, files, unread)
        elif line.keyword == "confdir" and depth < _INCLUDE_DEPTH:
            chosen: dict[str, str] = {}
            for folder in line.args:
                names = host.listdir(folder)
                if isinstance(names, Unread):
                    unread.append((folder, names))
                    continue
                for n in names:
                    if n.endswith(".conf"):
                        chosen.setdefault(n, posixpath.join(folder, n))
            for n in sorted(chosen):
                out += _read_chrony_lines(host, chosen[n], depth + 1, files, unread)
        else:
            out.append(line)
    return out


def chrony_config_from_lines(lines: Iterable[ConfLine], files: tuple[str, ...] = (),
                             unread: tuple[tuple[str, Unread], ...] = ()) -> ChronyConfig:
    lines = list(lines)
    refclocks = []
    for line in lines:
        if line.keyword == "refclock":
            refclocks.append(parse_refclock(line, len(refclocks)))
    return ChronyConfig(
        files=files,
        refclocks=tuple(refclocks),
        hwtimestamp=tuple(line for line in lines if line.keyword == "hwtimestamp"),
        bindcmdaddress=tuple(line.args[0] for line in lines if line.keyword == "bindcmdaddress" and line.args),
        unread=unread,
    )


def read_chrony_config(host: Host, path: str) -> ChronyConfig | Unread:
    files: list[str] = []
    unread: list[tuple[str, Unread]] = []
    try:
        lines = _read_chrony_lines(host, path, 0, files, unread)
    except ValueError as exc:
        return Unread(Reason.MALFORMED, path, str(exc))
    if not files:  # the main file itself could not be read
        return unread[0][1] if unread else Unread(Reason.MISSING, path)
    try:
        return chrony_config_from_lines(lines, tuple(files), tuple(unread))
    except ValueError as exc:
        return Unread(Reason.MALFORMED, path, str(exc))


@dataclass(frozen=True)
class Chrony:
    """chronyd: running or not (a /proc scan), its configuration, and chronyc's reports.
    ``config_path`` is chronyd's ``-f`` file, else the distribution's default; a chronyd
    started with directives on its command line ignores its file (``config_from_cmdline``).
    ``command_socket`` is the ``-h`` chronyc was given (from ``bindcmdaddress``), None for
    chronyc's defaults."""

    pids: tuple[int, ...] | Unread
    pid: int | None  # the chronyd described
    argv: tuple[str, ...] | Unread | None
    config_path: str | Unread | None
    config: ChronyConfig | Unread
    config_from_cmdline: bool
    command_socket: str | None
    tracking: ChronyTracking | Unread
    sources: tuple[ChronySource, ...] | Unread
    sourcestats: tuple[ChronySourceStats, ...] | Unread
    read_from: tuple[str, ...] = ()  # the record's sources ("sources" are chrony's time sources here)

    @property
    def running(self) -> bool | Unread:
        return self.pids if isinstance(self.pids, Unread) else bool(self.pids)

    def _repr_html_(self) -> str:
        running = self.running
        rows: list[list[object]] = [
            ["chronyd running", f"yes (PID {', '.join(map(str, self.pids))})"
             if running is True and isinstance(self.pids, tuple) else running],
            ["configuration", self.config_path],
        ]
        cfg = self.config
        if isinstance(cfg, ChronyConfig):
            rows += [["refclock", f"{r.driver} {r.device} refid {r.refid} ({r.file}:{r.line_number})"]
                     for r in cfg.refclocks]
            rows += [["hwtimestamp", " ".join(h.args)] for h in cfg.hwtimestamp]
        else:
            rows.append(["configuration", cfg])
        t = self.tracking
        if isinstance(t, ChronyTracking):
            rows += [["reference", f"{t.reference_id} ({t.reference_name}), stratum {t.stratum}"],
                     ["system time offset", f"{t.system_time_offset_s:+.9f} s"],
                     ["frequency", f"{t.frequency_ppm:+.3f} ppm"], ["leap status", t.leap_status]]
        else:
            rows.append(["tracking", t])
        if isinstance(self.sources, tuple):
            rows += [[f"source {s.mode}{s.state}", f"{s.name}: {s.state_name}, reach {s.reach:o}, "
                      f"offset {s.adjusted_offset_s:+.9f} s +/- {s.error_s:.9f} s"] for s in self.sources]
        else:
            rows.append(["sources", self.sources])
        return html_table("chrony", ["", "value"], rows)


def _chronyc(host: Host, socket: str | None, report: str, parse):
    argv = [CHRONYC, *(["-h", socket] if socket else []), "-c", report]
    key = " ".join(argv)
    result = host.run(argv)
    if isinstance(result, Unread):
        return result, key
    if not result.ok:
        said = " ".join((result.stdout + " " + result.stderr).split())
        if "Cannot talk to daemon" in said:
            return Unread(Reason.MISSING, key, f"no chronyd answered ({said})"), key
        return _command_unread(result, "chronyc failed"), key
    try:
        return parse(result.stdout), key
    except ValueError as exc:
        return Unread(Reason.MALFORMED, key, str(exc)), key


@probe("timesync.chrony")
def read_chrony(host: Host, pid: int | None = None) -> Chrony:
    """chronyd's process, configuration (refclock PHC lines and the rest) and ``chronyc -c
    tracking|sources|sourcestats``. The chronyd described is ``pid`` when given (it must be
    one of the chronyd processes), else the first found (the lowest PID)."""
    pids_by = _pids_by_name(host, ["chronyd"])
    pids = pids_by if isinstance(pids_by, Unread) else pids_by["chronyd"]
    argv: tuple[str, ...] | Unread | None = None
    config_path: str | Unread | None = None
    from_cmdline = False
    directives: tuple[str, ...] = ()
    if pid is not None and isinstance(pids, tuple) and pid not in pids:
        raise KeyError(f"PID {pid} is not a chronyd on this host")
    described = pid if pid is not None else (pids[0] if isinstance(pids, tuple) and pids else None)
    if described is not None:
        argv = _argv(host, described)
        if isinstance(argv, tuple):
            opts, directives = getopt(argv, CHRONYD_OPTSTRING, long_take_value=False)
            given = [v for k, v in opts if k == "f" and v]
            if given:
                config_path = _resolve_path(host, described, given[-1])
            from_cmdline = bool(directives)
    config: ChronyConfig | Unread
    if from_cmdline:
        # main.c: each argument after the options is one directive, and the file is not read.
        text = "\n".join(directives)
        try:
            config = chrony_config_from_lines(parse_chrony_conf(text, "(command line)"), ("(command line)",))
        except ValueError as exc:
            config = Unread(Reason.MALFORMED, "(chronyd command line)", str(exc))
    elif isinstance(config_path, Unread):
        config = config_path
    elif config_path is not None:
        config = read_chrony_config(host, config_path)
    else:
        config = Unread(Reason.MISSING, " or ".join(CHRONY_CONFIGS), "no chrony configuration file")
        for path in CHRONY_CONFIGS:
            got = read_chrony_config(host, path)
            if isinstance(got, ChronyConfig) or got.reason is not Reason.MISSING:
                config_path, config = path, got
                break
    # The daemon's own command socket only when a daemon is there to use it.
    socket = config.command_socket if isinstance(config, ChronyConfig) and described is not None else None
    tracking, k1 = _chronyc(host, socket, "tracking", parse_chronyc_tracking)
    sources, k2 = _chronyc(host, socket, "sources", parse_chronyc_sources)
    stats, k3 = _chronyc(host, socket, "sourcestats", parse_chronyc_sourcestats)
    files = config.files if isinstance(config, ChronyConfig) else (config_path,) if isinstance(config_path, str) else ()
    return Chrony(pids=pids, pid=described, argv=argv, config_path=config_path, config=config,
                  config_from_cmdline=from_cmdline, command_socket=socket, tracking=tracking, sources=sources,
                  sourcestats=stats, read_from=(f"{PROC}/*/comm", *files, k1, k2, k3))


# =========================================================================================
# 5. linuxptp: ptp4l, phc2sys, pmc and their log lines

PTP4L_OPTSTRING = "AEP246HSLf:i:p:sl:mqvh"  # ptp4l.c, linuxptp 3.1
PHC2SYS_OPTSTRING = "arc:d:f:s:E:P:I:S:F:R:N:O:L:M:i:u:wn:xz:l:t:mqvh"  # phc2sys.c, linuxptp 3.1
# config.c (linuxptp 3.1) defaults of the settings read here. network_transport and
# delay_mechanism are port items: an [interface] section may set them for that port.
PTP4L_DEFAULTS = {"time_stamping": "hardware", "network_transport": "UDPv4", "domainNumber": "0",
                  "delay_mechanism": "E2E", "free_running": "0", "uds_address": "/var/run/ptp4l"}
PORT_SETTINGS = frozenset({"network_transport", "delay_mechanism"})
# What ptp4l's short options set (ptp4l.c main).
_PTP4L_FLAGS = {"A": ("delay_mechanism", "Auto"), "E": ("delay_mechanism", "E2E"), "P": ("delay_mechanism", "P2P"),
                "2": ("network_transport", "L2"), "4": ("network_transport", "UDPv4"),
                "6": ("network_transport", "UDPv6"), "H": ("time_stamping", "hardware"),
                "S": ("time_stamping", "software"), "L": ("time_stamping", "legacy"), "s": ("slaveOnly", "1")}
PMC_DATASETS = ("CURRENT_DATA_SET", "TIME_STATUS_NP", "PORT_DATA_SET", "PARENT_DATA_SET")


@dataclass(frozen=True)
class LinuxptpConfig:
    """A linuxptp configuration file (ptp4l(8) CONFIGURATION FILE; config.c ``config_read``):
    ``[global]`` settings, and per ``[interface]`` section its settings. Section names are
    matched without case for ``[global]``; a ``[unicast_master_table]`` section is skipped."""

    global_settings: dict[str, str]
    interfaces: dict[str, dict[str, str]]
    path: str = ""


def parse_linuxptp_config(text: str, path: str = "") -> LinuxptpConfig:
    """config.c ``config_read``: leading blanks skipped, lines starting with ``#`` and empty
    lines ignored, trailing blanks stripped; ``[global]``, ``[unicast_master_table]`` or
    ``[NAME]`` open a section (NAME: the first word inside the brackets); a setting is the
    option, white space, and the value (the rest of the line, possibly empty). A setting
    before any section is an error, as ptp4l makes it.

    Sample (a slave on software timestamping, as the lab here runs it)::

        [global]
        free_running 1
        slaveOnly 1
        uds_address /tmp/lab/sl.sock
        [v0-gm]
        network_transport L2

    >>> c = parse_linuxptp_config("[global]\\nfree_running 1\\n# x\\n[ens1f0]\\nnetwork_transport  L2\\n")
    >>> c.global_settings, c.interfaces
    ({'free_running': '1'}, {'ens1f0': {'network_transport': 'L2'}})
    """
    global_settings: dict[str, str] = {}
    interfaces: dict[str, dict[str, str]] = {}
    section: dict[str, str] | None = None
    skip = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower() == "[global]":
            section, skip = global_settings, False
            continue
        if line.lower() == "[unicast_master_table]":
            section, skip = None, True
            continue
        if line.startswith("["):
            words = line.replace("[", " ").replace("]", " ").split()
            if not words:
                raise ValueError(f"{path or 'config'}:{number}: could not parse port name")
            section, skip = interfaces.setdefault(words[0][:16], {}), False
            continue
        if skip:
            continue
        if section is None:
            raise ValueError(f"{path or 'config'}:{number}: line is not in a section")
        parts = line.split(None, 1)
        section[parts[0]] = parts[1].strip() if len(parts) == 2 else ""
    return LinuxptpConfig(global_settings, interfaces, path)


class Setting(NamedTuple):
    """A setting's value and where it came from: ``command line``, ``[global]``,
    ``[IFACE]`` or ``default`` (config.c's default, linuxptp 3.1)."""

    value: str
    where: str


@dataclass(frozen=True)
class PmcAnswer:
    """One answer pmc printed (pmc.c ``pmc_show``): the responding port, its sequence id,
    the action (``RESPONSE``), the TLV type (``MANAGEMENT``, ``MANAGEMENT_ERROR_STATUS``),
    the management id (None when the TLV carries none) and the fields as printed."""

    port_identity: str
    sequence_id: int
    action: str
    tlv: str
    management_id: str | None
    fields: dict[str, str]


_PMC_HEAD = re.compile(r"^\t(?P<port>\S+) seq (?P<seq>[0-9]+) (?P<action>\S+) ?(?P<rest>.*)$")


def parse_pmc_answers(text: str) -> tuple[PmcAnswer, ...]:
    """Every answer in pmc's output, in order (pmc.c: a ``\\t`` line ``PORT seq N ACTION
    TLV [ID]``, then ``\\t\\t`` lines of ``name value``; ``sending: ...`` lines and
    SIGNALING messages are not answers).

    Real output (linuxptp 3.1, ``pmc -u -b 0 'GET CURRENT_DATA_SET'`` to a ptp4l slave;
    ``\\t`` is a tab)::

        sending: GET CURRENT_DATA_SET
        \\td69141.fffe.6da744-0 seq 0 RESPONSE MANAGEMENT CURRENT_DATA_SET
        \\t\\tstepsRemoved     1
        \\t\\toffsetFromMaster -324.0
        \\t\\tmeanPathDelay    1444.0
    """
    answers: list[PmcAnswer] = []
    current: PmcAnswer | None = None
    for line in text.splitlines():
        if line.startswith("\t\t"):
            if current is not None:
                name, _, value = line.strip().partition(" ")
                if name:
                    current.fields.setdefault(name, value.strip())
            continue
        current = None
        m = _PMC_HEAD.match(line)
        if not m or m.group("action") == "SIGNALING":
            continue
        words = m.group("rest").split()
        tlv = words[0] if words else ""
        mid = words[1] if tlv == "MANAGEMENT" and len(words) > 1 and words[1] != "empty-tlv" else None
        current = PmcAnswer(m.group("port"), int(m.group("seq")), m.group("action"), tlv, mid, {})
        answers.append(current)
    return tuple(answers)


def parse_pmc(text: str) -> dict[str, dict[str, str]]:
    """pmc's output as management id -> field -> value, the first answer of each id (a
    multi-port ptp4l answers PORT_DATA_SET once per port: :func:`parse_pmc_answers` keeps
    them all). ``{}`` when nobody answered: pmc prints only ``sending: ...`` and exits 0,
    which is no answer, never an empty data set. Error answers (``MANAGEMENT_ERROR_STATUS``)
    carry no data set and are left out.

    >>> out = ("sending: GET CURRENT_DATA_SET\\n\\td69141.fffe.6da744-0 seq 0 RESPONSE MANAGEMENT CURRENT_DATA_SET \\n"
    ...        "\\t\\tstepsRemoved     1\\n\\t\\toffsetFromMaster -324.0\\n\\t\\tmeanPathDelay    1444.0\\n")
    >>> parse_pmc(out)
    {'CURRENT_DATA_SET': {'stepsRemoved': '1', 'offsetFromMaster': '-324.0', 'meanPathDelay': '1444.0'}}
    >>> parse_pmc("sending: GET CURRENT_DATA_SET\\n")
    {}
    """
    out: dict[str, dict[str, str]] = {}
    for a in parse_pmc_answers(text):
        if a.tlv == "MANAGEMENT" and a.management_id is not None:
            out.setdefault(a.management_id, dict(a.fields))
    return out


@dataclass(frozen=True)
class ServoSample:
    """One servo line of ptp4l or phc2sys. ``kind`` ``offset`` (one sample: offset, servo
    state, frequency, path delay; ``freq`` is the servo's frequency adjustment in ppb, or,
    with ``free_running 1``, the measured frequency offset between the clocks,
    (1 - ratio) * 1e9, as linuxptp's clock.c clock_no_adjust prints it) or ``summary`` (with ``summary_interval``: RMS
    and max of the offsets, mean and deviation of frequency and delay). ``time_s`` is the
    CLOCK_MONOTONIC time linuxptp stamps its lines with (print.c), None when the line has
    none. ``state``: ``s0`` unlocked, ``s1`` clock step, ``s2`` locked, ``s3`` locked and
    stable (servo.h). phc2sys's path delay is the delay of reading the clocks."""

    time_s: float | None
    program: str
    kind: str
    offset_ns: int | None
    state: str | None
    freq_ppb: float | None
    path_delay_ns: float | None
    rms_ns: float | None
    max_ns: float | None
    freq_dev_ppb: float | None
    delay_dev_ns: float | None
    line: str


# "ptp4l[SEC.MSEC]: " (stdout), "ptp4l[PID]: [SEC.MSEC] " (the journal adds the PID) or
# "ptp4l: [SEC.MSEC] " (syslog: linuxptp never calls openlog, so no LOG_PID).
_LOG_PREFIX = re.compile(r"\b(?P<prog>ptp4l|phc2sys)(?:\[(?P<bracket>[0-9.]+)\])?:\s*"
                         r"(?:\[(?P<stamp>[0-9]+\.[0-9]+)\]\s*)?(?P<msg>.*)$")
_NUM = r"[+-]?[0-9]+(?:\.[0-9]+)?"
_PTP4L_OFFSET = re.compile(rf"\bmaster offset\s+(?P<offset>-?[0-9]+)\s+s(?P<state>[0-9])\s+freq\s+(?P<freq>{_NUM})"
                           rf"\s+path delay\s+(?P<delay>-?[0-9]+)")
_PHC2SYS_OFFSET = re.compile(rf"\b(?:sys|phc|pps) offset\s+(?P<offset>-?[0-9]+)\s+s(?P<state>[0-9])\s+freq\s+"
                             rf"(?P<freq>{_NUM})(?:\s+delay\s+(?P<delay>-?[0-9]+))?")
_SUMMARY = re.compile(rf"\brms\s+(?P<rms>{_NUM})\s+max\s+(?P<max>{_NUM})\s+freq\s+(?P<freq>{_NUM})\s+\+/-\s+"
                      rf"(?P<fdev>{_NUM})(?:\s+delay\s+(?P<delay>{_NUM})\s+\+/-\s+(?P<ddev>{_NUM}))?")


def _opt_float(value: str | None) -> float | None:
    return None if value is None else float(value)


def parse_ptp4l_log(text: str) -> tuple[ServoSample, ...]:
    """The servo lines of ptp4l and phc2sys output, in order; other lines are skipped.

    Formats (linuxptp 3.1): clock.c ``master offset %10lld s%d freq %+7.0f path delay
    %9lld`` and, with ``summary_interval``, ``rms %4.0f max %4.0f freq %+6.0f +/- %3.0f
    delay %5.0f +/- %3.0f`` (the delay pair only when the path delay was measured);
    phc2sys.c ``%s %s offset %9lld s%d freq %+7.0f delay %6lld`` (clock, then ``sys``,
    ``phc`` or ``pps``; no delay part when none was measured) and ``%s rms ...``. print.c
    prefixes ``ptp4l[SEC.MSEC]: `` on stdout (``-m``) and ``[SEC.MSEC] `` in syslog, where
    the line starts ``ptp4l: `` (syslog) or ``ptp4l[PID]: `` (the journal); a
    ``message_tag`` (``[ens1f0]``) may follow.

    Real lines (ptp4l 3.1 as a software-timestamping slave over a veth pair; the last with
    ``summary_interval 1`` and ``message_tag [v0-gm]``)::

        ptp4l[10396.386]: master offset       -905 s0 freq    -564 path delay      1934
        ptp4l[10422.354]: [v0-gm] rms  427 max  590 freq    +60 +/- 228 delay  2468 +/- 149

    >>> a, b, c = parse_ptp4l_log("ptp4l[10396.386]: master offset       -905 s0 freq    -564 path delay      1934\\n"
    ...     "ptp4l[10422.354]: [v0-gm] rms  427 max  590 freq    +60 +/- 228 delay  2468 +/- 149\\n"
    ...     "phc2sys[5.1]: CLOCK_REALTIME phc offset        -5 s2 freq      +1 delay    600")
    >>> a.offset_ns, a.state, a.freq_ppb, a.path_delay_ns, a.time_s
    (-905, 's0', -564.0, 1934, 10396.386)
    >>> b.kind, b.rms_ns, b.max_ns, b.freq_ppb, b.freq_dev_ppb, b.path_delay_ns, b.delay_dev_ns
    ('summary', 427.0, 590.0, 60.0, 228.0, 2468.0, 149.0)
    >>> c.program, c.offset_ns, c.state, c.path_delay_ns
    ('phc2sys', -5, 's2', 600)
    """
    out: list[ServoSample] = []
    for raw in text.splitlines():
        m = _LOG_PREFIX.search(raw)
        if not m:
            continue
        program = m.group("prog")
        bracket, stamp = m.group("bracket") or "", m.group("stamp")
        time_s = float(bracket) if "." in bracket else (float(stamp) if stamp else None)
        msg = m.group("msg")
        line = raw.strip()
        offset = (_PTP4L_OFFSET if program == "ptp4l" else _PHC2SYS_OFFSET).search(msg)
        if offset:
            delay = offset.group("delay")
            out.append(ServoSample(time_s, program, "offset", int(offset.group("offset")), f"s{offset.group('state')}",
                                   float(offset.group("freq")), None if delay is None else int(delay),
                                   None, None, None, None, line))
            continue
        summary = _SUMMARY.search(msg)
        if summary:
            out.append(ServoSample(time_s, program, "summary", None, None, float(summary.group("freq")),
                                   _opt_float(summary.group("delay")), float(summary.group("rms")),
                                   float(summary.group("max")), float(summary.group("fdev")),
                                   _opt_float(summary.group("ddev")), line))
    return tuple(out)


@dataclass(frozen=True)
class Ptp4lInstance:
    """One running ptp4l: its command line, configuration file and the settings in effect
    for the keys read here (``settings``: global; :meth:`setting` for one port)."""

    pid: int
    argv: tuple[str, ...] | Unread
    config_path: str | Unread | None
    config: LinuxptpConfig | Unread | None
    command_line: dict[str, str]
    interfaces: tuple[str, ...]
    settings: dict[str, Setting | Unread]

    @property
    def uds_address(self) -> str | Unread:
        s = self.settings["uds_address"]
        return s if isinstance(s, Unread) else s.value

    def setting(self, key: str, interface: str | None = None) -> Setting | Unread:
        """A setting in effect (config.c): a port item from the interface's section first,
        then the command line, then ``[global]``, then the default."""
        if interface is not None and key in PORT_SETTINGS and isinstance(self.config, LinuxptpConfig):
            section = self.config.interfaces.get(interface, {})
            if key in section:
                return Setting(section[key], f"[{interface}]")
        return _effective(key, self.command_line, self.config)


@dataclass(frozen=True)
class Phc2sysInstance:
    """One running phc2sys: ``source`` (``-s``: a PHC, an interface or CLOCK_REALTIME),
    ``sink`` (``-c``, CLOCK_REALTIME by default), ``automatic`` (``-a``: follows ptp4l's port
    states), the configuration file and long options."""

    pid: int
    argv: tuple[str, ...] | Unread
    source: str | None
    sink: str | None
    automatic: bool
    config_path: str | Unread | None
    config: LinuxptpConfig | Unread | None
    command_line: dict[str, str]


@dataclass(frozen=True)
class Linuxptp:
    """linuxptp on this host: the ptp4l and phc2sys processes, pmc's answers per UNIX socket
    (every running ptp4l's ``uds_address``, and the default one), and the servo lines of the
    journal (``journalctl -t ptp4l -t phc2sys``, where journald runs)."""

    ptp4l: tuple[Ptp4lInstance, ...] | Unread
    phc2sys: tuple[Phc2sysInstance, ...] | Unread
    pmc: dict[str, dict[str, tuple[PmcAnswer, ...] | Unread]]
    log: tuple[ServoSample, ...] | Unread
    sources: tuple[str, ...] = ()

    @property
    def ptp4l_running(self) -> bool | Unread:
        return self.ptp4l if isinstance(self.ptp4l, Unread) else bool(self.ptp4l)

    @property
    def phc2sys_running(self) -> bool | Unread:
        return self.phc2sys if isinstance(self.phc2sys, Unread) else bool(self.phc2sys)

    def dataset(self, management_id: str, uds_address: str | None = None) -> dict[str, str] | Unread:
        """The first answer's fields for one management id (from the first ptp4l's socket, or
        the default one)."""
        if uds_address is None:
            first = self.ptp4l[0].uds_address if isinstance(self.ptp4l, tuple) and self.ptp4l else None
            uds_address = first if isinstance(first, str) else PTP4L_DEFAULTS["uds_address"]
        answers = self.pmc.get(uds_address, {}).get(management_id)
        if answers is None:
            return Unread(Reason.MISSING, f"pmc GET {management_id}", f"not asked at {uds_address}")
        return answers if isinstance(answers, Unread) else answers[0].fields

    def _repr_html_(self) -> str:
        rows: list[list[object]] = []
        if isinstance(self.ptp4l, Unread):
            rows.append(["ptp4l", self.ptp4l])
        for p in self.ptp4l if isinstance(self.ptp4l, tuple) else ():
            settings = ", ".join(f"{k} {show(v.value) if isinstance(v, Setting) else v}" for k, v in p.settings.items())
            rows.append([f"ptp4l PID {p.pid}", f"{', '.join(p.interfaces) or '(no interface)'}; {settings}"])
        if isinstance(self.phc2sys, Unread):
            rows.append(["phc2sys", self.phc2sys])
        for p in self.phc2sys if isinstance(self.phc2sys, tuple) else ():
            what = "automatic (-a)" if p.automatic else f"{p.source or '?'} -> {p.sink or 'CLOCK_REALTIME'}"
            rows.append([f"phc2sys PID {p.pid}", what])
        for uds, sets in self.pmc.items():
            for mid, answers in sets.items():
                value = answers if isinstance(answers, Unread) else "; ".join(
                    " ".join(f"{k} {v}" for k, v in a.fields.items()) for a in answers)
                rows.append([f"pmc {mid} ({uds})", value])
        if isinstance(self.log, Unread):
            rows.append(["servo log", self.log])
        elif self.log:
            last = self.log[-1]
            rows.append(["last servo line", last.line])
        return html_table("linuxptp", ["", "value"], rows)


def _effective(key: str, command_line: dict[str, str], config: LinuxptpConfig | Unread | None) -> Setting | Unread:
    if key in command_line:
        return Setting(command_line[key], "command line")
    if isinstance(config, Unread):
        return config
    if config is not None and key in config.global_settings:
        return Setting(config.global_settings[key], "[global]")
    if key in PTP4L_DEFAULTS:
        return Setting(PTP4L_DEFAULTS[key], "default")
    return Unread(Reason.MISSING, key, "not set, and no default known here")


def _linuxptp_config(host: Host, pid: int, options) -> tuple[str | Unread | None, LinuxptpConfig | Unread | None]:
    given = [v for k, v in options if k == "f" and v]
    if not given:
        return None, None
    path = _resolve_path(host, pid, given[-1])
    if isinstance(path, Unread):
        return path, path
    return path, host.read_value(path, lambda text: parse_linuxptp_config(text, path))


def _long_options(options) -> dict[str, str]:
    return {k: v for k, v in options if len(k) > 1 and v is not None}


def _read_ptp4l(host: Host, pid: int) -> Ptp4lInstance:
    argv = _argv(host, pid)
    if isinstance(argv, Unread):
        why = argv
        return Ptp4lInstance(pid, argv, why, why, {}, (), {k: why for k in PTP4L_DEFAULTS})
    options, _ = getopt(argv, PTP4L_OPTSTRING)
    command_line = _long_options(options)
    interfaces = []
    for k, v in options:
        if k in _PTP4L_FLAGS:
            name, value = _PTP4L_FLAGS[k]
            command_line[name] = value
        elif k == "i" and v:
            interfaces.append(v)
    config_path, config = _linuxptp_config(host, pid, options)
    if isinstance(config, LinuxptpConfig):
        interfaces += [i for i in config.interfaces if i not in interfaces]
    settings = {k: _effective(k, command_line, config) for k in PTP4L_DEFAULTS}
    return Ptp4lInstance(pid, argv, config_path, config, command_line, tuple(interfaces), settings)


def _read_phc2sys(host: Host, pid: int) -> Phc2sysInstance:
    argv = _argv(host, pid)
    if isinstance(argv, Unread):
        return Phc2sysInstance(pid, argv, None, None, False, argv, argv, {})
    options, _ = getopt(argv, PHC2SYS_OPTSTRING)
    command_line = _long_options(options)
    source = sink = None
    for k, v in options:
        if k in ("s", "i"):  # -i: the deprecated spelling of -s
            source = v
        elif k == "c":
            sink = v
        elif k == "n" and v is not None:
            command_line["domainNumber"] = v
        elif k == "z" and v is not None:
            command_line["uds_address"] = v
    config_path, config = _linuxptp_config(host, pid, options)
    return Phc2sysInstance(pid, argv, source, sink, any(k == "a" for k, _ in options), config_path, config,
                           command_line)


def _pmc_argv(dataset: str, uds_address: str) -> list[str]:
    socket = [] if uds_address == PTP4L_DEFAULTS["uds_address"] else ["-s", uds_address]
    return ["pmc", "-u", "-b", "0", *socket, f"GET {dataset}"]


def read_pmc(host: Host, dataset: str, uds_address: str = PTP4L_DEFAULTS["uds_address"]
             ) -> tuple[PmcAnswer, ...] | Unread:
    """``pmc -u -b 0 'GET DATASET'`` (``-s`` for a socket other than the default): the
    answers of that id, or why none. pmc exits 0 when nobody answered: that is ``missing``,
    never an empty data set."""
    argv = _pmc_argv(dataset, uds_address)
    key = " ".join(argv)
    result = host.run(argv)
    if isinstance(result, Unread):
        return result
    if not result.ok:
        # Not root: "uds: bind failed: Permission denied" (pmc binds its own socket in /var/run).
        return _command_unread(result, "pmc failed")
    answers = parse_pmc_answers(result.stdout)
    found = tuple(a for a in answers if a.tlv == "MANAGEMENT" and a.management_id == dataset)
    if found:
        return found
    if answers:
        kinds = sorted({a.tlv or "?" for a in answers})
        return Unread(Reason.UNSUPPORTED, key, f"ptp4l answered {', '.join(kinds)}, no {dataset}")
    return Unread(Reason.MISSING, key, f"nobody answered at {uds_address} (pmc exits 0 when nobody does)")


# Without -q: journalctl says "No journal files were found." (stderr) when there is no journal,
# which -q would hide, leaving the same empty answer as a journal with no ptp4l line.
JOURNAL_ARGV = ("journalctl", "--no-pager", "-o", "short-monotonic", "-n", "500", "-t", "ptp4l", "-t", "phc2sys")


def read_servo_log(host: Host) -> tuple[ServoSample, ...] | Unread:
    """ptp4l's and phc2sys's servo lines in the journal. Without journald they log to syslog
    (``use_syslog`` 1) or to wherever their ``-m`` output was sent; those are not read here."""
    result = host.run(list(JOURNAL_ARGV))
    if isinstance(result, Unread):
        if result.reason is Reason.UNSUPPORTED and "not installed" in result.detail:
            return Unread(Reason.UNSUPPORTED, result.source, "journalctl is not installed: ptp4l and phc2sys log "
                                                             "to syslog, which is not read here")
        return result
    key = " ".join(JOURNAL_ARGV)
    said = " ".join(result.stderr.split())
    if "insufficient permissions" in said:
        return Unread(Reason.DENIED, key, f"journalctl: {said}")
    if not result.ok:
        return _command_unread(result, "journalctl failed")
    if "No journal files" in said:
        return Unread(Reason.MISSING, key, f"no journal: {said}")
    samples = parse_ptp4l_log(result.stdout)
    # systemd's journal-util.c prints this notice (exit 0) to a user outside the journal's
    # groups: only that user's own entries are shown, and ptp4l and phc2sys run as root. Lines
    # that did show are real; none shown is unknown, not "no servo lines".
    if not samples and "not seeing messages from other users" in said:
        return Unread(Reason.DENIED, key, "journalctl shows this user only their own entries "
                                          "(not in the systemd-journal or adm group): ptp4l and "
                                          "phc2sys lines, if any, are hidden")
    return samples


@probe("timesync.linuxptp")
def read_linuxptp(host: Host) -> Linuxptp:
    """ptp4l and phc2sys processes with their command lines and configuration, pmc's
    CURRENT_DATA_SET, TIME_STATUS_NP, PORT_DATA_SET and PARENT_DATA_SET, the servo log."""
    found = _pids_by_name(host, ["ptp4l", "phc2sys"])
    ptp4l: tuple[Ptp4lInstance, ...] | Unread
    phc2sys: tuple[Phc2sysInstance, ...] | Unread
    if isinstance(found, Unread):
        ptp4l = phc2sys = found
    else:
        ptp4l = tuple(_read_ptp4l(host, pid) for pid in found["ptp4l"])
        phc2sys = tuple(_read_phc2sys(host, pid) for pid in found["phc2sys"])
    # No ptp4l running (the process list was read whole): nobody to ask, and each pmc that
    # nobody answers waits ~100 ms. Unknown processes: ask the default socket.
    addresses = [] if isinstance(ptp4l, tuple) and not ptp4l else [PTP4L_DEFAULTS["uds_address"]]
    for p in ptp4l if isinstance(ptp4l, tuple) else ():
        if isinstance(p.uds_address, str) and p.uds_address not in addresses:
            addresses.append(p.uds_address)
    pmc = {uds: {ds: read_pmc(host, ds, uds) for ds in PMC_DATASETS} for uds in addresses}
    commands = tuple(" ".join(_pmc_argv(ds, uds)) for uds in addresses for ds in PMC_DATASETS)
    return Linuxptp(ptp4l, phc2sys, pmc, read_servo_log(host),
                    sources=(f"{PROC}/*/comm", f"{PROC}/PID/cmdline", *commands, " ".join(JOURNAL_ARGV)))


__all__ = [
    "ADJTIMEX_CALL", "CHRONY_CONFIGS", "PMC_DATASETS", "PORT_SETTINGS", "PTP4L_DEFAULTS", "STA_BITS",
    "TIMEX_LAYOUT", "TIMEX_SIZE", "TIME_STATES", "TSC_STABILITY_FLAGS", "Chrony", "ChronyConfig",
    "ChronyRefclock", "ChronySource", "ChronySourceStats", "ChronyTracking", "ClocksourceEvent",
    "ClocksourceHealth", "ConfLine", "KernelTime", "Linuxptp", "LinuxptpConfig", "NicTimestamping", "Phc",
    "Phc2sysInstance", "Phcs", "PmcAnswer", "Ptp4lInstance", "ServoSample", "Setting", "Timex", "adjtimex_read",
    "chrony_config_from_lines", "getopt", "log_starts_at_boot", "parse_chrony_conf", "parse_chronyc_sources",
    "parse_chronyc_sourcestats", "parse_chronyc_tracking", "parse_clocksource_log", "parse_linuxptp_config",
    "parse_pmc", "parse_pmc_answers", "parse_ptp4l_log", "parse_ptp_index", "parse_refclock", "parse_timex",
    "read_chrony", "read_chrony_config", "read_clocksource_health", "read_kernel_log", "read_kernel_time",
    "read_linuxptp", "read_phcs", "read_pmc", "read_servo_log", "timex_request",
]
