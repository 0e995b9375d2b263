"""``hftinfra audit``: check this host (or a snapshot) against a tuning profile.

Exit status: 0 nothing failed, 1 something failed, 2 the audit could not run (bad host,
bad profile, bad arguments) or judged nothing (every finding unknown or skip). Run as a
normal user it still runs: what it cannot read is reported as unknown, never as a pass.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from hftinfra.cli import UserError, add_profile_arguments

FORMATS = ("text", "json", "markdown")

EPILOG = """\
profiles (include chain): latency-performance -> network-latency -> hft-isolated.
The default is hft-isolated, the strictest: it is what a box running latency-critical
threads pinned to isolated cores needs, and it says plainly when no CPUs are isolated.
Use --profile network-latency for a host that does not partition its CPUs, or
--profile ./ours.yaml for your own file (which may `include: hft-isolated`).

variables (hft-isolated): isolated_cpus (default: the host's isolated CPUs, else its
isolcpus=/nohz_full=), housekeeping_cpus (default: online CPUs minus isolated_cpus).
A CPU list may use the kernel's N (the last CPU) and all; it must name CPUs the host
has. An empty isolated_cpus fails the isolation checks: there is nothing isolated.

exit status: 0 nothing failed, 1 something failed, 2 could not run, or ran but could
judge no check (every finding unknown or skip: the report is still written, and one
line on stderr says so).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    add_profile_arguments(parser, host=True, only="audit")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the report to FILE instead of stdout (an existing FILE is replaced "
                             "whole; on any error it is left as it was)")
    parser.add_argument("--explain", metavar="CHECK_ID",
                        help="describe one check: what it reads, expected values per profile, why, fix")
    parser.add_argument("--list", action="store_true", help="list every check id with its title")


def run(args: argparse.Namespace) -> int:
    from hftinfra.profiles import DEFAULT_PROFILE, ProfileError

    try:
        if args.list:
            return _emit(args, list_checks())
        if args.explain:
            return _emit(args, explain(args.explain))
        from hftinfra.audit import run_audit

        host = args.host if args.host else (os.environ.get("HFTINFRA_HOST") or None)
        report = run_audit(host, args.profile or DEFAULT_PROFILE, variables=args.var, only=args.only)
    except ProfileError as exc:
        raise UserError(str(exc)) from None

    if args.format == "json":
        text = json.dumps(report.to_json(), indent=2) + "\n"
        _write(args, text)
    elif args.format == "markdown":
        _write(args, report.to_markdown())
    elif args.output:
        _write(args, report.to_text(color=False))
    else:
        from hftinfra.report import write_text

        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        write_text(report, sys.stdout, color=color)
    nothing = report.nothing_judged()
    if nothing:
        print(f"hftinfra audit: error: {nothing}", file=sys.stderr)
    return report.exit_code


def _write(args: argparse.Namespace, text: str) -> None:
    if not text.endswith("\n"):
        text += "\n"
    if args.output:
        _write_file(args.output, text)
    else:
        sys.stdout.write(text)


def _write_file(path: str, text: str) -> bool:
    """Replace ``path`` whole (a temp file in the same directory, then rename), so a reader
    never sees half a report and a failure leaves neither a partial report nor a temp file.

    Through a symbolic link, the file it names is replaced and the link kept. A path that is
    not a regular file (``/dev/null``, ``/dev/stdout``, a named pipe) is written into, never
    replaced: renaming over ``/dev/null`` would turn it into a file for every program on the
    machine. Returns whether ``path`` is (now) a regular file."""
    import stat
    import tempfile

    if os.path.isdir(path):
        raise UserError(f"-o {path}: is a directory (give a file name)")
    real = os.path.realpath(path)
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UserError(f"-o {path}: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        try:
            with open(real, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise UserError(f"-o {path}: {exc.strerror or exc}") from None
        return False
    parent = os.path.dirname(real)
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(real)}.", suffix=".tmp")
    except OSError as exc:
        raise UserError(f"-o {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # mkstemp makes the file 0600; a report is as readable as any file the user creates.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, real)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise UserError(f"-o {path}: {exc.strerror or exc}") from None
        raise
    return True


def _emit(args: argparse.Namespace, text: str) -> int:
    _write(args, text)
    return 0


def list_checks() -> str:
    from hftinfra.checks import catalog

    return "\n".join(f"{c.id:<26} {c.title}" for c in catalog().values()) + "\n"


def explain(check_id: str) -> str:
    import difflib

    from hftinfra.checks import catalog
    from hftinfra.profiles import load_profile, shipped_profiles

    checks = catalog()
    if check_id not in checks:
        close = difflib.get_close_matches(check_id, list(checks), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UserError(f"--explain {check_id}: no such check{hint} (`hftinfra audit --list` lists them)")
    c = checks[check_id]
    lines = [f"{c.id}: {c.title}", f"area: {c.area}", "", c.summary, "", "reads:"]
    lines += [f"  {r}" for r in c.reads]
    kinds = ", ".join(f"{k} ({v})" for k, v in c.fields.items()) if c.fields else c.kind
    lines += ["", f"values: {kinds}" + (f"; {c.normalises}" if c.normalises else ""), "", "expected, per profile:"]
    profiles = sorted((load_profile(n) for n in shipped_profiles()), key=lambda p: (len(p.chain), p.name))
    for profile in profiles:
        name = profile.name
        rule = profile.rules.get(c.id)
        if rule is None:
            lines.append(f"  {name}: not checked")
            continue
        expect = rule.expect if not isinstance(rule.expect, dict) else \
            ", ".join(f"{k}={v}" for k, v in rule.expect.items())
        sev = " (mismatch warns)" if rule.severity == "warn" else ""
        lines.append(f"  {name}: {expect}{sev}")
        lines.append(f"      why: {rule.reason}")
        if rule.warn is not None:
            lines.append(f"      allowed but risky: {rule.warn} ({rule.warn_reason})")
        lines += [f"      source: {s}" for s in rule.sources]
    lines += ["", f"docs: {c.docs}"]
    return "\n".join(lines) + "\n"
