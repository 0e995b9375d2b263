"""The PTP lab: a grandmaster and a slave ptp4l (linuxptp) over a veth pair between two
network namespaces, software timestamps, for a set time; the slave's offset and path delay
over the run, and what each instance answers to pmc (see :mod:`hftinfra.labs.harness`).

What runs, and why so:

- **Two ptp4l instances**, one per namespace, each on its end of the veth pair, with
  software timestamping (``-S``) and the IEEE 802.3 (``-2``, the default here) or UDP IPv4
  (``-4``) transport. The grandmaster has ``priority1 1``, the slave ``slaveOnly 1``.
- **Neither may touch a clock.** Both run with ``free_running 1``: ptp4l then opens no clock
  to adjust (clock.c, ``clock_create``: ``clkid = CLOCK_INVALID``) and only measures
  (``clock_no_adjust``). Without it each instance adjusts CLOCK_REALTIME, and even a
  grandmaster clears the kernel's unsynchronised flag when it starts (``sysclk_set_leap(0)``).
  ``kernel_leap 0`` closes the one path left to the kernel clock, a leap second announced by
  the grandmaster. The lab reads adjtimex(2) (modes 0: read only) before and after and
  reports whether the frequency and status stayed as they were.
- **What the numbers mean.** Both instances timestamp with the same kernel clock, so the true
  offset is zero: ``master offset`` measures timestamping noise and the asymmetry of the two
  directions through the veth and the two network stacks, and ``path delay`` the one-way
  delay ptp4l estimated from the delay request-response exchange (E2E). With
  ``free_running 1`` the slave's servo never locks: its state stays ``s0`` and its port stays
  UNCALIBRATED (port.c, ``port_synchronize``: only a locked servo sends the port to SLAVE).
  That is expected, not a fault.
- **Intervals.** Announce every second (``logAnnounceInterval 0``) with
  ``announceReceiptTimeout 2`` (the least ptp4l takes), so the grandmaster takes its role
  after about 2 s instead of 6 s; Sync and Delay_Req every second. A free-running ptp4l
  prints one ``master offset`` line per frequency estimate, every 2^``freq_est_interval``
  seconds (clock.c, ``clock_no_adjust``, ``clock_sync_interval``): ``freq_est_interval 0``
  gives one a second. The first line comes before any delay measurement (path delay 0,
  offset 0): it is kept in the series and left out of the statistics.
- **Management.** Each instance listens on its own ``uds_address`` in the lab's temp dir
  (UNIX socket paths are not per network namespace). ``pmc -u -b 0 -s SERVER -i OWN``
  asks for CURRENT_DATA_SET, PORT_DATA_SET, PARENT_DATA_SET and TIME_STATUS_NP near the end
  of the run. pmc exits 0 even when nothing answered (pmc.c waits 100 ms for replies), so the
  answers are checked, asked again when missing, and recorded as unknown if none came.

Sources: ptp4l(8), pmc(8); linuxptp 3.1 clock.c, port.c, pmc.c, print.c (timestamps in
brackets are CLOCK_MONOTONIC seconds, the clock of ``time.monotonic()`` on Linux).
"""

from __future__ import annotations

import os
import re
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
    find_tool,
    lab_capability,
    notebook_progress,
    page_view,
    read_clock,
)
from hftinfra.labs.net import percentile
from hftinfra.records import html_table, show, to_jsonable
from hftinfra.timesync import ServoSample, parse_pmc, parse_ptp4l_log

SCHEMA = "hftinfra.lab.ptp"
SCHEMA_VERSION = 1

DURATION_S = 30.0  # hftinfra lab ptp
PAGE_DURATION_S = 15.0  # lab_view, for a page
MAX_DURATION_S = 3600.0
TRANSPORTS = {"L2": "-2", "UDPv4": "-4"}  # ptp4l(8): -2 IEEE 802.3, -4 UDP IPv4
PMC_QUERIES = ("CURRENT_DATA_SET", "PORT_DATA_SET", "PARENT_DATA_SET", "TIME_STATUS_NP")
PMC_ATTEMPTS = 3
START_TIMEOUT_S = 10.0
POLL_S = 0.2
# unix(7): sun_path holds 108 bytes with the terminating NUL.
UDS_PATH_MAX = 107
TOOLS = (("ptp4l", "linuxptp"), ("pmc", "linuxptp"))

DOCS = {
    "ptp4l": "ptp4l(8) (free_running, uds_address, freq_est_interval, summary_interval)",
    "pmc": "pmc(8)",
    "source": "linuxptp 3.1 clock.c (clock_create, clock_no_adjust, clock_sync_interval), port.c (port_synchronize)",
}

# The settings both instances share; see the module docstring for each.
_COMMON = (
    ("free_running", "1"),
    ("kernel_leap", "0"),
    ("logAnnounceInterval", "0"),
    ("announceReceiptTimeout", "2"),
    ("logSyncInterval", "0"),
    ("logMinDelayReqInterval", "0"),
    ("freq_est_interval", "0"),
    ("summary_interval", "0"),
    ("logging_level", "6"),
)
_ROLE_SETTINGS = {"grandmaster": (("priority1", "1"),), "slave": (("slaveOnly", "1"),)}

MEANING = ("Both ptp4l instances timestamp with the same kernel clock, so the true offset is zero: the "
           "offsets measure timestamping noise and the asymmetry of the two directions, not a clock "
           "error. With free_running 1 no clock is adjusted, so the slave's servo stays in state s0 and "
           "its port UNCALIBRATED; that is expected.")


# ---------------------------------------------------------------------------------------
# Pure parts


def ptp4l_config(role: str, uds_address: str) -> str:
    """The configuration file of one instance (``role`` is "grandmaster" or "slave").

    >>> print(ptp4l_config("slave", "/tmp/x/slave.sock"))  # doctest: +ELLIPSIS
    [global]
    free_running 1
    kernel_leap 0
    ...
    uds_address /tmp/x/slave.sock
    slaveOnly 1
    <BLANKLINE>
    """
    if role not in _ROLE_SETTINGS:
        raise LabError(f"ptp4l role must be grandmaster or slave, not {role!r}")
    if not uds_address or any(c.isspace() for c in uds_address):
        raise LabError(f"uds_address must be a path without white space, not {uds_address!r}")
    lines = ["[global]", *(f"{k} {v}" for k, v in _COMMON), f"uds_address {uds_address}",
             *(f"{k} {v}" for k, v in _ROLE_SETTINGS[role])]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class PortTransition:
    """One line ``port 1: LISTENING to UNCALIBRATED on RS_SLAVE`` of a ptp4l log."""

    time_s: float  # ptp4l's CLOCK_MONOTONIC timestamp
    port: int
    old: str
    new: str
    event: str


# port.c (linuxptp 3.1): "port %hu: %s to %s on %s", then " (%s)" with a reason; newer
# releases add the interface name after the port number. message_tag adds a word first.
_TRANSITION_RE = re.compile(
    r"^\S*?\[(?P<t>\d+\.\d+)\]: (?:\S+ )?port (?P<port>\d+)(?: \([^)]*\))?: "
    r"(?P<old>[A-Z_]+) to (?P<new>[A-Z_]+) on (?P<event>[A-Z_]+)")


def parse_port_transitions(text: str) -> tuple[PortTransition, ...]:
    """The port state changes a ptp4l log records, in order; other lines are skipped. Port 0
    is ptp4l's own management port on its UNIX socket (clock.c creates it before the network
    ports); its changes are kept too, :attr:`PtpInstance.network_transitions` leaves them out.

    >>> parse_port_transitions("ptp4l[10325.271]: port 1: LISTENING to UNCALIBRATED on RS_SLAVE\\n")
    (PortTransition(time_s=10325.271, port=1, old='LISTENING', new='UNCALIBRATED', event='RS_SLAVE'),)
    """
    out = []
    for line in text.splitlines():
        m = _TRANSITION_RE.match(line.strip())
        if m:
            out.append(PortTransition(float(m["t"]), int(m["port"]), m["old"], m["new"], m["event"]))
    return tuple(out)


def measured(samples: Sequence[ServoSample]) -> tuple[ServoSample, ...]:
    """The offset lines that carry a measurement: those after the first path delay was
    measured. A free-running ptp4l prints one line before that, with offset and path delay 0
    (clock.c: ``clock_no_adjust`` runs even when ``tsproc_update_offset`` has no delay yet)."""
    lines = [s for s in samples if s.kind == "offset" and s.offset_ns is not None and s.path_delay_ns is not None]
    first = next((i for i, s in enumerate(lines) if s.path_delay_ns), len(lines))
    return tuple(lines[first:])


@dataclass(frozen=True)
class PtpStats:
    """The slave's offset lines over the run, summarised (nanoseconds, nearest rank)."""

    lines: int  # offset lines ptp4l printed
    measured: int  # of those, with a path delay measured (the ones summarised)
    first_line_s: float | None  # seconds from the lab's start to the first measured line
    median_abs_offset_ns: int | None
    p90_abs_offset_ns: int | None
    max_abs_offset_ns: int | None
    median_offset_ns: int | None  # signed: a steady asymmetry shows here
    median_path_delay_ns: int | None
    min_path_delay_ns: int | None
    max_path_delay_ns: int | None
    servo_states: tuple[str, ...]  # the states the lines showed, in order of first appearance

    def text(self) -> str:
        if not self.measured:
            return (f"no measured offset line ({self.lines} line(s) printed): the run ended before the "
                    "slave had measured a path delay")
        return (f"{self.measured} measured offset lines from {self.first_line_s:.1f} s: median |offset| "
                f"{self.median_abs_offset_ns} ns (p90 {self.p90_abs_offset_ns}, max {self.max_abs_offset_ns}; "
                f"signed median {self.median_offset_ns:+d}), median path delay {self.median_path_delay_ns} ns "
                f"({self.min_path_delay_ns}-{self.max_path_delay_ns}); servo state "
                f"{', '.join(self.servo_states) or 'none'}")


def ptp_stats(samples: Sequence[ServoSample], t0_s: float = 0.0) -> PtpStats:
    """Statistics of the measured offset lines (:func:`measured`); ``t0_s`` is the lab's
    start on ptp4l's clock."""
    offsets = [s for s in samples if s.kind == "offset"]
    good = measured(samples)
    states = tuple(dict.fromkeys(s.state for s in offsets if s.state))
    if not good:
        return PtpStats(len(offsets), 0, None, None, None, None, None, None, None, None, states)
    abs_off = sorted(abs(int(s.offset_ns)) for s in good)
    signed = sorted(int(s.offset_ns) for s in good)
    delays = sorted(int(s.path_delay_ns) for s in good)
    return PtpStats(len(offsets), len(good), good[0].time_s - t0_s, percentile(abs_off, 50), percentile(abs_off, 90),
                    abs_off[-1], percentile(signed, 50), percentile(delays, 50), delays[0], delays[-1], states)


# ---------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class PtpInstance:
    """One ptp4l as it ran: how it was started, its port's state changes, and what it
    answered to pmc (management ID -> fields, or why unknown)."""

    role: str  # "grandmaster" or "slave"
    netns: str
    ifname: str
    uds_address: str
    argv: tuple[str, ...]
    config: str
    transitions: tuple[PortTransition, ...]
    pmc: dict[str, dict[str, str] | Unread]
    exit_code: int | None  # after the lab stopped it (SIGTERM)
    log: tuple[str, ...] = field(repr=False)

    def answer(self, management_id: str, name: str) -> str | Unread:
        """One field of a pmc answer, or why unknown."""
        got = self.pmc.get(management_id)
        if got is None:
            return Unread(Reason.MISSING, f"pmc GET {management_id}", "not asked")
        if isinstance(got, Unread):
            return got
        if name not in got:
            return Unread(Reason.MISSING, f"pmc GET {management_id}", f"the answer has no {name}")
        return got[name]

    @property
    def port_state(self) -> str | Unread:
        return self.answer("PORT_DATA_SET", "portState")

    @property
    def network_transitions(self) -> tuple[PortTransition, ...]:
        """The state changes of the network ports (port 0 is the UNIX-socket port)."""
        return tuple(t for t in self.transitions if t.port != 0)

    def states_text(self) -> str:
        """``INITIALIZING -> LISTENING -> MASTER``: the network port's states in order."""
        ts = self.network_transitions
        return " -> ".join([ts[0].old, *(t.new for t in ts)]) if ts else "no state change logged"


# What the result's short pmc table shows: (management ID, field).
KEY_FIELDS = (
    ("PORT_DATA_SET", "portState"),
    ("CURRENT_DATA_SET", "offsetFromMaster"),
    ("CURRENT_DATA_SET", "meanPathDelay"),
    ("CURRENT_DATA_SET", "stepsRemoved"),
    ("PARENT_DATA_SET", "grandmasterIdentity"),
    ("PARENT_DATA_SET", "grandmasterPriority1"),
    ("TIME_STATUS_NP", "gmPresent"),
    ("TIME_STATUS_NP", "master_offset"),
)


@dataclass(frozen=True)
class PtpLabResult:
    """What ``hftinfra lab ptp`` and the page show."""

    kernel: str
    ptp4l_version: str
    transport: str
    duration_s: float  # asked for: how long the daemons ran before pmc was asked
    run_s: float  # how long they ran, start of the grandmaster to the stop
    elapsed_s: float  # the lab's wall time, set-up to cleanup
    t0_s: float  # the grandmaster's start on CLOCK_MONOTONIC: samples' time_s minus this
    grandmaster: PtpInstance
    slave: PtpInstance
    # The slave's offset (and summary) lines in order; the first may come before any delay
    # was measured, see measured().
    samples: tuple[ServoSample, ...]
    stats: PtpStats
    clock: ClockCheck
    meaning: str
    cleanup: str
    report: CleanupReport | None = field(default=None, repr=False, compare=False)
    docs: str = "; ".join(DOCS.values())

    def times_s(self, samples: Sequence[ServoSample] | None = None) -> list[float]:
        return [round(s.time_s - self.t0_s, 3) for s in (self.samples if samples is None else samples)]

    def to_json(self) -> dict:
        doc = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}
        doc.update(to_jsonable(self))
        doc.pop("report", None)
        doc["clock"].update(untouched=self.clock.untouched, text=self.clock.text)
        for key in ("duration_s", "run_s", "elapsed_s"):
            doc[key] = round(doc[key], 3)
        return doc

    def headline(self) -> str:
        return (f"lab ptp on kernel {self.kernel}: ptp4l {self.ptp4l_version}, {self.transport}, software "
                f"timestamps, {self.duration_s:g} s asked, daemons ran {self.run_s:.1f} s, lab took "
                f"{self.elapsed_s:.1f} s")

    def pmc_rows(self) -> list[list[object]]:
        return [[f"{mid} {name}", self.grandmaster.answer(mid, name), self.slave.answer(mid, name)]
                for mid, name in KEY_FIELDS]

    def to_text(self) -> str:
        lines = [self.headline()]
        for inst in (self.grandmaster, self.slave):
            lines.append(f"  {inst.role}: {' '.join(inst.argv)} in {inst.netns}; port {inst.states_text()}")
        lines.append(f"  slave: {self.stats.text()}")
        lines.append(f"  slave port state (pmc): {show(self.slave.port_state)}")
        lines.append("  pmc answers (grandmaster | slave):")
        width = max(len(str(r[0])) for r in self.pmc_rows())
        lines += [f"    {str(r[0]).ljust(width)}  {show(r[1])} | {show(r[2])}" for r in self.pmc_rows()]
        lines.append(f"  what this measures: {self.meaning}")
        lines.append(f"  system clock: {self.clock.text}")
        lines.append(self.cleanup)
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__

    def series_figure(self):
        from hftinfra.viz.timesync import ptp_series_figure

        good = measured(self.samples)
        return ptp_series_figure(self.times_s(good), [s.offset_ns for s in good], [s.path_delay_ns for s in good])

    def histogram_figure(self):
        from hftinfra.viz.timesync import ptp_histogram_figure

        good = measured(self.samples)
        return ptp_histogram_figure([s.offset_ns for s in good], [s.path_delay_ns for s in good])

    def _repr_html_(self) -> str:
        from hftinfra.viz import figure_html

        stats = [["offset lines (measured)", f"{self.stats.lines} ({self.stats.measured})"],
                 ["first measured line", f"{self.stats.first_line_s:.1f} s" if self.stats.first_line_s is not None else None],
                 ["median |offset|", _ns(self.stats.median_abs_offset_ns)],
                 ["p90 / max |offset|", f"{_ns(self.stats.p90_abs_offset_ns)} / {_ns(self.stats.max_abs_offset_ns)}"],
                 ["median offset (signed)", _ns(self.stats.median_offset_ns, signed=True)],
                 ["median path delay (min-max)",
                  f"{_ns(self.stats.median_path_delay_ns)} ({_ns(self.stats.min_path_delay_ns)}-{_ns(self.stats.max_path_delay_ns)})"],
                 ["servo state", ", ".join(self.stats.servo_states) or None],
                 ["slave port state (pmc)", self.slave.port_state],
                 ["system clock", self.clock.text]]
        parts = [html_table("PTP over a veth pair: the slave's view", ["", "value"], stats, self.meaning)]
        if self.stats.measured:
            parts += [figure_html(self.series_figure().to_dict()), figure_html(self.histogram_figure().to_dict())]
        parts.append(html_table("What pmc answered", ["management ID and field", "grandmaster", "slave"],
                                self.pmc_rows()))
        for inst in (self.grandmaster, self.slave):
            rows = [[t.port, t.old, t.new, t.event, f"{t.time_s - self.t0_s:.1f} s"] for t in inst.transitions]
            parts.append("<details><summary>" + escape(f"{inst.role}: {' '.join(inst.argv)}") + "</summary>"
                         + html_table("port state changes (port 0: the UNIX-socket port)",
                                            ["port", "from", "to", "on", "at"], rows)
                         + _pmc_html(inst) + "<pre>" + escape(inst.config) + "</pre><pre>"
                         + escape("\n".join(inst.log)) + "</pre></details>")
        parts.append(f"<p><small>{escape(self.headline())}; {escape(self.cleanup)}. Sources: "
                     f"{escape(self.docs)}.</small></p>")
        return "<div>" + "".join(parts) + "</div>"


def _ns(value: int | None, signed: bool = False) -> str | None:
    if value is None:
        return None
    return f"{value:+d} ns" if signed else f"{value} ns"


def _pmc_html(inst: PtpInstance) -> str:
    rows: list[list[object]] = []
    for mid in PMC_QUERIES:
        got = inst.pmc.get(mid)
        if isinstance(got, dict):
            rows += [[mid, k, v] for k, v in got.items()]
        else:
            rows.append([mid, "", got])
    return html_table(f"pmc answers of the {inst.role}", ["management ID", "field", "value"], rows)


# ---------------------------------------------------------------------------------------
# The system clock, read only


# ---------------------------------------------------------------------------------------
# Running


def _say(lab: Lab, text: str) -> None:
    lab._step(text)  # the harness's progress channel: on_step, and lab.steps


def _version(ptp4l: str) -> str:
    try:
        res = subprocess.run([ptp4l, "-v"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(Unread(Reason.MISSING, f"{ptp4l} -v", str(exc)))
    words = (res.stdout + res.stderr).split()
    return words[0] if words else str(Unread(Reason.MALFORMED, f"{ptp4l} -v", "no output"))


def query_pmc(lab: Lab, ns: str, pmc: str, server: str, own: str,
              queries: Sequence[str] = PMC_QUERIES, attempts: int = PMC_ATTEMPTS) -> dict[str, dict[str, str] | Unread]:
    """``pmc -u -b 0 -s SERVER -i OWN 'GET ID' ...`` run in ``ns``; the IDs that got no
    answer are asked again, up to ``attempts`` times in all. pmc exits 0 whether or not
    anything answered, so only the answers count."""
    answers: dict[str, dict[str, str]] = {}
    last = ""
    for _ in range(attempts):
        wanted = [q for q in queries if q not in answers]
        if not wanted:
            break
        res = lab.run(ns, [pmc, "-u", "-b", "0", "-s", server, "-i", own, *(f"GET {q}" for q in wanted)], timeout=20)
        got = parse_pmc(res.stdout)
        answers.update({k: v for k, v in got.items() if k in wanted})
        last = (res.stderr.strip().splitlines() or [f"exit {res.returncode}, no answer"])[-1]
    out: dict[str, dict[str, str] | Unread] = {}
    for q in queries:
        out[q] = answers[q] if q in answers else Unread(
            Reason.MISSING, f"pmc GET {q}", f"no answer from {server} after {attempts} tries ({last})")
    return out


def _start_ptp4l(lab: Lab, role: str, ns: str, ifname: str, ptp4l: str, transport: str) -> tuple[LabProcess, str, str]:
    assert lab.tmpdir is not None
    short = "gm" if role == "grandmaster" else "slave"
    uds = str(lab.tmpdir / f"{short}.sock")
    if len(uds.encode()) > UDS_PATH_MAX:
        raise LabError(f"the lab's temp dir makes a socket path too long for a UNIX socket ({uds}); set TMPDIR shorter")
    config = ptp4l_config(role, uds)
    cfg = lab.tmpdir / f"{short}.cfg"
    cfg.write_text(config, encoding="utf-8")
    argv = [ptp4l, "-f", str(cfg), "-i", ifname, "-S", TRANSPORTS[transport], "-m", "-q"]
    proc = lab.start(ns, argv, log=f"{short}.log")
    return proc, uds, config


def _alive_or_raise(proc: LabProcess, role: str) -> None:
    if not proc.running:
        tail = (proc.output().strip().splitlines() or ["no output"])[-1]
        raise LabError(f"the {role} ptp4l exited {proc.returncode}: {tail}")


def run_ptp_lab(duration_s: float = DURATION_S, *, transport: str = "L2",
                on_step: Callable[[str], object] | None = None) -> PtpLabResult:
    """Run the PTP lab for ``duration_s`` seconds and clean up; raises
    :class:`LabUnavailable` (one line) when this machine cannot run it."""
    if transport not in TRANSPORTS:
        raise LabError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
    if not (isinstance(duration_s, (int, float)) and 0 < duration_s <= MAX_DURATION_S):
        raise LabError(f"duration must be more than 0 and at most {MAX_DURATION_S:g} s, not {duration_s!r}")
    capability = lab_capability()
    if not capability:
        raise LabUnavailable(f"lab ptp {capability.reason}")
    tools = check_tools("ptp", TOOLS)
    started = time.monotonic()
    version = _version(tools["ptp4l"])
    clock_before = read_clock()
    with Lab("ptp", on_step=on_step) as lab:
        gm_ns, sl_ns = lab.netns("gm"), lab.netns("slave")
        pair = lab.veth(gm_ns, sl_ns)
        t0 = time.monotonic()
        gm, gm_uds, gm_cfg = _start_ptp4l(lab, "grandmaster", gm_ns, pair.a.ifname, tools["ptp4l"], transport)
        sl, sl_uds, sl_cfg = _start_ptp4l(lab, "slave", sl_ns, pair.b.ifname, tools["ptp4l"], transport)
        for proc, role in ((gm, "grandmaster"), (sl, "slave")):
            if not proc.wait_for("INIT_COMPLETE", timeout=START_TIMEOUT_S):
                _alive_or_raise(proc, role)
                raise LabError(f"the {role} ptp4l did not initialise its port within {START_TIMEOUT_S:g} s")
        _say(lab, f"ptp: running {duration_s:g} s ({transport}, software timestamps, free_running 1)")
        seen = {"grandmaster": 0, "slave": 0}
        while True:
            for proc, role in ((gm, "grandmaster"), (sl, "slave")):
                _alive_or_raise(proc, role)
                _report_new_lines(lab, role, proc.output(), seen)
            left = t0 + duration_s - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(POLL_S, left))
        pmc_path = tools["pmc"]
        assert lab.tmpdir is not None
        answers = {}
        for role, ns, uds in (("grandmaster", gm_ns, gm_uds), ("slave", sl_ns, sl_uds)):
            own = str(lab.tmpdir / f"pmc-{'gm' if role == 'grandmaster' else 'slave'}.sock")
            answers[role] = query_pmc(lab, ns, pmc_path, uds, own)
            got = sum(1 for v in answers[role].values() if not isinstance(v, Unread))
            _say(lab, f"pmc: the {role} answered {got} of {len(PMC_QUERIES)} queries")
        codes = {role: proc.stop() for proc, role in ((sl, "slave"), (gm, "grandmaster"))}
        run_s = time.monotonic() - t0
        logs = {"grandmaster": gm.output(), "slave": sl.output()}
        instances = {}
        for role, ns, end, uds, cfg, proc in (("grandmaster", gm_ns, pair.a, gm_uds, gm_cfg, gm),
                                              ("slave", sl_ns, pair.b, sl_uds, sl_cfg, sl)):
            instances[role] = PtpInstance(role, ns, end.ifname, uds, proc.argv, cfg,
                                          parse_port_transitions(logs[role]), answers[role], codes[role],
                                          tuple(logs[role].splitlines()))
    clock_after = read_clock()
    samples = tuple(s for s in parse_ptp4l_log(logs["slave"]) if s.kind in ("offset", "summary"))
    stats = ptp_stats(samples, t0)
    report = lab.cleanup_report()
    return PtpLabResult(os.uname().release, version, transport, float(duration_s), run_s, time.monotonic() - started,
                        t0, instances["grandmaster"], instances["slave"], samples, stats,
                        ClockCheck(clock_before, clock_after), MEANING, report.summary(), report)


def _report_new_lines(lab: Lab, role: str, text: str, seen: dict[str, int]) -> None:
    """Each new line that tells progress: port state changes of both, offset lines of the slave."""
    lines = text.splitlines()
    complete = lines if text.endswith("\n") else lines[:-1]
    for line in complete[seen[role]:]:
        for t in parse_port_transitions(line):
            if t.port == 0:
                continue
            _say(lab, f"{role}: port {t.port} {t.old} -> {t.new} ({t.event})")
        if role == "slave":
            for s in parse_ptp4l_log(line):
                if s.kind == "offset" and s.offset_ns is not None:
                    _say(lab, f"slave: master offset {s.offset_ns:+d} ns, path delay {s.path_delay_ns} ns, {s.state}")
    seen[role] = len(complete)


def lab_view(*, duration_s: float = PAGE_DURATION_S, **kwargs) -> object:
    """For a page: the lab run for ``duration_s`` (15 s by default), or, when this machine
    cannot run it (not root, no ``ip``, no network namespaces, ptp4l or pmc missing), a
    one-line note saying why. Never raises for that. In a notebook, progress shows as one
    line that each step replaces. ``kwargs`` go to :func:`run_ptp_lab`."""
    return page_view("ptp", run_ptp_lab, duration_s, **kwargs)


__all__ = [
    "DURATION_S", "KEY_FIELDS", "PAGE_DURATION_S", "PMC_QUERIES", "TRANSPORTS", "ClockCheck", "PortTransition",
    "PtpInstance", "PtpLabResult", "PtpStats", "check_tools", "find_tool", "lab_view", "measured",
    "notebook_progress", "parse_port_transitions", "ptp4l_config", "ptp_stats", "query_pmc", "read_clock",
    "run_ptp_lab",
]
