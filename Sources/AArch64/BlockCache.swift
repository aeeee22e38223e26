import Atomics

/// The decoded-block cache: guest code decoded once into `DecodedInstruction` runs, found again by
/// the PC (virtual address) of their first instruction together with the host address it was
/// decoded from — so a block is only reused while the PC still translates to the same memory
/// (after a TLB change, a new mapping simply misses).
///
/// A direct-mapped table of `Entry` points into one arena of decoded instructions; when the arena
/// fills, everything is dropped and refilled (the blocks are cheap to rebuild). A block ends at the
/// first instruction that may change control flow or the execution context, after
/// `maxInstructions`, or at a 4 KiB page boundary, so every block comes from exactly one page —
/// which is what lets a store to a code page invalidate precisely.
public final class BlockCache: @unchecked Sendable {
    public struct Entry {
        public var pc: UInt64
        /// Host address of the first instruction's bytes.
        public var host: UInt64
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
        table.initialize(repeating: Entry(pc: ~0, host: 0, start: 0, count: 0), count: Self.tableSize)
        arena = .allocate(capacity: Self.arenaCapacity)
    }

    deinit {
        table.deallocate()
        arena.deallocate()
    }

    @inline(__always)
    static func slot(_ pc: UInt64) -> Int { Int(truncatingIfNeeded: (pc >> 2) ^ (pc >> 16)) & (tableSize - 1) }

    /// Decodes the block starting at `pc`, whose instruction bytes are at `host` (translated for
    /// execution, inside `memory`), and records it. `newCodePage` is set when the block is the
    /// first code decoded from its physical page.
    @inline(never)
    func build(pc: UInt64, host: UnsafeMutableRawPointer, memory: PhysicalMemory, newCodePage: inout Bool) -> Entry {
        if used + Self.maxInstructions > Self.arenaCapacity { invalidateAll() }
        let start = used
        var address = pc
        var source = host
        var physical = memory.physicalAddress(of: host)
        // A block never crosses its page. Mark the page before reading its words, and fence, so
        // that an IC IVAU issued by another vCPU after storing new code (and a DSB) either sees
        // the mark and makes this core drop its blocks, or stored before the words are read.
        if memory.markCodePage(physical) {
            newCodePage = true
            atomicMemoryFence(ordering: .sequentiallyConsistent)
        }
        repeat {
            let word = source.loadUnaligned(as: UInt32.self)
            let insn = decoder.decode(UInt32(littleEndian: word))
            (arena + used).initialize(to: insn)
            memory.markCodeWord(physical)
            used += 1
            address &+= 4
            source += 4
            physical &+= 4
            if Self.endsBlock(insn.op) { break }
        } while used - start < Self.maxInstructions && address & 0xFFF != 0
        let entry = Entry(
            pc: pc, host: UInt64(UInt(bitPattern: host)), start: UInt32(start), count: UInt32(used - start))
        table[Self.slot(pc)] = entry
        blocksBuilt &+= 1
        return entry
    }

    /// Drops every decoded block (self-modifying code, instruction-cache maintenance).
    public func invalidateAll() {
        table.update(repeating: Entry(pc: ~0, host: 0, start: 0, count: 0), count: Self.tableSize)
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
