"""``hftinfra probe``: print what the probes read, as text or JSON.

Select probes by full name (``cpu.topology``) or by area (``cpu`` runs every ``cpu.*``).
A value that could not be read prints as ``unknown (reason: ...)``, never as a blank or
a zero.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from typing import Any

SCHEMA = "hftinfra.probe"
SCHEMA_VERSION = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="AREA|PROBE",
                        help="areas (cpu) or probes (cpu.topology) to run (default: all)")
    parser.add_argument("--host", metavar="PATH",
                        help="a snapshot directory or .tar.gz (default: $HFTINFRA_HOST, else the live host)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def select(probes: dict[str, Callable], names: list[str]) -> dict[str, Callable]:
    """Probes named exactly, or every probe of a named area; an unknown name is a UserError."""
    from hftinfra.cli import UserError

    if not names:
        return dict(probes)
    chosen: dict[str, Callable] = {}
    for name in names:
        hits = {k: v for k, v in probes.items() if k == name or k.startswith(name + ".")}
        if not hits:
            areas = sorted({k.split(".")[0] for k in probes})
            raise UserError(f"no probe or area named {name!r} (areas: {', '.join(areas) or 'none'}; "
                            f"probes: {', '.join(probes) or 'none'})")
        chosen.update(hits)
    return dict(sorted(chosen.items()))


def run(args: argparse.Namespace) -> int:
    from hftinfra.host import host_from_env, open_host
    from hftinfra.identity import read_identity
    from hftinfra.probes import all_probes

    host = open_host(args.host) if args.host else host_from_env()
    probes = select(all_probes(), args.names)
    identity = read_identity(host)
    results: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name, fn in probes.items():
        try:
            results[name] = fn(host)
        except Exception as exc:  # a probe's bug is reported, the other probes still print
            failed[name] = f"{exc.__class__.__name__}: {exc}"
    out = sys.stdout
    if args.format == "json":
        from hftinfra.records import to_jsonable

        doc = {
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
            "host": to_jsonable(identity),
            "probes": {name: to_jsonable(value) for name, value in results.items()},
            "errors": failed,
        }
        json.dump(doc, out, indent=1, sort_keys=False, default=str)
        out.write("\n")
    else:
        out.write(identity.summary() + "\n")
        for name in probes:
            out.write(f"\n== {name}\n")
            if name in failed:
                out.write(f"  error: {failed[name]}\n")
            else:
                out.write(render(results[name], indent=1))
    for name, err in failed.items():
        print(f"hftinfra probe: error: probe {name} failed: {err}", file=sys.stderr)
    return 1 if failed else 0


def _scalar(value: Any) -> bool:
    from hftinfra.host import Unread

    if isinstance(value, Unread):
        return True
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return False
    if isinstance(value, dict):
        return False
    if isinstance(value, (list, tuple)):
        return all(_scalar(v) and not isinstance(v, (list, tuple)) for v in value) and len(value) <= 16
    return True


def _one(value: Any) -> str:
    from hftinfra.records import show

    if isinstance(value, (list, tuple)):
        return ", ".join(_one(v) for v in value) if value else "(none)"
    if isinstance(value, (frozenset, set)) and not all(isinstance(v, int) for v in value):
        return ", ".join(sorted(str(v) for v in value)) or "(none)"
    return show(value)


def render(value: Any, indent: int = 0) -> str:
    """A record as indented ``name: value`` lines; nested records and lists indent further."""
    pad = "  " * indent
    if _scalar(value):
        return f"{pad}{_one(value)}\n"
    lines: list[str] = []
    if dataclasses.is_dataclass(value):
        items = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
        # Where a value came from matters less to a reader than the value: last.
        items.sort(key=lambda kv: kv[0] == "sources")
    elif isinstance(value, dict):
        items = [(str(k), v) for k, v in value.items()]
    else:
        items = [(f"[{i}]", v) for i, v in enumerate(value)]
        if not items:
            return f"{pad}(none)\n"
    for key, item in items:
        if _scalar(item):
            lines.append(f"{pad}{key}: {_one(item)}\n")
        else:
            lines.append(f"{pad}{key}:\n")
            lines.append(render(item, indent + 1))
    return "".join(lines)
