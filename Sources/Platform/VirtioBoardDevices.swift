import Backends
import Devices
import Hypervisor

/// The virtio devices of a VM and the 32 virtio-mmio transports they sit on (QEMU virt
/// `create_virtio_devices`): transport i at 0x0A00_0000 + i × 0x200 on SPI 16 + i. As on QEMU,
/// where the first device plugged goes to the highest-numbered transport, device k of the list
/// — the disks in order, then virtio-rng, then virtio-console — is on transport 31 − k; the
/// others answer DeviceID 0.
struct VirtioBoardDevices {
    static let transportCount = 32

    let devices: [any VirtioDevice]
    let disks: [VirtioBlock]
    let console: (any ConsoleBackend)?

    /// Opens the disks; `console` is the virtio console's backend (opened by the `BoardHost`
    /// when `virtio-console` is set). Errors name the file and the reason.
    init(configuration: VMConfiguration, console: (any ConsoleBackend)?) throws {
        var devices: [any VirtioDevice] = []
        var disks: [VirtioBlock] = []
        for (index, disk) in (configuration.disks ?? []).enumerated() {
            do {
                let device = try VirtioBlock(
                    path: disk.path, readOnly: disk.readonly ?? false, serial: "armvisor-disk\(index)")
                disks.append(device)
                devices.append(device)
            } catch {
                throw ConfigurationError("\(error)")
            }
        }
        if configuration.rng ?? false { devices.append(VirtioRNG()) }
        if let console { devices.append(VirtioConsole(backend: console)) }
        self.console = console
        guard devices.count <= Self.transportCount else {
            throw ConfigurationError("\(devices.count) virtio devices do not fit on \(Self.transportCount) transports")
        }
        self.devices = devices
        self.disks = disks
    }

    /// `virtio-version` as a transport version (2 by default).
    static func version(_ configuration: VMConfiguration) throws -> VirtioMMIO.Version {
        switch configuration.virtioVersion {
        case nil, 2?: .modern
        case 1?: .legacy
        case let other?: throw ConfigurationError("virtio-version \(other) is not 1 (legacy) or 2 (modern)")
        }
    }

    /// The bus windows of all 32 transports, their interrupt lines wired to the GIC.
    func transports(memory: MachineMemory, gic: VGIC, configuration: VMConfiguration) throws -> [MMIOBus.Window] {
        let version = try Self.version(configuration)
        let base = BoardRegion.virtio.base
        let firstSPI = BoardRegion.virtio.spi ?? 16
        return (0..<Self.transportCount).map { index in
            let slot = Self.transportCount - 1 - index
            let device = slot < devices.count ? devices[slot] : nil
            let transport = VirtioMMIO(
                device: device, memory: memory, version: version, name: "virtio-mmio\(index)")
            let spi = firstSPI + index
            transport.interruptLine = { [gic] level in gic.setSPI(spi, level: level) }
            return MMIOBus.Window(
                base: base + UInt64(index) * VirtioMMIO.windowSize, size: VirtioMMIO.windowSize, device: transport)
        }
    }

    /// At shutdown every disk is `fsync`ed, so what the guest wrote is on the host's disk (the
    /// virtio console is the `BoardHost`'s to drain and close).
    var shutdownHooks: [@Sendable () -> Void] {
        disks.map { disk in { disk.flush() } }
    }
}
