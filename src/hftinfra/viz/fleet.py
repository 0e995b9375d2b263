"""Fleet views: a hosts x checks heatmap grouped by verdict pattern, and the group sizes.

Rows are hosts in group order (the largest group first), so a fleet of hundreds reads as a
few bands; a thin line separates the groups and the left axis names each group once.
Columns are the checks, by default only those where some host differs from the majority
(the rest are the same everywhere and would only dilute the picture; the figure says how
many were left out). A cell is one host's status for one check; hosts that could not be
audited are a grey band at the bottom, never a row of passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hftinfra.fleet.model import NOT_AUDITED
from hftinfra.report import STATUS_COLOR

if TYPE_CHECKING:
    from hftinfra.fleet.model import FleetReport

# Status -> position on the discrete colour scale (worst in the middle of attention: fail red).
CELL_ORDER = ("pass", "warn", "fail", "unknown", "skip", NOT_AUDITED)
CELL_COLOR = {**STATUS_COLOR, NOT_AUDITED: "#bdbdbd"}


def heatmap_data(report: FleetReport, only_drifting: bool = True) -> dict:
    """The figure's data, testable without plotly: ``hosts`` (labels, in row order), ``keys``,
    ``checks`` (column ids), ``cells`` (status per row per column), ``groups`` ([(group id,
    first row, row count)]), ``left_out`` (checks not drawn: the same on every host)."""
    keys, ids, grid = report.matrix()
    if only_drifting:
        drifting = {c.id for c in report.drifting_checks()}
        cols = [i for i, c in enumerate(ids) if c in drifting]
    else:
        cols = list(range(len(ids)))
    groups, row = [], 0
    for g in report.groups:
        groups.append((g.id, row, len(g.hosts)))
        row += len(g.hosts)
    if report.not_audited:
        groups.append((None, row, len(report.not_audited)))
    return {"keys": keys, "hosts": [report.label(k) for k in keys], "checks": [ids[i] for i in cols],
            "cells": [[r[i] for i in cols] for r in grid], "groups": groups,
            "left_out": len(ids) - len(cols)}


def heatmap_figure(report: FleetReport, only_drifting: bool = True, title: str | None = None):
    import plotly.graph_objects as go

    data = heatmap_data(report, only_drifting)
    n = len(CELL_ORDER)
    z = [[CELL_ORDER.index(s) for s in row] for row in data["cells"]]
    # A stepwise scale: each status owns an equal band of [0, 1].
    scale = []
    for i, s in enumerate(CELL_ORDER):
        scale += [[i / n, CELL_COLOR[s]], [(i + 1) / n, CELL_COLOR[s]]]
    by_key = {h.key: h for h in report.hosts}
    hover = []
    for key, row in zip(data["keys"], data["cells"], strict=True):
        h = by_key[key]
        line = []
        for cid, status in zip(data["checks"], row, strict=True):
            seen = (h.observed or {}).get(cid) or h.error or ""
            line.append(f"{report.label(key)}<br>{cid}: <b>{status}</b><br>{seen[:120]}")
        hover.append(line)
    rows = list(range(len(data["keys"])))
    fig = go.Figure(go.Heatmap(
        z=z, x=data["checks"], y=rows, zmin=-0.5, zmax=n - 0.5, colorscale=scale, text=hover,
        hoverinfo="text", xgap=1, ygap=0 if len(rows) > 60 else 1,
        colorbar={"tickvals": list(range(n)), "ticktext": list(CELL_ORDER), "title": {"text": "status"}}))
    ticks, labels = [], []
    for gid, first, count in data["groups"]:
        ticks.append(first + (count - 1) / 2)
        labels.append(f"group {gid} ({count})" if gid is not None else f"not audited ({count})")
        if first:
            fig.add_shape(type="line", xref="paper", x0=0, x1=1, y0=first - 0.5, y1=first - 0.5,
                          line={"color": "#202124", "width": 1})
    left = data["left_out"]
    sub = (f"{len(rows)} hosts in {len(report.groups)} groups; "
           + (f"{len(data['checks'])} checks that drift ({left} the same on every host left out)"
              if only_drifting else f"{len(data['checks'])} checks"))
    fig.update_layout(
        template="plotly_white",
        title={"text": (title or f"Fleet against {report.profile_name}") + f"<br><sup>{sub}</sup>",
               "x": 0, "xanchor": "left", "font": {"size": 14}},
        xaxis={"tickangle": -45, "side": "top", "automargin": True},
        yaxis={"autorange": "reversed", "tickvals": ticks, "ticktext": labels, "automargin": True},
        height=min(1400, 220 + max(4, 3 * len(rows) if len(rows) > 60 else 18 * len(rows))),
        margin={"l": 10, "r": 10, "t": 150, "b": 20},
        meta={"hftinfra": "fleet-heatmap"},
    )
    return fig


def groups_figure(report: FleetReport, title: str = "Hosts per group"):
    """One bar per group: its size, coloured by its worst status, labelled by its pattern."""
    import plotly.graph_objects as go

    names, sizes, colours, hover = [], [], [], []
    for g in report.groups:
        worst = next((s for s in ("fail", "warn", "unknown") if any(p == s for _, p in g.pattern)), "pass")
        names.append(f"group {g.id}")
        sizes.append(len(g.hosts))
        colours.append(STATUS_COLOR[worst])
        hover.append(f"group {g.id}: {len(g.hosts)} hosts<br>{g.label()[:300]}")
    if report.not_audited:
        names.append("not audited")
        sizes.append(len(report.not_audited))
        colours.append(CELL_COLOR[NOT_AUDITED])
        hover.append("<br>".join(f"{report.label(h.key)}: {h.error[:100]}" for h in report.not_audited[:10]))
    fig = go.Figure(go.Bar(x=sizes, y=names, orientation="h", marker={"color": colours}, hovertext=hover,
                           hoverinfo="text", text=sizes, textposition="auto"))
    fig.update_layout(template="plotly_white", title={"text": title, "x": 0, "xanchor": "left",
                                                      "font": {"size": 14}},
                      xaxis={"title": {"text": "hosts"}, "rangemode": "tozero"}, yaxis={"autorange": "reversed"},
                      height=140 + 28 * max(len(names), 1), margin={"l": 10, "r": 10, "t": 50, "b": 40},
                      meta={"hftinfra": "fleet-groups"})
    return fig


__all__ = ["CELL_COLOR", "CELL_ORDER", "NOT_AUDITED", "groups_figure", "heatmap_data", "heatmap_figure"]
