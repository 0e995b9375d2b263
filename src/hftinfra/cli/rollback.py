"""``hftinfra rollback FILE``: restore the values ``hftinfra apply`` recorded, and check each.

Nothing is written when the file is damaged, from another host or another boot, or when a
setting changed since apply (someone else touched it) unless ``--force``. Exit status: 0
every value restored and read back, 1 some write was refused, 2 it could not run.
"""

from __future__ import annotations

import argparse
import sys

from hftinfra.cli import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a rollback file written by hftinfra apply --yes")
    parser.add_argument("--force", action="store_true",
                        help="also restore settings that changed since apply (someone else's change is lost)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be restored; change nothing")


def run(args: argparse.Namespace) -> int:
    from hftinfra.apply import ApplyError, rollback

    try:
        result = rollback(args.file, force=args.force, dry_run=args.dry_run)
    except ApplyError as exc:
        raise UserError(str(exc)) from None
    out = [f"hftinfra rollback{' (dry run)' if result.dry_run else ''}: {result.path}"]
    verbs = {"restore": "would restore" if result.dry_run else "restored", "unchanged": "unchanged",
             "conflict": "forced" if not result.dry_run else "would force", "unreadable": "UNKNOWN"}
    for i in result.items:
        verb = "FAILED" if i.error and i.action != "unreadable" else verbs[i.action]
        detail = f"{i.current} -> {i.previous}" if i.action in ("restore", "conflict") else (i.current or "")
        if i.error:
            detail = f"{detail}: {i.error}" if detail else i.error
        out.append(f"  {verb:<13} {i.knob}: {i.target.where}  {detail}")
    done = sum(1 for i in result.items if i.action in ("restore", "conflict") and not i.error)
    out.append(f"{done} value(s) {'to restore' if result.dry_run else 'restored'}, {len(result.failed)} failed, "
               f"in {result.elapsed_s:.2f} s.")
    sys.stdout.write("\n".join(out) + "\n")
    return result.exit_code
