"""Plan, apply and roll back the runtime part of a profile on the live host.

The rollback file is JSON (schema ``hftinfra.rollback/1``), written whole (temp file, then
rename) before the first change and again after every write, so an apply stopped at any
point leaves a file that restores what was done. It names the host (hostname and the
kernel's boot id: a runtime value from another boot means nothing) and, per target, the
value before, the value wanted, and whether it was written. Rollback restores a target
only where it still holds the value apply wrote; a target someone changed since is
reported and left, unless ``force``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

from hftinfra.apply import knobs as K
from hftinfra.apply.knobs import Knob, KnobError, Target

SCHEMA = "hftinfra.rollback/1"
ROLLBACK_DIR = "/var/lib/hftinfra"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
STATES = ("configured", "partly configured", "not configured", "unknown")


class ApplyError(Exception):
    """A mistake the user can fix (not root, a damaged or foreign rollback file): one line."""


@dataclass(frozen=True)
class Reboot:
    check_id: str
    what: str  # 'kernel argument isolcpus=managed_irq,domain,1'
    fix: str  # the command that persists it


@dataclass(frozen=True)
class ApplyPlan:
    profile: str
    knobs: tuple[Knob, ...]
    reboot: tuple[Reboot, ...]
    not_runtime: tuple[tuple[str, str, str], ...]  # (check id, setting, why it is not applied here)
    report: object = field(repr=False, default=None)

    @property
    def safe(self) -> tuple[Knob, ...]:
        return tuple(k for k in self.knobs if not k.disruptive)

    @property
    def disruptive(self) -> tuple[Knob, ...]:
        return tuple(k for k in self.knobs if k.disruptive)


@dataclass
class TargetState:
    target: Target
    current: str | None
    error: str | None = None

    @property
    def configured(self) -> bool | None:
        if self.current is None:
            return None
        return K.same(self.target, self.current, self.target.wanted)


def knob_state(states: list[TargetState]) -> str:
    if any(s.configured is None for s in states):
        return "unknown"
    done = sum(1 for s in states if s.configured)
    return "configured" if done == len(states) else "not configured" if done == 0 else "partly configured"


def check(knob: Knob) -> list[TargetState]:
    out = []
    for t in knob.targets:
        try:
            out.append(TargetState(t, K.read(t)))
        except KnobError as exc:
            out.append(TargetState(t, None, str(exc)))
    return out


def plan_apply(profile: str = "hft-isolated", variables: list[str] | dict | None = None,
               only: list[str] | None = None) -> ApplyPlan:
    """Audit the live host, then the runtime knobs of every judged check of the profile."""
    from hftinfra.audit import run_audit
    from hftinfra.fixes import fix_plan

    report = run_audit(None, profile, variables=variables, only=only)
    fp = fix_plan(report, scope="all")
    variables_now = fp.plan.variables
    nics = variables_now.get("trading_nics")
    nic_map = {n: [] for n in nics} if isinstance(nics, frozenset) else None
    knobs: list[Knob] = []
    seen: set[tuple[str, str]] = set()
    not_runtime: list[tuple[str, str, str]] = []
    for s in fp.plan.settings:
        if s.kind == "cmdline":
            continue
        if (s.kind, s.key) in seen:
            continue
        seen.add((s.kind, s.key))
        knob, why = K.knob_for(s, nic_map)
        if knob is not None:
            knobs.append(knob)
        elif why:
            not_runtime.append((s.check_id, f"{s.place}: {s.shown}", why))
    hk = variables_now.get("housekeeping_cpus")
    nr = report.host.get("cpus")
    for f in fp.findings:
        rule = report.profile.rules[f.id]
        if f.id == "irq.affinity" and isinstance(hk, frozenset) and hk:
            irq, notes = K.irq_knobs(hk, f.id, rule.reason, rule.sources, nr)
            knobs += irq
            not_runtime += [(f.id, "IRQ affinity", n) for n in notes]
        if f.id == "irq.default_affinity" and isinstance(hk, frozenset) and hk:
            k = K.default_affinity_knob(hk, f.id, rule.reason, rule.sources, nr)
            if k is not None:
                knobs.append(k)
        if f.id == "net.channels" and f.status in ("fail", "warn") and f.fix:
            knobs += _channel_knobs(f, rule)
    failing = {f.id for f in fp.findings if f.status in ("fail", "warn")}
    reboot = [Reboot(s.check_id, f"kernel argument {s.text}", f"grubby --update-kernel=ALL --args='{s.text}'")
              for s in fp.plan.kernel_args() if s.check_id in failing]
    return ApplyPlan(profile=report.profile.name, knobs=tuple(knobs), reboot=tuple(reboot),
                     not_runtime=tuple(not_runtime), report=report)


def _channel_knobs(finding, rule) -> list[Knob]:
    """``ethtool -L IF combined N`` lines of the check's own fix, as knobs."""
    import re

    out = []
    for line in finding.fix.splitlines():
        m = re.fullmatch(r"ethtool -L (\S+) combined (\d+)", line.strip())
        if m:
            iface, n = m.groups()
            out.append(Knob(f"{iface} channels", finding.id, rule.reason, rule.sources,
                            (Target("ethtool", f"{iface} -L combined", n, "text",
                                    (("iface", iface), ("name", "combined"), ("option", "-L"))),),
                            disruptive="changing channels re-creates the NIC's queues and drops traffic"))
    return out


# ---- the rollback file ------------------------------------------------------------------------


def host_identity() -> dict:
    import socket

    try:
        boot = open(BOOT_ID).read().strip()
    except OSError:
        boot = None
    return {"hostname": socket.gethostname(), "boot_id": boot}


def default_rollback_path() -> str:
    # The pid keeps two applies in one second apart; the time sorts the files.
    return os.path.join(ROLLBACK_DIR, time.strftime("rollback-%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}.json")


def _write_json(path: str, doc: dict) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class Step:
    knob: Knob
    target: Target
    before: str | None
    after: str | None = None
    written: bool = False
    error: str | None = None
    state_before: str = ""


@dataclass
class ApplyResult:
    plan: ApplyPlan
    steps: list[Step]
    knob_states: list[tuple[Knob, str, str]]  # (knob, before, after)
    skipped_disruptive: tuple[Knob, ...]
    rollback_path: str | None
    dry_run: bool
    elapsed_s: float = 0.0

    @property
    def failed(self) -> list[Step]:
        return [s for s in self.steps if s.error]

    @property
    def changed(self) -> list[Step]:
        return [s for s in self.steps if s.written]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_text(self) -> str:
        from hftinfra.apply.view import format_apply

        return format_apply(self)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.to_text())}</pre>"


def rollback_document(plan: ApplyPlan, steps: list[Step]) -> dict:
    """The rollback file as apply writes it before its first change: every target it could
    read, with its value then (``previous``) and what apply will write (``target.wanted``)."""
    return {"schema": SCHEMA, "host": host_identity(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "profile": plan.profile, "status": "applying",
            "entries": [{"knob": s.knob.name, "check": s.knob.check_id, "target": s.target.to_json(),
                         "previous": s.before, "written": False} for s in steps if s.before is not None]}


def apply_plan(plan: ApplyPlan, *, dry_run: bool = True, rollback_path: str | None = None,
               allow_disruptive: bool = False) -> ApplyResult:
    """Write every target not yet configured; each knob is checked before and after."""
    t0 = time.perf_counter()
    chosen = plan.knobs if allow_disruptive else plan.safe
    skipped = () if allow_disruptive else plan.disruptive
    before = {k.name: check(k) for k in chosen}
    steps: list[Step] = []
    for k in chosen:
        for ts in before[k.name]:
            steps.append(Step(k, ts.target, ts.current, error=ts.error if ts.current is None else None,
                              state_before=knob_state(before[k.name])))
    if dry_run:
        states = [(k, knob_state(before[k.name]), knob_state(before[k.name])) for k in chosen]
        return ApplyResult(plan, steps, states, skipped, None, True, time.perf_counter() - t0)
    if os.geteuid() != 0:
        raise ApplyError("applying changes the host: run as root (without --yes it is a dry run)")
    path = rollback_path or default_rollback_path()
    doc = rollback_document(plan, steps)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if os.path.exists(path):
            raise ApplyError(f"--rollback-file {path}: exists; it may hold another apply's previous values")
        _write_json(path, doc)
    except OSError as exc:
        raise ApplyError(f"--rollback-file {path}: {exc.strerror or exc}") from None
    index = {(e["knob"], e["target"]["where"]): e for e in doc["entries"]}
    try:
        for s in steps:
            if s.before is None or K.same(s.target, s.before, s.target.wanted):
                continue
            entry = index[(s.knob.name, s.target.where)]
            entry["written"] = True  # recorded before the write: an interrupted write is undone too
            _write_json(path, doc)
            try:
                K.write(s.target, s.target.wanted)
                s.written = True
            except KnobError as exc:
                s.error = str(exc)
                entry["written"] = False
                entry["error"] = s.error
            try:
                s.after = K.read(s.target)
            except KnobError as exc:
                s.error = s.error or str(exc)
        doc["status"] = "complete"
    finally:
        _write_json(path, doc)
    states = []
    for k in chosen:
        states.append((k, knob_state(before[k.name]), knob_state(check(k))))
    return ApplyResult(plan, steps, states, skipped, path, False, time.perf_counter() - t0)


# ---- rollback ---------------------------------------------------------------------------------


@dataclass
class RollbackItem:
    knob: str
    target: Target
    previous: str
    current: str | None
    action: str  # restore | unchanged | conflict | unreadable
    error: str | None = None
    after: str | None = None


@dataclass
class RollbackResult:
    path: str
    items: list[RollbackItem]
    dry_run: bool
    forced: bool = False
    elapsed_s: float = 0.0

    @property
    def failed(self) -> list[RollbackItem]:
        return [i for i in self.items if i.error]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def load_rollback(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise ApplyError(f"{path}: no such rollback file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ApplyError(f"{path}: cannot read it: {getattr(exc, 'strerror', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise ApplyError(f"{path}: damaged rollback file (not JSON: line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ApplyError(f"{path}: not a rollback file of schema {SCHEMA}")
    entries = doc.get("entries")
    host = doc.get("host")
    if not isinstance(entries, list) or not isinstance(host, dict):
        raise ApplyError(f"{path}: damaged rollback file (no entries or host)")
    for i, e in enumerate(entries):
        try:
            Target.from_json(e["target"])
            if not isinstance(e["previous"], str) or not isinstance(e["knob"], str):
                raise TypeError
        except (KeyError, TypeError, AttributeError):
            raise ApplyError(f"{path}: damaged rollback file (entry {i + 1} is incomplete)") from None
    return doc


def rollback(path: str, *, force: bool = False, dry_run: bool = False) -> RollbackResult:
    """Restore every target apply wrote, from ``path``. Nothing is written when the file is
    from another host or boot, or (without ``force``) when a target changed since apply."""
    t0 = time.perf_counter()
    doc = load_rollback(path)
    here = host_identity()
    was = doc["host"]
    if was.get("hostname") != here["hostname"]:
        raise ApplyError(f"{path}: from host {was.get('hostname')!r}, this is {here['hostname']!r}: nothing restored")
    if was.get("boot_id") != here["boot_id"]:
        raise ApplyError(f"{path}: from another boot of this host (boot id {was.get('boot_id')}); runtime "
                         "settings did not survive the reboot: nothing restored")
    if not dry_run and os.geteuid() != 0:
        raise ApplyError("rollback changes the host: run as root (--dry-run shows what it would do)")
    items: list[RollbackItem] = []
    for e in doc["entries"]:
        t = Target.from_json(e["target"])
        try:
            current = K.read(t)
        except KnobError as exc:
            items.append(RollbackItem(e["knob"], t, e["previous"], None, "unreadable", str(exc)))
            continue
        if K.same(t, current, e["previous"]):
            action = "unchanged"
        elif e.get("written") and K.same(t, current, t.wanted):
            action = "restore"
        else:
            action = "conflict"
        items.append(RollbackItem(e["knob"], t, e["previous"], current, action))
    conflicts = [i for i in items if i.action == "conflict"]
    if conflicts and not force:
        first = conflicts[0]
        raise ApplyError(f"{path}: {len(conflicts)} setting(s) changed since apply, first {first.target.where} "
                         f"(now {first.current!r}, apply wrote {first.target.wanted!r}): nothing restored; "
                         "--force restores them anyway")
    if dry_run:
        return RollbackResult(path, items, True, force, time.perf_counter() - t0)
    # Restored in reverse order of the apply, like a stack of changes.
    for item in reversed(items):
        if item.action not in ("restore", "conflict"):
            continue
        try:
            K.write(item.target, item.previous)
            item.after = K.read(item.target)
            if not K.same(item.target, item.after, item.previous):
                item.error = f"wrote {item.previous!r}, reads back {item.after!r}"
        except KnobError as exc:
            item.error = str(exc)
    if not any(i.error for i in items):
        doc["status"] = "rolled back"
        doc["rolled_back"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            _write_json(path, doc)
        except OSError:
            pass
    return RollbackResult(path, items, False, force, time.perf_counter() - t0)


__all__ = ["ApplyError", "ApplyPlan", "ApplyResult", "Reboot", "RollbackResult", "SCHEMA", "STATES", "apply_plan",
           "check", "default_rollback_path", "knob_state", "load_rollback", "plan_apply", "rollback", "rollback_document"]
