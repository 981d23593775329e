#!/usr/bin/env bash
# Builds llama.cpp's own programs (the correctness and speed baselines) against the very llama.cpp
# static libraries and headers that the llama-cpp-sys-2 crate built for this project, so that the
# baseline runs exactly the same kernels as our crate.
#
# The crate vendors llama.cpp's library sources but not its programs' sources, so the program
# sources come from the PyPI sdist of llama-cpp-python (its vendor/llama.cpp is a complete, slightly
# older llama.cpp tree). Only the program .cpp files are taken from it; headers and libraries are
# the crate's. Nothing here is committed: sources are cached in build/llama-src/, binaries go to
# build/tools/ (both under the ignored /build).
#
#   scripts/build-llama-tools.sh              # all tools: llama-simple, llama-bench, llama-passkey, llama-batched-bench
#   scripts/build-llama-tools.sh simple       # just one
#
# Environment:
#   LLAMA_OUT_DIR      the llama-cpp-sys-2 OUT_DIR to link against (default: the newest
#                      target/release/build/llama-cpp-sys-2-*/out that holds lib/libllama.a;
#                      `cargo build --release --lib` is run first if there is none)
#   CARGO_TARGET_DIR   honoured when looking for that OUT_DIR
#   CXX                C++ compiler (default g++)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

SDIST_NAME=llama-cpp-python
SDIST_VERSION=0.3.36
SDIST_FILE=llama_cpp_python-$SDIST_VERSION.tar.gz
SDIST_SHA=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e

src_root=$repo/build/llama-src          # cached program sources (extracted sdist subset)
src=$src_root/llama.cpp                 # = the sdist's vendor/llama.cpp (examples/, tools/ only)
tools=$repo/build/tools                 # built programs
CXX=${CXX:-g++}
CXXFLAGS=(-O2 -DNDEBUG -std=c++17)

log() { echo "build-llama-tools: $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- program sources: the llama-cpp-python sdist, downloaded once and cached -------------------
fetch_sources() {
  local stamp=$src_root/.complete-$SDIST_NAME-$SDIST_VERSION
  [ -f "$stamp" ] && return
  local tmp
  tmp=$(mktemp -d)
  log "downloading the $SDIST_NAME==$SDIST_VERSION sdist from PyPI (77 MB) for llama.cpp's program sources..."
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" "$SDIST_NAME==$SDIST_VERSION"
  echo "$SDIST_SHA  $tmp/$SDIST_FILE" | sha256sum --check --status \
    || { rm -rf "$tmp"; die "checksum mismatch for $SDIST_FILE (expected $SDIST_SHA)"; }
  rm -rf "$src_root"
  mkdir -p "$src_root"
  # Only the programs (examples/, tools/) and the licence; headers/libraries come from the crate.
  tar -xzf "$tmp/$SDIST_FILE" -C "$src_root" --strip-components=2 \
    "llama_cpp_python-$SDIST_VERSION/vendor/llama.cpp/examples" \
    "llama_cpp_python-$SDIST_VERSION/vendor/llama.cpp/tools" \
    "llama_cpp_python-$SDIST_VERSION/vendor/llama.cpp/LICENSE"
  rm -rf "$tmp"
  touch "$stamp"
  log "sources cached in $src"
}

# --- the crate's build output ------------------------------------------------------------------
find_out_dir() {
  local target=${CARGO_TARGET_DIR:-$repo/target} best="" best_t=0 d t
  for d in "$target"/release/build/llama-cpp-sys-2-*/out; do
    [ -f "$d/lib/libllama.a" ] || continue
    t=$(stat -c %Y "$d/lib/libllama.a")
    if [ "$t" -gt "$best_t" ]; then best=$d; best_t=$t; fi
  done
  echo "$best"
}

locate_crate_build() {
  if [ -n "${LLAMA_OUT_DIR:-}" ]; then
    out=$LLAMA_OUT_DIR
  else
    out=$(find_out_dir)
    if [ -z "$out" ]; then
      log "no llama-cpp-sys-2 build output yet; running cargo build --release --lib (long)..."
      cargo build --release --lib
      out=$(find_out_dir)
    fi
  fi
  [ -n "$out" ] && [ -f "$out/lib/libllama.a" ] || die "no lib/libllama.a in the llama-cpp-sys-2 OUT_DIR '${out:-}'"
  out=$(cd "$out" && pwd)

  # The crate's llama.cpp source tree, i.e. the headers the libraries were compiled with: the
  # cmake source dir recorded in the build, else the crate in the cargo registry.
  llama=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$out/build/CMakeCache.txt" 2>/dev/null || true)
  if [ -z "$llama" ] || [ ! -f "$llama/include/llama.h" ]; then
    local ver
    ver=$(awk '/^name = "llama-cpp-sys-2"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock 2>/dev/null || true)
    llama=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/llama-cpp-sys-2-"${ver:-0.1.161}"/llama.cpp 2>/dev/null | head -n1 || true)
  fi
  [ -n "$llama" ] && [ -f "$llama/include/llama.h" ] || die "cannot find the crate's llama.cpp headers"
  # Sanity: the headers installed next to the libraries must be the ones we compile against.
  if [ -f "$out/include/llama.h" ] && ! cmp -s "$out/include/llama.h" "$llama/include/llama.h"; then
    die "$out/include/llama.h differs from $llama/include/llama.h: OUT_DIR and crate source disagree"
  fi
  log "libraries: $out/lib"
  log "headers:   $llama/{include,ggml/include}"

  INC=(-I"$llama/include" -I"$llama/ggml/include")
  # Core libraries only (llama-cpp-sys-2 built with default-features = false: no `common`, no
  # OpenMP: GGML_OPENMP=OFF in its CMakeCache, so no -lgomp).
  LIBS_CORE=(-L"$out/lib" -lllama -lggml -lggml-cpu -lggml-base -lpthread -ldl -lm)
  if grep -q '^GGML_OPENMP_ENABLED:INTERNAL=ON' "$out/build/CMakeCache.txt" 2>/dev/null; then
    LIBS_CORE+=(-fopenmp)
  fi
}

# --- one function per tool ----------------------------------------------------------------------

# llama-simple (examples/simple/simple.cpp): plain greedy completion; the golden-output reference
# for tests/golden (scripts/make-golden.sh). Needs only the core library.
build_simple() {
  local in=$src/examples/simple/simple.cpp outbin=$tools/llama-simple
  log "compiling $outbin"
  "$CXX" "${CXXFLAGS[@]}" "$in" "${INC[@]}" "${LIBS_CORE[@]}" -o "$outbin"
}

# llama-bench and llama-passkey need llama.cpp's `common` library, which llama-cpp-sys-2 builds
# only with its `common` feature (our crate's `llama-common` feature). That build goes to its own
# target dir (build/target-common) so the main one is not rebuilt; it compiles the very same
# vendored llama.cpp sources with the same settings, so the kernels are the same.
locate_common_build() {
  [ -n "${common_out:-}" ] && return
  local target=$repo/build/target-common d
  for d in "$target"/release/build/llama-cpp-sys-2-*/out; do
    [ -f "$d/lib/libllama-common.a" ] && common_out=$d
  done
  if [ -z "${common_out:-}" ]; then
    log "building llama.cpp with its common library into $target (long, once)..."
    CARGO_TARGET_DIR=$target cargo build --release --lib --features llama-common >&2
    for d in "$target"/release/build/llama-cpp-sys-2-*/out; do
      [ -f "$d/lib/libllama-common.a" ] && common_out=$d
    done
  fi
  [ -n "${common_out:-}" ] || die "no libllama-common.a under $target"
  INC_COMMON=("${INC[@]}" -I"$llama/common" -I"$llama/vendor")
  LIBS_COMMON=(-L"$common_out/lib" -L"$common_out/build/common" -L"$common_out/build/vendor/cpp-httplib"
    -L"$common_out/build/vendor/hash" -lllama-common -lllama-common-base -lllama -lggml -lggml-cpu -lggml-base
    -lcpp-httplib -lvendor-hash -lssl -lcrypto -lpthread -ldl -lm)
}

# llama-bench (tools/llama-bench): the pp512 / tg128 throughput yardstick.
build_bench() {
  locate_common_build
  log "compiling $tools/llama-bench"
  "$CXX" "${CXXFLAGS[@]}" "$src/tools/llama-bench/llama-bench.cpp" "$src/tools/llama-bench/main.cpp" \
    "${INC_COMMON[@]}" "${LIBS_COMMON[@]}" -o "$tools/llama-bench"
}

# llama-passkey (examples/passkey): llama.cpp's passkey test, plain or with SelfExtend.
build_passkey() {
  locate_common_build
  log "compiling $tools/llama-passkey"
  "$CXX" "${CXXFLAGS[@]}" "$src/examples/passkey/passkey.cpp" "${INC_COMMON[@]}" "${LIBS_COMMON[@]}" \
    -o "$tools/llama-passkey"
}

# llama-batched-bench (tools/batched-bench): prompt processing of several sequences in one batch,
# llama.cpp's own measure of the parallel prefill that the chunk pass does.
build_batched() {
  locate_common_build
  log "compiling $tools/llama-batched-bench"
  "$CXX" "${CXXFLAGS[@]}" "$src/tools/batched-bench/batched-bench.cpp" "$src/tools/batched-bench/main.cpp" \
    "${INC_COMMON[@]}" "${LIBS_COMMON[@]}" \
    -o "$tools/llama-batched-bench"
}

ALL_TOOLS=(simple bench passkey batched)

main() {
  local want=("$@")
  [ ${#want[@]} -gt 0 ] || want=("${ALL_TOOLS[@]}")
  local t
  for t in "${want[@]}"; do
    declare -F "build_$t" >/dev/null || die "unknown tool '$t' (known: ${ALL_TOOLS[*]})"
  done
  fetch_sources
  locate_crate_build
  mkdir -p "$tools"
  for t in "${want[@]}"; do "build_$t"; done
  log "done: $(cd "$tools" && ls | tr '\n' ' ')"
}

main "$@"
