"""CPU probes: pure parsers, then the probes on fixture hosts, the live host and the corpus."""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra.cpu import (
    PM_QOS_DEFAULT_LATENCY_US,
    CpuIdle,
    IdleState,
    parse_cache_size_kb,
    parse_cpus_allowed_list,
    parse_disable_flag,
    parse_distances,
    parse_node_meminfo_kb,
    parse_online_flag,
    parse_pm_qos_latency,
    parse_proc_status,
    parse_sysfs_cpulist,
    parse_systemd_cpu_affinity,
    read_frequency,
    read_idle,
    read_isolation,
    read_platform,
    read_topology,
)
from hftinfra.cpulist import parse_cpulist
from hftinfra.host import Reason, Unread, open_host
from hftinfra.records import to_jsonable

HOSTS = Path(__file__).resolve().parent / "hosts"
REPO = HOSTS.parents[1]

_spec = importlib.util.spec_from_file_location("fixture_build", HOSTS / "build.py")
build = sys.modules.get("fixture_build") or importlib.util.module_from_spec(_spec)
if "fixture_build" not in sys.modules:
    sys.modules["fixture_build"] = build
    _spec.loader.exec_module(build)

ISOLATED = frozenset(range(9, 16)) | frozenset(range(25, 32))
ALL32 = frozenset(range(32))
HOUSEKEEPING = ALL32 - ISOLATED
NODE0 = frozenset(range(0, 8)) | frozenset(range(16, 24))
NODE1 = ALL32 - NODE0


def fixture(name: str):
    return open_host(HOSTS / name)


@pytest.fixture(scope="module")
def big_host(tmp_path_factory):
    return open_host(build.build_host("big-4s", tmp_path_factory.mktemp("big") / "big-4s.tar.gz"))


def reason(value) -> Reason:
    assert isinstance(value, Unread), f"expected an Unread, got {value!r}"
    return value.reason


# ---- parsers: real samples ---------------------------------------------------------------


def test_online_flag():
    assert parse_online_flag("1\n") is True
    assert parse_online_flag("0") is False
    for bad in ("", "2", "yes"):
        with pytest.raises(ValueError):
            parse_online_flag(bad)


def test_sysfs_cpulist_null_is_empty():
    assert parse_sysfs_cpulist("(null)") == frozenset()
    assert parse_sysfs_cpulist("") == frozenset()
    assert parse_sysfs_cpulist("9-15,25-31") == ISOLATED


@pytest.mark.parametrize("text, kb", [("32K", 32), ("1280K", 1280), ("18432K", 18432), ("2M", 2048)])
def test_cache_size(text, kb):
    assert parse_cache_size_kb(text) == kb


@pytest.mark.parametrize("bad", ["", "K", "big", "-1K", "12G"])
def test_cache_size_refuses(bad):
    with pytest.raises(ValueError):
        parse_cache_size_kb(bad)


def test_distances():
    assert parse_distances("10 20\n") == (10, 20)
    assert parse_distances("10 21 21 21") == (10, 21, 21, 21)
    with pytest.raises(ValueError):
        parse_distances("")
    with pytest.raises(ValueError):
        parse_distances("10 x")


def test_node_meminfo():
    text = ("Node 0 MemTotal:        5597400 kB\nNode 0 MemFree:         4893300 kB\n"
            "Node 0 HugePages_Total:     0\n")
    assert parse_node_meminfo_kb(text) == {"MemTotal": 5597400, "MemFree": 4893300, "HugePages_Total": 0}
    with pytest.raises(ValueError):
        parse_node_meminfo_kb("MemTotal: 1 kB")


PID1_STATUS = """Name:\tsystemd
Umask:\t0000
State:\tS (sleeping)
Speculation_Store_Bypass:\tvulnerable
Cpus_allowed:\t3
Cpus_allowed_list:\t0-1
Mems_allowed:\t00000000,00000001
Mems_allowed_list:\t0
"""


def test_proc_status_sample():
    fields = parse_proc_status(PID1_STATUS)
    assert fields["Name"] == "systemd" and fields["Cpus_allowed"] == "3"
    assert parse_cpus_allowed_list(PID1_STATUS) == frozenset({0, 1})
    with pytest.raises(ValueError):
        parse_cpus_allowed_list("Name:\tsystemd\n")


@pytest.mark.parametrize("text, cpus", [
    ("[Manager]\n#CPUAffinity=1 2\n", None),  # as shipped
    ("[Manager]\nCPUAffinity=0-8 16-24\n", HOUSEKEEPING),
    ("[Manager]\nCPUAffinity=0,1 2\n", {0, 1, 2}),
    ("[Manager]\nCPUAffinity=4\nCPUAffinity=5\n", {5}),  # last assignment wins
    ("[Manager]\nCPUAffinity=4\nCPUAffinity=\n", None),  # empty resets
    ("[Service]\nCPUAffinity=4\n", None),  # not the manager's section
    ("[Manager]\n; CPUAffinity=4\nLogLevel=info\n", None),
    ("[Manager]\nCPUAffinity=0 \\\n  1\n", {0, 1}),  # continuation line
])
def test_systemd_cpu_affinity(text, cpus):
    got = parse_systemd_cpu_affinity(text)
    assert got == (frozenset(cpus) if cpus is not None else None)


def test_systemd_cpu_affinity_refuses_garbage():
    with pytest.raises(ValueError):
        parse_systemd_cpu_affinity("[Manager]\nCPUAffinity=all-of-them\n")


def test_pm_qos_latency():
    assert parse_pm_qos_latency(struct.pack("<i", 2_000_000_000)) == PM_QOS_DEFAULT_LATENCY_US
    assert parse_pm_qos_latency(b"\x00\x00\x00\x00") == 0
    assert parse_pm_qos_latency(struct.pack("<i", -1)) == -1
    for bad in (b"", b"\x01\x02", b"0x00000000\n"):
        with pytest.raises(ValueError):
            parse_pm_qos_latency(bad)


def test_disable_flag():
    assert parse_disable_flag("1") is True
    assert parse_disable_flag("0\n") is False
    with pytest.raises(ValueError):
        parse_disable_flag("off")


TEXT_PARSERS = [parse_online_flag, parse_sysfs_cpulist, parse_cache_size_kb, parse_distances,
                parse_node_meminfo_kb, parse_proc_status, parse_cpus_allowed_list,
                parse_systemd_cpu_affinity, parse_disable_flag]


@settings(max_examples=200)
@given(st.text())
def test_parsers_only_ever_raise_valueerror(text):
    for parse in TEXT_PARSERS:
        try:
            parse(text)
        except ValueError:
            pass


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["[Manager]", "[Service]", "CPUAffinity=", "0-3", "7", ",", " ", "\n",
                                 "#", "\\", "x", "LogLevel=info"]), max_size=20))
def test_systemd_parser_on_near_misses(parts):
    try:
        got = parse_systemd_cpu_affinity("".join(parts))
    except ValueError:
        return
    assert got is None or all(isinstance(c, int) for c in got)


@given(st.integers(min_value=-(2 ** 31), max_value=2 ** 31 - 1))
def test_pm_qos_round_trip(value):
    assert parse_pm_qos_latency(struct.pack("<i", value)) == value


@given(st.binary(max_size=8))
def test_pm_qos_never_crashes(data):
    try:
        assert isinstance(parse_pm_qos_latency(data), int)
    except ValueError:
        assert len(data) != 4


# ---- tuned-2s ----------------------------------------------------------------------------


def test_tuned_topology():
    topo = read_topology(fixture("tuned-2s"))
    assert [c.id for c in topo.cpus] == list(range(32))
    assert topo.possible == topo.present == topo.online == ALL32
    assert topo.offline == frozenset()
    assert topo.packages == (0, 1)
    assert topo.smt_active is True and topo.smt_control == "on"
    assert topo.kernel_max == 8191
    assert topo.nr_cpus == 32
    assert [n.node for n in topo.numa_nodes] == [0, 1]
    assert topo.numa_nodes[0].cpus == NODE0 and topo.numa_nodes[1].cpus == NODE1
    assert topo.numa_nodes[1].distances == (20, 10)
    assert topo.numa_nodes[1].mem_total_kb == 131_661_408
    assert isinstance(topo.numa_nodes[1].mem_free_kb, int)
    for c in topo.cpus:
        assert c.online is True
        assert c.siblings == frozenset({c.id % 16, c.id % 16 + 16})
        assert c.package == (0 if c.id in NODE0 else 1) == c.numa_node
        assert c.die == 0
        assert c.package_cpus == (NODE0 if c.id in NODE0 else NODE1)
    # Intel core ids are not 0..n-1: fused-off cores leave gaps.
    assert [topo.cpu(n).core for n in range(8)] == [0, 2, 3, 5, 8, 10, 11, 13]
    assert topo.cpu(19).core == topo.cpu(3).core == 5
    assert len(topo.cores) == 16 and topo.threads_per_core == 2
    caches = {k.name: k for k in topo.cpu(9).caches}
    assert set(caches) == {"L1d", "L1i", "L2", "L3"}
    assert caches["L1d"].size_kb == 48 and caches["L1d"].shared_cpus == {9, 25}
    assert caches["L2"].size_kb == 1280 and caches["L3"].size_kb == 18432
    assert caches["L3"].shared_cpus == NODE1 and caches["L3"].id == 1
    with pytest.raises(KeyError):
        topo.cpu(32)


def test_tuned_isolation():
    iso = read_isolation(fixture("tuned-2s"))
    assert iso.isolated == iso.nohz_full == ISOLATED
    assert iso.cmdline_isolcpus == iso.cmdline_nohz_full == iso.cmdline_rcu_nocbs == ISOLATED
    assert iso.cmdline_isolcpus_flags == frozenset({"managed_irq", "domain"})
    assert iso.cmdline_rcu_nocb_poll is True
    assert iso.cmdline_irqaffinity == HOUSEKEEPING
    assert iso.systemd_affinity == iso.systemd_affinity_configured == HOUSEKEEPING
    assert iso.systemd_affinity_configured_in == "/etc/systemd/system.conf"
    assert iso.workqueue_cpumask == HOUSEKEEPING
    assert iso.housekeeping == HOUSEKEEPING
    assert iso.isolated_any == ISOLATED
    assert iso.roles == {n: ("isolated" if n in ISOLATED else "housekeeping") for n in range(32)}
    assert "/proc/cmdline" in iso.sources and "/sys/devices/system/cpu/isolated" in iso.sources


def test_tuned_frequency():
    freq = read_frequency(fixture("tuned-2s"))
    assert freq.has_cpufreq is True
    assert freq.drivers == {"intel_pstate"}
    assert freq.governors() == {"performance": ALL32}
    assert freq.intel_pstate_status == "active"
    assert freq.no_turbo is True and freq.turbo_enabled is False
    assert (freq.min_perf_pct, freq.max_perf_pct, freq.turbo_pct) == (100, 100, 3)
    assert reason(freq.boost) is Reason.MISSING  # intel_pstate has no cpufreq/boost
    assert reason(freq.amd_pstate_status) is Reason.MISSING
    for c in freq.cpus:
        assert c.policy == f"policy{c.cpu}"
        assert c.min_khz == c.max_khz == c.base_khz == 3_600_000
        assert (c.hw_min_khz, c.hw_max_khz) == (800_000, 3_700_000)
        assert abs(c.cur_khz - 3_600_000) <= 60
        assert c.epp == "performance" and c.epb == 0
        assert "power" in c.available_epp and c.available_governors == ("performance", "powersave")


def test_tuned_idle():
    idle = read_idle(fixture("tuned-2s"))
    assert (idle.driver, idle.governor) == ("intel_idle", "menu")
    assert idle.state_names() == ("POLL", "C1", "C1E", "C6")
    assert idle.cmdline_processor_max_cstate == 1
    assert idle.cmdline_intel_idle_max_cstate is None and idle.cmdline_idle is None
    assert idle.intel_idle_max_cstate == 9
    assert idle.pm_qos_latency_us == 1 and idle.pm_qos_requested is True
    for c in idle.cpus:
        assert [s.disabled for s in c.states] == [False, False, True, True]
        assert [(s.latency_us, s.residency_us) for s in c.states] == [(0, 0), (1, 1), (4, 4), (170, 600)]
        assert c.max_enabled_latency_us == 1
        assert all(isinstance(s.usage, int) and isinstance(s.time_us, int) for s in c.states)


# ---- untuned-2s --------------------------------------------------------------------------


def test_untuned_is_the_same_shape_with_defaults():
    host = fixture("untuned-2s")
    topo = read_topology(host)
    assert len(topo.cpus) == 32 and topo.numa_nodes[0].cpus == NODE0
    iso = read_isolation(host)
    assert iso.isolated == frozenset()
    assert iso.nohz_full == frozenset()  # "(null)": NO_HZ_FULL kernel booted without nohz_full=
    assert (iso.cmdline_isolcpus, iso.cmdline_isolcpus_flags, iso.cmdline_nohz_full,
            iso.cmdline_rcu_nocbs, iso.cmdline_irqaffinity) == (None,) * 5
    assert iso.cmdline_rcu_nocb_poll is False
    assert iso.systemd_affinity_configured is None and iso.systemd_affinity == ALL32
    assert iso.workqueue_cpumask == ALL32 == iso.housekeeping
    assert set(iso.roles.values()) == {"housekeeping"}
    freq = read_frequency(host)
    assert freq.governors() == {"powersave": ALL32}
    assert freq.turbo_enabled is True and freq.min_perf_pct == 22
    assert {c.epp for c in freq.cpus} == {"balance_performance"} and {c.epb for c in freq.cpus} == {6}
    idle = read_idle(host)
    assert all(s.disabled is False for c in idle.cpus for s in c.states)
    assert {c.max_enabled_latency_us for c in idle.cpus} == {170}
    assert idle.pm_qos_latency_us == PM_QOS_DEFAULT_LATENCY_US and idle.pm_qos_requested is False
    assert idle.cmdline_processor_max_cstate is None


# ---- edge cases --------------------------------------------------------------------------


def test_cpu0_offline():
    host = fixture("cpu0-offline")
    topo = read_topology(host)
    assert [c.id for c in topo.cpus] == list(range(8))
    assert topo.online == frozenset(range(1, 8)) and topo.offline == frozenset({0})
    cpu0 = topo.cpu(0)
    assert cpu0.online is False
    for value in (cpu0.package, cpu0.core, cpu0.siblings, cpu0.caches):
        assert reason(value) is Reason.MISSING and "offline" in value.detail
    assert cpu0.numa_node == 0  # the cpu0/node0 link stays while offline
    assert topo.numa_nodes[0].cpus == frozenset(range(1, 8))
    # The kernel drops an offline CPU from its siblings' masks (x86 remove_siblinginfo).
    assert topo.cpu(4).siblings == frozenset({4})
    assert topo.cpu(5).siblings == frozenset({1, 5}) and topo.smt_active is True
    iso = read_isolation(host)
    assert iso.roles[0] == "offline" and iso.housekeeping == frozenset(range(1, 8))
    freq = read_frequency(host)
    assert reason(freq.cpus[0].governor) is Reason.UNSUPPORTED  # inactive policy: EBUSY
    assert reason(freq.cpus[0].epb) is Reason.MISSING
    assert freq.cpus[1].governor == "powersave"
    idle = read_idle(host)
    assert isinstance(idle.cpus[0].states, tuple) and len(idle.cpus[0].states) == 4


def test_unreadable_reports_each_reason_and_never_a_value():
    host = fixture("unreadable")
    topo = read_topology(host)
    assert reason(topo.cpu(2).siblings) is Reason.DENIED
    assert topo.cpu(1).siblings == frozenset({1})
    l2 = [k for k in topo.cpu(3).caches if k.index == 2][0]
    assert reason(l2.size_kb) is Reason.MALFORMED
    assert reason(topo.numa_nodes[0].mem_total_kb) is Reason.DENIED
    iso = read_isolation(host)
    assert reason(iso.isolated) is Reason.DENIED
    assert reason(iso.housekeeping) is Reason.DENIED
    assert set(iso.roles.values()) == {"unknown"}
    for value in (iso.cmdline_isolcpus, iso.cmdline_isolcpus_flags, iso.cmdline_nohz_full,
                  iso.cmdline_rcu_nocbs, iso.cmdline_irqaffinity, iso.cmdline_rcu_nocb_poll):
        assert reason(value) is Reason.DENIED
    assert reason(iso.systemd_affinity) is Reason.DENIED
    assert reason(iso.systemd_affinity_configured) is Reason.DENIED
    assert reason(iso.workqueue_cpumask) is Reason.MALFORMED
    assert iso.nohz_full == frozenset()
    freq = read_frequency(host)
    assert reason(freq.cpus[1].governor) is Reason.DENIED
    assert reason(freq.cpus[0].max_khz) is Reason.MALFORMED
    assert freq.governors() == {"powersave": frozenset({0, 2, 3})}
    idle = read_idle(host)
    assert reason(idle.cpus[3].states) is Reason.DENIED
    assert reason(idle.cpus[1].states[1].latency_us) is Reason.MALFORMED
    assert reason(idle.cpus[1].max_enabled_latency_us) is Reason.MALFORMED
    assert reason(idle.pm_qos_latency_us) is Reason.DENIED
    assert reason(idle.pm_qos_requested) is Reason.DENIED
    assert reason(idle.cmdline_intel_idle_max_cstate) is Reason.DENIED


def test_big_host(big_host):
    model = build.big_4s()
    topo = read_topology(big_host)
    assert len(topo.cpus) == 384 and topo.online == frozenset(range(384))
    assert topo.packages == (0, 1, 2, 3) and len(topo.numa_nodes) == 4
    assert topo.cpu(200).siblings == frozenset({8, 200})
    assert topo.numa_nodes[3].distances == (21, 21, 21, 10)
    assert len(topo.cores) == 192
    iso = read_isolation(big_host)
    assert iso.isolated == iso.nohz_full == iso.cmdline_isolcpus == model.isolated
    assert iso.workqueue_cpumask == frozenset(range(384)) - model.isolated == iso.housekeeping
    assert iso.cmdline_irqaffinity == iso.housekeeping
    assert sum(1 for r in iso.roles.values() if r == "isolated") == 94
    freq = read_frequency(big_host)
    assert len(freq.cpus) == 384 and freq.governors() == {"performance": frozenset(range(384))}
    idle = read_idle(big_host)
    assert len(idle.cpus) == 384


def test_records_name_their_sources_once_per_kind(big_host):
    topo = read_topology(big_host)
    assert "/sys/devices/system/cpu/cpu*/topology/core_id" in topo.sources
    assert len(topo.sources) < 40
    assert len(set(topo.sources)) == len(topo.sources)


def test_small_trees(tree):
    host = tree({
        "/sys/devices/system/cpu/online": "0-3",
        "/sys/devices/system/cpu/possible": "0-7",
        "/sys/devices/system/cpu/isolated": "2-3",
        "/proc/cmdline": "ro isolcpus=2-N nohz_full=3 irqaffinity=bad",
        "/etc/systemd/system.conf": "[Manager]\nCPUAffinity=0 1\n",
        "/etc/systemd/system.conf.d/50-hk.conf": "[Manager]\nCPUAffinity=0\n",
    })
    iso = read_isolation(host)
    # N is the last possible CPU (7), not the last online one.
    assert iso.cmdline_isolcpus == frozenset(range(2, 8))
    assert iso.cmdline_isolcpus_flags == frozenset({"domain"})
    assert iso.cmdline_nohz_full == frozenset({3})
    assert reason(iso.cmdline_irqaffinity) is Reason.MALFORMED
    assert iso.cmdline_rcu_nocbs is None
    assert iso.systemd_affinity_configured == frozenset({0})
    assert iso.systemd_affinity_configured_in == "/etc/systemd/system.conf.d/50-hk.conf"
    # nohz_full missing: a kernel without NO_HZ_FULL; it says so and housekeeping still derives.
    assert reason(iso.nohz_full) is Reason.MISSING and "NO_HZ_FULL" in iso.nohz_full.detail
    assert iso.housekeeping == frozenset({0, 1})
    assert iso.roles == {0: "housekeeping", 1: "housekeeping", 2: "isolated", 3: "isolated",
                         4: "offline", 5: "offline", 6: "offline", 7: "offline"}


def test_node_of_a_cpu_from_a_captured_cpumap(tree):
    # No cpuN/nodeM links and no cpulist, as in partial captures: the node's cpumap decides.
    host = tree({
        "/sys/devices/system/cpu/online": "0-3",
        "/sys/devices/system/cpu/possible": "0-3",
        "/sys/devices/system/node/node0/cpumap": "3",
        "/sys/devices/system/node/node1/cpumap": "0000000c",
    })
    topo = read_topology(host)
    assert [topo.cpu(n).numa_node for n in range(4)] == [0, 0, 1, 1]


def test_no_cpufreq_driver_is_not_unreadable(tree):
    base = {"/sys/devices/system/cpu/online": "0-1", "/sys/devices/system/cpu/present": "0-1",
            "/sys/devices/system/cpu/cpu0/topology/core_id": "0",
            "/sys/devices/system/cpu/cpu1/topology/core_id": "1"}
    host = tree(base)
    (Path(host.source) / "sys/devices/system/cpu/cpufreq").mkdir()
    freq = read_frequency(host)
    assert freq.has_cpufreq is False
    assert reason(freq.cpus[0].governor) is Reason.UNSUPPORTED
    assert reason(freq.turbo_enabled) is Reason.UNSUPPORTED


def test_unknown_cpufreq_when_the_folder_is_absent(tree):
    freq = read_frequency(tree({"/sys/devices/system/cpu/online": "0"}))
    assert reason(freq.has_cpufreq) is Reason.MISSING
    assert reason(freq.cpus[0].governor) is Reason.MISSING


def test_idle_cmdline_values(tree):
    idle = read_idle(tree({"/sys/devices/system/cpu/online": "0",
                           "/proc/cmdline": "intel_idle.max_cstate=0 processor.max_cstate=x idle=poll"}))
    assert idle.cmdline_intel_idle_max_cstate == 0
    assert reason(idle.cmdline_processor_max_cstate) is Reason.MALFORMED
    assert idle.cmdline_idle == "poll"
    assert reason(idle.driver) is Reason.MISSING and reason(idle.pm_qos_latency_us) is Reason.MISSING


def test_records_are_jsonable_and_render():
    host = fixture("tuned-2s")
    for probe in (read_topology, read_isolation, read_frequency, read_idle):
        record = probe(host)
        data = json.loads(json.dumps(to_jsonable(record)))
        assert data["sources"]
        html = record._repr_html_()
        assert html.startswith("<div>") and "<table>" in html
    assert to_jsonable(read_isolation(host))["isolated"] == "9-15,25-31"


def test_probes_are_registered():
    from hftinfra.probes import all_probes

    probes = all_probes()
    for name, fn in (("cpu.topology", read_topology), ("cpu.isolation", read_isolation),
                     ("cpu.frequency", read_frequency), ("cpu.idle", read_idle), ("cpu.platform", read_platform)):
        assert probes[name] is fn


def test_cpu_module_does_not_import_heavy_libraries():
    code = ("import sys, hftinfra.cpu; "
            "print([m for m in ('plotly', 'pandas', 'ipywidgets') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- the corpus: real trees nobody here wrote ---------------------------------------------


def _unreads(value, path="") -> list[tuple[str, Unread]]:
    found = []
    if isinstance(value, Unread):
        return [(path, value)]
    if hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            found += _unreads(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            found += _unreads(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            found += _unreads(v, f"{path}[{k}]")
    return found


def test_corpus_trees(corpus_host):
    records = [probe(corpus_host) for probe in (read_topology, read_isolation, read_frequency, read_idle)]
    for record in records:
        json.dumps(to_jsonable(record))
        for where, unread in _unreads(record):
            assert unread.reason in Reason, where
    topo, iso, freq, idle = records
    assert topo.cpus, "a corpus tree has cpuN folders"
    # Absent from every corpus tree: reported as missing, never a value.
    assert reason(idle.pm_qos_latency_us) is Reason.MISSING
    assert reason(iso.workqueue_cpumask) is Reason.MISSING
    assert reason(iso.nohz_full) is Reason.MISSING
    assert reason(topo.smt_active) is Reason.MISSING
    assert isinstance(iso.isolated, frozenset) and iso.isolated


def test_corpus_known_values():
    root = REPO.parent / "shared" / "corpus"
    if not root.is_dir():
        pytest.skip("no ../shared/corpus beside this clone")
    ne = open_host(root / "node_exporter")
    assert read_isolation(ne).isolated == frozenset({1, 3, 4, 5, 9})
    pf = open_host(root / "procfs")
    iso = read_isolation(pf)
    assert iso.isolated == frozenset({1, 2, 3, 4, 5, 6, 7, 9})
    assert iso.cmdline_isolcpus is None  # its cmdline has no isolcpus=
    freq = read_frequency(pf)
    by_cpu = {c.cpu: c for c in freq.cpus}
    assert by_cpu[1].governor == "powersave" and by_cpu[1].driver == "intel_pstate"
    assert by_cpu[1].hw_max_khz == 3_300_000


# ---- the live host ------------------------------------------------------------------------


# ---- the live host ---------------------------------------------------------------------
# Each test compares the library with its own read of the same file, and accepts every
# honest answer: a value where the file is there, unknown with the right reason where it is
# not. tests/test_flavours.py runs these again over other machines' sysfs layouts.

SYS_CPU = "/sys/devices/system/cpu"
SYS_NODE = "/sys/devices/system/node"


def _read(path: str) -> str | None:
    """The file's text, or None when it is absent (the other errors are the test's)."""
    try:
        with open(path) as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return None


def _cpus_file(path: str) -> frozenset | None:
    text = _read(path)
    return None if text is None else parse_sysfs_cpulist(text)


def _numbered_dirs(path: str, prefix: str) -> list[int]:
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return []
    return sorted(int(n[len(prefix):]) for n in names if n.startswith(prefix) and n[len(prefix):].isdigit())


def _same_or_missing(value, expected, what: str) -> None:
    if expected is None:
        assert reason(value) is Reason.MISSING, f"{what}: absent, but the library read {value!r}"
    else:
        assert value == expected, what


def _lscpu() -> dict[str, str] | None:
    try:
        out = subprocess.run(["lscpu", "-J"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    rows = {}

    def walk(items):
        for row in items:
            rows[row["field"]] = row.get("data")
            walk(row.get("children", []))

    walk(json.loads(out)["lscpu"])
    return rows


@pytest.mark.live
def test_live_topology_matches_sysfs():
    topo = read_topology(open_host(None))
    for name in ("online", "present", "possible"):
        _same_or_missing(getattr(topo, name), _cpus_file(f"{SYS_CPU}/{name}"), name)
    ids = {c.id for c in topo.cpus}
    dirs = set(_numbered_dirs(SYS_CPU, "cpu"))
    assert dirs <= ids, "every cpuN folder is a CPU of the topology"
    listed = set().union(*(s for s in (topo.present, topo.online) if isinstance(s, frozenset)))
    assert ids <= dirs | listed
    possible = _cpus_file(f"{SYS_CPU}/possible")
    if possible:
        assert topo.nr_cpus == max(possible) + 1
    sizes = set()
    for c in topo.cpus:
        base = f"{SYS_CPU}/cpu{c.id}/topology"
        siblings = _cpus_file(f"{base}/thread_siblings_list")
        if siblings is None:
            assert reason(c.siblings) is Reason.MISSING, c.id
            continue
        sizes.add(len(siblings))
        assert c.siblings == siblings, c.id
        assert c.package == int(_read(f"{base}/physical_package_id")), c.id
        core = _read(f"{base}/core_id")
        _same_or_missing(c.core, None if core is None else int(core), f"cpu{c.id} core_id")
    if sizes:
        assert topo.threads_per_core == max(sizes)
    else:
        assert isinstance(topo.threads_per_core, Unread)
    nodes = _numbered_dirs(SYS_NODE, "node")
    assert [n.node for n in topo.numa_nodes] == nodes
    for n in nodes:
        listed = _cpus_file(f"{SYS_NODE}/node{n}/cpulist")
        if listed is not None:
            assert topo.numa_nodes[nodes.index(n)].cpus == listed, n
            for cpu in listed & ids:
                assert topo.cpu(cpu).numa_node == n, cpu
    rows = _lscpu()
    if rows and "On-line CPU(s) list:" in rows and isinstance(topo.online, frozenset):
        # A second reader of the same file, with its own parser.
        assert topo.online == parse_cpulist(rows["On-line CPU(s) list:"])


@pytest.mark.live
def test_live_isolation_matches_sysfs_and_proc():
    iso = read_isolation(open_host(None))
    _same_or_missing(iso.isolated, _cpus_file(f"{SYS_CPU}/isolated"), "isolated")
    _same_or_missing(iso.nohz_full, _cpus_file(f"{SYS_CPU}/nohz_full"), "nohz_full")
    try:
        status = _read("/proc/1/status")
    except PermissionError:  # hidepid=
        status = None
    if status is None:
        assert isinstance(iso.systemd_affinity, Unread)
    else:
        line = next(x for x in status.splitlines() if x.startswith("Cpus_allowed_list:"))
        assert iso.systemd_affinity == parse_cpulist(line.split(":", 1)[1].strip())


@pytest.mark.live
def test_live_frequency_matches_sysfs():
    freq = read_frequency(open_host(None))
    policies = _numbered_dirs(f"{SYS_CPU}/cpufreq", "policy")
    first = min(_numbered_dirs(SYS_CPU, "cpu"), default=0)
    if policies or os.path.isdir(f"{SYS_CPU}/cpu{first}/cpufreq"):
        assert freq.has_cpufreq is True
    elif os.path.isdir(f"{SYS_CPU}/cpufreq"):
        assert freq.has_cpufreq is False  # the cpufreq core is built, no driver registered
    else:
        assert isinstance(freq.has_cpufreq, Unread)
    for c in freq.cpus:
        governor = _read(f"{SYS_CPU}/cpu{c.cpu}/cpufreq/scaling_governor")
        if governor is not None:
            assert c.governor == governor, c.cpu
        else:
            assert isinstance(c.governor, Unread), c.cpu
    _same_or_missing(freq.intel_pstate_status, _read(f"{SYS_CPU}/intel_pstate/status"), "intel_pstate")
    _same_or_missing(freq.amd_pstate_status, _read(f"{SYS_CPU}/amd_pstate/status"), "amd_pstate")


@pytest.mark.live
def test_live_idle_matches_sysfs():
    """cpuidle comes in several layouts: a driver with per-CPU state folders (intel_idle,
    acpi_idle, haltpoll), the driver file saying 'none' with no per-CPU folders, or no
    cpuidle at all (CONFIG_CPU_IDLE off)."""
    idle = read_idle(open_host(None))
    _same_or_missing(idle.driver, _read(f"{SYS_CPU}/cpuidle/current_driver"), "current_driver")
    for c in idle.cpus:
        base = f"{SYS_CPU}/cpu{c.cpu}/cpuidle"
        states = _numbered_dirs(base, "state")
        if not os.path.isdir(base):
            assert reason(c.states) is Reason.MISSING, c.cpu
            assert isinstance(c.max_enabled_latency_us, Unread), c.cpu
            continue
        assert [s.index for s in c.states] == states, c.cpu
        for s in c.states:
            assert s.name == _read(f"{base}/state{s.index}/name")
            assert s.latency_us == int(_read(f"{base}/state{s.index}/latency"))
            disabled = _read(f"{base}/state{s.index}/disable")
            _same_or_missing(s.disabled, None if disabled is None else disabled != "0", f"cpu{c.cpu} state{s.index}")
        if not states:
            assert isinstance(c.max_enabled_latency_us, Unread)
    try:
        with open("/dev/cpu_dma_latency", "rb") as fh:
            assert idle.pm_qos_latency_us == struct.unpack("<i", fh.read(4))[0]
    except PermissionError:
        assert reason(idle.pm_qos_latency_us) is Reason.DENIED
    except FileNotFoundError:
        assert reason(idle.pm_qos_latency_us) is Reason.MISSING


def _state(index: int, latency, disabled) -> IdleState:
    return IdleState(index=index, name=f"C{index}", desc="", latency_us=latency, residency_us=0,
                     disabled=disabled, default_status="enabled", usage=0, time_us=0)


def test_deepest_latency_is_never_zero_for_nothing():
    assert CpuIdle(0, (_state(0, 0, False), _state(1, 2, False), _state(2, 170, True))).max_enabled_latency_us == 2
    empty = CpuIdle(3, ()).max_enabled_latency_us
    assert reason(empty) is Reason.MISSING and "no idle states" in empty.detail and "cpu3" in empty.source
    none_on = CpuIdle(0, (_state(0, 0, True), _state(1, 2, True))).max_enabled_latency_us
    assert reason(none_on) is Reason.MISSING and "every idle state is disabled" in none_on.detail
    denied = Unread(Reason.DENIED, "/sys/devices/system/cpu/cpu0/cpuidle/state1/disable")
    assert CpuIdle(0, (_state(0, 0, False), _state(1, 2, denied))).max_enabled_latency_us == denied
