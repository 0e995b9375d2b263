"""The book: built with warnings as errors, offline, small pages, reader features present,
and a failing notebook fails the build naming the notebook and the cell."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import booktest  # noqa: E402

pytestmark = pytest.mark.slow

PAGE_LIMIT_BYTES = 1_500_000
CDN_HOSTS = ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "cdn.plot.ly", "polyfill.io",
             "fonts.googleapis.com", "mathjax.org", "binder", "hypothes.is")
# A tag that makes the browser fetch something: scripts, stylesheets, images, frames, media.
FETCHING_TAG = re.compile(
    r"<(script|img|iframe|source|video|audio|embed)\b[^>]*\bsrc=\"(?P<src>[^\"]+)\"|"
    r"<link\b[^>]*\bhref=\"(?P<href>[^\"]+)\"[^>]*>", re.I)


@pytest.fixture(scope="module")
def built():
    run = booktest.book()
    assert run.returncode == 0, f"make book failed:\n{run.output[-6000:]}"
    return run


def pages(html: Path) -> list[Path]:
    """Every page a reader sees; Jupyter Book's index.html is a one-line redirect to the root."""
    return sorted(p for p in html.rglob("*.html")
                  if "_static" not in p.parts and 'http-equiv="Refresh"' not in p.read_text()[:200])


def test_every_toc_document_is_a_page(built):
    import build

    for doc in build.toc_files(REPO):
        stem = doc.removesuffix(".ipynb").removesuffix(".md")
        assert (built.html / f"{stem}.html").is_file(), f"{doc} in _toc.yml was not rendered"


def test_no_page_fetches_from_another_host(built):
    offenders = []
    for page in pages(built.html):
        text = page.read_text(errors="replace")
        for m in FETCHING_TAG.finditer(text):
            url = m.group("src") or m.group("href")
            tag = m.group(0)
            if m.group("href") and not re.search(r'rel="(stylesheet|preload|icon|shortcut icon|modulepreload)"', tag):
                continue  # <link rel="next">, rel="search" and the like are navigation, not fetches
            if re.match(r"(https?:)?//", url):
                offenders.append(f"{page.relative_to(built.html)}: {tag[:160]}")
        for host in CDN_HOSTS:
            if host in text:
                offenders.append(f"{page.relative_to(built.html)}: names {host}")
    assert not offenders, "pages that would reach the network:\n" + "\n".join(offenders)


def test_no_page_is_over_the_size_limit(built):
    sizes = {p.relative_to(built.html): p.stat().st_size for p in pages(built.html)}
    too_big = {str(k): v for k, v in sizes.items() if v > PAGE_LIMIT_BYTES}
    assert not too_big, f"pages over {PAGE_LIMIT_BYTES} bytes: {too_big}"
    # The figure page must not carry plotly.js itself (the 'notebook' renderer inlines 4.8 MB).
    topo = (built.html / "system-tuning" / "cpu-topology.html").read_text()
    assert "plotly.js v" not in topo and len(topo) < PAGE_LIMIT_BYTES


def test_plotly_js_is_served_once_from_the_plotly_wheel(built):
    import plotly

    copies = list(built.html.rglob("plotly*.min.js"))
    assert [p.relative_to(built.html).as_posix() for p in copies] == ["_static/lib/plotly.min.js"]
    wheel = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert copies[0].read_bytes() == wheel.read_bytes()
    # Loaded on demand by hftinfra.js, never by a <script> tag on every page.
    for page in pages(built.html):
        assert "lib/plotly.min.js" not in page.read_text(), page


def test_widget_libraries_only_on_pages_with_widget_state(built):
    lib = built.html / "_static" / "lib"
    assert (lib / "require.js").is_file() and (lib / "html-manager" / "embed-amd.js").is_file()
    with_state = []
    for page in pages(built.html):
        text = page.read_text()
        has_state = "application/vnd.jupyter.widget-state+json" in text
        has_manager = "lib/html-manager/embed-amd.js" in text
        assert has_state == has_manager, f"{page}: widget state {has_state}, widget manager {has_manager}"
        if has_state:
            with_state.append(page.relative_to(built.html).as_posix())
            assert "lib/require.js" in text
    assert "system-tuning/cpu-topology.html" in with_state


def test_own_static_files_are_on_every_page_and_small(built):
    for name in ("hftinfra.js", "hftinfra.css"):
        size = (built.html / "_static" / name).stat().st_size
        assert size < 20_000, f"{name} is {size} bytes: it loads on every page"
    for page in pages(built.html):
        text = page.read_text()
        assert "_static/hftinfra.js" in text and "_static/hftinfra.css" in text, page


def test_every_notebook_page_names_its_host(built):
    for nb in booktest.toc_notebooks():
        page = built.html / (nb.removesuffix(".ipynb") + ".html")
        text = page.read_text()
        assert 'class="hftinfra-banner' in text, f"{page} has no host banner (call hftinfra.page.open_page)"
    topo = (built.html / "system-tuning" / "cpu-topology.html").read_text()
    # This machine is a VM: its pages must say so in the banner's words.
    from hftinfra.host import open_host
    from hftinfra.identity import read_identity

    if read_identity(open_host(None)).virtualization.detected is True:
        assert "hftinfra-banner--vm" in topo and "not those of a trading server" in topo


def test_reader_features_are_there(built):
    html = built.html
    assert (html / "search.html").is_file() and (html / "searchindex.js").is_file()
    index = (html / "searchindex.js").read_text()
    assert "topolog" in index, "the search index does not know the topology page"
    topo = (html / "system-tuning" / "cpu-topology.html").read_text()
    # download as .ipynb: the executed notebook, outputs included
    m = re.search(r'href="([^"]*_sources/system-tuning/cpu-topology\.ipynb)"', topo)
    assert m, "no download link to the .ipynb"
    source = (html / "system-tuning" / m.group(1)).resolve()
    nb = json.loads(source.read_text())
    assert any(cell.get("outputs") for cell in nb["cells"]), "the downloadable notebook has no outputs"
    assert "theme-switch-button" in topo, "no light/dark switch"
    assert 'class="prev-next-area"' in topo, "no previous/next navigation"
    assert "bd-toc" in topo or "page-toc" in topo, "no per-page table of contents"


def test_build_reports_times_and_sizes(built):
    info = built.info
    for key in ("execute_seconds", "html_seconds", "largest_page", "largest_page_bytes", "static_bytes", "lib_bytes"):
        assert key in info, f"build-info.json lacks {key}"
    assert info["largest_page_bytes"] <= PAGE_LIMIT_BYTES
    report = built.report
    assert {r["notebook"] for r in report["notebooks"]} == set(booktest.toc_notebooks())


# ------------------------------------------------------------------------------------------
# Failure: a tiny book of its own, so the repository's build is left alone.


def _tiny_book(tmp_path: Path, cells: list[str], kernel: str = "python3") -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    root = tmp_path / "book"
    root.mkdir()
    (root / "_config.yml").write_text((REPO / "_config.yml").read_text())
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: bad\n")
    (root / "intro.md").write_text("# Tiny\n\nA book with one notebook.\n")
    nb = new_notebook(cells=[new_markdown_cell("# Bad\n\nIt fails.")] + [new_code_cell(c) for c in cells],
                      metadata={"kernelspec": {"name": kernel, "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, root / "bad.ipynb")
    return root


def test_a_failing_cell_fails_the_build_naming_notebook_and_cell(tmp_path):
    root = _tiny_book(tmp_path, ["x = 1", "raise ValueError('probe exploded')", "y = 2"])
    run = booktest.run_build("--root", str(root), "--out", str(root / "_build"))
    assert run.returncode == 1, run.output
    assert "FAILED bad.ipynb, cell 3 (raise ValueError('probe exploded')): ValueError: probe exploded" in run.output
    report = json.loads((root / "_build" / "execution" / "report.json").read_text())
    (entry,) = report["notebooks"]
    assert entry["status"] == "failed" and entry["cell"] == 3
    assert "probe exploded" in Path(entry["log"]).read_text()
    assert not (root / "_build" / "html").exists(), "HTML was built although a notebook failed"


def test_a_kernel_that_cannot_start_is_tried_twice_and_its_stderr_reported(tmp_path):
    import os

    spec = tmp_path / "jupyter" / "kernels" / "broken"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", "import sys; sys.stderr.write('kernel start-up exploded'); sys.exit(3)",
                 "{connection_file}"],
        "display_name": "broken", "language": "python"}))
    root = _tiny_book(tmp_path, ["x = 1"], kernel="broken")
    env = dict(os.environ, JUPYTER_PATH=str(tmp_path / "jupyter"))
    run = booktest.run_build("--root", str(root), "--out", str(root / "_build"), "--execute-only", env=env)
    assert run.returncode == 1, run.output
    assert "FAILED bad.ipynb, before any cell ran" in run.output
    (entry,) = json.loads((root / "_build" / "execution" / "report.json").read_text())["notebooks"]
    log = Path(entry["log"]).read_text()
    assert log.count("kernel start-up exploded") == 2, log  # first try, and the one retry
    assert "starting it once more" in log


def test_a_notebook_over_its_time_fails_naming_the_cell(tmp_path):
    root = _tiny_book(tmp_path, ["import time", "time.sleep(120)"])
    run = booktest.run_build("--root", str(root), "--out", str(root / "_build"), "--timeout", "8")
    assert run.returncode == 1, run.output
    assert "bad.ipynb, cell 3 (time.sleep(120)): did not finish within 8 s" in run.output


def test_a_host_that_is_not_a_snapshot_is_one_line_and_exit_2(tmp_path):
    import os

    env = dict(os.environ, HFTINFRA_HOST=str(tmp_path / "no-such-host"))
    run = booktest.run_build("--execute-only", "--out", str(tmp_path / "_build"), env=env)
    assert run.returncode == 2, run.output
    lines = [line for line in run.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "HFTINFRA_HOST=" in lines[0] and "no such snapshot" in lines[0], run.output
