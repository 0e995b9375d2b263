"""Memory checks where the verdict or the fix depends on the kernel: per-size THP controls
(6.8+), compaction of mlocked pages, and the node form of hugepages= (5.16+)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hftinfra.audit import run_audit
from hftinfra.checks.memory import hugepage_reservation
from hftinfra.host import open_host

HOSTS = Path(__file__).resolve().parent / "hosts"
THP = "/sys/kernel/mm/transparent_hugepage"
NODE = "/sys/devices/system/node"
CPU = "/sys/devices/system/cpu"
OSREL = "/proc/sys/kernel/osrelease"
CMDLINE = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro isolcpus=2-3 transparent_hugepage=never"


def two_node_files(release: str = "6.1.0-18-amd64", nodes: int = 2) -> dict:
    """A small host: 4 CPUs, CPUs 2-3 isolated on the last node, memory settings tuned except
    that no hugepages are reserved."""
    files = {
        OSREL: release, "/proc/sys/kernel/version": "#1 SMP PREEMPT_DYNAMIC",
        "/proc/cmdline": CMDLINE,
        f"{CPU}/possible": "0-3", f"{CPU}/present": "0-3", f"{CPU}/online": "0-3", f"{CPU}/isolated": "2-3",
        f"{THP}/enabled": "always madvise [never]", f"{THP}/defrag": "always defer defer+madvise madvise [never]",
        "/sys/kernel/mm/ksm/run": "0", "/sys/kernel/mm/ksm/pages_sharing": "0",
        "/proc/swaps": "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority",
        "/proc/meminfo": "MemTotal: 16384000 kB\nMemFree: 8000000 kB\nMemAvailable: 9000000 kB\n"
                         "SwapTotal: 0 kB\nSwapFree: 0 kB\nAnonHugePages: 0 kB\nHugepagesize: 2048 kB",
        "/proc/sys/vm/swappiness": "10", "/proc/sys/vm/zone_reclaim_mode": "0",
        "/proc/sys/vm/dirty_ratio": "10", "/proc/sys/vm/dirty_background_ratio": "3",
        "/proc/sys/vm/dirty_bytes": "0", "/proc/sys/vm/dirty_background_bytes": "0",
        "/proc/sys/vm/stat_interval": "10", "/proc/sys/vm/min_free_kbytes": "67584",
        "/proc/sys/vm/overcommit_memory": "0", "/proc/sys/vm/compact_unevictable_allowed": "0",
        "/proc/sys/kernel/numa_balancing": "0",
        f"{NODE}/possible": f"0-{nodes - 1}", f"{NODE}/online": f"0-{nodes - 1}",
    }
    cpus = {0: "0-1", 1: "2-3"} if nodes == 2 else {0: "0-3"}
    for size in (2048, 1048576):
        d = f"/sys/kernel/mm/hugepages/hugepages-{size}kB"
        files.update({f"{d}/nr_hugepages": "0", f"{d}/free_hugepages": "0", f"{d}/resv_hugepages": "0",
                      f"{d}/surplus_hugepages": "0"})
        for n in range(nodes):
            nd = f"{NODE}/node{n}/hugepages/hugepages-{size}kB"
            files.update({f"{nd}/nr_hugepages": "0", f"{nd}/free_hugepages": "0", f"{nd}/surplus_hugepages": "0"})
    for n in range(nodes):
        files[f"{NODE}/node{n}/cpulist"] = cpus[n]
        files[f"{NODE}/node{n}/meminfo"] = f"Node {n} MemTotal: 8192000 kB\nNode {n} MemFree: 4000000 kB"
        files[f"{NODE}/node{n}/distance"] = " ".join("10" if k == n else "20" for k in range(nodes))
    return files


def reserve(files: dict, size_kb: int, per_node: dict[int, int]) -> dict:
    """Set the pools of one size as the kernel would show them after reserving per_node."""
    total = str(sum(per_node.values()))
    d = f"/sys/kernel/mm/hugepages/hugepages-{size_kb}kB"
    files.update({f"{d}/nr_hugepages": total, f"{d}/free_hugepages": total})
    for n, count in per_node.items():
        nd = f"{NODE}/node{n}/hugepages/hugepages-{size_kb}kB"
        files.update({f"{nd}/nr_hugepages": str(count), f"{nd}/free_hugepages": str(count)})
    return files


@pytest.fixture
def host(tmp_path):
    counter = iter(range(1000))

    def make(files: dict, drop: tuple[str, ...] = ()):
        root = tmp_path / f"h{next(counter)}"
        for key, content in files.items():
            if any(key == d or key.startswith(d.rstrip("/") + "/") for d in drop):
                continue
            dest = root / key.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(content + "\n")
        return open_host(root)

    return make


def finding(host, check_id: str, profile: str = "hft-isolated"):
    return run_audit(host, profile, only=["memory"]).finding(check_id)


def commands(fix: str) -> str:
    """The lines of a fix that run, without its comments."""
    return "\n".join(line for line in fix.splitlines() if not line.lstrip().startswith("#"))


def with_sizes(files: dict, sizes: dict[int, str]) -> dict:
    for kb, line in sizes.items():
        files[f"{THP}/hugepages-{kb}kB/enabled"] = line
    return files


# ---- memory.compact_unevictable ------------------------------------------------------------

def test_compaction_of_mlocked_pages_fails_and_says_how_to_stop_it(host):
    f = finding(host({**two_node_files(), "/proc/sys/vm/compact_unevictable_allowed": "1"}),
                "memory.compact_unevictable")
    assert f.status == "fail", (f.observed, f.message)
    assert "sysctl -w vm.compact_unevictable_allowed=0" in f.fix
    assert "/etc/sysctl.d/" in f.fix


def test_compaction_kept_off_mlocked_pages_passes(host):
    f = finding(host(two_node_files()), "memory.compact_unevictable")
    assert (f.status, f.observed) == ("pass", "0")


def test_kernel_without_compaction_skips(host):
    files = {**two_node_files(), "/boot/config-6.1.0-18-amd64": "CONFIG_HZ=1000\n# CONFIG_COMPACTION is not set"}
    f = finding(host(files, drop=("/proc/sys/vm/compact_unevictable_allowed",)), "memory.compact_unevictable")
    assert f.status == "skip" and "CONFIG_COMPACTION" in f.message


def test_full_listing_without_the_file_skips(host):
    f = finding(host(two_node_files(), drop=("/proc/sys/vm/compact_unevictable_allowed",)),
                "memory.compact_unevictable")
    assert f.status == "skip" and "lists no compact_unevictable_allowed" in f.message


def test_snapshot_that_did_not_record_the_file_is_unknown_not_absent(host):
    # An older snapshot holds only the files its probes read: swappiness, not the rest of the folder.
    f = finding(host(two_node_files(), drop=("/proc/sys/vm/compact_unevictable_allowed",
                                             "/proc/sys/vm/min_free_kbytes", "/proc/sys/vm/overcommit_memory")),
                "memory.compact_unevictable")
    assert f.status == "unknown", (f.observed, f.message)


def test_missing_file_with_compaction_built_is_unknown(host):
    files = {**two_node_files(), "/boot/config-6.1.0-18-amd64": "CONFIG_HZ=1000\nCONFIG_COMPACTION=y"}
    f = finding(host(files, drop=("/proc/sys/vm/compact_unevictable_allowed",)), "memory.compact_unevictable")
    assert f.status == "unknown" and "compact_unevictable_allowed" in f.message and f.fix is None


@pytest.mark.live
def test_live_compaction_setting_matches_procfs():
    try:
        value = int(Path("/proc/sys/vm/compact_unevictable_allowed").read_text())
    except (OSError, ValueError):
        pytest.skip("compact_unevictable_allowed not readable here")
    f = finding(open_host(None), "memory.compact_unevictable")
    assert f.observed == str(value)
    assert f.status == ("pass" if value == 0 else "fail")


# ---- memory.thp: per-size controls -----------------------------------------------------------

def test_a_size_set_to_always_is_on_despite_top_level_never(host):
    files = with_sizes(two_node_files("6.8.0-31-generic"), {
        64: "[always] inherit madvise never", 2048: "always [inherit] madvise never"})
    f = finding(host(files), "memory.thp")
    assert f.status == "fail", (f.observed, f.message)
    assert "64 kB (always)" in f.observed and "top-level never" in f.observed
    assert "does not cover a size set to always" in f.message
    # the command line's never is in effect at the top level: not a "configured but not in effect"
    assert "configured but not in effect" not in f.message
    assert f"echo never > {THP}/hugepages-64kB/enabled" in f.fix
    assert "hugepages-2048kB" not in f.fix  # it inherits the top level, which the fix sets


def test_inherit_follows_the_top_level(host):
    files = with_sizes(two_node_files("6.8.0-31-generic"), {
        64: "always inherit madvise [never]", 2048: "always [inherit] madvise never"})
    files[f"{THP}/enabled"] = "[always] madvise never"
    files["/proc/cmdline"] = CMDLINE.replace(" transparent_hugepage=never", "")
    f = finding(host(files), "memory.thp")
    assert f.status == "fail" and "2 MiB (inherits always)" in f.observed


def test_every_size_never_passes(host):
    files = with_sizes(two_node_files("6.8.0-31-generic"), {
        64: "always inherit madvise [never]", 2048: "always [inherit] madvise never"})
    f = finding(host(files), "memory.thp")
    assert f.status == "pass", (f.observed, f.message)
    assert f.observed.startswith("never for every size (2 per-size controls)")


def test_a_size_without_an_anonymous_control_is_not_counted(host):
    # x86-64 6.18 lists hugepages-8kB with only shmem_enabled in it.
    files = with_sizes(two_node_files("6.18.44"), {2048: "always [inherit] madvise never"})
    files[f"{THP}/hugepages-8kB/shmem_enabled"] = "always inherit within_size advise [never]"
    f = finding(host(files), "memory.thp")
    assert f.status == "pass" and "1 per-size controls" in f.observed


def test_snapshot_of_a_6_8_kernel_without_recorded_sizes_is_unknown(host):
    f = finding(host(two_node_files("6.8.0-31-generic")), "memory.thp")
    assert f.status == "unknown", (f.observed, f.message)
    assert "6.8" in f.message and f.fix is None


def test_older_kernel_has_only_the_top_level(host):
    f = finding(host(two_node_files("6.1.0-18-amd64")), "memory.thp")
    assert f.status == "pass" and f.observed == "never, defrag never"


def test_unknown_kernel_version_and_no_sizes_is_unknown(host):
    f = finding(host(two_node_files(), drop=(OSREL,)), "memory.thp")
    assert f.status == "unknown" and "kernel version is unknown" in f.message


@pytest.mark.live
def test_live_thp_verdict_follows_the_per_size_files():
    base = Path(THP)
    try:
        top = base.joinpath("enabled").read_text().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        pytest.skip("no THP here")
    modes = [top]
    for d in base.glob("hugepages-*kB"):
        if (d / "enabled").exists():
            mode = (d / "enabled").read_text().split("[")[1].split("]")[0]
            modes.append(top if mode == "inherit" else mode)
    sized = len(modes) > 1
    effective = modes[1:] if sized else modes
    f = finding(open_host(None), "memory.thp")
    assert f.status in ("pass", "fail"), (f.observed, f.message)
    assert (f.status == "pass") == all(m == "never" for m in effective)


# ---- memory.hugepages: the fix follows the kernel --------------------------------------------

def test_fix_on_a_5_14_kernel_does_not_use_the_node_form(host):
    f = finding(host(two_node_files("5.14.0-362.24.1.el9_3.x86_64")), "memory.hugepages")
    assert f.status == "fail"
    assert "hugepages=0:" not in commands(f.fix) and "hugepages=1:" not in commands(f.fix)
    assert "predates the node form" in f.fix and "5.16" in f.fix
    assert "hugepages=2'" in commands(f.fix)  # one page per node at boot ...
    assert f"echo 0 > {NODE}/node0/hugepages/hugepages-1048576kB/nr_hugepages" in f.fix  # ... node 0's freed
    assert "node 1 (the node of the isolated CPUs 2-3)" in f.fix


def test_fix_on_a_5_16_kernel_uses_the_node_form(host):
    f = finding(host(two_node_files("6.1.0-18-amd64")), "memory.hugepages")
    assert "hugepages=0:0,1:1" in commands(f.fix) and "5.16+" in f.fix
    assert "echo 0 >" not in f.fix


def test_fix_with_an_unknown_kernel_version_uses_what_every_kernel_takes(host):
    f = finding(host(two_node_files(), drop=(OSREL,)), "memory.hugepages")
    assert "kernel version is unknown" in f.fix
    assert "hugepages=2'" in commands(f.fix) and "hugepages=0:" not in commands(f.fix)


def test_fix_on_one_node_uses_the_plain_count(host):
    f = finding(host(two_node_files("5.14.0-362.el9.x86_64", nodes=1)), "memory.hugepages")
    assert "hugepages=1'" in commands(f.fix) and "hugepages=0:" not in commands(f.fix)
    assert "one NUMA node" in f.fix


def test_node_form_on_a_pre_5_16_kernel_is_read_as_its_leading_number(host):
    files = two_node_files("4.18.0-513.el8.x86_64")
    files["/proc/cmdline"] = CMDLINE + " hugepagesz=1G hugepages=0:0,1:4"
    f = finding(host(files), "memory.hugepages")
    assert f.status == "fail", (f.observed, f.message)
    assert "predates the node form" in f.message and "read hugepages=0:0,1:4 as 0 pages" in f.message


def test_node_form_honoured_by_an_older_distribution_kernel_passes(host):
    files = reserve(two_node_files("5.14.0-362.24.1.el9_3.x86_64"), 1048576, {0: 0, 1: 4})
    files["/proc/cmdline"] = CMDLINE + " hugepagesz=1G hugepages=0:0,1:4"
    f = finding(host(files), "memory.hugepages")
    assert f.status == "pass", (f.observed, f.message)


def test_node_form_short_on_its_node_fails_even_with_the_right_total(host):
    files = reserve(two_node_files("6.1.0-18-amd64"), 1048576, {0: 2, 1: 2})
    files["/proc/cmdline"] = CMDLINE + " hugepagesz=1G hugepages=0:0,1:4"
    f = finding(host(files), "memory.hugepages")
    assert f.status == "fail", (f.observed, f.message)
    assert "node1 asks for 4, has 2" in f.message


def test_a_5_14_kernel_whose_command_line_node_form_is_in_effect_gets_the_node_form():
    # tuned-2s: RHEL 9's 5.14 kernel with hugepages=0:0,1:16 and 16 pages on node 1
    text = hugepage_reservation(open_host(HOSTS / "tuned-2s"), None, 4)
    assert "node 1" in text and "now: 16" in text
    assert f"echo 4 > {NODE}/node1/hugepages/hugepages-1048576kB/nr_hugepages" in text
    assert "hugepages=0:0,1:4'" in commands(text) and "backport" in text
    assert "does not exist" in hugepage_reservation(open_host(HOSTS / "tuned-2s"), 5, 1)


def test_a_5_14_kernel_whose_node_form_was_misread_gets_the_plain_count(host):
    files = two_node_files("5.14.0-362.24.1.el9_3.x86_64")
    files["/proc/cmdline"] = CMDLINE + " hugepagesz=1G hugepages=0:0,1:4"
    text = hugepage_reservation(host(files), 1, 4)
    assert "hugepages=8'" in commands(text) and "hugepages=0:" not in commands(text)
    assert "predates the node form" in text
