"""Memory views: memory and hugepages per NUMA node, and the memory settings side by side.

Hugepages are taken out of a node's free memory when the pool is filled, so a node's bar is
split into its hugepage pools (in use and free, per size), the rest of the used memory and
the free memory. Anything that could not be read is said in the figure, never drawn as 0.
"""

from __future__ import annotations

from hftinfra.host import Unread
from hftinfra.memory import Memory
from hftinfra.records import show
from hftinfra.viz.topology import HtmlTable

KB_PER_GIB = 1024 * 1024

# One hue per pool size (dark: pages in use, light: free pages); grey for other used memory.
_POOL_COLOURS = {1048576: ("#b3261e", "#f2b8b5"), 2048: ("#e8710a", "#fbd3a8")}
_OTHER_POOL = ("#7b1fa2", "#dcc1e6")
USED_COLOUR = "#9aa0a6"
FREE_COLOUR = "#4285f4"


def size_name(size_kb: int) -> str:
    """``1048576`` -> ``1 GiB``, ``2048`` -> ``2 MiB``."""
    if size_kb % KB_PER_GIB == 0:
        return f"{size_kb // KB_PER_GIB} GiB"
    if size_kb % 1024 == 0:
        return f"{size_kb // 1024} MiB"
    return f"{size_kb} KiB"


def _gib(kb: int) -> float:
    return kb / KB_PER_GIB


def node_breakdown(mem: Memory) -> list[dict]:
    """Per node: ``{"node", "segments": [(label, kb, colour, hover)], "problems": [str]}``.

    The data behind :func:`memory_per_node_figure`, kept separate so it can be tested
    without plotly."""
    out = []
    nodes = mem.numa.nodes
    if isinstance(nodes, Unread):
        return out
    hp_nodes = {n.node: n for n in mem.hugepages.nodes} if not isinstance(mem.hugepages.nodes, Unread) else {}
    for node in nodes:
        problems: list[str] = []
        segments: list[tuple[str, int, str, str]] = []
        huge_kb = 0
        hp = hp_nodes.get(node.node)
        pools = hp.pools if hp is not None else Unread  # type: ignore[assignment]
        if hp is None or isinstance(pools, Unread):
            problems.append(f"hugepages: {pools if isinstance(pools, Unread) else 'not read'}")
            pools = ()
        for pool in pools:
            if isinstance(pool.total, Unread) or isinstance(pool.free, Unread):
                problems.append(f"{size_name(pool.size_kb)} pool: {pool.total if isinstance(pool.total, Unread) else pool.free}")
                continue
            if pool.total == 0:
                continue
            dark, light = _POOL_COLOURS.get(pool.size_kb, _OTHER_POOL)
            used = pool.total - pool.free
            name = size_name(pool.size_kb)
            if used:
                segments.append((f"{name} hugepages in use", used * pool.size_kb, dark,
                                 f"{used} of {pool.total} × {name} pages in use"))
            if pool.free:
                segments.append((f"{name} hugepages free", pool.free * pool.size_kb, light,
                                 f"{pool.free} of {pool.total} × {name} pages free"))
            huge_kb += pool.total * pool.size_kb
        total, free = node.mem_total_kb, node.mem_free_kb
        if isinstance(total, Unread) or isinstance(free, Unread):
            problems.append(f"MemTotal/MemFree: {total if isinstance(total, Unread) else free}")
        else:
            other = max(total - free - huge_kb, 0)
            segments.append(("other used", other, USED_COLOUR, "used by the kernel, page cache and processes"))
            segments.append(("free", free, FREE_COLOUR, "MemFree of this node"))
        out.append({"node": node.node, "segments": segments, "problems": problems,
                    "total_kb": total, "cpus": node.cpus})
    return out


def memory_per_node_figure(mem: Memory, title: str | None = None):
    """A horizontal stacked bar per NUMA node (GiB): hugepage pools by size, in use and free,
    other used memory, free memory. Unreadable parts are listed under the bars."""
    import plotly.graph_objects as go

    rows = node_breakdown(mem)
    fig = go.Figure()
    labels = [f"node {r['node']}" + (f" (CPUs {show(r['cpus'])})" if not isinstance(r["cpus"], Unread) else "")
              for r in rows]
    seen: set[str] = set()
    order: list[str] = []
    for r in rows:
        for name, *_ in r["segments"]:
            if name not in seen:
                seen.add(name)
                order.append(name)
    for name in order:
        xs, colours, hovers = [], None, []
        for r in rows:
            seg = next((s for s in r["segments"] if s[0] == name), None)
            xs.append(_gib(seg[1]) if seg else 0.0)
            colours = colours or (seg[2] if seg else None)
            hovers.append(f"{name}: {_gib(seg[1]):.2f} GiB<br>{seg[3]}" if seg else f"{name}: none")
        fig.add_trace(go.Bar(y=labels, x=xs, name=name, orientation="h", marker={"color": colours},
                             hovertext=hovers, hoverinfo="text"))
    notes = []
    if isinstance(mem.numa.nodes, Unread):
        notes.append(f"NUMA nodes: {mem.numa.nodes}")
    for r in rows:
        notes.extend(f"node {r['node']}: {p}" for p in r["problems"])
    total = mem.numa.mem_total_kb
    default = mem.hugepages.default_size_kb
    subtitle = (f"MemTotal {_gib(total):.1f} GiB" if not isinstance(total, Unread) else f"MemTotal {total}") + (
        f" · default hugepage size {size_name(default)}" if not isinstance(default, Unread) else "")
    fig.update_layout(
        barmode="stack", template="plotly_white",
        title={"text": title or f"Memory and hugepages per NUMA node<br><sup>{subtitle}</sup>", "x": 0,
               "xanchor": "left", "font": {"size": 14}},
        xaxis={"title": {"text": "GiB"}, "rangemode": "tozero"},
        yaxis={"autorange": "reversed"},
        height=int(170 + 46 * max(len(rows), 1) + 18 * len(notes)),
        margin={"l": 10, "r": 10, "t": 70, "b": 40 + 18 * len(notes)},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        annotations=[{"text": "<br>".join(f"unknown: {n}" for n in notes), "xref": "paper", "yref": "paper",
                      "x": 0, "y": 0, "yshift": -40, "yanchor": "top", "xanchor": "left", "showarrow": False,
                      "align": "left", "font": {"size": 11, "color": "#a142f4"}}] if notes else [],
        meta={"hftinfra": "memory-per-node"},
    )
    return fig


def _pool_text(mem: Memory, size_kb: int) -> str:
    pools = mem.hugepages.pools
    if isinstance(pools, Unread):
        return str(pools)
    pool = mem.hugepages.pool(size_kb)
    if pool is None:
        return "size not offered by this kernel"
    total, free = show(pool.total), show(pool.free)
    if isinstance(mem.hugepages.nodes, Unread):
        where = ""
    else:
        parts = []
        for n in mem.hugepages.nodes:
            p = n.pool(size_kb)
            if p is not None and not isinstance(p.total, Unread) and p.total:
                parts.append(f"node {n.node}: {p.total}")
        where = f" ({', '.join(parts)})" if parts else ""
    return f"{total} pages, {free} free{where}"


def _configured_pages(mem: Memory, size_kb: int) -> str:
    boot = mem.hugepages.configured
    if isinstance(boot, Unread):
        return str(boot)
    default = mem.hugepages.default_size_kb
    n = boot.requested(size_kb, None if isinstance(default, Unread) else default)
    if n is None:
        return "-"
    req = [r for r in boot.hugepages if (r.size_kb or boot.default_hugepagesz_kb or default) == size_kb][-1]
    return f"{n}" + (" (" + ", ".join(f"node {a}: {b}" for a, b in req.per_node) + ")" if req.per_node else "")


def settings_rows(mem: Memory) -> list[tuple[str, str, str, str]]:
    """(setting, in effect, configured on the command line, source) rows for one host."""
    thp, vm, boot = mem.thp, mem.vm, mem.hugepages.configured

    def cfg(attr: str) -> str:
        return str(boot) if isinstance(boot, Unread) else show(getattr(boot, attr))

    swap = mem.swap
    if isinstance(swap.devices, Unread):
        swap_text = str(swap.devices)
    elif not swap.devices:
        swap_text = "none"
    else:
        swap_text = ", ".join(f"{d.filename} ({d.size_kb // 1024} MiB)" for d in swap.devices)
    rows = [
        ("1 GiB hugepages", _pool_text(mem, 1048576), _configured_pages(mem, 1048576), "/sys/kernel/mm/hugepages"),
        ("2 MiB hugepages", _pool_text(mem, 2048), _configured_pages(mem, 2048), "/sys/kernel/mm/hugepages"),
        ("default hugepage size",
         show(mem.hugepages.default_size_kb if isinstance(mem.hugepages.default_size_kb, Unread)
              else size_name(mem.hugepages.default_size_kb)),
         cfg("default_hugepagesz_kb") if isinstance(boot, Unread) or boot.default_hugepagesz_kb is None
         else size_name(boot.default_hugepagesz_kb), "/proc/meminfo Hugepagesize"),
        ("THP enabled", show(thp.enabled), show(thp.configured), "/sys/kernel/mm/transparent_hugepage/enabled"),
        ("THP defrag", show(thp.defrag), "-", "/sys/kernel/mm/transparent_hugepage/defrag"),
        ("KSM", f"{show(mem.ksm.run)} ({show(mem.ksm.state)})" if not isinstance(mem.ksm.run, Unread)
         else show(mem.ksm.run), "-", "/sys/kernel/mm/ksm/run"),
        ("swap devices", swap_text, "-", "/proc/swaps"),
        ("vm.swappiness", show(vm.swappiness), "-", "/proc/sys/vm/swappiness"),
        ("kernel.numa_balancing", show(vm.numa_balancing), cfg("numa_balancing"),
         "/proc/sys/kernel/numa_balancing"),
        ("vm.zone_reclaim_mode", show(vm.zone_reclaim_mode), "-", "/proc/sys/vm/zone_reclaim_mode"),
        ("dirty limit", show(vm.dirty_limit), "-", "vm.dirty_ratio / vm.dirty_bytes"),
        ("dirty background limit", show(vm.dirty_background_limit), "-",
         "vm.dirty_background_ratio / vm.dirty_background_bytes"),
        ("vm.stat_interval", show(vm.stat_interval), "-", "/proc/sys/vm/stat_interval"),
    ]
    return rows


def settings_table(mem: Memory, title: str = "Memory settings") -> HtmlTable:
    return HtmlTable(title, ["setting", "in effect", "command line", "source"],
                     [list(r) for r in settings_rows(mem)],
                     "'-' under command line: not set there (or not a boot parameter)")


def compare_table(hosts: list[tuple[str, Memory]], title: str = "Memory settings side by side") -> HtmlTable:
    """One column per host, the values in effect."""
    per_host = [settings_rows(m) for _, m in hosts]
    rows = [[per_host[0][i][0], *[h[i][1] for h in per_host]] for i in range(len(per_host[0]))]
    return HtmlTable(title, ["setting", *[label for label, _ in hosts]], rows)


__all__ = ["compare_table", "memory_per_node_figure", "node_breakdown", "settings_rows", "settings_table",
           "size_name"]
