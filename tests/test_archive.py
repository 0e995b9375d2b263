"""The snapshot archive reader against archives that Python's tarfile and GNU tar write, in
every header format, and against damage."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tarfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra import archive

LONG = "sys/devices/pci0000:00/0000:00:03.0/0000:03:00.0/" + "x" * 120 + "/numa_node"


def _tar(fmt: int, entries: list[tuple[str, str, bytes | str]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for kind, name, payload in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_700_000_000
            if kind == "file":
                ti.size = len(payload)
                tar.addfile(ti, io.BytesIO(payload))
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = payload
                tar.addfile(ti)
            elif kind == "lnk":
                ti.type = tarfile.LNKTYPE
                ti.linkname = payload
                tar.addfile(ti)
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
                tar.addfile(ti)
    return buf.getvalue()


ENTRIES = [
    ("dir", "proc", b""),
    ("file", "proc/cmdline", b"BOOT_IMAGE=/vmlinuz isolcpus=2-7\n"),
    ("file", "proc/empty", b""),
    ("file", "proc/block", b"x" * 512),
    ("file", "proc/big", bytes(range(256)) * 40),
    ("sym", "proc/self", "42"),
    ("file", LONG, b"1\n"),
    ("sym", "sys/class/net/eth0", "../../devices/" + "y" * 150),
    ("file", "etc/h\u00f6stname", b"caf\xc3\xa9\n"),
]


def _expected(entries):
    out = []
    for kind, name, payload in entries:
        if kind == "file":
            out.append(("file", name, payload, ""))
        elif kind == "dir":
            out.append(("dir", name, b"", ""))
        elif kind == "sym":
            out.append(("symlink", name, b"", payload))
    return out


def _read(tar_bytes: bytes):
    return [(m.kind, m.name.rstrip("/"), m.data, m.linkname) for m in archive.members(tar_bytes)]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT], ids=["pax", "gnu"])
def test_every_member_as_tarfile_wrote_it(fmt):
    assert _read(_tar(fmt, ENTRIES)) == _expected(ENTRIES)


def test_ustar_prefix_joins_the_name():
    # ustar splits a long path at a slash: prefix (155) + name (100).
    name = "sys/" + "d" * 90 + "/" + "f" * 60
    tar = _tar(tarfile.USTAR_FORMAT, [("file", name, b"v\n")])
    assert tar[345:349] == b"sys/"  # the prefix field really is used
    assert _read(tar) == [("file", name, b"v\n", "")]


def test_gnu_tar_archive_with_long_names(tmp_path):
    if shutil.which("tar") is None:
        pytest.skip("GNU tar not installed")
    root = tmp_path / "root"
    deep = root / "sys" / ("n" * 110) / ("m" * 110)
    deep.mkdir(parents=True)
    (deep / "value").write_bytes(b"42\n")
    (root / "proc").mkdir()
    (root / "proc" / "self").symlink_to("1" * 120)
    for fmt in ("gnu", "posix", "oldgnu"):
        out = tmp_path / f"{fmt}.tar.gz"
        subprocess.run(["tar", "-C", str(root), f"--format={fmt}", "-czf", str(out), "."], check=True)
        got = {m.name.removeprefix("./").rstrip("/"): m for m in archive.members(
            archive.gunzip(out.read_bytes(), 1 << 30))}
        assert got[f"sys/{'n' * 110}/{'m' * 110}/value"].data == b"42\n", fmt
        assert got["proc/self"].linkname == "1" * 120, fmt
        assert got["proc/self"].kind == archive.SYMLINK


def test_hard_links_and_fifos_are_reported_as_such():
    kinds = [m.kind for m in archive.members(_tar(tarfile.PAX_FORMAT, [
        ("file", "a", b"1"), ("lnk", "b", "a"), ("fifo", "c", b"")]))]
    assert kinds == [archive.REGULAR, archive.HARDLINK, archive.SPECIAL]


def test_concatenated_gzip_members_are_one_stream():
    tar = _tar(tarfile.PAX_FORMAT, ENTRIES)
    half = len(tar) // 2
    blob = gzip.compress(tar[:half]) + gzip.compress(tar[half:])
    assert archive.gunzip(blob, 1 << 30) == tar


def test_gunzip_refuses_damage_and_size():
    tar = _tar(tarfile.PAX_FORMAT, ENTRIES)
    blob = gzip.compress(tar, mtime=0)
    with pytest.raises(archive.ArchiveError, match="truncated"):
        archive.gunzip(blob[:-20], 1 << 30)
    crc = bytearray(blob)
    crc[-6] ^= 0xFF
    with pytest.raises(zlib.error):
        archive.gunzip(bytes(crc), 1 << 30)
    with pytest.raises(archive.ArchiveError, match="more than"):
        archive.gunzip(blob, len(tar) - 1)
    assert archive.gunzip(blob + b"\x00" * 100, 1 << 30) == tar  # padding after the last member


def test_a_damaged_header_anywhere_is_an_error():
    tar = bytearray(_tar(tarfile.PAX_FORMAT, ENTRIES))
    offsets = [i for i in range(0, len(tar), 512) if tar[i + 257:i + 262] == b"ustar"]
    assert len(offsets) > 3
    for off in (offsets[0], offsets[-1]):
        bad = bytearray(tar)
        bad[off + 10] ^= 0x01
        with pytest.raises(archive.ArchiveError, match="bad checksum"):
            list(archive.members(bytes(bad)))


def test_truncated_data_is_an_error():
    tar = _tar(tarfile.PAX_FORMAT, [("file", "proc/big", b"z" * 5000)])
    with pytest.raises(archive.ArchiveError, match="truncated"):
        list(archive.members(tar[:2048]))


def test_base256_size():
    header = bytearray(_tar(tarfile.GNU_FORMAT, [("file", "f", b"abc")])[:1024])
    header[124:136] = b"\x80" + (3).to_bytes(11, "big")
    header[148:156] = b" " * 8
    header[148:155] = b"%06o\x00" % sum(header[:512])
    assert [m.data for m in archive.members(bytes(header) + bytes(1024))] == [b"abc"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash(blob):
    try:
        list(archive.members(blob))
    except archive.ArchiveError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text("abc/\u00e9_-.", min_size=1, max_size=300).filter(
    lambda s: not s.startswith("/") and "//" not in s and not s.endswith("/") and s not in (".", "..")),
    st.binary(max_size=1500)), max_size=6, unique_by=lambda t: t[0]))
def test_round_trip_with_tarfile(items):
    entries = [("file", name, data) for name, data in items]
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        assert _read(_tar(fmt, entries)) == _expected(entries)
