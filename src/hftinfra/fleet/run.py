"""Finding the snapshots of a fleet and auditing them, in parallel across cores.

A PATH is a snapshot (a directory with ``proc/``, ``sys/`` or ``hftinfra/meta.json``, or a
``.tar.gz``), or a folder of them: each archive and snapshot directory in it, plus the
``HOST.failed.json`` records ``scripts/ansible/fleet-snapshot.yml`` leaves for a host it
could not collect (schema ``hftinfra.collect/1``). Each host is audited in a worker process
of its own; what comes back is the compact :class:`HostResult`, never the whole report. A
snapshot that cannot be opened or audited is a row with its error, and the rest go on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
FAILED_SUFFIX = ".failed.json"
COLLECT_SCHEMA = "hftinfra.collect/1"


@dataclass(frozen=True)
class Entry:
    """One host of the fleet as found on disk: a snapshot to audit, or a collection failure."""

    key: str  # stable across runs: the path below the folder argument (or the file name)
    path: str
    failure: dict | None = None  # a HOST.failed.json record
    note: str = ""  # e.g. an older archive left out beside a failure record


@dataclass
class HostResult:
    """What the fleet keeps of one host's audit (small, so a thousand travel cheaply)."""

    key: str
    path: str
    hostname: str | None = None
    kernel: str | None = None
    when: str | None = None
    virtualized: bool | None = None
    error: str | None = None  # could not be collected or audited: why, one line
    exit_code: int = 2
    statuses: dict[str, str] | None = None  # check id -> status
    observed: dict[str, str] | None = None  # check id -> what was seen (the audit's display string)
    # Non-pass findings and passes with next-boot news: id -> {message, next_boot?, fix?}
    details: dict[str, dict] | None = None
    persistence: dict[str, str] | None = None  # check id -> persistence state (judged findings)
    seconds: float = 0.0

    @property
    def audited(self) -> bool:
        return self.error is None

    def to_json(self) -> dict:
        return {"key": self.key, "path": self.path, "hostname": self.hostname, "kernel": self.kernel,
                "when": self.when, "virtualized": self.virtualized, "error": self.error,
                "exit": self.exit_code, "statuses": self.statuses, "observed": self.observed,
                "persistence": self.persistence,
                "details": self.details}

    @classmethod
    def from_json(cls, d: dict) -> HostResult:
        return cls(key=str(d["key"]), path=str(d.get("path", d["key"])), hostname=d.get("hostname"),
                   kernel=d.get("kernel"), when=d.get("when"), virtualized=d.get("virtualized"),
                   error=d.get("error"), exit_code=int(d.get("exit", 2)), statuses=d.get("statuses"),
                   observed=d.get("observed"),
                   details=d.get("details"), persistence=d.get("persistence"))


class FleetInputError(Exception):
    """A PATH argument that cannot be used at all (the fleet cannot run): one line."""


def _is_archive(name: str) -> bool:
    return name.endswith(ARCHIVE_SUFFIXES)


def _archive_stem(name: str) -> str:
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _is_snapshot_dir(path: Path) -> bool:
    from hftinfra.host import _is_snapshot_dir as is_snap

    return is_snap(path)


def _read_failure(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"reason": "failed", "message": f"damaged collection record {path.name}: {exc}", "host": None}
    if not isinstance(record, dict) or record.get("schema") != COLLECT_SCHEMA:
        return {"reason": "failed", "message": f"{path.name} is not a {COLLECT_SCHEMA} record", "host": None}
    return record


def discover(paths: Iterable[str | os.PathLike]) -> tuple[list[Entry], list[str]]:
    """The hosts under ``paths``, in a stable order, and what was left out (one line each).

    Raises :class:`FleetInputError` for a PATH that does not exist or holds no snapshot."""
    entries: list[Entry] = []
    left_out: list[str] = []
    seen: set[str] = set()

    def add(entry: Entry) -> None:
        key = entry.key
        n = 2
        while key in seen:  # two folders holding the same file name
            key = f"{entry.key}#{n}"
            n += 1
        seen.add(key)
        entries.append(entry if key == entry.key else Entry(key, entry.path, entry.failure, entry.note))

    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise FleetInputError(f"{raw}: no such file or folder")
        if p.is_file():
            if _is_archive(p.name):
                add(Entry(p.name, str(p)))
            elif p.name.endswith(FAILED_SUFFIX):
                add(Entry(p.name[: -len(FAILED_SUFFIX)], str(p), failure=_read_failure(p)))
            else:
                raise FleetInputError(f"{raw}: not a snapshot (expected a directory or a .tar.gz)")
            continue
        if _is_snapshot_dir(p):
            add(Entry(p.resolve().name, str(p)))
            continue
        try:
            names = sorted(os.listdir(p))
        except OSError as exc:
            raise FleetInputError(f"{raw}: {exc.strerror or exc}") from None
        found = 0
        failures = {n[: -len(FAILED_SUFFIX)]: n for n in names if n.endswith(FAILED_SUFFIX)}
        archives = {_archive_stem(n) for n in names if _is_archive(n)}
        for name in names:
            child = p / name
            if name in (".", "..") or name.startswith("."):
                continue  # a half-fetched archive's temp name, an editor's file
            if _is_archive(name) and child.is_file():
                stem = _archive_stem(name)
                if stem in failures:
                    continue  # the newer failure record stands for this host
                add(Entry(name, str(child)))
                found += 1
            elif name.endswith(FAILED_SUFFIX) and child.is_file():
                stem = name[: -len(FAILED_SUFFIX)]
                note = (f"an older archive {stem}.tar.gz is left out: it is not what the host is now"
                        if stem in archives else "")
                add(Entry(stem, str(child), failure=_read_failure(child), note=note))
                found += 1
            elif child.is_dir():
                if _is_snapshot_dir(child):
                    add(Entry(name, str(child)))
                    found += 1
                else:
                    left_out.append(f"{child}: a folder that is not a snapshot")
        if not found:
            raise FleetInputError(f"{raw}: no snapshots inside (expected snapshot folders or .tar.gz archives)")
    if not entries:
        raise FleetInputError("no snapshots given")
    return entries, left_out


# ---- one host, in a worker -----------------------------------------------------------------


@lru_cache(maxsize=4)
def _profile(spec: str):
    from hftinfra.profiles import load_profile

    return load_profile(spec)


def _failure_row(entry: Entry) -> HostResult:
    f = entry.failure or {}
    reason = f.get("reason") or "failed"
    message = " ".join(str(f.get("message") or "no message").split())
    when = f" at {f['when']}" if f.get("when") else ""
    error = f"not collected ({reason}){when}: {message}"
    if entry.note:
        error += f"; {entry.note}"
    return HostResult(key=entry.key, path=entry.path, hostname=f.get("host"), error=error)


def audit_entry(entry: Entry, profile: str, variables: Sequence[str] = ()) -> HostResult:
    """Audit one host; every error becomes the row's ``error`` (one line), never an exception."""
    if entry.failure is not None:
        return _failure_row(entry)
    from hftinfra.audit import run_audit
    from hftinfra.host import HostError
    from hftinfra.profiles import ProfileError

    t0 = time.perf_counter()
    row = HostResult(key=entry.key, path=entry.path)
    try:
        report = run_audit(entry.path, _profile(profile), variables=list(variables))
    except (HostError, ProfileError) as exc:
        row.error = " ".join(str(exc).split())
        row.seconds = time.perf_counter() - t0
        return row
    except Exception as exc:  # one host's surprise must not stop a thousand others
        row.error = f"could not be audited ({exc.__class__.__name__}: {' '.join(str(exc).split())})"
        row.seconds = time.perf_counter() - t0
        return row
    h = report.host
    row.hostname, row.kernel, row.when, row.virtualized = h.get("hostname"), h.get("kernel"), h.get("when"), \
        h.get("virtualized")
    row.exit_code = report.exit_code
    row.statuses = {f.id: f.status for f in report.findings}
    row.observed = {f.id: f.observed for f in report.findings}
    row.persistence = {f.id: f.persistence.state for f in report.findings if f.persistence is not None}
    details: dict[str, dict] = {}
    from hftinfra.report import persistence_note

    for f in report.findings:
        note = persistence_note(f)
        if f.status == "pass" and not note:
            continue
        d = {"message": f.message}
        if note:
            d["next_boot"] = note
        if f.fix and f.status in ("fail", "warn"):
            d["fix"] = f.fix
        details[f.id] = d
    row.details = details
    row.seconds = time.perf_counter() - t0
    return row


def _audit_chunk(args: tuple[list[Entry], str, tuple[str, ...]]) -> list[HostResult]:
    entries, profile, variables = args
    return [audit_entry(e, profile, variables) for e in entries]


def _start_method() -> str:
    """fork where this process runs one thread (the command line: no import cost per worker);
    spawn where other threads run (a notebook kernel), since a fork copies their locks but
    not the threads that would release them."""
    import threading

    return "fork" if threading.active_count() == 1 else "spawn"


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def audit_entries(entries: Sequence[Entry], profile: str, variables: Sequence[str] = (),
                  jobs: int | None = None, worker=None) -> list[HostResult]:
    """Every entry audited, in ``entries``' order. ``jobs`` worker processes (default: the
    CPUs this process may run on); 1 audits in this process.

    A worker that dies (killed for memory, a crash in an extension) takes no host with it:
    the hosts it may have been holding are audited again one at a time, and only the one
    that kills its worker again becomes a row with that error."""
    jobs = jobs or default_jobs()
    variables = tuple(variables)
    worker = worker or _audit_chunk
    todo = [e for e in entries if e.failure is None]
    if jobs <= 1 or len(todo) <= 1:
        return [row for e in entries for row in worker(([e], profile, variables))]
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    # Chunks amortise the hand-over; small enough that the cores finish together.
    size = max(1, min(32, len(entries) // (jobs * 8)))
    chunks = [list(entries[i:i + size]) for i in range(0, len(entries), size)]
    ctx = multiprocessing.get_context(_start_method())
    done: dict[str, HostResult] = {}
    suspects: list[Entry] = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(chunks)), mp_context=ctx) as pool:
        futures = [(pool.submit(worker, (c, profile, variables)), c) for c in chunks]
        for future, chunk in futures:
            try:
                done.update((r.key, r) for r in future.result())
            except BrokenProcessPool:
                suspects.extend(chunk)
    if suspects and not done:
        # Not one chunk came back: the workers themselves cannot run here (they die at
        # start-up), which says nothing about the hosts. Audit in this process instead.
        return [row for e in entries for row in worker(([e], profile, variables))]
    while suspects:
        # One worker, one host at a time: the first unfinished host is the one that killed it.
        # A new pool takes its first task whatever happens, so each round settles one host.
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            futures = []
            for e in suspects:
                try:
                    futures.append((pool.submit(worker, ([e], profile, variables)), e))
                except BrokenProcessPool:
                    break  # an earlier host already killed the worker; the loop below says which
            for future, entry in futures:
                try:
                    done.update((r.key, r) for r in future.result())
                except BrokenProcessPool:
                    done[entry.key] = HostResult(key=entry.key, path=entry.path,
                                                 error="its audit's worker process died (killed, or crashed)")
                    break
        suspects = [e for e in suspects if e.key not in done]
    return [done[e.key] for e in entries]


__all__ = ["COLLECT_SCHEMA", "Entry", "FleetInputError", "HostResult", "audit_entries", "audit_entry",
           "default_jobs", "discover"]
