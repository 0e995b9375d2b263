"""WinPE files for a Windows host: what iPXE's wimboot injects into WinPE, and the answer
file the installed Windows reads at first boot.

The host's iPXE script loads ``wimboot`` and the WinPE boot files (BCD, boot.sdi, boot.wim)
from ``site.windows_tree`` over HTTP, then these three files from ``srv/winpe/HOST/``;
wimboot places files it does not know as boot files into ``X:\\Windows\\System32``
(ipxe.org/wimboot), where WinPE runs ``startnet.cmd``:

- ``startnet.cmd``: ``wpeinit``, waits for the provisioning server, runs ``install.ps1``;
  a failure stops at a prompt with one line saying why (a reboot would net-boot again and
  loop);
- ``install.ps1``: connects the SMB share holding the install image (WinPE cannot read an
  image over HTTP), partitions the disk with diskpart (GPT for UEFI, MBR for BIOS), applies
  the image with ``dism /Apply-Image``, makes it bootable with ``bcdboot``, copies the answer
  file to ``W:\\Windows\\Panther`` and reboots;
- ``unattend.xml``: computer name, time zone, static address, locale, OOBE screens skipped,
  and the power plan set during the specialize pass (``powercfg``).

No PowerShell and no Windows run on the machines this project is tested on; the files are
checked as text (:mod:`hftinfra.provision.wintext`), and the pages say so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hftinfra.provision.inventory import Host, InventoryError, Site
from hftinfra.provision.render import crlf, render

WINPE_FILES = ("startnet.cmd", "install.ps1", "unattend.xml")
# (path under site.windows_tree, the name wimboot is given). wimboot takes bootmgr from
# boot.wim (\Windows\Boot\PXE\bootmgr.exe) when none is given (ipxe.org/wimboot).
WIMBOOT_FILES = (("boot/bcd", "BCD"), ("boot/boot.sdi", "boot.sdi"), ("sources/boot.wim", "boot.wim"))
# powercfg's built-in schemes (Microsoft, "Power Policy Settings"; powercfg /list).
HIGH_PERFORMANCE = "8c5e7fda-e8bf-4a96-9a85-a6e23a8c635c"
ULTIMATE_PERFORMANCE = "e9a42b02-d5df-448d-aa00-03f14749eb61"
# A NetBIOS computer name is at most 15 characters (Shell-Setup ComputerName).
COMPUTER_NAME_MAX = 15


def wimboot_files(host: Host) -> tuple[tuple[str, str], ...]:
    return WIMBOOT_FILES


@dataclass(frozen=True)
class BootFile:
    """One file the host's iPXE script hands wimboot: the name wimboot sees, where iPXE
    fetches it, and what reads it."""

    name: str
    url: str
    what: str


_WHAT = {
    "BCD": "the boot configuration bootmgr reads; wimboot patches it to boot the RAM disk",
    "boot.sdi": "the System Deployment Image: the empty RAM disk that boot.wim is mounted from",
    "boot.wim": "WinPE itself; mounted as X: and run from memory",
    "startnet.cmd": "run by WinPE's shell at start: wpeinit, wait for the server, run install.ps1",
    "install.ps1": "partitions the disk, applies the image, makes it bootable, copies the answer file",
    "unattend.xml": "the answer file Windows reads at first boot (specialize, oobeSystem)",
}


def wimboot_payload(host: Host, site: Site) -> tuple[BootFile, ...]:
    """The files after ``kernel wimboot`` in the host's iPXE script, in order: WinPE's
    boot files from ``site.windows_tree``, then this host's generated files, which wimboot
    adds to ``X:\\Windows\\System32`` (ipxe.org/wimboot)."""
    tree = site.windows_tree.rstrip("/")
    out = [BootFile(name, f"{tree}/{path}", _WHAT[name]) for path, name in wimboot_files(host)]
    out += [BootFile(name, f"{site.http_url}/winpe/{host.name}/{name}", _WHAT[name]) for name in WINPE_FILES]
    return tuple(out)


def _power_commands(host: Host) -> list[dict]:
    if host.power_plan == "ultimate-performance":
        # Ultimate Performance is hidden on most editions: duplicate it under a fixed GUID
        # (derived from the host name, so output stays the same), then activate that copy.
        copy = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{host.name}.ultimate-performance.hftinfra"))
        return [{"description": "Power plan: Ultimate Performance (a copy of the hidden scheme)",
                 "path": f"powercfg.exe /duplicatescheme {ULTIMATE_PERFORMANCE} {copy}"},
                {"description": "Power plan: activate it", "path": f"powercfg.exe /setactive {copy}"}]
    return [{"description": "Power plan: High performance",
             "path": f"powercfg.exe /setactive {HIGH_PERFORMANCE}"}]


def render_winpe(host: Host, site: Site, inventory: str = "the inventory") -> dict[str, str]:
    """startnet.cmd, install.ps1 and unattend.xml for one Windows host, with CRLF line ends,
    keyed by their path under srv/."""
    if host.os_family != "windows":
        raise InventoryError(f"host {host.name}: WinPE files are for Windows hosts, not {host.os_family}")
    computer = host.name.upper()
    if len(computer) > COMPUTER_NAME_MAX:
        raise InventoryError(f"{inventory}: host {host.name}: name: a Windows computer name has at most "
                             f"{COMPUTER_NAME_MAX} characters")
    uefi = host.firmware == "uefi"
    ctx = {
        "host": host, "site": site, "inventory": inventory, "uefi": uefi, "server": str(site.server_ip),
        "image": host.os.get("image", "install.wim"), "image_index": int(host.os.get("image_index", 1)),
        "computer_name": computer, "timezone": host.os.get("timezone", site.timezone),
        "locale": host.os.get("locale", "en-US"), "admin_password_hash": host.os.get("admin_password_hash"),
        "power_commands": _power_commands(host),
    }
    base = f"winpe/{host.name}"
    return {f"{base}/{name}": crlf(render(f"winpe/{name}.j2", **ctx)) for name in WINPE_FILES}


__all__ = ["BootFile", "HIGH_PERFORMANCE", "ULTIMATE_PERFORMANCE", "WIMBOOT_FILES", "WINPE_FILES", "render_winpe",
           "wimboot_files", "wimboot_payload"]
