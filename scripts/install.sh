#!/usr/bin/env bash
# Builds focusllm's C library and installs it for other programs: the shared library (named
# after the C ABI, libfocusllm.so.<ABI> with its libfocusllm.so link; macOS:
# libfocusllm.<ABI>.dylib), the static archive, the C header and the C++ wrapper, a
# pkg-config file and a CMake package. Installed libraries are stripped.
#
#   scripts/install.sh [--prefix DIR] [--libdir DIR] [--static-only | --shared-only]
#                      [--features LIST] [--no-rpath]
#   scripts/install.sh --uninstall [--prefix DIR] [--libdir DIR]
#
#   --prefix DIR      where to install (default /usr/local): DIR/include, DIR/lib, ...
#   --libdir DIR      the library folder (default PREFIX/lib; relative = under PREFIX)
#   --static-only     install libfocusllm.a but no shared library: then `-lfocusllm`, and
#                     so `pkg-config --static --libs focusllm`, links statically
#   --shared-only     install the shared library but no archive
#   --features LIST   cargo features of the build (e.g. cuda, metal)
#   --no-rpath        leave the rpath out of focusllm.pc (by default a prefix other than
#                     /usr adds -Wl,-rpath,LIBDIR, so programs find the library at run time)
#   --uninstall       remove every file an install of focusllm puts under the prefix
#   DESTDIR=/stage    (environment) stage the files under /stage/PREFIX, as packagers do;
#                     the installed files still name PREFIX
#
# Every install first removes what an earlier one left (another ABI's library, a shared
# library after --static-only, ...), so a reinstall leaves no stale file. Linux and macOS.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "install.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

prefix=/usr/local libdir= kind=both features= rpath=1 uninstall=0
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; prefix=$2; shift ;;
        --prefix=*) prefix=${1#*=} ;;
        --libdir) [ $# -ge 2 ] || die "--libdir needs a folder"; libdir=$2; shift ;;
        --libdir=*) libdir=${1#*=} ;;
        --static-only) kind=static ;;
        --shared-only) kind=shared ;;
        --features) [ $# -ge 2 ] || die "--features needs a list"; features=$2; shift ;;
        --features=*) features=${1#*=} ;;
        --no-rpath) rpath=0 ;;
        --uninstall) uninstall=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
case $prefix in /*) ;; *) die "--prefix must be an absolute path, got '$prefix'" ;; esac
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/
case $libdir in
    '') libdir=$prefix/lib ;;
    /*) ;;
    *) libdir=$prefix/$libdir ;;
esac
libdir=${libdir%/}
includedir=$prefix/include
destdir=${DESTDIR:-}
destdir=${destdir%/}

case $(uname -s) in
    Darwin) os=macos ;;
    Linux | *BSD) os=elf ;;
    *) die "$(uname -s) is not supported by this script (Linux and macOS are)" ;;
esac

# --------------------------------------------------------------------------- removal ----
# Every path an install of any focusllm version may have created, as globs under DESTDIR.
installed_paths() {
    local lib=$destdir$libdir inc=$destdir$includedir
    printf '%s\n' \
        "$lib"/libfocusllm.so "$lib"/libfocusllm.so.* "$lib"/libfocusllm.dylib "$lib"/libfocusllm.*.dylib \
        "$lib"/libfocusllm.a "$inc"/focusllm.h "$inc"/focusllm.hpp "$lib"/pkgconfig/focusllm.pc \
        "$lib"/cmake/focusllm
}

remove_installed() {
    local path removed=0
    while IFS= read -r path; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            rm -rf -- "$path"
            echo "removed $path"
            removed=$((removed + 1))
        fi
    done < <(installed_paths)
    echo "$removed focusllm paths removed under $destdir$prefix"
    # Folders left empty, in a prefix of its own (the system's /usr and /usr/local keep their
    # standard folders; the prefix itself always stays).
    local dir
    case $destdir$prefix in /usr | /usr/local) return 0 ;; esac
    for dir in "$destdir$libdir/pkgconfig" "$destdir$libdir/cmake" "$destdir$libdir" "$destdir$includedir"; do
        if [ "$dir" != "$destdir$prefix" ] && [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then
            rmdir "$dir"
        fi
    done
}

if [ "$uninstall" = 1 ]; then
    remove_installed
    exit 0
fi

# ----------------------------------------------------------------------------- build ----
cargo_args=(build --release --lib --manifest-path "$repo/Cargo.toml")
[ -z "$features" ] || cargo_args+=(--features "$features")
echo "building: cargo ${cargo_args[*]}"
cargo "${cargo_args[@]}"

target_dir=${CARGO_TARGET_DIR:-$repo/target}
case $target_dir in /*) ;; *) target_dir=$repo/$target_dir ;; esac
built=$target_dir/release

version=$(awk -F'"' '/^\[/{section=$0} section=="[package]" && /^version *=/{print $2; exit}' "$repo/Cargo.toml")
[ -n "$version" ] || die "no version in the [package] section of $repo/Cargo.toml"
abi=$(sed -n 's/^#define FOCUSLLM_ABI_VERSION \([0-9][0-9]*\)$/\1/p' "$repo/include/focusllm.h")
[ -n "$abi" ] || die "no '#define FOCUSLLM_ABI_VERSION N' in $repo/include/focusllm.h"

if [ "$os" = macos ]; then
    shared_built=$built/libfocusllm.dylib shared_file=libfocusllm.$abi.dylib shared_link=libfocusllm.dylib
    soname=@rpath/$shared_file
else
    shared_built=$built/libfocusllm.so shared_file=libfocusllm.so.$abi shared_link=libfocusllm.so
    soname=$shared_file
fi
static_built=$built/libfocusllm.a
for file in "$shared_built" "$static_built"; do
    [ -f "$file" ] || die "cargo built no $file"
done

# The shared library must carry the versioned name build.rs gives it: a library built before
# that name existed would install under a name its programs do not ask for.
shared_name_of() {
    if [ "$os" = macos ]; then
        otool -D "$1" | sed -n 2p
    elif command -v readelf >/dev/null; then
        readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'
    else
        objdump -p "$1" | awk '$1 == "SONAME" {print $2}'
    fi
}
built_soname=$(shared_name_of "$shared_built")
[ "$built_soname" = "$soname" ] ||
    die "$shared_built is named '$built_soname', not '$soname' (FOCUSLLM_ABI_VERSION $abi): rebuild it"

# The system libraries a static link needs: what the build scripts of focusllm's dependencies
# (llama.cpp's C++ runtime, GPU libraries) asked cargo to link dynamically, then what Rust's
# standard library needs (`rustc --print native-static-libs`).
dependency_link_flags() {
    local output crate seen=' '
    # The newest build-script output of each crate (older ones are other feature sets).
    for output in $(ls -t "$built"/build/*/output 2>/dev/null); do
        crate=$(basename "$(dirname "$output")")
        crate=${crate%-*}
        case $seen in *" $crate "*) continue ;; esac
        seen="$seen$crate "
        sed -n 's/^cargo::\{0,1\}rustc-link-\(lib\|search\)=\(.*\)$/\1 \2/p' "$output"
    done | while read -r what value; do
        case $what in
            search)
                # Folders inside cargo's build output hold the static parts, already in the archive.
                value=${value#*=}
                case $value in "$target_dir"/* | */build/*-*/out | */build/*-*/out/*) ;; *) echo "-L$value" ;; esac ;;
            lib)
                case $value in
                    static=* | static:*) ;;
                    framework=*) echo "-framework ${value#framework=}" ;;
                    *=*) echo "-l${value#*=}" ;;
                    *) echo "-l$value" ;;
                esac ;;
        esac
    done
}
rust_std_link_flags() {
    local probe
    probe=$(mktemp -d)
    : >"$probe/empty.rs"
    rustc --crate-type staticlib --crate-name focusllm_link_probe --print native-static-libs \
        -o "$probe/probe.a" "$probe/empty.rs" 2>&1 | sed -n 's/.*native-static-libs: //p' | tr ' ' '\n'
    rm -rf "$probe"
}
# One line, each flag once, in order ("-framework X" stays one flag).
static_libs=$( { dependency_link_flags; rust_std_link_flags; } | awk 'NF && !seen[$0]++' | paste -sd' ' -)
case $static_libs in *-lstdc++* | *-lc++*) ;; *) die "found no C++ runtime among the libraries to link: '$static_libs'" ;; esac

# ---------------------------------------------------------------------------- install ----
remove_installed >/dev/null
lib=$destdir$libdir
inc=$destdir$includedir
mkdir -p "$lib/pkgconfig" "$lib/cmake/focusllm" "$inc"

strip_shared() { if [ "$os" = macos ]; then strip -x "$1"; else strip --strip-unneeded "$1"; fi; }
strip_static() { if [ "$os" = macos ]; then strip -S "$1"; else strip --strip-debug "$1"; fi; }

if [ "$kind" != static ]; then
    install -m 0755 "$shared_built" "$lib/$shared_file"
    strip_shared "$lib/$shared_file"
    ln -sf "$shared_file" "$lib/$shared_link"
fi
if [ "$kind" != shared ]; then
    install -m 0644 "$static_built" "$lib/libfocusllm.a"
    strip_static "$lib/libfocusllm.a"
    [ "$os" != macos ] || ranlib "$lib/libfocusllm.a"
fi
install -m 0644 "$repo/include/focusllm.h" "$repo/include/focusllm.hpp" "$inc/"

# pkg-config. libdir and includedir are written relative to ${prefix} when under it.
pc_path() {
    case $1 in
        "$prefix") echo '${prefix}' ;;
        "$prefix"/*) echo "\${prefix}${1#"$prefix"}" ;;
        *) echo "$1" ;;
    esac
}
libs='-L${libdir} -lfocusllm'
if [ "$kind" != static ] && [ "$rpath" = 1 ] && { [ "$prefix" != /usr ] || [ "$os" = macos ]; }; then
    libs="$libs -Wl,-rpath,\${libdir}"
fi
description=$(sed -n 's/^description = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n 1)
cat >"$lib/pkgconfig/focusllm.pc" <<EOF
prefix=$prefix
libdir=$(pc_path "$libdir")
includedir=$(pc_path "$includedir")

Name: focusllm
Description: $description
Version: $version
Cflags: -I\${includedir}
Libs: $libs
Libs.private: $static_libs
EOF

# CMake package: paths relative to the package's own folder, so the prefix can move.
case $libdir in
    "$prefix"/*) libdir_rel=${libdir#"$prefix"/} ;;
    *) libdir_rel= ;;
esac
if [ -n "$libdir_rel" ]; then
    # From LIBDIR/cmake/focusllm up to the prefix: two folders, then one per part of LIBDIR.
    up=../..
    IFS=/ read -r -a parts <<<"$libdir_rel"
    for _ in "${parts[@]}"; do up=$up/..; done
    cmake_prefix="\${CMAKE_CURRENT_LIST_DIR}/$up"
    cmake_libdir="\${_focusllm_prefix}/$libdir_rel"
else
    cmake_prefix=$prefix
    cmake_libdir=$libdir
fi
case $includedir in
    "$prefix"/*) cmake_includedir="\${_focusllm_prefix}/${includedir#"$prefix"/}" ;;
    *) cmake_includedir=$includedir ;;
esac
cmake_static_libs=
for flag in $(echo "$static_libs" | sed 's/-framework /-Wl,-framework,/g'); do
    cmake_static_libs="$cmake_static_libs;$flag"
done
cmake_static_libs=${cmake_static_libs#;}

cat >"$lib/cmake/focusllm/focusllmConfig.cmake" <<EOF
# CMake package of focusllm $version (C ABI $abi), written by focusllm's scripts/install.sh.
#
#   find_package(focusllm CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE focusllm::focusllm)
#
# focusllm::focusllm is the shared library, or the static archive (with the system libraries
# it needs) when focusllm_USE_STATIC_LIBS is ON before find_package, or when it is the only
# one installed. focusllm::focusllm_shared and focusllm::focusllm_static name each one.
# Both carry the include folder (focusllm.h, and focusllm.hpp for C++17).
if(TARGET focusllm::focusllm)
  return()
endif()

get_filename_component(_focusllm_prefix "$cmake_prefix" ABSOLUTE)
set(_focusllm_libdir "$cmake_libdir")
set(focusllm_INCLUDE_DIR "$cmake_includedir")
set(focusllm_ABI_VERSION $abi)

if(EXISTS "\${_focusllm_libdir}/$shared_file")
  add_library(focusllm::focusllm_shared SHARED IMPORTED)
  set_target_properties(focusllm::focusllm_shared PROPERTIES
    IMPORTED_LOCATION "\${_focusllm_libdir}/$shared_file"
    IMPORTED_SONAME "$soname"
    INTERFACE_INCLUDE_DIRECTORIES "\${focusllm_INCLUDE_DIR}")
endif()
if(EXISTS "\${_focusllm_libdir}/libfocusllm.a")
  add_library(focusllm::focusllm_static STATIC IMPORTED)
  set_target_properties(focusllm::focusllm_static PROPERTIES
    IMPORTED_LOCATION "\${_focusllm_libdir}/libfocusllm.a"
    INTERFACE_INCLUDE_DIRECTORIES "\${focusllm_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "$cmake_static_libs")
endif()

if(focusllm_USE_STATIC_LIBS)
  set(_focusllm_chosen focusllm::focusllm_static)
elseif(TARGET focusllm::focusllm_shared)
  set(_focusllm_chosen focusllm::focusllm_shared)
else()
  set(_focusllm_chosen focusllm::focusllm_static)
endif()
if(NOT TARGET \${_focusllm_chosen})
  set(focusllm_FOUND FALSE)
  set(focusllm_NOT_FOUND_MESSAGE
    "focusllm at \${_focusllm_prefix} has no \${_focusllm_chosen} (installed with --static-only or --shared-only?)")
  return()
endif()
add_library(focusllm::focusllm INTERFACE IMPORTED)
set_target_properties(focusllm::focusllm PROPERTIES INTERFACE_LINK_LIBRARIES \${_focusllm_chosen})
unset(_focusllm_chosen)
EOF

# The library's pointer size: the C compiler's, as rustc builds for the host.
pointer_bytes=$(($(getconf LONG_BIT) / 8))
cat >"$lib/cmake/focusllm/focusllmConfigVersion.cmake" <<EOF
# Version of the focusllm CMake package. Compatible with a requested version that is not
# newer and has the same major version (the same minor version while the major is 0, as in
# Cargo's rules), built for the same pointer size.
set(PACKAGE_VERSION "$version")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif(NOT PACKAGE_FIND_VERSION_MAJOR STREQUAL "$(echo "$version" | cut -d. -f1)")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif("$(echo "$version" | cut -d. -f1)" STREQUAL "0" AND NOT PACKAGE_FIND_VERSION_MINOR STREQUAL "$(echo "$version" | cut -d. -f2)")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
if(NOT CMAKE_SIZEOF_VOID_P STREQUAL "" AND NOT CMAKE_SIZEOF_VOID_P STREQUAL "$pointer_bytes")
  set(PACKAGE_VERSION "\${PACKAGE_VERSION} ($((pointer_bytes * 8))-bit)")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
endif()
EOF

# A library in a system folder is found through the loader's cache: refresh it.
if [ "$os" = elf ] && [ -z "$destdir" ] && [ "$kind" != static ] && [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then
    case $libdir in /usr/lib* | /usr/local/lib* | /lib*) ldconfig ;; esac
fi

echo "installed focusllm $version (C ABI $abi) under $destdir$prefix:"
while IFS= read -r path; do
    if [ -L "$path" ]; then
        printf '  %-56s -> %s\n' "$path" "$(readlink "$path")"
    elif [ -d "$path" ]; then
        for file in "$path"/*; do printf '  %-56s %s bytes\n' "$file" "$(wc -c <"$file" | tr -d ' ')"; done
    elif [ -e "$path" ]; then
        printf '  %-56s %s bytes\n' "$path" "$(wc -c <"$path" | tr -d ' ')"
    fi
done < <(installed_paths)
