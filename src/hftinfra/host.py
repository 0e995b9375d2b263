"""Where bytes come from: the live machine or a snapshot of one.

Every read of /proc, /sys, /dev and /etc and every command output goes through a
:class:`Host`, so a snapshot can stand in for the live host everywhere. A read returns
the text, or an :class:`Unread` that says why it could not (``missing``, ``denied``,
``unsupported``, ``malformed``). An ``Unread`` is falsy but is never a zero, an empty
list or a pass: callers must carry it up to the report.

A snapshot is a filesystem root (``proc/``, ``sys/``, ``etc/``, ``dev/`` as on the host)
plus an optional ``hftinfra/`` folder holding ``meta.json`` and ``commands.json``. It can
be a directory or a ``.tar.gz`` of one, and has at least ``hftinfra/meta.json``, ``proc/``
or ``sys/``; a path that resolves to ``/`` is the live host, not a snapshot of it. Paths
inside a snapshot are resolved the way a chroot resolves them (and as ``openat2(2)`` does
with ``RESOLVE_IN_ROOT``): an absolute symlink target (``proc/42/root -> /``) starts at the
snapshot's root, and ``..`` at the root stays there. A link whose target is not in the
snapshot reads as ``missing``, like any absent file: trees captured by other tools hold
only part of sysfs (``driver -> ../../../bus/pci/drivers/ice`` without ``bus/``).
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
import shutil
import stat
import subprocess
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

META_DIR = "hftinfra"
META_FILE = f"{META_DIR}/meta.json"
COMMANDS_FILE = f"{META_DIR}/commands.json"
# {host path: {"reason": "denied", "detail": "..."}}: reads that failed at capture time, so a
# snapshot replays 'denied' or 'unsupported' rather than 'missing'.
UNREAD_FILE = f"{META_DIR}/unread.json"
SNAPSHOT_TOPS = ("proc", "sys", "etc", "dev")
# Largest single file read from a host; sysfs and procfs files are far smaller, a bigger
# one in a snapshot is damage (or a trap) rather than data.
# /proc/interrupts grows with CPUs x IRQs: 23 MB at 512 CPUs and 4,096 IRQs. A file past
# the limit is refused whole (EFBIG), never returned cut short.
MAX_READ_BYTES = 128 * 1024 * 1024
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024


class HostError(Exception):
    """A host could not be opened (not a snapshot, damaged archive, unsafe entry)."""


class Reason(str, Enum):
    MISSING = "missing"
    DENIED = "denied"
    UNSUPPORTED = "unsupported"
    MALFORMED = "malformed"

    def __str__(self) -> str:  # "missing", not "Reason.MISSING"
        return self.value


@dataclass(frozen=True)
class Unread:
    """A value that could not be read, and why. Falsy, never equal to a real value."""

    reason: Reason
    source: str
    detail: str = ""

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        if self.detail and self.source not in self.detail:
            return f"unknown ({self.reason}: {self.source}: {self.detail})"
        return f"unknown ({self.reason}: {self.detail or self.source})"

    def to_json(self) -> dict:
        return {"unknown": str(self.reason), "source": self.source, "detail": self.detail}


def is_unread(value: object) -> bool:
    return isinstance(value, Unread)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def command_key(argv: Iterable[str]) -> str:
    return " ".join(argv)


# A read that is neither a file nor a command (a system call such as adjtimex(2)) is kept in
# commands.json under "hftinfra:NAME", a key no command line can have (no program is named so).
CALL_PREFIX = "hftinfra:"


@dataclass(frozen=True)
class CallResult:
    """What a named read-only system call gave: its return value and the bytes it filled in
    (in the layout the caller defines; a snapshot stores them as hex)."""

    name: str
    returncode: int
    data: bytes


def call_key(name: str) -> str:
    return CALL_PREFIX + name


def _unread_for_oserror(exc: OSError, path: str) -> Unread:
    reason = _reason_for_oserror(exc)
    # "No such file" and "Permission denied" add nothing to the reason; EINVAL and the like do.
    detail = (exc.strerror or str(exc)) if reason is Reason.UNSUPPORTED else ""
    return Unread(reason, path, detail)


def _reason_for_oserror(exc: OSError) -> Reason:
    if isinstance(exc, FileNotFoundError) or exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return Reason.MISSING
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return Reason.DENIED
    # sysfs answers EINVAL, ENODEV, EOPNOTSUPP, EIO for attributes a driver lacks.
    return Reason.UNSUPPORTED


def _read_capped(fh) -> bytes:
    # Small reads: /proc/sys handlers allocate the whole requested size (a single 8 MiB
    # read of /proc/sys/kernel/hostname fails with ENOMEM).
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = fh.read(1 << 20 if total >= 1 << 20 else 65536)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > MAX_READ_BYTES:
            raise OSError(errno.EFBIG, f"larger than {MAX_READ_BYTES >> 20} MiB: not read")
    return b"".join(chunks)


def _kind_of_mode(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "other"  # device, fifo, socket


def _norm(path: str) -> str:
    """'/proc//cmdline' and 'proc/cmdline' both become '/proc/cmdline'."""
    return posixpath.normpath("/" + path.lstrip("/"))


@dataclass
class Recorder:
    """What probes touched on a live host: the list a snapshot captures."""

    files: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    commands: dict[str, CommandResult] = field(default_factory=dict)
    calls: dict[str, CallResult] = field(default_factory=dict)


class Host:
    """Base class: reads by absolute host path ('/proc/cmdline')."""

    is_live: bool = False
    source: str = ""

    # ---- primitives, implemented by subclasses -------------------------------------
    def _read_bytes(self, path: str) -> bytes:  # raises OSError
        raise NotImplementedError

    def _listdir(self, path: str) -> list[str]:  # raises OSError
        raise NotImplementedError

    def _readlink(self, path: str) -> str:  # raises OSError
        raise NotImplementedError

    def _isdir(self, path: str) -> bool:
        raise NotImplementedError

    def run(self, argv: list[str] | tuple[str, ...], timeout: float = 10.0) -> CommandResult | Unread:
        raise NotImplementedError

    def call(self, name: str, fn: Callable[[], tuple[int, bytes]]) -> CallResult | Unread:
        """A named read-only system call: a live host runs ``fn`` (which returns the call's
        return value and the bytes it filled in, and raises OSError on failure); a snapshot
        replays what its capture recorded under ``hftinfra:NAME``. ``fn`` must only read."""
        raise NotImplementedError

    # ---- public API -------------------------------------------------------------------
    @property
    def meta(self) -> dict:
        return {}

    def read_bytes(self, path: str) -> bytes | Unread:
        """The raw bytes of a file (``/proc/config.gz``), or why not."""
        path = _norm(path)
        recorded = self._recorded_unread(path)
        if recorded is not None:
            return recorded
        try:
            return self._read_bytes(path)
        except OSError as exc:
            return _unread_for_oserror(exc, path)
        except HostError as exc:
            return Unread(Reason.MALFORMED, path, str(exc))

    def _recorded_unread(self, path: str) -> Unread | None:
        return None

    def read(self, path: str) -> str | Unread:
        """The text of a file, stripped of its trailing newline, or why not."""
        data = self.read_bytes(path)
        if isinstance(data, Unread):
            return data
        text = data.decode("utf-8", errors="replace")
        return text[:-1] if text.endswith("\n") else text

    def read_value(self, path: str, parse: Callable[[str], T]) -> T | Unread:
        """Read and parse; a parser's ValueError becomes ``malformed`` naming the path."""
        text = self.read(path)
        if isinstance(text, Unread):
            return text
        try:
            return parse(text)
        except (ValueError, IndexError, KeyError) as exc:
            return Unread(Reason.MALFORMED, _norm(path), f"{_norm(path)}: {exc}")

    def read_shared(self, path: str, parse: Callable[[str], T]) -> T | Unread:
        """read_value for a large file that several probes parse (/proc/interrupts): a
        snapshot, which never changes, parses it once; a live host reads it afresh."""
        return self.read_value(path, parse)

    def listdir(self, path: str) -> list[str] | Unread:
        """Sorted names in a directory, or why not."""
        path = _norm(path)
        recorded = self._recorded_unread(path)
        if recorded is not None:
            return recorded
        try:
            return sorted(self._listdir(path))
        except OSError as exc:
            return _unread_for_oserror(exc, path)
        except HostError as exc:
            return Unread(Reason.MALFORMED, path, str(exc))

    def readlink(self, path: str) -> str | Unread:
        path = _norm(path)
        recorded = self._recorded_unread(path)
        if recorded is not None:
            return recorded
        try:
            return self._readlink(path)
        except OSError as exc:
            return _unread_for_oserror(exc, path)
        except HostError as exc:
            return Unread(Reason.MALFORMED, path, str(exc))

    def exists(self, path: str) -> bool:
        path = _norm(path)
        recorded = self._recorded_unread(path)
        if recorded is not None:
            # Denied or unsupported at capture time means the file was there.
            return recorded.reason is not Reason.MISSING
        try:
            self._isdir(path) or self._read_probe(path)
            return True
        except (OSError, HostError):
            return False

    def isdir(self, path: str) -> bool:
        try:
            return self._isdir(_norm(path))
        except (OSError, HostError):
            return False

    def _read_probe(self, path: str) -> None:
        self._read_bytes(path)

    def keeps_all_folders(self, path: str) -> bool:
        """Whether a listing of ``path`` shows every sub-folder and link the host had there,
        so that an absent one was absent on the host. A snapshot holds only what was read,
        plus the sub-folders and links of each folder its capture listed (named in
        meta.json); files there that nobody read are left out even so."""
        return False

    def describe(self) -> str:
        return self.source


# ------------------------------------------------------------------------------------------
# Live host


class LiveHost(Host):
    """The machine this process runs on. Reads only; commands run with LC_ALL=C."""

    is_live = True

    def __init__(self, root: str = "/", recorder: Recorder | None = None):
        self.root = root
        self.source = "live"
        self.recorder = recorder

    def _p(self, path: str) -> str:
        return path if self.root == "/" else os.path.join(self.root, path.lstrip("/"))

    def _read_bytes(self, path: str) -> bytes:
        if self.recorder is not None:
            self.recorder.files.add(path)
        with open(self._p(path), "rb", buffering=0) as fh:
            return _read_capped(fh)

    def _listdir(self, path: str) -> list[str]:
        if self.recorder is not None:
            self.recorder.dirs.add(path)
        return os.listdir(self._p(path))

    def _readlink(self, path: str) -> str:
        if self.recorder is not None:
            self.recorder.links.add(path)
        return os.readlink(self._p(path))

    def _isdir(self, path: str) -> bool:
        if self.recorder is not None:
            self.recorder.dirs.add(path)
        return os.path.isdir(self._p(path))

    def keeps_all_folders(self, path: str) -> bool:
        return True

    def _read_probe(self, path: str) -> None:
        if self.recorder is not None:
            self.recorder.files.add(path)
        if not os.path.exists(self._p(path)):
            raise FileNotFoundError(errno.ENOENT, "No such file", path)

    def _lkind(self, path: str) -> str | None:
        """What a link-free path is, without following a final link (for the snapshot writer)."""
        try:
            st = os.lstat(self._p(path))
        except OSError:
            return None
        return _kind_of_mode(st.st_mode)

    def _raw_readlink(self, path: str) -> str:
        return os.readlink(self._p(path))

    def run(self, argv, timeout: float = 10.0) -> CommandResult | Unread:
        argv = tuple(argv)
        key = command_key(argv)
        if shutil.which(argv[0]) is None:
            result: CommandResult | Unread = Unread(Reason.UNSUPPORTED, key, f"{argv[0]} is not installed")
        else:
            env = dict(os.environ, LC_ALL="C", LANG="C")
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                      env=env, stdin=subprocess.DEVNULL, errors="replace")
                result = CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)
            except subprocess.TimeoutExpired:
                result = Unread(Reason.UNSUPPORTED, key, f"{argv[0]} did not answer within {timeout:g} s")
            except OSError as exc:
                result = Unread(_reason_for_oserror(exc), key, str(exc))
        if self.recorder is not None and isinstance(result, CommandResult):
            self.recorder.commands[key] = result
        return result

    def call(self, name: str, fn: Callable[[], tuple[int, bytes]]) -> CallResult | Unread:
        try:
            returncode, data = fn()
        except OSError as exc:
            return Unread(_reason_for_oserror(exc), call_key(name), exc.strerror or str(exc))
        result = CallResult(name, int(returncode), bytes(data))
        if self.recorder is not None:
            self.recorder.calls[name] = result
        return result


# ------------------------------------------------------------------------------------------
# Snapshots


class _Tree:
    """A read-only file tree with chroot-style symlink resolution."""

    def __init__(self) -> None:
        self._resolved_dirs: dict[str, str] = {}

    def lstat_kind(self, rel: str) -> str | None:  # 'file' | 'dir' | 'link' | None
        raise NotImplementedError

    def raw_readlink(self, rel: str) -> str:
        raise NotImplementedError

    def raw_read(self, rel: str) -> bytes:
        raise NotImplementedError

    def raw_listdir(self, rel: str) -> list[str]:
        raise NotImplementedError

    def resolve(self, path: str, follow_last: bool = True) -> str:
        """Resolve '/a/b/c' to a link-free relative path 'a/b/c' inside the tree.

        Probes read many files of one folder (a CPU's cpuidle states), so a folder's
        resolution is kept: the tree does not change while it is read."""
        parent, _, last = path.rstrip("/").rpartition("/")
        if last in ("", ".", ".."):
            return self._walk(path, follow_last)
        base = self._resolved_dirs.get(parent)
        if base is None:
            base = self._resolved_dirs[parent] = self._walk(parent or "/", True)
        cand = f"{base}/{last}" if base else last
        kind = self.lstat_kind(cand)
        if kind is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if kind == "link" and follow_last:
            return self._walk(path, follow_last)
        return cand

    def _walk(self, path: str, follow_last: bool) -> str:
        todo = [p for p in path.split("/") if p]
        done: list[str] = []
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == ".":
                continue
            if part == "..":
                if done:  # at the root, '..' is the root (path_resolution(7), chroot)
                    done.pop()
                continue
            cand = "/".join(done + [part])
            kind = self.lstat_kind(cand)
            if kind is None:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
            if kind == "link" and (todo or follow_last):
                hops += 1
                if hops > 40:
                    raise OSError(errno.ELOOP, "Too many levels of symbolic links", path)
                target = self.raw_readlink(cand)
                if target.startswith("/"):
                    done = []
                todo = [p for p in target.split("/") if p] + todo
                continue
            done.append(part)
        return "/".join(done)


class _DirTree(_Tree):
    def __init__(self, root: Path):
        super().__init__()
        self.root = root
        self._prefix = str(root).rstrip("/") + "/"
        # A snapshot does not change while it is read. Resolving walks every component of
        # every path, so without this a 384-CPU host costs ~140k lstat calls per probe run.
        self._kinds: dict[str, str | None] = {}

    def _abs(self, rel: str) -> str:
        return self._prefix + rel if rel else str(self.root)

    def lstat_kind(self, rel: str) -> str | None:
        try:
            return self._kinds[rel]
        except KeyError:
            pass
        try:
            kind: str | None = _kind_of_mode(os.lstat(self._abs(rel)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            kind = None
        self._kinds[rel] = kind
        return kind

    def raw_readlink(self, rel: str) -> str:
        return os.readlink(self._abs(rel))

    def raw_read(self, rel: str) -> bytes:
        full = self._abs(rel)
        # O_NOFOLLOW: the path is already resolved; a link swapped in meanwhile is refused.
        # O_NONBLOCK: a fifo planted in a snapshot must not hang the reader on open.
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb", buffering=0) as fh:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", rel)
            if not stat.S_ISREG(mode):
                # A device or fifo in a snapshot is damage: /dev/zero would read forever.
                raise HostError(f"{rel}: not a regular file in the snapshot")
            return _read_capped(fh)

    def raw_listdir(self, rel: str) -> list[str]:
        return os.listdir(self._abs(rel))

    def read_path(self, path: str) -> bytes:
        """resolve() then raw_read(), with one system call fewer for the common case: the
        folder's resolution is kept, and opening the last component with O_NOFOLLOW tells
        a plain file (read it) from a link (ELOOP: resolve it the long way)."""
        parent, _, last = path.rstrip("/").rpartition("/")
        if last in ("", ".", ".."):
            return self.raw_read(self.resolve(path))
        base = self._resolved_dirs.get(parent)
        if base is None:
            base = self._resolved_dirs[parent] = self._walk(parent or "/", True)
        rel = f"{base}/{last}" if base else last
        try:
            fd = os.open(self._abs(rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return self.raw_read(self.resolve(path))
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path) from None
            raise
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", rel)
            if not stat.S_ISREG(st.st_mode):
                raise HostError(f"{rel}: not a regular file in the snapshot")
            if st.st_size > MAX_READ_BYTES:
                raise OSError(errno.EFBIG, f"larger than {MAX_READ_BYTES >> 20} MiB: not read")
            # A regular file in a snapshot: its size is known, one read takes it whole.
            data = os.read(fd, st.st_size + 1)
            if len(data) <= st.st_size:
                return data
            with os.fdopen(os.dup(fd), "rb", buffering=0) as fh:  # it grew meanwhile
                return data + _read_capped(fh)
        finally:
            os.close(fd)


class _MemTree(_Tree):
    """A tree held in memory, read from a .tar.gz snapshot."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.links: dict[str, str] = {}
        self.dirs: set[str] = {""}
        self.children: dict[str, set[str]] = {"": set()}

    def _add_parents(self, rel: str) -> None:
        parent, _, child = rel.rpartition("/")
        kids = self.children.get(parent)
        if kids is None:
            self._add_parents(parent)
            self.dirs.add(parent)
            kids = self.children[parent] = set()
        kids.add(child)

    def add_file(self, rel: str, data: bytes) -> None:
        self._add_parents(rel)
        self.files[rel] = data

    def add_dir(self, rel: str) -> None:
        self._add_parents(rel)
        self.dirs.add(rel)
        self.children.setdefault(rel, set())

    def add_link(self, rel: str, target: str) -> None:
        self._add_parents(rel)
        self.links[rel] = target

    def lstat_kind(self, rel: str) -> str | None:
        if rel in self.links:
            return "link"
        if rel in self.dirs:
            return "dir"
        if rel in self.files:
            return "file"
        return None

    def raw_readlink(self, rel: str) -> str:
        return self.links[rel]

    def raw_read(self, rel: str) -> bytes:
        if rel in self.dirs:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", rel)
        return self.files[rel]

    def raw_listdir(self, rel: str) -> list[str]:
        if rel not in self.dirs:
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", rel)
        return list(self.children.get(rel, ()))


class SnapshotHost(Host):
    """A captured host: a directory or a .tar.gz. Commands replay what was recorded."""

    is_live = False

    def __init__(self, tree: _Tree, source: str):
        self._tree = tree
        self.source = source
        self._meta: dict | None = None
        self._commands: dict | None = None
        self._unread: dict | None = None

    def read_shared(self, path: str, parse: Callable[[str], T]) -> T | Unread:
        key = (_norm(path), parse)
        shared = self.__dict__.setdefault("_shared", {})
        if key not in shared:
            shared[key] = self.read_value(path, parse)
        return shared[key]

    def _recorded_unread(self, path: str) -> Unread | None:
        if self._unread is None:
            self._unread = self._meta_json(UNREAD_FILE)
        rec = self._unread.get(path)
        if not isinstance(rec, dict):
            return None
        try:
            return Unread(Reason(rec.get("reason")), path, str(rec.get("detail", "")))
        except ValueError:
            return Unread(Reason.MALFORMED, path, "damaged entry in hftinfra/unread.json")

    def _read_bytes(self, path: str) -> bytes:
        if isinstance(self._tree, _DirTree):
            return self._tree.read_path(path)
        return self._tree.raw_read(self._tree.resolve(path))

    def _listdir(self, path: str) -> list[str]:
        try:
            rel = self._tree.resolve(path)
        except FileNotFoundError:
            if self._listed_but_absent(path):
                return []
            raise
        if self._tree.lstat_kind(rel) != "dir" and rel != "":
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", path)
        names = self._tree.raw_listdir(rel)
        if rel == "":
            names = [n for n in names if n != META_DIR]
        return names

    def _readlink(self, path: str) -> str:
        rel = self._tree.resolve(path, follow_last=False)
        if self._tree.lstat_kind(rel) != "link":
            raise OSError(errno.EINVAL, "Not a symbolic link", path)
        return self._tree.raw_readlink(rel)

    def _isdir(self, path: str) -> bool:
        try:
            rel = self._tree.resolve(path)
        except FileNotFoundError:
            if self._listed_but_absent(path):
                return True
            raise
        return rel == "" or self._tree.lstat_kind(rel) == "dir"

    def _listed_but_absent(self, path: str) -> bool:
        """A folder the capture listed that the tree lacks was empty: a snapshot kept in
        git loses empty folders, and its meta.json still says it was listed."""
        return self.keeps_all_folders(path)

    def _read_probe(self, path: str) -> None:
        self._tree.resolve(path)  # raises if absent; no need to read the bytes

    def keeps_all_folders(self, path: str) -> bool:
        listed = self.meta.get("listed")
        return isinstance(listed, list) and _norm(path) in listed

    def _lkind(self, path: str) -> str | None:
        """What a link-free path is, without following a final link (for the snapshot writer)."""
        rel = path.strip("/")
        if rel == "":
            return "dir"
        try:
            return self._tree.lstat_kind(rel)
        except OSError:
            return None

    def _raw_readlink(self, path: str) -> str:
        return self._tree.raw_readlink(path.strip("/"))

    def _meta_json(self, rel: str) -> dict:
        try:
            # Resolved like any other path: 'hftinfra -> /etc' must not read the real /etc.
            data = self._tree.raw_read(self._tree.resolve("/" + rel))
        except (OSError, KeyError):
            return {}
        try:
            value = json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise HostError(f"{self.source}: {rel} is not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise HostError(f"{self.source}: {rel} is not a JSON object")
        return value

    def check_metadata(self) -> None:
        """Load the metadata files now: damaged metadata is an error at open, not mid-page."""
        _ = self.meta, self.commands
        self._recorded_unread("/")

    @property
    def meta(self) -> dict:
        if self._meta is None:
            self._meta = self._meta_json(META_FILE)
        return self._meta

    @property
    def commands(self) -> dict:
        if self._commands is None:
            self._commands = self._meta_json(COMMANDS_FILE)
        return self._commands

    def run(self, argv, timeout: float = 10.0) -> CommandResult | Unread:
        key = command_key(argv)
        rec = self.commands.get(key)
        if rec is None:
            return Unread(Reason.MISSING, key, "command output not recorded in this snapshot")
        if isinstance(rec, dict) and rec.get("unavailable"):
            return Unread(Reason.UNSUPPORTED, key, str(rec["unavailable"]))
        try:
            return CommandResult(tuple(argv), int(rec["returncode"]), str(rec["stdout"]), str(rec.get("stderr", "")))
        except (KeyError, TypeError, ValueError):
            return Unread(Reason.MALFORMED, key, "recorded command output is damaged")

    def call(self, name: str, fn: Callable[[], tuple[int, bytes]]) -> CallResult | Unread:
        key = call_key(name)
        rec = self.commands.get(key)
        if rec is None:
            return Unread(Reason.MISSING, key, "not recorded in this snapshot")
        if isinstance(rec, dict) and "unavailable" in rec:
            try:
                reason = Reason(rec.get("reason", Reason.UNSUPPORTED.value))
            except ValueError:
                reason = Reason.MALFORMED
            return Unread(reason, key, str(rec["unavailable"]))
        try:
            return CallResult(name, int(rec["returncode"]), bytes.fromhex(rec["data"]))
        except (KeyError, TypeError, ValueError):
            return Unread(Reason.MALFORMED, key, "recorded call result is damaged")


def _load_archive(path: Path) -> _MemTree:
    from hftinfra import archive

    tree = _MemTree()
    try:
        if path.stat().st_size > MAX_ARCHIVE_BYTES:
            raise HostError(f"{path}: archive larger than {MAX_ARCHIVE_BYTES >> 20} MiB")
        image = archive.gunzip(path.read_bytes(), MAX_ARCHIVE_BYTES)
        for member in archive.members(image):
            name = member.name
            while name.startswith("./"):
                name = name[2:]
            rel = posixpath.normpath(name) if name else "."
            if rel in (".", ""):
                continue
            if name.startswith("/") or rel == ".." or rel.startswith("../"):
                raise HostError(f"{path}: unsafe entry {name!r} leaves the snapshot")
            if member.kind == archive.SYMLINK:
                # Any target is fine: reads resolve it inside the snapshot's root.
                tree.add_link(rel, member.linkname)
            elif member.kind == archive.DIRECTORY:
                tree.add_dir(rel)
            elif member.kind == archive.REGULAR:
                tree.add_file(rel, member.data)
            elif member.kind == archive.HARDLINK:
                raise HostError(f"{path}: hard link entry {name!r} is not allowed in a snapshot")
            else:
                # A snapshot holds what was read, as text: a device or fifo is damage.
                raise HostError(f"{path}: device or fifo entry {name!r} is not allowed in a snapshot")
    except HostError:
        raise
    except (archive.ArchiveError, OSError, zlib.error) as exc:
        raise HostError(f"{path}: not a readable .tar.gz snapshot ({exc.__class__.__name__}: {exc})") from None
    # An archive whose entries sit under one folder ('myhost/proc/...') is rooted there.
    tops = tree.children.get("", set())
    if len(tops) == 1 and not (tops & {*SNAPSHOT_TOPS, META_DIR}):
        (only,) = tops
        if only in tree.dirs:
            tree = _reroot(tree, only)
    return tree


def _reroot(tree: _MemTree, top: str) -> _MemTree:
    new = _MemTree()
    cut = len(top) + 1
    for rel in tree.dirs:
        if rel.startswith(top + "/"):
            new.add_dir(rel[cut:])
    for rel, data in tree.files.items():
        new.add_file(rel[cut:], data)
    for rel, target in tree.links.items():
        new.add_link(rel[cut:], target)
    return new


# What makes a folder or an archive a snapshot: the metadata the writer always leaves, or
# a proc/ or sys/ tree (captured by hand, or a test corpus such as prometheus/procfs'). An
# etc/ or dev/ alone is not enough: /sys has dev/, /usr/local has etc/.
SNAPSHOT_MARKS = "proc/, sys/ or hftinfra/meta.json"


def _is_snapshot_dir(path: Path) -> bool:
    def lkind(rel: str) -> str | None:
        try:
            return _kind_of_mode(os.lstat(path / rel).st_mode)
        except OSError:
            return None

    return lkind("proc") == "dir" or lkind("sys") == "dir" or lkind(META_FILE) == "file"


def _is_snapshot_tree(tree: _MemTree) -> bool:
    return "proc" in tree.dirs or "sys" in tree.dirs or META_FILE in tree.files


def _is_live_root(path: Path) -> bool:
    try:
        return path.resolve() == Path("/")
    except (OSError, RuntimeError):
        return False


def open_host(spec: str | os.PathLike | None = None) -> Host:
    """The live host for None, '', 'live' or any path that resolves to '/' ('/.', '/tmp/..');
    otherwise a snapshot directory or .tar.gz."""
    if spec is None or str(spec) in ("", "live", "/"):
        return LiveHost()
    path = Path(spec).expanduser()
    if not path.exists():
        raise HostError(f"{path}: no such snapshot (expected a directory or a .tar.gz)")
    if _is_live_root(path):
        # The whole filesystem is the live host, not a snapshot of it: reading it as one would
        # walk every mount and replay no commands.
        return LiveHost()
    if path.is_dir():
        try:
            os.listdir(path)
        except OSError as exc:
            raise HostError(f"{path}: cannot read snapshot directory ({exc.strerror})") from None
        if not _is_snapshot_dir(path):
            raise HostError(f"{path}: not a snapshot (no {SNAPSHOT_MARKS} inside)")
        host = SnapshotHost(_DirTree(path.resolve()), str(path))
    elif path.name.endswith((".tar.gz", ".tgz")):
        tree = _load_archive(path)
        if not _is_snapshot_tree(tree):
            raise HostError(f"{path}: not a snapshot (archive holds no {SNAPSHOT_MARKS})")
        host = SnapshotHost(tree, str(path))
    else:
        raise HostError(f"{path}: not a snapshot (expected a directory or a .tar.gz)")
    host.check_metadata()
    return host


def host_from_env(var: str = "HFTINFRA_HOST") -> Host:
    return open_host(os.environ.get(var) or None)


__all__ = [
    "CALL_PREFIX", "CallResult", "CommandResult", "Host", "HostError", "LiveHost", "Reason", "Recorder",
    "SnapshotHost", "Unread", "call_key", "host_from_env", "is_unread", "open_host",
]
