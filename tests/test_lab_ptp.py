"""The PTP lab (hftinfra.labs.ptp): run for real where the machine allows (root, ``ip netns``,
ptp4l and pmc), else skipped with the reason; the pure parts on literal ptp4l lines
everywhere.

adjtimex(2) is read (modes 0, through hftinfra.timesync's reader) before and after every
run: its frequency and status must not change, whatever the lab measured. The autouse
fixture deletes any namespace of this process's pid that a failing test left behind, and
fails the test that left it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labtools import (
    interrupt_lab_cli,
    ip_binary,
    kernel_clock,
    lab_namespaces,
    netns_list,
    processes_mentioning,
    remove_lab_namespaces,
)

from hftinfra import cli
from hftinfra.labs import LabCapability, LabError, LabUnavailable, harness, lab_capability
from hftinfra.labs import ptp as ptplab
from hftinfra.labs.ptp import (
    PMC_QUERIES,
    PtpLabResult,
    lab_view,
    measured,
    parse_port_transitions,
    ptp4l_config,
    ptp_stats,
    run_ptp_lab,
)
from hftinfra.timesync import parse_ptp4l_log

DURATION_S = 11.0  # the first measured offset line comes about 6-7 s after the start here


_ip, _netns_list, _processes_mentioning = ip_binary, netns_list, processes_mentioning
_clock = kernel_clock


def _ours(pid: int) -> set[str]:
    return lab_namespaces("ptp", pid)


def _remove_namespaces_of(pid: int) -> set[str]:
    return remove_lab_namespaces("ptp", pid)


def _can_run_lab() -> str | None:
    capability = lab_capability()
    if not capability:
        return f"no labs here: {capability.reason}"
    for tool in ("ptp4l", "pmc"):
        if ptplab.find_tool(tool) is None:
            return f"no PTP lab here: {tool} is not installed (Debian package linuxptp)"
    return None


@pytest.fixture(autouse=True)
def nothing_left_behind():
    yield
    if os.geteuid() != 0 or not lab_capability():
        return
    leftovers = _remove_namespaces_of(os.getpid())
    assert not leftovers, f"test left namespaces behind (now removed): {sorted(leftovers)}"


@pytest.fixture(scope="module")
def ran():
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    steps: list[str] = []
    before = _clock()
    started = time.monotonic()
    result = run_ptp_lab(DURATION_S, on_step=steps.append)
    seconds = time.monotonic() - started
    after = _clock()
    return {"result": result, "steps": steps, "before": before, "after": after, "seconds": seconds}


# ---------------------------------------------------------------------------------------
# The real lab


@pytest.mark.root
def test_the_system_clock_is_untouched(ran):
    assert ran["after"] == ran["before"], f"adjtimex (freq, status) went from {ran['before']} to {ran['after']}"
    clock = ran["result"].clock
    assert clock.untouched is True and clock.text.startswith("untouched")
    # The lab's own readings agree with this test's.
    assert (clock.before.timex.freq, clock.before.timex.status) == ran["before"]


@pytest.mark.root
def test_the_lab_cleans_up_everything_it_made(ran):
    result: PtpLabResult = ran["result"]
    report = result.report
    assert report is not None and report.clean, report.to_text()
    kinds = [r.kind for r in report.created]
    assert kinds.count("netns") == 2 and kinds.count("veth") == 1 and kinds.count("process") == 2
    assert kinds.count("tempdir") == 1 and len(report.removed) == len(report.created)
    assert not {r.name for r in report.created if r.kind == "netns"} & _netns_list()
    tmpdir = next(r.name for r in report.created if r.kind == "tempdir")
    assert not Path(tmpdir).exists() and _processes_mentioning(tmpdir) == []
    for inst in (result.grandmaster, result.slave):
        assert inst.uds_address.startswith(tmpdir + "/") and not Path(inst.uds_address).exists()
        assert inst.exit_code is not None
    assert ran["steps"][-1] == report.summary() and "cleaned up" in result.cleanup
    # The daemons ran for the duration asked; set-up and cleanup add little.
    assert DURATION_S <= result.run_s < DURATION_S + 15
    assert result.elapsed_s <= ran["seconds"] < DURATION_S + 30


@pytest.mark.root
def test_both_instances_are_free_running_with_their_own_socket(ran):
    result = ran["result"]
    gm, slave = result.grandmaster, result.slave
    assert gm.uds_address != slave.uds_address
    for inst in (gm, slave):
        assert "free_running 1" in inst.config.splitlines()
        assert f"uds_address {inst.uds_address}" in inst.config.splitlines()
        assert "-S" in inst.argv and "-2" in inst.argv and inst.ifname in inst.argv
    assert "priority1 1" in gm.config and "slaveOnly 1" in slave.config


@pytest.mark.root
def test_the_slave_measures_offset_and_path_delay(ran):
    result = ran["result"]
    stats = result.stats
    assert stats == ptp_stats(result.samples, result.t0_s)
    # Each line comes from the slave's log, parsed the same way here.
    again = [s for s in parse_ptp4l_log("\n".join(result.slave.log)) if s.kind in ("offset", "summary")]
    assert tuple(again) == result.samples
    assert stats.measured >= 1, f"no measured line in {DURATION_S} s: {result.slave.log}"
    # free_running: the servo never locks.
    assert stats.servo_states == ("s0",)
    good = measured(result.samples)
    times = result.times_s(good)
    assert times == sorted(times) and 0 < times[0] and times[-1] <= result.run_s + 1
    for s in good:
        # Software timestamps over a veth on one kernel: microseconds, not milliseconds, even
        # with steal time (the orders of magnitude, not the figures, are what holds).
        assert 0 < s.path_delay_ns < 1_000_000, s.line
        assert abs(s.offset_ns) < 10_000_000, s.line
    assert stats.median_abs_offset_ns <= stats.max_abs_offset_ns
    assert stats.min_path_delay_ns <= stats.median_path_delay_ns <= stats.max_path_delay_ns
    assert any(step.startswith("slave: master offset ") for step in ran["steps"])


@pytest.mark.root
def test_pmc_answers_both_and_the_slave_stays_uncalibrated(ran):
    result = ran["result"]
    gm, slave = result.grandmaster, result.slave
    for inst in (gm, slave):
        assert set(inst.pmc) == set(PMC_QUERIES)
        unanswered = {k: v for k, v in inst.pmc.items() if not isinstance(v, dict)}
        assert not unanswered, unanswered
    assert gm.port_state == "MASTER"
    assert slave.port_state == "UNCALIBRATED"  # free_running: never SLAVE
    assert gm.answer("CURRENT_DATA_SET", "stepsRemoved") == "0"
    assert slave.answer("CURRENT_DATA_SET", "stepsRemoved") == "1"
    assert slave.answer("TIME_STATUS_NP", "gmPresent") == "true"
    gm_id = gm.answer("PARENT_DATA_SET", "grandmasterIdentity")
    assert gm_id == slave.answer("PARENT_DATA_SET", "grandmasterIdentity")
    assert gm.answer("PORT_DATA_SET", "portIdentity").startswith(gm_id)
    # The log says the same as pmc.
    assert [t.new for t in slave.network_transitions][-1] == "UNCALIBRATED"
    assert [t.new for t in gm.network_transitions][-1] == "MASTER"
    assert slave.network_transitions == tuple(t for t in parse_port_transitions("\n".join(slave.log)) if t.port)


@pytest.mark.root
def test_results_render_and_serialise(ran):
    result = ran["result"]
    doc = result.to_json()
    assert doc["schema"] == "hftinfra.lab.ptp" and doc["transport"] == "L2"
    assert doc["clock"]["untouched"] is True and "report" not in doc
    assert len(doc["samples"]) == len(result.samples) and doc["stats"]["servo_states"] == ["s0"]
    json.dumps(doc)
    html = result._repr_html_()
    assert html.count("application/vnd.hftinfra.plotly+json") == 2  # series and histogram
    assert "UNCALIBRATED" in html and "free_running 1" in html
    assert str(result).startswith("lab ptp on kernel ") and "system clock: untouched" in str(result)
    fig = result.series_figure()
    assert len(fig.data) == 2 and list(fig.data[0].y) == [s.offset_ns for s in measured(result.samples)]


@pytest.mark.root
def test_udp_ipv4_transport():
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    before = _clock()
    result = run_ptp_lab(10, transport="UDPv4")
    assert _clock() == before
    assert result.transport == "UDPv4" and all("-4" in i.argv for i in (result.grandmaster, result.slave))
    assert result.report.clean and result.slave.port_state == "UNCALIBRATED"
    assert result.stats.measured >= 1, result.slave.log


@pytest.mark.root
def test_cli_lab_ptp_writes_json(tmp_path):
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    out = tmp_path / "ptp.json"
    before = _clock()
    res = subprocess.run([sys.executable, "-m", "hftinfra", "lab", "ptp", "--duration", "2", "--json", "-o", str(out)],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert _clock() == before
    assert res.returncode == 0, res.stderr
    assert res.stdout == "" and "wrote " in res.stderr and "ptp: running 2 s" in res.stderr
    doc = json.loads(out.read_text())
    assert doc["schema"] == "hftinfra.lab.ptp" and doc["duration_s"] == 2.0 and "cleaned up" in doc["cleanup"]
    assert set(doc["grandmaster"]["pmc"]) == set(PMC_QUERIES)


@pytest.mark.root
def test_ctrl_c_stops_the_lab_and_cleans_up():
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    run = interrupt_lab_cli(["lab", "ptp", "--duration", "600"], "ptp: running", settle_s=0.5)
    try:
        assert run.seen and "ptp: running" in run.seen[-1], "".join(run.seen)
        assert run.returncode == 130, run.err
        assert "cleaned up" in run.err and run.err.rstrip().endswith("hftinfra lab: interrupted")
        assert not _ours(run.pid) and _processes_mentioning(f"hft-ptp-{run.pid}-", settle_s=3) == []
    finally:
        leftovers = _remove_namespaces_of(run.pid)
    assert not leftovers


# ---------------------------------------------------------------------------------------
# Without the means: one line, exit 2, nothing raised by a page


@pytest.mark.root
def test_cli_as_nobody_one_line():
    from conftest import nobody_python

    found = nobody_python()
    if found is None:
        pytest.skip("needs root, setpriv and a Python the nobody user can run")
    cmd, env = found
    res = subprocess.run([*cmd, "-m", "hftinfra", "lab", "ptp", "--duration", "1"], capture_output=True, text=True,
                         timeout=60, env=env, cwd="/")
    assert res.returncode == 2, res.stderr
    assert res.stdout == "" and res.stderr.count("\n") == 1
    assert res.stderr.startswith("hftinfra lab: error: lab ptp needs root") and "uid 65534" in res.stderr


def test_cli_without_the_tools_one_line(monkeypatch, capsys):
    monkeypatch.setattr(ptplab, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness, "find_tool", lambda name: None)
    assert cli.main(["lab", "ptp", "--duration", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err == ("hftinfra lab: error: lab ptp needs 'ptp4l' and 'pmc' (Debian package linuxptp), "
                   "which are not installed\n")
    monkeypatch.setattr(harness, "find_tool", lambda name: None if name == "pmc" else "/usr/sbin/" + name)
    with pytest.raises(LabUnavailable, match=r"^lab ptp needs 'pmc' \(Debian package linuxptp\), which is not"):
        run_ptp_lab(1)


def test_lab_view_gives_one_line_when_the_lab_cannot_run(monkeypatch):
    from hftinfra.page import Note

    monkeypatch.setattr(ptplab, "lab_capability",
                        lambda: LabCapability(False, "needs root to create network namespaces (running as uid 1000)"))
    monkeypatch.setattr(harness, "lab_capability",
                        lambda: LabCapability(False, "needs root to create network namespaces (running as uid 1000)"))
    view = lab_view()
    assert isinstance(view, Note) and "\n" not in str(view)
    assert str(view) == "skipped: lab ptp needs root to create network namespaces (running as uid 1000)"
    monkeypatch.setattr(ptplab, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness, "find_tool", lambda name: None)
    view = lab_view(duration_s=1)
    assert isinstance(view, Note) and str(view).startswith("skipped: lab ptp needs 'ptp4l'")


def test_bad_requests_are_refused():
    with pytest.raises(LabError, match="transport"):
        run_ptp_lab(1, transport="UDPv6")
    for bad in (0, -1, 3601):
        with pytest.raises(LabError, match="duration"):
            run_ptp_lab(bad)


# ---------------------------------------------------------------------------------------
# The pure parts, on real lines (ptp4l 3.1.1 as the slave of this lab, software timestamps)

SLAVE_LOG = """\
ptp4l[10321.212]: port 1: INITIALIZING to LISTENING on INIT_COMPLETE
ptp4l[10321.212]: port 0: INITIALIZING to LISTENING on INIT_COMPLETE
ptp4l[10323.271]: port 1: new foreign master 360ada.fffe.c5233c-1
ptp4l[10324.248]: selected local clock d258d5.fffe.a81331 as best master
ptp4l[10325.271]: selected best master clock 360ada.fffe.c5233c
ptp4l[10325.271]: foreign master not using PTP timescale
ptp4l[10325.271]: port 1: LISTENING to UNCALIBRATED on RS_SLAVE
ptp4l[10327.270]: master offset          0 s0 freq    +250 path delay         0
ptp4l[10328.270]: master offset       -223 s0 freq    +132 path delay      2778
ptp4l[10329.270]: master offset         69 s0 freq    +163 path delay      2649
ptp4l[10330.271]: master offset        280 s0 freq     +91 path delay      2529
ptp4l[10331.271]: master offset        262 s0 freq     -13 path delay      2534
ptp4l[10332.271]: master offset        -41 s0 freq    -303 path delay      2534
"""


def test_port_transitions_are_parsed_and_port_zero_kept():
    ts = parse_port_transitions(SLAVE_LOG)
    assert [(t.port, t.old, t.new, t.event) for t in ts] == [
        (1, "INITIALIZING", "LISTENING", "INIT_COMPLETE"), (0, "INITIALIZING", "LISTENING", "INIT_COMPLETE"),
        (1, "LISTENING", "UNCALIBRATED", "RS_SLAVE")]
    assert ts[-1].time_s == 10325.271
    # A reason in parentheses, an interface name after the port (newer releases), a message tag.
    more = parse_port_transitions(
        "ptp4l[5.000]: port 1: UNCALIBRATED to SLAVE on MASTER_CLOCK_SELECTED (FT_REASON)\n"
        "ptp4l[6.000]: port 1 (eth0): SLAVE to FAULTY on FAULT_DETECTED (FT_UNSPECIFIED)\n"
        "ptp4l[7.000]: [v0] port 2: LISTENING to MASTER on ANNOUNCE_RECEIPT_TIMEOUT_EXPIRES\n"
        "ptp4l[8.000]: master offset 5 s0 freq +1 path delay 3\n")
    assert [(t.port, t.new) for t in more] == [(1, "SLAVE"), (1, "FAULTY"), (2, "MASTER")]
    assert parse_port_transitions("") == ()


def test_the_first_line_before_a_delay_measurement_is_left_out():
    samples = parse_ptp4l_log(SLAVE_LOG)
    good = measured(samples)
    assert len(samples) == 6 and len(good) == 5 and good[0].offset_ns == -223
    stats = ptp_stats(samples, t0_s=10321.0)
    assert (stats.lines, stats.measured) == (6, 5)
    assert stats.first_line_s == pytest.approx(7.27)
    # |offsets| 41 69 223 262 280; path delays 2529 2534 2534 2649 2778 (nearest rank).
    assert (stats.median_abs_offset_ns, stats.p90_abs_offset_ns, stats.max_abs_offset_ns) == (223, 280, 280)
    assert stats.median_offset_ns == 69
    assert (stats.median_path_delay_ns, stats.min_path_delay_ns, stats.max_path_delay_ns) == (2534, 2529, 2778)
    assert stats.servo_states == ("s0",) and "5 measured offset lines from 7.3 s" in stats.text()
    # A zero path delay later in the run is a measurement, not the start.
    late = parse_ptp4l_log("ptp4l[1.0]: master offset 10 s0 freq +1 path delay 5\n"
                           "ptp4l[2.0]: master offset 20 s0 freq +1 path delay 0\n")
    assert len(measured(late)) == 2
    none = ptp_stats(parse_ptp4l_log(SLAVE_LOG.splitlines()[7]))
    assert none.measured == 0 and none.median_abs_offset_ns is None and "no measured offset line" in none.text()


def test_configs_keep_both_instances_off_the_clock():
    for role, extra in (("grandmaster", "priority1 1"), ("slave", "slaveOnly 1")):
        lines = ptp4l_config(role, f"/tmp/lab/{role}.sock").splitlines()
        assert lines[0] == "[global]" and "free_running 1" in lines and "kernel_leap 0" in lines
        assert f"uds_address /tmp/lab/{role}.sock" in lines and extra in lines
        # One offset line a second while free running: freq_est_interval 0, Sync every second.
        assert "freq_est_interval 0" in lines and "logSyncInterval 0" in lines and "summary_interval 0" in lines
    with pytest.raises(LabError):
        ptp4l_config("boundary", "/tmp/x.sock")
    with pytest.raises(LabError):
        ptp4l_config("slave", "/tmp/a b.sock")


def test_viz_figures_take_plain_numbers():
    from hftinfra.viz.timesync import ptp_histogram_figure, ptp_series_figure

    fig = ptp_series_figure([7.3, 8.3], [-223, 69], [2778, 2649])
    assert [t.name for t in fig.data] == ["master offset", "path delay"]
    assert list(fig.data[0].x) == [7.3, 8.3] and list(fig.data[1].y) == [2778, 2649]
    assert fig.layout.meta == {"hftinfra": "lab-ptp-series"}
    hist = ptp_histogram_figure([-223, 69, 280], [2778, 2649, 2529])
    assert [t.type for t in hist.data] == ["histogram", "histogram"] and list(hist.data[0].x) == [-223, 69, 280]
    assert ptp_histogram_figure([], []).data[0].x == ()
