import Foundation
import TestSupport
import XCTest

/// `armvisor run` end to end: the built executable boots the guest programs, and bad input gets
/// a one-line error and a non-zero exit, never a crash.
final class RunCommandTests: XCTestCase {
    private func armvisor(_ arguments: [String]) throws -> ProcessRunner.Result {
        try ProcessRunner.run(try TestPaths.product("armvisor"), arguments, timeout: 60)
    }

    private func assertCleanFailure(
        _ result: ProcessRunner.Result, mentions text: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(result.reason, .exit, "terminated by a signal", file: file, line: line)
        XCTAssertEqual(result.status, 1, file: file, line: line)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one-line error, got: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.hasPrefix("armvisor: "), result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(text), "\(result.stderr) should mention \(text)", file: file, line: line)
    }

    func testDemoGuestBootsAndItsConsoleTextIsPrinted() throws {
        let result = try armvisor(["run", "--kernel", try TestPaths.guest("demo")])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "Hello from the armvisor demo guest!\nEL1 guest: powering off through PSCI\n")
        XCTAssertEqual(result.stderr, "")
    }

    func testAConsoleReaderThatWentAwayDoesNotKillTheRun() throws {
        // `armvisor run … | head -c 0`: SIGPIPE is ignored, so the console loses its output and
        // the run still ends through the guest's power-off, status 0.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestPaths.product("armvisor"))
        process.arguments = ["run", "--kernel", try TestPaths.guest("demo")]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try output.fileHandleForReading.close()
        try process.run()
        XCTAssertEqual(finished.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(process.terminationReason, .exit, "not killed by SIGPIPE")
        XCTAssertEqual(process.terminationStatus, 0)
    }

    func testStatsListExitsByClassWorldSwitchesMMIOAndInstructions() throws {
        let result = try armvisor([
            "run", "--kernel", try TestPaths.guest("demo", kind: "elf"), "--memory", "32M", "--stats",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        for label in ["instructions retired", "world switches", "MMIO reads", "MMIO writes", "DABT_LOW", "HVC64"] {
            XCTAssertTrue(result.stderr.contains(label), "missing \(label) in\n\(result.stderr)")
        }
        let hvc = result.stderr.split(separator: "\n").first { $0.contains("HVC64") }
        XCTAssertEqual(hvc?.split(separator: " ").last, "1")
    }

    /// A guest that calls PSCI SYSTEM_RESET at once: `movz w0, #9; movk w0, #0x8400, lsl #16; hvc #0`.
    private func resettingGuest(in dir: URL) throws -> String {
        let words: [UInt32] = [0x5280_0120, 0x72B0_8000, 0xD400_0002]
        let path = dir.appendingPathComponent("reset.bin").path
        try Data(words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } })
            .write(to: URL(fileURLWithPath: path))
        return path
    }

    func testNoRebootEndsTheRunWhenTheGuestResets() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try armvisor(["run", "--kernel", try resettingGuest(in: dir), "--no-reboot"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "armvisor: guest requested a reset (PSCI SYSTEM_RESET); stopping\n")
    }

    /// Without --no-reboot a reset boots a fresh instance, as QEMU does; SIGINT ends the loop.
    func testAGuestResetBootsAgainUntilInterrupted() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let vm = try InteractiveProcess(
            try TestPaths.product("armvisor"), ["run", "--kernel", try resettingGuest(in: dir)])
        let first = try vm.waitFor("booting again\n")
        try vm.waitFor("booting again\n", after: first.utf8.count)
        vm.signal(SIGINT)
        XCTAssertEqual(vm.waitForExit(timeout: 30), 130, vm.text)
    }

    /// The reboot loop keeps the console open: a client of a `unix:` console stays connected
    /// while the guest reboots, sees the fresh instance and types into it.
    func testAGuestRebootKeepsUnixConsoleClientsConnected() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let consolePath = dir.appendingPathComponent("console.sock").path
        let vm = try InteractiveProcess(
            try TestPaths.product("armvisor"),
            ["run", "--kernel", try TestPaths.guest("echo"), "--console", "unix:\(consolePath)"])
        var client: LineSocket?
        let deadline = Date().addingTimeInterval(30)
        while client == nil && Date() < deadline {
            client = try? LineSocket(path: consolePath)
            if client == nil { usleep(10_000) }
        }
        let console = try XCTUnwrap(client, "no console socket: \(vm.text)")
        // READY may have gone out before the client connected: the echo says the guest listens.
        console.write(Array("a\r".utf8))
        XCTAssertEqual(try console.readUntil("a\r\n").hasSuffix("a\r\n"), true)
        console.write(Array("^".utf8))
        XCTAssertEqual(try console.readUntil("READY\n"), "REBOOT\nREADY\n")
        console.write(Array("b!".utf8))
        XCTAssertEqual(try console.readToEnd(), "bBYE\n")
        XCTAssertEqual(vm.waitForExit(timeout: 30), 0, vm.text)
        XCTAssertEqual(vm.text, "armvisor: guest reset (PSCI SYSTEM_RESET); booting again\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: consolePath), "the console socket is removed")
    }

    /// A `pty` console is made once per run: the terminal announced at the start is the one the
    /// fresh instance talks on after the guest reboots.
    func testAGuestRebootKeepsThePTYConsole() throws {
        let vm = try InteractiveProcess(
            try TestPaths.product("armvisor"), ["run", "--kernel", try TestPaths.guest("echo"), "--console", "pty"])
        let announced = try vm.waitFor("\n")
        let prefix = "armvisor: console on "
        XCTAssertTrue(announced.hasPrefix(prefix), announced)
        let path = String(announced.dropFirst(prefix.count).dropLast())
        let terminal = try XCTUnwrap(FileHandle(forUpdatingAtPath: path), "cannot open \(path)")
        // Bytes, not a String: "\r\n" split across two reads must still match.
        var seen = Data()
        func read(until needle: String) throws {
            let deadline = Date().addingTimeInterval(30)
            while seen.range(of: Data(needle.utf8)) == nil {
                guard Date() < deadline else {
                    throw CocoaError(
                        .fileReadUnknown, userInfo: ["seen": String(reflecting: String(decoding: seen, as: UTF8.self))])
                }
                var fds = [pollfd(fd: terminal.fileDescriptor, events: Int16(POLLIN), revents: 0)]
                guard poll(&fds, 1, 100) > 0 else { continue }
                seen += terminal.availableData
            }
        }
        terminal.write(Data("a\r".utf8))
        try read(until: "a\r\n")
        terminal.write(Data("^".utf8))
        try read(until: "REBOOT\nREADY\n")
        terminal.write(Data("b!".utf8))
        try read(until: "bBYE\n")
        XCTAssertEqual(vm.waitForExit(timeout: 30), 0, vm.text)
        XCTAssertEqual(vm.text, announced + "armvisor: guest reset (PSCI SYSTEM_RESET); booting again\n")
        try terminal.close()
    }

    /// On a terminal the stdio console is raw (keys go to the guest) with QEMU's escape: Ctrl-A x
    /// ends the run with 130, and the terminal's settings are back afterwards — also when the
    /// VM cannot be built after its console was opened.
    func testTerminalConsoleIsRawWithTheEscapeAndRestoredOnEveryWayOut() throws {
        let terminal = try PseudoTerminal()
        let echo = try TestPaths.guest("echo")
        let run = terminal.process(try TestPaths.product("armvisor"), ["run", "--kernel", echo])
        try run.run()
        try terminal.waitForOutput("READY")
        XCTAssertTrue(terminal.isRaw)
        terminal.write("ab\r")
        try terminal.waitForOutput("READY\r\nab")
        terminal.write("\u{01}x")
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 130, terminal.output)
        XCTAssertTrue(terminal.isRestored, "after Ctrl-A x")

        // A disk that cannot be opened fails the build after the console went raw.
        terminal.clearOutput()
        let failing = terminal.process(
            try TestPaths.product("armvisor"), ["run", "--kernel", echo, "--disk", "/nonexistent/disk.img"])
        try failing.run()
        failing.waitUntilExit()
        XCTAssertEqual(failing.terminationStatus, 1)
        try terminal.waitForOutput("/nonexistent/disk.img")
        XCTAssertTrue(terminal.isRestored, "after a failed build")
    }

    /// `stop --timeout` is checked by the CLI (exit 64, the usage error), not sent as `null`.
    func testStopRejectsATimeoutThatIsNotASecondCount() throws {
        for value in ["nan", "inf", "-1", "3601"] {
            let result = try armvisor(["stop", "vm", "--timeout=\(value)", "--socket", "/nonexistent/s"])
            XCTAssertEqual(result.status, 64, "\(value): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("--timeout must be a number of seconds from 0 to 3600"), result.stderr)
        }
    }

    func testConfigFileWithFlagOverride() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("vm.json")
        try #"{"kernel": "/nonexistent", "memory": "64M"}"#.write(to: config, atomically: true, encoding: .utf8)
        let result = try armvisor(["run", "--config", config.path, "--kernel", try TestPaths.guest("demo")])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("Hello"))
    }

    func testMissingKernelFile() throws {
        assertCleanFailure(
            try armvisor(["run", "--kernel", "/nonexistent/guest.elf"]),
            mentions: "/nonexistent/guest.elf: No such file")
    }

    func testNonAArch64ELF() throws {
        // The test runner itself is an x86-64 (or other host) ELF.
        let host = try TestPaths.product("armvisor")
        assertCleanFailure(try armvisor(["run", "--kernel", host]), mentions: "not AArch64")
    }

    func testTruncatedELF() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let elf = try Data(contentsOf: URL(fileURLWithPath: try TestPaths.guest("demo", kind: "elf")))
        let path = dir.appendingPathComponent("cut.elf").path
        try elf.prefix(120).write(to: URL(fileURLWithPath: path))
        assertCleanFailure(try armvisor(["run", "--kernel", path]), mentions: "truncated ELF")
    }

    func testImageLargerThanRAM() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("big.bin").path
        try Data(count: 3 << 20).write(to: URL(fileURLWithPath: path))
        assertCleanFailure(try armvisor(["run", "--kernel", path, "--memory", "2M"]), mentions: "does not fit in RAM")
    }

    func testBadMemorySizeAndUnknownConfigKey() throws {
        assertCleanFailure(
            try armvisor(["run", "--kernel", try TestPaths.guest("demo"), "--memory", "lots"]),
            mentions: "invalid memory size")
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("bad.json")
        try #"{"kernal": "x"}"#.write(to: config, atomically: true, encoding: .utf8)
        assertCleanFailure(
            try armvisor(["run", "--config", config.path]), mentions: "unknown configuration key 'kernal'")
    }

    func testGuestWhoseVectorIsNotInRAMEndsWithGuestFault() throws {
        // The undef guest's image without its vector table: a raw UDF at the entry with VBAR = 0.
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("udf.bin").path
        try Data([0, 0, 0, 0]).write(to: URL(fileURLWithPath: path))
        let result = try armvisor(["run", "--kernel", path])
        XCTAssertEqual(result.reason, .exit)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("guest fault"), result.stderr)
    }
}
