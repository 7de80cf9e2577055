#!/usr/bin/env bash
# Packages the desktop app for Linux, without the Tauri CLI (it cannot
# bundle over our root-level tauri.conf.json; see ARCHITECTURE.md,
# "Packaging"):
#
#   scripts/package.sh deb        # target/package/sockscope_<version>_<arch>.deb (dpkg-deb)
#   scripts/package.sh appimage   # target/package/sockscope-<version>-x86_64.AppImage
#   scripts/package.sh all        # both
#
# Each builds the UI and the release binary first (custom-protocol: the UI
# is embedded), stages a tree under target/package/, checks it, and packs
# it. `--check` after the target also checks the finished package (the
# .deb's metadata and contents; the AppImage's magic, and that its own
# runtime extracts it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

usage() {
  echo "usage: scripts/package.sh deb|appimage|all [--check]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
what="$1"
check=0
[ "${2:-}" = "--check" ] && check=1
case "$what" in deb | appimage | all) ;; *) usage ;; esac

conf() { python3 -c "import json,sys; print(json.load(open('tauri.conf.json'))[sys.argv[1]])" "$1"; }
version="$(conf version)"
bin_name="$(conf mainBinaryName)"
app="sockscope"
summary="WebSocket race monitor"
out="${CARGO_TARGET_DIR:-target}/package"
target_dir="${CARGO_TARGET_DIR:-target}"

fail() {
  echo "package.sh: $*" >&2
  exit 1
}

build_app() {
  ensure_app_build_deps
  build_ui
  cargo build --release --quiet -p sockscope-app --features custom-protocol
  binary="$target_dir/release/$bin_name"
  [ -x "$binary" ] || fail "no binary at $binary"
}

# The .desktop entry both packages carry. $1: the Exec line's program.
desktop_entry() {
  cat <<EOF
[Desktop Entry]
Type=Application
Name=sockscope
GenericName=$summary
Comment=Watch WebSocket job sockets: states, frames and race findings on one timeline
Exec=$1
Icon=$app
Terminal=false
Categories=Development;Debugger;
StartupWMClass=$bin_name
EOF
}

check_desktop() {
  desktop-file-validate "$1" || fail "$1 does not validate"
  grep -q "^Icon=$app$" "$1" || fail "$1 has no Icon=$app"
}

# ---- .deb: dpkg-deb over a staged tree -------------------------------------

stage_deb() {
  local arch
  arch="$(dpkg --print-architecture)"
  deb_root="$out/deb/${app}_${version}_${arch}"
  deb_file="$out/${app}_${version}_${arch}.deb"
  rm -rf "$deb_root"
  mkdir -p "$deb_root/DEBIAN" "$deb_root/usr/bin" "$deb_root/usr/share/applications" \
    "$deb_root/usr/share/doc/$app"
  install -m 0755 "$binary" "$deb_root/usr/bin/$bin_name"
  strip --strip-unneeded "$deb_root/usr/bin/$bin_name"
  desktop_entry "$bin_name" >"$deb_root/usr/share/applications/$app.desktop"
  for src in src-tauri/icons/32x32.png src-tauri/icons/128x128.png src-tauri/icons/icon.png; do
    local size
    size="$(identify -format '%wx%h' "$src")"
    install -D -m 0644 "$src" "$deb_root/usr/share/icons/hicolor/$size/apps/$app.png"
  done
  printf 'sockscope %s\nLicense: MIT OR Apache-2.0\n' "$version" >"$deb_root/usr/share/doc/$app/copyright"
  local kib
  kib="$(du -sk --exclude=DEBIAN "$deb_root" | cut -f1)"
  cat >"$deb_root/DEBIAN/control" <<EOF
Package: $app
Version: $version
Architecture: $arch
Maintainer: sockscope developers <dev@sockscope.invalid>
Installed-Size: $kib
Depends: libwebkit2gtk-4.1-0, libgtk-3-0, libayatana-appindicator3-1
Section: devel
Priority: optional
Description: $summary
 A desktop monitor for long-lived WebSocket job sockets: every state
 transition, frame and race finding on one canvas timeline, with an
 embedded fault-injecting simulator for a demo.
EOF
}

check_deb_tree() {
  local r="$deb_root"
  [ -x "$r/usr/bin/$bin_name" ] || fail "staged binary missing"
  file -b "$r/usr/bin/$bin_name" | grep -q ELF || fail "staged binary is not an ELF"
  for s in 32x32 128x128 512x512; do
    [ "$(identify -format '%wx%h' "$r/usr/share/icons/hicolor/$s/apps/$app.png")" = "$s" ] ||
      fail "icon $s has the wrong size"
  done
  check_desktop "$r/usr/share/applications/$app.desktop"
  grep -q '^Depends: libwebkit2gtk-4.1-0, libgtk-3-0, libayatana-appindicator3-1$' "$r/DEBIAN/control" ||
    fail "control lacks the runtime Depends"
  echo "package.sh: staged .deb tree ok ($r)"
}

build_deb() {
  stage_deb
  check_deb_tree
  dpkg-deb --root-owner-group -Zxz --build "$deb_root" "$deb_file" >/dev/null
  echo "package.sh: wrote $deb_file"
  if [ $check -eq 1 ]; then
    [ "$(dpkg-deb --field "$deb_file" Package)" = "$app" ] || fail ".deb Package field"
    [ "$(dpkg-deb --field "$deb_file" Version)" = "$version" ] || fail ".deb Version field"
    local contents
    contents="$(dpkg-deb --contents "$deb_file")"
    grep -q "\./usr/bin/$bin_name$" <<<"$contents" || fail ".deb lacks the binary"
    grep -q "\./usr/share/applications/$app.desktop$" <<<"$contents" || fail ".deb lacks the .desktop file"
    grep -q "\./usr/share/icons/hicolor/128x128/apps/$app.png$" <<<"$contents" || fail ".deb lacks the icons"
    echo "package.sh: .deb ok"
  fi
}

# ---- AppImage: runtime ELF + squashfs of an AppDir ---------------------------

# The AppImage type-2 runtime (AppImageKit's, x86_64) as the crates.io
# package `appimage` 0.4.0 ships it, fetched by cargo; pinned by hash.
RUNTIME_SHA256=328e0d745c5c6817048c27bc3e8314871703f8f47ffa81a37cb06cd95a94b323
runtime_path() {
  local manifest
  manifest="$(cargo metadata --format-version 1 --manifest-path packaging/appimage-runtime/Cargo.toml |
    python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="appimage"))')"
  local rt
  rt="$(dirname "$manifest")/assets/runtime-x86_64"
  [ -f "$rt" ] || fail "the appimage crate has no runtime at $rt"
  echo "$RUNTIME_SHA256  $rt" | sha256sum --quiet -c - >&2 || fail "runtime checksum mismatch: $rt"
  echo "$rt"
}

stage_appdir() {
  appdir="$out/appimage/$app.AppDir"
  appimage_file="$out/${app}-${version}-x86_64.AppImage"
  rm -rf "$appdir"
  mkdir -p "$appdir/usr/bin"
  install -m 0755 "$binary" "$appdir/usr/bin/$bin_name"
  strip --strip-unneeded "$appdir/usr/bin/$bin_name"
  cat >"$appdir/AppRun" <<EOF
#!/bin/sh
# The AppImage's entry point: the app, with the host's WebKitGTK 4.1.
HERE="\$(dirname "\$(readlink -f "\$0")")"
exec "\$HERE/usr/bin/$bin_name" "\$@"
EOF
  chmod 0755 "$appdir/AppRun"
  desktop_entry "$bin_name" >"$appdir/$app.desktop"
  install -m 0644 src-tauri/icons/icon.png "$appdir/$app.png"
  for src in src-tauri/icons/32x32.png src-tauri/icons/128x128.png src-tauri/icons/icon.png; do
    install -D -m 0644 "$src" "$appdir/usr/share/icons/hicolor/$(identify -format '%wx%h' "$src")/apps/$app.png"
  done
  ln -s "$app.png" "$appdir/.DirIcon"
}

check_appdir() {
  [ -x "$appdir/AppRun" ] || fail "AppDir lacks an executable AppRun"
  [ -x "$appdir/usr/bin/$bin_name" ] || fail "AppDir lacks the binary"
  [ -f "$appdir/$app.png" ] && [ -L "$appdir/.DirIcon" ] || fail "AppDir lacks its icon"
  [ "$(find "$appdir" -maxdepth 1 -name '*.desktop' | wc -l)" -eq 1 ] || fail "AppDir needs exactly one .desktop file at its root"
  check_desktop "$appdir/$app.desktop"
  echo "package.sh: staged AppDir ok ($appdir)"
}

build_appimage() {
  [ "$(uname -m)" = x86_64 ] || fail "the pinned AppImage runtime is x86_64 only"
  local rt
  rt="$(runtime_path)"
  stage_appdir
  check_appdir
  local sq="$out/appimage/$app.squashfs"
  # gzip: a compression the runtime reads; -root-owned: no build-user uids.
  mksquashfs "$appdir" "$sq" -root-owned -noappend -comp gzip -quiet >/dev/null
  cat "$rt" "$sq" >"$appimage_file"
  chmod 0755 "$appimage_file"
  rm -f "$sq"
  echo "package.sh: wrote $appimage_file"
  if [ $check -eq 1 ]; then
    # The type-2 magic: "AI" 0x02 at offset 8.
    [ "$(od -An -tx1 -j8 -N3 "$appimage_file" | tr -d ' ')" = "414902" ] || fail "no AppImage type-2 magic"
    local x
    x="$(mktemp -d)"
    (cd "$x" && "$OLDPWD/$appimage_file" --appimage-extract >/dev/null) || fail "the runtime cannot extract the image"
    [ -x "$x/squashfs-root/AppRun" ] && [ -x "$x/squashfs-root/usr/bin/$bin_name" ] || fail "extracted image lacks AppRun or the binary"
    cmp -s "$x/squashfs-root/usr/bin/$bin_name" "$appdir/usr/bin/$bin_name" || fail "extracted binary differs"
    rm -rf "$x"
    echo "package.sh: AppImage ok"
  fi
}

build_app
# dpkg-deb, mksquashfs, identify (icon sizes), desktop-file-validate.
apt_install dpkg squashfs-tools imagemagick desktop-file-utils file
mkdir -p "$out"
case "$what" in
  deb) build_deb ;;
  appimage) build_appimage ;;
  all)
    build_deb
    build_appimage
    ;;
esac
