#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the tests need (Chromium,
# ChromeDriver, the test OpenID provider's npm packages), checks formatting and lints, then
# runs every test (unit, in-process integration, and end-to-end in a real browser).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-test-deps.sh
cargo fmt --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
