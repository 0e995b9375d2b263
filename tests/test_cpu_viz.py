"""The CPU isolation and power views: what they draw and say on the fixture hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hftinfra.cpu import read_frequency, read_idle, read_isolation, read_platform, read_topology
from hftinfra.host import open_host

pytest.importorskip("plotly")

from hftinfra.viz.cpu import (  # noqa: E402
    bios_checklist,
    frequency_figure,
    idle_residency_figure,
    idle_state_summary,
    idle_states_figure,
    isolation_figure,
    isolation_fix,
    isolation_matrix,
    isolation_table,
    power_compare,
    power_fix,
    power_rows,
    suggest_partition,
)

HOSTS = Path(__file__).resolve().parent / "hosts"
ISOLATED = frozenset(range(9, 16)) | frozenset(range(25, 32))


def records(name: str):
    host = open_host(HOSTS / name)
    return (read_topology(host), read_isolation(host), read_frequency(host), read_idle(host),
            read_platform(host))


def test_isolation_matrix_on_the_tuned_host():
    topo, iso, *_ = records("tuned-2s")
    data = isolation_matrix(topo, iso)
    assert data["cpus"][:4] == [0, 16, 1, 17]  # siblings side by side
    for row in data["rows"]:
        inside = {cpu for cpu, state in zip(data["cpus"], row["cells"], strict=True) if state == "in"}
        assert inside == (ISOLATED if row["kind"] == "isolated" else frozenset(range(32)) - ISOLATED), row["label"]
    fig = isolation_figure(topo, iso)
    assert fig.layout.meta["hftinfra"] == "cpu-isolation"
    assert len(fig.data[0].z) == len(data["rows"]) and len(fig.data[0].z[0]) == 32


def test_isolation_matrix_says_not_set_and_unknown():
    topo, iso, *_ = records("untuned-2s")
    rows = {r["label"]: set(r["cells"]) for r in isolation_matrix(topo, iso)["rows"]}
    assert rows["isolcpus= (configured)"] == {"not set"}
    assert rows["isolated (in effect)"] == {"out"}
    topo, iso, *_ = records("unreadable")
    rows = {r["label"]: set(r["cells"]) for r in isolation_matrix(topo, iso)["rows"]}
    assert rows["isolated (in effect)"] == {"unknown"} and rows["workqueue cpumask (in effect)"] == {"unknown"}


def test_isolation_table_flags_configured_but_not_in_effect(tree):
    host = tree({"/sys/devices/system/cpu/online": "0-3", "/sys/devices/system/cpu/isolated": "",
                 "/proc/cmdline": "isolcpus=2-3"})
    table = isolation_table(read_isolation(host))
    row = next(r for r in table.rows if r[0] == "isolated CPUs")
    assert row[3] == "configured but not in effect: 2-3"


def test_suggest_partition_isolates_whole_cores():
    topo, *_ = records("tuned-2s")
    assert suggest_partition(topo) == (ISOLATED, frozenset(range(32)) - ISOLATED)
    iso, hk = suggest_partition(topo, node=0)
    assert iso == frozenset(range(1, 8)) | frozenset(range(17, 24))
    with pytest.raises(ValueError):
        suggest_partition(topo, node=7)
    topo, *_ = records("cpu0-offline")
    iso, hk = suggest_partition(topo)
    assert 0 not in iso | hk and hk == frozenset({1, 5})
    text = isolation_fix(ISOLATED, frozenset(range(32)) - ISOLATED, 32)
    assert "isolcpus=managed_irq,domain,9-15,25-31" in text and "CPUAffinity=0-8 16-24" in text
    assert "echo 01ff01ff > /sys/devices/virtual/workqueue/cpumask" in text
    assert "nothing to isolate" in isolation_fix(frozenset(), frozenset({0}), 1)


def test_frequency_figure():
    *_, freq, _idle, _p = records("tuned-2s")
    fig = frequency_figure(freq)
    assert [t.name for t in fig.data][:2] == ["hardware range (cpuinfo_min..max)", "performance: scaling_min..max"]
    assert "turbo off" in fig.layout.title.text
    _t, _i, freq, *_ = records("unreadable")
    fig = frequency_figure(freq)
    notes = fig.layout.annotations[0].text
    assert "CPU 0" in notes and "malformed" in notes and "CPU 1" in notes and "denied" in notes


def test_no_cpufreq_figure_says_so(tree):
    host = tree({"/sys/devices/system/cpu/online": "0", "/sys/devices/system/cpu/cpufreq/.keep": ""})
    fig = frequency_figure(read_frequency(host))
    assert "no cpufreq driver" in fig.layout.annotations[0].text


def test_idle_views():
    *_, idle, _p = records("tuned-2s")
    summary = {r["name"]: r for r in idle_state_summary(idle)}
    assert summary["C6"]["disabled"] == set(range(32)) and not summary["C6"]["enabled"]
    assert summary["C1"]["share"] > 0.5
    fig = idle_states_figure(idle)
    assert list(fig.data[0].x) == ["POLL (state0)", "C1 (state1)", "C1E (state2)", "C6 (state3)"]
    assert any("PM QoS limit 1 us" in (a.text or "") for a in fig.layout.annotations)
    assert not any("PM QoS" in (a.text or "") for a in idle_states_figure(records("untuned-2s")[3]).layout.annotations)
    res = idle_residency_figure(idle)
    assert [t.name for t in res.data] == ["POLL", "C1", "C1E", "C6"]
    *_, idle, _p = records("unreadable")
    res = idle_residency_figure(idle)
    assert "CPU 3" in res.layout.annotations[0].text


def test_power_rows_and_fix():
    _t, _i, freq, idle, _p = records("untuned-2s")
    rows = {r[0]: r[1] for r in power_rows(freq, idle)}
    assert rows["governor"] == "powersave" and rows["turbo"] == "yes"
    assert rows["deepest enabled state exit latency (us)"] == "170"
    fix = power_fix(freq, idle)
    assert "state3/disable" in fix and "state2/disable" in fix and "state1/disable" not in fix
    _t, _i, tf, ti, _p = records("tuned-2s")
    table = power_compare([("tuned", tf, ti), ("untuned", freq, idle)])
    assert table.rows[1] == ["governor", "performance", "powersave"]


def test_bios_checklist_states_what_the_os_cannot_see():
    topo, _i, freq, idle, platform = records("untuned-2s")
    table = bios_checklist(topo, freq, idle, platform)
    rows = {r[0].split(":")[0]: r for r in table.rows}
    assert len(table.rows) >= 9
    assert rows["Fan policy"][3] == "not visible to the OS"
    assert "C1E, C6" in rows["C-states"][3]
    assert "IOMMU units: none" in rows["VT-x / VT-d"][3]  # listed at capture and empty: RHEL 9 leaves it off
    topo, _i, freq, idle, platform = records("tuned-2s")
    rows = {r[0].split(":")[0]: r for r in bios_checklist(topo, freq, idle, platform).rows}
    assert "deep states still enabled: none" in rows["C-states"][3]
    assert "dmar0" in rows["VT-x / VT-d"][3]  # intel_iommu=on: one unit per DMAR table entry
