#!/usr/bin/env bash
# Installs everything the end-to-end test suite needs on a fresh Debian machine
# (run as root). Idempotent: does nothing when everything is already there.
#
#   - Debian's Chromium and ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver)
#   - Debian's redis-server and redis-cli (the Redis store's tests start their own servers)
#   - the npm dependencies of the test OpenID provider in tests/e2e/idp,
#     exactly as pinned by its package-lock.json (npm ci)
#
# No browser is downloaded by anything else than apt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IDP_DIR="$ROOT/tests/e2e/idp"

log() { printf '[install-test-deps] %s\n' "$*" >&2; }

require_root() {
  if [[ "$(id -u)" -ne 0 ]]; then
    log "$* missing and not running as root: cannot apt-get install"
    exit 1
  fi
}

# apt-get install, after one apt-get update per run.
APT_UPDATED=
apt_install() {
  require_root "$@"
  export DEBIAN_FRONTEND=noninteractive
  if [[ -z $APT_UPDATED ]]; then
    apt-get update
    APT_UPDATED=1
  fi
  apt-get install -y --no-install-recommends "$@"
}

# --- Chromium + ChromeDriver (Debian packages) -------------------------------
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
  log "chromium and chromedriver already installed"
else
  log "installing chromium and chromium-driver with apt-get"
  apt_install chromium chromium-driver
fi
log "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium: version unknown')"
log "$(/usr/bin/chromedriver --version 2>/dev/null || echo 'chromedriver: version unknown')"

# --- Redis (Debian's redis-server; redis-cli comes with it) -------------------
# The tests start their own servers on free ports and stop them by PID. The package's own
# service must not start: a policy-rc.d that refuses every start is in place while it
# installs (unless the machine already has one, which then decides).
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  log "redis-server already installed"
else
  require_root redis-server
  log "installing redis-server with apt-get (its service is not started)"
  POLICY=/usr/sbin/policy-rc.d
  if [[ -e $POLICY ]]; then
    apt_install redis-server
  else
    printf '#!/bin/sh\n# install-test-deps.sh: no service starts while packages install\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
    apt_install redis-server
    rm -f "$POLICY"
    trap - EXIT
  fi
fi
log "$(redis-server --version 2>/dev/null || echo 'redis-server: version unknown')"

# --- test OpenID provider (oidc-provider, pinned by package-lock.json) -------
if ! command -v npm >/dev/null 2>&1; then
  log "npm not found: Node.js and npm are required for the test OpenID provider"
  exit 1
fi

LOCK="$IDP_DIR/package-lock.json"
STAMP="$IDP_DIR/node_modules/.package-lock.installed.json"
if [[ ! -f "$LOCK" ]]; then
  log "missing $LOCK"
  exit 1
fi

if [[ -d "$IDP_DIR/node_modules" && -f "$STAMP" ]] && cmp -s "$LOCK" "$STAMP"; then
  log "tests/e2e/idp dependencies up to date"
else
  log "installing tests/e2e/idp dependencies (npm ci)"
  (cd "$IDP_DIR" && npm ci --no-audit --no-fund)
  cp "$LOCK" "$STAMP"
fi
log "done"
