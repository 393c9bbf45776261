#!/usr/bin/env bash
# Soak of two instances sharing one Redis, with Redis stopped in the middle: SOAK_SECS (default
# 600) seconds of mixed traffic spread over both instances (a login may start on one and end on
# the other; sessions and logouts cross between them), Redis killed at SOAK_OUTAGE_AT_SECS (300)
# and started again on the same port SOAK_OUTAGE_SECS (30) later. Then, per instance: requests,
# 5xx outside the outage window (must be 0), wrong answers (must be 0: inside the window only
# the 503s the README documents for a store outage are allowed), the documented 503s, logins
# after the window (recovery), RSS after the warm-up and at the end (growth < 10%), panics; and
# Redis's own state (both instances subscribed again). See bench/README.md. Environment (all
# optional):
#   SOAK_SECS=600 SOAK_WARMUP_SECS=30 SOAK_RATE=1000 SOAK_CONCURRENCY=16 SOAK_IDLE_SECS=60
#   SOAK_OUTAGE_AT_SECS=300 SOAK_OUTAGE_SECS=30 SOAK_RECOVERY_SECS=5 SOAK_SYNC_GRACE_SECS=15
#   SOAK_LOGOUT_WEIGHT=3 BENCH_PORT_BASE=3380 BENCH_IDP_PORT=3389 BENCH_REDIS_PORT=6395
#   BENCH_APP_BIN=/work/target-release/release/oidc-bff BENCH_APP_COMMIT=<its commit, for the
#   report> BENCH_SKIP_BUILD=1 BENCH_PRIORITY=nice|rt|normal
# The short check: SOAK_SECS=60 SOAK_OUTAGE_AT_SECS=20 SOAK_OUTAGE_SECS=10 SOAK_SYNC_GRACE_SECS=5
set -euo pipefail
# Away from run.sh/soak.sh (3310, 4410) and redis.sh (3320, 6390), which may run at the same time.
BENCH_IDP_PORT=${BENCH_IDP_PORT:-3389}
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

SOAK_SECS=${SOAK_SECS:-600}
WARMUP=${SOAK_WARMUP_SECS:-30}
RATE=${SOAK_RATE:-1000}
CONCURRENCY=${SOAK_CONCURRENCY:-16}
# Longer than soak.sh's 20 s: the pool's cookies (used until half this old) must outlast the
# first part of the outage, when no login can refresh them.
IDLE=${SOAK_IDLE_SECS:-60}
OUTAGE_AT=${SOAK_OUTAGE_AT_SECS:-300}
OUTAGE=${SOAK_OUTAGE_SECS:-30}
RECOVERY=${SOAK_RECOVERY_SECS:-5}
# Below the outage (the app's default is 30) so that both documented phases happen: sessions
# served from the instance's copy of the ended sessions, then 503 until Redis is back.
GRACE=${SOAK_SYNC_GRACE_SECS:-15}
LOGOUTS=${SOAK_LOGOUT_WEIGHT:-3}
PORT_A=${BENCH_PORT_BASE:-3380}
PORT_B=$((PORT_A + 1))
REDIS_PORT=${BENCH_REDIS_PORT:-6395}
APP_BIN=${BENCH_APP_BIN:-/work/target-release/release/oidc-bff}
PREFIX=oidc-bff:

start_run soak-redis-
command -v redis-server >/dev/null || die "redis-server is missing (apt-get install redis-server)"
[[ -x $APP_BIN ]] || die "no app binary at $APP_BIN (set BENCH_APP_BIN; it must be built with Redis support)"
[[ -n ${BENCH_SKIP_BUILD:-} ]] || build_loadgen
# A copy, so that a rebuild elsewhere during the run cannot swap the binary under us.
APP_MTIME=$(date -u -r "$APP_BIN" '+%Y-%m-%d %H:%M UTC')
cp "$APP_BIN" "$OUT/oidc-bff" && APP_BIN="$OUT/oidc-bff"

{
  echo "meta.date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "meta.app=${BENCH_APP_COMMIT:-unknown commit}, binary built $APP_MTIME"
  echo "meta.repository_head=$COMMIT"
  echo "meta.redis=$(redis-server --version | awk '{ print $3 }'), persistence off (--save \"\" --appendonly no)"
  echo "meta.settings=${SOAK_SECS}s, warm-up ${WARMUP}s, rate ${RATE}/s (0 = unlimited), $CONCURRENCY connections to each instance, logout weight $LOGOUTS; SESSION_IDLE_TIMEOUT_SECS=$IDLE REDIS_SYNC_GRACE_SECS=$GRACE; Redis down at ${OUTAGE_AT}s for ${OUTAGE}s, ${RECOVERY}s allowed for reconnecting; apps on core $SERVER_CORE, load generator and Redis on core $LOAD_CORE; scheduling: $PRIORITY"
  echo "meta.machine_busy_before_pct=$(machine_busy_pct)"
} >>"$RES"

# start_redis: on the load generator's core (the apps' core is the one under test), no
# persistence: the restart comes back empty, as after the loss of a cache node.
start_redis() {
  port_free "$REDIS_PORT"
  # Not through on_core: a backgrounded function is a subshell, and $! would be its pid, not
  # Redis's (nice and taskset exec, so this $! is redis-server itself).
  "${PRIO[@]}" taskset -c "$LOAD_CORE" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
    --appendonly no >>"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  STARTED_PIDS+=("$REDIS_PID")
  for _ in $(seq 200); do
    [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && return
    sleep 0.05
  done
  die "redis-server did not start (see $OUT/redis.log)"
}
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

start_redis
start_idp $((SOAK_SECS + 600))
# The load generator logs in from one address, far past LOGIN_RATE_LIMIT.
export LOGIN_RATE_LIMIT=0
export ISSUER_BASE_URL=$ISSUER CLIENT_ID SECRET ROCKET_ADDRESS=127.0.0.1 ROCKET_PROFILE=release
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT" REDIS_SYNC_GRACE_SECS=$GRACE
export SESSION_IDLE_TIMEOUT_SECS=$IDLE
# One public address for both, as behind a load balancer.
export BASE_URL="http://localhost:$PORT_A"
ROCKET_PORT=$PORT_A start_server app_a "http://127.0.0.1:$PORT_A/static/style.css" "$APP_BIN"
PID_A=$SPID
ROCKET_PORT=$PORT_B start_server app_b "http://127.0.0.1:$PORT_B/static/style.css" "$APP_BIN"
PID_B=$SPID

# Both must have read the revocations (sessions answer 503 until then): a login on A, its
# session accepted by B.
session "http://localhost:$PORT_A" bff "$OUT/check.cookie"
FETCH=("Sec-Fetch-Mode: cors" "Sec-Fetch-Dest: empty" "Accept: */*" "Cookie: $(cat "$OUT/check.cookie")")
for port in "$PORT_A" "$PORT_B"; do
  for _ in $(seq 100); do
    [[ $(status_of "http://127.0.0.1:$port/api/hello" "${FETCH[@]}") == 200 ]] && continue 2
    sleep 0.05
  done
  die "the instance on port $port does not accept a session made on $PORT_A"
done
log "both instances share sessions through Redis on port $REDIS_PORT"

log "soak: ${SOAK_SECS}s over both instances (pids $PID_A, $PID_B); Redis down at ${OUTAGE_AT}s for ${OUTAGE}s"
"${PRIO[@]}" taskset -c "$LOAD_CORE" "$LOADGEN" soak --app "http://localhost:$PORT_A,http://localhost:$PORT_B" \
  --app-kind bff --issuer "$ISSUER" --client-id "$CLIENT_ID" --key "$KEY" --secs "$SOAK_SECS" \
  --warmup-secs "$WARMUP" --idle-secs "$IDLE" --rate "$RATE" --concurrency "$CONCURRENCY" \
  --logouts "$LOGOUTS" --outage-from-secs "$OUTAGE_AT" --outage-secs "$OUTAGE" \
  --recovery-secs "$RECOVERY" --sync-grace-secs "$GRACE" --server-pid "$PID_A,$PID_B" \
  --out "$RES" >"$OUT/soak.out" 2>&1 &
LOADGEN_PID=$!
STARTED_PIDS+=("$LOADGEN_PID")
tail -n +1 -f --pid="$LOADGEN_PID" "$OUT/soak.out" &
STARTED_PIDS+=($!)

# Readiness of both instances once a second, for the recovery timeline (bounded by the soak).
(
  while kill -0 "$LOADGEN_PID" 2>/dev/null; do
    printf '%s %s %s\n' "$(date +%s%N)" \
      "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT_A/readyz")" \
      "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT_B/readyz")"
    sleep 1
  done
) >"$OUT/readyz.txt" 2>/dev/null &
STARTED_PIDS+=($!)

# The outage is timed on the load generator's own clock, which it prints when it starts.
CLOCK_MS=
for _ in $(seq 200); do
  CLOCK_MS=$(sed -n 's/^# clock started at unix ms //p' "$OUT/soak.out")
  [[ -n $CLOCK_MS ]] && break
  sleep 0.05
done
[[ -n $CLOCK_MS ]] || die "the load generator did not start (see $OUT/soak.out)"
# soak_secs: seconds on the load generator's clock, now.
soak_secs() { awk -v t0="$CLOCK_MS" -v now="$(date +%s%N)" 'BEGIN { printf "%.2f", now / 1e6 / 1000 - t0 / 1000 }'; }
# sleep_until SECS: until that second of the load generator's clock.
sleep_until() { sleep "$(awk -v t="$1" -v s="$(soak_secs)" 'BEGIN { d = t - s; printf "%.3f", (d > 0 ? d : 0) }')"; }

sleep_until "$OUTAGE_AT"
kill -0 "$LOADGEN_PID" 2>/dev/null || die "the load generator stopped before the outage (see $OUT/soak.out)"
{
  echo "redis.keys_before_outage=$(rcli dbsize)"
  echo "redis.revocations_before_outage=$(rcli zcard "${PREFIX}revocations")"
  echo "redis.subscribers_before_outage=$(rcli pubsub numsub "${PREFIX}revocations" | tail -1)"
} >>"$RES"
# SIGKILL: a crash, with no goodbye to the clients (the kernel still closes their sockets).
kill -9 "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
echo "redis.killed_at_secs=$(soak_secs)" >>"$RES"
stop_pid "$REDIS_PID"
log "Redis killed (pid $REDIS_PID) at $(soak_secs)s of the soak"
sleep_until $((OUTAGE_AT + OUTAGE))
start_redis
echo "redis.restarted_at_secs=$(soak_secs)" >>"$RES"
log "Redis started again on port $REDIS_PORT (pid $REDIS_PID) at $(soak_secs)s of the soak"

set +e
wait "$LOADGEN_PID"
VERDICT=$?
set -e

# ---- after the traffic: the apps' logs, Redis's own state ----
val() { grep -m1 "^$1=" "$RES" | cut -d= -f2-; }
for app in app_a app_b; do
  {
    echo "$app.panics=$(grep -c 'panicked' "$OUT/$app.log" || true)"
    echo "$app.feed_lost_lines=$(grep -c 'revocation feed lost' "$OUT/$app.log" || true)"
    echo "$app.feed_synchronised_lines=$(grep -c 'revocation feed synchronised' "$OUT/$app.log" || true)"
    echo "$app.login_stopped_store_lines=$(grep -c 'login stopped: session store unavailable' "$OUT/$app.log" || true)"
    echo "$app.error_level_lines=$(sed -E 's/\x1b\[[0-9;]*m//g' "$OUT/$app.log" | grep -cE '^\S+\s+ERROR\s' || true)"
  } >>"$RES"
done
for pid in "$PID_A" "$PID_B"; do
  kill -0 "$pid" 2>/dev/null || { echo "soak.server_alive=no (pid $pid)" >>"$RES"; VERDICT=1; }
done
SUBSCRIBERS=$(rcli pubsub numsub "${PREFIX}revocations" | tail -1)
{
  echo "redis.subscribers_at_end=$SUBSCRIBERS"
  echo "redis.keys_at_end=$(rcli dbsize)"
  echo "redis.consumed_states_at_end=$(rcli --scan --pattern "${PREFIX}consumed-state:*" | wc -l)"
  echo "redis.revocations_at_end=$(rcli zcard "${PREFIX}revocations")"
  rcli info | tr -d '\r' | awk -F: '
    /^(uptime_in_seconds|connected_clients|used_memory_human|used_memory_peak_human|total_connections_received|total_commands_processed|rejected_connections|expired_keys|evicted_keys|pubsub_channels):/ { print "redis." $1 "=" $2 }'
} >>"$RES"
# Recovery: both instances subscribed to the revocations again.
[[ $SUBSCRIBERS == 2 ]] || VERDICT=1
(( $(val app_a.panics) + $(val app_b.panics) == 0 )) || VERDICT=1
# Readiness timeline: when each instance's /readyz answered something else than 200.
awk -v t0="$CLOCK_MS" '
  { t = $1 / 1e6 / 1000 - t0 / 1000
    for (i = 2; i <= 3; i++) if ($i != 200) { if (!(i in first)) first[i] = t; last[i] = t; n[i]++ } }
  END {
    split("a b", name, " ")
    for (i = 2; i <= 3; i++)
      if (n[i]) printf "app_%s.readyz_not_ready=%d polls, from %.1f s to %.1f s\n", name[i - 1], n[i], first[i], last[i]
      else printf "app_%s.readyz_not_ready=0 polls\n", name[i - 1]
  }' "$OUT/readyz.txt" >>"$RES"
echo "soak.script_verdict=$( ((VERDICT == 0)) && echo PASS || echo FAIL)" >>"$RES"
stop_all
rm -f "$OUT/oidc-bff"

# ---- summary ----
row() { printf '| %s | %s | %s |\n' "$1" "$(val "soak.instance.0.$2")" "$(val "soak.instance.1.$2")"; }
{
  echo "# Two instances on one Redis, Redis stopped for ${OUTAGE} s ($RUN_ID)"
  echo
  echo '```'
  grep '^meta\.' "$RES"
  echo '```'
  echo
  echo "Redis killed at $(val redis.killed_at_secs) s, started again at $(val redis.restarted_at_secs) s of the soak; window judged: $(val soak.outage_window)."
  echo
  echo "| | instance A (:$PORT_A) | instance B (:$PORT_B) |"
  echo "|---|---:|---:|"
  row requests requests
  row "5xx outside the window" 5xx_outside_window
  row "wrong answers" unexpected
  row "transport errors (incl. timeouts)" transport_errors
  row "documented 503: /login, /callback" documented_503_login_pages
  row "documented 503: sessions after the grace" documented_503_sessions
  printf '| first / last documented 503 (s of the soak) | %s / %s | %s / %s |\n' \
    "$(val soak.instance.0.first_documented_503_secs)" "$(val soak.instance.0.last_documented_503_secs)" \
    "$(val soak.instance.1.first_documented_503_secs)" "$(val soak.instance.1.last_documented_503_secs)"
  row "documented 503: mean time to answer (ms)" documented_503_mean_ms
  row "documented 503: slowest (ms)" documented_503_slowest_ms
  row "slowest answer of all (ms)" slowest_answer_ms
  row "logins completed (callback here)" logins
  row "logins after the window" logins_after_window
  row "RSS after warm-up (MiB)" rss_start_mib
  row "RSS at the last second under load (MiB)" rss_end_mib
  row "RSS growth (%)" rss_growth_pct
  row "RSS max under load (MiB)" rss_max_mib
  printf '| panics in the log | %s | %s |\n' "$(val app_a.panics)" "$(val app_b.panics)"
  printf '| ERROR-level log lines (store unavailable) | %s | %s |\n' "$(val app_a.error_level_lines)" "$(val app_b.error_level_lines)"
  printf '| "revocation feed lost" / "synchronised" log lines | %s / %s | %s / %s |\n' \
    "$(val app_a.feed_lost_lines)" "$(val app_a.feed_synchronised_lines)" "$(val app_b.feed_lost_lines)" "$(val app_b.feed_synchronised_lines)"
  printf '| /readyz not 200 | %s | %s |\n' "$(val app_a.readyz_not_ready)" "$(val app_b.readyz_not_ready)"
  echo
  echo "Totals: $(val soak.requests) requests ($(val soak.rps)/s), 5xx $(val soak.5xx) of which outside the window $(val soak.5xx_outside_window), wrong answers $(val soak.unexpected), transport errors $(val soak.transport_errors)."
  echo
  echo '```'
  grep -E '^soak\.op\.' "$RES"
  grep -E '^redis\.' "$RES"
  echo '```'
  echo
  echo "Verdict: load generator $(val soak.verdict), script $(val soak.script_verdict) (panics, instances alive, both subscribed to the revocations again)."
  echo
  echo "Raw figures: \`bench/results/$RUN_ID/results.env\`."
} >"$OUT/summary.md"
cat "$OUT/summary.md"
log "summary in $OUT/summary.md"
exit "$VERDICT"
