#!/usr/bin/env bash
# The cost of the Prometheus metrics (issue "operable in production"): authenticated
# GET /api/hello with METRICS_ADDRESS unset (nothing recorded) and set (every request, store
# operation and login counted), alternated over several rounds; medians and the ratio of the
# server's CPU per request.
# Environment (all optional): BENCH_ROUNDS=4 BENCH_SECS=10 BENCH_WARMUP_SECS=2
#   BENCH_CONNECTIONS=32 BENCH_PORT_BASE=3340 BENCH_SKIP_BUILD=1 BENCH_APP_BIN=/path/to/oidc-bff
#   BENCH_SERVER_CORE=0 BENCH_LOAD_CORE=1 BENCH_PRIORITY=nice|rt|normal
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ROUNDS=${BENCH_ROUNDS:-4}
PORT_BASE=${BENCH_PORT_BASE:-3340}

start_run metrics-
ensure_wrk
prepare_binaries

{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.commit=$COMMIT"
  echo "meta.settings=$ROUNDS rounds, ${SECS}s per workload after ${WARMUP}s warm-up; wrk -t1 -c$CONNS; server on core $SERVER_CORE, wrk on core $LOAD_CORE; scheduling: $PRIORITY"
  echo "meta.machine_busy_before_pct=$(machine_busy_pct)"
} >>"$RES"

start_idp 3600
# The load generator logs in from one address, far past LOGIN_RATE_LIMIT.
export LOGIN_RATE_LIMIT=0
export ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release
FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Accept: */*")
PORT=$PORT_BASE METRICS_PORT=$((PORT_BASE + 1))

# one NAME [METRICS_ADDRESS]: starts the app, logs in, measures, checks the metrics moved.
one() {
  local name=$1 metrics=${2:-}
  METRICS_ADDRESS=$metrics BASE_URL="http://localhost:$PORT" ROCKET_PORT=$PORT \
    start_server "$name" "http://127.0.0.1:$PORT/healthz" "$APP_BIN"
  session "http://localhost:$PORT" bff "$OUT/$name.cookie"
  measure "$name.hello_auth" "http://127.0.0.1:$PORT/api/hello" "${FETCH[@]}" "Cookie: $(cat "$OUT/$name.cookie")"
  if [[ -n $metrics ]]; then
    local counted
    counted=$(curl -s "http://$metrics/metrics" | awk '/^oidc_bff_http_requests_total\{route="\/api\/hello"/ { s += $NF } END { print s + 0 }')
    echo "$name.hello_requests_counted=$counted" >>"$RES"
    [[ $counted -gt 0 ]] || die "metrics on, but /api/hello was not counted"
  fi
  stop_pid "$SPID"
}

for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then order=(off on); else order=(on off); fi
  for mode in "${order[@]}"; do
    log "round $round: metrics $mode"
    if [[ $mode == on ]]; then one "on.r$round" "127.0.0.1:$METRICS_PORT"; else one "off.r$round"; fi
  done
done
stop_all

{
  echo "# Metrics off vs on ($RUN_ID)"
  echo
  echo '```'
  grep '^meta\.' "$RES"
  echo '```'
  echo
  echo "| authenticated GET /api/hello (median of $ROUNDS rounds) | off | on | on / off |"
  echo "|---|---:|---:|---:|"
  for f in hello_auth.rps hello_auth.server_cpu_us_per_req hello_auth.p50_ms hello_auth.p99_ms; do
    a=$(figure off "$f") b=$(figure on "$f")
    echo "| $f | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "-" }') |"
  done
  echo
  echo "Per round (server CPU µs per request): $(grep -E '\.hello_auth\.server_cpu_us_per_req=' "$RES" | tr '\n' ' ')"
  echo
  echo "Raw figures: \`bench/results/$RUN_ID/results.env\`."
} >"$OUT/summary.md"
cat "$OUT/summary.md"
log "summary in $OUT/summary.md"
