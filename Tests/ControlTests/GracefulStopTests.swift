import Control
import Foundation
import Hypervisor
import Platform
import TestSupport
import XCTest

/// `stop` and the daemon's shutdown press the board's power button (PL061 pin 3), wait for the
/// guest to power off, and force the stop after the timeout — with the real board and the
/// `powerbutton` guest (Tests/Guests/powerbutton), which powers off when line 3 rises.
final class GracefulStopTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try TestPaths.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func consolePath(_ name: String) -> String { directory.appendingPathComponent("\(name).console").path }

    private func console(_ name: String) -> String {
        (try? String(contentsOfFile: consolePath(name), encoding: .utf8)) ?? ""
    }

    /// A raw image that sleeps forever with interrupts masked (`wfi; b .-4`): it never answers.
    private func idleGuest() throws -> String {
        let path = directory.appendingPathComponent("idle.bin").path
        let words: [UInt32] = [0xD503_207F, 0x17FF_FFFF]
        let bytes = words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Creates and starts a `powerbutton` guest and waits until it sleeps waiting for the button.
    private func startButtonGuest(_ manager: VMManager, name: String) async throws {
        _ = try await manager.create(
            name: name,
            configuration: VMConfiguration(
                kernel: try TestPaths.guest("powerbutton"), console: "file:\(consolePath(name))"))
        _ = try await manager.start(name: name)
        let deadline = Date().addingTimeInterval(30)
        while !console(name).contains("READY\n") {
            guard Date() < deadline else { return XCTFail("no READY within 30 s: \(console(name))") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private let guestChecks =
        "PASS rtc_id\nPASS rtc_time\nREADY\nPASS gpio_irq\nPASS gpio_mis\nPASS gpio_data\nDONE\n"

    func testStop_whenGuestAnswersPowerButton_endsWithPoweroff() async throws {
        // The button's release waits for a clock that never moves: the guest reads the line
        // high however long the host takes to run its handler (with the host's clock, a stall
        // of 100 ms on a loaded machine made it read the line low).
        let manager = VMManager(logger: quietLogger, powerButtonClock: ManualDeviceClock())
        let events = manager.events.subscribe(name: "pb")
        try await startButtonGuest(manager, name: "pb")
        let started = ContinuousClock.now
        let summary = try await manager.stop(name: "pb")
        XCTAssertEqual(
            summary, VMStopSummary(name: "pb", record: StopRecord(reason: .poweroff, detail: "PSCI SYSTEM_OFF")))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "well before the 30 s timeout")
        XCTAssertEqual(console("pb"), guestChecks)
        var kinds: [String] = []
        for await event in events {
            kinds.append("\(event.event.rawValue) \(event.reason?.rawValue ?? "")")
            if event.event == .stopped { break }
        }
        XCTAssertEqual(kinds, ["started ", "stopped poweroff"])
    }

    func testStop_whenGuestIgnoresPowerButton_forcesAfterTimeout() async throws {
        let manager = VMManager(logger: quietLogger)
        _ = try await manager.create(
            name: "deaf", configuration: VMConfiguration(kernel: try idleGuest(), console: "null", stopTimeout: 0.3))
        _ = try await manager.start(name: "deaf")
        let started = ContinuousClock.now
        let summary = try await manager.stop(name: "deaf")
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(summary.reason, .killed)
        XCTAssertEqual(
            summary.detail,
            "forced after 0.3 s: the guest did not power off when the power button was pressed")
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(300))
        XCTAssertLessThan(elapsed, .seconds(10))
    }

    func testStopRequestTimeoutOverridesTheConfigurationAndIsChecked() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            let config: JSONValue = ["kernel": .string(try idleGuest()), "console": "null", "stop-timeout": 600]
            assertOK(try socket.request("create", ["name": "t", "config": config]))
            assertOK(try socket.request("start", ["name": "t"]))
            assertError(try socket.request("stop", ["name": "t", "timeout": "soon"]), .badRequest)
            assertError(try socket.request("stop", ["name": "t", "timeout": -1]), .badRequest)
            assertError(try socket.request("stop", ["name": "t", "timeout": 3601]), .badRequest)
            XCTAssertEqual(assertOK(try socket.request("info", ["name": "t"]))["state"], "running", "untouched")
            let stopped = assertOK(try socket.request("stop", ["name": "t", "timeout": .double(0.1)]))
            XCTAssertEqual(stopped["reason"], "killed")
            XCTAssertEqual(
                stopped["detail"], "forced after 0.1 s: the guest did not power off when the power button was pressed")
            assertError(
                try socket.request(
                    "create", ["name": "bad", "config": ["kernel": .string(try idleGuest()), "stop-timeout": -5]]),
                .invalidConfig)
        }
        try await server.stop()
    }

    func testStopOfAPausedVM_stopsAtOnce() async throws {
        let manager = VMManager(logger: quietLogger)
        _ = try await manager.create(
            name: "p", configuration: VMConfiguration(kernel: try idleGuest(), console: "null"))
        _ = try await manager.start(name: "p")
        _ = try await manager.pause(name: "p")
        let started = ContinuousClock.now
        let summary = try await manager.stop(name: "p")
        XCTAssertEqual(summary, VMStopSummary(name: "p", record: VMManager.stoppedWhilePaused))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "no 30 s wait")
    }

    func testShutdown_closesTheConsolesOfAVMThatNeverRan() async throws {
        let manager = VMManager(logger: quietLogger)
        let socket = directory.appendingPathComponent("c.sock").path
        _ = try await manager.create(
            name: "idle",
            configuration: VMConfiguration(kernel: try TestPaths.guest("powerbutton"), console: "unix:\(socket)"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: socket), "create opened the console socket")
        await manager.stopAll()
        XCTAssertFalse(FileManager.default.fileExists(atPath: socket), "the shutdown closed it")
    }

    /// Once the shutdown has begun, nothing brings a VM up again: it would outlive the stop the
    /// daemon waits for. `create`, `start` and `reset` get `shutting-down`.
    func testShutdown_refusesToCreateStartOrResetVMs() async throws {
        let manager = VMManager(logger: quietLogger)
        let configuration = VMConfiguration(kernel: try TestPaths.guest("powerbutton"), console: "null")
        _ = try await manager.create(name: "late", configuration: configuration)
        await manager.stopAll()
        for (command, attempt) in [
            ("create", { _ = try await manager.create(name: "new", configuration: configuration) }),
            ("start", { _ = try await manager.start(name: "late") }),
            ("reset", { _ = try await manager.reset(name: "late") }),
        ] as [(String, () async throws -> Void)] {
            do {
                try await attempt()
                XCTFail("\(command) was accepted during the shutdown")
            } catch let error as ControlError {
                XCTAssertEqual(error.code, .shuttingDown, command)
            }
        }
        let states = await manager.list().map(\.state)
        XCTAssertEqual(states, [.created], "the created VM was not started, and no VM was added")
    }

    func testShutdown_pressesEveryButtonAtOnceAndForcesTheDeafOnes() async throws {
        let manager = VMManager(logger: quietLogger, powerButtonClock: ManualDeviceClock())
        try await startButtonGuest(manager, name: "polite")
        _ = try await manager.create(
            name: "deaf", configuration: VMConfiguration(kernel: try idleGuest(), console: "null", stopTimeout: 0.2))
        _ = try await manager.start(name: "deaf")
        await manager.stopAll()
        let polite = try await manager.wait(name: "polite")
        XCTAssertEqual(polite.reason, .poweroff)
        XCTAssertEqual(console("polite"), guestChecks)
        let deaf = try await manager.wait(name: "deaf")
        XCTAssertEqual(deaf.reason, .killed)
        XCTAssertTrue(deaf.detail.hasPrefix("forced after 0.2 s"), deaf.detail)
    }
}
