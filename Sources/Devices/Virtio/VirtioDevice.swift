/// A virtio device behind a transport (virtio 1.x §5): what it offers and how it serves its
/// queues. The transport (`VirtioMMIO`) owns the queues and calls a device only with its own
/// lock held, one call at a time; a device that also has state of its own (input waiting for
/// the guest) guards it with its own lock, taken after the transport's.
public protocol VirtioDevice: AnyObject, Sendable {
    /// Device ID (§5): 1 network, 2 block, 3 console, 4 entropy.
    var deviceID: UInt32 { get }
    /// Device-specific feature bits offered; the transport adds VIRTIO_F_VERSION_1 for modern
    /// drivers.
    var features: UInt64 { get }
    /// Number of virtqueues.
    var queueCount: Int { get }
    /// QueueNumMax of every queue.
    var maximumQueueSize: UInt16 { get }
    /// The device configuration space (little-endian fields, §2.5).
    var configuration: [UInt8] { get }
    /// Serves what the driver made available on queue `index` and returns whether any chain
    /// went back to the driver (the transport then interrupts it). A `VirtqueueError` is the
    /// driver's fault: the transport marks the device NEEDS_RESET.
    func process(queue index: Int, _ queue: inout Virtqueue, memory: any GuestMemory) throws(VirtqueueError) -> Bool
    /// Back to the state after power-on (a status write of 0).
    func reset()
    /// Lets the device ask for a queue to be served again from another thread (input arrived);
    /// set by the transport.
    func connect(serviceRequest: @escaping @Sendable (_ queue: Int) -> Void)
}

extension VirtioDevice {
    public var configuration: [UInt8] { [] }
    public func reset() {}
    public func connect(serviceRequest: @escaping @Sendable (_ queue: Int) -> Void) {}
}

/// Feature bits every device may offer (virtio 1.x §6).
public enum VirtioFeature {
    /// VIRTIO_F_VERSION_1 (bit 32): the modern interface; required on a version-2 virtio-mmio
    /// transport.
    public static let version1: UInt64 = 1 << 32
    /// VIRTIO_F_INDIRECT_DESC (bit 28, virtio 1.2 §2.7.5.3 / §6): a descriptor may point at a
    /// table of descriptors. The transport offers it for every device, as QEMU does.
    public static let indirectDescriptors: UInt64 = 1 << 28
}
