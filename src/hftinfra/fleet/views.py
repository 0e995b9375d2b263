"""Views of a :class:`~hftinfra.fleet.model.FleetReport`: text, Markdown and HTML.

Each reads top-down the way the morning question goes: how many hosts, which groups (the
clean one first when it is the largest), which checks drift and on whom, where those checks
stand for the next boot, the fix per group, what changed since the last report, and the
hosts that could not be audited, each with why.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from hftinfra.checks.base import STATUSES

if TYPE_CHECKING:
    from hftinfra.fleet.model import CheckStats, FleetReport, Group

# hftinfra.persist.STATES as a reader says them.
PERSISTENCE_WORDS = {"persisted": "persisted", "runtime-only": "lost at reboot", "pending-reboot": "reboot pending",
                     "overridden": "overridden at boot", "not-persisted": "not persisted", "unknown": "unknown"}


def _names(report: FleetReport, keys, limit: int) -> str:
    keys = list(keys)
    shown = ", ".join(report.label(k) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _counts(c: CheckStats) -> str:
    return " ".join(f"{s} {c.counts[s]}" for s in STATUSES if c.counts[s])


def _persistence(c: CheckStats) -> str:
    return ", ".join(f"{PERSISTENCE_WORDS.get(s, s)} {n}" for s, n in c.persistence.items())


def _group_head(report: FleetReport, g: Group) -> str:
    n = len(g.hosts)
    return f"group {g.id}: {n} host{'s' if n != 1 else ''} — {g.label()}"


def _header(report: FleetReport) -> list[str]:
    chain = " -> ".join(report.profile_chain)
    out = [f"fleet: {report.summary_line()}",
           f"profile {report.profile_name} ({chain})" + (f"; {' '.join(report.variables)}" if report.variables else ""),
           f"audited at {report.when}" + (f" in {report.elapsed_s:.1f} s with {report.jobs} workers"
                                            if report.elapsed_s else "")]
    virt = sum(1 for h in report.audited if h.virtualized)
    if virt:
        out.append(f"{virt} of the audited hosts are virtual machines: their timing checks speak for the VM")
    return out


# A group with more fixes than this is a host never tuned, not drift: the text view names the
# checks and the command that writes them all, instead of pages of commands.
TEXT_FIXES_MAX = 6


def _wrap(text: str, indent: str, width: int = 110) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False) or [indent]


def drift_text(report: FleetReport, limit: int = 8) -> list[str]:
    """The drift section of the text view: per drifting check, the majority, the hosts that
    differ, the counts, what those hosts show, and the next-boot states."""
    drifting = report.drifting_checks()
    out = [f"drift (checks where some hosts differ from the majority): {len(drifting)}"]
    if drifting:
        w = max(len(c.id) for c in drifting)
        for c in drifting:
            out.append(f"  {c.id:<{w}}  majority {c.majority} ({c.counts[c.majority]}); "
                       f"{len(c.drift)} differ: {_names(report, c.drift, limit)}")
            seen = "; ".join(f"{v} ({n})" for v, n in list(c.observed.items())[:3])
            out.append(f"  {'':<{w}}  {_counts(c)}" + (f"; seen: {seen}" if seen else ""))
            if c.persistence:
                out.append(f"  {'':<{w}}  next boot: {_persistence(c)}")
    return out


def to_text(report: FleetReport, limit: int = 8) -> str:
    out = _header(report)
    out += ["", "groups (hosts that fail, warn and cannot read the same checks):"]
    for g in report.groups:
        out += _wrap(_group_head(report, g), "  ")
        out += _wrap(_names(report, g.hosts, limit), "      ")
    out += ["", *drift_text(report, limit)]
    news = [c for c in report.checks if any(s in c.persistence for s in ("runtime-only", "pending-reboot",
                                                                          "overridden"))]
    if news:
        out += ["", "next boot (checks whose state a reboot changes on some hosts):"]
        for c in news:
            out.append(f"  {c.id}: {_persistence(c)}")
    fixes = [g for g in report.groups if g.fixes]
    if fixes:
        out += ["", "fixes per group (review before running; `hftinfra fix --host SNAPSHOT` writes them as a "
                    "script, tuned profile or playbook):"]
        for g in fixes:
            n = len(g.hosts)
            out.append(f"  group {g.id} ({n} host{'s' if n != 1 else ''}):")
            if len(g.fixes) > TEXT_FIXES_MAX:
                out += _wrap(f"{len(g.fixes)} checks to fix: " + ", ".join(f.check_id for f in g.fixes), "    ")
                out.append(f"    hftinfra fix --host {report.host(g.hosts[0]).path} --format script   "
                           "# or tuned, ansible; --format json lists every fix")
                continue
            for f in g.fixes:
                share = "" if f.hosts_with_this_fix == len(g.hosts) else \
                    f" (on {f.hosts_with_this_fix} of {len(g.hosts)} hosts; the others' differ)"
                out.append(f"    # {f.check_id}{share}")
                for line in (f.fix or "(no fix command: see hftinfra audit --explain " + f.check_id + ")").splitlines():
                    out.append(f"    {line}")
            out.append(f"    # hftinfra fix --host {report.host(g.hosts[0]).path} --format ansible")
    if report.since is not None:
        out += [""] + _since_text(report, limit)
    if report.not_audited:
        out += ["", f"not audited ({len(report.not_audited)}):"]
        for h in report.not_audited:
            out.append(f"  {report.label(h.key)}: {h.error}")
    for line in report.left_out:
        out.append(f"left out: {line}")
    return "\n".join(out) + "\n"


def _since_text(report: FleetReport, limit: int) -> list[str]:
    s = report.since
    out = [f"since {s.previous}" + (f" ({s.previous_when})" if s.previous_when else "") + ":"]
    if s.quiet:
        return out + ["  nothing changed"]
    if s.new_hosts:
        out.append(f"  new hosts ({len(s.new_hosts)}): {_names(report, s.new_hosts, limit)}")
    if s.gone_hosts:
        out.append(f"  gone ({len(s.gone_hosts)}): {', '.join(s.gone_hosts[:limit])}"
                   + (f" and {len(s.gone_hosts) - limit} more" if len(s.gone_hosts) > limit else ""))
    if s.audited_before_not_now:
        out.append(f"  audited before, not now ({len(s.audited_before_not_now)}): "
                   f"{_names(report, s.audited_before_not_now, limit)}")
    for title, changes in (("drifted", s.drifted), ("fixed", s.fixed), ("changed", s.changed)):
        if not changes:
            continue
        out.append(f"  {title} ({len(changes)}):")
        by_check: dict[str, list] = {}
        for c in changes:
            by_check.setdefault(f"{c.check_id}: {c.was} -> {c.now}", []).append(c.host)
        for what, hosts in by_check.items():
            out.append(f"    {what} on {len(hosts)}: {_names(report, hosts, limit)}")
    return out


# ---- Markdown -------------------------------------------------------------------------------


def _md(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: FleetReport) -> str:
    out = ["# Fleet audit", ""] + [f"- {_md(line)}" for line in _header(report)] + [""]
    out += ["## Groups", "", "| Group | Hosts | Pattern | Members |", "|---|---|---|---|"]
    for g in report.groups:
        out.append(f"| {g.id} | {len(g.hosts)} | {_md(g.label())} | {_md(_names(report, g.hosts, 12))} |")
    out += ["", "## Checks", "", "| Check | " + " | ".join(STATUSES) + " | Majority | Drift | Next boot |",
            "|---|" + "---|" * len(STATUSES) + "---|---|---|"]
    for c in report.checks:
        drift = f"{len(c.drift)}: {_names(report, c.drift, 6)}" if c.drift else ""
        out.append(f"| `{c.id}` | " + " | ".join(str(c.counts[s]) for s in STATUSES)
                   + f" | {c.majority} | {_md(drift)} | {_md(_persistence(c))} |")
    fixes = [g for g in report.groups if g.fixes]
    if fixes:
        out += ["", "## Fixes per group", "", "Review before running; some need a reboot.", ""]
        for g in fixes:
            out += [f"### {_md(_group_head(report, g))}", "", "```sh"]
            for f in g.fixes:
                out.append(f"# {f.check_id}")
                out += (f.fix or f"# no fix command: hftinfra audit --explain {f.check_id}").splitlines()
            out += ["```", ""]
    if report.since is not None:
        out += ["## Since the previous report", ""] + [f"    {line}" for line in _since_text(report, 12)] + [""]
    if report.not_audited:
        out += ["## Not audited", "", "| Host | Why |", "|---|---|"]
        out += [f"| {_md(report.label(h.key))} | {_md(h.error)} |" for h in report.not_audited]
        out.append("")
    return "\n".join(out) + "\n"


# ---- HTML (notebooks, -o report.html) -------------------------------------------------------


def drift_html(report: FleetReport, limit: int = 12) -> str:
    """The drift table of the HTML view (see :func:`drift_text`)."""
    from hftinfra.report import badge

    e = html.escape
    drows = []
    for c in report.drifting_checks():
        counts = " ".join(f"{badge(s)}&nbsp;{c.counts[s]}" for s in STATUSES if c.counts[s])
        seen = "; ".join(f"{e(v)} ({n})" for v, n in list(c.observed.items())[:3])
        drows.append(f"<tr><td><code>{e(c.id)}</code><br><small>{e(c.title)}</small></td><td>{counts}</td>"
                     f"<td>{badge(c.majority)}</td><td>{len(c.drift)}: <small>{e(_names(report, c.drift, limit))}"
                     f"</small><br><small>seen: {seen}</small></td><td><small>{e(_persistence(c))}</small></td></tr>")
    return ("<p>No check drifts: every host has the majority's status everywhere.</p>" if not drows else
            "<table><thead><tr><th>check</th><th>hosts</th><th>majority</th><th>drift</th><th>next boot</th>"
            "</tr></thead><tbody>" + "".join(drows) + "</tbody></table>")


class DriftTable:
    """The drift table alone, for a page: HTML in a notebook, text elsewhere."""

    def __init__(self, report: FleetReport, limit: int = 12):
        self.report, self.limit = report, limit

    def _repr_html_(self) -> str:
        return drift_html(self.report, self.limit)

    def __repr__(self) -> str:
        return "\n".join(drift_text(self.report, self.limit))


def to_html(report: FleetReport, limit: int = 12) -> str:
    from hftinfra.report import badge

    e = html.escape
    head = "<br>".join(e(line) for line in _header(report))
    rows = []
    for g in report.groups:
        pattern = " ".join(f"{badge(s)}&nbsp;<code>{e(c)}</code>" for c, s in g.pattern) or badge("pass")
        rows.append(f"<tr><td>{g.id}</td><td>{len(g.hosts)}</td><td>{pattern}</td>"
                    f"<td><small>{e(_names(report, g.hosts, limit))}</small></td></tr>")
    groups = ("<table><thead><tr><th>group</th><th>hosts</th><th>fails, warns, unknown</th><th>members</th></tr>"
              "</thead><tbody>" + "".join(rows) + "</tbody></table>")
    drift = drift_html(report, limit)
    bad = ""
    if report.not_audited:
        bad = ("<p><b>Not audited</b></p><ul>" + "".join(f"<li>{e(report.label(h.key))}: {e(h.error)}</li>"
                                                         for h in report.not_audited) + "</ul>")
    since = ""
    if report.since is not None:
        since = "<pre>" + e("\n".join(_since_text(report, limit))) + "</pre>"
    return (f"<div class='hftinfra-fleet'><p>{head}</p><p><b>Groups</b></p>{groups}"
            f"<p><b>Drift</b></p>{drift}{since}{bad}</div>")


__all__ = ["PERSISTENCE_WORDS", "DriftTable", "drift_html", "drift_text", "to_html", "to_markdown", "to_text"]
