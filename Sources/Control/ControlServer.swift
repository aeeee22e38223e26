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
    private let serverChannel: NIOAsyncChannel<Connection, Never>
    private let dispatcher: ControlDispatcher
    private let logger: Logger
    private let connectionCount = Atomic<Int>(0)

    private init(
        socketPath: String, serverChannel: NIOAsyncChannel<Connection, Never>, dispatcher: ControlDispatcher,
        logger: Logger
    ) {
        self.socketPath = socketPath
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
            .bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder()))
                    return try Connection(wrappingChannelSynchronously: child)
                }
            }
        guard chmod(socketPath, 0o660) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await channel.channel.close()
            throw ControlServerError(message: "cannot set the mode of \(socketPath): \(reason)")
        }
        return ControlServer(
            socketPath: socketPath, serverChannel: channel, dispatcher: ControlDispatcher(manager: manager),
            logger: logger)
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

    /// Stops accepting connections and removes the socket file.
    public func close() async {
        try? await serverChannel.channel.close()
        unlink(socketPath)
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
