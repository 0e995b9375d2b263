"""Shared test helpers: fixture hosts, the shared corpus, tiny trees written per test."""

from __future__ import annotations

import os
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
