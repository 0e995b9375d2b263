"""``python -m hftinfra.bench_jitter``: how fine the jitter engines see, and what attribution
costs. Prints figures; it is not a test and never fails on a slow machine.

Figures, on one CPU (default: the last one this process may use):
- the python engine's loop cost (median turn) and the shortest gap it can see, without and
  with a trace session recording on the CPU (the trace's cost shows as a slower turn);
- how long one counts reading takes (it is taken before and after the run, not during);
- how long stopping the trace and attributing its gaps takes;
- oslat's loop cost (run time over samples) when oslat is installed;
- ``--compare``'s ratios, python over oslat, for p99.9 and max.

    python -m hftinfra.bench_jitter [--cpu N] [--duration S] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def _turns(cpu: int, duration_s: float, runs: int, traced: bool) -> list[tuple[float, int]]:
    from hftinfra.measure.jitter.busyloop import run_python
    from hftinfra.measure.jitter.trace import TraceSession

    out = []
    for _ in range(runs):
        if traced:
            with TraceSession({cpu}, duration_s) as session:
                r = run_python([cpu], duration_s, 5000)
                session.stop()
        else:
            r = run_python([cpu], duration_s, 5000)
        c = r.result.cpus[0]
        out.append((c.loop_ns or 0.0, c.resolution_ns or 0))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hftinfra.bench_jitter", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)))
    parser.add_argument("--duration", type=float, default=5.0, help="seconds for the compare run (default 5)")
    parser.add_argument("--runs", type=int, default=3, help="short loop runs per condition (default 3)")
    args = parser.parse_args(argv)

    from hftinfra.host import open_host
    from hftinfra.measure.jitter.counts import take_counts
    from hftinfra.measure.jitter.run import measure_jitter
    from hftinfra.measure.jitter.trace import trace_available

    cpu = args.cpu
    print(f"CPU {cpu}, {args.runs} runs of 1 s per condition")
    plain = _turns(cpu, 1.0, args.runs, traced=False)
    print(f"python engine, untraced: turn {statistics.median(t for t, _ in plain):.0f} ns "
          f"(runs {', '.join(f'{t:.0f}' for t, _ in plain)}), finest gap {statistics.median(f for _, f in plain):.0f} ns")
    why = trace_available()
    if why is None:
        traced = _turns(cpu, 1.0, args.runs, traced=True)
        print(f"python engine, traced:   turn {statistics.median(t for t, _ in traced):.0f} ns "
              f"(runs {', '.join(f'{t:.0f}' for t, _ in traced)}), finest gap "
              f"{statistics.median(f for _, f in traced):.0f} ns")
    else:
        print(f"python engine, traced:   not measured ({why.detail})")

    host = open_host()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        take_counts(host)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"one counts reading (/proc/interrupts, softirqs, stat, every task): {statistics.median(times):.1f} ms "
          f"(min {min(times):.1f}, max {max(times):.1f})")

    if why is None:
        t0 = time.perf_counter()
        run = measure_jitter([cpu], 1.0, engine="python", trace=True)
        whole = time.perf_counter() - t0
        gaps = run.legs[0].trace.gaps if run.legs[0].trace is not None else ()
        print(f"a traced 1 s python run end to end: {whole:.2f} s ({len(gaps):,} gaps attributed)")

    from shutil import which

    if which("oslat"):
        t0 = time.perf_counter()
        run = measure_jitter([cpu], args.duration, compare=True, trace=False)
        whole = time.perf_counter() - t0
        py, osl = run.leg("python"), run.leg("oslat")
        a, b = py.cpu(cpu), osl.cpu(cpu)
        print(f"compare, {args.duration:g} s each on CPU {cpu} ({whole:.1f} s in all):")
        for name, c in (("python", a), ("oslat", b)):
            print(f"  {name:6s}: one sample {c.loop_ns:.1f} ns, {c.samples:,} samples, p99.9 "
                  f"{c.percentiles_ns.get('p99.9')} ns, max {c.max_ns} ns")
        r = run.ratios().get(cpu, {})
        def fmt(x: float | None) -> str:
            return "?" if x is None else f"{x:.2f}"

        print(f"  python / oslat: p99.9 x{fmt(r.get('p99.9'))}, max x{fmt(r.get('max'))}")
    else:
        print("oslat: not installed (rt-tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
