"""Network views: each NIC's ethtool settings side by side for several hosts, what interrupt
coalescing adds to a packet's latency and saves in interrupts, and the kernel-bypass
readiness of several hosts.

A setting the driver does not implement (ethtool answered "Operation not supported") shows
as ``unsupported``; one that could not be read for another reason as ``unknown (why)``;
neither is ever drawn as 0 or off.

The coalescing figure is a model, not a measurement. Its two rules come from the kernel:
- the ethtool interface (include/uapi/linux/ethtool.h, ``struct ethtool_coalesce``): an
  interrupt is held until ``usecs`` have passed since the first completion or ``max_frames``
  completions have arrived, whichever comes first (``rx-usecs`` and ``rx-frames``);
- Intel's interrupt throttle (Documentation/networking/device_drivers/ethernet/intel/ice.rst,
  "Interrupt Rate Limiting"): ``rx-usecs`` is the least time between two interrupts, so a
  packet waits only while the interval since the last interrupt runs.
Packets arrive as a Poisson stream, an idealisation: market data comes in bursts, which wait
longer than the model says.
"""

from __future__ import annotations

import math

from hftinfra.host import Reason, Unread
from hftinfra.net import Nic, Nics
from hftinfra.records import show
from hftinfra.viz.topology import HtmlTable

HOST_COLOURS = ("#e8710a", "#4285f4", "#0f9d58", "#a142f4", "#b3261e")

# ---------------------------------------------------------------------------------------
# ethtool settings side by side

ETHTOOL_COLUMNS = ("host", "interface", "driver", "link", "channels", "rings rx/tx", "adaptive rx/tx",
                   "rx-usecs / rx-frames", "tx-usecs / tx-frames", "GRO", "LRO", "TSO", "GSO",
                   "pause autoneg/rx/tx", "HW timestamps")


class _Why:
    """Collects the full reasons behind the short 'unsupported'/'unknown' cells."""

    def __init__(self) -> None:
        self.reasons: dict[str, None] = {}

    def cell(self, value: object) -> str:
        if isinstance(value, Unread):
            self.reasons.setdefault(str(value), None)
            if value.reason is Reason.UNSUPPORTED and "does not support" in value.detail:
                return "unsupported"
            return f"unknown ({value.reason})"
        if value is None:
            return "n/a"
        return show(value)

    def note(self) -> str:
        return "; ".join(self.reasons)


def _pair(a: object, b: object) -> str:
    return f"{'n/a' if a is None else show(a)} / {'n/a' if b is None else show(b)}"


def _onoff(value: bool | None) -> str:
    return "n/a" if value is None else "on" if value else "off"


def ethtool_row(label: str, nic: Nic, why: _Why) -> list[str]:
    """One NIC's ethtool settings as table cells (see :data:`ETHTOOL_COLUMNS`)."""
    et = nic.ethtool
    s, ch, rings, co, feats, pause, ts = (et.settings, et.channels, et.rings, et.coalesce, et.features, et.pause,
                                           et.timestamping)
    if isinstance(s, Unread):
        link = why.cell(s)
    else:
        speed = "speed unknown" if s.speed_mbps is None else f"{s.speed_mbps} Mb/s"
        link = f"{speed}, {s.duplex or 'duplex unknown'}, autoneg {_onoff(s.autoneg)}"
    if isinstance(ch, Unread):
        channels = why.cell(ch)
    else:
        parts = [f"{k} {v}" for k, v in (("combined", ch.combined), ("rx", ch.rx), ("tx", ch.tx)) if v]
        channels = ", ".join(parts) or "none"
        if ch.max_combined:
            channels += f" (max {ch.max_combined})"
    ring = why.cell(rings) if isinstance(rings, Unread) else f"{_pair(rings.rx, rings.tx)} (max {_pair(rings.max_rx, rings.max_tx)})"
    if isinstance(co, Unread):
        adaptive = rx = tx = why.cell(co)
    else:
        adaptive = f"{_onoff(co.adaptive_rx)} / {_onoff(co.adaptive_tx)}"
        rx, tx = _pair(co.rx_usecs, co.rx_frames), _pair(co.tx_usecs, co.tx_frames)

    def feature(name: str) -> str:
        if isinstance(feats, Unread):
            return why.cell(feats)
        f = feats.get(name)
        if f is None:
            return "n/a"
        return ("on" if f.enabled else "off") + (" [fixed]" if f.fixed else "") + (
            f" [requested {'on' if f.requested else 'off'}]" if f.requested is not None else "")

    if isinstance(pause, Unread):
        pause_text = why.cell(pause)
    else:
        pause_text = f"{_onoff(pause.autoneg)} / {_onoff(pause.rx)} / {_onoff(pause.tx)}"
    if isinstance(ts, Unread):
        hw = why.cell(ts)
    else:
        clock = ts.hardware_clock
        hw = f"yes, /dev/ptp{clock}" if ts.hardware and clock is not None else "yes" if ts.hardware else "software only"
    return [label, nic.name, why.cell(nic.driver) if nic.driver is not None else "(virtual)", link, channels, ring,
            adaptive, rx, tx, feature("generic-receive-offload"), feature("large-receive-offload"),
            feature("tcp-segmentation-offload"), feature("generic-segmentation-offload"), pause_text, hw]


def ethtool_table(hosts: list[tuple[str, Nics]], physical_only: bool = False,
                  title: str = "NIC settings (ethtool)") -> HtmlTable:
    """One row per interface of every host; ``physical_only`` leaves software interfaces out."""
    why = _Why()
    rows = []
    for label, nics in hosts:
        if isinstance(nics.nics, Unread):
            rows.append([label, why.cell(nics.nics), *["-"] * (len(ETHTOOL_COLUMNS) - 2)])
            continue
        for nic in nics.nics:
            if physical_only and nic.physical is not True:
                continue
            rows.append(ethtool_row(label, nic, why))
    note = "unsupported: the driver does not implement that ethtool operation"
    if why.reasons:
        note += ". Reasons: " + why.note()
    return HtmlTable(title, list(ETHTOOL_COLUMNS), rows, note)


# ---------------------------------------------------------------------------------------
# The coalescing model


def _poisson_pmf(j: int, mean: float) -> float:
    return math.exp(-mean + j * math.log(mean) - math.lgamma(j + 1)) if mean > 0 else float(j == 0)


def _integral(f, upper: float, steps: int = 400) -> float:
    """Simpson's rule on [0, upper] (steps even)."""
    if upper <= 0:
        return 0.0
    h = upper / steps
    total = f(0.0) + f(upper)
    for i in range(1, steps):
        total += (4 if i % 2 else 2) * f(i * h)
    return total * h / 3


def timer_delay_us(rate_pps: float, usecs: float, frames: int | None) -> float:
    """Mean added delay (µs) of a received packet when an interrupt waits ``usecs`` from the
    first packet or until ``frames`` packets are in (the uapi rule; ``frames`` None or 0: no
    frame limit), with Poisson arrivals at ``rate_pps``.

    A batch starts with a packet at 0 and ends at D = min(usecs, arrival of packet ``frames``);
    each packet waits D minus its arrival. Over a batch the waits add up to
    ∫₀ᴰ (packets in by t) dt, and the mean wait is that over the batch's size."""
    if frames == 1 or usecs <= 0:
        return 0.0
    r = rate_pps / 1e6  # per µs
    if not frames:
        return (usecs + r * usecs * usecs / 2) / (1 + r * usecs)
    k = frames - 1  # further packets that end the batch

    def waiting(t: float) -> float:
        return sum((1 + j) * _poisson_pmf(j, r * t) for j in range(k))

    total = _integral(waiting, usecs)
    below = sum(_poisson_pmf(j, r * usecs) for j in range(k))
    size = sum((1 + j) * _poisson_pmf(j, r * usecs) for j in range(k)) + frames * max(0.0, 1 - below)
    return total / size


def timer_interrupt_rate(rate_pps: float, usecs: float, frames: int | None) -> float:
    """Interrupts per second under :func:`timer_delay_us`'s rule (one per batch)."""
    if frames == 1 or usecs <= 0:
        return rate_pps
    r = rate_pps / 1e6
    if not frames:
        return rate_pps / (1 + r * usecs)
    k = frames - 1
    below = sum(_poisson_pmf(j, r * usecs) for j in range(k))
    size = sum((1 + j) * _poisson_pmf(j, r * usecs) for j in range(k)) + frames * max(0.0, 1 - below)
    return rate_pps / size


def throttle_delay_us(rate_pps: float, usecs: float) -> float:
    """Mean added delay (µs) under an interrupt throttle of ``usecs`` (least time between two
    interrupts, Intel's ITR), with Poisson arrivals.

    After an interrupt at 0, packets arriving in (0, usecs) wait for the interval to end; if none
    arrives, the next packet after it interrupts at once. Per cycle the waits add up to
    r·u²/2 for r·u + e^(−r·u) packets."""
    if usecs <= 0:
        return 0.0
    r = rate_pps / 1e6
    return (r * usecs * usecs / 2) / (r * usecs + math.exp(-r * usecs))


def throttle_interrupt_rate(rate_pps: float, usecs: float) -> float:
    """Interrupts per second under an interrupt throttle (at most 1/usecs)."""
    if usecs <= 0:
        return rate_pps
    r = rate_pps / 1e6
    # A cycle lasts usecs, plus the wait for the next packet when none came in it.
    cycle_us = usecs + math.exp(-r * usecs) / r if r > 0 else math.inf
    return 1e6 / cycle_us


# Curves drawn by default: each is (label, rule, rx-usecs, rx-frames) with where the values
# come from. Driver defaults are from the 6.12 tree.
DEFAULT_CURVES = (
    ("no coalescing (rx-usecs 0, rx-frames 1)", "timer", 0, 1),
    ("ice default ITR, adaptive off (rx-usecs 50; ICE_ITR_20K, ice_txrx.h)", "throttle", 50, None),
    ("ice ITR 10 µs (ice.rst example)", "throttle", 10, None),
    ("mlx5 default (rx-usecs 16, rx-frames 32; en.h)", "timer", 16, 32),
    ("timer 8 µs, no frame limit", "timer", 8, None),
)
THROTTLE_DRIVERS = frozenset({"ice", "i40e", "iavf", "ixgbe", "ixgbevf", "igb", "igc", "e1000e", "idpf"})


def coalescing_curves(rates_pps: list[float], curves=DEFAULT_CURVES) -> list[dict]:
    """For each curve: ``{"label", "rule", "usecs", "frames", "delay_us": [...], "irq_per_s": [...]}``."""
    out = []
    for label, rule, usecs, frames in curves:
        if rule == "throttle":
            delay = [throttle_delay_us(r, usecs) for r in rates_pps]
            irqs = [throttle_interrupt_rate(r, usecs) for r in rates_pps]
        else:
            delay = [timer_delay_us(r, usecs, frames) for r in rates_pps]
            irqs = [timer_interrupt_rate(r, usecs, frames) for r in rates_pps]
        out.append({"label": label, "rule": rule, "usecs": usecs, "frames": frames, "delay_us": delay,
                    "irq_per_s": irqs})
    return out


def host_curves(hosts: list[tuple[str, Nics]]) -> tuple[list[tuple], list[str]]:
    """Curves for the physical NICs of the given hosts whose fixed coalescing is known, and
    why the others are left out (adaptive moderation moves with the load; unsupported)."""
    curves, left = [], []
    for label, nics in hosts:
        for nic in nics.physical:
            co = nic.ethtool.coalesce
            if isinstance(co, Unread):
                left.append(f"{label} {nic.name}: {co}")
                continue
            if co.adaptive_rx:
                left.append(f"{label} {nic.name}: adaptive-rx on, the delay follows the load")
                continue
            if co.rx_usecs is None:
                left.append(f"{label} {nic.name}: no rx-usecs")
                continue
            if co.rx_usecs == 0 or co.rx_frames == 1:
                left.append(f"{label} {nic.name} ({nic.driver}): rx-usecs {co.rx_usecs}, no added delay (grey line)")
                continue
            throttle = nic.driver in THROTTLE_DRIVERS
            curves.append((f"{label} {nic.name} ({nic.driver}): rx-usecs {co.rx_usecs}"
                           + (f", rx-frames {co.rx_frames}" if co.rx_frames is not None else ""),
                           "throttle" if throttle else "timer", co.rx_usecs, co.rx_frames))
    return curves, left


def coalescing_figure(hosts: list[tuple[str, Nics]] | None = None, curves=DEFAULT_CURVES,
                      title: str = "What interrupt coalescing adds to latency and saves in interrupts"):
    """Two panels over the packet rate: the mean added delay of a received packet, and the
    interrupts per second, for the default curves and the NICs of ``hosts``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rates = [10 ** (3 + i / 20) for i in range(81)]  # 1 kpps to 10 Mpps
    extra, left = host_curves(hosts or [])
    data = coalescing_curves(rates, (*curves, *extra))
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("mean added delay per packet (µs)", "interrupts per second per queue"))
    palette = ("#9aa0a6", "#e8710a", "#fbbc04", "#4285f4", "#a142f4", "#0f9d58", "#b3261e", "#00796b")
    for i, c in enumerate(data):
        colour = palette[i % len(palette)]
        dash = "solid" if c["rule"] == "timer" else "dash"
        hover = f"{c['label']}<br>%{{x:.3s}} packets/s: %{{y:.3g}}<extra></extra>"
        fig.add_trace(go.Scatter(x=rates, y=c["delay_us"], name=c["label"], legendgroup=c["label"],
                                 line={"color": colour, "dash": dash}, hovertemplate=hover), row=1, col=1)
        fig.add_trace(go.Scatter(x=rates, y=c["irq_per_s"], name=c["label"], legendgroup=c["label"],
                                 showlegend=False, line={"color": colour, "dash": dash}, hovertemplate=hover),
                      row=1, col=2)
    fig.update_xaxes(type="log", title_text="packets per second on the queue (Poisson)")
    fig.update_yaxes(title_text="µs", row=1, col=1)
    fig.update_yaxes(type="log", title_text="interrupts/s", row=1, col=2)
    note = "solid: timer from the first packet (uapi ethtool.h); dashed: interrupt throttle (ice.rst)"
    if left:
        note += "<br>left out: " + "; ".join(left)
    fig.update_layout(title={"text": title}, height=560, margin={"t": 70, "b": 150},
                      legend={"orientation": "h", "y": -0.25, "font": {"size": 11}},
                      annotations=[*fig.layout.annotations,
                                   {"text": note, "xref": "paper", "yref": "paper", "x": 0, "y": -0.55,
                                    "showarrow": False, "align": "left", "font": {"size": 11}}])
    return fig


# ---------------------------------------------------------------------------------------
# Kernel-bypass readiness side by side


def readiness_compare_table(hosts: list[tuple[str, object]],
                            title: str = "Kernel-bypass readiness side by side") -> HtmlTable:
    """One column per host (``BypassReadiness`` records), the summary rows of each."""
    per_host = [r.summary_rows() for _, r in hosts]  # type: ignore[attr-defined]
    rows = [[per_host[0][i][0], *[show(h[i][1]) for h in per_host]] for i in range(len(per_host[0]))]
    devices = []
    for label, r in hosts:
        for d in r.devices if isinstance(r.devices, tuple) else ():  # type: ignore[attr-defined]
            devices.append(f"{label} {d.interface or d.address}: AF_XDP zero-copy {show(d.af_xdp_zero_copy)}")
    return HtmlTable(title, ["item", *[label for label, _ in hosts]], rows, "; ".join(devices))


__all__ = [
    "DEFAULT_CURVES", "ETHTOOL_COLUMNS", "THROTTLE_DRIVERS", "coalescing_curves", "coalescing_figure",
    "ethtool_row", "ethtool_table", "host_curves", "readiness_compare_table", "throttle_delay_us",
    "throttle_interrupt_rate", "timer_delay_us", "timer_interrupt_rate",
]
