"""A synthetic fleet: many snapshots of one tuned server, some of them drifted, with the truth.

    from hftinfra.fleet import audit_fleet
    from hftinfra.fleet.synth import DRIFTS, make_fleet
    hosts = make_fleet("fleet/", count=300, seed=0, drift_share=0.3)   # -> [GeneratedHost]
    report = audit_fleet("fleet/")                                     # audit them all

``make_fleet(out_dir, count=300)`` reads a base snapshot once (by default the tuned 2-socket
fixture ``tests/hosts/tuned-2s``, hostname ``ny4-trade-07``) and writes ``count`` variants of
it as ``out_dir/<hostname>.tar.gz`` archives that :func:`hftinfra.host.open_host` opens, plus
``out_dir/manifest.json``, the ground truth: which host carries which drift, what happened,
and which checks of the ``hft-isolated`` profile that makes fail or warn.

- Hostnames keep the base's site prefix and number the hosts: ``ny4-trade-001`` ...
  ``ny4-trade-300``. The new name replaces the old one everywhere the snapshot records it
  (``/proc/sys/kernel/hostname``, ``/etc/hostname`` when captured, ``hftinfra/meta.json``,
  recorded command outputs such as ``uname -a``, the jitter run's record).
- About ``drift_share`` of the hosts get one drift, a few (one in ten of those) two that
  touch different parts of the machine; the rest are clean copies in which only the
  hostname differs. ``drifts=`` limits the choice to some names of :data:`DRIFTS`.
- ``clones=k`` adds k hosts that are byte-identical copies of generated hosts, hostname
  included (a disk image cloned and never renamed), under their own file name
  ``<hostname>.clone-<n>.tar.gz``: only the path tells them apart.
- Everything follows from ``seed``: the same seed gives byte-identical archives (members in
  a fixed order, fixed times and owners, gzip time 0).

Each :class:`Drift` of :data:`DRIFTS` is something that happens to real trading servers,
applied the way the machine would show it: every file the kernel or the tools would show
changed is changed, not just one flag. The drifts, in table order:

- ``irqbalance-restarted``: irqbalance started with a configuration that bans no CPU; it
  moves device interrupts onto the isolated CPUs of each device's node.
- ``thp-always``: transparent hugepages set to ``always`` at run time; the boot
  configuration still says ``never``.
- ``bios-cstates``: a BIOS update back at factory defaults, deep C-states in use again.
- ``nic-wrong-numa``: the trading NIC moved to a slot of the other socket; its interrupts
  stay pinned to CPUs that are now remote.
- ``kernel-update-lost-cmdline``: a new kernel's default boot entry lacks the isolation
  arguments; nothing fails now, the persistence of the isolation checks says
  ``runtime-only`` (lost at the next boot).
- ``numa-balancing-on``: automatic NUMA balancing turned on at run time.
- ``governor-powersave``: the CPU frequency governor switched to powersave at run time.

``Drift.checks``, ``Drift.persistence`` and ``Drift.also`` are the audit's verdict on the
tuned base with that drift alone, and tests/test_fleet_synth.py holds the generator to them
(two drifts on one host add up: each pair the generator can give is tested too).

One host at a time: ``base = load_base()``, ``tree = make_host(base, "ny4-trade-001",
["thp-always"])`` (a :class:`SnapshotTree` in memory) and ``base.archive(tree)`` (its
.tar.gz bytes).

Speed: an archive is a tar stream cut into pieces of about 64 KiB, each deflated on its
own and joined into one gzip member (as pigz does), so a variant re-serialises and
re-deflates only the pieces holding a member it changed; the CRC-32 and length of the whole
stream close the gzip member (RFC 1952). Python's ``tarfile`` and ``gzip`` and
:mod:`hftinfra.archive` read the result like any ``.tar.gz``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import posixpath
import random
import re
import tarfile
import tempfile
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hftinfra.cpulist import format_cpulist, format_cpumask, parse_cpulist

SCHEMA = "hftinfra.synth/1"
DEFAULT_BASE = "tests/hosts/tuned-2s"
MANIFEST = "manifest.json"
# Share of drifted hosts that get a second drift.
SECOND_DRIFT_SHARE = 0.1
# Raw tar bytes per separately deflated piece: small enough that a variant re-deflates
# little, large enough that the pieces compress nearly as well as one stream.
PIECE_BYTES = 64 * 1024
GZIP_LEVEL = 1

CPU = "sys/devices/system/cpu"
NODE = "sys/devices/system/node"
BLOCK = 512


class SynthError(ValueError):
    """The fleet cannot be generated as asked (bad count, folder, drift name or base)."""


# ------------------------------------------------------------------------------------------
# The tree


class Symlink(str):
    """A symbolic link's target, as a tree entry."""


class _Dir:
    __slots__ = ()

    def __repr__(self) -> str:
        return "DIR"


DIR = _Dir()
_GONE = object()
Entry = bytes | Symlink | _Dir


def _path_key(path: str) -> tuple[str, ...]:
    # By components: a folder's entries follow it directly ('a', 'a/b', 'a-b').
    return tuple(path.split("/"))


def _norm(path: str) -> str:
    path = posixpath.normpath("/" + path).lstrip("/")
    return "" if path == "." else path


class SnapshotTree:
    """A snapshot's files, links and folders in memory, by relative path ('proc/cmdline').

    A variant (:meth:`variant`) shares its base's entries and keeps only what it changed,
    so a thousand variants of one base cost little more than the base; :attr:`dirty` names
    the paths a variant wrote, added or removed. Text written with :meth:`write` gets the
    trailing newline procfs and sysfs end every value with."""

    def __init__(self, entries: dict[str, Entry]):
        self._base = entries
        self._over: dict[str, object] = {}
        self._children: dict[str, set[str]] = {}
        for rel in entries:
            parent, _, name = rel.rpartition("/")
            self._children.setdefault(parent, set()).add(name)
        self._sorted = sorted(entries)
        self._contains: dict[bytes, tuple[str, ...]] = {}

    def variant(self) -> SnapshotTree:
        if self._over:
            raise SynthError("a variant is made from the base tree, not from another variant")
        new = object.__new__(SnapshotTree)
        new._base, new._children, new._sorted, new._contains = self._base, self._children, self._sorted, self._contains
        new._over = {}
        return new

    # ---- reading ---------------------------------------------------------------------
    def _get(self, rel: str) -> object:
        got = self._over.get(rel, None)
        if got is None:
            return self._base.get(rel)
        return None if got is _GONE else got

    def real(self, path: str) -> str:
        """``path`` with the links of its folders resolved (not a link at its end)."""
        rel = _norm(path)
        parent, _, name = rel.rpartition("/")
        if not parent or self._get(parent) is DIR:
            return rel
        where = self.resolve(parent)
        if where is None:
            return rel
        return f"{where}/{name}" if where else name

    def kind(self, path: str) -> str | None:
        """'file', 'link', 'dir', or None when absent; a link at the end is not followed."""
        got = self._get(self.real(path))
        if got is None:
            return None
        return "dir" if got is DIR else "link" if isinstance(got, Symlink) else "file"

    def exists(self, path: str) -> bool:
        return self.kind(path) is not None

    def read(self, path: str) -> bytes:
        """A file's bytes, through links as a read would go."""
        rel = _norm(path)
        got = self._get(rel)
        if not isinstance(got, bytes):
            where = self.resolve(rel)
            got = self._get(where) if where else None
        if not isinstance(got, bytes):
            raise KeyError(f"/{rel}: no such file in the snapshot")
        return got

    def text(self, path: str) -> str:
        """The file's text without its trailing newline."""
        text = self.read(path).decode("utf-8", "surrogateescape")
        return text[:-1] if text.endswith("\n") else text

    def readlink(self, path: str) -> str:
        got = self._get(self.real(path))
        if not isinstance(got, Symlink):
            raise KeyError(f"/{_norm(path)}: no such link in the snapshot")
        return str(got)

    def listdir(self, path: str) -> list[str]:
        rel = _norm(path)
        if rel and self._get(rel) is not DIR:
            rel = self.resolve(rel) or rel
        names = set(self._children.get(rel, ()))
        for other, value in self._over.items():
            parent, _, name = other.rpartition("/")
            if parent == rel:
                (names.discard if value is _GONE else names.add)(name)
        return sorted(n for n in names if self._get(f"{rel}/{n}" if rel else n) is not None)

    def under(self, path: str) -> list[str]:
        """Every path below ``path`` (not itself), in no particular order."""
        prefix = _norm(path) + "/"
        out = []
        # Paths that share a prefix are contiguous in plain string order.
        for rel in self._sorted[bisect_left(self._sorted, prefix):]:
            if not rel.startswith(prefix):
                break
            if self._get(rel) is not None:
                out.append(rel)
        out += [r for r, v in self._over.items() if r.startswith(prefix) and v is not _GONE and r not in self._base]
        return out

    def paths(self) -> Iterator[str]:
        """Every path the tree holds."""
        for rel in self._base:
            if self._get(rel) is not None:
                yield rel
        for rel, value in self._over.items():
            if rel not in self._base and value is not _GONE:
                yield rel

    def resolve(self, path: str) -> str | None:
        """The link-free path that ``path`` names, resolved as a chroot resolves it (an
        absolute target starts at the snapshot's root), or None when it leads nowhere."""
        todo = [p for p in _norm(path).split("/") if p]
        done: list[str] = []
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            if part == ".":
                continue
            cand = "/".join([*done, part])
            got = self._get(cand)
            if got is None:
                return None
            if isinstance(got, Symlink):
                hops += 1
                if hops > 40:
                    return None
                if got.startswith("/"):
                    done = []
                todo = [p for p in got.split("/") if p] + todo
                continue
            done.append(part)
        return "/".join(done)

    def files_containing(self, needle: bytes) -> list[str]:
        """Files whose content holds ``needle``; the base's answer is kept per needle."""
        found = self._contains.get(needle)
        if found is None:
            found = self._contains[needle] = tuple(r for r, v in self._base.items()
                                                    if isinstance(v, bytes) and needle in v)
        out = [r for r in found if r not in self._over]
        out += [r for r, v in self._over.items() if isinstance(v, bytes) and needle in v]
        return out

    # ---- writing ---------------------------------------------------------------------
    @property
    def dirty(self) -> frozenset[str]:
        return frozenset(self._over)

    def _put(self, rel: str, value: object) -> None:
        if not rel:
            raise SynthError("cannot replace the snapshot's root")
        parent = rel.rpartition("/")[0]
        if parent and self._get(parent) is not DIR:
            if self._get(parent) is not None:
                raise SynthError(f"/{parent} is not a folder")
            self._put(parent, DIR)
        base = self._base.get(rel)
        if value is not _GONE and base is not None and type(base) is type(value) and base == value:
            self._over.pop(rel, None)  # back to what the base has: nothing to re-serialise
        else:
            self._over[rel] = value

    def write(self, path: str, data: bytes | str) -> None:
        """Write a file; text gets the trailing newline procfs and sysfs end values with."""
        if isinstance(data, str):
            data = (data if data.endswith("\n") else data + "\n").encode("utf-8", "surrogateescape")
        rel = self.real(path)
        if self.kind(rel) == "dir":
            raise SynthError(f"/{rel} is a folder")
        if self._get(rel) != data:
            self._put(rel, data)

    def link(self, path: str, target: str) -> None:
        self._put(self.real(path), Symlink(target))

    def mkdir(self, path: str) -> None:
        rel = self.real(path)
        if self._get(rel) is not DIR:
            self._put(rel, DIR)

    def remove(self, path: str) -> None:
        """Remove a file, a link, or a folder with everything in it."""
        rel = _norm(path)
        if self._get(rel) is DIR:
            for sub in self.under(rel):
                self._over[sub] = _GONE
        self._over[rel] = _GONE

    def move(self, old: str, new: str) -> None:
        """Rename a path and everything below it."""
        old, new = _norm(old), _norm(new)
        items = [(r, self._get(r)) for r in [old, *self.under(old)]]
        for rel, _value in items:
            self.remove(rel)
        for rel, value in sorted(items, key=lambda kv: kv[0].count("/")):
            dest = new + rel[len(old):]
            if value is DIR:
                self.mkdir(dest)
            else:
                self._put(dest, value)

    def substitute(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Replace each old string with its new one in every path, link target and file."""
        def sub(s: str) -> str:
            for a, b in pairs:
                s = s.replace(a, b)
            return s

        for rel in list(self.paths()):
            value = self._get(rel)
            if isinstance(value, Symlink) and sub(value) != value:
                self._put(rel, Symlink(sub(value)))
        # Every entry below a renamed folder has the renamed component in its own path too.
        renames = [(rel, self._get(rel)) for rel in list(self.paths()) if sub(rel) != rel]
        for rel, _value in renames:
            self._over[rel] = _GONE
        for rel, value in sorted(renames, key=lambda kv: kv[0].count("/")):
            if value is DIR:
                self.mkdir(sub(rel))
            else:
                self._put(sub(rel), value)
        seen: set[str] = set()
        for a, _b in pairs:
            for rel in self.files_containing(a.encode()):
                if rel in seen:
                    continue
                seen.add(rel)
                data = self.read(rel).decode("utf-8", "surrogateescape")
                self.write(rel, sub(data).encode("utf-8", "surrogateescape"))


def _read_dir(root: Path) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}

    def walk(folder: Path, rel: str) -> None:
        with os.scandir(folder) as it:
            for ent in it:
                sub = f"{rel}/{ent.name}" if rel else ent.name
                if ent.is_symlink():
                    entries[sub] = Symlink(os.readlink(ent.path))
                elif ent.is_dir(follow_symlinks=False):
                    entries[sub] = DIR
                    walk(Path(ent.path), sub)
                elif ent.is_file(follow_symlinks=False):
                    with open(ent.path, "rb") as fh:
                        entries[sub] = fh.read()
                else:
                    raise SynthError(f"{ent.path}: a device or fifo is not allowed in a snapshot")

    walk(root, "")
    return entries


def _read_archive(path: Path) -> dict[str, Entry]:
    from hftinfra import archive

    try:
        image = archive.gunzip(path.read_bytes(), 1 << 30)
        members = list(archive.members(image))
    except (archive.ArchiveError, OSError, zlib.error) as exc:
        raise SynthError(f"{path}: not a readable .tar.gz snapshot ({exc})") from None
    entries: dict[str, Entry] = {}
    for m in members:
        rel = _norm(m.name)
        if not rel or m.name.startswith("/") or rel.startswith(".."):
            continue
        if m.kind == archive.SYMLINK:
            entries[rel] = Symlink(m.linkname)
        elif m.kind == archive.DIRECTORY:
            entries[rel] = DIR
        elif m.kind == archive.REGULAR:
            entries[rel] = m.data
        else:
            raise SynthError(f"{path}: entry {m.name!r} is neither a file, a folder nor a symlink")
    tops = {r.split("/", 1)[0] for r in entries}
    if len(tops) == 1 and not tops & {"proc", "sys", "etc", "dev", "hftinfra"}:
        (top,) = tops
        if entries.get(top) is DIR:  # an archive rooted in one folder ('myhost/proc/...')
            entries = {r[len(top) + 1:]: v for r, v in entries.items() if r != top}
    return entries


def _with_parents(entries: dict[str, Entry]) -> dict[str, Entry]:
    for rel in list(entries):
        parent = rel.rpartition("/")[0]
        while parent and parent not in entries:
            entries[parent] = DIR
            parent = parent.rpartition("/")[0]
    return entries


# ------------------------------------------------------------------------------------------
# Archives


def _member_bytes(rel: str, entry: Entry, mtime: int) -> bytes:
    """One member as POSIX pax (ustar fields, an extended header only where a name needs
    one): its header block and its data padded to whole blocks."""
    info = tarfile.TarInfo(rel)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    data = b""
    if entry is DIR:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif isinstance(entry, Symlink):
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, str(entry)
    else:
        assert isinstance(entry, bytes)
        info.type, info.mode, info.size = tarfile.REGTYPE, 0o644, len(entry)
        data = entry + bytes(-len(entry) % BLOCK)
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + data


def _deflate(raw: bytes, final: bool = False) -> bytes:
    # Raw deflate, ended on a byte boundary (sync flush), so pieces join into one stream.
    c = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(raw) + c.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


# RFC 1952: magic, CM deflate, no flags, MTIME 0, XFL 4 (fastest), OS 3 (Unix).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x03"
_TAR_END = bytes(2 * BLOCK)


@dataclass
class _Piece:
    start: tuple[str, ...]  # key of its first member; it holds keys up to the next piece's start
    paths: list[str]
    raw: bytes
    deflated: bytes


class _Packer:
    """Serialises variants of one base tree into .tar.gz bytes, reusing the base's pieces."""

    def __init__(self, tree: SnapshotTree, mtime: int):
        self.tree = tree
        self.mtime = mtime
        self.blobs: dict[str, bytes] = {}
        order = sorted(tree._base, key=_path_key)
        self.pieces: list[_Piece] = []
        current: list[str] = []
        size = 0
        for rel in order:
            blob = self.blobs[rel] = _member_bytes(rel, tree._base[rel], mtime)
            current.append(rel)
            size += len(blob)
            if size >= PIECE_BYTES:
                self._close(current)
                current, size = [], 0
        if current or not self.pieces:
            self._close(current)
        self.starts = [p.start for p in self.pieces]
        self.end = _deflate(_TAR_END, final=True)

    def _close(self, paths: list[str]) -> None:
        raw = b"".join(self.blobs[r] for r in paths)
        start = _path_key(paths[0]) if paths else ()
        self.pieces.append(_Piece(start, list(paths), raw, _deflate(raw)))

    def pack(self, tree: SnapshotTree) -> bytes:
        dirty: dict[int, list[str]] = {}
        for rel in tree.dirty:
            i = max(0, bisect_right(self.starts, _path_key(rel)) - 1)
            dirty.setdefault(i, []).append(rel)
        out = [_GZIP_HEADER]
        crc = 0
        length = 0
        for i, piece in enumerate(self.pieces):
            if i not in dirty:
                raw, deflated = piece.raw, piece.deflated
            else:
                names = set(piece.paths) | set(dirty[i])
                blobs = []
                for rel in sorted(names, key=_path_key):
                    if rel in tree._over:
                        value = tree._over[rel]
                        if value is not _GONE:
                            blobs.append(_member_bytes(rel, value, self.mtime))  # type: ignore[arg-type]
                    else:
                        blobs.append(self.blobs[rel])
                raw = b"".join(blobs)
                deflated = _deflate(raw)
            crc = zlib.crc32(raw, crc)
            length += len(raw)
            out.append(deflated)
        crc = zlib.crc32(_TAR_END, crc)
        length += len(_TAR_END)
        out.append(self.end)
        out.append(crc.to_bytes(4, "little") + (length & 0xFFFFFFFF).to_bytes(4, "little"))
        return b"".join(out)


# ------------------------------------------------------------------------------------------
# What the drifts read


def _cpuset(tree: SnapshotTree, path: str) -> frozenset[int]:
    text = tree.text(path).strip()
    return frozenset() if text in ("", "(null)") else parse_cpulist(text)


def _nr_cpus(tree: SnapshotTree) -> int:
    return max(_cpuset(tree, f"{CPU}/possible")) + 1


def _node_cpus(tree: SnapshotTree) -> dict[int, frozenset[int]]:
    nodes = {}
    for name in tree.listdir(NODE):
        if re.fullmatch(r"node\d+", name) and tree.kind(f"{NODE}/{name}/cpulist") == "file":
            nodes[int(name[4:])] = _cpuset(tree, f"{NODE}/{name}/cpulist")
    if not nodes:
        nodes[0] = _cpuset(tree, f"{CPU}/online")
    return nodes


def _siblings(tree: SnapshotTree, cpu: int) -> frozenset[int]:
    path = f"{CPU}/cpu{cpu}/topology/thread_siblings_list"
    return _cpuset(tree, path) if tree.kind(path) == "file" else frozenset({cpu})


def _write_affinity(tree: SnapshotTree, irq: int, smp: Iterable[int], effective: Iterable[int], nr: int) -> None:
    """The four affinity files of an IRQ, where the snapshot has them (masks as %*pb)."""
    d = f"proc/irq/{irq}"
    for name, cpus in (("smp_affinity", smp), ("effective_affinity", effective)):
        cpus = frozenset(cpus)
        if tree.kind(f"{d}/{name}") == "file":
            tree.write(f"{d}/{name}", format_cpumask(cpus, nr))
        if tree.kind(f"{d}/{name}_list") == "file":
            tree.write(f"{d}/{name}_list", format_cpulist(cpus))


class _CounterTable:
    """/proc/interrupts or /proc/softirqs as text with fixed-width per-CPU columns.

    interrupts (kernel/irq/proc.c): "%*d: " then "%10u " per online CPU, then chip, hwirq,
    flow and action; softirqs (fs/proc/softirqs.c): "%12s:" then " %10u" per possible CPU."""

    def __init__(self, text: str, softirqs: bool = False):
        self.lines = text.split("\n")
        self.cpus = [int(tok[3:]) for tok in self.lines[0].split()]
        self.column = {c: i for i, c in enumerate(self.cpus)}
        self.rows: dict[str, int] = {}
        self.first = 0
        for i, line in enumerate(self.lines[1:], 1):
            head, sep, _ = line.partition(":")
            if not sep:
                continue
            label = head.strip()
            self.rows[label] = i
            if softirqs:
                self.first = len(head) + 2  # the label, ':', the space before each count
            elif label.isdigit() and not self.first:
                self.first = len(head) + 2  # the label, ': '
        self.step = 11

    def _span(self, label: str, cpu: int) -> tuple[int, int, int]:
        i = self.rows[label]
        start = self.first + self.step * self.column[cpu]
        return i, start, start + 10

    def count(self, label: str, cpu: int) -> int:
        i, a, b = self._span(label, cpu)
        return int(self.lines[i][a:b])

    def counts(self, label: str) -> dict[int, int]:
        return {c: self.count(label, c) for c in self.cpus}

    def add(self, label: str, cpu: int, n: int) -> None:
        i, a, b = self._span(label, cpu)
        line = self.lines[i]
        value = min(int(line[a:b]) + n, 4_294_967_295)  # an unsigned int per CPU
        self.lines[i] = line[:a] + f"{value:10d}" + line[b:]

    def tail(self, label: str) -> str:
        """What follows the counts (chip, hwirq-flow, action)."""
        i = self.rows[label]
        return self.lines[i][self.first + self.step * len(self.cpus):]

    def action(self, label: str) -> str:
        parts = self.tail(label).split(None, 2)
        return parts[2].strip() if len(parts) == 3 else ""

    def shift_hwirq(self, label: str, delta: int) -> None:
        i = self.rows[label]
        at = self.first + self.step * len(self.cpus)
        tail = re.sub(r"^(\s*\S+\s+)(\d+)(-)", lambda m: f"{m.group(1)}{int(m.group(2)) + delta}{m.group(3)}",
                      self.lines[i][at:], count=1)
        self.lines[i] = self.lines[i][:at] + tail

    def text(self) -> str:
        return "\n".join(self.lines)


def _trading_nic(tree: SnapshotTree) -> str:
    """The fastest PCI network interface with link up: the one the trading stack uses."""
    best: tuple[int, str] | None = None
    for name in tree.listdir("sys/class/net"):
        dev = tree.resolve(f"sys/class/net/{name}/device")
        if dev is None or "/pci" not in "/" + dev:
            continue
        try:
            speed = int(tree.text(f"sys/class/net/{name}/speed"))
        except (KeyError, ValueError):
            speed = 0
        if best is None or speed > best[0]:
            best = (speed, name)
    if best is None:
        raise KeyError("/sys/class/net: no PCI network interface in the snapshot")
    return best[1]


# ------------------------------------------------------------------------------------------
# The drifts


@dataclass(frozen=True)
class Drift:
    """A change that happens to real servers, and what the audit makes of it.

    ``story``: what happened, in one sentence. ``checks``: the checks of ``hft-isolated``
    that it makes fail or warn on the tuned base. ``persistence``: where the audit's
    persistence column then stands (a state of :data:`hftinfra.persist.STATES`, None for
    none shown) for each of those checks that has one, and for every other check whose
    state it changes. ``also``:
    checks whose status it changes to something else (``skip``, ``unknown``), with that
    status. ``apply(tree, rng)`` changes an in-memory snapshot. Two drifts that share a part
    of the machine (``touches``) are never given to one host together."""

    name: str
    story: str
    checks: tuple[str, ...]
    apply: Callable[[SnapshotTree, random.Random], None] = field(repr=False, compare=False)
    persistence: dict[str, str | None] = field(default_factory=dict, hash=False)
    also: dict[str, str] = field(default_factory=dict, hash=False)
    touches: frozenset[str] = frozenset()

    def to_json(self) -> dict:
        return {"story": self.story, "checks": list(self.checks), "persistence": dict(self.persistence),
                "also": dict(self.also)}


IRQBALANCE_PID_RANGE = (2400, 48000)


def _irqbalance_restarted(tree: SnapshotTree, rng: random.Random) -> None:
    """irqbalance runs (a /proc/PID with comm, cmdline, environ and status, its CPU
    affinity the one systemd's CPUAffinity gives every service), /etc/sysconfig/irqbalance
    is a template that sets IRQBALANCE_BANNED_CPULIST empty (which overrides irqbalance's
    own default of banning the isolated and nohz_full CPUs, irqbalance(1)), and every device
    IRQ in /proc/interrupts but the timer is re-placed as irqbalance does on a NUMA machine:
    a queue vector on one core of its device's node (both threads in smp_affinity, the
    interrupt on one), any other vector on the whole node (the vector allocator picks a
    CPU of it), isolated CPUs included. The counts grow on the CPUs they now fire on, and
    the NET_RX softirqs with them."""
    nr = _nr_cpus(tree)
    nodes = _node_cpus(tree)
    online = _cpuset(tree, f"{CPU}/online")
    taken = {int(n) for n in tree.listdir("proc") if n.isdigit()}
    pid = rng.randint(*IRQBALANCE_PID_RANGE)
    while pid in taken:
        pid += 1
    init = tree.text("proc/1/status") if tree.kind("proc/1/status") == "file" else ""
    allowed = dict(re.findall(r"^(Cpus_allowed|Cpus_allowed_list|Mems_allowed|Mems_allowed_list):\t(.*)$",
                              init, re.M))
    d = f"proc/{pid}"
    tree.write(f"{d}/comm", "irqbalance")
    tree.write(f"{d}/cmdline", b"/usr/sbin/irqbalance\0--foreground\0")
    invocation = f"{rng.getrandbits(128):032x}"
    tree.write(f"{d}/environ", (
        "LANG=C.UTF-8\0PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\0"
        f"INVOCATION_ID={invocation}\0JOURNAL_STREAM=8:{rng.randint(20000, 90000)}\0"
        f"SYSTEMD_EXEC_PID={pid}\0IRQBALANCE_BANNED_CPULIST=\0").encode())
    tree.write(f"{d}/status", "\n".join([
        "Name:\tirqbalance", "Umask:\t0022", "State:\tS (sleeping)", f"Tgid:\t{pid}", "Ngid:\t0", f"Pid:\t{pid}",
        "PPid:\t1", "TracerPid:\t0", "Uid:\t0\t0\t0\t0", "Gid:\t0\t0\t0\t0", "FDSize:\t64", "Groups:\t",
        f"NStgid:\t{pid}", f"NSpid:\t{pid}", f"NSpgid:\t{pid}", f"NSsid:\t{pid}", "VmPeak:\t  100508 kB",
        "VmSize:\t   83968 kB", "VmRSS:\t    4416 kB", "Threads:\t2", "SigQ:\t0/1030397",
        f"Cpus_allowed:\t{allowed.get('Cpus_allowed', format_cpumask(online, nr))}",
        f"Cpus_allowed_list:\t{allowed.get('Cpus_allowed_list', format_cpulist(online))}",
        f"Mems_allowed:\t{allowed.get('Mems_allowed', format_cpumask(nodes, 1024))}",
        f"Mems_allowed_list:\t{allowed.get('Mems_allowed_list', format_cpulist(nodes))}",
        f"voluntary_ctxt_switches:\t{rng.randint(200, 4000)}", f"nonvoluntary_ctxt_switches:\t{rng.randint(0, 40)}"]))
    tree.write("etc/sysconfig/irqbalance", "\n".join([
        "# Environment for irqbalance.service (irqbalance(1)).",
        "# Managed by configuration management: the fleet template for build and test hosts.",
        "IRQBALANCE_BANNED_CPULIST=",
        "#IRQBALANCE_ARGS="]))

    table = _CounterTable(tree.text("proc/interrupts"))
    soft = _CounterTable(tree.text("proc/softirqs"), softirqs=True) if tree.kind("proc/softirqs") == "file" else None
    seen_cores: dict[int, int] = {}
    offsets = {n: rng.randrange(max(1, len(cpus))) for n, cpus in nodes.items()}
    for label in sorted((k for k in table.rows if k.isdigit()), key=int):
        irq = int(label)
        action = table.action(label)
        if irq == 0 or not action or tree.kind(f"proc/irq/{irq}") != "dir":
            continue  # the timer's affinity cannot be set; no handler, nothing to balance
        try:
            node = int(tree.text(f"proc/irq/{irq}/node"))
        except (KeyError, ValueError):
            node = -1
        local = sorted((nodes.get(node) or online) & online)
        if not local:
            continue
        if "TxRx" in action or "-rx-" in action or "-tx-" in action:
            cores = sorted({min(_siblings(tree, c) & online or {c}) for c in local})
            k = seen_cores.get(node, 0)
            seen_cores[node] = k + 1
            core = cores[(k + offsets.get(node, 0)) % len(cores)]
            smp = sorted(_siblings(tree, core) & set(local)) or [core]
            effective = smp[rng.randrange(len(smp))]
        else:
            smp = local
            effective = local[rng.randrange(len(local))]
        _write_affinity(tree, irq, smp, [effective], nr)
        total = sum(table.counts(label).values())
        if total:
            moved = rng.randint(total // 50 + 1, total // 8 + 2)
            table.add(label, effective, moved)
            if soft is not None and "NET_RX" in soft.rows and effective in soft.column:
                soft.add("NET_RX", effective, moved)
    tree.write("proc/interrupts", table.text())
    if soft is not None:
        tree.write("proc/softirqs", soft.text())


THP = "sys/kernel/mm/transparent_hugepage"


def _set_meminfo(tree: SnapshotTree, path: str, field_name: str, value_kb: int) -> None:
    """Rewrite one 'Name:   value kB' line of a meminfo file, keeping its column width."""
    text = tree.text(path)

    def repl(m: re.Match) -> str:
        width = len(m.group(2)) + len(m.group(3))
        digits = str(value_kb)
        return m.group(1) + (digits.rjust(width) if len(digits) < width else " " + digits) + m.group(4)

    new = re.sub(rf"^(.*\b{re.escape(field_name)}:)(\s+)(\d+)( kB)$", repl, text, count=1, flags=re.M)
    tree.write(path, new)


def _thp_always(tree: SnapshotTree, rng: random.Random) -> None:
    """transparent_hugepage/enabled and defrag read ``[always]`` (the kernel brackets the
    mode in use), and khugepaged has since collapsed some anonymous memory into huge pages:
    AnonHugePages grows in /proc/meminfo and in the meminfo of the node that holds it. The
    command line and tuned's [vm] still say never, so the next boot restores it."""
    tree.write(f"{THP}/enabled", "[always] madvise never")
    tree.write(f"{THP}/defrag", "[always] defer defer+madvise madvise never")
    nodes = sorted(_node_cpus(tree))
    per_node = {n: rng.randint(40, 900) * 2048 for n in nodes}
    for n, kb in per_node.items():
        path = f"{NODE}/node{n}/meminfo"
        if tree.kind(path) == "file":
            _set_meminfo(tree, path, "AnonHugePages", kb)
    if tree.kind("proc/meminfo") == "file":
        _set_meminfo(tree, "proc/meminfo", "AnonHugePages", sum(per_node.values()))


# Later firmware of the PowerEdge R650's family, with release dates before the base's capture.
BIOS_UPDATES = (("1.11.2", "12/05/2023"), ("1.12.1", "02/08/2024"), ("1.13.2", "03/27/2024"))
DMI = "sys/class/dmi/id"
PM_QOS_DEFAULT_US = 2_000_000_000  # PM_QOS_CPU_LATENCY_DEFAULT_VALUE, what nobody's request reads as


def _bios_cstates(tree: SnapshotTree, rng: random.Random) -> None:
    """DMI bios_version and bios_date name the new firmware; every cpuidle state that was
    disabled (C1E, C6) reads ``disable`` 0 and has been entered since: usage and time grow
    (a housekeeping CPU idles deep often, a busy-polling isolated CPU rarely);
    /dev/cpu_dma_latency reads back the default (no request held); the factory defaults
    also bring back the chipset's TCO watchdog (/sys/class/watchdog/watchdog0, iTCO_wdt)
    and let the uncore clock drop to its lowest (min_freq_khz = initial_min_freq_khz)."""
    version, date = rng.choice(BIOS_UPDATES)
    tree.write(f"{DMI}/bios_version", version)
    tree.write(f"{DMI}/bios_date", date)
    isolated = _cpuset(tree, f"{CPU}/isolated") if tree.kind(f"{CPU}/isolated") == "file" else frozenset()
    per_use = {"C1E": 900, "C6": 9000}
    enabled = 0
    for name in tree.listdir(CPU):
        if not re.fullmatch(r"cpu\d+", name) or tree.kind(f"{CPU}/{name}/cpuidle") != "dir":
            continue
        cpu = int(name[3:])
        for state in tree.listdir(f"{CPU}/{name}/cpuidle"):
            d = f"{CPU}/{name}/cpuidle/{state}"
            if tree.kind(f"{d}/disable") != "file" or tree.text(f"{d}/disable").strip() != "1":
                continue
            tree.write(f"{d}/disable", "0")
            enabled += 1
            sname = tree.text(f"{d}/name").strip() if tree.kind(f"{d}/name") == "file" else state
            busy = cpu in isolated
            usage = rng.randint(0, 3000) if busy else rng.randint(400_000, 9_000_000)
            if tree.kind(f"{d}/usage") == "file":
                usage += int(tree.text(f"{d}/usage") or 0)
                tree.write(f"{d}/usage", str(usage))
            if tree.kind(f"{d}/time") == "file":
                residency = int(tree.text(f"{d}/residency")) if tree.kind(f"{d}/residency") == "file" else 100
                tree.write(f"{d}/time", str(usage * per_use.get(sname, 10 * residency + 10) + rng.randint(0, 999)))
            for counter, div in (("above", 50), ("below", 80)):
                if tree.kind(f"{d}/{counter}") == "file":
                    tree.write(f"{d}/{counter}", str(usage // div))
    if not enabled:
        raise KeyError(f"/{CPU}/cpu*/cpuidle: no disabled idle state for the firmware to bring back")
    tree.write("dev/cpu_dma_latency", PM_QOS_DEFAULT_US.to_bytes(4, "little", signed=True))
    tree.link("sys/class/watchdog/watchdog0", "../../devices/virtual/watchdog/watchdog0")
    tree.write("sys/devices/virtual/watchdog/watchdog0/identity", "iTCO_wdt")
    uncore = f"{CPU}/intel_uncore_frequency"
    if tree.kind(uncore) == "dir":
        for pkg in tree.listdir(uncore):
            lo = f"{uncore}/{pkg}/initial_min_freq_khz"
            if tree.kind(lo) == "file" and tree.kind(f"{uncore}/{pkg}/min_freq_khz") == "file":
                tree.write(f"{uncore}/{pkg}/min_freq_khz", tree.text(lo))


def _nic_wrong_numa(tree: SnapshotTree, rng: random.Random) -> None:
    """The trading NIC's card (every PCI function of it) is renumbered as a slot of the
    same kind on the other socket would number it: the root port's bus and the card's bus
    move by one socket's share of the 256 bus numbers (these boards split them evenly,
    socket 0 first), so its folders under /sys/devices, the /sys/bus/pci links, the driver
    and IOMMU group links, /sys/class/net/IF and /sys/class/ptp, the names of its vectors
    in /proc/interrupts (ice-<address>:misc) and their hwirq (which carries the PCI
    bus), and the addresses in recorded ethtool and dmesg output all change together. Each
    function's numa_node, local_cpulist and local_cpus name the new node, its vectors'
    /proc/irq/N/node too, the VT-d unit is the new socket's, and the queue vectors keep the
    affinity the tuning script pinned: CPUs of the old node."""
    nic = _trading_nic(tree)
    dev = tree.resolve(f"sys/class/net/{nic}/device")
    parts = (dev or "").split("/")
    if len(parts) != 5 or not parts[2].startswith("pci"):
        raise KeyError(f"/sys/class/net/{nic}/device: not a function right below a root port ({dev})")
    bridge, port, address = parts[2], parts[3], parts[4]
    old_node = int(tree.text(f"{dev}/numa_node"))
    nodes = _node_cpus(tree)
    others = sorted(n for n in nodes if n != old_node)
    if not others:
        raise KeyError(f"/{NODE}: one NUMA node only, no other socket to move the NIC to")
    new_node = rng.choice(others)
    shift = (new_node - old_node) * (256 // len(nodes))
    dom, port_bus, port_devfn = port.split(":")
    fn_dom, fn_bus, _fn_devfn = address.split(":")
    new_port_bus, new_fn_bus = int(port_bus, 16) + shift, int(fn_bus, 16) + shift
    if not (0 <= new_port_bus < 256 and 0 <= new_fn_bus < 256):
        raise KeyError(f"{port}: no bus number on node {new_node} for it")
    bridge_bus = int(bridge.rsplit(":", 1)[1], 16) + shift
    new_bridge = f"{bridge.rsplit(':', 1)[0]}:{bridge_bus:02x}"
    new_port = f"{dom}:{new_port_bus:02x}:{port_devfn}"
    pairs = [(f"{bridge}/{port}", f"{new_bridge}/{new_port}"), (f"{port}", new_port),
             (f"{fn_dom}:{fn_bus}:", f"{fn_dom}:{new_fn_bus:02x}:")]
    if any(tree.exists(f"sys/bus/pci/devices/{b}") for _, b in pairs[1:2]):
        raise KeyError(f"/sys/bus/pci/devices/{new_port}: already taken")
    port_dir = f"sys/devices/{new_bridge}/{new_port}"
    old_functions = [name for name in tree.listdir(f"sys/devices/{bridge}/{port}")
                     if name.startswith(f"{fn_dom}:{fn_bus}:")]
    functions = [f"{port_dir}/{fn_dom}:{new_fn_bus:02x}:{name.rsplit(':', 1)[1]}" for name in old_functions]
    irqs: list[int] = []
    for name in old_functions:
        msi = f"sys/devices/{bridge}/{port}/{name}/msi_irqs"
        if tree.kind(msi) == "dir":
            irqs += [int(n) for n in tree.listdir(msi) if n.isdigit()]
    tree.substitute(pairs)
    old_bridge_dir = f"sys/devices/{bridge}"
    if tree.kind(old_bridge_dir) == "dir" and not tree.listdir(old_bridge_dir):
        tree.remove(old_bridge_dir)
    nr = _nr_cpus(tree)
    local = nodes[new_node]
    for fn in functions:
        for name, value in (("numa_node", str(new_node)), ("local_cpulist", format_cpulist(local)),
                            ("local_cpus", format_cpumask(local, nr))):
            if tree.kind(f"{fn}/{name}") == "file":
                tree.write(f"{fn}/{name}", value)
    table = _CounterTable(tree.text("proc/interrupts"))
    for irq in irqs:
        if tree.kind(f"proc/irq/{irq}/node") == "file":
            tree.write(f"proc/irq/{irq}/node", str(new_node))
        # drivers/pci/msi: hwirq = entry | pci_dev_id << 11 (bus << 8 | devfn), domain above.
        if str(irq) in table.rows:
            table.shift_hwirq(str(irq), shift << 19)
        hw = f"sys/kernel/irq/{irq}/hwirq"
        if tree.kind(hw) == "file":
            tree.write(hw, str(int(tree.text(hw)) + (shift << 19)))
    tree.write("proc/interrupts", table.text())
    # The VT-d unit in front of the slot: these boards have two per socket, numbered by socket.
    units = "sys/devices/virtual/iommu"
    for d in [port_dir, *functions]:
        if tree.kind(f"{d}/iommu") != "link":
            continue
        target = tree.readlink(f"{d}/iommu")
        m = re.search(r"dmar(\d+)$", target)
        if m is None:
            continue
        per_socket = max(1, len([u for u in tree.listdir(units) if u.startswith("dmar")]) // len(nodes))
        new_unit = f"dmar{int(m.group(1)) + per_socket * (new_node - old_node)}"
        if tree.kind(f"{units}/{new_unit}") != "dir":
            continue
        tree.link(f"{d}/iommu", target[:m.start()] + new_unit)
        dev_address = d.rsplit("/", 1)[1]
        old_entry = f"{units}/dmar{m.group(1)}/devices/{dev_address}"
        if tree.kind(old_entry) == "link":
            tree.move(old_entry, f"{units}/{new_unit}/devices/{dev_address}")


BLS_DIR = "boot/loader/entries"
GRUBENV = "boot/grub2/grubenv"
# The kernel arguments of CPU isolation, which the stale configuration lacks.
ISOLATION_ARGS = ("isolcpus", "nohz_full", "rcu_nocbs", "rcu_nocb_poll", "irqaffinity")


def _strip_args(options: str) -> str:
    return " ".join(w for w in options.split() if w.split("=", 1)[0] not in ISOLATION_ARGS)


def _newer_kernel(version: str, rng: random.Random) -> str:
    # The next build of the same release stream: 5.14.0-362.24.1.el9_3 -> 5.14.0-362.24.2.el9_3.
    m = re.fullmatch(r"(.*?)(\d+)(\.el\d+\S*)", version)
    if m:
        return f"{m.group(1)}{int(m.group(2)) + rng.randint(1, 2)}{m.group(3)}"
    return version + ".1"


def _kernel_update_lost_cmdline(tree: SnapshotTree, rng: random.Random) -> None:
    """A newer kernel's Boot Loader Specification entry appears beside the running one,
    its ``options`` those of /etc/kernel/cmdline, which (like /etc/default/grub's
    GRUB_CMDLINE_LINUX) was reset to arguments without isolcpus, nohz_full, rcu_nocbs,
    rcu_nocb_poll and irqaffinity; grubenv's saved_entry names it, as installing a kernel
    does on RHEL (UPDATEDEFAULT=yes). /proc/cmdline and everything the running kernel shows
    are unchanged."""
    env = tree.text(GRUBENV)
    saved = re.search(r"^saved_entry=(.*)$", env, re.M)
    if saved is None:
        raise KeyError(f"/{GRUBENV}: no saved_entry")
    old_id = saved.group(1).strip()
    old = tree.text(f"{BLS_DIR}/{old_id}.conf")
    version = re.search(r"^version\s+(\S+)", old, re.M)
    if version is None:
        raise KeyError(f"/{BLS_DIR}/{old_id}.conf: no version line")
    old_ver = version.group(1)
    new_ver = _newer_kernel(old_ver, rng)
    new_id = old_id.replace(old_ver, new_ver) if old_ver in old_id else f"{old_id}-{new_ver}"
    lines = []
    for line in old.split("\n"):
        key, _, value = line.partition(" ")
        if key == "options":
            line = f"options {_strip_args(value)}"
        elif key in ("title", "version", "linux", "initrd"):
            line = line.replace(old_ver, new_ver)
        lines.append(line)
    tree.write(f"{BLS_DIR}/{new_id}.conf", "\n".join(lines))
    # grub's environment block: name=value lines after its header, '#' padding to 1024 bytes.
    body = "".join(line + "\n" for line in env.split("\n")
                   if line.startswith("# GRUB") or (line and not line.startswith("#")))
    body = re.sub(r"^saved_entry=.*$", f"saved_entry={new_id}", body, flags=re.M)
    tree.write(GRUBENV, (body + "#" * max(0, 1024 - len(body))).encode())
    if tree.kind("etc/kernel/cmdline") == "file":
        tree.write("etc/kernel/cmdline", _strip_args(tree.text("etc/kernel/cmdline")))
    if tree.kind("etc/default/grub") == "file":
        grub = re.sub(r'^(GRUB_CMDLINE_LINUX=")([^"]*)(")',
                      lambda m: m.group(1) + _strip_args(m.group(2)) + m.group(3),
                      tree.text("etc/default/grub"), flags=re.M)
        tree.write("etc/default/grub", grub)


def _numa_balancing_on(tree: SnapshotTree, rng: random.Random) -> None:
    """/proc/sys/kernel/numa_balancing reads 1; /etc/sysctl.d still sets 0."""
    if tree.kind("proc/sys/kernel/numa_balancing") != "file":
        raise KeyError("/proc/sys/kernel/numa_balancing: not in the snapshot")
    tree.write("proc/sys/kernel/numa_balancing", "1")


def _governor_powersave(tree: SnapshotTree, rng: random.Random) -> None:
    """Every cpufreq policy's scaling_governor reads powersave, and its
    energy_performance_preference the balance_performance that intel_pstate gives a policy
    leaving the performance governor (its default EPP)."""
    policies = [p for p in tree.listdir(f"{CPU}/cpufreq") if re.fullmatch(r"policy\d+", p)] \
        if tree.kind(f"{CPU}/cpufreq") == "dir" else []
    changed = 0
    for p in policies:
        d = f"{CPU}/cpufreq/{p}"
        if tree.kind(f"{d}/scaling_governor") != "file":
            continue
        available = tree.text(f"{d}/scaling_available_governors").split() \
            if tree.kind(f"{d}/scaling_available_governors") == "file" else ["powersave"]
        if "powersave" not in available:
            continue
        tree.write(f"{d}/scaling_governor", "powersave")
        if tree.kind(f"{d}/energy_performance_preference") == "file":
            tree.write(f"{d}/energy_performance_preference", "balance_performance")
        changed += 1
    if not changed:
        raise KeyError(f"/{CPU}/cpufreq: no policy offers the powersave governor")


_ISOLATION_RUNTIME_ONLY = {c: "runtime-only" for c in
                           ("cpu.isolated", "cpu.nohz_full", "cpu.rcu_nocbs", "cpu.irqaffinity", "irq.default_affinity")}

DRIFTS: dict[str, Drift] = {d.name: d for d in (
    Drift("irqbalance-restarted",
          "Someone ran `systemctl enable --now irqbalance` after configuration management had replaced "
          "/etc/sysconfig/irqbalance with the fleet template that sets IRQBALANCE_BANNED_CPULIST empty, so it "
          "bans no CPU and spreads device interrupts over every CPU of each device's node, the isolated ones "
          "included.",
          ("irq.irqbalance", "irq.affinity", "irq.nic_numa_local"), _irqbalance_restarted,
          persistence={"irq.irqbalance": "pending-reboot"}, touches=frozenset({"irq"})),
    Drift("thp-always",
          "An application team's start-up script wrote `always` to transparent_hugepage/enabled and defrag to "
          "speed up a batch job, so khugepaged now collapses and compacts memory behind the trading process; "
          "the boot entry still says transparent_hugepage=never, so the next boot undoes it.",
          ("memory.thp",), _thp_always,
          # transparent_hugepage=never is still on the command line and in the boot entry: the
          # next boot brings never back.
          persistence={"memory.thp": "pending-reboot"}, touches=frozenset({"memory"})),
    Drift("bios-cstates",
          "A BIOS update reset the firmware to factory defaults (C-states, C1E and the TCO watchdog on) and the "
          "host came back without its C-state lockdown: C1E and C6 are enabled again and nothing holds "
          "/dev/cpu_dma_latency, so idle CPUs sleep in C6 and take up to 170 us to wake.",
          ("cpu.cstates", "cpu.pm_qos"), _bios_cstates,
          persistence={"cpu.cstates": "pending-reboot", "cpu.pm_qos": "pending-reboot"}, touches=frozenset({"power"})),
    Drift("nic-wrong-numa",
          "During a hardware swap the trading NIC was put back in a riser slot wired to the other socket: its "
          "PCI address, NUMA node and local CPUs changed, while the tuning script still pins its queue "
          "interrupts to the housekeeping core of the old node, now remote from the card.",
          ("irq.nic_numa_local",), _nic_wrong_numa, touches=frozenset({"irq", "pci"})),
    Drift("kernel-update-lost-cmdline",
          "A kernel update was installed after configuration management had reset /etc/kernel/cmdline and "
          "/etc/default/grub to the base image's arguments, so the new default boot entry lacks isolcpus, "
          "nohz_full, rcu_nocbs and irqaffinity: the running kernel still has them, the next boot will not.",
          (), _kernel_update_lost_cmdline, persistence=dict(_ISOLATION_RUNTIME_ONLY), touches=frozenset({"boot"})),
    Drift("numa-balancing-on",
          "Someone followed a database runbook on the wrong host and ran `sysctl -w kernel.numa_balancing=1`: "
          "the kernel now unmaps the trading process's pages to sample their accesses and migrates them "
          "between nodes; /etc/sysctl.d still sets 0, so the next boot undoes it.",
          ("memory.numa_balancing",), _numa_balancing_on, persistence={"memory.numa_balancing": "pending-reboot"},
          touches=frozenset({"memory-sysctl"})),
    Drift("governor-powersave",
          "During a power-capping exercise the facilities team ran `cpupower frequency-set -g powersave` across "
          "the rack: intel_pstate may lower the CPUs' frequency again when they look idle, until tuned sets "
          "performance when it next starts.",
          # A skipped check shows no persistence.
          ("cpu.governor",), _governor_powersave, persistence={"cpu.governor": "pending-reboot", "cpu.epp": None},
          # min_perf_pct stays 100, which holds the P-state range at the top: EPP is not judged then.
          also={"cpu.epp": "skip"}, touches=frozenset({"cpufreq"})),
)}


# ------------------------------------------------------------------------------------------
# The base and its variants


def _resolve_base(base: str | os.PathLike) -> Path:
    path = Path(base).expanduser()
    if not path.exists() and not path.is_absolute():
        # The repository's fixture when hftinfra runs from a checkout (an editable install).
        repo = Path(__file__).resolve().parents[3]
        if (repo / path).exists():
            path = repo / path
    if not path.exists():
        raise SynthError(f"{base}: no such snapshot (expected a directory or a .tar.gz)")
    return path


def _hostname_of(tree: SnapshotTree) -> str:
    if tree.kind("proc/sys/kernel/hostname") == "file":
        name = tree.text("proc/sys/kernel/hostname").strip()
        if name:
            return name
    try:
        name = json.loads(tree.read("hftinfra/meta.json")).get("hostname")
    except (KeyError, ValueError):
        name = None
    return name if isinstance(name, str) and name.strip() else ""


def _epoch(captured: object) -> int:
    if isinstance(captured, str):
        try:
            return int(_dt.datetime.fromisoformat(captured).timestamp())
        except ValueError:
            pass
    return 0


class Base:
    """A base snapshot read once: its tree, hostname and the archive writer for its variants."""

    def __init__(self, source: str | os.PathLike = DEFAULT_BASE):
        path = _resolve_base(source)
        self.source = str(source)
        try:
            if path.is_dir():
                entries = _read_dir(path)
            elif path.name.endswith((".tar.gz", ".tgz")):
                entries = _read_archive(path)
            else:
                raise SynthError(f"{source}: not a snapshot (expected a directory or a .tar.gz)")
        except OSError as exc:
            raise SynthError(f"{source}: cannot read the snapshot ({exc.strerror or exc})") from None
        entries = _with_parents(entries)
        if not ({"proc", "sys"} & set(entries) or "hftinfra/meta.json" in entries):
            raise SynthError(f"{source}: not a snapshot (no proc/, sys/ or hftinfra/meta.json inside)")
        self.tree = SnapshotTree(entries)
        self.hostname = _hostname_of(self.tree)
        try:
            meta = json.loads(self.tree.read("hftinfra/meta.json"))
        except (KeyError, ValueError):
            meta = {}
        self.mtime = _epoch(meta.get("captured_at") if isinstance(meta, dict) else None)
        self._packer: _Packer | None = None
        name = re.escape(self.hostname.encode()) if self.hostname else None
        self._host_re = re.compile(rb"(?<![A-Za-z0-9-])" + name + rb"(?![A-Za-z0-9-])") if name else None

    @property
    def prefix(self) -> str:
        """The site prefix of generated hostnames: the base's without its trailing number."""
        stem = re.sub(r"\d+$", "", self.hostname)
        if not stem:
            return "host-"
        return stem if stem.endswith(("-", ".", "_")) or stem != self.hostname else stem + "-"

    def make_host(self, hostname: str, drifts: Sequence[str] = (), rng: random.Random | None = None) -> SnapshotTree:
        """A variant of the base named ``hostname`` with ``drifts`` applied in table order."""
        unknown = [d for d in drifts if d not in DRIFTS]
        if unknown:
            raise SynthError(f"unknown drift {unknown[0]!r} (known: {', '.join(DRIFTS)})")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}", hostname):
            raise SynthError(f"{hostname!r}: not a hostname (letters, digits, '-' and '.')")
        rng = rng or random.Random(f"hftinfra.synth:{hostname}")
        tree = self.tree.variant()
        if self._host_re is not None and hostname != self.hostname:
            new = hostname.encode()
            for rel in self.tree.files_containing(self.hostname.encode()):
                data = tree.read(rel)
                tree.write(rel, self._host_re.sub(new, data))
        elif tree.kind("proc/sys/kernel/hostname") == "file":
            tree.write("proc/sys/kernel/hostname", hostname)
        for name in sorted(set(drifts), key=list(DRIFTS).index):
            try:
                DRIFTS[name].apply(tree, rng)
            except KeyError as exc:
                raise SynthError(f"drift {name!r} cannot apply to {self.source}: {exc.args[0]}") from None
        return tree

    def archive(self, tree: SnapshotTree) -> bytes:
        """The variant as .tar.gz bytes."""
        if self._packer is None:
            self._packer = _Packer(self.tree, self.mtime)
        return self._packer.pack(tree)


def load_base(base: str | os.PathLike = DEFAULT_BASE) -> Base:
    """Read a base snapshot (a directory or a .tar.gz) into memory."""
    return Base(base)


def make_host(base: Base | str | os.PathLike, hostname: str, drifts: Sequence[str] = (),
              seed: int | str = 0) -> SnapshotTree:
    """One variant of ``base`` (a :class:`Base` or a path) as an in-memory tree."""
    base = base if isinstance(base, Base) else Base(base)
    return base.make_host(hostname, drifts, random.Random(f"hftinfra.synth:{seed}:{hostname}"))


# ------------------------------------------------------------------------------------------
# The fleet


@dataclass(frozen=True)
class GeneratedHost:
    path: str
    hostname: str
    drifts: tuple[str, ...]
    clone_of: str | None = None  # for a clone: the file name of the host it copies


def _check_out_dir(out: Path) -> dict | None:
    """The previous manifest when ``out`` holds an earlier synthetic fleet; raises when ``out``
    cannot take one."""
    if out.is_symlink() and not out.is_dir() or out.exists() and not out.is_dir():
        raise SynthError(f"{out}: exists and is not a folder")
    if not out.exists():
        return None
    names = os.listdir(out)
    if not names:
        return None
    try:
        previous = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        previous = None
    if not isinstance(previous, dict) or previous.get("schema") != SCHEMA:
        raise SynthError(f"{out}: not empty and holds no synthetic fleet ({MANIFEST} of {SCHEMA}); "
                         "give a new or empty folder")
    return previous


def _assign(count: int, names: list[str], share: float, rng: random.Random) -> list[tuple[str, ...]]:
    drifted = rng.sample(range(count), round(count * share)) if names else []
    out: list[tuple[str, ...]] = [()] * count
    for i in sorted(drifted):
        first = rng.choice(names)
        chosen = [first]
        if len(names) > 1 and rng.random() < SECOND_DRIFT_SHARE:
            fits = [n for n in names if n != first and not DRIFTS[n].touches & DRIFTS[first].touches]
            if fits:
                chosen.append(rng.choice(fits))
        out[i] = tuple(sorted(chosen, key=list(DRIFTS).index))
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def make_fleet(out_dir: str | os.PathLike, count: int = 300, base: str | os.PathLike | Base = DEFAULT_BASE,
               seed: int = 0, drift_share: float = 0.3, drifts: Iterable[str] | None = None,
               clones: int = 0) -> list[GeneratedHost]:
    """Write ``count`` variants of ``base`` (plus ``clones`` copies) into ``out_dir`` with
    ``manifest.json``; see the module's docstring. Raises :class:`SynthError` (a
    ValueError) before writing anything when an argument is wrong."""
    out = Path(out_dir)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise SynthError(f"count must be a whole number of at least 1, not {count!r}")
    if isinstance(clones, bool) or not isinstance(clones, int) or clones < 0:
        raise SynthError(f"clones must be a whole number of at least 0, not {clones!r}")
    if not isinstance(drift_share, (int, float)) or not 0 <= drift_share <= 1:
        raise SynthError(f"drift_share must be between 0 and 1, not {drift_share!r}")
    names = list(DRIFTS) if drifts is None else list(dict.fromkeys(drifts))
    unknown = [d for d in names if d not in DRIFTS]
    if unknown:
        raise SynthError(f"unknown drift {unknown[0]!r} (known: {', '.join(DRIFTS)})")
    previous = _check_out_dir(out)
    source = base if isinstance(base, Base) else Base(base)

    rng = random.Random(f"hftinfra.synth:{seed}")
    width = max(3, len(str(count)))
    hostnames = [f"{source.prefix}{i:0{width}d}" for i in range(1, count + 1)]
    assigned = _assign(count, names, drift_share, rng)
    originals = rng.sample(range(count), clones) if clones <= count else [rng.randrange(count) for _ in range(clones)]

    out.mkdir(parents=True, exist_ok=True)
    hosts: list[GeneratedHost] = []
    written: dict[int, bytes] = {}
    keep = {i for i in originals}
    for i, (hostname, chosen) in enumerate(zip(hostnames, assigned, strict=True)):
        tree = source.make_host(hostname, chosen, random.Random(f"hftinfra.synth:{seed}:{hostname}"))
        data = source.archive(tree)
        path = out / f"{hostname}.tar.gz"
        _atomic_write(path, data)
        if i in keep:
            written[i] = data
        hosts.append(GeneratedHost(str(path), hostname, chosen))
    copies: dict[int, int] = {}
    for i in originals:
        copies[i] = copies.get(i, 0) + 1
        original = hosts[i]
        path = out / f"{original.hostname}.clone-{copies[i]}.tar.gz"
        _atomic_write(path, written[i])
        hosts.append(GeneratedHost(str(path), original.hostname, original.drifts, Path(original.path).name))

    manifest = {
        "schema": SCHEMA,
        "base": source.source,
        "base_hostname": source.hostname,
        "seed": seed,
        "count": count,
        "drift_share": drift_share,
        "clones": clones,
        "hosts": [{"file": Path(h.path).name, "hostname": h.hostname, "drifts": list(h.drifts),
                   **({"clone_of": h.clone_of} if h.clone_of else {})} for h in hosts],
        "drifts": {n: DRIFTS[n].to_json() for n in names},
    }
    _atomic_write(out / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    if previous is not None:
        now = {Path(h.path).name for h in hosts}
        for entry in previous.get("hosts", ()):
            name = entry.get("file") if isinstance(entry, dict) else None
            if isinstance(name, str) and name not in now and "/" not in name and name.endswith(".tar.gz"):
                try:
                    (out / name).unlink()
                except OSError:
                    pass
    return hosts


# ------------------------------------------------------------------------------------------
# What an analysis of the fleet must find, and a night's changes


@dataclass(frozen=True)
class GroundTruth:
    """How a fleet report matches a generated fleet's manifest. ``wrong``: (file, checks its
    group shows beyond the clean copies', checks its drifts break) for every generated host
    where the two differ, ``found`` None when the host was not audited; ``clones``: (clone,
    original) file names; ``clones_apart``: clones not in their original's group."""

    hosts: int
    wrong: tuple[tuple[str, tuple[str, ...] | None, tuple[str, ...]], ...]
    clones: tuple[tuple[str, str], ...]
    clones_apart: tuple[str, ...]

    @property
    def found(self) -> bool:
        return not self.wrong and not self.clones_apart

    def __str__(self) -> str:
        return (f"{self.hosts} generated hosts, {len(self.wrong)} in a group that does not match their drift; "
                f"{len(self.clones)} clones, {len(self.clones_apart)} apart from their original")


def ground_truth(report, out_dir: str | os.PathLike) -> GroundTruth:
    """Hold ``report`` (a :class:`~hftinfra.fleet.model.FleetReport` that audited the
    fleet in ``out_dir``, perhaps among other hosts) to the fleet's manifest: every
    generated host's group must show exactly its drifts' checks on top of what a clean copy
    of the base shows, and a clone must share its original's group. Hosts are matched by
    path. Raises :class:`SynthError` when ``out_dir`` holds no manifest, no clean copy to
    compare with, or a host the report did not audit at all."""
    out = Path(out_dir)
    try:
        manifest = json.loads((out / MANIFEST).read_text())
        entries = manifest["hosts"]
        checks = {name: d["checks"] for name, d in manifest["drifts"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SynthError(f"{out / MANIFEST}: not a synthetic fleet's manifest ({exc})") from None
    keys = {os.path.realpath(h.path): h.key for h in report.hosts}

    def pattern(file: str) -> set[str] | None:
        key = keys.get(os.path.realpath(out / file))
        if key is None:
            raise SynthError(f"{out / file}: not in the report")
        group = report.group_of(key)
        return None if group is None else {c for c, _ in group.pattern}

    clean = next((e["file"] for e in entries if not e["drifts"]), None)
    base = pattern(clean) if clean is not None else None
    if base is None:
        raise SynthError(f"{out}: no clean copy of the base was audited to compare the drifted hosts with")
    wrong = []
    for e in entries:
        seen = pattern(e["file"])
        found = None if seen is None else tuple(sorted(seen - base))
        wanted = tuple(sorted({c for d in e["drifts"] for c in checks[d]}))
        if found != wanted:
            wrong.append((e["file"], found, wanted))
    clones = tuple((e["file"], e["clone_of"]) for e in entries if e.get("clone_of"))
    group = {f: report.group_of(keys[os.path.realpath(out / f)]) for pair in clones for f in pair}
    apart = tuple(c for c, o in clones if group[c] is None or group[c] != group[o])
    return GroundTruth(len(entries), tuple(wrong), clones, apart)


@dataclass(frozen=True)
class Night:
    """A fleet folder the morning after (:func:`overnight`): symbolic links to yesterday's
    snapshots, except for the hosts that changed."""

    folder: Path
    fixed: tuple[str, ...]  # file names: drifted yesterday, clean today
    drifted: tuple[str, ...]  # clean yesterday, drifted today
    gone: tuple[str, ...]
    new: tuple[str, ...]
    drifts: dict[str, tuple[str, ...]]  # the drifts each drifted or new host has today


def overnight(generated: Sequence[GeneratedHost], folders: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
              *, base: str | os.PathLike | Base = DEFAULT_BASE, seed: int = 1, fixed: int = 3, drifted: int = 3,
              gone: int = 1, new: int = 1) -> Night:
    """The morning after ``generated`` (a :func:`make_fleet` result): ``out_dir/today``
    links every snapshot in ``folders`` (yesterday's collection: archives, folders and
    failure records) except ``gone`` clean hosts; ``fixed`` drifted hosts and ``drifted``
    clean ones are replaced by their namesakes from a fleet generated with ``seed`` (in
    ``out_dir/night``), and ``new`` hosts of that fleet, numbered after the last, are
    added. Clones are left as they were. Raises :class:`SynthError` when yesterday's fleet
    has too few hosts of a kind, or ``out_dir`` is not new or empty."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SynthError(f"{out}: give a new or empty folder")
    for name, n in (("fixed", fixed), ("drifted", drifted), ("gone", gone), ("new", new)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise SynthError(f"{name} must be a whole number of at least 0, not {n!r}")
    originals = [g for g in generated if not g.clone_of]
    night = make_fleet(out / "night", count=len(originals) + new, base=base, seed=seed)
    tonight = {Path(g.path).name: g for g in night}
    before = {Path(g.path).name: g for g in originals}
    if not before.keys() <= tonight.keys():  # the numbering widened (999 hosts, then 1,000)
        raise SynthError("the night's fleet does not number its hosts as yesterday's did")
    rng = random.Random(f"hftinfra.synth.overnight:{seed}")

    def pick(kind: str, n: int, names: list[str]) -> list[str]:
        if len(names) < n:
            raise SynthError(f"yesterday's fleet has {len(names)} hosts that could be {kind} overnight, not {n}")
        return sorted(rng.sample(sorted(names), n))

    now_fixed = pick("fixed", fixed, [n for n, g in before.items() if g.drifts and not tonight[n].drifts])
    now_drifted = pick("drifted", drifted, [n for n, g in before.items() if not g.drifts and tonight[n].drifts])
    now_gone = pick("gone", gone, [n for n, g in before.items() if not g.drifts and n not in now_drifted])
    now_new = [Path(g.path).name for g in night[len(originals):]]
    today = out / "today"
    today.mkdir(parents=True)
    changed = {n: Path(tonight[n].path) for n in [*now_fixed, *now_drifted, *now_new]}
    for folder in folders:
        for p in sorted(Path(folder).iterdir()):
            if p.name in (MANIFEST, "collect.json") or p.name in now_gone or p.name in changed:
                continue
            (today / p.name).symlink_to(p.resolve())
    for name, target in changed.items():
        (today / name).symlink_to(target.resolve())
    return Night(today, tuple(now_fixed), tuple(now_drifted), tuple(now_gone), tuple(now_new),
                 {n: tonight[n].drifts for n in [*now_drifted, *now_new]})


__all__ = ["BIOS_UPDATES", "DEFAULT_BASE", "DIR", "DRIFTS", "Base", "Drift", "GeneratedHost", "GroundTruth",
           "Night", "SCHEMA", "SnapshotTree", "Symlink", "SynthError", "ground_truth", "load_base", "make_fleet",
           "make_host", "overnight"]
