"""``hftinfra audit`` as a user runs it: exit codes, formats, errors as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hftinfra.cli import main

HOSTS = Path(__file__).resolve().parent / "hosts"
TUNED = str(HOSTS / "tuned-2s")
UNTUNED = str(HOSTS / "untuned-2s")


def run(capsys, *argv):
    code = main(["audit", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_codes(capsys):
    assert run(capsys, "--host", TUNED, "--format", "json")[0] == 0
    assert run(capsys, "--host", UNTUNED, "--format", "json")[0] == 1


def test_partial_captures_from_other_tools_audit(capsys, corpus_host):
    # Their sysfs links point at folders that were never captured (driver -> ../../bus/...):
    # those read as missing, and the audit runs.
    code, out, err = run(capsys, "--host", corpus_host.source, "--format", "json")
    assert code in (0, 1), err
    report = json.loads(out)
    assert report["summary"]["unknown"] > 0 and report["summary"]["fail"] + report["summary"]["pass"] > 0


@pytest.mark.parametrize("argv,needle", [
    (["--profile", "nope"], "unknown profile 'nope'"),
    (["--profile", "/nonexistent/ours.yaml"], "no such profile file"),
    (["--var", "isolated_cpus=banana"], "--var isolated_cpus: expected a cpulist"),
    (["--var", "colour=blue"], "--var colour: profile hft-isolated has no such variable"),
    (["--only", "disk"], "--only disk: no such area"),
    (["--host", "/nonexistent"], "no such snapshot"),
    (["--explain", "cpu.isolatd"], "did you mean 'cpu.isolated'"),
])
def test_user_mistakes_exit_2_with_one_line(capsys, argv, needle):
    code, out, err = run(capsys, "--host", TUNED, *argv) if "--host" not in argv else run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("hftinfra audit: error:")


def test_bad_user_profile_file(capsys, tmp_path):
    p = tmp_path / "ours.yaml"
    p.write_text("include: hft-isolated\nchecks:\n  memory.swappiness:\n    expect: many\n")
    code, out, err = run(capsys, "--host", TUNED, "--profile", str(p))
    assert code == 2 and "ours.yaml: checks.memory.swappiness.expect: expected an integer" in err


def test_boolean_for_an_integer_check_is_rejected(capsys, tmp_path):
    p = tmp_path / "ours.yaml"
    p.write_text("include: hft-isolated\nchecks:\n  memory.swappiness:\n    expect: true\n")
    code, out, err = run(capsys, "--host", UNTUNED, "--profile", str(p))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "ours.yaml: checks.memory.swappiness.expect: expected an integer, got a boolean" in err


def test_empty_profile_file_is_an_error_not_a_green_audit(capsys, tmp_path):
    p = tmp_path / "e.yaml"
    p.write_text("")
    code, out, err = run(capsys, "--host", TUNED, "--profile", str(p))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "e.yaml: no checks and no include" in err


def test_profile_that_is_a_directory(capsys, tmp_path):
    code, out, err = run(capsys, "--host", TUNED, "--profile", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "is a directory" in err and "no such" not in err


def test_user_profile_file_runs(capsys, tmp_path):
    p = tmp_path / "ours.yaml"
    p.write_text("include: hft-isolated\nchecks:\n  kernel.preempt:\n    enabled: false\n")
    code, out, err = run(capsys, "--host", TUNED, "--profile", str(p), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["profile"]["chain"][-1] == "ours"
    assert "kernel.preempt" not in {f["id"] for f in doc["findings"]}
    assert doc["summary"]["warn"] == 0


def test_json_to_file_and_var(capsys, tmp_path):
    out_file = tmp_path / "report.json"
    code, out, err = run(capsys, "--host", UNTUNED, "--var", "isolated_cpus=8-15,24-31", "--only", "cpu",
                         "--format", "json", "-o", str(out_file))
    assert code == 1 and out == ""
    doc = json.loads(out_file.read_text())
    assert doc["profile"]["variables"]["isolated_cpus"] == {"value": "8-15,24-31", "origin": "--var"}
    assert doc["profile"]["variables"]["housekeeping_cpus"]["value"] == "0-7,16-23"
    assert doc["only"] == ["cpu"]
    iso = next(f for f in doc["findings"] if f["id"] == "cpu.isolated")
    assert "isolcpus=managed_irq,domain,8-15,24-31" in iso["fix"]


def test_markdown_and_text(capsys):
    code, out, err = run(capsys, "--host", UNTUNED, "--format", "markdown")
    assert code == 1 and out.startswith("# Host audit")
    code, out, err = run(capsys, "--host", UNTUNED)
    assert code == 1 and "\x1b[" not in out and "Fixes (review before running)" in out


def test_explain_and_list(capsys):
    code, out, err = run(capsys, "--explain", "kernel.sched_rt_runtime")
    assert code == 0
    assert "allowed but risky: -1" in out and "sched-rt-group" in out
    assert out.index("latency-performance:") < out.index("hft-isolated:")
    code, out, err = run(capsys, "--list")
    assert code == 0 and len(out.splitlines()) >= 32


def test_host_from_environment(capsys, monkeypatch):
    monkeypatch.setenv("HFTINFRA_HOST", TUNED)
    code, out, err = run(capsys, "--format", "json")
    assert code == 0 and json.loads(out)["host"]["source"] == TUNED


def test_whole_process_does_not_import_heavy_libraries(tmp_path):
    probe = (f"import sys; sys.argv=['hftinfra','audit','--host',{UNTUNED!r},'--format','json'];\n"
             "from hftinfra.cli import main\n"
             "import io, contextlib\n"
             "with contextlib.redirect_stdout(io.StringIO()): main(sys.argv[1:])\n"
             "print(sorted(m for m in ('plotly','pandas','ipywidgets','numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.skipif(os.geteuid() == 0, reason="needs a normal user; runs as root here")
def test_runs_as_normal_user():
    proc = subprocess.run([sys.executable, "-m", "hftinfra", "audit", "--format", "json"],
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1)
    doc = json.loads(proc.stdout)
    assert all(not (f["status"] == "pass" and f["observed"].startswith("unknown")) for f in doc["findings"])


def test_runs_as_nobody_when_root():
    """As root, drop to 'nobody' and audit the live host: it still runs; unreadables are unknown."""
    from conftest import nobody_python

    found = nobody_python()
    if found is None:
        pytest.skip("needs root, setpriv and a Python the nobody user can run")
    cmd, env = found
    proc = subprocess.run([*cmd, "-m", "hftinfra", "audit", "--format", "json"], capture_output=True,
                          text=True, env={**env, "HOME": "/tmp"}, cwd="/", timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    pm = next(f for f in doc["findings"] if f["id"] == "cpu.pm_qos")
    assert pm["status"] in ("unknown", "skip")  # /dev/cpu_dma_latency is root-only
    assert all(not (f["status"] == "pass" and f["observed"].startswith("unknown")) for f in doc["findings"])


def _bare_tree(tmp_path):
    """A snapshot with almost nothing in it: every check is unknown or skip."""
    root = tmp_path / "bare"
    (root / "proc").mkdir(parents=True)
    (root / "sys").mkdir()
    (root / "proc" / "cpuinfo").write_text("processor\t: 0\n")
    return str(root)


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_an_audit_that_judged_nothing_exits_2(capsys, tmp_path, fmt):
    host = _bare_tree(tmp_path)
    code, out, err = run(capsys, "--host", host, "--format", fmt)
    assert code == 2
    assert err.startswith("hftinfra audit: error: no check could be judged on ") and err.count("\n") == 1
    assert " unknown, " in err and " skip)" in err
    assert out, "the report is still written"
    if fmt == "json":
        doc = json.loads(out)
        assert doc["summary"]["pass"] == doc["summary"]["fail"] == doc["summary"]["warn"] == 0


def test_help_documents_exit_2_for_nothing_judged(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    out = capsys.readouterr().out
    assert "judge no check" in " ".join(out.split())


def test_output_to_a_directory_is_one_line_and_leaves_nothing(capsys, tmp_path):
    target = tmp_path / "somedir"
    target.mkdir()
    code, out, err = run(capsys, "--host", TUNED, "-o", str(target))
    assert code == 2 and err.count("\n") == 1 and "is a directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somedir"]
    assert list(target.iterdir()) == []


def test_output_replaces_a_file_whole_and_cleans_up_on_failure(capsys, tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old report\n")
    code, out, err = run(capsys, "--host", TUNED, "--format", "json", "-o", str(target))
    assert code == 0 and json.loads(target.read_text())["schema"] == "hftinfra.audit/1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    target.write_text("old report\n")
    code, out, err = run(capsys, "--host", TUNED, "--format", "json", "-o", str(target))
    assert code == 2 and "No space left on device" in err and err.count("\n") == 1
    assert target.read_text() == "old report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_output_into_a_pipe_or_device_writes_into_it_and_never_replaces_it(capsys, tmp_path):
    """-o /dev/null or a named pipe: the report goes into it; a rename over it would make
    /dev/null a regular file for every program on the machine."""
    import stat
    import threading

    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    code, out, err = run(capsys, "--host", TUNED, "--format", "json", "-o", str(fifo))
    reader.join(10)
    assert code == 0 and out == "", err
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(got[0])["schema"] == "hftinfra.audit/1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.fifo"]
    before = os.stat(os.devnull)
    code, out, err = run(capsys, "--host", TUNED, "-o", os.devnull)
    after = os.stat(os.devnull)
    assert code == 0 and stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_output_through_a_symlink_replaces_the_file_and_keeps_the_link(capsys, tmp_path):
    real = tmp_path / "reports" / "today.json"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    code, out, err = run(capsys, "--host", TUNED, "--format", "json", "-o", str(link))
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == real
    assert json.loads(real.read_text())["schema"] == "hftinfra.audit/1"
    assert sorted(p.name for p in real.parent.iterdir()) == ["today.json"]


def test_output_into_a_missing_directory(capsys, tmp_path):
    code, out, err = run(capsys, "--host", TUNED, "-o", str(tmp_path / "nope" / "r.txt"))
    assert code == 2 and err.count("\n") == 1 and "No such file or directory" in err
    assert list(tmp_path.iterdir()) == []


def test_help_says_an_existing_output_file_is_replaced(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    assert "replaced whole" in " ".join(capsys.readouterr().out.split())


def test_var_cpus_outside_the_host_exit_2(capsys):
    code, out, err = run(capsys, "--host", TUNED, "--var", "isolated_cpus=100-120")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "CPUs 100-120 are not on this host (possible CPUs: 0-31)" in err
    code, out, err = run(capsys, "--host", TUNED, "--var", "isolated_cpus=9-15,25-N", "--format", "json")
    assert code == 0 and json.loads(out)["profile"]["variables"]["isolated_cpus"]["value"] == "9-15,25-31"
