import Hypervisor
import Synchronization

/// A one-shot, many-waiter async signal for the end of a VM: resolved with its `StopRecord`
/// when it stops, or with an error when it is destroyed before it ever ran.
final class StopSignal: Sendable {
    typealias Outcome = Result<StopRecord, ControlError>

    private struct State {
        var outcome: Outcome?
        var waiters: [CheckedContinuation<Outcome, Never>] = []
    }

    private let state = Mutex(State())

    /// Resolves the signal; only the first call counts.
    func resolve(_ outcome: Outcome) {
        let waiters = state.withLock { state -> [CheckedContinuation<Outcome, Never>] in
            guard state.outcome == nil else { return [] }
            state.outcome = outcome
            let waiters = state.waiters
            state.waiters = []
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    /// How many `wait` calls are suspended on the signal now.
    var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// Suspends (without blocking a thread) until the signal is resolved.
    func wait() async -> Outcome {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Outcome? in
                if let outcome = state.outcome { return outcome }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
