"""Other machines' layouts laid over this one, for the live-host tests.

    unshare --mount --propagation private python tests/flavours.py SPEC.json -- COMMAND...

COMMAND is run inside the namespace; ``pytest ARGS`` and ``python ARGS`` mean this
interpreter's.

Inside a private mount namespace (nothing leaks to the rest of the machine, and everything
is gone when the process exits), the folders and files a flavour names are bind-mounted
over the live paths, so ``open_host(None)`` and the tests' own reads of ``/sys`` and
``/proc`` both see the other machine. A folder can also be hidden, as on a kernel built
without the feature: its parent is replaced by a tmpfs that holds every other child of the
real parent, bound back.

SPEC.json: {"bind": {"/sys/devices/system/cpu": "/path/to/tree/sys/devices/system/cpu", ...},
            "hide": ["/sys/devices/system/node", ...]}

``build_flavour`` makes the trees from the fixture hosts under tests/hosts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HOSTS = Path(__file__).resolve().parent / "hosts"

# What a flavour replaces, when its tree has it: the layouts the live tests read.
BIND_DIRS = (
    "sys/devices/system/cpu",
    "sys/devices/system/node",
    "sys/devices/system/clocksource",
    "sys/kernel/mm/hugepages",
    "sys/kernel/mm/transparent_hugepage",
    "sys/kernel/mm/ksm",
)
BIND_FILES = ("proc/cmdline", "proc/meminfo", "proc/cpuinfo")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def _hide(paths: list[str], scratch: Path) -> None:
    """Replace each hidden path's parent by a tmpfs holding the parent's other children."""
    by_parent: dict[str, set[str]] = {}
    for path in paths:
        parent, name = os.path.split(path.rstrip("/"))
        by_parent.setdefault(parent, set()).add(name)
    for i, (parent, hidden) in enumerate(sorted(by_parent.items())):
        keep = scratch / f"keep{i}"
        keep.mkdir()
        _mount("--bind", parent, str(keep))
        _mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", parent)
        for entry in os.scandir(keep):
            if entry.name in hidden:
                continue
            dest = os.path.join(parent, entry.name)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), dest)
                continue
            if entry.is_dir():
                os.mkdir(dest)
            else:
                open(dest, "w").close()
            _mount("--bind", entry.path, dest)


def apply(spec: dict) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="hftinfra-flavour-"))
    _hide(list(spec.get("hide", ())), scratch)
    for live, src in spec.get("bind", {}).items():
        _mount("--bind", src, live)


def build_flavour(name: str, dest: Path) -> dict:
    """A flavour's spec; trees derived from a fixture host are written under dest."""
    base, _, variant = name.partition("+")
    src = HOSTS / base
    if variant:
        tree = dest / name
        shutil.copytree(src, tree, symlinks=True)
        VARIANTS[variant](tree)
    else:
        tree = src
    spec: dict = {"bind": {}, "hide": []}
    for rel in BIND_DIRS:
        if (tree / rel).is_dir():
            spec["bind"]["/" + rel] = str(tree / rel)
    for rel in BIND_FILES:
        if (tree / rel).is_file():
            spec["bind"]["/" + rel] = str(tree / rel)
    hidden = tree / "hftinfra-hide"
    if hidden.is_file():
        spec["hide"] = hidden.read_text().split()
        for path in spec["hide"]:
            spec["bind"] = {k: v for k, v in spec["bind"].items() if not (k + "/").startswith(path + "/")}
    return spec


def _cpuidle_none(tree: Path) -> None:
    # Intel VMs on recent kernels: current_driver reads "none" and no CPU has a cpuidle/ folder.
    cpu = tree / "sys/devices/system/cpu"
    for d in cpu.glob("cpu[0-9]*/cpuidle"):
        shutil.rmtree(d)
    (cpu / "cpuidle").mkdir(exist_ok=True)
    for f in (cpu / "cpuidle").iterdir():
        if f.is_file():
            f.unlink()
    (cpu / "cpuidle/current_driver").write_text("none\n")
    (cpu / "cpuidle/current_governor").write_text("menu\n")
    (cpu / "cpuidle/available_governors").write_text("ladder menu teo\n")


def _bare_kernel(tree: Path) -> None:
    # A small kernel build: no NUMA, no hugetlbfs, no THP, no KSM, no cpufreq, no cpuidle,
    # no nohz_full, and a /proc/meminfo without the HugePages_* lines.
    cpu = tree / "sys/devices/system/cpu"
    for d in [*cpu.glob("cpu[0-9]*/cpuidle"), *cpu.glob("cpu[0-9]*/cpufreq"), cpu / "cpufreq",
              cpu / "cpuidle", cpu / "intel_pstate", cpu / "intel_uncore_frequency"]:
        if d.is_symlink() or d.is_file():
            d.unlink()
        elif d.is_dir():
            shutil.rmtree(d)
    for link in cpu.glob("cpu[0-9]*/node[0-9]*"):
        link.unlink()
    for name in ("nohz_full",):
        (cpu / name).unlink(missing_ok=True)
    meminfo = tree / "proc/meminfo"
    meminfo.write_text("".join(line for line in meminfo.read_text().splitlines(keepends=True)
                               if not line.startswith(("HugePages_", "Hugepagesize", "Hugetlb"))))
    (tree / "hftinfra-hide").write_text("/sys/devices/system/node\n/sys/kernel/mm/hugepages\n"
                                        "/sys/kernel/mm/transparent_hugepage\n/sys/kernel/mm/ksm\n")


def _arm64_cpuinfo(tree: Path) -> None:
    # arm64 prints per-CPU "Features" and the MIDR fields (arch/arm64/kernel/cpuinfo.c), no
    # "flags" and no model name.
    cpus = len(list((tree / "sys/devices/system/cpu").glob("cpu[0-9]*")))
    block = ("processor\t: {n}\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 "
             "atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\n"
             "CPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n")
    (tree / "proc/cpuinfo").write_text("".join(block.format(n=n) for n in range(cpus)))


VARIANTS = {"cpuidle-none": _cpuidle_none, "bare-kernel": _bare_kernel, "arm64-cpuinfo": _arm64_cpuinfo}
FLAVOURS = ("tuned-2s", "untuned-2s", "cpu0-offline", "untuned-2s+cpuidle-none", "cpu0-offline+bare-kernel",
            "untuned-2s+arm64-cpuinfo")


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") != 2 or len(argv) < 4:
        print("usage: flavours.py SPEC.json -- COMMAND...", file=sys.stderr)
        return 2
    command = argv[3:]
    spec = json.loads(Path(argv[1]).read_text())
    apply(spec)
    if command[0] == "pytest":
        command = [sys.executable, "-m", "pytest", *command[1:]]
    elif command[0] == "python":
        command = [sys.executable, *command[1:]]
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
