"""The fleet: many hosts' snapshots audited together, read as a few groups.

``audit_fleet(["fleet/"])`` audits every snapshot under the paths (directories and archives,
mixed; a folder of them means each one) against one profile, in parallel across cores, and
returns a :class:`~hftinfra.fleet.model.FleetReport`: hosts grouped by the exact set of
checks they fail, warn on or cannot read; per check, how many hosts pass, fail, warn, skip or
are unknown, which ones differ from the majority (drift), and where the check stands for
the next boot; the fix per group; with ``since=``, what changed since an earlier report.

The snapshots come from anywhere: ``hftinfra snapshot`` by hand, or
``scripts/ansible/fleet-snapshot.yml`` across an inventory (which also leaves a
``HOST.failed.json`` for each host it could not reach). :mod:`hftinfra.fleet.synth` makes a
synthetic fleet with documented drift, for the page and the benchmark.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from hftinfra.fleet.model import SCHEMA, FleetReport, FleetReportError, Group, analyse, load_previous
from hftinfra.fleet.model import since as compare_since
from hftinfra.fleet.run import Entry, FleetInputError, HostResult, audit_entries, default_jobs, discover


def audit_fleet(paths: Iterable[str | os.PathLike] | str | os.PathLike, profile: str = "hft-isolated",
                variables: Sequence[str] = (), jobs: int | None = None,
                since: str | os.PathLike | None = None) -> FleetReport:
    """Audit every snapshot under ``paths``; see the module's docstring.

    Raises :class:`FleetInputError` (a PATH that holds no snapshot),
    :class:`~hftinfra.profiles.ProfileError` (an unknown profile or variable) or
    :class:`FleetReportError` (a ``since`` report that cannot be read) before any audit runs.
    """
    from hftinfra.checks import catalog
    from hftinfra.profiles import load_profile, parse_var_overrides

    t0 = time.perf_counter()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    loaded = load_profile(profile)
    # A misspelt variable would fail on every host: say it once, before auditing any.
    parse_var_overrides(loaded, list(variables), None)
    previous = load_previous(since) if since is not None else None
    entries, left_out = discover(paths)
    spec = str(os.path.abspath(profile)) if os.path.exists(str(profile)) else str(profile)
    jobs = jobs or default_jobs()
    rows = audit_entries(entries, spec, tuple(variables), jobs)
    titles = {c.id: (c.title, c.area) for c in catalog().values() if c.id in loaded.rules}
    when = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    report = analyse(rows, loaded.name, tuple(loaded.chain), tuple(variables), titles, when, left_out)
    if previous is not None:
        report.since = compare_since(report, previous, str(since))
    report.elapsed_s = time.perf_counter() - t0
    report.jobs = jobs
    return report


__all__ = ["SCHEMA", "Entry", "FleetInputError", "FleetReport", "FleetReportError", "Group", "HostResult",
           "audit_fleet", "discover"]
