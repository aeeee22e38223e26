/// virtio-rng, the entropy device (virtio 1.x §5.4; QEMU `hw/virtio/virtio-rng.c`): one
/// request queue whose device-writable buffers the device fills with bytes from the host's
/// entropy pool (`getrandom(2)`).
public final class VirtioRNG: VirtioDevice {
    public let deviceID: UInt32 = 4
    public let features: UInt64 = 0
    public let queueCount = 1
    public let maximumQueueSize: UInt16 = 64

    public init() {}

    public func process(queue index: Int, _ queue: inout Virtqueue, memory: any GuestMemory) throws(VirtqueueError)
        -> Bool
    {
        var used = false
        while let chain = try queue.pop(memory) {
            var written: UInt32 = 0
            for buffer in chain.writable {
                guard let bytes = memory.bytes(at: buffer.address, count: Int(buffer.length)) else { break }
                Self.fill(bytes)
                written &+= buffer.length
            }
            try queue.push(chain, written: written, memory)
            used = true
        }
        return used
    }

    /// Fills `bytes` from the host's entropy pool: Swift's `SystemRandomNumberGenerator`, which
    /// is `getrandom(2)` on Linux.
    static func fill(_ bytes: UnsafeMutableRawBufferPointer) {
        var generator = SystemRandomNumberGenerator()
        var offset = 0
        while offset < bytes.count {
            let word = generator.next()
            let n = min(8, bytes.count - offset)
            withUnsafeBytes(of: word) { source in
                for i in 0..<n { bytes[offset + i] = source[i] }
            }
            offset += n
        }
    }
}
