import Hypervisor
import Synchronization

/// The virtio-over-MMIO transport (virtio 1.x §4.2; QEMU `hw/virtio/virtio-mmio.c`), one 0x200
/// window of the `virt` board's 32 at 0x0A00_0000 + i × 0x200 on SPI 16 + i.
///
/// Version 2 is the modern register layout (§4.2.2: QueueReady, QueueDesc/Driver/Device,
/// FEATURES_OK negotiation with VIRTIO_F_VERSION_1 required); version 1 is the legacy one
/// (§4.2.4: GuestPageSize, QueuePFN, QueueAlign; only feature bits 0–31, as QEMU's legacy
/// transport offers). A transport without a device answers MagicValue, Version and VendorID
/// and reads 0 elsewhere — DeviceID 0, "no device" (§4.2.3.1.1). Registers below 0x100 take
/// 32-bit accesses only (others read 0 and are ignored, as in QEMU); the configuration space
/// at 0x100 takes any width.
///
/// Queues are served synchronously when the driver writes QueueNotify, on its vCPU thread; a
/// device with input of its own asks for service from its thread (`connect(serviceRequest:)`).
/// A malformed queue sets DEVICE_NEEDS_RESET in Status and (version 2) raises the
/// configuration-change interrupt; the device then serves nothing until the driver resets it.
public final class VirtioMMIO: MMIODevice {
    public let name: String

    /// The legacy or modern register layout, chosen per VM.
    public enum Version: UInt32, Sendable {
        case legacy = 1
        case modern = 2
    }

    public static let magic: UInt32 = 0x7472_6976  // "virt"
    /// QEMU's vendor ID ("QEMU").
    public static let vendorID: UInt32 = 0x554D_4551
    public static let windowSize: UInt64 = 0x200

    enum Register: UInt64 {
        case magic = 0x000
        case version = 0x004
        case deviceID = 0x008
        case vendorID = 0x00C
        case deviceFeatures = 0x010
        case deviceFeaturesSelect = 0x014
        case driverFeatures = 0x020
        case driverFeaturesSelect = 0x024
        case guestPageSize = 0x028
        case queueSelect = 0x030
        case queueSizeMaximum = 0x034
        case queueSize = 0x038
        case queueAlign = 0x03C
        case queuePFN = 0x040
        case queueReady = 0x044
        case queueNotify = 0x050
        case interruptStatus = 0x060
        case interruptAcknowledge = 0x064
        case status = 0x070
        case queueDescriptorLow = 0x080
        case queueDescriptorHigh = 0x084
        case queueDriverLow = 0x090
        case queueDriverHigh = 0x094
        case queueDeviceLow = 0x0A0
        case queueDeviceHigh = 0x0A4
        case configGeneration = 0x0FC
    }

    /// Device status bits (§2.1).
    public enum Status {
        public static let acknowledge: UInt32 = 1
        public static let driver: UInt32 = 2
        public static let driverOK: UInt32 = 4
        public static let featuresOK: UInt32 = 8
        public static let needsReset: UInt32 = 0x40
        public static let failed: UInt32 = 0x80
    }

    /// InterruptStatus bits (§4.2.2).
    public enum Interrupt {
        public static let usedBuffer: UInt32 = 1
        public static let configurationChange: UInt32 = 2
    }

    private struct State {
        var status: UInt32 = 0
        var deviceFeaturesSelect: UInt32 = 0
        var driverFeaturesSelect: UInt32 = 0
        var driverFeatures: UInt64 = 0
        var guestPageSize: UInt32 = 0
        var queueSelect: UInt32 = 0
        var queues: [Virtqueue]
        /// Legacy QueuePFN and QueueAlign per queue.
        var pfns: [UInt32]
        var alignments: [UInt32]
        var interruptStatus: UInt32 = 0
        var handler: (@Sendable (Bool) -> Void)?
        var level = false
        /// Why the device needs a reset, when it does.
        var failure: VirtqueueError?
    }

    public let version: Version
    public let device: (any VirtioDevice)?
    private let memory: any GuestMemory
    private let state: Mutex<State>

    public var maximumAccessSize: Int { 4 }

    public init(device: (any VirtioDevice)?, memory: any GuestMemory, version: Version = .modern, name: String? = nil) {
        self.device = device
        self.memory = memory
        self.version = version
        self.name = name ?? "virtio-mmio"
        state = Mutex(Self.resetState(for: device))
        device?.connect { [weak self] queue in self?.serve(queue: queue) }
    }

    /// The transport's interrupt output (InterruptStatus ≠ 0), wired by the board to the GIC.
    /// Called with the transport's lock held whenever the level changes (the GIC's lock is a
    /// leaf below it).
    public var interruptLine: (@Sendable (Bool) -> Void)? {
        get { state.withLock { $0.handler } }
        set { state.withLock { $0.handler = newValue } }
    }

    /// Why the device was marked NEEDS_RESET, if it was (diagnostics and tests).
    public var failure: VirtqueueError? { state.withLock { $0.failure } }

    private var offeredFeatures: UInt64 {
        guard let device else { return 0 }
        switch version {
        case .modern: return device.features | VirtioFeature.version1 | VirtioFeature.indirectDescriptors
        case .legacy: return (device.features | VirtioFeature.indirectDescriptors) & 0xFFFF_FFFF
        }
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        if offset >= 0x100 {
            guard let device else { return 0 }
            let config = device.configuration
            let start = Int(offset - 0x100)
            guard start + size <= config.count else { return 0 }
            return (0..<size).reduce(0) { $0 | UInt64(config[start + $1]) << UInt64($1 * 8) }
        }
        guard size == 4, let register = Register(rawValue: offset) else { return 0 }
        switch register {
        case .magic: return UInt64(Self.magic)
        case .version: return UInt64(version.rawValue)
        case .vendorID: return UInt64(Self.vendorID)
        default: break
        }
        guard let device else { return 0 }
        return state.withLock { s -> UInt64 in
            let queue = Int(s.queueSelect)
            let exists = queue < s.queues.count
            switch register {
            case .deviceID: return UInt64(device.deviceID)
            case .deviceFeatures:
                guard s.deviceFeaturesSelect < 2 else { return 0 }
                return (offeredFeatures >> (32 * UInt64(s.deviceFeaturesSelect))) & 0xFFFF_FFFF
            case .queueSizeMaximum: return exists ? UInt64(device.maximumQueueSize) : 0
            case .queueReady:
                guard version == .modern, exists else { return 0 }
                return s.queues[queue].ready ? 1 : 0
            case .queuePFN:
                guard version == .legacy, exists else { return 0 }
                return UInt64(s.pfns[queue])
            case .interruptStatus: return UInt64(s.interruptStatus)
            case .status: return UInt64(s.status)
            case .configGeneration: return 0
            default: return 0
            }
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard offset < 0x100, size == 4, let register = Register(rawValue: offset), let device else { return }
        let v = UInt32(truncatingIfNeeded: value)
        if register == .queueNotify {
            serve(queue: Int(v))
            return
        }
        state.withLock { s in
            let queue = Int(s.queueSelect)
            let exists = queue < s.queues.count
            // Queue layout may change only while the queue is not live (§4.2.3.2).
            let configurable = exists && !s.queues[queue].ready && (version == .modern || s.pfns[queue] == 0)
            switch register {
            case .deviceFeaturesSelect: s.deviceFeaturesSelect = v
            case .driverFeaturesSelect: s.driverFeaturesSelect = v
            case .driverFeatures:
                guard s.driverFeaturesSelect < 2, s.status & Status.featuresOK == 0 else { return }
                let shift = 32 * UInt64(s.driverFeaturesSelect)
                s.driverFeatures = (s.driverFeatures & ~(0xFFFF_FFFF << shift)) | (UInt64(v) << shift)
            case .guestPageSize: if version == .legacy { s.guestPageSize = v }
            case .queueSelect: s.queueSelect = v
            case .queueSize:
                // A power of two no larger than QueueNumMax (§2.7: "Queue Size").
                guard configurable, v > 0, v <= UInt32(device.maximumQueueSize), v & (v - 1) == 0 else { return }
                s.queues[queue].size = UInt16(v)
            case .queueAlign: if version == .legacy && exists { s.alignments[queue] = v }
            case .queuePFN:
                guard version == .legacy, exists else { return }
                s.pfns[queue] = v
                if v == 0 {
                    let size = s.queues[queue].size
                    s.queues[queue].reset()
                    s.queues[queue].size = size
                } else {
                    s.queues[queue].setLegacyLayout(pfn: v, pageSize: s.guestPageSize, align: s.alignments[queue])
                }
            case .queueReady:
                guard version == .modern, exists else { return }
                if v & 1 == 0 {
                    let size = s.queues[queue].size
                    s.queues[queue].reset()
                    s.queues[queue].size = size
                } else if s.queues[queue].size > 0 {
                    s.queues[queue].ready = true
                }
            case .queueDescriptorLow: if configurable { setLow(&s.queues[queue].descriptorTable, v) }
            case .queueDescriptorHigh: if configurable { setHigh(&s.queues[queue].descriptorTable, v) }
            case .queueDriverLow: if configurable { setLow(&s.queues[queue].driverArea, v) }
            case .queueDriverHigh: if configurable { setHigh(&s.queues[queue].driverArea, v) }
            case .queueDeviceLow: if configurable { setLow(&s.queues[queue].deviceArea, v) }
            case .queueDeviceHigh: if configurable { setHigh(&s.queues[queue].deviceArea, v) }
            case .interruptAcknowledge:
                s.interruptStatus &= ~v
                updateLine(&s)
            case .status: writeStatus(v, &s)
            case .magic, .version, .deviceID, .vendorID, .deviceFeatures, .queueSizeMaximum, .queueNotify,
                .interruptStatus, .configGeneration:
                return
            }
        }
    }

    private func setLow(_ field: inout UInt64, _ value: UInt32) { field = (field & ~0xFFFF_FFFF) | UInt64(value) }
    private func setHigh(_ field: inout UInt64, _ value: UInt32) {
        field = (field & 0xFFFF_FFFF) | UInt64(value) << 32
    }

    private func writeStatus(_ value: UInt32, _ s: inout State) {
        guard value != 0 else {
            resetLocked(&s)
            return
        }
        var status = value & 0xFF
        // FEATURES_OK sticks only for a subset of what was offered that, on the modern
        // interface, includes VIRTIO_F_VERSION_1 (§2.2.2, §6.1).
        if version == .modern && status & Status.featuresOK != 0 && s.status & Status.featuresOK == 0 {
            let acceptable =
                s.driverFeatures & ~offeredFeatures == 0 && s.driverFeatures & VirtioFeature.version1 != 0
            if !acceptable { status &= ~Status.featuresOK }
        }
        // NEEDS_RESET is the device's to set and stays until a reset.
        s.status = status | (s.status & Status.needsReset)
    }

    /// The state after power-on or a reset: every queue at QueueNumMax entries (QEMU's default
    /// when the driver never writes QueueNum), not live, legacy alignment 4096.
    private static func resetState(for device: (any VirtioDevice)?) -> State {
        let count = device?.queueCount ?? 0
        var queue = Virtqueue()
        queue.size = device?.maximumQueueSize ?? 0
        return State(
            queues: Array(repeating: queue, count: count), pfns: Array(repeating: 0, count: count),
            alignments: Array(repeating: 4096, count: count))
    }

    /// A status write of 0 (§4.2.2): the device and its queues back to their reset state. The
    /// legacy GuestPageSize is the transport's, not the device's, and survives it (as in QEMU):
    /// Linux and U-Boot write it once, at probe, before they reset the device.
    private func resetLocked(_ s: inout State) {
        let handler = s.handler
        let level = s.level
        let pageSize = s.guestPageSize
        s = Self.resetState(for: device)
        s.guestPageSize = pageSize
        s.handler = handler
        s.level = level
        device?.reset()
        updateLine(&s)
    }

    /// Serves queue `index` if the driver has set it up and the device is live (DRIVER_OK, no
    /// NEEDS_RESET); interrupts the driver when chains went back and it did not suppress it.
    func serve(queue index: Int) {
        guard let device else { return }
        state.withLock { s in
            guard index >= 0, index < s.queues.count, s.status & Status.driverOK != 0,
                s.status & Status.needsReset == 0
            else { return }
            let live = version == .modern ? s.queues[index].ready : s.pfns[index] != 0
            guard live else { return }
            s.queues[index].indirectDescriptors = s.driverFeatures & VirtioFeature.indirectDescriptors != 0
            do throws(VirtqueueError) {
                let used = try device.process(queue: index, &s.queues[index], memory: memory)
                if used && s.queues[index].wantsInterrupt(memory) {
                    s.interruptStatus |= Interrupt.usedBuffer
                }
            } catch {
                s.failure = error
                s.status |= Status.needsReset
                if version == .modern { s.interruptStatus |= Interrupt.configurationChange }
            }
            updateLine(&s)
        }
    }

    private func updateLine(_ s: inout State) {
        let level = s.interruptStatus != 0
        guard level != s.level else { return }
        s.level = level
        s.handler?(level)
    }
}
