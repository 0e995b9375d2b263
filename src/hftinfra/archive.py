"""Reading a snapshot archive (``.tar.gz``) by the format's definitions, in one pass.

The gzip layer is RFC 1952: one or more members, each inflated whole by zlib, which checks
every member's CRC-32 and length trailer (so a damaged middle or a cut-off end is an error,
never half a snapshot). The tar layer is the POSIX.1-2017 pax interchange format
(``pax(1)``, "ustar Interchange Format" and "pax Extended Header"), with the two GNU
extensions that real archives carry: ``L``/``K`` long names and base-256 numbers.

A 512-byte header holds, at these offsets::

    name 0/100  mode 100/8  uid 108/8  gid 116/8  size 124/12  mtime 136/12  chksum 148/8
    typeflag 156/1  linkname 157/100  magic 257/6  version 263/2  ...  prefix 345/155

``prefix`` is only a path prefix when ``magic`` is POSIX's ``"ustar\\0"``: GNU's
``"ustar "`` keeps times there instead. The checksum is the sum of the header's bytes with
the checksum field read as eight spaces; historic writers summed signed bytes, and both
sums are accepted, as pax allows. Entries follow in 512-byte blocks; two zero blocks end
the archive.

Python's ``tarfile`` reads the same archives, but building a ``TarInfo`` per member costs
about 20 µs; a snapshot has thousands of members and a fleet thousands of snapshots, so
this reader parses the headers with slices of one buffer instead.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_POSIX_MAGIC = b"ustar\x00"
REGULAR = "file"
DIRECTORY = "dir"
SYMLINK = "symlink"
HARDLINK = "hardlink"
SPECIAL = "special"  # character or block device, fifo

# typeflag -> kind. '7' (contiguous file) reads as a regular file (pax: "implementations
# without contiguous-file support shall treat it as a regular file"); '\0' is the
# pre-POSIX regular-file flag.
_KINDS = {b"0": REGULAR, b"\x00": REGULAR, b"7": REGULAR, b"1": HARDLINK, b"2": SYMLINK,
          b"3": SPECIAL, b"4": SPECIAL, b"5": DIRECTORY, b"6": SPECIAL}


class ArchiveError(ValueError):
    """The archive breaks its format (the message says where and how)."""


@dataclass(frozen=True)
class Member:
    kind: str
    name: str  # as written, before any normalising
    data: bytes = b""  # a regular file's content
    linkname: str = ""  # a link's target


def gunzip(blob: bytes, limit: int) -> bytes:
    """Every gzip member of ``blob`` inflated and joined, refusing more than ``limit`` bytes
    of output (ArchiveError) and any member whose trailer does not match (zlib.error)."""
    out: list[bytes] = []
    total = 0
    rest = blob
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip wrapper only
        chunk = inflater.decompress(rest, limit - total + 1)
        total += len(chunk)
        out.append(chunk)
        if total > limit:
            raise ArchiveError(f"unpacks to more than {limit >> 20} MiB")
        if inflater.unconsumed_tail:
            raise ArchiveError(f"unpacks to more than {limit >> 20} MiB")
        if not inflater.eof:
            raise ArchiveError("the gzip stream ends early (truncated)")
        rest = inflater.unused_data
        # RFC 1952 2.2: members follow one another; padding after the last is not one.
        if not rest.strip(b"\x00"):
            return b"".join(out)


def _number(field: bytes, what: str, offset: int) -> int:
    if field[:1] in (b"\x80", b"\xff"):  # GNU base-256: big-endian two's complement
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * (len(field) - 1))) if field[:1] == b"\xff" else value
    text = field.split(b"\x00", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise ArchiveError(f"header at byte {offset}: {what} {text[:12]!r} is not an octal number") from None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _pax_records(data: bytes, offset: int) -> dict[str, str]:
    """pax extended header records: ``"%d %s=%s\\n" % (length, keyword, value)``, where
    length counts the whole record, its own digits and the newline included."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos:].strip(b"\x00") == b"":
            break
        space = data.find(b" ", pos)
        if space < 0 or not data[pos:space].isdigit():
            raise ArchiveError(f"pax header at byte {offset}: a record without its length")
        length = int(data[pos:space])
        record = data[space + 1:pos + length]
        if length <= space - pos or not record.endswith(b"\n") or b"=" not in record:
            raise ArchiveError(f"pax header at byte {offset}: a damaged record")
        key, _, value = record[:-1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = _text(value)
        pos += length
    return records


def members(tar: bytes) -> Iterator[Member]:
    """The entries of an uncompressed tar image, pax and GNU long names applied."""
    pos = 0
    end = len(tar)
    global_pax: dict[str, str] = {}
    pax: dict[str, str] = {}
    long_name: str | None = None
    long_link: str | None = None
    while True:
        if pos + BLOCK > end:
            if pos >= end:
                # No end-of-archive blocks: GNU tar warns and reads on; the gzip layer has
                # already shown the stream is whole.
                return
            raise ArchiveError(f"header at byte {pos}: the archive ends inside it (truncated)")
        header = tar[pos:pos + BLOCK]
        if header == _ZERO_BLOCK:
            return
        stored = _number(header[148:156], "checksum", pos)
        unsigned = sum(header[:148]) + 256 + sum(header[156:])  # 256: the field as 8 spaces
        if stored != unsigned and stored != unsigned - 256 * sum(
                1 for b in header[:148] + header[156:] if b > 127):
            raise ArchiveError(f"header at byte {pos}: bad checksum (not a tar header, or damaged)")
        flag = header[156:157]
        size = _number(header[124:136], "size", pos)
        if "size" in pax or "size" in global_pax:
            try:
                size = int(pax.get("size", global_pax.get("size")))
            except ValueError:
                raise ArchiveError(f"pax header before byte {pos}: size is not a number") from None
        if size < 0:
            raise ArchiveError(f"header at byte {pos}: negative size")
        start = pos + BLOCK
        stop = start + size
        if stop > end:
            raise ArchiveError(f"entry at byte {pos}: its data runs past the end (truncated)")
        data = tar[start:stop]
        pos = start + -(-size // BLOCK) * BLOCK
        if flag == b"x":
            pax = _pax_records(data, start)
            continue
        if flag == b"g":
            global_pax.update(_pax_records(data, start))
            continue
        if flag == b"L":
            long_name = _text(data.split(b"\x00", 1)[0])
            continue
        if flag == b"K":
            long_link = _text(data.split(b"\x00", 1)[0])
            continue
        name = _text(header[0:100].split(b"\x00", 1)[0])
        if header[257:263] == _POSIX_MAGIC:
            prefix = _text(header[345:500].split(b"\x00", 1)[0])
            if prefix:
                name = f"{prefix}/{name}"
        linkname = _text(header[157:257].split(b"\x00", 1)[0])
        name = pax.get("path", long_name if long_name is not None else global_pax.get("path", name))
        linkname = pax.get("linkpath", long_link if long_link is not None else global_pax.get("linkpath", linkname))
        pax, long_name, long_link = {}, None, None
        kind = _KINDS.get(flag)
        if kind is None:
            raise ArchiveError(f"entry {name!r}: type {flag.decode('latin-1')!r} is not a file, folder or link")
        if kind == REGULAR and name.endswith("/"):
            kind = DIRECTORY  # pre-POSIX tar wrote a folder as a file named with a slash
        if kind == REGULAR:
            yield Member(REGULAR, name, data=data)
        elif kind in (SYMLINK, HARDLINK):
            yield Member(kind, name, linkname=linkname)
        else:
            yield Member(kind, name)


__all__ = ["ArchiveError", "BLOCK", "DIRECTORY", "HARDLINK", "Member", "REGULAR", "SPECIAL", "SYMLINK",
           "gunzip", "members"]
