#!/usr/bin/env bash
# Installs everything the end-to-end test suite needs on a fresh Debian machine
# (run as root). Idempotent: does nothing when everything is already there.
#
#   - Debian's Chromium and ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver)
#   - the npm dependencies of the test OpenID provider in tests/e2e/idp,
#     exactly as pinned by its package-lock.json (npm ci)
#
# No browser is downloaded by anything else than apt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IDP_DIR="$ROOT/tests/e2e/idp"

log() { printf '[install-test-deps] %s\n' "$*" >&2; }

# --- Chromium + ChromeDriver (Debian packages) -------------------------------
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
  log "chromium and chromedriver already installed"
else
  if [[ "$(id -u)" -ne 0 ]]; then
    log "chromium/chromedriver missing and not running as root: cannot apt-get install"
    exit 1
  fi
  log "installing chromium and chromium-driver with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends chromium chromium-driver
fi
log "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium: version unknown')"
log "$(/usr/bin/chromedriver --version 2>/dev/null || echo 'chromedriver: version unknown')"

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
