// swift-tools-version:6.0
import PackageDescription

// The C kernels are always compiled optimised: a debug build of the engine would otherwise spend
// minutes in -O0 dot products, which makes the end-to-end tests useless as a feedback loop.
let kernelFlags: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno"])]

let package = Package(
    name: "slm",
    products: [
        .executable(name: "slm", targets: ["slm"]),
        .executable(name: "slmd", targets: ["slmd"]),
        .library(name: "SLMCore", targets: ["SLMCore"]),
        .library(name: "SLMStore", targets: ["SLMStore"]),
        // libslm: `make lib` renames these to libslm.so / libslm.a (the CLI owns the name `slm`).
        .library(name: "SLMCABI", type: .dynamic, targets: ["SLMCABI"]),
        .library(name: "SLMCABIStatic", type: .static, targets: ["SLMCABI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        // Sources by architecture: generic/ (scalar twins, formats, dispatch), x86/ (AVX2), arm/
        // (NEON). The target's root holds the private headers all three folders include.
        .target(
            name: "CSLMKernels",
            cSettings: kernelFlags + [.headerSearchPath(".")]
        ),
        // The kernels' entry points that only tests call (each SIMD table, the scalar twins, the
        // matmul tiles, forcing the twins), kept out of CSLMKernels' public header so the engine
        // and libslm see only what they use. Header-only, and only test targets depend on it.
        .target(name: "CSLMKernelsTesting", dependencies: ["CSLMKernels"]),
        // The one JSON value, parser and writer: protocol lines, template values, sampling fields.
        .target(name: "SLMJSON"),
        // GBNF grammars and JSON Schema: parsing, matching text, and the tokens a grammar allows.
        // Knows nothing of models: a vocabulary comes in as each token's bytes.
        .target(name: "SLMGrammar", dependencies: ["SLMJSON"]),
        // The engine in three layers, each depending only on those below it:
        // compute (GGUF mapping, weights, ops, scratch and KV state, threads), models (families,
        // tokenizers, chat templates) and inference (engine, sessions, sampling, snapshots).
        // SLMCore re-exports the two below it: programs and libraries import SLMCore alone.
        .target(
            name: "SLMCompute",
            dependencies: ["CSLMKernels"]
        ),
        .target(
            name: "SLMModels",
            dependencies: ["SLMCompute", "SLMJSON"]
        ),
        .target(
            name: "SLMCore",
            dependencies: ["SLMModels", "SLMCompute", "SLMJSON", "SLMGrammar"]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "SLMStore",
            dependencies: ["SLMCore", "CSQLite"]
        ),
        // The public C header, imported by SLMCABI (include/module.modulemap).
        .systemLibrary(name: "CSLMHeader", path: "include"),
        .target(
            name: "SLMCABI",
            dependencies: ["SLMCore", "SLMStore", "SLMJSON", "CSLMHeader"],
            // libslm.so carries the Swift runtime, so C programs run where no toolchain is installed.
            // lld, not the default gold: gold leaves local Swift metadata symbols in .dynsym, and
            // the library must list only the slm_ functions there.
            linkerSettings: [.unsafeFlags(["-static-stdlib", "-use-ld=lld"])]
        ),
        .systemLibrary(
            name: "CLibUV",
            pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]
        ),
        // Debian's libhttp-parser-dev has no pkg-config file: the module map links it by name.
        .systemLibrary(
            name: "CHTTPParser",
            providers: [.apt(["libhttp-parser-dev"])]
        ),
        .target(name: "SLMProtocol", dependencies: ["SLMJSON", "CHTTPParser"]),
        .executableTarget(
            name: "slmd",
            dependencies: ["SLMCore", "SLMStore", "SLMProtocol", "SLMJSON", "CLibUV"]
        ),
        .executableTarget(
            name: "slm",
            dependencies: [
                "SLMCore",
                "SLMStore",
                "SLMProtocol",
                "SLMJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // No Swift runtime needed where it is installed. A link flag here, unlike
            // `--static-swift-stdlib`, leaves the compile commands alone: `make install` reuses the
            // test build instead of recompiling everything. The archives named are what
            // ArgumentParser's FoundationEssentials needs, which only that flag would add.
            linkerSettings: [
                .unsafeFlags([
                    "-static-stdlib", "-Xlinker", "--start-group", "-lFoundationEssentials", "-l_FoundationCollections",
                    "-l_FoundationCShims", "-Xlinker", "--end-group",
                ])
            ]
        ),
        .testTarget(
            name: "SLMCoreTests",
            dependencies: ["SLMCore", "SLMModels", "SLMCompute", "SLMJSON", "CSLMKernels", "CSLMKernelsTesting"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "SLMStoreTests",
            dependencies: ["SLMStore", "SLMCore"]
        ),
        .testTarget(
            name: "SLMGrammarTests",
            dependencies: ["SLMGrammar", "SLMJSON"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "SLMJSONTests",
            dependencies: ["SLMJSON"]
        ),
        .testTarget(
            name: "SLMProtocolTests",
            dependencies: ["SLMProtocol", "SLMJSON"]
        ),
        .testTarget(
            name: "SLMDaemonTests",
            // Not on the executables: their static-runtime link flags would reach the test bundle,
            // which links Foundation. `swift build --build-tests` builds them; tests run the binaries.
            dependencies: ["SLMProtocol", "SLMJSON", "SLMStore"]
        ),
    ],
    // Language mode 5: the engine hands raw pointers to its own worker threads, which the
    // Swift 6 checker cannot prove safe; the pool's discipline (fork/join) is what keeps it so.
    swiftLanguageModes: [.v5]
)
