#!/usr/bin/env python3
"""Build the book: stage the sources, execute every notebook, render HTML, add local assets.

    python tools/build.py [--root DIR] [--jobs N] [--timeout S] [--execute-only] [NOTEBOOK ...]

Notebooks are committed without outputs, so the book is rendered from a staged copy
(``_build/book``) whose notebooks nbclient has just executed against this host (or the
snapshot named by ``HFTINFRA_HOST``). Jupyter Book's own execution stays off: its cache keys
on the code only and would serve stale live probes.

Outputs under ``ROOT/_build``:
  book/        the staged sources, notebooks with their outputs (also what "download .ipynb" serves)
  html/        the site
  execution/   report.json, report.txt, and for a failed notebook its log and partial notebook
  jupyter/     a kernel spec pinned to this interpreter, so kernels import this venv's hftinfra

Exit status: 0 built; 1 a notebook failed or Sphinx warned (warnings are errors); 2 bad
input (HFTINFRA_HOST is not a snapshot, assets missing).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import assets  # noqa: E402  (tools/assets.py, beside this file)

# What the book is made of; everything else at the top of the repository (library, tests,
# tooling, caches) stays out of the staged copy.
BOOK_SKIP_DIRS = {"src", "tests", "tools", "node_modules", "_build", ".venv", ".git", ".ci",
                  ".github", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
                  ".ipynb_checkpoints"}
BOOK_TOP_FILES = (".md", ".yml", ".yaml", ".ipynb", ".bib")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class BuildError(Exception):
    """Bad input the user can fix: printed as one line, exit 2."""


def log(msg: str) -> None:
    print(f"[book] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Staging


def stage(source: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for entry in sorted(source.iterdir()):
        name = entry.name
        if entry.is_dir():
            if name in BOOK_SKIP_DIRS or name.startswith(".") or name.endswith(".egg-info"):
                continue
            shutil.copytree(entry, dest / name, ignore=shutil.ignore_patterns(
                "__pycache__", ".ipynb_checkpoints", "*.pyc"))
        elif entry.suffix in BOOK_TOP_FILES and name not in ("README.md",):
            shutil.copy2(entry, dest / name)


def toc_files(book: Path) -> list[str]:
    """Every document named in _toc.yml, as written there (no suffix)."""
    import yaml

    toc = yaml.safe_load((book / "_toc.yml").read_text())
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    found.append(str(node[key]))
            for value in node.values():
                if isinstance(value, (list, dict)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def toc_notebooks(book: Path) -> list[str]:
    out = []
    for doc in toc_files(book):
        stem = doc[:-6] if doc.endswith(".ipynb") else doc
        if (book / f"{stem}.ipynb").is_file():
            out.append(f"{stem}.ipynb")
    return out


# ---------------------------------------------------------------------------------------------
# Execution


def kernel_spec_dir(build: Path) -> Path:
    """A python3 kernel spec that runs this interpreter: a user's own ~/.local python3 spec
    must not make the book import some other installation's hftinfra."""
    base = build / "jupyter"
    spec = base / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (hftinfra)", "language": "python",
        "metadata": {"debugger": False},
    }, indent=1))
    return base


def _cell_head(cell) -> str:
    for line in str(cell.get("source", "")).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()[:80]
    return ""


def execute_one(book: str, rel: str, timeout: float, logdir: str) -> dict:
    """Run in a worker process: execute one staged notebook in place."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(book) / rel
    nb = nbformat.read(path, as_version=4)
    current = {"index": None}

    def on_start(cell, cell_index, **_):
        current["index"] = cell_index

    # One budget for the whole notebook (asyncio.wait_for below), not one per cell.
    client = NotebookClient(
        nb, timeout=None, kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(path.parent)}}, store_widget_state=True,
        on_cell_start=on_start, record_timing=False,
    )
    started = time.monotonic()
    result = {"notebook": rel, "status": "ok", "seconds": None, "cell": None, "cells": len(nb.cells),
              "code": None, "error": None, "log": None}

    # The kernel process's own stderr (ipykernel's start-up warnings, a crash) goes to a file
    # beside the report instead of interleaving with the build's output.
    kernel_log = Path(logdir) / "kernels" / (rel[:-6] + ".stderr")
    kernel_log.parent.mkdir(parents=True, exist_ok=True)

    async def run():
        with open(kernel_log, "a") as err:
            task = asyncio.ensure_future(client.async_execute(stderr=err))
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                # Cancelling shuts the kernel down, and nbclient may then report a dead kernel:
                # the cause to report is the time limit.
                task.cancel()
                try:
                    await task
                except BaseException:
                    pass
                raise TimeoutError(timeout)
            task.result()

    def run_with_one_retry():
        # A kernel that never started (no reply to kernel_info, died at start-up) is a fault of
        # the machine of the moment, not of the notebook: try once more, then report it with
        # the kernel's own stderr.
        try:
            asyncio.run(run())
        except RuntimeError as exc:
            if current["index"] is not None or "kernel" not in str(exc).lower():
                raise
            with open(kernel_log, "a") as err:
                err.write(f"\n[book] kernel did not start ({exc}); starting it once more\n")
            asyncio.run(run())

    try:
        run_with_one_retry()
    except (CellExecutionError, CellTimeoutError, DeadKernelError, asyncio.TimeoutError, TimeoutError,
            RuntimeError) as exc:
        idx = current["index"]
        if isinstance(exc, CellExecutionError):
            result["status"] = "failed"
            result["error"] = f"{exc.ename}: {ANSI.sub('', str(exc.evalue))}".strip()
            detail = ANSI.sub("", exc.traceback or "")
        elif isinstance(exc, (DeadKernelError, RuntimeError)):
            result["status"] = "failed"
            stderr_tail = kernel_log.read_text(errors="replace")[-2000:] if kernel_log.exists() else ""
            result["error"] = f"kernel died: {exc}" if isinstance(exc, DeadKernelError) else f"{exc}"
            detail = f"{exc}\n\nkernel stderr ({kernel_log}):\n{stderr_tail}"
        else:
            result["status"] = "timeout"
            result["error"] = f"did not finish within {timeout:g} s"
            detail = result["error"]
        if idx is not None:
            result["cell"] = idx + 1
            result["code"] = _cell_head(nb.cells[idx])
        logfile = Path(logdir) / (rel[:-6] + ".log")
        logfile.parent.mkdir(parents=True, exist_ok=True)
        where = f"cell {result['cell']} of {len(nb.cells)}" if result["cell"] else "before any cell ran"
        logfile.write_text(f"{rel}, {where}\n"
                           f"{nb.cells[idx].source if idx is not None else ''}\n\n{detail}\n")
        nbformat.write(nb, Path(logdir) / rel)
        result["log"] = str(logfile)
    finally:
        result["seconds"] = round(time.monotonic() - started, 2)
    if result["status"] == "ok":
        drop_notebook_ui_mimetypes(nb)
        nbformat.write(nb, path)
    return result


def _child(conn, book: str, rel: str, timeout: float, logdir: str) -> None:
    try:
        conn.send(execute_one(book, rel, timeout, logdir))
    finally:
        conn.close()


def execute_isolated(book: str, rel: str, timeout: float, logdir: str) -> dict:
    """``execute_one`` in a fresh spawned process; a process that dies without an answer is
    reported as a failure of its notebook."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, book, rel, timeout, logdir), daemon=True)
    proc.start()
    child.close()
    try:
        # The notebook's own budget plus time to start and to write its report.
        if parent.poll(timeout + 120):
            return parent.recv()
        proc.kill()
        error = f"worker gave no answer within {timeout + 120:g} s"
    except EOFError:
        error = "worker exited without an answer"
    finally:
        proc.join(10)
    return {"notebook": rel, "status": "failed", "seconds": None, "cell": None, "code": None,
            "error": f"{error} (exit {proc.exitcode})", "log": None}


# Kept for JupyterLab and VS Code, which draw them natively; the book renders the text/html
# beside them, and myst-nb would warn (an error under -W) about a type it cannot render.
NOTEBOOK_UI_MIMETYPES = ("application/vnd.plotly.v1+json",)


def drop_notebook_ui_mimetypes(nb) -> None:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data and "text/html" in data:
                for mime in NOTEBOOK_UI_MIMETYPES:
                    data.pop(mime, None)


def execute_all(book: Path, notebooks: list[str], jobs: int, timeout: float, build: Path) -> dict:
    logdir = build / "execution"
    if logdir.exists():
        shutil.rmtree(logdir)
    logdir.mkdir(parents=True)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(kernel_spec_dir(build))] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p])
    # Kernels do not print the "frozen modules" debugger warning into every page.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    started = time.monotonic()
    results: list[dict] = []
    workers = max(1, min(jobs, len(notebooks)))
    log(f"executing {len(notebooks)} notebook(s) on {workers} worker(s), timeout {timeout:g} s each")
    # One fresh process per notebook, so nothing of one notebook's kernel client (zmq context,
    # event loop) is left over for the next. Threads start and wait for them: a
    # ProcessPoolExecutor replacing its workers (max_tasks_per_child) can hang for good when a
    # worker exits as another starts (CPython gh-115634), which a long book makes likely.
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(execute_isolated, str(book), rel, timeout, str(logdir)): rel for rel in notebooks}
        for fut in concurrent.futures.as_completed(futures):
            rel = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # a worker crash must still name its notebook
                res = {"notebook": rel, "status": "failed", "seconds": None, "cell": None,
                       "code": None, "error": f"{exc.__class__.__name__}: {exc}", "log": None}
            results.append(res)
            log(f"  {res['status']:<7} {res['seconds'] or 0:6.1f} s  {rel}")
    report = {
        "host": os.environ.get("HFTINFRA_HOST") or "live",
        "jobs": workers,
        "timeout_s": timeout,
        "seconds": round(time.monotonic() - started, 2),
        "notebooks": sorted(results, key=lambda r: r["notebook"]),
    }
    (logdir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (logdir / "report.txt").write_text(format_report(report))
    return report


def failure_line(res: dict) -> str:
    where = f"cell {res['cell']}" if res["cell"] else "before any cell ran"
    code = f" ({res['code']})" if res.get("code") else ""
    return f"{res['notebook']}, {where}{code}: {res['error']}"


def format_report(report: dict) -> str:
    lines = [f"host: {report['host']}  notebooks: {len(report['notebooks'])}  "
             f"workers: {report['jobs']}  wall time: {report['seconds']} s"]
    for res in report["notebooks"]:
        lines.append(f"{res['status']:<8}{res['seconds'] or 0:7.1f} s  {res['notebook']}")
        if res["status"] != "ok":
            lines.append(f"          {failure_line(res)}")
            if res.get("log"):
                lines.append(f"          traceback: {res['log']}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# HTML


def build_html(book: Path, root: Path) -> float:
    started = time.monotonic()
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(book), "--path-output", str(root),
           "--all", "-W", "-n", "--keep-going", "-q"]
    log("rendering HTML: " + " ".join(cmd[1:]))
    # Jupyter Book's closing banner goes to stdout; Sphinx's warnings and errors to stderr,
    # which stays attached. The banner is shown only when the build failed.
    proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout)
        raise SystemExit(f"[book] HTML build failed (Sphinx warnings are errors; see above), exit {proc.returncode}")
    return time.monotonic() - started


def check_host_env() -> None:
    """One line and exit 2 when HFTINFRA_HOST is not a snapshot; an absolute path for kernels,
    which run in the notebook's own folder."""
    spec = os.environ.get("HFTINFRA_HOST", "")
    if not spec or spec == "live":
        return
    from hftinfra.host import HostError, open_host

    try:
        open_host(spec)
    except HostError as exc:
        raise BuildError(f"HFTINFRA_HOST={spec}: {exc}") from None
    if spec not in ("/",):
        os.environ["HFTINFRA_HOST"] = str(Path(spec).expanduser().resolve())


def human(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=REPO, help="book root (default: the repository)")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder, named _build (default: ROOT/_build)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("NB_JOBS", 0)) or os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("NB_TIMEOUT", 600)),
                    help="seconds per notebook (default 600, or $NB_TIMEOUT)")
    ap.add_argument("--execute-only", action="store_true", help="execute the notebooks, build no HTML")
    ap.add_argument("notebooks", nargs="*", help="only these notebooks (paths relative to the root)")
    args = ap.parse_args(argv)

    root = args.root.resolve()
    build = (args.out or root / "_build").resolve()
    if build.name != "_build":
        # Jupyter Book writes to <path-output>/_build/html: the folder's name is not ours to pick.
        print(f"[book] error: --out must name a folder called _build, not {build}", file=sys.stderr)
        return 2
    book = build / "book"
    total_started = time.monotonic()
    try:
        check_host_env()
        if not args.execute_only:
            assets.check(REPO)
        stage(root, book)
        notebooks = toc_notebooks(book)
        if args.notebooks:
            wanted = {n.removeprefix("./") for n in args.notebooks}
            unknown = wanted - set(notebooks)
            if unknown:
                raise BuildError(f"not in _toc.yml: {', '.join(sorted(unknown))}")
            notebooks = [n for n in notebooks if n in wanted]
    except (BuildError, assets.AssetError) as exc:
        print(f"[book] error: {exc}", file=sys.stderr)
        return 2

    report = execute_all(book, notebooks, args.jobs, args.timeout, build) if notebooks else None
    if report:
        failed = [r for r in report["notebooks"] if r["status"] != "ok"]
        log(f"executed {len(notebooks)} notebook(s) in {report['seconds']} s "
            f"(report: {build / 'execution' / 'report.txt'})")
        if failed:
            for res in failed:
                print(f"[book] FAILED {failure_line(res)}", file=sys.stderr)
                if res.get("log"):
                    print(f"[book]        traceback: {res['log']}", file=sys.stderr)
            return 1
    if args.execute_only:
        return 0

    html_seconds = build_html(book, build.parent)
    html = build / "html"
    copied = assets.install(REPO, html / "_static" / "lib")
    sizes = assets.measure(html)
    info = {
        "host": os.environ.get("HFTINFRA_HOST") or "live",
        "execute_seconds": report["seconds"] if report else 0,
        "html_seconds": round(html_seconds, 2),
        "total_seconds": round(time.monotonic() - total_started, 2),
        "largest_page": sizes["largest_page"],
        "largest_page_bytes": sizes["largest_page_bytes"],
        "static_bytes": sizes["static_bytes"],
        "lib_bytes": sizes["lib_bytes"],
        "lib_files": copied,
        "pages": sizes["pages"],
    }
    (build / "build-info.json").write_text(json.dumps(info, indent=1) + "\n")
    log(f"HTML built in {html_seconds:.1f} s; {sizes['pages']} pages, largest "
        f"{sizes['largest_page']} ({human(sizes['largest_page_bytes'])}); shared static assets "
        f"{human(sizes['static_bytes'])} (of which the page libraries in _static/lib {human(sizes['lib_bytes'])})")
    rel = os.path.relpath(html, Path.cwd())
    log(f"done in {info['total_seconds']:.1f} s. The site is in {html}")
    log(f"serve it with:  python3 -m http.server -d {rel} 8000   then open http://localhost:8000/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
