"""The network and interrupt picture of the fixture hosts, read through the probes: the
chain NIC queue -> IRQ -> CPU -> NUMA node on a tuned and an untuned two-socket server,
the PCI function and its link, ethtool's answers parsed, RPS/XPS, the net.core sysctls
and irqbalance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hftinfra.host import Reason, open_host
from hftinfra.irq import read_affinity, read_interrupts, read_irqbalance
from hftinfra.net import Channels, Pause, read_nics
from hftinfra.records import to_jsonable

HOSTS = Path(__file__).resolve().parent / "hosts"

NODE0 = frozenset(range(0, 8)) | frozenset(range(16, 24))
NODE1 = frozenset(range(8, 16)) | frozenset(range(24, 32))
ISOLATED = frozenset(range(9, 16)) | frozenset(range(25, 32))
HOUSEKEEPING = frozenset(range(32)) - ISOLATED
PCI_ICE = "0000:b1:00.0"
PCI_IGB = "0000:04:00.0"


def fixture(name: str):
    return open_host(HOSTS / name)


def queue_irqs(aff, iface: str):
    return [a for a in aff.of_interface(iface) if a.queues]


# ---- tuned-2s: the trading NIC on node 1, its queues pinned to node 1's housekeeping core ------


def test_tuned_trading_nic_chain():
    host = fixture("tuned-2s")
    nics, aff = read_nics(host), read_affinity(host)
    ens = nics.nic("ens1f0")
    assert (ens.physical, ens.driver, ens.pci_address, ens.numa_node) == (True, "ice", PCI_ICE, 1)
    assert (ens.operstate, ens.carrier, ens.speed_mbps, ens.duplex, ens.mtu) == ("up", True, 25000, "full", 1500)
    pci = ens.pci
    assert pci.local_cpus == NODE1 and pci.source == "/sys/class/net/ens1f0/device"
    # E810-XXVDA2: PCIe 4.0 x8, trained at its maximum
    assert (pci.current_link_speed, pci.current_link_width) == (pci.max_link_speed, pci.max_link_width) == (
        "16.0 GT/s PCIe", 8)
    # one misc vector plus one per queue pair ice sized at probe (32 CPUs), all MSI-X
    assert pci.msi_irqs == tuple(range(124, 157)) and pci.msi_modes == frozenset({"msix"})

    queues = queue_irqs(aff, "ens1f0")
    assert [(a.irq, a.queues[0].number) for a in queues] == [(125 + q, q) for q in range(8)]
    assert [a.effective_affinity for a in queues] == [{8}, {24}] * 4
    assert all(a.smp_affinity == a.effective_affinity for a in queues)  # pinned by hand, one CPU each
    for a in queues:
        assert a.effective_affinity <= HOUSEKEEPING & NODE1 and a.node == 1 and a.interfaces == ("ens1f0",)
    misc = aff.irq(124)
    assert misc.actions == ("ice-0000:b1:00.0:misc",) and misc.effective_affinity == {24} and misc.queues == ()
    # vectors ice allocated for the 24 channels ethtool -L took away: no action, parked on CPU 0
    idle = [a for a in aff.of_interface("ens1f0") if not a.actions]
    assert [a.irq for a in idle] == list(range(133, 157))
    assert all(a.smp_affinity == HOUSEKEEPING and a.effective_affinity == {0} for a in idle)

    t = read_interrupts(host).interrupts
    for a in queues:
        assert t.row(a.irq).cpus_hit == a.effective_affinity and t.row(a.irq).total > 1_000_000
    # no device interrupt lands on an isolated CPU
    assert not any(r.cpus_hit & ISOLATED for r in t.numbered)


def test_tuned_queues_rps_off_xps_on_the_pinned_cpus():
    ens = read_nics(fixture("tuned-2s")).nic("ens1f0")
    assert [q.index for q in ens.rx_queues] == list(range(8)) == [q.index for q in ens.tx_queues]
    assert all(q.rps_cpus == frozenset() and q.rps_flow_cnt == 0 for q in ens.rx_queues)
    assert ens.rps_cpus == frozenset()  # RSS in the NIC, no RPS
    # XPS: each queue's pinned CPU, and each isolated CPU of node 1 on a queue of its own.
    iso = sorted(ISOLATED)
    assert [q.xps_cpus for q in ens.tx_queues] == [{(8, 24)[q % 2], *iso[q::8]} for q in range(8)]
    assert ens.xps_cpus == {8, 24} | ISOLATED
    assert all(q.xps_rxqs == frozenset() for q in ens.tx_queues)


def test_tuned_ethtool_values():
    et = read_nics(fixture("tuned-2s")).nic("ens1f0").ethtool
    s = et.settings
    assert (s.speed_mbps, s.duplex, s.autoneg, s.port, s.link_detected) == (25000, "full", False, "FIBRE", True)
    assert s.supported_ports == ("FIBRE",) and s.supported_link_modes[0] == "25000baseCR/Full"
    assert len(s.supported_link_modes) == 6 and s.advertised_link_modes == (
        "25000baseCR/Full", "25000baseSR/Full", "25000baseLR/Full")
    assert s.field("Current message level") == "0x00000007 (7) drv probe link"
    d = et.driver
    assert (d.driver, d.version, d.firmware_version, d.expansion_rom_version, d.bus_info) == (
        "ice", "5.14.0-362.24.1.el9_3.x86_64", "4.40 0x8001c967 1.3534.0", None, PCI_ICE)
    assert et.channels == Channels(32, 32, 1, 32, 0, 0, 1, 8)
    r = et.rings
    assert (r.max_rx, r.max_tx, r.rx, r.tx, r.rx_mini, r.tx_push, r.tcp_data_split) == (
        8160, 8160, 2048, 2048, None, False, None)
    c = et.coalesce
    assert (c.adaptive_rx, c.adaptive_tx, c.rx_usecs, c.tx_usecs, c.rx_frames, c.tx_frames_irq) == (
        False, False, 0, 16, None, 256)
    assert c.param("rx-usecs-high") == 0 and (c.cqe_mode_rx, c.cqe_mode_tx) == (None, None)
    f = et.features
    assert f.enabled("generic-receive-offload") is False and f.get("generic-receive-offload").fixed is False
    assert f.enabled("large-receive-offload") is False and f.get("large-receive-offload").fixed is True
    assert f.enabled("receive-hashing") is True and f.enabled("ntuple-filters") is True
    assert f.get("rx-gro-hw").fixed is True and f.get("tx-checksum-ipv4").group == "tx-checksumming"
    assert et.pause == Pause(False, False, False, None, None)
    ts = et.timestamping
    assert (ts.phc_index, ts.hardware_clock, ts.hardware) == (0, 0, True)
    assert ts.tx_types == ("off", "on") and ts.rx_filters == ("none", "all")
    assert et.sources == tuple(f"ethtool {o} ens1f0".replace("  ", " ")
                               for o in ("", "-i", "-l", "-g", "-c", "-k", "-a", "-T"))


def test_tuned_management_nic_stays_on_node0_housekeeping():
    host = fixture("tuned-2s")
    eno = read_nics(host).nic("eno1")
    assert (eno.driver, eno.pci_address, eno.numa_node, eno.speed_mbps) == ("igb", PCI_IGB, 0, 1000)
    assert (eno.pci.current_link_speed, eno.pci.current_link_width) == ("5.0 GT/s PCIe", 4)
    assert eno.pci.msi_irqs == tuple(range(157, 166)) and eno.pci.local_cpus == NODE0
    et = eno.ethtool
    assert et.channels == Channels(None, None, 1, 8, None, None, 1, 8)
    assert (et.coalesce.adaptive_rx, et.coalesce.rx_usecs) == (None, 0)  # ITR off, as on every tuned port
    assert et.pause == Pause(True, True, True, True, True) and et.timestamping.hardware_clock == 1
    assert (et.settings.autoneg, et.settings.port, et.settings.field("MDI-X")) == (True, "Twisted Pair",
                                                                                   "off (auto)")
    assert et.settings.supported_link_modes == ("10baseT/Half", "10baseT/Full", "100baseT/Half", "100baseT/Full",
                                                "1000baseT/Full")
    aff = read_affinity(host)
    assert aff.irq(157).actions == ("eno1",) and aff.irq(158).queues == (("eno1", "combined", 0),)
    # left at irqaffinity=: the whole housekeeping set allowed, node 0's CPUs in effect
    for a in aff.of_interface("eno1"):
        assert a.smp_affinity == HOUSEKEEPING and a.effective_affinity <= NODE0 & HOUSEKEEPING and a.node == 0


def test_tuned_sysctls_softirqs_and_irqbalance():
    host = fixture("tuned-2s")
    assert read_nics(host).sysctls.by_name() == {
        "net.core.rps_sock_flow_entries": 0, "net.core.busy_read": 50, "net.core.busy_poll": 50,
        "net.core.netdev_budget": 300, "net.core.netdev_budget_usecs": 2000, "net.core.dev_weight": 64}
    assert read_nics(host).sysctls.rps_default_mask.reason is Reason.MISSING  # a 5.14 kernel has none
    soft = read_interrupts(host).softirqs
    assert soft.cpus == tuple(range(32))
    net_rx = soft.row("NET_RX")
    assert all(net_rx.counts[c] == 0 for c in ISOLATED)
    assert min(net_rx.counts[8], net_rx.counts[24]) > 10 * max(net_rx.counts[c] for c in HOUSEKEEPING - {8, 24})
    assert max(soft.row("TIMER").counts[c] for c in ISOLATED) < 1000 < min(
        soft.row("TIMER").counts[c] for c in HOUSEKEEPING)
    ib = read_irqbalance(host)
    assert ib.pids == () and ib.running is False and ib.banned_in_effect is None
    assert ib.config_path == "/etc/sysconfig/irqbalance" and ib.banned_configured == ISOLATED


# ---- untuned-2s: distro defaults, irqbalance spreading the queues over node 1 ------------------


def test_untuned_queue_irqs_land_on_the_would_be_isolated_cpus():
    host = fixture("untuned-2s")
    aff = read_affinity(host)
    queues = queue_irqs(aff, "ens1f0")
    assert [a.irq for a in queues] == list(range(125, 157)) and len(aff.of_interface("ens1f0")) == 33
    on = frozenset().union(*(a.effective_affinity for a in queues))
    assert on == NODE1 and on & ISOLATED == ISOLATED
    for a in queues:
        assert a.effective_affinity < a.smp_affinity <= NODE1 and len(a.smp_affinity) == 2  # a core's threads
    t = read_interrupts(host).interrupts
    assert all(t.row(a.irq).total > 1_000_000 for a in queues)
    # counts everywhere: irqbalance moved every vector at least once
    assert all(len(t.row(a.irq).cpus_hit) >= 2 for a in queues)
    assert min(t.row("LOC").counts.values()) > 1_000_000 and t.row("NMI").cpus_hit == frozenset(range(32))
    assert read_interrupts(host).softirqs.row("NET_RX").cpus_hit == frozenset(range(32))


def test_untuned_nic_defaults():
    host = fixture("untuned-2s")
    nics = read_nics(host)
    ens = nics.nic("ens1f0")
    assert ens.numa_node == 1 and len(ens.rx_queues) == 32 == len(ens.tx_queues)
    et = ens.ethtool
    assert et.channels == Channels(32, 32, 1, 32, 0, 0, 1, 32)
    assert (et.coalesce.adaptive_rx, et.coalesce.adaptive_tx, et.coalesce.rx_usecs, et.coalesce.tx_usecs) == (
        True, True, 50, 50)
    assert et.features.enabled("generic-receive-offload") is True
    assert et.pause == Pause(False, True, True, None, None)
    # ice's own XPS map: each tx queue on cpumask_local_spread(q, node 1)
    order = sorted(NODE1) + sorted(NODE0)
    assert [q.xps_cpus for q in ens.tx_queues] == [{order[q]} for q in range(32)]
    assert ens.rps_cpus == frozenset()
    s = nics.sysctls
    assert (s.busy_read, s.busy_poll, s.netdev_budget) == (0, 0, 300)
    ib = read_irqbalance(host)
    assert ib.pids == (1187,) and ib.oneshot is False and ib.banned_irqs == ()
    assert ib.banned_in_effect == frozenset() and ib.banned_configured == frozenset()
    # irqbalance's eno1 vectors: node 0 cores
    for a in queue_irqs(read_affinity(host), "eno1"):
        assert a.effective_affinity <= a.smp_affinity <= NODE0


# ---- every host: the pieces agree with each other, and render -----------------------------------


@pytest.mark.parametrize("name", ["tuned-2s", "untuned-2s", "cpu0-offline", "unreadable"])
def test_records_render_and_serialise(name):
    host = fixture(name)
    for record in (read_interrupts(host), read_affinity(host), read_nics(host), read_irqbalance(host)):
        json.dumps(to_jsonable(record))
        assert "<table>" in record._repr_html_()


@pytest.mark.parametrize("name", ["tuned-2s", "untuned-2s"])
def test_every_vector_has_its_irq_folder_and_names_its_nic(name):
    host = fixture(name)
    nics, aff = read_nics(host), read_affinity(host)
    listed = {a.irq for a in aff.irqs}
    t = read_interrupts(host).interrupts
    assert {r.key for r in t.numbered} <= listed  # a row without /proc/irq/N would be impossible
    for nic in nics.physical:
        assert set(nic.pci.msi_irqs) <= listed
        assert nic.ethtool.driver.bus_info == nic.pci_address and nic.ethtool.driver.driver == nic.driver
        assert nic.ethtool.channels.combined == len(nic.rx_queues) == len(nic.tx_queues)
        assert nic.ethtool.settings.speed_mbps == nic.speed_mbps
        named = {q.number for a in aff.of_interface(nic.name) for q in a.queues}
        assert named == set(range(nic.ethtool.channels.combined))
        assert all(a.node == nic.numa_node for a in aff.of_interface(nic.name))


def test_small_hosts_have_no_nic_but_the_interrupt_tables():
    for name in ("cpu0-offline", "unreadable"):
        host = fixture(name)
        assert read_nics(host).nics == ()
        aff = read_affinity(host)
        assert aff.unresolved_interfaces == {} and all(a.interfaces == () for a in aff.irqs)
        assert read_interrupts(host).softirqs.row("NET_RX").total >= 0
        assert read_irqbalance(host).pids == ()
