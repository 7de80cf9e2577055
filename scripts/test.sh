#!/usr/bin/env bash
# The test command: formatting, lints, every test (the app's end-to-end
# suite included: it starts Xvfb itself), and a smoke run of the benchmarks
# so their harness cannot rot. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_tools
# A real OTLP collector for the recorder's tests.
python3 -c 'import rotel' 2>/dev/null || python3 -m pip install --quiet rotel
# Network namespaces/veth and a real Secret Service for the environment tests.
apt_install iproute2 dbus gnome-keyring
ensure_app_build_deps
ensure_app_test_deps

# The reference servers the dialect tests run (npm socket.io, graphql-ws),
# and playwright-core with Debian's chromium for the browser capture test.
reference_server_deps
apt_install chromium

# ui/ first: its unit tests, then the bundle the app embeds.
ui_deps
(cd ui && npm test && npm run build)

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
if [ -f crates/engine/benches/connect.rs ]; then
  SOCKSCOPE_BENCH_N=20 cargo bench --profile dev -p sockscope-engine --bench connect
  SOCKSCOPE_BENCH_N=5 cargo bench --profile dev -p sockscope-engine --bench dialects
fi
if [ -d crates/bench ]; then
  SOCKSCOPE_BENCH_SOCKETS=200 SOCKSCOPE_BENCH_MSGS=2000 cargo bench --profile dev -p sockscope-bench --bench throughput
  SOCKSCOPE_BENCH_SOCKETS=200 SOCKSCOPE_BENCH_MSGS=2000 cargo bench --profile dev -p sockscope-bench --bench scale
  SOCKSCOPE_BENCH_SOCKETS=200 SOCKSCOPE_BENCH_SECS=2 cargo bench --profile dev -p sockscope-bench --bench fleet
fi
SOCKSCOPE_BENCH_EVENTS=20000 cargo bench --profile dev -p sockscope-recorder --bench recorder
