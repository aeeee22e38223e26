import Foundation
import Platform
import TestSupport
import XCTest

/// A test case with a fresh temporary directory for the files it makes, and the one-line error
/// a configuration gets from `Board.makeVM`.
class FileTestCase: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try TestPaths.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// Writes `bytes` to `name` in the directory; returns the path.
    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// What `Board.makeVM` says about `configuration`: its error, or "no error".
    func buildError(_ configuration: VMConfiguration) -> String {
        do {
            _ = try Board.makeVM(name: "bad", configuration: configuration)
            return "no error"
        } catch {
            return "\(error)"
        }
    }
}
