"""IRQ checks: irqbalance, the default IRQ affinity, and where every device interrupt may run."""

from __future__ import annotations

from hftinfra.checks.base import Check, Obs, Skip, Verdict, register
from hftinfra.checks.common import cmdline_fix, cpus_text, sysfs_fix
from hftinfra.cpulist import format_cpulist, format_cpumask
from hftinfra.host import Reason, Unread

IRQ_AFFINITY_DOC = "https://docs.kernel.org/core-api/irq/irq-affinity.html"
IRQBALANCE_DOC = "https://github.com/Irqbalance/irqbalance/blob/master/irqbalance.1"


def _cpus(ctx, name):
    value = ctx.variables.get(name)
    return value if isinstance(value, frozenset) else None


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
    iso = _cpus(ctx, "isolated_cpus")
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
    iso = _cpus(ctx, "isolated_cpus")
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
    hk = _cpus(ctx, "housekeeping_cpus")
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

def _where(irq):
    """Where an IRQ may fire: its effective affinity, else the affinity it was given."""
    if isinstance(irq.effective_affinity, frozenset):
        return irq.effective_affinity, "effective"
    if isinstance(irq.effective_affinity, Unread) and irq.effective_affinity.reason is Reason.MISSING \
            and isinstance(irq.smp_affinity, frozenset):
        return irq.smp_affinity, "configured"  # kernels without effective affinity (before 4.13)
    return (irq.effective_affinity if isinstance(irq.effective_affinity, Unread) else irq.smp_affinity), ""


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
        cpus, kind = _where(irq)
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
    hk = _cpus(ctx, "housekeeping_cpus")
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
    hk = _cpus(ctx, "housekeeping_cpus")
    cpulist = format_cpulist(hk) if hk else "<HOUSEKEEPING_CPULIST>"
    lines = ["# pin every device IRQ to the housekeeping CPUs (core-api/irq/irq-affinity; as root).",
             "# A kernel-managed IRQ refuses the write (EIO): boot with isolcpus=managed_irq,... instead.",
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
