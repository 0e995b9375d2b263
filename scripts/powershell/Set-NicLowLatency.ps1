#Requires -Version 5.1
#Requires -RunAsAdministrator
#Requires -Modules NetAdapter
<#
.SYNOPSIS
    Tunes one network adapter for low latency (RSS placement, interrupt moderation off, buffers,
    flow control) and undoes it.

.DESCRIPTION
    For the adapter named by -AdapterName:

      - RSS (Set-NetAdapterRss): enabled, on the processors BaseProcessorNumber ..
        MaxProcessorNumber, at most MaxProcessors of them, with the given profile. The default
        profile ClosestStatic spreads queues without dynamic load balancing, so RSS processors do
        not move at run time. Keep these processors off the trading thread's core but on the
        same socket: Microsoft's low-latency guidance is to handle the NIC's interrupts and DPCs
        on a core that shares cache with the core of the thread handling the packet, and not on
        that same core. -TradingProcessor makes the script refuse an RSS range that includes it.
      - *InterruptModeration 0 (Disabled): every packet raises its interrupt at once instead of
        waiting to be batched; more CPU, less latency ("Performance tuning network adapters").
      - *ReceiveBuffers and *TransmitBuffers: raised to the driver's maximum unless a value is
        given, because a small receive ring drops packets in a burst.
      - *FlowControl: Disabled by default (0); Microsoft's values are 0 disabled, 1 Tx, 2 Rx,
        3 Rx and Tx. A pause frame from the switch stops transmission for its duration; a desk
        that wants to see loss as a sequence gap rather than as a stall turns it off, on both
        ends of the link.

    Only keywords the driver exposes are changed (Get-NetAdapterAdvancedProperty -AllProperties),
    and only to values it lists as valid; anything else is reported and left alone. Before any
    change the adapter's current advanced properties and RSS settings are written to a JSON state
    file; -Restore FILE puts them back. Changing advanced properties restarts the adapter (the
    link drops for a few seconds); the script restarts it once at the end unless -NoRestart.

.PARAMETER AdapterName
    The adapter's name as Get-NetAdapter shows it (for example "Trading1").

.PARAMETER BaseProcessorNumber
    The first logical processor RSS may use (Set-NetAdapterRss -BaseProcessorNumber).

.PARAMETER MaxProcessorNumber
    The last logical processor RSS may use; default BaseProcessorNumber + MaxProcessors - 1.

.PARAMETER MaxProcessors
    How many processors RSS uses at once (Set-NetAdapterRss -MaxProcessors). Default 2.

.PARAMETER RssProfile
    Closest, ClosestStatic (default), NUMA, NUMAStatic or Conservative (Set-NetAdapterRss -Profile).

.PARAMETER TradingProcessor
    The logical processor the trading thread is pinned to; the script refuses an RSS range that
    contains it. -1 (default): not checked.

.PARAMETER ReceiveBuffers
    Value for *ReceiveBuffers; 0 (default) means the driver's maximum.

.PARAMETER TransmitBuffers
    Value for *TransmitBuffers; 0 (default) means the driver's maximum.

.PARAMETER FlowControl
    Disabled (default), TxEnabled, RxEnabled or RxTxEnabled, written as *FlowControl 0..3.

.PARAMETER NoRestart
    Does not restart the adapter at the end: the new settings take effect at its next restart.
    (-Restore always restarts it once.)

.PARAMETER StateFile
    Where the adapter's previous settings are saved. Default: hftinfra\nic-NAME-before.json
    under $env:ProgramData.

.PARAMETER Restore
    A state file written by an earlier run: puts back every advanced property whose value
    differs from the saved one and the saved RSS settings, then renames the file to *.restored.

.EXAMPLE
    .\Set-NicLowLatency.ps1 -AdapterName Trading1 -BaseProcessorNumber 2 -TradingProcessor 6 -WhatIf

.EXAMPLE
    .\Set-NicLowLatency.ps1 -AdapterName Trading1 -BaseProcessorNumber 2 -MaxProcessors 2 -TradingProcessor 6

.EXAMPLE
    .\Set-NicLowLatency.ps1 -Restore C:\ProgramData\hftinfra\nic-Trading1-before.json

.NOTES
    Set-NetAdapterRss, Get-/Set-NetAdapterAdvancedProperty (NetAdapter module reference);
    "Standardized INF keywords for RSS", "Enumeration keywords" (*FlowControl) and "Standardized
    INF keywords for interrupt moderation" (Windows driver documentation); "Performance tuning
    network adapters", section "Performance tuning for low-latency packet processing".
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'Apply')]
param(
    [Parameter(ParameterSetName = 'Apply', Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string]$AdapterName,

    [Parameter(ParameterSetName = 'Apply', Mandatory)]
    [ValidateRange(0, 255)]
    [int]$BaseProcessorNumber,

    [Parameter(ParameterSetName = 'Apply')]
    [ValidateRange(-1, 255)]
    [int]$MaxProcessorNumber = -1,

    [Parameter(ParameterSetName = 'Apply')]
    [ValidateRange(1, 64)]
    [int]$MaxProcessors = 2,

    [Parameter(ParameterSetName = 'Apply')]
    [ValidateSet('Closest', 'ClosestStatic', 'NUMA', 'NUMAStatic', 'Conservative')]
    [string]$RssProfile = 'ClosestStatic',

    [Parameter(ParameterSetName = 'Apply')]
    [ValidateRange(-1, 1023)]
    [int]$TradingProcessor = -1,

    [Parameter(ParameterSetName = 'Apply')]
    [ValidateRange(0, 65535)]
    [int]$ReceiveBuffers = 0,

    [Parameter(ParameterSetName = 'Apply')]
    [ValidateRange(0, 65535)]
    [int]$TransmitBuffers = 0,

    [Parameter(ParameterSetName = 'Apply')]
    [ValidateSet('Disabled', 'TxEnabled', 'RxEnabled', 'RxTxEnabled')]
    [string]$FlowControl = 'Disabled',

    [Parameter(ParameterSetName = 'Apply')]
    [switch]$NoRestart,

    [Parameter(ParameterSetName = 'Apply')]
    [string]$StateFile = '',

    [Parameter(ParameterSetName = 'Restore', Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string]$Restore
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# *FlowControl values from "Enumeration keywords" (NDIS): 0 Tx and Rx disabled, 1 Tx enabled,
# 2 Rx enabled, 3 Rx and Tx enabled.
$FlowControlValues = @{ Disabled = '0'; TxEnabled = '1'; RxEnabled = '2'; RxTxEnabled = '3' }

function Get-AdvancedProperty {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string]$Name,
        [Parameter(Mandatory)] [string]$Keyword
    )
    # -RegistryKeyword takes wildcards and every standardized keyword starts with '*', so
    # '*InterruptModeration' would also match a vendor's 'InterruptModeration'; filter exactly.
    return Get-NetAdapterAdvancedProperty -Name $Name -AllProperties |
        Where-Object { $_.RegistryKeyword -eq $Keyword } | Select-Object -First 1
}

function Test-AllowedValue {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] $Property,
        [Parameter(Mandatory)] [string]$Value
    )
    if ($Property.ValidRegistryValues) {
        return @($Property.ValidRegistryValues) -contains $Value
    }
    if ($null -ne $Property.NumericParameterMaxValue) {
        $number = [int64]$Value
        return ($number -ge $Property.NumericParameterMinValue) -and ($number -le $Property.NumericParameterMaxValue)
    }
    return $true
}

function Set-AdvancedValue {
    [CmdletBinding(SupportsShouldProcess)]
    param(
        [Parameter(Mandatory)] [string]$Name,
        [Parameter(Mandatory)] [string]$Keyword,
        [Parameter(Mandatory)] [string]$Value
    )
    $property = Get-AdvancedProperty -Name $Name -Keyword $Keyword
    if ($null -eq $property) {
        Write-Warning "$Name has no $Keyword keyword: the driver does not expose it; left alone"
        return
    }
    $before = @($property.RegistryValue) -join ','
    if ($before -eq $Value) {
        Write-Output "$Keyword already $Value"
        return
    }
    if (-not (Test-AllowedValue -Property $property -Value $Value)) {
        Write-Warning "$Keyword = $Value is not a value the driver lists as valid; left at $before"
        return
    }
    if ($PSCmdlet.ShouldProcess("adapter $Name", "set $Keyword from $before to $Value")) {
        # The exact property object is piped in, not the keyword, for the wildcard reason above;
        # -NoRestart here, and one restart at the end for every property at once.
        $property | Set-NetAdapterAdvancedProperty -RegistryValue $Value -NoRestart
    }
}

function Get-BufferTarget {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string]$Name,
        [Parameter(Mandatory)] [string]$Keyword,
        [Parameter(Mandatory)] [int]$Requested
    )
    if ($Requested -gt 0) { return [string]$Requested }
    $property = Get-AdvancedProperty -Name $Name -Keyword $Keyword
    if ($null -eq $property -or $null -eq $property.NumericParameterMaxValue) { return $null }
    return [string]$property.NumericParameterMaxValue
}

function Restore-NicSetting {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(Mandatory)] [string]$Path)
    if (-not (Test-Path -LiteralPath $Path)) { throw "no state file at $Path" }
    $state = Get-Content -LiteralPath $Path -Raw | ConvertFrom-Json
    foreach ($field in 'adapter', 'advanced', 'rss') {
        if ($state.PSObject.Properties.Name -notcontains $field) {
            throw "$Path is not a state file of this script (no $field)"
        }
    }
    $current = @{}
    foreach ($property in Get-NetAdapterAdvancedProperty -Name $state.adapter -AllProperties) {
        $current[$property.RegistryKeyword] = @($property.RegistryValue) -join ','
    }
    foreach ($saved in @($state.advanced)) {
        $value = @($saved.value) -join ','
        if ($current.ContainsKey($saved.keyword) -and $current[$saved.keyword] -ne $value) {
            if ($PSCmdlet.ShouldProcess("adapter $($state.adapter)", "set $($saved.keyword) back to $value")) {
                Set-NetAdapterAdvancedProperty -Name $state.adapter -RegistryKeyword $saved.keyword `
                    -RegistryValue ([string[]]@($saved.value)) -NoRestart
            }
        }
    }
    $rss = $state.rss
    if ($PSCmdlet.ShouldProcess("adapter $($state.adapter)", 'put the saved RSS settings back and restart it')) {
        Set-NetAdapterRss -Name $state.adapter -Enabled ([bool]$rss.enabled) -Profile $rss.profile `
            -BaseProcessorNumber ([byte]$rss.baseProcessorNumber) -MaxProcessorNumber ([byte]$rss.maxProcessorNumber) `
            -MaxProcessors ([uint32]$rss.maxProcessors) -NoRestart
        Restart-NetAdapter -Name $state.adapter
    }
    $done = "$Path.restored-" + (Get-Date -Format 'yyyyMMddHHmmss')
    if ($PSCmdlet.ShouldProcess($Path, "rename to $done")) {
        Rename-Item -LiteralPath $Path -NewName (Split-Path -Leaf $done)
    }
}

if ($PSCmdlet.ParameterSetName -eq 'Restore') {
    Restore-NicSetting -Path $Restore
    return
}

if (-not $StateFile) {
    $StateFile = Join-Path $env:ProgramData ('hftinfra\nic-{0}-before.json' -f $AdapterName)
}
if ($MaxProcessorNumber -lt 0) {
    $MaxProcessorNumber = $BaseProcessorNumber + $MaxProcessors - 1
}
if ($MaxProcessorNumber -lt $BaseProcessorNumber) {
    throw "MaxProcessorNumber $MaxProcessorNumber is below BaseProcessorNumber $BaseProcessorNumber"
}
if ($TradingProcessor -ge 0 -and $TradingProcessor -ge $BaseProcessorNumber -and $TradingProcessor -le $MaxProcessorNumber) {
    $message = 'RSS range {0}..{1} contains the trading processor {2}: its interrupts and DPCs would preempt the trading thread; choose a range beside it on the same socket'
    throw ($message -f $BaseProcessorNumber, $MaxProcessorNumber, $TradingProcessor)
}
if (Test-Path -LiteralPath $StateFile) {
    throw "$StateFile exists: restore it first (-Restore $StateFile) or name another -StateFile"
}

$adapter = Get-NetAdapter -Name $AdapterName
$rssBefore = Get-NetAdapterRss -Name $AdapterName
$advancedBefore = Get-NetAdapterAdvancedProperty -Name $AdapterName -AllProperties

$state = [pscustomobject]@{
    schema   = 1
    savedAt  = (Get-Date).ToString('o')
    computer = $env:COMPUTERNAME
    adapter  = $adapter.Name
    driver   = ('{0} {1}' -f $adapter.InterfaceDescription, $adapter.DriverVersion)
    rss      = [pscustomobject]@{
        enabled             = [bool]$rssBefore.Enabled
        profile             = [string]$rssBefore.Profile
        baseProcessorNumber = [int]$rssBefore.BaseProcessorNumber
        maxProcessorNumber  = [int]$rssBefore.MaxProcessorNumber
        maxProcessors       = [int]$rssBefore.MaxProcessors
    }
    advanced = @($advancedBefore | ForEach-Object {
            [pscustomobject]@{ keyword = $_.RegistryKeyword; value = @($_.RegistryValue); display = $_.DisplayValue }
        })
}
if ($PSCmdlet.ShouldProcess($StateFile, 'save the adapter settings before the change')) {
    $folder = Split-Path -Parent $StateFile
    if ($folder -and -not (Test-Path -LiteralPath $folder)) {
        New-Item -ItemType Directory -Path $folder -Force | Out-Null
    }
    $state | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $StateFile -Encoding UTF8
    Write-Output "saved: $StateFile (undo with -Restore $StateFile)"
}

Write-Output ("RSS on {0}: enabled {1}, profile {2}, processors {3}..{4} (max {5}) -> {6}, {7}..{8} (max {9})" -f
    $AdapterName, $rssBefore.Enabled, $rssBefore.Profile, $rssBefore.BaseProcessorNumber,
    $rssBefore.MaxProcessorNumber, $rssBefore.MaxProcessors, $RssProfile, $BaseProcessorNumber,
    $MaxProcessorNumber, $MaxProcessors)
if ($PSCmdlet.ShouldProcess("adapter $AdapterName", 'set RSS processors and profile')) {
    Set-NetAdapterRss -Name $AdapterName -Enabled $true -Profile $RssProfile `
        -BaseProcessorNumber ([byte]$BaseProcessorNumber) -MaxProcessorNumber ([byte]$MaxProcessorNumber) `
        -MaxProcessors ([uint32]$MaxProcessors) -NoRestart
}

Set-AdvancedValue -Name $AdapterName -Keyword '*InterruptModeration' -Value '0'
Set-AdvancedValue -Name $AdapterName -Keyword '*FlowControl' -Value $FlowControlValues[$FlowControl]
foreach ($pair in @(@('*ReceiveBuffers', $ReceiveBuffers), @('*TransmitBuffers', $TransmitBuffers))) {
    $target = Get-BufferTarget -Name $AdapterName -Keyword $pair[0] -Requested $pair[1]
    if ($null -eq $target) {
        Write-Warning "$($pair[0]): the driver exposes no such numeric keyword; left alone"
        continue
    }
    Set-AdvancedValue -Name $AdapterName -Keyword $pair[0] -Value $target
}

if (-not $NoRestart) {
    if ($PSCmdlet.ShouldProcess("adapter $AdapterName", 'restart it so the new settings take effect (the link drops)')) {
        Restart-NetAdapter -Name $AdapterName
    }
}
else {
    Write-Output "not restarted (-NoRestart): the settings take effect at the adapter's next restart"
}
