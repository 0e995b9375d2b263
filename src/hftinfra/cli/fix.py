"""``hftinfra fix``: an audit's fixes as a file a team reviews and applies: a shell script,
a tuned profile, a sysctl.d file, an Ansible playbook, or a Kickstart ``%post`` section.

Exit status: 0 the form was written (a form with nothing to fix says so in its header),
2 it could not be (bad host, profile, variable, format, or output path).
"""

from __future__ import annotations

import argparse
import os
import sys

from hftinfra.cli import UserError, add_profile_arguments

EPILOG = """\
formats:
  script           the audit's fix commands, one block per failing check (fix.sh)
  tuned            a tuned profile directory: tuned.conf with include= of the closest stock
                   profile and [bootloader], [sysctl], [cpu], [scheduler], [sysfs], [vm], ...
                   (-o DIR writes DIR/tuned.conf; install as /etc/tuned/NAME/)
  sysctl           a sysctl.d(5) file (install as /etc/sysctl.d/90-hftinfra.conf)
  ansible          a playbook: ansible.posix.sysctl, grubby for kernel arguments, the tuned
                   profile; a reboot-required fact; idempotent
  kickstart-post   the bootloader --append line and the %post section hftinfra provision
                   writes into a new host's Kickstart

Every form names, per setting, the check it fixes, the profile's reason and its sources.
Without -o the form goes to stdout. Reading the host changes nothing.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hftinfra.fixes import FORMATS, SCOPES

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    add_profile_arguments(parser, host=True, only="fix")
    parser.add_argument("--format", choices=FORMATS, default="script", help="the form (default: script)")
    parser.add_argument("--scope", choices=SCOPES, default="failing",
                        help="failing: checks that fail or warn (default); all: every judged check, so the "
                             "form also keeps what already holds")
    parser.add_argument("--name", metavar="NAME", help="the tuned profile's name (default: hftinfra-PROFILE)")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="write to PATH (a directory for --format tuned) instead of stdout; an existing "
                             "file is replaced whole, and left as it was on any error")


def run(args: argparse.Namespace) -> int:
    from hftinfra.audit import run_audit
    from hftinfra.fixes import FixError, fix_plan, render, render_tuned
    from hftinfra.profiles import DEFAULT_PROFILE, ProfileError

    if args.name is not None and args.format != "tuned":
        raise UserError("--name names a tuned profile: it goes with --format tuned")
    if args.name is not None and not _safe_name(args.name):
        raise UserError(f"--name {args.name}: tuned takes letters, digits, '.', '_' and '-' only")
    host = args.host if args.host else (os.environ.get("HFTINFRA_HOST") or None)
    try:
        report = run_audit(host, args.profile or DEFAULT_PROFILE, variables=args.var, only=args.only)
        fp = fix_plan(report, scope=args.scope)
        out = render_tuned(fp, name=args.name) if args.format == "tuned" else render(fp, args.format)
    except (ProfileError, FixError) as exc:
        raise UserError(str(exc)) from None
    if not args.output:
        sys.stdout.write(out.text)
        return 0
    from hftinfra.cli.audit import _write_file

    if out.is_directory:
        if os.path.exists(args.output) and not os.path.isdir(args.output):
            raise UserError(f"-o {args.output}: exists and is not a directory (a tuned profile is a directory)")
        try:
            os.makedirs(args.output, exist_ok=True)
        except OSError as exc:
            raise UserError(f"-o {args.output}: {exc.strerror or exc}") from None
        for name, text in out.files.items():
            _write_file(os.path.join(args.output, name), text)
        where = os.path.join(args.output, *out.files)
    else:
        (text,) = out.files.values()
        regular = _write_file(args.output, text)
        if args.format == "script" and regular:
            os.chmod(args.output, os.stat(args.output).st_mode | 0o111 & ~_umask())
        where = args.output
    print(f"hftinfra fix: wrote {where} ({len(fp.findings)} checks, {len(fp.plan.settings)} settings)",
          file=sys.stderr)
    return 0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _safe_name(name: str) -> bool:
    import re

    # tuned/profiles/loader.py accepts profile names of these characters only.
    return re.fullmatch(r"[A-Za-z0-9_.-]+", name) is not None
