/// Where a console's input goes, shared by the PTY and socket backends and kept under the
/// backend's lock: the device's handler once it asked for input; before that (a client typing
/// while the VM is built) up to `earlyLimit` bytes, handed to the handler first, in order.
struct ConsoleInput {
    typealias Handler = @Sendable ([UInt8]) -> Void

    /// The most input kept for a device that has not asked for it yet (a FIFO's worth and more).
    static let earlyLimit = 4096

    private var handler: Handler?
    private var early: [UInt8] = []

    /// Bytes typed before the device asked for input, waiting for it.
    var earlyCount: Int { early.count }

    /// Loop thread: the handler to call with `bytes`, or nil after keeping them for it.
    mutating func route(_ bytes: [UInt8]) -> Handler? {
        if handler == nil { early += bytes.prefix(max(Self.earlyLimit - early.count, 0)) }
        return handler
    }

    /// Loop thread: takes `handler` and returns the input that waited for it.
    mutating func adopt(_ new: @escaping Handler) -> [UInt8] {
        handler = new
        defer { early = [] }
        return early
    }
}
