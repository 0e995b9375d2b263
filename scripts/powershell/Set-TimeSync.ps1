#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Configures the Windows Time service for high accuracy from NTP servers, or as a PTP client,
    then resynchronizes and shows the status; and undoes it.

.DESCRIPTION
    -Mode Ntp (default) follows Microsoft's "Configuring systems for high accuracy":

      - the W32Time service starts automatically and runs continuously;
      - a manual peer list (w32tm /config /manualpeerlist /syncfromflags:manual /update), each
        peer with flags 0x9 = 0x1 SpecialInterval + 0x8 Client mode (Windows Time service tools
        and settings, NtpServer);
      - the registry values the article gives: Config\MinPollInterval 6 and MaxPollInterval 6
        (polls every 2^6 = 64 s), Config\UpdateInterval 100 (clock ticks between phase
        corrections), Config\FrequencyCorrectRate 2, TimeProviders\NtpClient\SpecialPollInterval
        64 (seconds, used because of the 0x1 flag).

    Microsoft supports 1 ms accuracy to UTC with this configuration only inside its support
    boundary (Windows 10 1607 / Server 2016 or later throughout the hierarchy, under 0.1 ms of
    network latency to the source, stratum 5 or better, at most 4 network hops, average CPU below
    80%). A trading server that must be better than that needs PTP or a vendor's client.

    -Mode Ptp enables the PTP time provider of Windows 10 1809 / Server 2019 and later
    (HKLM:\SYSTEM\CurrentControlSet\Services\W32Time\TimeProviders\PtpClient) with the values of
    Microsoft's configuration helper (github.com/microsoft/W32Time, Precision Time Protocol,
    Windows Configuration Helpers): PtpMasters (space-separated unicast masters), Enabled 1,
    InputProvider 1, DelayPollInterval 0x3e80, AnnounceInterval 0x0fa0, EnableMulticastRx 0,
    UseE2ECorrection 1; it disables the other input providers (NtpClient, and VMICTimeProvider
    on a Hyper-V guest), and opens UDP 319 (event) and 320 (general) in the firewall.

    Every registry value, the service start type and the firewall rules are recorded in a JSON
    state file before the first change; -Restore FILE writes the saved values back (deleting those
    that did not exist), removes the firewall rules this script added, and restarts the service.
    Then w32tm /resync and w32tm /query /status. -WhatIf shows every change without making it.

.PARAMETER Mode
    Ntp (high-accuracy NTP client) or Ptp (PTP client, Windows Server 2019 / Windows 10 1809 or later).

.PARAMETER NtpServer
    The NTP servers to use with -Mode Ntp (names or addresses), in order of preference.

.PARAMETER PtpMaster
    The PTP masters (unicast addresses) to use with -Mode Ptp.

.PARAMETER StateFile
    Where the previous values are saved. Default: hftinfra\time-sync-before.json under $env:ProgramData.

.PARAMETER Restore
    A state file written by an earlier run: puts the saved values back and renames the file to *.restored.

.EXAMPLE
    .\Set-TimeSync.ps1 -NtpServer ntp1.example.net, ntp2.example.net -WhatIf

.EXAMPLE
    .\Set-TimeSync.ps1 -Mode Ptp -PtpMaster 10.20.0.5, 10.20.0.6

.EXAMPLE
    .\Set-TimeSync.ps1 -Restore C:\ProgramData\hftinfra\time-sync-before.json

.NOTES
    "Configuring systems for high accuracy", "Support boundary for high-accuracy time", "Windows
    Time service tools and settings" (w32tm, registry reference), learn.microsoft.com; the PTP
    client's values are those of Microsoft's PTPClientConfig and PTPFirewall helpers.
    w32tm /resync steps or slews the clock: run it outside trading hours.
#>
[CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'Ntp')]
param(
    [Parameter(ParameterSetName = 'Ntp')]
    [Parameter(ParameterSetName = 'Ptp', Mandatory)]
    [ValidateSet('Ntp', 'Ptp')]
    [string]$Mode = 'Ntp',

    [Parameter(ParameterSetName = 'Ntp', Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string[]]$NtpServer,

    [Parameter(ParameterSetName = 'Ptp', Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string[]]$PtpMaster,

    [Parameter(ParameterSetName = 'Ntp')]
    [Parameter(ParameterSetName = 'Ptp')]
    [ValidateNotNullOrEmpty()]
    [string]$StateFile = (Join-Path $env:ProgramData 'hftinfra\time-sync-before.json'),

    [Parameter(ParameterSetName = 'Restore', Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string]$Restore
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$W32TimeKey = 'HKLM:\SYSTEM\CurrentControlSet\Services\W32Time'
$ConfigKey = "$W32TimeKey\Config"
$ParametersKey = "$W32TimeKey\Parameters"
$NtpClientKey = "$W32TimeKey\TimeProviders\NtpClient"
$PtpClientKey = "$W32TimeKey\TimeProviders\PtpClient"
$VmicKey = "$W32TimeKey\TimeProviders\VMICTimeProvider"
$FirewallRules = @(
    @{ Name = 'hftinfra-PTP-Event-In'; Port = 319; Direction = 'Inbound' }
    @{ Name = 'hftinfra-PTP-General-In'; Port = 320; Direction = 'Inbound' }
    @{ Name = 'hftinfra-PTP-Event-Out'; Port = 319; Direction = 'Outbound' }
    @{ Name = 'hftinfra-PTP-General-Out'; Port = 320; Direction = 'Outbound' }
)

# Registry values each mode writes: key, name, type, value. Parameters\NtpServer and Type are
# what w32tm /config /manualpeerlist /syncfromflags writes; they are saved so -Restore can undo it.
$NtpValues = @(
    @{ Key = $ConfigKey; Name = 'MinPollInterval'; Type = 'DWord'; Value = 6 }
    @{ Key = $ConfigKey; Name = 'MaxPollInterval'; Type = 'DWord'; Value = 6 }
    @{ Key = $ConfigKey; Name = 'UpdateInterval'; Type = 'DWord'; Value = 100 }
    @{ Key = $ConfigKey; Name = 'FrequencyCorrectRate'; Type = 'DWord'; Value = 2 }
    @{ Key = $NtpClientKey; Name = 'SpecialPollInterval'; Type = 'DWord'; Value = 64 }
    # Enabled 1 is the NTP client's default; -Mode Ptp sets it to 0, so -Mode Ntp sets it back.
    @{ Key = $NtpClientKey; Name = 'Enabled'; Type = 'DWord'; Value = 1 }
)
$PtpValues = @(
    @{ Key = $PtpClientKey; Name = 'Enabled'; Type = 'DWord'; Value = 1 }
    @{ Key = $PtpClientKey; Name = 'InputProvider'; Type = 'DWord'; Value = 1 }
    @{ Key = $PtpClientKey; Name = 'DelayPollInterval'; Type = 'DWord'; Value = 0x3e80 }
    @{ Key = $PtpClientKey; Name = 'AnnounceInterval'; Type = 'DWord'; Value = 0x0fa0 }
    @{ Key = $PtpClientKey; Name = 'EnableMulticastRx'; Type = 'DWord'; Value = 0 }
    @{ Key = $PtpClientKey; Name = 'UseE2ECorrection'; Type = 'DWord'; Value = 1 }
    @{ Key = $NtpClientKey; Name = 'Enabled'; Type = 'DWord'; Value = 0 }
)

function Get-RegistryValue {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string]$Key,
        [Parameter(Mandatory)] [string]$Name
    )
    $item = Get-ItemProperty -LiteralPath $Key -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $item) { return [pscustomobject]@{ key = $Key; name = $Name; exists = $false; value = $null } }
    return [pscustomobject]@{ key = $Key; name = $Name; exists = $true; value = $item.$Name }
}

function Set-RegistryValue {
    [CmdletBinding(SupportsShouldProcess)]
    param(
        [Parameter(Mandatory)] [string]$Key,
        [Parameter(Mandatory)] [string]$Name,
        [Parameter(Mandatory)] [string]$Type,
        [Parameter(Mandatory)] $Value
    )
    $before = Get-RegistryValue -Key $Key -Name $Name
    $shown = if ($before.exists) { "$($before.value)" } else { 'absent' }
    if ($PSCmdlet.ShouldProcess("$Key\$Name", "set to $Value ($Type), now $shown")) {
        if (-not (Test-Path -LiteralPath $Key)) {
            New-Item -Path $Key -Force | Out-Null
        }
        Set-ItemProperty -LiteralPath $Key -Name $Name -Value $Value -Type $Type
    }
}

function Set-W32TimeService {
    [CmdletBinding(SupportsShouldProcess)]
    param()
    # "Configuring systems for high accuracy": the service must run continuously (Automatic).
    if ($PSCmdlet.ShouldProcess('service W32Time', 'set start type Automatic and restart it')) {
        Set-Service -Name W32Time -StartupType Automatic
        Restart-Service -Name W32Time -Force
    }
}

function Sync-TimeNow {
    [CmdletBinding(SupportsShouldProcess)]
    param()
    if ($PSCmdlet.ShouldProcess('system clock', 'w32tm /resync (may step or slew the clock)')) {
        w32tm.exe /resync
        if ($LASTEXITCODE -ne 0) { Write-Warning "w32tm /resync failed (exit code $LASTEXITCODE): the source may not have answered yet" }
    }
    # Read-only, and useful under -WhatIf too: the source, stratum, last sync and poll interval.
    w32tm.exe /query /status
}

function Restore-TimeSync {
    [CmdletBinding(SupportsShouldProcess)]
    param([Parameter(Mandatory)] [string]$Path)
    if (-not (Test-Path -LiteralPath $Path)) { throw "no state file at $Path" }
    $state = Get-Content -LiteralPath $Path -Raw | ConvertFrom-Json
    foreach ($field in 'values', 'startType', 'firewallRules') {
        if ($state.PSObject.Properties.Name -notcontains $field) {
            throw "$Path is not a state file of this script (no $field)"
        }
    }
    foreach ($saved in @($state.values)) {
        if ($saved.exists) {
            if ($PSCmdlet.ShouldProcess("$($saved.key)\$($saved.name)", "set back to $($saved.value)")) {
                Set-ItemProperty -LiteralPath $saved.key -Name $saved.name -Value $saved.value
            }
        }
        elseif ($null -ne (Get-ItemProperty -LiteralPath $saved.key -Name $saved.name -ErrorAction SilentlyContinue)) {
            if ($PSCmdlet.ShouldProcess("$($saved.key)\$($saved.name)", 'remove (it did not exist before)')) {
                Remove-ItemProperty -LiteralPath $saved.key -Name $saved.name
            }
        }
    }
    foreach ($rule in @($state.firewallRules)) {
        if ($PSCmdlet.ShouldProcess("firewall rule $rule", 'remove')) {
            Remove-NetFirewallRule -Name $rule -ErrorAction SilentlyContinue
        }
    }
    if ($PSCmdlet.ShouldProcess('service W32Time', "set start type $($state.startType), pick up the values, restart")) {
        Set-Service -Name W32Time -StartupType $state.startType
        Restart-Service -Name W32Time -Force
        w32tm.exe /config /update
    }
    $done = "$Path.restored-" + (Get-Date -Format 'yyyyMMddHHmmss')
    if ($PSCmdlet.ShouldProcess($Path, "rename to $done")) {
        Rename-Item -LiteralPath $Path -NewName (Split-Path -Leaf $done)
    }
}

if ($PSCmdlet.ParameterSetName -eq 'Restore') {
    Restore-TimeSync -Path $Restore
    Sync-TimeNow
    return
}

if ($Mode -ne $PSCmdlet.ParameterSetName) {
    throw "-Mode $Mode does not fit the servers given: -Mode Ntp takes -NtpServer, -Mode Ptp takes -PtpMaster"
}
if (Test-Path -LiteralPath $StateFile) {
    throw "$StateFile exists: restore it first (-Restore $StateFile) or name another -StateFile"
}

if ($Mode -eq 'Ptp') {
    # The provider ships with Windows Server 2019 / Windows 10 1809 (build 17763) and later.
    $build = [Environment]::OSVersion.Version.Build
    if ($build -lt 17763) { throw "Windows build $build has no PTP time provider (needs 17763 or later)" }
    $values = @($PtpValues) + @(@{ Key = $PtpClientKey; Name = 'PtpMasters'; Type = 'String'; Value = ($PtpMaster -join ' ') })
    if (-not (Get-RegistryValue -Key $PtpClientKey -Name 'DllName').exists) {
        $values += @{ Key = $PtpClientKey; Name = 'DllName'; Type = 'String'; Value = (Join-Path $env:SystemRoot 'System32\ptpprov.dll') }
    }
    if (Test-Path -LiteralPath $VmicKey) {
        # On a Hyper-V guest the host's time provider would compete with PTP as an input.
        $values += @{ Key = $VmicKey; Name = 'Enabled'; Type = 'DWord'; Value = 0 }
    }
}
else {
    $values = @($NtpValues)
}
$recorded = @($values | ForEach-Object { Get-RegistryValue -Key $_.Key -Name $_.Name })
$recorded += Get-RegistryValue -Key $ParametersKey -Name 'NtpServer'
$recorded += Get-RegistryValue -Key $ParametersKey -Name 'Type'

$addedRules = @()
if ($Mode -eq 'Ptp') {
    $addedRules = @($FirewallRules | Where-Object { $null -eq (Get-NetFirewallRule -Name $_.Name -ErrorAction SilentlyContinue) } |
            ForEach-Object { $_.Name })
}
$state = [pscustomobject]@{
    schema        = 1
    savedAt       = (Get-Date).ToString('o')
    computer      = $env:COMPUTERNAME
    mode          = $Mode
    startType     = [string](Get-Service -Name W32Time).StartType
    values        = $recorded
    firewallRules = $addedRules
}
if ($PSCmdlet.ShouldProcess($StateFile, 'save the time service settings before the change')) {
    $folder = Split-Path -Parent $StateFile
    if ($folder -and -not (Test-Path -LiteralPath $folder)) {
        New-Item -ItemType Directory -Path $folder -Force | Out-Null
    }
    $state | ConvertTo-Json -Depth 4 | Set-Content -LiteralPath $StateFile -Encoding UTF8
    Write-Output "saved: $StateFile (undo with -Restore $StateFile)"
}

if ($Mode -eq 'Ntp') {
    $peerList = ($NtpServer | ForEach-Object { "$_,0x9" }) -join ' '
    if ($PSCmdlet.ShouldProcess('W32Time', "manual peer list '$peerList'")) {
        w32tm.exe /config "/manualpeerlist:$peerList" /syncfromflags:manual /update
        if ($LASTEXITCODE -ne 0) { throw "w32tm /config failed (exit code $LASTEXITCODE)" }
    }
}
foreach ($value in $values) {
    Set-RegistryValue -Key $value.Key -Name $value.Name -Type $value.Type -Value $value.Value
}
foreach ($rule in $FirewallRules) {
    if ($addedRules -contains $rule.Name) {
        if ($PSCmdlet.ShouldProcess("firewall rule $($rule.Name)", "allow UDP $($rule.Port) $($rule.Direction)")) {
            New-NetFirewallRule -Name $rule.Name -DisplayName $rule.Name -Protocol UDP -LocalPort $rule.Port `
                -Direction $rule.Direction -Action Allow | Out-Null
        }
    }
}
# The service reads the values at start; w32tm /config /update alone does not pick up
# SpecialPollInterval ("Configuring systems for high accuracy" restarts the service for it).
Set-W32TimeService
if ($PSCmdlet.ShouldProcess('W32Time', 'w32tm /config /update')) {
    w32tm.exe /config /update
    if ($LASTEXITCODE -ne 0) { throw "w32tm /config /update failed (exit code $LASTEXITCODE)" }
}
Sync-TimeNow
