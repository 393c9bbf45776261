#!/usr/bin/env bash
# One-command benchmark of oidc-bff against its floor route and against express-openid-connect.
# See bench/README.md. Environment (all optional):
#   BENCH_SECS=10 BENCH_WARMUP_SECS=2 BENCH_CONNECTIONS=32 BENCH_LOGIN_CONCURRENCY=8
#   BENCH_SPLIT_LOGINS=8000
#   BENCH_SERVER_CORE=0 BENCH_LOAD_CORE=1 BENCH_PRIORITY=nice|rt|normal
#   BENCH_PORT_BASE=3310 (app, +1 express, +2 floor) BENCH_IDP_PORT=4410
#   BENCH_SKIP_BUILD=1 BENCH_SKIP_PEER=1
#   BENCH_APP_BIN=/path/to/oidc-bff (skip the app build and use this binary)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# The app reads Rocket.toml, templates/ and public/ from its working directory.
cd "$ROOT"

SECS=${BENCH_SECS:-10}
WARMUP=${BENCH_WARMUP_SECS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
LOGIN_CONC=${BENCH_LOGIN_CONCURRENCY:-8}
# Logins of the server-bound login measurement (each token takes ~1 ms to mint, untimed).
SPLIT_LOGINS=${BENCH_SPLIT_LOGINS:-8000}
PORT_BASE=${BENCH_PORT_BASE:-3310}
OURS_PORT=$PORT_BASE PEER_PORT=$((PORT_BASE + 1)) FLOOR_PORT=$((PORT_BASE + 2))

start_run

# ---------------------------------------------------------------- build (not timed) ----------
ensure_wrk
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
if [[ -n ${BENCH_APP_BIN:-} ]]; then
  APP_BIN=$BENCH_APP_BIN
elif [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  build_app
else
  APP_BIN="$ROOT/target/release/oidc-bff"
fi
# The floor binary is only needed while the app has no `GET /healthz` of its own.
NEED_FLOOR_BIN=$(grep -rqs 'get("/healthz")' "$ROOT/src" || echo 1)
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  build_loadgen
  if [[ -n $NEED_FLOOR_BIN ]]; then
    log "building the floor binary (bench/floor: the app plus GET /healthz)"
    (cd "$BENCH/floor" && CARGO_TARGET_DIR="$ROOT/target" cargo build --release --quiet) \
      || die "floor build failed"
  fi
fi
FLOOR_BIN="$ROOT/target/release/bff-floor"
# Copies, so that another build in the checkout cannot swap a binary mid-run.
cp "$APP_BIN" "$OUT/oidc-bff" && APP_BIN="$OUT/oidc-bff"
if [[ -x $FLOOR_BIN ]]; then cp "$FLOOR_BIN" "$OUT/bff-floor" && FLOOR_BIN="$OUT/bff-floor"; fi

PEER=1
if [[ -n ${BENCH_SKIP_PEER:-} ]] || ! command -v node >/dev/null; then
  PEER=
  log "skipping express-openid-connect (BENCH_SKIP_PEER set or node missing)"
elif [[ ! -d $BENCH/peer/node_modules/express-openid-connect ]]; then
  log "installing the peer app's packages (npm ci)"
  (cd "$BENCH/peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed"
fi

# ---------------------------------------------------------------- facts ----------------------
BUSY_BEFORE=$(machine_busy_pct)
{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.commit=$COMMIT"
  echo "meta.nproc=$(nproc)"
  echo "meta.cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "meta.kernel=$(uname -r)"
  echo "meta.rustc=$(rustc --version)"
  echo "meta.node=$(node --version 2>/dev/null || echo none)"
  echo "meta.peer=express $(node -p "require('$BENCH/peer/node_modules/express/package.json').version" 2>/dev/null), express-openid-connect $(node -p "require('$BENCH/peer/node_modules/express-openid-connect/package.json').version" 2>/dev/null)"
  echo "meta.wrk=$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')"
  echo "meta.settings=${SECS}s per workload after ${WARMUP}s warm-up; wrk -t1 -c$CONNS; logins with $LOGIN_CONC connections; server on core $SERVER_CORE, load generator on core $LOAD_CORE; scheduling: $PRIORITY"
  echo "meta.machine_busy_before_pct=$BUSY_BEFORE"
} >>"$RES"
if ((BUSY_BEFORE > 15)); then
  log "warning: the machine was ${BUSY_BEFORE}% busy before the run (other builds?); figures will be low and noisy"
fi
RUN_START=$(date +%s)

# ---------------------------------------------------------------- measuring ------------------
# measure NAME URL [HEADER...]: wrk on the load core; records rps, p50, p99, requests, the
# server's CPU per request and what else ran on the server's core.
measure() {
  local name=$1 url=$2; shift 2
  local args=() h
  for h in "$@"; do args+=(-H "$h"); done
  echo "$name.status=$(status_of "$url" "$@")" >>"$RES"
  on_core "$LOAD_CORE" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${args[@]}" "$url" >/dev/null
  local t0 c0 c1 t1
  t0=$(cpu_ticks "$SPID"); c0=($(core_jiffies "cpu$SERVER_CORE"))
  on_core "$LOAD_CORE" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "${args[@]}" "$url" >"$OUT/$name.wrk"
  t1=$(cpu_ticks "$SPID"); c1=($(core_jiffies "cpu$SERVER_CORE"))
  awk -v n="$name" -v t0="$t0" -v t1="$t1" -v b0="${c0[0]}" -v a0="${c0[1]}" -v b1="${c1[0]}" -v a1="${c1[1]}" '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000
      return v
    }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { reqs = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { sockerr = $0; sub(/^ *Socket errors: */, "", sockerr) }
    END {
      printf "%s.rps=%.1f\n%s.p50_ms=%.3f\n%s.p99_ms=%.3f\n%s.requests=%d\n", n, rps, n, p50, n, p99, n, reqs
      printf "%s.non_2xx=%d\n", n, non2xx
      if (sockerr != "") printf "%s.socket_errors=%s\n", n, sockerr
      if (reqs > 0) printf "%s.server_cpu_us_per_req=%.1f\n", n, (t1 - t0) * 10000 / reqs
      if (a1 > a0) printf "%s.core_busy_pct=%.0f\n%s.core_others_pct=%.0f\n", n, 100 * (b1 - b0) / (a1 - a0), n, 100 * ((b1 - b0) - (t1 - t0)) / (a1 - a0)
    }' "$OUT/$name.wrk" >>"$RES"
  log "$name: $(grep -E "^$name\.(rps|p50_ms|p99_ms|status)=" "$RES" | tr '\n' ' ')"
}

# logins PREFIX BASE KIND: the login workload through the load generator.
logins() {
  local prefix=$1 base=$2 kind=$3
  on_core "$LOAD_CORE" "$LOADGEN" login --app "$base" --app-kind "$kind" --issuer "$ISSUER" \
    --client-id "$CLIENT_ID" --key "$KEY" --concurrency "$LOGIN_CONC" --secs "$SECS" \
    --warmup-secs "$WARMUP" --signers 1 --threads 1 --server-pid "$SPID" --prefix "$prefix" \
    --out "$RES" >"$OUT/$prefix.out" 2>&1 || die "$prefix failed: $(tail -3 "$OUT/$prefix.out")"
  log "$prefix: $(grep -E "\.(rps|p50_ms|p99_ms|server_cpu|loadgen_cpu)=" "$OUT/$prefix.out" | tr '\n' ' ')"
}

# logins_split PREFIX BASE KIND: the server's own login capacity (loadgen --split: all
# GET /login timed, tokens minted untimed, all POST /callback timed), since one core of RS256
# signing cannot keep a fast server busy in the pipelined run.
logins_split() {
  local prefix=$1 base=$2 kind=$3
  on_core "$LOAD_CORE" "$LOADGEN" login --app "$base" --app-kind "$kind" --issuer "$ISSUER" \
    --client-id "$CLIENT_ID" --key "$KEY" --concurrency "$CONNS" --split "$SPLIT_LOGINS" \
    --warmup-secs 1 --signers 1 --threads 1 --server-pid "$SPID" --prefix "$prefix" \
    --out "$RES" >"$OUT/$prefix.out" 2>&1 || die "$prefix failed: $(tail -3 "$OUT/$prefix.out")"
  log "$prefix: $(grep -E "\.(rps|server_cpu_us_per_login)=" "$OUT/$prefix.out" | tr '\n' ' ')"
}

# session BASE KIND FILE: one real login; FILE gets the Cookie header value.
session() {
  "$LOADGEN" login --app "$1" --app-kind "$2" --issuer "$ISSUER" --client-id "$CLIENT_ID" \
    --key "$KEY" --secs 0 --session-out "$3" >>"$OUT/sessions.out" 2>&1 \
    || die "login to $1 failed: $(tail -3 "$OUT/sessions.out")"
}

FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Accept: */*")

start_idp 1800
export ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release

# ---- oidc-bff ----
log "oidc-bff"
BASE_URL="http://localhost:$OURS_PORT" ROCKET_PORT=$OURS_PORT \
  start_server ours "http://127.0.0.1:$OURS_PORT/static/style.css" "$APP_BIN"
session "http://localhost:$OURS_PORT" bff "$OUT/ours.cookie"
OURS_COOKIE="Cookie: $(cat "$OUT/ours.cookie")"
APP_HAS_HEALTHZ=$([[ $(status_of "http://127.0.0.1:$OURS_PORT/healthz") == 200 ]] && echo 1 || true)
measure ours.hello_auth "http://127.0.0.1:$OURS_PORT/api/hello" "${FETCH[@]}" "$OURS_COOKIE"
measure ours.hello_401 "http://127.0.0.1:$OURS_PORT/api/hello" "${FETCH[@]}"
if [[ -n $APP_HAS_HEALTHZ ]]; then
  echo "note.floor=floor: the app's own GET /healthz" >>"$RES"
  measure floor.cookie "http://127.0.0.1:$OURS_PORT/healthz" "${FETCH[@]}" "$OURS_COOKIE"
  measure floor.nocookie "http://127.0.0.1:$OURS_PORT/healthz"
fi
logins ours.login "http://localhost:$OURS_PORT" bff
logins_split ours.login_split "http://localhost:$OURS_PORT" bff
echo "ours.rss_peak_mib=$(status_mib "$SPID" VmHWM)" >>"$RES"
echo "ours.rss_end_mib=$(status_mib "$SPID" VmRSS)" >>"$RES"
stop_pid "$SPID"

# ---- floor: the same app plus GET /healthz (until the app has its own) ----
if [[ -z $APP_HAS_HEALTHZ ]]; then
  [[ -x $FLOOR_BIN ]] || die "the app has no GET /healthz and bench/floor is not built"
  log "floor (bench/floor: oidc_bff::build() plus GET /healthz)"
  echo "note.floor=floor: GET /healthz (plain 'ok', no guard) mounted on oidc_bff::build() by bench/floor; the app has no auth-free route of its own" >>"$RES"
  BASE_URL="http://localhost:$FLOOR_PORT" ROCKET_PORT=$FLOOR_PORT \
    start_server floor "http://127.0.0.1:$FLOOR_PORT/healthz" "$FLOOR_BIN"
  measure floor.cookie "http://127.0.0.1:$FLOOR_PORT/healthz" "${FETCH[@]}" "$OURS_COOKIE"
  measure floor.nocookie "http://127.0.0.1:$FLOOR_PORT/healthz"
  echo "floor.rss_peak_mib=$(status_mib "$SPID" VmHWM)" >>"$RES"
  stop_pid "$SPID"
fi

# ---- express-openid-connect ----
if [[ -n $PEER ]]; then
  log "express-openid-connect"
  (
    cd "$BENCH/peer"
    PORT=$PEER_PORT NODE_ENV=production start_server peer "http://127.0.0.1:$PEER_PORT/healthz" node server.js
    echo "$SPID" >"$OUT/peer.pid"
  )
  SPID=$(cat "$OUT/peer.pid")
  STARTED_PIDS+=("$SPID")
  session "http://localhost:$PEER_PORT" express "$OUT/peer.cookie"
  PEER_COOKIE="Cookie: $(cat "$OUT/peer.cookie")"
  measure peer.hello_auth "http://127.0.0.1:$PEER_PORT/api/hello" "${FETCH[@]}" "$PEER_COOKIE"
  measure peer.hello_401 "http://127.0.0.1:$PEER_PORT/api/hello" "${FETCH[@]}"
  measure peer.floor_cookie "http://127.0.0.1:$PEER_PORT/healthz" "${FETCH[@]}" "$PEER_COOKIE"
  measure peer.floor_nocookie "http://127.0.0.1:$PEER_PORT/healthz"
  logins peer.login "http://localhost:$PEER_PORT" express
  logins_split peer.login_split "http://localhost:$PEER_PORT" express
  echo "peer.rss_peak_mib=$(status_mib "$SPID" VmHWM)" >>"$RES"
  echo "peer.rss_end_mib=$(status_mib "$SPID" VmRSS)" >>"$RES"
  stop_pid "$SPID"
fi

stop_all
rm -f "$OUT/oidc-bff" "$OUT/bff-floor" # copies made for the run only
echo "meta.run_secs=$(($(date +%s) - RUN_START))" >>"$RES"
echo "meta.loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES"

# ---------------------------------------------------------------- report ---------------------
DAY=$(date -u +%Y-%m-%d)
SUMMARY="$BENCH/results/$DAY.md"
{
  echo "# Benchmark run $RUN_ID"
  echo
  echo '```'
  grep '^meta\.' "$RES"
  echo '```'
  echo
  "$LOADGEN" report "$RES"
  echo
  echo "Raw figures (\`bench/results/$RUN_ID/results.env\`):"
  echo
  echo '```'
  grep -v '^meta\.' "$RES"
  echo '```'
} >"$SUMMARY"
cp "$SUMMARY" "$OUT/summary.md"
echo
"$LOADGEN" report "$RES"
echo
log "raw output in $OUT; summary in $SUMMARY"
