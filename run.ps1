# Starts the gateway on Windows (Windows PowerShell 5.1 and PowerShell 7): the seed's spelling
# of `npm start`, as ./run.sh is on Linux and macOS. Both run `node bin/ccg serve`.
# Installs dependencies first (npm ci) when node_modules is missing or older than
# package-lock.json. Arguments go to `ccg serve`:  .\run.ps1 --port 8443 --host 0.0.0.0
# Where local scripts are blocked (Windows PowerShell's default execution policy):
#   powershell -ExecutionPolicy Bypass -File .\run.ps1
# Runs in the repository's directory, as `npm start` does (the default data directory is .data
# there). Not run by this repository's tests (no PowerShell on the machines that run them): a
# test checks that its steps match run.sh's.
$ErrorActionPreference = 'Stop'
Set-Location -LiteralPath $PSScriptRoot

# The minimum comes from package.json's "engines" so there is one place to change it.
$engines = (Get-Content -Raw -LiteralPath 'package.json' | ConvertFrom-Json).engines.node
if ($engines -notmatch '>=\s*(\d+)\.(\d+)') { throw "run.ps1: cannot read the Node minimum from package.json ($engines)" }
$need = [version]"$($Matches[1]).$($Matches[2])"

if (-not (Get-Command node -ErrorAction SilentlyContinue)) {
  [Console]::Error.WriteLine("run.ps1: Node.js is not installed (ccg needs Node $need or newer: https://nodejs.org/)")
  exit 1
}
$have = (& node -p 'process.versions.node' | Out-String).Trim()
if ([version]$have -lt $need) {
  [Console]::Error.WriteLine("run.ps1: Node $have is too old: ccg needs Node $need or newer (https://nodejs.org/)")
  exit 1
}

# npm ci writes node_modules\.package-lock.json last; a lock file newer than it means stale.
$installed = 'node_modules\.package-lock.json'
if (-not (Test-Path -LiteralPath $installed) -or
    (Get-Item -LiteralPath 'package-lock.json').LastWriteTimeUtc -gt (Get-Item -LiteralPath $installed).LastWriteTimeUtc) {
  [Console]::Error.WriteLine('run.ps1: installing dependencies (npm ci)...')
  & npm ci
  if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}
# npm ci builds dist\ (the prepare script); a checkout that has modules but no build needs one.
if (-not (Test-Path -LiteralPath 'dist\cli\serve-main.js')) {
  [Console]::Error.WriteLine('run.ps1: building (npm run build)...')
  & npm run build
  if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

& node bin/ccg serve @args
exit $LASTEXITCODE
