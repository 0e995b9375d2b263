"""``hftinfra diff A B``: two hosts side by side, only what differs.

A and B are snapshot directories or archives, or ``live`` for this machine. Exit status:
0 nothing differs, 1 something differs, 2 it could not run (a bad snapshot or profile).
"""

from __future__ import annotations

import argparse
import json
import sys

from hftinfra.cli import UserError, add_profile_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="a snapshot (directory or .tar.gz), or 'live'")
    parser.add_argument("b", metavar="B", help="a snapshot (directory or .tar.gz), or 'live'")
    add_profile_arguments(parser, subject="both hosts")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--volatile", action="store_true",
                        help="also compare counters and clocks (interrupt counts, idle time, offsets, ...)")


def run(args: argparse.Namespace) -> int:
    from hftinfra.compare import diff_hosts
    from hftinfra.profiles import DEFAULT_PROFILE, ProfileError

    def spec(s: str):
        return None if s == "live" else s

    try:
        result = diff_hosts(spec(args.a), spec(args.b), args.profile or DEFAULT_PROFILE, args.var, args.volatile)
    except ProfileError as exc:
        raise UserError(str(exc)) from None
    if args.format == "json":
        json.dump(result.to_json(), sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(result.to_text())
    return 0 if result.same else 1
