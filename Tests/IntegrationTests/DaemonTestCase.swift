import Foundation
import TestSupport
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

    /// Starts armvisord on `socketPath` with its state directory in the work directory
    /// (`state/`) and `extra` arguments, and waits until it listens.
    func startStatefulDaemon(socketPath: String, logLevel: String = "info", _ extra: [String] = []) throws {
        try launchDaemon(
            arguments: ["--socket", socketPath, "--state-dir", "\(workDirectory)/state", "--log-level", logLevel]
                + extra,
            socketPath: socketPath)
    }

    struct CLIOutput {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the built `armvisor` with `arguments` (no `ARMVISOR_SOCKET` from the environment),
    /// in `directory` if given, and checks its exit status.
    @discardableResult
    func armvisor(
        _ arguments: [String], expectedStatus: Int32 = 0, directory: String? = nil, file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> CLIOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestPaths.product("armvisor"))
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["ARMVISOR_SOCKET"] = nil
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let stem = "\(workDirectory)/cli-\(UUID().uuidString.prefix(8))"
        let out = "\(stem).out", err = "\(stem).err"
        for path in [out, err] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        process.waitUntilExit()
        let result = CLIOutput(
            status: process.terminationStatus, stdout: try String(contentsOfFile: out, encoding: .utf8),
            stderr: try String(contentsOfFile: err, encoding: .utf8))
        XCTAssertEqual(
            result.status, expectedStatus, "armvisor \(arguments.joined(separator: " ")): \(result.stderr)",
            file: file, line: line)
        return result
    }

    /// Polls `condition` every 10 ms until it holds; fails after `timeout` seconds with `what`.
    func waitUntil(_ what: String, timeout: TimeInterval = 60, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            guard Date() < deadline else { throw Failure("no \(what) within \(timeout) s") }
            usleep(10_000)
        }
    }

    /// The text of a file, "" while it does not exist.
    func contents(of path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
