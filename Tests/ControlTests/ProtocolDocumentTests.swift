import Control
import Foundation
import TestSupport
import XCTest

/// docs/PROTOCOL.md against the server: every command has its section and a request example,
/// every example request is one the server parses (or the example shows the error it gets),
/// every reply echoes its request's id, every error code is one the server has, and the
/// examples whose replies depend on no state (`ping`, `version`, malformed and unknown
/// requests) are replayed against a real server and must match byte for byte.
final class ProtocolDocumentTests: XCTestCase {
    /// The example lines: (request or reply, the JSON text), in document order; the byte-stream
    /// lines of the `console` section (not JSON) are left out.
    private func exampleLines() throws -> [(request: Bool, text: String)] {
        let path = TestPaths.packageRoot.appendingPathComponent("docs/PROTOCOL.md").path
        let document = try String(contentsOfFile: path, encoding: .utf8)
        return document.split(separator: "\n").compactMap { line in
            if line.hasPrefix("→ ") { return (true, String(line.dropFirst(2))) }
            if line.hasPrefix("← ") { return (false, String(line.dropFirst(2))) }
            return nil
        }
    }

    private func json(_ text: String) -> JSONValue? { try? JSONValue(parsing: Data(text.utf8)) }

    func testEveryCommandIsDocumentedWithAnExample() throws {
        let path = TestPaths.packageRoot.appendingPathComponent("docs/PROTOCOL.md").path
        let document = try String(contentsOfFile: path, encoding: .utf8)
        let requested = Set(
            try exampleLines().filter(\.request).compactMap { json($0.text)?["command"]?.stringValue })
        for command in ControlCommand.allCases {
            XCTAssertTrue(document.contains("\n### \(command.rawValue)\n"), "no section for \(command.rawValue)")
            XCTAssertTrue(requested.contains(command.rawValue), "no request example for \(command.rawValue)")
        }
    }

    func testExamplesUseTheServersVocabularyAndEchoIDs() throws {
        let lines = try exampleLines()
        let codes = Set(ControlErrorCode.allCases.map(\.rawValue))
        var checkedPairs = 0
        for (index, line) in lines.enumerated() {
            if line.request {
                guard json(line.text) != nil else { continue }  // a malformed-request example
                guard case .success(let parsed) = ControlRequest.parse(Data(line.text.utf8)) else {
                    XCTFail("the server cannot parse the example request \(line.text)")
                    continue
                }
                // The reply right after it (if any) echoes the id.
                if index + 1 < lines.count, !lines[index + 1].request, let reply = json(lines[index + 1].text),
                    reply["ok"] != nil
                {
                    XCTAssertEqual(reply["id"], parsed.id, "reply to \(line.text)")
                    checkedPairs += 1
                    if ControlCommand(rawValue: parsed.command) == nil {
                        XCTAssertEqual(reply["error"]?["code"]?.stringValue, "unknown-command", line.text)
                    }
                }
            } else if let reply = json(line.text), reply["ok"] == .bool(false) {
                let code = reply["error"]?["code"]?.stringValue ?? "(none)"
                XCTAssertTrue(codes.contains(code), "unknown error code \(code) in \(line.text)")
                XCTAssertNotNil(reply["error"]?["message"]?.stringValue, line.text)
            }
        }
        XCTAssertGreaterThan(checkedPairs, 30, "request/reply pairs checked")
    }

    /// The examples that need no VM, replayed: the replies must be exactly the documented ones.
    func testStatelessExamplesReplayExactly() async throws {
        let lines = try exampleLines()
        var pairs: [(String, String)] = []
        for (index, line) in lines.enumerated() where line.request && index + 1 < lines.count {
            let reply = lines[index + 1]
            guard !reply.request else { continue }
            let command = json(line.text)?["command"]?.stringValue
            let malformed = json(line.text) == nil && json(reply.text)?["ok"] == .bool(false)
            let unknown = command.map { ControlCommand(rawValue: $0) == nil } ?? false
            if command == "ping" || command == "version" || malformed || unknown {
                pairs.append((line.text, reply.text))
            }
        }
        XCTAssertGreaterThanOrEqual(pairs.count, 3, "ping, version and a malformed request at least")
        let server = try await TestServer.start()
        do {
            let socket = try server.connect()
            for (request, reply) in pairs {
                XCTAssertEqual(try socket.exchangeLine(request), reply, "the reply to \(request)")
            }
        }
        try await server.stop()
    }
}
