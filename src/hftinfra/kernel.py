"""Kernel: version, build options, preemption, ticks, clocksource, watchdogs, RT
throttling, CPU vulnerabilities, machine-check and virtualisation.

Read, then parse with pure functions, then frozen records naming their sources. What the
command line configures (``preempt=``, ``nmi_watchdog=``, ``tsc=``, ``mitigations=``) is
kept apart from what the kernel reports in effect (debugfs, /proc/sys, sysfs).

The build configuration comes from ``/boot/config-$(uname -r)`` or, when the kernel was
built with CONFIG_IKCONFIG_PROC, ``/proc/config.gz``. Without either, HZ is unknown and
says why: it is not exported anywhere else, and this module does not guess it from
jiffies.

Kernel documentation: admin-guide/kernel-parameters, timers/no_hz.rst,
admin-guide/sysctl/kernel.rst, scheduler/sched-rt-group.rst, admin-guide/lockup-watchdogs,
admin-guide/hw-vuln/, ABI/testing/sysfs-devices-system-cpu, arch/x86/x86_64/machinecheck.
"""

from __future__ import annotations

import gzip
import re
import weakref
import zlib
from dataclasses import dataclass

from hftinfra.cpulist import parse_cpulist
from hftinfra.host import Host, Reason, Unread
from hftinfra.identity import Virtualization, detect_virtualization
from hftinfra.parsers import (
    cpuinfo_flags,
    parse_cmdline,
    parse_cpuinfo,
    parse_int,
    parse_kconfig,
    parse_marked_choice,
    parse_words,
    sysctl_path,
    vulnerability_state,
)
from hftinfra.probes import probe

CMDLINE = "/proc/cmdline"
CPUINFO = "/proc/cpuinfo"
OSRELEASE = "/proc/sys/kernel/osrelease"
VERSION = "/proc/sys/kernel/version"
REALTIME = "/sys/kernel/realtime"
DEBUGFS = "/sys/kernel/debug"
DEBUG_PREEMPT = f"{DEBUGFS}/sched/preempt"
CONFIG_GZ = "/proc/config.gz"
CLOCKSOURCE_DIR = "/sys/devices/system/clocksource/clocksource0"
CURRENT_CLOCKSOURCE = f"{CLOCKSOURCE_DIR}/current_clocksource"
AVAILABLE_CLOCKSOURCE = f"{CLOCKSOURCE_DIR}/available_clocksource"
VULNERABILITIES_DIR = "/sys/devices/system/cpu/vulnerabilities"
MCE_IGNORE_CE = "/sys/devices/system/machinecheck/machinecheck0/ignore_ce"
WATCHDOG_CPUMASK = "/proc/sys/kernel/watchdog_cpumask"
NODE_ONLINE = "/sys/devices/system/node/online"
RCUPDATE_PARAMS = "/sys/module/rcupdate/parameters"
RCUTREE_PARAMS = "/sys/module/rcutree/parameters"

# x86 cpuinfo flags that tell whether the TSC can serve as a clocksource
# (arch/x86/include/asm/cpufeatures.h; Documentation/virt/kvm/x86/timekeeping.rst).
TSC_FLAGS = ("tsc", "rdtscp", "constant_tsc", "nonstop_tsc", "tsc_known_freq", "tsc_reliable",
             "tsc_adjust", "tsc_deadline_timer")

# preempt= values and the dynamic modes (kernel/sched/core.c, sched_dynamic_mode).
PREEMPT_MODES = ("none", "voluntary", "full", "lazy")

# The Kconfig "Preemption Model" choice (kernel/Kconfig.preempt), most specific first.
_PREEMPT_CHOICE = (
    ("CONFIG_PREEMPT_RT", "rt"),
    ("CONFIG_PREEMPT_LAZY", "lazy"),
    ("CONFIG_PREEMPT", "full"),
    ("CONFIG_PREEMPT_VOLUNTARY", "voluntary"),
    ("CONFIG_PREEMPT_NONE", "none"),
)

WATCHDOG_SYSCTLS = {
    "watchdog": "kernel.watchdog",
    "nmi_watchdog": "kernel.nmi_watchdog",
    "soft_watchdog": "kernel.soft_watchdog",
    "watchdog_thresh": "kernel.watchdog_thresh",
    "hung_task_timeout_secs": "kernel.hung_task_timeout_secs",
}


# ---- records ------------------------------------------------------------------------------


def parse_release(release: str) -> tuple[int, int, int]:
    """The (major, minor, patch) numbers at the start of a kernel release string.

    Distribution suffixes and -rc tags follow the numbers (``uname -r``; the kernel's
    Makefile builds KERNELRELEASE as VERSION.PATCHLEVEL.SUBLEVEL plus EXTRAVERSION and
    LOCALVERSION), and a missing patch level counts as 0.

    >>> parse_release("5.14.0-427.13.1.el9_4.x86_64")
    (5, 14, 0)
    >>> parse_release("6.18.44-fc-v669")
    (6, 18, 44)
    >>> parse_release("6.12-rc3")
    (6, 12, 0)
    """
    m = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", release)
    if not m:
        raise ValueError(f"not a kernel release: {release!r}")
    return int(m[1]), int(m[2]), int(m[3] or 0)


@dataclass(frozen=True)
class KernelVersion:
    release: str | Unread
    version: str | Unread
    uname: str | Unread  # `uname -a`, as recorded
    sources: tuple[str, ...] = (OSRELEASE, VERSION, "uname -a")

    @property
    def numbers(self) -> tuple[int, int, int] | Unread:
        """(major, minor, patch) of the running kernel, or why they are not known."""
        if isinstance(self.release, Unread):
            return self.release
        try:
            return parse_release(self.release)
        except ValueError as exc:
            return Unread(Reason.MALFORMED, OSRELEASE, str(exc))

    def at_least(self, major: int, minor: int) -> bool | Unread:
        """Whether the running kernel is major.minor or newer (distribution backports aside)."""
        numbers = self.numbers
        if isinstance(numbers, Unread):
            return numbers
        return numbers[:2] >= (major, minor)


@dataclass(frozen=True)
class KernelConfig:
    """The kernel build configuration, parsed (``options``) and where it came from."""

    source: str
    options: dict[str, str]

    def enabled(self, option: str) -> bool:
        return self.options.get(option) in ("y", "m")


@dataclass(frozen=True)
class KernelBuild:
    """What the build configuration says, for the options that matter to latency.

    A boolean option absent from a full ``.config`` is off: kconfig writes every option
    it could offer, and an absent one was not offered."""

    source: str | Unread
    hz: int | Unread
    preempt_model: str | Unread  # none | voluntary | full | lazy | rt
    preempt_dynamic: bool | Unread
    preempt_rt: bool | Unread
    no_hz_full: bool | Unread
    no_hz_idle: bool | Unread


@dataclass(frozen=True)
class Preemption:
    """The preemption model.

    ``build_model``: the Kconfig choice; fixed for a kernel without PREEMPT_DYNAMIC, the
    boot default for one with it. ``configured``: ``preempt=`` on the command line (None
    when absent). ``current_mode``: read from debugfs (``/sys/kernel/debug/sched/preempt``),
    the only place the mode in effect is shown. ``mode`` is the best statement available,
    with ``mode_source`` saying where it came from and ``mode_observed`` whether it was
    read from the kernel's state (debugfs, or a model fixed at build) rather than inferred
    from boot settings."""

    rt: bool | Unread
    rt_evidence: str
    dynamic: bool | Unread
    dynamic_evidence: str
    build_model: str | Unread
    configured: str | None | Unread
    current_mode: str | Unread
    mode: str | Unread
    mode_source: str
    mode_observed: bool
    sources: tuple[str, ...] = (REALTIME, VERSION, DEBUG_PREEMPT, CMDLINE)


@dataclass(frozen=True)
class Tick:
    """The scheduler tick and the timers that ride on it: HZ (build), tickless support
    (build), the command line's ``nohz=`` and ``skew_tick=`` (configured), and in effect
    ``kernel.timer_migration`` and ``vm.stat_interval`` (seconds between per-CPU vmstat
    updates)."""

    hz: int | Unread
    hz_source: str
    no_hz_full_built: bool | Unread
    no_hz_idle_built: bool | Unread
    nohz: str | None | Unread
    skew_tick: str | None | Unread
    timer_migration: int | Unread
    stat_interval: int | Unread
    sources: tuple[str, ...] = (CMDLINE, sysctl_path("kernel.timer_migration"), sysctl_path("vm.stat_interval"))


@dataclass(frozen=True)
class Clocksource:
    """``current`` and ``available`` in effect; ``tsc_flags`` present on every CPU;
    ``tsc`` and ``clocksource`` as configured on the command line (None when absent).
    ``packages`` (the ``physical id`` values in cpuinfo) and ``online_nodes`` are what
    arch/x86/kernel/tsc.c counts when it decides, since 5.16, whether the TSC needs the
    clocksource watchdog at all."""

    current: str | Unread
    available: tuple[str, ...] | Unread
    tsc_flags: frozenset[str] | Unread
    tsc: str | None | Unread
    clocksource: str | None | Unread
    sources: tuple[str, ...] = (CURRENT_CLOCKSOURCE, AVAILABLE_CLOCKSOURCE, CPUINFO, CMDLINE)
    packages: frozenset[int] | Unread | None = None
    online_nodes: frozenset[int] | Unread | None = None

    def missing_tsc_flags(self, wanted: tuple[str, ...] = ("constant_tsc", "nonstop_tsc")) -> tuple[str, ...] | Unread:
        if isinstance(self.tsc_flags, Unread):
            return self.tsc_flags
        return tuple(f for f in wanted if f not in self.tsc_flags)


@dataclass(frozen=True)
class Watchdogs:
    """Lockup detectors and the hung-task check in effect (/proc/sys/kernel), and their
    command-line switches as configured (admin-guide/lockup-watchdogs.rst)."""

    watchdog: int | Unread
    nmi_watchdog: int | Unread
    soft_watchdog: int | Unread
    watchdog_thresh: int | Unread
    hung_task_timeout_secs: int | Unread
    watchdog_cpumask: frozenset[int] | Unread
    nowatchdog: bool | Unread
    nosoftlockup: bool | Unread
    nmi_watchdog_cmdline: str | None | Unread
    sources: tuple[str, ...] = tuple(sysctl_path(n) for n in WATCHDOG_SYSCTLS.values()) + (
        WATCHDOG_CPUMASK, CMDLINE)


@dataclass(frozen=True)
class RtThrottling:
    """RT throttling (scheduler/sched-rt-group.rst): realtime tasks may use ``runtime_us``
    of every ``period_us``; ``-1`` disables the limit. ``rt_group_sched``: the
    ``rt_group_sched=`` command-line switch of RT group scheduling (None when absent),
    which since 6.12 decides whether these sysctls still throttle realtime tasks."""

    runtime_us: int | Unread
    period_us: int | Unread
    sources: tuple[str, ...] = (sysctl_path("kernel.sched_rt_runtime_us"),
                                sysctl_path("kernel.sched_rt_period_us"))
    rt_group_sched: str | None | Unread = None

    @property
    def disabled(self) -> bool | Unread:
        return self.runtime_us if isinstance(self.runtime_us, Unread) else self.runtime_us < 0

    @property
    def rt_share(self) -> float | Unread:
        """The fraction of each period RT tasks may run (1.0 when throttling is off)."""
        if isinstance(self.runtime_us, Unread):
            return self.runtime_us
        if self.runtime_us < 0:
            return 1.0
        if isinstance(self.period_us, Unread):
            return self.period_us
        if self.period_us <= 0:
            return Unread(Reason.MALFORMED, self.sources[1], f"period {self.period_us} us")
        return self.runtime_us / self.period_us


@dataclass(frozen=True)
class Rcu:
    """RCU boot parameters that touch isolated CPUs, in effect (module parameters under
    /sys/module) and as configured on the command line (None when absent).

    ``normal_after_boot``: rcupdate.rcu_normal_after_boot, which makes expedited grace
    periods normal ones once boot is done; sysfs shows it since 5.16 (before, its mode was
    0) and not at all on PREEMPT_RT without NO_HZ_FULL. ``normal``: rcupdate.rcu_normal,
    1 while expedited grace periods are turned into normal ones. ``patience_delay_ms``:
    rcutree.nohz_full_patience_delay (6.11+), the grace-period age before RCU disturbs a
    nohz_full CPU that is in the kernel. Kernel parameters treat '-' and '_' alike.
    """

    normal_after_boot: int | Unread
    normal: int | Unread
    patience_delay_ms: int | Unread
    cmdline_normal_after_boot: str | None | Unread
    cmdline_normal: str | None | Unread
    cmdline_patience_delay: str | None | Unread
    sources: tuple[str, ...] = (f"{RCUPDATE_PARAMS}/rcu_normal_after_boot", f"{RCUPDATE_PARAMS}/rcu_normal",
                                f"{RCUTREE_PARAMS}/nohz_full_patience_delay", CMDLINE)


@dataclass(frozen=True)
class Vulnerability:
    name: str
    text: str | Unread
    state: str | Unread  # not-affected | mitigated | vulnerable | unknown
    source: str


@dataclass(frozen=True)
class Mitigations:
    configured: str | None | Unread  # mitigations= on the command line
    vulnerabilities: tuple[Vulnerability, ...] | Unread
    sources: tuple[str, ...] = (CMDLINE, VULNERABILITIES_DIR)

    def by_state(self, state: str) -> tuple[str, ...] | Unread:
        if isinstance(self.vulnerabilities, Unread):
            return self.vulnerabilities
        return tuple(v.name for v in self.vulnerabilities if v.state == state)


@dataclass(frozen=True)
class MachineCheck:
    """Corrected-error handling (arch/x86/x86_64/machinecheck.rst): ``ignore_ce`` 1 stops
    the periodic poll and CMCI for corrected errors; ``mce=`` as configured."""

    ignore_ce: int | Unread
    mce: str | None | Unread
    sources: tuple[str, ...] = (MCE_IGNORE_CE, CMDLINE)


@dataclass(frozen=True)
class Kernel:
    """Everything this module reads, in one record (``read_kernel``)."""

    version: KernelVersion
    build: KernelBuild
    preemption: Preemption
    tick: Tick
    clocksource: Clocksource
    watchdogs: Watchdogs
    rt_throttling: RtThrottling
    mitigations: Mitigations
    machine_check: MachineCheck
    virtualization: Virtualization
    rcu: Rcu | None = None


@dataclass(frozen=True)
class PeriodicWork:
    """One source of the kernel's own periodic work on a CPU, as the settings imply it.

    ``per_second`` is derived from the settings and the kernel's documented mechanism, not
    measured: 0.0 when the settings switch the source off, Unread when a setting could not
    be read. ``applies_to`` says which CPUs see it."""

    name: str
    per_second: float | Unread
    setting: str
    applies_to: str
    docs: str


# ---- pure helpers -------------------------------------------------------------------------


def version_flags(version: str) -> frozenset[str]:
    """The build flags in ``/proc/sys/kernel/version``: ``#1 SMP PREEMPT_DYNAMIC @0`` ->
    ``{'SMP', 'PREEMPT_DYNAMIC'}``. Out-of-tree RT patches wrote ``PREEMPT RT``, which
    counts as ``PREEMPT_RT``. Since 5.18 scripts/mkcompile_h prints one of PREEMPT_RT,
    PREEMPT_DYNAMIC or PREEMPT, in that order of precedence."""
    words = version.split()
    flags = {w for w in words if w in ("SMP", "PREEMPT", "PREEMPT_RT", "PREEMPT_DYNAMIC", "RT")}
    if "RT" in flags:
        flags.discard("RT")
        if "PREEMPT" in words and words.index("RT") == words.index("PREEMPT") + 1:
            flags.add("PREEMPT_RT")
    return frozenset(flags)


def kconfig_preempt_model(options: dict[str, str]) -> str:
    """The Kconfig preemption choice as a mode name; ValueError when none is set."""
    for option, model in _PREEMPT_CHOICE:
        if options.get(option) == "y":
            return model
    raise ValueError("no CONFIG_PREEMPT_* choice set")


def decompress_config(data: bytes) -> str:
    """``/proc/config.gz`` bytes to text; ValueError when the gzip stream is damaged."""
    try:
        return gzip.decompress(data).decode("utf-8", errors="replace")
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"not a gzip stream: {exc}") from None


# ---- reading ------------------------------------------------------------------------------


def _cmdline(host: Host) -> dict[str, str | None] | Unread:
    return host.read_value(CMDLINE, parse_cmdline)


def _param(cmdline: dict[str, str | None] | Unread, key: str) -> str | None | Unread:
    """A parameter's value, None when absent (a bare flag reads as '')."""
    if isinstance(cmdline, Unread):
        return cmdline
    if key not in cmdline:
        return None
    value = cmdline[key]
    return "" if value is None else value


def _flag(cmdline: dict[str, str | None] | Unread, key: str) -> bool | Unread:
    return cmdline if isinstance(cmdline, Unread) else key in cmdline


def read_sysctl(host: Host, name: str) -> int | Unread:
    return host.read_value(sysctl_path(name), parse_int)


def read_kernel_config(host: Host) -> KernelConfig | Unread:
    """``/boot/config-<release>``, else ``/proc/config.gz``; Unread with why when neither.

    Read once per Host: a running kernel's build config cannot change, and three probes
    (build, preemption, tick) need it."""
    try:
        return _CONFIGS[host]
    except KeyError:
        config = _CONFIGS[host] = _read_kernel_config(host)
        return config


_CONFIGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _read_kernel_config(host: Host) -> KernelConfig | Unread:
    tried: list[Unread] = []
    release = host.read(OSRELEASE)
    if not isinstance(release, Unread) and release.strip():
        boot = f"/boot/config-{release.strip()}"
        options = host.read_value(boot, parse_kconfig)
        if not isinstance(options, Unread):
            return KernelConfig(boot, options)
        tried.append(options)
    data = host.read_bytes(CONFIG_GZ)
    if not isinstance(data, Unread):
        try:
            return KernelConfig(CONFIG_GZ, parse_kconfig(decompress_config(data)))
        except ValueError as exc:
            return Unread(Reason.MALFORMED, CONFIG_GZ, f"{CONFIG_GZ}: {exc}")
    tried.append(data)
    # A denied or damaged file says more than a missing one.
    for reason in (Reason.MALFORMED, Reason.DENIED, Reason.UNSUPPORTED):
        for u in tried:
            if u.reason is reason:
                return u
    if len(tried) == 2:
        why = f"neither {tried[0].source} nor {CONFIG_GZ} (CONFIG_IKCONFIG_PROC) is present"
    else:
        why = (f"{CONFIG_GZ} is absent (CONFIG_IKCONFIG_PROC) and the release is unknown, so "
               "/boot/config-<release> cannot be looked up")
    return Unread(Reason.MISSING, CONFIG_GZ, f"no kernel build config: {why}")


@probe("kernel.version")
def read_kernel_version(host: Host) -> KernelVersion:
    release = host.read(OSRELEASE)
    version = host.read(VERSION)
    result = host.run(["uname", "-a"])
    uname: str | Unread
    if isinstance(result, Unread):
        uname = result
    elif not result.ok:
        uname = Unread(Reason.UNSUPPORTED, "uname -a", f"exit {result.returncode}: {result.stderr.strip()}")
    else:
        uname = result.stdout.strip()
    return KernelVersion(
        release=release.strip() if isinstance(release, str) else release,
        version=version.strip() if isinstance(version, str) else version,
        uname=uname,
    )


def _build(config: KernelConfig | Unread) -> KernelBuild:
    if isinstance(config, Unread):
        return KernelBuild(config, config, config, config, config, config, config)
    hz: int | Unread
    try:
        hz = int(config.options["CONFIG_HZ"])
    except (KeyError, ValueError):
        hz = Unread(Reason.MISSING, config.source, f"no numeric CONFIG_HZ in {config.source}")
    model: str | Unread
    try:
        model = kconfig_preempt_model(config.options)
    except ValueError as exc:
        model = Unread(Reason.MISSING, config.source, f"{config.source}: {exc}")
    return KernelBuild(
        source=config.source,
        hz=hz,
        preempt_model=model,
        preempt_dynamic=config.enabled("CONFIG_PREEMPT_DYNAMIC"),
        preempt_rt=config.enabled("CONFIG_PREEMPT_RT"),
        no_hz_full=config.enabled("CONFIG_NO_HZ_FULL"),
        no_hz_idle=config.enabled("CONFIG_NO_HZ_IDLE") or config.enabled("CONFIG_NO_HZ_FULL"),
    )


@probe("kernel.config")
def read_kernel_build(host: Host, config: KernelConfig | Unread | None = None) -> KernelBuild:
    return _build(read_kernel_config(host) if config is None else config)


def _debugfs_unread(host: Host, current: Unread) -> Unread:
    if current.reason is Reason.MISSING:
        listing = host.listdir(DEBUGFS)
        if isinstance(listing, list) and not listing:
            return Unread(Reason.MISSING, DEBUG_PREEMPT,
                          f"debugfs is not mounted ({DEBUGFS} is empty); `mount -t debugfs none {DEBUGFS}` shows it")
        if isinstance(listing, list):
            return Unread(Reason.MISSING, DEBUG_PREEMPT, "debugfs is mounted but has no sched/preempt")
    return current


@probe("kernel.preempt")
def read_preemption(host: Host, config: KernelConfig | Unread | None = None) -> Preemption:
    build = read_kernel_build(host, config)
    version = host.read(VERSION)
    flags = version_flags(version) if isinstance(version, str) else None
    realtime = host.read_value(REALTIME, parse_int)

    rt: bool | Unread
    if not isinstance(realtime, Unread):
        rt, rt_evidence = realtime == 1, f"{REALTIME} = {realtime}"
    elif not isinstance(build.preempt_rt, Unread):
        rt = build.preempt_rt
        rt_evidence = f"CONFIG_PREEMPT_RT {'set' if rt else 'not set'} in {build.source}"
    elif flags is not None:
        rt = "PREEMPT_RT" in flags
        rt_evidence = f"{'' if rt else 'no '}PREEMPT_RT in {VERSION} ({REALTIME}: {realtime.reason})"
    else:
        rt = Unread(Reason.MISSING, REALTIME,
                    f"neither {REALTIME}, a kernel config nor {VERSION} could be read")
        rt_evidence = "no readable evidence"

    current_raw = host.read_value(DEBUG_PREEMPT, parse_marked_choice)
    dynamic: bool | Unread
    if not isinstance(build.preempt_dynamic, Unread):
        dynamic = build.preempt_dynamic
        dynamic_evidence = f"CONFIG_PREEMPT_DYNAMIC {'set' if dynamic else 'not set'} in {build.source}"
    elif not isinstance(current_raw, Unread):
        dynamic, dynamic_evidence = True, f"{DEBUG_PREEMPT} exists"
    elif flags is not None and "PREEMPT_DYNAMIC" in flags:
        dynamic, dynamic_evidence = True, f"PREEMPT_DYNAMIC in {VERSION}"
    elif flags is not None and not flags & {"PREEMPT", "PREEMPT_RT"}:
        dynamic, dynamic_evidence = False, f"no PREEMPT flag at all in {VERSION}"
    else:
        dynamic = Unread(Reason.MISSING, CONFIG_GZ,
                         "no kernel config, and the version string cannot tell (5.12-5.17 printed PREEMPT)")
        dynamic_evidence = "no readable evidence"

    cmdline = _cmdline(host)
    configured = _param(cmdline, "preempt")

    current: str | Unread
    if not isinstance(current_raw, Unread):
        current = current_raw[0]
    elif dynamic is False:
        current = Unread(Reason.UNSUPPORTED, DEBUG_PREEMPT,
                         "kernel built without PREEMPT_DYNAMIC: the model is fixed at build time")
    else:
        current = _debugfs_unread(host, current_raw)

    mode: str | Unread
    observed = False
    if isinstance(current, str):
        mode, source, observed = current, f"{DEBUG_PREEMPT} (in effect)", True
    elif dynamic is False and isinstance(build.preempt_model, str):
        mode, source, observed = build.preempt_model, f"{build.source} (fixed at build)", True
    elif dynamic is True and isinstance(configured, str) and configured in PREEMPT_MODES:
        mode = configured
        source = (f"preempt={configured} on the command line: the boot setting; only debugfs "
                  "shows a later change")
    elif dynamic is True and isinstance(build.preempt_model, str):
        mode = build.preempt_model
        source = (f"{build.source}: the boot default (no preempt= on the command line); only "
                  "debugfs shows a later change")
    else:
        why = [f"{u.source}: {u.reason}" for u in (current, build.preempt_model, dynamic) if isinstance(u, Unread)]
        mode = Unread(Reason.MISSING, DEBUG_PREEMPT,
                      "no evidence of the mode (" + "; ".join(dict.fromkeys(why)) + ")")
        source = "unknown"
    return Preemption(rt=rt, rt_evidence=rt_evidence, dynamic=dynamic, dynamic_evidence=dynamic_evidence,
                      build_model=build.preempt_model, configured=configured, current_mode=current,
                      mode=mode, mode_source=source, mode_observed=observed)


@probe("kernel.tick")
def read_tick(host: Host, config: KernelConfig | Unread | None = None) -> Tick:
    build = read_kernel_build(host, config)
    cmdline = _cmdline(host)
    hz_source = f"CONFIG_HZ in {build.source}" if isinstance(build.source, str) else "unknown"
    return Tick(
        hz=build.hz,
        hz_source=hz_source,
        no_hz_full_built=build.no_hz_full,
        no_hz_idle_built=build.no_hz_idle,
        nohz=_param(cmdline, "nohz"),
        skew_tick=_param(cmdline, "skew_tick"),
        timer_migration=read_sysctl(host, "kernel.timer_migration"),
        stat_interval=read_sysctl(host, "vm.stat_interval"),
    )


def _tsc_flags(cpuinfo: list[dict[str, str]] | Unread) -> frozenset[str] | Unread:
    if isinstance(cpuinfo, Unread):
        return cpuinfo
    blocks = [b for b in cpuinfo if "flags" in b]
    if not blocks:
        return Unread(Reason.UNSUPPORTED, CPUINFO, "no x86 'flags' line: TSC flags exist on x86 only")
    common = frozenset(TSC_FLAGS)
    for block in blocks:
        common &= cpuinfo_flags(block)
    return common


def _packages(cpuinfo: list[dict[str, str]] | Unread) -> frozenset[int] | Unread:
    if isinstance(cpuinfo, Unread):
        return cpuinfo
    blocks = [b for b in cpuinfo if "processor" in b]
    try:
        ids = frozenset(int(b["physical id"]) for b in blocks)
    except (KeyError, ValueError):
        return Unread(Reason.UNSUPPORTED, CPUINFO, "no numeric 'physical id' on every processor")
    return ids or Unread(Reason.MALFORMED, CPUINFO, "no processor blocks")


@probe("kernel.clocksource")
def read_clocksource(host: Host) -> Clocksource:
    cmdline = _cmdline(host)
    current = host.read(CURRENT_CLOCKSOURCE)
    cpuinfo = host.read_value(CPUINFO, parse_cpuinfo)
    return Clocksource(
        current=current.strip() if isinstance(current, str) else current,
        available=host.read_value(AVAILABLE_CLOCKSOURCE, parse_words),
        tsc_flags=_tsc_flags(cpuinfo),
        tsc=_param(cmdline, "tsc"),
        clocksource=_param(cmdline, "clocksource"),
        packages=_packages(cpuinfo),
        online_nodes=host.read_value(NODE_ONLINE, parse_cpulist),
    )


@probe("kernel.watchdog")
def read_watchdogs(host: Host) -> Watchdogs:
    cmdline = _cmdline(host)
    values = {field: read_sysctl(host, name) for field, name in WATCHDOG_SYSCTLS.items()}
    return Watchdogs(**values,
                     watchdog_cpumask=host.read_value(WATCHDOG_CPUMASK, parse_cpulist),
                     nowatchdog=_flag(cmdline, "nowatchdog"),
                     nosoftlockup=_flag(cmdline, "nosoftlockup"),
                     nmi_watchdog_cmdline=_param(cmdline, "nmi_watchdog"))


@probe("kernel.rt_throttling")
def read_rt_throttling(host: Host) -> RtThrottling:
    return RtThrottling(runtime_us=read_sysctl(host, "kernel.sched_rt_runtime_us"),
                        period_us=read_sysctl(host, "kernel.sched_rt_period_us"),
                        rt_group_sched=_param(_cmdline(host), "rt_group_sched"))


def _module_param(cmdline: dict[str, str | None] | Unread, name: str) -> str | None | Unread:
    """A built-in module's parameter on the command line; the kernel compares parameter
    names with '-' and '_' as the same character (kernel/params.c, parameq)."""
    if isinstance(cmdline, Unread):
        return cmdline
    found: str | None = None
    for key, value in cmdline.items():
        if key.replace("-", "_") == name:
            found = "" if value is None else value
    return found


@probe("kernel.rcu")
def read_rcu(host: Host) -> Rcu:
    cmdline = _cmdline(host)
    return Rcu(
        normal_after_boot=host.read_value(f"{RCUPDATE_PARAMS}/rcu_normal_after_boot", parse_int),
        normal=host.read_value(f"{RCUPDATE_PARAMS}/rcu_normal", parse_int),
        patience_delay_ms=host.read_value(f"{RCUTREE_PARAMS}/nohz_full_patience_delay", parse_int),
        cmdline_normal_after_boot=_module_param(cmdline, "rcupdate.rcu_normal_after_boot"),
        cmdline_normal=_module_param(cmdline, "rcupdate.rcu_normal"),
        cmdline_patience_delay=_module_param(cmdline, "rcutree.nohz_full_patience_delay"),
    )


@probe("kernel.mitigations")
def read_mitigations(host: Host) -> Mitigations:
    names = host.listdir(VULNERABILITIES_DIR)
    vulns: tuple[Vulnerability, ...] | Unread
    if isinstance(names, Unread):
        vulns = names
    else:
        built = []
        for name in names:
            path = f"{VULNERABILITIES_DIR}/{name}"
            text = host.read(path)
            if isinstance(text, Unread):
                built.append(Vulnerability(name, text, text, path))
            else:
                built.append(Vulnerability(name, text.strip(), vulnerability_state(text), path))
        vulns = tuple(built)
    return Mitigations(configured=_param(_cmdline(host), "mitigations"), vulnerabilities=vulns)


@probe("kernel.mce")
def read_machine_check(host: Host) -> MachineCheck:
    return MachineCheck(ignore_ce=host.read_value(MCE_IGNORE_CE, parse_int),
                        mce=_param(_cmdline(host), "mce"))


@probe("kernel.virtualization")
def read_virtualization(host: Host) -> Virtualization:
    return detect_virtualization(host)


def periodic_work(kernel: Kernel, nohz_full: bool = False, cpu: int | None = None) -> tuple[PeriodicWork, ...]:
    """The kernel's periodic interruptions of one CPU that runs a single busy task, derived
    from ``kernel``'s settings. ``nohz_full``: the CPU is in the ``nohz_full`` set; ``cpu``:
    its number, checked against ``kernel.watchdog_cpumask`` (whose default leaves out the
    nohz_full CPUs, admin-guide/lockup-watchdogs.rst).

    - scheduler tick: HZ per second on a busy CPU; on a nohz_full CPU with one task, none
      since 4.17, where a housekeeping CPU runs the residual 1 Hz tick remotely (commit
      d84b31313ef8, "sched/isolation: Offload residual 1Hz scheduler tick"), about 1 per
      second before (timers/no_hz.rst).
    - vmstat: per-CPU statistics folded every ``vm.stat_interval`` seconds
      (admin-guide/sysctl/vm.rst); nohz_full CPUs have it quiesced once their counters are
      folded, so 0 there is a best case.
    - soft-lockup hrtimer: every 2 * watchdog_thresh / 5 seconds while any lockup detector
      is on (admin-guide/lockup-watchdogs.rst, kernel/watchdog.c).
    - NMI watchdog: a perf NMI every ``watchdog_thresh`` seconds while ``nmi_watchdog`` is on.
    """
    tick: float | Unread
    hz = kernel.tick.hz
    if nohz_full:
        offloaded = kernel.version.at_least(4, 17)
        if isinstance(offloaded, Unread):
            tick = offloaded
            tick_setting = "nohz_full CPU: kernel version unknown (a residual 1 Hz tick before 4.17)"
        elif offloaded:
            tick = 0.0
            tick_setting = "nohz_full CPU: the residual 1 Hz tick runs on a housekeeping CPU (4.17+)"
        else:
            tick = 1.0
            tick_setting = "nohz_full CPU: residual 1 Hz tick (before 4.17)"
    else:
        tick = float(hz) if isinstance(hz, int) else hz
        tick_setting = f"CONFIG_HZ={hz}" if isinstance(hz, int) else "CONFIG_HZ unknown"

    interval = kernel.tick.stat_interval
    vmstat: float | Unread
    if isinstance(interval, Unread):
        vmstat = interval
    elif nohz_full:
        vmstat = 0.0
    else:
        vmstat = 1.0 / interval if interval > 0 else Unread(Reason.MALFORMED, sysctl_path("vm.stat_interval"),
                                                           f"vm.stat_interval = {interval}")

    w = kernel.watchdogs
    hrtimer: float | Unread
    nmi: float | Unread
    thresh = w.watchdog_thresh
    mask = w.watchdog_cpumask
    outside_mask = (cpu is not None and isinstance(mask, frozenset) and cpu not in mask) or (
        nohz_full and cpu is None and isinstance(mask, Unread))
    if outside_mask:
        hrtimer = nmi = 0.0
    elif isinstance(w.watchdog, Unread):
        hrtimer = nmi = w.watchdog
    elif w.watchdog == 0:
        hrtimer = nmi = 0.0
    elif isinstance(thresh, Unread):
        hrtimer = nmi = thresh
    elif thresh <= 0:
        # watchdog_thresh=0 turns both detectors off (admin-guide/sysctl/kernel.rst).
        hrtimer = nmi = 0.0
    else:
        soft = w.soft_watchdog
        hard = w.nmi_watchdog
        if isinstance(soft, Unread) and isinstance(hard, Unread):
            hrtimer = soft
        elif soft == 1 or hard == 1:
            hrtimer = 5.0 / (2.0 * thresh)
        else:
            hrtimer = 0.0
        nmi = hard if isinstance(hard, Unread) else (1.0 / thresh if hard == 1 else 0.0)
    on = "on" if w.watchdog == 1 else "off" if w.watchdog == 0 else "unknown"
    return (
        PeriodicWork("scheduler tick", tick, tick_setting,
                     "nohz_full CPU with one task" if nohz_full else "every CPU running a task",
                     "Documentation/timers/no_hz.rst"),
        PeriodicWork("vmstat update", vmstat, f"vm.stat_interval={interval}",
                     "nohz_full CPU (quiesced)" if nohz_full else "CPUs whose counters changed",
                     "Documentation/admin-guide/sysctl/vm.rst"),
        PeriodicWork("soft-lockup hrtimer", hrtimer,
                     f"kernel.watchdog={w.watchdog} soft_watchdog={w.soft_watchdog} watchdog_thresh={thresh}",
                     f"CPUs in kernel.watchdog_cpumask (watchdog {on})"
                     + (", which leaves this CPU out" if outside_mask else ""),
                     "Documentation/admin-guide/lockup-watchdogs.rst"),
        PeriodicWork("NMI watchdog", nmi, f"kernel.nmi_watchdog={w.nmi_watchdog} watchdog_thresh={thresh}",
                     "CPUs in kernel.watchdog_cpumask" + (", which leaves this CPU out" if outside_mask else ""),
                     "Documentation/admin-guide/lockup-watchdogs.rst"),
    )


def read_kernel(host: Host) -> Kernel:
    config = read_kernel_config(host)
    return Kernel(
        version=read_kernel_version(host),
        build=read_kernel_build(host, config),
        preemption=read_preemption(host, config),
        tick=read_tick(host, config),
        clocksource=read_clocksource(host),
        watchdogs=read_watchdogs(host),
        rt_throttling=read_rt_throttling(host),
        mitigations=read_mitigations(host),
        machine_check=read_machine_check(host),
        virtualization=read_virtualization(host),
        rcu=read_rcu(host),
    )


__all__ = [
    "AVAILABLE_CLOCKSOURCE", "CONFIG_GZ", "CURRENT_CLOCKSOURCE", "DEBUG_PREEMPT", "MCE_IGNORE_CE",
    "PREEMPT_MODES", "REALTIME", "TSC_FLAGS", "VULNERABILITIES_DIR", "Clocksource", "Kernel",
    "KernelBuild", "KernelConfig", "KernelVersion", "MachineCheck", "Mitigations", "PeriodicWork", "Preemption",
    "Rcu", "RtThrottling", "Tick", "Vulnerability", "Watchdogs", "decompress_config", "kconfig_preempt_model",
    "read_clocksource", "read_kernel", "read_kernel_build", "read_kernel_config", "read_kernel_version",
    "periodic_work", "read_machine_check", "read_mitigations", "read_preemption", "read_rcu", "read_rt_throttling",
    "read_sysctl",
    "read_tick", "read_virtualization", "read_watchdogs", "version_flags",
]
