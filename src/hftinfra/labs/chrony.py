"""The chrony lab: an NTP server chronyd and a client chronyd in two network namespaces
joined by a veth pair; the client's ``chronyc tracking`` and ``sources`` once a second for a
set time (see :mod:`hftinfra.labs.harness`).

What runs, and why so:

- **The server** serves its own clock as stratum 1 (``local stratum 1``, chrony.conf(5),
  "local") to the lab's /30 (``allow``), bound to its veth address.
- **The client** polls it every 2^-2 s (``server ADDRESS iburst minpoll -2 maxpoll -2``;
  chrony.conf(5): sub-second polling is enabled only for a reachable server with a round
  trip under 10 ms, as a veth pair is) and serves nobody (``port 0``).
- **Neither touches the system clock.** Both run with ``-x`` (chronyd(8): "disables the
  control of the system clock ... It will assume the clock is free running and still track
  its offset and frequency relative to the estimated true time"). The server too: without
  ``-x`` chronyd on Linux resets the kernel's offset and status as it starts (chrony 4.3
  sys_timex.c, ``initialise_timex``) and steers the frequency from then on; with ``-x`` it
  runs the null clock driver (sys.c, ``SYS_Initialise``; sys_null.c), which makes no
  adjtimex call. The lab reads adjtimex(2) (modes 0: read only) before and after and
  reports whether the frequency and status stayed as they were.
- **What the numbers mean.** Both daemons read the same kernel clock, so the true offset is
  zero: the client's "System time" offset and its frequency measure the noise of NTP over
  a veth pair (timestamps taken in user space, scheduling delays, steal time), not a clock
  error.
- **Separate instances.** Each has its own pidfile, driftfile and command socket
  (``bindcmdaddress /path``; ``cmdport 0`` opens no UDP command port). chronyd drops root
  for its user (``-u``, ``_chrony`` on Debian), so its folders belong to that user with mode
  750: the command socket's folder must not be open to others (chrony.conf(5),
  "bindcmdaddress"), and the lab's temp dir lets that user pass through (mode 711).
  chronyc talks to the client over that socket (``chronyc -h /path``; chronyc(1)), with
  ``-c`` for CSV and ``-n`` for no name lookups.
- **Convergence** is the first sample at which the client's tracking names the server as
  its reference, its leap status is not "Not synchronised" and ``sources`` marks the server
  selected (``*``), counted from the client's start.

Sources: chronyd(8), chronyc(1), chrony.conf(5); chrony 4.3 sys.c, sys_timex.c, sys_null.c and
client.c (chronyc binds ``chronyc.PID.sock`` in the folder of the server's socket).
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from hftinfra.host import Reason, Unread
from hftinfra.labs.harness import (
    CleanupReport,
    ClockCheck,
    Lab,
    LabError,
    LabProcess,
    LabUnavailable,
    check_tools,
    lab_capability,
    page_view,
    read_clock,
)
from hftinfra.labs.net import percentile
from hftinfra.records import html_table, show, to_jsonable
from hftinfra.timesync import ChronySource, ChronyTracking, parse_chronyc_sources, parse_chronyc_tracking

SCHEMA = "hftinfra.lab.chrony"
SCHEMA_VERSION = 1

DURATION_S = 20.0  # hftinfra lab chrony
PAGE_DURATION_S = 10.0  # lab_view, for a page: the client synchronises within seconds
MAX_DURATION_S = 3600.0
SAMPLE_INTERVAL_S = 1.0
POLL_LOG2 = -2  # the client's minpoll and maxpoll
START_TIMEOUT_S = 10.0
CHRONYC_TIMEOUT_S = 10.0
# unix(7): sun_path holds 108 bytes with the NUL; chronyc binds its own socket beside the
# server's, named chronyc.PID.sock.
UDS_PATH_MAX = 107
TOOLS = (("chronyd", "chrony"), ("chronyc", "chrony"))
# chronyd's compiled-in user is _chrony on Debian and Ubuntu, chrony on Fedora and RHEL.
USERS = ("_chrony", "chrony")

DOCS = "chronyd(8) (-x, -u, -d), chronyc(1) (-c, -h, -n), chrony.conf(5) (local, allow, bindcmdaddress, minpoll)"

MEANING = ("Both chronyd read the same kernel clock, so the true offset is zero: the client's offset and "
           "frequency measure the noise of NTP over a veth pair, not a clock error. Both run with -x, so "
           "neither adjusts the system clock.")


# ---------------------------------------------------------------------------------------
# Pure parts


def server_config(address: str, network: str, paths: dict[str, str]) -> str:
    """The server's chrony.conf: stratum 1 from its own clock, serving ``network``.

    >>> print(server_config("198.18.0.1", "198.18.0.0/30", {"socket": "/t/s/chronyd.sock",
    ...       "pidfile": "/t/d/chronyd.pid", "driftfile": "/t/d/drift"}))
    local stratum 1
    allow 198.18.0.0/30
    bindaddress 198.18.0.1
    cmdport 0
    bindcmdaddress /t/s/chronyd.sock
    pidfile /t/d/chronyd.pid
    driftfile /t/d/drift
    <BLANKLINE>
    """
    return _config(["local stratum 1", f"allow {network}", f"bindaddress {address}"], paths)


def client_config(server: str, paths: dict[str, str], poll_log2: int = POLL_LOG2) -> str:
    """The client's chrony.conf: one server, polled every 2^``poll_log2`` s, no NTP port.

    >>> client_config("198.18.0.1", {"socket": "/s", "pidfile": "/p", "driftfile": "/d"}).splitlines()[:2]
    ['server 198.18.0.1 iburst minpoll -2 maxpoll -2', 'port 0']
    """
    if not -7 <= poll_log2 <= 24:  # chrony.conf(5): minpoll from -7 to 24
        raise LabError(f"poll must be within -7 to 24 (log2 seconds), not {poll_log2}")
    return _config([f"server {server} iburst minpoll {poll_log2} maxpoll {poll_log2}", "port 0"], paths)


def _config(head: list[str], paths: dict[str, str]) -> str:
    for key in ("socket", "pidfile", "driftfile"):
        if not paths.get(key) or any(c.isspace() for c in paths[key]):
            raise LabError(f"{key} must be a path without white space, not {paths.get(key)!r}")
    lines = [*head, "cmdport 0", f"bindcmdaddress {paths['socket']}", f"pidfile {paths['pidfile']}",
             f"driftfile {paths['driftfile']}"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ChronySample:
    """One look at the client: ``chronyc -c tracking`` and ``-c sources`` (or why unknown),
    ``time_s`` seconds from the client's start to the tracking request."""

    time_s: float
    tracking: ChronyTracking | Unread
    sources: tuple[ChronySource, ...] | Unread

    def selected(self) -> ChronySource | None:
        if isinstance(self.sources, Unread):
            return None
        return next((s for s in self.sources if s.selected), None)

    def synced_to(self, server: str) -> bool:
        """Tracking names ``server`` as its reference with a leap status other than "Not
        synchronised", and ``sources`` has it selected."""
        t = self.tracking
        if isinstance(t, Unread) or not t.synchronised or t.reference_name != server:
            return False
        chosen = self.selected()
        return chosen is not None and chosen.name == server

    @property
    def offset_ns(self) -> float | None:
        """The system clock's offset from NTP time as chronyd estimates it (tracking's
        "System time"; negative: ahead), None when unknown."""
        t = self.tracking
        return None if isinstance(t, Unread) else t.system_time_offset_s * 1e9

    @property
    def frequency_ppm(self) -> float | None:
        t = self.tracking
        return None if isinstance(t, Unread) else t.frequency_ppm


def convergence_s(samples: Sequence[ChronySample], server: str) -> float | None:
    """Seconds from the client's start to the first sample synchronised to ``server``
    (:meth:`ChronySample.synced_to`); None when none was."""
    return next((s.time_s for s in samples if s.synced_to(server)), None)


@dataclass(frozen=True)
class ChronyStats:
    """The client's samples summarised, from the first synchronised one on."""

    samples: int
    unread: int  # samples whose tracking could not be read
    converged_s: float | None
    synced_samples: int  # samples at or after convergence that were synchronised
    median_abs_offset_ns: float | None
    max_abs_offset_ns: float | None
    median_frequency_ppm: float | None
    final_stratum: int | None
    final_reference: str | None
    final_leap_status: str | None

    def text(self) -> str:
        if self.converged_s is None:
            return (f"not synchronised to the server in {self.samples} samples"
                    + (f" ({self.unread} unread)" if self.unread else ""))
        return (f"synchronised to the server by {self.converged_s:.1f} s after the client started (the first "
                f"sample that was); "
                f"{self.synced_samples} of {self.samples} samples synchronised from then on: median |offset| "
                f"{self.median_abs_offset_ns:.0f} ns (max {self.max_abs_offset_ns:.0f}), median frequency "
                f"{self.median_frequency_ppm:+.3f} ppm; last: stratum {self.final_stratum}, reference "
                f"{self.final_reference}, leap status {self.final_leap_status}")


def chrony_stats(samples: Sequence[ChronySample], server: str) -> ChronyStats:
    unread = sum(1 for s in samples if isinstance(s.tracking, Unread))
    converged = convergence_s(samples, server)
    read = [s for s in samples if not isinstance(s.tracking, Unread)]
    last = read[-1].tracking if read else None
    final = (last.stratum, last.reference_name or last.reference_id, last.leap_status) if last else (None, None, None)
    if converged is None:
        return ChronyStats(len(samples), unread, None, 0, None, None, None, *final)  # type: ignore[arg-type]
    after = [s for s in samples if s.time_s >= converged and s.synced_to(server)]
    offsets = sorted(abs(s.offset_ns) for s in after)  # type: ignore[arg-type]
    freqs = sorted(s.frequency_ppm for s in after)  # type: ignore[type-var]
    return ChronyStats(len(samples), unread, converged, len(after), percentile(offsets, 50), offsets[-1],
                       percentile(freqs, 50), *final)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class ChronydInstance:
    """One chronyd as it ran: its command line, configuration and log."""

    role: str  # "server" or "client"
    netns: str
    address: str
    argv: tuple[str, ...]
    config: str
    socket: str
    user: str
    exit_code: int | None
    log: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True)
class ChronyLabResult:
    """What ``hftinfra lab chrony`` and the page show."""

    kernel: str
    chronyd_version: str
    duration_s: float  # asked for: how long the client was sampled
    interval_s: float  # between samples: the resolution of the convergence time
    run_s: float  # the client's start to its stop
    elapsed_s: float  # the lab's wall time, set-up to cleanup
    server: ChronydInstance
    client: ChronydInstance
    samples: tuple[ChronySample, ...]
    server_tracking: ChronyTracking | Unread  # the server's own view at the end (its local reference)
    stats: ChronyStats
    clock: ClockCheck
    meaning: str
    cleanup: str
    report: CleanupReport | None = field(default=None, repr=False, compare=False)
    docs: str = DOCS

    # The series the brief of the lab promises, one value per sample (None: unknown).
    def series(self) -> dict[str, list]:
        def pick(attr):
            return [None if isinstance(s.tracking, Unread) else getattr(s.tracking, attr) for s in self.samples]

        return {"time_s": [round(s.time_s, 3) for s in self.samples],
                "offset_ns": [None if s.offset_ns is None else round(s.offset_ns, 1) for s in self.samples],
                "frequency_ppm": pick("frequency_ppm"), "stratum": pick("stratum"),
                "reference": [None if isinstance(s.tracking, Unread) else (s.tracking.reference_name or s.tracking.reference_id)
                              for s in self.samples],
                "leap_status": pick("leap_status")}

    def to_json(self) -> dict:
        doc = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}
        doc.update(to_jsonable(self))
        doc.pop("report", None)
        doc["clock"].update(untouched=self.clock.untouched, text=self.clock.text)
        doc["series"] = self.series()
        for key in ("duration_s", "run_s", "elapsed_s"):
            doc[key] = round(doc[key], 3)
        return doc

    def headline(self) -> str:
        return (f"lab chrony on kernel {self.kernel}: chronyd {self.chronyd_version}, {self.duration_s:g} s asked, "
                f"client ran {self.run_s:.1f} s, lab took {self.elapsed_s:.1f} s")

    def rows(self) -> list[list[object]]:
        out = []
        for s in self.samples:
            t = s.tracking
            chosen = s.selected()
            if isinstance(t, Unread):
                out.append([f"{s.time_s:.1f}", t, None, None, None, None])
                continue
            out.append([f"{s.time_s:.1f}", f"{t.system_time_offset_s * 1e9:+.0f}", f"{t.frequency_ppm:+.3f}",
                        t.stratum, t.reference_name or t.reference_id,
                        t.leap_status + (f"; {chosen.state} {chosen.name}" if chosen else "; no source selected")])
        return out

    HEADER = ("t (s)", "offset (ns)", "frequency (ppm)", "stratum", "reference", "leap status; selected")

    def to_text(self) -> str:
        lines = [self.headline()]
        for inst in (self.server, self.client):
            lines.append(f"  {inst.role}: {' '.join(inst.argv)} in {inst.netns} ({inst.address}), as {inst.user}")
        lines.append(f"  client: {self.stats.text()}")
        st = self.server_tracking
        lines.append("  server's own tracking: " + (str(st) if isinstance(st, Unread) else
                     f"stratum {st.stratum}, reference ID {st.reference_id}, leap status {st.leap_status}"))
        width = [max(len(h), *(len(show(r[i])) for r in self.rows())) if self.rows() else len(h)
                 for i, h in enumerate(self.HEADER)]
        lines.append("    " + "  ".join(h.ljust(w) for h, w in zip(self.HEADER, width, strict=True)).rstrip())
        lines += ["    " + "  ".join(show(c).ljust(w) for c, w in zip(r, width, strict=True)).rstrip()
                  for r in self.rows()]
        lines.append(f"  what this measures: {self.meaning}")
        lines.append(f"  system clock: {self.clock.text}")
        lines.append(self.cleanup)
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__

    def figure(self):
        from hftinfra.viz.timesync import chrony_tracking_figure

        # Before it is synchronised chronyd has no estimate and prints zeros: gaps, not zeros.
        server = self.server.address
        synced = [s.synced_to(server) for s in self.samples]
        return chrony_tracking_figure([round(s.time_s, 3) for s in self.samples],
                                      [s.offset_ns if ok else None for s, ok in zip(self.samples, synced, strict=True)],
                                      [s.frequency_ppm if ok else None for s, ok in zip(self.samples, synced, strict=True)],
                                      self.stats.converged_s,
                                      subtitle=f"chronyc -c tracking every {self.interval_s:g} s; points only while "
                                               "synchronised to the server; both chronyd run with -x")

    def _repr_html_(self) -> str:
        from hftinfra.viz import figure_html

        summary = [["synchronised by (first sample that was)", f"{self.stats.converged_s:.1f} s" if self.stats.converged_s is not None
                    else "not synchronised"],
                   ["median |offset| once synchronised",
                    None if self.stats.median_abs_offset_ns is None else f"{self.stats.median_abs_offset_ns:.0f} ns"],
                   ["max |offset| once synchronised",
                    None if self.stats.max_abs_offset_ns is None else f"{self.stats.max_abs_offset_ns:.0f} ns"],
                   ["median frequency", None if self.stats.median_frequency_ppm is None
                    else f"{self.stats.median_frequency_ppm:+.3f} ppm"],
                   ["last stratum / reference / leap status",
                    f"{show(self.stats.final_stratum)} / {show(self.stats.final_reference)} / "
                    f"{show(self.stats.final_leap_status)}"],
                   ["samples (unread)", f"{self.stats.samples} ({self.stats.unread})"],
                   ["system clock", self.clock.text]]
        parts = [html_table("chrony over a veth pair: the client's view", ["", "value"], summary, self.meaning),
                 figure_html(self.figure().to_dict())]
        parts.append("<details><summary>every sample</summary>"
                     + html_table("chronyc -c tracking and sources, once a second", list(self.HEADER), self.rows())
                     + "</details>")
        for inst in (self.server, self.client):
            parts.append("<details><summary>" + escape(f"{inst.role}: {' '.join(inst.argv)}") + "</summary><pre>"
                         + escape(inst.config) + "</pre><pre>" + escape("\n".join(inst.log)) + "</pre></details>")
        parts.append(f"<p><small>{escape(self.headline())}; {escape(self.cleanup)}. Sources: "
                     f"{escape(self.docs)}.</small></p>")
        return "<div>" + "".join(parts) + "</div>"


# ---------------------------------------------------------------------------------------
# Running


def chronyd_user() -> tuple[str, int, int]:
    """The user chronyd drops root for (``-u``): _chrony or chrony when the system has one,
    else root (chronyd then keeps root)."""
    for name in USERS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, entry.pw_uid, entry.pw_gid
    return "root", 0, 0


def _say(lab: Lab, text: str) -> None:
    lab._step(text)


def _version(chronyd: str) -> str:
    try:
        res = subprocess.run([chronyd, "-v"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(Unread(Reason.MISSING, f"{chronyd} -v", str(exc)))
    words = (res.stdout + res.stderr).split()
    # "chronyd (chrony) version 4.3 (+CMDMON ...)"
    return words[words.index("version") + 1] if "version" in words[:-1] else str(
        Unread(Reason.MALFORMED, f"{chronyd} -v", (res.stdout + res.stderr).strip()[:80] or "no output"))


def _private_dir(path, uid: int, gid: int) -> None:
    path.mkdir(mode=0o750)
    os.chown(path, uid, gid)
    os.chmod(path, 0o750)  # mkdir's mode is masked by the umask


def _start_chronyd(lab: Lab, role: str, ns: str, chronyd: str, config: str, user: str, socket: str) -> LabProcess:
    assert lab.tmpdir is not None
    cfg = lab.tmpdir / f"{role}.conf"
    cfg.write_text(config, encoding="utf-8")
    # -d: stay in the foreground and log to stderr (the lab's log file); -x: never touch the clock.
    argv = [chronyd, "-x", "-d", "-f", str(cfg), "-u", user]
    proc = lab.start(ns, argv, log=f"{role}.log")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if os.path.exists(socket):
            return proc
        if not proc.running:
            break
        time.sleep(0.05)
    tail = (proc.output().strip().splitlines() or ["no output"])[-1]
    if not proc.running:
        raise LabError(f"the {role} chronyd exited {proc.returncode}: {tail}")
    raise LabError(f"the {role} chronyd opened no command socket within {START_TIMEOUT_S:g} s: {tail}")


def _chronyc(lab: Lab, ns: str, chronyc: str, socket: str, report: str, parse):
    argv = [chronyc, "-c", "-n", "-h", socket, report]
    source = f"chronyc -c -n -h {socket} {report}"
    try:
        res = lab.run(ns, argv, timeout=CHRONYC_TIMEOUT_S)
    except subprocess.TimeoutExpired:  # this sample is unknown; the lab goes on
        return Unread(Reason.MISSING, source, f"no answer within {CHRONYC_TIMEOUT_S:g} s")
    if res.returncode != 0:
        said = (res.stderr.strip() or res.stdout.strip() or "no message").splitlines()[0]
        return Unread(Reason.MISSING, source, f"exit {res.returncode}: {said}")
    try:
        return parse(res.stdout)
    except ValueError as exc:
        return Unread(Reason.MALFORMED, source, str(exc))


def run_chrony_lab(duration_s: float = DURATION_S, *, interval_s: float = SAMPLE_INTERVAL_S,
                   on_step: Callable[[str], object] | None = None) -> ChronyLabResult:
    """Run the chrony lab, sampling the client every ``interval_s`` for ``duration_s``
    seconds, and clean up; raises :class:`LabUnavailable` (one line) when this machine
    cannot run it."""
    if not (isinstance(duration_s, (int, float)) and 0 < duration_s <= MAX_DURATION_S):
        raise LabError(f"duration must be more than 0 and at most {MAX_DURATION_S:g} s, not {duration_s!r}")
    if not (isinstance(interval_s, (int, float)) and 0.1 <= interval_s <= duration_s):
        raise LabError(f"the sample interval must be at least 0.1 s and at most the duration, not {interval_s!r}")
    capability = lab_capability()
    if not capability:
        raise LabUnavailable(f"lab chrony {capability.reason}")
    tools = check_tools("chrony", TOOLS)
    started = time.monotonic()
    version = _version(tools["chronyd"])
    user, uid, gid = chronyd_user()
    clock_before = read_clock()
    with Lab("chrony", on_step=on_step) as lab:
        assert lab.tmpdir is not None
        # chronyd runs as `user` after start: it must pass through the temp dir to its folders.
        os.chmod(lab.tmpdir, 0o711)
        srv_ns, cli_ns = lab.netns("server"), lab.netns("client")
        pair = lab.veth(srv_ns, cli_ns)
        network = str(pair.a.address.network) if pair.a.address else ""
        paths = {}
        for role in ("server", "client"):
            for sub in (role, f"{role}-sock"):
                _private_dir(lab.tmpdir / sub, uid, gid)
            paths[role] = {"socket": str(lab.tmpdir / f"{role}-sock" / "chronyd.sock"),
                           "pidfile": str(lab.tmpdir / role / "chronyd.pid"),
                           "driftfile": str(lab.tmpdir / role / "drift")}
            # chronyc binds chronyc.PID.sock beside the server's socket.
            longest = os.path.join(os.path.dirname(paths[role]["socket"]), "chronyc.4194304.sock")
            if len(longest.encode()) > UDS_PATH_MAX:
                raise LabError(f"the lab's temp dir makes socket paths too long for a UNIX socket ({longest}); "
                               "set TMPDIR shorter")
        configs = {"server": server_config(pair.a.ip or "", network, paths["server"]),
                   "client": client_config(pair.a.ip or "", paths["client"])}
        server = _start_chronyd(lab, "server", srv_ns, tools["chronyd"], configs["server"], user,
                                paths["server"]["socket"])
        t0 = time.monotonic()
        client = _start_chronyd(lab, "client", cli_ns, tools["chronyd"], configs["client"], user,
                                paths["client"]["socket"])
        _say(lab, f"chrony: sampling the client every {interval_s:g} s for {duration_s:g} s")
        samples: list[ChronySample] = []
        sock = paths["client"]["socket"]
        server_ip = pair.a.ip or ""
        k = 0
        while True:
            due = t0 + k * interval_s
            if due > t0 + duration_s:
                break
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            for proc, role in ((server, "server"), (client, "client")):
                if not proc.running:
                    tail = (proc.output().strip().splitlines() or ["no output"])[-1]
                    raise LabError(f"the {role} chronyd exited {proc.returncode}: {tail}")
            t = time.monotonic() - t0
            tracking = _chronyc(lab, cli_ns, tools["chronyc"], sock, "tracking", parse_chronyc_tracking)
            sources = _chronyc(lab, cli_ns, tools["chronyc"], sock, "sources", parse_chronyc_sources)
            sample = ChronySample(t, tracking, sources)
            samples.append(sample)
            _say(lab, _sample_line(sample, server_ip))
            k += 1
        server_tracking = _chronyc(lab, srv_ns, tools["chronyc"], paths["server"]["socket"], "tracking",
                                   parse_chronyc_tracking)
        codes = {role: proc.stop() for proc, role in ((client, "client"), (server, "server"))}
        run_s = time.monotonic() - t0
        instances = {role: ChronydInstance(role, ns, ip or "", proc.argv, configs[role], paths[role]["socket"], user,
                                           codes[role], tuple(proc.output().splitlines()))
                     for role, ns, ip, proc in (("server", srv_ns, pair.a.ip, server),
                                                ("client", cli_ns, pair.b.ip, client))}
    clock_after = read_clock()
    report = lab.cleanup_report()
    return ChronyLabResult(os.uname().release, version, float(duration_s), float(interval_s), run_s, time.monotonic() - started,
                           instances["server"], instances["client"], tuple(samples), server_tracking,
                           chrony_stats(samples, server_ip), ClockCheck(clock_before, clock_after), MEANING,
                           report.summary(), report)


def _sample_line(sample: ChronySample, server: str) -> str:
    t = sample.tracking
    if isinstance(t, Unread):
        return f"client at {sample.time_s:.1f} s: tracking {t}"
    state = "synchronised" if sample.synced_to(server) else "not synchronised"
    return (f"client at {sample.time_s:.1f} s: offset {t.system_time_offset_s * 1e9:+.0f} ns, frequency "
            f"{t.frequency_ppm:+.3f} ppm, stratum {t.stratum}, reference {t.reference_name or t.reference_id}, "
            f"{t.leap_status} ({state})")


def lab_view(*, duration_s: float = PAGE_DURATION_S, **kwargs) -> object:
    """For a page: the lab run for ``duration_s`` (10 s by default), or, when this machine
    cannot run it (not root, no ``ip``, no network namespaces, chronyd or chronyc missing),
    a one-line note saying why. Never raises for that. In a notebook, progress shows as one
    line that each step replaces. ``kwargs`` go to :func:`run_chrony_lab`."""
    return page_view("chrony", run_chrony_lab, duration_s, **kwargs)


__all__ = [
    "DURATION_S", "PAGE_DURATION_S", "SAMPLE_INTERVAL_S", "ChronyLabResult", "ChronySample", "ChronyStats",
    "ChronydInstance", "chrony_stats", "chronyd_user", "client_config", "convergence_s", "lab_view",
    "run_chrony_lab", "server_config",
]
