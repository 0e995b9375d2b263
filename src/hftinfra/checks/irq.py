"""IRQ checks: irqbalance, the default IRQ affinity, and where every device interrupt may run."""

from __future__ import annotations

from hftinfra.checks.base import Check, Obs, Skip, Verdict, register
from hftinfra.checks.common import cmdline_fix, cpus_text, cpuset_variable, sysfs_fix, trading_nics
from hftinfra.cpulist import format_cpulist, format_cpumask
from hftinfra.host import Reason, Unread

IRQ_AFFINITY_DOC = "https://docs.kernel.org/core-api/irq/irq-affinity.html"
IRQBALANCE_DOC = "https://github.com/Irqbalance/irqbalance/blob/master/irqbalance.1"



def _nr_cpus(ctx) -> int | None:
    topo = ctx.probe("cpu.topology")
    return None if isinstance(topo, Unread) else topo.nr_cpus


# ---- irq.irqbalance -----------------------------------------------------------------------

def _irqbalance(ctx):
    ib = ctx.probe("irq.irqbalance")
    if isinstance(ib, Unread):
        return ib
    if isinstance(ib.pids, Unread):
        return ib.pids
    if not ib.pids:
        return Obs("stopped", "not running", note=f"next start would ban {cpus_text(ib.banned_configured)} "
                                                  f"({ib.banned_configured_from})")
    pids = ", ".join(map(str, ib.pids))
    if ib.oneshot:
        note = "started with --oneshot: it balanced once at start"
    else:
        note = ""
    banned = ib.banned_in_effect
    if isinstance(banned, Unread):
        return Unread(banned.reason, banned.source,
                      f"irqbalance runs (PID {pids}) and {ib.banned_in_effect_from}; its configuration "
                      f"would ban {cpus_text(ib.banned_configured)} ({ib.banned_configured_from})")
    iso = cpuset_variable(ctx, "isolated_cpus")
    shown = f"running (PID {pids}), bans {cpus_text(banned)} ({ib.banned_in_effect_from})"
    if not iso:
        # Nothing to keep interrupts off: the isolation checks say what is missing.
        return Obs("balances-isolated", shown, note="no isolated CPUs are known, so none is protected from it")
    left = iso - banned
    if left:
        return Obs("balances-isolated", shown, note=f"isolated CPUs {format_cpulist(left)} are not banned"
                   + (f"; {note}" if note else ""))
    return Obs("bans-isolated", shown, note=note)


def _irqbalance_fix(ctx, e, obs):
    iso = cpuset_variable(ctx, "isolated_cpus")
    cpulist = format_cpulist(iso) if iso else "<ISOLATED_CPULIST>"
    return "\n".join([
        "# either stop it (pin every device IRQ yourself, as the irq.affinity fix shows):",
        "systemctl disable --now irqbalance",
        "# or keep it and ban the isolated CPUs (irqbalance(1); IRQBALANCE_BANNED_CPULIST needs 1.8+),",
        "# in /etc/sysconfig/irqbalance (RHEL) or /etc/default/irqbalance (Debian), then restart it:",
        f"IRQBALANCE_BANNED_CPULIST={cpulist}",
        "systemctl restart irqbalance",
    ])


register(Check(
    id="irq.irqbalance", title="irqbalance stopped, or banned from the isolated CPUs", area="irq",
    summary="irqbalance rewrites IRQ affinities every 10 s. It keeps off the CPUs in "
            "IRQBALANCE_BANNED_CPUS (a non-empty hex mask wins), else IRQBALANCE_BANNED_CPULIST (even "
            "empty), else the kernel's isolated and nohz_full CPUs (irqbalance(1), cputree.c). Judged "
            "from the running daemon's environment.",
    reads=("/proc/*/comm", "/proc/PID/environ", "/proc/PID/cmdline", "/etc/sysconfig/irqbalance",
           "/etc/default/irqbalance", "/sys/devices/system/cpu/isolated", "/sys/devices/system/cpu/nohz_full"),
    docs=IRQBALANCE_DOC, observe=_irqbalance, fix=_irqbalance_fix,
))


# ---- irq.default_affinity -----------------------------------------------------------------

def _default_affinity(ctx):
    aff = ctx.probe("irq.affinity")
    if isinstance(aff, Unread):
        return aff
    value = aff.default_smp_affinity
    if isinstance(value, Unread):
        return value
    return Obs(value, f"{cpus_text(value)} (/proc/irq/default_smp_affinity)")


def _default_affinity_fix(ctx, e, obs):
    hk = cpuset_variable(ctx, "housekeeping_cpus")
    mask = format_cpumask(hk, _nr_cpus(ctx)) if hk else "<HEXMASK>"
    return (sysfs_fix("/proc/irq/default_smp_affinity", mask, "not persistent; at boot:") + "\n"
            + cmdline_fix(ctx, {"irqaffinity": format_cpulist(hk) if hk else "<CPULIST>"}))


register(Check(
    id="irq.default_affinity", title="Default affinity of new IRQs on housekeeping CPUs", area="irq",
    summary="The mask an interrupt set up without an affinity of its own starts with "
            "(core-api/irq/irq-affinity): irqaffinity= at boot, /proc/irq/default_smp_affinity after.",
    reads=("/proc/irq/default_smp_affinity",), docs=IRQ_AFFINITY_DOC, kind="cpuset",
    observe=_default_affinity, fix=_default_affinity_fix,
    normalises="the hex cpumask to a CPU set",
))


# ---- irq.affinity -------------------------------------------------------------------------

# GIC private peripheral interrupts (PPIs: INTIDs 16-31, and 1056-1119 on GICv3.1) are
# banked per CPU: the local timer and PMU of every CPU, firing on each by design, with no
# affinity to set (Arm GIC architecture specification, "INTID ranges").
_GIC_PPI = (range(16, 32), range(1056, 1120))


def _per_cpu(ctx, n: int) -> bool:
    counts = ctx.probe("irq.interrupts")
    table = None if isinstance(counts, Unread) else counts.interrupts
    row = None if table is None or isinstance(table, Unread) else table.get(n)
    if row is None or not row.chip or not row.chip.upper().startswith("GIC") or not (row.hwirq or "").isdigit():
        return False
    return any(int(row.hwirq) in r for r in _GIC_PPI)


def _device_irqs(ctx, aff):
    # A numbered IRQ with a handler is a device's; one with no action has nothing to run.
    return [i for i in aff.irqs if not isinstance(i.actions, Unread) and i.actions and not _per_cpu(ctx, i.irq)]


def _affinity(ctx):
    aff = ctx.probe("irq.affinity")
    if isinstance(aff, Unread):
        return aff
    if isinstance(aff.irqs, Unread):
        return aff.irqs
    devices = _device_irqs(ctx, aff)
    if not devices:
        table = next((i.actions for i in aff.irqs if isinstance(i.actions, Unread)), None)
        if table is not None:
            return table
        return Skip("no device interrupts in /proc/interrupts")
    union: set[int] = set()
    unread = []
    per_irq = {}
    for irq in devices:
        cpus, kind = irq.fires_on()
        if isinstance(cpus, Unread):
            unread.append((irq, cpus))
            continue
        union |= cpus
        per_irq[irq.irq] = (cpus, kind)
    if unread and not per_irq:
        return unread[0][1]
    note = f"{len(devices)} device IRQs"
    if unread:
        note += f"; {len(unread)} could not be read (IRQ {unread[0][0].irq}: {unread[0][1]})"
    return Obs(frozenset(union), f"device IRQs may fire on CPUs {cpus_text(frozenset(union))}", note=note,
               extra={"per_irq": per_irq, "devices": devices, "unread": unread})


def _affinity_judge(ctx, obs, expectation, missing):
    hk = cpuset_variable(ctx, "housekeeping_cpus")
    if missing or not hk or not isinstance(obs, Obs):
        return None
    devices = {i.irq: i for i in obs.extra.get("devices", ())}
    offenders = [(n, cpus - hk, kind) for n, (cpus, kind) in sorted(obs.extra.get("per_irq", {}).items())
                 if cpus - hk]
    if not offenders:
        if obs.extra.get("unread"):
            return Verdict("unknown", f"the readable device IRQs stay on housekeeping CPUs; {obs.note}")
        return Verdict("pass", obs.note)
    parts = []
    for n, outside, kind in offenders[:8]:
        irq = devices[n]
        label = ", ".join(irq.actions) if isinstance(irq.actions, tuple) else ""
        managed = " (kernel-managed: the kernel places it, a write is refused; isolcpus=managed_irq keeps it " \
                  "off isolated CPUs where its queue has a housekeeping CPU)" if irq.managed is True else ""
        parts.append(f"IRQ {n} ({label}) {kind} on CPUs {format_cpulist(outside)}{managed}")
    more = f"; and {len(offenders) - 8} more" if len(offenders) > 8 else ""
    return Verdict("fail", f"{len(offenders)} device IRQs may fire outside the housekeeping CPUs: "
                           + "; ".join(parts) + more)


def _affinity_fix(ctx, e, obs):
    hk = cpuset_variable(ctx, "housekeeping_cpus")
    cpulist = format_cpulist(hk) if hk else "<HOUSEKEEPING_CPULIST>"
    lines = ["# pin every device IRQ to the housekeeping CPUs (core-api/irq/irq-affinity; as root).",
             "# A kernel-managed IRQ refuses the write (EPERM on recent kernels, EIO on older ones): boot with",
             "# isolcpus=managed_irq,... instead.",
             "# Not persistent, and irqbalance would undo it: stop or ban it first (irq.irqbalance).",
             f"for d in /proc/irq/[0-9]*; do echo {cpulist} > \"$d/smp_affinity_list\" 2>/dev/null; done"]
    if isinstance(obs, Obs):
        for n, (cpus, _kind) in sorted(obs.extra.get("per_irq", {}).items()):
            if hk and cpus - hk:
                lines.append(f"cat /proc/irq/{n}/effective_affinity_list  # check IRQ {n} afterwards")
                break
    return "\n".join(lines)


register(Check(
    id="irq.affinity", title="Device IRQs fire only on housekeeping CPUs", area="irq",
    summary="Where each device interrupt may fire: its effective affinity (/proc/irq/N/"
            "effective_affinity_list, 4.13+; the configured smp_affinity before), for every numbered IRQ "
            "with a handler, per-CPU ones (GIC PPIs: each CPU's timer and PMU) aside. A kernel-managed "
            "IRQ (multi-queue drivers) cannot be moved by a write.",
    reads=("/proc/interrupts", "/proc/irq/*/effective_affinity_list", "/proc/irq/*/smp_affinity_list",
           "/sys/kernel/debug/irq/irqs/*"),
    docs=IRQ_AFFINITY_DOC, kind="cpuset", observe=_affinity, judge=_affinity_judge, fix=_affinity_fix,
))


# ---- irq.nic_numa_local -------------------------------------------------------------------

def _chain(ctx):
    from hftinfra.irq import build_queue_chain, cpu_node_map

    def compute():
        aff = ctx.probe("irq.affinity")
        if isinstance(aff, Unread):
            return aff
        nics = ctx.probe("net.interfaces")
        nodes = nics if isinstance(nics, Unread) else nics.nodes()
        return build_queue_chain(aff, nodes, cpu_node_map(ctx.probe("cpu.topology")), cpuset_variable(ctx, "isolated_cpus"))
    return ctx.cached("queue_chain", compute)


def _nic_numa_local(ctx):
    from hftinfra.irq import cpu_node_map

    nics = trading_nics(ctx)
    if isinstance(nics, str):
        return Skip(nics)
    if isinstance(nics, Unread):
        return nics
    chain = _chain(ctx)
    if isinstance(chain, Unread):
        return chain
    hk = cpuset_variable(ctx, "housekeeping_cpus")
    nodes = cpu_node_map(ctx.probe("cpu.topology"))
    multi = isinstance(nodes, dict) and len(set(nodes.values())) > 1
    parts, offenders, left, notes = [], [], [], []
    for nic in nics:
        links = [link for link in chain.of_interface(nic.name) if link.queue is not None] or \
            list(chain.of_interface(nic.name))
        if not links:
            why = dict(chain.unread).get(nic.name)
            if why is not None:
                return why
            left.append(f"{nic.name}: no interrupts of its own in /proc/interrupts")
            continue
        node = nic.numa_node
        if isinstance(node, Unread):
            return node
        if node is None:
            left.append(f"{nic.name}: virtual, no NUMA node")
            continue
        if multi and node < 0:
            return Unread(Reason.MISSING, f"/sys/class/net/{nic.name}/device/numa_node",
                          "-1: the firmware gives no NUMA node for this NIC, so locality cannot be judged")
        if multi and isinstance(nodes, Unread):
            return nodes
        local = frozenset(c for c, n in nodes.items() if n == node) if multi and isinstance(nodes, dict) else None
        allowed = local if hk is None else (hk if local is None else hk & local)
        bad = []
        for link in links:
            if isinstance(link.cpus, Unread):
                return link.cpus
            if allowed is not None and link.cpus - allowed:
                bad.append(link)
        where = f"node {node}" if multi else "the only NUMA node"
        what = "housekeeping CPUs" if hk is not None else "CPUs"
        parts.append(f"{nic.name} ({where}): {len(links) - len(bad)} of {len(links)} queue IRQs on its {what}")
        for link in bad[:4]:
            outside = link.cpus - allowed
            remote = " on another node" if local is not None and outside - local else ""
            iso = " (isolated)" if link.isolated else ""
            label = ", ".join(link.actions) or f"IRQ {link.irq}"
            offenders.append(f"IRQ {link.irq} ({label}) on CPUs {format_cpulist(outside)}{remote}{iso}")
        if len(bad) > 4:
            offenders.append(f"and {len(bad) - 4} more of {nic.name}")
    if hk is None:
        notes.append("no housekeeping CPUs known: only the NUMA node is judged")
    if not parts:
        return Skip("; ".join(left) or "no trading NIC has interrupts to judge")
    value = "local" if not offenders else "not-local"
    note = "; ".join(p for p in (("off: " + "; ".join(offenders)) if offenders else "", *left, *notes) if p)
    return Obs(value, "; ".join(parts), note=note, extra={"nics": [n.name for n in nics]})


def _nic_numa_local_fix(ctx, e, obs):
    from hftinfra.irq import cpu_node_map

    hk = cpuset_variable(ctx, "housekeeping_cpus")
    nodes = cpu_node_map(ctx.probe("cpu.topology"))
    nics = trading_nics(ctx)
    lines = ["# pin each trading NIC's queue IRQs to housekeeping CPUs of the NIC's own node",
             "# (core-api/irq/irq-affinity); stop or ban irqbalance first (irq.irqbalance). Not persistent."]
    chain = _chain(ctx)
    for nic in nics if isinstance(nics, list) else ():
        node = nic.numa_node
        cpus = hk
        if isinstance(node, int) and node >= 0 and isinstance(nodes, dict):
            local = frozenset(c for c, n in nodes.items() if n == node)
            cpus = (hk & local) if hk else local
        target = sorted(cpus) if cpus else []
        links = [] if isinstance(chain, Unread) else [link for link in chain.of_interface(nic.name) if link.queue]
        if all(isinstance(link.cpus, frozenset) and cpus is not None and link.cpus <= cpus for link in links):
            continue  # this NIC is already local
        for i, link in enumerate(links):
            cpu = str(target[i % len(target)]) if target else "<CPU>"
            lines.append(f"echo {cpu} > /proc/irq/{link.irq}/smp_affinity_list  # {', '.join(link.actions)}")
    return "\n".join(lines)


register(Check(
    id="irq.nic_numa_local", title="Trading NICs' queue IRQs on housekeeping CPUs of the NIC's node", area="irq",
    summary="The whole chain NIC queue -> IRQ -> CPU -> NUMA node -> role: each trading NIC's queue "
            "interrupts (msi_irqs and the names drivers give) fire on housekeeping CPUs of the node the "
            "NIC hangs off (device/numa_node), so the packet's DMA, its interrupt and the softirq stay on "
            "one node and off the isolated CPUs.",
    reads=("/sys/class/net/IF/device/msi_irqs", "/sys/class/net/IF/device/numa_node", "/proc/interrupts",
           "/proc/irq/*/effective_affinity_list", "/sys/devices/system/node/node*/cpulist"),
    docs=IRQ_AFFINITY_DOC, observe=_nic_numa_local, fix=_nic_numa_local_fix,
))


# ---- irq.isolated_noise -------------------------------------------------------------------

# Field -> which counters it sums, per isolated CPU. arm64 prints its IPIs as IPI0.. with
# the same descriptions x86 gives RES, CAL and TLB (arch/arm64/kernel/smp.c ipi_types).
NOISE_FIELDS = {
    "device_per_s": "device interrupts",
    "loc_per_s": "local timer",
    "res_per_s": "rescheduling IPIs",
    "cal_per_s": "function-call IPIs",
    "tlb_per_s": "TLB shootdowns",
    "softirq_per_s": "softirqs",
}
_ARCH_FIELD = {"LOC": "loc_per_s", "RES": "res_per_s", "CAL": "cal_per_s", "TLB": "tlb_per_s"}
_DESCRIPTION_FIELD = (("Rescheduling", "res_per_s"), ("Function call", "cal_per_s"),
                      ("TLB shootdown", "tlb_per_s"), ("Local timer", "loc_per_s"))
DEFAULT_NOISE_WINDOW_MS = 250


def _noise_prepare(ctx):
    from hftinfra.measure.interrupts import take_reading

    if ctx.host.is_live:
        ctx.cached("noise_first_reading", lambda: take_reading(ctx.host))


def _noise_window_s(ctx) -> float:
    value = ctx.variables.get("noise_window_ms")
    return (value if isinstance(value, int) and value > 0 else DEFAULT_NOISE_WINDOW_MS) / 1000


def noise_rates(ctx):
    """The interrupt and softirq rates over the audit's window (live hosts only)."""
    from hftinfra.measure.interrupts import finish_window, recorded_window, take_reading

    def compute():
        if not ctx.host.is_live:
            return recorded_window(ctx.host)
        first = ctx.cached("noise_first_reading", lambda: take_reading(ctx.host))
        if isinstance(first, Unread):
            return first
        return finish_window(ctx.host, first, _noise_window_s(ctx))
    return ctx.cached("noise_rates", compute)


def _noise_field(ctx, rate) -> str | None:
    if rate.kind == "softirq":
        return "softirq_per_s"
    if rate.kind == "arch":
        if rate.source in _ARCH_FIELD:
            return _ARCH_FIELD[rate.source]
        return next((f for prefix, f in _DESCRIPTION_FIELD if rate.label.startswith(prefix)), None)
    if rate.source.isdigit() and _per_cpu(ctx, int(rate.source)):
        return "loc_per_s" if "timer" in rate.label else None  # a GIC PPI: the arch timer or PMU
    return "device_per_s"


def _isolated_noise(ctx):
    from hftinfra.checks.base import PerCpu

    iso = cpuset_variable(ctx, "isolated_cpus")
    if not iso:
        record = ctx.probe("cpu.isolation")
        known = record if isinstance(record, Unread) else record.isolated
        if isinstance(known, Unread):
            return known  # which CPUs are isolated could not be read: not "none"
        return Skip("no isolated CPUs to measure")
    rates = noise_rates(ctx)
    if isinstance(rates, Unread):
        return rates
    online = ctx.probe("cpu.isolation")
    cpus = sorted(iso & online.online) if not isinstance(online, Unread) and isinstance(online.online, frozenset) \
        else sorted(iso)
    sums = {f: {c: 0.0 for c in cpus} for f in NOISE_FIELDS}
    seen: dict[str, set[int]] = {f: set() for f in NOISE_FIELDS}
    top: list = []
    for rate in rates.on(cpus, nonzero=False):
        field = _noise_field(ctx, rate)
        if field is None:
            continue
        sums[field][rate.cpu] += rate.per_second
        seen[field].add(rate.cpu)
        if rate.delta:
            top.append(rate)
    value = {}
    for field, per in sums.items():
        if field == "softirq_per_s" and rates.softirqs_unread is not None:
            value[field] = rates.softirqs_unread
        elif field != "softirq_per_s" and rates.interrupts_unread is not None:
            value[field] = rates.interrupts_unread
        elif field == "loc_per_s" and not seen[field]:
            value[field] = Unread(Reason.MISSING, "/proc/interrupts", "no local timer row (LOC, or arch_timer)")
        else:
            value[field] = PerCpu({c: int(round(v)) for c, v in per.items()})
    top.sort(key=lambda r: -r.per_second)
    busiest = ", ".join(f"{r.source}{' ' + r.label if r.kind == 'irq' and r.label else ''} "
                        f"{r.per_second:.0f}/s on CPU {r.cpu}" for r in top[:5])
    note = f"over {rates.window_s * 1000:.0f} ms on CPUs {format_cpulist(frozenset(cpus))}; one event reads as " \
           f"{1 / rates.window_s:.0f}/s" + (f"; busiest: {busiest}" if busiest else "; no event at all")
    return Obs(value, note=note)


def _noise_fix(ctx, e, obs):
    return "\n".join([
        "# each kind of noise has its own lever; the other checks' findings say which is off here:",
        "#   device IRQs  -> irq.affinity, irq.nic_numa_local, irq.irqbalance (pin them to housekeeping CPUs)",
        "#   local timer  -> cpu.nohz_full (one runnable task per isolated CPU, nohz_full=)",
        "#   RES/CAL/TLB  -> move other tasks and their threads off (cpu.systemd_affinity, taskset); TLB",
        "#                   shootdowns come from a process whose threads span isolated and other CPUs",
        "#   softirqs     -> net.rps, irq.affinity (NET_RX), cpu.rcu_nocbs (RCU), kernel.timer_migration (TIMER)",
        "# then measure again: hftinfra audit --only irq --var noise_window_ms=2000",
    ])


register(Check(
    id="irq.isolated_noise", title="Isolated CPUs see (almost) no interrupts, measured", area="irq",
    summary="Counts /proc/interrupts and /proc/softirqs twice over a short window (noise_window_ms; its "
            "first reading is taken when the audit starts) and judges the rates on each isolated CPU: "
            "device IRQs, local timer, rescheduling, function-call and TLB IPIs, softirqs. From a "
            "snapshot, the counter window it recorded at capture; unknown when it has none.",
    reads=("/proc/interrupts", "/proc/softirqs"), docs=IRQ_AFFINITY_DOC, kind="int",
    fields={f: "int" for f in NOISE_FIELDS}, observe=_isolated_noise, prepare=_noise_prepare, fix=_noise_fix,
    normalises="rates per second per isolated CPU, rounded to whole events",
))
