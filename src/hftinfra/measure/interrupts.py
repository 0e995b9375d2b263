"""Interrupt and softirq rates per CPU over a window: /proc/interrupts and /proc/softirqs
read twice on a live host, the counts subtracted, divided by the window's length.

The counts are unsigned ints the kernel prints with ``%10u`` (kernel/irq/proc.c,
fs/proc/softirqs.c), so a counter that passed 2**32 during the window wrapped: the
difference is taken modulo 2**32. A row or a CPU column that exists in only one of the two
readings (an IRQ set up, a CPU taken offline meanwhile) gives no rate, and the result
lists what was left out and why, so a missing rate is never read as zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hftinfra.cpulist import format_cpulist
from hftinfra.host import Host, Reason, Unread
from hftinfra.irq import INTERRUPTS, SOFTIRQS, Interrupts, Softirqs, parse_interrupts, parse_softirqs
from hftinfra.records import html_table

COUNTER_MODULO = 1 << 32
# Named rows that carry one system-wide count (irq.TOTAL_ROWS) get a rate under this CPU key.
SYSTEM_WIDE = -1


@dataclass(frozen=True)
class Rate:
    """One source's rate on one CPU: events per second over the window, and the raw delta."""

    source: str  # "LOC", "RES", "NET_RX", or an IRQ number as text ("122")
    kind: str  # "irq" (numbered), "arch" (named row of /proc/interrupts) or "softirq"
    cpu: int  # SYSTEM_WIDE for a row with one total
    delta: int
    per_second: float
    label: str = ""  # the IRQ's actions or the row's description


@dataclass(frozen=True)
class InterruptRates:
    """Rates of every source on every CPU over one window on a live host."""

    window_s: float
    rates: tuple[Rate, ...]
    left_out: tuple[str, ...] = ()  # rows or CPUs seen in only one reading, with why
    sources: tuple[str, ...] = (INTERRUPTS, SOFTIRQS)
    interrupts_unread: Unread | None = None  # set when /proc/interrupts could not be read
    softirqs_unread: Unread | None = None

    def on(self, cpus: Iterable[int], kind: str | None = None, nonzero: bool = True) -> tuple[Rate, ...]:
        """The rates on these CPUs, highest first (only the non-zero ones by default)."""
        wanted = frozenset(cpus)
        out = [r for r in self.rates if r.cpu in wanted and (kind is None or r.kind == kind)
               and (r.delta or not nonzero)]
        return tuple(sorted(out, key=lambda r: (-r.per_second, r.kind, r.source, r.cpu)))

    def rate(self, source: str, cpu: int) -> float | Unread:
        """Events per second of one source on one CPU, or why there is none."""
        found = next((r for r in self.rates if r.source == source and r.cpu == cpu), None)
        if found is not None:
            return found.per_second
        unread = self.interrupts_unread if source not in _SOFTIRQ_NAMES else self.softirqs_unread
        if unread is not None:
            return unread
        return Unread(Reason.MISSING, f"{source} on CPU {cpu}",
                      "not in both readings (see left_out)" if self.left_out else "no such row or CPU")

    def per_cpu_total(self, kinds: Iterable[str] = ("irq", "arch")) -> dict[int, float]:
        """Interrupts per second on each CPU, summed over the sources of these kinds."""
        kinds = frozenset(kinds)
        totals: dict[int, float] = {}
        for r in self.rates:
            if r.kind in kinds and r.cpu != SYSTEM_WIDE:
                totals[r.cpu] = totals.get(r.cpu, 0.0) + r.per_second
        return totals

    def _repr_html_(self) -> str:
        busiest = sorted((r for r in self.rates if r.delta), key=lambda r: -r.per_second)[:40]
        rows = [[r.source, r.kind, "all" if r.cpu == SYSTEM_WIDE else r.cpu, f"{r.per_second:.1f}", r.delta, r.label]
                for r in busiest]
        note = f"over {self.window_s:.2f} s; the 40 busiest sources per CPU"
        if self.left_out:
            note += f"; left out: {'; '.join(self.left_out[:5])}"
        for unread in (self.interrupts_unread, self.softirqs_unread):
            if unread is not None:
                note += f"; {unread}"
        return html_table("Interrupt and softirq rates", ["source", "kind", "cpu", "per s", "delta", "what"],
                           rows, note)


_SOFTIRQ_NAMES = frozenset({"HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "BLOCK_IOPOLL", "IRQ_POLL", "TASKLET",
                            "SCHED", "HRTIMER", "RCU"})


def _delta(a: int, b: int) -> int:
    return (b - a) % COUNTER_MODULO


def interrupt_rates(first: Interrupts, second: Interrupts, window_s: float) -> tuple[list[Rate], list[str]]:
    """Rates between two parsed readings of /proc/interrupts."""
    rates: list[Rate] = []
    left_out: list[str] = []
    if window_s <= 0:
        raise ValueError(f"window must be positive, got {window_s}")
    before = {r.key: r for r in first.rows}
    after = {r.key: r for r in second.rows}
    for key in sorted(set(before) ^ set(after), key=str):
        left_out.append(f"{INTERRUPTS} row {key}: in only one reading (set up or freed meanwhile)")
    gone = set(first.cpus) ^ set(second.cpus)
    if gone:
        left_out.append(f"{INTERRUPTS} CPUs {format_cpulist(gone)}: a column in only one reading "
                        "(taken offline or brought online meanwhile)")
    for key, b in after.items():
        a = before.get(key)
        if a is None:
            continue
        kind = "irq" if b.numbered else "arch"
        label = ", ".join(b.actions) if b.numbered else (b.description or "")
        if not b.per_cpu:
            d = _delta(a.total, b.total)
            rates.append(Rate(str(key), kind, SYSTEM_WIDE, d, d / window_s, label))
            continue
        for cpu, n in b.counts.items():
            if cpu in a.counts:
                d = _delta(a.counts[cpu], n)
                rates.append(Rate(str(key), kind, cpu, d, d / window_s, label))
    return rates, left_out


def softirq_rates(first: Softirqs, second: Softirqs, window_s: float) -> tuple[list[Rate], list[str]]:
    """Rates between two parsed readings of /proc/softirqs."""
    if window_s <= 0:
        raise ValueError(f"window must be positive, got {window_s}")
    rates: list[Rate] = []
    left_out = [f"{SOFTIRQS} row {n}: in only one reading"
                for n in sorted({r.name for r in first.rows} ^ {r.name for r in second.rows})]
    before = {r.name: r for r in first.rows}
    for b in second.rows:
        a = before.get(b.name)
        if a is None:
            continue
        for cpu, n in b.counts.items():
            if cpu in a.counts:
                d = _delta(a.counts[cpu], n)
                rates.append(Rate(b.name, "softirq", cpu, d, d / window_s))
    return rates, left_out


@dataclass(frozen=True)
class Reading:
    """One reading of both counter files on a live host, at ``at`` (the middle of the two
    reads, on the clock the sampler was given)."""

    at: float
    interrupts: Interrupts | Unread
    softirqs: Softirqs | Unread


def take_reading(host: Host, clock: Callable[[], float] = time.monotonic) -> Reading | Unread:
    """The first (or any) reading of a window. Only a live host has a second one."""
    if not host.is_live:
        return Unread(Reason.UNSUPPORTED, INTERRUPTS,
                      "a snapshot holds one reading of the counters; rates need a live host")
    t0 = clock()
    irqs = host.read_value(INTERRUPTS, parse_interrupts)
    soft = host.read_value(SOFTIRQS, parse_softirqs)
    return Reading((t0 + clock()) / 2, irqs, soft)


def rates_between(first: Reading, second: Reading) -> InterruptRates | Unread:
    """Rates of every source between two readings; the window is the time between them."""
    window = second.at - first.at
    if window <= 0:
        raise ValueError("the clock did not advance over the window")
    rates: list[Rate] = []
    left_out: list[str] = []
    irq_unread = next((x for x in (first.interrupts, second.interrupts) if isinstance(x, Unread)), None)
    soft_unread = next((x for x in (first.softirqs, second.softirqs) if isinstance(x, Unread)), None)
    if irq_unread is None:
        r, lo = interrupt_rates(first.interrupts, second.interrupts, window)  # type: ignore[arg-type]
        rates += r
        left_out += lo
    if soft_unread is None:
        r, lo = softirq_rates(first.softirqs, second.softirqs, window)  # type: ignore[arg-type]
        rates += r
        left_out += lo
    if irq_unread is not None and soft_unread is not None:
        return irq_unread
    return InterruptRates(window_s=window, rates=tuple(rates), left_out=tuple(left_out),
                          interrupts_unread=irq_unread, softirqs_unread=soft_unread)


def finish_window(host: Host, first: Reading, window_s: float, *, sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic) -> InterruptRates | Unread:
    """Wait until ``window_s`` has passed since ``first`` (not again if it already has), read
    again, and return the rates over the whole measured window."""
    if not window_s > 0:
        raise ValueError(f"window must be positive, got {window_s}")
    left = window_s - (clock() - first.at)
    if left > 0:
        sleep(left)
    second = take_reading(host, clock)
    if isinstance(second, Unread):
        return second
    return rates_between(first, second)


# Where a snapshot keeps the two readings of its counter window, and its meta.json key.
WINDOW_DIR = "/hftinfra/window"
WINDOW_META = "counter_window"
WINDOW_FILES = {"interrupts": INTERRUPTS, "softirqs": SOFTIRQS}


def window_texts(host: Host) -> dict[str, str | Unread]:
    """The raw counter files of one reading, for a snapshot to keep (``interrupts``,
    ``softirqs`` -> text)."""
    return {name: host.read(path) for name, path in WINDOW_FILES.items()}


def recorded_window(host: Host) -> InterruptRates | Unread:
    """The rates over the counter window a snapshot recorded when it was captured
    (``hftinfra snapshot --counter-window``), or why there is none."""
    if host.is_live:
        return Unread(Reason.UNSUPPORTED, WINDOW_DIR, "a live host has no recorded window: sample it")
    spec = host.meta.get(WINDOW_META)
    if not isinstance(spec, dict):
        return Unread(Reason.UNSUPPORTED, INTERRUPTS,
                      "a snapshot holds one reading of the counters and this one recorded no counter window; "
                      "rates need a live host, or a snapshot taken with --counter-window")
    seconds = spec.get("seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds > 0:
        return Unread(Reason.MALFORMED, f"meta.json {WINDOW_META}", f"window length {seconds!r} is not a positive number")

    def reading(which: str, at: float) -> Reading:
        def parsed(name: str, parse):
            path = f"{WINDOW_DIR}/{which}/{name}"
            return host.read_value(path, parse)
        return Reading(at, parsed("interrupts", parse_interrupts), parsed("softirqs", parse_softirqs))

    return rates_between(reading("first", 0.0), reading("second", float(seconds)))


def sample_interrupts(host: Host, window_s: float = 1.0, *, sleep: Callable[[float], None] = time.sleep,
                      clock: Callable[[], float] = time.monotonic) -> InterruptRates | Unread:
    """Read /proc/interrupts and /proc/softirqs, wait ``window_s``, read them again, and
    return the rates. The window is measured, not assumed: it runs from the middle of the
    first pair of reads to the middle of the second. Only a live host has a second reading."""
    if not window_s > 0:
        raise ValueError(f"window must be positive, got {window_s}")
    first = take_reading(host, clock)
    if isinstance(first, Unread):
        return first
    sleep(window_s)
    second = take_reading(host, clock)
    if isinstance(second, Unread):
        return second
    return rates_between(first, second)


__all__ = ["InterruptRates", "Rate", "Reading", "SYSTEM_WIDE", "WINDOW_DIR", "WINDOW_META", "finish_window",
           "interrupt_rates", "rates_between", "recorded_window", "sample_interrupts", "softirq_rates", "take_reading",
           "window_texts"]
