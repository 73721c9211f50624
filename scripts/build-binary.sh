#!/usr/bin/env bash
# Builds the release binary for one target and lays it out for the image and the release:
#   dist/linux-<arch>/currents-bridge{,-pre,-post}   Linux musl targets (what the image copies)
#   dist/release/currents-bridge-<target>[.exe]      every target (the release assets)
# Usage: scripts/build-binary.sh [TARGET]   (default: this machine's static Linux target)
#
# Linux targets are static musl binaries: Debian's musl-tools gives the C compiler that ring
# and SQLite need. Windows gets the C runtime linked in, so no Visual C++ redistributable is
# needed. Everything comes from the checkout and Cargo.lock; nothing is downloaded but crates.
set -euo pipefail
cd "$(dirname "$0")/.."

host_linux_target() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x86_64-unknown-linux-musl ;;
    aarch64 | arm64) echo aarch64-unknown-linux-musl ;;
    *) echo "build-binary: no static Linux target for $(uname -m)" >&2; return 1 ;;
  esac
}

target=${1:-$(host_linux_target)}
case "$target" in
  *-linux-musl)
    if ! command -v musl-gcc >/dev/null 2>&1; then
      echo "build-binary: musl-gcc not found: install musl-tools (apt-get install musl-tools)" >&2
      exit 1
    fi
    # cc-rs reads CC_<target with underscores>.
    export "CC_${target//-/_}=musl-gcc"
    ;;
  *-windows-msvc)
    export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
    ;;
esac
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi

start=$SECONDS
cargo build --release --locked --target "$target"
exe=""
case "$target" in *-windows-*) exe=.exe ;; esac
built="target/$target/release/currents-bridge$exe"
echo "build-binary: $built built in $((SECONDS - start)) s ($(wc -c < "$built") bytes)"

mkdir -p dist/release
cp "$built" "dist/release/currents-bridge-$target$exe"

case "$target" in
  *-linux-musl) ;;
  *) exit 0 ;;
esac
# A static binary has no program interpreter; anything else would not start on `scratch`.
if command -v readelf >/dev/null 2>&1 && readelf -l "$built" | grep -q 'Requesting program interpreter'; then
  echo "build-binary: $built is dynamically linked; it cannot run on an empty image" >&2
  exit 1
fi
scripts/layout-image-dist.sh "$target" "$built"
