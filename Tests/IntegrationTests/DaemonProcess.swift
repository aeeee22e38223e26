import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// A real `armvisord` started by a test (or a launcher that executes it, like
/// `systemd-socket-activate`): its standard error goes to a log file, and starting it waits for
/// the log line `armvisord: listening on <socket>`, which the daemon writes once its socket
/// accepts connections.
final class DaemonProcess {
    /// How long start-up and shutdown may take before the test fails. Generous: the machine may
    /// be busy building; a daemon that works is up within a fraction of a second.
    static let deadline: TimeInterval = 60

    let process: Process
    /// The socket the daemon is expected to listen on.
    let socketPath: String
    let logPath: String

    var processIdentifier: pid_t { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    /// What the daemon logged so far ("" before the file exists).
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The environment of a daemon under test: the test's own, without systemd's variables
    /// (`NOTIFY_SOCKET`, `WATCHDOG_*`, `LISTEN_*`) and `ARMVISOR_SOCKET`, with `XDG_CONFIG_HOME`
    /// in `workDirectory` (so that no user configuration file is read), then `overrides` (nil
    /// removes a variable).
    static func environment(workDirectory: String, _ overrides: [String: String?] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for name in [
            "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
            "ARMVISOR_SOCKET",
        ] {
            environment[name] = nil
        }
        environment["XDG_CONFIG_HOME"] = "\(workDirectory)/xdg-config"
        for (name, value) in overrides { environment[name] = value }
        return environment
    }

    /// Starts `executable` (default: the built `armvisord`) with `arguments`, its standard error
    /// written to `logPath` (created empty) and its standard output discarded; then, unless
    /// `waitUntilListening` is false, waits until it has logged that it listens on `socketPath`.
    /// A daemon that exits first, or does not listen within `deadline`, fails the start (and is
    /// killed).
    init(
        executable: String? = nil, arguments: [String], socketPath: String, logPath: String,
        environment: [String: String], waitUntilListening: Bool = true
    ) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: try executable ?? TestPaths.product("armvisord"))
        process.arguments = arguments
        process.environment = environment
        self.socketPath = socketPath
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        guard waitUntilListening else { return }
        do {
            try self.waitUntilListening()
        } catch {
            forceKill()
            throw error
        }
    }

    /// Waits (polling the log every 20 ms, at most `deadline`) for `armvisord: listening on
    /// <socketPath>`.
    func waitUntilListening() throws {
        let expected = "armvisord: listening on \(socketPath)"
        let deadline = Date().addingTimeInterval(Self.deadline)
        while !log.contains(expected) {
            guard process.isRunning else { throw DaemonTestCase.Failure("armvisord exited early: \(log)") }
            guard Date() < deadline else {
                throw DaemonTestCase.Failure("armvisord did not log '\(expected)' within \(Self.deadline) s: \(log)")
            }
            usleep(20_000)
        }
    }

    /// SIGTERM, then waits (at most `deadline`) for the exit: it must be a normal exit with
    /// status 0, and, when `removesSocket`, the socket file must be gone (an inherited socket's
    /// file is not the daemon's to remove).
    func stop(removesSocket: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        process.terminate()
        let deadline = Date().addingTimeInterval(Self.deadline)
        while process.isRunning {
            guard Date() < deadline else {
                throw DaemonTestCase.Failure("armvisord ignored SIGTERM for \(Self.deadline) s: \(log)")
            }
            usleep(20_000)
        }
        XCTAssertEqual(process.terminationReason, .exit, log, file: file, line: line)
        XCTAssertEqual(process.terminationStatus, 0, log, file: file, line: line)
        if removesSocket {
            XCTAssertFalse(
                FileManager.default.fileExists(atPath: socketPath), "socket file left behind", file: file, line: line)
        }
    }

    /// SIGKILL (no chance to clean up) and waits for the process to end.
    func forceKill() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
