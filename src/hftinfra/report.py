"""Views of an audit :class:`~hftinfra.audit.Report`: text (rich; coloured on a terminal,
plain when piped), JSON (schema ``hftinfra.audit/1``), Markdown, HTML for notebooks, and the
fixes for failures collected as a script a human reviews before running.

JSON schema ``hftinfra.audit/1`` (keys are stable; new keys may be added, none removed)::

    {"schema": "hftinfra.audit/1",
     "tool": {"name": "hftinfra", "version": "0.1.0"},
     "host": {"source", "live", "hostname", "kernel", "cpu_model", "cpus", "virtualized",
              "hypervisor", "virtualization_evidence", "when"},
     "profile": {"name", "path", "chain", "summary",
                 "variables": {NAME: {"value": "2-7" | null, "origin": "--var" | "host: ..." | ...}}},
     "only": ["cpu", ...],
     "summary": {"pass": n, "fail": n, "warn": n, "skip": n, "unknown": n, "total": n},
     "findings": [{"id", "title", "area", "status", "observed", "expected", "message",
                   "reason", "sources", "fix", "docs",
                   "persistence": {"state", "message", "where": [...]} | null}]}

``status`` is one of pass, fail, warn, skip, unknown. ``persistence`` (added within
``hftinfra.audit/1``) says where the settings that make the check true stand for the next
boot, one of the states in ``hftinfra.persist.STATES``; null for a check no setting
makes (a measurement, hardware) and for findings not judged (skip, unknown). ``observed`` and ``expected`` are
display strings (cpulists for CPU sets; ``unknown (missing: /path)`` when unread). ``fix`` is
null unless the status is fail or warn.
"""

from __future__ import annotations

import html
import io
from typing import TYPE_CHECKING

from hftinfra.checks.base import STATUSES

if TYPE_CHECKING:
    from hftinfra.audit import Report

STATUS_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skip": "dim", "unknown": "magenta"}
STATUS_COLOR = {"pass": "#2e7d32", "fail": "#c62828", "warn": "#ef6c00", "skip": "#757575",
                "unknown": "#6a1b9a"}
AREA_TITLES = {"cpu": "CPU", "kernel": "Kernel", "memory": "Memory", "irq": "IRQ", "net": "Network",
               "time": "Time"}


def summary_line(report: Report) -> str:
    s = report.summary
    total = len(report.findings)
    parts = ", ".join(f"{s[k]} {k}" for k in STATUSES)
    verdict = "FAILED" if s["fail"] else "no failures" if report.judged else "NOTHING JUDGED"
    return f"{total} checks: {parts} ({verdict})"


def host_line(report: Report) -> str:
    if report.identity is not None:
        return report.identity.summary()
    h = report.host
    return f"{h.get('source')} · {h.get('hostname')} · kernel {h.get('kernel')} · {h.get('cpus')} CPUs"


def profile_line(report: Report) -> str:
    p = report.profile
    chain = " -> ".join(p.chain)
    vars_ = "; ".join(f"{v.name}={v.shown()} ({v.origin})" for v in report.variables.values())
    return f"profile {p.name} ({chain})" + (f"; {vars_}" if vars_ else "")


# ---- JSON ---------------------------------------------------------------------------------


def to_json(report: Report) -> dict:
    from hftinfra import __version__
    from hftinfra.audit import SCHEMA

    summary = dict(report.summary)
    summary["total"] = len(report.findings)
    profile = report.profile.to_json()
    profile["variables"] = {name: {"value": None if v.value is None else v.shown(), "origin": v.origin}
                            for name, v in report.variables.items()}
    return {
        "schema": SCHEMA,
        "tool": {"name": "hftinfra", "version": __version__},
        "host": report.host,
        "profile": profile,
        "only": list(report.only),
        "summary": summary,
        "findings": [f.to_json() for f in report.findings],
    }


# ---- fix script ---------------------------------------------------------------------------


def fix_script(report: Report) -> str:
    """Fixes for fail (and warn) findings as one shell script, each under a comment saying
    which check it answers. Meant to be read, edited and run by a human."""
    todo = [f for f in report.findings if f.status in ("fail", "warn") and f.fix]
    if not todo:
        return ""
    lines = ["#!/bin/sh",
             f"# Fixes for {host_line(report)}",
             f"# against {profile_line(report)}.",
             "# Review every line before running it: some need a reboot, some change boot settings.",
             "set -e", ""]
    for f in todo:
        lines.append(f"# --- {f.id} ({f.status}): {f.title}")
        lines.append(f"#     seen {f.observed}; expected {f.expected}")
        lines.extend(f.fix.rstrip().splitlines())
        lines.append("")
    return "\n".join(lines)


# ---- text ---------------------------------------------------------------------------------


def _why(f) -> str:
    """The status message, or for a plain mismatch the profile's reason for the value."""
    from hftinfra.audit import DIFFERS

    if f.status in ("fail", "warn") and (not f.message or f.message.startswith(DIFFERS)):
        why = f.reason + f.message.removeprefix(DIFFERS)
    else:
        why = f.message
    return "; ".join(p for p in (why, persistence_note(f)) if p)


class PersistenceView:
    """A report's judged findings with where each stands for the next boot (renders in a
    notebook as a table; ``rows`` for code)."""

    def __init__(self, report: Report):
        self.rows = [(f.id, f.status, f.persistence.state, f.persistence.message)
                     for f in report.findings if f.persistence is not None]
        self.source = report.host.get("source")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _id, _status, state, _msg in self.rows:
            out[state] = out.get(state, 0) + 1
        return out

    def _repr_html_(self) -> str:
        from hftinfra.records import html_table

        note = ", ".join(f"{n} {state}" for state, n in sorted(self.counts().items()))
        return html_table(f"Next boot: {self.source}", ["check", "now", "next boot", "where, and why"],
                          [list(r) for r in self.rows], note)

    def __str__(self) -> str:
        return "\n".join(f"{i:<28} {s:<5} {st:<15} {m}" for i, s, st, m in self.rows)


# What a status becomes when the next boot changes it: a pass lost at reboot, a fail a reboot fixes.
STATUS_SUFFIX = {"runtime-only": "in effect but lost at reboot", "pending-reboot": "reboot pending",
                 "overridden": "overridden at boot"}


def status_label(f) -> str:
    """'pass', or with what the next boot does to it: 'pass — in effect but lost at reboot',
    'fail — reboot pending', 'pass — overridden at boot'."""
    p = getattr(f, "persistence", None)
    if p is None or p.state not in STATUS_SUFFIX:
        return f.status
    if p.state == "runtime-only" and f.status != "pass":
        return f.status
    if p.state == "pending-reboot" and f.status == "pass":
        return f.status
    return f"{f.status} — {STATUS_SUFFIX[p.state]}"


def persistence_note(f) -> str:
    """Where the finding's settings stand for the next boot, when that is news: a pass that
    is lost at reboot, a fail that a reboot fixes, a value some other file overrides."""
    p = getattr(f, "persistence", None)
    if p is None:
        return ""
    if p.state in ("runtime-only", "pending-reboot", "overridden") or (p.state == "unknown" and f.status == "pass"):
        return p.message
    return ""


def to_text(report: Report, color: bool = False, width: int | None = None) -> str:
    buf = io.StringIO()
    write_text(report, buf, color=color, width=width)
    return buf.getvalue()


def write_text(report: Report, file, color: bool = False, width: int | None = None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=file, force_terminal=color, color_system="auto" if color else None,
                      no_color=not color, width=width or (None if color else 132), highlight=False,
                      emoji=False, soft_wrap=False)
    console.print(Text(host_line(report), style="bold"))
    console.print(profile_line(report))
    for area in report.areas():
        findings = [f for f in report.findings if f.area == area]
        table = Table(title=AREA_TITLES.get(area, area), title_justify="left", box=box.SIMPLE_HEAD,
                      show_edge=False, expand=False, pad_edge=False)
        table.add_column("status", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("observed", overflow="fold", max_width=40)
        table.add_column("expected", overflow="fold", max_width=28)
        table.add_column("why", overflow="fold", ratio=1)
        for f in findings:
            why = _why(f)
            label = status_label(f)
            table.add_row(Text(f.status.upper() + label[len(f.status):], style=STATUS_STYLE[f.status]), f.id,
                          f.observed, f.expected, why)
        console.print(table)
    style = "bold red" if report.summary["fail"] else "bold green"
    console.print(Text(summary_line(report), style=style))
    script = fix_script(report)
    if script:
        console.print()
        console.print(Text("Fixes (review before running):", style="bold"))
        console.print(script, markup=False, highlight=False, soft_wrap=True)


# ---- Markdown -----------------------------------------------------------------------------


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    out = [f"# Host audit: {_md(report.host.get('hostname') or report.host.get('source'))}", "",
           f"- Host: {_md(host_line(report))}",
           f"- Profile: {_md(profile_line(report))}",
           f"- Result: **{summary_line(report)}**", ""]
    for area in report.areas():
        out += [f"## {AREA_TITLES.get(area, area)}", "",
                "| Status | Check | Observed | Expected | Why |", "|---|---|---|---|---|"]
        for f in (f for f in report.findings if f.area == area):
            why = _why(f)
            out.append(f"| **{f.status}**{_md(status_label(f)[len(f.status):])} | `{f.id}` {_md(f.title)} | "
                       f"{_md(f.observed)} | "
                       f"{_md(f.expected)} | {_md(why)} |")
        out.append("")
    script = fix_script(report)
    if script:
        out += ["## Fixes", "", "Review before running; some need a reboot.", "", "```sh", script, "```", ""]
    return "\n".join(out)


# ---- HTML (notebooks) ---------------------------------------------------------------------


def badge(status: str) -> str:
    return (f'<span style="background:{STATUS_COLOR[status]};color:#fff;border-radius:3px;'
            f'padding:0 5px;font-size:85%;font-weight:600">{status}</span>')


def _html_suffix(f) -> str:
    rest = status_label(f)[len(f.status):].removeprefix(" — ")
    return f"<br><small>{html.escape(rest)}</small>" if rest else ""


def to_html(report: Report, with_header: bool = True, with_fixes: bool = True) -> str:
    e = html.escape
    s = report.summary
    counts = " ".join(f"{badge(k)}&nbsp;{s[k]}" for k in STATUSES)
    rows = []
    for f in report.findings:
        fix = f"<pre style='margin:2px 0;white-space:pre-wrap'>{e(f.fix)}</pre>" if f.fix and with_fixes else ""
        why = e(f.message) + (f"<br><small>{e(f.reason)}</small>" if f.reason else "")
        note = persistence_note(f)
        if note:
            why += f"<br><small><b>next boot:</b> {e(note)}</small>"
        rows.append(
            f"<tr><td>{badge(f.status)}{_html_suffix(f)}</td><td><code>{e(f.id)}</code><br><small>{e(f.title)}</small></td>"
            f"<td>{e(f.observed)}</td><td>{e(f.expected)}</td><td>{why}{fix}</td></tr>")
    header = (f"<p><b>{e(host_line(report))}</b><br>{e(profile_line(report))}<br>{counts}</p>"
              if with_header else f"<p>{counts}</p>")
    return (
        f"<div class='hftinfra-report'>{header}"
        "<table><thead><tr><th>status</th><th>check</th><th>observed</th><th>expected</th>"
        f"<th>{'why / fix' if with_fixes else 'why'}</th></tr></thead><tbody>" + "".join(rows)
        + "</tbody></table></div>")


__all__ = ["PersistenceView", "STATUS_SUFFIX", "fix_script", "host_line", "profile_line", "status_label",
           "summary_line", "to_html", "to_json", "to_markdown", "to_text", "write_text"]
