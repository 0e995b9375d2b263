"""The PHC offset measurement: struct layouts and ioctl numbers against the kernel header,
the PRECISE -> EXTENDED -> SYS_OFFSET fallback against fake devices whose answers are
packed here by hand, the shortest-delay pick, devices that are absent or not PTP clocks,
snapshots refused, the real kernel refusing the ioctls on a plain file, and, where a PHC
exists, the live clock against ``phc_ctl cmp``."""

from __future__ import annotations

import errno
import fcntl
import glob
import io
import itertools
import os
import re
import shutil
import struct
import subprocess
import time

import pytest

from hftinfra.host import CommandResult, LiveHost, Reason, Unread, open_host
from hftinfra.measure import phc
from hftinfra.measure.phc import (
    BASIC,
    EXTENDED,
    GENERIC_IOC,
    IOCTLS,
    PARISC_IOC,
    PRECISE,
    THREE_BIT_IOC,
    FakePhc,
    OffsetSample,
    PhcOffset,
    fake_root,
    measure_phc_offset,
    parse_phc_ctl_cmp,
    phc_ctl_cmp,
    shortest_delay,
)

# include/uapi/linux/ptp_clock.h (Linux 6.12 and later; the structs and numbers are the
# same since the "2" ioctls were added), the lines these tests hold the module to:
HEADER = """
#define PTP_MAX_SAMPLES 25 /* Maximum allowed offset measurement samples. */
#define PTP_CLK_MAGIC '='
#define PTP_SYS_OFFSET     _IOW(PTP_CLK_MAGIC, 5, struct ptp_sys_offset)
#define PTP_SYS_OFFSET_PRECISE \\
	_IOWR(PTP_CLK_MAGIC, 8, struct ptp_sys_offset_precise)
#define PTP_SYS_OFFSET_EXTENDED \\
	_IOWR(PTP_CLK_MAGIC, 9, struct ptp_sys_offset_extended)
#define PTP_SYS_OFFSET2     _IOW(PTP_CLK_MAGIC, 14, struct ptp_sys_offset)
#define PTP_SYS_OFFSET_PRECISE2 \\
	_IOWR(PTP_CLK_MAGIC, 17, struct ptp_sys_offset_precise)
#define PTP_SYS_OFFSET_EXTENDED2 \\
	_IOWR(PTP_CLK_MAGIC, 18, struct ptp_sys_offset_extended)
"""
# struct ptp_clock_time {__s64 sec; __u32 nsec; __u32 reserved;}                  16 bytes
# struct ptp_sys_offset {unsigned int n_samples; unsigned int rsv[3];
#                        struct ptp_clock_time ts[2 * PTP_MAX_SAMPLES + 1];}     16 + 51 * 16
# struct ptp_sys_offset_extended {unsigned int n_samples; __kernel_clockid_t clockid;
#                        unsigned int rsv[2]; struct ptp_clock_time ts[PTP_MAX_SAMPLES][3];}  16 + 75 * 16
# struct ptp_sys_offset_precise {struct ptp_clock_time device, sys_realtime, sys_monoraw;
#                        unsigned int rsv[4];}                                      3 * 16 + 16
SIZES = {"ptp_sys_offset": 832, "ptp_sys_offset_extended": 1216, "ptp_sys_offset_precise": 64}
# The numbers on x86, arm64, riscv, s390 (include/uapi/asm-generic/ioctl.h: dir << 30 |
# size << 16 | type << 8 | nr, _IOC_WRITE 1, _IOC_READ 2).
GENERIC_NUMBERS = {
    "PTP_SYS_OFFSET": 0x43403D05,
    "PTP_SYS_OFFSET_PRECISE": 0xC0403D08,
    "PTP_SYS_OFFSET_EXTENDED": 0xC4C03D09,
    "PTP_SYS_OFFSET2": 0x43403D0E,
    "PTP_SYS_OFFSET_PRECISE2": 0xC0403D11,
    "PTP_SYS_OFFSET_EXTENDED2": 0xC4C03D12,
}
# arch/{powerpc,mips,sparc,alpha}/include/uapi/asm/ioctl.h: 13 size bits, _IOC_WRITE 4 at
# bit 29; arch/parisc: _IOC_WRITE 2 at bit 30. Only the _IOW numbers change.
WRITE_ONLY_ELSEWHERE = {"PTP_SYS_OFFSET": 0x83403D05, "PTP_SYS_OFFSET2": 0x83403D0E}


def _ioc_from_header(text: str, write: int, read: int, size_bits: int) -> dict[str, int]:
    """The numbers the header's _IOW/_IOWR lines define, encoded independently of the module."""
    out = {}
    joined = text.replace("\\\n", " ")
    for name, kind, nr, struct_name in re.findall(r"#define (\w+)\s+(_IOWR?)\(PTP_CLK_MAGIC, (\d+), struct (\w+)\)",
                                                  joined):
        direction = write | read if kind == "_IOWR" else write
        out[name] = direction << (16 + size_bits) | SIZES[struct_name] << 16 | ord("=") << 8 | int(nr)
    return out


def test_struct_sizes_are_the_headers():
    assert phc.PTP_MAX_SAMPLES == int(re.search(r"PTP_MAX_SAMPLES (\d+)", HEADER).group(1)) == 25
    assert phc.CLOCK_TIME.size == 16
    assert phc.STRUCT_SIZE == {BASIC: SIZES["ptp_sys_offset"], EXTENDED: SIZES["ptp_sys_offset_extended"],
                               PRECISE: SIZES["ptp_sys_offset_precise"]}
    assert 16 + (2 * 25 + 1) * 16 == 832 and 16 + 25 * 3 * 16 == 1216 and 3 * 16 + 4 * 4 == 64


def test_ioctl_numbers_are_the_headers():
    from_header = _ioc_from_header(HEADER, write=1, read=2, size_bits=14)
    assert from_header == GENERIC_NUMBERS
    assert phc.ptp_offset_ioctls(GENERIC_IOC) == GENERIC_NUMBERS
    assert phc.PTP_CLK_MAGIC == ord("=") == 0x3D
    for layout in (THREE_BIT_IOC, PARISC_IOC):
        numbers = phc.ptp_offset_ioctls(layout)
        for name, number in numbers.items():
            assert number == WRITE_ONLY_ELSEWHERE.get(name, GENERIC_NUMBERS[name]), (layout.name, name)
    assert _ioc_from_header(HEADER, write=4, read=2, size_bits=13) == phc.ptp_offset_ioctls(THREE_BIT_IOC)
    assert phc.ioc_layout("x86_64") is GENERIC_IOC and phc.ioc_layout("aarch64") is GENERIC_IOC
    assert phc.ioc_layout("ppc64le") is THREE_BIT_IOC and phc.ioc_layout("mips64") is THREE_BIT_IOC
    assert phc.ioc_layout("parisc64") is PARISC_IOC


def test_the_installed_header_compiles_to_the_same_numbers(tmp_path):
    header = "/usr/include/linux/ptp_clock.h"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not os.path.exists(header):
        pytest.skip("needs a C compiler and the kernel's uapi headers (linux-libc-dev)")
    source = tmp_path / "ptp.c"
    names = [n for n in GENERIC_NUMBERS if re.search(rf"#define {n}\b", open(header).read())]
    source.write_text("#include <stdio.h>\n#include <linux/ptp_clock.h>\nint main(void) {\n"
                      'printf("%zu %zu %zu %zu\\n", sizeof(struct ptp_clock_time), sizeof(struct ptp_sys_offset),'
                      " sizeof(struct ptp_sys_offset_extended), sizeof(struct ptp_sys_offset_precise));\n"
                      + "".join(f'printf("{n} %lu\\n", (unsigned long){n});\n' for n in names)
                      + "return 0;\n}\n")
    subprocess.run([cc, "-o", str(tmp_path / "ptp"), str(source)], check=True, capture_output=True)
    lines = subprocess.run([str(tmp_path / "ptp")], check=True, capture_output=True, text=True).stdout.splitlines()
    assert [int(x) for x in lines[0].split()] == [16, 832, 1216, 64]
    compiled = {name: int(value) for name, value in (line.split() for line in lines[1:])}
    assert names and compiled == {n: IOCTLS[n] for n in names}


# ---- fake devices, their answers packed by hand at the header's offsets ----------------

NS = 1_000_000_000


def _put(buf: bytearray, offset: int, ns: int) -> None:
    struct.pack_into("=qI", buf, offset, ns // NS, ns % NS)


class Device:
    """An ioctl that answers each method with given timestamps or an errno, records what
    it was asked, and checks the file it was given is open read-only."""

    def __init__(self, answers: dict):
        self.answers = answers  # method -> errno, or a list of errnos then a fill, or a fill
        self.asked: list[tuple[str, int, bytes]] = []
        self.names = {v: k for k, v in IOCTLS.items()}

    def __call__(self, fd, request, buf):
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
        method = self.names[request]
        self.asked.append((method, request, bytes(buf)))
        answer = self.answers.get(method, errno.ENOTTY)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, int):
            raise OSError(answer, os.strerror(answer))
        answer(buf)


def precise(device_ns: int, realtime_ns: int):
    def fill(buf):
        _put(buf, 0, device_ns)  # struct ptp_clock_time device
        _put(buf, 16, realtime_ns)  # sys_realtime
        _put(buf, 32, 5)  # sys_monoraw
    return fill


def extended(triples):
    def fill(buf):
        for i, (t1, tp, t2) in enumerate(triples):  # ts[i][0..2] from byte 16
            for k, ns in enumerate((t1, tp, t2)):
                _put(buf, 16 + (3 * i + k) * 16, ns)
    return fill


def interleaved(stamps):
    def fill(buf):
        for i, ns in enumerate(stamps):  # ts[0..2n] from byte 16
            _put(buf, 16 + 16 * i, ns)
    return fill


@pytest.fixture
def host(tmp_path):
    return fake_root(tmp_path / "root", clock_name="ice-0000:3b:00.0-clock")


T0 = 1_790_000_000 * NS  # a CLOCK_REALTIME in 2026


def test_precise_answers(host):
    dev = Device({PRECISE: precise(T0 + 37 * NS + 120, T0)})
    got = measure_phc_offset("ptp0", host=host, ioctl=dev)
    assert isinstance(got, PhcOffset)
    assert got.method == PRECISE and got.tried == ((PRECISE, "answered"),)
    assert got.samples == (OffsetSample(offset_ns=37 * NS + 120, delay_ns=0, phc_ns=T0 + 37 * NS + 120, sys_ns=T0),)
    assert got.best == got.samples[0] and got.offset_ns == 37 * NS + 120 and got.delay_ns == 0
    assert got.clock_name == "ice-0000:3b:00.0-clock" and got.device == "/dev/ptp0"
    # One ioctl, the original number (an _IOWR, the same on every architecture), a zeroed
    # 64-byte struct.
    assert [(m, r, len(b), set(b)) for m, r, b in dev.asked] == [(PRECISE, 0xC0403D08, 64, {0})]


def test_precise_unsupported_falls_back_to_extended(host):
    # Delays 900, 300, 300, 2000 ns: the first 300 ns sample is the estimate.
    triples = [(T0, T0 + 450 + 5000, T0 + 900),
               (T0 + 10_000, T0 + 10_000 + 150 + 5000 + 7, T0 + 10_300),
               (T0 + 20_000, T0 + 20_000 + 150 + 5000 - 3, T0 + 20_300),
               (T0 + 30_000, T0 + 30_000 + 1000 + 5000, T0 + 32_000)]
    dev = Device({PRECISE: errno.EOPNOTSUPP, EXTENDED: extended(triples)})
    got = measure_phc_offset("/dev/ptp0", samples=4, host=host, ioctl=dev)
    assert got.method == EXTENDED
    assert got.tried[0][0] == PRECISE and got.tried[0][1].startswith("EOPNOTSUPP")
    assert "cross-timestamps" in got.tried[0][1] and got.tried[1] == (EXTENDED, "answered")
    assert [s.delay_ns for s in got.samples] == [900, 300, 300, 2000]
    assert [s.offset_ns for s in got.samples] == [5000, 5007, 4997, 5000]
    assert got.best is got.samples[1] and got.offset_ns == 5007 and got.delay_ns == 300
    assert got.best.sys_ns == T0 + 10_150 and got.best.phc_ns == T0 + 15_157
    # The request: n_samples 4, clockid 0 (CLOCK_REALTIME), reserved words zero, 1,216 bytes.
    method, request, sent = dev.asked[1]
    assert method == EXTENDED and request == IOCTLS[EXTENDED] and len(sent) == 1216
    assert struct.unpack_from("=Ii2I", sent) == (4, 0, 0, 0) and set(sent[16:]) == {0}


def test_both_failing_falls_back_to_sys_offset(host):
    # An old kernel: no PRECISE in the driver, EXTENDED unknown to the kernel (ENOTTY).
    stamps = [T0, T0 + 800 + 42, T0 + 1600, T0 + 1600 + 250 + 42, T0 + 2100]
    dev = Device({PRECISE: errno.EOPNOTSUPP, EXTENDED: errno.ENOTTY, BASIC: interleaved(stamps)})
    got = measure_phc_offset("ptp0", samples=2, host=host, ioctl=dev)
    assert got.method == BASIC and [m for m, _ in got.tried] == [PRECISE, EXTENDED, BASIC]
    assert got.tried[1][1].startswith("ENOTTY") and got.tried[2] == (BASIC, "answered")
    # Sample i: ts[2i], ts[2i+1], ts[2i+2].
    assert [(s.offset_ns, s.delay_ns) for s in got.samples] == [(42, 1600), (42, 500)]
    assert got.best is got.samples[1]
    sent = dev.asked[2][2]
    assert len(sent) == 832 and struct.unpack_from("=4I", sent) == (2, 0, 0, 0)


def test_all_failing_is_unread_with_each_reason(host):
    dev = Device({PRECISE: errno.EOPNOTSUPP, EXTENDED: errno.EOPNOTSUPP, BASIC: errno.EIO})
    got = measure_phc_offset("ptp0", host=host, ioctl=dev)
    assert isinstance(got, Unread) and got.reason is Reason.UNSUPPORTED and got.source == "/dev/ptp0"
    for method, code in ((PRECISE, "EOPNOTSUPP"), (EXTENDED, "EOPNOTSUPP"), (BASIC, "EIO")):
        assert f"{method}: {code} (" in got.detail
    assert "gettimex64" in got.detail
    denied = measure_phc_offset("ptp0", host=host, ioctl=Device({PRECISE: errno.EACCES, EXTENDED: errno.EACCES,
                                                                  BASIC: errno.EACCES}))
    assert denied.reason is Reason.DENIED
    gone = measure_phc_offset("ptp0", host=host, ioctl=Device({BASIC: errno.ENODEV}))
    assert gone.reason is Reason.MISSING and "ENOTTY" in gone.detail and "ENODEV" in gone.detail


def test_busy_is_retried_three_times(host):
    answer = precise(T0 + 10, T0)
    dev = Device({PRECISE: [errno.EBUSY, errno.EBUSY, answer]})
    got = measure_phc_offset("ptp0", host=host, ioctl=dev)
    assert got.method == PRECISE and [m for m, _, _ in dev.asked] == [PRECISE] * 3
    dev = Device({PRECISE: [errno.EBUSY], EXTENDED: extended([(T0, T0 + 5, T0 + 10)])})
    got = measure_phc_offset("ptp0", samples=1, host=host, ioctl=dev)
    assert got.method == EXTENDED and "EBUSY" in got.tried[0][1] and "three times" in got.tried[0][1]
    assert [m for m, _, _ in dev.asked] == [PRECISE] * 3 + [EXTENDED]


def test_a_malformed_answer_moves_on(host):
    def bad(buf):
        struct.pack_into("=qI", buf, 0, 1, NS)  # nsec 10^9
    dev = Device({PRECISE: bad, EXTENDED: extended([(T0, T0 + 5, T0 + 10)])})
    got = measure_phc_offset("ptp0", samples=1, host=host, ioctl=dev)
    assert got.method == EXTENDED and got.tried[0][1].startswith("malformed answer")


def test_shortest_delay_pick():
    a, b, c = OffsetSample(1, 500, 0, 0), OffsetSample(2, 200, 0, 0), OffsetSample(3, 200, 0, 0)
    assert shortest_delay((a, b, c)) is b  # the first of equals, as sysoff.c keeps it
    stepped = OffsetSample(9, -40, 0, 0)  # CLOCK_REALTIME stepped back between the reads
    assert shortest_delay((a, stepped)) is a
    assert shortest_delay((stepped,)) is None


def test_every_sample_stepped_moves_on(host):
    dev = Device({PRECISE: errno.EOPNOTSUPP, EXTENDED: extended([(T0 + 100, T0 + 50, T0)]),
                  BASIC: interleaved([T0, T0 + 5, T0 + 10])})
    got = measure_phc_offset("ptp0", samples=1, host=host, ioctl=dev)
    assert got.method == BASIC and "backwards" in got.tried[1][1]


def test_samples_must_fit_the_kernels_limit(host):
    for n in (0, 26):
        with pytest.raises(ValueError):
            measure_phc_offset("ptp0", samples=n, host=host, ioctl=Device({}))


def test_no_device_is_missing(tmp_path):
    got = measure_phc_offset("ptp3", host=LiveHost(root=str(tmp_path)), ioctl=Device({}))
    assert isinstance(got, Unread) and got.reason is Reason.MISSING and got.source == "/dev/ptp3"


def test_a_device_that_is_not_a_ptp_clock(tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "ttyS0").touch()
    dev = Device({})
    got = measure_phc_offset("/dev/ttyS0", host=LiveHost(root=str(tmp_path)), ioctl=dev)
    assert got.reason is Reason.UNSUPPORTED and "/sys/class/ptp/ttyS0" in got.detail and dev.asked == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_a_character_device_that_is_not_the_clock(tmp_path):
    host = fake_root(tmp_path)
    (tmp_path / "dev" / "ptp0").unlink()
    os.mknod(tmp_path / "dev" / "ptp0", 0o600 | 0o020000, os.makedev(1, 3))  # /dev/null's numbers
    (tmp_path / "sys/class/ptp/ptp0/dev").write_text("246:0\n")
    dev = Device({})
    got = measure_phc_offset("ptp0", host=host, ioctl=dev)
    assert got.reason is Reason.UNSUPPORTED and "1:3" in got.detail and "246:0" in got.detail and dev.asked == []


def test_a_symlinked_device_uses_its_clocks_sysfs(tmp_path):
    host = fake_root(tmp_path, clock_name="ptp_kvm")
    os.symlink("ptp0", tmp_path / "dev" / "ptp_kvm")
    got = measure_phc_offset("ptp_kvm", host=host, ioctl=Device({PRECISE: precise(T0 + 1, T0)}))
    assert got.clock_name == "ptp_kvm" and got.device == "/dev/ptp_kvm" and got.offset_ns == 1


def test_a_snapshot_cannot_measure(tmp_path):
    (tmp_path / "snap" / "proc").mkdir(parents=True)
    got = measure_phc_offset("ptp0", host=open_host(tmp_path / "snap"), ioctl=Device({}))
    assert isinstance(got, Unread) and got.reason is Reason.UNSUPPORTED and "live host" in got.detail


def test_the_real_kernel_refuses_the_ioctls_on_a_plain_file(host):
    # No PHC here: the real ioctl(2) on the fake root's plain file answers ENOTTY for each
    # number, which also shows fcntl.ioctl takes the unsigned 32-bit numbers as they are.
    got = measure_phc_offset("ptp0", host=host)
    assert isinstance(got, Unread) and got.reason is Reason.UNSUPPORTED
    assert got.detail.count("ENOTTY") == 3


def test_fake_phc_answers_like_the_kernel(host):
    ticks = itertools.count(T0, 100)  # each system or PHC read 100 ns after the last
    fake = FakePhc(offset_ns=-2500, refuse={PRECISE: errno.EOPNOTSUPP}, clock=lambda: next(ticks))
    got = measure_phc_offset("ptp0", samples=25, host=host, ioctl=fake)
    assert got.method == EXTENDED and len(got.samples) == 25
    assert {(s.offset_ns, s.delay_ns) for s in got.samples} == {(-2500, 200)}
    assert [name for name, _ in fake.calls] == [PRECISE, EXTENDED]
    buf = phc.encode_request(EXTENDED, 26)
    with pytest.raises(OSError) as exc:
        fake(0, IOCTLS[EXTENDED], buf)
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(OSError) as exc:
        fake(0, 0x80083D01, bytearray(8))  # not an offset ioctl
    assert exc.value.errno == errno.ENOTTY
    basic = FakePhc(offset_ns=7, refuse={PRECISE: errno.EOPNOTSUPP, EXTENDED: errno.EOPNOTSUPP},
                    clock=lambda: next(ticks))
    got = measure_phc_offset("ptp0", samples=3, host=host, ioctl=basic)
    assert got.method == BASIC and {(s.offset_ns, s.delay_ns) for s in got.samples} == {(7, 200)}


def test_record_renders_and_serialises(host):
    dev = Device({PRECISE: errno.EOPNOTSUPP, EXTENDED: extended([(T0, T0 + 60, T0 + 100), (T0, T0 + 40, T0 + 80)])})
    got = measure_phc_offset("ptp0", samples=2, host=host, ioctl=dev)
    data = got.to_json()
    assert data["method"] == EXTENDED and data["offset_ns"] == 0 and data["delay_ns"] == 80
    assert data["tried"][0][0] == PRECISE and len(data["samples"]) == 2 and data["best"] == data["samples"][1]
    html = got._repr_html_()
    assert "PHC offset" in html and "EOPNOTSUPP" in html and "best" in html
    unread = measure_phc_offset("ptp9", host=host).to_json()
    assert unread["unknown"] == "missing"


# ---- phc_ctl cmp --------------------------------------------------------------------


def test_parse_phc_ctl_cmp():
    assert parse_phc_ctl_cmp("phc_ctl[645639.878]: offset from CLOCK_REALTIME is -37000000008ns\n") == (
        -37000000008, False, "phc_ctl[645639.878]: offset from CLOCK_REALTIME is -37000000008ns")
    printed, approximate, _ = parse_phc_ctl_cmp("phc_ctl[1.2]: offset from CLOCK_REALTIME is approximately 512ns")
    assert (printed, approximate) == (512, True)
    with pytest.raises(ValueError):
        parse_phc_ctl_cmp("phc_ctl[10225.657]: unknown clock /dev/ptp0: No such device\n")


class Replies(LiveHost):
    """A live host whose commands answer with given output."""

    def __init__(self, stdout="", stderr="", returncode=0):
        super().__init__()
        self.reply = (returncode, stdout, stderr)
        self.argv = None

    def run(self, argv, timeout=10.0):
        self.argv = tuple(argv)
        return CommandResult(self.argv, *self.reply)


def test_phc_ctl_cmp_turns_the_sign():
    host = Replies("phc_ctl[645639.878]: offset from CLOCK_REALTIME is -37000000008ns\n")
    got = phc_ctl_cmp("ptp0", host)
    assert host.argv == ("phc_ctl", "-q", "/dev/ptp0", "cmp")
    assert got.printed_ns == -37000000008 and got.offset_ns == 37000000008 and not got.approximate
    rough = phc_ctl_cmp("ptp0", Replies("phc_ctl[1.2]: offset from CLOCK_REALTIME is approximately 512ns\n"))
    assert rough.approximate and isinstance(rough.offset_ns, Unread)
    missing = phc_ctl_cmp("ptp0", Replies(stderr="phc_ctl[10225.657]: unknown clock /dev/ptp0: No such device\n",
                                          returncode=255))
    assert isinstance(missing, Unread) and missing.reason is Reason.MISSING and "unknown clock" in missing.detail


def test_phc_ctl_cmp_on_this_host():
    got = phc_ctl_cmp("ptp0")
    if shutil.which("phc_ctl") is None:
        assert isinstance(got, Unread) and "not installed" in got.detail
    elif not os.path.exists("/dev/ptp0"):
        assert isinstance(got, Unread) and got.reason is Reason.MISSING
    else:
        assert isinstance(got, Unread) or isinstance(got.printed_ns, int)


# ---- the benchmark and the live clock -------------------------------------------------


def test_bench_readout_prints_its_figures():
    out = io.StringIO()
    figures = phc.bench_readout(20, out=out)
    assert set(figures) == {PRECISE, EXTENDED, BASIC}
    assert figures[PRECISE]["samples_per_call"] == 1 and figures[BASIC]["samples_per_call"] == 9
    assert all(f["call_us"] > f["read_us"] > 0 and f["decode_per_sample_us"] > 0 for f in figures.values())
    assert out.getvalue().count("us a sample") == 3


@pytest.mark.live
def test_live_phc_against_phc_ctl():
    devices = sorted(glob.glob("/dev/ptp[0-9]*"))
    if not devices:
        pytest.skip("no /dev/ptp* on this machine")
    if shutil.which("phc_ctl") is None:
        pytest.skip("phc_ctl (linuxptp) is not installed")
    for device in devices:
        t0 = time.monotonic()
        ours = measure_phc_offset(device)
        theirs = phc_ctl_cmp(device)
        elapsed_s = time.monotonic() - t0
        if isinstance(ours, Unread):
            assert ours.reason in (Reason.DENIED, Reason.UNSUPPORTED), ours
            continue
        assert ours.method in (PRECISE, EXTENDED, BASIC) and ours.best in ours.samples
        assert ours.best.delay_ns >= 0
        if isinstance(theirs, Unread) or isinstance(theirs.offset_ns, Unread):
            continue
        # Both read the same clocks a moment apart: they agree within the read-out delays
        # plus what a 500 ppm frequency difference adds over the time between them.
        slack_ns = 2 * ours.delay_ns + 2_000 + 500e-6 * elapsed_s * 1e9
        assert abs(ours.offset_ns - theirs.offset_ns) <= slack_ns, (device, ours.offset_ns, theirs.line)
