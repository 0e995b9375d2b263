"""Labs: real daemons and traffic in network namespaces on a live host, always cleaned up.

One harness (:mod:`hftinfra.labs.harness`) that every lab module uses; see its docstring.
"""

from hftinfra.labs.harness import (
    BENCHMARK_NET,
    CleanupReport,
    Lab,
    LabCapability,
    LabCleanupError,
    LabError,
    LabProcess,
    LabUnavailable,
    Resource,
    VethEnd,
    VethPair,
    lab_capability,
    remove_stale_namespaces,
    stale_namespaces,
)

__all__ = [
    "BENCHMARK_NET",
    "CleanupReport",
    "Lab",
    "LabCapability",
    "LabCleanupError",
    "LabError",
    "LabProcess",
    "LabUnavailable",
    "Resource",
    "VethEnd",
    "VethPair",
    "lab_capability",
    "remove_stale_namespaces",
    "stale_namespaces",
]
