import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The control socket: a SwiftNIO server on a UNIX stream socket speaking the line-delimited
/// JSON protocol (docs/PROTOCOL.md). Each connection's requests are answered in order, one
/// reply line per request; connections are independent of each other. Every peer is
/// identified (`SO_PEERCRED`) and logged; the number of connections and their idle time are
/// limited (`ConnectionLimits`).
public final class ControlServer: Sendable {
    public typealias Connection = NIOAsyncChannel<LineFrame, ByteBuffer>

    /// An accepted connection with what the channel initializer learnt about it.
    struct Accepted: Sendable {
        let channel: Connection
        let activity: ConnectionActivity
        let peer: PeerCredentials?
        /// Set when the connection leaves line framing for a console's raw bytes.
        let framing: LineFramingMode
    }

    /// The name of a connection's line decoder in its pipeline.
    static let lineDecoderName = "line-decoder"

    public let socketPath: String
    /// False for an inherited (socket-activated) socket: its file belongs to whoever made it.
    public let ownsSocketFile: Bool
    private let serverChannel: NIOAsyncChannel<Accepted, Never>
    private let dispatcher: ControlDispatcher
    private let logger: Logger
    private let limits: LimitsBox
    private let connectionCount = Atomic<Int>(0)
    /// Connections being served now (refused ones are not counted).
    private let activeConnections = Atomic<Int>(0)

    private init(
        socketPath: String, ownsSocketFile: Bool = true, serverChannel: NIOAsyncChannel<Accepted, Never>,
        dispatcher: ControlDispatcher, logger: Logger, limits: LimitsBox
    ) {
        self.socketPath = socketPath
        self.ownsSocketFile = ownsSocketFile
        self.serverChannel = serverChannel
        self.dispatcher = dispatcher
        self.logger = logger
        self.limits = limits
    }

    /// Binds the socket (replacing a stale socket file), then gives it `mode` and, when
    /// given, the group `owningGroup` (`chown`/`chmod` right after `bind`). Connections are
    /// accepted once `run()` is called.
    public static func bind(
        socketPath: String, manager: VMManager, logger: Logger = Logger(label: "armvisord"),
        mode: Int = DaemonConfiguration.defaultSocketMode, owningGroup: gid_t? = nil,
        limits: ConnectionLimits = .default, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ControlServer {
        let box = LimitsBox(limits)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(
                unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true,
                childChannelInitializer: initializer(limits: box))
        func fail(_ what: String) async throws -> Never {
            let reason = String(cString: strerror(errno))
            try? await channel.channel.close()
            unlink(socketPath)
            throw ControlServerError(message: "cannot set the \(what) of \(socketPath): \(reason)")
        }
        if let owningGroup, chown(socketPath, uid_t.max, owningGroup) != 0 { try await fail("group") }
        if chmod(socketPath, mode_t(mode)) != 0 { try await fail("mode") }
        return ControlServer(
            socketPath: socketPath, serverChannel: channel, dispatcher: ControlDispatcher(manager: manager),
            logger: logger, limits: box)
    }

    /// Serves on an inherited listening UNIX stream socket (systemd socket activation): no
    /// bind, no chmod or chown (the socket unit's `SocketMode=` and `SocketGroup=` apply), and
    /// `close()` leaves the file alone. The server owns `descriptor` from now on.
    public static func adopt(
        descriptor: CInt, manager: VMManager, logger: Logger = Logger(label: "armvisord"),
        limits: ConnectionLimits = .default, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ControlServer {
        let path = boundPath(of: descriptor) ?? "fd \(descriptor)"
        let box = LimitsBox(limits)
        let channel = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(descriptor, childChannelInitializer: initializer(limits: box))
        return ControlServer(
            socketPath: path, ownsSocketFile: false, serverChannel: channel,
            dispatcher: ControlDispatcher(manager: manager), logger: logger, limits: box)
    }

    /// The limits now in force.
    public var currentLimits: ConnectionLimits { limits.current }

    /// Changes the limits: the maximum applies from the next accepted connection on, the idle
    /// timeout to connections accepted from now on.
    public func setLimits(_ new: ConnectionLimits) {
        limits.current = new
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

    /// Sets up an accepted connection on its event loop: reads its peer's credentials, and
    /// builds the pipeline: idle timer (sees every byte), line decoder, idle disconnector.
    private static func initializer(limits: LimitsBox) -> @Sendable (any Channel) -> EventLoopFuture<Accepted> {
        { child in
            PeerCredentials.of(child).flatMapThrowing { peer in
                let timeout = limits.current.idleTimeout
                let activity = ConnectionActivity(idleTimeout: timeout)
                let framing = LineFramingMode()
                let pipeline = child.pipeline.syncOperations
                if let timeout {
                    try pipeline.addHandler(IdleStateHandler(allTimeout: ConnectionLimits.timeAmount(timeout)))
                }
                try pipeline.addHandler(
                    ByteToMessageHandler(LineFrameDecoder(mode: framing)), name: ControlServer.lineDecoderName)
                if let timeout {
                    try pipeline.addHandler(IdleDisconnector(activity: activity, timeout: timeout))
                }
                return Accepted(
                    channel: try Connection(wrappingChannelSynchronously: child), activity: activity, peer: peer,
                    framing: framing)
            }
        }
    }

    /// Runs a no-op on the event loop of the listening socket and returns once it ran: the
    /// watchdog's check that the loop is not stuck (a stuck loop never returns, so no ping).
    public func eventLoopResponds() async -> Bool {
        (try? await serverChannel.channel.eventLoop.submit {}.get()) != nil
    }

    /// Accepts and serves connections until `close()`; returns when every connection is done.
    /// A connection over the limit is refused (an error line, then closed) without holding up
    /// the others.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await serverChannel.executeThenClose { connections in
                for try await connection in connections {
                    let number = connectionCount.add(1, ordering: .relaxed).newValue
                    let maximum = limits.current.maximumConnections
                    // Only this loop adds, so the check and the increment cannot race.
                    guard activeConnections.load(ordering: .relaxed) < maximum else {
                        group.addTask { await self.refuse(connection, number: number, maximum: maximum) }
                        continue
                    }
                    activeConnections.add(1, ordering: .relaxed)
                    group.addTask {
                        await self.serve(connection, number: number)
                        self.activeConnections.subtract(1, ordering: .relaxed)
                    }
                }
            }
        }
    }

    /// Stops accepting connections and removes the socket file (when the server made it).
    public func close() async {
        try? await serverChannel.channel.close()
        if ownsSocketFile { unlink(socketPath) }
    }

    /// The connection's logger: the server's, with `conn` and the peer's credentials.
    private func logger(for accepted: Accepted, number: Int) -> Logger {
        var logger = logger
        logger[metadataKey: "conn"] = "\(number)"
        for (key, value) in accepted.peer?.metadata ?? [:] { logger[metadataKey: key] = value }
        return logger
    }

    /// Tells a connection over the limit why, and closes it.
    private func refuse(_ accepted: Accepted, number: Int, maximum: Int) async {
        let logger = logger(for: accepted, number: number)
        let error = ControlError(
            .tooManyConnections, "armvisord serves at most \(maximum) connections at once; try again later")
        logger.warning("connection refused: \(error.code.rawValue): \(error.message)")
        try? await accepted.channel.executeThenClose { _, replies in
            try await replies.write(Self.frame(.failure(id: .null, error)))
        }
    }

    private func serve(_ accepted: Accepted, number: Int) async {
        let logger = logger(for: accepted, number: number)
        let activity = accepted.activity
        logger.info("connection opened")
        do {
            try await accepted.channel.executeThenClose { requests, replies in
                var lines = requests.makeAsyncIterator()
                while let frame = try await lines.next() {
                    switch frame {
                    case .line(var line):
                        guard line.readableBytesView.contains(where: { !Self.isBlank($0) }) else { continue }
                        if line.readableBytesView.last == UInt8(ascii: "\r") {
                            line.moveWriterIndex(to: line.writerIndex - 1)
                        }
                        activity.beginRequest()
                        let response = await dispatcher.respond(toLine: Data(line.readableBytesView))
                        if response.events != nil || response.console != nil { activity.subscribe() }
                        activity.endRequest()
                        if case .failure(let error) = response.reply.outcome {
                            logger.warning("request failed: \(error.code.rawValue): \(error.message)")
                        }
                        do {
                            try await replies.write(Self.frame(response.reply))
                            if response.console != nil { try await Self.switchToRawBytes(accepted) }
                        } catch {
                            // The client went away before its attachment began: the session
                            // must not stay in the tap, buffering output for nobody.
                            response.console?.session.detach()
                            throw error
                        }
                        if let events = response.events {
                            logger.info("events subscription started")
                            try await Self.forward(events, to: replies, until: &lines)
                            logger.info("events subscription ended")
                            return
                        }
                        if let console = response.console {
                            logger.info("console attached")
                            let end = await Self.forward(console, to: replies, from: lines)
                            logger.info("console detached: \(end.rawValue)")
                            return
                        }
                    case .raw:
                        // Only after a switch to raw bytes, which ends this loop.
                        continue
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
        if activity.timedOut, let timeout = activity.idleTimeout {
            logger.info("connection closed: idle-timeout (silent for \(ConnectionLimits.describe(timeout)))")
        } else {
            logger.info("connection closed")
        }
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

    /// Takes the connection out of line framing (after a `console` reply): a raw-bytes handler
    /// takes the line decoder's place, and what the decoder still holds (bytes the client sent
    /// right after its request) comes out as raw. Lines it had already split come out as
    /// `.line` frames; the console forwarder gives them their newline back.
    private static func switchToRawBytes(_ accepted: Accepted) async throws {
        let channel = accepted.channel.channel
        let framing = accepted.framing
        try await channel.eventLoop.submit {
            let pipeline = channel.pipeline.syncOperations
            let decoder = try pipeline.context(name: lineDecoderName)
            try pipeline.addHandler(RawFrameHandler(), position: .after(decoder.handler))
            framing.switchToRaw()
            pipeline.removeHandler(context: decoder, promise: nil)
        }.get()
    }

    /// How a console attachment ended.
    enum ConsoleEnd: String, Sendable {
        case clientClosed = "the client closed the connection"
        case vmStopped = "the VM stopped"
    }

    /// A `console` attachment: guest output goes to the client as it comes, and bytes from the
    /// client go to the guest's UART, until the client closes (or half-closes) its end or the
    /// VM stops (a guest reboot or `reset` keeps the session); the caller then closes the
    /// connection.
    private static func forward(
        _ console: VMManager.ConsoleAttachment, to replies: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        from lines: NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator
    ) async -> ConsoleEnd {
        let input = IteratorBox(lines)
        return await withTaskGroup(of: ConsoleEnd.self) { group in
            group.addTask {
                do {
                    while let frame = try await input.iterator.next() {
                        switch frame {
                        case .line(let line):
                            console.session.input(Array(line.readableBytesView) + [UInt8(ascii: "\n")])
                        case .raw(let bytes): console.session.input(Array(bytes.readableBytesView))
                        case .tooLong: break
                        }
                    }
                } catch {}
                return .clientClosed
            }
            group.addTask {
                while let output = await console.session.next() {
                    do {
                        try await replies.write(ByteBuffer(bytes: output))
                    } catch {
                        return .clientClosed
                    }
                }
                return .vmStopped
            }
            let end = await group.next() ?? .clientClosed
            // Ends the other side: the session's reader, or the input loop (by cancellation).
            console.session.detach()
            group.cancelAll()
            await group.waitForAll()
            return end
        }
    }

    /// Hands a connection's inbound iterator to the console's input task; nothing else uses it
    /// meanwhile (the serving loop has returned control to `forward` and ends after it).
    private final class IteratorBox: @unchecked Sendable {
        var iterator: NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator
        init(_ iterator: NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator) { self.iterator = iterator }
    }

    static func frame(_ reply: ControlReply) -> ByteBuffer {
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
