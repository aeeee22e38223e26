// swift-tools-version: 6.0
// armvisor: a KVM/ARM-style type-2 hypervisor simulator. Layers (docs/ARCHITECTURE.md):
// armvisord/armvisor → Control → Platform → Devices, Backends → Hypervisor → AArch64.
import PackageDescription

// The vCPU loop and the exit path (AArch64, Hypervisor) touch class state on every instruction
// block and every exit; in release builds the runtime exclusivity checks of those accesses were
// a quarter of an HVC exit's host instructions (docs/BENCHMARKS.md). Debug builds, which the
// tests use, keep the checks, so a violation still fails the suite.
let exitPathSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "armvisor",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "armvisord", targets: ["armvisord"]),
        .executable(name: "armvisor", targets: ["armvisor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
    ],
    targets: [
        // Thin C library targets (pkg-config where Debian ships a .pc file).
        .systemLibrary(
            name: "CGLib", pkgConfig: "gio-2.0",
            providers: [.apt(["libglib2.0-dev"])]),
        .systemLibrary(name: "CFDT", providers: [.apt(["libfdt-dev"])]),
        // zlib, for gzip-compressed Linux Images.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // sd_notify / sd_listen_fds for running under systemd (armvisord only).
        .systemLibrary(
            name: "CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),

        // Host IEEE arithmetic under an explicit rounding mode, with its exception flags
        // (FENV_ACCESS, which Swift lacks), for the core's FP instructions.
        .target(name: "CFloatingPoint", linkerSettings: [.linkedLibrary("m")]),
        .target(name: "CAtomicPair"),
        // The emulated "hardware": CPU state, decoder, interpreter, exceptions.
        .target(
            name: "AArch64",
            dependencies: ["CFloatingPoint", "CAtomicPair", .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: exitPathSettings),
        // Lowvisor + highvisor: VM, vCPU runner, exit handlers, MMIO bus, PSCI.
        .target(
            name: "Hypervisor",
            dependencies: ["AArch64", .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: exitPathSettings),
        // Device register models; each sees (offset, size, value) only.
        .target(name: "Devices", dependencies: ["Hypervisor"]),
        // The GLib side: main-loop thread, console backends.
        .target(name: "Backends", dependencies: ["Hypervisor", "CGLib"]),
        // The board: memory map, device tree, image loaders, configuration.
        .target(name: "Platform", dependencies: ["Devices", "Backends", "CFDT", "CZlib"]),
        // Control protocol, socket server, VM manager, client.
        .target(
            name: "Control",
            dependencies: [
                "Platform",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "armvisord",
            dependencies: [
                "Control", "CSystemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "armvisor",
            dependencies: [
                "Control", "Platform", "Backends",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .target(name: "TestSupport", dependencies: ["Devices"], path: "Tests/TestSupport"),
        .testTarget(name: "AArch64Tests", dependencies: ["AArch64", "TestSupport"]),
        .testTarget(name: "HypervisorTests", dependencies: ["Hypervisor", "TestSupport"]),
        .testTarget(name: "DevicesTests", dependencies: ["Devices", "Backends", "TestSupport"]),
        .testTarget(name: "PlatformTests", dependencies: ["Platform", "TestSupport"]),
        .testTarget(name: "ControlTests", dependencies: ["Control", "TestSupport"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["TestSupport", "armvisor", "armvisord"]),
    ],
    swiftLanguageModes: [.v6]
)
