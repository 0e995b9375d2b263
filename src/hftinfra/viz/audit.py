"""Audit views for notebooks: the scorecard (findings per area by status), the same for
several hosts side by side, and a small explorer with profile, area and status filters."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from hftinfra.checks.base import STATUSES
from hftinfra.report import AREA_TITLES, STATUS_COLOR, to_html

if TYPE_CHECKING:
    from hftinfra.audit import Report


def scorecard_rows(report: Report) -> list[dict]:
    """One row per area: counts per status (the data behind the figure, testable without plotly)."""
    rows = []
    for area in report.areas():
        counts = {s: 0 for s in STATUSES}
        for f in report.findings:
            if f.area == area:
                counts[f.status] += 1
        rows.append({"area": area, **counts})
    return rows


def scorecard_figure(report: Report, title: str | None = None):
    """Horizontal stacked bars: for each area, how many checks pass, fail, warn, skip, are unknown."""
    import plotly.graph_objects as go

    rows = scorecard_rows(report)
    labels = [AREA_TITLES.get(r["area"], r["area"]) for r in rows]
    fig = go.Figure()
    for status in STATUSES:
        ids = [[f.id for f in report.findings if f.area == r["area"] and f.status == status] for r in rows]
        fig.add_trace(go.Bar(
            y=labels, x=[r[status] for r in rows], name=status, orientation="h",
            marker={"color": STATUS_COLOR[status]},
            hovertext=[f"{status}: {len(i)}<br>" + "<br>".join(i) for i in ids], hoverinfo="text"))
    s = report.summary
    sub = " · ".join(f"{s[k]} {k}" for k in STATUSES)
    fig.update_layout(
        barmode="stack", template="plotly_white",
        title={"text": (title or f"Audit against {report.profile.name}") + f"<br><sup>{html.escape(sub)}</sup>",
               "x": 0, "xanchor": "left", "font": {"size": 14}},
        xaxis={"title": {"text": "checks"}, "rangemode": "tozero", "dtick": 2},
        yaxis={"autorange": "reversed"},
        height=150 + 50 * max(len(rows), 1),
        margin={"l": 10, "r": 10, "t": 70, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        meta={"hftinfra": "audit-scorecard"},
    )
    return fig


def compare_figure(reports: dict[str, Report], title: str = "The same profile on several hosts"):
    """One stacked bar per host: counts per status, so a tuned and an untuned host read at a glance."""
    import plotly.graph_objects as go

    names = list(reports)
    fig = go.Figure()
    for status in STATUSES:
        fig.add_trace(go.Bar(
            y=names, x=[reports[n].summary[status] for n in names], name=status, orientation="h",
            marker={"color": STATUS_COLOR[status]},
            hovertext=[f"{n}: {reports[n].summary[status]} {status}" for n in names], hoverinfo="text"))
    fig.update_layout(
        barmode="stack", template="plotly_white", title={"text": title, "x": 0, "xanchor": "left",
                                                         "font": {"size": 14}},
        xaxis={"title": {"text": "checks"}, "rangemode": "tozero"}, yaxis={"autorange": "reversed"},
        height=150 + 50 * max(len(names), 1), margin={"l": 10, "r": 10, "t": 60, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        meta={"hftinfra": "audit-compare"},
    )
    return fig


def fixes_html(report: Report) -> str:
    """The failing (and warning) checks with their fixes, as HTML for a notebook cell."""
    from hftinfra.report import badge

    todo = [f for f in report.findings if f.status in ("fail", "warn")]
    if not todo:
        return "<p>Nothing to fix: no check failed or warned.</p>"
    parts = []
    for f in todo:
        parts.append(
            f"<details><summary>{badge(f.status)} <code>{html.escape(f.id)}</code> {html.escape(f.title)}: "
            f"seen <b>{html.escape(f.observed)}</b>, expected <b>{html.escape(f.expected)}</b></summary>"
            f"<p>{html.escape(f.reason)}<br><small>{html.escape('; '.join(f.sources))}</small></p>"
            f"<pre style='white-space:pre-wrap'>{html.escape(f.fix or '')}</pre></details>")
    return "".join(parts)


class Fixes:
    """Renders :func:`fixes_html` when it ends a notebook cell."""

    def __init__(self, report: Report):
        self.report = report

    def _repr_html_(self) -> str:
        return fixes_html(self.report)

    def __repr__(self) -> str:
        return self.report.fix_script() or "nothing to fix"


def explorer(host, profiles: list[str] | None = None, variables: list[str] | None = None):
    """ipywidgets: pick a profile, an area and a status; the findings table follows.

    It works in the static book too, where no kernel answers: every profile is audited once,
    up front, each (profile, area, status) table is rendered in advance into nested Stacks,
    and the three pickers drive them with ``jslink`` in the browser (see hftinfra.widgets).
    Fixes are left out of these tables; the fix script below the explorer has them all."""
    import ipywidgets as w

    from hftinfra.audit import run_audit
    from hftinfra.profiles import shipped_profiles

    order = {"latency-performance": 0, "network-latency": 1}
    names = profiles or sorted(shipped_profiles(), key=lambda n: order.get(n, 2))
    reports = [run_audit(host, name, variables=variables) for name in names]
    areas = sorted({f.area for r in reports for f in r.findings})
    area_choices = [None, *areas]
    status_choices = [None, *STATUSES]

    def table(report, area, status):
        r = report.filter(areas=[area] if area else None, statuses=[status] if status else None)
        if not r.findings:
            return w.HTML("<p>No findings match these filters.</p>")
        return w.HTML(to_html(r, with_header=False, with_fixes=False))

    start = len(reports) - 1  # the strictest profile: what a trading box must meet
    profile = w.Dropdown(options=[(r.profile.name, i) for i, r in enumerate(reports)], index=start,
                         description="profile")
    area = w.Dropdown(options=[("all", 0)] + [(a, i + 1) for i, a in enumerate(areas)], index=0,
                      description="area")
    status = w.Dropdown(options=[("all", 0)] + [(s_, i + 1) for i, s_ in enumerate(STATUSES)], index=0,
                        description="status")
    links = []
    per_profile = []
    for report in reports:
        per_area = []
        for a in area_choices:
            inner = w.Stack([table(report, a, st) for st in status_choices], selected_index=0)
            links.append(w.jslink((status, "index"), (inner, "selected_index")))
            per_area.append(inner)
        mid = w.Stack(per_area, selected_index=0)
        links.append(w.jslink((area, "index"), (mid, "selected_index")))
        per_profile.append(mid)
    outer = w.Stack(per_profile, selected_index=start)
    links.append(w.jslink((profile, "index"), (outer, "selected_index")))
    box = w.VBox([w.HBox([profile, area, status]), outer])
    box.links = links  # the links live in the browser; kept so callers and tests can see them
    box.add_class("hftinfra-audit-explorer")
    return box


__all__ = ["Fixes", "compare_figure", "explorer", "fixes_html", "scorecard_figure", "scorecard_rows"]
