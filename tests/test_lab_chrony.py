"""The chrony lab (hftinfra.labs.chrony): run for real where the machine allows (root,
``ip netns``, chronyd and chronyc), else skipped with the reason; the pure parts on literal
chronyc lines everywhere.

adjtimex(2) is read (modes 0, through hftinfra.timesync's reader) before and after every
run: its frequency and status must not change, whatever the lab measured. The autouse
fixture deletes any namespace of this process's pid that a failing test left behind, and
fails the test that left it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
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
from hftinfra.host import Reason, Unread
from hftinfra.labs import LabCapability, LabError, LabUnavailable, harness, lab_capability
from hftinfra.labs import chrony as chronylab
from hftinfra.labs import ptp as ptplab
from hftinfra.labs.chrony import (
    ChronyLabResult,
    ChronySample,
    chrony_stats,
    chronyd_user,
    client_config,
    convergence_s,
    lab_view,
    run_chrony_lab,
    server_config,
)
from hftinfra.timesync import parse_chronyc_sources, parse_chronyc_tracking

DURATION_S = 6.0  # the client synchronises within a second or two here


_ip, _netns_list, _processes_mentioning = ip_binary, netns_list, processes_mentioning
_clock = kernel_clock


def _ours(pid: int) -> set[str]:
    return lab_namespaces("chrony", pid)


def _remove_namespaces_of(pid: int) -> set[str]:
    return remove_lab_namespaces("chrony", pid)


def _can_run_lab() -> str | None:
    capability = lab_capability()
    if not capability:
        return f"no labs here: {capability.reason}"
    for tool in ("chronyd", "chronyc"):
        if ptplab.find_tool(tool) is None:
            return f"no chrony lab here: {tool} is not installed (Debian package chrony)"
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
    seen: dict[str, os.stat_result] = {}

    def on_step(text: str) -> None:
        # While the daemons run, look at the folders the lab made for them.
        steps.append(text)
        if text.startswith("chrony: sampling"):
            tmpdir = Path(steps[0].split("temp dir ", 1)[1])
            seen["tmpdir"] = tmpdir.stat()
            for sub in ("server", "server-sock", "client", "client-sock"):
                seen[sub] = (tmpdir / sub).stat()
            for role in ("server", "client"):
                seen[f"{role}.sock"] = (tmpdir / f"{role}-sock" / "chronyd.sock").stat()
                seen[f"{role}.pid"] = (tmpdir / role / "chronyd.pid").stat()

    before = _clock()
    started = time.monotonic()
    result = run_chrony_lab(DURATION_S, on_step=on_step)
    seconds = time.monotonic() - started
    after = _clock()
    return {"result": result, "steps": steps, "seen": seen, "before": before, "after": after, "seconds": seconds}


# ---------------------------------------------------------------------------------------
# The real lab


@pytest.mark.root
def test_the_system_clock_is_untouched(ran):
    assert ran["after"] == ran["before"], f"adjtimex (freq, status) went from {ran['before']} to {ran['after']}"
    clock = ran["result"].clock
    assert clock.untouched is True and clock.text.startswith("untouched")
    assert (clock.before.timex.freq, clock.before.timex.status) == ran["before"]
    for inst in (ran["result"].server, ran["result"].client):
        assert inst.argv[1:3] == ("-x", "-d")
        assert any("Disabled control of system clock" in line for line in inst.log), inst.log


@pytest.mark.root
def test_the_lab_cleans_up_everything_it_made(ran):
    result: ChronyLabResult = ran["result"]
    report = result.report
    assert report is not None and report.clean, report.to_text()
    kinds = [r.kind for r in report.created]
    assert kinds.count("netns") == 2 and kinds.count("veth") == 1 and kinds.count("process") == 2
    assert len(report.removed) == len(report.created)
    assert not {r.name for r in report.created if r.kind == "netns"} & _netns_list()
    tmpdir = next(r.name for r in report.created if r.kind == "tempdir")
    assert not Path(tmpdir).exists() and _processes_mentioning(tmpdir) == []
    assert ran["steps"][-1] == report.summary()
    assert DURATION_S <= result.run_s < DURATION_S + 10
    assert result.elapsed_s <= ran["seconds"] < DURATION_S + 20


@pytest.mark.root
def test_each_instance_has_its_own_files_owned_by_chronyds_user(ran):
    seen, result = ran["seen"], ran["result"]
    user, uid, gid = chronyd_user()
    assert result.server.user == result.client.user == user
    assert stat.S_IMODE(seen["tmpdir"].st_mode) == 0o711
    for sub in ("server", "server-sock", "client", "client-sock"):
        st = seen[sub]
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, 0o750), sub
    for role in ("server", "client"):
        assert stat.S_ISSOCK(seen[f"{role}.sock"].st_mode) and stat.S_ISREG(seen[f"{role}.pid"].st_mode)
    assert result.server.socket != result.client.socket
    for key in ("pidfile", "driftfile", "bindcmdaddress"):
        lines = [{ln.split()[0]: ln.split()[1] for ln in i.config.splitlines()}[key]
                 for i in (result.server, result.client)]
        assert lines[0] != lines[1], key


@pytest.mark.root
def test_the_client_synchronises_to_the_server(ran):
    result = ran["result"]
    server = result.server.address
    samples = result.samples
    assert len(samples) == int(DURATION_S) + 1
    times = [s.time_s for s in samples]
    assert times == sorted(times) and times[0] < 1 and all(b > a for a, b in zip(times, times[1:], strict=False))
    assert result.stats == chrony_stats(samples, server)
    converged = result.stats.converged_s
    assert converged is not None and converged <= DURATION_S - 1, result.to_text()
    assert converged == convergence_s(samples, server)
    last = samples[-1]
    assert last.synced_to(server)
    t = last.tracking
    # chronyc(1): an IPv4 server's reference ID is its address.
    assert t.reference_id == f"{int(ipaddress.IPv4Address(server)):08X}" and t.reference_name == server
    assert t.stratum == 2 and t.leap_status == "Normal"
    assert last.selected().name == server and last.selected().stratum == 1
    # The same kernel clock on both ends: microseconds, not milliseconds (orders of magnitude).
    assert abs(t.system_time_offset_s) < 0.01 and abs(t.frequency_ppm) < 500
    st = result.server_tracking
    assert st.stratum == 1 and st.reference_id == "7F7F0101" and st.reference_name == ""  # local reference
    series = result.series()
    assert series["reference"][-1] == server and series["stratum"][-1] == 2 and series["leap_status"][-1] == "Normal"
    assert len(series["offset_ns"]) == len(samples)
    assert any(step.startswith("client at ") and "(synchronised)" in step for step in ran["steps"])


@pytest.mark.root
def test_results_render_and_serialise(ran):
    result = ran["result"]
    doc = result.to_json()
    assert doc["schema"] == "hftinfra.lab.chrony" and doc["clock"]["untouched"] is True and "report" not in doc
    assert len(doc["samples"]) == len(result.samples) == len(doc["series"]["time_s"])
    json.dumps(doc)
    html = result._repr_html_()
    assert html.count("application/vnd.hftinfra.plotly+json") == 1 and "local stratum 1" in html
    assert str(result).startswith("lab chrony on kernel ") and "system clock: untouched" in str(result)
    fig = result.figure()
    assert len(fig.data) == 2
    # Unsynchronised samples are gaps, not zeros.
    synced = [s.synced_to(result.server.address) for s in result.samples]
    assert [y is None for y in fig.data[0].y] == [not ok for ok in synced]


@pytest.mark.root
def test_cli_lab_chrony_writes_json(tmp_path):
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    out = tmp_path / "chrony.json"
    before = _clock()
    res = subprocess.run([sys.executable, "-m", "hftinfra", "lab", "chrony", "--duration", "2", "--json",
                          "-o", str(out)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert _clock() == before
    assert res.returncode == 0, res.stderr
    assert res.stdout == "" and "wrote " in res.stderr and "client at " in res.stderr
    doc = json.loads(out.read_text())
    assert doc["schema"] == "hftinfra.lab.chrony" and doc["duration_s"] == 2.0 and len(doc["samples"]) == 3
    assert "cleaned up" in doc["cleanup"]


@pytest.mark.root
def test_ctrl_c_stops_the_lab_and_cleans_up():
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    run = interrupt_lab_cli(["lab", "chrony", "--duration", "600"], "client at ", settle_s=0)
    try:
        assert run.seen and "client at " in run.seen[-1], "".join(run.seen)
        assert run.returncode == 130, run.err
        assert "cleaned up" in run.err and run.err.rstrip().endswith("hftinfra lab: interrupted")
        assert not _ours(run.pid) and _processes_mentioning(f"hft-chrony-{run.pid}-", settle_s=3) == []
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
    res = subprocess.run([*cmd, "-m", "hftinfra", "lab", "chrony", "--duration", "1"], capture_output=True,
                         text=True, timeout=60, env=env, cwd="/")
    assert res.returncode == 2, res.stderr
    assert res.stdout == "" and res.stderr.count("\n") == 1
    assert res.stderr.startswith("hftinfra lab: error: lab chrony needs root") and "uid 65534" in res.stderr


def test_cli_without_the_tools_one_line(monkeypatch, capsys):
    monkeypatch.setattr(chronylab, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness, "find_tool", lambda name: None if name == "chronyc" else "/usr/sbin/" + name)
    assert cli.main(["lab", "chrony", "--duration", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == ("hftinfra lab: error: lab chrony needs 'chronyc' (Debian package chrony), "
                                 "which is not installed\n")
    monkeypatch.setattr(harness, "find_tool", lambda name: None)
    with pytest.raises(LabUnavailable, match=r"^lab chrony needs 'chronyd' and 'chronyc' \(Debian package chrony\)"):
        run_chrony_lab(1)


def test_lab_view_gives_one_line_when_the_lab_cannot_run(monkeypatch):
    from hftinfra.page import Note

    monkeypatch.setattr(chronylab, "lab_capability",
                        lambda: LabCapability(False, "needs root to create network namespaces (running as uid 1000)"))
    monkeypatch.setattr(harness, "lab_capability",
                        lambda: LabCapability(False, "needs root to create network namespaces (running as uid 1000)"))
    view = lab_view()
    assert isinstance(view, Note) and "\n" not in str(view)
    assert str(view) == "skipped: lab chrony needs root to create network namespaces (running as uid 1000)"
    monkeypatch.setattr(chronylab, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness, "find_tool", lambda name: None)
    view = lab_view(duration_s=1)
    assert isinstance(view, Note) and str(view).startswith("skipped: lab chrony needs 'chronyd'")


def test_bad_requests_are_refused():
    for bad in (0, -1, 3601):
        with pytest.raises(LabError, match="duration"):
            run_chrony_lab(bad)
    with pytest.raises(LabError, match="interval"):
        run_chrony_lab(5, interval_s=0.01)
    with pytest.raises(LabError, match="poll"):
        client_config("198.18.0.1", {"socket": "/s", "pidfile": "/p", "driftfile": "/d"}, poll_log2=-8)


# ---------------------------------------------------------------------------------------
# The pure parts, on real chronyc -c lines (chronyc 4.3, this lab's client)

UNSYNCED = "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised"
SYNCED = ("C6120001,198.18.0.1,2,1796220838.011606166,-0.000003454,0.000000323,0.000000420,-0.091,0.031,7.565,"
          "0.000013240,0.000009225,0.3,Normal")
SYNCED_LATER = ("C6120001,198.18.0.1,2,1796220844.343080617,-0.000001639,-0.000000073,0.000000331,-0.038,-0.003,"
                "0.138,0.000009464,0.000000986,0.5,Normal")
SELECTED = "^,*,198.18.0.1,1,-2,377,0,0.000001236,0.000001163,0.000005558"
# A source that has not answered yet (its client could not reach it): unusable, never received.
NOT_YET = "^,?,198.18.0.1,0,0,0,4294967295,0.000000000,0.000000000,0.000000000"


def _sample(t: float, tracking: str, sources: str) -> ChronySample:
    return ChronySample(t, parse_chronyc_tracking(tracking), parse_chronyc_sources(sources))


def test_convergence_needs_the_reference_the_leap_status_and_the_selection():
    server = "198.18.0.1"
    samples = [_sample(0.05, UNSYNCED, NOT_YET),
               # Tracking already names the server but sources has not selected it yet.
               _sample(1.0, SYNCED, NOT_YET),
               ChronySample(2.0, Unread(Reason.MISSING, "chronyc -c tracking", "no answer"), ()),
               _sample(3.0, SYNCED, SELECTED),
               _sample(4.0, SYNCED_LATER, SELECTED)]
    assert [s.synced_to(server) for s in samples] == [False, False, False, True, True]
    assert convergence_s(samples, server) == 3.0
    assert convergence_s(samples, "198.18.0.5") is None
    stats = chrony_stats(samples, server)
    assert (stats.samples, stats.unread, stats.converged_s, stats.synced_samples) == (5, 1, 3.0, 2)
    # |offsets| 1639 and 3454 ns: nearest-rank median is the lower one.
    assert stats.median_abs_offset_ns == pytest.approx(1639) and stats.max_abs_offset_ns == pytest.approx(3454)
    assert stats.median_frequency_ppm == pytest.approx(-0.091)
    assert (stats.final_stratum, stats.final_reference, stats.final_leap_status) == (2, server, "Normal")
    assert "by 3.0 s" in stats.text()
    assert samples[2].offset_ns is None and samples[2].selected() is None
    never = chrony_stats(samples[:1], server)
    assert never.converged_s is None and never.median_abs_offset_ns is None and "not synchronised" in never.text()


def test_configs_give_each_instance_its_own_files():
    srv = {"socket": "/t/server-sock/chronyd.sock", "pidfile": "/t/server/chronyd.pid", "driftfile": "/t/server/drift"}
    cli_paths = {"socket": "/t/client-sock/chronyd.sock", "pidfile": "/t/client/chronyd.pid",
                 "driftfile": "/t/client/drift"}
    s = server_config("198.18.0.1", "198.18.0.0/30", srv).splitlines()
    c = client_config("198.18.0.1", cli_paths).splitlines()
    assert "local stratum 1" in s and "allow 198.18.0.0/30" in s and "bindaddress 198.18.0.1" in s
    assert c[0] == "server 198.18.0.1 iburst minpoll -2 maxpoll -2" and "port 0" in c
    for conf, paths in ((s, srv), (c, cli_paths)):
        assert "cmdport 0" in conf and f"bindcmdaddress {paths['socket']}" in conf
        assert f"pidfile {paths['pidfile']}" in conf and f"driftfile {paths['driftfile']}" in conf
    with pytest.raises(LabError, match="socket"):
        server_config("198.18.0.1", "198.18.0.0/30", {**srv, "socket": ""})


def test_viz_figure_takes_plain_numbers():
    from hftinfra.viz.timesync import chrony_tracking_figure

    fig = chrony_tracking_figure([0.05, 1.0, 2.0], [None, -3454.0, -1639.0], [None, -0.091, -0.038], synced_at_s=1.0)
    assert [t.name for t in fig.data] == ["offset", "frequency"]
    assert list(fig.data[0].y) == [None, -3454.0, -1639.0] and fig.layout.meta == {"hftinfra": "lab-chrony-tracking"}
    assert any("synchronised at 1.0 s" in a.text for a in fig.layout.annotations)
    assert len(chrony_tracking_figure([0.0], [None]).data) == 1
