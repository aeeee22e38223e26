import AArch64
import Synchronization

/// The highvisor's stage-2 translation for one VM: real VMSAv8-64 stage-2 tables in the
/// VTTBR_EL2/VTCR_EL2 format (Arm ARM D5.2, stage 2; KVM `arch/arm64/kvm/mmu.c`), which the core
/// walks after the guest's stage 1.
///
/// Geometry, as KVM's default: 40-bit IPA (T0SZ = 24), 4 KB granule, start level 1 with two
/// concatenated level-1 tables (an 8 KB root), 40-bit output (PS = 2) — VTCR_EL2 = 0x8002_3558.
/// Table pages come from a pool in machine memory after guest RAM, which no stage-2 entry maps,
/// so the guest can never see or change them.
///
/// Guest memory is described by `Slot`s (KVM memslots). Nothing is mapped up front: the first
/// touch of a page is a stage-2 translation fault, and `handleFault` maps that one 4 KB page
/// (RW, Normal write-back, AF = 1) and lets the guest retry. A read-only slot is mapped with
/// S2AP = RO, so writes to it come back as stage-2 permission faults.
///
/// Thread safety: every table change holds `lock`; vCPUs read the tables concurrently while
/// walking, which is safe because entries only go from invalid to valid while a VM runs (a
/// descriptor is one aligned 64-bit store), and anything that takes a mapping away or narrows
/// it flushes every vCPU's TLB afterwards (`invalidateAllTLBs`).
public final class Stage2: @unchecked Sendable {
    /// A range of guest-physical memory backed by machine memory (KVM `kvm_memory_slot`).
    public struct Slot: Sendable, Equatable {
        public var name: String
        public var ipa: UInt64
        public var size: UInt64
        /// Machine-physical address of the slot's first byte.
        public var physical: UInt64
        public var writable: Bool

        public init(name: String, ipa: UInt64, size: UInt64, physical: UInt64, writable: Bool) {
            self.name = name
            self.ipa = ipa
            self.size = size
            self.physical = physical
            self.writable = writable
        }

        public func contains(_ address: UInt64) -> Bool { address &- ipa < size }
    }

    /// T0SZ = 24, SL0 = 1, IRGN0 = ORGN0 = WBWA, SH0 = inner, TG0 = 4 KB, PS = 40 bits, RES1.
    public static let vtcr: UInt64 = 0x8002_3558
    static let ipaBits: UInt64 = 40
    /// Stage-2 descriptor bits (Arm ARM D5.3.x): valid, table/page, MemAttr = Normal WB (0xF),
    /// S2AP, SH = inner, AF.
    static let pageDescriptor: UInt64 = 0b11
    static let normalMemory: UInt64 = 0xF << 2
    static let readOnly: UInt64 = 0b01 << 6
    static let readWrite: UInt64 = 0b11 << 6
    static let innerShareable: UInt64 = 0b11 << 8
    static let accessFlag: UInt64 = 1 << 10

    private let memory: PhysicalMemory
    private let poolBase: UInt64
    private let poolEnd: UInt64
    public let root: UInt64
    public let vmid: UInt64
    public let slots: [Slot]

    private struct State {
        var nextTablePage: UInt64
        var pagesMapped: UInt64 = 0
        var tablePages: UInt64 = 2
    }
    private let state: Mutex<State>

    public struct PoolExhausted: Error, CustomStringConvertible {
        public var description: String { "stage-2 table pool exhausted" }
    }

    /// `pool` is the machine-physical range the tables may use (page aligned, zero-filled).
    public init(memory: PhysicalMemory, pool: Range<UInt64>, slots: [Slot], vmid: UInt64) {
        self.memory = memory
        self.slots = slots
        self.vmid = vmid & 0xFF
        // The root: two concatenated level-1 tables, 8 KB aligned.
        let rootBase = (pool.lowerBound + 0x1FFF) & ~0x1FFF
        root = rootBase
        poolBase = pool.lowerBound
        poolEnd = pool.upperBound
        state = Mutex(State(nextTablePage: rootBase + 0x2000))
    }

    /// VTTBR_EL2: VMID[55:48], BADDR = the root.
    public var vttbr: UInt64 { vmid << 48 | root }

    public var pagesMapped: UInt64 { state.withLock { $0.pagesMapped } }
    public var tablePages: UInt64 { state.withLock { $0.tablePages } }

    /// How many table pages mapping `size` bytes of slots can need (level 2 and level 3 tables,
    /// rounded up per 1 GB and 2 MB, plus the root), for sizing the pool.
    public static func tablePagesNeeded(for sizes: [UInt64]) -> UInt64 {
        var pages: UInt64 = 4
        for size in sizes { pages += (size >> 21) + 2 + (size >> 30) + 2 }
        return pages
    }

    public func slot(containing ipa: UInt64) -> Slot? { slots.first { $0.contains(ipa) } }

    /// Maps the 4 KB page holding `ipa` if a slot covers it; returns false otherwise (MMIO).
    /// Mapping a page that is already mapped is harmless (two vCPUs faulting on it together).
    /// `readOnly` maps a page of a writable slot read-only (dirty-page tracking of a page first
    /// touched by a read).
    public func mapPage(containing ipa: UInt64, readOnly: Bool = false) throws -> Bool {
        guard let slot = slot(containing: ipa) else { return false }
        let page = ipa & ~0xFFF
        let physical = slot.physical + (page - slot.ipa)
        let attributes =
            Self.pageDescriptor | Self.normalMemory | (slot.writable && !readOnly ? Self.readWrite : Self.readOnly)
            | Self.innerShareable | Self.accessFlag
        try state.withLock { state in
            let entry = try leafEntry(for: page, state: &state)
            if entry.pointee & 1 == 0 { state.pagesMapped += 1 }
            entry.pointee = (physical | attributes).littleEndian
        }
        return true
    }

    /// Makes every mapped page of `slot` read-only (dirty-page tracking: the next write to each
    /// page is a permission fault). The caller flushes the TLBs of every vCPU afterwards.
    public func writeProtect(_ slot: Slot) {
        state.withLock { state in
            var page = slot.ipa
            while page < slot.ipa + slot.size {
                if let entry = existingLeaf(for: page), entry.pointee & 1 != 0 {
                    entry.pointee = (UInt64(littleEndian: entry.pointee) & ~Self.readWrite | Self.readOnly).littleEndian
                }
                page += 0x1000
            }
        }
    }

    /// Gives write access back to one page of a writable slot (after a dirty-tracking fault).
    public func makeWritable(containing ipa: UInt64) -> Bool {
        guard let slot = slot(containing: ipa), slot.writable else { return false }
        return state.withLock { _ in
            guard let entry = existingLeaf(for: ipa & ~0xFFF), entry.pointee & 1 != 0 else { return false }
            entry.pointee = (UInt64(littleEndian: entry.pointee) | Self.readWrite).littleEndian
            return true
        }
    }

    /// Unmaps every page (the TLBs must be flushed afterwards): the next touch of each page
    /// faults again. Table pages stay allocated.
    public func unmapAll() {
        state.withLock { state in
            for slot in slots {
                var page = slot.ipa
                while page < slot.ipa + slot.size {
                    if let entry = existingLeaf(for: page), entry.pointee & 1 != 0 {
                        entry.pointee = 0
                        state.pagesMapped -= 1
                    }
                    page += 0x1000
                }
            }
        }
    }

    // MARK: Table manipulation

    private func table(at physical: UInt64) -> UnsafeMutablePointer<UInt64> {
        // Table pages are inside the pool, which is inside machine memory by construction.
        memory.pointer(physical, 0x1000).unsafelyUnwrapped.assumingMemoryBound(to: UInt64.self)
    }

    /// Level-1 index into the concatenated root (IPA[39:30]), level-2 (IPA[29:21]) and level-3
    /// (IPA[20:12]) indices.
    private static func indices(_ ipa: UInt64) -> (Int, Int, Int) {
        (Int((ipa >> 30) & 0x3FF), Int((ipa >> 21) & 0x1FF), Int((ipa >> 12) & 0x1FF))
    }

    private func leafEntry(for ipa: UInt64, state: inout State) throws -> UnsafeMutablePointer<UInt64> {
        let (i1, i2, i3) = Self.indices(ipa)
        let level2 = try nextTable(table(at: root) + i1, state: &state)
        let level3 = try nextTable(table(at: level2) + i2, state: &state)
        return table(at: level3) + i3
    }

    private func nextTable(_ entry: UnsafeMutablePointer<UInt64>, state: inout State) throws -> UInt64 {
        let descriptor = UInt64(littleEndian: entry.pointee)
        if descriptor & 0b11 == 0b11 { return descriptor & 0x0000_FFFF_FFFF_F000 }
        guard state.nextTablePage + 0x1000 <= poolEnd else { throw PoolExhausted() }
        let page = state.nextTablePage
        state.nextTablePage += 0x1000
        state.tablePages += 1
        table(at: page).update(repeating: 0, count: 512)
        entry.pointee = (page | 0b11).littleEndian
        return page
    }

    private func existingLeaf(for ipa: UInt64) -> UnsafeMutablePointer<UInt64>? {
        let (i1, i2, i3) = Self.indices(ipa)
        let d1 = UInt64(littleEndian: table(at: root)[i1])
        guard d1 & 0b11 == 0b11 else { return nil }
        let d2 = UInt64(littleEndian: table(at: d1 & 0x0000_FFFF_FFFF_F000)[i2])
        guard d2 & 0b11 == 0b11 else { return nil }
        return table(at: d2 & 0x0000_FFFF_FFFF_F000) + i3
    }
}
