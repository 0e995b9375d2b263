"""WinPE files for the sample's Windows host, and the text checks that stand in for running
them (no PowerShell or Windows runs here): the generated files pass, seeded mistakes do not."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra.provision.generate import generate
from hftinfra.provision.inventory import load_inventory
from hftinfra.provision.winpe import HIGH_PERFORMANCE, render_winpe
from hftinfra.provision.wintext import check_cmd, check_powershell, check_unattend, leaked_paths

SAMPLE = Path(__file__).resolve().parent.parent / "provisioning" / "sample-inventory.yaml"
NS = {"u": "urn:schemas-microsoft-com:unattend"}


def windows_files(text: str | None = None) -> dict[str, str]:
    inv = load_inventory(SAMPLE, text=text)
    host = next(h for h in inv.hosts if h.os_family == "windows")
    return {Path(p).name: t for p, t in render_winpe(host, inv.site).items()}


def test_the_generated_files_pass_every_text_check():
    files = windows_files()
    assert check_powershell(files["install.ps1"]) == []
    assert check_cmd(files["startnet.cmd"]) == []
    assert check_unattend(files["unattend.xml"]) == []
    for text in files.values():
        assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
        assert leaked_paths(text, "windows") == []
    for rel, content in generate(load_inventory(SAMPLE)).files.items():
        if rel.startswith("srv/ks/"):
            assert leaked_paths(content.decode(), "linux") == [], rel


def test_the_answer_file_names_the_host_and_the_power_plan():
    root = ET.fromstring(windows_files()["unattend.xml"])
    assert root.find(".//u:ComputerName", NS).text == "LD4-DESK01"
    assert root.find(".//u:TimeZone", NS).text == "GMT Standard Time"
    paths = [e.text for e in root.iterfind(".//u:RunSynchronousCommand/u:Path", NS)]
    assert paths == [f"powercfg.exe /setactive {HIGH_PERFORMANCE}"]
    assert root.find(".//u:AdministratorPassword", NS) is None  # no hash given, no password written


def test_uefi_gets_gpt_and_bios_gets_mbr():
    uefi = windows_files()["install.ps1"]
    assert "convert gpt" in uefi and "create partition efi size=260" in uefi and "/f UEFI" in uefi
    text = SAMPLE.read_text().replace(
        "firmware: {mode: uefi, secure_boot: true, boot_chain: ipxe-shim}\n    os: {family: windows",
        "firmware: {mode: bios}\n    os: {family: windows")
    bios = windows_files(text)["install.ps1"]
    assert "convert gpt" not in bios and "active" in bios and "/f BIOS" in bios
    assert check_powershell(bios) == []


def test_a_static_address_goes_into_the_answer_file():
    text = SAMPLE.read_text().replace("network: {mode: dhcp, ip: 10.20.0.41/24}",
                                      "network: {mode: static, ip: 10.20.0.41/24}")
    root = ET.fromstring(windows_files(text)["unattend.xml"])
    assert root.find(".//u:UnicastIpAddresses/u:IpAddress", NS).text == "10.20.0.41/24"
    assert root.find(".//u:Interface/u:Identifier", NS).text == "00-15-5D-0A-7C-21"
    assert root.find(".//u:Route/u:NextHopAddress", NS).text == "10.20.0.1"


def test_ultimate_performance_is_duplicated_then_activated():
    text = SAMPLE.read_text().replace("tuning: {power_plan: high-performance}",
                                      "tuning: {power_plan: ultimate-performance}")
    root = ET.fromstring(windows_files(text)["unattend.xml"])
    paths = [e.text for e in root.iterfind(".//u:RunSynchronousCommand/u:Path", NS)]
    assert paths[0].startswith("powercfg.exe /duplicatescheme e9a42b02-d5df-448d-aa00-03f14749eb61 ")
    assert paths[1] == "powercfg.exe /setactive " + paths[0].split()[-1]
    assert windows_files(text) == windows_files(text)  # the copy's GUID is fixed per host


@pytest.mark.parametrize("bad, expected", [
    ("function Get-X {\n  $a = 1\n", "{ is never closed"),
    ("$a = 'unterminated\n", "never closed"),
    ("$s = @'\nbody\n", "here-string"),
    ("function Fetch-Thing { }\n", "not an approved verb"),
    ("function Get-Y {\n  [CmdletBinding()]\n  $a = 1\n}\n", "without a param() block"),
    ('Write-Host "host $Name: done"\n', "drive-qualified"),
    ("$a = (1 + 2))\n", "closes nothing"),
])
def test_powershell_mistakes_are_caught(bad, expected):
    assert any(expected in p for p in check_powershell(bad)), check_powershell(bad)


def test_powershell_quoting_rules_are_known():
    assert check_powershell("$a = 'it''s'; $b = \"say \"\"hi\"\" `\"x`\"\"\n<# { #>\n# (\n") == []


@pytest.mark.parametrize("bad, expected", [
    ("@echo off\r\ngoto nowhere\r\n", "no label :nowhere"),
    ("@echo off\ngoto :eof\n", "not CRLF"),
    ('echo "half\r\n', "unpaired double quote"),
    ("if 1==1 (\r\n  echo x\r\n", "never closed"),
])
def test_cmd_mistakes_are_caught(bad, expected):
    assert any(expected in p for p in check_cmd(bad)), check_cmd(bad)


def test_unattend_mistakes_are_caught():
    good = windows_files()["unattend.xml"]
    assert any("not well-formed" in p for p in check_unattend(good.replace("</unattend>", "")))
    assert any("no publicKeyToken" in p
               for p in check_unattend(good.replace(' publicKeyToken="31bf3856ad364e35"', "", 1)))
    assert any("is not one of" in p for p in check_unattend(good.replace('pass="specialize"', 'pass="special"')))
    assert any("appears twice" in p for p in check_unattend(good.replace('pass="oobeSystem"', 'pass="specialize"')))
    plain = good.replace("</OOBE>", "</OOBE><UserAccounts><AdministratorPassword><Value>x</Value>"
                                    "<PlainText>true</PlainText></AdministratorPassword></UserAccounts>")
    assert any("plain text" in p for p in check_unattend(plain))


def test_paths_of_the_other_system_are_found():
    assert leaked_paths("Copy-Item /srv/hftinfra/x W:\\\r\n", "windows")
    assert leaked_paths("echo C:\\Windows > /tmp/x\n", "linux")
    assert leaked_paths("kernel http://10.20.0.2:8080/srv/etc/vmlinuz\n", "windows") == []


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_checks_never_raise_on_any_text(text):
    for check in (check_powershell, check_cmd, check_unattend):
        assert isinstance(check(text), list)
    assert isinstance(leaked_paths(text, "windows"), list)
