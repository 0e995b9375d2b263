"""Build the fixture hosts under tests/hosts/ (snapshot trees in the kernel's formats).

    python tests/hosts/build.py            # rewrite every committed tree
    python tests/hosts/build.py big-4s DEST # one host into DEST (a folder, or .tar.gz)

Each host is a model (sockets, cores, threads, what is tuned) rendered to the files the
kernel would show for it. The committed trees are this script's output, checked by
tests/test_fixture_hosts.py; `big-4s` (384 CPUs) and `big-512` (512 CPUs, 4,096 IRQs: its
/proc/interrupts alone is 23 MB) are only built at test and benchmark time.

Designs
- tuned-2s: 2 × Xeon Gold 6334 (8 cores, 3.6 GHz base, 3.7 GHz turbo), SMT on, Intel
  numbering (cpu N and N+16 are one core), one NUMA node per socket, NIC ens1f0 on node 1.
  Housekeeping: all of node 0 (0-7,16-23) plus core 0 of node 1 (8,24) for the NIC's
  interrupts. Isolated, whole cores with both threads: 9-15,25-31 (isolcpus managed_irq,
  domain; nohz_full; rcu_nocbs + rcu_nocb_poll). irqaffinity, systemd CPUAffinity and the
  workqueue mask on housekeeping. intel_pstate active, governor performance, EPP
  performance, EPB 0, turbo off (no_turbo=1): on this part turbo buys 100 MHz (3%) and
  costs frequency changes that show as jitter; min = max = 3.6 GHz. intel_idle with POLL,
  C1, C1E, C6; C1E and C6 disabled through sysfs at boot, processor.max_cstate=1 on the
  command line (it only binds acpi_idle, the fallback if intel_idle is ever disabled), a
  1 us /dev/cpu_dma_latency request held by the tuning daemon. Preemption stays the RHEL
  default (voluntary): the trading threads busy-poll alone on isolated CPUs. 16 × 1 GiB hugepages on
  node 1, THP never, KSM off, no swap, swappiness 10, mitigations=off (single-tenant box
  running only the firm's code), RHEL 9 kernel (NO_HZ_FULL, CPUMASK_OFFSTACK). Kernel command
  line as tuned's network-latency writes it (skew_tick=1 tsc=reliable
  rcupdate.rcu_normal_after_boot=1 rcutree.nohz_full_patience_delay=1000); this 5.14 kernel
  predates the patience parameter (6.11) and, like mainline before 5.16, does not show
  rcu_normal_after_boot under /sys/module/rcupdate/parameters. kernel.watchdog_cpumask is the
  NO_HZ_FULL default, the housekeeping CPUs.
  Network and interrupts: ens1f0 is an Intel E810-XXVDA2 port (ice, 0000:b1:00.0 behind
  root port 0000:b0:02.0, node 1, PCIe 4.0 x8 trained at its maximum, 25G fibre, PHC 0);
  ice allocated 33 MSI-X vectors at probe (misc + one per online CPU) and ethtool -L left
  8 combined channels: the misc vector and queues 0-7 are requested and pinned by the
  host's tuning script to node 1's housekeeping core (queue q on 8 or 24, alternating;
  misc on 24), the 24 idle vectors keep the default affinity, parked on CPU 0. XPS of each
  tx queue is the CPU its vector is pinned to; RPS off (RSS in the NIC). Adaptive
  coalescing off, rx-usecs 0, tx-usecs 16, GRO off, LRO fixed off, flow control off.
  eno1 is the board's I350 (igb, 0000:04:00.0, node 0, 8 queues) left at irqaffinity=.
  net.core.busy_read and busy_poll 50. irqbalance is not running; /etc/sysconfig/irqbalance
  bans the isolated CPUs should it ever be started.
  Kernel bypass: VT-d on in the BIOS, so interrupt remapping is on (IR- chips, a DMAR-MSI
  fault interrupt per unit, before the NICs' vectors), and intel_iommu=on iommu=pt on the
  command line (RHEL 9 leaves the Intel IOMMU off without it): four units dmar0-dmar3, two
  per socket, and an IOMMU group per PCI function of identity type. The E810's second port
  ens1f1 (0000:b1:00.1, node 1) is bound to vfio-pci for DPDK: no netdev, no ice vectors,
  no vfio vectors until a process sets them, /dev/vfio/vfio and its group's node. The
  folders the bypass probe lists are named in meta.json "listed". The model's PCI tree is
  its NICs' functions and their root ports, each in a group of its own (ACS on the Xeon's
  root ports and between the E810's functions); drivers' folders hold their links back to
  the functions and to their module.
  Time: ice registers ptp0 on ens1f0 (probed first), igb ptp1 on eno1, as ethtool -T says;
  ptp4l (-f /etc/ptp4l.conf -i ens1f0, hardware timestamps, UDPv4, E2E, domain 0) is a
  slave two steps from a GPS grandmaster, phc2sys -a -r steers CLOCK_REALTIME (STA_UNSYNC
  clear, maxerror under 1 ms, TAI offset 37); chrony installed, its service off.
- untuned-2s: the same hardware and kernel with distro defaults: no isolation (nohz_full
  reads "(null)", the unallocated mask of an OFFSTACK kernel), intel_pstate powersave with
  EPP balance_performance, turbo on, every C-state enabled, THP always, swap on,
  numa_balancing 1, watchdogs on, default mitigations. VT-d on in the BIOS (DMAR fault
  interrupts, IR- chips) but no DMA remapping: nothing on the command line turns on the
  Intel IOMMU that RHEL 9 builds off by default (CONFIG_INTEL_IOMMU_DEFAULT_ON unset), so
  no unit is registered, /sys/class/iommu and /sys/kernel/iommu_groups are empty (listed,
  and absent from the tree: git keeps no empty folder); vfio not loaded. ice runs its
  default 32 channels with adaptive coalescing (50 us) and GRO;
  irqbalance (PID 1187, nothing banned) keeps each queue vector on one core of node 1,
  both threads in the mask, so queue interrupts land on 9-15 and 25-31 too; busy polling
  off. Time: the same PHCs, no ptp4l; chronyd (RHEL's chrony.conf, pool servers) at
  stratum 3, a few ms off, polling every 1024 s, so the kernel's maxerror has grown to
  hundreds of ms since its last update.
  Persisted (both): a RHEL 9 BLS entry named by grubenv's saved_entry, /etc/default/grub,
  /etc/kernel/cmdline, tuned's active profile. tuned-2s: hft-latency (include=network-latency
  -> latency-performance, [net] coalescing and features), /etc/sysctl.d/90-latency.conf,
  reapply_sysctl = 1. untuned-2s: throughput-performance with reapply_sysctl = 0 (its
  vm.dirty_ratio 40 beats 50-trading.conf's 10), 99-sysctl.conf -> ../sysctl.conf setting
  swappiness back to 60, nohz_full and skew_tick in the boot entry only (reboot pending),
  kernel.timer_migration 0 set by hand in no file.
- cpu0-offline: one socket, 4 cores × 2 threads; booted with cpu0_hotplug and CPU 0 taken
  offline: cpu0/online reads 0, its topology/ and cache/ are gone, its cpufreq policy is
  inactive (reads answer EBUSY, replayed as unsupported), node0's cpulist drops it. VT-d
  on in the BIOS and the IOMMU off, as on untuned-2s (so on unreadable). chrony is not
  installed and nothing disciplines the clock (STA_UNSYNC, TIME_ERROR).
- unreadable: one socket, 4 cores, no SMT; some files denied (recorded in
  hftinfra/unread.json, as a capture by a normal user would, /proc/irq files among them)
  and a few malformed. chronyd runs; the kernel log is refused (dmesg_restrict 1) and the
  journal shows the capturing user's entries only.
- Every host: /proc/interrupts in the 5.14 layout (IRQ column 4 wide: nr_irqs is over
  1000 with the PCH I/O APIC's 120 pins), /proc/softirqs with a column per possible CPU.
- big-4s: 4 × 48 cores × 2 threads = 384 CPUs (wide masks: 12 groups), tuned like tuned-2s
  with isolation on node 3, VT-d off in the BIOS and no bypass port (so is big-512).
- big-512: a market-data capture server, 2 × Xeon 6980P (128 cores, SMT on) = 512 CPUs, one
  NUMA node per socket, Rocky 9.4 (5.14.0-427). Cores 0-15 of each socket (both threads)
  keep the housekeeping, the other 112 of each node are isolated (isolcpus managed_irq,
  domain; nohz_full; rcu_nocbs). 4,096 IRQs with handlers, so the interrupt probes and
  checks meet a real server's volume: the PCIe root ports' PME/AER vector each, the
  chipset's xhci, ahci and mei; an E810 (ice) with both ports in use at 64 channels each
  (257 MSI-X vectors allocated per port, 65 requested), pinned to node 1's housekeeping
  CPUs; a ConnectX-6 Dx port (mlx5_core, ens3f0np0, node 0) with its async vector and 63
  completion vectors; two I350 ports (igb, 8 queues each); 30 NVMe drives behind one PCIe
  switch per socket, each with an admin vector and 128 managed I/O vectors spread over all
  512 CPUs in groups of 4 (the groups of isolated cores target isolated CPUs, as
  isolcpus=managed_irq allows when a group has no housekeeping CPU). Every architecture row
  a bare-metal 5.14 kernel prints, /sys/kernel/irq for every IRQ, ethtool output for each
  port.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import random
import shutil
import struct
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMITTED = ("tuned-2s", "untuned-2s", "cpu0-offline", "unreadable")
GENERATED = ("big-4s", "big-512")


class Link(str):
    """A symlink target."""


# ---------------------------------------------------------------------------------------
# Edge formats


def cpulist(cpus) -> str:
    s = sorted(set(cpus))
    out, i = [], 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[j] + 1:
            j += 1
        out.append(str(s[i]) if i == j else f"{s[i]}-{s[j]}")
        i = j + 1
    return ",".join(out)


def cpumask(cpus, nr: int) -> str:
    """``%*pb`` of an nr-bit mask (lib/vsprintf.c, bitmap_string): 32-bit groups, most
    significant first, the first group only as wide as the bits it holds (2 CPUs -> "3")."""
    value = 0
    for c in cpus:
        value |= 1 << c
    groups = max(1, (nr + 31) // 32)
    top_bits = nr - 32 * (groups - 1)
    out = []
    for g in reversed(range(groups)):
        width = (top_bits + 3) // 4 if g == groups - 1 else 8
        out.append(f"{(value >> (32 * g)) & 0xFFFFFFFF:0{width}x}")
    return ",".join(out)


# ---------------------------------------------------------------------------------------
# The model


@dataclass
class Model:
    name: str
    sockets: int
    cores: int  # per socket
    threads: int  # per core
    model_name: str
    family_model: tuple[int, int, int]  # family, model, stepping
    microcode: str
    base_mhz: int
    turbo_mhz: int
    l1d_kb: int
    l1i_kb: int
    l2_kb: int
    l3_kb: int  # per socket
    mem_per_node_kb: int
    tuned: bool
    hostname: str
    core_ids: list[int] | None = None  # per socket; defaults to 0..cores-1
    isolated: frozenset[int] = frozenset()
    offline: frozenset[int] = frozenset()
    kernel: str = "5.14.0-362.24.1.el9_3.x86_64"
    kernel_build: str = "#1 SMP PREEMPT_DYNAMIC Thu Apr 4 22:31:43 UTC 2024"
    hugepages_1g_node: dict[int, int] = field(default_factory=dict)
    nic_node: int | None = None
    nic_pci: tuple[str, str] = ("0000:b0:02.0", "0000:b1:00.0")  # root port, the NIC's function
    mgmt_nic: bool = False  # the board's 1G port (eno1, igb) on node 0
    vendor: tuple[str, str] = ("Dell Inc.", "PowerEdge R650")
    extra_cmdline: str = ""
    seed: int = 0
    # VT-d in the BIOS (a DMAR table: interrupt remapping and the DMAR units); None: on
    # unless the host is tuned (the generated tuned hosts have it off). Whether the kernel
    # also remaps DMA is the command line's say (iommu_cmdline, see dma_remapping).
    vt_d: bool | None = None
    iommu_cmdline: str = ""
    vfio_ports: tuple[int, ...] = ()  # ports of the E810 bound to vfio-pci (no netdev, no ice)
    # I/O beyond ens1f0 and eno1, for the generated wide hosts (the committed hosts keep
    # these defaults): E810 ports in use and their channels on a tuned host, a ConnectX
    # port, I350 ports, NVMe drives with their I/O queues, and the platform's own
    # interrupts (PCIe port services, chipset devices, every architecture row a 5.14
    # bare-metal kernel prints, /sys/kernel/irq).
    ice_ports: int = 1
    ice_combined: int = 8
    mlx5_port: bool = False
    mgmt_ports: int = 1
    nvme_drives: int = 0
    nvme_io_queues: int = 0
    platform_irqs: bool = False
    # What disciplines the system clock: "ptp" (ptp4l on the first E810 port, phc2sys -a
    # -r), "chrony" (chronyd over NTP), "none" (chrony not installed, nothing running);
    # "" picks ptp for a tuned host with an E810, chrony otherwise.
    time_sync: str = ""
    # The capture ran as a normal user: the kernel log is refused (kernel.dmesg_restrict 1)
    # and the journal shows only that user's own messages.
    capture_as_user: bool = False

    @property
    def clock_discipline(self) -> str:
        if self.time_sync:
            return self.time_sync
        return "ptp" if self.tuned and self.nic_node is not None else "chrony"

    @property
    def nr(self) -> int:
        return self.sockets * self.cores * self.threads

    @property
    def cpus(self) -> range:
        return range(self.nr)

    def place(self, cpu: int) -> tuple[int, int, int]:
        """(socket, core index, thread) with Intel's numbering: all first threads of every
        socket, then all second threads (cpu N and N + cores*sockets share a core)."""
        per_thread = self.sockets * self.cores
        thread, rest = divmod(cpu, per_thread)
        socket, core = divmod(rest, self.cores)
        return socket, core, thread

    def core_id(self, cpu: int) -> int:
        _, core, _ = self.place(cpu)
        return (self.core_ids or list(range(self.cores)))[core]

    def siblings(self, cpu: int) -> list[int]:
        s, c, _ = self.place(cpu)
        return [t * self.sockets * self.cores + s * self.cores + c for t in range(self.threads)]

    def socket_cpus(self, socket: int) -> list[int]:
        return [c for c in self.cpus if self.place(c)[0] == socket]

    @property
    def online(self) -> list[int]:
        return [c for c in self.cpus if c not in self.offline]

    @property
    def housekeeping(self) -> list[int]:
        return [c for c in self.online if c not in self.isolated]

    @property
    def firmware_vt_d(self) -> bool:
        return (not self.tuned) if self.vt_d is None else self.vt_d

    def _iommu_options(self, key: str) -> list[str]:
        return [o for p in self.iommu_cmdline.split() if p.startswith(key + "=")
                for o in p.split("=", 1)[1].split(",")]

    @property
    def dma_remapping(self) -> bool:
        """Whether the DMAR units are registered (/sys/class/iommu, IOMMU groups). RHEL 9
        kernels build CONFIG_INTEL_IOMMU=y with CONFIG_INTEL_IOMMU_DEFAULT_ON unset, so
        intel_iommu_init() stops before registering any unit (dmar_disabled) unless the
        command line says intel_iommu=on; interrupt remapping does not depend on it."""
        return self.firmware_vt_d and "on" in self._iommu_options("intel_iommu")

    @property
    def passthrough(self) -> bool:
        """iommu=pt: identity default domains for the kernel's own drivers."""
        return "pt" in self._iommu_options("iommu")

    def apicid(self, cpu: int) -> int:
        s, _, t = self.place(cpu)
        # The package's bits sit above the core and thread bits: bit 7 up to 64 cores,
        # higher for a package with more.
        top = max(self.core_ids or range(self.cores))
        shift = max(7, ((top << 1) | 1).bit_length())
        return (s << shift) | (self.core_id(cpu) << 1) | t


def tuned_2s() -> Model:
    iso = frozenset(range(9, 16)) | frozenset(range(25, 32))
    return Model(
        name="tuned-2s", sockets=2, cores=8, threads=2,
        model_name="Intel(R) Xeon(R) Gold 6334 CPU @ 3.60GHz", family_model=(6, 106, 6),
        microcode="0xd0003b9", base_mhz=3600, turbo_mhz=3700, l1d_kb=48, l1i_kb=32, l2_kb=1280,
        l3_kb=18432, mem_per_node_kb=131_661_408, tuned=True, hostname="ny4-trade-07",
        core_ids=[0, 2, 3, 5, 8, 10, 11, 13], isolated=iso, hugepages_1g_node={0: 0, 1: 16}, nic_node=1,
        mgmt_nic=True,
        extra_cmdline=("isolcpus=managed_irq,domain,9-15,25-31 nohz_full=9-15,25-31 rcu_nocbs=9-15,25-31 "
                       "rcu_nocb_poll irqaffinity=0-8,16-24"),
        seed=1, vt_d=True, iommu_cmdline="intel_iommu=on iommu=pt", vfio_ports=(1,))


def untuned_2s() -> Model:
    m = tuned_2s()
    m.name, m.tuned, m.hostname, m.isolated = "untuned-2s", False, "ny4-build-12", frozenset()
    m.hugepages_1g_node, m.extra_cmdline, m.seed = {}, "", 2
    m.iommu_cmdline, m.vfio_ports = "", ()
    return m


def cpu0_offline() -> Model:
    return Model(
        name="cpu0-offline", sockets=1, cores=4, threads=2,
        model_name="Intel(R) Xeon(R) E-2334 CPU @ 3.40GHz", family_model=(6, 167, 1),
        microcode="0x5d", base_mhz=3400, turbo_mhz=4800, l1d_kb=48, l1i_kb=32, l2_kb=512, l3_kb=8192,
        mem_per_node_kb=32_614_780, tuned=False, hostname="lab-e2334-01", offline=frozenset({0}),
        vendor=("Supermicro", "Super Server"), extra_cmdline="cpu0_hotplug", seed=3, time_sync="none")


def unreadable() -> Model:
    return Model(
        name="unreadable", sockets=1, cores=4, threads=1,
        model_name="Intel(R) Xeon(R) E-2334 CPU @ 3.40GHz", family_model=(6, 167, 1),
        microcode="0x5d", base_mhz=3400, turbo_mhz=4800, l1d_kb=48, l1i_kb=32, l2_kb=512, l3_kb=8192,
        mem_per_node_kb=32_614_780, tuned=False, hostname="lab-e2334-02",
        vendor=("Supermicro", "Super Server"), seed=4, capture_as_user=True)


def big_4s() -> Model:
    per_thread = 4 * 48
    # Node 3: keep its core 0 (both threads) for housekeeping, isolate the other 47 cores.
    first = [3 * 48 + c for c in range(1, 48)]
    iso = frozenset(first) | frozenset(c + per_thread for c in first)
    lst = cpulist(iso)
    hk = cpulist(set(range(4 * 48 * 2)) - iso)
    return Model(
        name="big-4s", sockets=4, cores=48, threads=2,
        model_name="Intel(R) Xeon(R) Platinum 8468", family_model=(6, 143, 8), microcode="0x2b000590",
        base_mhz=2100, turbo_mhz=3800, l1d_kb=48, l1i_kb=32, l2_kb=2048, l3_kb=107520,
        mem_per_node_kb=263_793_000, tuned=True, hostname="ld4-risk-01", isolated=iso,
        hugepages_1g_node={0: 0, 1: 0, 2: 0, 3: 32}, nic_node=3, nic_pci=("0000:e0:02.0", "0000:e1:00.0"),
        vendor=("HPE", "ProLiant DL560 Gen11"),
        extra_cmdline=(f"isolcpus=managed_irq,domain,{lst} nohz_full={lst} rcu_nocbs={lst} rcu_nocb_poll "
                       f"irqaffinity={hk}"),
        seed=5)


def big_512() -> Model:
    cores, per_thread = 128, 2 * 128
    # Cores 0-15 of each socket (both threads) keep the housekeeping; the other 112 cores
    # of each node are isolated.
    first = [s * cores + c for s in range(2) for c in range(16, cores)]
    iso = frozenset(first) | frozenset(c + per_thread for c in first)
    lst = cpulist(iso)
    hk = cpulist(set(range(2 * per_thread)) - iso)
    return Model(
        name="big-512", sockets=2, cores=cores, threads=2,
        model_name="Intel(R) Xeon(R) 6980P", family_model=(6, 173, 1), microcode="0x10003a2",
        base_mhz=2000, turbo_mhz=3900, l1d_kb=48, l1i_kb=64, l2_kb=2048, l3_kb=516096,
        mem_per_node_kb=792_414_208, tuned=True, hostname="ld4-capture-03", isolated=iso,
        kernel="5.14.0-427.13.1.el9_4.x86_64", kernel_build="#1 SMP PREEMPT_DYNAMIC Wed May 1 19:11:28 UTC 2024",
        hugepages_1g_node={0: 32, 1: 64}, nic_node=1, mgmt_nic=True, vendor=("Dell Inc.", "PowerEdge R770"),
        extra_cmdline=(f"isolcpus=managed_irq,domain,{lst} nohz_full={lst} rcu_nocbs={lst} rcu_nocb_poll "
                       f"irqaffinity={hk}"),
        seed=6, ice_ports=2, ice_combined=64, mlx5_port=True, mgmt_ports=2, nvme_drives=30, nvme_io_queues=128,
        platform_irqs=True)


MODELS = {"tuned-2s": tuned_2s, "untuned-2s": untuned_2s, "cpu0-offline": cpu0_offline,
          "unreadable": unreadable, "big-4s": big_4s, "big-512": big_512}


# ---------------------------------------------------------------------------------------
# Rendering


CPU = "/sys/devices/system/cpu"
NODE = "/sys/devices/system/node"

ICX_FLAGS = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse "
    "sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl "
    "xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 "
    "sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx "
    "f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l3 invpcid_single intel_ppin ssbd mba ibrs "
    "ibpb stibp ibrs_enhanced tpr_shadow vnmi flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 avx2 "
    "smep bmi2 erms invpcid cqm rdt_a avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb intel_pt "
    "avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total "
    "cqm_mbm_local split_lock_detect wbnoinvd dtherm ida arat pln pts hwp hwp_act_window hwp_epp hwp_pkg_req "
    "avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg tme "
    "avx512_vpopcntdq la57 rdpid fsrm md_clear pconfig flush_l1d arch_capabilities")


def _render_persisted(m: Model, f: dict, cmdline: str) -> None:
    """What the next boot sets: a BLS entry (RHEL 9 grub2 with blscfg), grubenv, and tuned's
    active profile. tuned-2s keeps its tuning there; untuned-2s shows the states in between:
    nohz_full and skew_tick added to the boot entry but not yet booted, a sysctl.d value a
    later file overrides, a tuned profile whose [sysctl] wins over sysctl.d (reapply_sysctl
    = 0), and kernel.timer_migration set by hand, in no file."""
    if m.name not in ("tuned-2s", "untuned-2s"):
        return
    machine = "3f6f1c3e1b1e4c9e8b8a5b2e1c0d9e8f"
    entry = f"{machine}-{m.kernel}"
    options = " ".join(w for w in cmdline.split() if not w.startswith("BOOT_IMAGE="))
    if not m.tuned:
        # grubby --update-kernel=ALL --args=... run, the host not rebooted since.
        options += " nohz_full=4-15,20-31 skew_tick=1"
    f[f"/boot/loader/entries/{entry}.conf"] = "\n".join([
        f"title Rocky Linux ({m.kernel}) 9.3 (Blue Onyx)", f"version {m.kernel}",
        f"linux /vmlinuz-{m.kernel}", f"initrd /initramfs-{m.kernel}.img $tuned_initrd",
        f"options {options}", "grub_users $grub_users", "grub_arg --unrestricted", "grub_class rocky"]) + "\n"
    # grubenv is a 1024-byte block padded with '#'.
    env = f"# GRUB Environment Block\nsaved_entry={entry}\nboot_success=1\n"
    f["/boot/grub2/grubenv"] = env + "#" * (1024 - len(env))
    f["/etc/kernel/cmdline"] = options + "\n"
    f["/etc/default/grub"] = "\n".join([
        'GRUB_TIMEOUT=5', 'GRUB_DISTRIBUTOR="$(sed \'s, release .*$,,g\' /etc/system-release)"',
        'GRUB_DEFAULT=saved', 'GRUB_DISABLE_SUBMENU=true', 'GRUB_TERMINAL_OUTPUT="console"',
        f'GRUB_CMDLINE_LINUX="{options}"', 'GRUB_DISABLE_RECOVERY="true"', 'GRUB_ENABLE_BLSCFG=true']) + "\n"
    if m.tuned:
        profile = "hft-latency"
        f["/etc/tuned/active_profile"] = profile + "\n"
        f["/etc/tuned/profile_mode"] = "manual\n"
        f["/etc/tuned/tuned-main.conf"] = "daemon = 1\ndynamic_tuning = 0\nreapply_sysctl = 1\n"
        hk = cpulist(m.housekeeping)
        f[f"/etc/tuned/{profile}/tuned.conf"] = "\n".join([
            "[main]", "summary=network-latency plus the isolated cores of this trading host",
            "include=network-latency", "", "[cpu]", "governor=performance",
            "energy_performance_preference=performance", "min_perf_pct=100", "no_turbo=1", "force_latency=1", "",
            "[sysfs]", f"/sys/devices/virtual/workqueue/cpumask={cpumask(m.housekeeping, m.nr)}",
            "/sys/kernel/mm/ksm/run=0", "", "[net]", "devices=eno1,ens1f0",
            "coalesce=adaptive-rx off adaptive-tx off rx-usecs 0 tx-usecs 16", "features=gro off lro off", "",
            "[irqbalance]", f"banned_cpus={cpulist(m.isolated)}", "",
            "[systemd]", f"cpu_affinity={hk}", ""])
        f["/usr/lib/tuned/network-latency/tuned.conf"] = "\n".join([
            "[main]", "summary=low latency network tuning", "include=latency-performance", "",
            "[vm]", "transparent_hugepages=never", "", "[sysctl]", "net.core.busy_read=50", "net.core.busy_poll=50",
            "kernel.numa_balancing=0", "kernel.hung_task_timeout_secs=600", "kernel.nmi_watchdog=0",
            "vm.stat_interval=10", "kernel.timer_migration=0", "",
            "[bootloader]", "cmdline_network_latency=skew_tick=1 tsc=reliable rcupdate.rcu_normal_after_boot=1", ""])
        f["/usr/lib/tuned/latency-performance/tuned.conf"] = "\n".join([
            "[main]", "summary=deterministic performance at the cost of power", "", "[cpu]",
            "force_latency=cstate.id_no_zero:1|3", "governor=performance", "energy_perf_bias=performance",
            "min_perf_pct=100", "", "[sysctl]", "vm.dirty_ratio=10", "vm.dirty_background_ratio=3",
            "vm.swappiness=10", ""])
    else:
        f["/etc/sysctl.d/50-trading.conf"] = "# from the trading team\nvm.swappiness = 10\nvm.dirty_ratio = 10\n"
        f["/etc/sysctl.d/99-sysctl.conf"] = Link("../sysctl.conf")
        f["/etc/sysctl.conf"] = "# local overrides\nvm.swappiness = 60\n"
        f["/etc/tuned/active_profile"] = "throughput-performance\n"
        f["/etc/tuned/profile_mode"] = "auto\n"
        f["/etc/tuned/tuned-main.conf"] = "daemon = 1\nreapply_sysctl = 0\n"
        f["/usr/lib/tuned/throughput-performance/tuned.conf"] = "\n".join([
            "[main]", "summary=broadly applicable tuning for throughput", "", "[cpu]", "governor=performance",
            "energy_perf_bias=performance", "min_perf_pct=100", "", "[vm]", "transparent_hugepages=always", "",
            "[sysctl]", "vm.dirty_ratio=40", "vm.dirty_background_ratio=10", ""])

def _vulnerabilities(tuned: bool) -> dict[str, str]:
    if tuned:  # mitigations=off
        return {
            "gather_data_sampling": "Vulnerable",
            "itlb_multihit": "Not affected",
            "l1tf": "Not affected",
            "mds": "Not affected",
            "meltdown": "Not affected",
            "mmio_stale_data": "Vulnerable",
            "retbleed": "Not affected",
            "spec_rstack_overflow": "Not affected",
            "spec_store_bypass": "Vulnerable",
            "spectre_v1": "Vulnerable: __user pointer sanitization and usercopy barriers only; no swapgs barriers",
            "spectre_v2": "Vulnerable; IBPB: disabled; STIBP: disabled; PBRSB-eIBRS: Vulnerable",
            "srbds": "Not affected",
            "tsx_async_abort": "Not affected",
        }
    return {
        "gather_data_sampling": "Mitigation: Microcode",
        "itlb_multihit": "Not affected",
        "l1tf": "Not affected",
        "mds": "Not affected",
        "meltdown": "Not affected",
        "mmio_stale_data": "Mitigation: Clear CPU buffers; SMT vulnerable",
        "retbleed": "Not affected",
        "spec_rstack_overflow": "Not affected",
        "spec_store_bypass": "Mitigation: Speculative Store Bypass disabled via prctl",
        "spectre_v1": "Mitigation: usercopy/swapgs barriers and __user pointer sanitization",
        "spectre_v2": "Mitigation: Enhanced IBRS, IBPB: conditional, RSB filling, PBRSB-eIBRS: SW sequence",
        "srbds": "Not affected",
        "tsx_async_abort": "Not affected",
    }


def _meminfo_lines(fields: list[tuple[str, int]], node: int | None) -> str:
    out = []
    for name, value in fields:
        if node is None:
            if name.startswith("HugePages_"):
                out.append(f"{name + ':':<16}{value:>8}")
            else:
                out.append(f"{name + ':':<16}{value:>8} kB")
        elif name.startswith("HugePages_"):
            out.append(f"Node {node} {name + ':':<16} {value:>5}")
        else:
            out.append(f"Node {node} {name + ':':<16}{value:>8} kB")
    return "\n".join(out)


def render(m: Model) -> dict[str, str | bytes | Link]:
    rng = random.Random(m.seed)
    f: dict[str, str | bytes | Link] = {}
    nodes = list(range(m.sockets))
    node_of = {c: m.place(c)[0] for c in m.cpus}
    online = m.online
    nr = m.nr

    # ---- command line ----------------------------------------------------------------
    root = "root=/dev/mapper/rl-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rl-swap"
    if m.tuned:
        pages = ",".join(f"{n}:{k}" for n, k in sorted(m.hugepages_1g_node.items()))
        tuning = (f"{m.extra_cmdline} {m.iommu_cmdline} intel_pstate=active processor.max_cstate=1 skew_tick=1 tsc=reliable "
                  f"rcupdate.rcu_normal_after_boot=1 rcutree.nohz_full_patience_delay=1000 "
                  f"nosoftlockup nmi_watchdog=0 mce=ignore_ce audit=0 mitigations=off transparent_hugepage=never "
                  f"default_hugepagesz=1G hugepagesz=1G hugepages={pages}")
        root = "root=/dev/mapper/rl-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M"
    else:
        tuning = f"{m.extra_cmdline} {m.iommu_cmdline}"
    cmdline = f"BOOT_IMAGE=(hd0,gpt2)/vmlinuz-{m.kernel} {root} rd.lvm.lv=rl/root {tuning}".strip()
    cmdline = " ".join(cmdline.split())
    f["/proc/cmdline"] = cmdline

    # ---- CPU: global files -------------------------------------------------------------
    f[f"{CPU}/possible"] = cpulist(m.cpus)
    f[f"{CPU}/present"] = cpulist(m.cpus)
    f[f"{CPU}/online"] = cpulist(online)
    f[f"{CPU}/offline"] = cpulist(m.offline)
    f[f"{CPU}/kernel_max"] = "8191"
    f[f"{CPU}/isolated"] = cpulist(m.isolated)
    f[f"{CPU}/nohz_full"] = cpulist(m.isolated) if m.isolated else "(null)"
    smt_on = m.threads > 1
    f[f"{CPU}/smt/active"] = "1" if smt_on else "0"
    f[f"{CPU}/smt/control"] = "on" if smt_on else "notsupported"
    for name, text in _vulnerabilities(m.tuned).items():
        f[f"{CPU}/vulnerabilities/{name}"] = text
    f["/sys/devices/virtual/workqueue/cpumask"] = cpumask(m.housekeeping if m.tuned else m.cpus, nr)
    f["/sys/module/intel_idle/parameters/max_cstate"] = "9"
    f["/sys/module/intel_idle/parameters/states_off"] = "0"

    # ---- per CPU -----------------------------------------------------------------------
    l3_ways = 12 if m.l3_kb % 12 == 0 else 16
    caches = [  # index, level, type, size_kb, ways, shared by
        (0, 1, "Data", m.l1d_kb, 12, "core"),
        (1, 1, "Instruction", m.l1i_kb, 8, "core"),
        (2, 2, "Unified", m.l2_kb, 20 if m.l2_kb == 1280 else 16, "core"),
        (3, 3, "Unified", m.l3_kb, l3_ways, "socket"),
    ]
    idle_states = [  # name, desc, latency, residency (intel_idle icx_cstates)
        ("POLL", "CPUIDLE CORE POLL IDLE", 0, 0),
        ("C1", "MWAIT 0x00", 1, 1),
        ("C1E", "MWAIT 0x01", 4, 4),
        ("C6", "MWAIT 0x20", 170, 600),
    ]
    for c in m.cpus:
        base = f"{CPU}/cpu{c}"
        s, _core, _t = m.place(c)
        is_online = c not in m.offline
        # x86: cpuN/online exists for hot-pluggable CPUs; CPU 0 only with cpu0_hotplug.
        if c != 0 or "cpu0_hotplug" in cmdline:
            f[f"{base}/online"] = "1" if is_online else "0"
        f[f"{base}/node{s}"] = Link(f"../../node/node{s}")
        # drivers/base/cpu.c register_cpu() exposes the per-CPU resume latency limit, "0"
        # meaning no constraint (drivers/base/power/sysfs.c).
        f[f"{base}/power/pm_qos_resume_latency_us"] = "0"
        if is_online:
            # arch/x86/kernel/cpu/intel_epb.c adds power/energy_perf_bias when a CPU comes
            # online and removes it when it goes offline.
            f[f"{base}/power/energy_perf_bias"] = "0" if m.tuned else "6"
            # x86 remove_siblinginfo() and cacheinfo drop an offline CPU from the sibling,
            # package and shared-cache masks of the CPUs that stay online.
            sib = [x for x in m.siblings(c) if x not in m.offline]
            pkg = [x for x in m.socket_cpus(s) if x not in m.offline]
            topo = f"{base}/topology"
            f[f"{topo}/physical_package_id"] = str(s)
            f[f"{topo}/die_id"] = "0"
            f[f"{topo}/core_id"] = str(m.core_id(c))
            for kind, cpus in (("thread_siblings", sib), ("core_cpus", sib), ("core_siblings", pkg),
                               ("die_cpus", pkg), ("package_cpus", pkg)):
                f[f"{topo}/{kind}"] = cpumask(cpus, nr)
                f[f"{topo}/{kind}_list"] = cpulist(cpus)
            for idx, level, ctype, size, ways, scope in caches:
                d = f"{base}/cache/index{idx}"
                shared = sib if scope == "core" else pkg
                f[f"{d}/level"] = str(level)
                f[f"{d}/type"] = ctype
                f[f"{d}/size"] = f"{size}K"
                f[f"{d}/ways_of_associativity"] = str(ways)
                f[f"{d}/coherency_line_size"] = "64"
                f[f"{d}/number_of_sets"] = str(size * 1024 // (64 * ways))
                f[f"{d}/shared_cpu_list"] = cpulist(shared)
                f[f"{d}/shared_cpu_map"] = cpumask(shared, nr)
                f[f"{d}/id"] = str(s) if scope == "socket" else str(m.core_id(c) + 64 * s)
        # intel_idle registers a cpuidle device when a CPU first comes online and does not
        # remove it when the CPU goes offline; the counters just stop.
        for i, (name, desc, lat, res) in enumerate(idle_states):
            d = f"{base}/cpuidle/state{i}"
            disabled = m.tuned and name in ("C1E", "C6")
            f[f"{d}/name"] = name
            f[f"{d}/desc"] = desc
            f[f"{d}/latency"] = str(lat)
            f[f"{d}/residency"] = str(res)
            f[f"{d}/disable"] = "1" if disabled else "0"
            f[f"{d}/default_status"] = "enabled"
            if m.tuned:
                # Deep states only counted before the boot-time disable; isolated CPUs
                # spinning in user space barely idle at all.
                busy = c in m.isolated
                usage = {"POLL": rng.randint(10, 500) if busy else rng.randint(20_000, 90_000),
                         "C1": rng.randint(50, 900) if busy else rng.randint(2_000_000, 9_000_000),
                         "C1E": rng.randint(0, 40), "C6": rng.randint(0, 12)}[name]
            else:
                usage = {"POLL": rng.randint(5_000, 40_000), "C1": rng.randint(200_000, 900_000),
                         "C1E": rng.randint(400_000, 2_000_000), "C6": rng.randint(3_000_000, 12_000_000)}[name]
            per_use = {"POLL": 20, "C1": 300, "C1E": 900, "C6": 9000}[name]
            f[f"{d}/usage"] = str(usage)
            f[f"{d}/time"] = str(usage * per_use + rng.randint(0, 999))
            f[f"{d}/above"] = str(usage // 50)
            f[f"{d}/below"] = str(usage // 80)
        # cpufreq: one policy per CPU (intel_pstate); cpuN/cpufreq links to it.
        f[f"{base}/cpufreq"] = Link(f"../cpufreq/policy{c}")
        p = f"{CPU}/cpufreq/policy{c}"
        f[f"{p}/affected_cpus"] = str(c) if is_online else ""
        f[f"{p}/related_cpus"] = str(c)
        f[f"{p}/scaling_driver"] = "intel_pstate"
        f[f"{p}/scaling_available_governors"] = "performance powersave"
        f[f"{p}/energy_performance_available_preferences"] = (
            "default performance balance_performance balance_power power ")
        f[f"{p}/cpuinfo_min_freq"] = "800000"
        f[f"{p}/cpuinfo_max_freq"] = str(m.turbo_mhz * 1000)
        f[f"{p}/cpuinfo_transition_latency"] = "0"
        f[f"{p}/base_frequency"] = str(m.base_mhz * 1000)
        f[f"{p}/scaling_setspeed"] = "<unsupported>"
        if m.tuned:
            f[f"{p}/scaling_governor"] = "performance"
            f[f"{p}/energy_performance_preference"] = "performance"
            f[f"{p}/scaling_min_freq"] = str(m.base_mhz * 1000)
            f[f"{p}/scaling_max_freq"] = str(m.base_mhz * 1000)
            f[f"{p}/scaling_cur_freq"] = str(m.base_mhz * 1000 + rng.randint(-60, 60))
        else:
            f[f"{p}/scaling_governor"] = "powersave"
            f[f"{p}/energy_performance_preference"] = "balance_performance"
            f[f"{p}/scaling_min_freq"] = "800000"
            f[f"{p}/scaling_max_freq"] = str(m.turbo_mhz * 1000)
            f[f"{p}/scaling_cur_freq"] = str(rng.choice([800000, 1200000, 2100000, 3300000, m.turbo_mhz * 1000])
                                             + rng.randint(0, 999))
    ip = f"{CPU}/intel_pstate"
    f[f"{ip}/status"] = "active"
    f[f"{ip}/no_turbo"] = "1" if m.tuned else "0"
    f[f"{ip}/min_perf_pct"] = "100" if m.tuned else str(round(800 * 100 / m.turbo_mhz))
    f[f"{ip}/max_perf_pct"] = "100"
    turbo_pct = round((m.turbo_mhz - m.base_mhz) * 100 / (m.turbo_mhz - 800))
    f[f"{ip}/turbo_pct"] = str(turbo_pct)
    f[f"{ip}/num_pstates"] = str(m.turbo_mhz // 100 - 8 + 1)
    f[f"{ip}/hwp_dynamic_boost"] = "0"
    ci = f"{CPU}/cpuidle"
    f[f"{ci}/current_driver"] = "intel_idle"
    f[f"{ci}/current_governor"] = "menu"
    f[f"{ci}/current_governor_ro"] = "menu"
    f[f"{ci}/available_governors"] = "menu "
    # power/pm_qos_interface.rst: reading returns the current target as a binary s32.
    f["/dev/cpu_dma_latency"] = (1 if m.tuned else 2_000_000_000).to_bytes(4, "little", signed=True)

    # ---- NUMA nodes, memory ----------------------------------------------------------------
    f[f"{NODE}/possible"] = cpulist(nodes)
    f[f"{NODE}/online"] = cpulist(nodes)
    f[f"{NODE}/has_cpu"] = cpulist(nodes)
    f[f"{NODE}/has_memory"] = cpulist(nodes)
    default_hp_kb = 1048576 if m.tuned else 2048
    total_1g = sum(m.hugepages_1g_node.values())
    node_free_total = 0
    for n in nodes:
        d = f"{NODE}/node{n}"
        cpus_n = [c for c in online if node_of[c] == n]
        f[f"{d}/cpulist"] = cpulist(cpus_n)
        f[f"{d}/cpumap"] = cpumask(cpus_n, nr)
        f[f"{d}/distance"] = " ".join("10" if k == n else ("20" if m.sockets <= 2 else "21") for k in nodes)
        hp = m.hugepages_1g_node.get(n, 0)
        total = m.mem_per_node_kb
        used = rng.randint(2_000_000, 6_000_000) + hp * 1048576
        free = total - used
        node_free_total += free
        hp_default = hp if m.tuned else 0
        f[f"{d}/meminfo"] = _meminfo_lines([
            ("MemTotal", total), ("MemFree", free), ("MemUsed", used), ("SwapCached", 0),
            ("Active", used // 6), ("Inactive", used // 4), ("Active(anon)", used // 40),
            ("Inactive(anon)", used // 12), ("Active(file)", used // 7), ("Inactive(file)", used // 6),
            ("Unevictable", 0), ("Mlocked", 0), ("Dirty", rng.randint(0, 300)), ("Writeback", 0),
            ("FilePages", used // 3), ("Mapped", used // 20), ("AnonPages", used // 10), ("Shmem", 3672),
            ("KernelStack", 13696), ("PageTables", 6824), ("SecPageTables", 0), ("NFS_Unstable", 0),
            ("Bounce", 0), ("WritebackTmp", 0), ("KReclaimable", 120880), ("Slab", 379332),
            ("SReclaimable", 120880), ("SUnreclaim", 258452),
            ("AnonHugePages", 0 if m.tuned else rng.randint(100, 900) * 2048),
            ("ShmemHugePages", 0), ("ShmemPmdMapped", 0), ("FileHugePages", 0), ("FilePmdMapped", 0),
            ("HugePages_Total", hp_default), ("HugePages_Free", hp_default), ("HugePages_Surp", 0)], n)
        for size_kb, count in ((2048, 0), (1048576, hp)):
            hd = f"{d}/hugepages/hugepages-{size_kb}kB"
            f[f"{hd}/nr_hugepages"] = str(count)
            f[f"{hd}/free_hugepages"] = str(count)
            f[f"{hd}/surplus_hugepages"] = "0"
    mem_total = m.mem_per_node_kb * len(nodes)
    swap_kb = 0 if m.tuned else 8388604
    mem_fields = [
        ("MemTotal", mem_total), ("MemFree", node_free_total), ("MemAvailable", node_free_total + 2_400_000),
        ("Buffers", 5400), ("Cached", 2_310_000), ("SwapCached", 0), ("Active", 1_300_000),
        ("Inactive", 2_400_000), ("Active(anon)", 9000), ("Inactive(anon)", 820_000),
        ("Active(file)", 1_290_000), ("Inactive(file)", 1_580_000), ("Unevictable", 0), ("Mlocked", 0),
        ("SwapTotal", swap_kb), ("SwapFree", swap_kb), ("Zswap", 0), ("Zswapped", 0), ("Dirty", 120),
        ("Writeback", 0), ("AnonPages", 830_000), ("Mapped", 390_000), ("Shmem", 7344),
        ("KReclaimable", 241760), ("Slab", 758664), ("SReclaimable", 241760), ("SUnreclaim", 516904),
        ("KernelStack", 27392), ("PageTables", 13648), ("SecPageTables", 0), ("NFS_Unstable", 0),
        ("Bounce", 0), ("WritebackTmp", 0), ("CommitLimit", (mem_total - total_1g * 1048576) // 2 + swap_kb),
        ("Committed_AS", 2_900_000), ("VmallocTotal", 13743895347199), ("VmallocUsed", 260_000),
        ("VmallocChunk", 0), ("Percpu", 60 * nr), ("HardwareCorrupted", 0),
        ("AnonHugePages", 0 if m.tuned else 1_126_400), ("ShmemHugePages", 0), ("ShmemPmdMapped", 0),
        ("FileHugePages", 0), ("FilePmdMapped", 0),
        ("HugePages_Total", total_1g if m.tuned else 0), ("HugePages_Free", total_1g if m.tuned else 0),
        ("HugePages_Rsvd", 0), ("HugePages_Surp", 0), ("Hugepagesize", default_hp_kb),
        ("Hugetlb", total_1g * 1048576), ("DirectMap4k", 1_187_712), ("DirectMap2M", 31_309_824),
        ("DirectMap1G", mem_total // 1048576 * 1048576 - 32_497_536 if mem_total > 40_000_000 else 0)]
    f["/proc/meminfo"] = _meminfo_lines(mem_fields, None)
    swaps = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"
    if not m.tuned:
        swaps += "\n/dev/dm-1                               partition\t8388604\t\t0\t\t-2"
    f["/proc/swaps"] = swaps
    for size_kb, count in ((2048, 0), (1048576, total_1g)):
        hd = f"/sys/kernel/mm/hugepages/hugepages-{size_kb}kB"
        f[f"{hd}/nr_hugepages"] = str(count)
        f[f"{hd}/nr_hugepages_mempolicy"] = str(count)
        f[f"{hd}/nr_overcommit_hugepages"] = "0"
        f[f"{hd}/free_hugepages"] = str(count)
        f[f"{hd}/resv_hugepages"] = "0"
        f[f"{hd}/surplus_hugepages"] = "0"
    thp = "/sys/kernel/mm/transparent_hugepage"
    f[f"{thp}/enabled"] = "always madvise [never]" if m.tuned else "[always] madvise never"
    f[f"{thp}/defrag"] = ("always defer defer+madvise madvise [never]" if m.tuned
                          else "always defer defer+madvise [madvise] never")
    f["/sys/kernel/mm/ksm/run"] = "0"
    f["/sys/kernel/mm/ksm/pages_sharing"] = "0"

    # ---- sysctls -------------------------------------------------------------------------
    vm = {"swappiness": 10, "zone_reclaim_mode": 0, "dirty_ratio": 10, "dirty_background_ratio": 3,
          "dirty_bytes": 0, "dirty_background_bytes": 0, "stat_interval": 10,
          "compact_unevictable_allowed": 0} if m.tuned else \
         {"swappiness": 60, "zone_reclaim_mode": 0, "dirty_ratio": 20, "dirty_background_ratio": 10,
          "dirty_bytes": 0, "dirty_background_bytes": 0, "stat_interval": 1, "compact_unevictable_allowed": 1}
    for k, v in vm.items():
        f[f"/proc/sys/vm/{k}"] = str(v)
    kern = {"numa_balancing": 0, "watchdog": 0, "nmi_watchdog": 0, "soft_watchdog": 0, "timer_migration": 0,
            "sched_rt_runtime_us": 950000, "sched_rt_period_us": 1000000, "hung_task_timeout_secs": 600} \
        if m.tuned else \
        {"numa_balancing": 1, "watchdog": 1, "nmi_watchdog": 1, "soft_watchdog": 1,
         # set by hand (sysctl -w) while testing, in no file: lost at the next reboot
         "timer_migration": 0 if m.name == "untuned-2s" else 1,
         "sched_rt_runtime_us": 950000, "sched_rt_period_us": 1000000, "hung_task_timeout_secs": 120}
    # admin-guide/sysctl/kernel.rst: a NO_HZ_FULL kernel leaves the nohz_full CPUs out of
    # the default watchdog_cpumask; otherwise it holds every possible CPU.
    kern["watchdog_cpumask"] = cpulist(m.housekeeping if m.isolated else m.cpus)
    kern["dmesg_restrict"] = 1 if m.capture_as_user else 0
    for k, v in kern.items():
        f[f"/proc/sys/kernel/{k}"] = str(v)
    # Built-in RCU module parameters of a 5.14 kernel: rcupdate's rcu_expedited, rcu_normal
    # and rcu_normal_after_boot had mode 0 until 5.16, and rcutree has no
    # nohz_full_patience_delay before 6.11.
    for name, value in (("rcu_cpu_stall_ftrace_dump", "0"), ("rcu_cpu_stall_suppress", "0"),
                        ("rcu_cpu_stall_suppress_at_boot", "0"), ("rcu_cpu_stall_timeout", "60"),
                        ("rcu_task_ipi_delay", "100"), ("rcu_task_stall_timeout", "600000")):
        f[f"/sys/module/rcupdate/parameters/{name}"] = value
    for name, value in (("blimit", "10"), ("qhimark", "10000"), ("qlowmark", "100"), ("qovld", "20000"),
                        ("jiffies_till_first_fqs", "3"), ("jiffies_till_next_fqs", "3"), ("kthread_prio", "0"),
                        ("rcu_kick_kthreads", "N"), ("rcu_nocb_gp_stride", "-1"), ("use_softirq", "Y")):
        f[f"/sys/module/rcutree/parameters/{name}"] = value
    f["/proc/sys/kernel/osrelease"] = m.kernel
    f["/proc/sys/kernel/hostname"] = m.hostname
    f["/proc/sys/kernel/version"] = m.kernel_build
    f["/proc/version"] = (f"Linux version {m.kernel} (mockbuild@iad1-prod-build001.bld.equ.rockylinux.org) "
                          f"(gcc (GCC) 11.4.1 20230605 (Red Hat 11.4.1-2), GNU ld version 2.35.2-42.el9) "
                          f"{m.kernel_build}")
    f["/sys/kernel/debug/sched/preempt"] = "none (voluntary) full "
    f[f"/boot/config-{m.kernel}"] = "\n".join([
        "#", "# Automatically generated file; DO NOT EDIT.", f"# Linux/x86_64 {m.kernel.split('-')[0]} Kernel Configuration",
        "#", "CONFIG_NO_HZ_COMMON=y", "# CONFIG_HZ_PERIODIC is not set", "# CONFIG_NO_HZ_IDLE is not set",
        "CONFIG_NO_HZ_FULL=y", "CONFIG_CONTEXT_TRACKING_USER=y", "CONFIG_NO_HZ=y", "CONFIG_HIGH_RES_TIMERS=y",
        "# CONFIG_PREEMPT_NONE is not set", "CONFIG_PREEMPT_VOLUNTARY=y", "# CONFIG_PREEMPT is not set",
        "CONFIG_PREEMPT_COUNT=y", "CONFIG_PREEMPTION=y", "CONFIG_PREEMPT_DYNAMIC=y", "CONFIG_RCU_NOCB_CPU=y",
        "CONFIG_CPUMASK_OFFSTACK=y", "CONFIG_NR_CPUS=8192", "CONFIG_CPU_ISOLATION=y",
        "# CONFIG_HZ_100 is not set", "# CONFIG_HZ_250 is not set", "# CONFIG_HZ_300 is not set",
        "CONFIG_HZ_1000=y", "CONFIG_HZ=1000", "CONFIG_X86_INTEL_PSTATE=y", "CONFIG_INTEL_IDLE=y",
        "CONFIG_HARDLOCKUP_DETECTOR=y", "CONFIG_SOFTLOCKUP_DETECTOR=y", "CONFIG_COMPACTION=y",
        # What a kernel-bypass stack needs, as RHEL 9's x86_64 config sets it: AF_XDP and busy
        # polling built in, vfio and vfio-pci as modules (no-IOMMU mode available), the Intel
        # IOMMU built but off unless intel_iommu=on, lazy DMA invalidation by default.
        "CONFIG_NET=y", "CONFIG_BPF_SYSCALL=y", "CONFIG_XDP_SOCKETS=y", "CONFIG_NET_RX_BUSY_POLL=y",
        "CONFIG_IOMMU_API=y", "CONFIG_IOMMU_SUPPORT=y", "# CONFIG_IOMMU_DEFAULT_DMA_STRICT is not set",
        "CONFIG_IOMMU_DEFAULT_DMA_LAZY=y", "# CONFIG_IOMMU_DEFAULT_PASSTHROUGH is not set", "CONFIG_AMD_IOMMU=y",
        "CONFIG_DMAR_TABLE=y", "CONFIG_INTEL_IOMMU=y", "# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set",
        "CONFIG_IRQ_REMAP=y", "CONFIG_VFIO=m", "CONFIG_VFIO_IOMMU_TYPE1=m", "CONFIG_VFIO_NOIOMMU=y",
        "CONFIG_VFIO_PCI=m"])
    cs = "/sys/devices/system/clocksource/clocksource0"
    f[f"{cs}/current_clocksource"] = "tsc"
    f[f"{cs}/available_clocksource"] = "tsc hpet acpi_pm "
    f["/sys/devices/system/machinecheck/machinecheck0/ignore_ce"] = "1" if m.tuned else "0"

    # ---- /proc/cpuinfo -----------------------------------------------------------------
    fam, model, stepping = m.family_model
    blocks = []
    for c in online:
        s, _, _ = m.place(c)
        mhz = m.base_mhz if m.tuned else rng.choice([800, 1200, 2100, m.base_mhz])
        blocks.append("\n".join([
            f"processor\t: {c}", "vendor_id\t: GenuineIntel", f"cpu family\t: {fam}", f"model\t\t: {model}",
            f"model name\t: {m.model_name}", f"stepping\t: {stepping}", f"microcode\t: {m.microcode}",
            f"cpu MHz\t\t: {mhz}.{rng.randint(0, 999):03d}", f"cache size\t: {m.l3_kb} KB",
            f"physical id\t: {s}", f"siblings\t: {m.cores * m.threads}", f"core id\t\t: {m.core_id(c)}",
            f"cpu cores\t: {m.cores}", f"apicid\t\t: {m.apicid(c)}", f"initial apicid\t: {m.apicid(c)}",
            "fpu\t\t: yes", "fpu_exception\t: yes", "cpuid level\t: 27", "wp\t\t: yes",
            f"flags\t\t: {ICX_FLAGS}",
            "vmx flags\t: vnmi preemption_timer posted_intr invvpid ept_x_only ept_ad ept_1gb flexpriority "
            "apicv tsc_offset vtpr mtf vapic ept vpid unrestricted_guest vapic_reg vid ple shadow_vmcs pml "
            "ept_mode_based_exec tsc_scaling",
            "bugs\t\t: spectre_v1 spectre_v2 spec_store_bypass swapgs mmio_stale_data eibrs_pbrsb gds",
            f"bogomips\t: {m.base_mhz * 2}.00", "clflush size\t: 64", "cache_alignment\t: 64",
            "address sizes\t: 46 bits physical, 57 bits virtual", "power management:"]))
    f["/proc/cpuinfo"] = "\n\n".join(blocks) + "\n"

    # ---- PID 1, systemd, sysctl.d -----------------------------------------------------------
    affinity = m.housekeeping if m.tuned else list(m.cpus)
    f["/proc/1/comm"] = "systemd"
    f["/proc/1/status"] = "\n".join([
        "Name:\tsystemd", "Umask:\t0000", "State:\tS (sleeping)", "Tgid:\t1", "Ngid:\t0", "Pid:\t1", "PPid:\t0",
        "TracerPid:\t0", "Uid:\t0\t0\t0\t0", "Gid:\t0\t0\t0\t0", "FDSize:\t256", "Groups:\t",
        "NStgid:\t1", "NSpid:\t1", "NSpgid:\t1", "NSsid:\t1", "VmPeak:\t  240952 kB", "VmSize:\t  175416 kB",
        "VmRSS:\t   16312 kB", "Threads:\t1", "SigQ:\t0/1030397",
        f"Cpus_allowed:\t{cpumask(affinity, nr)}", f"Cpus_allowed_list:\t{cpulist(affinity)}",
        f"Mems_allowed:\t{','.join(['00000000'] * 31)},{(1 << len(nodes)) - 1:08x}",
        f"Mems_allowed_list:\t{cpulist(nodes)}",
        "voluntary_ctxt_switches:\t98213", "nonvoluntary_ctxt_switches:\t1874"])
    conf = ["#  This file is part of systemd.", "#", "# See systemd-system.conf(5) for details.", "",
            "[Manager]", "#LogLevel=info", "#LogTarget=journal-or-kmsg"]
    if m.tuned:
        conf.append(f"CPUAffinity={' '.join(cpulist(m.housekeeping).split(','))}")
    else:
        conf.append("#CPUAffinity=")
    conf += ["#NUMAPolicy=default", "#RuntimeWatchdogSec=off", "#DefaultTimerAccuracySec=1min"]
    f["/etc/systemd/system.conf"] = "\n".join(conf)
    # os-release(5) of the distribution that ships the kernel above (its el9_N tag).
    minor = m.kernel.split(".el9_")[1].split(".")[0] if ".el9_" in m.kernel else "3"
    f["/etc/os-release"] = "\n".join([
        'NAME="Rocky Linux"', f'VERSION="9.{minor} (Blue Onyx)"', 'ID="rocky"', 'ID_LIKE="rhel centos fedora"',
        f'VERSION_ID="9.{minor}"', 'PLATFORM_ID="platform:el9"', f'PRETTY_NAME="Rocky Linux 9.{minor} (Blue Onyx)"',
        'ANSI_COLOR="0;32"', 'CPE_NAME="cpe:/o:rocky:rocky:9::baseos"', 'HOME_URL="https://rockylinux.org/"'])
    if m.tuned:
        f["/etc/sysctl.d/90-latency.conf"] = "\n".join([
            "# Low-latency host settings (see the host's runbook)", "kernel.watchdog = 0",
            "kernel.nmi_watchdog = 0", "kernel.timer_migration = 0", "kernel.numa_balancing = 0",
            "kernel.hung_task_timeout_secs = 600", "vm.swappiness = 10", "vm.stat_interval = 10",
            "vm.dirty_ratio = 10", "vm.dirty_background_ratio = 3", "vm.compact_unevictable_allowed = 0"])

    _render_persisted(m, f, cmdline)

    # ---- interrupts --------------------------------------------------------------------------
    # Separate stream for the interrupt and network picture, so adding a row leaves every
    # other drawn value as it was.
    nrng = random.Random(m.seed * 7919 + 17)
    nics = _nics(m)
    hk_default = m.housekeeping if m.tuned else list(m.cpus)
    f["/proc/irq/default_smp_affinity"] = cpumask(hk_default, nr)
    # With VT-d on in the BIOS the kernel turns interrupt remapping on (IR- chips, a fault
    # interrupt per remapping unit) whether or not it also remaps DMA.
    remapped = m.firmware_vt_d
    ioapic = "IR-IO-APIC" if remapped else "IO-APIC"
    msi_chip = "IR-PCI-MSI" if remapped else "PCI-MSI"
    prec = _irq_prec(m)
    first = 0 if 0 in online else online[0]
    rows: list[str] = [" " * (prec + 8) + "".join(f"CPU{c:<8d}" for c in online)]
    irq_dirs: list[tuple[int, list[int], list[int], int]] = []  # irq, smp, effective, node
    descs: dict[int, IrqDesc] = {}  # what /sys/kernel/irq shows of each

    def row(irq: int, counts: dict[int, int], chip: str, hwirq: int, flow: str, action: str | None) -> None:
        descs[irq] = IrqDesc(chip, hwirq, flow, action, counts)
        rows.append(_interrupt_row(irq, [counts.get(c, 0) for c in online], chip, hwirq, flow, action, prec))

    for irq, hw, flow, name in ((0, 2, "edge", "timer"), (8, 8, "edge", "rtc0"), (9, 9, "fasteoi", "acpi"),
                                (16, 16, "fasteoi", "i801_smbus")):
        aff = hk_default if irq != 0 else [first]
        count = 35 if irq == 0 else rng.randint(1000, 900000)
        row(irq, {aff[0]: count}, ioapic, hw, flow, name)
        irq_dirs.append((irq, aff, aff[:1], 0))
    next_irq = FIRST_DYNAMIC_IRQ
    if remapped:
        # drivers/iommu/intel/dmar.c: one "DMAR-MSI" fault interrupt per remapping unit,
        # hwirq the unit's number, set up before any device driver asks for vectors.
        for i in range(2 * m.sockets):
            node = i // 2
            row(next_irq, {}, "DMAR-MSI", i, "edge", f"dmar{i}")
            cpus = [c for c in online if node_of[c] == node] or online
            irq_dirs.append((next_irq, hk_default, cpus[:1], node))
            next_irq += 1
    if m.platform_irqs:
        next_irq = _platform_irqs(m, nics, f, row, irq_dirs, next_irq, msi_chip, hk_default, nrng)
    for nic in nics:
        nic.first_irq = next_irq
        next_irq += nic.vectors
        node_cpus = [c for c in online if node_of[c] == nic.node]
        for entry in range(nic.vectors):
            irq = nic.first_irq + entry
            queue = entry - 1  # entry 0 is the misc ("other") vector of both drivers
            hwirq = entry | nic.dev_id << 11  # drivers/pci/msi: entry | pci_dev_id << 11 | domain << 27
            name = nic.vector_name(entry)
            smp, eff = _vector_affinity(m, nic, queue, node_cpus, hk_default, first)
            irq_dirs.append((irq, smp, eff, nic.node))
            if queue >= nic.combined:
                descs[irq] = IrqDesc(msi_chip, hwirq, "edge", None, {})
                continue  # allocated, never requested: no action, no count, no row
            if queue < 0:
                counts = {eff[0]: nrng.randint(200, 4000)}
            elif nic.trading and m.tuned:
                counts = {eff[0]: nrng.randint(20_000_000, 90_000_000)}
            else:
                big = (2_000_000, 40_000_000) if nic.trading else (5_000, 400_000)
                counts = {eff[0]: nrng.randint(*big)}
                if not m.tuned:
                    # irqbalance moved it before: counts left on the cores it used earlier.
                    for c in nrng.sample(node_cpus, 3):
                        counts[c] = counts.get(c, 0) + nrng.randint(big[0] // 10, big[1] // 10)
            row(irq, counts, msi_chip, hwirq, "edge", name)
    if m.nvme_drives:
        next_irq = _nvme_irqs(m, f, row, irq_dirs, next_irq, msi_chip, hk_default, nrng)
    for irq, smp, eff, node in irq_dirs:
        d = f"/proc/irq/{irq}"
        f[f"{d}/smp_affinity"] = cpumask(smp, nr)
        f[f"{d}/smp_affinity_list"] = cpulist(smp)
        f[f"{d}/effective_affinity"] = cpumask(eff, nr)
        f[f"{d}/effective_affinity_list"] = cpulist(eff)
        f[f"{d}/node"] = str(node)
        if m.platform_irqs:
            _sys_kernel_irq(f, irq, descs[irq], m.cpus)
    arch_rows = ARCH_ROWS if m.platform_irqs else (
        ("NMI", "Non-maskable interrupts"), ("LOC", "Local timer interrupts"), ("RES", "Rescheduling interrupts"),
        ("CAL", "Function call interrupts"), ("TLB", "TLB shootdowns"), ("ERR", None), ("MIS", None))
    for label, desc in arch_rows:
        if desc is None:
            rows.append(f"{label:>{prec}}: {0:10d}")  # one system-wide count: "%*s: %10u"
            continue
        counts = []
        for c in online:
            quiet = c in m.isolated
            if label == "LOC":
                counts.append(rng.randint(300, 3000) if quiet else rng.randint(5_000_000, 90_000_000))
            elif label == "NMI":
                counts.append(0 if m.tuned else rng.randint(4000, 9000))
            elif label in ("RES", "CAL", "TLB"):
                counts.append(rng.randint(0, 20) if quiet else rng.randint(1000, 900000))
            elif label == "IWI":
                counts.append(rng.randint(0, 5) if quiet else rng.randint(100, 90000))
            elif label == "MCP":
                # mce's poll timer runs on every CPU, isolated or not (every 5 minutes).
                counts.append(rng.randint(8000, 9000))
            else:
                counts.append(0)
        # arch/x86/kernel/irq.c arch_show_interrupts: "%*s: ", "%10u " per CPU, "  desc".
        rows.append(f"{label:>{prec}}: " + "".join(f"{n:10d} " for n in counts) + f"  {desc}")
    f["/proc/interrupts"] = "\n".join(rows)
    f["/proc/softirqs"] = _softirqs(m, nics, nrng)

    # ---- NICs, PCI, IOMMU, vfio ---------------------------------------------------------------------
    for nic in nics:
        _render_nic(m, nic, f, node_of)
    listed = _render_pci(m, nics, f)
    f["/sys/class/net/lo"] = Link("../../devices/virtual/net/lo")
    f["/sys/devices/virtual/net/lo/address"] = "00:00:00:00:00:00"
    f["/sys/devices/virtual/net/lo/mtu"] = "65536"
    f["/sys/devices/virtual/net/lo/operstate"] = "unknown"
    core = {"rps_sock_flow_entries": 0, "busy_read": 50 if m.tuned else 0, "busy_poll": 50 if m.tuned else 0,
            "netdev_budget": 300, "netdev_budget_usecs": 2000, "dev_weight": 64}
    for k, v in core.items():
        f[f"/proc/sys/net/core/{k}"] = str(v)
    _render_irqbalance(m, f)
    # Its own random stream, so the files rendered after it stay as they were.
    time_records = _render_timesync(m, nics, f, random.Random(1000 + m.seed))
    # Firmware traces: the chipset watchdog only where the BIOS leaves it on (tuned: the TCO
    # watchdog off); uncore frequency pinned on the tuned host.
    if not m.tuned:
        f["/sys/class/watchdog/watchdog0"] = Link("../../devices/virtual/watchdog/watchdog0")
        f["/sys/devices/virtual/watchdog/watchdog0/identity"] = "iTCO_wdt"
    for s_ in range(m.sockets):
        u = f"{CPU}/intel_uncore_frequency/package_{s_:02d}_die_00"
        f[f"{u}/initial_min_freq_khz"] = "800000"
        f[f"{u}/initial_max_freq_khz"] = "2400000"
        f[f"{u}/min_freq_khz"] = "2400000" if m.tuned else "800000"
        f[f"{u}/max_freq_khz"] = "2400000"
    dmi = "/sys/class/dmi/id"
    vendor, product = m.vendor
    f[f"{dmi}/sys_vendor"] = vendor
    f[f"{dmi}/product_name"] = product
    f[f"{dmi}/board_vendor"] = vendor
    f[f"{dmi}/bios_vendor"] = vendor
    f[f"{dmi}/bios_version"] = "1.10.2"
    f[f"{dmi}/bios_date"] = "08/29/2023"
    f[f"{dmi}/chassis_vendor"] = vendor
    f[f"{dmi}/product_serial"] = f"SN{m.seed:03d}7Q2K3"
    f[f"{dmi}/product_uuid"] = f"4c4c4544-0051-3210-8039-{m.seed:04d}c04f4d33"

    # ---- metadata and recorded commands -------------------------------------------------------
    f["/hftinfra/meta.json"] = json.dumps({
        "schema": "hftinfra.snapshot", "schema_version": 1, "captured_at": "2024-04-18T14:02:11+00:00",
        "hftinfra_version": "0.1.0", "kernel": m.kernel, "hostname": m.hostname, "virtual_machine": False,
        "virtualization": None, "virtualization_evidence": f"DMI vendor {vendor!r}, no 'hypervisor' flag",
        "fixture": f"hand-built fixture host {m.name} (tests/hosts/build.py)",
        # Every process the model has is in the tree: its /proc listing is the whole list; so
        # are the IOMMU and vfio folders (an empty one, which git cannot keep, is absent).
        "listed": sorted(["/proc", *listed])}, indent=1, sort_keys=True)
    uname = (f"Linux {m.hostname} {m.kernel} {m.kernel_build} x86_64 x86_64 x86_64 GNU/Linux\n")
    f["/hftinfra/commands.json"] = json.dumps({
        "uname -a": {"returncode": 0, "stdout": uname, "stderr": ""},
        "lscpu -J": {"returncode": 0, "stdout": _lscpu_json(m), "stderr": ""},
        **_ethtool_records(m),
        **time_records,
    }, indent=1, sort_keys=True)
    return f


def _lscpu_json(m: Model) -> str:
    online = m.online
    rows = [("Architecture:", "x86_64"), ("CPU op-mode(s):", "32-bit, 64-bit"),
            ("Address sizes:", "46 bits physical, 57 bits virtual"), ("Byte Order:", "Little Endian"),
            ("CPU(s):", str(m.nr)), ("On-line CPU(s) list:", cpulist(online))]
    if m.offline:
        rows.append(("Off-line CPU(s) list:", cpulist(m.offline)))
    fam, model, stepping = m.family_model
    rows += [("Vendor ID:", "GenuineIntel"), ("Model name:", m.model_name), ("CPU family:", str(fam)),
             ("Model:", str(model)), ("Thread(s) per core:", str(m.threads)),
             ("Core(s) per socket:", str(m.cores)), ("Socket(s):", str(m.sockets)),
             ("Stepping:", str(stepping)), ("CPU max MHz:", f"{m.turbo_mhz}.0000"),
             ("CPU min MHz:", "800.0000"), ("BogoMIPS:", f"{m.base_mhz * 2}.00"), ("Flags:", ICX_FLAGS),
             ("Virtualization:", "VT-x"),
             ("L1d cache:", f"{m.l1d_kb * m.cores * m.sockets // 1024} MiB" if m.l1d_kb * m.cores * m.sockets >= 1024
              else f"{m.l1d_kb * m.cores * m.sockets} KiB ({m.cores * m.sockets} instances)"),
             ("NUMA node(s):", str(m.sockets))]
    for n in range(m.sockets):
        rows.append((f"NUMA node{n} CPU(s):", cpulist(c for c in online if m.place(c)[0] == n)))
    body = ",".join(json.dumps({"field": k, "data": v}) for k, v in rows)
    return json.dumps(json.loads('{"lscpu": [' + body + "]}"), indent=3) + "\n"


# ---------------------------------------------------------------------------------------
# Interrupts and NICs

# x86 numbers IRQs 0..gsi_top-1 after the I/O APIC pins; dynamic ones (MSI, DMAR) start
# there (arch/x86/kernel/apic/io_apic.c arch_dynirq_lower_bound). These boards' PCH I/O
# APIC has 120 pins.
GSI_TOP = 120
FIRST_DYNAMIC_IRQ = GSI_TOP


def _irq_prec(m: Model) -> int:
    """kernel/irq/proc.c: the IRQ column is as wide as nr_irqs has digits, at least 3;
    nr_irqs from arch/x86/kernel/apic/vector.c arch_probe_nr_irqs (legacy IRQs, 8 per CPU,
    16 per I/O APIC pin for MSI), capped at 256 vectors per CPU."""
    nr_irqs = min(256 * m.nr, GSI_TOP + 16 + 8 * m.nr + GSI_TOP * 16)
    prec, j = 3, 1000
    while prec < 10 and j <= nr_irqs:
        prec += 1
        j *= 10
    return prec


def _interrupt_row(irq: int, counts: list[int], chip: str, hwirq: int, flow: str, action: str | None,
                   prec: int) -> str:
    """One numbered row as kernel/irq/proc.c show_interrupts prints it on x86 (5.14):
    "%*d: ", "%10u " per online CPU, " %8s" chip, " %*d" hwirq, "-%-8s" flow, "  " action."""
    line = f"{irq:>{prec}d}: " + "".join(f"{n:10d} " for n in counts) + f" {chip:>8s}" + f" {hwirq:>{prec}d}"
    line += f"-{flow:<8s}"
    if action:
        line += f"  {action}"
    return line


# arch/x86/kernel/irq.c arch_show_interrupts on a 5.14 bare-metal kernel built as RHEL's
# is: every row it prints there, in its order (DFR with CONFIG_X86_MCE_AMD, which a
# distribution kernel sets on Intel too; PIN NPI PIW with KVM; HYP only under a
# hypervisor, PLT only with a platform IPI handler). None: one system-wide count.
ARCH_ROWS = (
    ("NMI", "Non-maskable interrupts"), ("LOC", "Local timer interrupts"), ("SPU", "Spurious interrupts"),
    ("PMI", "Performance monitoring interrupts"), ("IWI", "IRQ work interrupts"),
    ("RTR", "APIC ICR read retries"), ("RES", "Rescheduling interrupts"), ("CAL", "Function call interrupts"),
    ("TLB", "TLB shootdowns"), ("TRM", "Thermal event interrupts"), ("THR", "Threshold APIC interrupts"),
    ("DFR", "Deferred Error APIC interrupts"), ("MCE", "Machine check exceptions"),
    ("MCP", "Machine check polls"), ("ERR", None), ("MIS", None),
    ("PIN", "Posted-interrupt notification event"), ("NPI", "Nested posted-interrupt event"),
    ("PIW", "Posted-interrupt wakeup event"))


@dataclass
class IrqDesc:
    """What the kernel keeps of one IRQ descriptor, as /proc/interrupts and /sys/kernel/irq show it."""

    chip: str
    hwirq: int
    flow: str  # the flow handler's name: edge, fasteoi
    actions: str | None  # joined with ", " as /proc/interrupts prints them
    counts: dict[int, int]


def _sys_kernel_irq(f: dict, irq: int, desc: IrqDesc, possible) -> None:
    """kernel/irq/irqdesc.c (Documentation/ABI/testing/sysfs-kernel-irq): the chip's name,
    hwirq, the flow handler's name, level or edge, the actions joined by "," (nothing at
    all when there is none), one count per possible CPU joined by ",", the wakeup state."""
    d = f"/sys/kernel/irq/{irq}"
    f[f"{d}/chip_name"] = desc.chip
    f[f"{d}/hwirq"] = str(desc.hwirq)
    f[f"{d}/name"] = desc.flow
    f[f"{d}/type"] = "edge" if desc.flow == "edge" else "level"
    f[f"{d}/actions"] = ",".join(desc.actions.split(", ")) if desc.actions else b""
    f[f"{d}/per_cpu_count"] = ",".join(str(desc.counts.get(c, 0)) for c in possible)
    f[f"{d}/wakeup"] = "disabled"


def _dev_id(address: str) -> int:
    """pci_dev_id(): bus << 8 | devfn."""
    _dom, bus, devfn = address.split(":")
    dev, fn = devfn.split(".")
    return int(bus, 16) << 8 | int(dev, 16) << 3 | int(fn)


def _bus_node(m: Model, address: str) -> int:
    """These boards give each socket an equal share of the 256 bus numbers, socket 0 first
    (the chipset's bus 0 among them)."""
    return min(int(address.split(":")[1], 16) * m.sockets // 256, m.sockets - 1)


def _pci_dir(*chain: str) -> str:
    """sysfs folder of a PCI function: its host bridge, then every bridge above it."""
    return f"/sys/devices/pci0000:{chain[0].split(':')[1]}/" + "/".join(chain)


# Root ports and chipset devices of the generated servers besides the NICs' slots: two
# chipset root ports (the BMC's video and a spare M.2 slot), one root port per socket
# for the NVMe backplane's PCIe switch, and the chipset's USB, SATA and ME functions.
_PCH_PORTS = ("0000:00:1c.0", "0000:00:1c.4")
_NVME_UPLINKS = ("0000:16:02.0", "0000:96:02.0")
_PCH_DEVICES = (("0000:00:14.0", "xhci_hcd"), ("0000:00:17.0", "ahci[0000:00:17.0]"), ("0000:00:16.0", "mei_me"))


def _platform_irqs(m: Model, nics: list, f: dict, row, irq_dirs: list, next_irq: int, chip: str,
                   hk_default: list[int], rng: random.Random) -> int:
    """The interrupts that exist before any NIC or NVMe driver loads. drivers/pci/pcie/
    portdrv gives a root port one MSI shared by its services: 'PCIe PME' (pme.c) and
    'aerdrv' (aer.c), requested in that order. Then xhci_hcd, ahci and mei_me on the
    chipset. None of these is managed: each keeps the default affinity and the vector
    allocator puts it on one housekeeping CPU of its node."""
    ports = list(dict.fromkeys([*(n.root_port for n in nics), *_PCH_PORTS,
                                *(_NVME_UPLINKS[:m.sockets] if m.nvme_drives else ())]))
    devices = [(_pci_dir(p), p, "PCIe PME, aerdrv") for p in ports]
    devices += [(_pci_dir(a), a, name) for a, name in _PCH_DEVICES]
    local = {n: [c for c in m.housekeeping if m.place(c)[0] == n] for n in range(m.sockets)}
    for i, (path, address, action) in enumerate(devices):
        node = _bus_node(m, address)
        cpu = local[node][i % len(local[node])]
        # Port services fire only on an error or a power event; none happened.
        counts = {} if action.startswith("PCIe") else {cpu: rng.randint(20, 90_000)}
        row(next_irq, counts, chip, _dev_id(address) << 11, "edge", action)
        irq_dirs.append((next_irq, hk_default, [cpu], node))
        f[f"{path}/msi_irqs/{next_irq}"] = "msi"
        f[f"{path}/numa_node"] = str(node)
        next_irq += 1
    return next_irq


def _managed_groups(m: Model, count: int) -> list[list[int]]:
    """kernel/irq/affinity.c (5.14) for ``count`` managed vectors over every possible CPU:
    the vectors shared out over the nodes in proportion to their CPUs, node 0 first; within
    a node, CPUs taken in order, each followed by its SMT siblings, an equal number per
    vector (the first vectors take one more when they do not divide evenly)."""
    groups: list[list[int]] = []
    per_node = [count * len(m.socket_cpus(n)) // m.nr for n in range(m.sockets)]
    per_node[0] += count - sum(per_node)
    for node, nvec in enumerate(per_node):
        left = sorted(m.socket_cpus(node))
        taken: set[int] = set()
        order = []
        for c in left:
            if c in taken:
                continue
            for x in [c, *(s for s in m.siblings(c) if s != c)]:
                if x not in taken:
                    taken.add(x)
                    order.append(x)
        size, extra = divmod(len(order), nvec)
        at = 0
        for v in range(nvec):
            n = size + (1 if v < extra else 0)
            groups.append(order[at:at + n])
            at += n
    return groups


def _nvme_irqs(m: Model, f: dict, row, irq_dirs: list, next_irq: int, chip: str, hk_default: list[int],
               rng: random.Random) -> int:
    """NVMe drives, half behind each socket's PCIe switch. drivers/nvme/host/pci.c asks for
    an admin vector plus one per I/O queue with pre_vectors = 1: the admin vector
    'nvme<N>q0' keeps the default affinity; the I/O vectors 'nvme<N>q<Q>' are managed,
    spread over every possible CPU (:func:`_managed_groups`). isolcpus=managed_irq makes the
    kernel target a housekeeping CPU of a group when the group has one
    (kernel/irq/manage.c irq_do_set_affinity), else the group's first CPU: the queues of
    isolated cores keep vectors there, quiet while nothing submits I/O from those CPUs."""
    groups = _managed_groups(m, m.nvme_io_queues)
    hk = set(m.housekeeping)
    local = {n: [c for c in m.housekeeping if m.place(c)[0] == n] for n in range(m.sockets)}
    per_socket = -(-m.nvme_drives // m.sockets)
    for k in range(m.nvme_drives):
        socket, slot = divmod(k, per_socket)
        uplink = _NVME_UPLINKS[socket]
        bus = int(uplink.split(":")[1], 16)
        upstream = f"0000:{bus + 1:02x}:00.0"
        downstream = f"0000:{bus + 2:02x}:{slot:02x}.0"
        address = f"0000:{bus + 3 + slot:02x}:00.0"
        path = _pci_dir(uplink, upstream, downstream, address)
        node = _bus_node(m, address)
        f[f"{path}/vendor"] = "0x144d"  # Samsung PM1733
        f[f"{path}/device"] = "0xa824"
        f[f"{path}/class"] = "0x010802"
        f[f"{path}/numa_node"] = str(node)
        for q in range(1 + m.nvme_io_queues):
            irq = next_irq + q
            hwirq = q | _dev_id(address) << 11
            if q == 0:
                cpu = local[node][k % len(local[node])]
                smp, eff, counts = hk_default, [cpu], {cpu: rng.randint(50, 400)}
            else:
                smp = sorted(groups[q - 1])
                eff = [next((c for c in smp if c in hk), smp[0])]
                counts = {eff[0]: rng.randint(100_000, 9_000_000)} if eff[0] in hk else {}
            row(irq, counts, chip, hwirq, "edge", f"nvme{k}q{q}")
            irq_dirs.append((irq, smp, eff, node))
            f[f"{path}/msi_irqs/{irq}"] = "msix"
        next_irq += 1 + m.nvme_io_queues
    return next_irq


@dataclass
class Nic:
    """A PCI network function and its driver's view of it."""

    name: str
    driver: str  # ice | igb | mlx5_core
    address: str  # PCI function
    root_port: str  # the PCIe root port above it
    node: int
    device_id: str
    mac: str
    speed_mbps: int
    pcie: tuple[str, int]  # link speed and width, current = max
    max_combined: int
    combined: int
    trading: bool
    firmware: str
    subsystem: str
    phc: int
    first_irq: int = 0
    vendor_id: str = "0x8086"

    @property
    def dev_id(self) -> int:
        """pci_dev_id(): bus << 8 | devfn."""
        _dom, bus, devfn = self.address.split(":")
        dev, fn = devfn.split(".")
        return int(bus, 16) << 8 | int(dev, 16) << 3 | int(fn)

    @property
    def vectors(self) -> int:
        """MSI-X vectors the driver allocates: one misc vector plus one per queue pair it
        could run. ice sizes that by the online CPUs at probe (ice_ena_msix_range) and keeps
        it when ethtool -L lowers the channels; igb by its queues; mlx5_core by the function's
        MSI-X table (one async vector, the rest completion vectors). ice's flow-director and
        RDMA vectors are not modelled."""
        return 1 + self.max_combined

    def vector_name(self, entry: int) -> str | None:
        queue = entry - 1
        if queue >= self.combined:
            return None
        if self.driver == "ice":
            # ice_main.c: misc "<driver>-<pci device>:misc"; queue vectors
            # "<driver>-<netdev>-TxRx-<n>" (ice_vsi_req_irq_msix).
            return f"ice-{self.address}:misc" if queue < 0 else f"ice-{self.name}-TxRx-{queue}"
        if self.driver == "mlx5_core":
            # mlx5 pci_irq.c: "mlx5_async0" for vector 0, "mlx5_comp<n>" for vector n + 1,
            # each with "@pci:<function>" appended.
            kind = "async0" if queue < 0 else f"comp{queue}"
            return f"mlx5_{kind}@pci:{self.address}"
        # igb_main.c igb_request_msix: the "other" vector takes the netdev's name.
        return self.name if queue < 0 else f"{self.name}-TxRx-{queue}"


def _nics(m: Model) -> list[Nic]:
    out = []
    online = len(m.online)
    phcs = 0  # PTP clocks registered so far: /dev/ptpN numbers in probe order
    if m.nic_node is not None:
        # E810-XXVDA2: PCIe 4.0 x8, two 25G SFP28 ports; port 0 owns the PTP clock and the
        # other port reports the same one.
        max_q = min(online, 256)
        function = m.nic_pci[1].rsplit(".", 1)[0]
        for port in range(m.ice_ports):
            out.append(Nic(f"ens1f{port}", "ice", f"{function}.{port}", m.nic_pci[0], m.nic_node, "0x159b",
                           f"b4:96:91:a7:3c:{0x10 + port:02x}", 25000, ("16.0 GT/s PCIe", 8), max_q,
                           m.ice_combined if m.tuned else max_q, True, "4.40 0x8001c967 1.3534.0", "0x0003", phcs))
        phcs += 1
    if m.mlx5_port:
        # ConnectX-6 Dx (mlx5_core), one 100G port of the capture network on node 0: its
        # MSI-X table holds 64 vectors, so 63 completion vectors and 63 channels.
        out.append(Nic("ens3f0np0", "mlx5_core", "0000:3b:00.0", "0000:3a:02.0", 0, "0x101d", "b8:ce:f6:4e:21:7a",
                       100000, ("16.0 GT/s PCIe", 16), 63, 63, False, "22.36.1010 (MT_0000000359)", "0x0016",
                       phcs, vendor_id="0x15b3"))
        phcs += 1
    if m.mgmt_nic:
        # I350 on the board (igb): at most 8 RSS queues; PCIe 2.1 x4; a PTP clock per port.
        q = min(online, 8)
        for port in range(m.mgmt_ports):
            out.append(Nic(f"eno{port + 1}", "igb", f"0000:04:00.{port}", "0000:00:1c.5", 0, "0x1521",
                           f"f4:02:70:b8:11:{0xe0 + port:02x}", 1000, ("5.0 GT/s PCIe", 4), q, q, False,
                           "1.63, 0x80000dda", "0x1f9a", phcs))
            phcs += 1
    return out


def _vector_affinity(m: Model, nic: Nic, queue: int, node_cpus: list[int], hk_default: list[int],
                     first: int) -> tuple[list[int], list[int]]:
    """smp_affinity and effective affinity of one MSI-X vector."""
    if queue >= nic.combined:
        # Allocated but never started: the default affinity; the vector is only reserved
        # (PCI/MSI reservation mode, kernel/irq/msi.c msi_check_reservation_mode, with or
        # without interrupt remapping), parked on the first online CPU (apic/vector.c
        # vector_assign_managed_shutdown).
        return hk_default, [first]
    if m.tuned:
        local_hk = [c for c in m.housekeeping if c in node_cpus]
        if nic.trading:
            # Pinned by the host's tuning script to the NIC node's housekeeping core.
            cpu = local_hk[-1] if queue < 0 else local_hk[queue % len(local_hk)]
            return [cpu], [cpu]
        # Left at irqaffinity=; the vector matrix spreads them over the node's CPUs.
        return hk_default, [local_hk[(queue + 1) % len(local_hk)]]
    # irqbalance, NUMA-aware: a queue vector goes to one core of the device's node (both
    # threads in the mask, the interrupt on one); the misc vector to the whole node.
    if queue < 0:
        return node_cpus, node_cpus[:1]
    cores = sorted({min(m.siblings(c)) for c in node_cpus})
    core = cores[queue % len(cores)]
    threads = [c for c in m.siblings(core) if c in node_cpus]
    return threads, [threads[(queue // len(cores)) % len(threads)]]


SOFTIRQ_NAMES = ("HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU")


def _softirqs(m: Model, nics: list[Nic], rng: random.Random) -> str:
    """fs/proc/softirqs.c: 20 spaces, "CPU%-8d" per possible CPU; "%12s:" and " %10u"."""
    rx_cpus: set[int] = set()  # where the trading NIC's queue interrupts run
    mgmt_cpus: set[int] = set()
    for nic in nics:
        node_cpus = [c for c in m.online if c in set(m.socket_cpus(nic.node))]
        for q in range(nic.combined):
            (rx_cpus if nic.trading else mgmt_cpus).update(_vector_affinity(m, nic, q, node_cpus, [], 0)[1])
    lines = [" " * 20 + "".join(f"CPU{c:<8d}" for c in m.cpus)]
    for name in SOFTIRQ_NAMES:
        counts = []
        for c in m.cpus:
            if c in m.offline:
                # Counters stop when a CPU goes offline; they keep what it took before.
                counts.append(rng.randint(0, 300) if name in ("TIMER", "SCHED", "RCU") else 0)
                continue
            quiet = c in m.isolated
            if name == "NET_RX":
                n = rng.randint(40_000_000, 400_000_000) if c in rx_cpus else (
                    0 if quiet else rng.randint(90_000, 900_000) if c in mgmt_cpus else rng.randint(500, 90_000))
            elif name == "NET_TX":
                n = rng.randint(20_000, 900_000) if c in rx_cpus else (0 if quiet else rng.randint(0, 3000))
            elif name == "TIMER":
                n = rng.randint(40, 400) if quiet else rng.randint(1_000_000, 9_000_000)
            elif name == "SCHED":
                n = rng.randint(10, 120) if quiet else rng.randint(800_000, 9_000_000)
            elif name == "RCU":
                n = rng.randint(0, 20) if quiet else rng.randint(900_000, 7_000_000)
            elif name == "HRTIMER":
                n = 0 if quiet else rng.randint(0, 900)
            elif name == "BLOCK":
                n = 0 if quiet else rng.randint(0, 400_000)
            elif name == "TASKLET":
                n = 0 if quiet else rng.randint(0, 3000)
            elif name == "HI":
                n = 0 if quiet else rng.randint(0, 40)
            else:
                n = 0
            counts.append(n)
        lines.append(f"{name:>12s}:" + "".join(f" {n:10d}" for n in counts))
    return "\n".join(lines)


def _render_nic(m: Model, nic: Nic, f: dict, node_of: dict[int, int]) -> None:
    nr = m.nr
    pci = _pci_dir(nic.root_port, nic.address)
    f[f"/sys/class/net/{nic.name}"] = _sysfs_link(f"/sys/class/net/{nic.name}", f"{pci}/net/{nic.name}")
    _pci_function_files(m, f, pci, nic.node, nic.vendor_id, nic.device_id, nic.subsystem, nic.pcie)
    for entry in range(nic.vectors):
        f[f"{pci}/msi_irqs/{nic.first_irq + entry}"] = "msix"
    n = f"{pci}/net/{nic.name}"
    f[f"{n}/device"] = _sysfs_link(f"{n}/device", pci)
    for name, value in (("address", nic.mac), ("mtu", "1500"), ("operstate", "up"), ("carrier", "1"),
                        ("speed", str(nic.speed_mbps)), ("duplex", "full"), ("tx_queue_len", "1000")):
        f[f"{n}/{name}"] = value
    # net-sysfs.c prints rps_cpus, xps_cpus ("%*pb", nr_cpu_ids bits) and xps_rxqs
    # (num_rx_queues bits); the queue folders are the real (in use) queues.
    node_cpus = [c for c in m.online if node_of[c] == nic.node]
    for q in range(nic.combined):
        f[f"{n}/queues/rx-{q}/rps_cpus"] = cpumask((), nr)
        f[f"{n}/queues/rx-{q}/rps_flow_cnt"] = "0"
        if nic.driver == "ice":
            # ice sets each tx queue's XPS map to its vector's CPUs (ice_cfg_xps_tx_ring):
            # cpumask_local_spread at open; the tuned host rewrites it to the pinned CPU.
            if m.tuned:
                # ... and gives each isolated CPU of the NIC's node a queue of its own to send on.
                iso = sorted(c for c in node_cpus if c in m.isolated)
                xps = sorted({*_vector_affinity(m, nic, q, node_cpus, [], 0)[1],
                              *(c for i, c in enumerate(iso) if i % nic.combined == q)})
            else:
                xps = [_local_spread(m, q, nic.node)]
        elif nic.driver == "mlx5_core":
            # mlx5e sets each channel's XPS map to the CPU its completion vector targets.
            xps = _vector_affinity(m, nic, q, node_cpus, [], 0)[1]
        else:
            xps = []
        f[f"{n}/queues/tx-{q}/xps_cpus"] = cpumask(xps, nr)
        f[f"{n}/queues/tx-{q}/xps_rxqs"] = cpumask((), nic.max_combined)
        f[f"{n}/queues/tx-{q}/tx_maxrate"] = "0"


def _sysfs_link(link: str, target: str) -> Link:
    """The relative target sysfs writes for a link (fs/kernfs/symlink.c
    kernfs_get_target_path): up from the link's folder to the first ancestor of the
    target's parent, then down to the target."""
    here = posixpath.dirname(link).strip("/").split("/")
    there = target.strip("/").split("/")
    up = 0
    while not (here == there[:len(here)] and len(here) < len(there)):
        here.pop()
        up += 1
    return Link("../" * up + "/".join(there[len(here):]))


VFIO_PARAMS = "/sys/module/vfio/parameters"
# PCI drivers that RHEL 9 builds as modules: their driver folder links to the module
# (drivers/base/module.c module_add_driver). pcieport is built in.
_DRIVER_MODULES = {"ice": "ice", "igb": "igb", "mlx5_core": "mlx5_core", "vfio-pci": "vfio_pci"}
# The E810 of these boards: Intel's vendor and device ids, the subsystem of its OEM card.
E810 = ("0x8086", "0x159b", "0x0003")
# arch/x86 IOAPIC_RANGE_START..END: reserved as MSI space in every group behind a VT-d unit
# (drivers/iommu/intel/iommu.c intel_iommu_get_resv_regions, IOMMU_RESV_MSI).
IOAPIC_MSI_REGION = (0xFEE00000, 0xFEEFFFFF)


def _pci_function_files(m: Model, f: dict, pci: str, node: int, vendor: str, device: str, subsystem: str,
                        pcie: tuple[str, int]) -> None:
    local = [c for c in m.cpus if m.place(c)[0] == node]
    f[f"{pci}/numa_node"] = str(node)
    f[f"{pci}/local_cpulist"] = cpulist(local)
    f[f"{pci}/local_cpus"] = cpumask(local, m.nr)
    f[f"{pci}/vendor"] = vendor
    f[f"{pci}/device"] = device
    f[f"{pci}/subsystem_vendor"] = vendor
    f[f"{pci}/subsystem_device"] = subsystem
    f[f"{pci}/class"] = "0x020000"
    speed, width = pcie
    for kind in ("current", "max"):
        f[f"{pci}/{kind}_link_speed"] = speed
        f[f"{pci}/{kind}_link_width"] = str(width)


def _vfio_functions(m: Model, nics: list[Nic]) -> list[tuple[str, str, int]]:
    """(function, root port, node) of each E810 port bound to vfio-pci. Bound to vfio-pci
    and not opened, a function has no netdev, and no MSI-X enabled: no msi_irqs folder and
    no vector in /proc/interrupts (vfio-pci requests interrupts only when the user sets them,
    VFIO_DEVICE_SET_IRQS)."""
    if m.nic_node is None or not m.vfio_ports:
        return []
    function = m.nic_pci[1].rsplit(".", 1)[0]
    kernel = {n.address for n in nics}
    out = [(f"{function}.{port}", m.nic_pci[0], m.nic_node) for port in m.vfio_ports]
    if kernel & {a for a, _, _ in out}:
        raise ValueError(f"{m.name}: a port cannot be bound to ice and vfio-pci at once")
    return out


def _dmar_unit(m: Model, root_port: str) -> int:
    """The VT-d unit in front of a root port: two per socket here, dmar(2s) for the socket's
    first I/O stack (the chipset's, on socket 0), dmar(2s+1) for its other stacks."""
    bus = int(root_port.split(":")[1], 16)
    socket = _bus_node(m, root_port)
    return 2 * socket + (0 if bus == socket * 256 // m.sockets else 1)


def _render_pci(m: Model, nics: list[Nic], f: dict) -> list[str]:
    """Driver folders and their links, /sys/bus/pci/devices, the vfio-bound functions, and,
    with DMA remapping on, the VT-d units and IOMMU groups of the PCI functions the model has
    (its NICs' functions and their root ports). Returns the folders listed whole."""
    listed: list[str] = []
    bound = [(_pci_dir(n.root_port, n.address), n.address, n.driver) for n in nics]
    vfio = _vfio_functions(m, nics)
    for address, root_port, node in vfio:
        pci = _pci_dir(root_port, address)
        _pci_function_files(m, f, pci, node, *E810, ("16.0 GT/s PCIe", 8))
        bound.append((pci, address, "vfio-pci"))
    for pci, address, driver in bound:
        # drivers/base/dd.c driver_sysfs_add: the device's "driver" link and, in the
        # driver's folder, a link named after the device back to it.
        drv = f"/sys/bus/pci/drivers/{driver}"
        f[f"{pci}/driver"] = _sysfs_link(f"{pci}/driver", drv)
        f[f"{drv}/{address}"] = _sysfs_link(f"{drv}/{address}", pci)
        if driver in _DRIVER_MODULES:
            module = f"/sys/module/{_DRIVER_MODULES[driver]}"
            f[f"{drv}/module"] = _sysfs_link(f"{drv}/module", module)
            f[f"{module}/drivers/pci:{driver}"] = _sysfs_link(f"{module}/drivers/pci:{driver}", drv)
    # (address, folder, root port) of every PCI function modelled: the functions and their
    # root ports, in bus order.
    devices = sorted({(a, p, p.split("/")[4]) for p, a, _ in bound}
                     | {(r, _pci_dir(r), r) for r in {p.split("/")[4] for p, _, _ in bound}},
                     key=lambda d: _dev_id(d[0]))
    for address, pci, _root in devices:
        f[f"/sys/bus/pci/devices/{address}"] = _sysfs_link(f"/sys/bus/pci/devices/{address}", pci)
    if vfio:
        # vfio's container node and one node per group a vfio driver holds
        # (drivers/vfio/container.c, group.c), recorded by name: a snapshot holds no device
        # file, and a path only known to exist is an empty file.
        f["/dev/vfio/vfio"] = b""
        f[f"{VFIO_PARAMS}/enable_unsafe_noiommu_mode"] = "N"
        listed += ["/dev/vfio", "/sys/bus/pci/drivers/vfio-pci"]
    listed += ["/sys/class/iommu", "/sys/kernel/iommu_groups"]
    if not m.dma_remapping:
        # /sys/class/iommu and /sys/kernel/iommu_groups exist and are empty
        # (iommu-sysfs.c, iommu.c iommu_init): listed, and absent from the tree, as git
        # keeps no empty folder.
        return listed
    for unit in range(2 * m.sockets):
        f[f"/sys/class/iommu/dmar{unit}"] = _sysfs_link(f"/sys/class/iommu/dmar{unit}",
                                                        f"/sys/devices/virtual/iommu/dmar{unit}")
        f[f"/sys/devices/virtual/iommu/dmar{unit}/intel-iommu/version"] = "1:0"
    # drivers/iommu/iommu.c: groups numbered as devices are added, in PCI bus order here;
    # every function here has ACS between it and the others (Xeon root ports, the E810's
    # functions), so each is a group of its own.
    vfio_bound = {a for a, _, _ in vfio}
    for group, (address, pci, root) in enumerate(devices):
        base = f"/sys/kernel/iommu_groups/{group}"
        f[f"{base}/devices/{address}"] = _sysfs_link(f"{base}/devices/{address}", pci)
        # iommu_group_show_type: the default domain; iommu=pt makes it identity, otherwise
        # translated with lazy invalidation (CONFIG_IOMMU_DEFAULT_DMA_LAZY).
        f[f"{base}/type"] = "identity" if m.passthrough else "DMA-FQ"
        lo, hi = IOAPIC_MSI_REGION
        f[f"{base}/reserved_regions"] = f"0x{lo:016x} 0x{hi:016x} msi"
        f[f"{pci}/iommu_group"] = _sysfs_link(f"{pci}/iommu_group", base)
        # iommu-sysfs.c iommu_device_link: the unit lists the device, the device links the unit.
        unit = f"/sys/devices/virtual/iommu/dmar{_dmar_unit(m, root)}"
        f[f"{unit}/devices/{address}"] = _sysfs_link(f"{unit}/devices/{address}", pci)
        f[f"{pci}/iommu"] = _sysfs_link(f"{pci}/iommu", unit)
        listed += [base, f"{base}/devices"]
        if address in vfio_bound:
            f[f"/dev/vfio/{group}"] = b""
    return listed


def _local_spread(m: Model, i: int, node: int) -> int:
    """lib/cpumask.c cpumask_local_spread: the node's online CPUs first, then the others."""
    order = [c for c in m.online if m.place(c)[0] == node] + [c for c in m.online if m.place(c)[0] != node]
    return order[i % len(order)]


def _render_irqbalance(m: Model, f: dict) -> None:
    """RHEL's irqbalance.service reads /etc/sysconfig/irqbalance as its EnvironmentFile and
    runs "irqbalance --foreground $IRQBALANCE_ARGS". tuned-2s: the service is disabled (the
    NIC's interrupts are pinned by hand) and the file bans the isolated CPUs should it ever
    start. untuned-2s: the distribution's file, nothing set, the daemon running; irqbalance
    1.8+ leaves isolated and nohz_full CPUs alone by itself, and this host has none."""
    if m.sockets < 2:
        return
    text = ["# Environment for irqbalance.service (irqbalance(1)).",
            "# IRQBALANCE_BANNED_CPULIST: CPUs that get no interrupts when irqbalance rebalances.",
            "# IRQBALANCE_ARGS: extra arguments for the daemon."]
    if m.tuned:
        text += [f"IRQBALANCE_BANNED_CPULIST={cpulist(m.isolated)}", "#IRQBALANCE_ARGS="]
    else:
        text += ["#IRQBALANCE_BANNED_CPULIST=", "#IRQBALANCE_ARGS="]
    f["/etc/sysconfig/irqbalance"] = "\n".join(text)
    if m.tuned:
        return
    pid = 1187
    d = f"/proc/{pid}"
    f[f"{d}/comm"] = "irqbalance"
    f[f"{d}/cmdline"] = b"/usr/sbin/irqbalance\0--foreground\0"
    f[f"{d}/environ"] = (b"LANG=C.UTF-8\0PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\0"
                         b"INVOCATION_ID=5d0c1f8e6b4a4f0f9b3e2a7c1d8e9f60\0JOURNAL_STREAM=8:24719\0"
                         b"SYSTEMD_EXEC_PID=1187\0")
    f[f"{d}/status"] = "\n".join([
        "Name:\tirqbalance", "Umask:\t0022", "State:\tS (sleeping)", f"Tgid:\t{pid}", "Ngid:\t0", f"Pid:\t{pid}",
        "PPid:\t1", "TracerPid:\t0", "Uid:\t0\t0\t0\t0", "Gid:\t0\t0\t0\t0", "FDSize:\t64", "Groups:\t",
        f"NStgid:\t{pid}", f"NSpid:\t{pid}", f"NSpgid:\t{pid}", f"NSsid:\t{pid}", "VmPeak:\t  100508 kB",
        "VmSize:\t   83968 kB", "VmRSS:\t    4416 kB", "Threads:\t2", "SigQ:\t0/1030397",
        f"Cpus_allowed:\t{cpumask(m.cpus, m.nr)}", f"Cpus_allowed_list:\t{cpulist(m.cpus)}",
        f"Mems_allowed:\t{','.join(['00000000'] * 31)},{(1 << m.sockets) - 1:08x}",
        f"Mems_allowed_list:\t{cpulist(range(m.sockets))}",
        "voluntary_ctxt_switches:\t86412", "nonvoluntary_ctxt_switches:\t31"])


# ethtool 6.2 (RHEL 9.3), netlink text layouts: netlink/settings.c, channels.c, rings.c,
# coalesce.c, features.c, pause.c, tsinfo.c; -i is dump_drvinfo in ethtool.c.

def _modes_block(label: str, modes: list[str]) -> list[str]:
    """dump_link_modes: one mode a line under the first, except a Full mode right after
    its Half sibling, which shares the line."""
    if not modes:
        return [f"\t{label}Not reported"]
    lines, pad = [f"\t{label}{modes[0]}"], " " * len(label)
    for prev, mode in zip(modes, modes[1:], strict=False):
        if prev.endswith("/Half") and mode == prev[:-5] + "/Full":
            lines[-1] += f" {mode}"
        else:
            lines.append(f"\t{pad}{mode}")
    return lines


def _ethtool_settings(nic: Nic) -> str:
    if nic.driver == "ice":
        modes = ["25000baseCR/Full", "25000baseSR/Full", "25000baseLR/Full", "10000baseSR/Full",
                 "10000baseLR/Full", "1000baseX/Full"]
        out = [f"Settings for {nic.name}:", "\tSupported ports: [ FIBRE ]", *_modes_block("Supported link modes:   ", modes),
               "\tSupported pause frame use: Symmetric", "\tSupports auto-negotiation: No",
               "\tSupported FEC modes: None\t RS\t BASER", *_modes_block("Advertised link modes:  ", modes[:3]),
               "\tAdvertised pause frame use: No", "\tAdvertised auto-negotiation: No",
               "\tAdvertised FEC modes: RS", f"\tSpeed: {nic.speed_mbps}Mb/s", "\tDuplex: Full",
               "\tAuto-negotiation: off", "\tPort: FIBRE", "\tPHYAD: 0", "\tTransceiver: internal",
               "\tSupports Wake-on: d", "\tWake-on: d",
               "        Current message level: 0x00000007 (7)", "                               drv probe link",
               "\tLink detected: yes"]
    elif nic.driver == "mlx5_core":
        modes = ["25000baseCR/Full", "25000baseKR/Full", "25000baseSR/Full", "50000baseCR2/Full",
                 "50000baseKR2/Full", "50000baseSR2/Full", "100000baseKR4/Full", "100000baseSR4/Full",
                 "100000baseCR4/Full", "100000baseLR4_ER4/Full"]
        out = [f"Settings for {nic.name}:", "\tSupported ports: [ Backplane ]",
               *_modes_block("Supported link modes:   ", modes), "\tSupported pause frame use: Symmetric",
               "\tSupports auto-negotiation: Yes", "\tSupported FEC modes: None\t RS\t BASER",
               *_modes_block("Advertised link modes:  ", modes), "\tAdvertised pause frame use: No",
               "\tAdvertised auto-negotiation: Yes", "\tAdvertised FEC modes: RS",
               f"\tSpeed: {nic.speed_mbps}Mb/s", "\tDuplex: Full", "\tAuto-negotiation: on",
               "\tPort: Direct Attach Copper", "\tPHYAD: 0", "\tTransceiver: internal",
               "\tSupports Wake-on: d", "\tWake-on: d",
               "        Current message level: 0x00000004 (4)", "                               link",
               "\tLink detected: yes"]
    else:
        modes = ["10baseT/Half", "10baseT/Full", "100baseT/Half", "100baseT/Full", "1000baseT/Full"]
        out = [f"Settings for {nic.name}:", "\tSupported ports: [ TP ]", *_modes_block("Supported link modes:   ", modes),
               "\tSupported pause frame use: Symmetric", "\tSupports auto-negotiation: Yes",
               "\tSupported FEC modes: Not reported", *_modes_block("Advertised link modes:  ", modes),
               "\tAdvertised pause frame use: Symmetric", "\tAdvertised auto-negotiation: Yes",
               "\tAdvertised FEC modes: Not reported", f"\tSpeed: {nic.speed_mbps}Mb/s", "\tDuplex: Full",
               "\tAuto-negotiation: on", "\tPort: Twisted Pair", "\tPHYAD: 1", "\tTransceiver: internal",
               "\tMDI-X: off (auto)", "\tSupports Wake-on: pumbg", "\tWake-on: g",
               "        Current message level: 0x00000007 (7)", "                               drv probe link",
               "\tLink detected: yes"]
    return "\n".join(out) + "\n"


def _ethtool_driver(m: Model, nic: Nic) -> str:
    # In-tree drivers report the kernel release as their version.
    return "\n".join([f"driver: {nic.driver}", f"version: {m.kernel}", f"firmware-version: {nic.firmware}",
                      "expansion-rom-version: ", f"bus-info: {nic.address}", "supports-statistics: yes",
                      "supports-test: yes", "supports-eeprom-access: yes",
                      # mlx5_core has no get_regs.
                      f"supports-register-dump: {'no' if nic.driver == 'mlx5_core' else 'yes'}",
                      "supports-priv-flags: yes"]) + "\n"


def _ethtool_channels(nic: Nic) -> str:
    # ice reports separate rx/tx maximums (its queue counts) and one "other" (misc) vector;
    # igb only combined channels, with one "other".
    if nic.driver == "ice":
        maxima, current = (nic.max_combined, nic.max_combined, 1, nic.max_combined), (0, 0, 1, nic.combined)
    elif nic.driver == "mlx5_core":
        # mlx5e reports combined channels only; the async vector is no channel.
        maxima, current = ("n/a", "n/a", "n/a", nic.max_combined), ("n/a", "n/a", "n/a", nic.combined)
    else:
        maxima, current = ("n/a", "n/a", 1, nic.max_combined), ("n/a", "n/a", 1, nic.combined)
    labels = ("RX:\t\t", "TX:\t\t", "Other:\t\t", "Combined:\t")
    return (f"Channel parameters for {nic.name}:\nPre-set maximums:\n"
            + "".join(f"{lab}{v}\n" for lab, v in zip(labels, maxima, strict=True))
            + "Current hardware settings:\n"
            + "".join(f"{lab}{v}\n" for lab, v in zip(labels, current, strict=True)))


def _ethtool_rings(nic: Nic) -> str:
    top, now = {"ice": (8160, 2048), "mlx5_core": (8192, 1024)}.get(nic.driver, (4096, 256))
    return (f"Ring parameters for {nic.name}:\nPre-set maximums:\nRX:\t\t{top}\nRX Mini:\tn/a\nRX Jumbo:\tn/a\n"
            f"TX:\t\t{top}\nCurrent hardware settings:\nRX:\t\t{now}\nRX Mini:\tn/a\nRX Jumbo:\tn/a\n"
            f"TX:\t\t{now}\nRX Buf Len:\t\tn/a\nCQE Size:\t\tn/a\nTX Push:\toff\nTCP data split:\tn/a\n")


def _ethtool_coalesce(m: Model, nic: Nic) -> str:
    if nic.driver == "ice":
        # ice: adaptive ITR on, 50 us (ICE_ITR_20K) by default; the tuned host turns it off,
        # rx-usecs 0 (an interrupt per packet), tx-usecs 16. tx-frames-irq is its work limit.
        adaptive = "off" if m.tuned else "on"
        rx, tx = (0, 16) if m.tuned else (50, 50)
        head = f"Adaptive RX: {adaptive}  TX: {adaptive}"
        vals = {"rx-usecs": rx, "tx-usecs": tx, "tx-frames-irq": 256, "rx-usecs-high": 0}
    elif nic.driver == "mlx5_core":
        # mlx5e defaults (en/params.c): adaptive moderation on, rx 8 us / 128 packets,
        # tx 16 us / 32 packets, CQE-based timer restart on receive. The capture port is
        # left at them.
        head = "Adaptive RX: on  TX: on"
        vals = {"rx-usecs": 8, "rx-frames": 128, "tx-usecs": 16, "tx-frames": 32}
    else:
        # igb: rx-usecs 3 is its dynamic "conservative" ITR mode; no adaptive switch. The
        # tuned host set 0 (ITR off: an interrupt per packet) on every physical port.
        head = "Adaptive RX: n/a  TX: n/a"
        vals = {"rx-usecs": 0 if m.tuned else 3, "tx-usecs": 0, "tx-frames-irq": 128}
    groups = [["stats-block-usecs:\t", "sample-interval:\t", "pkt-rate-low:\t\t", "pkt-rate-high:\t\t"],
              ["rx-usecs:\t", "rx-frames:\t", "rx-usecs-irq:\t", "rx-frames-irq:\t"],
              ["tx-usecs:\t", "tx-frames:\t", "tx-usecs-irq:\t", "tx-frames-irq:\t"],
              ["rx-usecs-low:\t", "rx-frame-low:\t", "tx-usecs-low:\t", "tx-frame-low:\t"],
              ["rx-usecs-high:\t", "rx-frame-high:\t", "tx-usecs-high:\t", "tx-frame-high:\t"]]
    out = [f"Coalesce parameters for {nic.name}:", head]
    for i, group in enumerate(groups):
        if i:
            out.append("")
        for label in group:
            out.append(f"{label}{vals.get(label.split(':')[0], 'n/a')}")
    cqe = "CQE mode RX: on  TX: off" if nic.driver == "mlx5_core" else "CQE mode RX: n/a  TX: n/a"
    out += ["", cqe, ""]
    return "\n".join(out) + "\n"


# Legacy flags first, their features under them (net/ethtool/common.c names, netdev
# feature bit order), then every other feature in bit order; ethtool skips UFO.
_LEGACY = (("rx-checksumming", ("rx-checksum",)),
           ("tx-checksumming", ("tx-checksum-ipv4", "tx-checksum-ip-generic", "tx-checksum-ipv6",
                                "tx-checksum-fcoe-crc", "tx-checksum-sctp")),
           ("scatter-gather", ("tx-scatter-gather", "tx-scatter-gather-fraglist")),
           ("tcp-segmentation-offload", ("tx-tcp-segmentation", "tx-tcp-ecn-segmentation",
                                         "tx-tcp-mangleid-segmentation", "tx-tcp6-segmentation")),
           ("generic-segmentation-offload", ("tx-generic-segmentation",)),
           ("generic-receive-offload", ("rx-gro",)), ("large-receive-offload", ("rx-lro",)),
           ("rx-vlan-offload", ("rx-vlan-hw-parse",)), ("tx-vlan-offload", ("tx-vlan-hw-insert",)),
           ("ntuple-filters", ("rx-ntuple-filter",)), ("receive-hashing", ("rx-hashing",)))
_OTHER_FEATURES = (
    "highdma", "rx-vlan-filter", "vlan-challenged", "tx-lockless", "netns-local", "tx-gso-robust",
    "tx-fcoe-segmentation", "tx-gre-segmentation", "tx-gre-csum-segmentation", "tx-ipxip4-segmentation",
    "tx-ipxip6-segmentation", "tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation", "tx-gso-partial",
    "tx-tunnel-remcsum-segmentation", "tx-sctp-segmentation", "tx-esp-segmentation", "tx-udp-segmentation",
    "tx-gso-list", "fcoe-mtu", "tx-nocache-copy", "loopback", "rx-fcs", "rx-all", "tx-vlan-stag-hw-insert",
    "rx-vlan-stag-hw-parse", "rx-vlan-stag-filter", "l2-fwd-offload", "hw-tc-offload", "esp-hw-offload",
    "esp-tx-csum-hw-offload", "rx-udp_tunnel-port-offload", "tls-hw-tx-offload", "tls-hw-rx-offload",
    "rx-gro-hw", "tls-hw-record", "rx-gro-list", "macsec-hw-offload", "rx-udp-gro-forwarding",
    "hsr-tag-ins-offload", "hsr-tag-rm-offload", "hsr-fwd-offload", "hsr-dup-offload")


def _ethtool_features(m: Model, nic: Nic) -> str:
    on = {"rx-checksum", "tx-checksum-ipv4", "tx-checksum-ipv6", "tx-scatter-gather", "tx-tcp-segmentation",
          "tx-tcp6-segmentation", "tx-generic-segmentation", "rx-vlan-hw-parse", "tx-vlan-hw-insert",
          "rx-hashing", "highdma", "rx-vlan-filter", "tx-gso-partial", "tx-gre-segmentation",
          "tx-gre-csum-segmentation", "tx-ipxip4-segmentation", "tx-ipxip6-segmentation",
          "tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation"}
    toggles = {"tx-tcp-mangleid-segmentation", "rx-gro", "tx-nocache-copy", "loopback", "rx-gro-list",
               "rx-udp-gro-forwarding", "hw-tc-offload"}
    if nic.driver == "ice":
        on |= {"tx-checksum-sctp", "tx-tcp-ecn-segmentation", "rx-ntuple-filter", "tx-udp-segmentation",
               "rx-vlan-stag-filter", "rx-udp_tunnel-port-offload"}
        toggles |= {"tx-vlan-stag-hw-insert", "rx-vlan-stag-hw-parse"}
        if not m.tuned:  # the tuned host turned GRO off (ethtool -K IF gro off) on every port
            on.add("rx-gro")
    elif nic.driver == "mlx5_core":
        on |= {"tx-tcp-ecn-segmentation", "tx-udp-segmentation", "rx-udp_tunnel-port-offload"}
        if not m.tuned:
            on.add("rx-gro")
        toggles |= {"rx-lro", "rx-ntuple-filter", "rx-fcs", "rx-all", "rx-gro-hw", "tx-vlan-stag-hw-insert",
                    "rx-vlan-stag-hw-parse"}
    else:
        if not m.tuned:
            on.add("rx-gro")
        toggles |= {"rx-fcs", "rx-all", "rx-ntuple-filter"}
    changeable = on | toggles

    def line(name: str, shown: str, prefix: str = "") -> str:
        return f"{prefix}{shown}: {'on' if name in on else 'off'}{'' if name in changeable else ' [fixed]'}"

    out = [f"Features for {nic.name}:"]
    for legacy, members in _LEGACY:
        if len(members) == 1:
            out.append(line(members[0], legacy))
            continue
        out.append(f"{legacy}: {'on' if any(x in on for x in members) else 'off'}")
        out += [line(x, x, "\t") for x in members]
    out += [line(x, x) for x in _OTHER_FEATURES]
    return "\n".join(out) + "\n"


def _ethtool_pause(m: Model, nic: Nic) -> str:
    if nic.driver == "ice":
        # Fibre at a fixed 25G: no autonegotiation; flow control off on the tuned host.
        rx = tx = "off" if m.tuned else "on"
        return f"Pause parameters for {nic.name}:\nAutonegotiate:\toff\nRX:\t\t{rx}\nTX:\t\t{tx}\n\n"
    return (f"Pause parameters for {nic.name}:\nAutonegotiate:\ton\nRX:\t\ton\nTX:\t\ton\n"
            "RX negotiated: on\nTX negotiated: on\n\n")


def _ethtool_timestamping(nic: Nic) -> str:
    caps = ["hardware-transmit", "software-transmit", "hardware-receive", "software-receive",
            "software-system-clock", "hardware-raw-clock"]
    return (f"Time stamping parameters for {nic.name}:\nCapabilities:\n" + "".join(f"\t{c}\n" for c in caps)
            + f"PTP Hardware Clock: {nic.phc}\nHardware Transmit Timestamp Modes:\n\toff\n\ton\n"
            "Hardware Receive Filter Modes:\n\tnone\n\tall\n")


def _ethtool_records(m: Model) -> dict[str, dict]:
    recs = {}
    for nic in _nics(m):
        for option, text in (("", _ethtool_settings(nic)), ("-i", _ethtool_driver(m, nic)),
                             ("-l", _ethtool_channels(nic)), ("-g", _ethtool_rings(nic)),
                             ("-c", _ethtool_coalesce(m, nic)), ("-k", _ethtool_features(m, nic)),
                             ("-a", _ethtool_pause(m, nic)), ("-T", _ethtool_timestamping(nic))):
            key = f"ethtool {option} {nic.name}" if option else f"ethtool {nic.name}"
            recs[key] = {"returncode": 0, "stdout": text, "stderr": ""}
    return recs


# ---------------------------------------------------------------------------------------
# Time synchronisation: PTP hardware clocks, ptp4l and phc2sys or chronyd, the kernel's NTP
# state, the kernel log

CAPTURED_AT = 1713448931  # meta.json captured_at, 2024-04-18T14:02:11Z, in seconds since the epoch
UPTIME_S = 1732045  # CLOCK_MONOTONIC at the capture: 20 days up
TAI_UTC = 37  # TAI - UTC since 2017
# include/uapi/linux/timex.h
STA_UNSYNC, STA_NANO = 0x0040, 0x2000
TIME_OK, TIME_ERROR = 0, 5
NTP_PHASE_LIMIT_US = 16_000_000  # kernel/time/ntp.c: maxerror and esterror after ntp_clear()
MAXERROR_GROWTH_US = 500  # second_overflow(): maxerror grows by MAXFREQ (500 ppm) a second
TOLERANCE = 500 << 16  # MAXFREQ_SCALED >> NTP_SCALE_SHIFT: 500 ppm in 16.16 fixed point
TICK_US = 10000  # USER_HZ 100

# ptp_clock_info of each driver as registered (drivers/ptp/ptp_sysfs.c shows these):
# clock_name, max_adjustment (ppb), n_alarms, n_external_timestamps, n_periodic_outputs,
# n_programmable_pins, pps_available. ice (ice_ptp.c ice_ptp_set_caps): "%s-%s-clk" of the
# driver and PCI names, max_adj 100000000 (999999999 before 6.3), an E810 without the
# E810-T's SMA pins: N_EXT_TS_E810 3, N_PER_OUT_E810 4, no pins, no PPS. igb on an I350
# (igb_ptp.c igb_ptp_init): "%pm" of the MAC (12 hex digits), max_adj 62499999, with the SDP
# pins of the 82580 family (5.16 on: IGB_N_EXTTS 2, IGB_N_PEROUT 2, IGB_N_SDP 4), no PPS.
# mlx5_core (lib/clock.c mlx5_ptp_clock_info): "mlx5_ptp", max_adj 100000000 in 5.14, pins
# only where the card has PPS connectors (this one has none).
_PHC_CAPS = {"ice": (100_000_000, 0, 3, 4, 0, 0), "igb": (62_499_999, 0, 2, 2, 4, 0),
             "mlx5_core": (100_000_000, 0, 0, 0, 0, 0)}


def _phc_clock_name(nic: Nic) -> str:
    if nic.driver == "ice":
        return f"ice-{nic.address}-clk"
    if nic.driver == "igb":
        return nic.mac.replace(":", "")
    return "mlx5_ptp"


def _clock_identity(mac: str) -> str:
    """IEEE 1588 clock identity of a MAC (EUI-48 with ff:fe in the middle), as linuxptp
    prints it (util.c cid2str)."""
    b = mac.split(":")
    return f"{''.join(b[:3])}.fffe.{''.join(b[3:])}"


def _render_phcs(m: Model, nics: list[Nic], f: dict) -> None:
    """/sys/class/ptp/ptpN for each clock a driver registered (ptp_clock_register makes the
    ptp device a child of the NIC's PCI function), in the index order the NICs hold. An
    E810 registers one clock, on the port that owns the timer (port 0); its other ports
    report that clock's index. A vfio-bound port registers nothing."""
    owners: dict[int, Nic] = {}
    for nic in nics:
        owners.setdefault(nic.phc, nic)
    for index, nic in sorted(owners.items()):
        pci = _pci_dir(nic.root_port, nic.address)
        d = f"{pci}/ptp/ptp{index}"
        f[f"/sys/class/ptp/ptp{index}"] = _sysfs_link(f"/sys/class/ptp/ptp{index}", d)
        f[f"{d}/device"] = _sysfs_link(f"{d}/device", pci)
        f[f"{d}/clock_name"] = _phc_clock_name(nic)
        names = ("max_adjustment", "n_alarms", "n_external_timestamps", "n_periodic_outputs",
                 "n_programmable_pins", "pps_available")
        for name, value in zip(names, _PHC_CAPS[nic.driver], strict=True):
            f[f"{d}/{name}"] = str(value)


def _proc_stat(pid: int, comm: str, ppid: int, start_s: float, threads: int, vsize: int, rss_pages: int,
               utime: int, stime: int) -> str:
    """/proc/PID/stat (fs/proc/array.c do_task_stat): 52 fields, a sleeping process."""
    start = int(start_s * 100)  # clock ticks (USER_HZ) since boot
    fields = [pid, f"({comm})", "S", ppid, pid, pid, 0, -1, 4194560, 1021, 0, 12, 0, utime, stime, 0, 0, 20, 0,
              threads, 0, start, vsize, rss_pages, "18446744073709551615", 1, 1, 0, 0, 0, 0, 0, 4096, 17475, 0, 0,
              0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    return " ".join(str(x) for x in fields)


def _render_process(m: Model, f: dict, pid: int, comm: str, argv: list[str], uid: int, start_s: float,
                    threads: int, vm_kb: int, rss_kb: int, cpus: list[int]) -> None:
    d = f"/proc/{pid}"
    f[f"{d}/comm"] = comm
    f[f"{d}/cmdline"] = b"".join(a.encode() + b"\0" for a in argv)
    f[f"{d}/stat"] = _proc_stat(pid, comm, 1, start_s, threads, vm_kb * 1024, rss_kb // 4, 3 * pid % 997,
                                UPTIME_S // 40)
    f[f"{d}/status"] = "\n".join([
        f"Name:\t{comm}", "Umask:\t0022", "State:\tS (sleeping)", f"Tgid:\t{pid}", "Ngid:\t0", f"Pid:\t{pid}",
        "PPid:\t1", "TracerPid:\t0", f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}", f"Gid:\t{uid}\t{uid}\t{uid}\t{uid}",
        "FDSize:\t64", "Groups:\t", f"NStgid:\t{pid}", f"NSpid:\t{pid}", f"NSpgid:\t{pid}", f"NSsid:\t{pid}",
        f"VmPeak:\t{vm_kb + 4096:8d} kB", f"VmSize:\t{vm_kb:8d} kB", f"VmRSS:\t{rss_kb:8d} kB",
        f"Threads:\t{threads}", "SigQ:\t0/1030397",
        f"Cpus_allowed:\t{cpumask(cpus, m.nr)}", f"Cpus_allowed_list:\t{cpulist(cpus)}",
        f"Mems_allowed:\t{','.join(['00000000'] * 31)},{(1 << m.sockets) - 1:08x}",
        f"Mems_allowed_list:\t{cpulist(range(m.sockets))}",
        f"voluntary_ctxt_switches:\t{UPTIME_S * 2 + pid}", f"nonvoluntary_ctxt_switches:\t{pid % 211}"])


def _timex(status: int, freq: int, maxerror: int, esterror: int, tai: int, frac_ns: int) -> str:
    """struct timex as adjtimex(2) with modes 0 fills it on a 64-bit kernel, little-endian,
    as hex (what a snapshot records under hftinfra:adjtimex). time is the capture's
    CLOCK_REALTIME, its fraction in ns with STA_NANO and in us without."""
    frac = frac_ns if status & STA_NANO else frac_ns // 1000
    layout = struct.Struct("<I4x4qi4x8qi4x5qi44x")
    return layout.pack(0, 0, freq, maxerror, esterror, status, 2, 1, TOLERANCE, CAPTURED_AT, frac, TICK_US,
                       0, 0, 0, 0, 0, 0, 0, 0, tai).hex()


# RHEL 9's /etc/chrony.conf as the chrony package installs it.
CHRONY_CONF = """\
# Use public servers from the pool.ntp.org project.
# Please consider joining the pool (https://www.pool.ntp.org/join.html).
pool 2.rhel.pool.ntp.org iburst

# Use NTP servers from DHCP.
sourcedir /run/chrony-dhcp

# Record the rate at which the system clock gains/losses time.
driftfile /var/lib/chrony/drift

# Allow the system clock to be stepped in the first three updates
# if its offset is larger than 1 second.
makestep 1.0 3

# Enable kernel synchronization of the real-time clock (RTC).
rtcsync

# Enable hardware timestamping on all interfaces that support it.
#hwtimestamp *

# Increase the minimum number of selectable sources required to adjust
# the system clock.
#minsources 2

# Allow NTP client access from local network.
#allow 192.168.0.0/16

# Serve time even if not synchronized to a time source.
#local stratum 10

# Require authentication (nts or key option) for all NTP sources.
#authselectmode require

# Specify file containing keys for NTP authentication.
keyfile /etc/chrony.keys

# Save NTS keys and cookies.
ntsdumpdir /var/lib/chrony

# Insert/delete leap seconds by slewing instead of stepping.
#leapsecmode slew

# Get TAI-UTC offset and leap seconds from the system tz database.
leapsectz right/UTC

# Specify directory for log files.
logdir /var/log/chrony

# Select which information is logged.
#log measurements statistics tracking
"""

# /etc/ptp4l.conf of the PTP host: linuxptp's default.cfg (which RHEL installs there) cut to
# what it sets, a slave-only clock on hardware timestamps. ice needs a longer wait for its
# transmit timestamps than the default 1 ms.
PTP4L_CONF = """\
[global]
#
# Default Data Set
#
twoStepFlag		1
slaveOnly		1
priority1		128
priority2		128
domainNumber		0
clockClass		255
clockAccuracy		0xFE
offsetScaledLogVariance	0xFFFF
free_running		0
freq_est_interval	1
#
# Port Data Set
#
logAnnounceInterval	1
logSyncInterval		0
logMinDelayReqInterval	0
announceReceiptTimeout	3
#
# Run time options
#
logging_level		6
tx_timestamp_timeout	10
use_syslog		1
verbose			0
summary_interval	0
kernel_leap		1
#
# Servo Options
#
clock_servo		pi
step_threshold		0.0
first_step_threshold	0.00002
max_frequency		900000000
#
# Transport options
#
transportSpecific	0x0
#
# Default interface options
#
time_stamping		hardware
network_transport	UDPv4
delay_mechanism		E2E
uds_address		/var/run/ptp4l
"""

# The PTP network: a grandmaster locked to GPS (clock class 6, accuracy 0x21: within 100
# ns), two hops away through a boundary clock in the switch.
GM_IDENTITY = "ec4670.fffe.0b2d1e"
PARENT_PORT = "444ca8.fffe.5e2f31-12"
PTP4L_PID, PHC2SYS_PID, CHRONYD_PID = 1958, 1962, 1093
JOURNAL_KEY = "journalctl --no-pager -o short-monotonic -n 500 -t ptp4l -t phc2sys"
PMC_SETS = ("CURRENT_DATA_SET", "TIME_STATUS_NP", "PORT_DATA_SET", "PARENT_DATA_SET")


def _ok(stdout: str, stderr: str = "", returncode: int = 0) -> dict:
    return {"returncode": returncode, "stdout": stdout, "stderr": stderr}


def _pmc(dataset: str, responder: str, fields: list[tuple[str, str]]) -> str:
    """pmc's answer to one GET (pmc.c pmc_show; the labels padded as pmc pads them)."""
    width = max(len(k) for k, _ in fields)
    lines = [f"sending: GET {dataset}", f"\t{responder} seq 0 RESPONSE MANAGEMENT {dataset} "]
    lines += [f"\t\t{k.ljust(width)} {v}" for k, v in fields]
    return "\n".join(lines) + "\n\n"


def _ptp_records(m: Model, nic: Nic, rng: random.Random) -> tuple[dict, int]:
    """pmc's answers from ptp4l on the trading port and the journal's last 500 servo lines
    (ptp4l's and phc2sys's, one each a second); returns them and the frequency phc2sys last
    gave CLOCK_REALTIME (ppb, as its servo line prints it)."""
    me = _clock_identity(nic.mac)
    offset, delay = -23, 512
    records = {}
    current = [("stepsRemoved", "2"), ("offsetFromMaster", f"{offset:.1f}"), ("meanPathDelay", f"{delay:.1f}")]
    ingress = (CAPTURED_AT + TAI_UTC) * 1_000_000_000 - 402_117_000
    status = [("master_offset", str(offset)), ("ingress_time", str(ingress)),
              ("cumulativeScaledRateOffset", "+0.000000000"), ("scaledLastGmPhaseChange", "0"),
              ("gmTimeBaseIndicator", "0"), ("lastGmPhaseChange", "0x0000'0000000000000000.0000"),
              ("gmPresent", "true"), ("gmIdentity", GM_IDENTITY)]
    port = [("portIdentity", f"{me}-1"), ("portState", "SLAVE"), ("logMinDelayReqInterval", "0"),
            ("peerMeanPathDelay", "0"), ("logAnnounceInterval", "1"), ("announceReceiptTimeout", "3"),
            ("logSyncInterval", "0"), ("delayMechanism", "1"), ("logMinPdelayReqInterval", "0"),
            ("versionNumber", "2")]
    parent = [("parentPortIdentity", PARENT_PORT), ("parentStats", "0"),
              ("observedParentOffsetScaledLogVariance", "0xffff"),
              ("observedParentClockPhaseChangeRate", "0x7fffffff"), ("grandmasterPriority1", "128"),
              ("gm.ClockClass", "6"), ("gm.ClockAccuracy", "0x21"), ("gm.OffsetScaledLogVariance", "0x4e5d"),
              ("grandmasterPriority2", "128"), ("grandmasterIdentity", GM_IDENTITY)]
    for name, fields, responder in (("CURRENT_DATA_SET", current, f"{me}-0"), ("TIME_STATUS_NP", status, f"{me}-0"),
                                    ("PORT_DATA_SET", port, f"{me}-1"), ("PARENT_DATA_SET", parent, f"{me}-0")):
        records[f"pmc -u -b 0 GET {name}"] = _ok(_pmc(name, responder, fields))
    # Servo lines: ptp4l through syslog (use_syslog 1, the CLOCK_MONOTONIC stamp in
    # brackets: print.c), phc2sys the same; the journal prefixes its own monotonic time, the
    # host name and the identifier with the PID. clock.c and phc2sys.c formats.
    lines = []
    phc2sys_freq = 3120
    for i in range(250):
        t = UPTIME_S - 250 + i + 0.118 + rng.randint(0, 400) / 1e6
        last = i == 249
        o = offset if last else int(round(rng.gauss(0, 18)))
        d = delay if last else 512 + rng.randint(-6, 6)
        fr = -18421 + rng.randint(-9, 9)
        lines.append(f"[{t:.6f}] {m.hostname} ptp4l[{PTP4L_PID}]: [{t - 0.000204:.3f}] "
                     f"master offset {o:10d} s2 freq {fr:+7d} path delay {d:9d}")
        t2 = t + 0.391
        o2 = int(round(rng.gauss(0, 9)))
        fr2 = phc2sys_freq if last else phc2sys_freq + rng.randint(-5, 5)
        lines.append(f"[{t2:.6f}] {m.hostname} phc2sys[{PHC2SYS_PID}]: [{t2 - 0.000187:.3f}] "
                     f"CLOCK_REALTIME phc offset {o2:9d} s2 freq {fr2:+7d} delay {524 + rng.randint(-8, 8):6d}")
    records[JOURNAL_KEY] = _ok("\n".join(lines[-500:]) + "\n")
    return records, phc2sys_freq


def _chrony_records(m: Model, rng: random.Random) -> tuple[dict, str]:
    """chronyc -c answers of a chronyd synchronised over NTP to pool servers (chronyc 4.3's
    CSV layout, client.c), and the adjtimex state it leaves: STA_UNSYNC cleared (rtcsync is
    set: sys_timex.c clears it only then), maxerror as its last update set it (half the root
    delay plus the root dispersion) grown by 500 us for each second since, esterror the
    offset's standard deviation, the frequency correction, TAI - UTC from leapsectz."""
    since = 412 + rng.randint(0, 200)  # seconds since the last clock update (poll 2^10 s)
    ref = CAPTURED_AT - since
    root_delay, root_disp = 0.030412228, 0.001906551
    freq_ppm = -12.345 + rng.randint(-50, 50) / 1000
    tracking = (f"C6336417,198.51.100.23,3,{ref}.408823911,0.001842337,0.002104823,0.001377415,"
                f"{freq_ppm:.3f},-0.041,0.318,{root_delay:.9f},{root_disp:.9f},1031.2,Normal\n")
    sources = (f"^,*,198.51.100.23,2,10,377,{since},0.001903118,0.002104823,0.016021003\n"
               f"^,+,203.0.113.41,2,10,377,{since - 14},0.002611470,0.002634902,0.019448210\n"
               f"^,-,192.0.2.118,3,10,377,{since + 19},0.004012117,0.003984032,0.031440887\n"
               f"^,+,198.51.100.170,2,10,377,{since + 477},0.001502554,0.001530198,0.021876411\n")
    stats = ("198.51.100.23,12,7,11408,-0.041,0.318,0.000093204,0.000841762\n"
             "203.0.113.41,12,6,11322,-0.118,0.402,0.000688113,0.001102418\n"
             "192.0.2.118,11,5,10296,0.207,0.655,0.002104551,0.002019873\n"
             "198.51.100.170,12,8,11873,-0.077,0.371,-0.000311027,0.000977401\n")
    records = {"chronyc -c tracking": _ok(tracking), "chronyc -c sources": _ok(sources),
               "chronyc -c sourcestats": _ok(stats)}
    maxerror = int((root_delay / 2 + root_disp) * 1e6) + MAXERROR_GROWTH_US * since
    esterror = 842
    # chronyd corrects a clock that runs slow (negative frequency) by speeding it up.
    timex = _timex(0, int(-freq_ppm * 65536), maxerror, esterror, TAI_UTC, 402_113_775)
    return records, timex


def _dmesg(m: Model, nics: list[Nic], f: dict) -> str:
    """The start of the kernel log of a 5.14 kernel on this model (the ring buffer still
    holds the boot: a quiet host), with the clocksource lines of kernel/time/clocksource.c
    and arch/x86/kernel/tsc.c, and the NIC drivers' PTP lines (ice_ptp.c "PTP init
    successful", igb_ptp.c "added PHC on %s" under the name the port had before udev renamed
    it). No watchdog mark: the TSC stays the clocksource."""
    mhz = m.base_mhz
    lines = [(0.0, f["/proc/version"]), (0.0, f"Command line: {f['/proc/cmdline']}"),
             (0.0, f"tsc: Detected {mhz}.000 MHz processor"),
             (0.0, "clocksource: refined-jiffies: mask: 0xffffffff max_cycles: 0xffffffff, "
                   "max_idle_ns: 7645519600211568 ns"),
             (0.312207, "clocksource: hpet: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 133484882848 ns"),
             (0.318880, f"clocksource: tsc-early: mask: 0xffffffffffffffff max_cycles: 0x{mhz * 0xe6a171 // 1000:x}, "
                        "max_idle_ns: 440795236593 ns"),
             (0.960611, "clocksource: jiffies: mask: 0xffffffff max_cycles: 0xffffffff, "
                        "max_idle_ns: 7645041785100000 ns"),
             (1.682117, "clocksource: Switched to clocksource tsc-early"),
             (1.701455, "clocksource: acpi_pm: mask: 0xffffff max_cycles: 0xffffff, max_idle_ns: 2085701024 ns"),
             (2.774301, f"tsc: Refined TSC clocksource calibration: {mhz - 1}.998 MHz"),
             (2.774355, f"clocksource: tsc: mask: 0xffffffffffffffff max_cycles: 0x{mhz * 0xe6a171 // 1000 - 17:x}, "
                        "max_idle_ns: 440795241297 ns"),
             (2.775102, "clocksource: Switched to clocksource tsc")]
    t = 6.10
    eth = 0
    for nic in nics:
        if nic.driver == "ice" and nic.name.endswith("f0"):
            lines.append((t, "ice: Intel(R) Ethernet Connection E800 Series Linux Driver"))
            lines.append((t + 0.000021, "ice: Copyright (c) 2018, Intel Corporation."))
            lines.append((t + 1.212004, f"ice {nic.address}: PTP init successful"))
            t += 1.3
        elif nic.driver == "igb":
            if nic.name.endswith("1"):
                lines.append((t, "igb: Intel(R) Gigabit Ethernet Network Driver"))
            lines.append((t + 0.228911, f"igb {nic.address}: added PHC on eth{eth}"))
            t += 0.3
        eth += 1
    for i, nic in enumerate(nics):
        lines.append((t + 1.9 + i * 0.0041, f"{nic.driver} {nic.address} {nic.name}: renamed from eth{i}"))
    return "".join(f"[{s:12.6f}] {text}\n" for s, text in lines)


def _render_timesync(m: Model, nics: list[Nic], f: dict, rng: random.Random) -> dict:
    """The time-sync state of the model: files into ``f``, command and call records returned.

    ptp (tuned-2s): ptp4l (RHEL's ptp4l.service: /etc/sysconfig/ptp4l OPTIONS, -f
    /etc/ptp4l.conf -i IF) a slave on the first E810 port, phc2sys (phc2sys.service, -a -r)
    following it into CLOCK_REALTIME, both on the housekeeping CPUs (systemd's CPUAffinity).
    phc2sys sets the kernel clock's frequency (clockadj.c clockadj_set_freq: freq * 65.536,
    the tick left at 10000 us for a correction under 1 ms/s) and, at each locked update,
    ADJ_STATUS with the leap bits only and ADJ_MAXERROR 0 (sysclk_set_sync): STA_UNSYNC
    cleared, maxerror back to 0 each second (the kernel adds 500 us at the next second
    overflow), esterror untouched since boot. Its first update stepped the clock
    (ADJ_SETOFFSET | ADJ_NANO), which left STA_NANO set (a read-only bit ADJ_STATUS keeps).
    TAI - UTC: phc2sys sets it (ADJ_TAI) from ptp4l's time properties, which a GPS-locked
    grandmaster marks valid and traceable. chrony is installed and its service disabled.

    chrony (untuned-2s, unreadable): RHEL's chronyd.service (-F 2), /etc/chrony.conf as
    shipped, synchronised to pool servers.

    none (cpu0-offline): chrony not installed, nothing ever disciplined the clock: STA_UNSYNC
    set, maxerror and esterror at NTP_PHASE_LIMIT, adjtimex returns TIME_ERROR."""
    _render_phcs(m, nics, f)
    records: dict[str, dict] = {}
    how = m.clock_discipline
    hk = m.housekeeping
    if how != "none":
        f["/etc/chrony.conf"] = CHRONY_CONF
        f["/etc/sysconfig/chronyd"] = '# Command-line options for chronyd\nOPTIONS="-F 2"'
    if how == "ptp":
        nic = next(n for n in nics if n.driver == "ice")
        f["/etc/ptp4l.conf"] = PTP4L_CONF
        f["/etc/sysconfig/ptp4l"] = f'OPTIONS="-f /etc/ptp4l.conf -i {nic.name}"'
        f["/etc/sysconfig/phc2sys"] = 'OPTIONS="-a -r"'
        _render_process(m, f, PTP4L_PID, "ptp4l", ["/usr/sbin/ptp4l", "-f", "/etc/ptp4l.conf", "-i", nic.name],
                        0, 14.82, 1, 2640, 2112, hk)
        _render_process(m, f, PHC2SYS_PID, "phc2sys", ["/usr/sbin/phc2sys", "-a", "-r"], 0, 14.91, 1, 2508, 1904, hk)
        ptp, freq = _ptp_records(m, nic, rng)
        records.update(ptp)
        # chronyc asks chronyd's UDP port 323 and gets no answer.
        for report in ("tracking", "sources", "sourcestats"):
            records[f"chronyc -c {report}"] = _ok("506 Cannot talk to daemon\n", returncode=1)
        timex = _timex(STA_NANO, int(-freq * 65.536), MAXERROR_GROWTH_US, NTP_PHASE_LIMIT_US, TAI_UTC, 402_113_775)
        records["hftinfra:adjtimex"] = {"returncode": TIME_OK, "data": timex}
    elif how == "chrony":
        _render_process(m, f, CHRONYD_PID, "chronyd", ["/usr/sbin/chronyd", "-F", "2"], 992, 9.64, 1, 85_700, 3_412,
                        hk)
        chrony, timex = _chrony_records(m, rng)
        records.update(chrony)
        records["hftinfra:adjtimex"] = {"returncode": TIME_OK, "data": timex}
    else:
        for report in ("tracking", "sources", "sourcestats"):
            records[f"chronyc -c {report}"] = {"unavailable": "chronyc is not installed"}
        timex = _timex(STA_UNSYNC, 0, NTP_PHASE_LIMIT_US, NTP_PHASE_LIMIT_US, 0, 402_113_775)
        records["hftinfra:adjtimex"] = {"returncode": TIME_ERROR, "data": timex}
    if how != "ptp":
        if m.capture_as_user:
            # journald shows a user outside adm, systemd-journal and wheel only their own entries.
            records[JOURNAL_KEY] = _ok("-- No entries --\n", "Hint: You are currently not seeing messages from "
                                       "other users and the system.\n      Users in groups 'adm', 'systemd-journal', "
                                       "'wheel' can see all messages.\n      Pass -q to turn off this notice.\n")
        else:
            records[JOURNAL_KEY] = _ok("-- No entries --\n")
    if m.capture_as_user:
        records["dmesg"] = _ok("", "dmesg: read kernel buffer failed: Operation not permitted\n", 1)
    else:
        records["dmesg"] = _ok(_dmesg(m, nics, f))
    return records


# ---------------------------------------------------------------------------------------
# Edge-case overlays


def _overlay_cpu0_offline(m: Model, f: dict) -> None:
    # An inactive cpufreq policy answers every attribute read with EBUSY
    # (drivers/cpufreq/cpufreq.c, show()); a capture records that as unsupported.
    unread = {}
    for name in ("scaling_governor", "scaling_driver", "scaling_min_freq", "scaling_max_freq",
                 "scaling_cur_freq", "energy_performance_preference", "base_frequency"):
        path = f"{CPU}/cpufreq/policy0/{name}"
        f.pop(path, None)
        # Recorded under both names, as a capture records the path a probe asked for.
        for asked in (path, f"{CPU}/cpu0/cpufreq/{name}"):
            unread[asked] = {"reason": "unsupported", "detail": "Device or resource busy"}
    f["/hftinfra/unread.json"] = json.dumps(unread, indent=1, sort_keys=True)


def _overlay_unreadable(m: Model, f: dict) -> None:
    denied = [
        "/proc/cmdline", f"{CPU}/isolated", "/dev/cpu_dma_latency",
        f"{CPU}/cpu2/topology/thread_siblings_list", f"{CPU}/cpufreq/policy1/scaling_governor",
        f"{CPU}/cpu1/cpufreq/scaling_governor",
        f"{NODE}/node0/meminfo", "/etc/systemd/system.conf", "/proc/1/status",
        f"{CPU}/cpu3/cpuidle", "/sys/class/dmi/id/product_serial", "/proc/sys/kernel/nmi_watchdog",
        # Kernels and hardening patches that make IRQ affinity root-only.
        "/proc/irq/9/smp_affinity_list", "/proc/irq/9/effective_affinity_list", "/proc/irq/16/effective_affinity_list",
        "/proc/irq/8/node",
    ]
    unread = {}
    for path in denied:
        for key in [k for k in f if k == path or k.startswith(path + "/")]:
            del f[key]
        unread[path] = {"reason": "denied", "detail": "Permission denied"}
    f["/hftinfra/unread.json"] = json.dumps(unread, indent=1, sort_keys=True)
    # Damaged contents, as a broken capture or a bad copy would leave them.
    f["/sys/devices/virtual/workqueue/cpumask"] = "ff,zz"
    f[f"{CPU}/cpu3/cache/index2/size"] = "big"
    f[f"{CPU}/cpu1/cpuidle/state1/latency"] = "n/a"
    f[f"{CPU}/cpufreq/policy0/scaling_max_freq"] = ""


# ---- a recorded jitter run ------------------------------------------------------------------

def _overlay_tuned(m: Model, f: dict) -> None:
    f["/hftinfra/jitter.json"] = tuned_jitter_json(m)


def tuned_jitter_json(m: Model) -> str:
    """``hftinfra jitter --compare --cpus 9,10 --duration 5 --json`` as the tuned host would
    have answered: the python engine, then oslat, on two isolated nohz_full CPUs. The engines'
    own outputs are written first (the busy loop's record, oslat's JSON) and read through the
    library's parsers, so the run is in the format the command writes."""
    sys.path.insert(0, str(HERE.parent.parent / "src"))
    from hftinfra.measure.jitter.busyloop import record_to_cpu
    from hftinfra.measure.jitter.model import CountDelta, CountsAttribution, EngineResult
    from hftinfra.measure.jitter.rttests import parse_oslat_json
    from hftinfra.measure.jitter.run import JitterLeg, JitterRun

    cpus = (9, 10)
    start = 7_216_004_113_000_000
    py_cpus = []
    for k, cpu in enumerate(cpus):
        # 10 ns buckets under the 5 µs threshold; one turn of the loop about 60 ns on 3.6 GHz.
        linear = [0] * 501
        for bucket, n in ((5, 1_200_000), (6, 79_400_000 + 1000 * k), (7, 2_500_000), (8, 180_000), (9, 41_000),
                          (12, 9_800), (25, 1_300), (40, 410), (95, 63), (150, 11), (210, 4 + k), (231, 1)):
            linear[bucket] = n
        py_cpus.append(record_to_cpu({
            "cpu": cpu, "pid": 40_100 + k, "tid": 40_100 + k, "width_ns": 10, "threshold_ns": 5000,
            "threshold_asked_ns": 5000, "turn_ns": 65.0, "floor_ns": 195, "linear": linear, "gaps": [],
            "gaps_not_kept": 0, "start_ns": start, "end_ns": start + 5_000_000_000, "interrupted": False}))
    python = EngineResult("python", tuple(py_cpus), command="python -m hftinfra.measure.jitter.busyloop ...",
                          version="3.11.7")
    threads = {}
    for k, cpu in enumerate(cpus):
        threads[str(k)] = {"cpu": cpu, "freq": 3600, "min": 1, "avg": 1.0, "max": 3 - k, "duration": 5.0,
                           "histogram": {"1": 191_204_118 + 35 * k, "2": 14 - 3 * k, **({"3": 2} if k == 0 else {})}}
    oslat_doc = {
        "file_version": 1, "cmdline:": "oslat -c 9,10 -D 5 -b 1024 -q --json=/tmp/oslat.json -C 0",
        "rt_test_version:": "2.40", "start_time": "Thu, 18 Apr 2024 14:05:02 +0000",
        "end_time": "Thu, 18 Apr 2024 14:05:08 +0000", "return_code": 0,
        "sysinfo": {"sysname": "Linux", "nodename": m.hostname, "release": m.kernel, "version": m.kernel_build,
                    "machine": "x86_64", "realtime": 0},
        "num_threads": len(cpus), "thread": threads}
    oslat = parse_oslat_json(json.dumps(oslat_doc))
    oslat = EngineResult(oslat.engine, oslat.cpus, command=oslat_doc["cmdline:"], version=oslat.version,
                         notes=oslat.notes)

    def counts(window_s: float, loc: int, own: bool) -> CountsAttribution:
        # nohz_full with one task: no tick (since 4.17 the residual 1 Hz tick runs remotely);
        # what is left is the odd RCU callback kicked off the CPU and a vmstat flush.
        deltas = []
        for cpu in cpus:
            deltas += [CountDelta(cpu, "LOC", "arch", loc, "Local timer interrupts"),
                       CountDelta(cpu, "CAL", "arch", 1, "Function call interrupts")]
        return CountsAttribution(window_s=window_s, deltas=tuple(deltas), tasks=(),
                                 steal_ns={c: 0 for c in cpus}, own_involuntary={c: 0 for c in cpus} if own else {})

    legs = (JitterLeg(python, counts(5.21, 2, True), None, start),
            JitterLeg(oslat, counts(6.24, 3, False), None, None))
    run = JitterRun(cpus=cpus, duration_s=5.0, threshold_ns=5000, engine="compare", fifo=None, legs=legs,
                    hostname=m.hostname, kernel=m.kernel, virtualization=f"bare metal (DMI vendor {m.vendor[0]!r}, no 'hypervisor' flag)",
                    started_at="2024-04-18T14:04:55+00:00")
    return json.dumps(run.to_json(), indent=1, sort_keys=True)


OVERLAYS = {"cpu0-offline": _overlay_cpu0_offline, "unreadable": _overlay_unreadable, "tuned-2s": _overlay_tuned}


def files_for(name: str) -> dict[str, str | bytes | Link]:
    model = MODELS[name]()
    files = render(model)
    if name in OVERLAYS:
        OVERLAYS[name](model, files)
    return files


def write_files(files: dict[str, str | bytes | Link], dest: Path) -> Path:
    made: set[str] = set()
    for path, content in sorted(files.items()):
        target = os.path.join(dest, path.lstrip("/"))
        parent = os.path.dirname(target)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        if isinstance(content, Link):
            os.symlink(str(content), target)
            continue
        if isinstance(content, str):
            # sysfs and procfs end every value with a newline; an empty value is "\n".
            if not content.endswith("\n"):
                content += "\n"
            content = content.encode()
        with open(target, "wb") as fh:
            fh.write(content)
    return dest


def write_archive(files: dict[str, str | bytes | Link], dest: Path) -> Path:
    """The same tree as a .tar.gz snapshot: one file to write instead of tens of
    thousands, which is what keeps the 384-CPU host cheap to build per test run."""
    with tarfile.open(dest, "w:gz", compresslevel=1) as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.mtime = 0
            if isinstance(content, Link):
                info.type = tarfile.SYMTYPE
                info.linkname = str(content)
                tar.addfile(info)
                continue
            if isinstance(content, str):
                if not content.endswith("\n"):
                    content += "\n"
                content = content.encode()
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return dest


def build_host(name: str, dest: Path | str) -> Path:
    """Write fixture host ``name`` to ``dest``: a directory (created), or a snapshot
    archive when ``dest`` ends in ``.tar.gz``."""
    dest = Path(dest)
    if dest.name.endswith(".tar.gz"):
        dest.parent.mkdir(parents=True, exist_ok=True)
        return write_archive(files_for(name), dest)
    dest.mkdir(parents=True, exist_ok=True)
    return write_files(files_for(name), dest)


def main(argv: list[str]) -> int:
    if len(argv) == 2:
        build_host(argv[0], Path(argv[1]))
        return 0
    if argv:
        print("usage: build.py [NAME DEST]", file=sys.stderr)
        return 2
    for name in COMMITTED:
        dest = HERE / name
        if dest.exists():
            shutil.rmtree(dest)
        build_host(name, dest)
        print(f"wrote {dest.relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
