#!/usr/bin/env bash
# The main job: the headless demo (simulator plus three job sockets whose
# faults set off the races of the seeds). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_tools
exec cargo run --release --quiet -p sockscope-cli -- demo "$@"
