#!/usr/bin/env bash
# A CPU profile of one workload of the app: perf record (cpu-clock, call graphs) of the server
# while wrk drives it, folded into stacks and drawn as a flame graph with the inferno crate's
# tools. See bench/README.md ("Profiles").
#
#   bench/profile.sh [auth|401|page]
#     auth  authenticated GET /api/hello with a real session cookie (default)
#     401   GET /api/hello without a cookie (the 401 JSON path)
#     page  the start page GET / with the session cookie
#
# Environment (all optional): BENCH_SECS=10 (recorded) BENCH_WARMUP_SECS=2 BENCH_CONNECTIONS=32
#   BENCH_PORT_BASE=3350 BENCH_IDP_PORT=4450 BENCH_SKIP_BUILD=1 BENCH_APP_BIN=/path/to/oidc-bff
#   BENCH_SERVER_CORE=0 BENCH_LOAD_CORE=1 BENCH_PRIORITY=nice|rt|normal
#   PROFILE_FREQ=1999 (samples per second) PROFILE_CALL_GRAPH=fp|dwarf (default fp: perf -g)
#   PROFILE_TITLE (the flame graph's title) INFERNO_ROOT=bench/.tools (where inferno goes)
set -euo pipefail
: "${BENCH_IDP_PORT:=4450}"
export BENCH_IDP_PORT
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

WORKLOAD=${1:-auth}
case $WORKLOAD in auth | 401 | page) ;; *) die "workload must be auth, 401 or page" ;; esac
PORT=${BENCH_PORT_BASE:-3350}
FREQ=${PROFILE_FREQ:-1999}
case ${PROFILE_CALL_GRAPH:-fp} in
  fp) CALL_GRAPH=(-g) ;;
  dwarf) CALL_GRAPH=(--call-graph dwarf,16384) ;;
  *) die "PROFILE_CALL_GRAPH must be fp or dwarf" ;;
esac
INFERNO_ROOT=${INFERNO_ROOT:-$BENCH/.tools}

command -v perf >/dev/null || die "perf is missing (Debian: apt-get install linux-perf)"
ensure_wrk

# inferno's collapse-perf and flamegraph: on PATH, in INFERNO_ROOT, or installed there (crates.io).
if command -v inferno-flamegraph >/dev/null && command -v inferno-collapse-perf >/dev/null; then
  INFERNO_BIN=$(dirname "$(command -v inferno-flamegraph)")
else
  INFERNO_BIN=$INFERNO_ROOT/bin
  if [[ ! -x $INFERNO_BIN/inferno-flamegraph ]]; then
    log "installing inferno into $INFERNO_ROOT (cargo install inferno)"
    cargo install --quiet --locked inferno --root "$INFERNO_ROOT" || die "cargo install inferno failed"
  fi
fi

start_run "profile-$WORKLOAD-"
prepare_binaries

start_idp 900
export LOGIN_RATE_LIMIT=0
export ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release
BASE_URL="http://localhost:$PORT" ROCKET_PORT=$PORT \
  start_server app "http://127.0.0.1:$PORT/healthz" "$APP_BIN"
session "http://localhost:$PORT" bff "$OUT/app.cookie"
COOKIE="Cookie: $(cat "$OUT/app.cookie")"
FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Accept: */*")
NAV=("Sec-Fetch-Mode: navigate" "Sec-Fetch-Dest: document" "Accept: text/html")
case $WORKLOAD in
  auth) URL=/api/hello HEADERS=("${FETCH[@]}" "$COOKIE") WANT=200 ;;
  401) URL=/api/hello HEADERS=("${FETCH[@]}") WANT=401 ;;
  page) URL=/ HEADERS=("${NAV[@]}" "$COOKIE") WANT=200 ;;
esac
URL="http://127.0.0.1:$PORT$URL"
got=$(status_of "$URL" "${HEADERS[@]}")
[[ $got == "$WANT" ]] || die "$WORKLOAD: expected $WANT from $URL, got $got"
echo "cookie_bytes=$(wc -c <"$OUT/app.cookie")" >>"$RES"

WRK_ARGS=()
for h in "${HEADERS[@]}"; do WRK_ARGS+=(-H "$h"); done
log "warm-up ${WARMUP}s"
on_core "$LOAD_CORE" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${WRK_ARGS[@]}" "$URL" >/dev/null
log "recording ${SECS}s of $WORKLOAD ($URL) at ${FREQ} Hz"
# wrk runs a little longer than the recording, so every sample is under load.
on_core "$LOAD_CORE" wrk -t1 -c"$CONNS" -d"$((SECS + 2))s" "${WRK_ARGS[@]}" "$URL" >"$OUT/wrk.txt" &
WRK_PID=$!
sleep 0.5
t0=$(cpu_ticks "$SPID")
perf record -q -e cpu-clock -F "$FREQ" "${CALL_GRAPH[@]}" -p "$SPID" -o "$OUT/perf.data" \
  -- sleep "$SECS" 2>"$OUT/perf-record.log" || die "perf record failed: $(tail -3 "$OUT/perf-record.log")"
t1=$(cpu_ticks "$SPID")
wait "$WRK_PID"
echo "server_cpu_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 100 }')" >>"$RES"
awk '/^Requests\/sec:/ { print "rps=" $2 }' "$OUT/wrk.txt" >>"$RES"

log "folding stacks"
perf script -i "$OUT/perf.data" 2>/dev/null | "$INFERNO_BIN/inferno-collapse-perf" >"$OUT/stacks.folded"
# Folded stacks (one line per stack, with its sample count) can be grepped by function and
# compared between builds with inferno-diff-folded.
TITLE=${PROFILE_TITLE:-"oidc-bff $COMMIT: $WORKLOAD ($URL), cpu-clock"}
"$INFERNO_BIN/inferno-flamegraph" --title "$TITLE" --minwidth 0.2 <"$OUT/stacks.folded" >"$OUT/flamegraph.svg"
stop_all
rm -f "$OUT/perf.data" "$OUT/oidc-bff" # large; the binary is a copy made for the run

# The heaviest frames by self time, for the log and a quick look.
awk '{ n = $NF; $NF = ""; k = split($0, f, ";"); leaf = f[k]; sub(/ +$/, "", leaf); self[leaf] += n; total += n }
  END { for (l in self) printf "%6.2f%%  %s\n", 100 * self[l] / total, l }' "$OUT/stacks.folded" \
  | sort -rn | head -25 >"$OUT/top-self.txt"
cat "$OUT/top-self.txt"
log "$(tr '\n' ' ' <"$RES")"
log "folded stacks: $OUT/stacks.folded; flame graph: $OUT/flamegraph.svg"
