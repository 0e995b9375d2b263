"""Memory: hugepages per size and NUMA node, THP, KSM, swap and the vm sysctls.

Read, then parse with pure functions, then frozen records that name their sources. What
the command line asks for (``hugepages=``, ``transparent_hugepage=``) is kept apart from
what sysfs says is in effect: a boot-time request the kernel could not satisfy (1 GiB
pages on a fragmented node) shows up as the difference between the two.

Kernel documentation: admin-guide/mm/hugetlbpage.rst (pools, per-node files, boot
parameters), admin-guide/mm/transhuge.rst (THP), admin-guide/mm/ksm.rst,
admin-guide/sysctl/vm.rst and admin-guide/sysctl/kernel.rst (numa_balancing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hftinfra.cpu import read_node_cpus
from hftinfra.host import Host, Reason, Unread
from hftinfra.parsers import (
    parse_bracketed_choice,
    parse_cmdline_pairs,
    parse_int,
    parse_meminfo,
    parse_memsize,
    parse_swaps,
    sysctl_path,
)
from hftinfra.probes import probe

MEMINFO = "/proc/meminfo"
SWAPS = "/proc/swaps"
CMDLINE = "/proc/cmdline"
HUGEPAGES_DIR = "/sys/kernel/mm/hugepages"
NODE_DIR = "/sys/devices/system/node"
THP_DIR = "/sys/kernel/mm/transparent_hugepage"
THP_ENABLED = f"{THP_DIR}/enabled"
THP_DEFRAG = f"{THP_DIR}/defrag"
KSM_DIR = "/sys/kernel/mm/ksm"
KSM_RUN = f"{KSM_DIR}/run"
KSM_PAGES_SHARING = f"{KSM_DIR}/pages_sharing"
COMPACT_UNEVICTABLE = "/proc/sys/vm/compact_unevictable_allowed"

# Record field -> sysctl name (admin-guide/sysctl/vm.rst, admin-guide/sysctl/kernel.rst).
VM_SYSCTLS = {
    "swappiness": "vm.swappiness",
    "zone_reclaim_mode": "vm.zone_reclaim_mode",
    "dirty_ratio": "vm.dirty_ratio",
    "dirty_background_ratio": "vm.dirty_background_ratio",
    "dirty_bytes": "vm.dirty_bytes",
    "dirty_background_bytes": "vm.dirty_background_bytes",
    "stat_interval": "vm.stat_interval",
    "numa_balancing": "kernel.numa_balancing",
}

# admin-guide/mm/ksm.rst: values of /sys/kernel/mm/ksm/run.
KSM_RUN_STATES = {0: "stopped", 1: "running", 2: "unmerging"}

_POOL_DIR = re.compile(r"^hugepages-(\d+)kB$")
_NODE_NAME = re.compile(r"^node(\d+)$")


# ---- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HugepagePool:
    """One hugepage size, system-wide or on one NUMA node (page counts, not kB).

    ``reserved`` is None for a node pool: the kernel keeps reservations only globally
    (a node directory has no ``resv_hugepages``)."""

    size_kb: int
    total: int | Unread
    free: int | Unread
    reserved: int | Unread | None
    surplus: int | Unread
    source: str

    @property
    def total_kb(self) -> int | Unread:
        return self.total if isinstance(self.total, Unread) else self.total * self.size_kb

    @property
    def in_use(self) -> int | Unread:
        if isinstance(self.total, Unread):
            return self.total
        if isinstance(self.free, Unread):
            return self.free
        return self.total - self.free


@dataclass(frozen=True)
class NodeHugepages:
    node: int
    pools: tuple[HugepagePool, ...] | Unread
    source: str

    def pool(self, size_kb: int) -> HugepagePool | None:
        if isinstance(self.pools, Unread):
            return None
        return next((p for p in self.pools if p.size_kb == size_kb), None)


@dataclass(frozen=True)
class HugepageRequest:
    """One ``hugepages=`` on the command line. ``size_kb`` None: the default size (a
    ``hugepages=`` before any ``hugepagesz=``). ``per_node`` holds the node format
    ``hugepages=0:2,1:4`` as ``((0, 2), (1, 4))``, with ``count`` their sum."""

    size_kb: int | None
    count: int
    per_node: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class MemoryBootParams:
    """Memory parameters as configured on the kernel command line (not what is in effect).

    ``None`` means the parameter is absent. ``ignored`` lists parameters the kernel would
    reject, each with why."""

    hugepages: tuple[HugepageRequest, ...]
    default_hugepagesz_kb: int | None
    transparent_hugepage: str | None
    numa_balancing: str | None
    ignored: tuple[str, ...]
    source: str = CMDLINE

    def requested(self, size_kb: int, default_size_kb: int | None = None) -> int | None:
        """Pages of ``size_kb`` the command line asks for (None: it does not ask)."""
        default = self.default_hugepagesz_kb or default_size_kb
        counts = [r.count for r in self.hugepages if (r.size_kb or default) == size_kb]
        return counts[-1] if counts else None


@dataclass(frozen=True)
class Hugepages:
    """HugeTLB pools: system-wide per size, per NUMA node per size, the default size from
    ``/proc/meminfo`` and what the command line asked for."""

    default_size_kb: int | Unread
    pools: tuple[HugepagePool, ...] | Unread
    nodes: tuple[NodeHugepages, ...] | Unread
    configured: MemoryBootParams | Unread
    sources: tuple[str, ...] = (MEMINFO, HUGEPAGES_DIR, NODE_DIR, CMDLINE)

    def pool(self, size_kb: int) -> HugepagePool | None:
        if isinstance(self.pools, Unread):
            return None
        return next((p for p in self.pools if p.size_kb == size_kb), None)

    @property
    def total_kb(self) -> int | Unread:
        """Memory held in every hugepage pool, in kB."""
        if isinstance(self.pools, Unread):
            return self.pools
        total = 0
        for p in self.pools:
            if isinstance(p.total_kb, Unread):
                return p.total_kb
            total += p.total_kb
        return total


@dataclass(frozen=True)
class NodeMemory:
    node: int
    cpus: frozenset[int] | Unread
    mem_total_kb: int | Unread
    mem_free_kb: int | Unread
    distances: tuple[int, ...] | Unread
    source: str


@dataclass(frozen=True)
class NumaMemory:
    """Memory per NUMA node and in total. ``nodes`` is Unread on a kernel without NUMA
    support (no ``/sys/devices/system/node``)."""

    nodes: tuple[NodeMemory, ...] | Unread
    mem_total_kb: int | Unread
    mem_free_kb: int | Unread
    mem_available_kb: int | Unread
    sources: tuple[str, ...] = (NODE_DIR, MEMINFO)


@dataclass(frozen=True)
class ThpSize:
    """One multi-size THP control, ``hugepages-<size>kB/enabled`` (admin-guide/mm/transhuge.rst):
    ``always``, ``madvise``, ``never`` or ``inherit`` (take the top-level ``enabled``)."""

    size_kb: int
    enabled: str | Unread
    source: str


@dataclass(frozen=True)
class TransparentHugepages:
    """THP ``enabled`` and ``defrag`` in effect (sysfs) and as configured on the command
    line (``transparent_hugepage=``; None when absent)."""

    enabled: str | Unread
    enabled_choices: tuple[str, ...] | Unread
    defrag: str | Unread
    defrag_choices: tuple[str, ...] | Unread
    configured: str | None | Unread
    anon_hugepages_kb: int | Unread
    sources: tuple[str, ...] = (THP_ENABLED, THP_DEFRAG, CMDLINE, MEMINFO)
    # Per-size controls (hugepages-<size>kB/enabled, Linux 6.8+), as listed in THP_DIR: empty
    # when the directory holds none (an older kernel, or a snapshot that did not record them).
    sizes: tuple[ThpSize, ...] | Unread = Unread(Reason.UNSUPPORTED, THP_DIR, "per-size controls not read")


@dataclass(frozen=True)
class Ksm:
    run: int | Unread
    pages_sharing: int | Unread
    sources: tuple[str, ...] = (KSM_RUN, KSM_PAGES_SHARING)

    @property
    def state(self) -> str | Unread:
        if isinstance(self.run, Unread):
            return self.run
        return KSM_RUN_STATES.get(self.run, f"unknown run value {self.run}")


@dataclass(frozen=True)
class SwapDevice:
    filename: str
    type: str
    size_kb: int
    used_kb: int
    priority: int


@dataclass(frozen=True)
class Swap:
    """Active swap areas (``/proc/swaps``) and the totals from ``/proc/meminfo``."""

    devices: tuple[SwapDevice, ...] | Unread
    total_kb: int | Unread
    free_kb: int | Unread
    sources: tuple[str, ...] = (SWAPS, MEMINFO)

    @property
    def active(self) -> bool | Unread:
        if isinstance(self.devices, Unread):
            return self.devices
        return bool(self.devices)


@dataclass(frozen=True)
class VmSysctls:
    """The vm sysctls that matter for latency, plus ``kernel.numa_balancing``.

    ``dirty_bytes`` and ``dirty_ratio`` exclude each other: writing one makes the other
    read 0 (admin-guide/sysctl/vm.rst), and the same holds for the background pair."""

    swappiness: int | Unread
    zone_reclaim_mode: int | Unread
    dirty_ratio: int | Unread
    dirty_background_ratio: int | Unread
    dirty_bytes: int | Unread
    dirty_background_bytes: int | Unread
    stat_interval: int | Unread
    numa_balancing: int | Unread
    sources: tuple[str, ...] = (*(sysctl_path(n) for n in VM_SYSCTLS.values()), COMPACT_UNEVICTABLE)
    # Whether compaction may migrate mlocked pages (admin-guide/sysctl/vm.rst); kept out of
    # by_name(), which lists the sysctls of the settings table.
    compact_unevictable_allowed: int | Unread = Unread(Reason.UNSUPPORTED, COMPACT_UNEVICTABLE, "not read")

    def by_name(self) -> dict[str, int | Unread]:
        """``{"vm.swappiness": 60, ...}``."""
        return {name: getattr(self, field) for field, name in VM_SYSCTLS.items()}

    @property
    def dirty_limit(self) -> str | Unread:
        """Which dirty limit is in effect, as a reader would state it."""
        return _dirty_pair(self.dirty_bytes, self.dirty_ratio)

    @property
    def dirty_background_limit(self) -> str | Unread:
        return _dirty_pair(self.dirty_background_bytes, self.dirty_background_ratio)


def _dirty_pair(nbytes: int | Unread, ratio: int | Unread) -> str | Unread:
    if isinstance(nbytes, Unread):
        return nbytes
    if nbytes:
        return f"{nbytes} bytes"
    if isinstance(ratio, Unread):
        return ratio
    return f"{ratio}% of available memory"


@dataclass(frozen=True)
class Memory:
    """Everything this module reads, in one record (``read_memory``)."""

    hugepages: Hugepages
    numa: NumaMemory
    thp: TransparentHugepages
    ksm: Ksm
    swap: Swap
    vm: VmSysctls


# ---- pure helpers -------------------------------------------------------------------------


def hugepage_size_kb(dirname: str) -> int:
    """``hugepages-1048576kB`` -> 1048576 (the directory names under
    ``/sys/kernel/mm/hugepages`` and ``nodeN/hugepages``)."""
    m = _POOL_DIR.match(dirname)
    if not m:
        raise ValueError(f"not a hugepage pool directory: {dirname!r}")
    return int(m.group(1))


def parse_distance(text: str) -> tuple[int, ...]:
    """``/sys/devices/system/node/node0/distance``: ``10 21`` -> ``(10, 21)``."""
    values = tuple(int(v) for v in text.split())
    if not values:
        raise ValueError("empty distance row")
    return values


def parse_memory_cmdline(text: str) -> MemoryBootParams:
    """The memory parameters of a ``/proc/cmdline``, order kept.

    Sample: ``default_hugepagesz=1G hugepagesz=1G hugepages=0:0,1:8 transparent_hugepage=never``

    Rules from admin-guide/kernel-parameters and admin-guide/mm/hugetlbpage.rst: a
    ``hugepages=`` applies to the ``hugepagesz=`` before it, or to the default size when
    it comes first; ``hugepages=`` accepts ``N`` or the node format ``node:N,node:N``;
    sizes use the kernel's ``memparse`` suffixes (``2M``, ``1G``). A value the kernel
    would reject is listed in ``ignored`` rather than guessed at.

    >>> p = parse_memory_cmdline("hugepagesz=1G hugepages=0:0,1:8 transparent_hugepage=never")
    >>> p.hugepages, p.transparent_hugepage
    ((HugepageRequest(size_kb=1048576, count=8, per_node=((0, 0), (1, 8))),), 'never')
    """
    requests: list[HugepageRequest] = []
    ignored: list[str] = []
    current_size: int | None = None
    default_size: int | None = None
    thp: str | None = None
    numa_balancing: str | None = None
    for key, value in parse_cmdline_pairs(text):
        if key in ("hugepagesz", "default_hugepagesz"):
            try:
                size_kb = parse_memsize(value or "") // 1024
                if size_kb <= 0:
                    raise ValueError("zero size")
            except ValueError:
                ignored.append(f"{key}={value}: not a size")
                continue
            if key == "hugepagesz":
                current_size = size_kb
            else:
                default_size = size_kb
        elif key == "hugepages":
            try:
                requests.append(_hugepage_request(value or "", current_size))
            except ValueError as exc:
                ignored.append(f"hugepages={value}: {exc}")
        elif key == "transparent_hugepage":
            thp = value
        elif key == "numa_balancing":
            numa_balancing = value
    return MemoryBootParams(tuple(requests), default_size, thp, numa_balancing, tuple(ignored))


def _hugepage_request(value: str, size_kb: int | None) -> HugepageRequest:
    if ":" not in value:
        count = int(value)
        if count < 0:
            raise ValueError("negative count")
        return HugepageRequest(size_kb, count)
    per_node = []
    for part in value.split(","):
        node, sep, count = part.partition(":")
        if not sep:
            raise ValueError(f"{part!r} is not node:count")
        n, c = int(node), int(count)
        if n < 0 or c < 0:
            raise ValueError("negative node or count")
        per_node.append((n, c))
    return HugepageRequest(size_kb, sum(c for _, c in per_node), tuple(per_node))


# ---- reading ------------------------------------------------------------------------------


def _meminfo(host: Host, path: str = MEMINFO) -> dict[str, int] | Unread:
    return host.read_value(path, parse_meminfo)


def _meminfo_field(info: dict[str, int] | Unread, key: str, path: str) -> int | Unread:
    if isinstance(info, Unread):
        return info
    if key not in info:
        return Unread(Reason.MISSING, path, f"no {key} line in {path}")
    return info[key]


def read_sysctl(host: Host, name: str) -> int | Unread:
    """An integer sysctl by name (``vm.swappiness``) through the host."""
    return host.read_value(sysctl_path(name), parse_int)


def _read_pool(host: Host, directory: str, size_kb: int, per_node: bool) -> HugepagePool:
    def count(fname: str) -> int | Unread:
        return host.read_value(f"{directory}/{fname}", parse_int)

    return HugepagePool(
        size_kb=size_kb,
        total=count("nr_hugepages"),
        free=count("free_hugepages"),
        reserved=None if per_node else count("resv_hugepages"),
        surplus=count("surplus_hugepages"),
        source=directory,
    )


def _read_pools(host: Host, directory: str, per_node: bool) -> tuple[HugepagePool, ...] | Unread:
    names = host.listdir(directory)
    if isinstance(names, Unread):
        return names
    pools = []
    for name in names:
        m = _POOL_DIR.match(name)
        if m:
            pools.append(_read_pool(host, f"{directory}/{name}", int(m.group(1)), per_node))
    return tuple(sorted(pools, key=lambda p: p.size_kb))


def _node_ids(host: Host) -> list[int] | Unread:
    names = host.listdir(NODE_DIR)
    if isinstance(names, Unread):
        return names
    ids = sorted(int(m.group(1)) for m in map(_NODE_NAME.match, names) if m)
    if not ids:
        return Unread(Reason.MISSING, NODE_DIR, f"no node directories in {NODE_DIR}")
    return ids


def read_memory_cmdline(host: Host) -> MemoryBootParams | Unread:
    return host.read_value(CMDLINE, parse_memory_cmdline)


@probe("memory.hugepages")
def read_hugepages(host: Host) -> Hugepages:
    meminfo = _meminfo(host)
    node_ids = _node_ids(host)
    nodes: tuple[NodeHugepages, ...] | Unread
    if isinstance(node_ids, Unread):
        nodes = node_ids
    else:
        nodes = tuple(
            NodeHugepages(n, _read_pools(host, f"{NODE_DIR}/node{n}/hugepages", per_node=True),
                          f"{NODE_DIR}/node{n}/hugepages")
            for n in node_ids)
    return Hugepages(
        default_size_kb=_meminfo_field(meminfo, "Hugepagesize", MEMINFO),
        pools=_read_pools(host, HUGEPAGES_DIR, per_node=False),
        nodes=nodes,
        configured=read_memory_cmdline(host),
    )


@probe("memory.numa")
def read_numa(host: Host) -> NumaMemory:
    meminfo = _meminfo(host)
    node_ids = _node_ids(host)
    nodes: tuple[NodeMemory, ...] | Unread
    if isinstance(node_ids, Unread):
        nodes = node_ids
    else:
        built = []
        for n in node_ids:
            base = f"{NODE_DIR}/node{n}"
            info = _meminfo(host, f"{base}/meminfo")
            built.append(NodeMemory(
                node=n,
                cpus=read_node_cpus(host.read_value, base),
                mem_total_kb=_meminfo_field(info, "MemTotal", f"{base}/meminfo"),
                mem_free_kb=_meminfo_field(info, "MemFree", f"{base}/meminfo"),
                distances=host.read_value(f"{base}/distance", parse_distance),
                source=base,
            ))
        nodes = tuple(built)
    return NumaMemory(
        nodes=nodes,
        mem_total_kb=_meminfo_field(meminfo, "MemTotal", MEMINFO),
        mem_free_kb=_meminfo_field(meminfo, "MemFree", MEMINFO),
        mem_available_kb=_meminfo_field(meminfo, "MemAvailable", MEMINFO),
    )


@probe("memory.thp")
def read_thp(host: Host) -> TransparentHugepages:
    enabled = host.read_value(THP_ENABLED, parse_bracketed_choice)
    defrag = host.read_value(THP_DEFRAG, parse_bracketed_choice)
    boot = read_memory_cmdline(host)
    return TransparentHugepages(
        enabled=enabled if isinstance(enabled, Unread) else enabled[0],
        enabled_choices=enabled if isinstance(enabled, Unread) else enabled[1],
        defrag=defrag if isinstance(defrag, Unread) else defrag[0],
        defrag_choices=defrag if isinstance(defrag, Unread) else defrag[1],
        configured=boot if isinstance(boot, Unread) else boot.transparent_hugepage,
        anon_hugepages_kb=_meminfo_field(_meminfo(host), "AnonHugePages", MEMINFO),
        sizes=_read_thp_sizes(host),
    )


def _read_thp_sizes(host: Host) -> tuple[ThpSize, ...] | Unread:
    names = host.listdir(THP_DIR)
    if isinstance(names, Unread):
        return names
    sizes = []
    for name in names:
        m = _POOL_DIR.match(name)
        if not m:
            continue
        path = f"{THP_DIR}/{name}/enabled"
        inside = host.listdir(f"{THP_DIR}/{name}")
        if not isinstance(inside, Unread) and "enabled" not in inside:
            # A size only shmem can use (8 kB on x86-64 6.18): the folder holds shmem_enabled
            # and no control for anonymous memory.
            continue
        value = host.read_value(path, parse_bracketed_choice)
        sizes.append(ThpSize(int(m.group(1)), value if isinstance(value, Unread) else value[0], path))
    return tuple(sorted(sizes, key=lambda s: s.size_kb))


@probe("memory.ksm")
def read_ksm(host: Host) -> Ksm:
    return Ksm(run=host.read_value(KSM_RUN, parse_int),
               pages_sharing=host.read_value(KSM_PAGES_SHARING, parse_int))


@probe("memory.swap")
def read_swap(host: Host) -> Swap:
    parsed = host.read_value(SWAPS, parse_swaps)
    devices = parsed if isinstance(parsed, Unread) else tuple(SwapDevice(**d) for d in parsed)
    meminfo = _meminfo(host)
    return Swap(devices=devices,
                total_kb=_meminfo_field(meminfo, "SwapTotal", MEMINFO),
                free_kb=_meminfo_field(meminfo, "SwapFree", MEMINFO))


@probe("memory.sysctl")
def read_vm_sysctls(host: Host) -> VmSysctls:
    return VmSysctls(**{field: read_sysctl(host, name) for field, name in VM_SYSCTLS.items()},
                     compact_unevictable_allowed=read_sysctl(host, "vm.compact_unevictable_allowed"))


def read_memory(host: Host) -> Memory:
    return Memory(
        hugepages=read_hugepages(host),
        numa=read_numa(host),
        thp=read_thp(host),
        ksm=read_ksm(host),
        swap=read_swap(host),
        vm=read_vm_sysctls(host),
    )


__all__ = [
    "HUGEPAGES_DIR", "KSM_RUN", "MEMINFO", "NODE_DIR", "SWAPS", "THP_DEFRAG", "THP_ENABLED",
    "VM_SYSCTLS", "HugepagePool", "HugepageRequest", "Hugepages", "Ksm", "Memory",
    "MemoryBootParams", "NodeHugepages", "NumaMemory", "NodeMemory", "Swap", "SwapDevice",
    "ThpSize", "TransparentHugepages", "VmSysctls", "hugepage_size_kb", "parse_distance",
    "parse_memory_cmdline", "read_hugepages", "read_ksm", "read_memory", "read_memory_cmdline",
    "read_numa", "read_swap", "read_sysctl", "read_thp", "read_vm_sysctls",
]
