import Foundation
import AArch64
import Backends
import Devices
import Hypervisor
import Synchronization

/// Builds a virtual machine of the `virt` board from a configuration: guest RAM, the devices on
/// the MMIO bus with their backends, the image and device tree in RAM, and the boot vCPU's entry
/// state (each device contributes its window here and its node in `BoardDeviceTree`).
public enum Board {
    /// Builds the VM; every failure is a `ConfigurationError` with a one-line message naming
    /// the file and the reason.
    ///
    /// The device tree is generated for the configuration unless `configuration.dtb` names one;
    /// `dumpDeviceTree` writes the tree the guest gets to a file (`armvisor run --dump-dtb`).
    ///
    /// `host`: the run's console backends, shared by every instance of the VM (see `BoardHost`):
    /// the VM drains them when it stops and the owner closes them. Without one the VM opens its
    /// own and closes them when it stops.
    public static func makeVM(
        name: String, configuration: VMConfiguration, host: BoardHost? = nil, dumpDeviceTree: String? = nil
    ) throws -> VirtualMachine {
        let memorySize = try configuration.memoryBytes()
        let cpus = try configuration.cpuCount()
        let conduit = try configuration.psciConduit()
        let gicVersion = try configuration.gicVersion()
        let icount = try configuration.usesInstructionCountClock()
        _ = try configuration.stopTimeoutSeconds()
        let ramBase = BoardRegion.ram.base
        // QEMU `-bios` with `-kernel`: the firmware runs from flash and finds the kernel in RAM.
        let image = try configuration.kernel.map {
            try GuestImage.load(path: $0, ramBase: ramBase, ramSize: memorySize)
        }
        let firmware = try configuration.bios.map { try Self.loadFirmware($0) }
        if image == nil && firmware == nil {
            throw ConfigurationError("no guest image: set 'kernel' (or --kernel FILE) or 'bios' (or --bios FILE)")
        }

        // Every check that needs no backend comes before the first one is made (a `file:` console
        // is truncated when it opens).
        if image == nil && (configuration.initrd != nil || configuration.append != nil) {
            throw ConfigurationError("'initrd' and 'append' are for a Linux 'kernel', not for 'bios'")
        }
        let initrd = try configuration.initrd.map { try Self.loadInitrd($0) }
        if configuration.virtioConsole == "stdio" && (configuration.console ?? "stdio") == "stdio" {
            throw ConfigurationError(
                "'console' and 'virtio-console' cannot both be stdio: give one of them another backend")
        }
        // QEMU hw/arm/boot.c: the initrd at max(RAM base + min(RAM/2, 128 MiB), image end),
        // page aligned; the DTB after it, 2 MiB aligned.
        var initrdRange: Range<UInt64>?
        if let initrd, let image, let path = configuration.initrd {
            let start = (max(ramBase + min(memorySize / 2, 128 << 20), image.endAddress) + 0xFFF) & ~0xFFF
            let end = start + UInt64(initrd.count)
            guard end <= ramBase + memorySize else {
                throw ConfigurationError(
                    "initrd \(path): \(initrd.count) bytes at 0x\(String(start, radix: 16)) do not fit in RAM "
                        + "(ends at 0x\(String(ramBase + memorySize, radix: 16)))")
            }
            initrdRange = start..<end
        }

        let dtb: [UInt8]
        if let path = configuration.dtb {
            dtb = try DeviceTreeFile.patchChosen(
                DeviceTreeFile.load(path: path), path: path, bootargs: configuration.append, initrd: initrdRange,
                stdoutPath: BoardDeviceTree.stdoutPath, deterministicSeeds: icount)
        } else {
            dtb = try BoardDeviceTree.build(
                memorySize: memorySize, cpuMPIDRs: (0..<cpus).map { VCPU.mpidr(index: $0) },
                bootargs: configuration.append ?? "",
                initrd: initrdRange, psciMethod: conduit.rawValue, gicVersion: gicVersion, deterministicSeeds: icount)
        }
        if let dumpDeviceTree {
            guard FileManager.default.createFile(atPath: dumpDeviceTree, contents: Data(dtb)) else {
                throw ConfigurationError(
                    "cannot write device tree \(dumpDeviceTree): \(String(cString: strerror(errno)))")
            }
        }
        // Where the DTB goes: after the kernel and initrd (`placeDeviceTree`); with firmware at the
        // start of RAM (hw/arm/boot.c, "DTB at the start of RAM" for firmware boots), where it must
        // not meet a kernel given too.
        let dtbAddress: UInt64
        if firmware == nil, let image, let kernel = configuration.kernel {
            dtbAddress = try placeDeviceTree(
                size: UInt64(dtb.count), image: image, ramSize: memorySize, kernel: kernel,
                after: initrdRange?.upperBound)
        } else {
            guard UInt64(dtb.count) <= memorySize else {
                throw ConfigurationError("the device tree (\(dtb.count) bytes) does not fit in RAM")
            }
            if let image, let kernel = configuration.kernel, image.lowestAddress < ramBase + UInt64(dtb.count) {
                throw ConfigurationError(
                    "kernel \(kernel): it starts at 0x\(String(image.lowestAddress, radix: 16)), inside the device "
                        + "tree the firmware gets at 0x\(String(ramBase, radix: 16)) (\(dtb.count) bytes)")
            }
            dtbAddress = ramBase
        }
        _ = try VirtioBoardDevices.version(configuration)

        let ownsHost = host == nil
        let host = host ?? BoardHost()
        let (backends, opened) = try host.open(configuration)
        // From here on a failure closes what this build opened (a `unix:` socket, a pty, a
        // terminal in raw mode) before it is reported.
        do {
            // The control plane's `console` sessions attach here, whatever the configured backend.
            let tap = backends.tap
            let uart = PL011(backend: tap)
            // The virtual GIC: for GICv3 the distributor and one 128 KiB redistributor per vCPU, for
            // GICv2 the distributor and the CPU interface; the PL011 drives SPI 1 (QEMU virt's
            // a15irqmap).
            let cpuInterface = BoardRegion.gicCPUInterface.window
            let gic = VGIC(
                vcpuCount: cpus, mpidrs: (0..<cpus).map { VCPU.mpidr(index: $0) }, version: gicVersion,
                cpuInterfaceWindow: cpuInterface.base..<(cpuInterface.base + cpuInterface.size))
            if let spi = BoardRegion.uart.spi { uart.interruptLine = { [gic] level in gic.setSPI(spi, level: level) } }
            let rtc = PL031()
            if let spi = BoardRegion.rtc.spi { rtc.interruptLine = { [gic] level in gic.setSPI(spi, level: level) } }
            let gpio = PL061()
            if let spi = BoardRegion.gpio.spi { gpio.interruptLine = { [gic] level in gic.setSPI(spi, level: level) } }
            var windows: [MMIOBus.Window] = [
                .init(base: BoardRegion.uart.base, size: BoardRegion.uart.window.size, device: uart),
                .init(base: BoardRegion.rtc.base, size: BoardRegion.rtc.window.size, device: rtc),
                .init(base: BoardRegion.gpio.base, size: BoardRegion.gpio.window.size, device: gpio),
            ]
            if gicVersion == 2 {
                windows += [
                    .init(
                        base: BoardRegion.gicDistributor.base, size: BoardRegion.gicDistributor.window.size,
                        device: VGICv2Distributor(gic)),
                    .init(
                        base: BoardRegion.gicCPUInterface.base, size: BoardRegion.gicCPUInterface.window.size,
                        device: VGICv2CPUInterface()),
                ]
            } else {
                windows += [
                    .init(
                        base: BoardRegion.gicDistributor.base, size: BoardRegion.gicDistributor.window.size,
                        device: VGICDistributor(gic)),
                    .init(
                        base: BoardRegion.gicRedistributors.base, size: UInt64(cpus) * 0x2_0000,
                        device: VGICRedistributors(gic)),
                ]
            }
            // The two CFI flash banks (QEMU virt `virt_flash_create`): bank 0 holds `bios` as
            // read-only memory the vCPU executes in place, or is a volatile flash without one; bank 1
            // is the `pflash` file, or volatile.
            let flash1: CFIFlash
            do {
                if firmware == nil {
                    windows.append(
                        .init(
                            base: BoardRegion.flash.base, size: Self.flashBankSize,
                            device: try CFIFlash(name: "pflash0")))
                }
                flash1 = try CFIFlash(name: "pflash1", path: configuration.pflash)
            } catch {
                throw ConfigurationError("\(error)")
            }
            windows.append(
                .init(base: BoardRegion.flash.base + Self.flashBankSize, size: Self.flashBankSize, device: flash1))
            let memory: MachineMemory
            do {
                memory = try MachineMemory(
                    base: ramBase, size: memorySize, romSize: firmware == nil ? 0 : Self.flashBankSize, cores: cpus)
            } catch {
                throw ConfigurationError("\(error)")
            }
            let virtio = try VirtioBoardDevices(configuration: configuration, console: backends.virtioConsole)
            windows += try virtio.transports(memory: memory, gic: gic, configuration: configuration)
            let bus = try MMIOBus(windows: windows)
            // A VM with its own host closes it when it stops; a shared one is the owner's to close.
            let boardHost: BoardHost = host
            let keepsHost = !ownsHost
            let hooks: [@Sendable () -> Void] =
                [{ flash1.flush() }] + virtio.shutdownHooks + [
                    {
                        if keepsHost { boardHost.drain() } else { boardHost.close() }
                    }
                ]
            let vm = VirtualMachine(
                name: name, memory: memory, bus: bus, vcpuCount: cpus,
                exitTable: conduit == .smc ? .smcConduit : .standard,
                shutdownHooks: hooks,
                romAddress: firmware == nil ? nil : BoardRegion.flash.base, gic: gic, console: tap)

            for vcpu in vm.vcpus { vcpu.cpu.icount = icount }

            if let image {
                for segment in image.segments {
                    segment.bytes.withUnsafeBytes { _ = memory.write($0, at: segment.address) }
                }
                if let initrd, let initrdRange {
                    initrd.withUnsafeBytes { _ = memory.write($0, at: initrdRange.lowerBound) }
                }
            }
            // QEMU `-bios`: the firmware runs in place from flash bank 0 (a kernel given too waits
            // in RAM where the firmware can boot it: U-Boot `booti`).
            firmware?.withUnsafeBytes { _ = memory.writeROM($0, at: 0) }
            dtb.withUnsafeBytes { _ = memory.write($0, at: dtbAddress) }
            vm.setBootState(entry: firmware != nil ? BoardRegion.flash.base : image?.entry ?? ramBase, x0: dtbAddress)
            return vm
        } catch {
            if opened { host.close() }
            throw error
        }
    }

    /// The PL061 line the power button drives (QEMU virt: "use gpio Pin 3 for power button event").
    public static let powerButtonPin = 3

    /// The power button of a VM built by `makeVM`: a `GPIOKey` on its PL061's pin 3, timing its
    /// 100 ms press by `clock`; nil for a VM without the board's GPIO controller.
    public static func powerButton(of vm: VirtualMachine, clock: any DeviceClock = HostDeviceClock()) -> GPIOKey? {
        guard let gpio = vm.bus.resolve(BoardRegion.gpio.base)?.device as? PL061 else { return nil }
        return GPIOKey(gpio: gpio, pin: powerButtonPin, clock: clock)
    }

    /// One bank of the `virt` board's flash (QEMU: two 64 MiB pflash banks at 0x0).
    static let flashBankSize: UInt64 = 64 << 20

    /// Reads an initial ramdisk; errors name the file and the reason.
    static func loadInitrd(_ path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw ConfigurationError("initrd \(path): no such file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("initrd \(path): cannot be read")
        }
        return [UInt8](data)
    }

    /// Reads a firmware image for flash bank 0; errors name the file and the reason.
    static func loadFirmware(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file"
            throw ConfigurationError("bios \(path): \(reason)")
        }
        guard !data.isEmpty else { throw ConfigurationError("bios \(path): empty file") }
        guard UInt64(data.count) <= flashBankSize else {
            throw ConfigurationError("bios \(path): \(data.count) bytes does not fit in the 64 MiB flash bank")
        }
        return [UInt8](data)
    }

    /// Where the DTB goes (QEMU `hw/arm/boot.c`): for an ELF that leaves room below itself, the
    /// start of RAM; otherwise after the image, at max(RAM base + min(RAM/2, 128 MiB), image end)
    /// aligned up to 2 MiB (where QEMU puts the initrd, and the DTB after it).
    /// `after`: the end of the initrd, when there is one.
    static func placeDeviceTree(
        size: UInt64, image: GuestImage, ramSize: UInt64, kernel: String, after initrdEnd: UInt64? = nil
    ) throws -> UInt64 {
        let ramBase = BoardRegion.ram.base
        let ramEnd = ramBase + ramSize
        if image.kind == .elf && image.lowestAddress >= ramBase + size {
            return ramBase
        }
        let floor = initrdEnd ?? max(ramBase + min(ramSize / 2, 128 << 20), image.endAddress)
        let address = (floor + LoadAddress.twoMiB - 1) & ~(LoadAddress.twoMiB - 1)
        guard address + size <= ramEnd else {
            throw ConfigurationError(
                "kernel \(kernel): no room for the device tree after the image (image ends at "
                    + "0x\(String(image.endAddress, radix: 16)), RAM ends at 0x\(String(ramEnd, radix: 16)))")
        }
        return address
    }

    private static let announcer = Mutex<@Sendable (String) -> Void>({ _ in })

    /// Where the board says which terminal a `pty` console got (`armvisor run` prints it on
    /// standard error, as QEMU prints "char device redirected to /dev/pts/N"; the daemon logs
    /// it). Nothing by default.
    public static var announce: @Sendable (String) -> Void {
        get { announcer.withLock { $0 } }
        set { announcer.withLock { $0 = newValue } }
    }

    private static func announced(_ backend: PTYConsoleBackend, key: String) -> PTYConsoleBackend {
        announce("\(key) on \(backend.path)" + (backend.link.map { " (link \($0))" } ?? ""))
        return backend
    }

    /// A console backend from its specification: `stdio`, `null`, `file:PATH`, `unix:PATH`,
    /// `pty` or `pty:LINK`.
    static func makeConsole(_ spec: String, key: String = "console") throws -> any ConsoleBackend {
        let target: FileConsoleBackend.Target
        do {
            switch spec {
            case "stdio": target = .standardOutput
            case "null": target = .discard
            case _ where spec.hasPrefix("unix:") && spec.count > 5:
                return try SocketConsoleBackend(path: String(spec.dropFirst(5)))
            case "pty":
                return try announced(PTYConsoleBackend(), key: key)
            case _ where spec.hasPrefix("pty:") && spec.count > 4:
                return try announced(PTYConsoleBackend(link: String(spec.dropFirst(4))), key: key)
            default:
                guard spec.hasPrefix("file:"), spec.count > 5 else {
                    throw ConfigurationError(
                        "invalid \(key) '\(spec)' (expected stdio, null, file:PATH, unix:PATH, pty or pty:LINK)")
                }
                target = .file(String(spec.dropFirst(5)))
            }
            return try FileConsoleBackend(target: target)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("\(error)")
        }
    }
}
