"""The offset between a PTP hardware clock (``/dev/ptpN``) and the system clock
(CLOCK_REALTIME), read the way linuxptp's sysoff.c reads it: the kernel's three offset
ioctls, tried from the most exact to the least.

1. ``PTP_SYS_OFFSET_PRECISE``: one cross-timestamp taken by the hardware (PCIe PTM,
   Intel ART): the PHC and the system clock at the same instant, no read-out delay.
2. ``PTP_SYS_OFFSET_EXTENDED``: up to 25 samples of [system, PHC, system], the two system
   reads taken by the driver just around the PHC register read.
3. ``PTP_SYS_OFFSET``: up to 25 samples interleaved system, PHC, system, PHC, ..., system,
   the system reads taken by the kernel around the whole driver call (wider windows).

For 2 and 3, each sample's offset is the PHC time minus the midpoint of the two system
reads around it, and its delay is the time between those two reads; the sample with the
shortest delay is the estimate, as sysoff.c ``sysoff_estimate`` picks it. The offset is
``PHC - CLOCK_REALTIME``: a PHC kept on TAI by ptp4l reads about +37 s against a system
clock on UTC. ``phc_ctl DEVICE cmp`` prints the other sign (``CLOCK_REALTIME - PHC``).

Kernel sources:
- include/uapi/linux/ptp_clock.h: ``struct ptp_clock_time {__s64 sec; __u32 nsec; __u32
  reserved;}`` (16 bytes); ``struct ptp_sys_offset {unsigned int n_samples; unsigned int
  rsv[3]; struct ptp_clock_time ts[2 * PTP_MAX_SAMPLES + 1];}`` (832 bytes);
  ``struct ptp_sys_offset_extended {unsigned int n_samples; __kernel_clockid_t clockid;
  unsigned int rsv[2]; struct ptp_clock_time ts[PTP_MAX_SAMPLES][3];}`` (1,216 bytes;
  before 6.12 the clockid word was ``rsv[0]``, so 0, CLOCK_REALTIME, suits both);
  ``struct ptp_sys_offset_precise {struct ptp_clock_time device, sys_realtime,
  sys_monoraw; unsigned int rsv[4];}`` (64 bytes); ``PTP_MAX_SAMPLES 25``;
  ``PTP_CLK_MAGIC '='``; ``PTP_SYS_OFFSET _IOW(PTP_CLK_MAGIC, 5, ...)``,
  ``PTP_SYS_OFFSET_PRECISE _IOWR(..., 8, ...)``, ``PTP_SYS_OFFSET_EXTENDED _IOWR(..., 9,
  ...)``, and the same structs again as ``PTP_SYS_OFFSET2 _IOW(..., 14)``,
  ``PTP_SYS_OFFSET_PRECISE2 _IOWR(..., 17)``, ``PTP_SYS_OFFSET_EXTENDED2 _IOWR(..., 18)``.
- drivers/ptp/ptp_chardev.c ``ptp_ioctl``: each original number and its ``2`` twin share
  one case, so the originals are used here (every kernel that has a method knows its
  original number). PRECISE answers EOPNOTSUPP when the driver has no ``getcrosststamp``,
  EXTENDED when it has no ``gettimex64``; EXTENDED refuses with EINVAL more than 25
  samples, a reserved word set, or a clockid other than REALTIME, MONOTONIC, MONOTONIC_RAW
  (or an AUX clock); SYS_OFFSET works with any driver; an unknown number answers ENOTTY.
- Read-only: the device is opened ``O_RDONLY``. ptp_chardev.c refuses the ioctls that
  change the clock's outputs (EXTTS, PEROUT, PPS, PIN_SETFUNC) with EACCES on a file
  opened without write access (recent kernels), and kernel/time/posix-clock.c
  ``pc_clock_adjtime``/``pc_clock_settime`` refuse to adjust or set a clock through one.
  Only the three offset ioctls above are ever issued.
- include/uapi/asm-generic/ioctl.h ``_IOC``: ``dir << 30 | size << 16 | type << 8 | nr``
  with ``_IOC_WRITE`` 1 and ``_IOC_READ`` 2; powerpc, mips, sparc and alpha
  (arch/*/include/uapi/asm/ioctl.h) use 13 size bits and 3 direction bits with
  ``_IOC_WRITE`` 4 and ``_IOC_READ`` 2, parisc swaps the generic values (``_IOC_WRITE`` 2,
  ``_IOC_READ`` 1). Only ``_IOW`` numbers differ between them.

No PHC exists on a machine without a NIC or hypervisor clock driver; :class:`FakePhc`
answers the three ioctls from a model clock so the code path can be run there (tests,
:func:`bench_readout`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import platform
import re
import stat
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hftinfra.host import CommandResult, Host, LiveHost, Reason, Unread, open_host
from hftinfra.records import html_table, to_jsonable

NSEC_PER_SEC = 1_000_000_000
PTP_CLK_MAGIC = 0x3D  # '='
PTP_MAX_SAMPLES = 25
CLOCK_REALTIME = 0
PTP_CLASS = "/sys/class/ptp"

PRECISE = "PTP_SYS_OFFSET_PRECISE"
EXTENDED = "PTP_SYS_OFFSET_EXTENDED"
BASIC = "PTP_SYS_OFFSET"
METHODS = (PRECISE, EXTENDED, BASIC)  # the order sysoff.c tries them in

# Native byte order, no padding: every field of these structs is naturally aligned, and
# __s64 sec first makes struct ptp_clock_time 16 bytes on every architecture.
_TIME = "qII"
CLOCK_TIME = struct.Struct("=" + _TIME)
SYS_OFFSET = struct.Struct("=4I" + _TIME * (2 * PTP_MAX_SAMPLES + 1))
SYS_OFFSET_EXTENDED = struct.Struct("=Ii2I" + _TIME * (3 * PTP_MAX_SAMPLES))
SYS_OFFSET_PRECISE = struct.Struct("=" + _TIME * 3 + "4I")
_HEAD = 16  # n_samples and three words before ts[] in ptp_sys_offset(_extended)
STRUCT_SIZE = {BASIC: SYS_OFFSET.size, EXTENDED: SYS_OFFSET_EXTENDED.size, PRECISE: SYS_OFFSET_PRECISE.size}


@dataclass(frozen=True)
class IocLayout:
    """How an architecture packs an ioctl number (its uapi asm/ioctl.h)."""

    name: str
    size_bits: int
    write: int
    read: int

    def ioc(self, direction: int, nr: int, size: int, magic: int = PTP_CLK_MAGIC) -> int:
        if not 0 <= size < 1 << self.size_bits:
            raise ValueError(f"{size} bytes do not fit in {self.size_bits} size bits")
        return direction << (16 + self.size_bits) | size << 16 | magic << 8 | nr

    def iow(self, nr: int, size: int) -> int:
        return self.ioc(self.write, nr, size)

    def iowr(self, nr: int, size: int) -> int:
        return self.ioc(self.read | self.write, nr, size)


GENERIC_IOC = IocLayout("asm-generic", 14, write=1, read=2)
THREE_BIT_IOC = IocLayout("powerpc/mips/sparc/alpha", 13, write=4, read=2)
PARISC_IOC = IocLayout("parisc", 14, write=2, read=1)


def ioc_layout(machine: str | None = None) -> IocLayout:
    """The ioctl encoding of a machine (``platform.machine()`` by default)."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine.startswith(("ppc", "powerpc", "mips", "sparc", "alpha")):
        return THREE_BIT_IOC
    if machine.startswith("parisc"):
        return PARISC_IOC
    return GENERIC_IOC


def ptp_offset_ioctls(layout: IocLayout = GENERIC_IOC) -> dict[str, int]:
    """The offset ioctl numbers of include/uapi/linux/ptp_clock.h under one encoding: the
    originals (5, 8, 9) and their ``2`` twins (14, 17, 18)."""
    return {
        BASIC: layout.iow(5, SYS_OFFSET.size),
        PRECISE: layout.iowr(8, SYS_OFFSET_PRECISE.size),
        EXTENDED: layout.iowr(9, SYS_OFFSET_EXTENDED.size),
        BASIC + "2": layout.iow(14, SYS_OFFSET.size),
        PRECISE + "2": layout.iowr(17, SYS_OFFSET_PRECISE.size),
        EXTENDED + "2": layout.iowr(18, SYS_OFFSET_EXTENDED.size),
    }


# This machine's numbers; the measurement issues the three originals only.
IOCTLS = ptp_offset_ioctls(ioc_layout())

Ioctl = Callable[[int, int, bytearray], object]


def kernel_ioctl(fd: int, request: int, buf: bytearray) -> None:
    """The real ioctl(2): the kernel fills ``buf`` in place."""
    fcntl.ioctl(fd, request, buf, True)


@dataclass(frozen=True)
class OffsetSample:
    """One reading: ``offset_ns`` is PHC minus system clock at the PHC read, ``delay_ns``
    the system time between the reads around it (0 for a hardware cross-timestamp),
    ``sys_ns`` the system clock at the PHC read (the midpoint of those reads)."""

    offset_ns: int
    delay_ns: int
    phc_ns: int
    sys_ns: int


def _ns(sec: int, nsec: int, what: str) -> int:
    if not 0 <= nsec < NSEC_PER_SEC:
        raise ValueError(f"{what}: nsec {nsec} is not below 10^9")
    return sec * NSEC_PER_SEC + nsec


def _window(t1: int, tp: int, t2: int) -> OffsetSample:
    middle = (t1 + t2) // 2
    return OffsetSample(offset_ns=tp - middle, delay_ns=t2 - t1, phc_ns=tp, sys_ns=middle)


def encode_request(method: str, samples: int) -> bytearray:
    """The zeroed struct an ioctl expects, with ``n_samples`` set where it has one (and
    clockid 0, CLOCK_REALTIME, for EXTENDED)."""
    buf = bytearray(STRUCT_SIZE[method])
    if method != PRECISE:
        struct.pack_into("=I", buf, 0, samples)
    return buf


def decode_answer(method: str, buf: bytes | bytearray, samples: int) -> tuple[OffsetSample, ...]:
    """The samples in a struct the kernel filled. ValueError for a timestamp whose
    nanoseconds are out of range."""
    if len(buf) != STRUCT_SIZE[method]:
        raise ValueError(f"{method} answer is {len(buf)} bytes, expected {STRUCT_SIZE[method]}")
    if method == PRECISE:
        fields = SYS_OFFSET_PRECISE.unpack(buf)
        phc = _ns(fields[0], fields[1], "device")
        sys_rt = _ns(fields[3], fields[4], "sys_realtime")
        return (OffsetSample(offset_ns=phc - sys_rt, delay_ns=0, phc_ns=phc, sys_ns=sys_rt),)

    fields = (SYS_OFFSET_EXTENDED if method == EXTENDED else SYS_OFFSET).unpack(buf)
    count = 3 * samples if method == EXTENDED else 2 * samples + 1
    secs, nsecs = fields[4:4 + 3 * count:3], fields[5:5 + 3 * count:3]
    if any(n >= NSEC_PER_SEC for n in nsecs):
        i = next(i for i, n in enumerate(nsecs) if n >= NSEC_PER_SEC)
        raise ValueError(f"ts[{i}]: nsec {nsecs[i]} is not below 10^9")
    stamps = [sec * NSEC_PER_SEC + nsec for sec, nsec in zip(secs, nsecs, strict=True)]
    if method == EXTENDED:  # ts[i] = [system before, PHC, system after]
        return tuple(_window(*stamps[3 * i:3 * i + 3]) for i in range(samples))
    # ts = system, PHC, system, PHC, ..., system: sample i is ts[2i], ts[2i+1], ts[2i+2].
    return tuple(_window(*stamps[2 * i:2 * i + 3]) for i in range(samples))


def shortest_delay(samples: tuple[OffsetSample, ...]) -> OffsetSample | None:
    """The sample with the shortest read-out delay (the first of equals, as sysoff.c
    keeps it). A negative delay means the system clock was stepped between the two
    reads: such a sample is never picked."""
    usable = [s for s in samples if s.delay_ns >= 0]
    return min(usable, key=lambda s: s.delay_ns) if usable else None


_HINTS = {
    (PRECISE, errno.EOPNOTSUPP): "the driver takes no hardware cross-timestamps",
    (EXTENDED, errno.EOPNOTSUPP): "the driver has no gettimex64",
    (EXTENDED, errno.EINVAL): "the kernel refused the request (more than 25 samples, a reserved word set, "
                              "an unknown clockid) or could not read the system clock",
    (BASIC, errno.EINVAL): "the kernel refused the request (more than 25 samples)",
}


def _outcome(method: str, exc: OSError) -> str:
    code = exc.errno or 0
    # Linux's EOPNOTSUPP and ENOTSUP are one number; the kernel returns it as EOPNOTSUPP.
    name = "EOPNOTSUPP" if code == errno.EOPNOTSUPP else errno.errorcode.get(code, str(code))
    text = f"{name} ({os.strerror(code)})"
    hint = _HINTS.get((method, code))
    if code == errno.ENOTTY:
        hint = "this kernel or device does not know the ioctl"
    return f"{text}: {hint}" if hint else text


@dataclass(frozen=True)
class PhcOffset:
    """One measurement of a PHC against CLOCK_REALTIME: which method answered, every
    sample it gave, the one with the shortest delay, and why the methods before it did
    not answer (``tried``: (method, outcome) in the order they were tried)."""

    device: str
    method: str
    samples: tuple[OffsetSample, ...]
    best: OffsetSample
    tried: tuple[tuple[str, str], ...]
    clock_name: str | Unread
    system_clock: str = "CLOCK_REALTIME"
    sources: tuple[str, ...] = field(default=())

    @property
    def offset_ns(self) -> int:
        """PHC minus system clock, from the sample with the shortest delay."""
        return self.best.offset_ns

    @property
    def delay_ns(self) -> int:
        return self.best.delay_ns

    def to_json(self) -> dict:
        return {**to_jsonable(self), "offset_ns": self.offset_ns, "delay_ns": self.delay_ns}

    def _repr_html_(self) -> str:
        rows = [[i, s.offset_ns, s.delay_ns, s.phc_ns, s.sys_ns, "best" if s is self.best else ""]
                for i, s in enumerate(self.samples)]
        tried = "; ".join(f"{m}: {o}" for m, o in self.tried)
        note = (f"{self.device} ({self.clock_name}) against {self.system_clock}: offset {self.offset_ns} ns "
                f"(PHC - system), read-out delay {self.delay_ns} ns, by {self.method}. Tried: {tried}")
        return html_table("PHC offset", ["sample", "offset ns", "delay ns", "PHC ns", "system ns", ""], rows, note)


def device_path(device: str) -> str:
    """``/dev/ptp0`` for ``ptp0`` or ``/dev/ptp0``."""
    if not device or "\0" in device:
        raise ValueError(f"not a device: {device!r}")
    return device if device.startswith("/") else f"/dev/{device}"


def _host_path(host: LiveHost, path: str) -> str:
    return path if host.root == "/" else os.path.join(host.root, path.lstrip("/"))


def _open_reason(exc: OSError) -> Reason:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENODEV, errno.ENXIO):
        return Reason.MISSING
    if exc.errno in (errno.EACCES, errno.EPERM):
        return Reason.DENIED
    return Reason.UNSUPPORTED


def _try(fd: int, method: str, samples: int, ioctl: Ioctl) -> tuple[tuple[OffsetSample, ...] | None, str, int]:
    """One method, retried on EBUSY three times as sysoff_probe does: (samples, outcome,
    errno or 0)."""
    n = 1 if method == PRECISE else samples
    attempts = 0
    while True:
        attempts += 1
        buf = encode_request(method, n)
        try:
            ioctl(fd, IOCTLS[method], buf)
        except OSError as exc:
            if exc.errno == errno.EBUSY and attempts < 3:
                continue
            text = _outcome(method, exc) + (", three times" if exc.errno == errno.EBUSY else "")
            return None, text, exc.errno or 0
        try:
            got = decode_answer(method, buf, n)
        except ValueError as exc:
            return None, f"malformed answer: {exc}", 0
        if shortest_delay(got) is None:
            return None, "every sample's system reads went backwards (the system clock was stepped)", 0
        return got, "answered", 0


def measure_phc_offset(device: str, samples: int = 9, host: Host | None = None, *,
                       ioctl: Ioctl | None = None) -> PhcOffset | Unread:
    """The offset of the PHC ``device`` (``/dev/ptp0`` or ``ptp0``) from CLOCK_REALTIME,
    by the first of PRECISE, EXTENDED, SYS_OFFSET that answers, with ``samples`` samples
    (1 to 25; PRECISE takes one cross-timestamp). Only a live host can run ioctls.
    ``ioctl`` replaces the system call (a fake device)."""
    if not 1 <= samples <= PTP_MAX_SAMPLES:
        raise ValueError(f"samples must be 1 to {PTP_MAX_SAMPLES} (PTP_MAX_SAMPLES), got {samples}")
    path = device_path(device)
    host = host if host is not None else open_host(None)
    if not host.is_live or not isinstance(host, LiveHost):
        return Unread(Reason.UNSUPPORTED, path, "a snapshot cannot run ioctls: the PHC offset is a measurement "
                                                "on a live host")
    real = _host_path(host, path)
    name = os.path.basename(os.path.realpath(real))  # /dev/ptp_kvm -> ptp0
    clock_dir = f"{PTP_CLASS}/{name}"
    if not host.isdir(clock_dir):
        if not os.path.lexists(real):
            return Unread(Reason.MISSING, path, "no such device")
        return Unread(Reason.UNSUPPORTED, path, f"not a PTP clock ({clock_dir} is absent)")
    clock_name = host.read(f"{clock_dir}/clock_name")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        return Unread(_open_reason(exc), path, exc.strerror or str(exc))
    try:
        st = os.fstat(fd)
        if stat.S_ISCHR(st.st_mode):
            dev = host.read(f"{clock_dir}/dev")
            numbers = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            if isinstance(dev, str) and dev.strip() != numbers:
                return Unread(Reason.UNSUPPORTED, path,
                              f"device {numbers} is not {name} ({clock_dir}/dev says {dev.strip()})")
        call = ioctl if ioctl is not None else kernel_ioctl
        tried: list[tuple[str, str]] = []
        codes: list[int] = []
        for method in METHODS:
            got, outcome, code = _try(fd, method, samples, call)
            tried.append((method, outcome))
            codes.append(code)
            if got is not None:
                best = shortest_delay(got)
                assert best is not None
                return PhcOffset(device=path, method=method, samples=got, best=best, tried=tuple(tried),
                                 clock_name=clock_name, sources=(path, f"{clock_dir}/clock_name"))
    finally:
        os.close(fd)
    if any(c in (errno.EACCES, errno.EPERM) for c in codes):
        reason = Reason.DENIED
    elif any(c in (errno.ENODEV, errno.ENXIO) for c in codes):
        reason = Reason.MISSING  # the clock went away (driver unbound) while it was read
    else:
        reason = Reason.UNSUPPORTED
    return Unread(reason, path, "no offset ioctl answered: " + "; ".join(f"{m}: {o}" for m, o in tried))


# ---- phc_ctl cmp, for cross-checking --------------------------------------------------

_CMP_LINE = re.compile(r"offset from CLOCK_REALTIME is (approximately )?(-?\d+)\s*ns")


def parse_phc_ctl_cmp(text: str) -> tuple[int, bool, str]:
    """(printed ns, approximate, the line) from ``phc_ctl DEVICE cmp`` output::

        phc_ctl[645639.878]: offset from CLOCK_REALTIME is -37000000008ns

    ``approximately`` marks the clock_gettime fallback phc_ctl uses when no offset ioctl
    answers."""
    for line in text.splitlines():
        m = _CMP_LINE.search(line)
        if m:
            return int(m.group(2)), m.group(1) is not None, line.strip()
    raise ValueError("no 'offset from CLOCK_REALTIME is ...ns' line")


@dataclass(frozen=True)
class PhcCtlCompare:
    """What ``phc_ctl DEVICE cmp`` printed. Its exact line is sysoff.c's offset,
    CLOCK_REALTIME - PHC; ``offset_ns`` turns it into this module's sign (PHC - system).
    The ``approximately`` line comes from clock reads whose sign changed between linuxptp
    releases (3.1 prints PHC - system, later releases system - PHC), so it has no
    ``offset_ns``."""

    device: str
    printed_ns: int
    approximate: bool
    offset_ns: int | Unread
    line: str
    command: str


def phc_ctl_cmp(device: str, host: Host | None = None) -> PhcCtlCompare | Unread:
    """Run ``phc_ctl -q DEVICE cmp`` (linuxptp; it only reads the clocks) and parse it."""
    path = device_path(device)
    host = host if host is not None else open_host(None)
    argv = ["phc_ctl", "-q", path, "cmp"]
    command = " ".join(argv)
    result = host.run(argv)
    if isinstance(result, Unread):
        return result
    assert isinstance(result, CommandResult)
    output = result.stdout + "\n" + result.stderr
    try:
        printed, approximate, line = parse_phc_ctl_cmp(output)
    except ValueError:
        last = next((x.strip() for x in reversed(output.splitlines()) if x.strip()), f"exit {result.returncode}")
        if "No such device" in output or "No such file" in output:
            return Unread(Reason.MISSING, command, last)
        if "Permission denied" in output or "Operation not permitted" in output:
            return Unread(Reason.DENIED, command, last)
        return Unread(Reason.UNSUPPORTED, command, last)
    offset: int | Unread = -printed
    if approximate:
        offset = Unread(Reason.UNSUPPORTED, command, "phc_ctl fell back to clock reads; the sign of that line "
                                                     "differs between linuxptp releases")
    return PhcCtlCompare(device=path, printed_ns=printed, approximate=approximate, offset_ns=offset,
                         line=line, command=command)


# ---- a PHC simulated in user space --------------------------------------------------


def _realtime_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


class FakePhc:
    """A PTP clock for machines without one: an ``ioctl`` that answers the three offset
    requests as drivers/ptp/ptp_chardev.c does, from a model clock (PHC = system clock +
    ``offset_ns``). ``clock`` gives the system time of each read (CLOCK_REALTIME by
    default; a counter makes the answers exact). ``refuse`` maps a method to the errno
    it answers with (EOPNOTSUPP for a driver without cross-timestamps). Every request is
    recorded in ``calls`` as (method name, request number)."""

    def __init__(self, offset_ns: int = 37 * NSEC_PER_SEC, *, refuse: dict[str, int] | None = None,
                 clock: Callable[[], int] | None = None):
        self.offset_ns = offset_ns
        self.refuse = dict(refuse or {})
        self.clock = clock or _realtime_ns
        self.calls: list[tuple[str, int]] = []
        self._names = {number: name for name, number in IOCTLS.items()}

    @staticmethod
    def _put(buf: bytearray, offset: int, ns: int) -> None:
        sec, nsec = divmod(ns, NSEC_PER_SEC)
        CLOCK_TIME.pack_into(buf, offset, sec, nsec, 0)

    def __call__(self, fd: int, request: int, buf: bytearray) -> None:
        name = self._names.get(request, hex(request))
        self.calls.append((name, request))
        method = name[:-1] if name.endswith("2") else name
        if method not in METHODS:
            raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))
        if len(buf) != STRUCT_SIZE[method]:
            raise OSError(errno.EFAULT, os.strerror(errno.EFAULT))
        if method in self.refuse:
            code = self.refuse[method]
            raise OSError(code, os.strerror(code))
        if method == PRECISE:
            now = self.clock()
            self._put(buf, 0, now + self.offset_ns)
            self._put(buf, 16, now)
            self._put(buf, 32, now)  # sys_monoraw: the model has one system clock
            return
        n_samples, word1, rsv1, rsv2 = struct.unpack_from("=Ii2I", buf, 0)
        if n_samples > PTP_MAX_SAMPLES:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        if method == EXTENDED:
            if rsv1 or rsv2 or word1 not in (0, 1, 4):  # REALTIME, MONOTONIC, MONOTONIC_RAW
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            for i in range(n_samples):
                base = _HEAD + 48 * i
                self._put(buf, base, self.clock())
                self._put(buf, base + 16, self.clock() + self.offset_ns)
                self._put(buf, base + 32, self.clock())
            return
        for i in range(n_samples):
            self._put(buf, _HEAD + 32 * i, self.clock())
            self._put(buf, _HEAD + 32 * i + 16, self.clock() + self.offset_ns)
        self._put(buf, _HEAD + 32 * n_samples, self.clock())


def fake_root(directory: str | os.PathLike, name: str = "ptp0", clock_name: str = "fake PHC") -> LiveHost:
    """A live host rooted at ``directory`` that has one PTP clock: ``dev/NAME`` (a plain
    file; only a :class:`FakePhc` answers its ioctls) and ``sys/class/ptp/NAME``."""
    root = Path(directory)
    (root / "dev").mkdir(parents=True, exist_ok=True)
    (root / "dev" / name).touch()
    clock = root / PTP_CLASS.lstrip("/") / name
    clock.mkdir(parents=True, exist_ok=True)
    (clock / "clock_name").write_text(clock_name + "\n")
    return LiveHost(root=str(root))


def bench_readout(n: int = 2000, samples: int = 9, out=None) -> dict[str, dict[str, float]]:
    """The cost of a read-out on the fake device, per method: a whole measurement (open,
    sysfs reads, the ioctls, decoding, the pick), one read-out on an open device (request,
    the fake's ioctl, decoding, the pick) and, per sample, the decoding and pick alone
    (this module's own share: the fake fills its answers in Python, a real device fills
    them in the kernel, adding its driver's register reads instead)."""
    out = out or sys.stdout
    scenarios: dict[str, dict[str, int]] = {
        PRECISE: {},
        EXTENDED: {PRECISE: errno.EOPNOTSUPP},
        BASIC: {PRECISE: errno.EOPNOTSUPP, EXTENDED: errno.EOPNOTSUPP},
    }
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="hftinfra-phc-") as tmp:
        host = fake_root(tmp)
        for method, refuse in scenarios.items():
            fake = FakePhc(refuse=refuse)
            per_call = 1 if method == PRECISE else samples
            t0 = time.perf_counter_ns()
            for _ in range(n):
                got = measure_phc_offset("ptp0", samples, host, ioctl=fake)
            call_ns = (time.perf_counter_ns() - t0) / n
            assert isinstance(got, PhcOffset) and got.method == method, got
            fd = os.open(os.path.join(tmp, "dev", "ptp0"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                t0 = time.perf_counter_ns()
                for _ in range(n):
                    _try(fd, method, samples, fake)
                read_ns = (time.perf_counter_ns() - t0) / n
                answer = encode_request(method, per_call)
                fake(fd, IOCTLS[method], answer)
            finally:
                os.close(fd)
            t0 = time.perf_counter_ns()
            for _ in range(n):
                shortest_delay(decode_answer(method, answer, per_call))
            decode_ns = (time.perf_counter_ns() - t0) / n
            figures[method] = {"samples_per_call": per_call, "call_us": call_ns / 1000, "read_us": read_ns / 1000,
                               "read_per_sample_us": read_ns / per_call / 1000,
                               "decode_per_sample_us": decode_ns / per_call / 1000}
            print(f"{method:<24} {per_call:>2} sample(s): measurement {call_ns / 1000:7.1f} us"
                  + (f" (after {len(refuse)} refused)" if refuse else "")
                  + f"; read-out {read_ns / 1000:6.1f} us = {read_ns / per_call / 1000:5.2f} us a sample, "
                  f"of which decoding {decode_ns / per_call / 1000:5.2f} us", file=out)
    return figures


__all__ = ["BASIC", "EXTENDED", "FakePhc", "GENERIC_IOC", "IOCTLS", "IocLayout", "METHODS", "OffsetSample",
           "PARISC_IOC", "PRECISE", "PTP_CLK_MAGIC", "PTP_MAX_SAMPLES", "PhcCtlCompare", "PhcOffset",
           "STRUCT_SIZE", "THREE_BIT_IOC", "bench_readout", "decode_answer", "device_path", "encode_request",
           "fake_root", "ioc_layout", "kernel_ioctl", "measure_phc_offset", "parse_phc_ctl_cmp", "phc_ctl_cmp",
           "ptp_offset_ioctls", "shortest_delay"]


if __name__ == "__main__":
    bench_readout()
