#!/usr/bin/env bash
# Server CPU per login and per upstream call, plain vs FAPI 2.0 (issue "A FAPI 2.0-grade
# client"), in one run against the development IdP's binary:
#   plain: RESPONSE_TYPE=code, client_secret_basic, no PAR, Bearer tokens;
#   fapi:  RESPONSE_TYPE=code, private_key_jwt (P-256 key), PAR=always, DPOP=true.
# Logins are code flows through the IdP's sign-in form (bench/code_logins.py), the app's CPU
# read from /proc around each batch. Upstream calls go through the gateway with the session's
# token (Bearer, or DPoP with a proof) to the IdP's discovery document, which costs the same
# whatever the token, so the load is the same in both modes (the demo API, which checks DPoP
# proofs, is called once per round to prove the tokens work); wrk, CPU per request as in
# lib.sh's measure. The two apps run side by side on the server core, in alternating rounds.
# Environment (all optional): BENCH_ROUNDS=3 BENCH_LOGINS=500 BENCH_SECS=10 BENCH_WARMUP_SECS=2
#   BENCH_CONNECTIONS=8 BENCH_PORT_BASE=3390 BENCH_APP_BIN=… BENCH_IDP_BIN=… (release builds)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

LOGINS=${BENCH_LOGINS:-500}
CONNS=${BENCH_CONNECTIONS:-8}
PORT_BASE=${BENCH_PORT_BASE:-3390}
APP_BIN=${BENCH_APP_BIN:-$ROOT/target/release/oidc-bff}
IDP_BIN=${BENCH_IDP_BIN:-$ROOT/target/release/dev-idp}
[[ -x $APP_BIN && -x $IDP_BIN ]] || die "build first: cargo build --release -p oidc-bff -p dev-idp"

start_run fapi-server-
ensure_wrk
PLAIN_PORT=$PORT_BASE FAPI_PORT=$((PORT_BASE + 1)) IDP_PORT=$((PORT_BASE + 2))
IDP="http://127.0.0.1:$IDP_PORT"
{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.commit=$COMMIT"
  echo "meta.settings=$ROUNDS rounds of $LOGINS logins and ${SECS}s of wrk -c$CONNS per mode; apps on core $SERVER_CORE, IdP, logins and wrk on core $LOAD_CORE; scheduling: $PRIORITY"
  echo "meta.machine_busy_before_pct=$(machine_busy_pct)"
} >>"$RES"

port_free "$IDP_PORT"
"${PRIO[@]}" taskset -c "$LOAD_CORE" "$IDP_BIN" --port "$IDP_PORT" --access-token-ttl 3600 \
  --client "id=plain,secret=plain-secret,redirect_uri=http://localhost:$PLAIN_PORT/callback,post_logout_redirect_uri=http://localhost:$PLAIN_PORT/" \
  --client "id=fapi,jwks_uri=http://localhost:$FAPI_PORT/.well-known/jwks.json,redirect_uri=http://localhost:$FAPI_PORT/callback,post_logout_redirect_uri=http://localhost:$FAPI_PORT/" \
  >"$OUT/idp.log" 2>&1 &
STARTED_PIDS+=($!)
for _ in $(seq 100); do curl -fs "$IDP/.well-known/openid-configuration" >/dev/null && break; sleep 0.1; done

# The load generator logs in from one address, far past LOGIN_RATE_LIMIT.
export LOGIN_RATE_LIMIT=0
export ISSUER_BASE_URL=$IDP SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release RESPONSE_TYPE=code \
  REMOTE_APIS="demo=$IDP/demo-api,doc=$IDP"
CLIENT_ID=plain CLIENT_SECRET=plain-secret PAR=never BASE_URL="http://localhost:$PLAIN_PORT" \
  ROCKET_PORT=$PLAIN_PORT start_server plain "http://127.0.0.1:$PLAIN_PORT/healthz" "$APP_BIN"
PLAIN_PID=$SPID
CLIENT_ID=fapi CLIENT_AUTH=private_key_jwt CLIENT_PRIVATE_KEY="$ROOT/tests/support/keys/ec-a.pem" \
  PAR=always DPOP=true BASE_URL="http://localhost:$FAPI_PORT" \
  ROCKET_PORT=$FAPI_PORT start_server fapi "http://127.0.0.1:$FAPI_PORT/healthz" "$APP_BIN"
FAPI_PID=$SPID

# logins NAME PORT PID ROUND: a batch of code-flow logins; the app's CPU per login.
logins_batch() {
  local name=$1 port=$2 pid=$3 round=$4 t0 t1 ok
  t0=$(cpu_ticks "$pid")
  ok=$(on_core "$LOAD_CORE" python3 "$BENCH/code_logins.py" "http://localhost:$port" "$IDP" "$LOGINS" \
    "$OUT/$name.cookie") || die "$name: not every login succeeded ($ok of $LOGINS)"
  t1=$(cpu_ticks "$pid")
  echo "$name.r$round.logins=$ok" >>"$RES"
  echo "$name.r$round.server_cpu_us_per_login=$(awk -v a="$t0" -v b="$t1" -v n="$ok" 'BEGIN { printf "%.0f", (b - a) * 10000 / n }')" >>"$RES"
  log "$name round $round: $ok logins, $(grep "^$name.r$round.server_cpu_us_per_login=" "$RES" | cut -d= -f2) µs CPU per login"
}

FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Sec-Fetch-Site: same-origin" "Accept: application/json")
for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then order=(plain fapi); else order=(fapi plain); fi
  for mode in "${order[@]}"; do
    if [[ $mode == plain ]]; then port=$PLAIN_PORT pid=$PLAIN_PID; else port=$FAPI_PORT pid=$FAPI_PID; fi
    logins_batch "$mode" "$port" "$pid" "$round"
    [[ $(status_of "http://127.0.0.1:$port/api/demo/hello" "${FETCH[@]}" "Cookie: $(cat "$OUT/$mode.cookie")") == 200 ]] \
      || die "$mode: the demo API does not answer 200 through the gateway"
    SPID=$pid measure "$mode.r$round.call" "http://127.0.0.1:$port/api/doc/.well-known/openid-configuration" "${FETCH[@]}" \
      "Cookie: $(cat "$OUT/$mode.cookie")"
  done
done
stop_all

{
  echo "# Plain vs FAPI 2.0 client, server CPU ($RUN_ID)"
  echo
  echo '```'
  grep '^meta\.' "$RES"
  echo '```'
  echo
  echo "| median of $ROUNDS rounds | plain | FAPI (private_key_jwt ES256, PAR, DPoP) | FAPI / plain |"
  echo "|---|---:|---:|---:|"
  for f in server_cpu_us_per_login call.server_cpu_us_per_req call.rps call.p50_ms; do
    a=$(figure plain "$f") b=$(figure fapi "$f")
    echo "| $f | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }') |"
  done
  echo
  echo "A login here is /login (with PAR: the push, with its client assertion), the IdP's sign-in, and"
  echo "/callback (the token request with an assertion and a DPoP proof, ID token validation,"
  echo "UserInfo with a proof). A call is a GET through the gateway with the token (Bearer, or"
  echo "DPoP with a proof) of a document that costs the upstream the same either way. Raw figures:"
  echo "\`bench/results/$RUN_ID/results.env\`."
} >"$OUT/summary.md"
cat "$OUT/summary.md"
log "summary in $OUT/summary.md"
