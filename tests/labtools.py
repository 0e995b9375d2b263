"""What the lab tests share: their own reads of the namespaces, processes and kernel clock
a lab leaves behind, made without the harness they check."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
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


def processes_mentioning(text: str, settle_s: float = 0.0) -> list[int]:
    """Processes whose command line holds ``text``. ``settle_s``: keep looking that long for
    them to be gone. A child killed as Ctrl-C arrives is reaped by subprocess only for 0.25 s
    (Popen.__exit__ on KeyboardInterrupt), so on a loaded machine it may still be exiting
    when the lab has returned; one still there after ``settle_s`` is a leak."""
    import time

    deadline = time.monotonic() + settle_s
    while True:
        pids = _mentioning(text)
        if not pids or time.monotonic() >= deadline:
            return pids
        time.sleep(0.05)


def _mentioning(text: str) -> list[int]:
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


@dataclass
class Interrupted:
    """A lab CLI run that was sent SIGINT once it printed its ready line."""

    pid: int
    seen: list[str]  # stderr lines up to the ready line
    err: str  # stderr after the signal
    returncode: int | None


def interrupt_lab_cli(argv: list[str], ready: str, *, wait_s: float = 30, settle_s: float = 0.5,
                      timeout_s: float = 30) -> Interrupted:
    """Run ``hftinfra ARGV`` in a child as a terminal session starts it (SIGINT raises
    KeyboardInterrupt; a background job of a non-interactive shell would inherit it ignored),
    wait up to ``wait_s`` for a stderr line containing ``ready``, then ``settle_s`` more, send
    SIGINT and collect the rest. The child is killed if it outlives that; its namespaces are
    the caller's to check and remove."""
    code = ("import signal, sys\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
            f"from hftinfra.cli import main\nsys.exit(main({list(argv)!r}))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    seen: list[str] = []
    err = ""
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if ready in line:
                break
        if seen and ready in seen[-1]:
            time.sleep(settle_s)
            proc.send_signal(signal.SIGINT)
            _out, err = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return Interrupted(proc.pid, seen, err, proc.returncode)
