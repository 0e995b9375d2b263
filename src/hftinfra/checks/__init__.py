"""The check catalog: every judgment the audit can make, with a stable id.

Ids are used by scripts (``jq '.findings[] | select(.id == "cpu.isolated")'``): never
rename one. Checks live in one module per area; the catalog keeps their definition order,
which is the order of every report.
"""

from __future__ import annotations

import importlib

from hftinfra.checks.base import AREAS, STATUSES, Check, Context, Obs, PerCpu, Rule, Skip, Verdict

# Area modules in report order. Later areas (irq, net, time) append themselves here.
CHECK_MODULES = ("hftinfra.checks.cpu", "hftinfra.checks.kernel", "hftinfra.checks.memory", "hftinfra.checks.irq",
                 "hftinfra.checks.net", "hftinfra.checks.time")


def catalog() -> dict[str, Check]:
    """Check id -> Check, in report order."""
    from hftinfra.checks import base

    for mod in CHECK_MODULES:
        importlib.import_module(mod)
    order = {m.rsplit(".", 1)[1]: i for i, m in enumerate(CHECK_MODULES)}
    return dict(sorted(base._CATALOG.items(), key=lambda kv: order.get(kv[1].area, len(order))))


def get_check(check_id: str) -> Check:
    checks = catalog()
    if check_id not in checks:
        raise KeyError(check_id)
    return checks[check_id]


__all__ = ["AREAS", "CHECK_MODULES", "STATUSES", "Check", "Context", "Obs", "PerCpu", "Rule", "Skip",
           "Verdict", "catalog", "get_check"]
