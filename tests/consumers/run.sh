#!/usr/bin/env bash
# Programs outside focusllm, built only against an install of it (scripts/install.sh into
# temporary prefixes, never against target/ or include/ of this checkout), each run on the
# default model:
#   - C through pkg-config, shared (`pkg-config --cflags --libs focusllm`) and static
#     (`pkg-config --static ...` against a --static-only install);
#   - a CMake project (find_package(focusllm)), shared and static (focusllm_USE_STATIC_LIBS):
#     the C program and the test of the C++17 wrapper focusllm.hpp;
#   - README.md's install command and its C, C++ and CMake snippets, exactly as written
#     (tests/consumers/snippet.py); the Go and Swift snippets are checked by
#     scripts/test-bindings.sh, which has their toolchains;
#   - the install itself: the files and their sizes, the SONAME, no path into this checkout,
#     uninstall and reinstall leave no stale file, DESTDIR staging.
#
#   tests/consumers/run.sh
#
# Needs cc, c++, cmake, pkg-config, readelf and the default model (scripts/fetch-models.sh;
# FOCUSLLM_MODELS_DIR overrides the folder). Linux.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=${FOCUSLLM_MODELS_DIR:-$ROOT/models}/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$MODEL" ] || { echo "the model $MODEL is missing: run scripts/fetch-models.sh" >&2; exit 1; }
MODEL=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")
CONSUMERS=$ROOT/tests/consumers

WORK=$(mktemp -d "${TMPDIR:-/tmp}/focusllm-consumers.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Sources are copied out of the checkout, so a relative path into it cannot resolve.
cp -r "$CONSUMERS" "$WORK/src"
# Nothing from the developer's environment may point a build at the checkout.
unset PKG_CONFIG_PATH CMAKE_PREFIX_PATH LD_LIBRARY_PATH CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH LIBRARY_PATH
# The README's commands run with HOME set to a scratch folder; rustup and cargo keep theirs.
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup} CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}

STRICT_C="-std=c11 -Wall -Wextra -Wpedantic -Werror"
STRICT_CXX="-std=c++17 -Wall -Wextra -Wpedantic -Werror"
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
# Echoes a command, then runs it.
run() { printf '+ %s\n' "$*"; "$@"; }
needed_libfocusllm() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(libfocusllm[^]]*\)\]/\1/p'; }
expect_shared() {
    [ "$(needed_libfocusllm "$1")" = libfocusllm.so.1 ] || fail "$1 does not load libfocusllm.so.1: $(readelf -d "$1")"
}
expect_static() {
    [ -z "$(needed_libfocusllm "$1")" ] || fail "$1 was to link libfocusllm statically, but loads $(needed_libfocusllm "$1")"
}

# ------------------------------------------------------------------------------ install ----
PREFIX=$WORK/prefix
STATIC=$WORK/static
step "install: scripts/install.sh --prefix $PREFIX"
"$ROOT/scripts/install.sh" --prefix "$PREFIX"
step "install: scripts/install.sh --static-only --prefix $STATIC"
"$ROOT/scripts/install.sh" --static-only --prefix "$STATIC" | tail -n 8

step "the installed files"
expected="include/focusllm.h
include/focusllm.hpp
lib/cmake/focusllm/focusllmConfig.cmake
lib/cmake/focusllm/focusllmConfigVersion.cmake
lib/libfocusllm.a
lib/libfocusllm.so
lib/libfocusllm.so.1
lib/pkgconfig/focusllm.pc"
found=$(cd "$PREFIX" && find . \( -type f -o -type l \) | sed 's:^\./::' | sort)
[ "$found" = "$expected" ] || fail "installed files:
$found
expected:
$expected"
[ "$(readlink "$PREFIX/lib/libfocusllm.so")" = libfocusllm.so.1 ] || fail "libfocusllm.so is not a link to libfocusllm.so.1"
readelf -d "$PREFIX/lib/libfocusllm.so.1" | grep SONAME
readelf -d "$PREFIX/lib/libfocusllm.so.1" | grep -q '(SONAME).*\[libfocusllm.so.1\]' || fail "no SONAME libfocusllm.so.1"
abi=$(sed -n 's/^#define FOCUSLLM_ABI_VERSION \([0-9]*\)$/\1/p' "$PREFIX/include/focusllm.h")
[ "$abi" = 1 ] || fail "the SONAME major (1) is not the header's FOCUSLLM_ABI_VERSION ($abi)"
# Stripped: no debug sections, and far from cargo's 73 MB and 201 MB.
for lib in "$PREFIX/lib/libfocusllm.so.1" "$PREFIX/lib/libfocusllm.a"; do
    if readelf -S -W "$lib" | grep -q '\.debug_'; then fail "$lib has debug sections: not stripped"; fi
    printf '%-40s %s bytes\n' "${lib#"$PREFIX"/}" "$(wc -c <"$lib")"
done
[ "$(wc -c <"$PREFIX/lib/libfocusllm.so.1")" -lt 20000000 ] || fail "the shared library is over 20 MB: not stripped?"
[ "$(wc -c <"$PREFIX/lib/libfocusllm.a")" -lt 80000000 ] || fail "the archive is over 80 MB: not stripped?"
# Nothing installed names this checkout (pkg-config, CMake, the libraries' own strings aside).
if grep -rl -- "$ROOT" "$PREFIX/lib/pkgconfig" "$PREFIX/lib/cmake" "$PREFIX/include"; then
    fail "installed files name the checkout $ROOT"
fi
version=$(awk -F'"' '/^\[/{section=$0} section=="[package]" && /^version *=/{print $2; exit}' "$ROOT/Cargo.toml")
[ "$(PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --modversion focusllm)" = "$version" ] ||
    fail "focusllm.pc's version is not Cargo.toml's $version"
echo "ok: files, SONAME, stripped, version $version, no path into the checkout"

# ------------------------------------------------------------------------ C, pkg-config ----
cd "$WORK/src/c"
step "C, shared: cc consumer.c \$(pkg-config --cflags --libs focusllm)"
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
# shellcheck disable=SC2046,SC2086
run cc $STRICT_C consumer.c $(pkg-config --cflags --libs focusllm) -o consumer-shared
expect_shared consumer-shared
./consumer-shared "$MODEL"

step "C, static: cc consumer.c \$(pkg-config --static --cflags --libs focusllm) (--static-only install)"
export PKG_CONFIG_PATH=$STATIC/lib/pkgconfig
# shellcheck disable=SC2046,SC2086
run cc $STRICT_C consumer.c $(pkg-config --static --cflags --libs focusllm) -o consumer-static
expect_static consumer-static
./consumer-static "$MODEL"
unset PKG_CONFIG_PATH

# -------------------------------------------------------------------------------- CMake ----
cmake_build() {
    local dir=$1
    shift
    run cmake -S "$WORK/src/cmake" -B "$dir" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS=-Wall -Wextra -Wpedantic -Werror" \
        "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wpedantic -Werror" "$@" >"$dir.log" || { cat "$dir.log"; return 1; }
    run cmake --build "$dir" -j 2 >>"$dir.log" || { cat "$dir.log"; return 1; }
}
step "CMake, shared: find_package(focusllm CONFIG REQUIRED), focusllm::focusllm"
cmake_build "$WORK/cmake-shared" "-DCMAKE_PREFIX_PATH=$PREFIX"
expect_shared "$WORK/cmake-shared/consumer_c"
expect_shared "$WORK/cmake-shared/consumer_cpp"
"$WORK/cmake-shared/consumer_c" "$MODEL"
step "C++17 wrapper focusllm.hpp: its test (built by CMake above)"
mkdir -p "$WORK/scratch"
"$WORK/cmake-shared/consumer_cpp" "$MODEL" "$WORK/scratch"

step "CMake, static: -Dfocusllm_USE_STATIC_LIBS=ON (from the full install)"
cmake_build "$WORK/cmake-static" "-DCMAKE_PREFIX_PATH=$PREFIX" -Dfocusllm_USE_STATIC_LIBS=ON
expect_static "$WORK/cmake-static/consumer_c"
expect_static "$WORK/cmake-static/consumer_cpp"
"$WORK/cmake-static/consumer_c" "$MODEL"

step "CMake: a static-only install gives the static library by default"
cmake_build "$WORK/cmake-static-only" "-DCMAKE_PREFIX_PATH=$STATIC"
expect_static "$WORK/cmake-static-only/consumer_c"

step "CMake: an incompatible version is refused"
mkdir -p "$WORK/cmake-version"
printf 'cmake_minimum_required(VERSION 3.16)\nproject(v C)\nfind_package(focusllm 99 CONFIG REQUIRED)\n' \
    >"$WORK/cmake-version/CMakeLists.txt"
if cmake -S "$WORK/cmake-version" -B "$WORK/cmake-version/build" "-DCMAKE_PREFIX_PATH=$PREFIX" >/dev/null 2>&1; then
    fail "find_package(focusllm 99) accepted version $version"
fi
echo "ok: find_package(focusllm 99) fails"

# ---------------------------------------------------------------------- README snippets ----
step "README.md: the install command, as written (HOME=$WORK/home)"
mkdir -p "$WORK/home"
python3 "$CONSUMERS/snippet.py" "$ROOT/README.md" install --raw | tee "$WORK/install.sh"
# The snippet runs from the repository root, as the README's commands do.
(cd "$ROOT" && HOME=$WORK/home bash -euo pipefail -c \
    ". '$WORK/install.sh'; env | grep -E '^(PKG_CONFIG_PATH|CMAKE_PREFIX_PATH)=' >'$WORK/readme-env'") ||
    fail "README's install command"
cat "$WORK/readme-env"
while IFS='=' read -r name value; do export "$name=$value"; done <"$WORK/readme-env"
[ -f "$WORK/home/.local/lib/pkgconfig/focusllm.pc" ] || fail "README's install command installed no focusllm.pc"

snippet() { python3 "$CONSUMERS/snippet.py" "$ROOT/README.md" "$@"; }
for name in c c-chat cpp cpp-chat; do
    step "README.md: the $name snippet"
    mkdir -p "$WORK/readme-$name"
    source_file=app.c
    [ "${name%-chat}" = cpp ] && source_file=app.cpp
    snippet "$name" >"$WORK/readme-$name/$source_file"
    (cd "$WORK/readme-$name" && run sh -c "$(snippet "$name" --command)" && expect_shared app && ./app "$MODEL")
done
mkdir -p "$WORK/readme-cmake"
step "README.md: the CMake snippet (with the C snippet as app.c)"
snippet cmake >"$WORK/readme-cmake/CMakeLists.txt"
cp "$WORK/readme-c/app.c" "$WORK/readme-cmake/"
(cd "$WORK/readme-cmake" && run cmake -S . -B build >build.log && run cmake --build build >>build.log &&
    expect_shared build/app && build/app "$MODEL") || { cat "$WORK/readme-cmake/build.log"; fail "README's CMake snippet"; }
step "README.md: the static link line of \"Linking from C\""
mkdir -p "$WORK/readme-static"
snippet c >"$WORK/readme-static/app.c"
python3 "$CONSUMERS/snippet.py" "$ROOT/README.md" c-static --raw >"$WORK/readme-static/link.sh"
cat "$WORK/readme-static/link.sh"
sed -i "s:^scripts/:$ROOT/scripts/:" "$WORK/readme-static/link.sh"
(cd "$WORK/readme-static" && HOME=$WORK/home-static bash -euo pipefail link.sh && expect_static app && ./app "$MODEL")
unset PKG_CONFIG_PATH CMAKE_PREFIX_PATH

# ------------------------------------------------------------- uninstall, reinstall ----
step "uninstall leaves no file; a reinstall leaves no stale one; DESTDIR stages"
"$ROOT/scripts/install.sh" --uninstall --prefix "$PREFIX"
left=$(find "$PREFIX" -mindepth 1 2>/dev/null || true)
[ -z "$left" ] || fail "left after --uninstall: $left"
# A stale library of another ABI, then a static-only reinstall: neither shared file may stay.
"$ROOT/scripts/install.sh" --prefix "$PREFIX" >/dev/null
cp "$PREFIX/lib/libfocusllm.so.1" "$PREFIX/lib/libfocusllm.so.0"
"$ROOT/scripts/install.sh" --static-only --prefix "$PREFIX" >/dev/null
stale=$(cd "$PREFIX" && find . -name 'libfocusllm.so*')
[ -z "$stale" ] || fail "stale after a --static-only reinstall: $stale"
"$ROOT/scripts/install.sh" --uninstall --prefix "$PREFIX" >/dev/null
DESTDIR=$WORK/stage "$ROOT/scripts/install.sh" --prefix /opt/focusllm >/dev/null
[ -f "$WORK/stage/opt/focusllm/lib/libfocusllm.so.1" ] || fail "DESTDIR: nothing under $WORK/stage/opt/focusllm"
grep -qx 'prefix=/opt/focusllm' "$WORK/stage/opt/focusllm/lib/pkgconfig/focusllm.pc" || fail "DESTDIR: the .pc names the stage"
echo "ok: uninstall, reinstall, DESTDIR"

step "summary"
echo "all consumers built against the install and ran on $(basename "$MODEL")"
