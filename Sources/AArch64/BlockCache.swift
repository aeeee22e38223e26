import Atomics
import Glibc

/// The decoded-block cache: guest code decoded once into `DecodedInstruction` runs, found again by
/// the PC (virtual address) of their first instruction together with the host address it was
/// decoded from — so a block is only reused while the PC still translates to the same memory
/// (after a TLB change, a new mapping simply misses).
///
/// A direct-mapped table of `Entry` points into one arena of decoded instructions; when the arena
/// fills, everything is dropped and refilled (the blocks are cheap to rebuild). A block ends at the
/// first instruction that may change control flow or the execution context, after
/// `maxInstructions`, or at a 4 KiB page boundary, so every block comes from exactly one page —
/// which is what lets a store to a code page invalidate precisely: only that page's blocks. In
/// the arena each block is followed by a `.blockEnd` sentinel (not counted in `Entry.count`).
public final class BlockCache: @unchecked Sendable {
    public struct Entry: Sendable {
        public var pc: UInt64
        /// Host address of the first instruction's bytes.
        public var host: UInt64
        public var start: UInt32
        public var count: UInt32
    }

    /// Block linking: where the branch (or block end) in one arena slot went last time, so that
    /// taking it again needs neither the page check nor the table lookup of a chained entry
    /// (`CPU.run`). Recorded only for chained entries on the branch's own page, whose host
    /// address follows from the running block's, so a link stays true while its block's
    /// mapping does, and until any decoded code is dropped: every invalidation moves `epoch`
    /// on, which retires all links at once. Links live in `links`, beside the arena slot they
    /// belong to, at the same stride, so an instruction's link is its address plus a constant.
    public struct Link: Sendable {
        public var pc: UInt64
        /// The host address the block was decoded from. Following a link does not read it (the
        /// running block's page fixes it); it fills `Link` out to the 32-byte stride of
        /// `DecodedInstruction`, which `link(of:offset:)` relies on.
        public var host: UInt64
        public var start: UInt32
        public var count: UInt32
        public var epoch: UInt64
    }

    public static let maxInstructions = 64
    /// 128 Ki entries (3 MiB of address space, touched only where used): with 16 Ki and a
    /// shift-and-XOR hash, a Linux boot rebuilt four blocks in five because another block had
    /// taken their slot (1.4 M blocks decoded to the initramfs marker; 275 k now).
    static let tableBits = 17
    static let tableSize = 1 << tableBits
    /// An unused slot: all zero, which no block matches (a block's host address is never 0).
    static let emptyEntry = Entry(pc: 0, host: 0, start: 0, count: 0)
    static let arenaCapacity = 1 << 18

    private let tableMemory = ZeroedMemory(count: tableSize, zero: emptyEntry)
    var table: UnsafeMutablePointer<Entry> { tableMemory.pointer }
    let arena: UnsafeMutablePointer<DecodedInstruction>
    /// One `Link` per arena slot, all zero at first: epoch 0, which no link matches.
    private let linkMemory = ZeroedMemory(
        count: arenaCapacity, zero: Link(pc: 0, host: 0, start: 0, count: 0, epoch: 0))
    var links: UnsafeMutablePointer<Link> { linkMemory.pointer }
    /// The current link epoch (starts at 1); a pointer so the interpreter reads it without `self`.
    let linkEpoch: UnsafeMutablePointer<UInt64>
    private var used = 0
    private let decoder: Decoder
    /// The table slots each host page's blocks were recorded in since the last full
    /// invalidation (a slot taken over by another block since fails the host check), so a page
    /// invalidation touches only those slots, not the whole table.
    private var slotsByHostPage: [UInt64: [Int32]] = [:]

    /// Blocks decoded, full invalidations and single-page invalidations, for statistics.
    public private(set) var blocksBuilt: UInt64 = 0
    public private(set) var invalidations: UInt64 = 0
    public private(set) var pageInvalidations: UInt64 = 0

    public init(decoder: Decoder = .shared) {
        self.decoder = decoder
        arena = .allocate(capacity: Self.arenaCapacity)
        precondition(MemoryLayout<Link>.stride == MemoryLayout<DecodedInstruction>.stride)
        linkEpoch = .allocate(capacity: 1)
        linkEpoch.initialize(to: 1)
    }

    /// The link of the arena instruction `insn`, given `offset` = `links` − `arena` in bytes
    /// (a link and an instruction have the same stride).
    @inline(__always)
    static func link(of insn: UnsafeMutablePointer<DecodedInstruction>, offset: Int) -> UnsafeMutablePointer<Link> {
        (UnsafeMutableRawPointer(insn) + offset).assumingMemoryBound(to: Link.self)
    }

    deinit {
        tableMemory.release()
        arena.deallocate()
        linkMemory.release()
        linkEpoch.deallocate()
    }

    @inline(__always)
    static func slot(_ pc: UInt64) -> Int {
        // Fibonacci hashing: the top bits of the word index times 2^64/φ spread the kernel's
        // and user space's code evenly over the table.
        Int(truncatingIfNeeded: ((pc >> 2) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - tableBits))
    }

    /// Decodes the block starting at `pc`, whose instruction bytes are at `host` (translated for
    /// execution, inside `memory`), and records it. `newCodePage` is set when the block is the
    /// first code decoded from its physical page.
    @inline(never)
    func build(pc: UInt64, host: UnsafeMutableRawPointer, memory: PhysicalMemory, newCodePage: inout Bool) -> Entry {
        if used + Self.maxInstructions + 1 > Self.arenaCapacity { invalidateAll() }
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
            var insn = Self.specialize(decoder.decode(UInt32(littleEndian: word)))
            insn.position = UInt8(used - start)
            (arena + used).initialize(to: insn)
            memory.markCodeWord(physical)
            used += 1
            address &+= 4
            source += 4
            physical &+= 4
            if Self.endsBlock(insn) { break }
        } while used - start < Self.maxInstructions && address & 0xFFF != 0
        let count = used - start
        Self.markLoop(arena + used - 1)
        if count >= 2 { Self.fuseCompareAndBranch(arena + used - 2) }
        var sentinel = Self.sentinel
        sentinel.position = UInt8(count)
        (arena + used).initialize(to: sentinel)
        used += 1
        let entry = Entry(
            pc: pc, host: UInt64(UInt(bitPattern: host)), start: UInt32(start), count: UInt32(count))
        let slot = Self.slot(pc)
        table[slot] = entry
        slotsByHostPage[entry.host & ~0xFFF, default: []].append(Int32(slot))
        blocksBuilt &+= 1
        return entry
    }

    /// Drops every decoded block (self-modifying code, instruction-cache maintenance).
    public func invalidateAll() {
        tableMemory.clear()
        used = 0
        slotsByHostPage.removeAll(keepingCapacity: true)
        // The arena is reused from its start: an old link would name a slot now holding other code.
        linkEpoch.pointee &+= 1
        invalidations &+= 1
    }

    /// Drops the blocks decoded from the 4 KiB page at host address `hostPage` (code in it was
    /// overwritten, or an IC IVAU named it); the rest of the cache stays. Their arena space is
    /// reclaimed at the next full invalidation.
    public func invalidate(hostPage: UInt64) {
        for slot in slotsByHostPage.removeValue(forKey: hostPage) ?? [] where table[Int(slot)].host & ~0xFFF == hostPage
        {
            table[Int(slot)] = Self.emptyEntry
        }
        // Links join blocks of one page, so a link into this page's blocks sits in one of
        // them, and those are now found only by lookup, which decodes them afresh; the epoch
        // moves on all the same, so no link needs that reasoning to be safe.
        linkEpoch.pointee &+= 1
        pageInvalidations &+= 1
    }

    /// The `.blockEnd` that follows every block in the arena.
    static let sentinel = DecodedInstruction(op: .blockEnd, raw: 0)

    /// Picks the interpreter's specialized opcode for the commonest loads and stores
    /// (`Opcode.load64` …) and data-processing forms (`Opcode.addImmediate64` …); every other
    /// instruction is returned as decoded.
    public static func specialize(_ decoded: DecodedInstruction) -> DecodedInstruction {
        var d = decoded
        d.kind = d.op
        let spBase: UInt64 = d.rn == 32 ? 0xF : 0
        let indexing = InstructionFlags.writeback | InstructionFlags.postIndex | InstructionFlags.unprivileged
        switch d.op {
        case .load where d.b == AddressingMode.register.rawValue:
            // Register offset: `imm` is the extend option, `imm2` the shift. A 64-bit index
            // (LSL/UXTX 011, SXTX 111) needs no extension; an SP base keeps its alignment check
            // in the general case.
            guard d.a == 3, d.imm & 3 == 3, d.rn != 32, d.flags & indexing == 0 else { return d }
            d.op = .load64Register
        case .load, .store:
            guard d.b == AddressingMode.immediate.rawValue, d.flags & indexing == 0, d.a >= 2 else { return d }
            if d.op == .load {
                d.op = d.a == 3 ? .load64 : .load32
            } else {
                d.op = d.a == 3 ? .store64 : .store32
            }
            d.imm2 = spBase
        case .loadPair, .storePair:
            guard d.a == 3 else { return d }
            d.op = d.op == .loadPair ? .loadPair64 : .storePair64
            d.imm2 = spBase
        case .addImmediate, .subImmediate:
            // Rd = Rn + imm or Rn + (2^64 - imm): the same low 32 (or 64) bits as Rn - imm.
            if d.op == .subImmediate { d.imm = 0 &- d.imm }
            d.op = d.sf == 1 ? .addImmediate64 : .addImmediate32
        case .subsImmediate where d.sf == 1:
            d.op = .subsImmediate64
        case .movz, .movn:
            let value = d.imm &<< UInt64(d.b)
            d.imm = d.op == .movz ? value : ~value & Arithmetic.widthMask(d.sf)
            d.op = .moveConstant
        case .addShifted where d.sf == 1 && d.a == 0: d.op = d.b == 0 ? .addUnshifted64 : .addRegister64
        case .subShifted where d.sf == 1 && d.a == 0: d.op = d.b == 0 ? .subUnshifted64 : .subRegister64
        case .subsShifted where d.sf == 1 && d.a == 0: d.op = .subsRegister64
        case .andShifted where d.sf == 1 && d.a == 0, .bicShifted where d.sf == 1 && d.a == 0:
            d.op = d.b == 0 && d.imm == 0 ? .andUnshifted64 : .andRegister64
        case .orrShifted where d.sf == 1 && d.a == 0, .ornShifted where d.sf == 1 && d.a == 0:
            if d.b == 0 && d.imm == 0 {
                d.op = d.rn == 31 ? .moveRegister64 : .orrUnshifted64
            } else {
                d.op = .orrRegister64
            }
        case .eorShifted where d.sf == 1 && d.a == 0, .eonShifted where d.sf == 1 && d.a == 0:
            d.op = d.b == 0 && d.imm == 0 ? .eorUnshifted64 : .eorRegister64
        default:
            break
        }
        return d
    }

    /// Makes the last instruction of a block a `bCondLoop` when it is a B.cond back to the
    /// block's start: its offset is minus 4 × its position (which must be set).
    public static func markLoop(_ last: UnsafeMutablePointer<DecodedInstruction>) {
        if last.pointee.op == .bCond && last.pointee.imm &+ UInt64(last.pointee.position) &<< 2 == 0 {
            last.pointee.op = .bCondLoop
        }
    }

    /// Makes `pair[0]` a `subsThenBranch` when it is a SUBS/CMP of X (immediate, or register
    /// with LSL) and `pair[1]` the B.cond that ends the block, on a condition of the comparison
    /// (not MI, PL, VS or VC: `Arithmetic.compareMask`, kept in `pair[0].imm2`) — a
    /// `subsThenLoop` when that B.cond is a `bCondLoop` (`markLoop` runs first), and
    /// `subsThenLoopWhileNonZero` when that loop's condition is NE. Nothing
    /// between them can fault, so the two always complete together.
    public static func fuseCompareAndBranch(_ pair: UnsafeMutablePointer<DecodedInstruction>) {
        guard pair[1].op == .bCond || pair[1].op == .bCondLoop, let mask = Arithmetic.compareMask(pair[1].a)
        else { return }
        switch pair[0].op {
        case .subsImmediate64:
            pair[0].rm = 31  // XZR: the register term is zero
            pair[0].b = 0
        case .subsRegister64:
            pair[0].imm = 0
        default:
            return
        }
        pair[0].imm2 = UInt64(mask)
        pair[0].op =
            pair[1].op != .bCondLoop ? .subsThenBranch : pair[1].a == 1 ? .subsThenLoopWhileNonZero : .subsThenLoop
    }

    /// Whether `insn` is the last instruction of its block: branches, exception generation,
    /// WFI/WFE, ISB, and MSR/SYS, which may change the translation regime (the next block starts
    /// unchained) — except an MSR to the GIC CPU interface (`writesCPUInterface`).
    static func endsBlock(_ insn: DecodedInstruction) -> Bool {
        if writesCPUInterface(insn) { return false }
        return switch insn.op {
        case .b, .bl, .bCond, .cbz, .cbnz, .tbz, .tbnz, .br, .blr, .ret, .eret, .svc, .hvc, .smc, .brk,
            .hlt, .wfi, .wfe, .isb, .msrRegister, .msrImmediate, .sys, .sysl, .undefined:
            true
        default:
            false
        }
    }

    /// An MSR to an ICC_* register (EOI, priority mask, …: the hottest system-register writes,
    /// one or two per interrupt) leaves the translation regime alone; the only thing it can
    /// change that a block entry checks is whether a virtual interrupt is pending, so the
    /// interpreter ends the block after it only when one is (`CPU.run`). (An EOI's underflow
    /// maintenance request is a request-word kick, seen at the next block entry.)
    static func writesCPUInterface(_ insn: DecodedInstruction) -> Bool {
        insn.op == .msrRegister && CPU.isCPUInterfaceRegister(SystemRegisterEncoding(key: UInt16(insn.imm)))
    }
}
