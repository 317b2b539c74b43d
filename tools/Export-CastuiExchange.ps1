<#
.SYNOPSIS
    Writes what Exchange says about its Client Access arrays to a castui-exchange/1 JSON file,
    for `castui audit` and the castui console.

.DESCRIPTION
    Read-only: it runs only Get-* cmdlets (Get-ExchangeServer, Get-ClientAccessArray,
    Get-MailboxDatabase, Get-ClientAccessServer or Get-ClientAccessService, Get-OutlookAnywhere,
    the Get-*VirtualDirectory cmdlets and Get-ExchangeCertificate) and changes nothing in
    Exchange or Active Directory. The only thing it writes is the file named by -Path.

    Run it in the Exchange Management Shell of Exchange 2010 SP3 or later (Windows PowerShell
    2.0 is enough: the JSON is written by this script, not by ConvertTo-Json). In a mixed
    estate run it from the newest version's shell: it asks for pre-2013 databases explicitly.

    The file holds flat strings only (format castui-exchange/1, documented in castui's
    docs/audit.md): servers, arrays, databases, virtual_directories, outlook_anywhere,
    certificates. A server that cannot be asked for its certificates is named in a warning
    and in the file's "errors" list; the audit then reports its certificates as missing.

.PARAMETER Path
    Where to write the JSON file (UTF-8 without BOM). An existing file is replaced.

.EXAMPLE
    .\Export-CastuiExchange.ps1 -Path C:\Temp\estate-export.json
    Then, on the castui host: castui audit --config estate.toml --exchange estate-export.json
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [string]$Path
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

# --- JSON, written by hand so Windows PowerShell 2.0 (Exchange 2010's shell) can run this ----

function ConvertTo-CastuiJsonString {
    param([AllowNull()][object]$Value)
    if ($null -eq $Value) { return 'null' }
    $builder = New-Object System.Text.StringBuilder
    [void]$builder.Append('"')
    foreach ($ch in ([string]$Value).ToCharArray()) {
        $code = [int]$ch
        if ($ch -ceq '"') { [void]$builder.Append('\"') }
        elseif ($ch -ceq '\') { [void]$builder.Append('\\') }
        elseif ($code -lt 0x20 -or $code -eq 0x7f) { [void]$builder.AppendFormat('\u{0:x4}', $code) }
        else { [void]$builder.Append($ch) }
    }
    [void]$builder.Append('"')
    return $builder.ToString()
}

function ConvertTo-CastuiJson {
    param([AllowNull()][object]$Value, [string]$Indent = '')
    if ($null -eq $Value) { return 'null' }
    $inner = $Indent + '  '
    if ($Value -is [System.Collections.IDictionary]) {
        $parts = @()
        foreach ($key in $Value.Keys) {
            $parts += $inner + (ConvertTo-CastuiJsonString $key) + ': ' +
                (ConvertTo-CastuiJson $Value[$key] $inner)
        }
        if ($parts.Count -eq 0) { return '{}' }
        return "{`n" + ($parts -join ",`n") + "`n$Indent}"
    }
    if ($Value -is [System.Collections.IEnumerable] -and $Value -isnot [string]) {
        $parts = @()
        foreach ($item in $Value) { $parts += $inner + (ConvertTo-CastuiJson $item $inner) }
        if ($parts.Count -eq 0) { return '[]' }
        return "[`n" + ($parts -join ",`n") + "`n$Indent]"
    }
    return ConvertTo-CastuiJsonString $Value
}

function New-CastuiRow {
    # New-CastuiRow name value name value ...: an ordered object, keys as given.
    $row = New-Object System.Collections.Specialized.OrderedDictionary
    for ($i = 0; $i -lt $args.Count; $i += 2) { $row.Add($args[$i], $args[$i + 1]) }
    return , $row
}

# --- reading Exchange's objects as flat strings -------------------------------------------------

function Get-CastuiProperty {
    # A property that one Exchange version has and another lacks: $null when absent.
    param([object]$Object, [string]$Name)
    if ($null -eq $Object) { return $null }
    $property = $Object.PSObject.Properties[$Name]
    if ($null -eq $property) { return $null }
    return $property.Value
}

function Get-CastuiName {
    # The name of an ADObjectId (Site, Server, Members...); a remote shell may hand it over as
    # its canonical text, corp.local/Configuration/Sites/Site-A, whose last part is the name.
    param([AllowNull()][object]$Id)
    if ($null -eq $Id) { return $null }
    $name = Get-CastuiProperty $Id 'Name'
    if ($null -ne $name) { return [string]$name }
    return ([string]$Id -split '/')[-1]
}

function Get-CastuiText {
    # A URL, host name or other value as a string; $null when unset or blank.
    param([AllowNull()][object]$Value)
    if ($null -eq $Value) { return $null }
    $text = ([string]$Value).Trim()
    if ($text -eq '') { return $null }
    return $text
}

function Get-CastuiList {
    # Names as an array of strings, always an array (even for one or none).
    param([AllowNull()][object]$Values)
    $out = New-Object System.Collections.ArrayList
    if ($null -ne $Values) {
        foreach ($value in @($Values)) {
            $text = Get-CastuiText (Get-CastuiName $value)
            if ($null -ne $text) { [void]$out.Add($text) }
        }
    }
    return , $out.ToArray()
}

function Get-CastuiTime {
    param([AllowNull()][object]$When)
    if ($null -eq $When) { return $null }
    # Invariant culture: elsewhere ':' may print as the culture's own time separator.
    return ([DateTime]$When).ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'",
        [System.Globalization.CultureInfo]::InvariantCulture)
}

function Test-CastuiCommand {
    param([string]$Name)
    return $null -ne (Get-Command $Name -ErrorAction SilentlyContinue)
}

function Get-CastuiVirtualDirectories {
    # One cmdlet's virtual directories, from AD only where the cmdlet can (no IIS round trips).
    param([string]$Cmdlet)
    if (-not (Test-CastuiCommand $Cmdlet)) { return @() }
    $parameters = (Get-Command $Cmdlet).Parameters
    if ($parameters.ContainsKey('ADPropertiesOnly')) { return @(& $Cmdlet -ADPropertiesOnly) }
    return @(& $Cmdlet)
}

# --- the export ---------------------------------------------------------------------------------

$errors = New-Object System.Collections.ArrayList
$siteOf = @{}
$servers = New-Object System.Collections.ArrayList
$clientAccess = New-Object System.Collections.ArrayList
foreach ($server in @(Get-ExchangeServer)) {
    $site = Get-CastuiName (Get-CastuiProperty $server 'Site')
    if ($null -eq $site) { continue }  # an Edge Transport server belongs to no AD site
    $name = [string]$server.Name
    $siteOf[$name.ToLowerInvariant()] = $site
    $roles = Get-CastuiList (([string]$server.ServerRole) -split ',')
    # AdminDisplayVersion reads "Version 14.3 (Build 123.4)" (a string in a remote shell).
    $version = ([string]$server.AdminDisplayVersion) -replace '^Version ', ''
    $major = 0
    if ($version -match '^(\d+)\.') { $major = [int]$matches[1] }
    [void]$servers.Add((New-CastuiRow name $name fqdn (Get-CastuiText $server.Fqdn) site $site `
        version $version roles $roles))
    if ((Get-CastuiProperty $server 'IsClientAccessServer') -or
        ($major -ge 15 -and $roles -contains 'Mailbox')) {
        [void]$clientAccess.Add($name)
    }
}

$arrays = New-Object System.Collections.ArrayList
if (Test-CastuiCommand 'Get-ClientAccessArray') {
    foreach ($array in @(Get-ClientAccessArray)) {
        [void]$arrays.Add((New-CastuiRow name ([string]$array.Name) `
            fqdn (Get-CastuiText $array.Fqdn) site (Get-CastuiName $array.Site) `
            members (Get-CastuiList $array.Members)))
    }
}

$databases = New-Object System.Collections.ArrayList
$dbParameters = (Get-Command Get-MailboxDatabase).Parameters
if ($dbParameters.ContainsKey('IncludePreExchange2013')) {
    $allDatabases = @(Get-MailboxDatabase -IncludePreExchange2013)  # else 2010's are left out
} else {
    $allDatabases = @(Get-MailboxDatabase)
}
foreach ($db in $allDatabases) {
    $server = Get-CastuiName $db.Server
    $site = $siteOf[([string]$server).ToLowerInvariant()]
    if ($null -eq $site) {
        [void]$errors.Add("database $($db.Name): its server $server is in no AD site")
        continue
    }
    [void]$databases.Add((New-CastuiRow name ([string]$db.Name) server $server site $site `
        rpc_client_access_server (Get-CastuiText (Get-CastuiProperty $db 'RpcClientAccessServer'))))
}

$directories = New-Object System.Collections.ArrayList
$kinds = New-CastuiRow owa 'Get-OwaVirtualDirectory' ecp 'Get-EcpVirtualDirectory' `
    ews 'Get-WebServicesVirtualDirectory' oab 'Get-OabVirtualDirectory' `
    eas 'Get-ActiveSyncVirtualDirectory' mapi 'Get-MapiVirtualDirectory'
foreach ($kind in $kinds.Keys) {
    foreach ($vdir in (Get-CastuiVirtualDirectories $kinds[$kind])) {
        [void]$directories.Add((New-CastuiRow server (Get-CastuiName $vdir.Server) kind $kind `
            internal_url (Get-CastuiText $vdir.InternalUrl) `
            external_url (Get-CastuiText $vdir.ExternalUrl)))
    }
}
# Autodiscover: Outlook inside finds it through the service connection point of each CAS
# (AutoDiscoverServiceInternalUri); the virtual directory's own URLs are for outside.
$autodiscoverOutside = @{}
foreach ($vdir in (Get-CastuiVirtualDirectories 'Get-AutodiscoverVirtualDirectory')) {
    $autodiscoverOutside[(Get-CastuiName $vdir.Server).ToLowerInvariant()] =
        Get-CastuiText $vdir.ExternalUrl
}
$casCmdlet = 'Get-ClientAccessServer'  # 2010, 2013; 2016 on renamed it Get-ClientAccessService
if (Test-CastuiCommand 'Get-ClientAccessService') { $casCmdlet = 'Get-ClientAccessService' }
foreach ($cas in @(& $casCmdlet)) {
    $name = [string]$cas.Name
    [void]$directories.Add((New-CastuiRow server $name kind 'autodiscover' `
        internal_url (Get-CastuiText (Get-CastuiProperty $cas 'AutoDiscoverServiceInternalUri')) `
        external_url $autodiscoverOutside[$name.ToLowerInvariant()]))
}

$outlookAnywhere = New-Object System.Collections.ArrayList
foreach ($oa in @(Get-OutlookAnywhere)) {
    [void]$outlookAnywhere.Add((New-CastuiRow server (Get-CastuiName $oa.Server) `
        internal_hostname (Get-CastuiText (Get-CastuiProperty $oa 'InternalHostname')) `
        external_hostname (Get-CastuiText (Get-CastuiProperty $oa 'ExternalHostname'))))
}

$certificates = New-Object System.Collections.ArrayList
foreach ($name in $clientAccess) {
    try {
        $found = @(Get-ExchangeCertificate -Server $name)
    } catch {
        $problem = "certificates of ${name}: $($_.Exception.Message)"
        Write-Warning $problem
        [void]$errors.Add($problem)
        continue
    }
    foreach ($cert in $found) {
        [void]$certificates.Add((New-CastuiRow server $name subject ([string]$cert.Subject) `
            names (Get-CastuiList ($cert.CertificateDomains | ForEach-Object { [string]$_ })) `
            not_after (Get-CastuiTime $cert.NotAfter) `
            services (Get-CastuiList (([string]$cert.Services) -split ','))))
    }
}

$export = New-CastuiRow format 'castui-exchange/1' `
    collected (Get-CastuiTime ([DateTime]::UtcNow)) `
    servers $servers arrays $arrays databases $databases `
    virtual_directories $directories outlook_anywhere $outlookAnywhere `
    certificates $certificates errors $errors

$full = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
[System.IO.File]::WriteAllText($full, (ConvertTo-CastuiJson $export) + "`n",
    (New-Object System.Text.UTF8Encoding $false))
Write-Verbose "wrote $full"
