@testable import Control
import Foundation
import Hypervisor
import Platform
import Synchronization
import TestSupport
import XCTest

/// `kill` and `reset` over the socket: which states they accept, what they reply, which events
/// they cause, and that a failed reset changes nothing.
final class KillResetTests: XCTestCase {
    /// Every configuration the factory was asked to build, and from which build on it fails.
    private final class Builds: Sendable {
        let configurations = Mutex<[VMConfiguration]>([])
        let failure = Mutex<(@Sendable (Int, VMConfiguration) -> Bool)?>(nil)

        var count: Int { configurations.withLock { $0.count } }

        /// A factory that records each build and fails when `failure` says so.
        func factory(_ base: @escaping VMManager.Factory) -> VMManager.Factory {
            { name, configuration in
                let index = self.configurations.withLock { list in
                    list.append(configuration)
                    return list.count - 1
                }
                if let fail = self.failure.withLock({ $0 }), fail(index, configuration) {
                    throw ConfigurationError("cannot read kernel /gone.bin: No such file or directory")
                }
                return try base(name, configuration)
            }
        }
    }

    /// Increments the word at RAM + 0x1_0000, then powers off: 7 instructions every run.
    private static func countingGuest() throws -> VMManager.Factory {
        try assembledGuest(
            ["movz x1, #0x4001, lsl #16", "ldr x2, [x1]", "add x2, x2, #1", "str x2, [x1]"] + powerOffProgram)
    }

    private func retired(_ socket: LineSocket, _ name: JSONValue) throws -> Int64 {
        let stats = assertOK(try socket.request("stats", ["name": name]))
        return stats["statistics"]?["instructionsRetired"]?.integerValue ?? -1
    }

    private func waitForProgress(_ socket: LineSocket, _ name: JSONValue, beyond count: Int64 = 0) throws {
        let deadline = Date().addingTimeInterval(10)
        while try retired(socket, name) <= count, Date() < deadline { usleep(1000) }
        XCTAssertGreaterThan(try retired(socket, name), count, "the guest made no progress")
    }

    /// The next `count` events of a subscription, as `event` or `event(reason): detail`.
    private func events(_ socket: LineSocket, _ count: Int) throws -> [String] {
        try (0..<count).map { _ in
            let event = try JSONValue(parsing: Data(XCTUnwrap(try socket.readLine()).utf8))
            var text = event["event"]?.stringValue ?? "?"
            if let reason = event["reason"]?.stringValue { text += "(\(reason))" }
            if let detail = event["detail"]?.stringValue { text += ": \(detail)" }
            return text
        }
    }

    func testKill() async throws {
        let server = try await TestServer.start(manager: VMManager(logger: quietLogger, makeVM: spinningGuest))
        do {
            let socket = try server.connect()
            assertOK(try socket.request("create", ["name": "k"]))
            XCTAssertEqual(
                assertError(try socket.request("kill", ["name": "k"]), .vmNotRunning),
                "VM 'k' is created; only a running or paused VM can kill")
            assertOK(try socket.request("start", ["name": "k"]))
            XCTAssertEqual(
                assertOK(try socket.request("kill", ["name": "k"])),
                ["name": "k", "state": "stopped", "reason": "killed", "detail": "killed on request"])
            XCTAssertEqual(
                assertError(try socket.request("kill", ["name": "k"]), .vmNotRunning),
                "VM 'k' is stopped; only a running or paused VM can kill")
            let info = assertOK(try socket.request("info", ["name": "k"]))
            XCTAssertEqual(info["reason"], "killed")
            XCTAssertEqual(info["detail"], "killed on request")
            XCTAssertEqual(assertOK(try socket.request("wait", ["name": "k"]))["detail"], "killed on request")

            // A paused VM is killed as well; `stop` still says "stopped on request".
            assertOK(try socket.request("create", ["name": "p"]))
            assertOK(try socket.request("start", ["name": "p"]))
            assertOK(try socket.request("pause", ["name": "p"]))
            XCTAssertEqual(assertOK(try socket.request("kill", ["name": "p"]))["reason"], "killed")
            assertOK(try socket.request("create", ["name": "s"]))
            assertOK(try socket.request("start", ["name": "s"]))
            XCTAssertEqual(assertOK(try socket.request("stop", ["name": "s"]))["detail"], "stopped on request")

            assertError(try socket.request("kill", ["name": "ghost"]), .noSuchVM)
            assertError(try socket.request("kill", ["name": ".x"]), .invalidName)
            assertError(try socket.request("kill"), .badRequest)
        }
        try await server.stop()
    }

    func testResetOfRunningPausedAndStoppedVMs() async throws {
        let builds = Builds()
        let manager = VMManager(logger: quietLogger, makeVM: builds.factory(spinningGuest))
        let server = try await TestServer.start(manager: manager)
        do {
            let socket = try server.connect()
            let subscriber = try server.connect()
            let waiter = try server.connect()
            assertOK(try subscriber.request("events", ["name": "s"]))
            let config: JSONValue = ["console": "file:/tmp/unused.log"]
            assertOK(try socket.request("create", ["name": "s", "config": config]))
            XCTAssertEqual(
                assertError(try socket.request("reset", ["name": "s"]), .vmNotRunning),
                "VM 's' is created; it has not run yet, so start it instead of resetting it")
            XCTAssertEqual(builds.count, 1)

            // Running: the old instance stops (reset), a fresh one starts; a pending `wait` ends.
            assertOK(try socket.request("start", ["name": "s"]))
            try waitForProgress(socket, "s")
            waiter.writeLine(ControlRequest(id: 9, command: "wait", arguments: ["name": "s"]).jsonText())
            // The reset must find the `wait` pending, not race it to the manager.
            let deadline = Date().addingTimeInterval(30)
            while await manager.pendingWaits(name: "s") == 0, Date() < deadline {
                try await Task.sleep(for: .milliseconds(1))
            }
            guard await manager.pendingWaits(name: "s") == 1 else {
                XCTFail("the wait did not arrive")
                try await server.stop()
                return
            }
            XCTAssertEqual(assertOK(try socket.request("list")), ["vms": [["name": "s", "state": "running"]]])
            XCTAssertEqual(assertOK(try socket.request("reset", ["name": "s"])), ["name": "s", "state": "running"])
            let waited = try JSONValue(parsing: Data(XCTUnwrap(try waiter.readLine()).utf8))
            XCTAssertEqual(
                assertOK(waited), ["name": "s", "state": "stopped", "reason": "reset", "detail": "reset on request"])
            XCTAssertEqual(try events(subscriber, 3), ["started", "stopped(reset): reset on request", "started"])
            // A throwaway build without a console checked the configuration before the stop;
            // the fresh instance has the VM's own configuration.
            let built = builds.configurations.withLock { $0 }
            XCTAssertEqual(built.map(\.console), ["file:/tmp/unused.log", "null", "file:/tmp/unused.log"])
            XCTAssertEqual(assertOK(try socket.request("info", ["name": "s"]))["config"], config)
            try waitForProgress(socket, "s")

            // Paused.
            assertOK(try socket.request("pause", ["name": "s"]))
            XCTAssertEqual(assertOK(try socket.request("reset", ["name": "s"])), ["name": "s", "state": "running"])
            XCTAssertEqual(try events(subscriber, 3), ["paused", "stopped(reset): reset on request", "started"])
            XCTAssertEqual(builds.count, 5)
            try waitForProgress(socket, "s")

            // Stopped: no `stopped` event for the old instance (it had stopped already), no probe.
            assertOK(try socket.request("kill", ["name": "s"]))
            XCTAssertEqual(assertOK(try socket.request("reset", ["name": "s"])), ["name": "s", "state": "running"])
            XCTAssertEqual(try events(subscriber, 2), ["stopped(killed): killed on request", "started"])
            XCTAssertEqual(builds.count, 6)
            try waitForProgress(socket, "s")
            assertOK(try socket.request("stop", ["name": "s"]))
            XCTAssertEqual(try events(subscriber, 1), ["stopped(killed): stopped on request"])

            assertError(try socket.request("reset", ["name": "ghost"]), .noSuchVM)
            assertError(try socket.request("reset", ["name": "-x"]), .invalidName)
            assertError(try socket.request("reset"), .badRequest)
        }
        try await server.stop()
    }

    /// A guest that resets itself (PSCI SYSTEM_RESET) is booted again at once, as libvirt's
    /// `on_reboot=restart`: `stopped(reset)` with the PSCI detail, then `started`, and the VM
    /// runs a fresh instance built from its configuration.
    func testGuestResetBootsAFreshInstance() async throws {
        let builds = Builds()
        let resetting = try assembledGuest(["movz w0, #0x0009", "movk w0, #0x8400, lsl #16", "hvc #0"])
        let manager = VMManager(
            logger: quietLogger,
            makeVM: builds.factory { name, configuration in
                // The first instance resets itself; the next one spins.
                builds.count == 1 ? try resetting(name, configuration) : try spinningGuest(name, configuration)
            })
        let server = try await TestServer.start(manager: manager)
        do {
            let socket = try server.connect()
            let subscriber = try server.connect()
            assertOK(try subscriber.request("events", ["name": "r"]))
            assertOK(try socket.request("create", ["name": "r", "config": ["console": "null"]]))
            assertOK(try socket.request("start", ["name": "r"]))
            XCTAssertEqual(try events(subscriber, 3), ["started", "stopped(reset): PSCI SYSTEM_RESET", "started"])
            XCTAssertEqual(builds.count, 2)
            try waitForProgress(socket, "r")
            XCTAssertEqual(assertOK(try socket.request("list")), ["vms": [["name": "r", "state": "running"]]])
            assertOK(try socket.request("kill", ["name": "r"]))
            XCTAssertEqual(try events(subscriber, 1), ["stopped(killed): killed on request"])
            XCTAssertEqual(builds.count, 2, "a kill is not a reboot")
        }
        try await server.stop()
    }

    /// A rebooted guest that powers off at once: its `started` event still comes before the
    /// `stopped` one (published before the fresh instance starts, as `start` does).
    func testGuestRebootThatPowersOffAtOnceIsAnnouncedStartedFirst() async throws {
        let builds = Builds()
        let resetting = try assembledGuest(["movz w0, #0x0009", "movk w0, #0x8400, lsl #16", "hvc #0"])
        let poweringOff = try assembledGuest(powerOffProgram)
        let manager = VMManager(
            logger: quietLogger,
            makeVM: builds.factory { name, configuration in
                builds.count == 1 ? try resetting(name, configuration) : try poweringOff(name, configuration)
            })
        let events = manager.events.subscribe(name: "r")
        _ = try await manager.create(name: "r", configuration: VMConfiguration(console: "null"))
        _ = try await manager.start(name: "r")
        var seen: [String] = []
        for await event in events {
            seen.append(event.event.rawValue + (event.reason.map { "(\($0.rawValue))" } ?? ""))
            if seen.count == 4 { break }
        }
        XCTAssertEqual(seen, ["started", "stopped(reset)", "started", "stopped(poweroff)"])
    }

    /// The fresh instance boots from the image again in fresh RAM, and its counters start from zero.
    func testResetStartsFromTheBootStateWithFreshRAMAndCounters() async throws {
        let server = try await TestServer.start(
            manager: VMManager(logger: quietLogger, makeVM: try Self.countingGuest()))
        do {
            let socket = try server.connect()
            let counter: [String: JSONValue] = ["name": "c", "address": "0x40010000", "length": 8]
            assertOK(try socket.request("create", ["name": "c"]))
            assertOK(try socket.request("start", ["name": "c"]))
            XCTAssertEqual(assertOK(try socket.request("wait", ["name": "c"]))["reason"], "poweroff")
            XCTAssertEqual(assertOK(try socket.request("read-memory", counter))["data"], "0100000000000000")
            let first = try XCTUnwrap(assertOK(try socket.request("stats", ["name": "c"]))["statistics"])
            XCTAssertEqual(first["instructionsRetired"], 7)

            assertOK(try socket.request("reset", ["name": "c"]))
            XCTAssertEqual(assertOK(try socket.request("wait", ["name": "c"]))["reason"], "poweroff")
            XCTAssertEqual(assertOK(try socket.request("read-memory", counter))["data"], "0100000000000000")
            let second = try XCTUnwrap(assertOK(try socket.request("stats", ["name": "c"]))["statistics"])
            XCTAssertEqual(second["instructionsRetired"], 7)
            XCTAssertEqual(second["worldSwitches"], first["worldSwitches"])
            XCTAssertEqual(second["pagesMapped"], first["pagesMapped"])
            let registers = try assertOK(try socket.request("regs", ["name": "c"])).decode(as: VMRegisters.self)
            XCTAssertEqual(registers.vcpus.first?.instructionsRetired, 7)
            XCTAssertEqual(registers.vcpus.first?.x[2], "0x0000000000000001")
        }
        try await server.stop()
    }

    func testFailedResetChangesNothing() async throws {
        let builds = Builds()
        let server = try await TestServer.start(
            manager: VMManager(logger: quietLogger, makeVM: builds.factory(spinningGuest)))
        do {
            let socket = try server.connect()
            let subscriber = try server.connect()
            assertOK(try subscriber.request("events", ["name": "f"]))
            assertOK(try socket.request("create", ["name": "f", "config": ["console": "file:/tmp/unused.log"]]))
            assertOK(try socket.request("start", ["name": "f"]))
            try waitForProgress(socket, "f")

            // The image is gone: the throwaway build fails, the VM runs on untouched.
            builds.failure.withLock { $0 = { index, _ in index > 0 } }
            XCTAssertEqual(
                assertError(try socket.request("reset", ["name": "f"]), .invalidConfig),
                "cannot read kernel /gone.bin: No such file or directory")
            XCTAssertEqual(assertOK(try socket.request("list")), ["vms": [["name": "f", "state": "running"]]])
            let before = try retired(socket, "f")
            try waitForProgress(socket, "f", beyond: before)

            // Stopped: nothing changes either.
            assertOK(try socket.request("stop", ["name": "f"]))
            let stopped = try retired(socket, "f")
            assertError(try socket.request("reset", ["name": "f"]), .invalidConfig)
            let info = assertOK(try socket.request("info", ["name": "f"]))
            XCTAssertEqual(info["state"], "stopped")
            XCTAssertEqual(info["reason"], "killed")
            XCTAssertEqual(try retired(socket, "f"), stopped)

            // Only the real build fails (its console cannot be opened): the VM stays stopped, and
            // the error says so.
            builds.failure.withLock { $0 = nil }
            assertOK(try socket.request("reset", ["name": "f"]))
            try waitForProgress(socket, "f")
            builds.failure.withLock { $0 = { _, configuration in configuration.console != "null" } }
            XCTAssertEqual(
                assertError(try socket.request("reset", ["name": "f"]), .invalidConfig),
                "VM 'f' stopped for the reset but cannot be built again: "
                    + "cannot read kernel /gone.bin: No such file or directory")
            let after = assertOK(try socket.request("info", ["name": "f"]))
            XCTAssertEqual(after["state"], "stopped")
            XCTAssertEqual(after["reason"], "reset")
            XCTAssertEqual(
                try events(subscriber, 4),
                ["started", "stopped(killed): stopped on request", "started", "stopped(reset): reset on request"])
        }
        try await server.stop()
    }
}
