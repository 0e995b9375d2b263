"""Two hosts side by side: the probe records and the audit findings that differ, nothing else.

For "what changed on this box since yesterday" (a snapshot against the live host) and "why
does box 7 behave differently from box 3" (two snapshots). Records are compared leaf by leaf
after :func:`hftinfra.records.to_jsonable` (CPU sets as cpulists, an unread value as its
reason), under dotted paths such as ``memory.thp.enabled`` or ``cpu.topology.cpus[3].core``.
Counters and clocks move between any two reads of one machine (interrupt counts, idle
residency, the current frequency, offsets, free memory), so leaves named like them are left
out unless ``volatile=True``; how many were left out is said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Leaf names of values that change between two reads of the same machine.
VOLATILE = re.compile(r"(^|_)(count|counts|usage|time|uptime|when|cur|current_freq|cur_freq|offset|offsets|free|"
                      r"residency|above|below|rejected|packets|bytes|dropped|errors|jiffies|rate|rates|sample|"
                      r"samples|window|elapsed|seconds|stamp|timestamp|delay|freq_khz|mhz_now|available|mem_free)(_|$)")


@dataclass(frozen=True)
class Change:
    path: str
    a: Any
    b: Any


@dataclass(frozen=True)
class FindingChange:
    check_id: str
    a: dict | None  # status, observed, persistence state; None: not judged on that host
    b: dict | None


@dataclass
class HostDiff:
    a_name: str
    b_name: str
    records: list[Change]
    findings: list[FindingChange]
    volatile_left_out: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        return not self.records and not self.findings

    def to_json(self) -> dict:
        return {"schema": "hftinfra.diff/1", "a": self.a_name, "b": self.b_name,
                "findings": [{"id": f.check_id, "a": f.a, "b": f.b} for f in self.findings],
                "records": [{"path": c.path, "a": c.a, "b": c.b} for c in self.records],
                "volatile_left_out": self.volatile_left_out, "errors": self.errors}

    def to_text(self, limit: int = 200) -> str:
        out = [f"a: {self.a_name}", f"b: {self.b_name}"]
        if self.same:
            out.append("no difference in the findings or the probe records"
                       + (f" ({self.volatile_left_out} counters and clocks left out)" if self.volatile_left_out else ""))
            return "\n".join(out) + "\n"
        out.append("")
        out.append(f"findings that differ ({len(self.findings)})" + (":" if self.findings else ""))
        w = max((len(f.check_id) for f in self.findings), default=0)
        for f in self.findings:
            out.append(f"  {f.check_id:<{w}}  {_finding_text(f.a)}  ->  {_finding_text(f.b)}")
        probes = sorted({c.path.split(".", 2)[0] + "." + c.path.split(".", 2)[1].split("[")[0] for c in self.records
                         if c.path.count(".") >= 1})
        out.append("")
        out.append(f"probe records that differ ({len(self.records)} values in {len(probes)} probes; "
                   f"{self.volatile_left_out} counters and clocks left out):")
        for c in self.records[:limit]:
            out.append(f"  {c.path}: {_short(c.a)} -> {_short(c.b)}")
        if len(self.records) > limit:
            out.append(f"  ... {len(self.records) - limit} more (--format json lists them all)")
        for name, err in self.errors.items():
            out.append(f"  {name}: {err}")
        return "\n".join(out) + "\n"


def _finding_text(f: dict | None) -> str:
    if f is None:
        return "(not checked)"
    text = f"{f['status']} ({_short(f['observed'], 50)})"
    if f.get("persistence"):
        text += f" [{f['persistence']}]"
    return text


def _short(value: Any, width: int = 80) -> str:
    text = "absent" if value is _ABSENT else repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= width else text[:width - 3] + "..."


class _Absent:
    def __repr__(self) -> str:
        return "absent"


_ABSENT = _Absent()


def flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        if not value:
            out[prefix] = {}
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list):
        if not value:
            out[prefix] = []
        for i, v in enumerate(value):
            flatten(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = value


def _segments(path: str) -> list[str]:
    return [re.sub(r"\[\d+\]", "", s) for s in path.split(".")]


def is_volatile(path: str) -> bool:
    """A counter or a clock: a segment named like one (``counts`` and its per-CPU leaves,
    ``usage``, ``time``, ...), or an interrupt row's running ``total``."""
    segs = _segments(path)
    if any(VOLATILE.search(s) for s in segs):
        return True
    return path.startswith("irq.interrupts.") and segs[-1] == "total"


def diff_records(a: dict[str, Any], b: dict[str, Any], volatile: bool = False) -> tuple[list[Change], int]:
    """Leaf differences of two {probe name: jsonable record} maps, and how many volatile
    leaves were left out."""
    fa: dict[str, Any] = {}
    fb: dict[str, Any] = {}
    for name in sorted(set(a) | set(b)):
        flatten(a.get(name, _ABSENT), name, fa)
        flatten(b.get(name, _ABSENT), name, fb)
    changes, skipped = [], 0
    for path in sorted(set(fa) | set(fb)):
        va, vb = fa.get(path, _ABSENT), fb.get(path, _ABSENT)
        if va == vb:
            continue
        if not volatile and is_volatile(path):
            skipped += 1
            continue
        changes.append(Change(path, va, vb))
    return changes, skipped


def _probe_all(host) -> tuple[dict[str, Any], dict[str, str]]:
    from hftinfra.probes import all_probes
    from hftinfra.records import to_jsonable

    out, errors = {}, {}
    for name, fn in all_probes().items():
        try:
            out[name] = to_jsonable(fn(host))
        except Exception as exc:  # one probe's bug must not hide the rest of the comparison
            errors[name] = f"{exc.__class__.__name__}: {exc}"
    return out, errors


def _finding_key(f) -> dict:
    return {"status": f.status, "observed": f.observed,
            "persistence": f.persistence.state if f.persistence is not None else None}


def diff_hosts(a, b, profile: str = "hft-isolated", variables: list[str] | None = None,
               volatile: bool = False) -> HostDiff:
    """Compare two hosts (Host objects, snapshot paths, or None for the live host)."""
    from hftinfra.audit import run_audit
    from hftinfra.host import Host, open_host

    ha = a if isinstance(a, Host) else open_host(a)
    hb = b if isinstance(b, Host) else open_host(b)
    ra = run_audit(ha, profile, variables=variables)
    rb = run_audit(hb, profile, variables=variables)
    from hftinfra.report import host_line

    fa = {f.id: _finding_key(f) for f in ra.findings}
    fb = {f.id: _finding_key(f) for f in rb.findings}
    findings = [FindingChange(cid, fa.get(cid), fb.get(cid)) for cid in list(dict.fromkeys([*fa, *fb]))
                if fa.get(cid) != fb.get(cid)]
    pa, ea = _probe_all(ha)
    pb, eb = _probe_all(hb)
    records, skipped = diff_records(pa, pb, volatile)
    errors = {f"a: {k}": v for k, v in ea.items()} | {f"b: {k}": v for k, v in eb.items()}
    return HostDiff(host_line(ra), host_line(rb), records, findings, skipped, errors)


__all__ = ["Change", "FindingChange", "HostDiff", "VOLATILE", "diff_hosts", "diff_records", "flatten", "is_volatile"]
