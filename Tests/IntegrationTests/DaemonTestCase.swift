import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// What the tests that launch a real `armvisord` share: a fresh short work directory (UNIX
/// socket paths are limited to 107 bytes) and a daemon process that is killed if a test leaves it
/// running.
class DaemonTestCase: XCTestCase {
    var workDirectory = ""
    var daemon: Process?

    override func setUpWithError() throws {
        workDirectory = "/tmp/avd-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let daemon, daemon.isRunning {
            kill(daemon.processIdentifier, SIGKILL)
            daemon.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
