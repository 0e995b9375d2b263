"""Shared test helpers: fixture hosts, the shared corpus, tiny trees written per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HOSTS = REPO / "tests" / "hosts"
# Real captured trees from other projects; absent in a user's clone (no ../shared).
CORPUS = REPO.parent / "shared" / "corpus"
CORPUS_TREES = [CORPUS / "node_exporter", CORPUS / "procfs"]


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``{"/proc/cmdline": "...", ...}`` under root; values ending without a newline
    get one, as the kernel writes them. Keys starting with '@' make symlinks: '@/a': 'b'."""
    for key, content in files.items():
        if key.startswith("@"):
            dest = root / key[1:].lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(content, dest)
            continue
        dest = root / key.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            dest.write_bytes(content)
        else:
            dest.write_text(content if content.endswith("\n") or content == "" else content + "\n")
    return root


@pytest.fixture
def tree(tmp_path):
    """``tree({...})`` -> a snapshot Host over those files."""
    from hftinfra.host import open_host

    def make(files: dict[str, str | bytes]):
        root = tmp_path / "snap"
        write_tree(root, files)
        return open_host(root)

    return make


def corpus_params():
    return [pytest.param(p, id=p.name) for p in CORPUS_TREES]


@pytest.fixture(params=corpus_params())
def corpus_host(request):
    from hftinfra.host import open_host

    if not request.param.is_dir():
        pytest.skip(f"{request.param} not present (no ../shared/corpus beside this clone)")
    return open_host(request.param)


def nobody_python() -> tuple[list[str], dict[str, str]] | None:
    """A command that runs this checkout's hftinfra as the 'nobody' user, and its environment,
    or None when that cannot be arranged (not root, no setpriv, no Python nobody may run)."""
    if os.geteuid() != 0:
        return None
    runner = shutil.which("setpriv")
    if runner is None:
        return None
    site = [p for p in sys.path if p.endswith("site-packages") and p.startswith(str(REPO))]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *site])}
    for python in (sys.executable, "/usr/bin/python3"):
        cmd = [runner, "--reuid=65534", "--regid=65534", "--clear-groups", python]
        try:
            res = subprocess.run([*cmd, "-c", "import sys, hftinfra.snapshot; print(sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30, env=env, cwd="/")
        except OSError:
            continue
        if res.returncode == 0 and res.stdout.strip() == str(sys.version_info[:2]):
            return cmd, env
    return None
