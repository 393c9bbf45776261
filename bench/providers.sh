#!/usr/bin/env bash
# Authenticated requests with 10 configured identity providers against 1 (issue #22,
# "Measured"): the same binary, the single-issuer settings plus nine [oidc.providers] tables
# (all naming the bench IdP), alternated over several rounds; medians of server CPU per
# request and their ratio. The session cookie comes from a login at the 1-provider app (the
# same SECRET): with several providers `/login` answers the choice page, which the load
# generator does not click through.
# Environment (all optional): BENCH_ROUNDS=3 BENCH_SECS=10 BENCH_WARMUP_SECS=2
#   BENCH_CONNECTIONS=32 BENCH_PORT_BASE=3350 BENCH_SKIP_BUILD=1 BENCH_APP_BIN=/path/to/oidc-bff
#   BENCH_SERVER_CORE=0 BENCH_LOAD_CORE=1 BENCH_PRIORITY=nice|rt|normal
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PORT=${BENCH_PORT_BASE:-3350}

start_run providers-
ensure_wrk
prepare_binaries
{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.commit=$COMMIT"
  echo "meta.settings=$ROUNDS rounds, ${SECS}s per workload after ${WARMUP}s warm-up; wrk -t1 -c$CONNS; server on core $SERVER_CORE, wrk on core $LOAD_CORE; scheduling: $PRIORITY"
  echo "meta.machine_busy_before_pct=$(machine_busy_pct)"
} >>"$RES"

start_idp 3600
export LOGIN_RATE_LIMIT=0 STORE=memory
export ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release
FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Accept: */*")

# Rocket.toml plus nine more providers (ROCKET_CONFIG replaces the file Rocket reads).
TEN="$OUT/ten-providers.toml"
# Relative paths in a configuration file are read from its directory: the templates' is made absolute.
sed "s#^template_dir = \"templates\"#template_dir = \"$ROOT/templates\"#" "$ROOT/Rocket.toml" >"$TEN"
for i in $(seq 1 9); do
  printf '\n[default.oidc.providers.p%d]\nissuer = "%s"\nclient_id = "%s"\n' "$i" "$ISSUER" "$CLIENT_ID" >>"$TEN"
done

# one NAME CONFIG: the app with that Rocket configuration file, measured.
one() {
  local name=$1 config=$2
  ROCKET_CONFIG=$config BASE_URL="http://localhost:$PORT" ROCKET_PORT=$PORT \
    start_server "$name" "http://127.0.0.1:$PORT/healthz" "$APP_BIN"
  if [[ ! -s $OUT/session.cookie ]]; then session "http://localhost:$PORT" bff "$OUT/session.cookie"; fi
  measure "$name.hello_auth" "http://127.0.0.1:$PORT/api/hello" "${FETCH[@]}" "Cookie: $(cat "$OUT/session.cookie")"
  stop_pid "$SPID"
}

for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then order=(one ten); else order=(ten one); fi
  for which in "${order[@]}"; do
    log "round $round: $which"
    if [[ $which == one ]]; then one "one.r$round" "$ROOT/Rocket.toml"; else one "ten.r$round" "$TEN"; fi
  done
done
stop_all

{
  echo "# 10 identity providers vs 1 ($RUN_ID)"
  echo
  echo '```'
  grep '^meta\.' "$RES"
  echo '```'
  echo
  echo "| authenticated GET /api/hello (median of $ROUNDS rounds) | 1 provider | 10 providers | 10 / 1 |"
  echo "|---|---:|---:|---:|"
  for f in hello_auth.rps hello_auth.server_cpu_us_per_req hello_auth.p99_ms; do
    a=$(figure one "$f") b=$(figure ten "$f")
    echo "| $f | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }') |"
  done
  echo
  echo "Raw figures: \`bench/results/$RUN_ID/results.env\`."
} >"$OUT/summary.md"
cat "$OUT/summary.md"
log "summary in $OUT/summary.md"
