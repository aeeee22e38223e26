import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// armvisord under systemd: the unit files (`systemd-analyze verify`), `scripts/install`, the
/// sd_notify messages (READY, WATCHDOG, STOPPING) and socket activation.
final class SystemdTests: DaemonTestCase {
    private static func tool(_ name: String) throws -> String {
        for directory in ["/usr/bin", "/bin", "/usr/local/bin"] {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("\(name) is not installed (Debian package systemd)")
    }

    private static func configFile(_ name: String) throws -> String {
        try String(
            contentsOf: TestPaths.packageRoot.appendingPathComponent("Configs/\(name)"), encoding: .utf8)
    }

    // MARK: - Units and install

    func testUnitFilesPassSystemdAnalyzeVerify() throws {
        let analyze = try Self.tool("systemd-analyze")
        let service = try Self.configFile("armvisord.service")
        XCTAssertTrue(service.contains("\nType=notify\n"), service)
        XCTAssertTrue(service.contains("\nWatchdogSec=30\n"), service)
        XCTAssertTrue(
            service.contains("\nExecStart=/usr/local/bin/armvisord --config /etc/armvisor/armvisord.conf\n"), service)
        XCTAssertTrue(service.contains("\nExecReload=/bin/kill -HUP $MAINPID\n"), service)
        XCTAssertTrue(service.contains("\nRestartPreventExitStatus=78\n"), service)
        let socket = try Self.configFile("armvisord.socket")
        XCTAssertTrue(socket.contains("\nListenStream=/run/armvisor/armvisord.sock\n"), socket)
        XCTAssertTrue(socket.contains("\nSocketMode=0660\n"), socket)
        // systemd-analyze checks that ExecStart's binary exists: point it at the built one.
        let built = try TestPaths.product("armvisord")
        try service.replacingOccurrences(of: "/usr/local/bin/armvisord", with: built).write(
            toFile: "\(workDirectory)/armvisord.service", atomically: true, encoding: .utf8)
        try socket.write(toFile: "\(workDirectory)/armvisord.socket", atomically: true, encoding: .utf8)
        let result = try ProcessRunner.run(
            analyze,
            ["verify", "\(workDirectory)/armvisord.socket", "\(workDirectory)/armvisord.service"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "", "systemd-analyze verify warned")
        XCTAssertEqual(result.stdout, "")
    }

    func testInstallStagesBinariesUnitsAndDocs() throws {
        let binaries = (try TestPaths.product("armvisord") as NSString).deletingLastPathComponent
        let stage = "\(workDirectory)/stage"
        let script = TestPaths.packageRoot.appendingPathComponent("scripts/install").path
        let result = try ProcessRunner.run(script, ["--prefix", stage, "--binaries", binaries])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertFalse(result.stdout.contains("daemon-reload"), result.stdout)
        let expected: [(String, Int)] = [
            ("usr/local/bin/armvisord", 0o755), ("usr/local/bin/armvisor", 0o755),
            ("etc/systemd/system/armvisord.service", 0o644), ("etc/systemd/system/armvisord.socket", 0o644),
            ("usr/local/share/doc/armvisor/CONFIG.md", 0o644), ("etc/armvisor/armvisord.conf", 0o644),
            ("usr/local/share/doc/armvisor/armvisord.conf", 0o644),
        ]
        for (path, mode) in expected {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(stage)/\(path)")
            XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, mode, path)
        }
        XCTAssertEqual(
            try String(contentsOfFile: "\(stage)/etc/systemd/system/armvisord.service", encoding: .utf8),
            try Self.configFile("armvisord.service"))
        XCTAssertEqual(
            try String(contentsOfFile: "\(stage)/etc/armvisor/armvisord.conf", encoding: .utf8),
            try Self.configFile("armvisord.conf"))
        // Installing again keeps an edited configuration.
        let edited = "log-level = \"debug\"\n"
        try edited.write(toFile: "\(stage)/etc/armvisor/armvisord.conf", atomically: true, encoding: .utf8)
        let again = try ProcessRunner.run(script, ["--prefix", stage, "--binaries", binaries])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("install: kept \(stage)/etc/armvisor/armvisord.conf"), again.stdout)
        XCTAssertEqual(try String(contentsOfFile: "\(stage)/etc/armvisor/armvisord.conf", encoding: .utf8), edited)
        let bad = try ProcessRunner.run(script, ["--prefix", stage, "--binaries", "\(workDirectory)/nothing"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("missing"), bad.stderr)
    }

    // MARK: - sd_notify

    func testDaemonSendsReadyWatchdogAndStopping() throws {
        let notify = try NotifySocket(path: "\(workDirectory)/notify")
        let socketPath = "\(workDirectory)/d.sock"
        // Not waiting for the log line: what is checked is that the socket listens by the time
        // READY=1 comes.
        try launchDaemon(
            arguments: ["--socket", socketPath, "--state-dir", "\(workDirectory)/state"], socketPath: socketPath,
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"], waitUntilListening: false)
        let first = try notify.receive()
        XCTAssertTrue(first.split(separator: "\n").contains("READY=1"), first)
        XCTAssertTrue(first.contains("STATUS=0 VMs running"), first)
        // The socket listens by the time READY=1 is sent.
        XCTAssertEqual(
            try LineSocket(path: socketPath).exchangeLine(#"{"id":1,"command":"ping"}"#).prefix(17),
            #"{"id":1,"ok":true"#)
        // WATCHDOG_USEC=200000: a ping every 100 ms.
        try notify.receive(until: { $0.split(separator: "\n").contains("WATCHDOG=1") })

        let process = try XCTUnwrap(daemon).process
        // SIGHUP (ExecReload=): RELOADING=1 with MONOTONIC_USEC=, then READY=1 again.
        kill(process.processIdentifier, SIGHUP)
        let reloading = try notify.receive(until: { $0.split(separator: "\n").contains("RELOADING=1") })
        XCTAssertTrue(reloading.contains("\nMONOTONIC_USEC="), reloading)
        try notify.receive(until: { $0.split(separator: "\n").contains("READY=1") })
        process.terminate()
        try notify.receive(until: { $0.split(separator: "\n").contains("STOPPING=1") })
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: socketPath))
    }

    func testWithoutNotifySocketTheDaemonRunsNormally() throws {
        let socketPath = "\(workDirectory)/d.sock"
        try launchDaemon(
            arguments: ["--socket", socketPath, "--state-dir", "\(workDirectory)/state"], socketPath: socketPath,
            environment: ["NOTIFY_SOCKET": nil, "WATCHDOG_USEC": "100000"])
        // Let three watchdog periods pass: with nowhere to send WATCHDOG=1 the daemon must go on.
        usleep(300_000)
        XCTAssertEqual(
            try LineSocket(path: socketPath).exchangeLine(#"{"id":1,"command":"ping"}"#),
            #"{"id":1,"ok":true,"result":{}}"#)
        try stopDaemon()
    }

    // MARK: - Socket activation

    func testSocketActivationServesTheInheritedSocketAndLeavesItsFile() throws {
        let activate = try Self.tool("systemd-socket-activate")
        let socketPath = "\(workDirectory)/activated.sock"
        // systemd-socket-activate listens on -l, then execs armvisord with the socket as fd 3
        // (LISTEN_FDS=1, LISTEN_PID = its own, unchanged, pid) when the first connection comes:
        // connect, then wait for armvisord's log line.
        try launchDaemon(
            executable: activate,
            arguments: [
                "-l", socketPath, try TestPaths.product("armvisord"), "--socket", "\(workDirectory)/unused.sock",
                "--state-dir", "\(workDirectory)/state", "--socket-mode", "0600",
            ],
            socketPath: socketPath, waitUntilListening: false)
        let connection = try connectWhenListening(socketPath)
        try XCTUnwrap(daemon).waitUntilListening()
        XCTAssertEqual(try connection.exchangeLine(#"{"id":1,"command":"ping"}"#), #"{"id":1,"ok":true,"result":{}}"#)
        XCTAssertEqual(
            try connection.exchangeLine(#"{"id":2,"command":"list"}"#), #"{"id":2,"ok":true,"result":{"vms":[]}}"#)
        let log = daemonLog
        XCTAssertTrue(log.contains("armvisord: listening on \(socketPath) (socket activation)"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(workDirectory)/unused.sock"))
        // The socket unit's SocketMode= applies, not the daemon's socket-mode.
        XCTAssertTrue(log.contains("socket-mode and socket-group do not apply to the socket systemd passed"), log)
        let mode = try FileManager.default.attributesOfItem(atPath: socketPath)[.posixPermissions] as? NSNumber
        XCTAssertNotEqual(mode?.intValue, 0o600)
        try stopDaemon(removesSocket: false)
        // The socket file belongs to whoever created it (the socket unit): left in place.
        XCTAssertTrue(FileManager.default.fileExists(atPath: socketPath), "inherited socket file removed")
    }
}

/// A connection to `path` once something listens there (systemd-socket-activate binds it soon
/// after it starts): tries every 20 ms, at most `DaemonProcess.deadline`.
private func connectWhenListening(_ path: String) throws -> LineSocket {
    let deadline = Date().addingTimeInterval(DaemonProcess.deadline)
    while true {
        do {
            return try LineSocket(path: path)
        } catch {
            guard Date() < deadline else { throw error }
            usleep(20_000)
        }
    }
}

/// The service manager's end of `$NOTIFY_SOCKET`: a bound UNIX datagram socket whose reads
/// time out after 10 s.
private final class NotifySocket {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw NotifyError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw NotifyError("bind \(path): \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// The next datagram.
    func receive() throws -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count >= 0 else { throw NotifyError("no notification within 10 s: \(String(cString: strerror(errno)))") }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }

    /// Reads datagrams until one satisfies `matches` (each read times out after 10 s).
    @discardableResult
    func receive(until matches: (String) -> Bool) throws -> String {
        var seen: [String] = []
        while true {
            do {
                let message = try receive()
                if matches(message) { return message }
                seen.append(message)
            } catch {
                throw NotifyError("\(error); received before: \(seen)")
            }
        }
    }

    private struct NotifyError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
