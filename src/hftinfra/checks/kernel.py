"""Kernel checks: the kernel's own sources of jitter (ticks, watchdogs, timer migration,
vmstat, RT throttling, clocksource, RCU, machine-check polling) and its build choices.

Where a setting's effect changed between kernel versions, the check reads the running
kernel's version (``kernel.version``) and its finding names the rule it applied."""

from __future__ import annotations

from hftinfra.checks.base import Check, Obs, Skip, Verdict, compare, first_unread, register
from hftinfra.checks.common import (
    PROC_SYS_KERNEL_ANCHORS,
    cmdline_fix,
    cpus_text,
    kernel_at_least,
    not_on_this_kernel,
    record_field,
    suggest,
    sysctl_fix,
    sysfs_fix,
)
from hftinfra.cpulist import format_cpulist
from hftinfra.host import Reason, Unread

KP = "https://docs.kernel.org/admin-guide/kernel-parameters.html"
SYSCTL_KERNEL = "https://docs.kernel.org/admin-guide/sysctl/kernel.html"
SYSCTL_VM = "https://docs.kernel.org/admin-guide/sysctl/vm.html"
LOCKUP = "https://docs.kernel.org/admin-guide/lockup-watchdogs.html"
RCUPDATE_PARAMS = "/sys/module/rcupdate/parameters"
RCUTREE_PARAMS = "/sys/module/rcutree/parameters"
# Parameters every tree-RCU kernel has had for years: a listing without them is partial.
RCUTREE_ANCHORS = ("blimit", "qhimark", "qlowmark", "jiffies_till_first_fqs")


def _kernel_name(ctx) -> str:
    version = ctx.probe("kernel.version")
    numbers = version if isinstance(version, Unread) else version.numbers
    if isinstance(numbers, Unread):
        return "this kernel (version unknown)"
    return f"kernel {numbers[0]}.{numbers[1]}"


def _config(ctx):
    from hftinfra.kernel import read_kernel_config

    # The same cache key as checks.common.kernel_option: the config is read once per audit.
    return ctx.cached("kernel_config", lambda: read_kernel_config(ctx.host))


def _kstrtobool(text: str) -> bool | None:
    """A boolean boot parameter as lib/kstrtox.c (kstrtobool) reads it; None if it is not one."""
    t = text.strip().lower()
    if t == "on" or t[:1] in ("y", "1"):
        return True
    if t in ("off", "of") or t[:1] in ("n", "0"):
        return False
    return None


def _isolated(ctx) -> frozenset[int] | None:
    iso = ctx.variables.get("isolated_cpus")
    return iso if isinstance(iso, frozenset) and iso else None


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

def _timer_model(ctx) -> str:
    """Which timer-migration model this kernel has, for the finding."""
    pull = kernel_at_least(ctx, 6, 9)
    if isinstance(pull, Unread):
        return ""
    name = _kernel_name(ctx)
    if not pull:
        # kernel/time/timer.c get_target_base and kernel/sched/core.c get_nohz_timer_target
        # before the pull model: the target is chosen when the timer is armed.
        return (f"{name}: migration picks a timer's CPU when it is armed, moving unpinned timers armed on "
                "an idle or nohz_full CPU to a busy housekeeping CPU")
    # "timers: Move from a push remote at enqueue to a pull at expiry model" (6.9);
    # "timers/migration: Exclude isolated cpus from hierarchy" (6.19).
    if kernel_at_least(ctx, 6, 19) is True:
        return (f"{name}: an awake CPU expires the timers of idle ones (pull model, 6.9+); "
                "isolcpus=domain CPUs take no part (6.19+)")
    return (f"{name}: an awake CPU expires the timers of idle ones (pull model, 6.9+); before 6.19 "
            "that can be a busy isolated CPU whose tick still runs")


def _timer_migration(ctx):
    value = record_field(ctx, "kernel.tick", "timer_migration")
    if isinstance(value, Unread):
        return value
    return Obs(value, note=_timer_model(ctx))


register(Check(
    id="kernel.timer_migration", title="Timers stay on the CPU that armed them", area="kernel",
    summary="timer_migration=1 (the default) migrates timers away from idle CPUs so they can stay idle "
            "(admin-guide/sysctl/kernel.rst): before 6.9 at arm time, towards a busy housekeeping CPU; "
            "since 6.9 at expiry, by whichever CPU is awake, which before 6.19 can be a busy isolated one. "
            "0 makes every CPU expire its own timers, those an isolated thread arms included.",
    reads=("/proc/sys/kernel/timer_migration", "/proc/sys/kernel/osrelease"), docs=SYSCTL_KERNEL, kind="int",
    observe=_timer_migration,
    fix=lambda ctx, e, obs: sysctl_fix("kernel.timer_migration", suggest(e, 0)),
))


# ---- kernel.watchdog (soft lockup detector) -----------------------------------------------

def _mask_note(ctx, mask) -> str:
    """Where a lockup detector that is on runs, against the isolated CPUs when known."""
    if isinstance(mask, Unread):
        return f"kernel.watchdog_cpumask {mask}"
    text = f"runs on CPUs {cpus_text(mask)} (kernel.watchdog_cpumask)"
    iso = _isolated(ctx)
    if iso is None:
        return text
    inside = mask & iso
    if inside:
        return f"{text}, isolated CPUs {format_cpulist(inside)} among them"
    return f"{text}, none of the isolated CPUs {format_cpulist(iso)}"


def _outside_mask_judge(ctx, obs, expectation, missing):
    """A detector that is on, but whose kernel.watchdog_cpumask leaves out every isolated
    CPU, interrupts none of them: both detectors run only on CPUs in the mask, which on a
    NO_HZ_FULL kernel starts without the nohz_full CPUs (admin-guide/lockup-watchdogs.rst,
    admin-guide/sysctl/kernel.rst watchdog_cpumask)."""
    if expectation is None or missing or first_unread(obs.value) is not None:
        return None
    if compare(expectation, obs.value, None)[0]:
        return None
    mask, iso = obs.extra.get("mask"), _isolated(ctx)
    if iso is None or not isinstance(mask, frozenset) or mask & iso:
        return None
    return Verdict("pass", f"on, but not where it matters here: {obs.note}")


def _mask_alternative(ctx) -> str:
    hk = ctx.variables.get("housekeeping_cpus")
    if not (isinstance(hk, frozenset) and hk):
        return ""
    return ("\n# or keep the lockup detectors, on the housekeeping CPUs only (lockup-watchdogs.rst):\n"
            + sysctl_fix("kernel.watchdog_cpumask", format_cpulist(hk)))


def _soft_watchdog(ctx):
    w = ctx.probe("kernel.watchdog")
    if isinstance(w, Unread):
        return w
    nosoftlockup = isinstance(w.nosoftlockup, bool) and w.nosoftlockup
    if isinstance(w.watchdog, int) and w.watchdog == 0:
        return Obs(False, "off (kernel.watchdog = 0)")
    if isinstance(w.soft_watchdog, int):
        state = bool(w.soft_watchdog)
        shown = (f"{'on' if state else 'off'} (kernel.soft_watchdog = {w.soft_watchdog}"
                 + (", nosoftlockup on the command line" if nosoftlockup else "") + ")")
        if not state:
            return Obs(False, shown)
        return Obs(True, shown, _mask_note(ctx, w.watchdog_cpumask), {"mask": w.watchdog_cpumask})
    if isinstance(w.watchdog, Unread) and nosoftlockup:
        return Obs(False, "off (nosoftlockup on the command line; sysctls unreadable)")
    return w.soft_watchdog


register(Check(
    id="kernel.watchdog", title="Soft-lockup watchdog off", area="kernel",
    summary="The soft-lockup detector runs an hrtimer every 2 x watchdog_thresh / 5 seconds (4 s) that "
            "wakes a top-priority kernel thread, on every CPU in kernel.watchdog_cpumask; on a NO_HZ_FULL "
            "kernel that mask starts without the nohz_full CPUs (admin-guide/lockup-watchdogs). Off, or a "
            "mask that leaves out every isolated CPU, passes.",
    reads=("/proc/sys/kernel/watchdog", "/proc/sys/kernel/soft_watchdog", "/proc/sys/kernel/watchdog_cpumask",
           "/proc/cmdline"),
    docs=LOCKUP, kind="bool", observe=_soft_watchdog, judge=_outside_mask_judge,
    fix=lambda ctx, e, obs: sysctl_fix("kernel.soft_watchdog", 0) + "\n"
        + cmdline_fix(ctx, {"nosoftlockup": None}, "keeps it off from boot") + _mask_alternative(ctx),
))


# ---- kernel.nmi_watchdog -----------------------------------------------------------------

def _nmi_watchdog(ctx):
    w = ctx.probe("kernel.watchdog")
    if isinstance(w, Unread):
        return w
    if isinstance(w.nmi_watchdog, Unread) or not w.nmi_watchdog:
        return Obs(w.nmi_watchdog)
    if w.watchdog == 0:
        # kernel.watchdog switches both detectors at once (admin-guide/sysctl/kernel.rst, watchdog).
        return Obs(0, f"off: kernel.watchdog = 0 turns the hard-lockup detector off too "
                      f"(kernel.nmi_watchdog reads {w.nmi_watchdog})")
    return Obs(w.nmi_watchdog, note=_mask_note(ctx, w.watchdog_cpumask), extra={"mask": w.watchdog_cpumask})


register(Check(
    id="kernel.nmi_watchdog", title="NMI (hard-lockup) watchdog off", area="kernel",
    summary="The hard-lockup detector raises a perf NMI every watchdog_thresh seconds (10 s) on each CPU "
            "in kernel.watchdog_cpumask; an NMI cannot be masked, so it interrupts whatever runs there "
            "(admin-guide/lockup-watchdogs). Off, or a mask that leaves out every isolated CPU, passes.",
    reads=("/proc/sys/kernel/nmi_watchdog", "/proc/sys/kernel/watchdog_cpumask", "/proc/cmdline"),
    docs=LOCKUP, kind="int", observe=_nmi_watchdog, judge=_outside_mask_judge,
    fix=lambda ctx, e, obs: sysctl_fix("kernel.nmi_watchdog", suggest(e, 0)) + "\n"
        + cmdline_fix(ctx, {"nmi_watchdog": "0"}, "keeps it off from boot") + _mask_alternative(ctx),
))


# ---- kernel.sched_rt_runtime -------------------------------------------------------------

FAIR_SERVER = ("since 6.12 (commit 5f6bd380c7bd, \"sched/rt: Remove default bandwidth control\") the fair "
               "deadline server instead lets starved normal tasks run 50 ms of every 1000 ms "
               "(/sys/kernel/debug/sched/fair_server/cpuN), and sched_rt_runtime_us only bounds "
               "SCHED_DEADLINE admission (scheduler/sched-deadline.rst)")


def _rt_group_sched(ctx, rt) -> tuple[bool | None, str]:
    """Whether RT group scheduling is in effect (None: cannot tell), and the evidence."""
    config = _config(ctx)
    if isinstance(config, Unread):
        return None, f"no kernel build config tells CONFIG_RT_GROUP_SCHED ({config.reason}: {config.source})"
    if not config.enabled("CONFIG_RT_GROUP_SCHED"):
        return False, f"CONFIG_RT_GROUP_SCHED is not set in {config.source}"
    if "CONFIG_RT_GROUP_SCHED_DEFAULT_DISABLED" not in config.options:
        return True, f"CONFIG_RT_GROUP_SCHED=y in {config.source}"
    # Kernels with this option also take rt_group_sched= (kernel-parameters.txt), whose
    # default is !CONFIG_RT_GROUP_SCHED_DEFAULT_DISABLED.
    default = not config.enabled("CONFIG_RT_GROUP_SCHED_DEFAULT_DISABLED")
    why = (f"CONFIG_RT_GROUP_SCHED=y with RT_GROUP_SCHED_DEFAULT_DISABLED "
           f"{'not set' if default else 'set'} in {config.source}")
    switch = rt.rt_group_sched
    if isinstance(switch, Unread):
        return None, f"{why}, rt_group_sched= {switch}"
    if switch is None:
        return default, why
    value = _kstrtobool(switch)
    if value is None:
        return None, f"{why}, rt_group_sched={switch!r} on the command line is not a boolean"
    return value, f"{why}, rt_group_sched={switch} on the command line"


def _rt_rule(ctx, rt) -> tuple[bool | Unread, str, str]:
    """Whether sched_rt_runtime_us throttles realtime tasks on this kernel, why, and a short
    form of the rule for the observed value."""
    new = kernel_at_least(ctx, 6, 12)
    if isinstance(new, Unread):
        return new, (f"kernel version unknown ({new}): the value throttles realtime tasks before 6.12, and "
                     "since then only with RT group scheduling"), "throttling unknown: kernel version unknown"
    name = _kernel_name(ctx)
    if not new:
        return (True, f"{name}: before 6.12 realtime tasks are throttled to this share of every period",
                f"throttles RT tasks: {name}, before 6.12")
    group, why = _rt_group_sched(ctx, rt)
    if group is None:
        return (Unread(Reason.MISSING, "CONFIG_RT_GROUP_SCHED", why),
                f"{name}: since 6.12 the value throttles realtime tasks only with RT group scheduling, "
                f"and {why}", f"throttling unknown: {name}, RT group scheduling unknown")
    if group:
        return (True, f"{name} with RT group scheduling ({why}): the root group still throttles realtime tasks",
                f"throttles RT tasks: {name}, RT group scheduling")
    return (False, f"{name} without RT group scheduling ({why}): the value does not throttle realtime tasks",
            f"does not throttle RT tasks: {name}, no RT group scheduling")


def _rt_runtime(ctx):
    rt = ctx.probe("kernel.rt_throttling")
    if isinstance(rt, Unread):
        return rt
    if isinstance(rt.runtime_us, Unread):
        return rt.runtime_us
    period = rt.period_us if isinstance(rt.period_us, int) else "?"
    shown = f"{rt.runtime_us} of {period} us" if rt.runtime_us >= 0 else "-1 (RT throttling disabled)"
    throttles, rule, short = _rt_rule(ctx, rt)
    return Obs(rt.runtime_us, f"{shown} ({short})", rule, {"throttles": throttles})


def _rt_judge(ctx, obs, expectation, missing):
    throttles = obs.extra.get("throttles")
    if throttles is False:
        return Verdict("skip", f"{obs.note}; {FAIR_SERVER}")
    if isinstance(throttles, Unread) and expectation is not None and not missing:
        if compare(expectation, obs.value, None)[0]:
            return Verdict("pass", f"{obs.note}; the value passes under either rule")
        return Verdict("unknown", f"{obs.note}: whether {obs.value} throttles realtime tasks cannot be told")
    return None


register(Check(
    id="kernel.sched_rt_runtime", title="RT throttling", area="kernel",
    summary="Before 6.12 realtime tasks may use sched_rt_runtime_us of every sched_rt_period_us, and a "
            "SCHED_FIFO spinner is stopped for the rest of the period (scheduler/sched-rt-group); -1 removes "
            "the limit and the safety net against a runaway RT thread. Since 6.12 that holds only with RT "
            "group scheduling; otherwise a fair deadline server gives starved normal tasks 50 ms a second "
            "and the check does not judge the value.",
    reads=("/proc/sys/kernel/sched_rt_runtime_us", "/proc/sys/kernel/sched_rt_period_us",
           "/proc/sys/kernel/osrelease", "/boot/config-*", "/proc/cmdline"),
    docs="https://docs.kernel.org/scheduler/sched-rt-group.html", kind="int", observe=_rt_runtime,
    judge=_rt_judge, fix=lambda ctx, e, obs: sysctl_fix("kernel.sched_rt_runtime_us", suggest(e, 950000)),
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

# The CPU features arch/x86/kernel/tsc.c (check_system_tsc_reliable) asks for before it
# drops the clocksource watchdog on the TSC by itself.
TSC_EXEMPT_FLAGS = ("constant_tsc", "nonstop_tsc", "tsc_adjust")


def _watchdog_dropped(ctx, cs) -> tuple[bool | Unread, str]:
    """Whether the kernel runs the TSC without a clocksource watchdog on its own, and why.

    5.16 (b50db7095fe0, "x86/tsc: Disable clocksource watchdog for TSC on qualified
    platorms"): constant_tsc, nonstop_tsc and tsc_adjust, and at most 2 online NUMA nodes.
    6.6 (233756a640be, "x86/tsc: Extend watchdog check exemption to 4-Sockets platform"):
    at most 4 nodes. 6.12 (b4bac279319d, "x86/tsc: Use topology_max_packages() to get
    package number"): at most 4 packages, whatever the node count (sub-NUMA clustering)."""
    new = kernel_at_least(ctx, 5, 16)
    if new is False:
        return False, f"{_kernel_name(ctx)} keeps the watchdog on the TSC unless told (the exemption came in 5.16)"
    flags = cs.tsc_flags
    if isinstance(flags, Unread):
        return flags, f"the CPU flags are unknown ({flags})"
    lacking = [f for f in TSC_EXEMPT_FLAGS if f not in flags]
    if lacking:
        return False, f"the CPU lacks {', '.join(lacking)}, so the kernel keeps the watchdog on the TSC"
    if isinstance(new, Unread):
        return new, f"kernel version unknown ({new}): 5.16+ would drop the watchdog on this CPU by itself"
    if kernel_at_least(ctx, 6, 12) is True:
        limit, commit, what, found = 4, "b4bac279319d, 6.12", "package", cs.packages
        where = "/proc/cpuinfo"
    else:
        wide = kernel_at_least(ctx, 6, 6) is True
        limit, commit = (4, "233756a640be, 6.6") if wide else (2, "b50db7095fe0, 5.16")
        what, found, where = "online NUMA node", cs.online_nodes, "/sys/devices/system/node/online"
    if not isinstance(found, frozenset):
        unread = found if isinstance(found, Unread) else Unread(Reason.MISSING, where)
        return unread, f"the number of {what}s is unknown ({unread})"
    counts = [f"{len(found)} {what}{'s' if len(found) != 1 else ''}"]
    over = len(found) > limit
    name = _kernel_name(ctx)
    if over:
        return False, f"{name} exempts at most {limit} ({commit}) and this host has {' and '.join(counts)}"
    return True, (f"{name} drops the watchdog on the TSC by itself: {', '.join(TSC_EXEMPT_FLAGS)} and "
                  f"{' and '.join(counts)}, within {limit} ({commit})")


def _tsc_watchdog(ctx, cs) -> tuple[str | Unread, str]:
    """Whether the clocksource watchdog re-checks the TSC ('on' or 'off'), and the rule."""
    tsc = cs.tsc
    if tsc == "reliable":
        return "off", ("tsc=reliable: no watchdog on the TSC, and the boot-time TSC synchronization checks "
                       "are skipped too (kernel-parameters tsc=); tsc=nowatchdog (5.2+) drops only the watchdog")
    notes, version_unknown = [], None
    if tsc == "nowatchdog":
        known = kernel_at_least(ctx, 5, 2)
        if known is True:
            return "off", "tsc=nowatchdog (5.2+): no watchdog on the TSC; the boot-time checks still run"
        if known is False:
            notes.append(f"{_kernel_name(ctx)} ignores tsc=nowatchdog (5.2+)")
        else:
            version_unknown = known
    flags = cs.tsc_flags
    if isinstance(flags, frozenset) and "tsc_reliable" in flags:
        return "off", "the CPU flag tsc_reliable (set by the platform or hypervisor): the kernel trusts the TSC"
    dropped, why = _watchdog_dropped(ctx, cs)
    if dropped is True:
        return "off", why
    if isinstance(tsc, Unread):
        return tsc, f"tsc= on the command line is unknown, and {why}"
    if version_unknown is not None:
        return version_unknown, f"tsc=nowatchdog needs 5.2+ and the kernel version is unknown; {why}"
    if isinstance(dropped, Unread):
        return dropped, why
    return "on", "; ".join(notes + [f"no tsc=nowatchdog or tsc=reliable, and {why}"])


def _clocksource(ctx):
    cs = ctx.probe("kernel.clocksource")
    if isinstance(cs, Unread):
        return cs
    if isinstance(cs.tsc_flags, Unread) and cs.tsc_flags.reason is Reason.UNSUPPORTED:
        return Skip(f"no TSC to judge: {cs.tsc_flags.detail}")
    state, rule = _tsc_watchdog(ctx, cs)
    value = {"current": cs.current, "tsc_watchdog": state}
    shown = f"{cs.current}"
    if isinstance(cs.tsc, str):
        shown += f", tsc={cs.tsc}"
    elif isinstance(cs.tsc, Unread):
        shown += f", tsc= {cs.tsc}"
    else:
        shown += ", no tsc= on the command line"
    shown += f"; TSC watchdog {state}" if isinstance(state, str) else ""
    notes = [rule]
    if isinstance(cs.available, tuple) and "tsc" not in cs.available:
        notes.append("tsc is not among the available clocksources")
    missing = cs.missing_tsc_flags()
    if isinstance(missing, tuple) and missing:
        notes.append(f"CPU lacks {', '.join(missing)}: the TSC is not invariant")
    return Obs(value, shown, "; ".join(notes))


def _clocksource_fix(ctx, e, obs):
    value = obs.value if isinstance(obs.value, dict) else {}
    want = e["current"].suggest() if isinstance(e, dict) and "current" in e else "tsc"
    lines, params = [], {}
    if value.get("current") != want:
        lines.append(sysfs_fix("/sys/devices/system/clocksource/clocksource0/current_clocksource", want,
                               "the command line below keeps it"))
        params["clocksource"] = want
    if value.get("tsc_watchdog") == "on":
        # tsc=nowatchdog (5.2, "x86/tsc: Add option to disable tsc clocksource watchdog")
        # leaves the boot-time synchronization checks in place; tsc=reliable skips them too.
        params["tsc"] = "nowatchdog" if kernel_at_least(ctx, 5, 2) is True else "reliable"
        lines.append("# only where the TSC is invariant (constant_tsc and nonstop_tsc on every CPU)")
    if params:
        lines.append(cmdline_fix(ctx, params))
    return "\n".join(lines) or None


register(Check(
    id="kernel.clocksource", title="Clocksource is the TSC", area="kernel",
    summary="clock_gettime() reads the TSC in user space (vDSO) in tens of ns; hpet or acpi_pm need a slow "
            "I/O read. The clocksource watchdog re-reads the TSC against a slower clock twice a second; "
            "tsc=nowatchdog (5.2+) or tsc=reliable (which also skips the boot-time sync checks) stop it, and "
            "since 5.16 the kernel drops it itself on CPUs with constant_tsc, nonstop_tsc and tsc_adjust and "
            "few sockets. The check says which rule applied.",
    reads=("/sys/devices/system/clocksource/clocksource0/current_clocksource",
           "/sys/devices/system/clocksource/clocksource0/available_clocksource", "/proc/cpuinfo",
           "/proc/cmdline", "/sys/devices/system/node/online", "/proc/sys/kernel/osrelease"),
    docs="https://docs.kernel.org/virt/kvm/x86/timekeeping.html", kind="str",
    fields={"current": "str", "tsc_watchdog": "str"}, observe=_clocksource, fix=_clocksource_fix,
))


# ---- kernel.rcu_normal_after_boot ---------------------------------------------------------

def _int_param(name: str, text: str) -> int | Unread:
    try:
        return int(text, 0)
    except ValueError:
        return Unread(Reason.MALFORMED, "/proc/cmdline", f"{name}={text!r} is not a number")


def _cmdline_text(name: str, value) -> str:
    if isinstance(value, str):
        return f"{name}={value} on the command line"
    if value is None:
        return f"no {name}= on the command line"
    return f"{name}= {value}"


def _rcu_normal(ctx):
    r = ctx.probe("kernel.rcu")
    if isinstance(r, Unread):
        return r
    name = "rcupdate.rcu_normal_after_boot"
    cmd = r.cmdline_normal_after_boot
    normal_now = isinstance(r.normal, int) and r.normal != 0
    sysfs = r.normal_after_boot
    if isinstance(sysfs, int):
        shown = f"{sysfs} ({RCUPDATE_PARAMS}/rcu_normal_after_boot)"
        if not sysfs and normal_now:
            return Obs(1, f"{shown}, but rcupdate.rcu_normal = 1: no expedited grace periods at all")
        return Obs(int(sysfs != 0), shown, _cmdline_text(name, cmd))
    if sysfs.reason is not Reason.MISSING:
        return sysfs
    # Not in sysfs: before 5.16 the parameter had mode 0 ("rcu: Make rcu update module
    # parameters world-readable"), and PREEMPT_RT kernels without NO_HZ_FULL never show it.
    why = "not shown in sysfs (the kernel shows it since 5.16, and not on PREEMPT_RT without NO_HZ_FULL)"
    if normal_now:
        return Obs(1, "1 (rcupdate.rcu_normal = 1: no expedited grace periods at all)", why)
    if isinstance(cmd, Unread):
        return cmd
    if cmd is not None:
        value = _int_param(name, cmd)
        if isinstance(value, Unread):
            return value
        return Obs(int(value != 0), f"{value} ({_cmdline_text(name, cmd)})", why)
    rt = record_field(ctx, "kernel.preempt", "rt")
    if rt is True:
        return Obs(1, "1 (the default on PREEMPT_RT kernels)", why)
    shown = kernel_at_least(ctx, 5, 16)
    if shown is not False:
        # 5.16+ (or a kernel of unknown version) shows it outside PREEMPT_RT: not read here
        # means not captured, not 0.
        return Unread(Reason.MISSING, sysfs.source,
                      f"{_kernel_name(ctx)} shows rcu_normal_after_boot in sysfs (5.16+), and it was not read; "
                      f"{_cmdline_text(name, cmd)}" if shown is True else
                      f"{why}; {_cmdline_text(name, cmd)}, and the kernel version is unknown ({shown})")
    if isinstance(rt, Unread):
        return Unread(Reason.MISSING, f"{RCUPDATE_PARAMS}/rcu_normal_after_boot",
                      f"{why}; {_cmdline_text(name, cmd)}, and the default (1 on PREEMPT_RT, else 0) "
                      f"depends on PREEMPT_RT, which is unknown")
    return Obs(0, f"0 (the default; {_cmdline_text(name, cmd)})", why)


register(Check(
    id="kernel.rcu_normal_after_boot", title="No expedited RCU grace periods after boot", area="kernel",
    summary="An expedited RCU grace period sends an IPI to every CPU that has not yet passed a quiescent "
            "state, a busy thread in the kernel included (RCU/Design/Expedited-Grace-Periods). "
            "rcupdate.rcu_normal_after_boot=1 turns them into normal grace periods once boot is done; "
            "PREEMPT_RT kernels default to it. Read from sysfs (5.16+), else from the command line.",
    reads=(f"{RCUPDATE_PARAMS}/rcu_normal_after_boot", f"{RCUPDATE_PARAMS}/rcu_normal", "/proc/cmdline"),
    docs=KP, kind="int", observe=_rcu_normal,
    fix=lambda ctx, e, obs: cmdline_fix(ctx, {"rcupdate.rcu_normal_after_boot": str(suggest(e, 1))}),
))


# ---- kernel.rcu_patience_delay ----------------------------------------------------------

def _rcu_patience(ctx):
    r = ctx.probe("kernel.rcu")
    if isinstance(r, Unread):
        return r
    name = "rcutree.nohz_full_patience_delay"
    cmd = r.cmdline_patience_delay
    value = r.patience_delay_ms
    if isinstance(value, int):
        return Obs(value, f"{value} ms ({RCUTREE_PARAMS}/nohz_full_patience_delay)", _cmdline_text(name, cmd))
    if value.reason is not Reason.MISSING:
        return value
    unused = f"; the {name}={cmd} on the command line has no effect" if isinstance(cmd, str) else ""
    # "rcu: Add rcutree.nohz_full_patience_delay to reduce nohz_full OS jitter" (6.11).
    new = kernel_at_least(ctx, 6, 11)
    if new is False:
        return Skip(f"{_kernel_name(ctx)} predates {name} (6.11, commit 68d124b09999){unused}")
    evidence = not_on_this_kernel(ctx, value, RCUTREE_PARAMS, RCUTREE_ANCHORS)
    if evidence:
        return Skip(f"this kernel has no {name} ({evidence}){unused}")
    if isinstance(new, Unread) or isinstance(cmd, Unread):
        return value
    why = f"not shown in {RCUTREE_PARAMS}"
    if cmd is not None:
        given = _int_param(name, cmd)
        return given if isinstance(given, Unread) else Obs(given, f"{given} ms ({_cmdline_text(name, cmd)})", why)
    # A 6.11+ kernel shows the parameter in sysfs: not seen there, with nothing on the
    # command line, the value in effect was not read (a partial or older snapshot).
    return Unread(Reason.MISSING, value.source,
                  f"{_kernel_name(ctx)} shows {name} in sysfs (6.11+), and it was not read; "
                  f"{_cmdline_text(name, cmd)}")


register(Check(
    id="kernel.rcu_patience_delay", title="RCU leaves nohz_full CPUs in the kernel alone for a while",
    area="kernel",
    summary="With rcutree.nohz_full_patience_delay (6.11+, in ms) RCU does not disturb a nohz_full CPU that "
            "is briefly in the kernel (a system call) until the grace period is that old; with the default 0 "
            "it may start RCU work there at once (its rcuc kthread or RCU softirq). Kernels before 6.11 skip.",
    reads=(f"{RCUTREE_PARAMS}/nohz_full_patience_delay", "/proc/cmdline", "/proc/sys/kernel/osrelease"),
    docs=KP, kind="int", observe=_rcu_patience,
    fix=lambda ctx, e, obs: cmdline_fix(ctx, {"rcutree.nohz_full_patience_delay": str(suggest(e, 1000))}),
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
            "errors (arch/x86/x86_64/machinecheck); uncorrected errors are still handled. The price: "
            "corrected errors, the early warning of a failing DIMM, are no longer read or logged.",
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
            "makes interrupt handlers and most locks preemptible. It matters to threads that block "
            "and wake, or share a CPU; a thread spinning alone on an isolated CPU never waits for it.",
    reads=("/sys/kernel/realtime", "/proc/sys/kernel/version", "/sys/kernel/debug/sched/preempt",
           "/boot/config-*", "/proc/cmdline"),
    docs=KP, kind="str", observe=_preempt, fix=_preempt_fix,
))

