"""The networking lab: RPS, XPS and UDP round trips, for real, between two network
namespaces joined by a multi-queue veth pair (see :mod:`hftinfra.labs.harness`).

Three parts, each in namespaces of its own, every change undone when the lab ends:

- **RPS** (Documentation/networking/scaling.rst, "RPS: Receive Packet Steering"). A
  sender pinned to one CPU blasts UDP datagrams from namespace A to B. veth hands each
  packet to the receive path (``__netif_rx``) on the sending CPU, so without RPS the
  NET_RX softirqs run there. Then ``rps_cpus`` of every receive queue of B is set to one
  other CPU, the one that did the least receive work, and the same blast runs again. NET_RX
  is counted per CPU from /proc/softirqs (host-wide, so deltas over the sender's own
  window), and the verdict, moved or not, is computed from those counts.
- **XPS** (scaling.rst, "XPS: Transmit Packet Steering"). veth keeps no per-queue packet
  counts of ordinary traffic: its ``ethtool -S`` queue counters count only packets that
  went through its NAPI (XDP or GRO on; none by default), its queues have no
  ``byte_queue_limits``, and it runs without a qdisc (``noqueue``). The lab
  gives A's end an ``mq`` root qdisc, whose one child per transmit queue counts what that
  queue sent (``tc -s qdisc``). A sender pinned to each CPU in turn sends without XPS (the
  flow hash picks the queue), then with ``xps_cpus`` mapping each CPU to one queue it did
  not use before; the verdict is computed from the per-queue counts.
- **Ping-pong**. An echo server in B, a client in A sending one small datagram at a time
  and timing each round trip with ``time.perf_counter_ns``: without and with busy polling
  (``SO_BUSY_POLL`` on both sockets), and with veth's NAPI off (its default) and on.
  Busy polling polls a NAPI instance named by the socket's NAPI id (include/net/busy_poll.h:
  ids below ``MIN_NAPI_ID``, NR_CPUS + 1, are not NAPI ids; Documentation/networking/napi.rst,
  "Busy polling"). veth sets up NAPI for its receive queues only while an XDP program is
  attached or GRO is on, and ``veth_xmit`` hands a packet to that NAPI only when the
  sending end has TSO off or, for locally sent UDP, the receiving end has GRO fraglist or
  UDP GRO forwarding on (drivers/net/veth.c, ``veth_skb_is_eligible_for_gro``); otherwise
  the packet takes the per-CPU backlog, which has no NAPI id. The NAPI condition turns GRO
  on and TSO off on both ends. UDP GRO forwarding stays off: with it, on kernel 6.18 here,
  a datagram for a local socket waited until the busy-poll loop timed out.
  Whether busy polling was honoured is read, not assumed: the NAPI ids the sockets report
  (``SO_INCOMING_NAPI_ID``) and the namespaces' ``BusyPollRxPackets`` (/proc/net/netstat).
  Each pair of conditions is interleaved in blocks, and a sign test over the blocks' medians
  says whether a difference is beyond the noise (on a VM, steal time moves every figure).

Addresses come from the harness (198.18.0.0/15). Nothing here touches the host's settings:
rps_cpus and xps_cpus are those of the lab's veths (restored by the harness, then deleted
with their namespaces), busy polling is set per socket, and ``net.core.busy_read`` is only
read.
"""

from __future__ import annotations

import json
import math
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hftinfra.cpulist import format_cpulist, format_cpumask, parse_cpumask
from hftinfra.host import Reason, Unread
from hftinfra.irq import parse_softirqs
from hftinfra.labs.harness import (
    CleanupReport,
    Lab,
    LabError,
    LabProcess,
    LabUnavailable,
    VethPair,
    check_tools,
    lab_capability,
    page_view,
)
from hftinfra.measure.interrupts import softirq_rates
from hftinfra.records import html_table, show, to_jsonable

SCHEMA = "hftinfra.lab.net"
SCHEMA_VERSION = 1

PARTS = ("rps", "xps", "ping-pong")
# What a page asks for: lab_view(part) runs these parts.
PAGE_PARTS = {"rps-xps": ("rps", "xps"), "ping-pong": ("ping-pong",)}

# include/uapi/asm-generic/socket.h (x86, arm64, riscv and most others; alpha, mips,
# parisc and sparc number them differently). Python's socket module names neither.
SO_BUSY_POLL = 46
SO_INCOMING_NAPI_ID = 56

QUEUES = 4
RPS_PACKETS = 20_000
XPS_PACKETS = 1_000
ROUND_TRIPS = 5_000
BUSY_POLL_US = 50  # tuned's network-latency profile sets busy_read and busy_poll to 50
PORT = 9000  # the receiver of RPS and XPS; the echo servers take PORT and PORT + 1
# A CPU that processes every packet runs NET_RX at least once per netdev_budget packets
# (net_rx_action's budget, net.core.netdev_budget, 300 by default): RPS moved the work
# when the chosen CPU's NET_RX rose by at least half that rate.
NETDEV_BUDGET_DEFAULT = 300
MIN_MOVED_EVENTS = 5
XPS_MIN_SHARE = 0.95  # of the packets a pinned sender sent, on the queue XPS maps its CPU to
BLOCKS = 20
NOISE_P = 0.05

DOCS = {
    "rps": "Documentation/networking/scaling.rst (RPS: Receive Packet Steering)",
    "xps": "Documentation/networking/scaling.rst (XPS: Transmit Packet Steering)",
    "busy-poll": "Documentation/networking/napi.rst (Busy polling); include/net/busy_poll.h (MIN_NAPI_ID)",
    "veth": "drivers/net/veth.c (veth_xmit, veth_skb_is_eligible_for_gro)",
}


# ---------------------------------------------------------------------------------------
# Pure parts: statistics and verdicts on given numbers


def percentile(sorted_samples: Sequence[int], q: float) -> int:
    """Nearest rank: the smallest sample with at least ``q`` percent of the samples at or
    below it. ``sorted_samples`` must be sorted.

    >>> percentile([10, 20, 30, 40], 50), percentile([10, 20, 30, 40], 99), percentile([5], 0)
    (20, 40, 5)
    """
    n = len(sorted_samples)
    if n == 0:
        raise ValueError("no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0-100, not {q}")
    # round(): 99.9 / 100 * 1000 is 999.0000000000001 in floating point, not 999.
    rank = max(1, math.ceil(round(q * n / 100, 9)))
    return sorted_samples[min(rank, n) - 1]


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of a set of round trips, in nanoseconds (nearest rank)."""

    count: int
    min_ns: int
    p50_ns: int
    p90_ns: int
    p99_ns: int
    p999_ns: int
    max_ns: int
    mean_ns: float

    def row_us(self) -> list[str]:
        return [f"{v / 1000:.1f}" for v in (self.p50_ns, self.p90_ns, self.p99_ns, self.p999_ns,
                                             self.max_ns)]


def summarize(samples: Iterable[int]) -> LatencySummary:
    xs = sorted(samples)
    if not xs:
        raise ValueError("no samples")
    return LatencySummary(len(xs), xs[0], percentile(xs, 50), percentile(xs, 90), percentile(xs, 99),
                          percentile(xs, 99.9), xs[-1], sum(xs) / len(xs))


def ccdf(samples: Iterable[int], max_points: int = 400) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The complementary CDF: points (x, fraction of samples >= x), x ascending, the
    fraction from 1 down to 1/n. At most about ``max_points`` points, spaced evenly in the
    log of the tail count, so the tail keeps every one of its largest samples.

    >>> ccdf([3, 1, 2, 4])
    ((1, 2, 3, 4), (1.0, 0.75, 0.5, 0.25))
    """
    xs = sorted(samples)
    n = len(xs)
    if n == 0:
        return (), ()
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    ranks = {0, n - 1}
    for k in range(max_points):
        tail = n ** (1 - k / (max_points - 1))  # from n samples at or above, down to 1
        ranks.add(min(n - 1, max(0, n - int(round(tail)))))
    idx = sorted(ranks)
    return tuple(xs[i] for i in idx), tuple((n - i) / n for i in idx)


def block_medians(samples: Sequence[int], sizes: int | Sequence[int]) -> tuple[int, ...]:
    """The median (p50) of each block of consecutive samples: ``sizes`` is every block's
    length, or one length for all (then a short last block is left out).

    >>> block_medians([1, 2, 3, 10, 20, 30, 7], 3)
    (2, 20)
    >>> block_medians([1, 2, 3, 10, 20], [3, 2])
    (2, 10)
    """
    if isinstance(sizes, int):
        if sizes < 1:
            raise ValueError("a block must hold at least 1 sample")
        sizes = [sizes] * (len(samples) // sizes)
    elif sum(sizes) != len(samples) or any(n < 1 for n in sizes):
        raise ValueError(f"block sizes {list(sizes)} do not divide {len(samples)} samples")
    out, start = [], 0
    for n in sizes:
        out.append(percentile(sorted(samples[start:start + n]), 50))
        start += n
    return tuple(out)


def sign_test(differences: Iterable[float]) -> tuple[int, int, float]:
    """(below zero, above zero, two-sided p): the exact binomial sign test of paired
    differences, ties left out. p is the chance of a split at least this uneven if both
    signs were equally likely.

    >>> sign_test([-1] * 10)
    (10, 0, 0.001953125)
    >>> sign_test([-1, 1, -2, 2])[2]
    1.0
    """
    diffs = list(differences)
    below = sum(1 for d in diffs if d < 0)
    above = sum(1 for d in diffs if d > 0)
    n = below + above
    if n == 0:
        return 0, 0, 1.0
    k = min(below, above)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return below, above, min(1.0, 2 * tail)


@dataclass(frozen=True)
class Comparison:
    """One condition against another, over blocks run alternately (paired in time)."""

    baseline: str
    candidate: str
    p50_delta_ns: int  # candidate minus baseline, over all round trips
    p99_delta_ns: int
    blocks: int  # paired blocks whose medians differ
    faster_blocks: int  # of those, where the candidate's median was lower
    p_value: float
    beyond_noise: bool
    text: str


def compare(baseline: str, base_summary: LatencySummary, base_blocks: Sequence[int],
            candidate: str, cand_summary: LatencySummary, cand_blocks: Sequence[int],
            alpha: float = NOISE_P) -> Comparison:
    """The candidate's medians against the baseline's, block by block. Beyond noise when
    the sign test over the paired blocks gives p < ``alpha``; otherwise within noise,
    whatever the overall difference."""
    diffs = [c - b for b, c in zip(base_blocks, cand_blocks, strict=False)]
    faster, slower, p = sign_test(diffs)
    beyond = p < alpha
    d50 = cand_summary.p50_ns - base_summary.p50_ns
    d99 = cand_summary.p99_ns - base_summary.p99_ns
    n = faster + slower
    if n == 0:
        verdict = "no paired blocks to compare"
    elif beyond:
        verdict = f"beyond noise: {'faster' if faster > slower else 'slower'} in {max(faster, slower)} of {n} paired blocks (sign test p={p:.2g})"
    else:
        verdict = f"within noise: faster in {faster} of {n} paired blocks (sign test p={p:.2g})"
    text = (f"{candidate} vs {baseline}: p50 {d50 / 1000:+.1f} us, p99 {d99 / 1000:+.1f} us; {verdict}")
    return Comparison(baseline, candidate, d50, d99, n, faster, p, beyond, text)


@dataclass(frozen=True)
class RpsVerdict:
    """Whether the receive work moved to the CPU RPS was pointed at, from the counts."""

    moved: bool | None  # None: nothing to show (one CPU)
    target_cpu: int | None
    receive_cpu: int | None  # where NET_RX ran most without RPS
    before: int  # NET_RX on the target without RPS
    after: int  # and with RPS
    before_per_1k: float  # per 1000 packets sent
    after_per_1k: float
    threshold_per_1k: float
    text: str


def rps_verdict(before: Mapping[int, int], after: Mapping[int, int], *, target_cpu: int | None,
                packets_before: int, packets_after: int,
                netdev_budget: int = NETDEV_BUDGET_DEFAULT) -> RpsVerdict:
    """Moved when NET_RX on ``target_cpu`` rose, per packet sent, by at least half of
    1000/netdev_budget per 1000 packets (the least a CPU that processes every packet runs
    it) and by at least MIN_MOVED_EVENTS softirqs.

    >>> rps_verdict({0: 20000, 1: 3}, {0: 1600, 1: 1601}, target_cpu=1,
    ...             packets_before=20000, packets_after=20000).moved
    True
    """
    receive_cpu = max(before, key=lambda c: (before[c], -c)) if before else None
    if target_cpu is None:
        return RpsVerdict(None, None, receive_cpu, 0, 0, 0.0, 0.0, 0.0,
                          "not shown: RPS needs a second CPU to move the receive work to")
    if packets_before <= 0 or packets_after <= 0:
        raise ValueError("packet counts must be positive")
    if netdev_budget <= 0:
        raise ValueError("netdev_budget must be positive")
    b, a = before.get(target_cpu, 0), after.get(target_cpu, 0)
    b_k, a_k = 1000 * b / packets_before, 1000 * a / packets_after
    threshold = 500 / netdev_budget
    moved = (a_k - b_k) >= threshold and (a - b * packets_after / packets_before) >= MIN_MOVED_EVENTS
    how = "moved" if moved else "did not move"
    text = (f"{how}: NET_RX on CPU {target_cpu} went from {b} ({b_k:.1f} per 1000 packets) without RPS "
            f"to {a} ({a_k:.1f} per 1000) with RPS on CPU {target_cpu}; a move needs +{threshold:.1f} per 1000")
    if receive_cpu is not None and receive_cpu != target_cpu:
        text += (f"; CPU {receive_cpu}, which did the receive work before, went from "
                 f"{before.get(receive_cpu, 0)} to {after.get(receive_cpu, 0)}")
    return RpsVerdict(moved, target_cpu, receive_cpu, b, a, b_k, a_k, threshold, text)


def choose_rps_target(before: Mapping[int, int], cpus: Sequence[int], sender_cpu: int) -> int | None:
    """The CPU to steer to: one that did not do the receive work without RPS (the busiest
    CPU in ``before``), preferring CPUs other than the sender's, then the least NET_RX, then
    the lowest number; None with one CPU.

    >>> choose_rps_target({0: 20000, 1: 2}, [0, 1], 0), choose_rps_target({0: 3, 1: 20000}, [0, 1], 0)
    (1, 0)
    """
    if len(cpus) < 2:
        return None
    receive = busiest({c: before.get(c, 0) for c in cpus})
    candidates = [c for c in cpus if c != receive] or list(cpus)
    return min(candidates, key=lambda c: (c == sender_cpu, before.get(c, 0), c))


def busiest(counts: Mapping[int, int]) -> int | None:
    """The key with the largest count (the lowest key on a tie), None when all are zero."""
    if not counts or max(counts.values()) <= 0:
        return None
    return max(counts, key=lambda k: (counts[k], -k))


def choose_xps_queues(cpus: Sequence[int], baseline: Mapping[int, Mapping[int, int]],
                      queues: int) -> dict[int, int]:
    """CPU -> the one transmit queue XPS maps it to: for each CPU in turn, the highest
    numbered free queue that its sender did not use without XPS, so that following the map
    is visible. CPUs beyond the number of queues get none.

    >>> choose_xps_queues([0, 1], {0: {0: 1000}, 1: {3: 1000}}, 4)
    {0: 3, 1: 2}
    """
    chosen: dict[int, int] = {}
    for cpu in cpus:
        free = [q for q in reversed(range(queues)) if q not in chosen.values()]
        if not free:
            break
        used = busiest(baseline.get(cpu, {}))
        chosen[cpu] = next((q for q in free if q != used), free[0])
    return chosen


@dataclass(frozen=True)
class XpsVerdict:
    steered: bool | None  # None: no per-queue counts to judge by
    shares: dict[int, float]  # CPU -> share of its packets on the queue XPS maps it to
    text: str


def xps_verdict(with_xps: Mapping[int, Mapping[int, int]], mapping: Mapping[int, int],
                min_share: float = XPS_MIN_SHARE) -> XpsVerdict:
    """Steered when, for every mapped CPU, at least ``min_share`` of the packets its pinned
    sender sent left on the queue XPS maps that CPU to.

    >>> xps_verdict({0: {3: 1001, 0: 2}}, {0: 3}).steered
    True
    """
    shares: dict[int, float] = {}
    parts = []
    for cpu, queue in mapping.items():
        counts = with_xps.get(cpu) or {}
        total = sum(counts.values())
        if total <= 0:
            continue
        shares[cpu] = counts.get(queue, 0) / total
        parts.append(f"CPU {cpu}: {counts.get(queue, 0)} of {total} on tx-{queue}")
    if not shares:
        return XpsVerdict(None, {}, "not judged: no packets were counted on any queue")
    steered = len(shares) == len(mapping) and all(s >= min_share for s in shares.values())
    how = "followed the map" if steered else "did not follow the map"
    return XpsVerdict(steered, shares, f"{how} ({'; '.join(parts)}; needs {min_share:.0%} each)")


def napi_id_valid(napi_id: int | None, nr_cpus: int | None) -> bool | None:
    """include/net/busy_poll.h: 0 is unset, 1..NR_CPUS are sender CPUs sharing the field,
    NAPI ids start at NR_CPUS + 1. None when NR_CPUS is unknown and the id is not 0."""
    if napi_id is None:
        return None
    if napi_id == 0:
        return False
    if nr_cpus is None:
        return None
    return napi_id > nr_cpus


def busy_poll_verdict(plain_ids: Sequence[int], napi_ids: Sequence[int], busy_rx_packets: int | Unread,
                      nr_cpus: int | None) -> tuple[bool | None, str]:
    """Whether veth honoured busy polling: the sockets had NAPI ids once veth's NAPI was on,
    and the kernel counted packets received by busy polling (BusyPollRxPackets). ``plain_ids``
    are the NAPI ids the sockets reported with veth's default settings, ``napi_ids`` those
    with NAPI on; ``busy_rx_packets`` the counter's rise over the busy-polling condition."""
    plain_valid = [napi_id_valid(i, nr_cpus) for i in plain_ids]
    with_valid = [napi_id_valid(i, nr_cpus) for i in napi_ids]
    if any(plain_valid):
        plain = f"unexpected: with veth's defaults a socket already had NAPI id {max(plain_ids)}"
    else:
        plain = (f"with veth's defaults (GRO off) the sockets had no NAPI id ({', '.join(map(str, plain_ids))}): "
                 "busy polling had nothing to poll")
    if not all(v is True for v in with_valid):
        return False, plain + (f"; with GRO on and TSO off the NAPI ids were {', '.join(map(str, napi_ids))}, "
                               "not all valid: veth did not use NAPI for these packets")
    ids = f"with GRO on and TSO off the sockets had NAPI ids {', '.join(map(str, napi_ids))}"
    if isinstance(busy_rx_packets, Unread):
        return None, f"{plain}; {ids}; whether busy polling received packets is {busy_rx_packets}"
    if busy_rx_packets > 0:
        return True, f"{plain}; {ids} and busy polling received {busy_rx_packets} packets (BusyPollRxPackets)"
    return False, f"{plain}; {ids}, yet busy polling received no packets (BusyPollRxPackets did not rise)"


def napi_busy_poll_rx(rises: Mapping[str, int | Unread]) -> int | Unread:
    """Packets received by busy polling over the NAPI run, both namespaces together (the
    ``NAPI:`` entries of ``PingPongResult.busy_poll_rx_packets``), or why unknown."""
    values = [v for k, v in rises.items() if k.startswith("NAPI:")]
    unread = [v for v in values if isinstance(v, Unread)]
    if unread:
        return unread[0]
    if not values:
        return Unread(Reason.MISSING, "/proc/net/netstat", "no reading over the NAPI run")
    return sum(values)  # type: ignore[arg-type]


def parse_proc_net_pairs(text: str) -> dict[str, dict[str, int]]:
    """/proc/net/snmp and /proc/net/netstat: pairs of lines, names then values, each
    starting with the same ``Group:`` (net/ipv4/proc.c).

    >>> parse_proc_net_pairs("Udp: InDatagrams NoPorts\\nUdp: 12 3\\n")["Udp"]
    {'InDatagrams': 12, 'NoPorts': 3}
    """
    out: dict[str, dict[str, int]] = {}
    lines = [line.split() for line in text.splitlines() if line.strip()]
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if not names or names[0] != values[0] or not names[0].endswith(":"):
            raise ValueError(f"not a pair of lines of one group: {names[:1]} {values[:1]}")
        if len(names) != len(values):
            raise ValueError(f"{names[0]} has {len(names) - 1} names but {len(values) - 1} values")
        group = names[0][:-1]
        out.setdefault(group, {}).update({n: int(v) for n, v in zip(names[1:], values[1:], strict=True)})
    return out


def parse_steal_ticks(text: str) -> dict[int, int]:
    """/proc/stat: steal time per CPU in USER_HZ ticks (the 8th number of each cpuN line,
    Documentation/filesystems/proc.rst, "1.8 Miscellaneous kernel statistics")."""
    out: dict[int, int] = {}
    for line in text.splitlines():
        words = line.split()
        if words and words[0].startswith("cpu") and words[0][3:].isdigit() and len(words) > 8:
            out[int(words[0][3:])] = int(words[8])
    return out


# ---------------------------------------------------------------------------------------
# Records


def _text_table(header: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> str:
    cells = [[show(c) for c in row] for row in rows]
    widths = [max(len(str(r[i])) for r in [list(header), *cells]) for i in range(len(header))]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += [indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _cpu_counts(counts: Mapping[int, int]) -> str:
    return ", ".join(f"CPU {c}: {n}" for c, n in sorted(counts.items()))


@dataclass(frozen=True)
class RpsPhase:
    """One blast of datagrams from A to B and what it cost per CPU."""

    label: str
    rps_cpus: str  # the mask every receive queue of B held ("0": RPS off)
    packets_sent: int
    delivered: int  # datagrams B's receiver had read when the blast ended (Udp InDatagrams)
    dropped: int  # datagrams B dropped at the receiver's full socket buffer (Udp RcvbufErrors)
    net_rx: dict[int, int]  # NET_RX softirqs per CPU over the sender's window
    window_s: float
    send_s: float


@dataclass(frozen=True)
class RpsResult:
    sender_cpu: int
    cpus: tuple[int, ...]
    queues: int
    netdev_budget: int
    phases: tuple[RpsPhase, ...]
    verdict: RpsVerdict
    docs: str = DOCS["rps"]

    def to_json(self) -> dict:
        return to_jsonable(self)

    def rows(self) -> list[list[object]]:
        out = []
        for p in self.phases:
            per_k = ", ".join(f"{1000 * p.net_rx.get(c, 0) / p.packets_sent:.1f}" for c in self.cpus)
            out.append([p.label, p.rps_cpus, p.packets_sent, f"{p.delivered} ({p.dropped} dropped)",
                        _cpu_counts({c: p.net_rx.get(c, 0) for c in self.cpus}), per_k, f"{p.window_s * 1000:.0f} ms"])
        return out

    HEADER = ("phase", "rps_cpus", "sent", "delivered", "NET_RX per CPU", "per 1000 packets", "window")

    def to_text(self) -> str:
        return "\n".join([
            f"RPS: sender pinned to CPU {self.sender_cpu}, {self.queues} receive queues on B",
            _text_table(self.HEADER, self.rows()),
            f"  verdict: {self.verdict.text}",
        ])

    def figure(self):
        from hftinfra.viz.lab import net_rx_figure

        return net_rx_figure([(p.label, p.net_rx, p.packets_sent) for p in self.phases], self.verdict.target_cpu)

    def _repr_html_(self) -> str:
        from hftinfra.viz import figure_html

        note = (f"Sender pinned to CPU {self.sender_cpu}; NET_RX counted from /proc/softirqs over the sender's "
                f"window. Verdict: {self.verdict.text}. Source: {self.docs}.")
        return (html_table("RPS: where the receive work ran", list(self.HEADER), self.rows(), note)
                + figure_html(self.figure().to_dict()))


@dataclass(frozen=True)
class XpsRun:
    phase: str  # "without XPS" or "with XPS"
    cpu: int  # the sender's CPU
    packets_sent: int
    per_queue: dict[int, int]  # transmit queue -> packets its mq child counted


@dataclass(frozen=True)
class XpsResult:
    queues: int
    cpus: tuple[int, ...]
    mapping: dict[int, int]  # CPU -> transmit queue
    xps_cpus: dict[int, str]  # transmit queue -> the mask written
    runs: tuple[XpsRun, ...]
    observable: str
    verdict: XpsVerdict
    docs: str = DOCS["xps"]

    def to_json(self) -> dict:
        return to_jsonable(self)

    HEADER = ("phase", "sender CPU", "XPS queue", "sent", "packets per tx queue")

    def rows(self) -> list[list[object]]:
        out = []
        for r in self.runs:
            queue = self.mapping.get(r.cpu) if r.phase == "with XPS" else None
            per = ", ".join(f"tx-{q}: {n}" for q, n in sorted(r.per_queue.items())) or "none counted"
            out.append([r.phase, r.cpu, f"tx-{queue}" if queue is not None else "-", r.packets_sent, per])
        return out

    def to_text(self) -> str:
        written = ", ".join(f"tx-{q}/xps_cpus={m}" for q, m in sorted(self.xps_cpus.items())) or "nothing"
        return "\n".join([
            f"XPS: {self.queues} transmit queues on A; wrote {written}",
            f"  counted by: {self.observable}",
            _text_table(self.HEADER, self.rows()),
            f"  verdict: {self.verdict.text}",
        ])

    def _repr_html_(self) -> str:
        written = ", ".join(f"tx-{q}/xps_cpus = {m}" for q, m in sorted(self.xps_cpus.items())) or "nothing"
        note = (f"Wrote {written}. Counted by {self.observable}. Verdict: {self.verdict.text}. "
                f"Source: {self.docs}.")
        return html_table("XPS: which transmit queue carried a pinned sender's packets", list(self.HEADER),
                          self.rows(), note)


@dataclass(frozen=True)
class PingPongArm:
    """One condition: round trips in order, their summary and the medians of their blocks."""

    name: str
    napi: bool  # GRO on and TSO off on both veth ends
    busy_poll_us: int  # SO_BUSY_POLL on the client's and the server's socket
    rtt_ns: tuple[int, ...] = field(repr=False)
    summary: LatencySummary
    block_p50_ns: tuple[int, ...]
    client_napi_id: int
    server_napi_id: int


@dataclass(frozen=True)
class PingPongResult:
    client_cpu: int
    server_cpu: int
    busy_poll_us: int
    busy_read: str  # net.core.busy_read on the host, read only
    nr_cpus: int | None  # the kernel's NR_CPUS (kernel_max + 1), for judging NAPI ids
    features: dict[str, str]  # NAPI condition: the GRO and TSO state ethtool reported, per end
    arms: tuple[PingPongArm, ...]
    comparisons: tuple[Comparison, ...]
    # BusyPollRxPackets' rise per namespace over each run: "defaults: A (client)", "NAPI: B (server)", ...
    busy_poll_rx_packets: dict[str, int | Unread]
    honoured: bool | None
    honoured_text: str
    steal_ms: dict[int, float]  # steal time per CPU over the round trips
    window_s: float
    docs: str = DOCS["busy-poll"] + "; " + DOCS["veth"]

    def to_json(self, samples: bool = False) -> dict:
        doc = to_jsonable(self)
        if not samples:
            for arm in doc["arms"]:
                arm.pop("rtt_ns", None)
        return doc

    HEADER = ("condition", "NAPI", "busy poll", "round trips", "p50 us", "p90 us", "p99 us", "p99.9 us",
              "max us", "NAPI ids (client, server)")

    def rows(self) -> list[list[object]]:
        return [[a.name, "on" if a.napi else "off", f"{a.busy_poll_us} us" if a.busy_poll_us else "off",
                 a.summary.count, *a.summary.row_us(), f"{a.client_napi_id}, {a.server_napi_id}"]
                for a in self.arms]

    def _features_text(self) -> str:
        return "; ".join(f"{end}: {state}" for end, state in self.features.items())

    def _steal_text(self) -> str:
        if not self.steal_ms:
            return "steal time: not read"
        parts = ", ".join(f"CPU {c}: {ms:.0f} ms" for c, ms in sorted(self.steal_ms.items()))
        return f"steal time over {self.window_s:.1f} s of round trips: {parts}"

    def to_text(self) -> str:
        lines = [f"Ping-pong: client on CPU {self.client_cpu}, echo server on CPU {self.server_cpu}, "
                 f"busy poll {self.busy_poll_us} us per socket (host net.core.busy_read={self.busy_read})",
                 _text_table(self.HEADER, self.rows())]
        lines += [f"  {c.text}" for c in self.comparisons]
        lines.append(f"  busy polling honoured: {show(self.honoured)}: {self.honoured_text}")
        lines.append(f"  NAPI condition, as ethtool -k reads it: {self._features_text()}")
        lines.append(f"  {self._steal_text()}")
        return "\n".join(lines)

    def figure(self):
        from hftinfra.viz.lab import rtt_ccdf_figure

        return rtt_ccdf_figure([(a.name, *ccdf(a.rtt_ns)) for a in self.arms])

    def _repr_html_(self) -> str:
        from html import escape

        from hftinfra.viz import figure_html

        note = (f"Client pinned to CPU {self.client_cpu}, echo server to CPU {self.server_cpu}; each round "
                f"trip timed with time.perf_counter_ns (a Python loop: a few hundred ns of its own). "
                f"Busy polling: SO_BUSY_POLL {self.busy_poll_us} us on both sockets (the host's "
                f"net.core.busy_read is {self.busy_read}, untouched). NAPI condition, as ethtool -k reads it: "
                f"{self._features_text()}. {self._steal_text()}.")
        items = "".join(f"<li>{escape(c.text)}</li>" for c in self.comparisons)
        items += f"<li>busy polling honoured: {escape(show(self.honoured))}: {escape(self.honoured_text)}</li>"
        return (html_table("UDP round trips between two namespaces", list(self.HEADER), self.rows(), note)
                + f"<ul>{items}</ul><p><small>Sources: {escape(self.docs)}.</small></p>"
                + figure_html(self.figure().to_dict()))


@dataclass(frozen=True)
class NetLabResult:
    """What ``hftinfra lab net`` and the pages show: the parts that ran, and the cleanup."""

    parts: tuple[str, ...]
    kernel: str
    cpus: tuple[int, ...]
    queues: int
    rps: RpsResult | None
    xps: XpsResult | None
    ping_pong: PingPongResult | None
    cleanup: str  # the harness's one-line cleanup summary
    elapsed_s: float
    report: CleanupReport | None = field(default=None, repr=False, compare=False)  # what was made and undone

    def to_json(self, samples: bool = False) -> dict:
        return {
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
            "parts": list(self.parts), "kernel": self.kernel, "cpus": format_cpulist(self.cpus),
            "queues": self.queues,
            "rps": self.rps.to_json() if self.rps else None,
            "xps": self.xps.to_json() if self.xps else None,
            "ping_pong": self.ping_pong.to_json(samples) if self.ping_pong else None,
            "cleanup": self.cleanup, "elapsed_s": round(self.elapsed_s, 3),
        }

    def to_text(self) -> str:
        head = (f"lab net on kernel {self.kernel}, CPUs {format_cpulist(self.cpus)}, veth with "
                f"{self.queues} queues: {', '.join(self.parts)} in {self.elapsed_s:.1f} s")
        body = [part.to_text() for part in (self.rps, self.xps, self.ping_pong) if part is not None]
        return "\n\n".join([head, *body, self.cleanup]) + "\n"

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__  # a notebook's text/plain and a console show the report, not the fields

    def _repr_html_(self) -> str:
        from html import escape

        head = (f"<p><small>lab net on kernel {escape(self.kernel)}, CPUs {escape(format_cpulist(self.cpus))}, "
                f"veth with {self.queues} queues, {self.elapsed_s:.1f} s; {escape(self.cleanup)}</small></p>")
        return "<div>" + "".join(p._repr_html_() for p in (self.rps, self.xps, self.ping_pong)
                                 if p is not None) + head + "</div>"


# ---------------------------------------------------------------------------------------
# The programs that run inside the namespaces: standard library only.

_RECEIVER = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    while True:
        s.recv(2048)
""")

# Pinned to one CPU, it sends one datagram first (the neighbour is resolved outside the
# window), then reads /proc/softirqs around the blast. The pause before the second read
# lets another CPU finish the packets RPS queued for it.
_BLASTER = textwrap.dedent("""
    import json, os, socket, sys, time
    cpu, dst, port, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.sched_setaffinity(0, {cpu})
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = (dst, port)
    s.sendto(b"warm-up", addr)
    time.sleep(0.05)
    def softirqs():
        with open("/proc/softirqs") as fh:
            return fh.read()
    payload = bytes(64)
    before = softirqs()
    t0 = time.monotonic()
    for _ in range(count):
        s.sendto(payload, addr)
    t1 = time.monotonic()
    time.sleep(0.02)
    after = softirqs()
    t2 = time.monotonic()
    print(json.dumps({"affinity": sorted(os.sched_getaffinity(0)), "before": before, "after": after,
                      "send_s": t1 - t0, "window_s": t2 - t0}))
""")

_ECHO_SERVER = textwrap.dedent(f"""
    import os, socket, sys
    ip, port, busy_us, cpu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    os.sched_setaffinity(0, {{cpu}})
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, {SO_BUSY_POLL}, busy_us)
    s.bind((ip, port))
    print("ready", s.getsockopt(socket.SOL_SOCKET, {SO_BUSY_POLL}), flush=True)
    while True:
        data, peer = s.recvfrom(64)
        if data == b"napi?":
            data = b"napi %d" % s.getsockopt(socket.SOL_SOCKET, {SO_INCOMING_NAPI_ID})
        s.sendto(data, peer)
""")

# Two connected sockets, one to each echo server: the first without busy polling, the
# second with it. Blocks alternate between them (and which goes first), so slow drift of the
# machine falls on both. Blocking sockets with SO_RCVTIMEO, as an application waits: a
# Python timeout would poll(2) instead, which busy-polls only under net.core.busy_poll.
_PING_CLIENT = textwrap.dedent(f"""
    import json, os, socket, struct, sys, time
    dst, port, cpu, count, blocks, busy_us, warmup = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
        int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))
    os.sched_setaffinity(0, {{cpu}})
    socks = []
    for p, us in ((port, 0), (port + 1, busy_us)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, {SO_BUSY_POLL}, us)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 2, 0))
        s.connect((dst, p))
        socks.append(s)
    def once(s):
        s.send(b"p")
        try:
            s.recv(64)
        except BlockingIOError:
            sys.exit("no answer within 2 s from " + str(s.getpeername()))
    for s in socks:
        for _ in range(warmup):
            once(s)
    sizes = [count // blocks + (1 if b < count % blocks else 0) for b in range(blocks)]
    rtt = [[], []]
    pc = time.perf_counter_ns
    for b, per in enumerate(sizes):
        for i in ((0, 1) if b % 2 == 0 else (1, 0)):
            s, out = socks[i], rtt[i]
            for _ in range(per):
                t0 = pc()
                s.send(b"p")
                try:
                    s.recv(64)
                except BlockingIOError:
                    sys.exit("no answer within 2 s from " + str(s.getpeername()))
                out.append(pc() - t0)
    napi = []
    for s in socks:
        s.send(b"napi?")
        server = int(s.recv(64).split()[1])
        napi.append([s.getsockopt(socket.SOL_SOCKET, {SO_INCOMING_NAPI_ID}), server])
    print(json.dumps({{"rtt_ns": rtt, "block_sizes": sizes, "napi": napi,
                      "busy_us": [s.getsockopt(socket.SOL_SOCKET, {SO_BUSY_POLL}) for s in socks]}}))
""")


_PROGRAMS = {"receiver": _RECEIVER, "blaster": _BLASTER, "echo_server": _ECHO_SERVER,
             "ping_client": _PING_CLIENT}


# ---------------------------------------------------------------------------------------
# Running


def _program(lab: Lab, name: str) -> list[str]:
    """``python FILE``: the program written once into the lab's temp dir (removed with it),
    so each step's line names the program rather than spelling out its source."""
    assert lab.tmpdir is not None
    path = lab.tmpdir / f"{name}.py"
    if not path.exists():
        path.write_text(_PROGRAMS[name].lstrip(), encoding="utf-8")
    return [sys.executable, str(path)]


def _say(lab: Lab, text: str) -> None:
    # The harness's progress channel: its on_step callback, and lab.steps with a timestamp.
    lab._step(text)


def _json_of(lab: Lab, ns: str, argv: Sequence[str], timeout: float = 60.0) -> dict:
    res = lab.run(ns, argv, timeout=timeout)
    name = os.path.basename(argv[1] if len(argv) > 1 else argv[0])
    if res.returncode != 0:
        raise LabError(f"{name} in {ns} exited {res.returncode}: "
                       f"{(res.stderr.strip().splitlines() or ['no message'])[-1]}")
    try:
        return json.loads(res.stdout)
    except ValueError:
        raise LabError(f"{name} in {ns} printed no result: {res.stdout[:200]!r}") from None


def _pairs_in(lab: Lab, ns: str, path: str) -> dict[str, dict[str, int]]:
    return parse_proc_net_pairs(lab.read(path, ns=ns))


def _start(lab: Lab, ns: str, argv: Sequence[str], log: str) -> LabProcess:
    proc = lab.start(ns, argv, log=log)
    if not proc.wait_for("ready", timeout=20):
        raise LabError(f"{log}: did not start: {proc.output().strip()[-300:] or 'no output'}")
    return proc


def _allowed_cpus() -> tuple[int, ...]:
    return tuple(sorted(os.sched_getaffinity(0)))


def _nr_cpus() -> int | None:
    """The kernel's NR_CPUS: /sys/devices/system/cpu/kernel_max is NR_CPUS - 1."""
    kernel_max = _read_int("/sys/devices/system/cpu/kernel_max")
    return None if kernel_max is None else kernel_max + 1


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def _two_namespaces(lab: Lab, prefix: str, queues: int) -> VethPair:
    a, b = lab.netns(prefix + "a"), lab.netns(prefix + "b")
    return lab.veth(a, b, queues=queues)


def run_rps(lab: Lab, *, cpus: Sequence[int] | None = None, packets: int = RPS_PACKETS,
            queues: int = QUEUES) -> RpsResult:
    """The RPS part in an open lab; see the module docstring."""
    cpus = tuple(cpus or _allowed_cpus())
    pair = _two_namespaces(lab, "rps", queues)
    a, b = pair.a.netns, pair.b.netns
    if lab.run(b, ["test", "-e", pair.b.queue_path("rx", 0, "rps_cpus")]).returncode != 0:
        raise LabUnavailable("lab net: this kernel has no rps_cpus (CONFIG_RPS is off)")
    _start(lab, b, [*_program(lab, "receiver"), pair.b.ip, str(PORT)], "rps-receiver.log")
    budget = _read_int("/proc/sys/net/core/netdev_budget") or NETDEV_BUDGET_DEFAULT
    sender = cpus[0]

    def blast(label: str, mask: str) -> RpsPhase:
        _say(lab, f"RPS: {label}: {packets} datagrams from CPU {sender}")
        snmp0 = _pairs_in(lab, b, "/proc/net/snmp")["Udp"]
        out = _json_of(lab, a, [*_program(lab, "blaster"), str(sender), pair.b.ip, str(PORT), str(packets)])
        snmp1 = _pairs_in(lab, b, "/proc/net/snmp")["Udp"]
        if out["affinity"] != [sender]:
            raise LabError(f"the sender could not be pinned to CPU {sender} (affinity {out['affinity']})")
        rates, _left = softirq_rates(parse_softirqs(out["before"]), parse_softirqs(out["after"]), out["window_s"])
        net_rx = {r.cpu: r.delta for r in rates if r.source == "NET_RX" and r.cpu in cpus}
        # The warm-up datagram went before the window but is in the snmp delta.
        delivered = snmp1["InDatagrams"] - snmp0["InDatagrams"] - 1
        dropped = snmp1.get("RcvbufErrors", 0) - snmp0.get("RcvbufErrors", 0)
        return RpsPhase(label, mask, packets, max(0, delivered), dropped, net_rx, out["window_s"], out["send_s"])

    before = blast("without RPS", "0")
    target = choose_rps_target(before.net_rx, cpus, sender)
    phases = [before]
    if target is not None:
        mask = format_cpumask({target})
        for q in range(queues):
            lab.write(pair.b.queue_path("rx", q, "rps_cpus"), mask, ns=b)
        back = {parse_cpumask(lab.read(pair.b.queue_path("rx", q, "rps_cpus"), ns=b)) for q in range(queues)}
        if back != {frozenset({target})}:
            raise LabError(f"rps_cpus reads back as {sorted(map(sorted, back))}, not CPU {target}")
        phases.append(blast(f"with RPS on CPU {target}", mask))
    verdict = rps_verdict(before.net_rx, phases[-1].net_rx if target is not None else {},
                          target_cpu=target, packets_before=packets, packets_after=packets, netdev_budget=budget)
    _say(lab, f"RPS: {verdict.text}")
    return RpsResult(sender, cpus, queues, budget, tuple(phases), verdict)


def _tx_queue_counts(lab: Lab, ns: str, ifname: str) -> dict[int, int]:
    res = lab.run(ns, ["tc", "-s", "-j", "qdisc", "show", "dev", ifname], check=True)
    counts: dict[int, int] = {}
    for q in json.loads(res.stdout):
        parent = str(q.get("parent", ""))
        # The mq root is 1:, its children hang off 1:1 .. 1:N, queue N-1 (net/sched/sch_mq.c).
        if parent.startswith("1:") and parent[2:].isdigit():
            counts[int(parent[2:]) - 1] = int(q.get("packets", 0))
    return counts


def run_xps(lab: Lab, *, cpus: Sequence[int] | None = None, packets: int = XPS_PACKETS,
            queues: int = QUEUES) -> XpsResult:
    """The XPS part in an open lab; see the module docstring."""
    cpus = tuple(cpus or _allowed_cpus())[:queues]
    pair = _two_namespaces(lab, "xps", queues)
    a, b = pair.a.netns, pair.b.netns
    if lab.run(a, ["test", "-e", pair.a.queue_path("tx", 0, "xps_cpus")]).returncode != 0:
        raise LabUnavailable("lab net: this kernel has no xps_cpus (CONFIG_XPS is off)")
    _start(lab, b, [*_program(lab, "receiver"), pair.b.ip, str(PORT)], "xps-receiver.log")
    observable = (f"tc -s qdisc: the mq root qdisc's child per transmit queue of {pair.a.ifname} "
                  "(veth counts no per-queue packets itself)")
    mq = lab.run(a, ["tc", "qdisc", "replace", "dev", pair.a.ifname, "root", "handle", "1:", "mq"])
    if mq.returncode != 0:
        why = (mq.stderr.strip().splitlines() or ["no message"])[0]
        note = f"no per-queue observable: tc could not give {pair.a.ifname} an mq qdisc ({why})"
        return XpsResult(queues, cpus, {}, {}, (), note, XpsVerdict(None, {}, f"not judged: {note}"))

    def send(phase: str, cpu: int) -> XpsRun:
        c0 = _tx_queue_counts(lab, a, pair.a.ifname)
        out = _json_of(lab, a, [*_program(lab, "blaster"), str(cpu), pair.b.ip, str(PORT), str(packets)])
        c1 = _tx_queue_counts(lab, a, pair.a.ifname)
        if out["affinity"] != [cpu]:
            raise LabError(f"the sender could not be pinned to CPU {cpu} (affinity {out['affinity']})")
        per = {q: c1.get(q, 0) - c0.get(q, 0) for q in sorted(c1) if c1.get(q, 0) - c0.get(q, 0)}
        return XpsRun(phase, cpu, packets + 1, per)

    _say(lab, f"XPS: without XPS, {packets} datagrams from each of CPUs {format_cpulist(cpus)}")
    runs = [send("without XPS", cpu) for cpu in cpus]
    mapping = choose_xps_queues(cpus, {r.cpu: r.per_queue for r in runs}, queues)
    written: dict[int, str] = {}
    for cpu, queue in mapping.items():
        written[queue] = format_cpumask({cpu})
        lab.write(pair.a.queue_path("tx", queue, "xps_cpus"), written[queue], ns=a)
    _say(lab, "XPS: with " + ", ".join(f"CPU {c} -> tx-{q}" for c, q in mapping.items()))
    with_xps = [send("with XPS", cpu) for cpu in mapping]
    verdict = xps_verdict({r.cpu: r.per_queue for r in with_xps}, mapping)
    _say(lab, f"XPS: {verdict.text}")
    return XpsResult(queues, cpus, mapping, written, tuple(runs + with_xps), observable, verdict)


def _features(lab: Lab, ns: str, ifname: str) -> str:
    """``gro on, tso off``: the two features the NAPI condition sets, as ethtool reads them."""
    from hftinfra.net import parse_ethtool_features

    res = lab.run(ns, ["ethtool", "-k", ifname], check=True)
    features = parse_ethtool_features(res.stdout)
    words = []
    for short, name in (("gro", "generic-receive-offload"), ("tso", "tcp-segmentation-offload")):
        state = features.enabled(name)
        words.append(f"{short} {'unknown' if state is None else 'on' if state else 'off'}")
    return ", ".join(words)


def _busy_poll_rx(lab: Lab, ns: str) -> int | Unread:
    try:
        ext = _pairs_in(lab, ns, "/proc/net/netstat").get("TcpExt", {})
    except (LabError, ValueError) as exc:
        return Unread(Reason.MALFORMED, "/proc/net/netstat", str(exc))
    if "BusyPollRxPackets" not in ext:
        return Unread(Reason.MISSING, "/proc/net/netstat", "no BusyPollRxPackets (CONFIG_NET_RX_BUSY_POLL off?)")
    return ext["BusyPollRxPackets"]


def _steal() -> dict[int, int]:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            return parse_steal_ticks(fh.read())
    except OSError:
        return {}


def run_ping_pong(lab: Lab, *, cpus: Sequence[int] | None = None, count: int = ROUND_TRIPS,
                  busy_poll_us: int = BUSY_POLL_US, queues: int = QUEUES, blocks: int = BLOCKS) -> PingPongResult:
    """The ping-pong part in an open lab; see the module docstring. ``count`` round trips
    per condition, in ``blocks`` blocks alternating with the paired condition."""
    if count < 1:
        raise LabError("count must be at least 1")
    if busy_poll_us < 1:
        raise LabError("busy_poll_us must be at least 1")
    cpus = tuple(cpus or _allowed_cpus())
    client_cpu, server_cpu = cpus[0], cpus[1] if len(cpus) > 1 else cpus[0]
    blocks = max(1, min(blocks, count // 10 or 1))
    warmup = 200
    pair = _two_namespaces(lab, "pp", queues)
    a, b = pair.a.netns, pair.b.netns
    nr_cpus = _nr_cpus()
    try:
        with open("/proc/sys/net/core/busy_read", encoding="ascii") as fh:
            busy_read = fh.read().strip()
    except OSError as exc:
        busy_read = str(Unread(Reason.DENIED if isinstance(exc, PermissionError) else Reason.MISSING,
                               "/proc/sys/net/core/busy_read"))

    def run_state(napi: bool) -> tuple[dict, int | Unread, int | Unread]:
        servers = []
        for port, us in ((PORT, 0), (PORT + 1, busy_poll_us)):
            proc = _start(lab, b, [*_program(lab, "echo_server"), pair.b.ip, str(port), str(us), str(server_cpu)],
                          f"echo-{'napi' if napi else 'plain'}-{port}.log")
            ready = proc.output().split()
            if len(ready) < 2 or ready[1] != str(us):
                raise LabError(f"the echo server's SO_BUSY_POLL reads {ready[1:2]}, not {us}")
            servers.append(proc)
        bp_a0, bp_b0 = _busy_poll_rx(lab, a), _busy_poll_rx(lab, b)
        what = "NAPI on (GRO on, TSO off)" if napi else "veth defaults (no NAPI)"
        _say(lab, f"ping-pong: {what}: {count} round trips without and with busy polling, {blocks} blocks")
        out = _json_of(lab, a, [*_program(lab, "ping_client"), pair.b.ip, str(PORT), str(client_cpu),
                                str(count), str(blocks), str(busy_poll_us), str(warmup)],
                       timeout=60 + count * 0.01)
        bp_a1, bp_b1 = _busy_poll_rx(lab, a), _busy_poll_rx(lab, b)
        for proc in servers:
            proc.stop()
        if out["busy_us"] != [0, busy_poll_us]:
            raise LabError(f"the client's SO_BUSY_POLL reads {out['busy_us']}, not [0, {busy_poll_us}]")

        def rise(x0, x1):
            return x0 if isinstance(x0, Unread) else x1 if isinstance(x1, Unread) else x1 - x0
        return out, rise(bp_a0, bp_a1), rise(bp_b0, bp_b1)

    steal0, t0 = _steal(), time.monotonic()
    plain, plain_a, plain_b = run_state(False)
    features = {}
    for role, end in (("A", pair.a), ("B", pair.b)):
        # A refusal is not fatal: the NAPI ids then show that veth did not use NAPI.
        res = lab.run(end.netns, ["ethtool", "-K", end.ifname, "gro", "on", "tso", "off"])
        refused = "" if res.returncode == 0 else f" (ethtool -K refused: {(res.stderr.strip() or 'no message').splitlines()[0]})"
        features[f"{role} {end.ifname}"] = _features(lab, end.netns, end.ifname) + refused
    napi, bp_a, bp_b = run_state(True)
    steal1, window = _steal(), time.monotonic() - t0
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    steal_ms = {c: 1000.0 * (steal1[c] - steal0[c]) / hz for c in sorted({client_cpu, server_cpu})
                if c in steal0 and c in steal1}

    arms = []
    for out, is_napi in ((plain, False), (napi, True)):
        sizes = out["block_sizes"]
        names = (("default", "busy poll, no NAPI") if not is_napi else ("NAPI", "NAPI + busy poll"))
        for i, (name, us) in enumerate(zip(names, (0, busy_poll_us), strict=True)):
            samples = tuple(out["rtt_ns"][i])
            arms.append(PingPongArm(name, is_napi, us, samples, summarize(samples), block_medians(samples, sizes),
                                    out["napi"][i][0], out["napi"][i][1]))
    comparisons = tuple(compare(arms[i].name, arms[i].summary, arms[i].block_p50_ns,
                                arms[j].name, arms[j].summary, arms[j].block_p50_ns)
                        for i, j in ((0, 1), (2, 3)))
    rx = {"defaults: A (client)": plain_a, "defaults: B (server)": plain_b,
          "NAPI: A (client)": bp_a, "NAPI: B (server)": bp_b}
    total = napi_busy_poll_rx(rx)
    honoured, why = busy_poll_verdict([arms[1].client_napi_id, arms[1].server_napi_id],
                                      [arms[3].client_napi_id, arms[3].server_napi_id], total, nr_cpus)
    _say(lab, f"ping-pong: busy polling honoured: {show(honoured)}")
    return PingPongResult(client_cpu, server_cpu, busy_poll_us, busy_read, nr_cpus, features, tuple(arms),
                          comparisons, rx, honoured, why, steal_ms, window)


_TOOLS = {"xps": ("tc", "iproute2"), "ping-pong": ("ethtool", "ethtool")}


def _check_tools(parts: Sequence[str]) -> None:
    for part in parts:
        if part in _TOOLS:
            check_tools(f"net {part}", [_TOOLS[part]])


def run_net_lab(parts: Sequence[str] = PARTS, *, count: int = ROUND_TRIPS, packets: int = RPS_PACKETS,
                xps_packets: int = XPS_PACKETS, busy_poll_us: int = BUSY_POLL_US, queues: int = QUEUES,
                on_step: Callable[[str], object] | None = None) -> NetLabResult:
    """Run the parts (``rps``, ``xps``, ``ping-pong``) in one lab and clean up; raises
    :class:`LabUnavailable` (one line) when this machine cannot run them."""
    parts = tuple(dict.fromkeys(parts))
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise LabError(f"unknown lab net part(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(PARTS)}")
    if not 1 <= queues <= 64:
        raise LabError(f"queues must be 1-64, not {queues}")
    capability = lab_capability()
    if not capability:
        raise LabUnavailable(f"lab net {capability.reason}")
    _check_tools(parts)
    started = time.monotonic()
    cpus = _allowed_cpus()
    results: dict[str, object] = {}
    with Lab("net", on_step=on_step) as lab:
        if "rps" in parts:
            results["rps"] = run_rps(lab, cpus=cpus, packets=packets, queues=queues)
        if "xps" in parts:
            results["xps"] = run_xps(lab, cpus=cpus, packets=xps_packets, queues=queues)
        if "ping-pong" in parts:
            results["ping-pong"] = run_ping_pong(lab, cpus=cpus, count=count, busy_poll_us=busy_poll_us,
                                                 queues=queues)
    return NetLabResult(parts, os.uname().release, cpus, queues, results.get("rps"), results.get("xps"),  # type: ignore[arg-type]
                        results.get("ping-pong"), lab.cleanup_report().summary(),  # type: ignore[arg-type]
                        time.monotonic() - started, lab.cleanup_report())


def lab_view(part: str, **kwargs) -> object:
    """For a page: ``part`` is "rps-xps" or "ping-pong". Returns the result (it renders in
    the notebook) or, when this machine cannot run the lab (not root, no ``ip``, no network
    namespaces, a tool missing), a one-line note saying why. Never raises for that.
    ``kwargs`` go to :func:`run_net_lab` (``count``, ``busy_poll_us``, ``on_step``, ...)."""
    if part not in PAGE_PARTS:
        raise ValueError(f"lab_view part must be one of {', '.join(PAGE_PARTS)}, not {part!r}")
    return page_view("net", run_net_lab, PAGE_PARTS[part], progress=False, **kwargs)


__all__ = [
    "PAGE_PARTS", "PARTS", "Comparison", "LatencySummary", "NetLabResult", "PingPongArm", "PingPongResult",
    "RpsPhase", "RpsResult", "RpsVerdict", "XpsResult", "XpsRun", "XpsVerdict", "block_medians",
    "busy_poll_verdict", "ccdf", "choose_rps_target", "choose_xps_queues", "compare", "lab_view",
    "napi_busy_poll_rx", "napi_id_valid", "parse_proc_net_pairs", "parse_steal_ticks", "percentile", "rps_verdict", "run_net_lab",
    "run_ping_pong", "run_rps", "run_xps", "sign_test", "summarize", "xps_verdict",
]
