# Helpers shared by the bench scripts (sourced, not run).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
LOADGEN="$BENCH/loadgen/target/release/bff-loadgen"
KEY="$ROOT/tests/support/keys/rsa-a.pem"
# Away from 3000/4000, which the end-to-end tests of the same checkout use.
IDP_PORT=${BENCH_IDP_PORT:-4410}
ISSUER="http://127.0.0.1:$IDP_PORT"
CLIENT_ID=bench-client
# Fixed so that a session cookie stays valid across the app's restarts within one run.
SECRET=${BENCH_SECRET:-bench-only-secret-0123456789abcdef0123456789abcdef}
SERVER_CORE=${BENCH_SERVER_CORE:-0}
LOAD_CORE=${BENCH_LOAD_CORE:-1}
# Every script's measuring defaults; a script with other defaults sets its own after sourcing.
ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECS:-10}
WARMUP=${BENCH_WARMUP_SECS:-2}
CONNS=${BENCH_CONNECTIONS:-32}

# How the server and the load generators are scheduled. `nice` (default as root): nice -20.
# `rt`: SCHED_RR, so that builds and tests of others on a shared machine cannot take their
# cores; but the kernel's RT throttling then stops a saturated server for ~50 ms of every
# second, which is all its p99 shows. `normal`: no change.
PRIORITY=${BENCH_PRIORITY:-nice}
case $PRIORITY in
  rt) PRIO=(chrt -r 10) ;;
  nice) PRIO=(nice -n -20) ;;
  normal) PRIO=() ;;
  *) echo "BENCH_PRIORITY must be rt, nice or normal" >&2; exit 2 ;;
esac
if [[ $PRIORITY != normal && $(id -u) != 0 ]]; then PRIORITY=normal PRIO=(); fi

# on_core CORE COMMAND...: runs COMMAND pinned to CORE at the chosen priority.
on_core() { local core=$1; shift; "${PRIO[@]}" taskset -c "$core" "$@"; }

STARTED_PIDS=()

# start_run [PREFIX]: sets RUN_ID, OUT (bench/results/<run id>/), RES (its results.env) and
# COMMIT, and stops everything started on exit.
start_run() {
  RUN_ID=${1:-}$(date -u +%Y-%m-%dT%H%M%SZ)
  OUT="$BENCH/results/$RUN_ID"
  RES="$OUT/results.env"
  mkdir -p "$OUT"
  : >"$RES"
  trap stop_all EXIT
  trap 'exit 130' INT TERM
  # The source that is about to be built (HEAD may move while this runs: others commit too).
  COMMIT="$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock templates Rocket.toml || echo ' + uncommitted changes')"
}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Stops every process this script started, by pid.
stop_all() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}

stop_pid() {
  local pid=$1 keep=() p
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  for p in "${STARTED_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  STARTED_PIDS=("${keep[@]}")
}

ensure_wrk() {
  command -v wrk >/dev/null && return
  log "installing wrk (apt-get)"
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  command -v wrk >/dev/null || die "wrk could not be installed"
}

build_app() {
  log "building the app: cargo build --release (repo root)"
  (cd "$ROOT" && cargo build --release --quiet) || die "app build failed"
  APP_BIN="$ROOT/target/release/oidc-bff"
}

# prepare_binaries: APP_BIN is BENCH_APP_BIN, else the release build (made here unless
# BENCH_SKIP_BUILD is set), copied into the run directory so a rebuild cannot change it
# mid-run; the load generator is built too unless BENCH_SKIP_BUILD is set.
prepare_binaries() {
  if [[ -n ${BENCH_APP_BIN:-} ]]; then
    APP_BIN=$BENCH_APP_BIN
  elif [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
    build_app
  else
    APP_BIN="$ROOT/target/release/oidc-bff"
  fi
  if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then build_loadgen; fi
  cp "$APP_BIN" "$OUT/oidc-bff" && APP_BIN="$OUT/oidc-bff"
}

# median: the median of the numbers on stdin (0 for none).
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
# figure CASE NAME: the median over rounds of CASE.r<n>.NAME in the run's results.
figure() { grep -E "^$1\.r[0-9]+\.$2=" "$RES" | cut -d= -f2 | median; }

build_loadgen() {
  log "building the load generator (bench/loadgen)"
  (cd "$BENCH/loadgen" && cargo build --release --quiet) || die "loadgen build failed"
}

# CPU ticks (1/100 s, user + system, all threads) used so far by a process.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# "busy total" jiffies of one core (cpu0, cpu1) or of the machine (cpu).
core_jiffies() {
  awk -v c="$1" '$1 == c { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat
}

# /proc/<pid>/status field in MiB (VmRSS, VmHWM).
status_mib() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }

# Machine-wide busy share over one second, in percent: what others are using before we start.
machine_busy_pct() {
  local a b
  a=($(core_jiffies cpu)); sleep 1; b=($(core_jiffies cpu))
  awk -v b0="${a[0]}" -v t0="${a[1]}" -v b1="${b[0]}" -v t1="${b[1]}" \
    'BEGIN { if (t1 > t0) printf "%.0f", 100 * (b1 - b0) / (t1 - t0); else print 0 }'
}

# Refuses to go on when something already listens on the port (another app would be measured).
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    die "port $1 is in use by another process; set BENCH_PORT_BASE / BENCH_IDP_PORT"
  fi
}

start_idp() {
  port_free "$IDP_PORT"
  "$LOADGEN" idp --port "$IDP_PORT" --key "$KEY" --kid key-a --max-secs "${1:-3600}" \
    >"$OUT/idp.log" 2>&1 &
  STARTED_PIDS+=($!)
  for _ in $(seq 200); do
    curl -fs "$ISSUER/.well-known/openid-configuration" >/dev/null 2>&1 && return
    sleep 0.05
  done
  die "bench IdP did not start (see $OUT/idp.log)"
}

# start_server NAME URL_TO_POLL COMMAND...: spawns the server on the server core, records
# NAME.startup_ms, sets SPID.
start_server() {
  local name=$1 url=$2; shift 2
  local info
  port_free "$(sed -E 's#^http://[^:/]+:([0-9]+).*#\1#' <<<"$url")"
  info=$(on_core "$LOAD_CORE" "$LOADGEN" startup --url "$url" --log "$OUT/$name.log" \
    -- "${PRIO[@]}" taskset -c "$SERVER_CORE" "$@") || die "$name did not start (see $OUT/$name.log)"
  SPID=$(sed -n 's/^pid=//p' <<<"$info")
  STARTED_PIDS+=("$SPID")
  echo "$name.startup_ms=$(sed -n 's/^startup_ms=//p' <<<"$info")" >>"$RES"
  log "$name started in $(sed -n 's/^startup_ms=//p' <<<"$info") ms (pid $SPID)"
}

# A status code for one request (curl), to check a workload before measuring it.
status_of() {
  local url=$1; shift
  local args=() h
  for h in "$@"; do args+=(-H "$h"); done
  curl -s -o /dev/null -w '%{http_code}' "${args[@]}" "$url"
}

# ---- workloads (need SECS WARMUP CONNS LOGIN_CONC SPLIT_LOGINS SPID OUT RES) ----

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

# session BASE KIND FILE [PATH]: one real login; FILE gets the Cookie header value a browser
# sends to PATH (default /api/hello; `/` gets the same): only cookies whose Path matches, so
# not the logout hint scoped to /logout. Logs the header's size.
session() {
  "$LOADGEN" login --app "$1" --app-kind "$2" --issuer "$ISSUER" --client-id "$CLIENT_ID" \
    --key "$KEY" --secs 0 --session-out "$3" --session-path "${4:-/api/hello}" \
    >>"$OUT/sessions.out" 2>&1 || die "login to $1 failed: $(tail -3 "$OUT/sessions.out")"
  log "session cookie from $1: Cookie header of $(wc -c <"$3") bytes ($(sed -E 's/=[^;]*//g' "$3"))"
}

# component EXAMPLE RESULT TITLE NOTE: runs a component benchmark, an example of this package
# built in release without LTO (minutes instead of ten; what they measure, ring's signing or
# redb and the kernel, does not change with LTO), on core BENCH_CORE (0). Its table, under
# TITLE and NOTE, goes to the terminal and to bench/results/RESULT-<date>.md.
component() {
  local example=$1 result=$2 title=$3 note=$4 core=${BENCH_CORE:-0}
  (cd "$ROOT" && CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo build --release --quiet --no-default-features --example "$example")
  mkdir -p "$BENCH/results"
  {
    echo "# $title ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD))"
    echo
    echo "\`bash bench/$(basename "$0")\` on core $core; $note"
    echo
    taskset -c "$core" "$ROOT/target/release/examples/$example"
  } | tee "$BENCH/results/$result-$(date -u +%Y-%m-%d).md"
}
