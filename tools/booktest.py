"""Helpers the book, notebook and browser tests share: one build of the book per test run.

The tests import this module by putting ``tools/`` on ``sys.path``; it stays one module
object for the whole pytest process, so the book is built once and every test module reads
the same ``_build``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_PY = REPO / "tools" / "build.py"


@dataclass(frozen=True)
class BuildRun:
    returncode: int
    output: str
    out: Path  # the _build folder

    @property
    def html(self) -> Path:
        return self.out / "html"

    @property
    def report(self) -> dict:
        path = self.out / "execution" / "report.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    @property
    def info(self) -> dict:
        path = self.out / "build-info.json"
        return json.loads(path.read_text()) if path.is_file() else {}


def run_build(*args: str, env: dict | None = None, timeout: float = 1500) -> BuildRun:
    """``python tools/build.py ARGS`` with this interpreter; output captured for messages."""
    out = REPO / "_build"
    argv = list(args)
    if "--out" in argv:
        out = Path(argv[argv.index("--out") + 1])
    proc = subprocess.run([sys.executable, str(BUILD_PY), *argv], cwd=REPO, env=env or os.environ.copy(),
                          capture_output=True, text=True, timeout=timeout)
    return BuildRun(proc.returncode, proc.stdout + proc.stderr, out)


@functools.cache
def book() -> BuildRun:
    """The repository's book, built as ``make book`` does, once per test run.

    Into a folder of this run's own, not the repository's ``_build``: a ``make book`` or
    another test run in the same checkout must not swap the staged notebooks under it."""
    base = Path(tempfile.mkdtemp(prefix="hftinfra-book-"))
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    return run_build("--out", str(base / "_build"))


def toc_notebooks() -> list[str]:
    sys.path.insert(0, str(REPO / "tools"))
    import build

    return build.toc_notebooks(REPO)


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 at a free port; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(folder), **kw)

        def log_message(self, *a):  # the test reports what matters
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
