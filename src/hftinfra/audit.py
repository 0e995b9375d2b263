"""Run the checks of a profile against a host: a :class:`Report` of :class:`Finding` s.

Each finding says what was seen, what was expected, why that value matters (from the
profile), and how to fix it on this host. ``unknown`` (could not read) and ``skip`` (not
applicable here) always carry their why; neither counts as a pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hftinfra.checks import catalog
from hftinfra.checks.base import (
    STATUSES,
    Check,
    Context,
    Obs,
    Rule,
    Skip,
    Verdict,
    compare,
    first_unread,
)
from hftinfra.checks.base import unread_message as _unread_message
from hftinfra.checks.values import ValueTypeError, show_value
from hftinfra.host import Host, Reason, Unread, open_host
from hftinfra.profiles import (
    DEFAULT_PROFILE,
    Profile,
    ProfileError,
    build_expectation,
    load_profile,
    parse_var_overrides,
    substitute,
    variables_in,
)

SCHEMA = "hftinfra.audit/1"
DIFFERS = "differs from the expected value"
FINDING_KEYS = ("id", "title", "area", "status", "observed", "expected", "message", "reason",
                "sources", "fix", "docs", "persistence")


@dataclass(frozen=True)
class Finding:
    """One check's verdict. ``message`` says why this status (which CPUs differ, why it
    could not be read, why it does not apply); ``reason`` says why the expected value
    matters (from the profile)."""

    id: str
    title: str
    area: str
    status: str
    observed: str
    expected: str
    message: str
    reason: str
    sources: tuple[str, ...]
    fix: str | None
    docs: str
    # Where the settings that make this check true stand for the next boot (hftinfra.persist);
    # None for a check no setting makes (a measurement, hardware) or one not judged.
    persistence: Any = None

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "area": self.area, "status": self.status,
                "observed": self.observed, "expected": self.expected, "message": self.message,
                "reason": self.reason, "sources": list(self.sources), "fix": self.fix,
                "docs": self.docs, "persistence": self.persistence.to_json() if self.persistence else None}


@dataclass(frozen=True)
class VariableValue:
    name: str
    value: Any  # normalised, or None when unset
    origin: str  # "--var", "host: ...", "profile default", "unset: why"

    def shown(self) -> str:
        return show_value(self.value) if self.value is not None else "(unset)"


@dataclass
class Report:
    host: dict
    profile: Profile
    variables: dict[str, VariableValue]
    findings: list[Finding]
    only: tuple[str, ...] = ()
    elapsed_s: float = 0.0
    identity: Any = field(default=None, repr=False)

    @property
    def summary(self) -> dict[str, int]:
        counts = {s: 0 for s in STATUSES}
        for f in self.findings:
            counts[f.status] += 1
        return counts

    @property
    def judged(self) -> int:
        """Findings that compared a value with the profile (pass, fail or warn)."""
        return sum(1 for f in self.findings if f.status in ("pass", "fail", "warn"))

    @property
    def exit_code(self) -> int:
        """0 nothing failed, 1 something failed, 2 nothing could be judged.

        An audit whose every finding is unknown or skip says nothing about the host, so it
        must not read as success to ``hftinfra audit && go-live``."""
        if any(f.status == "fail" for f in self.findings):
            return 1
        return 0 if self.judged else 2

    def nothing_judged(self) -> str | None:
        """Why the audit judged nothing (one line), or None when it judged something."""
        if self.judged or any(f.status == "fail" for f in self.findings):
            return None
        s = self.summary
        where = self.host.get("source") or "this host"
        return f"no check could be judged on {where} ({s['unknown']} unknown, {s['skip']} skip)"

    def by_status(self, *statuses: str) -> list[Finding]:
        return [f for f in self.findings if f.status in statuses]

    def areas(self) -> list[str]:
        seen: list[str] = []
        for f in self.findings:
            if f.area not in seen:
                seen.append(f.area)
        return seen

    def filter(self, areas: Iterable[str] | None = None, statuses: Iterable[str] | None = None) -> Report:
        areas = set(areas or ()) or None
        statuses = set(statuses or ()) or None
        kept = [f for f in self.findings
                if (areas is None or f.area in areas) and (statuses is None or f.status in statuses)]
        return Report(self.host, self.profile, self.variables, kept,
                      tuple(sorted(areas)) if areas else self.only, self.elapsed_s, self.identity)

    def finding(self, check_id: str) -> Finding:
        for f in self.findings:
            if f.id == check_id:
                return f
        raise KeyError(check_id)

    # ---- views (hftinfra.report) -----------------------------------------------------------
    def to_json(self) -> dict:
        from hftinfra import report

        return report.to_json(self)

    def to_text(self, color: bool = False, width: int | None = None) -> str:
        from hftinfra import report

        return report.to_text(self, color=color, width=width)

    def to_markdown(self) -> str:
        from hftinfra import report

        return report.to_markdown(self)

    def fix_script(self) -> str:
        from hftinfra import report

        return report.fix_script(self)

    def _repr_html_(self) -> str:
        from hftinfra import report

        return report.to_html(self)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        from hftinfra.report import summary_line

        return f"<audit of {self.host.get('source')} against {self.profile.name}: {summary_line(self)}>"


# ---- host facts that variables default to --------------------------------------------------


def _online_cpus(ctx: Context) -> frozenset[int] | Unread:
    from hftinfra.checks.common import online_cpus

    return online_cpus(ctx)


def _host_isolated(ctx: Context) -> tuple[frozenset[int] | None, str]:
    from hftinfra.checks.common import isolation_sets

    sets = isolation_sets(ctx)
    if not sets:
        iso = ctx.probe("cpu.isolation")
        return None, f"unknown: {iso}" if isinstance(iso, Unread) else "unknown: no isolation record"
    effect = sets.get("isolated")
    if isinstance(effect, Unread):
        # Without the isolated set the default is not known, which is not the same as "none".
        return None, f"unknown: {effect.reason}: {effect.source}"
    for key, label in (("isolated", "sysfs isolated"), ("cmdline_isolcpus", "isolcpus= on the command line"),
                       ("nohz_full", "nohz_full in effect"), ("cmdline_nohz_full", "nohz_full= on the command line")):
        value = sets.get(key)
        if isinstance(value, frozenset) and value:
            return value, f"host: {label}"
    return None, "unset: this host isolates no CPUs; pass --var isolated_cpus=LIST"


def _host_trading_nics(ctx: Context) -> tuple[frozenset[str] | None, str]:
    """Physical interfaces whose link is up: the NICs a trading host's traffic uses unless
    ``--var trading_nics=`` names them."""
    nics = ctx.probe("net.interfaces")
    listed = nics if isinstance(nics, Unread) else nics.nics
    if isinstance(listed, Unread):
        return None, f"unknown: {listed}"
    up = frozenset(n.name for n in listed if n.physical is True and n.carrier is True)
    if not up:
        return None, "unset: no physical interface has link up; pass --var trading_nics=IF[,IF]"
    return up, "host: physical interfaces with link up"


def check_trading_nics(ctx: Context, names: frozenset[str]) -> None:
    """A --var trading_nics naming an interface the host does not have is a mistake (one
    line, exit 2), found before any check judges against it."""
    nics = ctx.probe("net.interfaces")
    listed = None if isinstance(nics, Unread) or isinstance(nics.nics, Unread) else nics.nics
    if listed is None:
        return  # a host whose interfaces cannot be listed: each check says unknown
    known = {n.name for n in listed}
    absent = sorted(names - known)
    if absent:
        raise ProfileError(f"--var trading_nics: no interface {', '.join(absent)} on this host "
                           f"(interfaces: {', '.join(sorted(known)) or 'none'})")


def _possible_cpus(ctx: Context) -> frozenset[int] | Unread:
    topo = ctx.probe("cpu.topology")
    return topo if isinstance(topo, Unread) else topo.possible


def resolve_variables(profile: Profile, ctx: Context, overrides: dict[str, Any],
                      possible: Any = None) -> dict[str, VariableValue]:
    out: dict[str, VariableValue] = {}
    for name, var in profile.variables.items():
        if name in overrides:
            if var.default_from == "host.trading_nics":
                check_trading_nics(ctx, overrides[name])
            origin = "--var"
            if var.type == "cpuset" and isinstance(possible, Unread):
                origin += f" (not checked against the host's CPUs: possible set {possible})"
            out[name] = VariableValue(name, overrides[name], origin)
        elif var.default_from == "host.isolated_cpus":
            value, origin = _host_isolated(ctx)
            out[name] = VariableValue(name, value, origin)
        elif var.default_from == "host.online_cpus":
            online = _online_cpus(ctx)
            out[name] = (VariableValue(name, None, f"unset: {online}") if isinstance(online, Unread)
                         else VariableValue(name, online, "host: online CPUs"))
        elif var.default_from == "host.housekeeping_cpus":
            iso = out.get("isolated_cpus")
            online = _online_cpus(ctx)
            if iso is None or iso.value is None:
                state = "unknown" if iso is not None and iso.origin.startswith("unknown") else "unset"
                out[name] = VariableValue(name, None, f"{state}: needs isolated_cpus")
            elif not iso.value:
                # Every online CPU would be "housekeeping", and the checks against it would pass.
                out[name] = VariableValue(name, None, "unset: isolated_cpus is empty")
            elif isinstance(online, Unread):
                out[name] = VariableValue(name, None, f"unset: {online}")
            else:
                out[name] = VariableValue(name, online - iso.value, "host: online CPUs minus isolated_cpus")
        elif var.default_from == "host.trading_nics":
            value, origin = _host_trading_nics(ctx)
            out[name] = VariableValue(name, value, origin)
        elif var.default is not None:
            out[name] = VariableValue(name, var.default, "profile default")
        else:
            out[name] = VariableValue(name, None, "unset: no default; pass --var")
        ctx.variables[name] = out[name].value
    return out


# ---- judging ------------------------------------------------------------------------------


def _text_of(value: Any) -> str:
    return show_value(value) if not isinstance(value, (set, frozenset)) or value else "none"


def expected_text(check: Check, rule: Rule, variables: dict[str, VariableValue]) -> str:
    def one(raw: Any) -> str:
        names = variables_in(raw)
        texts = {n: (variables[n].shown() if n in variables and variables[n].value is not None
                     else f"${{{n}}} (unset)") for n in names}
        sub = substitute(raw, texts)
        if isinstance(sub, list):
            return "|".join(str(s) for s in sub)
        if isinstance(sub, bool):
            return "on" if sub else "off"
        return str(sub)

    if isinstance(rule.expect, dict):
        return ", ".join(f"{k}={one(v)}" for k, v in rule.expect.items())
    return one(rule.expect)


def _expectation(check: Check, raw: Any, variables: dict[str, VariableValue]):
    """(expectation or None, names of unset variables it needs)."""
    if raw is None:
        return None, []
    names = variables_in(raw)
    # An empty CPU set would make '>=${isolated_cpus}' true of anything: no CPUs chosen is
    # no expectation, the same as unset.
    missing = [n for n in names if n not in variables or variables[n].value is None
               or _empty_set(variables[n].value)]
    if missing:
        return None, missing
    texts = {n: _text_of(variables[n].value) for n in names}
    # An empty CPU set substitutes as 'none', which the cpuset kind reads as the empty set.
    return build_expectation(check, substitute(raw, texts)), []


def evaluate(check: Check, rule: Rule, ctx: Context, variables: dict[str, VariableValue]) -> Finding:
    expected = expected_text(check, rule, variables)
    try:
        obs = check.observe(ctx)
    except Exception as exc:  # one broken check must not stop the audit
        obs = Unread(Reason.MALFORMED, check.id, f"check {check.id} failed: {exc.__class__.__name__}: {exc}")
    try:
        expectation, missing = _expectation(check, rule.expect, variables)
        warn_exp, _ = _expectation(check, rule.warn, variables)
    except ValueTypeError as exc:
        return _finding(check, rule, "unknown", "-", expected, f"expected value unusable here: {exc}", None)

    if isinstance(obs, Skip):
        return _finding(check, rule, "skip", "-", expected, obs.why, None)
    if isinstance(obs, Unread):
        return _finding(check, rule, "unknown", str(obs), expected, _unread_message(obs), None)
    if not isinstance(obs, Obs):
        obs = Obs(obs)
    observed = obs.display(check.kind)

    verdict: Verdict | None = None
    if check.judge is not None:
        verdict = check.judge(ctx, obs, expectation, missing)
    if verdict is None:
        unread = first_unread(obs.value)
        if unread is not None:
            verdict = Verdict("unknown", _unread_message(unread))
        elif missing:
            status = "unknown" if _missing_unknown(missing, variables) else "fail"
            verdict = Verdict(status, _missing_message(missing, variables))
        else:
            ok, where = compare(expectation, obs.value, check)
            if ok:
                verdict = Verdict("pass", obs.note)
            elif warn_exp is not None and compare(warn_exp, obs.value, check)[0]:
                # The note says which rule applied (a kernel version, a default): kept here too.
                verdict = Verdict("warn", "; ".join(p for p in (rule.warn_reason or "allowed, but risky", obs.note) if p))
            else:
                status = "warn" if rule.severity == "warn" else "fail"
                detail = f"differs {where}" if where else DIFFERS
                verdict = Verdict(status, "; ".join(p for p in (detail, obs.note) if p))
    fix = None
    if verdict.status in ("fail", "warn") and check.fix is not None:
        try:
            fix = check.fix(ctx, expectation, obs)
        except Exception as exc:  # a fix template bug leaves the finding intact
            fix = f"# no fix generated ({exc.__class__.__name__}: {exc})"
    return _finding(check, rule, verdict.status, observed, expected, verdict.message, fix)


def _empty_set(value: Any) -> bool:
    return isinstance(value, (set, frozenset)) and not value


def _missing_message(missing: list[str], variables: dict[str, VariableValue]) -> str:
    parts = []
    for n in missing:
        v = variables.get(n)
        if v is not None and _empty_set(v.value):
            parts.append(f"${{{n}}} is empty ({v.origin}): no CPUs are chosen, so there is nothing to check; "
                         f"give them with --var {n}=LIST")
            continue
        why = v.origin.removeprefix("unset: ").removeprefix("unknown: ") if v else "not declared"
        parts.append(f"${{{n}}} is {'unknown' if v and v.origin.startswith('unknown') else 'unset'} ({why})")
    return "; ".join(parts)


def _missing_unknown(missing: list[str], variables: dict[str, VariableValue]) -> bool:
    """A variable whose host default could not be read makes the check unknown, not failed."""
    return any(n in variables and variables[n].origin.startswith("unknown") for n in missing)


def _finding(check: Check, rule: Rule, status: str, observed: str, expected: str, message: str,
             fix: str | None) -> Finding:
    return Finding(id=check.id, title=check.title, area=check.area, status=status, observed=observed,
                   expected=expected, message=message, reason=rule.reason, sources=rule.sources,
                   fix=fix, docs=check.docs)


# ---- entry points ---------------------------------------------------------------------------


def run_audit(host: Host | str | None = None, profile: Profile | str = DEFAULT_PROFILE,
              variables: dict[str, Any] | list[str] | None = None,
              only: Iterable[str] | None = None) -> Report:
    """Audit ``host`` (a Host, a snapshot path, or None for the live host) against a profile.

    ``variables`` is ``{"isolated_cpus": "2-7"}`` or ``["isolated_cpus=2-7"]``; ``only``
    limits the audit to some areas (``["cpu", "memory"]``).
    """
    t0 = time.perf_counter()
    if not isinstance(host, Host):
        host = open_host(host)
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    if isinstance(variables, dict):
        pairs = [f"{k}={show_value(v) if not isinstance(v, str) else v}" for k, v in variables.items()]
    else:
        pairs = list(variables or [])
    ctx = Context(host)
    possible = None
    if any(profile.variables.get(p.partition("=")[0].strip(), None) is not None
           and profile.variables[p.partition("=")[0].strip()].type == "cpuset" for p in pairs):
        possible = _possible_cpus(ctx)
    overrides = parse_var_overrides(profile, pairs, possible)
    checks = catalog()
    only = tuple(only or ())
    known_areas = sorted({c.area for c in checks.values()})
    for area in only:
        if area not in known_areas:
            raise ProfileError(f"--only {area}: no such area (areas: {', '.join(known_areas)})")

    for check in checks.values():
        if check.prepare is not None and check.id in profile.rules and not (only and check.area not in only):
            try:
                check.prepare(ctx)
            except Exception:  # the check itself reports what went wrong when judged
                pass
    values = resolve_variables(profile, ctx, overrides, possible)
    chosen = [c for c in checks.values() if c.id in profile.rules and not (only and c.area not in only)]
    # Measurements are judged last, so their window runs while the other checks read.
    judged = {c.id: evaluate(c, profile.rules[c.id], ctx, values)
              for c in sorted(chosen, key=lambda c: c.prepare is not None)}
    findings = with_persistence(ctx, profile, values, [judged[c.id] for c in chosen])  # catalog order

    identity = ctx.identity()
    return Report(host=host_block(identity), profile=profile, variables=values, findings=findings,
                  only=only, elapsed_s=time.perf_counter() - t0, identity=identity)


def with_persistence(ctx: Context, profile: Profile, values: dict[str, VariableValue],
                     findings: list[Finding]) -> list[Finding]:
    """Each judged finding with where its settings stand for the next boot (hftinfra.persist)."""
    import dataclasses

    from hftinfra.persist import persistence_of, summarise
    from hftinfra.settings import plan_settings

    judged = [f for f in findings if f.status in ("pass", "fail", "warn")]
    if not judged:
        return findings
    cfg = ctx.probe("persist.config")
    if isinstance(cfg, Unread):
        return findings
    try:
        plan = plan_settings(profile, {n: v.value for n, v in values.items() if v.value is not None})
    except Exception:  # a plan that cannot be made leaves the findings as judged
        return findings
    made: dict[str, list] = {}
    for s in plan.settings:
        made.setdefault(s.check_id, []).append(s)
    out = []
    for f in findings:
        settings = made.get(f.id)
        if f.status not in ("pass", "fail", "warn") or not settings:
            out.append(f)
            continue
        by_kind: dict[str, list] = {}
        for s in settings:
            if s.key == "net.devices":
                continue  # names the NICs the other [net] options apply to
            runtime = None
            if s.kind == "sysctl":
                got = ctx.host.read("/proc/sys/" + s.key.replace(".", "/"))
                runtime = got.strip() if isinstance(got, str) else got
            by_kind.setdefault(s.kind, []).append(persistence_of(cfg, s, passed=f.status == "pass", runtime=runtime))
        out.append(dataclasses.replace(f, persistence=summarise(by_kind)))
    return out


def host_block(identity) -> dict:
    """The JSON ``host`` block: source, hostname, kernel, cpus, virtualized, ..."""
    def plain(v: Any) -> Any:
        return None if isinstance(v, Unread) else v

    virt = identity.virtualization
    return {
        "source": identity.source,
        "live": identity.is_live,
        "hostname": plain(identity.hostname),
        "kernel": plain(identity.kernel),
        "cpu_model": plain(identity.cpu_model),
        "cpus": plain(identity.cpus_online),
        "virtualized": plain(virt.detected),
        "hypervisor": virt.kind,
        "virtualization_evidence": virt.evidence,
        "when": plain(identity.when),
    }


def area_findings(host: Host | str | None = None, area: str = "cpu",
                  profile: Profile | str = DEFAULT_PROFILE, **kwargs) -> Report:
    """The findings of one area, for a page's "On this host" section (renders in a notebook)."""
    return run_audit(host, profile, only=[area], **kwargs)


__all__ = ["FINDING_KEYS", "Finding", "Report", "SCHEMA", "VariableValue", "area_findings", "evaluate",
           "host_block", "run_audit"]
