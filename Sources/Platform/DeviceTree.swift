import CFDT
import Foundation

/// Writes a flattened device tree with libfdt's sequential-write API (`fdt_create`,
/// `fdt_begin_node`, `fdt_property`, `fdt_finish`; Devicetree Specification v0.4).
public struct DeviceTreeWriter: ~Copyable {
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int

    public struct Failure: Error, CustomStringConvertible {
        public let call: String
        public let code: Int32
        public var description: String { "libfdt \(call) failed: \(String(cString: fdt_strerror(code)))" }
    }

    public init(capacity: Int = 64 * 1024) throws {
        self.capacity = capacity
        buffer = .allocate(byteCount: capacity, alignment: 8)
        try check("fdt_create", fdt_create(buffer, Int32(capacity)))
        try check("fdt_finish_reservemap", fdt_finish_reservemap(buffer))
    }

    deinit { buffer.deallocate() }

    private func check(_ call: String, _ result: Int32) throws {
        if result < 0 { throw Failure(call: call, code: result) }
    }

    public func beginNode(_ name: String) throws { try check("fdt_begin_node", fdt_begin_node(buffer, name)) }
    public func endNode() throws { try check("fdt_end_node", fdt_end_node(buffer)) }

    public func property(_ name: String, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            try check("fdt_property", fdt_property(buffer, name, raw.baseAddress, Int32(raw.count)))
        }
    }

    /// A string-list property ("a\0b\0").
    public func property(_ name: String, strings: [String]) throws {
        try property(name, bytes: strings.flatMap { Array($0.utf8) + [0] })
    }

    public func property(_ name: String, string: String) throws { try property(name, strings: [string]) }

    /// A property of big-endian 32-bit cells.
    public func property(_ name: String, cells: [UInt32]) throws {
        try property(name, bytes: cells.flatMap { withUnsafeBytes(of: $0.bigEndian, Array.init) })
    }

    public func property(_ name: String, u64 values: [UInt64]) throws {
        try property(name, cells: values.flatMap { [UInt32($0 >> 32), UInt32(truncatingIfNeeded: $0)] })
    }

    public func emptyProperty(_ name: String) throws { try property(name, bytes: []) }

    /// Finishes the tree and returns the blob, packed to its real size.
    public consuming func finish() throws -> [UInt8] {
        try check("fdt_finish", fdt_finish(buffer))
        try check("fdt_pack", fdt_pack(buffer))
        // fdt_totalsize() is a macro: the header's big-endian `totalsize` field at offset 4.
        let size = Int(UInt32(bigEndian: buffer.load(fromByteOffset: 4, as: UInt32.self)))
        return Array(UnsafeRawBufferPointer(start: buffer, count: size))
    }
}

/// The device tree of a VM on the `virt` board (QEMU `hw/arm/virt.c` `create_fdt` and the
/// `create_*` functions): the nodes for what the board models today.
public enum BoardDeviceTree {
    public static let clockPhandle: UInt32 = 0x8000
    public static let gicPhandle: UInt32 = 0x8001
    public static let gpioPhandle: UInt32 = 0x8002
    /// Linux `include/uapi/linux/input-event-codes.h` KEY_POWER.
    static let keyPower: UInt32 = 116
    /// Interrupt specifier flags (include/dt-bindings/interrupt-controller): level high.
    static let levelHigh: UInt32 = 4
    /// Rising edge.
    static let edgeRising: UInt32 = 1
    public static let uartClockHz: UInt32 = 24_000_000
    /// The console the kernel writes to before its drivers probe: the PL011's node.
    public static let stdoutPath = "/pl011@\(String(BoardRegion.uart.base, radix: 16))"

    /// `initrd` is the guest-physical range of the initial ramdisk, if any.
    public static func build(
        memorySize: UInt64, cpuMPIDRs: [UInt64], bootargs: String = "", initrd: Range<UInt64>? = nil,
        psciMethod: String = "hvc", gicVersion: Int = 3, deterministicSeeds: Bool = false
    ) throws -> [UInt8] {
        let fdt = try DeviceTreeWriter()
        let uart = BoardRegion.uart.window
        let ram = BoardRegion.ram.base
        try fdt.beginNode("")
        try fdt.property("#address-cells", cells: [2])
        try fdt.property("#size-cells", cells: [2])
        try fdt.property("compatible", string: "linux,dummy-virt")
        try fdt.property("model", string: "armvisor virt (QEMU virt compatible)")
        try fdt.property("interrupt-parent", cells: [gicPhandle])

        try fdt.beginNode("chosen")
        try fdt.property("stdout-path", string: stdoutPath)
        try fdt.property("bootargs", string: bootargs)
        if let initrd {
            // As QEMU writes them: #address-cells (2) wide.
            try fdt.property("linux,initrd-start", u64: [initrd.lowerBound])
            try fdt.property("linux,initrd-end", u64: [initrd.upperBound])
        }
        try fdt.property("kaslr-seed", bytes: seedBytes(8, deterministic: deterministicSeeds))
        try fdt.property("rng-seed", bytes: seedBytes(32, deterministic: deterministicSeeds))
        try fdt.endNode()

        try fdt.beginNode("memory@\(String(ram, radix: 16))")
        try fdt.property("device_type", string: "memory")
        try fdt.property("reg", u64: [ram, memorySize])
        try fdt.endNode()

        try fdt.beginNode("cpus")
        try fdt.property("#address-cells", cells: [1])
        try fdt.property("#size-cells", cells: [0])
        for mpidr in cpuMPIDRs {
            let affinity = UInt32(truncatingIfNeeded: mpidr & 0xFF_FFFF)
            try fdt.beginNode("cpu@\(String(affinity, radix: 16))")
            try fdt.property("device_type", string: "cpu")
            try fdt.property("compatible", string: "arm,cortex-a57")
            try fdt.property("reg", cells: [affinity])
            try fdt.property("enable-method", string: "psci")
            try fdt.endNode()
        }
        try fdt.endNode()

        try fdt.beginNode("psci")
        try fdt.property("compatible", strings: ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
        try fdt.property("method", string: psciMethod)
        try fdt.endNode()

        let distributor = BoardRegion.gicDistributor.window
        if gicVersion == 2 {
            // GICv2 (QEMU virt `create_gic`): GICD, then the CPU interface.
            let cpuInterface = BoardRegion.gicCPUInterface.window
            try fdt.beginNode("intc@\(String(distributor.base, radix: 16))")
            try fdt.property("compatible", string: "arm,cortex-a15-gic")
            try fdt.property("#interrupt-cells", cells: [3])
            try fdt.property("interrupt-controller", bytes: [])
            // As QEMU writes them (room for a GICv2m child); dtc wants them on a provider.
            try fdt.property("#address-cells", cells: [2])
            try fdt.property("#size-cells", cells: [2])
            try fdt.property("ranges", bytes: [])
            try fdt.property("reg", u64: [distributor.base, distributor.size, cpuInterface.base, cpuInterface.size])
            try fdt.property("phandle", cells: [gicPhandle])
            try fdt.endNode()
        } else {
            // GICv3 (QEMU virt `create_gic`): GICD then the redistributor region.
            let redistributors = BoardRegion.gicRedistributors.base
            try fdt.beginNode("intc@\(String(distributor.base, radix: 16))")
            try fdt.property("compatible", string: "arm,gic-v3")
            try fdt.property("#interrupt-cells", cells: [3])
            try fdt.property("interrupt-controller", bytes: [])
            // As QEMU writes them (room for an ITS child node); dtc wants them on a provider.
            try fdt.property("#address-cells", cells: [2])
            try fdt.property("#size-cells", cells: [2])
            try fdt.property("ranges", bytes: [])
            try fdt.property("#redistributor-regions", cells: [1])
            try fdt.property(
                "reg", u64: [distributor.base, distributor.size, redistributors, UInt64(cpuMPIDRs.count) * 0x2_0000])
            try fdt.property("phandle", cells: [gicPhandle])
            try fdt.endNode()
        }

        // The generic timer's PPIs: secure physical 13, non-secure physical 14, virtual 11,
        // hypervisor 10 (INTIDs 29, 30, 27, 26), level high; a GICv2 PPI specifier also names
        // the CPUs it reaches in bits [15:8] (QEMU virt `fdt_add_timer_nodes`).
        let ppiFlags = levelHigh | (gicVersion == 2 ? UInt32((1 << min(cpuMPIDRs.count, 8)) - 1) << 8 : 0)
        try fdt.beginNode("timer")
        try fdt.property("compatible", strings: ["arm,armv8-timer", "arm,armv7-timer"])
        try fdt.property("interrupts", cells: [1, 13, ppiFlags, 1, 14, ppiFlags, 1, 11, ppiFlags, 1, 10, ppiFlags])
        try fdt.property("always-on", bytes: [])
        try fdt.endNode()

        try fdt.beginNode("apb-pclk")
        try fdt.property("compatible", string: "fixed-clock")
        try fdt.property("#clock-cells", cells: [0])
        try fdt.property("clock-frequency", cells: [uartClockHz])
        try fdt.property("clock-output-names", string: "clk24mhz")
        try fdt.property("phandle", cells: [clockPhandle])
        try fdt.endNode()

        try fdt.beginNode("pl011@\(String(uart.base, radix: 16))")
        try fdt.property("compatible", strings: ["arm,pl011", "arm,primecell"])
        try fdt.property("reg", u64: [uart.base, uart.size])
        try fdt.property("clocks", cells: [clockPhandle, clockPhandle])
        try fdt.property("clock-names", strings: ["uartclk", "apb_pclk"])
        if let spi = BoardRegion.uart.spi { try fdt.property("interrupts", cells: [0, UInt32(spi), levelHigh]) }
        try fdt.endNode()

        try flashNode(fdt)
        try rtcNode(fdt)
        try gpioNodes(fdt)
        try virtioNodes(fdt)

        try fdt.endNode()
        return try fdt.finish()
    }

    /// `count` bytes for /chosen's `kaslr-seed` (8 bytes: the kernel's KASLR offset,
    /// Documentation/devicetree/bindings/chosen.txt) and `rng-seed` (32 bytes credited to the
    /// guest's entropy pool), as QEMU virt's `create_randomness` writes them: from the host's
    /// entropy pool (`SystemRandomNumberGenerator`, `getrandom(2)` on Linux), or — for the
    /// icount clock, whose runs must repeat exactly — the same bytes every time (SplitMix64 from
    /// a fixed seed; a guest that relocates itself by the seed relocates the same way).
    public static func seedBytes(_ count: Int, deterministic: Bool) -> [UInt8] {
        guard deterministic else {
            var generator = SystemRandomNumberGenerator()
            return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        }
        var state = 0x9E37_79B9_7F4A_7C15 &* UInt64(count)
        return (0..<count).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return UInt8(truncatingIfNeeded: z ^ (z >> 31))
        }
    }

    /// The SPI interrupt specifier of a device region: <0 spi level-high>.
    static func interrupts(of region: BoardRegion) -> [UInt32] {
        [0, UInt32(region.spi ?? 0), levelHigh]
    }

    /// The two CFI flash banks as one `cfi-flash` node on a 32-bit bus (QEMU virt
    /// `virt_flash_fdt`, binding Documentation/devicetree/bindings/mtd/mtd-physmap.yaml).
    static func flashNode(_ fdt: borrowing DeviceTreeWriter) throws {
        let flash = BoardRegion.flash.window
        let bank = flash.size / 2
        try fdt.beginNode("flash@\(String(flash.base, radix: 16))")
        try fdt.property("compatible", string: "cfi-flash")
        try fdt.property("reg", u64: [flash.base, bank, flash.base + bank, bank])
        try fdt.property("bank-width", cells: [4])
        try fdt.endNode()
    }

    /// PL031 RTC (QEMU virt `create_rtc`): an AMBA primecell on the APB clock with its interrupt.
    static func rtcNode(_ fdt: borrowing DeviceTreeWriter) throws {
        let rtc = BoardRegion.rtc.window
        try fdt.beginNode("pl031@\(String(rtc.base, radix: 16))")
        try fdt.property("compatible", strings: ["arm,pl031", "arm,primecell"])
        try fdt.property("reg", u64: [rtc.base, rtc.size])
        try fdt.property("interrupts", cells: interrupts(of: .rtc))
        try fdt.property("clocks", cells: [clockPhandle])
        try fdt.property("clock-names", string: "apb_pclk")
        try fdt.endNode()
    }

    /// PL061 GPIO and the power button on its pin 3 (QEMU virt `create_gpio_devices`): the
    /// controller as an AMBA primecell with two GPIO cells, and a `gpio-keys` node whose
    /// `poweroff` key reports KEY_POWER.
    static func gpioNodes(_ fdt: borrowing DeviceTreeWriter) throws {
        let gpio = BoardRegion.gpio.window
        try fdt.beginNode("pl061@\(String(gpio.base, radix: 16))")
        try fdt.property("compatible", strings: ["arm,pl061", "arm,primecell"])
        try fdt.property("reg", u64: [gpio.base, gpio.size])
        try fdt.property("interrupts", cells: interrupts(of: .gpio))
        try fdt.property("#gpio-cells", cells: [2])
        try fdt.emptyProperty("gpio-controller")
        try fdt.property("clocks", cells: [clockPhandle])
        try fdt.property("clock-names", string: "apb_pclk")
        try fdt.property("phandle", cells: [gpioPhandle])
        try fdt.endNode()

        try fdt.beginNode("gpio-keys")
        try fdt.property("compatible", string: "gpio-keys")
        try fdt.beginNode("poweroff")
        try fdt.property("label", string: "GPIO Key Poweroff")
        try fdt.property("linux,code", cells: [keyPower])
        try fdt.property("gpios", cells: [gpioPhandle, UInt32(Board.powerButtonPin), 0])
        try fdt.endNode()
        try fdt.endNode()
    }

    /// The 32 virtio-mmio transports (QEMU virt `create_virtio_devices`): `virtio,mmio`, cache
    /// coherent DMA, a rising-edge SPI each (QEMU's GIC_FDT_IRQ_FLAGS_EDGE_LO_HI).
    static func virtioNodes(_ fdt: borrowing DeviceTreeWriter) throws {
        let region = BoardRegion.virtio.window
        let count = UInt64(32)
        let size = region.size / count
        for index in 0..<count {
            let base = region.base + index * size
            try fdt.beginNode("virtio_mmio@\(String(base, radix: 16))")
            try fdt.property("compatible", string: "virtio,mmio")
            try fdt.property("reg", u64: [base, size])
            try fdt.emptyProperty("dma-coherent")
            try fdt.property(
                "interrupts", cells: [0, UInt32(BoardRegion.virtio.spi ?? 16) + UInt32(index), edgeRising])
            try fdt.endNode()
        }
    }
}
