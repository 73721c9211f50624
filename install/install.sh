#!/usr/bin/env bash
# Installs the currents-bridge release binary for this runner and puts it on PATH. Run by
# install/action.yml; usable on its own. Works on Linux, macOS and Windows (Git Bash) runners.
#
#   install.sh               download, verify, install (reads RUNNER_OS, RUNNER_ARCH)
#   install.sh target OS ARCH  print the release asset for a runner.os / runner.arch pair
#
# Integrity: the binary's SHA-256 must match the sum in SHA256SUMS beside this script, which the
# release workflow wrote into the tagged commit of this action. A sums file fetched from the
# same place as the binary would prove nothing, so none is fetched.
#
# Environment:
#   CURRENTS_BRIDGE_DOWNLOAD_URL  base URL of the release assets (default: the GitHub release of
#                                 the version in RELEASE); for a mirror on GHES or behind a proxy
#   RUNNER_TEMP, GITHUB_PATH, GITHUB_OUTPUT  as the runner sets them
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() {
  # One line, as an error annotation; the values in it are ours or the runner's, not a payload.
  echo "::error title=currents-bridge install::$*"
  exit 1
}

# runner.os / runner.arch -> the release asset's name.
asset_for() {
  case "$1/$2" in
    Linux/X64) echo currents-bridge-x86_64-unknown-linux-musl ;;
    Linux/ARM64) echo currents-bridge-aarch64-unknown-linux-musl ;;
    macOS/X64) echo currents-bridge-x86_64-apple-darwin ;;
    macOS/ARM64) echo currents-bridge-aarch64-apple-darwin ;;
    # Windows on ARM runs x64 binaries under emulation.
    Windows/X64 | Windows/ARM64) echo currents-bridge-x86_64-pc-windows-msvc.exe ;;
    *) return 1 ;;
  esac
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    fail "neither sha256sum nor shasum is available to verify the download"
  fi
}

if [ "${1:-}" = target ]; then
  asset_for "${2:-}" "${3:-}" || fail "no currents-bridge binary for runner ${2:-?}/${3:-?}; there are binaries for Linux (X64, ARM64), macOS (X64, ARM64) and Windows (X64)"
  exit 0
fi

os=${RUNNER_OS:?RUNNER_OS is not set: run this on a GitHub Actions runner, or set RUNNER_OS and RUNNER_ARCH}
arch=${RUNNER_ARCH:?RUNNER_ARCH is not set}
asset=$(asset_for "$os" "$arch") ||
  fail "no currents-bridge binary for runner $os/$arch; there are binaries for Linux (X64, ARM64), macOS (X64, ARM64) and Windows (X64)"

release_file="$here/RELEASE"
sums_file="$here/SHA256SUMS"
if [ ! -f "$release_file" ] || [ ! -f "$sums_file" ]; then
  fail "this copy of the install action carries no release (no install/RELEASE and install/SHA256SUMS): use it at a release tag, e.g. uses: <owner>/currents-bridge/install@v1"
fi
repository=$(sed -n 's/^repository=//p' "$release_file")
version=$(sed -n 's/^version=//p' "$release_file")
if [ -z "$repository" ] || [ -z "$version" ]; then
  fail "install/RELEASE names no repository and version"
fi

expected=$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1 }' "$sums_file")
[ -n "$expected" ] || fail "install/SHA256SUMS has no sum for $asset"

base=${CURRENTS_BRIDGE_DOWNLOAD_URL:-https://github.com/$repository/releases/download/v$version}
dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/currents-bridge/$version"
mkdir -p "$dir/bin"
download="$dir/$asset.download"
echo "Downloading $asset $version from $base"
curl --fail --silent --show-error --location --retry 3 --output "$download" "$base/$asset" ||
  { rm -f "$download"; fail "could not download $base/$asset"; }

actual=$(sha256_of "$download")
if [ "$actual" != "$expected" ]; then
  rm -f "$download"
  fail "checksum mismatch for $asset: expected $expected (install/SHA256SUMS at this tag), got $actual. Nothing was installed."
fi

case "$asset" in *.exe) binary="$dir/bin/currents-bridge.exe" ;; *) binary="$dir/bin/currents-bridge" ;; esac
mv "$download" "$binary"
chmod +x "$binary"
echo "Installed currents-bridge $version ($asset, sha256 $actual) at $binary"
if [ -n "${GITHUB_PATH:-}" ]; then echo "$dir/bin" >> "$GITHUB_PATH"; fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "path=$binary" >> "$GITHUB_OUTPUT"; fi
