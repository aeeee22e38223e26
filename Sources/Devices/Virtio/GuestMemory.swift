import Hypervisor

/// Guest RAM as a DMA-capable device sees it: guest-physical ranges that are either wholly in
/// RAM or refused. Every virtqueue access goes through here, so an address a guest made up
/// (outside RAM, wrapping around, crossing the end of RAM) is an error the device reports,
/// never a host fault.
public protocol GuestMemory: Sendable {
    /// The host bytes behind `count` bytes of guest RAM at `address`; nil unless all of them
    /// are RAM.
    func bytes(at address: UInt64, count: Int) -> UnsafeMutableRawBufferPointer?
}

extension GuestMemory {
    /// A little-endian integer at `address` (virtio structures are little-endian, virtio 1.x
    /// §1.4); nil outside RAM.
    func load<T: FixedWidthInteger>(_ type: T.Type, at address: UInt64) -> T? {
        guard let buffer = bytes(at: address, count: MemoryLayout<T>.size) else { return nil }
        return T(littleEndian: buffer.loadUnaligned(as: T.self))
    }

    /// Stores a little-endian integer; false outside RAM.
    @discardableResult
    func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) -> Bool {
        guard let buffer = bytes(at: address, count: MemoryLayout<T>.size) else { return false }
        buffer.storeBytes(of: value.littleEndian, as: T.self)
        return true
    }
}

extension MachineMemory: GuestMemory {
    public func bytes(at address: UInt64, count: Int) -> UnsafeMutableRawBufferPointer? {
        guard count >= 0 else { return nil }
        if count == 0 { return UnsafeMutableRawBufferPointer(start: nil, count: 0) }
        guard let pointer = ramPointer(address, count: count) else { return nil }
        return UnsafeMutableRawBufferPointer(start: pointer, count: count)
    }
}
