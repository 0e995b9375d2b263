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


def test_the_wimboot_payload_is_what_the_ipxe_script_loads():
    from hftinfra.provision.generate import script_path
    from hftinfra.provision.winpe import WINPE_FILES, wimboot_payload

    inv = load_inventory(SAMPLE)
    host = next(h for h in inv.hosts if h.os_family == "windows")
    payload = wimboot_payload(host, inv.site)
    script = generate(inv).text(f"srv/{script_path(host.mac)}")
    initrds = [line.split()[1:3] for line in script.splitlines() if line.startswith("initrd ")]
    resolved = [[url.replace("${win}", inv.site.windows_tree), name] for url, name in initrds]
    assert resolved == [[b.url, b.name] for b in payload]
    assert [b.name for b in payload][-len(WINPE_FILES):] == list(WINPE_FILES)
    assert all(b.what for b in payload)


def test_check_files_runs_the_checks_that_fit_and_names_what_it_did_not_check():
    from hftinfra.provision.wintext import check_files

    files = {f"winpe/x/{name}": text for name, text in windows_files().items()}
    report = check_files({**files, "srv/ks/a.ks": b"part / --size=1\n", "srv/ipxe/menu.ipxe": "#!ipxe\n"})
    assert report.problems == []
    assert report.unchecked == ["srv/ipxe/menu.ipxe"]
    names = {(c.path.rsplit("/", 1)[-1], c.check) for c in report.checks}
    assert {("install.ps1", "check_powershell"), ("startnet.cmd", "check_cmd"), ("unattend.xml", "check_unattend"),
            ("unattend.xml", "leaked_paths windows"), ("a.ks", "leaked_paths linux")} <= names
    html = report._repr_html_()
    assert "not checked" in html and "not PowerShell" in html and "no problem found" in html

    broken = dict(files)
    broken["winpe/x/install.ps1"] = files["winpe/x/install.ps1"].replace("function Write-Step", "function Say-Step")
    broken["winpe/x/unattend.xml"] = files["winpe/x/unattend.xml"].replace('pass="oobeSystem"', 'pass="oobe"')
    bad = check_files(broken)
    assert any("Say is not an approved verb" in p for p in bad.problems)
    assert any("pass='oobe'" in p for p in bad.problems)
    assert "problem(s) found" in bad._repr_html_()


def test_an_apostrophe_in_a_comment_does_not_hide_the_code_after_it():
    text = "# Microsoft's layout\nfunction Say-Step { }\n# it's done\n"
    assert any("Say is not an approved verb" in p for p in check_powershell(text))
    assert check_powershell("$a = 'x # not a comment'\nfunction Get-A { }\n") == []
