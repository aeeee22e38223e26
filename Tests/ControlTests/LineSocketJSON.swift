import Control
import Foundation
import TestSupport
import XCTest

/// JSON requests and replies over a `LineSocket`, for driving the server exactly as a client would.
extension LineSocket {
    /// Sends `line` and returns the reply parsed as JSON.
    func exchange(_ line: String, file: StaticString = #filePath, line number: UInt = #line) throws -> JSONValue {
        let reply = try exchangeLine(line)
        XCTAssertFalse(reply.isEmpty, "empty reply line", file: file, line: number)
        return try JSONValue(parsing: Data(reply.utf8))
    }

    /// Sends a request built from parts and returns the parsed reply.
    func request(_ command: String, id: JSONValue = 1, _ arguments: [String: JSONValue] = [:]) throws -> JSONValue {
        try exchange(ControlRequest(id: id, command: command, arguments: arguments).jsonText())
    }
}

/// Asserts that `reply` is an error reply with `code`, and returns its message.
@discardableResult
func assertError(
    _ reply: JSONValue, _ code: ControlErrorCode, id: JSONValue? = nil, file: StaticString = #filePath,
    line: UInt = #line
) -> String {
    XCTAssertEqual(reply["ok"], .bool(false), "\(reply.jsonText())", file: file, line: line)
    XCTAssertEqual(reply["error"]?["code"]?.stringValue, code.rawValue, "\(reply.jsonText())", file: file, line: line)
    if let id { XCTAssertEqual(reply["id"], id, file: file, line: line) }
    let message = reply["error"]?["message"]?.stringValue ?? ""
    XCTAssertFalse(message.isEmpty, "error without a message", file: file, line: line)
    XCTAssertFalse(message.contains("\n"), "multi-line message", file: file, line: line)
    return message
}

/// Asserts that `reply` is a success reply and returns its result.
@discardableResult
func assertOK(_ reply: JSONValue, file: StaticString = #filePath, line: UInt = #line) -> JSONValue {
    XCTAssertEqual(reply["ok"], .bool(true), "\(reply.jsonText())", file: file, line: line)
    return reply["result"] ?? .null
}
