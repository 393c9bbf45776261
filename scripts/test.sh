#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the tests need (Chromium,
# ChromeDriver, the test OpenID provider's npm packages), checks formatting and lints, then
# runs every test (unit, in-process integration, and end-to-end in a real browser).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-test-deps.sh
# A one-shot build has no use for incremental caches, which would double the target's size.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo fmt --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --document-private-items --locked
# `--tests`: the libraries' unit tests and the integration tests. The app's binary and the
# benchmark example have no tests: clippy above checks them, and a test binary for each would
# only be two more links of the whole tree.
cargo test --workspace --tests --locked
