"""The text of an apply: per target what it was, what it becomes, and the knob's state
before and after; then what is disruptive, what waits for a reboot, what has no runtime form."""

from __future__ import annotations

from hftinfra.apply.knobs import same


def format_apply(result) -> str:
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
                not same(s.target, s.before, s.target.wanted):
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


def _where(target) -> str:
    if target.kind == "ethtool":
        return f"ethtool {target.param('option')} {target.param('iface')} {target.param('name')}"
    if target.where.startswith("/proc/sys/"):
        return target.where.removeprefix("/proc/sys/").replace("/", ".")
    return target.where
