"""The lab harness, for real where the machine allows (root, `ip netns`), else skipped.

Every namespace these tests make carries a pid in its name (this process's or a child's);
the autouse fixture and the child tests delete any that survive a failing test, so a red
run leaves nothing behind either.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hftinfra.labs import (
    BENCHMARK_NET,
    Lab,
    LabCapability,
    LabCleanupError,
    LabError,
    LabUnavailable,
    harness,
    lab_capability,
)

CHILD_TIMEOUT_S = 60

# A UDP echo: the server answers one datagram, the client checks the answer. Reachability
# without ping (not every machine has iputils), and a test of lab.start's log.
ECHO_SERVER = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], 9000))
    print("listening", flush=True)
    data, peer = s.recvfrom(100)
    s.sendto(data.upper(), peer)
    print("echoed", data.decode(), flush=True)
""")
ECHO_CLIENT = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(b"hello", (sys.argv[1], 9000))
    print(s.recvfrom(100)[0].decode())
""")


def _ip() -> str:
    return lab_capability().ip or shutil.which("ip") or "/usr/sbin/ip"


def _netns_list() -> set[str]:
    res = subprocess.run([_ip(), "netns", "list"], capture_output=True, text=True, timeout=20)
    return {line.split()[0] for line in res.stdout.splitlines() if line.strip()}


def _host_links() -> set[str]:
    res = subprocess.run([_ip(), "-o", "link", "show"], capture_output=True, text=True, timeout=20)
    return {line.split(":")[1].strip().split("@")[0] for line in res.stdout.splitlines() if ":" in line}


def _ours(pid: int) -> set[str]:
    return {ns for ns in _netns_list() if ns.startswith("hft-") and f"-{pid}-" in ns}


def _remove_namespaces_of(pid: int) -> set[str]:
    """Last resort after a failed test: the namespaces and temp dirs named with this pid, and
    what runs in the namespaces. Returns what it found."""
    found = _ours(pid)
    for folder in Path(tempfile.gettempdir()).glob(f"hft-*-{pid}-*"):
        shutil.rmtree(folder, ignore_errors=True)
        found.add(str(folder))
    for ns in found:
        res = subprocess.run([_ip(), "netns", "pids", ns], capture_output=True, text=True, timeout=20)
        for p in res.stdout.split():
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run([_ip(), "netns", "delete", ns], capture_output=True, timeout=20)
    return found


def _pid_gone(pid: int, argv0: str) -> bool:
    """Gone, or the pid was reused by a process that is not ours."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return True
    return argv0.encode() not in cmdline


@pytest.fixture
def lab_ok():
    capability = lab_capability()
    if not capability:
        pytest.skip(f"no labs here: {capability.reason}")
    return capability


@pytest.fixture(autouse=True)
def nothing_left_behind(request):
    yield
    if os.geteuid() != 0 or not lab_capability():
        return
    leftovers = _remove_namespaces_of(os.getpid())
    assert not leftovers, f"test left namespaces or temp dirs behind (now removed): {sorted(leftovers)}"


def _assert_clean(lab: Lab) -> None:
    report = lab.cleanup_report()
    assert report.clean, report.to_text()
    assert report.left == () and report.errors == ()
    assert not set(lab.namespaces) & _netns_list()
    assert lab.tmpdir is not None and not lab.tmpdir.exists()
    for proc in lab.processes:
        assert proc.returncode is not None
        assert _pid_gone(proc.pid, proc.argv[0])


# ---------------------------------------------------------------------------------------
# Real labs


@pytest.mark.root
def test_two_namespaces_and_a_four_queue_veth(lab_ok):
    links_before = _host_links()
    steps: list[str] = []
    with Lab("t", on_step=steps.append) as lab:
        a, b = lab.netns("a"), lab.netns("b")
        assert len(a) <= 32 and a.startswith(f"hft-t-{os.getpid()}-") and a.endswith("-a")
        pair = lab.veth(a, b, queues=4)
        assert {a, b} <= _netns_list()
        # Both ends were made inside the namespaces: the host never saw an interface.
        assert _host_links() == links_before
        for end in (pair.a, pair.b):
            assert len(end.ifname) <= harness.IFNAME_MAX
            assert end.address is not None and end.address.network.subnet_of(BENCHMARK_NET)
            assert end.address.network.prefixlen == 30
            listing = lab.run(end.netns, ["ls", "/sys/class/net"], check=True).stdout.split()
            assert sorted(listing) == sorted(["lo", end.ifname])
            queues = lab.run(end.netns, ["ls", f"/sys/class/net/{end.ifname}/queues"], check=True).stdout.split()
            assert sorted(q for q in queues if q.startswith("rx-")) == ["rx-0", "rx-1", "rx-2", "rx-3"]
            assert sorted(q for q in queues if q.startswith("tx-")) == ["tx-0", "tx-1", "tx-2", "tx-3"]
            # carrier, not operstate: linkwatch updates operstate up to a second later.
            carrier = lab.run(end.netns, ["cat", f"/sys/class/net/{end.ifname}/carrier"], check=True).stdout
            assert carrier.strip() == "1"
        if shutil.which("ping", path=os.environ.get("PATH", "") + ":/usr/bin:/bin"):
            ping = lab.run(a, ["ping", "-c1", "-W1", pair.b.ip], timeout=10)
            assert ping.returncode == 0, ping.stdout + ping.stderr
        server = lab.start(b, [sys.executable, "-c", ECHO_SERVER, pair.b.ip], log="echo.log")
        assert server.wait_for("listening", timeout=20), server.output()
        client = lab.run(a, [sys.executable, "-c", ECHO_CLIENT, pair.b.ip], timeout=20)
        assert client.stdout.strip() == "HELLO", client.stderr
        assert server.wait_for("echoed hello", timeout=10), server.output()
        assert server.log.parent == lab.tmpdir
    _assert_clean(lab)
    assert _host_links() == links_before
    report = lab.cleanup_report()
    kinds = sorted(r.kind for r in report.created)
    assert kinds == ["netns", "netns", "process", "tempdir", "veth"]
    assert sorted(r.kind for r in report.removed) == kinds
    assert any("namespace" in s for s in steps) and steps[-1] == report.summary()


@pytest.mark.root
def test_an_exception_inside_the_block_removes_everything_and_propagates(lab_ok):
    with pytest.raises(RuntimeError, match="boom"):
        with Lab("t") as lab:
            a, b = lab.netns("a"), lab.netns("b")
            lab.veth(a, b, queues=2)
            sleeper = lab.start(a, ["sleep", "1000"])
            assert sleeper.running
            raise RuntimeError("boom")
    _assert_clean(lab)
    assert not sleeper.running


@pytest.mark.root
def test_keyboard_interrupt_inside_the_block(lab_ok):
    with pytest.raises(KeyboardInterrupt):
        with Lab("t") as lab:
            a = lab.netns("a")
            lab.start(a, ["sleep", "1000"])
            raise KeyboardInterrupt
    _assert_clean(lab)


CHILD = textwrap.dedent("""
    import json, signal, sys, time
    # Inherited dispositions vary (a non-interactive shell starts background jobs with
    # SIGINT ignored): start from Python's own, as a terminal session has.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from hftinfra.labs import Lab
    with Lab("t", on_step=lambda text: print("STEP " + text, flush=True)) as lab:
        a, b = lab.netns("a"), lab.netns("b")
        lab.veth(a, b)
        sleeper = lab.start(a, sys.argv[1:])
        print("READY " + json.dumps({"namespaces": lab.namespaces, "pid": sleeper.pid,
                                     "tmpdir": str(lab.tmpdir)}), flush=True)
        time.sleep(1000)
""")


class _Lines:
    """A child's stdout, line by line, with a timeout (a reader thread feeds a queue)."""

    def __init__(self, stream):
        self.queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.queue.put(line)
        self.queue.put("")

    def until(self, prefix: str, timeout_s: float = CHILD_TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            if not line:
                raise AssertionError(f"the child ended before printing {prefix!r}")
            if line.startswith(prefix):
                return line[len(prefix):].strip()


def _wait_for_exec(pid: int, argv0: str, timeout_s: float = 10.0) -> bool:
    # Between fork and exec the child still shows its parent's command line.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == argv0.encode():
                return True
        except (FileNotFoundError, ProcessLookupError):
            return False
        time.sleep(0.02)
    return False


def _child_lab(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def _end_child(proc: subprocess.Popen) -> set[str]:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    return _remove_namespaces_of(proc.pid)


@pytest.mark.root
@pytest.mark.parametrize("signum, returncode", [(signal.SIGINT, -signal.SIGINT), (signal.SIGTERM, 128 + signal.SIGTERM)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_a_process_running_a_lab_cleans_up(lab_ok, signum, returncode):
    proc = _child_lab(["sleep", "1000"])
    try:
        ready = json.loads(_Lines(proc.stdout).until("READY "))
        assert set(ready["namespaces"]) <= _netns_list()
        assert _wait_for_exec(ready["pid"], "sleep"), "sleep never started"
        proc.send_signal(signum)
        proc.wait(timeout=CHILD_TIMEOUT_S)
        stderr = proc.stderr.read()  # stdout is the reader thread's
        # An unhandled KeyboardInterrupt ends Python by SIGINT itself (3.8+), so the shell
        # sees the usual 130; SIGTERM became SystemExit(143) after the cleanup.
        assert proc.returncode == returncode, stderr
        if signum == signal.SIGINT:
            assert "KeyboardInterrupt" in stderr
        assert not set(ready["namespaces"]) & _netns_list()
        assert _pid_gone(ready["pid"], "sleep")
        assert not Path(ready["tmpdir"]).exists()
    finally:
        leftovers = _end_child(proc)
    assert not leftovers


@pytest.mark.root
def test_a_second_ctrl_c_during_cleanup_does_not_cut_it_short(lab_ok):
    # sleep with SIGTERM ignored: the cleanup waits its grace period, then sends SIGKILL.
    proc = _child_lab(["sh", "-c", "trap '' TERM; exec sleep 1000"])
    try:
        lines = _Lines(proc.stdout)
        ready = json.loads(lines.until("READY "))
        assert _wait_for_exec(ready["pid"], "sleep"), "sleep never started"
        proc.send_signal(signal.SIGINT)
        assert lines.until("STEP stopping")
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
        assert "cleaned up" in lines.until("STEP lab t:")
        proc.wait(timeout=CHILD_TIMEOUT_S)
        stderr = proc.stderr.read()  # stdout is the reader thread's
        assert proc.returncode == -signal.SIGINT, stderr
        assert not set(ready["namespaces"]) & _netns_list()
        assert _pid_gone(ready["pid"], "sleep")
    finally:
        leftovers = _end_child(proc)
    assert not leftovers


@pytest.mark.root
def test_settings_are_restored(lab_ok, tmp_path):
    # A host file stands in for a host setting: same code path as /proc/sys, no risk.
    host_file = tmp_path / "setting"
    host_file.write_text("before\n")
    absent = tmp_path / "absent"
    somaxconn = Path("/proc/sys/net/core/somaxconn").read_text()
    with Lab("t") as lab:
        a, b = lab.netns("a"), lab.netns("b")
        pair = lab.veth(a, b, queues=4)
        lab.write(str(host_file), "during")
        lab.write(str(host_file), "during, again")
        assert host_file.read_text() == "during, again"
        lab.write(str(absent), "new")
        assert absent.read_text() == "new"
        # somaxconn is per namespace: the host keeps its own.
        lab.sysctl("net.core.somaxconn", 1234, ns=a)
        assert lab.read("/proc/sys/net/core/somaxconn", ns=a).strip() == "1234"
        assert Path("/proc/sys/net/core/somaxconn").read_text() == somaxconn
        rps = pair.b.queue_path("rx", 2, "rps_cpus")
        lab.write(rps, "1", ns=b)
        assert int(lab.read(rps, ns=b), 16) == 1
        # busy_read is global: a child namespace has no such file, so it must be set on the host.
        with pytest.raises(LabError, match="no such setting"):
            lab.sysctl("net.core.busy_read", 50, ns=a)
        with pytest.raises(LabError):
            lab.write("/proc/sys/net/core/no_such_sysctl", "1")
    _assert_clean(lab)
    assert host_file.read_text() == "before\n"
    assert not absent.exists()
    assert Path("/proc/sys/net/core/somaxconn").read_text() == somaxconn
    restored = [r for r in lab.cleanup_report().removed if r.kind == "setting"]
    assert len(restored) == 5


@pytest.mark.root
def test_settings_are_restored_after_an_exception(lab_ok, tmp_path):
    host_file = tmp_path / "setting"
    host_file.write_text("0")
    with pytest.raises(ZeroDivisionError):
        with Lab("t") as lab:
            lab.write(str(host_file), "1")
            1 / 0  # noqa: B018
    assert host_file.read_text() == "0"
    _assert_clean(lab)


@pytest.mark.root
def test_a_failing_cleanup_step_does_not_stop_the_others(lab_ok, tmp_path):
    host_file = tmp_path / "setting"
    host_file.write_text("old")
    with pytest.raises(LabCleanupError) as caught:
        with Lab("t") as lab:
            a = lab.netns("a")
            lab.start(a, ["sleep", "1000"])
            lab.write(str(host_file), "new")
            # The restore will fail: the file became a directory.
            host_file.unlink()
            host_file.mkdir()
    report = caught.value.report
    assert any("restoring" in e for e in report.errors)
    assert [r.kind for r in report.left] == ["setting"]
    assert "cleanup incomplete" in str(caught.value) and "\n" not in str(caught.value)
    # Every other step ran.
    assert not set(lab.namespaces) & _netns_list()
    assert all(p.returncode is not None for p in lab.processes)
    assert not lab.tmpdir.exists()


@pytest.mark.root
def test_two_labs_at_once_do_not_collide(lab_ok):
    with Lab("t") as one, Lab("t") as two:
        pairs = []
        for lab in (one, two):
            a, b = lab.netns("a"), lab.netns("b")
            pairs.append(lab.veth(a, b))
        assert not set(one.namespaces) & set(two.namespaces)
        assert one.tmpdir != two.tmpdir
        # Same addresses in both labs, each pair in its own namespaces: no conflict.
        assert pairs[0].b.ip == pairs[1].b.ip
        for lab, pair in zip((one, two), pairs, strict=True):
            res = lab.run(pair.a.netns, [sys.executable, "-c",
                                         "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                                         f"s.connect(('{pair.b.ip}', 9)); print(s.getsockname()[0])"])
            assert res.stdout.strip() == pair.a.ip, res.stderr
    _assert_clean(one)
    _assert_clean(two)


@pytest.mark.root
def test_labs_closed_out_of_order_give_back_the_signal_handlers(lab_ok):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    one, two = Lab("t").open(), Lab("t").open()
    one.netns("a")
    assert one.close().clean
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)  # through two's handler and the closed one's
    assert two.close().clean
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.root
def test_run_times_out_and_kills(lab_ok):
    with Lab("t") as lab:
        a = lab.netns("a")
        with pytest.raises(subprocess.TimeoutExpired):
            lab.run(a, ["sleep", "30"], timeout=0.3)
        assert lab.run(a, ["sh", "-c", "exit 3"]).returncode == 3
        with pytest.raises(LabError, match="exited 3"):
            lab.run(a, ["sh", "-c", "exit 3"], check=True)
    _assert_clean(lab)


@pytest.mark.root
def test_bad_requests_are_refused_before_anything_is_made(lab_ok):
    with Lab("t") as lab:
        a, b = lab.netns("a"), lab.netns("b")
        with pytest.raises(LabError, match="outside 198.18.0.0/15"):
            lab.veth(a, b, addresses=("10.0.0.1/30", "10.0.0.2/30"))
        with pytest.raises(LabError, match="not a namespace of lab"):
            lab.veth(a, "some-other-netns")
        with pytest.raises(LabError, match="not a namespace of lab"):
            lab.run("some-other-netns", ["true"])
        with pytest.raises(LabError, match="letters"):
            lab.veth(a, b, names=("a-name-longer-than-15", "x"))
        with pytest.raises(LabError, match="already has"):
            lab.netns("a")
        pair = lab.veth(a, b, prefix=31)
        assert pair.a.address.network.prefixlen == 31
        assert str(pair.a.address.network) == "198.18.0.0/31"
        chosen = lab.veth(a, b, addresses=("198.19.255.1/30", "198.19.255.2/30"))
        assert chosen.b.ip == "198.19.255.2"
    _assert_clean(lab)
    with pytest.raises(LabError, match="has ended"):
        lab.netns("c")


@pytest.mark.root
def test_namespaces_of_a_dead_process_are_found_and_removed(lab_ok, monkeypatch):
    # A lab killed by SIGKILL leaves its namespace: made here by hand, named for a pid
    # that has exited.
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"hft-t-{dead.pid}-0-a"
    subprocess.run([_ip(), "netns", "add", name], check=True, capture_output=True, timeout=20)
    try:
        assert name in harness.stale_namespaces()
        with Lab("t") as lab:
            assert not set(lab.namespaces + (lab.netns("a"),)) & set(harness.stale_namespaces())
        # Only this test's namespace: others' leftovers are not this test's to remove.
        monkeypatch.setattr(harness, "stale_namespaces", lambda ip=None: [name])
        assert harness.remove_stale_namespaces() == [name]
        assert name not in _netns_list()
    finally:
        _remove_namespaces_of(dead.pid)


# ---------------------------------------------------------------------------------------
# Without the means


@pytest.mark.root
def test_as_nobody_one_clear_line():
    from conftest import nobody_python

    found = nobody_python()
    if found is None:
        pytest.skip("needs root, setpriv and a Python the nobody user can run")
    cmd, env = found
    script = ("import sys\nfrom hftinfra.labs import Lab, LabUnavailable\n"
              "try:\n    Lab('net').open()\nexcept LabUnavailable as exc:\n    print(exc)\n    sys.exit(3)\n")
    res = subprocess.run([*cmd, "-c", script], capture_output=True, text=True, timeout=60, env=env, cwd="/")
    assert res.returncode == 3, res.stderr
    assert res.stdout.count("\n") == 1 and "root" in res.stdout and "uid 65534" in res.stdout
    assert res.stderr == ""


def test_not_root_is_refused_with_one_line(monkeypatch):
    monkeypatch.setattr(harness, "_capability", None)
    monkeypatch.setattr(harness.os, "geteuid", lambda: 1000)
    with pytest.raises(LabUnavailable) as caught:
        Lab("net").open()
    assert "\n" not in str(caught.value) and "root" in str(caught.value) and "uid 1000" in str(caught.value)


def test_no_ip_command_is_refused_with_one_line(monkeypatch):
    monkeypatch.setattr(harness, "_capability", None)
    monkeypatch.setattr(harness.os, "geteuid", lambda: 0)
    monkeypatch.setattr(harness, "_find_ip", lambda: None)
    with pytest.raises(LabUnavailable, match="iproute2") as caught:
        with Lab("net"):
            pytest.fail("the block must not run")
    assert "\n" not in str(caught.value)


def test_capability_is_decided_once(monkeypatch):
    calls = []
    monkeypatch.setattr(harness, "_capability", None)
    monkeypatch.setattr(harness, "_detect_capability", lambda: calls.append(1) or LabCapability(False, "no"))
    for _ in range(3):
        assert not lab_capability()
        with pytest.raises(LabUnavailable):
            Lab("x").open()
    assert calls == [1]


def test_names_are_checked_before_anything_runs():
    with pytest.raises(LabError):
        Lab("Net With Spaces")
    with pytest.raises(LabError, match="not open"):
        Lab("net").netns("a")
