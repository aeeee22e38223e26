import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A raw blocking UNIX-socket connection that exchanges lines, for driving the server exactly
/// as a client would (reads time out after 10 s so a broken server fails the test, not hangs it).
public final class LineSocket {
    public let fd: Int32
    private var received: [UInt8] = []
    /// Reused for every read (a fresh 64 KiB array per read is slow in debug builds).
    private var chunk = [UInt8](repeating: 0, count: 65536)

    public init(path: String) throws {
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
    public func write(_ bytes: [UInt8]) -> Bool {
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

    public func writeLine(_ line: String) {
        write(Array((line + "\n").utf8))
    }

    /// The next line, or nil at EOF.
    public func readLine() throws -> String? {
        while true {
            if let newline = received.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: received[..<newline], as: UTF8.self)
                received.removeSubrange(...newline)
                return line
            }
            guard try fill() else { return nil }
        }
    }

    /// Raw bytes (a console's stream): reads until `needle` appears in what arrived since the
    /// last line or the last `readUntil`, and returns all of that up to the end of the needle
    /// (the rest stays for the next read). Fails at EOF or when a read times out.
    public func readUntil(_ needle: String) throws -> String {
        let pattern = Array(needle.utf8)
        while true {
            if let end = Self.find(pattern, in: received) {
                let text = String(decoding: received[..<end], as: UTF8.self)
                received.removeSubrange(..<end)
                return text
            }
            guard try fill() else {
                throw Failure(
                    "EOF before \(String(reflecting: needle)); got \(String(decoding: received, as: UTF8.self))")
            }
        }
    }

    /// Raw bytes until the peer closes the connection.
    public func readToEnd() throws -> String {
        while try fill() {}
        defer { received = [] }
        return String(decoding: received, as: UTF8.self)
    }

    /// Reads what is there into `received`; false at EOF.
    private func fill() throws -> Bool {
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure("read: \(String(cString: strerror(errno)))")
            }
            received += chunk[..<n]
            return n > 0
        }
    }

    /// The index just past the first occurrence of `pattern` in `bytes`.
    private static func find(_ pattern: [UInt8], in bytes: [UInt8]) -> Int? {
        guard !pattern.isEmpty, bytes.count >= pattern.count else { return pattern.isEmpty ? 0 : nil }
        for start in 0...(bytes.count - pattern.count)
        where bytes[start..<(start + pattern.count)].elementsEqual(pattern) {
            return start + pattern.count
        }
        return nil
    }

    /// Sends `line` and returns the reply line.
    public func exchangeLine(_ line: String) throws -> String {
        writeLine(line)
        guard let reply = try readLine() else { throw Failure("connection closed instead of a reply") }
        return reply
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }
}
