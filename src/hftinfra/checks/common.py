"""Pieces several checks share: derived CPU sets and fix-command templates.

Fix templates write exact commands for the host audited: the kernel command line through
grubby on RHEL-like systems and /etc/default/grub + update-grub on Debian-like ones (both,
labelled, when the distribution cannot be read), sysctls as ``sysctl -w`` plus a drop-in
file so the value survives a reboot (sysctl.d(5)).
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from hftinfra.checks.base import Context
from hftinfra.cpulist import format_cpulist
from hftinfra.host import Reason, Unread

SYSCTL_DROPIN = "/etc/sysctl.d/90-hftinfra-{name}.conf"


def record_field(ctx: Context, probe: str, attr: str) -> Any:
    """One field of a probe's record, or the probe's own Unread."""
    rec = ctx.probe(probe)
    if isinstance(rec, Unread):
        return rec
    return getattr(rec, attr)


def kernel_option(ctx: Context, option: str) -> bool | None:
    """Whether the running kernel's build config enables ``option`` (y or m); None when the
    config could not be read (no /boot/config-*, no /proc/config.gz)."""
    from hftinfra.kernel import read_kernel_config

    config = ctx.cached("kernel_config", lambda: read_kernel_config(ctx.host))
    if isinstance(config, Unread):
        return None
    return config.enabled(option)


def kernel_at_least(ctx: Context, major: int, minor: int) -> bool | Unread:
    """Whether the running kernel is major.minor or newer; Unread when its version is."""
    version = ctx.probe("kernel.version")
    return version if isinstance(version, Unread) else version.at_least(major, minor)


def kernel_release(ctx: Context) -> str:
    """The running kernel's release for a message, or 'unknown'."""
    version = ctx.probe("kernel.version")
    release = version if isinstance(version, Unread) else version.release
    return release if isinstance(release, str) else "unknown"


# Entries every kernel has in these directories: a listing without them is a partial capture.
PROC_SYS_KERNEL_ANCHORS = ("osrelease", "ostype", "version", "hostname")
PROC_SYS_VM_ANCHORS = ("swappiness", "overcommit_memory", "dirty_ratio", "min_free_kbytes")


def not_on_this_kernel(ctx: Context, unread: Any, parent: str, anchors: tuple[str, ...] = (),
                       option: str | None = None) -> str | None:
    """Evidence that a file reported missing is absent from this kernel, not merely absent
    from a partial snapshot: the build config says ``option`` is off, or ``parent`` lists
    fine (holding ``anchors``, entries every kernel has there) and the entry on the way to
    the file is not in it. Returns that evidence as text, or None when there is none, in
    which case the caller reports the Unread.
    """
    if not isinstance(unread, Unread) or unread.reason is not Reason.MISSING:
        return None
    if option is not None:
        built = kernel_option(ctx, option)
        if built is False:
            return f"{option} is not set in the kernel's build config"
        if built is True:
            return None  # built in, so the file should be there: not captured, or something odd
    names = ctx.host.listdir(parent)
    if isinstance(names, Unread) or (anchors and not any(a in names for a in anchors)):
        return None
    rest = unread.source[len(parent):].strip("/") if unread.source.startswith(parent.rstrip("/") + "/") else ""
    child = rest.split("/")[0] if rest else ""
    if not child or child in names:
        return None
    return f"{parent} lists no {child}"


def suggest(expectation: Any, default: Any) -> Any:
    """The value a fix should set: the profile's, else the check's default."""
    value = expectation.suggest() if expectation is not None and not isinstance(expectation, dict) else None
    return default if value is None else value


def online_cpus(ctx: Context) -> frozenset[int] | Unread:
    def compute():
        # The isolation probe reads the online list too, and is far cheaper than topology.
        iso = ctx.probe("cpu.isolation")
        if isinstance(iso, Unread):
            return iso
        return iso.online
    return ctx.cached("online_cpus", compute)


def isolation_sets(ctx: Context) -> dict[str, Any]:
    """The isolation record's CPU sets by name (configured ones None when absent)."""
    def compute():
        iso = ctx.probe("cpu.isolation")
        if isinstance(iso, Unread):
            return {}
        out = {}
        for name in ("isolated", "nohz_full", "cmdline_isolcpus", "cmdline_nohz_full", "cmdline_rcu_nocbs",
                     "cmdline_irqaffinity"):
            out[name] = getattr(iso, name, None)
        return out
    return ctx.cached("isolation_sets", compute)


def os_family(ctx: Context) -> str:
    """'rhel', 'debian' or 'unknown': which boot-loader tooling a fix should use."""
    def compute():
        ids = ctx.identity().os_ids
        if isinstance(ids, Unread):
            return "unknown"
        ids = {i.lower() for i in ids}
        if ids & {"rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn"}:
            return "rhel"
        if ids & {"debian", "ubuntu"}:
            return "debian"
        return "unknown"
    return ctx.cached("os_family", compute)


def cmdline_fix(ctx: Context, params: dict[str, str | None], note: str = "") -> str:
    """Set kernel parameters (replacing any earlier value); takes effect at the next boot."""
    args = " ".join(k if v is None else f"{k}={v}" for k, v in params.items())
    family = os_family(ctx)
    lines = [f"# kernel command line ({note or 'takes effect at the next boot'})"]
    if family in ("rhel", "unknown"):
        if family == "unknown":
            lines.append("# RHEL, Fedora, Rocky, Alma:")
        lines.append(f"grubby --update-kernel=ALL --args={shlex.quote(args)}")
    if family in ("debian", "unknown"):
        if family == "unknown":
            lines.append("# Debian, Ubuntu:")
        # Drop any earlier value of each key first (a second isolcpus= would not merge), on both
        # GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT; then append to GRUB_CMDLINE_LINUX.
        drops = "; ".join(f"/^GRUB_CMDLINE_LINUX/s/([\" ]){re.escape(k)}(=[^\" ]*)?([\" ])/\\1\\3/g"
                          for k in params)
        append = f"s/^(GRUB_CMDLINE_LINUX=\"[^\"]*)\"/\\1 {args}\"/"
        lines.append(f"sed -i -E {shlex.quote(drops + '; ' + append)} /etc/default/grub && update-grub")
    lines.append("# then reboot, and audit again")
    return "\n".join(lines)


def sysctl_fix(name: str, value: Any) -> str:
    dropin = SYSCTL_DROPIN.format(name=name)
    return (f"sysctl -w {name}={value}\n"
            f"echo '{name} = {value}' > {dropin}  # keeps it across reboots")


def sysfs_fix(path: str, value: Any, persist: str = "") -> str:
    line = f"echo {shlex.quote(str(value))} > {path}"
    return line + (f"\n# {persist}" if persist else "\n# not persistent: repeat at boot (a systemd unit or tuned)")


def cpus_text(cpus: Any) -> str:
    if isinstance(cpus, (set, frozenset)):
        return format_cpulist(cpus) or "(none)"
    return str(cpus)


def cpuset_variable(ctx: Context, name: str) -> frozenset[int] | None:
    """A cpuset profile variable's value, None when it is unset or unknown."""
    value = ctx.variables.get(name)
    return value if isinstance(value, frozenset) else None


def trading_nics(ctx: Context) -> list | Unread | str:
    """The records (net.interfaces) of the interfaces named by ``trading_nics``; an Unread
    when the interfaces could not be listed; a text saying why there are none."""
    names = ctx.variables.get("trading_nics")
    nics = ctx.probe("net.interfaces")
    listed = nics if isinstance(nics, Unread) else nics.nics
    if isinstance(listed, Unread):
        return listed  # a snapshot without /sys/class/net says nothing about the NICs
    if not names:
        return ("no trading NICs: no physical interface has link up here; name them with "
                "--var trading_nics=IF[,IF]")
    by_name = {n.name: n for n in listed}
    found = [by_name[n] for n in sorted(names) if n in by_name]
    gone = sorted(set(names) - set(by_name))
    if gone and not found:
        return Unread(Reason.MISSING, "/sys/class/net", f"no interface {', '.join(gone)} on this host")
    return found
