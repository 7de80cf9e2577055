#!/usr/bin/env bash
# The desktop app's figures, on the release build under Xvfb
# (docs/benchmarks.md, "The desktop app: start and memory"):
#
#   scripts/desktop-figures.sh start [RUNS]      # cold start to first paint beside a bare window, RUNS runs (5)
#   scripts/desktop-figures.sh memory [MINUTES]  # the endless demo beside the floor (60 min)
#
# Build first (README, "release build of the app"):
#   npm --prefix ui ci && npm --prefix ui run build
#   cargo build --release -p sockscope-app --features custom-protocol
#
# Each app gets fresh config, data and cache dirs (so it runs the endless
# demo on a new database) and its own Xvfb display. Output goes to
# $FIGURES_DIR (default: target/figures): start.csv, memory.csv, the logs
# and screenshots. Environment: SOCKSCOPE_APP (the binary; default the
# release build in $CARGO_TARGET_DIR or target), SAMPLE_EVERY (seconds
# between memory samples, 60).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
app="${SOCKSCOPE_APP:-$target_dir/release/sockscope-app}"
out="${FIGURES_DIR:-$target_dir/figures}"
every="${SAMPLE_EVERY:-60}"

usage() {
  echo "usage: scripts/desktop-figures.sh start [RUNS] | memory [MINUTES]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
[ -x "$app" ] || {
  echo "no release build at $app: see the header of this script" >&2
  exit 1
}
command -v Xvfb >/dev/null || {
  echo "Xvfb is needed: apt-get install xvfb xauth imagemagick" >&2
  exit 1
}
mkdir -p "$out"
scratch="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT

# Starts an Xvfb on a free display; sets $display to its number.
start_xvfb() {
  local fifo="$scratch/xvfb-$RANDOM"
  mkfifo "$fifo"
  Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp 3>"$fifo" >/dev/null 2>&1 &
  pids+=($!)
  read -r -t 30 display <"$fifo" || {
    echo "Xvfb did not start" >&2
    exit 1
  }
}

# Starts the app (extra arguments passed on) on display $1 with fresh dirs
# under $2, its log in $2/log; sets $app_pid.
launch() {
  local display="$1" home="$2"
  shift 2
  mkdir -p "$home/config" "$home/data" "$home/cache"
  DISPLAY=":$display" XDG_CONFIG_HOME="$home/config" XDG_DATA_HOME="$home/data" \
    XDG_CACHE_HOME="$home/cache" dbus-run-session -- "$app" --db "$home/data/sockscope.db" "$@" \
    >"$home/log" 2>&1 &
  app_pid=$!
  pids+=("$app_pid")
}

# Stops the process tree under $1 the way a user's logout does.
stop() {
  local root="$1" p
  for p in $(tree_of "$root"); do
    [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == sockscope-app* ]] && kill -TERM "$p" 2>/dev/null
  done
  wait "$root" 2>/dev/null || true
}

# $1 and every process under it.
tree_of() {
  local c
  echo "$1"
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree_of "$c"; done
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# Waits (60 s at most) for "$2 at unix_ms=N" in the log $1; prints N - $3.
ms_until() {
  local line
  # The time is the app's own, so when the line is read does not matter.
  line="$(grep -m1 -o "$2 at unix_ms=[0-9]*" < <(timeout 60 tail -n +1 -F "$1" 2>/dev/null) || true)"
  [ -n "$line" ] || {
    echo "no \"$2\" within 60 s; log:" >&2
    cat "$1" >&2
    exit 1
  }
  echo $((${line##*=} - $3))
}

# The app (cold start to its first frame with data, and to its page
# loaded) and the floor (a bare window to its empty page's first frame),
# RUNS runs each, alternating.
figure_start() {
  local runs="${1:-5}" i t0 loaded painted
  start_xvfb
  echo "run,which,ms_to_page_loaded,ms_to_first_paint,load1" >"$out/start.csv"
  for i in $(seq 1 "$runs"); do
    t0="$(date +%s%3N)"
    launch "$display" "$scratch/start-$i"
    painted="$(ms_until "$scratch/start-$i/log" "first paint" "$t0")"
    loaded="$(ms_until "$scratch/start-$i/log" "page loaded" "$t0")"
    echo "$i,app,$loaded,$painted,$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out/start.csv"
    [ "$i" -eq 1 ] && DISPLAY=":$display" import -window root "$out/start-first-paint.png" 2>/dev/null || true
    stop "$app_pid"
    t0="$(date +%s%3N)"
    launch "$display" "$scratch/bare-$i" --bare
    painted="$(ms_until "$scratch/bare-$i/log" "first paint" "$t0")"
    loaded="$(ms_until "$scratch/bare-$i/log" "page loaded" "$t0")"
    echo "$i,bare,$loaded,$painted,$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out/start.csv"
    stop "$app_pid"
  done
  echo "median of $runs: app $(grep ',app,' "$out/start.csv" | cut -d, -f4 | median) ms to first paint" \
    "($(grep ',app,' "$out/start.csv" | cut -d, -f3 | median) ms to its page loaded);" \
    "bare window $(grep ',bare,' "$out/start.csv" | cut -d, -f4 | median) ms to its first paint" \
    "($(grep ',bare,' "$out/start.csv" | cut -d, -f3 | median) ms to its page loaded)"
}

# One CSV row for the tree under $3: RSS of the app, its WebKitWebProcess,
# its WebKitNetworkProcess, the rest (the session bus), then RSS and PSS
# summed over the first three, then the anonymous (heap) part of the app's
# and of the web process's RSS; KiB.
sample() {
  local elapsed="$1" which="$2" root="$3" p comm rss pss anon
  declare -A r=([app]=0 [web]=0 [net]=0 [other]=0) s=([app]=0 [web]=0 [net]=0 [other]=0) a=([app]=0 [web]=0 [net]=0 [other]=0)
  for p in $(tree_of "$root"); do
    comm="$(cat "/proc/$p/comm" 2>/dev/null)" || continue
    case "$comm" in
      sockscope-app*) k=app ;;
      WebKitWebProces*) k=web ;;
      WebKitNetworkPr*) k=net ;;
      *) k=other ;;
    esac
    rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)"
    pss="$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)"
    anon="$(awk '/^RssAnon:/ {print $2}' "/proc/$p/status" 2>/dev/null)"
    r[$k]=$((r[$k] + ${rss:-0}))
    a[$k]=$((a[$k] + ${anon:-0}))
    s[$k]=$((s[$k] + ${pss:-0}))
  done
  # The session bus (other) is the same for both and not the app's.
  echo "$elapsed,$which,${r[app]},${r[web]},${r[net]},${r[other]},$((r[app] + r[web] + r[net])),$((s[app] + s[web] + s[net])),${a[app]},${a[web]}"
}

figure_memory() {
  local minutes="${1:-60}" display d_app d_bare app_root bare_root t0 now elapsed
  start_xvfb
  d_app=$display
  start_xvfb
  d_bare=$display
  rm -f "$out/memory-1min.png" "$out/memory-end.png"
  launch "$d_bare" "$scratch/bare" --bare
  bare_root=$app_pid
  launch "$d_app" "$scratch/app"
  app_root=$app_pid
  t0="$(date +%s)"
  echo "elapsed_s,which,app_rss_kib,webprocess_rss_kib,networkprocess_rss_kib,other_rss_kib,total_rss_kib,total_pss_kib,app_anon_kib,webprocess_anon_kib,load1" >"$out/memory.csv"
  while :; do
    now="$(date +%s)"
    elapsed=$((now - t0))
    for w in bare app; do
      local root=$bare_root
      [ "$w" = app ] && root=$app_root
      kill -0 "$root" 2>/dev/null || {
        echo "the $w process ended early; log:" >&2
        tail -20 "$scratch/$w/log" >&2
        exit 1
      }
      echo "$(sample "$elapsed" "$w" "$root"),$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out/memory.csv"
    done
    if [ "$elapsed" -ge 60 ] && [ ! -f "$out/memory-1min.png" ]; then
      DISPLAY=":$d_app" import -window root "$out/memory-1min.png" 2>/dev/null || true
    fi
    [ "$elapsed" -ge $((minutes * 60)) ] && break
    # The sampling interval, not a wait for anything.
    sleep "$every"
  done
  DISPLAY=":$d_app" import -window root "$out/memory-end.png" 2>/dev/null || true
  cp "$scratch/app/log" "$out/memory-app.log"
  ls -l "$scratch/app/data" >"$out/memory-db.txt" 2>&1 || true
  local last_app last_bare
  last_app="$(grep ',app,' "$out/memory.csv" | tail -1 | cut -d, -f7)"
  last_bare="$(grep ',bare,' "$out/memory.csv" | tail -1 | cut -d, -f7)"
  echo "after ${elapsed}s: app $((last_app / 1024)) MiB, floor $((last_bare / 1024)) MiB, app - floor $(((last_app - last_bare) / 1024)) MiB (RSS, all processes)"
  stop "$app_root"
  stop "$bare_root"
}

case "$1" in
  start) figure_start "${2:-5}" ;;
  memory) figure_memory "${2:-60}" ;;
  *) usage ;;
esac
