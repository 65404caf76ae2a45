// swift-tools-version:6.1
//
// Layout (arrows point one way):
//   CModbatt (C core, CSources/ + include/)  ->  Modbatt (Swift safety layer)
//   -> ModbattCAN (transports) / ModbattBridge (API-Bridge client + server)
//   -> modbatt (CLI)
import PackageDescription

let package = Package(
    name: "Modbatt",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Modbatt", targets: ["Modbatt"]),
        .library(name: "ModbattCAN", targets: ["ModbattCAN"]),
        .library(name: "ModbattBridge", targets: ["ModbattBridge"]),
        .executable(name: "modbatt", targets: ["ModbattCLI"]),
    ],
    traits: [
        // Interface setup (bitrate, up/down, restart) for SocketCAN through
        // libsocketcan. Apps that only want the crypto leave it off.
        .trait(name: "SocketCANSetup"),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // The C core: firmware shares these sources. mbedTLS 2.28 (Debian's
        // libmbedtls-dev) has no pkg-config file, so we link it by name.
        .target(
            name: "CModbatt",
            path: ".",
            exclude: ["CSources/Makefile", "CSources/modbatt.mk", "CSources/config", "CSources/README.md"],
            sources: ["CSources"],
            publicHeadersPath: "include",
            linkerSettings: [.linkedLibrary("mbedcrypto")]
        ),
        .target(
            name: "Modbatt",
            dependencies: ["CModbatt"]
        ),
        .testTarget(
            name: "ModbattTests",
            dependencies: ["Modbatt", "CModbatt"]
        ),

        // CAN transports: virtual bus, SocketCAN, socketcand, candump logs.
        // The AF_CAN socket code is C (Glibc has no sockaddr_can).
        .target(
            name: "CModbattSocketCAN",
            cSettings: [.define("MB_HAVE_LIBSOCKETCAN", .when(traits: ["SocketCANSetup"]))],
            linkerSettings: [.linkedLibrary("socketcan", .when(traits: ["SocketCANSetup"]))]
        ),
        .target(
            name: "ModbattCAN",
            dependencies: [
                "Modbatt", "CModbattSocketCAN",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ModbattCANTests",
            dependencies: ["ModbattCAN", "CModbattSocketCAN"],
            exclude: ["Python"]
        ),

        // API-Bridge: client and the embedded server.
        .target(
            name: "ModbattBridge",
            dependencies: [
                "Modbatt",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ModbattBridgeTests",
            dependencies: [
                "ModbattBridge",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),

        // Orchestration: provisioning and pairing, device nodes, key stores, audit log.
        .target(
            name: "ModbattProvisioning",
            dependencies: [
                "CModbatt", "Modbatt", "ModbattCAN", "ModbattBridge",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ModbattProvisioningTests",
            dependencies: ["ModbattProvisioning", "ModbattBridge", "ModbattCAN", "Modbatt"]
        ),

        // The `modbatt` command-line tool.
        .executableTarget(
            name: "ModbattCLI",
            dependencies: [
                "Modbatt", "ModbattCAN", "ModbattBridge", "ModbattProvisioning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // End-to-end tests: run the built `modbatt` binary (listing the
        // executable makes `swift build --build-tests` build it first).
        .testTarget(
            name: "ModbattCLITests",
            dependencies: ["ModbattCLI", "ModbattCAN"]
        ),

        // Benchmarks (docs/BENCHMARKS.md): the Swift side of Benchmarks/run.sh.
        .executableTarget(
            name: "ModbattBench",
            dependencies: [
                "Modbatt",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/Swift"
        ),
    ]
)
