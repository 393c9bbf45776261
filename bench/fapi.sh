#!/usr/bin/env bash
# What DPoP and private_key_jwt add to the server's CPU per upstream call and per login
# (issue "A FAPI 2.0-grade client"): bench/fapi_cost.rs, built in release without LTO (ring's
# signing code does not change with LTO, and the build takes minutes instead of ten).
# Environment (optional): BENCH_CORE=0 (the core it runs on).
set -euo pipefail
cd "$(dirname "$0")/.."
CORE=${BENCH_CORE:-0}
OUT=bench/results
mkdir -p "$OUT"
CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo build --release --quiet --no-default-features --example fapi_cost
BIN=target/release/examples/fapi_cost
{
  echo "# DPoP and private_key_jwt: CPU per operation ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD))"
  echo
  echo "\`bash bench/fapi.sh\` on core $CORE; one thread; see bench/fapi_cost.rs."
  echo
  taskset -c "$CORE" "$BIN"
} | tee "$OUT/fapi-$(date -u +%Y-%m-%d).md"
