"""The live-host tests, run again as if on other machines.

Test machines differ (AMD with haltpoll idle states, Intel with cpuidle driver 'none', with
or without cpufreq, x86 or arm64), and users run the suite on servers. Each flavour below
lays another machine's sysfs and procfs files over this one in a private mount namespace
(tests/flavours.py) and runs every test marked ``live`` there: they must hold on each,
because they compare the library with their own read of the same files and accept every
honest answer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import flavours
import pytest

REPO = Path(__file__).resolve().parents[1]
LIVE_FILES = ["tests/test_cpu.py", "tests/test_memory.py", "tests/test_kernel.py", "tests/test_audit.py",
              "tests/test_snapshot.py", "tests/test_host.py", "tests/test_checks_power.py",
              "tests/test_checks_memory.py"]


def _namespace_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a private mount namespace"
    if not shutil.which("unshare") or not shutil.which("mount"):
        return "unshare(1) and mount(8) are needed"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs",
                            "tmpfs", "/sys/devices/system"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"no private mount namespace here: {probe.stderr.strip()}"
    return None


def run_in_flavour(name: str, tmp_path: Path, *command: str) -> subprocess.CompletedProcess:
    spec = flavours.build_flavour(name, tmp_path)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, str(REPO / "tests" / "flavours.py"),
         str(spec_file), "--", *command],
        cwd=REPO, capture_output=True, text=True, timeout=900)


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.parametrize("name", flavours.FLAVOURS)
def test_live_tests_hold_on_another_machine(name, tmp_path):
    why = _namespace_unavailable()
    if why:
        pytest.skip(why)
    run = run_in_flavour(name, tmp_path, "pytest", "-q", "-p", "no:cacheprovider", "-m", "live", *LIVE_FILES)
    assert run.returncode == 0, f"live tests on flavour {name}:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    assert " passed" in run.stdout and " failed" not in run.stdout


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.parametrize("name", ["untuned-2s+cpuidle-none", "cpu0-offline+bare-kernel",
                                  "untuned-2s+arm64-cpuinfo"])
def test_pages_execute_on_another_machine(name, tmp_path):
    """Every page, executed live on a machine laid out differently from this one."""
    why = _namespace_unavailable()
    if why:
        pytest.skip(why)
    out = tmp_path / "_build"
    run = run_in_flavour(name, tmp_path, "python", str(REPO / "tools" / "build.py"), "--execute-only", "--out", str(out))
    assert run.returncode == 0, f"pages on flavour {name}:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    report = json.loads((out / "execution" / "report.json").read_text())
    assert report["notebooks"] and all(n["status"] == "ok" for n in report["notebooks"]), report


@pytest.mark.root
def test_the_flavour_is_what_the_library_sees(tmp_path):
    """The layering works: inside, the live host is the fixture's CPUs; outside, nothing changed."""
    why = _namespace_unavailable()
    if why:
        pytest.skip(why)
    before = Path("/sys/devices/system/cpu/online").read_text()
    had_nodes = os.path.isdir("/sys/devices/system/node")
    spec = flavours.build_flavour("cpu0-offline+bare-kernel", tmp_path)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    code = ("import json; from hftinfra.host import open_host; from hftinfra.cpu import read_topology; "
            "from hftinfra.memory import read_numa; h = open_host(None); t = read_topology(h); "
            "print(json.dumps([sorted(t.online), str(read_numa(h).nodes)]))")
    script = tmp_path / "probe.py"
    script.write_text(f"import subprocess, sys\nsys.exit(subprocess.run([sys.executable, '-c', {code!r}]).returncode)\n")
    run = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c",
                          "import sys; sys.path.insert(0, 'tests'); import flavours, json; "
                          f"flavours.apply(json.load(open({str(spec_file)!r}))); "
                          f"exec(open({str(script)!r}).read())"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    online, nodes = json.loads(run.stdout)
    fixture = (flavours.HOSTS / "cpu0-offline/sys/devices/system/cpu/online").read_text().strip()
    assert 0 not in online and online and fixture != before.strip()
    assert "missing" in nodes and "/sys/devices/system/node" in nodes
    assert Path("/sys/devices/system/cpu/online").read_text() == before
    assert os.path.isdir("/sys/devices/system/node") == had_nodes
