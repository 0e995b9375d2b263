"""Network checks: kernel-stack busy polling."""

from __future__ import annotations

from hftinfra.checks.base import Check, Obs, register
from hftinfra.checks.common import sysctl_fix
from hftinfra.host import Unread

SYSCTL_NET = "https://docs.kernel.org/admin-guide/sysctl/net.html"


def _busy_poll(ctx):
    core = ctx.probe("net.sysctls")
    if isinstance(core, Unread):
        return core
    return Obs({"busy_read": core.busy_read, "busy_poll": core.busy_poll},
               f"net.core.busy_read={core.busy_read}, net.core.busy_poll={core.busy_poll} (us)")


def _busy_poll_fix(ctx, e, obs):
    lines = []
    for name in ("busy_read", "busy_poll"):
        exp = e.get(name) if isinstance(e, dict) else None
        value = exp.suggest() if exp is not None else None
        lines.append(sysctl_fix(f"net.core.{name}", 50 if value is None else value))
    return "\n".join(lines)


register(Check(
    id="net.busy_poll", title="Kernel sockets busy-poll the NIC queue", area="net",
    summary="busy_read: microseconds a blocking read (recvmsg) spins on the device queue before it sleeps; "
            "busy_poll: the same for poll and select. 0 turns it off; a socket can also ask with "
            "SO_BUSY_POLL (admin-guide/sysctl/net.rst, networking/napi.rst). Only kernel-stack sockets "
            "benefit; kernel-bypass traffic never reaches them.",
    reads=("/proc/sys/net/core/busy_read", "/proc/sys/net/core/busy_poll"), docs=SYSCTL_NET, kind="int",
    fields={"busy_read": "int", "busy_poll": "int"}, observe=_busy_poll, fix=_busy_poll_fix,
))
