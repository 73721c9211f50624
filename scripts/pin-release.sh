#!/usr/bin/env bash
# Turns a checkout into the release commit's tree: action.yml runs the published image by
# digest, and install/ carries the release's version and the binaries' sums, so that the tag
# runs, and verifies against, exactly what the release published. Run by the release workflow;
# tested by tests/it/install.rs.
# Usage: scripts/pin-release.sh VERSION REPOSITORY IMAGE DIGEST SHA256SUMS [ROOT]
#   VERSION     vX.Y.Z (the tag)
#   REPOSITORY  owner/name
#   IMAGE       ghcr.io/owner/name (lower case)
#   DIGEST      sha256:… of the multi-arch image
#   SHA256SUMS  the sums file of the release assets
#   ROOT        the checkout to change (default: this one)
set -euo pipefail
version=${1:?usage: pin-release.sh VERSION REPOSITORY IMAGE DIGEST SHA256SUMS [ROOT]}
repository=${2:?repository}
image=${3:?image}
digest=${4:?digest}
sums=${5:?sums file}
root=${6:-$(cd "$(dirname "$0")/.." && pwd)}

case "$version" in v[0-9]*.[0-9]*.[0-9]*) ;; *) echo "pin-release: $version is not vX.Y.Z" >&2; exit 1 ;; esac
case "$digest" in sha256:[0-9a-f]*) ;; *) echo "pin-release: $digest is not a sha256 digest" >&2; exit 1 ;; esac
[ "${#digest}" -eq 71 ] || { echo "pin-release: $digest is not a full sha256 digest" >&2; exit 1; }
[ -s "$sums" ] || { echo "pin-release: $sums is empty or missing" >&2; exit 1; }

action="$root/action.yml"
grep -q '^  image: ' "$action" || { echo "pin-release: $action has no runs.image line" >&2; exit 1; }
sed -i.bak -E "s|^  image: .*|  image: docker://${image}@${digest}|" "$action"
rm -f "$action.bak"
grep -q "^  image: docker://${image}@${digest}\$" "$action"
cp "$sums" "$root/install/SHA256SUMS"
printf 'repository=%s\nversion=%s\n' "$repository" "${version#v}" > "$root/install/RELEASE"
echo "pin-release: $action runs docker://${image}@${digest}; install/ carries ${version#v}"
