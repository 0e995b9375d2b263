"""Helpers shared by the frozen records of every area module.

A record is a frozen dataclass. A field that could not be read holds an ``Unread``;
CPU sets are frozensets of ints; ``sources`` names the host paths it was read from.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from html import escape
from typing import Any

from hftinfra.cpulist import format_cpulist
from hftinfra.host import Unread


def to_jsonable(value: Any) -> Any:
    """Records to plain JSON types: CPU sets become cpulists, Unread a dict saying why."""
    if isinstance(value, Unread):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (frozenset, set)):
        if all(isinstance(v, int) for v in value):
            return format_cpulist(value)
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def show(value: Any) -> str:
    """One value as a reader sees it: cpulists for sets, 'unknown (why)' for Unread."""
    if isinstance(value, Unread):
        return str(value)
    if isinstance(value, (frozenset, set)) and all(isinstance(v, int) for v in value):
        return format_cpulist(value) or "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    return str(value)


def html_table(title: str, header: list[str], rows: list[list[object]], note: str = "") -> str:
    """A record's table for a notebook (``_repr_html_``): every cell shown as ``show`` does."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(show(c))}</td>" for c in row) + "</tr>" for row in rows)
    extra = f"<p>{escape(note)}</p>" if note else ""
    return f"<div><strong>{escape(title)}</strong>{extra}<table><tr>{head}</tr>{body}</table></div>"
