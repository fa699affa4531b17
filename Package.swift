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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(
            name: "CSLMKernels",
            cSettings: kernelFlags
        ),
        .target(
            name: "SLMCore",
            dependencies: ["CSLMKernels"]
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
        .systemLibrary(
            name: "CLibUV",
            pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]
        ),
        .target(name: "SLMProtocol"),
        .executableTarget(
            name: "slmd",
            dependencies: ["SLMCore", "SLMStore", "SLMProtocol", "CLibUV"]
        ),
        .executableTarget(
            name: "slm",
            dependencies: [
                "SLMCore",
                "SLMStore",
                "SLMProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "SLMCoreTests",
            dependencies: ["SLMCore", "CSLMKernels"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "SLMStoreTests",
            dependencies: ["SLMStore", "SLMCore"]
        ),
        .testTarget(
            name: "SLMProtocolTests",
            dependencies: ["SLMProtocol"]
        ),
        .testTarget(
            name: "SLMDaemonTests",
            dependencies: ["SLMProtocol", "SLMStore", "slmd", "slm"]
        ),
    ],
    // Language mode 5: the engine hands raw pointers to its own worker threads, which the
    // Swift 6 checker cannot prove safe; the pool's discipline (fork/join) is what keeps it so.
    swiftLanguageModes: [.v5]
)
