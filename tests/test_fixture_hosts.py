"""The committed fixture hosts are exactly what tests/hosts/build.py writes, and they are
coherent with themselves (the same fact agrees wherever the kernel shows it twice)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

HOSTS = Path(__file__).resolve().parent / "hosts"

spec = importlib.util.spec_from_file_location("fixture_build", HOSTS / "build.py")
build = importlib.util.module_from_spec(spec)
sys.modules.setdefault("fixture_build", build)
spec.loader.exec_module(build)


def _tree(root: Path) -> dict[str, tuple[str, bytes | str]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            else:
                out[rel] = ("file", Path(full).read_bytes())
    return out


@pytest.mark.parametrize("name", build.COMMITTED)
def test_committed_tree_matches_the_builder(name, tmp_path):
    committed = HOSTS / name
    assert committed.is_dir(), f"run: python tests/hosts/build.py ({committed} is missing)"
    fresh = _tree(build.build_host(name, tmp_path / name))
    on_disk = _tree(committed)
    missing = sorted(set(fresh) - set(on_disk))
    extra = sorted(set(on_disk) - set(fresh))
    changed = sorted(k for k in set(fresh) & set(on_disk) if fresh[k] != on_disk[k])
    assert not (missing or extra or changed), (
        f"{name} drifted from build.py (rebuild with: python tests/hosts/build.py): "
        f"missing {missing[:5]}, extra {extra[:5]}, changed {changed[:5]}")


def test_builder_is_deterministic():
    assert build.files_for("tuned-2s") == build.files_for("tuned-2s")


@pytest.mark.parametrize("nr, cpus, text", [
    (2, {0, 1}, "3"), (8, {1, 5}, "22"), (32, {0, 16}, "00010001"),
    (384, {383}, "80000000," + ",".join(["00000000"] * 11)),
])
def test_builder_masks_are_as_wide_as_the_kernel_prints_them(nr, cpus, text):
    assert build.cpumask(cpus, nr) == text


def test_big_host_has_384_cpus_and_wide_masks(tmp_path):
    from hftinfra.host import open_host

    host = open_host(build.build_host("big-4s", tmp_path / "big-4s.tar.gz"))
    cpu = "/sys/devices/system/cpu"
    assert host.read(f"{cpu}/online") == "0-383"
    assert len([n for n in host.listdir(cpu) if n[3:].isdigit()]) == 384
    assert len(host.read("/sys/devices/virtual/workqueue/cpumask").split(",")) == 12
    assert host.read(f"{cpu}/cpu200/topology/thread_siblings_list") == "8,200"
    assert host.read(f"{cpu}/cpu200/cpufreq/scaling_driver") == "intel_pstate"  # through the link


def test_archive_and_folder_hold_the_same_tree(tmp_path):
    from hftinfra.host import open_host

    folder = open_host(build.build_host("unreadable", tmp_path / "dir"))
    archive = open_host(build.build_host("unreadable", tmp_path / "u.tar.gz"))
    for path in ("/proc/cmdline", "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
                 "/sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq", "/proc/cpuinfo"):
        assert folder.read(path) == archive.read(path)
    assert folder.listdir("/sys/devices/system/cpu") == archive.listdir("/sys/devices/system/cpu")


@pytest.mark.parametrize("name", build.COMMITTED)
def test_fixture_is_self_consistent(name):
    root = HOSTS / name
    cpu = root / "sys/devices/system/cpu"
    online = (cpu / "online").read_text().strip()
    lscpu = json.loads(json.loads((root / "hftinfra/commands.json").read_text())["lscpu -J"]["stdout"])
    fields = {row["field"]: row["data"] for row in lscpu["lscpu"]}
    assert fields["On-line CPU(s) list:"] == online
    # /proc/cpuinfo lists online CPUs only.
    processors = [line for line in (root / "proc/cpuinfo").read_text().splitlines() if line.startswith("processor")]
    assert len(processors) == int(fields["CPU(s):"]) - len(build.MODELS[name]().offline)
    # The interrupts header has one column per online CPU.
    header = (root / "proc/interrupts").read_text().splitlines()[0].split()
    assert len(header) == len(processors)


@pytest.mark.parametrize("name", build.COMMITTED)
def test_interrupt_and_nic_files_agree(name):
    root = HOSTS / name
    lines = (root / "proc/interrupts").read_text().splitlines()
    numbered = [int(line.split(":")[0]) for line in lines[1:] if line.split(":")[0].strip().isdigit()]
    # kernel/irq/proc.c: the header is prec + 8 spaces, prec the width of the IRQ column
    prec = len(lines[1].split(":")[0])
    assert lines[0].startswith(" " * (prec + 8) + "CPU") and not lines[0].startswith(" " * (prec + 9))
    irq_dirs = {int(p.name) for p in (root / "proc/irq").iterdir() if p.name.isdigit()}
    assert set(numbered) <= irq_dirs
    # /proc/softirqs: a column per possible CPU, online or not
    possible = (root / "sys/devices/system/cpu/possible").read_text().strip()
    header = (root / "proc/softirqs").read_text().splitlines()[0].split()
    assert header == [f"CPU{c}" for c in range(int(possible.split("-")[-1]) + 1)]
    commands = json.loads((root / "hftinfra/commands.json").read_text())
    net = root / "sys/class/net"
    for iface in sorted(p.name for p in net.iterdir() if p.name != "lo"):
        device = net / iface / "device"
        vectors = {int(n) for n in os.listdir(device / "msi_irqs")}
        assert vectors <= irq_dirs
        assert all((device / "msi_irqs" / str(n)).read_text() == "msix\n" for n in vectors)
        node = (device / "numa_node").read_text().strip()
        assert {(root / f"proc/irq/{n}/node").read_text().strip() for n in vectors} == {node}
        address = os.path.basename(os.readlink(device))
        assert f"bus-info: {address}\n" in commands[f"ethtool -i {iface}"]["stdout"]
        rx = [q for q in os.listdir(net / iface / "queues") if q.startswith("rx-")]
        assert f"Combined:\t{len(rx)}\n" in commands[f"ethtool -l {iface}"]["stdout"].split("Current")[1]
        for option in ("", "-i", "-l", "-g", "-c", "-k", "-a", "-T"):
            assert f"ethtool {option} {iface}".replace("  ", " ") in commands


@pytest.mark.parametrize("name", build.COMMITTED)
def test_every_link_resolves_inside_the_tree(name):
    root = (HOSTS / name).resolve()
    links = [Path(d, n) for d, dirs, files in os.walk(root) for n in dirs + files if os.path.islink(os.path.join(d, n))]
    assert links
    for link in links:
        target = link.resolve()
        assert target.is_relative_to(root) and target.exists(), f"{link.relative_to(root)} -> {os.readlink(link)}"


@pytest.mark.parametrize("name", build.COMMITTED)
def test_pci_functions_and_their_driver_and_group_link_both_ways(name):
    """drivers/base/dd.c: a bound device's 'driver' link and the driver folder's link named
    after the device; drivers/iommu/iommu.c: 'iommu_group' and the group's devices/ entry."""
    root = (HOSTS / name).resolve()
    functions = sorted(p.parent for p in (root / "sys/devices").rglob("driver") if p.is_symlink())
    if name in ("tuned-2s", "untuned-2s"):
        assert [p.name for p in functions] == ["0000:04:00.0", "0000:b1:00.0"] + (
            ["0000:b1:00.1"] if name == "tuned-2s" else [])
    for pci in functions:
        driver = (pci / "driver").resolve()
        assert driver.parent == root / "sys/bus/pci/drivers"
        assert (driver / pci.name).resolve() == pci
        assert (root / "sys/bus/pci/devices" / pci.name).resolve() == pci
        group = pci / "iommu_group"
        assert group.is_symlink() == (name == "tuned-2s")  # the one host whose kernel remaps DMA
        if group.is_symlink():
            assert (group.resolve() / "devices" / pci.name).resolve() == pci
            # drivers/iommu/iommu-sysfs.c: the unit lists the device, the device links the unit
            assert ((pci / "iommu").resolve() / "devices" / pci.name).resolve() == pci


def test_big_host_nic_queues_sit_on_node3(tmp_path):
    from hftinfra.host import open_host
    from hftinfra.irq import read_affinity
    from hftinfra.net import read_nics

    host = open_host(build.build_host("big-4s", tmp_path / "big-4s.tar.gz"))
    ens = read_nics(host).nic("ens1f0")
    assert ens.numa_node == 3 and len(ens.rx_queues) == 8 and ens.ethtool.channels.max_combined == 256
    queues = [a for a in read_affinity(host).of_interface("ens1f0") if a.queues]
    assert {c for a in queues for c in a.effective_affinity} == {144, 336}  # node 3's housekeeping core
