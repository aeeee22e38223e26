import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed control call, with a one-line message.
public enum ControlClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The socket could not be reached.
    case connection(String)
    /// The connection broke or the daemon sent something that is not a reply.
    case transport(String)
    /// The daemon answered with an error reply.
    case server(code: String, message: String)

    public var description: String {
        switch self {
        case .connection(let message), .transport(let message): message
        case .server(let code, let message): "\(message) (\(code))"
        }
    }

    /// The protocol error code of a `.server` error.
    public var code: ControlErrorCode? {
        if case .server(let code, _) = self { return ControlErrorCode(rawValue: code) }
        return nil
    }
}

/// A small blocking client of the control socket (for the CLI): one request, one reply line.
public final class ControlClient {
    public let socketPath: String
    private let fd: Int32
    private var received: [UInt8] = []
    private var nextID: Int64 = 1
    /// Replies longer than this are refused (`stats` is a few hundred bytes).
    private static let maximumReplyBytes = 16 << 20

    /// Connects to the daemon's socket.
    public init(socketPath: String) throws(ControlClientError) {
        self.socketPath = socketPath
        fd = try Self.openSocket(socketPath)
    }

    deinit { close(fd) }

    /// Sends `command` and returns the `result` of the reply, or throws its error.
    public func call(_ command: String, arguments: [String: JSONValue] = [:]) throws(ControlClientError) -> JSONValue {
        let id = JSONValue.integer(nextID)
        nextID += 1
        let line: [UInt8]
        do {
            try send(ControlRequest(id: id, command: command, arguments: arguments).jsonText())
            line = try receiveLine()
        } catch {
            // A refused connection (too-many-connections, idle-timeout) is answered and closed
            // before the request is read; if the close came first the send fails (EPIPE), but
            // the reason is still waiting to be read.
            guard let early = try? receiveLineOrEOF() else { throw error }
            line = early
        }
        guard let reply = try? JSONValue(parsing: Data(line)), let ok = reply["ok"] else {
            throw .transport("armvisord sent a malformed reply")
        }
        // An error with id null may come instead of the reply: the connection was refused
        // (too-many-connections) or timed out (idle-timeout) before the request was read.
        if reply["id"] != id, !(ok == .bool(false) && reply["id"] == .null) {
            throw .transport("armvisord answered another request (id mismatch)")
        }
        switch ok {
        case .bool(true):
            return reply["result"] ?? .object([:])
        case .bool(false):
            let code = reply["error"]?["code"]?.stringValue ?? "internal"
            let message = reply["error"]?["message"]?.stringValue ?? "unknown error"
            throw .server(code: code, message: message)
        default:
            throw .transport("armvisord sent a malformed reply")
        }
    }

    /// Writes one line (a newline is appended).
    public func send(_ line: String) throws(ControlClientError) {
        let bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { raw in
                Self.sendNoSignal(fd, raw.baseAddress, raw.count)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw .transport("cannot send to armvisord at \(socketPath): \(Self.lastError())")
            }
            offset += written
        }
    }

    /// Reads one line (without its newline).
    public func receiveLine() throws(ControlClientError) -> [UInt8] {
        guard let line = try receiveLineOrEOF() else {
            throw .transport("armvisord closed the connection without replying")
        }
        return line
    }

    /// Subscribes to state changes (the `events` command, only `name`'s when given) and calls
    /// `handler` with each event line until the daemon closes the connection.
    public func followEvents(
        name: String? = nil, _ handler: (JSONValue) throws(ControlClientError) -> Void
    ) throws(ControlClientError) {
        _ = try call("events", arguments: name.map { ["name": .string($0)] } ?? [:])
        while let line = try receiveLineOrEOF() {
            guard let event = try? JSONValue(parsing: Data(line)) else {
                throw .transport("armvisord sent a malformed event")
            }
            try handler(event)
        }
    }

    /// Attaches to a VM's console (the `console` command): returns the reply's result and the
    /// console bytes already read past the reply line. From then on the connection (`fileDescriptor`)
    /// is a raw byte stream: read guest output from it, write guest input to it, close it (or
    /// half-close it) to detach.
    public func attachConsole(name: String) throws(ControlClientError) -> (result: JSONValue, pending: [UInt8]) {
        let result = try call("console", arguments: ["name": .string(name)])
        defer { received = [] }
        return (result, received)
    }

    /// The connection's socket (for a console's byte stream after `attachConsole`).
    public var fileDescriptor: Int32 { fd }

    /// Reads one line (without its newline); nil at a clean end of the connection.
    private func receiveLineOrEOF() throws(ControlClientError) -> [UInt8]? {
        while true {
            if let newline = received.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(received[..<newline])
                received.removeSubrange(...newline)
                return line
            }
            guard received.count <= Self.maximumReplyBytes else { throw .transport("armvisord's reply is too long") }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .transport("cannot read from armvisord at \(socketPath): \(Self.lastError())")
            }
            if count == 0 { return nil }
            received += chunk[..<count]
        }
    }

    private static func openSocket(_ path: String) throws(ControlClientError) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !pathBytes.isEmpty, pathBytes.count < capacity else {
            throw .connection(
                "cannot connect to armvisord at \(path): socket paths must be 1-\(capacity - 1) bytes long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        #if canImport(Darwin)
            let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #else
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #endif
        guard fd >= 0 else { throw .connection("cannot create a socket: \(lastError())") }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            let hint = code == ENOENT || code == ECONNREFUSED ? " (is the daemon running?)" : ""
            throw .connection("cannot connect to armvisord at \(path): \(String(cString: strerror(code)))\(hint)")
        }
        return fd
    }

    private static func sendNoSignal(_ fd: Int32, _ pointer: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Darwin)
            return Darwin.send(fd, pointer, count, 0)
        #else
            return Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL))
        #endif
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}
