import Control
import Foundation
import Hypervisor
import TestSupport
import XCTest

/// `pause`, `resume`, `info` and `events` over the socket, with `spinningGuest`.
final class PauseInfoEventsTests: XCTestCase {
    private func startServer() async throws -> TestServer {
        try await TestServer.start(manager: VMManager(logger: quietLogger, makeVM: spinningGuest))
    }

    private func retired(_ socket: LineSocket, _ name: JSONValue) throws -> Int64 {
        let stats = assertOK(try socket.request("stats", ["name": name]))
        return stats["statistics"]?["instructionsRetired"]?.integerValue ?? -1
    }

    func testPauseResumeAndWrongStates() async throws {
        let server = try await startServer()
        do {
            let socket = try server.connect()
            assertOK(try socket.request("create", ["name": "s", "config": ["memory": "1M"]]))
            assertError(try socket.request("pause", ["name": "s"]), .vmNotRunning)
            assertError(try socket.request("resume", ["name": "s"]), .vmNotPaused)
            assertOK(try socket.request("start", ["name": "s"]))
            assertError(try socket.request("resume", ["name": "s"]), .vmNotPaused)
            usleep(20_000)
            XCTAssertEqual(assertOK(try socket.request("pause", ["name": "s"])), ["name": "s", "state": "paused"])
            let message = assertError(try socket.request("pause", ["name": "s"]), .vmNotRunning)
            XCTAssertEqual(message, "VM 's' is paused; only a running VM can pause")
            assertError(try socket.request("start", ["name": "s"]), .vmNotCreated)
            XCTAssertEqual(assertOK(try socket.request("list")), ["vms": [["name": "s", "state": "paused"]]])
            let first = try retired(socket, "s")
            usleep(30_000)
            XCTAssertEqual(try retired(socket, "s"), first)

            let info = assertOK(try socket.request("info", ["name": "s"]))
            XCTAssertEqual(info["state"], "paused")
            XCTAssertEqual(info["config"], ["memory": "1M"])
            XCTAssertGreaterThan(
                info["uptimeSeconds"].flatMap { if case .double(let d) = $0 { d } else { nil } } ?? 0, 0)
            let vcpu = try XCTUnwrap(info["vcpus"]?.arrayValue?.first)
            XCTAssertEqual(vcpu["index"], 0)
            XCTAssertEqual(vcpu["mpidr"], "0x80000000")
            XCTAssertEqual(vcpu["state"], "paused")
            XCTAssertTrue(["0x40000000", "0x40000004"].contains(vcpu["pc"]?.stringValue ?? ""), "\(vcpu)")

            XCTAssertEqual(assertOK(try socket.request("resume", ["name": "s"])), ["name": "s", "state": "running"])
            let running = assertOK(try socket.request("info", ["name": "s"]))
            XCTAssertEqual(running["vcpus"]?.arrayValue?.first?["state"], "running")
            XCTAssertNil(running["vcpus"]?.arrayValue?.first?["pc"])
            let deadline = Date().addingTimeInterval(10)
            while try retired(socket, "s") == first, Date() < deadline { usleep(1000) }
            XCTAssertGreaterThan(try retired(socket, "s"), first)

            // Stop while paused.
            assertOK(try socket.request("pause", ["name": "s"]))
            let stopped = assertOK(try socket.request("stop", ["name": "s"]))
            XCTAssertEqual(stopped["reason"], "killed")
            assertError(try socket.request("pause", ["name": "s"]), .vmNotRunning)
            assertError(try socket.request("resume", ["name": "s"]), .vmNotPaused)
            let final = assertOK(try socket.request("info", ["name": "s"]))
            XCTAssertEqual(final["state"], "stopped")
            XCTAssertEqual(final["reason"], "killed")
            XCTAssertEqual(final["vcpus"]?.arrayValue?.first?["state"], "stopped")
            XCTAssertNotNil(final["vcpus"]?.arrayValue?.first?["pc"])

            for command in ["pause", "resume", "info"] {
                assertError(try socket.request(command, ["name": "ghost"]), .noSuchVM)
                assertError(try socket.request(command, ["name": "../x"]), .invalidName)
                assertError(try socket.request(command), .badRequest)
            }
        }
        try await server.stop()
    }

    func testInfoOfACreatedVM() async throws {
        let server = try await startServer()
        do {
            let socket = try server.connect()
            assertOK(try socket.request("create", ["name": "c", "config": ["cpus": 1]]))
            XCTAssertEqual(
                assertOK(try socket.request("info", ["name": "c"])),
                [
                    "name": "c", "state": "created", "config": ["cpus": 1], "uptimeSeconds": 0,
                    "vcpus": [["index": 0, "mpidr": "0x80000000", "state": "created"]],
                ])
        }
        try await server.stop()
    }

    func testEventsSubscription() async throws {
        let server = try await startServer()
        do {
            let control = try server.connect()
            let all = try server.connect()
            let onlyB = try server.connect()
            XCTAssertEqual(assertOK(try all.request("events", id: 5)), [:])
            XCTAssertEqual(assertOK(try onlyB.request("events", id: 6, ["name": "b"])), [:])
            assertError(try control.request("events", ["name": "/"]), .invalidName)
            assertError(try control.request("events", ["name": 3]), .badRequest)

            assertOK(try control.request("create", ["name": "a"]))
            assertOK(try control.request("create", ["name": "b"]))
            for command in ["start", "pause", "resume", "stop"] {
                assertOK(try control.request(command, ["name": "a"]))
            }
            assertOK(try control.request("start", ["name": "b"]))
            assertOK(try control.request("destroy", ["name": "b"]))

            var seen: [JSONValue] = []
            for _ in 0..<6 { seen.append(try JSONValue(parsing: Data(XCTUnwrap(try all.readLine()).utf8))) }
            XCTAssertEqual(
                seen.map { [$0["event"], $0["name"]] },
                [
                    ["started", "a"], ["paused", "a"], ["resumed", "a"], ["stopped", "a"], ["started", "b"],
                    ["stopped", "b"],
                ])
            XCTAssertEqual(seen[3]["reason"], "killed")
            XCTAssertEqual(seen[3]["detail"], "stopped on request")
            XCTAssertNil(seen[0]["reason"])
            for event in seen {
                let timestamp = event["timestamp"]?.stringValue ?? ""
                let parsed = try? Date(timestamp, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
                XCTAssertLessThan(abs(parsed?.timeIntervalSinceNow ?? 1e9), 60, timestamp)
                XCTAssertTrue(timestamp.hasSuffix("Z"), timestamp)
            }
            let b1 = try JSONValue(parsing: Data(XCTUnwrap(try onlyB.readLine()).utf8))
            let b2 = try JSONValue(parsing: Data(XCTUnwrap(try onlyB.readLine()).utf8))
            XCTAssertEqual([b1["event"], b2["event"]], ["started", "stopped"])
            // Lines sent on a subscribed connection are ignored.
            all.writeLine(#"{"id":9,"command":"ping"}"#)
            assertOK(try control.request("ping"))
        }
        // Closing the connections ends the subscriptions.
        let hub = server.manager.events
        let deadline = Date().addingTimeInterval(10)
        while hub.subscriberCount > 0, Date() < deadline { usleep(1000) }
        XCTAssertEqual(hub.subscriberCount, 0)
        try await server.stop()
    }
}
