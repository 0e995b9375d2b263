"""``hftinfra diff A B``: only what differs, counters and clocks left out, bad input one line."""

from __future__ import annotations

import json
from pathlib import Path

from hftinfra.cli import main
from hftinfra.compare import diff_hosts, diff_records, is_volatile

HOSTS = Path(__file__).resolve().parent / "hosts"
TUNED, UNTUNED = str(HOSTS / "tuned-2s"), str(HOSTS / "untuned-2s")


def test_two_fixture_hosts_differ_where_they_are_tuned():
    d = diff_hosts(TUNED, UNTUNED)
    assert not d.same
    by_id = {f.check_id: f for f in d.findings}
    assert by_id["memory.thp"].a["status"] == "pass" and by_id["memory.thp"].b["status"] == "fail"
    assert by_id["memory.thp"].b["persistence"] == "overridden"
    paths = {c.path: c for c in d.records}
    assert any(p.startswith("memory.thp.") for p in paths)
    assert "kernel.version.release" not in paths  # same kernel on both: not listed
    # Only differences: every listed pair really differs.
    assert all(c.a != c.b for c in d.records)
    assert all(f.a != f.b for f in d.findings)


def test_a_host_against_a_copy_of_itself_is_the_same(tmp_path):
    from hftinfra import snapshot
    from hftinfra.host import open_host

    result = snapshot.capture(open_host(TUNED), counter_window_s=0)
    copy = snapshot.write(result.captured, tmp_path / "copy.tar.gz")
    d = diff_hosts(TUNED, str(copy))
    assert d.same, d.to_text()


def test_counters_and_clocks_are_left_out_unless_asked():
    a = {"irq.interrupts": {"rows": [{"counts": {"0": 5, "1": 6}, "total": 11, "name": "LOC"}]},
         "cpu.idle": {"states": [{"name": "C1", "usage": 10, "time_us": 99, "latency_us": 2}]}}
    b = {"irq.interrupts": {"rows": [{"counts": {"0": 7, "1": 6}, "total": 13, "name": "LOC"}]},
         "cpu.idle": {"states": [{"name": "C1", "usage": 12, "time_us": 120, "latency_us": 170}]}}
    changes, skipped = diff_records(a, b)
    assert [c.path for c in changes] == ["cpu.idle.states[0].latency_us"]
    assert skipped == 4
    every, none_skipped = diff_records(a, b, volatile=True)
    assert len(every) == 5 and none_skipped == 0
    assert is_volatile("irq.interrupts.interrupts.rows[3].counts.1")
    assert not is_volatile("memory.thp.enabled")


def test_cli_exit_codes_and_json(capsys):
    assert main(["diff", TUNED, TUNED]) == 0
    capsys.readouterr()
    assert main(["diff", TUNED, UNTUNED, "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "hftinfra.diff/1" and doc["findings"] and doc["records"]
    assert {"id", "a", "b"} <= set(doc["findings"][0])


def test_cli_bad_input_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball")
    for argv in (["diff", str(bad), TUNED], ["diff", TUNED, UNTUNED, "--profile", "nope"]):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 2 and out == "" and err.count("\n") == 1
