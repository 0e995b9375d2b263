"""The rt-tests engines: oslat and cyclictest JSON recorded on a live host (each checked
against what the program printed in the same run), the bucket and lost-time arithmetic on
written files, the version differences, damaged files, the command lines, and live runs
(including Ctrl-C forwarded to the real program)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hftinfra.host import Reason, Unread
from hftinfra.measure.jitter import rttests
from hftinfra.measure.jitter.model import COUNT_BOUNDS_NS, PERCENTILES, EngineResult, percentile_key
from hftinfra.measure.jitter.rttests import (
    OSLAT_LOST_FROM_NS,
    cyclictest_argv,
    oslat_argv,
    parse_cyclictest_json,
    parse_oslat_json,
    run_cyclictest,
    run_oslat,
)

DATA = Path(__file__).parent / "data" / "rttests"
OSLAT_FILES = sorted(DATA.glob("oslat-*.json"))
CYCLICTEST_FILES = sorted(DATA.glob("cyclictest-*.json"))
ROOT = os.geteuid() == 0
ALLOWED = sorted(os.sched_getaffinity(0))


def raw(path: Path) -> dict:
    return json.loads(path.read_text())


def check_histogram_invariants(c) -> None:
    """What a reader of any jitter record relies on."""
    h = c.histogram
    assert c.samples == h.total
    los = [b.lower_ns for b in h.buckets]
    assert los == sorted(los) and len(set(los)) == len(los)
    for a, b in zip(h.buckets, h.buckets[1:], strict=False):
        assert a.upper_ns is not None and a.upper_ns <= b.lower_ns  # no overlap; only the last may be open
    if c.samples:
        pct = [c.percentiles_ns[percentile_key(p)] for p in PERCENTILES]
        assert all(v is not None for v in pct)
        assert pct == sorted(pct)
        assert pct[-1] <= c.max_ns
    for bound in COUNT_BOUNDS_NS:
        n = c.at_or_above[bound]
        if n is None:  # only when a bucket with samples straddles the bound
            assert any(b.count and b.lower_ns < bound and (b.upper_ns is None or b.upper_ns > bound)
                       for b in h.buckets)
        else:
            assert n == sum(b.count for b in h.buckets if b.lower_ns >= bound)
    counts = [c.at_or_above[b] for b in COUNT_BOUNDS_NS if c.at_or_above[b] is not None]
    assert counts == sorted(counts, reverse=True)


# ---- oslat, recorded --------------------------------------------------------------------

def oslat_printed(path: Path) -> dict:
    """What oslat printed (write_summary): per row label, one value per thread."""
    rows: dict[str, list[str]] = {}
    for line in path.with_suffix(".txt").read_text().splitlines():
        m = re.match(r"\s*([^:]+):\s+(.*)$", line)
        if m:
            rows[m[1].strip()] = m[2].replace("(including overflows)", "").split()
    return rows


@pytest.mark.parametrize("path", OSLAT_FILES, ids=lambda p: p.stem)
def test_oslat_recorded_file_matches_what_oslat_printed(path):
    r = parse_oslat_json(path.read_text())
    d = raw(path)
    printed = oslat_printed(path)
    assert isinstance(r, EngineResult) and r.engine == "oslat" and r.version == "2.40"
    assert r.command == d["cmdline:"] and not r.interrupted
    assert [c.cpu for c in r.cpus] == [int(x) for x in printed["Core"]]
    labels = sorted((k for k in printed if k.endswith("(us)") and k[:3].isdigit()), key=lambda k: int(k[:3]))
    for i, c in enumerate(r.cpus):
        check_histogram_invariants(c)
        t = d["thread"][str(i)]
        # the printout holds every bucket (zeros too), the JSON only the non-zero ones
        in_text = {int(k[:3]): int(printed[k][i]) for k in labels}
        assert {int(k): v for k, v in t["histogram"].items()} == {k: v for k, v in in_text.items() if v}
        assert c.samples == sum(in_text.values())
        assert c.max_ns == int(printed["Maximum"][i]) * 1000 == t["max"] * 1000
        assert c.min_ns == int(printed["Minimum"][i]) * 1000
        assert c.duration_s == pytest.approx(float(printed["Duration"][i]))
        # bucket N is [N-1, N) µs; the last of the -b buckets is open when max is beyond it
        n_buckets = len(labels)
        top = max(int(k) for k in t["histogram"])
        for b in c.histogram.buckets[:-1]:
            assert b.upper_ns - b.lower_ns == 1000 and b.lower_ns % 1000 == 0
        last = c.histogram.buckets[-1]
        assert last.lower_ns == (top - 1) * 1000
        if t["max"] > top:
            assert top == n_buckets and last.upper_ns is None
        else:
            assert last.upper_ns == top * 1000
        assert 1 <= c.loop_ns <= 1000  # a turn of the loop: tens of ns on anything this decade
        assert c.resolution_ns == 1000
        assert isinstance(c.lost_ns, int) and 0 <= c.lost_ns <= c.duration_s * 1e9
        assert c.gaps_seen == sum(b.count for b in c.histogram.buckets if b.lower_ns >= OSLAT_LOST_FROM_NS)
        assert c.lost_basis.startswith("at least")
        assert c.gaps == ()


def test_oslat_32_buckets_overflow():
    r = parse_oslat_json((DATA / "oslat-c1-D2.json").read_text())
    (c,) = r.cpus
    b = c.histogram.buckets
    assert (b[0].lower_ns, b[0].upper_ns, b[0].count) == (0, 1000, 101155195)
    assert (b[-1].lower_ns, b[-1].upper_ns, b[-1].count) == (31000, None, 18)
    assert c.max_ns == 701_000 and c.min_ns == 1000
    assert c.percentiles_ns["p50"] == 1000  # half the turns took under 1 µs
    assert c.at_or_above[1000] == c.samples - 101155195
    assert c.at_or_above[100_000] is None  # the overflow bucket from 31 µs up straddles 100 µs


def test_oslat_1024_buckets_closed_top():
    (c,) = parse_oslat_json((DATA / "oslat-c1-D2-b1024.json").read_text()).cpus
    assert c.max_ns == 147_000
    assert c.histogram.buckets[-1] == rttests.Bucket(146_000, 147_000, 1)
    assert c.at_or_above[100_000] == 1 and c.at_or_above[1_000_000] == 0


def test_oslat_two_cpus_and_fifo_and_interrupted():
    r = parse_oslat_json((DATA / "oslat-c01-D2.json").read_text())
    assert [c.cpu for c in r.cpus] == [0, 1]
    assert "SCHED_OTHER (oslat's default)" in r.notes
    f = parse_oslat_json((DATA / "oslat-c1-D2-f1.json").read_text())
    assert "SCHED_FIFO priority 1" in f.notes
    assert f.cpus[0].max_ns > 10_000_000  # RT throttling: the loop lost its CPU for tens of ms
    assert f.cpus[0].lost_ns >= f.cpus[0].max_ns - 2_000_000
    s = parse_oslat_json((DATA / "oslat-c1-D10-sigint.json").read_text())
    assert 1.5 < s.cpus[0].duration_s < 4  # -D 10, SIGINT 3.5 s in: the JSON covers what was measured


def oslat_doc(histogram, *, max_us, min_us=1, duration=0.001, version="2.40", cmdline="oslat -c 1 -D 1 -q",
              cpu=1) -> str:
    """An oslat file as write_summary_json prints it."""
    return json.dumps({
        "file_version": 1, "cmdline:": cmdline, "rt_test_version:": version, "start_time": "x", "end_time": "y",
        "return_code": 0, "sysinfo": {}, "num_threads": 1,
        "thread": {"0": {"cpu": cpu, "freq": 2695, "min": min_us, "avg": 1.0, "max": max_us, "duration": duration,
                         "histogram": {str(k): v for k, v in histogram.items()}}}})


def test_oslat_lost_time_arithmetic():
    # 1000 short turns, two in [2, 3) µs, one in [1, 2) µs (not counted), the overflow bucket of
    # 32 holding one sample of [499, 500) µs: max 500
    text = oslat_doc({1: 1000, 2: 1, 3: 2, 32: 1}, max_us=500, duration=0.001)
    (c,) = parse_oslat_json(text).cpus
    loop = 1e6 / 1004
    assert c.loop_ns == pytest.approx(loop)
    assert c.histogram.buckets[-1] == rttests.Bucket(31_000, None, 1)
    assert c.lost_ns == int(2 * (2000 - loop) + (31_000 - loop) + (499_000 - 31_000))
    assert c.gaps_seen == 3
    assert c.percentiles_ns["p99.99"] == 500_000  # the open bucket's bound is the max
    # max within the top bucket: the bucket stays closed and only its lower edge counts
    (c2,) = parse_oslat_json(oslat_doc({1: 10, 20: 1}, max_us=20, duration=1e-6)).cpus
    assert c2.histogram.buckets[-1] == rttests.Bucket(19_000, 20_000, 1)
    assert c2.lost_ns == int(max(0.0, 19_000 - 1000 / 11))


def test_oslat_no_samples_is_unknown_not_zero():
    (c,) = parse_oslat_json(oslat_doc({}, max_us=0, min_us=2**64 - 1, duration=0.0)).cpus
    assert c.samples == 0 and c.max_ns is None and c.min_ns is None and c.loop_ns is None
    assert isinstance(c.lost_ns, Unread) and c.lost_ns.reason is Reason.MISSING


def test_oslat_later_versions():
    # 2.7 and later: max is truncated (lower edge), labels are still upper edges
    (c,) = parse_oslat_json(oslat_doc({1: 100, 32: 2}, max_us=31, version="2.80")).cpus
    assert c.histogram.buckets[-1] == rttests.Bucket(31_000, 32_000, 2)  # 31 µs truncated: in [31, 32) µs
    (c,) = parse_oslat_json(oslat_doc({1: 100, 32: 2}, max_us=32, version="2.80")).cpus
    assert c.histogram.buckets[-1] == rttests.Bucket(31_000, None, 2)  # 32 µs or more: the overflows
    (c,) = parse_oslat_json(oslat_doc({1: 100, 7: 2}, max_us=6, version="2.10")).cpus
    assert c.histogram.buckets[-1] == rttests.Bucket(6_000, 7_000, 2)
    # -W 500 (ns): labels with 3 decimals, min and max in ns
    (c,) = parse_oslat_json(oslat_doc({"0.500": 100, "1.000": 3}, max_us=700, min_us=20, version="2.80",
                                      cmdline="oslat -c 1 -W 500 -D 1")).cpus
    assert [(b.lower_ns, b.upper_ns) for b in c.histogram.buckets] == [(0, 500), (500, 1000)]
    assert c.max_ns == 700 and c.min_ns == 20 and c.resolution_ns == 500
    # 2.5 and 2.6 rounded lengths up before bucketing: label N holds (N-2, N-1] µs
    (c,) = parse_oslat_json(oslat_doc({2: 100, 5: 1}, max_us=4, min_us=1, version="2.50")).cpus
    assert [(b.lower_ns, b.upper_ns) for b in c.histogram.buckets] == [(0, 1000), (3000, 4000)]


def test_oslat_bias_refused():
    with pytest.raises(ValueError, match="bias"):
        parse_oslat_json(oslat_doc({1: 5}, max_us=1, cmdline="oslat -c 1 -B -D 1"))


@pytest.mark.parametrize("doc, message", [
    ("", "not JSON"),
    ("[1, 2]", "expected an object"),
    ("{" * 100000, "not JSON"),
    (json.dumps({"cmdline:": "oslat", "rt_test_version:": "2.40", "num_threads": 1}), "no 'thread'"),
    (json.dumps({"cmdline:": "oslat", "num_threads": 0, "thread": {}}), "no 'rt_test_version:'"),
    (json.dumps({"cmdline:": "oslat", "rt_test_version:": "two", "num_threads": 0, "thread": {}}), "X.YZ"),
    (oslat_doc({1: 5}, max_us=1).replace('"max": 1', '"maxx": 1'), "no 'max'"),
    (oslat_doc({1: -5}, max_us=1), "not a count"),
    (oslat_doc({1: 5}, max_us=1).replace('"num_threads": 1', '"num_threads": 2'), "num_threads"),
    (oslat_doc({"x": 5}, max_us=1), "label"),
    (oslat_doc({"1.5": 5}, max_us=2), "multiple of the 1000 ns bucket width"),
    (oslat_doc({1: 5, 30: 1}, max_us=2), "below its highest bucket"),
    (oslat_doc({1: 5}, max_us=1).replace('"duration": 0.001', '"duration": "soon"'), "not a number"),
])
def test_oslat_malformed(doc, message):
    with pytest.raises(ValueError, match=message):
        parse_oslat_json(doc)


# ---- cyclictest, recorded -----------------------------------------------------------------

def cyclictest_printed(path: Path) -> tuple[dict[int, list[int]], dict[str, list[int]]]:
    """print_hist's output: 'NNNNNN count count...' rows and the '# Name: values' summary."""
    rows, summary = {}, {}
    for line in path.with_suffix(".txt").read_text().splitlines():
        if re.match(r"^\d{6} ", line):
            label, *counts = line.split()
            rows[int(label)] = [int(x) for x in counts]
        elif m := re.match(r"^# (Total|Min Latencies|Max Latencies|Histogram Overflows): (.*)$", line):
            summary[m[1]] = [int(x) for x in m[2].split()]
    return rows, summary


@pytest.mark.parametrize("path", CYCLICTEST_FILES, ids=lambda p: p.stem)
def test_cyclictest_recorded_file_matches_what_cyclictest_printed(path):
    r = parse_cyclictest_json(path.read_text())
    d = raw(path)
    rows, summary = cyclictest_printed(path)
    hist_us = int(re.search(r"-h (\d+)", d["cmdline:"])[1])
    assert r.engine == "cyclictest" and r.version == "2.40" and r.command == d["cmdline:"]
    assert len(r.cpus) == d["num_threads"] == len(summary["Total"])
    for i, c in enumerate(r.cpus):
        check_histogram_invariants(c)
        t = d["thread"][str(i)]
        assert c.cpu == t["cpu"] and c.samples == t["cycles"]
        # cyclictest's own totals: histogram total and overflows, which the JSON does not carry
        assert sum(b.count for b in c.histogram.buckets if b.upper_ns is not None) == summary["Total"][i]
        overflow = [b for b in c.histogram.buckets if b.upper_ns is None]
        assert sum(b.count for b in overflow) == summary["Histogram Overflows"][i]
        if overflow:
            assert overflow[0].lower_ns == hist_us * 1000
        assert c.max_ns == summary["Max Latencies"][i] * 1000 and c.min_ns == summary["Min Latencies"][i] * 1000
        for b in c.histogram.buckets:  # bucket N is [N, N+1) µs, as print_hist labels its rows
            if b.upper_ns is not None:
                assert b.upper_ns - b.lower_ns == 1000
                assert rows[b.lower_ns // 1000][i] == b.count
        assert c.loop_ns == 1_000_000 and c.resolution_ns == 1000
        assert c.duration_s == pytest.approx(t["cycles"] / 1000)
        assert isinstance(c.lost_ns, Unread) and c.lost_ns.reason is Reason.UNSUPPORTED
        assert "not time stolen" in c.lost_ns.detail and c.lost_basis.startswith("not measured")
        assert 1_000 <= c.percentiles_ns["p50"] <= 10_000_000  # a wake-up: µs to ms, never ns or s


def test_cyclictest_policy_notes():
    other = parse_cyclictest_json((DATA / "cyclictest-a1-D2.json").read_text())
    assert any("SCHED_OTHER" in n and "timer slack" in n for n in other.notes)
    assert any("--default-system" in n and "cpu_dma_latency" in n for n in other.notes)
    fifo = parse_cyclictest_json((DATA / "cyclictest-a1-D2-p80.json").read_text())
    assert "SCHED_FIFO priority 80" in fifo.notes
    quiet = parse_cyclictest_json((DATA / "cyclictest-a1-D5.json").read_text())
    assert not any("cpu_dma_latency" in n for n in quiet.notes)


def cyclictest_doc(threads, *, cmdline="cyclictest -t 1 -a 1 -h 100 -q", ns=0) -> str:
    return json.dumps({
        "file_version": 1, "cmdline:": cmdline, "rt_test_version:": "2.40", "return_code": 0, "sysinfo": {},
        "num_threads": len(threads), "resolution_in_ns": ns,
        "thread": {str(i): t for i, t in enumerate(threads)}})


def test_cyclictest_written_files():
    t = {"histogram": {"5": 7, "9": 1}, "cycles": 10, "min": 5, "max": 250, "avg": 30.0, "cpu": 1, "node": 0}
    (c,) = parse_cyclictest_json(cyclictest_doc([t])).cpus
    assert [(b.lower_ns, b.upper_ns, b.count) for b in c.histogram.buckets] == [
        (5000, 6000, 7), (9000, 10000, 1), (100_000, None, 2)]
    assert c.percentiles_ns["p99"] == 250_000
    # no -h: one open bucket from min to max; the threads' intervals step by -d
    t2 = {"histogram": {}, "cycles": 4, "min": 3, "max": 40, "avg": 9.0, "cpu": 0, "node": 0}
    r = parse_cyclictest_json(cyclictest_doc([t2, t2], cmdline="cyclictest -t 2 -i 200 -d 100"))
    assert [c.loop_ns for c in r.cpus] == [200_000, 300_000]
    assert r.cpus[0].histogram.buckets == (rttests.Bucket(3000, None, 4),)
    assert r.cpus[0].at_or_above[1000] == 4 and r.cpus[0].at_or_above[10_000] is None
    # -N: every value in ns
    t3 = {"histogram": {"700": 3}, "cycles": 3, "min": 700, "max": 700, "avg": 700.0, "cpu": 1, "node": 0}
    (c3,) = parse_cyclictest_json(cyclictest_doc([t3], cmdline="cyclictest -N -h 1000", ns=1)).cpus
    assert c3.histogram.buckets[0] == rttests.Bucket(700, 701, 3) and c3.resolution_ns == 1


@pytest.mark.parametrize("change, message", [
    (lambda t: t.pop("cycles"), "no 'cycles'"),
    (lambda t: t.update(max=1), "do not bound"),
    (lambda t: t.update(histogram={"5": 7, "150": 1}), "beyond the histogram size"),
    (lambda t: t.update(histogram={"-5": 7}), "whole number"),
    (lambda t: t.update(cpu="one"), "not an integer"),
])
def test_cyclictest_malformed(change, message):
    t = {"histogram": {"5": 7}, "cycles": 7, "min": 5, "max": 5, "avg": 5.0, "cpu": 1, "node": 0}
    change(t)
    with pytest.raises(ValueError, match=message):
        parse_cyclictest_json(cyclictest_doc([t]))


def test_cyclictest_header_required():
    with pytest.raises(ValueError, match="resolution_in_ns"):
        parse_cyclictest_json(json.dumps({"cmdline:": "cyclictest", "rt_test_version:": "2.40", "num_threads": 0,
                                          "thread": {}}))


def test_recorded_command_lines_read_as_getopt_reads_them():
    opts, unknown = rttests._options("oslat -qb64 --bucket-w=500 -c 1 --json /tmp/x -D2",
                                     rttests._OSLAT_SHORT, rttests._OSLAT_LONG)
    assert opts == {"q": None, "b": "64", "W": "500", "c": "1", "json": "/tmp/x", "D": "2"} and not unknown
    opts, unknown = rttests._options("cyclictest -a 1 -t -mqh100 --policy=fifo --hist=5 --zzz",
                                     rttests._CYCLICTEST_SHORT, rttests._CYCLICTEST_LONG)
    assert opts == {"a": None, "t": None, "m": None, "q": None, "h": "100", "policy": "fifo"}
    assert unknown == ["--hist=5", "--zzz"]  # --hist is ambiguous (histogram, histofall, histfile)


# ---- command lines ------------------------------------------------------------------------

def test_oslat_argv():
    argv = oslat_argv([1], 2, "/tmp/o.json", main_cpu=0)
    assert argv == ["oslat", "-c", "1", "-D", "2", "-b", "1024", "-q", "--json=/tmp/o.json", "-C", "0"]
    argv = oslat_argv({5, 0, 1, 2}, 3.0, "/tmp/o.json", fifo=10, main_cpu=7, buckets=64)
    assert argv[argv.index("-c") + 1] == "0-2,5" and argv[argv.index("-D") + 1] == "3"
    assert argv[argv.index("-f") + 1] == "10" and argv[argv.index("-b") + 1] == "64"
    free = sorted(set(ALLOWED) - {ALLOWED[0]})
    default = oslat_argv([ALLOWED[0]], 1, "/tmp/o.json")
    if free:
        assert default[default.index("-C") + 1] == str(free[0])
    else:
        assert "-C" not in default


@pytest.mark.parametrize("duration", [0, 0.5, 1.5, -2, float("nan"), float("inf"), True, "2"])
def test_durations_rt_tests_cannot_run_exactly_are_refused(duration):
    with pytest.raises(ValueError, match="duration"):
        oslat_argv([1], duration, "/tmp/o.json")
    with pytest.raises(ValueError, match="duration"):
        cyclictest_argv([1], duration, "/tmp/c.json")


@pytest.mark.parametrize("kwargs, message", [
    ({"cpus": []}, "no CPU"), ({"cpus": [-1]}, "not a CPU"), ({"cpus": [1, "2"]}, "not a CPU"),
    ({"fifo": 0}, "1-99"), ({"fifo": 100}, "1-99"),
    ({"buckets": 4}, "5 to 1024"), ({"buckets": 2048}, "5 to 1024"), ({"json_path": '/tmp/a"b.json'}, "unescaped"),
    ({"main_cpu": -3}, "not a CPU"),
])
def test_oslat_argv_refusals(kwargs, message):
    args = {"cpus": [1], "duration_s": 1, "json_path": "/tmp/o.json", **kwargs}
    with pytest.raises(ValueError, match=message):
        oslat_argv(args.pop("cpus"), args.pop("duration_s"), args.pop("json_path"), **args)


def test_fifo_busy_loops_on_every_cpu_are_refused():
    with pytest.raises(ValueError, match="SCHED_FIFO"):
        oslat_argv(ALLOWED, 1, "/tmp/o.json", fifo=1)
    assert "-f" in oslat_argv(ALLOWED, 1, "/tmp/o.json", fifo=1, main_cpu=ALLOWED[0])  # the caller's choice


def test_cyclictest_argv():
    argv = cyclictest_argv([1], 2, "/tmp/c.json", main_cpu=0)
    assert argv == ["cyclictest", "--threads=1", "--affinity=1", "-i", "1000", "-h", "1000", "-D", "2", "-q", "-m",
                    "--default-system", "--json=/tmp/c.json", "--mainaffinity=0"]
    argv = cyclictest_argv([3, 1, 2], 5, "/tmp/c.json", fifo=95, interval_us=200, histogram_us=50, main_cpu=0)
    assert "--threads=3" in argv and "--affinity=1-3" in argv and argv[-2:] == ["-p", "95"]
    assert argv[argv.index("-i") + 1] == "200" and argv[argv.index("-h") + 1] == "50"
    assert "-p" not in cyclictest_argv([1], 1, "/tmp/c.json")  # SCHED_OTHER unless asked
    for bad in ({"interval_us": 0}, {"histogram_us": 2_000_000}, {"fifo": 0}):
        with pytest.raises(ValueError):
            cyclictest_argv([1], 1, "/tmp/c.json", **bad)


def test_our_command_lines_read_back():
    """A file recorded from each builder's command line is read with the settings we asked for."""
    for path, argv in ((DATA / "oslat-c1-D5-b1024.json", oslat_argv([1], 5, "F", main_cpu=0)),
                       (DATA / "cyclictest-a1-D5.json", cyclictest_argv([1], 5, "F", main_cpu=0))):
        recorded = raw(path)["cmdline:"].split()
        assert sorted(re.sub("json=.*", "json=", a) for a in recorded[1:]) == sorted(
            re.sub("json=.*", "json=", a) for a in argv[1:])


# ---- running (no rt-tests needed) --------------------------------------------------------------

def test_not_installed_is_unsupported(monkeypatch):
    monkeypatch.setattr(rttests, "find_tool", lambda name: None)
    assert run_oslat([ALLOWED[-1]], 1) == Unread(Reason.UNSUPPORTED, "oslat", "oslat is not installed (Debian: rt-tests)")
    u = run_cyclictest([ALLOWED[-1]], 1)
    assert isinstance(u, Unread) and u.reason is Reason.UNSUPPORTED and "rt-tests" in u.detail


def test_failure_carries_the_programs_message(monkeypatch, tmp_path):
    fake = tmp_path / "oslat"
    fake.write_text("#!/bin/sh\necho 'oslat V 2.40'\necho 'ERROR: TEST(move_to_core) failed' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(rttests, "find_tool", lambda name: str(fake))
    u = run_oslat([ALLOWED[-1]], 1)
    assert isinstance(u, Unread) and u.source == "oslat"
    assert u.reason is (Reason.UNSUPPORTED if ROOT else Reason.DENIED)
    assert "exited 3" in u.detail and "TEST(move_to_core) failed" in u.detail


def test_exit_0_without_results_is_missing(monkeypatch, tmp_path):
    fake = tmp_path / "cyclictest"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setattr(rttests, "find_tool", lambda name: str(fake))
    u = run_cyclictest([ALLOWED[-1]], 1)
    assert isinstance(u, Unread) and u.reason is Reason.MISSING and "no results" in u.detail


def test_cpus_this_process_may_not_use_are_refused():
    with pytest.raises(ValueError, match="not available"):
        run_oslat([max(ALLOWED) + 1000], 1)


# ---- live ---------------------------------------------------------------------------------------

def live_reason(tool: str) -> str | None:
    if shutil.which(tool) is None and rttests.find_tool(tool) is None:
        return f"{tool} is not installed (Debian: rt-tests)"
    if 1 not in ALLOWED or len(ALLOWED) < 2:
        return "needs CPU 1 and another CPU for the program's main thread"
    if not ROOT:
        return f"{tool} needs root here (mlockall, SCHED_FIFO); the non-root path is tested as root with setpriv"
    return None


def tmp_leftovers(tool: str) -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"hftinfra-{tool}-*")}


@pytest.mark.live
@pytest.mark.root
@pytest.mark.parametrize("tool", ["oslat", "cyclictest"])
def test_live_run_on_cpu_1(tool):
    if (why := live_reason(tool)) is not None:
        pytest.skip(why)
    before = tmp_leftovers(tool)
    seen: list[float] = []
    started = time.monotonic()
    r = (run_oslat if tool == "oslat" else run_cyclictest)([1], 1, progress=seen.append)
    elapsed = time.monotonic() - started
    assert isinstance(r, EngineResult), r
    assert r.engine == tool and not r.interrupted and r.version
    (c,) = r.cpus
    check_histogram_invariants(c)
    assert c.cpu == 1 and c.samples > 0
    assert 0.9 <= c.duration_s <= 1.2
    if tool == "oslat":
        assert 1 <= c.loop_ns <= 1000 and isinstance(c.lost_ns, int) and c.lost_ns >= 0
        assert 1.5 < elapsed < 5  # 1 s pre-heat + 1 s
        assert "-C" in r.command  # the main thread off the measured CPU
    else:
        assert 500 <= c.samples <= 1001 and c.loop_ns == 1_000_000
        assert "--mainaffinity=" in r.command and "--default-system" in r.command
    assert seen and seen == sorted(seen) and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    assert tmp_leftovers(tool) <= before  # the temp JSON is gone


CHILD = """
import json, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
from hftinfra.measure.jitter.rttests import run_oslat, run_cyclictest
run = run_oslat if sys.argv[1] == "oslat" else run_cyclictest
def progress(fraction):
    print("progress", fraction, flush=True)
r = run([1], 30, progress=progress)
print("RESULT", json.dumps({"type": type(r).__name__, "interrupted": getattr(r, "interrupted", None),
      "durations": [c.duration_s for c in getattr(r, "cpus", ())], "samples": [c.samples for c in getattr(r, "cpus", ())],
      "detail": str(r) if not hasattr(r, "cpus") else ""}), flush=True)
"""


def interrupted_run(tool: str, after_s: float) -> tuple[dict, float]:
    """Start a run of 30 s in a child Python, SIGINT that process (as Ctrl-C would) once it
    has reported progress and ``after_s`` more seconds have passed, and read its result."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, tool], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("progress"), first + proc.stderr.read()
        time.sleep(after_s)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert line, out + err
    return json.loads(line[0][len("RESULT "):]), took


@pytest.mark.live
@pytest.mark.root
@pytest.mark.parametrize("tool, after_s", [("oslat", 2.0), ("oslat", 0.0), ("cyclictest", 1.0)],
                         ids=["oslat-measuring", "oslat-pre-heat", "cyclictest"])
def test_ctrl_c_is_forwarded_and_the_partial_result_returned(tool, after_s):
    if (why := live_reason(tool)) is not None:
        pytest.skip(why)
    before = tmp_leftovers(tool)
    result, took = interrupted_run(tool, after_s)
    assert result["type"] == "EngineResult", result
    assert result["interrupted"] is True
    assert took < 3  # stopped at once, not after the 30 s asked (a SIGINT in oslat's pre-heat is repeated)
    (duration,) = result["durations"]
    assert 0 < duration < 5 and result["samples"][0] > 0
    assert tmp_leftovers(tool) <= before


@pytest.mark.live
@pytest.mark.root
@pytest.mark.parametrize("tool", ["oslat", "cyclictest"])
def test_not_root_is_denied_with_the_programs_reason(tool):
    if (why := live_reason(tool)) is not None:
        pytest.skip(why)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    script = ("from hftinfra.measure.jitter.rttests import run_oslat, run_cyclictest\n"
              f"r = {'run_oslat' if tool == 'oslat' else 'run_cyclictest'}([1], 1)\n"
              "print(type(r).__name__, r.reason.value if hasattr(r, 'reason') else '', str(r))\n")
    proc = subprocess.run([setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", script],
                          capture_output=True, text=True, timeout=30, cwd="/")
    if proc.returncode != 0 and "No module named" in proc.stderr:
        pytest.skip("user nobody cannot import hftinfra from here")
    assert proc.returncode == 0, proc.stderr
    kind, reason, text = proc.stdout.split(" ", 2)
    assert kind == "Unread" and reason == "denied", proc.stdout
    assert f"{tool} exited" in text and "root" in text


# ---- never anything but ValueError ---------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
ODD = st.one_of(st.integers(-5, 2**65), st.floats(allow_nan=True), st.text(max_size=6), st.none(), st.booleans())
SMALL = st.integers(0, 3000)
LABELS = st.one_of(st.integers(0, 2000).map(str), st.sampled_from(["0.500", "1.000", "x", "", "-1", "1e3", "٣"]))
THREAD = st.fixed_dictionaries({
    "cpu": st.integers(-1, 3), "min": SMALL, "max": SMALL, "cycles": SMALL, "duration": st.floats(0, 10),
    "freq": SMALL, "histogram": st.dictionaries(LABELS, st.integers(0, 10**6), max_size=6)},
    optional={"odd": ODD})
COMMANDS = st.sampled_from(["oslat -c 1 -D 1", "oslat -b 1024 -W 500", "oslat -W x", "oslat -W 0 -B", "cyclictest -h 100",
                            "cyclictest -N -h 0 -i -5 -d 3", "cyclictest --policy=rr -p 9", "x --=", "", "cyclictest -h",
                            "cyclictest -t 2 -h 2000 -i 100"])
HEADER_KEYS = ["cmdline:", "rt_test_version:", "num_threads", "resolution_in_ns", "thread"]


@st.composite
def documents(draw):
    """Mostly well-formed rt-tests files with a few fields wrong or missing, so the parsers'
    per-thread arithmetic is reached, not only their first checks."""
    threads = draw(st.lists(THREAD, max_size=3))
    doc = {"cmdline:": draw(COMMANDS),
           "rt_test_version:": draw(st.sampled_from(["2.40", "2.10", "2.50", "2.80", "x", "9"])),
           "num_threads": len(threads) + draw(st.sampled_from([0, 0, 0, 1, -1])),
           "resolution_in_ns": draw(st.sampled_from([0, 0, 0, 1, 2, True, None])),
           "return_code": draw(st.sampled_from([0, 1, -1, None])),
           "thread": {draw(st.sampled_from([str(i)] * 4 + ["x", " 1"])): t for i, t in enumerate(threads)}}
    for key in draw(st.sets(st.sampled_from(HEADER_KEYS), max_size=1)):
        del doc[key]
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.one_of(documents(), JSON_VALUES))
def test_parsers_never_crash_on_json_shaped_input(doc):
    text = json.dumps(doc)
    for parse in (parse_oslat_json, parse_cyclictest_json):
        try:
            r = parse(text)
        except ValueError:
            continue
        for c in r.cpus:  # whatever is accepted is a coherent record
            check_histogram_invariants(c)
            assert isinstance(c.lost_ns, Unread) or c.lost_ns >= 0


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_parsers_never_crash_on_damaged_recordings(data):
    path = data.draw(st.sampled_from(OSLAT_FILES + CYCLICTEST_FILES))
    text = path.read_text()
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.text(max_size=5))
    parse = parse_oslat_json if path.name.startswith("oslat") else parse_cyclictest_json
    try:
        parse(text[:cut] + junk + text[cut + len(junk):])
    except ValueError:
        pass
