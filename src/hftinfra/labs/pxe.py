"""The PXE lab: a real network boot of the files ``hftinfra provision`` generates, in
network namespaces the lab creates (see :mod:`hftinfra.labs.harness`).

What runs, and why so:

- **The server namespace** holds one end of a veth pair, named as the inventory's
  ``site.interface``, with ``site.server_ip`` on it. dnsmasq runs there with the generated
  ``dnsmasq/dnsmasq.conf`` unchanged except for its ``tftp-root`` (the generated ``srv/``
  where the lab wrote it); the lab's own options go on dnsmasq's command line: a lease file,
  a pid file and a log file in the lab's temp dir, and IPv6 router advertisements (below).
  ``hftinfra provision serve`` serves ``srv/`` over HTTP on ``site.server_ip:http_port``.
  The namespace has no other link and no route beyond the site's subnet, so the inventory's
  addresses never meet a real network.
- **The client namespace** holds the veth's other end in a bridge with one tap device per
  virtual machine. Each VM is ``qemu-system-x86_64 -accel tcg`` (KVM nested here crashes
  iPXE), 256 MiB, no disk, its NIC's MAC set to the host's boot MAC, its serial console on
  qemu's stdout, ``-no-reboot`` so the boot script's ``reboot`` ends qemu.
- **BIOS** VMs boot SeaBIOS and the e1000's option ROM, which is iPXE (Debian
  ``ipxe-qemu``): its first DHCP request already carries user class ``iPXE``, so dnsmasq
  hands it the host's script at once. **UEFI** VMs boot OVMF with a virtio NIC whose option
  ROM is removed (``romfile=``): OVMF's own PXE client asks with architecture 7, fetches
  ``ipxe.efi`` by TFTP, and that iPXE asks DHCP again for the script, the whole chain a
  UEFI server walks.
- **The kernel is a stand-in.** The per-MAC script fetches ``images/pxeboot/vmlinuz`` and
  ``initrd.img`` from the install tree over HTTP, as generated. A RHEL installer cannot run
  in a minute under TCG, so in the lab's ``srv/`` that ``vmlinuz`` is an iPXE script that
  prints a marker naming the host (``${hostname}``, DHCP option 12) and reboots. Everything
  up to the kernel (DHCP, TFTP, the host's script, HTTP) is the real boot path.
- **IPv6.** iPXE configures IPv6 beside DHCP and, with no router advertisement on the
  link, waits about 13 s for one before it goes on. dnsmasq sends advertisements for a
  unique local prefix (RFC 4193) on the lab's link (``enable-ra``, ``ra-only``: addresses by
  SLAAC, no DHCPv6), which ends that wait.
- **An unknown MAC** gets a pool address and the generated fallback script, which prints
  ``hftinfra: unknown MAC ...`` and shows the menu; the lab stops that VM once the message
  is on its console.
- **Secrets stay out of reach.** The lab works on a copy of the inventory, readable by root
  only, in a temp dir others can pass through but not list (dnsmasq reads TFTP files as an
  unprivileged user); the generated Windows files, whose answer file may carry a password
  hash, are removed from the lab's tree, since no VM boots them.
- **The timeline** stamps every line of the console, dnsmasq's log and the HTTP log as it
  appears (polled every 20 ms) against the VM's start; the steps are read from those lines
  with :mod:`hftinfra.provision.diagnose`, which also gives each boot its verdict.

Sources: dnsmasq(8) (dhcp-boot, dhcp-userclass, enable-ra, ra-only, log-facility); qemu's
invocation docs (-netdev tap, -no-reboot, pflash); iPXE's docs (settings, kernel, boot,
reboot); RFC 4578 (option 93); RFC 4861 (router advertisements).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from hftinfra.labs.harness import (
    CleanupReport,
    Lab,
    LabError,
    LabProcess,
    LabUnavailable,
    check_tools,
    lab_capability,
    page_view,
)
from hftinfra.records import html_table, to_jsonable

SCHEMA = "hftinfra.lab.pxe"
SCHEMA_VERSION = 1

TOOLS = (("dnsmasq", "dnsmasq"), ("qemu-system-x86_64", "qemu-system-x86"))
# Debian's ipxe package, then Fedora's; the name a loader has there -> the name dnsmasq hands out.
IPXE_DIRS = ("/usr/lib/ipxe", "/usr/share/ipxe")
LOADERS = {"undionly.kpxe": ("undionly.kpxe",), "ipxe.efi": ("ipxe.efi", "ipxe-x86_64.efi")}
# (code, vars): Debian's ovmf (4 MiB and 2 MiB builds), Fedora's edk2-ovmf.
OVMF_PAIRS = (("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
              ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
              ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"))
# qemu's own OUI (52:54:00), locally administered; not a MAC a real NIC ships with.
UNKNOWN_MAC = "52:54:00:0b:ad:01"
# RFC 4193 unique local prefix for the lab's router advertisements (random global ID).
RA_PREFIX = ipaddress.IPv6Network("fd5e:1a7b:9c20::/64")
BOOT_TIMEOUT_S = 120.0
MAX_TIMEOUT_S = 600.0
MEMORY_MIB = 256
POLL_S = 0.02
UNKNOWN_GRACE_S = 1.0  # after the fallback's last line, so the menu is on the console too
START_TIMEOUT_S = 10.0
SAMPLE_INVENTORY = Path(__file__).resolve().parents[3] / "provisioning" / "sample-inventory.yaml"
DOCS = ("dnsmasq(8) (dhcp-boot, dhcp-userclass, enable-ra, log-facility); qemu(1) (-netdev tap, -no-reboot, "
        "-drive if=pflash); ipxe.org/cfg/hostname, ipxe.org/cmd/kernel, ipxe.org/cmd/reboot; RFC 4578; RFC 4861")
STAND_IN = """\
#!ipxe
# A stand-in for the installer kernel, served by hftinfra lab pxe only: the real boot path
# (DHCP, TFTP, the host's iPXE script, HTTP) ends here; a real install tree boots Anaconda.
echo hftinfra-lab: ${hostname} (${net0/mac}) fetched its installer kernel and initrd over HTTP
sleep 1
reboot
"""
LAB_MARKER = re.compile(r"hftinfra-lab: (?P<name>\S+) \((?P<mac>[0-9a-f:]{17})\) fetched")


class LabChoiceError(LabError):
    """A bad inventory, host, MAC or timeout: the caller's mistake (a CLI exits 2)."""


def sample_inventory() -> Path:
    """The inventory the lab boots by default (``provisioning/sample-inventory.yaml``)."""
    return SAMPLE_INVENTORY


# ---------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Step:
    """One step of a boot, at the time its line appeared (seconds since the VM started)."""

    t_s: float
    source: str  # console, dnsmasq, http, lab
    step: str
    line: str


@dataclass(frozen=True)
class VmBoot:
    """One virtual machine's network boot."""

    label: str
    host: str | None
    mac: str
    firmware: str  # bios | uefi
    expect: str  # booted | unknown-mac
    outcome: str  # booted | unknown-mac | timed out | qemu exited N | ...
    passed: bool
    wall_s: float
    qemu_exit: int | None
    stage: str  # hftinfra.provision.diagnose's stage for this MAC
    verdict: str
    steps: tuple[Step, ...]
    argv: tuple[str, ...]
    console: str = field(repr=False)

    def phases(self) -> list[tuple[str, float]]:
        """Where the wall time went: the time from each step to the next, by the step it
        ends at (steps of one second's resolution in dnsmasq's log are left out, so every
        duration here is between lines stamped as they appeared)."""
        out: list[tuple[str, float]] = []
        prev = 0.0
        for s in self.steps:
            out.append((s.step, max(0.0, s.t_s - prev)))
            prev = s.t_s
        return out

    def console_lines(self) -> list[str]:
        from hftinfra.provision.diagnose import console_lines

        return console_lines(self.console)


@dataclass(frozen=True)
class PxeLabResult:
    """What ``hftinfra lab pxe`` and the page show."""

    kernel: str
    inventory: str
    site: str
    dnsmasq_version: str
    qemu_version: str
    ipxe_versions: tuple[str, ...]
    firmware_files: dict
    generated_files: int
    boots: tuple[VmBoot, ...]
    skipped: tuple[str, ...]
    dnsmasq_argv: tuple[str, ...]
    dnsmasq_log: str = field(repr=False)
    http_log: str = field(repr=False)
    setup_s: float = 0.0
    boots_s: float = 0.0
    elapsed_s: float = 0.0
    virtual: str = "every client is a qemu virtual machine (TCG, no KVM)"
    cleanup: str = ""
    report: CleanupReport | None = field(default=None, repr=False, compare=False)
    docs: str = DOCS

    @property
    def passed(self) -> bool:
        return bool(self.boots) and all(b.passed for b in self.boots)

    def to_json(self) -> dict:
        doc = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}
        doc.update(to_jsonable(self))
        doc.pop("report", None)
        doc["passed"] = self.passed
        for b, jb in zip(self.boots, doc["boots"], strict=True):
            jb["phases"] = [{"step": s, "seconds": round(d, 3)} for s, d in b.phases()]
        for key in ("setup_s", "boots_s", "elapsed_s"):
            doc[key] = round(doc[key], 3)
        return doc

    def headline(self) -> str:
        ok = sum(b.passed for b in self.boots)
        return (f"lab pxe on kernel {self.kernel}: {len(self.boots)} network boot{'s' if len(self.boots) != 1 else ''} "
                f"of {self.inventory} ({ok} as expected) in {self.elapsed_s:.1f} s: set-up {self.setup_s:.1f} s, "
                f"boots {self.boots_s:.1f} s")

    def to_text(self) -> str:
        lines = [self.headline(), f"  {self.virtual}; {self.dnsmasq_version}; {self.qemu_version}"]
        if self.ipxe_versions:
            lines.append(f"  iPXE on the consoles: {', '.join(self.ipxe_versions)}")
        for b in self.boots:
            mark = "ok" if b.passed else "UNEXPECTED"
            lines.append(f"  {b.label}: {b.outcome} in {b.wall_s:.1f} s ({mark}; expected {b.expect}); "
                         f"diagnose: {b.stage}: {b.verdict}")
            for s in b.steps:
                lines.append(f"    {s.t_s:7.2f} s  {s.source:<7}  {s.step}")
        for why in self.skipped:
            lines.append(f"  skipped: {why}")
        lines.append(self.cleanup)
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__

    def figure(self):
        from hftinfra.viz.lab import pxe_timeline_figure

        return pxe_timeline_figure([(b.label, [(s.t_s, s.source, s.step) for s in b.steps], b.wall_s)
                                    for b in self.boots])

    def dnsmasq_lines(self, mac: str) -> list[str]:
        """dnsmasq's log lines about one MAC: its DHCP transactions (packets, classes, tags,
        boot file) and the TFTP transfers of its per-MAC files."""
        xids = set(re.findall(r"\]: (\d+) DHCP\w+\(\S+\) (?:\S+ )?" + re.escape(mac), self.dnsmasq_log))
        wanted = ("DHCP", "option: 67", "user class", "vendor class", "tags:")
        out = []
        for ln in self.dnsmasq_log.splitlines():
            m = re.search(r"\]: (\d+) ", ln)
            if (m and m[1] in xids and any(w in ln for w in wanted)) or (
                    "dnsmasq-tftp" in ln and mac.replace(":", "-") in ln):
                out.append(ln)
        return out

    def _repr_html_(self) -> str:
        from hftinfra.viz import figure_html

        rows = [[b.label, b.mac, b.firmware, b.outcome, f"{b.wall_s:.1f} s", b.expect,
                 "yes" if b.passed else "no", f"{b.stage}: {b.verdict}"] for b in self.boots]
        parts = [html_table("network boots", ["VM", "MAC", "firmware", "outcome", "wall time", "expected",
                                              "as expected", "diagnose"], rows, self.virtual)]
        if self.boots:
            parts.append(figure_html(self.figure().to_dict()))
        for b in self.boots:
            steps = [[f"{s.t_s:.2f}", s.source, s.step, s.line] for s in b.steps]
            parts.append("<details><summary>" + escape(f"{b.label}: timeline") + "</summary>"
                         + html_table(b.label, ["t (s)", "source", "step", "line"], steps) + "</details>")
            parts.append("<details><summary>" + escape(f"{b.label}: serial console") + "</summary><pre>"
                         + escape("\n".join(b.console_lines())) + "</pre></details>")
        for why in self.skipped:
            parts.append(f"<p>skipped: {escape(why)}</p>")
        parts.append(f"<p><small>{escape(self.headline())}; {escape(self.cleanup)}. Sources: "
                     f"{escape(self.docs)}.</small></p>")
        return "<div>" + "".join(parts) + "</div>"


# ---------------------------------------------------------------------------------------
# Planning: which VMs boot, with what


@dataclass(frozen=True)
class _Plan:
    label: str
    host: str | None
    mac: str
    firmware: str
    expect: str


def _bootable(host) -> str | None:
    """Why the lab cannot boot this host, or None."""
    if host.os_family != "rhel9":
        return f"{host.name} installs {host.os_family} through WinPE (wimboot), which the lab does not carry"
    if host.secure_boot:
        return (f"{host.name} boots under Secure Boot through {host.boot_chain}, whose signed loaders the lab "
                "does not carry")
    if host.install != "install":
        return f"{host.name} is marked installed (install: local): its script boots the local disk, and a VM has none"
    return None


def plan_boots(inventory, hosts: Sequence[str] | None = None, unknown_mac: str | None = UNKNOWN_MAC,
               uefi: bool = True) -> tuple[list[_Plan], list[str]]:
    """The VMs to boot and what was left out, with why. With no ``hosts``: the first BIOS
    and (``uefi``) the first UEFI Linux host the lab can boot; then the unknown MAC."""
    by_name = {h.name: h for h in inventory.hosts}
    chosen = []
    skipped: list[str] = []
    if hosts:
        for name in hosts:
            h = by_name.get(name)
            if h is None:
                raise LabChoiceError(f"no host {name!r} in {inventory.path} (hosts: {', '.join(by_name)})")
            why = _bootable(h)
            if why:
                raise LabChoiceError(f"cannot boot this host: {why}")
            if h not in chosen:
                chosen.append(h)
    else:
        for mode in ("bios", "uefi") if uefi else ("bios",):
            pick = next((h for h in inventory.hosts if h.firmware == mode and _bootable(h) is None), None)
            if pick is None:
                skipped.append(f"no {mode.upper()} Linux host in {Path(inventory.path).name} that the lab can boot")
            else:
                chosen.append(pick)
    plans = [_Plan(f"{h.name} ({h.firmware.upper()})", h.name, h.macs[0], h.firmware, "booted") for h in chosen]
    if unknown_mac is not None:
        from hftinfra.provision.diagnose import normalise_mac

        mac = normalise_mac(unknown_mac)
        if mac is None or len(mac) != 17:
            raise LabChoiceError(f"--unknown-mac {unknown_mac!r} is not a MAC address")
        owner = next((h.name for h in inventory.hosts if mac in h.macs), None)
        if owner:
            raise LabChoiceError(f"--unknown-mac {mac} belongs to {owner} in the inventory")
        plans.append(_Plan(f"unknown MAC {mac} (BIOS)", None, mac, "bios", "unknown-mac"))
    if not plans:
        raise LabChoiceError("nothing to boot: no host chosen and no unknown MAC")
    return plans, skipped


def _install_tree_path(site) -> str:
    """The install tree's folder under srv/, or LabError when it is not on the site's server."""
    u = urlsplit(site.install_tree)
    port = u.port or (80 if u.scheme == "http" else None)
    if u.scheme != "http" or u.hostname != str(site.server_ip) or port != site.http_port:
        raise LabChoiceError(f"site.install_tree {site.install_tree} is not on the site's HTTP server "
                       f"(http://{site.server_ip}:{site.http_port}), the only one the lab runs")
    return u.path.strip("/")


def find_loader(name: str) -> str | None:
    for d in IPXE_DIRS:
        for candidate in LOADERS[name]:
            path = os.path.join(d, candidate)
            if os.path.isfile(path):
                return path
    return None


def find_ovmf() -> tuple[str, str] | None:
    for code, vars_ in OVMF_PAIRS:
        if os.path.isfile(code) and os.path.isfile(vars_):
            return code, vars_
    return None


def qemu_argv(qemu: str, firmware: str, mac: str, tap: str, ovmf: tuple[str, str] | None = None,
              vars_copy: str | None = None, memory_mib: int = MEMORY_MIB) -> list[str]:
    """The qemu command of one VM: TCG, no disk, serial console on stdout, one NIC on ``tap``."""
    argv = [qemu, "-accel", "tcg", "-m", str(memory_mib), "-nographic", "-no-reboot",
            "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no"]
    if firmware == "uefi":
        if ovmf is None or vars_copy is None:
            raise LabError("a UEFI VM needs OVMF's code and a copy of its variables")
        argv += ["-drive", f"if=pflash,format=raw,readonly=on,file={ovmf[0]}",
                 "-drive", f"if=pflash,format=raw,file={vars_copy}",
                 # No option ROM: OVMF's own PXE client boots, as a UEFI server's firmware does.
                 "-device", f"virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1"]
    else:
        argv += ["-boot", "n", "-device", f"e1000,netdev=n0,mac={mac}"]
    return argv


# ---------------------------------------------------------------------------------------
# Reading lines as they appear


class _Tail:
    """New complete lines of a growing file, each stamped when first seen."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = b""
        self.lines: list[tuple[float, str]] = []

    def poll(self, now: float) -> list[str]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        if not data:
            return []
        self.offset += len(data)
        data = self.partial + data
        *done, self.partial = data.split(b"\n")
        new = [d.decode("utf-8", "replace").rstrip("\r") for d in done]
        self.lines += [(now, ln) for ln in new]
        return new

    def text(self) -> str:
        return "\n".join(ln for _t, ln in self.lines) + ("\n" if self.lines else "")


_CONSOLE_STEPS = (
    (re.compile(r"SeaBIOS \(version"), "SeaBIOS started"),
    (re.compile(r"^BdsDxe: loading Boot\S+ \"(?P<x>[^\"]+)\""), "OVMF boots {x}"),
    (re.compile(r">>Start PXE over IPv4"), "OVMF's PXE client asks DHCP"),
    (re.compile(r"NBP filename is (?P<x>\S+)"), "OVMF was told to load {x}"),
    (re.compile(r"NBP file downloaded successfully"), "OVMF downloaded the loader by TFTP"),
    (re.compile(r"iPXE initialising devices"), "iPXE started"),
    (re.compile(r"Press Ctrl-B for the iPXE command line"), "iPXE offers its command line (Ctrl-B, 2 s)"),
    (re.compile(r"Configuring \(net\d+ \S+\)\.*\s*ok"), "iPXE configured its address"),
    (re.compile(r"^Filename: (?P<x>\S+)"), "iPXE was told to load {x}"),
    (re.compile(r"^tftp://\S+/(?P<x>[^/\s]+)\.\.\. ok"), "iPXE fetched {x} by TFTP"),
    (re.compile(r"hftinfra: host (?P<x>\S+) \("), "{x}'s script runs"),
    (re.compile(r"^https?://\S+/(?P<x>[^/\s]+)\.\.\. ok"), "iPXE fetched {x} over HTTP"),
    (re.compile(r"^(?P<u>https?://\S+)\.\.\. (?P<x>(?!ok).+)"), "HTTP fetch failed: {x}"),
    (re.compile(r"hftinfra-lab: (?P<x>\S+) \("), "the stand-in kernel runs as {x}"),
    (re.compile(r"hftinfra: unknown MAC (?P<x>\S+)"), "fallback script: unknown MAC {x}"),
    (re.compile(r"could not boot: (?P<x>.*)"), "the script failed: {x}"),
)


_WRAPPED = (":", "http", "https")  # what console_lines joins with the next line
_UNKNOWN_LINE = re.compile(r"hftinfra: unknown MAC [0-9a-f:]{17}")
_FAILED_LINE = re.compile(r"hftinfra: \S+ \([0-9a-f:]{17}\) could not boot: (?P<why>.*)")


_DHCP_STEP = {"dhcp-discover": "DHCPDISCOVER", "dhcp-offer": "DHCPOFFER", "dhcp-request": "DHCPREQUEST",
              "dhcp-ack": "DHCPACK", "dhcp-nak": "DHCPNAK", "dhcp-ignored": "DHCP ignored"}
_INFO_KEYS = ("vendor class", "user class", "bootfile", "tags", "next server", "tftp server", "server name", "name")
_HTTP_LINE = re.compile(r"^\S+ (?P<ip>\d+\.\d+\.\d+\.\d+) \"(?P<method>[A-Z]+) (?P<path>\S+) [^\"]*\" (?P<code>\d{3})")


def _dnsmasq_steps(lines: list[tuple[float, str]], starts: dict[str, float], root: str) -> dict[str, list[Step]]:
    from hftinfra.provision.diagnose import parse_dnsmasq_log

    when: dict[str, list[float]] = {}
    for t, ln in lines:
        when.setdefault(ln, []).append(t)
    out: dict[str, list[Step]] = {}
    text = "\n".join(ln for _t, ln in lines)
    for ev in parse_dnsmasq_log(text):
        stamps = when.get(ev.line) or [None]
        t = stamps.pop(0) if len(stamps) > 1 else stamps[0]
        if t is None or ev.mac not in starts:
            continue
        if ev.kind in _DHCP_STEP:
            step = _DHCP_STEP[ev.kind]
            info = {key: part[len(key) + 1:] for part in ev.detail.split("; ")[1:] for key in _INFO_KEYS
                    if part.startswith(key + " ")}
            if "user class" in info:
                step += f" ({info['user class']})"
            elif "vendor class" in info and ev.kind in ("dhcp-discover", "dhcp-request"):
                arch = re.search(r"Arch:(\d+)", info["vendor class"])
                step += f" (PXE, architecture {int(arch[1])})" if arch else ""
            if "bootfile" in info and ev.kind in ("dhcp-offer", "dhcp-ack"):
                step += f": boot file {info['bootfile']}"
        elif ev.kind == "tftp-sent":
            path = ev.detail.split(" ", 1)[1].rsplit(" to ", 1)[0]
            step = f"TFTP sent {path[len(root) + 1:] if path.startswith(root + '/') else path}"
        elif ev.kind == "tftp-not-found":
            step = f"TFTP: {ev.detail}"
        elif ev.kind == "tftp-error" and " 8 " in f" {ev.detail} ":
            # RFC 2347/2349: UEFI PXE asks for a file's size (tsize) first, then ends that
            # transfer with error 8 and asks again.
            step = "TFTP: the client ended a transfer (error 8), as UEFI PXE does after reading the size"
        elif ev.kind == "tftp-error":
            step = f"TFTP: {ev.detail}"
        else:
            continue
        out.setdefault(ev.mac, []).append(Step(t - starts[ev.mac], "dnsmasq", step, ev.line))
    return out


def _http_steps(lines: list[tuple[float, str]], ip_mac: dict[str, str], starts: dict[str, float]) -> dict[str, list[Step]]:
    out: dict[str, list[Step]] = {}
    for t, ln in lines:
        m = _HTTP_LINE.match(ln)
        if not m:
            continue
        mac = ip_mac.get(m["ip"])
        if mac not in starts:
            continue
        out.setdefault(mac, []).append(Step(t - starts[mac], "http", f"HTTP {m['method']} {m['path']}: {m['code']}", ln))
    return out


def _ack_ips(dnsmasq_text: str) -> dict[str, str]:
    from hftinfra.provision.diagnose import parse_dnsmasq_log

    out = {}
    for ev in parse_dnsmasq_log(dnsmasq_text):
        if ev.kind == "dhcp-ack" and ev.mac:
            m = re.search(r"\) (\d+\.\d+\.\d+\.\d+)", ev.detail)
            if m:
                out[m[1]] = ev.mac
    return out


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "unknown")


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    return _first_line(done.stdout or done.stderr)


# ---------------------------------------------------------------------------------------
# Running


@dataclass
class _Vm:
    plan: _Plan
    tap: str
    argv: list[str]
    proc: LabProcess | None = None
    tail: _Tail | None = None
    started: float = 0.0
    ended: float | None = None
    exit_code: int | None = None
    outcome: str = ""
    steps: list[Step] = field(default_factory=list)
    stop_at: float | None = None
    scanned: int = -1  # the console's size when last scanned
    seen: set = field(default_factory=set)  # (step, occurrence) already stamped


def run_pxe_lab(inventory: str | Path | None = None, *, hosts: Sequence[str] | None = None,
                unknown_mac: str | None = UNKNOWN_MAC, uefi: bool = True, timeout_s: float = BOOT_TIMEOUT_S,
                jobs: int | None = None, on_step: Callable[[str], object] | None = None) -> PxeLabResult:
    """Generate the boot path of ``inventory`` (the sample by default), serve it from a
    server namespace and network-boot a VM per chosen host (and one with an unknown MAC);
    clean up whatever happens. Raises :class:`LabUnavailable` (one line) when this machine
    cannot run it, :class:`LabError` for a bad choice of hosts."""
    from hftinfra.provision.generate import SRV, generate, write_tree
    from hftinfra.provision.inventory import InventoryError, load_inventory

    if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s <= MAX_TIMEOUT_S):
        raise LabChoiceError(f"the boot timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} s, not {timeout_s!r}")
    started = time.monotonic()
    source = Path(inventory) if inventory is not None else sample_inventory()
    try:
        inv = load_inventory(source)
    except InventoryError as exc:
        raise LabChoiceError(str(exc).splitlines()[0]) from None
    except OSError as exc:
        raise LabChoiceError(f"{source}: {exc.strerror or exc}") from None
    plans, skipped = plan_boots(inv, hosts, unknown_mac, uefi)
    ovmf = find_ovmf()
    if any(p.firmware == "uefi" for p in plans) and ovmf is None:
        if hosts:
            raise LabUnavailable("lab pxe needs OVMF for a UEFI host (Debian package ovmf), which is not installed")
        skipped += [f"{p.label}: OVMF (Debian package ovmf) is not installed" for p in plans if p.firmware == "uefi"]
        plans = [p for p in plans if p.firmware != "uefi"]
    tree = _install_tree_path(inv.site)
    capability = lab_capability()
    if not capability:
        raise LabUnavailable(f"lab pxe {capability.reason}")
    tools = check_tools("pxe", TOOLS)
    loaders = {name: find_loader(name) for name in LOADERS}
    if any(p.firmware == "uefi" for p in plans) and loaders["ipxe.efi"] is None:
        raise LabUnavailable("lab pxe needs iPXE's ipxe.efi for its UEFI boot (Debian package ipxe), which is not "
                             "installed")
    versions = (_version([tools["dnsmasq"], "--version"]), _version([tools["qemu-system-x86_64"], "--version"]))
    jobs = max(1, jobs or os.cpu_count() or 1)
    site = inv.site

    with Lab("pxe", on_step=on_step) as lab:
        assert lab.tmpdir is not None
        tmp = lab.tmpdir
        # dnsmasq serves TFTP as an unprivileged user: it must pass through the temp dir (not
        # list it) to read srv/. The inventory copy stays the owner's alone, and the Windows
        # files (unattend.xml may hold an admin password hash) are removed: no VM boots them.
        os.chmod(tmp, 0o711)
        copy = tmp / source.name
        shutil.copyfile(source, copy)
        os.chmod(copy, 0o600)
        out = tmp / "out"
        lab_inv = load_inventory(copy)
        generated = generate(lab_inv, root=str(out / SRV))
        write_tree(generated, out)
        srv = out / SRV
        shutil.rmtree(srv / "winpe", ignore_errors=True)
        for name, path in loaders.items():
            if path:
                shutil.copyfile(path, srv / name)
        pxeboot = srv / tree / "images" / "pxeboot"
        pxeboot.mkdir(parents=True, exist_ok=True)
        (pxeboot / "vmlinuz").write_text(STAND_IN)
        (pxeboot / "initrd.img").write_text("a stand-in initrd: the lab's kernel is an iPXE script\n")
        lab._step(f"pxe: generated {len(generated.files)} files for {len(lab_inv.hosts)} hosts; stand-in kernel at "
                  f"{site.install_tree}/images/pxeboot/vmlinuz")

        srv_ns, vm_ns = lab.netns("server"), lab.netns("vms")
        lab.veth(srv_ns, vm_ns, names=(site.interface, "uplink"), addressed=False)
        ip = capability.ip or "ip"
        prefix = site.subnet.prefixlen
        server_v6 = f"{RA_PREFIX.network_address + 2}/{RA_PREFIX.prefixlen}"
        for argv in (["addr", "add", f"{site.server_ip}/{prefix}", "dev", site.interface],
                     ["addr", "add", server_v6, "dev", site.interface, "nodad"],
                     ["link", "set", "lo", "up"]):
            lab.run(srv_ns, [ip, *argv], check=True)
        for argv in (["link", "add", "br0", "type", "bridge"], ["link", "set", "uplink", "master", "br0"],
                     ["link", "set", "br0", "up"]):
            lab.run(vm_ns, [ip, *argv], check=True)
        vms: list[_Vm] = []
        for i, plan in enumerate(plans):
            tap = f"tap{i}"
            lab.run(vm_ns, [ip, "tuntap", "add", tap, "mode", "tap"], check=True)
            lab.run(vm_ns, [ip, "link", "set", tap, "master", "br0"], check=True)
            lab.run(vm_ns, [ip, "link", "set", tap, "up"], check=True)
            vars_copy = None
            if plan.firmware == "uefi":
                vars_copy = str(tmp / f"ovmf-vars-{i}.fd")
                shutil.copyfile(ovmf[1], vars_copy)  # type: ignore[index]
            vms.append(_Vm(plan, tap, qemu_argv(tools["qemu-system-x86_64"], plan.firmware, plan.mac, tap, ovmf,
                                                vars_copy)))

        dnsmasq_log = tmp / "dnsmasq.log"
        dnsmasq_argv = [tools["dnsmasq"], "--keep-in-foreground", f"--conf-file={out / 'dnsmasq' / 'dnsmasq.conf'}",
                        f"--log-facility={dnsmasq_log}", f"--dhcp-leasefile={tmp / 'dnsmasq.leases'}",
                        f"--pid-file={tmp / 'dnsmasq.pid'}", "--enable-ra",
                        f"--dhcp-range={RA_PREFIX.network_address},ra-only,{RA_PREFIX.prefixlen}"]
        dnsmasq = lab.start(srv_ns, dnsmasq_argv, log="dnsmasq.out")
        http = lab.start(srv_ns, [sys.executable, "-m", "hftinfra", "provision", "serve", "--inventory", str(copy),
                                  "--out", str(out), "--bind", str(site.server_ip), "--port", str(site.http_port)],
                         log="http.log", env={**os.environ, "PYTHONUNBUFFERED": "1"})
        dlog, hlog = _Tail(dnsmasq_log), _Tail(tmp / "http.log")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (any("TFTP root is" in ln for _t, ln in dlog.lines) and any("serve:" in ln for _t, ln in hlog.lines)):
            now = time.monotonic()
            dlog.poll(now)
            hlog.poll(now)
            for proc, what in ((dnsmasq, "dnsmasq"), (http, "the HTTP server")):
                if not proc.running:
                    tail = (proc.output().strip().splitlines() or ["no output"])[-1]
                    raise LabError(f"{what} exited {proc.returncode}: {tail}")
            if now > deadline:
                raise LabError(f"dnsmasq or the HTTP server did not start within {START_TIMEOUT_S:g} s")
            time.sleep(POLL_S)
        setup_s = time.monotonic() - started

        boots_t0 = time.monotonic()
        pending = list(vms)
        running: list[_Vm] = []
        while pending or running:
            while pending and len(running) < jobs:
                vm = pending.pop(0)
                vm.proc = lab.start(vm_ns, vm.argv, log=f"console-{vm.tap}.txt")
                vm.started = time.monotonic()
                vm.tail = _Tail(vm.proc.log)
                lab._step(f"pxe: booting {vm.plan.label}")
                running.append(vm)
            now = time.monotonic()
            dlog.poll(now)
            hlog.poll(now)
            for vm in list(running):
                assert vm.proc is not None and vm.tail is not None
                vm.tail.poll(now)
                _scan_console(vm, now)
                rc = vm.proc.returncode
                if rc is not None:
                    vm.tail.poll(now)
                    _scan_console(vm, now, final=True)
                    vm.ended, vm.exit_code = now, rc
                    vm.outcome = vm.outcome or f"qemu exited {rc} before the marker"
                elif vm.stop_at is not None and now >= vm.stop_at:
                    vm.exit_code = vm.proc.stop()
                    vm.ended = time.monotonic()
                    vm.tail.poll(now)
                    _scan_console(vm, now, final=True)
                elif now - vm.started > timeout_s:
                    vm.exit_code = vm.proc.stop()
                    vm.ended = time.monotonic()
                    vm.tail.poll(now)
                    _scan_console(vm, now, final=True)
                    last = vm.steps[-1].step if vm.steps else "nothing on the console"
                    vm.outcome = f"timed out after {timeout_s:g} s (last step: {last})"
                if vm.ended is not None:
                    how = "stopped by the lab" if vm.stop_at is not None or vm.outcome.startswith("timed out") \
                        else f"qemu exited {vm.exit_code}"
                    vm.steps.append(Step(vm.ended - vm.started, "lab", how, ""))
                    lab._step(f"pxe: {vm.plan.label}: {vm.outcome} after {vm.ended - vm.started:.1f} s")
                    running.remove(vm)
            time.sleep(POLL_S)
        boots_s = time.monotonic() - boots_t0
        time.sleep(0.2)  # dnsmasq's last lines
        now = time.monotonic()
        dlog.poll(now)
        hlog.poll(now)
        dnsmasq.stop()
        http.stop()
        dnsmasq_text, http_text = dlog.text(), hlog.text()
        served = {p[len(SRV) + 1:] for p in generated.files if p.startswith(SRV + "/")} | set(LOADERS)
        starts = {vm.plan.mac: vm.started for vm in vms}
        by_dnsmasq = _dnsmasq_steps(dlog.lines, starts, str(srv))
        by_http = _http_steps(hlog.lines, _ack_ips(dnsmasq_text), starts)
        boots = tuple(_finish(vm, by_dnsmasq.get(vm.plan.mac, []) + by_http.get(vm.plan.mac, []), dnsmasq_text,
                              served) for vm in vms)
    report = lab.cleanup_report()
    ipxe = tuple(dict.fromkeys(m[1] for b in boots for m in re.finditer(r"(iPXE \d\S*)", "\n".join(b.console_lines()))))
    firmware_files = {"ipxe loaders": dict(loaders), "ovmf": list(ovmf) if ovmf else None}
    return PxeLabResult(os.uname().release, str(source), site.name, versions[0], versions[1], ipxe, firmware_files,
                        len(generated.files), boots, tuple(skipped), tuple(dnsmasq_argv), dnsmasq_text, http_text,
                        setup_s, boots_s, time.monotonic() - started, cleanup=report.summary(), report=report)


def _scan_console(vm: _Vm, now: float, final: bool = False) -> None:
    """Stamp the console's steps as they show. Fixed text is stamped at once, even on a line
    not yet ended (firmware often ends a line only when it starts the next one); a step that
    names something waits until its line is whole: ended, and not one that iPXE's wrap at 80
    columns continues on the next line (``console_lines`` joins those)."""
    from hftinfra.provision.diagnose import console_lines

    assert vm.tail is not None
    if vm.tail.offset == vm.scanned and not final:
        return
    vm.scanned = vm.tail.offset
    complete = "\n".join(ln for _t, ln in vm.tail.lines)
    whole = console_lines(complete + "\n" + vm.tail.partial.decode("utf-8", "replace"))
    done = console_lines(complete)
    settled = len(whole) if final else len(done) - (1 if done and done[-1].endswith(_WRAPPED) else 0)
    # The n-th line that matches a step is that step's n-th occurrence; counting, not line
    # numbers, names it, since a partial line's escapes and line ends may still change.
    fresh = []
    for k, (rx, text) in enumerate(_CONSOLE_STEPS):
        n = 0
        for i, ln in enumerate(whole[:settled] if rx.groups else whole):
            m = rx.search(ln)
            if not m:
                continue
            if (k, n) not in vm.seen:
                vm.seen.add((k, n))
                fresh.append((i, k, Step(now - vm.started, "console", text.format(**m.groupdict()), ln)))
            n += 1
    vm.steps += [step for _i, _k, step in sorted(fresh, key=lambda f: (f[0], f[1]))]
    for ln in whole[:settled]:
        m = LAB_MARKER.search(ln)
        if m and vm.plan.expect == "booted" and m["mac"] == vm.plan.mac:
            vm.outcome = "booted"
        # Both end at a prompt (the menu, iPXE's shell) that would wait for a keyboard.
        failed = _FAILED_LINE.search(ln)
        if _UNKNOWN_LINE.search(ln) or failed:
            vm.outcome = "unknown-mac" if not failed else f"the host's script failed: {failed['why']}"
            if vm.stop_at is None:
                vm.stop_at = now + UNKNOWN_GRACE_S


def _finish(vm: _Vm, server_steps: list[Step], dnsmasq_text: str, served: set[str]) -> VmBoot:
    """The VM's boot record: its console steps with the servers' steps about its MAC, and
    diagnose's verdict on dnsmasq's log with this VM's console."""
    from hftinfra.provision.diagnose import diagnose

    assert vm.tail is not None and vm.ended is not None
    steps = vm.steps + server_steps
    steps.sort(key=lambda s: (s.t_s, s.source == "lab"))
    console = vm.tail.text() + vm.tail.partial.decode("utf-8", "replace")
    hosts = {vm.plan.mac: vm.plan.host} if vm.plan.host else {}
    path = next((p for p in diagnose(dnsmasq_text, console, hosts=hosts, served=served).paths
                 if p.mac == vm.plan.mac), None)
    stage, verdict = (path.stage, path.verdict) if path else ("no-discover", "dnsmasq logged nothing from this MAC")
    outcome = vm.outcome or "stopped"
    passed = outcome == vm.plan.expect and stage == vm.plan.expect
    return VmBoot(vm.plan.label, vm.plan.host, vm.plan.mac, vm.plan.firmware, vm.plan.expect, outcome, passed,
                  vm.ended - vm.started, vm.exit_code, stage, verdict, tuple(steps), tuple(vm.argv), console)


def lab_view(inventory: str | Path | None = None, **kwargs) -> object:
    """For a page: the lab's boots, or, when this machine cannot run it (not root, no
    ``ip``, no network namespaces, dnsmasq or qemu missing), a one-line note saying why.
    ``kwargs`` go to :func:`run_pxe_lab`."""
    return page_view("pxe", run_pxe_lab, inventory, **kwargs)


__all__ = ["BOOT_TIMEOUT_S", "UNKNOWN_MAC", "LabChoiceError", "PxeLabResult", "Step", "VmBoot", "find_loader", "find_ovmf",
           "lab_view", "plan_boots", "qemu_argv", "run_pxe_lab", "sample_inventory"]
