import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's configuration file and what it controls, against a real `armvisord`: parse
/// errors, the socket's mode and group, peer credentials in the log, the allowed image
/// directories, the connection limit, the idle timeout, and reloading on SIGHUP.
final class DaemonConfigTests: DaemonTestCase {
    private var socketPath: String { "\(workDirectory)/d.sock" }

    // MARK: - The file

    func testConfigurationErrorsNameTheFileLineAndKeyAndExit78() throws {
        let cases: [(String, String)] = [
            ("# comment\n\nsokcet = \"/tmp/x.sock\"\n", ":3: unknown key 'sokcet' (known: allowed-image-dirs, "),
            ("socket-mode = \"0999\"\n", ":1: key 'socket-mode': '0999' is not an octal mode"),
            ("log-level = \"info\"\nmax-connections = -5\n", ":2: key 'max-connections': -5 is outside 1...100000"),
            ("idle-timeout = \"10\"\n", ":1: key 'idle-timeout': must be an integer, not a string"),
            ("socket-group = \"no-such-group-xyz\"\n", ":1: key 'socket-group': no group named 'no-such-group-xyz'"),
            ("allowed-image-dirs = [\n  \"/srv\",\n  /srv/b\n]\n", ":3: key 'allowed-image-dirs': '/' is not a value"),
            ("log-level = \"info\" extra\n", ":1: key 'log-level': unexpected text after the value"),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let config = try writeConfig(text, name: "bad\(index).conf")
            let result = try runDaemonToExit(["--config", config, "--socket", socketPath])
            XCTAssertEqual(result.status, 78, result.stderr)
            XCTAssertTrue(result.stderr.hasPrefix("armvisord: error: \(config)\(expected)"), result.stderr)
            XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: socketPath))
        }
        let missing = try runDaemonToExit(["--config", "\(workDirectory)/none.conf", "--socket", socketPath])
        XCTAssertEqual(missing.status, 78)
        XCTAssertEqual(
            missing.stderr,
            "armvisord: error: cannot read the configuration file \(workDirectory)/none.conf: No such file or directory\n"
        )
        // A bad flag is a usage error (64), also one line first.
        let flag = try runDaemonToExit(["--socket-mode", "888", "--socket", socketPath])
        XCTAssertEqual(flag.status, 64)
        XCTAssertTrue(flag.stderr.hasPrefix("Error: --socket-mode: '888' is not an octal mode"), flag.stderr)
    }

    func testCheckConfigPrintsTheSettingsFlagsOverrideTheFile() throws {
        let config = try writeConfig(
            """
            socket = "sub/a.sock"
            max-connections = 4
            allowed-image-dirs = ["images", "/srv/x"]
            """)
        let result = try runDaemonToExit([
            "--config", config, "--max-connections", "9", "--state-dir", "\(workDirectory)/state", "--check-config",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(
            result.stdout.split(separator: "\n").dropFirst().map(String.init),
            [
                "socket = \"\(workDirectory)/sub/a.sock\"", "socket-mode = \"0660\"",
                "state-dir = \"\(workDirectory)/state\"",
                "allowed-image-dirs = [\"\(workDirectory)/images\", \"/srv/x\"]", "log-level = \"info\"",
                "max-connections = 9", "idle-timeout = 300", "# socket-group: not set (the daemon's own group)",
            ], result.stdout)
        // The example installed by scripts/install is valid.
        let example = TestPaths.packageRoot.appendingPathComponent("Configs/armvisord.conf").path
        let checked = try runDaemonToExit(["--config", example, "--check-config"])
        XCTAssertEqual(checked.status, 0, checked.stderr)
        XCTAssertTrue(checked.stdout.contains("\nsocket = \"/run/armvisor/armvisord.sock\"\n"), checked.stdout)
        XCTAssertTrue(checked.stdout.contains("\nsocket-mode = \"0660\"\n"), checked.stdout)
        XCTAssertTrue(
            checked.stdout.contains("\nallowed-image-dirs = [\"/var/lib/armvisor/images\", \"/srv/armvisor\"]\n"),
            checked.stdout)
    }

    // MARK: - The socket

    func testSocketModeGroupAndPeerCredentials() throws {
        // Without a configuration (/dev/null: an empty file, whatever the default file says): 0660.
        try startDaemon(["--config", "/dev/null", "--socket", socketPath])
        XCTAssertEqual(try socketStat().mode, 0o660)
        try stopDaemon()

        let group = String(cString: getgrgid(getgid()).pointee.gr_name)
        let config = try writeConfig(
            """
            socket = "d.sock"
            socket-mode = "0600"
            socket-group = "\(group)"
            """)
        try startDaemon(["--config", config])
        let status = try socketStat()
        XCTAssertEqual(status.mode, 0o600)
        XCTAssertEqual(status.gid, getgid())
        XCTAssertEqual(try LineSocket(path: socketPath).exchangeLine(#"{"id":1,"command":"ping"}"#), pong(1))
        // SO_PEERCRED: this process connected.
        let opened = try XCTUnwrap(log().split(separator: "\n").first { $0.contains("connection opened") })
        XCTAssertTrue(opened.contains("peer-pid=\(getpid())"), String(opened))
        XCTAssertTrue(opened.contains("peer-uid=\(getuid())"), String(opened))
        XCTAssertTrue(opened.contains("peer-gid=\(getgid())"), String(opened))
        try stopDaemon()
    }

    // MARK: - Allowed image directories

    func testPathsOutsideTheAllowedDirectoriesAreRejected() throws {
        let images = "\(workDirectory)/images", other = "\(workDirectory)/other"
        for directory in [images, other] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let kernel = try writeIdleGuest(in: images)
        let secret = try writeIdleGuest(in: other)
        let files = FileManager.default
        try files.createSymbolicLink(atPath: "\(images)/escape.bin", withDestinationPath: "../other/idle.bin")
        try files.createSymbolicLink(atPath: "\(images)/alias.bin", withDestinationPath: "idle.bin")
        try files.createSymbolicLink(atPath: "\(images)/dangling.log", withDestinationPath: "../other/new.log")
        let config = try writeConfig("socket = \"d.sock\"\nallowed-image-dirs = [\"images\"]\n")
        try startDaemon(["--config", config])
        let connection = try LineSocket(path: socketPath)

        func create(_ id: Int, _ name: String, _ config: String) throws -> String {
            try connection.exchangeLine(
                #"{"id":\#(id),"command":"create","arguments":{"name":"\#(name)","config":{\#(config)}}}"#)
        }
        let notAllowed = "is not inside an allowed image directory (allowed: \(images))"
        XCTAssertEqual(
            try create(1, "a", #""kernel":"\#(secret)","console":"null""#),
            #"{"error":{"code":"path-not-allowed","message":"kernel \"\#(secret)\" \#(notAllowed)"},"id":1,"ok":false}"#
        )
        // A symbolic link inside that leads outside, and a `..` that climbs out.
        XCTAssertEqual(
            try create(2, "a", #""kernel":"\#(images)/escape.bin","console":"null""#),
            #"{"error":{"code":"path-not-allowed","message":"kernel \"\#(images)/escape.bin\" \#(notAllowed)"},"id":2,"ok":false}"#
        )
        XCTAssertTrue(
            try create(3, "a", #""kernel":"\#(images)/../other/idle.bin","console":"null""#).contains(
                #""code":"path-not-allowed""#))
        // Every host path is checked: dtb, bios, initrd, a file: console (also through a dangling link).
        for (id, key) in [(4, "dtb"), (5, "initrd")] {
            let reply = try create(id, "a", #""kernel":"\#(kernel)","\#(key)":"/etc/passwd","console":"null""#)
            XCTAssertTrue(reply.contains(#""code":"path-not-allowed","message":"\#(key) \"/etc/passwd\""#), reply)
        }
        XCTAssertTrue(try create(6, "a", #""bios":"/etc/passwd","console":"null""#).contains("path-not-allowed"))
        for console in ["\(other)/console.log", "\(images)/dangling.log"] {
            let reply = try create(7, "a", #""kernel":"\#(kernel)","console":"file:\#(console)""#)
            XCTAssertTrue(reply.contains(#""code":"path-not-allowed","message":"console file"#), reply)
        }
        XCTAssertFalse(files.fileExists(atPath: "\(other)/new.log"), "a file was created through the dangling link")
        XCTAssertTrue(
            try connection.exchangeLine(
                #"{"id":8,"command":"define","arguments":{"name":"d","config":{"kernel":"\#(secret)"}}}"#
            ).contains("path-not-allowed"))
        XCTAssertFalse(files.fileExists(atPath: "\(workDirectory)/state/d.json"))
        XCTAssertEqual(
            try connection.exchangeLine(#"{"id":9,"command":"list"}"#), #"{"id":9,"ok":true,"result":{"vms":[]}}"#)

        // Inside: allowed, also through a link that stays inside, with a new console file inside.
        XCTAssertEqual(
            try create(10, "a", #""kernel":"\#(images)/alias.bin","console":"file:\#(images)/a.log""#),
            #"{"id":10,"ok":true,"result":{"name":"a","state":"created"}}"#)
        XCTAssertEqual(
            try create(11, "b", #""kernel":"\#(kernel)""#),
            #"{"id":11,"ok":true,"result":{"name":"b","state":"created"}}"#)
        // The CLI shows the code.
        let cli = try runProcess(
            TestPaths.product("armvisor"), ["create", "c", "--kernel", secret, "--socket", socketPath])
        XCTAssertEqual(cli.status, 1)
        XCTAssertEqual(cli.stderr, "armvisor: kernel \"\(secret)\" \(notAllowed) (path-not-allowed)\n")
        try waitUntil("the refusal in the log", timeout: 10) { log().contains("request failed: path-not-allowed") }
        try stopDaemon()
    }

    // MARK: - Limits

    func testMaxConnectionsRefusesTheExtraConnection() throws {
        let config = try writeConfig("socket = \"d.sock\"\nmax-connections = 2\n")
        try startDaemon(["--config", config])
        var first: LineSocket? = try LineSocket(path: socketPath)
        let second = try LineSocket(path: socketPath)
        // Answered: both are being served.
        XCTAssertEqual(try first?.exchangeLine(#"{"id":1,"command":"ping"}"#), pong(1))
        XCTAssertEqual(try second.exchangeLine(#"{"id":2,"command":"ping"}"#), pong(2))

        let third = try LineSocket(path: socketPath)
        XCTAssertEqual(
            try third.readLine(),
            #"{"error":{"code":"too-many-connections","message":"armvisord serves at most 2 connections at once; try again later"},"id":null,"ok":false}"#
        )
        XCTAssertNil(try third.readLine(), "the refused connection stays open")
        let cli = try runProcess(TestPaths.product("armvisor"), ["ping", "--socket", socketPath])
        XCTAssertEqual(cli.status, 1)
        XCTAssertEqual(
            cli.stderr,
            "armvisor: armvisord serves at most 2 connections at once; try again later (too-many-connections)\n")
        // The others were not disturbed.
        XCTAssertEqual(try second.exchangeLine(#"{"id":3,"command":"ping"}"#), pong(3))

        // Once one closes, a new connection is served (the daemon notices the close soon).
        first = nil
        let deadline = Date().addingTimeInterval(10)
        while true {
            let connection = try LineSocket(path: socketPath)
            let reply = try connection.exchangeLine(#"{"id":4,"command":"ping"}"#)
            if reply == pong(4) { break }
            XCTAssertTrue(reply.contains("too-many-connections"), reply)
            guard Date() < deadline else { return XCTFail("no free connection within 10 s") }
            usleep(20_000)
        }
        try stopDaemon()
    }

    func testIdleConnectionsAreClosedButWaitsAndSubscriptionsAreNot() throws {
        let kernel = try writeIdleGuest(in: workDirectory)
        let config = try writeConfig("socket = \"d.sock\"\nidle-timeout = 1\n")
        try startDaemon(["--config", config])
        let control = try LineSocket(path: socketPath)
        XCTAssertTrue(
            try control.exchangeLine(
                #"{"id":1,"command":"create","arguments":{"name":"idle","config":{"kernel":"\#(kernel)","console":"null"}}}"#
            ).contains(#""ok":true"#))
        XCTAssertTrue(
            try control.exchangeLine(#"{"id":2,"command":"start","arguments":{"name":"idle"}}"#).contains(#""ok":true"#)
        )
        let subscriber = try LineSocket(path: socketPath)
        XCTAssertEqual(
            try subscriber.exchangeLine(#"{"id":3,"command":"events","arguments":{"name":"idle"}}"#),
            #"{"id":3,"ok":true,"result":{}}"#)
        let waiter = try LineSocket(path: socketPath)
        waiter.writeLine(#"{"id":4,"command":"wait","arguments":{"name":"idle"}}"#)

        // A silent connection: closed after about a second (the read times out after 10 s). The
        // clock starts before the ping is sent: the daemon's idle time starts after it answered,
        // so the connection cannot close less than a second after this.
        let silent = try LineSocket(path: socketPath)
        let start = Date()
        XCTAssertEqual(try silent.exchangeLine(#"{"id":5,"command":"ping"}"#), pong(5))
        XCTAssertEqual(
            try silent.readLine(),
            #"{"error":{"code":"idle-timeout","message":"no request for 1 s; closing the connection"},"id":null,"ok":false}"#
        )
        XCTAssertNil(try silent.readLine())
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThan(elapsed, 0.8)
        XCTAssertLessThan(elapsed, 5)
        // The daemon logs the close after closing: the client can see the end first.
        try waitUntil("the idle-timeout close in the log", timeout: 10) {
            log().contains("connection closed: idle-timeout (silent for 1 s)")
        }

        // More than the timeout has passed: the wait and the subscription are still there.
        let stopper = try LineSocket(path: socketPath)
        XCTAssertTrue(
            try stopper.exchangeLine(#"{"id":6,"command":"kill","arguments":{"name":"idle"}}"#).contains(#""ok":true"#))
        let waited = try XCTUnwrap(try waiter.readLine())
        XCTAssertTrue(waited.hasPrefix(#"{"id":4,"ok":true,"result":{"detail":"killed on request""#), waited)
        let event = try XCTUnwrap(try subscriber.readLine())
        XCTAssertTrue(event.contains(#""event":"stopped""#), event)
        try stopDaemon()
    }

    // MARK: - SIGHUP

    func testSIGHUPReloadsAllowedDirectoriesLogLevelAndLimits() throws {
        let first = "\(workDirectory)/first", second = "\(workDirectory)/second"
        for directory in [first, second] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let firstKernel = try writeIdleGuest(in: first)
        let secondKernel = try writeIdleGuest(in: second)
        let config = try writeConfig(
            """
            socket = "d.sock"
            allowed-image-dirs = ["first"]
            log-level = "warning"
            """)
        try startDaemon(["--config", config])
        let connection = try LineSocket(path: socketPath)
        func create(_ id: Int, _ name: String, _ kernel: String) throws -> String {
            try connection.exchangeLine(
                #"{"id":\#(id),"command":"create","arguments":{"name":"\#(name)","config":{"kernel":"\#(kernel)","console":"null"}}}"#
            )
        }
        XCTAssertTrue(try create(1, "a", firstKernel).contains(#""ok":true"#))
        XCTAssertTrue(try create(2, "b", secondKernel).contains("path-not-allowed"))
        XCTAssertTrue(
            try connection.exchangeLine(
                #"{"id":3,"command":"define","arguments":{"name":"f","config":{"kernel":"\#(firstKernel)","console":"null"}}}"#
            ).contains(#""ok":true"#))
        // Log level warning: connections are not logged.
        XCTAssertFalse(log().contains("connection opened"), log())

        // Allow the other directory, log at info, and move the socket (which needs a restart).
        try """
        socket = "moved.sock"
        allowed-image-dirs = ["second"]
        log-level = "info"
        max-connections = 3
        """.write(toFile: config, atomically: true, encoding: .utf8)
        try reloadDaemon(expecting: "configuration reloaded")
        XCTAssertTrue(log().contains("configuration reload: 'socket' changed; ignored until armvisord restarts"), log())
        XCTAssertTrue(log().contains("max-connections=3"), log())
        XCTAssertTrue(try create(4, "b", secondKernel).contains(#""ok":true"#))
        XCTAssertTrue(try create(5, "c", firstKernel).contains("path-not-allowed"))
        // The definition made while its directory was allowed no longer starts.
        XCTAssertTrue(
            try connection.exchangeLine(#"{"id":6,"command":"start","arguments":{"name":"f"}}"#).contains(
                "path-not-allowed"))
        let fresh = try LineSocket(path: socketPath)
        XCTAssertEqual(try fresh.exchangeLine(#"{"id":7,"command":"ping"}"#), pong(7))
        XCTAssertTrue(log().contains("connection opened"), log())
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(workDirectory)/moved.sock"))

        // A broken file changes nothing.
        try "allowed-image-dirs = \"first\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        try reloadDaemon(expecting: "configuration not reloaded")
        XCTAssertTrue(
            log().contains(
                "configuration not reloaded, the current settings stay: \(config):1: key 'allowed-image-dirs': must be a list"
            ), log())
        XCTAssertTrue(try create(8, "d", secondKernel).contains(#""ok":true"#))
        XCTAssertTrue(try create(9, "e", firstKernel).contains("path-not-allowed"))
        try stopDaemon()
    }

    // MARK: - Helpers

    private func pong(_ id: Int) -> String { #"{"id":\#(id),"ok":true,"result":{}}"# }

    private func writeConfig(_ text: String, name: String = "armvisord.conf") throws -> String {
        let path = "\(workDirectory)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A raw image that idles forever (`wfi; b .-4`) as `directory/idle.bin`.
    private func writeIdleGuest(in directory: String) throws -> String {
        let path = "\(directory)/idle.bin"
        let words: [UInt32] = [0xD503_207F, 0x17FF_FFFF]
        let bytes = words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func socketStat() throws -> (mode: Int, gid: gid_t) {
        var info = stat()
        guard lstat(socketPath, &info) == 0 else {
            throw Failure("stat \(socketPath): \(String(cString: strerror(errno)))")
        }
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)
        return (Int(info.st_mode & 0o7777), info.st_gid)
    }

    private func log() -> String { daemonLog }

    /// Starts armvisord (the state directory in the work directory unless `arguments` name one)
    /// and waits until it listens on `socketPath` (`DaemonTestCase.launchDaemon`).
    private func startDaemon(_ arguments: [String]) throws {
        let stateDirectory = arguments.contains("--state-dir") ? [] : ["--state-dir", "\(workDirectory)/state"]
        try launchDaemon(arguments: arguments + stateDirectory, socketPath: socketPath)
    }

    /// SIGHUP, then waits (polling the log every 20 ms, at most `DaemonProcess.deadline`) for
    /// `expecting` to be logged by this reload.
    private func reloadDaemon(expecting: String) throws {
        guard let daemon else { throw Failure("no daemon") }
        let before = log().components(separatedBy: expecting).count
        kill(daemon.processIdentifier, SIGHUP)
        let deadline = Date().addingTimeInterval(DaemonProcess.deadline)
        while log().components(separatedBy: expecting).count == before {
            guard daemon.isRunning else { throw Failure("armvisord died on SIGHUP: \(log())") }
            guard Date() < deadline else {
                throw Failure("no '\(expecting)' within \(DaemonProcess.deadline) s of SIGHUP: \(log())")
            }
            usleep(20_000)
        }
    }

    private struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs armvisord until it exits (killed after 10 s).
    private func runDaemonToExit(_ arguments: [String]) throws -> Result {
        try runProcess(TestPaths.product("armvisord"), arguments)
    }

    private func runProcess(_ executable: String, _ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = DaemonProcess.environment(workDirectory: workDirectory)
        let out = "\(workDirectory)/run.out", err = "\(workDirectory)/run.err"
        for path in [out, err] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning {
            guard Date() < deadline else {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw Failure("\(executable) \(arguments) did not exit within 10 s")
            }
            usleep(20_000)
        }
        return Result(
            status: process.terminationStatus, stdout: try String(contentsOfFile: out, encoding: .utf8),
            stderr: try String(contentsOfFile: err, encoding: .utf8))
    }
}
