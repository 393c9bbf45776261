#!/usr/bin/env bash
# oidc-bff next to Rocket alone (bench/reference: a bare route, a private-cookie route and a 401
# route), both pinned to the same core, alternated over rounds; medians of the server's CPU per
# request and of req/s, and the ratios of issue 23. See bench/README.md ("Rocket reference").
#
#   bench/reference.sh
#   BENCH_SKIP_BUILD=1 BENCH_APP_BIN=/path/to/oidc-bff bench/reference.sh
#
# Three servers, one at a time on the server core: `ref` (bench/reference), `ours` (oidc-bff as
# the other benchmarks run it: no metrics, text log without the request log) and `ops` (the
# same binary as operators run it: METRICS_ADDRESS set, LOG_FORMAT=json, so one JSON line per
# request, written to a file). Both oidc-bff processes use the default store (file), in the
# run directory.
#
# Environment (optional): BENCH_ROUNDS=3 BENCH_SECS=10 BENCH_WARMUP_SECS=2 BENCH_CONNECTIONS=32
#   BENCH_PORT_BASE=3360 (oidc-bff, +1 reference, +2 metrics) BENCH_IDP_PORT=4460
#   BENCH_SERVER_CORE=0 BENCH_LOAD_CORE=1 BENCH_PRIORITY=nice|rt|normal
#   BENCH_APP_BIN BENCH_SKIP_BUILD BENCH_REFERENCE_BIN
set -euo pipefail
: "${BENCH_IDP_PORT:=4460}"
export BENCH_IDP_PORT
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
# Both apps read Rocket.toml (and oidc-bff templates/, public/) from the working directory.
cd "$ROOT"

PORT=${BENCH_PORT_BASE:-3360}
REF_PORT=$((PORT + 1)) METRICS_PORT=$((PORT + 2))

start_run reference-
ensure_wrk
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
# The binary measured, before prepare_binaries points APP_BIN at its copy in the run directory.
APP_SOURCE=${BENCH_APP_BIN:-$ROOT/target/release/oidc-bff}
prepare_binaries
REF_BIN=${BENCH_REFERENCE_BIN:-$BENCH/reference/target/release/bff-reference}
if [[ -z ${BENCH_REFERENCE_BIN:-} && (-z ${BENCH_SKIP_BUILD:-} || ! -x $REF_BIN) ]]; then
  log "building the Rocket reference (bench/reference)"
  (cd "$BENCH/reference" && cargo build --release --quiet) || die "reference build failed"
fi
[[ -x $REF_BIN ]] || die "no reference binary at $REF_BIN"
cp "$REF_BIN" "$OUT/bff-reference" && REF_BIN="$OUT/bff-reference"

{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.commit=$COMMIT"
  echo "meta.app=$APP_SOURCE"
  echo "meta.reference=${BENCH_REFERENCE_BIN:-bench/reference (release build)}"
  echo "meta.settings=$ROUNDS rounds, ${SECS}s per workload after ${WARMUP}s warm-up; wrk -t1 -c$CONNS; server on core $SERVER_CORE, wrk on core $LOAD_CORE; scheduling: $PRIORITY"
  echo "meta.ops=oidc-bff with METRICS_ADDRESS=127.0.0.1:$METRICS_PORT LOG_FORMAT=json (a second process, one at a time with the others)"
  echo "meta.machine_busy_before_pct=$(machine_busy_pct)"
  echo "meta.loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$RES"

start_idp 7200
export LOGIN_RATE_LIMIT=0
export ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release
# The defaults decide the log: text without the request log (ours), JSON with it (ops).
unset RUST_LOG LOG_FORMAT METRICS_ADDRESS STORE STORE_PATH
FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Accept: */*")
NAV=("Sec-Fetch-Mode: navigate" "Sec-Fetch-Dest: document" "Accept: text/html")
APP="http://127.0.0.1:$PORT" REF="http://127.0.0.1:$REF_PORT"
# The raw size of a cookie value: Rocket percent-encodes `/` (and `=`) in Set-Cookie, so the
# header carries three bytes for one; the reference's value is made as long once decoded.
decoded_len() { local v=${1//%??/_}; echo "${#v}"; }
SESSION_LEN='' SESSION_CHARS=''
# expect NAME STATUS: stops the run when a workload got another answer than the one measured.
expect() {
  local got
  got=$(sed -n "s/^$1\.status=//p" "$RES" | tail -1)
  [[ $got == "$2" ]] || die "$1 answered $got, not $2"
}

# bff NAME [ops|login]: oidc-bff on the server core and its three workloads; with `login`, the
# run's one login instead.
bff() {
  local name=$1 mode=${2:-} cookie
  local env=(STORE_PATH="$OUT/$name.redb" BASE_URL="http://localhost:$PORT" ROCKET_PORT="$PORT")
  if [[ $mode == ops ]]; then env+=(METRICS_ADDRESS="127.0.0.1:$METRICS_PORT" LOG_FORMAT=json); fi
  # `env` execs the app: the pid start_server records is the app's.
  start_server "$name" "$APP/healthz" env "${env[@]}" "$APP_BIN"
  if [[ $mode == login ]]; then
    # The Cookie header a browser sends to /api/hello and / (both: Path=/ cookies only). One
    # login for the run: every process shares SECRET, so the cookie stays valid, and ours, ops
    # and the reference's (minted to its length) carry equal headers in every round.
    session "http://localhost:$PORT" bff "$OUT/session.cookie"
    stop_pid "$SPID"
  fi
  cookie=$(cat "$OUT/session.cookie")
  [[ $cookie != *"; "* ]] || die "more than the session cookie for /api/hello: $(sed -E 's/=[^;]*//g' <<<"$cookie")"
  SESSION_LEN=$(decoded_len "${cookie#bff_session=}") SESSION_CHARS=$((${#cookie} - 12))
  echo "$name.cookie_header_bytes=${#cookie}" >>"$RES"
  echo "$name.session_value_bytes=$SESSION_LEN" >>"$RES"
  if [[ $mode == login ]]; then
    log "session cookie: $SESSION_LEN bytes of value, Cookie header ${#cookie} bytes"
    return
  fi
  measure "$name.auth" "$APP/api/hello" "${FETCH[@]}" "Cookie: $cookie"
  measure "$name.unauth" "$APP/api/hello" "${FETCH[@]}"
  measure "$name.page" "$APP/" "${NAV[@]}" "Cookie: $cookie"
  expect "$name.auth" 200 && expect "$name.unauth" 401 && expect "$name.page" 200
  if [[ $mode == ops ]]; then
    local counted lines
    counted=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk '/^oidc_bff_http_requests_total\{/ && /route="\/api\/hello"/ { s += $NF } END { print s + 0 }')
    echo "$name.hello_requests_counted=$counted" >>"$RES"
    ((counted > 0)) || die "metrics on, but /api/hello was not counted"
    stop_pid "$SPID"
    # One JSON line per request: keep the count and size, not the file (~100 MB a round).
    lines=$(grep -c '"request_id"' "$OUT/$name.log" || true)
    echo "$name.log_lines=$lines" >>"$RES"
    echo "$name.log_bytes=$(wc -c <"$OUT/$name.log")" >>"$RES"
    ((lines > 0)) || die "LOG_FORMAT=json, but no request was logged (see $OUT/$name.log)"
    if grep -q panicked "$OUT/$name.log"; then die "the app panicked (see $OUT/$name.log)"; fi
    : >"$OUT/$name.log"
  else
    stop_pid "$SPID"
  fi
}

# reference NAME: Rocket alone, a private cookie as large as our session's, its four workloads.
reference() {
  local name=$1 value
  ROCKET_PORT=$REF_PORT start_server "$name" "$REF/bare" "$REF_BIN"
  # As long as ours once decoded, and on the wire too: the count of percent-encoded bytes
  # varies with the random nonce, so mint until it matches (the closest after 200 tries).
  local v best='' off best_off=999999
  for _ in $(seq 200); do
    v=$(curl -s -D - -o /dev/null "$REF/mint?bytes=$SESSION_LEN" | tr -d '\r' \
      | sed -n 's/^[Ss]et-[Cc]ookie: bff_session=\([^;]*\).*/\1/p')
    [[ -n $v ]] || break
    off=$((${#v} - SESSION_CHARS)) && off=${off#-}
    if ((off < best_off)); then best=$v best_off=$off; fi
    if ((best_off == 0)); then break; fi
  done
  value=$best
  [[ -n $value ]] || die "the reference set no cookie"
  echo "$name.cookie_header_bytes=$((${#value} + 12))" >>"$RES"
  echo "$name.session_value_bytes=$(decoded_len "$value")" >>"$RES"
  measure "$name.bare" "$REF/bare" "${FETCH[@]}"
  measure "$name.private" "$REF/private" "${FETCH[@]}" "Cookie: bff_session=$value"
  measure "$name.unauth" "$REF/unauth" "${FETCH[@]}"
  measure "$name.guard401" "$REF/private" "${FETCH[@]}"
  expect "$name.bare" 200 && expect "$name.private" 200
  expect "$name.unauth" 401 && expect "$name.guard401" 401
  stop_pid "$SPID"
}

# The reference needs our session's size: one login first, untimed.
bff size login
RUN_START=$(date +%s)
for round in $(seq "$ROUNDS"); do
  case $((round % 3)) in
    1) order=(ref ours ops) ;;
    2) order=(ours ops ref) ;;
    0) order=(ops ref ours) ;;
  esac
  for which in "${order[@]}"; do
    log "round $round: $which"
    case $which in
      ref) reference "ref.r$round" ;;
      ours) bff "ours.r$round" ;;
      ops) bff "ops.r$round" ops ;;
    esac
  done
done
stop_all
rm -f "$OUT/oidc-bff" "$OUT/bff-reference" "$OUT"/*.redb
echo "meta.run_secs=$(($(date +%s) - RUN_START))" >>"$RES"
echo "meta.loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES"

# ratio A B: A / B to 3 places ("-" without B).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }
# verdict VALUE OP GOAL: "met" or "not met".
verdict() { awk -v v="$1" -v g="$3" -v op="$2" 'BEGIN { ok = (op == "<=") ? v <= g : v >= g; print (v == "-" ? "-" : ok ? "met" : "not met") }'; }
cpu() { figure "$1" "$2.server_cpu_us_per_req"; }

{
  echo "# oidc-bff next to Rocket alone ($RUN_ID)"
  echo
  echo '```'
  grep '^meta\.' "$RES"
  echo '```'
  echo
  echo "Session cookie: $(figure ours session_value_bytes) bytes of value (decoded), $(figure ours cookie_header_bytes) bytes of Cookie header to /api/hello and / (the reference's: $(figure ref session_value_bytes) and $(figure ref cookie_header_bytes))."
  echo
  echo "| median of $ROUNDS rounds | server CPU µs/req | req/s | p50 ms |"
  echo "|---|---:|---:|---:|"
  for w in ref.bare ref.private ref.unauth ref.guard401 ours.auth ours.unauth ours.page ops.auth ops.unauth ops.page; do
    echo "| $w | $(cpu "${w%%.*}" "${w#*.}") | $(figure "${w%%.*}" "${w#*.}.rps") | $(figure "${w%%.*}" "${w#*.}.p50_ms") |"
  done
  echo
  r401=$(ratio "$(cpu ours unauth)" "$(cpu ref unauth)")
  rauth=$(ratio "$(cpu ref private)" "$(cpu ours auth)")
  rpage=$(ratio "$(cpu ours page)" "$(cpu ours auth)")
  echo "| issue 23 (CPU per request, medians) | ratio | goal | |"
  echo "|---|---:|---:|---|"
  echo "| 401: ours / Rocket's 401 route (/unauth) | $r401 | ≤ 1.05 | $(verdict "$r401" '<=' 1.05) |"
  echo "| 401: ours / Rocket's guard + catcher 401 (/private, no cookie) | $(ratio "$(cpu ours unauth)" "$(cpu ref guard401)")| | |"
  echo "| authenticated: Rocket's private-cookie route / ours | $rauth | ≥ 0.9 | $(verdict "$rauth" '>=' 0.9) |"
  echo "| page / authenticated (ours) | $rpage | ≤ 1.1 | $(verdict "$rpage" '<=' 1.1) |"
  for w in auth unauth page; do
    echo "| metrics + JSON logs: ops / ours, $w | $(ratio "$(cpu ops "$w")" "$(cpu ours "$w")") | | +$(awk -v a="$(cpu ops "$w")" -v b="$(cpu ours "$w")" 'BEGIN { printf "%.1f", a - b }') µs |"
  done
  echo
  echo "Ops: JSON log $(figure ops log_bytes) bytes for $(figure ops log_lines) request lines per round (median); /api/hello counted by the metrics: $(figure ops hello_requests_counted)."
  echo "Status codes: $(grep -E '\.status=' "$RES" | sed -E 's/\.r[0-9]+\./ /' | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
  echo "Others on the server's core (median %): $(for w in ref.private ours.auth ops.auth; do printf '%s %s; ' "$w" "$(figure "${w%%.*}" "${w#*.}.core_others_pct")"; done)"
  echo
  echo "Per round (server CPU µs per request):"
  echo
  echo '```'
  grep -E '\.server_cpu_us_per_req=' "$RES" | grep -v '^warmup\.'
  echo '```'
  echo
  echo "Raw figures: \`bench/results/$RUN_ID/results.env\`."
} >"$OUT/summary.md"
cat "$OUT/summary.md"
