"""The two rt-tests engines: oslat (a busy loop per CPU, like the python engine but in C) and
cyclictest (a timer thread per CPU that sleeps and measures how late it wakes).

Both programs write their results as JSON (``--json=FILE``) through rt-tests'
``rt_write_json`` (src/lib/rt-utils.c): a header with ``file_version``, the command line under
the key ``"cmdline:"`` and the version under ``"rt_test_version:"`` (both keys end in a colon,
as rt-tests spells them; the version is printed ``%1.2f``, so 2.4 appears as ``"2.40"`` and
2.1 and 2.10 both as ``"2.10"``), ``start_time``, ``end_time``, ``return_code``, ``sysinfo``,
then the tool's own ``num_threads`` and ``thread`` (one object per measuring thread, keyed
``"0"``, ``"1"``, ...). The JSON does not record every setting the figures depend on (the
bucket width, the histogram size, the wake-up interval), so the parsers read those from the
recorded command line, with each tool's defaults where an option is absent.

What each number means, from the rt-tests source (git.kernel.org utils/rt-tests, v2.4 =
commit ca4a6293da23ad0fd708ea1fecb2d465a9ea6093; later versions where they differ):

oslat (src/oslat/oslat.c). Each thread spins on its CPU reading the TSC (``rdtsc`` after
``lfence`` on x86); a sample is the TSC difference between two turns, so it includes the
turn's own work (one histogram increment). A sample of ``c`` cycles goes to bucket index
``c // freq`` (``freq``: the counter's MHz measured at start, truncated to an integer), that
is its length in whole microseconds, and the bucket is labelled ``index + 1``: the bucket
labelled N holds samples in [N-1, N) µs. Indexes at or above the last bucket go to the last
one ("including overflows"); the bucket count is ``-b`` (default 32, 5 to 1024 accepted:
oslat refuses 4 although its help says 4-1024). The JSON lists only non-zero buckets.
``min`` and ``max`` are ``index + 1`` of the shortest and longest sample, in µs: the upper
edges of their buckets (a ``max`` of 701 means the longest sample was in [700, 701) µs).
``avg`` weights each bucket by its label, plus the overflow excess of thread 0 for every
thread (a slip in 2.4); it is not used here. ``duration`` is the measured run's TSC span in
seconds (``%.3f``), without the 1 s pre-heat oslat runs first. From 2.5 a bucket width
(``-W``, in ns) exists; in 2.5 and 2.6 a sample's length was rounded up before bucketing,
so the bucket labelled N held (N-2, N-1] µs and ``min``/``max`` were rounded up; from 2.7
lengths are truncated again, the bucket labelled N holds [N-w, N) and ``min``/``max`` are
the truncated lengths (lower edges). A ``"2.10"`` file is read as 2.10 (2.1 is long gone).

cyclictest (src/cyclictest/cyclictest.c). Each thread sleeps with ``clock_nanosleep``
(TIMER_ABSTIME, CLOCK_MONOTONIC) until its next period and measures, on waking, ``now -
expected`` with ``calcdiff`` (src/include/rt-utils.h): whole seconds times 10^6 plus the
nanosecond difference divided by 1000 in C (towards zero), so the value is the latency
truncated to a whole µs, except when the wake-up lands in a later second than the expiry,
where it is rounded up. The histogram (``-h US``) counts value N in bucket N: the bucket
labelled N holds [N, N+1) µs; values at or above US are overflows, counted only in the text
output, so here overflows = ``cycles`` minus the histogram total. ``min``, ``max`` are the
truncated µs values, ``avg`` their mean (``%.2f``), ``cycles`` the wake-ups. With ``-N``
(``"resolution_in_ns": 1``) every value is in ns instead. Without ``-p`` the threads run
SCHED_OTHER at priority 0, whose wake-ups carry the thread's timer slack (50 µs unless
changed; prctl(2) PR_SET_TIMERSLACK: real-time threads have none); ``-p N`` makes them
SCHED_FIFO priority N, all at the same priority with ``-h``.

Both tools stop on SIGINT and still write their JSON (tested here): oslat's handler ends the
current run, cyclictest's sets its shutdown flag. A SIGINT during oslat's 1 s pre-heat only
ends the pre-heat; the runners therefore repeat SIGINT until the program exits.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hftinfra.cpulist import format_cpulist
from hftinfra.host import Reason, Unread
from hftinfra.labs.harness import find_tool
from hftinfra.measure.jitter.model import Bucket, EngineResult, Histogram, summarise

RT_TESTS_PACKAGE = "rt-tests"
OSLAT_LOST_FROM_NS = 2_000  # samples shorter than this are not counted as lost time
OSLAT_PREHEAT_S = 1  # oslat spins 1 s before the measured run (run_expt(threads, 1, true))
OSLAT_BUCKETS = (5, 1024)  # what oslat's -b accepts
CYCLICTEST_HIST_MAX_US = 1_000_000  # cyclictest clamps -h to HIST_MAX
CYCLICTEST_DEFAULT_INTERVAL_US = 1000
CYCLICTEST_DEFAULT_DISTANCE_US = 500
PROGRESS_EVERY_S = 0.25
STOP_GRACE_S = 5.0  # after the first forwarded SIGINT, then SIGKILL

OSLAT_LOST_BASIS = (
    "at least: every sample of 2 µs or more (the buckets from [2, 3) µs up), counted at its "
    "bucket's lower edge minus the mean turn (loop_ns, which includes the gaps, so it is no "
    "less than the loop's own cost), the largest sample at the lower edge its max allows; "
    "samples under 2 µs are not counted")
CYCLICTEST_LOST_DETAIL = ("cyclictest sleeps between wake-ups: it measures how late a timer wakes the "
                          "thread, not time stolen from a running one")
CYCLICTEST_LOST_BASIS = "not measured: " + CYCLICTEST_LOST_DETAIL

# getopt specs as the programs declare them (short string; long name -> (argument, key)),
# so the recorded command line can be read the way the program read it.
_OSLAT_SHORT = "b:Bc:C:D:f:hm:qsw:W:T:vz"
_OSLAT_LONG = {
    "bucket-size": ("r", "b"), "bucket-width": ("r", "W"), "cpu-list": ("r", "c"),
    "cpu-main-thread": ("r", "C"), "duration": ("r", "D"), "json": ("r", "json"),
    "rtprio": ("r", "f"), "help": ("n", "h"), "trace-threshold": ("r", "T"),
    "workload": ("r", "w"), "workload-mem": ("r", "m"), "bias": ("n", "B"), "quiet": ("n", "q"),
    "single-preheat": ("n", "s"), "zero-omit": ("n", "z"), "version": ("n", "v"),
}
_CYCLICTEST_SHORT = "a::A::b:c:d:D:F:h:H:i:l:MNo:p:mqrRsSt::uvx"
_CYCLICTEST_LONG = {
    "affinity": ("o", "a"), "aligned": ("o", "A"), "breaktrace": ("r", "b"), "clock": ("r", "c"),
    "default-system": ("n", "default-system"), "distance": ("r", "d"), "duration": ("r", "D"),
    "latency": ("r", "latency"), "fifo": ("r", "F"), "histogram": ("r", "h"), "histofall": ("r", "H"),
    "histfile": ("r", "histfile"), "interval": ("r", "i"), "json": ("r", "json"), "laptop": ("n", "laptop"),
    "loops": ("r", "l"), "mainaffinity": ("r", "mainaffinity"), "mlockall": ("n", "m"),
    "refresh_on_max": ("n", "M"), "nsecs": ("n", "N"), "oscope": ("r", "o"), "priority": ("r", "p"),
    "quiet": ("n", "q"), "priospread": ("n", "priospread"), "relative": ("n", "r"),
    "resolution": ("n", "R"), "secaligned": ("o", "secaligned"), "system": ("n", "s"), "smi": ("n", "smi"),
    "smp": ("n", "S"), "spike": ("r", "spike"), "spike-nodes": ("r", "spike-nodes"), "threads": ("o", "t"),
    "tracemark": ("n", "tracemark"), "unbuffered": ("n", "u"), "verbose": ("n", "v"),
    "dbg_cyclictest": ("n", "dbg_cyclictest"), "policy": ("r", "policy"), "help": ("n", "help"),
    "posix_timers": ("n", "x"),
}


# ---- argv ------------------------------------------------------------------------------

def _whole_seconds(duration_s: float) -> int:
    """oslat's and cyclictest's -D go through rt-tests' parse_time_string: strtol, then an
    optional m/h/d suffix; "1.5" silently means 1 s. Only whole seconds are exact."""
    if isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)):
        raise ValueError(f"duration must be a number of seconds, not {duration_s!r}")
    if not math.isfinite(duration_s) or duration_s < 1 or duration_s != int(duration_s):
        raise ValueError(f"duration must be a whole number of seconds, at least 1 (rt-tests' -D takes "
                         f"whole seconds), not {duration_s!r}")
    return int(duration_s)


def _cpus(cpus: Iterable[int]) -> list[int]:
    given = list(cpus)
    for c in given:
        if isinstance(c, bool) or not isinstance(c, int) or c < 0:
            raise ValueError(f"not a CPU number: {c!r}")
    if not given:
        raise ValueError("no CPU to measure")
    return sorted(set(given))


def _json_path(path: str) -> str:
    # rt_write_json prints the command line between quotes without escaping it, so a path
    # holding a quote, a backslash or a control character would make the file unreadable.
    if not path or any(ch in path for ch in '"\\') or any(ord(ch) < 0x20 for ch in path):
        raise ValueError(f"JSON path {path!r} would break the JSON rt-tests writes (it copies the command "
                         "line into it unescaped): use one without quotes, backslashes or control characters")
    return path


def _allowed_cpus() -> set[int]:
    return set(os.sched_getaffinity(0))


def _main_cpu(measured: list[int], main_cpu: int | None) -> int | None:
    """The CPU for the program's main thread: the one asked, else the lowest CPU this process
    may run on that is not measured, else None (every allowed CPU is measured)."""
    if main_cpu is not None:
        if isinstance(main_cpu, bool) or not isinstance(main_cpu, int) or main_cpu < 0:
            raise ValueError(f"not a CPU number: {main_cpu!r}")
        return main_cpu
    free = sorted(_allowed_cpus() - set(measured))
    return free[0] if free else None


def _fifo(fifo: int | None) -> int | None:
    if fifo is None:
        return None
    if isinstance(fifo, bool) or not isinstance(fifo, int) or not 1 <= fifo <= 99:
        raise ValueError(f"SCHED_FIFO priority must be 1-99, not {fifo!r}")
    return fifo


def oslat_argv(cpus: Iterable[int], duration_s: float, json_path: str, *, fifo: int | None = None,
               main_cpu: int | None = None, buckets: int = 1024) -> list[str]:
    """oslat's command line: one busy thread per CPU in ``cpus`` for ``duration_s`` whole
    seconds (after oslat's own 1 s pre-heat), ``buckets`` 1 µs buckets (the last one also
    holds everything longer), results in ``json_path``, a summary only (``-q``).

    The main thread, which only sleeps until the run ends, goes to ``main_cpu`` or else to
    the lowest CPU not measured (oslat's default is CPU 0, measured or not). ``fifo`` runs
    the loops SCHED_FIFO at that priority; the kernel's RT throttling
    (``/proc/sys/kernel/sched_rt_runtime_us``, 950000 of 1000000 by default) then takes the CPU
    away for the rest of each period, which shows as gaps of tens of ms. SCHED_FIFO loops on
    every CPU would starve everything else between those gaps, so that is refused."""
    measured = _cpus(cpus)
    seconds = _whole_seconds(duration_s)
    if isinstance(buckets, bool) or not isinstance(buckets, int) or not OSLAT_BUCKETS[0] <= buckets <= OSLAT_BUCKETS[1]:
        raise ValueError(f"oslat takes {OSLAT_BUCKETS[0]} to {OSLAT_BUCKETS[1]} buckets, not {buckets!r}")
    prio = _fifo(fifo)
    main = _main_cpu(measured, main_cpu)
    if prio is not None and main is None:
        raise ValueError("SCHED_FIFO busy loops on every CPU this process may use would leave nothing for the "
                         "rest of the system: leave a CPU unmeasured or pass main_cpu")
    argv = ["oslat", "-c", format_cpulist(measured), "-D", str(seconds), "-b", str(buckets), "-q",
            f"--json={_json_path(json_path)}"]
    if main is not None:
        argv += ["-C", str(main)]
    if prio is not None:
        argv += ["-f", str(prio)]
    return argv


def cyclictest_argv(cpus: Iterable[int], duration_s: float, json_path: str, *, fifo: int | None = None,
                    interval_us: int = 1000, histogram_us: int = 1000, main_cpu: int | None = None) -> list[str]:
    """cyclictest's command line: one thread per CPU, pinned in CPU order (thread i on the
    i-th CPU of the list), waking every ``interval_us`` for ``duration_s`` whole seconds, a
    histogram of ``histogram_us`` 1 µs buckets, results in ``json_path``.

    Also ``-q`` (summary only), ``-m`` (mlockall: page faults would otherwise count as
    latency) and ``--default-system``: without it cyclictest holds /dev/cpu_dma_latency at
    0 µs for the run, which keeps every CPU out of deep idle states and so measures a host
    tuned differently from the one the other engines measure. The main thread (it wakes
    every 10 ms to refresh its counters) goes to ``main_cpu`` or else the lowest CPU not
    measured. Without ``fifo`` the threads run SCHED_OTHER, priority 0 (cyclictest's default),
    and their wake-ups include the timer slack; ``fifo`` adds ``-p`` (SCHED_FIFO, that
    priority for every thread)."""
    measured = _cpus(cpus)
    seconds = _whole_seconds(duration_s)
    for name, value, top in (("interval_us", interval_us, None), ("histogram_us", histogram_us, CYCLICTEST_HIST_MAX_US)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (top is not None and value > top):
            raise ValueError(f"{name} must be a whole number of µs from 1{f' to {top}' if top else ''}, not {value!r}")
    prio = _fifo(fifo)
    main = _main_cpu(measured, main_cpu)
    argv = ["cyclictest", f"--threads={len(measured)}", f"--affinity={format_cpulist(measured)}",
            "-i", str(interval_us), "-h", str(histogram_us), "-D", str(seconds), "-q", "-m", "--default-system",
            f"--json={_json_path(json_path)}"]
    if main is not None:
        argv.append(f"--mainaffinity={main}")
    if prio is not None:
        argv += ["-p", str(prio)]
    return argv


# ---- reading the JSON ---------------------------------------------------------------------

def _load(text: str, tool: str) -> dict[str, Any]:
    try:
        d = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{tool} JSON: not JSON ({exc})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{tool} JSON: expected an object, got {type(d).__name__}")
    return d


def _field(d: Mapping[str, Any], keys: tuple[str, ...], where: str) -> Any:
    for k in keys:
        if k in d:
            return d[k]
    raise ValueError(f"{where} has no {keys[0]!r}")


def _int(d: Mapping[str, Any], key: str, where: str) -> int:
    v = _field(d, (key,), where)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{where}: {key!r} is not an integer: {v!r}")
    return v


def _number(d: Mapping[str, Any], key: str, where: str) -> float:
    v = _field(d, (key,), where)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{where}: {key!r} is not a number: {v!r}")
    return float(v)


def _text(d: Mapping[str, Any], keys: tuple[str, ...], where: str) -> str:
    v = _field(d, keys, where)
    if not isinstance(v, str):
        raise ValueError(f"{where}: {keys[0]!r} is not text: {v!r}")
    return v


def _version(text: str, tool: str) -> tuple[int, int]:
    """rt-tests prints its version ``%1.2f``: "2.40" is 2.4, "2.80" 2.8, "2.10" 2.10 (2.1
    prints the same and is read as 2.10), "2.11" 2.11."""
    m = re.fullmatch(r"\s*([0-9]+)\.([0-9][0-9])\s*", text)
    if not m:
        raise ValueError(f"{tool} JSON: version {text!r} is not rt-tests' X.YZ")
    frac = m[2]
    minor = 10 if frac == "10" else int(frac[0]) if frac[1] == "0" else int(frac)
    return int(m[1]), minor


def _options(cmdline: str, short: str, long: Mapping[str, tuple[str, str]]) -> tuple[dict[str, str | None], list[str]]:
    """The options of a recorded command line (argv joined by spaces) read as getopt_long
    reads them: clustered short options, attached or separate required arguments, optional
    arguments only when attached, ``--name=value``, unique prefixes of long names. Returns
    key -> last value (None for a flag) and the options it did not know."""
    kinds: dict[str, str] = {}
    i = 0
    while i < len(short):
        ch = short[i]
        if short[i + 1:i + 3] == "::":
            kinds[ch], i = "o", i + 3
        elif short[i + 1:i + 2] == ":":
            kinds[ch], i = "r", i + 2
        else:
            kinds[ch], i = "n", i + 1
    tokens = cmdline.split()[1:]
    found: dict[str, str | None] = {}
    unknown: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok == "--":
            break
        if tok.startswith("--"):
            name, eq, value = tok[2:].partition("=")
            match = [name] if name in long else [n for n in long if n.startswith(name)]
            if len(match) != 1:
                unknown.append(tok)
                continue
            kind, key = long[match[0]]
            if kind == "r" and not eq:
                value, i = (tokens[i], i + 1) if i < len(tokens) else ("", i)
            found[key] = value if (eq or kind == "r") else None
        elif tok.startswith("-") and len(tok) > 1:
            j = 1
            while j < len(tok):
                ch = tok[j]
                kind = kinds.get(ch)
                if kind is None:
                    unknown.append("-" + ch)
                    j += 1
                    continue
                if kind == "n":
                    found[ch] = None
                    j += 1
                    continue
                rest = tok[j + 1:]
                if kind == "r" and not rest:
                    rest, i = (tokens[i], i + 1) if i < len(tokens) else ("", i)
                found[ch] = rest or None
                break
    return found, unknown


def _option_int(opts: Mapping[str, str | None], key: str, default: int | None, tool: str) -> int | None:
    if key not in opts:
        return default
    raw = opts[key] or ""
    m = re.match(r"\s*([+-]?[0-9]+)", raw)  # strtol/atoi: leading digits count, the rest is ignored
    if not m:
        raise ValueError(f"{tool} JSON: command line option -{key} {raw!r} is not a number")
    return int(m[1])


def _header(d: Mapping[str, Any], tool: str) -> tuple[str, str, tuple[int, int]]:
    version = _text(d, ("rt_test_version:", "rt_test_version"), f"{tool} JSON")
    cmdline = _text(d, ("cmdline:", "cmdline"), f"{tool} JSON")
    return version, cmdline, _version(version, tool)


def _threads(d: Mapping[str, Any], tool: str) -> list[tuple[int, Mapping[str, Any]]]:
    threads = _field(d, ("thread",), f"{tool} JSON")
    if not isinstance(threads, dict):
        raise ValueError(f"{tool} JSON: 'thread' is not an object")
    n = _int(d, "num_threads", f"{tool} JSON")
    if n != len(threads):
        raise ValueError(f"{tool} JSON: num_threads is {n} but {len(threads)} threads are listed")
    out = []
    for key, t in threads.items():
        if not (isinstance(key, str) and key.isdigit() and key.isascii()):
            raise ValueError(f"{tool} JSON: thread key {key!r} is not a thread number")
        if not isinstance(t, dict):
            raise ValueError(f"{tool} JSON: thread {key} is not an object")
        out.append((int(key), t))
    return sorted(out, key=lambda kv: kv[0])


def _counts(t: Mapping[str, Any], where: str, *, required: bool = True) -> list[tuple[str, int]]:
    if "histogram" not in t and not required:
        return []
    hist = _field(t, ("histogram",), where)
    if not isinstance(hist, dict):
        raise ValueError(f"{where}: 'histogram' is not an object")
    out = []
    for label, n in hist.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{where}: bucket {label!r} has count {n!r}, not a count")
        out.append((label, n))
    return out


def _label_ns(label: str, where: str) -> int:
    """A bucket label in µs ("17", or "0.500" with a sub-µs oslat -W) as whole ns."""
    if not re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,3})?", label):
        raise ValueError(f"{where}: bucket label {label!r} is not a number of µs")
    whole, _, frac = label.partition(".")
    return int(whole) * 1000 + int((frac + "000")[:3])


def _histogram(edges: Iterable[tuple[int, int, int]], max_ns: int | None) -> Histogram:
    merged: dict[tuple[int, int], int] = {}
    for lo, up, n in edges:
        merged[(lo, up)] = merged.get((lo, up), 0) + n
    return Histogram(tuple(Bucket(lo, up, n) for (lo, up), n in sorted(merged.items())), max_ns)


def _open_top(hist: Histogram) -> Histogram:
    """The same histogram with its highest bucket made an overflow bucket (upper None)."""
    *rest, top = hist.buckets
    return Histogram((*rest, Bucket(top.lower_ns, None, top.count)), hist.max_ns)


def parse_oslat_json(text: str) -> EngineResult:
    """oslat's ``--json`` file as an EngineResult (engine "oslat"), one CpuJitter per thread.

    Per thread: the histogram in ns, each bucket ``[lower, upper)`` from its µs label (see
    the module docstring for the version differences), the highest one open (upper None)
    when ``max`` shows a sample beyond it, that is when it also held oslat's overflows;
    ``max_ns`` and ``min_ns`` are oslat's ``max`` and ``min`` in ns as it prints them (for
    2.4, the upper edges of the buckets of the longest and shortest samples). ``samples`` is
    the histogram total (every turn of the loop); ``loop_ns`` the mean turn, ``duration`` /
    samples (it includes the gaps, so it is an upper bound on the loop's own cost).

    ``resolution_ns`` is the bucket width, 1000 ns unless ``-W`` set another: the loop's own
    turn is a few tens of ns, but oslat keeps only the bucket of each sample, so two gaps in
    the same bucket cannot be told apart and nothing shorter than a bucket can be seen.

    ``lost_ns`` is a lower bound (see OSLAT_LOST_BASIS): the samples of 2 µs or more, each
    counted at its bucket's lower edge minus ``loop_ns``; in an overflow bucket the largest
    sample is counted at the lower bound its ``max`` gives. ``gaps_seen`` is the number of
    those samples; oslat records no times, so ``gaps`` is empty.

    Raises ValueError, naming what is wrong, on anything that is not such a file, and on a
    run with ``--bias`` (its lowest bucket holds everything under a bias the file does not
    record).

    A thread as oslat 2.4 writes it (``oslat -c 1 -D 2 --json=FILE -q``, 32 buckets)::

        "0": {
          "cpu": 1,
          "freq": 2695,
          "min": 1,
          "avg": 1.000170,
          "max": 701,
          "duration": 2.000,
          "histogram": {
            "1": 101155195,
            "2": 3,
            "3": 179,
            ...
            "32": 18
          }
        }
    """
    d = _load(text, "oslat")
    version, cmdline, ver = _header(d, "oslat")
    opts, unknown = _options(cmdline, _OSLAT_SHORT, _OSLAT_LONG)
    if "B" in opts:
        raise ValueError("oslat JSON: the run used --bias, which shifts the buckets by a bias the file does not "
                         "record")
    width_ns = unit_ns = 1000
    if ver >= (2, 5) and "W" in opts:
        w = _option_int(opts, "W", None, "oslat")
        if w is None or w <= 0:
            raise ValueError(f"oslat JSON: bucket width {opts['W']!r} is not positive")
        width_ns, unit_ns = w, (1000 if w % 1000 == 0 else 1)
    era = "2.4" if ver <= (2, 4) else "2.5" if ver <= (2, 6) else "2.7"
    threads = _threads(d, "oslat")
    notes = [f"oslat {version}: {len(threads)} thread(s)"]
    if unknown:
        notes.append(f"options not understood in the recorded command line: {' '.join(unknown)}")
    prio = _option_int(opts, "f", None, "oslat")
    notes.append(f"SCHED_FIFO priority {prio}" if prio else "SCHED_OTHER (oslat's default)")
    rc = d.get("return_code")
    if rc not in (0, None):
        notes.append(f"oslat's return_code is {rc!r}")

    records = []
    for key, t in threads:
        where = f"oslat JSON thread {key}"
        cpu = _int(t, "cpu", where)
        mn = _int(t, "min", where)
        mx = _int(t, "max", where)
        duration_s = _number(t, "duration", where)
        if duration_s < 0:
            raise ValueError(f"{where}: negative duration {duration_s}")
        edges = []
        for label, n in _counts(t, where):
            top_ns = _label_ns(label, where)
            if top_ns % width_ns:  # labels are (index + 1) bucket widths
                raise ValueError(f"{where}: bucket label {label!r} is not a multiple of the {width_ns} ns bucket width")
            if era == "2.4":
                lo, up = top_ns - 1000, top_ns
            elif era == "2.5":  # lengths rounded up to a unit before bucketing
                lo, up = top_ns - width_ns - unit_ns, top_ns - unit_ns
            else:
                lo, up = top_ns - width_ns, top_ns
            lo = max(lo, 0)
            if up <= lo:
                raise ValueError(f"{where}: bucket {label!r} is empty for a {width_ns} ns width")
            if n:
                edges.append((lo, up, n))
        hist = _histogram(edges, None)
        samples = hist.total
        if samples == 0:
            records.append(summarise(
                cpu, "oslat", duration_s, hist, min_ns=None,
                lost_ns=Unread(Reason.MISSING, "oslat", f"thread {key} (CPU {cpu}) recorded no samples"),
                lost_basis=OSLAT_LOST_BASIS, loop_ns=None, resolution_ns=width_ns, note="no samples"))
            continue
        if mx < 0 or mn < 0:
            raise ValueError(f"{where}: negative min or max")
        # The longest sample lies in [max_lo, max_hi) as far as its max tells.
        if era == "2.4":
            max_lo, max_hi = (mx - 1) * 1000, mx * 1000
        elif era == "2.5":
            max_lo, max_hi = (mx - 1) * unit_ns, mx * unit_ns + 1
        else:
            max_lo, max_hi = mx * unit_ns, (mx + 1) * unit_ns
        max_lo = max(max_lo, 0)
        top = hist.buckets[-1]
        if max_hi <= top.lower_ns:
            raise ValueError(f"{where}: max {mx} is below its highest bucket ({top.lower_ns} ns and up)")
        hist = Histogram(hist.buckets, mx * unit_ns)
        if top.upper_ns is not None and max_lo >= top.upper_ns:
            hist = _open_top(hist)
        loop_ns = duration_s * 1e9 / samples if duration_s > 0 else None
        lost: int | Unread
        seen = 0
        if loop_ns is None:
            lost = Unread(Reason.MALFORMED, "oslat", f"thread {key} (CPU {cpu}) has no duration")
        else:
            total = 0.0
            for b in hist.buckets:
                if b.lower_ns < OSLAT_LOST_FROM_NS or not b.count:
                    continue
                seen += b.count
                total += b.count * max(0.0, b.lower_ns - loop_ns)
                if b.upper_ns is None:
                    total += max(0, max_lo - b.lower_ns)
            lost = int(total)
        note = f"TSC counted at {t.get('freq', '?')} MHz"
        records.append(summarise(cpu, "oslat", duration_s, hist, min_ns=mn * unit_ns, lost_ns=lost,
                                 lost_basis=OSLAT_LOST_BASIS, loop_ns=loop_ns, resolution_ns=width_ns,
                                 gaps_seen=seen if loop_ns is not None else None, note=note))
    return EngineResult(engine="oslat", cpus=tuple(records), command=cmdline, version=version, notes=tuple(notes))


def parse_cyclictest_json(text: str) -> EngineResult:
    """cyclictest's ``--json`` file as an EngineResult (engine "cyclictest"), one CpuJitter
    per thread, a sample being one wake-up and its value how late the thread woke.

    The histogram in ns: the bucket labelled N is ``[N, N+1)`` µs (``[N, N+1)`` ns with
    ``-N``); a wake-up that lands in a later second than its expiry is rounded up instead of
    down, so its bucket's lower edge may overstate it by under 1 µs. The overflows (``cycles``
    minus the histogram total) form an open bucket from the histogram size (``-h``, read
    from the command line) up to ``max``. Without a histogram every wake-up is counted in
    one open bucket from ``min`` up. ``samples`` = ``cycles``; ``min_ns``, ``max_ns`` are
    cyclictest's truncated values in ns; ``loop_ns`` is the thread's interval (``-i``,
    default 1000 µs, plus ``-d`` per thread when there is no histogram); ``duration_s`` is
    cycles times the interval (periods skipped after a wake-up later than an interval are
    not in it); ``resolution_ns`` 1000 (1 with ``-N``). ``lost_ns`` is unknown: cyclictest
    sleeps between wake-ups, so no time is taken from a running thread.

    Raises ValueError, naming what is wrong, on anything that is not such a file.

    A thread as cyclictest 2.4 writes it (``-t 1 -a 1 -i 1000 -h 1000 -D 2 -q -m``), after
    ``"num_threads": 1, "resolution_in_ns": 0``::

        "0": {
          "histogram": {
            "51": 165,
            "52": 948,
            ...
            "297": 1
          },
          "cycles": 2000,
          "min": 51,
          "max": 297,
          "avg": 53.52,
          "cpu": 1,
          "node": 0
        }
    """
    d = _load(text, "cyclictest")
    version, cmdline, _ver = _header(d, "cyclictest")
    opts, unknown = _options(cmdline, _CYCLICTEST_SHORT, _CYCLICTEST_LONG)
    ns = _field(d, ("resolution_in_ns",), "cyclictest JSON")
    if ns not in (0, 1) or isinstance(ns, bool):
        raise ValueError(f"cyclictest JSON: resolution_in_ns is {ns!r}, not 0 or 1")
    unit_ns = 1 if ns else 1000
    hist_size = _option_int(opts, "H", None, "cyclictest")
    hist_size = _option_int(opts, "h", hist_size, "cyclictest")
    if hist_size is not None:
        hist_size = min(hist_size, CYCLICTEST_HIST_MAX_US)
        if hist_size <= 0:
            hist_size = None
    interval_us = _option_int(opts, "i", CYCLICTEST_DEFAULT_INTERVAL_US, "cyclictest")
    distance_us = _option_int(opts, "d", CYCLICTEST_DEFAULT_DISTANCE_US, "cyclictest")
    prio = _option_int(opts, "p", None, "cyclictest")
    policy = opts.get("policy")
    threads = _threads(d, "cyclictest")
    notes = [f"cyclictest {version}: {len(threads)} thread(s)"]
    if unknown:
        notes.append(f"options not understood in the recorded command line: {' '.join(unknown)}")
    if prio or policy in ("fifo", "rr"):
        # -p with another policy switches to SCHED_FIFO; fifo/rr without -p gets num_threads + 1
        notes.append(f"{'SCHED_RR' if policy == 'rr' else 'SCHED_FIFO'} priority {prio or len(threads) + 1}")
    else:
        notes.append("SCHED_OTHER: each wake-up includes the thread's timer slack (50 µs by default, "
                     "prctl(2) PR_SET_TIMERSLACK), which real-time threads do not have")
    if "default-system" not in opts and "laptop" not in opts:
        notes.append("run without --default-system: cyclictest holds /dev/cpu_dma_latency at its --latency "
                     "target (0 µs by default) while it runs, where the device exists, keeping CPUs out of deep "
                     "idle states")
    rc = d.get("return_code")
    if rc not in (0, None):
        notes.append(f"cyclictest's return_code is {rc!r}")

    records = []
    for key, t in threads:
        where = f"cyclictest JSON thread {key}"
        cpu = _int(t, "cpu", where)
        cycles = _int(t, "cycles", where)
        mn = _int(t, "min", where)
        mx = _int(t, "max", where)
        if cycles < 0:
            raise ValueError(f"{where}: negative cycles")
        counts = _counts(t, where, required=False)
        edges = []
        for label, n in counts:
            if not (label.isascii() and label.isdigit() and len(label) <= 12):
                raise ValueError(f"{where}: bucket label {label!r} is not a whole number")
            if n:
                v = int(label)
                if hist_size is not None and v >= hist_size:
                    raise ValueError(f"{where}: bucket {v} is beyond the histogram size {hist_size}")
                edges.append((v * unit_ns, (v + 1) * unit_ns, n))
        hist = _histogram(edges, None)
        note = "" if cpu >= 0 else f"thread {key}: not pinned to a CPU (cyclictest ran without -a)"
        thread_interval_us = interval_us + (0 if hist_size else key * distance_us)
        if thread_interval_us <= 0:
            raise ValueError(f"{where}: interval {thread_interval_us} µs from the command line is not positive")
        loop_ns = thread_interval_us * 1000.0
        if cycles == 0:
            records.append(summarise(cpu, "cyclictest", 0.0, Histogram((), None), min_ns=None,
                                     lost_ns=Unread(Reason.UNSUPPORTED, "cyclictest", CYCLICTEST_LOST_DETAIL),
                                     lost_basis=CYCLICTEST_LOST_BASIS, loop_ns=loop_ns, resolution_ns=unit_ns,
                                     note=(note + ": " if note else "") + "no wake-ups"))
            continue
        if mn < 0 or mx < mn:
            raise ValueError(f"{where}: min {mn} and max {mx} do not bound a latency")
        if hist.buckets and (mx * unit_ns < hist.buckets[-1].lower_ns or mn * unit_ns > hist.buckets[0].lower_ns):
            raise ValueError(f"{where}: min {mn} / max {mx} do not bound its histogram")
        overflows = cycles - hist.total
        if overflows < 0:
            note += (f"; the histogram holds {-overflows} more wake-ups than cycles (read while a thread was "
                     "still running)")
            overflows = 0
        if not counts and hist_size is None:
            hist = Histogram((Bucket(mn * unit_ns, None, cycles),), mx * unit_ns)
            note += "; no histogram (-h not given): every wake-up counted between min and max"
        elif overflows:
            lower_units = max(hist_size or 0, (hist.buckets[-1].upper_ns // unit_ns) if hist.buckets else mn)
            if mx < lower_units:
                raise ValueError(f"{where}: {overflows} overflows but max {mx} is under the histogram's end "
                                 f"{lower_units}")
            hist = Histogram((*hist.buckets, Bucket(lower_units * unit_ns, None, overflows)), mx * unit_ns)
            note += f"; {overflows} wake-up(s) beyond the histogram"
        else:
            hist = Histogram(hist.buckets, mx * unit_ns)
        samples = hist.total
        records.append(summarise(cpu, "cyclictest", samples * thread_interval_us / 1e6, hist, min_ns=mn * unit_ns,
                                 lost_ns=Unread(Reason.UNSUPPORTED, "cyclictest", CYCLICTEST_LOST_DETAIL),
                                 lost_basis=CYCLICTEST_LOST_BASIS, loop_ns=loop_ns, resolution_ns=unit_ns,
                                 note=note.lstrip("; ")))
    return EngineResult(engine="cyclictest", cpus=tuple(records), command=cmdline, version=version,
                        notes=tuple(notes))


# ---- running -------------------------------------------------------------------------------

def _check_cpus(cpus: Iterable[int]) -> list[int]:
    measured = _cpus(cpus)
    allowed = _allowed_cpus()
    missing = [c for c in measured if c not in allowed]
    if missing:
        raise ValueError(f"CPU {format_cpulist(missing)} is not available to this process "
                         f"(allowed: {format_cpulist(allowed)})")
    return measured


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def _failure(tool: str, rc: int, out: str, err: str) -> Unread:
    said = [ln.strip() for ln in (err or "").splitlines() if ln.strip() and ln.strip() != "ERROR:"]
    if not said:  # oslat prints its option errors on stdout, after its banner
        said = [ln.strip() for ln in (out or "").splitlines()
                if ln.strip() and not re.match(rf"{tool} V \d", ln.strip())]
    how = f"was killed by {_signal_name(rc)}" if rc < 0 else f"exited {rc}"
    text = f"{tool} {how}" + (": " + " / ".join(said[-4:]) if said else "")
    reason = Reason.DENIED if os.geteuid() != 0 else Reason.UNSUPPORTED
    if reason is Reason.DENIED:
        text += " (rt-tests needs root, or RLIMIT_RTPRIO and RLIMIT_MEMLOCK raised)"
    return Unread(reason, tool, text)


def _wait(proc: subprocess.Popen, started: float, expected_s: float,
          progress: Callable[[float], None] | None) -> tuple[str, str]:
    while True:
        try:
            return proc.communicate(timeout=PROGRESS_EVERY_S)
        except subprocess.TimeoutExpired:
            if progress is not None:
                progress(min(1.0, (time.monotonic() - started) / expected_s))


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    """SIGINT until the program exits (one during oslat's pre-heat only ends the pre-heat),
    SIGKILL after STOP_GRACE_S."""
    deadline = time.monotonic() + STOP_GRACE_S
    while True:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            return proc.communicate(timeout=PROGRESS_EVERY_S)
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                proc.kill()
                return proc.communicate()


def _run(tool: str, argv: list[str], json_path: str, expected_s: float, parse: Callable[[str], EngineResult],
         progress: Callable[[float], None] | None) -> EngineResult | Unread:
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, errors="replace")
    except OSError as exc:
        return Unread(Reason.UNSUPPORTED, tool, f"{tool} could not be started: {exc}")
    started = time.monotonic()
    interrupted = False
    try:
        try:
            out, err = _wait(proc, started, expected_s, progress)
        except KeyboardInterrupt:
            interrupted = True
            out, err = _stop(proc)
    finally:
        if proc.poll() is None:  # a second Ctrl-C, or progress() raised: never leave it running
            proc.kill()
            proc.communicate()
    rc = proc.returncode
    if rc != 0:
        if interrupted and rc < 0:
            return Unread(Reason.MISSING, tool, f"{tool} was interrupted and killed by {_signal_name(rc)} "
                                                "before it wrote its results")
        return _failure(tool, rc, out, err)
    try:
        with open(json_path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return Unread(Reason.MISSING, tool, f"{tool} was interrupted before it wrote its results" if interrupted
                      else f"{tool} exited 0 but wrote no results")
    except OSError as exc:
        return Unread(Reason.DENIED, tool, f"{tool}'s results could not be read: {exc}")
    try:
        result = parse(text)
    except ValueError as exc:
        return Unread(Reason.MALFORMED, tool, str(exc))
    if progress is not None and not interrupted:
        progress(1.0)
    command = " ".join(argv)
    if interrupted:
        measured = sum(c.duration_s for c in result.cpus) / max(1, len(result.cpus))
        return dataclasses.replace(result, command=command, interrupted=True, pids=(proc.pid,), notes=result.notes + (
            f"interrupted (Ctrl-C) after {time.monotonic() - started:.1f} s: the figures cover "
            f"{measured:.3f} s measured per CPU",))
    return dataclasses.replace(result, command=command, pids=(proc.pid,))


def _covered(result: EngineResult | Unread, measured: list[int], tool: str) -> EngineResult | Unread:
    if isinstance(result, Unread):
        return result
    missing = sorted(set(measured) - {c.cpu for c in result.cpus})
    if missing:
        return dataclasses.replace(result, notes=result.notes + (
            f"{tool} measured no thread on CPU {format_cpulist(missing)}",))
    return result


def run_oslat(cpus: Iterable[int], duration_s: float, *, fifo: int | None = None,
              progress: Callable[[float], None] | None = None) -> EngineResult | Unread:
    """Run oslat on ``cpus`` for ``duration_s`` whole seconds (plus its 1 s pre-heat) and
    parse its JSON (a temp file, removed afterwards).

    Returns an Unread when oslat is not installed (unsupported), fails (its own message;
    denied when not root: oslat needs mlockall and, with ``fifo``, SCHED_FIFO), writes
    nothing or something unreadable. Ctrl-C (KeyboardInterrupt) is forwarded to oslat as
    SIGINT; the result then covers the time measured, with ``interrupted=True``, and the
    KeyboardInterrupt is not raised again (a second one while oslat stops kills it and is).
    ``progress(fraction)`` is called about every 0.25 s while it runs, and with 1.0 at the
    end. ValueError for arguments that cannot be run (see :func:`oslat_argv`) or CPUs this
    process may not use."""
    measured = _check_cpus(cpus)
    seconds = _whole_seconds(duration_s)
    path = find_tool("oslat")
    if path is None:
        return Unread(Reason.UNSUPPORTED, "oslat", "oslat is not installed (Debian: rt-tests)")
    with tempfile.TemporaryDirectory(prefix="hftinfra-oslat-") as tmp:
        json_path = os.path.join(tmp, "oslat.json")
        argv = oslat_argv(measured, seconds, json_path, fifo=fifo)
        argv[0] = path
        result = _run("oslat", argv, json_path, OSLAT_PREHEAT_S + seconds, parse_oslat_json, progress)
    return _covered(result, measured, "oslat")


def run_cyclictest(cpus: Iterable[int], duration_s: float, *, fifo: int | None = None, interval_us: int = 1000,
                   histogram_us: int = 1000,
                   progress: Callable[[float], None] | None = None) -> EngineResult | Unread:
    """Run cyclictest on ``cpus`` for ``duration_s`` whole seconds (see
    :func:`cyclictest_argv`) and parse its JSON (a temp file, removed afterwards). Failures,
    Ctrl-C and ``progress`` as :func:`run_oslat`; cyclictest needs root or RLIMIT_RTPRIO
    even without ``fifo`` (it checks that it could switch to SCHED_FIFO)."""
    measured = _check_cpus(cpus)
    seconds = _whole_seconds(duration_s)
    path = find_tool("cyclictest")
    if path is None:
        return Unread(Reason.UNSUPPORTED, "cyclictest", "cyclictest is not installed (Debian: rt-tests)")
    with tempfile.TemporaryDirectory(prefix="hftinfra-cyclictest-") as tmp:
        json_path = os.path.join(tmp, "cyclictest.json")
        argv = cyclictest_argv(measured, seconds, json_path, fifo=fifo, interval_us=interval_us,
                               histogram_us=histogram_us)
        argv[0] = path
        result = _run("cyclictest", argv, json_path, seconds, parse_cyclictest_json, progress)
    return _covered(result, measured, "cyclictest")


__all__ = ["CYCLICTEST_LOST_BASIS", "OSLAT_LOST_BASIS", "OSLAT_LOST_FROM_NS", "cyclictest_argv", "oslat_argv",
           "parse_cyclictest_json", "parse_oslat_json", "run_cyclictest", "run_oslat"]
