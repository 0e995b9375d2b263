"""scripts/ansible/fleet-snapshot.yml: lint and syntax everywhere; as root, a real run over ssh
to inventory hosts that are network namespaces with their own sshd (hftinfra.labs.ssh), some of
which succeed and some of which fail in each way the playbook records."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from ansibletools import load_yaml, needs_ansible, needs_lint
from labtools import lab_namespaces, netns_list, processes_mentioning

from hftinfra.fixes import ansible as fa
from hftinfra.labs import ssh as sshlab

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts" / "ansible"
PLAYBOOK = SCRIPTS / "fleet-snapshot.yml"
LINT_CONFIG = SCRIPTS / ".ansible-lint"
TUNED = REPO / "tests" / "hosts" / "tuned-2s"
UNTUNED = REPO / "tests" / "hosts" / "untuned-2s"

RECORD_KEYS = ["schema", "host", "reason", "message", "when"]
REASONS = {"unreachable", "not installed", "denied", "timed out", "failed"}
WHEN_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# The hanging commands: command lines no other process has.
HANG_SECONDS = "347.125"
SLOW_SECONDS = "348.125"

def _plays():
    return load_yaml(PLAYBOOK.read_text(encoding="utf-8"))


def _tasks(block):
    for task in block:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key, []))


# ---- the playbook's shape, lint and syntax (no root needed) --------------------------------


def test_playbook_shape():
    (collect,) = _plays()
    assert collect["hosts"] == "{{ hftinfra_target | default('hft_servers') }}"
    assert collect["gather_facts"] is False and collect["strategy"] == "linear"
    for task in _tasks(collect["tasks"]):
        assert re.match(r"^[A-Z][a-z]+ \| \S", task["name"]), task["name"]
    by_name = {t["name"]: t for t in _tasks(collect["tasks"])}
    snap = by_name["Collect | run hftinfra snapshot"]
    # The limit is async (killed on the host), polled, with its files in the temp folder.
    assert snap["async"] == "{{ hftinfra_fleet_timeout }}" and snap["poll"] == 1
    assert "hftinfra_fleet_tmpdir.path" in snap["vars"]["ansible_async_dir"]
    assert by_name["Install | look for the hftinfra command"]["ignore_unreachable"] is True
    fetch = by_name["Collect | fetch the archive under a temporary name"]
    assert fetch["ansible.builtin.fetch"]["dest"] == "{{ hftinfra_fleet_partial }}"
    assert collect["vars"]["hftinfra_fleet_partial"].startswith("{{ hftinfra_fleet_out }}/.")
    header = PLAYBOOK.read_text().split("\n- name:", 1)[0]
    assert "ansible-playbook -i inventory.ini fleet-snapshot.yml -f 50" in header
    assert "hftinfra fleet fleet/" in header
    for reason in REASONS:
        assert reason in header
    assert "only reads the host" in header
    # The summary runs once on the control node inside the play (a play for localhost would
    # be left out by --limit), then each host that was not collected fails, last.
    summary = by_name["Summary | the collection, on the control node"]
    assert summary["run_once"] is True and summary["delegate_to"] == "localhost"
    assert collect["tasks"][-1]["name"] == "Summary | fail a host that was not collected"


@needs_ansible
def test_syntax_check(tmp_path):
    run = fa.run_playbook(PLAYBOOK, check=False, diff=False, work=tmp_path, args=["--syntax-check"])
    assert run.returncode == 0, run.output


@pytest.mark.slow
@needs_lint
def test_ansible_lint(tmp_path):
    run = fa.lint([PLAYBOOK], config=LINT_CONFIG, work=tmp_path, cwd=REPO)
    assert run.passed, run.output
    print(run.summary())


# ---- a real run over ssh -------------------------------------------------------------------


def _hostname(archive: Path) -> str:
    from hftinfra.host import open_host

    return open_host(str(archive)).meta["hostname"]


def _record(path: Path) -> dict:
    text = path.read_text()
    record = json.loads(text)
    assert list(record) == RECORD_KEYS, text
    assert record["schema"] == "hftinfra.collect/1"
    assert record["host"] == path.name.removesuffix(".failed.json")
    assert record["reason"] in REASONS
    assert record["message"] and "\n" not in record["message"]
    assert WHEN_RE.match(record["when"]), record["when"]
    when = datetime.strptime(record["when"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - when) < timedelta(minutes=10)
    return record


def _nologin(user: str) -> bool:
    import pwd

    try:
        return pwd.getpwnam(user).pw_shell.endswith("/nologin")
    except KeyError:
        return False


def _snapshot_seconds(output: str) -> dict[str, float]:
    """Per host, how long `hftinfra snapshot` ran on it (the command result's delta)."""
    found = {}
    for m in re.finditer(r"^(?:ok|fatal): \[([^\]]+)\][^{]*(\{.*\})\s*$", output, re.M):
        try:
            result = json.loads(m.group(2))
        except json.JSONDecodeError:
            continue
        cmd = result.get("cmd")
        if isinstance(cmd, list) and "snapshot" in cmd and result.get("delta"):
            h, mi, s = result["delta"].split(":")
            found[m.group(1)] = int(h) * 3600 + int(mi) * 60 + float(s)
    return found


@pytest.mark.slow
@pytest.mark.root
@needs_ansible
def test_fleet_collect_over_ssh(tmp_path):
    from hftinfra.labs import Lab, lab_capability
    from hftinfra.measure.interrupts import WINDOW_META

    why = sshlab.missing()
    if why:
        pytest.skip(f"fleet collection over ssh {why}")
    capability = lab_capability()
    if not capability:
        pytest.skip(f"no labs here: {capability.reason}")
    hftinfra = fa.tool_argv("hftinfra")
    if hftinfra is None:
        pytest.skip("the hftinfra command is not installed in this environment")

    # A copy of the command without its execute bits: even root may not run it (EACCES).
    noexec = tmp_path / "noexec" / "hftinfra"
    noexec.parent.mkdir()
    shutil.copyfile(shutil.which(hftinfra[0]) or hftinfra[0], noexec)
    noexec.chmod(0o644)
    host_tmp = tmp_path / "host-tmp"  # where every host makes its temporary folder
    host_tmp.mkdir()
    fleet = tmp_path / "fleet"
    privsep_before = sshlab.PRIVSEP_DIR.exists()
    hosts = {
        "tuned": {"hftinfra_snapshot_args": ["--host", str(TUNED)]},
        "untuned": {"hftinfra_snapshot_args": ["--host", str(UNTUNED)]},
        "live": {"hftinfra_counter_window": 100},
        "down": {},  # a namespace where nothing listens on port 22
        "absent": {"hftinfra_command": "/nonexistent/hftinfra"},
        "denied": {"hftinfra_command": str(noexec)},
        # become refused: su to an account without a login shell. The control node's own steps
        # (the record) must not use the host's become.
        "nobecome": {"ansible_become": True, "ansible_become_method": "su", "ansible_become_user": "nobody"},
        "hang": {"hftinfra_command": ["sh", "-c", f'case "$1" in snapshot) exec sleep {HANG_SECONDS};; esac',
                                      "hftinfra-hang"],
                 "hftinfra_snapshot_timeout": 3},
        # `hftinfra --version` hangs: the task keyword `timeout` stops the wait.
        "slowver": {"hftinfra_command": ["sh", "-c", f'case "$1" in --version) exec sleep {SLOW_SECONDS};; esac',
                                         "hftinfra-slow"],
                    "hftinfra_snapshot_timeout": 3},
    }
    good = {"tuned", "untuned", "live"}
    expected_reasons = {"down": "unreachable", "absent": "not installed", "denied": "denied", "nobecome": "denied",
                        "hang": "timed out", "slowver": "timed out"}
    if not _nologin("nobody"):  # su's refusal is nologin(8)'s message
        del hosts["nobecome"], expected_reasons["nobecome"]
    common = {"hftinfra_command": hftinfra, "hftinfra_fleet_dir": str(fleet), "hftinfra_fleet_tmp": str(host_tmp)}
    started = time.perf_counter()
    with Lab("fleet") as lab, sshlab.SshLab(lab, tmp_path / "ssh") as ssh:
        for name in hosts:
            ssh.host(name, sshd=name != "down")
        ssh.wait_listening()
        inventory = tmp_path / "inventory.yml"
        data = ssh.inventory("hft_servers", hosts)
        data["hft_servers"]["vars"].update(common)
        inventory.write_text(json.dumps(data, indent=1))
        lab_ready = time.perf_counter() - started

        # 1. Every host at once: three collected, the others recorded as failed, each for its reason.
        first = ssh.playbook(PLAYBOOK, inventory, work=tmp_path / "run1", forks=len(hosts), args=["-v"],
                             config=SCRIPTS / "ansible.cfg")
        print(f"run 1: {len(hosts)} hosts, forks {len(hosts)}: exit {first.returncode} in {first.elapsed_s:.1f} s")
        # Exit 2: Ansible's status for failed hosts; exactly those not collected failed.
        assert first.returncode == 2, first.output
        assert set(first.recap) == set(hosts), first.output
        for name in hosts:
            assert first.recap[name]["unreachable"] == 0, first.output
            assert first.recap[name]["failed"] == first.recap[name]["rescued"] == (0 if name in good else 1), first.output
        assert not processes_mentioning(f"sleep {HANG_SECONDS}", settle_s=5.0), "the timed-out snapshot still runs"
        names = sorted(os.listdir(fleet))
        assert names == sorted([f"{h}.tar.gz" for h in good] + [f"{h}.failed.json" for h in expected_reasons]
                               + ["collect.json"]), names  # nothing partial, nothing hidden
        assert _hostname(fleet / "tuned.tar.gz") == "ny4-trade-07"
        assert _hostname(fleet / "untuned.tar.gz") == "ny4-build-12"
        from hftinfra.host import open_host

        live = open_host(str(fleet / "live.tar.gz")).meta
        assert live["hostname"] == socket.gethostname()  # ip netns exec shares the UTS namespace
        assert 0.05 <= live[WINDOW_META]["seconds"] < 1.0, live[WINDOW_META]  # --counter-window 100
        records = {h: _record(fleet / f"{h}.failed.json") for h in expected_reasons}
        for h, reason in expected_reasons.items():
            assert records[h]["reason"] == reason, records[h]
        assert "Connection refused" in records["down"]["message"] or "connect" in records["down"]["message"]
        assert "No such file or directory" in records["absent"]["message"]
        assert "Permission denied" in records["denied"]["message"]
        if "nobecome" in records:
            assert "This account is currently not available" in records["nobecome"]["message"]  # su to nologin
        assert records["hang"]["message"].startswith("run hftinfra snapshot: still running after 3 s, killed (")
        assert records["slowver"]["message"].startswith("look for the hftinfra command: ")
        collect = json.loads((fleet / "collect.json").read_text())
        assert collect["schema"] == "hftinfra.collect/1" and WHEN_RE.match(collect["when"])
        assert set(collect["hosts"]) == set(hosts)
        for h in good:
            assert collect["hosts"][h] == {"status": "collected", "archive": f"{h}.tar.gz", "reason": None,
                                           "message": None}
        for h in expected_reasons:
            assert collect["hosts"][h] == {"status": "failed", "archive": None, "reason": records[h]["reason"],
                                           "message": records[h]["message"]}
        for h in good:
            assert any(re.match(rf"^{h}: collected \(\d", m) for m in first.messages), first.messages
        for h, reason in expected_reasons.items():
            assert f"{h}: failed ({reason}: {records[h]['message']})" in first.messages, first.messages
        for h, reason in expected_reasons.items():  # each then fails its last task
            assert re.search(rf'^fatal: \[{h}\]: FAILED! => .*"msg": "not collected \({reason}\): ', first.output,
                             re.M), first.output
        # Nothing left on the hosts: their temporary folders and Ansible's own files are gone.
        assert os.listdir(host_tmp) == []
        assert os.listdir(tmp_path / "run1" / "remote-tmp") == []
        seconds = _snapshot_seconds(first.output)
        assert set(seconds) == good, seconds
        print("  hftinfra snapshot on each host: "
              + ", ".join(f"{h} {s:.2f} s" for h, s in sorted(seconds.items()))
              + f"; hang killed at its 3 s limit; lab up in {lab_ready:.1f} s")

        # 2. Again for two hosts, redacted, the one that was not installed now pointed at
        #    hftinfra: its stale record goes, the others' files stay as they were.
        kept = {n: (fleet / n).read_bytes() for n in ["untuned.tar.gz"] + [f"{h}.failed.json" for h in expected_reasons
                                                                           if h != "absent"]}
        second = ssh.playbook(PLAYBOOK, inventory, work=tmp_path / "run2", forks=2,
                              extra_vars={"hftinfra_command": hftinfra, "hftinfra_redact": True},
                              args=["--limit", "tuned,absent"], config=SCRIPTS / "ansible.cfg")
        print(f"run 2: 2 hosts, redacted: exit {second.returncode} in {second.elapsed_s:.1f} s")
        assert second.returncode == 0, second.output
        assert not (fleet / "absent.failed.json").exists()
        names = sorted(os.listdir(fleet))
        assert names == sorted(["tuned.tar.gz", "untuned.tar.gz", "live.tar.gz", "absent.tar.gz", "collect.json"]
                               + [f"{h}.failed.json" for h in expected_reasons if h != "absent"]), names
        for n, data in kept.items():
            assert (fleet / n).read_bytes() == data, n
        for h in ("tuned", "absent"):
            meta = open_host(str(fleet / f"{h}.tar.gz")).meta
            assert meta["redacted"] is True
            assert meta["hostname"] not in ("ny4-trade-07", socket.gethostname()), meta["hostname"]
        collect = json.loads((fleet / "collect.json").read_text())
        assert {h: v["status"] for h, v in collect["hosts"].items()} == {"tuned": "collected", "absent": "collected"}
        ctl_ns = ssh.ctl
        sshd_pids = [h.sshd.pid for h in ssh.hosts.values() if h.sshd is not None]
    report = lab.cleanup_report()
    print(report.summary())
    assert report.clean, report.to_text()
    assert ctl_ns not in netns_list() and not lab_namespaces("fleet", os.getpid())
    assert not processes_mentioning(str(tmp_path / "ssh" / "sshd")), "an sshd of the lab still runs"
    assert all(not Path(f"/proc/{pid}").exists() for pid in sshd_pids)
    assert sshlab.PRIVSEP_DIR.exists() == privsep_before
    print(f"whole test: {time.perf_counter() - started:.1f} s ({sys.platform}, {os.cpu_count()} CPUs)")


@pytest.mark.slow
@pytest.mark.root
@needs_ansible
def test_collect_over_ssh_is_the_pages_one_call(tmp_path):
    """hftinfra.labs.ssh.collect_over_ssh, as the fleet page calls it: inventory names that
    are not namespace names, one host collected and one unreachable, and nothing of the lab left."""
    from hftinfra.labs import lab_capability

    why = sshlab.missing()
    if why:
        pytest.skip(f"fleet collection over ssh {why}")
    if not lab_capability():
        pytest.skip(f"no labs here: {lab_capability().reason}")
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    got = sshlab.collect_over_ssh(PLAYBOOK, fleet, {"ny4-trade-07.example": {"hftinfra_snapshot_args": ["--host", str(TUNED)]}},
                                  unreachable=["lab-down"], config=SCRIPTS / "ansible.cfg")
    print(got)
    assert got.run.returncode == 2, got.run.output
    assert got.collected == ["ny4-trade-07.example"]
    assert list(got.failed) == ["lab-down"] and got.failed["lab-down"].startswith("unreachable: ")
    assert _hostname(fleet / "ny4-trade-07.example.tar.gz") == "ny4-trade-07"
    assert _record(fleet / "lab-down.failed.json")["reason"] == "unreachable"
    assert [line.split(":")[0] for line in got.lines()] == ["ny4-trade-07.example", "lab-down"]
    assert "cleaned up" in got.cleanup and "incomplete" not in got.cleanup
    assert not lab_namespaces("fleet", os.getpid())
    assert not processes_mentioning("hftinfra-ssh-", settle_s=1.0)  # its sshds ran from that temp folder
