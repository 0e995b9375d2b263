"""The registry of probes: every read-only function that turns a Host into records.

Area modules register their probes with ``@probe("area.name")``. ``hftinfra snapshot``
runs every registered probe against a recording live host and captures exactly what they
read, so a new probe is captured without editing a list of paths.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from hftinfra.host import Host

# Modules whose import registers probes. Later areas append themselves here.
AREA_MODULES = ("hftinfra.cpu", "hftinfra.memory", "hftinfra.kernel", "hftinfra.irq", "hftinfra.net", "hftinfra.bypass", "hftinfra.timesync",
                "hftinfra.persist")

_REGISTRY: dict[str, Callable[[Host], object]] = {}


def probe(name: str):
    def register(fn: Callable[[Host], object]):
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"probe {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return register


def all_probes() -> dict[str, Callable[[Host], object]]:
    """Name -> probe function, for every area module that can be imported."""
    for mod in AREA_MODULES:
        importlib.import_module(mod)
    return dict(sorted(_REGISTRY.items()))


def run_all(host: Host) -> dict[str, object]:
    return {name: fn(host) for name, fn in all_probes().items()}
