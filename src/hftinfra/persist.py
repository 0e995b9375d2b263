"""Where a setting is persisted: sysctl.d files, the boot loader's kernel arguments, tuned.

The audit reads what is in effect (``/proc/sys``, ``/proc/cmdline``, sysfs); this module reads
what the next boot will set, so a finding can say "in effect but lost at reboot", "set for the
next boot (reboot pending)" or "overridden by tuned's profile X":

- **sysctl configuration** as systemd-sysctl reads it (sysctl.d(5)): ``*.conf`` files from
  /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d and /lib/sysctl.d;
  a name in an earlier directory masks the same name in a later one (a link to /dev/null
  masks it outright); the files are read in the order of their names whatever their
  directory, and a later assignment of a key wins. procps ``sysctl --system`` reads the same
  list and then /etc/sysctl.conf; systemd-sysctl, which sets them at boot, reads
  /etc/sysctl.conf only through a link in sysctl.d (``99-sysctl.conf`` on RHEL and Debian).
  A key written explicitly is left out of every glob pattern, and ``-key`` alone keeps the
  patterns off it.
- **kernel arguments for the next boot**: the Boot Loader Specification entries under
  /boot/loader/entries (RHEL 8+; ``$kernelopts`` taken from /boot/grub2/grubenv), the one that
  boots by default (grubenv ``saved_entry``, else the first in the specification's menu order:
  sort-key, then the newest version), ``$tuned_params`` and the like expanded from grubenv, plus
  /etc/kernel/cmdline (what kernel-install gives new kernels) and /etc/default/grub with
  /etc/default/grub.d/*.cfg (``GRUB_CMDLINE_LINUX`` and ``GRUB_CMDLINE_LINUX_DEFAULT``, for
  grub-mkconfig), read as the shell reads them.
- **tuned**: the active profile (/etc/tuned/active_profile), its tuned.conf and those it
  includes, found the way tuned's profile locator does (the last folder of ``profile_dirs``
  that holds it: /usr/lib/tuned then /etc/tuned before tuned 2.24.1, their ``profiles/``
  sub-folders since), merged as tuned merges them (a later profile's option wins, ``replace``
  and ``drop``), and ``reapply_sysctl`` from /etc/tuned/tuned-main.conf: when true (tuned's
  default) tuned applies /run/sysctl.d, /etc/sysctl.d and /etc/sysctl.conf again after its
  own ``[sysctl]``, so those files win over tuned, and tuned over /usr/lib/sysctl.d.
  ``${...}`` variables are left as written and reported, never guessed.

The states of one setting (:data:`STATE_MEANING`): ``persisted``, ``runtime-only`` (in effect
but lost at reboot), ``pending-reboot`` (set for the next boot, not in effect yet),
``overridden`` (a later file or tuned's profile sets another value at boot),
``not-persisted`` and ``unknown`` (with why).

Nothing here judges; :func:`persistence_of` says per setting where it stands.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field

from hftinfra.host import Host, Reason, Unread
from hftinfra.parsers import parse_cmdline
from hftinfra.probes import probe

SYSCTL_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
SYSCTL_CONF = "/etc/sysctl.conf"
BLS_DIR = "/boot/loader/entries"
GRUBENV = ("/boot/grub2/grubenv", "/boot/grub/grubenv")
DEFAULT_GRUB = "/etc/default/grub"
DEFAULT_GRUB_D = "/etc/default/grub.d"  # Debian and Ubuntu: *.cfg, sourced after /etc/default/grub
KERNEL_CMDLINE = "/etc/kernel/cmdline"
TUNED_ACTIVE = "/etc/tuned/active_profile"
TUNED_MODE = "/etc/tuned/profile_mode"
TUNED_MAIN = "/etc/tuned/tuned-main.conf"
# tuned/consts.py CFG_DEF_PROFILE_DIRS: profiles are looked up in these folders, a later one
# taking precedence (profile_dirs in tuned-main.conf replaces the list, tuned 2.23). tuned
# 2.24.1 moved the profiles one level down, into profiles/.
TUNED_DIRS_OLD = ("/usr/lib/tuned", "/etc/tuned")
TUNED_DIRS_NEW = ("/usr/lib/tuned/profiles", "/etc/tuned/profiles")
TUNED_DIRS = TUNED_DIRS_NEW + TUNED_DIRS_OLD
# tuned/plugins/plugin_sysctl.py: with reapply_sysctl, tuned applies these again after its
# own [sysctl] (not /usr/lib/sysctl.d), then /etc/sysctl.conf.
TUNED_REAPPLY_DIRS = ("/run/sysctl.d", "/etc/sysctl.d")
STATES = ("persisted", "runtime-only", "pending-reboot", "overridden", "not-persisted", "unknown")


# ---- sysctl.d ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    key: str  # normalised with dots
    value: str
    source: str  # 'FILE:LINE'
    ignore_errors: bool = False  # '-key = value'
    excluded: bool = False  # '-key' alone: keeps glob patterns off this key (systemd 245+)

    @property
    def is_glob(self) -> bool:
        return any(c in self.key for c in "*?[")


def normalise_sysctl_key(key: str) -> str:
    """sysctl.d(5): '/' and '.' both separate; when the first separator is '/', the two are
    swapped, so 'net/ipv4/conf/eth0.100/rp_filter' names the key with a dot in it."""
    key = key.strip()
    first = re.search(r"[./]", key)
    if first is not None and first.group() == "/":
        key = key.translate(str.maketrans("/.", "./"))
    return key


def parse_sysctl_conf(text: str, path: str) -> list[Assignment]:
    """One sysctl.d file: ``key = value`` lines; '#' and ';' start comment lines; a leading
    '-' asks to ignore a failure to set the key, and '-key' with no '=' keeps every glob
    pattern off that key (sysctl.d(5), CONFIGURATION FORMAT).

    Sample: ``vm.swappiness = 10``, ``-net.ipv4.conf.all.rp_filter = 2``, ``net.ipv4.conf.*.rp_filter = 2``.

    >>> [(a.key, a.value) for a in parse_sysctl_conf("# c\\nvm.swappiness = 10\\n", "f")]
    [('vm.swappiness', '10')]
    """
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            if line.startswith("-") and line[1:].strip():
                out.append(Assignment(normalise_sysctl_key(line[1:]), "", f"{path}:{n}", True, True))
            continue  # otherwise systemd-sysctl warns and skips a line without '='
        ignore = key.lstrip().startswith("-")
        key = key.strip().lstrip("-")
        if not key:
            continue
        out.append(Assignment(normalise_sysctl_key(key), value.strip(), f"{path}:{n}", ignore))
    return out


@dataclass(frozen=True)
class SysctlConfig:
    """The sysctl files one tool applies, in its order, and every assignment they make."""

    files: tuple[str, ...]  # in the order they are applied
    masked: tuple[str, ...]  # files hidden by a same-named file earlier in SYSCTL_DIRS, or by /dev/null
    assignments: tuple[Assignment, ...]  # every line, in application order
    unread: tuple[Unread, ...] = ()  # folders or files that exist but could not be read
    tool: str = "systemd-sysctl"

    def of_key(self, key: str) -> list[Assignment]:
        """Every assignment that writes ``key``, in application order (globs where they match)."""
        key = normalise_sysctl_key(key)
        explicit = [a for a in self.assignments if a.key == key and not a.excluded]
        if explicit:
            # sysctl.d(5): a key with an explicit assignment is left out of every glob match.
            return explicit
        if any(a.key == key and a.excluded for a in self.assignments):
            return []
        return [a for a in self.assignments if a.is_glob and not a.excluded and fnmatch.fnmatchcase(key, a.key)]

    def winner(self, key: str) -> Assignment | None:
        """The assignment whose value ``key`` ends with at boot."""
        found = self.of_key(key)
        return found[-1] if found else None

    def shadowed(self, key: str) -> list[Assignment]:
        """Assignments of ``key`` that a later one overrides."""
        return self.of_key(key)[:-1]

    def effective(self) -> dict[str, Assignment]:
        """Explicit key -> the assignment that wins (glob patterns are listed under themselves)."""
        keys = dict.fromkeys(a.key for a in self.assignments if not a.excluded)
        out = {}
        for k in keys:
            got = self.winner(k) if not any(c in k for c in "*?[") else \
                [a for a in self.assignments if a.key == k][-1]
            if got is not None:
                out[k] = got
        return out


def order_sysctl_files(listings: dict[str, list[str]], links: dict[str, str]) -> tuple[list[str], list[str]]:
    """sysctl.d(5), CONFIGURATION DIRECTORIES AND PRECEDENCE: ``*.conf`` names from the folders
    in ``listings`` (in SYSCTL_DIRS order); a name in an earlier folder masks the same name in a
    later one, a link to /dev/null masks it outright; the rest are applied in the order of
    their names, whatever their folder. Returns (paths in order, masked paths)."""
    chosen: dict[str, str] = {}
    masked: list[str] = []
    for folder, names in listings.items():
        for name in names:
            if not name.endswith(".conf"):
                continue
            path = f"{folder}/{name}"
            if name in chosen:
                masked.append(path)
            else:
                chosen[name] = path
    files = []
    for name in sorted(chosen):
        path = chosen[name]
        if links.get(path) == "/dev/null":
            masked.append(path)
        else:
            files.append(path)
    return files, masked


def read_sysctl_config(host: Host, tool: str = "systemd-sysctl") -> SysctlConfig:
    """The sysctl files ``tool`` applies: ``systemd-sysctl`` (at boot) reads only the sysctl.d
    folders, so /etc/sysctl.conf counts only through a link there (Debian's and RHEL's
    ``99-sysctl.conf -> ../sysctl.conf``); ``procps`` (``sysctl --system``) reads the same folders and then
    /etc/sysctl.conf, last, always (sysctl(8), --system)."""
    if tool not in ("systemd-sysctl", "procps"):
        raise ValueError(f"unknown sysctl tool {tool!r}: systemd-sysctl or procps")
    unread: list[Unread] = []
    listings: dict[str, list[str]] = {}
    for folder in SYSCTL_DIRS:
        names = host.listdir(folder)
        if isinstance(names, Unread):
            if names.reason is not Reason.MISSING:
                unread.append(names)
            continue
        listings[folder] = names
    links = {}
    for folder, names in listings.items():
        for name in names:
            if name.endswith(".conf"):
                target = host.readlink(f"{folder}/{name}")
                if isinstance(target, str):
                    links[f"{folder}/{name}"] = target
    paths, masked = order_sysctl_files(listings, links)
    files, assignments = [], []
    for path in paths:
        text = host.read(path)
        if isinstance(text, Unread):
            unread.append(text)
            continue
        files.append(path)
        assignments += parse_sysctl_conf(text, path)
    if tool == "procps":
        text = host.read(SYSCTL_CONF)
        if isinstance(text, str):
            files.append(SYSCTL_CONF)
            assignments += parse_sysctl_conf(text, SYSCTL_CONF)
        elif text.reason is not Reason.MISSING:
            unread.append(text)
    return SysctlConfig(tuple(files), tuple(masked), tuple(assignments), tuple(unread), tool)


# ---- kernel arguments for the next boot ----------------------------------------------------------


@dataclass(frozen=True)
class BootEntry:
    path: str
    title: str
    version: str
    options: str  # with grubenv variables ($kernelopts, $tuned_params) expanded
    sort_key: str = ""
    raw_options: str = ""  # as the file has it

    @property
    def id(self) -> str:
        """The entry's name without '.conf': what grubenv's saved_entry names."""
        return self.path.rsplit("/", 1)[-1].removesuffix(".conf")


def parse_bls_entry(text: str) -> dict[str, str]:
    """A Boot Loader Specification entry: ``key value`` lines, '#' comments.

    Sample: ``options root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M nohz_full=2-7``.
    """
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "options" and key in out:
            out[key] += " " + value.strip()  # the specification allows several options lines
        else:
            out[key] = value.strip()
    return out


def parse_grubenv(text: str) -> dict[str, str]:
    """grub's environment block: ``name=value`` lines, then '#' padding to 1024 bytes.

    Sample: ``saved_entry=3f6f1c3e1b1e4c9e8b8a5b2e1c0d9e8f-5.14.0-362.24.1.el9_3.x86_64``.
    """
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key] = value
    return out


# $NAME and ${NAME}: grub environment variables, and shell variables in /etc/default/grub.
_GRUB_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def parse_default_grub(text: str) -> dict[str, str]:
    """/etc/default/grub: shell assignments; values unquoted the way the shell does.

    Sample: ``GRUB_CMDLINE_LINUX="crashkernel=1G-4G:192M resume=/dev/mapper/rl-swap rhgb quiet"``.
    """
    import shlex

    out: dict[str, str] = {}
    for raw in text.splitlines():
        m = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", raw)
        if not m:
            continue
        value = m.group(2)
        if not value.lstrip().startswith("'"):
            # 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX nohz_full=2-7"', as /etc/default/grub.d
            # snippets append; single quotes keep a '$' as it is.
            value = _GRUB_VAR.sub(lambda v: out.get(v.group(1) or v.group(2), "").replace('"', '\\"'), value)
        try:
            words = shlex.split(value, comments=True)
        except ValueError:
            continue  # an unbalanced quote: the shell would refuse the file
        out[m.group(1)] = " ".join(words)
    return out


def _version_key(version: str) -> list:
    """Order versions the way rpm's vercmp does for kernels: numeric runs as numbers, a
    number newer than letters."""
    return [(1, int(p), "") if p.isdigit() else (0, 0, p) for p in re.findall(r"\d+|[A-Za-z]+", version)]


def expand_grub_vars(text: str, env: dict[str, str]) -> str:
    """``$kernelopts`` and ``$tuned_params`` as grub expands them from its environment block
    (RHEL 8's BLS entries keep the arguments there); an unset variable is empty."""
    return " ".join(_GRUB_VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text).split())


def sort_boot_entries(entries: list[BootEntry]) -> list[BootEntry]:
    """The menu order of the Boot Loader Specification (Sorting): entries with a sort-key
    first, by sort-key; then by version, newest first; then by file name, newest first."""
    def key(e: BootEntry):
        return (0 if e.sort_key else 1, e.sort_key)

    by_name = sorted(entries, key=lambda e: _version_key(e.id), reverse=True)
    by_version = sorted(by_name, key=lambda e: _version_key(e.version), reverse=True)
    return sorted(by_version, key=key)


def default_entry(entries: list[BootEntry], env: dict[str, str]) -> tuple[BootEntry | None, str]:
    """The entry grub boots without a choice: grubenv's ``saved_entry`` (an id, a title or a
    menu index, as GRUB_DEFAULT=saved reads it), else the first in menu order."""
    ordered = sort_boot_entries(entries)
    saved = env.get("saved_entry", "").strip()
    if saved:
        for e in ordered:
            if saved in (e.id, e.title):
                return e, "grubenv saved_entry"
        if saved.isdigit() and int(saved) < len(ordered):
            return ordered[int(saved)], f"grubenv saved_entry (menu entry {saved})"
    if ordered:
        why = "the first in menu order (sort-key)" if ordered[0].sort_key else "the newest version"
        if saved:
            why += f"; saved_entry {saved} names no entry"
        return ordered[0], why
    return None, ""


@dataclass(frozen=True)
class BootConfig:
    entries: tuple[BootEntry, ...]  # in file name order
    default: BootEntry | None
    default_rule: str  # why that entry boots by default
    kernel_cmdline: str | None  # /etc/kernel/cmdline
    grub_cmdline: str | None  # GRUB_CMDLINE_LINUX + GRUB_CMDLINE_LINUX_DEFAULT
    unread: tuple[Unread, ...] = ()

    def next_boot(self) -> tuple[str | None, str]:
        """The kernel arguments the next boot gets, and which file says so."""
        if self.default is not None:
            return self.default.options, f"{self.default.path} ({self.default_rule})"
        if self.grub_cmdline is not None:
            return self.grub_cmdline, f"{DEFAULT_GRUB} (GRUB_CMDLINE_LINUX, once grub-mkconfig runs)"
        if self.kernel_cmdline is not None:
            return self.kernel_cmdline, KERNEL_CMDLINE
        return None, "no boot loader entry, /etc/default/grub or /etc/kernel/cmdline"


def read_boot_config(host: Host) -> BootConfig:
    unread: list[Unread] = []
    env: dict[str, str] = {}
    for path in GRUBENV:
        text = host.read(path)
        if isinstance(text, str):
            env = parse_grubenv(text)
            break
    entries = []
    names = host.listdir(BLS_DIR)
    if isinstance(names, Unread):
        if names.reason is not Reason.MISSING:
            unread.append(names)
        names = []
    for name in sorted(names):
        if not name.endswith(".conf"):
            continue
        path = f"{BLS_DIR}/{name}"
        text = host.read(path)
        if isinstance(text, Unread):
            unread.append(text)
            continue
        fields = parse_bls_entry(text)
        options = fields.get("options", "")
        entries.append(BootEntry(path, fields.get("title", ""), fields.get("version", ""),
                                 expand_grub_vars(options, env), fields.get("sort-key", ""), options))
    default, rule = default_entry(entries, env)
    kernel = host.read(KERNEL_CMDLINE)
    grub = host.read(DEFAULT_GRUB)
    snippets = host.listdir(DEFAULT_GRUB_D)
    if isinstance(snippets, list):
        for name in snippets:
            if name.endswith(".cfg"):
                more = host.read(f"{DEFAULT_GRUB_D}/{name}")
                if isinstance(more, str):
                    grub = (grub if isinstance(grub, str) else "") + "\n" + more
                elif more.reason is not Reason.MISSING:
                    unread.append(more)
    grub_line = None
    if isinstance(grub, str):
        values = parse_default_grub(grub)
        if "GRUB_CMDLINE_LINUX" in values or "GRUB_CMDLINE_LINUX_DEFAULT" in values:
            grub_line = " ".join(p for p in (values.get("GRUB_CMDLINE_LINUX", ""),
                                             values.get("GRUB_CMDLINE_LINUX_DEFAULT", "")) if p)
    for got in (kernel, grub):
        if isinstance(got, Unread) and got.reason is not Reason.MISSING:
            unread.append(got)
    return BootConfig(tuple(entries), default, rule, " ".join(kernel.split()) if isinstance(kernel, str) else None,
                      grub_line, tuple(unread))


# ---- tuned ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TunedConfig:
    active: tuple[str, ...]  # profile names, as /etc/tuned/active_profile lists them
    mode: str | None  # auto | manual
    reapply_sysctl: bool
    reapply_source: str
    options: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # section -> option -> (value, profile)
    chain: tuple[str, ...] = ()  # profiles in the order they were merged
    problems: tuple[str, ...] = ()  # a profile not found, a file tuned cannot parse, an unexpanded include
    profile_dirs: tuple[str, ...] = TUNED_DIRS_OLD  # where profiles were looked for, the last winning
    paths: dict[str, str] = field(default_factory=dict)  # profile -> its tuned.conf
    reapply_exclude: tuple[str, ...] = ()  # reapply_sysctl_exclude patterns

    def option(self, section: str, name: str) -> tuple[str, str] | None:
        return self.options.get(section, {}).get(name)

    def reapplied(self, key: str) -> bool:
        """Whether tuned applies the system's files for ``key`` again after its own [sysctl]."""
        return self.reapply_sysctl and not any(fnmatch.fnmatch(key, p) for p in self.reapply_exclude)


def _parse_ini(text: str, path: str) -> dict[str, dict[str, str]] | str:
    import configparser

    # tuned/profiles/loader.py: '=' the only delimiter, '#' also an inline comment.
    parser = configparser.ConfigParser(delimiters=("=",), inline_comment_prefixes=("#",), strict=False,
                                       interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, path)
    except configparser.Error as exc:
        return f"{path}: tuned cannot parse it ({str(exc).splitlines()[0]})"
    return {sec: dict(parser.items(sec, raw=True)) for sec in parser.sections()}


def _main_conf(text: str) -> dict[str, str]:
    out = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _truth(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "y", "on")


def has_tuned_variable(value: str) -> bool:
    """``${isolated_cores}``, ``${f:cpulist_invert:...}``: tuned expands these when it applies
    a profile, from [variables] and its functions; this module leaves them as written."""
    return "${" in value


def merge_tuned_profiles(parsed: list[tuple[str, dict[str, dict[str, str]]]]) -> dict[str, dict[str, tuple[str, str]]]:
    """Profiles in merge order (includes first, the including profile last): a later value of
    an option wins; ``replace=1`` in a section drops what earlier profiles set there, and
    ``drop=a,b`` drops those options (tuned/profiles/merger.py)."""
    options: dict[str, dict[str, tuple[str, str]]] = {}
    for name, sections in parsed:
        for sec, opts in sections.items():
            if sec in ("main", "variables"):
                continue
            opts = dict(opts)
            if _truth(opts.pop("replace", "0")):
                options.pop(sec, None)
            for dropped in re.split(r"\s*[,;]\s*", opts.pop("drop", "")):
                options.get(sec, {}).pop(dropped, None)
            for key in ("type", "enabled", "devices_udev_regex", "priority", "uname_regex", "cpuinfo_regex",
                        "script_pre", "script_post"):
                opts.pop(key, None)
            for key, value in opts.items():
                options.setdefault(sec, {})[key] = (value, name)
    return options


def tuned_profile_dirs(host: Host, main: dict[str, str]) -> tuple[str, ...]:
    if main.get("profile_dirs"):
        return tuple(d for d in re.split(r"\s*[,;]\s*", main["profile_dirs"].strip()) if d)
    # A tuned 2.24.1+ install has /usr/lib/tuned/profiles; an older one keeps profiles in
    # /usr/lib/tuned itself, and never looks in profiles/.
    return TUNED_DIRS_NEW if host.isdir(TUNED_DIRS_NEW[0]) else TUNED_DIRS_OLD


def read_tuned_config(host: Host) -> TunedConfig | Unread:
    """tuned's active profile merged with what it includes, as tuned would load it."""
    active = host.read(TUNED_ACTIVE)
    if isinstance(active, Unread):
        return active
    names = tuple(active.split())
    mode = host.read(TUNED_MODE)
    main_text = host.read(TUNED_MAIN)
    main = _main_conf(main_text) if isinstance(main_text, str) else {}
    reapply, source = True, "tuned's default (reapply_sysctl = 1)"
    if "reapply_sysctl" in main:
        reapply, source = _truth(main["reapply_sysctl"]), f"{TUNED_MAIN} (reapply_sysctl = {main['reapply_sysctl']})"
    exclude = tuple(p for p in re.split(r"\s*[,;]\s*", main.get("reapply_sysctl_exclude", "")) if p)
    dirs = tuned_profile_dirs(host, main)
    parsed: list[tuple[str, dict[str, dict[str, str]]]] = []
    chain: list[str] = []
    paths: dict[str, str] = {}
    problems: list[str] = []

    def load(name: str, depth: int) -> None:
        if name in chain or name in paths:
            return  # tuned loads each file once, which also ends an include loop
        if depth > 16:
            problems.append(f"profile {name}: includes nested deeper than 16")
            return
        if has_tuned_variable(name):
            problems.append(f"include={name} needs tuned's variable expansion; not followed")
            return
        path = next((f"{d}/{name}/tuned.conf" for d in reversed(dirs) if host.exists(f"{d}/{name}/tuned.conf")), None)
        if path is None:
            problems.append(f"profile {name}: no tuned.conf in {', '.join(dirs)}")
            return
        paths[name] = path
        text = host.read(path)
        if isinstance(text, Unread):
            problems.append(str(text))
            return
        sections = _parse_ini(text, path)
        if isinstance(sections, str):
            problems.append(sections)
            return
        include = sections.get("main", {}).get("include", "")
        for inc in re.split(r"\s*[,;]\s*", include.strip()):
            if inc:
                load(inc, depth + 1)
        chain.append(name)
        parsed.append((name, sections))

    for n in names:
        load(n, 0)
    return TunedConfig(names, mode.strip() if isinstance(mode, str) else None, reapply, source,
                       merge_tuned_profiles(parsed), tuple(chain), tuple(problems), dirs, paths, exclude)


# ---- the probe ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersistedConfig:
    sysctl: SysctlConfig
    boot: BootConfig
    tuned: TunedConfig | Unread
    cmdline: str | Unread  # /proc/cmdline: what the running kernel got
    # /etc/sysctl.conf read directly, as tuned's reapply_sysctl and procps do.
    sysctl_conf: tuple[Assignment, ...] = ()


@probe("persist.config")
def read_persisted(host: Host) -> PersistedConfig:
    """Everything the next boot sets: sysctl files, boot entries, tuned's profile."""
    cmdline = host.read("/proc/cmdline")
    tuned = read_tuned_config(host)
    conf: tuple[Assignment, ...] = ()
    if isinstance(tuned, TunedConfig):
        text = host.read(SYSCTL_CONF)
        conf = tuple(parse_sysctl_conf(text, SYSCTL_CONF)) if isinstance(text, str) else ()
    return PersistedConfig(read_sysctl_config(host), read_boot_config(host), tuned,
                           cmdline.strip() if isinstance(cmdline, str) else cmdline, conf)


# ---- one setting ---------------------------------------------------------------------------------


# What each state means, for the report and the docs.
STATE_MEANING = {
    "persisted": "in effect, and the next boot sets it again",
    "runtime-only": "in effect but lost at reboot",
    "pending-reboot": "set for the next boot (reboot pending)",
    "overridden": "a later file or tuned's profile sets another value at boot",
    "not-persisted": "neither in effect nor set for the next boot",
    "unknown": "where it is set for the next boot could not be read",
}


@dataclass(frozen=True)
class Persistence:
    """Where one setting (or one check's settings) stands for the next boot.

    ``state`` is one of :data:`STATES` (see :data:`STATE_MEANING`); ``where`` names the files
    (``/etc/sysctl.d/90-x.conf:3``, a BLS entry, ``tuned profile network-latency``)."""

    state: str
    message: str
    where: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown persistence state {self.state!r}")

    def to_json(self) -> dict:
        return {"state": self.state, "message": self.message, "where": list(self.where)}

    def __str__(self) -> str:
        return f"{self.state}: {self.message}"


def _pairs(text: str) -> dict[str, str]:
    """'adaptive-rx off rx-usecs 10' -> {'adaptive-rx': 'off', 'rx-usecs': '10'} (ethtool -C/-K words)."""
    words = text.split()
    return {words[i]: words[i + 1] for i in range(0, len(words) - 1, 2)}


def _same(a: str, b: str, key: str = "") -> bool:
    """Whether configured value ``a`` gives what ``b`` asks for ``key``: CPU masks and lists as
    sets, isolcpus= flags in any order, tuned's force_latency as a limit (a lower one is
    stricter), [net] coalesce and features word pairs (a smaller *-usecs is stricter), [net]
    devices as a set that must cover the wanted ones."""
    from hftinfra.cpulist import parse_cpulist, same_cpus

    a, b = " ".join(a.split()), " ".join(b.split())
    if a == b:
        return True
    try:
        if key.endswith("cpumask"):
            return same_cpus(a, b, "mask")
        if key.endswith("force_latency"):
            return int(a) <= int(b)
        if key in ("coalesce", "features", "net.coalesce", "net.features"):
            got, want = _pairs(a), _pairs(b)
            return all(k in got and (got[k] == v or (k.endswith("usecs") and int(got[k]) <= int(v)))
                       for k, v in want.items())
        if key in ("devices", "net.devices"):
            return {d.strip() for d in b.split(",")} <= {d.strip() for d in a.split(",")}
        if key == "isolcpus":
            def split(v: str):
                parts = v.split(",")
                flags = {p for p in parts if p and p[0].isalpha()}
                return flags, parse_cpulist(",".join(p for p in parts if p and not p[0].isalpha()))
            return split(a) == split(b)
        if _CPULIST.fullmatch(a) and _CPULIST.fullmatch(b):
            return same_cpus(a, b, "cpulist")
    except ValueError:
        return False
    return False


_CPULIST = re.compile(r"[0-9][0-9,:/\-]*")

# Kernel defaults of the sysctls and sysfs knobs the profiles set (Documentation/admin-guide/
# sysctl/kernel.rst and vm.rst, Documentation/admin-guide/mm/ksm.rst): a value equal to its
# default holds after a reboot with no file setting it.
DEFAULTS = {"kernel.sched_rt_runtime_us": "950000", "vm.zone_reclaim_mode": "0", "vm.swappiness": "60",
            "kernel.timer_migration": "1", "vm.stat_interval": "1", "kernel.hung_task_timeout_secs": "120",
            "vm.dirty_ratio": "20", "vm.dirty_background_ratio": "10", "net.core.busy_read": "0",
            "net.core.busy_poll": "0", "kernel.soft_watchdog": "1", "vm.compact_unevictable_allowed": "1",
            "/sys/kernel/mm/ksm/run": "0"}


def _is_default(key: str, wanted: str) -> bool:
    return DEFAULTS.get(key) is not None and _same(DEFAULTS[key], wanted, key)


def _args(text: str | None) -> dict[str, str | None]:
    return dict(_parsed_args(text or ""))


@functools.lru_cache(maxsize=64)
def _parsed_args(text: str) -> tuple[tuple[str, str | None], ...]:
    # kernel/params.c parameq(): '-' and '_' are the same in a parameter's name.
    return tuple((k.replace("-", "_"), v) for k, v in parse_cmdline(text).items())


@dataclass(frozen=True)
class BootValue:
    """The value a sysctl ends with after boot, who sets it, and whom that overrides."""

    value: str | None
    where: str  # 'FILE:LINE' or 'tuned profile NAME [sysctl]'
    by_tuned: bool
    shadowed: tuple[tuple[str, str], ...] = ()  # (value, where) set earlier at boot, then overridden


def sysctl_at_boot(cfg: PersistedConfig, key: str) -> BootValue:
    """Boot order: systemd-sysctl applies the sysctl.d files; tuned then applies its [sysctl];
    with reapply_sysctl (tuned's default) it then applies /run/sysctl.d, /etc/sysctl.d and
    /etc/sysctl.conf again for the keys it set (tuned/plugins/plugin_sysctl.py), so those
    files win over tuned, and tuned wins over /usr/lib/sysctl.d."""
    steps: list[tuple[str, str, bool]] = [(a.value, a.source, False) for a in cfg.sysctl.of_key(key)]
    tuned = cfg.tuned if isinstance(cfg.tuned, TunedConfig) else None
    td = tuned.option("sysctl", key) if tuned else None
    if td is not None:
        steps.append((td[0], f"tuned profile {td[1]} [sysctl]", True))
        if tuned.reapplied(key):
            again = [a for a in cfg.sysctl.of_key(key) if a.source.rsplit(":", 1)[0].rsplit("/", 1)[0] in
                     TUNED_REAPPLY_DIRS and not a.is_glob]
            conf = [a for a in cfg.sysctl_conf if a.key == key]
            for a in (again + conf)[-1:]:
                steps.append((a.value, a.source, False))
    if not steps:
        return BootValue(None, "", False)
    value, where, by_tuned = steps[-1]
    seen = {where}
    shadowed = []
    for v, w, _ in reversed(steps[:-1]):
        if w not in seen:
            seen.add(w)
            shadowed.append((v, w))
    return BootValue(value, where, by_tuned, tuple(reversed(shadowed)))


def _sysctl(cfg: PersistedConfig, key: str, wanted: str, now: str | Unread, passed: bool) -> Persistence:
    boot = sysctl_at_boot(cfg, key)
    # The check's own verdict stands in for a value this read could not get.
    in_effect = _same(now, wanted, key) if isinstance(now, str) else passed
    if boot.value is not None and has_tuned_variable(boot.value):
        return Persistence("unknown", f"{boot.where} sets {key} = {boot.value}, which tuned expands when it "
                                      "applies the profile", (boot.where,))
    if boot.value is None:
        if cfg.sysctl.unread:
            return Persistence("unknown", f"the sysctl configuration could not be read: {cfg.sysctl.unread[0]}")
        if in_effect and _is_default(key, wanted):
            return Persistence("persisted", f"{key} = {wanted} is the kernel's default; no file needs to set it")
        if in_effect:
            return Persistence("runtime-only", f"in effect but lost at reboot: no sysctl.d file or tuned profile "
                                               f"sets {key}")
        return Persistence("not-persisted", f"no sysctl.d file or tuned profile sets {key}")
    if _same(boot.value, wanted, key):
        if in_effect:
            return Persistence("persisted", f"{key} = {wanted} set at boot by {boot.where}", (boot.where,))
        how = "tuned applies it when it starts" if boot.by_tuned else "sysctl --system or a reboot applies it"
        return Persistence("pending-reboot", f"set for the next boot (reboot pending): {boot.where} sets "
                                             f"{key} = {wanted}, not in effect now ({now}); {how}", (boot.where,))
    # Something sets another value at boot: say who, and whom it overrides.
    good = [(v, w) for v, w in boot.shadowed if _same(v, wanted, key)]
    if good:
        v, w = good[-1]
        if boot.by_tuned:
            why = f"overridden by tuned's profile {boot.where.split()[2]} ({key} = {boot.value}): {w} sets {v}"
            if isinstance(cfg.tuned, TunedConfig) and not cfg.tuned.reapply_sysctl:
                why += f", and {cfg.tuned.reapply_source} keeps tuned's value"
        elif w.startswith("tuned"):
            why = f"overridden by {boot.where} ({key} = {boot.value}): {w} sets {v}, and tuned applies the " \
                  "system's sysctl files again after its own (reapply_sysctl)"
        else:
            why = f"overridden by {boot.where} ({key} = {boot.value}): {w} sets {v} earlier"
        return Persistence("overridden", why, (boot.where, w))
    if in_effect:
        return Persistence("runtime-only", f"in effect but lost at reboot: {boot.where} sets {key} = {boot.value}",
                           (boot.where,))
    return Persistence("not-persisted", f"{boot.where} sets {key} = {boot.value} at boot", (boot.where,))


def _holds(args: dict[str, str | None], key: str, wanted: str | None) -> bool:
    key = key.replace("-", "_")
    if key not in args:
        return False
    got = args[key]
    return got == wanted or (got is not None and wanted is not None and _same(got, wanted, key))


def tuned_kernel_args(tuned: TunedConfig) -> list[tuple[str, str]]:
    """The kernel arguments tuned's [bootloader] gives, as (argument, 'tuned profile P
    [bootloader] OPTION') in order: every option named cmdline* in merge order, a value
    starting with '+' (or none) adding its words, '-' removing words added before, '\\'
    escaping a leading '+' or '-' (tuned/plugins/plugin_bootloader.py)."""
    out: list[tuple[str, str]] = []
    for opt, (value, prof) in tuned.options.get("bootloader", {}).items():
        if not opt.startswith("cmdline") or not value:
            continue
        where = f"tuned profile {prof} [bootloader] {opt}"
        op, rest = value[0], value[1:].strip()
        if op == "+" or (op == "\\" and value[1:2] in ("\\", "+", "-")):
            out += [(w, where) for w in rest.split()]
        elif op == "-":
            gone = set(rest.split())
            out = [(w, src) for w, src in out if w not in gone]
        else:
            out += [(w, where) for w in value.split()]
    return out


def _tuned_cmdline(cfg: PersistedConfig, key: str) -> tuple[dict[str, str | None], str]:
    """tuned's kernel arguments, and which option gives ``key``."""
    tuned = cfg.tuned if isinstance(cfg.tuned, TunedConfig) else None
    if tuned is None:
        return {}, ""
    words = tuned_kernel_args(tuned)
    args = _args(" ".join(w for w, _ in words))
    want = key.replace("-", "_")
    where = next((src for w, src in reversed(words) if w.split("=", 1)[0].replace("-", "_") == want), "")
    return args, where


def _cmdline(cfg: PersistedConfig, key: str, wanted: str | None, passed: bool) -> Persistence:
    running = _args(cfg.cmdline) if isinstance(cfg.cmdline, str) else None
    text = key if wanted is None else f"{key}={wanted}"
    nxt, where = cfg.boot.next_boot()
    tuned_args, tuned_where = _tuned_cmdline(cfg, key)
    now = running is not None and _holds(running, key, wanted)
    if passed and running is not None and key.replace("-", "_") not in running:
        return Persistence("persisted", f"holds without {key}= on the command line (the kernel's default here)")
    got = tuned_args.get(key.replace("-", "_"))
    if got is not None and has_tuned_variable(got):
        return Persistence("unknown", f"{tuned_where} gives {key}={got}, which tuned expands when it applies "
                                      "the profile", (tuned_where,))
    if nxt is None and not _holds(tuned_args, key, wanted):
        if cfg.boot.unread:
            return Persistence("unknown", f"the boot configuration could not be read: {cfg.boot.unread[0]}")
        return Persistence("unknown", "where the next boot's kernel arguments come from is unknown: no boot "
                                      "loader configuration here (a snapshot without /boot and /etc/default/grub, "
                                      "or a VM whose hypervisor passes the command line)")
    later = _holds(_args(nxt), key, wanted)
    by_tuned = _holds(tuned_args, key, wanted)
    places = tuple(p for p, ok in ((where, later), (tuned_where, by_tuned)) if ok)
    if (later or by_tuned) and now and not passed:
        # The argument is there and holds at boot, yet the check fails: the value was changed
        # after boot (a sysfs write, a sysctl), and the next boot brings the argument's back.
        return Persistence("pending-reboot", f"set for the next boot (reboot pending): {text} in "
                                             f"{' and '.join(places)} and in /proc/cmdline, but changed at run "
                                             "time since boot", places)
    if (later or by_tuned) and now:
        return Persistence("persisted", f"{text} in {' and '.join(places)}", places)
    if later or by_tuned:
        return Persistence("pending-reboot", f"set for the next boot (reboot pending): {text} in "
                                             f"{' and '.join(places)}, not in /proc/cmdline", places)
    if now:
        return Persistence("runtime-only", f"in effect but lost at reboot: {where} lacks {text}", (where,))
    return Persistence("not-persisted", f"{text} is in neither /proc/cmdline nor {where}", (where,))


def _tuned_option(cfg: PersistedConfig, section: str, option: str, wanted: str, passed: bool) -> Persistence:
    if isinstance(cfg.tuned, Unread):
        if cfg.tuned.reason is Reason.MISSING:
            if passed and _is_default(option, wanted):
                return Persistence("persisted", f"{option} = {wanted} is the kernel's default; no file needs to set it")
            if passed:
                return Persistence("runtime-only", "in effect but lost at reboot unless it is the driver's default: "
                                                   f"no tuned profile is active ({TUNED_ACTIVE} is missing)")
            return Persistence("not-persisted", f"no tuned profile is active ({TUNED_ACTIVE} is missing)")
        return Persistence("unknown", f"tuned's active profile could not be read: {cfg.tuned}")
    got = cfg.tuned.option(section, option)
    names = " ".join(cfg.tuned.active) or "(none)"
    if got is None and passed and _is_default(option, wanted):
        return Persistence("persisted", f"{option} = {wanted} is the kernel's default; no file needs to set it")
    if got is not None and has_tuned_variable(got[0]):
        return Persistence("unknown", f"tuned profile {got[1]} [{section}] {option}={got[0]}: tuned expands it "
                                      "when it applies the profile", (f"tuned profile {got[1]}",))
    if got is not None and _same(got[0], wanted, option):
        if passed:
            return Persistence("persisted", f"tuned profile {got[1]} [{section}] {option}={got[0]}",
                               (f"tuned profile {got[1]}",))
        return Persistence("pending-reboot", f"set for the next boot (reboot pending): tuned profile {got[1]} "
                                             f"[{section}] {option}={got[0]}, not in effect now (tuned applies "
                                             "it when it starts)", (f"tuned profile {got[1]}",))
    if got is not None:
        return Persistence("overridden", f"overridden by tuned's profile {got[1]}: [{section}] {option}={got[0]}",
                           (f"tuned profile {got[1]}",))
    if passed:
        return Persistence("runtime-only", f"in effect but lost at reboot: tuned profile {names} has no "
                                           f"[{section}] {option}")
    return Persistence("not-persisted", f"tuned profile {names} has no [{section}] {option}")


def persistence_of(cfg: PersistedConfig, setting, *, passed: bool, runtime: str | Unread | None = None) -> Persistence:
    """Where ``setting`` (a :class:`hftinfra.settings.Setting`) stands for the next boot.
    ``passed``: the audit found the check true now; ``runtime``: a sysctl's current value."""
    if setting.kind == "sysctl":
        return _sysctl(cfg, setting.key, setting.value or "", runtime if runtime is not None else
                       Unread(Reason.MISSING, setting.key, "not read"), passed)
    if setting.kind == "cmdline":
        return _cmdline(cfg, setting.key, setting.value, passed)
    section, _, option = setting.key.partition(".")
    return _tuned_option(cfg, section, option, setting.value or "", passed)


# Within one mechanism every setting must hold, so the most pressing state leads. Between
# mechanisms (a kernel argument or a sysctl, a kernel argument or tuned's [vm]) one that holds
# is enough, so the best leads; one that could not be read ranks before any that fails, since
# it may be the one that holds.
_PRESSING = {"overridden": 0, "pending-reboot": 1, "runtime-only": 2, "not-persisted": 3, "unknown": 4,
             "persisted": 5}
_BEST = {"persisted": 0, "pending-reboot": 1, "unknown": 2, "overridden": 3, "runtime-only": 4, "not-persisted": 5}


def _all_of(items: list[Persistence]) -> Persistence:
    items = sorted(items, key=lambda p: _PRESSING[p.state])
    lead = items[0]
    where = tuple(dict.fromkeys(w for p in items for w in p.where))
    if lead.state == "persisted":
        return Persistence("persisted", "; ".join(p.message for p in items), where)
    return Persistence(lead.state, "; ".join(p.message for p in items if p.state != "persisted"), where)


def summarise(by_kind: dict[str, list[Persistence]]) -> Persistence | None:
    """One check's persistence from its settings, grouped by mechanism (cmdline, sysctl,
    tuned): all settings of a mechanism must hold; the best mechanism speaks for the check,
    and when it could not be read the others' states follow its message."""
    kinds = sorted((_all_of(items) for items in by_kind.values() if items), key=lambda p: _BEST[p.state])
    if not kinds:
        return None
    lead = kinds[0]
    if lead.state == "unknown" and len(kinds) > 1:
        rest = "; ".join(f"{p.state}: {p.message}" for p in kinds[1:])
        return Persistence("unknown", f"{lead.message}; otherwise {rest}", lead.where + kinds[1].where)
    return lead


__all__ = ["Assignment", "BootConfig", "BootEntry", "BootValue", "PersistedConfig", "Persistence", "STATES",
           "STATE_MEANING", "SysctlConfig", "TunedConfig", "default_entry", "expand_grub_vars", "has_tuned_variable",
           "merge_tuned_profiles", "normalise_sysctl_key", "order_sysctl_files", "parse_bls_entry",
           "parse_default_grub", "parse_grubenv", "parse_sysctl_conf", "persistence_of", "read_boot_config",
           "read_persisted", "read_sysctl_config", "read_tuned_config", "sort_boot_entries", "summarise",
           "sysctl_at_boot", "tuned_kernel_args"]
