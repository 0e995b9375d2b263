"""Text checks for the Windows files the generators write, where nothing can run them.

No PowerShell and no Windows run on the machines this project is built and tested on (no
package of theirs provides ``pwsh``), so ``install.ps1``, ``startnet.cmd`` and
``unattend.xml`` are checked as text: what a tokenizer that knows the languages' quoting can
see. These are not PowerShell's parser, cmd.exe or Windows Setup; a file that passes here can
still fail there, and the pages say so. Each function returns a list of problems (empty: none
found), each naming its line.

- :func:`check_powershell`: brackets balanced outside strings and comments; strings, here-strings
  (``@'``/``@"`` to a closing ``'@``/``"@`` at the start of a line) and block comments
  (``<# #>``) terminated; function verbs from Microsoft's approved list
  ("Approved Verbs for PowerShell Commands", learn.microsoft.com); a ``[CmdletBinding()]``
  function with a ``param()`` block; ``"$name:"`` in a double-quoted string, which PowerShell
  reads as a drive-qualified variable and refuses.
- :func:`check_cmd`: CRLF line ends (cmd.exe finds labels by reading in 512-byte blocks and a
  file with LF ends can miss them), ``goto`` targets defined, parentheses of blocks balanced,
  double quotes paired per line.
- :func:`check_unattend`: well-formed XML, the ``urn:schemas-microsoft-com:unattend``
  namespace, known configuration passes each used once, the attributes every component needs
  (Unattended Windows Setup Reference, "Components"), no plain-text password.
- :func:`leaked_paths`: Linux paths in Windows files, and Windows paths in Linux files.
- :func:`check_files`: the checks that fit each file of a set, as one table for a page.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

# learn.microsoft.com/powershell/scripting/developer/cmdlet/approved-verbs-for-windows-powershell-commands
APPROVED_VERBS = frozenset("""
Add Clear Close Copy Enter Exit Find Format Get Hide Join Lock Move New Open Optimize Pop Push Redo
Remove Rename Reset Resize Search Select Set Show Skip Split Step Switch Undo Unlock Watch
Connect Disconnect Read Receive Send Write
Backup Checkpoint Compare Compress Convert ConvertFrom ConvertTo Dismount Edit Expand Export Group
Import Initialize Limit Merge Mount Out Publish Restore Save Sync Unpublish Update
Debug Measure Ping Repair Resolve Test Trace
Approve Assert Build Complete Confirm Deny Deploy Disable Enable Install Invoke Register Request
Restart Resume Start Stop Submit Suspend Uninstall Unregister Wait
Block Grant Protect Revoke Unblock Unprotect
Use
""".split())

UNATTEND_NS = "urn:schemas-microsoft-com:unattend"
PASSES = ("windowsPE", "offlineServicing", "generalize", "specialize", "auditSystem", "auditUser", "oobeSystem")
COMPONENT_ATTRIBUTES = ("name", "processorArchitecture", "publicKeyToken", "language", "versionScope")
ARCHITECTURES = ("x86", "amd64", "arm64", "wow64")
PUBLIC_KEY_TOKEN = "31bf3856ad364e35"

_PAIRS = {")": "(", "]": "[", "}": "{"}


def check_powershell(text: str) -> list[str]:
    """Problems a PowerShell tokenizer would meet in ``text`` (see the module docstring)."""
    problems: list[str] = []
    stack: list[tuple[str, int]] = []
    i, line, n = 0, 1, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            at_line_start = True
            continue
        if c in " \t\r":
            i += 1
            continue
        start_line = line
        if text.startswith("<#", i):
            end = text.find("#>", i + 2)
            if end < 0:
                problems.append(f"line {start_line}: block comment <# is never closed")
                break
            line += text.count("\n", i, end)
            i = end + 2
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith(("@'", '@"'), i) and text[i + 2:i + 3] in ("\n", "\r"):
            quote = text[i + 1]
            m = re.compile(rf"^{re.escape(quote)}@", re.M).search(text, i + 3)
            if m is None:
                problems.append(f"line {start_line}: here-string @{quote} has no closing {quote}@ at a line start")
                break
            line += text.count("\n", i, m.start())
            if quote == '"':
                problems += _drive_variables(text[i + 3:m.start()], start_line + 1)
            i = m.end()
        elif c in ("'", '"'):
            j = i + 1
            while j < n:
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:  # doubled quote: an escaped one
                        j += 2
                        continue
                    break
                if c == '"' and text[j] == "`":
                    j += 2
                    continue
                j += 1
            if j >= n:
                problems.append(f"line {start_line}: string {c}... is never closed")
                break
            if c == '"':
                problems += _drive_variables(text[i + 1:j], start_line)
            line += text.count("\n", i, j)
            i = j + 1
        elif c == "`":
            i += 2  # escape: the next character is literal (a line continuation when it is a newline)
            if i - 1 < n and text[i - 1] == "\n":
                line += 1
        elif c in "([{":
            stack.append((c, line))
            i += 1
        elif c in ")]}":
            if not stack or stack[-1][0] != _PAIRS[c]:
                opened = f" (open {stack[-1][0]} from line {stack[-1][1]})" if stack else ""
                problems.append(f"line {line}: {c} closes nothing{opened}")
            else:
                stack.pop()
            i += 1
        else:
            i += 1
        at_line_start = False
    del at_line_start
    for opener, where in stack:
        problems.append(f"line {where}: {opener} is never closed")
    problems += _functions(text)
    return problems


def _drive_variables(body: str, first_line: int) -> list[str]:
    out = []
    for m in re.finditer(r"(?<!`)\$([A-Za-z_][A-Za-z0-9_]*):(?![A-Za-z_{])", body):
        if m.group(1).lower() in ("env", "global", "local", "script", "private", "using", "variable", "function"):
            continue
        where = first_line + body.count("\n", 0, m.start())
        out.append(f"line {where}: \"${m.group(1)}:\" reads as a drive-qualified variable; write ${{{m.group(1)}}}:")
    return out


def _functions(text: str) -> list[str]:
    out = []
    code = _strip_comments_and_strings(text)
    for m in re.finditer(r"(?im)^\s*function\s+([A-Za-z]+)-([A-Za-z0-9]+)", code):
        verb = m.group(1)
        if verb.capitalize() not in APPROVED_VERBS and verb not in APPROVED_VERBS:
            out.append(f"line {code.count(chr(10), 0, m.start()) + 1}: function {verb}-{m.group(2)}: "
                       f"{verb} is not an approved verb (Get-Verb)")
    for m in re.finditer(r"(?i)\[CmdletBinding\([^)]*\)\]", code):
        after = code[m.end():m.end() + 200]
        if not re.match(r"\s*param\s*\(", after, re.I):
            out.append(f"line {code.count(chr(10), 0, m.start()) + 1}: [CmdletBinding()] without a param() block "
                       "right after it")
    return out


# Comments and strings in one left-to-right pass, as a tokenizer meets them: an apostrophe in
# a comment ("Microsoft's") must not open a string, and a '#' inside a string is no comment.
_BLANKED = re.compile(r"<#.*?#>"
                      r"|^@(['\"])\r?\n.*?^\1@"
                      r"|'(?:[^']|'')*'"
                      r"|\"(?:[^\"`]|`.|\"\")*\""
                      r"|#[^\n]*", re.S | re.M)


def _strip_comments_and_strings(text: str) -> str:
    """The text with comments and string bodies blanked (newlines kept, for line numbers)."""
    return _BLANKED.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def check_cmd(text: str) -> list[str]:
    """Problems in a cmd.exe batch file (see the module docstring)."""
    problems = []
    if "\n" in text.replace("\r\n", ""):
        problems.append("line ends are not CRLF: cmd.exe can miss labels in a batch file with LF line ends")
    lines = text.replace("\r\n", "\n").split("\n")
    labels = {"eof"}
    for raw in lines:
        s = raw.strip()
        if s.startswith(":") and not s.startswith("::"):
            labels.add(s[1:].split()[0].lower() if s[1:].split() else "")
    depth = 0
    for number, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or s.lower().startswith(("rem ", "rem\t")) or s.lower() == "rem" or s.startswith("::"):
            continue
        if s.count('"') % 2:
            problems.append(f"line {number}: unpaired double quote")
        unquoted = re.sub(r'"[^"]*"', "", s)
        for m in re.finditer(r"(?i)\bgoto\s+:?([^\s&|)]+)", unquoted):
            if m.group(1).lower() not in labels:
                problems.append(f"line {number}: goto {m.group(1)}: no label :{m.group(1)}")
        for ch in re.sub(r"\^.", "", unquoted):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    problems.append(f"line {number}: ) closes no block")
                    depth = 0
    if depth > 0:
        problems.append(f"{depth} block(s) opened with ( are never closed")
    return problems


def check_unattend(xml_text: str) -> list[str]:
    """Problems in an answer file (see the module docstring)."""
    try:
        root = ET.fromstring(xml_text.encode("utf-8") if isinstance(xml_text, str) else xml_text)
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    problems = []
    ns = f"{{{UNATTEND_NS}}}"
    if root.tag != f"{ns}unattend":
        problems.append(f"root element is {root.tag}, not unattend in namespace {UNATTEND_NS}")
    seen: set[str] = set()
    for settings in root.iter(f"{ns}settings"):
        name = settings.get("pass")
        if name not in PASSES:
            problems.append(f"settings pass={name!r} is not one of {', '.join(PASSES)}")
        elif name in seen:
            problems.append(f"settings pass={name} appears twice")
        seen.add(name or "")
        for comp in settings.findall(f"{ns}component"):
            label = comp.get("name") or "(no name)"
            for attr in COMPONENT_ATTRIBUTES:
                if not comp.get(attr):
                    problems.append(f"component {label} in {name}: no {attr} attribute")
            arch = comp.get("processorArchitecture")
            if arch and arch not in ARCHITECTURES:
                problems.append(f"component {label}: processorArchitecture {arch!r} is not one of "
                                f"{', '.join(ARCHITECTURES)}")
            token = comp.get("publicKeyToken")
            if token and token != PUBLIC_KEY_TOKEN:
                problems.append(f"component {label}: publicKeyToken {token} is not Microsoft's {PUBLIC_KEY_TOKEN}")
    for plain in root.iter(f"{ns}PlainText"):
        if (plain.text or "").strip().lower() == "true":
            problems.append("a password is stored in plain text (PlainText true)")
    return problems


_LINUX_PATH = re.compile(r"(?<![\w:/.])/(?:srv|etc|usr|var|tmp|home|root|opt|boot)/")
_WINDOWS_PATH = re.compile(r"(?i)(?<![\w])[A-Z]:\\|\\\\[\w.-]+\\[\w$.-]+|%SystemRoot%|%windir%")


def leaked_paths(text: str, family: str) -> list[str]:
    """Paths of the other operating system in a file for ``family`` ('windows' or 'linux');
    URLs are not paths."""
    without_urls = re.sub(r"\b[a-z][a-z0-9+.-]*://\S+", "", text)
    pattern = _LINUX_PATH if family == "windows" else _WINDOWS_PATH
    out = []
    for number, line in enumerate(without_urls.splitlines(), 1):
        for m in pattern.finditer(line):
            out.append(f"line {number}: {m.group(0)!r} is a {'Linux' if family == 'windows' else 'Windows'} path")
    return out


# --- every generated file at once, for a page or a report ------------------------------------

# What each text check looks at, in the words a page shows beside its result.
CHECKED_FOR = {
    "check_powershell": "brackets, strings, here-strings and block comments closed; approved function verbs; "
                        "param() after [CmdletBinding()]; no \"$name:\" in double quotes",
    "check_cmd": "CRLF line ends; every goto has its label; ( ) of blocks balanced; double quotes paired per line",
    "check_unattend": "well-formed XML; the unattend namespace; known passes, each once; the five attributes of "
                      "every component; no plain-text password",
    "leaked_paths windows": "no Linux path (/srv/, /etc/, ...) outside URLs",
    "leaked_paths linux": "no Windows path (C:\\, \\\\server\\share, %SystemRoot%) outside URLs",
}


@dataclass(frozen=True)
class TextCheck:
    """One text check of one file: what it looked for and the problems it found."""

    path: str
    check: str  # a key of CHECKED_FOR, or '' when no check knows this kind of file
    problems: tuple[str, ...]

    @property
    def result(self) -> str:
        if not self.check:
            return "not checked: no text check for this kind of file"
        return "no problem found" if not self.problems else f"{len(self.problems)} problem(s): " + "; ".join(self.problems)


@dataclass(frozen=True)
class TextChecks:
    """The text checks of a set of files. Renders as a table in a notebook. A file that no
    check knows is listed as not checked, never as clean."""

    checks: tuple[TextCheck, ...]

    @property
    def problems(self) -> list[str]:
        return [f"{c.path}: {p}" for c in self.checks for p in c.problems]

    @property
    def unchecked(self) -> list[str]:
        return [c.path for c in self.checks if not c.check]

    def rows(self) -> list[list[str]]:
        return [[c.path, c.check or "-", CHECKED_FOR.get(c.check, ""), c.result] for c in self.checks]

    def __str__(self) -> str:
        head = "text checks (not PowerShell, cmd.exe or Windows Setup)"
        return "\n".join([head, *("  ".join(r) for r in self.rows())])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th>{h}</th>" for h in ("file", "text check", "looks for", "result"))
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in self.rows())
        found = len(self.problems)
        summary = (f"{found} problem(s) found" if found else "no problem found") + \
            (f"; {len(self.unchecked)} file(s) not checked" if self.unchecked else "")
        return (f"<p><b>Text checks: {html.escape(summary)}</b> (what a tokenizer sees; not PowerShell, "
                "cmd.exe or Windows Setup)</p>"
                f"<table class='hftinfra-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _family_checks(name: str) -> list[tuple[str, object]]:
    lower = name.lower()
    if lower.endswith(".ps1"):
        return [("check_powershell", check_powershell), ("leaked_paths windows", lambda t: leaked_paths(t, "windows"))]
    if lower.endswith((".cmd", ".bat")):
        return [("check_cmd", check_cmd), ("leaked_paths windows", lambda t: leaked_paths(t, "windows"))]
    if lower.endswith(".xml"):
        return [("check_unattend", check_unattend), ("leaked_paths windows", lambda t: leaked_paths(t, "windows"))]
    if lower.endswith((".ks", ".conf", ".service", ".sh")):
        return [("leaked_paths linux", lambda t: leaked_paths(t, "linux"))]
    return []


def check_files(files: dict[str, str | bytes]) -> TextChecks:
    """Run the text checks that fit each file (by its name: .ps1, .cmd, .xml for Windows;
    .ks, .conf, .service, .sh for Linux) over ``files`` (path -> text or bytes)."""
    out: list[TextCheck] = []
    for path, content in files.items():
        text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
        chosen = _family_checks(path)
        if not chosen:
            out.append(TextCheck(path, "", ()))
        for name, fn in chosen:
            out.append(TextCheck(path, name, tuple(fn(text))))
    return TextChecks(tuple(out))


__all__ = ["APPROVED_VERBS", "CHECKED_FOR", "PASSES", "TextCheck", "TextChecks", "check_cmd", "check_files",
           "check_powershell", "check_unattend", "leaked_paths"]
