"""The PowerShell scripts under scripts/powershell, checked as text (no PowerShell runs here):
every script passes every check, and a broken copy of each kind fails with the right message."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftinfra.provision.wintext import (
    check_powershell,
    check_script,
    check_script_conventions,
    check_script_help,
    check_scripts,
    check_should_process,
    check_undeclared_variables,
    leaked_paths,
    script_parameters,
    state_changes,
)

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts" / "powershell"
NAMES = ("Set-TradingPowerPlan.ps1", "Set-NicLowLatency.ps1", "Set-TimeSync.ps1", "Test-TradingReadiness.ps1")


def script(name: str) -> str:
    return (SCRIPTS / name).read_text(encoding="utf-8")


# A small script that passes every check, the base of the broken variants below.
GOOD = '''#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Sets a value.
.DESCRIPTION
    Sets HKLM value X to the given number.
.PARAMETER Value
    The number to write.
.EXAMPLE
    .\\Set-X.ps1 -Value 1 -WhatIf
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [ValidateRange(0, 9)]
    [int]$Value = 1
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$key = 'HKLM:\\SOFTWARE\\Example'
$text = @"
{ an unbalanced brace inside a here-string is text, not code
"@
if ($PSCmdlet.ShouldProcess($key, "set X to $Value")) {
    Set-ItemProperty -LiteralPath $key -Name X -Value $Value
    reg.exe add HKLM\\SOFTWARE\\Example /v Y /t REG_DWORD /d $Value /f
}
Write-Output $text
'''


def test_the_base_sample_passes_every_check():
    assert check_script(GOOD) == []


@pytest.mark.parametrize("name", NAMES)
def test_every_script_passes_every_check(name):
    text = script(name)
    assert check_script(text) == []
    assert leaked_paths(text, "windows") == []


def test_the_folder_holds_exactly_the_four_scripts():
    assert sorted(p.name for p in SCRIPTS.glob("*.ps1")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_is_typed_and_documented(name):
    params = script_parameters(script(name))
    assert params, name
    for p in params:
        assert p.type, (name, p.name)
        assert len(p.help) > 10, (name, p.name)


@pytest.mark.parametrize("name", NAMES[:3])
def test_the_scripts_that_change_the_machine_guard_every_change(name):
    text = script(name)
    changes = state_changes(text)
    assert changes and all(c.guarded for c in changes), [c for c in changes if not c.guarded]
    assert "#Requires -RunAsAdministrator" in text and "SupportsShouldProcess" in text
    assert "-WhatIf" in text and "-Restore" in text


def test_the_readiness_check_changes_nothing_and_has_three_exit_codes():
    text = script("Test-TradingReadiness.ps1")
    assert state_changes(text) == []
    assert "RunAsAdministrator" not in text
    for code in ("exit 0", "exit 1", "exit 2"):
        assert code in text
    assert "/stripchart" in text and "/dataonly" in text and "UNKNOWN" in text


def test_the_values_come_from_microsofts_documents():
    power = script("Set-TradingPowerPlan.ps1")
    for guid in ("8c5e7fda-e8bf-4a96-9a85-a6e23a8c635c", "e9a42b02-d5df-448d-aa00-03f14749eb61",
                 "893dee8e-2bef-41e0-89c6-b55d0929964c", "0cc5b647-c1df-4637-891a-dec35c318583",
                 "ee12f906-d277-404b-b6da-e5fa1a576df5", "48e6b7a6-50f5-4782-a5d4-53bb8f07e226"):
        assert guid in power
    time = script("Set-TimeSync.ps1")
    # "Configuring systems for high accuracy"; Microsoft's PTPClientConfig helper
    for name, value in (("MinPollInterval", "6"), ("MaxPollInterval", "6"), ("UpdateInterval", "100"),
                        ("FrequencyCorrectRate", "2"), ("SpecialPollInterval", "64"),
                        ("DelayPollInterval", "0x3e80"), ("AnnounceInterval", "0x0fa0"),
                        ("EnableMulticastRx", "0"), ("UseE2ECorrection", "1")):
        assert f"Name = '{name}'; Type = 'DWord'; Value = {value} " in time, name
    assert "TimeProviders\\PtpClient" in time and "'PtpMasters'" in time
    nic = script("Set-NicLowLatency.ps1")
    for keyword in ("*InterruptModeration", "*ReceiveBuffers", "*TransmitBuffers", "*FlowControl"):
        assert f"'{keyword}'" in nic
    assert "Set-NetAdapterRss" in nic and "-BaseProcessorNumber" in nic


# --- the broken samples: each check catches its own mistake -----------------------------------

def test_a_brace_inside_a_here_string_is_text_but_outside_it_is_unbalanced():
    assert check_powershell(GOOD) == []
    outside = GOOD.replace('$text = @"\n{ an unbalanced', '{\n$text = @"\n an unbalanced')
    assert outside != GOOD
    assert any("{ is never closed" in p for p in check_powershell(outside)), check_powershell(outside)


def test_a_missing_quote_is_caught_and_the_checks_that_cannot_run_say_so():
    broken = GOOD.replace("Write-Output $text", "Write-Output 'done")
    assert broken != GOOD
    problems = check_script(broken)
    assert problems[0] == "line 29: string '... is never closed", problems
    assert len(problems) == 2 and problems[1].startswith("not checked: line 29: string '... is never closed")
    for check in (check_script_help, check_script_conventions, check_undeclared_variables, check_should_process):
        assert check(broken) and check(broken)[0].startswith("not checked:"), check


def test_an_unapproved_verb_is_caught():
    broken = GOOD.replace("Write-Output $text", "function Apply-Value { param([int]$Number) $Number }\nWrite-Output $text")
    problems = check_script(broken)
    assert any("Apply is not an approved verb" in p for p in problems), problems


def test_an_undeclared_parameter_is_caught():
    # the body uses $Number, the param() block declares $Value
    broken = GOOD.replace("Set-ItemProperty -LiteralPath $key -Name X -Value $Value",
                          "Set-ItemProperty -LiteralPath $key -Name X -Value $Number")
    problems = check_undeclared_variables(broken)
    assert len(problems) == 1 and "$Number is read but never assigned" in problems[0], problems
    assert problems[0].startswith("line 26:")
    # a variable read only inside a double-quoted string counts too
    in_string = GOOD.replace('"set X to $Value"', '"set X to $Valeu"')
    assert any("$Valeu" in p for p in check_undeclared_variables(in_string))


def test_automatic_and_assigned_variables_are_not_undeclared():
    text = ("param([string]$Name)\n$list = @()\nforeach ($item in $list) { $_; $PSItem; $item }\n"
            "$count++\n$env:COMPUTERNAME; $script:total = 1; $total; $LASTEXITCODE; $PSCmdlet\n"
            "$splat = @{}; Get-Thing @splat; Write-Output \"$Name `$notread\"\n")
    assert check_undeclared_variables(text) == []
    assert any("$count" in p for p in check_undeclared_variables("$count += 0; $other\n")) is False
    assert any("$other" in p for p in check_undeclared_variables("$count += 0; $other\n"))


@pytest.mark.parametrize("change", [
    "Set-ItemProperty -LiteralPath $key -Name X -Value $Value",
    "New-Item -Path $key -Force",
    "Remove-ItemProperty -LiteralPath $key -Name X",
    "powercfg.exe /setacvalueindex SCHEME_CURRENT SUB_PROCESSOR PROCTHROTTLEMIN 100",
    "powercfg /setactive 8c5e7fda-e8bf-4a96-9a85-a6e23a8c635c",
    "w32tm /config /update",
    "reg add HKLM\\SOFTWARE\\Example /v Y /d 1 /f",
])
def test_a_state_change_outside_should_process_is_caught(change):
    broken = GOOD.replace("Write-Output $text", f"{change}\nWrite-Output $text")
    problems = check_should_process(broken)
    assert any("outside a $PSCmdlet.ShouldProcess() block" in p and p.startswith("line 29:") for p in problems), problems


def test_read_only_commands_are_not_changes():
    text = ("powercfg.exe /getactivescheme\npowercfg /query $s $g $x\nw32tm /query /status\n"
            "w32tm /stripchart /computer:ntp1 /samples:5 /dataonly\nreg query HKLM\\X\n"
            "Get-NetAdapterRss -Name x\nSet-StrictMode -Version Latest\n$o = New-Object System.Object\n"
            "Write-Output 'Set-ItemProperty in a string'\n# Set-ItemProperty in a comment\n")
    assert state_changes(text) == []


def test_a_negated_guard_or_a_missing_supports_should_process_is_caught():
    negated = GOOD.replace("if ($PSCmdlet.ShouldProcess($key, \"set X to $Value\")) {",
                           "if (-not $PSCmdlet.ShouldProcess($key, \"set X to $Value\")) {")
    assert any("outside a $PSCmdlet.ShouldProcess()" in p for p in check_should_process(negated))
    no_support = GOOD.replace("[CmdletBinding(SupportsShouldProcess)]", "[CmdletBinding()]")
    assert any("does not declare SupportsShouldProcess" in p for p in check_should_process(no_support))
    no_admin = GOOD.replace("#Requires -RunAsAdministrator\n", "")
    assert any("no #Requires -RunAsAdministrator" in p for p in check_should_process(no_admin))
    helper = GOOD.replace("Write-Output $text", "function Set-Y {\n    [CmdletBinding()]\n    param()\n"
                          "    if ($PSCmdlet.ShouldProcess('y', 'set')) { Set-Content -Path y -Value 1 }\n}\n"
                          "Write-Output $text")
    assert any("function Set-Y calls ShouldProcess without" in p for p in check_should_process(helper))


def test_help_for_every_parameter_is_required():
    two = GOOD.replace("    [int]$Value = 1\n", "    [int]$Value = 1,\n\n    [string]$Path = ''\n")
    problems = check_script_help(two)
    assert any("parameter $Path has no .PARAMETER Path help section" in p for p in problems), problems
    stale = GOOD.replace(".PARAMETER Value", ".PARAMETER Count")
    problems = check_script_help(stale)
    assert any("documents .PARAMETER Count, which the param() block does not declare" in p for p in problems)
    assert any("$Value has no .PARAMETER Value" in p for p in problems)
    no_example = GOOD.replace(".EXAMPLE\n    .\\Set-X.ps1 -Value 1 -WhatIf\n", "")
    assert any("no .EXAMPLE section" in p for p in check_script_help(no_example))
    empty = GOOD.replace("    Sets a value.\n", "")
    assert any("section .SYNOPSIS is empty" in p for p in check_script_help(empty))
    assert check_script_help("param([int]$X)\n") == [
        "no comment-based help: no <# #> block with .SYNOPSIS (about_Comment_Based_Help)"]


def test_the_script_conventions_are_required():
    untyped = GOOD.replace("[int]$Value = 1", "$Value = 1")
    assert any("parameter $Value has no type" in p for p in check_script_conventions(untyped))
    no_strict = GOOD.replace("Set-StrictMode -Version Latest\n", "")
    assert any("no Set-StrictMode -Version Latest" in p for p in check_script_conventions(no_strict))
    no_stop = GOOD.replace("$ErrorActionPreference = 'Stop'\n", "# $ErrorActionPreference = 'Stop'\n")
    assert any("no $ErrorActionPreference = 'Stop'" in p for p in check_script_conventions(no_stop))
    no_binding = GOOD.replace("[CmdletBinding(SupportsShouldProcess)]\n", "")
    assert any("not preceded by [CmdletBinding()]" in p for p in check_script_conventions(no_binding))


def test_parameters_are_read_with_their_types_attributes_and_defaults():
    text = ("<#\n.SYNOPSIS\n s\n.PARAMETER Names\n n\n#>\n[CmdletBinding()]\nparam(\n"
            "    [Parameter(Mandatory, HelpMessage = 'a, b')] [ValidateSet('x', 'y')] [string[]]$Names,\n"
            "    [switch]$Force,\n    [int]$Count = (Get-Random -Minimum 1 -Maximum 3),\n    $Loose\n)\n"
            "function Get-Inner { param([int]$NotScriptLevel) }\n")
    params = script_parameters(text)
    assert [(p.name, p.type) for p in params] == [("Names", "string[]"), ("Force", "switch"), ("Count", "int"),
                                                  ("Loose", "")]
    assert params[0].help == "n" and params[0].line == 9


def test_check_scripts_reports_each_check_per_file_and_labels_itself_honestly():
    files = {f"powershell/{name}": script(name) for name in NAMES}
    report = check_scripts({**files, "powershell/README.txt": "notes"})
    assert report.problems == []
    assert report.unchecked == ["powershell/README.txt"]
    assert len(report.checks) == 4 * 6 + 1
    html = report._repr_html_()
    assert "not PowerShell" in html and "no problem found" in html
    broken = dict(files)
    broken["powershell/Set-TimeSync.ps1"] = files["powershell/Set-TimeSync.ps1"].replace(
        "function Sync-TimeNow", "function Resync-TimeNow").replace("\nSync-TimeNow", "\nResync-TimeNow")
    bad = check_scripts(broken)
    assert any("Resync is not an approved verb" in p for p in bad.problems), bad.problems


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("$@'\"`#<>(){}[]=-+,.:;| \n\tabcXYZparmifShouldProcess")), max_size=200))
def test_the_script_checks_never_raise_on_any_text(text):
    assert isinstance(check_script(text), list)
    assert isinstance(state_changes(text), list)
    assert isinstance(script_parameters(text), list)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_the_script_checks_never_raise_on_arbitrary_unicode(text):
    assert isinstance(check_script(text), list)
