"""The provisioning inventory loader: every mistake it refuses ends in one line naming the
file, the host and the field; YAML 1.2 scalars; defaults and os_defaults under each host.
Inputs are the sample inventory with one edit each."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hftinfra.provision.inventory import InventoryError, load_inventory, normalise_mac, read_yaml

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "provisioning" / "sample-inventory.yaml"
SAMPLE_TEXT = SAMPLE.read_text(encoding="utf-8")
WHERE = "inv.yaml"

TRADE01 = ('    cpus: 32\n    tuning:\n      vars: {isolated_cpus: "2-15,18-31", housekeeping_cpus: "0-1,16-17", '
           'trading_nics: ens1f0}\n    network: {ip: 10.20.0.11/24}\n')
MD01_VARS = "vars: {isolated_cpus: 4-7, housekeeping_cpus: 0-3, trading_nics: ens2f0}"


def edited(*pairs: tuple[str, str]) -> str:
    text = SAMPLE_TEXT
    for old, new in pairs:
        assert text.count(old) == 1, f"the sample no longer holds {old!r} once"
        text = text.replace(old, new)
    return text


def load(*pairs: tuple[str, str]):
    return load_inventory(WHERE, text=edited(*pairs))


def refused(*pairs: tuple[str, str], host: str | None, field: str, says: str = "") -> str:
    with pytest.raises(InventoryError) as exc:
        load(*pairs)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"{WHERE}: ")
    head = f"{WHERE}: host {host}: {field}:" if host else f"{WHERE}: {field}:"
    assert message.startswith(head), message
    assert says in message, message
    return message


def test_the_sample_loads():
    inventory = load_inventory(SAMPLE)
    assert [h.name for h in inventory.hosts] == ["ld4-trade01", "ld4-trade02", "ld4-md01", "ld4-risk01",
                                                 "ld4-desk01"]
    md = inventory.host("ld4-md01")
    assert md.macs == ("0c:c4:7a:3e:90:10", "0c:c4:7a:3e:90:11")
    assert md.firmware == "bios" and md.boot_chain == "ipxe" and md.disk_device == "sda"
    assert md.variables["isolated_cpus"] == frozenset(range(4, 8))
    assert (md.hugepage_size_kb, md.hugepages) == (2048, 4096)
    risk = inventory.host("ld4-risk01")
    assert risk.secure_boot and risk.boot_chain == "shim-grub" and risk.network_mode == "dhcp"
    desk = inventory.host("ld4-desk01")
    assert desk.os_family == "windows" and desk.disk_device == "0" and desk.partitions == ()


# --- MACs ------------------------------------------------------------------------------------


def test_malformed_mac():
    refused(("macs: [b8:59:9f:1a:2b:01]", "macs: ['zz']"), host="ld4-trade01", field="macs[0]",
            says="'zz' is not a MAC address")
    refused(("macs: [b8:59:9f:1a:2b:01]", "macs: [b8:59:9f:1a:2b]"), host="ld4-trade01", field="macs[0]",
            says="is not a MAC address")


def test_unquoted_mac_stays_text():
    # YAML 1.1 (PyYAML's default) reads 52:54:00:12:34:56 as a base-60 integer.
    assert read_yaml("m: 52:54:00:12:34:56\nb: on\nn: 010\n", WHERE) == {"m": "52:54:00:12:34:56", "b": "on",
                                                                           "n": 10}
    inventory = load(("macs: [b8:59:9f:1a:2b:01]", "macs: [52:54:00:12:34:56]"))
    assert inventory.host("ld4-trade01").macs == ("52:54:00:12:34:56",)


def test_mac_written_as_a_number_says_quote_it():
    refused(("macs: [b8:59:9f:1a:2b:01]", "macs: [525400123456]"), host="ld4-trade01", field="macs[0]",
            says="write the MAC in quotes")


def test_multicast_and_zero_macs():
    refused(("macs: [b8:59:9f:1a:2b:01]", "macs: [01:00:5e:00:00:01]"), host="ld4-trade01", field="macs[0]",
            says="multicast or broadcast")
    refused(("macs: [b8:59:9f:1a:2b:01]", "macs: [ff:ff:ff:ff:ff:ff]"), host="ld4-trade01", field="macs[0]",
            says="multicast or broadcast")
    refused(("macs: [b8:59:9f:1a:2b:01]", "macs: [00:00:00:00:00:00]"), host="ld4-trade01", field="macs[0]",
            says="not a NIC's address")


def test_mac_spellings_normalise():
    assert normalise_mac("B8-59-9F-1A-2B-01") == "b8:59:9f:1a:2b:01"
    assert load(("macs: [b8:59:9f:1a:2b:01]", "macs: [' B8-59-9F-1A-2B-0A ']")).host("ld4-trade01").mac \
        == "b8:59:9f:1a:2b:0a"


def test_duplicate_mac_across_hosts():
    refused(("macs: [b8:59:9f:1a:2b:02]", "macs: [B8-59-9F-1A-2B-01]"), host="ld4-trade02", field="macs[0]",
            says="already host ld4-trade01's")


def test_duplicate_mac_within_a_host():
    refused(("macs: [0c:c4:7a:3e:90:10, 0c:c4:7a:3e:90:11]", "macs: [0c:c4:7a:3e:90:10, 0C:C4:7A:3E:90:10]"),
            host="ld4-md01", field="macs[1]", says="already this host's")


# --- profile and variables -----------------------------------------------------------------------


def test_unknown_profile():
    refused(("    cpus: 24\n", "    cpus: 24\n    tuning:\n      profile: hft-isolatd\n"
             "      vars: {isolated_cpus: 4-11, housekeeping_cpus: 0-3, trading_nics: ens3f0}\n"),
            ("    tuning:\n      vars: {isolated_cpus: 4-11, housekeeping_cpus: 0-3, trading_nics: ens3f0}\n"
             "    network: {mode: dhcp", "    network: {mode: dhcp"),
            host="ld4-risk01", field="tuning.profile", says="did you mean 'hft-isolated'?")


def test_unknown_variable():
    refused((MD01_VARS, "vars: {isolated_cpu: 4-7}"), host="ld4-md01", field="tuning.vars.isolated_cpu",
            says="has no such variable")


def test_isolated_overlapping_housekeeping():
    refused((MD01_VARS, "vars: {isolated_cpus: 3-7, housekeeping_cpus: 0-3, trading_nics: ens2f0}"),
            host="ld4-md01", field="tuning.vars.isolated_cpus", says="CPUs 3 are in both")


def test_isolated_beyond_cpus():
    refused((MD01_VARS, "vars: {isolated_cpus: 4-16, housekeeping_cpus: 0-3, trading_nics: ens2f0}"),
            host="ld4-md01", field="tuning.vars.isolated_cpus", says="16 are beyond the host's 16 CPUs (0-15)")


def test_isolating_every_cpu():
    refused((MD01_VARS, "vars: {isolated_cpus: 0-15}"), host="ld4-md01", field="tuning.vars.isolated_cpus",
            says="isolates every CPU")


def test_housekeeping_defaults_to_the_rest():
    host = load((MD01_VARS, "vars: {isolated_cpus: 4-7}")).host("ld4-md01")
    assert host.variables["housekeeping_cpus"] == frozenset(range(16)) - frozenset(range(4, 8))


def test_cpu_lists_without_cpus():
    refused(("    cpus: 16\n", ""), host="ld4-md01", field="tuning.vars.isolated_cpus", says="add cpus: N")


def test_unquoted_flow_mapping_cpulist_says_quote_it():
    # YAML ends a plain value at a comma inside {...}: 6-7 becomes a key without a value.
    message = refused((MD01_VARS, "vars: {isolated_cpus: 4-5,6-7, housekeeping_cpus: 0-3}"),
                      host="ld4-md01", field="tuning.vars.isolated_cpus", says="quote it")
    assert 'isolated_cpus: "4-5,6-7"' in message
    # Even where a merge would drop the null key and leave a shorter list without a word.
    message = refused(("      profile: hft-isolated     # the profile that builds the host and audits it\n",
                       "      profile: hft-isolated\n      vars: {trading_nics: ens1f0}\n"),
                      ("vars: {isolated_cpus: \"2-15,18-31\", housekeeping_cpus: \"0-1,16-17\", trading_nics: ens1f0}\n"
                       "    network: {ip: 10.20.0.11/24}",
                       "vars: {isolated_cpus: 2-15,18-31, housekeeping_cpus: 0-1,16-17}\n"
                       "    network: {ip: 10.20.0.11/24}"),
                      host="ld4-trade01", field="tuning.vars.isolated_cpus", says="quote it")
    assert 'isolated_cpus: "2-15,18-31"' in message
    # A block mapping needs no quotes.
    host = load((MD01_VARS, "vars:\n        isolated_cpus: 4-5,6-7\n        housekeeping_cpus: 0-3")).host("ld4-md01")
    assert host.variables["isolated_cpus"] == frozenset(range(4, 8))


def test_hugepages_pages_zero_against_the_profile():
    refused(("hugepages: {size: 2M, pages: 4096}", "hugepages: {size: 2M, pages: 0}"), host="ld4-md01",
            field="tuning.hugepages", says="memory.hugepages")


def test_hugepages_missing_when_the_profile_checks_them():
    refused(("      hugepages: {size: 1G, pages: 16}\n", ""), ("      hugepages: {size: 2M, pages: 4096}\n", ""),
            host="ld4-trade01", field="tuning.hugepages", says="missing")


def test_swap_partition_against_memory_swap_off():
    refused(("        - {mount: /data, grow: true}\n",
             "        - {mount: swap, size_mib: 8192}\n        - {mount: /data, grow: true}\n"),
            host="ld4-trade01", field="tuning", says="disk.partitions[2] is swap")


# --- required fields, addresses -------------------------------------------------------------------


def test_missing_required_field():
    refused(("  role: trading\n", ""), host="ld4-trade01", field="role", says="missing (required)")
    refused(("  - name: ld4-trade02\n", "  - role: trading\n"), host="#2", field="name", says="missing")


def test_missing_required_field_in_a_nested_mapping():
    refused(("firmware: {mode: bios}", "firmware: {mode: null}"), host="ld4-md01", field="firmware.mode",
            says="missing")


def test_two_hosts_with_one_ip():
    refused(("network: {ip: 10.20.0.12/24}", "network: {ip: 10.20.0.11/24}"), host="ld4-trade02",
            field="network.ip", says="already host ld4-trade01's")


def test_host_ip_equal_to_server_ip():
    refused(("network: {ip: 10.20.0.11/24}", "network: {ip: 10.20.0.2/24}"), host="ld4-trade01",
            field="network.ip", says="site.server_ip")


def test_ip_inside_dhcp_pool():
    refused(("network: {ip: 10.20.0.11/24}", "network: {ip: 10.20.0.150/24}"), host="ld4-trade01",
            field="network.ip", says="site.dhcp_pool")


def test_ip_outside_the_subnet():
    refused(("network: {ip: 10.20.0.11/24}", "network: {ip: 10.21.0.11}"), host="ld4-trade01",
            field="network.ip", says="outside the boot subnet")


def test_static_without_ip():
    refused(("    network: {ip: 10.20.0.11/24}\n", ""), host="ld4-trade01", field="network.ip",
            says="required for mode static")


# --- boot chains ----------------------------------------------------------------------------------


def test_secure_boot_with_ipxe():
    refused(("secure_boot: true, boot_chain: shim-grub", "secure_boot: true, boot_chain: ipxe"),
            host="ld4-risk01", field="firmware.boot_chain", says="cannot start under Secure Boot")


def test_secure_boot_on_bios():
    refused(("firmware: {mode: bios}", "firmware: {mode: bios, secure_boot: true}"), host="ld4-md01",
            field="firmware.secure_boot", says="UEFI feature")


def test_shim_grub_on_windows():
    refused(("secure_boot: true, boot_chain: ipxe-shim", "secure_boot: true, boot_chain: shim-grub"),
            host="ld4-desk01", field="firmware.boot_chain", says="Windows")


def test_uefi_chain_on_bios():
    refused(("firmware: {mode: bios}", "firmware: {mode: bios, boot_chain: ipxe-shim}"), host="ld4-md01",
            field="firmware.boot_chain", says="UEFI chain")


def test_secure_boot_default_chain():
    inventory = load(("secure_boot: true, boot_chain: shim-grub", "secure_boot: true"),
                     ("secure_boot: true, boot_chain: ipxe-shim", "secure_boot: true"))
    assert inventory.host("ld4-risk01").boot_chain == "shim-grub"
    assert inventory.host("ld4-desk01").boot_chain == "ipxe-shim"


# --- YAML, keys, defaults -------------------------------------------------------------------------


def test_bad_yaml_names_the_line():
    text = edited(("  subnet: 10.20.0.0/24\n", "  subnet: [10.20.0.0/24\n"))
    line = text.splitlines().index("  subnet: [10.20.0.0/24") + 1
    with pytest.raises(InventoryError) as exc:
        load_inventory(WHERE, text=text)
    assert str(exc.value).startswith(f"{WHERE}: not valid YAML at line ")
    number = int(str(exc.value).split("at line ")[1].split(":")[0])
    assert line <= number <= line + 1


def test_value_that_does_not_fit_its_tag_names_the_line():
    with pytest.raises(InventoryError) as exc:
        load(("version: 1\n", "version: !!int one\n"))
    assert "not valid YAML at line 7" in str(exc.value) and "!!int" in str(exc.value)


def test_dates_stay_text():
    host = load(("description: order gateway, exchange A", "description: 2024-05-01")).host("ld4-trade01")
    assert host.description == "2024-05-01"
    assert load(("    role: risk\n", "    role: 2024-05-01\n")).host("ld4-risk01").role == "2024-05-01"


def test_unknown_key_suggests_the_close_one():
    refused(("    cpus: 16\n", "    cpu: 16\n"), host="ld4-md01", field="cpu", says="did you mean 'cpus'?")
    refused(("firmware: {mode: bios}", "firmware: {mode: bios, secureboot: false}"), host="ld4-md01",
            field="firmware.secureboot", says="did you mean 'secure_boot'?")
    refused(("  dhcp_pool:", "  dhcp-pool:"), host=None, field="site.dhcp-pool", says="did you mean 'dhcp_pool'?")


def test_wrong_type_names_the_field():
    refused(("    cpus: 16\n", "    cpus: sixteen\n"), host="ld4-md01", field="cpus", says="whole number")
    refused(("firmware: {mode: bios}", "firmware: {mode: bios, http_boot: yes}"), host="ld4-md01",
            field="firmware.http_boot", says="expected true or false")


def test_os_family_checked_before_the_merge():
    # A wrong family would otherwise show as a disk the os_defaults were meant to give.
    refused(("    cpus: 24\n", "    cpus: 24\n    os: {family: rhel8}\n"), host="ld4-risk01", field="os.family",
            says="not one of rhel9, windows")
    refused(("    cpus: 24\n", "    cpus: 24\n    os: {family: [rhel9]}\n"), host="ld4-risk01", field="os.family")


def test_null_drops_a_default():
    inventory = load((TRADE01, TRADE01 + "    ssh_keys: null\n"))
    assert inventory.host("ld4-trade01").ssh_keys == ()
    assert inventory.host("ld4-trade02").ssh_keys and inventory.host("ld4-trade02").ssh_keys[0].startswith("ssh-")
    # Nested: secure_boot falls back to its built-in default (false), with or without a default beneath.
    inventory = load(("firmware: {mode: bios}", "firmware: {mode: bios, secure_boot: null}"))
    assert inventory.host("ld4-md01").secure_boot is False
    # Dropping a required field that only a default gave leaves it missing.
    refused((TRADE01, TRADE01 + "    role: null\n"), host="ld4-trade01", field="role", says="missing (required)")


def test_defaults_merge_key_by_key():
    inventory = load_inventory(SAMPLE)
    md = inventory.host("ld4-md01")
    # md01 gives disk.device and keeps the partitions of os_defaults.rhel9.
    assert md.disk_device == "sda" and [p.mount for p in md.partitions] == ["/", "/var/log", "/data"]
    # firmware.secure_boot from defaults, mode from the host.
    assert md.firmware == "bios" and md.secure_boot is False
    assert inventory.host("ld4-trade01").role == "trading" and md.role == "market-data"


def test_os_defaults_by_family():
    inventory = load_inventory(SAMPLE)
    trade = inventory.host("ld4-trade01")
    assert trade.profile == "hft-isolated" and trade.hugepages == 16 and trade.disk_device == "nvme0n1"
    assert trade.ssh_keys
    desk = inventory.host("ld4-desk01")
    # The rhel9 block (profile, partitions, ssh keys) does not reach the Windows host.
    assert desk.profile is None and desk.partitions == () and desk.ssh_keys == ()
    assert desk.power_plan == "high-performance"
    # A windows block applies to Windows hosts only.
    inventory = load(("os_defaults:                    # under defaults, by os.family\n",
                      "os_defaults:\n  windows:\n    install: local\n    tuning: {power_plan: ultimate-performance}\n"))
    assert inventory.host("ld4-desk01").install == "local"
    assert inventory.host("ld4-desk01").power_plan == "high-performance"  # the host's own tuning wins
    assert inventory.host("ld4-trade01").install == "install"
    refused(("os_defaults:                    # under defaults, by os.family\n", "os_defaults:\n  rhel8: {}\n"),
            host=None, field="os_defaults.rhel8", says="unknown key")


def test_duplicate_names():
    refused(("  - name: ld4-trade02\n", "  - name: ld4-trade01\n"), host="ld4-trade01", field="name",
            says="also host #1")


def test_host_name_must_be_a_hostname():
    refused(("  - name: ld4-trade02\n", "  - name: LD4_trade02\n"), host="LD4_trade02", field="name",
            says="not a host name")


# --- arbitrary input ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text_raises_only_inventory_error(text):
    try:
        load_inventory(WHERE, text=text)
    except InventoryError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{WHERE}: ")


LINES = SAMPLE_TEXT.splitlines()
TOKENS = ["", "x", "null", "[]", "{}", "5", "-1", "true", "[a]", "{a: 1}", "!!int a", "!!float x", "2024-01-01",
          "'01:00:5e:00:00:01'", "[1, [2]]", "*nope", "&a [*a]"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(LINES) - 1), st.sampled_from(TOKENS), st.booleans())
def test_edited_sample_raises_only_inventory_error(index, token, whole_line):
    lines = list(LINES)
    key, sep, _ = lines[index].partition(":")
    lines[index] = token if whole_line or not sep else f"{key}: {token}"
    try:
        load_inventory(WHERE, text="\n".join(lines) + "\n")
    except InventoryError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{WHERE}: ")
