"""Interrupt and NIC queue views: interrupt rates per CPU as a heatmap, the chain NIC queue ->
IRQ -> CPU -> NUMA node as a Sankey diagram, and the RPS/RFS/XPS maps of every queue.

The heatmap draws rates from :func:`hftinfra.measure.interrupts.sample_interrupts` (a live
host, over a window). A snapshot holds one reading of the counters, so there it draws the
cumulative counts of ``/proc/interrupts`` instead and says "since boot" in its title, its
colour bar and every hover text: a count is never passed off as a rate. A host with
hundreds of CPUs and thousands of IRQs stays readable: only the ``top`` busiest sources are
drawn (device IRQs that reach an isolated CPU first), and the figure says how many were left
out and what they add up to.

Values that could not be read are drawn as grey cells or "unknown" nodes, never as 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from hftinfra.cpulist import format_cpulist
from hftinfra.host import Unread
from hftinfra.irq import Interrupts, IrqCounts, QueueChain, QueueLink, Softirqs, cpu_node_map
from hftinfra.measure.interrupts import SYSTEM_WIDE, InterruptRates
from hftinfra.records import show
from hftinfra.viz import ROLE_COLOURS
from hftinfra.viz.topology import HtmlTable

TOP_SOURCES = 40
LABEL_CHARS = 38
UNKNOWN_CELL = "#dadce0"
CROSS_NODE_COLOUR = "#202124"
# White for zero, then a sequential scale (light to dark) on a log axis.
RATE_SCALE = [[0.0, "#ffffff"], [1e-9, "#ffffd9"], [0.2, "#c7e9b4"], [0.4, "#41b6c4"], [0.6, "#225ea8"],
              [0.8, "#253494"], [1.0, "#081d58"]]
KIND_ORDER = {"irq": 0, "arch": 1, "softirq": 2}

RATES = "rates"
SINCE_BOOT = "since boot"


# ---- roles and CPU order -------------------------------------------------------------------


def cpu_roles(isolation, cpus: Iterable[int]) -> dict[int, str]:
    """CPU -> role. ``isolation`` is a cpu.isolation record (its roles), a set of isolated
    CPUs (every other CPU then does housekeeping), or None (roles unknown)."""
    cpus = list(cpus)
    if isinstance(isolation, frozenset | set):
        return {c: "isolated" if c in isolation else "housekeeping" for c in cpus}
    roles = getattr(isolation, "roles", None)
    roles = roles if isinstance(roles, dict) else {}
    return {c: roles.get(c, "unknown") if roles.get(c, "unknown") in ROLE_COLOURS else "unknown" for c in cpus}


def _node_map(topology) -> dict[int, int]:
    if topology is None:
        return {}
    nodes = cpu_node_map(topology)
    return nodes if isinstance(nodes, dict) else {}


def cpu_order(cpus: Iterable[int], nodes: dict[int, int]) -> list[int]:
    """NUMA node, then CPU number; CPUs on no known node last."""
    return sorted(set(cpus), key=lambda c: (nodes.get(c, 1 << 30), c))


# ---- the heatmap's data --------------------------------------------------------------------


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row_label(kind: str, source: str, label: str) -> str:
    if kind == "softirq":
        return f"softirq {source}"
    return _short(f"{source}: {label}" if label else source)


def _from_rates(rates: InterruptRates, softirqs: bool) -> tuple[dict, list[str]]:
    kinds = {"irq", "arch"} | ({"softirq"} if softirqs else set())
    table: dict[tuple[str, str], dict] = {}
    notes: list[str] = []
    for r in rates.rates:
        if r.kind not in kinds:
            continue
        if r.cpu == SYSTEM_WIDE:
            if r.delta:
                notes.append(f"{r.source} (one system-wide count): {r.per_second:.1f}/s")
            continue
        entry = table.setdefault((r.kind, r.source), {"label": r.label, "values": {}})
        entry["values"][r.cpu] = r.per_second
    for unread in (rates.interrupts_unread, rates.softirqs_unread if softirqs else None):
        if unread is not None:
            notes.append(f"unknown: {unread}")
    notes += [f"left out: {why}" for why in rates.left_out[:3]]
    if len(rates.left_out) > 3:
        notes.append(f"left out: {len(rates.left_out) - 3} more rows or CPUs seen in only one reading")
    return table, notes


def _from_counts(counts, softirqs: bool) -> tuple[dict, list[str], Unread | None]:
    interrupts = counts.interrupts if isinstance(counts, IrqCounts) else counts
    soft = counts.softirqs if isinstance(counts, IrqCounts) else None
    table: dict[tuple[str, str], dict] = {}
    notes: list[str] = []
    unread = None
    if isinstance(interrupts, Interrupts):
        for row in interrupts.rows:
            if not row.per_cpu:
                if row.total:
                    notes.append(f"{row.key} (one system-wide count): {row.total} since boot")
                continue
            kind = "irq" if row.numbered else "arch"
            table[(kind, str(row.key))] = {"label": row.label, "values": dict(row.counts)}
    elif isinstance(interrupts, Unread):
        unread = interrupts
        notes.append(f"unknown: {interrupts}")
    if softirqs:
        if isinstance(soft, Softirqs):
            for srow in soft.rows:
                table[("softirq", srow.name)] = {"label": "", "values": dict(srow.counts)}
        elif isinstance(soft, Unread):
            notes.append(f"unknown: {soft}")
    return table, notes, unread


def interrupt_matrix(rates: InterruptRates | Unread | None, counts: IrqCounts | Interrupts | Unread | None = None,
                     topology=None, isolation=None, top: int = TOP_SOURCES, softirqs: bool = False) -> dict:
    """The data behind :func:`interrupt_heatmap`.

    ``rates`` is what ``sample_interrupts`` returned; where it is an Unread (a snapshot) or
    None, ``counts`` (``irq.interrupts``) gives the cumulative counts since boot instead, and
    ``mode`` says so. Returns a dict: ``mode`` (``"rates"`` or ``"since boot"``),
    ``window_s``, ``cpus`` (ordered by NUMA node), ``nodes`` and ``roles`` per CPU, ``rows``
    (each ``kind``, ``source``, ``label``, ``values`` per CPU with None where not read,
    ``total``, ``on_isolated``), ``left_out`` (sources not drawn: ``count``, ``total``,
    ``silent``), ``notes`` and ``unread`` (why nothing could be drawn, or None)."""
    notes: list[str] = []
    unread: Unread | None = None
    window_s = None
    if isinstance(rates, InterruptRates):
        mode = RATES
        window_s = rates.window_s
        table, notes = _from_rates(rates, softirqs)
    else:
        mode = SINCE_BOOT
        if isinstance(rates, Unread):
            notes.append(f"no rates: {rates.detail or rates}")
        if counts is None:
            table = {}
            unread = rates if isinstance(rates, Unread) else None
        else:
            table, more, unread = _from_counts(counts, softirqs)
            notes += more
    nodes = _node_map(topology)
    cpus = cpu_order((c for e in table.values() for c in e["values"]), nodes)
    roles = cpu_roles(isolation, cpus)
    isolated = {c for c, r in roles.items() if r == "isolated"}
    rows = []
    silent = 0
    for (kind, source), entry in table.items():
        values = entry["values"]
        total = sum(values.values())
        if not total:
            silent += 1
            continue
        rows.append({"kind": kind, "source": source, "label": _row_label(kind, source, entry["label"]),
                     "actions": entry["label"], "values": [values.get(c) for c in cpus], "total": total,
                     "on_isolated": sum(v for c, v in values.items() if c in isolated)})
    # Device IRQs that reach an isolated CPU are what the page is about: never left out for
    # a busier source elsewhere. Then the busiest of the rest.
    hitting = sorted((r for r in rows if r["kind"] == "irq" and r["on_isolated"]), key=lambda r: -r["on_isolated"])
    chosen = hitting[:top]
    taken = {id(r) for r in chosen}
    for r in sorted(rows, key=lambda r: -r["total"]):
        if len(chosen) >= top:
            break
        if id(r) not in taken:
            chosen.append(r)
            taken.add(id(r))
    dropped = [r for r in rows if id(r) not in taken]

    position = {key: i for i, key in enumerate(table)}

    def order(r):
        number = int(r["source"]) if r["source"].isdigit() else 0
        return (KIND_ORDER[r["kind"]], number, position[(r["kind"], r["source"])])

    chosen.sort(key=order)
    return {"mode": mode, "window_s": window_s, "cpus": cpus, "nodes": [nodes.get(c) for c in cpus],
            "roles": [roles[c] for c in cpus], "rows": chosen,
            "left_out": {"count": len(dropped), "total": sum(r["total"] for r in dropped), "silent": silent},
            "notes": notes, "unread": unread}


# ---- the heatmap -----------------------------------------------------------------------------


def _fmt(value: float, mode: str) -> str:
    if mode == RATES:
        return f"{value:,.1f}/s" if value < 100 else f"{value:,.0f}/s"
    return f"{int(value):,} since boot"


def _log_ticks(vmax: float) -> tuple[list[float], list[str]]:
    vals, text = [0.0], ["0"]
    step = 1
    while step <= max(vmax, 1) * 10:
        vals.append(math.log10(1 + step))
        text.append(f"{step:,}" if step < 1000 else (f"{step // 1000:,}k" if step < 10**6 else f"{step // 10**6:,}M"))
        step *= 10
    return vals, text


def _footnotes(data: dict) -> list[str]:
    mode, left = data["mode"], data["left_out"]
    foot = []
    if data["unread"] is not None and not data["rows"]:
        foot.append(f"nothing to draw: {data['unread']}")
    if left["count"]:
        foot.append(f"{left['count']} more sources not drawn (together {_fmt(left['total'], mode)})")
    if left["silent"]:
        foot.append(f"{left['silent']} sources at 0 {'in the window' if mode == RATES else 'since boot'} not drawn")
    return foot + data["notes"][:6]


def interrupt_heatmap(rates: InterruptRates | Unread | None, counts: IrqCounts | Interrupts | Unread | None = None,
                      topology=None, isolation=None, top: int = TOP_SOURCES, softirqs: bool = False,
                      title: str | None = None):
    """Sources (rows: device IRQs by number and name, then LOC, RES, CAL, TLB, ...) by CPU
    (columns, grouped by NUMA node), coloured on a log scale. A strip above marks each CPU's
    role (isolated orange, housekeeping blue); a cross marks a device IRQ that fired on an
    isolated CPU. On a snapshot the cells are cumulative counts since boot (see the module
    docstring); grey cells were not read."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    data = interrupt_matrix(rates, counts, topology, isolation, top, softirqs)
    mode, cpus, rows = data["mode"], data["cpus"], data["rows"]
    foot = _footnotes(data)
    # Pixel budget: title, role strip, one line per source, axis, legend, footnotes.
    top_px, strip_px, row_px, axis_px, legend_px = 100, 16, 16, 58, 26
    body_px = row_px * max(len(rows), 5)
    bottom_px = axis_px + legend_px + 15 * len(foot) + 8
    height = top_px + strip_px + 6 + body_px + bottom_px
    plot_px = strip_px + 6 + body_px
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=6 / plot_px,
                        row_heights=[strip_px / plot_px, body_px / plot_px])
    xs = [str(c) for c in cpus]
    role_list = ["isolated", "housekeeping", "offline", "unknown"]
    role_scale = []
    for i, role in enumerate(role_list):
        role_scale += [[i / 4, ROLE_COLOURS[role]], [(i + 1) / 4, ROLE_COLOURS[role]]]
    node_text = [f"node {n}" if n is not None else "node unknown" for n in data["nodes"]]
    fig.add_trace(go.Heatmap(
        z=[[role_list.index(r) for r in data["roles"]]], x=xs, y=["role"], zmin=-0.5, zmax=3.5,
        colorscale=role_scale, showscale=False, hoverinfo="text",
        text=[[f"CPU {c}: {r} ({nt})" for c, r, nt in zip(cpus, data["roles"], node_text, strict=True)]]),
        row=1, col=1)
    vmax = max((v for r in rows for v in r["values"] if v is not None), default=0)
    # Per cell only numbers (log value, raw value): a 512-CPU host keeps its page small.
    z, raw = [], []
    for r in rows:
        z.append([round(math.log10(1 + v), 3) if v is not None else None for v in r["values"]])
        raw.append([(round(v, 1) if mode == RATES else int(v)) if v is not None else None for v in r["values"]])
    tickvals, ticktext = _log_ticks(vmax)
    value = "%{customdata:,.1f}/s" if mode == RATES else "%{customdata:,} since boot"
    fig.add_trace(go.Heatmap(
        z=z, x=xs, y=[r["label"] for r in rows], customdata=raw, hoverongaps=False,
        hovertemplate=f"%{{y}}<br>CPU %{{x}}: {value}<extra></extra>", colorscale=RATE_SCALE,
        zmin=0, zmax=tickvals[-1], xgap=1 if len(cpus) <= 64 else 0, ygap=1 if len(rows) <= 60 else 0,
        colorbar={"title": {"text": "per s" if mode == RATES else "since boot", "side": "right"},
                  "tickvals": tickvals, "ticktext": ticktext, "lenmode": "pixels",
                  "len": max(100, min(260, body_px)), "y": 0, "yanchor": "bottom", "thickness": 14},
        name="interrupts per second" if mode == RATES else "interrupts since boot"), row=2, col=1)
    # Device IRQs on isolated CPUs, marked where they fired.
    mx, my, mt = [], [], []
    for r in rows:
        if r["kind"] != "irq":
            continue
        for c, v, role in zip(cpus, r["values"], data["roles"], strict=True):
            if v and role == "isolated":
                mx.append(str(c))
                my.append(r["label"])
                mt.append(f"device IRQ {r['source']} on isolated CPU {c}: {_fmt(v, mode)}")
    if mx:
        fig.add_trace(go.Scatter(x=mx, y=my, mode="markers", name="device IRQ on an isolated CPU",
                                 marker={"symbol": "x-thin", "size": 9, "line": {"width": 2, "color": "#e8710a"}},
                                 hovertext=mt, hoverinfo="text", cliponaxis=True), row=2, col=1)
    for role in role_list:
        if role in data["roles"]:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"{role} CPU", hoverinfo="skip",
                                     marker={"color": ROLE_COLOURS[role], "size": 11, "symbol": "square"}),
                          row=1, col=1)
    # NUMA node boundaries, and each node's name above its CPUs.
    shapes, annotations = [], []
    known = any(n is not None for n in data["nodes"])
    start = 0
    for i in range(1, len(cpus) + 1):
        if i == len(cpus) or data["nodes"][i] != data["nodes"][start]:
            if known:
                annotations.append({"x": (start + i - 1) / 2, "y": 1.0, "xref": "x", "yref": "paper",
                                    "yanchor": "bottom", "showarrow": False, "font": {"size": 11},
                                    "text": node_text[start]})
            if i < len(cpus):
                for yref in ("y", "y2"):
                    shapes.append({"type": "line", "x0": i - 0.5, "x1": i - 0.5, "xref": "x",
                                   "yref": f"{yref} domain", "y0": 0, "y1": 1,
                                   "line": {"color": "#202124", "width": 1.5}})
            start = i
    for i, text in enumerate(foot):
        colour = ROLE_COLOURS["unknown"] if text.startswith(("unknown", "nothing")) else "#5f6368"
        annotations.append({"text": text, "xref": "paper", "yref": "paper", "x": 0, "y": 0, "xanchor": "left",
                            "yanchor": "top", "yshift": -(axis_px + legend_px) - 15 * i, "showarrow": False,
                            "align": "left", "font": {"size": 11, "color": colour}})
    iso = [c for c, r in zip(cpus, data["roles"], strict=True) if r == "isolated"]
    if mode == RATES:
        head = f"Interrupts per second on each CPU, over {data['window_s']:.2f} s"
    else:
        head = "Interrupts on each CPU since boot (cumulative counts of one reading, not rates)"
    left = data["left_out"]
    sub = (f"{len(rows)} busiest of {len(rows) + left['count']} active sources · isolated CPUs "
           f"{format_cpulist(iso) if iso else 'none'} · log colour scale")
    fig.update_layout(
        template="plotly_white",
        title={"text": title or f"{head}<br><sup>{sub}</sup>", "x": 0, "xanchor": "left", "font": {"size": 14}},
        height=int(height), margin={"l": 10, "r": 10, "t": top_px, "b": bottom_px},
        shapes=shapes, annotations=annotations, plot_bgcolor=UNKNOWN_CELL, showlegend=True,
        legend={"orientation": "h", "yanchor": "top", "y": -axis_px / plot_px, "x": 0, "xanchor": "left"},
        meta={"hftinfra": "irq-heatmap", "mode": mode},
    )
    span = [-0.5, len(cpus) - 0.5]
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=xs, showgrid=False, range=span,
                     autorange=False)
    fig.update_xaxes(showticklabels=False, row=1, col=1)
    fig.update_xaxes(title={"text": "CPU (grouped by NUMA node)"}, showticklabels=len(cpus) <= 128,
                     tickfont={"size": 9 if len(cpus) > 48 else 11}, row=2, col=1)
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False, row=2, col=1)
    fig.update_yaxes(showticklabels=False, showgrid=False, fixedrange=True, row=1, col=1)
    return fig


# ---- the Sankey: NIC queue -> IRQ -> CPU -> NUMA node -------------------------------------


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def _queue_name(link: QueueLink) -> str:
    q = link.queue
    return f"{link.interface} {q.kind}-{q.number}" if q is not None else f"{link.interface} (no queue)"


def _infer_nodes(chain: QueueChain) -> dict[int, int]:
    """CPU -> node from the chain alone: a link whose CPUs all sit on one node says so."""
    out: dict[int, int] = {}
    for link in chain.links:
        if isinstance(link.cpus, frozenset) and isinstance(link.cpu_nodes, frozenset) and len(link.cpu_nodes) == 1:
            (node,) = link.cpu_nodes
            for c in link.cpus:
                out.setdefault(c, node)
    return out


def queue_chain_links(chain: QueueChain, topology=None, interfaces: Iterable[str] | None = None) -> dict:
    """The data behind :func:`queue_chain_sankey`: ``nodes`` (each ``label``, ``column``
    0..3, ``colour``, ``hover``) and ``links`` (each ``source``, ``target`` node index,
    ``value``, ``kind`` ``isolated``/``housekeeping``/``unknown``/``cross-node``, ``hover``),
    plus counts: ``irqs``, ``on_isolated``, ``cross_node``, ``unknown``."""
    wanted = set(interfaces) if interfaces is not None else None
    links = [lk for lk in chain.links if wanted is None or lk.interface in wanted]
    nodes_of = _node_map(topology) or _infer_nodes(chain)
    index: dict[tuple[str, object], int] = {}
    nodes: list[dict] = []
    out: list[dict] = []

    def node(key: tuple[str, object], label: str, column: int, colour: str, hover: str) -> int:
        if key not in index:
            index[key] = len(nodes)
            nodes.append({"label": label, "column": column, "colour": colour, "hover": hover})
        return index[key]

    counts = {"irqs": 0, "on_isolated": 0, "cross_node": 0, "unknown": 0}
    for lk in links:
        counts["irqs"] += 1
        role = lk.role
        nic_node = lk.nic_node
        nic_text = ("virtual (no NUMA node)" if nic_node is None else show(nic_node) if isinstance(nic_node, Unread)
                    else "a node the firmware did not name (-1)" if nic_node < 0 else f"node {nic_node}")
        q = node(("queue", (lk.interface, _queue_name(lk))), _queue_name(lk), 0, "#5f6368",
                 f"{lk.interface}, NIC on {nic_text}")
        managed = " (kernel-managed)" if lk.managed is True else ""
        irq = node(("irq", (lk.interface, lk.irq)), f"IRQ {lk.irq}{managed}", 1, ROLE_COLOURS.get(role, "#5f6368"),
                   f"IRQ {lk.irq}: {', '.join(lk.actions) or '-'}<br>{lk.affinity_kind or 'affinity'} CPUs "
                   f"{show(lk.cpus)}{managed}")
        if role == "isolated":
            counts["on_isolated"] += 1
        if lk.cross_node:
            counts["cross_node"] += 1
        if role == "unknown":
            counts["unknown"] += 1
        out.append({"source": q, "target": irq, "value": 1.0, "kind": role,
                    "hover": f"{_queue_name(lk)} -> IRQ {lk.irq}: may fire on {role} CPUs"})
        if isinstance(lk.cpus, Unread) or not lk.cpus:
            why = show(lk.cpus) if isinstance(lk.cpus, Unread) else "an empty affinity (never started)"
            cpu = node(("cpu", None), "CPU unknown", 2, ROLE_COLOURS["unknown"], f"CPUs not known: {why}")
            nd = node(("node", None), "node unknown", 3, "#9aa0a6", "NUMA node not known")
            out.append({"source": irq, "target": cpu, "value": 1.0, "kind": "unknown", "hover": f"IRQ {lk.irq}: {why}"})
            out.append({"source": cpu, "target": nd, "value": 1.0, "kind": "unknown", "hover": "node not known"})
            continue
        share = 1.0 / len(lk.cpus)
        for c in sorted(lk.cpus):
            if lk.isolated is None:
                crole = "unknown"
            else:
                crole = "isolated" if c in lk.isolated else "housekeeping"
            cpu = node(("cpu", c), f"CPU {c}", 2, ROLE_COLOURS[crole], f"CPU {c}: {crole}")
            out.append({"source": irq, "target": cpu, "value": share, "kind": crole,
                        "hover": f"IRQ {lk.irq} ({_queue_name(lk)}) on CPU {c}, {crole}"})
            cnode = nodes_of.get(c)
            nd = node(("node", cnode), f"node {cnode}" if cnode is not None else "node unknown", 3, "#9aa0a6",
                      f"NUMA node {cnode}" if cnode is not None else "NUMA node not known")
            if isinstance(nic_node, int) and nic_node >= 0 and cnode is not None and cnode != nic_node:
                kind = "cross-node"
                hover = f"CPU {c} is on node {cnode}, {lk.interface} on node {nic_node}: every packet crosses nodes"
            else:
                kind = crole
                hover = (f"CPU {c} on node {cnode}, {lk.interface} on {nic_text}" if cnode is not None
                         else f"CPU {c}: node not known")
            out.append({"source": cpu, "target": nd, "value": share, "kind": kind, "hover": hover})
    return {"nodes": nodes, "links": out, **counts}


LINK_COLOURS = {"isolated": _rgba(ROLE_COLOURS["isolated"], 0.55),
                "housekeeping": _rgba(ROLE_COLOURS["housekeeping"], 0.4),
                "unknown": _rgba(ROLE_COLOURS["unknown"], 0.45),
                "cross-node": _rgba(CROSS_NODE_COLOUR, 0.7)}


def queue_chain_sankey(chain: QueueChain, topology=None, interfaces: Iterable[str] | None = None,
                       title: str | None = None):
    """Each NIC queue's interrupt, the CPUs it may fire on and their NUMA node, left to right.
    Links are orange where an interrupt may fire on an isolated CPU, blue on a housekeeping
    one, purple where the role is not known, and dark where the CPU sits on another NUMA node
    than the NIC. ``topology`` (cpu.topology) places CPUs on nodes; without it the chain's
    own node sets do where they can."""
    import plotly.graph_objects as go

    data = queue_chain_links(chain, topology, interfaces)
    fig = go.Figure()
    nodes, links = data["nodes"], data["links"]
    if links:
        fig.add_trace(go.Sankey(
            arrangement="snap",
            node={"label": [n["label"] for n in nodes], "color": [n["colour"] for n in nodes],
                  "customdata": [n["hover"] for n in nodes], "hovertemplate": "%{customdata}<extra></extra>",
                  "pad": 6 if len(nodes) > 60 else 10, "thickness": 14, "line": {"width": 0}},
            link={"source": [lk["source"] for lk in links], "target": [lk["target"] for lk in links],
                  "value": [lk["value"] for lk in links], "color": [LINK_COLOURS[lk["kind"]] for lk in links],
                  "customdata": [lk["hover"] for lk in links], "hovertemplate": "%{customdata}<extra></extra>"},
        ))
        for name, kind in (("on housekeeping CPUs", "housekeeping"), ("on isolated CPUs", "isolated"),
                           ("role unknown", "unknown"), ("CPU on another NUMA node than the NIC", "cross-node")):
            if any(lk["kind"] == kind for lk in links):
                fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                         marker={"color": LINK_COLOURS[kind], "size": 12, "symbol": "square"}))
    unread = [f"{name}: {why}" for name, why in chain.unread]
    if not links:
        text = "no NIC interrupts found" + (f" ({'; '.join(unread[:3])})" if unread else
                                            " (no interface owns an IRQ: virtual or polled NICs only)")
        fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           font={"size": 13, "color": ROLE_COLOURS["unknown"]})
    irq_nodes = sum(1 for n in nodes if n["column"] == 1)
    names = sorted({lk.interface for lk in chain.links if interfaces is None or lk.interface in set(interfaces)})
    sub = (f"{data['irqs']} interrupts of {', '.join(names) or 'no interface'} · {data['on_isolated']} may fire on "
           f"isolated CPUs · {data['cross_node']} cross NUMA nodes · {data['unknown']} unknown")
    iso = chain.isolated_cpus
    sub += f" · isolated CPUs {format_cpulist(iso) if iso else 'none' if iso is not None else 'unknown'}"
    notes = [f"interrupts not told for {u}" for u in unread[:4]]
    fig.update_layout(
        template="plotly_white",
        title={"text": title or f"NIC queue → IRQ → CPU → NUMA node<br><sup>{sub}</sup>", "x": 0,
               "xanchor": "left", "font": {"size": 14}},
        height=int(min(1800, max(320, 16 * irq_nodes + 140))) + 15 * len(notes),
        margin={"l": 10, "r": 10, "t": 80, "b": 30 + 15 * len(notes)},
        xaxis={"visible": False}, yaxis={"visible": False}, showlegend=bool(links),
        legend={"orientation": "h", "yanchor": "top", "y": 0, "x": 0},
        annotations=[*fig.layout.annotations, *[
            {"text": t, "xref": "paper", "yref": "paper", "x": 0, "y": 0, "yshift": -30 - 15 * i, "xanchor": "left",
             "yanchor": "top", "showarrow": False, "font": {"size": 11, "color": ROLE_COLOURS["unknown"]}}
            for i, t in enumerate(notes)]],
        meta={"hftinfra": "irq-queue-chain"},
    )
    return fig


# ---- RSS / RPS / RFS / XPS per queue -------------------------------------------------------


def _marked(cpus, isolated: frozenset[int] | None) -> str:
    """A CPU set as a cpulist, with the isolated ones named: '8,9 (isolated: 9)'."""
    if isinstance(cpus, Unread):
        return str(cpus)
    if not cpus:
        return "(none)"
    text = format_cpulist(cpus)
    if isolated and cpus & isolated:
        text += f" (isolated: {format_cpulist(cpus & isolated)})"
    return text


def _interfaces(nics, interfaces: Iterable[str] | None) -> list:
    if isinstance(nics.nics, Unread):
        return []
    if interfaces is not None:
        wanted = list(interfaces)
        return [n for n in nics.nics if n.name in wanted]
    physical = [n for n in nics.nics if n.physical is True]
    return physical or list(nics.nics)


def _isolated_of(isolated, chain: QueueChain | None) -> frozenset[int] | None:
    if isinstance(isolated, frozenset | set):
        return frozenset(isolated)
    if chain is not None:
        return chain.isolated_cpus
    return None


def rfs_state(nic, sysctls) -> str:
    """RFS on a NIC: on for a receive queue only when net.core.rps_sock_flow_entries and the
    queue's rps_flow_cnt are both set (scaling.rst, "RFS Configuration")."""
    entries = sysctls.rps_sock_flow_entries
    if isinstance(entries, Unread):
        return f"unknown: {entries}"
    rx = nic.rx_queues
    if isinstance(rx, Unread):
        return f"unknown: {rx}"
    counts = [q.rps_flow_cnt for q in rx]
    bad = next((c for c in counts if isinstance(c, Unread)), None)
    if bad is not None:
        return f"unknown: {bad}"
    on = [q.index for q in rx if q.rps_flow_cnt]
    if not entries:
        return "off (rps_sock_flow_entries 0)" + (f"; rps_flow_cnt set on {len(on)} queues" if on else "")
    if not on:
        return f"off (rps_flow_cnt 0 on every queue; rps_sock_flow_entries {entries})"
    return f"on for {len(on)} of {len(rx)} rx queues (rps_sock_flow_entries {entries})"


def _node_text(node) -> str:
    if node is None:
        return "virtual"
    if isinstance(node, int) and node < 0:
        return "-1 (the firmware did not say)"
    return show(node)


def steering_rows(nics, isolated: frozenset[int] | None = None, interfaces: Iterable[str] | None = None
                  ) -> list[list[str]]:
    """Per interface: NUMA node, rx/tx queues (RSS spreads over the rx queues), RPS, RFS, XPS."""
    rows = []
    for nic in _interfaces(nics, interfaces):
        rx, tx = nic.rx_queues, nic.tx_queues
        rx_n = show(rx) if isinstance(rx, Unread) else str(len(rx))
        tx_n = show(tx) if isinstance(tx, Unread) else str(len(tx))
        rps = nic.rps_cpus
        rps_text = show(rps) if isinstance(rps, Unread) else ("off" if not rps else _marked(rps, isolated))
        if isinstance(tx, Unread):
            xps_text = show(tx)
        else:
            maps = [q.xps_cpus for q in tx]
            bad = next((m for m in maps if isinstance(m, Unread)), None)
            mapped = [m for m in maps if isinstance(m, frozenset) and m]
            if len(tx) == 1:
                xps_text = "single tx queue: nothing to steer"
            elif bad is not None and not mapped:
                xps_text = show(bad)
            elif not mapped:
                xps_text = "no CPU map (queue by flow hash)"
            else:
                union = frozenset().union(*mapped)
                xps_text = f"{len(mapped)} of {len(tx)} tx queues map CPUs {_marked(union, isolated)}"
        rows.append([nic.name, nic.driver if isinstance(nic.driver, str) else show(nic.driver),
                     _node_text(nic.numa_node), rx_n, tx_n, rps_text, rfs_state(nic, nics.sysctls), xps_text])
    return rows


STEERING_HEADER = ["interface", "driver", "NUMA node", "rx queues (RSS)", "tx queues", "RPS CPUs", "RFS", "XPS"]


def steering_table(nics, isolated: frozenset[int] | None = None, interfaces: Iterable[str] | None = None,
                   title: str = "Receive and transmit steering per interface") -> HtmlTable:
    """RSS, RPS, RFS and XPS of each interface, as networking/scaling.rst defines them."""
    rows = steering_rows(nics, isolated, interfaces)
    note = (f"net.core.rps_sock_flow_entries = {show(nics.sysctls.rps_sock_flow_entries)}; "
            f"rps_default_mask = {show(nics.sysctls.rps_default_mask)}")
    if isinstance(nics.nics, Unread):
        note = f"{nics.nics}; {note}"
    if isolated:
        note += f"; isolated CPUs {format_cpulist(isolated)}"
    return HtmlTable(title, STEERING_HEADER, rows, note)


def _irq_text(links: list[QueueLink]) -> str:
    if not links:
        return "-"
    parts = []
    for lk in links:
        where = show(lk.cpus)
        if lk.affinity_kind == "configured":
            where += " (configured)"
        parts.append(f"{lk.irq} → CPU {where}" + (f" (isolated: {format_cpulist(lk.isolated)})" if lk.isolated else ""))
    return "; ".join(parts)


def queue_map_rows(nics, chain: QueueChain | None = None, isolated: frozenset[int] | None = None,
                   interfaces: Iterable[str] | None = None) -> list[list[str]]:
    """One row per queue number of each interface: its interrupts (from the chain: a combined
    vector serves rx-N and tx-N), rx-N's RPS CPUs and RFS flow count, tx-N's XPS CPUs and
    receive queues."""
    isolated = _isolated_of(isolated, chain)
    rows = []
    for nic in _interfaces(nics, interfaces):
        rx = {q.index: q for q in nic.rx_queues} if isinstance(nic.rx_queues, tuple) else {}
        tx = {q.index: q for q in nic.tx_queues} if isinstance(nic.tx_queues, tuple) else {}
        links = [lk for lk in chain.of_interface(nic.name)] if chain is not None else []
        by_number: dict[int, list[QueueLink]] = {}
        for lk in links:
            if lk.queue is not None:
                by_number.setdefault(lk.queue.number, []).append(lk)
        numbers = sorted(set(rx) | set(tx) | set(by_number))
        if not numbers:
            why = nic.rx_queues if isinstance(nic.rx_queues, Unread) else nic.tx_queues
            rows.append([nic.name, "-", "-", show(why), "-", "-", "-"])
            continue
        for n in numbers:
            r, t = rx.get(n), tx.get(n)
            irq = _irq_text(by_number.get(n, [])) if chain is not None else "(not read)"
            rows.append([
                nic.name, str(n), irq,
                _marked(r.rps_cpus, isolated) if r is not None else "-",
                show(r.rps_flow_cnt) if r is not None else "-",
                ("single tx queue: no XPS map" if isinstance(t.xps_cpus, Unread) and len(tx) == 1
                 else _marked(t.xps_cpus, isolated)) if t is not None else "-",
                (show(t.xps_rxqs) if isinstance(t.xps_rxqs, Unread) else
                 (format_cpulist(t.xps_rxqs) or "(none)")) if t is not None else "-",
            ])
    return rows


QUEUE_MAP_HEADER = ["interface", "queue", "IRQ → CPUs", "rx-N rps_cpus", "rx-N rps_flow_cnt", "tx-N xps_cpus",
                    "tx-N xps_rxqs (rx queues)"]


def queue_map_table(nics, chain: QueueChain | None = None, isolated: frozenset[int] | None = None,
                    interfaces: Iterable[str] | None = None, title: str = "Queue map: IRQ, RPS, RFS and XPS per queue"
                    ) -> HtmlTable:
    """Every queue of the physical interfaces (or ``interfaces``): where its interrupt lands,
    which CPUs RPS may steer its packets to, its RFS flow table size, and which CPUs (or
    receive queues) XPS sends on it. CPUs that are isolated are named as such."""
    isolated = _isolated_of(isolated, chain)
    rows = queue_map_rows(nics, chain, isolated, interfaces)
    entries = nics.sysctls.rps_sock_flow_entries
    note = (f"net.core.rps_sock_flow_entries = {show(entries)}: RFS needs it and rps_flow_cnt both non-zero "
            "(scaling.rst, RFS Configuration); an empty rps_cpus leaves protocol processing on the CPU "
            "that took the interrupt")
    if chain is not None and chain.unread:
        note += "; interrupts not told for " + "; ".join(f"{n} ({u})" for n, u in chain.unread)
    if isolated:
        note += f"; isolated CPUs {format_cpulist(isolated)}"
    return HtmlTable(title, QUEUE_MAP_HEADER, rows, note)


__all__ = [
    "CROSS_NODE_COLOUR", "LINK_COLOURS", "QUEUE_MAP_HEADER", "RATES", "SINCE_BOOT", "STEERING_HEADER", "TOP_SOURCES",
    "cpu_order", "cpu_roles", "interrupt_heatmap", "interrupt_matrix", "queue_chain_links", "queue_chain_sankey",
    "queue_map_rows", "queue_map_table", "rfs_state", "steering_rows", "steering_table",
]
