/// The decoded-block cache: guest code decoded once into `DecodedInstruction` runs, found again by
/// the PC of their first instruction.
///
/// A direct-mapped table of `Entry` points into one arena of decoded instructions; when the arena
/// fills, everything is dropped and refilled (the blocks are cheap to rebuild). A block ends at the
/// first instruction that may change control flow or the execution context, after
/// `maxInstructions`, or at a 4 KiB page boundary, so every block comes from exactly one page —
/// which is what lets a store to a code page invalidate precisely.
public final class BlockCache: @unchecked Sendable {
    public struct Entry {
        public var pc: UInt64
        public var start: UInt32
        public var count: UInt32
    }

    public static let maxInstructions = 64
    static let tableSize = 1 << 14
    static let arenaCapacity = 1 << 18

    let table: UnsafeMutablePointer<Entry>
    let arena: UnsafeMutablePointer<DecodedInstruction>
    private var used = 0
    private let decoder: Decoder

    /// Blocks decoded and full invalidations, for statistics.
    public private(set) var blocksBuilt: UInt64 = 0
    public private(set) var invalidations: UInt64 = 0

    public init(decoder: Decoder = .shared) {
        self.decoder = decoder
        table = .allocate(capacity: Self.tableSize)
        table.initialize(repeating: Entry(pc: ~0, start: 0, count: 0), count: Self.tableSize)
        arena = .allocate(capacity: Self.arenaCapacity)
    }

    deinit {
        table.deallocate()
        arena.deallocate()
    }

    @inline(__always)
    static func slot(_ pc: UInt64) -> Int { Int(truncatingIfNeeded: (pc >> 2) ^ (pc >> 16)) & (tableSize - 1) }

    /// Decodes the block starting at `pc` from `ram` and records it; nil when `pc` is not in RAM.
    @inline(never)
    func build(pc: UInt64, ram: GuestRAM) -> Entry? {
        guard ram.pointer(pc, 4) != nil else { return nil }
        if used + Self.maxInstructions > Self.arenaCapacity { invalidateAll() }
        let start = used
        var address = pc
        repeat {
            guard let word = ram.pointer(address, 4)?.loadUnaligned(as: UInt32.self) else { break }
            let insn = decoder.decode(UInt32(littleEndian: word))
            (arena + used).initialize(to: insn)
            ram.markCode(address)
            used += 1
            address &+= 4
            if Self.endsBlock(insn.op) { break }
        } while used - start < Self.maxInstructions && address & 0xFFF != 0
        let entry = Entry(pc: pc, start: UInt32(start), count: UInt32(used - start))
        table[Self.slot(pc)] = entry
        blocksBuilt &+= 1
        return entry
    }

    /// Drops every decoded block (self-modifying code, instruction-cache maintenance).
    public func invalidateAll() {
        table.update(repeating: Entry(pc: ~0, start: 0, count: 0), count: Self.tableSize)
        used = 0
        invalidations &+= 1
    }

    static func endsBlock(_ op: Opcode) -> Bool {
        switch op {
        case .b, .bl, .bCond, .cbz, .cbnz, .tbz, .tbnz, .br, .blr, .ret, .eret, .svc, .hvc, .smc, .brk,
            .hlt, .wfi, .wfe, .isb, .msrRegister, .msrImmediate, .sys, .sysl, .undefined:
            true
        default:
            false
        }
    }
}
