#!/usr/bin/env bash
# Checks that the Dockerfile's `build` stage compiles from exactly the files it copies: Docker
# itself replays that stage's WORKDIR and COPY lines onto an empty image (so .dockerignore
# applies as it does for a real build), the files are exported, and `cargo check --locked`
# runs on them alone. This is what `image: Dockerfile` compiles when the action is used at a
# branch. Needs a Docker engine; pulls nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
replay=currents-bridge-source-replay:check
container=""
cleanup() {
  if [ -n "$container" ]; then docker rm -f "$container" >/dev/null 2>&1 || true; fi
  docker image rm -f "$replay" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

# The build stage's own WORKDIR and COPY lines; COPY --from copies from other stages.
awk '/^FROM .* AS build$/ { on = 1; next } /^FROM / { on = 0 }
     on && /^(WORKDIR|COPY) / && !/--from=/' Dockerfile > "$scratch/lines"
grep -q '^COPY ' "$scratch/lines" || { echo "check-source-stage: no COPY lines in the build stage" >&2; exit 1; }
echo "check-source-stage: replaying"
sed 's/^/  /' "$scratch/lines"
{ echo "FROM scratch"; cat "$scratch/lines"; } > "$scratch/Dockerfile"
DOCKER_BUILDKIT=0 docker build --quiet -f "$scratch/Dockerfile" -t "$replay" . >/dev/null
container=$(docker create "$replay" /none)
mkdir "$scratch/root"
docker export "$container" | tar -x -C "$scratch/root"
workdir=$(awk '/^WORKDIR / { w = $2 } END { print w }' "$scratch/lines")
source_dir="$scratch/root${workdir:-/}"
echo "check-source-stage: $(find "$source_dir" -type f | wc -l) files copied; cargo check --locked on them"
# The shared target directory reuses what the other builds compiled.
CARGO_TARGET_DIR="$PWD/target" cargo check --locked --quiet --manifest-path "$source_dir/Cargo.toml"
echo "check-source-stage: the build stage compiles from its COPY set"
