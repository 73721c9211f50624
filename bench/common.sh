# shellcheck shell=bash
# Sourced by the bench scripts: the benchmarks measure the static release binary the image
# ships (scripts/build-binary.sh; a no-op when .ci/run has built it already), driven by a
# harness compiled in the dev profile, which reuses the test build instead of a second
# optimised build of every dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
case "$(uname -m)" in
  x86_64 | amd64) musl_target=x86_64-unknown-linux-musl ;;
  aarch64 | arm64) musl_target=aarch64-unknown-linux-musl ;;
  *) echo "bench: no static Linux target for $(uname -m)" >&2; exit 1 ;;
esac
if [ -z "${CURRENTS_BRIDGE_BIN:-}" ]; then
  scripts/build-binary.sh "$musl_target" >&2
  CURRENTS_BRIDGE_BIN="$PWD/target/$musl_target/release/currents-bridge"
fi
export CURRENTS_BRIDGE_BIN
echo "bench: measuring $CURRENTS_BRIDGE_BIN"
