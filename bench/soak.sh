#!/usr/bin/env bash
# Soak test of the release build: mixed traffic for SOAK_SECS (default 600) seconds, then the
# number of requests served, of 5xx answers (must be 0), of answers other than the one the app
# must give, and the server's RSS after the warm-up and at the end (growth must stay < 10%).
# See bench/README.md. Environment (all optional):
#   SOAK_SECS=600 SOAK_WARMUP_SECS=30 SOAK_RATE=1000 (operations/s, 0 = as fast as possible)
#   SOAK_CONCURRENCY=16 SOAK_IDLE_SECS=20 (the app's SESSION_IDLE_TIMEOUT_SECS in the soak)
#   BENCH_SKIP_BUILD=1 BENCH_APP_BIN=/path/to/oidc-bff BENCH_PRIORITY=nice|rt|normal
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

SOAK_SECS=${SOAK_SECS:-600}
WARMUP=${SOAK_WARMUP_SECS:-30}
RATE=${SOAK_RATE:-1000}
CONCURRENCY=${SOAK_CONCURRENCY:-16}
IDLE=${SOAK_IDLE_SECS:-20}
PORT=${BENCH_PORT_BASE:-3310}

start_run soak-

prepare_binaries

{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.commit=$COMMIT"
  echo "meta.settings=${SOAK_SECS}s, warm-up ${WARMUP}s, rate ${RATE}/s (0 = unlimited), $CONCURRENCY connections, SESSION_IDLE_TIMEOUT_SECS=$IDLE; scheduling: $PRIORITY"
} >>"$RES"

start_idp $((SOAK_SECS + 600))
# The load generator logs in from one address, far past LOGIN_RATE_LIMIT.
export LOGIN_RATE_LIMIT=0
export ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release
BASE_URL="http://localhost:$PORT" ROCKET_PORT=$PORT SESSION_IDLE_TIMEOUT_SECS=$IDLE \
  start_server soak_app "http://127.0.0.1:$PORT/static/style.css" "$APP_BIN"

log "soak: ${SOAK_SECS}s of mixed traffic against pid $SPID (progress every 10 s)"
set +e
on_core "$LOAD_CORE" "$LOADGEN" soak --app "http://localhost:$PORT" --app-kind bff \
  --issuer "$ISSUER" --client-id "$CLIENT_ID" --key "$KEY" --secs "$SOAK_SECS" \
  --warmup-secs "$WARMUP" --idle-secs "$IDLE" --rate "$RATE" --concurrency "$CONCURRENCY" \
  --server-pid "$SPID" --out "$RES" 2>&1 | tee "$OUT/soak.out"
VERDICT=${PIPESTATUS[0]}
set -e

PANICS=$(grep -c 'panicked' "$OUT/soak_app.log" || true)
echo "soak.server_panics=$PANICS" >>"$RES"
if ! kill -0 "$SPID" 2>/dev/null; then
  echo "soak.server_alive=no" >>"$RES"
  VERDICT=1
fi
((PANICS == 0)) || VERDICT=1
stop_all
rm -f "$OUT/oidc-bff"
log "raw output in $OUT"
exit "$VERDICT"
