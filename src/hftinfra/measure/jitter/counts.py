"""Attribution by counts: what happened on the measured CPUs over a run, from counters any
user can read. Taken once before the run and once after, so it costs nothing while the
loop spins.

- ``/proc/interrupts`` and ``/proc/softirqs``: every source's delta per CPU (device IRQs by
  name, LOC, RES, CAL, TLB, ...; TIMER, NET_RX, RCU, SCHED, ...), through
  :mod:`hftinfra.measure.interrupts`.
- ``/proc/stat``: each CPU's ``steal`` time, in USER_HZ ticks (proc(5)): time a virtual CPU
  wanted to run and the hypervisor ran something else. On a VM this is often the largest
  cause, and no guest trace event sees it.
- ``/proc/PID/task/TID/stat`` (field 39, ``processor``: the CPU the task last ran on),
  ``schedstat`` (time on a CPU in ns, where ``CONFIG_SCHED_INFO`` is set) and ``status``
  (``voluntary_ctxt_switches``, ``nonvoluntary_ctxt_switches``): the other tasks that ran on a
  measured CPU. A task that moved between CPUs during the run is counted on the CPU it was
  last seen on, so this is a list of suspects, not a ledger; the trace is the ledger.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from hftinfra.host import Host, Reason, Unread
from hftinfra.measure.interrupts import Reading, rates_between, take_reading
from hftinfra.measure.jitter.model import CountDelta, CountsAttribution, TaskOnCpu

PROC_STAT = "/proc/stat"
_STAT_CPU = re.compile(r"^cpu(\d+)\s+(.*)$", re.M)
# proc(5): user nice system idle iowait irq softirq steal guest guest_nice; steal is the 8th.
STEAL_FIELD = 7


def parse_stat_steal(text: str) -> dict[int, int]:
    """Steal ticks per CPU from /proc/stat's ``cpuN`` lines (USER_HZ units).

    >>> parse_stat_steal("cpu  1 2 3 4 5 6 7 8 0 0\\ncpu0 10 0 5 100 0 0 1 42 0 0\\n")
    {0: 42}
    """
    out: dict[int, int] = {}
    for m in _STAT_CPU.finditer(text):
        fields = m.group(2).split()
        if len(fields) > STEAL_FIELD:
            out[int(m.group(1))] = int(fields[STEAL_FIELD])
    return out


def parse_task_stat(text: str) -> tuple[str, int] | None:
    """``(comm, processor)`` from /proc/PID/task/TID/stat. The comm is between the first
    ``(`` and the last ``)`` (it may hold spaces and parentheses); ``processor`` is field 39.

    >>> parse_task_stat("42 (kworker/1:2 (x)) I 2 0 0 0 -1 69238880 0 0 0 0 3 0 0 0 20 0 1 0 "
    ...                 "23 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1 0 0 0 0 0")
    ('kworker/1:2 (x)', 1)
    """
    start, end = text.find("("), text.rfind(")")
    if start < 0 or end < start:
        return None
    rest = text[end + 2:].split()
    # Fields after comm start at 3 (state), so field 39 is rest[36].
    if len(rest) < 37:
        return None
    try:
        return text[start + 1:end], int(rest[36])
    except ValueError:
        return None


@dataclass(frozen=True)
class TaskSample:
    comm: str
    processor: int
    run_ns: int | None
    switches: int | None


@dataclass(frozen=True)
class CountsReading:
    interrupts: Reading | Unread
    steal: dict[int, int] | Unread
    tasks: dict[tuple[int, int], TaskSample]
    tasks_unread: int  # tasks whose files could not be read (gone, or denied)


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def read_tasks(proc: str = "/proc") -> tuple[dict[tuple[int, int], TaskSample], int]:
    """Every task's last CPU, run time and switch counts, and how many could not be read."""
    out: dict[tuple[int, int], TaskSample] = {}
    missed = 0
    try:
        pids = [int(n) for n in os.listdir(proc) if n.isdigit()]
    except OSError:
        return out, 0
    for pid in pids:
        try:
            tids = [int(n) for n in os.listdir(f"{proc}/{pid}/task") if n.isdigit()]
        except OSError:
            continue  # exited
        for tid in tids:
            base = f"{proc}/{pid}/task/{tid}"
            stat = _read(f"{base}/stat")
            parsed = parse_task_stat(stat) if stat else None
            if parsed is None:
                missed += 1
                continue
            sched = _read(f"{base}/schedstat")
            run_ns = None
            if sched and sched.split():
                try:
                    run_ns = int(sched.split()[0])
                except ValueError:
                    pass
            status = _read(f"{base}/status") or ""
            switches = None
            found = re.findall(r"^(?:non)?voluntary_ctxt_switches:\s*(\d+)", status, re.M)
            if len(found) == 2:
                switches = int(found[0]) + int(found[1])
            out[(pid, tid)] = TaskSample(parsed[0], parsed[1], run_ns, switches)
    return out, missed


def take_counts(host: Host) -> CountsReading:
    """One reading of everything counts attribution compares (live host)."""
    reading = take_reading(host)
    stat = host.read(PROC_STAT)
    steal: dict[int, int] | Unread = stat if isinstance(stat, Unread) else parse_stat_steal(stat)
    tasks, missed = read_tasks() if host.is_live else ({}, 0)
    return CountsReading(reading, steal, tasks, missed)


def counts_between(first: CountsReading, second: CountsReading, cpus: Iterable[int], *,
                   own_tids: Iterable[int] = (), own_involuntary: dict[int, int | None] | None = None,
                   user_hz: int | None = None) -> CountsAttribution:
    """What moved on ``cpus`` between two readings; ``own_tids`` (the measuring threads) are
    left out of the task list."""
    cpus = frozenset(cpus)
    own = frozenset(own_tids)
    unread: list[Unread] = []
    notes: list[str] = []
    deltas: list[CountDelta] = []
    window = 0.0
    if isinstance(first.interrupts, Unread) or isinstance(second.interrupts, Unread):
        unread.append(first.interrupts if isinstance(first.interrupts, Unread) else second.interrupts)  # type: ignore[arg-type]
    else:
        window = second.interrupts.at - first.interrupts.at
        rates = rates_between(first.interrupts, second.interrupts)
        if isinstance(rates, Unread):
            unread.append(rates)
        else:
            for extra in (rates.interrupts_unread, rates.softirqs_unread):
                if extra is not None:
                    unread.append(extra)
            for r in rates.rates:
                if r.cpu in cpus and r.delta:
                    deltas.append(CountDelta(r.cpu, r.source, r.kind, r.delta, r.label))
            notes += list(rates.left_out)
    hz = user_hz or os.sysconf("SC_CLK_TCK")
    steal: dict[int, int | Unread] = {}
    for cpu in sorted(cpus):
        if isinstance(first.steal, Unread) or isinstance(second.steal, Unread):
            steal[cpu] = first.steal if isinstance(first.steal, Unread) else second.steal  # type: ignore[assignment]
        elif cpu in first.steal and cpu in second.steal:
            steal[cpu] = (second.steal[cpu] - first.steal[cpu]) * 1_000_000_000 // hz
        else:
            steal[cpu] = Unread(Reason.MISSING, PROC_STAT, f"no cpu{cpu} line in both readings")
    tasks: list[TaskOnCpu] = []
    for key, after in second.tasks.items():
        if key[1] in own or after.processor not in cpus:
            continue
        before = first.tasks.get(key)
        if before is None:
            run = after.run_ns
            sw = after.switches
        else:
            run = None if after.run_ns is None or before.run_ns is None else after.run_ns - before.run_ns
            sw = None if after.switches is None or before.switches is None else after.switches - before.switches
        if (run or 0) > 0 or (sw or 0) > 0:
            tasks.append(TaskOnCpu(after.processor, key[0], key[1], after.comm, run, sw))
    started = len(set(second.tasks) - set(first.tasks))
    if second.tasks_unread or first.tasks_unread:
        notes.append(f"{max(first.tasks_unread, second.tasks_unread)} tasks could not be read (exited, or denied)")
    if started:
        notes.append(f"{started} tasks started during the run (counted from zero)")
    tasks.sort(key=lambda t: (-(t.run_ns or 0), -(t.switches or 0)))
    return CountsAttribution(window_s=window, deltas=tuple(sorted(deltas, key=lambda d: (d.cpu, -d.delta))),
                             tasks=tuple(tasks), steal_ns=steal, own_involuntary=dict(own_involuntary or {}),
                             unread=tuple(unread), notes=tuple(notes))


__all__ = ["CountsReading", "PROC_STAT", "TaskSample", "counts_between", "parse_stat_steal", "parse_task_stat",
           "read_tasks", "take_counts"]
