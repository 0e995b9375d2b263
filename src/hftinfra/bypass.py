"""Kernel-bypass readiness: what a host offers DPDK, AF_XDP and busy-polling sockets.

Read only, like every area module: hugepages per NUMA node and size (through
:mod:`hftinfra.memory`), the IOMMU (units, groups, what the command line asks for), each
NIC's IOMMU group, PCI functions bound to ``vfio-pci``, the ``/dev/vfio`` entries (listed,
never opened), vfio's no-IOMMU mode, AF_XDP (``CONFIG_XDP_SOCKETS`` and whether each NIC's
driver binds AF_XDP sockets in zero-copy mode), and the busy-polling sysctls. Every value
that cannot be read is an :class:`~hftinfra.host.Unread` saying why.

Kernel sources behind the paths and rules (checked in the 6.1 and 6.12 trees):
- drivers/iommu/iommu-sysfs.c: ``/sys/class/iommu`` is registered at boot whenever the
  kernel has IOMMU support (CONFIG_IOMMU_API); each IOMMU unit the kernel brings up adds
  an entry (``dmar0`` for Intel VT-d, ``ivhd0`` for AMD-Vi, SMMUs on Arm).
- drivers/iommu/iommu.c: ``/sys/kernel/iommu_groups/N/`` with ``devices/`` (links to every
  device in the group), ``type`` (the default domain: ``identity`` for passthrough, ``DMA``
  or ``DMA-FQ`` for translation, ``blocked``, ``unmanaged``, ``unknown``) and ``name``,
  present only when a group has one: vfio names the groups it makes for devices without
  an IOMMU ``vfio-noiommu`` (drivers/vfio/group.c). A device behind an IOMMU has an
  ``iommu_group`` link in its sysfs folder.
- ``intel_iommu=`` (drivers/iommu/intel/iommu.c) and ``amd_iommu=`` (drivers/iommu/amd/init.c)
  take comma-separated options, ``off`` among them; x86's ``iommu=`` (arch/x86/kernel/pci-dma.c)
  likewise, with ``off``, ``pt`` (passthrough) and ``nopt``; ``iommu.passthrough=`` and
  ``iommu.strict=`` take a boolean (drivers/iommu/iommu.c). The last one on the line wins.
- drivers/vfio/vfio_main.c: ``enable_unsafe_noiommu_mode``, a bool parameter of the ``vfio``
  module (``Y``/``N``), present only with CONFIG_VFIO_NOIOMMU. drivers/vfio/container.c and
  group.c name the nodes: ``/dev/vfio/vfio`` (the container), ``/dev/vfio/N`` per group,
  ``/dev/vfio/noiommu-N``; device_cdev.c adds ``/dev/vfio/devices/vfioX`` (iommufd).
- net/xdp/xsk_buff_pool.c ``xp_assign_dev``: an AF_XDP socket binds in zero-copy mode only
  when the driver can; otherwise it falls back to copy mode, silently unless the socket asked
  for ``XDP_ZEROCOPY``. In 6.1 the test is that the driver implements ``ndo_bpf`` and
  ``ndo_xsk_wakeup``; in 6.12 that it sets ``NETDEV_XDP_ACT_XSK_ZEROCOPY`` in its
  ``xdp_features``. :data:`ZERO_COPY_DRIVERS` lists the drivers that pass in those trees.
- admin-guide/sysctl/net.rst: ``net.core.busy_read`` and ``busy_poll`` (microseconds);
  CONFIG_NET_RX_BUSY_POLL builds the feature.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from hftinfra.host import Host, Reason, Unread
from hftinfra.kernel import KernelConfig, parse_release, read_kernel_config
from hftinfra.memory import Hugepages, read_hugepages
from hftinfra.net import (
    NetCoreSysctls,
    PciFunction,
    read_ethtool_view,
    read_interfaces,
    read_net_core_sysctls,
)
from hftinfra.parsers import parse_cmdline_pairs, parse_int, sysctl_path
from hftinfra.probes import probe
from hftinfra.records import html_table, show

CMDLINE = "/proc/cmdline"
OSRELEASE = "/proc/sys/kernel/osrelease"
IOMMU_CLASS = "/sys/class/iommu"
IOMMU_GROUPS = "/sys/kernel/iommu_groups"
VFIO_PCI_DRIVER = "/sys/bus/pci/drivers/vfio-pci"
DEV_VFIO = "/dev/vfio"
VFIO_PARAMS = "/sys/module/vfio/parameters"
NOIOMMU_PARAM = f"{VFIO_PARAMS}/enable_unsafe_noiommu_mode"
NOIOMMU_GROUP_NAME = "vfio-noiommu"

# include/linux/iommu.h domain types as iommu_group_show_type() prints them.
GROUP_TYPES = ("identity", "DMA", "DMA-FQ", "blocked", "unmanaged", "unknown")
# IOMMU drivers (drivers/iommu/Kconfig, 6.12): a kernel with none of them registers no unit.
IOMMU_DRIVER_OPTIONS = ("CONFIG_INTEL_IOMMU", "CONFIG_AMD_IOMMU", "CONFIG_ARM_SMMU", "CONFIG_ARM_SMMU_V3",
                        "CONFIG_VIRTIO_IOMMU", "CONFIG_APPLE_DART", "CONFIG_QCOM_IOMMU",
                        "CONFIG_MTK_IOMMU", "CONFIG_ROCKCHIP_IOMMU", "CONFIG_S390_IOMMU")

_PCI_ADDRESS = re.compile(r"^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_GROUP_NUMBER = re.compile(r"^\d+$")


# ---------------------------------------------------------------------------------------
# AF_XDP zero-copy drivers


@dataclass(frozen=True)
class ZeroCopyDriver:
    """A driver that binds AF_XDP sockets in zero-copy mode.

    ``names``: every name the kernel reports for it (the sysfs ``driver`` link, ``ethtool -i``);
    ``since``: the oldest kernel tree checked in which it does (None: in none of them);
    ``absent_in``: the newest tree checked in which it does not; ``source``: where the tree
    says so; ``note``: conditions of the driver's own."""

    driver: str
    names: frozenset[str]
    since: tuple[int, int] | None
    absent_in: tuple[int, int] | None
    source: str
    note: str = ""


# The trees checked: Linux 6.1.192 and 6.12.118 (Debian's linux-source packages, mainline stable
# plus distribution patches that leave these drivers alone); igb from mainline, whose
# igb_xsk.c first shipped in 6.14.
CHECKED_TREES = ((6, 1), (6, 12))
NEWEST_CHECKED = (6, 12)
ZERO_COPY_SOURCE = "hftinfra.bypass.ZERO_COPY_DRIVERS"
_IN_6_1 = ((6, 1), None)
_SINCE_6_12 = ((6, 12), (6, 1))


def _zc(driver: str, when: tuple, source: str, note: str = "", names: tuple[str, ...] = ()) -> ZeroCopyDriver:
    return ZeroCopyDriver(driver, frozenset((driver, *names)), when[0], when[1], source, note)


ZERO_COPY_DRIVERS: tuple[ZeroCopyDriver, ...] = (
    _zc("i40e", _IN_6_1, "drivers/net/ethernet/intel/i40e/i40e_main.c"),
    _zc("ice", _IN_6_1, "drivers/net/ethernet/intel/ice/ice_main.c"),
    _zc("igc", _IN_6_1, "drivers/net/ethernet/intel/igc/igc_main.c"),
    _zc("ixgbe", _IN_6_1, "drivers/net/ethernet/intel/ixgbe/ixgbe_main.c"),
    _zc("mlx5_core", _IN_6_1, "drivers/net/ethernet/mellanox/mlx5/core/en_main.c"),
    _zc("nfp", _IN_6_1, "drivers/net/ethernet/netronome/nfp/nfp_net_common.c",
        "only with the NFD3 firmware datapath; NFDK (NFP3800) has no zero-copy", names=("nfp_netvf",)),
    # The sysfs driver of an stmmac port is its bus glue (dwmac-intel, a platform driver);
    # ethtool -i reports the core's names (stmmac_ethtool.c).
    _zc("stmmac", _IN_6_1, "drivers/net/ethernet/stmicro/stmmac/stmmac_main.c",
        names=("st_gmac", "st_xgmac", "st_mac100")),
    _zc("gve", _SINCE_6_12, "drivers/net/ethernet/google/gve/gve_main.c",
        "only with the GQI-QPL queue format (gve_set_netdev_xdp_features)"),
    _zc("fsl_dpaa2_eth", _SINCE_6_12, "drivers/net/ethernet/freescale/dpaa2/dpaa2-eth.c",
        "WRIOP 3.0 or later with at most 8 queues"),
    _zc("tsnep", _SINCE_6_12, "drivers/net/ethernet/engleder/tsnep_main.c"),
    _zc("igb", ((6, 14), (6, 12)), "drivers/net/ethernet/intel/igb/igb_xsk.c"),
    _zc("virtio_net", (None, (6, 12)), "drivers/net/virtio_net.c",
        "6.12 implements ndo_xsk_wakeup but does not set NETDEV_XDP_ACT_XSK_ZEROCOPY, so the bind "
        "falls back to copy mode"),
)


def zero_copy_driver(*names: object) -> ZeroCopyDriver | None:
    """The table entry for a driver known by any of ``names`` (Unread and None ignored)."""
    wanted = {n for n in names if isinstance(n, str)}
    return next((d for d in ZERO_COPY_DRIVERS if d.names & wanted), None)


def _version(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def zero_copy_verdict(names: tuple[object, ...], release: str | Unread) -> tuple[bool | Unread, str]:
    """Whether a NIC whose driver goes by ``names`` binds AF_XDP sockets in zero-copy mode on
    kernel ``release``, and why: by the table, the kernel version, and the trees checked.

    Distribution kernels carry backports, so a kernel older than the tree that first has a
    driver's support is not taken to lack it; one newer than every tree checked is not taken
    to lack support the table does not list."""
    known = [n for n in names if isinstance(n, str)]
    if not known:
        why = next((n for n in names if isinstance(n, Unread)), None)
        if why is not None:
            return why, "driver unknown"
        return Unread(Reason.UNSUPPORTED, "driver", "no driver bound"), "no driver bound"
    driver = known[0]
    entry = zero_copy_driver(*known)
    if isinstance(release, Unread):
        return release, "kernel release unknown"
    try:
        numbers = parse_release(release)[:2]
    except ValueError as exc:
        return Unread(Reason.MALFORMED, OSRELEASE, str(exc)), "kernel release unreadable"
    source = f"{ZERO_COPY_SOURCE}: {entry.source}" if entry else ZERO_COPY_SOURCE
    if entry is not None and entry.since is not None:
        note = f" ({entry.note})" if entry.note else ""
        since = _version(entry.since)
        if numbers >= entry.since:
            return True, f"{entry.driver} binds AF_XDP in zero-copy mode from Linux {since}{note}"
        if entry.absent_in is not None and numbers <= entry.absent_in:
            return False, (f"{entry.driver} has no zero-copy in the {_version(entry.absent_in)} tree (first in "
                           f"{since}): copy mode, unless this distribution kernel backports it")
        where = (f"between the {_version(entry.absent_in)} tree, which lacks it, and {since}"
                 if entry.absent_in is not None else "older than the trees checked")
        return Unread(Reason.MISSING, source,
                      f"{entry.driver} binds zero-copy in the {since} tree; Linux {release} is {where}, and "
                      "distribution kernels backport drivers: read its xdp-features"), where
    newest = max(NEWEST_CHECKED, entry.absent_in) if entry is not None and entry.absent_in else NEWEST_CHECKED
    why = entry.note if entry is not None and entry.note else f"no zero-copy support in {driver}"
    if numbers <= newest:
        return False, f"{why} in the trees checked (up to {_version(newest)}): AF_XDP runs in copy mode"
    return Unread(Reason.MISSING, source,
                  f"{why} up to Linux {_version(newest)}; {release} is newer than the trees checked: read its "
                  "xdp-features"), "newer than the trees checked"



# ---------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class IommuBootParams:
    """The IOMMU parameters of the kernel command line, as configured (None: absent).

    ``passthrough``: what the last of ``iommu=pt``, ``iommu=nopt`` and ``iommu.passthrough=``
    asks for (identity-mapped DMA for devices the kernel's drivers own). ``disabled_by``: the
    parameter that switches the IOMMU off, if one does."""

    intel_iommu: tuple[str, ...] | None
    amd_iommu: tuple[str, ...] | None
    iommu: tuple[str, ...] | None
    passthrough: bool | None
    strict: bool | None
    disabled_by: str | None
    ignored: tuple[str, ...] = ()
    source: str = CMDLINE


@dataclass(frozen=True)
class IommuGroup:
    """``/sys/kernel/iommu_groups/N``: its devices, the default domain type, and its name
    (None: the group has none; vfio's groups for devices without an IOMMU are
    ``vfio-noiommu``)."""

    group: int
    devices: tuple[str, ...] | Unread
    type: str | Unread
    name: str | None | Unread
    source: str

    @property
    def noiommu(self) -> bool | Unread:
        return self.name if isinstance(self.name, Unread) else self.name == NOIOMMU_GROUP_NAME


@dataclass(frozen=True)
class Iommu:
    """Whether DMA remapping hardware is up (``enabled``, with ``why``), its units, its groups
    and what the command line asks for."""

    enabled: bool | Unread
    why: str
    units: tuple[str, ...] | Unread
    groups: tuple[IommuGroup, ...] | Unread
    configured: IommuBootParams | Unread
    sources: tuple[str, ...] = (IOMMU_CLASS, IOMMU_GROUPS, CMDLINE)

    def group(self, number: int) -> IommuGroup | None:
        return next((g for g in self.groups if g.group == number), None) if isinstance(self.groups, tuple) else None


@dataclass(frozen=True)
class Vfio:
    """vfio: whether ``vfio-pci`` is registered, the PCI functions bound to it, the
    ``/dev/vfio`` entries (``devices/vfioX`` for the per-device nodes) and no-IOMMU mode."""

    pci_driver: bool | Unread
    bound: tuple[str, ...] | Unread
    dev_entries: tuple[str, ...] | Unread
    noiommu_mode: bool | Unread
    why: str = ""  # why vfio-pci is not registered, when it is not
    sources: tuple[str, ...] = (VFIO_PCI_DRIVER, DEV_VFIO, NOIOMMU_PARAM)


@dataclass(frozen=True)
class BypassDevice:
    """One PCI function a bypass stack could take: a NIC the kernel drives (``interface``
    set), or a function bound to ``vfio-pci`` (no interface: it has left the kernel's stack).

    ``iommu_group`` None: the device is not behind an IOMMU (no ``iommu_group`` link).
    ``group_devices``: every device of that group, all of which go to vfio together."""

    address: str
    interface: str | None
    driver: str | Unread | None
    ethtool_driver: str | Unread | None
    numa_node: int | Unread
    iommu_group: int | None | Unread
    iommu_group_type: str | None | Unread
    group_devices: tuple[str, ...] | None | Unread
    vfio_bound: bool | Unread
    af_xdp_zero_copy: bool | Unread
    af_xdp_why: str
    source: str


@dataclass(frozen=True, repr=False)
class BypassReadiness:
    """What a kernel-bypass stack would find on this host (``bypass.readiness``)."""

    kernel: str | Unread
    hugepages: Hugepages
    iommu: Iommu
    vfio: Vfio
    xdp_sockets: bool | Unread
    busy_poll_built: bool | Unread
    net: NetCoreSysctls
    devices: tuple[BypassDevice, ...] | Unread
    config_source: str | Unread
    sources: tuple[str, ...]

    @property
    def busy_read_us(self) -> int | Unread:
        return self.net.busy_read

    @property
    def busy_poll_us(self) -> int | Unread:
        return self.net.busy_poll

    def device(self, key: str) -> BypassDevice:
        """By interface name or PCI address."""
        for d in self.devices if isinstance(self.devices, tuple) else ():
            if key in (d.interface, d.address):
                return d
        raise KeyError(f"no device {key!r}")

    def summary_rows(self) -> list[list[object]]:
        """(item, value, where it was read / why) rows of the readiness table."""
        hp = self.hugepages
        rows: list[list[object]] = [["kernel", self.kernel, OSRELEASE]]
        rows.append(["hugepages (all nodes)", hugepage_summary(hp), "/sys/kernel/mm/hugepages"])
        io = self.iommu
        rows.append(["IOMMU enabled", io.enabled, io.why])
        rows.append(["IOMMU units", _names(io.units), IOMMU_CLASS])
        groups = io.groups
        rows.append(["IOMMU groups", groups if isinstance(groups, Unread) else len(groups), IOMMU_GROUPS])
        cfg = io.configured
        rows.append(["IOMMU on the command line", cfg if isinstance(cfg, Unread) else boot_summary(cfg), CMDLINE])
        v = self.vfio
        rows.append(["vfio-pci driver registered", v.pci_driver, v.why or VFIO_PCI_DRIVER])
        rows.append(["bound to vfio-pci", _names(v.bound), VFIO_PCI_DRIVER])
        rows.append(["/dev/vfio", _names(v.dev_entries), DEV_VFIO + " (listed, not opened)"])
        rows.append(["vfio no-IOMMU mode", v.noiommu_mode, NOIOMMU_PARAM])
        rows.append(["AF_XDP sockets built (CONFIG_XDP_SOCKETS)", self.xdp_sockets, self.config_source])
        rows.append(["busy polling built (CONFIG_NET_RX_BUSY_POLL)", self.busy_poll_built, self.config_source])
        rows.append(["net.core.busy_read (µs)", self.net.busy_read, "/proc/sys/net/core/busy_read"])
        rows.append(["net.core.busy_poll (µs)", self.net.busy_poll, "/proc/sys/net/core/busy_poll"])
        return rows

    def device_rows(self) -> list[list[object]]:
        rows = []
        for d in self.devices if isinstance(self.devices, tuple) else ():
            group = d.iommu_group
            rows.append([d.interface or "(vfio-pci)", d.address, d.driver, d.numa_node,
                         "none" if group is None else group, "-" if d.iommu_group_type is None else d.iommu_group_type,
                         "-" if d.group_devices is None else _names(d.group_devices), d.vfio_bound,
                         d.af_xdp_zero_copy, d.af_xdp_why])
        return rows

    def __repr__(self) -> str:
        return readiness_summary(self)

    def _repr_html_(self) -> str:
        parts = [html_table("Kernel-bypass readiness", ["item", "value", "source"], self.summary_rows())]
        parts.append(html_table("Hugepages per NUMA node", ["node", "size", "pages", "free", "source"],
                                hugepage_rows(self.hugepages)))
        note = str(self.devices) if isinstance(self.devices, Unread) else (
            "IOMMU group 'none': the device is not behind an IOMMU; every device of a group goes to vfio together")
        parts.append(html_table("PCI functions a bypass stack could take",
                                ["interface", "PCI", "driver", "node", "IOMMU group", "group type", "group devices",
                                 "vfio-pci", "AF_XDP zero-copy", "why"], self.device_rows(), note))
        return "".join(parts)


def _names(value: tuple[str, ...] | Unread) -> object:
    if isinstance(value, Unread):
        return value
    return ", ".join(value) if value else "(none)"


def hugepage_summary(hp: Hugepages) -> str:
    """``16 × 1 GiB (16 free)`` per size with pages, or 'none reserved', or why unknown."""
    if isinstance(hp.pools, Unread):
        return str(hp.pools)
    parts = []
    for p in hp.pools:
        if isinstance(p.total, Unread) or isinstance(p.free, Unread):
            parts.append(f"{_size(p.size_kb)}: {p.total if isinstance(p.total, Unread) else p.free}")
        elif p.total:
            parts.append(f"{p.total} × {_size(p.size_kb)} ({p.free} free)")
    return "; ".join(parts) or "none reserved"


def hugepage_rows(hp: Hugepages) -> list[list[object]]:
    """One row per NUMA node and pool size."""
    if isinstance(hp.nodes, Unread):
        return [["-", "-", hp.nodes, hp.nodes, hp.nodes.source]]
    rows: list[list[object]] = []
    for node in hp.nodes:
        if isinstance(node.pools, Unread):
            rows.append([node.node, "-", node.pools, node.pools, node.source])
            continue
        for p in node.pools:
            rows.append([node.node, _size(p.size_kb), p.total, p.free, p.source])
    return rows


def _size(kb: int) -> str:
    if kb % (1024 * 1024) == 0:
        return f"{kb // (1024 * 1024)} GiB"
    if kb % 1024 == 0:
        return f"{kb // 1024} MiB"
    return f"{kb} KiB"


def boot_summary(cfg: IommuBootParams) -> str:
    parts = [f"{k}={','.join(v)}" for k, v in (("intel_iommu", cfg.intel_iommu), ("amd_iommu", cfg.amd_iommu),
                                                 ("iommu", cfg.iommu)) if v is not None]
    if cfg.passthrough is not None:
        parts.append(f"passthrough {'on' if cfg.passthrough else 'off'}")
    if cfg.strict is not None:
        parts.append(f"strict {'on' if cfg.strict else 'off'}")
    if cfg.disabled_by:
        parts.append(f"switched off by {cfg.disabled_by}")
    parts += [f"ignored: {i}" for i in cfg.ignored]
    return "; ".join(parts) or "no IOMMU parameter"


# ---------------------------------------------------------------------------------------
# Pure parsers


def _kstrtobool(value: str) -> bool:
    """lib/kstrtox.c ``kstrtobool``: y/Y/1 true, n/N/0 false, on/off; anything else an error."""
    if value[:1] in ("y", "Y", "1"):
        return True
    if value[:1] in ("n", "N", "0"):
        return False
    if value[:2].lower() == "on":
        return True
    if value[:3].lower() == "off" or value[:2].lower() == "of":
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _options(value: str | None) -> tuple[str, ...]:
    """A comma-separated option list as intel_iommu_setup() walks it (empty items skipped)."""
    return tuple(o for o in (value or "").split(",") if o)


def parse_iommu_cmdline(text: str) -> IommuBootParams:
    """The IOMMU parameters of ``/proc/cmdline``, by the kernel's own parsers.

    Sample: ``root=/dev/sda1 intel_iommu=on iommu=pt``

    ``intel_iommu=`` and ``amd_iommu=`` match each option by its prefix (``strncmp``), so
    ``offline`` reads as ``off`` there, as in the kernel; x86's ``iommu=`` does the same with
    ``off``, ``pt`` and ``nopt``. For passthrough and strict mode the last parameter on the
    line wins (each early parameter overwrites the default domain type).

    >>> p = parse_iommu_cmdline("intel_iommu=on,sm_on iommu=pt")
    >>> p.intel_iommu, p.passthrough, p.disabled_by
    (('on', 'sm_on'), True, None)
    >>> parse_iommu_cmdline("amd_iommu=off").disabled_by
    'amd_iommu=off'
    """
    intel = amd = iommu = None
    passthrough: bool | None = None
    strict: bool | None = None
    disabled: str | None = None
    ignored: list[str] = []
    for key, value in parse_cmdline_pairs(text):
        if key == "intel_iommu":
            intel = _options(value)
            for opt in intel:
                if opt.startswith("off"):
                    disabled = "intel_iommu=off"
                elif opt.startswith("on") and disabled == "intel_iommu=off":
                    disabled = None
                elif opt.startswith("strict"):
                    strict = True
        elif key == "amd_iommu":
            amd = _options(value)
            for opt in amd:
                if opt.startswith("off"):
                    disabled = "amd_iommu=off"
                elif opt.startswith("fullflush"):
                    strict = True
        elif key == "iommu":
            iommu = _options(value)
            for opt in iommu:
                # arch/x86/kernel/pci-dma.c tests "noforce" and "nopt" apart from "off" and "pt".
                if opt.startswith("off"):
                    disabled = "iommu=off"
                elif opt.startswith("pt"):
                    passthrough = True
                elif opt.startswith("nopt"):
                    passthrough = False
        elif key in ("iommu.passthrough", "iommu.strict"):
            try:
                flag = _kstrtobool(value or "")
            except ValueError:
                ignored.append(f"{key}={value}: not a boolean (the kernel ignores it)")
                continue
            if key == "iommu.passthrough":
                passthrough = flag
            else:
                strict = flag
    return IommuBootParams(intel, amd, iommu, passthrough, strict, disabled, tuple(ignored))


def parse_module_bool(text: str) -> bool:
    """A bool module parameter as ``param_get_bool`` prints it: ``Y`` or ``N``."""
    value = text.strip()
    if value not in ("Y", "N"):
        raise ValueError(f"expected Y or N, got {value!r}")
    return value == "Y"


def _word(text: str) -> str:
    value = text.strip()
    if not value:
        raise ValueError("empty value")
    return value


# ---------------------------------------------------------------------------------------
# Reading


class _Sources:
    def __init__(self) -> None:
        self._seen: dict[str, None] = {}

    def note(self, path: str) -> str:
        self._seen.setdefault(path, None)
        return path

    def all(self) -> tuple[str, ...]:
        return tuple(self._seen)


def _config_option(config: KernelConfig | Unread, option: str, depends_on: str | None = None) -> bool | Unread:
    """A boolean build option. Absent from the config: off when the option it depends on is
    off (kconfig leaves such options out), otherwise unknown (a trimmed config)."""
    if isinstance(config, Unread):
        return config
    value = config.options.get(option)
    if value is not None:
        return value in ("y", "m")
    if depends_on is not None and config.options.get(depends_on) == "n":
        return False
    return Unread(Reason.MISSING, config.source,
                  f"{option} is not in {config.source}: kconfig writes every option whose dependencies are met, "
                  "so this config was trimmed")


def _listing(host: Host, path: str) -> list[str] | Unread:
    """A folder's entries, or Unread when a snapshot holds it without saying it was listed
    whole (its missing entries may just not have been recorded)."""
    names = host.listdir(path)
    if isinstance(names, Unread):
        return names
    if not names and not host.keeps_all_folders(path):
        return Unread(Reason.MISSING, path, "this snapshot recorded no entries of it")
    return names


def read_iommu_boot_params(host: Host) -> IommuBootParams | Unread:
    return host.read_value(CMDLINE, parse_iommu_cmdline)


def read_iommu_groups(host: Host, src: _Sources | None = None) -> tuple[IommuGroup, ...] | Unread:
    src = src or _Sources()
    names = host.listdir(src.note(IOMMU_GROUPS))
    if isinstance(names, Unread):
        if names.reason is Reason.MISSING and host.is_live:
            return ()  # iommu_init() makes the folder on every kernel with IOMMU support
        if names.reason is Reason.MISSING:
            return Unread(Reason.MISSING, IOMMU_GROUPS, "not recorded in this snapshot (or the kernel has no "
                                                        "IOMMU support)")
        return names
    groups = []
    for name in sorted((n for n in names if _GROUP_NUMBER.match(n)), key=int):
        base = f"{IOMMU_GROUPS}/{name}"
        inside = host.listdir(base)
        devices = host.listdir(f"{base}/devices")
        if not isinstance(devices, Unread):
            devices = tuple(devices)
        gtype = host.read_value(f"{base}/type", _word)
        gname: str | None | Unread
        if isinstance(inside, Unread):
            gname = inside
        elif "name" in inside:
            gname = host.read_value(f"{base}/name", _word)
        elif host.keeps_all_folders(base):
            gname = None  # iommu_group_set_name() makes the file; a group without a name has none
        else:
            gname = Unread(Reason.MISSING, f"{base}/name", "this snapshot did not list the group's folder")
        groups.append(IommuGroup(int(name), devices, gtype, gname, base))
    return tuple(groups)


def _iommu_state(host: Host, units: tuple[str, ...] | Unread, configured: IommuBootParams | Unread,
                 config: KernelConfig | Unread) -> tuple[bool | Unread, str]:
    if isinstance(units, tuple):
        if units:
            return True, f"IOMMU units registered with the kernel: {', '.join(units)}"
        if not isinstance(configured, Unread) and configured.disabled_by:
            return False, f"no IOMMU unit registered: switched off by {configured.disabled_by}"
        if isinstance(config, KernelConfig) and not any(config.enabled(o) for o in IOMMU_DRIVER_OPTIONS):
            return False, ("no IOMMU unit registered: this kernel has no IOMMU driver "
                           "(CONFIG_INTEL_IOMMU, CONFIG_AMD_IOMMU, CONFIG_ARM_SMMU*, CONFIG_VIRTIO_IOMMU not set)")
        asked_on = not isinstance(configured, Unread) and str(configured.intel_iommu or "").startswith("on")
        if isinstance(config, KernelConfig) and config.enabled("CONFIG_INTEL_IOMMU") \
                and not config.enabled("CONFIG_INTEL_IOMMU_DEFAULT_ON") and not asked_on:
            # drivers/iommu/intel/iommu.c: dmar_disabled starts as !CONFIG_INTEL_IOMMU_DEFAULT_ON.
            return False, ("no IOMMU unit registered: this kernel leaves the Intel IOMMU off unless booted with "
                           "intel_iommu=on (CONFIG_INTEL_IOMMU_DEFAULT_ON not set); on AMD, none in the "
                           "firmware's tables (AMD-Vi off in the BIOS)")
        return False, ("no IOMMU unit registered: none in the firmware's tables (VT-d or AMD-Vi off in the BIOS, "
                       "or a virtual machine without a virtual IOMMU)")
    if units.reason is Reason.MISSING and isinstance(config, KernelConfig) \
            and config.options.get("CONFIG_IOMMU_API") in (None, "n") and "CONFIG_IOMMU_SUPPORT" in config.options:
        return False, "the kernel has no IOMMU support (CONFIG_IOMMU_API not set)"
    if units.reason is Reason.MISSING and host.is_live:
        return False, f"{IOMMU_CLASS} is absent: this kernel has no IOMMU support (CONFIG_IOMMU_API)"
    return units, str(units)


def read_iommu(host: Host, src: _Sources | None = None) -> Iommu:
    src = src or _Sources()
    config = read_kernel_config(host)
    names = _listing(host, src.note(IOMMU_CLASS))
    units: tuple[str, ...] | Unread
    if isinstance(names, Unread) and names.reason is Reason.MISSING and not names.detail:
        units = Unread(Reason.MISSING, IOMMU_CLASS,
                       "absent: this kernel has no IOMMU support (CONFIG_IOMMU_API)" if host.is_live
                       else "not recorded in this snapshot (or the kernel has no IOMMU support)")
    else:
        units = names if isinstance(names, Unread) else tuple(names)
    configured = read_iommu_boot_params(host)
    enabled, why = _iommu_state(host, units, configured, config)
    return Iommu(enabled, why, units, read_iommu_groups(host, src), configured)


def read_vfio(host: Host, config: KernelConfig | Unread | None = None) -> Vfio:
    config = read_kernel_config(host) if config is None else config
    vfio_built = _config_option(config, "CONFIG_VFIO")
    pci_built = _config_option(config, "CONFIG_VFIO_PCI", depends_on="CONFIG_VFIO")
    listed = host.listdir(VFIO_PCI_DRIVER)
    pci_driver: bool | Unread
    bound: tuple[str, ...] | Unread
    why = ""
    if isinstance(listed, Unread):
        if listed.reason is Reason.MISSING and (host.is_live or pci_built is False):
            pci_driver, bound = False, ()
            why = ("vfio is not built (CONFIG_VFIO not set)" if vfio_built is False
                   else "vfio-pci is not built (CONFIG_VFIO_PCI not set)" if pci_built is False
                   else "vfio-pci is not loaded (modprobe vfio-pci)")
        elif listed.reason is Reason.MISSING:
            pci_driver = bound = Unread(Reason.MISSING, VFIO_PCI_DRIVER,
                                        "not recorded in this snapshot (or vfio-pci was not loaded)")
        else:
            pci_driver = bound = listed
    else:
        pci_driver, bound = True, tuple(n for n in listed if _PCI_ADDRESS.match(n))
    dev = host.listdir(DEV_VFIO)
    entries: tuple[str, ...] | Unread
    if isinstance(dev, Unread):
        if dev.reason is Reason.MISSING and (host.is_live or pci_driver is False):
            entries = ()  # vfio makes the folder when it loads (drivers/vfio/container.c)
        elif dev.reason is Reason.MISSING:
            entries = Unread(Reason.MISSING, DEV_VFIO, "not recorded in this snapshot (or vfio was not loaded)")
        else:
            entries = dev
    else:
        extra: list[str] = []
        if "devices" in dev:
            inner = host.listdir(f"{DEV_VFIO}/devices")
            extra = [f"devices/{n}" for n in inner] if isinstance(inner, list) else []
        entries = tuple([n for n in dev if n != "devices"] + extra)
    noiommu = host.read_value(NOIOMMU_PARAM, parse_module_bool)
    if isinstance(noiommu, Unread) and noiommu.reason is Reason.MISSING:
        noiommu_built = _config_option(config, "CONFIG_VFIO_NOIOMMU", depends_on="CONFIG_VFIO")
        if vfio_built is False:
            noiommu = Unread(Reason.UNSUPPORTED, NOIOMMU_PARAM, "vfio is not built (CONFIG_VFIO not set)")
        elif noiommu_built is False:
            noiommu = Unread(Reason.UNSUPPORTED, NOIOMMU_PARAM, "vfio is built without CONFIG_VFIO_NOIOMMU")
        elif host.is_live and not host.isdir("/sys/module/vfio"):
            noiommu = Unread(Reason.MISSING, NOIOMMU_PARAM, "the vfio module is not loaded")
    return Vfio(pci_driver, bound, entries, noiommu, why)


def _group_of(host: Host, pci_dir: str, iommu: Iommu) -> tuple[int | None | Unread, str | None | Unread,
                                                                 tuple[str, ...] | None | Unread]:
    link_path = f"{pci_dir}/iommu_group"
    link = host.readlink(link_path)
    if isinstance(link, Unread):
        if link.reason is not Reason.MISSING:
            return link, link, link
        names = host.listdir(pci_dir)
        if host.is_live or (isinstance(names, list) and host.keeps_all_folders(pci_dir)):
            return None, None, None
        why = Unread(Reason.MISSING, link_path, "not recorded in this snapshot (or the device is not behind an IOMMU)")
        return why, why, why
    name = posixpath.basename(link.rstrip("/"))
    if not _GROUP_NUMBER.match(name):
        bad = Unread(Reason.MALFORMED, link_path, f"{link_path} points to {link!r}, not a group number")
        return bad, bad, bad
    number = int(name)
    group = iommu.group(number)
    if group is None:
        base = f"{IOMMU_GROUPS}/{number}"
        devices = host.listdir(f"{base}/devices")
        return number, host.read_value(f"{base}/type", _word), devices if isinstance(devices, Unread) else tuple(devices)
    return number, group.type, group.devices


@probe("bypass.readiness")
def read_bypass_readiness(host: Host) -> BypassReadiness:
    """Hugepages, IOMMU, vfio, AF_XDP and busy polling, and each PCI function's part in them."""
    src = _Sources()
    release = host.read(src.note(OSRELEASE))
    kernel: str | Unread = release.strip() if isinstance(release, str) else release
    config = read_kernel_config(host)
    config_source = config if isinstance(config, Unread) else config.source
    iommu = read_iommu(host, src)
    vfio = read_vfio(host, config)
    nics = read_interfaces(host)
    devices: list[BypassDevice] = []
    seen: set[str] = set()
    devices_value: tuple[BypassDevice, ...] | Unread
    if isinstance(nics.nics, Unread):
        devices_value = nics.nics
    else:
        for nic in nics.physical:
            pci = nic.pci
            if not isinstance(pci, PciFunction):
                continue
            et = read_ethtool_view(host, nic.name, "driver")
            et_driver = et if isinstance(et, Unread) else et.driver
            group, gtype, members = _group_of(host, pci.source, iommu)
            zc, why = zero_copy_verdict((nic.driver, et_driver), kernel)
            devices.append(BypassDevice(pci.address, nic.name, nic.driver, et_driver, pci.numa_node, group, gtype,
                                        members, vfio.bound if isinstance(vfio.bound, Unread) else
                                        pci.address in vfio.bound, zc, why, pci.source))
            seen.add(pci.address)
        for address in vfio.bound if isinstance(vfio.bound, tuple) else ():
            if address in seen:
                continue
            base = f"{VFIO_PCI_DRIVER}/{address}"
            group, gtype, members = _group_of(host, base, iommu)
            devices.append(BypassDevice(address, None, "vfio-pci", None, host.read_value(f"{base}/numa_node", parse_int),
                                        group, gtype, members, True,
                                        False, "bound to vfio-pci: no kernel driver, so no AF_XDP", base))
        devices_value = tuple(devices)
    net_sysctls = read_net_core_sysctls(host)
    hugepages = read_hugepages(host)
    sources = (*hugepages.sources, *src.all(), *vfio.sources, sysctl_path("net.core.busy_read"), sysctl_path("net.core.busy_poll"),
               *([config_source] if isinstance(config_source, str) else []), "ethtool -i *")
    return BypassReadiness(
        kernel=kernel,
        hugepages=hugepages,
        iommu=iommu,
        vfio=vfio,
        xdp_sockets=_config_option(config, "CONFIG_XDP_SOCKETS", depends_on="CONFIG_BPF_SYSCALL"),
        busy_poll_built=_config_option(config, "CONFIG_NET_RX_BUSY_POLL", depends_on="CONFIG_NET"),
        net=net_sysctls,
        devices=devices_value,
        config_source=config_source,
        sources=tuple(dict.fromkeys(sources)),
    )


def fix_plan(r: BypassReadiness, interface: str | None = None) -> str:
    """The steps that would make one NIC ready for a DPDK-style bypass on this host, as a
    commented script to review (nothing here runs it). ``interface``: the NIC to prepare
    (default: the first physical NIC on a NUMA node with hugepages, else the first one)."""
    devices = [d for d in r.devices if d.interface] if isinstance(r.devices, tuple) else []
    nic = next((d for d in devices if d.interface == interface), None)
    if interface is not None and nic is None:
        return f"# no physical NIC {interface!r} on this host (NICs: {', '.join(d.interface for d in devices) or 'none'})"
    if nic is None:
        # The NIC on a node with hugepages reserved is the one prepared for bypass already.
        nodes = {n.node for n in (r.hugepages.nodes if isinstance(r.hugepages.nodes, tuple) else ())
                 if isinstance(n.pools, tuple) and any(isinstance(p.total, int) and p.total for p in n.pools)}
        nic = next((d for d in devices if d.numa_node in nodes), devices[0] if devices else None)
    if nic is None:
        return f"# no physical NIC with a PCI function on this host ({show(r.devices)}): nothing to prepare"
    node = nic.numa_node if isinstance(nic.numa_node, int) and nic.numa_node >= 0 else None
    lines = [f"# Prepare {nic.interface} ({nic.address}, driver {show(nic.driver)}, NUMA node "
             f"{show(nic.numa_node)}) for a poll-mode driver. Review first: binding it to vfio-pci "
             "takes it away from the kernel (no IP address, ethtool or tcpdump on it)."]
    if r.iommu.enabled is not True:
        lines += [f"# IOMMU: {r.iommu.why}",
                  "# turn VT-d / AMD-Vi on in the BIOS, then boot with it on and host devices in passthrough:",
                  "grubby --update-kernel=ALL --args='intel_iommu=on iommu=pt'   # AMD: 'iommu=pt' alone",
                  "# (Debian/Ubuntu: add them to GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub)"]
    pools = [] if isinstance(r.hugepages.nodes, Unread) else [
        p for n in r.hugepages.nodes if n.node == node and not isinstance(n.pools, Unread) for p in n.pools
        if not isinstance(p.total, Unread) and p.total > 0]
    if node is not None and not pools:
        lines += [f"# no hugepages on node {node}: reserve them there (see the memory page for this kernel's form):",
                  f"echo 4 > /sys/devices/system/node/node{node}/hugepages/hugepages-1048576kB/nr_hugepages"]
    elif node is None:
        lines.append("# the NIC's NUMA node is not known: reserve hugepages on the node of the CPUs that will poll it")
    lines.append("modprobe vfio-pci")
    members = nic.group_devices if isinstance(nic.group_devices, tuple) else ()
    others = [m for m in members if m != nic.address]
    if others:
        lines.append(f"# IOMMU group {nic.iommu_group} also holds {', '.join(others)}: vfio needs every device of "
                     "the group bound to vfio-pci (or no driver) before the group can be opened")
    lines += [f"ip link set {nic.interface} down",
              f"echo vfio-pci > /sys/bus/pci/devices/{nic.address}/driver_override",
              f"echo {nic.address} > /sys/bus/pci/devices/{nic.address}/driver/unbind",
              f"echo {nic.address} > /sys/bus/pci/drivers_probe",
              "# or, with DPDK installed: dpdk-devbind.py --bind=vfio-pci " + nic.address,
              f"# back to the kernel: echo > /sys/bus/pci/devices/{nic.address}/driver_override; "
              f"echo {nic.address} > /sys/bus/pci/drivers/vfio-pci/unbind; echo {nic.address} > /sys/bus/pci/drivers_probe"]
    return "\n".join(lines)


def readiness_summary(r: BypassReadiness) -> str:
    """One line per item, for a terminal."""
    return "\n".join(f"{item}: {show(value)}" for item, value, _ in r.summary_rows())


__all__ = [
    "CHECKED_TREES", "DEV_VFIO", "IOMMU_CLASS", "IOMMU_GROUPS", "NOIOMMU_PARAM", "VFIO_PCI_DRIVER",
    "ZERO_COPY_DRIVERS", "BypassDevice", "BypassReadiness", "Iommu", "IommuBootParams", "IommuGroup", "Vfio",
    "ZeroCopyDriver", "boot_summary", "fix_plan", "hugepage_rows", "hugepage_summary", "parse_iommu_cmdline",
    "parse_module_bool", "read_bypass_readiness", "read_iommu", "read_iommu_boot_params", "read_iommu_groups",
    "read_vfio", "readiness_summary", "zero_copy_driver", "zero_copy_verdict",
]
