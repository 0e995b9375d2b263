"""ipywidgets controls for the pages.

They must work in the static book too, where no kernel answers callbacks: a control switches
between views rendered in advance, linked in the browser with ``jslink`` (the link is part of
the embedded widget state), never through a Python ``observe`` handler.
"""

from __future__ import annotations

import html

from hftinfra.viz import ROLE_COLOURS
from hftinfra.viz.topology import describe_cpu, roles_of

_ROLE_FALLBACK = "unknown"


def _cpu_card(cpu, role: str) -> str:
    colour = ROLE_COLOURS.get(role, ROLE_COLOURS[_ROLE_FALLBACK])
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in describe_cpu(cpu, role))
    return (f'<div class="hftinfra-cpu-detail" data-cpu="{cpu.id}">'
            f'<span style="display:inline-block;width:.9em;height:.9em;background:{colour};'
            f'vertical-align:middle;margin-right:.4em"></span><b>CPU {cpu.id}</b>'
            f"<table>{rows}</table></div>")


def cpu_picker(topo, isolation=None, initial: int | None = None):
    """Pick a CPU, see its role, SMT siblings, NUMA node and the caches it shares.

    A Dropdown linked in the browser to a Stack of one pre-rendered card per CPU."""
    import ipywidgets as w

    roles = roles_of(isolation)
    cpus = list(topo.cpus)
    if not cpus:
        return w.HTML("<p>No CPU could be read on this host.</p>")
    options = [(f"CPU {c.id} — {roles.get(c.id, _ROLE_FALLBACK)}", i) for i, c in enumerate(cpus)]
    start = 0
    if initial is not None:
        start = next((i for i, c in enumerate(cpus) if c.id == initial), 0)
    else:
        # Open on an isolated CPU when there is one: that is the CPU a reader cares about.
        start = next((i for i, c in enumerate(cpus) if roles.get(c.id) == "isolated"), 0)
    picker = w.Dropdown(options=options, index=start, description="CPU",
                        layout=w.Layout(width="22em"))
    cards = w.Stack([w.HTML(_cpu_card(c, roles.get(c.id, _ROLE_FALLBACK))) for c in cpus], selected_index=start)
    # Dropdown.value lives only in the kernel; ``index`` is the synced trait the browser sees.
    link = w.jslink((picker, "index"), (cards, "selected_index"))
    box = w.VBox([picker, cards])
    box.link = link  # kept for callers and tests: the link lives in the browser
    box.add_class("hftinfra-cpu-picker")
    return box


__all__ = ["cpu_picker"]
