"""The project's own code passes its linters: ruff for Python, shellcheck for shell."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import REPO

SHELL_SCRIPTS = [REPO / ".ci" / "run", *sorted((REPO / "tools").glob("*.sh"))]


def test_ruff_passes():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise",
                           "src", "tests", "tools"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_passes(script):
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (make test installs it when run as root)")
    proc = subprocess.run(["shellcheck", "-x", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
