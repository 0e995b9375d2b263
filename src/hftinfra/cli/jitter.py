"""``hftinfra jitter``: OS noise per CPU, measured by a busy loop (the python engine or
oslat) or timer wake-ups (cyclictest), with what caused it: counter deltas over the run for
any user, and as root the trace events inside every gap (a private tracefs instance,
removed afterwards).

Exit status: 0 measured, 2 it could not run as asked (an unknown or offline CPU, an engine
not installed, SCHED_FIFO on every CPU, --trace without root) or bad arguments, 130
interrupted (what was measured until then is printed first).
"""

from __future__ import annotations

import argparse
import json
import sys

from hftinfra.cli import UserError, positive_int, seconds_type

EPILOG = """\
engines: python (a busy loop per CPU reading perf_counter_ns; it measures its own cost first
and says how fine it can see), oslat (rt-tests: a busy loop in C), cyclictest (rt-tests: how
late a timer wakes a thread), auto (oslat when installed, else python). --compare runs the
python engine and then oslat on the same CPUs and prints their ratios.

CPUs default to the isolated ones, else every online CPU but the first. SCHED_FIFO (--fifo)
is refused on every online CPU at once and on a one-CPU machine: the kernel's own threads
need somewhere to run. Durations are at most 3600 s.

exit status: 0 measured, 2 could not run as asked or bad arguments, 130 interrupted (what was
measured is printed first).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hftinfra.measure.jitter.run import DURATION_S, ENGINE_CHOICES, MAX_DURATION_S, THRESHOLD_NS

    seconds = seconds_type(MAX_DURATION_S)

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--cpus", metavar="LIST", help="CPUs to measure, a kernel cpulist such as 1,3-5 "
                                                      "(default: the isolated CPUs, else all but the first)")
    parser.add_argument("--duration", type=seconds, default=DURATION_S, metavar="S",
                        help=f"seconds per engine (default: {DURATION_S:g})")
    parser.add_argument("--threshold-ns", type=positive_int, default=THRESHOLD_NS, metavar="N",
                        help=f"a sample this long or longer is a gap, listed with its causes (default: {THRESHOLD_NS})")
    parser.add_argument("--engine", choices=ENGINE_CHOICES, default="auto", help="which engine measures (default: auto)")
    parser.add_argument("--compare", action="store_true", help="run the python engine, then oslat, and compare")
    parser.add_argument("--trace", action=argparse.BooleanOptionalAction, default=None,
                        help="record trace events on the measured CPUs to name each gap's causes "
                             "(default: when root and tracefs allow; --trace insists, --no-trace skips)")
    parser.add_argument("--fifo", type=positive_int, metavar="PRIO", help="run the measuring threads SCHED_FIFO at PRIO")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the result to FILE instead of stdout (replaced whole, or left as it was)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from hftinfra.measure.jitter.run import JitterError, measure_jitter, parse_cpus_arg

    shown = {"engine": None, "tenth": -1}

    def progress(engine: str, fraction: float) -> None:
        tenth = int(fraction * 10)
        if shown["engine"] != engine or tenth != shown["tenth"]:
            shown.update(engine=engine, tenth=tenth)
            print(f"  {engine}: {tenth * 10}%", file=sys.stderr, flush=True)

    try:
        cpus = parse_cpus_arg(args.cpus) if args.cpus else None
        result = measure_jitter(cpus, args.duration, threshold_ns=args.threshold_ns, engine=args.engine,
                                trace=args.trace, fifo=args.fifo, compare=args.compare,
                                progress=None if args.quiet else progress)
    except JitterError as exc:
        raise UserError(str(exc)) from None
    text = json.dumps(result.to_json(), indent=1) + "\n" if args.json else result.to_text()
    if args.output:
        from hftinfra.cli.audit import _write_file

        _write_file(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if result.interrupted:
        print("hftinfra jitter: interrupted; the figures cover the time measured", file=sys.stderr)
        return 130
    return 0
