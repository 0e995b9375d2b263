"""The benchmark's 512-CPU, 4,096-IRQ host (tests/hosts/build.py big-512) is a real host to
the parser, the probes and the audit, and the benchmark prints its figures on it. Its
figures are printed, never asserted: a slow machine is not a failure."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

import pytest
from conftest import HOSTS, REPO

from hftinfra import bench, snapshot
from hftinfra.host import SnapshotHost, Unread, open_host
from hftinfra.irq import parse_interrupts, parse_softirqs, read_affinity, read_interrupts, read_queue_chain
from hftinfra.probes import all_probes

spec = importlib.util.spec_from_file_location("fixture_build", HOSTS / "build.py")
build = importlib.util.module_from_spec(spec)
sys.modules.setdefault("fixture_build", build)
spec.loader.exec_module(build)

# arch/x86/kernel/irq.c arch_show_interrupts on a 5.14 bare-metal kernel with KVM built.
ARCH_ROWS = ["NMI", "LOC", "SPU", "PMI", "IWI", "RTR", "RES", "CAL", "TLB", "TRM", "THR", "DFR", "MCE", "MCP",
             "ERR", "MIS", "PIN", "NPI", "PIW"]


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory):
    return build.build_host("big-512", tmp_path_factory.mktemp("irq-host") / "big-512")


@pytest.fixture(scope="module")
def table(big_dir):
    return parse_interrupts((big_dir / "proc" / "interrupts").read_text())


def test_it_opens_as_a_snapshot_of_a_512_cpu_two_node_host(big_dir):
    host = open_host(big_dir)
    assert isinstance(host, SnapshotHost) and not host.is_live
    cpu = "/sys/devices/system/cpu"
    assert host.read(f"{cpu}/online") == "0-511"
    assert host.read("/sys/devices/system/node/online") == "0-1"
    # Isolated cores on both nodes, both threads of each, as isolcpus= and nohz_full= say.
    assert host.read(f"{cpu}/isolated") == host.read(f"{cpu}/nohz_full") == "16-127,144-255,272-383,400-511"
    assert "isolcpus=managed_irq,domain,16-127,144-255,272-383,400-511" in host.read("/proc/cmdline")
    assert host.read(f"{cpu}/cpu300/topology/thread_siblings_list") == "44,300"
    # One APIC ID per CPU, though a package has 128 cores (more than 7 bits of core and thread).
    apic = re.findall(r"^apicid\t\t: (\d+)$", host.read("/proc/cpuinfo"), re.M)
    assert len(apic) == 512 and len(set(apic)) == 512


def test_parse_sees_512_cpus_4096_irqs_and_every_architecture_row(big_dir, table):
    assert (big_dir / "proc" / "interrupts").stat().st_size > 20_000_000  # 512 columns of "%10u "
    assert table.cpus == tuple(range(512))
    assert len(table.numbered) == 4096
    assert [r.key for r in table.named] == ARCH_ROWS
    assert table.row("ERR").per_cpu is False and table.row("LOC").description == "Local timer interrupts"
    assert all(len(r.counts) == 512 for r in table.rows if r.per_cpu)
    ports = table.row(120)
    assert (ports.chip, ports.flow, ports.actions) == ("PCI-MSI", "edge", ("PCIe PME", "aerdrv"))
    last = table.numbered[-1]
    assert last.actions == ("nvme29q128",) and last.hwirq == str(128 | (0xa7 << 8) << 11)
    names = [a for r in table.numbered for a in r.actions]
    assert len([a for a in names if re.fullmatch(r"nvme\d+q\d+", a)]) == 30 * 129
    assert len([a for a in names if a.startswith("mlx5_comp")]) == 63
    softirqs = parse_softirqs((big_dir / "proc" / "softirqs").read_text())
    assert softirqs.cpus == tuple(range(512)) and len(softirqs.rows) == 10


def test_the_interrupts_probe_reads_the_whole_file(big_dir):
    counts = read_interrupts(open_host(big_dir))
    assert not isinstance(counts.interrupts, Unread)
    assert len(counts.interrupts.numbered) == 4096
    assert [r.key for r in counts.interrupts.named] == ARCH_ROWS


def test_affinity_probe_resolves_each_nic_queue_irq_to_its_interface(big_dir):
    host = open_host(big_dir)
    aff = read_affinity(host)
    assert not isinstance(aff.irqs, Unread)
    assert aff.unresolved_interfaces == {}
    # name: (MSI-X vectors, queue vectors requested)
    nics = {"ens1f0": (257, 64), "ens1f1": (257, 64), "ens3f0np0": (64, 63), "eno1": (9, 8), "eno2": (9, 8)}
    for name, (vectors, queues) in nics.items():
        mine = [a for a in aff.irqs if a.interfaces == (name,)]
        assert len(mine) == vectors, name
        numbers = sorted(q.number for a in mine for q in a.queues)
        assert numbers == list(range(queues)), name
    comp3 = next(a for a in aff.irqs if a.actions == ("mlx5_comp3@pci:0000:3b:00.0",))
    assert comp3.interfaces == ("ens3f0np0",) and comp3.chip_name == "PCI-MSI" and comp3.type == "edge"
    # Every queue lands on a housekeeping CPU of its NIC's node, as the tuning pinned it.
    chain = read_queue_chain(host)
    for name in nics:
        links = [link for link in chain.of_interface(name) if link.queue is not None]
        assert len(links) == nics[name][1], name
        assert {link.role for link in links} == {"housekeeping"} and not any(link.cross_node for link in links)


def test_audit_of_it_runs_to_completion(big_dir):
    proc = subprocess.run([sys.executable, "-m", "hftinfra", "audit", "--host", str(big_dir), "--format", "json"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["host"]["cpus"] == 512
    for f in report["findings"]:
        assert "failed:" not in f["message"], (f["id"], f["message"])  # no probe or check crashed
        for path in ("/proc/interrupts", "/proc/softirqs"):
            assert not (path in f["message"] and "could not be parsed" in f["message"]), (f["id"], f["message"])


def test_grown_capture_has_as_many_irqs_in_the_kernel_layout(tmp_path):
    """Where the checkout's builder is absent, the bench grows a capture instead."""
    base = snapshot.capture(open_host(HOSTS / "tuned-2s"), all_probes()).captured
    grown = bench.grow_irqs(base, 1200)
    host = open_host(snapshot.write(grown, tmp_path / "grown"))
    text = host.read("/proc/interrupts")
    before = parse_interrupts(base.files["proc/interrupts"].decode())
    after = parse_interrupts(text)
    assert len(after.numbered) == 1200 and after.cpus == before.cpus
    assert [r.key for r in after.named] == [r.key for r in before.named]  # still last, in order
    keys = [r.key for r in after.numbered]
    assert keys == sorted(keys) and keys[:len(before.numbered)] == [r.key for r in before.numbered]
    # The IRQ column is as wide as the largest number: "%*d:" with prec 4 here.
    assert re.search(r"^ {3}0:", text, re.M) and re.search(rf"^{keys[-1]}:", text, re.M)
    clone = keys[-1]
    template = keys[(1200 - len(before.numbered) - 1) % len(before.numbered)]
    assert after.row(clone).counts == after.row(template).counts
    assert host.read(f"/proc/irq/{clone}/smp_affinity_list") == host.read(f"/proc/irq/{template}/smp_affinity_list")
    assert read_affinity(host).irq(clone).actions == after.row(clone).actions


def test_bench_prints_its_interrupt_figures(big_dir, capsys):
    assert bench.main(["--quick", "--only", "irq", "--only", "audit", "--irq-host", str(big_dir)]) == 0
    out = capsys.readouterr().out
    ms = r"\s+\d+\.\d ms median\s+\d+\.\d ms min"
    assert re.search(r"512-CPU host with 4096 IRQs \(given", out), out
    for label in ("parse_interrupts:", "parse_softirqs:", "on it \\(a fresh open each run\\):",
                  "on the live host:"):
        assert re.search(label + ms, out), (label, out)
    assert re.search(r"ratio:\s+\d+\.\d x", out), out
    assert re.search(r"irq\.interrupts through the host:\s+512 CPUs, \d+ numbered rows", out), out
    assert re.search(r"512-CPU, 4,096-IRQ host \(given\)\s+median\s+\d+\.\d ms", out), out
    assert re.search(r"live host\s+median\s+\d+\.\d ms", out), out
