"""The settings a tuning profile asks of a host, in the forms that make them so.

A profile says what the audit expects (``memory.thp: never``); this module turns each
expectation into the settings that produce it: kernel command-line arguments, sysctls, and
tuned plugin options (``[cpu]``, ``[sysfs]``, ``[irqbalance]``, ``[systemd]``, ``[net]``).
The same plan feeds every generator that builds a host, so what a new server is built with
and what its audit checks come from one file::

    plan = plan_settings(load_profile("hft-isolated"),
                         {"isolated_cpus": frozenset(range(2, 16)), ...},
                         hugepages=(1048576, 16))
    plan.cmdline()      # 'isolcpus=managed_irq,domain,2-15 nohz_full=2-15 ...'
    plan.sysctls()      # [Setting(kind='sysctl', key='vm.swappiness', value='10', ...)]

Each :class:`Setting` carries the check it satisfies, the profile's reason and sources.
Checks that no setting can satisfy (a measurement such as ``irq.isolated_noise``, the PTP
servo state, hardware such as the PCIe link) are listed in :attr:`SettingsPlan.left` with
why, never silently dropped. Kernel arguments are those the RHEL 9 kernel documents in
``Documentation/admin-guide/kernel-parameters.txt``; an argument a kernel does not know is
passed to init, not refused, so a stale one costs nothing but is shown on the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hftinfra.cpulist import format_cpulist, format_cpumask

KINDS = ("cmdline", "sysctl", "tuned")


@dataclass(frozen=True)
class Setting:
    kind: str  # cmdline | sysctl | tuned
    key: str  # 'nohz_full', 'vm.swappiness', or 'section.option' for tuned
    value: str | None  # None: a flag argument (nosoftlockup)
    check_id: str
    reason: str = ""
    sources: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        if self.kind == "cmdline":
            return self.key if self.value is None else f"{self.key}={self.value}"
        return f"{self.key} = {self.value}"

    @property
    def place(self) -> str:
        """Where a generator writes it: 'kernel argument', 'sysctl', 'tuned [cpu]'."""
        if self.kind == "cmdline":
            return "kernel argument"
        if self.kind == "sysctl":
            return "sysctl"
        return f"tuned [{self.key.partition('.')[0]}]"

    @property
    def shown(self) -> str:
        """The line as its file has it: 'nohz_full=2-7', 'vm.swappiness = 10', 'governor=performance'."""
        if self.kind == "tuned":
            return f"{self.key.partition('.')[2]}={self.value}"
        return self.text


@dataclass(frozen=True)
class SettingsPlan:
    profile: str
    chain: tuple[str, ...]
    settings: tuple[Setting, ...]
    left: tuple[tuple[str, str], ...] = ()  # (check id, why no setting makes it)
    variables: dict[str, Any] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[Setting]:
        return [s for s in self.settings if s.kind == kind]

    def kernel_args(self) -> list[Setting]:
        """Kernel arguments, one per key (the first check that set a key keeps it)."""
        seen: dict[str, Setting] = {}
        for s in self.of_kind("cmdline"):
            seen.setdefault(s.key, s)
        return list(seen.values())

    def checks_of(self, setting: Setting) -> str:
        """Every check a key satisfies ('cpu.cstates, cpu.pm_qos'): a file sets a key once."""
        ids = [s.check_id for s in self.settings if s.kind == setting.kind and s.key == setting.key]
        return ", ".join(dict.fromkeys(ids))

    def cmdline(self) -> str:
        return " ".join(s.text for s in self.kernel_args())

    def sysctls(self) -> list[Setting]:
        seen: dict[str, Setting] = {}
        for s in self.of_kind("sysctl"):
            seen.setdefault(s.key, s)
        return list(seen.values())

    def tuned_sections(self) -> dict[str, list[Setting]]:
        """tuned plugin sections in a fixed order, each option once."""
        out: dict[str, dict[str, Setting]] = {}
        for s in self.of_kind("tuned"):
            section, _, _option = s.key.partition(".")
            out.setdefault(section, {}).setdefault(s.key, s)
        order = ["cpu", "scheduler", "sysfs", "irqbalance", "systemd", "vm", "net"]
        return {sec: list(out[sec].values()) for sec in sorted(out, key=lambda x: (order.index(x)
                if x in order else len(order), x))}

    def by_check(self, profile) -> list[CheckPlan]:
        """Every check of ``profile`` (the one this plan was made from), in the profile's
        order, with the settings that make it true here or why none does."""
        left = dict(self.left)
        made: dict[str, list[Setting]] = {}
        for s in self.settings:
            made.setdefault(s.check_id, []).append(s)
        return [CheckPlan(check_id=cid, expect=_expect_text(rule.expect),
                          defined_in=_profile_name(rule.defined_in) or profile.name,
                          settings=tuple(made.get(cid, ())), left=left.get(cid))
                for cid, rule in profile.rules.items()]


@dataclass(frozen=True)
class CheckPlan:
    """One check of a profile beside what builds it: the settings that make it true, or
    (``left``) why no setting at install does."""

    check_id: str
    expect: str  # as the profile writes it, variables unsubstituted
    defined_in: str  # the profile of the chain that set the expectation
    settings: tuple[Setting, ...]
    left: str | None = None

    @property
    def built_by(self) -> str:
        if self.left is not None:
            return f"not set at install: {self.left}"
        return "; ".join(f"{s.place}: {s.shown}" for s in self.settings)


def _expect_text(raw: Any) -> str:
    if isinstance(raw, dict):
        return ", ".join(f"{k}: {_expect_text(v)}" for k, v in raw.items())
    if isinstance(raw, bool):
        return "on" if raw else "off"
    return str(raw)


def _profile_name(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if name.endswith((".yaml", ".yml")) else name


# --- what each check needs -------------------------------------------------------------------

Builder = Callable[["_Ctx"], list[tuple[str, str, str | None]] | str]


@dataclass
class _Ctx:
    expect: Any  # the Expectation (or {field: Expectation}) with variables substituted
    variables: dict[str, Any]
    hugepages: tuple[int, int] | None  # (size_kb, pages)
    nr_cpus: int | None

    def value(self, default: Any = None, name: str | None = None) -> Any:
        exp = self.expect.get(name) if name and isinstance(self.expect, dict) else self.expect
        if exp is None or isinstance(exp, dict):
            return default
        got = exp.suggest()
        return default if got is None else got

    def text(self, default: Any = None, name: str | None = None) -> str:
        """The suggested value as the kernel or tuned writes it ('off', not False)."""
        from hftinfra.checks.values import show_value

        value = self.value(default, name)
        return show_value(value) if value is not None else str(default)

    def cpus(self, name: str) -> frozenset[int] | None:
        value = self.variables.get(name)
        return value if isinstance(value, frozenset) and value else None


def _int_text(value: Any) -> str:
    return str(int(value))


def _sysctl(key: str, default: Any, field_name: str | None = None) -> Builder:
    return lambda c: [("sysctl", key, _int_text(c.value(default, field_name)))]


def _cmdline(key: str, value_of: Callable[[_Ctx], str | None]) -> Builder:
    return lambda c: [("cmdline", key, value_of(c))]


def _isolated(c: _Ctx):
    cpus = c.cpus("isolated_cpus")
    if cpus is None:
        return "isolated_cpus is not set for this host"
    flags = "managed_irq,domain"
    # tuned's [scheduler] isolated_cores moves user threads and the IRQs it may move off these
    # CPUs at its start, for what began before isolcpus= took effect (tuned profiles/realtime/tuned.conf).
    return [("cmdline", "isolcpus", f"{flags},{format_cpulist(cpus)}"),
            ("tuned", "scheduler.isolated_cores", format_cpulist(cpus))]


def _on_isolated(key: str) -> Builder:
    def build(c: _Ctx):
        cpus = c.cpus("isolated_cpus")
        return [("cmdline", key, format_cpulist(cpus))] if cpus else "isolated_cpus is not set for this host"
    return build


def _housekeeping(c: _Ctx) -> frozenset[int] | None:
    return c.cpus("housekeeping_cpus")


def _irqaffinity(c: _Ctx):
    hk = _housekeeping(c)
    if hk is None:
        return "housekeeping_cpus is not set for this host"
    return [("cmdline", "irqaffinity", format_cpulist(hk))]


def _systemd(c: _Ctx):
    hk = _housekeeping(c)
    if hk is None:
        return "housekeeping_cpus is not set for this host"
    return [("tuned", "systemd.cpu_affinity", format_cpulist(hk))]


def _workqueue(c: _Ctx):
    hk = _housekeeping(c)
    if hk is None:
        return "housekeeping_cpus is not set for this host"
    # workqueue.unbound_cpus= arrived in 6.6; RHEL 9's 5.14 kernel takes the mask in sysfs,
    # which tuned's [sysfs] plugin writes at every start.
    return [("tuned", "sysfs./sys/devices/virtual/workqueue/cpumask", format_cpumask(hk, c.nr_cpus))]


def _irqbalance(c: _Ctx):
    iso = c.cpus("isolated_cpus")
    if iso is None:
        return "isolated_cpus is not set for this host"
    return [("tuned", "irqbalance.banned_cpus", format_cpulist(iso))]


def _hugepages(c: _Ctx):
    if c.hugepages is None:
        return "the inventory gives no hugepage pool for this host"
    size_kb, pages = c.hugepages
    size = "1G" if size_kb == 1048576 else "2M"
    return [("cmdline", "default_hugepagesz", size), ("cmdline", "hugepagesz", size),
            ("cmdline", "hugepages", str(pages))]


def _thp(c: _Ctx):
    want = c.text("never")
    return [("cmdline", "transparent_hugepage", want),
            ("tuned", "vm.transparent_hugepages", want)]


def _clocksource(c: _Ctx):
    out = [("cmdline", "clocksource", c.text("tsc", "current") if isinstance(c.expect, dict) else c.text("tsc"))]
    if isinstance(c.expect, dict) and "tsc_watchdog" in c.expect and c.text("off", "tsc_watchdog") == "off":
        # tsc=reliable marks the TSC stable and so skips the clocksource watchdog
        # (kernel-parameters.txt, tsc=).
        out.append(("cmdline", "tsc", "reliable"))
    return out


def _cstates(c: _Ctx):
    limit = c.value(2)
    # tuned's [cpu] force_latency holds /dev/cpu_dma_latency open at this many µs, which
    # keeps every CPU out of idle states whose exit latency is higher (pm_qos).
    return [("tuned", "cpu.force_latency", _int_text(limit))]


def _governor(c: _Ctx):
    return [("tuned", "cpu.governor", c.text("performance"))]


def _epp(c: _Ctx):
    return [("tuned", "cpu.energy_performance_preference", c.text("performance"))]


def _min_perf(c: _Ctx):
    return [("tuned", "cpu.min_perf_pct", _int_text(c.value(100)))]


def _turbo(c: _Ctx):
    off = c.text("off") == "off"
    return [("tuned", "cpu.no_turbo", "1" if off else "0")]


def _watchdog(c: _Ctx):
    return [("cmdline", "nosoftlockup", None), ("sysctl", "kernel.soft_watchdog", "0")]


def _nmi_watchdog(c: _Ctx):
    v = _int_text(c.value(0))
    return [("cmdline", "nmi_watchdog", v), ("sysctl", "kernel.nmi_watchdog", v)]


def _ksm(c: _Ctx):
    return [("tuned", "sysfs./sys/kernel/mm/ksm/run", _int_text(c.value(0)))]


def _numa_balancing(c: _Ctx):
    v = _int_text(c.value(0))
    out = [("sysctl", "kernel.numa_balancing", v)]
    if v == "0":
        out.append(("cmdline", "numa_balancing", "disable"))
    return out


def _dirty(c: _Ctx):
    out = []
    for name, default in (("dirty_ratio", 10), ("dirty_background_ratio", 3)):
        if isinstance(c.expect, dict) and name in c.expect:
            out.append(("sysctl", f"vm.{name}", _int_text(c.value(default, name))))
    return out


def _busy_poll(c: _Ctx):
    out = []
    for name in ("busy_read", "busy_poll"):
        if isinstance(c.expect, dict) and name in c.expect:
            out.append(("sysctl", f"net.core.{name}", _int_text(c.value(50, name))))
    return out


def _preempt(c: _Ctx):
    return [("cmdline", "preempt", c.text("full"))]


def _mitigations(c: _Ctx):
    return [("cmdline", "mitigations", c.text("off"))]


def _mce(c: _Ctx):
    return [("cmdline", "mce", "ignore_ce")] if _int_text(c.value(1)) == "1" else []


def _rcu_normal(c: _Ctx):
    return [("cmdline", "rcupdate.rcu_normal_after_boot", _int_text(c.value(1)))]


def _rcu_patience(c: _Ctx):
    return [("cmdline", "rcutree.nohz_full_patience_delay", _int_text(c.value(1000)))]


def _skew_tick(c: _Ctx):
    return [("cmdline", "skew_tick", _int_text(c.value(1)))]


def _nics(c: _Ctx) -> list[str]:
    names = c.variables.get("trading_nics")
    return sorted(names) if isinstance(names, frozenset) else []


def _coalescing(c: _Ctx):
    nics = _nics(c)
    if not nics:
        return "trading_nics is not set for this host"
    parts = []
    if isinstance(c.expect, dict):
        for name in ("adaptive_rx", "adaptive_tx"):
            if name in c.expect:
                parts.append(f"{name.replace('_', '-')} {c.text('off', name)}")
        if "rx_usecs" in c.expect:
            parts.append(f"rx-usecs {_int_text(c.value(0, 'rx_usecs'))}")
    return [("tuned", "net.devices", ",".join(nics)), ("tuned", "net.coalesce", " ".join(parts))]


def _gro_lro(c: _Ctx):
    nics = _nics(c)
    if not nics:
        return "trading_nics is not set for this host"
    parts = []
    if isinstance(c.expect, dict):
        for name in ("gro", "lro"):
            if name in c.expect:
                parts.append(f"{name} {c.text('off', name)}")
    return [("tuned", "net.devices", ",".join(nics)), ("tuned", "net.features", " ".join(parts))]


BUILDERS: dict[str, Builder] = {
    "cpu.isolated": _isolated,
    "cpu.nohz_full": _on_isolated("nohz_full"),
    "cpu.rcu_nocbs": _on_isolated("rcu_nocbs"),
    "cpu.irqaffinity": _irqaffinity,
    "irq.default_affinity": _irqaffinity,
    "cpu.systemd_affinity": _systemd,
    "cpu.workqueue_mask": _workqueue,
    "irq.irqbalance": _irqbalance,
    "cpu.governor": _governor,
    "cpu.pstate_min_perf": _min_perf,
    "cpu.epp": _epp,
    "cpu.cstates": _cstates,
    "cpu.pm_qos": _cstates,
    "cpu.turbo": _turbo,
    "kernel.sched_rt_runtime": _sysctl("kernel.sched_rt_runtime_us", 950000),
    "kernel.timer_migration": _sysctl("kernel.timer_migration", 0),
    "kernel.stat_interval": _sysctl("vm.stat_interval", 10),
    "kernel.nmi_watchdog": _nmi_watchdog,
    "kernel.hung_task": _sysctl("kernel.hung_task_timeout_secs", 600),
    "kernel.skew_tick": _skew_tick,
    "kernel.clocksource": _clocksource,
    "time.clocksource": _clocksource,
    "kernel.rcu_normal_after_boot": _rcu_normal,
    "kernel.rcu_patience_delay": _rcu_patience,
    "kernel.watchdog": _watchdog,
    "kernel.mce_ignore_ce": _mce,
    "kernel.mitigations": _mitigations,
    "kernel.preempt": _preempt,
    "memory.swappiness": _sysctl("vm.swappiness", 10),
    "memory.dirty": _dirty,
    "memory.thp": _thp,
    "memory.numa_balancing": _numa_balancing,
    "memory.zone_reclaim": _sysctl("vm.zone_reclaim_mode", 0),
    "memory.ksm": _ksm,
    "memory.compact_unevictable": _sysctl("vm.compact_unevictable_allowed", 0),
    "memory.hugepages": _hugepages,
    "net.busy_poll": _busy_poll,
    "net.coalescing": _coalescing,
    "net.gro_lro": _gro_lro,
}

# Checks no setting makes true, and why.
NOT_SETTINGS = {
    "memory.swap": "no swap partition is made (the inventory's disk layout is checked against this)",
    "cpu.smt": "SMT is a firmware setting, or the nosmt argument when the isolated CPUs do not cover whole cores",
    "net.pcie_link": "the PCIe link width and speed are the slot's and the card's",
    "net.rps": "RPS masks are per receive queue of NICs known only once the host runs (tuned [sysfs] with "
               "the queue paths, or the networking pages' fix)",
    "net.xps": "XPS masks are per transmit queue of NICs known only once the host runs",
    "net.channels": "channel counts depend on the NIC model; the networking pages size them",
    "irq.affinity": "device IRQs follow irqaffinity= and irqbalance's banned CPUs set here; drivers that set "
                    "their own affinity are pinned after boot",
    "irq.nic_numa_local": "which NUMA node a NIC sits on is the slot it is in",
    "irq.isolated_noise": "a measurement of the running host",
    "time.tsc_stable": "CPU flags and the kernel's verdict on the running host",
    "time.sync_daemon": "chronyd or ptp4l is configured by the time-sync pages",
    "time.synchronised": "a state of the running clock",
    "time.phc_present": "hardware timestamping is the NIC's",
    "time.ptp_servo": "a state of the running ptp4l",
    "time.chrony_offset": "a state of the running chronyd",
}


def plan_settings(profile, variables: dict[str, Any], *, hugepages: tuple[int, int] | None = None,
                  nr_cpus: int | None = None) -> SettingsPlan:
    """The settings that make ``profile``'s expectations true on a host with ``variables``
    (normalised profile variables: cpusets as frozensets)."""
    from hftinfra.checks import catalog
    from hftinfra.checks.values import show_value
    from hftinfra.profiles import build_expectation, substitute, variables_in

    checks = catalog()
    texts = {name: show_value(value, profile.variables[name].type) if name in profile.variables else str(value)
             for name, value in variables.items()}
    settings: list[Setting] = []
    left: list[tuple[str, str]] = []
    for cid, rule in profile.rules.items():
        builder = BUILDERS.get(cid)
        if builder is None:
            left.append((cid, NOT_SETTINGS.get(cid, "no setting makes this true")))
            continue
        missing = [n for n in variables_in(rule.expect) if n not in texts]
        if missing:
            left.append((cid, f"{', '.join(missing)} is not set for this host"))
            continue
        expect = build_expectation(checks[cid], substitute(rule.expect, texts))
        got = builder(_Ctx(expect, variables, hugepages, nr_cpus))
        if isinstance(got, str):
            left.append((cid, got))
            continue
        for kind, key, value in got:
            settings.append(Setting(kind, key, value, cid, rule.reason, rule.sources))
    return SettingsPlan(profile=profile.name, chain=profile.chain, settings=tuple(settings), left=tuple(left),
                        variables=dict(variables))


__all__ = ["BUILDERS", "CheckPlan", "KINDS", "NOT_SETTINGS", "Setting", "SettingsPlan", "plan_settings"]
