"""The CPU topology figure: one cell per CPU, grouped by package and core, coloured by role.

Layout: each package is a block, its cores are columns (wrapped every ``max_cols`` cores),
the hardware threads of a core are stacked in its column inside one outline, so SMT siblings
sit on top of each other. CPUs whose package or core could not be read (offline CPUs have no
``topology/`` directory) are drawn in a last block of their own rather than guessed into place.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from hftinfra.cpulist import format_cpulist
from hftinfra.host import Unread
from hftinfra.records import show
from hftinfra.viz import ROLE_COLOURS, ROLE_HELP, ROLE_ORDER


def _role(roles: dict[int, str], cpu: int) -> str:
    role = roles.get(cpu, "unknown")
    return role if role in ROLE_COLOURS else "unknown"


def roles_of(isolation) -> dict[int, str]:
    roles = getattr(isolation, "roles", None)
    return dict(roles) if isinstance(roles, dict) else {}


def _size(kb: int | Unread) -> str:
    if isinstance(kb, Unread):
        return str(kb)
    if kb >= 1024 and kb % 1024 == 0:
        return f"{kb // 1024} MiB"
    return f"{kb} KiB"


def cache_lines(cpu) -> list[str]:
    """``L2 1 MiB shared with 4,36`` per cache, or why the caches are unknown."""
    if isinstance(cpu.caches, Unread):
        return [f"caches: {cpu.caches}"]
    out = []
    for cache in cpu.caches:
        shared = cache.shared_cpus
        if isinstance(shared, Unread):
            who = f"sharing {shared}"
        else:
            others = shared - {cpu.id}
            who = f"shared with {format_cpulist(others)}" if others else "private"
        out.append(f"{cache.name} {_size(cache.size_kb)}, {who}")
    return out


def describe_cpu(cpu, role: str) -> list[tuple[str, str]]:
    """What a reader wants to know about one CPU, as (label, value) rows."""
    siblings = cpu.siblings
    if isinstance(siblings, Unread):
        smt = str(siblings)
    else:
        others = siblings - {cpu.id}
        smt = format_cpulist(others) if others else "none (one thread on this core)"
    return [
        ("role", f"{role}: {ROLE_HELP.get(role, '')}"),
        ("online", show(cpu.online)),
        ("package / die / core", f"{show(cpu.package)} / {show(cpu.die)} / {show(cpu.core)}"),
        ("SMT siblings", smt),
        ("NUMA node", show(cpu.numa_node)),
        *[("cache", line) for line in cache_lines(cpu)],
    ]


@dataclass
class _Placed:
    cpu: object
    x: float
    y: float
    role: str


def _layout(topo, roles: dict[int, str], max_cols: int):
    """Positions for every CPU, outlines per core, and one label per block."""
    placed: list[_Placed] = []
    cores_shapes: list[tuple[float, float, float, float]] = []
    blocks: list[tuple[float, float, float, str]] = []  # (y_top, y_bottom, width, label)
    by_package: dict[int, dict[tuple, list]] = {}
    loose = []
    for cpu in topo.cpus:
        if isinstance(cpu.package, int) and isinstance(cpu.core, int) and cpu.online is not False:
            die = cpu.die if isinstance(cpu.die, int) else 0
            by_package.setdefault(cpu.package, {}).setdefault((die, cpu.core), []).append(cpu)
        else:
            loose.append(cpu)
    threads = max((len(v) for cores in by_package.values() for v in cores.values()), default=1)
    y = 0.0
    widest = 1
    for package in sorted(by_package):
        cores = [sorted(v, key=lambda c: c.id) for _, v in sorted(by_package[package].items())]
        top = y
        rows = math.ceil(len(cores) / max_cols)
        for i, core in enumerate(cores):
            col, row = i % max_cols, i // max_cols
            y0 = top + row * (threads + 0.5)
            for t, cpu in enumerate(core):
                placed.append(_Placed(cpu, col, y0 + t, _role(roles, cpu.id)))
            cores_shapes.append((col - 0.46, y0 - 0.46, col + 0.46, y0 + len(core) - 1 + 0.46))
        width = min(len(cores), max_cols)
        widest = max(widest, width)
        bottom = top + (rows - 1) * (threads + 0.5) + threads - 1
        blocks.append((top, bottom, width, _package_label(topo, package, cores)))
        y = bottom + 2.0
    if loose:
        top = y
        for i, cpu in enumerate(sorted(loose, key=lambda c: c.id)):
            placed.append(_Placed(cpu, i % max_cols, top + i // max_cols, _role(roles, cpu.id)))
        rows = math.ceil(len(loose) / max_cols)
        width = min(len(loose), max_cols)
        widest = max(widest, width)
        blocks.append((top, top + rows - 1, width, "offline, or package/core unknown"))
        y = top + rows - 1 + 2.0
    return placed, cores_shapes, blocks, widest, y - 2.0, threads


def _package_label(topo, package: int, cores: list[list]) -> str:
    cpus = [c for core in cores for c in core]
    nodes = sorted({c.numa_node for c in cpus if isinstance(c.numa_node, int)})
    node_text = f"NUMA node{'s' if len(nodes) > 1 else ''} {format_cpulist(nodes)}" if nodes else "NUMA node unknown"
    l3 = {}
    for c in cpus:
        if isinstance(c.caches, tuple):
            for cache in c.caches:
                if cache.level == 3 and isinstance(cache.size_kb, int) and isinstance(cache.shared_cpus, frozenset):
                    l3[cache.shared_cpus] = cache.size_kb
    l3_text = f" · L3 {' + '.join(_size(v) for v in l3.values())}" if l3 else ""
    return f"package {package} · {node_text} · {len(cores)} cores, {len(cpus)} CPUs{l3_text}"


def topology_title(topo, roles: dict[int, str]) -> str:
    n = len(topo.cpus)
    packages = len({c.package for c in topo.cpus if isinstance(c.package, int)})
    cores = len(topo.cores) if topo.cpus else 0
    smt = topo.smt_active
    smt_text = "SMT unknown" if isinstance(smt, Unread) else ("SMT on" if smt else "SMT off")
    isolated = sorted(c for c, r in roles.items() if r == "isolated")
    iso_text = f"isolated {format_cpulist(isolated)}" if isolated else "no isolated CPUs"
    if not roles:
        iso_text = "roles unknown"
    return f"{n} CPUs · {packages} package(s) · {cores} cores · {smt_text} · {iso_text}"


def topology_figure(topo, isolation=None, title: str | None = None, max_cols: int = 16):
    """The topology as a plotly Figure (see the module docstring for the layout).

    CPU cells are shapes in data coordinates, so they scale with the page width; the axes
    keep them square. Each role is a trace of tiny markers at the cell centres that carries
    the labels, the hover text and the legend entry."""
    import plotly.graph_objects as go

    roles = roles_of(isolation)
    placed, core_boxes, blocks, widest, bottom, _threads = _layout(topo, roles, max_cols)
    cols = max(widest, max_cols)
    fig = go.Figure()
    shapes = []
    for top, bot, width, _label in blocks:
        shapes.append(dict(type="rect", x0=-0.6, x1=width - 0.4, y0=top - 0.6, y1=bot + 0.6,
                           line={"width": 0}, fillcolor="rgba(128,128,128,.12)", layer="below"))
    for x0, y0, x1, y1 in core_boxes:
        shapes.append(dict(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, layer="below",
                           line={"color": "rgba(128,128,128,.8)", "width": 1}, fillcolor="rgba(0,0,0,0)"))
    for p in placed:
        shapes.append(dict(type="rect", x0=p.x - 0.38, x1=p.x + 0.38, y0=p.y - 0.38, y1=p.y + 0.38,
                           line={"width": 0}, fillcolor=ROLE_COLOURS[p.role], layer="below"))
    for role in ROLE_ORDER:
        members = [p for p in placed if p.role == role]
        if not members:
            continue
        hover = ["<br>".join([f"<b>CPU {p.cpu.id}</b>"] + [f"{k}: {html.escape(v)}" for k, v in
                                                            describe_cpu(p.cpu, p.role)]) for p in members]
        fig.add_trace(go.Scatter(
            x=[p.x for p in members], y=[p.y for p in members], mode="markers+text",
            name=f"{role} ({len(members)})", text=[str(p.cpu.id) for p in members],
            textposition="middle center", textfont={"color": "white", "size": 11},
            marker={"symbol": "square", "size": 1, "color": ROLE_COLOURS[role]},
            hovertext=hover, hoverinfo="text", customdata=[p.cpu.id for p in members],
        ))
    annotations = [dict(x=-0.6, y=top - 0.65, xanchor="left", yanchor="bottom", text=label, showarrow=False,
                        font={"size": 12}) for top, _bot, _width, label in blocks]
    span_y = bottom + 2.2
    # A cell is about 44 px at the book's content width; the axes keep cells square at others.
    height = int(90 + span_y * 720 / (cols + 0.6))
    fig.update_layout(
        title={"text": title or topology_title(topo, roles), "x": 0, "xanchor": "left", "font": {"size": 14}},
        shapes=shapes, annotations=annotations,
        xaxis={"visible": False, "range": [-0.7, cols - 0.1], "fixedrange": True, "constrain": "domain"},
        yaxis={"visible": False, "range": [bottom + 0.7, -1.5], "fixedrange": True,
               "scaleanchor": "x", "scaleratio": 1, "constrain": "domain"},
        height=max(height, 200), margin={"l": 10, "r": 10, "t": 70, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "xanchor": "left",
                "itemsizing": "constant", "title": {"text": "role "}},
        hovermode="closest", hoverdistance=60, hoverlabel={"align": "left"},
        template="plotly_white", showlegend=True, meta={"hftinfra": "cpu-topology"},
    )
    return fig


class HtmlTable:
    """A small table that renders as HTML in a page and as aligned text elsewhere."""

    def __init__(self, title: str, header: list[str], rows: list[list[str]], note: str = ""):
        self.title, self.header, self.rows, self.note = title, header, rows, note

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                       for row in self.rows)
        note = f"<p><small>{html.escape(self.note)}</small></p>" if self.note else ""
        return (f"<p><b>{html.escape(self.title)}</b></p><table class='hftinfra-table'><thead><tr>{head}"
                f"</tr></thead><tbody>{body}</tbody></table>{note}")

    def __repr__(self) -> str:
        widths = [max(len(str(r[i])) for r in [self.header, *self.rows]) for i in range(len(self.header))]
        lines = [self.title, "  ".join(h.ljust(w) for h, w in zip(self.header, widths, strict=True))]
        lines += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)) for row in self.rows]
        return "\n".join(lines + ([self.note] if self.note else []))


def numa_table(topo, isolation=None) -> HtmlTable:
    """One row per NUMA node: its CPUs by role, memory, and SLIT distances."""
    roles = roles_of(isolation)
    rows = []
    for node in topo.numa_nodes:
        cpus = node.cpus
        if isinstance(cpus, Unread):
            by_role = {r: "unknown" for r in ("housekeeping", "isolated")}
        else:
            by_role = {r: format_cpulist(c for c in cpus if roles.get(c) == r) or "-" for r in ("housekeeping", "isolated")}
        mem = node.mem_total_kb
        free = node.mem_free_kb
        mem_text = str(mem) if isinstance(mem, Unread) else f"{mem / 1048576:.1f} GiB"
        free_text = str(free) if isinstance(free, Unread) else f"{free / 1048576:.1f} GiB"
        dist = node.distances
        rows.append([str(node.node), show(cpus), by_role["housekeeping"], by_role["isolated"], mem_text,
                     free_text, str(dist) if isinstance(dist, Unread) else " ".join(map(str, dist))])
    note = ("distances are the firmware's SLIT values: 10 is local, 20 means about twice the local "
            "memory latency (ACPI, System Locality Information Table)")
    if not topo.numa_nodes:
        note = "no NUMA node could be read: " + note
    return HtmlTable("NUMA nodes", ["node", "CPUs", "housekeeping", "isolated", "memory", "free",
                                    "distances"], rows, note)


__all__ = ["HtmlTable", "cache_lines", "describe_cpu", "numa_table", "topology_figure", "topology_title"]
