"""Expected values as profiles write them, and the comparison of observed values with them.

A profile writes an expected value as text (or a YAML scalar). The grammar:

- a literal: ``10``, ``performance``, ``2-7`` (a cpulist), ``0x3`` or ``mask:00000000,0000000f``
  (a hex cpumask), ``managed_irq,domain`` (a set of words);
- a bound before it: ``<=10``, ``<10``, ``>=600``, ``>0``, ``!=jiffies``. On CPU sets and word
  sets ``<=`` means "subset of" and ``>=`` "superset of";
- alternatives separated by ``|``: ``never|madvise``, ``>=600|0``.

Values are normalised by the kind of the check (``int``, ``str``, ``bool``, ``cpuset``,
``words``) before comparing, so ``0x0000000f`` equals ``0-3`` and ``Y`` equals ``1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hftinfra.cpulist import format_cpulist, parse_cpulist, parse_cpumask

KINDS = ("int", "str", "bool", "cpuset", "words")
OPS = ("<=", ">=", "!=", "<", ">", "==")

_TRUE = {"1", "y", "yes", "on", "true", "enabled"}
_FALSE = {"0", "n", "no", "off", "false", "disabled"}


class ValueTypeError(ValueError):
    """A value that does not fit the kind of its check (names what was expected)."""


def normalize(value: Any, kind: str) -> Any:
    """An observed or expected value in the one form comparisons use.

    >>> normalize(" 10\\n", "int"), normalize("Y", "bool"), sorted(normalize("0x5", "cpuset"))
    (10, True, [0, 2])
    """
    if kind == "int":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        text = str(value).strip()
        try:
            return int(text, 0) if text.lower().startswith(("0x", "-0x")) else int(text)
        except ValueError:
            raise ValueTypeError(f"expected an integer, got {text!r}") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueTypeError(f"expected on/off (1/0, yes/no), got {value!r}")
    if kind == "cpuset":
        if isinstance(value, (set, frozenset)):
            return frozenset(value)
        if isinstance(value, (list, tuple)):
            return frozenset(int(v) for v in value)
        if isinstance(value, bool):
            raise ValueTypeError(f"expected a cpulist, got {value!r}")
        if isinstance(value, int):
            return frozenset({value})
        text = str(value).strip()
        try:
            if text.lower() in ("", "none", "(none)"):
                return frozenset()
            if text.lower().startswith("0x") and "," not in text:
                # A plain hex number of any width, as people write masks by hand.
                bits = int(text, 16)
                return frozenset(i for i in range(bits.bit_length()) if bits >> i & 1)
            if text.lower().startswith("0x"):
                return parse_cpumask(text)
            if text.lower().startswith("mask:"):
                return parse_cpumask(text[5:])
            return parse_cpulist(text)
        except ValueError as exc:
            raise ValueTypeError(f"expected a cpulist or 0x mask, got {text!r} ({exc})") from None
    if kind == "words":
        if isinstance(value, (set, frozenset, list, tuple)):
            return frozenset(str(v).strip() for v in value if str(v).strip())
        return frozenset(w.strip() for w in str(value).split(",") if w.strip())
    if kind == "str":
        if isinstance(value, bool):
            return "on" if value else "off"
        return str(value).strip()
    raise ValueError(f"unknown kind {kind!r}")


def check_written_type(value: Any, kind: str) -> None:
    """Reject a value a profile wrote whose YAML type cannot mean a value of ``kind``.

    YAML reads ``true``, ``yes`` and ``on`` as booleans and ``1.5`` as a float; normalize()
    would quietly turn True into 1 for an int or a cpuset, so a profile saying
    ``expect: true`` for swappiness would judge (and fix) against 1.

    >>> check_written_type(True, "int")
    Traceback (most recent call last):
    ...
    hftinfra.checks.values.ValueTypeError: expected an integer, got a boolean (true/false/yes/no/on/off)
    """
    what = {"int": "an integer", "cpuset": "a cpulist or 0x mask", "words": "a comma-separated list of words",
            "bool": "on/off (1/0, yes/no)", "str": "text"}[kind]
    if isinstance(value, bool):
        if kind in ("int", "cpuset", "words"):
            raise ValueTypeError(f"expected {what}, got a boolean (true/false/yes/no/on/off)")
        return
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        raise ValueTypeError(f"expected {what}, got a {'mapping' if isinstance(value, dict) else 'list'}")
    if isinstance(value, float):
        raise ValueTypeError(f"expected {what}, got the number {value!r}")
    if isinstance(value, int) and kind == "bool" and value not in (0, 1):
        raise ValueTypeError(f"expected {what}, got {value}")
    if value is not None and not isinstance(value, (str, int)):
        raise ValueTypeError(f"expected {what}, got a {type(value).__name__}")


def show_value(value: Any, kind: str | None = None) -> str:
    """A normalised value as a reader (and the JSON) sees it."""
    if isinstance(value, (set, frozenset)):
        if all(isinstance(v, int) for v in value):
            return format_cpulist(value) or "(none)"
        return ",".join(sorted(value)) or "(none)"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


@dataclass(frozen=True)
class Atom:
    op: str
    value: Any
    kind: str

    def matches(self, observed: Any) -> bool:
        a, b = observed, self.value
        if self.op == "==":
            return a == b
        if self.op == "!=":
            return a != b
        if self.kind in ("str", "bool"):
            raise ValueTypeError(f"{self.op} needs a number or a set, not a {self.kind}")
        if self.op == "<=":
            return a <= b
        if self.op == "<":
            return a < b
        if self.op == ">=":
            return a >= b
        return a > b  # ">"

    def suggest(self) -> Any:
        """A concrete value that satisfies this atom, for fix commands."""
        if self.kind == "int":
            return {"<": self.value - 1, ">": self.value + 1}.get(self.op, self.value)
        return self.value

    def __str__(self) -> str:
        shown = show_value(self.value, self.kind)
        return shown if self.op == "==" else f"{self.op}{shown}"


@dataclass(frozen=True)
class Expectation:
    """One expected value: alternatives of (bound, value) atoms, all of one kind."""

    kind: str
    atoms: tuple[Atom, ...]
    text: str

    def matches(self, observed: Any) -> bool:
        value = normalize(observed, self.kind)
        return any(atom.matches(value) for atom in self.atoms)

    def suggest(self) -> Any:
        # An '!=' atom has no concrete value; the first atom that has one wins.
        for atom in self.atoms:
            if atom.op != "!=":
                return atom.suggest()
        return None

    def __str__(self) -> str:
        return "|".join(str(a) for a in self.atoms)


_OP_RE = re.compile(r"^\s*(<=|>=|!=|==|<|>)?\s*(.*?)\s*$", re.S)


def parse_expectation(raw: Any, kind: str) -> Expectation:
    """Parse what a profile wrote for one value.

    >>> e = parse_expectation(">=600|0", "int")
    >>> e.matches("600"), e.matches(0), e.matches(120)
    (True, True, False)
    >>> parse_expectation("<=0-3", "cpuset").matches("0x3")
    True

    Raises ValueTypeError when a part does not fit the kind.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if isinstance(raw, (list, tuple)):
        for p in raw:
            check_written_type(p, kind)
        parts = [str(p) if not isinstance(p, bool) else p for p in raw]
    elif isinstance(raw, (bool, int)) or raw is None:
        if raw is not None:
            check_written_type(raw, kind)
        parts = [raw]
    else:
        check_written_type(raw, kind)
        parts = str(raw).split("|")
    if not parts:
        raise ValueTypeError("no expected value")
    atoms = []
    for part in parts:
        if part is None:
            raise ValueTypeError("empty expected value")
        if isinstance(part, (bool, int)):
            atoms.append(Atom("==", normalize(part, kind), kind))
            continue
        m = _OP_RE.match(part)
        op, body = (m.group(1) or "=="), m.group(2)
        if op in ("<", ">", "<=", ">=") and kind in ("str", "bool"):
            raise ValueTypeError(f"bound {op!r} does not apply to a {kind} value ({part.strip()!r})")
        if body == "" and kind not in ("cpuset", "words"):
            raise ValueTypeError(f"empty value in {str(raw)!r}")
        atoms.append(Atom(op, normalize(body, kind), kind))
    text = raw if isinstance(raw, str) else "|".join(str(a) for a in atoms)
    return Expectation(kind, tuple(atoms), text)


__all__ = ["Atom", "Expectation", "KINDS", "ValueTypeError", "check_written_type", "normalize", "parse_expectation",
           "show_value"]
