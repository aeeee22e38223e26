#if canImport(Glibc)
    import Glibc
#endif
import Dispatch
import Foundation

/// The time base of devices that keep time (the PL031 RTC): the VM's clock in nanoseconds and
/// alarms at deadlines on it. The host clock runs the board; tests use a manual one, so
/// time-dependent behaviour is checked without sleeping.
public protocol DeviceClock: Sendable {
    /// The VM's clock: nanoseconds since an arbitrary origin, never going backwards.
    func nanoseconds() -> UInt64
    /// The host's wall-clock time when asked, in seconds since the Unix epoch (UTC): what an RTC
    /// is seeded from.
    func wallClockSeconds() -> UInt64
    /// Calls `work` (on some other thread) once `nanoseconds()` has reached `deadline`, unless
    /// the returned alarm is cancelled first.
    func schedule(at deadline: UInt64, _ work: @escaping @Sendable () -> Void) -> any DeviceAlarm
}

/// A pending `DeviceClock.schedule` call.
public protocol DeviceAlarm: Sendable {
    /// Makes sure the work does not run if it has not started (harmless afterwards).
    func cancel()
}

/// The host's clocks: CLOCK_MONOTONIC — the same clock the vCPUs' system counter follows
/// (`CPU.hostMonotonicCounter`) — for the VM's time, CLOCK_REALTIME for the wall clock, and
/// Dispatch for alarms.
public struct HostDeviceClock: DeviceClock {
    public init() {}

    public func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    public func wallClockSeconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(max(now.tv_sec, 0))
    }

    /// A one-shot Dispatch timer source: cancelling it takes it off Dispatch's timer list at
    /// once (a cancelled `asyncAfter` work item would stay there until its deadline, so a guest
    /// rewriting the RTC's match register in a loop would pile up host timers).
    public func schedule(at deadline: UInt64, _ work: @escaping @Sendable () -> Void) -> any DeviceAlarm {
        let now = nanoseconds()
        let delay = deadline > now ? deadline - now : 0
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + .nanoseconds(Int(min(delay, UInt64(Int.max)))))
        // Cancelling releases the handler, and with it the timer it holds.
        timer.setEventHandler {
            work()
            timer.cancel()
        }
        timer.resume()
        return DispatchAlarm(timer: timer)
    }

    private struct DispatchAlarm: DeviceAlarm, @unchecked Sendable {
        let timer: any DispatchSourceTimer
        func cancel() { timer.cancel() }
    }
}
