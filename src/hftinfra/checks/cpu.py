"""CPU checks: partitioning (isolation, tick, RCU, IRQ and systemd affinity, workqueues,
SMT) and power (governor, P-state floor, turbo, EPP, C-states, PM QoS)."""

from __future__ import annotations

from hftinfra.checks.base import Check, Obs, PerCpu, Skip, Verdict, register, unread_message
from hftinfra.checks.common import (
    cmdline_fix,
    cpus_text,
    kernel_at_least,
    kernel_option,
    kernel_release,
    not_on_this_kernel,
    sysfs_fix,
)
from hftinfra.cpulist import format_cpulist, format_cpumask
from hftinfra.host import Reason, Unread

KP = "https://docs.kernel.org/admin-guide/kernel-parameters.html"
CPUFREQ = "https://docs.kernel.org/admin-guide/pm/cpufreq.html"
PSTATE = "https://docs.kernel.org/admin-guide/pm/intel_pstate.html"
CPUIDLE = "https://docs.kernel.org/admin-guide/pm/cpuidle.html"
CPU = "/sys/devices/system/cpu"
# Files every kernel has in /sys/devices/system/cpu: a listing without them is a partial capture.
CPU_ANCHORS = ("online", "possible")


def _iso(ctx):
    return ctx.probe("cpu.isolation")


def _var_text(ctx, name, placeholder):
    value = ctx.variables.get(name)
    if isinstance(value, frozenset):
        return format_cpulist(value) or placeholder
    return placeholder


def _online_list(rec):
    return sorted(rec.online) if isinstance(rec.online, frozenset) else []


# ---- cpu.isolated -------------------------------------------------------------------------

def _isolated(ctx):
    iso = _iso(ctx)
    if isinstance(iso, Unread):
        return iso
    flags = iso.cmdline_isolcpus_flags
    value = {"cpus": iso.isolated, "flags": flags if not isinstance(flags, Unread) else flags}
    shown = None
    if isinstance(iso.isolated, frozenset):
        shown = f"{cpus_text(iso.isolated)} (sysfs isolated)"
        if isinstance(iso.cmdline_isolcpus, frozenset):
            shown += f"; isolcpus={','.join(sorted(flags or ()))},{format_cpulist(iso.cmdline_isolcpus)}"
        elif iso.cmdline_isolcpus is None:
            shown += "; no isolcpus= on the command line"
        elif isinstance(iso.cmdline_isolcpus, Unread):
            shown += f"; isolcpus= {iso.cmdline_isolcpus}"
    return Obs(value, shown, extra={"configured": iso.cmdline_isolcpus, "flags": flags})


def _isolated_judge(ctx, obs, expectation, missing):
    configured, flags = obs.extra["configured"], obs.extra["flags"]
    effect = obs.value["cpus"]
    if (isinstance(configured, frozenset) and configured and isinstance(effect, frozenset)
            and isinstance(flags, frozenset) and "domain" in flags and not configured <= effect):
        return Verdict("fail", f"configured but not in effect: isolcpus= lists {format_cpulist(configured)}, "
                               f"sysfs isolated is {cpus_text(effect)} (not rebooted since the change, or "
                               "the kernel rejected the list)")
    chosen = ctx.variables.get("isolated_cpus")
    if missing and isinstance(chosen, frozenset) and not chosen:
        return Verdict("fail", "no CPUs are isolated: isolated_cpus is empty (--var); choose them with "
                               "--var isolated_cpus=LIST and apply the fix")
    if missing and isinstance(effect, frozenset) and not chosen:
        return Verdict("fail", "no CPUs are isolated on this host (sysfs isolated is empty, no isolcpus= or "
                               "nohz_full=); choose them with --var isolated_cpus=LIST and apply the fix")
    return None


def _isolated_fix(ctx, e, obs):
    cpus = _var_text(ctx, "isolated_cpus", "<CPULIST>")
    return cmdline_fix(ctx, {"isolcpus": f"managed_irq,domain,{cpus}"})


register(Check(
    id="cpu.isolated", title="Isolated CPUs (isolcpus)", area="cpu",
    summary="CPUs taken out of the scheduler's load balancing, so only threads pinned there run "
            "there; the managed_irq flag also steers managed device interrupts away.",
    reads=(f"{CPU}/isolated", "/proc/cmdline"), docs=KP, kind="cpuset",
    fields={"cpus": "cpuset", "flags": "words"}, observe=_isolated, judge=_isolated_judge, fix=_isolated_fix,
    normalises="cpulists and hex masks to CPU sets; isolcpus flags as a set of words (an isolcpus= "
               "without flags means domain)",
))


# ---- cpu.nohz_full ------------------------------------------------------------------------

def _nohz_full(ctx):
    iso = _iso(ctx)
    if isinstance(iso, Unread):
        return iso
    configured = iso.cmdline_nohz_full
    effect = iso.nohz_full
    if isinstance(effect, Unread):
        not_built = _nohz_not_built(ctx, effect)
        if not_built:
            return Obs(frozenset(), f"none: this kernel has no nohz_full ({not_built})",
                       extra={"configured": configured, "unsupported": not_built})
        return _unproven_missing(effect)
    shown = None
    if isinstance(effect, frozenset):
        shown = f"{cpus_text(effect)} (in effect)"
        shown += (f"; nohz_full={format_cpulist(configured)}" if isinstance(configured, frozenset)
                  else "; no nohz_full= on the command line" if configured is None
                  else f"; nohz_full= {configured}")
    return Obs(effect, shown, extra={"configured": configured})


def _nohz_not_built(ctx, effect):
    """Evidence that this kernel lacks CONFIG_NO_HZ_FULL (so has no sysfs nohz_full)."""
    return not_on_this_kernel(ctx, effect, CPU, CPU_ANCHORS, option="CONFIG_NO_HZ_FULL")


def _unproven_missing(u):
    # The probe's detail guesses at a kernel without the feature; without evidence of that,
    # the file is only not there (a partial snapshot, a capture that skipped it).
    if u.reason is Reason.MISSING:
        return Unread(Reason.MISSING, u.source, "not there, and nothing shows whether this kernel has it")
    return u


# Logical CPU 0 is the boot CPU on x86 and the other common architectures.
BOOT_CPU = 0
BOOT_CPU_CLEARED = "NO_HZ: Clearing 0 from nohz_full range for timekeeping"


def _boot_cpu_rule(ctx) -> str | None:
    """Why this kernel keeps CPU 0 out of nohz_full, as far as its version and build show;
    None when it would accept CPU 0. Before 5.2 tick_nohz_init() always cleared the boot CPU;
    08ae95f4fd3b ("nohz_full: Allow the boot CPU to be nohz_full", 5.2) still clears it when
    CONFIG_PM_SLEEP_SMP is set without CONFIG_PM_SLEEP_SMP_NONZERO_CPU (suspend runs on CPU 0
    only: x86; powerpc pseries/powernv can suspend from another CPU)."""
    newer = kernel_at_least(ctx, 5, 2)
    if newer is False:
        return f"kernel {kernel_release(ctx)} is older than 5.2, and those always keep the boot CPU out of nohz_full"
    if newer is True:
        pm_sleep = kernel_option(ctx, "CONFIG_PM_SLEEP_SMP")
        nonzero = kernel_option(ctx, "CONFIG_PM_SLEEP_SMP_NONZERO_CPU")
        if pm_sleep is True and nonzero is not True:
            return ("this 5.2+ kernel is built with CONFIG_PM_SLEEP_SMP and suspends from CPU 0 only, so it "
                    "keeps the boot CPU out of nohz_full for timekeeping")
        if pm_sleep is False or nonzero is True:
            return None
        return ("5.2+ kernels built with CONFIG_PM_SLEEP_SMP on an architecture that suspends only from CPU 0, "
                "such as x86, keep the boot CPU out of nohz_full (no build config here to tell which)")
    return ("kernels before 5.2, and later ones built with CONFIG_PM_SLEEP_SMP on architectures that suspend "
            f"only from CPU 0 such as x86, keep the boot CPU out of nohz_full (kernel version {newer})")


def _nohz_judge(ctx, obs, expectation, missing):
    configured = obs.extra.get("configured")
    effect = obs.value
    not_built = obs.extra.get("unsupported")
    if isinstance(configured, frozenset) and configured and isinstance(effect, frozenset) \
            and not configured <= effect:
        rule = _boot_cpu_rule(ctx) if not not_built and configured - effect == {BOOT_CPU} else None
        if not_built:
            why = f"this kernel has no nohz_full: {not_built}"
        elif rule:
            why = f'{rule}, and logs "{BOOT_CPU_CLEARED}" when it does. Keep CPU 0 for housekeeping'
        else:
            why = "not rebooted since the change, or the kernel rejected the list"
        return Verdict("fail", f"configured but not in effect: nohz_full={format_cpulist(configured)} on the "
                               f"command line, in effect {cpus_text(effect)} ({why})")
    if not_built and not missing:
        return Verdict("fail", f"this kernel cannot stop the tick on isolated CPUs ({not_built}); "
                               "nohz_full= needs a kernel built with CONFIG_NO_HZ_FULL=y")
    if isinstance(effect, frozenset) and BOOT_CPU in effect and not missing and expectation is not None:
        try:
            meets = expectation.matches(effect)
        except ValueError:
            meets = False
        if not meets:
            return None
        return Verdict("warn", "CPU 0, the boot CPU, is nohz_full: kernels since 5.2 allow that only when built "
                               "without CONFIG_PM_SLEEP_SMP or able to suspend from another CPU, and it holds the "
                               "timekeeping duty until a housekeeping CPU comes up (08ae95f4fd3b); "
                               "kernel-parameters.txt still says the boot CPU is kept out. Keep CPU 0 for "
                               "housekeeping")
    return None


def _nohz_fix(ctx, e, obs):
    chosen = ctx.variables.get("isolated_cpus")
    note = ""
    if isinstance(chosen, frozenset) and BOOT_CPU in chosen and len(chosen) > 1:
        chosen = chosen - {BOOT_CPU}
        note = ("# keep CPU 0, the boot CPU, for housekeeping: leave it out of isolated_cpus, isolcpus= and\n"
                "# rcu_nocbs= too, and add it to irqaffinity= and CPUAffinity=\n")
    cpus = format_cpulist(chosen) if isinstance(chosen, frozenset) and chosen else "<CPULIST>"
    line = note + cmdline_fix(ctx, {"nohz_full": cpus})
    if isinstance(obs, Obs) and obs.extra.get("unsupported"):
        # nohz_full= on this kernel would be ignored; the kernel comes first.
        return (f"# this kernel has no nohz_full ({obs.extra['unsupported']}): install and boot one built\n"
                "# with CONFIG_NO_HZ_FULL=y, then:\n" + line)
    return line


register(Check(
    id="cpu.nohz_full", title="Adaptive ticks (nohz_full)", area="cpu",
    summary="On nohz_full CPUs the scheduler tick stops while a single task runs, so a spinning "
            "thread is not interrupted HZ times a second (timers/no_hz).",
    reads=(f"{CPU}/nohz_full", "/proc/cmdline"), docs="https://docs.kernel.org/timers/no_hz.html",
    kind="cpuset", observe=_nohz_full, judge=_nohz_judge, fix=_nohz_fix,
))


# ---- cpu.rcu_nocbs ------------------------------------------------------------------------

def _rcu_nocbs(ctx):
    iso = _iso(ctx)
    if isinstance(iso, Unread):
        return iso
    listed = iso.cmdline_rcu_nocbs
    if isinstance(listed, Unread):
        return listed
    nohz_unread = None
    if isinstance(iso.nohz_full, frozenset):
        nohz = iso.nohz_full
    elif _nohz_not_built(ctx, iso.nohz_full):
        nohz = frozenset()
    else:
        # Which CPUs nohz_full offloads is not known: only rcu_nocbs= itself may decide.
        nohz, nohz_unread = frozenset(), _unproven_missing(iso.nohz_full)
    effective = (listed or frozenset()) | nohz
    parts = []
    if isinstance(listed, frozenset):
        parts.append(f"rcu_nocbs={format_cpulist(listed)}")
    else:
        parts.append("no rcu_nocbs= on the command line")
    if nohz:
        parts.append(f"nohz_full {format_cpulist(nohz)} implies it")
    if nohz_unread is not None:
        parts.append(f"nohz_full {nohz_unread}")
    return Obs(effective, f"{cpus_text(effective)} ({'; '.join(parts)})", extra={"nohz_unread": nohz_unread})


def _rcu_nocbs_judge(ctx, obs, expectation, missing):
    unread = obs.extra.get("nohz_unread")
    if unread is None or missing or expectation is None:
        return None
    # nohz_full can only add CPUs, so rcu_nocbs= alone decides a '>=' expectation it meets.
    superset_only = all(a.op == ">=" for a in getattr(expectation, "atoms", ()))
    if superset_only and expectation.matches(obs.value):
        return Verdict("pass", "rcu_nocbs= alone covers the expected CPUs")
    return Verdict("unknown", unread_message(unread))


register(Check(
    id="cpu.rcu_nocbs", title="RCU callbacks offloaded (rcu_nocbs)", area="cpu",
    summary="RCU callbacks of rcu_nocbs CPUs run in rcuo kthreads that can be moved to housekeeping "
            "CPUs; nohz_full CPUs are offloaded too when the kernel has RCU_NOCB_CPU.",
    reads=("/proc/cmdline", f"{CPU}/nohz_full"), docs=KP, kind="cpuset", observe=_rcu_nocbs, judge=_rcu_nocbs_judge,
    fix=lambda ctx, e, obs: cmdline_fix(ctx, {"rcu_nocbs": _var_text(ctx, "isolated_cpus", "<CPULIST>")}),
))


# ---- cpu.irqaffinity ----------------------------------------------------------------------

def _irqaffinity(ctx):
    iso = _iso(ctx)
    if isinstance(iso, Unread):
        return iso
    value = iso.cmdline_irqaffinity
    if isinstance(value, Unread):
        return value
    if value is None:
        if isinstance(iso.online, Unread):
            return iso.online
        return Obs(iso.online, f"all CPUs {cpus_text(iso.online)} (no irqaffinity= on the command line)")
    return Obs(value, f"{cpus_text(value)} (irqaffinity=)")


register(Check(
    id="cpu.irqaffinity", title="Default IRQ affinity on housekeeping CPUs", area="cpu",
    summary="irqaffinity= sets the default affinity mask, which interrupts set up without an affinity "
            "of their own start with (core-api/irq/irq-affinity). Drivers' own affinities, irqbalance, "
            "kernel-managed interrupts (isolcpus=managed_irq), IPIs and the local timer ignore it.",
    reads=("/proc/cmdline", f"{CPU}/online"), docs=KP, kind="cpuset", observe=_irqaffinity,
    fix=lambda ctx, e, obs: cmdline_fix(ctx, {"irqaffinity": _var_text(ctx, "housekeeping_cpus", "<CPULIST>")}),
))


# ---- cpu.systemd_affinity -----------------------------------------------------------------

def _systemd(ctx):
    iso = _iso(ctx)
    if isinstance(iso, Unread):
        return iso
    effect = iso.systemd_affinity
    configured = iso.systemd_affinity_configured
    where = iso.systemd_affinity_configured_in
    note = ""
    if isinstance(configured, frozenset):
        note = f"CPUAffinity={format_cpulist(configured)} in {where}"
    shown = f"{cpus_text(effect)} (PID 1)" if isinstance(effect, frozenset) else None
    return Obs(effect, shown, note, {"configured": configured, "where": where})


def _systemd_judge(ctx, obs, expectation, missing):
    configured = obs.extra.get("configured")
    effect = obs.value
    if isinstance(configured, frozenset) and isinstance(effect, frozenset) and configured != effect:
        return Verdict("fail", f"configured but not in effect: CPUAffinity={format_cpulist(configured)} in "
                               f"{obs.extra.get('where')}, PID 1 runs on {cpus_text(effect)} (needs a reboot "
                               "or `systemctl daemon-reexec`)")
    return None


def _systemd_fix(ctx, e, obs):
    cpus = _var_text(ctx, "housekeeping_cpus", "<CPULIST>")
    return ("mkdir -p /etc/systemd/system.conf.d\n"
            f"printf '[Manager]\\nCPUAffinity={cpus.replace(',', ' ')}\\n' > "
            "/etc/systemd/system.conf.d/90-hftinfra-affinity.conf\n"
            "systemctl daemon-reexec  # services started from now on inherit it; reboot to move all")


register(Check(
    id="cpu.systemd_affinity", title="systemd (PID 1) affinity on housekeeping CPUs", area="cpu",
    summary="Every service inherits PID 1's CPU affinity; with CPUAffinity= on the housekeeping "
            "CPUs, daemons stay off the isolated ones (systemd-system.conf(5)).",
    reads=("/proc/1/status", "/etc/systemd/system.conf", "/etc/systemd/system.conf.d/*.conf"),
    docs="https://www.freedesktop.org/software/systemd/man/latest/systemd-system.conf.html",
    kind="cpuset", observe=_systemd, judge=_systemd_judge, fix=_systemd_fix,
))


# ---- cpu.workqueue_mask -------------------------------------------------------------------

def _workqueue(ctx):
    iso = _iso(ctx)
    if isinstance(iso, Unread):
        return iso
    return Obs(iso.workqueue_cpumask)


def _workqueue_fix(ctx, e, obs):
    hk = ctx.variables.get("housekeeping_cpus")
    iso = _iso(ctx)
    nr = max(iso.online) + 1 if not isinstance(iso, Unread) and isinstance(iso.online, frozenset) and iso.online else None
    mask = format_cpumask(hk, nr) if isinstance(hk, frozenset) and hk else "<HEXMASK>"
    path = "/sys/devices/virtual/workqueue/cpumask"
    # workqueue.unbound_cpus= came with 6.6; older kernels only have the sysfs file.
    has_param = kernel_at_least(ctx, 6, 6)
    if has_param is True:
        return (sysfs_fix(path, mask, "not persistent: this 6.6+ kernel also takes it from boot:") + "\n"
                + cmdline_fix(ctx, {"workqueue.unbound_cpus": _var_text(ctx, "housekeeping_cpus", "<CPULIST>")}))
    if has_param is False:
        return sysfs_fix(path, mask, f"not persistent, and kernel {kernel_release(ctx)} (before 6.6) has no "
                                     "workqueue.unbound_cpus=: write it at every boot (tuned's [sysfs], a "
                                     "systemd unit)")
    return sysfs_fix(path, mask, f"not persistent: write it at every boot (tuned's [sysfs], a systemd unit), or "
                                 f"on 6.6+ kernels boot with workqueue.unbound_cpus= (kernel version {has_param})")


register(Check(
    id="cpu.workqueue_mask", title="Unbound workqueues on housekeeping CPUs", area="cpu",
    summary="Unbound workqueue items (writeback, many drivers) run on any CPU in this mask "
            "(core-api/workqueue); it should hold only housekeeping CPUs. Since 4.17 the kernel starts "
            "it without the nohz_full= and isolcpus=domain CPUs; per-CPU (bound) work is not covered.",
    reads=("/sys/devices/virtual/workqueue/cpumask",), docs="https://docs.kernel.org/core-api/workqueue.html",
    kind="cpuset", observe=_workqueue, fix=_workqueue_fix,
    normalises="the hex cpumask (comma-separated 32-bit groups) to a CPU set",
))


# ---- cpu.smt ------------------------------------------------------------------------------

def _smt(ctx):
    topo = ctx.probe("cpu.topology")
    if isinstance(topo, Unread):
        return topo
    control = topo.smt_control if isinstance(topo.smt_control, str) else None
    threads = topo.threads_per_core
    active = topo.smt_active
    if active is False or (isinstance(threads, int) and threads == 1):
        return Obs("off", f"off ({'smt/control ' + control if control else '1 thread per core'})")
    if isinstance(active, Unread) and isinstance(threads, Unread):
        return active
    isolated = ctx.variables.get("isolated_cpus")
    if not isinstance(isolated, frozenset) or not isolated:
        return Obs("on", f"on ({threads} threads per core), no isolated CPUs to judge")
    shared = []
    for cpu in sorted(isolated):
        try:
            siblings = topo.cpu(cpu).siblings
        except (KeyError, IndexError, ValueError, LookupError):
            continue
        if isinstance(siblings, Unread):
            return siblings
        others = siblings - isolated - {cpu}
        if others:
            shared.append(f"{cpu} with {format_cpulist(others)}")
    if shared:
        more = f" (+{len(shared) - 4} more)" if len(shared) > 4 else ""
        return Obs("shared-cores", f"on; isolated CPUs share a core with housekeeping: {', '.join(shared[:4])}{more}")
    return Obs("whole-cores", f"on ({threads} threads per core); every isolated CPU's siblings are isolated too")


def _smt_fix(ctx, e, obs):
    return ("# either switch SMT off (all cores, at runtime and from boot):\n"
            "echo off > /sys/devices/system/cpu/smt/control\n"
            + cmdline_fix(ctx, {"nosmt": None}, "keeps SMT off from boot") + "\n"
            "# or isolate whole cores: add each isolated CPU's siblings "
            "(/sys/devices/system/cpu/cpuN/topology/thread_siblings_list) to isolated_cpus")


register(Check(
    id="cpu.smt", title="SMT siblings of isolated CPUs", area="cpu",
    summary="SMT siblings share a core's execution units and caches. Either SMT is off, or every "
            "isolated CPU's siblings are isolated too (whole cores), so no housekeeping work runs "
            "on the same core.",
    reads=(f"{CPU}/smt/active", f"{CPU}/smt/control", f"{CPU}/cpu*/topology/thread_siblings_list"),
    docs="https://docs.kernel.org/admin-guide/hw-vuln/core-scheduling.html", kind="str",
    observe=_smt, fix=_smt_fix,
    normalises="off, whole-cores (SMT on, isolated CPUs own their cores), shared-cores, or on (no isolation)",
))


# ---- frequency ----------------------------------------------------------------------------

def _freq(ctx):
    f = ctx.probe("cpu.frequency")
    if isinstance(f, Unread):
        return f
    if f.has_cpufreq is False:
        return Skip("no cpufreq driver (typical of a VM): frequency is managed by the hypervisor or firmware")
    return f


def _online_set(ctx):
    iso = _iso(ctx)
    return iso.online if not isinstance(iso, Unread) and isinstance(iso.online, frozenset) else None


def _matches(expectation, value) -> bool:
    try:
        return expectation.matches(value)
    except ValueError:
        return False


def _range_closed(ctx, f, floor_counts: bool) -> dict:
    """Per online CPU: why its P-state range is held at the top (text), None when the
    frequency can drop, or the Unread that leaves it undecided.

    The performance governor requests the top of the allowed range: intel_pstate in active
    mode restricts HWP to the upper boundary (admin-guide/pm/intel_pstate.rst, HWP +
    performance), the generic governor asks for scaling_max_freq (admin-guide/pm/cpufreq.rst,
    performance). scaling_min_freq at scaling_max_freq, or intel_pstate's min_perf_pct at 100
    (a percentage of the highest turbo P-state, clamped to the allowed maximum) close it too.
    """
    online = _online_set(ctx)
    floor = f.min_perf_pct if floor_counts and isinstance(f.min_perf_pct, int) else None
    out = {}
    for c in f.cpus:
        if online is not None and c.cpu not in online:
            continue
        if isinstance(c.driver, Unread) and isinstance(c.governor, Unread):
            continue  # no cpufreq view (policy inactive): nothing to scale
        if c.governor == "performance":
            out[c.cpu] = "performance governor"
        elif isinstance(c.min_khz, int) and isinstance(c.max_khz, int) and c.min_khz >= c.max_khz:
            out[c.cpu] = "scaling_min_freq = scaling_max_freq"
        elif floor is not None and floor >= 100:
            out[c.cpu] = "intel_pstate min_perf_pct 100"
        elif isinstance(c.governor, Unread):
            out[c.cpu] = c.governor
        else:
            out[c.cpu] = None
    return out


def _governors_text(f, cpus) -> str:
    govs = sorted({c.governor for c in f.cpus if c.cpu in cpus and isinstance(c.governor, str)})
    return ", ".join(govs) or "unknown"


def _governor(ctx):
    f = _freq(ctx)
    if isinstance(f, (Unread, Skip)):
        return f
    if isinstance(f.has_cpufreq, Unread):
        return f.has_cpufreq
    online = _online_set(ctx)
    values = {c.cpu: c.governor for c in f.cpus if online is None or c.cpu in online}
    if not values:
        return Unread(Reason.MISSING, f"{CPU}/cpufreq", "no online CPU has a cpufreq policy")
    return Obs(PerCpu(values))


register(Check(
    id="cpu.governor", title="cpufreq governor", area="cpu",
    summary="The scaling governor picks each CPU's frequency; performance requests the top of the "
            "allowed range instead of ramping after load appears (admin-guide/pm/cpufreq; with "
            "intel_pstate in active mode it is the driver's own algorithm, admin-guide/pm/intel_pstate).",
    reads=(f"{CPU}/cpu*/cpufreq/scaling_governor", f"{CPU}/cpufreq/policy*"), docs=CPUFREQ, kind="str",
    observe=_governor,
    fix=lambda ctx, e, obs: (f"for g in {CPU}/cpu*/cpufreq/scaling_governor; do echo {e.suggest()} > \"$g\"; done\n"
                             "# not persistent: set it at boot (tuned's [cpu] governor=, cpupower frequency-set -g, "
                             "or cpufreq.default_governor= on the command line)"),
))


def _pstate_min(ctx):
    f = _freq(ctx)
    if isinstance(f, (Unread, Skip)):
        return f
    v = f.min_perf_pct
    evidence = not_on_this_kernel(ctx, v, CPU, CPU_ANCHORS) if "intel_pstate" not in f.drivers else None
    if isinstance(v, Unread) and not evidence:
        return _unproven_missing(v)
    if evidence:
        drivers = ", ".join(sorted(f.drivers)) or "none"
        return Skip(f"intel_pstate is not the cpufreq driver here (driver: {drivers}; {evidence}); "
                    "tuned's cpu-partitioning and realtime boot with intel_pstate=disable")
    closed = _range_closed(ctx, f, floor_counts=False)
    scaling = frozenset(c for c, why in closed.items() if why is None)
    note = (f"the governor of CPUs {format_cpulist(scaling)} ({_governors_text(f, scaling)}) lowers the "
            "frequency when load drops, so this floor is what holds it up" if scaling else "")
    return Obs(v, f"{v}%" if isinstance(v, int) else None, note, extra={"closed": closed})


def _pstate_min_judge(ctx, obs, expectation, missing):
    closed = obs.extra.get("closed")
    if expectation is None or missing or not closed or not isinstance(obs.value, int) \
            or _matches(expectation, obs.value):
        return None
    if any(why is None for why in closed.values()):
        return None
    undecided = {c: why for c, why in closed.items() if isinstance(why, Unread)}
    if undecided:
        first = next(iter(undecided.values()))
        return Verdict("unknown", f"{unread_message(first)}; min_perf_pct {obs.value}% matters only where the "
                                  f"governor can lower the frequency, and the governor of CPUs "
                                  f"{format_cpulist(frozenset(undecided))} is unknown")
    whys = sorted({why for why in closed.values()})
    return Verdict("skip", f"min_perf_pct {obs.value}% does not matter here: every online CPU's P-state range "
                           f"is already held at the top ({'; '.join(whys)}), so the floor is never reached "
                           "(admin-guide/pm/intel_pstate.rst, HWP + performance and Coordination of P-State Limits)")


register(Check(
    id="cpu.pstate_min_perf", title="intel_pstate minimum performance", area="cpu",
    summary="intel_pstate's min_perf_pct is the floor of the P-state range in percent of the highest "
            "turbo P-state (admin-guide/pm/intel_pstate, Global Attributes). It matters only where the "
            "governor lowers the frequency (powersave, schedutil): the performance governor already "
            "requests the top of the allowed range, and then a lower floor is skipped as immaterial.",
    reads=(f"{CPU}/intel_pstate/min_perf_pct", f"{CPU}/cpu*/cpufreq/scaling_governor"), docs=PSTATE,
    kind="int", observe=_pstate_min, judge=_pstate_min_judge,
    normalises="the percentage; judged only while some online CPU's governor can lower its frequency",
    fix=lambda ctx, e, obs: sysfs_fix(f"{CPU}/intel_pstate/min_perf_pct", e.suggest(),
                                      "not persistent: tuned's latency-performance sets [cpu] min_perf_pct=100"),
))


def _turbo(ctx):
    f = _freq(ctx)
    if isinstance(f, (Unread, Skip)):
        return f
    t = f.turbo_enabled
    if isinstance(t, Unread) and t.reason is Reason.UNSUPPORTED:
        return Skip(f"turbo is not visible to the OS here ({t.detail or t.reason})")
    if isinstance(t, Unread):
        # Neither control is there: only a listing that shows both absent says the OS has none.
        no_pstate = not_on_this_kernel(ctx, f.no_turbo, CPU, CPU_ANCHORS)
        no_boost = not_on_this_kernel(ctx, f.boost, f"{CPU}/cpufreq")
        if no_pstate and no_boost:
            return Skip(f"turbo is not visible to the OS here ({no_pstate}; {no_boost})")
        return _unproven_missing(t)
    src = "intel_pstate/no_turbo" if not isinstance(f.no_turbo, Unread) else "cpufreq/boost"
    return Obs(t, f"{'on' if t else 'off'} ({src})" if isinstance(t, bool) else None)


def _turbo_fix(ctx, e, obs):
    f = ctx.probe("cpu.frequency")
    want = e.suggest() if e is not None else False
    # tuned 2.27 (79a120e "profiles: Set boost=1 in *-performance profiles") turns turbo on in
    # latency-performance and everything that includes it; its cpu plugin writes no_turbo
    # under intel_pstate and the per-policy boost file elsewhere.
    persist = ("not persistent, and tuned's latency-performance family sets [cpu] boost=1 (turbo on): "
               "keep it off with a child profile (include=<your profile>, [cpu] boost=0) or in the BIOS"
               if not want else "not persistent: tuned's latency-performance sets [cpu] boost=1")
    if not isinstance(f, Unread) and not isinstance(f.no_turbo, Unread):
        return sysfs_fix(f"{CPU}/intel_pstate/no_turbo", 0 if want else 1, persist)
    return sysfs_fix(f"{CPU}/cpufreq/boost", 1 if want else 0, persist)


register(Check(
    id="cpu.turbo", title="Turbo / boost", area="cpu",
    summary="Turbo frequencies depend on temperature, power and how many cores are busy, so the "
            "same code runs at different speeds; many latency setups fix the frequency instead. "
            "tuned's latency-performance family turns turbo on (boost=1).",
    reads=(f"{CPU}/intel_pstate/no_turbo", f"{CPU}/cpufreq/boost"), docs=PSTATE, kind="bool",
    observe=_turbo, fix=_turbo_fix,
))


def _epp(ctx):
    f = _freq(ctx)
    if isinstance(f, (Unread, Skip)):
        return f
    values = {c.cpu: c.epp for c in f.cpus}
    readable = [v for v in values.values() if not (isinstance(v, Unread) and v.reason is Reason.MISSING)]
    if not readable:
        first = next(iter(sorted(values.items())), None)
        evidence = first and not_on_this_kernel(ctx, first[1], f"{CPU}/cpu{first[0]}/cpufreq",
                                                ("scaling_driver", "scaling_governor"))
        if not evidence:
            return first[1] if first else Unread(Reason.MISSING, f"{CPU}/cpu*/cpufreq", "no CPU has a cpufreq view")
        return Skip(f"no energy_performance_preference: the cpufreq driver does not use HWP/CPPC EPP ({evidence})")
    # A CPU with no cpufreq view at all (offline, policy inactive) has no EPP to judge; one
    # whose driver answers but whose EPP file is missing, while others have it, is unknown.
    viewless = {c.cpu for c in f.cpus if isinstance(c.driver, Unread) and isinstance(c.governor, Unread)}
    values = {c: v for c, v in values.items()
              if not (c in viewless and isinstance(v, Unread) and v.reason is Reason.MISSING)}
    closed = {c: why for c, why in _range_closed(ctx, f, floor_counts=True).items() if c in values}
    held = {c: why for c, why in closed.items() if isinstance(why, str)}
    shown = str(PerCpu(values))
    judged = {c: v for c, v in values.items() if c not in held}
    if not judged:
        whys = "; ".join(sorted(set(held.values())))
        note = f"every CPU's P-state range is held at the top ({whys}), so EPP has nothing to choose"
        if "performance governor" in whys and "intel_pstate" in f.drivers:
            note += ("; under it intel_pstate writes EPP 0 itself and refuses other values "
                     "(admin-guide/pm/intel_pstate.rst, HWP + performance)")
        elif "performance governor" in whys and "amd-pstate-epp" in f.drivers:
            note += "; under it amd-pstate refuses other EPP values (drivers/cpufreq/amd-pstate.c)"
        return Obs(PerCpu(values), shown, note, extra={"held": held, "undecided": {}})
    note = (f"judged on CPUs {format_cpulist(frozenset(judged))}, whose frequency can drop"
            + (f"; not on {format_cpulist(frozenset(held))}, held at the top" if held else ""))
    undecided = {c: why for c, why in closed.items() if isinstance(why, Unread)}
    return Obs(PerCpu(judged), shown, note, extra={"held": {}, "undecided": undecided})


def _epp_judge(ctx, obs, expectation, missing):
    if expectation is None or missing or not isinstance(obs.value, PerCpu):
        return None
    values = obs.value.values
    held = obs.extra.get("held") or {}
    if held:
        off = frozenset(c for c, v in values.items() if isinstance(v, Unread) or not _matches(expectation, v))
        if not off:
            return None
        whys = "; ".join(sorted(set(held.values())))
        return Verdict("skip", f"EPP reads {PerCpu({c: values[c] for c in off})} but is not used: every CPU's "
                               f"P-state range is held at the top ({whys}), so there is no frequency for it to pick")
    undecided = obs.extra.get("undecided") or {}
    unsure = frozenset(c for c in undecided
                       if c in values and not isinstance(values[c], Unread) and not _matches(expectation, values[c]))
    if unsure and all(c in unsure or _matches(expectation, v) for c, v in values.items()
                      if not isinstance(v, Unread)):
        first = undecided[min(unsure)]
        return Verdict("unknown", f"{unread_message(first)}; EPP matters only where the frequency can drop, and "
                                  f"the governor of CPUs {format_cpulist(unsure)} is unknown")
    return None


register(Check(
    id="cpu.epp", title="Energy-performance preference", area="cpu",
    summary="With hardware-managed P-states (HWP, CPPC) the EPP hint steers how eagerly the CPU raises "
            "its frequency within the allowed range. It matters only where that range is open: under the "
            "performance governor intel_pstate writes EPP 0 itself and refuses other values "
            "(admin-guide/pm/intel_pstate, HWP + performance), so this check adds to cpu.governor only "
            "where the governor lets the frequency drop. tuned sets EPB (energy_perf_bias), not EPP.",
    reads=(f"{CPU}/cpu*/cpufreq/energy_performance_preference", f"{CPU}/cpu*/cpufreq/scaling_governor",
           f"{CPU}/intel_pstate/min_perf_pct"), docs=PSTATE, kind="str", observe=_epp, judge=_epp_judge,
    normalises="per CPU, the EPP string; CPUs whose P-state range is held at the top are not judged",
    fix=lambda ctx, e, obs: (f"for p in {CPU}/cpu*/cpufreq/energy_performance_preference; "
                             f"do echo {e.suggest()} > \"$p\"; done\n"
                             "# or set the governor to performance, which makes EPP irrelevant; not persistent:\n"
                             "# tuned's [cpu] energy_performance_preference= (latency-performance does not set it)"),
))


# ---- idle ---------------------------------------------------------------------------------

def _no_qos_evidence(ctx, u, cpu):
    """Evidence that this kernel has no per-CPU resume latency file, not just a partial capture.

    register_cpu() exposes it on every kernel built with CONFIG_PM (drivers/base/cpu.c). A
    snapshot keeps only the files that were read, so only a live listing, or the build
    config, can show that it is absent."""
    built = kernel_option(ctx, "CONFIG_PM")
    if built is False:
        return "CONFIG_PM is not set in the kernel's build config"
    if built is True or not ctx.host.is_live:
        return None
    base = f"{CPU}/cpu{cpu}"
    return not_on_this_kernel(ctx, u, f"{base}/power") or not_on_this_kernel(ctx, u, base)


def _cstates(ctx):
    idle = ctx.probe("cpu.idle")
    if isinstance(idle, Unread):
        return idle
    if isinstance(idle.cmdline_idle, str) and idle.cmdline_idle == "poll":
        return Obs(0, "0 us (idle=poll: CPUs never leave C0)")
    if idle.driver == "none":
        return Skip("no cpuidle driver: CPUs idle with the architecture default (HLT, C1-like)")
    if isinstance(idle.driver, Unread):
        evidence = not_on_this_kernel(ctx, idle.driver, CPU, CPU_ANCHORS)
        if not evidence:
            return idle.driver
        return Skip(f"no cpuidle: CPUs idle with the architecture default (HLT, C1-like) ({evidence})")
    from hftinfra.cpu import PM_QOS_DEFAULT_LATENCY_US

    online = _online_set(ctx)
    qos = idle.pm_qos_latency_us
    if isinstance(qos, Unread) and not_on_this_kernel(ctx, qos, "/dev", ("null",)):
        qos = None  # a kernel without CPU latency QoS has no global limit
    elif isinstance(qos, int) and qos >= PM_QOS_DEFAULT_LATENCY_US:
        qos = None
    values, possible, unread, per_cpu, absent = {}, {}, {}, {}, ""
    for c in idle.cpus:
        if online is not None and c.cpu not in online:
            continue
        deepest = c.max_enabled_latency_us
        if isinstance(deepest, Unread):
            values[c.cpu] = deepest
            continue
        own = c.resume_latency_us
        if isinstance(own, Unread) and own.reason is Reason.MISSING and (why := _no_qos_evidence(ctx, own, c.cpu)):
            own, absent = None, absent or why
        if isinstance(own, int):
            per_cpu[c.cpu] = own
        # cpuidle.rst (PM QoS for CPUs): the governors take the smaller of the global request and
        # the CPU's resume latency as the limit; when no state fits, menu and teo use state 0.
        limits = [v for v in (qos, own) if isinstance(v, int)]
        limit = min(limits) if limits else None
        lats = [s.latency_us for s in c.enabled_states]
        usable = [v for v in lats if limit is None or v <= limit]
        fallback = c.states[0].latency_us
        values[c.cpu] = max(usable) if usable else fallback
        pending = [v for v in (qos, own) if isinstance(v, Unread)]
        if pending and isinstance(values[c.cpu], int):
            # An unread limit can only make the state shallower: any usable latency up to this one.
            unread[c.cpu] = pending[0]
            possible[c.cpu] = {v for v in usable if v <= values[c.cpu]} | {fallback}
    if not values:
        return Unread(Reason.MISSING, f"{CPU}/cpu0/cpuidle", "no idle states for any online CPU")
    per = PerCpu(values)
    groups = per.groups()
    if len(groups) == 1:
        shown = f"{groups[0][0]} us on all {len(groups[0][1])} CPUs"
    else:
        shown = "; ".join(f"{v} us on {format_cpulist(c)}" for v, c in groups)
    notes = []
    if isinstance(qos, int):
        notes.append(f"PM QoS limit {qos} us (/dev/cpu_dma_latency) applies")
    if per_cpu:
        notes.append("per-CPU resume latency limit " + "; ".join(
            f"{v} us on {format_cpulist(c)}" for v, c in PerCpu(per_cpu).groups()) + " applies")
    if absent:
        notes.append(f"no per-CPU resume latency files ({absent})")
    return Obs(per, shown, "; ".join(notes), extra={"possible": possible, "unread": unread})


def _cstates_judge(ctx, obs, expectation, missing):
    unread = obs.extra.get("unread") if isinstance(obs, Obs) else None
    if not unread or expectation is None or missing or not isinstance(obs.value, PerCpu) \
            or any(isinstance(v, Unread) for v in obs.value.values.values()):
        return None
    possible = obs.extra["possible"]
    undecided = frozenset(c for c in unread if len({_matches(expectation, v) for v in possible[c]}) > 1)
    if not undecided:
        return None
    decided = {c: v for c, v in obs.value.values.items() if c not in undecided}
    if any(isinstance(v, int) and not _matches(expectation, v) for v in decided.values()):
        return None
    first = unread[min(undecided)]
    return Verdict("unknown", f"{unread_message(first)}; without that limit CPUs {format_cpulist(undecided)} "
                              f"may enter a state of {max(max(possible[c]) for c in undecided)} us exit latency")


def _cstates_fix(ctx, e, obs):
    limit = e.suggest()
    return (f"# disable idle states deeper than {limit} us on every CPU:\n"
            f"for s in {CPU}/cpu*/cpuidle/state*; do "
            f"[ \"$(cat $s/latency)\" -gt {limit} ] && echo 1 > $s/disable; done\n"
            f"# or limit only the CPUs that need it (the governors honour it, cpuidle.rst PM QoS for CPUs):\n"
            f"#   echo {limit} > {CPU}/cpuN/power/pm_qos_resume_latency_us   (n/a: polling only)\n"
            "# not persistent: hold /dev/cpu_dma_latency (tuned force_latency) or limit in BIOS;\n"
            + cmdline_fix(ctx, {"intel_idle.max_cstate": "1", "processor.max_cstate": "1"},
                          "Intel: limits C-states from boot"))


register(Check(
    id="cpu.cstates", title="Deepest usable C-state exit latency", area="cpu",
    summary="A CPU waking from a deep idle state needs its exit latency (tens to hundreds of us for "
            "C6, a worst case that covers the package state) before it runs anything; the deepest state "
            "the governor may pick, after sysfs disable flags and both PM QoS limits (the global "
            "/dev/cpu_dma_latency and the CPU's power/pm_qos_resume_latency_us), bounds that cost "
            "(admin-guide/pm/cpuidle).",
    reads=(f"{CPU}/cpu*/cpuidle/state*/latency", f"{CPU}/cpu*/cpuidle/state*/disable",
           f"{CPU}/cpu*/power/pm_qos_resume_latency_us", f"{CPU}/cpuidle/current_driver",
           "/dev/cpu_dma_latency", "/proc/cmdline"),
    docs=CPUIDLE, kind="int", observe=_cstates, judge=_cstates_judge,
    normalises="per CPU, the largest exit latency (us) among enabled states within the smaller of the global "
               "and the per-CPU PM QoS limit; state 0 when none fits",
    fix=_cstates_fix,
))


def _pm_qos(ctx):
    idle = ctx.probe("cpu.idle")
    if isinstance(idle, Unread):
        return idle
    from hftinfra.cpu import PM_QOS_DEFAULT_LATENCY_US

    v = idle.pm_qos_latency_us
    evidence = not_on_this_kernel(ctx, v, "/dev", ("null",))
    if evidence:
        return Skip(f"no /dev/cpu_dma_latency: kernel without CPU PM QoS ({evidence})")
    if isinstance(v, int):
        held = "no request held (default)" if v >= PM_QOS_DEFAULT_LATENCY_US else "a process holds this request"
        return Obs(v, f"{v} us ({held})")
    return Obs(v)


register(Check(
    id="cpu.pm_qos", title="CPU latency request (/dev/cpu_dma_latency)", area="cpu",
    summary="While a process holds /dev/cpu_dma_latency open with a value, the idle governor avoids "
            "states with a longer exit latency on every CPU (power/pm_qos_interface); tuned's "
            "force_latency does this. The per-CPU power/pm_qos_resume_latency_us limits one CPU "
            "(cpu.cstates takes both into account).",
    reads=("/dev/cpu_dma_latency",), docs="https://docs.kernel.org/power/pm_qos_interface.html", kind="int",
    observe=_pm_qos,
    fix=lambda ctx, e, obs: ("# the request lasts only while the file stays open: run a holder at boot, e.g.\n"
                             f"#   tuned (force_latency={e.suggest()}), or a small service that writes the\n"
                             f"#   32-bit value {e.suggest()} to /dev/cpu_dma_latency and sleeps forever"),
))
