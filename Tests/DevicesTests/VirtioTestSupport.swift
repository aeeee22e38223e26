import Devices
import Foundation
import Hypervisor
import Synchronization

/// Guest RAM for device tests: `size` bytes at `base`, bounds-checked like the board's.
final class FakeGuestMemory: GuestMemory, @unchecked Sendable {
    let base: UInt64
    let size: Int
    private let storage: UnsafeMutableRawPointer

    init(base: UInt64 = 0x4000_0000, size: Int = 1 << 20) {
        self.base = base
        self.size = size
        storage = .allocate(byteCount: size, alignment: 4096)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    }

    deinit { storage.deallocate() }

    func bytes(at address: UInt64, count: Int) -> UnsafeMutableRawBufferPointer? {
        guard count >= 0, address >= base, address - base <= UInt64(size),
            UInt64(size) - (address - base) >= UInt64(count)
        else { return nil }
        return UnsafeMutableRawBufferPointer(start: storage + Int(address - base), count: count)
    }

    func write<T: FixedWidthInteger>(_ value: T, at address: UInt64) {
        bytes(at: address, count: MemoryLayout<T>.size)?.storeBytes(of: value.littleEndian, as: T.self)
    }

    func read<T: FixedWidthInteger>(_ type: T.Type, at address: UInt64) -> T {
        T(littleEndian: bytes(at: address, count: MemoryLayout<T>.size)?.loadUnaligned(as: T.self) ?? 0)
    }

    func write(_ data: [UInt8], at address: UInt64) {
        guard let target = bytes(at: address, count: data.count) else { return }
        for (i, byte) in data.enumerated() { target[i] = byte }
    }

    func read(_ address: UInt64, count: Int) -> [UInt8] {
        guard let source = bytes(at: address, count: count) else { return [] }
        return Array(source)
    }
}

/// A character backend for virtio-console tests: keeps what it was sent, and hands input to
/// the device on `inject`.
final class LoopbackBackend: CharacterBackend {
    private let sent = Mutex<[UInt8]>([])
    private let input = Mutex<(@Sendable ([UInt8]) -> Void)?>(nil)
    var text: String { String(decoding: sent.withLock { $0 }, as: UTF8.self) }
    func send(_ buffer: UnsafeRawBufferPointer) { sent.withLock { $0.append(contentsOf: buffer) } }
    func drain() {}
    func setInputHandler(_ handler: @escaping @Sendable ([UInt8]) -> Void) { input.withLock { $0 = handler } }
    func inject(_ bytes: [UInt8]) { input.withLock { $0 }?(bytes) }
}

/// Plays the driver's side of a virtio-mmio transport the way Linux's `virtio_mmio` does,
/// with queues laid out in a `FakeGuestMemory`: queue q's descriptor table at
/// base + 0x1000 + q × 0x4000, available ring + 0x1000, used ring + 0x2000; data buffers from
/// base + 0x8_0000 on.
struct VirtioDriver {
    enum R {
        static let magic: UInt64 = 0x000
        static let version: UInt64 = 0x004
        static let deviceID: UInt64 = 0x008
        static let vendorID: UInt64 = 0x00C
        static let deviceFeatures: UInt64 = 0x010
        static let deviceFeaturesSelect: UInt64 = 0x014
        static let driverFeatures: UInt64 = 0x020
        static let driverFeaturesSelect: UInt64 = 0x024
        static let guestPageSize: UInt64 = 0x028
        static let queueSelect: UInt64 = 0x030
        static let queueSizeMaximum: UInt64 = 0x034
        static let queueSize: UInt64 = 0x038
        static let queueAlign: UInt64 = 0x03C
        static let queuePFN: UInt64 = 0x040
        static let queueReady: UInt64 = 0x044
        static let queueNotify: UInt64 = 0x050
        static let interruptStatus: UInt64 = 0x060
        static let interruptAcknowledge: UInt64 = 0x064
        static let status: UInt64 = 0x070
        static let queueDescriptorLow: UInt64 = 0x080
        static let queueDescriptorHigh: UInt64 = 0x084
        static let queueDriverLow: UInt64 = 0x090
        static let queueDriverHigh: UInt64 = 0x094
        static let queueDeviceLow: UInt64 = 0x0A0
        static let queueDeviceHigh: UInt64 = 0x0A4
        static let configGeneration: UInt64 = 0x0FC
    }

    let transport: VirtioMMIO
    let memory: FakeGuestMemory
    let queueSize: UInt16 = 8
    /// Next free descriptor and next available slot per queue.
    var nextDescriptor: [UInt16] = [0, 0]
    var availableIndex: [UInt16] = [0, 0]
    var usedSeen: [UInt16] = [0, 0]
    var nextData: UInt64

    init(transport: VirtioMMIO, memory: FakeGuestMemory) {
        self.transport = transport
        self.memory = memory
        nextData = memory.base + 0x8_0000
    }

    func read(_ offset: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: transport.read(offset: offset, size: 4)) }
    func write(_ offset: UInt64, _ value: UInt32) { transport.write(offset: offset, size: 4, value: UInt64(value)) }

    func table(_ q: Int) -> UInt64 { memory.base + 0x1000 + UInt64(q) * 0x4000 }
    func availableRing(_ q: Int) -> UInt64 { table(q) + 0x1000 }
    func usedRing(_ q: Int) -> UInt64 { table(q) + 0x2000 }

    /// ACKNOWLEDGE, DRIVER, the device's features (all of them, or `features`), FEATURES_OK,
    /// every queue, DRIVER_OK: the modern initialization sequence (§3.1.1). Returns the status
    /// read back after FEATURES_OK.
    @discardableResult
    func initializeModern(queues: Int, features: UInt64? = nil) -> UInt32 {
        write(R.status, 0)
        write(R.status, 1)
        write(R.status, 3)
        write(R.deviceFeaturesSelect, 0)
        var offered = UInt64(read(R.deviceFeatures))
        write(R.deviceFeaturesSelect, 1)
        offered |= UInt64(read(R.deviceFeatures)) << 32
        let accepted = features ?? offered
        write(R.driverFeaturesSelect, 0)
        write(R.driverFeatures, UInt32(truncatingIfNeeded: accepted))
        write(R.driverFeaturesSelect, 1)
        write(R.driverFeatures, UInt32(truncatingIfNeeded: accepted >> 32))
        write(R.status, 0xB)
        let status = read(R.status)
        for q in 0..<queues {
            write(R.queueSelect, UInt32(q))
            write(R.queueSize, UInt32(queueSize))
            write(R.queueDescriptorLow, UInt32(truncatingIfNeeded: table(q)))
            write(R.queueDescriptorHigh, UInt32(truncatingIfNeeded: table(q) >> 32))
            write(R.queueDriverLow, UInt32(truncatingIfNeeded: availableRing(q)))
            write(R.queueDriverHigh, UInt32(truncatingIfNeeded: availableRing(q) >> 32))
            write(R.queueDeviceLow, UInt32(truncatingIfNeeded: usedRing(q)))
            write(R.queueDeviceHigh, UInt32(truncatingIfNeeded: usedRing(q) >> 32))
            write(R.queueReady, 1)
        }
        write(R.status, 0xF)
        return status
    }

    /// Guest memory for `count` bytes of data (8-byte aligned).
    mutating func allocate(_ count: Int) -> UInt64 {
        let address = nextData
        nextData += UInt64((count + 7) & ~7)
        return address
    }

    /// Writes descriptor `index` of queue `q`.
    func setDescriptor(_ q: Int, _ index: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
        let entry = table(q) + UInt64(index) * 16
        memory.write(address, at: entry)
        memory.write(length, at: entry + 8)
        memory.write(flags, at: entry + 12)
        memory.write(next, at: entry + 14)
    }

    /// Chains `buffers` (address, length, device-writable) into fresh descriptors of queue `q`
    /// and makes the chain available; returns its head. Does not notify.
    @discardableResult
    mutating func offer(_ q: Int, _ buffers: [(UInt64, UInt32, Bool)]) -> UInt16 {
        let head = nextDescriptor[q]
        for (i, buffer) in buffers.enumerated() {
            let index = (head + UInt16(i)) % queueSize
            let last = i == buffers.count - 1
            setDescriptor(
                q, index, address: buffer.0, length: buffer.1, flags: (last ? 0 : 1) | (buffer.2 ? 2 : 0),
                next: (index + 1) % queueSize)
        }
        nextDescriptor[q] = (head + UInt16(buffers.count)) % queueSize
        makeAvailable(q, head: head)
        return head
    }

    /// Puts `head` in the next available slot and publishes the index.
    mutating func makeAvailable(_ q: Int, head: UInt16) {
        memory.write(head, at: availableRing(q) + 4 + UInt64(availableIndex[q] % queueSize) * 2)
        availableIndex[q] &+= 1
        memory.write(availableIndex[q], at: availableRing(q) + 2)
    }

    func notify(_ q: Int) { write(R.queueNotify, UInt32(q)) }

    /// The used-ring elements published since the last call: (id, len).
    mutating func takeUsed(_ q: Int) -> [(id: UInt32, length: UInt32)] {
        let index = memory.read(UInt16.self, at: usedRing(q) + 2)
        var result: [(UInt32, UInt32)] = []
        while usedSeen[q] != index {
            let element = usedRing(q) + 4 + UInt64(usedSeen[q] % queueSize) * 8
            result.append((memory.read(UInt32.self, at: element), memory.read(UInt32.self, at: element + 4)))
            usedSeen[q] &+= 1
        }
        return result
    }
}
