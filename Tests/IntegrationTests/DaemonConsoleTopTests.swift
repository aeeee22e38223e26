import Foundation
import Synchronization
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// `console` and `armvisor top` against a real daemon and the `echo` guest (Tests/Guests), which
/// echoes what it receives on its UART and powers off on `!`.
final class DaemonConsoleTopTests: DaemonTestCase {
    func testConsoleAttachEchoDetachAndReattach() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let echo = try TestPaths.guest("echo")
        try startStatefulDaemon(socketPath: socketPath)
        // No --console: the daemon's default (a file in the state directory) is what attaches.
        XCTAssertEqual(
            try armvisor(["create", "echo", "--kernel", echo, "--socket", socketPath]).stdout, "echo: created\n")

        // Attached before the start: the session sees the boot from its first byte.
        let first = try LineSocket(path: socketPath)
        XCTAssertEqual(
            try first.exchangeLine(#"{"id":1,"command":"console","arguments":{"name":"echo"}}"#),
            #"{"id":1,"ok":true,"result":{"name":"echo","state":"created"}}"#)
        try armvisor(["start", "echo", "--socket", socketPath])
        XCTAssertEqual(try first.readUntil("READY\n"), "READY\n")

        // The CLI's console (no terminal here: standard input is a pipe), attached at the same time.
        let cli = try InteractiveProcess(
            try TestPaths.product("armvisor"), ["console", "echo", "--socket", socketPath])
        try cli.waitFor("Connected to VM 'echo' (escape character is ^])")
        let mark = cli.length
        cli.send("hello\r")
        try cli.waitFor("hello\r\n", after: mark)
        // Both sessions see the output; the raw one sees exactly the guest's bytes.
        XCTAssertEqual(try first.readUntil("hello\r\n"), "hello\r\n")
        cli.send("\u{1D}")  // Ctrl-]
        try cli.waitFor("Detached from VM 'echo'.")
        XCTAssertEqual(cli.waitForExit(timeout: 30), 0)

        // The raw session's input reaches the guest too.
        XCTAssertTrue(first.write(Array("abc\r".utf8)))
        XCTAssertEqual(try first.readUntil("abc\r\n"), "abc\r\n")
        // Detaching (closing) leaves the VM running, and a new session attaches.
        shutdown(first.fd, Int32(SHUT_WR))
        XCTAssertEqual(try first.readToEnd(), "")
        XCTAssertEqual(try armvisor(["list", "--socket", socketPath]).stdout, "NAME  STATE\necho  running\n")
        let second = try LineSocket(path: socketPath)
        XCTAssertEqual(
            try second.exchangeLine(#"{"id":"c","command":"console","arguments":{"name":"echo"}}"#),
            #"{"id":"c","ok":true,"result":{"name":"echo","state":"running"}}"#)
        // Input and the request line may come together: the bytes after the line are console input.
        let third = try LineSocket(path: socketPath)
        third.write(Array(#"{"id":3,"command":"console","arguments":{"name":"echo"}}"#.utf8) + Array("\nxy\r".utf8))
        XCTAssertEqual(try third.readLine(), #"{"id":3,"ok":true,"result":{"name":"echo","state":"running"}}"#)
        XCTAssertEqual(try third.readUntil("xy\r\n"), "xy\r\n")
        XCTAssertEqual(try second.readUntil("xy\r\n"), "xy\r\n")

        // `!` powers the guest off: the sessions end after BYE.
        XCTAssertTrue(second.write(Array("!".utf8)))
        XCTAssertEqual(try second.readToEnd(), "BYE\n")
        XCTAssertEqual(try third.readToEnd(), "BYE\n")
        XCTAssertEqual(
            try armvisor(["wait", "echo", "--socket", socketPath]).stdout, "echo: stopped (poweroff): PSCI SYSTEM_OFF\n"
        )
        XCTAssertEqual(
            contents(of: "\(workDirectory)/state/echo.console.log"), "READY\nhello\r\nabc\r\nxy\r\nBYE\n")

        // Wrong states and names: structured errors, and the daemon serves on.
        let errors = try LineSocket(path: socketPath)
        XCTAssertEqual(
            try errors.exchangeLine(#"{"id":4,"command":"console","arguments":{"name":"echo"}}"#),
            #"{"error":{"code":"vm-not-running","message":"VM 'echo' is stopped; only a created, running or paused VM has a console to attach to"},"id":4,"ok":false}"#
        )
        XCTAssertEqual(
            try errors.exchangeLine(#"{"id":5,"command":"console","arguments":{"name":"nope"}}"#),
            #"{"error":{"code":"no-such-vm","message":"no VM named 'nope'"},"id":5,"ok":false}"#)
        XCTAssertTrue(
            try errors.exchangeLine(#"{"id":6,"command":"console"}"#).contains(#""code":"bad-request""#))
        XCTAssertEqual(try errors.exchangeLine(#"{"id":7,"command":"ping"}"#), #"{"id":7,"ok":true,"result":{}}"#)
        let stopped = try armvisor(["console", "echo", "--socket", socketPath], expectedStatus: 1)
        XCTAssertTrue(stopped.stderr.hasSuffix("(vm-not-running)\n"), stopped.stderr)
        let badEscape = try armvisor(["console", "echo", "--escape", "x", "--socket", socketPath], expectedStatus: 64)
        XCTAssertTrue(badEscape.stderr.contains("--escape must be ^"), badEscape.stderr)
        try stopDaemon()
    }

    /// A `reset` moves the attached sessions to the fresh instance: they see it boot and type
    /// into it.
    func testConsoleFollowsAReset() throws {
        let socketPath = "\(workDirectory)/d.sock"
        try startStatefulDaemon(socketPath: socketPath)
        try armvisor([
            "create", "echo", "--kernel", try TestPaths.guest("echo"), "--console", "null", "--socket", socketPath,
        ])
        let console = try LineSocket(path: socketPath)
        _ = try console.exchangeLine(#"{"id":1,"command":"console","arguments":{"name":"echo"}}"#)
        try armvisor(["start", "echo", "--socket", socketPath])
        XCTAssertEqual(try console.readUntil("READY\n"), "READY\n")
        XCTAssertEqual(try armvisor(["reset", "echo", "--socket", socketPath]).stdout, "echo: reset, running\n")
        XCTAssertEqual(try console.readUntil("READY\n"), "READY\n")
        console.write(Array("again\r".utf8))
        XCTAssertEqual(try console.readUntil("again\r\n"), "again\r\n")
        console.write(Array("!".utf8))
        XCTAssertEqual(try console.readToEnd(), "BYE\n")
        XCTAssertEqual(
            try armvisor(["wait", "echo", "--socket", socketPath]).stdout, "echo: stopped (poweroff): PSCI SYSTEM_OFF\n"
        )
        try stopDaemon()
    }

    /// A guest reboot (PSCI SYSTEM_RESET) keeps the VM's consoles, as QEMU keeps its chardevs: the
    /// `file:` console goes on appending (it holds both boots) and an `armvisor console` session
    /// sees the fresh instance boot and types into it, until the VM powers off.
    func testGuestRebootKeepsTheConsoleFileAndConsoleSessions() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let log = "\(workDirectory)/echo.log"
        try startStatefulDaemon(socketPath: socketPath)
        try armvisor([
            "create", "echo", "--kernel", try TestPaths.guest("echo"), "--console", "file:\(log)",
            "--socket", socketPath,
        ])
        let session = try InteractiveProcess(
            try TestPaths.product("armvisor"), ["console", "echo", "--socket", socketPath])
        try session.waitFor("(escape character is ^])")
        try armvisor(["start", "echo", "--socket", socketPath])
        let first = try session.waitFor("READY\n")
        session.send("^")
        try session.waitFor("REBOOT\nREADY\n", after: first.utf8.count)
        session.send("again\r!")
        try session.waitFor("again\r\nBYE\n")
        // The note is the CLI's last output: wait for it, since the exit can be seen before the
        // pipe's last bytes are read.
        try session.waitFor("The console of VM 'echo' closed (the VM stopped).\n")
        XCTAssertEqual(session.waitForExit(timeout: 30), 0, session.text)
        XCTAssertTrue(session.text.hasSuffix("The console of VM 'echo' closed (the VM stopped).\n"), session.text)
        XCTAssertEqual(
            try armvisor(["wait", "echo", "--socket", socketPath]).stdout, "echo: stopped (poweroff): PSCI SYSTEM_OFF\n"
        )
        XCTAssertEqual(contents(of: log), "READY\nREBOOT\nREADY\nagain\r\nBYE\n")
        try stopDaemon()
    }

    /// A `unix:` console's clients stay connected across a guest reboot and a `reset`: the same
    /// connection sees every boot and types into the last one.
    func testUnixConsoleClientsStayConnectedAcrossRebootsAndResets() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let consolePath = "\(workDirectory)/echo.sock"
        try startStatefulDaemon(socketPath: socketPath)
        try armvisor([
            "create", "echo", "--kernel", try TestPaths.guest("echo"), "--console", "unix:\(consolePath)",
            "--socket", socketPath,
        ])
        let client = try LineSocket(path: consolePath)
        try armvisor(["start", "echo", "--socket", socketPath])
        XCTAssertEqual(try client.readUntil("READY\n"), "READY\n")
        client.write(Array("^".utf8))
        XCTAssertEqual(try client.readUntil("READY\n"), "REBOOT\nREADY\n")
        XCTAssertEqual(try armvisor(["reset", "echo", "--socket", socketPath]).stdout, "echo: reset, running\n")
        XCTAssertEqual(try client.readUntil("READY\n"), "READY\n")
        client.write(Array("x!".utf8))
        XCTAssertEqual(try client.readToEnd(), "xBYE\n")
        XCTAssertEqual(
            try armvisor(["wait", "echo", "--socket", socketPath]).stdout, "echo: stopped (poweroff): PSCI SYSTEM_OFF\n"
        )
        XCTAssertFalse(FileManager.default.fileExists(atPath: consolePath), "the console socket is removed")
        try stopDaemon()
    }

    /// `armvisor console` on a terminal (a pseudo-terminal here): raw while attached, and the
    /// terminal's settings back as they were after a detach, after the VM stops, and after
    /// SIGTERM.
    func testConsoleRestoresTheTerminalOnEveryWayOut() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let echo = try TestPaths.guest("echo")
        try startStatefulDaemon(socketPath: socketPath)
        try armvisor(["create", "echo", "--kernel", echo, "--socket", socketPath])
        try armvisor(["start", "echo", "--socket", socketPath])
        try waitUntil("READY") { contents(of: "\(workDirectory)/state/echo.console.log").contains("READY\n") }

        let terminal = try PseudoTerminal()
        XCTAssertFalse(terminal.isRaw)
        func attach() throws -> Process {
            let process = terminal.process(
                try TestPaths.product("armvisor"), ["console", "echo", "--socket", socketPath])
            terminal.clearOutput()
            try process.run()
            try waitForOutput("(escape character is ^])")
            XCTAssertTrue(terminal.isRaw, "the terminal is not raw")
            return process
        }
        func waitForOutput(_ needle: String) throws { try terminal.waitForOutput(needle) }
        func assertRestored(file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertTrue(terminal.isRestored, "the terminal's settings are back", file: file, line: line)
        }
        func write(_ text: String) { terminal.write(text) }

        // Detach with the escape key; Ctrl-C before it goes to the guest, not to the CLI.
        let first = try attach()
        write("hi\u{03}\r")
        try waitForOutput("hi")
        write("\u{1D}")
        try waitForOutput("Detached from VM 'echo'.")
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0)
        assertRestored()

        // SIGTERM while attached.
        let second = try attach()
        second.terminate()
        second.waitUntilExit()
        XCTAssertEqual(second.terminationReason, .uncaughtSignal)
        assertRestored()

        // The VM stops while attached.
        let third = try attach()
        write("!")
        try waitForOutput("The console of VM 'echo' closed (the VM stopped).")
        third.waitUntilExit()
        XCTAssertEqual(third.terminationStatus, 0)
        assertRestored()
        XCTAssertTrue(contents(of: "\(workDirectory)/state/echo.console.log").contains("hi\u{03}\r\n"))
        try stopDaemon()
    }

    func testTopShowsExitsByClassOfARunningGuest() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let echo = try TestPaths.guest("echo")
        try startStatefulDaemon(socketPath: socketPath)
        let empty = try armvisor(["top", "--once", "--interval", "0.05", "--socket", socketPath]).stdout
        XCTAssertTrue(empty.hasPrefix("armvisor top: 0 VMs, exits per second over 0."), empty)
        XCTAssertTrue(empty.hasSuffix(" s\n(no VMs)\n"), empty)
        try armvisor(["create", "echo", "--kernel", echo, "--socket", socketPath])
        try armvisor(["start", "echo", "--socket", socketPath])
        try waitUntil("READY") { contents(of: "\(workDirectory)/state/echo.console.log").contains("READY\n") }

        // Typing into the console makes MMIO exits (each echoed byte is a few UART accesses)
        // while `top` samples.
        let console = try LineSocket(path: socketPath)
        _ = try console.exchangeLine(#"{"id":1,"command":"console","arguments":{"name":"echo"}}"#)
        let fd = console.fd
        let typing = DispatchGroup()
        let typed = Typist()
        DispatchQueue.global().async(group: typing) {
            let line = Array("0123456789".utf8)
            let deadline = Date().addingTimeInterval(60)
            while !typed.done.load(ordering: .relaxed), Date() < deadline {
                guard line.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) > 0 else {
                    return
                }
                usleep(1_000)
            }
        }
        let json = try armvisor(["top", "--iterations", "2", "--interval", "0.2", "--json", "--socket", socketPath])
        let screens = try json.stdout.split(separator: "\n").map {
            try JSONDecoder().decode(TopScreen.self, from: Data($0.utf8))
        }
        XCTAssertEqual(screens.count, 2, json.stdout)
        for screen in screens {
            XCTAssertEqual(screen.vms.map(\.name), ["echo"])
            XCTAssertEqual(screen.vms.first?.state, "running")
            XCTAssertGreaterThan(screen.vms.first?.byClass["DABT_LOW"]?.total ?? 0, 0, json.stdout)
            XCTAssertGreaterThan(screen.interval, 0.15)
        }
        XCTAssertGreaterThan(
            screens.compactMap { $0.vms.first?.byClass["DABT_LOW"]?.perSecond }.max() ?? 0, 0,
            "no MMIO exits per second while the console was busy: \(json.stdout)")
        typed.done.store(true, ordering: .relaxed)
        typing.wait()
        let text = try armvisor(["top", "--once", "--interval", "0.05", "--socket", socketPath]).stdout
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertTrue(lines.first?.hasPrefix("armvisor top: 1 VM, exits per second over 0.") ?? false, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("echo (running)  exits/s ") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  EC") && $0.hasSuffix("PER S         TOTAL") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  DABT_LOW ") }, text)
        console.write(Array("!".utf8))
        _ = try console.readToEnd()
        try stopDaemon()
    }

    /// Tells the typing thread to stop.
    private final class Typist: Sendable {
        let done = Atomic<Bool>(false)
    }

    private struct TopScreen: Decodable {
        struct VM: Decodable {
            struct Rates: Decodable {
                var perSecond: Double
                var total: UInt64
            }
            var name: String
            var state: String
            var byClass: [String: Rates]
        }
        var interval: Double
        var vms: [VM]
    }
}
