"""JSON Schemas (draft 2020-12) of the provisioning inventory and of tuning profiles, for
editors: completion, hover text and early squiggles while typing.

Both are built from the loaders' own constants (the keys each mapping allows, the choices
each field takes, the check catalog), so they cannot drift from what the loaders accept.
A schema sees one file and no profile: what needs more than that (a MAC used twice, CPU lists
against ``cpus``, the hugepage pool against the profile, fields a host takes from
``defaults``) stays with :func:`hftinfra.provision.inventory.load_inventory` and
:func:`hftinfra.profiles.load_profile`, which remain the judges. The schemas catch the
structural mistakes an editor can show while typing: unknown keys, wrong types, values
outside a field's choices, malformed or multicast MACs.

``python -m hftinfra.provision.schema DIR`` (or ``hftinfra provision schema DIR``) writes
``inventory.schema.json`` and ``profile.schema.json`` into DIR; the published copies live in
``provisioning/schemas/``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hftinfra.provision import inventory as inv

DIALECT = "https://json-schema.org/draft/2020-12/schema"
INVENTORY_ID = "urn:hftinfra:provision:inventory:v1"
PROFILE_ID = "urn:hftinfra:profile:v1"
FILES = ("inventory.schema.json", "profile.schema.json")

_HEX = "[0-9A-Fa-f]"
# The loader lower-cases a MAC before matching inv.MAC_RE; the schema takes either case.
# Its first octet's second digit is even: the group bit (multicast, broadcast) is clear.
MAC_PATTERN = f"^{_HEX}[02468ACEace]([:-]){_HEX}{{2}}(\\1{_HEX}{{2}}){{4}}$"
# inv.HOSTNAME_RE without lookarounds, which not every editor's regex engine has.
HOSTNAME_PATTERN = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = f"{_OCTET}(\\.{_OCTET}){{3}}"
IPV4_PATTERN = f"^{_IPV4}$"
CIDR_PATTERN = f"^{_IPV4}/([0-9]|[12][0-9]|3[0-2])$"
POOL_PATTERN = f"^{_IPV4}\\s*-\\s*{_IPV4}$"
URL_PATTERN = r"^https?://[^\s/]+(/\S*)?$"
UNC_PATTERN = r"^\\\\[^\\/\s]+\\[^\\/]+(\\[^\\/]+)*$"
NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"
TEXT = {"type": "string", "pattern": r"\S"}


def _text(description: str, **more: Any) -> dict:
    return {**TEXT, "description": description, **more}


def _texts(description: str) -> dict:
    """A string or a list of them (the loader takes one string as a list of one)."""
    return {"description": description, "anyOf": [TEXT, {"type": "array", "items": TEXT}]}


def _nullable(schema: dict) -> dict:
    """Let a field be null: in defaults, os_defaults and hosts, 'key: null' means absent and
    drops a default beneath it."""
    if "$ref" in schema or "anyOf" in schema or "type" not in schema:
        inner = {k: v for k, v in schema.items() if k != "description"}
        out = {"anyOf": [inner, {"type": "null"}]}
        if "description" in schema:
            out["description"] = schema["description"]
        return out
    kind = schema["type"]
    kinds = [kind] if isinstance(kind, str) else list(kind)
    out = dict(schema, type=[*kinds, "null"])
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _mapping(description: str, keys: tuple[str, ...], properties: dict[str, dict], *, nullable: bool,
             required: tuple[str, ...] = ()) -> dict:
    missing = set(keys) ^ set(properties)
    if missing:
        raise AssertionError(f"schema and loader disagree on keys: {sorted(missing)}")
    props = {k: (_nullable(properties[k]) if nullable else properties[k]) for k in keys}
    out: dict[str, Any] = {"type": "object", "description": description, "properties": props,
                           "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def _site() -> dict:
    props = {
        "name": _text("the site's name, used in generated comments (default: site)"),
        "server_ip": {"type": "string", "pattern": IPV4_PATTERN,
                      "description": "the provisioning server's IPv4 address as booting hosts see it: dnsmasq "
                                     "(DHCP, TFTP) and the HTTP server; inside subnet, outside dhcp_pool"},
        "interface": {"type": "string", "pattern": r"^[^/\s:]{1,15}$",
                      "description": "the interface dnsmasq listens on (a Linux name, at most 15 characters)"},
        "subnet": {"type": "string", "pattern": CIDR_PATTERN,
                   "description": "the boot network in CIDR form (ADDR/PREFIX, the network's own address)"},
        "dhcp_pool": {"type": "string", "pattern": POOL_PATTERN,
                      "description": "the dynamic range FIRST-LAST, ascending, inside subnet; host addresses "
                                     "and the server's stay outside it"},
        "gateway": {"type": ["string", "null"], "pattern": IPV4_PATTERN,
                    "description": "the default gateway handed to hosts (none when absent)"},
        "dns": _texts("DNS servers handed to hosts"),
        "domain": _text("the DNS domain (default: lan)"),
        "ntp": _texts("NTP servers handed to hosts"),
        "http_port": {"type": "integer", "minimum": 1, "maximum": 65535,
                      "description": "the HTTP server's TCP port (default: 80)"},
        "root": {"type": "string", "pattern": "^/",
                 "description": "where the generated srv/ tree is installed on the server: dnsmasq's "
                                "tftp-root and the HTTP document root (default: /srv/hftinfra)"},
        "install_tree": {"type": "string", "pattern": URL_PATTERN,
                         "description": "URL of the RHEL 9 installation tree (BaseOS, images/pxeboot)"},
        "windows_tree": {"type": "string", "pattern": URL_PATTERN,
                         "description": "URL of the folder with wimboot, BCD, boot.sdi and boot.wim"},
        "windows_share": {"type": "string", "pattern": UNC_PATTERN,
                          "description": "UNC path (\\\\SERVER\\SHARE) of the SMB share holding the Windows "
                                         "install image; WinPE cannot mount HTTP"},
        "hftinfra_package": _text("what pip installs on a new host: a requirement or a wheel URL"),
        "timezone": _text("the hosts' time zone (default: UTC)"),
    }
    return _mapping("the provisioning server and its boot network, as booting hosts see them", inv.SITE_KEYS,
                    props, nullable=False, required=inv.SITE_REQUIRED)


def _firmware() -> dict:
    props = {
        "mode": {"type": "string", "enum": list(inv.FIRMWARE_MODES), "description": "the firmware's boot mode"},
        "secure_boot": {"type": "boolean", "description": "UEFI Secure Boot on (needs mode uefi and a boot_chain "
                                                          f"whose every stage is signed: {', '.join(inv.SIGNABLE_CHAINS)})"},
        "boot_chain": {"type": "string", "enum": list(inv.BOOT_CHAINS),
                       "description": "ipxe: iPXE runs the host's script (not under Secure Boot); shim-grub: the "
                                      "distribution's signed shim and GRUB (RHEL only); ipxe-shim: iPXE's signed "
                                      "shim and ipxe.efi (UEFI). Default: ipxe, or under Secure Boot shim-grub "
                                      "for RHEL and ipxe-shim for Windows"},
        "http_boot": {"type": "boolean", "description": "UEFI HTTP boot (client architecture 16) instead of PXE"},
    }
    out = _mapping("how the host's firmware boots; mode is required once defaults are merged", inv.FIRMWARE_KEYS,
                   props, nullable=True)
    out["allOf"] = [
        {"if": {"properties": {"mode": {"const": "bios"}}, "required": ["mode"]},
         "then": {"properties": {"secure_boot": {"not": {"const": True}}, "http_boot": {"not": {"const": True}},
                                 "boot_chain": {"enum": ["ipxe", None]}}}},
        {"if": {"properties": {"secure_boot": {"const": True}}, "required": ["secure_boot"]},
         "then": {"properties": {"boot_chain": {"enum": [*inv.SIGNABLE_CHAINS, None]}}}},
    ]
    return out


def _os() -> dict:
    props = {
        "family": {"type": "string", "enum": list(inv.OS_FAMILIES),
                   "description": "what the host runs; picks os_defaults and the generators"},
        "image": _text("Windows: the install image file on windows_share (default: install.wim)"),
        "image_index": {"type": "integer", "minimum": 1,
                        "description": "Windows: the image's index inside the .wim (default: 1)"},
        "edition": _text("Windows: the edition, e.g. Windows Server 2022 Datacenter"),
        "product_key": _text("Windows: the product key"),
        "locale": _text("the install's locale, e.g. en-US"),
        "timezone": _text("the install's time zone"),
        "admin_password_hash": _text("the administrator (root) password, hashed"),
    }
    return _mapping("the operating system; family is required once defaults are merged", inv.OS_KEYS, props,
                    nullable=True)


def _tuning() -> dict:
    piece = {"type": ["string", "integer"]}
    hugepages = _mapping(
        "the hugepage pool reserved at boot; size and pages are both required once defaults are merged, and "
        "are checked against the profile's memory.hugepages",
        inv.HUGEPAGE_KEYS,
        {"size": {"type": "string", "enum": [*inv.HUGEPAGE_SIZES_KB, *(s.lower() for s in inv.HUGEPAGE_SIZES_KB)],
                  "description": "the page size"},
         "pages": {"type": "integer", "minimum": 0, "description": "how many pages of that size"}},
        nullable=True)
    props = {
        "profile": _text("Linux: the tuning profile that builds and audits the host, a shipped name or a path "
                         "to a .yaml file (required for rhel9 hosts)"),
        "vars": {"type": "object", "description": "Linux: values of the profile's variables (which ones the "
                                                  "profile declares). Quote a CPU list inside {...}: a comma "
                                                  "ends an unquoted value there",
                 "propertyNames": {"pattern": NAME_PATTERN},
                 "additionalProperties": {"anyOf": [piece, {"type": "array", "items": piece}]}},
        "hugepages": hugepages,
        "power_plan": {"type": "string", "enum": list(inv.WINDOWS_POWER_PLANS),
                       "description": "Windows: the power plan (default: high-performance)"},
    }
    return _mapping("how the host is tuned: a profile for Linux hosts, a power plan for Windows ones",
                    inv.TUNING_KEYS, props, nullable=True)


def _network() -> dict:
    props = {
        "mode": {"type": "string", "enum": list(inv.NETWORK_MODES),
                 "description": "static: the installed system keeps ip; dhcp: it asks (dnsmasq still reserves ip)"},
        "ip": {"type": "string", "pattern": f"^{_IPV4}(/([0-9]|[12][0-9]|3[0-2]))?$",
               "description": "ADDR or ADDR/PREFIX inside site.subnet, outside site.dhcp_pool, one host each, not "
                              "site.server_ip (required for mode static)"},
        "gateway": {"type": "string", "pattern": IPV4_PATTERN, "description": "default: site.gateway"},
        "dns": _texts("default: site.dns"),
        "device": _text("the interface the address goes on (default: the boot MAC's)"),
    }
    return _mapping("the host's address; mode is required once defaults are merged", inv.NETWORK_KEYS, props,
                    nullable=True)


def _disk() -> dict:
    partition = _mapping(
        "one partition; the platform's own (biosboot or /boot/efi, and /boot) come from reqpart --add-boot",
        inv.PARTITION_KEYS,
        {"mount": {"type": "string", "pattern": "^(/.*|swap)$",
                   "not": {"enum": ["/boot", "/boot/efi"]},
                   "description": "a mount point, or swap (refused when the profile expects memory.swap off)"},
         "size_mib": {"type": "integer", "minimum": 0, "description": "size in MiB (required unless grow)"},
         "grow": {"type": "boolean", "description": "fill the rest of the disk"},
         "fstype": _text("file system (default: xfs, or swap)")},
        nullable=False, required=("mount",))
    props = {
        "device": {"anyOf": [{**TEXT, "pattern": r"^[^/\s]+$"}, {"type": "integer", "minimum": 0}],
                   "description": "Linux: a disk name such as nvme0n1 or sda; Windows: the disk's number "
                                  "(diskpart's 'select disk N')"},
        "partitions": {"type": "array", "minItems": 1, "items": partition,
                       "description": "Linux only: the layout, one partition mounting / (default: / filling the "
                                      "disk); a list replaces the default's whole list"},
    }
    return _mapping("the install disk; device is required once defaults are merged", inv.DISK_KEYS, props,
                    nullable=True)


def _host_properties() -> dict[str, dict]:
    return {
        "name": {"type": "string", "pattern": HOSTNAME_PATTERN,
                 "description": "the host name: lower-case letters, digits and '-', unique in the inventory"},
        "role": _text("what the host does (trading, market-data, ...)"),
        "macs": {"description": "the host's MAC addresses, the boot NIC's first: six hex pairs, unicast, each "
                                "used by one host only (quotes are optional: YAML 1.2 reads 52:54:00:12:34:56 "
                                "as text)",
                 "anyOf": [{"$ref": "#/$defs/mac"},
                           {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"$ref": "#/$defs/mac"}}]},
        "cpus": {"type": "integer", "minimum": 1,
                 "description": "the host's CPU count; needed when tuning.vars holds CPU lists"},
        "firmware": {"$ref": "#/$defs/firmware"},
        "os": {"$ref": "#/$defs/os"},
        "tuning": {"$ref": "#/$defs/tuning"},
        "network": {"$ref": "#/$defs/network"},
        "disk": {"$ref": "#/$defs/disk"},
        "install": {"type": "string", "enum": list(inv.INSTALL_STATES),
                    "description": "what the host boots next: install (the installer) or local (its disk); "
                                   "default: install"},
        "ssh_keys": _texts("public SSH keys installed for root"),
        "description": {"type": "string", "description": "free text"},
    }


def inventory_schema() -> dict:
    """The inventory file's JSON Schema (draft 2020-12)."""
    props = _host_properties()
    default_keys = tuple(k for k in inv.HOST_KEYS if k not in ("name", "macs"))
    later = [k for k in inv.HOST_REQUIRED if k not in ("name", "macs")]
    host = _mapping(
        f"one server. {', '.join(later)} are required too, but not here: defaults and os_defaults may give them, "
        "and load_inventory checks them after the merge. 'key: null' drops a default",
        inv.HOST_KEYS, props, nullable=True, required=("name", "macs"))
    host["properties"]["name"] = props["name"]
    host["properties"]["macs"] = props["macs"]
    defaults = _mapping("merged under every host, key by key within mappings (a list replaces the default's); "
                        "'key: null' in a host drops one", default_keys, {k: props[k] for k in default_keys},
                        nullable=True)
    family_keys = tuple(k for k in default_keys if k != "os")
    family_defaults = _mapping("merged under the hosts of this os.family, over defaults", family_keys,
                               {k: props[k] for k in family_keys}, nullable=True)
    return {
        "$schema": DIALECT,
        "$id": INVENTORY_ID,
        "title": "hftinfra provisioning inventory",
        "description": "Which servers exist, how each boots, what it runs and how it is tuned "
                       "(hftinfra.provision.inventory). load_inventory also checks what a schema cannot: MACs and "
                       "addresses across hosts, CPU lists against cpus, the profile and its variables, the "
                       "hugepage pool and swap against the profile, required fields after the merge.",
        "type": "object",
        "properties": {
            "version": {"const": inv.VERSION, "description": "the inventory format's version"},
            "site": {"$ref": "#/$defs/site"},
            "defaults": {"$ref": "#/$defs/defaults"},
            "os_defaults": _mapping("defaults by os.family, merged over defaults", inv.OS_FAMILIES,
                                    {f: {"$ref": "#/$defs/family_defaults"} for f in inv.OS_FAMILIES},
                                    nullable=False),
            "hosts": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/host"},
                      "description": "the servers, each with a unique name"},
        },
        "required": ["version", "site", "hosts"],
        "additionalProperties": False,
        "$defs": {
            "mac": {"type": "string", "pattern": MAC_PATTERN,
                    "not": {"pattern": "^00([:-])00(\\1" + "00){4}$"},
                    "description": "a unicast MAC address: six hex pairs separated by ':' or '-'"},
            "site": _site(),
            "defaults": defaults,
            "family_defaults": family_defaults,
            "host": host,
            "firmware": _firmware(),
            "os": _os(),
            "tuning": _tuning(),
            "network": _network(),
            "disk": _disk(),
        },
    }


def profile_schema() -> dict:
    """A tuning profile's JSON Schema (draft 2020-12), with the check catalog's ids."""
    from hftinfra import profiles as prof
    from hftinfra.checks import catalog

    value = {"type": ["string", "integer", "number", "boolean", "object", "array"]}
    rule = _mapping(
        "what one check expects; expect, reason and source are required once included profiles are merged",
        prof.RULE_KEYS,
        {"expect": {**value, "description": "the expected value (grammar in hftinfra.checks.values); ${name} "
                                            "substitutes a variable"},
         "reason": _text("one line: why this value"),
         "source": {"description": "where the value comes from: a kernel Documentation path, a man page or a "
                                   "vendor guide, or a list of them",
                    "anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"type": "string"}}]},
         "severity": {"type": "string", "enum": list(prof.SEVERITIES),
                      "description": "warn: a mismatch warns instead of failing"},
         "warn": {**value, "description": "values allowed but risky"},
         "warn_reason": {"type": "string", "description": "one line: why the warn values are risky"},
         "enabled": {"type": "boolean", "description": "false drops a check an included profile set"}},
        nullable=False)
    variable = _mapping(
        "a variable the profile's expectations use as ${name}",
        prof.VAR_KEYS,
        {"type": {"type": "string", "enum": list(prof.VAR_TYPES), "description": "default: str"},
         "default": {"type": ["string", "integer", "boolean", "null"], "description": "the value when neither the audit nor the "
                                                                   "inventory gives one"},
         "default_from": {"type": "string", "enum": list(prof.HOST_FACTS),
                          "description": "a fact about the audited host to default to"},
         "description": {"type": "string", "description": "what the variable means"}},
        nullable=False)
    checks = catalog()
    check_props = {cid: {"$ref": "#/$defs/rule", "description": f"{c.title}: {c.summary}"}
                   for cid, c in sorted(checks.items())}
    top = _mapping(
        "Expected values with a reason and a source each (hftinfra.profiles). load_profile also checks what a "
        "schema cannot: includes, expectations against each check's kind, variables in use.",
        prof.TOP_KEYS,
        {"name": _text("default: the file's name without .yaml"),
         "summary": {"type": "string", "description": "one line"},
         "description": {"type": "string", "description": "free text"},
         "include": {"description": "profiles loaded first (shipped names or paths), which this one overrides "
                                    "key by key within each check",
                     "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
         "variables": {"type": ["object", "null"], "propertyNames": {"pattern": NAME_PATTERN},
                       "additionalProperties": {"$ref": "#/$defs/variable"},
                       "description": "variables, by name (letters, digits and '_')"},
         "checks": {"type": ["object", "null"], "properties": check_props, "additionalProperties": False,
                    "description": "expectations by check id (`hftinfra audit --explain` lists them)"}},
        nullable=False)
    return {
        "$schema": DIALECT,
        "$id": PROFILE_ID,
        "title": "hftinfra tuning profile",
        **top,
        "anyOf": [{"required": ["checks"]}, {"required": ["include"]}],
        "$defs": {"rule": rule, "variable": variable},
    }


def _dump(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    """File name -> the text write_schemas writes."""
    return {FILES[0]: _dump(inventory_schema()), FILES[1]: _dump(profile_schema())}


def write_schemas(folder: str | Path) -> list[Path]:
    """Write inventory.schema.json and profile.schema.json into folder (made if missing)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in rendered().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m hftinfra.provision.schema DIR", file=sys.stderr)
        return 2
    try:
        paths = write_schemas(args[0])
    except OSError as exc:
        print(f"{args[0]}: cannot write ({exc.strerror})", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["FILES", "MAC_PATTERN", "inventory_schema", "profile_schema", "rendered", "write_schemas"]
