"""Build the fixture hosts under tests/hosts/ (snapshot trees in the kernel's formats).

    python tests/hosts/build.py            # rewrite every committed tree
    python tests/hosts/build.py big-4s DEST # one host into DEST (a folder, or .tar.gz)

Each host is a model (sockets, cores, threads, what is tuned) rendered to the files the
kernel would show for it. The committed trees are this script's output, checked by
tests/test_fixture_hosts.py; `big-4s` (384 CPUs) is only built at test time.

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
- untuned-2s: the same hardware and kernel with distro defaults: no isolation (nohz_full
  reads "(null)", the unallocated mask of an OFFSTACK kernel), intel_pstate powersave with
  EPP balance_performance, turbo on, every C-state enabled, THP always, swap on,
  numa_balancing 1, watchdogs on, default mitigations.
- cpu0-offline: one socket, 4 cores × 2 threads; booted with cpu0_hotplug and CPU 0 taken
  offline: cpu0/online reads 0, its topology/ and cache/ are gone, its cpufreq policy is
  inactive (reads answer EBUSY, replayed as unsupported), node0's cpulist drops it.
- unreadable: one socket, 4 cores, no SMT; some files denied (recorded in
  hftinfra/unread.json, as a capture by a normal user would) and a few malformed.
- big-4s: 4 × 48 cores × 2 threads = 384 CPUs (wide masks: 12 groups), tuned like tuned-2s
  with isolation on node 3.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMITTED = ("tuned-2s", "untuned-2s", "cpu0-offline", "unreadable")
GENERATED = ("big-4s",)


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
    vendor: tuple[str, str] = ("Dell Inc.", "PowerEdge R650")
    extra_cmdline: str = ""
    seed: int = 0

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

    def apicid(self, cpu: int) -> int:
        s, _, t = self.place(cpu)
        return (s << 7) | (self.core_id(cpu) << 1) | t


def tuned_2s() -> Model:
    iso = frozenset(range(9, 16)) | frozenset(range(25, 32))
    return Model(
        name="tuned-2s", sockets=2, cores=8, threads=2,
        model_name="Intel(R) Xeon(R) Gold 6334 CPU @ 3.60GHz", family_model=(6, 106, 6),
        microcode="0xd0003b9", base_mhz=3600, turbo_mhz=3700, l1d_kb=48, l1i_kb=32, l2_kb=1280,
        l3_kb=18432, mem_per_node_kb=131_661_408, tuned=True, hostname="ny4-trade-07",
        core_ids=[0, 2, 3, 5, 8, 10, 11, 13], isolated=iso, hugepages_1g_node={0: 0, 1: 16}, nic_node=1,
        extra_cmdline=("isolcpus=managed_irq,domain,9-15,25-31 nohz_full=9-15,25-31 rcu_nocbs=9-15,25-31 "
                       "rcu_nocb_poll irqaffinity=0-8,16-24"),
        seed=1)


def untuned_2s() -> Model:
    m = tuned_2s()
    m.name, m.tuned, m.hostname, m.isolated = "untuned-2s", False, "ny4-build-12", frozenset()
    m.hugepages_1g_node, m.extra_cmdline, m.seed = {}, "", 2
    return m


def cpu0_offline() -> Model:
    return Model(
        name="cpu0-offline", sockets=1, cores=4, threads=2,
        model_name="Intel(R) Xeon(R) E-2334 CPU @ 3.40GHz", family_model=(6, 167, 1),
        microcode="0x5d", base_mhz=3400, turbo_mhz=4800, l1d_kb=48, l1i_kb=32, l2_kb=512, l3_kb=8192,
        mem_per_node_kb=32_614_780, tuned=False, hostname="lab-e2334-01", offline=frozenset({0}),
        vendor=("Supermicro", "Super Server"), extra_cmdline="cpu0_hotplug", seed=3)


def unreadable() -> Model:
    return Model(
        name="unreadable", sockets=1, cores=4, threads=1,
        model_name="Intel(R) Xeon(R) E-2334 CPU @ 3.40GHz", family_model=(6, 167, 1),
        microcode="0x5d", base_mhz=3400, turbo_mhz=4800, l1d_kb=48, l1i_kb=32, l2_kb=512, l3_kb=8192,
        mem_per_node_kb=32_614_780, tuned=False, hostname="lab-e2334-02",
        vendor=("Supermicro", "Super Server"), seed=4)


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
        hugepages_1g_node={0: 0, 1: 0, 2: 0, 3: 32}, nic_node=3, vendor=("HPE", "ProLiant DL560 Gen11"),
        extra_cmdline=(f"isolcpus=managed_irq,domain,{lst} nohz_full={lst} rcu_nocbs={lst} rcu_nocb_poll "
                       f"irqaffinity={hk}"),
        seed=5)


MODELS = {"tuned-2s": tuned_2s, "untuned-2s": untuned_2s, "cpu0-offline": cpu0_offline,
          "unreadable": unreadable, "big-4s": big_4s}


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
        tuning = (f"{m.extra_cmdline} intel_pstate=active processor.max_cstate=1 skew_tick=1 tsc=reliable "
                  f"rcupdate.rcu_normal_after_boot=1 rcutree.nohz_full_patience_delay=1000 "
                  f"nosoftlockup nmi_watchdog=0 mce=ignore_ce audit=0 mitigations=off transparent_hugepage=never "
                  f"default_hugepagesz=1G hugepagesz=1G hugepages={pages}")
        root = "root=/dev/mapper/rl-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M"
    else:
        tuning = m.extra_cmdline
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
        {"numa_balancing": 1, "watchdog": 1, "nmi_watchdog": 1, "soft_watchdog": 1, "timer_migration": 1,
         "sched_rt_runtime_us": 950000, "sched_rt_period_us": 1000000, "hung_task_timeout_secs": 120}
    # admin-guide/sysctl/kernel.rst: a NO_HZ_FULL kernel leaves the nohz_full CPUs out of
    # the default watchdog_cpumask; otherwise it holds every possible CPU.
    kern["watchdog_cpumask"] = cpulist(m.housekeeping if m.isolated else m.cpus)
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
        "CONFIG_HARDLOCKUP_DETECTOR=y", "CONFIG_SOFTLOCKUP_DETECTOR=y", "CONFIG_COMPACTION=y"])
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
    # os-release(5) of the distribution that ships the el9_3 kernel above.
    f["/etc/os-release"] = "\n".join([
        'NAME="Rocky Linux"', 'VERSION="9.3 (Blue Onyx)"', 'ID="rocky"', 'ID_LIKE="rhel centos fedora"',
        'VERSION_ID="9.3"', 'PLATFORM_ID="platform:el9"', 'PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"',
        'ANSI_COLOR="0;32"', 'CPE_NAME="cpe:/o:rocky:rocky:9::baseos"', 'HOME_URL="https://rockylinux.org/"'])
    if m.tuned:
        f["/etc/sysctl.d/90-latency.conf"] = "\n".join([
            "# Low-latency host settings (see the host's runbook)", "kernel.watchdog = 0",
            "kernel.nmi_watchdog = 0", "kernel.timer_migration = 0", "kernel.numa_balancing = 0",
            "kernel.hung_task_timeout_secs = 600", "vm.swappiness = 10", "vm.stat_interval = 10",
            "vm.dirty_ratio = 10", "vm.dirty_background_ratio = 3"])

    # ---- interrupts --------------------------------------------------------------------------
    irqs = [(0, "IO-APIC", "2-edge", "timer"), (8, "IO-APIC", "8-edge", "rtc0"),
            (9, "IO-APIC", "9-fasteoi", "acpi"), (16, "IO-APIC", "16-fasteoi", "i801_smbus")]
    nic_irqs = []
    if m.nic_node is not None:
        for q in range(4):
            nic_irqs.append((120 + q, "IR-PCI-MSIX-0000:98:00.0", f"{q}-edge", f"ens1f0-TxRx-{q}"))
    hk_default = m.housekeeping if m.tuned else list(m.cpus)
    f["/proc/irq/default_smp_affinity"] = cpumask(hk_default, nr)
    # kernel/irq/proc.c show_interrupts and arch/x86/kernel/irq.c arch_show_interrupts.
    prec = 3 if nr <= 64 else 4
    lines = [" " * (prec + 8) + "".join(f"CPU{c:<8d}" for c in online)]
    for irq, chip, hw, name in irqs + nic_irqs:
        if name.startswith("ens1f0"):
            q = irq - 120
            target = [c for c in (m.housekeeping if m.tuned else online) if node_of[c] == m.nic_node]
            aff = [target[q % len(target)]]
        else:
            aff = hk_default if irq != 0 else [0 if 0 in online else online[0]]
        counts = [(rng.randint(1000, 900000) if c in aff[:1] else 0) if irq != 0 else (35 if c == aff[0] else 0)
                  for c in online]
        lines.append(f"{irq:>{prec}}: " + "".join(f"{n:10d} " for n in counts) + f" {chip:>8}  {hw:<8}   {name}")
        d = f"/proc/irq/{irq}"
        f[f"{d}/smp_affinity"] = cpumask(aff, nr)
        f[f"{d}/smp_affinity_list"] = cpulist(aff)
        f[f"{d}/effective_affinity_list"] = cpulist(aff[:1])
        f[f"{d}/node"] = str(m.nic_node if name.startswith("ens1f0") else 0)
    for label, desc in (("NMI", "Non-maskable interrupts"), ("LOC", "Local timer interrupts"),
                        ("RES", "Rescheduling interrupts"), ("CAL", "Function call interrupts"),
                        ("TLB", "TLB shootdowns")):
        counts = []
        for c in online:
            quiet = c in m.isolated
            if label == "LOC":
                counts.append(rng.randint(300, 3000) if quiet else rng.randint(5_000_000, 90_000_000))
            elif label == "NMI":
                counts.append(0 if m.tuned else rng.randint(4000, 9000))
            else:
                counts.append(rng.randint(0, 20) if quiet else rng.randint(1000, 900000))
        lines.append(f"{label:>{prec}}: " + "".join(f"{n:10d} " for n in counts) + f"  {desc}")
    lines.append(f"{'ERR':>{prec}}: {0:10d}")
    lines.append(f"{'MIS':>{prec}}: {0:10d}")
    f["/proc/interrupts"] = "\n".join(lines)

    # ---- NIC, DMI -------------------------------------------------------------------------------
    if m.nic_node is not None:
        pci = "/sys/devices/pci0000:97/0000:97:02.0/0000:98:00.0"
        local = [c for c in m.cpus if node_of[c] == m.nic_node]
        f["/sys/class/net/ens1f0"] = Link("../../devices/pci0000:97/0000:97:02.0/0000:98:00.0/net/ens1f0")
        f[f"{pci}/numa_node"] = str(m.nic_node)
        f[f"{pci}/local_cpulist"] = cpulist(local)
        f[f"{pci}/local_cpus"] = cpumask(local, nr)
        f[f"{pci}/vendor"] = "0x8086"
        f[f"{pci}/device"] = "0x159b"
        f[f"{pci}/net/ens1f0/device"] = Link("../../../0000:98:00.0")
        f[f"{pci}/net/ens1f0/address"] = "b4:96:91:a7:3c:10"
        f[f"{pci}/net/ens1f0/mtu"] = "1500"
        f[f"{pci}/net/ens1f0/operstate"] = "up"
        f[f"{pci}/net/ens1f0/speed"] = "25000"
    f["/sys/class/net/lo"] = Link("../../devices/virtual/net/lo")
    f["/sys/devices/virtual/net/lo/address"] = "00:00:00:00:00:00"
    f["/sys/devices/virtual/net/lo/mtu"] = "65536"
    f["/sys/devices/virtual/net/lo/operstate"] = "unknown"
    # Firmware traces: VT-d units and the chipset watchdog only where the BIOS leaves them
    # on (tuned: VT-d and the TCO watchdog off); uncore frequency pinned on the tuned host.
    if not m.tuned:
        for i in range(2 * m.sockets):
            f[f"/sys/class/iommu/dmar{i}"] = Link(f"../../devices/virtual/iommu/dmar{i}")
            f[f"/sys/devices/virtual/iommu/dmar{i}/intel-iommu/version"] = "1:0"
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
        "fixture": f"hand-built fixture host {m.name} (tests/hosts/build.py)"}, indent=1, sort_keys=True)
    uname = (f"Linux {m.hostname} {m.kernel} {m.kernel_build} x86_64 x86_64 x86_64 GNU/Linux\n")
    f["/hftinfra/commands.json"] = json.dumps({
        "uname -a": {"returncode": 0, "stdout": uname, "stderr": ""},
        "lscpu -J": {"returncode": 0, "stdout": _lscpu_json(m), "stderr": ""},
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


OVERLAYS = {"cpu0-offline": _overlay_cpu0_offline, "unreadable": _overlay_unreadable}


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
