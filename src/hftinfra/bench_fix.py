"""``python -m hftinfra.bench_fix``: what ``hftinfra fix`` costs per form, and what apply and
rollback of every runtime setting this host can take cost. Prints figures; it is not a test
and never fails on a slow machine.

Each figure is the whole process (interpreter start, imports, the audit, the render), the
median of ``--repeat`` runs, as a user types the command. Apply and rollback run only as root
and only with ``--apply`` (they change the host for a moment; rollback restores it, and the
run checks that every value reads as before).

    python -m hftinfra.bench_fix [--host PATH] [--repeat 3] [--apply]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

FORMATS = ("script", "tuned", "sysctl", "ansible", "kickstart-post")
AREAS = ("memory", "kernel", "irq", "cpu")


def _timed(argv: list[str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    return time.perf_counter() - t0, done.returncode, lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hftinfra.bench_fix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", metavar="PATH", help="a snapshot to render from (default: the live host)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--apply", action="store_true", help="also time apply --yes + rollback (root)")
    args = parser.parse_args(argv)
    cli = [sys.executable, "-m", "hftinfra"]
    host = ["--host", args.host] if args.host else []
    print(f"hftinfra fix, whole process, median of {args.repeat} ({args.host or 'live host'}):")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in FORMATS:
            times, size = [], 0
            for i in range(args.repeat):
                out = os.path.join(tmp, f"{fmt}-{i}")
                took, rc, err = _timed([*cli, "fix", *host, "--format", fmt, "-o", out])
                if rc != 0:
                    print(f"  {fmt:<15} failed: {err}")
                    break
                times.append(took)
                size = sum(os.path.getsize(os.path.join(r, f)) for r, _d, fs in os.walk(out) for f in fs) \
                    if os.path.isdir(out) else os.path.getsize(out)
            if times:
                print(f"  {fmt:<15} {statistics.median(times) * 1000:7.0f} ms   {size / 1024:6.1f} KiB")
        if not args.apply:
            return 0
        if os.geteuid() != 0:
            print("apply + rollback: skipped (needs root)")
            return 0
        from hftinfra.apply import apply_plan, plan_apply

        n = os.cpu_count() or 1
        variables = [f"isolated_cpus={n - 1}"] if n > 1 else []
        vars_argv = sum((["--var", v] for v in variables), [])
        only = sum((["--only", a] for a in AREAS), [])
        applied, rolled = [], []
        for i in range(args.repeat):
            path = os.path.join(tmp, f"rb-{i}.json")
            took, rc, err = _timed([*cli, "apply", *vars_argv, *only, "--yes", "--rollback-file", path])
            if rc not in (0, 1):
                print(f"apply failed: {err}")
                return 1
            applied.append(took)
            took, rc, err = _timed([*cli, "rollback", path])
            if rc != 0:
                print(f"rollback failed: {err}")
                return 1
            rolled.append(took)
        plan = plan_apply("hft-isolated", variables, list(AREAS))
        result = apply_plan(plan, dry_run=True)
        todo = sum(1 for s in result.steps if s.before is not None and s.before != s.target.wanted)
        print(f"apply --yes ({len(plan.knobs)} knobs, {len(result.steps)} targets, about {todo} to change; "
              f"areas {', '.join(AREAS)}): {statistics.median(applied) * 1000:.0f} ms")
        print(f"rollback: {statistics.median(rolled) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
