"""Notebooks: committed clean, listed in the book, and executed without error by nbclient,
against this host, against snapshots, and as a normal user."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import booktest  # noqa: E402

SKIP_DIRS = {".venv", "_build", "node_modules", ".git", ".ipynb_checkpoints", "tests"}


def repo_notebooks() -> list[Path]:
    return sorted(p for p in REPO.rglob("*.ipynb") if not (set(p.relative_to(REPO).parts) & SKIP_DIRS))


NOTEBOOKS = [pytest.param(p, id=p.relative_to(REPO).as_posix()) for p in repo_notebooks()]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------------
# The notebook-outputs check: what is committed


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_committed_without_outputs(path):
    nb = load(path)
    dirty = [i + 1 for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.relative_to(REPO)}: cells {dirty} carry outputs or execution counts; "
                       "clear them before committing (Kernel > Restart and Clear Outputs)")


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_has_a_kernel_spec(path):
    spec = load(path).get("metadata", {}).get("kernelspec") or {}
    assert spec.get("name") and spec.get("language") == "python", \
        f"{path.relative_to(REPO)}: metadata.kernelspec must name a python kernel, got {spec!r}"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_starts_with_parameters_then_open_page(path):
    code = [c for c in load(path)["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.relative_to(REPO)} has no code"
    first = "".join(code[0]["source"])
    assert "parameters" in code[0].get("metadata", {}).get("tags", []), \
        f"{path.relative_to(REPO)}: the first code cell must be tagged 'parameters'"
    assert 'os.environ.get("HFTINFRA_HOST"' in first, \
        f"{path.relative_to(REPO)}: the parameters cell must read HFTINFRA_HOST"
    second = "".join(code[1]["source"]) if len(code) > 1 else ""
    assert "open_page(HFTINFRA_HOST)" in second, \
        f"{path.relative_to(REPO)}: the second code cell must call open_page(HFTINFRA_HOST) (the host banner)"


def test_every_notebook_is_in_the_toc_and_every_folder_index_lists_its_pages():
    import build

    listed = set(booktest.toc_notebooks())
    on_disk = {p.relative_to(REPO).as_posix() for p in repo_notebooks()}
    assert on_disk - listed == set(), f"notebooks missing from _toc.yml (never built or run): {on_disk - listed}"
    for doc in build.toc_files(REPO):
        stem = doc.removesuffix(".ipynb").removesuffix(".md")
        folder, _, name = stem.rpartition("/")
        if not folder or name == "index":
            continue
        index = REPO / folder / "index.md"
        assert index.is_file(), f"{folder}/ has no index.md"
        assert f"{{doc}}`{name}`" in index.read_text(), f"{folder}/index.md does not list {name}"


# ------------------------------------------------------------------------------------------
# Execution: against this host (the book build's report), snapshots, and as a normal user


@pytest.mark.slow
@pytest.mark.parametrize("rel", booktest.toc_notebooks())
def test_executes_on_this_host(rel):
    run = booktest.book()
    entries = {r["notebook"]: r for r in run.report.get("notebooks", [])}
    assert rel in entries, f"{rel} was not executed:\n{run.output[-3000:]}"
    entry = entries[rel]
    assert entry["status"] == "ok", (
        f"{rel}, cell {entry['cell']} ({entry['code']}): {entry['error']}\n"
        + (Path(entry["log"]).read_text()[-3000:] if entry.get("log") else ""))


@pytest.mark.slow
@pytest.mark.parametrize("host", ["tuned-2s", "cpu0-offline"])
def test_executes_against_a_snapshot(host, tmp_path):
    snapshot = REPO / "tests" / "hosts" / host
    if not snapshot.is_dir():
        pytest.fail(f"fixture host {snapshot} is missing")
    env = dict(os.environ, HFTINFRA_HOST=str(snapshot))
    out = tmp_path / "_build"
    # Every page against the tuned host; the edge case (CPU 0 offline) on the topology page.
    only = [] if host == "tuned-2s" else ["system-tuning/cpu-topology.ipynb"]
    run = booktest.run_build("--execute-only", "--out", str(out), *only, env=env)
    assert run.returncode == 0, run.output[-4000:]
    report = json.loads((out / "execution" / "report.json").read_text())
    assert report["host"] == str(snapshot)
    for rel in report["notebooks"]:
        executed = load(out / "book" / rel["notebook"])
        banner = "".join(
            "".join(o.get("data", {}).get("text/html", ""))
            for c in executed["cells"] for o in c.get("outputs", []))
        assert "snapshot tests/hosts/" + host in banner, f"{rel['notebook']}: the banner does not name the snapshot"


NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def _nobody_python() -> tuple[list[str], dict[str, str]] | str:
    """A command prefix running this venv's Python as 'nobody', or why there is none.

    The venv's interpreter may be a link into root's home (pyenv), which 'nobody' cannot
    reach; the system interpreter of the same version then runs the same site-packages."""
    if not shutil.which("setpriv"):
        return "setpriv is not installed: cannot drop from root to a normal user"
    import site
    import sysconfig

    probe = subprocess.run([*NOBODY, "test", "-r", str(REPO / "_toc.yml")], capture_output=True)
    if probe.returncode != 0:
        blocked = next((str(p) for p in [*reversed(REPO.parents), REPO]
                        if subprocess.run([*NOBODY, "test", "-x", str(p)]).returncode != 0), str(REPO))
        return f"'nobody' cannot read this checkout ({blocked} is closed to other users)"

    version = sysconfig.get_python_version()
    paths = [*site.getsitepackages(), str(REPO / "src")]
    candidates = [(sys.executable, {}), (f"/usr/bin/python{version}", {"PYTHONPATH": os.pathsep.join(paths)})]
    for python, extra in candidates:
        if not Path(python).exists():
            continue
        # The kernel is started by the build as a child: exec it from inside, as nobody.
        child = "import hftinfra, nbclient, plotly, ipywidgets"
        probe = subprocess.run([*NOBODY, python, "-c",
                                f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"],
                               env=dict(os.environ, **extra), capture_output=True, text=True)
        if probe.returncode == 0:
            return [*NOBODY, python], extra
    return f"no Python {version} that 'nobody' can run with this venv's packages"


@pytest.mark.slow
def test_executes_as_a_normal_user():
    """Run as a normal user, every page still executes: what needs root says so."""
    if os.geteuid() == 0:
        found = _nobody_python()
        if isinstance(found, str):
            pytest.skip(found)
        prefix, extra = found
    else:
        prefix, extra = [sys.executable], {}
    # pytest's own tmp folders are private to root; the normal user needs one of its own.
    work = Path(tempfile.mkdtemp(prefix="hftinfra-user-"))
    work.chmod(0o777)
    env = dict(os.environ, HOME=str(work), JUPYTER_RUNTIME_DIR=str(work / "runtime"),
               IPYTHONDIR=str(work / "ipython"), XDG_CACHE_HOME=str(work / "cache"), **extra)
    env.pop("HFTINFRA_HOST", None)
    out = work / "_build"
    proc = subprocess.run([*prefix, str(REPO / "tools" / "build.py"), "--execute-only", "--out", str(out)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=900)
    try:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        report = json.loads((out / "execution" / "report.json").read_text())
        assert all(r["status"] == "ok" for r in report["notebooks"]), report
    finally:
        shutil.rmtree(work, ignore_errors=True)
