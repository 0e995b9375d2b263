"""Lab views: round-trip latency as a CCDF, one curve per condition, and softirq work per
CPU before and after a change (RPS).

The functions take plain numbers (curves already computed, counts per CPU), not lab
records, so the views stay below the labs that measure what they draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# One colour per condition of a latency lab, in the order the conditions are listed:
# grey for the untouched default, then purple, blue and orange (distinct for the common
# forms of colour blindness, as ROLE_COLOURS are).
CONDITION_COLOURS = ("#5f6368", "#a142f4", "#4285f4", "#e8710a", "#0f9d58", "#d93025")
BEFORE_COLOUR = "#9aa0a6"
AFTER_COLOUR = "#e8710a"


def rtt_ccdf_figure(curves: Sequence[tuple[str, Sequence[float], Sequence[float]]],
                    title: str | None = None, unit_ns: float = 1000.0, unit: str = "us"):
    """A complementary CDF of round-trip times: for each condition, the fraction of round
    trips that took at least x. ``curves`` holds (label, x in ns, fraction); log-log axes,
    so the median sits at 0.5 and the tail (p99 at 0.01, p99.9 at 0.001) is as readable
    as the body."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (label, xs, ys) in enumerate(curves):
        fig.add_trace(go.Scatter(
            x=[x / unit_ns for x in xs], y=list(ys), name=label, mode="lines",
            line={"color": CONDITION_COLOURS[i % len(CONDITION_COLOURS)], "width": 2, "shape": "hv"},
            hovertemplate=f"<b>{label}</b><br>%{{y:.4g}} of round trips took ≥ %{{x:.1f}} {unit}<extra></extra>"))
    smallest = min((min(ys) for _l, _x, ys in curves if len(ys)), default=1e-3)
    for q, name in ((0.5, "p50"), (0.01, "p99"), (0.001, "p99.9")):
        if q >= smallest:
            fig.add_hline(y=q, line={"color": "#dadce0", "width": 1, "dash": "dot"},
                          annotation_text=name, annotation_position="right")
    fig.update_layout(
        template="plotly_white",
        title={"text": title or ("UDP round trips between two namespaces<br><sup>fraction of round "
                                 "trips that took at least x; log-log</sup>"),
               "x": 0, "xanchor": "left", "font": {"size": 14}},
        xaxis={"type": "log", "title": {"text": f"round-trip time ({unit})"}},
        yaxis={"type": "log", "title": {"text": "fraction of round trips ≥ x"}, "exponentformat": "power"},
        height=420, margin={"l": 10, "r": 60, "t": 70, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        meta={"hftinfra": "lab-rtt-ccdf"},
    )
    return fig


def net_rx_figure(phases: Sequence[tuple[str, Mapping[int, int], int]], target_cpu: int | None = None,
                  title: str | None = None):
    """NET_RX softirqs per CPU per 1000 packets, one group of bars per CPU and one bar per
    phase (``phases`` holds (label, NET_RX count per CPU, packets sent)). The CPU RPS was
    pointed at is marked."""
    import plotly.graph_objects as go

    cpus = sorted({c for _label, counts, _n in phases for c in counts})
    names = [f"CPU {c}" + (" (RPS target)" if c == target_cpu else "") for c in cpus]
    fig = go.Figure()
    colours = (BEFORE_COLOUR, AFTER_COLOUR) + CONDITION_COLOURS[2:]
    for i, (label, counts, packets) in enumerate(phases):
        per_k = [1000.0 * counts.get(c, 0) / packets if packets else 0.0 for c in cpus]
        fig.add_trace(go.Bar(
            x=names, y=per_k, name=label, marker={"color": colours[i % len(colours)]},
            text=[f"{counts.get(c, 0)}" for c in cpus], textposition="outside", cliponaxis=False,
            hovertemplate=f"<b>{label}</b><br>%{{x}}: %{{text}} NET_RX softirqs, "
                          "%{y:.1f} per 1000 packets<extra></extra>"))
    fig.update_layout(
        barmode="group", template="plotly_white",
        title={"text": title or ("Where the receive work ran<br><sup>NET_RX softirqs per CPU per 1000 "
                                 "packets (/proc/softirqs deltas); labels are raw counts</sup>"),
               "x": 0, "xanchor": "left", "font": {"size": 14}},
        yaxis={"title": {"text": "NET_RX per 1000 packets"}, "rangemode": "tozero"},
        height=360, margin={"l": 10, "r": 20, "t": 70, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        meta={"hftinfra": "lab-net-rx"},
    )
    return fig


# One colour per source of a boot step: what the VM printed, what the server logged.
SOURCE_COLOURS = {"console": "#4285f4", "dnsmasq": "#e8710a", "http": "#0f9d58", "lab": "#5f6368"}


def pxe_timeline_figure(boots: Sequence[tuple[str, Sequence[tuple[float, str, str]], float]],
                        title: str | None = None):
    """A network boot per row: a bar for its wall time and a marker per step (seconds since
    the VM started, coloured by who reported it: the console, dnsmasq's log, the HTTP log).
    ``boots`` holds (label, [(seconds, source, step)], wall seconds)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    labels = [label for label, _steps, _wall in boots]
    fig.add_trace(go.Bar(
        y=labels, x=[wall for _l, _s, wall in boots], orientation="h", name="wall time",
        marker={"color": "#e8eaed"}, hovertemplate="<b>%{y}</b><br>%{x:.1f} s from qemu's start to its end"
                                                   "<extra></extra>"))
    for source, colour in SOURCE_COLOURS.items():
        xs, ys, texts = [], [], []
        for label, steps, _wall in boots:
            for t, src, step in steps:
                if src == source:
                    xs.append(t)
                    ys.append(label)
                    texts.append(step)
        if xs:
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="markers", name=source, text=texts,
                marker={"color": colour, "size": 9, "symbol": "line-ns-open", "line": {"width": 2, "color": colour}},
                hovertemplate="<b>%{y}</b><br>%{x:.2f} s: %{text}<extra>" + source + "</extra>"))
    fig.update_layout(
        template="plotly_white", barmode="overlay",
        title={"text": title or ("Where a network boot's time goes<br><sup>each step when its line appeared on "
                                 "the console, in dnsmasq's log or in the HTTP log; seconds since qemu "
                                 "started</sup>"), "x": 0, "xanchor": "left", "font": {"size": 14}},
        xaxis={"title": {"text": "seconds since the VM started"}, "rangemode": "tozero"},
        yaxis={"autorange": "reversed"},
        height=160 + 60 * len(boots), margin={"l": 10, "r": 20, "t": 70, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        meta={"hftinfra": "lab-pxe-timeline"},
    )
    return fig


__all__ = ["CONDITION_COLOURS", "SOURCE_COLOURS", "net_rx_figure", "pxe_timeline_figure", "rtt_ccdf_figure"]
