"""Memory probes: small trees with exact values, unreadable and damaged files, the live
host cross-checked against its own tools, and the real captured corpus trees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hftinfra.cpu import parse_sysfs_cpulist
from hftinfra.host import Reason, Unread, open_host
from hftinfra.memory import (
    HugepagePool,
    read_hugepages,
    read_ksm,
    read_memory,
    read_numa,
    read_swap,
    read_thp,
    read_vm_sysctls,
)
from hftinfra.records import to_jsonable

NODE = "/sys/devices/system/node"
HP = "/sys/kernel/mm/hugepages"


def pool_files(base: str, total: int, free: int, surplus: int = 0, resv: int | None = None) -> dict:
    files = {f"{base}/nr_hugepages": str(total), f"{base}/free_hugepages": str(free),
             f"{base}/surplus_hugepages": str(surplus)}
    if resv is not None:
        files[f"{base}/resv_hugepages"] = str(resv)
    return files


def two_node_tree() -> dict:
    """A tuned two-socket box: eight 1 GiB pages, all on node 1; THP never; no swap."""
    files = {
        "/proc/meminfo": ("MemTotal:       394951096 kB\nMemFree:        375116620 kB\n"
                          "MemAvailable:   377310492 kB\nSwapTotal:             0 kB\n"
                          "SwapFree:              0 kB\nAnonHugePages:         0 kB\n"
                          "HugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0\n"
                          "HugePages_Surp:        0\nHugepagesize:       2048 kB\nHugetlb:         8388608 kB\n"),
        "/proc/swaps": "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
        "/proc/cmdline": ("BOOT_IMAGE=/vmlinuz-5.14.0-427.el9.x86_64 ro default_hugepagesz=2M "
                          "hugepagesz=1G hugepages=0:0,1:8 transparent_hugepage=never"),
        "/sys/kernel/mm/transparent_hugepage/enabled": "always madvise [never]",
        "/sys/kernel/mm/transparent_hugepage/defrag": "always defer defer+madvise madvise [never]",
        "/sys/kernel/mm/ksm/run": "0",
        "/sys/kernel/mm/ksm/pages_sharing": "0",
        "/proc/sys/vm/swappiness": "10",
        "/proc/sys/vm/zone_reclaim_mode": "0",
        "/proc/sys/vm/dirty_ratio": "10",
        "/proc/sys/vm/dirty_background_ratio": "3",
        "/proc/sys/vm/dirty_bytes": "0",
        "/proc/sys/vm/dirty_background_bytes": "0",
        "/proc/sys/vm/stat_interval": "10",
        "/proc/sys/kernel/numa_balancing": "0",
    }
    files.update(pool_files(f"{HP}/hugepages-2048kB", 0, 0, resv=0))
    files.update(pool_files(f"{HP}/hugepages-1048576kB", 8, 6, resv=1))
    for n, (cpus, total, free, dist) in enumerate([("0-15,32-47", 197132540, 190118604, "10 21"),
                                                    ("16-31,48-63", 197818556, 185000016, "21 10")]):
        base = f"{NODE}/node{n}"
        files[f"{base}/cpulist"] = cpus
        files[f"{base}/distance"] = dist
        files[f"{base}/meminfo"] = (f"Node {n} MemTotal:       {total} kB\nNode {n} MemFree:        {free} kB\n"
                                    f"Node {n} HugePages_Total:     0\n")
        files.update(pool_files(f"{base}/hugepages/hugepages-2048kB", 0, 0))
        files.update(pool_files(f"{base}/hugepages/hugepages-1048576kB", 8 * n, 6 * n))
    files[f"{NODE}/possible"] = "0-1"
    files[f"{NODE}/online"] = "0-1"
    return files


# ---- exact values on a small tree --------------------------------------------------------


def test_hugepages_global_and_per_node(tree):
    hp = read_hugepages(tree(two_node_tree()))
    assert hp.default_size_kb == 2048
    assert hp.pool(1048576) == HugepagePool(1048576, 8, 6, 1, 0, f"{HP}/hugepages-1048576kB")
    assert hp.pool(2048).total == 0
    assert hp.total_kb == 8 * 1048576
    assert [n.node for n in hp.nodes] == [0, 1]
    node1 = hp.nodes[1].pool(1048576)
    assert (node1.total, node1.free, node1.surplus, node1.reserved) == (8, 6, 0, None)
    assert node1.in_use == 2 and node1.total_kb == 8 * 1048576
    assert hp.nodes[0].pool(1048576).total == 0
    # configured on the command line, apart from what is in effect
    req = hp.configured.hugepages
    assert len(req) == 1 and req[0].size_kb == 1048576 and req[0].per_node == ((0, 0), (1, 8))
    assert hp.configured.default_hugepagesz_kb == 2048
    assert hp.configured.requested(1048576) == 8


def test_numa_nodes(tree):
    numa = read_numa(tree(two_node_tree()))
    assert numa.mem_total_kb == 394951096 and numa.mem_free_kb == 375116620
    assert numa.mem_available_kb == 377310492
    n0, n1 = numa.nodes
    assert n0.cpus == frozenset(range(0, 16)) | frozenset(range(32, 48))
    assert n1.cpus == frozenset(range(16, 32)) | frozenset(range(48, 64))
    assert (n0.mem_total_kb, n0.mem_free_kb, n0.distances) == (197132540, 190118604, (10, 21))
    assert (n1.mem_total_kb, n1.mem_free_kb, n1.distances) == (197818556, 185000016, (21, 10))


def test_node_cpus_fall_back_to_cpumap(tree):
    # Partial captures (other tools' fixtures) may hold a node's cpumap but not its cpulist;
    # both print the same mask (drivers/base/node.c). A memory-only node's map is all zeros.
    files = two_node_tree()
    del files[f"{NODE}/node0/cpulist"], files[f"{NODE}/node1/cpulist"]
    files[f"{NODE}/node0/cpumap"] = "00000000,00000000,0000ffff,0000ffff"
    files[f"{NODE}/node1/cpumap"] = "00000000,00000000,00000000,00000000"
    n0, n1 = read_numa(tree(files)).nodes
    assert n0.cpus == frozenset(range(0, 16)) | frozenset(range(32, 48))
    assert n1.cpus == frozenset()


def test_node_cpus_unknown_when_neither_file_is_there(tree):
    files = two_node_tree()
    del files[f"{NODE}/node1/cpulist"]
    files[f"{NODE}/node0/cpumap"] = "zz"  # never read: the cpulist is there and wins
    n0, n1 = read_numa(tree(files)).nodes
    assert n0.cpus == frozenset(range(0, 16)) | frozenset(range(32, 48))
    assert isinstance(n1.cpus, Unread) and n1.cpus.reason is Reason.MISSING
    assert n1.cpus.source == f"{NODE}/node1/cpulist"


def test_thp_ksm_swap_vm(tree):
    host = tree(two_node_tree())
    thp = read_thp(host)
    assert (thp.enabled, thp.defrag, thp.configured) == ("never", "never", "never")
    assert thp.enabled_choices == ("always", "madvise", "never")
    assert thp.anon_hugepages_kb == 0
    ksm = read_ksm(host)
    assert ksm.run == 0 and ksm.state == "stopped" and ksm.pages_sharing == 0
    swap = read_swap(host)
    assert swap.devices == () and swap.active is False and swap.total_kb == 0
    vm = read_vm_sysctls(host)
    assert vm.by_name() == {"vm.swappiness": 10, "vm.zone_reclaim_mode": 0, "vm.dirty_ratio": 10,
                            "vm.dirty_background_ratio": 3, "vm.dirty_bytes": 0,
                            "vm.dirty_background_bytes": 0, "vm.stat_interval": 10,
                            "kernel.numa_balancing": 0}
    assert vm.dirty_limit == "10% of available memory"


def test_dirty_bytes_take_precedence(tree):
    files = two_node_tree()
    files["/proc/sys/vm/dirty_bytes"] = "268435456"
    files["/proc/sys/vm/dirty_ratio"] = "0"
    vm = read_vm_sysctls(tree(files))
    assert vm.dirty_limit == "268435456 bytes"
    assert vm.dirty_background_limit == "3% of available memory"


def test_swap_devices_and_ksm_running(tree):
    files = two_node_tree()
    files["/proc/swaps"] = ("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                            "/dev/dm-1                               partition\t8388604\t\t1024\t\t-2\n")
    files["/sys/kernel/mm/ksm/run"] = "1"
    host = tree(files)
    swap = read_swap(host)
    assert swap.active is True
    assert [(d.filename, d.type, d.size_kb, d.used_kb, d.priority) for d in swap.devices] == [
        ("/dev/dm-1", "partition", 8388604, 1024, -2)]
    assert read_ksm(host).state == "running"


# ---- what cannot be read stays unknown, with why ------------------------------------------


def test_missing_files_are_missing_never_zero(tree):
    host = tree({"/proc/cmdline": "ro"})
    mem = read_memory(host)
    for value in (mem.hugepages.default_size_kb, mem.hugepages.pools, mem.hugepages.nodes,
                  mem.numa.nodes, mem.numa.mem_total_kb, mem.thp.enabled, mem.thp.defrag,
                  mem.ksm.run, mem.ksm.state, mem.swap.devices, mem.swap.active, mem.vm.swappiness,
                  mem.vm.numa_balancing, mem.vm.dirty_limit, mem.hugepages.total_kb):
        assert isinstance(value, Unread) and value.reason is Reason.MISSING, value
    assert mem.vm.swappiness.source == "/proc/sys/vm/swappiness"
    assert mem.thp.configured is None  # the command line was read, and has no transparent_hugepage=


def test_malformed_swappiness_names_the_path(tree):
    files = two_node_tree()
    files["/proc/sys/vm/swappiness"] = "abc"
    files["/proc/swaps"] = "this is not /proc/swaps"
    files[f"{HP}/hugepages-1048576kB/free_hugepages"] = "six"
    host = tree(files)
    vm = read_vm_sysctls(host)
    assert vm.swappiness.reason is Reason.MALFORMED
    assert "/proc/sys/vm/swappiness" in str(vm.swappiness)
    assert vm.dirty_ratio == 10  # one bad file spoils only itself
    assert read_swap(host).devices.reason is Reason.MALFORMED
    pool = read_hugepages(host).pool(1048576)
    assert pool.total == 8 and pool.free.reason is Reason.MALFORMED and pool.in_use.reason is Reason.MALFORMED


def test_denied_reads_as_denied(tree):
    # A snapshot replays reads that were denied at capture (hftinfra/unread.json); root on
    # the live host cannot be denied a sysctl read, so this is where DENIED is testable.
    files = two_node_tree()
    files["/hftinfra/unread.json"] = json.dumps({
        "/proc/sys/vm/swappiness": {"reason": "denied", "detail": ""},
        "/sys/kernel/mm/transparent_hugepage/enabled": {"reason": "denied", "detail": ""},
        f"{NODE}/node1/meminfo": {"reason": "denied", "detail": ""}})
    host = tree(files)
    assert read_vm_sysctls(host).swappiness.reason is Reason.DENIED
    thp = read_thp(host)
    assert thp.enabled.reason is Reason.DENIED and thp.enabled_choices.reason is Reason.DENIED
    assert thp.defrag == "never"
    n1 = read_numa(host).nodes[1]
    assert n1.mem_total_kb.reason is Reason.DENIED and n1.cpus == frozenset(range(16, 32)) | frozenset(range(48, 64))


def test_node_without_hugepages_directory(tree):
    files = {k: v for k, v in two_node_tree().items() if "/node1/hugepages/" not in k}
    hp = read_hugepages(tree(files))
    assert hp.nodes[0].pool(1048576).total == 0
    assert hp.nodes[1].pools.reason is Reason.MISSING
    assert hp.nodes[1].pool(1048576) is None


def test_records_are_frozen_and_jsonable(tree):
    mem = read_memory(tree(two_node_tree()))
    with pytest.raises(AttributeError):
        mem.vm.swappiness = 0  # type: ignore[misc]
    data = json.loads(json.dumps(to_jsonable(mem)))
    assert data["numa"]["nodes"][1]["cpus"] == "16-31,48-63"
    assert data["hugepages"]["pools"][1]["size_kb"] == 1048576


# ---- the live host, cross-checked with its own tools --------------------------------------


def _sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def live():
    return open_host(None)


@pytest.mark.live
@pytest.mark.skipif(not shutil.which("sysctl"), reason="sysctl(8) not installed")
def test_live_sysctls_match_sysctl_n(live):
    vm = read_vm_sysctls(live)
    for name, value in vm.by_name().items():
        expected = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True)
        if expected.returncode != 0:
            assert isinstance(value, Unread), name
        else:
            assert value == int(expected.stdout.strip()), name


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return None


def _meminfo() -> dict[str, int]:
    # "Name:   value kB" (fs/proc/meminfo.c); HugePages_* have no unit.
    return {line.split(":")[0]: int(line.split(":")[1].split()[0])
            for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line}


@pytest.mark.live
def test_live_hugepages_match_meminfo_and_sysfs(live):
    hp = read_hugepages(live)
    meminfo = _meminfo()
    if "Hugepagesize" not in meminfo:  # a kernel without CONFIG_HUGETLBFS
        assert isinstance(hp.default_size_kb, Unread)
    else:
        assert hp.default_size_kb == meminfo["Hugepagesize"]
        default = hp.pool(hp.default_size_kb)
        # /proc/meminfo's HugePages_* describe the default size's pool (admin-guide/mm/hugetlbpage.rst)
        assert (default.total, default.free, default.reserved, default.surplus) == (
            meminfo["HugePages_Total"], meminfo["HugePages_Free"],
            meminfo["HugePages_Rsvd"], meminfo["HugePages_Surp"])
    if not os.path.isdir(HP):
        assert isinstance(hp.pools, Unread) and hp.pools.reason is Reason.MISSING
        return
    sizes = sorted(int(d.split("-")[1][:-2]) for d in os.listdir(HP) if d.startswith("hugepages-"))
    assert [p.size_kb for p in hp.pools] == sizes
    for pool in hp.pools:
        assert pool.total == int(_read(f"{pool.source}/nr_hugepages"))
    if isinstance(hp.nodes, tuple):
        for node in hp.nodes:
            if isinstance(node.pools, Unread):
                assert not os.path.isdir(f"{NODE}/node{node.node}/hugepages")
                continue
            for pool in node.pools:
                assert pool.total == int(_read(f"{pool.source}/nr_hugepages"))


@pytest.mark.live
def test_live_thp_ksm_swap(live):
    thp = read_thp(live)
    for name, value in (("enabled", thp.enabled), ("defrag", thp.defrag)):
        text = _read(f"/sys/kernel/mm/transparent_hugepage/{name}")
        if text is None:  # CONFIG_TRANSPARENT_HUGEPAGE off
            assert isinstance(value, Unread) and value.reason is Reason.MISSING, name
        else:
            assert f"[{value}]" in text.split(), name
    run = _read("/sys/kernel/mm/ksm/run")
    ksm = read_ksm(live)
    if run is None:  # CONFIG_KSM off
        assert isinstance(ksm.run, Unread) and ksm.run.reason is Reason.MISSING
    else:
        assert ksm.run == int(run)
    swap_rows = Path("/proc/swaps").read_text().splitlines()[1:]
    assert len(read_swap(live).devices) == len(swap_rows)


@pytest.mark.live
def test_live_numa_matches_sysfs(live):
    numa = read_numa(live)
    assert numa.mem_total_kb == _meminfo()["MemTotal"]
    if not os.path.isdir(NODE):  # a kernel without CONFIG_NUMA
        assert isinstance(numa.nodes, Unread) and numa.nodes.reason is Reason.MISSING
        return
    nodes = sorted(int(n[4:]) for n in os.listdir(NODE) if n.startswith("node") and n[4:].isdigit())
    assert [n.node for n in numa.nodes] == nodes
    for n in numa.nodes:
        base = f"{NODE}/node{n.node}"
        cpulist = _read(f"{base}/cpulist")
        if cpulist is not None:
            assert n.cpus == (parse_sysfs_cpulist(cpulist)), n.node  # empty for a memory-only node
        distance = _read(f"{base}/distance")
        if distance is not None:
            assert n.distances == tuple(int(d) for d in distance.split()), n.node
        info = _read(f"{base}/meminfo")
        if info is not None:
            # "Node 0 MemTotal:  16384 kB" (drivers/base/node.c); 0 on a CPU-only node.
            total = next(int(line.split()[3]) for line in info.splitlines() if line.split()[2] == "MemTotal:")
            assert n.mem_total_kb == total, n.node


# ---- the real captured trees --------------------------------------------------------------


def test_corpus_never_crashes_and_missing_is_missing(corpus_host):
    mem = read_memory(corpus_host)
    json.dumps(to_jsonable(mem))
    # neither tree holds /sys/kernel/mm/hugepages or transparent_hugepage
    assert mem.hugepages.pools.reason is Reason.MISSING
    assert mem.thp.enabled.reason is Reason.MISSING
    assert mem.hugepages.default_size_kb == 2048
    assert mem.vm.numa_balancing.reason is Reason.MISSING


def corpus(name: str):
    path = Path(__file__).resolve().parents[2] / "shared" / "corpus" / name
    if not path.is_dir():
        pytest.skip(f"{path} not present (no ../shared/corpus beside this clone)")
    return open_host(path)


def test_corpus_node_exporter_exact():
    mem = read_memory(corpus("node_exporter"))
    assert [(d.filename, d.size_kb, d.used_kb, d.priority) for d in mem.swap.devices] == [
        ("/dev/zram0", 8388604, 76, 100)]
    assert mem.numa.mem_total_kb == 3742148
    assert [n.node for n in mem.numa.nodes] == [0, 1, 2]
    assert mem.numa.nodes[1].mem_total_kb == 134217728
    assert mem.numa.nodes[1].distances.reason is Reason.MISSING  # no distance file in that tree
    assert mem.ksm.run == 1 and mem.ksm.state == "running"
    assert mem.vm.swappiness.reason is Reason.MISSING


def test_corpus_procfs_exact():
    mem = read_memory(corpus("procfs"))
    assert [(d.filename, d.type, d.size_kb, d.used_kb, d.priority) for d in mem.swap.devices] == [
        ("/dev/dm-2", "partition", 131068, 176, -2)]
    assert mem.thp.anon_hugepages_kb == 12288
    assert (mem.vm.swappiness, mem.vm.dirty_ratio, mem.vm.dirty_background_ratio, mem.vm.dirty_bytes,
            mem.vm.stat_interval, mem.vm.zone_reclaim_mode) == (60, 20, 10, 0, 1, 0)
    assert mem.vm.dirty_limit == "20% of available memory"
    assert mem.ksm.run.reason is Reason.MISSING


# ---- layering ----------------------------------------------------------------------------


def test_no_heavy_imports():
    code = ("import sys, hftinfra.memory, hftinfra.kernel; "
            "print([m for m in ('plotly', 'pandas', 'ipywidgets') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- snapshot round trip -----------------------------------------------------------------

# Counters that move between two reads of a live host.


# ---- the page's figure and tables --------------------------------------------------------


def test_node_breakdown_splits_hugepages_out_of_used_memory(tree):
    from hftinfra.viz.memory import memory_per_node_figure, node_breakdown, settings_rows

    mem = read_memory(tree(two_node_tree()))
    n0, n1 = node_breakdown(mem)
    assert [s[0] for s in n0["segments"]] == ["other used", "free"]
    assert n0["segments"][0][1] == 197132540 - 190118604
    seg = {s[0]: s[1] for s in n1["segments"]}
    assert seg == {"1 GiB hugepages in use": 2 * 1048576, "1 GiB hugepages free": 6 * 1048576,
                   "other used": 197818556 - 185000016 - 8 * 1048576, "free": 185000016}
    fig = memory_per_node_figure(mem)
    assert [t.name for t in fig.data] == ["other used", "free", "1 GiB hugepages in use", "1 GiB hugepages free"]
    assert not fig.layout.annotations
    rows = {r[0]: r for r in settings_rows(mem)}
    assert rows["1 GiB hugepages"][1:3] == ("8 pages, 6 free (node 1: 8)", "8 (node 0: 0, node 1: 8)")
    assert rows["THP enabled"][1:3] == ("never", "never")


def test_figure_says_unknown_instead_of_drawing_zero(tree):
    from hftinfra.viz.memory import memory_per_node_figure, node_breakdown

    files = {k: v for k, v in two_node_tree().items() if "/node1/hugepages/" not in k and k != f"{NODE}/node0/meminfo"}
    mem = read_memory(tree(files))
    n0, n1 = node_breakdown(mem)
    assert n0["segments"] == [] and "MemTotal/MemFree" in n0["problems"][0]
    assert "hugepages" in n1["problems"][0]
    text = memory_per_node_figure(mem).layout.annotations[0].text
    assert "node 0: MemTotal/MemFree: unknown (missing" in text and "node 1: hugepages: unknown (missing" in text


# ---- the fixture hosts (tests/hosts) ------------------------------------------------------

HOSTS = Path(__file__).resolve().parent / "hosts"


def fixture(name: str):
    return open_host(HOSTS / name)


def test_tuned_2s():
    mem = read_memory(fixture("tuned-2s"))
    hp = mem.hugepages
    assert hp.default_size_kb == 1048576
    assert hp.pool(1048576) == HugepagePool(1048576, 16, 16, 0, 0, f"{HP}/hugepages-1048576kB")
    assert hp.pool(2048).total == 0
    assert [(n.node, n.pool(1048576).total, n.pool(1048576).free) for n in hp.nodes] == [(0, 0, 0), (1, 16, 16)]
    assert hp.configured.default_hugepagesz_kb == 1048576
    assert [(r.size_kb, r.count, r.per_node) for r in hp.configured.hugepages] == [(1048576, 16, ((0, 0), (1, 16)))]
    assert (mem.thp.enabled, mem.thp.defrag, mem.thp.configured) == ("never", "never", "never")
    assert mem.ksm.run == 0
    assert mem.swap.devices == () and mem.swap.total_kb == 0
    assert mem.vm.by_name() == {"vm.swappiness": 10, "vm.zone_reclaim_mode": 0, "vm.dirty_ratio": 10,
                                "vm.dirty_background_ratio": 3, "vm.dirty_bytes": 0, "vm.dirty_background_bytes": 0,
                                "vm.stat_interval": 10, "kernel.numa_balancing": 0}
    n0, n1 = mem.numa.nodes
    assert (n0.cpus, n0.distances) == (frozenset(range(0, 8)) | frozenset(range(16, 24)), (10, 20))
    assert (n1.cpus, n1.distances) == (frozenset(range(8, 16)) | frozenset(range(24, 32)), (20, 10))
    assert n1.mem_total_kb == 131661408 and n1.mem_free_kb == 110248288
    assert mem.numa.mem_total_kb == 263322816
    # node 1's 16 GiB of hugepages are part of its used memory, not of "other used"
    from hftinfra.viz.memory import node_breakdown

    seg = {s[0]: s[1] for s in node_breakdown(mem)[1]["segments"]}
    assert seg["1 GiB hugepages free"] == 16 * 1048576
    assert seg["other used"] == 131661408 - 110248288 - 16 * 1048576


def test_untuned_2s():
    mem = read_memory(fixture("untuned-2s"))
    assert mem.hugepages.default_size_kb == 2048
    assert all(p.total == 0 for p in mem.hugepages.pools)
    assert mem.hugepages.configured.hugepages == () and mem.thp.configured is None
    assert (mem.thp.enabled, mem.thp.defrag) == ("always", "madvise")
    assert mem.thp.anon_hugepages_kb == 1126400
    assert [(d.filename, d.size_kb) for d in mem.swap.devices] == [("/dev/dm-1", 8388604)]
    assert mem.swap.active is True and mem.swap.total_kb == 8388604
    assert (mem.vm.swappiness, mem.vm.numa_balancing, mem.vm.stat_interval) == (60, 1, 1)
    assert mem.vm.dirty_limit == "20% of available memory"


def test_unreadable_host_keeps_reasons():
    mem = read_memory(fixture("unreadable"))
    n0 = mem.numa.nodes[0]
    assert n0.mem_total_kb.reason is Reason.DENIED and n0.mem_free_kb.reason is Reason.DENIED
    assert not isinstance(n0.cpus, Unread)
    # /proc/cmdline denied: what the command line configures is unknown, not "absent"
    assert mem.hugepages.configured.reason is Reason.DENIED
    assert mem.thp.configured.reason is Reason.DENIED
    assert not isinstance(mem.thp.enabled, Unread)


def test_every_fixture_host_reads_without_error():
    for host_dir in sorted(p for p in HOSTS.iterdir() if p.is_dir()):
        data = to_jsonable(read_memory(open_host(host_dir)))
        json.dumps(data)
        assert data["vm"]["swappiness"] is not None, host_dir.name
