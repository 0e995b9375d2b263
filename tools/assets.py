"""The browser libraries the site serves itself, so no page reaches a CDN.

- plotly.js from the installed plotly wheel (``plotly/package_data/plotly.min.js``), served
  once at ``_static/lib/plotly.min.js`` and loaded by ``_static/hftinfra.js`` only on pages
  that hold a figure.
- require.js and ``@jupyter-widgets/html-manager``'s ``embed-amd.js`` (with the icon fonts it
  asks for) from ``node_modules`` (package.json + package-lock.json); myst-nb adds them only
  to pages that embed widget state (``nb_ipywidgets_js`` in _config.yml).

They are copied into the built site, not into ``_static/`` of the sources: Jupyter Book 1
adds every .js and .css found under ``html_static_path`` to every page.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# destination (under _static/lib) -> source relative to node_modules
NPM_FILES = {
    "require.js": "requirejs/require.js",
    "html-manager/embed-amd.js": "@jupyter-widgets/html-manager/dist/embed-amd.js",
}
# embed-amd.js resolves its fonts next to itself; browsers pick woff2, then woff, then ttf.
NPM_FONT_DIR = "@jupyter-widgets/html-manager/dist"
FONT_SUFFIXES = (".woff2", ".woff", ".ttf")


# Each AMD module embed-amd.js defines ("@jupyter-widgets/base", "@jupyter-widgets/controls",
# "@jupyter-widgets/html-manager/dist/libembed-amd", ...) takes the folder of its own module
# URI, resolved against require.js's base URL (the page's folder), as the place of its fonts.
# Mapping the prefixes onto the copy in _static/lib/html-manager/ makes every page, at any
# depth, find them there; the longest prefix wins in require.js.
REQUIRE_PATHS_JS = """\
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "") + "html-manager";
  window.require.config({ paths: {
    "@jupyter-widgets": here,
    "@jupyter-widgets/html-manager/dist": here
  } });
})();
"""


class AssetError(Exception):
    pass


def plotly_js() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise AssetError(f"{path} is missing: the installed plotly wheel ships no plotly.min.js")
    return path


def _npm_sources(repo: Path) -> dict[str, Path]:
    modules = repo / "node_modules"
    out = {dest: modules / src for dest, src in NPM_FILES.items()}
    font_dir = modules / NPM_FONT_DIR
    if font_dir.is_dir():
        for font in sorted(font_dir.iterdir()):
            if font.suffix in FONT_SUFFIXES:
                out[f"html-manager/{font.name}"] = font
    return out


def check(repo: Path) -> None:
    """Raise AssetError (one line for the user) when an asset cannot be found."""
    plotly_js()
    missing = [str(p) for p in _npm_sources(repo).values() if not p.is_file()]
    if missing:
        raise AssetError(f"{missing[0]} is missing: run `make book` (npm ci installs the page assets)")


def install(repo: Path, dest: Path) -> dict[str, int]:
    """Copy every asset into ``dest``; returns {relative name: bytes}."""
    sources = {"plotly.min.js": plotly_js(), **_npm_sources(repo)}
    copied: dict[str, int] = {}
    for name, src in sources.items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        copied[name] = target.stat().st_size
    (dest / "require-paths.js").write_text(REQUIRE_PATHS_JS)
    copied["require-paths.js"] = len(REQUIRE_PATHS_JS)
    return copied


def measure(html: Path) -> dict:
    """Sizes a reader downloads: each page's own HTML, and the shared static folder."""
    pages = sorted(html.rglob("*.html"))
    largest = max(pages, key=lambda p: p.stat().st_size) if pages else None
    static = html / "_static"
    lib = static / "lib"

    def total(folder: Path) -> int:
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0

    return {
        "pages": len(pages),
        "largest_page": str(largest.relative_to(html)) if largest else None,
        "largest_page_bytes": largest.stat().st_size if largest else 0,
        "static_bytes": total(static),
        "lib_bytes": total(lib),
    }
