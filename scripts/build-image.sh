#!/usr/bin/env bash
# Builds the image the release publishes, for this machine's architecture, offline, from the
# checkout: the static musl binary is compiled here (scripts/build-binary.sh), then the
# Dockerfile's `release` stage puts it on an empty base with CA certificates. No base image is
# pulled. Fails if any step fails, or if the image is not what GitHub's runner needs.
# Usage: scripts/build-image.sh TAG
set -euo pipefail
tag=${1:?usage: scripts/build-image.sh TAG}
cd "$(dirname "$0")/.."

# The published image must stay small: every job that uses the action pulls it.
max_bytes=$((15 * 1000 * 1000))

case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 target=x86_64-unknown-linux-musl ;;
  aarch64 | arm64) arch=arm64 target=aarch64-unknown-linux-musl ;;
  *) echo "build-image: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
command -v docker >/dev/null 2>&1 || { echo "build-image: docker not found" >&2; exit 1; }

scripts/build-binary.sh "$target"

certs=/etc/ssl/certs/ca-certificates.crt
[ -s "$certs" ] || { echo "build-image: $certs is missing: install ca-certificates" >&2; exit 1; }
cp "$certs" dist/ca-certificates.crt

start=$SECONDS
# --target release: the prebuilt stage only. The legacy builder stops there; BuildKit skips
# the source stages too. TARGETARCH is set by BuildKit, and passed for the legacy builder.
DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build --target release --build-arg "TARGETARCH=$arch" \
  --label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -t "$tag" .
echo "build-image: built $tag in $((SECONDS - start)) s"

# What the runner relies on: a root user, no working directory, the entrypoints action.yml names.
size=$(docker image inspect -f '{{.Size}}' "$tag")
user=$(docker image inspect -f '{{.Config.User}}' "$tag")
workdir=$(docker image inspect -f '{{.Config.WorkingDir}}' "$tag")
echo "build-image: $tag is $size bytes (limit $max_bytes), user '${user}', workdir '${workdir}'"
[ "$size" -le "$max_bytes" ] || { echo "build-image: the image is larger than $max_bytes bytes" >&2; exit 1; }
[ -z "$user" ] || [ "$user" = root ] || [ "$user" = 0 ] || { echo "build-image: the image sets USER $user" >&2; exit 1; }
[ -z "$workdir" ] || { echo "build-image: the image sets WORKDIR $workdir" >&2; exit 1; }

# No shell, nothing but the binary, its two names and the CA bundle.
container=$(docker create "$tag" /none)
files=$(docker export "$container" | tar -t | grep -v -E '^(\.dockerenv|dev/|etc/(hostname|hosts|mtab|resolv\.conf)$|proc/|sys/)' | grep -v '/$' | sort)
docker rm "$container" >/dev/null
expected=$(printf '%s\n' etc/ssl/certs/ca-certificates.crt usr/local/bin/currents-bridge usr/local/bin/currents-bridge-post usr/local/bin/currents-bridge-pre)
if [ "$files" != "$expected" ]; then
  echo "build-image: the image holds more (or less) than the binary and the CA bundle:" >&2
  diff <(echo "$expected") <(echo "$files") >&2 || true
  exit 1
fi
echo "build-image: $tag holds only the binary, its pre/post names and the CA bundle (no shell)"
