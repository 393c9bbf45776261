#!/usr/bin/env bash
# Server CPU per login, measured under load the same way for every flow (issue #23: "logins
# ≤ 150 µs of server CPU"): all GET /login timed, the IdP's part untimed, all POST /callback
# timed on BENCH_CONNECTIONS connections; the app's CPU read from /proc over the two timed steps.
#   id_token:     the ID token in the form_post, minted by the load generator (bench IdP)
#   code_basic:   RESPONSE_TYPE=code, client_secret_basic, at the development IdP (dev-idp)
#   code_pkjwt:   RESPONSE_TYPE=code, private_key_jwt (ES256, tests/support/keys/ec-a.pem),
#                 PAR=never, no DPoP: private_key_jwt alone
#   code_fapi:    as code_pkjwt with PAR=always and DPOP=true (BENCH_LOGIN_CASES to leave out)
# each with STORE=memory and with the store file (STORE_PATH in a fresh temporary directory).
# For the code flow the callback step includes the app's token request; the development IdP
# signs each ID token when it issues the code (the untimed step), so its token endpoint keeps
# up and the app runs near saturation (~6,000 code logins/s, memory store).
# Every measurement runs in its own app process (fresh store) and, for the code flow, with its
# own development IdP, in alternating order over the rounds.
# Environment (all optional): BENCH_ROUNDS=3 BENCH_SPLIT_LOGINS=8000 (id_token)
#   BENCH_CODE_LOGINS=2000 BENCH_CONNECTIONS=32 BENCH_PORT_BASE=3360 (app; +1 dev-idp)
#   BENCH_IDP_PORT=4410 BENCH_LOGIN_CASES="id_token code_basic code_pkjwt code_fapi"
#   BENCH_STORES="memory file" BENCH_APP_BIN=… BENCH_IDP_BIN=… (release builds)
#   BENCH_BASE_BIN=…: a second build of the app (before a change), measured in the same rounds,
#   alternating with BENCH_APP_BIN; the summary then gives both and their ratio.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

SPLIT_LOGINS=${BENCH_SPLIT_LOGINS:-8000}
CODE_LOGINS=${BENCH_CODE_LOGINS:-2000}
CASES=(${BENCH_LOGIN_CASES:-id_token code_basic code_pkjwt code_fapi})
STORES=(${BENCH_STORES:-memory file})
PORT=${BENCH_PORT_BASE:-3360}
DEV_IDP_PORT=$((PORT + 1))
DEV_IDP="http://127.0.0.1:$DEV_IDP_PORT"
APP_BIN=${BENCH_APP_BIN:-$ROOT/target/release/oidc-bff}
IDP_BIN=${BENCH_IDP_BIN:-$ROOT/target/release/dev-idp}
[[ -x $APP_BIN && -x $IDP_BIN ]] || die "build first: cargo build --release -p oidc-bff -p dev-idp"
# Always: a load generator built before `--flow code` existed would fail the code rows.
build_loadgen

start_run logins-
# Copies, so that a rebuild cannot change them mid-run.
declare -A BINS=([new]="$OUT/oidc-bff")
cp "$APP_BIN" "${BINS[new]}"
BUILDS=(new)
if [[ -n ${BENCH_BASE_BIN:-} ]]; then
  BINS[base]="$OUT/oidc-bff.base"
  cp "$BENCH_BASE_BIN" "${BINS[base]}"
  BUILDS=(base new)
fi
STORE_DIR=$(mktemp -d /tmp/bench-logins.XXXXXX)
trap 'stop_all; rm -rf "$STORE_DIR"' EXIT
{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.commit=$COMMIT"
  echo "meta.app_bin=new: $APP_BIN${BENCH_BASE_BIN:+, base: $BENCH_BASE_BIN}"
  echo "meta.settings=$ROUNDS rounds; cases ${CASES[*]} x stores ${STORES[*]}; $SPLIT_LOGINS id_token / $CODE_LOGINS code logins per measurement on $CONNS connections, after a warm-up; app on core $SERVER_CORE, IdPs and load generator on core $LOAD_CORE; scheduling: $PRIORITY"
  echo "meta.machine_busy_before_pct=$(machine_busy_pct)"
} >>"$RES"

start_idp 7200
# start_dev_idp NAME: a fresh development IdP for one measurement (DEV_IDP_PID): it keeps
# redeemed codes for 10 minutes in a table of 10,000, past which the newest codes would go
# first, so no instance serves more than one measurement's logins.
start_dev_idp() {
  port_free "$DEV_IDP_PORT"
  # Not through on_core: a function in the background leaves $! to a subshell, not the IdP.
  "${PRIO[@]}" taskset -c "$LOAD_CORE" "$IDP_BIN" --port "$DEV_IDP_PORT" --access-token-ttl 3600 \
    --client "id=basic,secret=basic-secret,redirect_uri=http://localhost:$PORT/callback" \
    --client "id=pkjwt,jwks_uri=http://localhost:$PORT/.well-known/jwks.json,redirect_uri=http://localhost:$PORT/callback" \
    >"$OUT/$1.dev-idp.log" 2>&1 &
  DEV_IDP_PID=$!
  STARTED_PIDS+=("$DEV_IDP_PID")
  for _ in $(seq 100); do curl -fs "$DEV_IDP/.well-known/openid-configuration" >/dev/null && return; sleep 0.1; done
  die "the development IdP did not start (see $OUT/$1.dev-idp.log)"
}

# The load generator logs in from one address, far past LOGIN_RATE_LIMIT; the development IdP
# has three accounts, so each has many sessions: MAX_SESSIONS_PER_USER above a run's logins per
# account, so that no login ends an older session (real users do not log in thousands of times).
export LOGIN_RATE_LIMIT=0 MAX_SESSIONS_PER_USER=5000
export SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release ROCKET_PORT=$PORT \
  BASE_URL="http://localhost:$PORT"
EC_KEY="$ROOT/tests/support/keys/ec-a.pem"

# case_env CASE: the app's settings for one case.
case_env() {
  case $1 in
    id_token) echo "ISSUER_BASE_URL=$ISSUER CLIENT_ID=$CLIENT_ID" ;;
    code_basic) echo "ISSUER_BASE_URL=$DEV_IDP RESPONSE_TYPE=code CLIENT_ID=basic CLIENT_SECRET=basic-secret CLIENT_AUTH=client_secret_basic PAR=never" ;;
    code_pkjwt) echo "ISSUER_BASE_URL=$DEV_IDP RESPONSE_TYPE=code CLIENT_ID=pkjwt CLIENT_AUTH=private_key_jwt CLIENT_PRIVATE_KEY=$EC_KEY PAR=never DPOP=false" ;;
    code_fapi) echo "ISSUER_BASE_URL=$DEV_IDP RESPONSE_TYPE=code CLIENT_ID=pkjwt CLIENT_AUTH=private_key_jwt CLIENT_PRIVATE_KEY=$EC_KEY PAR=always DPOP=true" ;;
    *) die "unknown case $1" ;;
  esac
}

# one NAME CASE STORE BUILD: a fresh app (and store), one measured split run, the app stopped.
one() {
  local name=$1 case=$2 store=$3 build=$4 path
  path=$(mktemp -d "$STORE_DIR/$name.XXXX")/store.redb
  [[ $case == id_token ]] || start_dev_idp "$name"
  # Through env(1): no case's settings stay for the next one.
  start_server "$name" "http://127.0.0.1:$PORT/healthz" \
    env $(case_env "$case") STORE="$store" STORE_PATH="$path" "${BINS[$build]}"
  if [[ $case == id_token ]]; then
    logins_split "$name" "http://localhost:$PORT" bff
  else
    on_core "$LOAD_CORE" "$LOADGEN" login --flow code --app "http://localhost:$PORT" \
      --split "$CODE_LOGINS" --warmup-logins 200 --concurrency "$CONNS" \
      --accounts alice:alice,bob:bob,carol:carol --server-pid "$SPID" --prefix "$name" \
      --out "$RES" >"$OUT/$name.out" 2>&1 || die "$name failed: $(tail -3 "$OUT/$name.out")"
    log "$name: $(grep -E "\.(rps|server_cpu_us_per_login|failed)=" "$OUT/$name.out" | tr '\n' ' ')"
  fi
  echo "$name.log_errors=$(grep -ciE 'panick|ERROR| 5[0-9][0-9] ' "$OUT/$name.log" || true)" >>"$RES"
  stop_pid "$SPID"
  [[ $case == id_token ]] || stop_pid "$DEV_IDP_PID"
  rm -rf "$(dirname "$path")"
}

runs=()
for c in "${CASES[@]}"; do
  for s in "${STORES[@]}"; do for b in "${BUILDS[@]}"; do runs+=("$c.$s.$b"); done; done
done
for round in $(seq "$ROUNDS"); do
  # Alternate: forward in odd rounds, backward in even ones (so builds swap order too).
  order=("${runs[@]}")
  if ! ((round % 2)); then order=(); for ((i = ${#runs[@]} - 1; i >= 0; i--)); do order+=("${runs[i]}"); done; fi
  for run in "${order[@]}"; do
    IFS=. read -r c s b <<<"$run"
    one "$run.r$round" "$c" "$s" "$b"
  done
done
stop_all

# fig CASE FIELD: figure(), or "-" for a case and store that were not measured.
fig() { if grep -qE "^$1\.r[0-9]+\.$2=" "$RES"; then figure "$1" "$2"; else echo -; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }'; }
# The load generator writes NAME.rps etc.; figure() reads CASE.r<n>.FIELD.
{
  echo "# Server CPU per login ($RUN_ID)"
  echo
  echo '```'
  grep '^meta\.' "$RES"
  echo '```'
  echo
  for b in "${BUILDS[@]}"; do
    echo "Build \`$b\`, median of $ROUNDS rounds:"
    echo
    echo "| case | µs/login memory | µs/login file | logins/s memory | logins/s file | server busy % memory | file | failed (all rounds) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for c in "${CASES[@]}"; do
      failed=$(grep -E "^$c\.[a-z]+\.$b\.r[0-9]+\.failed=" "$RES" | cut -d= -f2 | awk '{ s += $1 } END { print s + 0 }' || true)
      echo "| $c | $(fig "$c.memory.$b" server_cpu_us_per_login) | $(fig "$c.file.$b" server_cpu_us_per_login) | $(fig "$c.memory.$b" rps) | $(fig "$c.file.$b" rps) | $(fig "$c.memory.$b" server_cpu) | $(fig "$c.file.$b" server_cpu) | ${failed:-0} |"
    done
    echo
  done
  if ((${#BUILDS[@]} == 2)); then
    echo "new / base (µs per login; below 1 is better):"
    echo
    echo "| case | memory: base → new | ratio | file: base → new | ratio |"
    echo "|---|---:|---:|---:|---:|"
    for c in "${CASES[@]}"; do
      row="| $c"
      for s in memory file; do
        a=$(fig "$c.$s.base" server_cpu_us_per_login) n=$(fig "$c.$s.new" server_cpu_us_per_login)
        row+=" | $a → $n | $(ratio "${a/-/0}" "${n/-/0}")"
      done
      echo "$row |"
    done
    echo
  fi
  echo "Every round (µs per login, memory / file):"
  echo
  for c in "${CASES[@]}"; do
    for b in "${BUILDS[@]}"; do
      printf '%s (%s):' "$c" "$b"
      for round in $(seq "$ROUNDS"); do
        printf ' r%s %s / %s;' "$round" "$(sed -n "s/^$c.memory.$b.r$round.server_cpu_us_per_login=//p" "$RES")" \
          "$(sed -n "s/^$c.file.$b.r$round.server_cpu_us_per_login=//p" "$RES")"
      done
      echo
    done
  done
  echo
  echo "Error lines in the app logs: $(grep '\.log_errors=' "$RES" | cut -d= -f2 | awk '{ s += $1 } END { print s + 0 }'). Raw figures: \`bench/results/$RUN_ID/results.env\`."
} >"$OUT/summary.md"
cat "$OUT/summary.md"
log "summary in $OUT/summary.md"
