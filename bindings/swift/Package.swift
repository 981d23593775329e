// swift-tools-version:5.9
// The Swift package of focusllm: FocusLLM (a thin Swift API) over CFocusLLM (the C API of
// include/focusllm.h). Build the library first, in the repository root:
//     cargo build --release --lib
// Then `swift build` / `swift test` here. The library is linked from FOCUSLLM_LIB_DIR, or
// else from this repository's target/release, with an rpath to that folder. NOTE: this
// package has never been compiled here (no Swift toolchain); see README.md.
import Foundation
import PackageDescription

let packageDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
let libDir = ProcessInfo.processInfo.environment["FOCUSLLM_LIB_DIR"]
    ?? packageDir.appendingPathComponent("../../target/release").standardizedFileURL.path

let package = Package(
    name: "FocusLLM",
    platforms: [.macOS(.v12), .iOS(.v15)],
    products: [
        .library(name: "FocusLLM", targets: ["FocusLLM"]),
    ],
    targets: [
        // module.modulemap over ../../include/focusllm.h, with `link "focusllm"`.
        .systemLibrary(name: "CFocusLLM", path: "Sources/CFocusLLM"),
        .target(
            name: "FocusLLM",
            dependencies: ["CFocusLLM"],
            linkerSettings: [
                // unsafeFlags: fine for a root or local package; a package that depends on
                // this one through a URL must pass -L itself (-Xlinker -L<dir>).
                .unsafeFlags(["-L", libDir, "-Xlinker", "-rpath", "-Xlinker", libDir]),
            ]
        ),
        .testTarget(name: "FocusLLMTests", dependencies: ["FocusLLM"]),
    ]
)
