"""CPU isolation and power views: the partition drawn per CPU, frequency limits and idle
states per CPU, the BIOS checklist with what the OS can see of each setting, and the fix
commands generated for a host. Anything unread is said, never drawn as 0."""

from __future__ import annotations

from hftinfra.cpu import (
    PM_QOS_DEFAULT_LATENCY_US,
    Frequency,
    Idle,
    Isolation,
    Platform,
    Topology,
)
from hftinfra.cpulist import format_cpulist, format_cpumask
from hftinfra.host import Unread
from hftinfra.records import show
from hftinfra.viz import ROLE_COLOURS
from hftinfra.viz.topology import HtmlTable

UNKNOWN_COLOUR = ROLE_COLOURS["unknown"]
OUT_COLOUR = "#f1f3f4"
NOT_SET_COLOUR = "#dadce0"


# ---- isolation ---------------------------------------------------------------------------


def isolation_rows(iso: Isolation) -> list[tuple[str, str, object, str]]:
    """(setting, kind, CPU set | None | Unread, where it is read). ``kind``: 'isolated' for
    settings that should hold the isolated CPUs, 'housekeeping' for those that should hold
    the rest."""
    return [
        ("isolated (in effect)", "isolated", iso.isolated, "/sys/devices/system/cpu/isolated"),
        ("nohz_full (in effect)", "isolated", iso.nohz_full, "/sys/devices/system/cpu/nohz_full"),
        ("isolcpus= (configured)", "isolated", iso.cmdline_isolcpus, "/proc/cmdline"),
        ("nohz_full= (configured)", "isolated", iso.cmdline_nohz_full, "/proc/cmdline"),
        ("rcu_nocbs= (configured)", "isolated", iso.cmdline_rcu_nocbs, "/proc/cmdline"),
        ("irqaffinity= (configured)", "housekeeping", iso.cmdline_irqaffinity, "/proc/cmdline"),
        ("systemd CPUAffinity= (configured)", "housekeeping", iso.systemd_affinity_configured,
         iso.systemd_affinity_configured_in or "/etc/systemd/system.conf"),
        ("PID 1 affinity (in effect)", "housekeeping", iso.systemd_affinity, "/proc/1/status"),
        ("workqueue cpumask (in effect)", "housekeeping", iso.workqueue_cpumask,
         "/sys/devices/virtual/workqueue/cpumask"),
        ("housekeeping (derived)", "housekeeping", iso.housekeeping, "online − isolated − nohz_full"),
    ]


def _cpu_order(topo: Topology) -> list[int]:
    """Package, then core, then thread: a core's siblings sit side by side."""
    def key(c):
        pkg = c.package if isinstance(c.package, int) else 1 << 20
        first = min(c.siblings) if isinstance(c.siblings, frozenset) and c.siblings else c.id
        return (pkg, first, c.id)
    return [c.id for c in sorted(topo.cpus, key=key)]


def isolation_matrix(topo: Topology, iso: Isolation) -> dict:
    """The data behind :func:`isolation_figure`: per setting, per CPU, one of 'in', 'out',
    'not set' or 'unknown', with hover text."""
    cpus = _cpu_order(topo)
    rows = []
    for label, kind, value, source in isolation_rows(iso):
        cells, hovers = [], []
        for cpu in cpus:
            if isinstance(value, Unread):
                state, why = "unknown", str(value)
            elif value is None:
                state, why = "not set", f"not set ({source})"
            else:
                state, why = ("in", f"CPU {cpu} in {label}") if cpu in value else ("out", f"CPU {cpu} not in {label}")
            cells.append(state)
            hovers.append(f"{why}<br>role: {iso.roles.get(cpu, 'unknown')}")
        rows.append({"label": label, "kind": kind, "cells": cells, "hovers": hovers})
    return {"cpus": cpus, "rows": rows}


def isolation_figure(topo: Topology, iso: Isolation, title: str | None = None):
    """One row per isolation setting, one column per CPU (siblings side by side): orange
    where a setting that should hold the isolated CPUs includes the CPU, blue where a
    housekeeping setting does. On a well-partitioned host the orange and blue columns
    never overlap and every row agrees with the top one."""
    import plotly.graph_objects as go

    data = isolation_matrix(topo, iso)
    codes = {"out": 0, "isolated": 1, "housekeeping": 2, "not set": 3, "unknown": 4}
    colours = [OUT_COLOUR, ROLE_COLOURS["isolated"], ROLE_COLOURS["housekeeping"], NOT_SET_COLOUR, UNKNOWN_COLOUR]
    n = len(colours)
    scale = []
    for i, colour in enumerate(colours):
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    z, text = [], []
    for row in data["rows"]:
        z.append([codes[row["kind"]] if s == "in" else codes[s] for s in row["cells"]])
        text.append(row["hovers"])
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in data["cpus"]], y=[r["label"] for r in data["rows"]], text=text,
        hoverinfo="text", colorscale=scale, zmin=-0.5, zmax=n - 0.5, showscale=False, xgap=1, ygap=2))
    for name, colour in (("isolated set", ROLE_COLOURS["isolated"]), ("housekeeping set", ROLE_COLOURS["housekeeping"]),
                         ("not in the set", OUT_COLOUR), ("not set", NOT_SET_COLOUR), ("unknown", UNKNOWN_COLOUR)):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker={"color": colour, "size": 12, "symbol": "square",
                                         "line": {"color": "#5f6368", "width": 1}}))
    iso_text = show(iso.isolated)
    fig.update_layout(
        template="plotly_white",
        title={"text": title or f"CPU isolation, configured and in effect<br><sup>isolated: {iso_text} · "
                                f"housekeeping: {show(iso.housekeeping)}</sup>",
               "x": 0, "xanchor": "left", "font": {"size": 14}},
        xaxis={"title": {"text": "CPU (SMT siblings side by side)"}, "type": "category",
               "tickfont": {"size": 9 if len(data["cpus"]) > 48 else 11},
               "showticklabels": len(data["cpus"]) <= 128},
        yaxis={"autorange": "reversed", "type": "category"},
        height=420, margin={"l": 10, "r": 10, "t": 80, "b": 50},
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        meta={"hftinfra": "cpu-isolation"},
    )
    return fig


def _agreement(iso: Isolation) -> dict[str, str]:
    """Configured vs in effect, per setting: 'agrees', or what differs."""
    def cmp(configured, effective) -> str:
        if isinstance(configured, Unread) or isinstance(effective, Unread):
            return "unknown"
        if configured is None:
            return "not configured" + ("" if not effective else f"; in effect anyway: {show(effective)}")
        if configured == effective:
            return "agrees"
        missing = configured - effective
        extra = effective - configured
        parts = ([f"configured but not in effect: {format_cpulist(missing)}"] if missing else []) + (
            [f"in effect but not configured: {format_cpulist(extra)}"] if extra else [])
        return "; ".join(parts)

    return {
        "isolated CPUs": cmp(iso.cmdline_isolcpus, iso.isolated),
        "nohz_full": cmp(iso.cmdline_nohz_full, iso.nohz_full if not isinstance(iso.nohz_full, Unread)
                         or iso.cmdline_nohz_full is not None else frozenset()),
        "systemd CPUAffinity": cmp(iso.systemd_affinity_configured, iso.systemd_affinity),
    }


def isolation_table(iso: Isolation, title: str = "CPU isolation: configured and in effect") -> HtmlTable:
    agree = _agreement(iso)
    flags = iso.cmdline_isolcpus_flags
    flag_text = ",".join(sorted(flags)) if isinstance(flags, frozenset) else show(flags)
    rows = [
        ["isolated CPUs", f"isolcpus={flag_text},{show(iso.cmdline_isolcpus)}"
         if iso.cmdline_isolcpus is not None else "-", show(iso.isolated), agree["isolated CPUs"]],
        ["nohz_full", show(iso.cmdline_nohz_full), show(iso.nohz_full), agree["nohz_full"]],
        ["rcu_nocbs", show(iso.cmdline_rcu_nocbs) + (" + rcu_nocb_poll" if iso.cmdline_rcu_nocb_poll is True else ""),
         "(no sysfs file; see the rcuo kthreads' affinity)", ""],
        ["irqaffinity (default IRQ affinity)", show(iso.cmdline_irqaffinity), "(see /proc/irq/default_smp_affinity)", ""],
        ["systemd CPUAffinity", show(iso.systemd_affinity_configured), show(iso.systemd_affinity),
         agree["systemd CPUAffinity"]],
        ["unbound workqueues", "-", show(iso.workqueue_cpumask), ""],
        ["housekeeping (derived)", "-", show(iso.housekeeping), "online − isolated − nohz_full"],
    ]
    return HtmlTable(title, ["setting", "configured", "in effect", "configured vs in effect"], rows,
                     "'-': not set; unknown values name the file and the reason")


def isolation_compare(hosts: list[tuple[str, Isolation]], title: str = "CPU isolation side by side") -> HtmlTable:
    per = [[show(v) for _, _, v, _ in isolation_rows(iso)] for _, iso in hosts]
    labels = [r[0] for r in isolation_rows(hosts[0][1])]
    return HtmlTable(title, ["setting", *[name for name, _ in hosts]],
                     [[label, *[p[i] for p in per]] for i, label in enumerate(labels)])


def suggest_partition(topo: Topology, node: int | None = None) -> tuple[frozenset[int], frozenset[int]]:
    """A starting point, as (isolated, housekeeping): on ``node`` (default: the last NUMA
    node, or the only one), isolate every whole online core except the node's first; every
    other online CPU stays housekeeping. Whole cores, so an isolated thread never shares a
    core with housekeeping work. On a host with one core nothing is isolated."""
    online = topo.online if isinstance(topo.online, frozenset) else frozenset(
        c.id for c in topo.cpus if c.online is True)
    nodes = [n for n in topo.numa_nodes if isinstance(n.cpus, frozenset) and n.cpus]
    if node is None:
        pool = nodes[-1].cpus if nodes else online
    else:
        match = [n for n in nodes if n.node == node]
        if not match:
            raise ValueError(f"no NUMA node {node} with readable CPUs on this host")
        pool = match[0].cpus
    cores = [core & online for core in topo.cores if core & pool & online]
    isolated = frozenset().union(*cores[1:]) if len(cores) > 1 else frozenset()
    return isolated, online - isolated


def isolation_fix(isolated: frozenset[int], housekeeping: frozenset[int], nr_cpus: int) -> str:
    """The configuration for a partition, as text: kernel parameters, systemd, run-time
    masks. Nothing is run."""
    if not isolated:
        return "# nothing to isolate: this host has a single core (or none readable)"
    iso, hk = format_cpulist(isolated), format_cpulist(housekeeping)
    params = f"isolcpus=managed_irq,domain,{iso} nohz_full={iso} rcu_nocbs={iso} rcu_nocb_poll irqaffinity={hk}"
    return "\n".join([
        "# 1. Kernel command line (reboot needed). Debian/Ubuntu: GRUB_CMDLINE_LINUX in /etc/default/grub,",
        "#    then update-grub. RHEL: grubby, as below. (tuned's realtime profile writes the isolcpus= part;",
        "#    cpu-partitioning writes nohz_full= and rcu_nocbs=, not the isolcpus flags or irqaffinity=.)",
        f'grubby --update-kernel=ALL --args="{params}"',
        "",
        "# 2. systemd and every service it starts on the housekeeping CPUs (systemd-system.conf(5)):",
        "mkdir -p /etc/systemd/system.conf.d",
        f"printf '[Manager]\\nCPUAffinity={hk.replace(',', ' ')}\\n' > /etc/systemd/system.conf.d/50-housekeeping.conf",
        "",
        "# 3. At run time, until the reboot (core-api/workqueue.rst; core-api/irq/irq-affinity.rst):",
        f"echo {format_cpumask(housekeeping, nr_cpus)} > /sys/devices/virtual/workqueue/cpumask",
        f"echo {format_cpumask(housekeeping, nr_cpus)} > /proc/irq/default_smp_affinity",
    ])


# ---- frequency and idle ------------------------------------------------------------------


def _mhz(value) -> float | None:
    return value / 1000 if isinstance(value, int) else None


def frequency_figure(freq: Frequency, title: str | None = None):
    """Per CPU: the hardware range (thin grey), the governor's window scaling_min..max
    (thick), and the current frequency (dot), in MHz; colour by governor."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if freq.has_cpufreq is not True:
        why = ("no cpufreq driver on this host: the hypervisor or firmware owns frequency"
               if freq.has_cpufreq is False else str(freq.has_cpufreq))
        fig.add_annotation(text=why, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           font={"size": 13, "color": UNKNOWN_COLOUR})
        fig.update_layout(template="plotly_white", height=220, xaxis={"visible": False}, yaxis={"visible": False},
                          title={"text": title or "CPU frequency", "x": 0, "xanchor": "left", "font": {"size": 14}},
                          meta={"hftinfra": "cpu-frequency"})
        return fig
    palette = ["#0f9d58", "#e8710a", "#4285f4", "#a142f4", "#b3261e"]
    governors = sorted({c.governor for c in freq.cpus if isinstance(c.governor, str)})
    colour = {g: palette[i % len(palette)] for i, g in enumerate(governors)}
    xs = [str(c.cpu) for c in freq.cpus]
    hw_x, hw_y, win = [], [], {g: ([], []) for g in governors}
    notes = []
    for c in freq.cpus:
        lo, hi = _mhz(c.hw_min_khz), _mhz(c.hw_max_khz)
        if lo is not None and hi is not None:
            hw_x += [str(c.cpu), str(c.cpu), None]
            hw_y += [lo, hi, None]
        smin, smax = _mhz(c.min_khz), _mhz(c.max_khz)
        if isinstance(c.governor, str) and smin is not None and smax is not None:
            win[c.governor][0].extend([str(c.cpu), str(c.cpu), None])
            win[c.governor][1].extend([smin, smax, None])
        else:
            bad = next(v for v in (c.governor, c.min_khz, c.max_khz) if isinstance(v, Unread))
            notes.append(f"CPU {c.cpu}: {bad}")
    fig.add_trace(go.Scatter(x=hw_x, y=hw_y, mode="lines", name="hardware range (cpuinfo_min..max)",
                             line={"color": "#bdc1c6", "width": 3}, hoverinfo="skip"))
    for g in governors:
        gx, gy = win[g]
        fig.add_trace(go.Scatter(x=gx, y=gy, mode="lines+markers", name=f"{g}: scaling_min..max",
                                 line={"color": colour[g], "width": 9}, marker={"size": 4, "color": colour[g]}))
    cur = [(str(c.cpu), _mhz(c.cur_khz)) for c in freq.cpus if _mhz(c.cur_khz) is not None]
    fig.add_trace(go.Scatter(x=[x for x, _ in cur], y=[y for _, y in cur], mode="markers", name="current",
                             marker={"color": "#202124", "size": 6, "symbol": "diamond"}))
    turbo = freq.turbo_enabled
    subtitle = (f"driver {', '.join(sorted(freq.drivers)) or 'unknown'} · turbo "
                f"{'on' if turbo is True else 'off' if turbo is False else 'unknown'}")
    if not isinstance(freq.min_perf_pct, Unread):
        subtitle += f" · intel_pstate min_perf_pct {freq.min_perf_pct}"
    fig.update_layout(
        template="plotly_white",
        title={"text": title or f"CPU frequency limits per CPU<br><sup>{subtitle}</sup>", "x": 0,
               "xanchor": "left", "font": {"size": 14}},
        xaxis={"title": {"text": "CPU"}, "type": "category", "categoryorder": "array", "categoryarray": xs,
               "showticklabels": len(xs) <= 128},
        yaxis={"title": {"text": "MHz"}, "rangemode": "tozero"},
        height=380 + 16 * min(len(notes), 8), margin={"l": 10, "r": 10, "t": 80, "b": 60 + 16 * min(len(notes), 8)},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        annotations=[{"text": "<br>".join(f"unknown: {n}" for n in notes[:8]) + (
            f"<br>… and {len(notes) - 8} more" if len(notes) > 8 else ""), "xref": "paper", "yref": "paper",
            "x": 0, "y": 0, "yshift": -50, "yanchor": "top", "xanchor": "left", "showarrow": False,
            "align": "left", "font": {"size": 11, "color": UNKNOWN_COLOUR}}] if notes else [],
        meta={"hftinfra": "cpu-frequency"},
    )
    return fig


def idle_state_summary(idle: Idle) -> list[dict]:
    """Per state index: name, exit latency, target residency, CPUs where it is enabled,
    disabled, unknown, and its share of all idle time (None when a counter is unread)."""
    by_index: dict[int, dict] = {}
    total_time = 0
    time_known = True
    for c in idle.cpus:
        if isinstance(c.states, Unread):
            continue
        for s in c.states:
            row = by_index.setdefault(s.index, {
                "index": s.index, "name": s.name if isinstance(s.name, str) else f"state{s.index}",
                "latency_us": s.latency_us, "residency_us": s.residency_us, "enabled": set(), "disabled": set(),
                "unknown": set(), "time_us": 0})
            key = "enabled" if s.disabled is False else "disabled" if s.disabled is True else "unknown"
            row[key].add(c.cpu)
            if isinstance(s.time_us, int):
                row["time_us"] += s.time_us
                total_time += s.time_us
            else:
                time_known = False
    rows = [by_index[i] for i in sorted(by_index)]
    for row in rows:
        row["share"] = (row["time_us"] / total_time if total_time else None) if time_known else None
    return rows


def idle_states_figure(idle: Idle, title: str | None = None):
    """Exit latency of each idle state (log scale), coloured by whether CPUs may enter it,
    with the share of idle time spent in it since boot."""
    import plotly.graph_objects as go

    rows = idle_state_summary(idle)
    fig = go.Figure()
    names = [f"{r['name']} (state{r['index']})" for r in rows]
    # log axis: a 0 us state (POLL) is drawn at 0.1 us and labelled with its real value.
    lat = [max(r["latency_us"], 0.1) if isinstance(r["latency_us"], int) else None for r in rows]
    colours = [ROLE_COLOURS["housekeeping"] if r["enabled"] and not r["disabled"] else
               ROLE_COLOURS["isolated"] if r["disabled"] and not r["enabled"] else
               UNKNOWN_COLOUR if r["unknown"] and not (r["enabled"] or r["disabled"]) else "#fbbc04"
               for r in rows]
    texts = []
    for r in rows:
        state = ("enabled on all CPUs" if r["enabled"] and not r["disabled"] and not r["unknown"] else
                 "disabled on all CPUs" if r["disabled"] and not r["enabled"] and not r["unknown"] else
                 f"enabled {format_cpulist(r['enabled']) or '-'}, disabled {format_cpulist(r['disabled']) or '-'}")
        share = f"{r['share']:.1%} of idle time" if r["share"] is not None else "time unknown"
        texts.append(f"{show(r['latency_us'])} us exit · {show(r['residency_us'])} us residency<br>{state} · {share}")
    fig.add_trace(go.Bar(x=names, y=lat, marker={"color": colours}, hovertext=texts, hoverinfo="text",
                         text=[f"{show(r['latency_us'])} us" for r in rows], textposition="outside",
                         name="exit latency", showlegend=False))
    for name, colour in (("enabled", ROLE_COLOURS["housekeeping"]), ("disabled", ROLE_COLOURS["isolated"]),
                         ("mixed", "#fbbc04")):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker={"color": colour, "size": 12, "symbol": "square"}))
    qos = idle.pm_qos_latency_us
    sub = f"cpuidle driver {show(idle.driver)}, governor {show(idle.governor)}"
    if isinstance(qos, int):
        sub += " · /dev/cpu_dma_latency " + ("not held" if qos == PM_QOS_DEFAULT_LATENCY_US else f"{qos} us")
        if qos != PM_QOS_DEFAULT_LATENCY_US and qos >= 0:
            fig.add_hline(y=max(qos, 0.1), line={"dash": "dash", "color": "#5f6368"},
                          annotation_text=f"PM QoS limit {qos} us: deeper states are skipped",
                          annotation_position="top left")
    else:
        sub += f" · /dev/cpu_dma_latency {qos}"
    fig.update_layout(
        template="plotly_white",
        title={"text": title or f"Idle states: exit latency<br><sup>{sub}</sup>", "x": 0, "xanchor": "left",
               "font": {"size": 14}},
        yaxis={"type": "log", "title": {"text": "exit latency (us, log)"}},
        xaxis={"title": {"text": "state"}},
        height=380, margin={"l": 10, "r": 10, "t": 80, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        meta={"hftinfra": "cpu-idle-states"},
    )
    if not rows:
        fig.add_annotation(text=f"no idle states readable: {show(idle.cpus[0].states) if idle.cpus else 'no CPUs'}",
                           x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           font={"color": UNKNOWN_COLOUR})
    return fig


def idle_residency_figure(idle: Idle, title: str | None = None):
    """Per CPU, the share of its idle time spent in each state since boot (cpuidle
    ``time``): on a tuned host the deep states are (nearly) empty everywhere."""
    import plotly.graph_objects as go

    palette = ["#0f9d58", "#4285f4", "#fbbc04", "#e8710a", "#b3261e", "#a142f4", "#5f6368", "#00838f"]
    names = idle.state_names()
    fig = go.Figure()
    cpus, shares, notes = [], [], []
    for c in idle.cpus:
        if isinstance(c.states, Unread):
            notes.append(f"CPU {c.cpu}: {c.states}")
            continue
        times = [s.time_us for s in c.states]
        bad = [t for t in times if isinstance(t, Unread)]
        if bad:
            notes.append(f"CPU {c.cpu}: {bad[0]}")
            continue
        total = sum(times)
        cpus.append(str(c.cpu))
        shares.append([t / total if total else 0.0 for t in times] if total else None)
    for i, name in enumerate(names):
        ys = [(s[i] * 100 if s is not None and i < len(s) else None) for s in shares]
        fig.add_trace(go.Bar(x=cpus, y=ys, name=name, marker={"color": palette[i % len(palette)]},
                             hovertemplate=f"CPU %{{x}}: {name} %{{y:.1f}}% of idle time<extra></extra>"))
    fig.update_layout(
        barmode="stack", template="plotly_white",
        title={"text": title or "Where each CPU's idle time went (since boot)", "x": 0, "xanchor": "left",
               "font": {"size": 14}},
        xaxis={"title": {"text": "CPU"}, "type": "category", "showticklabels": len(cpus) <= 128},
        yaxis={"title": {"text": "% of idle time"}, "range": [0, 100]},
        height=360 + 16 * min(len(notes), 8), margin={"l": 10, "r": 10, "t": 60, "b": 60 + 16 * min(len(notes), 8)},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        annotations=[{"text": "<br>".join(f"unknown: {n}" for n in notes[:8]), "xref": "paper", "yref": "paper",
                      "x": 0, "y": 0, "yshift": -50, "yanchor": "top", "xanchor": "left", "showarrow": False,
                      "align": "left", "font": {"size": 11, "color": UNKNOWN_COLOUR}}] if notes else [],
        meta={"hftinfra": "cpu-idle-residency"},
    )
    return fig


def _uniform(values) -> str:
    known = {show(v) for v in values}
    if not known:
        return "-"
    return known.pop() if len(known) == 1 else "mixed: " + ", ".join(sorted(known))


def power_rows(freq: Frequency, idle: Idle) -> list[tuple[str, str, str]]:
    """(setting, value in effect, source)."""
    cp = freq.cpus
    qos = idle.pm_qos_latency_us
    deepest = [c.max_enabled_latency_us for c in idle.cpus]
    return [
        ("cpufreq driver", "none (no cpufreq driver)" if freq.has_cpufreq is False else _uniform(c.driver for c in cp),
         "cpuN/cpufreq/scaling_driver"),
        ("governor", _uniform(c.governor for c in cp), "cpuN/cpufreq/scaling_governor"),
        ("scaling min / max (kHz)", f"{_uniform(c.min_khz for c in cp)} / {_uniform(c.max_khz for c in cp)}",
         "cpuN/cpufreq/scaling_{min,max}_freq"),
        ("turbo", show(freq.turbo_enabled), "intel_pstate/no_turbo or cpufreq/boost"),
        ("intel_pstate status", show(freq.intel_pstate_status), "intel_pstate/status"),
        ("intel_pstate min_perf_pct", show(freq.min_perf_pct), "intel_pstate/min_perf_pct"),
        ("EPP", _uniform(c.epp for c in cp), "cpuN/cpufreq/energy_performance_preference"),
        ("EPB", _uniform(c.epb for c in cp), "cpuN/power/energy_perf_bias"),
        ("cpuidle driver / governor", f"{show(idle.driver)} / {show(idle.governor)}", "cpuidle/current_*"),
        ("deepest enabled state exit latency (us)", _uniform(deepest), "cpuN/cpuidle/stateM/{latency,disable}"),
        ("PM QoS CPU latency (/dev/cpu_dma_latency)",
         "not held (default)" if qos == PM_QOS_DEFAULT_LATENCY_US else show(qos) + (" us" if isinstance(qos, int) else ""),
         "/dev/cpu_dma_latency"),
        ("intel_idle.max_cstate= / processor.max_cstate= / idle=",
         f"{show(idle.cmdline_intel_idle_max_cstate)} / {show(idle.cmdline_processor_max_cstate)} / "
         f"{show(idle.cmdline_idle)}", "/proc/cmdline"),
    ]


def power_table(freq: Frequency, idle: Idle, title: str = "Frequency and idle settings") -> HtmlTable:
    return HtmlTable(title, ["setting", "in effect", "source"], [list(r) for r in power_rows(freq, idle)],
                     "'mixed' lists the distinct values across CPUs")


def power_compare(hosts: list[tuple[str, Frequency, Idle]], title: str = "Power settings side by side") -> HtmlTable:
    per = [power_rows(f, i) for _, f, i in hosts]
    return HtmlTable(title, ["setting", *[h[0] for h in hosts]],
                     [[per[0][k][0], *[p[k][1] for p in per]] for k in range(len(per[0]))])


def power_fix(freq: Frequency, idle: Idle) -> str:
    """Run-time commands that bring this host's frequency and idle settings to the
    latency-performance shape; text only, nothing is run."""
    if freq.has_cpufreq is False:
        lines = ["# No cpufreq driver: frequency belongs to the hypervisor or the firmware (BIOS power profile).",
                 "# Nothing to set from this OS."]
    else:
        lines = ["# Frequency (admin-guide/pm/cpufreq.rst, intel_pstate.rst); cpupower(1) does the same:",
                 "for g in /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; do echo performance > $g; done"]
        if any(isinstance(c.epp, str) for c in freq.cpus):
            lines.append("for e in /sys/devices/system/cpu/cpu*/cpufreq/energy_performance_preference; "
                         "do echo performance > $e; done")
        if not isinstance(freq.min_perf_pct, Unread):
            lines.append("echo 100 > /sys/devices/system/cpu/intel_pstate/min_perf_pct")
        if not isinstance(freq.no_turbo, Unread):
            lines.append("# turbo off for a constant frequency (or leave it on, and accept frequency changes):")
            lines.append("echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo")
    deep = [r for r in idle_state_summary(idle) if isinstance(r["latency_us"], int) and r["latency_us"] > 2]
    lines += ["", "# Idle states (admin-guide/pm/cpuidle.rst): disable the deep ones at run time ..."]
    if deep:
        for r in deep:
            lines.append(f"for d in /sys/devices/system/cpu/cpu*/cpuidle/state{r['index']}/disable; "
                         f"do echo 1 > $d; done   # {r['name']}, {r['latency_us']} us exit")
    else:
        lines.append("# (no state deeper than 2 us exit latency here)")
    lines += ["# ... or hold a PM QoS request while the trading process runs (power/pm_qos_interface.rst),",
              "# e.g. tuned's latency-performance profile (force_latency), or in the process itself:",
              "#   fd = open('/dev/cpu_dma_latency', 'wb', buffering=0); fd.write((2).to_bytes(4, 'little'))",
              "# ... or at boot: intel_idle.max_cstate=1 (intel_idle) or processor.max_cstate=1 (acpi_idle)."]
    return "\n".join(lines)


# ---- the BIOS checklist ------------------------------------------------------------------


def bios_checklist(topo: Topology, freq: Frequency, idle: Idle, platform: Platform) -> HtmlTable:
    """Firmware settings for low latency, each with what the OS can verify and how, and
    what this host shows. Some settings leave no trace the OS can read: said plainly."""
    flags = platform.cpu_flags
    def flag(name: str) -> str:
        v = platform.has_flag(name)
        return show(v) if isinstance(v, Unread) else ("present" if v else "absent")

    names = idle.state_names()
    deep_enabled = [r["name"] for r in idle_state_summary(idle)
                    if isinstance(r["latency_us"], int) and r["latency_us"] > 2 and r["enabled"]]
    c1e = [r for r in idle_state_summary(idle) if r["name"] == "C1E"]
    turbo = freq.turbo_enabled
    hw_max = {c.hw_max_khz for c in freq.cpus if isinstance(c.hw_max_khz, int)}
    base = {c.base_khz for c in freq.cpus if isinstance(c.base_khz, int)}
    virt = "hypervisor" in flags if isinstance(flags, frozenset) else None
    rows = [
        ["Power profile: maximum performance, OS control of P-states (HWP native)",
         "the cpufreq driver and whether intel_pstate runs with HWP",
         "scaling_driver; /sys/devices/system/cpu/intel_pstate/status; cpuinfo flag hwp",
         f"driver {', '.join(sorted(freq.drivers)) or show(freq.has_cpufreq) if freq.has_cpufreq is not False else 'none'}"
         f", intel_pstate {show(freq.intel_pstate_status)}, hwp flag {flag('hwp')}"],
        ["C-states: limit to C1 (or let the OS do it)",
         "which idle states the kernel offers and how often each was entered",
         "cpuidle/stateN/{name,latency,usage}; turbostat for package C-states (MSR counters)",
         f"states {', '.join(names) or 'none readable'}; deep states still enabled: "
         f"{', '.join(deep_enabled) or 'none'}"],
        ["C1E (enhanced halt): disabled",
         "only as an idle state when intel_idle lists it; the BIOS switch is MSR_POWER_CTL bit 1",
         "cpuidle state named C1E; rdmsr 0x1fc (msr-tools, root)",
         "C1E " + ("absent from the idle states" if not c1e else
                   f"enabled on {format_cpulist(c1e[0]['enabled']) or 'no CPU'}")],
        ["Turbo: decided per host (on for speed, off for a constant frequency)",
         "turbo state, and whether cpuinfo_max_freq exceeds the base frequency",
         "intel_pstate/no_turbo (reads 1 and refuses 0 when the BIOS disabled turbo); cpufreq/boost",
         f"turbo {show(turbo)}; max {sorted(hw_max)[-1] // 1000 if hw_max else '?'} MHz, base "
         f"{sorted(base)[-1] // 1000 if base else '?'} MHz"],
        ["SMT (Hyper-Threading): off, or isolate whole cores",
         "SMT state; 'notsupported' when the BIOS hid the second threads",
         "/sys/devices/system/cpu/smt/{control,active}; thread_siblings_list",
         f"control {show(topo.smt_control)}, active {show(topo.smt_active)}, threads per core {show(topo.threads_per_core)}"],
        ["HPET on, TSC invariant; the kernel must keep TSC as clocksource",
         "clocksources offered and in use; TSC flags",
         "clocksource0/{current,available}_clocksource; cpuinfo constant_tsc nonstop_tsc",
         f"current {show(platform.clocksource)}, available {' '.join(platform.available_clocksources) if isinstance(platform.available_clocksources, tuple) else show(platform.available_clocksources)}; "
         f"constant_tsc {flag('constant_tsc')}, nonstop_tsc {flag('nonstop_tsc')}"],
        ["VT-x / VT-d: off unless a workload needs them (VT-d: DMA remapping costs on I/O)",
         "VT-x: the vmx flag disappears when the BIOS locks it off (kernel 5.6+); VT-d: IOMMU units registered",
         "cpuinfo flags vmx/svm; /sys/class/iommu/*",
         f"vmx {flag('vmx')}, svm {flag('svm')}; IOMMU units: "
         f"{', '.join(platform.iommus) if isinstance(platform.iommus, tuple) and platform.iommus else 'none' if isinstance(platform.iommus, tuple) else show(platform.iommus)}"],
        ["Hardware watchdog (BMC/TCO): off, or not serviced by an interrupt on isolated CPUs",
         "watchdog devices a driver registered",
         "/sys/class/watchdog/*; the kernel's own watchdogs are on the kernel-noise page",
         ", ".join(platform.watchdogs) if isinstance(platform.watchdogs, tuple) and platform.watchdogs else
         "none registered" if isinstance(platform.watchdogs, tuple) else show(platform.watchdogs)],
        ["Fan policy: maximum cooling / performance",
         "nothing: fans are the BMC's; the OS sees only the effect (throttling)",
         "ipmitool sensor / the BMC web UI; thermal_throttle counters, turbostat",
         "not visible to the OS"],
        ["Uncore frequency: fixed at maximum",
         "the uncore limits when the intel_uncore_frequency driver is loaded",
         "/sys/devices/system/cpu/intel_uncore_frequency/*/{min,max}_freq_khz",
         (f"{len(platform.uncore_frequency)} uncore domains" if isinstance(platform.uncore_frequency, tuple)
          else show(platform.uncore_frequency))],
    ]
    note = ("On a virtual machine (cpuinfo flag 'hypervisor') none of this is the guest's: the host's BIOS decides."
            if virt else "Verify after every BIOS update: vendors reset profiles.")
    return HtmlTable("BIOS checklist: what the OS can verify", ["setting (recommended)", "what the OS can see",
                                                                 "how to check", "this host"], rows, note)


__all__ = [
    "bios_checklist", "frequency_figure", "idle_residency_figure", "idle_state_summary", "idle_states_figure",
    "isolation_compare", "isolation_figure", "isolation_fix", "isolation_matrix", "isolation_rows",
    "isolation_table", "power_compare", "power_fix", "power_rows", "power_table", "suggest_partition",
]
