"""``hftinfra apply``: the runtime part of a profile on this host, as a dry run unless
``--yes``; ``hftinfra rollback FILE`` undoes it.

Exit status: 0 every change took (or, dry run, the plan was printed), 1 some write was
refused (each named; the rest went on), 2 it could not run (not root with --yes, a bad
profile or variable, a rollback file that exists already).
"""

from __future__ import annotations

import argparse
import os
import sys

from hftinfra.cli import UserError, add_profile_arguments

EPILOG = """\
What it changes, at runtime only: sysctls, sysfs knobs (THP, KSM, the workqueue mask,
cpufreq), IRQ affinities and the default affinity, NIC coalescing and features through
ethtool, and a PM QoS hold on /dev/cpu_dma_latency (a small process hftinfra starts).
Disruptive changes (NIC channels, restarting irqbalance) are listed apart and made only
with --allow-disruptive. Kernel arguments and firmware settings are never applied: they are
listed with the command that persists them (see also hftinfra fix).

Each setting is checked before and after its write: configured, partly configured, not
configured, or unknown. The rollback file (default /var/lib/hftinfra/rollback-TIME.json) is
written before the first change and holds every previous value.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    add_profile_arguments(parser, only="apply", areas="cpu, kernel, memory, irq, net")
    parser.add_argument("--yes", action="store_true", help="apply (as root); without it, a dry run")
    parser.add_argument("--rollback-file", metavar="PATH",
                        help="where to write the previous values (default: /var/lib/hftinfra/rollback-TIME.json)")
    parser.add_argument("--allow-disruptive", action="store_true",
                        help="also make changes that reset a NIC or restart irqbalance")


def run(args: argparse.Namespace) -> int:
    from hftinfra.apply import ApplyError, apply_plan, default_rollback_path, plan_apply
    from hftinfra.profiles import DEFAULT_PROFILE, ProfileError

    if args.yes and os.geteuid() != 0:
        raise UserError("applying changes the host: run as root (without --yes it is a dry run)")
    if args.rollback_file and not args.yes:
        raise UserError("--rollback-file goes with --yes (a dry run writes nothing)")
    path = (args.rollback_file or default_rollback_path()) if args.yes else None
    try:
        plan = plan_apply(args.profile or DEFAULT_PROFILE, args.var, args.only or None)
        result = apply_plan(plan, dry_run=not args.yes, rollback_path=path,
                            allow_disruptive=args.allow_disruptive)
    except (ProfileError, ApplyError) as exc:
        raise UserError(str(exc)) from None
    except KeyboardInterrupt:
        if path and os.path.exists(path):
            print(f"hftinfra apply: stopped part way; hftinfra rollback {path} restores what was done",
                  file=sys.stderr)
        raise
    sys.stdout.write(result.to_text())
    return result.exit_code
