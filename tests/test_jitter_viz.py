"""Jitter views: the CCDF drawn from a histogram's exact points, gaps coloured by their
largest cause with the unexplained part kept apart, causes ranked by stolen time."""

from __future__ import annotations

from hftinfra.measure.jitter.model import Bucket, Histogram
from hftinfra.viz.jitter import UNEXPLAINED, causes_figure, ccdf_figure, gap_timeline_figure


def test_the_ccdf_starts_at_one_and_falls_to_one_sample():
    h = Histogram((Bucket(0, 1000, 990), Bucket(1000, 2000, 9), Bucket(5000, 10000, 1)), max_ns=7000)
    points = h.ccdf()
    assert points[0] == (0, 1.0)
    assert points[1] == (1000, 10 / 1000) and points[2] == (5000, 1 / 1000)
    assert points[-1] == (7000, 1 / 1000)
    fig = ccdf_figure({"CPU 1": points})
    (line,) = fig.data
    # A log axis cannot draw x = 0: the first point is dropped, the rest kept in order.
    assert list(line.x) == [1000, 5000, 7000] and list(line.y) == [0.01, 0.001, 0.001]
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert Histogram(()).ccdf() == ()


def test_gaps_are_grouped_by_cause_and_unexplained_is_grey_and_last():
    fig = gap_timeline_figure([0.1, 0.2, 0.3, 0.4], [6000, 40_000, 8000, 9000],
                              ["local_timer", UNEXPLAINED, "local_timer", "task kworker/1:2"],
                              details=["a", "b", "c", "d"])
    names = [t.name for t in fig.data]
    assert names == ["local_timer", "task kworker/1:2", UNEXPLAINED]
    assert list(fig.data[0].x) == [0.1, 0.3] and list(fig.data[0].text) == ["a", "c"]
    assert fig.data[-1].marker.color == "#9aa0a6"


def test_causes_are_ranked_largest_at_the_top():
    fig = causes_figure(["softirq TIMER", "task kworker/1:2", UNEXPLAINED], [3000, 37_000, 12_000], [5, 1, 9])
    (bar,) = fig.data
    assert list(bar.y) == ["softirq TIMER", UNEXPLAINED, "task kworker/1:2"]  # plotly draws bottom-up
    assert list(bar.x) == [3.0, 12.0, 37.0] and "in 1 gaps" in bar.text[-1]
