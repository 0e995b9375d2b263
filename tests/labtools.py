"""What the lab tests share: their own reads of the namespaces, processes and kernel clock
a lab leaves behind, made without the harness they check."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from hftinfra.labs import lab_capability


def ip_binary() -> str:
    return lab_capability().ip or shutil.which("ip") or "/usr/sbin/ip"


def netns_list() -> set[str]:
    res = subprocess.run([ip_binary(), "netns", "list"], capture_output=True, text=True, timeout=20)
    return {line.split()[0] for line in res.stdout.splitlines() if line.strip()}


def lab_namespaces(lab: str, pid: int) -> set[str]:
    """The namespaces lab ``lab`` made in process ``pid`` (named hft-LAB-PID-...)."""
    return {ns for ns in netns_list() if ns.startswith(f"hft-{lab}-{pid}-")}


def remove_lab_namespaces(lab: str, pid: int) -> set[str]:
    """Last resort after a failed test: kill what runs in those namespaces and delete them."""
    found = lab_namespaces(lab, pid)
    for ns in found:
        res = subprocess.run([ip_binary(), "netns", "pids", ns], capture_output=True, text=True, timeout=20)
        for p in res.stdout.split():
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run([ip_binary(), "netns", "delete", ns], capture_output=True, timeout=20)
    return found


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            pass
    return pids


def kernel_clock() -> tuple[int, int]:
    """The kernel clock's frequency and status, read here on its own (adjtimex, modes 0)."""
    from hftinfra.timesync import adjtimex_read, parse_timex

    _state, raw = adjtimex_read()
    tx = parse_timex(raw)
    return tx.freq, tx.status
