"""Jitter views: how often a sample took at least so long (a CCDF per CPU, log scales), the
gaps over a run coloured by their largest cause, and the causes ranked by the time they took.

The functions take plain numbers and labels, not measurement records, so the views stay
below the measurements that feed them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

PALETTE = ("#4285f4", "#e8710a", "#0f9d58", "#a142f4", "#db4437", "#f4b400", "#00acc1", "#5f6368", "#ab47bc",
           "#9e9d24")
UNEXPLAINED = "unexplained"
UNEXPLAINED_COLOUR = "#9aa0a6"


def _title(text: str, sub: str) -> dict:
    return {"text": f"{text}<br><sup>{sub}</sup>", "x": 0, "xanchor": "left", "font": {"size": 14}}


def ccdf_figure(curves: Mapping[str, Sequence[tuple[float, float]]], title: str | None = None,
                subtitle: str | None = None, marks_ns: Sequence[float] = (1_000, 10_000, 100_000, 1_000_000)):
    """One line per CPU (or engine): the fraction of samples that took at least x ns, against
    x, both on log scales. Each curve is ``[(x_ns, fraction), ...]`` with fractions above 0;
    the tail at the right is where the latency budget is spent."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (name, points) in enumerate(curves.items()):
        pts = [(x, f) for x, f in points if x > 0 and f > 0]
        fig.add_trace(go.Scatter(
            x=[x for x, _ in pts], y=[f for _, f in pts], name=name, mode="lines+markers", line_shape="hv",
            line={"color": PALETTE[i % len(PALETTE)], "width": 1.8}, marker={"size": 4},
            hovertemplate=f"{name}<br>≥ %{{x:,.0f}} ns: %{{y:.3g}} of samples<extra></extra>"))
    for m in marks_ns:
        fig.add_vline(x=m, line={"color": "#dadce0", "width": 1, "dash": "dot"})
    fig.update_xaxes(type="log", title={"text": "sample length, ns (log)"})
    fig.update_yaxes(type="log", title={"text": "fraction of samples at least this long (log)"}, exponentformat="power")
    fig.update_layout(
        template="plotly_white",
        title=_title(title or "How often the loop lost at least x", subtitle or
                     "complementary cumulative distribution per CPU; dotted lines at 1 µs, 10 µs, 100 µs, 1 ms"),
        height=440, margin={"l": 10, "r": 20, "t": 90, "b": 40}, legend={"orientation": "h", "y": -0.18},
        meta={"hftinfra": "jitter-ccdf"})
    return fig


def gap_timeline_figure(times_s: Sequence[float], gaps_ns: Sequence[float], causes: Sequence[str],
                        details: Sequence[str] | None = None, title: str | None = None, subtitle: str | None = None):
    """Every gap over the run (time since the start, its length on a log scale), coloured by
    the cause that took most of it; hovering shows the whole breakdown."""
    import plotly.graph_objects as go

    order = sorted(set(causes), key=lambda c: (c == UNEXPLAINED, -sum(1 for x in causes if x == c), c))
    fig = go.Figure()
    for i, cause in enumerate(order):
        idx = [k for k, c in enumerate(causes) if c == cause]
        colour = UNEXPLAINED_COLOUR if cause == UNEXPLAINED else PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(
            x=[times_s[k] for k in idx], y=[gaps_ns[k] for k in idx], name=cause, mode="markers",
            marker={"color": colour, "size": 6, "opacity": 0.8},
            text=[(details[k] if details else cause) for k in idx],
            hovertemplate="%{text}<extra></extra>"))
    fig.update_xaxes(title={"text": "seconds since the run started"})
    fig.update_yaxes(type="log", title={"text": "gap, ns (log)"})
    fig.update_layout(
        template="plotly_white",
        title=_title(title or "Gaps over the run and what took them",
                     subtitle or "colour: the cause that took the largest share of each gap"),
        height=420, margin={"l": 10, "r": 20, "t": 90, "b": 40}, legend={"orientation": "h", "y": -0.2},
        meta={"hftinfra": "jitter-gaps"})
    return fig


def causes_figure(labels: Sequence[str], stolen_ns: Sequence[float], counts: Sequence[int] | None = None,
                  title: str | None = None, subtitle: str | None = None, top: int = 15):
    """Causes ranked by the time they took from the measured loop, largest at the top."""
    import plotly.graph_objects as go

    rows = sorted(zip(labels, stolen_ns, counts or [None] * len(labels), strict=True), key=lambda r: -r[1])[:top]
    rows.reverse()
    fig = go.Figure(go.Bar(
        x=[r[1] / 1000 for r in rows], y=[r[0] for r in rows], orientation="h",
        marker={"color": [UNEXPLAINED_COLOUR if r[0] == UNEXPLAINED else PALETTE[0] for r in rows]},
        text=[f"{r[1] / 1000:,.1f} µs" + (f" in {r[2]} gaps" if r[2] is not None else "") for r in rows],
        textposition="auto", hovertemplate="%{y}: %{x:,.1f} µs<extra></extra>"))
    fig.update_xaxes(title={"text": "time taken from the loop, µs"}, rangemode="tozero")
    fig.update_layout(
        template="plotly_white",
        title=_title(title or "Causes ranked by stolen time", subtitle or "summed over every gap of the run"),
        height=max(260, 60 + 28 * len(rows)), margin={"l": 10, "r": 20, "t": 90, "b": 40},
        meta={"hftinfra": "jitter-causes"})
    return fig


__all__ = ["UNEXPLAINED", "causes_figure", "ccdf_figure", "gap_timeline_figure"]
