#!/usr/bin/env bash
# What DPoP and private_key_jwt add to the server's CPU per upstream call and per login
# (issue "A FAPI 2.0-grade client"): bench/fapi_cost.rs, one thread.
# Environment (optional): BENCH_CORE=0 (the core it runs on).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
component fapi_cost fapi "DPoP and private_key_jwt: CPU per operation" \
  "one thread; see bench/fapi_cost.rs."
