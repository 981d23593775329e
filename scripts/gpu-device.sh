#!/usr/bin/env bash
# Runs the GPU benchmark on a lent CUDA machine that has nvcc, CMake and ninja but no Rust and
# no network, in two short calls, because what may travel to it in one call (64 MiB) is less
# than the model (93 MB) plus the llama.cpp sources.
#
#   scripts/gpu-device.sh pack  [DIR]   here: fill DIR (default .gpu) with the two payloads
#   scripts/gpu-device.sh build [DIR]   on the GPU machine, call 1: build llama.cpp with CUDA
#   scripts/gpu-device.sh run   [DIR]   on the GPU machine, call 2: join the model, benchmark
#
# How the pieces fit: `pack` builds focusllm here against llama.cpp as SHARED libraries
# (llama-cpp-sys-2 honours LLAMA_BUILD_SHARED_LIBS=1), so the binary needs libllama.so.0, which
# needs libggml.so.0, libggml-base.so.0 and libggml-cpu.so.0 (SONAMEs). `build` configures the
# crate's very llama.cpp sources as its build.rs does, plus GGML_CUDA=ON for one architecture,
# which yields libraries of the same SONAMEs; `run` points LD_LIBRARY_PATH at them, so the same
# binary runs on the GPU (--gpu-layers 999). llama-bench (source from the llama-cpp-python
# sdist, as scripts/build-llama-tools.sh gets it) is built against the same CUDA libraries
# for a same-run yardstick.
#
# Payloads (DIR/stage1 and DIR/stage2, each under the 64 MiB a call may carry with the tree):
#   stage1/llama-src.tar.gz   the crate's llama.cpp (no docs, models, tests, examples) + llama-bench
#   stage1/model.part-a       the model's first MODEL_SPLIT_MIB MiB
#   stage2/model.part-b       the rest of the model
#   stage2/focusllm           the binary (shared llama.cpp), stage2/needed.txt its NEEDED list
# `build` keeps what it needs in WORK (default /root/focusllm-gpu), which survives between two
# calls made while the machine is still warm (30 s after a call).
#
# Environment:
#   CARGO_TARGET_DIR   pack: where the shared-llama.cpp build goes (default target/shared-llama,
#                      kept apart from target/ so the static build is not redone)
#   CUDA_ARCH          build: CMAKE_CUDA_ARCHITECTURES (default 90, Hopper: H100/H200)
#   BUILD_JOBS         build: ninja -j (default: all cores)
#   CUDA               build: 0 builds the same without CUDA, to try these steps on a machine
#                      without a GPU (default 1)
#   WORK               build/run: work folder on the GPU machine (default /root/focusllm-gpu)
#   OUT                build/run: where logs and results go (the device tool's $OUT; default
#                      WORK/out)
#   RUNS, RUN_TIMEOUT, PASSKEY_ARGS   run: passed on to scripts/gpu-bench.sh
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
dir=${2:-.gpu}
WORK=${WORK:-/root/focusllm-gpu}

MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODEL_SPLIT_MIB=${MODEL_SPLIT_MIB:-48}
# Same pin as scripts/build-llama-tools.sh (the two share the build/llama-src cache).
SDIST_VERSION=0.3.36
SDIST_FILE=llama_cpp_python-$SDIST_VERSION.tar.gz
SDIST_SHA=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
LLAMA_SYS_VERSION=0.1.161
# The SONAMEs that the binary and its libllama need, which the CUDA build must provide.
LLAMA_LIBS=(libllama.so.0 libggml.so.0 libggml-base.so.0 libggml-cpu.so.0)

log() { echo "gpu-device: $*" >&2; }
die() { log "error: $*"; exit 1; }
stamp() { date -u +%H:%M:%S; }

# --- pack (here) --------------------------------------------------------------------------------

crate_llama_src() {
  local d
  d=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/llama-cpp-sys-2-$LLAMA_SYS_VERSION/llama.cpp 2>/dev/null | head -n1)
  [ -n "$d" ] && [ -f "$d/include/llama.h" ] || die "llama-cpp-sys-2 $LLAMA_SYS_VERSION is not in the cargo registry (run cargo fetch)"
  echo "$d"
}

# llama-bench's sources, cached in build/llama-src exactly as scripts/build-llama-tools.sh does.
bench_sources() {
  local src_root=$repo/build/llama-src tmp
  if [ ! -f "$src_root/.complete-llama-cpp-python-$SDIST_VERSION" ]; then
    tmp=$(mktemp -d)
    log "downloading the llama-cpp-python==$SDIST_VERSION sdist (77 MB) for llama-bench's source..."
    python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" "llama-cpp-python==$SDIST_VERSION" \
      || die "pip download of llama-cpp-python==$SDIST_VERSION failed"
    echo "$SDIST_SHA  $tmp/$SDIST_FILE" | sha256sum --check --status || die "checksum mismatch for $SDIST_FILE"
    rm -rf "$src_root" && mkdir -p "$src_root"
    tar -xzf "$tmp/$SDIST_FILE" -C "$src_root" --strip-components=2 \
      "llama_cpp_python-$SDIST_VERSION/vendor/llama.cpp/examples" \
      "llama_cpp_python-$SDIST_VERSION/vendor/llama.cpp/tools" \
      "llama_cpp_python-$SDIST_VERSION/vendor/llama.cpp/LICENSE"
    rm -rf "$tmp"
    touch "$src_root/.complete-llama-cpp-python-$SDIST_VERSION"
  fi
  echo "$src_root/llama.cpp/tools/llama-bench"
}

pack() {
  cd "$repo"
  local llama bench model target bin s1 s2 tmp
  llama=$(crate_llama_src)
  bench=$(bench_sources)
  model=models/$MODEL_FILE
  [ -f "$model" ] || die "$model is missing: run scripts/fetch-models.sh"
  echo "$MODEL_SHA  $model" | sha256sum --check --status || die "$model does not have the expected sha256 $MODEL_SHA"

  target=${CARGO_TARGET_DIR:-$repo/target/shared-llama}
  log "building focusllm against shared llama.cpp libraries in $target ..."
  CARGO_TARGET_DIR=$target LLAMA_BUILD_SHARED_LIBS=1 cargo build --release --bin focusllm >&2 \
    || die "cargo build (LLAMA_BUILD_SHARED_LIBS=1) failed"
  bin=$target/release/focusllm
  local needed
  needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  grep -qx libllama.so.0 <<<"$needed" || die "$bin does not link libllama.so.0 dynamically (NEEDED: $(echo $needed))"

  s1=$dir/stage1 s2=$dir/stage2
  rm -rf "$s1" "$s2" && mkdir -p "$s1" "$s2"
  # The llama.cpp tree CMake needs; the big folders it does not (docs, models, tests, examples,
  # tools, ...) stay behind. llama-bench goes in as tools/llama-bench (not built by CMake here).
  tmp=$(mktemp -d)
  mkdir -p "$tmp/llama.cpp/tools"
  (cd "$llama" && cp -a CMakeLists.txt LICENSE cmake common ggml include src vendor "$tmp/llama.cpp/")
  cp -a "$bench" "$tmp/llama.cpp/tools/llama-bench"
  tar -C "$tmp" -czf "$s1/llama-src.tar.gz" llama.cpp
  rm -rf "$tmp"

  head -c $((MODEL_SPLIT_MIB * 1024 * 1024)) "$model" >"$s1/model.part-a"
  tail -c +$((MODEL_SPLIT_MIB * 1024 * 1024 + 1)) "$model" >"$s2/model.part-b"
  cat "$s1/model.part-a" "$s2/model.part-b" | sha256sum | grep -q "^$MODEL_SHA " || die "the model halves do not join"
  cp "$bin" "$s2/focusllm"
  strip --strip-debug "$s2/focusllm"
  echo "$needed" >"$s2/needed.txt"
  log "payloads:"
  du -b "$s1"/* "$s2"/* >&2
  log "stage1 $(du -sm "$s1" | cut -f1) MiB, stage2 $(du -sm "$s2" | cut -f1) MiB (each call may carry 64 MiB with the tree)"
}

# --- build (GPU machine, call 1) ---------------------------------------------------------------

find_nvcc() {
  local c
  for c in "${CUDACXX:-}" "$(command -v nvcc 2>/dev/null)" /usr/local/cuda/bin/nvcc; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return; }
  done
}

build() {
  local out=${OUT:-$WORK/out} t0 tb nvcc src bld status=0 lib missing=()
  mkdir -p "$WORK"
  rm -f "$WORK/stage1.ok"
  t0=$(date +%s)
  echo "== stage 1 (build) $(stamp) on $(hostname): $(nproc) cores"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi failed"
  local cuda_opts=(-DGGML_CUDA=OFF) cuda_lib=()
  if [ "${CUDA:-1}" != 0 ]; then
    nvcc=$(find_nvcc)
    [ -n "$nvcc" ] || { echo "STAGE 1 FAILED: no nvcc (PATH, \$CUDACXX, /usr/local/cuda/bin)"; exit 1; }
    echo "nvcc: $nvcc: $("$nvcc" --version | tail -n2 | tr '\n' ' ')"
    cuda_opts=(-DGGML_CUDA=ON -DGGML_CUDA_NCCL=OFF -DCMAKE_CUDA_COMPILER="$nvcc"
      -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}")
    cuda_lib=(libggml-cuda.so.0)
  fi
  echo "cmake: $(cmake --version | head -n1); ninja: $(ninja --version); c++: $(c++ --version | head -n1)"

  [ -f "$dir/stage1/model.part-a" ] || { echo "STAGE 1 FAILED: $dir/stage1/model.part-a missing (carry $dir/stage1)"; exit 1; }
  cp "$dir/stage1/model.part-a" "$WORK/model.part-a"
  rm -rf "$WORK/llama.cpp" "$WORK/build"
  tar -C "$WORK" -xzf "$dir/stage1/llama-src.tar.gz" || { echo "STAGE 1 FAILED: cannot unpack the sources"; exit 1; }
  src=$WORK/llama.cpp bld=$WORK/build

  # The options llama-cpp-sys-2 0.1.161's build.rs sets (its defaults: no common, no OpenMP,
  # GGML_NATIVE off), with shared libraries and CUDA for one architecture. LLAMA_BUILD_COMMON is
  # on only for llama-bench; it changes nothing in libllama/libggml. OpenSSL is off (the
  # machine may have no headers; llama-bench needs no HTTPS).
  echo "== configure $(stamp)"
  local common=ON
  configure() {
    rm -rf "$bld"
    cmake -S "$src" -B "$bld" -G Ninja \
      -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
      -DCMAKE_C_FLAGS="-ffunction-sections -fdata-sections -fPIC -m64" \
      -DCMAKE_CXX_FLAGS="-ffunction-sections -fdata-sections -fPIC -m64" \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
      -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_COMMON=$common \
      -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
      -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_WEBGPU=OFF \
      "${cuda_opts[@]}" >"$out/cmake-configure.log" 2>&1
  }
  if ! configure; then
    tail -n 30 "$out/cmake-configure.log"
    echo "configure failed with llama.cpp's common library (llama-bench's); again without it"
    common=OFF
    configure || { tail -n 40 "$out/cmake-configure.log"; echo "STAGE 1 FAILED: cmake configure (log: cmake-configure.log)"; exit 1; }
  fi
  grep -E "CUDA Toolkit found|CMAKE_CUDA_ARCHITECTURES|Found CUDAToolkit|CUDA host compiler" "$out/cmake-configure.log"

  echo "== ninja -j${BUILD_JOBS:-$(nproc)} $(stamp)"
  tb=$(date +%s)
  # -k 0: a failure outside the libraries the binary needs (llama-common) does not stop them.
  ninja -C "$bld" -k 0 -j"${BUILD_JOBS:-$(nproc)}" >"$out/ninja.log" 2>&1 || status=$?
  echo "ninja exit $status after $(( $(date +%s) - tb )) s"
  if [ $status -ne 0 ]; then
    grep -E -A12 "^FAILED" "$out/ninja.log" | head -n 60
    echo "(ninja failed; see whether the libraries the binary needs were built)"
  fi

  for lib in "${LLAMA_LIBS[@]}" "${cuda_lib[@]}"; do
    if [ -e "$bld/bin/$lib" ]; then
      printf '%-20s %8s KiB  SONAME %s\n' "$lib" $(( $(stat -Lc %s "$bld/bin/$lib") / 1024 )) \
        "$(readelf -d "$bld/bin/$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
    else
      missing+=("$lib")
    fi
  done
  [ ${#missing[@]} -eq 0 ] || { echo "STAGE 1 FAILED: not built: ${missing[*]} (log: ninja.log)"; exit 1; }
  echo "libggml.so.0 needs: $(readelf -d "$bld/bin/libggml.so.0" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
  [ ${#cuda_lib[@]} -eq 0 ] \
    || echo "libggml-cuda.so.0 needs: $(readelf -d "$bld/bin/libggml-cuda.so.0" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"

  echo "== llama-bench $(stamp)"
  if [ $common = ON ] && [ -e "$bld/bin/libllama-common.so" ] && c++ -O2 -DNDEBUG -std=c++17 "$src/tools/llama-bench/llama-bench.cpp" "$src/tools/llama-bench/main.cpp" \
      -I"$src/include" -I"$src/ggml/include" -I"$src/common" -I"$src/vendor" \
      -L"$bld/bin" -L"$bld/common" -lllama-common -lllama-common-base -lllama -lggml -lggml-cpu -lggml-base \
      -lpthread -ldl -lm -Wl,-rpath,"$bld/bin" -o "$WORK/llama-bench" >"$out/llama-bench-build.log" 2>&1; then
    echo "llama-bench built"
  else
    tail -n 20 "$out/llama-bench-build.log"
    echo "llama-bench NOT built (the yardstick will be skipped; the focusllm benchmark is unaffected)"
  fi
  touch "$WORK/stage1.ok"
  echo "STAGE 1 OK in $(( $(date +%s) - t0 )) s: libraries in $bld/bin"
}

# --- run (GPU machine, call 2) -----------------------------------------------------------------

run() {
  local out=${OUT:-$WORK/out} lib libs=$WORK/build/bin
  mkdir -p "$out"
  echo "== stage 2 (run) $(stamp)"
  [ -f "$WORK/stage1.ok" ] || { echo "STAGE 2 FAILED: no finished stage 1 in $WORK (the machine was not warm, or stage 1 failed)"; exit 1; }
  [ -f "$dir/stage2/model.part-b" ] || { echo "STAGE 2 FAILED: $dir/stage2/model.part-b missing (carry $dir/stage2)"; exit 1; }
  cat "$WORK/model.part-a" "$dir/stage2/model.part-b" >"$WORK/$MODEL_FILE"
  local sha
  sha=$(sha256sum "$WORK/$MODEL_FILE" | cut -d' ' -f1)
  [ "$sha" = "$MODEL_SHA" ] || { echo "STAGE 2 FAILED: the joined model's sha256 is $sha, not $MODEL_SHA"; exit 1; }
  echo "model joined: sha256 $sha"
  install -m 755 "$dir/stage2/focusllm" "$WORK/focusllm"
  for lib in $(cat "$dir/stage2/needed.txt"); do
    case $lib in lib*llama*|libggml*) [ -e "$libs/$lib" ] || { echo "STAGE 2 FAILED: the binary needs $lib, not built"; exit 1; } ;; esac
  done
  local deps
  deps=$(LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ldd "$WORK/focusllm" 2>&1)
  grep -E "llama|ggml|not found|cuda|cublas" <<<"$deps"
  ! grep -q "not found" <<<"$deps" || { echo "STAGE 2 FAILED: a library the binary needs is not found (ldd above)"; exit 1; }
  env LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" FOCUSLLM="$WORK/focusllm" \
    MODEL="$WORK/$MODEL_FILE" RESULTS="$out" LLAMA_BENCH="$( [ -x "$WORK/llama-bench" ] && echo "$WORK/llama-bench")" \
    bash "$repo/scripts/gpu-bench.sh"
}

# build and run log to OUT as well as to the terminal (the device tool returns the tail).
logged() {
  local out=${OUT:-$WORK/out}
  mkdir -p "$out"
  "$1" 2>&1 | tee "$out/$2"
  return "${PIPESTATUS[0]}"
}

case $cmd in
  pack) pack ;;
  build) logged build stage1.log ;;
  run) run ;; # gpu-bench.sh writes its own log (OUT takes back at most 8 files)
  *) die "usage: $0 pack|build|run [DIR]" ;;
esac
