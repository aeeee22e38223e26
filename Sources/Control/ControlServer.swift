import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The control socket: a SwiftNIO server on a UNIX stream socket speaking the line-delimited
/// JSON protocol (docs/PROTOCOL.md). Each connection's requests are answered in order, one
/// reply line per request; connections are independent of each other.
public final class ControlServer: Sendable {
    public typealias Connection = NIOAsyncChannel<LineFrame, ByteBuffer>

    public let socketPath: String
    /// False for an inherited (socket-activated) socket: its file belongs to whoever made it.
    public let ownsSocketFile: Bool
    private let serverChannel: NIOAsyncChannel<Connection, Never>
    private let dispatcher: ControlDispatcher
    private let logger: Logger
    private let connectionCount = Atomic<Int>(0)

    private init(
        socketPath: String, ownsSocketFile: Bool = true, serverChannel: NIOAsyncChannel<Connection, Never>,
        dispatcher: ControlDispatcher, logger: Logger
    ) {
        self.socketPath = socketPath
        self.ownsSocketFile = ownsSocketFile
        self.serverChannel = serverChannel
        self.dispatcher = dispatcher
        self.logger = logger
    }

    /// Binds the socket (replacing a stale socket file) and makes it mode 0660. Connections
    /// are accepted once `run()` is called.
    public static func bind(
        socketPath: String, manager: VMManager, logger: Logger = Logger(label: "armvisord"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ControlServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(
                unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true, childChannelInitializer: initialize)
        guard chmod(socketPath, 0o660) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await channel.channel.close()
            throw ControlServerError(message: "cannot set the mode of \(socketPath): \(reason)")
        }
        return ControlServer(
            socketPath: socketPath, serverChannel: channel, dispatcher: ControlDispatcher(manager: manager),
            logger: logger)
    }

    /// Serves on an inherited listening UNIX stream socket (systemd socket activation): no
    /// bind, no chmod (the socket unit set the mode), and `close()` leaves the file alone.
    /// The server owns `descriptor` from now on.
    public static func adopt(
        descriptor: CInt, manager: VMManager, logger: Logger = Logger(label: "armvisord"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ControlServer {
        let path = boundPath(of: descriptor) ?? "fd \(descriptor)"
        let channel = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(descriptor, childChannelInitializer: initialize)
        return ControlServer(
            socketPath: path, ownsSocketFile: false, serverChannel: channel,
            dispatcher: ControlDispatcher(manager: manager), logger: logger)
    }

    /// The path a UNIX socket is bound to (`getsockname`), nil for anything else.
    public static func boundPath(of descriptor: CInt) -> String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard status == 0, address.sun_family == sa_family_t(AF_UNIX) else { return nil }
        let path = withUnsafeBytes(of: address.sun_path) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return path.isEmpty ? nil : path
    }

    @Sendable private static func initialize(_ child: any Channel) -> EventLoopFuture<Connection> {
        child.eventLoop.makeCompletedFuture {
            try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder()))
            return try Connection(wrappingChannelSynchronously: child)
        }
    }

    /// Runs a no-op on the event loop of the listening socket and returns once it ran: the
    /// watchdog's check that the loop is not stuck (a stuck loop never returns, so no ping).
    public func eventLoopResponds() async -> Bool {
        (try? await serverChannel.channel.eventLoop.submit {}.get()) != nil
    }

    /// Accepts and serves connections until `close()`; returns when every connection is done.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await serverChannel.executeThenClose { connections in
                for try await connection in connections {
                    let number = connectionCount.add(1, ordering: .relaxed).newValue
                    group.addTask { await self.serve(connection, number: number) }
                }
            }
        }
    }

    /// Stops accepting connections and removes the socket file (when the server made it).
    public func close() async {
        try? await serverChannel.channel.close()
        if ownsSocketFile { unlink(socketPath) }
    }

    private func serve(_ connection: Connection, number: Int) async {
        var logger = logger
        logger[metadataKey: "conn"] = "\(number)"
        logger.info("connection opened")
        do {
            try await connection.executeThenClose { requests, replies in
                var lines = requests.makeAsyncIterator()
                while let frame = try await lines.next() {
                    switch frame {
                    case .line(let line):
                        guard line.readableBytesView.contains(where: { !Self.isBlank($0) }) else { continue }
                        let response = await dispatcher.respond(toLine: Data(line.readableBytesView))
                        if case .failure(let error) = response.reply.outcome {
                            logger.warning("request failed: \(error.code.rawValue): \(error.message)")
                        }
                        try await replies.write(Self.frame(response.reply))
                        if let events = response.events {
                            logger.info("events subscription started")
                            try await Self.forward(events, to: replies, until: &lines)
                            logger.info("events subscription ended")
                            return
                        }
                    case .tooLong:
                        let error = ControlError(
                            .requestTooLarge,
                            "request line longer than \(ControlProtocol.maximumRequestBytes) bytes; closing the connection"
                        )
                        logger.warning("request failed: \(error.code.rawValue): \(error.message)")
                        try await replies.write(Self.frame(.failure(id: .null, error)))
                        return
                    }
                }
            }
        } catch {
            logger.warning("connection error: \(error)")
        }
        logger.info("connection closed")
    }

    /// An `events` subscription: writes each event as a line until the client closes (or
    /// half-closes) its end; anything it sends meanwhile is read and ignored.
    private static func forward(
        _ events: AsyncStream<VMEvent>, to replies: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        until lines: inout NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events {
                    let value = (try? JSONValue(encoding: event)) ?? .null
                    try await replies.write(frame(value.jsonText()))
                }
            }
            while try await lines.next() != nil {}
            group.cancelAll()
        }
    }

    private static func frame(_ reply: ControlReply) -> ByteBuffer {
        frame(reply.jsonText())
    }

    private static func frame(_ line: String) -> ByteBuffer {
        var buffer = ByteBuffer(string: line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }
}

/// A failure to set up the control socket.
public struct ControlServerError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}
