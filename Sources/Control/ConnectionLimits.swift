import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The limits of the control socket (docs/PROTOCOL.md, "Limits"). They can change while the
/// server runs (`ControlServer.setLimits`, on SIGHUP); a change applies to connections accepted
/// afterwards.
public struct ConnectionLimits: Sendable, Equatable {
    /// Connections served at once; one more gets a `too-many-connections` error line and is closed.
    public var maximumConnections: Int
    /// A connection that sends nothing and is waiting for no reply for this long gets an
    /// `idle-timeout` error line and is closed; nil: never.
    public var idleTimeout: Duration?

    public init(
        maximumConnections: Int = DaemonConfiguration.defaultMaxConnections,
        idleTimeout: Duration? = .seconds(DaemonConfiguration.defaultIdleTimeoutSeconds)
    ) {
        self.maximumConnections = maximumConnections
        self.idleTimeout = idleTimeout
    }

    public static let `default` = ConnectionLimits()
}

/// The limits shared by the accepting loop, the channel initializer and `setLimits`.
final class LimitsBox: Sendable {
    private let value: Mutex<ConnectionLimits>

    init(_ limits: ConnectionLimits) { value = Mutex(limits) }

    var current: ConnectionLimits {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// What the idle timeout needs to know about a connection: whether the daemon is working on
/// one of its requests (a `wait` may take long), whether it is an `events` subscription (silent
/// for as long as nothing happens), and when its last request was answered. Delivering a reply
/// is not work for the daemon: a client that never reads its replies goes idle.
final class ConnectionActivity: Sendable {
    /// The connection's idle timeout (nil: none), fixed when it was accepted.
    let idleTimeout: Duration?
    private let requests = Atomic<Int>(0)
    private let subscribed = Atomic<Bool>(false)
    private let idled = Atomic<Bool>(false)
    /// `NIODeadline.now().uptimeNanoseconds` when the last request was answered.
    private let lastAnswered = Atomic<UInt64>(NIODeadline.now().uptimeNanoseconds)

    init(idleTimeout: Duration?) {
        self.idleTimeout = idleTimeout
    }

    func beginRequest() { requests.add(1, ordering: .sequentiallyConsistent) }

    func endRequest() {
        lastAnswered.store(NIODeadline.now().uptimeNanoseconds, ordering: .sequentiallyConsistent)
        requests.subtract(1, ordering: .sequentiallyConsistent)
    }

    func subscribe() { subscribed.store(true, ordering: .sequentiallyConsistent) }

    /// No request in progress, not a subscription, and none answered for `timeout`.
    func isIdle(for timeout: TimeAmount) -> Bool {
        guard requests.load(ordering: .sequentiallyConsistent) == 0, !subscribed.load(ordering: .sequentiallyConsistent)
        else { return false }
        let answered = NIODeadline.uptimeNanoseconds(lastAnswered.load(ordering: .sequentiallyConsistent))
        return .now() - answered >= timeout
    }

    /// True once (for the idle handler); afterwards `timedOut` is true.
    func claimTimeout() -> Bool { !idled.exchange(true, ordering: .sequentiallyConsistent) }
    var timedOut: Bool { idled.load(ordering: .sequentiallyConsistent) }
}

/// Closes a connection on `IdleStateHandler`'s `.all` event (no byte read or written for the
/// timeout) when it is idle (`ConnectionActivity.isIdle`), after an `idle-timeout` error line.
/// Runs on the event loop.
final class IdleDisconnector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = LineFrame
    typealias OutboundOut = ByteBuffer

    private let activity: ConnectionActivity
    private let timeout: Duration

    init(activity: ConnectionActivity, timeout: Duration) {
        self.activity = activity
        self.timeout = timeout
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard idle == .all, activity.isIdle(for: ConnectionLimits.timeAmount(timeout)), activity.claimTimeout()
        else { return }
        let error = ControlError(
            .idleTimeout, "no request for \(ConnectionLimits.describe(timeout)); closing the connection")
        context.writeAndFlush(wrapOutboundOut(ControlServer.frame(.failure(id: .null, error))), promise: nil)
        context.close(promise: nil)
    }
}

extension ConnectionLimits {
    /// `1 s`, `300 s`, `0.5 s`.
    static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 { return "\(seconds) s" }
        return "\(Double(seconds) + Double(attoseconds) / 1e18) s"
    }

    /// `duration` as NIO's `TimeAmount` (at least 1 ms).
    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !nanoseconds.overflow else { return .nanoseconds(.max) }
        return .nanoseconds(max(1_000_000, nanoseconds.partialValue + attoseconds / 1_000_000_000))
    }
}

/// Who is at the other end of a UNIX socket connection (`SO_PEERCRED`): the process, user and
/// group that connected.
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public var description: String { "pid \(pid), uid \(uid), gid \(gid)" }

    /// Logging metadata: `peer-pid`, `peer-uid`, `peer-gid`.
    var metadata: Logger.Metadata {
        ["peer-pid": "\(pid)", "peer-uid": "\(uid)", "peer-gid": "\(gid)"]
    }

    /// `struct ucred` (Linux).
    private struct Raw: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// The credentials of `channel`'s peer; nil where `SO_PEERCRED` is not available.
    static func of(_ channel: any Channel) -> EventLoopFuture<PeerCredentials?> {
        #if os(Linux)
            guard let provider = channel as? any SocketOptionProvider else {
                return channel.eventLoop.makeSucceededFuture(nil)
            }
            let raw: EventLoopFuture<Raw> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
            return raw.map { Optional(PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid)) }.recover { _ in nil }
        #else
            return channel.eventLoop.makeSucceededFuture(nil)
        #endif
    }
}
