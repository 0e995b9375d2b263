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


# --- standalone PowerShell scripts (scripts/powershell): help, parameters, changes -------------
#
# The files under scripts/powershell are scripts a person runs on a Windows machine, not files a
# generator writes, so they are held to more rules: comment-based help for every parameter
# (about_Comment_Based_Help), declared and typed parameters, Set-StrictMode and
# $ErrorActionPreference = 'Stop', and every change to the machine behind ShouldProcess so that
# -WhatIf shows it without doing it (about_Functions_CmdletBindingAttribute, SupportsShouldProcess).
# These are still text checks: what a tokenizer sees, not what PowerShell would do.


def _mask(text: str) -> tuple[str, list[tuple[int, int]]]:
    """``text`` with comments and string bodies replaced by spaces (newlines kept, so offsets and
    line numbers stay), and the spans of expandable ("..." and @"..."@) string bodies, whose
    ``$name`` references PowerShell does read."""
    code, expandable, _ = _tokenize(text)
    return code, expandable


def _tokenize(text: str) -> tuple[str, list[tuple[int, int]], list[tuple[int, int]]]:
    """One left-to-right pass with the tokenizing rules of :func:`check_powershell` (so a
    here-string that starts mid-line, ``$x = @'``, is a here-string here too): the masked code,
    the expandable string bodies, and the comment spans."""
    out = list(text)
    expandable: list[tuple[int, int]] = []
    comments: list[tuple[int, int]] = []
    i, n = 0, len(text)

    def blank(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("<#", i):
            end = text.find("#>", i + 2)
            end = n if end < 0 else end + 2
            comments.append((i, end))
            blank(i, end)
            i = end
        elif c == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            comments.append((i, end))
            blank(i, end)
            i = end
        elif text.startswith(("@'", '@"'), i) and text[i + 2:i + 3] in ("\n", "\r"):
            quote = text[i + 1]
            m = re.compile(rf"^{re.escape(quote)}@", re.M).search(text, i + 3)
            end = n if m is None else m.end()
            if quote == '"':
                expandable.append((i + 2, end))
            blank(i, end)
            i = end
        elif c in ("'", '"'):
            j = i + 1
            while j < n:
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        j += 2
                        continue
                    break
                if c == '"' and text[j] == "`":
                    j += 2
                    continue
                j += 1
            end = min(j + 1, n)
            if c == '"':
                expandable.append((i + 1, end - 1))
            blank(i, end)
            i = end
        elif c == "`":
            i += 2
        else:
            i += 1
    return "".join(out), expandable, comments


def _unreadable(text: str) -> list[str]:
    """A one-line problem when ``text`` does not tokenize (a string, here-string or block comment
    that never ends): past that point code cannot be told from text, so the script checks would
    judge garbage. Empty when it tokenizes."""
    for problem in check_powershell(text):
        if "never closed" in problem and ("string" in problem or "comment" in problem) or "here-string" in problem:
            return [f"not checked: {problem}, so the code after it cannot be told from text"]
    return []


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _matching(code: str, open_at: int) -> int:
    """Index of the bracket closing the one at ``open_at`` in masked code, or -1."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = [pairs[code[open_at]]]
    for k in range(open_at + 1, len(code)):
        ch = code[k]
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch in ")]}":
            if not stack or ch != stack[-1]:
                return -1
            stack.pop()
            if not stack:
                return k
    return -1


def _brace_depths(code: str) -> list[int]:
    """The depth of { } nesting at every offset of masked code."""
    depths, depth = [], 0
    for ch in code:
        if ch == "}":
            depth = max(0, depth - 1)
        depths.append(depth)
        if ch == "{":
            depth += 1
    return depths


@dataclass(frozen=True)
class ScriptParameter:
    """A parameter of a script's top-level ``param()`` block, as written."""

    name: str
    type: str  # '' when the parameter has no type
    line: int
    help: str = ""  # the text of its .PARAMETER section, '' when there is none


def _param_block(code: str) -> tuple[int, int] | None:
    """(start, end) of the script's own param( ... ): the first one outside every { } block."""
    depths = _brace_depths(code)
    for m in re.finditer(r"(?i)(?<![\w-])param\s*\(", code):
        if depths[m.start()] == 0:
            open_at = m.end() - 1
            close = _matching(code, open_at)
            return (open_at, close) if close > 0 else None
    return None


def _split_top_level(code: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the comma-separated items between ``start`` and ``end`` at bracket depth 0."""
    items, depth, item_start = [], 0, start
    for k in range(start, end):
        ch = code[k]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append((item_start, k))
            item_start = k + 1
    items.append((item_start, end))
    return [(a, b) for a, b in items if code[a:b].strip()]


# about_Comment_Based_Help, "Comment-based help keywords"
HELP_KEYWORDS = ("SYNOPSIS", "DESCRIPTION", "PARAMETER", "EXAMPLE", "INPUTS", "OUTPUTS", "NOTES", "LINK",
                 "COMPONENT", "ROLE", "FUNCTIONALITY", "FORWARDHELPTARGETNAME", "FORWARDHELPCATEGORY",
                 "REMOTEHELPRUNSPACE", "EXTERNALHELP")


def _help_block(text: str) -> tuple[int, str] | None:
    """(line, body) of the script's comment-based help: the first <# #> block holding .SYNOPSIS."""
    for m in re.finditer(r"<#(.*?)#>", text, re.S):
        if re.search(r"(?im)^\s*\.SYNOPSIS\b", m.group(1)):
            return _line_of(text, m.start()), m.group(1)
    return None


def _help_sections(body: str) -> list[tuple[str, str, str]]:
    """(keyword, argument, text) for each ``.KEYWORD [argument]`` section of a help block."""
    heads = list(re.finditer(rf"(?im)^[ \t]*\.({'|'.join(HELP_KEYWORDS)})\b[ \t]*([^\r\n]*)$", body))
    out = []
    for k, m in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else len(body)
        out.append((m.group(1).upper(), m.group(2).strip(), body[m.end():end].strip()))
    return out


def script_parameters(text: str) -> list[ScriptParameter]:
    """The parameters of the script-level ``param()`` block, with their types and help text."""
    code, _ = _mask(text)
    block = _param_block(code)
    if block is None:
        return []
    help_text = {}
    found = _help_block(text)
    if found:
        help_text = {arg.lower(): body for key, arg, body in _help_sections(found[1]) if key == "PARAMETER"}
    params = []
    for a, b in _split_top_level(code, block[0] + 1, block[1]):
        segment = code[a:b]
        depth, name_at = 0, -1
        for k, ch in enumerate(segment):
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            elif ch == "$" and depth == 0:
                name_at = k
                break
        if name_at < 0:
            continue
        m = re.match(r"\$([A-Za-z_]\w*)", segment[name_at:])
        if not m:
            continue
        # the type is the bracket right before the name that is not an attribute: [string],
        # [string[]], [System.IO.FileInfo]; attributes have parentheses ([Parameter()], [ValidateSet()])
        tail = re.search(r"\[([A-Za-z_][\w.]*(?:\[\])?)\]\s*$", segment[:name_at])
        ptype = tail.group(1) if tail else ""
        params.append(ScriptParameter(m.group(1), ptype, _line_of(text, a + name_at),
                                      help_text.get(m.group(1).lower(), "")))
    return params


def check_script_help(text: str) -> list[str]:
    """Comment-based help before the script's param() block with a non-empty .SYNOPSIS,
    .DESCRIPTION, at least one .EXAMPLE, and a .PARAMETER section for every declared parameter
    (and none for a parameter that does not exist)."""
    if skipped := _unreadable(text):
        return skipped
    found = _help_block(text)
    if found is None:
        return ["no comment-based help: no <# #> block with .SYNOPSIS (about_Comment_Based_Help)"]
    line, body = found
    problems = []
    code, _ = _mask(text)
    block = _param_block(code)
    if block is not None and _line_of(text, block[0]) < line:
        problems.append(f"line {line}: the help block comes after the script's param() block; "
                        "PowerShell reads script help only before it (or at the end of the file)")
    sections = _help_sections(body)
    keys = [key for key, _, _ in sections]
    for key in ("SYNOPSIS", "DESCRIPTION", "EXAMPLE"):
        if key not in keys:
            problems.append(f"line {line}: help has no .{key} section")
    for key, arg, content in sections:
        if not content:
            label = f".{key} {arg}".strip()
            problems.append(f"line {line}: help section {label} is empty")
    declared = {p.name.lower(): p for p in script_parameters(text)}
    documented = {arg.lower(): arg for key, arg, _ in sections if key == "PARAMETER"}
    for name, p in declared.items():
        if name not in documented:
            problems.append(f"line {p.line}: parameter ${p.name} has no .PARAMETER {p.name} help section")
    for name, arg in documented.items():
        if name not in declared:
            problems.append(f"line {line}: help documents .PARAMETER {arg}, which the param() block does not declare")
    return problems


def check_script_conventions(text: str) -> list[str]:
    """[CmdletBinding()] and param() at the top of the script, every parameter typed,
    ``Set-StrictMode -Version Latest`` and ``$ErrorActionPreference = 'Stop'`` in the code."""
    if skipped := _unreadable(text):
        return skipped
    code, _ = _mask(text)
    without_comments = _without_comments(text)
    problems = []
    block = _param_block(code)
    if block is None:
        problems.append("no script-level param() block")
    else:
        before = code[:block[0]]
        if not re.search(r"(?i)\[CmdletBinding\([^)]*\)\]\s*(?:\[\w+\([^\]]*\)\]\s*)*param\s*$", before):
            problems.append(f"line {_line_of(text, block[0])}: the script's param() block is not preceded by "
                            "[CmdletBinding()], so common parameters (-WhatIf, -Verbose) do not exist")
        for p in script_parameters(text):
            if not p.type:
                problems.append(f"line {p.line}: parameter ${p.name} has no type")
    if not re.search(r"(?im)^\s*Set-StrictMode\s+-Version\s+Latest\b", code):
        problems.append("no Set-StrictMode -Version Latest: reading an unset variable would not stop the script")
    if not re.search(r"(?im)^\s*\$ErrorActionPreference\s*=\s*['\"]Stop['\"]", without_comments):
        problems.append("no $ErrorActionPreference = 'Stop': a failing cmdlet would let the script go on")
    return problems


def _without_comments(text: str) -> str:
    """``text`` with only comments blanked (strings kept), newlines kept."""
    _, _, comments = _tokenize(text)
    out = list(text)
    for a, b in comments:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


# Variables PowerShell sets itself (about_Automatic_Variables, about_Preference_Variables).
AUTOMATIC_VARIABLES = frozenset(v.lower() for v in """
_ args ConsoleFileName EnabledExperimentalFeatures Error Event EventArgs EventSubscriber ExecutionContext
false foreach HOME Host input IsCoreCLR IsLinux IsMacOS IsWindows LASTEXITCODE Matches MyInvocation
NestedPromptLevel null PID PROFILE PSBoundParameters PSCmdlet PSCommandPath PSCulture PSDebugContext
PSEdition PSHOME PSItem PSScriptRoot PSSenderInfo PSUICulture PSVersionTable PWD Sender ShellId
StackTrace switch this true
ConfirmPreference DebugPreference ErrorActionPreference ErrorView FormatEnumerationLimit
InformationPreference LogCommandHealthEvent MaximumHistoryCount OFS OutputEncoding ProgressPreference
PSDefaultParameterValues PSEmailServer PSModuleAutoLoadingPreference PSNativeCommandUseErrorActionPreference
PSSessionApplicationName PSSessionConfigurationName PSSessionOption PSStyle Transcript VerbosePreference
WarningPreference WhatIfPreference
""".split())

_VARIABLE = re.compile(r"(?<![`\w])\$(?:(global|script|local|private|using):)?([A-Za-z_]\w*)(?!\w*:)"
                       r"|(?<![`\w])\$\{([^}:]+)\}")
_SPLAT = re.compile(r"(?<![\w@`$])@([A-Za-z_]\w*)")


def _variable_reads(text: str) -> list[tuple[str, int]]:
    """(name, offset) of every variable the script reads, in code and in expandable strings."""
    code, expandable = _mask(text)
    reads = []
    for source, offset in [(code, 0), *((text[a:b], a) for a, b in expandable)]:
        for m in _VARIABLE.finditer(source):
            name = m.group(2) or m.group(3)
            reads.append((name, offset + m.start()))
    for m in _SPLAT.finditer(code):
        reads.append((m.group(1), m.start()))
    return reads


def _assigned_variables(code: str) -> set[str]:
    names: set[str] = set()
    for m in re.finditer(r"\$(?:(?:global|script|local|private):)?([A-Za-z_]\w*)\s*(?:[-+*/%]?=(?!=)|\+\+|--)", code):
        names.add(m.group(1).lower())
    for m in re.finditer(r"(?i)\bforeach\s*\(\s*\$([A-Za-z_]\w*)\s+in\b", code):
        names.add(m.group(1).lower())
    for m in re.finditer(r"(?i)(?<![\w-])param\s*\(", code):
        close = _matching(code, m.end() - 1)
        if close > 0:
            names.update(v.lower() for v in re.findall(r"\$([A-Za-z_]\w*)", code[m.end():close]))
    return names


def check_undeclared_variables(text: str) -> list[str]:
    """Variables read but never assigned, declared in a param() block, or set by PowerShell
    itself: a parameter the script uses but forgot to declare (or misspelt). Under
    ``Set-StrictMode -Version Latest`` PowerShell stops at such a read when it runs; this finds it
    before. Scopes are not modelled: a name assigned anywhere in the file counts as assigned."""
    if skipped := _unreadable(text):
        return skipped
    code, _ = _mask(text)
    assigned = _assigned_variables(code) | AUTOMATIC_VARIABLES
    problems, seen = [], set()
    for name, offset in _variable_reads(text):
        key = name.lower()
        if key in assigned or key in seen:
            continue
        seen.add(key)
        problems.append(f"line {_line_of(text, offset)}: ${name} is read but never assigned, not declared in "
                        "a param() block, and not an automatic variable")
    return problems


# Commands that change the machine. Cmdlets by verb, minus those that only touch the session;
# native tools by the arguments that change something (powercfg command-line options, w32tm,
# reg, bcdedit, net, netsh, sc).
CHANGING_VERBS = ("Set", "New", "Remove", "Add", "Clear", "Enable", "Disable", "Restart", "Start", "Stop",
                  "Rename", "Reset", "Install", "Uninstall", "Register", "Unregister", "Move", "Copy", "Out",
                  "Export", "Suspend", "Resume", "Update", "Write")
SESSION_ONLY_CMDLETS = frozenset(c.lower() for c in """
Set-StrictMode Set-Variable Set-Location Set-PSDebug New-Object New-TimeSpan New-Variable New-Guid
New-CimSession Start-Sleep Add-Member Add-Type Clear-Host Clear-Variable Remove-Variable Out-String
Out-Null Out-Host Out-Default Start-Transcript Stop-Transcript Export-ModuleMember Write-Host
Write-Output Write-Verbose Write-Warning Write-Error Write-Debug Write-Information Write-Progress
Update-TypeData Update-FormatData
""".split())
_NATIVE_CHANGES = {
    "powercfg": r"[/-](?:set\w*|s|x|change\w*|duplicatescheme|delete\w*|d|import|restoredefaultschemes|h|hibernate)\b",
    "w32tm": r"/(?:config|resync|register|unregister)\b",
    "reg": r"(?:add|delete|import|restore|copy|load|unload)\b",
    "bcdedit": r"/(?:set|deletevalue|delete|create|copy|import|default|timeout)\b",
    "net": r"(?:start|stop|pause|continue|user|share)\b",
    "netsh": r"(?:\S+\s+)*?(?:set|add|delete|reset)\b",
    "sc": r"(?:config|start|stop|create|delete|failure)\b",
}
_NATIVE = re.compile(r"(?im)(?<![\w$.\-\\/])(?:&\s*)?(" + "|".join(_NATIVE_CHANGES) + r")(?:\.exe)?[ \t]+([^\r\n|;]*)")
_CMDLET = re.compile(r"(?<![\w$.\-])(" + "|".join(sorted(set(CHANGING_VERBS))) + r")-([A-Za-z][A-Za-z0-9]*)\b")


@dataclass(frozen=True)
class StateChange:
    """A command in a script that changes the machine, and whether ShouldProcess guards it."""

    line: int
    command: str
    guarded: bool


def _guard_spans(code: str) -> list[tuple[int, int]]:
    """Blocks of ``if (... ShouldProcess(...)) { ... }`` (not negated) in masked code."""
    spans = []
    for m in re.finditer(r"(?i)\b(?:if|elseif)\s*\(", code):
        close = _matching(code, m.end() - 1)
        if close < 0:
            continue
        condition = code[m.end():close]
        if not re.search(r"(?i)\.ShouldProcess\s*\(", condition):
            continue
        if re.search(r"(?i)(-not\b|!)\s*\(?\s*\$\w+\.ShouldProcess", condition):
            continue
        brace = re.match(r"\s*\{", code[close + 1:])
        if brace:
            open_at = close + 1 + brace.end() - 1
            end = _matching(code, open_at)
            if end > 0:
                spans.append((open_at, end))
    return spans


def _functions_in(code: str) -> list[tuple[str, int, int]]:
    """(name, body start, body end) of each function defined in masked code."""
    out = []
    for m in re.finditer(r"(?im)^\s*function\s+([\w-]+)\s*\{", code):
        end = _matching(code, m.end() - 1)
        out.append((m.group(1), m.end() - 1, end if end > 0 else len(code)))
    return out


def state_changes(text: str) -> list[StateChange]:
    """Every command in ``text`` that changes the machine, by line, and whether it sits inside the
    block of an ``if`` whose condition calls ``ShouldProcess``. Calls to functions the script
    defines itself are not listed (their bodies are); .NET calls and commands built in strings are
    not seen at all."""
    code, _ = _mask(text)
    local = {name.lower() for name, _, _ in _functions_in(code)}
    guards = _guard_spans(code)
    out = []
    hits: list[tuple[int, str]] = []
    for m in _CMDLET.finditer(code):
        name = f"{m.group(1)}-{m.group(2)}"
        line_start = code.rfind("\n", 0, m.start()) + 1
        if re.match(r"(?i)\s*function\s*$", code[line_start:m.start()]):
            continue
        if name.lower() in SESSION_ONLY_CMDLETS or name.lower() in local:
            continue
        hits.append((m.start(), name))
    for m in _NATIVE.finditer(code):
        tool, args = m.group(1).lower(), m.group(2)
        if re.match(_NATIVE_CHANGES[tool], args.strip(), re.I):
            hits.append((m.start(1), " ".join(text[m.start(1):m.end(2)].split())))
    for pos, name in sorted(hits):
        guarded = any(a < pos < b for a, b in guards)
        out.append(StateChange(_line_of(text, pos), name, guarded))
    return out


def check_should_process(text: str) -> list[str]:
    """Every change (see :func:`state_changes`) inside an ``if ($PSCmdlet.ShouldProcess(...))``
    block; ``SupportsShouldProcess`` on the script's [CmdletBinding()] and on every function that
    calls ShouldProcess, so -WhatIf exists and reaches it; ``#Requires -RunAsAdministrator`` in a
    script that changes the machine."""
    if skipped := _unreadable(text):
        return skipped
    code, _ = _mask(text)
    problems = []
    changes = state_changes(text)
    for change in changes:
        if not change.guarded:
            problems.append(f"line {change.line}: {change.command} changes the machine outside a "
                            "$PSCmdlet.ShouldProcess() block, so -WhatIf would not stop it")
    depths = _brace_depths(code)
    uses_should_process = re.search(r"(?i)\.ShouldProcess\s*\(", code)
    if changes or uses_should_process:
        top = [m for m in re.finditer(r"(?i)\[CmdletBinding\(([^)]*)\)\]", code) if depths[m.start()] == 0]
        if not top or not re.search(r"(?i)\bSupportsShouldProcess\b", top[0].group(1)):
            problems.append("the script's [CmdletBinding()] does not declare SupportsShouldProcess: "
                            "no -WhatIf or -Confirm")
    for name, start, end in _functions_in(code):
        body = code[start:end]
        if re.search(r"(?i)\.ShouldProcess\s*\(", body):
            binding = re.match(r"\{\s*\[CmdletBinding\(([^)]*)\)\]", body)
            if not binding or not re.search(r"(?i)\bSupportsShouldProcess\b", binding.group(1)):
                problems.append(f"line {_line_of(text, start)}: function {name} calls ShouldProcess without "
                                "[CmdletBinding(SupportsShouldProcess)]")
    if changes and not re.search(r"(?im)^#Requires\s+.*-RunAsAdministrator\b", text):
        problems.append("the script changes the machine but has no #Requires -RunAsAdministrator")
    return problems


@dataclass(frozen=True)
class ScriptSummary:
    """What a script's text says about itself: its synopsis, parameters and changes."""

    synopsis: str
    parameters: tuple[ScriptParameter, ...]
    changes: tuple[StateChange, ...]
    lines: int

    @property
    def signature(self) -> str:
        return ", ".join(f"-{p.name} [{p.type or '?'}]" for p in self.parameters)

    @property
    def changes_text(self) -> str:
        if not self.changes:
            return "none found (read-only)"
        guarded = sum(c.guarded for c in self.changes)
        return f"{len(self.changes)} command(s), {guarded} inside ShouldProcess"


def describe_script(text: str) -> ScriptSummary:
    """The synopsis from the help block, the script's parameters and its state changes."""
    found = _help_block(text)
    synopsis = ""
    if found:
        synopsis = next((" ".join(body.split()) for key, _, body in _help_sections(found[1]) if key == "SYNOPSIS"), "")
    return ScriptSummary(synopsis, tuple(script_parameters(text)), tuple(state_changes(text)), text.count("\n"))


def check_script(text: str) -> list[str]:
    """Every check for a standalone script: :func:`check_powershell` and the script checks above
    (which are skipped, with one line saying so, when the text does not tokenize)."""
    if skipped := _unreadable(text):
        return check_powershell(text) + skipped
    return (check_powershell(text) + check_script_help(text) + check_script_conventions(text)
            + check_undeclared_variables(text) + check_should_process(text))


CHECKED_FOR.update({
    "check_script_help": "comment-based help before param(): .SYNOPSIS, .DESCRIPTION, .EXAMPLE, and a "
                         ".PARAMETER section for each declared parameter, none for an undeclared one",
    "check_script_conventions": "[CmdletBinding()] param() at the top, every parameter typed, "
                                "Set-StrictMode -Version Latest, $ErrorActionPreference = 'Stop'",
    "check_undeclared_variables": "no variable read that is never assigned, declared in a param() block, "
                                  "or automatic",
    "check_should_process": "every change (Set-/New-/Remove-... cmdlets, powercfg /set..., w32tm /config, "
                            "reg add ...) inside if ($PSCmdlet.ShouldProcess(...)); SupportsShouldProcess; "
                            "#Requires -RunAsAdministrator",
})

_SCRIPT_CHECKS = (
    ("check_powershell", check_powershell),
    ("check_script_help", check_script_help),
    ("check_script_conventions", check_script_conventions),
    ("check_undeclared_variables", check_undeclared_variables),
    ("check_should_process", check_should_process),
    ("leaked_paths windows", lambda t: leaked_paths(t, "windows")),
)


def check_scripts(files: dict[str, str | bytes]) -> TextChecks:
    """Every script check over standalone ``.ps1`` scripts (path -> text or bytes), as one table.
    A file that is not a .ps1 is listed as not checked."""
    out: list[TextCheck] = []
    for path, content in files.items():
        text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
        if not path.lower().endswith(".ps1"):
            out.append(TextCheck(path, "", ()))
            continue
        for name, fn in _SCRIPT_CHECKS:
            out.append(TextCheck(path, name, tuple(fn(text))))
    return TextChecks(tuple(out))


__all__ = ["APPROVED_VERBS", "AUTOMATIC_VARIABLES", "CHECKED_FOR", "PASSES", "ScriptParameter", "ScriptSummary", "StateChange",
           "TextCheck", "TextChecks", "check_cmd", "check_files", "check_powershell", "check_script",
           "check_script_conventions", "check_script_help", "check_scripts", "check_should_process",
           "check_undeclared_variables", "check_unattend", "describe_script", "leaked_paths", "script_parameters", "state_changes"]
