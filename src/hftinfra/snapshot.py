"""``hftinfra snapshot``: capture exactly what the probes read into a snapshot.

Every registered probe (and ``read_identity``) runs against a capturing host that wraps
the source (the live machine, or another snapshot) and remembers each file read, folder
listed, link read and command run. The snapshot then holds those and nothing else:

- files at their real, link-free paths, with every symlink met on the way recorded as a
  link, so ``/sys/class/net/eth0/mtu`` replays through the same
  ``eth0 -> ../../devices/...`` link it was read through on the host;
- folders that were listed, with their sub-folders and links (so a listing of
  ``/sys/devices/system/cpu`` replays its ``cpuN`` entries); files nobody read stay absent;
- command outputs with exit codes (``hftinfra/commands.json``), and beside them the results
  of named read-only system calls (``hftinfra:adjtimex``: return value and bytes as hex);
- reads that failed as ``denied`` or ``unsupported`` (``hftinfra/unread.json``), so a
  snapshot taken as an unprivileged user says "denied" where the host did, not "missing";
- ``hftinfra/meta.json``: schema, capture time, version, kernel, hostname, whether the
  host was a virtual machine, who captured it, and which folders were listed (so a check
  can tell a sub-folder the host lacked from one nobody looked for).

A path that was only tested for existence is written as an empty file: the probe saw that
it exists and never saw its content, and reading it now (``/proc/kmsg``, a device) could
block or change something.

Output is written beside the target under a hidden temporary name and renamed into place,
so an interrupted capture leaves no half-written snapshot.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import io
import json
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hftinfra.host import (
    COMMANDS_FILE,
    META_DIR,
    META_FILE,
    UNREAD_FILE,
    CallResult,
    CommandResult,
    Host,
    HostError,
    LiveHost,
    Reason,
    SnapshotHost,
    Unread,
    _norm,
    call_key,
    command_key,
)

SCHEMA = "hftinfra.snapshot"
SCHEMA_VERSION = 1
# Symlink hops followed while recording one path; the kernel's own limit is 40.
MAX_LINK_HOPS = 40


class SnapshotError(HostError):
    """The snapshot cannot be written (target exists, not writable, ...)."""


# ------------------------------------------------------------------------------------------
# The capturing host


class CapturingHost(Host):
    """Wraps a source host; answers exactly as it does and remembers what was asked."""

    def __init__(self, inner: Host):
        self.inner = inner
        self.is_live = inner.is_live
        self.source = inner.source
        # First answer wins: two probes reading one counter file capture one version of it.
        self.reads: dict[str, bytes | Unread] = {}
        self.listed: dict[str, list[str] | Unread] = {}
        self.links_read: dict[str, str | Unread] = {}
        self.checked: dict[str, bool] = {}  # exists() / isdir() without a read
        self.commands: dict[str, CommandResult | Unread] = {}
        self.calls: dict[str, CallResult | Unread] = {}

    @property
    def meta(self) -> dict:
        return self.inner.meta

    def read_bytes(self, path: str) -> bytes | Unread:
        path = _norm(path)
        result = self.inner.read_bytes(path)
        self.reads.setdefault(path, result)
        return result

    def listdir(self, path: str) -> list[str] | Unread:
        path = _norm(path)
        result = self.inner.listdir(path)
        self.listed.setdefault(path, result)
        return result

    def keeps_all_folders(self, path: str) -> bool:
        return self.inner.keeps_all_folders(path)

    def readlink(self, path: str) -> str | Unread:
        path = _norm(path)
        result = self.inner.readlink(path)
        self.links_read.setdefault(path, result)
        return result

    def exists(self, path: str) -> bool:
        path = _norm(path)
        result = self.inner.exists(path)
        self.checked.setdefault(path, result)
        return result

    def isdir(self, path: str) -> bool:
        path = _norm(path)
        result = self.inner.isdir(path)
        self.checked.setdefault(path, result)
        return result

    def run(self, argv, timeout: float = 10.0) -> CommandResult | Unread:
        result = self.inner.run(argv, timeout=timeout)
        self.commands.setdefault(command_key(argv), result)
        return result

    def call(self, name: str, fn) -> CallResult | Unread:
        result = self.inner.call(name, fn)
        self.calls.setdefault(name, result)
        return result

    def describe(self) -> str:
        return self.inner.describe()


# ------------------------------------------------------------------------------------------
# What a snapshot holds, before it is written


@dataclass
class Captured:
    """A snapshot in memory: link-free relative paths ('proc/cpuinfo') to content."""

    files: dict[str, bytes] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)
    commands: dict[str, dict] = field(default_factory=dict)
    unread: dict[str, dict] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def _kind(self, rel: str) -> str | None:
        if rel in self.links:
            return "link"
        if rel in self.dirs:
            return "dir"
        if rel in self.files:
            return "file"
        return None

    def _parents_ok(self, rel: str) -> bool:
        parts = rel.split("/")
        for i in range(1, len(parts)):
            kind = self._kind("/".join(parts[:i]))
            if kind not in (None, "dir"):
                return False
        return True

    def add_dir(self, rel: str) -> None:
        if rel and self._kind(rel) in (None, "dir") and self._parents_ok(rel):
            self.dirs.add(rel)

    def add_link(self, rel: str, target: str) -> None:
        if self._kind(rel) in (None, "link") and self._parents_ok(rel):
            self.links[rel] = target

    def add_file(self, rel: str, data: bytes, replace: bool = False) -> None:
        kind = self._kind(rel)
        if (kind is None or (kind == "file" and replace)) and self._parents_ok(rel):
            self.files[rel] = data

    def all_dirs(self) -> list[str]:
        """Every folder the tree needs, parents included, shallowest first."""
        need = set(self.dirs)
        for rel in list(self.files) + list(self.links) + list(self.dirs):
            parts = rel.split("/")
            for i in range(1, len(parts)):
                need.add("/".join(parts[:i]))
        need.discard("")
        return sorted(need, key=lambda r: (r.count("/"), r))

    def size_bytes(self) -> int:
        return sum(len(v) for v in self.files.values())


class _Walker:
    """Follows host paths component by component on the source, recording each link."""

    def __init__(self, host: Host, captured: Captured):
        if not isinstance(host, (LiveHost, SnapshotHost)):
            raise SnapshotError(f"cannot capture from {type(host).__name__}")
        self.host = host
        self.captured = captured

    def resolve(self, path: str, follow_last: bool = True) -> tuple[str, str] | None:
        """The link-free relative path and its kind, or None if it does not resolve."""
        todo = [p for p in path.split("/") if p]
        done: list[str] = []
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == ".":
                continue
            if part == "..":
                if done:  # '..' at the root is the root, on a live host and in a snapshot
                    done.pop()
                continue
            cand = "/".join(done + [part])
            kind = self.host._lkind("/" + cand)
            if kind is None:
                return None
            if kind == "link" and (todo or follow_last):
                hops += 1
                if hops > MAX_LINK_HOPS:
                    return None
                try:
                    target = self.host._raw_readlink("/" + cand)
                except (OSError, KeyError):
                    return None
                self.captured.add_link(cand, target)
                if target.startswith("/"):
                    done = []
                todo = [p for p in target.split("/") if p] + todo
                continue
            if todo and kind != "dir":
                return None
            done.append(part)
        return "/".join(done), ("dir" if not done else self.host._lkind("/" + "/".join(done)) or "file")


def _unread_entry(value: Unread) -> dict:
    return {"reason": str(value.reason), "detail": value.detail}


def collect(cap: CapturingHost) -> Captured:
    """Turn what the probes asked of the source into the tree a snapshot holds."""
    captured = Captured()
    walker = _Walker(cap.inner, captured)

    for path, result in sorted(cap.reads.items()):
        found = walker.resolve(path)
        if isinstance(result, Unread):
            if found is not None and found[1] == "dir":
                # Reading a folder fails the same way everywhere (EISDIR); recording it
                # would make the folder's listing replay as unreadable too.
                captured.add_dir(found[0])
            elif result.reason is not Reason.MISSING:
                # 'missing' needs no entry: an absent file replays as missing by itself.
                captured.unread[path] = _unread_entry(result)
            continue
        if found is None:
            continue  # gone since it was read (a process exited): the read is what counts
        rel, kind = found
        if kind == "dir":
            captured.add_dir(rel)
        elif rel:
            captured.add_file(rel, result, replace=False)

    for path, result in sorted(cap.listed.items()):
        if isinstance(result, Unread):
            if result.reason is not Reason.MISSING:
                captured.unread[path] = _unread_entry(result)
            continue
        found = walker.resolve(path)
        if found is None or found[1] != "dir":
            continue
        rel = found[0]
        captured.add_dir(rel)
        for name in result:
            child = f"{rel}/{name}" if rel else name
            kind = cap.inner._lkind("/" + child)
            if kind == "dir":
                captured.add_dir(child)
            elif kind == "link":
                try:
                    captured.add_link(child, cap.inner._raw_readlink("/" + child))
                except (OSError, KeyError):
                    pass
            elif kind == "file" and not cap.inner.is_live and cap.inner.read_bytes("/" + child) == b"":
                # Copying a snapshot: an empty file there is a name its capture only knew to
                # exist (a device node); the listing is what says so, and a copy keeps it.
                captured.add_file(child, b"")
            elif kind == "other":
                # A device node (/dev/vfio/12): its name is the fact; a snapshot holds no
                # devices, so it keeps an empty file, as for a path only known to exist.
                captured.add_file(child, b"")

    for path, result in sorted(cap.links_read.items()):
        if isinstance(result, Unread):
            # readlink of a file or folder fails with EINVAL, which replays by itself;
            # only 'denied' says something about the path.
            if result.reason is Reason.DENIED:
                captured.unread.setdefault(path, _unread_entry(result))
            found = walker.resolve(path)
            if found is not None and found[1] == "dir":
                captured.add_dir(found[0])
            elif found is not None and found[0]:
                # It exists and is not a link (older kernels: cpuN/cpufreq is a folder or
                # file): kept, empty unless some probe read it.
                captured.add_file(found[0], b"")
            continue
        walker.resolve(path, follow_last=False)
        parent = walker.resolve(posixpath.dirname(path))
        if parent is not None:
            rel = posixpath.join(parent[0], posixpath.basename(path)) if parent[0] else posixpath.basename(path)
            captured.add_link(rel, result)

    for path, present in sorted(cap.checked.items()):
        if not present:
            continue
        found = walker.resolve(path)
        if found is None:
            continue
        rel, kind = found
        if kind == "dir":
            captured.add_dir(rel)
        elif rel and rel not in captured.files:
            unread = cap.reads.get(path)
            if not isinstance(unread, Unread):
                captured.add_file(rel, b"")

    for key, result in sorted(cap.commands.items()):
        if isinstance(result, CommandResult):
            captured.commands[key] = {"returncode": result.returncode, "stdout": result.stdout,
                                      "stderr": result.stderr}
        elif result.reason is not Reason.MISSING:
            captured.commands[key] = {"unavailable": result.detail or str(result.reason)}
    for name, result in sorted(cap.calls.items()):
        # Beside the commands, under a key no command line has; the bytes as hex, which the
        # redaction's address and serial patterns never match.
        if isinstance(result, CallResult):
            captured.commands[call_key(name)] = {"returncode": result.returncode, "data": result.data.hex()}
        elif result.reason is not Reason.MISSING:
            captured.commands[call_key(name)] = {"unavailable": result.detail or str(result.reason),
                                                 "reason": str(result.reason)}
    return captured


# ------------------------------------------------------------------------------------------
# Capture


def _user() -> dict:
    uid = os.geteuid()
    try:
        import pwd

        name = pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        name = str(uid)
    return {"name": name, "uid": uid, "is_root": uid == 0}


def _plain(value):
    return None if isinstance(value, Unread) else value


def _keep_window(captured: Captured, texts: dict, seconds) -> dict | None:
    """Store both readings of a counter window under hftinfra/window/; None when one of
    them could not be read (the snapshot then has no window, and says nothing false)."""
    from hftinfra.measure.interrupts import WINDOW_DIR

    if not isinstance(seconds, (int, float)) or not seconds > 0:
        return None
    if any(isinstance(t, Unread) for reading in texts.values() for t in reading.values()):
        return None
    for which, reading in texts.items():
        for name, text in reading.items():
            captured.add_file(f"{WINDOW_DIR.lstrip('/')}/{which}/{name}", text.encode())
    return {"seconds": round(float(seconds), 6), "files": f"{WINDOW_DIR.lstrip('/')}/{{first,second}}/"
            "{interrupts,softirqs}"}


@dataclass
class CaptureResult:
    captured: Captured
    probe_errors: dict[str, str]
    seconds: float


DEFAULT_COUNTER_WINDOW_S = 0.25


def capture(host: Host, probes: dict[str, Callable[[Host], object]] | None = None,
            redact: bool = False, counter_window_s: float = DEFAULT_COUNTER_WINDOW_S) -> CaptureResult:
    """Run the probes against ``host`` and return what a snapshot of it holds.

    On a live host the interrupt and softirq counters are also read at the start and again
    ``counter_window_s`` later (the probes run in between), so the snapshot can give rates,
    as irq.isolated_noise judges them; 0 records no window. A copied snapshot keeps its
    source's window."""
    from hftinfra import __version__
    from hftinfra.identity import read_identity
    from hftinfra.measure import interrupts as counters

    if probes is None:
        from hftinfra.probes import all_probes

        probes = all_probes()
    started = time.perf_counter()
    first = None
    if host.is_live and counter_window_s > 0:
        first_at = time.monotonic()
        first = counters.window_texts(host)
        first_at = (first_at + time.monotonic()) / 2
    cap = CapturingHost(host)
    identity = read_identity(cap)
    errors: dict[str, str] = {}
    for name, fn in probes.items():
        try:
            fn(cap)
        except Exception as exc:  # a probe's bug must not lose every other probe's reads
            errors[name] = f"{exc.__class__.__name__}: {exc}"
    captured = collect(cap)
    window = None
    if first is not None:
        left = counter_window_s - (time.monotonic() - first_at)
        if left > 0:
            time.sleep(left)
        second_at = time.monotonic()
        second = counters.window_texts(host)
        second_at = (second_at + time.monotonic()) / 2
        window = _keep_window(captured, {"first": first, "second": second}, second_at - first_at)
    elif not host.is_live and isinstance(host.meta.get(counters.WINDOW_META), dict):
        src_window = host.meta[counters.WINDOW_META]
        texts = {which: {name: host.read(f"{counters.WINDOW_DIR}/{which}/{name}") for name in counters.WINDOW_FILES}
                 for which in ("first", "second")}
        window = _keep_window(captured, texts, src_window.get("seconds"))

    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    virt = identity.virtualization
    meta = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "captured_at": now,
        "hftinfra_version": __version__,
        "kernel": _plain(identity.kernel),
        "hostname": _plain(identity.hostname),
        "virtual_machine": _plain(virt.detected),
        "virtualization": virt.kind,
        "virtualization_evidence": virt.evidence,
        "user": _user(),
        "probes": sorted(probes),
        # Folders listed at capture keep all their sub-folders and links (collect() below).
        "listed": sorted(p for p, r in cap.listed.items() if not isinstance(r, Unread) and host.keeps_all_folders(p)),
        "redacted": False,
    }
    if not host.is_live:
        # Copying a snapshot: the data was read when the source was captured.
        src = host.meta
        meta["captured_at"] = src.get("captured_at")
        meta["copied_at"] = now
        for key in ("virtual_machine", "virtualization", "virtualization_evidence", "user"):
            if key in src:
                meta[key] = src[key]
        if src.get("redacted"):
            meta["redacted"] = True
    if window is not None:
        meta[counters.WINDOW_META] = window
    if errors:
        meta["probe_errors"] = errors
    captured.meta = meta
    if redact:
        captured = Redactor().redact(captured)
    return CaptureResult(captured, errors, time.perf_counter() - started)


# ------------------------------------------------------------------------------------------
# Redaction

# Files whose whole content identifies one machine or part.
_SERIAL_FILES = frozenset({
    "product_serial", "board_serial", "chassis_serial", "chassis_asset_tag", "board_asset_tag",
    "serial", "wwid", "unique_id",
})
_MACHINE_ID_FILES = frozenset({"machine-id"})
_HOSTNAME_FILES = frozenset({"/proc/sys/kernel/hostname", "/etc/hostname"})
# Vendors' fillers in DMI fields: they identify nothing and say something (no serial set).
_FILLER = frozenset({
    "", "0", "none", "n/a", "na", "unknown", "not specified", "not applicable", "not present",
    "default string", "to be filled by o.e.m.", "system serial number", "chassis serial number",
    "base board serial number", "0123456789", "123456789", "(none)", "localhost",
    "localhost.localdomain",
})

_HEX = "0-9A-Fa-f"
_UUID = rf"(?<![{_HEX}-])[{_HEX}]{{8}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{12}}(?![{_HEX}-])"
_UUID_RE = re.compile(_UUID)
# Octets of a hardware address: 6 (Ethernet), 8 (EUI-64, FireWire) up to 20 (InfiniBand),
# colon- or dash-separated (IEEE 802 writes them with dashes; pxelinux's BOOTIF does too).
# Hex cpumasks use commas and 8-digit groups, PCI addresses 4-digit groups and a dot:
# neither matches. A colon form may follow 'ens1f0:' (dracut's ifname=); the replacement
# checks that what precedes the colon is a name, not another octet of a longer run.
_MAC_COLON = rf"(?<![{_HEX}])[{_HEX}]{{2}}(?::[{_HEX}]{{2}}){{5,19}}(?![{_HEX}:])"
_MAC_DASH = rf"(?<![\w-])[{_HEX}]{{2}}(?:-[{_HEX}]{{2}}){{5,20}}(?![\w-])"
_IPV6 = rf"(?<![\w:.])[{_HEX}:]*:[{_HEX}:]*:[{_HEX}:.]*(?<!\.)(?![\w:])"
_IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"
_KEYED_ID = rf"(?<=UUID=)[{_HEX}-]+"
# One pass, leftmost first: a placeholder one kind writes is never read again by another
# (an EUI-64 placeholder is eight colon groups, which the IPv6 pattern would take).
_TOKEN_RE = re.compile(rf"(?P<uuid>{_UUID})|(?P<keyed>{_KEYED_ID})|(?P<macd>{_MAC_DASH})"
                       rf"|(?P<mac>{_MAC_COLON})|(?P<ipv6>{_IPV6})|(?P<ipv4>{_IPV4})")
_MAC_COLON_RE = re.compile(_MAC_COLON)
_SERIAL_LINE_RE = re.compile(r"(?im)^([ \t]*(?:[\w ]*serial[ _-]?(?:number|no\.?)?)[ \t]*[:=][ \t]*)(\S[^\n]*?)[ \t]*$")
# A domain after a hostname: two or more DNS labels ending in an alphabetic top-level label
# (RFC 1123 2.1), so 'ny4-trade-07.example.com' is one name while a host called 'vm' keeps
# 'vm.swappiness' and 'vm.nr_hugepages'.
_DOMAIN = r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+\.[A-Za-z]{2,63}"
# RFC 5737 and RFC 3849 documentation ranges, where placeholders come from.
_DOC_NETS_V4 = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
_DOC_NET_V6 = "2001:db8::/32"


def _ip_doc(n: int) -> str:
    # RFC 5737 documentation ranges, one after another.
    nets = ("192.0.2", "198.51.100", "203.0.113")
    block, host = divmod(n - 1, 254)
    return f"{nets[block % 3]}.{host + 1}"


def _mac_placeholder(n: int, octets: int) -> str:
    # 02: locally administered, unicast; the counter fills the last three octets.
    tail = f"{n:06x}"
    return ":".join(["02"] + ["00"] * (octets - 4) + [tail[0:2], tail[2:4], tail[4:6]])


def _in_doc_range(kind: str, value: str) -> bool:
    import ipaddress

    try:
        if kind == "ipv4":
            ip4 = ipaddress.IPv4Address(value)
            return any(ip4 in ipaddress.IPv4Network(n) for n in _DOC_NETS_V4)
        return ipaddress.IPv6Address(value) in ipaddress.IPv6Network(_DOC_NET_V6)
    except ValueError:
        return False


def _placeholder_shaped(kind: str, key: str) -> bool:
    if kind == "mac":
        return key.startswith("02:00:00:")
    return _in_doc_range(kind, key)


class Redactor:
    """Consistent placeholders: the same MAC, IP, UUID, serial or hostname always maps to
    the same stand-in, in contents, command outputs and path names. Placeholders keep the
    format (a MAC stays a MAC, in the colon or dash form it was found in; an IPv4 stays an
    IPv4).

    Placeholders come from the documentation ranges (RFC 5737, RFC 3849) and 02:00:00…
    MACs, but a real host may use those too (a VM's eth0 at 192.0.2.2): a fresh capture's
    addresses are all replaced, and no placeholder is issued that equals a real value seen
    in the capture. Only a capture of an already redacted snapshot trusts those shapes as
    earlier placeholders, so redacting twice changes nothing."""

    def __init__(self) -> None:
        self.maps: dict[str, dict[str, str]] = {
            k: {} for k in ("mac", "ipv4", "ipv6", "uuid", "id", "host", "serial", "domain")}
        self._host_re: re.Pattern | None = None
        self._literal_re: re.Pattern | None = None
        self._counters: dict[str, int] = {}
        # Real values shaped like placeholders, per kind: never issued as a placeholder.
        self._reserved: dict[str, set[str]] = {"mac": set(), "ipv4": set(), "ipv6": set()}
        self.trust_placeholders = False

    # ---- placeholders --------------------------------------------------------------
    def _map(self, kind: str, value: str, make: Callable[[int], str], key: str | None = None) -> str:
        table = self.maps[kind]
        key = value.lower() if key is None else key
        if key not in table:
            reserved = self._reserved.get(kind, set())
            while True:
                n = self._counters[kind] = self._counters.get(kind, 0) + 1
                candidate = make(n)
                if self._normal(kind, candidate) not in reserved:
                    break
            table[key] = candidate
        return table[key]

    @staticmethod
    def _normal(kind: str, value: str) -> str:
        import ipaddress

        if kind == "mac":
            return value.replace("-", ":").lower()
        if kind in ("ipv4", "ipv6"):
            try:
                return str(ipaddress.ip_address(value))
            except ValueError:
                return value.lower()
        return value.lower()

    @staticmethod
    def _case(original: str, placeholder: str) -> str:
        return placeholder.upper() if any(c.isupper() for c in original) else placeholder

    def mac(self, value: str) -> str:
        sep = "-" if "-" in value else ":"
        octets = value.lower().split(sep)
        key = ":".join(octets)
        if set(key) <= {"0", ":"} or set(key) <= {"f", ":"}:
            return value  # all-zero or broadcast: identifies nothing
        if self.trust_placeholders and _placeholder_shaped("mac", key):
            return value
        placeholder = self._map("mac", key, lambda n: _mac_placeholder(n, len(octets)), key=key)
        return self._case(value, placeholder.replace(":", sep))

    def ipv4(self, value: str) -> str:
        import ipaddress

        try:
            ip = ipaddress.IPv4Address(value)
        except ValueError:
            return value
        as_int = int(ip)
        is_mask = as_int != 0 and ((~as_int & 0xFFFFFFFF) + 1) & (~as_int & 0xFFFFFFFF) == 0
        if ip.is_loopback or ip.is_unspecified or ip.is_multicast or is_mask:
            return value
        if self.trust_placeholders and _in_doc_range("ipv4", value):
            return value
        return self._map("ipv4", value, _ip_doc, key=str(ip))

    def ipv6(self, value: str) -> str:
        import ipaddress

        if "::" not in value and value.count(":") != 7:
            return value
        try:
            ip = ipaddress.IPv6Address(value)
        except ValueError:
            return value
        if ip.is_loopback or ip.is_unspecified or ip.is_multicast:
            return value
        if self.trust_placeholders and _in_doc_range("ipv6", value):
            return value
        return self._case(value, self._map("ipv6", value, lambda n: f"2001:db8::{n:x}"))

    def uuid(self, value: str) -> str:
        if set(value) <= {"0", "-"} or value.lower().startswith("00000000-0000-4000-8000-"):
            return value
        return self._case(value, self._map("uuid", value, lambda n: f"00000000-0000-4000-8000-{n:012x}"))

    def other_id(self, value: str) -> str:
        """An identifier of no standard shape (PARTUUID=1f0c2a3b-02, a vfat 'AB12-CD34'):
        a counter poured into the same shape, separators kept."""
        if _UUID_RE.fullmatch(value):
            return self.uuid(value)
        digits = sum(c in "0123456789abcdefABCDEF" for c in value)
        if not digits or set(value) <= {"0", "-"}:
            return value

        def make(n: int) -> str:
            fill = iter(f"{n:0{digits}x}"[-digits:])
            return "".join(next(fill) if c not in "-:" else c for c in value)

        return self._case(value, self._map("id", value, make))

    # ---- learning what is secret from the capture ----------------------------------
    def learn(self, captured: Captured) -> None:
        hostnames: set[str] = set()
        literals: dict[str, str] = {}
        meta_host = captured.meta.get("hostname")
        if isinstance(meta_host, str):
            hostnames.add(meta_host.strip())
        for rel, data in captured.files.items():
            path = "/" + rel
            base = posixpath.basename(rel)
            text = data.decode("utf-8", "replace").strip()
            if path in _HOSTNAME_FILES:
                hostnames.add(text)
            elif base in _SERIAL_FILES and text.lower() not in _FILLER and len(text) >= 3:
                literals[text] = self._map("serial", text, lambda n: f"SERIAL{n:04d}")
            elif base in _MACHINE_ID_FILES and len(text) >= 8:
                literals[text] = self._map("id", text, lambda n: f"{n:032x}")
        for out in captured.commands.values():
            for m in _SERIAL_LINE_RE.finditer(str(out.get("stdout", ""))):
                value = m.group(2).strip()
                if value.lower() not in _FILLER and len(value) >= 3:
                    literals[value] = self._map("serial", value, lambda n: f"SERIAL{n:04d}")
        if not self.trust_placeholders:
            self._reserve_real_lookalikes(captured)
        names: dict[str, str] = {}
        for name in hostnames:
            if not name or name.lower() in _FILLER or name.startswith("host-"):
                continue
            names[name] = self._map("host", name, lambda n: f"host-{n}")
            short = name.split(".")[0]
            if short != name and short.lower() not in _FILLER:
                names[short] = self._map("host", short, lambda n: f"host-{n}")
        if names:
            alts = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
            # Bounded by anything but name characters, dots and slashes: 'vm' as a hostname
            # must not turn 'vm.swappiness' or '/proc/sys/vm' into something else. A domain
            # after the name ('ny4-trade-07.example.com' in ip=) goes with it.
            self._host_re = re.compile(rf"(?<![\w./-])(?P<name>{alts})(?P<domain>{_DOMAIN})?(?![\w./-])")
            self._hosts = names
        if literals:
            alts = "|".join(re.escape(v) for v in sorted(literals, key=len, reverse=True))
            self._literal_re = re.compile(rf"(?<![A-Za-z0-9])(?:{alts})(?![A-Za-z0-9])")
            self._literals = literals

    def _reserve_real_lookalikes(self, captured: Captured) -> None:
        """Real addresses in the placeholders' ranges, so no placeholder is issued equal to one."""
        texts: list[str] = [data.decode("utf-8", "surrogateescape") for data in captured.files.values()]
        texts += list(captured.dirs) + list(captured.files) + list(captured.links) + list(captured.links.values())
        for key, rec in captured.commands.items():
            texts.append(key)
            texts += [v for v in rec.values() if isinstance(v, str)]
        for path, rec in captured.unread.items():
            texts.append(path)
            texts += [str(v) for v in rec.values()]
        for text in texts:
            for m in _TOKEN_RE.finditer(text):
                kind = {"macd": "mac"}.get(m.lastgroup or "", m.lastgroup or "")
                if kind not in self._reserved:
                    continue
                value = m.group(0)
                if kind == "mac" and m.lastgroup == "macd":
                    octets = value.split("-")
                    value = "-".join(octets[1:]) if len(octets) in (7, 9, 21) else value
                normal = self._normal(kind, value)
                if _placeholder_shaped(kind, normal):
                    self._reserved[kind].add(normal)

    # ---- applying ------------------------------------------------------------------
    def text(self, s: str, hostnames: bool = True) -> str:
        if self._literal_re is not None:
            s = self._literal_re.sub(lambda m: self._literals[m.group(0)], s)
        original = s
        s = _TOKEN_RE.sub(lambda m: self._token(original, m), s)
        s = _SERIAL_LINE_RE.sub(self._serial_line, s)
        if hostnames and self._host_re is not None:
            s = self._host_re.sub(self._hostname, s)
        return s

    def _token(self, s: str, m: re.Match) -> str:
        kind, value = m.lastgroup, m.group(0)
        if kind == "uuid":
            return self.uuid(value)
        if kind == "keyed":
            return self.other_id(value)
        if kind == "macd":
            octets = value.split("-")
            if len(octets) in (7, 9, 21):
                # pxelinux's BOOTIF= puts the ARP hardware type before the address
                # ('01-' for Ethernet): kept, so the address maps like its colon form.
                return octets[0] + "-" + self.mac("-".join(octets[1:]))
            return self.mac(value)
        if kind == "mac":
            return self._mac_in_context(s, m)
        if kind == "ipv6":
            if self._is_ipv6(value):
                return self.ipv6(value)
            # Colon groups that are no address ('ens1f0:3c:fd:…' never gets here, but a
            # hex-named field can): the MACs inside are still MACs.
            return _MAC_COLON_RE.sub(lambda mm: self.mac(mm.group(0)), value)
        return self._ipv4_in_context(s, m)

    @staticmethod
    def _is_ipv6(value: str) -> bool:
        import ipaddress

        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return False
        return "::" in value or value.count(":") == 7

    def _mac_in_context(self, s: str, m: re.Match) -> str:
        # After a colon, the field before it must be a name ('ens1f0:' in dracut's ifname=),
        # not one more two-digit octet: then this is the tail of a longer run, no MAC.
        start = m.start()
        if start >= 3 and s[start - 1] == ":":
            field = s[start - 3:start - 1]
            before = s[start - 4] if start >= 4 else ""
            if all(c in "0123456789abcdefABCDEF" for c in field) and not (before.isalnum() or before == "_"):
                return m.group(0)
        return self.mac(m.group(0))

    def _hostname(self, m: re.Match) -> str:
        name = self._hosts[m.group("name")]
        domain = m.group("domain")
        if not domain:
            return name
        return name + self._map("domain", domain, lambda n: f".domain{n}.example")

    def _ipv4_in_context(self, s: str, m: re.Match) -> str:
        # 'firmware-version: 1.2.3.4' is a version, not an address.
        line_start = s.rfind("\n", 0, m.start()) + 1
        if "version" in s[line_start:m.start()].lower():
            return m.group(0)
        return self.ipv4(m.group(0))

    def _serial_line(self, m: re.Match) -> str:
        value = m.group(2).strip()
        if value.lower() in _FILLER or value.startswith("SERIAL"):
            return m.group(0)
        return m.group(1) + self._map("serial", value, lambda n: f"SERIAL{n:04d}")

    def data(self, data: bytes) -> bytes:
        # surrogateescape: binary files come back byte for byte where nothing matched.
        text = data.decode("utf-8", "surrogateescape")
        return self.text(text).encode("utf-8", "surrogateescape")

    def path(self, rel: str) -> str:
        """Hostnames are left out of names: a host called 'vm' must keep /proc/sys/vm."""
        return "/".join(self.text(part, hostnames=False) for part in rel.split("/"))

    def link_target(self, target: str) -> str:
        return "/".join(self.text(part, hostnames=False) if part not in ("", ".", "..") else part
                        for part in target.split("/"))

    def redact(self, captured: Captured) -> Captured:
        # A capture of a redacted snapshot: its documentation-range addresses and 02:00:00…
        # MACs are an earlier pass's placeholders.
        self.trust_placeholders = bool(captured.meta.get("redacted"))
        self.learn(captured)
        out = Captured()
        for rel in sorted(captured.dirs):
            out.add_dir(self.path(rel))
        for rel in sorted(captured.links):
            out.add_link(self.path(rel), self.link_target(captured.links[rel]))
        for rel in sorted(captured.files):
            data = captured.files[rel]
            out.add_file(self.path(rel), self.data(data))
        for key, rec in captured.commands.items():
            rec = {k: (self.text(v) if isinstance(v, str) else v) for k, v in rec.items()}
            out.commands[self.text(key)] = rec
        for path, rec in captured.unread.items():
            out.unread["/" + self.path(path.lstrip("/"))] = {k: self.text(str(v)) for k, v in rec.items()}
        meta = dict(captured.meta)
        if isinstance(meta.get("listed"), list):
            meta["listed"] = ["/" + self.path(p.lstrip("/")) for p in meta["listed"] if isinstance(p, str)]
        if isinstance(meta.get("hostname"), str):
            meta["hostname"] = self.text(meta["hostname"])
        if isinstance(meta.get("user"), dict):
            meta["user"] = {k: v for k, v in meta["user"].items() if k != "name"}
        meta["redacted"] = True
        out.meta = meta
        return out


# ------------------------------------------------------------------------------------------
# Writing


def _meta_blobs(captured: Captured) -> dict[str, bytes]:
    def dump(obj) -> bytes:
        return (json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()

    return {META_FILE: dump(captured.meta), COMMANDS_FILE: dump(captured.commands),
            UNREAD_FILE: dump(captured.unread)}


def _write_tree(captured: Captured, root: Path) -> None:
    for rel in captured.all_dirs():
        (root / rel).mkdir(mode=0o755, exist_ok=True)
    for rel, data in captured.files.items():
        with open(root / rel, "xb") as fh:
            fh.write(data)
    for rel, target in captured.links.items():
        os.symlink(target, root / rel)
    (root / META_DIR).mkdir(exist_ok=True)
    for rel, data in _meta_blobs(captured).items():
        (root / rel).write_bytes(data)


def _write_archive(captured: Captured, fileobj, mtime: float) -> None:
    def info(name: str, kind: bytes, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.size, ti.mode, ti.mtime = kind, size, mode, int(mtime)
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    # gzip level 6: level 9 costs twice the time here for about 2% less.
    with gzip.GzipFile(fileobj=fileobj, mode="wb", compresslevel=6, mtime=int(mtime)) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in captured.all_dirs():
            tar.addfile(info(rel, tarfile.DIRTYPE, mode=0o755))
        for rel in sorted(captured.files):
            data = captured.files[rel]
            tar.addfile(info(rel, tarfile.REGTYPE, len(data)), io.BytesIO(data))
        for rel in sorted(captured.links):
            ti = info(rel, tarfile.SYMTYPE, mode=0o777)
            ti.linkname = captured.links[rel]
            tar.addfile(ti)
        tar.addfile(info(META_DIR, tarfile.DIRTYPE, mode=0o755))
        for rel, data in _meta_blobs(captured).items():
            tar.addfile(info(rel, tarfile.REGTYPE, len(data)), io.BytesIO(data))


def is_archive_name(path: str | os.PathLike) -> bool:
    return str(path).endswith((".tar.gz", ".tgz"))


def _check_target(target: Path) -> None:
    if target.is_symlink() or target.exists():
        if target.is_dir() and not target.is_symlink():
            if any(target.iterdir()):
                raise SnapshotError(f"{target}: already exists and is not empty; not overwriting it")
        elif target.is_symlink() or target.stat().st_size > 0 or not target.is_file():
            # not is_file: a device or pipe (/dev/null), which a rename would replace for everyone
            raise SnapshotError(f"{target}: already exists; not overwriting it")
    if not target.parent.is_dir():
        raise SnapshotError(f"{target.parent}: no such directory")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise SnapshotError(f"{target.parent}: not writable")


def write(captured: Captured, target: str | os.PathLike) -> Path:
    """Write a directory, or an archive when the name ends in .tar.gz; atomically."""
    target = Path(target)
    _check_target(target)
    parent = target.parent
    mtime = time.time()
    if is_archive_name(target):
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                _write_archive(captured, fh, mtime)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            _check_target(target)  # something may have appeared while we wrote
            os.replace(tmp, target)
        except BaseException:
            _unlink(tmp)
            raise
    else:
        tmp = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
        try:
            _write_tree(captured, Path(tmp))
            os.chmod(tmp, 0o755)
            _check_target(target)
            if target.is_dir():
                target.rmdir()  # empty, checked above
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def default_name(captured: Captured, when: _dt.datetime | None = None) -> str:
    when = when or _dt.datetime.now()
    host = str(captured.meta.get("hostname") or "unknown")
    host = re.sub(r"[^A-Za-z0-9._-]+", "_", host).strip("._") or "unknown"
    return f"snapshot-{host}-{when.strftime('%Y%m%dT%H%M%S')}.tar.gz"
