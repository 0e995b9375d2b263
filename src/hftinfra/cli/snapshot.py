"""``hftinfra snapshot``: capture what the probes read into a snapshot (a directory or a
``.tar.gz``). The capture itself is :mod:`hftinfra.snapshot`; this is its command line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", metavar="PATH",
                        help="capture from this snapshot instead of the live host "
                             "(default: $HFTINFRA_HOST, else the live host)")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="where to write: a name ending in .tar.gz writes an archive, "
                             "anything else a directory (default: "
                             "snapshot-HOSTNAME-YYYYmmddTHHMMSS.tar.gz here)")
    parser.add_argument("--counter-window", metavar="MS", type=int, default=250,
                        help="read the interrupt and softirq counters again this many ms after the "
                             "first reading, so the snapshot holds rates (irq.isolated_noise); 0: none "
                             "(default: 250)")
    parser.add_argument("--redact", action="store_true",
                        help="replace hostname, MAC and IP addresses, serial numbers and UUIDs "
                             "with consistent placeholders")


def run(args: argparse.Namespace) -> int:
    from hftinfra.host import host_from_env, open_host
    from hftinfra.snapshot import _check_target, capture, default_name, write

    host = open_host(args.host) if args.host else host_from_env()
    if args.output:
        _check_target(Path(args.output))  # fail before spending time on the capture
    if args.counter_window < 0:
        from hftinfra.cli import UserError

        raise UserError(f"--counter-window {args.counter_window}: expected 0 or more milliseconds")
    result = capture(host, redact=args.redact, counter_window_s=args.counter_window / 1000)
    target = Path(args.output) if args.output else Path(default_name(result.captured))
    started = time.perf_counter()
    write(result.captured, target)
    elapsed = result.seconds + (time.perf_counter() - started)
    c = result.captured
    size = _size_of(target)
    print(f"wrote {target}: {len(c.files)} files, {len(c.links)} links, {len(c.all_dirs())} folders, "
          f"{len(c.commands)} commands, {len(c.unread)} unreadable; {size / 1024:.0f} KiB "
          f"in {elapsed:.2f} s" + (" (redacted)" if args.redact else ""))
    for name, err in result.probe_errors.items():
        print(f"hftinfra snapshot: warning: probe {name} failed: {err}", file=sys.stderr)
    return 1 if result.probe_errors else 0


def _size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total
