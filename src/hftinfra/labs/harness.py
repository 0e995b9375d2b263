"""The lab harness: network namespaces, veth pairs, processes and settings that a lab makes
on a live host, every one of them undone when the lab ends.

``with Lab("net") as lab:`` creates uniquely named namespaces (``lab.netns("a")``), veth
pairs whose two ends are created directly inside them (``lab.veth(a, b, queues=4)``, so no
interface ever appears on the host), runs commands and starts daemons inside them
(``lab.run``, ``lab.start``) and writes settings (``lab.write``, ``lab.sysctl``) after
recording the old value. When the block ends, by success, an exception, Ctrl-C (SIGINT)
or SIGTERM, the lab stops its processes by PID (TERM, then KILL after a grace period, then
reaps them), restores every setting, deletes its namespaces (which deletes their veths) and
its temp dir, then checks that nothing is left. Each step is tried even when an earlier one
failed; the errors are reported together afterwards. ``lab.cleanup_report()`` says what was
created, what was removed and what, if anything, is still there.

Addresses come from 198.18.0.0/15, the range RFC 2544 (appendix C) reserves for
benchmarking, one /30 per veth pair by default: they exist only inside the lab's
namespaces, so traffic between them never leaves the machine or reaches a real network.

A lab never touches the system clock. Capability (root, ``ip`` from iproute2, network
namespaces and veth that the kernel lets us create) is decided once per process; without it
``Lab.__enter__`` raises :class:`LabUnavailable`, whose message is one line a CLI can print.

A lab belongs to the thread that opened it. Signal handling needs the main thread; a lab
opened in another thread still cleans up on exceptions but cannot catch SIGTERM.
"""

from __future__ import annotations

import atexit
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from hftinfra.host import Unread

if TYPE_CHECKING:
    from hftinfra.timesync import KernelTime

NAME_PREFIX = "hft"
# include/uapi/linux/if.h: IFNAMSIZ is 16 bytes with the NUL; dev_valid_name() refuses
# longer names and names containing '/', ':' or whitespace.
IFNAME_MAX = 15
# RFC 2544 appendix C, listed as reserved in RFC 6890: never routed on the internet.
BENCHMARK_NET = ipaddress.IPv4Network("198.18.0.0/15")
GRACE_S = 2.0
RUN_TIMEOUT_S = 30.0
IP_TIMEOUT_S = 20.0
# Where `ip` lives when PATH lacks the sbin folders (su without '-', cron, a nobody shell).
_SBIN = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")

_LABEL_RE = re.compile(r"^[a-z0-9]{1,8}$")
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,15}$")
# hft-<lab>-<pid>-<n>-<role>: the pid says which process owns it, so a leftover of a process
# that died by SIGKILL can be told from the namespace of a lab that is still running.
_NETNS_RE = re.compile(r"^hft-([a-z0-9]{1,8})-(\d+)-(\d+)-([a-z0-9]{1,8})$")

# One counter per process: two labs open at once in one process never pick the same name,
# and the pid in the name keeps processes apart.
_serial = itertools.count()
_serial_lock = threading.Lock()


def _next_serial() -> int:
    with _serial_lock:
        return next(_serial)


class LabError(Exception):
    """A lab step failed (a command refused, a bad argument); the lab still cleans up."""


class LabUnavailable(LabError):
    """This machine cannot run labs (not root, no ``ip``, namespaces refused). One line."""


class LabCleanupError(LabError):
    """Cleanup finished but some step failed or something is left; ``report`` says what."""

    def __init__(self, report: CleanupReport):
        self.report = report
        super().__init__(report.summary())


# ---------------------------------------------------------------------------------------
# Capability, decided once


@dataclass(frozen=True)
class LabCapability:
    """Whether labs can run here, and if not, why: one line that follows a subject
    ("lab net needs root ...", "this lab cannot create ..."). Truthy when they can."""

    available: bool
    reason: str = ""
    ip: str = ""  # the iproute2 binary the labs run

    def __bool__(self) -> bool:
        return self.available


_capability: LabCapability | None = None
_capability_lock = threading.Lock()


def lab_capability(refresh: bool = False) -> LabCapability:
    """Decided on first use and kept for the process (``refresh=True`` decides again)."""
    global _capability
    with _capability_lock:
        if _capability is None or refresh:
            _capability = _detect_capability()
        return _capability


def _find_ip() -> str | None:
    found = shutil.which("ip")
    if found:
        return found
    for folder in _SBIN:
        candidate = os.path.join(folder, "ip")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def _detect_capability() -> LabCapability:
    euid = os.geteuid()
    if euid != 0:
        return LabCapability(False, f"needs root to create network namespaces (running as uid {euid})")
    ip = _find_ip()
    if ip is None:
        return LabCapability(False, "needs the 'ip' command from iproute2, which is not installed")
    # The only sure test is to try: a container may be root yet lack CAP_SYS_ADMIN, or have
    # a read-only /run; a kernel may lack CONFIG_NET_NS or the veth driver.
    probe = f"{NAME_PREFIX}-probe-{os.getpid()}-{_next_serial()}-cap"
    try:
        made = _quiet([ip, "netns", "add", probe])
        if made.returncode != 0:
            return LabCapability(False, f"cannot create a network namespace: {_first_line(made.stderr)}", ip)
        veth = _quiet([ip, "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1"])
        if veth.returncode != 0:
            return LabCapability(False, f"cannot create a veth pair: {_first_line(veth.stderr)}", ip)
    except (OSError, subprocess.SubprocessError) as exc:
        return LabCapability(False, f"cannot run {ip}: {exc}", ip)
    finally:
        try:
            _quiet([ip, "netns", "delete", probe])
        except (OSError, subprocess.SubprocessError):
            pass
    return LabCapability(True, "", ip)


def _quiet(argv: Sequence[str], timeout: float = IP_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _netns_names(ip: str) -> set[str]:
    res = _quiet([ip, "netns", "list"])
    if res.returncode != 0:
        raise LabError(f"ip netns list: {_first_line(res.stderr)}")
    # Lines read "name" or "name (id: 3)".
    return {line.split()[0] for line in res.stdout.splitlines() if line.strip()}


# ---------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Resource:
    """One thing a lab made or changed: kind is netns, veth, process, setting or tempdir."""

    kind: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.name}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class CleanupReport:
    """What a lab created, what its cleanup removed or restored, and what is left."""

    lab: str
    created: tuple[Resource, ...] = ()
    removed: tuple[Resource, ...] = ()
    left: tuple[Resource, ...] = ()  # checked after cleanup: still present
    errors: tuple[str, ...] = ()
    cleanup_s: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.left and not self.errors

    def summary(self) -> str:
        """One line."""
        if self.clean:
            return f"lab {self.lab}: cleaned up {len(self.removed)} of {len(self.created)} things in {self.cleanup_s:.2f} s"
        parts = [f"lab {self.lab}: cleanup incomplete"]
        if self.left:
            parts.append("left: " + ", ".join(str(r) for r in self.left))
        if self.errors:
            parts.append("errors: " + "; ".join(self.errors))
        return "; ".join(parts)

    def to_text(self) -> str:
        lines = [self.summary()]
        for title, items in (("created", self.created), ("removed", self.removed), ("left", self.left)):
            lines += [f"  {title}: {item}" for item in items]
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        rows = [(t, str(i)) for t, items in (("created", self.created), ("removed", self.removed),
                                             ("left", self.left)) for i in items]
        rows += [("error", e) for e in self.errors]
        body = "".join(f"<tr><td>{escape(a)}</td><td>{escape(b)}</td></tr>" for a, b in rows)
        return f"<div><strong>{escape(self.summary())}</strong><table>{body}</table></div>"


@dataclass(frozen=True)
class VethEnd:
    """One end of a veth pair, inside one of the lab's namespaces."""

    netns: str
    ifname: str
    address: ipaddress.IPv4Interface | None
    queues: int

    @property
    def ip(self) -> str | None:
        return str(self.address.ip) if self.address else None

    def queue_path(self, direction: str, index: int, attr: str) -> str:
        """``/sys/class/net/IF/queues/rx-0/rps_cpus`` and the like: seen inside the netns
        (``ip netns exec`` mounts a sysfs that shows the namespace's devices)."""
        if direction not in ("rx", "tx"):
            raise LabError(f"queue direction must be 'rx' or 'tx', not {direction!r}")
        if not 0 <= index < self.queues:
            raise LabError(f"{self.ifname} has {self.queues} queues, no {direction}-{index}")
        return f"/sys/class/net/{self.ifname}/queues/{direction}-{index}/{attr}"


@dataclass(frozen=True)
class VethPair:
    a: VethEnd
    b: VethEnd

    def __str__(self) -> str:
        return f"{self.a.ifname}@{self.a.netns} <-> {self.b.ifname}@{self.b.netns}"


@dataclass
class _Setting:
    path: str
    netns: str | None
    old: str | None  # None: the file did not exist (a regular file the lab created)
    new: str


@dataclass
class LabProcess:
    """A long-running process started in a namespace; its output goes to ``log``."""

    netns: str
    argv: tuple[str, ...]
    log: Path
    popen: subprocess.Popen = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def output(self) -> str:
        """What the process wrote so far (stdout and stderr, interleaved)."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, text: str, timeout: float = 10.0, poll_s: float = 0.05) -> bool:
        """Wait until ``text`` shows in the output; False on timeout or when it exited first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            if not self.running:
                return text in self.output()
            time.sleep(poll_s)
        return False

    def stop(self, grace_s: float = GRACE_S) -> int:
        _stop_all([self.popen], grace_s)
        return self.popen.returncode


def _signal_group(popen: subprocess.Popen, sig: int) -> None:
    # Only while the leader is unreaped: its pid, the group's id, cannot be reused until
    # we wait() for it, so the signal cannot reach a stranger.
    if popen.returncode is not None:
        return
    try:
        os.killpg(popen.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        popen.send_signal(sig)


def _stop_all(popens: Sequence[subprocess.Popen], grace_s: float) -> list[str]:
    """TERM every group, wait up to grace_s for all, KILL the rest, reap. Returns errors."""
    errors: list[str] = []
    alive = [p for p in popens if p.poll() is None]
    for p in alive:
        _signal_group(p, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for p in alive:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for p in alive:
        if p.poll() is None:
            _signal_group(p, signal.SIGKILL)
            try:
                p.wait(5.0)
            except subprocess.TimeoutExpired:
                errors.append(f"process {p.pid} survived SIGKILL (stuck in the kernel?)")
    return errors


# ---------------------------------------------------------------------------------------
# The lab


class Lab:
    """A context manager for one lab run; see the module docstring.

    ``on_step`` receives one line of progress per step (``print`` on a terminal, a widget
    update in a notebook); by default the lab is quiet. ``lab.steps`` keeps them all.
    """

    def __init__(self, name: str = "lab", *, on_step: Callable[[str], object] | None = None,
                 grace_s: float = GRACE_S):
        if not _LABEL_RE.match(name):
            raise LabError(f"lab name must be 1-8 lowercase letters or digits, not {name!r}")
        self.name = name
        self.on_step = on_step
        self.grace_s = grace_s
        self.steps: list[tuple[float, str]] = []
        self.tmpdir: Path | None = None
        self._ip = ""
        self._opened = False
        self._report: CleanupReport | None = None
        self._t0 = 0.0
        self._namespaces: list[str] = []
        self._roles: dict[str, str] = {}
        self._pairs: list[VethPair] = []
        self._processes: list[LabProcess] = []
        self._running: set[subprocess.Popen] = set()  # lab.run children while they run
        self._settings: list[_Setting] = []
        self._created: list[Resource] = []
        self._defer_depth = 0
        self._closing = False
        self._pending_signal: int | None = None
        self._prev_handlers: dict[int, object] = {}

    # -- entering and leaving ----------------------------------------------------------

    def __enter__(self) -> Lab:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> bool:
        report = self._close(propagating=exc is not None)
        if not report.clean:
            if exc is None:
                raise LabCleanupError(report)
            if hasattr(exc, "add_note"):  # 3.11+: the original error stays the one raised
                exc.add_note(report.summary())
        return False

    def open(self) -> Lab:
        """Enter without ``with`` (a notebook cell); ``close()`` later, or at interpreter exit."""
        if self._opened:
            raise LabError(f"lab {self.name} is already open")
        capability = lab_capability()
        if not capability:
            raise LabUnavailable(f"lab {self.name} {capability.reason}")
        self._ip = capability.ip
        self._t0 = time.monotonic()
        self._install_signal_handlers()
        try:
            self.tmpdir = Path(tempfile.mkdtemp(prefix=f"{NAME_PREFIX}-{self.name}-{os.getpid()}-"))
        except BaseException:
            self._restore_signal_handlers()
            raise
        self._opened = True
        self._created.append(Resource("tempdir", str(self.tmpdir)))
        atexit.register(self._close_at_exit)
        self._step(f"lab {self.name}: temp dir {self.tmpdir}")
        return self

    def close(self) -> CleanupReport:
        """Undo everything; idempotent. Raises nothing: read the report."""
        return self._close(propagating=False)

    def cleanup_report(self) -> CleanupReport:
        """After the lab ended: what was created, removed, and left. Before: what exists."""
        if self._report is not None:
            return self._report
        return CleanupReport(self.name, created=tuple(self._created))

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(self._namespaces)

    @property
    def processes(self) -> tuple[LabProcess, ...]:
        return tuple(self._processes)

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(p.pid for p in self._processes)

    # -- building ------------------------------------------------------------------------

    def netns(self, role: str) -> str:
        """A new namespace with its loopback up; returns its name, hft-<lab>-<pid>-<n>-<role>."""
        self._require_open()
        if not _LABEL_RE.match(role):
            raise LabError(f"namespace role must be 1-8 lowercase letters or digits, not {role!r}")
        if role in self._roles:
            raise LabError(f"lab {self.name} already has a namespace for role {role!r}")
        for _ in range(20):
            name = f"{NAME_PREFIX}-{self.name}-{os.getpid()}-{_next_serial()}-{role}"
            with self._guard():
                res = _quiet([self._ip, "netns", "add", name])
                if res.returncode == 0:
                    self._namespaces.append(name)
                    self._roles[role] = name
                    self._created.append(Resource("netns", name))
                    break
            # A leftover of a dead process that had our pid: leave it, take the next number.
            if "exists" not in res.stderr:
                raise LabError(f"ip netns add {name}: {_first_line(res.stderr)}")
        else:
            raise LabError(f"no free namespace name for role {role!r}")
        self._ip_check("-n", name, "link", "set", "lo", "up")
        self._step(f"namespace {name}")
        return name

    def veth(self, ns_a: str, ns_b: str, *, queues: int = 1, names: tuple[str, str] | None = None,
             addresses: tuple[str, str] | None = None, prefix: int = 30, addressed: bool = True,
             up: bool = True) -> VethPair:
        """A veth pair with one end in each namespace, both created there (never on the host).

        ``queues`` sets numtxqueues and numrxqueues on both ends. Addresses are picked from
        198.18.0.0/15, a /30 (or ``prefix=31``) per pair, unless ``addresses`` names two
        inside that range or ``addressed=False`` leaves the links without any.
        """
        self._require_open()
        for ns in (ns_a, ns_b):
            self._require_ours(ns)
        if not isinstance(queues, int) or not 1 <= queues <= 4096:
            raise LabError(f"queues must be 1-4096, not {queues!r}")
        index = len(self._pairs)
        if names is None:
            names = (f"v{index}-{self._role_of(ns_b)}", f"v{index}-{self._role_of(ns_a)}")
        for ifname in names:
            if not _IFNAME_RE.match(ifname) or ifname in (".", ".."):
                raise LabError(f"interface name {ifname!r}: 1-{IFNAME_MAX} letters, digits, '_', '.', '-'")
        if ns_a == ns_b and names[0] == names[1]:
            raise LabError("both ends of a veth pair in one namespace need different names")
        ifaces = self._addresses(index, addresses, prefix) if addressed else (None, None)
        qs = ["numtxqueues", str(queues), "numrxqueues", str(queues)]
        with self._guard():
            self._ip_check("-n", ns_a, "link", "add", names[0], *qs, "type", "veth",
                           "peer", "name", names[1], *qs, "netns", ns_b)
            pair = VethPair(VethEnd(ns_a, names[0], ifaces[0], queues), VethEnd(ns_b, names[1], ifaces[1], queues))
            self._pairs.append(pair)
            self._created.append(Resource("veth", str(pair), f"{queues} queues"))
        for end in (pair.a, pair.b):
            if end.address is not None:
                self._ip_check("-n", end.netns, "addr", "add", str(end.address), "dev", end.ifname)
            if up:
                self._ip_check("-n", end.netns, "link", "set", end.ifname, "up")
        where = f" {pair.a.ip} <-> {pair.b.ip}" if addressed else ""
        self._step(f"veth {pair}, {queues} queue{'s' if queues > 1 else ''}{where}")
        return pair

    def _addresses(self, index: int, addresses: tuple[str, str] | None,
                   prefix: int) -> tuple[ipaddress.IPv4Interface, ipaddress.IPv4Interface]:
        if addresses is not None:
            try:
                chosen = tuple(ipaddress.IPv4Interface(a) for a in addresses)
            except ValueError as exc:
                raise LabError(f"bad address: {exc}") from None
            if len(chosen) != 2 or chosen[0].ip == chosen[1].ip:
                raise LabError(f"a veth pair needs two different addresses, not {addresses!r}")
            for a in chosen:
                if a.network.prefixlen < BENCHMARK_NET.prefixlen or not a.network.subnet_of(BENCHMARK_NET):
                    raise LabError(f"{a} is outside {BENCHMARK_NET}, the benchmarking range labs use")
            return chosen  # type: ignore[return-value]
        if prefix not in (30, 31):
            raise LabError(f"prefix must be 30 or 31, not {prefix}")
        size = 1 << (32 - prefix)
        base = int(BENCHMARK_NET.network_address) + index * size
        if base + size > int(BENCHMARK_NET.broadcast_address) + 1:
            raise LabError(f"{BENCHMARK_NET} has no room for veth pair {index}")
        # /31 (RFC 3021) uses both addresses; /30 skips its network and broadcast ones.
        first = base if prefix == 31 else base + 1
        return (ipaddress.IPv4Interface((first, prefix)), ipaddress.IPv4Interface((first + 1, prefix)))

    # -- running -------------------------------------------------------------------------

    def run(self, ns: str, argv: Sequence[str], *, timeout: float = RUN_TIMEOUT_S,
            input: str | None = None, check: bool = False,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run a command inside one of the lab's namespaces and wait for it (text output).

        On timeout the command's process group is killed and ``subprocess.TimeoutExpired``
        raised, as ``subprocess.run`` does.
        """
        self._require_open()
        self._require_ours(ns)
        cmd = [self._ip, "netns", "exec", ns, *argv]
        with self._guard():
            popen = subprocess.Popen(cmd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(env) if env is not None else None, start_new_session=True)
            self._running.add(popen)
        try:
            out, err = popen.communicate(input, timeout=timeout)
        except BaseException:
            _stop_all([popen], 0.2)
            popen.communicate()
            raise
        finally:
            self._running.discard(popen)
        done = subprocess.CompletedProcess(list(argv), popen.returncode, out, err)
        if check and done.returncode != 0:
            raise LabError(f"{' '.join(argv)} in {ns} exited {done.returncode}: {_first_line(err)}")
        return done

    def start(self, ns: str, argv: Sequence[str], *, log: str | None = None,
              env: Mapping[str, str] | None = None) -> LabProcess:
        """Start a long-running process inside a namespace (``ip netns exec`` execs it, so
        the PID is the program's own); stdout and stderr go to ``log`` in the temp dir."""
        self._require_open()
        self._require_ours(ns)
        if not argv:
            raise LabError("start needs a command")
        serial = len(self._processes)
        log_name = log or f"{serial:02d}-{os.path.basename(argv[0]) or 'process'}.log"
        if "/" in log_name or log_name in (".", ".."):
            raise LabError(f"log must be a file name inside the lab's temp dir, not {log_name!r}")
        assert self.tmpdir is not None
        log_path = self.tmpdir / log_name
        with self._guard():
            with open(log_path, "ab") as fh:
                # A session of its own: the terminal's Ctrl-C reaches only us, and stopping
                # the group takes any helper the program forked.
                popen = subprocess.Popen([self._ip, "netns", "exec", ns, *argv], stdin=subprocess.DEVNULL,
                                         stdout=fh, stderr=subprocess.STDOUT,
                                         env=dict(env) if env is not None else None, start_new_session=True)
            proc = LabProcess(ns, tuple(argv), log_path, popen)
            self._processes.append(proc)
            self._created.append(Resource("process", str(popen.pid), f"{' '.join(argv)} in {ns}"))
        self._step(f"started {' '.join(argv)} in {ns} (pid {popen.pid})")
        return proc

    # -- settings ------------------------------------------------------------------------

    def read(self, path: str, ns: str | None = None) -> str:
        """A file's text, on the host or inside one of the lab's namespaces."""
        old = self._read_setting(path, ns)
        if old is None:
            raise LabError(f"{path}: no such file" + (f" in {ns}" if ns else ""))
        return old

    def write(self, path: str, value: str | int, ns: str | None = None) -> None:
        """Write a setting (a sysfs or procfs file, or any file) after recording its old
        value; the lab writes the old value back when it ends. Inside a namespace the write
        goes through ``ip netns exec`` so sysfs and /proc/sys show that namespace's view."""
        self._require_open()
        if ns is not None:
            self._require_ours(ns)
        text = str(value)
        old = self._read_setting(path, ns)
        if old is None and (ns is not None or path.startswith(("/proc/", "/sys/"))):
            raise LabError(f"{path}: no such setting" + (f" in {ns}" if ns else ""))
        with self._guard():
            setting = _Setting(path, ns, old, text)
            self._settings.append(setting)
            try:
                self._write_file(path, text, ns)
            except BaseException:
                self._settings.remove(setting)
                raise
            where = f" in {ns}" if ns else ""
            self._created.append(Resource("setting", path + where, f"{_show(old)} -> {text!r}"))
        self._step(f"set {path}{' in ' + ns if ns else ''} to {text!r} (was {_show(old)})")

    def sysctl(self, name: str, value: str | int, ns: str | None = None) -> None:
        """``net.core.busy_read`` -> /proc/sys/net/core/busy_read. Global sysctls such as
        busy_read exist only in the host's namespace: pass ``ns=None`` for those."""
        if not re.match(r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$", name):
            raise LabError(f"not a sysctl name: {name!r}")
        self.write("/proc/sys/" + name.replace(".", "/"), value, ns)

    def _read_setting(self, path: str, ns: str | None) -> str | None:
        if ns is None:
            try:
                with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                    return fh.read()
            except FileNotFoundError:
                return None
            except OSError as exc:
                # A write-only file cannot be put back as it was: refuse to change it.
                raise LabError(f"cannot read {path} to restore it later: {exc.strerror or exc}") from None
        res = _quiet([self._ip, "netns", "exec", ns, "cat", "--", path])
        if res.returncode != 0:
            if "No such file" in res.stderr:
                return None
            raise LabError(f"cannot read {path} in {ns} to restore it later: {_first_line(res.stderr)}")
        return res.stdout

    def _write_file(self, path: str, text: str, ns: str | None) -> None:
        if ns is None:
            try:
                with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
                    fh.write(text)
            except OSError as exc:
                raise LabError(f"cannot write {text!r} to {path}: {exc.strerror or exc}") from None
            return
        res = subprocess.run([self._ip, "netns", "exec", ns, "tee", "--", path], input=text,
                             capture_output=True, text=True, timeout=IP_TIMEOUT_S)
        if res.returncode != 0:
            raise LabError(f"cannot write {text!r} to {path} in {ns}: {_first_line(res.stderr)}")

    # -- cleanup -------------------------------------------------------------------------

    def _close_at_exit(self) -> None:
        self._close(propagating=True)

    def _close(self, propagating: bool) -> CleanupReport:
        if self._report is not None:
            return self._report
        if not self._opened:
            return CleanupReport(self.name)
        self._closing = True  # from here on a signal is remembered, not acted on
        started = time.monotonic()
        removed: list[Resource] = []
        errors: list[str] = []

        def attempt(what: str, fn: Callable[[], object]) -> bool:
            try:
                fn()
                return True
            except Exception as exc:  # every step is tried; the first failure must not stop the rest
                errors.append(f"{what}: {exc}")
                return False

        # 1. processes: lab.run children still running (another thread), then started ones.
        errors += _stop_all(list(self._running), 0.2)
        if self._processes:
            self._step(f"stopping {len(self._processes)} process(es)")
            errors += _stop_all([p.popen for p in self._processes], self.grace_s)
            for p in self._processes:
                if p.popen.returncode is not None:
                    removed.append(Resource("process", str(p.pid), f"exit {p.popen.returncode}"))
        # 2. settings, newest first, so a path written twice ends at its first old value.
        #    Inside a namespace too: `ip netns exec` changes only the network and mount
        #    namespaces, so a kernel.* sysctl written there is the host's.
        for s in reversed(self._settings):
            where = f" in {s.netns}" if s.netns else ""
            if s.netns is None and s.old is None:
                ok = attempt(f"removing {s.path}", lambda s=s: os.unlink(s.path))
            else:
                ok = attempt(f"restoring {s.path}{where}", lambda s=s: self._write_file(s.path, s.old, s.netns))
            if ok:
                removed.append(Resource("setting", s.path + where, f"restored {_show(s.old)}"))
        # 3. anything else living in our namespaces (a daemon that forked away from its
        #    group): a process keeps a namespace, and its veths, alive after `ip netns del`.
        for ns in self._namespaces:
            attempt(f"stopping processes left in {ns}", lambda ns=ns: self._kill_netns_pids(ns))
        # 4. namespaces, which takes their veths with them.
        if self._namespaces:
            self._step(f"deleting {len(self._namespaces)} namespace(s)")
        for ns in reversed(self._namespaces):
            if attempt(f"deleting namespace {ns}", lambda ns=ns: self._delete_netns(ns)):
                removed.append(Resource("netns", ns))
        gone = {r.name for r in removed if r.kind == "netns"}
        removed += [Resource("veth", str(pair), "with its namespace") for pair in self._pairs
                    if pair.a.netns in gone or pair.b.netns in gone]
        # 5. the temp dir.
        if self.tmpdir is not None:
            if attempt(f"removing {self.tmpdir}", lambda: shutil.rmtree(self.tmpdir)):
                removed.append(Resource("tempdir", str(self.tmpdir)))
        left = self._left_behind(errors)
        self._report = CleanupReport(self.name, tuple(self._created), tuple(removed), tuple(left),
                                     tuple(errors), time.monotonic() - started)
        try:
            atexit.unregister(self._close_at_exit)
        except Exception:
            pass
        self._restore_signal_handlers()
        self._step(self._report.summary())
        pending, self._pending_signal = self._pending_signal, None
        if pending is not None and not propagating:
            # A Ctrl-C or TERM that came during cleanup: act on it now, as the caller's
            # handler would have.
            signal.raise_signal(pending)
        return self._report

    def _kill_netns_pids(self, ns: str) -> None:
        res = _quiet([self._ip, "netns", "pids", ns])
        if res.returncode != 0:
            if "No such file" in res.stderr or "does not exist" in res.stderr:
                return
            raise LabError(_first_line(res.stderr))
        pids = [int(p) for p in res.stdout.split() if p.isdigit() and int(p) != os.getpid()]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + self.grace_s
            while pids and time.monotonic() < deadline:
                pids = [p for p in pids if _alive(p)]
                time.sleep(0.02)
            if not pids:
                return
        raise LabError(f"processes {pids} in {ns} did not stop")

    def _delete_netns(self, ns: str) -> None:
        res = _quiet([self._ip, "netns", "delete", ns])
        if res.returncode != 0 and "No such file" not in res.stderr:
            raise LabError(_first_line(res.stderr))

    def _left_behind(self, errors: list[str]) -> list[Resource]:
        left: list[Resource] = []
        try:
            existing = _netns_names(self._ip)
            left += [Resource("netns", ns) for ns in self._namespaces if ns in existing]
        except (LabError, OSError, subprocess.SubprocessError) as exc:
            errors.append(f"checking namespaces: {exc}")
        left += [Resource("process", str(p.pid), " ".join(p.argv)) for p in self._processes
                 if p.popen.returncode is None]
        if self.tmpdir is not None and os.path.lexists(self.tmpdir):
            left.append(Resource("tempdir", str(self.tmpdir)))
        originals: dict[str, _Setting] = {}
        # Host settings only: a namespace's view went with the namespace. A path written
        # twice must end at its first old value.
        for s in self._settings:
            if s.netns is None:
                originals.setdefault(s.path, s)
        for s in originals.values():
            try:
                now = self._read_setting(s.path, None)
            except LabError as exc:
                left.append(Resource("setting", s.path, f"unreadable, was {_show(s.old)}: {exc}"))
                continue
            if now != s.old and not _same_setting(now, s.old):
                left.append(Resource("setting", s.path, f"is {_show(now)}, was {_show(s.old)}"))
        return left

    # -- signals -------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._prev_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, prev in self._prev_handlers.items():
            # Only if still ours: labs closed out of order leave the newest handler in place,
            # and a closed lab's handler passes signals on (see _on_signal).
            if signal.getsignal(sig) != self._on_signal:
                continue
            while getattr(prev, "__func__", None) is Lab._on_signal and prev.__self__._report is not None:
                prev = prev.__self__._prev_handlers.get(sig)
            signal.signal(sig, prev if prev is not None else signal.SIG_DFL)

    def _on_signal(self, signum: int, frame) -> None:
        if self._report is not None:
            self._deliver(signum, frame)  # this lab is over; an outer handler may be reached through it
            return
        if self._closing or self._defer_depth:
            self._pending_signal = self._pending_signal or signum
            return
        self._deliver(signum, frame)

    def _deliver(self, signum: int, frame) -> None:
        prev = self._prev_handlers.get(signum)
        if callable(prev):
            prev(signum, frame)  # the caller's handler (or an outer lab's) decides
            return
        if prev == signal.SIG_IGN:
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        # SIGTERM would have killed the process on the spot: exit the same way, after cleanup.
        raise SystemExit(128 + signum)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """A signal that arrives between creating a thing and recording it would leak it:
        hold signals until the record is made."""
        self._defer_depth += 1
        try:
            yield
        finally:
            self._defer_depth -= 1
            if not self._defer_depth and self._pending_signal is not None and not self._closing:
                signum, self._pending_signal = self._pending_signal, None
                self._deliver(signum, None)

    # -- helpers -------------------------------------------------------------------------

    def _require_open(self) -> None:
        if not self._opened:
            raise LabError(f"lab {self.name} is not open: use 'with Lab(...) as lab:'")
        if self._report is not None:
            raise LabError(f"lab {self.name} has ended")

    def _require_ours(self, ns: str) -> None:
        if ns not in self._namespaces:
            raise LabError(f"{ns!r} is not a namespace of lab {self.name}")

    def _role_of(self, ns: str) -> str:
        return next(role for role, name in self._roles.items() if name == ns)

    def _ip_check(self, *args: str) -> None:
        res = _quiet([self._ip, *args])
        if res.returncode != 0:
            raise LabError(f"ip {' '.join(args)}: {_first_line(res.stderr)}")

    def _step(self, text: str) -> None:
        self.steps.append((time.monotonic() - self._t0, text))
        if self.on_step is None:
            return
        if self._closing:
            try:
                self.on_step(text)
            except Exception:
                pass  # a broken progress display must not stop the cleanup
        else:
            self.on_step(text)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; only its parent's wait() is missing.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _show(value: str | None) -> str:
    return "absent" if value is None else repr(value.rstrip("\n"))


def _same_setting(now: str | None, old: str | None) -> bool:
    # sysfs and procfs add a newline when read; what was written back may lack it.
    return now is not None and old is not None and now.rstrip("\n") == old.rstrip("\n")


# ---------------------------------------------------------------------------------------
# Leftovers of labs whose process was killed outright (SIGKILL, OOM, power loss of a VM)


def stale_namespaces(ip: str | None = None) -> list[str]:
    """hft- namespaces whose owning process (the pid in the name) no longer exists.

    Pids are those of this pid namespace: a container that shares /run/netns but not our
    pids would see the host's labs as stale, so run this only where the labs run."""
    ip = ip or lab_capability().ip
    if not ip:
        return []
    stale = []
    for name in sorted(_netns_names(ip)):
        m = _NETNS_RE.match(name)
        if m and not _alive(int(m.group(2))):
            stale.append(name)
    return stale


def remove_stale_namespaces(on_step: Callable[[str], object] | None = None) -> list[str]:
    """Delete the namespaces :func:`stale_namespaces` finds, and any process inside them."""
    capability = lab_capability()
    if not capability:
        raise LabUnavailable(f"removing stale lab namespaces {capability.reason}")
    removed = []
    for name in stale_namespaces(capability.ip):
        res = _quiet([capability.ip, "netns", "pids", name])
        for pid in (int(p) for p in res.stdout.split() if p.isdigit()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if _quiet([capability.ip, "netns", "delete", name]).returncode == 0:
            removed.append(name)
            if on_step:
                on_step(f"deleted stale namespace {name}")
    return removed


# ---------------------------------------------------------------------------------------
# For lab modules and pages


@dataclass(frozen=True)
class ClockCheck:
    """adjtimex(2) with modes 0 (it only reads; :func:`hftinfra.timesync.read_kernel_time`)
    before and after a lab: whether the kernel clock's frequency and status stayed as they
    were. A lab that left either changed would have disciplined the system clock."""

    before: KernelTime
    after: KernelTime

    def _unread(self) -> Unread | None:
        for reading in (self.before, self.after):
            if isinstance(reading.timex, Unread):
                return reading.timex
        return None

    @property
    def untouched(self) -> bool | None:
        """True when frequency and status read the same after as before; None when either
        reading failed."""
        if self._unread() is not None:
            return None
        b, a = self.before.timex, self.after.timex
        return (b.freq, b.status) == (a.freq, a.status)  # type: ignore[union-attr]

    @property
    def text(self) -> str:
        why = self._unread()
        if why is not None:
            return f"not checked: {why}"
        b, a = self.before.timex, self.after.timex
        if self.untouched:
            return (f"untouched: adjtimex frequency {b.freq_ppm:+.3f} ppm and status {b.status:#06x} "  # type: ignore[union-attr]
                    "read the same before and after")
        return (f"CHANGED: adjtimex frequency {b.freq_ppm:+.3f} -> {a.freq_ppm:+.3f} ppm, "  # type: ignore[union-attr]
                f"status {b.status:#06x} -> {a.status:#06x}")  # type: ignore[union-attr]


def read_clock() -> KernelTime:
    """The live kernel clock's NTP state, read only (adjtimex modes 0)."""
    from hftinfra.host import open_host
    from hftinfra.timesync import read_kernel_time

    return read_kernel_time(open_host(None))


def find_tool(name: str) -> str | None:
    """A program on PATH or in the sbin folders (ptp4l and chronyd live in /usr/sbin, which a
    non-login root shell may lack)."""
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(_SBIN)
    return shutil.which(name, path=path)


def check_tools(lab: str, tools: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Program name -> path, or :class:`LabUnavailable` naming what is missing (one line)."""
    found = {name: find_tool(name) for name, _package in tools}
    missing = [(n, p) for n, p in tools if found[n] is None]
    if missing:
        names = " and ".join(f"'{n}'" for n, _p in missing)
        packages = ", ".join(dict.fromkeys(p for _n, p in missing))
        raise LabUnavailable(f"lab {lab} needs {names} (Debian package {packages}), "
                             f"{'which is' if len(missing) == 1 else 'which are'} not installed")
    return found  # type: ignore[return-value]


def notebook_progress() -> tuple[Callable[[str], object] | None, Callable[[], None]]:
    """In a notebook: one output line that each step replaces, and a function that empties it
    when the lab is done (the result then shows below it). Elsewhere (no IPython kernel):
    (None, a no-op)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None, lambda: None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None, lambda: None
    def bundle(text: str) -> dict[str, str]:
        html = f'<div class="hftinfra-progress"><small>{escape(text)}</small></div>' if text else ""
        return {"text/plain": text, "text/html": html}

    handle = display(bundle("starting the lab"), raw=True, display_id=True)

    def step(text: str) -> None:
        handle.update(bundle(text), raw=True)

    def done() -> None:
        # An output cannot be taken back, only emptied: an empty HTML part shows nothing.
        handle.update(bundle(""), raw=True)

    return step, done


def page_view(lab: str, run: Callable[..., object], *args, progress: bool = True, **kwargs) -> object:
    """What a page shows for a lab: ``run(*args, **kwargs)``'s result, or, when this machine
    cannot run the lab (not root, no ``ip``, no network namespaces, a tool missing), a
    one-line note saying why; never raises for that. With ``progress``, in a notebook, one
    line that each step replaces (unless the caller passes its own ``on_step``)."""
    from hftinfra.page import Note

    capability = lab_capability()
    if not capability:
        return Note(f"skipped: lab {lab} {capability.reason}", "root" if "root" in capability.reason else "skip")
    done: Callable[[], None] = lambda: None  # noqa: E731
    if progress and "on_step" not in kwargs:
        kwargs["on_step"], done = notebook_progress()
    try:
        return run(*args, **kwargs)
    except LabUnavailable as exc:
        return Note(f"skipped: {exc}", "skip")
    finally:
        done()
