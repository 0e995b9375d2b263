"""Which host this is: the line every page and report starts with.

A reader must never mistake a CI VM for a trading server, so virtualisation is always
stated: detected (and how), not detected, or unknown.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from hftinfra.cpulist import parse_cpulist
from hftinfra.host import Host, Reason, Unread
from hftinfra.parsers import cpuinfo_flags, parse_cpuinfo, parse_os_release

CPUINFO = "/proc/cpuinfo"
ONLINE = "/sys/devices/system/cpu/online"
HOSTNAME = "/proc/sys/kernel/hostname"
OSRELEASE = "/proc/sys/kernel/osrelease"
DMI_VENDOR = "/sys/class/dmi/id/sys_vendor"
DMI_PRODUCT = "/sys/class/dmi/id/product_name"
HYPERVISOR_TYPE = "/sys/hypervisor/type"
OS_RELEASE = "/etc/os-release"

# DMI strings that name a hypervisor (systemd's detect-virt keys on the same vendors).
_DMI_VIRT = {
    "QEMU": "qemu", "KVM": "kvm", "VMware": "vmware", "VirtualBox": "oracle",
    "innotek": "oracle", "Xen": "xen", "Bochs": "bochs", "Parallels": "parallels",
    "BHYVE": "bhyve", "Amazon EC2": "amazon", "Google Compute Engine": "google",
    "OpenStack": "openstack", "Microsoft Corporation Virtual Machine": "microsoft",
    "Firecracker": "firecracker", "Cloud Hypervisor": "cloud-hypervisor",
}


@dataclass(frozen=True)
class Virtualization:
    """``detected`` is True, False, or Unread when no evidence could be read at all."""

    detected: bool | Unread
    kind: str | None
    evidence: str

    def __str__(self) -> str:
        if isinstance(self.detected, Unread):
            return str(self.detected)
        if not self.detected:
            return f"bare metal ({self.evidence})"
        return f"virtual machine: {self.kind or 'unknown hypervisor'} ({self.evidence})"


@dataclass(frozen=True)
class HostIdentity:
    source: str  # "live" or the snapshot's path
    is_live: bool
    hostname: str | Unread
    kernel: str | Unread
    cpu_model: str | Unread
    cpus_online: int | Unread
    virtualization: Virtualization
    when: str | Unread  # ISO 8601: now for a live host, capture time for a snapshot
    os_name: str | Unread = Unread(Reason.MISSING, OS_RELEASE)  # PRETTY_NAME
    os_ids: frozenset[str] | Unread = Unread(Reason.MISSING, OS_RELEASE)  # ID and ID_LIKE words
    sources: tuple[str, ...] = (CPUINFO, ONLINE, HOSTNAME, OSRELEASE, OS_RELEASE, DMI_VENDOR, DMI_PRODUCT)

    def summary(self) -> str:
        where = "live host" if self.is_live else f"snapshot {self.source}"
        cpus = self.cpus_online if isinstance(self.cpus_online, Unread) else f"{self.cpus_online} CPUs online"
        return (f"{where} · {self.hostname} · {self.os_name} · kernel {self.kernel} · {self.cpu_model} · {cpus} · "
                f"{self.virtualization} · {self.when}")


def detect_virtualization(host: Host, cpuinfo: list[dict[str, str]] | Unread | None = None) -> Virtualization:
    """Evidence, strongest first: DMI vendor/product, /sys/hypervisor/type, the cpuinfo
    ``hypervisor`` flag (set by every x86 hypervisor that follows the CPUID convention)."""
    if cpuinfo is None:
        cpuinfo = host.read_value(CPUINFO, parse_cpuinfo)
    readable = False
    for path in (DMI_VENDOR, DMI_PRODUCT):
        text = host.read(path)
        if isinstance(text, Unread):
            continue
        readable = True
        for needle, kind in _DMI_VIRT.items():
            if needle.lower() in text.lower():
                return Virtualization(True, kind, f"{path} = {text.strip()!r}")
    hv = host.read(HYPERVISOR_TYPE)
    if not isinstance(hv, Unread) and hv.strip():
        return Virtualization(True, hv.strip(), f"{HYPERVISOR_TYPE} = {hv.strip()!r}")
    if not isinstance(cpuinfo, Unread):
        readable = True
        flags = cpuinfo_flags(cpuinfo[0]) if cpuinfo else frozenset()
        if "hypervisor" in flags:
            return Virtualization(True, None, "cpuinfo flag 'hypervisor'")
        if "flags" in (cpuinfo[0] if cpuinfo else {}):
            return Virtualization(False, None, "no 'hypervisor' cpuinfo flag, no hypervisor DMI vendor")
    if not readable:
        return Virtualization(Unread(Reason.MISSING, CPUINFO, "neither cpuinfo nor DMI could be read"),
                              None, "no evidence")
    return Virtualization(False, None, "no hypervisor DMI vendor (no x86 flags to check)")


def read_identity(host: Host) -> HostIdentity:
    cpuinfo = host.read_value(CPUINFO, parse_cpuinfo)
    model: str | Unread
    if isinstance(cpuinfo, Unread):
        model = cpuinfo
    else:
        first = cpuinfo[0] if cpuinfo else {}
        model = (first.get("model name") or first.get("Hardware") or first.get("cpu model")
                 or Unread(Reason.MISSING, CPUINFO, "no 'model name' in /proc/cpuinfo"))
    online = host.read_value(ONLINE, parse_cpulist)
    cpus = len(online) if not isinstance(online, Unread) else online
    if host.is_live:
        when: str | Unread = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    else:
        captured = host.meta.get("captured_at")
        when = str(captured) if captured else Unread(Reason.MISSING, "hftinfra/meta.json",
                                                     "capture time not recorded in this snapshot")
    hostname = host.read(HOSTNAME)
    os_release = host.read_value(OS_RELEASE, parse_os_release)
    if isinstance(os_release, Unread):
        os_name: str | Unread = os_release
        os_ids: frozenset[str] | Unread = os_release
    else:
        os_name = os_release.get("PRETTY_NAME") or os_release.get("NAME") or Unread(
            Reason.MALFORMED, OS_RELEASE, "no PRETTY_NAME or NAME")
        os_ids = frozenset((os_release.get("ID", "") + " " + os_release.get("ID_LIKE", "")).split())
    return HostIdentity(
        source=host.source,
        is_live=host.is_live,
        hostname=hostname.strip() if isinstance(hostname, str) else hostname,
        kernel=host.read(OSRELEASE),
        cpu_model=model,
        cpus_online=cpus,
        virtualization=detect_virtualization(host, cpuinfo),
        when=when,
        os_name=os_name,
        os_ids=os_ids,
    )
