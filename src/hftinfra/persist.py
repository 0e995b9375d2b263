"""Where a setting is persisted: sysctl.d files, the boot loader's kernel arguments, tuned.

The audit reads what is in effect (``/proc/sys``, ``/proc/cmdline``, sysfs); this module reads
what the next boot will set, so a finding can say "in effect but lost at reboot", "set for the
next boot (reboot pending)" or "overridden by tuned's profile X":

- **sysctl configuration** as systemd-sysctl reads it (sysctl.d(5)): ``*.conf`` files from
  /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d and /lib/sysctl.d;
  a name in an earlier directory masks the same name in a later one (a link to /dev/null
  masks it outright); the files are read in the order of their names whatever their
  directory, and a later assignment of a key wins. procps ``sysctl --system`` reads the same
  list and then /etc/sysctl.conf; systemd-sysctl reads /etc/sysctl.conf only through a link
  in sysctl.d (``99-sysctl.conf`` on RHEL and Debian), so it counts last here only when no
  such link names it.
- **kernel arguments for the next boot**: the Boot Loader Specification entries under
  /boot/loader/entries (RHEL 8+; ``$kernelopts`` taken from /boot/grub2/grubenv), the one that
  boots by default (grubenv ``saved_entry``, else the entry of the newest version), plus
  /etc/kernel/cmdline (what kernel-install gives new kernels) and /etc/default/grub
  (``GRUB_CMDLINE_LINUX`` and ``GRUB_CMDLINE_LINUX_DEFAULT``, for grub-mkconfig).
- **tuned**: the active profile (/etc/tuned/active_profile), its tuned.conf and those it
  includes, found the way tuned's profile locator does (the last of /usr/lib/tuned/profiles,
  /usr/lib/tuned, /etc/tuned/profiles, /etc/tuned that holds the profile), and
  ``reapply_sysctl`` from /etc/tuned/tuned-main.conf: when true (tuned's default) tuned applies
  the system's sysctl files again after its own ``[sysctl]``, so those files win.

Nothing here judges; :func:`persistence_of` says per setting where it stands.
"""

from __future__ import annotations

import configparser
import fnmatch
import re
import shlex
from dataclasses import dataclass, field

from hftinfra.host import Host, Reason, Unread
from hftinfra.parsers import parse_cmdline_pairs
from hftinfra.probes import probe

SYSCTL_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
SYSCTL_CONF = "/etc/sysctl.conf"
BLS_DIR = "/boot/loader/entries"
GRUBENV = ("/boot/grub2/grubenv", "/boot/grub/grubenv")
DEFAULT_GRUB = "/etc/default/grub"
KERNEL_CMDLINE = "/etc/kernel/cmdline"
TUNED_ACTIVE = "/etc/tuned/active_profile"
TUNED_MODE = "/etc/tuned/profile_mode"
TUNED_MAIN = "/etc/tuned/tuned-main.conf"
# tuned/consts.py: profiles are looked up in these folders, a later one taking precedence.
TUNED_DIRS = ("/usr/lib/tuned/profiles", "/usr/lib/tuned", "/etc/tuned/profiles", "/etc/tuned")
STATES = ("persisted", "runtime-only", "pending-reboot", "overridden", "not-persisted", "unknown")


# ---- sysctl.d ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    key: str  # normalised with dots
    value: str
    source: str  # 'FILE:LINE'
    ignore_errors: bool = False  # '-key = value'

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
    '-' asks to ignore a failure to set the key.

    Sample: ``vm.swappiness = 10`` and ``-net.ipv4.conf.all.rp_filter = 2``.

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
            continue  # systemd-sysctl warns and skips a line without '='
        ignore = key.lstrip().startswith("-")
        key = key.strip().lstrip("-")
        if not key:
            continue
        out.append(Assignment(normalise_sysctl_key(key), value.strip(), f"{path}:{n}", ignore))
    return out


@dataclass(frozen=True)
class SysctlConfig:
    files: tuple[str, ...]  # in the order they are applied
    masked: tuple[str, ...]  # files hidden by a same-named file earlier in SYSCTL_DIRS
    assignments: tuple[Assignment, ...]  # every assignment, in application order
    unread: tuple[Unread, ...] = ()  # folders or files that exist but could not be read

    def winner(self, key: str) -> Assignment | None:
        """The assignment that sets ``key`` last (a glob key counts where it matches)."""
        key = normalise_sysctl_key(key)
        found = None
        for a in self.assignments:
            if a.key == key or (a.is_glob and fnmatch.fnmatchcase(key, a.key)):
                found = a
        return found

    def of_key(self, key: str) -> list[Assignment]:
        key = normalise_sysctl_key(key)
        return [a for a in self.assignments if a.key == key or (a.is_glob and fnmatch.fnmatchcase(key, a.key))]


def read_sysctl_config(host: Host) -> SysctlConfig:
    chosen: dict[str, str] = {}
    masked: list[str] = []
    unread: list[Unread] = []
    for folder in SYSCTL_DIRS:
        names = host.listdir(folder)
        if isinstance(names, Unread):
            if names.reason is not Reason.MISSING:
                unread.append(names)
            continue
        for name in names:
            if not name.endswith(".conf"):
                continue
            path = f"{folder}/{name}"
            if name in chosen:
                masked.append(path)
            else:
                chosen[name] = path
    files, assignments = [], []
    via_link = False
    for name in sorted(chosen):
        path = chosen[name]
        target = host.readlink(path)
        if isinstance(target, str) and target == "/dev/null":
            masked.append(path)
            continue
        if isinstance(target, str) and target.rstrip("/").endswith("sysctl.conf") and "sysctl.d" not in target:
            via_link = True
        text = host.read(path)
        if isinstance(text, Unread):
            unread.append(text)
            continue
        files.append(path)
        assignments += parse_sysctl_conf(text, path)
    if not via_link:
        text = host.read(SYSCTL_CONF)
        if isinstance(text, str):
            files.append(SYSCTL_CONF)
            assignments += parse_sysctl_conf(text, SYSCTL_CONF)
        elif text.reason is not Reason.MISSING:
            unread.append(text)
    return SysctlConfig(tuple(files), tuple(masked), tuple(assignments), tuple(unread))


# ---- kernel arguments for the next boot ----------------------------------------------------------


@dataclass(frozen=True)
class BootEntry:
    path: str
    title: str
    version: str
    options: str  # with $kernelopts expanded


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


def parse_default_grub(text: str) -> dict[str, str]:
    """/etc/default/grub: shell assignments; values unquoted the way the shell does."""
    out = {}
    for raw in text.splitlines():
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$", raw)
        if not m:
            continue
        try:
            words = shlex.split(m.group(2), comments=True)
        except ValueError:
            continue  # an unbalanced quote: the shell would refuse the file
        out[m.group(1)] = " ".join(words)
    return out


def _version_key(version: str) -> list:
    """Order versions the way rpm's vercmp does for kernels: numeric runs as numbers."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.findall(r"\d+|[A-Za-z]+", version)]


@dataclass(frozen=True)
class BootConfig:
    entries: tuple[BootEntry, ...]
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
        if "$kernelopts" in options:
            options = options.replace("$kernelopts", env.get("kernelopts", ""))
        entries.append(BootEntry(path, fields.get("title", ""), fields.get("version", ""), " ".join(options.split())))
    default, rule = None, ""
    saved = env.get("saved_entry")
    if saved:
        default = next((e for e in entries if e.path.rsplit("/", 1)[1].removesuffix(".conf") == saved), None)
        rule = "grubenv saved_entry" if default else ""
    if default is None and entries:
        default = max(entries, key=lambda e: _version_key(e.version))
        rule = "the newest version"
    kernel = host.read(KERNEL_CMDLINE)
    grub = host.read(DEFAULT_GRUB)
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
    problems: tuple[str, ...] = ()  # a profile not found, a file tuned cannot parse

    def option(self, section: str, name: str) -> tuple[str, str] | None:
        return self.options.get(section, {}).get(name)


def _parse_ini(text: str, path: str) -> dict[str, dict[str, str]] | str:
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


def read_tuned_config(host: Host) -> TunedConfig | Unread:
    active = host.read(TUNED_ACTIVE)
    if isinstance(active, Unread):
        return active
    names = tuple(active.split())
    mode = host.read(TUNED_MODE)
    main = host.read(TUNED_MAIN)
    reapply, source = True, "tuned's default (reapply_sysctl = 1)"
    if isinstance(main, str):
        conf = _main_conf(main)
        if "reapply_sysctl" in conf:
            reapply, source = _truth(conf["reapply_sysctl"]), f"{TUNED_MAIN} (reapply_sysctl = {conf['reapply_sysctl']})"
    options: dict[str, dict[str, tuple[str, str]]] = {}
    chain: list[str] = []
    problems: list[str] = []

    def load(name: str, depth: int = 0) -> None:
        if depth > 10 or name in chain:
            return
        path = None
        for folder in reversed(TUNED_DIRS):
            if host.exists(f"{folder}/{name}/tuned.conf"):
                path = f"{folder}/{name}/tuned.conf"
                break
        if path is None:
            problems.append(f"profile {name}: no tuned.conf in {', '.join(TUNED_DIRS)}")
            return
        text = host.read(path)
        if isinstance(text, Unread):
            problems.append(str(text))
            return
        parsed = _parse_ini(text, path)
        if isinstance(parsed, str):
            problems.append(parsed)
            return
        include = parsed.get("main", {}).get("include")
        if include:
            for inc in re.split(r"\s*[,;]\s*", include.strip()):
                if inc:
                    load(inc, depth + 1)
        chain.append(name)
        for sec, opts in parsed.items():
            if sec == "main":
                continue
            for key, value in opts.items():
                options.setdefault(sec, {})[key] = (value, name)

    for n in names:
        load(n)
    return TunedConfig(names, mode.strip() if isinstance(mode, str) else None, reapply, source, options,
                       tuple(chain), tuple(problems))


# ---- the probe ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersistedConfig:
    sysctl: SysctlConfig
    boot: BootConfig
    tuned: TunedConfig | Unread
    cmdline: str | Unread  # /proc/cmdline: what the running kernel got


@probe("persist.config")
def read_persisted(host: Host) -> PersistedConfig:
    cmdline = host.read("/proc/cmdline")
    return PersistedConfig(read_sysctl_config(host), read_boot_config(host), read_tuned_config(host),
                           cmdline.strip() if isinstance(cmdline, str) else cmdline)


# ---- one setting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Persistence:
    state: str  # one of STATES
    message: str
    where: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"state": self.state, "message": self.message, "where": list(self.where)}


def _same(a: str, b: str, key: str = "") -> bool:
    """Whether two values of ``key`` mean the same: CPU masks and lists as sets, isolcpus=
    flags in any order, tuned's force_latency as a limit (a lower one is stricter)."""
    from hftinfra.cpulist import parse_cpulist, parse_cpumask

    a, b = " ".join(a.split()), " ".join(b.split())
    if a == b:
        return True
    try:
        if key.endswith("cpumask"):
            return parse_cpumask(a) == parse_cpumask(b)
        if key.endswith("force_latency"):
            return int(a) <= int(b)
        if key == "isolcpus":
            def split(v: str):
                parts = v.split(",")
                flags = {p for p in parts if p and p[0].isalpha()}
                return flags, parse_cpulist(",".join(p for p in parts if p and not p[0].isalpha()))
            return split(a) == split(b)
        if _CPULIST.fullmatch(a) and _CPULIST.fullmatch(b):
            return parse_cpulist(a) == parse_cpulist(b)
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


def _args(text: str | None) -> dict[str, str | None]:
    return dict(parse_cmdline_pairs(text or ""))


def _sysctl(cfg: PersistedConfig, key: str, wanted: str, now: str | Unread, passed: bool) -> Persistence:
    sd = cfg.sysctl.winner(key)
    tuned = cfg.tuned if isinstance(cfg.tuned, TunedConfig) else None
    td = tuned.option("sysctl", key) if tuned else None
    if td is not None and (sd is None or not tuned.reapply_sysctl):
        boot, where = td[0], f"tuned profile {td[1]} [sysctl]"
    elif sd is not None:
        boot, where = sd.value, sd.source
    else:
        boot, where = None, ""
    # The check's own verdict stands in for a value this read could not get.
    in_effect = _same(now, wanted, key) if isinstance(now, str) else passed
    if boot is None and in_effect and DEFAULTS.get(key) is not None and _same(DEFAULTS[key], wanted, key):
        return Persistence("persisted", f"{key} = {wanted} is the kernel's default; no file needs to set it")
    if boot is not None and _same(boot, wanted, key):
        if in_effect:
            return Persistence("persisted", f"{key} = {wanted} set at boot by {where}", (where,))
        return Persistence("pending-reboot", f"{where} sets {key} = {wanted}, not in effect now ({now}); "
                                             "sysctl --system or a reboot applies it", (where,))
    # Something sets another value at boot: say who, and who it overrides.
    setters = [a for a in cfg.sysctl.of_key(key) if _same(a.value, wanted, key)]
    if boot is not None:
        over = ""
        if td is not None and where.startswith("tuned") and sd is not None and _same(sd.value, wanted, key):
            over = f"overridden by tuned's profile {td[1]} (reapply_sysctl off): {sd.source} sets {wanted}, " \
                   f"tuned sets {td[0]}"
        elif td is not None and not where.startswith("tuned") and _same(td[0], wanted, key):
            over = f"overridden by {where} ({boot}): tuned's profile {td[1]} sets {wanted}, and reapply_sysctl " \
                   "lets the system's files win"
        elif setters:
            over = f"overridden by {where} ({key} = {boot}): {setters[-1].source} sets {wanted} earlier"
        if over:
            return Persistence("overridden", over, (where,))
        if in_effect:
            return Persistence("runtime-only", f"in effect but lost at reboot: {where} sets {key} = {boot}", (where,))
        return Persistence("not-persisted", f"{where} sets {key} = {boot} at boot", (where,))
    if in_effect:
        return Persistence("runtime-only", f"in effect but lost at reboot: no sysctl.d file or tuned profile "
                                           f"sets {key}")
    return Persistence("not-persisted", f"no sysctl.d file or tuned profile sets {key}")


def _holds(args: dict[str, str | None], key: str, wanted: str | None) -> bool:
    if key not in args:
        return False
    got = args[key]
    return got == wanted or (got is not None and wanted is not None and _same(got, wanted, key))


def _cmdline(cfg: PersistedConfig, key: str, wanted: str | None, passed: bool) -> Persistence:
    running = _args(cfg.cmdline) if isinstance(cfg.cmdline, str) else None
    text = key if wanted is None else f"{key}={wanted}"
    nxt, where = cfg.boot.next_boot()
    tuned = cfg.tuned if isinstance(cfg.tuned, TunedConfig) else None
    tuned_args: dict[str, str | None] = {}
    tuned_where = ""
    if tuned:
        for opt, (value, prof) in tuned.options.get("bootloader", {}).items():
            if opt == "cmdline" or opt.startswith("cmdline_"):
                got = _args(value.lstrip("+"))
                if key in got:
                    tuned_args.update(got)
                    tuned_where = f"tuned profile {prof} [bootloader] {opt}"
    now = running is not None and _holds(running, key, wanted)
    if passed and running is not None and key not in running:
        return Persistence("persisted", f"holds without {key}= on the command line (the kernel's default here)")
    if nxt is None and not tuned_args:
        if cfg.boot.unread:
            return Persistence("unknown", f"the boot configuration could not be read: {cfg.boot.unread[0]}")
        return Persistence("unknown", "where the next boot's kernel arguments come from is unknown: no boot "
                                      "loader configuration here (a snapshot without /boot and /etc/default/grub, "
                                      "or a VM whose hypervisor passes the command line)")
    boot_args = _args(nxt)
    later = _holds(boot_args, key, wanted)
    by_tuned = _holds(tuned_args, key, wanted)
    places = tuple(p for p, ok in ((where, later), (tuned_where, by_tuned)) if ok)
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
            state = "runtime-only" if passed else "not-persisted"
            if passed and DEFAULTS.get(option) is not None and _same(DEFAULTS[option], wanted, option):
                return Persistence("persisted", f"{option} = {wanted} is the kernel's default; no file needs to set it")
            msg = "in effect, and nothing found sets it at boot (lost at reboot unless it is the driver's default): " \
                if passed else ""
            return Persistence(state, f"{msg}no tuned profile is active ({TUNED_ACTIVE} is missing)")
        return Persistence("unknown", f"tuned's active profile could not be read: {cfg.tuned}")
    got = cfg.tuned.option(section, option)
    names = " ".join(cfg.tuned.active) or "(none)"
    if got is None and passed and DEFAULTS.get(option) is not None and _same(DEFAULTS[option], wanted, option):
        return Persistence("persisted", f"{option} = {wanted} is the kernel's default; no file needs to set it")
    if got is not None and _same(got[0], wanted, option):
        return Persistence("persisted" if passed else "pending-reboot",
                           f"tuned profile {got[1]} [{section}] {option}={wanted}"
                           + ("" if passed else " (not in effect: tuned applies it when it starts)"),
                           (f"tuned profile {got[1]}",))
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


# Within one mechanism every setting must hold, so the most pressing state leads; between
# mechanisms (a kernel argument or a sysctl, a kernel argument or tuned's [vm]) one that holds
# is enough, so the best leads.
_PRESSING = {"overridden": 0, "pending-reboot": 1, "runtime-only": 2, "not-persisted": 3, "unknown": 4,
             "persisted": 5}
_BEST = {"persisted": 0, "pending-reboot": 1, "overridden": 2, "runtime-only": 3, "not-persisted": 4, "unknown": 5}


def _all_of(items: list[Persistence]) -> Persistence:
    items = sorted(items, key=lambda p: _PRESSING[p.state])
    lead = items[0]
    if lead.state == "persisted":
        return Persistence("persisted", "; ".join(p.message for p in items), tuple(w for p in items for w in p.where))
    return Persistence(lead.state, "; ".join(p.message for p in items if p.state != "persisted"),
                       tuple(w for p in items for w in p.where))


def summarise(by_kind: dict[str, list[Persistence]]) -> Persistence | None:
    """One check's persistence from its settings, grouped by mechanism (cmdline, sysctl,
    tuned): all settings of a mechanism must hold; the best mechanism speaks for the check."""
    kinds = [_all_of(items) for items in by_kind.values() if items]
    if not kinds:
        return None
    return min(kinds, key=lambda p: _BEST[p.state])


__all__ = ["Assignment", "BootConfig", "BootEntry", "PersistedConfig", "Persistence", "STATES", "SysctlConfig",
           "TunedConfig", "normalise_sysctl_key", "parse_bls_entry", "parse_default_grub", "parse_grubenv",
           "parse_sysctl_conf", "persistence_of", "read_boot_config", "read_persisted", "read_sysctl_config",
           "read_tuned_config", "summarise"]
