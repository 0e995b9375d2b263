"""The audit on the fixture hosts, the corpus trees and the live host; the report views."""

from __future__ import annotations

import json

import pytest

from hftinfra.audit import FINDING_KEYS, SCHEMA, area_findings, run_audit
from hftinfra.checks import catalog


@pytest.fixture(scope="module")
def hosts_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent / "hosts"


@pytest.fixture(scope="module")
def tuned(hosts_dir):
    return run_audit(str(hosts_dir / "tuned-2s"), "hft-isolated")


@pytest.fixture(scope="module")
def untuned(hosts_dir):
    return run_audit(str(hosts_dir / "untuned-2s"), "hft-isolated")


def test_tuned_host_passes_hft_isolated_without_fail(tuned):
    fails = [(f.id, f.observed, f.message) for f in tuned.findings if f.status == "fail"]
    assert fails == []
    assert tuned.exit_code == 0
    assert tuned.summary["pass"] >= 28
    # Only the measured check is unknown: a snapshot holds one reading of the counters.
    assert [f.id for f in tuned.findings if f.status == "unknown"] == ["irq.isolated_noise"]
    assert tuned.variables["isolated_cpus"].origin == "host: sysfs isolated"


# What distro defaults get wrong for a latency host: each of these must fail.
UNTUNED_FAILS = [
    "cpu.isolated", "cpu.nohz_full", "cpu.rcu_nocbs", "cpu.irqaffinity", "cpu.systemd_affinity",
    "cpu.workqueue_mask", "cpu.governor", "cpu.pstate_min_perf", "cpu.cstates",
    "kernel.skew_tick", "kernel.watchdog", "kernel.nmi_watchdog",
    "kernel.stat_interval", "kernel.hung_task", "kernel.mce_ignore_ce", "memory.thp", "memory.swap",
    "memory.swappiness", "memory.numa_balancing", "memory.dirty", "memory.hugepages",
    "memory.compact_unevictable", "irq.irqbalance", "irq.affinity", "net.busy_poll", "net.coalescing",
]


def test_untuned_host_fails_what_it_should(untuned):
    status = {f.id: f.status for f in untuned.findings}
    wrong = {cid: status[cid] for cid in UNTUNED_FAILS if status[cid] != "fail"}
    assert wrong == {}
    assert untuned.exit_code == 1
    for f in untuned.by_status("fail"):
        assert f.fix, f.id


def test_untuned_host_against_lighter_profiles(hosts_dir):
    lp = run_audit(str(hosts_dir / "untuned-2s"), "latency-performance")
    assert {f.id for f in lp.findings} == set(
        __import__("hftinfra.profiles", fromlist=["x"]).load_profile("latency-performance").rules)
    assert not any(f.id.startswith("cpu.isol") for f in lp.findings)
    assert lp.finding("cpu.governor").status == "fail"


def test_only_limits_areas(hosts_dir):
    r = run_audit(str(hosts_dir / "tuned-2s"), "hft-isolated", only=["memory"])
    assert {f.area for f in r.findings} == {"memory"}
    assert area_findings(str(hosts_dir / "tuned-2s"), "kernel").areas() == ["kernel"]


def test_edge_hosts_audit_without_error(hosts_dir):
    offline = run_audit(str(hosts_dir / "cpu0-offline"), "hft-isolated")
    assert len(offline.findings) == len(catalog())
    unreadable = run_audit(str(hosts_dir / "unreadable"), "hft-isolated")
    unknown = {f.id for f in unreadable.by_status("unknown")}
    assert {"cpu.isolated", "cpu.systemd_affinity", "cpu.pm_qos", "kernel.nmi_watchdog"} <= unknown
    for f in unreadable.by_status("unknown"):
        assert f.message.startswith(("could not read", "${")), (f.id, f.message)
    # Denied is never turned into a pass: every denied path's check is unknown.
    assert unreadable.finding("cpu.isolated").status == "unknown"


def test_big_host(tmp_path):
    import importlib.util
    import sys
    from pathlib import Path

    build = Path(__file__).resolve().parent / "hosts" / "build.py"
    spec = importlib.util.spec_from_file_location("_fixture_build", build)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    root = mod.build_host("big-4s", tmp_path / "big")
    r = run_audit(str(root), "hft-isolated")
    assert r.host["cpus"] >= 300
    assert r.by_status("fail") == []
    assert r.finding("cpu.workqueue_mask").status == "pass"
    assert r.finding("cpu.smt").observed.startswith("on")


def test_corpus_trees_audit_without_crashing(corpus_host):
    r = run_audit(corpus_host, "hft-isolated")
    assert len(r.findings) == len(catalog())
    for f in r.findings:
        assert f.status in ("pass", "fail", "warn", "skip", "unknown")
        if f.status in ("skip", "unknown"):
            assert f.message
        assert "failed:" not in f.message, (f.id, f.message)  # no probe or check crashed
    assert r.summary["unknown"] + r.summary["skip"] >= len(r.findings) // 3


@pytest.mark.live
def test_live_host_audits_and_never_passes_unread():
    r = run_audit(None, "hft-isolated")
    assert len(r.findings) == len(catalog())
    for f in r.findings:
        assert not (f.status == "pass" and f.observed.startswith("unknown")), f


@pytest.mark.live
def test_live_snapshot_audits_identically(tmp_path):
    snapshot = pytest.importorskip("hftinfra.snapshot")
    from hftinfra.host import open_host

    live = open_host(None)
    result = snapshot.capture(live)
    path = snapshot.write(result.captured, tmp_path / "snap")
    a = run_audit(live, "hft-isolated")
    b = run_audit(str(path), "hft-isolated")

    def key(f):
        return (f.id, f.status, f.observed, f.expected, f.message, f.fix)

    # A measurement over a window exists only live; the snapshot says so (or skips alike).
    measured = {"irq.isolated_noise"}
    assert [key(f) for f in a.findings if f.id not in measured] == \
        [key(f) for f in b.findings if f.id not in measured]
    for f in b.findings:
        if f.id in measured:
            assert f.status in ("unknown", "skip"), (f.status, f.message)


# ---- views --------------------------------------------------------------------------------


def test_json_schema_keys_are_stable(untuned):
    doc = json.loads(json.dumps(untuned.to_json()))
    assert doc["schema"] == SCHEMA == "hftinfra.audit/1"
    assert set(doc) == {"schema", "tool", "host", "profile", "only", "summary", "findings"}
    assert {"source", "hostname", "kernel", "cpus", "virtualized"} <= set(doc["host"])
    assert doc["host"]["virtualized"] is False and doc["host"]["cpus"] == 32
    assert set(doc["profile"]) == {"name", "path", "chain", "summary", "variables"}
    assert set(doc["summary"]) == {"pass", "fail", "warn", "skip", "unknown", "total"}
    assert doc["summary"]["total"] == len(doc["findings"])
    for f in doc["findings"]:
        assert tuple(f) == FINDING_KEYS
        assert f["status"] in ("pass", "fail", "warn", "skip", "unknown")
        assert isinstance(f["observed"], str) and isinstance(f["expected"], str)
        assert f["docs"].startswith("https://")
        assert (f["fix"] is None) == (f["status"] not in ("fail", "warn"))


def test_text_view_plain_and_coloured(untuned):
    plain = untuned.to_text(color=False)
    assert "\x1b[" not in plain
    assert "FAIL" in plain and "cpu.isolated" in plain and "Fixes (review before running)" in plain
    assert "#!/bin/sh" in plain
    assert "checks: 3 pass" in plain or " pass," in plain
    coloured = untuned.to_text(color=True)
    assert "\x1b[" in coloured


def test_markdown_and_html_views(untuned):
    md = untuned.to_markdown()
    assert md.startswith("# Host audit") and "| **fail** | `cpu.isolated`" in md and "```sh" in md
    html = untuned._repr_html_()
    assert "<table>" in html and "cpu.isolated" in html and "<script" not in html


def test_fix_script_only_for_failures(tuned, untuned):
    assert "kernel.preempt" in tuned.fix_script()  # the one warn
    script = untuned.fix_script()
    assert "memory.ksm" not in script  # passes on untuned
    assert "sysctl -w vm.swappiness=10" in script


def test_checks_reference_page_is_current():
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(repo / "tools" / "gen_checks_reference.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    page = (repo / "reference" / "checks.md").read_text()
    for cid in catalog():
        assert f"### `{cid}`" in page


def test_scorecard_rows_and_figure(untuned):
    from hftinfra.viz.audit import compare_figure, fixes_html, scorecard_figure, scorecard_rows

    rows = scorecard_rows(untuned)
    assert [r["area"] for r in rows] == ["cpu", "kernel", "memory", "irq", "net", "time"]
    assert sum(r["fail"] for r in rows) == untuned.summary["fail"]
    fig = scorecard_figure(untuned)
    assert [t.name for t in fig.data] == ["pass", "fail", "warn", "skip", "unknown"]
    assert compare_figure({"a": untuned}).data[1].x == (untuned.summary["fail"],)
    assert "cpu.isolated" in fixes_html(untuned)


def test_explorer_panes_follow_the_pickers_without_a_kernel(hosts_dir):
    import ipywidgets as w

    from hftinfra.checks.base import STATUSES
    from hftinfra.host import open_host
    from hftinfra.viz.audit import explorer

    box = explorer(open_host(str(hosts_dir / "untuned-2s")))
    profile, area, status = box.children[0].children
    outer = box.children[1]
    # Every link is a browser-side jslink from a picker's index to a Stack's selected_index.
    assert all(type(link).__name__ == "Link" and isinstance(link, w.Widget) for link in box.links)
    assert {link.source[0] for link in box.links} == {profile, area, status}
    areas = [label for label, _ in area.options][1:]
    fail_index = [label for label, _ in status.options].index("fail")
    for mid in outer.children:
        for a, inner in enumerate(mid.children):
            pane = inner.children[fail_index].value.partition("<tbody>")[2]
            # A pane for status "fail" lists failing findings only, of its area only.
            assert all(f">{s}</span>" not in pane for s in STATUSES if s != "fail")
            if a and "cpu." in pane:
                assert areas[a - 1] == "cpu"
    assert outer.selected_index == profile.index == len(outer.children) - 1
    assert "cpu.isolated" in outer.children[-1].children[0].children[fail_index].value


def test_exit_code_is_2_when_nothing_was_judged(tmp_path):
    root = tmp_path / "bare"
    (root / "proc").mkdir(parents=True)
    (root / "sys").mkdir()
    (root / "proc" / "cpuinfo").write_text("processor\t: 0\n")
    report = run_audit(str(root), "hft-isolated")
    assert report.judged == 0 and report.exit_code == 2
    assert "NOTHING JUDGED" in report.to_text()
    assert report.nothing_judged().startswith("no check could be judged on ")
