/// A device register model on the MMIO bus. It sees offsets within its own window only and is
/// called synchronously on the accessing vCPU's thread, so it guards its state with its own lock.
public protocol MMIODevice: AnyObject, Sendable {
    /// Human-readable name for statistics and logs ("pl011").
    var name: String { get }
    /// Reads `size` bytes (1, 2, 4 or 8) at `offset`; the result is zero-extended.
    func read(offset: UInt64, size: Int) -> UInt64
    /// Writes the low `size` bytes of `value` at `offset`.
    func write(offset: UInt64, size: Int, value: UInt64)
    /// The widest access the device's bus port takes (4 for a 32-bit APB peripheral). A wider
    /// guest access reaches it as consecutive accesses of this size, lowest address first
    /// (what QEMU's memory core does for `max_access_size`).
    var maximumAccessSize: Int { get }
    /// A read by a particular vCPU, for devices whose registers are banked per CPU (the GICv2
    /// distributor's INTIDs 0–31 and CPU interface). Defaults to `read(offset:size:)`.
    func read(offset: UInt64, size: Int, by vcpu: VCPU) -> UInt64
    /// A write by a particular vCPU; defaults to `write(offset:size:value:)`.
    func write(offset: UInt64, size: Int, value: UInt64, by vcpu: VCPU)
}

extension MMIODevice {
    public var maximumAccessSize: Int { 8 }
    public func read(offset: UInt64, size: Int, by vcpu: VCPU) -> UInt64 { read(offset: offset, size: size) }
    public func write(offset: UInt64, size: Int, value: UInt64, by vcpu: VCPU) {
        write(offset: offset, size: size, value: value)
    }

    /// Reads `size` bytes, split into accesses the device takes.
    func busRead(offset: UInt64, size: Int, by vcpu: VCPU) -> UInt64 {
        let unit = maximumAccessSize
        guard size > unit else { return read(offset: offset, size: size, by: vcpu) }
        var value: UInt64 = 0
        for part in stride(from: 0, to: size, by: unit) {
            let piece = read(offset: offset + UInt64(part), size: unit, by: vcpu) & ((1 << UInt64(unit * 8)) &- 1)
            value |= piece << UInt64(part * 8)
        }
        return value
    }

    /// Writes `size` bytes, split into accesses the device takes.
    func busWrite(offset: UInt64, size: Int, value: UInt64, by vcpu: VCPU) {
        let unit = maximumAccessSize
        guard size > unit else { return write(offset: offset, size: size, value: value, by: vcpu) }
        for part in stride(from: 0, to: size, by: unit) {
            write(offset: offset + UInt64(part), size: unit, value: value >> UInt64(part * 8), by: vcpu)
        }
    }
}

/// A byte stream to the outside world (a console), implemented by a backend on the GLib loop.
/// `send` is called from vCPU threads and must not block on I/O.
public protocol CharacterBackend: AnyObject, Sendable {
    func send(_ bytes: UnsafeRawBufferPointer)
    /// Blocks until every byte sent so far has been written out; not callable from the loop.
    func drain()
    /// Where input from the outside world goes (the device's receive path). Called on the
    /// backend's loop thread; an empty array means the input ended.
    func setInputHandler(_ handler: @escaping @Sendable ([UInt8]) -> Void)
}

extension CharacterBackend {
    /// Output-only backends have no input.
    public func setInputHandler(_ handler: @escaping @Sendable ([UInt8]) -> Void) {}
}
