"""Where a network boot stopped, per MAC, from dnsmasq's log and a serial console.

dnsmasq with ``log-dhcp`` logs every DHCP packet, the options it sent and every TFTP
transfer; iPXE prints what it fetched and why a fetch failed on the console. Read together
they show how far each client got along the boot path:

``DHCPDISCOVER -> DHCPOFFER -> DHCPREQUEST -> DHCPACK -> TFTP (loader, iPXE script) ->
HTTP (kernel, initrd)``.

The message formats are dnsmasq 2.90's (src/rfc2131.c ``log_packet``, src/tftp.c, src/log.c
``my_syslog``): a log file written by ``log-facility=FILE`` has lines such as::

    Dec  2 22:39:44 dnsmasq-dhcp[18381]: 3618632451 DHCPACK(va) 10.77.0.11 52:54:00:aa:00:01 alpha
    Dec  2 22:39:44 dnsmasq-tftp[18381]: sent /srv/ipxe/hosts/52-54-00-aa-00-01.ipxe to 10.77.0.11

and syslog or ``journalctl`` put a host name between the time and ``dnsmasq``. HTTP is not in
dnsmasq's log: whether the kernel came over HTTP is known only from the console (or the HTTP
server's own log), and without a console the verdict says so rather than guessing.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["STAGES", "BootEvent", "BootPath", "Diagnosis", "console_lines", "diagnose", "parse_console", "parse_dnsmasq_log"]

#: Where a boot stopped, in the order a boot gets through them; ``booted`` is the end.
STAGES = ("no-discover", "unknown-mac", "no-request", "no-tftp", "tftp-not-found", "no-kernel", "booted")

KINDS = ("dhcp-discover", "dhcp-offer", "dhcp-request", "dhcp-ack", "dhcp-nak", "dhcp-ignored", "tftp-sent",
         "tftp-not-found", "tftp-error", "console-marker", "console-error", "console-unknown")

SCHEMA = "hftinfra.provision.diagnose/1"


@dataclass(frozen=True)
class BootEvent:
    """One step of a boot, from a dnsmasq log line or a console line."""

    at: str | None          # the timestamp as written in the log
    seconds: float | None   # since the log's first timestamp
    mac: str | None         # lower-case, colon form
    kind: str               # one of KINDS
    detail: str
    line: str
    source: str             # "dnsmasq" or "console"

    def to_json(self) -> dict:
        return {"at": self.at, "seconds": self.seconds, "mac": self.mac, "kind": self.kind,
                "detail": self.detail, "line": self.line, "source": self.source}


@dataclass(frozen=True)
class BootPath:
    """One client's boot: how far it got, why it stopped there, and what to check."""

    mac: str
    host: str | None
    stage: str
    verdict: str
    advice: str
    events: tuple[BootEvent, ...] = ()

    @property
    def booted(self) -> bool:
        return self.stage == "booted"

    def to_json(self) -> dict:
        return {"mac": self.mac, "host": self.host, "stage": self.stage, "verdict": self.verdict,
                "advice": self.advice, "events": [e.to_json() for e in self.events]}


@dataclass(frozen=True)
class Diagnosis:
    """Every client's boot path; ``lines`` and ``unparsed`` count the dnsmasq log's lines."""

    paths: tuple[BootPath, ...]
    unparsed: int
    lines: int

    def exit_code(self) -> int:
        """0 when every path booted, else 1 (also 1 when the log showed no client at all)."""
        return 0 if self.paths and all(p.booted for p in self.paths) else 1

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "lines": self.lines, "unparsed": self.unparsed,
                "booted": self.exit_code() == 0, "paths": [p.to_json() for p in self.paths]}

    def to_text(self) -> str:
        out = []
        if not self.paths:
            out.append("no client in the log: no DHCP line names a MAC (is log-dhcp set, and is this the "
                       "DHCP server's log?)")
        for p in self.paths:
            who = f"{p.host} ({p.mac})" if p.host else p.mac
            out.append(f"{who}: {p.stage}: {p.verdict}")
            if p.advice:
                out.append(f"  check: {p.advice}")
        out.append(f"{self.lines} log lines read, {self.unparsed} not understood")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        rows = []
        for p in self.paths:
            colour = "#2e7d32" if p.booted else "#c62828"
            rows.append(
                f"<tr><td>{html.escape(p.host or '')}</td><td><code>{html.escape(p.mac)}</code></td>"
                f"<td style='color:{colour}'><b>{html.escape(p.stage)}</b></td><td>{html.escape(p.verdict)}</td>"
                f"<td>{html.escape(p.advice)}</td></tr>")
        return ("<table><thead><tr><th>host</th><th>MAC</th><th>stage</th><th>verdict</th><th>check</th></tr>"
                f"</thead><tbody>{''.join(rows)}</tbody></table>"
                f"<p>{self.lines} log lines read, {self.unparsed} not understood</p>")


# --- dnsmasq log ------------------------------------------------------------------------

# log-facility=FILE: "%.15s " of ctime() then "dnsmasq%s[%d]: " (src/log.c, my_syslog);
# syslog and journalctl's short format add a host name; short-iso uses ISO 8601 times; a
# log sent to stderr with --no-daemon has no time at all.
_HEADER = re.compile(
    r"^(?:<\d+>)?(?:(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?"
    r"(?:Z|[+-]\d\d:?\d\d)?) )?(?:(?P<host>\S+) )??dnsmasq(?P<fac>-dhcp|-tftp|-script|-debug)?\[\d+\]: "
    r"(?P<msg>.*)$")
_MAC = r"[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2}){5,19}"
_IP4 = r"\d{1,3}(?:\.\d{1,3}){3}"
# log_packet() in src/rfc2131.c: "%u %s(%s) %s%s%s %s%s" with log-dhcp (xid, type, interface,
# address, " " when there is one, MAC, then a name or file and an error), "%s(%s) ..." without.
_PACKET = re.compile(
    r"^(?:(?P<xid>\d+) )?(?P<type>DHCPDISCOVER|DHCPOFFER|DHCPREQUEST|DHCPACK|DHCPNAK|DHCPDECLINE|DHCPRELEASE|"
    r"DHCPINFORM|NOANSWER|BOOTP|PXE)\((?P<iface>[^()\s]*)\) (?:(?P<ip>" + _IP4 + r") )?(?P<mac>" + _MAC +
    r"|<null>) ?(?P<tail>.*)$")
# log-dhcp's extra lines: "%u vendor class: %s", "%u tags: %s" (src/dhcp-common.c), "%u bootfile
# name: %s", "%u next server: %s", "%u sent size:%3d option:%3d %s  %s" (src/rfc2131.c).
_XID_INFO = re.compile(
    r"^(?P<xid>\d+) (?P<key>vendor class|user class|client provides name|tags|bootfile name|server name|"
    r"next server|requested options|available DHCP range|available DHCP subnet|broadcast response|"
    r"reply delay|sent size)(?::\s*(?P<value>.*))?$")
_SENT_OPTION = re.compile(r"^\s*\d+ option:\s*(?P<num>\d+) (?P<name>\S+)\s+(?P<value>.*)$")
_TFTP_SENT = re.compile(r"^(?P<failed>failed sending|sent) (?P<path>.+) to (?P<ip>\S+)$")
# 2.90 logs "file %s not found for %s" (src/tftp.c, check_tftp_fileperm); a line without the
# client is accepted too, its MAC then unknown.
_TFTP_NOT_FOUND = re.compile(r"^file (?P<path>.+?) not found(?: for (?P<ip>\S+))?$")
_TFTP_ERROR = re.compile(r"^error (?P<code>\d+) (?P<msg>.*) received from (?P<ip>\S+)$")
_TFTP_OTHER = re.compile(r"^(?:cannot access|cannot read|unsupported request from|ignoring packet from|"
                         r"unable to get free port|TFTP root is|TFTP enabled|TFTP root|warning: )")
_HOUSEKEEPING = re.compile(
    r"^(?:started, version|compile time options|DHCP, |DHCPv6, |exiting on receipt|read |reading |using |"
    r"no servers found|cleared cache|failed to |IPv6 router advertisement|router advertisement|"
    r"disabling DHCP static address|not using configured address|abandoning lease|"
    r"no address range available|\d+ available DHCP (?:range|subnet)|Ignoring duplicate dhcp-option|"
    r"dnsmasq-dhcp|DHCP packet received on|script process|lease-init|setting capabilities|"
    r"PXE BIS not supported|PXE menu too large|cannot send )")
_ROOT = re.compile(r"^TFTP root is (?P<root>\S+)")

_IGNORED_HINT = ("ignored", "disabled", "no address available", "wrong network", "no address configured",
                 "no leases left", "no unique-id", "proxy-ignored")


@dataclass
class _Raw:
    at: str | None
    seconds: float | None
    mac: str | None
    kind: str
    base: str
    line: str
    xid: str | None = None
    ip: str | None = None
    path: str | None = None
    name: str | None = None
    info: dict = field(default_factory=dict)

    def freeze(self) -> BootEvent:
        detail = self.base
        extra = [f"{k} {v}" for k, v in self.info.items()]
        if extra:
            detail = f"{detail}; {'; '.join(extra)}"
        return BootEvent(self.at, self.seconds, self.mac, self.kind, detail, self.line, "dnsmasq")


def normalise_mac(text: str) -> str | None:
    """``52-54-00-AA-0:10`` -> ``52:54:00:aa:00:10``; None when it is not a MAC."""
    parts = re.split(r"[:-]", text.strip().lower())
    if len(parts) < 6 or not all(re.fullmatch(r"[0-9a-f]{1,2}", p) for p in parts):
        return None
    return ":".join(p.zfill(2) for p in parts)


class _Clock:
    """Seconds since the first timestamp; syslog times have no year, so a jump back of
    months is taken as the new year."""

    def __init__(self) -> None:
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.year = 2000  # a leap year, so "Feb 29" parses

    def seconds(self, ts: str | None) -> float | None:
        if not ts:
            return None
        try:
            if ts[0].isdigit():
                when = datetime.fromisoformat(ts.replace(",", "."))
            else:
                when = datetime.strptime(f"{self.year} {' '.join(ts.split())}", "%Y %b %d %H:%M:%S")
                if self.last is not None and self.last.tzinfo is None and when < self.last - timedelta(days=180):
                    self.year += 1
                    when = when.replace(year=self.year)
            if self.first is None:
                self.first = when
            self.last = when
            return (when - self.first).total_seconds()
        except (ValueError, TypeError, OverflowError):
            return None


def _parse(text: str) -> tuple[list[_Raw], int, int, str | None]:
    """Events (before freezing), lines read, lines not understood, the TFTP root if logged."""
    clock = _Clock()
    raws: list[_Raw] = []
    xid_mac: dict[str, str] = {}
    ip_mac: dict[str, str] = {}
    pending: dict[str, dict] = {}     # xid -> request-side info logged before its packet line
    last_packet: dict[str, _Raw] = {}  # xid -> latest packet event
    lines = unparsed = 0
    root = None
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        lines += 1
        m = _HEADER.match(line.strip())
        if not m:
            unparsed += 1
            continue
        ts, fac, msg = m["ts"], m["fac"] or "", m["msg"].rstrip()
        secs = clock.seconds(ts)
        if fac == "-tftp" or _TFTP_SENT.match(msg) or _TFTP_NOT_FOUND.match(msg) or _TFTP_ERROR.match(msg):
            ev = _tftp(msg, ts, secs, line, ip_mac)
            if ev is not None:
                raws.append(ev)
                continue
            r = _ROOT.match(msg)
            if r:
                root = r["root"].rstrip("/") or "/"
                continue
            if _TFTP_OTHER.match(msg):
                continue
            unparsed += 1
            continue
        p = _PACKET.match(msg)
        if p:
            ev = _packet(p, ts, secs, line)
            if ev is None:
                continue
            if ev.xid is not None:
                ev.info.update(pending.pop(ev.xid, {}))
                if ev.mac:
                    xid_mac[ev.xid] = ev.mac
                last_packet[ev.xid] = ev
            if ev.kind == "dhcp-ack" and ev.ip and ev.mac:
                ip_mac[ev.ip] = ev.mac
            raws.append(ev)
            continue
        x = _XID_INFO.match(msg)
        if x:
            _xid_info(x, pending, last_packet)
            continue
        if _HOUSEKEEPING.match(msg):
            continue
        unparsed += 1
    return raws, lines, unparsed, root


def _packet(p: re.Match, ts, secs, line) -> _Raw | None:
    typ, tail = p["type"], (p["tail"] or "").strip()
    mac = normalise_mac(p["mac"]) if p["mac"] != "<null>" else None
    where = f"{typ}({p['iface']})" + (f" {p['ip']}" if p["ip"] else "")
    name = None
    if typ in ("DHCPDISCOVER", "BOOTP"):
        kind = "dhcp-ignored" if tail else "dhcp-discover"
    elif typ == "DHCPOFFER":
        kind = "dhcp-offer"
    elif typ == "DHCPREQUEST":
        kind = "dhcp-request" if not tail else "dhcp-nak"
    elif typ == "DHCPACK":
        kind, name = "dhcp-ack", tail or None
    elif typ in ("DHCPNAK", "NOANSWER"):
        kind = "dhcp-nak"
    elif typ == "PXE":
        # Proxy-DHCP (src/rfc2131.c): "PXE(if) MAC proxy" answers a DISCOVER, "PXE(if) IP MAC file"
        # the boot server request, "proxy-ignored" a client it will not serve.
        if tail == "proxy-ignored":
            kind = "dhcp-ignored"
        elif p["ip"]:
            kind = "dhcp-ack"
        else:
            kind = "dhcp-offer"
    else:  # DECLINE, RELEASE, INFORM: understood, not a step of a boot
        return None
    base = where + (f" {tail}" if tail else "")
    ev = _Raw(ts, secs, mac, kind, base, line, xid=p["xid"], ip=p["ip"], name=name)
    if typ == "PXE" and p["ip"] and tail:
        ev.info["bootfile"] = tail
    return ev


_REQUEST_SIDE = {"vendor class": "vendor class", "user class": "user class", "client provides name": "name"}
_REPLY_SIDE = {"bootfile name": "bootfile", "server name": "server name", "next server": "next server"}


def _xid_info(x: re.Match, pending: dict, last_packet: dict) -> None:
    xid, key, value = x["xid"], x["key"], (x["value"] or "").strip()
    if key in _REQUEST_SIDE:
        pending.setdefault(xid, {})[_REQUEST_SIDE[key]] = value
        return
    ev = last_packet.get(xid)
    if ev is None:
        return
    if key == "tags":
        ev.info["tags"] = value
    elif key in _REPLY_SIDE:
        ev.info[_REPLY_SIDE[key]] = value
    elif key == "sent size":
        o = _SENT_OPTION.match(value)
        if o and o["num"] == "67":
            ev.info["bootfile"] = o["value"].strip()
        elif o and o["num"] == "66":
            ev.info["tftp server"] = o["value"].strip()


def _tftp(msg: str, ts, secs, line, ip_mac) -> _Raw | None:
    m = _TFTP_SENT.match(msg)
    if m:
        kind = "tftp-error" if m["failed"] != "sent" else "tftp-sent"
        return _Raw(ts, secs, ip_mac.get(m["ip"]), kind, msg, line, ip=m["ip"], path=m["path"])
    m = _TFTP_NOT_FOUND.match(msg)
    if m:
        return _Raw(ts, secs, ip_mac.get(m["ip"] or ""), "tftp-not-found", msg, line, ip=m["ip"], path=m["path"])
    m = _TFTP_ERROR.match(msg)
    if m:
        return _Raw(ts, secs, ip_mac.get(m["ip"]), "tftp-error", msg, line, ip=m["ip"])
    m = re.match(r"^(?:cannot access|cannot read) (?P<path>.+?): (?P<err>.+)$", msg)
    if m:
        return _Raw(ts, secs, None, "tftp-error", msg, line, path=m["path"])
    return None


def parse_dnsmasq_log(text: str) -> list[BootEvent]:
    """The boot steps in a dnsmasq log (log-dhcp), oldest first.

    Real lines (dnsmasq 2.90, ``log-facility=FILE``)::

        Dec  2 22:39:44 dnsmasq-dhcp[18381]: 3618632451 DHCPOFFER(va) 10.77.0.11 52:54:00:aa:00:01
        Dec  2 22:39:44 dnsmasq-tftp[18381]: file /srv/ipxe/hosts/52-54-00-aa-00-1.ipxe not found for 10.77.0.11

    log-dhcp's lines that carry only a transaction id (vendor and user class, tags, boot
    file, next server, option 67) are folded into the detail of that transaction's packet
    line; TFTP lines name a client address, mapped to a MAC through the DHCPACK before them.
    """
    return [r.freeze() for r in _parse(text)[0]]


# --- console ----------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_]|c)")
_CON_NET = re.compile(r"\bnet\d+: (?P<mac>" + _MAC + r") using\b")
_CON_CONFIG = re.compile(r"\bConfiguring \(net\d+ (?P<mac>" + _MAC + r")\)\.*\s*(?P<result>.*)$")
_CON_MARKER = re.compile(r"hftinfra: host (?P<name>\S+) \((?P<mac>" + _MAC + r")\)\s*(?P<rest>.*)$")
_CON_UNKNOWN = re.compile(r"hftinfra: unknown MAC (?P<mac>" + _MAC + r")(?P<rest>.*)$")
_CON_FAILED = re.compile(r"hftinfra: (?P<name>\S+) \((?P<mac>" + _MAC + r")\) could not boot:?\s*(?P<err>.*)$")
# iPXE prints "URI... ok" or "URI... <strerror> (https://ipxe.org/<code>)" for every fetch.
_CON_FETCH = re.compile(r"(?P<uri>(?:https?|tftp|ftp|nfs)://\S+?)\.\.\.\s*(?P<result>.*)$")
_CON_ERROR = re.compile(r"\((?:https?:)?//ipxe\.org/(?P<code>[0-9a-f]{8})\)")


def _console_lines(text: str) -> list[str]:
    text = _ANSI.sub("", text or "")
    if "\x08" in text:  # a backspace erases the character before it (iPXE's countdown)
        kept: list[str] = []
        for ch in text:
            if ch == "\x08":
                if kept and kept[-1] not in "\r\n":
                    kept.pop()
            else:
                kept.append(ch)
        text = "".join(kept)
    raw = [ln.strip() for ln in re.split(r"\r\n|\r|\n", text)]
    out: list[str] = []
    for ln in raw:
        # iPXE wraps at the terminal width: "(http:" then "//ipxe.org/2d0c613b)".
        if out and (ln.startswith("//") or ln.startswith("://")) and out[-1].endswith((":", "http", "https")):
            out[-1] += ln
        elif ln:
            out.append(ln)
    return out


def console_lines(text: str) -> list[str]:
    """A serial console transcript as the lines a reader saw: ANSI escapes dropped,
    backspaces applied, CR LF and bare CR ending lines, iPXE's wrapped error links joined."""
    return _console_lines(text)


def parse_console(text: str) -> list[BootEvent]:
    """The boot steps in a serial console transcript of iPXE (qemu ``-nographic`` or a BMC).

    Real lines (iPXE 1.0.0+git-20190125, Debian ipxe-qemu)::

        net0: 52:54:00:aa:00:10 using 82540em on 0000:00:03.0 (open)
        hftinfra: host vm1 (52:54:00:aa:00:10) install
        http://10.77.0.1:8080/images/pxeboot/vmlinuz... No such file or directory (http://ipxe.org/2d0c613b)

    A fetch reported ``ok`` of anything but an iPXE script is a ``console-marker`` whose detail
    starts ``fetched``; lines are attributed to the MAC the console last named.
    """
    events: list[BootEvent] = []
    mac = None

    def add(kind: str, detail: str, line: str, who: str | None) -> None:
        events.append(BootEvent(None, None, who, kind, detail, line, "console"))

    for ln in _console_lines(text):
        m = _CON_NET.search(ln)
        if m:
            mac = normalise_mac(m["mac"]) or mac
            continue
        m = _CON_CONFIG.search(ln)
        if m:
            mac = normalise_mac(m["mac"]) or mac
            res = m["result"].strip()
            if res and res != "ok" and _CON_ERROR.search(res):
                add("console-error", f"DHCP: {res}", ln, mac)
            continue
        m = _CON_MARKER.search(ln)
        if m:
            mac = normalise_mac(m["mac"]) or mac
            add("console-marker", f"host {m['name']} {m['rest']}".strip(), ln, mac)
            continue
        m = _CON_UNKNOWN.search(ln)
        if m:
            mac = normalise_mac(m["mac"]) or mac
            add("console-unknown", f"unknown MAC{m['rest']}".strip(), ln, mac)
            continue
        m = _CON_FAILED.search(ln)
        if m:
            add("console-error", f"{m['name']} could not boot: {m['err']}".strip(), ln,
                normalise_mac(m["mac"]) or mac)
            continue
        m = _CON_FETCH.search(ln)
        if m:
            res = m["result"].strip()
            if res.startswith("ok"):
                if not m["uri"].endswith(".ipxe"):
                    add("console-marker", f"fetched {m['uri']}", ln, mac)
            elif res:
                add("console-error", f"{m['uri']}: {res}", ln, mac)
            continue
        if _CON_ERROR.search(ln) and not ln.startswith("iPXE"):
            add("console-error", ln, ln, mac)
    return events


# --- the verdict ------------------------------------------------------------------------

def _relative(path: str, root: str | None, served: set[str] | None) -> str:
    """The requested path relative to the TFTP root (dnsmasq logs the full path)."""
    if root and root != "/" and path.startswith(root + "/"):
        return path[len(root) + 1:]
    parts = path.strip("/").split("/")
    if served:
        best, score = None, 0.0
        for k in range(1, len(parts) + 1):
            cand = "/".join(parts[-k:])
            if cand in served:
                return cand
            close = difflib.get_close_matches(cand, served, n=1, cutoff=0.0)
            if close:
                s = difflib.SequenceMatcher(None, cand, close[0]).ratio()
                if s > score:
                    best, score = cand, s
        if best:
            return best
    return path.lstrip("/") if root is None else path


def _is_script(path: str | None) -> bool:
    return bool(path) and path.endswith(".ipxe")


def _verdict(mac: str, host: str | None, known: bool | None, evs: list[_Raw], con: list[BootEvent],
             root: str | None, served: set[str] | None) -> tuple[str, str, str]:
    dhcp = [e for e in evs if e.kind.startswith("dhcp-")]
    tftp = [e for e in evs if e.kind.startswith("tftp-")]
    acks = [e for e in dhcp if e.kind == "dhcp-ack"]
    sent_unknown = any(e.kind == "tftp-sent" and (e.path or "").endswith("unknown.ipxe") for e in tftp) or any(
        (e.info.get("bootfile") or "").endswith("unknown.ipxe") for e in acks)
    pos = {id(e): i for i, e in enumerate(con)}
    at = {id(e): i for i, e in enumerate(evs)}
    markers = [i for i, e in enumerate(con) if e.kind == "console-marker"]
    unknown_con = [e for e in con if e.kind == "console-unknown"]

    if known is False or unknown_con or sent_unknown:
        why = []
        if known is False:
            why.append("not in the inventory")
        ign = [e for e in dhcp if e.kind == "dhcp-ignored"]
        if ign:
            why.append(f"dnsmasq: {ign[-1].base}")
        if sent_unknown:
            why.append("it was sent ipxe/unknown.ipxe")
        if unknown_con:
            why.append(f"console: {unknown_con[-1].line}")
        return ("unknown-mac", "an unknown MAC: " + "; ".join(why),
                "a swapped server or NIC? hftinfra provision replace-mac HOST " + mac + " --inventory INVENTORY; "
                "otherwise another machine is network booting on this segment")

    if markers:
        last = markers[-1]
        errors = [e for e in con[last + 1:] if e.kind == "console-error"]
        fetched = [e for e in con[last + 1:] if e.kind == "console-marker" and e.detail.startswith("fetched")]
        if errors and not any(pos[id(f)] > pos[id(errors[-1])] for f in fetched):
            err = errors[0].detail
            return ("no-kernel", f"its iPXE script ran ({con[last].detail}) but the kernel was not fetched: {err}",
                    _http_advice(err))
        return ("booted", f"its iPXE script ran: {con[last].detail}" + (
            f", then {fetched[-1].detail}" if fetched else ""), "")
    fetched = [e for e in con if e.kind == "console-marker" and e.detail.startswith("fetched")]
    if fetched and not [e for e in con if e.kind == "console-error" and pos[id(e)] > pos[id(fetched[-1])]]:
        return "booted", fetched[-1].detail, ""

    if not dhcp:
        if tftp:
            return ("no-discover", "TFTP requests but no DHCP line: dnsmasq's log from before they began is "
                    "missing, or another server gave the address", "read the whole log (log-dhcp set?)")
        return ("no-discover", "no DHCP request from this MAC in the log",
                "cabling and switch port (link up?), the VLAN (the port must be in the boot VLAN, untagged), "
                "network boot (PXE) enabled for this NIC in the firmware, or a DHCP relay (ip helper-address) "
                "when dnsmasq is on another subnet")

    # From the last DHCPACK on: TFTP, then the console.
    if not acks:
        last = dhcp[-1]
        if last.kind == "dhcp-ignored":
            return ("no-request", f"dnsmasq made no offer: {last.base}",
                    "dnsmasq's configuration does not serve this MAC (dhcp-host line missing, dhcp-ignore, or "
                    "no dhcp-range for this subnet): regenerate it from the inventory and restart dnsmasq")
        if last.kind == "dhcp-nak":
            return ("no-request", f"dnsmasq refused the request: {last.base}",
                    "the client asks for an address from another DHCP server or an old lease: look for a second "
                    "DHCP server on the segment; dhcp-authoritative lets dnsmasq take over")
        if any(e.kind == "dhcp-offer" for e in dhcp):
            return ("no-request", "offered an address but never requested it",
                    "another DHCP server answered first and the client took its offer: find it (a router's DHCP, "
                    "a second dnsmasq), or run dnsmasq in proxy mode beside it")
        return ("no-request", f"dnsmasq logged {last.base} and no offer",
                "read the lines around it (no address range for this interface?)")

    ack = acks[-1]
    after = [e for e in tftp if at[id(e)] > at[id(ack)]]
    bootfile = ack.info.get("bootfile")
    if not after:
        if bootfile is None and "next server" not in ack.info:
            return ("no-tftp", f"acknowledged ({ack.base}) with no boot file",
                    "no dhcp-boot line matched this client's tags"
                    + (f" ({ack.info['tags']})" if "tags" in ack.info else "")
                    + ": options 66/67 missing; check the architecture and iPXE tags")
        return ("no-tftp", f"acknowledged ({ack.base}) but no TFTP request followed"
                + (f" for {bootfile}" if bootfile else ""),
                "the client cannot reach TFTP: a firewall dropping UDP 69 (and the reply ports), next-server "
                "(option 66) pointing elsewhere, or the firmware giving up; tcpdump -ni IFACE udp port 69")
    last = after[-1]
    if last.kind == "tftp-not-found":
        rel = _relative(last.path or "", root, served)
        if served is None:
            hint = "compare it with the generated tree (diagnose --out DIR)"
        elif rel in served:
            hint = (f"{rel} was generated but is not under the TFTP root"
                    + (f" {root}" if root else "") + ": install srv/ there, or fix tftp-root")
        else:
            close = difflib.get_close_matches(rel, sorted(served), n=1, cutoff=0.6)
            hint = (f"the generator wrote no {rel}" + (f"; closest generated: {close[0]}" if close else "")
                    + ": the dhcp-boot line or the MAC in it is wrong; regenerate and restart dnsmasq")
        return "tftp-not-found", f"TFTP file not found: {rel} (requested {last.path})", hint
    if last.kind == "tftp-error":
        return ("no-tftp", f"TFTP failed: {last.base}",
                "the transfer was aborted: blksize/MTU, a firewall on the reply ports, or file permissions")
    # The last TFTP transfer succeeded.
    rel = _relative(last.path or "", root, served)
    con_err = [e for e in con if e.kind == "console-error"]
    if not _is_script(last.path):
        if con_err:
            return ("no-kernel", f"{rel} was sent; console: {con_err[-1].detail}", _http_advice(con_err[-1].detail))
        return ("no-tftp", f"the loader {rel} was sent but no iPXE script was asked for after it",
                "the loader did not start, or iPXE's own DHCP request did not match the iPXE tags "
                "(dhcp-userclass=set:ipxe,iPXE / dhcp-match=set:ipxe,175); watch the console")
    if con_err:
        return ("no-kernel", f"the iPXE script {rel} was sent; console: {con_err[-1].detail}",
                _http_advice(con_err[-1].detail))
    if con:
        return ("no-kernel", f"the iPXE script {rel} was sent but the console shows neither its marker nor a fetch",
                "is this the console of this machine? the script echoes 'hftinfra: host NAME (MAC)' first")
    return ("no-kernel", f"the iPXE script {rel} was sent; whether the kernel came over HTTP is not in dnsmasq's "
            "log (unknown)", "give --console FILE (the serial console), or read the HTTP server's log for its "
            "kernel and initrd requests")


def _http_advice(err: str) -> str:
    low = err.lower()
    if "no such file" in low or "not found" in low or "2d0c613b" in low:
        return "the HTTP server answered but lacks the file: check the URL in the script and the install tree"
    if "timed out" in low or "refused" in low or "unreachable" in low:
        return "the HTTP server is down or unreachable: hftinfra provision serve, its address and port, firewall"
    if "permission" in low or "forbidden" in low:
        return "the HTTP server refuses the file: permissions under its root"
    return "check the URL the script fetches and that the HTTP server serves it (https://ipxe.org/ explains codes)"


def diagnose(log_text: str, console_text: str | None = None, *, hosts: Mapping[str, str] | None = None,
             served: Iterable[str] | None = None) -> Diagnosis:
    """Per client MAC, where its network boot stopped.

    ``hosts`` maps MAC to host name (a MAC in it that never appears is ``no-discover``, a MAC
    that appears and is not in it ``unknown-mac``); ``served`` is the set of paths relative
    to the TFTP root that the generator wrote, to compare a file not found with.
    """
    raws, lines, unparsed, root = _parse(log_text)
    con = parse_console(console_text) if console_text else []
    names: dict[str, str] = {}
    for mac, name in (hosts or {}).items():
        n = normalise_mac(str(mac))
        if n:
            names[n] = name
    served_set = {s.strip("/") for s in served} if served is not None else None

    order: list[str] = []
    by_mac: dict[str, list[_Raw]] = {}
    for r in raws:
        if r.mac:
            if r.mac not in by_mac:
                order.append(r.mac)
            by_mac.setdefault(r.mac, []).append(r)
    con_by: dict[str | None, list[BootEvent]] = {}
    for e in con:
        con_by.setdefault(e.mac, []).append(e)
    for mac in con_by:
        if mac and mac not in by_mac:
            order.append(mac)
    if None in con_by:
        # Lines before the console named a MAC belong to its only client, if there is one.
        candidates = [m for m in order if any(e.kind == "tftp-sent" for e in by_mac.get(m, []))] or order
        if len(candidates) == 1:
            con_by[candidates[0]] = con_by.pop(None) + con_by.get(candidates[0], [])
    for mac in names:
        if mac not in order:
            order.append(mac)

    paths = []
    for mac in order:
        evs = by_mac.get(mac, [])
        c = con_by.get(mac, [])
        known = (mac in names) if hosts is not None else None
        host = names.get(mac) or next((e.name for e in reversed(evs) if e.name), None)
        stage, verdict, advice = _verdict(mac, host, known, evs, c, root, served_set)
        events = tuple(e.freeze() for e in evs) + tuple(c)
        paths.append(BootPath(mac, host, stage, verdict, advice, events))
    return Diagnosis(tuple(paths), unparsed, lines)
