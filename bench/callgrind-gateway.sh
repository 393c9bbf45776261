#!/usr/bin/env bash
# Instructions per proxied call through the gateway and per login (valgrind callgrind), free
# of the shared machine's noise; the app-side companion of bench/gateway.sh. The app runs under
# callgrind with instrumentation off; each workload is warmed up, then counted between
# `callgrind_control -i on` and `-i off` and dumped. Only the app's own user-space
# instructions count: the upstream, the IdP and the clients are other processes.
#
#   bench/callgrind-gateway.sh BINARY NAME
#
# Workloads (id_token sessions at the bench IdP, which is also the upstream, as in gateway.sh):
#   hello     authenticated GET /api/hello (the request floor with a session, for reference)
#   proxied   GET /api/idp/.well-known/openid-configuration (policy user-or-none), one
#             keep-alive connection to the app (bench/callgrind_client.py)
#   login     id_token logins, `loadgen login --split` on one connection (the token is minted
#             by the load generator, so the count is the app's GET /login + POST /callback)
# With CODE=1, also at the development IdP (target-release or DEV_IDP_BIN), code flow:
#   code_login / code_token     client_secret_basic logins (bench/code_logins.py) and calls
#                               with the session's access token (policy user)
#   pkjwt_login / pkjwt_token   the same with private_key_jwt (P-256 key)
#
# Environment (optional): N=1000 LOGINS=200 CODE_LOGINS=50 BENCH_PORT_BASE=3394
#   BENCH_IDP_PORT=4494 CODE= DEV_IDP_BIN=target-release/release/dev-idp
# Prints "NAME WORKLOAD ok=… Ir_per_op=…"; callgrind files and logs in /tmp/callgrind-gw-NAME
# (callgrind_annotate them for the functions).
set -euo pipefail
BIN=$(realpath "$1") NAME=$2 N=${N:-1000} LOGINS=${LOGINS:-200} CODE_LOGINS=${CODE_LOGINS:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LOADGEN=$ROOT/bench/loadgen/target/release/bff-loadgen
[[ -x $LOADGEN ]] || (cd bench/loadgen && cargo build --release --quiet)
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
IDP=${BENCH_IDP_PORT:-4494} PORT=${BENCH_PORT_BASE:-3394} OUT=/tmp/callgrind-gw-$NAME
KEY=tests/support/keys/rsa-a.pem
rm -rf "$OUT" && mkdir -p "$OUT"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait' EXIT

# Refuses a port something already listens on: another engineer's server would answer.
port_free() { if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then echo "port $1 is in use" >&2; exit 1; fi; }
for p in "$IDP" $((IDP + 1)) "$PORT" $((PORT + 1)) $((PORT + 2)); do port_free "$p"; done
wait_for() { for _ in $(seq 300); do curl -fs "$1" >/dev/null 2>&1 && return; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }

# app TAG PORT: the app under callgrind (instrumentation off), with the environment set by the
# caller; APP is its pid.
app() {
  STORE_PATH=$OUT/$1.redb ROCKET_PORT=$2 BASE_URL=http://localhost:$2 \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/$1.cg.%p" "$BIN" \
    >"$OUT/$1.log" 2>&1 &
  APP=$!
  PIDS+=("$APP")
  wait_for "http://127.0.0.1:$2/healthz"
}

# count PID WORKLOAD OPS COMMAND...: COMMAND's instructions in the app, divided by OPS.
# Workload names are not numbers: callgrind_control would read a number as a pid.
count() {
  local pid=$1 w=$2 ops=$3 f= ir
  shift 3
  callgrind_control -z "$pid" >/dev/null 2>&1
  callgrind_control -i on "$pid" >/dev/null 2>&1
  "$@" >"$OUT/$w.ok" 2>"$OUT/$w.err"
  callgrind_control -i off "$pid" >/dev/null 2>&1
  callgrind_control -d "$w" "$pid" >/dev/null 2>&1
  for _ in $(seq 50); do
    f=$(grep -l "Trigger: dump $w\$" "$OUT"/*.cg."$pid".* 2>/dev/null | head -1 || true)
    [[ -n $f ]] && break
    sleep 0.2
  done
  ir=$(awk '/^totals:/ { print $2; exit }' "$f")
  echo "$NAME $w ok=$(tail -1 "$OUT/$w.ok" | tr -d ' ')/$ops Ir_per_op=$((ir / ops))"
}

split_logins() { # PORT COUNT: id_token logins, one connection, tokens minted between phases
  "$LOADGEN" login --app "http://localhost:$1" --app-kind bff --issuer "http://127.0.0.1:$IDP" \
    --client-id bench-client --key "$KEY" --concurrency 1 --split "$2" --warmup-secs 0 \
    --signers 1 --threads 1 --prefix login --out /dev/null | sed -n 's/^login\.ok=//p'
}

"$LOADGEN" idp --port "$IDP" --key "$KEY" --kid key-a --max-secs 1800 >"$OUT/idp.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$IDP/.well-known/openid-configuration"

# gateway.sh's configuration: the repo's Rocket.toml plus the upstream as API `idp`.
sed "s#^template_dir = \"templates\"#template_dir = \"$ROOT/templates\"#" Rocket.toml >"$OUT/Rocket.toml"
printf '\n[default.oidc.remote_apis]\nidp = { url = "http://127.0.0.1:%s", token = "user-or-none" }\n' "$IDP" >>"$OUT/Rocket.toml"
export LOGIN_RATE_LIMIT=0 SECRET=bench-only-secret-0123456789abcdef0123456789abcdef \
  ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release
ROCKET_CONFIG=$OUT/Rocket.toml ISSUER_BASE_URL=http://127.0.0.1:$IDP CLIENT_ID=bench-client app idtoken "$PORT"
ID_APP=$APP
"$LOADGEN" login --app "http://localhost:$PORT" --app-kind bff --issuer "http://127.0.0.1:$IDP" \
  --client-id bench-client --key "$KEY" --secs 0 --session-out "$OUT/cookie" >"$OUT/login.out" 2>&1
DOC=/api/idp/.well-known/openid-configuration
for w in hello proxied; do
  case $w in hello) P=/api/hello ;; proxied) P=$DOC ;; esac
  python3 bench/callgrind_client.py "$PORT" "$P" 200 "$OUT/cookie" >/dev/null
  count "$ID_APP" "$w" "$N" python3 bench/callgrind_client.py "$PORT" "$P" "$N" "$OUT/cookie"
done
split_logins "$PORT" 20 >/dev/null
count "$ID_APP" login "$LOGINS" split_logins "$PORT" "$LOGINS"

[[ -n ${CODE:-} ]] || exit 0
DEV_IDP_BIN=${DEV_IDP_BIN:-$ROOT/target-release/release/dev-idp}
DEV=$((IDP + 1)) CODE_PORT=$((PORT + 1)) PK_PORT=$((PORT + 2))
"$DEV_IDP_BIN" --port "$DEV" --access-token-ttl 3600 \
  --client "id=code,secret=code-secret,redirect_uri=http://localhost:$CODE_PORT/callback" \
  --client "id=pkjwt,jwks_uri=http://localhost:$PK_PORT/.well-known/jwks.json,redirect_uri=http://localhost:$PK_PORT/callback" \
  >"$OUT/dev-idp.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$DEV/.well-known/openid-configuration"
export ISSUER_BASE_URL=http://127.0.0.1:$DEV RESPONSE_TYPE=code PAR=never REMOTE_APIS="doc=http://127.0.0.1:$DEV"
CLIENT_ID=code CLIENT_SECRET=code-secret app code "$CODE_PORT"
CODE_APP=$APP
CLIENT_ID=pkjwt CLIENT_AUTH=private_key_jwt CLIENT_PRIVATE_KEY=$ROOT/tests/support/keys/ec-a.pem \
  app pkjwt "$PK_PORT"
PK_APP=$APP
DEV_DOC=/api/doc/.well-known/openid-configuration
for m in code pkjwt; do
  if [[ $m == code ]]; then pid=$CODE_APP port=$CODE_PORT; else pid=$PK_APP port=$PK_PORT; fi
  python3 bench/code_logins.py "http://localhost:$port" "http://127.0.0.1:$DEV" 5 "$OUT/$m.cookie" >/dev/null
  count "$pid" "${m}_login" "$CODE_LOGINS" python3 bench/code_logins.py "http://localhost:$port" \
    "http://127.0.0.1:$DEV" "$CODE_LOGINS" "$OUT/$m.cookie"
  python3 bench/callgrind_client.py "$port" "$DEV_DOC" 200 "$OUT/$m.cookie" >/dev/null
  count "$pid" "${m}_token" "$N" python3 bench/callgrind_client.py "$port" "$DEV_DOC" "$N" "$OUT/$m.cookie"
done
