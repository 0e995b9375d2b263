"""The PM QoS holder ``hftinfra apply`` starts: ``python -m hftinfra.apply.pmqos US PIDFILE``.

A CPU latency request lasts only while ``/dev/cpu_dma_latency`` stays open
(Documentation/power/pm_qos_interface.rst), so this process opens it, writes the limit as a
32-bit integer, writes its pid file, and waits for SIGTERM; the request ends when it exits.
"""

from __future__ import annotations

import os
import signal
import sys

DEVICE = "/dev/cpu_dma_latency"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].isdigit():
        print("usage: python -m hftinfra.apply.pmqos MICROSECONDS PIDFILE", file=sys.stderr)
        return 2
    value, pidfile = int(argv[0]), argv[1]
    try:
        fd = os.open(DEVICE, os.O_WRONLY)
        os.write(fd, value.to_bytes(4, sys.byteorder, signed=True))
    except OSError as exc:
        print(f"{DEVICE}: {exc.strerror}", file=sys.stderr)
        return 1
    # SIGTERM stays blocked and is taken by sigwait, so one sent at any moment ends the wait.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tmp = f"{pidfile}.tmp"
    with open(tmp, "w") as fh:
        fh.write(f"{os.getpid()}\n")
    os.replace(tmp, pidfile)
    try:
        signal.sigwait({signal.SIGTERM})
    finally:
        try:
            if open(pidfile).read().strip() == str(os.getpid()):
                os.unlink(pidfile)
        except OSError:
            pass
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
