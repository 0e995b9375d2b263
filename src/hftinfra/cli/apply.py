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

from hftinfra.cli import UserError

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
    parser.add_argument("--profile", metavar="NAME|FILE", default=None,
                        help="shipped profile name or a YAML file (default: hft-isolated)")
    parser.add_argument("--var", metavar="K=V", action="append", default=[],
                        help="set a profile variable, e.g. --var isolated_cpus=2-7 (repeatable)")
    parser.add_argument("--only", metavar="AREA", action="append", default=[],
                        help="apply only this area: cpu, kernel, memory, irq, net (repeatable)")
    parser.add_argument("--yes", action="store_true", help="apply (as root); without it, a dry run")
    parser.add_argument("--rollback-file", metavar="PATH",
                        help="where to write the previous values (default: /var/lib/hftinfra/rollback-TIME.json)")
    parser.add_argument("--allow-disruptive", action="store_true",
                        help="also make changes that reset a NIC or restart irqbalance")


def run(args: argparse.Namespace) -> int:
    from hftinfra.apply import ApplyError, apply_plan, plan_apply
    from hftinfra.profiles import DEFAULT_PROFILE, ProfileError

    if args.yes and os.geteuid() != 0:
        raise UserError("applying changes the host: run as root (without --yes it is a dry run)")
    if args.rollback_file and not args.yes:
        raise UserError("--rollback-file goes with --yes (a dry run writes nothing)")
    try:
        plan = plan_apply(args.profile or DEFAULT_PROFILE, args.var, args.only or None)
        result = apply_plan(plan, dry_run=not args.yes, rollback_path=args.rollback_file,
                            allow_disruptive=args.allow_disruptive)
    except (ProfileError, ApplyError) as exc:
        raise UserError(str(exc)) from None
    sys.stdout.write(format_apply(result))
    return result.exit_code


def format_apply(result) -> str:
    from hftinfra.apply.engine import knob_state  # noqa: F401  (states come with the result)
    from hftinfra.report import host_line

    plan = result.plan
    out = []
    mode = "dry run: nothing is changed (--yes applies)" if result.dry_run else "applied"
    out.append(f"hftinfra apply, {mode}: profile {plan.profile} on {host_line(plan.report)}")
    states = {k.name: (before, after) for k, before, after in result.knob_states}
    rows = []
    for s in result.steps:
        before, after = states.get(s.knob.name, ("", ""))
        if s.before is None:
            verb, detail = "UNKNOWN", s.error or "could not read"
        elif s.error:
            verb, detail = "FAILED", f"{s.before} -> {s.target.wanted}: {s.error}"
        elif s.written:
            verb, detail = "changed", f"{s.before} -> {s.after if s.after is not None else s.target.wanted}"
        elif result.dry_run and before != "configured" and s.before is not None and \
                not _same(s.target, s.before, s.target.wanted):
            verb, detail = "change", f"{s.before} -> {s.target.wanted}"
        else:
            verb, detail = "ok", s.before
        state = before if result.dry_run else f"{before} -> {after}"
        rows.append((verb, s.knob.check_id, _where(s.target), detail, state))
    if rows:
        out.append("")
        out.append("runtime settings:")
        w1, w2 = max(len(r[1]) for r in rows), max(len(r[2]) for r in rows)
        for verb, cid, where, detail, state in rows:
            out.append(f"  {verb:<8} {cid:<{w1}}  {where:<{w2}}  {detail}  [{state}]")
    if plan.disruptive:
        out.append("")
        note = "applied" if not result.skipped_disruptive else "not applied: --allow-disruptive makes them"
        out.append(f"disruptive ({note}):")
        for k in plan.disruptive:
            wanted = ", ".join(f"{_where(t)} {t.wanted}" for t in k.targets)
            out.append(f"  {k.check_id}: {wanted}: {k.disruptive}")
    if plan.reboot:
        out.append("")
        out.append("at the next boot only (never applied here; persist with the command, or hftinfra fix):")
        for r in plan.reboot:
            out.append(f"  {r.check_id}: {r.what}: {r.fix}")
    if plan.not_runtime:
        out.append("")
        out.append("not applied at runtime:")
        for cid, what, why in plan.not_runtime:
            out.append(f"  {cid}: {what}: {why}")
    out.append("")
    changed = len(result.changed)
    if result.dry_run:
        todo = sum(1 for r in rows if r[0] == "change")
        out.append(f"{todo} change(s) would be made; {sum(1 for r in rows if r[0] == 'UNKNOWN')} unknown.")
    else:
        out.append(f"{changed} change(s) made, {len(result.failed)} refused, in {result.elapsed_s:.2f} s.")
        out.append(f"rollback file: {result.rollback_path} (hftinfra rollback {result.rollback_path} restores "
                   "every previous value)")
    return "\n".join(out) + "\n"


def _same(target, a, b) -> bool:
    from hftinfra.apply.knobs import same

    return same(target, a, b)


def _where(target) -> str:
    if target.kind == "ethtool":
        return f"ethtool {target.param('option')} {target.param('iface')} {target.param('name')}"
    if target.where.startswith("/proc/sys/"):
        return target.where.removeprefix("/proc/sys/").replace("/", ".")
    return target.where
