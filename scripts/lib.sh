# Shared by run.sh and test.sh: install only what is missing.

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

ensure_build_tools() {
  command -v cargo >/dev/null || { echo "cargo is needed: install Rust (rustup) first" >&2; exit 1; }
  apt_install build-essential pkg-config
}

# The desktop app's build dependencies (Tauri 2 on WebKitGTK 4.1, tray icon).
ensure_app_build_deps() {
  ensure_build_tools
  apt_install libwebkit2gtk-4.1-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev
}

# What the end-to-end tests need: a virtual display, the WebKit WebDriver,
# screenshots, and tauri-driver between the two.
ensure_app_test_deps() {
  apt_install xvfb xauth imagemagick webkit2gtk-driver x11-utils
  command -v tauri-driver >/dev/null || [ -x "$HOME/.cargo/bin/tauri-driver" ] ||
    cargo install tauri-driver --locked
}

# Node for ui/ (Vite 7 needs Node 20.19 or newer).
ensure_node() {
  command -v npm >/dev/null || apt_install nodejs npm
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 20 ]; then
    echo "ui/ needs Node 20.19+; this machine has $(node --version)" >&2
    exit 1
  fi
}

# Installs ui/'s locked dependencies when the lock file changed.
ui_deps() {
  ensure_node
  if [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
    # Not `npm ci`: with this registry's omit-lockfile-registry-resolved
    # setting, npm ci refuses a lock that lacks other platforms' optional
    # packages (rollup, esbuild). `npm install` keeps the locked versions.
    (cd ui && npm install --no-audit --no-fund)
  fi
}

# The reference servers of other protocols (npm socket.io, graphql-ws, ws)
# that the dialect tests start: tests/servers.
reference_server_deps() {
  ensure_node
  if [ ! -f tests/servers/node_modules/.package-lock.json ] || [ tests/servers/package-lock.json -nt tests/servers/node_modules/.package-lock.json ]; then
    (cd tests/servers && npm ci --no-audit --no-fund)
  fi
}

# Builds ui/dist, which the app embeds.
build_ui() {
  ui_deps
  (cd ui && npm run build)
}

# True when a desktop (X11 or Wayland) is there to open a window on.
have_display() {
  [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]
}
