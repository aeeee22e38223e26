import Foundation
import AArch64
import Backends
import Devices
import Hypervisor

/// Builds a virtual machine of the `virt` board from a configuration: guest RAM, the devices on
/// the MMIO bus with their backends, the image and device tree in RAM, and the boot vCPU's entry
/// state (each device contributes its window here and its node in `BoardDeviceTree`).
public enum Board {
    /// Builds the VM; every failure is a `ConfigurationError` with a one-line message naming
    /// the file and the reason.
    ///
    /// The device tree is generated for the configuration unless `configuration.dtb` names one;
    /// `dumpDeviceTree` writes the tree the guest gets to a file (`armvisor run --dump-dtb`).
    public static func makeVM(
        name: String, configuration: VMConfiguration, dumpDeviceTree: String? = nil
    ) throws -> VirtualMachine {
        let memorySize = try configuration.memoryBytes()
        let cpus = try configuration.cpuCount()
        guard let kernel = configuration.kernel else {
            throw ConfigurationError("no guest image: set 'kernel' (or --kernel FILE)")
        }
        let ramBase = BoardRegion.ram.base
        let image = try GuestImage.load(path: kernel, ramBase: ramBase, ramSize: memorySize)

        let console = try makeConsole(configuration.console ?? "stdio")
        let uart = PL011(backend: console)
        let bus = try MMIOBus(windows: [
            .init(base: BoardRegion.uart.base, size: BoardRegion.uart.window.size, device: uart)
        ])
        let memory: MachineMemory
        do {
            memory = try MachineMemory(base: ramBase, size: memorySize)
        } catch {
            throw ConfigurationError("\(error)")
        }
        let vm = VirtualMachine(
            name: name, memory: memory, bus: bus, vcpuCount: cpus, shutdownHooks: [{ console.drain() }])

        let dtb: [UInt8]
        if let path = configuration.dtb {
            dtb = try DeviceTreeFile.load(path: path)
        } else {
            dtb = try BoardDeviceTree.build(memorySize: memorySize, cpuMPIDRs: vm.vcpus.map(\.mpidr))
        }
        if let dumpDeviceTree {
            guard FileManager.default.createFile(atPath: dumpDeviceTree, contents: Data(dtb)) else {
                throw ConfigurationError(
                    "cannot write device tree \(dumpDeviceTree): \(String(cString: strerror(errno)))")
            }
        }
        let dtbAddress = try placeDeviceTree(size: UInt64(dtb.count), image: image, ramSize: memorySize, kernel: kernel)
        for segment in image.segments {
            segment.bytes.withUnsafeBytes { _ = memory.write($0, at: segment.address) }
        }
        dtb.withUnsafeBytes { _ = memory.write($0, at: dtbAddress) }
        vm.setBootState(entry: image.entry, x0: dtbAddress)
        return vm
    }

    /// Where the DTB goes (QEMU `hw/arm/boot.c`): for an ELF that leaves room below itself, the
    /// start of RAM; otherwise after the image, at max(RAM base + min(RAM/2, 128 MiB), image end)
    /// aligned up to 2 MiB (where QEMU puts the initrd, and the DTB after it).
    static func placeDeviceTree(size: UInt64, image: GuestImage, ramSize: UInt64, kernel: String) throws -> UInt64 {
        let ramBase = BoardRegion.ram.base
        let ramEnd = ramBase + ramSize
        if image.kind == .elf && image.lowestAddress >= ramBase + size {
            return ramBase
        }
        let floor = max(ramBase + min(ramSize / 2, 128 << 20), image.endAddress)
        let address = (floor + LoadAddress.twoMiB - 1) & ~(LoadAddress.twoMiB - 1)
        guard address + size <= ramEnd else {
            throw ConfigurationError(
                "kernel \(kernel): no room for the device tree after the image (image ends at "
                    + "0x\(String(image.endAddress, radix: 16)), RAM ends at 0x\(String(ramEnd, radix: 16)))")
        }
        return address
    }

    static func makeConsole(_ spec: String) throws -> FileConsoleBackend {
        let target: FileConsoleBackend.Target
        switch spec {
        case "stdio": target = .standardOutput
        case "null": target = .discard
        default:
            guard spec.hasPrefix("file:"), spec.count > 5 else {
                throw ConfigurationError("invalid console '\(spec)' (expected stdio, null or file:PATH)")
            }
            target = .file(String(spec.dropFirst(5)))
        }
        do {
            return try FileConsoleBackend(target: target)
        } catch {
            throw ConfigurationError("\(error)")
        }
    }
}
