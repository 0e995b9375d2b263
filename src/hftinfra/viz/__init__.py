"""Plotly views shared by every page: offline rendering and the colours of CPU roles.

A figure renders as a mime bundle with two entries:

- ``application/vnd.plotly.v1+json`` for JupyterLab and VS Code, which draw it with their
  own plotly;
- ``text/html``: a container plus the figure JSON in a script tag the browser does not run.
  The book's ``_static/hftinfra.js`` draws it with the site's one local copy of plotly.js.

plotly's own renderers do not fit a static offline site: ``plotly_mimetype`` is dropped by
myst-nb, ``notebook`` inlines plotly.js (about 4.8 MB) into every page with a figure, and
``notebook_connected`` loads it from a CDN.
"""

from __future__ import annotations

import html
import json
import uuid

RENDERER = "hftinfra"
FIGURE_MIMETYPE = "application/vnd.hftinfra.plotly+json"

# Roles a CPU plays on a latency-tuned host. Blue/orange stay distinct for the common forms
# of colour blindness; grey and purple mark CPUs that are not in play or not known.
ROLE_COLOURS = {
    "housekeeping": "#4285f4",
    "isolated": "#e8710a",
    "offline": "#9aa0a6",
    "unknown": "#a142f4",
}
ROLE_ORDER = ("isolated", "housekeeping", "offline", "unknown")
ROLE_HELP = {
    "housekeeping": "runs the kernel's and the OS's own work",
    "isolated": "kept free for latency-critical threads",
    "offline": "not running",
    "unknown": "role could not be read",
}


def role_colour(role: str) -> str:
    return ROLE_COLOURS.get(role, ROLE_COLOURS["unknown"])


def _script_safe(text: str) -> str:
    """JSON inside <script>: a '</script>' or '<!--' in a label must not end the element."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def figure_html(fig_dict: dict, height: int | None = None) -> str:
    """The HTML half of a figure's bundle (see module docstring)."""
    from plotly.io import to_json

    div_id = f"hftinfra-fig-{uuid.uuid4().hex[:12]}"
    payload = _script_safe(to_json(fig_dict, validate=False, remove_uids=True))
    layout = fig_dict.get("layout") or {}
    px = height or layout.get("height") or 450
    title = (layout.get("title") or {}).get("text") if isinstance(layout.get("title"), dict) else None
    label = f' aria-label="{html.escape(str(title))}"' if title else ""
    return (
        f'<div class="hftinfra-plotly" id="{div_id}" role="img"{label} style="min-height:{int(px)}px"></div>'
        f'<script type="{FIGURE_MIMETYPE}" data-target="{div_id}">{payload}</script>'
    )


def figure_bundle(fig_dict: dict) -> dict:
    from plotly.io import to_json

    return {
        "application/vnd.plotly.v1+json": json.loads(to_json(fig_dict, validate=False, remove_uids=True)),
        "text/html": figure_html(fig_dict),
        "text/plain": _plain(fig_dict),
    }


def _plain(fig_dict: dict) -> str:
    layout = fig_dict.get("layout") or {}
    title = layout.get("title")
    text = title.get("text") if isinstance(title, dict) else title
    return f"<plotly figure: {text or 'untitled'}>"


def setup_offline() -> None:
    """Make every figure in this kernel render through :func:`figure_bundle`. Idempotent."""
    import plotly.io as pio
    from plotly.io._base_renderers import MimetypeRenderer

    class OfflineRenderer(MimetypeRenderer):
        """Both the plotly mimetype (notebook UIs) and local-plotly.js HTML (the book)."""

        def to_mimebundle(self, fig_dict):
            return figure_bundle(fig_dict)

    pio.renderers[RENDERER] = OfflineRenderer()
    pio.renderers.default = RENDERER


__all__ = [
    "FIGURE_MIMETYPE", "RENDERER", "ROLE_COLOURS", "ROLE_HELP", "ROLE_ORDER", "figure_bundle",
    "figure_html", "role_colour", "setup_offline",
]
