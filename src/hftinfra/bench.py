"""``python -m hftinfra.bench``: how long probing and capturing take. Prints figures; it is
not a test and never fails on a slow machine.

Figures: every probe in-process on the live host, the same on a 384-CPU host, how the
cost grows with CPU count, snapshot capture time and archive size, CLI start-up, the
interrupt and network side on a 512-CPU host with 4,096 IRQs (parsing its
/proc/interrupts and /proc/softirqs, the irq and net probes against the live host's), and
whole-process audits (``hftinfra.bench_audit``).

The wide hosts come from ``tests/hosts/build.py`` when a checkout has it (``big-512`` is
the interrupt host: two E810 ports with 64 channels each, a ConnectX port with 63
completion vectors, two I350 ports, 30 NVMe drives with 128 I/O queues each); otherwise
they are grown from a capture of this machine: its per-CPU files cloned to N CPUs over
several sockets and NUMA nodes, with cpulists, cpumasks, ``/proc/cpuinfo``, ``/proc/stat``
and the per-CPU columns of ``/proc/interrupts`` and ``/proc/softirqs`` rewritten to match,
and its IRQs cloned to 4,096 (:func:`grow_irqs`), so each probe reads as many files, in
the kernel's formats, as on a real machine that size.

    python -m hftinfra.bench [--runs N] [--quick] [--only irq] [--irq-host DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hftinfra.cpulist import format_cpulist, format_cpumask
from hftinfra.host import Host, Unread, open_host
from hftinfra.snapshot import Captured, capture, write

CPU = "sys/devices/system/cpu"
NODE = "sys/devices/system/node"
_CPU_PATH = re.compile(rf"^{CPU}/cpu(\d+)(/.*)?$")
_NODE_PATH = re.compile(rf"^{NODE}/node(\d+)(/.*)?$")


def timed(fn: Callable[[], object], runs: int, warm: bool = True) -> tuple[float, float]:
    """(median, min) wall time in ms."""
    if warm:
        fn()  # warm caches and imports, as a second notebook cell would see them
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), min(samples)


def run_probes(host: Host, probes: dict[str, Callable]) -> None:
    for fn in probes.values():
        fn(host)


# ------------------------------------------------------------------------------------------
# Growing a capture of this machine to N CPUs


def _layout(ncpus: int) -> tuple[int, int]:
    """(sockets, SMT threads per core) for a server of that size."""
    sockets = 1 if ncpus <= 8 else 2 if ncpus <= 192 else 4 if ncpus % 4 == 0 else 2
    return sockets, (2 if ncpus >= 4 else 1)


def _mask(cpus, ncpus: int) -> str:
    return format_cpumask(cpus, ncpus)


def widen(base: Captured, ncpus: int) -> Captured:
    sockets, smt = _layout(ncpus)
    per_socket = ncpus // sockets
    cores_per_socket = per_socket // smt

    def socket_of(n: int) -> int:
        return (n % (ncpus // smt)) // cores_per_socket

    def core_of(n: int) -> int:
        return n % (ncpus // smt)

    def siblings(n: int) -> list[int]:
        c = core_of(n)
        return [c + t * (ncpus // smt) for t in range(smt)]

    def socket_cpus(s: int) -> list[int]:
        return [n for n in range(ncpus) if socket_of(n) == s]

    def cpu_file(n: int, sub: str, data: bytes) -> bytes:
        name = sub.rsplit("/", 1)[-1]
        s = socket_of(n)
        level = None
        if "/cache/index" in sub:
            level_key = f"{CPU}/cpu0{sub.rsplit('/', 1)[0]}/level"
            level = base.files.get(level_key, b"1").strip()
        text = {
            "core_id": str(core_of(n) % cores_per_socket),
            "physical_package_id": str(s), "die_id": str(s), "cluster_id": str(core_of(n)),
            "core_cpus_list": format_cpulist(siblings(n)), "thread_siblings_list": format_cpulist(siblings(n)),
            "core_cpus": _mask(siblings(n), ncpus), "thread_siblings": _mask(siblings(n), ncpus),
            "cluster_cpus_list": format_cpulist(siblings(n)), "cluster_cpus": _mask(siblings(n), ncpus),
            "package_cpus_list": format_cpulist(socket_cpus(s)), "package_cpus": _mask(socket_cpus(s), ncpus),
            "die_cpus_list": format_cpulist(socket_cpus(s)), "die_cpus": _mask(socket_cpus(s), ncpus),
        }.get(name)
        if level is not None and name in ("shared_cpu_list", "shared_cpu_map", "id"):
            shared = socket_cpus(s) if level == b"3" else siblings(n)
            text = {"shared_cpu_list": format_cpulist(shared), "shared_cpu_map": _mask(shared, ncpus),
                    "id": str(s if level == b"3" else core_of(n))}[name]
        return (text + "\n").encode() if text is not None else data

    def node_file(k: int, sub: str, data: bytes) -> bytes:
        name = sub.rsplit("/", 1)[-1]
        if name == "cpulist":
            return (format_cpulist(socket_cpus(k)) + "\n").encode()
        if name == "cpumap":
            return (_mask(socket_cpus(k), ncpus) + "\n").encode()
        if name == "distance":
            return (" ".join("10" if j == k else "21" for j in range(sockets)) + "\n").encode()
        return re.sub(rb"^Node \d+", f"Node {k}".encode(), data, flags=re.M)

    out = Captured(meta=dict(base.meta), commands=dict(base.commands), unread=dict(base.unread))
    every = format_cpulist(range(ncpus))
    for rel in sorted(base.dirs):
        for new in _clones(rel, ncpus, sockets):
            out.add_dir(new[0])
    for rel, target in sorted(base.links.items()):
        m = _CPU_PATH.match(rel)
        if m and m.group(1) == "0" and re.fullmatch(r"/node\d+", m.group(2) or ""):
            for n in range(ncpus):
                out.add_link(f"{CPU}/cpu{n}/node{socket_of(n)}", f"../../node/node{socket_of(n)}")
            continue
        nm = _NODE_PATH.match(rel)
        if nm and re.fullmatch(r"/cpu\d+", nm.group(2) or ""):
            if nm.group(2) == "/cpu0" and nm.group(1) == "0":
                for n in range(ncpus):
                    out.add_link(f"{NODE}/node{socket_of(n)}/cpu{n}", f"../../cpu/cpu{n}")
            continue
        for new, _ in _clones(rel, ncpus, sockets):
            out.add_link(new, target)
    for rel, data in sorted(base.files.items()):
        if rel in (f"{CPU}/online", f"{CPU}/possible", f"{CPU}/present"):
            out.add_file(rel, (every + "\n").encode())
        elif rel in (f"{NODE}/online", f"{NODE}/possible", f"{NODE}/has_cpu", f"{NODE}/has_memory",
                     f"{NODE}/has_normal_memory"):
            out.add_file(rel, (format_cpulist(range(sockets)) + "\n").encode())
        elif rel == "proc/cpuinfo":
            out.add_file(rel, _cpuinfo(data, ncpus, socket_of, core_of, per_socket))
        elif rel == "proc/stat":
            out.add_file(rel, _stat(data, ncpus))
        elif rel in ("proc/interrupts", "proc/softirqs"):
            out.add_file(rel, _columns(data, ncpus))
        elif re.fullmatch(r"proc/irq/(\d+/)?(smp_affinity|effective_affinity)|proc/irq/default_smp_affinity", rel):
            out.add_file(rel, (_mask(range(ncpus), ncpus) + "\n").encode())
        elif re.fullmatch(r"proc/irq/(\d+/)?(smp_affinity_list|effective_affinity_list)", rel):
            out.add_file(rel, (every + "\n").encode())
        else:
            for new, idx in _clones(rel, ncpus, sockets):
                if idx is None:
                    out.add_file(new, data)
                elif _CPU_PATH.match(new):
                    out.add_file(new, cpu_file(idx, _CPU_PATH.match(new).group(2) or "", data))
                else:
                    out.add_file(new, node_file(idx, _NODE_PATH.match(new).group(2) or "", data))
    return out


def _clones(rel: str, ncpus: int, sockets: int) -> list[tuple[str, int | None]]:
    """cpu0's entries become cpu0..cpuN-1, node0's node0..nodeS-1; other CPUs' and nodes'
    entries are dropped (replaced by the clones); everything else is kept once."""
    m = _CPU_PATH.match(rel)
    if m:
        if m.group(1) != "0":
            return []
        return [(f"{CPU}/cpu{n}{m.group(2) or ''}", n) for n in range(ncpus)]
    m = _NODE_PATH.match(rel)
    if m:
        if m.group(1) != "0":
            return []
        return [(f"{NODE}/node{k}{m.group(2) or ''}", k) for k in range(sockets)]
    return [(rel, None)]


def _cpuinfo(data: bytes, ncpus: int, socket_of, core_of, per_socket: int) -> bytes:
    block = data.decode().split("\n\n")[0].strip("\n")
    out = []
    for n in range(ncpus):
        b = re.sub(r"^processor\t: \d+", f"processor\t: {n}", block, flags=re.M)
        b = re.sub(r"^physical id\t: \d+", f"physical id\t: {socket_of(n)}", b, flags=re.M)
        b = re.sub(r"^core id\t\t: \d+", f"core id\t\t: {core_of(n)}", b, flags=re.M)
        b = re.sub(r"^(apicid|initial apicid)\t+: \d+", lambda m, n=n: f"{m.group(0).split(':')[0]}: {n}", b, flags=re.M)
        b = re.sub(r"^siblings\t: \d+", f"siblings\t: {per_socket}", b, flags=re.M)
        out.append(b)
    return ("\n\n".join(out) + "\n\n").encode()


def _stat(data: bytes, ncpus: int) -> bytes:
    lines = data.decode().splitlines()
    cpu_lines = [ln for ln in lines if re.match(r"cpu\d+ ", ln)]
    sample = cpu_lines[0].split(" ", 1)[1] if cpu_lines else "0 0 0 0 0 0 0 0 0 0"
    rest = [ln for ln in lines if not re.match(r"cpu\d+ ", ln)]
    head, tail = rest[:1], rest[1:]
    return ("\n".join(head + [f"cpu{n} {sample}" for n in range(ncpus)] + tail) + "\n").encode()


def _columns(data: bytes, ncpus: int) -> bytes:
    """Widen a per-CPU table (header 'CPU0 CPU1 ...', one count per CPU per row)."""
    lines = data.decode().splitlines()
    if not lines:
        return data
    have = len(lines[0].split())
    header = " " * 11 + "".join(f"CPU{n:<8}" for n in range(ncpus))
    out = [header.rstrip()]
    for ln in lines[1:]:
        label, _, rest = ln.partition(":")
        parts = rest.split()
        counts, desc = parts[:have], parts[have:]
        if len(counts) < have or not all(c.isdigit() for c in counts):
            out.append(ln)  # ERR:, MIS: carry one total, not one per CPU
            continue
        cells = [counts[n % have] for n in range(ncpus)]
        out.append(f"{label}:" + "".join(f" {c:>10}" for c in cells) + ("  " + "  ".join(desc) if desc else ""))
    return ("\n".join(out) + "\n").encode()


def _fixture_module():
    """tests/hosts/build.py of this checkout, when present (absent from an installed wheel)."""
    path = Path(__file__).resolve().parents[2] / "tests" / "hosts" / "build.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("hftinfra_fixture_build", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    try:
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(spec.name, None)
        return None
    return module


def fixture_host(module, ncpus: int, dest: Path) -> str | None:
    """Write a fixture host of ncpus into dest with the fixture builder; None if it cannot.
    384 CPUs is its committed design (big-4s); other sizes reshape that model, untuned."""
    if module is None:
        return None
    try:
        if ncpus == 384 and "big-4s" in getattr(module, "MODELS", {}):
            module.build_host("big-4s", dest)
            return "tests/hosts/build.py big-4s"
        sockets, threads = _layout(ncpus)
        if ncpus % (sockets * threads):
            return None
        model = dataclasses.replace(module.MODELS["big-4s"](), name=f"bench-{ncpus}", sockets=sockets,
                                    cores=ncpus // (sockets * threads), threads=threads, tuned=False,
                                    isolated=frozenset(), extra_cmdline="", hugepages_1g_node={},
                                    nic_node=None, core_ids=None)
        module.write_files(module.render(model), dest)
        return f"tests/hosts/build.py model, {sockets}s x {ncpus // (sockets * threads)}c x {threads}t"
    except Exception:
        shutil.rmtree(dest, ignore_errors=True)
        return None


# ------------------------------------------------------------------------------------------
# A host with many interrupts

IRQ_HOST_MODEL = "big-512"
IRQ_HOST_CPUS = 512
IRQ_HOST_IRQS = 4096
# The probes that read interrupts and NICs: what a networking page or the irq and net
# checks pay for.
IRQ_NET_PROBES = ("irq.interrupts", "irq.affinity", "irq.irqbalance", "net.nics", "net.sysctls")

_NUMBERED_ROW = re.compile(r"^\s*(\d+):")
_IRQ_FILE = re.compile(r"^(proc/irq|sys/kernel/irq)/(\d+)/(.+)$")


def grow_irqs(base: Captured, nirqs: int) -> Captured:
    """Clone the numbered rows of a capture's /proc/interrupts, with each IRQ's files under
    /proc/irq/N and /sys/kernel/irq/N, until it has ``nirqs``: new numbers above the
    highest, each a copy of a real row (counts, chip, hwirq, handler). The IRQ column
    widens as kernel/irq/proc.c widens it (the digits of the largest number, at least 3),
    and the architecture rows stay last."""
    text = base.files.get("proc/interrupts")
    if text is None:
        return base
    lines = text.decode().splitlines()
    rows = [ln for ln in lines[1:] if ln.strip()]
    numbered = [(int(m.group(1)), ln) for ln in rows if (m := _NUMBERED_ROW.match(ln))]
    if not lines or not numbered or len(numbered) >= nirqs:
        return base
    named = [ln for ln in rows if not _NUMBERED_ROW.match(ln)]
    files_of: dict[int, list[tuple[str, str, bytes]]] = {}
    for rel, data in base.files.items():
        m = _IRQ_FILE.match(rel)
        if m:
            files_of.setdefault(int(m.group(2)), []).append((m.group(1), m.group(3), data))
    out = Captured(files=dict(base.files), dirs=set(base.dirs), links=dict(base.links),
                   commands=dict(base.commands), unread=dict(base.unread), meta=dict(base.meta))
    top = max(n for n, _ in numbered)
    clones = []
    for k in range(nirqs - len(numbered)):
        template, line = numbered[k % len(numbered)]
        new = top + 1 + k
        clones.append((new, line))
        for tree, name, data in files_of.get(template, ()):
            out.add_file(f"{tree}/{new}/{name}", data)
    prec = max(3, len(str(top + len(clones))))

    def relabel(label: str, line: str) -> str:
        return f"{label:>{prec}}:" + line.split(":", 1)[1]

    body = [relabel(str(n), ln) for n, ln in numbered] + [relabel(str(n), ln) for n, ln in clones]
    body += [relabel(ln.split(":", 1)[0].strip(), ln) for ln in named]
    header = " " * (prec + 8) + lines[0].lstrip()
    out.add_file("proc/interrupts", ("\n".join([header, *body]) + "\n").encode(), replace=True)
    return out


def irq_host(dest: Path, base: Captured | None = None) -> str:
    """Write the 512-CPU, 4,096-IRQ host into ``dest`` (a new folder); return how it was
    made. ``base`` is a capture of this machine to grow when the checkout's builder is
    not there (taken now if not given)."""
    module = _fixture_module()
    if module is not None and IRQ_HOST_MODEL in getattr(module, "MODELS", {}):
        try:
            module.build_host(IRQ_HOST_MODEL, dest)
            return f"tests/hosts/build.py {IRQ_HOST_MODEL}"
        except Exception:
            shutil.rmtree(dest, ignore_errors=True)
    if base is None:
        from hftinfra.probes import all_probes

        base = capture(open_host(None), all_probes()).captured
    write(grow_irqs(widen(base, IRQ_HOST_CPUS), IRQ_HOST_IRQS), dest)
    return "this machine's capture grown"


def _numbered_rows(counts: object) -> str:
    """What an irq.interrupts record holds, for a line of figures."""
    table = getattr(counts, "interrupts", counts)
    if isinstance(table, Unread):
        return str(table)
    named = [r.key for r in table.named]
    return f"{len(table.cpus)} CPUs, {len(table.numbered)} numbered rows, {len(named)} named rows"


def bench_irq(runs: int, host_dir: Path | None = None, out=None, warm: bool = True, how: str = "given") -> dict:
    """Print the interrupt-side figures; return them. ``host_dir``: an interrupt host
    already written (default: one is built in a temporary folder), ``how`` says where it
    came from; ``warm``: one untimed run before the timed ones."""
    from hftinfra.irq import parse_interrupts, parse_softirqs
    from hftinfra.probes import all_probes

    out = out or sys.stdout
    registry = all_probes()
    probes = {name: registry[name] for name in IRQ_NET_PROBES}
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="hftinfra-bench-") as tmp:
        if host_dir is None:
            host_dir = Path(tmp) / IRQ_HOST_MODEL
            t0 = time.perf_counter()
            how = f"{irq_host(host_dir)}, written in {time.perf_counter() - t0:.1f} s"
        elif how == "given":
            how = f"given, {host_dir}"
        interrupts = (host_dir / "proc" / "interrupts").read_text()
        softirqs = (host_dir / "proc" / "softirqs").read_text()
        table = parse_interrupts(interrupts)
        print(f"{len(table.cpus)}-CPU host with {len(table.numbered)} IRQs ({how}): "
              f"/proc/interrupts {len(interrupts) / 1e6:.1f} MB, /proc/softirqs {len(softirqs) / 1e3:.0f} kB",
              file=out)
        med, low = timed(lambda: parse_interrupts(interrupts), runs, warm)
        figures["parse_interrupts_ms"] = (med, low)
        print(f"  parse_interrupts:                   {med:7.1f} ms median  {low:7.1f} ms min", file=out)
        med, low = timed(lambda: parse_softirqs(softirqs), runs, warm)
        figures["parse_softirqs_ms"] = (med, low)
        print(f"  parse_softirqs:                     {med:7.1f} ms median  {low:7.1f} ms min", file=out)
        seen = registry["irq.interrupts"](open_host(host_dir))
        print(f"  irq.interrupts through the host:    {_numbered_rows(seen)} "
              f"(the file holds {_numbered_rows(table)})", file=out)

        names = ", ".join(IRQ_NET_PROBES)
        big_med, big_low = timed(lambda: run_probes(open_host(host_dir), probes), runs, warm)
        live = open_host(None)
        live_med, live_low = timed(lambda: run_probes(live, probes), max(runs, 5))
        figures["probe_set_ms"] = {"big": (big_med, big_low), "live": (live_med, live_low)}
        print(f"  {names}:", file=out)
        print(f"    on it (a fresh open each run):    {big_med:7.1f} ms median  {big_low:7.1f} ms min", file=out)
        print(f"    on the live host:                 {live_med:7.1f} ms median  {live_low:7.1f} ms min   "
              f"({os.cpu_count()} CPUs here)", file=out)
        ratio = big_med / live_med if live_med else float("inf")
        figures["probe_set_ratio"] = ratio
        print(f"    ratio:                            {ratio:7.1f} x", file=out)
        host = open_host(host_dir)
        run_probes(host, probes)  # its folders' kinds are known from here on, as in a second cell
        per = sorted(((timed(lambda fn=fn: fn(host), runs, warm=False)[0], name) for name, fn in probes.items()),
                     reverse=True)
        figures["per_probe_ms"] = {name: ms for ms, name in per}
        print("    each, on it (opened once):       " + ", ".join(f"{name} {ms:.0f} ms" for ms, name in per),
              file=out)
    return figures


# ------------------------------------------------------------------------------------------


def cli_ms(args: list[str], runs: int) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "hftinfra", *args]

    def once():
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    return timed(once, runs)


SECTIONS = ("probes", "cli", "irq", "audit")


def _bench_probes(args: argparse.Namespace, probes: dict[str, Callable], few: int, some: int) -> None:
    live = open_host(None)
    med, low = timed(lambda: run_probes(live, probes), args.runs)
    print(f"\nlive host, all probes in-process:     {med:7.1f} ms median  {low:7.1f} ms min   (target < 100 ms)")
    per = sorted(((timed(lambda fn=fn: fn(live), few)[0], name) for name, fn in probes.items()),
                 reverse=True)
    print("  slowest: " + ", ".join(f"{name} {ms:.1f} ms" for ms, name in per[:4]))

    cap_med, cap_low = timed(lambda: capture(live, probes), few)
    with tempfile.TemporaryDirectory(prefix="hftinfra-bench-") as tmp:
        workdir = Path(tmp)
        result = capture(live, probes)
        t0 = time.perf_counter()
        archive = write(result.captured, workdir / "live.tar.gz")
        write_ms = (time.perf_counter() - t0) * 1000
        size = archive.stat().st_size
        c = result.captured
        print(f"\nsnapshot capture (probes + collect):  {cap_med:7.1f} ms median  {cap_low:7.1f} ms min")
        print(f"  writing the archive:                {write_ms:7.1f} ms; {size / 1024:.0f} KiB "
              f"({len(c.files)} files, {len(c.links)} links, {len(c.all_dirs())} folders, "
              f"{c.size_bytes() / 1024:.0f} KiB uncompressed)   (target: capture < 2 s, archive < 2 MB)")

        module = _fixture_module()
        counts = [int(x) for x in args.cpus.split(",") if x.strip()]
        print("\ncost by CPU count (all probes, in-process, on a snapshot folder):")
        print(f"  {'CPUs':>5}  {'median ms':>10}  {'min ms':>8}  {'open ms':>8}  {'first ms':>9}  {'ms/CPU':>7}  source")
        wide384 = None
        for n in counts:
            host_path = workdir / f"fixture-{n}"
            how = fixture_host(module, n, host_path)
            if how is None:
                host_path = workdir / f"wide-{n}"
                write(widen(result.captured, n), host_path)
                how = "this machine's capture grown"
            t0 = time.perf_counter()
            host = open_host(host_path)
            open_ms = (time.perf_counter() - t0) * 1000
            # The first run after opening is what `hftinfra probe --host` pays.
            t0 = time.perf_counter()
            run_probes(host, probes)
            first_ms = (time.perf_counter() - t0) * 1000
            runs = args.runs if n <= 96 else some
            med_n, low_n = timed(lambda host=host: run_probes(host, probes), runs)
            print(f"  {n:>5}  {med_n:>10.1f}  {low_n:>8.1f}  {open_ms:>8.1f}  {first_ms:>9.1f}  "
                  f"{med_n / n:>7.2f}  {how}")
            if n == max(counts):
                wide384 = (n, host)
        if wide384:
            n, host = wide384
            per = sorted(((timed(lambda fn=fn: fn(host), few)[0], name) for name, fn in probes.items()), reverse=True)
            print(f"  slowest at {n} CPUs: " + ", ".join(f"{name} {ms:.1f} ms" for ms, name in per[:4])
                  + "   (target < 1 s)")
            t0 = time.perf_counter()
            wide_cap = capture(host, probes)
            dest = write(wide_cap.captured, workdir / f"copy-{n}.tar.gz")
            print(f"  snapshot of the {n}-CPU host: {(time.perf_counter() - t0) * 1000:.0f} ms, "
                  f"{dest.stat().st_size / 1024:.0f} KiB")


def _bench_cli(runs: int) -> None:
    print("\nCLI start-up (fresh interpreter each run):")
    for label, cli_args in (("hftinfra --version", ["--version"]), ("hftinfra probe", ["probe"]),
                            ("hftinfra probe --format json", ["probe", "--format", "json"])):
        med_c, low_c = cli_ms(cli_args, runs)
        print(f"  {label:<30} {med_c:7.1f} ms median  {low_c:7.1f} ms min")
    with tempfile.TemporaryDirectory(prefix="hftinfra-bench-") as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hftinfra", "snapshot", "-o", str(Path(tmp) / "s.tar.gz")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        print(f"  {'hftinfra snapshot -o X.tar.gz':<30} {(time.perf_counter() - t0) * 1000:7.1f} ms (one run)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hftinfra.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per figure (default 15)")
    parser.add_argument("--cpus", help="CPU counts for the growth table (default 2,32,96,384)")
    parser.add_argument("--quick", action="store_true",
                        help="one timed run per figure and a growth table of 2 and 32 CPUs: the figures are "
                             "rough, the run short")
    parser.add_argument("--only", action="append", choices=SECTIONS, default=[],
                        help="run only this part (repeatable): " + ", ".join(SECTIONS))
    parser.add_argument("--irq-host", metavar="DIR", type=Path,
                        help=f"an interrupt host already written (python tests/hosts/build.py {IRQ_HOST_MODEL} DIR) "
                             "instead of building one")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 1
    args.cpus = args.cpus or ("2,32" if args.quick else "2,32,96,384")
    few = 1 if args.quick else max(3, args.runs // 3)
    some = 1 if args.quick else max(5, args.runs // 2)
    sections = args.only or list(SECTIONS)

    from hftinfra import __version__
    from hftinfra.probes import all_probes

    probes = all_probes()
    print(f"hftinfra {__version__} bench · python {sys.version.split()[0]} · {os.cpu_count()} CPUs here · "
          f"{len(probes)} probes · median/min of {args.runs} runs")
    if "probes" in sections:
        _bench_probes(args, probes, few, some)
    if "cli" in sections:
        _bench_cli(some)
    with tempfile.TemporaryDirectory(prefix="hftinfra-bench-") as tmp:
        irq_dir, how = args.irq_host, "given"
        if irq_dir is None and {"irq", "audit"} <= set(sections):
            irq_dir = Path(tmp) / IRQ_HOST_MODEL  # one build for both parts
            t0 = time.perf_counter()
            how = irq_host(irq_dir)
            how += f", written in {time.perf_counter() - t0:.1f} s"
        if "irq" in sections:
            print()
            bench_irq(few, irq_dir, warm=not args.quick, how=how)
        if "audit" in sections:
            from hftinfra.bench_audit import bench_audit

            print()
            bench_audit(few, irq_host=irq_dir, how=how.split(",")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
