#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Puts a Windows trading machine on a power plan tuned for latency, and undoes it.

.DESCRIPTION
    Activates the High performance plan (or a copy of the hidden Ultimate Performance plan) and
    sets, on that plan, for both AC and DC power:

      - minimum processor state 100% (PROCTHROTTLEMIN), so the cores do not drop to low
        performance states between bursts of market data;
      - core parking minimum cores 100% (CPMINCORES), which disables the core parking algorithm,
        so a parked core does not have to be woken for the next packet or order;
      - PCI Express link state power management Off, so the NIC's PCIe link does not sit in a
        low-power state (ASPM L0s/L1) that adds exit latency to the first packet after a pause;
      - USB selective suspend disabled, so USB devices (a time card, a hardware key, a keyboard
        on a trader's desk) are not suspended and resumed.

    Before it changes anything it writes the active plan and the previous value of every setting
    to a JSON state file; -Restore FILE puts those values back and re-activates the previous plan.
    The script refuses to overwrite an existing state file, so a second run cannot record the
    tuned values as the "previous" ones.

    -WhatIf prints every change without making it (nothing is written, not even the state file).

.PARAMETER Plan
    HighPerformance (the built-in scheme 8c5e7fda-e8bf-4a96-9a85-a6e23a8c635c) or
    UltimatePerformance (a copy of the hidden scheme e9a42b02-d5df-448d-aa00-03f14749eb61, made
    under a fixed GUID on first use so that later runs find the same copy).

.PARAMETER StateFile
    Where the previous plan and values are saved before anything changes.
    Default: hftinfra\power-plan-before.json under $env:ProgramData.

.PARAMETER Restore
    A state file written by an earlier run: re-applies the saved values, re-activates the saved
    plan, deletes the Ultimate Performance copy if this script made it, and renames the state file
    to *.restored so that a new run can save again.

.EXAMPLE
    .\Set-TradingPowerPlan.ps1 -WhatIf

    Shows the current plan, what would be saved and every powercfg change, and changes nothing.

.EXAMPLE
    .\Set-TradingPowerPlan.ps1 -Plan UltimatePerformance

.EXAMPLE
    .\Set-TradingPowerPlan.ps1 -Restore C:\ProgramData\hftinfra\power-plan-before.json

.NOTES
    Setting GUIDs and aliases: "Powercfg command-line options" and the power-settings reference
    (CPMinCores, MinPerformance) on learn.microsoft.com; Microsoft's "Performance tuning network
    adapters" (low-latency packet processing) recommends the High performance power profile.
    powercfg's own labels are localized, so only GUIDs and hexadecimal values are parsed.
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'Apply')]
param(
    [Parameter(ParameterSetName = 'Apply')]
    [ValidateSet('HighPerformance', 'UltimatePerformance')]
    [string]$Plan = 'HighPerformance',

    [Parameter(ParameterSetName = 'Apply')]
    [ValidateNotNullOrEmpty()]
    [string]$StateFile = (Join-Path $env:ProgramData 'hftinfra\power-plan-before.json'),

    [Parameter(ParameterSetName = 'Restore', Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string]$Restore
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# powercfg /list on a stock Windows; the Ultimate copy's GUID is this script's own, passed as the
# destination of /duplicatescheme ("powercfg /duplicatescheme SCHEME_GUID [DESTINATION_GUID]").
$HighPerformanceGuid = '8c5e7fda-e8bf-4a96-9a85-a6e23a8c635c'
$UltimateTemplateGuid = 'e9a42b02-d5df-448d-aa00-03f14749eb61'
$UltimateCopyGuid = '57f54658-4741-495c-ac46-506048b4e8ed'

# Subgroup and setting GUIDs as powercfg /query lists them. The processor ones have documented
# aliases (SUB_PROCESSOR, PROCTHROTTLEMIN, CPMINCORES); GUIDs are used for all four alike.
$TunedSettings = @(
    [pscustomobject]@{ Label = 'minimum processor state (%)'
        Subgroup = '54533251-82be-4824-96c1-47b60b740d00'; Setting = '893dee8e-2bef-41e0-89c6-b55d0929964c'; Value = 100 }
    [pscustomobject]@{ Label = 'core parking minimum cores (%)'
        Subgroup = '54533251-82be-4824-96c1-47b60b740d00'; Setting = '0cc5b647-c1df-4637-891a-dec35c318583'; Value = 100 }
    [pscustomobject]@{ Label = 'PCI Express link state power management (0 = Off)'
        Subgroup = '501a4d13-42af-4429-9fd1-a8218c268e20'; Setting = 'ee12f906-d277-404b-b6da-e5fa1a576df5'; Value = 0 }
    [pscustomobject]@{ Label = 'USB selective suspend (0 = Disabled)'
        Subgroup = '2a737441-1930-4402-8d77-b2bebba308a3'; Setting = '48e6b7a6-50f5-4782-a5d4-53bb8f07e226'; Value = 0 }
)

$GuidPattern = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'

function Get-ActiveSchemeGuid {
    [CmdletBinding()]
    param()
    $output = (powercfg.exe /getactivescheme) -join "`n"
    if ($LASTEXITCODE -ne 0) { throw "powercfg /getactivescheme failed (exit code $LASTEXITCODE)" }
    $found = [regex]::Match($output, $GuidPattern)
    if (-not $found.Success) { throw "powercfg /getactivescheme printed no scheme GUID: $output" }
    return $found.Value.ToLowerInvariant()
}

function Test-SchemeExists {
    [CmdletBinding()]
    param([Parameter(Mandatory)] [string]$Scheme)
    $listed = (powercfg.exe /list) -join "`n"
    return $listed -match [regex]::Escape($Scheme)
}

function Get-PowerSettingValue {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string]$Scheme,
        [Parameter(Mandatory)] [string]$Subgroup,
        [Parameter(Mandatory)] [string]$Setting
    )
    # /query SCHEME SUB SETTING ends with the current AC index, then the DC index, each as
    # 0x%08x; the lines before them (possible values, minimum, maximum) are hexadecimal too, so
    # the last two numbers are taken. A setting this machine does not have fails the query.
    $output = (powercfg.exe /query $Scheme $Subgroup $Setting) -join "`n"
    if ($LASTEXITCODE -ne 0) { return $null }
    $numbers = [regex]::Matches($output, '0x([0-9a-fA-F]{8})')
    if ($numbers.Count -lt 2) { return $null }
    return [pscustomobject]@{
        Ac = [Convert]::ToInt32($numbers[$numbers.Count - 2].Groups[1].Value, 16)
        Dc = [Convert]::ToInt32($numbers[$numbers.Count - 1].Groups[1].Value, 16)
    }
}

function Set-PowerSettingValue {
    [CmdletBinding(SupportsShouldProcess)]
    param(
        [Parameter(Mandatory)] [string]$Scheme,
        [Parameter(Mandatory)] [string]$Subgroup,
        [Parameter(Mandatory)] [string]$Setting,
        [Parameter(Mandatory)] [int]$AcValue,
        [Parameter(Mandatory)] [int]$DcValue,
        [Parameter(Mandatory)] [string]$Label
    )
    if ($PSCmdlet.ShouldProcess("power scheme $Scheme", "set $Label to $AcValue on AC and $DcValue on DC")) {
        powercfg.exe /setacvalueindex $Scheme $Subgroup $Setting $AcValue
        if ($LASTEXITCODE -ne 0) { throw "powercfg /setacvalueindex failed for $Label (exit code $LASTEXITCODE)" }
        powercfg.exe /setdcvalueindex $Scheme $Subgroup $Setting $DcValue
        if ($LASTEXITCODE -ne 0) { throw "powercfg /setdcvalueindex failed for $Label (exit code $LASTEXITCODE)" }
    }
}

function Set-ActiveScheme {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(Mandatory)] [string]$Scheme)
    # Values written with /setacvalueindex to the active scheme take effect when it is
    # (re-)activated, so this runs last, also when the scheme was active already.
    if ($PSCmdlet.ShouldProcess("power scheme $Scheme", 'activate (powercfg /setactive)')) {
        powercfg.exe /setactive $Scheme
        if ($LASTEXITCODE -ne 0) { throw "powercfg /setactive $Scheme failed (exit code $LASTEXITCODE)" }
    }
}

function Restore-PowerPlan {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(Mandatory)] [string]$Path)
    if (-not (Test-Path -LiteralPath $Path)) { throw "no state file at $Path" }
    $state = Get-Content -LiteralPath $Path -Raw | ConvertFrom-Json
    foreach ($field in 'previousActiveScheme', 'targetScheme', 'createdScheme', 'settings') {
        if ($state.PSObject.Properties.Name -notcontains $field) {
            throw "$Path is not a state file of this script (no $field)"
        }
    }
    foreach ($saved in @($state.settings)) {
        Set-PowerSettingValue -Scheme $state.targetScheme -Subgroup $saved.subgroup -Setting $saved.setting `
            -AcValue ([int]$saved.ac) -DcValue ([int]$saved.dc) -Label $saved.label
    }
    Set-ActiveScheme -Scheme $state.previousActiveScheme
    if ($state.createdScheme -and $state.createdScheme -ne $state.previousActiveScheme) {
        if ($PSCmdlet.ShouldProcess("power scheme $($state.createdScheme)", 'delete the copy this script made')) {
            powercfg.exe /delete $state.createdScheme
            if ($LASTEXITCODE -ne 0) { Write-Warning "powercfg /delete $($state.createdScheme) failed; delete it by hand" }
        }
    }
    $done = "$Path.restored-" + (Get-Date -Format 'yyyyMMddHHmmss')
    if ($PSCmdlet.ShouldProcess($Path, "rename to $done")) {
        Rename-Item -LiteralPath $Path -NewName (Split-Path -Leaf $done)
    }
    Write-Output "restored: active scheme $($state.previousActiveScheme), $(@($state.settings).Count) setting(s)"
}

if ($PSCmdlet.ParameterSetName -eq 'Restore') {
    Restore-PowerPlan -Path $Restore
    return
}

if (Test-Path -LiteralPath $StateFile) {
    throw "$StateFile exists: restore it first (-Restore $StateFile) or name another -StateFile"
}

$previousScheme = Get-ActiveSchemeGuid
$createdScheme = $null
$targetScheme = $HighPerformanceGuid
if ($Plan -eq 'UltimatePerformance') {
    $targetScheme = $UltimateCopyGuid
    if (-not (Test-SchemeExists -Scheme $UltimateCopyGuid)) {
        if ($PSCmdlet.ShouldProcess("power scheme $UltimateTemplateGuid", "duplicate as $UltimateCopyGuid")) {
            powercfg.exe /duplicatescheme $UltimateTemplateGuid $UltimateCopyGuid
            if ($LASTEXITCODE -ne 0) {
                throw "powercfg /duplicatescheme failed (exit code $LASTEXITCODE): this edition may not have Ultimate Performance; use -Plan HighPerformance"
            }
        }
        $createdScheme = $UltimateCopyGuid
    }
}
elseif (-not (Test-SchemeExists -Scheme $HighPerformanceGuid)) {
    throw "the High performance scheme $HighPerformanceGuid is not on this machine (powercfg /list)"
}

Write-Output "active scheme now: $previousScheme; target: $targetScheme ($Plan)"

$saved = @()
$toSet = @()
foreach ($tuned in $TunedSettings) {
    $current = $null
    if (Test-SchemeExists -Scheme $targetScheme) {
        $current = Get-PowerSettingValue -Scheme $targetScheme -Subgroup $tuned.Subgroup -Setting $tuned.Setting
    }
    if ($null -eq $current) {
        if ($null -eq $createdScheme) {
            Write-Warning "$($tuned.Label): not present on this machine (powercfg /query failed); left alone"
            continue
        }
        # The copy does not exist yet (only under -WhatIf): its values are the template's.
        Write-Output ("{0}: would be set to {1} on the new copy" -f $tuned.Label, $tuned.Value)
        $toSet += $tuned
        continue
    }
    Write-Output ("{0}: AC {1}, DC {2} -> {3}" -f $tuned.Label, $current.Ac, $current.Dc, $tuned.Value)
    $saved += [pscustomobject]@{ label = $tuned.Label; subgroup = $tuned.Subgroup; setting = $tuned.Setting
        ac = $current.Ac; dc = $current.Dc }
    $toSet += $tuned
}

$state = [pscustomobject]@{
    schema               = 1
    savedAt              = (Get-Date).ToString('o')
    computer             = $env:COMPUTERNAME
    previousActiveScheme = $previousScheme
    targetScheme         = $targetScheme
    createdScheme        = $createdScheme
    settings             = $saved
}
if ($PSCmdlet.ShouldProcess($StateFile, 'save the previous plan and values')) {
    $folder = Split-Path -Parent $StateFile
    if ($folder -and -not (Test-Path -LiteralPath $folder)) {
        New-Item -ItemType Directory -Path $folder -Force | Out-Null
    }
    $state | ConvertTo-Json -Depth 4 | Set-Content -LiteralPath $StateFile -Encoding UTF8
    Write-Output "saved: $StateFile (undo with -Restore $StateFile)"
}

foreach ($tuned in $toSet) {
    Set-PowerSettingValue -Scheme $targetScheme -Subgroup $tuned.Subgroup -Setting $tuned.Setting `
        -AcValue $tuned.Value -DcValue $tuned.Value -Label $tuned.Label
}
Set-ActiveScheme -Scheme $targetScheme
