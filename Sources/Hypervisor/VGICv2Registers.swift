import AArch64

/// The register files of the virtual GICv2 (Arm IHI 0048B chapter 4), as MMIO devices: the
/// distributor (GICD, 4 KiB used of its 64 KiB window), whose registers for INTIDs 0–31 are
/// banked per CPU, and the CPU interface at 0x0801_0000, which the guest reaches as the virtual
/// CPU interface (GICV) backed by its vCPU's list registers. KVM maps the hardware GICV there;
/// like KVM's `vgic_v2_cpuif_trap` mode, each access here is a trap the highvisor serves at
/// once from the list registers, on the accessing vCPU's thread.
extension VGIC {
    /// GICD_IIDR of the GICv2 distributor: implementer Arm (0x43B), variant 2.
    static let implementerV2: UInt64 = 0x0200_043B
    /// GICD_PIDR2: ArchRev = 2 in bits [7:4].
    static let pidr2V2: UInt64 = 0x2B

    func distributorV2Read(offset: UInt64, size: Int, vcpu: Int) -> UInt64 {
        switch offset {
        case 0x000: return UInt64(update(changes: false) { $0.distributorControl })
        case 0x004:  // GICD_TYPER: ITLinesNumber [4:0], CPUNumber [7:5].
            return UInt64(Self.intidCount / 32 - 1) | UInt64(mpidrs.count - 1) << 5
        case 0x008: return Self.implementerV2
        case 0xFE8: return Self.pidr2V2
        default: break
        }
        if let (kind, first) = Self.bitmap(offset), size == 4 {
            return bitmapAccess(kind, first: first, vcpu: vcpu, write: nil)
        }
        if offset >= 0x400 && offset < 0x400 + UInt64(Self.intidCount) {
            return priorityAccess(first: Int(offset - 0x400), size: size, vcpu: vcpu, write: nil)
        }
        if offset >= 0x800 && offset < 0x800 + UInt64(Self.intidCount) {
            return targetsAccess(first: Int(offset - 0x800), size: size, vcpu: vcpu, write: nil)
        }
        if offset >= 0xC00 && offset < 0xC00 + UInt64(Self.intidCount / 4) {
            return configurationAccess(first: Int(offset - 0xC00) * 4, vcpu: vcpu, write: nil)
        }
        if offset >= 0xF10 && offset < 0xF30 {
            return sgiSourcesAccess(first: Int(offset & 0xF), size: size, vcpu: vcpu, set: offset >= 0xF20, write: nil)
        }
        return 0
    }

    func distributorV2Write(offset: UInt64, size: Int, value: UInt64, vcpu: Int) {
        switch offset {
        case 0x000:
            update { $0.distributorControl = UInt32(value & 3) }
            for index in mpidrs.indices { kick(index) }
            return
        case 0xF00:
            // GICD_SGIR: `VGICv2Distributor.write(by:)` delivers it with the sending vCPU.
            return
        default: break
        }
        if let (kind, first) = Self.bitmap(offset), size == 4 {
            _ = bitmapAccess(kind, first: first, vcpu: vcpu, write: value)
        } else if offset >= 0x400 && offset < 0x400 + UInt64(Self.intidCount) {
            _ = priorityAccess(first: Int(offset - 0x400), size: size, vcpu: vcpu, write: value)
        } else if offset >= 0x800 && offset < 0x800 + UInt64(Self.intidCount) {
            _ = targetsAccess(first: Int(offset - 0x800), size: size, vcpu: vcpu, write: value)
        } else if offset >= 0xC00 && offset < 0xC00 + UInt64(Self.intidCount / 4) {
            _ = configurationAccess(first: Int(offset - 0xC00) * 4, vcpu: vcpu, write: value)
        } else if offset >= 0xF10 && offset < 0xF30 {
            _ = sgiSourcesAccess(first: Int(offset & 0xF), size: size, vcpu: vcpu, set: offset >= 0xF20, write: value)
        }
    }

    /// GICD_ITARGETSR (a byte per INTID): for INTIDs 0–31 read-only, the accessing CPU's own
    /// bit; for SPIs the CPUs it targets. With one CPU the registers are RAZ/WI (IHI 0048B 4.3.12).
    func targetsAccess(first: Int, size: Int, vcpu: Int, write: UInt64?) -> UInt64 {
        guard mpidrs.count > 1 else { return 0 }
        var newlyRouted: [Int] = []
        let result = update(changes: write != nil) { s -> UInt64 in
            var result: UInt64 = 0
            for byte in 0..<size where first + byte < Self.intidCount {
                let intid = first + byte
                if intid < 32 {
                    result |= UInt64(1 << vcpu) << UInt64(byte * 8)
                    continue
                }
                if let write {
                    let mask = UInt64((1 << mpidrs.count) - 1)
                    s.shared[intid - 32].route = (write >> UInt64(byte * 8)) & 0xFF & mask
                    let irq = s.shared[intid - 32]
                    if irq.enabled && irq.pending, let t = target(of: irq.route) { newlyRouted.append(t) }
                }
                result |= (s.shared[intid - 32].route & 0xFF) << UInt64(byte * 8)
            }
            return result
        }
        for t in Set(newlyRouted) { kick(t) }
        return result
    }

    /// GICD_CPENDSGIR / GICD_SPENDSGIR: a byte per SGI of the accessing CPU, bit n = pending
    /// from CPU n; writes of 1 clear or set.
    func sgiSourcesAccess(first: Int, size: Int, vcpu: Int, set: Bool, write: UInt64?) -> UInt64 {
        let result = update(changes: write != nil) { s -> UInt64 in
            var result: UInt64 = 0
            for byte in 0..<size where first + byte < 16 {
                let sgi = first + byte
                if let write {
                    let bits = UInt8(truncatingIfNeeded: write >> UInt64(byte * 8))
                    if set { s.local[vcpu][sgi].sources |= bits } else { s.local[vcpu][sgi].sources &= ~bits }
                    s.local[vcpu][sgi].latched = s.local[vcpu][sgi].sources != 0
                }
                result |= UInt64(s.local[vcpu][sgi].sources) << UInt64(byte * 8)
            }
            return result
        }
        if write != nil && set { kick(vcpu) }
        return result
    }
}

/// The GICv2 distributor as a device on the MMIO bus; INTIDs 0–31 are banked by the accessing
/// vCPU.
public final class VGICv2Distributor: MMIODevice {
    public let name = "gicv2-distributor"
    let gic: VGIC
    public init(_ gic: VGIC) { self.gic = gic }
    public var maximumAccessSize: Int { 4 }
    public func read(offset: UInt64, size: Int) -> UInt64 { gic.distributorV2Read(offset: offset, size: size, vcpu: 0) }
    public func write(offset: UInt64, size: Int, value: UInt64) {
        gic.distributorV2Write(offset: offset, size: size, value: value, vcpu: 0)
    }
    public func read(offset: UInt64, size: Int, by vcpu: VCPU) -> UInt64 {
        gic.distributorV2Read(offset: offset, size: size, vcpu: vcpu.index)
    }
    public func write(offset: UInt64, size: Int, value: UInt64, by vcpu: VCPU) {
        if offset == 0xF00 {  // GICD_SGIR
            gic.deliver(sgiTargets: gic.sendSGIv2(value, from: vcpu.index), from: vcpu)
            return
        }
        gic.distributorV2Write(offset: offset, size: size, value: value, vcpu: vcpu.index)
    }
}

/// The GICv2 CPU interface window (GICC as the guest sees it: the GICV frame): each access is
/// served from the accessing vCPU's list registers (`CPU.accessGICv2CPUInterface`).
public final class VGICv2CPUInterface: MMIODevice {
    public let name = "gicv2-cpu-interface"
    public init() {}
    public var maximumAccessSize: Int { 4 }
    /// Without a vCPU there is no banked interface to reach: reads as zero.
    public func read(offset: UInt64, size: Int) -> UInt64 { 0 }
    public func write(offset: UInt64, size: Int, value: UInt64) {}
    public func read(offset: UInt64, size: Int, by vcpu: VCPU) -> UInt64 {
        vcpu.cpu.accessGICv2CPUInterface(offset: offset, write: false, value: 0)
    }
    public func write(offset: UInt64, size: Int, value: UInt64, by vcpu: VCPU) {
        _ = vcpu.cpu.accessGICv2CPUInterface(offset: offset, write: true, value: value)
    }
}
