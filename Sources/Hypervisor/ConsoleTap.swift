import Synchronization

/// The board's console as the control plane sees it: a `CharacterBackend` in front of the
/// configured one (stdio, a file, a socket, a pty) that also lets any number of sessions attach
/// at any time (`armvisor console`, the protocol's `console` command).
///
/// Guest output goes to the configured backend and, copied, to every attached session; input
/// from any session goes to the guest's receive path, as input from the configured backend
/// does. The guest never waits for a session: each one buffers at most `sessionCapacity` bytes
/// and a session that falls further behind loses its oldest output (counted in
/// `ConsoleSession.droppedBytes`), never the guest's progress or the other sessions' output.
public final class ConsoleTap: CharacterBackend {
    /// The most output one session holds for its reader.
    public static let sessionCapacity = 1 << 20

    private struct State {
        var sessions: [Int: ConsoleSession] = [:]
        var nextID = 0
        var closed = false
        var input: (@Sendable ([UInt8]) -> Void)?
    }

    /// The configured backend.
    public let inner: any CharacterBackend
    private let state = Mutex(State())
    /// Sessions attached now; lets `send` skip the lock when nobody listens.
    private let attachedCount = Atomic<Int>(0)

    public init(wrapping inner: any CharacterBackend) {
        self.inner = inner
    }

    public func send(_ bytes: UnsafeRawBufferPointer) {
        inner.send(bytes)
        guard attachedCount.load(ordering: .relaxed) > 0 else { return }
        state.withLock { state in
            for session in state.sessions.values { session.deliver(bytes) }
        }
    }

    public func drain() { inner.drain() }

    public func setInputHandler(_ handler: @escaping @Sendable ([UInt8]) -> Void) {
        state.withLock { $0.input = handler }
        inner.setInputHandler(handler)
    }

    /// Attaches a new session; nil once the tap is closed (the VM stopped).
    public func attach() -> ConsoleSession? {
        state.withLock { state -> ConsoleSession? in
            guard !state.closed else { return nil }
            let session = ConsoleSession(id: state.nextID)
            state.nextID += 1
            state.sessions[session.id] = session
            session.setOwner(self)
            attachedCount.add(1, ordering: .relaxed)
            return session
        }
    }

    /// Detaches `session`: it gets no more output, and its `next()` returns what it still holds,
    /// then nil.
    public func detach(_ session: ConsoleSession) {
        state.withLock { state in
            guard state.sessions[session.id] === session else { return }
            state.sessions[session.id] = nil
            attachedCount.subtract(1, ordering: .relaxed)
        }
        session.finish()
    }

    /// Sessions attached now.
    public var sessionCount: Int { attachedCount.load(ordering: .relaxed) }

    /// Delivers `bytes` from a session to the guest's receive path (nothing once closed, or when
    /// the device has not asked for input).
    public func input(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let handler = state.withLock { $0.closed ? nil : $0.input }
        handler?(bytes)
    }

    /// The VM stopped: every session ends (after what it still holds) and no new one attaches.
    /// The configured backend is closed by its owner.
    public func close() {
        let sessions = state.withLock { state -> [ConsoleSession] in
            state.closed = true
            let sessions = Array(state.sessions.values)
            state.sessions = [:]
            attachedCount.store(0, ordering: .relaxed)
            return sessions
        }
        for session in sessions { session.finish() }
    }
}

/// One attachment to a `ConsoleTap`: the guest output since it attached, for one reader, and
/// the way back to the guest. The tap belongs to the run's `BoardHost`, so a session follows its
/// VM across guest reboots and `reset`.
public final class ConsoleSession: Sendable {
    private struct State {
        /// Held output is `buffer[start...]`: dropping the oldest bytes moves `start`, and the
        /// array is compacted only once `start` passes the capacity (one move per megabyte of
        /// output, not one per byte, when a reader has stalled).
        var buffer: [UInt8] = []
        var start = 0
        var finished = false
        var dropped = 0
        var waiter: CheckedContinuation<[UInt8]?, Never>?
        weak var owner: ConsoleTap?
    }

    private let state: Mutex<State>

    /// Its key in the owner's table.
    let id: Int

    init(id: Int) {
        self.id = id
        state = Mutex(State())
    }

    func setOwner(_ tap: ConsoleTap) {
        state.withLock { $0.owner = tap }
    }

    /// Sends client input to the guest's UART (nothing after the session ended).
    public func input(_ bytes: [UInt8]) {
        state.withLock { $0.finished ? nil : $0.owner }?.input(bytes)
    }

    /// Ends the session (the client detached): it leaves its tap, and `next()` returns what it
    /// still holds, then nil.
    public func detach() {
        if let owner = state.withLock({ $0.owner }) { owner.detach(self) } else { finish() }
    }

    /// Output bytes lost because the reader fell more than `ConsoleTap.sessionCapacity` behind.
    public var droppedBytes: Int { state.withLock { $0.dropped } }

    /// A vCPU thread: appends guest output (or hands it to a waiting reader).
    func deliver(_ bytes: UnsafeRawBufferPointer) {
        let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, Never>? in
            guard !state.finished else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.buffer.append(contentsOf: bytes)
            let excess = state.buffer.count - state.start - ConsoleTap.sessionCapacity
            if excess > 0 {
                state.start += excess
                state.dropped += excess
                if state.start >= ConsoleTap.sessionCapacity {
                    state.buffer.removeFirst(state.start)
                    state.start = 0
                }
            }
            return nil
        }
        waiter?.resume(returning: Array(bytes))
    }

    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Everything delivered since the last call, waiting for output when there is none; nil once
    /// the session has ended and everything it held was taken. One reader at a time.
    public func next() async -> [UInt8]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[UInt8]?, Never>) in
            let ready = state.withLock { state -> [UInt8]?? in
                if state.buffer.count > state.start {
                    defer {
                        state.buffer = []
                        state.start = 0
                    }
                    return .some(state.start == 0 ? state.buffer : Array(state.buffer[state.start...]))
                }
                if state.finished { return .some(nil) }
                state.waiter = continuation
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
