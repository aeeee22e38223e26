import Foundation
import Hypervisor
import Synchronization

/// One state change of a VM, as an `events` subscription receives it (one line each).
public struct VMEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case started, paused, resumed, stopped
    }

    public var event: Kind
    public var name: String
    /// Why the VM stopped (`stopped` only).
    public var reason: StopReason?
    /// The stop's detail (`stopped` only; omitted when empty).
    public var detail: String?
    /// When the daemon saw the change: ISO 8601 in UTC with milliseconds.
    public var timestamp: String

    public init(_ event: Kind, name: String, stop: StopRecord? = nil, at date: Date = Date()) {
        self.event = event
        self.name = name
        reason = stop?.reason
        detail = stop.flatMap { $0.detail.isEmpty ? nil : $0.detail }
        timestamp = date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// Fans state changes out to `events` subscribers. Each subscriber has its own buffer of
/// `bufferLimit` events; one that falls further behind loses the oldest, so a slow client
/// never holds up the VMs or other clients.
public final class EventHub: Sendable {
    public static let bufferLimit = 4096

    private let subscribers = Mutex<[UInt64: (filter: String?, continuation: AsyncStream<VMEvent>.Continuation)]>([:])
    private let nextID = Atomic<UInt64>(0)

    public init() {}

    /// A stream of every event from now on (only `name`'s when given). It ends when the consumer
    /// stops iterating (its task is cancelled) or the stream is released.
    public func subscribe(name: String? = nil) -> AsyncStream<VMEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: VMEvent.self, bufferingPolicy: .bufferingNewest(Self.bufferLimit))
        let id = nextID.add(1, ordering: .relaxed).newValue
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = (name, continuation) }
        return stream
    }

    /// How many subscriptions are open.
    public var subscriberCount: Int { subscribers.withLock { $0.count } }

    /// Sends `event` to every subscriber that wants it.
    public func publish(_ event: VMEvent) {
        let targets = subscribers.withLock { subscribers in
            subscribers.values.filter { $0.filter == nil || $0.filter == event.name }.map(\.continuation)
        }
        for target in targets { target.yield(event) }
    }
}
