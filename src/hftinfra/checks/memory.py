"""Memory checks: THP, KSM, swap, reclaim, compaction, NUMA balancing, writeback and hugepages."""

from __future__ import annotations

from hftinfra.checks.base import Check, Context, Obs, Skip, Verdict, register
from hftinfra.checks.common import (
    PROC_SYS_KERNEL_ANCHORS,
    PROC_SYS_VM_ANCHORS,
    cmdline_fix,
    isolation_sets,
    kernel_at_least,
    kernel_release,
    not_on_this_kernel,
    record_field,
    suggest,
    sysctl_fix,
    sysfs_fix,
)
from hftinfra.cpulist import format_cpulist
from hftinfra.host import Host, Reason, Unread

SYSCTL_VM = "https://docs.kernel.org/admin-guide/sysctl/vm.html"
SYSCTL_KERNEL = "https://docs.kernel.org/admin-guide/sysctl/kernel.html"


MM = "/sys/kernel/mm"
THP_DIR = f"{MM}/transparent_hugepage"
NODE_DIR = "/sys/devices/system/node"
# "mm: thp: introduce multi-size THP sysfs interface" (Linux 6.8): hugepages-<size>kB/enabled.
THP_SIZES_SINCE = (6, 8)
# "hugetlbfs: extend the definition of hugepages parameter to support node allocation"
# (b5389086ad7b, Linux 5.16): hugepages=0:2,1:4. Older kernels parse only the leading number.
HUGEPAGES_NODE_FORM_SINCE = (5, 16)


def _absent_is_skip(ctx, value, why, parent, anchors=(), option=None):
    """Skip when there is evidence the kernel lacks the feature; else the Unread stands."""
    if isinstance(value, Unread):
        evidence = not_on_this_kernel(ctx, value, parent, anchors, option)
        if evidence:
            return Skip(f"{why} ({evidence})")
        return value
    return Obs(value)


# ---- memory.thp ---------------------------------------------------------------------------

_THP_RANK = {"never": 0, "madvise": 1, "always": 2}


def _thp_sizes_unseen(ctx) -> Unread | None:
    """Why per-size controls that the listing does not show may still exist, or None when
    their absence is a fact (the folder was listed whole, live or at capture, or the kernel
    is older than 6.8)."""
    if ctx.host.keeps_all_folders(THP_DIR):
        return None
    newer, release = kernel_at_least(ctx, *THP_SIZES_SINCE), kernel_release(ctx)
    if newer is False:
        return None
    where = f"{THP_DIR}/hugepages-<size>kB/enabled"
    if isinstance(newer, Unread):
        return Unread(Reason.MISSING, where, "none recorded, and the kernel version is unknown "
                                             f"({newer.reason}), so whether they exist is unknown")
    return Unread(Reason.MISSING, where, f"Linux {release} has per-size THP controls (6.8+) and this "
                                         "snapshot recorded none")


def _thp(ctx):
    thp = ctx.probe("memory.thp")
    if isinstance(thp, Unread):
        return thp
    if isinstance(thp.enabled, Unread):
        evidence = not_on_this_kernel(ctx, thp.enabled, MM, option="CONFIG_TRANSPARENT_HUGEPAGE")
        if evidence:
            return Skip(f"this kernel has no transparent hugepages ({evidence})")
        return thp.enabled
    top = thp.enabled
    notes = []
    if isinstance(thp.configured, str):
        notes.append(f"transparent_hugepage={thp.configured} on the command line")
    defrag = f", defrag {thp.defrag}" if isinstance(thp.defrag, str) else ""
    extra = {"configured": thp.configured, "top": top, "on_sizes": {}}
    sizes = thp.sizes
    if isinstance(sizes, Unread):
        return sizes
    if not sizes:
        unseen = _thp_sizes_unseen(ctx)
        if unseen is not None:
            return unseen
        return Obs(top, f"{top}{defrag}", "; ".join(notes), extra)
    # transhuge.rst: a size set to always, madvise or never ignores the top-level value; only
    # 'inherit' follows it (by default the PMD size inherits, every other size is never).
    effective = {}
    for size in sizes:
        if isinstance(size.enabled, Unread):
            return size.enabled
        effective[size.size_kb] = top if size.enabled == "inherit" else size.enabled
    on = {kb: mode for kb, mode in effective.items() if mode != "never"}
    value = max(effective.values(), key=lambda m: _THP_RANK.get(m, 3)) if effective else top
    extra["on_sizes"] = {kb: next(s.enabled for s in sizes if s.size_kb == kb) for kb in on}
    if on:
        listed = ", ".join(f"{_size(kb)} ({'inherits ' if extra['on_sizes'][kb] == 'inherit' else ''}{mode})"
                           for kb, mode in sorted(on.items()))
        shown = f"{value}: on for {listed}; top-level {top}{defrag}"
        overriding = [kb for kb in on if extra["on_sizes"][kb] != "inherit"]
        if overriding and top == "never":
            notes.append("the top-level never does not cover a size set to always or madvise in its own "
                         "hugepages-<size>kB/enabled (admin-guide/mm/transhuge.rst)")
    else:
        shown = f"never for every size ({len(effective)} per-size controls); top-level {top}{defrag}"
    return Obs(value, shown, "; ".join(notes), extra)


def _thp_judge(ctx, obs, expectation, missing):
    configured, top = obs.extra.get("configured"), obs.extra.get("top")
    if (isinstance(configured, str) and isinstance(top, str) and expectation is not None
            and expectation.matches(configured) and not expectation.matches(top)):
        return Verdict("fail", f"configured but not in effect: transparent_hugepage={configured} on the "
                               f"command line, sysfs says {top} (changed after boot?)")
    return None


def _thp_fix(ctx, e, obs):
    want = str(suggest(e, "never"))
    lines = [sysfs_fix(f"{THP_DIR}/enabled", want, "the command line below keeps it")]
    overriding = sorted(kb for kb, mode in obs.extra.get("on_sizes", {}).items() if mode != "inherit")
    for kb in overriding:
        lines.append(f"echo {want} > {THP_DIR}/hugepages-{kb}kB/enabled")
    if overriding:
        lines.append("# per-size settings do not persist and transparent_hugepage= sets only the top level: "
                     "repeat these at boot (tuned [sysfs], a systemd unit), or use thp_anon= where the "
                     "kernel's kernel-parameters.txt documents it")
    lines.append(cmdline_fix(ctx, {"transparent_hugepage": want}))
    return "\n".join(lines)


register(Check(
    id="memory.thp", title="Transparent hugepages", area="memory",
    summary="With THP on, khugepaged scans and collapses pages in the background and page faults "
            "may compact memory synchronously; both stall the faulting thread unpredictably "
            "(admin-guide/mm/transhuge). Since 6.8 each size has its own control: a size set to "
            "always or madvise is on whatever the top-level value says.",
    reads=("/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/defrag",
           "/sys/kernel/mm/transparent_hugepage/hugepages-*kB/enabled", "/proc/cmdline",
           "/proc/sys/kernel/osrelease"),
    docs="https://docs.kernel.org/admin-guide/mm/transhuge.html", kind="str", observe=_thp, judge=_thp_judge,
    fix=_thp_fix,
))


# ---- memory.ksm ---------------------------------------------------------------------------

def _ksm(ctx):
    ksm = ctx.probe("memory.ksm")
    if isinstance(ksm, Unread):
        return ksm
    if isinstance(ksm.run, Unread):
        evidence = not_on_this_kernel(ctx, ksm.run, MM, option="CONFIG_KSM")
        if evidence:
            return Skip(f"this kernel has no KSM, so it cannot run ({evidence})")
        return ksm.run
    return Obs(ksm.run, f"{ksm.run} ({ksm.state})")


register(Check(
    id="memory.ksm", title="Kernel same-page merging off", area="memory",
    summary="ksmd scans memory to merge identical pages; merged pages are copy-on-write, so a "
            "later write to one takes a page fault (admin-guide/mm/ksm).",
    reads=("/sys/kernel/mm/ksm/run",), docs="https://docs.kernel.org/admin-guide/mm/ksm.html", kind="int",
    observe=_ksm,
    fix=lambda ctx, e, obs: ("echo 2 > /sys/kernel/mm/ksm/run  # 2 unmerges what was merged, then stops\n"
                             "systemctl disable --now ksm.service ksmtuned.service 2>/dev/null || true"),
))


# ---- memory.swap --------------------------------------------------------------------------

def _swap(ctx):
    swap = ctx.probe("memory.swap")
    if isinstance(swap, Unread):
        return swap
    if isinstance(swap.devices, Unread):
        return swap.devices
    if not swap.devices:
        return Obs(False, "off (no active swap area)")
    names = ", ".join(f"{d.filename} ({d.size_kb // 1024} MiB)" for d in swap.devices)
    return Obs(True, f"on: {names}")


register(Check(
    id="memory.swap", title="No active swap", area="memory",
    summary="A page of the trading process swapped out costs a major fault (milliseconds) when "
            "touched again; without swap, memory pressure fails fast instead of stalling.",
    reads=("/proc/swaps", "/proc/meminfo"), docs="https://man7.org/linux/man-pages/man8/swapon.8.html",
    kind="bool", observe=_swap,
    fix=lambda ctx, e, obs: ("swapoff -a\n"
                             "sed -i -E '/^[^#].*[[:space:]]swap[[:space:]]/s/^/# /' /etc/fstab  # keep it off at boot"),
))


# ---- memory.swappiness, numa_balancing, zone_reclaim -------------------------------------

register(Check(
    id="memory.swappiness", title="Swappiness", area="memory",
    summary="vm.swappiness weighs reclaiming anonymous memory (swap) against page cache; a low "
            "value keeps the process's own pages in memory.",
    reads=("/proc/sys/vm/swappiness",), docs=SYSCTL_VM, kind="int",
    observe=lambda ctx: Obs(record_field(ctx, "memory.sysctl", "swappiness")),
    fix=lambda ctx, e, obs: sysctl_fix("vm.swappiness", suggest(e, 10)),
))


register(Check(
    id="memory.numa_balancing", title="Automatic NUMA balancing off", area="memory",
    summary="NUMA balancing unmaps pages periodically to learn where they are used, so the process "
            "takes hinting faults and may see its pages migrate under it.",
    reads=("/proc/sys/kernel/numa_balancing", "/proc/cmdline"), docs=SYSCTL_KERNEL, kind="int",
    observe=lambda ctx: _absent_is_skip(ctx, record_field(ctx, "memory.sysctl", "numa_balancing"),
                                        "this kernel has no NUMA balancing, so it cannot run", "/proc/sys/kernel",
                                        PROC_SYS_KERNEL_ANCHORS, "CONFIG_NUMA_BALANCING"),
    fix=lambda ctx, e, obs: (sysctl_fix("kernel.numa_balancing", suggest(e, 0)) + "\n"
                             + cmdline_fix(ctx, {"numa_balancing": "disable"}, "keeps it off from boot")),
))


register(Check(
    id="memory.zone_reclaim", title="Zone reclaim off", area="memory",
    summary="With zone_reclaim_mode set, an allocation reclaims memory on its own node before "
            "using another node's free memory: a synchronous stall in the allocating thread.",
    reads=("/proc/sys/vm/zone_reclaim_mode",), docs=SYSCTL_VM, kind="int",
    observe=lambda ctx: _absent_is_skip(ctx, record_field(ctx, "memory.sysctl", "zone_reclaim_mode"),
                                        "this kernel has no NUMA, so no zone reclaim", "/proc/sys/vm",
                                        PROC_SYS_VM_ANCHORS, "CONFIG_NUMA"),
    fix=lambda ctx, e, obs: sysctl_fix("vm.zone_reclaim_mode", suggest(e, 0)),
))


# ---- memory.compact_unevictable -----------------------------------------------------------

# Files every kernel has in /proc/sys/vm that no probe reads: a snapshot holds them only when
# the whole folder was copied, so a listing with one of them is complete. (swappiness is read,
# so a snapshot taken before this check existed lists it but not compact_unevictable_allowed.)
_UNREAD_VM_ANCHORS = ("overcommit_memory", "min_free_kbytes")


def _compact_unevictable_fix(ctx, e, obs):
    return (sysctl_fix("vm.compact_unevictable_allowed", suggest(e, 0))
            + "\n# PREEMPT_RT kernels start at 0 and log a warning when it is changed (Linux 5.7+)")


register(Check(
    id="memory.compact_unevictable", title="Compaction leaves mlocked pages alone", area="memory",
    summary="mlock() keeps pages in RAM, not in place: with vm.compact_unevictable_allowed=1 (the default "
            "except on PREEMPT_RT) compaction migrates mlocked pages too, and a thread that touches a page "
            "being moved waits in a minor fault until the copy is done (admin-guide/sysctl/vm.rst, "
            "mm/unevictable-lru.rst).",
    reads=("/proc/sys/vm/compact_unevictable_allowed",), docs=SYSCTL_VM, kind="int",
    observe=lambda ctx: _absent_is_skip(ctx, record_field(ctx, "memory.sysctl", "compact_unevictable_allowed"),
                                        "this kernel has no compaction, so it cannot move mlocked pages",
                                        "/proc/sys/vm", _UNREAD_VM_ANCHORS, "CONFIG_COMPACTION"),
    fix=_compact_unevictable_fix,
))


# ---- memory.dirty -------------------------------------------------------------------------

def _dirty(ctx):
    vm = ctx.probe("memory.sysctl")
    if isinstance(vm, Unread):
        return vm
    value = {"dirty_ratio": vm.dirty_ratio, "dirty_background_ratio": vm.dirty_background_ratio}
    notes = []
    if isinstance(vm.dirty_bytes, int) and vm.dirty_bytes:
        notes.append(f"vm.dirty_bytes={vm.dirty_bytes} is in effect instead of the ratio")
        value["dirty_ratio"] = None
    if isinstance(vm.dirty_background_bytes, int) and vm.dirty_background_bytes:
        notes.append(f"vm.dirty_background_bytes={vm.dirty_background_bytes} is in effect instead of the ratio")
        value["dirty_background_ratio"] = None
    shown = (f"dirty_ratio={vm.dirty_limit}, dirty_background_ratio={vm.dirty_background_limit}"
             if not isinstance(vm.dirty_limit, Unread) and not isinstance(vm.dirty_background_limit, Unread)
             else None)
    return Obs(value, shown, "; ".join(notes))


def _dirty_fix(ctx, e, obs):
    lines = []
    for name, default in (("dirty_ratio", 10), ("dirty_background_ratio", 3)):
        exp = e.get(name) if isinstance(e, dict) else None
        value = exp.suggest() if exp is not None else default
        lines.append(sysctl_fix(f"vm.{name}", value))
    return "\n".join(lines)


register(Check(
    id="memory.dirty", title="Dirty page writeback thresholds", area="memory",
    summary="dirty_background_ratio only wakes the flusher threads, which write back in the background; "
            "dirty_ratio is the limit at which a process that dirties pages is throttled in "
            "balance_dirty_pages() (from halfway between the two, since 3.2). Low values keep each "
            "writeback burst short (admin-guide/sysctl/vm.rst, mm/page-writeback.c).",
    reads=("/proc/sys/vm/dirty_ratio", "/proc/sys/vm/dirty_background_ratio", "/proc/sys/vm/dirty_bytes",
           "/proc/sys/vm/dirty_background_bytes"),
    docs=SYSCTL_VM, kind="int", fields={"dirty_ratio": "int", "dirty_background_ratio": "int"},
    observe=_dirty, fix=_dirty_fix,
))


# ---- memory.hugepages ---------------------------------------------------------------------

def _size(kb: int) -> str:
    return f"{kb // 1048576} GiB" if kb >= 1048576 else f"{kb // 1024} MiB" if kb >= 1024 else f"{kb} kB"


def _boot_size(kb: int) -> str:
    return f"{kb // 1048576}G" if kb % 1048576 == 0 else f"{kb // 1024}M" if kb % 1024 == 0 else f"{kb}K"


def _request_for(configured, size_kb: int, default_kb: int | None):
    """The hugepages= that applies to ``size_kb`` (the last one, as the kernel keeps it), or None."""
    default = configured.default_hugepagesz_kb or default_kb
    found = [r for r in configured.hugepages if (r.size_kb or default) == size_kb]
    return found[-1] if found else None


def _node_form(req) -> str:
    return ",".join(f"{n}:{c}" for n, c in req.per_node)


def _node_form_in_effect(hp) -> str | None:
    """A node-form hugepages= on this host's command line that the per-node pools show was
    honoured (proof that this kernel takes the form, whatever its version), as text, or None."""
    if isinstance(hp.configured, Unread) or isinstance(hp.nodes, Unread):
        return None
    default = hp.default_size_kb if isinstance(hp.default_size_kb, int) else None
    for req in hp.configured.hugepages:
        size = req.size_kb or hp.configured.default_hugepagesz_kb or default
        if not req.per_node or not req.count or size is None:
            continue
        have = {n.node: (p.total if (p := n.pool(size)) is not None else None) for n in hp.nodes}
        if all(isinstance(have.get(n), int) and have[n] >= c for n, c in req.per_node):
            return f"hugepages={_node_form(req)}"
    return None


def _hugepages(ctx):
    hp = ctx.probe("memory.hugepages")
    if isinstance(hp, Unread):
        return hp
    if isinstance(hp.pools, Unread):
        evidence = not_on_this_kernel(ctx, hp.pools, MM, option="CONFIG_HUGETLBFS")
        if evidence:
            return Skip(f"this kernel has no hugetlbfs ({evidence})")
        return hp.pools
    pools = {}
    per_node_pools: dict = {}
    parts = []
    for pool in hp.pools:
        pools[pool.size_kb] = pool.total
        per_node = []
        if not isinstance(hp.nodes, Unread):
            counts = {}
            for node in hp.nodes:
                p = node.pool(pool.size_kb)
                if p is not None:
                    counts[node.node] = p.total
                if p is not None and isinstance(p.total, int) and p.total:
                    per_node.append(f"node{node.node}: {p.total}")
            per_node_pools[pool.size_kb] = counts
        where = f" ({', '.join(per_node)})" if per_node else ""
        parts.append(f"{_size(pool.size_kb)} x {pool.total}{where}")
    requests = {}
    if not isinstance(hp.configured, Unread):
        default = hp.default_size_kb if isinstance(hp.default_size_kb, int) else None
        for size_kb in pools:
            req = _request_for(hp.configured, size_kb, default)
            if req is not None:
                requests[size_kb] = req
    return Obs(pools, "; ".join(parts) or "no hugepage sizes",
               extra={"requests": requests, "nodes": per_node_pools})


def _unmet_request(ctx, size: int, req, have: int, node_pools: dict | None) -> str | None:
    """Why a boot request for ``size`` is not in effect, or None when it is."""
    if req.per_node:
        if node_pools is not None and any(isinstance(node_pools.get(n), Unread) for n, _ in req.per_node):
            node_pools = None  # a node's count could not be read: judge the total only
        if node_pools is not None:
            short = [(n, c, node_pools.get(n)) for n, c in req.per_node
                     if not (isinstance(node_pools.get(n), int) and node_pools[n] >= c)]
            if not short:
                return None
        elif have >= req.count:
            return None
        form = f"hugepages={_node_form(req)}"
        newer, release = kernel_at_least(ctx, *HUGEPAGES_NODE_FORM_SINCE), kernel_release(ctx)
        old = ""
        if newer is False:
            first = req.per_node[0][0]
            if have == first:
                return (f"configured but not in effect: Linux {release} predates the node form of "
                        f"hugepages= (5.16) and read {form} as {first} pages (its leading number), spread "
                        "over the nodes")
            old = (f"; Linux {release} predates the node form (5.16), so unless the distribution "
                   "carries it the kernel read only the leading number")
        if node_pools is not None:
            where = "; ".join(f"node{n} asks for {c}, " + ("no such node" if h is None else f"has {h}")
                              for n, c, h in short)
            return (f"configured but not in effect: {form} on the command line ({_size(size)} pages), "
                    f"{where} (memory fragmented or too small on that node){old}")
        if old:
            return f"configured but not in effect: {form} on the command line, {have} x {_size(size)} reserved{old}"
    if have < req.count:
        return (f"configured but not in effect: the command line asks for {req.count} x {_size(size)}, "
                f"the kernel reserved {have} (memory fragmented or too small on that node)")
    return None


def _hugepages_judge(ctx, obs, expectation, missing):
    pools: dict = obs.value
    if not isinstance(expectation, dict):
        return None
    size_exp, pages_exp = expectation.get("size_kb"), expectation.get("pages")
    candidates = {s: n for s, n in pools.items() if size_exp is None or size_exp.matches(s)}
    unread = [n for n in candidates.values() if isinstance(n, Unread)]
    # A boot request the kernel could not satisfy (fragmented or too little memory on the node,
    # or a form this kernel does not parse) is its own failure, even when the smaller pool it
    # did get would meet the profile.
    for size, req in obs.extra.get("requests", {}).items():
        have = pools.get(size)
        if size in candidates and isinstance(have, int):
            why = _unmet_request(ctx, size, req, have, obs.extra.get("nodes", {}).get(size))
            if why:
                return Verdict("fail", why)
    for size, total in candidates.items():
        if isinstance(total, int) and (pages_exp is None or pages_exp.matches(total)):
            return Verdict("pass", f"{_size(size)} pool: {total} pages")
    if unread:
        return Verdict("unknown", f"could not read {unread[0].source}: {unread[0].reason}")
    if not candidates:
        return Verdict("fail", f"this kernel offers no hugepage size matching {size_exp}")
    return Verdict("fail", "no pool of the expected size holds the expected number of pages")


def hugepage_reservation(source: Context | Host, node: int | None = None, pages: int = 1,
                         size_kb: int = 1048576, why_node: str = "") -> str:
    """Commands that reserve ``pages`` hugepages of ``size_kb`` on NUMA ``node`` of a host: at
    run time through the node's sysfs file, and at boot in the form this host's kernel takes.

    ``node`` None: the highest-numbered node. The boot line follows the kernel version:
    Linux 5.16+ takes the node form ``hugepages=0:0,1:N``; an older kernel reads only its
    leading number, so there the fix reserves N on every node (a boot-time count is spread
    over the nodes with memory, admin-guide/mm/hugetlbpage.rst) and frees the other nodes'
    share early in boot. The text says which rule it applied. Nothing is run."""
    ctx = source if isinstance(source, Context) else Context(source)
    hp = ctx.probe("memory.hugepages")
    nodes = hp if isinstance(hp, Unread) else hp.nodes
    ids = None if isinstance(nodes, Unread) else [n.node for n in nodes]
    if node is None:
        node = max(ids) if ids else 0
        why_node = why_node or ("the highest-numbered node; put them on the NIC's node: "
                                "cat /sys/class/net/IFACE/device/numa_node")
    if ids and node not in ids:
        return f"# node {node} does not exist here (nodes: {', '.join(map(str, ids))})"
    sysfs = f"{NODE_DIR}/node{node}/hugepages/hugepages-{size_kb}kB/nr_hugepages"
    current = "unknown"
    if ids:
        pool = next(n for n in nodes if n.node == node).pool(size_kb)  # type: ignore[union-attr]
        current = "size not offered" if pool is None else str(pool.total)
    boot = {"default_hugepagesz": _boot_size(size_kb), "hugepagesz": _boot_size(size_kb)}
    lines = [f"# {pages} x {_size(size_kb)} pages on NUMA node {node}"
             + (f" ({why_node})" if why_node else "") + f"; now: {current}",
             "# at run time (as root); the kernel allocates what contiguous memory allows, so read it back:",
             f"echo {pages} > {sysfs}", f"cat {sysfs}"]
    if ids is None or len(ids) == 1:
        lines.append("# at boot, before memory fragments"
                     + (" (one NUMA node: the plain count):" if ids else
                        f" (the node list could not be read: {nodes}; the plain count):"))
        lines.append(cmdline_fix(ctx, {**boot, "hugepages": str(pages)}))
        return "\n".join(lines)
    newer, release = kernel_at_least(ctx, *HUGEPAGES_NODE_FORM_SINCE), kernel_release(ctx)
    seen = _node_form_in_effect(hp)
    if newer is True or seen:
        per_node = ",".join(f"{n}:{pages if n == node else 0}" for n in ids)
        why = (f"Linux {release} (5.16+) takes the node form of hugepages=" if newer is True else
               f"Linux {release} predates the node form upstream (5.16), but this host's {seen} is in "
               "effect per node, so its kernel takes the form (a distribution backport)")
        lines.append(f"# at boot, before memory fragments: {why} and reserves on the named nodes only:")
        lines.append(cmdline_fix(ctx, {**boot, "hugepages": per_node}))
        return "\n".join(lines)
    if newer is False:
        rule = (f"Linux {release} predates the node form of hugepages= (5.16) and would read "
                f"hugepages=0:... as its leading number")
    else:
        rule = (f"the kernel version is unknown ({newer.reason}), so this uses what every kernel "
                "accepts")
    total = pages * len(ids)
    others = [n for n in ids if n != node]
    lines.append(f"# at boot: {rule}. Reserve {total} ({pages} per node: a boot-time count is spread over "
                 "the nodes with memory), then free the other nodes' share.")
    lines.append("# early in every boot, before the application starts (tuned [sysfs], a systemd oneshot "
                 f"unit), free node{'s' if len(others) > 1 else ''} {', '.join(map(str, others))}:")
    for n in others:
        lines.append(f"echo 0 > {NODE_DIR}/node{n}/hugepages/hugepages-{size_kb}kB/nr_hugepages")
    lines.append(cmdline_fix(ctx, {**boot, "hugepages": str(total)},
                             "takes effect at the next boot; a distribution kernel whose kernel-parameters.txt "
                             "documents the node form (a backport) takes hugepages=0:0,1:N as 5.16+ does"))
    return "\n".join(lines)


def _isolated_node(ctx) -> tuple[int | None, str]:
    """The NUMA node that holds every isolated CPU, for placing the pool, and why."""
    isolated = isolation_sets(ctx).get("isolated")
    numa = ctx.probe("memory.numa")
    if not isinstance(isolated, (set, frozenset)) or not isolated or isinstance(numa, Unread) \
            or isinstance(numa.nodes, Unread):
        return None, ""
    for n in numa.nodes:
        if isinstance(n.cpus, (set, frozenset)) and isolated <= n.cpus:
            return n.node, f"the node of the isolated CPUs {format_cpulist(isolated)}"
    return None, ""


def _hugepages_fix(ctx, e, obs):
    size_kb = e["size_kb"].suggest() if isinstance(e, dict) and "size_kb" in e else 1048576
    pages = e["pages"].suggest() if isinstance(e, dict) and "pages" in e else 1
    node, why = _isolated_node(ctx)
    return hugepage_reservation(ctx, node, pages, size_kb, why)


register(Check(
    id="memory.hugepages", title="Hugepages reserved", area="memory",
    summary="Buffers on hugepages need far fewer TLB entries, so fewer TLB misses and page walks; "
            "a pool reserved at boot cannot be taken by others or fail to allocate later "
            "(admin-guide/mm/hugetlbpage). The node form hugepages=0:0,1:N exists since 5.16; the "
            "fix follows the host's kernel version.",
    reads=("/sys/kernel/mm/hugepages/*/nr_hugepages", "/sys/devices/system/node/node*/hugepages/*",
           "/proc/meminfo", "/proc/cmdline", "/proc/sys/kernel/osrelease"),
    docs="https://docs.kernel.org/admin-guide/mm/hugetlbpage.html", kind="int",
    fields={"size_kb": "int", "pages": "int"}, observe=_hugepages, judge=_hugepages_judge, fix=_hugepages_fix,
))
