#!/usr/bin/env bash
# Times `report` against fake Currents and GitHub servers with 50 ms of latency per request
# (400 specs, 100 failed) and prints wall time against the sequential lower bound, and the
# binary's peak RSS. The static release binary is what is measured.
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
cargo bench --locked --profile dev --bench report
