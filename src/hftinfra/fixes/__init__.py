"""An audit's fixes in the forms teams review and apply: a shell script, a tuned profile, a
sysctl.d file, an Ansible playbook, or a Kickstart ``%post`` section.

The profile is the one source: the audit judges a host against it, :func:`fix_plan` keeps
the findings to fix (the failing and warning ones, or all), and the settings that make those
checks true come from :func:`hftinfra.settings.plan_settings`, the same plan the provisioning
generator builds a new server from. So ``--format kickstart-post`` renders the very
``%post`` section of ``hftinfra provision`` (``kickstart/post.ks.j2``), and the tuned and
sysctl forms render the templates that section embeds::

    report = run_audit(host, "hft-isolated")
    plan = fix_plan(report)
    render(plan, "sysctl").files["90-hftinfra.conf"]

Every form carries, per setting, the check id, the profile's reason and its sources. A check
the form cannot express (a measurement, hardware, a value the audit could not resolve) is
listed in the form's header with why, never dropped in silence.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field

from hftinfra.settings import SettingsPlan, plan_settings

FORMATS = ("script", "tuned", "sysctl", "ansible", "kickstart-post")
SCOPES = ("failing", "all")
FIXABLE = ("fail", "warn")
SYSCTL_FILE = "90-hftinfra.conf"
PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")

# tuned's plugins (tuned/plugins/plugin_*.py, tuned 2.2x) plus its [main] and [variables]:
# a section of another name is a plugin tuned cannot load.
TUNED_SECTIONS = frozenset({
    "main", "variables", "acpi", "audio", "bootloader", "cpu", "disk", "eeprom_realtek", "irq", "irqbalance",
    "kthread", "modules", "mounts", "net", "rtentsk", "scheduler", "script", "scsi_host", "selinux", "service",
    "sysctl", "sysfs", "systemd", "uncore", "usb", "video", "vm"})


class FixError(Exception):
    """A fix that cannot be rendered (an unknown format, a tuned profile tuned would refuse)."""


@dataclass(frozen=True)
class FixPlan:
    """The findings to fix and the settings that fix them, for one audit."""

    report: object  # hftinfra.audit.Report
    scope: str
    findings: tuple  # the chosen findings, in catalog order
    plan: SettingsPlan  # settings of the chosen checks only
    left: tuple[tuple[str, str], ...] = ()  # (check id, why no setting of the plan makes it)

    @property
    def check_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.findings)

    def header(self, title: str, *, left: bool = True) -> list[str]:
        """The lines every form starts with (without comment markers)."""
        from hftinfra.report import host_line, profile_line

        out = [title, f"for {host_line(self.report)}", f"against {profile_line(self.report)}."]
        if not self.findings:
            out.append("Nothing to fix: no check fails or warns." if self.scope == "failing"
                       else "No check of this profile is judged here.")
        else:
            what = "failing and warning checks" if self.scope == "failing" else "every judged check"
            out.append(f"Covers {len(self.findings)} {what}: {', '.join(self.check_ids)}.")
        for cid, why in self.left if left else ():
            out.append(f"Not in this form: {cid}: {why}.")
        return out


@dataclass(frozen=True)
class Rendered:
    """One form: its files by name (a tuned profile is a directory of one file)."""

    format: str
    files: dict[str, str]
    is_directory: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        """The form as one text (what goes to stdout without ``-o``)."""
        if len(self.files) == 1:
            return next(iter(self.files.values()))
        return "".join(f"# ==> {name} <==\n{text}" for name, text in self.files.items())


def _variables(report) -> dict:
    return {name: v.value for name, v in report.variables.items() if v.value is not None}


def fix_plan(report, *, scope: str = "failing") -> FixPlan:
    """The findings of ``report`` to fix (``failing``: fail and warn; ``all``: every check
    that passed, failed or warned) and the settings of the report's profile that fix them."""
    if scope not in SCOPES:
        raise FixError(f"--scope {scope}: no such scope (scopes: {', '.join(SCOPES)})")
    statuses = FIXABLE if scope == "failing" else ("pass", *FIXABLE)
    chosen = tuple(f for f in report.findings if f.status in statuses)
    ids = {f.id for f in chosen}
    full = plan_settings(report.profile, _variables(report), nr_cpus=report.host.get("cpus"))
    plan = SettingsPlan(profile=full.profile, chain=full.chain,
                        settings=tuple(s for s in full.settings if s.check_id in ids),
                        left=tuple(x for x in full.left if x[0] in ids), variables=full.variables)
    return FixPlan(report=report, scope=scope, findings=chosen, plan=plan, left=plan.left)


# ---- the forms ----------------------------------------------------------------------------


def _comment(lines: list[str], mark: str = "#") -> str:
    return "".join(f"{mark} {line}".rstrip() + "\n" for line in lines)


def render_script(fp: FixPlan) -> Rendered:
    """The audit's own fix commands (each check's ``fix``), one block per finding."""
    bare = [f.id for f in fp.findings if not f.fix]
    head = fp.header("Fixes generated by hftinfra fix --format script", left=False)
    if bare:
        head.append(f"No command fixes {', '.join(bare)} (see each check's docs).")
    lines = ["#!/bin/sh", _comment(head).rstrip(),
             "# Review every line before running it: some need a reboot, some change boot settings.",
             "set -e", ""]
    done = 0
    for f in fp.findings:
        if not f.fix:
            continue
        done += 1
        lines.append(f"# --- {f.id} ({f.status}): {f.title}")
        lines.append(f"#     seen {f.observed}; expected {f.expected}")
        lines.append(f"#     why: {f.reason}")
        lines += [f"#     source: {s}" for s in f.sources]
        for line in f.fix.rstrip().splitlines():
            # A placeholder (<CPU>, <CPULIST>) marks a value the audit could not choose: the
            # line stays a comment until someone fills it in, so the script still parses.
            lines.append(f"# fill in, then uncomment: {line}" if PLACEHOLDER.search(line) else line)
        lines.append("")
    if not done:
        lines.append("# No finding here has a command that fixes it.")
    return Rendered("script", {"fix.sh": "\n".join(lines).rstrip() + "\n"})


def tuned_conf(plan: SettingsPlan, profile, *, bootloader: bool = True, sysctl: bool = True,
               header: list[str] | None = None) -> str:
    """A tuned profile's ``tuned.conf`` for ``plan``: ``include=`` of the closest stock
    profile, then ``[bootloader]`` and ``[sysctl]`` (when asked) and the plugin sections."""
    from hftinfra.provision.generate import tuned_include
    from hftinfra.provision.render import render

    text = render("tuned/tuned.conf.j2", plan=plan, include=tuned_include(profile),
                  sections=plan.tuned_sections(), bootloader=plan.kernel_args() if bootloader else (),
                  sysctls=plan.sysctls() if sysctl else ())
    return (_comment(header) if header else "") + text


def parse_tuned_conf(text: str, name: str = "tuned.conf") -> dict[str, dict[str, str]]:
    """Parse a ``tuned.conf`` the way tuned's profile loader does (tuned/profiles/loader.py:
    ``=`` the only delimiter, ``#`` also an inline comment, duplicate options allowed, option
    names kept as written) and check what tuned would refuse: no ``[main]``, a section that
    names no plugin, an empty option value that a comment swallowed."""
    parser = configparser.ConfigParser(delimiters=("=",), inline_comment_prefixes=("#",), strict=False,
                                       interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, name)
    except configparser.Error as exc:
        raise FixError(f"{name}: tuned cannot parse it: {exc}".replace("\n", " ")) from None
    out = {sec: dict(parser.items(sec, raw=True)) for sec in parser.sections()}
    if "main" not in out:
        raise FixError(f"{name}: no [main] section")
    for sec, options in out.items():
        plugin = sec.split(":", 1)[0] if sec not in TUNED_SECTIONS else sec
        if plugin not in TUNED_SECTIONS and options.get("type") not in TUNED_SECTIONS:
            raise FixError(f"{name}: [{sec}] is not a tuned plugin")
        for key, value in options.items():
            if value == "" and sec != "variables":
                raise FixError(f"{name}: [{sec}] {key} has no value (a '#' in a value starts a comment for tuned)")
    return out


def render_tuned(fp: FixPlan, *, name: str | None = None) -> Rendered:
    name = name or f"hftinfra-{fp.plan.profile}"
    text = tuned_conf(fp.plan, fp.report.profile,
                      header=fp.header(f"tuned profile {name}, generated by hftinfra fix --format tuned")
                      + [f"Install: copy this directory to /etc/tuned/{name}/, then tuned-adm profile {name}.",
                         "[bootloader] takes effect at the next boot (tuned writes it into the boot loader)."])
    parse_tuned_conf(text)
    return Rendered("tuned", {"tuned.conf": text}, is_directory=True)


def sysctl_conf(plan: SettingsPlan, header: list[str] | None = None) -> str:
    from hftinfra.provision.render import render

    return (_comment(header) if header else "") + render("tuned/sysctl.conf.j2", plan=plan, sysctls=plan.sysctls())


def render_sysctl(fp: FixPlan) -> Rendered:
    header = fp.header("sysctl.d(5) file, generated by hftinfra fix --format sysctl") + [
        f"Install as /etc/sysctl.d/{SYSCTL_FILE}, then sysctl --system (or systemd-sysctl) loads it; "
        "a file later in name order, or tuned's [sysctl] with reapply_sysctl=0, can override it."]
    return Rendered("sysctl", {SYSCTL_FILE: sysctl_conf(fp.plan, header)})


def render_ansible(fp: FixPlan) -> Rendered:
    from hftinfra.fixes.ansible import render_playbook

    name = f"hftinfra-{fp.plan.profile}"
    has_tuned = bool(fp.plan.tuned_sections())
    text = render_playbook(fp.plan, header=fp.header("Ansible playbook, generated by hftinfra fix --format ansible"),
                           tuned_conf=tuned_conf(fp.plan, fp.report.profile, bootloader=False, sysctl=False)
                           if has_tuned else None, tuned_name=name if has_tuned else None)
    return Rendered("ansible", {"hftinfra-fix.yml": text})


def render_kickstart_post(fp: FixPlan) -> Rendered:
    """The provisioning generator's ``%post`` (one template, ``kickstart/post.ks.j2``), with
    the ``bootloader --append`` line that carries the kernel arguments before it."""
    from hftinfra.profiles import ProfileError
    from hftinfra.provision.generate import post_section

    report = fp.report
    host_name = report.host.get("hostname") or "this-host"
    try:
        post = post_section(report.profile, fp.plan, profile_spec=profile_spec(report.profile),
                            host_name=host_name, variables=fp.plan.variables)
    except ProfileError as exc:
        raise FixError(str(exc)) from None
    args = fp.plan.kernel_args()
    lines = fp.header("Kickstart lines, generated by hftinfra fix --format kickstart-post") + [
        "Paste the bootloader line among the commands and the %post section at the end; the "
        "same section is what hftinfra provision writes into a new host's Kickstart."]
    body = _comment(lines)
    if args:
        body += "# Kernel arguments:\n" + "".join(f"#   {s.text}  <- {fp.plan.checks_of(s)}: {s.reason}\n"
                                                   for s in args)
        body += f'bootloader --append="{fp.plan.cmdline()}"\n\n'
    return Rendered("kickstart-post", {"hftinfra-post.ks": body + post})


def profile_spec(profile) -> str:
    """What names ``profile`` for :func:`hftinfra.profiles.load_profile`: its name when
    shipped, else its file."""
    from pathlib import Path

    from hftinfra.profiles import PROFILE_DIR

    path = Path(profile.path)
    if not path.is_absolute():
        path = PROFILE_DIR.parent.parent.parent / path
    return profile.name if path.resolve().parent == PROFILE_DIR.resolve() else str(path.resolve())


RENDERERS = {"script": render_script, "tuned": render_tuned, "sysctl": render_sysctl, "ansible": render_ansible,
             "kickstart-post": render_kickstart_post}


def render(fp: FixPlan, fmt: str) -> Rendered:
    if fmt not in RENDERERS:
        raise FixError(f"--format {fmt}: no such format (formats: {', '.join(FORMATS)})")
    return RENDERERS[fmt](fp)


__all__ = ["FORMATS", "FixError", "FixPlan", "Rendered", "SCOPES", "TUNED_SECTIONS", "fix_plan", "parse_tuned_conf",
           "render", "render_script", "sysctl_conf", "tuned_conf"]
