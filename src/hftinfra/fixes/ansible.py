"""A settings plan as Ansible: a self-contained playbook, and the role it shares its tasks with.

One code path. The tasks live in one file, ``hftinfra/fixes/templates/ansible/tasks.yml``
(with ``handlers.yml`` and ``defaults.yml`` beside it). They are data driven: they loop over
lists of sysctls, sysfs knobs, kernel arguments and configuration-file options, each item
carrying the check id it satisfies, the profile's reason and sources. Two things use them:

- the role ``scripts/ansible/roles/hftinfra_tuning``, whose ``tasks/main.yml``,
  ``handlers/main.yml`` and ``defaults/main.yml`` are byte-for-byte copies of those files
  (:func:`role_files` says what they must be, :func:`write_role` rewrites them, and the test
  suite fails when the committed role differs);
- :func:`render_playbook`, which writes a play whose ``vars:`` are the plan rendered as those
  lists (:func:`playbook_vars`) on top of the role's defaults, and whose ``tasks:`` and
  ``handlers:`` are the same two files, indented. ``hftinfra fix --format ansible`` calls it
  with the plan of an audit's failing checks.

So a fix in a task is a fix in both, and the generated playbook needs nothing but Ansible with
the ``ansible.posix`` and ``community.general`` collections (both in the ``ansible`` package).

Modules made for each job: ``ansible.posix.sysctl`` (its own sysctl.d file, set now and at
boot), ``ansible.builtin.copy`` for the tuned profile, ``community.general.ini_file`` for a
``KEY=value`` option (irqbalance's banned CPUs when no tuned profile owns them). Where no
module exists the tasks read first and write only what differs: grubby for kernel arguments
(no collection ships a grubby module) and sysfs knobs (a file module cannot compare
``always madvise [never]`` with ``never``, nor replace a sysfs file). Check mode runs every read
and reports every write it would make; a tool that cannot answer (no grubby, no tuned) is
said in a ``NOT CHECKED`` line in check mode and stops a real run before any change. A changed
kernel command line notifies a handler that reboots only when ``hftinfra_allow_reboot`` is
true, and otherwise says the reboot is pending.

:func:`check_run` and :func:`run_playbook` run a playbook against this machine with every
Ansible cache and temporary file inside one work directory; :func:`lint` runs ansible-lint
offline the same way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hftinfra.settings import Setting, SettingsPlan

TEMPLATES = Path(__file__).resolve().parent / "templates" / "ansible"
ROLE_NAME = "hftinfra_tuning"
# Role file -> its one source under templates/ansible/.
ROLE_SOURCES = {"tasks/main.yml": "tasks.yml", "handlers/main.yml": "handlers.yml",
                "defaults/main.yml": "defaults.yml"}
# The lists a plan fills; every other name of defaults.yml is a switch the play keeps.
PLAN_VARS = ("hftinfra_sysctls", "hftinfra_sysfs", "hftinfra_kernel_args", "hftinfra_config_options",
             "hftinfra_tuned_name", "hftinfra_tuned_conf")

# tuned options with a run-time file of their own (tuned/plugins/plugin_vm.py writes these).
_TUNED_RUNTIME = {
    "vm.transparent_hugepages": ("/sys/kernel/mm/transparent_hugepage/enabled", "word"),
    "vm.transparent_hugepage.defrag": ("/sys/kernel/mm/transparent_hugepage/defrag", "word"),
}
# irqbalance(1): IRQBALANCE_BANNED_CPULIST (irqbalance 1.8+) in the file its unit reads
# (RHEL: /etc/sysconfig/irqbalance; Debian: /etc/default/irqbalance).
IRQBALANCE_FILE = "/etc/sysconfig/irqbalance"
_WRAP = 96  # columns of folded text in the generated YAML (ansible-lint's limit is 160)


class AnsibleMissing(RuntimeError):
    """ansible-playbook or ansible-lint is not installed (one line: what to install)."""


# ---- the one source ------------------------------------------------------------------------


def source_text(name: str) -> str:
    """One of the shared files (``tasks.yml``, ``handlers.yml``, ``defaults.yml``)."""
    return (TEMPLATES / name).read_text(encoding="utf-8")


def role_files() -> dict[str, str]:
    """What the role's files must hold, by path inside the role (``tasks/main.yml``)."""
    return {rel: source_text(src) for rel, src in ROLE_SOURCES.items()}


def write_role(role_dir: str | Path) -> list[str]:
    """Rewrite the role's shared files under ``role_dir`` from the one source; returns the
    paths that changed."""
    role_dir = Path(role_dir)
    changed = []
    for rel, text in role_files().items():
        path = role_dir / rel
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(rel)
    return changed


def role_defaults() -> dict[str, Any]:
    return yaml.safe_load(source_text("defaults.yml")) or {}


# ---- the plan as variables -----------------------------------------------------------------


def _checks_of(plan: SettingsPlan, s: Setting) -> str:
    """Every check that asks for the same setting with the same value (kernel_args() and
    sysctls() keep the first)."""
    ids = [x.check_id for x in plan.settings if (x.kind, x.key, x.value) == (s.kind, s.key, s.value)]
    return ", ".join(dict.fromkeys(ids)) or s.check_id


def _item(plan: SettingsPlan, s: Setting, **fields: Any) -> dict[str, Any]:
    return {"check": _checks_of(plan, s), **fields, "reason": s.reason, "sources": list(s.sources)}


def _tuned_settings(plan: SettingsPlan) -> list[Setting]:
    return [s for settings in plan.tuned_sections().values() for s in settings]


def _runtime_knob(s: Setting) -> tuple[str, str] | None:
    """The sysfs file and match kind of a tuned option that has one, else None."""
    if s.key in _TUNED_RUNTIME:
        return _TUNED_RUNTIME[s.key]
    section, _, path = s.key.partition(".")
    if section == "sysfs" and path.startswith("/sys/") and not re.search(r"[*?\[]", path):
        # tuned's [sysfs] takes globs; a glob names files only the running host knows.
        mask = path.endswith(("cpumask", "_cpus", "smp_affinity"))
        return path, "mask" if mask else "text"
    return None


def playbook_vars(plan: SettingsPlan, *, tuned_conf: str | None = None,
                  tuned_name: str | None = None) -> dict[str, Any]:
    """The plan as the role's input lists (see defaults.yml for the item fields)."""
    sysctls = [_item(plan, s, key=s.key, value=s.value) for s in plan.sysctls()]
    kernel_args = [_item(plan, s, arg=s.text) for s in plan.kernel_args()]
    sysfs, config = [], []
    for s in _tuned_settings(plan):
        knob = _runtime_knob(s)
        if knob is not None:
            sysfs.append(_item(plan, s, path=knob[0], value=s.value, match=knob[1]))
        elif s.key == "irqbalance.banned_cpus" and tuned_conf is None:
            # With a tuned profile, its [irqbalance] plugin owns this file (and restarts irqbalance).
            config.append(_item(plan, s, path=IRQBALANCE_FILE, option="IRQBALANCE_BANNED_CPULIST",
                                value=s.value, service="irqbalance"))
    out: dict[str, Any] = {"hftinfra_sysctls": sysctls, "hftinfra_sysfs": sysfs, "hftinfra_kernel_args": kernel_args,
                           "hftinfra_config_options": config}
    if tuned_conf is not None:
        out["hftinfra_tuned_name"] = tuned_name or f"hftinfra-{plan.profile}"
        out["hftinfra_tuned_conf"] = tuned_conf if tuned_conf.endswith("\n") else tuned_conf + "\n"
    return out


def not_applied(plan: SettingsPlan, *, tuned_conf: str | None = None) -> list[str]:
    """The plan's settings this playbook does not apply, each with why (for its header)."""
    if tuned_conf is not None:
        return []
    out = []
    for s in _tuned_settings(plan):
        if _runtime_knob(s) is None and s.key != "irqbalance.banned_cpus":
            out.append(f"{s.check_id}: tuned [{s.key.partition('.')[0]}] {s.shown} (no tuned profile was given)")
    return out


# ---- YAML text -----------------------------------------------------------------------------

_UNSAFE = ("{{", "{%", "{#")


def _scalar(value: Any, indent: int, prefix_len: int) -> str:
    """A YAML scalar for ``value`` after ``prefix_len`` columns: plain for numbers and
    booleans, otherwise a double-quoted string, folded (>-) when long. Text Jinja2 would
    interpret is tagged !unsafe, so Ansible never templates a reason or a tuned.conf."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "null"
    text = str(value)
    tag = "!unsafe " if any(m in text for m in _UNSAFE) else ""
    if "\n" in text and max(map(len, text.split("\n"))) + indent + 2 > _WRAP + 50:
        return tag + _quoted_lines(text, indent + 2)
    if "\n" in text:
        body = text[:-1] if text.endswith("\n") else text
        chomp = "" if text.endswith("\n") and not text.endswith("\n\n") else ("-" if not text.endswith("\n") else "+")
        lead = "2" if body[:1] in (" ", "\t") else ""
        pad = " " * (indent + 2)
        lines = "".join((pad + line).rstrip(" ") + "\n" if line else "\n" for line in body.split("\n"))
        return f"{tag}|{lead}{chomp}\n" + lines.rstrip("\n")
    quoted = json.dumps(text, ensure_ascii=False)
    foldable = (text == text.strip() and "  " not in text and "\t" not in text and text.isprintable()
                and not text.startswith(("#", "-", "?", ":")))
    if prefix_len + len(quoted) > _WRAP + 20 and foldable:
        pad = " " * (indent + 2)
        wrapped = textwrap.wrap(text, _WRAP - indent, break_long_words=False, break_on_hyphens=False)
        return f"{tag}>-\n" + "\n".join(pad + line for line in wrapped)
    return tag + quoted


def _quoted_lines(text: str, indent: int) -> str:
    """A multi-line text with lines too long for a block scalar, as one double-quoted
    scalar: a physical line per line of ``text`` (``\\n`` then an escaped line break), long
    lines split where the next character is not a space (YAML drops the indentation after an
    escaped line break, and with it any leading space)."""
    pad = " " * indent
    width = _WRAP - indent
    pieces: list[str] = []
    lines = text.split("\n")
    for n, line in enumerate(lines):
        last = n == len(lines) - 1
        if last and not line:
            break
        chunks, rest = [], line
        while len(rest) > width:
            cut = width
            while cut < len(rest) and rest[cut] in " \t":
                cut += 1
            chunks.append(rest[:cut])
            rest = rest[cut:]
        chunks.append(rest)
        for i, chunk in enumerate(chunks):
            esc = json.dumps(chunk, ensure_ascii=False)[1:-1]
            if esc[:1] in (" ", "\t"):
                esc = ("\\x20" if esc[0] == " " else "\\t") + esc[1:]
            end = "\\n" if i == len(chunks) - 1 and not last else ""
            pieces.append(esc + end)
    body = ("\\\n" + pad).join(pieces)
    return f'"{body}"'


def _yaml_block(data: dict[str, Any], indent: int) -> list[str]:
    """``data`` (names to scalars, lists of scalars, or lists of flat mappings) as block YAML."""
    pad = " " * indent
    lines: list[str] = []
    for key, value in data.items():
        if isinstance(value, list):
            if not value:
                lines.append(f"{pad}{key}: []")
                continue
            lines.append(f"{pad}{key}:")
            for item in value:
                if isinstance(item, dict):
                    first = True
                    for k, v in item.items():
                        lead = f"{pad}  - " if first else f"{pad}    "
                        first = False
                        if isinstance(v, list):
                            if not v:
                                lines.append(f"{lead}{k}: []")
                                continue
                            lines.append(f"{lead}{k}:")
                            lines += [f"{pad}      - {_scalar(x, indent + 6, indent + 8)}" for x in v]
                        else:
                            lines.append(f"{lead}{k}: {_scalar(v, indent + 4, len(lead) + len(k) + 2)}")
                else:
                    lines.append(f"{pad}  - {_scalar(item, indent + 2, indent + 4)}")
        else:
            lines.append(f"{pad}{key}: {_scalar(value, indent, indent + len(key) + 2)}")
    return lines


def _comment(lines: Sequence[str], indent: int = 0) -> list[str]:
    """Comment lines, long ones wrapped (continuations indented) to stay under the YAML
    linters' line length."""
    pad = " " * indent
    out = []
    for line in lines:
        for part in str(line).split("\n"):
            wrapped = textwrap.wrap(part, _WRAP + 12 - indent, subsequent_indent="    ", break_long_words=False,
                                    break_on_hyphens=False, drop_whitespace=True) if part.strip() else [""]
            out += [f"{pad}# {w}".rstrip() for w in wrapped]
    return out


def _indented(text: str, indent: int) -> list[str]:
    """A shared YAML file's body (without its ``---``), indented into a play."""
    pad = " " * indent
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        lines = lines[1:]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return [(pad + line) if line.strip() else "" for line in lines]


def _switches(plan_vars: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in role_defaults().items() if k not in plan_vars}


def render_vars(plan: SettingsPlan, *, header: Sequence[str] = (), tuned_conf: str | None = None,
                tuned_name: str | None = None) -> str:
    """The plan as a variables file for the role (``-e @file``, group_vars or host_vars)."""
    data = playbook_vars(plan, tuned_conf=tuned_conf, tuned_name=tuned_name)
    lines = ["---", *_comment(header), *_comment([f"Variables of role {ROLE_NAME} for profile {plan.profile} "
                                                   f"({' -> '.join(plan.chain)})."])]
    lines += _yaml_block(data, 0)
    return "\n".join(lines) + "\n"


def render_playbook(plan: SettingsPlan, *, header: Sequence[str] = (), hosts: str = "all",
                    tuned_conf: str | None = None, tuned_name: str | None = None) -> str:
    """A self-contained playbook that applies ``plan``: play vars from the plan over the
    role's defaults, and the role's own tasks and handlers. ``header`` lines lead as
    comments; ``tuned_conf`` (a tuned.conf text) adds the tuned profile ``tuned_name``
    (default ``hftinfra-PROFILE``), activated with tuned-adm. Deterministic: the same plan
    gives the same text."""
    data = playbook_vars(plan, tuned_conf=tuned_conf, tuned_name=tuned_name)
    name = data.get("hftinfra_tuned_name")
    counts = (f"{len(data['hftinfra_sysctls'])} sysctls, {len(data['hftinfra_sysfs'])} sysfs knobs, "
              f"{len(data['hftinfra_kernel_args'])} kernel arguments, "
              f"{len(data['hftinfra_config_options'])} configuration options"
              + (f", tuned profile {name}" if name else ""))
    about = [
        f"Applies profile {plan.profile} ({' -> '.join(plan.chain)}): {counts}.",
        f"The tasks are those of role {ROLE_NAME} (hftinfra/fixes/templates/ansible/tasks.yml);",
        "each loop item names its check, with the profile's reason and sources.",
        "First: ansible-playbook -i INVENTORY THIS.yml --check --diff (reads everything, changes nothing).",
        "Kernel arguments take effect at the next boot: -e hftinfra_allow_reboot=true lets the play",
        "reboot, -e hftinfra_manage_kernel_args=false leaves the boot entries alone.",
    ]
    left = not_applied(plan, tuned_conf=tuned_conf)
    if left:
        about.append("Not applied by this playbook:")
        about += [f"  {line}" for line in left]
    lines = ["---", *_comment(header)]
    if header:
        lines.append("#")
    lines += _comment(about)
    lines += [f"- name: {_scalar(f'Apply hftinfra profile {plan.profile}', 2, 8)}",
              f"  hosts: {_scalar(hosts, 2, 9)}",
              "  become: true",
              "  gather_facts: false",
              "  vars:",
              f"    # Switches (role {ROLE_NAME}'s defaults); -e NAME=VALUE overrides them."]
    lines += _yaml_block(_switches(data), 4)
    lines.append("    # The plan: what the profile's checks need on this host.")
    lines += _yaml_block(data, 4)
    lines.append("  tasks:")
    lines += _indented(source_text("tasks.yml"), 4)
    lines.append("  handlers:")
    lines += _indented(source_text("handlers.yml"), 4)
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def task_outline(name: str = "tasks.yml") -> list[tuple[str, str, str]]:
    """(task name, module, what it loops over or '') for each task of a shared file."""
    out = []
    for task in yaml.safe_load(source_text(name)) or []:
        module = next((k for k in task if "." in k and k.split(".")[0] in ("ansible", "community")), "")
        loop = str(task.get("loop", "")).strip("{} ").split("|")[0].strip()
        out.append((task.get("name", ""), module, loop))
    return out


def role_drift(role_dir: str | Path) -> dict[str, bool]:
    """For each shared file of the role under ``role_dir``: whether it equals the one source."""
    role_dir = Path(role_dir)
    return {rel: (role_dir / rel).is_file() and (role_dir / rel).read_text(encoding="utf-8") == text
            for rel, text in role_files().items()}


def plan_table(plan: SettingsPlan, title: str):
    """The plan's settings as a table for a page: where each goes, the check, the reason."""
    from hftinfra.viz.topology import HtmlTable

    left = ", ".join(cid for cid, _why in plan.left) or "none"
    return HtmlTable(title, ["where", "setting", "check", "why (the profile's reason)"],
                     [[s.place, s.shown, s.check_id, s.reason] for s in plan.settings],
                     note=f"checks with no setting: {left}")


def scripts_dir() -> Path | None:
    """scripts/ansible of the checkout this library runs from, or None outside one."""
    from hftinfra.page import repo_root

    root = repo_root()
    path = root / "scripts" / "ansible" if root else None
    return path if path is not None and path.is_dir() else None


# ---- running Ansible -----------------------------------------------------------------------


_CLI_MODULES = {"ansible": "ansible.cli.adhoc", "ansible-config": "ansible.cli.config",
                "ansible-galaxy": "ansible.cli.galaxy", "ansible-playbook": "ansible.cli.playbook",
                "ansible-doc": "ansible.cli.doc", "ansible-inventory": "ansible.cli.inventory"}
# Commands and the module that runs each with this interpreter (``python -m``).
_MODULES = {"ansible-playbook": "ansible.cli.playbook", "ansible-config": "ansible.cli.config",
            "ansible-lint": "ansiblelint", "hftinfra": "hftinfra"}


def tool_argv(name: str) -> list[str] | None:
    """How to run an Ansible (or hftinfra) command: the script beside this interpreter (the
    venv), else this interpreter with ``-m`` when the package is importable (a user who can
    read the venv's packages but not its bin/), else the command on PATH; None when absent."""
    import importlib.util

    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    module = _MODULES.get(name)
    if module and importlib.util.find_spec(module.split(".")[0]) is not None:
        return [sys.executable, "-m", module]
    found = shutil.which(name)
    return [found] if found else None


def find_tool(name: str) -> str | None:
    """The command line of :func:`tool_argv` as one string, or None when absent."""
    argv = tool_argv(name)
    return " ".join(argv) if argv else None


def ansible_env(work: str | Path) -> dict[str, str]:
    """An environment whose Ansible and ansible-lint caches, temporary files and home stay
    inside ``work``, with no colour and no retry files."""
    work = Path(work)
    for sub in ("home", "cache", "tmp", "remote-tmp", "collections"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    cfg = work / "ansible.cfg"
    if not cfg.exists():
        cfg.write_text("[defaults]\n")
    env = dict(os.environ)
    env.update({
        "HOME": str(work / "home"), "ANSIBLE_HOME": str(work / "home" / ".ansible"),
        "XDG_CACHE_HOME": str(work / "cache"), "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(work / "remote-tmp"), "ANSIBLE_COLLECTIONS_PATH": str(work / "collections"),
        "ANSIBLE_CONFIG": str(cfg), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0", "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_DEPRECATION_WARNINGS": "0", "PY_COLORS": "0",
    })
    env.pop("ANSIBLE_ROLES_PATH", None)
    # ansible-lint runs ansible from PATH and warns unless the venv it lives in is on it.
    bindir = str(Path(sys.executable).parent)
    if bindir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)"
                    r"\s+rescued=(\d+)\s+ignored=(\d+)", re.M)
_CHANGED = re.compile(r"^changed: \[([^\]]+)\](?: => \(item=(.*?)\))?(?: => \{)?\s*$")
_RESULT_LINE = re.compile(r"^(ok|changed|skipping|fatal|failed): \[")


@dataclass(frozen=True)
class PlaybookRun:
    """One ansible-playbook run: its recap per host, its output and how long it took."""

    argv: tuple[str, ...]
    returncode: int
    output: str
    elapsed_s: float
    check: bool
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    def _total(self, key: str) -> int:
        return sum(r[key] for r in self.recap.values())

    @property
    def ok(self) -> int:
        return self._total("ok")

    @property
    def changed(self) -> int:
        return self._total("changed")

    @property
    def failed(self) -> int:
        return self._total("failed") + self._total("unreachable")

    @property
    def skipped(self) -> int:
        return self._total("skipped")

    @property
    def changes(self) -> list[str]:
        """What changed (in check mode: would), one line per loop item (``Sysctl: LABEL``)
        or task, with the host when the run had several."""
        out, task = [], ""
        several = len(self.recap) > 1
        for line in self.output.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                task = line.split("[", 1)[1].rsplit("]", 1)[0]
                continue
            m = _CHANGED.match(line)
            if m:
                where = f"[{m.group(1)}] " if several else ""
                # A loop item's label names its check; the task's group ("Sysctl") says the rest.
                out.append(f"{where}{task.split(' | ')[0]}: {m.group(2)}" if m.group(2) else f"{where}{task}")
        return out

    @property
    def diff(self) -> str:
        """Every ``--diff`` block of the output (files the run changed, or would)."""
        out, inside = [], False
        for line in self.output.splitlines():
            if line.startswith("--- before"):
                inside = True
            elif inside and (_RESULT_LINE.match(line) or line.startswith("TASK [")):
                inside = False
                out.append("")
            if inside:
                out.append(line)
        return "\n".join(out).strip("\n")

    @property
    def messages(self) -> list[str]:
        """The ``msg`` of every debug line (NOT CHECKED, would write, reboot pending)."""
        found = []
        for m in re.finditer(r'^\s*"msg": (".*")\s*$', self.output, re.M):
            try:
                found.append(json.loads(m.group(1)))
            except json.JSONDecodeError:
                found.append(m.group(1))
        return found

    def summary(self) -> str:
        mode = "check mode" if self.check else "real run"
        state = "ok" if self.returncode == 0 else f"exit {self.returncode}"
        return (f"{mode}: ok={self.ok} changed={self.changed} failed={self.failed} skipped={self.skipped} "
                f"in {self.elapsed_s:.1f} s ({state})")

    def __repr__(self) -> str:
        return self.summary()


def _need(tool: str, package: str) -> list[str]:
    argv = tool_argv(tool)
    if argv is None:
        raise AnsibleMissing(f"{tool} is not installed here (pip install {package})")
    return argv


def run_playbook(playbook: str | Path, *, check: bool = True, diff: bool = True, inventory: str = "localhost,",
                 connection: str | None = "local", extra_vars: dict[str, Any] | None = None,
                 limit: str | None = None, become: bool | None = False, work: str | Path | None = None,
                 timeout: float = 600, args: Sequence[str] = ()) -> PlaybookRun:
    """Run ``playbook`` (a path, or the text of one) with ansible-playbook. The defaults run
    it in check mode with diffs against this machine over a local connection, without
    become (``become=None`` keeps the play's); caches and temporary files stay in ``work``
    (a new temporary directory, removed afterwards, when not given)."""
    tool = _need("ansible-playbook", "ansible")
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="hftinfra-ansible-")) if own else Path(work)
    try:
        env = ansible_env(work)
        if isinstance(playbook, Path) or (isinstance(playbook, str) and "\n" not in playbook
                                          and Path(playbook).is_file()):
            path = Path(playbook)
        else:
            path = work / "playbook.yml"
            path.write_text(str(playbook), encoding="utf-8")
        ev: dict[str, Any] = {"ansible_python_interpreter": sys.executable}
        if become is not None:
            ev["ansible_become"] = become
        ev.update(extra_vars or {})
        ev_file = work / "extra-vars.json"
        ev_file.write_text(json.dumps(ev))
        argv = [*tool, "-i", inventory, str(path), "-e", f"@{ev_file}"]
        if connection:
            argv += ["-c", connection]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        if limit:
            argv += ["--limit", limit]
        argv += list(args)
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, cwd=str(work))
        elapsed = time.perf_counter() - t0
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    output = (proc.stdout + ("\n" + proc.stderr if proc.stderr.strip() else "")).replace(str(work) + "/", "")
    recap = {m.group(1): dict(zip(("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored"),
                                  map(int, m.groups()[1:]), strict=True))
             for m in _RECAP.finditer(proc.stdout)}
    return PlaybookRun(tuple(argv), proc.returncode, output, elapsed, check, recap)


def run_audit_playbook(report_dir: str | Path, *, inventory: str = "localhost,", target: str = "localhost",
                       profile: str = "hft-isolated", command: str | Sequence[str] | None = None, playbook: str | Path | None = None,
                       work: str | Path | None = None, timeout: float = 600) -> PlaybookRun:
    """scripts/ansible/audit.yml on ``target`` of ``inventory`` (default: this machine over
    a local connection), reports fetched into ``report_dir``. It only reads the hosts."""
    book = Path(playbook) if playbook else (scripts_dir() or Path("ansible")) / "audit.yml"
    ev = {"hftinfra_target": target, "hftinfra_profile": profile, "hftinfra_report_dir": str(Path(report_dir).resolve()),
          "hftinfra_command": command or tool_argv("hftinfra") or "hftinfra"}
    return run_playbook(book, check=False, diff=False, inventory=inventory,
                        connection="local" if inventory == "localhost," else None, extra_vars=ev, work=work,
                        timeout=timeout)


def check_run(playbook_text: str, **kwargs: Any) -> PlaybookRun:
    """``ansible-playbook --check --diff`` of a playbook against this machine: every read
    runs, nothing changes. Keywords as :func:`run_playbook`."""
    kwargs.setdefault("check", True)
    kwargs.setdefault("diff", True)
    return run_playbook(playbook_text, **kwargs)


@dataclass(frozen=True)
class LintRun:
    argv: tuple[str, ...]
    returncode: int
    output: str
    elapsed_s: float

    @property
    def passed(self) -> bool:
        return self.returncode == 0

    def summary(self) -> str:
        verdict = "passed" if self.passed else f"failed (exit {self.returncode})"
        lines = [line for line in self.output.strip().splitlines()
                 if line.strip() and not line.startswith("WARNING")]
        return f"ansible-lint {verdict} in {self.elapsed_s:.1f} s: {lines[-1] if lines else 'no violations'}"

    def __repr__(self) -> str:
        return self.summary()


def lint(paths: Sequence[str | Path], *, config: str | Path | None = None, work: str | Path | None = None,
         cwd: str | Path | None = None, timeout: float = 600) -> LintRun:
    """ansible-lint, offline, over ``paths``, with its caches inside ``work`` (a temporary
    directory when not given). A path given as text with newlines is a playbook to write
    into ``work`` first."""
    tool = _need("ansible-lint", "ansible-lint")
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="hftinfra-lint-")) if own else Path(work)
    try:
        env = ansible_env(work)
        env.pop("ANSIBLE_COLLECTIONS_PATH", None)
        env.pop("ANSIBLE_CONFIG", None)
        if tool[0] == sys.executable:
            # ansible-lint runs `ansible --version` and `ansible-config dump` from PATH: a user
            # without the venv's bin/ gets small launchers for this interpreter's Ansible.
            shims = work / "bin"
            shims.mkdir(exist_ok=True)
            for command, module in _CLI_MODULES.items():
                launcher = shims / command
                launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module} "$@"\n')
                launcher.chmod(0o755)
            env["PATH"] = str(shims) + os.pathsep + env["PATH"]
        targets = []
        for n, p in enumerate(paths):
            if isinstance(p, str) and "\n" in p:
                dest = work / "lint" / f"playbook-{n}.yml"
                dest.parent.mkdir(exist_ok=True)
                dest.write_text(p, encoding="utf-8")
                targets.append(str(dest))
            else:
                targets.append(str(Path(p).resolve()))
        argv = [*tool, "--offline", "--nocolor"]
        if config:
            argv += ["-c", str(Path(config).resolve())]
        argv += targets
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout,
                              cwd=str(cwd or work))
        elapsed = time.perf_counter() - t0
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    output = (proc.stdout + proc.stderr).replace(str(work) + "/", "")
    return LintRun(tuple(argv), proc.returncode, output, elapsed)


__all__ = ["AnsibleMissing", "IRQBALANCE_FILE", "LintRun", "PlaybookRun", "ROLE_NAME", "ROLE_SOURCES", "TEMPLATES",
           "ansible_env", "check_run", "find_tool", "lint", "not_applied", "plan_table", "playbook_vars",
           "render_playbook", "role_drift", "tool_argv",
           "render_vars", "role_defaults", "role_files", "run_audit_playbook", "run_playbook", "scripts_dir",
           "source_text", "task_outline", "write_role"]
