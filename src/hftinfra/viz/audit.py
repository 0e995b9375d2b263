"""Audit views for notebooks: the scorecard (findings per area by status), the same for
several hosts side by side, and a small explorer with profile, area and status filters."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from hftinfra.checks.base import STATUSES
from hftinfra.report import AREA_TITLES, STATUS_COLOR

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
    """ipywidgets: pick a profile, filter by area and status; the table re-renders.

    Each profile is audited once, up front, so switching is instant and the rendered book
    can embed every state."""
    import ipywidgets as w

    from hftinfra.audit import run_audit
    from hftinfra.profiles import shipped_profiles

    names = profiles or sorted(shipped_profiles(), key=lambda n: {"latency-performance": 0,
                                                                   "network-latency": 1}.get(n, 2))
    reports = {}
    for name in names:
        try:
            reports[name] = run_audit(host, name, variables=variables)
        except ValueError:
            continue
    first = reports[names[-1]] if names[-1] in reports else next(iter(reports.values()))
    profile = w.Dropdown(options=list(reports), value=first.profile.name, description="profile")
    areas = sorted({f.area for r in reports.values() for f in r.findings})
    area = w.SelectMultiple(options=areas, value=tuple(areas), description="area", rows=min(len(areas), 4))
    status = w.SelectMultiple(options=STATUSES, value=STATUSES, description="status", rows=5)
    out = w.HTML()

    def render(_=None):
        r = reports[profile.value].filter(areas=area.value or None, statuses=status.value or None)
        out.value = r._repr_html_() if r.findings else "<p>No findings match these filters.</p>"

    for control in (profile, area, status):
        control.observe(render, names="value")
    render()
    return w.VBox([w.HBox([profile, area, status]), out])


__all__ = ["Fixes", "compare_figure", "explorer", "fixes_html", "scorecard_figure", "scorecard_rows"]
