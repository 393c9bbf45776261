#!/usr/bin/env bash
# The memory store against Redis, in one run (issue "many instances"): authenticated
# GET /api/hello and server-bound logins with each store, alternated over several rounds
# (medians and ratios), then the revocation window between two instances on one Redis: 100
# logouts on A, each timed from the logout's response to B's first refusal.
# Environment (all optional): BENCH_ROUNDS=3 BENCH_SECS=10 BENCH_WARMUP_SECS=2
#   BENCH_CONNECTIONS=32 BENCH_SPLIT_LOGINS=4000 BENCH_LOGOUTS=100 BENCH_PORT_BASE=3320
#   BENCH_REDIS_PORT=6390 BENCH_SKIP_BUILD=1 BENCH_APP_BIN=/path/to/oidc-bff
#   BENCH_SERVER_CORE=0 BENCH_LOAD_CORE=1 BENCH_PRIORITY=nice|rt|normal
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

LOGIN_CONC=8
SPLIT_LOGINS=${BENCH_SPLIT_LOGINS:-4000}
LOGOUTS=${BENCH_LOGOUTS:-100}
PORT_BASE=${BENCH_PORT_BASE:-3320}
REDIS_PORT=${BENCH_REDIS_PORT:-6390}

start_run redis-
ensure_wrk
command -v redis-server >/dev/null || die "redis-server is missing (apt-get install redis-server)"
prepare_binaries

{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.commit=$COMMIT"
  echo "meta.redis=$(redis-server --version | awk '{ print $3 }')"
  echo "meta.settings=$ROUNDS rounds, ${SECS}s per workload after ${WARMUP}s warm-up; wrk -t1 -c$CONNS; $SPLIT_LOGINS split logins; server on core $SERVER_CORE, wrk and redis-server on core $LOAD_CORE; scheduling: $PRIORITY"
  echo "meta.machine_busy_before_pct=$(machine_busy_pct)"
} >>"$RES"

# Redis beside the load generator: the app's core is the one measured.
port_free "$REDIS_PORT"
# Not through on_core: a function in the background would leave $! naming a subshell.
"${PRIO[@]}" taskset -c "$LOAD_CORE" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  >"$OUT/redis.log" 2>&1 &
STARTED_PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
REDIS="redis://127.0.0.1:$REDIS_PORT"

start_idp 3600
# The load generator logs in from one address, far past LOGIN_RATE_LIMIT.
export LOGIN_RATE_LIMIT=0
export ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release
FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Accept: */*")

# one_store NAME [REDIS_URL]: starts the app with that store and runs both workloads.
one_store() {
  local name=$1 url=${2:-} port=$PORT_BASE
  REDIS_URL=$url BASE_URL="http://localhost:$port" ROCKET_PORT=$port \
    start_server "$name" "http://127.0.0.1:$port/healthz" "$APP_BIN"
  session "http://localhost:$port" bff "$OUT/$name.cookie"
  measure "$name.hello_auth" "http://127.0.0.1:$port/api/hello" "${FETCH[@]}" "Cookie: $(cat "$OUT/$name.cookie")"
  logins_split "$name.login_split" "http://localhost:$port" bff
  stop_pid "$SPID"
}

for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then order=(memory redis); else order=(redis memory); fi
  for store in "${order[@]}"; do
    log "round $round: $store"
    if [[ $store == redis ]]; then one_store "redis.r$round" "$REDIS"; else one_store "memory.r$round"; fi
  done
done

# ---- the revocation window: logout on A, first refusal on B ----
log "revocation window: $LOGOUTS logouts on A, polling B"
A=$((PORT_BASE + 1)) B=$((PORT_BASE + 2))
REDIS_URL=$REDIS BASE_URL="http://localhost:$A" ROCKET_PORT=$A \
  start_server window.a "http://127.0.0.1:$A/healthz" "$APP_BIN"
REDIS_URL=$REDIS BASE_URL="http://localhost:$A" ROCKET_PORT=$B \
  start_server window.b "http://127.0.0.1:$B/healthz" "$APP_BIN"
: >"$OUT/window.us"
for i in $(seq "$LOGOUTS"); do
  session "http://localhost:$A" bff "$OUT/window.cookie"
  cookie=$(cat "$OUT/window.cookie")
  [[ $(status_of "http://127.0.0.1:$B/api/hello" "${FETCH[@]}" "Cookie: $cookie") == 200 ]] \
    || die "B does not accept A's session"
  curl -s -o /dev/null -X POST -H "Sec-Fetch-Site: same-origin" -H "Cookie: $cookie" \
    "http://127.0.0.1:$A/logout"
  t0=$(date +%s%N)
  while [[ $(status_of "http://127.0.0.1:$B/api/hello" "${FETCH[@]}" "Cookie: $cookie") != 401 ]]; do
    (( $(date +%s%N) - t0 < 5000000000 )) || die "B still accepts a logged-out session after 5 s"
  done
  echo $(( ($(date +%s%N) - t0) / 1000 )) >>"$OUT/window.us"
done
sort -n "$OUT/window.us" | awk -v n="$LOGOUTS" '
  { v[NR] = $1 }
  END {
    printf "window.p50_ms=%.2f\nwindow.p99_ms=%.2f\nwindow.max_ms=%.2f\n", v[int(NR * 0.5 + 0.5)] / 1000, v[int(NR * 0.99 + 0.5)] / 1000, v[NR] / 1000
  }' >>"$RES"
stop_all

# ---- report: medians over the rounds, and ratios redis / memory ----
{
  echo "# Memory store vs Redis ($RUN_ID)"
  echo
  echo '```'
  grep '^meta\.' "$RES"
  echo '```'
  echo
  echo "| workload (median of $ROUNDS rounds) | memory | redis | redis / memory |"
  echo "|---|---:|---:|---:|"
  for f in hello_auth.rps hello_auth.server_cpu_us_per_req hello_auth.p99_ms login_split.rps login_split.server_cpu_us_per_login; do
    m=$(figure memory "$f") r=$(figure redis "$f")
    echo "| $f | $m | $r | $(awk -v m="$m" -v r="$r" 'BEGIN { if (m > 0) printf "%.2f", r / m; else print "-" }') |"
  done
  echo
  echo "Revocation window over $LOGOUTS logouts (logout response on A → first 401 on B, polling with curl):"
  echo
  echo '```'
  grep '^window\.' "$RES"
  echo '```'
  echo
  echo "Raw figures: \`bench/results/$RUN_ID/results.env\`."
} >"$OUT/summary.md"
cat "$OUT/summary.md"
log "summary in $OUT/summary.md"
