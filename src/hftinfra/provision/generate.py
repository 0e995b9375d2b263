"""``hftinfra provision``: the boot path of every host in an inventory, as files.

Output layout (``--out DIR``)::

    DIR/MANIFEST.json                  every file written, with its SHA-256; what to copy in
    DIR/dnsmasq/dnsmasq.conf           DHCP + TFTP for the boot subnet
    DIR/dnsmasq/dnsmasq-proxy.conf     the same as proxy-DHCP, beside a DHCP server you do not own
    DIR/srv/                           install at site.root: dnsmasq's tftp-root and the HTTP root
        ipxe/hosts/MAC.ipxe            one per MAC (52-54-00-12-34-56.ipxe), handed to iPXE by dnsmasq
        ipxe/unknown.ipxe              for MACs the inventory does not know: says so, with the MAC
        ipxe/menu.ipxe                 every host, to boot one by hand
        sb/autoexec.ipxe               read by a signed ipxe.efi under Secure Boot
        grub/grub.cfg, grub/hosts/MAC.cfg   the shim -> GRUB chain under Secure Boot
        ks/HOST.ks                     Kickstart per Linux host (RHEL 9)
        winpe/HOST/...                 startnet.cmd, install.ps1, unattend.xml per Windows host

Binaries are not generated: ``MANIFEST.json`` lists, under ``supply``, each one the boot
path needs (``undionly.kpxe``, ``ipxe.efi``, shims, the installer's kernel) with where it
comes from. Output is deterministic: the same inventory gives the same bytes.

:func:`write_tree` refuses a directory holding files it did not write (by the manifest
there), unless ``force``; files of an earlier run that this one no longer makes (the old
MAC's script after a swap) are removed and reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hftinfra.provision.inventory import Host, Inventory, InventoryError, mac_hyphens
from hftinfra.provision.render import render

MANIFEST = "MANIFEST.json"
MANIFEST_VERSION = 1
SRV = "srv"


@dataclass(frozen=True)
class Supply:
    """A binary the boot path needs and no generator makes."""

    path: str  # under srv/
    what: str
    source: str


@dataclass(frozen=True)
class Generated:
    inventory: str
    root: str  # dnsmasq's tftp-root in the generated configuration
    files: dict[str, bytes]  # path under DIR -> content
    supply: tuple[Supply, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def manifest(self) -> dict:
        return {
            "version": MANIFEST_VERSION,
            "generator": "hftinfra provision",
            "inventory": self.inventory,
            "root": self.root,
            "files": {p: hashlib.sha256(b).hexdigest() for p, b in sorted(self.files.items())},
            "supply": [{"path": f"{SRV}/{s.path}", "what": s.what, "source": s.source} for s in self.supply],
        }

    def manifest_bytes(self) -> bytes:
        return (json.dumps(self.manifest(), indent=2, sort_keys=True) + "\n").encode()

    def text(self, path: str) -> str:
        return self.files[path].decode()


def script_path(mac: str) -> str:
    """Where a MAC's iPXE script is, relative to the TFTP root."""
    return f"ipxe/hosts/{mac_hyphens(mac)}.ipxe"


def mac_tag(mac: str) -> str:
    return "mac-" + mac.replace(":", "")


def _profile(spec: str, cache: dict | None = None):
    from hftinfra.profiles import load_profile

    if cache is None:
        return load_profile(spec)
    if spec not in cache:
        cache[spec] = load_profile(spec)
    return cache[spec]


def host_plan(host: Host, cache: dict | None = None):
    """The settings plan of a Linux host's profile and variables (``cache`` keeps loaded
    profiles across the hosts of one generation)."""
    from hftinfra.settings import plan_settings

    profile = _profile(host.profile, cache)
    hugepages = (host.hugepage_size_kb, host.hugepages) if host.hugepages is not None else None
    return profile, plan_settings(profile, host.variables, hugepages=hugepages, nr_cpus=host.cpus)


def generate(inventory: Inventory, *, root: str | None = None) -> Generated:
    """Render every file for ``inventory``. ``root`` replaces site.root in dnsmasq's
    tftp-root (a lab serving the generated srv/ where it lies)."""
    site = inventory.site
    name = Path(inventory.path).name
    common = {"site": site, "inventory": name, "hosts": inventory.hosts}
    files: dict[str, str] = {}
    root = root or site.root
    for proxy, out in ((False, "dnsmasq/dnsmasq.conf"), (True, "dnsmasq/dnsmasq-proxy.conf")):
        files[out] = render("dnsmasq/dnsmasq.conf.j2", proxy=proxy, root=root, mac_tag=mac_tag,
                            script_path=script_path, unknown_path="ipxe/unknown.ipxe", **common)
    files[f"{SRV}/ipxe/unknown.ipxe"] = render("ipxe/unknown.ipxe.j2", **common)
    files[f"{SRV}/ipxe/menu.ipxe"] = render("ipxe/menu.ipxe.j2", **common)

    chains = {h.boot_chain for h in inventory.hosts if h.secure_boot}
    if "ipxe-shim" in chains:
        files[f"{SRV}/sb/autoexec.ipxe"] = render("ipxe/autoexec.ipxe.j2", **common)
    grub_hosts = tuple(h for h in inventory.hosts if h.boot_chain == "shim-grub")
    if grub_hosts:
        files[f"{SRV}/grub/grub.cfg"] = render("grub/grub.cfg.j2", **{**common, "hosts": grub_hosts})

    profiles: dict = {}
    for host in inventory.hosts:
        winpe_files: tuple[str, ...] = ()
        wimboot: tuple[str, ...] = ()
        if host.os_family == "windows":
            from hftinfra.provision import winpe

            for path, text in winpe.render_winpe(host, site, name).items():
                files[f"{SRV}/{path}"] = text
            winpe_files = tuple(winpe.WINPE_FILES)
            wimboot = tuple(winpe.wimboot_files(host))
        else:
            files[f"{SRV}/ks/{host.name}.ks"] = kickstart(host, inventory, profiles)
        for mac in host.macs:
            files[f"{SRV}/{script_path(mac)}"] = render(
                "ipxe/host.ipxe.j2", host=host, mac=mac, winpe_files=winpe_files, wimboot_files=wimboot, **common)
            if host.boot_chain == "shim-grub":
                files[f"{SRV}/grub/hosts/{mac_hyphens(mac)}.cfg"] = render("grub/host.cfg.j2", host=host, mac=mac,
                                                                           **common)
    return Generated(inventory=name, root=root, files={p: t.encode() for p, t in sorted(files.items())},
                     supply=_supply(inventory))


def kickstart(host: Host, inventory: Inventory, cache: dict | None = None) -> str:
    """The Kickstart of one Linux host, with its profile's kernel arguments and %post."""
    from hftinfra.profiles import ProfileError

    site = inventory.site
    profile, plan = host_plan(host, cache)
    try:
        post = post_context(profile, plan, profile_spec=host.profile, host_name=host.name,
                            variables=host.variables, hftinfra_package=site.hftinfra_package, site=site)
    except ProfileError as exc:
        raise InventoryError(f"{inventory.path}: host {host.name}: tuning.profile: {exc}") from None
    ctx = {"site": site, "inventory": Path(inventory.path).name, "host": host, "plan": plan}
    return render("kickstart/host.ks.j2", kernel_args=plan.kernel_args(), cmdline=plan.cmdline(), **{**ctx, **post})


def tuned_include(profile) -> str:
    """The stock tuned profile closest to ``profile``: the last of its include chain that
    tuned ships, so the generated profile adds only what the chain adds past it."""
    stock = [name for name in profile.chain if name in STOCK_TUNED_PROFILES]
    return stock[-1] if stock else "network-latency"


# Profiles tuned ships (tuned 2.2x, profiles/): the ones a generated profile may include.
STOCK_TUNED_PROFILES = ("accelerator-performance", "balanced", "cpu-partitioning", "desktop", "hpc-compute",
                        "intel-sst", "latency-performance", "network-latency", "network-throughput",
                        "optimize-serial-console", "powersave", "realtime", "throughput-performance",
                        "virtual-guest", "virtual-host")


def post_context(profile, plan, *, profile_spec: str, host_name: str, variables: dict,
                 hftinfra_package: str = "hftinfra", site=None) -> dict:
    """What the Kickstart's ``%post`` section renders from (``kickstart/post.ks.j2``), for
    a host that runs ``profile`` with ``variables``. ``site`` adds the call that tells the
    provisioning server the install finished; ``hftinfra fix --format kickstart-post``
    renders the same section without one."""
    from hftinfra.checks.values import show_value
    from hftinfra.profiles import PROFILE_DIR, ProfileError, _read_yaml, resolve_profile_path

    path = resolve_profile_path(profile_spec)
    shipped = path.parent == PROFILE_DIR.resolve()
    profile_text = profile_file = ""
    if not shipped:
        includes = _read_yaml(path).get("include") or []
        for inc in [includes] if isinstance(includes, str) else includes:
            if "/" in inc or inc.endswith((".yaml", ".yml")):
                raise ProfileError(f"{profile_spec} includes {inc} by path; the new host gets only this one "
                                   "file, so include shipped profiles by name")
        profile_file = path.name
        profile_text = path.read_text(encoding="utf-8")
        if not profile_text.endswith("\n"):
            profile_text += "\n"
    audit_profile = profile.name if shipped else f"/etc/hftinfra/{profile_file}"
    audit_vars = [(k, show_value(v)) for k, v in sorted(variables.items())]
    tuned_name = f"hftinfra-{profile.name}"
    include = tuned_include(profile)
    tuned_conf = render("tuned/tuned.conf.j2", plan=plan, include=include, sections=plan.tuned_sections(),
                        bootloader=(), sysctls=())
    sysctl_conf = render("tuned/sysctl.conf.j2", plan=plan, sysctls=plan.sysctls())
    unit = render("tuned/firstboot.service.j2", plan=plan, audit_profile=audit_profile, audit_vars=audit_vars)
    return {"tuned_name": tuned_name, "tuned_include": include, "tuned_conf": tuned_conf,
            "sysctl_conf": sysctl_conf, "firstboot_unit": unit, "profile_text": profile_text,
            "profile_file": profile_file, "host_name": host_name, "hftinfra_package": hftinfra_package,
            "site": site}


def post_section(profile, plan, **kwargs) -> str:
    """The ``%post`` section alone (see :func:`post_context`)."""
    return render("kickstart/post.ks.j2", plan=plan, **post_context(profile, plan, **kwargs))


def _supply(inventory: Inventory) -> tuple[Supply, ...]:
    hosts = inventory.hosts
    out: list[Supply] = []
    plain = [h for h in hosts if h.boot_chain == "ipxe"]
    if any(h.firmware == "bios" for h in plain):
        out.append(Supply("undionly.kpxe", "iPXE for BIOS PXE ROMs (chains through the ROM's UNDI driver)",
                          "Debian/Ubuntu package ipxe: /usr/lib/ipxe/undionly.kpxe; or built from ipxe.org"))
    if any(h.firmware == "uefi" for h in plain):
        out.append(Supply("ipxe.efi", "iPXE for x64 UEFI (also served over HTTP for HTTP boot)",
                          "Debian/Ubuntu package ipxe: /usr/lib/ipxe/ipxe.efi; or built from ipxe.org"))
    if any(h.boot_chain == "shim-grub" for h in hosts):
        out += [Supply("grub/shimx64.efi", "the distribution's shim, signed by Microsoft's UEFI CA",
                       "RHEL 9 install tree EFI/BOOT/BOOTX64.EFI (package shim-x64)"),
                Supply("grub/grubx64.efi", "GRUB, signed by the distribution",
                       "RHEL 9 install tree EFI/BOOT/grubx64.efi (package grub2-efi-x64)"),
                Supply("rhel9/vmlinuz", "the installer's kernel, for GRUB to load over TFTP",
                       "RHEL 9 install tree images/pxeboot/vmlinuz"),
                Supply("rhel9/initrd.img", "the installer's initrd", "RHEL 9 install tree images/pxeboot/initrd.img")]
    if any(h.boot_chain == "ipxe-shim" for h in hosts):
        out += [Supply("sb/shimx64.efi", "iPXE's shim, signed by Microsoft's UEFI CA",
                       "the signed iPXE release (ipxe.org, 'UEFI Secure Boot')"),
                Supply("sb/ipxe.efi", "iPXE signed for that shim (carries no embedded script)",
                       "the signed iPXE release (ipxe.org, 'UEFI Secure Boot')")]
    windows = [h for h in hosts if h.os_family == "windows"]
    site = inventory.site
    prefix = site.http_url + "/"
    if windows and (site.windows_tree + "/").startswith(prefix):
        from hftinfra.provision.winpe import WIMBOOT_FILES

        folder = site.windows_tree[len(prefix):]
        out.append(Supply(f"{folder}/wimboot", "iPXE's wimboot, which boots WinPE from its WIM over HTTP",
                          "github.com/ipxe/wimboot releases (ipxe.org/wimboot)"))
        for path, _name in WIMBOOT_FILES:
            out.append(Supply(f"{folder}/{path}", f"WinPE's {path.rsplit('/', 1)[-1]}",
                              "a WinPE built with the Windows ADK (copype, with the PowerShell optional components)"))
    return tuple(out)


# --- reading the generated dnsmasq configuration back -------------------------------------
#
# Which boot file dnsmasq hands a given client, worked out from the configuration text the
# way dnsmasq 2.90 does it for the directives the generator writes (not a model of all of
# dnsmasq): a client's tags come from dhcp-match (option 93, option 175), dhcp-userclass,
# dhcp-vendorclass, dhcp-host (the tag 'known' and its set: tags), dhcp-mac and the
# interface; then the LAST dhcp-boot line in the file whose tags all hold wins (option.c
# prepends each line to a list that find_boot() in rfc2131.c searches from its head), and a
# line without tags is used only when no tagged line matches. pxe-service lines (proxy-DHCP)
# are offered in file order and take precedence over dhcp-boot for a PXE ROM.

#: DHCP option 93 values (IANA "Processor Architecture Types"; RFC 4578 section 2.1 as first
#: published swapped 7 and 9, Errata ID 4624).
CLIENT_ARCH = {0: "x86 BIOS", 6: "x86 UEFI (IA32)", 7: "x64 UEFI", 9: "EBC; some x64 UEFI firmware sends it",
               10: "ARM 32-bit UEFI", 11: "ARM 64-bit UEFI", 15: "x86 UEFI HTTP boot", 16: "x64 UEFI HTTP boot",
               19: "ARM 64-bit UEFI HTTP boot"}
HTTP_ARCHES = (15, 16, 17, 18, 19)
# pxe-service's CSA names, in option 93 order (dnsmasq(8), --pxe-service).
_CSA = ("x86pc", "pc98", "ia64_efi", "alpha", "arc_x86", "intel_lean_client", "ia32_efi", "x86-64_efi",
        "xscale_efi", "bc_efi", "arm32_efi", "arm64_efi")


@dataclass(frozen=True)
class BootChoice:
    """What dnsmasq answers one client: its tags, the winning line and the boot file."""

    mac: str
    arch: int
    ipxe: bool
    tags: tuple[str, ...]
    directive: str | None  # 'dhcp-boot' or 'pxe-service'; None when nothing matched
    line: int | None  # 1-based line of the winning directive
    text: str | None
    boot_file: str | None
    matched: tuple[int, ...] = ()  # every dhcp-boot line whose tags held (the last one wins)
    options: tuple[str, ...] = ()  # tagged dhcp-option lines sent to this client
    note: str = ""  # why nothing is sent, when nothing is


def _directives(conf_text: str) -> list[tuple[int, str, str]]:
    out = []
    for n, raw in enumerate(conf_text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        out.append((n, key.strip(), value.strip()))
    return out


def _split_tags(fields: list[str]) -> tuple[list[str], list[str]]:
    tags = []
    while fields and fields[0].startswith(("tag:", "net:")):
        tags.append(fields.pop(0)[4:])
    return tags, fields


def _tags_hold(tags: list[str], have: set[str]) -> bool:
    return all((t[1:] not in have) if t.startswith(("!", "#")) else (t in have) for t in tags)


def boot_choice(conf_text: str, mac: str, arch: int, *, ipxe: bool = False) -> BootChoice:
    """The boot file dnsmasq sends a client with ``mac`` whose option 93 is ``arch``; ``ipxe``
    for iPXE's own request (user class ``iPXE``, option 175)."""
    import fnmatch

    from hftinfra.provision.inventory import normalise_mac

    mac = normalise_mac(mac)
    vendor = ("HTTPClient" if arch in HTTP_ARCHES else "PXEClient") + f":Arch:{arch:05d}"
    user_class = "iPXE" if ipxe else ""
    sent = {93: arch, **({175: None} if ipxe else {})}
    have: set[str] = set()
    directives = _directives(conf_text)
    for _n, key, value in directives:
        fields = [f.strip() for f in value.split(",")]
        if key == "interface":
            have.add(value)
        elif key == "dhcp-match" and fields[0].startswith("set:") and len(fields) >= 2:
            spec = fields[1].removeprefix("option:")
            num = 93 if spec == "client-arch" else (int(spec) if spec.isdigit() else None)
            if num in sent and (len(fields) < 3 or (fields[2].isdigit() and sent[num] == int(fields[2]))):
                have.add(fields[0][4:])
        elif key in ("dhcp-userclass", "dhcp-vendorclass") and fields[0].startswith("set:") and len(fields) >= 2:
            if fields[-1] and fields[-1] in (user_class if key == "dhcp-userclass" else vendor):
                have.add(fields[0][4:])
    for _n, key, value in directives:  # dhcp-host and dhcp-mac after the classes, as dnsmasq does
        fields = [f.strip() for f in value.split(",")]
        if key == "dhcp-host":
            macs = set()
            for f in fields:
                try:
                    macs.add(normalise_mac(f))
                except InventoryError:
                    pass
            if mac in macs:
                have.add("known")
                have.update(f[4:] for f in fields if f.startswith("set:"))
        elif key == "dhcp-mac" and fields[0].startswith("set:") and len(fields) >= 2:
            if fnmatch.fnmatch(mac, fields[1].lower()):
                have.add(fields[0][4:])
    tags = tuple(sorted(have))
    proxy = any(key == "dhcp-range" and ",proxy" in value for _n, key, value in directives)
    if proxy and not vendor.startswith("PXEClient"):
        # rfc2131.c: a proxy answers only PXE clients (vendor class PXEClient, or --dhcp-pxe-vendor).
        return BootChoice(mac, arch, ipxe, tags, None, None, None, None,
                          note=f"proxy-DHCP answers only vendor class PXEClient; this client sends {vendor}")

    options = []
    services = []
    tagged, untagged = [], []
    for n, key, value in directives:
        tag_list, rest = _split_tags([f.strip() for f in value.split(",")])
        if key in ("dhcp-option", "dhcp-option-force") and tag_list and not proxy and _tags_hold(tag_list, have):
            options.append(f"{key}={value}")
        elif key == "pxe-service" and not ipxe and rest and _tags_hold(tag_list, have):
            csa = rest[0].lower()
            number = int(csa) if csa.isdigit() else (_CSA.index(csa) if csa in _CSA else None)
            if number == arch and len(rest) >= 3:
                name = rest[2]
                services.append((n, value, name if "." in name or "/" in name else name + ".0"))
        elif key == "dhcp-boot" and rest and _tags_hold(tag_list, have):
            (tagged if tag_list else untagged).append((n, value, rest[0]))
    matched = tuple(n for n, _v, _f in tagged)
    if services:
        n, value, name = services[0]
        return BootChoice(mac, arch, ipxe, tags, "pxe-service", n, f"pxe-service={value}", name, matched,
                          tuple(options))
    pick = tagged[-1] if tagged else (untagged[-1] if untagged else None)
    if pick is None:
        return BootChoice(mac, arch, ipxe, tags, None, None, None, None, matched, tuple(options),
                          note="no dhcp-boot or pxe-service line matches these tags")
    n, value, name = pick
    return BootChoice(mac, arch, ipxe, tags, "dhcp-boot", n, f"dhcp-boot={value}", name, matched, tuple(options))


@dataclass(frozen=True)
class HostBoot:
    """One MAC's boot path through the generated files, first file to installer."""

    host: str
    mac: str
    firmware: str
    chain: str
    arch: int
    first_file: str | None  # what dnsmasq.conf hands the firmware
    script: str | None  # what it hands iPXE (None on the shim -> GRUB chain)
    steps: tuple[str, ...]


def host_arch(host: Host) -> int:
    """The option 93 the host's firmware sends when it network boots."""
    if host.firmware == "bios":
        return 0
    return 16 if host.http_boot else 7


def boot_paths(inventory: Inventory, generated: Generated, conf: str = "dnsmasq/dnsmasq.conf"
               ) -> tuple[HostBoot, ...]:
    """Per MAC of every host: the first file the generated ``conf`` hands its firmware, the
    script it hands iPXE, and every step after, as the generated files spell them."""
    text = generated.text(conf)
    site = inventory.site
    out = []
    for host in inventory.hosts:
        for mac in host.macs:
            arch = host_arch(host)
            first = boot_choice(text, mac, arch).boot_file
            fw = host.firmware.upper() + (", Secure Boot" if host.secure_boot else "")
            script = None
            steps = [f"DHCP: firmware PXE, option 93 = {arch} ({CLIENT_ARCH.get(arch, arch)}) -> {first}"]
            fetch = "HTTP" if first and first.startswith("http") else "TFTP"
            if host.boot_chain == "shim-grub":
                hy = mac_hyphens(mac)
                steps += [f"{fetch} {first} (the distribution's shim, signed by Microsoft's UEFI CA)",
                          "TFTP grub/grubx64.efi (shim checks it against the distribution's key)",
                          f"TFTP grub/grub.cfg -> grub/hosts/{hy}.cfg",
                          "TFTP rhel9/vmlinuz, rhel9/initrd.img (the kernel's signature checked through shim)"]
            else:
                script = boot_choice(text, mac, arch, ipxe=True).boot_file
                if host.boot_chain == "ipxe-shim":
                    steps += [f"{fetch} {first} (iPXE's shim, signed by Microsoft's UEFI CA)",
                              "TFTP sb/ipxe.efi (signed for that shim)",
                              "TFTP sb/autoexec.ipxe (no embedded script in a signed iPXE)",
                              f"DHCP again as iPXE, then TFTP {script_path(mac)}"]
                else:
                    steps += [f"{fetch} {first} (iPXE)", f"DHCP again, user class iPXE -> {script}",
                              f"TFTP {script}"]
            if host.install == "local":
                steps.append("the script or menu hands the boot back to the local disk")
            elif host.is_linux:
                if host.boot_chain != "shim-grub":
                    steps.append(f"HTTP {site.install_tree}/images/pxeboot/vmlinuz, initrd.img")
                steps.append(f"HTTP {site.http_url}/ks/{host.name}.ks (Kickstart, anaconda installs)")
            else:
                steps.append(f"HTTP {site.windows_tree}/wimboot, bcd, boot.sdi, boot.wim and "
                             f"winpe/{host.name}/ (WinPE runs startnet.cmd)")
            out.append(HostBoot(host.name, mac, fw, host.boot_chain, arch, first, script, tuple(steps)))
    return tuple(out)


@dataclass(frozen=True)
class BootFile:
    """A file a dhcp-boot or pxe-service line names, and whether the boot path provides it."""

    line: int
    path: str
    status: str  # 'generated', 'supply' (a binary to place), 'url' (HTTP boot), 'absent'


def boot_files(generated: Generated, conf: str = "dnsmasq/dnsmasq.conf") -> tuple[BootFile, ...]:
    """Every file ``conf`` can hand out, checked against the generated tree and the
    MANIFEST's list of binaries to supply."""
    files = {p[len(SRV) + 1:] for p in generated.files if p.startswith(SRV + "/")}
    supply = {s.path for s in generated.supply}
    out = []
    for n, key, value in _directives(generated.text(conf)):
        if key not in ("dhcp-boot", "pxe-service"):
            continue
        _tags, rest = _split_tags([f.strip() for f in value.split(",")])
        name = rest[0] if key == "dhcp-boot" else (rest[2] if len(rest) >= 3 else None)
        if not name:
            continue
        if name.startswith(("http://", "https://")):
            status = "url"
        elif name in files:
            status = "generated"
        elif name in supply:
            status = "supply"
        else:
            status = "absent"
        out.append(BootFile(n, name, status))
    return tuple(out)


# --- writing ---------------------------------------------------------------------------------


class OutputError(ValueError):
    """An output directory that cannot be written safely (one line)."""


@dataclass(frozen=True)
class WriteResult:
    out: str
    written: tuple[str, ...]  # changed or new
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]  # written by an earlier run, not by this one


def _existing_files(out: Path) -> set[str]:
    found = set()
    for dirpath, _dirnames, filenames in os.walk(out):
        for f in filenames:
            found.add(str((Path(dirpath) / f).relative_to(out)))
    return found


def read_manifest(out: Path) -> dict | None:
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OutputError(f"{path}: not a manifest hftinfra wrote ({exc.__class__.__name__}); "
                          "move it away or use --force") from None
    if not isinstance(data, dict) or data.get("generator") != "hftinfra provision" \
            or not isinstance(data.get("files"), dict):
        raise OutputError(f"{path}: not a manifest hftinfra wrote; move it away or use --force")
    return data


def kept_root(out: Path) -> str | None:
    """The tftp-root an earlier run wrote into ``out`` (its manifest), or None."""
    try:
        manifest = read_manifest(out) if out.is_dir() else None
    except OutputError:
        return None
    root = (manifest or {}).get("root")
    return root if isinstance(root, str) else None


def write_tree(generated: Generated, out: str | Path, *, force: bool = False) -> WriteResult:
    """Write ``generated`` under ``out``. Refuses (OutputError) when ``out`` holds files the
    last run did not write, unless ``force``; nothing is written then."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a directory")
    previous: dict[str, str] = {}
    if out.is_dir():
        existing = _existing_files(out)
        manifest = None
        try:
            manifest = read_manifest(out)
        except OutputError:
            if not force:
                raise
        previous = dict(manifest["files"]) if manifest else {}
        foreign = sorted(existing - set(previous) - {MANIFEST})
        if foreign and not force:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise OutputError(f"{out}: holds files hftinfra did not write ({shown}); choose an empty directory "
                              "or use --force")
        # Files the last run wrote and someone changed since: overwriting loses their edit.
        edited = sorted(p for p, digest in previous.items() if p in existing and p in generated.files
                        and hashlib.sha256((out / p).read_bytes()).hexdigest() != digest)
        if edited and not force:
            raise OutputError(f"{out}: {edited[0]} was edited since hftinfra wrote it; edit the inventory instead, "
                              "or use --force to replace it")
    written, unchanged = [], []
    for rel, content in generated.files.items():
        target = out / rel
        if target.is_file() and target.read_bytes() == content:
            unchanged.append(rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(rel)
    removed = []
    for rel in sorted(set(previous) - set(generated.files)):
        target = out / rel
        if target.is_file():
            target.unlink()
            removed.append(rel)
            parent = target.parent
            while parent != out and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    (out / MANIFEST).write_bytes(generated.manifest_bytes())
    return WriteResult(str(out), tuple(written), tuple(unchanged), tuple(removed))


__all__ = ["CLIENT_ARCH", "BootChoice", "BootFile", "Generated", "HostBoot", "MANIFEST", "OutputError", "Supply",
           "WriteResult", "boot_choice", "boot_files", "boot_paths", "generate", "host_arch", "host_plan", "kept_root",
           "kickstart", "mac_tag", "read_manifest", "script_path", "write_tree"]
