#!/usr/bin/env bash
# Installs libtaskwheel for C and C++ projects into PREFIX:
#   PREFIX/lib/libtaskwheel.a
#   PREFIX/lib/libtaskwheel.so.VERSION (its SONAME; while 0.x the exact version, as rustls-ffi does) and the
#     libtaskwheel.so link to it
#   PREFIX/include/taskwheel.h
#   PREFIX/lib/pkgconfig/taskwheel.pc             pkg-config --cflags --libs taskwheel (the shared library)
#   PREFIX/lib/pkgconfig/taskwheel-static.pc      pkg-config --cflags --libs taskwheel-static (the archive: with both
#                                                 installed, `-ltaskwheel --static` would still pick the .so)
#   PREFIX/lib/cmake/taskwheel/taskwheelConfig.cmake and taskwheelConfigVersion.cmake
#                                                 find_package(taskwheel) -> taskwheel::taskwheel
# Usage: ffi/install.sh PREFIX [release|debug]      (builds the library first; release by default)
#
# A script rather than cargo-c's `cargo cinstall`: cargo-c writes the library, the header and a .pc file, but no
# CMake package, and installing it compiles cargo itself (minutes on a small machine, in every fresh CI run);
# what is left to do here is copying four files and filling three templates.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 PREFIX [release|debug]" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$1"
prefix="$(cd "$1" && pwd)"
profile="${2:-release}"
case "$profile" in
  release) cargo_profile=(--release) ;;
  debug) cargo_profile=() ;;
  *) echo "profile must be release or debug, not $profile" >&2; exit 2 ;;
esac
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
[ -n "$version" ] || { echo "no version in $root/Cargo.toml" >&2; exit 1; }

cd "$root"
cargo build -q -p taskwheel-ffi "${cargo_profile[@]}"
# What a program linking the static library must add: rustc's own list, so it stays right on every platform.
static_libs="$(cargo rustc -q -p taskwheel-ffi --lib --crate-type staticlib "${cargo_profile[@]}" -- \
  --print native-static-libs 2>&1 | sed -n 's/.*native-static-libs: //p' | tail -n 1)"
[ -n "$static_libs" ] || { echo "rustc printed no native-static-libs" >&2; exit 1; }

# Where cargo put it: `target/` unless CARGO_TARGET_DIR (or a cargo config) says otherwise, as cargo itself reports.
target_dir="$(cargo metadata -q --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[ -n "$target_dir" ] || { echo "cargo metadata reported no target directory" >&2; exit 1; }
built="$target_dir/$profile"
lib="$prefix/lib"
install -d "$lib" "$prefix/include" "$lib/pkgconfig" "$lib/cmake/taskwheel"
install -m 644 "$built/libtaskwheel.a" "$lib/libtaskwheel.a"
install -m 755 "$built/libtaskwheel.so" "$lib/libtaskwheel.so.$version"
ln -sfn "libtaskwheel.so.$version" "$lib/libtaskwheel.so"
install -m 644 "$root/include/taskwheel.h" "$prefix/include/taskwheel.h"
fill() {
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" -e "s|@STATIC_LIBS@|$static_libs|g" "$1" > "$2"
}
fill "$root/ffi/pkg/taskwheel.pc.in" "$lib/pkgconfig/taskwheel.pc"
fill "$root/ffi/pkg/taskwheel-static.pc.in" "$lib/pkgconfig/taskwheel-static.pc"
fill "$root/ffi/pkg/taskwheelConfig.cmake.in" "$lib/cmake/taskwheel/taskwheelConfig.cmake"
fill "$root/ffi/pkg/taskwheelConfigVersion.cmake.in" "$lib/cmake/taskwheel/taskwheelConfigVersion.cmake"
echo "installed taskwheel $version ($profile) into $prefix"
