#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: install every validator
# and server the tests use (pinned), then lint and test. `.ci/run` runs this.
#
#   bash scripts/test.sh            everything (what CI runs)
#   bash scripts/test.sh GROUP...   only those test binaries (tests/GROUP/):
#                                   fast, validators, services, e2e, cloud
set -Eeuo pipefail
cd "$(dirname "$0")/.."

known=(tests/*/main.rs)
known=("${known[@]#tests/}")
known=("${known[@]%/main.rs}")
groups=()
for group in "$@"; do
  if [ ! -f "tests/$group/main.rs" ]; then
    echo "no test group '$group'; the groups are: ${known[*]}" >&2
    exit 2
  fi
  groups+=(--test "$group")
done

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
if [ "${#groups[@]}" -gt 0 ]; then
  cargo test --locked --no-fail-fast "${groups[@]}"
  exit
fi
# Every test binary runs even after one fails, so one run shows every failure.
cargo test --all-targets --locked --no-fail-fast
