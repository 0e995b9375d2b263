"""``hftinfra lab``: run a lab for real, in network namespaces it creates and removes.

``hftinfra lab net`` runs the networking lab (:mod:`hftinfra.labs.net`): RPS, XPS and UDP
round trips with and without busy polling, between two namespaces joined by a
multi-queue veth pair. It needs root and ``ip`` (iproute2); without them it says why in
one line and exits 2. Ctrl-C stops it, after the lab has removed everything it made.

Exit status: 0 the lab ran (whatever it measured), 1 a lab step failed or its cleanup left
something behind, 2 it could not run here (not root, no ``ip``, no network namespaces, a
tool missing) or bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

from hftinfra.cli import UserError

PART_CHOICES = ("rps", "xps", "ping-pong", "all")

EPILOG = """\
labs: net (RPS, XPS, and UDP round trips without and with busy polling, between two
network namespaces joined by a 4-queue veth pair; about 3 s). Needs root and ip
(iproute2); the xps part needs tc, the ping-pong part ethtool. Everything the lab
creates (namespaces, processes, settings of its veths) is removed when it ends, also
on an error or Ctrl-C; no host setting is changed.

exit status: 0 the lab ran (whatever it measured), 1 a lab step failed or its cleanup
left something behind, 2 it could not run here (not root, no ip, no network namespaces,
a tool missing) or bad arguments, 130 interrupted.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    sub = parser.add_subparsers(dest="lab", metavar="LAB", required=True)
    net = sub.add_parser("net", help="RPS, XPS and UDP round trips (busy polling) over veth",
                         description="RPS, XPS and UDP round trips (busy polling) between two network "
                                     "namespaces joined by a multi-queue veth pair.",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    net.add_argument("--part", choices=PART_CHOICES, default="all",
                     help="which part to run (default: all)")
    net.add_argument("--count", type=_positive, default=None, metavar="N",
                     help="round trips per ping-pong condition (default: 5000)")
    net.add_argument("--json", action="store_true", help="print the result as JSON")
    net.add_argument("--samples", action="store_true",
                     help="with --json: include every round-trip time, not only their percentiles")
    net.add_argument("-o", "--output", metavar="FILE",
                     help="write the result to FILE instead of stdout (replaced whole, or left as it was)")
    net.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from hftinfra.labs import LabCleanupError, LabError, LabUnavailable
    from hftinfra.labs.net import PARTS, ROUND_TRIPS, run_net_lab

    parts = PARTS if args.part == "all" else (args.part,)

    def progress(text: str) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)

    try:
        result = run_net_lab(parts, count=args.count or ROUND_TRIPS, on_step=None if args.quiet else progress)
    except LabUnavailable as exc:
        raise UserError(str(exc)) from None
    except LabCleanupError as exc:
        print(f"hftinfra lab: error: {exc.report.summary()}", file=sys.stderr)
        return 1
    except LabError as exc:
        print(f"hftinfra lab: error: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    if args.json:
        text = json.dumps(result.to_json(samples=args.samples), indent=1) + "\n"
    else:
        text = result.to_text()
    if args.output:
        from hftinfra.cli.audit import _write_file

        _write_file(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
