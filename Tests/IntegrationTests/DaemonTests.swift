import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// End-to-end tests of the real `armvisord` and `armvisor` binaries: a daemon on a temporary
/// socket and state directory, driven through the CLI and a raw socket connection.
final class DaemonTests: DaemonTestCase {
    func testDaemonRunsTheDemoGuest() throws {
        let demo = TestPaths.packageRoot.appendingPathComponent(".build/guests/demo.bin").path
        guard FileManager.default.fileExists(atPath: demo) else {
            return XCTFail("\(demo) is missing: run scripts/build-guests first")
        }
        let socketPath = "\(workDirectory)/d.sock"
        let consolePath = "\(workDirectory)/demo.console"
        try startStatefulDaemon(socketPath: socketPath, logLevel: "debug")

        // The global --socket before the subcommand works as well as after it.
        XCTAssertEqual(try armvisor(["--socket", socketPath, "ping"]).stdout, "pong\n")
        let created = try armvisor(
            ["create", "demo", "--kernel", demo, "--console", "file:\(consolePath)", "--socket", socketPath])
        XCTAssertEqual(created.stdout, "demo: created\n")
        XCTAssertEqual(try armvisor(["start", "demo", "--socket=\(socketPath)"]).stdout, "demo: running\n")
        let waited = try armvisor(["--socket=\(socketPath)", "wait", "demo", "--json"])
        let stop = try JSONDecoder().decode(StopResult.self, from: Data(waited.stdout.utf8))
        XCTAssertEqual(stop.reason, "poweroff")
        XCTAssertEqual(stop.state, "stopped")

        let console = try String(contentsOfFile: consolePath, encoding: .utf8)
        XCTAssertTrue(console.contains("Hello from the armvisor demo guest!"), console)

        let statsReply = try armvisor(["stats", "demo", "--json", "--socket", socketPath])
        let statistics = try JSONDecoder().decode(StatsResult.self, from: Data(statsReply.stdout.utf8)).statistics
        XCTAssertGreaterThan(statistics.instructionsRetired, 0)
        XCTAssertGreaterThan(statistics.worldSwitches, 0)
        XCTAssertGreaterThan(statistics.exitsByClass["DABT_LOW"] ?? 0, 0)
        XCTAssertGreaterThanOrEqual(statistics.exitsByClass["HVC64"] ?? 0, 1)
        let statsText = try armvisor(["stats", "demo", "--socket", socketPath]).stdout
        XCTAssertTrue(statsText.contains("world switches"), statsText)
        XCTAssertTrue(statsText.contains("pages mapped"), statsText)

        // The guest ran from 0x40080000 with the MMU off: stage 2 maps that page 1:1.
        let walk = try armvisor(["translate", "demo", "0x4008_0000", "--socket", socketPath]).stdout
        let walkLines = walk.split(separator: "\n")
        XCTAssertEqual(walkLines.first, "demo vcpu0 EL1  VA 0x40080000  stage 1 off", walk)
        XCTAssertEqual(
            walkLines.dropFirst().dropLast().map { String($0.prefix(17)) },
            ["  stage 2 level 1", "  stage 2 level 2", "  stage 2 level 3"], walk)
        XCTAssertEqual(walkLines.last, "  → IPA 0x40080000  PA 0x40080000  R W X  device  global", walk)
        let walkJSON = try armvisor(["translate", "demo", "1074266112", "--json", "--socket", socketPath]).stdout
        XCTAssertTrue(walkJSON.contains(#""physical":"0x40080000""#), walkJSON)
        let badVCPU = try armvisor(
            ["translate", "demo", "0", "--vcpu", "2", "--socket", socketPath], expectedStatus: 1)
        XCTAssertEqual(
            badVCPU.stderr, "armvisor: vCPU 2 is out of range: VM 'demo' has 1 vCPU (index 0) (bad-request)\n")
        try armvisor(["translate", "demo", "0xzz", "--socket", socketPath], expectedStatus: 64)

        // The stopped VM's registers and memory.
        let regs = try armvisor(["regs", "demo", "--socket", socketPath]).stdout
        let regsLines = regs.split(separator: "\n").map(String.init)
        XCTAssertEqual(regsLines.first, "demo: stopped", regs)
        XCTAssertEqual(regsLines.count, 1 + 33, regs)
        XCTAssertTrue(regsLines[1].hasPrefix("vcpu 0  MPIDR 0x0000000080000000  stopped  "), regs)
        XCTAssertTrue(regsLines[2].hasPrefix("  PC  0x00000000400"), regs)
        XCTAssertTrue(regs.contains("  SCTLR_EL1 0x"), regs)
        XCTAssertTrue(regs.contains("  Q30 0x00000000000000000000000000000000  Q31 0x"), regs)
        let regsJSON = try armvisor(["regs", "demo", "--json", "--socket", socketPath]).stdout
        XCTAssertTrue(regsJSON.contains(#""instructionsRetired":\#(statistics.instructionsRetired)"#), regsJSON)
        let head = [UInt8](try Data(contentsOf: URL(fileURLWithPath: demo)).prefix(16))
        let dump = try armvisor(["read-memory", "demo", "0x4008_0000", "16", "--socket", socketPath]).stdout
        let groups = stride(from: 0, to: 16, by: 2).map { String(format: "%02x%02x", head[$0], head[$0 + 1]) }
        XCTAssertTrue(dump.hasPrefix("40080000: " + groups.joined(separator: " ") + "  "), dump)
        let rawPath = "\(workDirectory)/demo.head"
        XCTAssertEqual(
            try armvisor(["read-memory", "demo", "1074266112", "0x10", "--output", rawPath, "--socket", socketPath])
                .stdout,
            "")
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: rawPath))), head)
        let tooLong = try armvisor(
            ["read-memory", "demo", "0x40080000", "65537", "--socket", socketPath], expectedStatus: 1)
        XCTAssertEqual(
            tooLong.stderr, "armvisor: argument 'length' must be from 1 to 65536 bytes, not 65537 (bad-request)\n")

        // reset: a fresh instance runs the demo again from the start.
        XCTAssertEqual(try armvisor(["reset", "demo", "--socket", socketPath]).stdout, "demo: reset, running\n")
        XCTAssertEqual(
            try armvisor(["wait", "demo", "--socket", socketPath]).stdout, "demo: stopped (poweroff): PSCI SYSTEM_OFF\n"
        )
        let again = try String(contentsOfFile: consolePath, encoding: .utf8)
        XCTAssertTrue(again.hasPrefix(console.prefix(30)), again)

        let list = try armvisor(["list", "--socket", socketPath]).stdout
        XCTAssertEqual(
            list.split(separator: "\n").map { $0.split(separator: " ").map(String.init) },
            [
                ["NAME", "STATE"], ["demo", "stopped"],
            ])

        // stop on a stopped VM: vm-not-running, exit 1, one line on stderr.
        let stopAgain = try armvisor(["stop", "demo", "--socket", socketPath], expectedStatus: 1)
        XCTAssertTrue(stopAgain.stderr.hasPrefix("armvisor: "), stopAgain.stderr)
        XCTAssertTrue(stopAgain.stderr.contains("vm-not-running"), stopAgain.stderr)
        XCTAssertEqual(stopAgain.stderr.filter { $0 == "\n" }.count, 1)

        // A raw connection: malformed JSON gets bad-request and the connection stays usable.
        let connection = try LineSocket(path: socketPath)
        let bad = try connection.exchangeLine("{nope")
        XCTAssertTrue(bad.contains(#""code":"bad-request""#), bad)
        XCTAssertTrue(bad.contains(#""id":null"#), bad)
        XCTAssertEqual(try connection.exchangeLine(#"{"id":1,"command":"ping"}"#), #"{"id":1,"ok":true,"result":{}}"#)
        XCTAssertEqual(
            try connection.exchangeLine(#"{"id":2,"command":"list"}"#),
            #"{"id":2,"ok":true,"result":{"vms":[{"name":"demo","state":"stopped"}]}}"#)
        let stopReply = try connection.exchangeLine(#"{"id":3,"command":"stop","arguments":{"name":"demo"}}"#)
        XCTAssertTrue(stopReply.contains(#""code":"vm-not-running""#), stopReply)

        // A VM created without a console logs it in the state directory.
        XCTAssertEqual(
            try armvisor(["create", "quiet", "--kernel", demo, "--socket", socketPath]).stdout, "quiet: created\n")
        try armvisor(["start", "quiet", "--socket", socketPath])
        XCTAssertEqual(
            try armvisor(["wait", "quiet", "--socket", socketPath]).stdout,
            "quiet: stopped (poweroff): PSCI SYSTEM_OFF\n")
        let quietConsole = try String(contentsOfFile: "\(workDirectory)/state/quiet.console.log", encoding: .utf8)
        XCTAssertTrue(quietConsole.contains("Hello from the armvisor demo guest!"))
        XCTAssertEqual(try armvisor(["destroy", "quiet", "--socket", socketPath]).stdout, "quiet: destroyed\n")

        try stopDaemon()
    }

    func testDaemonRejectsBadConfigurations() throws {
        let socketPath = "\(workDirectory)/d.sock"
        try startStatefulDaemon(socketPath: socketPath, logLevel: "debug")
        let missing = "\(workDirectory)/no-such-kernel.bin"
        let result = try armvisor(["create", "x", "--kernel", missing, "--socket", socketPath], expectedStatus: 1)
        XCTAssertTrue(result.stderr.contains(missing), result.stderr)
        XCTAssertTrue(result.stderr.contains("invalid-config"), result.stderr)
        // Relative paths are resolved against the CLI's directory before they are sent.
        let relative = try armvisor(
            ["create", "y", "--kernel", "nothing-here.bin", "--socket", socketPath], expectedStatus: 1,
            directory: workDirectory)
        XCTAssertTrue(relative.stderr.contains("\(workDirectory)/nothing-here.bin"), relative.stderr)
        // So are the ones a --config file names (here `bios`), not only the kernel.
        try Data(#"{"bios": "no-bios-here.bin", "console": "null"}"#.utf8)
            .write(to: URL(fileURLWithPath: "\(workDirectory)/relative-bios.json"))
        let relativeBIOS = try armvisor(
            ["create", "z", "--config", "relative-bios.json", "--socket", socketPath], expectedStatus: 1,
            directory: workDirectory)
        XCTAssertTrue(relativeBIOS.stderr.contains("bios \(workDirectory)/no-bios-here.bin"), relativeBIOS.stderr)
        XCTAssertTrue(relativeBIOS.stderr.contains("invalid-config"), relativeBIOS.stderr)
        // The flags run and create share (one declaration, VMSettingsOptions), each made absolute.
        let idle = try writeIdleGuest()
        for (flag, file, reported) in [
            ("--initrd", "no-initrd", "initrd"), ("--dtb", "no.dtb", "dtb"), ("--pflash", "no-flash.img", "pflash"),
        ] {
            let result = try armvisor(
                ["create", "w", "--kernel", idle, flag, file, "--console", "null", "--socket", socketPath],
                expectedStatus: 1, directory: workDirectory)
            XCTAssertTrue(result.stderr.contains("\(workDirectory)/\(file)"), "\(flag): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(reported), "\(flag): \(result.stderr)")
        }
        let invalid = try armvisor(["create", "../x", "--socket", socketPath], expectedStatus: 1)
        XCTAssertTrue(invalid.stderr.contains("invalid-name"), invalid.stderr)
        XCTAssertEqual(try armvisor(["list", "--json", "--socket", socketPath]).stdout, #"{"vms":[]}"# + "\n")
        try stopDaemon()
    }

    /// A raw image that idles forever (`wfi; b .-4`), to have VMs that only stop when told.
    private func writeIdleGuest() throws -> String {
        let path = "\(workDirectory)/idle.bin"
        let words: [UInt32] = [0xD503_207F, 0x17FF_FFFF]
        let bytes = words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testStopDestroyAndShutdownWithRunningVMs() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let idle = try writeIdleGuest()
        try startStatefulDaemon(socketPath: socketPath, logLevel: "debug")
        // The idle guest never answers the power button: `stop` and the shutdown force it after
        // its stop-timeout.
        for name in ["a", "b", "c"] {
            try armvisor([
                "create", name, "--kernel", idle, "--console", "null", "--stop-timeout", "0.2", "--socket", socketPath,
            ])
            try armvisor(["start", name, "--socket", socketPath])
        }
        let again = try armvisor(["start", "a", "--socket", socketPath], expectedStatus: 1)
        XCTAssertTrue(again.stderr.contains("vm-not-created"), again.stderr)
        XCTAssertEqual(
            try armvisor(["stop", "a", "--socket", socketPath]).stdout,
            "a: stopped (killed): forced after 0.2 s: the guest did not power off when the power button was pressed\n")
        XCTAssertEqual(try armvisor(["destroy", "b", "--socket", socketPath]).stdout, "b: destroyed\n")
        let killAgain = try armvisor(["kill", "a", "--socket", socketPath], expectedStatus: 1)
        XCTAssertEqual(
            killAgain.stderr, "armvisor: VM 'a' is stopped; only a running or paused VM can kill (vm-not-running)\n")
        let regsRunning = try armvisor(["regs", "c", "--socket", socketPath], expectedStatus: 1)
        XCTAssertEqual(
            regsRunning.stderr, "armvisor: VM 'c' is running; pause it to read its registers (vm-not-paused)\n")
        try armvisor(["create", "k", "--kernel", idle, "--console", "null", "--socket", socketPath])
        try armvisor(["start", "k", "--socket", socketPath])
        XCTAssertEqual(
            try armvisor(["kill", "k", "--socket", socketPath]).stdout, "k: stopped (killed): killed on request\n")
        try armvisor(["destroy", "k", "--socket", socketPath])
        let list = try armvisor(["list", "--json", "--socket", socketPath]).stdout
        XCTAssertEqual(list, #"{"vms":[{"name":"a","state":"stopped"},{"name":"c","state":"running"}]}"# + "\n")
        // SIGTERM with "c" still running: the daemon stops it and exits 0.
        try stopDaemon()
        let log = daemonLog
        XCTAssertTrue(log.contains("vm=c"), log)
        XCTAssertTrue(log.contains("VM stopped: killed (forced after 0.2 s"), log)
    }

    /// `stop` and SIGTERM press the power button; the `powerbutton` guest (Tests/Guests) powers
    /// off through PSCI when its GPIO line 3 rises, so both end with reason `poweroff`.
    func testStopAndShutdownPressThePowerButton() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let guest = try TestPaths.guest("powerbutton")
        try startStatefulDaemon(socketPath: socketPath, logLevel: "debug")
        func waitUntilReady(_ console: String) throws {
            let deadline = Date().addingTimeInterval(30)
            while !((try? String(contentsOfFile: console, encoding: .utf8)) ?? "").contains("READY\n") {
                guard Date() < deadline else { throw Failure("\(console): no READY within 30 s") }
                usleep(10_000)
            }
        }
        for name in ["pb", "down"] {
            let console = "\(workDirectory)/\(name).console"
            try armvisor(["create", name, "--kernel", guest, "--console", "file:\(console)", "--socket", socketPath])
            try armvisor(["start", name, "--socket", socketPath])
            try waitUntilReady(console)
        }
        XCTAssertEqual(
            try armvisor(["stop", "pb", "--socket", socketPath]).stdout, "pb: stopped (poweroff): PSCI SYSTEM_OFF\n")
        XCTAssertEqual(
            try String(contentsOfFile: "\(workDirectory)/pb.console", encoding: .utf8), PowerButtonGuest.expectedOutput)
        // SIGTERM with "down" running: its button is pressed and it powers off by itself.
        try stopDaemon()
        XCTAssertEqual(
            try String(contentsOfFile: "\(workDirectory)/down.console", encoding: .utf8),
            PowerButtonGuest.expectedOutput)
        let log = daemonLog
        let downLines = log.split(separator: "\n").filter { $0.contains("vm=down") }
        XCTAssertTrue(downLines.contains { $0.contains("VM stop requested (shutdown): power button pressed") }, log)
        XCTAssertTrue(downLines.contains { $0.contains("VM stopped: poweroff (PSCI SYSTEM_OFF)") }, log)
    }

    /// A raw image that spins forever (`add x0, x0, #1; b .-4`).
    private func writeSpinningGuest() throws -> String {
        let path = "\(workDirectory)/spin.bin"
        let words: [UInt32] = [0x9100_0400, 0x17FF_FFFF]
        let bytes = words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func retired(_ name: String, socketPath: String) throws -> UInt64 {
        let reply = try armvisor(["stats", name, "--json", "--socket", socketPath])
        return try JSONDecoder().decode(StatsResult.self, from: Data(reply.stdout.utf8)).statistics.instructionsRetired
    }

    func testDefinitionSurvivesSIGKILLAndAutostarts() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let spin = try writeSpinningGuest()
        try startStatefulDaemon(socketPath: socketPath, logLevel: "debug")
        XCTAssertEqual(
            try armvisor([
                "define", "spin", "--kernel", spin, "--console", "null", "--autostart", "--socket", socketPath,
            ])
            .stdout, "spin: defined (autostart)\n")
        let definitionPath = "\(workDirectory)/state/spin.json"
        let written = try String(contentsOfFile: definitionPath, encoding: .utf8)
        XCTAssertEqual(
            try armvisor(["list", "--json", "--socket", socketPath]).stdout,
            #"{"vms":[{"autostart":true,"defined":true,"name":"spin","state":"inactive"}]}"# + "\n")

        // SIGKILL: no chance to clean up. The restarted daemon replaces the stale socket file,
        // loads the definition and starts the VM.
        guard let killed = daemon else { return XCTFail("no daemon") }
        killed.forceKill()
        try startStatefulDaemon(socketPath: socketPath, logLevel: "debug")
        XCTAssertEqual(try String(contentsOfFile: definitionPath, encoding: .utf8), written)
        XCTAssertEqual(
            try armvisor(["list", "--json", "--socket", socketPath]).stdout,
            #"{"vms":[{"autostart":true,"defined":true,"name":"spin","state":"running"}]}"# + "\n")
        XCTAssertEqual(
            try armvisor(["list", "--socket", socketPath]).stdout, "NAME  STATE\nspin  running (defined, autostart)\n")
        let deadline = Date().addingTimeInterval(10)
        while try retired("spin", socketPath: socketPath) == 0, Date() < deadline { usleep(10_000) }
        XCTAssertGreaterThan(try retired("spin", socketPath: socketPath), 0, "the autostarted VM does not run")

        // Follow events with the CLI while pausing, resuming and stopping.
        let eventsOut = "\(workDirectory)/events.out"
        _ = FileManager.default.createFile(atPath: eventsOut, contents: nil)
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: try TestPaths.product("armvisor"))
        follower.arguments = ["events", "spin", "--socket", socketPath]
        follower.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: eventsOut))
        try follower.run()
        defer { if follower.isRunning { follower.terminate() } }
        // Waiting for another process: poll its subscription in the daemon's log every 10 ms.
        let subscribed = Date().addingTimeInterval(DaemonProcess.deadline)
        while !daemonLog.contains("events subscription started"), Date() < subscribed { usleep(10_000) }
        XCTAssertTrue(daemonLog.contains("events subscription started"), daemonLog)

        XCTAssertEqual(try armvisor(["pause", "spin", "--socket", socketPath]).stdout, "spin: paused\n")
        let paused = try retired("spin", socketPath: socketPath)
        usleep(50_000)
        XCTAssertEqual(try retired("spin", socketPath: socketPath), paused)
        let info = try armvisor(["info", "spin", "--socket", socketPath]).stdout
        XCTAssertTrue(info.contains("state:   paused\n"), info)
        XCTAssertTrue(info.contains("kernel:  \(spin)\n"), info)
        XCTAssertTrue(info.contains("vcpu 0:  paused, MPIDR 0x80000000, PC 0x4008000"), info)
        let infoJSON = try JSONValueLite(armvisor(["info", "spin", "--json", "--socket", socketPath]).stdout)
        XCTAssertEqual(infoJSON.state, "paused")
        let pausedAgain = try armvisor(["pause", "spin", "--socket", socketPath], expectedStatus: 1)
        XCTAssertTrue(pausedAgain.stderr.contains("(vm-not-running)"), pausedAgain.stderr)
        XCTAssertEqual(try armvisor(["resume", "spin", "--socket", socketPath]).stdout, "spin: running\n")
        let resumedAgain = try armvisor(["resume", "spin", "--socket", socketPath], expectedStatus: 1)
        XCTAssertTrue(resumedAgain.stderr.contains("(vm-not-paused)"), resumedAgain.stderr)
        let undefineRunning = try armvisor(["undefine", "spin", "--socket", socketPath], expectedStatus: 1)
        XCTAssertTrue(undefineRunning.stderr.contains("(vm-running)"), undefineRunning.stderr)
        try armvisor(["stop", "spin", "--timeout", "0", "--socket", socketPath])

        let eventsDeadline = Date().addingTimeInterval(10)
        var events: [String] = []
        while events.count < 3, Date() < eventsDeadline {
            usleep(10_000)
            events = ((try? String(contentsOfFile: eventsOut, encoding: .utf8)) ?? "").split(separator: "\n").map(
                String.init)
        }
        XCTAssertEqual(
            events.map { $0.split(separator: " ").dropFirst().joined(separator: " ") },
            [
                "spin paused", "spin resumed",
                "spin stopped (killed): forced after 0 s: the guest did not power off when the power button was pressed",
            ])

        XCTAssertEqual(try armvisor(["undefine", "spin", "--socket", socketPath]).stdout, "spin: undefined\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: definitionPath))
        try stopDaemon()
    }

    /// The few members of an `info` reply the test reads.
    private struct JSONValueLite: Decodable {
        var state: String
        init(_ text: String) throws { self = try JSONDecoder().decode(Self.self, from: Data(text.utf8)) }
    }

    func testCLIWithoutADaemon() throws {
        let socketPath = "\(workDirectory)/nobody.sock"
        let result = try armvisor(["list", "--socket", socketPath], expectedStatus: 1)
        XCTAssertEqual(result.stdout, "")
        XCTAssertTrue(result.stderr.hasPrefix("armvisor: cannot connect to armvisord at \(socketPath)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("is the daemon running"), result.stderr)
    }

    // MARK: - Processes

    private struct StopResult: Decodable {
        var name: String
        var state: String
        var reason: String
        var detail: String
    }

    private struct StatsResult: Decodable {
        struct Statistics: Decodable {
            var instructionsRetired: UInt64
            var worldSwitches: UInt64
            var exitsByClass: [String: UInt64]
        }
        var statistics: Statistics
    }
}
