"""IRQ probes: /proc/interrupts and /proc/softirqs parsers on samples in the kernel's exact
format, property tests, the fixture hosts, small trees (ownership, denied, damaged), the
real captured corpus trees and the live host."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra.cpulist import parse_cpulist, parse_cpumask
from hftinfra.host import Reason, Unread, open_host
from hftinfra.irq import (
    InterruptRow,
    Interrupts,
    NicQueue,
    nic_queue_of,
    parse_affinity_list,
    parse_debug_managed,
    parse_interrupts,
    parse_softirqs,
    read_affinity,
    read_interrupts,
)
from hftinfra.records import to_jsonable

HOSTS = Path(__file__).resolve().parent / "hosts"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


# ---- writing rows the way the kernel prints them ------------------------------------------
# kernel/irq/proc.c show_interrupts (6.6: "%*d: " then "%10u " per CPU; newer kernels, 6.18
# here, use seq_put_decimal_ull_width: "%*d:" then " %10u" per CPU and one space before the chip).


def prec_of(nr_irqs: int) -> int:
    prec, j = 3, 1000
    while prec < 10 and j <= nr_irqs:
        prec += 1
        j *= 10
    return prec


def header(cpus, prec: int) -> str:
    return " " * (prec + 8) + "".join(f"CPU{c:<8d}" for c in cpus)


def counts_text(counts, new_style: bool) -> str:
    return "".join(f" {n:10d}" for n in counts) + " " if new_style else "".join(f"{n:10d} " for n in counts)


def irq_line(irq: int, counts, chip: str, prec: int, hwirq: int | None = None, level: str | None = None,
             flow: str | None = None, actions=(), new_style: bool = False) -> str:
    lead = f"{irq:>{prec}d}:" + ("" if new_style else " ")
    line = lead + counts_text(counts, new_style)
    line += f" {chip:>8s}"
    line += f" {hwirq:>{prec}d}" if hwirq is not None else " " * (prec + 1)
    if level is not None:  # CONFIG_GENERIC_IRQ_SHOW_LEVEL
        line += f" {level:<8s}"
    if flow is not None:
        line += f"-{flow:<8s}"
    if actions:
        line += "  " + ", ".join(actions)
    return line


def named_line(name: str, counts, desc: str, prec: int, new_style: bool = False) -> str:
    # arch/x86/kernel/irq.c: "%*s: " then "%10u " per CPU then "  <description>".
    lead = f"{name:>{prec}s}:" + ("" if new_style else " ")
    return lead + counts_text(counts, new_style) + "  " + desc


def total_line(name: str, value: int, prec: int) -> str:
    return f"{name:>{prec}s}: {value:10d}"  # ERR, MIS: "%*s: %10u\n"


def x86_sample(new_style: bool = False) -> str:
    """A two-socket x86 box with CPU 1 offline (header CPU0 CPU2 CPU3), nr_irqs 1024 (prec 4)."""
    cpus, prec = (0, 2, 3), prec_of(1024)
    lines = [header(cpus, prec),
             irq_line(0, (44, 0, 0), "IR-IO-APIC", prec, 2, flow="edge", actions=("timer",), new_style=new_style),
             irq_line(16, (3, 120, 0), "IR-IO-APIC", prec, 16, flow="fasteoi",
                      actions=("i801_smbus", "ehci_hcd:usb1"), new_style=new_style),
             irq_line(17, (0, 0, 9), "IR-IO-APIC", prec, 17, flow="fasteoi", new_style=new_style),
             irq_line(122, (0, 0, 0), "IR-PCI-MSI", prec, 475136, flow="edge",
                      actions=("PCIe PME", "aerdrv", "pcie-dpc"), new_style=new_style),
             irq_line(127, (29, 0, 0), "IR-PCI-MSI", prec, 524288, flow="edge", actions=("nvme0q0",),
                      new_style=new_style),
             irq_line(141, (227, 0, 5), "IR-PCI-MSI", prec, 376832, flow="edge", actions=("ahci[0000:00:17.0]",),
                      new_style=new_style),
             irq_line(150, (0, 7741, 0), "IR-PCI-MSIX-0000:3b:00.0", prec, 3, flow="edge",
                      actions=("mlx5_comp3@pci:0000:3b:00.0",), new_style=new_style),
             irq_line(160, (0, 0, 81), "IR-PCI-MSIX-0000:5e:00.0", prec, 4, flow="edge",
                      actions=("i40e-eth0-TxRx-3",), new_style=new_style),
             irq_line(161, (12, 0, 0), "IR-PCI-MSIX-0000:af:00.0", prec, 6, flow="edge",
                      actions=("ice-ens1f0-TxRx-5",), new_style=new_style),
             irq_line(162, (0, 3, 0), "IR-PCI-MSIX-0000:d8:00.0", prec, 3, flow="edge",
                      actions=("ens1f0-rx-2",), new_style=new_style),
             irq_line(170, (0, 0, 1), "PCI-MSIX-0000:00:03.0", prec, 1, flow="edge",
                      actions=("virtio3-input.0",), new_style=new_style),
             named_line("NMI", (5, 6, 7), "Non-maskable interrupts", prec, new_style),
             named_line("LOC", (9000, 8000, 12), "Local timer interrupts", prec, new_style),
             named_line("RES", (10, 20, 0), "Rescheduling interrupts", prec, new_style),
             total_line("ERR", 3, prec),
             total_line("MIS", 0, prec),
             named_line("PIN", (0, 0, 0), "Posted-interrupt notification event", prec, new_style)]
    return "\n".join(lines) + "\n"


def arm64_sample() -> str:
    """arm64 (GICv3, CONFIG_GENERIC_IRQ_SHOW_LEVEL): Level/Edge after the hwirq, no flow name;
    IPIs from arch/arm64/kernel/smp.c ("%*s%u:%s" with prec - 1, then "%10u " per CPU and
    "      %s"), then "Err:" with one count ("%*s: %10lu")."""
    cpus, prec = (0, 1, 2, 3), prec_of(64)
    ipis = ["Rescheduling interrupts", "Function call interrupts", "CPU stop interrupts",
            "CPU stop (for crash dump) interrupts", "Timer broadcast interrupts", "IRQ work interrupts",
            "CPU wake-up interrupts"]
    lines = [header(cpus, prec),
             irq_line(11, (5000, 4000, 3000, 2000), "GICv3", prec, 27, level="Level", actions=("arch_timer",)),
             irq_line(14, (0, 0, 0, 0), "GICv3", prec, 23, level="Level", actions=("arm-pmu",)),
             irq_line(50, (700, 0, 0, 0), "ITS-MSI", prec, 524288, level="Edge", actions=("nvme0q0",)),
             irq_line(51, (0, 0, 11, 0), "ITS-PCI-MSIX-0000:01:00.0", prec, 2, level="Edge",
                      actions=("mlx5_comp1@pci:0000:01:00.0",))]
    for i, desc in enumerate(ipis):
        lines.append(f"{'IPI':>{prec - 1}s}{i}:" + ("" if prec < 4 else " ")
                     + "".join(f"{n:10d} " for n in (i, 10 * i, 0, 1)) + f"      {desc}")
    lines.append(f"{'Err':>{prec}s}: {0:10d}")
    return "\n".join(lines) + "\n"


# A 3.x kernel: no hwirq column, the flow name glued to the chip.
OLD_SAMPLE = """\
           CPU0       CPU1
  0:         36          0   IO-APIC-edge      timer
  8:          1          0   IO-APIC-edge      rtc0
 16:       1201         17   IO-APIC-fasteoi   ehci_hcd:usb1, mmc0
 24:          0          0  DMAR_MSI-edge      dmar0
 45:     150411          3  IR-PCI-MSI-edge      eth0-TxRx-0
NMI:        121        117   Non-maskable interrupts
ERR:          0
"""


# ---- the parsers on literal samples ------------------------------------------------------


def test_a_line_of_the_x86_sample_is_the_kernel_format():
    # Spot-check the writer against one hand-written line of a real 6.1 kernel.
    assert irq_line(29, (1362, 0, 0, 934), "PCI-MSI", 3, 512000, flow="edge", actions=("ahci[0000:00:1f.2]",)) \
        == " 29:       1362          0          0        934   PCI-MSI 512000-edge      ahci[0000:00:1f.2]"
    assert header((0, 1), 3) == "           CPU0       CPU1       "


@pytest.mark.parametrize("new_style", [False, True], ids=["6.6", "6.18"])
def test_x86_sample_exact(new_style):
    t = parse_interrupts(x86_sample(new_style))
    assert t.cpus == (0, 2, 3)  # CPU 1 is offline: no column, and no key for it
    timer = t.row(0)
    assert timer == InterruptRow(0, {0: 44, 2: 0, 3: 0}, 44, chip="IR-IO-APIC", hwirq="2", flow="edge",
                                 actions=("timer",))
    shared = t.row(16)
    assert shared.actions == ("i801_smbus", "ehci_hcd:usb1") and shared.counts == {0: 3, 2: 120, 3: 0}
    assert (shared.hwirq, shared.flow, shared.trigger) == ("16", "fasteoi", None)
    # an IRQ with a count but no action left: the row stops after the flow name
    assert t.row(17).actions == () and t.row(17).total == 9
    pcie = t.row(122)
    assert pcie.actions == ("PCIe PME", "aerdrv", "pcie-dpc")
    assert (pcie.chip, pcie.hwirq, pcie.flow) == ("IR-PCI-MSI", "475136", "edge")
    assert t.row(127).actions == ("nvme0q0",) and t.row(127).hwirq == "524288"
    assert t.row(141).actions == ("ahci[0000:00:17.0]",)
    mlx = t.row(150)
    assert (mlx.chip, mlx.hwirq, mlx.counts) == ("IR-PCI-MSIX-0000:3b:00.0", "3", {0: 0, 2: 7741, 3: 0})
    assert mlx.queues == (NicQueue("0000:3b:00.0", "combined", 3),)
    assert mlx.cpus_hit == frozenset({2})
    assert t.row(160).queues == (("eth0", "combined", 3),)
    assert t.row(161).queues == (("ens1f0", "combined", 5),)
    assert t.row(162).queues == (("ens1f0", "rx", 2),)
    assert t.row(170).queues == (("virtio3", "rx", 0),)
    loc = t.row("LOC")
    assert loc.counts == {0: 9000, 2: 8000, 3: 12} and loc.description == "Local timer interrupts"
    assert loc.per_cpu and loc.total == 17012 and loc.actions == () and loc.chip is None
    err = t.row("ERR")
    assert (err.per_cpu, err.counts, err.total, err.description) == (False, {}, 3, None)
    assert t.row("MIS").total == 0 and not t.row("MIS").per_cpu
    assert t.row("PIN").counts == {0: 0, 2: 0, 3: 0}
    assert [r.key for r in t.numbered] == [0, 16, 17, 122, 127, 141, 150, 160, 161, 162, 170]
    assert [r.key for r in t.named] == ["NMI", "LOC", "RES", "ERR", "MIS", "PIN"]
    assert t.per_cpu_totals(numbered_only=True) == {0: 44 + 3 + 29 + 227 + 12, 2: 120 + 7741 + 3,
                                                    3: 9 + 5 + 81 + 1}
    with pytest.raises(KeyError):
        t.row(1)
    assert t.get(1) is None


def test_both_kernel_styles_parse_the_same():
    assert parse_interrupts(x86_sample(False)) == parse_interrupts(x86_sample(True))


def test_arm64_sample_exact():
    t = parse_interrupts(arm64_sample())
    assert t.cpus == (0, 1, 2, 3)
    timer = t.row(11)
    assert (timer.chip, timer.hwirq, timer.trigger, timer.flow, timer.actions) == (
        "GICv3", "27", "Level", None, ("arch_timer",))
    assert timer.counts == {0: 5000, 1: 4000, 2: 3000, 3: 2000}
    nvme = t.row(50)
    assert (nvme.chip, nvme.hwirq, nvme.trigger, nvme.actions) == ("ITS-MSI", "524288", "Edge", ("nvme0q0",))
    assert t.row(51).queues == (("0000:01:00.0", "combined", 1),)
    ipi2 = t.row("IPI2")
    assert ipi2.counts == {0: 2, 1: 20, 2: 0, 3: 1} and ipi2.description == "CPU stop interrupts"
    assert t.row("IPI3").description == "CPU stop (for crash dump) interrupts"
    assert [r.key for r in t.named] == [f"IPI{i}" for i in range(7)] + ["Err"]
    err = t.row("Err")
    assert (err.per_cpu, err.total) == (False, 0)


def test_3x_rows_without_hwirq():
    t = parse_interrupts(OLD_SAMPLE)
    assert (t.row(0).chip, t.row(0).hwirq, t.row(0).flow, t.row(0).actions) == ("IO-APIC", None, "edge", ("timer",))
    assert (t.row(16).chip, t.row(16).flow, t.row(16).actions) == ("IO-APIC", "fasteoi", ("ehci_hcd:usb1", "mmc0"))
    assert (t.row(24).chip, t.row(24).flow) == ("DMAR_MSI", "edge")
    assert (t.row(45).chip, t.row(45).flow) == ("IR-PCI-MSI", "edge")
    assert t.row(45).queues == (("eth0", "combined", 0),)
    assert t.row("ERR").total == 0 and not t.row("ERR").per_cpu


def test_rows_with_fewer_counts_than_cpus():
    # CPU hotplug between the header and a row, or an arch row printed for fewer CPUs:
    # the counts that are there belong to the first header CPUs, the rest are absent.
    text = "      CPU0   CPU4   CPU5\n 9:  7  8  IO-APIC  9-fasteoi  acpi\nFIQ:  1  2  usb_fiq\n"
    t = parse_interrupts(text)
    assert t.row(9).counts == {0: 7, 4: 8} and t.row(9).chip == "IO-APIC"
    assert t.row("FIQ").counts == {0: 1, 4: 2} and t.row("FIQ").description == "usb_fiq"


def test_one_cpu_machine_keeps_per_cpu_rows():
    text = header((0,), 3) + "\n" + named_line("LOC", (77,), "Local timer interrupts", 3) + "\n" + \
        total_line("ERR", 2, 3) + "\n" + f"{'SPU':>3s}: {5:10d}\n"
    t = parse_interrupts(text)
    assert t.row("LOC").counts == {0: 77}
    assert not t.row("ERR").per_cpu and t.row("ERR").total == 2
    # a row of one count without a description on a one-CPU box is that CPU's count
    assert t.row("SPU").per_cpu and t.row("SPU").counts == {0: 5}


@pytest.mark.parametrize("text", [
    "",
    "\n\n",
    "  0:  1  2  IO-APIC  2-edge  timer\n",  # no header
    "      CPU0  CPUx\n",
    "      CPU0  CPU0\n 0:  1  1  IO-APIC  2-edge  timer\n",
    "      CPU0\n this line has no colon\n",
    "      CPU0\n  0:  IO-APIC  2-edge  timer\n",  # a numbered row without counts
    "      CPU0\n  0:  1  IO-APIC\n  0:  1  IO-APIC\n",  # the same IRQ twice
])
def test_malformed_interrupts_raise_valueerror(text):
    with pytest.raises(ValueError):
        parse_interrupts(text)


def test_softirqs_sample_exact():
    # fs/proc/softirqs.c: 20 spaces, "CPU%-8d" per possible CPU, "%12s:" and " %10u".
    names = ["HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU"]
    cpus = (0, 1, 2, 3)
    lines = [" " * 20 + "".join(f"CPU{c:<8d}" for c in cpus)]
    for i, name in enumerate(names):
        lines.append(f"{name:>12s}:" + "".join(f" {n:10d}" for n in (i, 2 * i, 0, 1000 * i)))
    s = parse_softirqs("\n".join(lines) + "\n")
    assert s.cpus == cpus
    assert [r.name for r in s.rows] == names
    rx = s.row("NET_RX")
    assert rx.counts == {0: 3, 1: 6, 2: 0, 3: 3000} and rx.total == 3009 and rx.cpus_hit == {0, 1, 3}
    with pytest.raises(KeyError):
        s.row("BLOCK_IOPOLL")


@pytest.mark.parametrize("text", ["", "   CPU0\n  HI:  x\n", "   CPU0\n  HI:  1  2\n", "   CPU0\n  HI  1\n",
                                  "   CPU0\n  HI:  1\n  HI:  1\n", "  HI:  1\n"])
def test_malformed_softirqs_raise_valueerror(text):
    with pytest.raises(ValueError):
        parse_softirqs(text)


@pytest.mark.parametrize("name, expected", [
    ("mlx5_comp3@pci:0000:3b:00.0", ("0000:3b:00.0", "combined", 3)),
    ("i40e-eth0-TxRx-3", ("eth0", "combined", 3)),
    ("i40e-eth0-rx-1", ("eth0", "rx", 1)),
    ("ice-ens1f0-TxRx-5", ("ens1f0", "combined", 5)),
    ("iavf-ens2f0v0-TxRx-0", ("ens2f0v0", "combined", 0)),
    ("ens1f0-rx-2", ("ens1f0", "rx", 2)),
    ("ens1f0-tx-7", ("ens1f0", "tx", 7)),
    ("ens1f0-TxRx-0", ("ens1f0", "combined", 0)),
    ("eth0-Tx-Rx-4", ("eth0", "combined", 4)),
    ("virtio3-input.0", ("virtio3", "rx", 0)),
    ("virtio3-output.12", ("virtio3", "tx", 12)),
    ("mlx5_async0@pci:0000:3b:00.0", None),  # the async EQ: commands and events, no queue
    ("i40e-0000:3b:00.0:misc", None),
    ("virtio3-rx", None),  # vsock's virtqueues, not a network interface's
    ("virtio2-control", None),
    ("nvme0q3", None),
    ("timer", None),
    ("", None),
])
def test_nic_queue_of(name, expected):
    assert nic_queue_of(name) == expected


def test_small_parsers():
    assert parse_affinity_list("0-3,8\n") == frozenset({0, 1, 2, 3, 8})
    assert parse_affinity_list("\n") == frozenset()
    assert parse_debug_managed("handler:  handle_edge_irq\ndstate:   0x3600200\n"
                               "            IRQD_ACTIVATED\n            IRQD_AFFINITY_MANAGED\n") is True
    assert parse_debug_managed("dstate:   0x400\n            IRQD_ACTIVATED\n") is False
    with pytest.raises(ValueError):
        parse_debug_managed("not the debugfs file")


# ---- properties --------------------------------------------------------------------------


TEXT_PARSERS = [parse_interrupts, parse_softirqs, parse_affinity_list, parse_debug_managed]


@settings(max_examples=300)
@given(st.text())
def test_parsers_only_ever_raise_valueerror(text):
    for parse in TEXT_PARSERS:
        try:
            parse(text)
        except ValueError:
            pass


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["CPU0", "CPU3", " ", "   ", "\n", "0:", "16:", "LOC:", "ERR:", "12", "0",
                                 "IO-APIC", "2-edge", "-edge", "Level", "Edge", "timer", ", ", "ahci", "²",
                                 "١", "\t", ":", "-", "CPU", "\x0b", "\u2028"]), max_size=40))
def test_near_misses_only_raise_valueerror(parts):
    text = "".join(parts)
    for parse in (parse_interrupts, parse_softirqs):
        try:
            result = parse(text)
        except ValueError:
            continue
        for row in result.rows:
            assert all(isinstance(c, int) and isinstance(n, int) for c, n in row.counts.items())
            assert set(row.counts) <= set(result.cpus)


_chip = st.sampled_from(["IO-APIC", "IR-IO-APIC", "PCI-MSI", "IR-PCI-MSI", "PCI-MSIX-0000:00:03.0",
                         "GICv3", "ITS-MSI", "None", "-", "xen-pirq", "DMAR-MSI"])
_action = st.from_regex(r"[a-z][a-z0-9_:.@\[\]-]{0,14}( [A-Z]{2,4})?", fullmatch=True)


@st.composite
def interrupt_tables(draw):
    cpus = sorted(draw(st.sets(st.integers(0, 300), min_size=1, max_size=6)))
    nr_irqs = draw(st.sampled_from([16, 999, 1000, 4096, 100000]))
    prec = prec_of(nr_irqs)
    new_style = draw(st.booleans())
    level_arch = draw(st.booleans())
    irqs = sorted(draw(st.sets(st.integers(0, nr_irqs - 1), max_size=8)))
    lines, expected = [header(cpus, prec)], []
    for irq in irqs:
        counts = draw(st.lists(st.integers(0, 2 ** 32 - 1), min_size=len(cpus), max_size=len(cpus)))
        chip = draw(_chip)
        hwirq = draw(st.none() | st.integers(0, 10 ** 6))
        level = draw(st.sampled_from(["Level", "Edge"])) if level_arch else None
        flow = None if level_arch else draw(st.none() | st.sampled_from(["edge", "fasteoi"]))
        actions = tuple(draw(st.lists(_action, max_size=3)))
        lines.append(irq_line(irq, counts, chip, prec, hwirq, level, flow, actions, new_style))
        expected.append(InterruptRow(irq, dict(zip(cpus, counts, strict=True)), sum(counts), chip=chip,
                                     hwirq=None if hwirq is None else str(hwirq), trigger=level, flow=flow,
                                     actions=actions))
    for name, desc in draw(st.lists(st.sampled_from([("LOC", "Local timer interrupts"), ("NMI", "Non-maskable"),
                                                     ("IPI0", "Rescheduling interrupts")]), max_size=3,
                                    unique=True)):
        counts = draw(st.lists(st.integers(0, 2 ** 32 - 1), min_size=len(cpus), max_size=len(cpus)))
        lines.append(named_line(name, counts, desc, prec, new_style))
        expected.append(InterruptRow(name, dict(zip(cpus, counts, strict=True)), sum(counts), description=desc))
    if draw(st.booleans()):
        value = draw(st.integers(0, 2 ** 32 - 1))
        lines.append(total_line("ERR", value, prec))
        expected.append(InterruptRow("ERR", {}, value, per_cpu=False))
    return "\n".join(lines) + "\n", tuple(cpus), tuple(expected)


@settings(max_examples=200)
@given(interrupt_tables())
def test_round_trip_through_the_kernel_format(case):
    text, cpus, expected = case
    t = parse_interrupts(text)
    assert t.cpus == cpus
    assert t.rows == expected


@settings(max_examples=100)
@given(st.sets(st.integers(0, 500), min_size=1, max_size=8), st.data())
def test_softirqs_round_trip(cpus, data):
    cpus = sorted(cpus)
    names = data.draw(st.lists(st.sampled_from(["HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "BLOCK_IOPOLL",
                                                "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU"]), unique=True))
    rows = {n: data.draw(st.lists(st.integers(0, 2 ** 32 - 1), min_size=len(cpus), max_size=len(cpus)))
            for n in names}
    text = " " * 20 + "".join(f"CPU{c:<8d}" for c in cpus) + "\n" + "".join(
        f"{n:>12s}:" + "".join(f" {v:10d}" for v in counts) + "\n" for n, counts in rows.items())
    s = parse_softirqs(text)
    assert s.cpus == tuple(cpus)
    assert {r.name: r.counts for r in s.rows} == {n: dict(zip(cpus, c, strict=True)) for n, c in rows.items()}


# ---- the fixture hosts (tests/hosts) ------------------------------------------------------


def fixture(name: str):
    return open_host(HOSTS / name)


TUNED_HK = frozenset(range(0, 9)) | frozenset(range(16, 25))


def test_tuned_2s():
    host = fixture("tuned-2s")
    counts = read_interrupts(host)
    t = counts.interrupts
    assert t.cpus == tuple(range(32))
    # legacy IRQs, a fault interrupt per VT-d unit, ens1f0's misc vector and 8 queue vectors
    # (ice), eno1's misc and 8 (igb)
    assert [r.key for r in t.numbered] == [0, 8, 9, 16, *range(120, 133), *range(157, 166)]
    assert [r.key for r in t.named] == ["NMI", "LOC", "RES", "CAL", "TLB", "ERR", "MIS"]
    assert t.row(0).counts[0] == 35 and t.row(0).cpus_hit == {0} and t.row(0).actions == ("timer",)
    # VT-d on: interrupt remapping, and a DMAR-MSI fault interrupt per unit, hwirq its number
    assert (t.row(0).chip, t.row(0).hwirq, t.row(0).flow) == ("IR-IO-APIC", "2", "edge")
    assert [(t.row(i).chip, t.row(i).hwirq, t.row(i).actions, t.row(i).total) for i in range(120, 124)] == [
        ("DMAR-MSI", str(u), (f"dmar{u}",), 0) for u in range(4)]
    nic = t.row(125)
    # the PCI-MSI domain of a 5.14 kernel, behind the remapping unit: hwirq = entry | pci_dev_id << 11
    assert (nic.chip, nic.hwirq, nic.flow, nic.actions) == ("IR-PCI-MSI", str(1 | 0xb100 << 11), "edge",
                                                            ("ice-ens1f0-TxRx-0",))
    assert nic.cpus_hit == {8}
    assert t.row(124).actions == ("ice-0000:b1:00.0:misc",) and t.row(124).queues == ()
    assert [r.queues for r in t.numbered if r.queues and r.queues[0].device == "ens1f0"] == [
        (("ens1f0", "combined", q),) for q in range(8)]
    # the isolated CPUs take few local timer interrupts (nohz_full)
    loc = t.row("LOC")
    assert max(loc.counts[c] for c in range(9, 16)) < 5000 < min(loc.counts[c] for c in range(0, 8))
    assert t.row("ERR").total == 0 and not t.row("ERR").per_cpu
    assert t.row("NMI").total == 0  # the tuned box runs without the NMI watchdog
    soft = counts.softirqs
    assert soft.cpus == tuple(range(32)) and soft.row("NET_RX").cpus_hit == TUNED_HK

    aff = read_affinity(host)
    assert aff.default_smp_affinity == TUNED_HK
    assert [a.irq for a in aff.irqs] == [0, 8, 9, 16, *range(120, 166)]
    # the fault interrupts on the first CPU of their unit's node, housekeeping both
    assert [(a.irq, a.effective_affinity, a.node) for a in aff.irqs if 120 <= a.irq <= 123] == [
        (120, {0}, 0), (121, {0}, 0), (122, {8}, 1), (123, {8}, 1)]
    assert [(a.irq, a.smp_affinity, a.effective_affinity, a.node) for a in aff.irqs if 124 <= a.irq <= 128] == [
        (124, {24}, {24}, 1), (125, {8}, {8}, 1), (126, {24}, {24}, 1), (127, {8}, {8}, 1), (128, {24}, {24}, 1)]
    assert aff.irq(16).smp_affinity == TUNED_HK and aff.irq(16).effective_affinity == {0}
    assert aff.irq(125).actions == ("ice-ens1f0-TxRx-0",) and aff.irq(125).queues == (("ens1f0", "combined", 0),)
    # the owner comes from the device's msi_irqs: every allocated vector, requested or not
    assert aff.irq(125).interfaces == ("ens1f0",) and aff.irq(133).interfaces == ("ens1f0",)
    assert aff.irq(133).actions == () and aff.irq(133).effective_affinity == {0}
    assert aff.irq(120).interfaces == ()  # a VT-d unit is no PCI function of a NIC
    assert aff.unresolved_interfaces == {}
    assert [a.irq for a in aff.of_interface("ens1f0")] == list(range(124, 157))
    assert [a.irq for a in aff.of_interface("eno1")] == list(range(157, 166))
    # the fixture keeps no /sys/kernel/irq and no debugfs: unknown, not absent
    for a in aff.irqs:
        assert a.chip_name.reason is Reason.MISSING and "4.9" in a.chip_name.detail
        assert a.managed.reason is Reason.MISSING and "debugfs" in a.managed.detail


def test_untuned_2s_spreads_nic_queues_over_node1():
    host = fixture("untuned-2s")
    aff = read_affinity(host)
    assert aff.default_smp_affinity == frozenset(range(32))
    # irqbalance: one core of node 1 per queue vector (both threads allowed, one in effect)
    queues = [a for a in aff.of_interface("ens1f0") if a.queues]
    assert len(queues) == 32
    assert [(a.smp_affinity, a.effective_affinity) for a in queues[:3]] == [
        ({8, 24}, {8}), ({9, 25}, {9}), ({10, 26}, {10})]
    assert frozenset().union(*(a.effective_affinity for a in queues)) == frozenset(range(8, 16)) | frozenset(
        range(24, 32))
    t = read_interrupts(host).interrupts
    assert t.row("NMI").cpus_hit == frozenset(range(32))  # NMI watchdog on every CPU
    assert (t.row(120).chip, t.row(120).hwirq, t.row(120).actions) == ("DMAR-MSI", "0", ("dmar0",))
    assert t.row(0).chip == "IR-IO-APIC" and t.row(125).chip == "IR-PCI-MSI"


def test_cpu0_offline_has_no_column_for_cpu0():
    host = fixture("cpu0-offline")
    t = read_interrupts(host).interrupts
    assert t.cpus == tuple(range(1, 8))
    assert all(0 not in r.counts for r in t.rows)
    assert t.row(0).counts[1] == 35 and t.row(0).cpus_hit == {1}
    aff = read_affinity(host)
    assert aff.irq(0).smp_affinity == {1} and aff.irq(8).smp_affinity == frozenset(range(8))
    assert aff.default_smp_affinity == frozenset(range(8))
    # /proc/softirqs has a column per possible CPU: the offline CPU 0 keeps its old counts
    soft = read_interrupts(host).softirqs
    assert soft.cpus == tuple(range(8)) and soft.row("NET_RX").counts[0] == 0


def test_unreadable_host():
    host = fixture("unreadable")
    t = read_interrupts(host).interrupts
    assert t.cpus == (0, 1, 2, 3)
    assert [r.key for r in t.numbered] == [0, 8, 9, 16, 120, 121]
    aff = read_affinity(host)
    assert aff.irq(0).smp_affinity == {0} and aff.irq(16).smp_affinity == {0, 1, 2, 3}
    assert aff.default_smp_affinity == {0, 1, 2, 3}
    # the files this capture was refused stay denied, next to the ones it could read
    assert aff.irq(9).smp_affinity.reason is Reason.DENIED and aff.irq(9).effective_affinity.reason is Reason.DENIED
    assert aff.irq(16).effective_affinity.reason is Reason.DENIED and aff.irq(8).node.reason is Reason.DENIED
    assert aff.irq(8).smp_affinity == {0, 1, 2, 3} and aff.irq(9).node == 0
    json.dumps(to_jsonable(aff))


# ---- small trees: ownership, denied, damaged ----------------------------------------------

PCI = "/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0"
VIRTIO_PCI = "/sys/devices/pci0000:00/0000:00:03.0"


def nic_tree(**extra) -> dict:
    cpus = (0, 1, 2, 3)
    files = {
        "/proc/interrupts": "\n".join([
            header(cpus, 3),
            irq_line(0, (40, 0, 0, 0), "IO-APIC", 3, 2, flow="edge", actions=("timer",)),
            irq_line(60, (0, 5, 0, 0), "IR-PCI-MSIX-0000:3b:00.0", 3, 0, flow="edge",
                     actions=("mlx5_async0@pci:0000:3b:00.0",)),
            irq_line(61, (0, 0, 900, 0), "IR-PCI-MSIX-0000:3b:00.0", 3, 1, flow="edge",
                     actions=("mlx5_comp0@pci:0000:3b:00.0",)),
            irq_line(70, (0, 0, 0, 3), "PCI-MSIX-0000:00:03.0", 3, 1, flow="edge", actions=("virtio2-input.0",)),
            named_line("LOC", (10, 20, 30, 40), "Local timer interrupts", 3),
            total_line("ERR", 0, 3)]),
        "/proc/softirqs": " " * 20 + "CPU0       CPU1       CPU2       CPU3       \n"
                          "          HI:          0          0          0          0\n"
                          "      NET_RX:          1          2          3          4\n",
        "/proc/irq/default_smp_affinity": "f",
        "@/sys/class/net/ens1f0np0": "../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/net/ens1f0np0",
        f"@{PCI}/net/ens1f0np0/device": "../../../0000:3b:00.0",
        f"{PCI}/msi_irqs/60": "msix",
        f"{PCI}/msi_irqs/61": "msix",
        "@/sys/class/net/eth0": "../../devices/pci0000:00/0000:00:03.0/virtio2/net/eth0",
        f"@{VIRTIO_PCI}/virtio2/net/eth0/device": "../../../virtio2",
        f"{VIRTIO_PCI}/virtio2/features": "0110",
        f"{VIRTIO_PCI}/msi_irqs/69": "msix",
        f"{VIRTIO_PCI}/msi_irqs/70": "msix",
        "@/sys/class/net/lo": "../../devices/virtual/net/lo",
        "/sys/devices/virtual/net/lo/mtu": "65536",
    }
    for irq, aff, eff, node in ((0, "0-3", "0", "-1"), (60, "0-3", "1", "0"), (61, "2", "2", "0"),
                                (69, "0-3", "", "-1"), (70, "3", "3", "-1")):
        files[f"/proc/irq/{irq}/smp_affinity_list"] = aff
        files[f"/proc/irq/{irq}/effective_affinity_list"] = eff
        files[f"/proc/irq/{irq}/node"] = node
    for irq, chip, hw, typ in ((0, "IO-APIC", "2", "edge"), (60, "IR-PCI-MSIX-0000:3b:00.0", "0", "edge"),
                               (61, "IR-PCI-MSIX-0000:3b:00.0", "1", "edge"),
                               (69, "PCI-MSIX-0000:00:03.0", "0", "edge"), (70, "PCI-MSIX-0000:00:03.0", "1", "edge")):
        files[f"/sys/kernel/irq/{irq}/chip_name"] = chip
        files[f"/sys/kernel/irq/{irq}/hwirq"] = hw
        files[f"/sys/kernel/irq/{irq}/type"] = typ
    for irq in (0, 60, 69, 70):
        files[f"/sys/kernel/debug/irq/irqs/{irq}"] = "handler:  handle_edge_irq\ndstate:   0x400\n    IRQD_ACTIVATED\n"
    files["/sys/kernel/debug/irq/irqs/61"] = ("handler:  handle_edge_irq\ndstate:   0x3600200\n"
                                              "    IRQD_ACTIVATED\n    IRQD_AFFINITY_MANAGED\n")
    files.update(extra)
    return files


def test_owner_from_msi_irqs_and_queue_names(tree):
    host = tree(nic_tree())
    aff = read_affinity(host)
    assert [a.irq for a in aff.irqs] == [0, 60, 61, 69, 70]
    assert aff.unresolved_interfaces == {}  # lo has no device: nothing to resolve
    assert aff.irq(0).interfaces == ()
    assert aff.irq(60).interfaces == ("ens1f0np0",) and aff.irq(61).interfaces == ("ens1f0np0",)
    # virtio_net: the vectors belong to the PCI function above the virtio device
    assert aff.irq(69).interfaces == ("eth0",) and aff.irq(70).interfaces == ("eth0",)
    assert aff.irq(61).queues == (("0000:3b:00.0", "combined", 0),) and aff.irq(60).queues == ()
    assert aff.irq(70).queues == (("virtio2", "rx", 0),)
    assert [a.irq for a in aff.of_interface("eth0")] == [69, 70]
    # IRQ 69 has a folder and no /proc/interrupts row: no action and no count yet
    assert aff.irq(69).actions == () and aff.irq(69).effective_affinity == frozenset()
    assert (aff.irq(61).chip_name, aff.irq(61).hwirq, aff.irq(61).type) == ("IR-PCI-MSIX-0000:3b:00.0", "1", "edge")
    assert aff.irq(61).managed is True and aff.irq(60).managed is False
    assert aff.irq(0).node == -1 and aff.irq(61).node == 0
    assert aff.default_smp_affinity == {0, 1, 2, 3}
    assert aff.irq(0).source == "/proc/irq/0"
    counts = read_interrupts(host)
    assert counts.softirqs.row("NET_RX").counts == {0: 1, 1: 2, 2: 3, 3: 4}


def test_effective_affinity_absent_is_missing_not_empty(tree):
    files = {k: v for k, v in nic_tree().items() if not k.endswith("effective_affinity_list")}
    aff = read_affinity(tree(files))
    for a in aff.irqs:
        assert isinstance(a.effective_affinity, Unread) and a.effective_affinity.reason is Reason.MISSING
        assert "4.13" in a.effective_affinity.detail
        assert isinstance(a.smp_affinity, frozenset)


def test_denied_reads_stay_denied(tree):
    # What a normal user meets on kernels that make these files root-only: the snapshot
    # replays each read that was denied at capture (hftinfra/unread.json).
    denied = {"reason": "denied", "detail": "Permission denied"}
    files = nic_tree(**{"/hftinfra/unread.json": json.dumps({
        "/proc/irq/61/smp_affinity_list": denied, "/proc/irq/default_smp_affinity": denied,
        "/sys/kernel/debug/irq/irqs": denied, "/proc/softirqs": denied,
        f"{PCI}/msi_irqs": denied})})
    host = tree(files)
    aff = read_affinity(host)
    assert aff.irq(61).smp_affinity.reason is Reason.DENIED
    assert aff.irq(61).smp_affinity.source == "/proc/irq/61/smp_affinity_list"
    assert aff.irq(60).smp_affinity == {0, 1, 2, 3}
    assert aff.default_smp_affinity.reason is Reason.DENIED
    assert all(a.managed.reason is Reason.DENIED for a in aff.irqs)
    assert aff.unresolved_interfaces["ens1f0np0"].reason is Reason.DENIED
    assert aff.irq(61).interfaces == () and aff.irq(70).interfaces == ("eth0",)
    counts = read_interrupts(host)
    assert counts.softirqs.reason is Reason.DENIED and isinstance(counts.interrupts.rows, tuple)


def test_interrupts_denied(tree):
    denied = tree(nic_tree(**{"/hftinfra/unread.json": json.dumps(
        {"/proc/interrupts": {"reason": "denied", "detail": ""}})}))
    assert read_interrupts(denied).interrupts.reason is Reason.DENIED
    aff = read_affinity(denied)
    assert all(a.actions.reason is Reason.DENIED for a in aff.irqs)  # names unknown, not "none"
    assert aff.irq(61).smp_affinity == {2}
    assert aff.irq(61).queues == ()


def test_interrupts_damaged(tree):
    damaged = tree(nic_tree(**{"/proc/interrupts": "this is not /proc/interrupts",
                               "/proc/irq/60/smp_affinity_list": "zz", "/proc/irq/60/node": "one"}))
    got = read_interrupts(damaged).interrupts
    assert got.reason is Reason.MALFORMED and "/proc/interrupts" in str(got)
    aff = read_affinity(damaged)
    assert aff.irq(60).smp_affinity.reason is Reason.MALFORMED and aff.irq(60).node.reason is Reason.MALFORMED
    assert aff.irq(61).smp_affinity == {2}


def test_nothing_there_is_missing(tree):
    host = tree({"/proc/cmdline": "ro"})
    counts = read_interrupts(host)
    assert counts.interrupts.reason is Reason.MISSING and counts.softirqs.reason is Reason.MISSING
    aff = read_affinity(host)
    assert aff.irqs.reason is Reason.MISSING and aff.default_smp_affinity.reason is Reason.MISSING
    assert aff.unresolved_interfaces.reason is Reason.MISSING
    with pytest.raises(KeyError):
        aff.irq(0)
    assert aff.of_interface("eth0") == ()
    assert "unknown" in aff._repr_html_() and "unknown" in counts._repr_html_()


def test_records_are_frozen_jsonable_and_render(tree):
    host = tree(nic_tree())
    counts, aff = read_interrupts(host), read_affinity(host)
    with pytest.raises(AttributeError):
        counts.interrupts.cpus = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        aff.irq(0).smp_affinity = frozenset()  # type: ignore[misc]
    data = json.loads(json.dumps(to_jsonable(counts)))
    rows = {str(r["key"]): r for r in data["interrupts"]["rows"]}
    assert rows["61"]["counts"] == {"0": 0, "1": 0, "2": 900, "3": 0} and rows["ERR"]["per_cpu"] is False
    assert data["interrupts"]["cpus"] == [0, 1, 2, 3]
    assert data["softirqs"]["rows"][1]["name"] == "NET_RX"
    adata = json.loads(json.dumps(to_jsonable(aff)))
    assert adata["default_smp_affinity"] == "0-3"
    by_irq = {a["irq"]: a for a in adata["irqs"]}
    assert by_irq[61]["smp_affinity"] == "2" and by_irq[61]["managed"] is True
    assert by_irq[69]["interfaces"] == ["eth0"]
    html = counts._repr_html_()
    assert "<table>" in html and "mlx5_comp0@pci:0000:3b:00.0" in html and "Local timer interrupts" in html
    assert "NET_RX" in html and "(system-wide)" in html
    ahtml = aff._repr_html_()
    assert "<table>" in ahtml and "ens1f0np0" in ahtml and "default_smp_affinity 0-3" in ahtml


# ---- the real captured trees --------------------------------------------------------------


def test_corpus_never_crashes(corpus_host):
    counts, aff = read_interrupts(corpus_host), read_affinity(corpus_host)
    json.dumps(to_jsonable(counts))
    json.dumps(to_jsonable(aff))
    assert counts.interrupts.cpus == (0, 1, 2, 3)
    assert counts.softirqs.cpus == (0, 1)
    # neither tree holds /proc/irq: unknown, never an empty list
    assert aff.irqs.reason is Reason.MISSING and aff.default_smp_affinity.reason is Reason.MISSING


def corpus(name: str):
    path = CORPUS / name
    if not path.is_dir():
        pytest.skip(f"{path} not present (no ../shared/corpus beside this clone)")
    return open_host(path)


def test_corpus_node_exporter_exact():
    t = read_interrupts(corpus("node_exporter")).interrupts
    # a 3.x kernel: no hwirq, the flow name glued to the chip
    assert (t.row(0).chip, t.row(0).hwirq, t.row(0).flow) == ("IR-IO-APIC", None, "edge")
    assert t.row(16).actions == ("ehci_hcd:usb1", "mmc0")
    assert t.row(16).counts == {0: 328511, 1: 322879, 2: 293782, 3: 351412}
    assert (t.row(40).chip, t.row(40).actions) == ("DMAR_MSI", ("dmar0",))
    assert t.row(46).actions == ("iwlwifi",) and t.row(46).total == 43539055
    assert t.row("LOC").counts[3] == 130980079 and t.row("MCP").description == "Machine check polls"
    assert t.row("MIS").total == 0 and not t.row("MIS").per_cpu
    s = read_interrupts(corpus("node_exporter")).softirqs
    assert s.row("NET_RX").counts == {0: 43066, 1: 104508}


def test_corpus_procfs_exact():
    t = read_interrupts(corpus("procfs")).interrupts
    assert (t.row(29).chip, t.row(29).hwirq, t.row(29).flow, t.row(29).actions) == (
        "PCI-MSI", "512000", "edge", ("ahci[0000:00:1f.2]",))
    assert t.row(36).queues == (("virtio0", "rx", 0),) and t.row(37).queues == (("virtio0", "tx", 0),)
    assert t.row(36).counts == {0: 0, 1: 335, 2: 37, 3: 0}
    assert [r.key for r in t.named][-3:] == ["PIN", "NPI", "PIW"]  # after the blank line in that capture
    assert t.row("ERR").total == 0
    assert read_interrupts(corpus("procfs")).softirqs.row("TIMER").total == 2776180 + 247490


# ---- the live host ------------------------------------------------------------------------
# The library is compared with the test's own reads of the same files; counts move between
# two reads, so only structure is compared, and counts must not go down.


def _own_rows(text: str) -> tuple[list[int], dict[str, list[int]]]:
    lines = [line for line in text.splitlines() if line.strip()]
    cpus = [int(t[3:]) for t in lines[0].split()]
    rows = {}
    for line in lines[1:]:
        key, _, rest = line.partition(":")
        words = rest.split()
        nums = []
        for w in words[:len(cpus)]:
            if not w.isascii() or not w.isdigit():
                break
            nums.append(int(w))
        rows[key.strip()] = nums
    return cpus, rows


def _cpus_file(name: str) -> frozenset[int]:
    return parse_cpulist(Path(f"/sys/devices/system/cpu/{name}").read_text())


@pytest.mark.live
def test_live_interrupts_match_proc():
    before = Path("/proc/interrupts").read_text()
    counts = read_interrupts(open_host(None))
    after = Path("/proc/interrupts").read_text()
    t = counts.interrupts
    assert isinstance(t, Interrupts)  # /proc/interrupts is world-readable
    cpus_before, rows_before = _own_rows(before)
    cpus_after, rows_after = _own_rows(after)
    if cpus_before == cpus_after:  # no CPU went on- or offline meanwhile
        assert list(t.cpus) == cpus_after
        assert set(t.cpus) == _cpus_file("online")  # one column per online CPU
    keys = [str(r.key) for r in t.rows]
    # rows appear (an IRQ's first count) and go (a freed IRQ) only between reads
    assert set(rows_before) & set(rows_after) <= set(keys) <= set(rows_before) | set(rows_after)
    for r in t.rows:
        later = rows_after.get(str(r.key))
        if later is None:
            continue
        if not r.per_cpu:
            assert len(later) == 1 and (later[0] >= r.total or r.total - later[0] > 2 ** 31), r.key
            continue
        for cpu, n in r.counts.items():
            if cpu in cpus_after and cpus_after.index(cpu) < len(later):
                m = later[cpus_after.index(cpu)]
                assert m >= n or n - m > 2 ** 31, (r.key, cpu)  # counters are 32-bit and wrap
    s = counts.softirqs
    if os.path.exists("/proc/softirqs"):
        own = Path("/proc/softirqs").read_text().splitlines()
        assert set(s.cpus) == _cpus_file("possible")  # fs/proc/softirqs.c: possible CPUs
        assert [r.name for r in s.rows] == [line.split(":")[0].strip() for line in own[1:] if line.strip()]
    else:
        assert s.reason is Reason.MISSING


def _read(path: str) -> str | Reason:
    try:
        with open(path) as fh:
            return fh.read()
    except FileNotFoundError:
        return Reason.MISSING
    except PermissionError:
        return Reason.DENIED


@pytest.mark.live
def test_live_affinity_matches_proc_irq():
    aff = read_affinity(open_host(None))
    default = _read("/proc/irq/default_smp_affinity")
    if isinstance(default, Reason):
        assert aff.default_smp_affinity.reason is default
    else:
        assert aff.default_smp_affinity == parse_cpumask(default)
    names = sorted(int(n) for n in os.listdir("/proc/irq") if n.isdigit())
    listed = [a.irq for a in aff.irqs]
    assert len(set(listed) ^ set(names)) <= 2  # an IRQ allocated or freed between the two listings
    for a in aff.irqs:
        own = _read(f"/proc/irq/{a.irq}/smp_affinity_list")
        for field, name in ((a.smp_affinity, "smp_affinity_list"), (a.effective_affinity, "effective_affinity_list")):
            own = _read(f"/proc/irq/{a.irq}/{name}")
            if isinstance(own, Reason):
                # missing: a kernel without effective affinity, or an IRQ freed meanwhile
                assert isinstance(field, Unread) and field.reason is own, (a.irq, name)
            else:
                assert field == parse_cpulist(own.strip()), (a.irq, name)
        hw = _read(f"/sys/kernel/irq/{a.irq}/hwirq")
        if isinstance(hw, str):
            assert a.hwirq == hw.strip()
        else:
            assert isinstance(a.hwirq, Unread)
    # every interface whose device lists MSI vectors owns them in the record
    for iface in os.listdir("/sys/class/net"):
        dev = os.path.realpath(f"/sys/class/net/{iface}/device")
        if not os.path.isdir(dev):
            continue
        msi = f"{dev}/msi_irqs"
        if not os.path.isdir(msi) and re.fullmatch(r"virtio\d+", os.path.basename(dev)):
            msi = f"{os.path.dirname(dev)}/msi_irqs"
        if not os.path.isdir(msi):
            assert iface in aff.unresolved_interfaces
            continue
        for n in os.listdir(msi):
            if int(n) in listed:
                assert iface in aff.irq(int(n)).interfaces, (iface, n)


@pytest.mark.live
def test_live_hwirq_in_proc_interrupts_matches_sysfs():
    host = open_host(None)
    t = read_interrupts(host).interrupts
    for r in t.numbered:
        hw = _read(f"/sys/kernel/irq/{r.key}/hwirq")
        if isinstance(hw, str) and r.hwirq is not None:
            assert r.hwirq == hw.strip(), r.key
