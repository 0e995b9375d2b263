"""The check model: what a check reads, how it turns records into an observed value, and
how that value is judged against a profile's expectation.

A check never reads files itself: it asks the :class:`Context` for an area probe's record,
and the context runs each probe once per audit. ``observe`` returns an :class:`Obs`, a
:class:`Skip` (not applicable here, with why) or an ``Unread`` (could not read, with why).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hftinfra.checks.values import Expectation, normalize, show_value
from hftinfra.cpulist import format_cpulist
from hftinfra.host import Host, Reason, Unread

STATUSES = ("pass", "fail", "warn", "skip", "unknown")
AREAS = ("cpu", "kernel", "memory", "irq", "net", "time")

# Probes are looked up by their registered name ("memory.thp", "cpu.isolation"); the area
# module named by the prefix is imported on first use, so an audit limited to one area does
# not import the others.


@dataclass(frozen=True)
class Skip:
    """Not applicable on this host (a VM without cpufreq, a kernel without KSM)."""

    why: str


@dataclass(frozen=True)
class PerCpu:
    """One value per CPU; it matches only when every CPU's value matches."""

    values: dict  # cpu -> value

    def groups(self) -> list[tuple[Any, frozenset[int]]]:
        out: dict[Any, set[int]] = {}
        for cpu, value in self.values.items():
            out.setdefault(value, set()).add(cpu)
        return sorted(((v, frozenset(c)) for v, c in out.items()), key=lambda g: min(g[1]))

    def __str__(self) -> str:
        groups = self.groups()
        if len(groups) == 1:
            value, cpus = groups[0]
            return f"{show_value(value)} (all {len(cpus)} CPUs)"
        return "; ".join(f"{show_value(v)} on {format_cpulist(c)}" for v, c in groups)


@dataclass(frozen=True)
class Obs:
    """An observed value. ``value`` is what is compared (a scalar, a CPU set, a PerCpu, or
    for a check with fields a dict of them); ``shown`` overrides how it is displayed;
    ``note`` adds context the judge or reader needs (where it came from, a default)."""

    value: Any
    shown: str | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    def display(self, kind: str | None = None) -> str:
        if self.shown is not None:
            return self.shown
        return display_value(self.value)


def display_value(value: Any) -> str:
    if isinstance(value, Unread):
        return str(value)
    if isinstance(value, PerCpu):
        return str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={display_value(v)}" for k, v in value.items())
    if value is None:
        return "(not set)"
    return show_value(value)


@dataclass(frozen=True)
class Verdict:
    status: str
    message: str


def probe_function(name: str) -> Callable[[Host], Any]:
    from hftinfra import probes

    importlib.import_module(f"hftinfra.{name.split('.')[0]}")
    registry = probes._REGISTRY  # the registry has no public single-probe lookup
    if name not in registry:
        raise LookupError(f"no probe registered as {name!r}")
    return registry[name]


class Context:
    """What checks see of one host during one audit: probes run once, cached."""

    def __init__(self, host: Host, variables: dict[str, Any] | None = None):
        self.host = host
        self.variables: dict[str, Any] = dict(variables or {})
        self._cache: dict[str, Any] = {}
        self.probe_seconds: dict[str, float] = {}

    def probe(self, name: str) -> Any:
        if name not in self._cache:
            t0 = time.perf_counter()
            try:
                fn = probe_function(name)
                self._cache[name] = fn(self.host)
            except (ImportError, LookupError) as exc:
                self._cache[name] = Unread(Reason.UNSUPPORTED, name, f"probe {name} is not available ({exc})")
            except Exception as exc:  # a probe bug must not hide every other finding
                self._cache[name] = Unread(Reason.MALFORMED, name,
                                           f"probe {name} failed: {exc.__class__.__name__}: {exc}")
            self.probe_seconds[name] = time.perf_counter() - t0
        return self._cache[name]

    def identity(self):
        """Which host this is (also names the distribution, for fix templates)."""
        from hftinfra.identity import read_identity

        return self.cached("identity", lambda: read_identity(self.host))

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """Derived values several checks share (the cmdline, the online set)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


@dataclass(frozen=True)
class Rule:
    """A profile's entry for one check, after includes and overrides."""

    check_id: str
    expect: Any  # raw value as written, with ${variables} still in it
    reason: str
    sources: tuple[str, ...]
    severity: str = "fail"  # what a mismatch is: 'fail', or 'warn' for advisory values
    warn: Any = None  # values allowed but risky: a match is 'warn'
    warn_reason: str = ""
    defined_in: str = ""  # the profile file that set 'expect'


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    area: str
    summary: str  # what it checks and why, one or two sentences
    reads: tuple[str, ...]  # host paths (or commands) behind the value
    docs: str  # primary documentation URL
    observe: Callable[[Context], Any]
    kind: str = "str"
    fields: dict[str, str] | None = None  # name -> kind, for checks with several values
    judge: Callable[..., Verdict | None] | None = None
    fix: Callable[..., str | None] | None = None
    normalises: str = ""  # how observed values are normalised, for the reference page
    # Called once before any check is judged (a measurement's first reading, so its window
    # overlaps the rest of the audit instead of adding to it).
    prepare: Callable[[Context], None] | None = None

    def kind_of(self, field_name: str | None) -> str:
        if field_name is None:
            return self.kind
        assert self.fields is not None
        return self.fields[field_name]


_CATALOG: dict[str, Check] = {}


def register(check: Check) -> Check:
    if check.id in _CATALOG and _CATALOG[check.id] is not check:
        raise ValueError(f"check {check.id!r} registered twice")
    if check.area not in AREAS or not check.id.startswith(check.area + "."):
        raise ValueError(f"check {check.id!r}: area {check.area!r} does not match its id")
    _CATALOG[check.id] = check
    return check


def compare(expect: Expectation | dict, value: Any, check: Check) -> tuple[bool, str]:
    """Whether value matches, and for a mismatch which part (a field, some CPUs)."""
    if isinstance(expect, dict):
        bad = []
        for name, exp in expect.items():
            ok, why = compare(exp, value.get(name) if isinstance(value, dict) else None, check)
            if not ok:
                bad.append(f"{name} {why}" if why else name)
        return (not bad), "; ".join(bad)
    if isinstance(value, PerCpu):
        wrong = frozenset(c for c, v in value.values.items() if not _matches(expect, v))
        if not wrong:
            return True, ""
        if len(wrong) == len(value.values):
            return False, ""
        return False, f"on CPUs {format_cpulist(wrong)}"
    return _matches(expect, value), ""


def _matches(expect: Expectation, value: Any) -> bool:
    if value is None:
        return False
    try:
        return expect.matches(value)
    except ValueError:
        return False


def first_unread(value: Any) -> Unread | None:
    if isinstance(value, Unread):
        return value
    if isinstance(value, dict):
        for v in value.values():
            u = first_unread(v)
            if u is not None:
                return u
    if isinstance(value, PerCpu):
        for v in value.values.values():
            if isinstance(v, Unread):
                return v
    return None


def unread_message(u: Unread) -> str:
    """Why a value could not be read, as a finding's message says it."""
    reason = str(u.reason)
    text = {"missing": "not present on this host", "denied": "permission denied (run as root?)",
            "unsupported": "not supported here", "malformed": "could not be parsed"}[reason]
    detail = u.detail if u.detail and u.detail != u.source else ""
    return f"could not read {u.source}: {text}" + (f" ({detail})" if detail else "")


def norm(value: Any, kind: str) -> Any:
    """normalize() that lets Unread and None through."""
    if value is None or isinstance(value, Unread):
        return value
    return normalize(value, kind)
