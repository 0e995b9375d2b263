"""The IRQ and NIC queue views: what the heatmap, the Sankey diagram and the queue tables
draw and say, on the fixture hosts, on written readings and on the live host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hftinfra.cpu import read_isolation, read_topology
from hftinfra.cpulist import format_cpulist, parse_cpulist, parse_cpumask
from hftinfra.host import Reason, Unread, open_host
from hftinfra.irq import NicQueue, QueueChain, QueueLink, parse_interrupts, read_interrupts, read_queue_chain
from hftinfra.measure.interrupts import InterruptRates, interrupt_rates, sample_interrupts
from hftinfra.net import read_interfaces

pytest.importorskip("plotly")

from hftinfra.viz.irq import (  # noqa: E402
    LINK_COLOURS,
    QUEUE_MAP_HEADER,
    RATES,
    SINCE_BOOT,
    interrupt_heatmap,
    interrupt_matrix,
    queue_chain_links,
    queue_chain_sankey,
    queue_map_rows,
    queue_map_table,
    rfs_state,
    steering_rows,
    steering_table,
)

HOSTS = Path(__file__).resolve().parent / "hosts"
TUNED_ISOLATED = frozenset(range(9, 16)) | frozenset(range(25, 32))


def host(name: str):
    return open_host(HOSTS / name)


def interrupts_text(cpus, rows) -> str:
    """/proc/interrupts as kernel/irq/proc.c prints it (prec 3, %10u counts)."""
    lines = [" " * 11 + "".join(f"CPU{c:<8d}" for c in cpus)]
    for key, counts, tail in rows:
        lines.append(f"{key:>3}: " + "".join(f"{n:10d} " for n in counts) + tail)
    return "\n".join(lines) + "\n"


def rates_between(first: str, second: str, window_s: float = 2.0) -> InterruptRates:
    rates, left_out = interrupt_rates(parse_interrupts(first), parse_interrupts(second), window_s)
    return InterruptRates(window_s, tuple(rates), tuple(left_out))


def fixture_counts(name: str) -> dict:
    """(row key, CPU) -> count, read from the fixture's /proc/interrupts without the library's
    parser: the header names the CPUs, each row starts with its counts."""
    lines = (HOSTS / name / "proc" / "interrupts").read_text().splitlines()
    cpus = [int(t[3:]) for t in lines[0].split()]
    out = {}
    for line in lines[1:]:
        key, rest = line.split(":", 1)
        words = rest.split()
        for cpu, word in zip(cpus, words, strict=False):
            if not word.isdigit():
                break
            out[(key.strip(), cpu)] = int(word)
    return out


# ---- the heatmap -----------------------------------------------------------------------------


def test_a_snapshot_draws_counts_since_boot_never_rates():
    snap = host("tuned-2s")
    rates = sample_interrupts(snap, 1.0)
    assert isinstance(rates, Unread)
    topo, iso = read_topology(snap), read_isolation(snap)
    data = interrupt_matrix(rates, read_interrupts(snap), topo, iso)
    assert data["mode"] == SINCE_BOOT and data["window_s"] is None
    # CPUs grouped by node: node 0 (0-7, 16-23) before node 1 (8-15, 24-31).
    assert data["cpus"] == [*range(8), *range(16, 24), *range(8, 16), *range(24, 32)]
    assert data["nodes"] == [0] * 16 + [1] * 16
    assert {c for c, r in zip(data["cpus"], data["roles"], strict=True) if r == "isolated"} == TUNED_ISOLATED
    counts = fixture_counts("tuned-2s")
    rows = {r["source"]: r for r in data["rows"]}
    for source in ("125", "132", "LOC", "TLB"):
        for cpu, value in zip(data["cpus"], rows[source]["values"], strict=True):
            assert value == counts[(source, cpu)], (source, cpu)
    assert rows["125"]["label"] == "125: ice-ens1f0-TxRx-0"
    # The tuned host keeps every device IRQ off its isolated CPUs since boot.
    assert all(not r["on_isolated"] for r in data["rows"] if r["kind"] == "irq")
    fig = interrupt_heatmap(rates, read_interrupts(snap), topo, iso)
    assert fig.layout.meta["mode"] == SINCE_BOOT
    assert "since boot" in fig.layout.title.text and "not rates" in fig.layout.title.text
    cells = fig.data[1]
    assert cells.colorbar.title.text == "since boot"
    assert "since boot" in cells.hovertemplate and "/s" not in cells.hovertemplate
    assert "per second" not in fig.layout.title.text
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "a snapshot holds one reading" in notes
    assert not any(t.name == "device IRQ on an isolated CPU" for t in fig.data)


def test_softirqs_join_the_rows_when_asked():
    snap = host("tuned-2s")
    lines = (HOSTS / "tuned-2s" / "proc" / "softirqs").read_text().splitlines()
    cpus = [int(t[3:]) for t in lines[0].split()]
    net_rx = next(line for line in lines if line.split(":")[0].strip() == "NET_RX")
    expected = dict(zip(cpus, map(int, net_rx.split(":")[1].split()), strict=True))
    data = interrupt_matrix(None, read_interrupts(snap), read_topology(snap), softirqs=True, top=100)
    row = next(r for r in data["rows"] if r["source"] == "NET_RX")
    assert row["kind"] == "softirq" and row["label"] == "softirq NET_RX"
    assert dict(zip(data["cpus"], row["values"], strict=True)) == expected
    assert [r["kind"] for r in data["rows"]] == sorted((r["kind"] for r in data["rows"]),
                                                       key=["irq", "arch", "softirq"].index)
    assert not any(r["kind"] == "softirq" for r in interrupt_matrix(None, read_interrupts(snap))["rows"])


def test_rates_from_two_readings_mark_device_irqs_on_isolated_cpus():
    first = interrupts_text([0, 1, 2, 3], [
        (40, [100, 0, 0, 0], " IR-PCI-MSI 1-edge      ens1f0-TxRx-0"),
        (41, [0, 0, 50, 0], " IR-PCI-MSI 2-edge      ens1f0-TxRx-1"),
        ("LOC", [1000, 1000, 1000, 1000], " Local timer interrupts"),
        ("ERR", [0], ""),
    ])
    second = interrupts_text([0, 1, 2, 3], [
        (40, [300, 0, 0, 0], " IR-PCI-MSI 1-edge      ens1f0-TxRx-0"),
        (41, [0, 0, 58, 0], " IR-PCI-MSI 2-edge      ens1f0-TxRx-1"),
        ("LOC", [1500, 1000, 1002, 1000], " Local timer interrupts"),
        ("ERR", [3], ""),
    ])
    rates = rates_between(first, second, 2.0)
    data = interrupt_matrix(rates, isolation=frozenset({2, 3}))
    assert data["mode"] == RATES and data["window_s"] == 2.0
    rows = {r["source"]: r for r in data["rows"]}
    assert rows["40"]["values"] == [100.0, 0.0, 0.0, 0.0]
    assert rows["41"]["values"] == [0.0, 0.0, 4.0, 0.0] and rows["41"]["on_isolated"] == 4.0
    assert rows["LOC"]["values"] == [250.0, 0.0, 1.0, 0.0]
    # A system-wide count has no CPU: said, not spread over the CPUs.
    assert "ERR" not in rows and any("ERR (one system-wide count): 1.5/s" in n for n in data["notes"])
    fig = interrupt_heatmap(rates, isolation=frozenset({2, 3}))
    assert fig.layout.meta["mode"] == RATES and "per second" in fig.layout.title.text
    assert "/s" in fig.data[1].hovertemplate
    marks = next(t for t in fig.data if t.name == "device IRQ on an isolated CPU")
    assert list(marks.x) == ["2"] and list(marks.y) == ["41: ens1f0-TxRx-1"]


def test_a_cpu_not_read_is_a_gap_not_zero():
    # IRQ 40 printed fewer counts than the header has CPUs: CPU 3 has no count.
    text = interrupts_text([0, 1, 2, 3], [("LOC", [5, 6, 7, 8], " Local timer interrupts")])
    text += " 40:          9          0          0\n"
    data = interrupt_matrix(None, parse_interrupts(text))
    row = next(r for r in data["rows"] if r["source"] == "40")
    assert row["values"] == [9, 0, 0, None]
    fig = interrupt_heatmap(None, parse_interrupts(text))
    z = fig.data[1].z
    assert z[list(fig.data[1].y).index("40")][3] is None
    assert fig.data[1].hoverongaps is False


def test_nothing_readable_says_why():
    why = Unread(Reason.DENIED, "/proc/interrupts", "permission denied")
    data = interrupt_matrix(why, why)
    assert data["rows"] == [] and data["unread"] is why
    fig = interrupt_heatmap(why, why)
    assert any("nothing to draw" in a.text and "denied" in a.text for a in fig.layout.annotations)


def big_readings(ncpu: int, nirq: int) -> InterruptRates:
    """``nirq`` device IRQs, each on one CPU at a rate growing with its number, plus LOC
    everywhere; IRQ 100 (the quietest) fires on an isolated CPU."""
    def text(scale: int) -> str:
        lines = [" " * 8 + "".join(f"CPU{c:<8d}" for c in range(ncpu))]
        for i in range(nirq):
            counts = ["0"] * ncpu
            counts[(i * 7) % (ncpu // 2)] = str(scale * (i + 1) * 10)
            if i == 0:
                counts = ["0"] * ncpu
                counts[ncpu - 1] = str(scale)
            lines.append(f"{100 + i}: " + " ".join(counts) + f" PCI-MSIX-0000:b1:00.0 {i}-edge mlx5_comp{i}@pci:0000:b1:00.0")
        lines.append("LOC: " + " ".join(str(scale * 250) for _ in range(ncpu)) + " Local timer interrupts")
        return "\n".join(lines) + "\n"

    return rates_between(text(1), text(2), 1.0)


def test_many_cpus_and_irqs_show_the_top_sources_and_count_the_rest():
    ncpu, nirq, top = 512, 300, 20
    rates = big_readings(ncpu, nirq)
    isolated = frozenset(range(ncpu // 2, ncpu))
    data = interrupt_matrix(rates, isolation=isolated, top=top)
    assert len(data["rows"]) == top and len(data["cpus"]) == ncpu
    sources = [r["source"] for r in data["rows"]]
    # The quietest IRQ is kept because it reaches an isolated CPU; LOC, the busiest, too.
    assert "100" in sources and "LOC" in sources
    drawn_irqs = [int(s) for s in sources if s.isdigit()]
    assert drawn_irqs == sorted(drawn_irqs)
    assert set(drawn_irqs) - {100} == set(range(100 + nirq - (top - 2), 100 + nirq))
    left = data["left_out"]
    assert left["count"] == nirq + 1 - top and left["silent"] == 0
    all_totals = {r.source: 0.0 for r in rates.rates}
    for r in rates.rates:
        all_totals[r.source] += r.per_second
    assert left["total"] == pytest.approx(sum(all_totals.values()) - sum(r["total"] for r in data["rows"]))
    fig = interrupt_heatmap(rates, isolation=isolated, top=top)
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert f"{nirq + 1 - top} more sources not drawn" in notes
    assert fig.layout.xaxis2.showticklabels is False  # 512 CPU labels would be unreadable
    size = len(fig.to_json())
    assert size < 250_000, f"{size} bytes of figure for {top} x {ncpu} cells"


# ---- the Sankey ---------------------------------------------------------------------------------


def test_sankey_on_the_tuned_host_is_all_housekeeping_and_node_local():
    snap = host("tuned-2s")
    chain = read_queue_chain(snap)
    data = queue_chain_links(chain, read_topology(snap))
    assert data["irqs"] == len(chain.links) == 18
    assert data["on_isolated"] == data["cross_node"] == data["unknown"] == 0
    labels = [n["label"] for n in data["nodes"]]
    by_label = {n["label"]: i for i, n in enumerate(data["nodes"])}
    assert "ens1f0 combined-0" in labels and "IRQ 125" in labels and "CPU 8" in labels and "node 1" in labels
    edges = {(labels[lk["source"]], labels[lk["target"]]) for lk in data["links"]}
    assert ("ens1f0 combined-0", "IRQ 125") in edges and ("IRQ 125", "CPU 8") in edges
    assert ("CPU 8", "node 1") in edges and ("CPU 0", "node 0") in edges
    assert {lk["kind"] for lk in data["links"]} == {"housekeeping"}
    assert {data["nodes"][by_label[c]]["column"] for c in ("CPU 8", "CPU 24")} == {2}
    fig = queue_chain_sankey(chain, read_topology(snap))
    assert fig.layout.meta["hftinfra"] == "irq-queue-chain"
    assert set(fig.data[0].link.color) == {LINK_COLOURS["housekeeping"]}
    assert "0 may fire on isolated CPUs" in fig.layout.title.text


def test_sankey_on_the_untuned_host_shows_queues_on_the_cpus_the_tuned_one_isolates():
    snap = host("untuned-2s")
    chain = read_queue_chain(snap, TUNED_ISOLATED)
    data = queue_chain_links(chain, read_topology(snap), interfaces=["ens1f0"])
    # Independent count: effective affinities of the ens1f0 vectors, read from the files.
    irq_dir = HOSTS / "untuned-2s" / "proc" / "irq"
    expected = 0
    for link in chain.of_interface("ens1f0"):
        cpus = parse_cpulist((irq_dir / str(link.irq) / "effective_affinity_list").read_text().strip())
        expected += bool(cpus & TUNED_ISOLATED)
    assert data["on_isolated"] == expected > 0
    assert data["irqs"] == len(chain.of_interface("ens1f0"))
    assert "isolated" in {lk["kind"] for lk in data["links"]}
    # IRQ -> CPU values add up to one per interrupt, whatever its CPU count.
    labels = [n["label"] for n in data["nodes"]]
    per_irq: dict[str, float] = {}
    for lk in data["links"]:
        if labels[lk["source"]].startswith("IRQ"):
            per_irq[labels[lk["source"]]] = per_irq.get(labels[lk["source"]], 0) + lk["value"]
    assert all(v == pytest.approx(1.0) for v in per_irq.values())


def test_sankey_shows_cross_node_links_and_unknown_cpus():
    denied = Unread(Reason.DENIED, "/proc/irq/52/effective_affinity_list", "permission denied")
    links = (
        QueueLink("ens1f0", NicQueue("ens1f0", "combined", 0), 50, ("ice-ens1f0-TxRx-0",), frozenset({1}),
                  "effective", 1, frozenset({1}), frozenset(), False),
        QueueLink("ens1f0", NicQueue("ens1f0", "combined", 1), 51, ("ice-ens1f0-TxRx-1",), frozenset({0}),
                  "effective", 1, frozenset({0}), frozenset(), False),
        QueueLink("ens1f0", NicQueue("ens1f0", "combined", 2), 52, ("ice-ens1f0-TxRx-2",), denied, "", 1, denied,
                  None, denied),
    )
    chain = QueueChain(links, ("ens1f0",), frozenset({3}), ())
    data = queue_chain_links(chain)
    assert data["cross_node"] == 1 and data["unknown"] == 1
    labels = [n["label"] for n in data["nodes"]]
    cross = [lk for lk in data["links"] if lk["kind"] == "cross-node"]
    assert [(labels[lk["source"]], labels[lk["target"]]) for lk in cross] == [("CPU 0", "node 0")]
    assert "every packet crosses nodes" in cross[0]["hover"]
    assert "CPU unknown" in labels and "node unknown" in labels
    fig = queue_chain_sankey(chain)
    legend = {t.name for t in fig.data if t.type == "scatter"}
    assert "CPU on another NUMA node than the NIC" in legend and "role unknown" in legend


def test_sankey_without_nic_interrupts_says_why():
    missing = Unread(Reason.MISSING, "/sys/class/net/eth0/device/msi_irqs", "no such file")
    fig = queue_chain_sankey(QueueChain((), (), None, (("eth0", missing),)))
    assert not [t for t in fig.data if t.type == "sankey"]
    assert "no NIC interrupts found" in fig.layout.annotations[0].text and "msi_irqs" in fig.layout.annotations[0].text


# ---- queue maps -----------------------------------------------------------------------------------


def test_queue_map_on_the_tuned_host_reads_like_sysfs():
    snap = host("tuned-2s")
    chain = read_queue_chain(snap)
    nics = read_interfaces(snap)
    rows = queue_map_rows(nics, chain)
    assert [(r[0], r[1]) for r in rows] == [("eno1", str(n)) for n in range(8)] + [("ens1f0", str(n)) for n in range(8)]
    queues = HOSTS / "tuned-2s" / "sys" / "class" / "net" / "ens1f0" / "queues"
    row = {(r[0], r[1]): r for r in rows}
    for n in range(8):
        xps = parse_cpumask((queues / f"tx-{n}" / "xps_cpus").read_text().strip())
        cell = row[("ens1f0", str(n))][5]
        assert cell.split(" (")[0] == format_cpulist(xps), (n, cell)
        assert ("isolated" in cell) == bool(xps & TUNED_ISOLATED)
        assert row[("ens1f0", str(n))][3] == "(none)"  # RPS off
    irq_dir = HOSTS / "tuned-2s" / "proc" / "irq"
    cpu = (irq_dir / "125" / "effective_affinity_list").read_text().strip()
    assert row[("ens1f0", "0")][2] == f"125 → CPU {cpu}"
    table = queue_map_table(nics, chain)
    assert table.header == QUEUE_MAP_HEADER and "rps_sock_flow_entries = 0" in table.note
    assert "isolated CPUs 9-15,25-31" in table.note


def test_steering_table_on_the_fixtures():
    tuned = read_interfaces(host("tuned-2s"))
    rows = {r[0]: r for r in steering_rows(tuned, TUNED_ISOLATED)}
    assert rows["ens1f0"][1:5] == ["ice", "1", "8", "8"]
    assert rows["ens1f0"][5] == "off" and rows["ens1f0"][6] == "off (rps_sock_flow_entries 0)"
    assert rows["ens1f0"][7].startswith("8 of 8 tx queues map CPUs")
    assert rows["eno1"][7] == "no CPU map (queue by flow hash)"
    untuned = {r[0]: r for r in steering_rows(read_interfaces(host("untuned-2s")))}
    assert untuned["ens1f0"][3] == "32"
    table = steering_table(tuned, TUNED_ISOLATED)
    assert "rps_sock_flow_entries = 0" in table.note


def test_rfs_needs_both_tables(tree):
    files = {
        "/sys/class/net/eth9/mtu": "1500",
        "/sys/class/net/eth9/operstate": "up",
        "/sys/class/net/eth9/queues/rx-0/rps_cpus": "6",
        "/sys/class/net/eth9/queues/rx-0/rps_flow_cnt": "2048",
        "/sys/class/net/eth9/queues/rx-1/rps_cpus": "0",
        "/sys/class/net/eth9/queues/rx-1/rps_flow_cnt": "0",
        "/sys/class/net/eth9/queues/tx-0/xps_cpus": "1",
        "/sys/class/net/eth9/queues/tx-0/xps_rxqs": "0",
        "/sys/class/net/eth9/queues/tx-1/xps_cpus": "2",
        "/sys/class/net/eth9/queues/tx-1/xps_rxqs": "0",
        "/proc/sys/net/core/rps_sock_flow_entries": "32768",
    }
    nics = read_interfaces(tree(files))
    nic = nics.nic("eth9")
    assert rfs_state(nic, nics.sysctls) == "on for 1 of 2 rx queues (rps_sock_flow_entries 32768)"
    rows = {r[1]: r for r in queue_map_rows(nics, None, frozenset({2}), interfaces=["eth9"])}
    assert rows["0"][3] == "1-2 (isolated: 2)" and rows["0"][4] == "2048" and rows["0"][2] == "(not read)"
    assert rows["1"][5] == "1" and rows["0"][5] == "0"  # tx-N xps_cpus: CPU 1, CPU 0, neither isolated
    steer = steering_rows(nics, frozenset({2}), interfaces=["eth9"])[0]
    assert steer[5] == "1-2 (isolated: 2)" and steer[2] == "virtual"
    off = read_interfaces(tree({**files, "/proc/sys/net/core/rps_sock_flow_entries": "0"}))
    assert rfs_state(off.nic("eth9"), off.sysctls).startswith("off (rps_sock_flow_entries 0)")


# ---- the live host --------------------------------------------------------------------------------


def test_live_heatmap_is_rates_over_the_window():
    live = open_host(None)
    rates = sample_interrupts(live, 0.2)
    if isinstance(rates, Unread):
        pytest.skip(f"/proc/interrupts unreadable here: {rates}")
    header = Path("/proc/interrupts").read_text().splitlines()[0].split()
    online = {int(t[3:]) for t in header}
    data = interrupt_matrix(rates, read_interrupts(live), read_topology(live), read_isolation(live))
    assert data["mode"] == RATES and 0.2 <= data["window_s"] < 5
    assert set(data["cpus"]) <= online
    for row in data["rows"]:
        assert row["total"] > 0 and all(v is None or v >= 0 for v in row["values"])
    fig = interrupt_heatmap(rates, read_interrupts(live), read_topology(live), read_isolation(live))
    assert "per second" in fig.layout.title.text
    json.loads(fig.to_json())


def test_live_sankey_and_queue_map():
    live = open_host(None)
    chain = read_queue_chain(live)
    data = queue_chain_links(chain, read_topology(live))
    assert data["irqs"] == len(chain.links)
    labels = [n["label"] for n in data["nodes"]]
    for link in chain.links:
        assert f"IRQ {link.irq}" in labels or f"IRQ {link.irq} (kernel-managed)" in labels
    queue_chain_sankey(chain, read_topology(live))
    nics = read_interfaces(live)
    rows = queue_map_rows(nics, chain)
    for nic in nics.physical:
        qdir = Path(f"/sys/class/net/{nic.name}/queues")
        if not qdir.is_dir():
            continue
        numbers = {int(p.name.split("-")[1]) for p in qdir.iterdir() if p.name.startswith(("rx-", "tx-"))}
        drawn = {int(r[1]) for r in rows if r[0] == nic.name}
        # Every sysfs queue has a row; a row beyond them comes from a vector the driver named.
        named = {lk.queue.number for lk in chain.of_interface(nic.name) if lk.queue is not None}
        assert numbers <= drawn and drawn - numbers <= named
