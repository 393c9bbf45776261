#!/usr/bin/env bash
# What the store file (the default store) adds to a code-flow login's CPU, against the memory
# store, at 1, 8 and 32 concurrent logins: bench/store_cost.rs (the stores' own calls, no
# HTTP), on one core.
# Environment (optional): BENCH_CORE=0 (the core it runs on).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
component store_cost store-cost "The store's part of a code login: CPU per login" \
  "$(df -T "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $2 }') under ${TMPDIR:-/tmp}; see bench/store_cost.rs."
