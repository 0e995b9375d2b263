#Requires -Version 5.1
<#
.SYNOPSIS
    Read-only readiness check of a Windows trading machine: power plan, NIC interrupt moderation
    and RSS placement, time source and offset. One line per check, PASS, FAIL or UNKNOWN, each
    with why.

.DESCRIPTION
    Changes nothing. It reads:

      - power: the active scheme (powercfg /getactivescheme) and, on it, minimum processor state,
        core parking minimum cores, PCI Express link state power management and USB selective
        suspend (powercfg /query), against the values Set-TradingPowerPlan.ps1 sets;
      - each adapter: *InterruptModeration (Get-NetAdapterAdvancedProperty) and RSS
        (Get-NetAdapterRss): enabled, and its processor range not containing -TradingProcessor;
      - time: the source (w32tm /query /source) and the offset to -TimeSource measured with
        w32tm /stripchart /computer:X /samples:N /dataonly, against -MaxOffsetMs.

    A value that cannot be read (a command that fails, a keyword the driver does not expose, no
    reference to measure against) is UNKNOWN with the reason, never PASS.

    Exit code: 0 every check passed; 1 at least one FAIL; 2 no FAIL but at least one UNKNOWN.

.PARAMETER AdapterName
    The adapters to check; default every physical adapter whose status is Up.

.PARAMETER TradingProcessor
    The logical processor the trading thread is pinned to; RSS must not use it. -1 (default):
    RSS placement is UNKNOWN.

.PARAMETER TimeSource
    The NTP server to measure the offset against (w32tm /stripchart /computer:). Default: the
    source w32tm /query /source reports, when it is a network peer.

.PARAMETER Samples
    How many offset samples w32tm /stripchart takes (one every 2 s by default). Default 5.

.PARAMETER MaxOffsetMs
    The largest offset, in milliseconds, that passes. Default 1, Microsoft's high-accuracy target
    for W32Time ("Configuring systems for high accuracy").

.EXAMPLE
    .\Test-TradingReadiness.ps1 -AdapterName Trading1 -TradingProcessor 6 -TimeSource ntp1.example.net

.EXAMPLE
    .\Test-TradingReadiness.ps1; if ($LASTEXITCODE -ne 0) { Write-Warning 'not ready' }

.NOTES
    w32tm /stripchart measures the offset between this machine and one server over the network,
    so the path's asymmetry is part of the figure; it is a check that the clock is in the right
    neighbourhood, not a measurement of PTP-grade accuracy.
#>
[CmdletBinding()]
param(
    [string[]]$AdapterName = @(),

    [ValidateRange(-1, 1023)]
    [int]$TradingProcessor = -1,

    [string]$TimeSource = '',

    [ValidateRange(1, 100)]
    [int]$Samples = 5,

    [ValidateRange(0.001, 1000000)]
    [double]$MaxOffsetMs = 1.0
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# The same GUIDs as Set-TradingPowerPlan.ps1 (powercfg /list, powercfg /query).
$HighPerformanceGuid = '8c5e7fda-e8bf-4a96-9a85-a6e23a8c635c'
$UltimateCopyGuid = '57f54658-4741-495c-ac46-506048b4e8ed'
$ExpectedSettings = @(
    [pscustomobject]@{ Id = 'power.processor-minimum'; Label = 'minimum processor state'; Want = 100
        Subgroup = '54533251-82be-4824-96c1-47b60b740d00'; Setting = '893dee8e-2bef-41e0-89c6-b55d0929964c' }
    [pscustomobject]@{ Id = 'power.core-parking'; Label = 'core parking minimum cores'; Want = 100
        Subgroup = '54533251-82be-4824-96c1-47b60b740d00'; Setting = '0cc5b647-c1df-4637-891a-dec35c318583' }
    [pscustomobject]@{ Id = 'power.pcie-aspm'; Label = 'PCI Express link state power management'; Want = 0
        Subgroup = '501a4d13-42af-4429-9fd1-a8218c268e20'; Setting = 'ee12f906-d277-404b-b6da-e5fa1a576df5' }
    [pscustomobject]@{ Id = 'power.usb-selective-suspend'; Label = 'USB selective suspend'; Want = 0
        Subgroup = '2a737441-1930-4402-8d77-b2bebba308a3'; Setting = '48e6b7a6-50f5-4782-a5d4-53bb8f07e226' }
)

$Results = New-Object System.Collections.Generic.List[object]

function Add-Result {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [ValidateSet('PASS', 'FAIL', 'UNKNOWN')] [string]$Status,
        [Parameter(Mandatory)] [string]$Id,
        [Parameter(Mandatory)] [string]$Why
    )
    # Recorded, not written: functions that add results also return values, and anything
    # written here would end up in those return values. The lines are printed at the end.
    $Results.Add([pscustomobject]@{ Status = $Status; Id = $Id; Why = $Why })
}

function Get-CommandOutput {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string]$Command,
        [Parameter(Mandatory)] [string[]]$Arguments
    )
    # Native tools report failure by exit code; a tool that is missing throws. Either way the
    # caller gets $null and turns it into UNKNOWN. 'Continue' here so that a line on stderr is
    # kept as text instead of stopping the script (Windows PowerShell 5.1 wraps it as an error).
    $ErrorActionPreference = 'Continue'
    try {
        $output = & $Command @Arguments 2>&1 | ForEach-Object { "$_" }
        if ($LASTEXITCODE -ne 0) { return $null }
        return ($output -join "`n")
    }
    catch {
        return $null
    }
}

function Test-PowerPlan {
    [CmdletBinding()]
    param()
    $active = Get-CommandOutput -Command 'powercfg.exe' -Arguments @('/getactivescheme')
    $guid = if ($active) { [regex]::Match($active, '[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}').Value.ToLowerInvariant() } else { '' }
    if (-not $guid) {
        Add-Result UNKNOWN 'power.plan' 'powercfg /getactivescheme failed or printed no GUID'
        return
    }
    if ($guid -eq $HighPerformanceGuid -or $guid -eq $UltimateCopyGuid) {
        Add-Result PASS 'power.plan' "active scheme $guid (High performance or this toolkit's Ultimate Performance copy)"
    }
    else {
        Add-Result FAIL 'power.plan' "active scheme $guid is neither High performance ($HighPerformanceGuid) nor the Ultimate Performance copy ($UltimateCopyGuid); the settings below are judged anyway"
    }
    foreach ($expected in $ExpectedSettings) {
        $query = Get-CommandOutput -Command 'powercfg.exe' -Arguments @('/query', $guid, $expected.Subgroup, $expected.Setting)
        $numbers = if ($query) { [regex]::Matches($query, '0x([0-9a-fA-F]{8})') } else { @() }
        if (@($numbers).Count -lt 2) {
            Add-Result UNKNOWN $expected.Id "$($expected.Label): powercfg /query gave no value (setting absent or hidden on this machine)"
            continue
        }
        # The last two numbers of /query are the current AC and DC indexes, in that order.
        $ac = [Convert]::ToInt32($numbers[$numbers.Count - 2].Groups[1].Value, 16)
        $dc = [Convert]::ToInt32($numbers[$numbers.Count - 1].Groups[1].Value, 16)
        if ($ac -eq $expected.Want) {
            Add-Result PASS $expected.Id "$($expected.Label): AC $ac (DC $dc), want $($expected.Want)"
        }
        else {
            Add-Result FAIL $expected.Id "$($expected.Label): AC $ac (DC $dc), want $($expected.Want); fix: Set-TradingPowerPlan.ps1"
        }
    }
}

function Test-Adapter {
    [CmdletBinding()]
    param([Parameter(Mandatory)] [string]$Name)
    $properties = @()
    try { $properties = @(Get-NetAdapterAdvancedProperty -Name $Name -AllProperties) }
    catch { Add-Result UNKNOWN "nic.$Name.interrupt-moderation" "Get-NetAdapterAdvancedProperty failed: $($_.Exception.Message)" }
    if ($properties.Count -gt 0) {
        $moderation = $properties | Where-Object { $_.RegistryKeyword -eq '*InterruptModeration' } | Select-Object -First 1
        if ($null -eq $moderation) {
            Add-Result UNKNOWN "nic.$Name.interrupt-moderation" 'the driver exposes no *InterruptModeration keyword; check its own coalescing setting'
        }
        elseif ((@($moderation.RegistryValue) -join ',') -eq '0') {
            Add-Result PASS "nic.$Name.interrupt-moderation" '*InterruptModeration 0 (Disabled)'
        }
        else {
            Add-Result FAIL "nic.$Name.interrupt-moderation" ("*InterruptModeration {0} ({1}), want 0; fix: Set-NicLowLatency.ps1" -f (@($moderation.RegistryValue) -join ','), $moderation.DisplayValue)
        }
    }
    try { $rss = Get-NetAdapterRss -Name $Name }
    catch {
        Add-Result UNKNOWN "nic.$Name.rss" "Get-NetAdapterRss failed: $($_.Exception.Message)"
        return
    }
    if (-not $rss.Enabled) {
        Add-Result FAIL "nic.$Name.rss" 'RSS is disabled: every receive interrupt and DPC lands on one processor the driver picks'
        return
    }
    $range = '{0}..{1}' -f $rss.BaseProcessorNumber, $rss.MaxProcessorNumber
    if ($TradingProcessor -lt 0) {
        Add-Result UNKNOWN "nic.$Name.rss" "RSS enabled on processors $range, profile $($rss.Profile); no -TradingProcessor given, so placement is not judged"
    }
    elseif ($TradingProcessor -ge $rss.BaseProcessorNumber -and $TradingProcessor -le $rss.MaxProcessorNumber) {
        Add-Result FAIL "nic.$Name.rss" "RSS processors $range include the trading processor $TradingProcessor; fix: Set-NicLowLatency.ps1 -BaseProcessorNumber"
    }
    else {
        Add-Result PASS "nic.$Name.rss" "RSS processors $range, profile $($rss.Profile), clear of the trading processor $TradingProcessor"
    }
}

function Test-TimeSource {
    [CmdletBinding()]
    param()
    $source = Get-CommandOutput -Command 'w32tm.exe' -Arguments @('/query', '/source')
    if ($null -eq $source) {
        Add-Result UNKNOWN 'time.source' 'w32tm /query /source failed (is the W32Time service running?)'
        return ''
    }
    $source = $source.Trim()
    # These two names are what w32tm prints when nothing external disciplines the clock.
    if ($source -match 'Local CMOS Clock|Free-running System Clock') {
        Add-Result FAIL 'time.source' "source is '$source': the clock is not synchronized to anything; fix: Set-TimeSync.ps1"
        return ''
    }
    Add-Result PASS 'time.source' "source is '$source'"
    # A peer is printed as name,0xN; a provider (VM IC, PTP) is a description with spaces.
    $peer = ($source -split ',')[0].Trim()
    if ($peer -match '^[A-Za-z0-9.\-\[\]:]+$') { return $peer }
    return ''
}

function Test-TimeOffset {
    [CmdletBinding()]
    param([string]$Reference)
    if (-not $Reference) {
        Add-Result UNKNOWN 'time.offset' 'no -TimeSource given and the configured source is not a network peer to measure against'
        return
    }
    $chart = Get-CommandOutput -Command 'w32tm.exe' -Arguments @('/stripchart', "/computer:$Reference", "/samples:$Samples", '/dataonly')
    if ($null -eq $chart) {
        Add-Result UNKNOWN 'time.offset' "w32tm /stripchart /computer:$Reference failed"
        return
    }
    # Data lines look like "10:15:02, +00.0004217s"; the time and the decimal separator follow the
    # locale, so only the signed number before the final 's' is taken.
    $offsets = @()
    foreach ($line in $chart -split "`n") {
        $m = [regex]::Match($line, ',\s*([+-]?\d+[.,]\d+)s\s*$')
        if ($m.Success) {
            $offsets += [double]::Parse($m.Groups[1].Value.Replace(',', '.'), [Globalization.CultureInfo]::InvariantCulture)
        }
    }
    if ($offsets.Count -eq 0) {
        $firstError = ($chart -split "`n" | Where-Object { $_ -match 'error' } | Select-Object -First 1)
        Add-Result UNKNOWN 'time.offset' "no offset sample from $Reference ($firstError)"
        return
    }
    $worstMs = ($offsets | ForEach-Object { [math]::Abs($_) } | Measure-Object -Maximum).Maximum * 1000
    $summary = '{0} sample(s) from {1}, largest |offset| {2:N3} ms, limit {3} ms' -f $offsets.Count, $Reference, $worstMs, $MaxOffsetMs
    if ($worstMs -le $MaxOffsetMs) { Add-Result PASS 'time.offset' $summary }
    else { Add-Result FAIL 'time.offset' "$summary; fix: Set-TimeSync.ps1, then check the path to the source" }
}

Test-PowerPlan

$names = @($AdapterName)
if ($names.Count -eq 0) {
    try { $names = @(Get-NetAdapter -Physical | Where-Object { $_.Status -eq 'Up' } | ForEach-Object { $_.Name }) }
    catch { Add-Result UNKNOWN 'nic' "Get-NetAdapter failed: $($_.Exception.Message)" }
}
if ($names.Count -eq 0) {
    Add-Result UNKNOWN 'nic' 'no adapter given and no physical adapter is Up'
}
foreach ($name in $names) { Test-Adapter -Name $name }

$peer = Test-TimeSource
if ($TimeSource) { $peer = $TimeSource }
Test-TimeOffset -Reference $peer

foreach ($result in $Results) {
    Write-Output ('{0,-8} {1,-40} {2}' -f $result.Status, $result.Id, $result.Why)
}
$failed = @($Results | Where-Object { $_.Status -eq 'FAIL' }).Count
$unknown = @($Results | Where-Object { $_.Status -eq 'UNKNOWN' }).Count
Write-Output ('{0} check(s): {1} pass, {2} fail, {3} unknown' -f $Results.Count, ($Results.Count - $failed - $unknown), $failed, $unknown)
if ($failed -gt 0) { exit 1 }
if ($unknown -gt 0) { exit 2 }
exit 0
