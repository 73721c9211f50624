#!/usr/bin/env bash
# Load-tests the relay (release build, SQLite) against adnanh/webhook verifying the same
# signature: wrk, 16 connections, 10 s, signed non-cancel deliveries with unique delivery ids.
# Also measures webhook-received -> Currents-cancel latency under that load. Installs wrk and
# webhook from Debian's packages when missing.
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
if ! command -v wrk >/dev/null || ! command -v webhook >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk webhook
fi
cargo bench --locked --profile dev --bench relay
