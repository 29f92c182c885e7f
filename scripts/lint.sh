#!/usr/bin/env bash
# rustfmt and clippy over everything, kernel module included; the netlink
# spec through the kernel's ynl tooling.
set -euo pipefail
cd "$(dirname "$0")/.."

# The module is not a cargo crate: rustfmt its files directly (edition 2021,
# the kernel's). src/bindings_generated.rs is generated and skipped.
mapfile -t mod_files < <(find src -name '*.rs' ! -name 'bindings_generated.rs' | sort)
rustfmt --edition 2021 --check "${mod_files[@]}"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The netlink spec through the kernel's own ynl tooling (schema, ynl-gen-c).
scripts/ynl-check.sh
# clippy over the module: a CLIPPY=1 kernel build of it (Makefile), against
# the debug test kernel or KDIR.
make --no-print-directory module-clippy
echo "lint: ok"
