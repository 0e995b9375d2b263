"""CPUs: topology, isolation, frequency and idle states.

Read through a :class:`~hftinfra.host.Host`, parse with the pure functions below, return
frozen records that name their sources. What the kernel command line asks for
(``isolcpus=``, ``nohz_full=``, ``intel_idle.max_cstate=``) is kept apart from what sysfs
says is in effect; the difference between the two is itself a finding for the audit.

Kernel documentation behind the paths read here:
- ABI/testing/sysfs-devices-system-cpu (online, possible, present, isolated, nohz_full,
  topology/*, cache/index*/*, cpuidle/*, smt/*, cpufreq, power/energy_perf_bias)
- admin-guide/cputopology.rst, admin-guide/pm/cpufreq.rst, admin-guide/pm/intel_pstate.rst,
  admin-guide/pm/cpuidle.rst, admin-guide/pm/intel_idle.rst, power/pm_qos_interface.rst
- admin-guide/kernel-parameters.txt (isolcpus, nohz_full, rcu_nocbs, irqaffinity, idle,
  intel_idle.max_cstate, processor.max_cstate), systemd-system.conf(5) (CPUAffinity=)
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from hftinfra.cpulist import format_cpulist, parse_cpulist, parse_cpumask, parse_isolcpus
from hftinfra.host import Host, Reason, Unread
from hftinfra.parsers import parse_cmdline, parse_int
from hftinfra.probes import probe
from hftinfra.records import html_table

T = TypeVar("T")

CPU_DIR = "/sys/devices/system/cpu"
NODE_DIR = "/sys/devices/system/node"
CMDLINE = "/proc/cmdline"
PID1_STATUS = "/proc/1/status"
WORKQUEUE_CPUMASK = "/sys/devices/virtual/workqueue/cpumask"
SYSTEMD_CONF = "/etc/systemd/system.conf"
# systemd-system.conf(5): drop-ins in these folders override system.conf, later names win;
# a file of the same name in an earlier folder masks the later ones.
SYSTEMD_CONF_DIRS = ("/etc/systemd/system.conf.d", "/run/systemd/system.conf.d",
                     "/usr/local/lib/systemd/system.conf.d", "/usr/lib/systemd/system.conf.d")
INTEL_PSTATE_DIR = f"{CPU_DIR}/intel_pstate"
AMD_PSTATE_DIR = f"{CPU_DIR}/amd_pstate"
CPUFREQ_DIR = f"{CPU_DIR}/cpufreq"
CPUIDLE_DIR = f"{CPU_DIR}/cpuidle"
INTEL_IDLE_MAX_CSTATE = "/sys/module/intel_idle/parameters/max_cstate"
INTEL_IDLE_STATES_OFF = "/sys/module/intel_idle/parameters/states_off"
CPU_DMA_LATENCY = "/dev/cpu_dma_latency"
# power/pm_qos_interface.rst: the value /dev/cpu_dma_latency holds when nobody asked for
# anything (PM_QOS_CPU_LATENCY_DEFAULT_VALUE, 2000 s in microseconds).
PM_QOS_DEFAULT_LATENCY_US = 2_000_000_000

_CPU_NAME = re.compile(r"^cpu(\d+)$")
_NODE_NAME = re.compile(r"^node(\d+)$")
_INDEX_NAME = re.compile(r"^index(\d+)$")
_STATE_NAME = re.compile(r"^state(\d+)$")
_NUMBERED = re.compile(r"/(cpu|node|index|state|policy)\d+(?=/|$)")

CACHE_TYPES = ("Data", "Instruction", "Unified")
ROLES = ("housekeeping", "isolated", "offline", "unknown")


# ---------------------------------------------------------------------------------------
# Pure parsers


def parse_online_flag(text: str) -> bool:
    """``/sys/devices/system/cpu/cpu3/online``: ``1`` or ``0``.

    >>> parse_online_flag("0")
    False
    """
    text = text.strip()
    if text not in ("0", "1"):
        raise ValueError(f"expected 0 or 1, got {text!r}")
    return text == "1"


def parse_sysfs_cpulist(text: str) -> frozenset[int]:
    """A cpulist as sysfs prints it, including ``(null)`` for a cpumask the kernel never
    allocated: ``nohz_full`` reads ``(null)`` on a CONFIG_CPUMASK_OFFSTACK kernel booted
    without ``nohz_full=`` (``%*pbl`` of a NULL mask, drivers/base/cpu.c).

    Sample: ``18-23,26-31``.

    >>> sorted(parse_sysfs_cpulist("(null)"))
    []
    >>> sorted(parse_sysfs_cpulist("0,16"))
    [0, 16]
    """
    if text.strip() == "(null)":
        return frozenset()
    return parse_cpulist(text)


def parse_cache_size_kb(text: str) -> int:
    """``cache/index0/size``: the kernel prints kibibytes with a ``K`` suffix
    (drivers/base/cacheinfo.c, ``%uK``); ``M`` is accepted for other writers.

    Sample: ``1280K``.

    >>> parse_cache_size_kb("49152K"), parse_cache_size_kb("2M")
    (49152, 2048)
    """
    m = re.fullmatch(r"\s*(\d+)\s*([KkMm]?)\s*", text)
    if not m:
        raise ValueError(f"not a cache size: {text!r}")
    value = int(m.group(1))
    return value * 1024 if m.group(2) in ("M", "m") else value


def parse_distances(text: str) -> tuple[int, ...]:
    """``/sys/devices/system/node/node0/distance``: one SLIT distance per node.

    Sample: ``10 20``.

    >>> parse_distances("10 21 31")
    (10, 21, 31)
    """
    values = tuple(int(v) for v in text.split())
    if not values:
        raise ValueError("empty distance list")
    return values


def parse_node_meminfo_kb(text: str) -> dict[str, int]:
    """A node's ``meminfo`` to ``{field: kB}`` (HugePages_* lines are page counts).

    Sample: ``Node 1 MemTotal:       131899620 kB``.

    >>> parse_node_meminfo_kb("Node 1 MemTotal:  100 kB\\nNode 1 MemFree:   60 kB")
    {'MemTotal': 100, 'MemFree': 60}
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^\s*Node\s+\d+\s+([^:]+):\s*(\d+)(?:\s*kB)?\s*$", line)
        if m:
            values[m.group(1).strip()] = int(m.group(2))
    if not values:
        raise ValueError("no 'Node N Field: value kB' lines")
    return values


def parse_proc_status(text: str) -> dict[str, str]:
    """``/proc/PID/status`` to ``{field: value}``.

    Sample line: ``Cpus_allowed_list:\\t0-1``.

    >>> parse_proc_status("Name:\\tsystemd\\nCpus_allowed_list:\\t0,16")["Cpus_allowed_list"]
    '0,16'
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and " " not in key.strip():
            fields[key.strip()] = value.strip()
    if not fields:
        raise ValueError("no 'Field:\\tvalue' lines")
    return fields


def parse_cpus_allowed_list(text: str) -> frozenset[int]:
    """The ``Cpus_allowed_list`` of a ``/proc/PID/status`` text, as a CPU set."""
    fields = parse_proc_status(text)
    if "Cpus_allowed_list" not in fields:
        raise ValueError("no Cpus_allowed_list line")
    return parse_cpulist(fields["Cpus_allowed_list"])


def parse_systemd_cpu_affinity(text: str) -> frozenset[int] | None:
    """``CPUAffinity=`` of the ``[Manager]`` section of a systemd-system.conf(5) file, or
    None when the file does not set it (commented out, as shipped).

    Sample: ``CPUAffinity=0 1 16 17`` (indices or ranges, separated by spaces or commas).
    An empty assignment resets to unset; the last assignment wins.

    >>> sorted(parse_systemd_cpu_affinity("[Manager]\\nCPUAffinity=0-1 16,17\\n"))
    [0, 1, 16, 17]
    >>> parse_systemd_cpu_affinity("[Manager]\\n#CPUAffinity=1 2\\n") is None
    True
    """
    section = ""
    value: frozenset[int] | None = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        # systemd.syntax(7): a trailing backslash continues the line.
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, raw = line.partition("=")
        if not sep or section != "Manager" or key.strip() != "CPUAffinity":
            continue
        raw = raw.strip()
        if not raw:
            value = None
            continue
        cpus: set[int] = set()
        for word in re.split(r"[\s,]+", raw):
            if word:
                cpus |= parse_cpulist(word)
        value = frozenset(cpus)
    return value


def parse_pm_qos_latency(data: bytes) -> int:
    """``/dev/cpu_dma_latency`` read back: the current target as a 4-byte native (x86:
    little-endian) signed int, in microseconds (power/pm_qos_interface.rst).

    Sample: ``b'\\x00\\x94\\x35\\x77'`` (2000000000, nobody holds a request).

    >>> parse_pm_qos_latency(bytes([0, 0x94, 0x35, 0x77]))
    2000000000
    """
    if len(data) != 4:
        raise ValueError(f"expected 4 bytes, got {len(data)}")
    return struct.unpack("<i", data)[0]


def parse_disable_flag(text: str) -> bool:
    """cpuidle ``stateN/disable``: ``0`` or ``1``; other non-zero values also mean disabled
    (the kernel stores any non-zero write as disabled)."""
    return parse_int(text) != 0


def parse_resume_latency(text: str) -> int | None:
    """``cpuN/power/pm_qos_resume_latency_us``: the user-space resume latency request for one
    CPU, in microseconds, or None for no constraint.

    drivers/base/power/sysfs.c (since "PM / QoS: Fix device resume latency PM QoS", 4.14)
    prints ``0`` for no constraint and ``n/a`` for a request of 0 us, which leaves the idle
    governor nothing deeper than the polling state 0. Samples: ``0``, ``n/a``, ``20``.

    >>> parse_resume_latency("0\\n"), parse_resume_latency("n/a"), parse_resume_latency("20")
    (None, 0, 20)
    """
    word = text.strip()
    if word == "n/a":
        return 0
    if word == "no constraint":  # the wording a proposed change to the same file would print
        return None
    value = parse_int(word)
    if value < 0:
        raise ValueError(f"negative resume latency {value}")
    return None if value == 0 else value


# ---------------------------------------------------------------------------------------
# Reading helpers


class _Reader:
    """Reads through a Host and remembers the paths, with CPU/node/state numbers folded to
    ``*`` so that a 384-CPU record names each kind of file once."""

    def __init__(self, host: Host):
        self.host = host
        self._sources: dict[str, None] = {}

    def _note(self, path: str) -> None:
        self._sources.setdefault(_NUMBERED.sub(lambda m: f"/{m.group(1)}*", path), None)

    def read(self, path: str) -> str | Unread:
        self._note(path)
        return self.host.read(path)

    def value(self, path: str, parse: Callable[[str], T]) -> T | Unread:
        self._note(path)
        return self.host.read_value(path, parse)

    def listdir(self, path: str) -> list[str] | Unread:
        self._note(path)
        return self.host.listdir(path)

    def read_bytes(self, path: str) -> bytes | Unread:
        self._note(path)
        return self.host.read_bytes(path)

    def readlink(self, path: str) -> str | Unread:
        self._note(path)
        return self.host.readlink(path)

    def sources(self) -> tuple[str, ...]:
        return tuple(self._sources)


def _strip(text: str | Unread) -> str | Unread:
    return text.strip() if isinstance(text, str) else text


def _numbered(names: list[str] | Unread, pattern: re.Pattern) -> list[int]:
    if isinstance(names, Unread):
        return []
    return sorted(int(m.group(1)) for n in names if (m := pattern.match(n)))


def _cmdline_set(args: dict | Unread, key: str, nr_cpus: int | None) -> frozenset[int] | Unread | None:
    """A cpulist kernel parameter: None when absent, Unread when the command line could not
    be read or the value does not parse."""
    if isinstance(args, Unread):
        return args
    if key not in args:
        return None
    value = args[key] or ""
    try:
        return parse_cpulist(value, nr_cpus)
    except ValueError as exc:
        return Unread(Reason.MALFORMED, CMDLINE, f"{key}={value}: {exc}")


def _nr_cpus(*sets: object) -> int | None:
    """Number of CPU ids for a cmdline ``N`` (the last CPU): from possible, else present."""
    for s in sets:
        if isinstance(s, frozenset) and s:
            return max(s) + 1
    return None


def _read_cmdline(r: _Reader) -> dict[str, str | None] | Unread:
    return r.value(CMDLINE, parse_cmdline)


# ---------------------------------------------------------------------------------------
# Topology


@dataclass(frozen=True)
class Cache:
    """One ``cpuN/cache/indexM`` entry."""

    index: int
    level: int | Unread
    type: str | Unread  # 'Data' | 'Instruction' | 'Unified'
    size_kb: int | Unread
    shared_cpus: frozenset[int] | Unread
    id: int | Unread  # cache/indexM/id (kernel 5.x+)

    @property
    def name(self) -> str:
        """``L1d``, ``L1i``, ``L2``, ``L3`` as lscpu names them."""
        level = self.level if isinstance(self.level, int) else "?"
        suffix = {"Data": "d", "Instruction": "i"}.get(self.type, "") if isinstance(self.type, str) else ""
        return f"L{level}{suffix}"


@dataclass(frozen=True)
class Cpu:
    id: int
    online: bool | Unread
    package: int | Unread
    die: int | Unread
    core: int | Unread
    siblings: frozenset[int] | Unread  # topology/thread_siblings_list: SMT threads of this core
    numa_node: int | Unread
    caches: tuple[Cache, ...] | Unread
    package_cpus: frozenset[int] | Unread  # topology/core_siblings_list


@dataclass(frozen=True)
class NumaNode:
    node: int
    cpus: frozenset[int] | Unread
    mem_total_kb: int | Unread
    mem_free_kb: int | Unread
    distances: tuple[int, ...] | Unread  # SLIT row: distance to node 0, 1, ...


@dataclass(frozen=True)
class Topology:
    cpus: tuple[Cpu, ...]
    possible: frozenset[int] | Unread
    present: frozenset[int] | Unread
    online: frozenset[int] | Unread
    offline: frozenset[int] | Unread
    packages: tuple[int, ...]
    numa_nodes: tuple[NumaNode, ...]
    smt_active: bool | Unread
    smt_control: str | Unread  # on | off | forceoff | notsupported | notimplemented
    kernel_max: int | Unread
    sources: tuple[str, ...]

    def cpu(self, n: int) -> Cpu:
        for c in self.cpus:
            if c.id == n:
                return c
        raise KeyError(f"no CPU {n} on this host")

    @property
    def cores(self) -> tuple[frozenset[int], ...]:
        """Physical cores as sets of their hardware threads (from ``thread_siblings_list``),
        sorted by lowest CPU id; CPUs whose siblings could not be read stand alone."""
        seen: dict[frozenset[int], None] = {}
        for c in self.cpus:
            group = c.siblings if isinstance(c.siblings, frozenset) and c.id in c.siblings else frozenset({c.id})
            seen.setdefault(group, None)
        return tuple(sorted(seen, key=min))

    @property
    def threads_per_core(self) -> int | Unread:
        sizes = {len(c.siblings) for c in self.cpus if isinstance(c.siblings, frozenset)}
        if not sizes:
            first = next((c.siblings for c in self.cpus), Unread(Reason.MISSING, f"{CPU_DIR}/cpu*", "no CPUs"))
            return first if isinstance(first, Unread) else Unread(Reason.MISSING, f"{CPU_DIR}/cpu*/topology")
        return max(sizes)

    @property
    def nr_cpus(self) -> int:
        """How wide a cpumask for this host is: one past the highest CPU number known."""
        ids = [c.id for c in self.cpus]
        if not isinstance(self.possible, Unread):
            ids.extend(self.possible)
        return max(ids) + 1 if ids else 1

    def node_of(self, cpu: int) -> int | Unread:
        return self.cpu(cpu).numa_node

    def _repr_html_(self) -> str:
        rows = [[c.id, c.online, c.package, c.die, c.core, c.siblings, c.numa_node,
                 " ".join(f"{k.name}:{k.size_kb}K" for k in c.caches) if isinstance(c.caches, tuple) else c.caches]
                for c in self.cpus]
        note = (f"online {format_cpulist(self.online) if isinstance(self.online, frozenset) else self.online}; "
                f"SMT active: {self.smt_active}; packages {list(self.packages)}; "
                f"NUMA nodes {[n.node for n in self.numa_nodes]}")
        return html_table("CPU topology", ["cpu", "online", "package", "die", "core", "siblings", "node",
                                            "caches"], rows, note)


def _cpu_ids(r: _Reader) -> tuple[list[int], frozenset | Unread, frozenset | Unread, frozenset | Unread,
                                   frozenset | Unread]:
    possible = r.value(f"{CPU_DIR}/possible", parse_cpulist)
    present = r.value(f"{CPU_DIR}/present", parse_cpulist)
    online = r.value(f"{CPU_DIR}/online", parse_cpulist)
    offline = r.value(f"{CPU_DIR}/offline", parse_cpulist)
    ids = set(_numbered(r.listdir(CPU_DIR), _CPU_NAME))
    # Every present CPU has a cpuN directory; 'possible' also lists hot-pluggable slots that
    # may never be populated, so they count only when a directory exists.
    for s in (present, online, offline):
        if isinstance(s, frozenset):
            ids |= s
    return sorted(ids), possible, present, online, offline


def read_node_cpus(read_value: Callable[[str, Callable[[str], frozenset[int]]], frozenset[int] | Unread],
                   node_dir: str) -> frozenset[int] | Unread:
    """A NUMA node's CPUs from its ``cpulist``, or from its ``cpumap`` where only that was
    captured (both are printed by drivers/base/node.c from the same mask).

    ``read_value`` is ``Host.read_value`` or a reader's equivalent."""
    listed = read_value(f"{node_dir}/cpulist", parse_cpulist)
    if isinstance(listed, Unread) and listed.reason is Reason.MISSING:
        mapped = read_value(f"{node_dir}/cpumap", parse_cpumask)
        if not (isinstance(mapped, Unread) and mapped.reason is Reason.MISSING):
            return mapped
    return listed


def _node_cpulists(r: _Reader) -> tuple[list[int], dict[int, frozenset[int] | Unread]]:
    nodes = _numbered(r.listdir(NODE_DIR), _NODE_NAME)
    return nodes, {n: read_node_cpus(r.value, f"{NODE_DIR}/node{n}") for n in nodes}


def _read_cpu(r: _Reader, n: int, online_set: frozenset | Unread,
              node_cpus: dict[int, frozenset[int] | Unread]) -> Cpu:
    base = f"{CPU_DIR}/cpu{n}"
    online: bool | Unread = r.value(f"{base}/online", parse_online_flag)
    if isinstance(online, Unread) and online.reason is Reason.MISSING:
        # x86 has no cpu0/online unless CPU 0 is hot-pluggable (cpu0_hotplug): the global
        # list decides then.
        if isinstance(online_set, frozenset):
            online = n in online_set
        elif isinstance(online_set, Unread):
            online = online_set
    entries = r.listdir(base)
    topo = f"{base}/topology"

    def topo_value(name: str, parse: Callable[[str], T]) -> T | Unread:
        value = r.value(f"{topo}/{name}", parse)
        if isinstance(value, Unread) and value.reason is Reason.MISSING and online is False:
            # The kernel removes topology/ and cache/ while a CPU is offline (cpuhp
            # "base/topology:prepare", "base/cacheinfo:online").
            return Unread(Reason.MISSING, value.source, "CPU offline: the kernel removes its topology files")
        return value

    package = topo_value("physical_package_id", parse_int)
    die = topo_value("die_id", parse_int)
    core = topo_value("core_id", parse_int)
    siblings = topo_value("thread_siblings_list", parse_cpulist)
    package_cpus = topo_value("core_siblings_list", parse_cpulist)

    numa_node: int | Unread
    linked = [int(m.group(1)) for e in (entries if isinstance(entries, list) else []) if (m := _NODE_NAME.match(e))]
    if linked:
        numa_node = linked[0]
    else:
        found = [node for node, cpus in node_cpus.items() if isinstance(cpus, frozenset) and n in cpus]
        if found:
            numa_node = found[0]
        elif not node_cpus:
            numa_node = Unread(Reason.MISSING, NODE_DIR, "no NUMA node directories")
        else:
            unread = [v for v in node_cpus.values() if isinstance(v, Unread)]
            numa_node = unread[0] if unread else Unread(Reason.MISSING, f"{base}/node*",
                                                         f"CPU {n} is in no node's cpulist")

    caches: tuple[Cache, ...] | Unread
    cache_dir = f"{base}/cache"
    names = r.listdir(cache_dir)
    if isinstance(names, Unread):
        caches = (Unread(Reason.MISSING, cache_dir, "CPU offline: the kernel removes its cache files")
                  if names.reason is Reason.MISSING and online is False else names)
    else:
        items = []
        for idx in _numbered(names, _INDEX_NAME):
            d = f"{cache_dir}/index{idx}"
            items.append(Cache(
                index=idx,
                level=r.value(f"{d}/level", parse_int),
                type=_strip(r.read(f"{d}/type")),
                size_kb=r.value(f"{d}/size", parse_cache_size_kb),
                shared_cpus=r.value(f"{d}/shared_cpu_list", parse_cpulist),
                id=r.value(f"{d}/id", parse_int),
            ))
        caches = tuple(items)
    return Cpu(id=n, online=online, package=package, die=die, core=core, siblings=siblings,
               numa_node=numa_node, caches=caches, package_cpus=package_cpus)


def _read_node(r: _Reader, node: int, cpus: frozenset[int] | Unread) -> NumaNode:
    base = f"{NODE_DIR}/node{node}"
    meminfo = r.value(f"{base}/meminfo", parse_node_meminfo_kb)

    def field_kb(name: str) -> int | Unread:
        if isinstance(meminfo, Unread):
            return meminfo
        if name not in meminfo:
            return Unread(Reason.MALFORMED, f"{base}/meminfo", f"no {name} line")
        return meminfo[name]

    return NumaNode(node=node, cpus=cpus, mem_total_kb=field_kb("MemTotal"), mem_free_kb=field_kb("MemFree"),
                    distances=r.value(f"{base}/distance", parse_distances))


@probe("cpu.topology")
def read_topology(host: Host) -> Topology:
    """Packages, dies, cores, SMT siblings, NUMA nodes and caches of every CPU the kernel
    knows (admin-guide/cputopology.rst), offline ones included."""
    r = _Reader(host)
    ids, possible, present, online, offline = _cpu_ids(r)
    node_ids, node_cpus = _node_cpulists(r)
    cpus = tuple(_read_cpu(r, n, online, node_cpus) for n in ids)
    packages = tuple(sorted({c.package for c in cpus if isinstance(c.package, int)}))
    nodes = tuple(_read_node(r, n, node_cpus[n]) for n in node_ids)
    smt_active = r.value(f"{CPU_DIR}/smt/active", parse_online_flag)
    smt_control = _strip(r.read(f"{CPU_DIR}/smt/control"))
    kernel_max = r.value(f"{CPU_DIR}/kernel_max", parse_int)
    return Topology(cpus=cpus, possible=possible, present=present, online=online, offline=offline,
                    packages=packages, numa_nodes=nodes, smt_active=smt_active, smt_control=smt_control,
                    kernel_max=kernel_max, sources=r.sources())


# ---------------------------------------------------------------------------------------
# Isolation


@dataclass(frozen=True)
class Isolation:
    """CPU partitioning: configured (command line, system.conf) next to in effect (sysfs,
    PID 1's affinity). Sets are None when the setting is absent, Unread when unreadable."""

    isolated: frozenset[int] | Unread
    nohz_full: frozenset[int] | Unread
    cmdline_isolcpus: frozenset[int] | Unread | None
    cmdline_isolcpus_flags: frozenset[str] | Unread | None
    cmdline_nohz_full: frozenset[int] | Unread | None
    cmdline_rcu_nocbs: frozenset[int] | Unread | None
    cmdline_rcu_nocb_poll: bool | Unread
    cmdline_irqaffinity: frozenset[int] | Unread | None
    systemd_affinity: frozenset[int] | Unread
    systemd_affinity_configured: frozenset[int] | Unread | None
    systemd_affinity_configured_in: str | None
    workqueue_cpumask: frozenset[int] | Unread
    online: frozenset[int] | Unread
    housekeeping: frozenset[int] | Unread
    roles: dict[int, str]
    sources: tuple[str, ...]

    @property
    def isolated_any(self) -> frozenset[int] | Unread:
        """CPUs taken from the scheduler or the tick in effect: isolated ∪ nohz_full."""
        if isinstance(self.isolated, Unread):
            return self.isolated
        nohz = self.nohz_full if isinstance(self.nohz_full, frozenset) else frozenset()
        return self.isolated | nohz

    def _repr_html_(self) -> str:
        rows = [
            ["isolated CPUs", self.cmdline_isolcpus, self.isolated],
            ["isolcpus flags", self.cmdline_isolcpus_flags and ",".join(sorted(self.cmdline_isolcpus_flags))
             if isinstance(self.cmdline_isolcpus_flags, frozenset) else self.cmdline_isolcpus_flags, "-"],
            ["nohz_full", self.cmdline_nohz_full, self.nohz_full],
            ["rcu_nocbs", self.cmdline_rcu_nocbs, "-"],
            ["irqaffinity (default IRQ affinity)", self.cmdline_irqaffinity, "-"],
            ["systemd CPUAffinity", self.systemd_affinity_configured, self.systemd_affinity],
            ["unbound workqueue cpumask", "-", self.workqueue_cpumask],
            ["housekeeping (derived)", "-", self.housekeeping],
        ]
        return html_table("CPU isolation", ["setting", "configured", "in effect"], rows)


def _housekeeping(online, isolated, nohz_full) -> frozenset[int] | Unread:
    if isinstance(online, Unread):
        return online
    if isinstance(isolated, Unread):
        return isolated
    if isinstance(nohz_full, Unread) and nohz_full.reason is not Reason.MISSING:
        return nohz_full
    nohz = nohz_full if isinstance(nohz_full, frozenset) else frozenset()
    return online - isolated - nohz


def _roles(ids: set[int], online, isolated, nohz_full) -> dict[int, str]:
    roles: dict[int, str] = {}
    nohz = nohz_full if isinstance(nohz_full, frozenset) else frozenset()
    for n in sorted(ids):
        if isinstance(online, Unread):
            roles[n] = "unknown"
        elif n not in online:
            roles[n] = "offline"
        elif isinstance(isolated, Unread):
            roles[n] = "unknown"
        elif n in isolated or n in nohz:
            roles[n] = "isolated"
        elif isinstance(nohz_full, Unread) and nohz_full.reason is not Reason.MISSING:
            roles[n] = "unknown"
        else:
            roles[n] = "housekeeping"
    return roles


def _systemd_affinity_configured(r: _Reader) -> tuple[frozenset[int] | Unread | None, str | None]:
    files = [SYSTEMD_CONF]
    seen: dict[str, str] = {}
    for d in SYSTEMD_CONF_DIRS:
        names = r.listdir(d)
        if isinstance(names, Unread):
            continue
        for name in names:
            if name.endswith(".conf") and name not in seen:
                seen[name] = f"{d}/{name}"
    files += [seen[name] for name in sorted(seen)]
    value: frozenset[int] | Unread | None = None
    where: str | None = None
    for path in files:
        text = r.read(path)
        if isinstance(text, Unread):
            if text.reason is not Reason.MISSING:
                return text, path
            continue
        try:
            found = parse_systemd_cpu_affinity(text)
        except ValueError as exc:
            return Unread(Reason.MALFORMED, path, f"CPUAffinity: {exc}"), path
        if found is not None or re.search(r"^\s*CPUAffinity\s*=\s*$", text, re.M):
            value, where = found, path
    return value, where


@probe("cpu.isolation")
def read_isolation(host: Host) -> Isolation:
    """isolcpus, nohz_full, rcu_nocbs, irqaffinity, systemd CPUAffinity and the unbound
    workqueue mask (admin-guide/kernel-per-CPU-kthreads.rst, timers/no_hz.rst)."""
    r = _Reader(host)
    possible = r.value(f"{CPU_DIR}/possible", parse_cpulist)
    present = r.value(f"{CPU_DIR}/present", parse_cpulist)
    online = r.value(f"{CPU_DIR}/online", parse_cpulist)
    isolated = r.value(f"{CPU_DIR}/isolated", parse_sysfs_cpulist)
    nohz_full = r.value(f"{CPU_DIR}/nohz_full", parse_sysfs_cpulist)
    if isinstance(nohz_full, Unread) and nohz_full.reason is Reason.MISSING:
        nohz_full = Unread(Reason.MISSING, nohz_full.source,
                           "no such file (kernels built without CONFIG_NO_HZ_FULL have none)")
    nr = _nr_cpus(possible, present, online)
    args = _read_cmdline(r)

    iso_cpus: frozenset[int] | Unread | None
    iso_flags: frozenset[str] | Unread | None
    if isinstance(args, Unread):
        iso_cpus = iso_flags = args
    elif "isolcpus" not in args:
        iso_cpus = iso_flags = None
    else:
        try:
            iso_flags, iso_cpus = parse_isolcpus(args["isolcpus"] or "", nr)
        except ValueError as exc:
            iso_cpus = iso_flags = Unread(Reason.MALFORMED, CMDLINE, f"isolcpus={args['isolcpus']}: {exc}")

    nocb_poll: bool | Unread = args if isinstance(args, Unread) else "rcu_nocb_poll" in args
    configured, configured_in = _systemd_affinity_configured(r)
    ids = set(possible) if isinstance(possible, frozenset) else set()
    for s in (present, online):
        if isinstance(s, frozenset):
            ids |= s
    return Isolation(
        isolated=isolated,
        nohz_full=nohz_full,
        cmdline_isolcpus=iso_cpus,
        cmdline_isolcpus_flags=iso_flags,
        cmdline_nohz_full=_cmdline_set(args, "nohz_full", nr),
        cmdline_rcu_nocbs=_cmdline_set(args, "rcu_nocbs", nr),
        cmdline_rcu_nocb_poll=nocb_poll,
        cmdline_irqaffinity=_cmdline_set(args, "irqaffinity", nr),
        systemd_affinity=r.value(PID1_STATUS, parse_cpus_allowed_list),
        systemd_affinity_configured=configured,
        systemd_affinity_configured_in=configured_in,
        workqueue_cpumask=r.value(WORKQUEUE_CPUMASK, parse_cpumask),
        online=online,
        housekeeping=_housekeeping(online, isolated, nohz_full),
        roles=_roles(ids, online, isolated, nohz_full),
        sources=r.sources(),
    )


# ---------------------------------------------------------------------------------------
# Frequency


@dataclass(frozen=True)
class CpuFrequency:
    """One CPU's cpufreq view (through ``cpuN/cpufreq``, a link to its policy)."""

    cpu: int
    policy: str | Unread | None  # 'policy3'; None on kernels where cpuN/cpufreq is a directory
    driver: str | Unread
    governor: str | Unread
    available_governors: tuple[str, ...] | Unread
    min_khz: int | Unread  # scaling_min_freq
    max_khz: int | Unread  # scaling_max_freq
    cur_khz: int | Unread  # scaling_cur_freq
    hw_min_khz: int | Unread  # cpuinfo_min_freq
    hw_max_khz: int | Unread  # cpuinfo_max_freq (turbo included)
    base_khz: int | Unread  # base_frequency (intel_pstate with HWP)
    epp: str | Unread  # energy_performance_preference
    available_epp: tuple[str, ...] | Unread
    epb: int | Unread  # power/energy_perf_bias, 0 (performance) .. 15 (powersave)


@dataclass(frozen=True)
class Frequency:
    has_cpufreq: bool | Unread  # False: no cpufreq driver at all (typical of a VM)
    cpus: tuple[CpuFrequency, ...]
    intel_pstate_status: str | Unread  # active | passive | off
    no_turbo: bool | Unread
    min_perf_pct: int | Unread
    max_perf_pct: int | Unread
    turbo_pct: int | Unread
    hwp_dynamic_boost: bool | Unread
    amd_pstate_status: str | Unread
    boost: bool | Unread  # cpufreq/boost (acpi-cpufreq, amd-pstate)
    sources: tuple[str, ...]

    @property
    def drivers(self) -> frozenset[str]:
        return frozenset(c.driver for c in self.cpus if isinstance(c.driver, str))

    def governors(self) -> dict[str, frozenset[int]]:
        """Governor -> CPUs using it (only CPUs whose governor could be read)."""
        out: dict[str, set[int]] = {}
        for c in self.cpus:
            if isinstance(c.governor, str):
                out.setdefault(c.governor, set()).add(c.cpu)
        return {g: frozenset(s) for g, s in sorted(out.items())}

    @property
    def turbo_enabled(self) -> bool | Unread:
        """intel_pstate ``no_turbo`` when that driver runs, else ``cpufreq/boost``."""
        if not isinstance(self.no_turbo, Unread):
            return not self.no_turbo
        if not isinstance(self.boost, Unread):
            return self.boost
        if self.has_cpufreq is False:
            return Unread(Reason.UNSUPPORTED, CPUFREQ_DIR, "no cpufreq driver: turbo not visible to the OS")
        return self.no_turbo

    def _repr_html_(self) -> str:
        if self.has_cpufreq is False:
            return html_table("CPU frequency", ["cpufreq"], [["no cpufreq driver (typical of a VM)"]])
        rows = [[c.cpu, c.driver, c.governor, c.min_khz, c.max_khz, c.cur_khz, c.epp, c.epb] for c in self.cpus]
        note = (f"intel_pstate {self.intel_pstate_status}, no_turbo {self.no_turbo}, "
                f"min_perf_pct {self.min_perf_pct}, boost {self.boost}")
        return html_table("CPU frequency", ["cpu", "driver", "governor", "min kHz", "max kHz", "cur kHz",
                                             "EPP", "EPB"], rows, note)


def _no_driver(path: str) -> Unread:
    return Unread(Reason.UNSUPPORTED, path, "no cpufreq driver on this host")


def _read_cpu_freq(r: _Reader, n: int, has_cpufreq: bool | Unread) -> CpuFrequency:
    base = f"{CPU_DIR}/cpu{n}/cpufreq"
    epb = r.value(f"{CPU_DIR}/cpu{n}/power/energy_perf_bias", parse_int)
    if has_cpufreq is False:
        u = _no_driver(base)
        return CpuFrequency(n, None, u, u, u, u, u, u, u, u, u, u, u, epb)
    link = r.readlink(base)
    policy: str | Unread | None
    if isinstance(link, str):
        policy = link.rstrip("/").rsplit("/", 1)[-1]
    elif link.reason is Reason.UNSUPPORTED:  # EINVAL: a real directory (older kernels)
        policy = None
    else:
        policy = link

    def khz(name: str) -> int | Unread:
        return r.value(f"{base}/{name}", parse_int)

    return CpuFrequency(
        cpu=n,
        policy=policy,
        driver=_strip(r.read(f"{base}/scaling_driver")),
        governor=_strip(r.read(f"{base}/scaling_governor")),
        available_governors=r.value(f"{base}/scaling_available_governors", lambda t: tuple(t.split())),
        min_khz=khz("scaling_min_freq"),
        max_khz=khz("scaling_max_freq"),
        cur_khz=khz("scaling_cur_freq"),
        hw_min_khz=khz("cpuinfo_min_freq"),
        hw_max_khz=khz("cpuinfo_max_freq"),
        base_khz=khz("base_frequency"),
        epp=_strip(r.read(f"{base}/energy_performance_preference")),
        available_epp=r.value(f"{base}/energy_performance_available_preferences", lambda t: tuple(t.split())),
        epb=epb,
    )


def _has_cpufreq(r: _Reader, ids: list[int]) -> bool | Unread:
    names = r.listdir(CPUFREQ_DIR)
    if isinstance(names, list) and any(n.startswith("policy") for n in names):
        return True
    for n in ids[:1]:
        if r.host.isdir(f"{CPU_DIR}/cpu{n}/cpufreq"):
            return True
    if isinstance(names, list):
        # cpufreq core present (the directory exists) but no driver registered a policy.
        return False
    return Unread(names.reason, names.source, "cannot tell whether a cpufreq driver is loaded")


def _flag(text: str) -> bool:
    return parse_int(text) != 0


@probe("cpu.frequency")
def read_frequency(host: Host) -> Frequency:
    """Scaling driver, governor, limits and energy preferences per CPU
    (admin-guide/pm/cpufreq.rst, admin-guide/pm/intel_pstate.rst)."""
    r = _Reader(host)
    ids, *_ = _cpu_ids(r)
    has = _has_cpufreq(r, ids)
    cpus = tuple(_read_cpu_freq(r, n, has) for n in ids)
    pstate = INTEL_PSTATE_DIR

    def pstate_value(name: str, parse: Callable[[str], T]) -> T | Unread:
        value = r.value(f"{pstate}/{name}", parse)
        if isinstance(value, Unread) and value.reason is Reason.MISSING and not host.isdir(pstate):
            return Unread(Reason.MISSING, value.source, f"no {pstate} folder: intel_pstate is not loaded")
        return value

    boost = r.value(f"{CPUFREQ_DIR}/boost", _flag)
    if isinstance(boost, Unread) and boost.reason is Reason.MISSING and has is False:
        boost = _no_driver(boost.source)
    return Frequency(
        has_cpufreq=has,
        cpus=cpus,
        intel_pstate_status=pstate_value("status", str.strip),
        no_turbo=pstate_value("no_turbo", _flag),
        min_perf_pct=pstate_value("min_perf_pct", parse_int),
        max_perf_pct=pstate_value("max_perf_pct", parse_int),
        turbo_pct=pstate_value("turbo_pct", parse_int),
        hwp_dynamic_boost=pstate_value("hwp_dynamic_boost", _flag),
        amd_pstate_status=_strip(r.read(f"{AMD_PSTATE_DIR}/status")),
        boost=boost,
        sources=r.sources(),
    )


# ---------------------------------------------------------------------------------------
# Idle


@dataclass(frozen=True)
class IdleState:
    index: int
    name: str | Unread
    desc: str | Unread
    latency_us: int | Unread  # exit latency
    residency_us: int | Unread  # target residency
    disabled: bool | Unread
    default_status: str | Unread  # 'enabled' | 'disabled' (kernel 5.6+)
    usage: int | Unread
    time_us: int | Unread


# What a record built without reading a field holds there: unknown, never a value.
_NOT_READ = Unread(Reason.UNSUPPORTED, "", "not read into this record")


@dataclass(frozen=True)
class CpuIdle:
    cpu: int
    states: tuple[IdleState, ...] | Unread
    # power/pm_qos_resume_latency_us: None no constraint, 0 only the polling state 0
    resume_latency_us: int | None | Unread = _NOT_READ

    @property
    def enabled_states(self) -> tuple[IdleState, ...] | Unread:
        if isinstance(self.states, Unread):
            return self.states
        return tuple(s for s in self.states if s.disabled is False)

    @property
    def max_enabled_latency_us(self) -> int | Unread:
        """Exit latency of the deepest state this CPU may enter (sysfs ``disable`` only).

        Unread when the states cannot be read, none are listed, or none is enabled: a CPU
        with no state to judge has no latency, and 0 would read as the best possible one."""
        if isinstance(self.states, Unread):
            return self.states
        base = f"{CPU_DIR}/cpu{self.cpu}/cpuidle"
        if not self.states:
            return Unread(Reason.MISSING, base, "no idle states listed")
        flags = [s.disabled for s in self.states if isinstance(s.disabled, Unread)]
        if flags:
            return flags[0]
        states = self.enabled_states
        if not states:
            return Unread(Reason.MISSING, base, "every idle state is disabled (no state to judge)")
        lat = [s.latency_us for s in states]
        bad = [v for v in lat if isinstance(v, Unread)]
        if bad:
            return bad[0]
        return max(lat)


@dataclass(frozen=True)
class Idle:
    driver: str | Unread  # cpuidle/current_driver: intel_idle, acpi_idle, haltpoll, 'none'
    governor: str | Unread  # cpuidle/current_governor (older kernels: current_governor_ro)
    available_governors: tuple[str, ...] | Unread
    cpus: tuple[CpuIdle, ...]
    cmdline_intel_idle_max_cstate: int | Unread | None
    cmdline_processor_max_cstate: int | Unread | None
    cmdline_idle: str | Unread | None  # idle=poll | halt | nomwait
    intel_idle_max_cstate: int | Unread  # /sys/module/intel_idle/parameters/max_cstate
    pm_qos_latency_us: int | Unread  # /dev/cpu_dma_latency, the current target
    sources: tuple[str, ...]
    intel_idle_states_off: int | Unread = _NOT_READ  # /sys/module/intel_idle/parameters/states_off

    @property
    def pm_qos_requested(self) -> bool | Unread:
        """Whether some process holds a CPU latency request below the default."""
        if isinstance(self.pm_qos_latency_us, Unread):
            return self.pm_qos_latency_us
        return self.pm_qos_latency_us != PM_QOS_DEFAULT_LATENCY_US

    def state_names(self) -> tuple[str, ...]:
        for c in self.cpus:
            if isinstance(c.states, tuple):
                return tuple(s.name if isinstance(s.name, str) else f"state{s.index}" for s in c.states)
        return ()

    def _repr_html_(self) -> str:
        names = self.state_names()
        rows = []
        for c in self.cpus:
            if isinstance(c.states, Unread):
                rows.append([c.cpu, c.states] + [""] * max(len(names) - 1, 0))
                continue
            rows.append([c.cpu] + [
                f"{s.latency_us}us {'off' if s.disabled is True else 'on' if s.disabled is False else s.disabled}"
                for s in c.states])
        note = (f"driver {self.driver}, governor {self.governor}, /dev/cpu_dma_latency {self.pm_qos_latency_us}, "
                f"intel_idle.max_cstate {self.cmdline_intel_idle_max_cstate}, "
                f"processor.max_cstate {self.cmdline_processor_max_cstate}, idle= {self.cmdline_idle}")
        return html_table("CPU idle states", ["cpu", *names], rows, note)

    def limits(self) -> IdleLimits:
        """Every place an idle-state limit can come from, with this host's value of each
        (admin-guide/pm/cpuidle.rst, admin-guide/pm/intel_idle.rst)."""
        from hftinfra.records import show

        def per_cpu(values: dict[int, object]) -> str:
            groups: dict[str, set[int]] = {}
            for cpu, v in values.items():
                # The path differs per CPU and is in the source column; the reason is what groups.
                text = (f"unknown ({v.reason}{': ' + v.detail if v.detail else ''})" if isinstance(v, Unread)
                        else show(v))
                groups.setdefault(text, set()).add(cpu)
            if not groups:
                return "no CPUs listed"
            if len(groups) == 1:
                return next(iter(groups))
            return "; ".join(f"{text} on {format_cpulist(frozenset(c))}" for text, c in
                             sorted(groups.items(), key=lambda g: min(g[1])))

        def resume(v: object) -> object:
            if v is None:
                return "0 (no constraint)"
            if v == 0:
                return "n/a (0 us: the polling state only)"
            return f"{v} us" if isinstance(v, int) else v

        def cmd(v: object) -> object:
            return "not on the command line" if v is None else v

        qos = self.pm_qos_latency_us
        qos_text = (f"{qos} (no request held)" if qos == PM_QOS_DEFAULT_LATENCY_US
                    else f"{qos} us" if isinstance(qos, int) else qos)
        deepest = {c.cpu: (f"{c.max_enabled_latency_us} us" if isinstance(c.max_enabled_latency_us, int)
                           else c.max_enabled_latency_us) for c in self.cpus}
        rows = (
            IdleLimit("idle= (x86)", cmd(self.cmdline_idle), CMDLINE,
                      "poll and halt leave no cpuidle driver (poll: CPUs spin; halt: HLT only); "
                      "nomwait keeps intel_idle off"),
            IdleLimit("cpuidle driver", self.driver, f"{CPUIDLE_DIR}/current_driver",
                      "which idle states exist at all; none: the architecture's default idle"),
            IdleLimit("intel_idle.max_cstate", f"{show(self.intel_idle_max_cstate)} (command line: "
                      f"{show(cmd(self.cmdline_intel_idle_max_cstate))})", INTEL_IDLE_MAX_CSTATE,
                      "states with a higher index are never registered; 0 disables intel_idle"),
            IdleLimit("processor.max_cstate", cmd(self.cmdline_processor_max_cstate), CMDLINE,
                      "the same for acpi_idle, the fallback driver; nothing while intel_idle runs"),
            IdleLimit("intel_idle.states_off", self.intel_idle_states_off, INTEL_IDLE_STATES_OFF,
                      "bitmask of state indices disabled at boot; they show as disable 1 and can be "
                      "enabled again per CPU"),
            IdleLimit("per-state disable (deepest enabled exit latency)", per_cpu(deepest),
                      f"{CPU_DIR}/cpuN/cpuidle/stateM/disable",
                      "a disabled state is never chosen for that CPU"),
            IdleLimit("PM QoS, all CPUs", qos_text, CPU_DMA_LATENCY,
                      "while a process holds a request, no CPU enters a state with a longer exit latency"),
            IdleLimit("PM QoS, per CPU", per_cpu({c.cpu: resume(c.resume_latency_us) for c in self.cpus}),
                      f"{CPU_DIR}/cpuN/power/pm_qos_resume_latency_us",
                      "the governors use the smaller of this and the global request for that CPU"),
            IdleLimit("BIOS: package C-state limit, C1E promotion", "not visible in sysfs",
                      "MSR 0xE2 (package C-state limit), MSR 0x1FC bit 1 (C1E promotion): turbostat, rdmsr",
                      "cap what the hardware does whatever the OS asks; C1E promotion turns C1 into C1E"),
        )
        return IdleLimits(rows)


@dataclass(frozen=True)
class IdleLimit:
    """One source of an idle-state limit: its value here, where it is read, what it does."""

    limit: str
    value: object
    source: str
    effect: str


@dataclass(frozen=True)
class IdleLimits:
    rows: tuple[IdleLimit, ...]

    def _repr_html_(self) -> str:
        return html_table("Where idle-state limits come from", ["limit", "on this host", "read from", "effect"],
                           [[r.limit, r.value, r.source, r.effect] for r in self.rows])

    def __str__(self) -> str:
        from hftinfra.records import show

        return "\n".join(f"{r.limit}: {show(r.value)} ({r.source})" for r in self.rows)


def _read_states(r: _Reader, n: int, online: bool | None) -> tuple[IdleState, ...] | Unread:
    base = f"{CPU_DIR}/cpu{n}/cpuidle"
    names = r.listdir(base)
    if isinstance(names, Unread):
        if names.reason is Reason.MISSING and online is False:
            return Unread(Reason.MISSING, base, "CPU offline")
        return names
    states = []
    for i in _numbered(names, _STATE_NAME):
        d = f"{base}/state{i}"
        states.append(IdleState(
            index=i,
            name=_strip(r.read(f"{d}/name")),
            desc=_strip(r.read(f"{d}/desc")),
            latency_us=r.value(f"{d}/latency", parse_int),
            residency_us=r.value(f"{d}/residency", parse_int),
            disabled=r.value(f"{d}/disable", parse_disable_flag),
            default_status=_strip(r.read(f"{d}/default_status")),
            usage=r.value(f"{d}/usage", parse_int),
            time_us=r.value(f"{d}/time", parse_int),
        ))
    return tuple(states)


def _cmdline_int(args: dict | Unread, key: str) -> int | Unread | None:
    if isinstance(args, Unread):
        return args
    if key not in args:
        return None
    try:
        return parse_int(args[key] or "")
    except ValueError:
        return Unread(Reason.MALFORMED, CMDLINE, f"{key}={args[key]}: not an integer")


@probe("cpu.idle")
def read_idle(host: Host) -> Idle:
    """cpuidle driver, governor and per-CPU states (admin-guide/pm/cpuidle.rst,
    admin-guide/pm/intel_idle.rst), the idle limits on the command line, and the CPU
    latency target held through /dev/cpu_dma_latency (power/pm_qos_interface.rst)."""
    r = _Reader(host)
    ids, _possible, _present, online, _offline = _cpu_ids(r)
    governor = _strip(r.read(f"{CPUIDLE_DIR}/current_governor"))
    if isinstance(governor, Unread) and governor.reason is Reason.MISSING:
        # Before kernel 5.x made it writable, only current_governor_ro existed.
        governor = _strip(r.read(f"{CPUIDLE_DIR}/current_governor_ro"))
    cpus = tuple(CpuIdle(n, _read_states(r, n, (n in online) if isinstance(online, frozenset) else None),
                         r.value(f"{CPU_DIR}/cpu{n}/power/pm_qos_resume_latency_us", parse_resume_latency))
                 for n in ids)
    args = _read_cmdline(r)
    idle_arg: str | Unread | None = args if isinstance(args, Unread) else args.get("idle", None)
    if not isinstance(args, Unread) and "idle" in args and idle_arg is None:
        idle_arg = ""
    raw = r.read_bytes(CPU_DMA_LATENCY)
    qos: int | Unread
    if isinstance(raw, Unread):
        qos = raw
    else:
        try:
            qos = parse_pm_qos_latency(raw)
        except ValueError as exc:
            qos = Unread(Reason.MALFORMED, CPU_DMA_LATENCY, str(exc))
    return Idle(
        driver=_strip(r.read(f"{CPUIDLE_DIR}/current_driver")),
        governor=governor,
        available_governors=r.value(f"{CPUIDLE_DIR}/available_governors", lambda t: tuple(t.split())),
        cpus=cpus,
        cmdline_intel_idle_max_cstate=_cmdline_int(args, "intel_idle.max_cstate"),
        cmdline_processor_max_cstate=_cmdline_int(args, "processor.max_cstate"),
        cmdline_idle=idle_arg,
        intel_idle_max_cstate=r.value(INTEL_IDLE_MAX_CSTATE, parse_int),
        pm_qos_latency_us=qos,
        intel_idle_states_off=r.value(INTEL_IDLE_STATES_OFF, parse_int),
        sources=r.sources(),
    )


# ---------------------------------------------------------------------------------------
# Platform hints: what firmware (BIOS) settings leave visible to the OS


CPUINFO = "/proc/cpuinfo"
CLOCKSOURCE_DIR = "/sys/devices/system/clocksource/clocksource0"
IOMMU_CLASS = "/sys/class/iommu"
WATCHDOG_CLASS = "/sys/class/watchdog"
UNCORE_DIR = f"{CPU_DIR}/intel_uncore_frequency"


@dataclass(frozen=True)
class Platform:
    """Traces of firmware settings in what the kernel shows: CPU flags (``vmx`` vanishes
    when the BIOS locks VT-x off, kernel 5.6+), clocksources (``hpet`` only when the BIOS
    enables it), IOMMU units (VT-d/AMD-Vi), hardware watchdog devices."""

    cpu_flags: frozenset[str] | Unread  # flags of the first processor in /proc/cpuinfo
    cpu_vendor: str | Unread
    clocksource: str | Unread
    available_clocksources: tuple[str, ...] | Unread
    iommus: tuple[str, ...] | Unread  # /sys/class/iommu: dmar0, ivhd0, ...
    watchdogs: tuple[str, ...] | Unread  # /sys/class/watchdog: watchdog0 (iTCO_wdt, ipmi), ...
    uncore_frequency: tuple[str, ...] | Unread  # intel_uncore_frequency package_XX_die_YY
    sources: tuple[str, ...]

    def has_flag(self, flag: str) -> bool | Unread:
        return self.cpu_flags if isinstance(self.cpu_flags, Unread) else flag in self.cpu_flags


@probe("cpu.platform")
def read_platform(host: Host) -> Platform:
    from hftinfra.parsers import cpuinfo_flags, parse_cpuinfo

    r = _Reader(host)
    info = r.value(CPUINFO, parse_cpuinfo)
    flags: frozenset[str] | Unread
    vendor: str | Unread
    if isinstance(info, Unread):
        flags = vendor = info
    else:
        first = next((b for b in info if "processor" in b), info[0] if info else {})
        flags = cpuinfo_flags(first) if ("flags" in first or "Features" in first) else Unread(
            Reason.MISSING, CPUINFO, "no flags line")
        vendor = first.get("vendor_id") or Unread(Reason.MISSING, CPUINFO, "no vendor_id line")

    def names(path: str) -> tuple[str, ...] | Unread:
        listed = r.listdir(path)
        return listed if isinstance(listed, Unread) else tuple(listed)

    return Platform(
        cpu_flags=flags,
        cpu_vendor=vendor,
        clocksource=_strip(r.read(f"{CLOCKSOURCE_DIR}/current_clocksource")),
        available_clocksources=r.value(f"{CLOCKSOURCE_DIR}/available_clocksource", lambda t: tuple(t.split())),
        iommus=names(IOMMU_CLASS),
        watchdogs=names(WATCHDOG_CLASS),
        uncore_frequency=names(UNCORE_DIR),
        sources=r.sources(),
    )
