/// One split virtqueue (virtio 1.x §2.7): the descriptor table, the driver ("available") ring
/// and the device ("used") ring in guest memory, and the device's position in them.
///
/// Every read of guest memory is bounds-checked through `GuestMemory`; whatever the guest put
/// there — an index out of range, a chain that loops or is longer than the queue, a buffer
/// outside RAM, an available index that moved by more than the queue size — becomes a
/// `VirtqueueError`, on which the transport marks the device NEEDS_RESET (§2.1.2).
public struct Virtqueue: Sendable {
    /// Descriptor flags (§2.7.5).
    enum DescriptorFlag {
        static let next: UInt16 = 1
        static let write: UInt16 = 2
        static let indirect: UInt16 = 4
    }

    /// VIRTQ_AVAIL_F_NO_INTERRUPT (§2.7.7): the driver asks not to be interrupted.
    static let availNoInterrupt: UInt16 = 1

    /// Queue size (QueueNum): a power of two up to the device's maximum.
    public var size: UInt16 = 0
    public var descriptorTable: UInt64 = 0
    public var driverArea: UInt64 = 0
    public var deviceArea: UInt64 = 0
    public var ready = false
    /// The next available-ring slot the device will read.
    public private(set) var lastAvailable: UInt16 = 0
    /// The used ring's index as the device last published it.
    public private(set) var usedIndex: UInt16 = 0
    /// Whether the driver accepted VIRTIO_F_INDIRECT_DESC (the transport sets it before each
    /// service); without it an indirect descriptor is a driver error.
    public var indirectDescriptors = false
    /// The most descriptors an indirect table may hold: QEMU's VIRTQUEUE_MAX_SIZE.
    public static let maximumIndirectDescriptors = 1024

    public init() {}

    /// One buffer of a chain: guest-physical address, length, and whether the device writes it.
    public struct Buffer: Sendable, Equatable {
        public let address: UInt64
        public let length: UInt32
        public let deviceWritable: Bool
    }

    /// A descriptor chain the driver made available: its head index (what goes back in the used
    /// ring) and its buffers in order.
    public struct Chain: Sendable, Equatable {
        public let head: UInt16
        public let buffers: [Buffer]

        /// The device-readable buffers (they come first, §2.7.4.2).
        public var readable: [Buffer] { buffers.filter { !$0.deviceWritable } }
        /// The device-writable buffers.
        public var writable: [Buffer] { buffers.filter(\.deviceWritable) }
    }

    /// The reset state (§4.2.3.x: a reset returns every queue to it).
    public mutating func reset() { self = Virtqueue() }

    /// The next chain the driver made available, or nil when there is none.
    public mutating func pop(_ memory: any GuestMemory) throws(VirtqueueError) -> Chain? {
        guard size > 0 else { throw VirtqueueError("queue has size 0") }
        guard let available = memory.load(UInt16.self, at: driverArea &+ 2) else {
            throw VirtqueueError("driver area 0x\(String(driverArea, radix: 16)) is outside RAM")
        }
        let pending = available &- lastAvailable
        guard pending <= size else {
            throw VirtqueueError("available index moved from \(lastAvailable) to \(available) (queue size \(size))")
        }
        guard pending > 0 else { return nil }
        let slot = UInt64(lastAvailable % size)
        guard let head = memory.load(UInt16.self, at: driverArea &+ 4 &+ slot * 2) else {
            throw VirtqueueError("available ring slot \(slot) is outside RAM")
        }
        let chain = try walk(from: head, memory)
        lastAvailable &+= 1
        return chain
    }

    /// Follows a chain from `head`: at most `size` descriptors (more means a loop), each inside
    /// the table, each buffer wholly in RAM, and no device-readable buffer after a device-writable
    /// one.
    ///
    /// An indirect descriptor (virtio 1.2 §2.7.5.3, when VIRTIO_F_INDIRECT_DESC was negotiated)
    /// must be the head and carry no NEXT flag (§2.7.5.3.1: the driver MUST NOT set both, and
    /// QEMU takes one only at the head); its buffer is a table of `length / 16` descriptors
    /// (a whole, non-zero number, at most `maximumIndirectDescriptors`), walked from entry 0
    /// with `next` indexing the table, none of them indirect again (§2.7.5.3.1). The device
    /// ignores the WRITE flag of the descriptor pointing at the table (§2.7.5.3.2).
    private func walk(from head: UInt16, _ memory: any GuestMemory) throws(VirtqueueError) -> Chain {
        var buffers: [Buffer] = []
        var sawWritable = false
        var table = descriptorTable
        var count = Int(size)
        var indirect = false
        var index = head
        // Named only when an error is thrown: no string is built per descriptor on the I/O path.
        func place() -> String { indirect ? "indirect descriptor \(index)" : "descriptor \(index)" }
        while true {
            guard index < count else {
                throw VirtqueueError(
                    indirect
                        ? "\(place()) is outside an indirect table of \(count)"
                        : "descriptor index \(index) is outside a queue of \(size)")
            }
            guard buffers.count < count else {
                throw VirtqueueError(
                    "descriptor chain from \(head) is longer than the \(indirect ? "indirect table" : "queue"): a loop")
            }
            let entry = table &+ UInt64(index) * 16
            guard let address = memory.load(UInt64.self, at: entry),
                let length = memory.load(UInt32.self, at: entry &+ 8),
                let flags = memory.load(UInt16.self, at: entry &+ 12),
                let next = memory.load(UInt16.self, at: entry &+ 14)
            else { throw VirtqueueError("\(place()) at 0x\(String(entry, radix: 16)) is outside RAM") }
            if flags & DescriptorFlag.indirect != 0 {
                guard indirectDescriptors else {
                    throw VirtqueueError("\(place()) is indirect, which was not negotiated")
                }
                guard !indirect else { throw VirtqueueError("\(place()) is indirect inside an indirect table") }
                guard buffers.isEmpty, flags & DescriptorFlag.next == 0 else {
                    throw VirtqueueError("\(place()) is indirect but not the only descriptor of its chain")
                }
                guard length > 0, length % 16 == 0, Int(length / 16) <= Self.maximumIndirectDescriptors else {
                    throw VirtqueueError(
                        "\(place()): an indirect table of \(length) bytes (a multiple of 16, at most "
                            + "\(Self.maximumIndirectDescriptors) descriptors)")
                }
                guard memory.bytes(at: address, count: Int(length)) != nil else {
                    throw VirtqueueError(
                        "\(place()): indirect table 0x\(String(address, radix: 16)) + \(length) is not in RAM")
                }
                table = address
                count = Int(length / 16)
                indirect = true
                index = 0
                continue
            }
            let writable = flags & DescriptorFlag.write != 0
            guard writable || !sawWritable else {
                throw VirtqueueError("\(place()) is device-readable after a device-writable one")
            }
            sawWritable = sawWritable || writable
            guard memory.bytes(at: address, count: Int(length)) != nil else {
                throw VirtqueueError("\(place()): buffer 0x\(String(address, radix: 16)) + \(length) is not in RAM")
            }
            buffers.append(Buffer(address: address, length: length, deviceWritable: writable))
            guard flags & DescriptorFlag.next != 0 else { break }
            index = next
        }
        return Chain(head: head, buffers: buffers)
    }

    /// Returns a chain to the driver with `written` bytes written into its writable buffers
    /// (§2.7.8), and publishes the new used index.
    public mutating func push(_ chain: Chain, written: UInt32, _ memory: any GuestMemory) throws(VirtqueueError) {
        let slot = UInt64(usedIndex % size)
        let element = deviceArea &+ 4 &+ slot * 8
        guard memory.store(UInt32(chain.head), at: element), memory.store(written, at: element &+ 4) else {
            throw VirtqueueError("used ring slot \(slot) is outside RAM")
        }
        usedIndex &+= 1
        guard memory.store(usedIndex, at: deviceArea &+ 2) else {
            throw VirtqueueError("device area 0x\(String(deviceArea, radix: 16)) is outside RAM")
        }
    }

    /// False when the driver suppressed used-buffer notifications (VIRTQ_AVAIL_F_NO_INTERRUPT).
    public func wantsInterrupt(_ memory: any GuestMemory) -> Bool {
        guard let flags = memory.load(UInt16.self, at: driverArea) else { return true }
        return flags & Self.availNoInterrupt == 0
    }

    /// The legacy (virtio-mmio version 1) layout (virtio 1.x §2.7.2 "Legacy Interfaces"): the
    /// table at `pfn` × page size, the available ring after it, the used ring at the next
    /// `align` boundary.
    public mutating func setLegacyLayout(pfn: UInt32, pageSize: UInt32, align: UInt32) {
        descriptorTable = UInt64(pfn) &* UInt64(pageSize)
        driverArea = descriptorTable &+ 16 &* UInt64(size)
        let availableEnd = driverArea &+ 6 &+ 2 &* UInt64(size)
        let alignment = UInt64(max(align, 1))
        deviceArea = (availableEnd &+ alignment &- 1) / alignment &* alignment
    }
}

/// A driver mistake found in a virtqueue; the message says which structure and why.
public struct VirtqueueError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
