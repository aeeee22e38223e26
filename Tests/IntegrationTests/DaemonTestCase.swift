import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// What the tests that launch a real `armvisord` share: a fresh short work directory (UNIX
/// socket paths are limited to 107 bytes) and a daemon process (`DaemonProcess`, logging to
/// `daemonLogPath`) that is killed if a test leaves it running.
class DaemonTestCase: XCTestCase {
    var workDirectory = ""
    var daemon: DaemonProcess?

    /// Where the daemon's standard error goes.
    var daemonLogPath: String { "\(workDirectory)/armvisord.log" }
    /// What the daemon logged so far.
    var daemonLog: String { (try? String(contentsOfFile: daemonLogPath, encoding: .utf8)) ?? "" }

    override func setUpWithError() throws {
        workDirectory = "/tmp/avd-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        daemon?.forceKill()
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    /// Starts a daemon (see `DaemonProcess`: by default it waits until the daemon logs that it
    /// listens on `socketPath`) in the environment `DaemonProcess.environment` gives, logging to
    /// `daemonLogPath`, and keeps it in `daemon`.
    func launchDaemon(
        executable: String? = nil, arguments: [String], socketPath: String, environment: [String: String?] = [:],
        waitUntilListening: Bool = true
    ) throws {
        daemon = try DaemonProcess(
            executable: executable, arguments: arguments, socketPath: socketPath, logPath: daemonLogPath,
            environment: DaemonProcess.environment(workDirectory: workDirectory, environment),
            waitUntilListening: waitUntilListening)
    }

    /// Stops `daemon` with SIGTERM (see `DaemonProcess.stop`): exit status 0 and, when
    /// `removesSocket`, no socket file left.
    func stopDaemon(removesSocket: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let daemon else { throw Failure("no daemon") }
        try daemon.stop(removesSocket: removesSocket, file: file, line: line)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
