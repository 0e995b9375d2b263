"""A fleet's audits read together: hosts grouped by the checks they fail, per-check counts,
drift from the majority, where each check stands for the next boot, and what changed since
an earlier report.

JSON schema ``hftinfra.fleet/1`` (keys are stable; new keys may be added, none removed)::

    {"schema": "hftinfra.fleet/1", "tool": {"name", "version"}, "when": ISO 8601,
     "profile": {"name", "chain", "variables": ["K=V", ...]},
     "summary": {"hosts", "audited", "not_audited", "passing", "failing", "groups"},
     "checks": [{"id", "title", "area",
                 "counts": {"pass", "fail", "warn", "skip", "unknown"},
                 "majority": STATUS | null, "drift": [HOST KEY, ...],
                 "observed": {VALUE: n, ...},     # among the hosts that drift
                 "persistence": {STATE: n, ...}}],
     "groups": [{"id", "pattern": [{"id", "status"}], "hosts": [KEY, ...],
                 "fixes": [{"id", "fix", "hosts_with_this_fix"}]}],
     "hosts": [{"key", "path", "hostname", "kernel", "when", "virtualized", "error", "exit",
                "group", "statuses": {ID: STATUS}, "observed": {ID: TEXT}, "persistence": {ID: STATE},
                "details": {ID: {"message", "next_boot"?, "fix"?}}}],
     "left_out": ["...", ...],
     "since": null | {"previous", "previous_when", "new_hosts", "gone_hosts",
                      "drifted": [{"host", "id", "was", "now"}], "fixed": [...], "changed": [...]}}

A host's ``key`` is its snapshot's path below the folder given (or the file's name): it
stays the same from one day's collection to the next, so ``--since`` can match hosts. Its
``group`` is the id of the group of hosts that fail, warn and cannot read exactly the same
checks; a host that could not be audited has group null and its ``error``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hftinfra.checks.base import STATUSES
from hftinfra.fleet.run import HostResult

SCHEMA = "hftinfra.fleet/1"
# A host's verdict pattern: the checks it does not pass. skip is "not applicable here" and
# stays out, so hosts without (say) a PHC still group with their twins.
PATTERN_STATUSES = ("fail", "warn", "unknown")
NOT_AUDITED = "not audited"


class FleetReportError(ValueError):
    """A previous fleet report that cannot be read (for --since): one line."""


@dataclass(frozen=True)
class CheckStats:
    id: str
    title: str
    area: str
    counts: dict[str, int]
    majority: str | None
    drift: tuple[str, ...]  # host keys whose status is not the majority's
    observed: dict[str, int]  # observed values among the drifting hosts
    persistence: dict[str, int]

    @property
    def audited(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "area": self.area, "counts": self.counts,
                "majority": self.majority, "drift": list(self.drift), "observed": self.observed,
                "persistence": self.persistence}


@dataclass(frozen=True)
class GroupFix:
    check_id: str
    fix: str | None
    hosts_with_this_fix: int  # how many of the group's hosts have exactly this fix text


@dataclass(frozen=True)
class Group:
    id: int
    pattern: tuple[tuple[str, str], ...]  # (check id, status), catalog order
    hosts: tuple[str, ...]
    fixes: tuple[GroupFix, ...]

    @property
    def clean(self) -> bool:
        return not self.pattern

    @property
    def failing(self) -> bool:
        return any(s == "fail" for _, s in self.pattern)

    def label(self) -> str:
        if not self.pattern:
            return "passes every check"
        parts = []
        for status in PATTERN_STATUSES:
            ids = [c for c, s in self.pattern if s == status]
            if ids:
                parts.append(f"{status} " + ", ".join(ids))
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {"id": self.id, "pattern": [{"id": c, "status": s} for c, s in self.pattern],
                "hosts": list(self.hosts),
                "fixes": [{"id": f.check_id, "fix": f.fix, "hosts_with_this_fix": f.hosts_with_this_fix}
                          for f in self.fixes]}


@dataclass(frozen=True)
class StatusChange:
    host: str
    check_id: str
    was: str
    now: str


@dataclass
class Since:
    previous: str
    previous_when: str | None
    new_hosts: list[str]
    gone_hosts: list[str]
    drifted: list[StatusChange]  # pass (or skip) before, fail/warn/unknown now
    fixed: list[StatusChange]  # fail/warn/unknown before, pass now
    changed: list[StatusChange]  # any other change of status
    audited_before_not_now: list[str] = field(default_factory=list)

    @property
    def quiet(self) -> bool:
        return not (self.new_hosts or self.gone_hosts or self.drifted or self.fixed or self.changed
                    or self.audited_before_not_now)

    def to_json(self) -> dict:
        def rows(changes):
            return [{"host": c.host, "id": c.check_id, "was": c.was, "now": c.now} for c in changes]

        return {"previous": self.previous, "previous_when": self.previous_when, "new_hosts": self.new_hosts,
                "gone_hosts": self.gone_hosts, "drifted": rows(self.drifted), "fixed": rows(self.fixed),
                "changed": rows(self.changed), "audited_before_not_now": self.audited_before_not_now}


@dataclass
class FleetReport:
    hosts: list[HostResult]
    profile_name: str
    profile_chain: tuple[str, ...]
    variables: tuple[str, ...]
    checks: list[CheckStats]
    groups: list[Group]
    when: str
    left_out: list[str] = field(default_factory=list)
    since: Since | None = None
    elapsed_s: float = 0.0
    jobs: int = 1
    titles: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)  # id -> (title, area)

    # ---- reading it -----------------------------------------------------------------------

    @property
    def audited(self) -> list[HostResult]:
        return [h for h in self.hosts if h.audited]

    @property
    def not_audited(self) -> list[HostResult]:
        return [h for h in self.hosts if not h.audited]

    @property
    def failing(self) -> list[HostResult]:
        return [h for h in self.audited if h.exit_code != 0]

    @property
    def exit_code(self) -> int:
        """0 every host passes (audited, nothing failed, something judged), 1 otherwise."""
        return 0 if all(h.audited and h.exit_code == 0 for h in self.hosts) else 1

    def host(self, key: str) -> HostResult:
        for h in self.hosts:
            if h.key == key:
                return h
        raise KeyError(key)

    def group_of(self, key: str) -> Group | None:
        for g in self.groups:
            if key in g.hosts:
                return g
        return None

    def label(self, key: str) -> str:
        """A host as a reader knows it: its hostname, with its snapshot's key when another
        snapshot records the same hostname (copies of one machine) or none was recorded."""
        return self._labels().get(key, key)

    def _labels(self) -> dict[str, str]:
        cached = getattr(self, "_label_cache", None)
        if cached is not None:
            return cached
        names = Counter(h.hostname for h in self.hosts if h.hostname)
        out = {}
        for h in self.hosts:
            if h.hostname and names[h.hostname] == 1:
                out[h.key] = h.hostname
            elif h.hostname:
                out[h.key] = f"{h.hostname} ({h.key})"
            else:
                out[h.key] = h.key
        self._label_cache = out
        return out

    def drifting_checks(self) -> list[CheckStats]:
        return [c for c in self.checks if c.drift]

    def summary(self) -> dict[str, int]:
        return {"hosts": len(self.hosts), "audited": len(self.audited), "not_audited": len(self.not_audited),
                "passing": sum(1 for h in self.audited if h.exit_code == 0), "failing": len(self.failing),
                "groups": len(self.groups)}

    def summary_line(self) -> str:
        s = self.summary()
        text = (f"{s['hosts']} hosts: {s['passing']} pass, {s['failing']} fail"
                + (f", {s['not_audited']} not audited" if s["not_audited"] else "")
                + f"; {s['groups']} groups by failures; "
                + f"{len(self.drifting_checks())} checks drift from the majority")
        return text

    def matrix(self) -> tuple[list[str], list[str], list[list[str]]]:
        """(host keys in group order, check ids, status per host per check): the heatmap's
        data. Hosts not audited come last with the status ``not audited``."""
        ids = [c.id for c in self.checks]
        keys = [k for g in self.groups for k in g.hosts] + [h.key for h in self.not_audited]
        grid = []
        for k in keys:
            h = self.host(k)
            grid.append([(h.statuses or {}).get(c, NOT_AUDITED if not h.audited else "skip") for c in ids])
        return keys, ids, grid

    # ---- JSON -----------------------------------------------------------------------------

    def to_json(self) -> dict:
        from hftinfra import __version__

        groups = {k: g.id for g in self.groups for k in g.hosts}
        hosts = []
        for h in self.hosts:
            d = h.to_json()
            d["group"] = groups.get(h.key)
            hosts.append(d)
        return {"schema": SCHEMA, "tool": {"name": "hftinfra", "version": __version__}, "when": self.when,
                "profile": {"name": self.profile_name, "chain": list(self.profile_chain),
                            "variables": list(self.variables)},
                "summary": self.summary(), "checks": [c.to_json() for c in self.checks],
                "groups": [g.to_json() for g in self.groups], "hosts": hosts, "left_out": self.left_out,
                "since": self.since.to_json() if self.since else None}

    # ---- views (hftinfra.fleet.views) -----------------------------------------------------

    def to_text(self, limit: int = 8) -> str:
        from hftinfra.fleet.views import to_text

        return to_text(self, limit)

    def to_markdown(self) -> str:
        from hftinfra.fleet.views import to_markdown

        return to_markdown(self)

    def to_html(self, limit: int = 12) -> str:
        from hftinfra.fleet.views import to_html

        return to_html(self, limit)

    def drift_table(self, limit: int = 12):
        """The drift table alone (:class:`~hftinfra.fleet.views.DriftTable`)."""
        from hftinfra.fleet.views import DriftTable

        return DriftTable(self, limit)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<FleetReport {self.summary_line()}>"


# ---- analysis -------------------------------------------------------------------------------


def pattern_of(h: HostResult, order: dict[str, int]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(((c, s) for c, s in (h.statuses or {}).items() if s in PATTERN_STATUSES),
                        key=lambda cs: order.get(cs[0], len(order))))


def analyse(hosts: list[HostResult], profile_name: str, profile_chain: tuple[str, ...], variables: tuple[str, ...],
            titles: dict[str, tuple[str, str]], when: str, left_out: list[str] | None = None) -> FleetReport:
    """Group, count and find the drift of audited hosts. ``titles`` is check id -> (title,
    area), in catalog order."""
    audited = [h for h in hosts if h.audited]
    ids = list(titles)
    for h in audited:  # a check some host has that the catalog here does not (another version)
        for c in h.statuses or {}:
            if c not in titles:
                titles[c] = (c, c.split(".", 1)[0])
                ids.append(c)
    order = {c: i for i, c in enumerate(ids)}

    by_key = {h.key: h for h in audited}
    checks = []
    for cid in ids:
        counts = {s: 0 for s in STATUSES}
        per_host = {}
        for h in audited:
            s = (h.statuses or {}).get(cid)
            if s is not None:
                counts[s] += 1
                per_host[h.key] = s
        if not per_host:
            continue
        # The majority is the most common status; a tie goes to the first in STATUSES order
        # (pass before fail), so a fleet split evenly reads as drift on the failing half.
        majority = max(STATUSES, key=lambda s: (counts[s], -STATUSES.index(s)))
        drift = tuple(k for k, s in per_host.items() if s != majority)
        observed: Counter[str] = Counter()
        for k in drift:
            observed[(by_key[k].observed or {}).get(cid, per_host[k])] += 1
        states: Counter[str] = Counter(h.persistence[cid] for h in audited if h.persistence and cid in h.persistence)
        title, area = titles[cid]
        checks.append(CheckStats(cid, title, area, counts, majority, drift, dict(observed.most_common()),
                                 dict(states.most_common())))

    patterns: dict[tuple, list[HostResult]] = {}
    for h in audited:
        patterns.setdefault(pattern_of(h, order), []).append(h)
    # Largest group first; equal sizes: fewer problems first, then by the pattern itself.
    ordered = sorted(patterns.items(), key=lambda kv: (-len(kv[1]), len(kv[0]), kv[0]))
    groups = []
    for i, (pattern, members) in enumerate(ordered, start=1):
        fixes = []
        for cid, status in pattern:
            if status not in ("fail", "warn"):
                continue
            texts = Counter((m.details or {}).get(cid, {}).get("fix") for m in members)
            fix, n = texts.most_common(1)[0]
            fixes.append(GroupFix(cid, fix, n))
        groups.append(Group(i, pattern, tuple(m.key for m in members), tuple(fixes)))
    return FleetReport(hosts=hosts, profile_name=profile_name, profile_chain=profile_chain, variables=variables,
                       checks=checks, groups=groups, when=when, left_out=list(left_out or []), titles=titles)


# ---- an earlier report (--since) ------------------------------------------------------------


def load_previous(path: str | Path) -> dict:
    """A fleet report written with ``--format json``, checked enough to compare against."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FleetReportError(f"--since {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetReportError(f"--since {path}: cannot be read ({exc})") from None
    except ValueError as exc:
        raise FleetReportError(f"--since {path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise FleetReportError(f"--since {path}: not a fleet report (schema {got!r}, expected {SCHEMA!r}; "
                               "write one with hftinfra fleet --format json)")
    hosts = data.get("hosts")
    if not isinstance(hosts, list) or not all(isinstance(h, dict) and isinstance(h.get("key"), str)
                                              and (h.get("statuses") is None or isinstance(h.get("statuses"), dict))
                                              for h in hosts):
        raise FleetReportError(f"--since {path}: damaged fleet report (its hosts list is not as written)")
    return data


def since(report: FleetReport, previous: dict, previous_path: str) -> Since:
    before = {h["key"]: h for h in previous["hosts"]}
    now = {h.key: h for h in report.hosts}
    new = [k for k in now if k not in before]
    gone = [k for k in before if k not in now]
    drifted, fixed, changed, lost = [], [], [], []
    bad = set(PATTERN_STATUSES)
    order = {c.id: i for i, c in enumerate(report.checks)}
    for k, h in now.items():
        if k not in before:
            continue
        old = before[k].get("statuses")
        if h.statuses is None:
            if old is not None:
                lost.append(k)
            continue
        if old is None:
            continue
        for cid in sorted(set(old) | set(h.statuses), key=lambda c: order.get(c, len(order))):
            was, is_ = old.get(cid, "not checked"), h.statuses.get(cid, "not checked")
            if was == is_:
                continue
            change = StatusChange(k, cid, was, is_)
            if is_ in bad and was not in bad:
                drifted.append(change)
            elif was in bad and is_ == "pass":
                fixed.append(change)
            else:
                changed.append(change)
    return Since(previous_path, previous.get("when"), new, gone, drifted, fixed, changed, lost)


__all__ = ["CheckStats", "FleetReport", "FleetReportError", "Group", "GroupFix", "NOT_AUDITED", "PATTERN_STATUSES",
           "SCHEMA", "Since", "StatusChange", "analyse", "load_previous", "pattern_of", "since"]
