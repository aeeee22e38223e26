import Devices
import Synchronization

/// A `DeviceClock` that only moves when a test advances it; alarms run inside `advance` on the
/// test's thread, in deadline order.
public final class ManualDeviceClock: DeviceClock {
    private struct Alarm {
        let id: Int
        let deadline: UInt64
        let work: @Sendable () -> Void
    }

    private struct State {
        var now: UInt64
        var alarms: [Alarm] = []
        var nextID = 0
    }

    private let state: Mutex<State>
    public let wallClock: UInt64

    public init(nanoseconds: UInt64 = 5_000_000_000, wallClockSeconds: UInt64 = 1_700_000_000) {
        state = Mutex(State(now: nanoseconds))
        wallClock = wallClockSeconds
    }

    public func nanoseconds() -> UInt64 { state.withLock { $0.now } }
    public func wallClockSeconds() -> UInt64 { wallClock }

    /// Alarms not yet run nor cancelled.
    public var pendingAlarms: Int { state.withLock { $0.alarms.count } }

    public func schedule(at deadline: UInt64, _ work: @escaping @Sendable () -> Void) -> any DeviceAlarm {
        let id = state.withLock { s in
            s.nextID += 1
            s.alarms.append(Alarm(id: s.nextID, deadline: deadline, work: work))
            return s.nextID
        }
        return Cancellation(clock: self, id: id)
    }

    /// Moves the clock forward by `delta` nanoseconds, running every alarm that falls due.
    public func advance(by delta: UInt64) {
        let target = state.withLock { $0.now + delta }
        while true {
            let due = state.withLock { s -> Alarm? in
                guard let next = s.alarms.filter({ $0.deadline <= target }).min(by: { $0.deadline < $1.deadline })
                else { return nil }
                s.alarms.removeAll { $0.id == next.id }
                s.now = max(s.now, next.deadline)
                return next
            }
            guard let due else { break }
            due.work()
        }
        state.withLock { $0.now = target }
    }

    fileprivate func cancel(_ id: Int) {
        state.withLock { $0.alarms.removeAll { $0.id == id } }
    }

    private struct Cancellation: DeviceAlarm {
        let clock: ManualDeviceClock
        let id: Int
        public func cancel() { clock.cancel(id) }
    }
}
