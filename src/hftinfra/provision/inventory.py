"""The provisioning inventory: which servers exist, how each boots, what it runs and how it
is tuned.

An inventory is one YAML file (``provisioning/sample-inventory.yaml`` is a full example)::

    version: 1
    site:                        # the provisioning server, as booting hosts see it
      server_ip: 10.20.0.2       # dnsmasq (DHCP, TFTP) and the HTTP server
      interface: eth1            # where dnsmasq listens
      subnet: 10.20.0.0/24
      dhcp_pool: 10.20.0.100-10.20.0.199
      ...
    defaults:                    # merged under every host, key by key
      firmware: {mode: uefi, secure_boot: false}
      ...
    hosts:
      - name: ld4-trade01
        role: trading
        macs: [b8:59:9f:1a:2b:01]
        cpus: 32
        os: {family: rhel9}
        tuning:
          profile: hft-isolated
          vars: {isolated_cpus: 2-15, housekeeping_cpus: 0-1}
          hugepages: {size: 1G, pages: 16}
        network: {mode: static, ip: 10.20.0.11/24}
        disk: {device: nvme0n1}

The YAML is read with YAML 1.2's scalars: ``52:54:00:12:34:56`` stays text (YAML 1.1, which
PyYAML implements, reads it as a base-60 integer), and so do ``on``/``off``/``yes``/``no`` and
dates such as ``2024-05-01``.

:func:`load_inventory` checks everything it can without a network: the structure, every
MAC (six hex pairs, unicast, used by one host only), the profile (it must load) and its
variables (isolated CPUs within the host's CPU count and apart from the housekeeping ones),
the hugepage pool against the profile's expectation, the disk layout against the profile's
swap rule, addresses (inside the subnet, one host each, not the server's), and the boot
chain (Secure Boot needs a chain whose every stage can be signed). The first mistake raises
:class:`InventoryError`, whose message is one line naming the file, the host and the field.
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hftinfra.cpulist import format_cpulist

VERSION = 1

FIRMWARE_MODES = ("bios", "uefi")
# The chains a host can boot through. 'ipxe': the firmware's PXE loads iPXE (undionly.kpxe
# on BIOS, ipxe.efi or snponly.efi on UEFI), which then runs the host's script; iPXE builds
# that are not signed by Microsoft's UEFI CA cannot start under Secure Boot. 'shim-grub':
# the distribution's shim (signed by Microsoft's UEFI CA) loads its GRUB (signed by the
# distribution's key), which loads the signed kernel. 'ipxe-shim': iPXE's own shim (signed by
# Microsoft's UEFI CA since iPXE 2.0) loads a signed ipxe.efi, which cannot carry an embedded
# script and so reads autoexec.ipxe from the TFTP server it booted from.
BOOT_CHAINS = ("ipxe", "shim-grub", "ipxe-shim")
SIGNABLE_CHAINS = ("shim-grub", "ipxe-shim")
OS_FAMILIES = ("rhel9", "windows")
NETWORK_MODES = ("dhcp", "static")
# What a finished install boots next: 'install' (the installer, once more) or 'local' (the
# disk); `hftinfra provision mark HOST reinstall` flips it.
INSTALL_STATES = ("install", "local")
HUGEPAGE_SIZES_KB = {"2M": 2048, "1G": 1048576}
HOSTNAME_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MAC_RE = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")

SITE_KEYS = ("name", "server_ip", "interface", "subnet", "dhcp_pool", "gateway", "dns", "domain",
             "ntp", "http_port", "root", "install_tree", "windows_tree", "windows_share", "hftinfra_package",
             "timezone")
SITE_REQUIRED = ("server_ip", "interface", "subnet", "dhcp_pool")
HOST_KEYS = ("name", "role", "macs", "cpus", "firmware", "os", "tuning", "network", "disk", "install",
             "ssh_keys", "description")
HOST_REQUIRED = ("name", "role", "macs", "firmware", "os", "network", "disk")
FIRMWARE_KEYS = ("mode", "secure_boot", "boot_chain", "http_boot")
OS_KEYS = ("family", "image", "image_index", "edition", "product_key", "locale", "timezone", "admin_password_hash")
TUNING_KEYS = ("profile", "vars", "hugepages", "power_plan")
HUGEPAGE_KEYS = ("size", "pages")
NETWORK_KEYS = ("mode", "ip", "gateway", "dns", "device")
DISK_KEYS = ("device", "partitions")
PARTITION_KEYS = ("mount", "size_mib", "grow", "fstype")
WINDOWS_POWER_PLANS = ("high-performance", "ultimate-performance")


class InventoryError(ValueError):
    """An inventory that cannot be used; the message is one line naming file, host and field."""


# --- reading -------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2's core-schema booleans and integers (no base 60, no 'on',
    no implicit timestamps)."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # An explicit tag on a value that does not fit it (`!!int a`, `!!float x`,
        # `!!timestamp 1`) makes PyYAML's constructors raise plain Python errors.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            shown = f" {node.value!r}" if isinstance(node, yaml.ScalarNode) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.tag.replace('tag:yaml.org,2002:', '!!')}{shown}: the value does not fit its tag",
                node.start_mark) from None


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers
          if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                         "tag:yaml.org,2002:timestamp")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
                              list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.lower().startswith("0x") else int(text, 10)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def read_yaml(text: str, where: str) -> Any:
    """Parse YAML text with the inventory's loader; a syntax error names its line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InventoryError(f"{where}: not valid YAML{at}: {problem}") from None


# --- the model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    mount: str  # a mount point, or 'swap'
    size_mib: int
    grow: bool = False
    fstype: str = "xfs"


@dataclass(frozen=True)
class Site:
    name: str
    server_ip: ipaddress.IPv4Address
    interface: str
    subnet: ipaddress.IPv4Network
    dhcp_pool: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]
    gateway: ipaddress.IPv4Address | None
    dns: tuple[str, ...]
    domain: str
    ntp: tuple[str, ...]
    http_port: int
    # Where the generated srv/ tree is installed on the provisioning server: dnsmasq's
    # tftp-root and the HTTP server's document root.
    root: str
    install_tree: str  # URL of the RHEL 9 installation tree (BaseOS and images/pxeboot)
    windows_tree: str  # URL of the folder with wimboot, BCD, boot.sdi and boot.wim
    windows_share: str  # UNC path of the SMB share holding the install image (WinPE cannot mount HTTP)
    hftinfra_package: str  # what pip installs on a new host (a requirement or a wheel URL)
    timezone: str

    @property
    def http_url(self) -> str:
        port = "" if self.http_port == 80 else f":{self.http_port}"
        return f"http://{self.server_ip}{port}"


@dataclass(frozen=True)
class Host:
    name: str
    role: str
    macs: tuple[str, ...]  # lower case, colon separated; the first is the boot MAC
    firmware: str  # bios | uefi
    secure_boot: bool
    boot_chain: str
    http_boot: bool
    os_family: str  # rhel9 | windows
    os: dict  # the os mapping as given (image, edition, locale, ...)
    network_mode: str
    ip: ipaddress.IPv4Interface | None
    gateway: ipaddress.IPv4Address | None
    dns: tuple[str, ...]
    device: str | None  # the interface the address goes on (default: the boot MAC's)
    disk_device: str
    partitions: tuple[Partition, ...]
    install: str  # install | local
    cpus: int | None = None
    profile: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)  # profile variables, normalised
    hugepage_size_kb: int | None = None
    hugepages: int | None = None
    power_plan: str | None = None
    ssh_keys: tuple[str, ...] = ()
    description: str = ""

    @property
    def mac(self) -> str:
        return self.macs[0]

    @property
    def is_linux(self) -> bool:
        return self.os_family == "rhel9"


@dataclass(frozen=True)
class Inventory:
    path: str
    site: Site
    hosts: tuple[Host, ...]

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        close = difflib.get_close_matches(name, [h.name for h in self.hosts], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InventoryError(f"{self.path}: no host {name!r}{hint}")

    def by_mac(self) -> dict[str, Host]:
        return {mac: h for h in self.hosts for mac in h.macs}


# --- validation helpers ----------------------------------------------------------------------


class _At:
    """Where a value sits, for messages: 'FILE: host NAME: field.path'."""

    def __init__(self, path: str, host: str | None = None, prefix: str = ""):
        self.path, self.host, self.prefix = path, host, prefix

    def sub(self, key: str | int) -> _At:
        key = f"[{key}]" if isinstance(key, int) else (f".{key}" if self.prefix else str(key))
        return _At(self.path, self.host, self.prefix + key)

    def error(self, message: str) -> InventoryError:
        who = f" host {self.host}:" if self.host else ""
        where = f" {self.prefix}:" if self.prefix else ""
        return InventoryError(f"{self.path}:{who}{where} {message}")


def _mapping(value: Any, at: _At, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise at.error(f"expected a mapping ({', '.join(allowed)}), got {_kind(value)}")
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(allowed)})"
            raise at.sub(str(key)).error(f"unknown key{hint}")
    for key in required:
        if value.get(key) is None:
            raise at.sub(key).error("missing (required)")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _text(value: Any, at: _At, pattern: re.Pattern | None = None, what: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise at.error(f"expected {what or 'text'}, got {_kind(value)}")
    value = value.strip()
    if pattern is not None and not pattern.fullmatch(value):
        raise at.error(f"{value!r} is not {what}")
    return value


def _bool(value: Any, at: _At) -> bool:
    if not isinstance(value, bool):
        raise at.error(f"expected true or false, got {_kind(value)} {value!r}")
    return value


def _int(value: Any, at: _At, least: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise at.error(f"expected a whole number, got {_kind(value)} {value!r}")
    if value < least:
        raise at.error(f"must be at least {least}, not {value}")
    return value


def _choice(value: Any, at: _At, choices: tuple[str, ...]) -> str:
    if value not in choices:
        close = difflib.get_close_matches(str(value), list(choices), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise at.error(f"{value!r} is not one of {', '.join(choices)}{hint}")
    return value


def _address(value: Any, at: _At) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(_text(value, at, what="an IPv4 address"))
    except ipaddress.AddressValueError:
        raise at.error(f"{value!r} is not an IPv4 address") from None


def _list_of_text(value: Any, at: _At) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise at.error(f"expected a list, got {_kind(value)}")
    return tuple(_text(v, at.sub(i)) for i, v in enumerate(value))


def normalise_mac(value: Any, at: _At | None = None) -> str:
    """``B8-59-9F-1A-2B-01`` -> ``b8:59:9f:1a:2b:01``; anything else that is not a unicast
    MAC address raises InventoryError (the group bit, the lowest bit of the first octet, is
    set on multicast and broadcast addresses, which no NIC boots from; all zeros is no
    address)."""
    at = at or _At("MAC")
    if isinstance(value, int) and not isinstance(value, bool):
        raise at.error(f"{value!r} was read as a number: write the MAC in quotes")
    if not isinstance(value, str) or not MAC_RE.fullmatch(value.strip().lower()):
        raise at.error(f"{value!r} is not a MAC address (six hex pairs, e.g. 52:54:00:12:34:56)")
    mac = value.strip().lower().replace("-", ":")
    if int(mac[:2], 16) & 1:
        raise at.error(f"{mac} is a multicast or broadcast address, not a NIC's")
    if mac == "00:00:00:00:00:00":
        raise at.error("00:00:00:00:00:00 is not a NIC's address")
    return mac


def mac_hyphens(mac: str) -> str:
    """iPXE's ``${mac:hexhyp}`` and PXELINUX-style names: ``52-54-00-12-34-56``."""
    return mac.replace(":", "-")


def _merge(base: Any, over: Any) -> Any:
    """Defaults under a host: mappings merge key by key, anything else is replaced. A key
    whose value is null is dropped at every depth, so 'key: null' means the key is absent,
    whether or not a default lies beneath it."""
    if isinstance(over, dict):
        out = dict(base) if isinstance(base, dict) else {}
        for key, value in over.items():
            if value is None:
                out.pop(key, None)  # 'key: null' drops a default
            else:
                out[key] = _merge(out.get(key), value)
        return out
    return copy.deepcopy(over)


# --- loading ---------------------------------------------------------------------------------


def load_inventory(path: str | Path, *, text: str | None = None) -> Inventory:
    """Read and validate an inventory file (or ``text`` shown as coming from ``path``)."""
    where = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InventoryError(f"{where}: no such inventory file") from None
        except IsADirectoryError:
            raise InventoryError(f"{where}: is a directory, not an inventory file") from None
        except OSError as exc:
            raise InventoryError(f"{where}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise InventoryError(f"{where}: not UTF-8 text") from None
    data = read_yaml(text, where)
    return parse_inventory(data, where)


def parse_inventory(data: Any, where: str = "inventory") -> Inventory:
    top = _At(where)
    data = _mapping(data, top, ("version", "site", "defaults", "os_defaults", "hosts"), ("version", "site", "hosts"))
    if data["version"] != VERSION:
        raise top.sub("version").error(f"{data['version']!r}: this hftinfra reads inventory version {VERSION}")
    site = _site(data["site"], top.sub("site"))
    defaults = data.get("defaults") or {}
    default_keys = tuple(k for k in HOST_KEYS if k not in ("name", "macs"))
    _mapping(defaults, top.sub("defaults"), default_keys)
    os_defaults = data.get("os_defaults") or {}
    _mapping(os_defaults, top.sub("os_defaults"), OS_FAMILIES)
    _refuse_split_cpulists(defaults, top.sub("defaults"))
    for family, values in os_defaults.items():
        _mapping(values, top.sub("os_defaults").sub(family), tuple(k for k in default_keys if k != "os"))
        _refuse_split_cpulists(values, top.sub("os_defaults").sub(family))
    raw_hosts = data["hosts"]
    if not isinstance(raw_hosts, list) or not raw_hosts:
        raise top.sub("hosts").error(f"expected a list of hosts (name, role, macs, ...), got {_kind(raw_hosts)}")

    _PROFILES.clear()
    hosts: list[Host] = []
    names: dict[str, int] = {}
    macs: dict[str, str] = {}
    ips: dict[ipaddress.IPv4Address, str] = {site.server_ip: "the provisioning server (site.server_ip)"}
    for index, raw in enumerate(raw_hosts):
        label = raw.get("name") if isinstance(raw, dict) and isinstance(raw.get("name"), str) else f"#{index + 1}"
        at = _At(where, label)
        if not isinstance(raw, dict):
            raise at.error(f"expected a mapping (name, role, macs, ...), got {_kind(raw)}")
        _refuse_split_cpulists(raw, at)
        own_os = raw.get("os") if isinstance(raw.get("os"), dict) else {}
        default_os = defaults.get("os") if isinstance(defaults.get("os"), dict) else {}
        family = own_os.get("family") or default_os.get("family")
        if family is not None:
            # Before the merge: a wrong family would otherwise surface as a missing field
            # that os_defaults was meant to give.
            family = _choice(family, at.sub("os").sub("family"), OS_FAMILIES)
        merged = _merge(_merge(_merge({}, defaults), os_defaults.get(family) or {}), raw)
        host = _host(merged, at, site)
        if host.name in names:
            raise at.sub("name").error(f"{host.name!r} is also host #{names[host.name] + 1}: names are unique")
        names[host.name] = index
        for i, mac in enumerate(host.macs):
            if mac in macs:
                other = macs[mac]
                same = "this host" if other == host.name else f"host {other}"
                raise at.sub("macs").sub(i).error(f"{mac} is already {same}'s: a MAC boots one host")
            macs[mac] = host.name
        if host.ip is not None:
            addr = host.ip.ip
            if addr in ips:
                raise at.sub("network").sub("ip").error(f"{addr} is already {ips[addr]}'s")
            ips[addr] = f"host {host.name}"
        hosts.append(host)
    _PROFILES.clear()
    return Inventory(path=where, site=site, hosts=tuple(hosts))


def _site(raw: Any, at: _At) -> Site:
    raw = _mapping(raw, at, SITE_KEYS, SITE_REQUIRED)
    server = _address(raw["server_ip"], at.sub("server_ip"))
    try:
        subnet = ipaddress.IPv4Network(_text(raw["subnet"], at.sub("subnet")), strict=True)
    except ValueError as exc:
        raise at.sub("subnet").error(f"{raw['subnet']!r} is not a network in CIDR form ({exc})") from None
    if server not in subnet:
        raise at.sub("server_ip").error(f"{server} is outside subnet {subnet}")
    pool_text = _text(raw["dhcp_pool"], at.sub("dhcp_pool"), what="a range FIRST-LAST")
    first, sep, last = pool_text.partition("-")
    if not sep:
        raise at.sub("dhcp_pool").error(f"{pool_text!r} is not a range FIRST-LAST")
    pool = (_address(first.strip(), at.sub("dhcp_pool")), _address(last.strip(), at.sub("dhcp_pool")))
    if pool[0] > pool[1] or pool[0] not in subnet or pool[1] not in subnet:
        raise at.sub("dhcp_pool").error(f"{pool_text} is not an ascending range inside {subnet}")
    if pool[0] <= server <= pool[1]:
        raise at.sub("dhcp_pool").error(f"{pool_text} holds the server's own address {server}")
    gateway = _address(raw["gateway"], at.sub("gateway")) if raw.get("gateway") is not None else None
    http_port = _int(raw.get("http_port", 80), at.sub("http_port"), least=1)
    if http_port > 65535:
        raise at.sub("http_port").error(f"{http_port} is not a TCP port")
    interface = _text(raw["interface"], at.sub("interface"), re.compile(r"[^/\s:]{1,15}"), "an interface name")
    root = _text(raw.get("root", "/srv/hftinfra"), at.sub("root"))
    if not root.startswith("/"):
        raise at.sub("root").error(f"{root!r}: an absolute path on the provisioning server")
    base = f"http://{server}" + ("" if http_port == 80 else f":{http_port}")
    return Site(
        name=_text(raw.get("name", "site"), at.sub("name")),
        server_ip=server, interface=interface, subnet=subnet, dhcp_pool=pool, gateway=gateway,
        dns=_list_of_text(raw.get("dns", []), at.sub("dns")),
        domain=_text(raw.get("domain", "lan"), at.sub("domain")),
        ntp=_list_of_text(raw.get("ntp", []), at.sub("ntp")),
        http_port=http_port, root=root.rstrip("/") or "/",
        install_tree=_url(raw.get("install_tree", f"{base}/rhel9"), at.sub("install_tree")),
        windows_tree=_url(raw.get("windows_tree", f"{base}/windows"), at.sub("windows_tree")),
        windows_share=_unc(raw.get("windows_share", f"\\\\{server}\\install"), at.sub("windows_share")),
        hftinfra_package=_text(raw.get("hftinfra_package", "hftinfra"), at.sub("hftinfra_package")),
        timezone=_text(raw.get("timezone", "UTC"), at.sub("timezone")),
    )


def _url(value: Any, at: _At) -> str:
    text = _text(value, at, what="an http:// or https:// URL")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        raise at.error(f"{text!r} is not an http:// or https:// URL")
    return text.rstrip("/")


def _unc(value: Any, at: _At) -> str:
    text = _text(value, at, what="a UNC path (\\\\SERVER\\SHARE)")
    if not re.fullmatch(r"\\\\[^\\/\s]+\\[^\\/]+(\\[^\\/]+)*", text):
        raise at.error(f"{text!r} is not a UNC path (\\\\SERVER\\SHARE)")
    return text


def _host(raw: dict, at: _At, site: Site) -> Host:
    raw = _mapping(raw, at, HOST_KEYS, HOST_REQUIRED)
    name = _text(raw["name"], at.sub("name"), HOSTNAME_RE, "a host name (lower-case letters, digits, '-')")
    role = _text(raw["role"], at.sub("role"))
    raw_macs = raw["macs"]
    if isinstance(raw_macs, (str, int)) and not isinstance(raw_macs, bool):
        raw_macs = [raw_macs]
    if not isinstance(raw_macs, list) or not raw_macs:
        raise at.sub("macs").error(f"expected a list of MAC addresses, got {_kind(raw_macs)}")
    macs = tuple(normalise_mac(m, at.sub("macs").sub(i)) for i, m in enumerate(raw_macs))

    fw_at = at.sub("firmware")
    fw = _mapping(raw["firmware"], fw_at, FIRMWARE_KEYS, ("mode",))
    mode = _choice(fw["mode"], fw_at.sub("mode"), FIRMWARE_MODES)
    secure = _bool(fw.get("secure_boot", False), fw_at.sub("secure_boot"))
    if secure and mode == "bios":
        raise fw_at.sub("secure_boot").error("Secure Boot is a UEFI feature; BIOS firmware has none")
    http_boot = _bool(fw.get("http_boot", False), fw_at.sub("http_boot"))
    if http_boot and mode == "bios":
        raise fw_at.sub("http_boot").error("HTTP boot is a UEFI feature (client architecture 16)")

    os_at = at.sub("os")
    os_map = _mapping(raw["os"], os_at, OS_KEYS, ("family",))
    family = _choice(os_map["family"], os_at.sub("family"), OS_FAMILIES)
    default_chain = "shim-grub" if secure and family == "rhel9" else "ipxe-shim" if secure else "ipxe"
    chain = _choice(fw.get("boot_chain", default_chain), fw_at.sub("boot_chain"), BOOT_CHAINS)
    if secure and chain not in SIGNABLE_CHAINS:
        raise fw_at.sub("boot_chain").error(
            f"{chain!r} cannot start under Secure Boot (its iPXE binary is not signed by a key the firmware "
            f"trusts); use {' or '.join(SIGNABLE_CHAINS)}, or set secure_boot: false")
    if chain == "shim-grub" and family != "rhel9":
        raise fw_at.sub("boot_chain").error("shim-grub boots a Linux kernel; Windows PE starts through iPXE's "
                                            "wimboot (use ipxe-shim under Secure Boot)")
    if chain != "ipxe" and mode == "bios":
        raise fw_at.sub("boot_chain").error(f"{chain!r} is a UEFI chain; BIOS hosts boot through 'ipxe'")
    if http_boot and chain == "shim-grub":
        raise fw_at.sub("http_boot").error("the generated HTTP boot path loads ipxe.efi; use boot_chain ipxe")
    if family == "windows":
        image = os_map.get("image", "install.wim")
        _text(image, os_at.sub("image"))
        _int(os_map.get("image_index", 1), os_at.sub("image_index"), least=1)
    for key in ("image", "edition", "product_key", "locale", "timezone", "admin_password_hash"):
        if key in os_map:
            _text(os_map[key], os_at.sub(key))

    net_at = at.sub("network")
    net = _mapping(raw["network"], net_at, NETWORK_KEYS, ("mode",))
    net_mode = _choice(net["mode"], net_at.sub("mode"), NETWORK_MODES)
    ip = None
    if net.get("ip") is not None:
        try:
            ip = ipaddress.IPv4Interface(_text(net["ip"], net_at.sub("ip"), what="an address ADDR/PREFIX"))
        except ValueError:
            raise net_at.sub("ip").error(f"{net['ip']!r} is not an IPv4 address with prefix (ADDR/PREFIX)") from None
        if "/" not in str(net["ip"]):
            ip = ipaddress.IPv4Interface(f"{ip.ip}/{site.subnet.prefixlen}")
        if ip.ip == ip.network.network_address or ip.ip == ip.network.broadcast_address:
            raise net_at.sub("ip").error(f"{ip.ip} is the network's own or broadcast address")
        if ip.ip not in site.subnet:
            raise net_at.sub("ip").error(f"{ip.ip} is outside the boot subnet {site.subnet} (site.subnet), "
                                         "where dnsmasq reserves it")
        if site.dhcp_pool[0] <= ip.ip <= site.dhcp_pool[1]:
            raise net_at.sub("ip").error(f"{ip.ip} lies in the dynamic pool {site.dhcp_pool[0]}-{site.dhcp_pool[1]} "
                                         "(site.dhcp_pool), where dnsmasq could lease it to another machine")
    elif net_mode == "static":
        raise net_at.sub("ip").error("missing (required for mode static)")
    gateway = _address(net["gateway"], net_at.sub("gateway")) if net.get("gateway") is not None else site.gateway
    dns = _list_of_text(net["dns"], net_at.sub("dns")) if net.get("dns") is not None else site.dns
    device = _text(net["device"], net_at.sub("device")) if net.get("device") is not None else None

    disk_at = at.sub("disk")
    disk = _mapping(raw["disk"], disk_at, DISK_KEYS, ("device",))
    disk_device = disk["device"]
    if isinstance(disk_device, int) and not isinstance(disk_device, bool):
        disk_device = str(disk_device)
    disk_device = _text(disk_device, disk_at.sub("device"))
    partitions = _partitions(disk.get("partitions"), disk_at.sub("partitions"), family)
    if family == "windows" and not disk_device.isdigit():
        raise disk_at.sub("device").error(f"{disk_device!r}: Windows numbers its disks (diskpart's 'select disk N')")
    if family == "rhel9" and (disk_device.isdigit() or "/" in disk_device):
        raise disk_at.sub("device").error(f"{disk_device!r}: a Linux disk name such as nvme0n1 or sda")

    install = _choice(raw.get("install", "install"), at.sub("install"), INSTALL_STATES)
    cpus = _int(raw["cpus"], at.sub("cpus"), least=1) if raw.get("cpus") is not None else None
    ssh_keys = _list_of_text(raw.get("ssh_keys", []), at.sub("ssh_keys"))

    profile = None
    variables: dict[str, Any] = {}
    hp_size = hp_pages = None
    power_plan = None
    tuning = raw.get("tuning")
    t_at = at.sub("tuning")
    if tuning is not None:
        _mapping(tuning, t_at, TUNING_KEYS)
    if family == "rhel9":
        if tuning is None or tuning.get("profile") is None:
            raise t_at.sub("profile").error("missing (required: the profile builds and audits the host)")
        if "power_plan" in tuning:
            raise t_at.sub("power_plan").error("a Windows setting; a Linux host's tuning comes from its profile")
        profile, variables, hp_size, hp_pages = _tuning(tuning, t_at, cpus, partitions)
    elif tuning is not None:
        for key in ("profile", "vars", "hugepages"):
            if key in tuning:
                raise t_at.sub(key).error("tuning profiles audit Linux hosts; a Windows host takes power_plan")
        if "power_plan" in tuning:
            power_plan = _choice(tuning["power_plan"], t_at.sub("power_plan"), WINDOWS_POWER_PLANS)
    if family == "windows" and power_plan is None:
        power_plan = "high-performance"

    return Host(
        name=name, role=role, macs=macs, firmware=mode, secure_boot=secure, boot_chain=chain,
        http_boot=http_boot, os_family=family, os=dict(os_map), network_mode=net_mode, ip=ip,
        gateway=gateway, dns=dns, device=device, disk_device=disk_device, partitions=partitions,
        install=install, cpus=cpus, profile=profile, variables=variables, hugepage_size_kb=hp_size,
        hugepages=hp_pages, power_plan=power_plan, ssh_keys=ssh_keys,
        description=str(raw.get("description", "")),
    )


def _partitions(raw: Any, at: _At, family: str) -> tuple[Partition, ...]:
    if raw is None:
        if family == "windows":
            return ()
        # The platform's own partitions (biosboot or /boot/efi, and /boot) come from
        # Kickstart's reqpart --add-boot; this is the rest.
        return (Partition("/", 0, grow=True),)
    if family == "windows":
        raise at.error("Windows partitions are laid out by the WinPE script (EFI, MSR, Windows); give only device")
    if not isinstance(raw, list) or not raw:
        raise at.error(f"expected a list of partitions (mount, size_mib, grow), got {_kind(raw)}")
    out = []
    mounts = set()
    for i, p in enumerate(raw):
        p_at = at.sub(i)
        p = _mapping(p, p_at, PARTITION_KEYS, ("mount",))
        mount = _text(p["mount"], p_at.sub("mount"))
        if mount != "swap" and not mount.startswith("/"):
            raise p_at.sub("mount").error(f"{mount!r}: a mount point (/...) or swap")
        if mount in ("/boot", "/boot/efi", "biosboot"):
            raise p_at.sub("mount").error(f"{mount}: made by the platform (reqpart --add-boot); leave it out")
        if mount in mounts and mount != "swap":
            raise p_at.sub("mount").error(f"{mount} is mounted twice")
        mounts.add(mount)
        grow = _bool(p.get("grow", False), p_at.sub("grow"))
        if p.get("size_mib") is None and not grow:
            raise p_at.sub("size_mib").error("missing (or grow: true to fill the disk)")
        size = _int(p.get("size_mib", 0), p_at.sub("size_mib"), least=0 if grow else 1)
        fstype = _text(p.get("fstype", "swap" if mount == "swap" else "xfs"), p_at.sub("fstype"))
        out.append(Partition(mount, size, grow, fstype))
    if "/" not in mounts:
        raise at.error("no partition mounts /")
    return tuple(out)


# Profiles loaded while one inventory is parsed (a thousand hosts share a few profiles).
_PROFILES: dict = {}


def _tuning(tuning: dict, at: _At, cpus: int | None, partitions: tuple[Partition, ...]):
    from hftinfra.checks.values import ValueTypeError, normalize
    from hftinfra.profiles import ProfileError, load_profile

    spec = _text(tuning["profile"], at.sub("profile"))
    try:
        if spec not in _PROFILES:
            _PROFILES[spec] = load_profile(spec)
        profile = _PROFILES[spec]
    except ProfileError as exc:
        raise at.sub("profile").error(str(exc)) from None
    raw_vars = tuning.get("vars") or {}
    if not isinstance(raw_vars, dict):
        raise at.sub("vars").error(f"expected a mapping of profile variables, got {_kind(raw_vars)}")
    variables: dict[str, Any] = {}
    for key, value in raw_vars.items():
        v_at = at.sub("vars").sub(str(key))
        if key not in profile.variables:
            declared = ", ".join(profile.variables) or "none"
            raise v_at.error(f"profile {profile.name} has no such variable (declared: {declared})")
        var = profile.variables[key]
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        try:
            variables[key] = normalize(str(value), var.type)
        except ValueTypeError as exc:
            raise v_at.error(str(exc)) from None
    cpusets = {k: v for k, v in variables.items() if profile.variables[k].type == "cpuset"}
    if cpusets and cpus is None:
        name = next(iter(cpusets))
        raise at.sub("vars").sub(name).error("CPU lists need the host's CPU count: add cpus: N to the host")
    for key, value in cpusets.items():
        beyond = sorted(c for c in value if c >= cpus)
        if beyond:
            raise at.sub("vars").sub(key).error(
                f"CPUs {format_cpulist(beyond)} are beyond the host's {cpus} CPUs (0-{cpus - 1})")
    isolated = variables.get("isolated_cpus")
    if "housekeeping_cpus" in profile.variables and isolated is not None and cpus is not None:
        housekeeping = variables.get("housekeeping_cpus")
        if housekeeping is None:
            housekeeping = frozenset(range(cpus)) - isolated
            variables["housekeeping_cpus"] = housekeeping
        both = isolated & housekeeping
        if both:
            raise at.sub("vars").sub("isolated_cpus").error(
                f"CPUs {format_cpulist(both)} are in both isolated_cpus and housekeeping_cpus")
        if not housekeeping:
            raise at.sub("vars").sub("isolated_cpus").error(
                f"isolates every CPU (0-{cpus - 1}): the kernel and everything else need housekeeping CPUs")
        if not isolated:
            raise at.sub("vars").sub("isolated_cpus").error("empty: isolate at least one CPU, or use a profile "
                                                             "without isolation (network-latency)")
    hp_size = hp_pages = None
    hp = tuning.get("hugepages")
    rule = profile.rules.get("memory.hugepages")
    if hp is not None:
        hp_at = at.sub("hugepages")
        hp = _mapping(hp, hp_at, HUGEPAGE_KEYS, HUGEPAGE_KEYS)
        size = _choice(str(hp["size"]).upper(), hp_at.sub("size"), tuple(HUGEPAGE_SIZES_KB))
        hp_size = HUGEPAGE_SIZES_KB[size]
        hp_pages = _int(hp["pages"], hp_at.sub("pages"), least=0)
        if rule is not None:
            problem = _hugepages_against(rule.expect, hp_size, hp_pages)
            if problem:
                raise hp_at.error(f"{problem}, which profile {profile.name}'s memory.hugepages expects "
                                  f"({rule.defined_in})")
    elif rule is not None:
        raise at.sub("hugepages").error(f"missing: profile {profile.name} checks a hugepage pool "
                                        "(memory.hugepages); give size and pages")
    swap_rule = profile.rules.get("memory.swap")
    if swap_rule is not None and str(swap_rule.expect) == "off":
        for i, p in enumerate(partitions):
            if p.mount == "swap":
                raise at.error(f"disk.partitions[{i}] is swap, but profile {profile.name} expects memory.swap "
                               f"off ({swap_rule.defined_in})")
    return profile.name if "/" not in spec and not spec.endswith((".yaml", ".yml")) else spec, \
        variables, hp_size, hp_pages


_CPULIST_PIECE = re.compile(r"[0-9][0-9,:/-]*")


def _refuse_split_cpulists(raw: Any, at: _At) -> None:
    """Before the merge, which drops keys without a value: a cpulist piece read as a key
    would otherwise vanish and leave a shorter CPU list."""
    tuning = raw.get("tuning") if isinstance(raw, dict) else None
    variables = tuning.get("vars") if isinstance(tuning, dict) else None
    if isinstance(variables, dict):
        items = list(variables.items())
        for index, (key, value) in enumerate(items):
            if value is None and _CPULIST_PIECE.fullmatch(str(key)):
                raise _split_cpulist(items, index, at.sub("tuning").sub("vars"))


def _split_cpulist(items: list[tuple[Any, Any]], index: int, at: _At) -> InventoryError:
    """A cpulist written unquoted inside a flow mapping, ``{isolated_cpus: 2-3,6-7}``: YAML
    ends the value at the comma and reads ``6-7`` as a key without a value."""
    pieces = [str(items[index][0])]
    for key, value in items[index + 1:]:
        if value is not None or not _CPULIST_PIECE.fullmatch(str(key)):
            break
        pieces.append(str(key))
    if index > 0 and items[index - 1][1] is not None:
        name, first = items[index - 1][0], items[index - 1][1]
        whole = ",".join([str(first), *pieces])
        return at.sub(str(name)).error(
            f"YAML split this CPU list at a comma and read {pieces[0]!r} as a key of its own (inside {{...}} a "
            f"comma ends the value): quote it, {name}: \"{whole}\"")
    return at.sub(pieces[0]).error(f"{pieces[0]!r} looks like a CPU list read as a key (inside {{...}} a comma "
                                   "ends a value): quote the whole list, e.g. isolated_cpus: \"2-3,6-7\"")


def _hugepages_against(expect: Any, size_kb: int, pages: int) -> str:
    """Why a pool does not meet the profile's memory.hugepages expectation, or ''."""
    from hftinfra.checks.values import ValueTypeError, parse_expectation

    if not isinstance(expect, dict):
        return ""
    for name, value, kind in (("size_kb", size_kb, "int"), ("pages", pages, "int")):
        if name not in expect:
            continue
        try:
            exp = parse_expectation(expect[name], kind)
            ok = exp.matches(value)
        except (ValueTypeError, ValueError):
            continue
        if not ok:
            shown = f"{size_kb} kB pages" if name == "size_kb" else f"{pages} pages"
            return f"{shown} do not meet {name} {expect[name]}"
    return ""


__all__ = ["BOOT_CHAINS", "FIRMWARE_MODES", "Host", "Inventory", "InventoryError", "OS_FAMILIES", "Partition",
           "Site", "load_inventory", "mac_hyphens", "normalise_mac", "parse_inventory", "read_yaml"]
