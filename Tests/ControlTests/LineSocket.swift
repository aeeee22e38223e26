import Control
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// A raw blocking UNIX-socket connection that exchanges lines, for driving the server exactly
/// as a client would (reads time out after 10 s so a broken server fails the test, not hangs it).
final class LineSocket {
    let fd: Int32
    private var received: [UInt8] = []

    init(path: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Failure("path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure("connect \(path): \(reason)")
        }
    }

    deinit { close(fd) }

    /// Writes raw bytes; returns false when the peer has gone (EPIPE/ECONNRESET).
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    func writeLine(_ line: String) {
        write(Array((line + "\n").utf8))
    }

    /// The next line, or nil at EOF.
    func readLine() throws -> String? {
        while true {
            if let newline = received.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: received[..<newline], as: UTF8.self)
                received.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure("read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return nil }
            received += chunk[..<n]
        }
    }

    /// Sends `line` and returns the reply parsed as JSON.
    func exchange(_ line: String, file: StaticString = #filePath, line number: UInt = #line) throws -> JSONValue {
        writeLine(line)
        guard let reply = try readLine() else { throw Failure("connection closed instead of a reply") }
        XCTAssertFalse(reply.isEmpty, "empty reply line", file: file, line: number)
        return try JSONValue(parsing: Data(reply.utf8))
    }

    /// Sends a request built from parts and returns the parsed reply.
    func request(_ command: String, id: JSONValue = 1, _ arguments: [String: JSONValue] = [:]) throws -> JSONValue {
        try exchange(ControlRequest(id: id, command: command, arguments: arguments).jsonText())
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
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
