#!/usr/bin/env bash
# The test command: formatting, lints, every test, and a smoke run of the
# benchmarks so their harness cannot rot. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_tools
# A real OTLP collector for the recorder's tests.
python3 -c 'import rotel' 2>/dev/null || python3 -m pip install --quiet rotel
# Network namespaces/veth and a real Secret Service for the environment tests.
apt_install iproute2 dbus gnome-keyring

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
if [ -f crates/engine/benches/connect.rs ]; then
  SOCKSCOPE_BENCH_N=20 cargo bench --profile dev -p sockscope-engine --bench connect
fi
