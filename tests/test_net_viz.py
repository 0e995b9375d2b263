"""Network views: the coalescing model against a simulation of its own rules, the ethtool
table's unsupported cells, and the readiness table side by side."""

from __future__ import annotations

import random

import pytest
from conftest import HOSTS

from hftinfra.bypass import read_bypass_readiness
from hftinfra.host import open_host
from hftinfra.net import read_nics
from hftinfra.viz.net import (
    coalescing_curves,
    coalescing_figure,
    ethtool_table,
    host_curves,
    readiness_compare_table,
    throttle_delay_us,
    throttle_interrupt_rate,
    timer_delay_us,
    timer_interrupt_rate,
)


def _simulate(rate_pps: float, usecs: float, frames: int | None, throttle: bool, n: int = 60000,
              seed: int = 7) -> tuple[float, float]:
    """Mean delay (µs) and interrupts per second by the rule itself, packet by packet."""
    rng = random.Random(seed)
    r = rate_pps / 1e6
    t, waits, irqs = 0.0, 0.0, 0
    arrivals = []
    for _ in range(n):
        t += rng.expovariate(r)
        arrivals.append(t)
    if throttle:
        last = -1e18
        pending: list[float] = []
        i = 0
        while i < len(arrivals):
            a = arrivals[i]
            fire = max(a, last + usecs)
            # every packet that arrived by the firing time goes out with this interrupt
            while i < len(arrivals) and arrivals[i] <= fire:
                pending.append(arrivals[i])
                i += 1
            waits += sum(fire - p for p in pending)
            pending.clear()
            last = fire
            irqs += 1
    else:
        i = 0
        while i < len(arrivals):
            start = arrivals[i]
            end = start + usecs
            batch = [start]
            j = i + 1
            while j < len(arrivals) and arrivals[j] < end and (not frames or len(batch) < frames):
                batch.append(arrivals[j])
                j += 1
            fire = batch[-1] if frames and len(batch) == frames else end
            waits += sum(fire - p for p in batch)
            irqs += 1
            i = j
    return waits / n, irqs / (arrivals[-1] / 1e6)


@pytest.mark.parametrize("rate", [2e4, 2e5, 2e6])
@pytest.mark.parametrize("usecs, frames", [(16, 32), (8, None), (50, 4)])
def test_timer_model_matches_its_simulation(rate, usecs, frames):
    delay, irqs = _simulate(rate, usecs, frames, throttle=False)
    assert timer_delay_us(rate, usecs, frames) == pytest.approx(delay, rel=0.05, abs=0.05)
    assert timer_interrupt_rate(rate, usecs, frames) == pytest.approx(irqs, rel=0.05)


@pytest.mark.parametrize("rate", [2e3, 5e4, 1e6])
@pytest.mark.parametrize("usecs", [10, 50])
def test_throttle_model_matches_its_simulation(rate, usecs):
    delay, irqs = _simulate(rate, usecs, None, throttle=True)
    assert throttle_delay_us(rate, usecs) == pytest.approx(delay, rel=0.05, abs=0.05)
    assert throttle_interrupt_rate(rate, usecs) == pytest.approx(irqs, rel=0.05)


def test_model_limits():
    assert timer_delay_us(1e5, 0, 1) == 0 and timer_delay_us(1e5, 16, 1) == 0
    assert timer_interrupt_rate(1e5, 16, 1) == 1e5
    # A lone packet waits the whole timer; under a throttle it hardly waits.
    assert timer_delay_us(1, 16, 32) == pytest.approx(16, rel=1e-3)
    assert throttle_delay_us(1, 50) < 0.01
    # At high rates the throttle caps interrupts at 1/usecs and the mean wait nears usecs/2.
    assert throttle_interrupt_rate(1e8, 50) == pytest.approx(20000, rel=1e-3)
    assert throttle_delay_us(1e8, 50) == pytest.approx(25, rel=1e-3)
    curves = coalescing_curves([1e3, 1e6])
    assert all(len(c["delay_us"]) == 2 and all(d >= 0 for d in c["delay_us"]) for c in curves)


def test_ethtool_table_shows_unsupported_and_the_tuned_nics():
    ref = read_nics(open_host(HOSTS / "tuned-2s"))
    table = ethtool_table([("tuned-2s", ref)], physical_only=True)
    assert [row[1] for row in table.rows] == ["eno1", "ens1f0"]
    ens = table.rows[1]
    assert ens[2] == "ice" and ens[6] == "off / off" and ens[9] == "off" and "ptp0" in ens[14]
    html = table._repr_html_()
    assert "ens1f0" in html and "<table" in html


def test_unsupported_views_read_unsupported(tree):
    from test_net import two_nic_tree

    nics = read_nics(tree(two_nic_tree()))
    table = ethtool_table([("mini", nics)])
    veth = next(r for r in table.rows if r[1] == "veth0")
    assert veth[2] == "(virtual)" and veth[5] == "unsupported" and veth[7] == "unsupported"
    assert veth[14] == "unknown (missing)"  # -T was not recorded: unknown, not unsupported
    assert "Operation not supported" in table.note
    curves, left = host_curves([("mini", nics)])
    assert curves == [] and any("ens1f0" in why and "no added delay" in why for why in left)


def test_figure_and_readiness_table_build():
    ref_host = open_host(HOSTS / "tuned-2s")
    fig = coalescing_figure([("tuned-2s", read_nics(ref_host))])
    assert len(fig.data) >= 2 * 5
    r = read_bypass_readiness(ref_host)
    table = readiness_compare_table([("a", r), ("b", r)])
    assert table.header == ["item", "a", "b"] and table.rows[0][1] == "5.14.0-362.24.1.el9_3.x86_64"
    assert "AF_XDP zero-copy" in table.note
