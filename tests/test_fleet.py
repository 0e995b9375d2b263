"""hftinfra fleet: many snapshots audited together, grouped, drift found, compared over time."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from hftinfra.audit import run_audit
from hftinfra.cli import main
from hftinfra.fleet import FleetInputError, FleetReportError, audit_fleet, discover
from hftinfra.fleet.model import SCHEMA
from hftinfra.fleet.synth import DRIFTS
from hftinfra.profiles import ProfileError

HOSTS = Path(__file__).resolve().parent / "hosts"
TUNED = HOSTS / "tuned-2s"
UNTUNED = HOSTS / "untuned-2s"


def _archive(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz", compresslevel=1) as tar:
        tar.add(src, arcname=".")
    return dest


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("archives")
    return {"tuned": _archive(TUNED, d / "tuned.tar.gz"), "untuned": _archive(UNTUNED, d / "untuned.tar.gz")}


def _fleet_dir(root: Path, archives: dict[str, Path], layout: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, kind in layout.items():
        shutil.copyfile(archives[kind], root / name)
    return root


# ---- discovery -----------------------------------------------------------------------------


def test_discover_a_mixed_folder(tmp_path, archives):
    d = _fleet_dir(tmp_path / "fleet", archives, {"b.tar.gz": "tuned", "a.tgz": "untuned"})
    (d / "snapdir").symlink_to(TUNED, target_is_directory=True)
    (d / "notes").mkdir()
    (d / ".c.tar.gz.part").write_bytes(b"half")
    (d / "collect.json").write_text("{}")
    (d / "gone.failed.json").write_text(json.dumps({"schema": "hftinfra.collect/1", "host": "gone",
                                                    "reason": "unreachable", "message": "ssh: timed out",
                                                    "when": "2026-12-03T06:00:00Z"}))
    entries, left_out = discover([d])
    assert [e.key for e in entries] == ["a.tgz", "b.tar.gz", "gone", "snapdir"]
    assert entries[2].failure["reason"] == "unreachable"
    assert left_out == [f"{d / 'notes'}: a folder that is not a snapshot"]


def test_a_failure_record_stands_for_the_host_over_an_older_archive(tmp_path, archives):
    d = _fleet_dir(tmp_path / "fleet", archives, {"web1.tar.gz": "tuned"})
    (d / "web1.failed.json").write_text(json.dumps({"schema": "hftinfra.collect/1", "host": "web1",
                                                    "reason": "timed out", "message": "no answer in 120 s"}))
    report = audit_fleet([d], jobs=1)
    (row,) = report.hosts
    assert not row.audited
    assert row.error.startswith("not collected (timed out): no answer in 120 s")
    assert "older archive web1.tar.gz is left out" in row.error
    assert report.exit_code == 1


@pytest.mark.parametrize("bad, match", [("missing", "no such file or folder"), ("empty", "no snapshots inside"),
                                        ("file", "not a snapshot")])
def test_discover_refuses_paths_that_hold_no_snapshot(tmp_path, bad, match):
    target = tmp_path / bad
    if bad == "empty":
        target.mkdir()
    elif bad == "file":
        target.write_text("x")
    with pytest.raises(FleetInputError, match=match):
        discover([target])


# ---- the report ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, archives):
    d = _fleet_dir(tmp_path_factory.mktemp("mixed") / "fleet", archives,
                   {"t1.tar.gz": "tuned", "t2.tar.gz": "tuned", "t3.tar.gz": "tuned", "u1.tar.gz": "untuned"})
    (d / "broken.tar.gz").write_bytes(archives["tuned"].read_bytes()[:5000])
    return d, audit_fleet([d], jobs=2)


def test_every_snapshot_is_a_row_and_a_broken_one_says_why(mixed):
    _, report = mixed
    assert [h.key for h in report.hosts] == ["broken.tar.gz", "t1.tar.gz", "t2.tar.gz", "t3.tar.gz", "u1.tar.gz"]
    broken = report.host("broken.tar.gz")
    assert not broken.audited and "not a readable .tar.gz snapshot" in broken.error
    assert report.exit_code == 1
    assert report.summary() == {"hosts": 5, "audited": 4, "not_audited": 1, "passing": 3, "failing": 1,
                                "groups": 2}


def test_hosts_with_the_same_failures_form_one_group(mixed):
    _, report = mixed
    big, small = report.groups
    assert big.hosts == ("t1.tar.gz", "t2.tar.gz", "t3.tar.gz") and small.hosts == ("u1.tar.gz",)
    tuned = run_audit(str(TUNED))
    assert big.pattern == tuple((f.id, f.status) for f in tuned.findings if f.status in ("fail", "warn", "unknown"))
    # The groups split the audited hosts exactly.
    assert sorted(k for g in report.groups for k in g.hosts) == sorted(h.key for h in report.audited)
    # Each failing check of the untuned host has its fix in that group.
    untuned = run_audit(str(UNTUNED))
    want = {f.id: f.fix for f in untuned.findings if f.status in ("fail", "warn")}
    assert {f.check_id: f.fix for f in small.fixes} == want
    assert all(f.hosts_with_this_fix == 1 for f in small.fixes)


def test_copies_of_one_machine_are_told_apart_by_path(mixed):
    _, report = mixed
    assert report.label("t1.tar.gz") == "ny4-trade-07 (t1.tar.gz)"
    assert report.label("u1.tar.gz") == "ny4-build-12"
    assert report.label("broken.tar.gz") == "broken.tar.gz"


def test_per_check_counts_and_drift_from_the_majority(mixed):
    _, report = mixed
    untuned = {f.id: f for f in run_audit(str(UNTUNED)).findings}
    tuned = {f.id: f for f in run_audit(str(TUNED)).findings}
    for c in report.checks:
        assert sum(c.counts.values()) == 4, c.id
        assert c.majority == tuned[c.id].status, c.id
        differs = untuned[c.id].status != tuned[c.id].status
        assert c.drift == (("u1.tar.gz",) if differs else ()), c.id
        if differs:
            assert c.observed == {untuned[c.id].observed: 1}
    thp = next(c for c in report.checks if c.id == "memory.thp")
    assert thp.counts["pass"] == 3 and thp.counts["fail"] == 1
    # Where memory.thp stands for the next boot, on every audited host.
    assert sum(thp.persistence.values()) == 4
    assert thp.persistence.get(untuned["memory.thp"].persistence.state) >= 1


def test_parallel_and_serial_audits_agree(mixed):
    d, report = mixed
    serial = audit_fleet([d], jobs=1)

    def plain(r):
        j = r.to_json()
        j.pop("when")
        return j

    assert plain(serial) == plain(report)


def test_json_has_its_schema_and_round_trips_the_hosts(mixed):
    _, report = mixed
    j = json.loads(json.dumps(report.to_json()))
    assert j["schema"] == SCHEMA == "hftinfra.fleet/1"
    assert j["summary"]["hosts"] == 5
    by_key = {h["key"]: h for h in j["hosts"]}
    assert by_key["broken.tar.gz"]["group"] is None and by_key["broken.tar.gz"]["statuses"] is None
    assert by_key["t1.tar.gz"]["group"] == 1 and by_key["u1.tar.gz"]["group"] == 2
    assert by_key["u1.tar.gz"]["statuses"]["memory.thp"] == "fail"
    assert by_key["u1.tar.gz"]["details"]["memory.thp"]["fix"]
    assert {c["id"] for c in j["checks"]} == set(by_key["t1.tar.gz"]["statuses"])


def test_text_markdown_and_html_views(mixed):
    _, report = mixed
    text = report.to_text()
    assert text.startswith("fleet: 5 hosts: 3 pass, 1 fail, 1 not audited; 2 groups")
    assert "group 1: 3 hosts" in text and "group 2: 1 host —" in text
    assert "broken.tar.gz: " in text and "not a readable .tar.gz snapshot" in text
    assert "memory.thp" in text
    md = report.to_markdown()
    assert "| `memory.thp` | 3 | 1 | 0 | 0 | 0 | pass | 1: ny4-build-12 |" in md
    html = report.to_html()
    assert "<table>" in html and "ny4-build-12" in html


def test_matrix_rows_follow_the_groups(mixed):
    _, report = mixed
    keys, ids, grid = report.matrix()
    assert keys == ["t1.tar.gz", "t2.tar.gz", "t3.tar.gz", "u1.tar.gz", "broken.tar.gz"]
    assert ids == [c.id for c in report.checks]
    assert set(grid[-1]) == {"not audited"}
    assert grid[3][ids.index("memory.thp")] == "fail"


# ---- since ---------------------------------------------------------------------------------


def test_since_names_drift_fixes_new_and_gone_hosts(tmp_path, archives):
    day1 = _fleet_dir(tmp_path / "day1", archives, {"a.tar.gz": "tuned", "b.tar.gz": "untuned",
                                                     "old.tar.gz": "tuned"})
    prev = tmp_path / "day1.json"
    prev.write_text(json.dumps(audit_fleet([day1], jobs=1).to_json()))
    day2 = _fleet_dir(tmp_path / "day2", archives, {"a.tar.gz": "untuned", "b.tar.gz": "tuned",
                                                     "new.tar.gz": "tuned"})
    report = audit_fleet([day2], jobs=1, since=prev)
    s = report.since
    assert s.new_hosts == ["new.tar.gz"] and s.gone_hosts == ["old.tar.gz"]
    tuned = {f.id: f.status for f in run_audit(str(TUNED)).findings}
    untuned = {f.id: f.status for f in run_audit(str(UNTUNED)).findings}
    bad = ("fail", "warn", "unknown")

    def went(host, was, now):
        return {(host, c, "drifted" if now[c] in bad and was[c] not in bad else
                 "fixed" if was[c] in bad and now[c] == "pass" else "changed")
                for c in was if was[c] != now[c]}

    want = went("a.tar.gz", tuned, untuned) | went("b.tar.gz", untuned, tuned)
    got = {(c.host, c.check_id, kind) for kind in ("drifted", "fixed", "changed") for c in getattr(s, kind)}
    assert got == want
    assert {kind for _, _, kind in want} == {"drifted", "fixed", "changed"}
    assert ("a.tar.gz", "memory.thp", "pass", "fail") in {(c.host, c.check_id, c.was, c.now) for c in s.drifted}
    assert "drifted (" in report.to_text() and "fixed (" in report.to_text()
    assert report.to_json()["since"]["new_hosts"] == ["new.tar.gz"]
    # The same fleet against itself: nothing changed.
    again = tmp_path / "day2.json"
    again.write_text(json.dumps(report.to_json()))
    assert audit_fleet([day2], jobs=1, since=again).since.quiet


@pytest.mark.parametrize("content, match", [(None, "no such file"), ("{not json", "not JSON"),
                                            ('{"schema": "hftinfra.audit/1"}', "not a fleet report"),
                                            ('{"schema": "hftinfra.fleet/1", "hosts": [1]}', "damaged")])
def test_a_bad_since_report_is_refused_before_any_audit(tmp_path, content, match):
    prev = tmp_path / "prev.json"
    if content is not None:
        prev.write_text(content)
    with pytest.raises(FleetReportError, match=match):
        audit_fleet([TUNED], since=prev)


def test_unknown_profile_or_variable_fails_once(tmp_path):
    with pytest.raises(ProfileError):
        audit_fleet([TUNED], profile="no-such-profile")
    with pytest.raises(ProfileError):
        audit_fleet([TUNED], variables=["no_such_var=1"])


# ---- the command line ----------------------------------------------------------------------


def test_cli_exit_codes_and_formats(tmp_path, mixed, capsys):
    d, _ = mixed
    assert main(["fleet", str(TUNED)]) == 0
    capsys.readouterr()
    assert main(["fleet", str(d), "--format", "json", "-o", str(tmp_path / "f.json")]) == 1
    j = json.loads((tmp_path / "f.json").read_text())
    assert j["schema"] == "hftinfra.fleet/1" and j["summary"]["hosts"] == 5
    assert main(["fleet", str(d), "--since", str(tmp_path / "f.json"), "--format", "markdown"]) == 1
    assert "nothing changed" in capsys.readouterr().out
    assert main(["fleet", str(d), "--format", "html", "-o", str(tmp_path / "f.html")]) == 1
    assert (tmp_path / "f.html").read_text().startswith("<!DOCTYPE html>")
    for argv in (["fleet", str(tmp_path / "nothing")], ["fleet", str(TUNED), "--profile", "nope"],
                 ["fleet", str(TUNED), "--since", str(tmp_path / "f.html")]):
        before = (tmp_path / "f.json").read_bytes()
        assert main(argv + ["-o", str(tmp_path / "f.json")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("hftinfra fleet: error: ") and err.count("\n") == 1
        assert (tmp_path / "f.json").read_bytes() == before  # a failed run leaves the old report


def test_cli_runs_as_a_separate_process(tmp_path):
    out = subprocess.run([sys.executable, "-m", "hftinfra", "fleet", str(TUNED), str(UNTUNED), "--jobs", "2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert out.stdout.startswith("fleet: 2 hosts: 1 pass, 1 fail; 2 groups")


def _dies_on_untuned(args):
    """A worker that dies like an OOM-killed process when it meets one host."""
    import os

    from hftinfra.fleet.run import _audit_chunk

    entries = args[0]
    if any(e.key == "u1.tar.gz" for e in entries):
        os._exit(137)
    return _audit_chunk(args)


def test_a_dying_worker_costs_only_its_own_host(mixed):
    from hftinfra.fleet.run import audit_entries

    d, report = mixed
    entries, _ = discover([d])
    rows = audit_entries(entries, "hft-isolated", (), jobs=2, worker=_dies_on_untuned)
    by_key = {r.key: r for r in rows}
    assert [r.key for r in rows] == [e.key for e in entries]
    assert by_key["u1.tar.gz"].error == "its audit's worker process died (killed, or crashed)"
    for key in ("t1.tar.gz", "t2.tar.gz", "t3.tar.gz"):
        assert by_key[key].statuses == report.host(key).statuses
    assert "not a readable" in by_key["broken.tar.gz"].error


def test_heatmap_rows_are_hosts_in_group_bands(mixed):
    from hftinfra.viz.fleet import groups_figure, heatmap_data, heatmap_figure

    _, report = mixed
    data = heatmap_data(report)
    assert data["keys"] == report.matrix()[0]
    assert data["groups"] == [(1, 0, 3), (2, 3, 1), (None, 4, 1)]
    assert data["checks"] == [c.id for c in report.drifting_checks()]
    assert data["left_out"] == len(report.checks) - len(data["checks"])
    assert data["cells"][3][data["checks"].index("memory.thp")] == "fail"
    assert data["cells"][4] == ["not audited"] * len(data["checks"])
    fig = heatmap_figure(report)
    assert fig.layout.meta["hftinfra"] == "fleet-heatmap"
    assert list(fig.layout.yaxis.ticktext) == ["group 1 (3)", "group 2 (1)", "not audited (1)"]
    # One row per host, named; the hover says what was seen only where a host drifts.
    heat = fig.data[0]
    assert len(set(heat.y)) == len(heat.y) == len(data["keys"])
    assert heat.y[3] == f"{report.label(data['keys'][3])} · group 2"
    assert heat.y[4].endswith(" · not audited")
    thp = data["checks"].index("memory.thp")
    odd = report.host(data["keys"][3]).observed["memory.thp"]
    assert heat.text[3][thp] == f"<b>fail</b><br>{odd[:90]}"
    assert heat.text[0][thp] == "pass"
    assert heat.text[4][thp].startswith("<b>not audited</b><br>")
    everything = heatmap_data(report, only_drifting=False)
    assert len(everything["checks"]) == len(report.checks) and everything["left_out"] == 0
    assert [b for b in groups_figure(report).data[0].x] == [3, 1, 1]


def test_heatmap_of_a_large_fleet_names_only_the_bands_there_is_room_for():
    """300 hosts: one big band and twenty of one host each. The grid stays bounded, every
    label on the axis has room, and each row still says its group in the hover."""
    from hftinfra.fleet.model import analyse
    from hftinfra.fleet.run import HostResult
    from hftinfra.viz.fleet import GRID_PX, LABEL_PX, heatmap_figure

    checks = [f"c.{i}" for i in range(21)]
    rows = []
    for n in range(300):
        statuses = dict.fromkeys(checks, "pass")
        if n < 20:
            statuses[checks[n + 1]] = "fail"  # a group of its own
        rows.append(HostResult(key=f"h{n:03}.tar.gz", path=f"/f/h{n:03}.tar.gz", hostname=f"h{n:03}", exit_code=0,
                               statuses=statuses, observed=dict.fromkeys(checks, "x")))
    report = analyse(rows, "p", ("p",), (), {c: (c, "c") for c in checks}, "2026-12-03T00:00:00Z")
    assert len(report.groups) == 21
    fig = heatmap_figure(report)
    heat = fig.data[0]
    assert len(heat.y) == 300 and all(" · group " in y for y in heat.y)
    labels = list(fig.layout.yaxis.ticktext)
    assert labels[0] == "group 1 (280)" and 1 < len(labels) < 21
    positions = [list(heat.y).index(t) for t in fig.layout.yaxis.tickvals]
    row_px = (fig.layout.height - fig.layout.margin.t - 40) / 300
    assert row_px * 300 <= GRID_PX + 1
    assert all((b - a) * row_px >= LABEL_PX for a, b in itertools.pairwise(positions))


def test_bench_fleet_prints_its_figures(capsys):
    from hftinfra import bench_fleet

    assert bench_fleet.main(["--sizes", "2,5", "--jobs", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out if line.split() and line.split()[0].isdigit()]
    assert [r[0] for r in rows] == ["2", "5"], out
    for r in rows:
        assert r[1] == "2" and float(r[2]) > 0 and float(r[3]) > 0  # jobs, wall s, ms per snapshot
    assert rows[0][-2] == "-" and rows[1][-2].startswith("x")  # growth from one size to the next


@pytest.mark.parametrize("argv", [["--sizes", "ten"], ["--sizes", "0"], ["--sizes", ","], ["--jobs", "0"]])
def test_bench_fleet_bad_arguments_are_one_line(argv, capsys):
    from hftinfra import bench_fleet

    with pytest.raises(SystemExit) as exc:
        bench_fleet.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("python -m hftinfra.bench_fleet: error: "), err


# ---- the generator's truth, and a night's changes ---------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from hftinfra.fleet.synth import make_fleet

    root = tmp_path_factory.mktemp("synthetic")
    generated = make_fleet(root / "fleet", count=40, base=TUNED, seed=3, clones=1)
    return root, generated, audit_fleet([root / "fleet"], jobs=2)


def test_the_report_finds_every_generated_hosts_drift(synthetic):
    from hftinfra.fleet.synth import ground_truth

    root, generated, report = synthetic
    truth = ground_truth(report, root / "fleet")
    assert truth.found and truth.hosts == 41 and len(truth.clones) == 1, truth.wrong
    assert str(truth).startswith("41 generated hosts, 0 in a group that does not match")


def test_ground_truth_says_when_the_report_is_wrong(synthetic, tmp_path):
    from hftinfra.fleet.synth import SynthError, ground_truth

    root, generated, report = synthetic
    manifest = json.loads((root / "fleet" / "manifest.json").read_text())
    victim = next(h for h in manifest["hosts"] if h["drifts"] == ["thp-always"])
    victim["drifts"] = ["numa-balancing-on"]  # the manifest now claims another drift
    other = tmp_path / "fleet"
    shutil.copytree(root / "fleet", other)
    (other / "manifest.json").write_text(json.dumps(manifest))
    # The same report, its hosts moved to the copied folder.
    moved = [dataclasses.replace(h, path=str(other / Path(h.path).name)) for h in report.hosts]
    truth = ground_truth(dataclasses.replace(report, hosts=moved), other)
    assert not truth.found
    assert truth.wrong == ((victim["file"], ("memory.thp",), ("memory.numa_balancing",)),)
    with pytest.raises(SynthError, match="not in the report"):
        ground_truth(report, other)
    with pytest.raises(SynthError, match="not a synthetic fleet"):
        ground_truth(report, tmp_path)


def test_overnight_changes_are_what_since_reports(synthetic, tmp_path):
    from hftinfra.fleet.synth import SynthError, overnight

    root, generated, report = synthetic
    yesterday = tmp_path / "yesterday.json"
    yesterday.write_text(json.dumps(report.to_json()))
    night = overnight(generated, [root / "fleet"], tmp_path / "night", base=TUNED, seed=4)
    assert (len(night.fixed), len(night.drifted), len(night.gone), len(night.new)) == (3, 3, 1, 1)
    today = audit_fleet([night.folder], since=yesterday, jobs=2)
    s = today.since
    assert s.new_hosts == list(night.new) and s.gone_hosts == list(night.gone)
    # A drift that only changes the next boot changes no status: --since cannot see it.
    was = {Path(g.path).name: g.drifts for g in generated}
    assert {c.host for c in s.fixed} == {n for n in night.fixed if any(DRIFTS[d].checks for d in was[n])}
    assert {c.host for c in s.drifted} == {n for n in night.drifted if any(DRIFTS[d].checks for d in night.drifts[n])}
    assert s.fixed and s.drifted
    with pytest.raises(SynthError, match="new or empty folder"):
        overnight(generated, [root / "fleet"], tmp_path / "night", base=TUNED, seed=4)
    with pytest.raises(SynthError, match="could be fixed overnight, not 99"):
        overnight(generated, [root / "fleet"], tmp_path / "night2", base=TUNED, seed=4, fixed=99)


def test_the_drift_table_alone_is_the_reports_own(mixed):
    _, report = mixed
    table = report.drift_table()
    html = table._repr_html_()
    assert html in report.to_html()
    assert [c.id for c in report.drifting_checks() if f"<code>{c.id}</code>" not in html] == []
    assert repr(table) in report.to_text()
    assert repr(table).startswith(f"drift (checks where some hosts differ from the majority): "
                                  f"{len(report.drifting_checks())}")
