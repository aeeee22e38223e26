/// The combined TLB of one core: guest virtual page → host address, after both stages of
/// translation, with the permissions of one privilege level folded into three tags (Arm ARM
/// D5.9 "Translation Lookaside Buffers"; the same idea as QEMU's softmmu TLB).
///
/// Two direct-mapped sets of `entriesPerSet` entries: set 0 holds what EL0 may do (also used by
/// LDTR/STTR at EL1), set 1 what EL1 may do. An entry answers a lookup when the access's tag
/// (`readTag`, `writeTag` or `fetchTag`) equals the virtual page number and its `context` is
/// the core's current one — its VMID and ASID (`CoreState.tlbContext`) — or the global context
/// of that VMID (`CoreState.tlbGlobalContext`, for nG = 0 mappings). A permission the
/// translation does not grant leaves that tag invalid, so the lookup misses and the slow path
/// raises the fault. Entries whose page holds decoded code never get a write tag: every store
/// to such a page takes the slow path, which checks it against the decoded blocks.
///
/// Entries are 4 KB even when the translation was a block (or a larger page): `mappingShift`
/// remembers the size of the architectural entry so TLBI by VA drops every fragment of it.
public final class TLB: @unchecked Sendable {
    public struct Entry: Sendable {
        /// Virtual page number (VA >> 12), or `TLB.invalid`.
        public var page: UInt64
        public var readTag: UInt64
        public var writeTag: UInt64
        public var fetchTag: UInt64
        /// Host address minus virtual address, so host = VA &+ addend.
        public var addend: UInt64
        /// VMID << 32 | ASID, or VMID << 32 | `TLB.globalBit` / `TLB.flatBit`.
        public var context: UInt64
        /// The machine-physical address of the page.
        public var physical: UInt64
        /// log2 of the size of the translation this entry is a fragment of (12 for a page).
        public var mappingShift: UInt32
        /// 1 for Device memory (unaligned accesses fault; they never take the inline path).
        public var device: UInt32
    }

    public static let setCount = 2
    public static let entriesPerSet = 1024
    static let indexMask: UInt64 = UInt64(entriesPerSet - 1)
    public static let invalid: UInt64 = ~0
    /// Context bit of an entry from a global (nG = 0) mapping.
    public static let globalBit: UInt64 = 1 << 16
    /// Context bit of an entry made while stage 1 was off (VA = IPA).
    public static let flatBit: UInt64 = 1 << 17

    static let emptyEntry = Entry(
        page: invalid, readTag: invalid, writeTag: invalid, fetchTag: invalid, addend: 0, context: invalid,
        physical: 0, mappingShift: 12, device: 0)

    public let entries: UnsafeMutablePointer<Entry>

    /// Lookups that missed (and walked), full flushes, and selective invalidations.
    public var misses: UInt64 = 0
    public var flushes: UInt64 = 0
    public var invalidations: UInt64 = 0
    /// Hits, added by the interpreter when it leaves `run`.
    public var hits: UInt64 = 0

    /// VA[55:12] of a page: what TLBI operands carry.
    static let pageBits: UInt64 = (1 << 44) - 1
    /// The virtual page range (VA[55:12]) holding fragments of translations larger than a page,
    /// so TLBI by VA knows when it must look beyond the one slot of the address.
    private var largeLow: UInt64 = invalid
    private var largeHigh: UInt64 = 0

    public init() {
        entries = .allocate(capacity: Self.setCount * Self.entriesPerSet)
        entries.initialize(repeating: Self.emptyEntry, count: Self.setCount * Self.entriesPerSet)
    }

    deinit { entries.deallocate() }

    @inline(__always)
    static func index(_ address: UInt64) -> Int { Int(truncatingIfNeeded: (address >> 12) & indexMask) }

    /// The inline data-access hit (the interpreter's fast path): entry `e` holds `address`'s
    /// page with `tag` (its `readTag` or `writeTag`) valid, in `context` or its VMID's `global`
    /// context. On a miss the slow path decides.
    @inline(__always)
    static func holds(
        _ e: UnsafeMutablePointer<Entry>, _ tag: UInt64, _ address: UInt64, context: UInt64, global: UInt64
    ) -> Bool {
        tag == address >> 12 && (e.pointee.context == context || e.pointee.context == global)
    }

    /// The host address of `address` through entry `e`, which holds its page.
    @inline(__always)
    static func host(_ e: UnsafeMutablePointer<Entry>, _ address: UInt64) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: address &+ e.pointee.addend)).unsafelyUnwrapped
    }

    /// The set for a privilege: 0 for EL0 (and unprivileged accesses), 1 for EL1.
    @inline(__always)
    func set(_ privileged: Bool) -> UnsafeMutablePointer<Entry> { privileged ? entries + Self.entriesPerSet : entries }

    func insert(_ entry: Entry, privileged: Bool) {
        set(privileged)[Self.index(entry.page << 12)] = entry
        if entry.mappingShift > 12 {
            let fragments = UInt64(entry.mappingShift - 12)
            let low = ((entry.page & Self.pageBits) >> fragments) << fragments
            largeLow = min(largeLow, low)
            largeHigh = max(largeHigh, low &+ (1 << fragments))
        }
    }

    /// Drops every entry (TLBI VMALLE1, stage-2 changes, TCR changes).
    public func invalidateAll() {
        entries.update(repeating: Self.emptyEntry, count: Self.setCount * Self.entriesPerSet)
        largeLow = Self.invalid
        largeHigh = 0
        flushes &+= 1
    }

    /// TLBI ASIDE1: drops the non-global entries of `asid` (in this VMID; the TLB is per core and
    /// holds one VM's entries).
    public func invalidate(asid: UInt16) {
        invalidations &+= 1
        for i in 0..<(Self.setCount * Self.entriesPerSet) {
            let context = entries[i].context
            if context & (TLB.globalBit | TLB.flatBit) == 0 && context & 0xFFFF == UInt64(asid) {
                entries[i] = Self.emptyEntry
            }
        }
    }

    /// TLBI VAE1/VALE1 (`asid` given: entries of that ASID and global ones) and VAAE1/VAALE1
    /// (`asid` nil: any ASID) for the page of the virtual address whose bits [55:12] are `page`
    /// (the operand's VA field; the top byte of a tagged address does not take part).
    public func invalidate(page: UInt64, asid: UInt16?) {
        invalidations &+= 1
        let target = page & Self.pageBits
        func matches(_ e: Entry) -> Bool {
            guard e.page != Self.invalid else { return false }
            if let asid, e.context & (TLB.globalBit | TLB.flatBit) == 0, e.context & 0xFFFF != UInt64(asid) {
                return false
            }
            let shift = UInt64(e.mappingShift - 12)
            return (e.page & Self.pageBits) >> shift == target >> shift
        }
        if target >= largeLow && target < largeHigh {
            // Fragments of a block may sit in any slot of either set.
            for i in 0..<(Self.setCount * Self.entriesPerSet) where matches(entries[i]) {
                entries[i] = Self.emptyEntry
            }
            return
        }
        let index = Self.index(target << 12)
        for slot in [entries + index, entries + Self.entriesPerSet + index] where matches(slot.pointee) {
            slot.pointee = Self.emptyEntry
        }
    }

    /// A page became a code page: stores to it must take the slow path from now on.
    func revokeWrites(physicalPage: UInt64) {
        for i in 0..<(Self.setCount * Self.entriesPerSet) where entries[i].physical == physicalPage {
            entries[i].writeTag = Self.invalid
        }
    }
}
