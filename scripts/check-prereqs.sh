#!/usr/bin/env bash
# What the test command cannot install for you, checked before anything runs,
# each with the way to get it. Sourced by scripts/test.sh.
set -Eeuo pipefail

problems=()
version_at_least() { # have want: dotted versions
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]
}

if ! command -v cargo >/dev/null 2>&1; then
  problems+=("Rust is not installed: install it with rustup (https://rustup.rs), not Debian's rustc, which is too old")
else
  rust="$(rustc --version | awk '{print $2}')"
  version_at_least "$rust" 1.89 ||
    problems+=("Rust $rust is too old (1.89 or newer): rustup update stable")
  cargo fmt --version >/dev/null 2>&1 || problems+=("rustfmt is missing: rustup component add rustfmt")
  cargo clippy --version >/dev/null 2>&1 || problems+=("clippy is missing: rustup component add clippy")
fi
command -v apt-get >/dev/null 2>&1 ||
  problems+=("apt-get not found: the test dependencies are Debian packages (Debian 12 bookworm)")
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  problems+=("installing Debian packages needs root or sudo")
fi
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  problems+=("Python 3.11 or newer with venv is needed (apt-get install python3 python3-venv)")
fi
if ! command -v terraform >/dev/null 2>&1; then
  problems+=("terraform is not installed and no package registry here carries it: install Terraform 1.11 from HashiCorp's release archive and put it on PATH")
fi
mirror="${SHIPREADY_TF_MIRROR:-/opt/tf-plugins}"
if ! find "$mirror" -name 'terraform-provider-aws_v5.100.0*' -type f 2>/dev/null | grep -q .; then
  problems+=("no local Terraform provider mirror with hashicorp/aws 5.100.0 at $mirror (set SHIPREADY_TF_MIRROR to one; make one where the registry is reachable with: terraform providers mirror DIR)")
fi
command -v git >/dev/null 2>&1 || problems+=("git is missing: apt-get install git")

if [ "${#problems[@]}" -gt 0 ]; then
  echo "The test suite cannot run on this machine yet:" >&2
  for p in "${problems[@]}"; do echo "  - $p" >&2; done
  exit 2
fi
