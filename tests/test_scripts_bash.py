"""scripts/bash: every script passes shellcheck, and the bats suite in scripts/bash/test
passes (fixture trees in temp dirs; as root also a veth pair in a network namespace)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import REPO

BASH = REPO / "scripts" / "bash"
SCRIPTS = sorted([*BASH.glob("*.sh"), *(BASH / "lib").glob("*.sh"), BASH / "test" / "helpers.bash"])


def test_scripts_exist():
    names = {p.name for p in BASH.glob("*.sh")}
    assert {"irq-affinity.sh", "cpu-governor.sh", "hugepages.sh", "nic-tune.sh",
            "pretrade-check.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(BASH)))
def test_shellcheck(script):
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (Debian package shellcheck)")
    # Clean without disables: a warning is fixed, not silenced.
    assert "shellcheck disable" not in script.read_text()
    proc = subprocess.run(["shellcheck", "-x", str(script)], cwd=BASH, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bats_suite():
    if shutil.which("bats") is None:
        pytest.skip("bats not installed (Debian package bats)")
    proc = subprocess.run(["bats", "--tap", str(BASH / "test")], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    failed = re.findall(r"^not ok \d+ (.*)$", proc.stdout, re.M)
    assert proc.returncode == 0 and not failed, (
        "failing bats tests: " + "; ".join(failed) + "\n" + proc.stdout[-4000:] + proc.stderr[-2000:])
