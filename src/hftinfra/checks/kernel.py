"""Kernel checks: the kernel's own sources of jitter (ticks, watchdogs, timer migration,
vmstat, RT throttling, clocksource, machine-check polling) and its build choices."""

from __future__ import annotations

from hftinfra.checks.base import Check, Obs, Skip, register
from hftinfra.checks.common import (
    PROC_SYS_KERNEL_ANCHORS,
    cmdline_fix,
    not_on_this_kernel,
    record_field,
    suggest,
    sysctl_fix,
    sysfs_fix,
)
from hftinfra.host import Reason, Unread

KP = "https://docs.kernel.org/admin-guide/kernel-parameters.html"
SYSCTL_KERNEL = "https://docs.kernel.org/admin-guide/sysctl/kernel.html"
SYSCTL_VM = "https://docs.kernel.org/admin-guide/sysctl/vm.html"


# ---- kernel.skew_tick ---------------------------------------------------------------------

def _skew_tick(ctx):
    value = record_field(ctx, "kernel.tick", "skew_tick")
    if isinstance(value, Unread):
        return value
    if value is None:
        return Obs(0, "0 (no skew_tick= on the command line)")
    try:
        return Obs(int(value), f"{int(value)} (skew_tick={value})")
    except ValueError:
        return Unread(Reason.MALFORMED, "/proc/cmdline", f"skew_tick={value!r} is not a number")


register(Check(
    id="kernel.skew_tick", title="Scheduler ticks skewed across CPUs", area="kernel",
    summary="skew_tick=1 offsets each CPU's periodic tick so they do not all take the jiffies "
            "lock at the same instant; without it, large machines see tick-aligned latency spikes.",
    reads=("/proc/cmdline",), docs=KP, kind="int", observe=_skew_tick,
    fix=lambda ctx, e, obs: cmdline_fix(ctx, {"skew_tick": str(suggest(e, 1))}),
))


# ---- kernel.timer_migration ---------------------------------------------------------------

register(Check(
    id="kernel.timer_migration", title="Timers stay on the CPU that armed them", area="kernel",
    summary="With timer_migration=1 the kernel may move timers of idle CPUs elsewhere, so "
            "housekeeping CPUs fire timers armed on busy ones in a pattern that is hard to control.",
    reads=("/proc/sys/kernel/timer_migration",), docs=SYSCTL_KERNEL, kind="int",
    observe=lambda ctx: Obs(record_field(ctx, "kernel.tick", "timer_migration")),
    fix=lambda ctx, e, obs: sysctl_fix("kernel.timer_migration", suggest(e, 0)),
))


# ---- kernel.watchdog (soft lockup detector) -----------------------------------------------

def _soft_watchdog(ctx):
    w = ctx.probe("kernel.watchdog")
    if isinstance(w, Unread):
        return w
    parts = []
    if isinstance(w.nosoftlockup, bool) and w.nosoftlockup:
        parts.append("nosoftlockup on the command line")
    if isinstance(w.watchdog, int) and w.watchdog == 0:
        return Obs(False, "off (kernel.watchdog = 0)")
    if isinstance(w.soft_watchdog, int):
        state = bool(w.soft_watchdog)
        shown = f"{'on' if state else 'off'} (kernel.soft_watchdog = {w.soft_watchdog}"
        shown += (", " + parts[0] if parts else "") + ")"
        return Obs(state, shown)
    if isinstance(w.watchdog, Unread) and isinstance(w.soft_watchdog, Unread):
        if isinstance(w.nosoftlockup, bool) and w.nosoftlockup:
            return Obs(False, "off (nosoftlockup on the command line; sysctls unreadable)")
        return w.soft_watchdog
    return w.soft_watchdog


register(Check(
    id="kernel.watchdog", title="Soft-lockup watchdog off", area="kernel",
    summary="The soft-lockup detector runs a per-CPU hrtimer and a high-priority watchdog thread "
            "on every CPU, including isolated ones (admin-guide/lockup-watchdogs).",
    reads=("/proc/sys/kernel/watchdog", "/proc/sys/kernel/soft_watchdog", "/proc/cmdline"),
    docs="https://docs.kernel.org/admin-guide/lockup-watchdogs.html", kind="bool", observe=_soft_watchdog,
    fix=lambda ctx, e, obs: sysctl_fix("kernel.soft_watchdog", 0) + "\n"
        + cmdline_fix(ctx, {"nosoftlockup": None}, "keeps it off from boot"),
))


# ---- kernel.nmi_watchdog -----------------------------------------------------------------

register(Check(
    id="kernel.nmi_watchdog", title="NMI (hard-lockup) watchdog off", area="kernel",
    summary="The hard-lockup detector fires a perf NMI on every CPU every few seconds; each NMI "
            "interrupts the latency-critical thread wherever it is.",
    reads=("/proc/sys/kernel/nmi_watchdog", "/proc/cmdline"),
    docs="https://docs.kernel.org/admin-guide/lockup-watchdogs.html", kind="int",
    observe=lambda ctx: Obs(record_field(ctx, "kernel.watchdog", "nmi_watchdog")),
    fix=lambda ctx, e, obs: sysctl_fix("kernel.nmi_watchdog", suggest(e, 0)) + "\n"
        + cmdline_fix(ctx, {"nmi_watchdog": "0"}, "keeps it off from boot"),
))


# ---- kernel.sched_rt_runtime -------------------------------------------------------------

def _rt_runtime(ctx):
    rt = ctx.probe("kernel.rt_throttling")
    if isinstance(rt, Unread):
        return rt
    if isinstance(rt.runtime_us, Unread):
        return rt.runtime_us
    period = rt.period_us if isinstance(rt.period_us, int) else "?"
    shown = f"{rt.runtime_us} of {period} us" if rt.runtime_us >= 0 else "-1 (RT throttling disabled)"
    return Obs(rt.runtime_us, shown)


register(Check(
    id="kernel.sched_rt_runtime", title="RT throttling", area="kernel",
    summary="Realtime tasks may use sched_rt_runtime_us of every sched_rt_period_us; a SCHED_FIFO "
            "spinner is stopped for the rest of the period (scheduler/sched-rt-group). -1 removes "
            "the limit, which also removes the safety net against a runaway RT thread.",
    reads=("/proc/sys/kernel/sched_rt_runtime_us", "/proc/sys/kernel/sched_rt_period_us"),
    docs="https://docs.kernel.org/scheduler/sched-rt-group.html", kind="int", observe=_rt_runtime,
    fix=lambda ctx, e, obs: sysctl_fix("kernel.sched_rt_runtime_us", suggest(e, 950000)),
))


# ---- kernel.stat_interval ----------------------------------------------------------------

register(Check(
    id="kernel.stat_interval", title="vmstat update interval", area="kernel",
    summary="Every vm.stat_interval seconds each CPU folds its vm counters, a per-CPU work item "
            "that lands on isolated CPUs too; a longer interval means fewer interruptions.",
    reads=("/proc/sys/vm/stat_interval",), docs=SYSCTL_VM, kind="int",
    observe=lambda ctx: Obs(record_field(ctx, "memory.sysctl", "stat_interval")),
    fix=lambda ctx, e, obs: sysctl_fix("vm.stat_interval", suggest(e, 10)),
))


# ---- kernel.hung_task --------------------------------------------------------------------

def _hung_task(ctx):
    value = record_field(ctx, "kernel.watchdog", "hung_task_timeout_secs")
    evidence = not_on_this_kernel(ctx, value, "/proc/sys/kernel", PROC_SYS_KERNEL_ANCHORS,
                                  "CONFIG_DETECT_HUNG_TASK")
    if evidence:
        return Skip(f"this kernel has no hung-task detector ({evidence})")
    if isinstance(value, int) and value == 0:
        return Obs(0, "0 (hung-task check disabled)")
    return Obs(value)


register(Check(
    id="kernel.hung_task", title="Hung-task check interval", area="kernel",
    summary="khungtaskd wakes every hung_task_timeout_secs to scan all tasks; a long interval "
            "(or 0, off) keeps that scan rare.",
    reads=("/proc/sys/kernel/hung_task_timeout_secs",), docs=SYSCTL_KERNEL, kind="int", observe=_hung_task,
    fix=lambda ctx, e, obs: sysctl_fix("kernel.hung_task_timeout_secs", suggest(e, 600)),
))


# ---- kernel.clocksource ------------------------------------------------------------------

def _clocksource(ctx):
    cs = ctx.probe("kernel.clocksource")
    if isinstance(cs, Unread):
        return cs
    value = {"current": cs.current, "tsc_param": cs.tsc}
    notes = []
    if isinstance(cs.available, tuple) and "tsc" not in cs.available:
        notes.append("tsc is not among the available clocksources")
    missing = cs.missing_tsc_flags()
    if isinstance(missing, tuple) and missing:
        notes.append(f"CPU lacks {', '.join(missing)}")
    shown = f"{cs.current if isinstance(cs.current, str) else cs.current}"
    if isinstance(cs.tsc, str):
        shown += f", tsc={cs.tsc}"
    elif isinstance(cs.tsc, Unread):
        shown += f", tsc= {cs.tsc}"
    else:
        shown += ", no tsc= on the command line"
    return Obs(value, shown, "; ".join(notes))


def _clocksource_fix(ctx, e, obs):
    want = e.get("current").suggest() if isinstance(e, dict) and "current" in e else "tsc"
    tsc = e.get("tsc_param").suggest() if isinstance(e, dict) and "tsc_param" in e else None
    params = {"clocksource": want}
    if tsc:
        params["tsc"] = tsc
    return (sysfs_fix("/sys/devices/system/clocksource/clocksource0/current_clocksource", want,
                      "the command line below keeps it")
            + "\n" + cmdline_fix(ctx, params))


register(Check(
    id="kernel.clocksource", title="Clocksource is the TSC", area="kernel",
    summary="clock_gettime() reads the TSC in user space (vDSO) in tens of ns; hpet or acpi_pm "
            "need a slow I/O read. tsc=reliable stops the clocksource watchdog from re-checking the "
            "TSC against a slower clock (only right where the TSC is invariant).",
    reads=("/sys/devices/system/clocksource/clocksource0/current_clocksource",
           "/sys/devices/system/clocksource/clocksource0/available_clocksource", "/proc/cpuinfo",
           "/proc/cmdline"),
    docs="https://docs.kernel.org/virt/kvm/x86/timekeeping.html", kind="str",
    fields={"current": "str", "tsc_param": "str"}, observe=_clocksource, fix=_clocksource_fix,
))


# ---- kernel.mce_ignore_ce ----------------------------------------------------------------

def _mce(ctx):
    mc = ctx.probe("kernel.mce")
    if isinstance(mc, Unread):
        return mc
    evidence = not_on_this_kernel(ctx, mc.ignore_ce, "/sys/devices/system", ("cpu",), "CONFIG_X86_MCE")
    if evidence:
        return Skip(f"no machine-check device: not x86, or MCE off ({evidence})")
    if isinstance(mc.ignore_ce, Unread):
        return mc.ignore_ce
    note = f"mce={mc.mce} on the command line" if isinstance(mc.mce, str) else ""
    return Obs(mc.ignore_ce, note=note)


register(Check(
    id="kernel.mce_ignore_ce", title="Corrected machine-check errors not polled", area="kernel",
    summary="With ignore_ce=1 the kernel stops the periodic poll and CMCI interrupts for corrected "
            "errors (arch/x86/x86_64/machinecheck); uncorrected errors are still handled.",
    reads=("/sys/devices/system/machinecheck/machinecheck0/ignore_ce", "/proc/cmdline"),
    docs="https://docs.kernel.org/arch/x86/x86_64/machinecheck.html", kind="int", observe=_mce,
    fix=lambda ctx, e, obs: ("for f in /sys/devices/system/machinecheck/machinecheck*/ignore_ce; "
                             "do echo 1 > \"$f\"; done\n"
                             + cmdline_fix(ctx, {"mce": "ignore_ce"}, "keeps it from boot")),
))


# ---- kernel.mitigations ------------------------------------------------------------------

def _mitigations(ctx):
    m = ctx.probe("kernel.mitigations")
    if isinstance(m, Unread):
        return m
    if isinstance(m.configured, Unread):
        return m.configured
    value = m.configured or "auto"
    counts = []
    for state in ("vulnerable", "mitigated", "not-affected"):
        names = m.by_state(state)
        if isinstance(names, tuple) and names:
            counts.append(f"{len(names)} {state}")
    shown = f"{value}{' (default)' if m.configured is None else ''}"
    if counts:
        shown += f"; {', '.join(counts)}"
    return Obs(value, shown)


register(Check(
    id="kernel.mitigations", title="Speculative-execution mitigations", area="kernel",
    summary="Mitigations for CPU vulnerabilities (admin-guide/hw-vuln) add work to every syscall, "
            "interrupt and context switch. Turning them off is a security decision, only for a host "
            "that runs trusted code on an isolated network.",
    reads=("/proc/cmdline", "/sys/devices/system/cpu/vulnerabilities/*"),
    docs="https://docs.kernel.org/admin-guide/hw-vuln/index.html", kind="str", observe=_mitigations,
    fix=lambda ctx, e, obs: ("# Security trade-off: decide this with your security team.\n"
                             + cmdline_fix(ctx, {"mitigations": str(suggest(e, "off"))})),
))


# ---- kernel.preempt ----------------------------------------------------------------------

def _preempt(ctx):
    p = ctx.probe("kernel.preempt")
    if isinstance(p, Unread):
        return p
    if p.rt is True:
        return Obs("rt", f"rt ({p.rt_evidence})")
    if isinstance(p.mode, Unread):
        return p.mode
    return Obs(p.mode, f"{p.mode} ({p.mode_source})")


def _preempt_fix(ctx, e, obs):
    p = ctx.probe("kernel.preempt")
    want = suggest(e, "full")
    if want != "rt" and not isinstance(p, Unread) and p.dynamic is True:
        return cmdline_fix(ctx, {"preempt": str(want)})
    return (f"# this kernel cannot switch to {want} at boot (no PREEMPT_DYNAMIC, or {want} needs its own "
            "build): install a kernel built with it (a PREEMPT_RT kernel for rt)")


register(Check(
    id="kernel.preempt", title="Kernel preemption model", area="kernel",
    summary="How soon a woken high-priority thread gets a CPU that is running kernel code: "
            "none/voluntary wait for a preemption point, full preempts almost anywhere, rt also "
            "makes interrupt handlers and most locks preemptible.",
    reads=("/sys/kernel/realtime", "/proc/sys/kernel/version", "/sys/kernel/debug/sched/preempt",
           "/boot/config-*", "/proc/cmdline"),
    docs=KP, kind="str", observe=_preempt, fix=_preempt_fix,
))

