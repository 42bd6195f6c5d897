#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: install every validator
# and server the tests use (pinned), then lint and test. `.ci/run` runs this.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

bash scripts/check-prereqs.sh
bash scripts/install-test-deps.sh
TOOLS="${SHIPREADY_TOOLS:-$HOME/.cache/shipready-tools}"
export PATH="$TOOLS/tools/bin:$TOOLS/bin:$PATH"
# Postgres server binaries live outside PATH on Debian.
for d in /usr/lib/postgresql/*/bin; do [ -d "$d" ] && PATH="$PATH:$d"; done
export PATH
# checkov must never reach the network.
export BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true CKV_PARSE_ERROR_FAIL=true

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# Every test binary runs even after one fails, so one run shows every failure.
cargo test --all-targets --locked --no-fail-fast
