"""The JSON Schemas of the inventory and of tuning profiles: the published copies match the
generator, the sample inventory and every shipped profile validate, and structural mistakes
are refused by the schema and by the loader alike."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from hftinfra.checks import catalog
from hftinfra.profiles import PROFILE_DIR, shipped_profiles
from hftinfra.provision import inventory as inv
from hftinfra.provision.inventory import InventoryError, load_inventory, read_yaml
from hftinfra.provision.schema import FILES, inventory_schema, profile_schema, rendered, write_schemas

REPO = Path(__file__).resolve().parent.parent
PUBLISHED = REPO / "provisioning" / "schemas"
SAMPLE = REPO / "provisioning" / "sample-inventory.yaml"
SAMPLE_TEXT = SAMPLE.read_text(encoding="utf-8")


def edited(old: str, new: str) -> str:
    assert SAMPLE_TEXT.count(old) == 1, f"the sample no longer holds {old!r}"
    return SAMPLE_TEXT.replace(old, new)


def validator(schema: dict) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("name", FILES)
def test_published_schema_is_current(name):
    published = PUBLISHED / name
    assert published.is_file(), f"{published} is missing: run python -m hftinfra.provision.schema provisioning/schemas"
    assert published.read_text(encoding="utf-8") == rendered()[name], (
        f"{published} differs from the generator: run python -m hftinfra.provision.schema provisioning/schemas "
        "(or hftinfra provision schema provisioning/schemas)")


def test_schemas_are_valid_draft_2020_12():
    for schema in (inventory_schema(), profile_schema()):
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] and schema["title"] and schema["description"]


def test_write_schemas_and_module_entry_point(tmp_path):
    paths = write_schemas(tmp_path / "a")
    assert [p.name for p in paths] == list(FILES)
    for p in paths:
        text = p.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    run = subprocess.run([sys.executable, "-m", "hftinfra.provision.schema", str(tmp_path / "b")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    for name in FILES:
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
    usage = subprocess.run([sys.executable, "-m", "hftinfra.provision.schema"], capture_output=True, text=True,
                           timeout=60)
    assert usage.returncode == 2 and "usage" in usage.stderr


def test_schema_follows_the_loaders_constants():
    schema = inventory_schema()
    defs = schema["$defs"]
    assert set(defs["site"]["properties"]) == set(inv.SITE_KEYS)
    assert set(defs["site"]["required"]) == set(inv.SITE_REQUIRED)
    assert set(defs["host"]["properties"]) == set(inv.HOST_KEYS)
    # Only what defaults cannot give is required; the description says why.
    assert defs["host"]["required"] == ["name", "macs"]
    assert "defaults" in defs["host"]["description"]
    for name, keys in (("firmware", inv.FIRMWARE_KEYS), ("os", inv.OS_KEYS), ("tuning", inv.TUNING_KEYS),
                       ("network", inv.NETWORK_KEYS), ("disk", inv.DISK_KEYS)):
        assert set(defs[name]["properties"]) == set(keys)
        assert defs[name]["additionalProperties"] is False
    assert defs["firmware"]["properties"]["mode"]["enum"][:-1] == list(inv.FIRMWARE_MODES)
    assert defs["firmware"]["properties"]["boot_chain"]["enum"][:-1] == list(inv.BOOT_CHAINS)
    assert set(schema["properties"]["os_defaults"]["properties"]) == set(inv.OS_FAMILIES)
    assert set(defs["disk"]["properties"]["partitions"]["items"]["properties"]) == set(inv.PARTITION_KEYS)
    profile = profile_schema()
    assert set(profile["properties"]["checks"]["properties"]) == set(catalog())
    assert profile["properties"]["checks"]["additionalProperties"] is False


def test_sample_inventory_validates():
    validator(inventory_schema()).validate(read_yaml(SAMPLE_TEXT, str(SAMPLE)))
    load_inventory(SAMPLE)


@pytest.mark.parametrize("name", shipped_profiles())
def test_shipped_profiles_validate(name):
    data = yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    validator(profile_schema()).validate(data)


# (sample text, replacement, what the loader's message names)
BAD_INVENTORIES = {
    "unknown key": ("    cpus: 32\n    tuning:\n      vars: {isolated_cpus: \"2-15,18-31\", housekeeping_cpus: "
                    "\"0-1,16-17\", trading_nics: ens1f0}\n    network: {ip: 10.20.0.11/24}",
                    "    cpus: 32\n    tuning:\n      vars: {isolated_cpus: \"2-15,18-31\", housekeeping_cpus: "
                    "\"0-1,16-17\", trading_nics: ens1f0}\n    network: {ip: 10.20.0.11/24}\n    bmc: 10.30.0.11",
                    "host ld4-trade01: bmc: unknown key"),
    "bad firmware mode": ("firmware: {mode: bios}", "firmware: {mode: efi}", "host ld4-md01: firmware.mode:"),
    "malformed MAC": ("macs: [3c:fd:fe:b0:44:a1]", "macs: [3c:fd:fe:b0:44]", "host ld4-risk01: macs[0]:"),
    "multicast MAC": ("macs: [3c:fd:fe:b0:44:a1]", "macs: [01:00:5e:00:00:01]", "host ld4-risk01: macs[0]:"),
    "wrong type": ("    cpus: 24\n", "    cpus: [24]\n", "host ld4-risk01: cpus:"),
    "bad site port": ("  http_port: 8080\n", "  http_port: 80800\n", "site.http_port:"),
    "unknown top key": ("version: 1\n", "version: 1\nhost: []\n", "host: unknown key; did you mean 'hosts'?"),
    "bad pool": ("  dhcp_pool: 10.20.0.100-10.20.0.199\n", "  dhcp_pool: 10.20.0.100\n", "site.dhcp_pool:"),
    "secure boot on bios": ("firmware: {mode: bios}", "firmware: {mode: bios, secure_boot: true}",
                            "host ld4-md01: firmware.secure_boot:"),
    "secure boot through ipxe": ("secure_boot: true, boot_chain: shim-grub", "secure_boot: true, boot_chain: ipxe",
                                 "host ld4-risk01: firmware.boot_chain:"),
    "split cpulist": ("vars: {isolated_cpus: 4-7, housekeeping_cpus: 0-3, trading_nics: ens2f0}",
                      "vars: {isolated_cpus: 4-5,6-7, housekeeping_cpus: 0-3, trading_nics: ens2f0}",
                      "host ld4-md01: tuning.vars.isolated_cpus:"),
    "bad hugepage size": ("hugepages: {size: 2M, pages: 4096}", "hugepages: {size: 4M, pages: 4096}",
                          "host ld4-md01: tuning.hugepages.size:"),
}


@pytest.mark.parametrize("case", BAD_INVENTORIES)
def test_structural_mistakes_refused_by_schema_and_loader(case):
    old, new, named = BAD_INVENTORIES[case]
    text = edited(old, new)
    errors = list(validator(inventory_schema()).iter_errors(read_yaml(text, "inv.yaml")))
    assert errors, f"the schema accepts: {case}"
    with pytest.raises(InventoryError) as exc:
        load_inventory("inv.yaml", text=text)
    assert named in str(exc.value)
    assert "\n" not in str(exc.value)


def test_schema_accepts_null_and_fields_from_defaults():
    # A host without role, firmware, os, network and disk is complete once defaults merge.
    text = edited("    firmware: {mode: bios}\n", "    firmware: {mode: bios, secure_boot: null}\n    install: null\n")
    validator(inventory_schema()).validate(read_yaml(text, "inv.yaml"))
    load_inventory("inv.yaml", text=text)


BAD_PROFILES = {
    "unknown top key": {"include": "hft-isolated", "check": {}},
    "unknown check": {"checks": {"cpu.governer": {"expect": "performance", "reason": "r", "source": "s"}}},
    "unknown rule key": {"include": "hft-isolated", "checks": {"cpu.governor": {"expected": "performance"}}},
    "bad severity": {"include": "hft-isolated", "checks": {"cpu.governor": {"severity": "error"}}},
    "bad variable type": {"include": "hft-isolated", "variables": {"x": {"type": "float"}}},
    "nothing": {"summary": "empty"},
}


@pytest.mark.parametrize("case", BAD_PROFILES)
def test_bad_profiles_refused_by_schema_and_loader(case, tmp_path):
    from hftinfra.profiles import ProfileError, load_profile

    data = BAD_PROFILES[case]
    assert list(validator(profile_schema()).iter_errors(data)), f"the schema accepts: {case}"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ProfileError):
        load_profile(str(path))
