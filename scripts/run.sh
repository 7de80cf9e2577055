#!/usr/bin/env bash
# The main job: the desktop app in demo mode (embedded simulator plus three
# job sockets whose faults set off the races of the seeds). Without a
# display it falls back to the headless `sockscope demo` and says so.
# Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if ! have_display; then
  echo "run.sh: no display (DISPLAY and WAYLAND_DISPLAY are unset): running the headless demo, \`sockscope demo\`, instead of the desktop app"
  ensure_build_tools
  echo "run.sh: building sockscope in release (a few minutes the first time; cargo shows its progress)"
  cargo build --release -p sockscope-cli
  exec cargo run --release --quiet -p sockscope-cli -- demo "$@"
fi

ensure_app_build_deps
build_ui
# Not --quiet: a first release build takes minutes, and a newcomer should see
# it moving.
echo "run.sh: building the desktop app in release (a few minutes the first time; cargo shows its progress)"
cargo build --release -p sockscope-app --features custom-protocol
target_dir="${CARGO_TARGET_DIR:-target}"
# Arguments go to the app; none means the demo.
if [ $# -eq 0 ]; then set -- --demo; fi
exec "$target_dir/release/sockscope-app" "$@"
