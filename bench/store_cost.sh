#!/usr/bin/env bash
# What the store file (the default store) adds to a code-flow login's CPU, against the memory
# store, at 1, 8 and 32 concurrent logins: bench/store_cost.rs (the stores' own calls, no
# HTTP), on one core. Built in release without LTO, as bench/fapi.sh does (minutes instead of
# ten): what it measures is redb's work and the kernel's (`fsync`), which LTO does not change.
# Environment (optional): BENCH_CORE=0 (the core it runs on).
set -euo pipefail
cd "$(dirname "$0")/.."
CORE=${BENCH_CORE:-0}
OUT=bench/results
mkdir -p "$OUT"
CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo build --release --quiet --no-default-features --example store_cost
BIN=target/release/examples/store_cost
{
  echo "# The store's part of a code login: CPU per login ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD))"
  echo
  echo "\`bash bench/store_cost.sh\` on core $CORE; $(df -T "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $2 }') under ${TMPDIR:-/tmp}; see bench/store_cost.rs."
  echo
  taskset -c "$CORE" "$BIN"
} | tee "$OUT/store-cost-$(date -u +%Y-%m-%d).md"
