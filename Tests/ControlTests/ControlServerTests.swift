import Control
import Foundation
import TestSupport
import XCTest

/// The protocol as a client sees it, against an in-process server on a temporary socket.
final class ControlServerTests: XCTestCase {
    func testPingAndVersion() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            let ping = try socket.exchange(#"{"id":1,"command":"ping"}"#)
            XCTAssertEqual(ping, ["id": 1, "ok": true, "result": [:]])
            let version = try socket.exchange(#"{"id":"v","command":"version","arguments":{}}"#)
            XCTAssertEqual(version, ["id": "v", "ok": true, "result": ["protocol": 1, "version": "0.1.0"]])
            // No id: the reply's id is null.
            XCTAssertEqual(try socket.exchange(#"{"command":"ping"}"#)["id"], .null)
        }
        try await server.stop()
    }

    func testReplyIsOneSortedLine() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            socket.writeLine(#"{"id":7,"command":"version"}"#)
            XCTAssertEqual(try socket.readLine(), #"{"id":7,"ok":true,"result":{"protocol":1,"version":"0.1.0"}}"#)
        }
        try await server.stop()
    }

    func testMalformedJSONKeepsTheConnectionUsable() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            let reply = try socket.exchange(#"{"id":1,"command":"#)
            assertError(reply, .badRequest, id: .null)
            XCTAssertNotNil(reply.objectValue?.keys.contains("id"))
            assertError(try socket.exchange("[1,2]"), .badRequest, id: .null)
            assertError(try socket.exchange("\u{FF}\u{FE}"), .badRequest, id: .null)
            XCTAssertEqual(try socket.exchange(#"{"id":2,"command":"ping"}"#)["ok"], true)
        }
        try await server.stop()
    }

    func testBadFieldsAreBadRequests() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            assertError(try socket.exchange(#"{"id":3}"#), .badRequest, id: 3)
            assertError(try socket.exchange(#"{"id":4,"command":5}"#), .badRequest, id: 4)
            assertError(try socket.exchange(#"{"id":5,"command":"list","arguments":[]}"#), .badRequest, id: 5)
            assertError(try socket.exchange(#"{"id":{"a":1},"command":"ping"}"#), .badRequest, id: .null)
            assertError(try socket.request("start", id: 6), .badRequest, id: 6)
            assertError(try socket.request("start", id: 7, ["name": 12]), .badRequest, id: 7)
            assertError(try socket.request("create", id: 8, ["name": "x", "config": "big"]), .badRequest, id: 8)
            assertError(
                try socket.request("create", id: 9, ["name": "x", "config": ["cpus": "two"]]), .badRequest, id: 9)
        }
        try await server.stop()
    }

    func testUnknownCommand() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            let message = assertError(try socket.request("reboot", id: "r1"), .unknownCommand, id: "r1")
            XCTAssertTrue(message.contains("reboot"), message)
        }
        try await server.stop()
    }

    func testInvalidNames() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            let names = ["../x", "", "a\nb", String(repeating: "a", count: 65), ".hidden", "-opt", "a b", "é"]
            for name in names {
                for command in ["create", "start", "stop", "wait", "stats", "destroy"] {
                    let message = assertError(
                        try socket.request(command, ["name": .string(name)]), .invalidName)
                    XCTAssertFalse(message.contains("\n"))
                }
            }
            // The longest legal name is only missing.
            assertError(
                try socket.request("start", ["name": .string(String(repeating: "a", count: 64))]), .noSuchVM)
            assertError(try socket.request("start", ["name": "A.b_c-9"]), .noSuchVM)
        }
        try await server.stop()
    }

    func testCommandsOnAMissingVM() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            for command in ["start", "stop", "wait", "stats", "destroy"] {
                assertError(try socket.request(command, id: 11, ["name": "ghost"]), .noSuchVM, id: 11)
            }
        }
        try await server.stop()
    }

    func testCreateWithAMissingKernelIsInvalidConfig() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            let path = "/tmp/armvisor-no-such-kernel-\(getpid()).bin"
            let message = assertError(
                try socket.request("create", ["name": "demo", "config": ["kernel": .string(path)]]), .invalidConfig)
            XCTAssertTrue(message.contains(path), message)
            assertError(
                try socket.request("create", ["name": "demo", "config": ["kernel": "/x", "turbo": true]]),
                .invalidConfig)
            // Nothing half-created.
            XCTAssertEqual(assertOK(try socket.request("list")), ["vms": []])
        }
        try await server.stop()
    }

    func testRequestLineTooLarge() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            socket.write([UInt8](repeating: UInt8(ascii: "x"), count: ControlProtocol.maximumRequestBytes + 4096))
            guard let line = try socket.readLine() else { return XCTFail("no reply before the close") }
            assertError(try JSONValue(parsing: Data(line.utf8)), .requestTooLarge, id: .null)
            XCTAssertNil(try socket.readLine(), "the connection should close")
        }
        do {
            // A line of exactly the limit is fine.
            let socket = try server.connect()
            let prefix = #"{"command":"ping","id":""#
            let suffix = #""}"#
            let padding = String(
                repeating: "p", count: ControlProtocol.maximumRequestBytes - prefix.utf8.count - suffix.utf8.count)
            let reply = try socket.exchange(prefix + padding + suffix)
            XCTAssertEqual(reply["ok"], true)
        }
        try await server.stop()
    }

    func testPipelinedRequestsAreAnsweredInOrder() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            let lines = (1...20).map { #"{"id":\#($0),"command":"\#($0 % 2 == 0 ? "ping" : "list")"}"# }
            socket.write(Array(lines.joined(separator: "\r\n").appending("\n\n").utf8))
            for id in 1...20 {
                let reply = try JSONValue(parsing: Data(XCTUnwrap(try socket.readLine()).utf8))
                XCTAssertEqual(reply["id"], .integer(Int64(id)))
            }
        }
        try await server.stop()
    }

    func testUnterminatedLastLineBeforeHalfClose() async throws {
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            socket.write(Array(#"{"id":9,"command":"ping"}"#.utf8))
            shutdown(socket.fd, Int32(SHUT_WR))
            let reply = try JSONValue(parsing: Data(XCTUnwrap(try socket.readLine()).utf8))
            XCTAssertEqual(reply["id"], 9)
            XCTAssertNil(try socket.readLine())
        }
        try await server.stop()
    }

    func testSocketFileModeAndRemoval() async throws {
        let server = try await TestServer.start()
        let attributes = try FileManager.default.attributesOfItem(atPath: server.socketPath)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o660)
        try await server.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: server.socketPath))
    }

    func testClientReportsAMissingDaemon() {
        let path = "/tmp/avct-none-\(getpid()).sock"
        XCTAssertThrowsError(try ControlClient(socketPath: path)) { error in
            XCTAssertEqual(
                "\(error)", "cannot connect to armvisord at \(path): No such file or directory (is the daemon running?)"
            )
        }
    }

    func testClientCalls() async throws {
        let server = try await TestServer.start()
        let path = server.socketPath
        // The blocking client runs off the cooperative pool.
        let outcome = await Task.detached { () -> Result<JSONValue, ControlClientError> in
            Result { () throws(ControlClientError) -> JSONValue in
                let client = try ControlClient(socketPath: path)
                XCTAssertEqual(try client.call("ping"), [:])
                return try client.call("start", arguments: ["name": "ghost"])
            }
        }.value
        XCTAssertEqual(outcome.failureCode, .noSuchVM)
        try await server.stop()
    }
}

extension Result where Failure == ControlClientError {
    fileprivate var failureCode: ControlErrorCode? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
