"""Interrupts: per-CPU counts of hardware and architecture interrupts and of softirqs, and
where each numbered IRQ may run.

Read through a :class:`~hftinfra.host.Host`, parse with the pure functions below, return
frozen records that name their sources. Counts are keyed by the CPU numbers the kernel
printed in the header, never by column position alone: /proc/interrupts has a column
per online CPU (an offline CPU has none, so ``CPU0 CPU2 CPU3`` is a valid header), while
/proc/softirqs has one per possible CPU.

Kernel sources behind the formats read here:
- kernel/irq/proc.c ``show_interrupts``: the header (``prec + 8`` spaces, then
  ``CPU%-8d`` per online CPU, where ``prec`` is the number of digits of nr_irqs, at least
  3), and a numbered row: ``%*d:``, a ``%10u`` count per online CPU, the chip name
  (``%8s``, or what the chip's ``irq_print_chip`` prints), the hardware IRQ number
  (``%*lu``, only when the IRQ has a domain), ``Level``/``Edge`` (only on
  arches with CONFIG_GENERIC_IRQ_SHOW_LEVEL: arm, arm64, riscv, ...), ``-`` and the flow
  handler's name (``edge``, ``fasteoi``; x86), then the action names joined by ``", "``.
  A row is printed only for an IRQ with an action or a non-zero count. Kernels of the
  3.x series print no hwirq, so the flow name follows the chip directly
  (``IR-PCI-MSI-edge``).
- arch/x86/kernel/irq.c ``arch_show_interrupts``: ``NMI LOC SPU PMI IWI RTR PLT RES CAL
  TLB TRM THR DFR MCE MCP HYP HRE HVS`` (each only where configured), ``ERR`` and ``MIS``
  with one system-wide count, then ``PIN NPI PIW`` (KVM posted interrupts); later
  kernels add more (``PMN``, posted MSI). Each per-CPU row ends with a description.
- arch/arm64/kernel/smp.c ``arch_show_interrupts``: ``IPI0:`` .. ``IPIn:`` with a
  description, then ``Err:`` with one count; arch/arm/kernel/irq.c the same plus ``FIQ``.
- Newer kernels print each count as ``" %10u"`` (``seq_put_decimal_ull_width``; 6.18
  does, 6.6 still prints ``"%10u "``): the columns are the same, the spaces around the
  chip differ, so nothing here depends on exact spacing.
- fs/proc/softirqs.c ``show_softirqs``: 20 spaces, ``CPU%-8d`` per *possible* CPU, then
  per softirq ``%12s:`` and `` %10u`` per possible CPU; the names come from
  ``softirq_to_name`` in kernel/softirq.c (HI TIMER NET_TX NET_RX BLOCK IRQ_POLL TASKLET
  SCHED HRTIMER RCU; BLOCK_IOPOLL before 4.5).
- kernel/irq/proc.c ``register_irq_proc``: ``/proc/irq/N/smp_affinity(_list)``,
  ``node``, ``effective_affinity(_list)`` (only with CONFIG_GENERIC_IRQ_EFFECTIVE_AFF_MASK,
  kernels 4.13+), ``/proc/irq/default_smp_affinity`` (a hex mask).
- Documentation/ABI/testing/sysfs-kernel-irq: ``/sys/kernel/irq/N/`` with ``chip_name``,
  ``hwirq``, ``type``, ``name``, ``actions``, ``per_cpu_count`` (4.9+, CONFIG_SPARSE_IRQ).
- kernel/irq/debugfs.c: ``/sys/kernel/debug/irq/irqs/N`` lists the IRQ's state flags,
  ``IRQD_AFFINITY_MANAGED`` among them (CONFIG_GENERIC_IRQ_DEBUGFS, debugfs mounted, root).
- Documentation/ABI/testing/sysfs-bus-pci: ``msi_irqs/`` of a PCI device names the IRQ
  numbers of its MSI and MSI-X vectors.
- core-api/irq/irq-affinity.rst, core-api/genericirq.rst.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from hftinfra.cpulist import format_cpulist, parse_cpulist, parse_cpumask
from hftinfra.host import Host, Reason, Unread
from hftinfra.parsers import parse_int, parse_os_release
from hftinfra.probes import probe
from hftinfra.records import html_table

INTERRUPTS = "/proc/interrupts"
SOFTIRQS = "/proc/softirqs"
PROC_IRQ = "/proc/irq"
DEFAULT_AFFINITY = f"{PROC_IRQ}/default_smp_affinity"
SYS_IRQ = "/sys/kernel/irq"
DEBUG_IRQS = "/sys/kernel/debug/irq/irqs"
NET_CLASS = "/sys/class/net"

# Rows that carry one system-wide count instead of one per CPU: x86 ERR and MIS
# (atomic irq_err_count, irq_mis_count), arm and arm64 Err.
TOTAL_ROWS = frozenset({"ERR", "MIS", "Err"})

# Flow handler names that 3.x kernels print glued to the chip name ("IO-APIC-edge",
# "DMAR_MSI-edge", "IR-PCI-MSI-edge"): the names x86 passes to __irq_set_handler and
# those of the generic handlers.
_OLD_FLOW_NAMES = ("edge", "fasteoi", "level", "simple", "percpu", "XT")

_DIGITS = re.compile(r"[0-9]+")
_CPU_HEADER = re.compile(r"CPU([0-9]+)")
_ROW = re.compile(r"^\s*([^\s:]+):(.*)$")
_TOKEN = re.compile(r"\S+")
# What follows the counts of a numbered row: chip, [hwirq], [Level|Edge], [-flow], actions.
_TAIL = re.compile(
    r"""^\s*(?P<chip>\S+)
    (?:\s+(?P<hwirq>[0-9]+)(?=[\s-]|$))?
    (?:\s+(?P<trigger>Level|Edge)(?=[\s-]|$))?
    (?:\s*-(?P<flow>\S+))?
    (?:\s+(?P<actions>\S.*?))?
    \s*$""", re.X)


# ---------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class InterruptRow:
    """One row of /proc/interrupts.

    ``key`` is the IRQ number for a numbered row, the name (``LOC``, ``IPI0``, ``ERR``)
    for an architecture row. ``counts`` maps header CPU numbers to counts; a row may hold
    fewer counts than the header has CPUs, and then only those CPUs are in it. A row the
    kernel prints with one system-wide count (``ERR``, ``MIS``, ``Err``) has ``per_cpu``
    False, empty ``counts`` and that count as ``total``. Fields the kernel did not print
    for this row are None (``hwirq`` for an IRQ without a domain, ``trigger`` on x86)."""

    key: int | str
    counts: dict[int, int]
    total: int
    per_cpu: bool = True
    chip: str | None = None  # chip name, or what the chip's irq_print_chip printed
    hwirq: str | None = None  # the number inside the IRQ's domain (an MSI message id, a GIC INTID)
    trigger: str | None = None  # Level | Edge (CONFIG_GENERIC_IRQ_SHOW_LEVEL arches)
    flow: str | None = None  # the flow handler's name: edge, fasteoi, ... (desc->name)
    actions: tuple[str, ...] = ()  # handlers' names, in the kernel's order
    description: str | None = None  # an architecture row's text (``Local timer interrupts``)

    @property
    def numbered(self) -> bool:
        return isinstance(self.key, int)

    @property
    def label(self) -> str:
        """The actions of a numbered row, or the description of a named one."""
        if self.actions:
            return ", ".join(self.actions)
        return self.description or ""

    @property
    def cpus_hit(self) -> frozenset[int]:
        """CPUs with a non-zero count."""
        return frozenset(c for c, n in self.counts.items() if n)

    @property
    def queues(self) -> tuple[NicQueue, ...]:
        """NIC queues named by this row's actions (see :func:`nic_queue_of`)."""
        return tuple(q for a in self.actions if (q := nic_queue_of(a)) is not None)


@dataclass(frozen=True)
class Interrupts:
    """/proc/interrupts: the CPUs of its header and its rows, in the kernel's order."""

    cpus: tuple[int, ...]
    rows: tuple[InterruptRow, ...]
    source: str = INTERRUPTS

    def row(self, key: int | str) -> InterruptRow:
        found = self.get(key)
        if found is None:
            raise KeyError(f"no row {key!r} in {self.source}")
        return found

    def get(self, key: int | str) -> InterruptRow | None:
        index = self.__dict__.get("_index")
        if index is None:
            # Built on first use: 4,096 lookups on a 4,096-row table stay linear, not quadratic.
            index = {r.key: r for r in self.rows}
            object.__setattr__(self, "_index", index)
        return index.get(key)

    @property
    def numbered(self) -> tuple[InterruptRow, ...]:
        return tuple(r for r in self.rows if r.numbered)

    @property
    def named(self) -> tuple[InterruptRow, ...]:
        return tuple(r for r in self.rows if not r.numbered)

    def per_cpu_totals(self, numbered_only: bool = False) -> dict[int, int]:
        """Interrupts taken by each header CPU, summed over the rows."""
        totals = dict.fromkeys(self.cpus, 0)
        for r in self.rows:
            if numbered_only and not r.numbered:
                continue
            for cpu, n in r.counts.items():
                totals[cpu] += n
        return totals

    def _repr_html_(self) -> str:
        rows = [[r.key, r.chip, r.hwirq, r.trigger or r.flow, r.label, r.total,
                 r.cpus_hit if r.per_cpu else "(system-wide)"] for r in self.rows]
        note = f"columns for CPUs {format_cpulist(self.cpus)} (the CPUs online when it was read)"
        return html_table(self.source, ["irq", "chip", "hwirq", "type", "actions / description", "total",
                                         "CPUs with counts"], rows, note)


@dataclass(frozen=True)
class SoftirqRow:
    name: str
    counts: dict[int, int]
    total: int

    @property
    def cpus_hit(self) -> frozenset[int]:
        return frozenset(c for c, n in self.counts.items() if n)


@dataclass(frozen=True)
class Softirqs:
    """/proc/softirqs: one column per possible CPU, one row per softirq."""

    cpus: tuple[int, ...]
    rows: tuple[SoftirqRow, ...]
    source: str = SOFTIRQS

    def row(self, name: str) -> SoftirqRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no softirq {name!r} in {self.source}")

    def _repr_html_(self) -> str:
        rows = [[r.name, r.total, r.cpus_hit] for r in self.rows]
        return html_table(self.source, ["softirq", "total", "CPUs with counts"], rows,
                           f"columns for CPUs {format_cpulist(self.cpus)} (possible CPUs)")


@dataclass(frozen=True)
class IrqCounts:
    """What the ``irq.interrupts`` probe returns: both count tables, or why not."""

    interrupts: Interrupts | Unread
    softirqs: Softirqs | Unread
    sources: tuple[str, ...] = (INTERRUPTS, SOFTIRQS)

    def _repr_html_(self) -> str:
        parts = []
        for table, path in ((self.interrupts, INTERRUPTS), (self.softirqs, SOFTIRQS)):
            if isinstance(table, Unread):
                parts.append(html_table(path, ["unknown"], [[table]]))
            else:
                parts.append(table._repr_html_())
        return "".join(parts)


class NicQueue(NamedTuple):
    """A NIC queue an interrupt serves, as its driver named it. ``device`` is the network
    interface where the name holds one, else the device (``virtio3``, a PCI address);
    ``kind`` is ``rx``, ``tx`` or ``combined`` (one vector for both, ethtool's combined
    channels)."""

    device: str
    kind: str
    number: int


@dataclass(frozen=True)
class IrqAffinity:
    """Where one numbered IRQ may run (``/proc/irq/N``), and whose it is where that can be
    told. ``effective_affinity`` is the CPU the interrupt controller actually targets (a
    subset of ``smp_affinity``); missing on kernels and arches without it."""

    irq: int
    smp_affinity: frozenset[int] | Unread
    effective_affinity: frozenset[int] | Unread
    node: int | Unread  # -1: no NUMA node
    actions: tuple[str, ...] | Unread  # from /proc/interrupts; () when the IRQ has none
    chip_name: str | Unread  # /sys/kernel/irq/N/chip_name
    hwirq: str | Unread  # /sys/kernel/irq/N/hwirq
    type: str | Unread  # /sys/kernel/irq/N/type: edge | level
    # Kernel-managed affinity (drivers that spread vectors with pci_alloc_irq_vectors_affinity,
    # isolcpus=managed_irq): the kernel shows it read-only only in debugfs. Unread elsewhere;
    # it is never found out by trying to write smp_affinity.
    managed: bool | Unread
    interfaces: tuple[str, ...]  # network interfaces whose device lists this IRQ in msi_irqs
    source: str

    @property
    def queues(self) -> tuple[NicQueue, ...]:
        if isinstance(self.actions, Unread):
            return ()
        return tuple(q for a in self.actions if (q := nic_queue_of(a)) is not None)

    def fires_on(self) -> tuple[frozenset[int] | Unread, str]:
        """Where the interrupt may fire, and which file says so: its effective affinity
        (``"effective"``), else, on kernels without one (before 4.13), the affinity it
        was given (``"configured"``)."""
        if isinstance(self.effective_affinity, frozenset):
            return self.effective_affinity, "effective"
        if isinstance(self.effective_affinity, Unread) and self.effective_affinity.reason is Reason.MISSING \
                and isinstance(self.smp_affinity, frozenset):
            return self.smp_affinity, "configured"
        if isinstance(self.effective_affinity, Unread):
            return self.effective_affinity, ""
        return self.smp_affinity, ""


@dataclass(frozen=True)
class IrqAffinities:
    """What the ``irq.affinity`` probe returns: every numbered IRQ under /proc/irq, the
    default affinity new IRQs get, and the interfaces whose MSI vectors could not be listed
    (so an IRQ with no interface may still belong to one of them)."""

    irqs: tuple[IrqAffinity, ...] | Unread
    default_smp_affinity: frozenset[int] | Unread
    unresolved_interfaces: dict[str, Unread] | Unread  # Unread: /sys/class/net itself could not be listed
    sources: tuple[str, ...]

    def irq(self, n: int) -> IrqAffinity:
        for a in self.irqs if isinstance(self.irqs, tuple) else ():
            if a.irq == n:
                return a
        raise KeyError(f"no IRQ {n} under {PROC_IRQ}")

    def of_interface(self, name: str) -> tuple[IrqAffinity, ...]:
        """IRQs of one interface: by its device's MSI vectors, else by queue names."""
        if isinstance(self.irqs, Unread):
            return ()
        return tuple(a for a in self.irqs if name in a.interfaces or any(q.device == name for q in a.queues))

    def _repr_html_(self) -> str:
        if isinstance(self.irqs, Unread):
            return html_table("IRQ affinity", ["unknown"], [[self.irqs]])
        rows = [[a.irq, ", ".join(a.actions) if isinstance(a.actions, tuple) else a.actions,
                 a.smp_affinity, a.effective_affinity, a.node, a.type, a.managed,
                 ", ".join(a.interfaces) or "-"] for a in self.irqs]
        from hftinfra.records import show

        note = f"default_smp_affinity {show(self.default_smp_affinity)}"
        if isinstance(self.unresolved_interfaces, Unread):
            note += f"; interfaces: {self.unresolved_interfaces}"
        elif self.unresolved_interfaces:
            note += "; MSI vectors not listed for " + ", ".join(sorted(self.unresolved_interfaces))
        return html_table("IRQ affinity", ["irq", "actions", "smp_affinity", "effective", "node", "type",
                                            "managed", "interface"], rows, note)


# ---------------------------------------------------------------------------------------
# Pure parsers


def _header_cpus(line: str, path: str) -> tuple[int, ...]:
    tokens = line.split()
    cpus = []
    for t in tokens:
        m = _CPU_HEADER.fullmatch(t)
        if not m:
            raise ValueError(f"{path}: header token {t!r} is not CPUn")
        cpus.append(int(m.group(1)))
    if not cpus:
        raise ValueError(f"{path}: no CPU columns in the header")
    if len(set(cpus)) != len(cpus):
        raise ValueError(f"{path}: a CPU appears twice in the header")
    return tuple(cpus)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _split_flow(chip: str) -> tuple[str, str | None]:
    """``IR-PCI-MSI-edge`` (3.x kernels) -> ``("IR-PCI-MSI", "edge")``."""
    for flow in _OLD_FLOW_NAMES:
        if chip.endswith("-" + flow) and len(chip) > len(flow) + 1:
            return chip[: -len(flow) - 1], flow
    return chip, None


def parse_interrupts(text: str) -> Interrupts:
    """/proc/interrupts to :class:`Interrupts`.

    Sample lines (x86, kernel 6.1)::

                   CPU0       CPU1       CPU2       CPU3
          0:         49          0          0          0   IO-APIC   2-edge      timer
         29:       1362          0          0        934   PCI-MSI 512000-edge      ahci[0000:00:1f.2]
        LOC:      10196       7429       8542       8229   Local timer interrupts
        ERR:          0

    >>> t = parse_interrupts("      CPU0   CPU2\\n 16:  5  7  IO-APIC  16-fasteoi  i801_smbus, ehci_hcd:usb1\\n"
    ...                      "LOC:  9  8  Local timer interrupts\\nERR:  0")
    >>> t.cpus, t.row(16).counts, t.row(16).actions, t.row(16).hwirq, t.row(16).flow
    ((0, 2), {0: 5, 2: 7}, ('i801_smbus', 'ehci_hcd:usb1'), '16', 'fasteoi')
    >>> t.row("ERR").per_cpu, t.row("ERR").total, t.row("LOC").description
    (False, 0, 'Local timer interrupts')
    """
    lines = _lines(text)
    if not lines:
        raise ValueError(f"{INTERRUPTS}: empty")
    cpus = _header_cpus(lines[0], INTERRUPTS)
    rows: list[InterruptRow] = []
    seen: set[int | str] = set()
    for line in lines[1:]:
        m = _ROW.match(line)
        if not m:
            raise ValueError(f"{INTERRUPTS}: not an interrupt row: {line.strip()[:60]!r}")
        name, rest = m.group(1), m.group(2)
        key: int | str = int(name) if _DIGITS.fullmatch(name) else name
        if key in seen:
            raise ValueError(f"{INTERRUPTS}: row {name} appears twice")
        seen.add(key)
        counts, tail = _counts_and_tail(rest, len(cpus))
        if isinstance(key, str):
            rows.append(_named_row(key, counts, tail, cpus))
        else:
            rows.append(_numbered_row(key, counts, tail, cpus))
    return Interrupts(cpus, tuple(rows))


def _counts_and_tail(rest: str, ncpus: int) -> tuple[list[int], str]:
    """The leading decimal counts of a row (at most one per header CPU) and what follows."""
    parts = rest.split(None, ncpus)
    head = parts[:ncpus]
    joined = "".join(head)
    if len(head) == ncpus and joined.isascii() and joined.isdigit():
        # The common row: a count for every CPU (seq_printf "%10u" each, kernel/irq/proc.c).
        return list(map(int, head)), (parts[ncpus] if len(parts) > ncpus else "")
    counts: list[int] = []
    end = 0
    for t in _TOKEN.finditer(rest):
        if len(counts) == ncpus or not _DIGITS.fullmatch(t.group()):
            break
        counts.append(int(t.group()))
        end = t.end()
    return counts, rest[end:] if counts else rest


def _named_row(key: str, counts: list[int], tail: str, cpus: tuple[int, ...]) -> InterruptRow:
    description = tail.strip() or None
    single = len(counts) == 1 and description is None and (key in TOTAL_ROWS or len(cpus) > 1)
    if single:
        return InterruptRow(key, {}, counts[0], per_cpu=False)
    by_cpu = dict(zip(cpus, counts, strict=False))  # fewer counts than CPUs: the first CPUs'
    return InterruptRow(key, by_cpu, sum(counts), description=description)


def _numbered_row(key: int, counts: list[int], tail: str, cpus: tuple[int, ...]) -> InterruptRow:
    if not counts:
        raise ValueError(f"{INTERRUPTS}: IRQ {key} has no counts")
    chip = hwirq = trigger = flow = None
    actions: tuple[str, ...] = ()
    if tail.strip():
        m = _TAIL.match(tail)
        if not m:  # pragma: no cover - the pattern accepts any non-blank tail
            raise ValueError(f"{INTERRUPTS}: IRQ {key}: cannot read {tail.strip()!r}")
        chip, hwirq, trigger, flow = m.group("chip"), m.group("hwirq"), m.group("trigger"), m.group("flow")
        if hwirq is None and trigger is None and flow is None:
            chip, flow = _split_flow(chip)
        if m.group("actions"):
            # kernel/irq/proc.c joins a shared IRQ's actions with ", "; a name may itself
            # hold spaces ("PCIe PME") or commas without a space.
            actions = tuple(a.strip() for a in m.group("actions").split(", ") if a.strip())
    return InterruptRow(key, dict(zip(cpus, counts, strict=False)), sum(counts), chip=chip, hwirq=hwirq, trigger=trigger,
                        flow=flow, actions=actions)


def parse_softirqs(text: str) -> Softirqs:
    """/proc/softirqs to :class:`Softirqs` (columns are possible CPUs, fs/proc/softirqs.c).

    Sample lines::

                            CPU0       CPU1
                  HI:          3          0
              NET_RX:      55919      28694

    >>> s = parse_softirqs("      CPU0  CPU1\\n  HI:  3  0\\n  NET_RX:  55919  28694")
    >>> s.cpus, s.row("NET_RX").counts, s.row("NET_RX").total
    ((0, 1), {0: 55919, 1: 28694}, 84613)
    """
    lines = _lines(text)
    if not lines:
        raise ValueError(f"{SOFTIRQS}: empty")
    cpus = _header_cpus(lines[0], SOFTIRQS)
    rows: list[SoftirqRow] = []
    seen: set[str] = set()
    for line in lines[1:]:
        m = _ROW.match(line)
        if not m:
            raise ValueError(f"{SOFTIRQS}: not a softirq row: {line.strip()[:60]!r}")
        name, words = m.group(1), m.group(2).split()
        if name in seen:
            raise ValueError(f"{SOFTIRQS}: {name} appears twice")
        seen.add(name)
        if not all(_DIGITS.fullmatch(w) for w in words):
            raise ValueError(f"{SOFTIRQS}: {name}: counts must be numbers")
        if len(words) > len(cpus):
            raise ValueError(f"{SOFTIRQS}: {name} has more counts than CPUs in the header")
        counts = [int(w) for w in words]
        rows.append(SoftirqRow(name, dict(zip(cpus, counts, strict=False)), sum(counts)))
    return Softirqs(cpus, tuple(rows))


_KINDS = {"TxRx": "combined", "Tx-Rx": "combined", "comp": "combined", "rx": "rx", "tx": "tx",
          "input": "rx", "output": "tx"}

# Driver naming of per-queue interrupt vectors, most specific first.
_QUEUE_NAMES = (
    # mlx5_core (drivers/net/ethernet/mellanox/mlx5/core/pci_irq.c): completion EQs are
    # "mlx5_comp<n>" with "@pci:<BDF>" appended; each serves one channel (rx and tx).
    re.compile(r"^mlx5_(?P<kind>comp)(?P<n>[0-9]+)@pci:(?P<dev>\S+)$"),
    # i40e, ice, iavf: "<driver>-<netdev>-TxRx-<n>", "-rx-"/"-tx-" for a one-way vector
    # (i40e_main.c i40e_vsi_request_irq_msix, ice_lib.c ice_vsi_req_irq_msix, iavf_main.c).
    re.compile(r"^(?:i40e|ice|iavf)-(?P<dev>.+)-(?P<kind>TxRx|rx|tx)-(?P<n>[0-9]+)$"),
    # ena (AWS ENA, ena_netdev.c ena_setup_io_intr): "<netdev>-Tx-Rx-<n>".
    re.compile(r"^(?P<dev>.+)-(?P<kind>Tx-Rx)-(?P<n>[0-9]+)$"),
    # ixgbe, ixgbevf, igb, igc, bnxt_en: "<netdev>-TxRx-<n>", "<netdev>-rx-<n>", "<netdev>-tx-<n>".
    re.compile(r"^(?P<dev>.+)-(?P<kind>TxRx|rx|tx)-(?P<n>[0-9]+)$"),
    # virtio_net over virtio_pci (virtio_pci_common.c names a vector "<virtio dev>-<vq name>";
    # virtio_net.c names its queues "input.<n>" and "output.<n>").
    re.compile(r"^(?P<dev>virtio[0-9]+)-(?P<kind>input|output)\.(?P<n>[0-9]+)$"),
)


def nic_queue_of(action: str) -> NicQueue | None:
    """The NIC queue an interrupt action name stands for, or None when the name follows
    none of the common drivers' patterns (documented at ``_QUEUE_NAMES``).

    >>> nic_queue_of("mlx5_comp3@pci:0000:3b:00.0")
    NicQueue(device='0000:3b:00.0', kind='combined', number=3)
    >>> nic_queue_of("ice-ens1f0-TxRx-5"), nic_queue_of("ens1f0-rx-2")
    (NicQueue(device='ens1f0', kind='combined', number=5), NicQueue(device='ens1f0', kind='rx', number=2))
    >>> nic_queue_of("virtio3-input.0"), nic_queue_of("nvme0q3")
    (NicQueue(device='virtio3', kind='rx', number=0), None)
    """
    name = action.strip()
    for pattern in _QUEUE_NAMES:
        m = pattern.match(name)
        if m:
            return NicQueue(m.group("dev"), _KINDS[m.group("kind")], int(m.group("n")))
    return None


def parse_affinity_list(text: str) -> frozenset[int]:
    """``/proc/irq/N/smp_affinity_list`` or ``effective_affinity_list`` (``%*pbl``).

    Sample: ``0-8,16-24``. An IRQ that was never started has an empty effective mask,
    printed as an empty line: that is an empty set, not a failure to read.

    >>> sorted(parse_affinity_list("0-2,8")), parse_affinity_list("")
    ([0, 1, 2, 8], frozenset())
    """
    return parse_cpulist(text.strip())


def parse_debug_managed(text: str) -> bool:
    """Whether ``/sys/kernel/debug/irq/irqs/N`` lists ``IRQD_AFFINITY_MANAGED`` among the
    IRQ's state flags (kernel/irq/debugfs.c prints one flag name a line under ``dstate:``).

    Sample lines: ``dstate:   0x3640a200`` then ``            IRQD_AFFINITY_MANAGED``.

    >>> parse_debug_managed("handler:  handle_edge_irq\\ndstate:   0x3600200\\n   IRQD_AFFINITY_MANAGED\\n")
    True
    """
    if "dstate:" not in text:
        raise ValueError("no dstate: line")
    return "IRQD_AFFINITY_MANAGED" in text.split()


def parse_msi_irqs(names: Iterable[str]) -> frozenset[int]:
    """The entries of a PCI device's ``msi_irqs/`` folder: one per IRQ number."""
    return frozenset(int(n) for n in names if _DIGITS.fullmatch(n))


# ---------------------------------------------------------------------------------------
# Probes


@probe("irq.interrupts")
def read_interrupts(host: Host) -> IrqCounts:
    """/proc/interrupts and /proc/softirqs, parsed; a damaged file is ``malformed``."""
    return IrqCounts(interrupts=host.read_shared(INTERRUPTS, parse_interrupts),
                     softirqs=host.read_value(SOFTIRQS, parse_softirqs))


def _strip(value: str | Unread) -> str | Unread:
    return value.strip() if isinstance(value, str) else value


def _irq_numbers(names: list[str]) -> list[int]:
    return sorted(int(n) for n in names if _DIGITS.fullmatch(n))


def _device_dir(host: Host, iface: str) -> str | Unread:
    """The real sysfs folder of an interface's device, through the class and device links."""
    def follow(path: str) -> str | Unread:
        link = host.readlink(path)
        if isinstance(link, Unread):
            # EINVAL: a real folder where sysfs has a link (trees copied without links),
            # or a file such as bonding_masters; the path then stands for itself.
            return path if link.reason is Reason.UNSUPPORTED else link
        return posixpath.normpath(posixpath.join(posixpath.dirname(path), link))

    net_dir = follow(f"{NET_CLASS}/{iface}")
    if isinstance(net_dir, Unread):
        return net_dir
    dev = follow(f"{net_dir}/device")
    if isinstance(dev, str) and not host.isdir(dev):
        return Unread(Reason.MISSING, f"{net_dir}/device", "no device (a virtual interface)")
    return dev


def _interface_irqs(host: Host) -> tuple[dict[int, list[str]], dict[str, Unread] | Unread]:
    """IRQ -> interfaces whose device's MSI vectors include it; interfaces that have a
    device but whose vectors could not be listed."""
    owners: dict[int, list[str]] = {}
    unresolved: dict[str, Unread] = {}
    names = host.listdir(NET_CLASS)
    if isinstance(names, Unread):
        return owners, names
    for iface in names:
        dev = _device_dir(host, iface)
        if isinstance(dev, Unread):
            if dev.reason is not Reason.MISSING:
                unresolved[iface] = dev
            continue  # a virtual interface (lo, veth, bond) has no device
        msi = f"{dev}/msi_irqs"
        listed = host.listdir(msi)
        if isinstance(listed, Unread) and listed.reason is Reason.MISSING and re.fullmatch(
                r"virtio[0-9]+", posixpath.basename(dev)):
            # virtio_net's device is a virtio bus device; the MSI-X vectors belong to the
            # PCI function above it (drivers/virtio/virtio_pci_common.c).
            msi = f"{posixpath.dirname(dev)}/msi_irqs"
            listed = host.listdir(msi)
        if isinstance(listed, Unread):
            # No msi_irqs: legacy INTx, MSI not enabled, or a capture that did not keep it.
            unresolved[iface] = listed
            continue
        for n in sorted(parse_msi_irqs(listed)):
            # Each entry is a file holding "msi" or "msix" (a folder before 4.x); reading
            # it is what lets a snapshot keep the entry, as a snapshot keeps read files only.
            host.read(f"{msi}/{n}")
            owners.setdefault(n, []).append(iface)
    return owners, unresolved


@probe("irq.affinity")
def read_affinity(host: Host) -> IrqAffinities:
    """Per numbered IRQ: smp_affinity_list, effective_affinity_list, node (kernel/irq/proc.c),
    chip, hwirq and type (/sys/kernel/irq, 4.9+), managed (debugfs), the interfaces owning
    it (msi_irqs), plus /proc/irq/default_smp_affinity."""
    sources = (DEFAULT_AFFINITY, f"{PROC_IRQ}/*/smp_affinity_list", f"{PROC_IRQ}/*/effective_affinity_list",
               f"{PROC_IRQ}/*/node", INTERRUPTS, f"{SYS_IRQ}/*/chip_name", f"{SYS_IRQ}/*/hwirq",
               f"{SYS_IRQ}/*/type", f"{DEBUG_IRQS}/*", f"{NET_CLASS}/*/device/msi_irqs")
    default = host.read_value(DEFAULT_AFFINITY, parse_cpumask)
    owners, unresolved = _interface_irqs(host)
    listed = host.listdir(PROC_IRQ)
    if isinstance(listed, Unread):
        return IrqAffinities(listed, default, unresolved, sources)
    table = host.read_shared(INTERRUPTS, parse_interrupts)
    sys_listed = host.listdir(SYS_IRQ)
    if isinstance(sys_listed, Unread) and sys_listed.reason is Reason.MISSING:
        sys_listed = Unread(Reason.MISSING, SYS_IRQ, "no /sys/kernel/irq (kernels before 4.9, or without "
                                                     "CONFIG_SPARSE_IRQ)")
    debug_listed = host.listdir(DEBUG_IRQS)
    if isinstance(debug_listed, Unread) and debug_listed.reason is Reason.MISSING:
        debug_listed = Unread(Reason.MISSING, DEBUG_IRQS, "debugfs not mounted, or a kernel without "
                                                          "CONFIG_GENERIC_IRQ_DEBUGFS")
    irqs = []
    for n in _irq_numbers(listed):
        base = f"{PROC_IRQ}/{n}"
        effective = host.read_value(f"{base}/effective_affinity_list", parse_affinity_list)
        if isinstance(effective, Unread) and effective.reason is Reason.MISSING:
            effective = Unread(Reason.MISSING, effective.source,
                               "no effective affinity on this kernel (CONFIG_GENERIC_IRQ_EFFECTIVE_AFF_MASK, 4.13+)")
        actions: tuple[str, ...] | Unread
        if isinstance(table, Unread):
            actions = table
        else:
            row = table.get(n)
            # An IRQ with neither an action nor a count has no row (kernel/irq/proc.c).
            actions = row.actions if row is not None else ()

        def sysfs(name: str, n: int = n) -> str | Unread:
            if isinstance(sys_listed, Unread):
                return sys_listed
            return _strip(host.read(f"{SYS_IRQ}/{n}/{name}"))

        managed: bool | Unread
        if isinstance(debug_listed, Unread):
            managed = debug_listed
        else:
            managed = host.read_value(f"{DEBUG_IRQS}/{n}", parse_debug_managed)
        irqs.append(IrqAffinity(
            irq=n,
            smp_affinity=host.read_value(f"{base}/smp_affinity_list", parse_affinity_list),
            effective_affinity=effective,
            node=host.read_value(f"{base}/node", parse_int),
            actions=actions,
            chip_name=sysfs("chip_name"),
            hwirq=sysfs("hwirq"),
            type=sysfs("type"),
            managed=managed,
            interfaces=tuple(owners.get(n, ())),
            source=base,
        ))
    return IrqAffinities(tuple(irqs), default, unresolved, sources)


# ---------------------------------------------------------------------------------------
# irqbalance

# Where the distributions keep the daemon's environment: systemd's irqbalance.service reads
# it as EnvironmentFile (RHEL/Fedora /etc/sysconfig, Debian/Ubuntu /etc/default).
IRQBALANCE_CONFIGS = ("/etc/sysconfig/irqbalance", "/etc/default/irqbalance")
BANNED_CPUS = "IRQBALANCE_BANNED_CPUS"
BANNED_CPULIST = "IRQBALANCE_BANNED_CPULIST"
ISOLATED = "/sys/devices/system/cpu/isolated"
NOHZ_FULL = "/sys/devices/system/cpu/nohz_full"


@dataclass(frozen=True)
class Irqbalance:
    """irqbalance: whether it runs, and which CPUs it keeps interrupts off.

    The ban follows irqbalance's own rule (cputree.c ``setup_banned_cpus``, irqbalance(1)):
    a non-empty ``IRQBALANCE_BANNED_CPUS`` hex mask wins (deprecated since 1.8); else
    ``IRQBALANCE_BANNED_CPULIST`` if set, even empty (an empty list bans nothing); else the
    kernel's isolated and nohz_full CPUs (its default since 2015). ``banned_in_effect`` is
    computed from the running daemon's environment (``/proc/PID/environ``, root only);
    ``banned_configured`` from the configuration file, for the next start."""

    pids: tuple[int, ...] | Unread  # irqbalance processes found in /proc
    oneshot: bool | Unread | None  # started with -o/--oneshot: balances once, then exits
    banned_irqs: tuple[int, ...] | Unread | None  # --banirq= on its command line
    banned_in_effect: frozenset[int] | Unread | None  # None: not running
    banned_in_effect_from: str
    config_path: str | None  # the configuration file found, if any
    banned_configured: frozenset[int] | Unread
    banned_configured_from: str
    sources: tuple[str, ...] = ("/proc/*/comm", "/proc/PID/environ", "/proc/PID/cmdline", *IRQBALANCE_CONFIGS,
                                ISOLATED, NOHZ_FULL)

    @property
    def running(self) -> bool | Unread:
        return self.pids if isinstance(self.pids, Unread) else bool(self.pids)

    def _repr_html_(self) -> str:
        def show(v):
            return format_cpulist(v) if isinstance(v, frozenset) else v

        rows = [["running", self.running if not self.pids or isinstance(self.pids, Unread)
                 else f"yes (PID {', '.join(map(str, self.pids))})"],
                ["one-shot", self.oneshot], ["IRQs it leaves alone (--banirq)", self.banned_irqs],
                ["CPUs banned, in effect", f"{show(self.banned_in_effect)} ({self.banned_in_effect_from})"],
                ["CPUs banned, configured", f"{show(self.banned_configured)} ({self.banned_configured_from})"]]
        return html_table("irqbalance", ["", "value"], rows, self.config_path or "no configuration file")


def parse_environ(data: bytes) -> dict[str, str]:
    r"""``/proc/PID/environ``: NUL-separated ``KEY=value`` entries (proc(5)).

    >>> parse_environ(b"PATH=/usr/bin\0IRQBALANCE_BANNED_CPULIST=9-15\0")["IRQBALANCE_BANNED_CPULIST"]
    '9-15'
    """
    env: dict[str, str] = {}
    for entry in data.split(b"\0"):
        key, sep, value = entry.decode("utf-8", errors="replace").partition("=")
        if sep and key:
            env[key] = value
    return env


def parse_proc_cmdline(data: bytes) -> tuple[str, ...]:
    r"""``/proc/PID/cmdline``: the arguments, NUL-separated (proc(5)).

    >>> parse_proc_cmdline(b"/usr/sbin/irqbalance\0--foreground\0--banirq=24\0")
    ('/usr/sbin/irqbalance', '--foreground', '--banirq=24')
    """
    return tuple(a.decode("utf-8", errors="replace") for a in data.rstrip(b"\0").split(b"\0") if a)


def irqbalance_ban(env: dict[str, str], isolated: frozenset[int] | Unread,
                   nohz_full: frozenset[int] | Unread, where: str) -> tuple[frozenset[int] | Unread, str]:
    """The CPUs irqbalance bans given its environment, by its own precedence, and why.
    ``where`` names the environment's source ('' when there is none)."""
    mask = env.get(BANNED_CPUS, "")
    if mask.strip():
        try:
            return parse_cpumask(mask), f"{BANNED_CPUS}={mask} in {where} (deprecated; a hex mask)"
        except ValueError as exc:
            return Unread(Reason.MALFORMED, where, f"{BANNED_CPUS}={mask!r}: {exc}"), f"{BANNED_CPUS} in {where}"
    if BANNED_CPULIST in env:
        text = env[BANNED_CPULIST].strip()
        if not text:
            return frozenset(), f"{BANNED_CPULIST} set empty in {where}: no CPU is banned"
        try:
            return parse_cpulist(text), f"{BANNED_CPULIST}={text} in {where}"
        except ValueError as exc:
            return Unread(Reason.MALFORMED, where, f"{BANNED_CPULIST}={text!r}: {exc}"), f"{BANNED_CPULIST} in {where}"
    why = (f"neither variable in {where}" if where else "no configuration file") + \
        ": irqbalance's default, the isolated and nohz_full CPUs"
    for part in (isolated, nohz_full):
        if isinstance(part, Unread) and part.reason is not Reason.MISSING:
            return part, why
    return ((isolated if isinstance(isolated, frozenset) else frozenset())
            | (nohz_full if isinstance(nohz_full, frozenset) else frozenset())), why


def _sysfs_cpus(host: Host, path: str) -> frozenset[int] | Unread:
    from hftinfra.cpu import parse_sysfs_cpulist

    # irqbalance reads both files and treats an absent one as empty (cputree.c
    # process_one_line): a kernel without nohz_full bans only the isolated CPUs.
    return host.read_value(path, parse_sysfs_cpulist)


def _irqbalance_pids(host: Host) -> tuple[int, ...] | Unread:
    names = host.listdir("/proc")
    if isinstance(names, Unread):
        return names
    if not host.keeps_all_folders("/proc"):
        # A snapshot whose capture did not list /proc holds some process folders at most:
        # no irqbalance among them proves nothing.
        return Unread(Reason.MISSING, "/proc", "this snapshot did not record the process list")
    pids = []
    for name in names:
        if not name.isdigit():
            continue
        comm = host.read(f"/proc/{name}/comm")
        # A process can exit between the listing and the read: that one is simply gone.
        if isinstance(comm, str) and comm.strip() == "irqbalance":
            pids.append(int(name))
    return tuple(sorted(pids))


@probe("irq.irqbalance")
def read_irqbalance(host: Host) -> Irqbalance:
    """irqbalance running or not (a /proc scan), its arguments and environment, and its
    configuration file, with the CPUs it bans worked out as irqbalance does."""
    isolated = _sysfs_cpus(host, ISOLATED)
    nohz_full = _sysfs_cpus(host, NOHZ_FULL)
    config_path = None
    config: dict[str, str] | Unread = {}
    for path in IRQBALANCE_CONFIGS:
        text = host.read(path)
        if isinstance(text, str):
            config_path, config = path, parse_os_release(text)
            break
        if text.reason is not Reason.MISSING:
            config_path, config = path, text
            break
    if isinstance(config, Unread):
        configured, configured_from = config, f"{config_path} could not be read"
    else:
        configured, configured_from = irqbalance_ban(config, isolated, nohz_full, config_path or "")
    pids = _irqbalance_pids(host)
    oneshot: bool | Unread | None = None
    banned_irqs: tuple[int, ...] | Unread | None = None
    in_effect: frozenset[int] | Unread | None = None
    in_effect_from = "irqbalance is not running"
    if isinstance(pids, Unread):
        in_effect, in_effect_from = pids, "/proc could not be listed"
    elif pids:
        pid = pids[0]
        args = host.read_bytes(f"/proc/{pid}/cmdline")
        if isinstance(args, Unread):
            oneshot = banned_irqs = args
        else:
            argv = parse_proc_cmdline(args)
            oneshot = any(a in ("-o", "--oneshot") for a in argv)
            banned_irqs = tuple(int(a.split("=", 1)[1]) for a in argv
                                if a.startswith("--banirq=") and a.split("=", 1)[1].isdigit())
        environ = host.read_bytes(f"/proc/{pid}/environ")
        if isinstance(environ, Unread):
            in_effect, in_effect_from = environ, f"the environment of PID {pid} could not be read ({environ.reason})"
        else:
            in_effect, in_effect_from = irqbalance_ban(parse_environ(environ), isolated, nohz_full,
                                                       f"the environment of PID {pid}")
    return Irqbalance(pids=pids, oneshot=oneshot, banned_irqs=banned_irqs, banned_in_effect=in_effect,
                      banned_in_effect_from=in_effect_from, config_path=config_path,
                      banned_configured=configured, banned_configured_from=configured_from)


# ---------------------------------------------------------------------------------------
# The chain: NIC queue -> IRQ -> CPU -> NUMA node -> isolated or housekeeping


@dataclass(frozen=True)
class QueueLink:
    """One interrupt of a network interface and where it lands. ``queue`` is the queue its
    driver named (None for a vector that names none: misc, config, link state);
    ``nic_node`` is the NUMA node of the NIC's PCI function (-1: the firmware did not say;
    None: a virtual interface); ``isolated`` the CPUs of ``cpus`` that are isolated (None
    when which CPUs are isolated is not known)."""

    interface: str
    queue: NicQueue | None
    irq: int
    actions: tuple[str, ...]
    cpus: frozenset[int] | Unread
    affinity_kind: str  # effective | configured | "" (unread)
    nic_node: int | Unread | None
    cpu_nodes: frozenset[int] | Unread
    isolated: frozenset[int] | None
    managed: bool | Unread

    @property
    def role(self) -> str:
        """``isolated`` when it may fire on an isolated CPU, ``housekeeping`` when only on
        others, ``unknown`` when either side could not be read."""
        if isinstance(self.cpus, Unread) or self.isolated is None:
            return "unknown"
        return "isolated" if self.isolated else "housekeeping"

    @property
    def cross_node(self) -> bool | None:
        """Whether it may fire on a CPU of another node than the NIC's (None: not known)."""
        if not isinstance(self.nic_node, int) or self.nic_node < 0 or isinstance(self.cpu_nodes, Unread) \
                or not self.cpu_nodes:
            return None
        return bool(self.cpu_nodes - {self.nic_node})


@dataclass(frozen=True)
class QueueChain:
    """Every interrupt of every interface that owns one, joined with the CPU it lands on,
    that CPU's NUMA node and its role. ``unread`` names interfaces whose interrupts could
    not be told (their MSI vectors not listed), so a missing link is never read as none."""

    links: tuple[QueueLink, ...]
    interfaces: tuple[str, ...]
    isolated_cpus: frozenset[int] | None
    unread: tuple[tuple[str, Unread], ...]
    sources: tuple[str, ...] = ()

    def of_interface(self, name: str) -> tuple[QueueLink, ...]:
        return tuple(link for link in self.links if link.interface == name)

    def _repr_html_(self) -> str:
        from hftinfra.records import show

        rows = [[link.interface, _queue_text(link.queue), link.irq, ", ".join(link.actions),
                 show(link.cpus) + (" (configured)" if link.affinity_kind == "configured" else ""),
                 show(link.cpu_nodes), show(link.nic_node) if link.nic_node is not None else "virtual",
                 link.role, show(link.managed)] for link in self.links]
        iso = format_cpulist(self.isolated_cpus) if self.isolated_cpus else \
            ("none" if self.isolated_cpus is not None else "unknown")
        note = f"isolated CPUs: {iso}"
        if self.unread:
            note += "; interrupts not told for " + "; ".join(f"{n} ({u})" for n, u in self.unread)
        return html_table("NIC queue -> IRQ -> CPU -> NUMA node", ["interface", "queue", "irq", "actions", "CPUs",
                                                                  "CPU nodes", "NIC node", "role", "managed"],
                          rows, note)


def _queue_text(queue: NicQueue | None) -> str:
    return "-" if queue is None else f"{queue.kind}-{queue.number}"


def cpu_node_map(topology) -> dict[int, int] | Unread:
    """CPU -> NUMA node from a cpu.topology record (Unread when no node lists could be read)."""
    if isinstance(topology, Unread):
        return topology
    out: dict[int, int] = {}
    for node in topology.numa_nodes:
        if isinstance(node.cpus, frozenset):
            for cpu in node.cpus:
                out[cpu] = node.node
    if not out:
        return Unread(Reason.MISSING, "/sys/devices/system/node", "no NUMA node lists CPUs")
    return out


def build_queue_chain(affinities: IrqAffinities, nic_nodes: dict[str, int | Unread | None] | Unread,
                      cpu_nodes: dict[int, int] | Unread, isolated: frozenset[int] | None) -> QueueChain:
    """Join the probes' records (pure). ``nic_nodes``: interface -> NUMA node of its PCI
    function (-1 unknown to firmware, None virtual); interfaces are those owning an IRQ by
    their MSI vectors, or named in an IRQ's queue name."""
    links: list[QueueLink] = []
    irqs = affinities.irqs if isinstance(affinities.irqs, tuple) else ()
    for irq in irqs:
        owners = list(irq.interfaces)
        for q in irq.queues:
            if q.device not in owners and isinstance(nic_nodes, dict) and q.device in nic_nodes:
                owners.append(q.device)
        if not owners or (isinstance(irq.actions, tuple) and not irq.actions):
            continue  # a vector with no handler has nothing to run (no row in /proc/interrupts)
        cpus, kind = irq.fires_on()
        if isinstance(cpus, Unread):
            nodes: frozenset[int] | Unread = cpus
        elif isinstance(cpu_nodes, Unread):
            nodes = cpu_nodes
        else:
            found = frozenset(cpu_nodes[c] for c in cpus if c in cpu_nodes)
            nodes = found if found or not cpus else \
                Unread(Reason.MISSING, "/sys/devices/system/node", f"CPUs {format_cpulist(cpus)} are on no node")
        actions = irq.actions if isinstance(irq.actions, tuple) else ()
        for owner in owners:
            queue = next((q for q in irq.queues if q.device == owner), None)
            if queue is None and len(owners) == 1:
                # Names like virtio3-input.0 or mlx5_comp3@pci:... name the device, not the interface.
                queue = next(iter(irq.queues), None)
            node = nic_nodes.get(owner) if isinstance(nic_nodes, dict) else nic_nodes
            links.append(QueueLink(
                interface=owner, queue=queue, irq=irq.irq, actions=actions, cpus=cpus, affinity_kind=kind,
                nic_node=node, cpu_nodes=nodes,
                isolated=None if isolated is None or isinstance(cpus, Unread) else cpus & isolated,
                managed=irq.managed))
    unread: list[tuple[str, Unread]] = []
    if isinstance(affinities.irqs, Unread):
        unread.append(("*", affinities.irqs))
    if isinstance(affinities.unresolved_interfaces, Unread):
        unread.append(("*", affinities.unresolved_interfaces))
    else:
        unread.extend(sorted(affinities.unresolved_interfaces.items()))
    names = tuple(dict.fromkeys(link.interface for link in links))
    return QueueChain(tuple(links), names, isolated, tuple(unread), affinities.sources)


def read_queue_chain(host: Host, isolated: frozenset[int] | None = None) -> QueueChain:
    """The chain on one host. ``isolated`` defaults to the host's isolated CPUs (isolcpus
    and nohz_full in effect); None there means it could not be read."""
    from hftinfra.cpu import read_isolation, read_topology
    from hftinfra.net import read_interfaces

    if isolated is None:
        iso = read_isolation(host)
        any_iso = iso if isinstance(iso, Unread) else iso.isolated_any
        isolated = any_iso if isinstance(any_iso, frozenset) else None
    nics = read_interfaces(host)
    return build_queue_chain(read_affinity(host), nics.nodes(), cpu_node_map(read_topology(host)), isolated)


__all__ = [
    "DEFAULT_AFFINITY", "INTERRUPTS", "SOFTIRQS", "TOTAL_ROWS", "InterruptRow", "Interrupts", "IrqAffinities",
    "IrqAffinity", "IrqCounts", "NicQueue", "QueueChain", "QueueLink", "build_queue_chain", "cpu_node_map",
    "read_queue_chain", "SoftirqRow", "Softirqs", "nic_queue_of", "parse_affinity_list",
    "Irqbalance", "irqbalance_ban", "parse_debug_managed", "parse_environ", "parse_interrupts", "parse_msi_irqs",
    "parse_proc_cmdline", "parse_softirqs", "read_affinity", "read_interrupts", "read_irqbalance",
]
