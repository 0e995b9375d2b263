"""Benchmark: whole-process ``hftinfra fleet DIR --format json`` over synthetic fleets of 10,
100 and 1,000 snapshot archives (:mod:`hftinfra.fleet.synth`, from the tuned fixture host,
with its documented drift). Prints figures; it does not judge them (a slow CI VM is not a bug).

    python -m hftinfra.bench_fleet [--sizes 10,100,1000] [--jobs N] [--keep DIR]

For each size: wall time, wall and CPU time per snapshot, the peak memory of the whole
process tree (the command and its workers, sampled every 20 ms from /proc) and of its
largest single process, and how the wall time grows from one size to the next. The goal
from the fleet issue: under 60 s for 1,000 snapshots on a 2-core machine. Generating the
fleets is timed apart and is not part of the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

GOAL_1000_S = 60.0


def _base() -> Path:
    return Path(__file__).resolve().parents[2] / "tests" / "hosts" / "tuned-2s"


def _tree_rss_kb(pid: int) -> tuple[int, int]:
    """VmRSS of a process and all its descendants, and the largest VmHWM (peak) among them,
    in KiB (a process that just exited counts 0)."""
    total, largest, todo = 0, 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        largest = max(largest, int(line.split()[1]))
                    elif line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return total, largest


def run_fleet(folder: Path, jobs: int | None) -> dict:
    """One ``hftinfra fleet`` run, as a new process: wall and CPU seconds, memory peaks."""
    cmd = [sys.executable, "-m", "hftinfra", "fleet", str(folder), "--format", "json", "-o", os.devnull]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0, 0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            tree, largest = _tree_rss_kb(proc.pid)
            peak[0], peak[1] = max(peak[0], tree), max(peak[1], largest)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_tree_mib": peak[0] / 1024, "peak_process_mib": peak[1] / 1024}


def bench_fleet(sizes: tuple[int, ...] = (10, 100, 1000), jobs: int | None = None,
                keep: Path | None = None) -> list[dict]:
    from hftinfra.fleet.run import default_jobs
    from hftinfra.fleet.synth import make_fleet

    rows = []
    with tempfile.TemporaryDirectory(prefix="hftinfra-bench-fleet-") as tmp:
        root = keep or Path(tmp)
        for n in sizes:
            folder = root / f"fleet-{n}"
            t0 = time.perf_counter()
            if not (folder / "manifest.json").exists():
                make_fleet(folder, count=n, base=str(_base()), seed=0)
            made = time.perf_counter() - t0
            size = sum(p.stat().st_size for p in folder.glob("*.tar.gz"))
            figures = run_fleet(folder, jobs)
            rows.append({"snapshots": n, "generate_s": made, "archive_bytes": size / max(n, 1),
                         "jobs": jobs or default_jobs(), **figures})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hftinfra.bench_fleet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000", help="fleet sizes, comma-separated (default: 10,100,1000)")
    parser.add_argument("--jobs", type=int, default=None, help="hftinfra fleet --jobs (default: the CPUs available)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="generate the fleets here and keep them (reused when present)")
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    except ValueError:
        parser.error(f"--sizes: whole numbers separated by commas, not {args.sizes!r}")
    if not sizes or min(sizes) < 1:
        parser.error(f"--sizes: each fleet needs at least 1 snapshot, not {args.sizes!r}")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs: at least 1, not {args.jobs}")
    print(f"hftinfra fleet over synthetic fleets from {_base().name}; {os.cpu_count()} CPUs here")
    rows = bench_fleet(sizes, args.jobs, args.keep)
    print(f"{'snapshots':>9} {'jobs':>4} {'wall s':>8} {'ms/snap':>8} {'cpu ms/snap':>11} {'peak tree':>10} "
          f"{'largest proc':>12} {'KiB/archive':>11} {'growth':>7} {'generate s':>10}")
    prev = None
    for r in rows:
        growth = f"x{r['wall_s'] / prev['wall_s']:.1f}" if prev else "-"
        print(f"{r['snapshots']:>9} {r['jobs']:>4} {r['wall_s']:>8.2f} {1000 * r['wall_s'] / r['snapshots']:>8.1f} "
              f"{1000 * r['cpu_s'] / r['snapshots']:>11.1f} {r['peak_tree_mib']:>8.0f} M "
              f"{r['peak_process_mib']:>10.0f} M {r['archive_bytes'] / 1024:>11.0f} {growth:>7} "
              f"{r['generate_s']:>10.1f}")
        prev = r
    big = [r for r in rows if r["snapshots"] == 1000]
    if big:
        verdict = "within" if big[0]["wall_s"] < GOAL_1000_S else "over"
        print(f"1,000 snapshots: {big[0]['wall_s']:.1f} s, {verdict} the {GOAL_1000_S:.0f} s goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
