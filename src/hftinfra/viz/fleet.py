"""Fleet views: a hosts x checks heatmap grouped by verdict pattern, and the group sizes.

Rows are hosts in group order (the largest group first), so a fleet of hundreds reads as a
few bands; a thin line separates the groups and the left axis names each group once.
Columns are the checks, by default only those where some host differs from the majority
(the rest are the same everywhere and would only dilute the picture; the figure says how
many were left out). A cell is one host's status for one check; hosts that could not be
audited are a grey band at the bottom, never a row of passes.
"""

from __future__ import annotations

from collections import Counter
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


HOVER_CHARS = 90
ROW_PX = 3  # a row's height in a fleet of more than 60 hosts, at most
GRID_PX = 1200
LABEL_PX = 13
TOP_PX = 230  # the title and the slanted check names above the grid


def _unique(labels: list[str], keys: list[str]) -> list[str]:
    """Row names for a category axis: the labels, with the key added where two still collide."""
    seen = Counter(labels)
    return [f"{label} [{key}]" if seen[label] > 1 else label for label, key in zip(labels, keys, strict=True)]


def heatmap_figure(report: FleetReport, only_drifting: bool = True, title: str | None = None):
    import plotly.graph_objects as go

    data = heatmap_data(report, only_drifting)
    n = len(CELL_ORDER)
    z = [[CELL_ORDER.index(s) for s in row] for row in data["cells"]]
    # A stepwise scale: each status owns an equal band of [0, 1].
    scale = []
    for i, s in enumerate(CELL_ORDER):
        scale += [[i / n, CELL_COLOR[s]], [(i + 1) / n, CELL_COLOR[s]]]
    # The hover names the host (the row's category), the check (the column) and the status;
    # what was seen only where the status is not the column's majority (that is the drift, and
    # a thousand rows of the majority's text would make the page megabytes for nothing) or is
    # unknown, which always says why.
    majority = {c.id: c.majority for c in report.checks}
    by_key = {h.key: h for h in report.hosts}
    band = {}
    for gid, first, count in data["groups"]:
        for r in range(first, first + count):
            band[r] = f"group {gid}" if gid is not None else "not audited"
    rows = _unique([f"{report.label(k)} · {band[r]}" for r, k in enumerate(data["keys"])], data["keys"])
    text = []
    for key, row in zip(data["keys"], data["cells"], strict=True):
        h = by_key[key]
        line = []
        for cid, status in zip(data["checks"], row, strict=True):
            if status == majority.get(cid) and status != "unknown":
                line.append(status)
            else:
                seen = (h.observed or {}).get(cid) or h.error or ""
                line.append(f"<b>{status}</b><br>{seen[:HOVER_CHARS]}" if seen else f"<b>{status}</b>")
        text.append(line)
    fig = go.Figure(go.Heatmap(
        z=z, x=data["checks"], y=rows, zmin=-0.5, zmax=n - 0.5, colorscale=scale, text=text,
        hovertemplate="%{y}<br>%{x}: %{text}<extra></extra>", xgap=1, ygap=0 if len(rows) > 60 else 1,
        colorbar={"tickvals": list(range(n)), "ticktext": list(CELL_ORDER), "title": {"text": "status"}}))
    # 18 px a row in a small fleet; in a large one the grid stays within GRID_PX, down to 1 px a row.
    row_px = 18 if len(rows) <= 60 else max(1.0, min(ROW_PX, GRID_PX / len(rows)))
    ticks, labels = [], []
    last = None
    for gid, first, count in data["groups"]:
        middle = first + (count - 1) // 2
        # A label needs about 13 px: a band of one host among hundreds is named in its rows'
        # hover and in the groups figure, not on the axis where its label would overprint.
        if last is None or (middle - last) * row_px >= LABEL_PX:
            ticks.append(rows[middle])
            labels.append(f"group {gid} ({count})" if gid is not None else f"not audited ({count})")
            last = middle
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
               "x": 0, "xanchor": "left", "y": 1, "yref": "container", "yanchor": "top", "pad": {"t": 12},
               "font": {"size": 14}},
        xaxis={"tickangle": -45, "side": "top", "automargin": True},
        yaxis={"type": "category", "autorange": "reversed", "tickvals": ticks, "ticktext": labels,
               "automargin": True},
        height=round(TOP_PX + 40 + row_px * max(len(rows), 1)),
        margin={"l": 10, "r": 10, "t": TOP_PX, "b": 20},
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
