"""Which kernel activity took each gap: trace events from a private tracefs instance, read
at nanosecond resolution from the binary ring-buffer pages, laid out as a per-CPU timeline
of contexts (hard IRQ, x86 vector, softirq, tasklet, hrtimer, workqueue item, another
task) and intersected with the gaps a busy loop measured.

Clock. The instance's ``trace_clock`` is set to ``mono``: kernel/trace/trace.c lists it in
``trace_clocks[]`` as ``ktime_get_mono_fast_ns`` in nanoseconds, and
Documentation/trace/ftrace.rst describes it as the fast monotonic clock (CLOCK_MONOTONIC),
subject to NTP rate adjustments. ``time.perf_counter_ns()`` is ``clock_gettime(CLOCK_MONOTONIC)``
on Linux (``time.get_clock_info("perf_counter")``), so both count from the same base. The
session still *measures* the offset: on each traced CPU it writes lines to the instance's
``trace_marker`` carrying ``perf_counter_ns()`` read just before the write, and reads the
clock again when the write returns; the marker's trace time minus those two readings bounds
the offset, and the bounds of every marker (at start and at stop) are intersected. A range
that holds 0 is what one clock behind both gives; it is a few hundred ns wide here.

Resolution. The text ``trace`` file prints ns clocks as seconds.microseconds
(``" %5lu.%06lu"`` in trace_print_time(), kernel/trace/trace_output.c; only the ``raw``
option prints nanoseconds, and then without field values). ``per_cpu/cpuN/trace_pipe_raw``
gives the ring buffer's own pages, whose layout is fixed by include/linux/ring_buffer.h and
kernel/trace/ring_buffer.c and described at run time by ``events/header_page`` and
``events/header_event``: a page header (u64 time stamp, ``local_t commit`` whose bits 31
and 30 flag missed events and a stored count of them), then events with a 32-bit header
``type_len:5, time_delta:27``: 29 padding (``time_delta`` 0: the rest of the page), 30 time
extend (``array[0] << 27 | time_delta`` added), 31 absolute time stamp (same encoding, the
top five bits taken from the previous time), 1..28 data of ``type_len * 4`` bytes, 0 data
whose length is in ``array[0]``. Payloads are decoded by the ``events/GROUP/NAME/format``
files: offsets, sizes, signedness, ``__data_loc`` strings. This module reads those pages, so
event times are exact to the nanosecond.

Tasks. ``sched_switch`` moves the CPU between tasks, and every event also carries the task
current when it was written (``common_pid``). On a 6.18 VM some switches were missing from
the trace (each switch from idle to a task just migrated onto the CPU, in a test of five, and
a few others): a change of ``common_pid`` without a switch shows them, and the time since the
previous event,
when the change could have happened, is counted as unknown, never as idle or as our task.

Losses are never hidden: each CPU's ``stats`` (overrun, commit overrun, dropped events) and
the pages' missed-events flags are kept, and a gap the trace does not cover completely has
its uncovered part reported as ``untraced`` rather than as unexplained.

Everything that parses is pure (text or bytes in, records out, ValueError on damage);
:class:`TraceSession` is the only part that touches the machine, always in its own instance
(``instances/hftinfra-jitter-PID-…``), never the global buffer.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import fnmatch
import json
import math
import os
import re
import secrets
import signal
import struct
import sys
import tempfile
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hftinfra.host import Reason, Unread
from hftinfra.measure.jitter.model import Gap

INSTANCE_PREFIX = "hftinfra-jitter"
TRACE_CLOCK = "mono"
# Patterns under events/: each is enabled where it exists (irq_vectors is x86 only, ipi
# entry/exit are emitted by arm and arm64, tasklets may be configured out).
DEFAULT_EVENTS = (
    "irq/irq_handler_entry", "irq/irq_handler_exit",
    "irq/softirq_entry", "irq/softirq_exit",
    "irq/tasklet_entry", "irq/tasklet_exit",
    "irq_vectors/*_entry", "irq_vectors/*_exit",
    "ipi/ipi_entry", "ipi/ipi_exit",
    "sched/sched_switch",
    "timer/hrtimer_expire_entry", "timer/hrtimer_expire_exit",
    "workqueue/workqueue_execute_start", "workqueue/workqueue_execute_end",
)
MARKER_EVENT = "ftrace/print"  # what a write to trace_marker records
SYNC_PREFIX = "hftinfra-jitter sync"

# Buffer sizing: an idle HZ=250 CPU with the default events writes a few kB/s; a task
# sleeping 100 µs at a time beside the loop wrote about 46,000 events (some 2 MB) in a
# second, and network or scheduler storms write more. A full buffer (overwrite off) drops
# what comes after, so the estimate is generous; the caps keep a long run from pinning
# memory (the ring buffer is unswappable kernel memory).
EST_KB_PER_CPU_SECOND = 2048
MIN_BUFFER_KB = 1024
MAX_BUFFER_KB = 256 * 1024

# include/linux/ring_buffer.h: enum ring_buffer_type, and kernel/trace/ring_buffer.c.
RB_TYPE_PADDING = 29
RB_TYPE_TIME_EXTEND = 30
RB_TYPE_TIME_STAMP = 31
RB_MAX_DATA_TYPE_LEN = 28
TS_SHIFT = 27
TS_MSB = 0xF8 << 56
RB_MISSED_EVENTS = 1 << 31
RB_MISSED_STORED = 1 << 30
RB_COMMIT_MASK = (1 << 30) - 1


class TraceError(Exception):
    """Tracing could not be set up or torn down; ``unread`` says why when it is a reason
    a user can act on (not root, no tracefs)."""

    def __init__(self, message: str, unread: Unread | None = None):
        super().__init__(message)
        self.unread = unread


# ---- formats (pure) ---------------------------------------------------------------------

@dataclass(frozen=True)
class FieldFormat:
    """One ``field:`` line of a format file: ``field:char prev_comm[16]; offset:8; size:16; signed:0;``."""

    name: str
    type: str  # the C declaration without the name: "char[16]", "__data_loc char[]", "int"
    offset: int
    size: int
    signed: bool

    @property
    def kind(self) -> str:
        """How to decode it: "int", "str" (char array), "data_loc", "rel_loc", "tail" (a
        trailing ``char buf[]``) or "other" (arrays of other types, left undecoded)."""
        t = self.type
        if t.startswith("__data_loc"):
            return "data_loc"
        if t.startswith("__rel_loc"):
            return "rel_loc"
        if "[" in t:
            base = t[:t.index("[")].strip()
            if base in ("char", "unsigned char", "signed char", "u8", "s8"):
                return "tail" if self.size == 0 else "str"
            return "other"
        if self.size in (1, 2, 4, 8):
            return "int"
        return "other"


@dataclass(frozen=True)
class EventFormat:
    system: str
    name: str
    id: int
    fields: tuple[FieldFormat, ...]
    print_fmt: str = ""

    @property
    def key(self) -> str:
        return f"{self.system}/{self.name}"

    def symbolic(self) -> dict[int, str]:
        """The value names a ``__print_symbolic`` in the print format gives, as in softirq's
        ``{ 1, "TIMER" }``."""
        return {int(n): s for n, s in re.findall(r'\{\s*(-?\d+)\s*,\s*"([^"]*)"\s*\}', self.print_fmt)}


_FIELD_RE = re.compile(r"field:(?P<decl>[^;]*);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                       r"(?:\s*signed:(?P<signed>-?\d+);)?")


def _parse_field(line: str) -> FieldFormat | None:
    m = _FIELD_RE.search(line)
    if m is None:
        return None
    decl = m.group("decl").strip()
    parts = decl.split()
    if not parts:
        raise ValueError(f"field without a name: {line.strip()!r}")
    name = parts[-1]
    array = ""
    if "[" in name:
        name, _, rest = name.partition("[")
        array = "[" + rest
    if not name:
        raise ValueError(f"field without a name: {line.strip()!r}")
    ctype = (" ".join(parts[:-1]) + array).strip()
    return FieldFormat(name=name, type=ctype, offset=int(m.group("off")), size=int(m.group("size")),
                       signed=m.group("signed") not in (None, "0"))


def parse_event_format(text: str, system: str = "") -> EventFormat:
    """An ``events/GROUP/NAME/format`` file. Real sample (irq/irq_handler_entry)::

        name: irq_handler_entry
        ID: 225
        format:
            field:unsigned short common_type; offset:0; size:2; signed:0;
            ...
            field:int irq; offset:8; size:4; signed:1;
            field:__data_loc char[] name; offset:12; size:4; signed:0;

        print fmt: "irq=%d name=%s", REC->irq, __get_str(name)
    """
    name: str | None = None
    event_id: int | None = None
    fields: list[FieldFormat] = []
    print_fmt = ""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("name:"):
            name = s[5:].strip()
        elif s.startswith("ID:"):
            try:
                event_id = int(s[3:].strip())
            except ValueError:
                raise ValueError(f"bad event ID line: {s!r}") from None
        elif s.startswith("field:"):
            f = _parse_field(s)
            if f is None:
                raise ValueError(f"bad field line: {s!r}")
            fields.append(f)
        elif s.startswith("print fmt:"):
            print_fmt = s[10:].strip()
    if not name or event_id is None:
        raise ValueError("not an event format (no name or ID)")
    return EventFormat(system=system, name=name, id=event_id, fields=tuple(fields), print_fmt=print_fmt)


@dataclass(frozen=True)
class PageLayout:
    """Where a ring-buffer page keeps its time stamp, commit word and data
    (``events/header_page``)."""

    timestamp_offset: int
    commit_offset: int
    commit_size: int
    data_offset: int


def parse_header_page(text: str) -> PageLayout:
    """``events/header_page``. Real sample (x86_64, kernel 6.18)::

            field: u64 timestamp; offset:0; size:8; signed:0;
            field: local_t commit; offset:8; size:8; signed:1;
            field: int overwrite; offset:8; size:1; signed:1;
            field: char data; offset:16; size:4080; signed:0;
    """
    found: dict[str, FieldFormat] = {}
    for line in text.splitlines():
        f = _parse_field(line)
        if f is not None and f.name not in found:
            found[f.name] = f
    try:
        ts, commit, data = found["timestamp"], found["commit"], found["data"]
    except KeyError as exc:
        raise ValueError(f"header_page lacks {exc}") from None
    if ts.size != 8 or commit.size not in (4, 8):
        raise ValueError("header_page: unexpected field sizes")
    return PageLayout(ts.offset, commit.offset, commit.size, data.offset)


@dataclass(frozen=True)
class CpuTraceStats:
    """``per_cpu/cpuN/stats``: what the ring buffer wrote and lost on one CPU."""

    cpu: int
    entries: int
    overrun: int  # events overwritten (overwrite mode)
    commit_overrun: int  # events lost while a nested writer filled a page
    dropped: int  # events refused because the buffer was full (overwrite off)
    read: int
    bytes: int

    @property
    def lost(self) -> int:
        return self.overrun + self.commit_overrun + self.dropped

    def to_json(self) -> dict[str, int]:
        return {"cpu": self.cpu, "entries": self.entries, "overrun": self.overrun,
                "commit_overrun": self.commit_overrun, "dropped": self.dropped, "read": self.read,
                "bytes": self.bytes, "lost": self.lost}


def parse_stats(text: str, cpu: int) -> CpuTraceStats:
    """``per_cpu/cpuN/stats``. Real sample::

        entries: 20
        overrun: 0
        commit overrun: 0
        bytes: 904
        oldest event ts:   556.626444
        now ts:   556.679965
        dropped events: 0
        read events: 0
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key in ("entries", "overrun", "commit overrun", "bytes", "dropped events", "read events"):
            try:
                values[key] = int(value.strip())
            except ValueError:
                raise ValueError(f"stats: bad {key!r} value {value.strip()!r}") from None
    missing = [k for k in ("entries", "overrun", "commit overrun", "dropped events") if k not in values]
    if missing:
        raise ValueError(f"stats lacks {', '.join(missing)}")
    return CpuTraceStats(cpu=cpu, entries=values["entries"], overrun=values["overrun"],
                         commit_overrun=values["commit overrun"], dropped=values["dropped events"],
                         read=values.get("read events", 0), bytes=values.get("bytes", 0))


# ---- binary pages (pure) ------------------------------------------------------------------

@dataclass(frozen=True)
class TraceEvent:
    """One decoded event: ``fields`` holds the event's own fields (ints, or text for char
    arrays and ``__data_loc`` strings), without the ``common_`` ones."""

    cpu: int
    ts_ns: int
    system: str
    name: str
    pid: int  # common_pid: the task that was current when the event was written
    fields: Mapping[str, int | str]

    def to_json(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "ts_ns": self.ts_ns, "event": f"{self.system}/{self.name}", "pid": self.pid,
                "fields": dict(self.fields)}


@dataclass(frozen=True)
class CpuPages:
    """What one CPU's pages held."""

    cpu: int
    events: tuple[TraceEvent, ...]
    pages: int
    pages_missed: int  # pages flagged RB_MISSED_EVENTS: events were lost before them
    missed_stored: int  # the lost-event counts stored in flagged pages (a lower bound)
    unknown_types: int  # events whose type has no format here


def _decoder(fmt: EventFormat, byteorder: str):
    """A function payload -> (pid, fields) for one format, ValueError when it does not fit."""
    pid_field = next((f for f in fmt.fields if f.name == "common_pid"), None)
    own = [f for f in fmt.fields if not f.name.startswith("common_") and f.kind != "other"]

    def decode(payload: bytes) -> tuple[int, dict[str, int | str]]:
        n = len(payload)
        pid = -1
        if pid_field is not None:
            end = pid_field.offset + pid_field.size
            if end > n:
                raise ValueError(f"{fmt.key}: event shorter than its format")
            pid = int.from_bytes(payload[pid_field.offset:end], byteorder, signed=pid_field.signed)
        out: dict[str, int | str] = {}
        for f in own:
            kind = f.kind
            end = f.offset + f.size
            if end > n or (kind == "tail" and f.offset > n):
                raise ValueError(f"{fmt.key}: event shorter than its format")
            if kind == "int":
                out[f.name] = int.from_bytes(payload[f.offset:end], byteorder, signed=f.signed)
            elif kind == "str":
                out[f.name] = _cstr(payload[f.offset:end])
            elif kind == "tail":
                out[f.name] = _cstr(payload[f.offset:])
            else:  # data_loc / rel_loc: u32, length in the high half, offset in the low half
                if f.size != 4:
                    raise ValueError(f"{fmt.key}: {f.name} is not a 4-byte location")
                loc = int.from_bytes(payload[f.offset:end], byteorder)
                start, length = loc & 0xFFFF, loc >> 16
                if kind == "rel_loc":
                    start += end
                if start + length > n:
                    raise ValueError(f"{fmt.key}: {f.name} points past the event")
                out[f.name] = _cstr(payload[start:start + length])
        return pid, out

    return decode


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def _fix_abs_ts(abs_ts: int, prev: int) -> int:
    # kernel/trace/ring_buffer.c rb_fix_abs_ts(): the stamp keeps 59 bits; the top five
    # come from the previous full time stamp.
    if prev & TS_MSB:
        abs_ts |= prev & TS_MSB
        if abs_ts < prev:
            abs_ts += 1 << 59
    return abs_ts


def parse_pages(data: bytes, cpu: int, page_size: int, layout: PageLayout,
                formats: Mapping[int, EventFormat], byteorder: str = sys.byteorder) -> CpuPages:
    """Decode what ``per_cpu/cpuN/trace_pipe_raw`` gave: whole pages of ``page_size`` bytes.
    Raises ValueError when the bytes are not such pages."""
    if page_size <= layout.data_offset or page_size % 8:
        raise ValueError(f"page size {page_size} does not fit the page layout")
    if len(data) % page_size:
        raise ValueError(f"{len(data)} bytes is not a whole number of {page_size}-byte pages")
    if byteorder not in ("little", "big"):
        raise ValueError(f"byte order {byteorder!r}")
    decoders = {tid: (fmt, _decoder(fmt, byteorder)) for tid, fmt in formats.items()}
    little = byteorder == "little"
    u32 = struct.Struct("<I" if little else ">I")
    events: list[TraceEvent] = []
    missed_pages = missed_stored = unknown = 0
    capacity = page_size - layout.data_offset
    for base in range(0, len(data), page_size):
        page = data[base:base + page_size]
        ts = int.from_bytes(page[layout.timestamp_offset:layout.timestamp_offset + 8], byteorder)
        commit = int.from_bytes(page[layout.commit_offset:layout.commit_offset + layout.commit_size], byteorder)
        length = commit & RB_COMMIT_MASK
        if length > capacity:
            raise ValueError(f"page at {base}: commit {length} beyond the page's {capacity} data bytes")
        if commit & RB_MISSED_EVENTS:
            missed_pages += 1
            if commit & RB_MISSED_STORED and length + layout.commit_size <= capacity:
                at = layout.data_offset + length
                missed_stored += int.from_bytes(page[at:at + layout.commit_size], byteorder)
        body = page[layout.data_offset:layout.data_offset + length]
        pos = 0
        while pos < length:
            if pos + 4 > length:
                raise ValueError(f"page at {base}: event header cut at {pos}")
            (hdr,) = u32.unpack_from(body, pos)
            if little:
                type_len, delta = hdr & 0x1F, hdr >> 5
            else:  # bit fields are laid out from the most significant bit
                type_len, delta = hdr >> 27, hdr & ((1 << 27) - 1)
            if type_len == RB_TYPE_PADDING:
                if delta == 0:
                    break  # the rest of the page is padding
                if pos + 8 > length:
                    raise ValueError(f"page at {base}: padding header cut at {pos}")
                pos += 4 + u32.unpack_from(body, pos + 4)[0]
                continue
            if type_len in (RB_TYPE_TIME_EXTEND, RB_TYPE_TIME_STAMP):
                if pos + 8 > length:
                    raise ValueError(f"page at {base}: time record cut at {pos}")
                value = (u32.unpack_from(body, pos + 4)[0] << TS_SHIFT) | delta
                ts = ts + value if type_len == RB_TYPE_TIME_EXTEND else _fix_abs_ts(value, ts)
                pos += 8
                continue
            ts += delta
            if type_len == 0:
                if pos + 8 > length:
                    raise ValueError(f"page at {base}: long event header cut at {pos}")
                size = u32.unpack_from(body, pos + 4)[0]
                if size < 4:
                    raise ValueError(f"page at {base}: event length {size} at {pos}")
                start, end = pos + 8, pos + 4 + size
            else:
                start, end = pos + 4, pos + 4 + type_len * 4
            if end > length:
                raise ValueError(f"page at {base}: event at {pos} runs past the commit ({end} > {length})")
            payload = body[start:end]
            pos = end
            if len(payload) < 2:
                unknown += 1
                continue
            found = decoders.get(int.from_bytes(payload[:2], byteorder))
            if found is None:
                unknown += 1
                continue
            fmt, decode = found
            pid, values = decode(payload)
            events.append(TraceEvent(cpu, ts, fmt.system, fmt.name, pid, values))
    return CpuPages(cpu=cpu, events=tuple(events), pages=len(data) // page_size, pages_missed=missed_pages,
                    missed_stored=missed_stored, unknown_types=unknown)


def parse_kallsyms(text: str, addresses: Iterable[int]) -> dict[int, str]:
    """Names for kernel text addresses from ``/proc/kallsyms`` (``ffffffff81000000 T _stext``):
    the symbol that starts there, else ``nearest+0xoffset`` within 1 MiB. Addresses shown as
    zeros (kptr_restrict) name nothing."""
    wanted = {a for a in addresses if a}
    if not wanted:
        return {}
    exact: dict[int, str] = {}
    text_syms: list[tuple[int, str]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1] not in "tTwW" or len(parts[1]) != 1:
            continue
        try:
            addr = int(parts[0], 16)
        except ValueError:
            continue
        if not addr:
            continue
        if addr in wanted and addr not in exact:
            exact[addr] = parts[2]
        text_syms.append((addr, parts[2]))
    left = wanted - exact.keys()
    if left and text_syms:
        text_syms.sort()
        starts = [a for a, _ in text_syms]
        for a in left:
            i = bisect_right(starts, a) - 1
            if i >= 0 and a - starts[i] < (1 << 20):
                exact[a] = f"{text_syms[i][1]}+{a - starts[i]:#x}"
    return exact


# ---- what a session read, and what it means -------------------------------------------

@dataclass(frozen=True)
class SyncWrite:
    """A line written to trace_marker on ``cpu``: ``perf_before_ns`` was read just before
    the write (and is in the line), ``perf_after_ns`` just after it returned."""

    cpu: int
    seq: int
    phase: str  # "start" or "stop"
    perf_before_ns: int
    perf_after_ns: int

    def line(self) -> str:
        return f"{SYNC_PREFIX} {self.seq} {self.phase} cpu={self.cpu} perf_ns={self.perf_before_ns}"


_SYNC_RE = re.compile(re.escape(SYNC_PREFIX) + r" (\d+) (\w+) cpu=(\d+) perf_ns=(\d+)")


@dataclass(frozen=True)
class ClockSync:
    """One marker found in the trace: ``offset_ns`` = trace time - perf_counter_ns() read
    just before the write; with one clock behind both, ``0 <= offset_ns <= bound_ns``."""

    cpu: int
    seq: int
    phase: str
    trace_ns: int
    perf_before_ns: int
    perf_after_ns: int | None

    @property
    def offset_ns(self) -> int:
        return self.trace_ns - self.perf_before_ns

    @property
    def bound_ns(self) -> int | None:
        return None if self.perf_after_ns is None else self.perf_after_ns - self.perf_before_ns

    def to_json(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "seq": self.seq, "phase": self.phase, "trace_ns": self.trace_ns,
                "perf_before_ns": self.perf_before_ns, "perf_after_ns": self.perf_after_ns,
                "offset_ns": self.offset_ns, "bound_ns": self.bound_ns}


@dataclass(frozen=True)
class RawTrace:
    """Exactly what a session read from tracefs: enough to parse again, and to keep as
    test data (:meth:`save`, :meth:`load`)."""

    cpus: tuple[int, ...]
    clock: str
    byteorder: str
    page_size: int
    header_page: str
    formats: Mapping[str, str]  # "irq/irq_handler_entry" -> that format file's text
    pages: Mapping[int, bytes]  # CPU -> per_cpu/cpuN/trace_pipe_raw, page after page
    stats: Mapping[int, str]  # CPU -> per_cpu/cpuN/stats
    symbols: Mapping[int, str] = field(default_factory=dict)  # kernel addresses in events -> names
    syncs: tuple[SyncWrite, ...] = ()
    enabled: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # requested events this kernel does not have
    buffer_kb: int | None = None  # per measured CPU, as read back
    overwrite: bool = False

    def save(self, directory: str | os.PathLike) -> Path:
        d = Path(directory)
        (d / "formats").mkdir(parents=True, exist_ok=True)
        meta = {"cpus": list(self.cpus), "clock": self.clock, "byteorder": self.byteorder,
                "page_size": self.page_size, "symbols": {f"{a:#x}": n for a, n in sorted(self.symbols.items())},
                "syncs": [[s.cpu, s.seq, s.phase, s.perf_before_ns, s.perf_after_ns] for s in self.syncs],
                "enabled": list(self.enabled), "missing": list(self.missing), "buffer_kb": self.buffer_kb,
                "overwrite": self.overwrite}
        (d / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        (d / "header_page").write_text(self.header_page)
        for key, text in self.formats.items():
            system, _, name = key.partition("/")
            (d / "formats" / system).mkdir(exist_ok=True)
            (d / "formats" / system / name).write_text(text)
        for cpu, data in self.pages.items():
            (d / f"cpu{cpu}.raw").write_bytes(data)
        for cpu, text in self.stats.items():
            (d / f"cpu{cpu}.stats").write_text(text)
        return d

    @classmethod
    def load(cls, directory: str | os.PathLike) -> RawTrace:
        """Read a saved trace; ValueError when the folder is not one."""
        d = Path(directory)
        try:
            meta = json.loads((d / "meta.json").read_text())
            cpus = tuple(int(c) for c in meta["cpus"])
            formats = {f"{p.parent.name}/{p.name}": p.read_text()
                       for p in sorted((d / "formats").glob("*/*")) if p.is_file()}
            return cls(
                cpus=cpus, clock=str(meta["clock"]), byteorder=str(meta["byteorder"]),
                page_size=int(meta["page_size"]), header_page=(d / "header_page").read_text(), formats=formats,
                pages={c: (d / f"cpu{c}.raw").read_bytes() for c in cpus if (d / f"cpu{c}.raw").exists()},
                stats={c: (d / f"cpu{c}.stats").read_text() for c in cpus if (d / f"cpu{c}.stats").exists()},
                symbols={int(a, 16): str(n) for a, n in dict(meta.get("symbols", {})).items()},
                syncs=tuple(SyncWrite(int(c), int(q), str(p), int(b), int(a)) for c, q, p, b, a in meta.get("syncs", [])),
                enabled=tuple(meta.get("enabled", ())), missing=tuple(meta.get("missing", ())),
                buffer_kb=meta.get("buffer_kb"), overwrite=bool(meta.get("overwrite", False)))
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{d}: not a saved trace: {exc}") from None


@dataclass(frozen=True)
class TraceCapture:
    """A parsed trace: every event on the traced CPUs in time order (trace clock, ns), the
    markers that tie the trace clock to perf_counter_ns(), and what was lost."""

    cpus: tuple[int, ...]
    clock: str
    events: tuple[TraceEvent, ...]
    stats: Mapping[int, CpuTraceStats | Unread]
    pages: Mapping[int, CpuPages]
    syncs: tuple[ClockSync, ...]
    coverage: Mapping[int, tuple[int, int] | Unread]  # CPU -> the window the trace holds whole
    symbols: Mapping[int, str] = field(default_factory=dict)
    softirq_names: Mapping[int, str] = field(default_factory=dict)
    enabled: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    resolution_ns: int = 1  # binary pages carry nanoseconds
    notes: tuple[str, ...] = ()

    def on(self, cpu: int) -> tuple[TraceEvent, ...]:
        return tuple(e for e in self.events if e.cpu == cpu)

    @property
    def offset_range_ns(self) -> tuple[int, int] | Unread:
        """What the markers prove about trace clock minus perf_counter_ns(): each marker was
        stamped between the perf_counter_ns() reads around its write, so the offset lies in
        ``[trace - after, trace - before]``; this is the intersection over all markers
        (``lo > hi`` when they disagree, as two clocks drifting apart would make them)."""
        spans = [(s.trace_ns - s.perf_after_ns, s.offset_ns) for s in self.syncs if s.perf_after_ns is not None]
        if not spans:
            return Unread(Reason.MISSING, "trace_marker", "no sync marker with both times found in the trace")
        return max(a for a, _ in spans), min(b for _, b in spans)

    @property
    def offset_ns(self) -> int | Unread:
        """The offset used to place perf_counter_ns() times on the trace clock: 0 when the
        clock is mono and the markers allow it (same clock, so none is expected), else the
        value in the measured range nearest to that; the range's middle for other clocks."""
        rng = self.offset_range_ns
        if isinstance(rng, Unread):
            return rng
        lo, hi = rng
        if lo > hi:
            return (lo + hi) // 2
        if self.clock == TRACE_CLOCK:
            return min(max(0, lo), hi)
        return (lo + hi) // 2

    def lost(self, cpu: int) -> int | Unread:
        st = self.stats.get(cpu)
        if st is None:
            return Unread(Reason.MISSING, f"per_cpu/cpu{cpu}/stats", "not read")
        if isinstance(st, Unread):
            return st
        return st.lost

    def symbol(self, address: int) -> str:
        return self.symbols.get(address) or f"{address:#x}"

    def to_json(self, with_events: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cpus": list(self.cpus), "clock": self.clock, "resolution_ns": self.resolution_ns,
            "events": len(self.events), "enabled": list(self.enabled), "missing": list(self.missing),
            "offset_ns": _json_value(self.offset_ns), "offset_range_ns": _json_value(self.offset_range_ns),
            "syncs": [s.to_json() for s in self.syncs],
            "stats": {str(c): _json_value(s) for c, s in self.stats.items()},
            "pages": {str(c): {"pages": p.pages, "pages_missed": p.pages_missed, "missed_stored": p.missed_stored,
                               "unknown_types": p.unknown_types} for c, p in self.pages.items()},
            "coverage": {str(c): _json_value(v) for c, v in self.coverage.items()},
            "notes": list(self.notes),
        }
        if with_events:
            out["event_list"] = [e.to_json() for e in self.events]
        return out


def _json_value(v: Any) -> Any:
    if isinstance(v, Unread):
        return v.to_json()
    if hasattr(v, "to_json"):
        return v.to_json()
    if isinstance(v, tuple):
        return list(v)
    return v


POINTER_FIELDS = {("timer", "hrtimer_expire_entry"): "function", ("workqueue", "workqueue_execute_start"): "function",
                  ("workqueue", "workqueue_execute_end"): "function", ("irq", "tasklet_entry"): "func",
                  ("irq", "tasklet_exit"): "func"}


def _parse_formats(raw: RawTrace) -> dict[int, EventFormat]:
    formats: dict[int, EventFormat] = {}
    for key, text in raw.formats.items():
        system = key.partition("/")[0]
        fmt = parse_event_format(text, system)
        formats[fmt.id] = fmt
    return formats


def parse_raw_pages(raw: RawTrace) -> dict[int, CpuPages]:
    """Decode every CPU's pages of a RawTrace (pure; ValueError on damage)."""
    layout = parse_header_page(raw.header_page)
    formats = _parse_formats(raw)
    return {cpu: parse_pages(data, cpu, raw.page_size, layout, formats, raw.byteorder)
            for cpu, data in sorted(raw.pages.items())}


def pointer_addresses(pages: Mapping[int, CpuPages]) -> set[int]:
    """The kernel function addresses in events that name one (hrtimer, work item, tasklet)."""
    out: set[int] = set()
    for p in pages.values():
        for e in p.events:
            fname = POINTER_FIELDS.get((e.system, e.name))
            if fname is not None:
                v = e.fields.get(fname)
                if isinstance(v, int):
                    out.add(v)
    return out


def parse_raw_trace(raw: RawTrace, pages: Mapping[int, CpuPages] | None = None) -> TraceCapture:
    """A TraceCapture from what a session read (pure; ValueError on damage)."""
    if pages is None:
        pages = parse_raw_pages(raw)
    notes: list[str] = []
    formats = _parse_formats(raw)
    softirq_names: dict[int, str] = {}
    for fmt in formats.values():
        if fmt.system == "irq" and fmt.name == "softirq_entry":
            softirq_names = fmt.symbolic()
    stats: dict[int, CpuTraceStats | Unread] = {}
    for cpu in raw.cpus:
        text = raw.stats.get(cpu)
        if text is None:
            stats[cpu] = Unread(Reason.MISSING, f"per_cpu/cpu{cpu}/stats", "not read")
            continue
        try:
            stats[cpu] = parse_stats(text, cpu)
        except ValueError as exc:
            stats[cpu] = Unread(Reason.MALFORMED, f"per_cpu/cpu{cpu}/stats", str(exc))
    events = sorted((e for p in pages.values() for e in p.events), key=lambda e: e.ts_ns)
    written = {(s.cpu, s.seq): s for s in raw.syncs}
    syncs: list[ClockSync] = []
    for e in events:
        if (e.system, e.name) != ("ftrace", "print"):
            continue
        m = _SYNC_RE.search(str(e.fields.get("buf", "")))
        if m is None:
            continue
        seq, phase, cpu, perf = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
        w = written.get((cpu, seq))
        syncs.append(ClockSync(cpu=e.cpu, seq=seq, phase=phase, trace_ns=e.ts_ns, perf_before_ns=perf,
                               perf_after_ns=w.perf_after_ns if w is not None and w.perf_before_ns == perf else None))
        if cpu != e.cpu:
            notes.append(f"marker {seq} meant for CPU {cpu} landed on CPU {e.cpu}")
    coverage: dict[int, tuple[int, int] | Unread] = {}
    for cpu in raw.cpus:
        on_cpu = [e.ts_ns for e in events if e.cpu == cpu]
        starts = [s.trace_ns for s in syncs if s.cpu == cpu and s.phase == "start"]
        stops = [s.trace_ns for s in syncs if s.cpu == cpu and s.phase == "stop"]
        st = stats.get(cpu)
        lost = st.lost if isinstance(st, CpuTraceStats) else None
        p = pages.get(cpu)
        missed = bool(p and p.pages_missed)
        if not on_cpu:
            coverage[cpu] = Unread(Reason.MISSING, f"CPU {cpu}", "no event recorded on this CPU")
            continue
        if lost is None:
            notes.append(f"CPU {cpu}: losses unknown ({st}); the window is taken from the events")
        begin = min(starts) if starts else on_cpu[0]
        end = max(stops) if stops else on_cpu[-1]
        if lost or missed:
            # Overwrite off (the session's setting): the buffer filled and later events were
            # refused, so the trace is whole only up to its last event. Overwrite on: the
            # oldest pages were overwritten, so it is whole only from its first event.
            if raw.overwrite:
                begin = on_cpu[0]
            else:
                end = on_cpu[-1]
            notes.append(f"CPU {cpu}: {lost if lost is not None else 'some'} events lost; "
                         f"the trace is whole over {(end - begin) / 1e9:.3f} s only")
        if not starts:
            notes.append(f"CPU {cpu}: no start marker; the window starts at the first event")
        coverage[cpu] = (begin, max(begin, end))
    unknown = sum(p.unknown_types for p in pages.values())
    if unknown:
        notes.append(f"{unknown} events of types without a format were skipped")
    return TraceCapture(cpus=tuple(raw.cpus), clock=raw.clock, events=tuple(events), stats=stats, pages=dict(pages),
                        syncs=tuple(syncs), coverage=coverage, symbols=dict(raw.symbols), softirq_names=softirq_names,
                        enabled=tuple(raw.enabled), missing=tuple(raw.missing), notes=tuple(notes))


# ---- timeline and attribution (pure) ----------------------------------------------------

OWN = "own"  # the kind of time our own task ran
UNKNOWN = "unknown"  # a task changed without a recorded sched_switch: who ran before is unknown
IDLE = "idle"
UNEXPLAINED = "unexplained"
UNTRACED = "untraced"
# entry event -> (kind, exit event, key field); irq_vectors pairs are matched by name.
_CONTEXTS = {
    ("irq", "irq_handler_entry"): ("irq", "irq_handler_exit", "irq"),
    ("irq", "softirq_entry"): ("softirq", "softirq_exit", "vec"),
    ("irq", "tasklet_entry"): ("tasklet", "tasklet_exit", "tasklet"),
    ("timer", "hrtimer_expire_entry"): ("hrtimer", "hrtimer_expire_exit", "hrtimer"),
    ("ipi", "ipi_entry"): ("ipi", "ipi_exit", "reason"),
}
_EXITS = {(sys_, ex): (kind, key) for (sys_, _), (kind, ex, key) in _CONTEXTS.items()}


@dataclass(frozen=True)
class Segment:
    """A stretch of one CPU's time (trace clock) and the innermost context that had it."""

    start_ns: int
    end_ns: int
    label: str
    kind: str  # irq, vector, softirq, tasklet, hrtimer, ipi, workqueue, task, idle, own, unknown


@dataclass(frozen=True)
class CpuTimeline:
    cpu: int
    window: tuple[int, int]
    segments: tuple[Segment, ...]
    counts: Mapping[str, int]  # label -> how many times that context was entered
    unseen_switches: int = 0  # task changes seen only from the events' common_pid (segments of kind "unknown")


def _label(capture: TraceCapture, e: TraceEvent, kind: str) -> str:
    f = e.fields
    if kind == "irq":
        return f"irq {f.get('irq')} {f.get('name', '')}".rstrip()
    if kind == "softirq":
        vec = f.get("vec")
        name = capture.softirq_names.get(vec) if isinstance(vec, int) else None
        return f"softirq {name or vec}"
    if kind == "tasklet":
        fn = f.get("func")
        return f"tasklet {capture.symbol(fn) if isinstance(fn, int) else fn}"
    if kind == "hrtimer":
        fn = f.get("function")
        return f"hrtimer {capture.symbol(fn) if isinstance(fn, int) else fn}"
    if kind == "ipi":
        return f"ipi {f.get('reason', '')}".rstrip()
    if kind == "workqueue":
        fn = f.get("function")
        return f"workqueue {capture.symbol(fn) if isinstance(fn, int) else fn}"
    return e.name


def build_timeline(capture: TraceCapture, cpu: int, own_tids: Iterable[int] = (),
                   own_comms: Iterable[str] = ()) -> CpuTimeline | Unread:
    """Split one CPU's traced window into segments, each given to the innermost context
    active then: an interrupt-level context (hard IRQ, vector, softirq, tasklet, hrtimer;
    they nest strictly in time on a CPU) above the current task's work item, above the
    current task. Time of our own task (``own_tids``, or a task named in ``own_comms``)
    is kind "own"; pid 0 is "idle"."""
    window = capture.coverage.get(cpu)
    if window is None:
        return Unread(Reason.MISSING, f"CPU {cpu}", "not traced")
    if isinstance(window, Unread):
        return window
    begin, end = window
    own_t, own_c = frozenset(own_tids), frozenset(own_comms)
    events = capture.on(cpu)
    comms: dict[int, str] = {}
    for e in events:
        if e.name == "sched_switch" and e.system == "sched":
            comms.setdefault(int(e.fields.get("prev_pid", -1)), str(e.fields.get("prev_comm", "")))
    task = events[0].pid if events else -1  # common_pid: the task current at the first event
    irq_stack: list[tuple[str, Any, str]] = []
    wq: dict[int, list[tuple[Any, str]]] = {}
    counts: dict[str, int] = {}
    segments: list[Segment] = []

    def current() -> tuple[str, str]:
        if irq_stack:
            kind, _, label = irq_stack[-1]
            return label, kind
        if task < 0:  # no event on this CPU says who ran
            return UNKNOWN, UNKNOWN
        comm = comms.get(task, "")
        if task in own_t or (comm and comm in own_c):
            return OWN, OWN
        if task == 0:
            return IDLE, IDLE
        if wq.get(task):
            return wq[task][-1][1], "workqueue"
        return (f"task {comm}/{task}" if comm else f"task pid {task}"), "task"

    def emit(upto: int, unsure: bool = False) -> None:
        nonlocal last
        a, b = max(last, begin), min(upto, end)
        if b > a:
            label, kind = (UNKNOWN, UNKNOWN) if unsure and not irq_stack else current()
            if segments and segments[-1].label == label and segments[-1].end_ns == a:
                prev = segments.pop()
                a = prev.start_ns
            segments.append(Segment(a, b, label, kind))
        last = max(last, upto)

    def count(label: str) -> None:
        counts[label] = counts.get(label, 0) + 1

    last = begin
    unseen = 0
    for e in events:
        if e.ts_ns > end:
            break
        if e.pid >= 0 and e.pid != task:
            # Every event carries the task current when it was written (in an interrupt,
            # the interrupted one), so a task change without its sched_switch shows here;
            # when it happened since the previous event is unknown.
            emit(e.ts_ns, unsure=True)
            task = e.pid
            if begin <= e.ts_ns:
                unseen += 1
        else:
            emit(e.ts_ns)
        key = (e.system, e.name)
        ctx = _CONTEXTS.get(key)
        if ctx is not None:
            kind, _, keyf = ctx
            label = _label(capture, e, kind)
            irq_stack.append((kind, (kind, e.fields.get(keyf)), label))
            count(label)
        elif key in _EXITS:
            kind, keyf = _EXITS[key]
            _pop(irq_stack, (kind, e.fields.get(keyf)))
        elif e.system == "irq_vectors" and e.name.endswith("_entry"):
            vec = e.name[:-6]
            irq_stack.append(("vector", ("vector", vec), vec))
            count(vec)
        elif e.system == "irq_vectors" and e.name.endswith("_exit"):
            _pop(irq_stack, ("vector", e.name[:-5]))
        elif key == ("workqueue", "workqueue_execute_start"):
            label = _label(capture, e, "workqueue")
            wq.setdefault(e.pid, []).append((e.fields.get("work"), label))
            if e.ts_ns >= begin:
                count(label)
        elif key == ("workqueue", "workqueue_execute_end"):
            stack = wq.get(e.pid, [])
            for i in range(len(stack) - 1, -1, -1):
                if stack[i][0] == e.fields.get("work"):
                    del stack[i:]
                    break
        elif key == ("sched", "sched_switch"):
            nxt = int(e.fields.get("next_pid", -1))
            comms[nxt] = str(e.fields.get("next_comm", ""))
            comms[int(e.fields.get("prev_pid", -1))] = str(e.fields.get("prev_comm", ""))
            task = nxt
            label, kind = current()
            if kind in ("task", "workqueue", IDLE) and e.ts_ns >= begin and not irq_stack:
                count(label)
    emit(end)
    return CpuTimeline(cpu=cpu, window=(begin, end), segments=tuple(segments), counts=counts, unseen_switches=unseen)


def _pop(stack: list[tuple[str, Any, str]], key: tuple[str, Any]) -> None:
    # An exit closes its own entry and any left open above it (their exits were lost); an
    # exit with no entry (the entry came before the trace) changes nothing.
    for i in range(len(stack) - 1, -1, -1):
        if stack[i][1] == key:
            del stack[i:]
            return


@dataclass(frozen=True)
class Cause:
    label: str
    kind: str
    ns: int

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "ns": self.ns}


@dataclass(frozen=True)
class GapAttribution:
    """One gap split by what had its CPU: causes in the order they first took the CPU,
    the traced rest that no event explains (the hypervisor, steal time, the loop itself),
    and the part the trace does not cover."""

    gap: Gap
    causes: tuple[Cause, ...]
    unexplained_ns: int
    untraced_ns: int

    @property
    def explained_ns(self) -> int:
        return sum(c.ns for c in self.causes)

    def line(self, start_ns: int = 0) -> str:
        """``41 µs at 3.215 s: local_timer 2.1 µs, task kworker/1:2/37 37 µs, unexplained 1.9 µs``
        (time from ``start_ns`` on the loop's clock)."""
        parts = [f"{c.label} {format_ns(c.ns)}" for c in self.causes]
        if self.unexplained_ns:
            parts.append(f"{UNEXPLAINED} {format_ns(self.unexplained_ns)}")
        if self.untraced_ns:
            parts.append(f"{UNTRACED} {format_ns(self.untraced_ns)}")
        at = (self.gap.start_ns - start_ns) / 1e9
        return f"{format_ns(self.gap.gap_ns)} at {at:.3f} s on CPU {self.gap.cpu}: " + (", ".join(parts) or "nothing")

    def to_json(self) -> dict[str, Any]:
        return {"cpu": self.gap.cpu, "end_ns": self.gap.end_ns, "gap_ns": self.gap.gap_ns,
                "causes": [c.to_json() for c in self.causes], "unexplained_ns": self.unexplained_ns,
                "untraced_ns": self.untraced_ns}


@dataclass(frozen=True)
class CauseTotal:
    label: str
    kind: str
    ns: int
    gaps: int  # gaps this cause took part in (for run summaries: times the context was entered)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "ns": self.ns, "gaps": self.gaps}


@dataclass(frozen=True)
class TraceAttribution:
    gaps: tuple[GapAttribution, ...]
    totals: tuple[CauseTotal, ...]  # over all gaps, most stolen time first (unexplained, untraced included)
    offset_ns: int  # trace clock - perf_counter_ns() used to place the gaps
    offset_basis: str  # "measured (N markers, write bound ... ns)" or why it was assumed
    resolution_ns: int
    lost: Mapping[int, int | Unread]
    notes: tuple[str, ...] = ()

    def lines(self, start_ns: int = 0) -> list[str]:
        return [g.line(start_ns) for g in self.gaps]

    def to_json(self) -> dict[str, Any]:
        return {"gaps": [g.to_json() for g in self.gaps], "totals": [t.to_json() for t in self.totals],
                "offset_ns": self.offset_ns, "offset_basis": self.offset_basis, "resolution_ns": self.resolution_ns,
                "lost": {str(c): _json_value(v) for c, v in self.lost.items()}, "notes": list(self.notes)}


def format_ns(ns: int) -> str:
    """``850 ns``, ``2.1 µs``, ``37 µs``, ``4.2 ms``.

    >>> [format_ns(n) for n in (850, 2_140, 37_000, 4_200_000)]
    ['850 ns', '2.1 µs', '37 µs', '4.2 ms']
    """
    if ns < 1000:
        return f"{ns} ns"
    if ns < 10_000:
        return f"{ns / 1000:.1f} µs"
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} µs"
    return f"{ns / 1e6:.1f} ms"


def _offset(capture: TraceCapture) -> tuple[int, str, list[str]]:
    off = capture.offset_ns
    if isinstance(off, Unread):
        if capture.clock == TRACE_CLOCK:
            return 0, "assumed 0: no marker found, trace clock is mono (CLOCK_MONOTONIC)", [str(off)]
        return 0, f"assumed 0: no marker found, and trace clock {capture.clock!r} is not CLOCK_MONOTONIC", [
            str(off), f"trace clock {capture.clock!r}: gap times and event times may not match"]
    rng = capture.offset_range_ns
    assert not isinstance(rng, Unread)
    lo, hi = rng
    basis = f"measured with {len(capture.syncs)} markers: offset in [{lo}, {hi}] ns"
    if lo > hi:
        return off, basis + " (the markers disagree: the clocks drifted apart)", [
            f"trace markers disagree on the clock offset ({lo} > {hi} ns)"]
    return off, basis, []


def attribute_gaps(capture: TraceCapture, gaps: Iterable[Gap], own_tids: Iterable[int],
                   own_comms: Iterable[str] = ()) -> TraceAttribution:
    """Split every gap (perf_counter_ns() times) into what the trace says had its CPU."""
    offset, basis, notes = _offset(capture)
    own_tids = frozenset(own_tids)
    if not own_tids and not own_comms:
        notes.append("no own task given: the loop's own running time is counted as a task")
    timelines: dict[int, CpuTimeline | Unread] = {}
    ends: dict[int, list[int]] = {}
    results: list[GapAttribution] = []
    for gap in sorted(gaps, key=lambda g: (g.end_ns, g.cpu)):
        if gap.cpu not in timelines:
            tl = timelines[gap.cpu] = build_timeline(capture, gap.cpu, own_tids, own_comms)
            ends[gap.cpu] = [] if isinstance(tl, Unread) else [x.end_ns for x in tl.segments]
        results.append(_attribute_one(gap, timelines[gap.cpu], ends[gap.cpu], offset))
    totals: dict[str, list] = {}
    for g in results:
        for c in g.causes:
            t = totals.setdefault(c.label, [c.kind, 0, 0])
            t[1] += c.ns
            t[2] += 1
        for label, ns in ((UNEXPLAINED, g.unexplained_ns), (UNTRACED, g.untraced_ns)):
            if ns:
                t = totals.setdefault(label, [label, 0, 0])
                t[1] += ns
                t[2] += 1
    ordered = tuple(sorted((CauseTotal(label, k, ns, n) for label, (k, ns, n) in totals.items()),
                           key=lambda t: (-t.ns, t.label)))
    for cpu, tl in sorted(timelines.items()):
        if isinstance(tl, Unread):
            notes.append(f"CPU {cpu}: {tl}")
        elif tl.unseen_switches:
            notes.append(f"CPU {cpu}: {tl.unseen_switches} task changes had no sched_switch in the trace; "
                         "the time before each (since the previous event) is counted as unexplained")
    lost = {cpu: capture.lost(cpu) for cpu in capture.cpus}
    notes.extend(capture.notes)
    return TraceAttribution(gaps=tuple(results), totals=ordered, offset_ns=offset, offset_basis=basis,
                            resolution_ns=capture.resolution_ns, lost=lost, notes=tuple(notes))


def _attribute_one(gap: Gap, tl: CpuTimeline | Unread, ends: list[int], offset: int) -> GapAttribution:
    s, e = gap.start_ns + offset, gap.end_ns + offset
    if isinstance(tl, Unread) or e <= s:
        return GapAttribution(gap, (), 0, max(0, gap.gap_ns))
    w0, w1 = tl.window
    traced = max(0, min(e, w1) - max(s, w0))
    untraced = (e - s) - traced
    order: list[str] = []
    found: dict[str, list] = {}
    if traced:
        segs = tl.segments
        i = bisect_left(ends, max(s, w0) + 1)  # the first segment ending after the gap starts
        while i < len(segs) and segs[i].start_ns < e:
            seg = segs[i]
            i += 1
            if seg.kind in (OWN, UNKNOWN):
                continue  # no cause known: left to unexplained
            ns = min(seg.end_ns, e) - max(seg.start_ns, s)
            if ns <= 0:
                continue
            if seg.label not in found:
                order.append(seg.label)
                found[seg.label] = [seg.kind, 0]
            found[seg.label][1] += ns
    causes = tuple(Cause(label, found[label][0], found[label][1]) for label in order)
    explained = sum(c.ns for c in causes)
    return GapAttribution(gap, causes, max(0, traced - explained), untraced)


@dataclass(frozen=True)
class CpuRunSummary:
    cpu: int
    window_ns: int | Unread  # how long the trace holds this CPU whole
    own_ns: int
    idle_ns: int
    causes: tuple[CauseTotal, ...]  # every other context, most time first; gaps = times entered
    lost: int | Unread
    unknown_ns: int = 0  # time of tasks the trace does not name (a task change without its sched_switch)

    @property
    def stolen_ns(self) -> int:
        return sum(c.ns for c in self.causes)

    def to_json(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "window_ns": _json_value(self.window_ns), "own_ns": self.own_ns,
                "idle_ns": self.idle_ns, "unknown_ns": self.unknown_ns, "stolen_ns": self.stolen_ns,
                "causes": [c.to_json() for c in self.causes],
                "lost": _json_value(self.lost)}


@dataclass(frozen=True)
class RunSummary:
    cpus: tuple[CpuRunSummary, ...]
    totals: tuple[CauseTotal, ...]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"cpus": [c.to_json() for c in self.cpus], "totals": [t.to_json() for t in self.totals],
                "notes": list(self.notes)}


def summarise_run(capture: TraceCapture, cpus: Iterable[int], own_tids: Iterable[int] = (),
                  own_comms: Iterable[str] = ()) -> RunSummary:
    """Total time per cause over the whole traced window of each CPU, for engines that
    give no per-gap times (oslat, cyclictest): time of the engine's own tasks (``own_tids``
    or ``own_comms``) and idle time are kept apart from the causes."""
    per_cpu: list[CpuRunSummary] = []
    totals: dict[str, list] = {}
    notes = list(capture.notes)
    for cpu in sorted(set(cpus)):
        tl = build_timeline(capture, cpu, own_tids, own_comms)
        if isinstance(tl, Unread):
            per_cpu.append(CpuRunSummary(cpu, tl, 0, 0, (), capture.lost(cpu)))
            notes.append(f"CPU {cpu}: {tl}")
            continue
        own = idle = unknown = 0
        by: dict[str, list] = {}
        for seg in tl.segments:
            ns = seg.end_ns - seg.start_ns
            if seg.kind == OWN:
                own += ns
            elif seg.kind == IDLE:
                idle += ns
            elif seg.kind == UNKNOWN:
                unknown += ns
            else:
                by.setdefault(seg.label, [seg.kind, 0])[1] += ns
        causes = tuple(sorted((CauseTotal(label, k, ns, tl.counts.get(label, 0)) for label, (k, ns) in by.items()),
                              key=lambda c: (-c.ns, c.label)))
        for c in causes:
            t = totals.setdefault(c.label, [c.kind, 0, 0])
            t[1] += c.ns
            t[2] += c.gaps
        per_cpu.append(CpuRunSummary(cpu, tl.window[1] - tl.window[0], own, idle, causes, capture.lost(cpu), unknown))
        if tl.unseen_switches:
            notes.append(f"CPU {cpu}: {tl.unseen_switches} task changes had no sched_switch in the trace "
                         f"({format_ns(unknown)} of unknown tasks)")
    return RunSummary(cpus=tuple(per_cpu),
                      totals=tuple(sorted((CauseTotal(label, k, ns, n) for label, (k, ns, n) in totals.items()),
                                          key=lambda c: (-c.ns, c.label))),
                      notes=tuple(notes))


# ---- the live machine --------------------------------------------------------------------

def _unescape_mount(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


# Sessions that find no tracefs mount one here (a temporary folder with this prefix).
PRIVATE_MOUNT_PREFIX = "hftinfra-tracefs-"


def find_tracefs(mounts_text: str | None = None) -> str | Unread:
    """Where tracefs is mounted (``/proc/mounts``), or why none can be used."""
    if mounts_text is None:
        try:
            mounts_text = Path("/proc/mounts").read_text()
        except OSError as exc:
            return Unread(Reason.DENIED if isinstance(exc, PermissionError) else Reason.MISSING, "/proc/mounts", str(exc))
    candidates: list[str] = []
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point, fstype = _unescape_mount(parts[1]), parts[2]
        if os.path.basename(point).startswith(PRIVATE_MOUNT_PREFIX):
            continue  # another session's own mount: it unmounts it when it ends
        if fstype == "tracefs":
            candidates.append(point)
        elif fstype == "debugfs":  # kernels before 4.1 show tracing inside debugfs
            candidates.append(os.path.join(point, "tracing"))
    for c in candidates:
        if os.path.isdir(os.path.join(c, "instances")):
            return c
    return Unread(Reason.MISSING, "/proc/mounts", "tracefs is not mounted")


def trace_available() -> Unread | None:
    """None when a session can run here, else why not (one clear reason)."""
    if not sys.platform.startswith("linux"):
        return Unread(Reason.UNSUPPORTED, "tracefs", f"Linux only (this is {sys.platform})")
    if os.geteuid() != 0:
        return Unread(Reason.DENIED, "tracefs", "tracing needs root")
    where = find_tracefs()
    if isinstance(where, Unread):
        try:
            filesystems = Path("/proc/filesystems").read_text()
        except OSError as exc:
            return Unread(Reason.MISSING, "/proc/filesystems", str(exc))
        if not re.search(r"\btracefs\b", filesystems):
            return Unread(Reason.UNSUPPORTED, "/proc/filesystems", "this kernel has no tracefs (CONFIG_TRACING off)")
        return None  # not mounted, but a session can mount it privately
    try:
        clocks = Path(where, "trace_clock").read_text()
    except OSError as exc:
        return Unread(Reason.DENIED, os.path.join(where, "trace_clock"), str(exc))
    if TRACE_CLOCK not in clocks.replace("[", " ").replace("]", " ").split():
        return Unread(Reason.UNSUPPORTED, os.path.join(where, "trace_clock"), f"no {TRACE_CLOCK!r} trace clock")
    return None


def buffer_kb_for(duration_s: float, cpus: int = 1, mem_available_kb: int | None = None) -> int:
    """Ring-buffer size per measured CPU for a run of ``duration_s``: the estimated rate
    doubled, at least MIN_BUFFER_KB, at most MAX_BUFFER_KB and a quarter of the available
    memory shared among the CPUs."""
    want = math.ceil(max(0.0, duration_s) * EST_KB_PER_CPU_SECOND * 2) + MIN_BUFFER_KB
    cap = MAX_BUFFER_KB
    if mem_available_kb:
        cap = min(cap, max(MIN_BUFFER_KB, mem_available_kb // 4 // max(1, cpus)))
    return max(MIN_BUFFER_KB, min(want, cap))


def _mem_available_kb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpumask_hex(cpus: Iterable[int]) -> str:
    """The kernel's cpumask text: 32-bit hex words, most significant first, comma-separated.

    >>> cpumask_hex({1})
    '2'
    >>> cpumask_hex({0, 33})
    '2,00000001'
    """
    mask = 0
    for c in cpus:
        mask |= 1 << c
    words = []
    while True:
        words.append(mask & 0xFFFFFFFF)
        mask >>= 32
        if not mask:
            break
    words.reverse()
    return ",".join([f"{words[0]:x}"] + [f"{w:08x}" for w in words[1:]])


# The top-level files a session must leave as it found them.
GLOBAL_FILES = ("trace_clock", "tracing_on", "current_tracer", "set_event", "buffer_size_kb", "tracing_cpumask")


def _libc():
    return ctypes.CDLL(None, use_errno=True)


class TraceSession:
    """A private tracefs instance recording the default events on ``cpus``.

    ``with TraceSession({1}, duration_s=10) as s: ... capture = s.stop()``: entering creates
    and starts the instance and writes sync markers; :meth:`stop` stops it and reads and
    parses the buffers; leaving always disables and removes the instance and unmounts a
    tracefs it mounted, on success, on error and on Ctrl-C, then checks that the global
    tracing settings are what they were (``globals_changed``).
    """

    def __init__(self, cpus: Iterable[int], duration_s: float, events: Sequence[str] = DEFAULT_EVENTS, *,
                 buffer_kb: int | None = None):
        self.cpus = tuple(sorted(set(int(c) for c in cpus)))
        if not self.cpus or min(self.cpus) < 0:
            raise ValueError("a trace session needs at least one CPU")
        self.duration_s = float(duration_s)
        self.patterns = tuple(events)
        self.buffer_kb = buffer_kb or buffer_kb_for(duration_s, len(self.cpus), _mem_available_kb())
        self.tracefs: str | None = None
        self.instance: str | None = None
        self.mounted: str | None = None  # a private mount point this session made
        self.enabled: tuple[str, ...] = ()
        self.missing: tuple[str, ...] = ()
        self.syncs: list[SyncWrite] = []
        self.globals_before: dict[str, str] = {}
        self.globals_after: dict[str, str] = {}
        self.cleanup_errors: list[str] = []
        self.raw: RawTrace | None = None
        self.capture: TraceCapture | None = None
        self.buffer_kb_read: int | None = None
        self._marker_fd: int | None = None
        self.marker_refused: list[str] = []  # markers the ring buffer refused (full or disabled)
        self._seq = 0
        self._stopped = False

    # -- paths and writes
    def _path(self, *parts: str) -> str:
        assert self.instance is not None
        return os.path.join(self.instance, *parts)

    @staticmethod
    def _write(path: str, value: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    @staticmethod
    def _read(path: str) -> str:
        with open(path) as fh:
            return fh.read()

    @property
    def globals_changed(self) -> dict[str, tuple[str, str]]:
        """Global settings that differ from before the session: {file: (before, after)}."""
        return {k: (v, self.globals_after.get(k, "<unread>")) for k, v in self.globals_before.items()
                if self.globals_after.get(k) != v}

    def _global_keys(self) -> list[str]:
        keys = list(GLOBAL_FILES) + ["options/overwrite"]
        for ev in self.enabled:
            keys.append(f"events/{ev}/enable")
        for group in sorted({ev.partition("/")[0] for ev in self.enabled}):
            keys.append(f"events/{group}/enable")
        keys.append("events/enable")
        return keys

    def _read_globals(self) -> dict[str, str]:
        out = {}
        assert self.tracefs is not None
        for k in self._global_keys():
            try:
                out[k] = self._read(os.path.join(self.tracefs, k))
            except OSError as exc:
                out[k] = f"<{exc.strerror}>"
        return out

    def _resolve_events(self) -> tuple[list[str], list[str]]:
        assert self.tracefs is not None
        root = os.path.join(self.tracefs, "events")
        found, missing = [], []
        for pattern in self.patterns:
            group, _, name = pattern.partition("/")
            hits = []
            if os.path.isdir(os.path.join(root, group)):
                for entry in sorted(os.listdir(os.path.join(root, group))):
                    if fnmatch.fnmatchcase(entry, name) and os.path.isfile(os.path.join(root, group, entry, "enable")):
                        hits.append(f"{group}/{entry}")
            if hits:
                found.extend(h for h in hits if h not in found)
            else:
                missing.append(pattern)
        return found, missing

    # -- lifecycle
    def __enter__(self) -> TraceSession:
        problem = trace_available()
        if problem is not None:
            raise TraceError(f"tracing unavailable: {problem}", problem)
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        where = find_tracefs()
        if isinstance(where, Unread):
            point = tempfile.mkdtemp(prefix=PRIVATE_MOUNT_PREFIX)
            if _libc().mount(b"nodev", point.encode(), b"tracefs", 0, None) != 0:
                err = ctypes.get_errno()
                os.rmdir(point)
                raise TraceError(f"cannot mount tracefs on {point}: {os.strerror(err)}")
            self.mounted = point
            where = point
        self.tracefs = where
        enabled, missing = self._resolve_events()
        self.enabled, self.missing = tuple(enabled), tuple(missing)
        self.globals_before = self._read_globals()
        name = f"{INSTANCE_PREFIX}-{os.getpid()}-{secrets.token_hex(4)}"
        path = os.path.join(where, "instances", name)
        os.mkdir(path)
        self.instance = path
        self._write(self._path("tracing_on"), "0")
        self._write(self._path("trace_clock"), TRACE_CLOCK)
        if f"[{TRACE_CLOCK}]" not in self._read(self._path("trace_clock")):
            raise TraceError(f"the instance did not take trace clock {TRACE_CLOCK!r}")
        self._write(self._path("options", "overwrite"), "0")
        for c in self.cpus:
            if not os.path.isdir(self._path("per_cpu", f"cpu{c}")):
                raise TraceError(f"CPU {c} has no trace buffer (offline or absent)")
        self._write(self._path("tracing_cpumask"), cpumask_hex(self.cpus))
        # CPUs outside the mask record nothing: keep their buffers minimal, size the rest.
        self._write(self._path("buffer_size_kb"), "4")
        for c in self.cpus:
            self._write(self._path("per_cpu", f"cpu{c}", "buffer_size_kb"), str(self.buffer_kb))
        try:
            self.buffer_kb_read = min(int(self._read(self._path("per_cpu", f"cpu{c}", "buffer_size_kb")).split()[0])
                                      for c in self.cpus)
        except (OSError, ValueError, IndexError):
            self.buffer_kb_read = None
        for ev in self.enabled:
            self._write(self._path("events", ev, "enable"), "1")
        self._marker_fd = os.open(self._path("trace_marker"), os.O_WRONLY)
        self._write(self._path("tracing_on"), "1")
        self._sync("start")

    def _sync(self, phase: str, repeats: int = 3) -> None:
        """Markers on each traced CPU, written from that CPU (the others record nothing);
        a few in a row, since the shortest write bounds the offset best."""
        assert self._marker_fd is not None
        saved = os.sched_getaffinity(0)
        try:
            for c in self.cpus:
                try:
                    os.sched_setaffinity(0, {c})
                except OSError:
                    continue
                for _ in range(repeats):
                    self._seq += 1
                    before = time.perf_counter_ns()
                    line = f"{SYNC_PREFIX} {self._seq} {phase} cpu={c} perf_ns={before}"
                    try:
                        os.write(self._marker_fd, line.encode())
                    except OSError as exc:
                        # kernel/trace/trace.c answers EBADF ("as if not open for write") when the
                        # ring buffer refuses the event: full with overwrite off, or disabled.
                        if exc.errno != errno.EBADF:
                            raise
                        self.marker_refused.append(f"{phase} on CPU {c}")
                        break
                    after = time.perf_counter_ns()
                    self.syncs.append(SyncWrite(c, self._seq, phase, before, after))
        finally:
            os.sched_setaffinity(0, saved)

    def stop(self) -> TraceCapture:
        """Stop recording, read every traced CPU's buffer and parse it."""
        if self.instance is None:
            raise TraceError("the session is not running")
        if self.capture is not None:
            return self.capture
        self._sync("stop")
        self._write(self._path("tracing_on"), "0")
        self._stopped = True
        try:
            subbuf_kb = int(self._read(self._path("buffer_subbuf_size_kb")).split()[0])
            page_size = subbuf_kb * 1024
        except (OSError, ValueError, IndexError):  # before 6.8 a sub-buffer is one page
            page_size = os.sysconf("SC_PAGE_SIZE")
        stats = {c: self._read(self._path("per_cpu", f"cpu{c}", "stats")) for c in self.cpus}
        pages = {c: self._drain(self._path("per_cpu", f"cpu{c}", "trace_pipe_raw"), page_size) for c in self.cpus}
        assert self.tracefs is not None
        formats = {}
        for ev in (*self.enabled, MARKER_EVENT):
            formats[ev] = self._read(os.path.join(self.tracefs, "events", ev, "format"))
        raw = RawTrace(cpus=self.cpus, clock=TRACE_CLOCK, byteorder=sys.byteorder, page_size=page_size,
                       header_page=self._read(os.path.join(self.tracefs, "events", "header_page")),
                       formats=formats, pages=pages, stats=stats, syncs=tuple(self.syncs), enabled=self.enabled,
                       missing=self.missing, buffer_kb=self.buffer_kb_read, overwrite=False)
        parsed = parse_raw_pages(raw)
        wanted = pointer_addresses(parsed)
        symbols: dict[int, str] = {}
        if wanted:
            try:
                symbols = parse_kallsyms(Path("/proc/kallsyms").read_text(), wanted)
            except OSError:
                symbols = {}
        self.raw = dataclasses.replace(raw, symbols=symbols)
        self.capture = parse_raw_trace(self.raw, parsed)
        if self.marker_refused:
            self.capture = dataclasses.replace(self.capture, notes=self.capture.notes + (
                "the ring buffer refused clock markers (" + ", ".join(self.marker_refused) + "): it was full or "
                "disabled, so events past that point are missing and the clock offset rests on fewer markers",))
        return self.capture

    @staticmethod
    def _drain(path: str, page_size: int) -> bytes:
        chunks = []
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            while True:
                try:
                    b = os.read(fd, page_size)
                except BlockingIOError:
                    break
                if not b:
                    break
                if len(b) < page_size:  # a page is handed out whole; pad defensively
                    b = b + b"\0" * (page_size - len(b))
                chunks.append(b)
        finally:
            os.close(fd)
        return b"".join(chunks)

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if exc_type is None and self.cleanup_errors:
            raise TraceError("trace session cleanup: " + "; ".join(self.cleanup_errors))

    def close(self) -> None:
        """Disable and remove the instance, unmount a private mount; safe to call twice.
        Ctrl-C is held back until it is done."""
        blocked = False
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            blocked = True
        except (ValueError, OSError, AttributeError):
            pass
        try:
            self._close()
        finally:
            if blocked:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def _close(self) -> None:
        if self._marker_fd is not None:
            try:
                os.close(self._marker_fd)
            except OSError:
                pass
            self._marker_fd = None
        if self.instance is not None:
            for rel in ("tracing_on", *(f"events/{ev}/enable" for ev in self.enabled)):
                try:
                    self._write(self._path(*rel.split("/")), "0")
                except OSError:
                    pass
            for attempt in range(50):
                try:
                    os.rmdir(self.instance)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or attempt == 49:
                        self.cleanup_errors.append(f"rmdir {self.instance}: {exc.strerror}")
                        break
                    time.sleep(0.02)
            if os.path.exists(self.instance):
                self.cleanup_errors.append(f"{self.instance} still exists")
            else:
                self.instance = None
        if self.tracefs is not None and self.globals_before:
            self.globals_after = self._read_globals()
        if self.mounted is not None:
            failed = _libc().umount2(self.mounted.encode(), 0) != 0
            if failed and ctypes.get_errno() == errno.EBUSY:
                # Something still holds a file there: detach the mount now (MNT_DETACH, 2),
                # the kernel frees it when the last file is closed.
                failed = _libc().umount2(self.mounted.encode(), 2) != 0
            if failed:
                self.cleanup_errors.append(f"umount {self.mounted}: {os.strerror(ctypes.get_errno())}")
            else:
                try:
                    os.rmdir(self.mounted)
                except OSError as exc:
                    self.cleanup_errors.append(f"rmdir {self.mounted}: {exc.strerror}")
                self.mounted = None
                self.tracefs = None


__all__ = [
    "CauseTotal", "Cause", "ClockSync", "CpuPages", "CpuRunSummary", "CpuTimeline", "CpuTraceStats", "DEFAULT_EVENTS",
    "EventFormat", "FieldFormat", "GapAttribution", "PageLayout", "RawTrace", "RunSummary", "Segment", "SyncWrite",
    "TraceAttribution", "TraceCapture", "TraceError", "TraceEvent", "TraceSession", "attribute_gaps", "buffer_kb_for",
    "build_timeline", "cpumask_hex", "find_tracefs", "format_ns", "parse_event_format", "parse_header_page",
    "parse_kallsyms", "parse_pages", "parse_raw_pages", "parse_raw_trace", "parse_stats", "pointer_addresses",
    "summarise_run", "trace_available",
]
