"""``hftinfra``: thin over the layers, one module per verb (``hftinfra.cli.audit`` for
``hftinfra audit``). Heavy libraries (plotly, pandas, ipywidgets) are never imported on
this path; each subcommand imports its module only when it runs."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, help). Each module has ``add_arguments(parser)`` and ``run(args) -> int``.
SUBCOMMANDS = {
    "snapshot": ("hftinfra.cli.snapshot", "capture what the probes read into a snapshot"),
    "audit": ("hftinfra.cli.audit", "check this host (or a snapshot) against a tuning profile"),
    "fix": ("hftinfra.cli.fix", "an audit's fixes as a script, tuned profile, sysctl.d file, Ansible playbook or "
                                "Kickstart %%post"),
    "apply": ("hftinfra.cli.apply", "apply a profile's runtime settings to this host (dry run unless --yes; "
                                    "writes a rollback file)"),
    "rollback": ("hftinfra.cli.rollback", "restore what hftinfra apply changed, from its rollback file"),
    "diff": ("hftinfra.cli.diff", "two hosts (live, snapshots) side by side: the findings and probe records that "
                                  "differ"),
    "fleet": ("hftinfra.cli.fleet", "audit many hosts' snapshots at once: groups by failures, drift from the "
                                    "majority, fixes per group, changes since an earlier report"),
    "probe": ("hftinfra.cli.probe", "print what the probes read, as text or JSON"),
    "jitter": ("hftinfra.cli.jitter", "measure OS noise per CPU and name what caused each gap"),
    "lab": ("hftinfra.cli.lab", "run a lab in network namespaces (as root): lab net, lab ptp, lab chrony"),
    "provision": ("hftinfra.cli.provision",
                  "generate a network-boot path (dnsmasq, iPXE, Kickstart, WinPE) from an inventory; swaps, "
                  "diagnosis"),
}


class UserError(Exception):
    """A mistake the user can fix: printed as one line, exit 2."""


def add_profile_arguments(parser: argparse.ArgumentParser, *, host: bool = False, only: str | None = None,
                          areas: str = "cpu, kernel, memory, irq, net, time", subject: str | None = None) -> None:
    """The options every verb that audits shares: ``--host`` (when ``host``), ``--profile``,
    ``--var`` and ``--only`` (when ``only`` names what the verb does to an area: "audit",
    "fix", "apply"). ``subject`` says who the profile is for ("both hosts", "every host")."""
    if host:
        parser.add_argument("--host", metavar="PATH",
                            help="a snapshot directory or .tar.gz (default: $HFTINFRA_HOST, else the live host)")
    parser.add_argument("--profile", metavar="NAME|FILE", default=None,
                        help=(f"the profile {subject} {'are' if subject.endswith('s') else 'is'} audited against"
                              if subject else "shipped profile name or a YAML file") + " (default: hft-isolated)")
    parser.add_argument("--var", metavar="K=V", action="append", default=[],
                        help="set a profile variable" + (f" for {subject}" if subject else "")
                             + ", e.g. --var isolated_cpus=2-7 (repeatable)")
    if only:
        parser.add_argument("--only", metavar="AREA", action="append", default=[],
                            help=f"{only} only this area: {areas} (repeatable)")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def seconds_type(most: float):
    """An argparse type: a number of seconds, more than 0 and at most ``most``."""
    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not 0 < value <= most:
            raise argparse.ArgumentTypeError(f"must be more than 0 and at most {most:g}, not {text}")
        return value
    return seconds


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """Only the chosen subcommand's module is imported (``hftinfra --help`` imports none)."""
    from hftinfra import __version__

    parser = argparse.ArgumentParser(
        prog="hftinfra",
        description="Probe, snapshot and audit a Linux host (or a snapshot of one) for "
                    "ultra-low-latency workloads. Reading never changes the host.",
        epilog="hftinfra COMMAND --help tells more. --host PATH (or HFTINFRA_HOST) reads a snapshot "
               "directory or .tar.gz instead of this machine.")
    parser.add_argument("--version", action="version", version=f"hftinfra {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name not in argv:
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from hftinfra.host import HostError

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (HostError, UserError) as exc:
        print(f"hftinfra {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hftinfra {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
