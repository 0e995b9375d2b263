"""One jitter measurement from start to end: check the request, read the counters, start the
trace (root), run the engine, stop the trace, read the counters again, attribute.

:func:`measure_jitter` returns a :class:`JitterRun` holding one *leg* per engine run (two with
``compare``: the python engine, then oslat, on the same CPUs one after the other). A run is
live-only; :func:`load_jitter` reads one written earlier with :meth:`JitterRun.to_json`
(``hftinfra jitter --json -o FILE``), marked as recorded.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hftinfra.cpulist import format_cpulist, parse_cpulist
from hftinfra.host import Host, Reason, Unread, open_host
from hftinfra.measure.jitter.model import (
    ENGINES,
    PERCENTILES,
    CountDelta,
    CountsAttribution,
    CpuJitter,
    EngineResult,
    TaskOnCpu,
    cpu_from_json,
    cpu_to_json,
    percentile_key,
)

SCHEMA_VERSION = 1
DURATION_S = 5.0
MAX_DURATION_S = 3600.0
THRESHOLD_NS = 5_000
ENGINE_CHOICES = ("auto", *ENGINES)
CPU_DIR = "/sys/devices/system/cpu"


class JitterError(ValueError):
    """A request that cannot be measured as asked (bad CPU, engine missing, SCHED_FIFO on every
    CPU, tracing asked without root): one line for the user, exit 2."""


@dataclass(frozen=True)
class JitterLeg:
    """One engine's run with what happened on its CPUs meanwhile."""

    result: EngineResult
    counts: CountsAttribution | Unread
    trace: Any = None  # trace.TraceAttribution, an Unread saying why not, or None (not asked)
    start_ns: int | None = None  # CLOCK_MONOTONIC at the start, for gap times

    @property
    def engine(self) -> str:
        return self.result.engine

    def cpu(self, cpu: int) -> CpuJitter | None:
        return next((c for c in self.result.cpus if c.cpu == cpu), None)


@dataclass(frozen=True)
class JitterRun:
    cpus: tuple[int, ...]
    duration_s: float
    threshold_ns: int
    engine: str  # as asked: auto, python, oslat, cyclictest, or "compare"
    fifo: int | None
    legs: tuple[JitterLeg, ...]
    hostname: str
    kernel: str
    virtualization: str  # "bare metal" or "virtual machine: ..." (hftinfra.identity)
    started_at: str  # UTC, ISO 8601
    interrupted: bool = False
    notes: tuple[str, ...] = ()
    recorded_from: str | None = None  # the file a recorded run was loaded from
    trace_doc: tuple[Any, ...] = field(default=(), compare=False)  # recorded trace JSON per leg

    def leg(self, engine: str) -> JitterLeg | None:
        return next((leg for leg in self.legs if leg.engine == engine), None)

    def ratios(self) -> dict[int, dict[str, float | None]]:
        """With both the python engine and oslat: per CPU, python's figure over oslat's for
        p99.9 and max (None where either is unknown or oslat's is zero)."""
        py, os_ = self.leg("python"), self.leg("oslat")
        out: dict[int, dict[str, float | None]] = {}
        if py is None or os_ is None:
            return out
        for cpu in self.cpus:
            a, b = py.cpu(cpu), os_.cpu(cpu)
            if a is None or b is None:
                continue
            row: dict[str, float | None] = {}
            for name, x, y in (("p99.9", a.percentiles_ns.get("p99.9"), b.percentiles_ns.get("p99.9")),
                               ("max", a.max_ns, b.max_ns)):
                row[name] = None if x is None or not y else x / y
            out[cpu] = row
        return out

    def trace_json(self, leg: JitterLeg) -> dict[str, Any] | None:
        """A leg's trace findings in their JSON form (live or recorded); None when not asked."""
        i = self.legs.index(leg)
        if leg.trace is None:
            return self.trace_doc[i] if i < len(self.trace_doc) else None
        if isinstance(leg.trace, Unread):
            return {"unknown": leg.trace.reason.value, "source": leg.trace.source, "detail": leg.trace.detail}
        return leg.trace.to_json()

    def gap_causes(self, engine: str = "python") -> tuple[tuple[float, int, str, str], ...]:
        """Each traced gap of the leg as ``(seconds since the start, gap ns, largest cause,
        the whole breakdown)``; empty when the leg was not traced per gap."""
        from hftinfra.measure.jitter.trace import format_ns

        leg = self.leg(engine)
        trace = self.trace_json(leg) if leg else None
        if not trace or "gaps" not in trace:
            return ()
        out = []
        start = leg.start_ns or 0
        for g in trace["gaps"]:
            shares = [(c["ns"], c["label"]) for c in g["causes"]]
            shares.append((g.get("unexplained_ns", 0), "unexplained"))
            shares.append((g.get("untraced_ns", 0), "untraced"))
            top = max(shares)[1]
            detail = f"{format_ns(g['gap_ns'])} on CPU {g['cpu']}: " + ", ".join(
                f"{label} {format_ns(ns)}" for ns, label in sorted(shares, reverse=True) if ns)
            out.append(((g["end_ns"] - g["gap_ns"] - start) / 1e9, g["gap_ns"], top, detail))
        return tuple(out)

    def gaps_figure(self, engine: str = "python", title: str | None = None, subtitle: str | None = None):
        """The traced gaps over the run, coloured by their largest cause (None when untraced)."""
        from hftinfra.viz.jitter import gap_timeline_figure

        rows = self.gap_causes(engine)
        if not rows:
            return None
        return gap_timeline_figure([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                                   [r[3] for r in rows], title=title, subtitle=subtitle)

    def causes(self, engine: str | None = None) -> tuple[tuple[str, int, int | None], ...]:
        """``(cause, ns taken, gaps or entries)`` ranked: the trace's totals when the leg was
        traced, else empty (counts say how often, not how long)."""
        leg = self.leg(engine) if engine else (self.legs[0] if self.legs else None)
        trace = self.trace_json(leg) if leg else None
        if not trace or "unknown" in trace:
            return ()
        if "gaps" in trace:
            return tuple((t["label"], t["ns"], t["gaps"]) for t in trace["totals"])
        return tuple((t["label"], t["ns"], t["gaps"]) for t in trace.get("totals", []))

    def causes_figure(self, engine: str | None = None, title: str | None = None, subtitle: str | None = None):
        from hftinfra.viz.jitter import causes_figure

        rows = self.causes(engine)
        if not rows:
            return None
        return causes_figure([r[0] for r in rows], [r[1] for r in rows], [r[2] or 0 for r in rows],
                             title=title, subtitle=subtitle)

    # ---- views -------------------------------------------------------------------------

    def ccdf_figure(self, title: str | None = None, subtitle: str | None = None):
        """Every CPU of every leg: how often a sample took at least x."""
        from hftinfra.viz.jitter import ccdf_figure

        many = len(self.legs) > 1
        curves = {(f"{leg.engine} CPU {c.cpu}" if many else f"CPU {c.cpu}"): c.histogram.ccdf()
                  for leg in self.legs for c in leg.result.cpus}
        sub = subtitle or (f"{self.legs[0].engine if not many else ' vs '.join(g.engine for g in self.legs)}, "
                           f"{self.duration_s:g} s per CPU on {self.hostname}"
                           + (f" (recorded {self.started_at})" if self.recorded_from else "")
                           + ("; a virtual machine" if "virtual machine" in self.virtualization else ""))
        return ccdf_figure(curves, title=title, subtitle=sub)

    # ---- output ------------------------------------------------------------------------

    def to_json(self, gaps: int = 200) -> dict[str, Any]:
        """The run as JSON (schema ``SCHEMA_VERSION``); each CPU keeps its ``gaps`` largest gaps."""
        legs = []
        for leg in self.legs:
            cpus = []
            for c in leg.result.cpus:
                d = cpu_to_json(c)
                d["gaps"] = d["gaps"][:gaps]
                cpus.append(d)
            trace = self.trace_json(leg)
            legs.append({
                "engine": leg.engine, "command": leg.result.command, "version": leg.result.version,
                "interrupted": leg.result.interrupted, "notes": list(leg.result.notes), "start_ns": leg.start_ns,
                "cpus": cpus, "counts": _counts_json(leg.counts), "trace": trace,
            })
        return {
            "schema": SCHEMA_VERSION, "kind": "hftinfra.jitter", "cpus": list(self.cpus),
            "duration_s": self.duration_s, "threshold_ns": self.threshold_ns, "engine": self.engine,
            "fifo": self.fifo, "hostname": self.hostname, "kernel": self.kernel,
            "virtualization": self.virtualization, "started_at": self.started_at, "interrupted": self.interrupted,
            "notes": list(self.notes), "ratios": {str(k): v for k, v in self.ratios().items()}, "legs": legs,
        }

    def to_text(self) -> str:
        lines = [f"jitter on CPU {format_cpulist(self.cpus)} of {self.hostname} ({self.virtualization}), "
                 f"kernel {self.kernel}, {self.duration_s:g} s per engine, gaps from {self.threshold_ns} ns"
                 + (f", SCHED_FIFO {self.fifo}" if self.fifo else "")]
        if self.recorded_from:
            lines.append(f"recorded {self.started_at}, read from {self.recorded_from}")
        for leg in self.legs:
            lines.append("")
            lines.append(f"{leg.engine}" + (f" ({leg.result.command})" if leg.result.command else "")
                         + (" — stopped early" if leg.result.interrupted else ""))
            head = ["cpu", "samples", "lost %", "p50", "p99", "p99.9", "p99.99", "max", "≥1µs", "≥10µs", "≥100µs",
                    "≥1ms"]
            rows = [head]
            for c in leg.result.cpus:
                lost = c.lost_percent
                rows.append([str(c.cpu), f"{c.samples:,}", "?" if isinstance(lost, Unread) else f"{lost:.3f}",
                             *(_ns(c.percentiles_ns.get(percentile_key(p))) for p in PERCENTILES), _ns(c.max_ns),
                             *("?" if c.at_or_above.get(b) is None else f"{c.at_or_above[b]:,}"
                               for b in (1_000, 10_000, 100_000, 1_000_000))])
            lines += _table(rows)
            for c in leg.result.cpus:
                if c.loop_ns is not None or c.resolution_ns is not None:
                    lines.append(f"  CPU {c.cpu}: one sample {c.loop_ns:,.0f} ns; finest gap it can see "
                                 f"{_ns(c.resolution_ns)}; lost time: {c.lost_basis}" if c.loop_ns is not None else
                                 f"  CPU {c.cpu}: lost time: {c.lost_basis}")
                if c.note:
                    lines.append(f"  CPU {c.cpu}: {c.note}")
            for note in leg.result.notes:
                lines.append(f"  note: {note}")
            lines += _counts_text(leg.counts)
            lines += _trace_text(leg, self.trace_json(leg))
        ratios = self.ratios()
        if ratios:
            lines.append("")
            lines.append("python over oslat (same CPU, one after the other):")
            for cpu, r in ratios.items():
                lines.append(f"  CPU {cpu}: p99.9 x{_ratio(r.get('p99.9'))}, max x{_ratio(r.get('max'))}")
                for leg in self.legs:
                    c = leg.cpu(cpu)
                    p = c.percentiles_ns.get("p99.9") if c else None
                    if c is not None and p is not None and c.resolution_ns and p <= c.resolution_ns:
                        lines.append(f"    {leg.engine}'s p99.9 is at its resolution ({_ns(c.resolution_ns)}): "
                                     "it says only \"no more than that\", so the p99.9 ratio is a bound")
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(self.to_text())}</pre>"


def _ratio(x: float | None) -> str:
    return "?" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.0f}")


def _ns(v: int | None) -> str:
    from hftinfra.measure.jitter.trace import format_ns

    return "?" if v is None else format_ns(v)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]


def _counts_json(c: CountsAttribution | Unread) -> Any:
    if isinstance(c, Unread):
        return {"unknown": c.reason.value, "source": c.source, "detail": c.detail}
    return {
        "window_s": c.window_s,
        "deltas": [[d.cpu, d.source, d.kind, d.delta, d.label] for d in c.deltas],
        "tasks": [[t.cpu, t.pid, t.tid, t.comm, t.run_ns, t.switches] for t in c.tasks],
        "steal_ns": {str(k): (v if not isinstance(v, Unread) else {"unknown": v.reason.value, "detail": v.detail})
                     for k, v in c.steal_ns.items()},
        "own_involuntary": {str(k): v for k, v in c.own_involuntary.items()},
        "unread": [str(u) for u in c.unread], "notes": list(c.notes),
    }


def _counts_from(d: Any) -> CountsAttribution | Unread:
    if not isinstance(d, dict):
        raise ValueError("counts: not an object")
    if "unknown" in d:
        return Unread(Reason(d["unknown"]), str(d.get("source", "")), str(d.get("detail", "")))
    steal: dict[int, int | Unread] = {}
    for k, v in dict(d.get("steal_ns", {})).items():
        steal[int(k)] = Unread(Reason(v["unknown"]), "/proc/stat", v.get("detail", "")) if isinstance(v, dict) else int(v)
    return CountsAttribution(
        window_s=float(d["window_s"]),
        deltas=tuple(CountDelta(int(c), str(s), str(k), int(n), str(lab)) for c, s, k, n, lab in d["deltas"]),
        tasks=tuple(TaskOnCpu(int(c), int(p), int(t), str(m), r if r is None else int(r), s if s is None else int(s))
                    for c, p, t, m, r, s in d["tasks"]),
        steal_ns=steal, own_involuntary={int(k): v for k, v in dict(d.get("own_involuntary", {})).items()},
        unread=(), notes=tuple(str(n) for n in d.get("notes", [])))


def _counts_text(c: CountsAttribution | Unread) -> list[str]:
    if isinstance(c, Unread):
        return [f"  counts: unknown ({c})"]
    lines = [f"  what ran on these CPUs over {c.window_s:.2f} s (counter deltas):"]
    cpus = sorted({d.cpu for d in c.deltas} | set(c.steal_ns))
    for cpu in cpus:
        top = c.on(cpu)[:8]
        parts = [f"{d.source}{' ' + d.label if d.kind == 'irq' and d.label else ''} {d.delta:,}" for d in top]
        steal = c.steal_ns.get(cpu)
        steal_text = "steal ?" if isinstance(steal, Unread) or steal is None else f"steal {_ns(steal)}"
        own = c.own_involuntary.get(cpu)
        lines.append(f"    CPU {cpu}: {', '.join(parts) or 'no interrupt or softirq'}; {steal_text}"
                     + ("" if own is None else f"; the loop was preempted {own} times"))
        tasks = [t for t in c.tasks if t.cpu == cpu][:6]
        if tasks:
            lines.append("      other tasks: " + ", ".join(
                f"{t.comm}[{t.tid}]" + (f" {_ns(t.run_ns)}" if t.run_ns is not None else "") for t in tasks))
    for u in c.unread:
        lines.append(f"    unknown: {u}")
    return lines


def _trace_text(leg: JitterLeg, trace: Any) -> list[str]:
    """The trace's findings for one leg (``trace`` is its JSON form)."""
    if trace is None:
        return []
    if "unknown" in trace:
        return [f"  per-gap causes: not traced ({trace.get('detail', '')})"]
    from hftinfra.measure.jitter.trace import format_ns

    lines = []
    if "gaps" in trace:  # per-gap attribution (the python engine)
        lines.append(f"  causes of the {len(trace['gaps']):,} gaps, by time taken (trace clock offset "
                     f"{trace.get('offset_basis', '?')}; resolution {trace.get('resolution_ns', '?')} ns):")
        for t in trace["totals"][:10]:
            lines.append(f"    {t['label']}: {format_ns(t['ns'])} in {t['gaps']:,} gaps")
        biggest = sorted(trace["gaps"], key=lambda g: -g["gap_ns"])[:5]
        if biggest:
            lines.append("  the largest gaps:")
        start = leg.start_ns or 0
        for g in biggest:
            parts = [f"{c['label']} {format_ns(c['ns'])}" for c in g["causes"]]
            if g.get("unexplained_ns"):
                parts.append(f"unexplained {format_ns(g['unexplained_ns'])}")
            if g.get("untraced_ns"):
                parts.append(f"untraced {format_ns(g['untraced_ns'])}")
            at = (g["end_ns"] - g["gap_ns"] - start) / 1e9
            lines.append(f"    {format_ns(g['gap_ns'])} at {at:.3f} s on CPU {g['cpu']}: {', '.join(parts) or 'nothing'}")
    else:  # a whole-run summary (oslat, cyclictest: no per-gap times)
        lines.append("  what else had these CPUs during the run (trace; the engine gives no per-gap times):")
        for c in trace.get("cpus", []):
            top = ", ".join(f"{x['label']} {format_ns(x['ns'])}" for x in c["causes"][:6])
            lines.append(f"    CPU {c['cpu']}: {format_ns(c['stolen_ns'])} taken: {top or 'nothing traced'}")
    for note in trace.get("notes", [])[:5]:
        lines.append(f"  trace note: {note}")
    return lines


# ---- checking the request -----------------------------------------------------------------

def _cpuset(host: Host, name: str) -> frozenset[int] | None:
    text = host.read(f"{CPU_DIR}/{name}")
    if isinstance(text, Unread) or not text.strip():
        return None
    try:
        return frozenset(parse_cpulist(text.strip()))
    except ValueError:
        return None


def default_cpus(host: Host) -> tuple[int, ...]:
    """The isolated CPUs when there are any, else every online CPU but the first (the
    housekeeping one), else CPU 0 on a one-CPU machine."""
    online = _cpuset(host, "online") or frozenset(os.sched_getaffinity(0))
    allowed = online & frozenset(os.sched_getaffinity(0))
    isolated = (_cpuset(host, "isolated") or frozenset()) & allowed
    if isolated:
        return tuple(sorted(isolated))
    ordered = sorted(allowed)
    return tuple(ordered[1:]) if len(ordered) > 1 else tuple(ordered)


def check_cpus(host: Host, cpus: Iterable[int], fifo: int | None = None) -> tuple[int, ...]:
    """The CPUs asked, or JitterError naming the first that cannot be measured and why."""
    cpus = tuple(sorted(set(cpus)))
    if not cpus:
        raise JitterError("no CPU to measure")
    online = _cpuset(host, "online")
    possible = _cpuset(host, "possible") or _cpuset(host, "present")
    allowed = frozenset(os.sched_getaffinity(0))
    for cpu in cpus:
        if possible is not None and cpu not in possible:
            raise JitterError(f"CPU {cpu} does not exist (this machine has CPU {format_cpulist(possible)})")
        if online is not None and cpu not in online:
            raise JitterError(f"CPU {cpu} is offline (online: {format_cpulist(online)})")
        if cpu not in allowed:
            raise JitterError(f"CPU {cpu} is outside the CPUs this process may use ({format_cpulist(allowed)}: "
                              "a cpuset or taskset limits it)")
    if fifo is not None:
        everyone = online if online is not None else allowed
        if len(everyone) < 2:
            raise JitterError("SCHED_FIFO busy loops on a one-CPU machine would leave nothing for the kernel: refused")
        if everyone <= frozenset(cpus):
            raise JitterError(f"SCHED_FIFO on every online CPU ({format_cpulist(everyone)}) would starve the "
                              "kernel's own threads: leave at least one out of --cpus")
        if not 1 <= fifo <= 99:
            raise JitterError(f"SCHED_FIFO priority must be 1-99, not {fifo}")
        if os.geteuid() != 0:
            soft, _hard = resource.getrlimit(resource.RLIMIT_RTPRIO)
            if soft != resource.RLIM_INFINITY and soft < fifo:
                raise JitterError(f"SCHED_FIFO priority {fifo} needs root or an RLIMIT_RTPRIO of at least {fifo} "
                                  f"(this one is {soft})")
    return cpus


def parse_cpus_arg(text: str) -> tuple[int, ...]:
    try:
        return tuple(sorted(parse_cpulist(text)))
    except ValueError as exc:
        raise JitterError(f"--cpus {text!r}: {exc}") from None


def pick_engine(engine: str) -> str:
    if engine not in ENGINE_CHOICES:
        raise JitterError(f"unknown engine {engine!r} (choose from {', '.join(ENGINE_CHOICES)})")
    if engine == "auto":
        return "oslat" if shutil.which("oslat") else "python"
    if engine in ("oslat", "cyclictest") and not shutil.which(engine):
        raise JitterError(f"{engine} is not installed (Debian and Ubuntu: apt-get install rt-tests)")
    return engine


# ---- running ------------------------------------------------------------------------------

def _trace_module():
    from hftinfra.measure.jitter import trace

    return trace


def _trace_unavailable(want: bool | None) -> Unread | None:
    """None when tracing can run; else why not (JitterError when it was asked for)."""
    trace = _trace_module()
    why = trace.trace_available()
    if why is not None and want:
        raise JitterError(f"--trace: {why.detail}")
    return why


def _run_engine(engine: str, cpus: tuple[int, ...], duration_s: float, threshold_ns: int, fifo: int | None,
                progress: Callable[[float], None] | None):
    """(EngineResult, measuring thread ids, start on CLOCK_MONOTONIC or None, involuntary switches)."""
    if engine == "python":
        from hftinfra.measure.jitter.busyloop import run_python

        # This process polls while the loops spin: keep it off the measured CPUs when there
        # is anywhere else to go (oslat and cyclictest place their own main thread), and give
        # it back its CPUs afterwards.
        mine = os.sched_getaffinity(0)
        elsewhere = mine - set(cpus)
        try:
            if elsewhere:
                os.sched_setaffinity(0, elsewhere)
            r = run_python(cpus, duration_s, threshold_ns, fifo=fifo, progress=progress)
        except OSError as exc:
            raise JitterError(f"the python engine could not run: {exc}") from None
        finally:
            if elsewhere:
                os.sched_setaffinity(0, mine)
        return r.result, set(r.tids.values()), r.start_ns, r.involuntary
    from hftinfra.measure.jitter import rttests

    runner = rttests.run_oslat if engine == "oslat" else rttests.run_cyclictest
    try:
        result = runner(cpus, duration_s, fifo=fifo, progress=progress)
    except ValueError as exc:
        raise JitterError(f"{engine}: {exc}") from None
    if isinstance(result, Unread):
        raise JitterError(f"{engine}: {result.detail}")
    return result, set(), None, {}


def _own_threads() -> set[int]:
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:
        return {os.getpid()}


def _leg(host: Host, engine: str, cpus: tuple[int, ...], duration_s: float, threshold_ns: int, fifo: int | None,
         trace_why: Unread | None, trace_wanted: bool, progress: Callable[[float], None] | None) -> JitterLeg:
    from hftinfra.measure.jitter.counts import counts_between, take_counts

    before = take_counts(host)
    session = None
    trace_result: Any = None
    if trace_wanted and trace_why is None:
        trace = _trace_module()
        session = trace.TraceSession(set(cpus), duration_s)
    capture = None
    if session is not None:
        failed: Exception | None = None
        result = None
        try:
            with session:
                result, tids, start_ns, involuntary = _run_engine(engine, cpus, duration_s, threshold_ns, fifo,
                                                                  progress)
                capture = session.stop()
        except (OSError, _trace_module().TraceError) as exc:
            # The trace failed, not the measurement: keep the engine's figures and say why
            # there are no per-gap causes.
            failed = exc
        if result is None:
            result, tids, start_ns, involuntary = _run_engine(engine, cpus, duration_s, threshold_ns, fifo, progress)
        if failed is not None or capture is None:
            trace_result = Unread(Reason.UNSUPPORTED, "tracefs", f"the trace session failed: {failed}")
    if capture is not None:
        trace = _trace_module()
        if engine == "python":
            gaps = [g for c in result.cpus for g in c.gaps]
            trace_result = trace.attribute_gaps(capture, gaps, tids | _own_threads())
        else:
            trace_result = trace.summarise_run(capture, set(cpus), own_tids=_own_threads() | set(result.pids),
                                               own_comms=(engine,))
    elif session is None:
        result, tids, start_ns, involuntary = _run_engine(engine, cpus, duration_s, threshold_ns, fifo, progress)
        if trace_wanted:
            trace_result = trace_why
    after = take_counts(host)
    # This process's own threads (polling, reading the counters and the trace) are the
    # measurement, not noise: left out like the engine's.
    counts = counts_between(before, after, cpus, own_tids=tids | _own_threads() | set(result.pids),
                            own_involuntary=involuntary)
    return JitterLeg(result, counts, trace_result, start_ns)


def measure_jitter(cpus: Iterable[int] | None = None, duration_s: float = DURATION_S, *,
                   threshold_ns: int = THRESHOLD_NS, engine: str = "auto", trace: bool | None = None,
                   fifo: int | None = None, compare: bool = False, host: Host | None = None,
                   progress: Callable[[str, float], None] | None = None) -> JitterRun:
    """Measure OS noise on ``cpus`` (default: :func:`default_cpus`) for ``duration_s`` per
    engine. ``trace`` None traces when it can (root, tracefs), True insists, False does not.
    ``compare`` runs the python engine and then oslat. Raises JitterError for a request that
    cannot run; Ctrl-C ends the engine early and the run says so."""
    host = host or open_host()
    if not host.is_live:
        raise JitterError("jitter measures the live host: a snapshot holds no loop to run")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise JitterError(f"duration must be more than 0 and at most {MAX_DURATION_S:g} s, not {duration_s:g}")
    if threshold_ns < 1:
        raise JitterError(f"threshold must be at least 1 ns, not {threshold_ns}")
    chosen = tuple(cpus) if cpus is not None else default_cpus(host)
    chosen = check_cpus(host, chosen, fifo)
    engines = ["python", pick_engine("oslat")] if compare else [pick_engine(engine)]
    programs = [e for e in engines if e != "python"]
    if programs and (duration_s < 1 or duration_s != int(duration_s)):
        raise JitterError(f"{' and '.join(programs)} run for whole seconds (their -D): --duration {duration_s:g} "
                          "cannot be measured as asked")
    trace_why = _trace_unavailable(trace) if trace is not False else None
    legs = []
    interrupted = False
    for name in engines:
        def step(fraction: float, name: str = name) -> None:
            if progress is not None:
                progress(name, fraction)

        leg = _leg(host, name, chosen, duration_s, threshold_ns, fifo, trace_why, trace is not False, step)
        legs.append(leg)
        if leg.result.interrupted:
            interrupted = True
            break
    from hftinfra.identity import detect_virtualization

    virt = detect_virtualization(host)
    notes = []
    if virt.detected is True:
        notes.append("measured on a virtual machine: the hypervisor's scheduling (steal time) is in every figure; "
                     "compare orders of magnitude, not values, with bare metal")
    if trace is None and trace_why is not None:
        notes.append(f"per-gap causes not traced: {trace_why.detail}")
    return JitterRun(cpus=chosen, duration_s=duration_s, threshold_ns=threshold_ns,
                     engine="compare" if compare else engine, fifo=fifo, legs=tuple(legs),
                     hostname=platform.node(), kernel=platform.release(), virtualization=str(virt),
                     started_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                     interrupted=interrupted, notes=tuple(notes))


# ---- reading a recorded run ---------------------------------------------------------------

def jitter_from_json(doc: Mapping[str, Any], source: str = "") -> JitterRun:
    """A run written by :meth:`JitterRun.to_json`; ValueError when the document is not one."""
    if not isinstance(doc, Mapping) or doc.get("kind") != "hftinfra.jitter":
        raise ValueError("not a jitter result (no \"kind\": \"hftinfra.jitter\")")
    if doc.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"jitter result schema {doc.get('schema')!r}; this version reads {SCHEMA_VERSION}")
    try:
        legs = []
        traces = []
        for leg in doc["legs"]:
            result = EngineResult(str(leg["engine"]), tuple(cpu_from_json(c) for c in leg["cpus"]),
                                  command=str(leg.get("command", "")), version=str(leg.get("version", "")),
                                  interrupted=bool(leg.get("interrupted")),
                                  notes=tuple(str(n) for n in leg.get("notes", [])))
            legs.append(JitterLeg(result, _counts_from(leg["counts"]), None, leg.get("start_ns")))
            traces.append(leg.get("trace"))
        return JitterRun(cpus=tuple(int(c) for c in doc["cpus"]), duration_s=float(doc["duration_s"]),
                         threshold_ns=int(doc["threshold_ns"]), engine=str(doc["engine"]),
                         fifo=None if doc.get("fifo") is None else int(doc["fifo"]), legs=tuple(legs),
                         hostname=str(doc["hostname"]), kernel=str(doc["kernel"]),
                         virtualization=str(doc["virtualization"]), started_at=str(doc["started_at"]),
                         interrupted=bool(doc.get("interrupted")), notes=tuple(str(n) for n in doc.get("notes", [])),
                         recorded_from=source or "a recorded result", trace_doc=tuple(traces))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"damaged jitter result: {exc}") from None


def load_jitter(path: str | os.PathLike) -> JitterRun:
    """A recorded run from a JSON file; ValueError (one line) when it is missing or damaged."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    return jitter_from_json(doc, str(path))


RECORDED = "/hftinfra/jitter.json"


def recorded_jitter(host: Host) -> JitterRun | Unread:
    """The jitter run a snapshot carries (``hftinfra jitter --json`` saved as
    ``hftinfra/jitter.json`` inside it), marked as recorded; why not when it has none."""
    if host.is_live:
        return Unread(Reason.UNSUPPORTED, RECORDED, "a live host has no recorded run: measure it")
    text = host.read(RECORDED)
    if isinstance(text, Unread):
        return Unread(text.reason, RECORDED, "this snapshot holds no recorded jitter run"
                      if text.reason is Reason.MISSING else text.detail)
    try:
        return jitter_from_json(json.loads(text), f"{RECORDED} in the snapshot")
    except ValueError as exc:
        return Unread(Reason.MALFORMED, RECORDED, str(exc).splitlines()[0])


__all__ = ["DURATION_S", "ENGINE_CHOICES", "JitterError", "JitterLeg", "JitterRun", "MAX_DURATION_S",
           "SCHEMA_VERSION", "THRESHOLD_NS", "check_cpus", "default_cpus", "jitter_from_json", "load_jitter",
           "measure_jitter", "parse_cpus_arg", "pick_engine", "recorded_jitter"]
