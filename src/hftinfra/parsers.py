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

    A standalone ``--`` ends the kernel's parameters: what follows is init's
    (Documentation/admin-guide/kernel-parameters.rst), so it is left out. Sample from a
    Firecracker guest: ``panic=1 rdinit=/process_api -- --firecracker-init --addr 0.0.0.0:2024``.

    >>> parse_cmdline('ro quiet isolcpus=2-7 isolcpus=4-7 acpi="a b"')
    {'ro': None, 'quiet': None, 'isolcpus': '4-7', 'acpi': 'a b'}
    >>> parse_cmdline('panic=1 rdinit=/process_api -- --firecracker-init --addr 0.0.0.0:2024')
    {'panic': '1', 'rdinit': '/process_api'}
    """
    args: dict[str, str | None] = {}
    for token in _split_cmdline(text):
        key, sep, value = token.partition("=")
        if not key:
            continue
        args[key] = value if sep else None
    return args


def _kernel_part(text: str) -> str:
    """The command line up to a standalone, unquoted ``--``.

    kernel-parameters.rst: 'Everything after "--" is passed as an argument to init.'
    lib/params.c (parse_args) stops at an argument that is exactly ``--`` with no value;
    a ``--`` inside a quoted value (``dyndbg="a -- b"``) is part of that value. Quotes
    toggle anywhere in a word, as in lib/cmdline.c next_arg."""
    in_quote = False
    start: int | None = None
    for i, ch in enumerate(text):
        if ch == '"':
            in_quote = not in_quote
        if ch.isspace() and not in_quote:
            if start is not None and text[start:i] == "--":
                return text[:start]
            start = None
        elif start is None:
            start = i
    if start is not None and text[start:] == "--":
        return text[:start]
    return text


def _split_cmdline(text: str) -> list[str]:
    text = _kernel_part(text)
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


# ---- memory and kernel formats ---------------------------------------------------------

import re as _re  # noqa: E402

_MEMINFO_LINE = _re.compile(r"^(?:Node (\d+) +)?([^:\s][^:]*?)\s*:\s*(-?\d+)(?: kB)?\s*$")


def parse_cmdline_pairs(text: str) -> list[tuple[str, str | None]]:
    """``/proc/cmdline`` as ``(key, value)`` pairs in order, repeats kept.

    Sample: ``hugepagesz=1G hugepages=4 hugepagesz=2M hugepages=512 default_hugepagesz=1G``

    Needed where order carries meaning: each ``hugepages=`` applies to the ``hugepagesz=``
    before it (Documentation/admin-guide/mm/hugetlbpage.rst), which :func:`parse_cmdline`
    (last value wins) cannot express.

    Like :func:`parse_cmdline`, it stops at a standalone ``--`` (the rest is init's).

    >>> parse_cmdline_pairs("hugepagesz=1G hugepages=4 ro")
    [('hugepagesz', '1G'), ('hugepages', '4'), ('ro', None)]
    >>> parse_cmdline_pairs("hugepages=4 -- hugepages=8 single")
    [('hugepages', '4')]
    """
    pairs: list[tuple[str, str | None]] = []
    for token in _split_cmdline(text):
        key, sep, value = token.partition("=")
        if key:
            pairs.append((key, value if sep else None))
    return pairs


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` or a node's ``meminfo`` to ``{field: number}``.

    Sample lines: ``MemTotal:       24684096 kB``, ``HugePages_Total:       4`` and, in
    ``/sys/devices/system/node/node0/meminfo``, ``Node 0 MemFree:         5210280 kB``.
    Values keep the file's unit: kB where the line says ``kB``, a page count for the
    ``HugePages_*`` lines. The ``Node N`` prefix is dropped. Raises ValueError on a line
    that is not ``Name: number [kB]``, or on a file without any such line.

    >>> parse_meminfo("MemTotal:  1024 kB\\nHugePages_Total:   2")
    {'MemTotal': 1024, 'HugePages_Total': 2}
    >>> parse_meminfo("Node 1 MemFree:   512 kB")
    {'MemFree': 512}
    """
    values: dict[str, int] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _MEMINFO_LINE.match(line)
        if not m:
            raise ValueError(f"not a meminfo line: {line[:80]!r}")
        values[m.group(2)] = int(m.group(3))
    if not values:
        raise ValueError("no meminfo lines")
    return values


def sysctl_path(name: str) -> str:
    """A sysctl name to its ``/proc/sys`` path, the way sysctl(8) and sysctl.d(5) read it.

    ``vm.swappiness`` -> ``/proc/sys/vm/swappiness``. If the first separator is a dot,
    dots and slashes are swapped, so ``net.ipv4.conf.eth0/1.rp_filter`` names the VLAN
    interface ``eth0.1``; if it is a slash, the name is already a path (sysctl.d(5)).
    Raises ValueError for an empty name, empty or ``..`` components, or whitespace.

    >>> sysctl_path("net.ipv4.conf.eth0/1.rp_filter")
    '/proc/sys/net/ipv4/conf/eth0.1/rp_filter'
    >>> sysctl_path("net/ipv4/conf/eth0.1/rp_filter")
    '/proc/sys/net/ipv4/conf/eth0.1/rp_filter'
    """
    if not name or any(c.isspace() or c == "\0" for c in name):
        raise ValueError(f"bad sysctl name {name!r}")
    first = _re.search(r"[./]", name)
    if first is not None and first.group() == ".":
        name = name.translate(str.maketrans("./", "/."))
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad sysctl name {name!r}: empty or relative component")
    return "/proc/sys/" + name


def sysctl_name(path: str) -> str:
    """The inverse of :func:`sysctl_path`: ``/proc/sys/net/ipv4/conf/eth0.1/rp_filter`` ->
    ``net.ipv4.conf.eth0/1.rp_filter`` (the form ``sysctl -a`` prints)."""
    prefix = "/proc/sys/"
    if not path.startswith(prefix) or len(path) == len(prefix):
        raise ValueError(f"not under /proc/sys: {path!r}")
    return path[len(prefix):].translate(str.maketrans("./", "/."))


def _unescape_octal(text: str) -> str:
    # seq_file escapes space, tab, newline and backslash in paths as \ooo (fs/seq_file.c).
    return _re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def parse_swaps(text: str) -> list[dict]:
    """``/proc/swaps`` to one dict per active swap area (an empty list when there is none).

    Sample::

        Filename                                Type            Size            Used    Priority
        /dev/dm-1                               partition       8388604         0       -2

    Keys: ``filename``, ``type`` (partition/file), ``size_kb``, ``used_kb``, ``priority``.
    Raises ValueError without the ``Filename`` header or on a short or non-numeric row.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Filename"):
        raise ValueError("no 'Filename Type Size Used Priority' header")
    devices = []
    for line in lines[1:]:
        fields = line.rsplit(None, 4)
        if len(fields) != 5:
            raise ValueError(f"not a swaps row: {line[:80]!r}")
        filename, kind, size, used, prio = fields
        try:
            devices.append({"filename": _unescape_octal(filename.strip()), "type": kind,
                            "size_kb": int(size), "used_kb": int(used), "priority": int(prio)})
        except ValueError:
            raise ValueError(f"non-numeric size, used or priority in {line[:80]!r}") from None
    return devices


_MEMSIZE = _re.compile(r"^(0[xX][0-9a-fA-F]+|\d+)([kKmMgGtTpPeE]?)[bB]?$")


def parse_memsize(text: str) -> int:
    """A kernel size parameter (memparse, lib/cmdline.c) in bytes: ``1G``, ``2M``, ``4096``.

    Sample: ``hugepagesz=1G`` -> ``parse_memsize("1G") == 1073741824``.
    """
    m = _MEMSIZE.match(text.strip())
    if not m:
        raise ValueError(f"not a size: {text!r}")
    number = int(m.group(1), 0)
    shift = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}[m.group(2).lower()]
    return number << shift


def parse_kconfig(text: str) -> dict[str, str]:
    """A kernel ``.config`` (``/boot/config-$(uname -r)``, ``/proc/config.gz``) to
    ``{option: value}``; ``# CONFIG_X is not set`` maps to ``'n'``, quotes are dropped.

    Sample lines: ``CONFIG_HZ=250``, ``CONFIG_PREEMPT_DYNAMIC=y``,
    ``# CONFIG_NO_HZ_FULL is not set``, ``CONFIG_LOCALVERSION="-fc"``.
    Raises ValueError when no line sets a ``CONFIG_`` option.

    >>> parse_kconfig('CONFIG_HZ=250\\n# CONFIG_NO_HZ_FULL is not set\\nCONFIG_X="a b"')
    {'CONFIG_HZ': '250', 'CONFIG_NO_HZ_FULL': 'n', 'CONFIG_X': 'a b'}
    """
    options: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# CONFIG_") and line.endswith(" is not set"):
            options[line[2:-len(" is not set")].strip()] = "n"
            continue
        if not line.startswith("CONFIG_"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        options[key.strip()] = value
    if not options:
        raise ValueError("no CONFIG_ options")
    return options


def parse_words(text: str) -> tuple[str, ...]:
    """A space-separated list file: ``available_clocksource`` (``tsc hpet acpi_pm ``)."""
    return tuple(text.split())


def parse_marked_choice(text: str) -> tuple[str, tuple[str, ...]]:
    """``none voluntary (full) lazy`` -> ``('full', ('none', 'voluntary', 'full', 'lazy'))``.

    The format of ``/sys/kernel/debug/sched/preempt`` (kernel/sched/debug.c marks the
    current mode with parentheses); square brackets are accepted too.
    """
    words = text.split()
    chosen = [w[1:-1] for w in words if len(w) > 2 and (w[0], w[-1]) in (("(", ")"), ("[", "]"))]
    if len(chosen) != 1:
        raise ValueError(f"expected exactly one marked choice in {text!r}")
    return chosen[0], tuple(w.strip("()[]") for w in words)


VULNERABILITY_STATES = ("not-affected", "mitigated", "vulnerable", "unknown")


def vulnerability_state(text: str) -> str:
    """One of :data:`VULNERABILITY_STATES` for a ``/sys/devices/system/cpu/vulnerabilities/*``
    text (Documentation/ABI/testing/sysfs-devices-system-cpu: "Not affected",
    "Vulnerable", "Mitigation: $M"; KVM entries are prefixed ``KVM: ``).

    Samples: ``Mitigation: Retpolines; STIBP: disabled; RSB filling`` -> ``mitigated``;
    ``Vulnerable: Safe RET, no microcode`` -> ``vulnerable``;
    ``Unknown: Dependent on hypervisor status`` -> ``unknown``.
    """
    body = text.strip()
    if body.startswith("KVM: "):
        body = body[len("KVM: "):]
    low = body.lower()
    if low.startswith("not affected"):
        return "not-affected"
    if low.startswith("mitigation"):
        return "mitigated"
    if low.startswith(("vulnerable", "processor vulnerable")):
        return "vulnerable"
    return "unknown"


def parse_os_release(text: str) -> dict[str, str]:
    """``/etc/os-release`` (os-release(5)) to ``{KEY: value}`` with quotes removed.

    Sample: ``PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"`` / ``ID=debian``

    >>> parse_os_release('ID=rocky\\nID_LIKE="rhel centos fedora"\\n# note')["ID_LIKE"]
    'rhel centos fedora'
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        fields[key.strip()] = value.replace('\\"', '"').replace("\\$", "$").replace("\\\\", "\\")
    return fields
