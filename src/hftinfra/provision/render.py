"""The template engine every generator renders through: Jinja2, with the templates shipped
in ``hftinfra/provision/templates/``.

Undefined names raise (StrictUndefined), so a template that asks for a field the inventory
does not have fails the generation instead of writing an empty string into a boot file.
Output is text with ``\\n`` line ends; a template for Windows asks for ``\\r\\n`` itself
through :func:`crlf`. Filters:

- ``mac_hyphens``: ``52:54:00:12:34:56`` -> ``52-54-00-12-34-56`` (iPXE's ``${mac:hexhyp}``);
- ``cpulist``: a CPU set -> ``2-15,18-31``;
- ``cpumask``: a CPU set -> the kernel's hex mask (``3``, ``ffff,0000ffff``);
- ``xml``: text escaped for an XML element or attribute;
- ``ps_quote``: text as a PowerShell single-quoted string (``'it''s'``);
- ``cmd_safe``: text checked to need no quoting in cmd.exe (raises otherwise).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

import jinja2

from hftinfra.cpulist import format_cpulist, format_cpumask

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


class RenderError(ValueError):
    """A template could not be rendered from this inventory (one line, names the template)."""


def _ps_quote(text: object) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _cmd_safe(text: object) -> str:
    text = str(text)
    if re.search(r'[&|<>^%!"\r\n]', text):
        raise RenderError(f"{text!r} holds a character cmd.exe would interpret")
    return text


def _xml(text: object) -> str:
    return escape(str(text), {'"': "&quot;", "'": "&apos;"})


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mac_hyphens"] = lambda mac: str(mac).replace(":", "-")
    env.filters["cpulist"] = lambda cpus: format_cpulist(cpus)
    env.filters["cpumask"] = lambda cpus: format_cpumask(cpus)
    env.filters["xml"] = _xml
    env.filters["ps_quote"] = _ps_quote
    env.filters["cmd_safe"] = _cmd_safe
    return env


def render(template: str, **context: object) -> str:
    """Render one template by its path under templates/ ('ipxe/host.ipxe.j2')."""
    try:
        return environment().get_template(template).render(**context)
    except jinja2.TemplateNotFound:
        raise RenderError(f"template {template} is not shipped") from None
    except jinja2.UndefinedError as exc:
        raise RenderError(f"template {template}: {exc.message}") from None


def crlf(text: str) -> str:
    """Windows line ends, for files cmd.exe, PowerShell and Windows Setup read."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


__all__ = ["RenderError", "TEMPLATE_DIR", "crlf", "environment", "render"]
