/// The guest-physical memory map and interrupt map of the board, identical to QEMU's arm64
/// `virt` machine for the regions modelled (QEMU `hw/arm/virt.c` `base_memmap`, `a15irqmap`).
///
/// ```
///  0x0000_0000 ┌────────────────────────┐
///              │ flash (2 × 64 MiB)     │
///  0x0800_0000 ├────────────────────────┤
///              │ GIC distributor        │
///  0x0801_0000 │ GICv2 CPU interface    │
///  0x080A_0000 │ GICv3 redistributors   │
///  0x0900_0000 ├────────────────────────┤
///              │ PL011 UART    (SPI 1)  │
///  0x0901_0000 │ PL031 RTC     (SPI 2)  │
///  0x0903_0000 │ PL061 GPIO    (SPI 7)  │
///  0x0A00_0000 ├────────────────────────┤
///              │ 32 × virtio-mmio       │
///              │ (SPI 16 + i)           │
///  0x4000_0000 ├────────────────────────┤
///              │ RAM                    │
///              └────────────────────────┘
/// ```
public enum BoardRegion: Int, CaseIterable, Sendable {
    case flash, gicDistributor, gicCPUInterface, gicRedistributors, uart, rtc, gpio, virtio, ram

    /// Base address and size of each region; `ram`'s size is the configured memory size.
    public var window: (base: UInt64, size: UInt64) {
        switch self {
        case .flash: (0x0000_0000, 0x0800_0000)
        case .gicDistributor: (0x0800_0000, 0x0001_0000)
        case .gicCPUInterface: (0x0801_0000, 0x0001_0000)
        case .gicRedistributors: (0x080A_0000, 0x00F6_0000)
        case .uart: (0x0900_0000, 0x0000_1000)
        case .rtc: (0x0901_0000, 0x0000_1000)
        case .gpio: (0x0903_0000, 0x0000_1000)
        case .virtio: (0x0A00_0000, 32 * 0x200)
        case .ram: (0x4000_0000, 255 << 30)
        }
    }

    public var base: UInt64 { window.base }

    /// The shared peripheral interrupt (SPI, device-tree numbering) of a device region.
    public var spi: Int? {
        switch self {
        case .uart: 1
        case .rtc: 2
        case .gpio: 7
        case .virtio: 16
        default: nil
        }
    }
}

/// Placement constants of QEMU's `-kernel` loader (QEMU `hw/arm/boot.c`).
public enum LoadAddress {
    public static let ramBase = BoardRegion.ram.base
    /// A raw image with no Linux header, and a Linux Image with `image_size` 0.
    public static let rawImage: UInt64 = ramBase + 0x8_0000
    public static let twoMiB: UInt64 = 2 << 20
}
