#!/usr/bin/env bash
# The gateway's cost (issue "the gateway a BFF is for"): GET of the same upstream document,
# directly and through the BFF's /api/<name>/… with a session (policy user-or-none), alternated
# over several rounds. Reports medians, the latency the BFF adds (p50, p99) and its CPU per
# proxied request; then the same through the Node peer (express-openid-connect with
# http-proxy-middleware, bench/peer) unless BENCH_SKIP_PEER is set or node is missing. The
# upstream is the bench IdP's discovery document (about 1 KB of JSON), served on the load core.
# Environment (all optional): BENCH_ROUNDS=4 BENCH_SECS=10 BENCH_WARMUP_SECS=2
#   BENCH_CONNECTIONS=32 BENCH_PORT_BASE=3360 BENCH_SKIP_BUILD=1 BENCH_APP_BIN=/path/to/oidc-bff
#   BENCH_SERVER_CORE=0 BENCH_LOAD_CORE=1 BENCH_PRIORITY=nice|rt|normal
# BENCH_TOKENS=1: the session is a code-flow one at the development IdP (dev-idp, release build,
#   on the load core), so calls carry tokens: `proxied` sends the session's own access token
#   (policy user) and `resource` a token obtained for the API's own `resource` (RFC 8707) with
#   the refresh token, kept with the session; no peer. Compares their CPU per call.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ROUNDS=${BENCH_ROUNDS:-4}
PORT=${BENCH_PORT_BASE:-3360}
PEER_PORT=$((PORT + 1))
PEER=1
TOKENS=${BENCH_TOKENS:-}
if [[ -n $TOKENS || -n ${BENCH_SKIP_PEER:-} ]] || ! command -v node >/dev/null; then
  PEER=
elif [[ ! -d $BENCH/peer/node_modules/http-proxy-middleware ]]; then
  log "installing the peer app's packages (npm ci)"
  (cd "$BENCH/peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed"
fi

start_run gateway-
ensure_wrk
prepare_binaries

{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.commit=$COMMIT"
  echo "meta.settings=$ROUNDS rounds, ${SECS}s per workload after ${WARMUP}s warm-up; wrk -t1 -c$CONNS; BFF on core $SERVER_CORE, upstream and wrk on core $LOAD_CORE; scheduling: $PRIORITY"
  echo "meta.machine_busy_before_pct=$(machine_busy_pct)"
} >>"$RES"

start_idp 3600
UPSTREAM_PID=${STARTED_PIDS[-1]}
taskset -pc "$LOAD_CORE" "$UPSTREAM_PID" >/dev/null
# The repo's Rocket.toml plus the remote API (ROCKET_CONFIG points the app at it).
# Rocket reads a relative template_dir from the config file's directory: made absolute.
sed "s#^template_dir = \"templates\"#template_dir = \"$ROOT/templates\"#" "$ROOT/Rocket.toml" >"$OUT/Rocket.toml"
if [[ -n $TOKENS ]]; then
  # The same upstream twice: with the session's token, and with the API's own.
  printf '\n[default.oidc.remote_apis]\nidp = { url = "%s", token = "user" }\nidpres = { url = "%s", token = "user", resource = "https://bench.example/api" }\n' \
    "$ISSUER" "$ISSUER" >>"$OUT/Rocket.toml"
else
  printf '\n[default.oidc.remote_apis]\nidp = { url = "%s", token = "user-or-none" }\n' "$ISSUER" >>"$OUT/Rocket.toml"
fi
# The load generator logs in from one address, far past LOGIN_RATE_LIMIT.
export LOGIN_RATE_LIMIT=0
export ROCKET_CONFIG="$OUT/Rocket.toml" ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET \
  ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release BASE_URL="http://localhost:$PORT" ROCKET_PORT=$PORT
if [[ -n $TOKENS ]]; then
  DEV_IDP_PORT=$((IDP_PORT + 1))
  DEV_IDP_BIN="$ROOT/target/release/dev-idp"
  if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    (cd "$ROOT" && cargo build --release --quiet -p dev-idp) || die "dev-idp build failed"
  fi
  port_free "$DEV_IDP_PORT"
  DEV_IDP_ACCESS_TOKEN_TTL=3600 taskset -c "$LOAD_CORE" "$DEV_IDP_BIN" --port "$DEV_IDP_PORT" \
    --client "id=bench-code,secret=bench-code-secret,redirect_uri=http://localhost:$PORT/callback" \
    >"$OUT/dev-idp.log" 2>&1 &
  STARTED_PIDS+=($!)
  for _ in $(seq 200); do
    curl -fs "http://127.0.0.1:$DEV_IDP_PORT/.well-known/openid-configuration" >/dev/null 2>&1 && break
    sleep 0.05
  done
  export ISSUER_BASE_URL="http://127.0.0.1:$DEV_IDP_PORT" CLIENT_ID=bench-code \
    CLIENT_SECRET=bench-code-secret RESPONSE_TYPE=code
  echo "meta.tokens=code-flow session at dev-idp; proxied: the session's access token; resource: the API's own token (resource)" >>"$RES"
fi
FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Accept: application/json")
DOC=".well-known/openid-configuration"

# code_session BASE FILE: one code-flow login at dev-idp as alice, with curl; FILE gets the
# Cookie header value.
code_session() {
  local base=$1 jar="$OUT/code.jar" page action fields
  rm -f "$jar"
  local authorize
  authorize=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$base/login?returnTo=%2F")
  page=$(curl -s -c "$jar" -b "$jar" "$authorize")
  action=$(grep -o '<form[^>]*method="post"[^>]*action="[^"]*"' <<<"$page" | head -1 | sed -E 's/.*action="([^"]*)".*/\1/; s/&amp;/\&/g')
  [[ $action == /* ]] && action="$ISSUER_BASE_URL$action"
  fields=()
  while IFS=$'\t' read -r name value; do fields+=(--data-urlencode "$name=$value"); done < <(
    grep -o '<input type="hidden" name="[^"]*" value="[^"]*"' <<<"$page" | sed -E 's/.*name="([^"]*)" value="([^"]*)"/\1\t\2/')
  page=$(curl -s -c "$jar" -b "$jar" "${fields[@]}" --data-urlencode username=alice --data-urlencode password=alice --data-urlencode action=sign_in "$action")
  fields=()
  while IFS=$'\t' read -r name value; do fields+=(--data-urlencode "$name=$value"); done < <(
    grep -o '<input type="hidden" name="[^"]*" value="[^"]*"' <<<"$page" | sed -E 's/.*name="([^"]*)" value="([^"]*)"/\1\t\2/')
  curl -s -c "$jar" -b "$jar" -o /dev/null "${fields[@]}" "$base/callback"
  awk '$6 == "bff_session" { print "bff_session=" $7 }' "$jar" >"$2"
  [[ -s $2 ]] || die "code-flow login to $base failed"
}

start_server bff "http://127.0.0.1:$PORT/healthz" "$APP_BIN"
BFF_PID=$SPID
if [[ -n $TOKENS ]]; then
  code_session "http://localhost:$PORT" "$OUT/bff.cookie"
else
  session "http://localhost:$PORT" bff "$OUT/bff.cookie"
fi
COOKIE="Cookie: $(cat "$OUT/bff.cookie")"
[[ $(status_of "http://127.0.0.1:$PORT/api/idp/$DOC" "${FETCH[@]}" "$COOKIE") == 200 ]] \
  || die "the proxied document does not answer 200"

MODES=(direct proxied)
if [[ -n $TOKENS ]]; then
  [[ $(status_of "http://127.0.0.1:$PORT/api/idpres/$DOC" "${FETCH[@]}" "$COOKIE") == 200 ]] \
    || die "the document through the API with a resource does not answer 200"
  MODES+=(resource)
fi
if [[ -n $PEER ]]; then
  (
    cd "$BENCH/peer"
    REMOTE_API_URL=$ISSUER PORT=$PEER_PORT NODE_ENV=production \
      start_server peer "http://127.0.0.1:$PEER_PORT/healthz" node server.js
    echo "$SPID" >"$OUT/peer.pid"
  )
  PEER_PID=$(cat "$OUT/peer.pid")
  STARTED_PIDS+=("$PEER_PID")
  session "http://localhost:$PEER_PORT" express "$OUT/peer.cookie"
  PEER_COOKIE="Cookie: $(cat "$OUT/peer.cookie")"
  [[ $(status_of "http://127.0.0.1:$PEER_PORT/api/idp/$DOC" "${FETCH[@]}" "$PEER_COOKIE") == 200 ]] \
    || die "the peer's proxied document does not answer 200"
  echo "meta.peer=express-openid-connect $(node -p "require('$BENCH/peer/node_modules/express-openid-connect/package.json').version"), http-proxy-middleware $(node -p "require('$BENCH/peer/node_modules/http-proxy-middleware/package.json').version"), node $(node --version)" >>"$RES"
  MODES+=(peer)
fi

for round in $(seq "$ROUNDS"); do
  order=("${MODES[@]}")
  if ((round % 2 == 0)); then order=($(printf '%s\n' "${MODES[@]}" | tac)); fi
  for mode in "${order[@]}"; do
    log "round $round: $mode"
    # Each twice: saturated (CONNS connections: throughput, CPU) and with one connection (the
    # latency a single request sees, without queueing).
    for conns in "$CONNS" 1; do
      suffix=
      if [[ $conns == 1 ]]; then suffix=_c1; fi
      if [[ $mode == direct ]]; then
        CONNS=$conns SPID=$UPSTREAM_PID measure "direct$suffix.r$round" "$ISSUER/$DOC" "${FETCH[@]}"
      elif [[ $mode == resource ]]; then
        CONNS=$conns SPID=$BFF_PID measure "resource$suffix.r$round" "http://127.0.0.1:$PORT/api/idpres/$DOC" "${FETCH[@]}" "$COOKIE"
      elif [[ $mode == peer ]]; then
        CONNS=$conns SPID=$PEER_PID measure "peer$suffix.r$round" "http://127.0.0.1:$PEER_PORT/api/idp/$DOC" "${FETCH[@]}" "$PEER_COOKIE"
      else
        CONNS=$conns SPID=$BFF_PID measure "proxied$suffix.r$round" "http://127.0.0.1:$PORT/api/idp/$DOC" "${FETCH[@]}" "$COOKIE"
      fi
    done
  done
done
echo "bff.vm_hwm_mib=$(status_mib "$BFF_PID" VmHWM)" >>"$RES"
stop_all

{
  echo "# Direct vs through the gateway ($RUN_ID)"
  echo
  echo '```'
  grep '^meta\.' "$RES"
  echo '```'
  echo
  echo "| GET of the upstream document (median of $ROUNDS rounds) | direct | proxied | proxied − direct |"
  echo "|---|---:|---:|---:|"
  for f in rps p50_ms p99_ms; do
    a=$(figure direct "$f") b=$(figure proxied "$f")
    echo "| $f | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b - a }') |"
  done
  echo "| server CPU µs per request (upstream for direct, BFF only for proxied) | $(figure direct server_cpu_us_per_req) | $(figure proxied server_cpu_us_per_req) | |"
  for f in p50_ms p99_ms; do
    a=$(figure direct_c1 "$f") b=$(figure proxied_c1 "$f")
    echo "| $f, one connection | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b - a }') |"
  done
  if [[ -n $TOKENS ]]; then
    echo
    echo "| the API's own token (resource) vs the session's (median of $ROUNDS rounds) | session's token | API's own token | own / session's |"
    echo "|---|---:|---:|---:|"
    for f in rps server_cpu_us_per_req p50_ms p99_ms; do
      a=$(figure proxied "$f") b=$(figure resource "$f")
      echo "| $f | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "-" }') |"
    done
    for c in "" _c1; do
      d=$(figure "direct$c" p50_ms)
      echo "| added p50 over direct${c:+, one connection} (ms) | $(awk -v a="$(figure "proxied$c" p50_ms)" -v d="$d" 'BEGIN { printf "%.3f", a - d }') | $(awk -v a="$(figure "resource$c" p50_ms)" -v d="$d" 'BEGIN { printf "%.3f", a - d }') | |"
    done
  fi
  if [[ -n $PEER ]]; then
    echo
    echo "| through the gateway (median of $ROUNDS rounds) | oidc-bff | Node peer | oidc-bff / peer |"
    echo "|---|---:|---:|---:|"
    for f in rps server_cpu_us_per_req p50_ms p99_ms; do
      a=$(figure proxied "$f") b=$(figure peer "$f")
      echo "| $f | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }') |"
    done
    echo "| added p50 over direct, saturated (ms) | $(awk -v a="$(figure proxied p50_ms)" -v d="$(figure direct p50_ms)" 'BEGIN { printf "%.3f", a - d }') | $(awk -v a="$(figure peer p50_ms)" -v d="$(figure direct p50_ms)" 'BEGIN { printf "%.3f", a - d }') | |"
    echo "| added p50 over direct, one connection (ms) | $(awk -v a="$(figure proxied_c1 p50_ms)" -v d="$(figure direct_c1 p50_ms)" 'BEGIN { printf "%.3f", a - d }') | $(awk -v a="$(figure peer_c1 p50_ms)" -v d="$(figure direct_c1 p50_ms)" 'BEGIN { printf "%.3f", a - d }') | |"
  fi
  echo
  echo "Raw figures: \`bench/results/$RUN_ID/results.env\`."
} >"$OUT/summary.md"
cat "$OUT/summary.md"
log "summary in $OUT/summary.md"
