"""Jitter: the histogram arithmetic, the python engine's records, attribution by counts, the
run's checks and JSON, the live python engine, and the command line (bad arguments, Ctrl-C).
Live figures are never asserted (steal time on a VM dominates them): structure only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hftinfra.host import open_host
from hftinfra.irq import parse_interrupts
from hftinfra.measure.jitter.busyloop import record_to_cpu, run_python
from hftinfra.measure.jitter.counts import (
    counts_between,
    parse_stat_steal,
    parse_task_stat,
    take_counts,
)
from hftinfra.measure.jitter.model import (
    COUNT_BOUNDS_NS,
    Bucket,
    Histogram,
    cpu_from_json,
    cpu_to_json,
)
from hftinfra.measure.jitter.run import (
    JitterError,
    check_cpus,
    default_cpus,
    jitter_from_json,
    load_jitter,
    measure_jitter,
)

ONLINE = sorted(os.sched_getaffinity(0))
LAST = ONLINE[-1]


# ---- the histogram ------------------------------------------------------------------------

def test_percentiles_are_upper_bucket_edges_capped_by_the_max():
    h = Histogram((Bucket(0, 1000, 90), Bucket(1000, 2000, 9), Bucket(2000, None, 1)), max_ns=5000)
    assert h.total == 100
    assert (h.percentile(50), h.percentile(99), h.percentile(99.9), h.percentile(100)) == (1000, 2000, 5000, 5000)
    assert h.at_or_above(1000) == 10 and h.at_or_above(2000) == 1
    assert h.at_or_above(1500) is None  # a bucket straddles it: unknown, not a guess
    assert Histogram(()).percentile(50) is None
    # The largest sample caps a bucket's upper edge.
    assert Histogram((Bucket(0, 1000, 3),), max_ns=700).percentile(99) == 700


def record(linear, gaps, *, width=10, threshold=5000, turn=90.0, more=0, asked=5000, interrupted=False):
    flat = [x for end, gap in gaps for x in (end, gap)]
    return {"cpu": 3, "pid": 1, "tid": 1, "width_ns": width, "threshold_ns": threshold, "threshold_asked_ns": asked,
            "turn_ns": turn, "floor_ns": 270, "linear": linear, "gaps": flat, "gaps_not_kept": more,
            "start_ns": 0, "end_ns": 1_000_000_000, "interrupted": interrupted}


def test_a_loop_record_counts_exactly():
    linear = [0] * 501
    linear[9] = 900  # 90-100 ns
    linear[150] = 90  # 1.50-1.51 µs
    gaps = [(100_000, 6_000), (200_000, 12_000), (300_000, 2_000_000)]
    c = record_to_cpu(record(linear, gaps))
    assert c.samples == 993 == c.histogram.total
    assert c.percentiles_ns["p50"] == 100 and c.percentiles_ns["p99"] == 1510
    assert c.percentiles_ns["p99.9"] == 2_000_000 and c.max_ns == 2_000_000
    assert c.at_or_above == {1_000: 93, 10_000: 2, 100_000: 1, 1_000_000: 1}
    assert c.lost_ns == (6_000 - 90) + (12_000 - 90) + (2_000_000 - 90)
    assert 0 < c.lost_percent < 100
    assert [g.gap_ns for g in c.gaps] == [2_000_000, 12_000, 6_000]  # largest first
    assert c.gaps_seen == 3 and c.min_ns == 90
    assert c.resolution_ns == 270 and c.loop_ns == 90.0


def test_a_loop_record_says_what_it_could_not_keep():
    c = record_to_cpu(record([0, 5], [(10, 9000)], more=4, threshold=6000, asked=100, interrupted=True))
    assert c.gaps_seen == 5 and c.at_or_above[1_000] == 5
    assert c.lost_basis.startswith("at least")
    assert "raised" in c.note and "stopped early" in c.note


def test_cpu_records_survive_json():
    c = record_to_cpu(record([0] * 9 + [100], [(50, 7000)]))
    back = cpu_from_json(json.loads(json.dumps(cpu_to_json(c))))
    assert back.percentiles_ns == c.percentiles_ns and back.at_or_above == c.at_or_above
    assert back.histogram == c.histogram and back.gaps == c.gaps and back.lost_ns == c.lost_ns
    with pytest.raises(ValueError):
        cpu_from_json({"cpu": 1})


# ---- counter files ------------------------------------------------------------------------

def test_steal_and_task_stat_by_proc5():
    assert parse_stat_steal("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 80 9 10\ncpu1 1 2 3\nintr 5\n") == {0: 80}
    line = ("77 (a) b (c)) R 1 77 77 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 900 1000 50 18446744073709551615 "
            "1 1 0 0 0 0 0 0 0 0 0 0 17 5 0 0 0 0 0")
    assert parse_task_stat(line) == ("a) b (c)", 5)
    assert parse_task_stat("12 (x) R 1 2") is None


@given(st.text(max_size=300))
def test_counter_parsers_never_crash(text):
    parse_stat_steal(text)
    parse_task_stat(text)


# ---- checks before a run ------------------------------------------------------------------

def test_cpus_that_cannot_be_measured_are_named():
    host = open_host()
    with pytest.raises(JitterError, match="does not exist"):
        check_cpus(host, [4096])
    with pytest.raises(JitterError, match="no CPU"):
        check_cpus(host, [])
    with pytest.raises(JitterError, match="SCHED_FIFO"):
        check_cpus(host, ONLINE, fifo=1)  # every CPU (or the only one)
    assert check_cpus(host, [LAST]) == (LAST,)
    cpus = default_cpus(host)
    assert cpus and set(cpus) <= set(ONLINE)
    if len(ONLINE) > 1:
        assert ONLINE[0] not in cpus or set(cpus) == set(ONLINE) & set(cpus)


def test_a_snapshot_cannot_be_measured(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cmdline").write_text("ro\n")
    with pytest.raises(JitterError, match="live host"):
        measure_jitter([0], 1, host=open_host(tmp_path), trace=False)


# ---- live ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def live_run():
    return measure_jitter([LAST], 1.0, engine="python", trace=False)


def test_the_python_engine_reports_consistent_figures(live_run):
    (leg,) = live_run.legs
    (c,) = leg.result.cpus
    assert c.cpu == LAST and c.engine == "python"
    assert c.samples == c.histogram.total > 1000
    pct = [c.percentiles_ns[k] for k in ("p50", "p99", "p99.9", "p99.99")]
    assert all(isinstance(v, int) for v in pct) and pct == sorted(pct) and pct[-1] <= c.max_ns
    above = [c.at_or_above[b] for b in COUNT_BOUNDS_NS]
    assert all(isinstance(v, int) for v in above) and above == sorted(above, reverse=True)
    assert above[0] <= c.samples
    assert 0 <= c.lost_percent <= 100
    assert 0.9 <= c.duration_s <= 1.5
    # The loop costs tens to hundreds of ns a turn, and it says how fine it sees.
    assert 10 <= c.loop_ns <= 10_000 and c.resolution_ns >= c.loop_ns
    assert c.gaps_seen == len(c.gaps) and all(g.gap_ns >= live_run.threshold_ns for g in c.gaps)
    assert "finest gap" in live_run.to_text()


def test_counts_list_the_rows_that_really_moved():
    host = open_host()

    def independent():
        with open("/proc/interrupts") as f:
            return parse_interrupts(f.read())

    outer_before = independent()
    before = take_counts(host)
    py = run_python([LAST], 0.5, 5000)
    after = take_counts(host)
    outer_after = independent()
    counts = counts_between(before, after, [LAST], own_tids=py.tids.values(), own_involuntary=py.involuntary)
    moved = {str(r.key): (r.counts.get(LAST, 0) - b.counts.get(LAST, 0)) % (1 << 32)
             for r in outer_after.rows for b in outer_before.rows if r.key == b.key and r.per_cpu}
    seen = {d.source: d.delta for d in counts.deltas if d.kind in ("irq", "arch")}
    assert all(d.cpu == LAST for d in counts.deltas)
    for source, delta in seen.items():
        assert 0 < delta <= moved[source], source  # inside the outer window, never more
    # The busiest row of the outer window moved inside the run too (it is half a second).
    if moved and max(moved.values()) >= 50:
        assert max(moved, key=moved.get) in seen
    assert all(t.tid not in py.tids.values() for t in counts.tasks)
    assert counts.window_s > 0.4


def test_a_recorded_run_reads_back_and_damage_is_one_line(live_run, tmp_path):
    path = tmp_path / "jitter.json"
    path.write_text(json.dumps(live_run.to_json()))
    back = load_jitter(path)
    assert back.recorded_from == str(path)
    assert back.legs[0].result.cpus[0].percentiles_ns == live_run.legs[0].result.cpus[0].percentiles_ns
    assert "recorded" in back.to_text()
    path.write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        load_jitter(path)
    with pytest.raises(ValueError, match="schema"):
        jitter_from_json({**live_run.to_json(), "schema": 99})
    with pytest.raises(ValueError, match="damaged"):
        jitter_from_json({**live_run.to_json(), "legs": [{"engine": "python"}]})


# ---- the command line ---------------------------------------------------------------------

def hftinfra(*args, **kw):
    return subprocess.run([sys.executable, "-m", "hftinfra", *args], capture_output=True, text=True, timeout=60, **kw)


@pytest.mark.parametrize("args, words", [
    (["--cpus", "4096"], "does not exist"),
    (["--cpus", "1-x"], "--cpus"),
    (["--duration", "0"], "--duration"),
    (["--duration", "4000"], "--duration"),
    (["--threshold-ns", "0"], "--threshold-ns"),
    (["--engine", "perf"], "--engine"),
    (["--fifo", "1", "--cpus", ",".join(map(str, ONLINE))], "SCHED_FIFO"),
])
def test_bad_arguments_exit_2_with_one_line(args, words):
    r = hftinfra("jitter", "-q", *args)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert words in last and "Traceback" not in r.stderr


def test_ctrl_c_prints_what_was_measured():
    p = subprocess.Popen([sys.executable, "-m", "hftinfra", "jitter", "-q", "--engine", "python", "--no-trace",
                          "--cpus", str(LAST), "--duration", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    time.sleep(2.0)
    os.killpg(p.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert "stopped early" in out and "interrupted" in err
    assert "Traceback" not in err
    # Nothing left spinning.
    left = subprocess.run(["pgrep", "-f", "hftinfra.measure.jitter.busyloop"], capture_output=True, text=True)
    assert left.stdout.strip() == ""


# ---- attribution by trace, through the whole run -------------------------------------------

NOISE = """
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(15, b"hftnoise", 0, 0, 0)  # PR_SET_NAME
os.sched_setaffinity(0, {int(sys.argv[1])})
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    pass
"""


def test_a_disturbance_is_named_among_the_causes():
    from hftinfra.measure.jitter.trace import trace_available

    why = trace_available()
    if why is not None:
        pytest.skip(f"no tracing here: {why.detail}")
    noise = subprocess.Popen([sys.executable, "-c", NOISE, str(LAST), "6"])
    try:
        time.sleep(0.2)
        run = measure_jitter([LAST], 2.0, engine="python", trace=True)
    finally:
        noise.kill()
        noise.wait()
    causes = dict((label, ns) for label, ns, _ in run.causes())
    mine = f"task hftnoise/{noise.pid}"
    assert mine in causes, list(causes)[:10]
    # Two busy tasks share the CPU: the other one takes a large part of the run.
    assert causes[mine] > 0.1e9
    assert any(mine in detail for *_, detail in run.gap_causes())
    # The counts see it too, by name.
    assert any(t.comm == "hftnoise" for t in run.legs[0].counts.tasks)
    assert run.gaps_figure() is not None and run.causes_figure() is not None
    assert "causes of the" in run.to_text()


# ---- a recorded run on the tuned fixture -------------------------------------------------

def test_the_tuned_fixture_carries_a_recorded_run():
    from conftest import HOSTS

    from hftinfra.measure.jitter.run import recorded_jitter

    run = recorded_jitter(open_host(HOSTS / "tuned-2s"))
    assert run.recorded_from and "recorded" in run.to_text()
    assert [leg.engine for leg in run.legs] == ["python", "oslat"] and run.cpus == (9, 10)
    for leg in run.legs:
        for c in leg.result.cpus:
            # An isolated nohz_full core: nothing at or above 10 µs, the max a few µs.
            assert c.at_or_above[10_000] == 0 and c.max_ns <= 5_000
    assert set(run.ratios()) == {9, 10}
    assert run.ccdf_figure() is not None
    none = recorded_jitter(open_host(HOSTS / "untuned-2s"))
    assert none.reason.value == "missing" and "no recorded jitter run" in none.detail
    assert recorded_jitter(open_host()).reason.value == "unsupported"


def test_a_damaged_recorded_run_is_malformed_not_a_crash(tmp_path):
    from hftinfra.measure.jitter.run import recorded_jitter

    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cmdline").write_text("ro\n")
    (tmp_path / "hftinfra").mkdir()
    (tmp_path / "hftinfra" / "jitter.json").write_text('{"kind": "hftinfra.jitter", "schema": 1, "legs": 3}')
    got = recorded_jitter(open_host(tmp_path))
    assert got.reason.value == "malformed" and "damaged" in got.detail


def test_a_record_larger_than_a_pipe_does_not_hang_the_run():
    import threading

    got = {}
    t = threading.Thread(target=lambda: got.setdefault("run", run_python([LAST], 2.0, 400)), daemon=True)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "the loop's record never arrived"
    c = got["run"].result.cpus[0]
    assert c.samples > 0 and c.gaps_seen == len(c.gaps)


def test_an_offline_cpu_is_named_offline():
    from conftest import HOSTS

    with pytest.raises(JitterError, match="CPU 0 is offline"):
        check_cpus(open_host(HOSTS / "cpu0-offline"), [0])
