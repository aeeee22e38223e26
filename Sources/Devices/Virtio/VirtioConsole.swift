import Hypervisor
import Synchronization

/// virtio-console with a single port (virtio 1.x §5.3; QEMU `hw/char/virtio-console.c`), on a
/// character backend like the PL011's: queue 0 (receiveq) takes input for the guest, queue 1
/// (transmitq) carries output. No features (no MULTIPORT, no SIZE), so the configuration space
/// (cols, rows, max_nr_ports, emerg_wr) reads as zeros and the emergency write is not offered.
///
/// Input from the backend waits in a buffer (at most `receiveLimit` bytes; more is dropped)
/// until the guest has receive buffers available; it is delivered when it arrives (the
/// backend's thread asks the transport to serve queue 0) and whenever the guest adds buffers.
public final class VirtioConsole: VirtioDevice {
    public let deviceID: UInt32 = 3
    public let features: UInt64 = 0
    public let queueCount = 2
    public let maximumQueueSize: UInt16 = 128
    public var configuration: [UInt8] { [UInt8](repeating: 0, count: 12) }
    public static let receiveLimit = 1 << 16

    static let receiveQueue = 0
    static let transmitQueue = 1

    private let backend: any CharacterBackend
    /// Input not yet delivered; a leaf lock taken under the transport's.
    private let pending = Mutex<[UInt8]>([])
    private let service = Mutex<(@Sendable (Int) -> Void)?>(nil)

    public init(backend: any CharacterBackend) {
        self.backend = backend
        backend.setInputHandler { [weak self] bytes in self?.receive(bytes) }
    }

    public func connect(serviceRequest: @escaping @Sendable (Int) -> Void) {
        service.withLock { $0 = serviceRequest }
    }

    /// Input from the backend (its loop thread).
    public func receive(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        pending.withLock { p in p.append(contentsOf: bytes.prefix(max(Self.receiveLimit - p.count, 0))) }
        service.withLock { $0 }?(Self.receiveQueue)
    }

    public func reset() {
        pending.withLock { $0.removeAll() }
    }

    public func process(queue index: Int, _ queue: inout Virtqueue, memory: any GuestMemory) throws(VirtqueueError)
        -> Bool
    {
        var used = false
        if index == Self.transmitQueue {
            while let chain = try queue.pop(memory) {
                for buffer in chain.readable {
                    guard let bytes = memory.bytes(at: buffer.address, count: Int(buffer.length)) else { continue }
                    backend.send(UnsafeRawBufferPointer(bytes))
                }
                try queue.push(chain, written: 0, memory)
                used = true
            }
            return used
        }
        while pending.withLock({ !$0.isEmpty }), let chain = try queue.pop(memory) {
            var written = 0
            for buffer in chain.writable {
                guard let bytes = memory.bytes(at: buffer.address, count: Int(buffer.length)) else { continue }
                let n = pending.withLock { p -> Int in
                    let n = min(p.count, bytes.count)
                    for i in 0..<n { bytes[i] = p[i] }
                    p.removeFirst(n)
                    return n
                }
                written += n
            }
            try queue.push(chain, written: UInt32(written), memory)
            used = true
        }
        return used
    }
}
