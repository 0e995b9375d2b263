"""``hftinfra fleet PATH...``: many hosts' snapshots audited together, read as a few groups.

Exit status: 0 every host passes, 1 some host fails or could not be audited, 2 it could not
run (no snapshot under a PATH, an unknown profile or variable, an unreadable --since report).
"""

from __future__ import annotations

import argparse
import json
import sys

from hftinfra.cli import UserError, add_profile_arguments, positive_int

FORMATS = ("text", "json", "markdown", "html")

EPILOG = """\
PATH is a snapshot (a directory or a .tar.gz, from hftinfra snapshot) or a folder of them,
such as the fleet/ folder scripts/ansible/fleet-snapshot.yml fills; its HOST.failed.json
records (hosts it could not collect) appear as hosts that could not be audited. A snapshot
that cannot be opened is a row with its error; the others are still audited.

Hosts are grouped by the exact set of checks they fail, warn on or cannot read. For each
check: how many hosts pass, fail, warn, skip or are unknown, which hosts differ from the
majority (drift), and where it stands for the next boot. --since an earlier
`hftinfra fleet --format json` report adds what drifted, what was fixed, and which hosts
are new or gone; hosts are matched by their snapshot's name in the folder.

exit status: 0 every host passes, 1 some host fails or could not be audited, 2 could not run.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("paths", metavar="PATH", nargs="+",
                        help="a snapshot (directory or .tar.gz), or a folder of snapshots")
    add_profile_arguments(parser, subject="every host")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the report to FILE instead of stdout (replaced whole; left as it was on error)")
    parser.add_argument("--jobs", "-j", metavar="N", type=positive_int, default=None,
                        help="audit N snapshots at a time, one process each (default: the CPUs available)")
    parser.add_argument("--since", metavar="PREVIOUS.json",
                        help="compare with an earlier fleet report (--format json): drifted, fixed, new, gone")


def run(args: argparse.Namespace) -> int:
    from hftinfra.cli.audit import _write
    from hftinfra.fleet import FleetInputError, FleetReportError, audit_fleet
    from hftinfra.profiles import DEFAULT_PROFILE, ProfileError

    try:
        report = audit_fleet(args.paths, args.profile or DEFAULT_PROFILE, args.var, jobs=args.jobs,
                             since=args.since)
    except (ProfileError, FleetInputError, FleetReportError) as exc:
        raise UserError(str(exc)) from None
    if args.format == "json":
        text = json.dumps(report.to_json(), indent=1) + "\n"
    elif args.format == "markdown":
        text = report.to_markdown()
    elif args.format == "html":
        text = ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Fleet audit</title></head><body>"
                + report.to_html(limit=1_000_000) + "</body></html>\n")
    else:
        text = report.to_text()
    _write(args, text)
    if not report.audited:
        print("hftinfra fleet: error: no host could be audited", file=sys.stderr)
    return report.exit_code
