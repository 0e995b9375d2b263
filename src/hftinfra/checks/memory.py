"""Memory checks: THP, KSM, swap, reclaim, NUMA balancing, writeback and hugepages."""

from __future__ import annotations

from hftinfra.checks.base import Check, Obs, Skip, Verdict, register
from hftinfra.checks.common import (
    PROC_SYS_KERNEL_ANCHORS,
    PROC_SYS_VM_ANCHORS,
    cmdline_fix,
    not_on_this_kernel,
    record_field,
    suggest,
    sysctl_fix,
    sysfs_fix,
)
from hftinfra.host import Unread

SYSCTL_VM = "https://docs.kernel.org/admin-guide/sysctl/vm.html"
SYSCTL_KERNEL = "https://docs.kernel.org/admin-guide/sysctl/kernel.html"


MM = "/sys/kernel/mm"


def _absent_is_skip(ctx, value, why, parent, anchors=(), option=None):
    """Skip when there is evidence the kernel lacks the feature; else the Unread stands."""
    if isinstance(value, Unread):
        evidence = not_on_this_kernel(ctx, value, parent, anchors, option)
        if evidence:
            return Skip(f"{why} ({evidence})")
        return value
    return Obs(value)


# ---- memory.thp ---------------------------------------------------------------------------

def _thp(ctx):
    thp = ctx.probe("memory.thp")
    if isinstance(thp, Unread):
        return thp
    if isinstance(thp.enabled, Unread):
        evidence = not_on_this_kernel(ctx, thp.enabled, MM, option="CONFIG_TRANSPARENT_HUGEPAGE")
        if evidence:
            return Skip(f"this kernel has no transparent hugepages ({evidence})")
        return thp.enabled
    note = ""
    if isinstance(thp.configured, str):
        note = f"transparent_hugepage={thp.configured} on the command line"
    defrag = f", defrag {thp.defrag}" if isinstance(thp.defrag, str) else ""
    shown = f"{thp.enabled}{defrag}" if isinstance(thp.enabled, str) else None
    return Obs(thp.enabled, shown, note, {"configured": thp.configured})


def _thp_judge(ctx, obs, expectation, missing):
    configured = obs.extra.get("configured")
    if (isinstance(configured, str) and isinstance(obs.value, str) and expectation is not None
            and expectation.matches(configured) and not expectation.matches(obs.value)):
        return Verdict("fail", f"configured but not in effect: transparent_hugepage={configured} on the "
                               f"command line, sysfs says {obs.value} (changed after boot?)")
    return None


register(Check(
    id="memory.thp", title="Transparent hugepages", area="memory",
    summary="With THP on, khugepaged scans and collapses pages in the background and page faults "
            "may compact memory synchronously; both stall the faulting thread unpredictably "
            "(admin-guide/mm/transhuge).",
    reads=("/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/defrag",
           "/proc/cmdline"),
    docs="https://docs.kernel.org/admin-guide/mm/transhuge.html", kind="str", observe=_thp, judge=_thp_judge,
    fix=lambda ctx, e, obs: (sysfs_fix("/sys/kernel/mm/transparent_hugepage/enabled", suggest(e, "never"),
                                       "the command line below keeps it")
                             + "\n" + cmdline_fix(ctx, {"transparent_hugepage": str(suggest(e, "never"))})),
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
    summary="Lower dirty ratios start writeback earlier and in smaller batches, so a writer is "
            "less likely to be throttled in balance_dirty_pages() and flushes are shorter.",
    reads=("/proc/sys/vm/dirty_ratio", "/proc/sys/vm/dirty_background_ratio", "/proc/sys/vm/dirty_bytes",
           "/proc/sys/vm/dirty_background_bytes"),
    docs=SYSCTL_VM, kind="int", fields={"dirty_ratio": "int", "dirty_background_ratio": "int"},
    observe=_dirty, fix=_dirty_fix,
))


# ---- memory.hugepages ---------------------------------------------------------------------

def _size(kb: int) -> str:
    return f"{kb // 1048576} GiB" if kb >= 1048576 else f"{kb // 1024} MiB" if kb >= 1024 else f"{kb} kB"


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
    parts = []
    for pool in hp.pools:
        pools[pool.size_kb] = pool.total
        per_node = []
        if not isinstance(hp.nodes, Unread):
            for node in hp.nodes:
                p = node.pool(pool.size_kb)
                if p is not None and isinstance(p.total, int) and p.total:
                    per_node.append(f"node{node.node}: {p.total}")
        where = f" ({', '.join(per_node)})" if per_node else ""
        parts.append(f"{_size(pool.size_kb)} x {pool.total}{where}")
    requested = {}
    if not isinstance(hp.configured, Unread):
        default = hp.default_size_kb if isinstance(hp.default_size_kb, int) else None
        for size_kb in pools:
            n = hp.configured.requested(size_kb, default)
            if n is not None:
                requested[size_kb] = n
    return Obs(pools, "; ".join(parts) or "no hugepage sizes", extra={"requested": requested})


def _hugepages_judge(ctx, obs, expectation, missing):
    pools: dict = obs.value
    if not isinstance(expectation, dict):
        return None
    size_exp, pages_exp = expectation.get("size_kb"), expectation.get("pages")
    candidates = {s: n for s, n in pools.items() if size_exp is None or size_exp.matches(s)}
    unread = [n for n in candidates.values() if isinstance(n, Unread)]
    # A boot request the kernel could not satisfy (fragmented or too little memory on the node)
    # is its own failure, even when the smaller pool it did get would meet the profile.
    for size, want in obs.extra.get("requested", {}).items():
        have = pools.get(size)
        if size in candidates and isinstance(have, int) and have < want:
            return Verdict("fail", f"configured but not in effect: the command line asks for {want} x "
                                   f"{_size(size)}, the kernel reserved {have} (memory fragmented or "
                                   "too small on that node)")
    for size, total in candidates.items():
        if isinstance(total, int) and (pages_exp is None or pages_exp.matches(total)):
            return Verdict("pass", f"{_size(size)} pool: {total} pages")
    if unread:
        return Verdict("unknown", f"could not read {unread[0].source}: {unread[0].reason}")
    if not candidates:
        return Verdict("fail", f"this kernel offers no hugepage size matching {size_exp}")
    return Verdict("fail", "no pool of the expected size holds the expected number of pages")


def _hugepages_fix(ctx, e, obs):
    size_kb = e["size_kb"].suggest() if isinstance(e, dict) and "size_kb" in e else 1048576
    pages = e["pages"].suggest() if isinstance(e, dict) and "pages" in e else 1
    size = "1G" if size_kb == 1048576 else f"{size_kb // 1024}M" if size_kb >= 1024 else f"{size_kb}K"
    return (f"# reserve at boot: {_size(size_kb)} pages are only reliably available before memory fragments.\n"
            "# Pin them to the NIC's NUMA node with the node form, e.g. hugepages=0:0,1:"
            f"{pages}\n"
            + cmdline_fix(ctx, {"default_hugepagesz": size, "hugepagesz": size, "hugepages": str(pages)}))


register(Check(
    id="memory.hugepages", title="Hugepages reserved", area="memory",
    summary="Buffers on hugepages need far fewer TLB entries, so fewer TLB misses and page walks; "
            "a pool reserved at boot cannot be taken by others or fail to allocate later "
            "(admin-guide/mm/hugetlbpage).",
    reads=("/sys/kernel/mm/hugepages/*/nr_hugepages", "/sys/devices/system/node/node*/hugepages/*",
           "/proc/meminfo", "/proc/cmdline"),
    docs="https://docs.kernel.org/admin-guide/mm/hugetlbpage.html", kind="int",
    fields={"size_kb": "int", "pages": "int"}, observe=_hugepages, judge=_hugepages_judge, fix=_hugepages_fix,
))
