"""hftinfra: probe, snapshot and audit Linux hosts for ultra-low-latency workloads.

Layers (data flows down): ``host`` -> area modules (``cpu``, ``memory``, ``kernel``, ...)
-> ``checks``/``profiles`` -> ``audit`` -> views -> ``cli``. Nothing below the views writes
to the host.
"""

from hftinfra.host import Host, HostError, Reason, Unread, host_from_env, open_host

__version__ = "0.1.0"

__all__ = ["Host", "HostError", "Reason", "Unread", "__version__", "host_from_env", "open_host"]
