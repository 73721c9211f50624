#!/usr/bin/env bash
# Lints every workflow in README.md as a user would paste it: each ```yaml block with a
# top-level `jobs:` becomes .github/workflows/readme-N.yml in a scratch repository, and
# actionlint checks them all. A block with `steps:` but no `jobs:` is refused: snippets are
# whole workflows, so that what users copy is what was checked.
# Usage: scripts/lint-readme-workflows.sh [ACTIONLINT]
set -euo pipefail
cd "$(dirname "$0")/.."
actionlint=${1:-actionlint}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/.github/workflows"
python3 - "$scratch/.github/workflows" <<'PY'
import re, sys
out = sys.argv[1]
text = open("README.md", encoding="utf-8").read()
blocks = re.findall(r"^```ya?ml\n(.*?)^```", text, flags=re.M | re.S)
workflows = 0
for n, block in enumerate(blocks, 1):
    has_jobs = re.search(r"^jobs:", block, flags=re.M)
    if not has_jobs:
        if re.search(r"^\s*steps:", block, flags=re.M):
            sys.exit(f"README.md yaml block {n} has steps but no jobs: make it a whole workflow")
        continue
    workflows += 1
    with open(f"{out}/readme-{n}.yml", "w", encoding="utf-8") as f:
        f.write(block)
if workflows == 0:
    sys.exit("README.md has no workflow snippets to lint")
print(f"README.md: {workflows} workflow snippets")
PY
cd "$scratch"
"$actionlint" -no-color .github/workflows/*.yml
echo "README.md workflow snippets: actionlint clean"
