"""The runtime knobs a profile turns, each a list of targets that can be read and written.

A :class:`Target` is plain data (it goes into the rollback file as it is): what kind of
thing it is, where, the value the profile wants, and how two values compare. Reading and
writing live in functions per kind, all of them on the live host only:

- ``file``: a procfs or sysfs file (``/proc/sys/vm/swappiness``, ``/proc/irq/24/
  smp_affinity_list``); ``compare`` says how values match (``text`` after collapsing white
  space, ``mask`` as hex cpumasks, ``cpulist`` as CPU sets);
- ``thp``: a transparent-hugepage mode file, whose selected word is the bracketed one
  (``always madvise [never]``, Documentation/admin-guide/mm/transhuge.rst);
- ``ethtool``: one parameter of ``ethtool -C`` (coalescing), ``-K`` (features) or ``-L``
  (channels; disruptive: the driver re-creates its queues and drops traffic);
- ``pmqos``: a process that holds ``/dev/cpu_dma_latency`` open at a value (the request
  lasts while the file is open, Documentation/power/pm_qos_interface.rst);
- ``irqbalance``: ``IRQBALANCE_BANNED_CPULIST`` in irqbalance's environment file, and a
  restart of the daemon (disruptive: it rebalances every IRQ at its start).
"""

from __future__ import annotations

import glob
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

from hftinfra.cpulist import format_cpulist, format_cpumask, same_cpus

THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"
CPU_DMA_LATENCY = "/dev/cpu_dma_latency"
PMQOS_PIDFILE = "/run/hftinfra/pm-qos-hold.pid"
CPU = "/sys/devices/system/cpu"
# ethtool(8) long names of the features the profile's gro/lro options mean.
FEATURE_NAMES = {"gro": "generic-receive-offload", "lro": "large-receive-offload"}


class KnobError(Exception):
    """A read or write the kernel or a tool refused; the message names why (EPERM, ...)."""


@dataclass(frozen=True)
class Target:
    kind: str  # file | thp | ethtool | pmqos | irqbalance
    where: str  # a path, or 'IF -C adaptive-rx'
    wanted: str
    compare: str = "text"  # text | mask | cpulist
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str, default: str = "") -> str:
        return dict(self.params).get(name, default)

    def to_json(self) -> dict:
        return {"kind": self.kind, "where": self.where, "wanted": self.wanted, "compare": self.compare,
                "params": dict(self.params)}

    @classmethod
    def from_json(cls, raw: dict) -> Target:
        return cls(kind=str(raw["kind"]), where=str(raw["where"]), wanted=str(raw["wanted"]),
                   compare=str(raw.get("compare", "text")),
                   params=tuple(sorted((str(k), str(v)) for k, v in (raw.get("params") or {}).items())))


@dataclass(frozen=True)
class Knob:
    """One setting of the profile as it is changed at runtime."""

    name: str  # 'sysctl vm.swappiness', 'IRQ 24 affinity'
    check_id: str
    reason: str
    sources: tuple[str, ...]
    targets: tuple[Target, ...]
    disruptive: str | None = None  # why applying it disturbs the host
    notes: tuple[str, ...] = field(default=())


# ---- values ---------------------------------------------------------------------------------


def same(target: Target, a: str, b: str) -> bool:
    if target.compare in ("mask", "cpulist"):
        return same_cpus(a, b, target.compare)
    return " ".join(a.split()) == " ".join(b.split())


def _errno_text(exc: OSError) -> str:
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    return f"{name}: {exc.strerror}" if name else str(exc)


def _read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError as exc:
        raise KnobError(f"{path}: {_errno_text(exc)}") from None


def _write_file(path: str, value: str) -> None:
    try:
        # One write(2) of the whole value: procfs and sysfs parse each write on its own.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # as the shell's > does; sysfs and procfs ignore the truncation
        try:
            os.write(fd, (value + "\n").encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise KnobError(f"{path}: {_errno_text(exc)}") from None


def _bracketed(text: str) -> str:
    m = re.search(r"\[([^\]]+)\]", text)
    if not m:
        raise KnobError(f"no [selected] word in {text.strip()!r}")
    return m.group(1)


def _ethtool(argv: list[str]) -> str:
    try:
        done = subprocess.run(["ethtool", *argv], capture_output=True, text=True, timeout=15)
    except FileNotFoundError:
        raise KnobError("ethtool is not installed") from None
    except subprocess.TimeoutExpired:
        raise KnobError(f"ethtool {' '.join(argv)}: no answer in 15 s") from None
    if done.returncode != 0:
        msg = (done.stderr or done.stdout).strip().splitlines()
        raise KnobError(f"ethtool {' '.join(argv)}: {msg[-1] if msg else f'exit {done.returncode}'}")
    return done.stdout


def _ethtool_read(target: Target) -> str:
    from hftinfra.net import parse_ethtool_channels, parse_ethtool_coalesce, parse_ethtool_features

    iface, option, name = target.param("iface"), target.param("option"), target.param("name")
    if option == "-C":
        rec = parse_ethtool_coalesce(_ethtool(["-c", iface]))
        value = {"adaptive-rx": rec.adaptive_rx, "adaptive-tx": rec.adaptive_tx}.get(name, rec.param(name))
    elif option == "-K":
        rec = parse_ethtool_features(_ethtool(["-k", iface]))
        value = rec.enabled(FEATURE_NAMES.get(name, name))
    elif option == "-L":
        rec = parse_ethtool_channels(_ethtool(["-l", iface]))
        value = getattr(rec, name, None)
    else:
        raise KnobError(f"unknown ethtool option {option}")
    if value is None:
        raise KnobError(f"ethtool {option.lower()} {iface}: no {name} (the driver does not report it)")
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


# ---- PM QoS hold ----------------------------------------------------------------------------


def pmqos_holder_pid() -> int | None:
    """The pid of hftinfra's PM QoS holder, if one runs (its pid file and its command line
    agree: a recycled pid is not ours)."""
    try:
        pid = int(open(PMQOS_PIDFILE).read().strip())
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"hftinfra.apply.pmqos" in cmdline else None


def _pmqos_read(target: Target) -> str:
    pid = pmqos_holder_pid()
    if pid is None:
        return "none"
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[3].decode()
    except (OSError, IndexError):
        return "none"


def _pmqos_write(target: Target, value: str) -> None:
    import time

    pid = pmqos_holder_pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if pmqos_holder_pid() is None:
                break
            time.sleep(0.02)
    if value == "none":
        return
    if not os.path.exists(CPU_DMA_LATENCY):
        raise KnobError(f"{CPU_DMA_LATENCY}: missing (a kernel without CONFIG_CPU_IDLE's PM QoS device)")
    os.makedirs(os.path.dirname(PMQOS_PIDFILE), exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "hftinfra.apply.pmqos", value, PMQOS_PIDFILE],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    for _ in range(250):
        if pmqos_holder_pid() == proc.pid:
            return
        if proc.poll() is not None:
            err = proc.stderr.read().decode().strip() if proc.stderr else ""
            raise KnobError(f"{CPU_DMA_LATENCY}: the holder exited: {err or proc.returncode}")
        time.sleep(0.02)
    raise KnobError(f"{CPU_DMA_LATENCY}: the holder did not start in 5 s")


def pmqos_in_effect() -> int | None:
    """The latency limit in effect, in µs: the smallest request any process holds
    (reading the device gives it as a 32-bit integer)."""
    try:
        with open(CPU_DMA_LATENCY, "rb") as fh:
            raw = fh.read(4)
    except OSError:
        return None
    return int.from_bytes(raw, sys.byteorder, signed=True) if len(raw) == 4 else None


# ---- irqbalance -----------------------------------------------------------------------------

BANNED_CPULIST = "IRQBALANCE_BANNED_CPULIST"


def _irqbalance_read(target: Target) -> str:
    text = _read_file(target.where)
    value = ""
    for line in text.splitlines():
        m = re.match(rf"\s*{BANNED_CPULIST}=(.*)$", line)
        if m:
            value = m.group(1).strip().strip("\"'")
    return value


def _irqbalance_write(target: Target, value: str) -> None:
    text = _read_file(target.where)
    lines = [ln for ln in text.splitlines() if not re.match(rf"\s*{BANNED_CPULIST}=", ln)]
    if value:
        lines.append(f"{BANNED_CPULIST}={value}")
    body = "\n".join(lines) + ("\n" if lines else "")
    tmp = f"{target.where}.hftinfra.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(body)
        os.chmod(tmp, os.stat(target.where).st_mode & 0o7777)
        os.replace(tmp, target.where)
    except OSError as exc:
        raise KnobError(f"{target.where}: {_errno_text(exc)}") from None
    restart = target.param("restart")
    if restart:
        done = subprocess.run(restart.split(), capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise KnobError(f"{restart}: {(done.stderr or done.stdout).strip() or f'exit {done.returncode}'}")


# ---- dispatch -------------------------------------------------------------------------------


def read(target: Target) -> str:
    """The target's current value, as the kernel or tool shows it (stripped)."""
    if target.kind == "file":
        return _read_file(target.where).strip()
    if target.kind == "thp":
        return _bracketed(_read_file(target.where))
    if target.kind == "ethtool":
        return _ethtool_read(target)
    if target.kind == "pmqos":
        return _pmqos_read(target)
    if target.kind == "irqbalance":
        return _irqbalance_read(target)
    raise KnobError(f"unknown target kind {target.kind}")


def write(target: Target, value: str) -> None:
    if target.kind in ("file", "thp"):
        _write_file(target.where, value)
    elif target.kind == "ethtool":
        _ethtool([target.param("option"), target.param("iface"), target.param("name"), value])
    elif target.kind == "pmqos":
        _pmqos_write(target, value)
    elif target.kind == "irqbalance":
        _irqbalance_write(target, value)
    else:
        raise KnobError(f"unknown target kind {target.kind}")


# ---- building knobs from a settings plan ------------------------------------------------------


def _files(pattern: str) -> list[str]:
    return sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else \
        ([pattern] if os.path.exists(pattern) else [])


def _file_targets(pattern: str, wanted: str, compare: str = "text") -> tuple[Target, ...]:
    return tuple(Target("file", p, wanted, compare) for p in _files(pattern))


def _cpu_files(name: str) -> str:
    return f"{CPU}/cpu[0-9]*/cpufreq/{name}"


def knob_for(setting, nics: dict[str, list[tuple[str, str]]] | None = None) -> tuple[Knob | None, str | None]:
    """The runtime knob of one tuned or sysctl Setting, or (None, why it has none here)."""
    kind, key, value = setting.kind, setting.key, setting.value or ""

    def knob(targets: Iterable[Target], name: str, missing: str, disruptive: str | None = None):
        targets = tuple(targets)
        if not targets:
            return None, missing
        return Knob(name, setting.check_id, setting.reason, setting.sources, targets, disruptive), None

    if kind == "sysctl":
        path = "/proc/sys/" + key.replace(".", "/")
        return knob(_file_targets(path, value), f"sysctl {key}", f"{path} is missing on this kernel")
    if kind == "cmdline":
        return None, "a kernel argument: takes effect at the next boot"
    section, _, option = key.partition(".")
    if section == "sysfs":
        compare = "mask" if option.endswith("cpumask") else "text"
        return knob(_file_targets(option, value, compare), option, f"{option}: missing on this host")
    if key == "vm.transparent_hugepages":
        return knob([Target("thp", THP_ENABLED, value)] if os.path.exists(THP_ENABLED) else [],
                    "THP enabled", f"{THP_ENABLED}: missing (a kernel without CONFIG_TRANSPARENT_HUGEPAGE)")
    if key == "cpu.governor":
        return knob(_file_targets(_cpu_files("scaling_governor"), value), "cpufreq governor",
                    "no cpufreq driver: the governor is not the kernel's to set here")
    if key == "cpu.energy_performance_preference":
        return knob(_file_targets(_cpu_files("energy_performance_preference"), value), "EPP",
                    "no energy_performance_preference (no HWP-capable cpufreq driver)")
    if key == "cpu.min_perf_pct":
        return knob(_file_targets(f"{CPU}/intel_pstate/min_perf_pct", value), "intel_pstate min_perf_pct",
                    "no intel_pstate driver")
    if key == "cpu.no_turbo":
        if os.path.exists(f"{CPU}/intel_pstate/no_turbo"):
            return knob(_file_targets(f"{CPU}/intel_pstate/no_turbo", value), "intel_pstate no_turbo", "")
        boost = "0" if value == "1" else "1"  # cpufreq boost is the inverse of no_turbo
        return knob(_file_targets(f"{CPU}/cpufreq/boost", boost), "cpufreq boost",
                    "neither intel_pstate/no_turbo nor cpufreq/boost: turbo is the firmware's here")
    if key == "cpu.force_latency":
        return knob([Target("pmqos", CPU_DMA_LATENCY, value)] if os.path.exists(CPU_DMA_LATENCY) else [],
                    "PM QoS hold", f"{CPU_DMA_LATENCY}: missing")
    if key == "irqbalance.banned_cpus":
        from hftinfra.irq import IRQBALANCE_CONFIGS

        conf = next((p for p in IRQBALANCE_CONFIGS if os.path.exists(p)), None)
        restart = "systemctl try-restart irqbalance.service" if os.path.isdir("/run/systemd/system") else ""
        targets = [Target("irqbalance", conf, value, "cpulist", (("restart", restart),))] if conf else []
        return knob(targets, "irqbalance banned CPUs",
                    "irqbalance is not installed (no /etc/sysconfig/irqbalance or /etc/default/irqbalance)",
                    disruptive="restarting irqbalance rebalances every IRQ it manages" if restart else None)
    if section == "net" and option in ("coalesce", "features") and nics is not None:
        targets = []
        flag = "-C" if option == "coalesce" else "-K"
        words = value.split()
        for iface in sorted(nics):
            for name, want in zip(words[::2], words[1::2], strict=False):
                targets.append(Target("ethtool", f"{iface} {flag} {name}", want, "text",
                                      (("iface", iface), ("name", name), ("option", flag))))
        return knob(targets, f"ethtool {flag}", "no trading NIC")
    if key == "net.devices":
        return None, None  # the NICs the other [net] options name; no setting of its own
    if key == "systemd.cpu_affinity":
        return None, "systemd reads CPUAffinity= when it starts: takes effect at the next boot"
    if key == "scheduler.isolated_cores":
        return None, "tuned's scheduler plugin moves threads off these CPUs at its start; hftinfra does not " \
                     "move running threads"
    return None, f"no runtime form for tuned [{section}] {option}"


def irq_knobs(housekeeping: frozenset[int], check_id: str, reason: str, sources: tuple[str, ...],
              nr_cpus: int | None) -> tuple[list[Knob], list[str]]:
    """Device IRQs whose affinity reaches past the housekeeping CPUs, each to be moved onto
    them (managed ones are the kernel's and left, with why), plus the default affinity."""
    from hftinfra.host import LiveHost, Unread
    from hftinfra.irq import read_affinity

    knobs, notes = [], []
    aff = read_affinity(LiveHost())
    cpulist = format_cpulist(housekeeping)
    if isinstance(aff.irqs, Unread):
        return [], [f"IRQs: {aff.irqs}"]
    for a in aff.irqs:
        if not isinstance(a.actions, tuple) or not a.actions or not isinstance(a.smp_affinity, frozenset):
            continue
        if a.smp_affinity <= housekeeping:
            continue
        if a.managed is True:
            notes.append(f"IRQ {a.irq} ({', '.join(a.actions)}): kernel-managed, left to isolcpus=managed_irq")
            continue
        knobs.append(Knob(f"IRQ {a.irq} affinity ({', '.join(a.actions)})", check_id, reason, sources,
                          (Target("file", f"/proc/irq/{a.irq}/smp_affinity_list", cpulist, "cpulist"),)))
    return knobs, notes


def default_affinity_knob(housekeeping: frozenset[int], check_id: str, reason: str, sources: tuple[str, ...],
                          nr_cpus: int | None) -> Knob | None:
    path = "/proc/irq/default_smp_affinity"
    if not os.path.exists(path):
        return None
    return Knob("IRQ default affinity", check_id, reason, sources,
                (Target("file", path, format_cpumask(housekeeping, nr_cpus), "mask"),))


__all__ = ["CPU_DMA_LATENCY", "Knob", "KnobError", "PMQOS_PIDFILE", "Target", "knob_for", "pmqos_holder_pid",
           "pmqos_in_effect", "read", "same", "write"]
