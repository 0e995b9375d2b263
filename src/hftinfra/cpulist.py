"""CPU lists and masks, as the kernel writes and accepts them.

Inside the library a CPU set is a ``frozenset[int]``; these functions are the edges.

- cpulist: ``0-3,8-11`` (``/sys/devices/system/cpu/online``), with the strided group form
  ``0-15:2/4``, ``N`` for the last CPU and ``all`` for every CPU accepted on the command
  line (Documentation/admin-guide/kernel-parameters.rst, "cpu lists").
- ``isolcpus=`` flags before the list: ``isolcpus=managed_irq,domain,2-7``.
- hex cpumask of any width, comma-separated 32-bit groups, most significant first:
  ``ffffffff,00000000,0000000f`` (``/proc/irq/N/smp_affinity``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CpuSet = frozenset

ISOLCPUS_FLAGS = ("nohz", "domain", "managed_irq")
_GROUP_RE = re.compile(r"^(\d+|N)(?:-(\d+|N)(?::(\d+)/(\d+))?)?$")
# kernel-parameters.rst, "cpu lists": 'The special case-tolerant group name "all" has a
# meaning of selecting all CPUs, so that "nohz_full=all" is the equivalent of
# "nohz_full=0-N"'. The rst shows no stride on 'all', but lib/bitmap.c parses one after it
# (bitmap_parse_region jumps to its pattern check) and the commit that added it
# (b18def121f07, "bitmap_parse: Support 'all' semantics") gives 'rcu_nocbs=all:1/2', so a
# cmdline the kernel accepted with 'all:1/2' is read, not called malformed.
_ALL_RE = re.compile(r"^all(?::(\d+)/(\d+))?$", re.IGNORECASE)


def parse_cpulist(text: str, nr_cpus: int | None = None) -> frozenset[int]:
    """Parse a kernel cpulist.

    >>> sorted(parse_cpulist("0-3,8-11"))
    [0, 1, 2, 3, 8, 9, 10, 11]
    >>> sorted(parse_cpulist("0-15:2/4"))
    [0, 1, 4, 5, 8, 9, 12, 13]
    >>> sorted(parse_cpulist("all", nr_cpus=4))
    [0, 1, 2, 3]

    ``N`` (the last CPU) and ``all`` (``0-N``, in any case, ``all:1/2`` strided) need
    ``nr_cpus``. An empty string is the empty set (sysfs
    writes an empty line for an empty ``isolated``). Raises ValueError on anything else.
    """
    text = text.strip()
    if not text:
        return frozenset()
    cpus: set[int] = set()
    for group in text.split(","):
        group = group.strip()
        m_all = _ALL_RE.match(group)
        if m_all:
            if nr_cpus is None:
                raise ValueError(f"{group!r} (all CPUs) needs the number of CPUs")
            if nr_cpus < 1:
                raise ValueError(f"{group!r}: no CPUs to select")
            start, end = 0, nr_cpus - 1
            used, size = m_all.groups()
        else:
            m = _GROUP_RE.match(group)
            if not m:
                raise ValueError(f"bad cpulist group {group!r}")
            a, b, used, size = m.groups()
            start = _cpu_number(a, nr_cpus)
            end = _cpu_number(b, nr_cpus) if b is not None else start
        if end < start:
            raise ValueError(f"bad cpulist range {group!r}: end before start")
        if end - start > 1 << 16:
            raise ValueError(f"cpulist range {group!r} too large")
        if used is None:
            cpus.update(range(start, end + 1))
            continue
        used_n, size_n = int(used), int(size)
        if size_n == 0 or used_n == 0 or used_n > size_n:
            raise ValueError(f"bad cpulist stride {group!r}")
        for base in range(start, end + 1, size_n):
            cpus.update(c for c in range(base, min(base + used_n, end + 1)))
    return frozenset(cpus)


def _cpu_number(token: str, nr_cpus: int | None) -> int:
    if token == "N":
        if nr_cpus is None:
            raise ValueError("'N' (last CPU) needs the number of CPUs")
        return nr_cpus - 1
    return int(token)


def format_cpulist(cpus: Iterable[int]) -> str:
    """The kernel's compact form: ``{0,1,2,3,8}`` -> ``'0-3,8'``; empty set -> ``''``."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_isolcpus(text: str, nr_cpus: int | None = None) -> tuple[frozenset[str], frozenset[int]]:
    """Split ``isolcpus=`` into its flags and its CPUs.

    >>> flags, cpus = parse_isolcpus("managed_irq,domain,2-7")
    >>> sorted(flags), sorted(cpus)
    (['domain', 'managed_irq'], [2, 3, 4, 5, 6, 7])

    Without flags the kernel implies ``domain``.
    """
    flags: set[str] = set()
    rest = text.strip().split(",")
    while rest and rest[0] in ISOLCPUS_FLAGS:
        flags.add(rest.pop(0))
    if not flags:
        flags.add("domain")
    return frozenset(flags), parse_cpulist(",".join(rest), nr_cpus)


def parse_cpumask(text: str) -> frozenset[int]:
    """Parse a hex cpumask of any width.

    >>> sorted(parse_cpumask("00000000,0000000f"))
    [0, 1, 2, 3]
    >>> sorted(parse_cpumask("ffffffff,00000000,0000000f"))[:5]
    [0, 1, 2, 3, 64]
    """
    text = text.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not text:
        raise ValueError("empty cpumask")
    groups = text.split(",")
    value = 0
    for group in groups:
        if not group or len(group) > 8 or not re.fullmatch(r"[0-9a-f]+", group):
            raise ValueError(f"bad cpumask group {group!r}")
        value = (value << 32) | int(group, 16)
    return frozenset(i for i in range(value.bit_length()) if value >> i & 1)


def format_cpumask(cpus: Iterable[int], nr_cpus: int | None = None) -> str:
    """The kernel's form: 32-bit groups, comma separated, most significant first; the top
    group only as wide as its bits (``%*pb`` in lib/vsprintf.c), the others zero padded.

    >>> format_cpumask({0, 1}, nr_cpus=2)
    '3'
    >>> format_cpumask({0, 64}, nr_cpus=96)
    '00000001,00000000,00000001'
    >>> format_cpumask({0}, nr_cpus=36)
    '0,00000001'
    """
    cpus = set(cpus)
    width = max([nr_cpus or 0, (max(cpus) + 1) if cpus else 1])
    ngroups = (width + 31) // 32
    value = 0
    for c in cpus:
        value |= 1 << c
    groups = [(value >> (32 * i)) & 0xFFFFFFFF for i in range(ngroups)]
    top_digits = (width - 32 * (ngroups - 1) + 3) // 4
    text = [f"{groups[-1]:0{top_digits}x}"] + [f"{g:08x}" for g in reversed(groups[:-1])]
    return ",".join(text)


def same_cpus(a: str, b: str, form: str) -> bool:
    """Whether two texts name the same CPUs, read as ``form`` ("mask" or "cpulist"): ``ff``
    and ``000000ff``, or ``0-3`` and ``0,1,2,3``, are the same. Text that is not of that form
    is the same as nothing."""
    parse = parse_cpumask if form == "mask" else parse_cpulist
    try:
        return parse(a) == parse(b)
    except ValueError:
        return False
