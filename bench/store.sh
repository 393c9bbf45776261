#!/usr/bin/env bash
# The embedded durable store (STORE=file, redb) against the memory store (STORE=memory), in one
# run (issue #19, "Measured"): authenticated GET /api/hello (req/s, server CPU per request,
# p99), server-bound logins (loadgen --split: logins/s, server CPU per login) and logouts
# (BENCH_LOGOUTS sessions made first, then all logged out by BENCH_LOGOUT_CONCURRENCY clients:
# POST /logout, Sec-Fetch-Site: same-origin, 303 expected; with the file store each answer
# waits for its revocation's durable group commit), alternated over several rounds (medians
# and file / memory ratios; every file run on a fresh STORE_PATH in the run's directory).
# Then the memory of ended sessions: one app per store in BENCH_ENDED_STORES with
# ENDED_SESSIONS_CAPACITY=1000000, BENCH_ENDED_SESSIONS sessions made (one user each, so
# MAX_SESSIONS_PER_USER ends none), VmRSS read, all of them logged out, VmRSS read again:
# the difference per 100,000 ended sessions, and the store file's size.
# Environment (all optional): BENCH_ROUNDS=3 BENCH_SECS=10 BENCH_WARMUP_SECS=2
#   BENCH_CONNECTIONS=32 BENCH_SPLIT_LOGINS=4000 BENCH_LOGOUTS=2000
#   BENCH_LOGOUT_CONCURRENCY=8 BENCH_ENDED_SESSIONS=100000 BENCH_ENDED_STORES="file memory"
#   BENCH_PORT_BASE=3330 BENCH_SKIP_BUILD=1 BENCH_APP_BIN=/path/to/oidc-bff
#   BENCH_SERVER_CORE=0 BENCH_LOAD_CORE=1 BENCH_PRIORITY=nice|rt|normal
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

LOGIN_CONC=8
SPLIT_LOGINS=${BENCH_SPLIT_LOGINS:-4000}
LOGOUTS=${BENCH_LOGOUTS:-2000}
LOGOUT_CONC=${BENCH_LOGOUT_CONCURRENCY:-8}
ENDED=${BENCH_ENDED_SESSIONS:-100000}
ENDED_STORES=${BENCH_ENDED_STORES:-file memory}
PORT_BASE=${BENCH_PORT_BASE:-3330}

start_run store-
ensure_wrk
prepare_binaries
[[ -x $LOADGEN ]] || die "no load generator at $LOADGEN (run without BENCH_SKIP_BUILD once)"

{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.commit=$COMMIT"
  echo "meta.settings=$ROUNDS rounds, ${SECS}s per wrk workload after ${WARMUP}s warm-up; wrk -t1 -c$CONNS; $SPLIT_LOGINS split logins on $CONNS connections; $LOGOUTS logouts from $LOGOUT_CONC connections (sessions made first on $CONNS); ended sessions: $ENDED ($ENDED_STORES); server on core $SERVER_CORE, wrk and the load generator on core $LOAD_CORE; scheduling: $PRIORITY"
  echo "meta.disk=$(df -T "$OUT" | awk 'NR == 2 { print $2 " on " $1 }')"
  echo "meta.machine_busy_before_pct=$(machine_busy_pct)"
} >>"$RES"

start_idp 3600
# The load generator logs in from one address, far past LOGIN_RATE_LIMIT.
export LOGIN_RATE_LIMIT=0
export ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release
FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Accept: */*")

# logouts PREFIX BASE N [LOADGEN OPTION...]: N sessions made, then all logged out (timed).
logouts() {
  local prefix=$1 base=$2 n=$3; shift 3
  on_core "$LOAD_CORE" "$LOADGEN" logout --app "$base" --app-kind bff --issuer "$ISSUER" \
    --client-id "$CLIENT_ID" --key "$KEY" --n "$n" --concurrency "$LOGOUT_CONC" \
    --login-concurrency "$CONNS" --signers 1 --threads 1 --server-pid "$SPID" \
    --prefix "$prefix" --out "$RES" "$@" >"$OUT/$prefix.out" 2>&1 \
    || die "$prefix failed: $(tail -3 "$OUT/$prefix.out")"
  log "$prefix: $(grep -E "\.(rps|p99_ms|server_cpu_us_per_logout|failed|still_accepted)=" "$OUT/$prefix.out" | tr '\n' ' ')"
}

# 5xx and panics in a server's log (the load generator counts other failures).
log_errors() {
  echo "$1.log_errors=$(grep -ciE 'panick|ERROR| 5[0-9][0-9] ' "$OUT/$1.log" || true)" >>"$RES"
}

# one_store NAME STORE: starts the app with that store (a fresh file for `file`) and runs the
# three workloads.
one_store() {
  local name=$1 store=$2 port=$PORT_BASE
  STORE=$store STORE_PATH="$OUT/$name.redb" BASE_URL="http://localhost:$port" ROCKET_PORT=$port \
    start_server "$name" "http://127.0.0.1:$port/healthz" "$APP_BIN"
  session "http://localhost:$port" bff "$OUT/$name.cookie"
  measure "$name.hello_auth" "http://127.0.0.1:$port/api/hello" "${FETCH[@]}" "Cookie: $(cat "$OUT/$name.cookie")"
  logins_split "$name.login_split" "http://localhost:$port" bff
  logouts "$name.logout" "http://localhost:$port" "$LOGOUTS"
  stop_pid "$SPID"
  log_errors "$name"
  if [[ $store == file ]]; then echo "$name.file_bytes=$(stat -c %s "$OUT/$name.redb")" >>"$RES"; fi
}

for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then order=(memory file); else order=(file memory); fi
  for store in "${order[@]}"; do
    log "round $round: $store"
    one_store "$store.r$round" "$store"
  done
done

# ---- memory per ended session ----
for store in $ENDED_STORES; do
  log "ended sessions ($store): $ENDED logins, then $ENDED logouts"
  port=$((PORT_BASE + 1)) name="ended.$store"
  STORE=$store STORE_PATH="$OUT/$name.redb" ENDED_SESSIONS_CAPACITY=1000000 \
    BASE_URL="http://localhost:$port" ROCKET_PORT=$port \
    start_server "$name" "http://127.0.0.1:$port/healthz" "$APP_BIN"
  logouts "$name" "http://localhost:$port" "$ENDED" --check 1000
  if [[ $store == file ]]; then echo "$name.file_bytes_running=$(stat -c %s "$OUT/$name.redb")" >>"$RES"; fi
  stop_pid "$SPID"
  log_errors "$name"
  if [[ $store == file ]]; then echo "$name.file_bytes=$(stat -c %s "$OUT/$name.redb")" >>"$RES"; fi
done
stop_all

# ---- report: medians over the rounds, and ratios file / memory ----
value() { sed -n "s/^$1=//p" "$RES" | tail -1; }
mib() { awk -v k="$1" 'BEGIN { if (k != "") printf "%.1f", k / 1024; else print "-" }'; }
{
  echo "# File store vs memory store ($RUN_ID)"
  echo
  echo '```'
  grep '^meta\.' "$RES"
  echo '```'
  echo
  echo "| workload (median of $ROUNDS rounds) | memory | file | file / memory |"
  echo "|---|---:|---:|---:|"
  for f in hello_auth.rps hello_auth.server_cpu_us_per_req hello_auth.p99_ms \
    login_split.rps login_split.server_cpu_us_per_login login_split.p99_ms \
    logout.rps logout.server_cpu_us_per_logout logout.p50_ms logout.p99_ms; do
    m=$(figure memory "$f") r=$(figure file "$f")
    echo "| $f | $m | $r | $(awk -v m="$m" -v r="$r" 'BEGIN { if (m > 0) printf "%.2f", r / m; else print "-" }') |"
  done
  echo
  echo "Every round (memory / file):"
  echo
  echo "| round | hello req/s | hello µs/req | hello p99 ms | logins/s | µs/login | logouts/s | µs/logout | logout p99 ms | core busy by others % (hello) |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for round in $(seq "$ROUNDS"); do
    row="| $round"
    for f in hello_auth.rps hello_auth.server_cpu_us_per_req hello_auth.p99_ms login_split.rps \
      login_split.server_cpu_us_per_login logout.rps logout.server_cpu_us_per_logout logout.p99_ms \
      hello_auth.core_others_pct; do
      row+=" | $(value "memory.r$round.$f") / $(value "file.r$round.$f")"
    done
    echo "$row |"
  done
  echo
  echo "Failures: hello non-2xx (memory / file, per round): $(for r in $(seq "$ROUNDS"); do printf '%s/%s ' "$(value "memory.r$r.hello_auth.non_2xx")" "$(value "file.r$r.hello_auth.non_2xx")"; done);"
  echo "failed split logins: $(for r in $(seq "$ROUNDS"); do printf '%s/%s ' "$(value "memory.r$r.login_split.failed")" "$(value "file.r$r.login_split.failed")"; done);"
  echo "failed logouts (5xx among them): $(for r in $(seq "$ROUNDS"); do printf '%s(%s)/%s(%s) ' "$(value "memory.r$r.logout.failed")" "$(value "memory.r$r.logout.server_errors")" "$(value "file.r$r.logout.failed")" "$(value "file.r$r.logout.server_errors")"; done);"
  echo "logged-out sessions still accepted (of those checked): $(for r in $(seq "$ROUNDS"); do printf '%s/%s ' "$(value "memory.r$r.logout.still_accepted")" "$(value "file.r$r.logout.still_accepted")"; done);"
  echo "error lines in the server logs: $(for r in $(seq "$ROUNDS"); do printf '%s/%s ' "$(value "memory.r$r.log_errors")" "$(value "file.r$r.log_errors")"; done)."
  echo "Store file after each file run (bytes): $(for r in $(seq "$ROUNDS"); do printf '%s ' "$(value "file.r$r.file_bytes")"; done)."
  echo
  echo "Memory of ended sessions (ENDED_SESSIONS_CAPACITY=1000000, $ENDED sessions of $ENDED users, logged out by $LOGOUT_CONC clients):"
  echo
  echo "| store | VmRSS before logins (MiB) | after $ENDED logins | after $ENDED logouts | logouts' growth per 100k (MiB) | logouts/s | µs/logout | failed | still accepted | store file (MiB) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for store in $ENDED_STORES; do
    p="ended.$store"
    b=$(value "$p.rss_before_logins_kib") l=$(value "$p.rss_after_logins_kib") o=$(value "$p.rss_after_logouts_kib")
    per=$(awk -v l="$l" -v o="$o" -v n="$ENDED" 'BEGIN { if (l != "" && o != "" && n > 0) printf "%.1f", (o - l) / 1024 * 100000 / n; else print "-" }')
    file=$(value "$p.file_bytes")
    echo "| $store | $(mib "$b") | $(mib "$l") | $(mib "$o") | $per | $(value "$p.rps") | $(value "$p.server_cpu_us_per_logout") | $(value "$p.failed") | $(value "$p.still_accepted")/$(value "$p.checked") | $([[ -n $file ]] && awk -v b="$file" 'BEGIN { printf "%.1f", b / 1048576 }' || echo -) |"
  done
  echo
  echo "Raw figures: \`bench/results/$RUN_ID/results.env\`."
} >"$OUT/summary.md"
cat "$OUT/summary.md"
log "summary in $OUT/summary.md"
