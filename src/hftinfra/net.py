"""Network interfaces: sysfs state, queues and their CPU masks, the PCI function behind
each NIC, ethtool's view of the driver, and the net.core sysctls.

Read through a :class:`~hftinfra.host.Host`, parse with the pure functions below, return
frozen records that name their sources. ethtool runs through ``host.run`` so a snapshot
replays what it printed; its text output is parsed by ethtool's own layout (the printf
formats of ethtool's ``netlink/*.c`` and, for hosts whose ethtool predates netlink, the
ioctl code in ``ethtool.c``). Where the installed ethtool prints a subcommand as JSON
(``ethtool --json``, see :data:`ETHTOOL_JSON_SINCE`) that form is read instead and parsed into
the same records; :class:`EthtoolForms` decides once per read which form each subcommand
takes. A subcommand the driver does not implement is ``unsupported``, never an error and
never an empty answer.

Kernel documentation behind the paths read here:
- ABI/testing/sysfs-class-net (operstate, carrier, speed, duplex, mtu, device),
  ABI/testing/sysfs-class-net-queues (rps_cpus, rps_flow_cnt, xps_cpus, xps_rxqs)
- networking/scaling.rst (RSS, RPS, RFS, XPS), admin-guide/sysctl/net.rst (net.core.*)
- ABI/testing/sysfs-bus-pci (numa_node, local_cpulist, current_link_speed/width,
  max_link_speed/width, msi_irqs/)
- ethtool(8) for every subcommand's meaning
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from hftinfra.cpulist import format_cpulist, parse_cpulist, parse_cpumask
from hftinfra.host import CommandResult, Host, Reason, Unread
from hftinfra.parsers import parse_int, sysctl_path
from hftinfra.probes import probe
from hftinfra.records import html_table

NET_DIR = "/sys/class/net"
# drivers/net/bonding/bond_sysfs.c: the one regular file the kernel puts beside the
# interface links; every other entry is an interface.
BONDING_MASTERS = "bonding_masters"
SKIPPED = frozenset({"lo", BONDING_MASTERS})

# Record field -> sysctl (admin-guide/sysctl/net.rst, "/proc/sys/net/core").
NET_CORE_SYSCTLS = {
    "rps_sock_flow_entries": "net.core.rps_sock_flow_entries",
    "busy_read": "net.core.busy_read",
    "busy_poll": "net.core.busy_poll",
    "netdev_budget": "net.core.netdev_budget",
    "netdev_budget_usecs": "net.core.netdev_budget_usecs",
    "dev_weight": "net.core.dev_weight",
}
RPS_DEFAULT_MASK = "/proc/sys/net/core/rps_default_mask"

# include/uapi/linux/ethtool.h: SPEED_UNKNOWN, what sysfs 'speed' prints when the driver
# cannot tell (no link, a virtual device that reports none).
SPEED_UNKNOWN = -1

_PCI_ADDRESS = re.compile(r"^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
# drivers/virtio/virtio.c names virtio devices virtioN; virtio_pci puts each under the
# PCI function that carries it, so the netdev's 'device' is virtioN, not the PCI function.
_VIRTIO_DEVICE = re.compile(r"^virtio\d+$")
_QUEUE_NAME = re.compile(r"^(rx|tx)-(\d+)$")
_NUMBERED = re.compile(r"/(rx|tx)-\d+(?=/|$)")

# ethtool's subcommands read here: record field -> option ('' is the bare 'ethtool IF').
ETHTOOL_SUBCOMMANDS = {
    "settings": "",
    "driver": "-i",
    "channels": "-l",
    "rings": "-g",
    "coalesce": "-c",
    "features": "-k",
    "pause": "-a",
    "timestamping": "-T",
}


# ---------------------------------------------------------------------------------------
# Parsed ethtool output


@dataclass(frozen=True)
class LinkSettings:
    """``ethtool IF``. ``speed_mbps`` and ``duplex`` are None where ethtool printed
    ``Unknown!``; ``duplex`` is lower-case as in sysfs. ``fields`` keeps every line as
    printed (continuation lines joined), ``Supports Wake-on`` and all."""

    speed_mbps: int | None
    duplex: str | None
    autoneg: bool | None
    port: str | None
    link_detected: bool | None
    supported_ports: tuple[str, ...]
    supported_link_modes: tuple[str, ...]
    advertised_link_modes: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]

    def field(self, name: str) -> str | None:
        return next((v for k, v in self.fields if k == name), None)


@dataclass(frozen=True)
class DriverInfo:
    """``ethtool -i IF``; an empty value (no firmware version on a virtual device) is None."""

    driver: str
    version: str | None
    firmware_version: str | None
    expansion_rom_version: str | None
    bus_info: str | None
    supports_statistics: bool | None
    supports_test: bool | None
    supports_eeprom_access: bool | None
    supports_register_dump: bool | None
    supports_priv_flags: bool | None


@dataclass(frozen=True)
class Channels:
    """``ethtool -l IF``: pre-set maximums and current counts; None where ethtool printed
    ``n/a`` (the driver has no channel of that kind)."""

    max_rx: int | None
    max_tx: int | None
    max_other: int | None
    max_combined: int | None
    rx: int | None
    tx: int | None
    other: int | None
    combined: int | None


@dataclass(frozen=True)
class Rings:
    """``ethtool -g IF``: ring sizes (descriptors), maximums and current. Fields that newer
    ethtool prints (RX Buf Len, CQE Size, TX/RX Push, TCP data split) are None when the
    line is absent or reads ``n/a``; lines this parser does not know are in ``other``."""

    max_rx: int | None
    max_rx_mini: int | None
    max_rx_jumbo: int | None
    max_tx: int | None
    rx: int | None
    rx_mini: int | None
    rx_jumbo: int | None
    tx: int | None
    rx_buf_len: int | None = None
    cqe_size: int | None = None
    tx_push: bool | None = None
    rx_push: bool | None = None
    tcp_data_split: str | None = None
    other: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Coalesce:
    """``ethtool -c IF``: interrupt coalescing. None where ethtool printed ``n/a``;
    ``params`` holds every numeric line in order under ethtool's own names."""

    adaptive_rx: bool | None
    adaptive_tx: bool | None
    rx_usecs: int | None
    rx_frames: int | None
    rx_usecs_irq: int | None
    rx_frames_irq: int | None
    tx_usecs: int | None
    tx_frames: int | None
    tx_usecs_irq: int | None
    tx_frames_irq: int | None
    cqe_mode_rx: bool | None
    cqe_mode_tx: bool | None
    params: tuple[tuple[str, int | None], ...]

    def param(self, name: str) -> int | None:
        return next((v for k, v in self.params if k == name), None)


@dataclass(frozen=True)
class Feature:
    """One line of ``ethtool -k``. ``fixed``: the driver does not let it change.
    ``requested``: what was asked for when it differs from ``enabled`` (``[requested on]``).
    ``group``: the legacy flag an indented feature sits under (``tx-checksumming``)."""

    name: str
    enabled: bool
    fixed: bool
    requested: bool | None
    group: str | None


@dataclass(frozen=True)
class Features:
    features: tuple[Feature, ...]

    def get(self, name: str) -> Feature | None:
        return next((f for f in self.features if f.name == name), None)

    def enabled(self, name: str) -> bool | None:
        f = self.get(name)
        return None if f is None else f.enabled


@dataclass(frozen=True)
class Pause:
    """``ethtool -a IF``: flow control. The negotiated pair is printed only while
    autonegotiation is on (netlink/pause.c)."""

    autoneg: bool | None
    rx: bool | None
    tx: bool | None
    rx_negotiated: bool | None
    tx_negotiated: bool | None


@dataclass(frozen=True)
class Timestamping:
    """``ethtool -T IF``. ``phc_index`` is the ``PTP Hardware Clock`` line (None for
    ``none``); ethtool 6.x prints ``Hardware timestamp provider index`` instead when the
    kernel reports a provider (netlink/tsinfo.c). Modes and filters are ethtool's short
    names (``hardware-transmit``, ``ptpv2-event``), whichever ethtool printed them."""

    capabilities: tuple[str, ...]
    phc_index: int | None
    provider_index: int | None
    provider_qualifier: str | None
    tx_types: tuple[str, ...]
    rx_filters: tuple[str, ...]

    @property
    def hardware_clock(self) -> int | None:
        """The PHC (``/dev/ptpN``) behind hardware timestamps, from either line."""
        for index in (self.phc_index, self.provider_index):
            if index is not None and index >= 0:
                return index
        return None

    @property
    def hardware(self) -> bool:
        return {"hardware-transmit", "hardware-receive", "hardware-raw-clock"} <= set(self.capabilities)


# ---------------------------------------------------------------------------------------
# Pure parsers


def _onoff(text: str) -> bool | None:
    """``on``/``off`` (also ``yes``/``no``, as -i prints them); ``n/a`` is None."""
    value = text.strip().lower()
    if value in ("on", "yes"):
        return True
    if value in ("off", "no"):
        return False
    if value in ("n/a", ""):
        return None
    raise ValueError(f"expected on/off, got {text!r}")


def _count(text: str) -> int | None:
    value = text.strip()
    if value == "n/a":
        return None
    if not re.fullmatch(r"-?[0-9]+", value):
        raise ValueError(f"expected a number or n/a, got {text!r}")
    return int(value)


def _split(line: str) -> tuple[str, str] | None:
    key, sep, value = line.partition(":")
    if not sep or not key.strip():
        return None
    return key.strip(), value.strip()


def _require_header(text: str, header: str) -> list[str]:
    """The lines after ethtool's banner (``Ring parameters for eth0:``)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header) and line.rstrip().endswith(":"):
            return lines[i + 1:]
    raise ValueError(f"no {header!r} line")


def parse_ethtool_settings(text: str) -> LinkSettings:
    """``ethtool IF`` (netlink/settings.c, or ``dump_ecmd`` in ethtool.c before netlink).

    Sample::

        Settings for eth0:
            Supported link modes:   10baseT/Half 10baseT/Full
                                    100baseT/Half 100baseT/Full
            Speed: 1000Mb/s
            Duplex: Full
            Auto-negotiation: on
            Port: Twisted Pair
            Link detected: yes

    ethtool indents these lines with a tab. An indented line without a colon continues
    the line before it (link modes wrap).
    """
    body = _require_header(text, "Settings for ")
    fields: list[list[str]] = []
    for line in body:
        if not line.strip():
            continue
        kv = _split(line)
        if kv is None:
            if not fields or not line[:1].isspace():
                continue  # a stray message ethtool wrote between the lines
            fields[-1][1] = f"{fields[-1][1]} {line.strip()}".strip()
            continue
        if not line[:1].isspace() and kv[0].startswith("netlink error"):
            continue  # stderr mixed into a capture (a netlink request that was refused)
        fields.append([kv[0], kv[1]])
    if not fields:
        raise ValueError("no settings lines")
    values = {k: v for k, v in fields}

    def modes(key: str) -> tuple[str, ...]:
        value = values.get(key, "")
        return () if value in ("", "Not reported") else tuple(value.split())

    speed: int | None = None
    if "Speed" in values:
        m = re.fullmatch(r"(\d+)\s*Mb/s", values["Speed"])
        if m:
            speed = int(m.group(1))
        elif not values["Speed"].startswith("Unknown"):
            raise ValueError(f"speed {values['Speed']!r}")
    duplex = values.get("Duplex")
    if duplex is not None:
        duplex = None if duplex.startswith("Unknown") else duplex.lower()
    ports = values.get("Supported ports", "").strip().strip("[]").split()
    autoneg = values.get("Auto-negotiation")
    link = values.get("Link detected")
    return LinkSettings(
        speed_mbps=speed,
        duplex=duplex,
        autoneg=None if autoneg is None else _onoff(autoneg),
        port=values.get("Port"),
        # 'Link detected: no (No cable)': the kernel's extended link state follows in
        # parentheses (netlink/settings.c, linkstate_link_ext_state_print).
        link_detected=None if link is None else _onoff(link.split(" (", 1)[0]),
        supported_ports=tuple(ports),
        supported_link_modes=modes("Supported link modes"),
        advertised_link_modes=modes("Advertised link modes"),
        fields=tuple((k, v) for k, v in fields),
    )


_DRVINFO_BOOLS = ("supports-statistics", "supports-test", "supports-eeprom-access",
                  "supports-register-dump", "supports-priv-flags")


def parse_ethtool_driver(text: str) -> DriverInfo:
    """``ethtool -i IF`` (``dump_drvinfo`` in ethtool.c): one ``key: value`` a line.

    Sample::

        driver: e1000e
        version: 5.11.0-22-generic
        firmware-version: 0.5-4
        bus-info: 0000:00:1f.6
        supports-statistics: yes
    """
    values: dict[str, str] = {}
    for line in text.splitlines():
        kv = _split(line)
        if kv is not None:
            values.setdefault(kv[0], kv[1])
    if not values.get("driver"):
        raise ValueError("no 'driver:' line")

    def opt(key: str) -> str | None:
        return values.get(key) or None

    def flag(key: str) -> bool | None:
        return None if key not in values else _onoff(values[key])

    return DriverInfo(values["driver"], opt("version"), opt("firmware-version"),
                      opt("expansion-rom-version"), opt("bus-info"),
                      *(flag(k) for k in _DRVINFO_BOOLS))


def _two_sections(text: str, header: str) -> tuple[dict[str, str], dict[str, str]]:
    """The ``Pre-set maximums:`` and ``Current hardware settings:`` halves of -l and -g."""
    maximums: dict[str, str] = {}
    current: dict[str, str] = {}
    section: dict[str, str] | None = None
    for line in _require_header(text, header):
        s = line.strip()
        if not s:
            continue
        if s == "Pre-set maximums:":
            section = maximums
        elif s == "Current hardware settings:":
            section = current
        elif section is not None and (kv := _split(s)) is not None:
            section.setdefault(kv[0], kv[1])
    if not maximums and not current:
        raise ValueError("neither 'Pre-set maximums:' nor 'Current hardware settings:' values")
    return maximums, current


def parse_ethtool_channels(text: str) -> Channels:
    """``ethtool -l IF`` (netlink/channels.c): ``RX:``, ``TX:``, ``Other:``,
    ``Combined:`` under each half, ``n/a`` for a kind the driver lacks.

    Sample::

        Channel parameters for eth0:
        Pre-set maximums:
        RX:		n/a
        TX:		n/a
        Other:		1
        Combined:	63
        Current hardware settings:
        RX:		n/a
        TX:		n/a
        Other:		1
        Combined:	8
    """
    maximums, current = _two_sections(text, "Channel parameters for ")

    def get(section: dict[str, str], key: str) -> int | None:
        return _count(section[key]) if key in section else None

    return Channels(*(get(maximums, k) for k in ("RX", "TX", "Other", "Combined")),
                    *(get(current, k) for k in ("RX", "TX", "Other", "Combined")))


_RING_KNOWN = {"RX", "RX Mini", "RX Jumbo", "TX", "RX Buf Len", "CQE Size", "TX Push", "RX Push",
               "TCP data split"}


def parse_ethtool_rings(text: str) -> Rings:
    """``ethtool -g IF`` (netlink/rings.c). Newer ethtool releases add to the current half
    ``RX Buf Len``, ``CQE Size``, ``TX Push``, ``RX Push``, ``TX push buff len`` and
    ``TCP data split`` (``on``, ``off``, ``n/a`` or ``unknown(N)``), and align the values
    with three tabs instead of two.

    Sample::

        Ring parameters for eth0:
        Pre-set maximums:
        RX:			4096
        RX Mini:		n/a
        RX Jumbo:		n/a
        TX:			4096
        Current hardware settings:
        RX:			1024
        RX Mini:		n/a
        RX Jumbo:		n/a
        TX:			1024
        RX Buf Len:		n/a
        TCP data split:		off
    """
    maximums, current = _two_sections(text, "Ring parameters for ")

    def get(section: dict[str, str], key: str) -> int | None:
        return _count(section[key]) if key in section else None

    split = current.get("TCP data split")
    other = tuple((f"max {k}", v) for k, v in maximums.items() if k not in _RING_KNOWN) + tuple(
        (k, v) for k, v in current.items() if k not in _RING_KNOWN)
    return Rings(
        max_rx=get(maximums, "RX"), max_rx_mini=get(maximums, "RX Mini"),
        max_rx_jumbo=get(maximums, "RX Jumbo"), max_tx=get(maximums, "TX"),
        rx=get(current, "RX"), rx_mini=get(current, "RX Mini"), rx_jumbo=get(current, "RX Jumbo"),
        tx=get(current, "TX"), rx_buf_len=get(current, "RX Buf Len"), cqe_size=get(current, "CQE Size"),
        tx_push=_onoff(current["TX Push"]) if "TX Push" in current else None,
        rx_push=_onoff(current["RX Push"]) if "RX Push" in current else None,
        tcp_data_split=None if split in (None, "n/a") else split,
        other=other,
    )


_PAIR_LINE = re.compile(r"^(Adaptive|CQE mode) RX:\s*(\S+)\s+TX:\s*(\S+)$")
# netlink/coalesce.c prints 'tx-aggr-time-usecs' with a tab and no colon.
_BARE_PARAM = re.compile(r"^([a-z][a-z0-9-]*)\s+(\S+)$")


def parse_ethtool_coalesce(text: str) -> Coalesce:
    """``ethtool -c IF`` (netlink/coalesce.c; ``dump_coalesce`` in ethtool.c before it).

    Sample::

        Coalesce parameters for eth0:
        Adaptive RX: off  TX: n/a
        stats-block-usecs: n/a

        rx-usecs: 0
        rx-frames: 1
        rx-usecs-irq: n/a

        tx-usecs: 0
        tx-frames: 1

        CQE mode RX: n/a  TX: n/a
    """
    pairs: dict[str, tuple[bool | None, bool | None]] = {}
    params: list[tuple[str, int | None]] = []
    for line in _require_header(text, "Coalesce parameters for "):
        s = line.strip()
        if not s:
            continue
        m = _PAIR_LINE.match(s)
        if m:
            pairs[m.group(1)] = (_onoff(m.group(2)), _onoff(m.group(3)))
            continue
        kv = _split(s)
        if kv is None:
            bare = _BARE_PARAM.match(s)
            if not bare:
                raise ValueError(f"unexpected line {s!r}")
            kv = bare.group(1), bare.group(2)
        params.append((kv[0], _count(kv[1])))
    if not params and not pairs:
        raise ValueError("no coalescing parameters")
    values = dict(params)
    adaptive = pairs.get("Adaptive", (None, None))
    cqe = pairs.get("CQE mode", (None, None))
    return Coalesce(
        adaptive_rx=adaptive[0], adaptive_tx=adaptive[1],
        rx_usecs=values.get("rx-usecs"), rx_frames=values.get("rx-frames"),
        rx_usecs_irq=values.get("rx-usecs-irq"), rx_frames_irq=values.get("rx-frames-irq"),
        tx_usecs=values.get("tx-usecs"), tx_frames=values.get("tx-frames"),
        tx_usecs_irq=values.get("tx-usecs-irq"), tx_frames_irq=values.get("tx-frames-irq"),
        cqe_mode_rx=cqe[0], cqe_mode_tx=cqe[1],
        params=tuple(params),
    )


_FEATURE_LINE = re.compile(r"^(\s*)([^\s:][^:]*):\s+(on|off)(?:\s+\[([^\]]*)\])?\s*$")


def parse_ethtool_features(text: str) -> Features:
    """``ethtool -k IF`` (netlink/features.c): ``name: on|off`` with `` [fixed]`` (the
    driver cannot change it) or `` [requested on|off]`` (asked for, not in effect); a
    legacy flag that covers several features prints their state under it, indented.

    Sample::

        Features for eth0:
        rx-checksumming: on [fixed]
        tx-checksumming: on
            tx-checksum-ipv4: off [fixed]
            tx-checksum-ip-generic: on
        generic-receive-offload: on
        rx-gro-hw: off [requested on]
    """
    features: list[Feature] = []
    group: str | None = None
    for line in _require_header(text, "Features for "):
        if not line.strip():
            continue
        m = _FEATURE_LINE.match(line)
        if not m:
            raise ValueError(f"not a feature line: {line!r}")
        indent, name, state, note = m.groups()
        note = (note or "").strip()
        requested = {"requested on": True, "requested off": False}.get(note)
        if not indent:
            group = name
        features.append(Feature(name.strip(), state == "on", note == "fixed", requested,
                                group if indent else None))
    if not features:
        raise ValueError("no feature lines")
    return Features(tuple(features))


def parse_ethtool_pause(text: str) -> Pause:
    """``ethtool -a IF`` (netlink/pause.c; ``dump_pause`` in ethtool.c before it).
    Statistics (``-I``) are counters and left out.

    Sample::

        Pause parameters for eth0:
        Autonegotiate:	on
        RX:		on
        TX:		on
        RX negotiated: on
        TX negotiated: on
    """
    values: dict[str, str] = {}
    for line in _require_header(text, "Pause parameters for "):
        if line.strip() == "Statistics:":
            break
        kv = _split(line)
        if kv is not None:
            values.setdefault(kv[0], kv[1])
    if not {"Autonegotiate", "RX", "TX"} & values.keys():
        raise ValueError("no Autonegotiate/RX/TX lines")

    def get(key: str) -> bool | None:
        return _onoff(values[key]) if key in values else None

    return Pause(get("Autonegotiate"), get("RX"), get("TX"), get("RX negotiated"), get("TX negotiated"))


_TS_LISTS = {"Capabilities": "capabilities", "Hardware Transmit Timestamp Modes": "tx_types",
             "Hardware Receive Filter Modes": "rx_filters"}


def parse_ethtool_timestamping(text: str) -> Timestamping:
    """``ethtool -T IF`` (netlink/tsinfo.c; ``dump_tsinfo`` in ethtool.c before it, which
    adds the constant's name after each mode: ``hardware-transmit     (SOF_TIMESTAMPING_TX_HARDWARE)``).

    Sample::

        Time stamping parameters for eth0:
        Capabilities:
            hardware-transmit
            software-transmit
            hardware-raw-clock
        PTP Hardware Clock: 0
        Hardware Transmit Timestamp Modes:
            off
            on
        Hardware Receive Filter Modes:
            none
            all

    ethtool 6.x prints ``Hardware timestamp provider index: 0`` and ``... qualifier:``
    in place of the PTP Hardware Clock line when the kernel names a provider.
    """
    lists: dict[str, list[str]] = {v: [] for v in _TS_LISTS.values()}
    current: list[str] | None = None
    phc: int | None = None
    provider: int | None = None
    qualifier: str | None = None
    seen = False
    for line in _require_header(text, "Time stamping parameters for "):
        if not line.strip():
            continue
        if line[:1].isspace():
            if current is not None:
                current.append(line.split()[0])
            continue
        kv = _split(line)
        current = None
        if kv is None:
            continue
        key, value = kv
        if key in _TS_LISTS:
            seen = True
            current = lists[_TS_LISTS[key]]
            if value and value != "none":
                current.extend(value.split())
        elif key == "PTP Hardware Clock":
            seen = True
            phc = None if value == "none" else _count(value)
        elif key == "Hardware timestamp provider index":
            seen = True
            provider = _count(value)
        elif key == "Hardware timestamp provider qualifier":
            qualifier = value or None
        elif key == "Statistics":
            break  # counters (-I), not settings
    if not seen:
        raise ValueError("no Capabilities or PTP Hardware Clock line")
    return Timestamping(tuple(lists["capabilities"]), phc, provider, qualifier,
                        tuple(lists["tx_types"]), tuple(lists["rx_filters"]))


PARSERS = {
    "settings": parse_ethtool_settings,
    "driver": parse_ethtool_driver,
    "channels": parse_ethtool_channels,
    "rings": parse_ethtool_rings,
    "coalesce": parse_ethtool_coalesce,
    "features": parse_ethtool_features,
    "pause": parse_ethtool_pause,
    "timestamping": parse_ethtool_timestamping,
}


# ---------------------------------------------------------------------------------------
# ethtool's JSON output (``ethtool --json``)

# The first ethtool release that prints each view as JSON, and prints it right (ethtool's
# NEWS and the ``.json`` flags of the option table in ethtool.c). ``-i`` (ioctl only) and
# ``-T`` have no JSON form up to ethtool 7.0. Before 5.14 ethtool ignored ``--json`` for
# subcommands without a JSON form and printed text; since 5.14 it refuses them as a bad
# argument.
ETHTOOL_JSON_SINCE = {
    # netlink/pause.c has JSON since 5.10, but show_bool_val (netlink/netlink.h) printed
    # every flag true whatever its value until 6.2.
    "pause": (6, 2),
    "features": (5, 17),
    "rings": (6, 2),
    # 6.2-6.13 key both the adaptive and the CQE pair "rx"/"tx" (renamed adaptive-rx/-tx,
    # cqe-mode-rx/-tx in 6.14): parse_ethtool_coalesce_json tells them apart by position.
    "coalesce": (6, 2),
    "settings": (6, 10),
    "channels": (6, 15),
}


class _JsonObject(list):
    """A JSON object as ethtool printed it: its (key, value) pairs in order, a repeated key
    kept (ethtool 6.2-6.13 print "rx" and "tx" twice in ``-c``)."""

    def get(self, key: str, default: object = None) -> object:
        return next((v for k, v in self if k == key), default)

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self)


def _json_object(text: str) -> _JsonObject:
    """The one interface's object of ``ethtool --json SUBCOMMAND IF`` (a list of one)."""
    try:
        value = json.loads(text, object_pairs_hook=_JsonObject)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting no ethtool prints
        raise ValueError(f"not JSON ({exc})") from None
    if isinstance(value, _JsonObject) or not isinstance(value, list) or len(value) != 1 \
            or not isinstance(value[0], _JsonObject) or not isinstance(value[0].get("ifname"), str):
        raise ValueError("expected a list of one object with an 'ifname'")
    return value[0]


def _jint(obj: _JsonObject, key: str) -> int | None:
    """A count ethtool printed (absent: the driver reports none, ``n/a`` in the text)."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key}: expected a number, got {value!r}")
    return value


def _jbool(obj: _JsonObject | None, key: str) -> bool | None:
    value = None if obj is None else obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"{key}: expected true or false, got {value!r}")


def _jstr(obj: _JsonObject, key: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{key}: expected a string, got {value!r}")


def _jlist(obj: _JsonObject, key: str) -> tuple[str, ...]:
    value = obj.get(key, [])
    if isinstance(value, _JsonObject) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: expected a list of names, got {value!r}")
    return tuple(value)


def _jtext(value: object) -> str:
    """A JSON value as ethtool's text prints it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def parse_ethtool_version(text: str) -> tuple[int, int]:
    """``ethtool --version``: ``ethtool version 6.1`` -> ``(6, 1)``."""
    m = re.search(r"^ethtool version (\d+)\.(\d+)", text, re.MULTILINE)
    if not m:
        raise ValueError(f"no 'ethtool version N.N' in {text.strip()[:60]!r}")
    return int(m.group(1)), int(m.group(2))


_CHANNEL_KEYS = ("rx-max", "tx-max", "other-max", "combined-max", "rx", "tx", "other", "combined")


def parse_ethtool_channels_json(text: str) -> Channels:
    """``ethtool --json -l IF`` (ethtool 6.15+, netlink/channels.c): a key per count the
    driver reports; a kind it lacks is left out (``n/a`` in the text) and reads None.

    Sample::

        [ {
                "ifname": "eth0",
                "combined-max": 63,
                "other-max": 1,
                "other": 1,
                "combined": 8
            } ]
    """
    o = _json_object(text)
    return Channels(*(_jint(o, k) for k in _CHANNEL_KEYS))


_RING_JSON = {"rx-max": "max_rx", "rx-mini-max": "max_rx_mini", "rx-jumbo-max": "max_rx_jumbo", "tx-max": "max_tx",
              "rx": "rx", "rx-mini": "rx_mini", "rx-jumbo": "rx_jumbo", "tx": "tx", "rx-buf-len": "rx_buf_len",
              "cqe-size": "cqe_size"}
# Keys Rings keeps in ``other``, under the label of their text line (netlink/rings.c).
_RING_JSON_OTHER = {"tx-push-buff-max-len": "max TX push buff len", "hds-thresh-max": "max HDS thresh",
                    "tx-push-buf-len": "TX push buff len", "hds-thresh": "HDS thresh"}


def parse_ethtool_rings_json(text: str) -> Rings:
    """``ethtool --json -g IF`` (ethtool 6.2+, netlink/rings.c). A ring the driver does
    not report is left out (``n/a`` in the text) and reads None; ``tcp-data-split`` is
    ``on``, ``off`` or ``unknown(N)``, absent where the text says ``n/a``. Keys without a
    field are in ``other`` under their text label (``TX push buff len``, ``HDS thresh``).

    Sample::

        [ {
                "ifname": "eth0",
                "rx-max": 8160,
                "tx-max": 8160,
                "rx": 2048,
                "tx": 2048,
                "rx-buf-len": 0,
                "cqe-size": 0,
                "tx-push": false,
                "rx-push": false,
                "tcp-data-split": "off"
            } ]
    """
    o = _json_object(text)
    split = _jstr(o, "tcp-data-split")
    known = {*_RING_JSON, "ifname", "tx-push", "rx-push", "tcp-data-split"}
    return Rings(
        **{field: _jint(o, key) for key, field in _RING_JSON.items()},
        tx_push=_jbool(o, "tx-push"), rx_push=_jbool(o, "rx-push"),
        tcp_data_split=None if split is None else split.strip(),
        other=tuple((_RING_JSON_OTHER.get(k, k), _jtext(v)) for k, v in o if k not in known),
    )


_COALESCE_FLAGS = {"adaptive-rx": ("adaptive", 0), "adaptive-tx": ("adaptive", 1),
                   "cqe-mode-rx": ("cqe", 0), "cqe-mode-tx": ("cqe", 1)}


def parse_ethtool_coalesce_json(text: str) -> Coalesce:
    """``ethtool --json -c IF`` (ethtool 6.2+, netlink/coalesce.c). Numbers keep
    ethtool's names, which are those of the text lines (``rx-usecs``, ``tx-aggr-time-usecs``),
    in ethtool's order; a parameter the driver lacks is left out (``n/a`` in the text), so
    ``params`` holds only what the driver reported.

    Sample (ethtool 6.14+; before it the two pairs are both keyed ``rx``/``tx``)::

        [ {
                "ifname": "eth0",
                "adaptive-rx": false,
                "adaptive-tx": false,
                "rx-usecs": 0,
                "rx-frames": 1,
                "tx-usecs": 0,
                "tx-frames": 1,
                "cqe-mode-rx": false,
                "cqe-mode-tx": false
            } ]

    In the older form a bare ``rx``/``tx`` after a parameter printed before the CQE pair
    (``rx-usecs`` ... ``tx-frame-high``) is the CQE flag, one before them the adaptive flag;
    where nothing around it tells, the form is refused (ValueError) and the text read.
    """
    o = _json_object(text)
    flags: dict[str, list[bool | None]] = {"adaptive": [None, None], "cqe": [None, None]}
    params: list[tuple[str, int | None]] = []
    bare: list[tuple[int, str, bool]] = []  # (params before it, 'rx' or 'tx', value)
    for key, value in o:
        if key == "ifname" or isinstance(value, list):
            continue  # nested values (objects read as lists too) are not parameters
        if isinstance(value, bool):
            if key in _COALESCE_FLAGS:
                pair, side = _COALESCE_FLAGS[key]
                flags[pair][side] = value
            elif key in ("rx", "tx"):
                bare.append((len(params), key, value))
            continue
        if not isinstance(value, int):
            raise ValueError(f"{key}: expected a number, got {value!r}")
        params.append((key, value))

    def before_cqe(names) -> bool:
        # netlink/coalesce.c prints the tx-aggr-* (and later rx-cqe-*) values after the CQE pair.
        return any(not k.startswith(("tx-aggr-", "rx-cqe-")) for k, _ in names)

    for i, (at, key, value) in enumerate(bare):
        side = 0 if key == "rx" else 1
        if before_cqe(params[:at]) or flags["adaptive"][side] is not None:
            pair = "cqe"
        elif before_cqe(params[at:]) or any(k == key for _, k, _ in bare[i + 1:]):
            pair = "adaptive"
        else:
            raise ValueError(f"cannot tell whether {key!r} is the adaptive or the CQE flag")
        flags[pair][side] = value
    values = dict(params)
    return Coalesce(
        adaptive_rx=flags["adaptive"][0], adaptive_tx=flags["adaptive"][1],
        rx_usecs=values.get("rx-usecs"), rx_frames=values.get("rx-frames"),
        rx_usecs_irq=values.get("rx-usecs-irq"), rx_frames_irq=values.get("rx-frames-irq"),
        tx_usecs=values.get("tx-usecs"), tx_frames=values.get("tx-frames"),
        tx_usecs_irq=values.get("tx-usecs-irq"), tx_frames_irq=values.get("tx-frames-irq"),
        cqe_mode_rx=flags["cqe"][0], cqe_mode_tx=flags["cqe"][1],
        params=tuple(params),
    )


# The legacy flags ethtool -k prints first (off_flag_def in ethtool's common.c): long name
# -> the kernel feature names it covers. One covering other than exactly one feature prints
# a line of its own ("fixed" and "requested" null in JSON) with its features under it.
_LEGACY_FEATURE_FLAGS = {
    "rx-checksumming": "rx-checksum",
    "tx-checksumming": "tx-checksum-*",
    "scatter-gather": "tx-scatter-gather*",
    "tcp-segmentation-offload": "tx-tcp*-segmentation",
    "udp-fragmentation-offload": "tx-udp-fragmentation",
    "generic-segmentation-offload": "tx-generic-segmentation",
    "generic-receive-offload": "rx-gro",
    "large-receive-offload": "rx-lro",
    "rx-vlan-offload": "rx-vlan-hw-parse",
    "tx-vlan-offload": "tx-vlan-hw-insert",
    "ntuple-filters": "rx-ntuple-filter",
    "receive-hashing": "rx-hashing",
}


def parse_ethtool_features_json(text: str) -> Features:
    """``ethtool --json -k IF`` (ethtool 5.17+, netlink/features.c): per feature
    ``active``, ``fixed`` (the driver cannot change it) and ``requested`` (what was asked
    for). ``Feature.requested`` is set, as ``[requested on|off]`` in the text, only where
    the feature is not fixed and the request is not in effect; ``group`` is the legacy flag
    whose line (``fixed`` null) the feature follows and whose kernel names it matches.

    Sample::

        [ {
                "ifname": "eth0",
                "rx-checksumming": {"active": true, "fixed": true, "requested": false},
                "tx-checksumming": {"active": true, "fixed": null, "requested": null},
                "tx-checksum-ipv4": {"active": false, "fixed": true, "requested": false},
                "rx-gro-hw": {"active": false, "fixed": false, "requested": true}
            } ]
    """
    o = _json_object(text)
    features: list[Feature] = []
    group: str | None = None
    pattern: str | None = None
    for key, value in o:
        if key == "ifname":
            continue
        if not isinstance(value, _JsonObject):
            raise ValueError(f"{key}: expected an object, got {value!r}")
        active, fixed, requested = _jbool(value, "active"), _jbool(value, "fixed"), _jbool(value, "requested")
        if active is None:
            raise ValueError(f"{key}: no 'active'")
        if fixed is None:
            group, pattern = key, _LEGACY_FEATURE_FLAGS.get(key)
            features.append(Feature(key, active, False, None, None))
            continue
        if pattern is None or not fnmatchcase(key, pattern):
            group = pattern = None
        wanted = requested if requested is not None and not fixed and requested != active else None
        features.append(Feature(key, active, fixed, wanted, group))
    if not features:
        raise ValueError("no features")
    return Features(tuple(features))


def parse_ethtool_pause_json(text: str) -> Pause:
    """``ethtool --json -a IF`` (netlink/pause.c; trusted from ethtool 6.2, see
    :data:`ETHTOOL_JSON_SINCE`). ``negotiated`` is printed only while autonegotiation is on.

    Sample::

        [ {
                "ifname": "eth0",
                "autonegotiate": true,
                "rx": true,
                "tx": true,
                "negotiated": {"rx": true, "tx": false}
            } ]
    """
    o = _json_object(text)
    negotiated = o.get("negotiated")
    if negotiated is not None and not isinstance(negotiated, _JsonObject):
        raise ValueError(f"negotiated: expected an object, got {negotiated!r}")
    if not any(o.has(k) for k in ("autonegotiate", "rx", "tx")):
        raise ValueError("no autonegotiate/rx/tx")
    return Pause(_jbool(o, "autonegotiate"), _jbool(o, "rx"), _jbool(o, "tx"),
                 _jbool(negotiated, "rx"), _jbool(negotiated, "tx"))


# netlink/settings.c and common.c (ethtool 6.10+): JSON key -> the label of its text line.
_SETTINGS_LABELS = {
    "supported-ports": "Supported ports", "supported-link-modes": "Supported link modes",
    "supported-pause-frame-use": "Supported pause frame use",
    "supports-auto-negotiation": "Supports auto-negotiation", "supported-fec-modes": "Supported FEC modes",
    "advertised-link-modes": "Advertised link modes", "advertised-pause-frame-use": "Advertised pause frame use",
    "advertised-auto-negotiation": "Advertised auto-negotiation", "advertised-fec-modes": "Advertised FEC modes",
    "link-partner-advertised-link-modes": "Link partner advertised link modes",
    "link-partner-advertised-pause-frame-use": "Link partner advertised pause frame use",
    "link-partner-advertised-auto-negotiation": "Link partner advertised auto-negotiation",
    "link-partner-advertised-fec-modes": "Link partner advertised FEC modes",
    "speed": "Speed", "lanes": "Lanes", "duplex": "Duplex", "auto-negotiation": "Auto-negotiation",
    "master-slave-cfg": "master-slave cfg", "master-slave-status": "master-slave status", "port": "Port",
    "phyad": "PHYAD", "transceiver": "Transceiver", "mdi-x": "MDI-X", "supports-wake-on": "Supports Wake-on",
    "wake-on": "Wake-on", "secureon-password": "SecureOn password",
    "current-message-level": "Current message level", "link-detected": "Link detected", "sqi": "SQI",
    "link-down-events": "Link Down Events", "plca-support": "PLCA support", "open-alliance-v": "PLCA support",
    "plca-status": "PLCA status",
}
# Printed as part of another key's line.
_SETTINGS_FOLDED = frozenset({"ifname", "link-state", "sqi-max", "mdi-x-forced", "mdi-x-auto"})


def _settings_text(o: _JsonObject, key: str, value: object) -> str:
    """A settings value as ethtool's text line shows it."""
    # dump_link_modes: ports and FEC modes are separated by a tab and a space, link modes
    # by a space or a wrapped line (which parse_ethtool_settings joins with a space).
    if key == "supported-ports":
        return "[ " + "\t ".join(_jlist(o, key)) + " ]"
    if key.endswith("-fec-modes"):
        return "\t ".join(_jlist(o, key)) or "Not reported"
    if key.endswith("-link-modes"):
        return " ".join(_jlist(o, key)) or "Not reported"
    if key == "speed":
        return f"{value}Mb/s"
    if key == "auto-negotiation" and isinstance(value, bool):
        return "on" if value else "off"
    if key.endswith("auto-negotiation") and isinstance(value, bool):
        return "Yes" if value else "No"
    if key == "link-detected" and isinstance(value, bool):
        state = o.get("link-state")
        extra = f" ({', '.join(str(s) for s in state)})" if isinstance(state, list) and state else ""
        return ("yes" if value else "no") + extra
    if key == "mdi-x" and isinstance(value, bool):
        if o.get("mdi-x-forced") is True:
            return ("on" if value else "off") + " (forced)"
        return ("on" if value else "off") + (" (auto)" if o.get("mdi-x-auto") is True else "")
    if key == "current-message-level" and isinstance(value, int):
        return f"0x{value:08x} ({value})"
    if key == "sqi" and o.has("sqi-max"):
        return f"{value}/{o.get('sqi-max')}"
    if key == "secureon-password" and isinstance(value, list):
        return ":".join(str(v) for v in value)
    if key == "open-alliance-v":
        return f"OPEN Alliance v{value}"
    return _jtext(value)


def parse_ethtool_settings_json(text: str) -> LinkSettings:
    """``ethtool --json IF`` (ethtool 6.10+, netlink/settings.c). A speed or duplex
    ethtool cannot name (``Unknown!`` in the text) is left out and reads None; ``fields``
    holds each key under the label and in the wording of its text line.

    Sample::

        [ {
                "ifname": "eth0",
                "supported-ports": [ "FIBRE" ],
                "supported-link-modes": [ "25000baseSR/Full" ],
                "supports-auto-negotiation": true,
                "advertised-link-modes": [ "25000baseSR/Full" ],
                "speed": 25000,
                "duplex": "Full",
                "auto-negotiation": false,
                "port": "FIBRE",
                "link-detected": true
            } ]
    """
    o = _json_object(text)
    fields = tuple((_SETTINGS_LABELS.get(k, k), _settings_text(o, k, v)) for k, v in o
                   if k not in _SETTINGS_FOLDED)
    if not fields:
        raise ValueError("no settings")
    duplex = _jstr(o, "duplex")
    return LinkSettings(
        speed_mbps=_jint(o, "speed"),
        duplex=None if duplex is None else duplex.lower(),
        autoneg=_jbool(o, "auto-negotiation"),
        port=_jstr(o, "port"),
        link_detected=_jbool(o, "link-detected"),
        supported_ports=_jlist(o, "supported-ports"),
        supported_link_modes=_jlist(o, "supported-link-modes"),
        advertised_link_modes=_jlist(o, "advertised-link-modes"),
        fields=fields,
    )


JSON_PARSERS = {
    "settings": parse_ethtool_settings_json,
    "channels": parse_ethtool_channels_json,
    "rings": parse_ethtool_rings_json,
    "coalesce": parse_ethtool_coalesce_json,
    "features": parse_ethtool_features_json,
    "pause": parse_ethtool_pause_json,
}


def parse_pcie_speed(text: str) -> str:
    """``current_link_speed``: ``8.0 GT/s PCIe`` (older kernels print ``8 GT/s``). Kept
    as the kernel prints it; ``Unknown`` when the link is down."""
    value = text.strip()
    if not value:
        raise ValueError("empty link speed")
    return value


def ethtool_unread(result: CommandResult) -> Unread:
    """Why a failed ethtool run gave no answer.

    - ``Operation not supported`` (EOPNOTSUPP): the driver lacks the operation. Netlink
      requests print ``netlink error: Operation not supported`` and exit 1 (as ethtool
      6.1 does); the ioctl path prints ``Cannot get device ring settings: Operation not
      supported`` with a per-command exit code (76 for rings, 82 for coalescing).
    - ``No data available``, exit 75: ``ethtool IF`` found no setting the driver reports
      (netlink/settings.c), which is the same answer for a reader. ``ethtool --json IF``
      exits 75 the same way, printing the message only in the text form.
    - ``No such device``: the interface went away between the listing and the run.
    - ``Operation not permitted``: a request that needs CAP_NET_ADMIN.
    """
    key = " ".join(result.argv)
    said = " ".join((result.stderr.strip() + " " + result.stdout.strip()).split())
    detail = f"exit {result.returncode}: {said}" if said else f"exit {result.returncode}"
    no_data = result.returncode == 75 and "--json" in result.argv
    if "Operation not supported" in said or "No data available" in said or no_data:
        return Unread(Reason.UNSUPPORTED, key, f"the driver does not support it ({detail})")
    if "No such device" in said or "no device matches name" in said:
        return Unread(Reason.MISSING, key, f"the interface is gone ({detail})")
    if "Operation not permitted" in said:
        return Unread(Reason.DENIED, key, detail)
    return Unread(Reason.UNSUPPORTED, key, detail)


# ---------------------------------------------------------------------------------------
# Records of the probe


@dataclass(frozen=True)
class RxQueue:
    """``queues/rx-N``: RPS steering (networking/scaling.rst)."""

    index: int
    rps_cpus: frozenset[int] | Unread
    rps_flow_cnt: int | Unread
    source: str


@dataclass(frozen=True)
class TxQueue:
    """``queues/tx-N``: XPS by CPU (``xps_cpus``) and by receive queue (``xps_rxqs``, a
    mask of rx queue numbers, not CPUs)."""

    index: int
    xps_cpus: frozenset[int] | Unread
    xps_rxqs: frozenset[int] | Unread
    source: str


@dataclass(frozen=True)
class PciFunction:
    """The PCI function behind a NIC. ``numa_node`` -1 means the firmware gave no
    proximity for the device (drivers/pci/pci-sysfs.c prints dev_to_node as is): kept as
    -1, never read as node 0. The PCIe link files exist only for PCI Express devices."""

    address: str
    numa_node: int | Unread
    local_cpus: frozenset[int] | Unread
    current_link_speed: str | Unread
    current_link_width: int | Unread
    max_link_speed: str | Unread
    max_link_width: int | Unread
    msi_irqs: tuple[int, ...] | Unread
    msi_modes: frozenset[str] | Unread  # 'msi', 'msix': what each msi_irqs/N file says
    source: str

    @property
    def numa_note(self) -> str:
        if self.numa_node == -1:
            return "numa_node -1: the firmware did not say which node this device is on"
        return ""


@dataclass(frozen=True)
class Ethtool:
    """ethtool's answers for one interface, each parsed or why not."""

    settings: LinkSettings | Unread
    driver: DriverInfo | Unread
    channels: Channels | Unread
    rings: Rings | Unread
    coalesce: Coalesce | Unread
    features: Features | Unread
    pause: Pause | Unread
    timestamping: Timestamping | Unread
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Nic:
    """One entry of /sys/class/net. ``physical``: it has a ``device`` (a bus device behind
    it) rather than being a software interface (veth, bridge, bond, tun). For a virtual
    interface ``device``, ``driver`` and ``pci`` are None: there is nothing to read.

    ``speed_mbps`` -1 is SPEED_UNKNOWN (the driver cannot tell); sysfs answers EINVAL
    for speed, duplex and carrier while the interface is down, which reads as
    ``unsupported``."""

    name: str
    physical: bool | Unread
    operstate: str | Unread
    carrier: bool | Unread
    speed_mbps: int | Unread
    duplex: str | Unread
    mtu: int | Unread
    device: str | Unread | None  # basename of the device link: a PCI address, virtio0, ...
    driver: str | Unread | None
    pci: PciFunction | Unread | None
    rx_queues: tuple[RxQueue, ...] | Unread
    tx_queues: tuple[TxQueue, ...] | Unread
    ethtool: Ethtool
    source: str

    @property
    def pci_address(self) -> str | Unread | None:
        return self.pci.address if isinstance(self.pci, PciFunction) else self.pci

    @property
    def numa_node(self) -> int | Unread | None:
        return self.pci.numa_node if isinstance(self.pci, PciFunction) else self.pci

    @property
    def rps_cpus(self) -> frozenset[int] | Unread:
        """CPUs any receive queue steers packets to by RPS (empty: RPS off)."""
        return _union(self.rx_queues, "rps_cpus")

    @property
    def xps_cpus(self) -> frozenset[int] | Unread:
        return _union(self.tx_queues, "xps_cpus")

    def _repr_html_(self) -> str:
        rows: list[list[object]] = [[f"rx-{q.index}", q.rps_cpus, q.rps_flow_cnt, "", ""]
                                    for q in (self.rx_queues if isinstance(self.rx_queues, tuple) else ())]
        rows += [[f"tx-{q.index}", "", "", q.xps_cpus, q.xps_rxqs]
                 for q in (self.tx_queues if isinstance(self.tx_queues, tuple) else ())]
        pci = self.pci
        note = (f"{self.name}: {'physical' if self.physical is True else 'virtual' if self.physical is False else self.physical}, "
                f"{self.operstate}, driver {self.driver}, device {self.device}")
        if isinstance(pci, PciFunction):
            note += (f"; PCI {pci.address}, NUMA node {pci.numa_node}, local CPUs {_cpus(pci.local_cpus)}, "
                     f"PCIe {pci.current_link_speed} x{pci.current_link_width} "
                     f"(max {pci.max_link_speed} x{pci.max_link_width}), MSI IRQs {_irqs(pci.msi_irqs)}")
            if pci.numa_note:
                note += f"; {pci.numa_note}"
        return html_table(f"Queues of {self.name}", ["queue", "rps_cpus", "rps_flow_cnt", "xps_cpus",
                                                      "xps_rxqs (rx queues)"], rows, note)


@dataclass(frozen=True)
class NetCoreSysctls:
    """The net.core sysctls that shape receive processing (admin-guide/sysctl/net.rst).
    ``rps_default_mask`` (the RPS mask new devices start with) exists on newer (6.x)
    kernels only."""

    rps_sock_flow_entries: int | Unread
    busy_read: int | Unread
    busy_poll: int | Unread
    netdev_budget: int | Unread
    netdev_budget_usecs: int | Unread
    dev_weight: int | Unread
    rps_default_mask: frozenset[int] | Unread
    sources: tuple[str, ...] = (*(sysctl_path(n) for n in NET_CORE_SYSCTLS.values()), RPS_DEFAULT_MASK)

    def by_name(self) -> dict[str, int | Unread]:
        return {name: getattr(self, field) for field, name in NET_CORE_SYSCTLS.items()}


@dataclass(frozen=True)
class Nics:
    """Every interface in /sys/class/net but ``lo``, and the net.core sysctls."""

    nics: tuple[Nic, ...] | Unread
    sysctls: NetCoreSysctls
    sources: tuple[str, ...]

    def nic(self, name: str) -> Nic:
        for n in self.nics if isinstance(self.nics, tuple) else ():
            if n.name == name:
                return n
        raise KeyError(f"no interface {name!r} on this host")

    def nodes(self) -> dict[str, int | Unread | None] | Unread:
        """Interface -> NUMA node of its PCI function (-1: firmware did not say; None: a
        virtual interface; Unread: could not be read)."""
        if isinstance(self.nics, Unread):
            return self.nics
        return {n.name: n.numa_node for n in self.nics}

    @property
    def physical(self) -> tuple[Nic, ...]:
        return tuple(n for n in self.nics if n.physical is True) if isinstance(self.nics, tuple) else ()

    def _repr_html_(self) -> str:
        rows = []
        for n in self.nics if isinstance(self.nics, tuple) else ():
            et = n.ethtool
            ch = et.channels
            rings = et.rings
            co = et.coalesce
            ts = et.timestamping
            rows.append([
                n.name,
                "physical" if n.physical is True else "virtual" if n.physical is False else n.physical,
                n.operstate, n.speed_mbps, n.mtu, n.driver, n.pci_address, n.numa_node,
                _count_of(n.rx_queues), _count_of(n.tx_queues), n.rps_cpus,
                ch if isinstance(ch, Unread) else _dash(ch.combined),
                rings if isinstance(rings, Unread) else f"{_dash(rings.rx)}/{_dash(rings.tx)}",
                co if isinstance(co, Unread) else f"{_dash(co.rx_usecs)} (adaptive {_dash(co.adaptive_rx)})",
                ts if isinstance(ts, Unread) else _dash(ts.hardware_clock),
            ])
        note = "; ".join(f"{k} = {v}" for k, v in self.sysctls.by_name().items())
        note += f"; rps_default_mask = {_cpus(self.sysctls.rps_default_mask)}"
        if isinstance(self.nics, Unread):
            note = f"{self.nics}; {note}"
        numa = [n.name for n in self.nics if isinstance(n.pci, PciFunction) and n.pci.numa_node == -1] \
            if isinstance(self.nics, tuple) else []
        if numa:
            note += f"; NUMA node -1 (firmware did not say): {', '.join(numa)}"
        return html_table("Network interfaces",
                           ["interface", "kind", "state", "speed Mb/s", "mtu", "driver", "PCI", "node",
                            "rx queues", "tx queues", "RPS CPUs", "combined channels", "rings rx/tx",
                            "rx-usecs", "PHC"], rows, note)


def _dash(value: object) -> object:
    return "n/a" if value is None else value


def _cpus(value: frozenset[int] | Unread) -> str:
    return str(value) if isinstance(value, Unread) else (format_cpulist(value) or "(none)")


def _irqs(value: tuple[int, ...] | Unread) -> str:
    return str(value) if isinstance(value, Unread) else (format_cpulist(value) or "(none)")


def _count_of(value: tuple | Unread) -> int | Unread:
    return value if isinstance(value, Unread) else len(value)


def _union(queues: tuple | Unread, field: str) -> frozenset[int] | Unread:
    if isinstance(queues, Unread):
        return queues
    cpus: frozenset[int] = frozenset()
    for q in queues:
        value = getattr(q, field)
        if isinstance(value, Unread):
            return value
        cpus |= value
    return cpus


# ---------------------------------------------------------------------------------------
# Reading


class _Sources:
    """Paths read, with queue numbers folded to ``*`` so a 64-queue NIC names each once."""

    def __init__(self) -> None:
        self._seen: dict[str, None] = {}

    def note(self, path: str) -> str:
        self._seen.setdefault(_NUMBERED.sub(lambda m: f"/{m.group(1)}-*", path), None)
        return path

    def all(self) -> tuple[str, ...]:
        return tuple(self._seen)


def _parse_bit(text: str) -> bool:
    value = text.strip()
    if value not in ("0", "1"):
        raise ValueError(f"expected 0 or 1, got {value!r}")
    return value == "1"


def _parse_word(text: str) -> str:
    value = text.strip()
    if not value:
        raise ValueError("empty value")
    return value


def _queue_unread(value: object, path: str, single_queue: bool) -> object:
    """net/core/net-sysfs.c: xps_cpus answers ENOENT on a device that is not multiqueue,
    though the file is listed; say so rather than 'missing'."""
    if single_queue and isinstance(value, Unread) and value.reason is Reason.MISSING:
        return Unread(Reason.UNSUPPORTED, path,
                      "single-queue device: the kernel has no XPS map for it (net-sysfs.c answers ENOENT)")
    return value


def read_queues(host: Host, net_dir: str, src: _Sources | None = None
                ) -> tuple[tuple[RxQueue, ...] | Unread, tuple[TxQueue, ...] | Unread]:
    """The rx-N and tx-N folders of ``net_dir/queues`` with their steering masks."""
    src = src or _Sources()
    qdir = src.note(f"{net_dir}/queues")
    names = host.listdir(qdir)
    if isinstance(names, Unread):
        return names, names
    rx_ids = sorted(int(m.group(2)) for n in names if (m := _QUEUE_NAME.match(n)) and m.group(1) == "rx")
    tx_ids = sorted(int(m.group(2)) for n in names if (m := _QUEUE_NAME.match(n)) and m.group(1) == "tx")
    rx = tuple(RxQueue(i, host.read_value(src.note(f"{qdir}/rx-{i}/rps_cpus"), parse_cpumask),
                       host.read_value(src.note(f"{qdir}/rx-{i}/rps_flow_cnt"), parse_int), f"{qdir}/rx-{i}")
               for i in rx_ids)
    single = len(tx_ids) == 1
    tx = []
    for i in tx_ids:
        base = f"{qdir}/tx-{i}"
        xps = host.read_value(src.note(f"{base}/xps_cpus"), parse_cpumask)
        tx.append(TxQueue(i, _queue_unread(xps, f"{base}/xps_cpus", single),
                          host.read_value(src.note(f"{base}/xps_rxqs"), parse_cpumask), base))
    return rx, tuple(tx)


def read_pci_function(host: Host, pci_dir: str, address: str, src: _Sources | None = None) -> PciFunction:
    """A PCI function's locality, PCIe link and MSI vectors, read under ``pci_dir``."""
    src = src or _Sources()

    def value(name: str, parse):
        return host.read_value(src.note(f"{pci_dir}/{name}"), parse)

    def pcie(name: str, parse):
        got = value(name, parse)
        if isinstance(got, Unread) and got.reason is Reason.MISSING:
            # drivers/pci/pci-sysfs.c shows the link attributes only for PCI Express.
            return Unread(Reason.MISSING, f"{pci_dir}/{name}",
                          "absent: the kernel shows PCIe link files only for PCI Express devices")
        return got

    msi_dir = src.note(f"{pci_dir}/msi_irqs")
    names = host.listdir(msi_dir)
    irqs: tuple[int, ...] | Unread
    modes: frozenset[str] | Unread
    if isinstance(names, Unread):
        if names.reason is Reason.MISSING:
            names = Unread(Reason.MISSING, msi_dir, "no MSI or MSI-X vectors (legacy INTx, or none enabled)")
        irqs = modes = names
    else:
        numbers = sorted(int(n) for n in names if n.isdigit())
        irqs = tuple(numbers)
        # Each msi_irqs/N file says 'msi' or 'msix'; reading them also keeps the folder's
        # entries in a snapshot, which holds only files that were read.
        found: set[str] = set()
        modes = frozenset()
        for n in numbers:
            mode = host.read_value(f"{msi_dir}/{n}", _parse_word)
            if isinstance(mode, Unread):
                modes = mode
                break
            found.add(mode)
        else:
            modes = frozenset(found)
    return PciFunction(
        address=address,
        numa_node=value("numa_node", parse_int),
        local_cpus=value("local_cpulist", parse_cpulist),
        current_link_speed=pcie("current_link_speed", parse_pcie_speed),
        current_link_width=pcie("current_link_width", parse_int),
        max_link_speed=pcie("max_link_speed", parse_pcie_speed),
        max_link_width=pcie("max_link_width", parse_int),
        msi_irqs=irqs,
        msi_modes=modes,
        source=pci_dir,
    )


def _run_ethtool(host: Host, option: str, name: str, parse) -> tuple[object, str]:
    argv = ["ethtool", option, name] if option else ["ethtool", name]
    key = " ".join(argv)
    if name.startswith("-"):
        return Unread(Reason.UNSUPPORTED, key, "ethtool would read an interface name starting with '-' as an option"), key
    result = host.run(argv)
    if isinstance(result, Unread):
        return result, key
    if not result.ok:
        return ethtool_unread(result), key
    try:
        return parse(result.stdout), key
    except ValueError as exc:
        return Unread(Reason.MALFORMED, key, f"{key}: {exc}"), key


def _json_refused(result: CommandResult) -> bool:
    """ethtool would not print this subcommand as JSON: one from before the subcommand's
    JSON form (``bad command line argument(s)``; since 5.14 with ``JSON output not
    available for this subcommand``), or one without netlink (``parameter '--json' can be
    used only with netlink``)."""
    said = result.stderr + result.stdout
    return not result.ok and ("bad command line argument" in said or "can be used only with netlink" in said)


class EthtoolForms:
    """Which form, JSON or text, each ethtool subcommand is read in on one host: decided
    once per read (one :func:`read_nics`, or the views a caller reads with one instance)
    and kept for every interface of that read.

    ``ethtool --version`` is asked once: a subcommand is read as JSON when that release
    prints it right (:data:`ETHTOOL_JSON_SINCE`), as text otherwise, without a failed
    attempt. When the version is unknown (a snapshot that did not record it) the JSON
    command is tried once per subcommand, but never for ``-a``, whose JSON form before 6.2
    cannot be told from a right one. A JSON attempt that ethtool refuses, that a snapshot
    did not record, or that printed something the JSON parser cannot read falls back to the
    text command, and that subcommand stays text for the rest of the read."""

    def __init__(self) -> None:
        self._asked = False
        self._version: tuple[int, int] | None = None
        self._json: dict[str, bool] = {}

    def version(self, host: Host) -> tuple[int, int] | None:
        """The installed ethtool's release, or None when it cannot be told."""
        if not self._asked:
            self._asked = True
            result = host.run(["ethtool", "--version"])
            if isinstance(result, CommandResult) and result.ok:
                try:
                    self._version = parse_ethtool_version(result.stdout)
                except ValueError:
                    self._version = None
        return self._version

    def use_json(self, host: Host, field: str) -> bool:
        if field not in ETHTOOL_JSON_SINCE:
            return False
        if field not in self._json:
            version = self.version(host)
            if version is not None:
                self._json[field] = version >= ETHTOOL_JSON_SINCE[field]
            elif field == "pause":
                self._json[field] = False
            else:
                return True  # tried; the outcome is kept by settle()
        return self._json[field]

    def settle(self, field: str, json_form: bool) -> None:
        self._json[field] = json_form

    def commands(self) -> list[str]:
        """The commands this read ran, with ``*`` for the interface."""
        out = ["ethtool --version"] if self._asked else []
        for field, option in ETHTOOL_SUBCOMMANDS.items():
            argv = ["ethtool", *(["--json"] if self._json.get(field) else []), *([option] if option else []), "*"]
            out.append(" ".join(argv))
        return out


def _read_view(host: Host, field: str, name: str, forms: EthtoolForms) -> tuple[object, str]:
    """One ethtool view of one interface in the form ``forms`` picks: (record or Unread,
    the command that gave it)."""
    option = ETHTOOL_SUBCOMMANDS[field]
    if not name.startswith("-") and forms.use_json(host, field):
        argv = ["ethtool", "--json", *([option] if option else []), name]
        key = " ".join(argv)
        result = host.run(argv)
        if isinstance(result, CommandResult) and not _json_refused(result):
            if not result.ok:
                forms.settle(field, True)
                return ethtool_unread(result), key
            try:
                value = JSON_PARSERS[field](result.stdout)
            except ValueError:
                pass  # text under --json (ethtool before 5.14), or a form not known here
            else:
                forms.settle(field, True)
                return value, key
        forms.settle(field, False)
    return _run_ethtool(host, option, name, PARSERS[field])


def read_ethtool(host: Host, name: str, forms: EthtoolForms | None = None) -> Ethtool:
    """Every ethtool subcommand of :data:`ETHTOOL_SUBCOMMANDS` for one interface, each as
    JSON or text as ``forms`` decides (a new :class:`EthtoolForms` when None)."""
    forms = forms or EthtoolForms()
    values: dict[str, object] = {}
    keys: list[str] = []
    for field in ETHTOOL_SUBCOMMANDS:
        values[field], key = _read_view(host, field, name, forms)
        keys.append(key)
    return Ethtool(**values, sources=tuple(keys))  # type: ignore[arg-type]


def _gone(name: str, net_dir: str, why: Unread) -> Nic:
    ethtool = Ethtool(*(why,) * len(ETHTOOL_SUBCOMMANDS), sources=())  # type: ignore[arg-type]
    return Nic(name, why, why, why, why, why, why, why, why, why, why, why, ethtool, net_dir)


def _pci_dir(host: Host, net_dir: str, device: str, device_link: str) -> tuple[str, str] | None:
    """Where the NIC's PCI function lives, and its address: the device itself, or the PCI
    function that carries a virtio device (virtio_pci)."""
    if _PCI_ADDRESS.match(device):
        return f"{net_dir}/device", device
    if not _VIRTIO_DEVICE.match(device):
        return None
    link = host.readlink(net_dir)
    if not isinstance(link, str):
        return None
    # sysfs links are relative to the folder holding them, and /sys/class/net and
    # /sys/devices have no linked parents: resolving them by name is exact.
    real = posixpath.normpath(posixpath.join(posixpath.dirname(net_dir), link))
    parent = posixpath.dirname(posixpath.normpath(posixpath.join(real, device_link)))
    address = posixpath.basename(parent)
    return (parent, address) if _PCI_ADDRESS.match(address) else None


def read_nic(host: Host, name: str, net_dir: str | None = None, src: _Sources | None = None,
             ethtool: bool = True, forms: EthtoolForms | None = None) -> Nic:
    """One interface, read under ``net_dir`` (default ``/sys/class/net/NAME``); ``forms``
    carries the ethtool forms decided for the host across interfaces."""
    net_dir = net_dir or f"{NET_DIR}/{name}"
    src = src or _Sources()
    if not host.isdir(net_dir):
        return _gone(name, net_dir, Unread(Reason.MISSING, net_dir, "no such interface folder (gone, or not captured)"))

    def value(fname: str, parse):
        return host.read_value(src.note(f"{net_dir}/{fname}"), parse)

    device_link = host.readlink(src.note(f"{net_dir}/device"))
    physical: bool | Unread
    device: str | Unread | None
    driver: str | Unread | None
    pci: PciFunction | Unread | None
    if isinstance(device_link, str):
        physical, device = True, posixpath.basename(device_link.rstrip("/"))
    elif device_link.reason is Reason.MISSING:
        physical, device = False, None
    else:
        # A 'device' there that is not a link (a tree captured by another tool) still
        # says a device is behind the interface.
        physical = True if host.exists(f"{net_dir}/device") else device_link
        device = device_link
    if physical is not True:
        driver = pci = None if physical is False else physical
    else:
        link = host.readlink(src.note(f"{net_dir}/device/driver"))
        if isinstance(link, str):
            driver = posixpath.basename(link.rstrip("/"))
        elif link.reason is Reason.MISSING:
            driver = Unread(Reason.MISSING, link.source, "no driver bound to the device")
        else:
            driver = link
        where = _pci_dir(host, net_dir, device, device_link) if isinstance(device, str) \
            and isinstance(device_link, str) else None
        if where is not None:
            pci = read_pci_function(host, where[0], where[1], src)
        elif isinstance(device, str):
            pci = Unread(Reason.UNSUPPORTED, f"{net_dir}/device", f"device {device} is not a PCI function")
        else:
            pci = device
    rx, tx = read_queues(host, net_dir, src)
    if ethtool:
        et = read_ethtool(host, name, forms)
    else:
        skipped = Unread(Reason.UNSUPPORTED, f"ethtool {name}", "ethtool not run")
        et = Ethtool(*(skipped,) * len(ETHTOOL_SUBCOMMANDS), sources=())  # type: ignore[arg-type]
    return Nic(
        name=name,
        physical=physical,
        operstate=value("operstate", _parse_word),
        carrier=value("carrier", _parse_bit),
        speed_mbps=value("speed", parse_int),
        duplex=value("duplex", _parse_word),
        mtu=value("mtu", parse_int),
        device=device,
        driver=driver,
        pci=pci,
        rx_queues=rx,
        tx_queues=tx,
        ethtool=et,
        source=net_dir,
    )


@probe("net.sysctls")
def read_net_core_sysctls(host: Host) -> NetCoreSysctls:
    return NetCoreSysctls(
        **{field: host.read_value(sysctl_path(name), parse_int) for field, name in NET_CORE_SYSCTLS.items()},
        rps_default_mask=host.read_value(RPS_DEFAULT_MASK, parse_cpumask),
    )


def _read_all(host: Host, ethtool: bool) -> Nics:
    src = _Sources()
    forms = EthtoolForms()
    names = host.listdir(src.note(NET_DIR))
    nics: tuple[Nic, ...] | Unread
    if isinstance(names, Unread):
        nics = names
    else:
        nics = tuple(read_nic(host, n, src=src, ethtool=ethtool, forms=forms) for n in names if n not in SKIPPED)
    sysctls = read_net_core_sysctls(host)
    commands = forms.commands() if ethtool else []
    return Nics(nics=nics, sysctls=sysctls, sources=(*src.all(), *sysctls.sources, *commands))


@probe("net.nics")
def read_nics(host: Host) -> Nics:
    """Every interface with its sysfs files and every ethtool view."""
    return _read_all(host, ethtool=True)


@probe("net.interfaces")
def read_interfaces(host: Host) -> Nics:
    """Every interface from sysfs only (no ethtool is run: its ``ethtool`` views read
    ``unsupported``). What checks that need no ethtool read, so an audit stays fast."""
    return _read_all(host, ethtool=False)


def read_ethtool_view(host: Host, name: str, view: str, forms: EthtoolForms | None = None) -> object:
    """One ethtool view of one interface (a key of :data:`ETHTOOL_SUBCOMMANDS`:
    ``coalesce``, ``features``, ...): its record, or an Unread (``unsupported`` when the
    driver does not implement it). A caller reading several views or interfaces passes one
    :class:`EthtoolForms` to decide the JSON or text form once for all of them."""
    if view not in ETHTOOL_SUBCOMMANDS:
        raise KeyError(f"no ethtool view {view!r} (views: {', '.join(ETHTOOL_SUBCOMMANDS)})")
    value, _key = _read_view(host, view, name, forms or EthtoolForms())
    return value


def nics_summary(nics: Nics) -> str:
    """One line per interface, for a terminal."""
    if isinstance(nics.nics, Unread):
        return str(nics.nics)
    lines = []
    for n in nics.nics:
        kind = "physical" if n.physical is True else "virtual" if n.physical is False else str(n.physical)
        lines.append(f"{n.name}: {kind}, {n.operstate}, driver {n.driver}, PCI {n.pci_address}, "
                     f"node {n.numa_node}, {_count_of(n.rx_queues)} rx / {_count_of(n.tx_queues)} tx queues")
    return "\n".join(lines)


__all__ = [
    "BONDING_MASTERS", "ETHTOOL_JSON_SINCE", "ETHTOOL_SUBCOMMANDS", "JSON_PARSERS", "NET_CORE_SYSCTLS", "NET_DIR",
    "PARSERS", "RPS_DEFAULT_MASK", "SPEED_UNKNOWN", "Channels", "Coalesce", "DriverInfo", "Ethtool", "EthtoolForms",
    "Feature", "Features", "LinkSettings", "NetCoreSysctls", "Nic", "Nics", "Pause", "PciFunction", "Rings",
    "RxQueue", "Timestamping", "TxQueue", "ethtool_unread", "nics_summary", "parse_ethtool_channels",
    "parse_ethtool_channels_json", "parse_ethtool_coalesce", "parse_ethtool_coalesce_json", "parse_ethtool_driver",
    "parse_ethtool_features", "parse_ethtool_features_json", "parse_ethtool_pause", "parse_ethtool_pause_json",
    "parse_ethtool_rings", "parse_ethtool_rings_json", "parse_ethtool_settings", "parse_ethtool_settings_json",
    "parse_ethtool_timestamping", "parse_ethtool_version", "parse_pcie_speed", "read_ethtool", "read_ethtool_view",
    "read_interfaces", "read_net_core_sysctls", "read_nic", "read_nics", "read_pci_function", "read_queues",
]
