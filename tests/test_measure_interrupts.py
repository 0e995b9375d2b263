"""Interrupt and softirq rates over a window: exact arithmetic on written readings, counter
wrap, rows and CPUs that come and go, snapshots refused, and the live host."""

from __future__ import annotations

import pytest

from hftinfra.host import LiveHost, Reason, Unread, open_host
from hftinfra.irq import parse_interrupts, parse_softirqs
from hftinfra.measure.interrupts import SYSTEM_WIDE, interrupt_rates, sample_interrupts, softirq_rates


def interrupts(cpus, rows) -> str:
    """/proc/interrupts as kernel/irq/proc.c prints it (prec 3, %10u counts)."""
    lines = [" " * 11 + "".join(f"CPU{c:<8d}" for c in cpus)]
    for key, counts, tail in rows:
        lines.append(f"{key:>3}: " + "".join(f"{n:10d} " for n in counts) + tail)
    return "\n".join(lines) + "\n"


def softirqs(cpus, rows) -> str:
    lines = [" " * 20 + "".join(f"CPU{c:<8d}" for c in cpus)]
    lines += [f"{name:>12}:" + "".join(f" {n:10d}" for n in counts) for name, counts in rows]
    return "\n".join(lines) + "\n"


FIRST = interrupts([0, 1, 3], [
    (24, [10, 0, 5], " IR-PCI-MSI 1572864-edge      ens1f0-TxRx-0"),
    ("LOC", [1000, 2000, 3000], " Local timer interrupts"),
    ("RES", [1, 2, 4294967290], " Rescheduling interrupts"),
])
SECOND = interrupts([0, 1, 3], [
    (24, [30, 0, 5], " IR-PCI-MSI 1572864-edge      ens1f0-TxRx-0"),
    (25, [1, 0, 0], " IR-PCI-MSI 1572865-edge      ens1f0-TxRx-1"),
    ("LOC", [1250, 2000, 3001], " Local timer interrupts"),
    ("RES", [1, 2, 4], " Rescheduling interrupts"),
])


def test_rates_are_deltas_over_the_window():
    rates, left_out = interrupt_rates(parse_interrupts(FIRST), parse_interrupts(SECOND), 2.0)
    got = {(r.source, r.cpu): (r.delta, r.per_second) for r in rates}
    assert got[("24", 0)] == (20, 10.0) and got[("24", 1)] == (0, 0.0)
    assert got[("LOC", 0)] == (250, 125.0) and got[("LOC", 3)] == (1, 0.5)
    # A %10u counter that passed 2**32 wrapped: 4294967290 -> 4 is 10 interrupts.
    assert got[("RES", 3)] == (10, 5.0)
    # IRQ 25 was set up during the window: no rate, and it says so.
    assert ("25", 0) not in got and any("row 25" in x for x in left_out)
    assert next(r for r in rates if r.source == "24").label == "ens1f0-TxRx-0"


def test_a_cpu_going_offline_is_left_out_not_zero():
    second = interrupts([0, 3], [("LOC", [1100, 3100], " Local timer interrupts")])
    first = interrupts([0, 1, 3], [("LOC", [1000, 2000, 3000], " Local timer interrupts")])
    rates, left_out = interrupt_rates(parse_interrupts(first), parse_interrupts(second), 1.0)
    assert {r.cpu for r in rates} == {0, 3}
    assert any("CPUs 1" in x for x in left_out)


def test_one_total_rows_are_system_wide():
    first = interrupts([0, 1], [("LOC", [1, 1], " Local timer interrupts")]) + "ERR:          7\n"
    second = interrupts([0, 1], [("LOC", [2, 2], " Local timer interrupts")]) + "ERR:          9\n"
    rates, _ = interrupt_rates(parse_interrupts(first), parse_interrupts(second), 1.0)
    err = [r for r in rates if r.source == "ERR"]
    assert [(r.cpu, r.delta) for r in err] == [(SYSTEM_WIDE, 2)]


def test_softirq_rates():
    a = softirqs([0, 1], [("TIMER", [100, 200]), ("NET_RX", [5, 0])])
    b = softirqs([0, 1], [("TIMER", [110, 260]), ("NET_RX", [5, 40])])
    rates, left_out = softirq_rates(parse_softirqs(a), parse_softirqs(b), 4.0)
    got = {(r.source, r.cpu): r.per_second for r in rates}
    assert got == {("TIMER", 0): 2.5, ("TIMER", 1): 15.0, ("NET_RX", 0): 0.0, ("NET_RX", 1): 10.0}
    assert left_out == []


def test_window_must_be_positive():
    one = parse_interrupts(FIRST)
    with pytest.raises(ValueError):
        interrupt_rates(one, one, 0)


def test_a_snapshot_has_no_window(tmp_path):
    root = tmp_path / "s"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "interrupts").write_text(FIRST)
    got = sample_interrupts(open_host(root), 0.01)
    assert isinstance(got, Unread) and got.reason is Reason.UNSUPPORTED and "live host" in got.detail


def test_sampling_a_host_whose_files_change(tmp_path):
    # A live host rooted at a folder: the files are swapped between the two reads.
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "interrupts").write_text(FIRST)
    (proc / "softirqs").write_text(softirqs([0, 1, 3], [("TIMER", [1, 1, 1])]))
    ticks = iter([10.0, 10.0, 12.0, 12.0])

    def swap(_seconds):
        (proc / "interrupts").write_text(SECOND)
        (proc / "softirqs").write_text(softirqs([0, 1, 3], [("TIMER", [3, 1, 1])]))

    rates = sample_interrupts(LiveHost(root=str(tmp_path)), 2.0, sleep=swap, clock=lambda: next(ticks))
    assert rates.window_s == 2.0
    assert rates.rate("LOC", 0) == 125.0 and rates.rate("TIMER", 0) == 1.0
    assert isinstance(rates.rate("25", 0), Unread)
    assert [r.source for r in rates.on([0])][:2] == ["LOC", "24"]
    assert rates.per_cpu_total()[0] == 125.0 + 10.0


def test_softirqs_unreadable_keeps_the_interrupt_rates(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "interrupts").write_text(FIRST)
    rates = sample_interrupts(LiveHost(root=str(tmp_path)), 0.01, sleep=lambda s: None)
    assert rates.softirqs_unread is not None and rates.softirqs_unread.reason is Reason.MISSING
    assert rates.rate("LOC", 0) == 0.0
    assert isinstance(rates.rate("TIMER", 0), Unread)


@pytest.mark.live
def test_live_rates_cover_the_online_cpus():
    rates = sample_interrupts(open_host(None), 0.2)
    with open("/proc/interrupts") as fh:
        header = [int(w[3:]) for w in fh.readline().split()]
    if isinstance(rates, Unread):  # /proc/interrupts and /proc/softirqs both unreadable
        pytest.skip(str(rates))
    assert 0.15 < rates.window_s < 5
    cpus = {r.cpu for r in rates.rates if r.kind != "softirq" and r.cpu != SYSTEM_WIDE}
    assert cpus <= set(header)
    assert all(r.delta >= 0 and r.per_second >= 0 for r in rates.rates)
