#!/usr/bin/env bash
# Instructions per request (valgrind callgrind), free of the shared machine's noise: the app
# runs under callgrind with instrumentation off; for each workload (authenticated
# GET /api/hello, the same without a cookie, the start page with the cookie) 200 requests warm
# it up, then instrumentation is switched on for N requests on one keep-alive connection
# (bench/callgrind_client.py) and the counts dumped. See bench/README.md ("Profiles").
#
#   bench/callgrind.sh BINARY NAME      # e.g. bench/callgrind.sh /tmp/before/oidc-bff before
#   bench/callgrind.sh bench/reference/target/release/bff-reference rocket reference
#
# With `reference` the binary is the Rocket reference app (bench/reference): its bare route,
# its private-cookie route with a cookie of SESSION_BYTES (468: our session's value, decoded)
# minted by the app itself, its 401 route, and the private-cookie route without the cookie.
#
# Environment (optional): N=2000 BENCH_PORT_BASE=3370 BENCH_IDP_PORT=4460 SESSION_BYTES=468
# Prints "NAME WORKLOAD codes={...} Ir_per_req=..." per workload; output in /tmp/callgrind-NAME.
set -euo pipefail
BIN=$(realpath "$1") NAME=$2 KIND=${3:-app} N=${N:-2000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LOADGEN=$ROOT/bench/loadgen/target/release/bff-loadgen
[[ -x $LOADGEN ]] || (cd bench/loadgen && cargo build --release --quiet)
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
IDP=${BENCH_IDP_PORT:-4460} PORT=${BENCH_PORT_BASE:-3370} OUT=/tmp/callgrind-$NAME
rm -rf "$OUT" && mkdir -p "$OUT"
"$LOADGEN" idp --port "$IDP" --key tests/support/keys/rsa-a.pem --kid key-a --max-secs 600 >"$OUT/idp.log" 2>&1 &
IDP_PID=$!
sleep 0.5
export STORE_PATH=$OUT/store.redb LOGIN_RATE_LIMIT=0 ISSUER_BASE_URL=http://127.0.0.1:$IDP \
  CLIENT_ID=bench-client SECRET=bench-only-secret-0123456789abcdef0123456789abcdef \
  ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release ROCKET_PORT=$PORT BASE_URL=http://localhost:$PORT
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/cg.out.%p" "$BIN" >"$OUT/app.log" 2>&1 &
APP_PID=$!
trap 'kill $APP_PID $IDP_PID 2>/dev/null || true' EXIT
if [[ $KIND == reference ]]; then
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$PORT/bare" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -s -D - -o /dev/null "http://127.0.0.1:$PORT/mint?bytes=${SESSION_BYTES:-468}" | tr -d '\r' \
    | sed -n 's/^[Ss]et-[Cc]ookie: \(bff_session=[^;]*\).*/\1/p' >"$OUT/cookie"
  WORKLOADS=(bare private unauth guard401)
else
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
  "$LOADGEN" login --app "http://localhost:$PORT" --app-kind bff --issuer "http://127.0.0.1:$IDP" \
    --client-id bench-client --key tests/support/keys/rsa-a.pem --secs 0 --session-out "$OUT/cookie" \
    >"$OUT/login.out" 2>&1
  WORKLOADS=(auth unauth page)
fi
echo "$NAME cookie_bytes=$(wc -c <"$OUT/cookie")"
# Workload names are not numbers: callgrind_control would read a number as a pid.
for w in "${WORKLOADS[@]}"; do
  case $w in
    auth) P=/api/hello C=$OUT/cookie ;; unauth) P=/api/hello C= ;; page) P=/ C=$OUT/cookie ;;
    bare) P=/bare C= ;; private) P=/private C=$OUT/cookie ;; guard401) P=/private C= ;;
  esac
  if [[ $KIND == reference && $w == unauth ]]; then P=/unauth; fi
  python3 bench/callgrind_client.py "$PORT" "$P" 200 "$C" >/dev/null
  callgrind_control -z "$APP_PID" >/dev/null
  callgrind_control -i on "$APP_PID" >/dev/null
  python3 bench/callgrind_client.py "$PORT" "$P" "$N" "$C" >"$OUT/$w.codes"
  callgrind_control -i off "$APP_PID" >/dev/null
  callgrind_control -d "$w" "$APP_PID" >/dev/null
  f=
  for _ in $(seq 50); do
    f=$(grep -l "Trigger: dump $w\$" "$OUT"/cg.out."$APP_PID".* 2>/dev/null | head -1 || true)
    [[ -n $f ]] && break
    sleep 0.2
  done
  ir=$(awk '/^totals:/ { print $2; exit }' "$f")
  echo "$NAME $w codes=$(cat "$OUT/$w.codes") Ir_per_req=$((ir / N))"
done
