"""What a jitter measurement returns, whatever engine took it.

Every engine reports, per CPU, how long each *sample* took: for a busy loop (the python
engine, oslat) a sample is one turn of the loop, and a long one is time the loop lost to
something else on its CPU; for cyclictest a sample is one timer wake-up, and its value is
how late the thread woke. The numbers are kept as a histogram plus, where the engine gives
them, the largest gaps with the time they ended.

Percentiles come from the histogram and are upper bounds: a sample in the bucket
``[lower, upper)`` is counted at ``upper`` (never above the maximum seen). With oslat's and
cyclictest's 1 µs buckets, "p50 1000 ns" means "half the samples took under 1 µs".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hftinfra.host import Reason, Unread

# The counts a report gives per CPU: samples at or above each bound.
COUNT_BOUNDS_NS = (1_000, 10_000, 100_000, 1_000_000)
PERCENTILES = (50.0, 99.0, 99.9, 99.99)
ENGINES = ("python", "oslat", "cyclictest")


def percentile_key(p: float) -> str:
    """``50.0`` -> ``"p50"``, ``99.99`` -> ``"p99.99"``."""
    return "p" + (f"{p:g}")


@dataclass(frozen=True)
class Bucket:
    """Samples whose value was in ``[lower_ns, upper_ns)``; ``upper_ns`` None for an
    overflow bucket that holds everything from ``lower_ns`` up to the maximum."""

    lower_ns: int
    upper_ns: int | None
    count: int


@dataclass(frozen=True)
class Histogram:
    buckets: tuple[Bucket, ...]
    max_ns: int | None = None  # the largest sample, when the engine reports it

    @property
    def total(self) -> int:
        return sum(b.count for b in self.buckets)

    def percentile(self, p: float) -> int | None:
        """The upper bound of the p-th percentile (see the module docstring), None when the
        histogram is empty or the bound is open (an overflow bucket and no maximum)."""
        total = self.total
        if total == 0:
            return None
        rank = math.ceil(total * p / 100.0)
        seen = 0
        for b in self.buckets:
            seen += b.count
            if b.count and seen >= rank:
                if b.upper_ns is None:
                    return self.max_ns
                return b.upper_ns if self.max_ns is None else min(b.upper_ns, max(self.max_ns, b.lower_ns))
        return self.max_ns

    def ccdf(self) -> tuple[tuple[int, float], ...]:
        """``(x_ns, fraction of samples at or above x_ns)`` at each non-empty bucket's lower
        edge (exact there), and at the maximum."""
        total = self.total
        if total == 0:
            return ()
        out = []
        left = total
        for b in self.buckets:
            if b.count:
                out.append((b.lower_ns, left / total))
                left -= b.count
        if self.max_ns is not None and self.max_ns > out[-1][0]:
            out.append((self.max_ns, 1 / total))
        return tuple(out)

    def at_or_above(self, bound_ns: int) -> int | None:
        """Samples at or above ``bound_ns``; None when a bucket straddles the bound (the
        histogram cannot tell)."""
        n = 0
        for b in self.buckets:
            if b.lower_ns >= bound_ns:
                n += b.count
            elif b.count and (b.upper_ns is None or b.upper_ns > bound_ns):
                if self.max_ns is not None and self.max_ns < bound_ns:
                    continue
                return None
        return n


@dataclass(frozen=True)
class Gap:
    """One long sample: it ended at ``end_ns`` on the engine's clock (CLOCK_MONOTONIC for
    the python engine) and lasted ``gap_ns``."""

    cpu: int
    end_ns: int
    gap_ns: int

    @property
    def start_ns(self) -> int:
        return self.end_ns - self.gap_ns


@dataclass(frozen=True)
class CpuJitter:
    """One engine's result on one CPU."""

    cpu: int
    engine: str
    duration_s: float
    samples: int
    histogram: Histogram
    percentiles_ns: Mapping[str, int | None]  # "p50" ... "p99.99", upper bounds
    max_ns: int | None
    min_ns: int | None
    at_or_above: Mapping[int, int | None]  # COUNT_BOUNDS_NS -> samples, None when unknown
    lost_ns: int | Unread  # time lost to long samples (see lost_basis)
    lost_basis: str  # how lost_ns was counted: "exact" or "at least" and from what
    loop_ns: float | None  # one turn of the loop (busy loops) or the wake-up interval
    resolution_ns: int | None  # the shortest gap this engine can tell from its own cost
    gaps: tuple[Gap, ...] = ()  # the largest gaps with their times, when the engine records them
    gaps_seen: int | None = None  # samples at or above the threshold (gaps holds the largest)
    note: str = ""

    @property
    def lost_percent(self) -> float | Unread:
        if isinstance(self.lost_ns, Unread):
            return self.lost_ns
        if self.duration_s <= 0:
            return Unread(Reason.MALFORMED, f"CPU {self.cpu}", "no duration")
        return 100.0 * self.lost_ns / (self.duration_s * 1e9)


def summarise(cpu: int, engine: str, duration_s: float, histogram: Histogram, *, min_ns: int | None,
              lost_ns: int | Unread, lost_basis: str, loop_ns: float | None, resolution_ns: int | None,
              gaps: Iterable[Gap] = (), gaps_seen: int | None = None, note: str = "",
              exact_above: Mapping[int, int] | None = None,
              exact_percentiles: Mapping[str, int | None] | None = None) -> CpuJitter:
    """A CpuJitter from a histogram; an engine that knows some figures exactly (its own
    counts above a bound, its own percentiles) passes them to win over the histogram's."""
    pct = {percentile_key(p): histogram.percentile(p) for p in PERCENTILES}
    if exact_percentiles:
        pct.update(exact_percentiles)
    above = {b: histogram.at_or_above(b) for b in COUNT_BOUNDS_NS}
    if exact_above:
        above.update(exact_above)
    return CpuJitter(cpu=cpu, engine=engine, duration_s=duration_s, samples=histogram.total, histogram=histogram,
                     percentiles_ns=pct, max_ns=histogram.max_ns, min_ns=min_ns, at_or_above=above, lost_ns=lost_ns,
                     lost_basis=lost_basis, loop_ns=loop_ns, resolution_ns=resolution_ns,
                     gaps=tuple(sorted(gaps, key=lambda g: -g.gap_ns)), gaps_seen=gaps_seen, note=note)


# ---- JSON -----------------------------------------------------------------------------

def _unread_json(u: Unread) -> dict[str, str]:
    return {"unknown": u.reason.value, "source": u.source, "detail": u.detail}


def _unread_from(d: Any) -> Unread | None:
    if isinstance(d, dict) and "unknown" in d:
        return Unread(Reason(d["unknown"]), str(d.get("source", "")), str(d.get("detail", "")))
    return None


def cpu_to_json(c: CpuJitter) -> dict[str, Any]:
    return {
        "cpu": c.cpu, "engine": c.engine, "duration_s": c.duration_s, "samples": c.samples,
        "percentiles_ns": dict(c.percentiles_ns), "max_ns": c.max_ns, "min_ns": c.min_ns,
        "at_or_above": {str(k): v for k, v in c.at_or_above.items()},
        "lost_ns": _unread_json(c.lost_ns) if isinstance(c.lost_ns, Unread) else c.lost_ns,
        "lost_percent": None if isinstance(c.lost_percent, Unread) else c.lost_percent,
        "lost_basis": c.lost_basis, "loop_ns": c.loop_ns, "resolution_ns": c.resolution_ns,
        "histogram": {"max_ns": c.histogram.max_ns,
                      "buckets": [[b.lower_ns, b.upper_ns, b.count] for b in c.histogram.buckets if b.count]},
        "gaps": [[g.end_ns, g.gap_ns] for g in c.gaps], "gaps_seen": c.gaps_seen, "note": c.note,
    }


def cpu_from_json(d: Mapping[str, Any]) -> CpuJitter:
    """The inverse of :func:`cpu_to_json`; raises ValueError on a record that does not fit."""
    try:
        h = d["histogram"]
        hist = Histogram(tuple(Bucket(int(lo), None if up is None else int(up), int(n)) for lo, up, n in h["buckets"]),
                         None if h.get("max_ns") is None else int(h["max_ns"]))
        lost = _unread_from(d["lost_ns"]) or int(d["lost_ns"])
        cpu = int(d["cpu"])
        return CpuJitter(
            cpu=cpu, engine=str(d["engine"]), duration_s=float(d["duration_s"]), samples=int(d["samples"]),
            histogram=hist, percentiles_ns={str(k): (None if v is None else int(v)) for k, v in
                                            dict(d["percentiles_ns"]).items()},
            max_ns=None if d.get("max_ns") is None else int(d["max_ns"]),
            min_ns=None if d.get("min_ns") is None else int(d["min_ns"]),
            at_or_above={int(k): (None if v is None else int(v)) for k, v in dict(d["at_or_above"]).items()},
            lost_ns=lost, lost_basis=str(d.get("lost_basis", "")),
            loop_ns=None if d.get("loop_ns") is None else float(d["loop_ns"]),
            resolution_ns=None if d.get("resolution_ns") is None else int(d["resolution_ns"]),
            gaps=tuple(Gap(cpu, int(e), int(g)) for e, g in d.get("gaps", [])),
            gaps_seen=None if d.get("gaps_seen") is None else int(d["gaps_seen"]), note=str(d.get("note", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a jitter record: {exc}") from None


@dataclass(frozen=True)
class EngineResult:
    """What one engine run returns: a record per CPU and what the engine itself said."""

    engine: str
    cpus: tuple[CpuJitter, ...]
    command: str = ""  # the command line, for the engines that are programs
    version: str = ""
    interrupted: bool = False  # stopped early (Ctrl-C): the figures cover the time measured
    notes: tuple[str, ...] = field(default_factory=tuple)
    pids: tuple[int, ...] = ()  # the engine's processes (their forks before exec included)


# ---- attribution by counts --------------------------------------------------------------

@dataclass(frozen=True)
class CountDelta:
    """How often one source fired on one measured CPU over the run."""

    cpu: int
    source: str  # "LOC", "RES", "TIMER", an IRQ number as text ("11")
    kind: str  # "irq" (numbered), "arch" (named row of /proc/interrupts), "softirq"
    delta: int
    label: str = ""  # the IRQ's actions ("virtio0-input.0") or the row's description


@dataclass(frozen=True)
class TaskOnCpu:
    """A task other than the measuring one that ran on a measured CPU during the run (its
    last CPU in /proc/PID/task/TID/stat, and its run time or switch counts moved)."""

    cpu: int
    pid: int
    tid: int
    comm: str
    run_ns: int | None  # schedstat run time over the run, None where schedstat is absent
    switches: int | None  # voluntary + involuntary context switches over the run


@dataclass(frozen=True)
class CountsAttribution:
    """What happened on the measured CPUs over the run, by counter deltas (any user)."""

    window_s: float
    deltas: tuple[CountDelta, ...]
    tasks: tuple[TaskOnCpu, ...]
    steal_ns: Mapping[int, int | Unread]  # /proc/stat steal per CPU: time the hypervisor ran something else
    own_involuntary: Mapping[int, int | None]  # the measuring task's involuntary switches per CPU
    unread: tuple[Unread, ...] = ()  # the counter files that could not be read
    notes: tuple[str, ...] = ()

    def on(self, cpu: int) -> tuple[CountDelta, ...]:
        return tuple(sorted((d for d in self.deltas if d.cpu == cpu and d.delta), key=lambda d: -d.delta))


__all__ = ["Bucket", "COUNT_BOUNDS_NS", "CountDelta", "CountsAttribution", "CpuJitter", "ENGINES", "EngineResult", "Gap", "Histogram", "PERCENTILES",
           "cpu_from_json", "cpu_to_json", "percentile_key", "summarise", "TaskOnCpu"]
