#!/usr/bin/env bash
# Two builds of the app side by side (before / after a change): authenticated GET /api/hello,
# its 401 path, the start page and the floor (GET /healthz), alternated over rounds; medians
# and ratios of the server's CPU per request and of req/s. See bench/README.md ("Profiles").
#
#   BENCH_APP_BIN_A=/path/before BENCH_APP_BIN_B=/path/after bench/compare.sh
#
# Environment (optional): BENCH_ROUNDS=3 BENCH_SECS=10 BENCH_WARMUP_SECS=2 BENCH_CONNECTIONS=32
#   BENCH_PORT_BASE=3355 BENCH_IDP_PORT=4455 BENCH_SERVER_CORE=0 BENCH_LOAD_CORE=1
#   BENCH_PRIORITY=nice|rt|normal BENCH_NAME_A=before BENCH_NAME_B=after
set -euo pipefail
: "${BENCH_IDP_PORT:=4455}"
export BENCH_IDP_PORT
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PORT=${BENCH_PORT_BASE:-3355}
A_NAME=${BENCH_NAME_A:-before} B_NAME=${BENCH_NAME_B:-after}
[[ -x ${BENCH_APP_BIN_A:-} && -x ${BENCH_APP_BIN_B:-} ]] || die "set BENCH_APP_BIN_A and BENCH_APP_BIN_B"

start_run compare-
ensure_wrk
[[ -x $LOADGEN ]] || build_loadgen
# Copies, so that a rebuild cannot swap a binary mid-run.
cp "$BENCH_APP_BIN_A" "$OUT/app-a" && cp "$BENCH_APP_BIN_B" "$OUT/app-b"

{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.a=$A_NAME: $BENCH_APP_BIN_A"
  echo "meta.b=$B_NAME: $BENCH_APP_BIN_B"
  echo "meta.settings=$ROUNDS rounds, ${SECS}s per workload after ${WARMUP}s warm-up; wrk -t1 -c$CONNS; server on core $SERVER_CORE, wrk on core $LOAD_CORE; scheduling: $PRIORITY"
  echo "meta.machine_busy_before_pct=$(machine_busy_pct)"
} >>"$RES"

start_idp 3600
export LOGIN_RATE_LIMIT=0
export ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release
FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Accept: */*")
NAV=("Sec-Fetch-Mode: navigate" "Sec-Fetch-Dest: document" "Accept: text/html")
WORKLOADS=(hello_auth hello_401 page floor)

# one NAME BINARY: starts it, logs in, measures every workload.
one() {
  local name=$1 bin=$2 base="http://127.0.0.1:$PORT" cookie
  BASE_URL="http://localhost:$PORT" ROCKET_PORT=$PORT start_server "$name" "$base/healthz" "$bin"
  session "http://localhost:$PORT" bff "$OUT/$name.cookie"
  cookie="Cookie: $(cat "$OUT/$name.cookie")"
  echo "$name.cookie_bytes=$(wc -c <"$OUT/$name.cookie")" >>"$RES"
  measure "$name.hello_auth" "$base/api/hello" "${FETCH[@]}" "$cookie"
  measure "$name.hello_401" "$base/api/hello" "${FETCH[@]}"
  measure "$name.page" "$base/" "${NAV[@]}" "$cookie"
  measure "$name.floor" "$base/healthz" "${FETCH[@]}" "$cookie"
  stop_pid "$SPID"
}

for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then order=(a b); else order=(b a); fi
  for which in "${order[@]}"; do
    log "round $round: $which"
    one "$which.r$round" "$OUT/app-$which"
  done
done
stop_all
rm -f "$OUT/app-a" "$OUT/app-b"

{
  echo "# $A_NAME vs $B_NAME ($RUN_ID)"
  echo
  echo '```'
  grep '^meta\.' "$RES"
  echo '```'
  echo
  echo "| median of $ROUNDS rounds | $A_NAME | $B_NAME | $B_NAME / $A_NAME |"
  echo "|---|---:|---:|---:|"
  for w in "${WORKLOADS[@]}"; do
    for f in server_cpu_us_per_req rps; do
      a=$(figure a "$w.$f") b=$(figure b "$w.$f")
      echo "| $w $f | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "-" }') |"
    done
  done
  echo
  echo "Status codes: $(grep -E '\.status=' "$RES" | sed -E 's/^[ab]\.r[0-9]+\.//' | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
  echo "Others on the server's core (median %, per workload): $(for w in "${WORKLOADS[@]}"; do printf '%s a %s b %s; ' "$w" "$(figure a "$w.core_others_pct")" "$(figure b "$w.core_others_pct")"; done)"
  echo
  echo "Per round (server CPU µs per request):"
  echo
  echo '```'
  grep -E '\.server_cpu_us_per_req=' "$RES"
  echo '```'
  echo
  echo "Raw figures: \`bench/results/$RUN_ID/results.env\`."
} >"$OUT/summary.md"
cat "$OUT/summary.md"
