#!/usr/bin/env bash
# Installs the system packages the build and tests need on Debian/Ubuntu, when missing:
# cmake (builds llama.cpp), libclang (bindgen), clang (C tests and the module-map check),
# valgrind (C tests under a leak checker), pkg-config (programs built against an install of the
# library: tests/consumers, the Go binding). Needs root (or sudo).
set -euo pipefail

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v clang >/dev/null || missing+=(clang)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v pkg-config >/dev/null || missing+=(pkg-config)
ldconfig -p 2>/dev/null | grep -q 'libclang.*\.so' || missing+=(libclang-dev)
[ -d /usr/lib/llvm-14/lib/clang ] || ls /usr/lib/llvm-*/lib/clang/*/include/stdbool.h >/dev/null 2>&1 || missing+=(libclang-dev)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: nothing to install"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
