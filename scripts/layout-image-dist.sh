#!/usr/bin/env bash
# Lays out a Linux release binary the way the Dockerfile's `release` stage copies it:
#   dist/linux-<arch>/currents-bridge, plus currents-bridge-pre and currents-bridge-post as
#   links to it (the action's pre and post entrypoints select their command by that name).
# Usage: scripts/layout-image-dist.sh TARGET BINARY
# Shared by scripts/build-binary.sh and the release workflow, which gets the binaries back as
# artifacts without their links or modes.
set -euo pipefail
target=${1:?usage: layout-image-dist.sh TARGET BINARY}
binary=${2:?usage: layout-image-dist.sh TARGET BINARY}
cd "$(dirname "$0")/.."
case "$target" in
  x86_64-unknown-linux-musl) arch=amd64 ;;
  aarch64-unknown-linux-musl) arch=arm64 ;;
  *) echo "layout-image-dist: $target is not a target of the image" >&2; exit 1 ;;
esac
rm -rf "dist/linux-$arch"
mkdir -p "dist/linux-$arch"
cp "$binary" "dist/linux-$arch/currents-bridge"
chmod 0755 "dist/linux-$arch/currents-bridge"
ln -s currents-bridge "dist/linux-$arch/currents-bridge-pre"
ln -s currents-bridge "dist/linux-$arch/currents-bridge-post"
