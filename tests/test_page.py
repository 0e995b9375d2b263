"""The page helpers: host banner, bad hosts, reference hosts, offline figures, widgets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hftinfra import page
from hftinfra.host import Reason, Unread, open_host
from hftinfra.identity import HostIdentity, Virtualization

REPO = Path(__file__).resolve().parents[1]
HOSTS = REPO / "tests" / "hosts"


def identity(virt, is_live=True, **kw) -> HostIdentity:
    base = dict(source="live" if is_live else "/snap", is_live=is_live, hostname="box1", kernel="6.1.0-18-amd64",
                cpu_model="Intel(R) Xeon(R) Gold 6354 CPU @ 3.00GHz", cpus_online=72, virtualization=virt,
                when="2026-11-01T10:00:00+00:00")
    base.update(kw)
    return HostIdentity(**base)


def test_banner_on_a_vm_is_a_warning_that_says_so():
    b = page.Banner(identity(Virtualization(True, "kvm", "/sys/class/dmi/id/sys_vendor = 'QEMU'")), "live host")
    html = b._repr_html_()
    assert "hftinfra-banner--vm" in html
    assert "virtual machine (kvm) — figures are not those of a trading server" in html
    assert "6.1.0-18-amd64" in html and "Gold 6354" in html and "72 online" in html and "2026-11-01" in html
    assert "virtual machine" in str(b)


def test_banner_on_bare_metal_and_on_a_snapshot():
    bare = page.Banner(identity(Virtualization(False, None, "no 'hypervisor' cpuinfo flag")), "live host")
    assert bare.kind == "live" and bare.headline == "Ran on bare metal"
    snap = page.Banner(identity(Virtualization(False, None, "x"), is_live=False), "snapshot tests/hosts/tuned-2s")
    assert snap.kind == "snapshot" and snap.headline.startswith("Rendered from a snapshot of bare metal")
    assert "snapshot tests/hosts/tuned-2s" in snap._repr_html_()


def test_banner_with_unknown_virtualisation_does_not_claim_bare_metal():
    unread = Unread(Reason.MISSING, "/proc/cpuinfo", "neither cpuinfo nor DMI could be read")
    b = page.Banner(identity(Virtualization(unread, None, "no evidence"), cpus_online=unread), "live host")
    assert b.kind == "unknown"
    assert b.headline != "Ran on bare metal" and "virtualisation is unknown" in b.headline
    assert "unknown (missing" in b._repr_html_()


def test_banner_escapes_what_it_read():
    b = page.Banner(identity(Virtualization(False, None, "x"), hostname="<script>x</script>"), "live host")
    assert "<script>x" not in b._repr_html_()


def test_open_page_on_the_live_host_shows_the_banner(capsys, monkeypatch):
    monkeypatch.delenv("HFTINFRA_HOST", raising=False)
    host = page.open_page()
    assert host.is_live
    out = capsys.readouterr().out  # outside IPython the banner prints as text
    assert "kernel:" in out and "virtualisation:" in out


@pytest.mark.parametrize("bad", ["/no/such/snapshot", "README.md", "/etc/hostname"])
def test_open_page_with_a_bad_host_is_one_line(bad, monkeypatch):
    monkeypatch.setenv("HFTINFRA_HOST", bad)
    with pytest.raises(page.PageError) as exc:
        page.open_page()
    message = str(exc.value)
    assert message.startswith(f"HFTINFRA_HOST={bad}: ") and "\n" not in message
    # IPython shows _render_traceback_ instead of a traceback: one line.
    assert len(exc.value._render_traceback_()) == 1


def test_module_entry_point_exits_non_zero_with_one_line(tmp_path):
    env = dict(os.environ, HFTINFRA_HOST=str(tmp_path / "missing"))
    proc = subprocess.run([sys.executable, "-m", "hftinfra.page"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    assert "no such snapshot" in proc.stderr


def test_notebook_cell_with_a_bad_host_fails_with_one_line(tmp_path):
    """What a reader sees in the notebook: nbclient's error is the one line, no traceback."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(f"from hftinfra.page import open_page\nopen_page({str(tmp_path)!r} + '/x')")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    with pytest.raises(CellExecutionError) as exc:
        NotebookClient(nb, timeout=60).execute()
    assert exc.value.ename == "PageError"
    (err,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert len(err.traceback) == 1 and "no such snapshot" in err.traceback[0]


def test_reference_host_is_found_in_the_repository():
    host = page.reference_host("tuned-2s")
    assert not host.is_live and Path(host.source).resolve() == (HOSTS / "tuned-2s").resolve()
    assert page.describe_source(host) == "snapshot tests/hosts/tuned-2s"


def test_reference_host_absent_says_so():
    with pytest.raises(page.PageError, match="reference host 'no-such-host' is absent"):
        page.reference_host("no-such-host")


def test_require_says_what_is_missing(capsys, monkeypatch):
    live = open_host(None)
    assert page.require(live, commands={"sh": "dash"}) is True
    assert page.require(live, commands={"no-such-tool-hftinfra": "hftinfra-tools"}) is False
    assert "skipped: install hftinfra-tools (apt-get install hftinfra-tools)" in capsys.readouterr().out
    monkeypatch.setattr(page, "is_root", lambda: False)
    assert page.require(live, root=True, what="reading MSRs") is False
    assert "skipped: reading MSRs needs root" in capsys.readouterr().out
    # A snapshot replays recorded output: neither root nor the tool is needed to show it.
    assert page.require(open_host(HOSTS / "tuned-2s"), root=True, commands={"no-such-tool-hftinfra": "x"}) is True


def test_run_tool_on_a_snapshot_without_the_output_says_unknown():
    note = page.run_tool(open_host(HOSTS / "tuned-2s"), ["no-such-tool-hftinfra", "-x"], package="x")
    assert "unknown" in str(note) and "not recorded" in str(note)


def test_run_tool_live_shows_the_command_and_its_output():
    out = page.run_tool(open_host(None), ["uname", "-s"], package="coreutils")
    assert str(out).splitlines()[:2] == ["$ uname -s", "Linux"]


# ------------------------------------------------------------------------------------------
# Offline figures


def test_figures_render_as_local_html_and_the_notebook_mimetype():
    import plotly.graph_objects as go

    from hftinfra import viz

    viz.setup_offline()
    fig = go.Figure(go.Bar(x=["a"], y=[1]), layout={"title": {"text": "t </script><b>"}})
    bundle = fig._repr_mimebundle_()
    assert "application/vnd.plotly.v1+json" in bundle
    html = bundle["text/html"]
    assert "cdn" not in html.lower() and "<script src" not in html and "mathjax" not in html.lower()
    m = re.search(r'<script type="application/vnd.hftinfra.plotly\+json" data-target="([^"]+)">(.*)</script>$', html, re.S)
    assert m and f'id="{m.group(1)}"' in html
    assert "</script><b>" not in m.group(2)  # escaped inside the JSON
    assert json.loads(m.group(2).replace("<\\/", "</"))["data"][0]["type"] == "bar"


def test_role_colours_are_distinct_and_cover_the_roles():
    from hftinfra.viz import ROLE_COLOURS, ROLE_ORDER

    assert set(ROLE_ORDER) == set(ROLE_COLOURS) >= {"housekeeping", "isolated", "offline"}
    assert len(set(ROLE_COLOURS.values())) == len(ROLE_COLOURS)


def topology_of(spec):
    from hftinfra.cpu import read_isolation, read_topology

    host = open_host(spec)
    return read_topology(host), read_isolation(host)


def test_topology_figure_on_the_tuned_host_groups_threads_by_core():
    from hftinfra.viz.topology import topology_figure

    topo, iso = topology_of(HOSTS / "tuned-2s")
    fig = topology_figure(topo, iso)
    drawn = {int(t): (x, y, tr.name.split(" ")[0]) for tr in fig.data for t, x, y in zip(tr.text, tr.x, tr.y, strict=True)}
    assert set(drawn) == {c.id for c in topo.cpus}
    for cpu in topo.cpus:
        assert drawn[cpu.id][2] == iso.roles[cpu.id]
        for sibling in cpu.siblings:  # SMT siblings share a column, in the same package block
            assert drawn[sibling][0] == drawn[cpu.id][0] and abs(drawn[sibling][1] - drawn[cpu.id][1]) < 2
    roles = {tr.name.split(" ")[0] for tr in fig.data}
    assert {"isolated", "housekeeping"} <= roles
    labels = [a.text for a in fig.layout.annotations]
    assert any(label.startswith("package 0") for label in labels) and any(label.startswith("package 1") for label in labels)
    assert "SMT on" in fig.layout.title.text


def test_topology_figure_draws_offline_cpus_apart():
    from hftinfra.viz.topology import topology_figure

    topo, iso = topology_of(HOSTS / "cpu0-offline")
    fig = topology_figure(topo, iso)
    offline = [tr for tr in fig.data if tr.name.startswith("offline")]
    assert offline and "0" in offline[0].text
    assert any("offline, or package/core unknown" in a.text for a in fig.layout.annotations)


def test_topology_views_on_a_bare_corpus_tree_show_unknowns(corpus_host):
    from hftinfra.cpu import read_isolation, read_topology
    from hftinfra.viz.topology import numa_table, topology_figure
    from hftinfra.widgets import cpu_picker

    topo, iso = read_topology(corpus_host), read_isolation(corpus_host)
    fig = topology_figure(topo, iso)
    assert len(fig.layout.shapes) >= len(topo.cpus)
    table = repr(numa_table(topo, iso))
    assert "0 GiB" not in table or "unknown" in table
    cpu_picker(topo, iso)


def test_cpu_picker_is_linked_in_the_browser_not_the_kernel():
    import ipywidgets as w

    from hftinfra.widgets import cpu_picker

    topo, iso = topology_of(HOSTS / "tuned-2s")
    box = cpu_picker(topo, iso)
    picker, cards = box.children
    assert isinstance(picker, w.Dropdown) and isinstance(cards, w.Stack)
    assert len(picker.options) == len(cards.children) == len(topo.cpus)
    assert box.link.source == (picker, "index") and box.link.target == (cards, "selected_index"), \
        "the dropdown must drive the cards through jslink"
    # It opens on an isolated CPU, and its card names the siblings and the shared L3.
    first = topo.cpus[picker.index]
    assert iso.roles[first.id] == "isolated"
    card = cards.children[picker.index].value
    assert f"CPU {first.id}" in card and "SMT siblings" in card and "L3" in card
