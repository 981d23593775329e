// swift-tools-version:5.9
// The Swift package of focusllm, at the repository root so that other packages can depend on
// it by URL:
//     .package(url: "https://github.com/focusllm/focusllm", branch: "main")
// FocusLLM (a thin Swift API, bindings/swift/Sources/FocusLLM) over CFocusLLM, the C API of
// an installed libfocusllm, found through pkg-config (focusllm.pc): install the library first
// (scripts/install.sh) and set PKG_CONFIG_PATH to its lib/pkgconfig unless it is a system
// prefix. See bindings/swift/README.md. NOTE: this package has never been compiled here (no
// Swift toolchain on the development machine).
//
// No `providers:` on the system library: SwiftPM shows them as the command that installs a
// missing library ("brew install ..."), and no package manager ships focusllm yet, so any
// name given there would be a command that fails.
import PackageDescription

let package = Package(
    name: "FocusLLM",
    platforms: [.macOS(.v12), .iOS(.v15)],
    products: [
        .library(name: "FocusLLM", targets: ["FocusLLM"]),
    ],
    targets: [
        // module.modulemap over shim.h, which includes <focusllm.h> from pkg-config's
        // include folder; `link "focusllm"` links the library from pkg-config's lib folder.
        .systemLibrary(name: "CFocusLLM", path: "bindings/swift/Sources/CFocusLLM", pkgConfig: "focusllm"),
        .target(name: "FocusLLM", dependencies: ["CFocusLLM"], path: "bindings/swift/Sources/FocusLLM"),
        .testTarget(name: "FocusLLMTests", dependencies: ["FocusLLM"], path: "bindings/swift/Tests/FocusLLMTests"),
    ]
)
