import Foundation

/// Locations tests need: the package root, the guest programs built by `scripts/build-guests`,
/// and the built executables.
public enum TestPaths {
    /// The package root, found from this file's path (Tests/TestSupport/TestPaths.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public struct Missing: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// `.build/guests/NAME.EXT`, built by `scripts/build-guests`.
    public static func guest(_ name: String, kind: String = "bin") throws -> String {
        let path = packageRoot.appendingPathComponent(".build/guests/\(name).\(kind)").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw Missing(description: "guest image \(path) is missing: run scripts/build-guests (scripts/test does)")
        }
        return path
    }

    /// `.build/images/NAME`, a third-party image downloaded by `scripts/fetch-images`.
    public static func image(_ name: String) throws -> String {
        let path = packageRoot.appendingPathComponent(".build/images/\(name)").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw Missing(description: "image \(path) is missing: run scripts/fetch-images (scripts/test does)")
        }
        return path
    }

    /// A built product (`armvisor`, `armvisord`) of the configuration the tests were built in.
    public static func product(_ name: String) throws -> String {
        var candidates: [URL] = []
        // The test bundle sits next to the products: .build/<triple>/debug/armvisorPackageTests.xctest
        for argument in CommandLine.arguments where argument.hasSuffix(".xctest") {
            candidates.append(URL(fileURLWithPath: argument).deletingLastPathComponent().appendingPathComponent(name))
        }
        candidates.append(Bundle.main.bundleURL.appendingPathComponent(name))
        candidates.append(packageRoot.appendingPathComponent(".build/debug/\(name)"))
        for url in candidates where FileManager.default.isExecutableFile(atPath: url.path) {
            return url.path
        }
        throw Missing(description: "\(name) not built (looked in \(candidates.map(\.path))): run swift build")
    }

    /// A fresh temporary directory with a short path (UNIX socket paths are limited to 107 bytes).
    public static func temporaryDirectory() throws -> URL {
        let url = URL(fileURLWithPath: "/tmp/av-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
