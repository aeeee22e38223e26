import Control
import Foundation
import TestSupport
import XCTest

/// Parsing and printing of protocol messages, without a socket.
final class ProtocolValueTests: XCTestCase {
    func testJSONValueKeepsIntegerIDs() throws {
        let value = try JSONValue(parsing: Data(#"{"a":1,"b":1.5,"c":"x","d":[true,null],"e":{}}"#.utf8))
        XCTAssertEqual(value, ["a": 1, "b": .double(1.5), "c": "x", "d": [true, nil], "e": [:]])
        XCTAssertEqual(value.jsonText(), #"{"a":1,"b":1.5,"c":"x","d":[true,null],"e":{}}"#)
    }

    func testRequestParsing() {
        let line = Data(#"{"id":"q","command":"stats","arguments":{"name":"demo"}}"#.utf8)
        XCTAssertEqual(
            try ControlRequest.parse(line).get(), ControlRequest(id: "q", command: "stats", arguments: ["name": "demo"])
        )
        guard case .failure(let failure) = ControlRequest.parse(Data(#"{"id":2}"#.utf8)) else {
            return XCTFail("a request without a command parsed")
        }
        XCTAssertEqual(failure.id, 2)
        XCTAssertEqual(failure.error.code, .badRequest)
    }

    func testErrorReplyShape() {
        let reply = ControlReply.failure(id: nil, ControlError(.noSuchVM, "no VM named 'x'\nsecond line"))
        XCTAssertEqual(
            reply.jsonText(),
            #"{"error":{"code":"no-such-vm","message":"no VM named 'x' second line"},"id":null,"ok":false}"#)
    }

    func testVMNames() {
        for good in ["a", "demo", "A.b_c-9", "0", String(repeating: "z", count: 64), "a.."] {
            XCTAssertTrue(VMName.isValid(good), good)
        }
        for bad in ["", ".a", "-a", "a/b", "../x", "a\nb", "a b", "ä", String(repeating: "z", count: 65)] {
            XCTAssertFalse(VMName.isValid(bad), bad)
        }
    }

    func testDefaultPaths() {
        XCTAssertEqual(
            ControlPaths.defaultSocketPath(environment: ["ARMVISOR_SOCKET": "/x.sock"], uid: 1000), "/x.sock")
        XCTAssertEqual(ControlPaths.defaultSocketPath(environment: [:], uid: 0), "/run/armvisor/armvisord.sock")
        XCTAssertEqual(
            ControlPaths.defaultSocketPath(environment: ["XDG_RUNTIME_DIR": "/run/user/1000"], uid: 1000),
            "/run/user/1000/armvisor-1000/armvisord.sock")
        XCTAssertEqual(ControlPaths.defaultSocketPath(environment: [:], uid: 1000), "/tmp/armvisor-1000/armvisord.sock")
        XCTAssertEqual(ControlPaths.defaultStateDirectory(environment: [:], uid: 0), "/var/lib/armvisor")
        XCTAssertEqual(
            ControlPaths.defaultStateDirectory(environment: ["HOME": "/home/u"], uid: 1000),
            "/home/u/.local/state/armvisor")
        XCTAssertEqual(
            ControlPaths.defaultStateDirectory(environment: ["XDG_STATE_HOME": "/s", "HOME": "/home/u"], uid: 1000),
            "/s/armvisor")
        XCTAssertEqual(ControlPaths.absolute("g/demo.bin", relativeTo: "/w"), "/w/g/demo.bin")
        XCTAssertEqual(ControlPaths.absolute("../demo.bin", relativeTo: "/w/x"), "/w/demo.bin")
        XCTAssertEqual(ControlPaths.absolute("/abs", relativeTo: "/w"), "/abs")
    }
}
