import Control
import Foundation
import TestSupport
import Hypervisor
import XCTest

/// Which command is legal in which VM state, with a tiny in-memory guest (`wfi; b .-4`) that
/// runs until it is stopped, so no image file is needed.
final class VMLifecycleTests: XCTestCase {
    /// Builds the idling guest instead of asking the board.
    private static let idleGuest: VMManager.Factory = rawGuest([0xD503_207F, 0x17FF_FFFF])  // wfi; b .-4

    private func startServer() async throws -> TestServer {
        try await TestServer.start(manager: VMManager(logger: quietLogger, makeVM: Self.idleGuest))
    }

    func testLifecycleRules() async throws {
        let server = try await startServer()
        do {
            let socket = try server.connect()
            XCTAssertEqual(assertOK(try socket.request("create", ["name": "b"])), ["name": "b", "state": "created"])
            assertError(try socket.request("create", ["name": "b"]), .vmExists)
            assertOK(try socket.request("create", ["name": "a", "config": [:]]))
            XCTAssertEqual(
                assertOK(try socket.request("list")),
                ["vms": [["name": "a", "state": "created"], ["name": "b", "state": "created"]]])

            assertError(try socket.request("stop", ["name": "b"]), .vmNotRunning)
            XCTAssertEqual(assertOK(try socket.request("start", ["name": "b"])), ["name": "b", "state": "running"])
            assertError(try socket.request("start", ["name": "b"]), .vmNotCreated)

            let stats = assertOK(try socket.request("stats", ["name": "b"]))
            XCTAssertEqual(stats["name"], "b")
            XCTAssertNotNil(try stats["statistics"]?.decode(as: VMStatistics.self))

            let stopped = assertOK(try socket.request("stop", ["name": "b"]))
            XCTAssertEqual(stopped["state"], "stopped")
            XCTAssertEqual(stopped["reason"], "killed")
            assertError(try socket.request("stop", ["name": "b"]), .vmNotRunning)
            assertError(try socket.request("start", ["name": "b"]), .vmNotCreated)
            XCTAssertEqual(assertOK(try socket.request("wait", ["name": "b"]))["reason"], "killed")

            XCTAssertEqual(assertOK(try socket.request("destroy", ["name": "b"])), [:])
            assertError(try socket.request("stats", ["name": "b"]), .noSuchVM)
            XCTAssertEqual(assertOK(try socket.request("list")), ["vms": [["name": "a", "state": "created"]]])
        }
        try await server.stop()
    }

    func testWaitOnAnotherConnectionEndsWithStop() async throws {
        let server = try await startServer()
        do {
            let control = try server.connect()
            let waiter = try server.connect()
            assertOK(try control.request("create", ["name": "w"]))
            assertOK(try control.request("start", ["name": "w"]))
            waiter.writeLine(ControlRequest(id: 42, command: "wait", arguments: ["name": "w"]).jsonText())
            // The waiting connection does not hold up the others.
            XCTAssertEqual(assertOK(try control.request("list")), ["vms": [["name": "w", "state": "running"]]])
            assertOK(try control.request("stop", ["name": "w"]))
            let reply = try JSONValue(parsing: Data(XCTUnwrap(try waiter.readLine()).utf8))
            XCTAssertEqual(reply["id"], 42)
            XCTAssertEqual(assertOK(reply)["reason"], "killed")
        }
        try await server.stop()
    }

    func testDestroyRunningAndCreatedVMs() async throws {
        let server = try await startServer()
        do {
            let control = try server.connect()
            let waiter = try server.connect()
            assertOK(try control.request("create", ["name": "r"]))
            assertOK(try control.request("start", ["name": "r"]))
            assertOK(try control.request("destroy", ["name": "r"]))
            assertError(try control.request("wait", ["name": "r"]), .noSuchVM)

            // A waiter on a VM destroyed before it ran is told so instead of waiting forever.
            assertOK(try control.request("create", ["name": "c"]))
            waiter.writeLine(ControlRequest(id: 1, command: "wait", arguments: ["name": "c"]).jsonText())
            XCTAssertEqual(assertOK(try control.request("list")), ["vms": [["name": "c", "state": "created"]]])
            assertOK(try control.request("destroy", ["name": "c"]))
            assertError(try JSONValue(parsing: Data(XCTUnwrap(try waiter.readLine()).utf8)), .noSuchVM, id: 1)
            // The name is free again.
            assertOK(try control.request("create", ["name": "c"]))
        }
        try await server.stop()
    }

    func testStopAllStopsRunningVMs() async throws {
        let manager = VMManager(logger: quietLogger, makeVM: Self.idleGuest)
        _ = try await manager.create(name: "one", configuration: .init())
        _ = try await manager.create(name: "two", configuration: .init())
        _ = try await manager.start(name: "one")
        await manager.stopAll()
        let states = await manager.list().map(\.state)
        XCTAssertEqual(states, [.stopped, .created])
    }
}
