"""Pure parsers for kernel text formats shared by several area modules.

Each takes the text of one file and returns plain data; none touches a Host. A parser
raises ValueError on text it cannot make sense of, which ``Host.read_value`` turns into a
``malformed`` reason naming the file.
"""

from __future__ import annotations

import shlex


def parse_cmdline(text: str) -> dict[str, str | None]:
    """``/proc/cmdline`` to ``{key: value}``; a flag without ``=`` maps to None.

    Sample: ``BOOT_IMAGE=/vmlinuz-6.1.0 root=UUID=1f0c ro quiet isolcpus=managed_irq,domain,2-7``

    A repeated key keeps its last value, as most kernel parameters do. Double quotes
    group a value with spaces (``dyndbg="file x +p"``); an unbalanced quote runs to the
    end of the line, as the kernel's own parser (lib/cmdline.c, next_arg) does.

    >>> parse_cmdline('ro quiet isolcpus=2-7 isolcpus=4-7 acpi="a b"')
    {'ro': None, 'quiet': None, 'isolcpus': '4-7', 'acpi': 'a b'}
    """
    args: dict[str, str | None] = {}
    for token in _split_cmdline(text):
        key, sep, value = token.partition("=")
        if not key:
            continue
        args[key] = value if sep else None
    return args


def _split_cmdline(text: str) -> list[str]:
    lexer = shlex.shlex(text.strip(), posix=True)
    lexer.whitespace_split = True
    lexer.quotes = '"'
    lexer.escape = ""
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:
        # Unbalanced quote: close it at the end, as the kernel does.
        return _split_cmdline(text.strip() + '"')


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """``/proc/cpuinfo`` to one ``{field: value}`` per processor block.

    Sample block (x86): ``processor\\t: 0`` / ``model name\\t: AMD EPYC 7763 64-Core
    Processor`` / ``flags\\t\\t: fpu vme ... constant_tsc nonstop_tsc hypervisor``.
    Blocks without a ``processor`` line (arm64's trailing ``Hardware`` block) are kept:
    callers pick what they need. Raises ValueError if no line has the ``key : value`` shape.

    >>> parse_cpuinfo("processor\\t: 0\\nflags\\t\\t: fpu tsc\\n\\nprocessor\\t: 1\\n")[1]
    {'processor': '1'}
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    seen_field = False
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        seen_field = True
        key = key.strip()
        if key == "processor" and "processor" in current:
            blocks.append(current)
            current = {}
        current[key] = value.strip()
    if current:
        blocks.append(current)
    if not seen_field:
        raise ValueError("no 'key : value' lines")
    return blocks


def cpuinfo_flags(block: dict[str, str]) -> frozenset[str]:
    """x86 ``flags`` or arm64 ``Features`` of one processor block."""
    return frozenset((block.get("flags") or block.get("Features") or "").split())


def parse_int(text: str) -> int:
    """A sysfs integer file (``1``, ``-1``, ``0x10``)."""
    text = text.strip()
    return int(text, 0) if text.lower().startswith(("0x", "-0x")) else int(text)


def parse_bracketed_choice(text: str) -> tuple[str, tuple[str, ...]]:
    """``always madvise [never]`` -> ``('never', ('always', 'madvise', 'never'))``.

    The format of THP ``enabled``/``defrag`` and ``/sys/kernel/debug/sched/preempt``.
    """
    words = text.split()
    chosen = [w[1:-1] for w in words if w.startswith("[") and w.endswith("]")]
    if len(chosen) != 1:
        raise ValueError(f"expected exactly one [choice] in {text!r}")
    return chosen[0], tuple(w.strip("[]") for w in words)
