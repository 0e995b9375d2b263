"""Time-sync views: a PTP slave's offset and path delay over a run and their histograms, and
a chrony client's tracking offset (and frequency) over a run.

The functions take plain numbers (seconds since the lab started, nanoseconds, ppm), not lab
records, so the views stay below the labs that measure what they draw.
"""

from __future__ import annotations

from collections.abc import Sequence

OFFSET_COLOUR = "#4285f4"  # blue: the offset, what a servo would correct
DELAY_COLOUR = "#e8710a"  # orange: the path delay, what the offset is computed after
FREQUENCY_COLOUR = "#a142f4"
SYNC_COLOUR = "#0f9d58"
ZERO_LINE = {"color": "#9aa0a6", "width": 1, "dash": "dot"}


def _title(text: str, sub: str) -> dict:
    return {"text": f"{text}<br><sup>{sub}</sup>", "x": 0, "xanchor": "left", "font": {"size": 14}}


def ptp_series_figure(times_s: Sequence[float], offsets_ns: Sequence[float], path_delays_ns: Sequence[float],
                      title: str | None = None, subtitle: str | None = None):
    """The slave's ``master offset`` (top) and ``path delay`` (bottom) against seconds since
    the lab started, one marker per line ptp4l printed, on a shared time axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("master offset (ns)", "path delay (ns)"))
    xs = list(times_s)
    fig.add_trace(go.Scatter(
        x=xs, y=list(offsets_ns), name="master offset", mode="lines+markers",
        line={"color": OFFSET_COLOUR, "width": 1.5}, marker={"size": 5},
        hovertemplate="t = %{x:.1f} s<br>master offset %{y:+.0f} ns<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=xs, y=list(path_delays_ns), name="path delay", mode="lines+markers",
        line={"color": DELAY_COLOUR, "width": 1.5}, marker={"size": 5},
        hovertemplate="t = %{x:.1f} s<br>path delay %{y:.0f} ns<extra></extra>"), row=2, col=1)
    fig.add_hline(y=0, line=ZERO_LINE, row=1, col=1)
    fig.update_xaxes(title={"text": "seconds since the lab started"}, row=2, col=1)
    fig.update_yaxes(title={"text": "ns"}, row=1, col=1)
    fig.update_yaxes(title={"text": "ns"}, rangemode="tozero", row=2, col=1)
    fig.update_layout(
        template="plotly_white",
        title=_title(title or "PTP slave: offset and path delay over the run",
                     subtitle or "one point per line ptp4l printed; software timestamps over a veth pair"),
        height=480, margin={"l": 10, "r": 20, "t": 90, "b": 40}, showlegend=False,
        meta={"hftinfra": "lab-ptp-series"},
    )
    return fig


def ptp_histogram_figure(offsets_ns: Sequence[float], path_delays_ns: Sequence[float],
                         title: str | None = None, subtitle: str | None = None):
    """How the slave's offsets (left) and path delays (right) spread over the run: one
    histogram each, the median marked."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("master offset (ns)", "path delay (ns)"))
    for col, (name, values, colour) in enumerate(
            (("master offset", list(offsets_ns), OFFSET_COLOUR), ("path delay", list(path_delays_ns), DELAY_COLOUR)),
            start=1):
        fig.add_trace(go.Histogram(
            x=values, name=name, marker={"color": colour}, opacity=0.85,
            hovertemplate=f"{name} %{{x}} ns: %{{y}} lines<extra></extra>"), row=1, col=col)
        if values:
            median = sorted(values)[(len(values) - 1) // 2]  # the lower median, as the lab reports it
            fig.add_vline(x=median, line={"color": "#202124", "width": 1, "dash": "dash"}, row=1, col=col)
            axis = "" if col == 1 else str(col)
            fig.add_annotation(x=median, y=0.97, xref=f"x{axis}", yref=f"y{axis} domain", showarrow=False,
                               xanchor="left", yanchor="top", xshift=4,
                               text=f"median {median:+.0f}" if col == 1 else f"median {median:.0f}")
    fig.update_xaxes(title={"text": "ns"})
    fig.update_yaxes(title={"text": "lines"}, col=1)
    fig.update_layout(
        template="plotly_white", bargap=0.05,
        title=_title(title or "PTP slave: how offset and path delay spread",
                     subtitle or "histograms of the lines ptp4l printed over the run"),
        height=360, margin={"l": 10, "r": 20, "t": 90, "b": 40}, showlegend=False,
        meta={"hftinfra": "lab-ptp-histogram"},
    )
    return fig


def chrony_tracking_figure(times_s: Sequence[float], offsets_ns: Sequence[float | None],
                           frequencies_ppm: Sequence[float | None] | None = None,
                           synced_at_s: float | None = None, title: str | None = None,
                           subtitle: str | None = None):
    """A chrony client's tracking offset (``chronyc tracking``, "System time") against seconds
    since the client started, and below it the frequency chronyd estimated, when given. A
    vertical line marks the first sample that was synchronised to the server. A sample that
    could not be read is a gap (None), never a zero."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = 2 if frequencies_ppm is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=("system time offset (ns)", "frequency (ppm)")[:rows])
    xs = list(times_s)
    fig.add_trace(go.Scatter(
        x=xs, y=list(offsets_ns), name="offset", mode="lines+markers", connectgaps=False,
        line={"color": OFFSET_COLOUR, "width": 1.5}, marker={"size": 5},
        hovertemplate="t = %{x:.1f} s<br>offset %{y:+.0f} ns<extra></extra>"), row=1, col=1)
    fig.add_hline(y=0, line=ZERO_LINE, row=1, col=1)
    if frequencies_ppm is not None:
        fig.add_trace(go.Scatter(
            x=xs, y=list(frequencies_ppm), name="frequency", mode="lines+markers", connectgaps=False,
            line={"color": FREQUENCY_COLOUR, "width": 1.5}, marker={"size": 5},
            hovertemplate="t = %{x:.1f} s<br>frequency %{y:+.3f} ppm<extra></extra>"), row=2, col=1)
        fig.update_yaxes(title={"text": "ppm"}, row=2, col=1)
    if synced_at_s is not None:
        for row in range(1, rows + 1):
            fig.add_vline(x=synced_at_s, line={"color": SYNC_COLOUR, "width": 1.5, "dash": "dash"}, row=row, col=1)
        fig.add_annotation(x=synced_at_s, y=1, yref="y domain", text=f"synchronised at {synced_at_s:.1f} s",
                           showarrow=False, xanchor="left", yanchor="bottom", font={"color": SYNC_COLOUR})
    fig.update_xaxes(title={"text": "seconds since the client started"}, row=rows, col=1)
    fig.update_yaxes(title={"text": "ns"}, row=1, col=1)
    fig.update_layout(
        template="plotly_white",
        title=_title(title or "chrony client: tracking offset over the run",
                     subtitle or "chronyc -c tracking once a second; the client runs with -x"),
        height=480 if rows == 2 else 340, margin={"l": 10, "r": 20, "t": 90, "b": 40}, showlegend=False,
        meta={"hftinfra": "lab-chrony-tracking"},
    )
    return fig


__all__ = ["chrony_tracking_figure", "ptp_histogram_figure", "ptp_series_figure"]
