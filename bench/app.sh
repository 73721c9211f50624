#!/usr/bin/env bash
# Times App mode from a Currents RUN_FINISH webhook to the completed check run, against fake
# Currents and GitHub App servers with 50 ms of latency per request (400 specs, 100 failed),
# and prints the median against the sequential lower bound. The static release binary is what
# is measured.
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
cargo bench --locked --profile dev --bench app
