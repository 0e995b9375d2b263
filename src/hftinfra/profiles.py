"""Tuning profiles: expected values as data, with a reason and a source for each.

A profile is a YAML file::

    summary: Power and frequency for low latency
    include: latency-performance          # a shipped name or a path; or a list of them
    variables:
      isolated_cpus:
        type: cpuset
        default_from: host.isolated_cpus  # or 'default: 2-7'
        description: CPUs reserved for latency-critical threads
    checks:
      cpu.governor:
        expect: performance               # grammar in hftinfra.checks.values
        reason: one line: why this value
        source: kernel Documentation path, man page or vendor guide (a string or a list)
        severity: warn                    # optional: a mismatch warns instead of failing
        warn: "-1"                        # optional: values allowed but risky
        warn_reason: one line
        enabled: false                    # drop a check an included profile set

Included profiles load first; the including file overrides them key by key within each
check. Shipped profiles live in ``hftinfra/profiles/``: ``latency-performance`` ->
``network-latency`` -> ``hft-isolated``, the same layering tuned uses. Any mistake (unknown
profile, include cycle, unknown key, wrong type) raises :class:`ProfileError` with one line
naming the file and the key.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from hftinfra.checks.base import Rule
from hftinfra.checks.values import KINDS, ValueTypeError, check_written_type, normalize, parse_expectation

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_PROFILE = "hft-isolated"

TOP_KEYS = ("name", "summary", "description", "include", "variables", "checks")
RULE_KEYS = ("expect", "reason", "source", "severity", "warn", "warn_reason", "enabled")
VAR_KEYS = ("type", "default", "default_from", "description")
SEVERITIES = ("fail", "warn")
# Facts about the host a variable can default to (computed by hftinfra.audit).
HOST_FACTS = ("host.isolated_cpus", "host.housekeeping_cpus", "host.online_cpus", "host.trading_nics")
VAR_TYPES = ("cpuset", "int", "str", "words")

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SAMPLE = {"cpuset": "0", "int": "0", "str": "x", "words": "x"}


class ProfileError(ValueError):
    """A profile that cannot be used; the message is one line naming file and key."""


@dataclass(frozen=True)
class Variable:
    name: str
    type: str
    default: Any = None  # normalised, or None
    default_from: str | None = None
    description: str = ""
    defined_in: str = ""


@dataclass(frozen=True)
class Profile:
    name: str
    path: str
    summary: str
    chain: tuple[str, ...]  # included profiles first, this one last
    variables: dict[str, Variable] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.name, "path": self.path, "chain": list(self.chain),
                "summary": self.summary}


def shipped_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(PROFILE_DIR.parent.parent.parent))
    except ValueError:
        return str(path)


def resolve_profile_path(spec: str, relative_to: Path | None = None) -> Path:
    """A shipped name ('network-latency') or a path to a YAML file."""
    spec = str(spec).strip()
    looks_like_path = "/" in spec or spec.endswith((".yaml", ".yml")) or spec.startswith(".")
    if looks_like_path:
        path = Path(spec).expanduser()
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
        if not path.is_file():
            where = f" (included from {_display(relative_to)})" if relative_to else ""
            what = "is a directory, not a profile file" if path.is_dir() else "no such profile file"
            raise ProfileError(f"{spec}: {what}{where}")
        return path.resolve()
    path = PROFILE_DIR / f"{spec}.yaml"
    if not path.is_file():
        shipped = shipped_profiles()
        close = difflib.get_close_matches(spec, shipped, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ProfileError(f"unknown profile {spec!r} (shipped: {', '.join(shipped)}; "
                           f"or give a path to a .yaml file){hint}")
    return path.resolve()


def load_profile(spec: str | Path = DEFAULT_PROFILE) -> Profile:
    """Load a profile by shipped name or path, with its includes, and validate it."""
    from hftinfra.checks import catalog

    path = resolve_profile_path(str(spec))
    profile = _load(path, stack=())
    if not profile.rules:
        # A profile that checks nothing would audit as a clean run.
        raise ProfileError(f"{profile.path}: no checks left: every included check is disabled "
                           "(enabled: false); keep at least one")
    _validate(profile, catalog())
    return profile


def _read_yaml(path: Path) -> dict:
    where = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{where}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{where}: not UTF-8 text") from None
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProfileError(f"{where}: not valid YAML{at}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a profile is a mapping (summary, include, variables, checks), "
                           f"not a {type(data).__name__}")
    return data


def _unknown_key(where: str, key: str, allowed: tuple[str, ...] | list[str], what: str) -> ProfileError:
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(allowed)})"
    return ProfileError(f"{where}: {what}{key}: unknown key{hint}")


def _load(path: Path, stack: tuple[Path, ...]) -> Profile:
    where = _display(path)
    if path in stack:
        cycle = " -> ".join(_display(p) for p in (*stack, path))
        raise ProfileError(f"{where}: include cycle: {cycle}")
    data = _read_yaml(path)
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown_key(where, key, TOP_KEYS, "")

    name = data.get("name", path.stem)
    summary = data.get("summary", "")
    for key, value in (("name", name), ("summary", summary), ("description", data.get("description", ""))):
        if not isinstance(value, str):
            raise ProfileError(f"{where}: {key}: expected text, got {type(value).__name__}")

    includes = data.get("include") or []
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ProfileError(f"{where}: include: expected a profile name or a list of them")

    chain: list[str] = []
    variables: dict[str, Variable] = {}
    rules: dict[str, Rule] = {}
    for inc in includes:
        try:
            inc_path = resolve_profile_path(inc, relative_to=path.parent)
        except ProfileError as exc:
            raise ProfileError(f"{where}: include: {exc}") from None
        parent = _load(inc_path, (*stack, path))
        chain.extend(n for n in parent.chain if n not in chain)
        variables.update(parent.variables)
        rules.update(parent.rules)
    chain.append(name)

    raw_vars = data.get("variables") or {}
    if not isinstance(raw_vars, dict):
        raise ProfileError(f"{where}: variables: expected a mapping of name -> {{type, default}}")
    for vname, spec in raw_vars.items():
        variables[vname] = _parse_variable(where, str(vname), spec)

    raw_checks = data.get("checks") or {}
    if not isinstance(raw_checks, dict):
        raise ProfileError(f"{where}: checks: expected a mapping of check id -> {{expect, reason, source}}")
    for cid, entry in raw_checks.items():
        cid = str(cid)
        if not isinstance(entry, dict):
            raise ProfileError(f"{where}: checks.{cid}: expected a mapping with expect, reason, source")
        for key in entry:
            if key not in RULE_KEYS:
                raise _unknown_key(where, key, RULE_KEYS, f"checks.{cid}.")
        if entry.get("enabled") is False:
            rules.pop(cid, None)
            continue
        if "enabled" in entry and entry["enabled"] is not True:
            raise ProfileError(f"{where}: checks.{cid}.enabled: expected true or false")
        rules[cid] = _merge_rule(where, cid, rules.get(cid), entry)
    if not includes and not raw_checks:
        # An empty file (or one with only a summary) is a mistake, not a profile that passes.
        raise ProfileError(f"{where}: no checks and no include: a profile lists checks, or includes "
                           "another profile (e.g. include: hft-isolated)")
    return Profile(name=name, path=where, summary=summary, chain=tuple(chain),
                   variables=variables, rules=rules)


def _parse_variable(where: str, name: str, spec: Any) -> Variable:
    key = f"variables.{name}"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ProfileError(f"{where}: {key}: a variable name is letters, digits and '_'")
    if not isinstance(spec, dict):
        raise ProfileError(f"{where}: {key}: expected a mapping with type and default or default_from")
    for k in spec:
        if k not in VAR_KEYS:
            raise _unknown_key(where, k, VAR_KEYS, f"{key}.")
    vtype = spec.get("type", "str")
    if vtype not in VAR_TYPES:
        raise ProfileError(f"{where}: {key}.type: {vtype!r} is not one of {', '.join(VAR_TYPES)}")
    default = spec.get("default")
    if default is not None:
        try:
            check_written_type(default, vtype)
            default = normalize(default, vtype)
        except ValueTypeError as exc:
            raise ProfileError(f"{where}: {key}.default: {exc}") from None
    default_from = spec.get("default_from")
    if default_from is not None and default_from not in HOST_FACTS:
        raise ProfileError(f"{where}: {key}.default_from: {default_from!r} is not one of "
                           f"{', '.join(HOST_FACTS)}")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise ProfileError(f"{where}: {key}.description: expected text")
    return Variable(name, vtype, default, default_from, description, where)


def _merge_rule(where: str, cid: str, base: Rule | None, entry: dict) -> Rule:
    key = f"checks.{cid}"
    for text_key in ("reason", "warn_reason"):
        if text_key in entry and not isinstance(entry[text_key], str):
            raise ProfileError(f"{where}: {key}.{text_key}: expected one line of text")
    sources = entry.get("source")
    if sources is not None:
        if isinstance(sources, str):
            sources = (sources,)
        elif isinstance(sources, list) and sources and all(isinstance(s, str) for s in sources):
            sources = tuple(sources)
        else:
            raise ProfileError(f"{where}: {key}.source: expected a citation or a list of them")
    severity = entry.get("severity")
    if severity is not None and severity not in SEVERITIES:
        raise ProfileError(f"{where}: {key}.severity: {severity!r} is not one of {', '.join(SEVERITIES)}")
    if "expect" in entry and entry["expect"] is None:
        raise ProfileError(f"{where}: {key}.expect: empty (write a value, or 'enabled: false')")
    if base is None:
        base = Rule(check_id=cid, expect=None, reason="", sources=(), defined_in=where)
    changes: dict[str, Any] = {}
    if "expect" in entry:
        changes["expect"] = entry["expect"]
        changes["defined_in"] = where
    if "reason" in entry:
        changes["reason"] = entry["reason"].strip()
    if sources is not None:
        changes["sources"] = sources
    if severity is not None:
        changes["severity"] = severity
    if "warn" in entry:
        changes["warn"] = entry["warn"]
    if "warn_reason" in entry:
        changes["warn_reason"] = entry["warn_reason"].strip()
    return replace(base, **changes)


def variables_in(raw: Any) -> list[str]:
    if isinstance(raw, dict):
        return [v for item in raw.values() for v in variables_in(item)]
    if isinstance(raw, (list, tuple)):
        return [v for item in raw for v in variables_in(item)]
    if isinstance(raw, str):
        return _VAR_RE.findall(raw)
    return []


def substitute(raw: Any, values: dict[str, str]) -> Any:
    """Replace ``${name}`` with the variable's text; a missing name raises KeyError."""
    if isinstance(raw, dict):
        return {k: substitute(v, values) for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return [substitute(v, values) for v in raw]
    if isinstance(raw, str):
        return _VAR_RE.sub(lambda m: values[m.group(1)], raw)
    return raw


def build_expectation(check, raw: Any):
    """The Expectation (or {field: Expectation}) for a check from raw text without variables."""
    if check.fields:
        if not isinstance(raw, dict):
            raise ValueTypeError(f"expected a mapping of {', '.join(check.fields)}")
        out = {}
        for name, value in raw.items():
            if name not in check.fields:
                close = difflib.get_close_matches(str(name), list(check.fields), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (fields: {', '.join(check.fields)})"
                raise ValueTypeError(f"{name}: unknown field{hint}")
            try:
                out[name] = parse_expectation(value, check.fields[name])
            except ValueTypeError as exc:
                raise ValueTypeError(f"{name}: {exc}") from None
        if not out:
            raise ValueTypeError("no fields")
        return out
    if isinstance(raw, dict):
        raise ValueTypeError(f"expected a single {check.kind} value, not a mapping")
    return parse_expectation(raw, check.kind)


def _validate(profile: Profile, checks: dict) -> None:
    for cid, rule in profile.rules.items():
        where = rule.defined_in or profile.path
        key = f"checks.{cid}"
        if cid not in checks:
            close = difflib.get_close_matches(cid, list(checks), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ProfileError(f"{where}: {key}: unknown check{hint} (see `hftinfra audit --explain`)")
        if rule.expect is None:
            raise ProfileError(f"{where}: {key}.expect: missing")
        if not rule.reason:
            raise ProfileError(f"{where}: {key}.reason: missing (one line: why this value)")
        if not rule.sources:
            raise ProfileError(f"{where}: {key}.source: missing (cite where the value comes from)")
        check = checks[cid]
        for raw_key, raw in (("expect", rule.expect), ("warn", rule.warn)):
            if raw is None:
                continue
            names = variables_in(raw)
            for name in names:
                if name not in profile.variables:
                    declared = ", ".join(profile.variables) or "none"
                    raise ProfileError(f"{where}: {key}.{raw_key}: unknown variable ${{{name}}} "
                                       f"(declared: {declared})")
            sample = {n: _SAMPLE[v.type] for n, v in profile.variables.items()}
            try:
                build_expectation(check, substitute(raw, sample))
            except ValueTypeError as exc:
                raise ProfileError(f"{where}: {key}.{raw_key}: {exc}") from None
    for name, var in profile.variables.items():
        if var.type not in VAR_TYPES or var.type not in KINDS:
            raise ProfileError(f"{var.defined_in}: variables.{name}.type: unsupported")


def parse_var_overrides(profile: Profile, pairs: list[str], possible: Any = None) -> dict[str, Any]:
    """``['isolated_cpus=2-7']`` -> ``{'isolated_cpus': frozenset({2..7})}``, checked
    against the profile's declared variables.

    ``possible`` is the host's possible CPU set (``/sys/devices/system/cpu/possible``), or an
    Unread, or None when not looked at. A cpuset value may then use the kernel's ``N`` (the
    last possible CPU) and ``all``, and must lie within the possible set: a list naming
    CPUs the host does not have would judge, and write fixes, for another machine. When the
    possible set could not be read the list is taken as given (the report says so).
    """
    from hftinfra.cpulist import format_cpulist, parse_cpulist
    from hftinfra.host import Unread

    known = possible if isinstance(possible, frozenset) and possible else None
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ProfileError(f"--var {pair!r}: expected NAME=VALUE")
        if name not in profile.variables:
            declared = ", ".join(profile.variables) or "none"
            raise ProfileError(f"--var {name}: profile {profile.name} has no such variable "
                               f"(declared: {declared})")
        var = profile.variables[name]
        if var.type == "cpuset" and re.search(r"(?i)(?<![0-9a-z])(n|all)(?![0-9a-z])", value) \
                and not value.strip().lower().startswith(("0x", "mask:")):
            if known is None:
                why = f", which could not be read: {possible}" if isinstance(possible, Unread) else ""
                raise ProfileError(f"--var {name}: 'N' and 'all' need the host's possible CPUs{why}; "
                                   "write the CPU numbers")
            try:
                out[name] = parse_cpulist(value, max(known) + 1)
            except ValueError as exc:
                raise ProfileError(f"--var {name}: expected a cpulist or 0x mask, got {value!r} ({exc})") from None
        else:
            try:
                out[name] = normalize(value, var.type)
            except ValueTypeError as exc:
                raise ProfileError(f"--var {name}: {exc}") from None
        if var.type == "cpuset" and known is not None and out[name] - known:
            raise ProfileError(f"--var {name}: CPUs {format_cpulist(out[name] - known)} are not on this host "
                               f"(possible CPUs: {format_cpulist(known)})")
    return out


__all__ = ["DEFAULT_PROFILE", "PROFILE_DIR", "Profile", "ProfileError", "Variable", "build_expectation",
           "load_profile", "parse_var_overrides", "shipped_profiles", "substitute", "variables_in"]
