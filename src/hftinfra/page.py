"""What the top of every notebook calls: open the host, set up offline figures, say which
host the page ran on.

    import os
    HFTINFRA_HOST = os.environ.get("HFTINFRA_HOST", "live")   # the parameters cell

    from hftinfra.page import open_page
    host = open_page(HFTINFRA_HOST)

``open_page`` shows a banner (live or snapshot, kernel, CPU model and count, virtualisation,
when). On a virtual machine the banner is orange and says the figures are not those of a
trading server. A bad ``HFTINFRA_HOST`` stops the page with one line, no traceback.
"""

from __future__ import annotations

import html
import os
import shutil
import sys
from pathlib import Path

from hftinfra.host import Host, HostError, Unread, open_host
from hftinfra.identity import HostIdentity, read_identity

ENV = "HFTINFRA_HOST"


class PageError(Exception):
    """A page cannot run (bad host, missing reference host). IPython shows it as one line."""

    def _render_traceback_(self) -> list[str]:
        # IPython prints this instead of a traceback; nbclient still sees the cell fail.
        return [f"\x1b[31m{self.__class__.__name__}: {self}\x1b[0m"]


def repo_root() -> Path | None:
    """The checkout this library runs from (editable install), or one found above the cwd."""
    candidates = [Path(__file__).resolve().parents[2]]
    try:
        cwd = Path.cwd().resolve()
        candidates += [cwd, *cwd.parents]
    except FileNotFoundError:  # the folder this kernel started in was removed meanwhile
        pass
    env = os.environ.get("HFTINFRA_REPO")
    if env:
        candidates.insert(0, Path(env))
    for cand in candidates:
        if (cand / "_toc.yml").is_file() and (cand / "tests").is_dir():
            return cand
    return None


def _display(obj) -> None:
    try:
        from IPython.display import display
    except ImportError:  # outside IPython (a script): text is enough
        print(obj)
        return
    display(obj)


def describe_source(host: Host) -> str:
    """'live host', or the snapshot path shortened to the repository when inside it."""
    if host.is_live:
        return "live host"
    path = Path(host.source)
    root = repo_root()
    if root is not None:
        try:
            return f"snapshot {path.resolve().relative_to(root)}"
        except ValueError:
            pass
    return f"snapshot {host.source}"


class Banner:
    """Which host a page ran on. Renders as HTML in the book and as one line in text."""

    def __init__(self, identity: HostIdentity, where: str):
        self.identity = identity
        self.where = where

    @property
    def kind(self) -> str:
        virt = self.identity.virtualization.detected
        if isinstance(virt, Unread):
            return "unknown"
        if virt:
            return "vm"
        return "live" if self.identity.is_live else "snapshot"

    @property
    def headline(self) -> str:
        ident = self.identity
        virt = ident.virtualization.detected
        verb = "Ran on" if ident.is_live else "Rendered from a snapshot of"
        if isinstance(virt, Unread):
            return (f"{verb} a host whose virtualisation is unknown — do not take these figures "
                    "for a trading server's until you know it is bare metal")
        if virt:
            kind = ident.virtualization.kind
            return (f"{verb} a virtual machine{f' ({kind})' if kind else ''} — figures are not those "
                    "of a trading server")
        return f"{verb} bare metal"

    def facts(self) -> list[tuple[str, str]]:
        ident = self.identity
        cpus = ident.cpus_online
        return [
            ("host", f"{self.where} · {ident.hostname}"),
            ("OS", str(ident.os_name)),
            ("kernel", str(ident.kernel)),
            ("CPU", f"{ident.cpu_model} · {cpus if isinstance(cpus, Unread) else f'{cpus} online'}"),
            ("virtualisation", str(ident.virtualization)),
            ("when", str(ident.when)),
        ]

    def __str__(self) -> str:
        return f"{self.headline}. " + " · ".join(f"{k}: {v}" for k, v in self.facts())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colours = {"vm": ("#e8710a", "rgba(232,113,10,.12)"), "unknown": ("#b06000", "rgba(176,96,0,.10)"),
                   "snapshot": ("#7b1fa2", "rgba(123,31,162,.08)"), "live": ("#1a73e8", "rgba(26,115,232,.08)")}
        accent, bg = colours[self.kind]
        facts = " · ".join(f"<span><b>{html.escape(k)}</b> {html.escape(v)}</span>" for k, v in self.facts())
        # Inline style as well as the book's CSS class, so the banner reads the same in JupyterLab.
        return (f'<div class="hftinfra-banner hftinfra-banner--{self.kind}" role="note" '
                f'style="border-left:6px solid {accent};background:{bg};padding:.5em .9em;border-radius:4px">'
                f"<strong>{html.escape(self.headline)}</strong>{facts}</div>")


def banner(host: Host) -> Banner:
    return Banner(read_identity(host), describe_source(host))


def _resolve_spec(spec: str | None) -> str | None:
    if spec is None:
        spec = os.environ.get(ENV)
    if spec in (None, "", "live"):
        return None
    return spec


def _without_path(message: str, spec: str) -> str:
    """HostError messages start with the path, which the caller already names."""
    prefix = f"{Path(spec).expanduser()}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def open_page(spec: str | None = None, show_banner: bool = True) -> Host:
    """Open the host this page describes (``spec``, else ``$HFTINFRA_HOST``, else live),
    set up offline figures, and show the banner. Raises :class:`PageError` (one line)."""
    resolved = _resolve_spec(spec)
    try:
        host = open_host(resolved)
    except HostError as exc:
        raise PageError(f"{ENV}={resolved}: {_without_path(str(exc), resolved)}") from None
    try:
        from hftinfra.viz import setup_offline

        setup_offline()
    except ImportError:  # plotly is a book extra; a page without figures still runs
        pass
    if show_banner:
        _display(banner(host))
    return host


def reference_host(name: str = "tuned-2s") -> Host:
    """A fixture host shipped in the repository (``tests/hosts/NAME``), for the
    "What good looks like" sections."""
    root = repo_root()
    if root is None:
        raise PageError(f"reference host {name!r}: no repository checkout found "
                        f"(set HFTINFRA_REPO to the clone that holds tests/hosts/{name})")
    path = root / "tests" / "hosts" / name
    if not path.exists():
        raise PageError(f"reference host {name!r} is absent: {path} does not exist")
    try:
        return open_host(path)
    except HostError as exc:
        raise PageError(f"reference host {name!r}: {exc}") from None


# ------------------------------------------------------------------------------------------
# Things a page cannot do here: it says so instead of failing.


class Note:
    """A short note in the page (skipped: install X; needs root)."""

    def __init__(self, text: str, kind: str = "skip"):
        self.text = text
        self.kind = kind

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f'<div class="hftinfra-note hftinfra-note--{self.kind}">{html.escape(self.text)}</div>'


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def require(host: Host, *, root: bool = False, commands: dict[str, str] | None = None,
            what: str = "this section") -> bool:
    """True when ``what`` can run on ``host``; otherwise shows why (needs root, or
    ``skipped: install PACKAGE``) and returns False. ``commands`` maps a program to the
    Debian package that provides it. A snapshot replays recorded output, so only a live host
    needs the programs and root."""
    if not host.is_live:
        return True
    if root and not is_root():
        _display(Note(f"skipped: {what} needs root (run the book as root on a test box)", "root"))
        return False
    missing = sorted({pkg for prog, pkg in (commands or {}).items() if shutil.which(prog) is None})
    if missing:
        _display(Note(f"skipped: install {' '.join(missing)} (apt-get install {' '.join(missing)})"))
        return False
    return True


def run_tool(host: Host, argv: list[str], package: str, *, root: bool = False, max_lines: int = 40):
    """Show a read-only command's output from the host (live, or replayed from a snapshot),
    or why it could not run."""
    if not require(host, root=root, commands={argv[0]: package}, what=" ".join(argv)):
        return None
    result = host.run(argv)
    if isinstance(result, Unread):
        return Note(f"{' '.join(argv)}: {result}", "unknown")
    lines = (result.stdout or result.stderr).rstrip().splitlines()
    more = f"\n… ({len(lines) - max_lines} more lines)" if len(lines) > max_lines else ""
    head = f"$ {' '.join(argv)}" + (f"   (exit {result.returncode})" if result.returncode else "")
    return _Text("\n".join([head, *lines[:max_lines]]) + more)


class _Text(str):
    """Plain text that shows as preformatted output rather than a quoted repr."""

    def __repr__(self) -> str:
        return str(self)


def main(argv: list[str] | None = None) -> int:
    """``python -m hftinfra.page``: the banner for $HFTINFRA_HOST, or one error line."""
    try:
        host = open_page(show_banner=False)
    except PageError as exc:
        print(f"hftinfra: error: {exc}", file=sys.stderr)
        return 2
    print(banner(host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
