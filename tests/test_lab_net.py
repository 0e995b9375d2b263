"""The networking lab (hftinfra.labs.net): run for real where the machine allows (root,
``ip netns``, tc, ethtool), else skipped with the reason; the pure parts (statistics,
verdicts, parsers) on given numbers everywhere.

The real runs use small counts; one module-scoped run serves the structure tests. The
autouse fixture deletes any namespace named with this process's pid that a failing test
left behind, and fails the test that left it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labtools import (
    interrupt_lab_cli,
    ip_binary,
    lab_namespaces,
    netns_list,
    processes_mentioning,
    remove_lab_namespaces,
)

from hftinfra import cli
from hftinfra.host import Reason, Unread
from hftinfra.labs import LabCapability, LabUnavailable, harness, lab_capability
from hftinfra.labs import net as netlab
from hftinfra.labs.net import (
    LatencySummary,
    NetLabResult,
    block_medians,
    busy_poll_verdict,
    ccdf,
    choose_rps_target,
    choose_xps_queues,
    compare,
    lab_view,
    napi_busy_poll_rx,
    napi_id_valid,
    parse_proc_net_pairs,
    parse_steal_ticks,
    percentile,
    rps_verdict,
    run_net_lab,
    sign_test,
    summarize,
    xps_verdict,
)

REPO = Path(__file__).resolve().parents[1]
SBIN = os.pathsep.join(("/usr/sbin", "/sbin", "/usr/bin", "/bin"))
BUSY_READ = "/proc/sys/net/core/busy_read"


_ip, _netns_list, _processes_mentioning = ip_binary, netns_list, processes_mentioning

def _ours(pid: int) -> set[str]:
    return lab_namespaces("net", pid)


def _remove_namespaces_of(pid: int) -> set[str]:
    return remove_lab_namespaces("net", pid)


def _can_run_lab() -> str | None:
    capability = lab_capability()
    if not capability:
        return f"no labs here: {capability.reason}"
    for tool in ("tc", "ethtool"):
        if shutil.which(tool, path=os.environ.get("PATH", "") + os.pathsep + SBIN) is None:
            return f"no labs here: {tool} is not installed"
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
    busy_read = Path(BUSY_READ).read_text()
    steps: list[str] = []
    started = time.monotonic()
    result = run_net_lab(count=1000, packets=10_000, xps_packets=500, on_step=steps.append)
    return {"result": result, "steps": steps, "busy_read": busy_read, "seconds": time.monotonic() - started}


# ---------------------------------------------------------------------------------------
# The real lab


@pytest.mark.root
def test_the_lab_cleans_up_everything_it_made(ran):
    result: NetLabResult = ran["result"]
    report = result.report
    assert report is not None and report.clean, report.to_text()
    kinds = [r.kind for r in report.created]
    assert kinds.count("netns") == 6 and kinds.count("veth") == 3 and kinds.count("tempdir") == 1
    # rps_cpus of B's 4 receive queues, xps_cpus of 2 (one per CPU, up to 4) of A's transmit queues.
    settings = [r.name for r in report.created if r.kind == "setting"]
    assert sum("/rps_cpus" in s for s in settings) == 4
    assert 1 <= sum("/xps_cpus" in s for s in settings) <= 4
    assert kinds.count("process") >= 6  # two receivers, four echo servers
    assert sorted(map(str, report.removed)) != [] and len(report.removed) == len(report.created)
    assert report.left == ()
    namespaces = {r.name for r in report.created if r.kind == "netns"}
    assert not namespaces & _netns_list()
    tmpdir = next(r.name for r in report.created if r.kind == "tempdir")
    assert not Path(tmpdir).exists()
    assert _processes_mentioning(tmpdir) == []
    # Busy polling was set per socket: the host's busy_read is as it was.
    assert Path(BUSY_READ).read_text() == ran["busy_read"]
    assert result.cleanup == report.summary() and "cleaned up" in result.cleanup
    assert any(s.startswith("RPS: ") for s in ran["steps"]) and ran["steps"][-1] == report.summary()
    assert ran["seconds"] < 30


@pytest.mark.root
def test_rps_moves_the_receive_work_and_the_verdict_is_computed(ran):
    rps = ran["result"].rps
    assert rps is not None and rps.queues == 4
    before = rps.phases[0]
    assert before.rps_cpus == "0" and before.packets_sent == 10_000
    # veth hands a packet to the receive path on the sending CPU: without RPS, NET_RX ran
    # there, about once per packet.
    assert rps.verdict.receive_cpu == rps.sender_cpu
    assert before.net_rx[rps.sender_cpu] >= before.packets_sent // 2
    assert before.delivered + before.dropped <= before.packets_sent
    again = rps_verdict(before.net_rx, rps.phases[-1].net_rx if len(rps.phases) > 1 else {},
                        target_cpu=rps.verdict.target_cpu, packets_before=before.packets_sent,
                        packets_after=rps.phases[-1].packets_sent, netdev_budget=rps.netdev_budget)
    assert again == rps.verdict
    if len(rps.cpus) < 2:
        assert rps.verdict.moved is None and len(rps.phases) == 1
        return
    after = rps.phases[1]
    target = rps.verdict.target_cpu
    assert target != rps.sender_cpu and target == choose_rps_target(before.net_rx, rps.cpus, rps.sender_cpu)
    assert after.rps_cpus == format(1 << target, "x")
    assert rps.verdict.moved is True, rps.verdict.text
    assert after.net_rx[target] > before.net_rx[target]
    assert "moved" in rps.to_text() and "NET_RX" in rps.to_text()


@pytest.mark.root
def test_xps_sends_each_cpus_packets_on_its_queue(ran):
    xps = ran["result"].xps
    assert xps is not None and "mq" in xps.observable
    assert len(set(xps.mapping.values())) == len(xps.mapping) == min(len(xps.cpus), xps.queues)
    without = {r.cpu: r.per_queue for r in xps.runs if r.phase == "without XPS"}
    with_xps = {r.cpu: r.per_queue for r in xps.runs if r.phase == "with XPS"}
    assert set(without) == set(xps.cpus) and set(with_xps) == set(xps.mapping)
    # Each CPU was mapped to a queue its sender did not use before.
    for cpu, queue in xps.mapping.items():
        assert max(without[cpu], key=without[cpu].get) != queue
        assert max(with_xps[cpu], key=with_xps[cpu].get) == queue
        assert xps.xps_cpus[queue] == format(1 << cpu, "x")
    assert xps_verdict(with_xps, xps.mapping) == xps.verdict
    assert xps.verdict.steered is True, xps.verdict.text


@pytest.mark.root
def test_ping_pong_structure_and_busy_poll_evidence(ran):
    pp = ran["result"].ping_pong
    assert pp is not None
    assert [a.name for a in pp.arms] == ["default", "busy poll, no NAPI", "NAPI", "NAPI + busy poll"]
    assert [(a.napi, a.busy_poll_us) for a in pp.arms] == [(False, 0), (False, 50), (True, 0), (True, 50)]
    for arm in pp.arms:
        s = arm.summary
        assert s.count == len(arm.rtt_ns) == 1000 and all(x > 0 for x in arm.rtt_ns)
        assert s.min_ns <= s.p50_ns <= s.p90_ns <= s.p99_ns <= s.p999_ns <= s.max_ns
        assert s == summarize(arm.rtt_ns) and len(arm.block_p50_ns) == 20
    # veth without GRO or XDP has no NAPI: the sockets report no NAPI id.
    for arm in pp.arms[:2]:
        assert napi_id_valid(arm.client_napi_id, pp.nr_cpus) is False
        assert napi_id_valid(arm.server_napi_id, pp.nr_cpus) is False
    assert "gro on" in " ".join(pp.features.values()) and "tso off" in " ".join(pp.features.values())
    for c, (i, j) in zip(pp.comparisons, ((0, 1), (2, 3)), strict=True):
        a, b = pp.arms[i], pp.arms[j]
        assert c == compare(a.name, a.summary, a.block_p50_ns, b.name, b.summary, b.block_p50_ns)
    rx = pp.busy_poll_rx_packets
    assert set(rx) == {"defaults: A (client)", "defaults: B (server)", "NAPI: A (client)", "NAPI: B (server)"}
    if not any(isinstance(v, Unread) for v in rx.values()):
        # Without NAPI there is nothing to busy-poll: the counter cannot rise.
        assert rx["defaults: A (client)"] == rx["defaults: B (server)"] == 0
        assert napi_busy_poll_rx(rx) == rx["NAPI: A (client)"] + rx["NAPI: B (server)"]
    assert (pp.honoured, pp.honoured_text) == busy_poll_verdict(
        [pp.arms[1].client_napi_id, pp.arms[1].server_napi_id],
        [pp.arms[3].client_napi_id, pp.arms[3].server_napi_id], napi_busy_poll_rx(rx), pp.nr_cpus)
    assert pp.busy_read == Path(BUSY_READ).read_text().strip()
    text = pp.to_text()
    assert "busy polling honoured" in text and "p99.9 us" in text and "sign test" in text


@pytest.mark.root
def test_results_render_and_serialise(ran):
    result = ran["result"]
    doc = result.to_json()
    assert doc["schema"] == "hftinfra.lab.net" and doc["parts"] == ["rps", "xps", "ping-pong"]
    assert all("rtt_ns" not in arm for arm in doc["ping_pong"]["arms"])
    assert len(result.to_json(samples=True)["ping_pong"]["arms"][0]["rtt_ns"]) == 1000
    json.dumps(doc)
    html = result._repr_html_()
    assert html.count("application/vnd.hftinfra.plotly+json") == 2  # the NET_RX bars and the CCDF
    assert "UDP round trips" in html and "XPS" in html
    fig = result.ping_pong.figure()
    assert len(fig.data) == 4 and fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert str(result).startswith("lab net on kernel ")


@pytest.mark.root
def test_lab_view_runs_a_page_part():
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    view = lab_view("rps-xps")
    assert isinstance(view, NetLabResult)
    assert view.rps is not None and view.xps is not None and view.ping_pong is None
    assert view.report.clean and "<table>" in view._repr_html_()


@pytest.mark.root
def test_cli_lab_net_writes_json(tmp_path):
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    out = tmp_path / "lab.json"
    res = subprocess.run([sys.executable, "-m", "hftinfra", "lab", "net", "--part", "xps", "--json", "-o", str(out)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert doc["parts"] == ["xps"] and doc["rps"] is None and doc["xps"]["verdict"]["steered"] is True
    assert "cleaned up" in doc["cleanup"] and res.stdout == ""
    assert "XPS: " in res.stderr  # progress went to stderr
    text = subprocess.run([sys.executable, "-m", "hftinfra", "lab", "net", "--part", "rps", "-q"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert text.returncode == 0 and text.stderr == "", text.stderr
    assert text.stdout.startswith("lab net on kernel ") and "verdict: " in text.stdout


@pytest.mark.root
def test_ctrl_c_stops_the_lab_and_cleans_up():
    why = _can_run_lab()
    if why:
        pytest.skip(why)
    run = interrupt_lab_cli(["lab", "net", "--part", "ping-pong", "--count", "1000000"],
                            "round trips without and with busy polling", wait_s=60, settle_s=0.3, timeout_s=60)
    try:
        assert run.seen and "round trips" in run.seen[-1], "".join(run.seen)
        assert run.returncode == 130, run.err
        assert "cleaned up" in run.err and run.err.rstrip().endswith("hftinfra lab: interrupted")
        assert not _ours(run.pid)
        assert _processes_mentioning(f"hft-net-{run.pid}-", settle_s=3) == []
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
    res = subprocess.run([*cmd, "-m", "hftinfra", "lab", "net"], capture_output=True, text=True, timeout=60,
                         env=env, cwd="/")
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("hftinfra lab: error: lab net needs root")
    assert "uid 65534" in res.stderr


@pytest.mark.parametrize("euid, find_ip, words", [(1000, "/usr/sbin/ip", ("root", "uid 1000")),
                                                  (0, None, ("iproute2",))], ids=["not-root", "no-ip"])
def test_cli_without_the_means_one_line(monkeypatch, capsys, euid, find_ip, words):
    monkeypatch.setattr(harness, "_capability", None)
    monkeypatch.setattr(harness.os, "geteuid", lambda: euid)
    monkeypatch.setattr(harness, "_find_ip", lambda: find_ip)
    assert cli.main(["lab", "net", "--part", "rps"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("hftinfra lab: error: lab net ")
    assert all(w in err for w in words), err


def test_a_missing_tool_is_refused_before_anything_is_made(monkeypatch):
    monkeypatch.setattr(netlab, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness.shutil, "which", lambda tool, path=None: None if tool == "ethtool" else "/x")
    with pytest.raises(LabUnavailable, match="ethtool") as caught:
        run_net_lab(("ping-pong",))
    assert "\n" not in str(caught.value)


def test_lab_view_gives_one_line_when_the_lab_cannot_run(monkeypatch):
    from hftinfra.page import Note

    monkeypatch.setattr(netlab, "lab_capability",
                        lambda: LabCapability(False, "needs root to create network namespaces (running as uid 1000)"))
    monkeypatch.setattr(harness, "lab_capability",
                        lambda: LabCapability(False, "needs root to create network namespaces (running as uid 1000)"))
    for part in ("rps-xps", "ping-pong"):
        view = lab_view(part, count=10)
        assert isinstance(view, Note) and "\n" not in str(view)
        assert str(view) == "skipped: lab net needs root to create network namespaces (running as uid 1000)"
        assert "hftinfra-note" in view._repr_html_()
    # A missing tool is unavailability too.
    monkeypatch.setattr(netlab, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness, "lab_capability", lambda: LabCapability(True, "", "/usr/sbin/ip"))
    monkeypatch.setattr(harness.shutil, "which", lambda tool, path=None: None)
    view = lab_view("rps-xps")
    assert isinstance(view, Note) and "'tc'" in str(view)
    with pytest.raises(ValueError, match="rps-xps"):
        lab_view("everything")


def test_bad_requests_are_refused():
    with pytest.raises(harness.LabError, match="unknown lab net part"):
        run_net_lab(("rps", "dns"))
    with pytest.raises(harness.LabError, match="queues"):
        run_net_lab(("rps",), queues=0)


# ---------------------------------------------------------------------------------------
# The pure parts


def test_percentiles_use_the_nearest_rank():
    xs = list(range(1, 1001))  # 1..1000
    assert [percentile(xs, q) for q in (0, 50, 90, 99, 99.9, 100)] == [1, 500, 900, 990, 999, 1000]
    assert percentile([7], 99.9) == 7
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)
    s = summarize([5, 1, 3, 2, 4])
    assert s == LatencySummary(5, 1, 3, 5, 5, 5, 5, 3.0)
    assert s.row_us() == ["0.0", "0.0", "0.0", "0.0", "0.0"]


def test_ccdf_runs_from_one_to_one_over_n_and_keeps_the_tail():
    xs, ys = ccdf(range(100_000, 0, -1), max_points=200)
    assert xs[0] == 1 and xs[-1] == 100_000
    assert ys[0] == 1.0 and ys[-1] == pytest.approx(1e-5)
    assert list(xs) == sorted(xs) and list(ys) == sorted(ys, reverse=True)
    assert len(xs) <= 202
    # The ten largest samples are all there: the tail is what a latency page reads.
    assert set(range(99_991, 100_001)) <= set(xs)
    # Each point says how many samples were at least x.
    for x, y in zip(xs, ys, strict=True):
        assert y == pytest.approx((100_000 - x + 1) / 100_000)
    assert ccdf([]) == ((), ())
    assert ccdf([4, 4, 4]) == ((4, 4, 4), (1.0, 2 / 3, 1 / 3))


def test_block_medians():
    assert block_medians([1, 2, 3, 10, 20, 30], 3) == (2, 20)
    assert block_medians([1, 2, 3, 10, 20, 30, 99], 3) == (2, 20)
    assert block_medians([5, 1, 9, 2], [3, 1]) == (5, 2)
    with pytest.raises(ValueError):
        block_medians([1, 2, 3], [2, 2])


def test_sign_test_is_the_exact_binomial():
    assert sign_test([-1] * 20) == (20, 0, pytest.approx(2 / 2 ** 20))
    below, above, p = sign_test([-1] * 9 + [1])
    assert (below, above) == (9, 1) and p == pytest.approx(2 * 11 / 1024)
    assert sign_test([0, 0]) == (0, 0, 1.0)
    assert sign_test([-1, 1] * 5)[2] == 1.0
    assert sign_test(iter([-3, -2, 0, 5])) == (2, 1, 1.0)


def _summary(p50: int, p99: int) -> LatencySummary:
    return LatencySummary(100, p50 // 2, p50, p50, p99, p99, p99, float(p50))


def test_compare_says_within_or_beyond_noise():
    base = [60_000 + (i % 3) * 1000 for i in range(20)]
    faster = [b - 50_000 for b in base]
    c = compare("NAPI", _summary(60_000, 200_000), base, "NAPI + busy poll", _summary(5_000, 10_000), faster)
    assert c.beyond_noise and c.faster_blocks == 20 and c.blocks == 20 and c.p50_delta_ns == -55_000
    assert c.text.startswith("NAPI + busy poll vs NAPI: p50 -55.0 us") and "beyond noise" in c.text
    mixed = [b + (500 if i % 2 else -500) for i, b in enumerate(base)]
    c = compare("default", _summary(60_000, 90_000), base, "busy poll", _summary(60_100, 91_000), mixed)
    assert not c.beyond_noise and c.faster_blocks == 10 and "within noise" in c.text
    # A large difference in a few blocks is still within noise: five pairs cannot reach p < 0.05.
    c = compare("a", _summary(1, 1), [10] * 5, "b", _summary(1, 1), [1] * 5)
    assert c.faster_blocks == 5 and c.p_value == pytest.approx(0.0625) and not c.beyond_noise


def test_rps_verdict_on_given_numbers():
    moved = rps_verdict({0: 20_000, 1: 2}, {0: 1_600, 1: 1_601}, target_cpu=1,
                        packets_before=20_000, packets_after=20_000)
    assert moved.moved is True and moved.receive_cpu == 0 and moved.after == 1_601
    assert moved.threshold_per_1k == pytest.approx(500 / 300)
    assert moved.text.startswith("moved: NET_RX on CPU 1 went from 2 (0.1 per 1000 packets)")
    stayed = rps_verdict({0: 20_000, 1: 2}, {0: 20_000, 1: 5}, target_cpu=1,
                         packets_before=20_000, packets_after=20_000)
    assert stayed.moved is False and stayed.text.startswith("did not move")
    # The threshold follows netdev_budget: a CPU handling every packet runs NET_RX at least
    # once per budget's worth.
    edge = {0: 20_000, 1: 40}
    assert rps_verdict({0: 20_000, 1: 0}, edge, target_cpu=1, packets_before=20_000,
                       packets_after=20_000, netdev_budget=300).moved is True
    assert rps_verdict({0: 20_000, 1: 0}, edge, target_cpu=1, packets_before=20_000,
                       packets_after=20_000, netdev_budget=100).moved is False
    one = rps_verdict({0: 20_000}, {}, target_cpu=None, packets_before=20_000, packets_after=20_000)
    assert one.moved is None and "second CPU" in one.text
    assert choose_rps_target({0: 20_000, 1: 3, 2: 1}, [0, 1, 2], 0) == 2
    assert choose_rps_target({0: 5, 1: 5}, [0, 1], 0) == 1
    # Receive work on a CPU other than the sender's: steer away from it, to the sender's.
    assert choose_rps_target({0: 0, 1: 900}, [0, 1], 0) == 0
    assert choose_rps_target({0: 0, 1: 900, 2: 4, 3: 2}, [0, 1, 2, 3], 0) == 3
    assert choose_rps_target({0: 5}, [0], 0) is None


def test_xps_choices_and_verdict_on_given_numbers():
    assert choose_xps_queues([0, 1], {0: {3: 1000}, 1: {2: 1000}}, 4) == {0: 2, 1: 3}
    assert choose_xps_queues([0, 1, 2], {}, 2) == {0: 1, 1: 0}  # more CPUs than queues
    assert choose_xps_queues([5], {5: {0: 10}}, 1) == {5: 0}  # one queue: nothing else to pick
    ok = xps_verdict({0: {2: 1001}, 1: {3: 990, 0: 11}}, {0: 2, 1: 3})
    assert ok.steered is True and ok.shares[1] == pytest.approx(990 / 1001)
    bad = xps_verdict({0: {2: 1001}, 1: {0: 1001}}, {0: 2, 1: 3})
    assert bad.steered is False and bad.shares[1] == 0.0 and bad.text.startswith("did not follow")
    partial = xps_verdict({0: {2: 1001}}, {0: 2, 1: 3})
    assert partial.steered is False
    none = xps_verdict({0: {}}, {0: 2})
    assert none.steered is None and "not judged" in none.text


def test_napi_ids_and_the_busy_poll_verdict():
    assert napi_id_valid(0, 64) is False and napi_id_valid(64, 64) is False
    assert napi_id_valid(65, 64) is True and napi_id_valid(300, None) is None
    yes = busy_poll_verdict([0, 0], [316, 320], 10_351, 64)
    assert yes[0] is True and "10351 packets" in yes[1] and "no NAPI id" in yes[1]
    spun = busy_poll_verdict([0, 0], [316, 320], 0, 64)
    assert spun[0] is False and "did not rise" in spun[1]
    no_napi = busy_poll_verdict([0, 0], [0, 0], 0, 64)
    assert no_napi[0] is False and "did not use NAPI" in no_napi[1]
    unread = busy_poll_verdict([0, 0], [316, 320], Unread(Reason.MISSING, "/proc/net/netstat"), 64)
    assert unread[0] is None and "unknown" in unread[1]
    missing = Unread(Reason.MISSING, "/proc/net/netstat")
    assert napi_busy_poll_rx({"defaults: A (client)": 0, "NAPI: A (client)": 3, "NAPI: B (server)": 4}) == 7
    assert napi_busy_poll_rx({"NAPI: A (client)": 3, "NAPI: B (server)": missing}) is missing
    assert isinstance(napi_busy_poll_rx({"defaults: A (client)": 0}), Unread)


def test_proc_net_pairs_and_steal_parsers():
    snmp = ("Ip: Forwarding DefaultTTL\nIp: 2 64\n"
            "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n"
            "Udp: 80004 0 0 0 0 0 0 0 0\n")
    parsed = parse_proc_net_pairs(snmp)
    assert parsed["Udp"]["InDatagrams"] == 80_004 and parsed["Ip"] == {"Forwarding": 2, "DefaultTTL": 64}
    assert parse_proc_net_pairs("TcpExt: A BusyPollRxPackets\nTcpExt: 1 10351\n")["TcpExt"]["BusyPollRxPackets"] == 10_351
    with pytest.raises(ValueError):
        parse_proc_net_pairs("Udp: A B\nIp: 1 2\n")
    with pytest.raises(ValueError):
        parse_proc_net_pairs("Udp: A B\nUdp: 1\n")
    stat = ("cpu  22894 699 14599 1484189 4065 0 2824 32 0 0\n"
            "cpu0 8157 352 5662 748340 686 0 1093 16 0 0\ncpu1 14736 347 8936 735848 3379 0 1731 17 0 0\n"
            "intr 123 0\n")
    assert parse_steal_ticks(stat) == {0: 16, 1: 17}


def test_the_live_proc_files_parse():
    with open("/proc/stat", encoding="ascii") as fh:
        steal = parse_steal_ticks(fh.read())
    assert set(steal) >= set(os.sched_getaffinity(0))
    if Path("/proc/net/snmp").exists():
        assert "InDatagrams" in parse_proc_net_pairs(Path("/proc/net/snmp").read_text())["Udp"]


def test_viz_figures_take_plain_numbers():
    from hftinfra.viz.lab import net_rx_figure, rtt_ccdf_figure

    fig = rtt_ccdf_figure([("default", *ccdf([60_000, 70_000, 80_000])), ("busy", *ccdf([4_000, 5_000]))])
    assert [t.name for t in fig.data] == ["default", "busy"] and fig.data[0].x == (60.0, 70.0, 80.0)
    bars = net_rx_figure([("without RPS", {0: 20_000, 1: 0}, 20_000), ("with RPS", {0: 1600, 1: 1601}, 20_000)], 1)
    assert [t.name for t in bars.data] == ["without RPS", "with RPS"]
    assert list(bars.data[1].y) == [80.0, 80.05] and bars.data[0].x[1] == "CPU 1 (RPS target)"
