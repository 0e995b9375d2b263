"""Network probes: ethtool's text parsed by its own layout, a tree-built host with recorded
ethtool outputs, the real captured corpus, and the live host against its own sysfs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra.cpulist import parse_cpulist, parse_cpumask
from hftinfra.host import CommandResult, Reason, Unread, open_host
from hftinfra.net import (
    PARSERS,
    Channels,
    Feature,
    Pause,
    PciFunction,
    ethtool_unread,
    parse_ethtool_channels,
    parse_ethtool_coalesce,
    parse_ethtool_driver,
    parse_ethtool_features,
    parse_ethtool_pause,
    parse_ethtool_rings,
    parse_ethtool_settings,
    parse_ethtool_timestamping,
    read_nic,
    read_nics,
    read_pci_function,
    read_queues,
)
from hftinfra.records import to_jsonable

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

# ---- samples in ethtool's exact layout ---------------------------------------------------
# ethtool 6.1 on a virtio_net NIC (netlink/channels.c: "RX:\t\t", "Combined:\t").
CHANNELS_VIRTIO = ("Channel parameters for eth0:\nPre-set maximums:\nRX:\t\tn/a\nTX:\t\tn/a\nOther:\t\tn/a\n"
                   "Combined:\t1\nCurrent hardware settings:\nRX:\t\tn/a\nTX:\t\tn/a\nOther:\t\tn/a\n"
                   "Combined:\t1\n")
# An ice NIC: one 'Other' channel for the misc vector, 63 combined at most, 8 in use.
CHANNELS_ICE = ("Channel parameters for ens1f0:\nPre-set maximums:\nRX:\t\t63\nTX:\t\t63\nOther:\t\t1\n"
                "Combined:\t63\nCurrent hardware settings:\nRX:\t\t0\nTX:\t\t0\nOther:\t\t1\n"
                "Combined:\t8\n")
# ethtool 6.1 on virtio_net (netlink/rings.c: two tabs after RX:, the newer extra fields).
RINGS_VIRTIO = ("Ring parameters for eth0:\nPre-set maximums:\nRX:\t\t256\nRX Mini:\tn/a\nRX Jumbo:\tn/a\n"
                "TX:\t\t256\nCurrent hardware settings:\nRX:\t\t256\nRX Mini:\tn/a\nRX Jumbo:\tn/a\n"
                "TX:\t\t256\nRX Buf Len:\t\tn/a\nCQE Size:\t\tn/a\nTX Push:\toff\nTCP data split:\tn/a\n")
# A later ethtool: three tabs, TX push buff len in both halves, RX Push.
RINGS_ICE = ("Ring parameters for ens1f0:\nPre-set maximums:\nRX:\t\t\t8160\nRX Mini:\t\tn/a\n"
             "RX Jumbo:\t\tn/a\nTX:\t\t\t8160\nTX push buff len:\tn/a\nCurrent hardware settings:\n"
             "RX:\t\t\t2048\nRX Mini:\t\tn/a\nRX Jumbo:\t\tn/a\nTX:\t\t\t2048\nRX Buf Len:\t\tn/a\n"
             "CQE Size:\t\tn/a\nTX Push:\t\toff\nRX Push:\t\toff\nTX push buff len:\tn/a\n"
             "TCP data split:\t\toff\n")
# netlink/coalesce.c, with the tx-aggr lines of 6.x (the last has no colon in ethtool).
COALESCE_ICE = ("Coalesce parameters for ens1f0:\nAdaptive RX: off  TX: off\nstats-block-usecs:\tn/a\n"
                "sample-interval:\tn/a\npkt-rate-low:\t\tn/a\npkt-rate-high:\t\tn/a\n\n"
                "rx-usecs:\t0\nrx-frames:\tn/a\nrx-usecs-irq:\tn/a\nrx-frames-irq:\tn/a\n\n"
                "tx-usecs:\t0\ntx-frames:\tn/a\ntx-usecs-irq:\tn/a\ntx-frames-irq:\t256\n\n"
                "rx-usecs-low:\tn/a\nrx-frame-low:\tn/a\ntx-usecs-low:\tn/a\ntx-frame-low:\tn/a\n\n"
                "rx-usecs-high:\t0\nrx-frame-high:\tn/a\ntx-usecs-high:\tn/a\ntx-frame-high:\tn/a\n\n"
                "CQE mode RX: n/a  TX: n/a\n\ntx-aggr-max-bytes:\tn/a\ntx-aggr-max-frames:\tn/a\n"
                "tx-aggr-time-usecs\tn/a\n\n")
# ethtool 6.1 on virtio_net, as printed here.
COALESCE_VIRTIO = ("Coalesce parameters for eth0:\nAdaptive RX: off  TX: n/a\nstats-block-usecs: n/a\n"
                   "sample-interval: n/a\npkt-rate-low: n/a\npkt-rate-high: n/a\n\nrx-usecs: 0\nrx-frames: 1\n"
                   "rx-usecs-irq: n/a\nrx-frames-irq: n/a\n\ntx-usecs: 0\ntx-frames: 1\ntx-usecs-irq: n/a\n"
                   "tx-frames-irq: n/a\n\nrx-usecs-low: n/a\nrx-frame-low: n/a\ntx-usecs-low: n/a\n"
                   "tx-frame-low: n/a\n\nrx-usecs-high: n/a\nrx-frame-high: n/a\ntx-usecs-high: n/a\n"
                   "tx-frame-high: n/a\n\nCQE mode RX: n/a  TX: n/a\n\n")
FEATURES = ("Features for ens1f0:\nrx-checksumming: on\ntx-checksumming: on\n\ttx-checksum-ipv4: on\n"
            "\ttx-checksum-ip-generic: off [fixed]\n\ttx-checksum-ipv6: on\n\ttx-checksum-fcoe-crc: off [fixed]\n"
            "\ttx-checksum-sctp: on\nscatter-gather: on\n\ttx-scatter-gather: on\n"
            "\ttx-scatter-gather-fraglist: off [fixed]\ngeneric-receive-offload: on\n"
            "large-receive-offload: off [fixed]\nntuple-filters: off\nreceive-hashing: on\n"
            "rx-gro-hw: off [requested on]\nhw-tc-offload: off\n")
PAUSE_AUTONEG = ("Pause parameters for ens1f0:\nAutonegotiate:\ton\nRX:\t\ton\nTX:\t\ton\n"
                 "RX negotiated: on\nTX negotiated: off\n\n")
PAUSE_STATS = ("Pause parameters for ens1f0:\nAutonegotiate:\toff\nRX:\t\toff\nTX:\t\toff\n"
               "Statistics:\n  tx_pause_frames: 12\n  rx_pause_frames: 7\n\n")
TS_SOFTWARE = ("Time stamping parameters for eth0:\nCapabilities:\n\tsoftware-transmit\n\tsoftware-receive\n"
               "\tsoftware-system-clock\nPTP Hardware Clock: none\nHardware Transmit Timestamp Modes: none\n"
               "Hardware Receive Filter Modes: none\n")
TS_HARDWARE = ("Time stamping parameters for ens1f0:\nCapabilities:\n\thardware-transmit\n\tsoftware-transmit\n"
               "\thardware-receive\n\tsoftware-receive\n\tsoftware-system-clock\n\thardware-raw-clock\n"
               "PTP Hardware Clock: 2\nHardware Transmit Timestamp Modes:\n\toff\n\ton\n"
               "Hardware Receive Filter Modes:\n\tnone\n\tall\n")
# ethtool 6.x with a kernel that reports a timestamp provider (netlink/tsinfo.c).
TS_PROVIDER = ("Time stamping parameters for ens1f0:\nCapabilities:\n\thardware-transmit\n\thardware-receive\n"
               "\thardware-raw-clock\nHardware timestamp provider index: 1\n"
               "Hardware timestamp provider qualifier: Precise (IEEE 1588 quality)\n"
               "Hardware Transmit Timestamp Modes:\n\toff\n\ton\nHardware Receive Filter Modes:\n\tnone\n\tall\n")
# The ioctl path of older ethtool (dump_tsinfo in ethtool.c) names each constant.
TS_IOCTL = ("Time stamping parameters for eth2:\nCapabilities:\n"
            "\thardware-transmit     (SOF_TIMESTAMPING_TX_HARDWARE)\n"
            "\thardware-receive      (SOF_TIMESTAMPING_RX_HARDWARE)\n"
            "\thardware-raw-clock    (SOF_TIMESTAMPING_RAW_HARDWARE)\nPTP Hardware Clock: 0\n"
            "Hardware Transmit Timestamp Modes:\n\toff                   (HWTSTAMP_TX_OFF)\n"
            "\ton                    (HWTSTAMP_TX_ON)\nHardware Receive Filter Modes:\n"
            "\tnone                  (HWTSTAMP_FILTER_NONE)\n\tptpv2-event           (HWTSTAMP_FILTER_PTP_V2_EVENT)\n")
DRIVER_ICE = ("driver: ice\nversion: 6.1.0-18-amd64\nfirmware-version: 4.40 0x8001c967 1.3534.0\n"
              "expansion-rom-version: \nbus-info: 0000:3b:00.0\nsupports-statistics: yes\nsupports-test: yes\n"
              "supports-eeprom-access: yes\nsupports-register-dump: yes\nsupports-priv-flags: yes\n")
SETTINGS_ICE = ("Settings for ens1f0:\n\tSupported ports: [ FIBRE ]\n"
                "\tSupported link modes:   25000baseCR/Full 25000baseSR/Full\n"
                "\t                        10000baseSR/Full\n\tSupported pause frame use: Symmetric\n"
                "\tSupports auto-negotiation: Yes\n\tSupported FEC modes: None\t RS\t BASER\n"
                "\tAdvertised link modes:  25000baseCR/Full 25000baseSR/Full\n\tAdvertised pause frame use: No\n"
                "\tAdvertised auto-negotiation: Yes\n\tAdvertised FEC modes: None\t RS\t BASER\n"
                "\tSpeed: 25000Mb/s\n\tDuplex: Full\n\tAuto-negotiation: off\n\tPort: FIBRE\n\tPHYAD: 0\n"
                "\tTransceiver: internal\n\tSupports Wake-on: g\n\tWake-on: d\n"
                "\tCurrent message level: 0x00000007 (7)\n\t\t\t       drv probe link\n\tLink detected: yes\n")
SETTINGS_VIRTIO = ("Settings for eth0:\n\tSupported ports: [  ]\n\tSupported link modes:   Not reported\n"
                   "\tSupported pause frame use: No\n\tSupports auto-negotiation: No\n"
                   "\tSupported FEC modes: Not reported\n\tAdvertised link modes:  Not reported\n"
                   "\tAdvertised pause frame use: No\n\tAdvertised auto-negotiation: No\n"
                   "\tAdvertised FEC modes: Not reported\n\tSpeed: Unknown!\n\tDuplex: Unknown! (255)\n"
                   "\tAuto-negotiation: off\n\tPort: Other\n\tPHYAD: 0\n\tTransceiver: internal\n"
                   "\tLink detected: yes\n")


# ---- parsers on literal samples ----------------------------------------------------------


def test_channels():
    assert parse_ethtool_channels(CHANNELS_VIRTIO) == Channels(None, None, None, 1, None, None, None, 1)
    assert parse_ethtool_channels(CHANNELS_ICE) == Channels(63, 63, 1, 63, 0, 0, 1, 8)


def test_rings_old_and_new_layouts():
    r = parse_ethtool_rings(RINGS_VIRTIO)
    assert (r.max_rx, r.max_tx, r.rx, r.tx, r.max_rx_mini, r.rx_jumbo) == (256, 256, 256, 256, None, None)
    assert (r.rx_buf_len, r.cqe_size, r.tx_push, r.rx_push, r.tcp_data_split, r.other) == (
        None, None, False, None, None, ())
    r = parse_ethtool_rings(RINGS_ICE)
    assert (r.max_rx, r.max_tx, r.rx, r.tx) == (8160, 8160, 2048, 2048)
    assert (r.tx_push, r.rx_push, r.tcp_data_split) == (False, False, "off")
    assert r.other == (("max TX push buff len", "n/a"), ("TX push buff len", "n/a"))


def test_coalesce():
    c = parse_ethtool_coalesce(COALESCE_ICE)
    assert (c.adaptive_rx, c.adaptive_tx, c.rx_usecs, c.rx_frames, c.tx_usecs, c.tx_frames_irq) == (
        False, False, 0, None, 0, 256)
    assert (c.cqe_mode_rx, c.cqe_mode_tx) == (None, None)
    assert c.param("rx-usecs-high") == 0 and c.param("tx-aggr-time-usecs") is None
    assert [k for k, _ in c.params][-3:] == ["tx-aggr-max-bytes", "tx-aggr-max-frames", "tx-aggr-time-usecs"]
    v = parse_ethtool_coalesce(COALESCE_VIRTIO)
    assert (v.adaptive_rx, v.adaptive_tx, v.rx_usecs, v.rx_frames, v.tx_usecs, v.tx_frames) == (
        False, None, 0, 1, 0, 1)
    assert len(v.params) == 20


def test_features_groups_fixed_and_requested():
    f = parse_ethtool_features(FEATURES)
    assert f.get("rx-checksumming") == Feature("rx-checksumming", True, False, None, None)
    assert f.get("tx-checksum-ip-generic") == Feature("tx-checksum-ip-generic", False, True, None, "tx-checksumming")
    assert f.get("tx-scatter-gather").group == "scatter-gather"
    assert f.get("large-receive-offload").fixed is True
    assert f.get("rx-gro-hw") == Feature("rx-gro-hw", False, False, True, None)
    assert f.enabled("ntuple-filters") is False and f.enabled("receive-hashing") is True
    assert f.get("no-such-feature") is None and len(f.features) == 16


def test_pause():
    assert parse_ethtool_pause(PAUSE_AUTONEG) == Pause(True, True, True, True, False)
    assert parse_ethtool_pause(PAUSE_STATS) == Pause(False, False, False, None, None)


def test_timestamping_every_layout():
    s = parse_ethtool_timestamping(TS_SOFTWARE)
    assert s.capabilities == ("software-transmit", "software-receive", "software-system-clock")
    assert (s.phc_index, s.provider_index, s.tx_types, s.rx_filters, s.hardware_clock, s.hardware) == (
        None, None, (), (), None, False)
    h = parse_ethtool_timestamping(TS_HARDWARE)
    assert h.phc_index == 2 and h.hardware_clock == 2 and h.hardware is True
    assert h.tx_types == ("off", "on") and h.rx_filters == ("none", "all")
    p = parse_ethtool_timestamping(TS_PROVIDER)
    assert (p.phc_index, p.provider_index, p.hardware_clock) == (None, 1, 1)
    assert p.provider_qualifier == "Precise (IEEE 1588 quality)"
    i = parse_ethtool_timestamping(TS_IOCTL)
    assert i.capabilities == ("hardware-transmit", "hardware-receive", "hardware-raw-clock")
    assert (i.phc_index, i.tx_types, i.rx_filters) == (0, ("off", "on"), ("none", "ptpv2-event"))


def test_driver_and_settings():
    d = parse_ethtool_driver(DRIVER_ICE)
    assert (d.driver, d.version, d.firmware_version, d.expansion_rom_version, d.bus_info) == (
        "ice", "6.1.0-18-amd64", "4.40 0x8001c967 1.3534.0", None, "0000:3b:00.0")
    assert d.supports_priv_flags is True
    s = parse_ethtool_settings(SETTINGS_ICE)
    assert (s.speed_mbps, s.duplex, s.autoneg, s.port, s.link_detected) == (25000, "full", False, "FIBRE", True)
    assert s.supported_ports == ("FIBRE",)
    assert s.supported_link_modes == ("25000baseCR/Full", "25000baseSR/Full", "10000baseSR/Full")
    assert s.advertised_link_modes == ("25000baseCR/Full", "25000baseSR/Full")
    assert s.field("Current message level") == "0x00000007 (7) drv probe link"
    assert s.field("Wake-on") == "d"
    v = parse_ethtool_settings(SETTINGS_VIRTIO)
    assert (v.speed_mbps, v.duplex, v.autoneg, v.port, v.supported_ports, v.supported_link_modes) == (
        None, None, False, "Other", (), ())


@pytest.mark.parametrize("parse, text", [
    (parse_ethtool_channels, "Channel parameters for eth0:\nPre-set maximums:\nRX:\t\tmany\n"),
    (parse_ethtool_channels, "netlink error: Operation not supported\n"),
    (parse_ethtool_rings, "Ring parameters for eth0:\n"),
    (parse_ethtool_features, "Features for eth0:\nrx-checksumming: maybe\n"),
    (parse_ethtool_pause, "Pause parameters for eth0:\nAutonegotiate:\tsometimes\nRX:\t\ton\n"),
    (parse_ethtool_timestamping, "Time stamping parameters for eth0:\nPTP Hardware Clock: two\n"),
    (parse_ethtool_settings, "Settings for eth0:\n\tSpeed: fast\n"),
    (parse_ethtool_driver, "ERROR: 1"),
    (parse_ethtool_coalesce, "Coalesce parameters for eth0:\nAdaptive RX: perhaps  TX: off\n"),
])
def test_bad_text_is_a_value_error(parse, text):
    with pytest.raises(ValueError):
        parse(text)


def test_unsupported_and_other_failures():
    def run(code, err, out="", argv=("ethtool", "-g", "veth0")):
        return ethtool_unread(CommandResult(argv, code, out, err))

    # netlink (ethtool 6.1 here) exits 1, the ioctl path 76 for rings, 82 for coalescing.
    for u in (run(1, "netlink error: Operation not supported\n"),
              run(76, "Cannot get device ring settings: Operation not supported\n"),
              run(95, "Operation not supported\n")):
        assert u.reason is Reason.UNSUPPORTED and u.source == "ethtool -g veth0" and "not support" in u.detail
    assert run(75, "", "No data available\n", ("ethtool", "ifb0")).reason is Reason.UNSUPPORTED
    assert run(1, "netlink error: no device matches name (offset 24)\nnetlink error: No such device\n"
               ).reason is Reason.MISSING
    assert run(1, "netlink error: Operation not permitted\n").reason is Reason.DENIED


# ---- property tests ----------------------------------------------------------------------

_ETHTOOLISH = st.sampled_from([
    "Channel parameters for x:", "Ring parameters for x:", "Coalesce parameters for x:", "Features for x:",
    "Pause parameters for x:", "Time stamping parameters for x:", "Settings for x:", "Pre-set maximums:",
    "Current hardware settings:", "RX:\t\t4", "TX:\t\tn/a", "Combined:\t-3", "TX Push:\ton", "Adaptive RX: on  TX:",
    "rx-usecs: 3", "rx-usecs:", "\tfoo: on [fixed]", "foo: off [requested on]", "Capabilities:", "\thardware-transmit",
    "\t", "PTP Hardware Clock: none", "Hardware timestamp provider index: 4294967295", "Speed: 10Mb/s",
    "Duplex: Half", "driver: x", "supports-test: maybe", "Statistics:", ":", "::", "\t:", "", "tx-aggr-time-usecs\t1",
    "Link detected: perhaps", "Autonegotiate:\t", "\t  continued modes",
])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(_ETHTOOLISH, max_size=12).map("\n".join)))
def test_parsers_raise_only_value_error(text):
    for parse in PARSERS.values():
        try:
            parse(text)
        except ValueError:
            pass


def _format_channels(c: Channels, name: str = "eth0") -> str:
    """netlink/channels.c's layout: show_u32 prints the value or n/a."""
    def v(x):
        return "n/a" if x is None else str(x)
    labels = ("RX:\t\t", "TX:\t\t", "Other:\t\t", "Combined:\t")
    return (f"Channel parameters for {name}:\nPre-set maximums:\n"
            + "".join(f"{lab}{v(x)}\n" for lab, x in zip(labels, (c.max_rx, c.max_tx, c.max_other, c.max_combined), strict=True))
            + "Current hardware settings:\n"
            + "".join(f"{lab}{v(x)}\n" for lab, x in zip(labels, (c.rx, c.tx, c.other, c.combined), strict=True)))


_COUNT = st.one_of(st.none(), st.integers(0, 2**32 - 1))


@given(st.builds(Channels, *[_COUNT] * 8))
def test_channels_round_trip(c):
    assert parse_ethtool_channels(_format_channels(c)) == c


_NAME = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


@given(st.lists(st.tuples(_NAME, st.booleans(), st.sampled_from(["", " [fixed]", " [requested on]",
                                                                  " [requested off]"]), st.booleans()),
                min_size=1, max_size=10))
def test_features_round_trip(rows):
    text = "Features for eth0:\n" + "".join(
        f"{chr(9) if i and sub else ''}{name}: {'on' if on else 'off'}{note}\n"
        for i, (name, on, note, sub) in enumerate(rows))
    parsed = parse_ethtool_features(text).features
    assert [(f.name, f.enabled, f.fixed) for f in parsed] == [(n, on, note == " [fixed]") for n, on, note, _ in rows]
    assert [f.requested for f in parsed] == [
        {" [requested on]": True, " [requested off]": False}.get(note) for _, _, note, _ in rows]


@given(st.lists(st.from_regex(r"[0-9A-Za-z]+baseT?[A-Z0-9]*/(Full|Half)", fullmatch=True), min_size=1, max_size=9))
def test_wrapped_link_modes_round_trip(modes):
    # ethtool wraps the list, continuing under the first mode (netlink/settings.c).
    lines = [" ".join(modes[i:i + 2]) for i in range(0, len(modes), 2)]
    text = ("Settings for eth0:\n\tSupported link modes:   " + lines[0] + "\n"
            + "".join(f"\t                        {line}\n" for line in lines[1:]) + "\tSpeed: 100Mb/s\n")
    s = parse_ethtool_settings(text)
    assert s.supported_link_modes == tuple(modes) and s.speed_mbps == 100


# ---- a tree-built host: one physical NIC with queues and a PCI device, one veth -----------

PCI = "/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0"


def ethtool_records(name: str, outputs: dict[str, str | tuple[int, str]]) -> dict:
    recs = {}
    for opt, out in outputs.items():
        key = f"ethtool {opt} {name}" if opt else f"ethtool {name}"
        if isinstance(out, tuple):
            recs[key] = {"returncode": out[0], "stdout": "", "stderr": out[1]}
        else:
            recs[key] = {"returncode": 0, "stdout": out, "stderr": ""}
    return recs


def two_nic_tree(numa: str = "1") -> dict:
    files: dict[str, str] = {
        "@/sys/class/net/ens1f0": "../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/net/ens1f0",
        "@/sys/class/net/veth0": "../../devices/virtual/net/veth0",
        "@/sys/class/net/lo": "../../devices/virtual/net/lo",
        "/sys/class/net/bonding_masters": "",
        "/sys/devices/virtual/net/lo/mtu": "65536",
        f"@{PCI}/net/ens1f0/device": "../../../0000:3b:00.0",
        f"@{PCI}/driver": "../../../../bus/pci/drivers/ice",
        f"{PCI}/numa_node": numa,
        f"{PCI}/local_cpulist": "16-31,48-63",
        f"{PCI}/current_link_speed": "8.0 GT/s PCIe",
        f"{PCI}/current_link_width": "8",
        f"{PCI}/max_link_speed": "16.0 GT/s PCIe",
        f"{PCI}/max_link_width": "16",
        "/proc/sys/net/core/rps_sock_flow_entries": "32768",
        "/proc/sys/net/core/busy_read": "50",
        "/proc/sys/net/core/busy_poll": "50",
        "/proc/sys/net/core/netdev_budget": "300",
        "/proc/sys/net/core/netdev_budget_usecs": "8000",
        "/proc/sys/net/core/dev_weight": "64",
    }
    for irq, mode in ((120, "msix"), (121, "msix"), (122, "msix"), (123, "msix"), (124, "msix")):
        files[f"{PCI}/msi_irqs/{irq}"] = mode
    nd = f"{PCI}/net/ens1f0"
    for f, v in (("operstate", "up"), ("carrier", "1"), ("speed", "25000"), ("duplex", "full"), ("mtu", "9000")):
        files[f"{nd}/{f}"] = v
    for q in range(4):
        files[f"{nd}/queues/rx-{q}/rps_cpus"] = "00000000,00000000" if q else "00000000,00030000"
        files[f"{nd}/queues/rx-{q}/rps_flow_cnt"] = "4096" if q == 0 else "0"
        files[f"{nd}/queues/tx-{q}/xps_cpus"] = f"00000000,{1 << (16 + q):08x}"
        files[f"{nd}/queues/tx-{q}/xps_rxqs"] = f"{1 << q:x}"
    vd = "/sys/devices/virtual/net/veth0"
    for f, v in (("operstate", "up"), ("carrier", "1"), ("speed", "10000"), ("duplex", "full"), ("mtu", "1500")):
        files[f"{vd}/{f}"] = v
    files[f"{vd}/queues/rx-0/rps_cpus"] = "0"
    files[f"{vd}/queues/rx-0/rps_flow_cnt"] = "0"
    files[f"{vd}/queues/tx-0/xps_rxqs"] = "0"  # xps_cpus: the kernel refuses it (single queue)
    commands = ethtool_records("ens1f0", {"": SETTINGS_ICE, "-i": DRIVER_ICE, "-l": CHANNELS_ICE, "-g": RINGS_ICE,
                                          "-c": COALESCE_ICE, "-k": FEATURES, "-a": PAUSE_AUTONEG,
                                          "-T": TS_HARDWARE})
    veth_features = "Features for veth0:\nrx-checksumming: on\ngeneric-receive-offload: off\n"
    commands |= ethtool_records("veth0", {
        "": ("Settings for veth0:\n\tSpeed: 10000Mb/s\n\tDuplex: Full\n\tAuto-negotiation: off\n\tPort: Twisted Pair\n"
             "\tPHYAD: 0\n\tTransceiver: internal\n\tLink detected: yes\n"),
        "-i": DRIVER_ICE.replace("ice", "veth", 1).replace("0000:3b:00.0", ""),
        "-l": CHANNELS_VIRTIO.replace("eth0", "veth0"),
        "-g": (95, "Operation not supported\n"),
        "-c": (1, "netlink error: Operation not supported\n"),
        "-k": veth_features,
        "-a": (76, "Cannot get device pause settings: Operation not supported\n"),
    })  # -T was not recorded in this snapshot
    files["/hftinfra/commands.json"] = json.dumps(commands)
    return files


def test_two_nics_exact(tree):
    nics = read_nics(tree(two_nic_tree()))
    assert [n.name for n in nics.nics] == ["ens1f0", "veth0"]  # lo and bonding_masters left out
    p = nics.nic("ens1f0")
    assert (p.physical, p.operstate, p.carrier, p.speed_mbps, p.duplex, p.mtu) == (True, "up", True, 25000, "full", 9000)
    assert (p.device, p.driver, p.pci_address, p.numa_node) == ("0000:3b:00.0", "ice", "0000:3b:00.0", 1)
    assert p.pci == PciFunction("0000:3b:00.0", 1, parse_cpulist("16-31,48-63"), "8.0 GT/s PCIe", 8,
                                "16.0 GT/s PCIe", 16, (120, 121, 122, 123, 124), frozenset({"msix"}),
                                "/sys/class/net/ens1f0/device")
    assert [q.index for q in p.rx_queues] == [0, 1, 2, 3] and [q.index for q in p.tx_queues] == [0, 1, 2, 3]
    assert p.rx_queues[0].rps_cpus == {16, 17} and p.rx_queues[0].rps_flow_cnt == 4096
    assert p.rx_queues[1].rps_cpus == frozenset() and p.rps_cpus == {16, 17}
    assert [q.xps_cpus for q in p.tx_queues] == [{16}, {17}, {18}, {19}] and p.xps_cpus == {16, 17, 18, 19}
    assert [q.xps_rxqs for q in p.tx_queues] == [{0}, {1}, {2}, {3}]
    et = p.ethtool
    assert et.channels.combined == 8 and et.rings.rx == 2048 and et.coalesce.adaptive_rx is False
    assert et.timestamping.hardware_clock == 2 and et.pause.rx_negotiated is True
    assert et.driver.bus_info == p.pci_address and et.settings.speed_mbps == p.speed_mbps
    assert et.features.get("rx-gro-hw").requested is True
    assert et.sources == tuple(f"ethtool {o} ens1f0".replace("  ", " ") for o in ("", "-i", "-l", "-g", "-c", "-k",
                                                                                    "-a", "-T"))

    v = nics.nic("veth0")
    assert (v.physical, v.device, v.driver, v.pci, v.pci_address, v.numa_node) == (False, None, None, None, None, None)
    assert v.speed_mbps == 10000 and v.rx_queues[0].rps_cpus == frozenset()
    xps = v.tx_queues[0].xps_cpus
    assert xps.reason is Reason.UNSUPPORTED and "single-queue" in xps.detail
    assert v.tx_queues[0].xps_rxqs == frozenset()
    e = v.ethtool
    assert e.channels.combined == 1 and e.driver.driver == "veth" and e.driver.bus_info is None
    assert e.features.enabled("generic-receive-offload") is False
    for unsupported in (e.rings, e.coalesce, e.pause):
        assert unsupported.reason is Reason.UNSUPPORTED, unsupported
    assert e.rings.source == "ethtool -g veth0" and "exit 95" in e.rings.detail
    assert e.timestamping.reason is Reason.MISSING  # not recorded: nobody knows
    assert nics.physical == (p,)

    s = nics.sysctls
    assert s.by_name() == {"net.core.rps_sock_flow_entries": 32768, "net.core.busy_read": 50,
                           "net.core.busy_poll": 50, "net.core.netdev_budget": 300,
                           "net.core.netdev_budget_usecs": 8000, "net.core.dev_weight": 64}
    assert s.rps_default_mask.reason is Reason.MISSING  # a pre-6.x kernel has no such file


def test_known_numa_node_has_no_note(tree):
    assert read_nics(tree(two_nic_tree())).nic("ens1f0").pci.numa_note == ""


def test_numa_minus_one_is_kept_with_a_note(tree):
    nics = read_nics(tree(two_nic_tree(numa="-1")))
    pci = nics.nic("ens1f0").pci
    assert pci.numa_node == -1 and "firmware did not say" in pci.numa_note
    assert "NUMA node -1" in nics._repr_html_()


def test_records_render_and_are_jsonable(tree):
    files = two_nic_tree()
    files["/proc/sys/net/core/rps_default_mask"] = "00000000,0000ffff"
    nics = read_nics(tree(files))
    assert nics.sysctls.rps_default_mask == frozenset(range(16))
    data = json.loads(json.dumps(to_jsonable(nics)))
    ens = data["nics"][0]
    assert ens["pci"]["local_cpus"] == "16-31,48-63" and ens["rx_queues"][0]["rps_cpus"] == "16-17"
    assert data["nics"][1]["ethtool"]["rings"]["unknown"] == "unsupported"
    assert data["sysctls"]["rps_default_mask"] == "0-15"
    html = nics._repr_html_()
    assert "<table>" in html and "ens1f0" in html and "veth0" in html and "unknown (unsupported" in html
    qhtml = nics.nic("ens1f0")._repr_html_()
    assert "rx-3" in qhtml and "tx-0" in qhtml and "PCIe 8.0 GT/s PCIe x8" in qhtml
    with pytest.raises(AttributeError):
        nics.nic("veth0").mtu = 0  # type: ignore[misc]


def test_vanished_and_unreadable_nics(tree):
    files = two_nic_tree()
    # A link whose interface went away between the listing and the reads.
    files["@/sys/class/net/gone0"] = "../../devices/virtual/net/gone0"
    files["/hftinfra/unread.json"] = json.dumps({
        "/sys/class/net/ens1f0/queues/rx-2/rps_cpus": {"reason": "denied", "detail": ""},
        "/sys/class/net/ens1f0/device/numa_node": {"reason": "unsupported", "detail": "Input/output error"}})
    files[f"{PCI}/net/ens1f0/queues/rx-1/rps_flow_cnt"] = "lots"
    nics = read_nics(tree(files))
    gone = nics.nic("gone0")
    for value in (gone.physical, gone.operstate, gone.mtu, gone.rx_queues, gone.ethtool.channels, gone.pci):
        assert isinstance(value, Unread) and value.reason is Reason.MISSING
    p = nics.nic("ens1f0")
    assert p.rx_queues[2].rps_cpus.reason is Reason.DENIED and p.rps_cpus.reason is Reason.DENIED
    assert p.rx_queues[1].rps_flow_cnt.reason is Reason.MALFORMED
    assert p.numa_node.reason is Reason.UNSUPPORTED and p.pci.local_cpus == parse_cpulist("16-31,48-63")
    json.dumps(to_jsonable(nics))
    nics._repr_html_()


def test_no_sysfs_net_at_all(tree):
    nics = read_nics(tree({"/proc/cmdline": "ro"}))
    assert nics.nics.reason is Reason.MISSING and nics.sysctls.busy_poll.reason is Reason.MISSING
    with pytest.raises(KeyError):
        nics.nic("eth0")
    assert "unknown (missing" in nics._repr_html_()


def test_not_installed_ethtool_replays_unsupported(tree):
    files = two_nic_tree()
    files["/hftinfra/commands.json"] = json.dumps(
        {f"ethtool {o} veth0".replace("  ", " "): {"unavailable": "ethtool is not installed"}
         for o in ("", "-i", "-l", "-g", "-c", "-k", "-a", "-T")})
    e = read_nics(tree(files)).nic("veth0").ethtool
    assert e.features.reason is Reason.UNSUPPORTED and "not installed" in e.features.detail


# ---- the real captured corpus ------------------------------------------------------------


def corpus(name: str) -> Path:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{path} not present (no ../shared/corpus beside this clone)")
    return path


def test_corpus_ethtool_outputs_exact():
    base = corpus("node_exporter/ethtool")
    s = parse_ethtool_settings((base / "eth0/settings").read_text())
    assert (s.speed_mbps, s.duplex, s.autoneg, s.port, s.link_detected) == (1000, "full", True, "Twisted Pair", True)
    assert s.supported_ports == ("TP", "MII")
    assert s.supported_link_modes == ("10baseT/Half", "10baseT/Full", "100baseT/Half", "100baseT/Full",
                                      "1000baseT/Full", "10000baseT/Full")
    assert s.advertised_link_modes == ("10baseT/Half", "10baseT/Full", "100baseT/Half", "100baseT/Full",
                                       "1000baseT/Full")
    assert s.field("MDI-X") == "off (auto)" and s.field("PHYAD") == "1"
    assert s.field("Current message level") == "0x00000007 (7) drv probe link"
    assert s.field("netlink error") is None  # the refused request's message is not a setting
    d = parse_ethtool_driver((base / "eth0/driver").read_text())
    assert (d.driver, d.version, d.firmware_version, d.expansion_rom_version, d.bus_info) == (
        "e1000e", "5.11.0-22-generic", "0.5-4", None, "0000:00:1f.6")
    assert (d.supports_statistics, d.supports_test, d.supports_eeprom_access, d.supports_register_dump,
            d.supports_priv_flags) == (True, True, True, True, True)
    with pytest.raises(ValueError):  # 'ERROR: 1' is no driver information
        parse_ethtool_driver((base / "bond0/statistics").read_text())


def test_corpus_node_exporter_nics():
    host = open_host(corpus("node_exporter"))
    nics = read_nics(host)
    assert [n.name for n in nics.nics] == ["bond0", "dmz", "eth0", "int"]
    dmz = nics.nic("dmz")
    assert (dmz.physical, dmz.operstate, dmz.carrier, dmz.speed_mbps, dmz.duplex, dmz.mtu) == (
        False, "up", True, 1000, "full", 1500)
    assert dmz.rx_queues.reason is Reason.MISSING and dmz.ethtool.channels.reason is Reason.MISSING
    assert nics.nic("bond0").speed_mbps == -1  # SPEED_UNKNOWN, as the kernel printed it
    # In that tree eth0 is a file holding a link's target, not an interface folder.
    assert nics.nic("eth0").physical.reason is Reason.MISSING
    json.dumps(to_jsonable(nics))


def test_corpus_pci_function_and_queues_exact():
    host = open_host(corpus("node_exporter"))
    pci_dir = "/sys/devices/pci0000:40/0000:40:01.3/0000:45:00.0"
    pci = read_pci_function(host, pci_dir, "0000:45:00.0")
    assert (pci.numa_node, pci.local_cpus) == (0, parse_cpulist("0-63,128-191"))
    assert (pci.current_link_speed, pci.current_link_width, pci.max_link_speed, pci.max_link_width) == (
        "5.0 GT/s PCIe", 4, "5.0 GT/s PCIe", 4)
    assert pci.msi_irqs == tuple(range(147, 156)) and pci.msi_modes == frozenset({"msix"})
    rx, tx = read_queues(host, f"{pci_dir}/net/ens10f0")
    assert [q.index for q in rx] == list(range(8)) and [q.index for q in tx] == list(range(8))
    assert all(q.rps_cpus == frozenset() and q.rps_flow_cnt == 0 for q in rx)
    assert all(q.xps_cpus == frozenset() and q.xps_rxqs == frozenset() for q in tx)
    nic = read_nic(host, "ens10f0", f"{pci_dir}/net/ens10f0", ethtool=False)
    assert (nic.operstate, nic.speed_mbps, nic.mtu) == ("up", 1000, 1500)
    # that tree stores the 'device' link as a file holding its target: a device, unread
    assert nic.physical is True and nic.device.reason is Reason.UNSUPPORTED


def test_corpus_procfs_eth0():
    nics = read_nics(open_host(corpus("procfs")))
    eth0 = nics.nic("eth0")
    assert [n.name for n in nics.nics] == ["eth0"]
    assert (eth0.physical, eth0.operstate, eth0.carrier, eth0.speed_mbps, eth0.duplex, eth0.mtu) == (
        True, "up", True, 1000, "full", 1500)
    assert isinstance(eth0.pci, Unread) and isinstance(eth0.driver, Unread)


# ---- the live host, cross-checked with its own read of /sys/class/net ----------------------


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


@pytest.mark.live
def test_live_nics_match_sysfs():
    nics = read_nics(open_host(None))
    names = sorted(n for n in os.listdir("/sys/class/net") if n not in ("lo", "bonding_masters"))
    assert [n.name for n in nics.nics] == names
    for nic in nics.nics:
        base = f"/sys/class/net/{nic.name}"
        if not os.path.isdir(base):  # went away meanwhile
            continue
        assert nic.physical is os.path.exists(f"{base}/device"), nic.name
        for field, fname in (("operstate", "operstate"), ("mtu", "mtu"), ("speed_mbps", "speed"),
                             ("duplex", "duplex"), ("carrier", "carrier")):
            text, value = _read(f"{base}/{fname}"), getattr(nic, field)
            if text is None:  # EINVAL while down, or absent
                assert isinstance(value, Unread), (nic.name, field)
            elif field in ("mtu", "speed_mbps"):
                assert value == int(text), (nic.name, field)
            elif field == "carrier":
                assert value == (text == "1"), nic.name
            else:
                assert value == text, (nic.name, field)
        queues = sorted(os.listdir(f"{base}/queues")) if os.path.isdir(f"{base}/queues") else []
        got = [f"rx-{q.index}" for q in nic.rx_queues] + [f"tx-{q.index}" for q in nic.tx_queues]
        assert sorted(got) == sorted(q for q in queues if re.fullmatch(r"(rx|tx)-\d+", q)), nic.name
        for q in nic.rx_queues:
            mask = _read(f"{base}/queues/rx-{q.index}/rps_cpus")
            assert q.rps_cpus == (parse_cpumask(mask) if mask is not None else q.rps_cpus), nic.name
        if nic.physical:
            device = os.readlink(f"{base}/device")
            assert nic.device == os.path.basename(device)
            driver = f"{base}/device/driver"
            assert nic.driver == (os.path.basename(os.readlink(driver)) if os.path.islink(driver) else nic.driver)
            real = os.path.realpath(f"{base}/device")
            pci_dir = real if re.fullmatch(r"[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", os.path.basename(real)) \
                else os.path.dirname(real)
            if isinstance(nic.pci, PciFunction):
                assert os.path.realpath(nic.pci.source) == pci_dir
                assert nic.pci.numa_node == int(_read(f"{pci_dir}/numa_node"))  # -1 stays -1
                msi = f"{pci_dir}/msi_irqs"
                if os.path.isdir(msi):
                    assert nic.pci.msi_irqs == tuple(sorted(int(n) for n in os.listdir(msi)))
        else:
            assert (nic.device, nic.driver, nic.pci) == (None, None, None)
        et = nic.ethtool
        if not shutil.which("ethtool"):
            assert et.driver.reason is Reason.UNSUPPORTED and "not installed" in et.driver.detail
            continue
        out = subprocess.run(["ethtool", "-i", nic.name], capture_output=True, text=True,
                             env=dict(os.environ, LC_ALL="C"))
        if out.returncode != 0:
            assert isinstance(et.driver, Unread), nic.name
            continue
        drv = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
        assert et.driver.driver == drv["driver"], nic.name
        if isinstance(nic.pci, PciFunction) and re.fullmatch(r"[0-9a-f:.]+", drv.get("bus-info", "")):
            # ethtool's bus-info names the PCI function the library found from sysfs.
            assert nic.pci.address == drv["bus-info"], nic.name
        for field in ("channels", "rings", "coalesce", "features", "pause", "timestamping", "settings"):
            value = getattr(et, field)
            assert not (isinstance(value, Unread) and value.reason is Reason.MALFORMED), (nic.name, field, value)


@pytest.mark.live
def test_live_sysctls_match_proc():
    s = read_nics(open_host(None)).sysctls
    for name, value in s.by_name().items():
        text = _read("/proc/sys/" + name.replace(".", "/"))
        assert value == (int(text) if text is not None else value), name
        if text is None:
            assert isinstance(value, Unread)
    mask = _read("/proc/sys/net/core/rps_default_mask")
    if mask is None:
        assert s.rps_default_mask.reason is Reason.MISSING
    else:
        assert s.rps_default_mask == parse_cpumask(mask)


@pytest.mark.live
@pytest.mark.parametrize("kind", ["dir", "archive"])
def test_live_snapshot_round_trip(tmp_path, kind):
    from hftinfra import snapshot

    live = open_host(None)
    result = snapshot.capture(live, {"net.nics": read_nics})
    assert result.probe_errors == {}
    expected = to_jsonable(read_nics(live))
    target = tmp_path / ("snap.tar.gz" if kind == "archive" else "snap")
    snap = open_host(snapshot.write(result.captured, target))
    assert to_jsonable(read_nics(snap)) == expected
