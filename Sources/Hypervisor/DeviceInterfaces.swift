/// A device register model on the MMIO bus. It sees offsets within its own window only and is
/// called synchronously on the accessing vCPU's thread, so it guards its state with its own lock.
public protocol MMIODevice: AnyObject, Sendable {
    /// Human-readable name for statistics and logs ("pl011").
    var name: String { get }
    /// Reads `size` bytes (1, 2, 4 or 8) at `offset`; the result is zero-extended.
    func read(offset: UInt64, size: Int) -> UInt64
    /// Writes the low `size` bytes of `value` at `offset`.
    func write(offset: UInt64, size: Int, value: UInt64)
}

/// A byte stream to the outside world (a console), implemented by a backend on the GLib loop.
/// `send` is called from vCPU threads and must not block on I/O.
public protocol CharacterBackend: AnyObject, Sendable {
    func send(_ bytes: UnsafeRawBufferPointer)
    /// Blocks until every byte sent so far has been written out; not callable from the loop.
    func drain()
}
