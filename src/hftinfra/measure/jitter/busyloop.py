"""The python engine: a busy loop pinned to one CPU, reading ``time.perf_counter_ns()``
(``clock_gettime(CLOCK_MONOTONIC)`` on Linux, through the vDSO) as fast as it can. Each turn
of the loop is a sample; a turn that took long is time the CPU spent on something else (an
interrupt, another task, the hypervisor). The method is the one hiccups and sysjitter use, in
Python rather than C, so one turn costs tens to hundreds of nanoseconds and the engine
measures that cost before it starts and reports the shortest gap it can see.

Each CPU's loop runs in its own process (``python -m hftinfra.measure.jitter.busyloop``), so
loops on several CPUs do not share an interpreter lock, and prints one JSON record when it
ends: at the deadline, or early on SIGINT or SIGTERM with what it measured until then.

Turns shorter than the threshold go into a linear histogram whose bucket width divides
1 µs (so the 1 µs bound is a bucket edge); turns at or above the threshold are kept one by
one with the time they ended, up to :data:`MAX_GAPS`, and counted (not kept) beyond that.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from hftinfra.measure.jitter.model import (
    COUNT_BOUNDS_NS,
    PERCENTILES,
    Bucket,
    CpuJitter,
    EngineResult,
    Gap,
    Histogram,
    percentile_key,
    summarise,
)

# Bucket widths that divide 1,000 ns; the narrowest that keeps the histogram under
# MAX_LINEAR_BUCKETS below the threshold is used.
WIDTHS_NS = (10, 20, 25, 50, 100, 125, 200, 250, 500, 1000)
MAX_LINEAR_BUCKETS = 5000
MAX_GAPS = 200_000
TURNS_PER_CHECK = 1000  # the loop looks at its deadline once per this many turns
CALIBRATION_S = 0.1
# A gap has to add more than about two turns of the loop to stand out from the loop's own
# variation: the floor is this many median turns.
FLOOR_TURNS = 3


def bucket_width(threshold_ns: int) -> int:
    for w in WIDTHS_NS:
        if threshold_ns / w <= MAX_LINEAR_BUCKETS:
            return w
    return WIDTHS_NS[-1] * ((threshold_ns // (WIDTHS_NS[-1] * MAX_LINEAR_BUCKETS)) + 1)


class _Stop(Exception):
    pass


def spin(duration_ns: int, threshold_ns: int, width_ns: int) -> dict[str, Any]:
    """Spin for ``duration_ns`` on the calling thread's CPU; return the linear histogram
    below ``threshold_ns``, the gaps at or above it, and the times it started and ended. A
    KeyboardInterrupt (SIGINT) ends it early with what it has."""
    now = time.perf_counter_ns
    linear = [0] * (threshold_ns // width_ns + 1)
    gaps: list[int] = []  # end, length, end, length, ...
    more = 0
    prev = start = now()
    end = start + duration_ns
    t = start
    interrupted = False
    try:
        while t < end:
            for _ in repeat(None, TURNS_PER_CHECK):
                t = now()
                d = t - prev
                prev = t
                if d < threshold_ns:
                    linear[d // width_ns] += 1
                elif len(gaps) < 2 * MAX_GAPS:
                    gaps.append(t)
                    gaps.append(d)
                else:
                    more += 1
    except (KeyboardInterrupt, _Stop):
        interrupted = True
    return {"start_ns": start, "end_ns": prev, "linear": linear, "gaps": gaps, "gaps_not_kept": more,
            "interrupted": interrupted}


def _median_turn(linear: list[int], width_ns: int) -> float:
    total = sum(linear)
    seen = 0
    for i, n in enumerate(linear):
        seen += n
        if seen * 2 >= total:
            return (i + 0.5) * width_ns
    return float(len(linear) * width_ns)


def _switches() -> dict[str, int]:
    """This thread's voluntary and involuntary context switches (proc(5), status)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/self/task/{threading_tid()}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.endswith("ctxt_switches"):
                    out[key] = int(value)
    except (OSError, ValueError):
        pass
    return out


def threading_tid() -> int:
    return getattr(os, "gettid", os.getpid)()


def run(cpu: int, duration_s: float, threshold_ns: int, fifo: int | None = None) -> dict[str, Any]:
    """Pin to ``cpu``, calibrate, spin, and return the JSON-able record the parent reads."""
    os.sched_setaffinity(0, {cpu})
    if fifo is not None:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(fifo))
    # Calibration: the same loop, briefly, with a generous threshold, for the loop's cost.
    cal_width = bucket_width(100_000)
    cal = spin(int(CALIBRATION_S * 1e9), 100_000, cal_width)
    turn_ns = _median_turn(cal["linear"], cal_width)
    floor_ns = int(round(FLOOR_TURNS * turn_ns))
    threshold = max(threshold_ns, floor_ns)
    width = bucket_width(threshold)
    before = _switches()
    result = spin(int(duration_s * 1e9), threshold, width) if not cal["interrupted"] else \
        {**cal, "linear": [0], "gaps": [], "gaps_not_kept": 0}
    after = _switches()
    involuntary = None
    if "nonvoluntary_ctxt_switches" in before and "nonvoluntary_ctxt_switches" in after:
        involuntary = after["nonvoluntary_ctxt_switches"] - before["nonvoluntary_ctxt_switches"]
    return {
        "cpu": cpu, "pid": os.getpid(), "tid": threading_tid(), "affinity": sorted(os.sched_getaffinity(0)),
        "fifo": fifo, "threshold_asked_ns": threshold_ns, "threshold_ns": threshold, "width_ns": width,
        "turn_ns": turn_ns, "floor_ns": floor_ns, "calibration_turns": sum(cal["linear"]),
        "involuntary_switches": involuntary, **result,
    }


# ---- the parent side ---------------------------------------------------------------------

def _log_edges(lower: int, top: int) -> list[int]:
    """Bucket edges from ``lower`` up past ``top``: 1-2-5 steps per decade."""
    edges = [lower]
    step = 1
    while step * 10 <= lower:
        step *= 10
    while edges[-1] <= top:
        nxt = next((m * step for m in (1, 2, 5, 10) if m * step > edges[-1]), None)
        if nxt is None or nxt == 10 * step:
            step *= 10
            nxt = nxt or 10 * step
        edges.append(nxt)
    return edges


def record_to_cpu(record: dict[str, Any]) -> CpuJitter:
    """One child's JSON record as a :class:`CpuJitter`."""
    cpu = int(record["cpu"])
    width = int(record["width_ns"])
    threshold = int(record["threshold_ns"])
    linear: list[int] = list(record["linear"])
    raw = record["gaps"]
    gaps = [Gap(cpu, raw[i], raw[i + 1]) for i in range(0, len(raw) - 1, 2)]
    more = int(record.get("gaps_not_kept", 0))
    turn = float(record["turn_ns"])
    values = sorted(g.gap_ns for g in gaps)
    buckets = [Bucket(i * width, min((i + 1) * width, threshold), n) for i, n in enumerate(linear) if n]
    max_ns = values[-1] if values else None
    if values:
        edges = _log_edges(threshold, values[-1])
        j = 0
        for lo, up in zip(edges, edges[1:], strict=False):
            k = j
            while k < len(values) and values[k] < up:
                k += 1
            if k > j:
                buckets.append(Bucket(lo, up, k - j))
            j = k
    if more:
        buckets.append(Bucket(threshold, None, more))
    if max_ns is None:
        top = max((b for b in buckets if b.count), key=lambda b: b.lower_ns, default=None)
        max_ns = None if top is None else top.upper_ns
    hist = Histogram(tuple(buckets), max_ns)
    lin_total = sum(linear)
    total = lin_total + len(values) + more

    def exact(p: float) -> int | None:
        if total == 0:
            return None
        rank = math.ceil(total * p / 100.0)
        if rank <= lin_total:
            seen = 0
            for i, n in enumerate(linear):
                seen += n
                if seen >= rank:
                    return min((i + 1) * width, threshold)
        idx = rank - lin_total - 1
        if idx < len(values):
            return values[idx]
        return max_ns  # among the gaps counted but not kept: at most the largest seen

    above: dict[int, int] = {}
    for bound in COUNT_BOUNDS_NS:
        if bound >= threshold:
            above[bound] = sum(1 for v in values if v >= bound) + (more if bound <= threshold else 0)
        else:
            above[bound] = sum(n for i, n in enumerate(linear) if i * width >= bound) + len(values) + more
    lost = sum(max(0, v - round(turn)) for v in values) + more * max(0, threshold - round(turn))
    basis = (f"each turn at or above {threshold} ns counted minus one median turn ({turn:.0f} ns); "
             "shorter turns are not counted")
    if more:
        basis = "at least: " + basis + f"; {more} gaps past the first {MAX_GAPS} counted at the threshold"
    notes = []
    if record.get("threshold_ns") != record.get("threshold_asked_ns"):
        notes.append(f"threshold raised from {record.get('threshold_asked_ns')} ns to this loop's floor, "
                     f"{threshold} ns")
    if record.get("interrupted"):
        notes.append("stopped early: the figures cover the time measured")
    lo = next((b.lower_ns for b in buckets if b.count), None)
    return summarise(cpu, "python", (int(record["end_ns"]) - int(record["start_ns"])) / 1e9, hist, min_ns=lo,
                     lost_ns=lost, lost_basis=basis, loop_ns=turn, resolution_ns=int(record["floor_ns"]), gaps=gaps,
                     gaps_seen=len(values) + more, note="; ".join(notes), exact_above=above,
                     exact_percentiles={percentile_key(p): exact(p) for p in PERCENTILES})


@dataclass(frozen=True)
class PythonRun:
    """The python engine's result and what the caller needs to attribute its gaps."""

    result: EngineResult
    tids: dict[int, int]  # CPU -> the thread that measured it
    start_ns: int  # CLOCK_MONOTONIC when the first loop started
    involuntary: dict[int, int | None]


def run_python(cpus: Iterable[int], duration_s: float, threshold_ns: int, *, fifo: int | None = None,
               progress: Callable[[float], None] | None = None) -> PythonRun:
    """One busy-loop process per CPU, all at once; Ctrl-C stops them and keeps what they
    measured. Raises OSError with the child's words when a loop could not start (a CPU it
    may not use, SCHED_FIFO refused)."""
    cpus = sorted(set(cpus))
    argv = [sys.executable, "-m", "hftinfra.measure.jitter.busyloop", "--duration", repr(float(duration_s)),
            "--threshold-ns", str(int(threshold_ns))]
    if fifo is not None:
        argv += ["--fifo", str(int(fifo))]
    # Each loop writes its record to a file: a record (histogram and gaps) can be larger than
    # a pipe holds, and a child blocked writing to a pipe nobody reads yet never exits.
    folder = tempfile.mkdtemp(prefix="hftinfra-busyloop-")
    outs = {cpu: os.path.join(folder, f"cpu{cpu}.json") for cpu in cpus}
    try:
        return _run_children(cpus, argv, outs, duration_s, progress, fifo)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_children(cpus: list[int], argv: list[str], outs: dict[int, str], duration_s: float,
                  progress: Callable[[float], None] | None, fifo: int | None) -> PythonRun:
    children = {cpu: subprocess.Popen([*argv, "--cpu", str(cpu), "--out", outs[cpu]], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True) for cpu in cpus}
    interrupted = False
    began = time.monotonic()
    expected = duration_s + CALIBRATION_S
    try:
        while any(c.poll() is None for c in children.values()):
            if progress is not None:
                progress(min(1.0, (time.monotonic() - began) / expected))
            time.sleep(0.05 if expected < 2 else 0.25)
    except KeyboardInterrupt:
        interrupted = True
        # A terminal's Ctrl-C reaches the children too; a notebook's interrupt reaches only
        # this process. Give them a moment to stop by themselves, then ask.
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline and any(c.poll() is None for c in children.values()):
            time.sleep(0.02)
        for c in children.values():
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
    records = {}
    errors = []
    for cpu, c in children.items():
        while True:
            try:
                _, err = c.communicate()
                break
            except KeyboardInterrupt:
                interrupted = True
                c.send_signal(signal.SIGTERM)
        try:
            with open(outs[cpu], encoding="utf-8") as f:
                records[cpu] = json.load(f)
        except (OSError, ValueError):
            records[cpu] = {"error": f"no record from the loop: {(err or '').strip()[-300:] or f'exit {c.returncode}'}"}
        if "error" in records[cpu]:
            errors.append(f"CPU {cpu}: {records[cpu]['error']}")
    if errors:
        raise OSError("; ".join(errors))
    if progress is not None:
        progress(1.0)
    per_cpu = tuple(record_to_cpu(records[cpu]) for cpu in cpus)
    interrupted = interrupted or any(records[c].get("interrupted") for c in cpus)
    notes = []
    if fifo is not None:
        notes.append(f"SCHED_FIFO priority {fifo}: RT bandwidth control (sched_rt_runtime_us of sched_rt_period_us; "
                     "on 6.12 and later without RT group scheduling, the fair deadline server, and only when other "
                     "tasks wait) can take the CPU back for part of each period")
    result = EngineResult("python", per_cpu, command=" ".join(argv[:3]) + " ...", version=platform.python_version(),
                          interrupted=interrupted, notes=tuple(notes))
    return PythonRun(result, {cpu: int(records[cpu]["tid"]) for cpu in cpus},
                     min(int(records[cpu]["start_ns"]) for cpu in cpus),
                     {cpu: records[cpu].get("involuntary_switches") for cpu in cpus})


def _raise_stop(signum, frame):  # noqa: ARG001 - signal handler signature
    raise _Stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hftinfra.measure.jitter.busyloop")
    parser.add_argument("--cpu", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--threshold-ns", type=int, required=True)
    parser.add_argument("--fifo", type=int)
    parser.add_argument("--out", help="write the record to this file (default: stdout)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        record = run(args.cpu, args.duration, args.threshold_ns, args.fifo)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except KeyboardInterrupt:
        record = {"cpu": args.cpu, "error": "interrupted before the loop started"}
    except OSError as exc:
        record = {"cpu": args.cpu, "error": f"{exc.strerror or exc} (errno {exc.errno})"}
    if args.out:
        with open(args.out + ".part", "w", encoding="utf-8") as f:
            json.dump(record, f, separators=(",", ":"))
        os.replace(args.out + ".part", args.out)
    else:
        json.dump(record, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
        sys.stdout.flush()
    return 1 if "error" in record else 0


if __name__ == "__main__":
    sys.exit(main())
