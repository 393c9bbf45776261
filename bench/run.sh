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
FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Accept: */*")

start_idp 1800
# The load generator logs in from one address, far past LOGIN_RATE_LIMIT.
export LOGIN_RATE_LIMIT=0
export ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release

# ---- oidc-bff ----
log "oidc-bff"
BASE_URL="http://localhost:$OURS_PORT" ROCKET_PORT=$OURS_PORT \
  start_server ours "http://127.0.0.1:$OURS_PORT/static/style.css" "$APP_BIN"
session "http://localhost:$OURS_PORT" bff "$OUT/ours.cookie"
OURS_COOKIE="Cookie: $(cat "$OUT/ours.cookie")"
echo "ours.cookie_bytes=$(wc -c <"$OUT/ours.cookie")" >>"$RES"
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
  echo "peer.cookie_bytes=$(wc -c <"$OUT/peer.cookie")" >>"$RES"
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
log "session cookie sent to /api/hello and /: $(grep '^ours.cookie_bytes=' "$RES" | cut -d= -f2) bytes of Cookie header"
log "raw output in $OUT; summary in $SUMMARY"
