import AArch64

/// The register files of the virtual GICv3 (Arm IHI 0069 chapter 12), as MMIO devices on the
/// bus: the distributor (GICD, 64 KiB) and the redistributors (GICR, 128 KiB per vCPU: RD_base
/// then SGI_base). Bitmap registers take 32-bit accesses, IPRIORITYR bytes or words, IROUTER
/// 64-bit accesses or 32-bit halves; what is not modelled reads as zero and ignores writes.
extension VGIC {
    /// GICD_IIDR / GICR_IIDR: implementer Arm (0x43B), as KVM's vGICv3 reports.
    static let implementer: UInt64 = 0x0300_043B
    /// GICD_PIDR2 / GICR_PIDR2: ArchRev = 3 (GICv3) in bits [7:4].
    static let pidr2: UInt64 = 0x3B

    /// Which bitmap a register offset selects, for the set/clear register pairs.
    enum Bitmap {
        case group, setEnable, clearEnable, setPending, clearPending, setActive, clearActive
    }

    static func bitmap(_ offset: UInt64) -> (Bitmap, Int)? {
        let kind: Bitmap
        switch offset >> 7 {  // one 0x80-byte bank per kind, from 0x080
        case 1: kind = .group
        case 2: kind = .setEnable
        case 3: kind = .clearEnable
        case 4: kind = .setPending
        case 5: kind = .clearPending
        case 6: kind = .setActive
        case 7: kind = .clearActive
        default: return nil
        }
        return (kind, Int((offset & 0x7F) / 4) * 32)
    }

    /// Reads or writes 32 INTIDs from `first` in a bitmap register; `vcpu` for SGIs/PPIs.
    func bitmapAccess(_ kind: Bitmap, first: Int, vcpu: Int, write: UInt64?) -> UInt64 {
        var newlyPending: [Int] = []
        let value = update(changes: write != nil) { s -> UInt64 in
            var result: UInt64 = 0
            for bit in 0..<32 {
                let intid = first + bit
                guard intid < Self.intidCount else { break }
                let before = s[intid, vcpu]
                var irq = before
                let selected = (write ?? 0) >> UInt64(bit) & 1 == 1
                if let write {
                    switch kind {
                    case .group: irq.group1 = write >> UInt64(bit) & 1 == 1
                    case .setEnable: if selected { irq.enabled = true }
                    case .clearEnable: if selected { irq.enabled = false }
                    case .setPending: if selected { irq.latched = true }
                    case .clearPending: if selected { irq.latched = false }
                    case .setActive: if selected { irq.active = true }
                    case .clearActive: if selected { irq.active = false }
                    }
                    if irq.enabled && irq.pending && !(before.enabled && before.pending) {
                        if let t = intid < 32 ? vcpu : target(of: irq.route) { newlyPending.append(t) }
                    }
                    s[intid, vcpu] = irq
                }
                let bitSet: Bool
                switch kind {
                case .group: bitSet = irq.group1
                case .setEnable, .clearEnable: bitSet = irq.enabled
                case .setPending, .clearPending: bitSet = irq.pending
                case .setActive, .clearActive: bitSet = irq.active
                }
                if bitSet { result |= 1 << UInt64(bit) }
            }
            return result
        }
        for target in Set(newlyPending) { kick(target) }
        return value
    }

    /// IPRIORITYR (a byte per INTID, 5 priority bits) and ICFGR (2 bits per INTID, bit 1 = edge).
    func priorityAccess(first: Int, size: Int, vcpu: Int, write: UInt64?) -> UInt64 {
        update(changes: write != nil) { s in
            var result: UInt64 = 0
            for byte in 0..<size where first + byte < Self.intidCount {
                if let write {
                    s[first + byte, vcpu].priority = UInt8(truncatingIfNeeded: write >> UInt64(byte * 8)) & 0xF8
                }
                result |= UInt64(s[first + byte, vcpu].priority) << UInt64(byte * 8)
            }
            return result
        }
    }

    func configurationAccess(first: Int, vcpu: Int, write: UInt64?) -> UInt64 {
        update(changes: write != nil) { s in
            var result: UInt64 = 0
            for field in 0..<16 where first + field < Self.intidCount {
                let intid = first + field
                // SGIs are always edge; PPIs and SPIs are configurable.
                if let write, intid >= 16 { s[intid, vcpu].edge = (write >> UInt64(field * 2 + 1)) & 1 == 1 }
                if s[intid, vcpu].edge { result |= 2 << UInt64(field * 2) }
            }
            return result
        }
    }

    // MARK: Distributor

    func distributorRead(offset: UInt64, size: Int) -> UInt64 {
        switch offset {
        case 0x0000:  // GICD_CTLR: EnableGrp0/1 as written, ARE (bit 4) and DS (bit 6) RAO.
            return UInt64(update(changes: false) { $0.distributorControl }) | 1 << 4 | 1 << 6
        case 0x0004:  // GICD_TYPER: ITLinesNumber = 8 (288 INTIDs), IDbits = 9 (10-bit INTIDs).
            return UInt64(Self.intidCount / 32 - 1) | 9 << 19
        case 0x0008: return Self.implementer
        case 0xFFE8: return Self.pidr2
        default: break
        }
        if let (kind, first) = Self.bitmap(offset), size == 4 {
            // The distributor's registers for INTIDs 0–31 are RAZ/WI with affinity routing.
            return first < 32 ? 0 : bitmapAccess(kind, first: first, vcpu: 0, write: nil)
        }
        if offset >= 0x400 && offset < 0x400 + UInt64(Self.intidCount) {
            let first = Int(offset - 0x400)
            return first < 32 ? 0 : priorityAccess(first: first, size: size, vcpu: 0, write: nil)
        }
        if offset >= 0xC00 && offset < 0xC00 + UInt64(Self.intidCount / 4) {
            let first = Int(offset - 0xC00) * 4
            return first < 32 ? 0 : configurationAccess(first: first, vcpu: 0, write: nil)
        }
        if offset >= 0x6100 && offset < 0x6000 + UInt64(Self.intidCount) * 8 {
            let intid = Int((offset - 0x6000) / 8)
            let route = update(changes: false) { $0.shared[intid - 32].route }
            return offset & 4 != 0 ? route >> 32 : (size == 8 ? route : route & 0xFFFF_FFFF)
        }
        return 0
    }

    func distributorWrite(offset: UInt64, size: Int, value: UInt64) {
        if offset == 0 {
            update { $0.distributorControl = UInt32(value & 3) }
            for index in mpidrs.indices { kick(index) }
            return
        }
        if let (kind, first) = Self.bitmap(offset), size == 4, first >= 32 {
            _ = bitmapAccess(kind, first: first, vcpu: 0, write: value)
        } else if offset >= 0x420 && offset < 0x400 + UInt64(Self.intidCount) {
            _ = priorityAccess(first: Int(offset - 0x400), size: size, vcpu: 0, write: value)
        } else if offset >= 0xC08 && offset < 0xC00 + UInt64(Self.intidCount / 4) {
            _ = configurationAccess(first: Int(offset - 0xC00) * 4, vcpu: 0, write: value)
        } else if offset >= 0x6100 && offset < 0x6000 + UInt64(Self.intidCount) * 8 {
            let intid = Int((offset - 0x6000) / 8)
            update { s in
                var route = s.shared[intid - 32].route
                if size == 8 {
                    route = value
                } else if offset & 4 != 0 {
                    route = (route & 0xFFFF_FFFF) | (value & 0xFFFF_FFFF) << 32
                } else {
                    route = (route & ~0xFFFF_FFFF) | (value & 0xFFFF_FFFF)
                }
                s.shared[intid - 32].route = route & 0xFF_0000_80FF_FFFF
            }
        }
    }

    // MARK: Redistributors

    func redistributorRead(offset: UInt64, size: Int) -> UInt64 {
        let vcpu = Int(offset / 0x2_0000)
        let frame = offset % 0x2_0000
        guard vcpu < mpidrs.count else { return 0 }
        switch frame {
        case 0x0000: return 0  // GICR_CTLR: no LPIs
        case 0x0004: return Self.implementer
        case 0x0008, 0x000C:  // GICR_TYPER: Affinity [63:32], Processor_Number [23:8], Last [4]
            let mpidr = mpidrs[vcpu]
            let affinity = (mpidr & 0xFF_FFFF) | ((mpidr >> 32) & 0xFF) << 24
            var typer = affinity << 32 | UInt64(vcpu) << 8
            if vcpu == mpidrs.count - 1 { typer |= 1 << 4 }
            return frame == 0x000C ? typer >> 32 : (size == 8 ? typer : typer & 0xFFFF_FFFF)
        case 0x0014:  // GICR_WAKER: ProcessorSleep [1], ChildrenAsleep [2] follows it.
            return update(changes: false) { $0.asleep[vcpu] } ? 0b110 : 0
        case 0xFFE8: return Self.pidr2
        default: break
        }
        guard frame >= 0x1_0000 else { return 0 }
        let sgi = frame - 0x1_0000
        if let (kind, first) = Self.bitmap(sgi), first == 0, size == 4 {
            return bitmapAccess(kind, first: 0, vcpu: vcpu, write: nil)
        }
        if sgi >= 0x400 && sgi < 0x420 {
            return priorityAccess(first: Int(sgi - 0x400), size: size, vcpu: vcpu, write: nil)
        }
        if sgi == 0xC00 || sgi == 0xC04 {
            return configurationAccess(first: Int(sgi - 0xC00) * 4, vcpu: vcpu, write: nil)
        }
        return 0
    }

    func redistributorWrite(offset: UInt64, size: Int, value: UInt64) {
        let vcpu = Int(offset / 0x2_0000)
        let frame = offset % 0x2_0000
        guard vcpu < mpidrs.count else { return }
        if frame == 0x0014 {
            update { $0.asleep[vcpu] = value & 2 != 0 }
            return
        }
        guard frame >= 0x1_0000 else { return }
        let sgi = frame - 0x1_0000
        if let (kind, first) = Self.bitmap(sgi), first == 0, size == 4 {
            _ = bitmapAccess(kind, first: 0, vcpu: vcpu, write: value)
        } else if sgi >= 0x400 && sgi < 0x420 {
            _ = priorityAccess(first: Int(sgi - 0x400), size: size, vcpu: vcpu, write: value)
        } else if sgi == 0xC04 {
            _ = configurationAccess(first: 16, vcpu: vcpu, write: value)
        }
    }
}

/// GICD as a device on the MMIO bus.
public final class VGICDistributor: MMIODevice {
    public let name = "gicv3-distributor"
    let gic: VGIC
    public init(_ gic: VGIC) { self.gic = gic }
    public func read(offset: UInt64, size: Int) -> UInt64 { gic.distributorRead(offset: offset, size: size) }
    public func write(offset: UInt64, size: Int, value: UInt64) {
        gic.distributorWrite(offset: offset, size: size, value: value)
    }
}

/// The GICR frames of every vCPU as one device on the MMIO bus.
public final class VGICRedistributors: MMIODevice {
    public let name = "gicv3-redistributors"
    let gic: VGIC
    public init(_ gic: VGIC) { self.gic = gic }
    public func read(offset: UInt64, size: Int) -> UInt64 { gic.redistributorRead(offset: offset, size: size) }
    public func write(offset: UInt64, size: Int, value: UInt64) {
        gic.redistributorWrite(offset: offset, size: size, value: value)
    }
}
