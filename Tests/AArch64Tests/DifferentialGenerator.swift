import AArch64
import Foundation

// Random instruction sequences for the differential test against QEMU (DifferentialTests.swift).
//
// Words come from the rows of `EncodingTable.all`: a row's fixed bits are kept, its field bits
// are filled at random, then the fields are constrained so the sequence is deterministic on
// any ARMv8.0 implementation and stays inside the test (no SP, no writes to the registers that
// hold addresses, memory accesses inside the window, branches that skip forward inside the
// sequence). Which rows a class draws from is decided by the Arm ARM encoding group (C4.1,
// "A64 instruction set encoding") each row falls in, not by `Opcode` names, so rows the core
// gains later are picked up without touching this file, whatever their opcodes are called.

/// SplitMix64: small, fast, and reproducible from a seed.
struct DiffRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// The generator of case `index` of a run with `seed`: every case can be rebuilt on its own.
    init(seed: UInt64, index: Int) {
        var mixer = DiffRandom(seed: seed ^ 0x6A09_E667_F3BC_C908)
        state = mixer.next() ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        _ = next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_B9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    mutating func inRange(_ lo: Int64, _ hi: Int64) -> Int64 { lo + Int64(below(Int(hi - lo + 1))) }
}

fileprivate extension UInt32 {
    @inline(__always) func field(_ lo: Int, _ width: Int) -> UInt32 {
        (self >> UInt32(lo)) & ((1 << UInt32(width)) - 1)
    }
    @inline(__always) func bit(_ n: Int) -> Bool { (self >> UInt32(n)) & 1 == 1 }

    @inline(__always) mutating func setField(_ lo: Int, _ width: Int, _ value: UInt32) {
        let mask: UInt32 = ((1 << UInt32(width)) - 1) << UInt32(lo)
        self = (self & ~mask) | ((value << UInt32(lo)) & mask)
    }
}

/// The A64 encoding groups of the ARMv8.0 integer instruction set (Arm ARM C4.1) the
/// differential test generates from: fixed bits, and the field rules for each.
enum InstructionGroup: String, CaseIterable, Sendable {
    case pcRelative, addSubImmediate, logicalImmediate, moveWide, bitfield, extract
    case logicalShifted, addSubShifted, addSubExtended, addSubCarry
    case conditionalCompare, conditionalSelect
    case dataProcessing3Source, divideAndShift, crc32, dataProcessing1Source
    case conditionalBranch, compareBranch, testBranch, unconditionalBranch
    case loadLiteral, loadStorePair, loadStoreRegister, loadStoreUnsignedOffset, loadStoreExclusive
    // SIMD&FP loads and stores (V = 1) and the AdvSIMD structure loads/stores.
    case vectorLiteral, vectorPair, vectorRegister, vectorUnsignedOffset, structureMultiple, structureSingle
    // Advanced SIMD data processing and the FP register moves.
    case simdCopy, simdModifiedImmediate, simdThreeSame, simdTwoRegisterMisc, simdAcrossLanes, simdPermute
    case simdExtract, simdTableLookup, simdShiftImmediate, floatIntegerMove, floatDataProcessing1, floatImmediate
    case floatDataProcessing2, floatDataProcessing3, floatCompare, floatConditionalCompare, floatConditionalSelect
    case floatFixedConvert, scalarTwoRegisterMisc, scalarThreeSame, simdFloatThreeSame, scalarPairwise
    case simdThreeDifferent, simdByElement
    case scalarShiftImmediate, scalarThreeDifferent, scalarByElement, scalarCopy

    /// The bits every word of the group has (V = 0 for the integer loads/stores).
    var pattern: (mask: UInt32, value: UInt32) {
        switch self {
        case .pcRelative: (0x1F00_0000, 0x1000_0000)  // op 10000
        case .addSubImmediate: (0x1F80_0000, 0x1100_0000)  // 100010
        case .logicalImmediate: (0x1F80_0000, 0x1200_0000)  // 100100
        case .moveWide: (0x1F80_0000, 0x1280_0000)  // 100101
        case .bitfield: (0x1F80_0000, 0x1300_0000)  // 100110
        case .extract: (0x1F80_0000, 0x1380_0000)  // 100111
        case .logicalShifted: (0x1F00_0000, 0x0A00_0000)  // 01010
        case .addSubShifted: (0x1F20_0000, 0x0B00_0000)  // 01011, bit 21 = 0
        case .addSubExtended: (0x1F20_0000, 0x0B20_0000)  // 01011, bit 21 = 1
        case .addSubCarry: (0x1FE0_0000, 0x1A00_0000)  // 11010000
        case .conditionalCompare: (0x1FE0_0000, 0x1A40_0000)  // 11010010
        case .conditionalSelect: (0x1FE0_0000, 0x1A80_0000)  // 11010100
        case .dataProcessing3Source: (0x1F00_0000, 0x1B00_0000)  // 11011
        case .divideAndShift: (0x5FE0_C000, 0x1AC0_0000)  // 2-source, opcode 00xxxx
        case .crc32: (0x5FE0_E000, 0x1AC0_4000)  // 2-source, opcode 010xxx
        case .dataProcessing1Source: (0x5FE0_0000, 0x5AC0_0000)  // 1-source
        case .conditionalBranch: (0xFF00_0000, 0x5400_0000)  // 0101010 0
        case .compareBranch: (0x7E00_0000, 0x3400_0000)  // 011010
        case .testBranch: (0x7E00_0000, 0x3600_0000)  // 011011
        case .unconditionalBranch: (0x7C00_0000, 0x1400_0000)  // 00101
        case .loadLiteral: (0x3F00_0000, 0x1800_0000)  // 011 0 00
        case .loadStorePair: (0x3E00_0000, 0x2800_0000)  // 101 0 0
        case .loadStoreRegister: (0x3F00_0000, 0x3800_0000)  // 111 0 00
        case .loadStoreUnsignedOffset: (0x3F00_0000, 0x3900_0000)  // 111 0 01
        case .loadStoreExclusive: (0x3F00_0000, 0x0800_0000)  // 001000
        case .vectorLiteral: (0x3F00_0000, 0x1C00_0000)  // 011 1 00
        case .vectorPair: (0x3E00_0000, 0x2C00_0000)  // 101 1 0
        case .vectorRegister: (0x3F00_0000, 0x3C00_0000)  // 111 1 00
        case .vectorUnsignedOffset: (0x3F00_0000, 0x3D00_0000)  // 111 1 01
        case .structureMultiple: (0xBF00_0000, 0x0C00_0000)  // 0 Q 001100
        case .structureSingle: (0xBF00_0000, 0x0D00_0000)  // 0 Q 001101
        case .simdCopy: (0x9FE0_8400, 0x0E00_0400)  // 0 Q op 01110000 imm5 0 imm4 1
        case .simdModifiedImmediate: (0x9FF8_0400, 0x0F00_0400)  // 0 Q op 0111100000
        case .simdThreeSame: (0x9F20_0400, 0x0E20_0400)  // 0 Q U 01110 size 1 Rm opcode 1
        case .simdTwoRegisterMisc: (0x9F3E_0C00, 0x0E20_0800)  // size 10000 opcode 10
        case .simdAcrossLanes: (0x9F3E_0C00, 0x0E30_0800)  // size 11000 opcode 10
        case .simdPermute: (0xBF20_8C00, 0x0E00_0800)  // 0 Q 001110 size 0 Rm 0 opc 10
        case .simdExtract: (0xBFE0_8400, 0x2E00_0000)  // 0 Q 101110 00 0 Rm 0 imm4 0
        case .simdTableLookup: (0xBFE0_8C00, 0x0E00_0000)  // 0 Q 001110 00 0 Rm 0 len op 00
        case .simdShiftImmediate: (0x9F80_0400, 0x0F00_0400)  // 0 Q U 011110 immh immb opcode 1
        case .floatIntegerMove: (0x7F20_FC00, 0x1E20_0000)  // sf 0 0 11110 type 1 rmode opc 000000
        case .floatDataProcessing1: (0xFF20_7C00, 0x1E20_4000)  // 000 11110 type 1 opcode 10000
        case .floatImmediate: (0xFF20_1FE0, 0x1E20_1000)  // 000 11110 type 1 imm8 100 00000
        case .floatDataProcessing2: (0xFF20_0C00, 0x1E20_0800)  // 000 11110 type 1 Rm opcode 10
        case .floatDataProcessing3: (0xFF00_0000, 0x1F00_0000)  // 000 11111
        case .floatCompare: (0xFF20_3C07, 0x1E20_2000)  // 000 11110 type 1 Rm op 1000 Rn opcode2
        case .floatConditionalCompare: (0xFF20_0C00, 0x1E20_0400)  // ... cond 01 Rn op nzcv
        case .floatConditionalSelect: (0xFF20_0C00, 0x1E20_0C00)  // ... cond 11 Rn Rd
        case .floatFixedConvert: (0x7F20_0000, 0x1E00_0000)  // sf 0 0 11110 type 0 rmode opcode scale
        case .scalarTwoRegisterMisc: (0xDF3E_0C00, 0x5E20_0800)  // 01 U 11110 size 10000 opcode 10
        case .scalarThreeSame: (0xDF20_0400, 0x5E20_0400)  // 01 U 11110 size 1 Rm opcode 1
        case .simdFloatThreeSame: (0x9F20_C400, 0x0E20_C400)  // three same, opcode 11xxx
        case .scalarPairwise: (0xDF3E_0C00, 0x5E30_0800)  // 01 U 11110 size 11000 opcode 10
        case .simdThreeDifferent: (0x9F20_0C00, 0x0E20_0000)  // 0 Q U 01110 size 1 Rm opcode 00
        case .simdByElement: (0x9F00_0400, 0x0F00_0000)  // 0 Q U 01111 size L M Rm opcode H 0
        case .scalarShiftImmediate: (0xDF80_0400, 0x5F00_0400)  // 01 U 111110 immh immb opcode 1
        case .scalarThreeDifferent: (0xDF20_0C00, 0x5E20_0000)  // 01 U 11110 size 1 Rm opcode 00
        case .scalarByElement: (0xDF00_0400, 0x5F00_0000)  // 01 U 11111 size L M Rm opcode H 0
        case .scalarCopy: (0xFFE0_8400, 0x5E00_0400)  // 01 0 11110000 imm5 0 imm4 1
        }
    }

    var isBranch: Bool {
        switch self {
        case .conditionalBranch, .compareBranch, .testBranch, .unconditionalBranch: true
        default: false
        }
    }

    var accessesMemory: Bool {
        switch self {
        case .loadLiteral, .loadStorePair, .loadStoreRegister, .loadStoreUnsignedOffset, .loadStoreExclusive: true
        case .vectorLiteral, .vectorPair, .vectorRegister, .vectorUnsignedOffset, .structureMultiple,
            .structureSingle:
            true
        default: false
        }
    }

    /// Whether the group's instructions use the SIMD&FP registers (cases then start from random
    /// Q registers, FPCR and FPSR).
    var usesVectors: Bool {
        switch self {
        case .vectorLiteral, .vectorPair, .vectorRegister, .vectorUnsignedOffset, .structureMultiple,
            .structureSingle, .simdCopy, .simdModifiedImmediate, .simdThreeSame, .simdTwoRegisterMisc,
            .simdAcrossLanes, .simdPermute, .simdExtract, .simdTableLookup, .simdShiftImmediate, .floatIntegerMove,
            .floatDataProcessing1, .floatImmediate, .floatDataProcessing2, .floatDataProcessing3, .floatCompare,
            .floatConditionalCompare, .floatConditionalSelect, .floatFixedConvert, .scalarTwoRegisterMisc,
            .scalarThreeSame, .simdFloatThreeSame, .scalarPairwise, .simdThreeDifferent, .simdByElement,
            .scalarShiftImmediate, .scalarThreeDifferent, .scalarByElement, .scalarCopy:
            true
        default: false
        }
    }

    /// Whether `row` can produce words of this group.
    func admits(_ row: Encoding) -> Bool {
        let p = pattern
        return (row.value ^ p.value) & row.mask & p.mask == 0
    }
}

/// A class of instructions the differential test covers, each with its own seed in the suite.
enum DiffClass: String, CaseIterable, Sendable {
    case dataProcessingImmediate, dataProcessingRegister, bitfield, conditional, multiplyDivide, oneSource, crc32
    case loadStore, exclusive, branchCondition, mixed
    case vectorLoadStore, vectorStructure, simdData, simdInteger, floatArithmetic, floatCompare, floatConvert
    case simdFloat, simdScalar

    /// The groups a sequence is made of.
    var groups: [InstructionGroup] {
        switch self {
        case .dataProcessingImmediate: [.pcRelative, .addSubImmediate, .logicalImmediate, .moveWide]
        case .dataProcessingRegister: [.logicalShifted, .addSubShifted, .addSubExtended, .addSubCarry]
        case .bitfield: [.bitfield, .extract]
        case .conditional: [.conditionalCompare, .conditionalSelect]
        case .multiplyDivide: [.dataProcessing3Source, .divideAndShift]
        case .oneSource: [.dataProcessing1Source]
        case .crc32: [.crc32]
        // Repeated entries weigh the draw: the register forms have the most variants.
        case .loadStore:
            [
                .loadLiteral, .loadStorePair, .loadStorePair, .loadStoreRegister, .loadStoreRegister,
                .loadStoreRegister,
                .loadStoreUnsignedOffset, .loadStoreUnsignedOffset,
            ]
        case .exclusive: [.loadStoreExclusive]
        case .branchCondition: [.conditionalBranch, .compareBranch, .testBranch, .unconditionalBranch]
        // Everything but branches: the generator tracks the address registers and the exclusive
        // monitor along the sequence, which a skipped instruction would invalidate.
        case .mixed: InstructionGroup.allCases.filter { !$0.isBranch }
        case .vectorLoadStore:
            [.vectorLiteral, .vectorPair, .vectorPair, .vectorRegister, .vectorRegister, .vectorUnsignedOffset]
        case .vectorStructure: [.structureMultiple, .structureSingle]
        case .simdData:
            [
                .simdCopy, .simdCopy, .simdModifiedImmediate, .simdPermute, .simdExtract, .simdTableLookup,
                .floatIntegerMove, .floatDataProcessing1, .floatImmediate,
            ]
        case .simdInteger:
            [
                .simdThreeSame, .simdThreeSame, .simdThreeSame, .simdTwoRegisterMisc, .simdAcrossLanes,
                .simdShiftImmediate, .simdThreeDifferent, .simdThreeDifferent,
            ]
        case .floatArithmetic:
            [
                .floatDataProcessing2, .floatDataProcessing2, .floatDataProcessing3, .floatDataProcessing1,
                .scalarTwoRegisterMisc, .scalarThreeSame,
            ]
        case .floatCompare: [.floatCompare, .floatConditionalCompare, .floatConditionalSelect]
        case .floatConvert: [.floatIntegerMove, .floatIntegerMove, .floatFixedConvert, .floatDataProcessing1]
        case .simdFloat:
            [.simdFloatThreeSame, .simdFloatThreeSame, .simdTwoRegisterMisc, .scalarPairwise, .simdByElement]
        // The AdvSIMD scalar groups (integer and FP rows alike).
        case .simdScalar:
            [
                .scalarThreeSame, .scalarThreeSame, .scalarTwoRegisterMisc, .scalarTwoRegisterMisc,
                .scalarShiftImmediate, .scalarShiftImmediate, .scalarThreeDifferent, .scalarByElement,
                .scalarByElement, .scalarCopy, .scalarPairwise,
            ]
        }
    }

    /// Groups mixed in between (flag setters for the conditional classes, ALU work around
    /// exclusives), and how often.
    var fillers: (groups: [InstructionGroup], ratio: Double) {
        switch self {
        case .conditional: ([.addSubImmediate, .addSubShifted, .logicalShifted], 0.25)
        case .exclusive: ([.addSubImmediate, .logicalShifted, .moveWide, .conditionalSelect], 0.3)
        case .branchCondition:
            (InstructionGroup.allCases.filter { !$0.isBranch && !$0.accessesMemory }, 0.5)
        // Integer loads/stores among vector ones: the same bytes through both register files.
        case .vectorLoadStore, .vectorStructure: ([.loadStoreUnsignedOffset, .loadStoreRegister], 0.2)
        default: ([], 0)
        }
    }

    var usesMemory: Bool { (groups + fillers.groups).contains { $0.accessesMemory } }
    var usesVectors: Bool { groups.contains { $0.usesVectors } }

    /// Looks a class up by name (case-insensitive; "all" = every class).
    static func named(_ name: String) -> [DiffClass]? {
        let key = name.trimmingCharacters(in: .whitespaces).lowercased()
        if key == "all" || key.isEmpty { return allCases }
        return allCases.first { $0.rawValue.lowercased() == key }.map { [$0] }
    }
}

/// Registers with a fixed role in the memory classes (never written by a generated instruction).
enum DiffRegisters {
    /// Write-back base: starts anywhere in the window (any alignment), moved only by writeback.
    static let movingBase = 26
    /// Index for register-offset addressing: 0...31.
    static let index = 27
    /// The middle of the window, 16-byte aligned.
    static let windowBase = 28
}

/// State the generator tracks along one sequence.
struct SequenceContext {
    var rng: DiffRandom
    let layout: DiffLayout
    /// Registers no instruction may write (bit n = Xn).
    let reserved: UInt32
    /// Known values of the address registers.
    var known: [Int: UInt64]
    let count: Int
    var index = 0
    var pc: UInt64
    /// The exclusive monitor after the instructions so far: the marked address and size.
    var monitor: (address: UInt64, bytes: Int64)?
    /// Accept only a store-exclusive from the exclusive group (to close an open monitor).
    var wantStoreExclusive = false

    func isReserved(_ r: UInt32) -> Bool { r < 32 && (reserved >> r) & 1 == 1 }

    /// A destination register: re-rolled while it is reserved, or 31 where 31 means SP.
    mutating func destination(_ r: UInt32, spIs31: Bool = false, avoiding: [UInt32] = []) -> UInt32 {
        var r = r
        while isReserved(r) || (spIs31 && r == 31) || avoiding.contains(r) { r = UInt32(rng.below(32)) }
        return r
    }

    /// A source register where 31 means SP: re-rolled to a general register.
    mutating func sourceNotSP(_ r: UInt32) -> UInt32 {
        var r = r
        while r == 31 { r = UInt32(rng.below(32)) }
        return r
    }

    /// The word offset of a forward branch: skip 0, 1 or 2 instructions (usually 1), never past
    /// the end of the sequence.
    mutating func branchOffset() -> UInt32 {
        let room = min(2, count - 1 - index)
        if room >= 1 && rng.chance(0.6) { return 2 }
        return UInt32(1 + rng.below(room + 1))
    }

    var windowLow: Int64 { Int64(layout.windowBase) }
    var windowHigh: Int64 { Int64(layout.windowBase) + Int64(layout.windowSize) }

    enum Writeback { case none, pre, post }

    /// A multiplier k in `range` such that the access [base + k * scale, + bytes) (or at base for
    /// post-index) lies in the window and a written-back base stays in it.
    mutating func offset(
        base: UInt64, scale: Int64, range: ClosedRange<Int64>, bytes: Int64, writeback: Writeback = .none
    )
        -> Int64?
    {
        let b = Int64(bitPattern: base)
        var lo: Int64
        var hi: Int64
        if writeback == .post {
            guard b >= windowLow && b + bytes <= windowHigh else { return nil }
            lo = ceilDiv(windowLow - b, scale)
            hi = floorDiv(windowHigh - b, scale)
        } else {
            lo = ceilDiv(windowLow - b, scale)
            hi = floorDiv(windowHigh - bytes - b, scale)
        }
        lo = max(lo, range.lowerBound)
        hi = min(hi, range.upperBound)
        guard lo <= hi else { return nil }
        return rng.inRange(lo, hi)
    }

    /// The address registers in random order.
    mutating func bases() -> [Int] {
        rng.chance(0.5)
            ? [DiffRegisters.windowBase, DiffRegisters.movingBase]
            : [DiffRegisters.movingBase, DiffRegisters.windowBase]
    }

    private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
    private func ceilDiv(_ a: Int64, _ b: Int64) -> Int64 { -floorDiv(-a, b) }
}

/// Builds test cases: random initial state plus a random sequence of one class.
struct DiffGenerator {
    let layout: DiffLayout
    /// Rows per group, from `EncodingTable.all`, optionally narrowed to some opcode names.
    let rows: [InstructionGroup: [Encoding]]

    static let nop: UInt32 = 0xD503_201F

    /// Words never generated: (mask, value) pairs, to keep a known bug out of a fuzzing run.
    let excluded: [(mask: UInt32, value: UInt32)]

    /// - Parameter opcodes: when given, only rows whose `Opcode` name (`String(describing:)`)
    ///   is in the list.
    init(layout: DiffLayout, opcodes: Set<String>? = nil, excluded: [(mask: UInt32, value: UInt32)] = []) {
        self.layout = layout
        self.excluded = excluded
        var rows: [InstructionGroup: [Encoding]] = [:]
        for group in InstructionGroup.allCases {
            rows[group] = EncodingTable.all.filter { row in
                row.op != .undefined && group.admits(row)
                    && (opcodes.map { $0.contains(String(describing: row.op)) } ?? true)
            }
        }
        self.rows = rows
    }

    /// Groups of `diffClass` that have rows in the table today.
    func availableGroups(_ diffClass: DiffClass) -> [InstructionGroup] {
        diffClass.groups.filter { !(rows[$0] ?? []).isEmpty }
    }

    /// Case `index` of a run: the same (seed, class, index) always gives the same case.
    func makeCase(_ diffClass: DiffClass, seed: UInt64, index: Int, slot: Int) -> DiffCase {
        var rng = DiffRandom(seed: seed, index: index)
        let count = 1 + rng.below(layout.maxWords)
        let memory = diffClass.usesMemory
        var state = Self.randomState(&rng, layout: layout, memory: memory)
        if diffClass.usesVectors { state.vector = Self.randomVectorState(&rng) }
        let address = layout.sequenceAddress(slot)
        var known: [Int: UInt64] = [:]
        var reserved: UInt32 = 0
        if memory {
            for r in [DiffRegisters.movingBase, DiffRegisters.index, DiffRegisters.windowBase] {
                known[r] = state.x[r]
                reserved |= 1 << UInt32(r)
            }
        }
        var context = SequenceContext(
            rng: rng, layout: layout, reserved: reserved, known: known, count: count, pc: address)
        let primary = availableGroups(diffClass)
        let fillers = diffClass.fillers.groups.filter { !(rows[$0] ?? []).isEmpty }
        var words: [UInt32] = []
        for i in 0..<count {
            context.index = i
            context.pc = address + UInt64(4 * i)
            // An open monitor is usually closed by a store-exclusive soon after.
            if context.monitor != nil && primary.contains(.loadStoreExclusive) && context.rng.chance(0.5) {
                context.wantStoreExclusive = true
                let word = instruction(from: [.loadStoreExclusive], &context)
                context.wantStoreExclusive = false
                if word != Self.nop {
                    words.append(word)
                    continue
                }
            }
            let useFiller = !fillers.isEmpty && context.rng.chance(diffClass.fillers.ratio)
            words.append(instruction(from: useFiller ? fillers : primary, &context))
        }
        return DiffCase(diffClass: diffClass, seed: seed, index: index, address: address, words: words, state: state)
    }

    /// One word from `groups`; NOP if nothing fits after many tries.
    func instruction(from groups: [InstructionGroup], _ context: inout SequenceContext) -> UInt32 {
        guard !groups.isEmpty else { return Self.nop }
        for _ in 0..<200 {
            let group = context.rng.pick(groups)
            guard let candidates = rows[group], !candidates.isEmpty else { continue }
            let row = context.rng.pick(candidates)
            let pattern = group.pattern
            var word = UInt32(truncatingIfNeeded: context.rng.next())
            word = (word & ~row.mask) | row.value
            word = (word & ~pattern.mask) | pattern.value
            var trial = context
            if trial.rng.chance(0.85) { word = Self.preferAllocated(group, word, &trial.rng) }
            guard let fixed = Self.constrain(group, word, &trial), row.matches(fixed),
                !excluded.contains(where: { fixed & $0.mask == $0.value })
            else { continue }
            // Encodings the core rejects are still worth testing (QEMU must agree they are
            // UNDEFINED), but they end the sequence: keep only a few.
            if Decoder.shared.decode(fixed).op == .undefined && !trial.rng.chance(0.15) {
                context.rng = trial.rng
                continue
            }
            context = trial
            return fixed
        }
        return Self.nop
    }

    // MARK: Field rules per group

    /// Steers random fields away from unallocated combinations (applied to most words, so that
    /// sequences seldom end early; the rest keep testing that both sides reject them).
    static func preferAllocated(_ group: InstructionGroup, _ word: UInt32, _ rng: inout DiffRandom) -> UInt32 {
        var w = word
        let sf = w.bit(31)
        switch group {
        case .logicalImmediate, .moveWide:
            if !sf { w.setField(22, 1, 0) }  // N / hw<1>
        case .bitfield:
            w.setField(22, 1, sf ? 1 : 0)  // N = sf
            if !sf {
                w.setField(21, 1, 0)  // immr < 32
                w.setField(15, 1, 0)  // imms < 32
            }
        case .extract:
            w.setField(22, 1, sf ? 1 : 0)
            if !sf { w.setField(15, 1, 0) }
        case .logicalShifted:
            if !sf { w.setField(15, 1, 0) }  // imm6 < 32
        case .addSubShifted:
            if !sf { w.setField(15, 1, 0) }
            if w.field(22, 2) == 3 { w.setField(22, 2, UInt32(rng.below(3))) }  // no shift type 11
        case .addSubExtended:
            w.setField(22, 2, 0)  // opt = 00
            if w.field(10, 3) > 4 { w.setField(10, 3, UInt32(rng.below(5))) }  // imm3 <= 4
        case .crc32:
            w.setField(31, 1, w.field(10, 2) == 3 ? 1 : 0)  // sf = 1 exactly for CRC32X/CX
        case .loadStoreRegister:
            if w.bit(21) && w.field(10, 2) == 2 { w.setField(14, 1, 1) }  // option<1> = 1
        case .loadStorePair:
            let load = w.bit(22)
            if w.field(30, 2) == 3 || (w.field(30, 2) == 1 && (!load || w.field(23, 2) == 0)) {
                w.setField(30, 2, rng.chance(0.5) ? 0 : 2)
            }
        case .loadStoreExclusive:
            if !w.bit(23) && w.bit(21) { w.setField(31, 1, 1) }  // pairs: size 1x
        case .vectorLiteral, .vectorPair:
            if w.field(30, 2) == 3 { w.setField(30, 2, UInt32(rng.below(3))) }  // opc 11 unallocated
        case .vectorRegister, .vectorUnsignedOffset:
            if w.bit(23) { w.setField(30, 2, 0) }  // Q: size 00
            if group == .vectorRegister {
                if w.bit(21) {
                    w.setField(10, 2, 2)  // register offset
                    w.setField(14, 1, 1)  // option<1> = 1
                } else if w.field(10, 2) == 2 {
                    w.setField(10, 2, UInt32([0, 1, 3][rng.below(3)]))  // no unprivileged form
                }
            }
        case .structureMultiple:
            if !w.bit(23) { w.setField(16, 6, 0) }
            w.setField(12, 4, UInt32(rng.pick([0b0000, 0b0010, 0b0100, 0b0110, 0b0111, 0b1000, 0b1010])))
            if w.field(10, 2) == 3 && !w.bit(30) {
                w.setField(12, 4, UInt32(rng.pick([0b0010, 0b0110, 0b0111, 0b1010])))
            }
        case .simdThreeSame, .simdPermute:
            if w.field(22, 2) == 3 && !w.bit(30) { w.setField(30, 1, 1) }  // 64-bit elements need Q
        case .simdTwoRegisterMisc, .simdFloatThreeSame:
            if w.bit(22) && !w.bit(30) { w.setField(30, 1, 1) }  // 64-bit elements, double lanes need Q
        case .simdThreeDifferent:
            if w.field(22, 2) == 3 { w.setField(22, 2, UInt32(rng.below(3))) }
        case .simdByElement:
            if w.bit(23) {  // FP lanes: a double index is H alone, and needs Q
                if w.bit(22) {
                    w.setField(21, 1, 0)
                    w.setField(30, 1, 1)
                }
            } else {
                w.setField(22, 2, UInt32(1 + rng.below(2)))  // integer: 16- or 32-bit lanes
            }
        case .scalarShiftImmediate:
            if w.field(19, 4) == 0 { w.setField(19, 4, UInt32(1 + rng.below(15))) }
        case .scalarThreeDifferent:
            w.setField(22, 2, UInt32(1 + rng.below(2)))  // 16- or 32-bit sources
        case .scalarByElement:
            if w.bit(23) {
                if w.bit(22) { w.setField(21, 1, 0) }  // FP double: the index is H alone
            } else {
                w.setField(22, 2, UInt32(1 + rng.below(2)))
            }
        case .scalarCopy:
            if w.field(16, 4) == 0 { w.setField(16, 4, UInt32(1 + rng.below(15))) }
        case .simdAcrossLanes:
            if w.field(22, 2) == 3 { w.setField(22, 2, UInt32(rng.below(3))) }
            if w.field(22, 2) == 2 { w.setField(30, 1, 1) }
        case .simdShiftImmediate:
            if w.field(19, 4) == 0 { w.setField(19, 4, UInt32(1 + rng.below(15))) }
            if w.bit(22) { w.setField(30, 1, 1) }
        case .simdCopy:
            if w.field(16, 4) == 0 { w.setField(16, 4, UInt32(1 + rng.below(15))) }
        case .simdModifiedImmediate:
            w.setField(11, 1, 0)  // o2: FP16 only
        case .floatFixedConvert:
            if !w.bit(31) { w.setField(15, 1, 1) }  // 32-bit: fbits <= 32
        case .structureSingle:
            if !w.bit(23) { w.setField(16, 5, 0) }
            switch w.field(14, 2) {
            case 1: w.setField(10, 1, 0)  // H: size<0> = 0
            case 2:
                w.setField(11, 1, 0)  // S/D: size<1> = 0
                if w.bit(10) { w.setField(12, 1, 0) }  // D: S = 0
            case 3:
                w.setField(22, 1, 1)  // replicate: loads only, S = 0
                w.setField(12, 1, 0)
            default: break
            }
        default:
            break
        }
        return w
    }

    /// Applies the group's rules to a random word; nil when this word cannot be used here.
    static func constrain(_ group: InstructionGroup, _ word: UInt32, _ c: inout SequenceContext) -> UInt32? {
        var w = word
        let rd = w.field(0, 5)
        let rn = w.field(5, 5)
        switch group {
        case .pcRelative, .moveWide, .bitfield, .extract, .logicalShifted, .addSubShifted, .conditionalSelect,
            .divideAndShift, .crc32, .dataProcessing1Source:
            w.setField(0, 5, c.destination(rd))

        case .addSubImmediate, .addSubExtended:
            // Rn is SP-or-register; Rd too unless flags are set (S = bit 29).
            w.setField(5, 5, c.sourceNotSP(rn))
            w.setField(0, 5, c.destination(rd, spIs31: !w.bit(29)))

        case .logicalImmediate:
            // Rd is SP-or-register except for ANDS (opc = 11).
            w.setField(0, 5, c.destination(rd, spIs31: w.field(29, 2) != 3))

        case .addSubCarry:
            w.setField(10, 6, 0)  // opcode2 = 000000 in ARMv8.0
            w.setField(0, 5, c.destination(rd))

        case .conditionalCompare:
            break  // writes only NZCV

        case .dataProcessing3Source:
            w.setField(0, 5, c.destination(rd))
            // SMULH/UMULH: Ra is "should be one".
            let op31 = w.field(21, 3)
            if (op31 == 0b010 || op31 == 0b110) && !w.bit(15) { w.setField(10, 5, 31) }

        case .conditionalBranch:
            w.setField(4, 1, 0)
            w.setField(5, 19, c.branchOffset())
        case .compareBranch:
            w.setField(5, 19, c.branchOffset())
        case .testBranch:
            w.setField(5, 14, c.branchOffset())
        case .unconditionalBranch:
            if w.bit(31) && c.isReserved(30) { return nil }  // BL writes X30
            w.setField(0, 26, c.branchOffset())

        case .loadLiteral:
            return constrainLiteral(w, &c)
        case .loadStorePair:
            return constrainPair(w, &c)
        case .loadStoreRegister:
            return constrainRegisterForms(w, &c)
        case .loadStoreUnsignedOffset:
            return constrainUnsignedOffset(w, &c)
        case .loadStoreExclusive:
            return constrainExclusive(w, &c)
        case .vectorLiteral:
            return constrainLiteral(w, &c)
        case .vectorPair:
            return constrainPair(w, &c)
        case .vectorRegister:
            return constrainRegisterForms(w, &c)
        case .vectorUnsignedOffset:
            return constrainUnsignedOffset(w, &c)
        case .structureMultiple, .structureSingle:
            return constrainStructure(w, &c)
        case .simdCopy:
            // UMOV/SMOV write a general register.
            if !w.bit(29) && (w.field(11, 4) == 0b0101 || w.field(11, 4) == 0b0111) {
                w.setField(0, 5, c.destination(rd))
            }
        case .floatIntegerMove:
            // FCVT* and FMOV to a general register write one.
            if ![0b010, 0b011, 0b111].contains(w.field(16, 3)) { w.setField(0, 5, c.destination(rd)) }
        case .floatFixedConvert:
            if w.field(17, 2) == 0 { w.setField(0, 5, c.destination(rd)) }  // FCVTZS/FCVTZU
        case .floatCompare:
            if w.bit(3) { w.setField(16, 5, 0) }  // the compare-with-zero forms: Rm should be zero
        case .simdModifiedImmediate, .simdThreeSame, .simdTwoRegisterMisc, .simdAcrossLanes, .simdPermute,
            .simdExtract, .simdTableLookup, .simdShiftImmediate, .floatDataProcessing1, .floatImmediate,
            .floatDataProcessing2, .floatDataProcessing3, .floatConditionalCompare, .floatConditionalSelect,
            .scalarTwoRegisterMisc, .scalarThreeSame, .simdFloatThreeSame, .scalarPairwise, .simdThreeDifferent,
            .simdByElement, .scalarShiftImmediate, .scalarThreeDifferent, .scalarByElement, .scalarCopy:
            break  // V registers only
        }
        return w
    }

    /// Bytes an AdvSIMD structure load/store transfers (Arm ARM C4.1.88), nil if unallocated.
    static func structureBytes(_ w: UInt32) -> Int64? {
        let q = w.bit(30)
        let size = w.field(10, 2)
        if !w.bit(24) {
            let layout: (Int64, Int64)
            switch w.field(12, 4) {
            case 0b0000: layout = (1, 4)
            case 0b0010: layout = (4, 1)
            case 0b0100: layout = (1, 3)
            case 0b0110: layout = (3, 1)
            case 0b0111: layout = (1, 1)
            case 0b1000: layout = (1, 2)
            case 0b1010: layout = (2, 1)
            default: return nil
            }
            if size == 3 && !q && layout.1 != 1 { return nil }
            return layout.0 * layout.1 * (q ? 16 : 8)
        }
        let opcode = w.field(13, 3)
        let selem = Int64((opcode & 1) << 1 | w.field(21, 1)) + 1
        switch opcode >> 1 {
        case 0: return selem
        case 1: return size & 1 == 0 ? selem * 2 : nil
        case 2:
            if size & 2 != 0 || (size == 1 && w.bit(12)) { return nil }
            return selem * (size == 0 ? 4 : 8)
        default:
            return w.bit(22) && !w.bit(12) ? selem << Int64(size) : nil
        }
    }

    /// LD1–LD4/ST1–ST4/LDnR: the transfer lies in the window; post-index moves X26 by the
    /// transfer size (Rm = 31) or by X27, and keeps it in the window.
    static func constrainStructure(_ word: UInt32, _ c: inout SequenceContext) -> UInt32? {
        var w = word
        guard let bytes = structureBytes(w) else {
            w.setField(5, 5, UInt32(DiffRegisters.windowBase))  // UNDEFINED; keep it harmless
            return w
        }
        if !w.bit(22) && c.monitor != nil { return nil }
        let post = w.bit(23)
        if post { w.setField(16, 5, c.rng.chance(0.5) ? 31 : UInt32(DiffRegisters.index)) }
        let candidates = post ? [DiffRegisters.movingBase] : c.bases()
        let step: Int64 = w.field(16, 5) == 31 ? bytes : Int64(c.known[DiffRegisters.index]!)
        for base in candidates {
            let address = Int64(bitPattern: c.known[base]!)
            guard address >= c.windowLow && address + bytes <= c.windowHigh else { continue }
            if post {
                guard address + step <= c.windowHigh - 16 else { continue }
                c.known[base] = UInt64(address + step)
            }
            w.setField(5, 5, UInt32(base))
            return w
        }
        return nil
    }

    /// LDR/LDRSW/PRFM (literal): the target is in the window.
    static func constrainLiteral(_ word: UInt32, _ c: inout SequenceContext) -> UInt32? {
        var w = word
        let opc = w.field(30, 2)
        let vector = w.bit(26)
        let bytes: Int64 = vector ? 4 << Int64(min(opc, 2)) : opc == 1 ? 8 : 4
        guard let k = c.offset(base: c.pc, scale: 4, range: -(1 << 18)...((1 << 18) - 1), bytes: bytes) else {
            return nil
        }
        w.setField(5, 19, UInt32(truncatingIfNeeded: k))
        if opc != 3 && !vector { w.setField(0, 5, c.destination(w.field(0, 5))) }
        return w
    }

    /// Size in bytes of a single-register access (1 for PRFM, which accesses nothing), whether
    /// it is a load, and whether it is a store.
    static func singleAccess(_ w: UInt32) -> (bytes: Int64, size: UInt32, load: Bool, store: Bool) {
        let size = w.field(30, 2)
        let opc = w.field(22, 2)
        if w.bit(26) {
            // SIMD&FP: size:opc<1> (Q is size 00, opc 1x); Rt is a V register.
            let log2 = opc & 2 != 0 ? 4 : size
            return (1 << Int64(log2), log2, opc & 1 == 1, opc & 1 == 0)
        }
        let prefetch = size == 3 && opc == 2
        return (prefetch ? 1 : 1 << Int64(size), size, opc != 0 && !prefetch, opc == 0)
    }

    /// Unscaled, pre/post-index, unprivileged and register-offset single-register forms.
    static func constrainRegisterForms(_ word: UInt32, _ c: inout SequenceContext) -> UInt32? {
        var w = word
        let access = singleAccess(w)
        if access.store && c.monitor != nil { return nil }
        let kind = w.field(10, 2)
        var writeback = SequenceContext.Writeback.none
        if !w.bit(21) {
            // imm9: unscaled (00), post-index (01), unprivileged (10), pre-index (11).
            writeback = kind == 1 ? .post : kind == 3 ? .pre : .none
            let candidates = writeback == .none ? c.bases() : [DiffRegisters.movingBase]
            var chosen: (Int, Int64)?
            for base in candidates {
                if let k = c.offset(
                    base: c.known[base]!, scale: 1, range: -256...255, bytes: access.bytes, writeback: writeback)
                {
                    chosen = (base, k)
                    break
                }
            }
            guard let (base, k) = chosen else { return nil }
            w.setField(5, 5, UInt32(base))
            w.setField(12, 9, UInt32(truncatingIfNeeded: k))
            if writeback != .none { c.known[base] = UInt64(Int64(bitPattern: c.known[base]!) + k) }
        } else if kind == 2 {
            // Register offset: Rm = the index register, extended and optionally scaled.
            w.setField(16, 5, UInt32(DiffRegisters.index))
            let option = w.field(13, 3)
            let index = c.known[DiffRegisters.index]!
            var offset: UInt64
            switch option {
            case 0b010: offset = index & 0xFFFF_FFFF
            case 0b110: offset = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: index)))
            default: offset = index
            }
            if w.bit(12) { offset <<= UInt64(access.size) }
            var chosen: Int?
            for base in c.bases() {
                let address = Int64(bitPattern: c.known[base]! &+ offset)
                if address >= c.windowLow && address + access.bytes <= c.windowHigh {
                    chosen = base
                    break
                }
            }
            guard let base = chosen else { return nil }
            w.setField(5, 5, UInt32(base))
        } else {
            // Not an ARMv8.0 encoding (atomics, LDRAA/LDRAB): UNDEFINED; keep it harmless.
            w.setField(5, 5, UInt32(DiffRegisters.windowBase))
        }
        if w.bit(26) {
            return w  // Rt is a V register
        } else if access.load {
            w.setField(0, 5, c.destination(w.field(0, 5)))
        } else if access.store && writeback != .none && w.field(0, 5) == w.field(5, 5) {
            w.setField(0, 5, c.destination(w.field(0, 5), avoiding: [w.field(5, 5)]))
        }
        return w
    }

    /// LDR/STR/PRFM (immediate, unsigned offset).
    static func constrainUnsignedOffset(_ word: UInt32, _ c: inout SequenceContext) -> UInt32? {
        var w = word
        let access = singleAccess(w)
        if access.store && c.monitor != nil { return nil }
        var chosen: (Int, Int64)?
        for base in c.bases() {
            if let k = c.offset(
                base: c.known[base]!, scale: 1 << Int64(access.size), range: 0...4095, bytes: access.bytes)
            {
                chosen = (base, k)
                break
            }
        }
        guard let (base, k) = chosen else { return nil }
        w.setField(5, 5, UInt32(base))
        w.setField(10, 12, UInt32(k))
        if access.load && !w.bit(26) { w.setField(0, 5, c.destination(w.field(0, 5))) }
        return w
    }

    /// LDP/STP/LDPSW/LDNP/STNP: offset, pre- and post-index.
    static func constrainPair(_ word: UInt32, _ c: inout SequenceContext) -> UInt32? {
        var w = word
        let opc = w.field(30, 2)
        let load = w.bit(22)
        let vector = w.bit(26)
        if !load && c.monitor != nil { return nil }
        let scale: Int64 = vector ? 4 << Int64(min(opc, 2)) : opc >= 2 ? 8 : 4
        let type = w.field(23, 2)
        let writeback: SequenceContext.Writeback = type == 1 ? .post : type == 3 ? .pre : .none
        let candidates = writeback == .none ? c.bases() : [DiffRegisters.movingBase]
        var chosen: (Int, Int64)?
        for base in candidates {
            if let k = c.offset(
                base: c.known[base]!, scale: scale, range: -64...63, bytes: 2 * scale, writeback: writeback)
            {
                chosen = (base, k)
                break
            }
        }
        guard let (base, k) = chosen else { return nil }
        w.setField(5, 5, UInt32(base))
        w.setField(15, 7, UInt32(truncatingIfNeeded: k))
        if writeback != .none { c.known[base] = UInt64(Int64(bitPattern: c.known[base]!) + k * scale) }
        if vector {
            // Rt == Rt2 is CONSTRAINED UNPREDICTABLE for loads.
            if load && w.field(10, 5) == w.field(0, 5) { w.setField(10, 5, (w.field(0, 5) + 1) & 31) }
        } else if load {
            // Rt == Rt2 is CONSTRAINED UNPREDICTABLE for loads.
            let rt = c.destination(w.field(0, 5))
            w.setField(0, 5, rt)
            w.setField(10, 5, c.destination(w.field(10, 5), avoiding: [rt]))
        } else if writeback != .none {
            // A written-back base that is also stored is CONSTRAINED UNPREDICTABLE.
            w.setField(0, 5, c.destination(w.field(0, 5), avoiding: [UInt32(base)]))
            w.setField(10, 5, c.destination(w.field(10, 5), avoiding: [UInt32(base)]))
        }
        return w
    }

    /// LDXR/STXR/LDAXR/STLXR (single and pair), LDAR/STLR. Keeps the exclusive monitor
    /// architecturally defined: a store-exclusive either follows a load-exclusive of exactly the
    /// same address and size or finds the monitor open; no other store while it is exclusive;
    /// store-exclusives are aligned (QEMU checks the monitor before alignment).
    static func constrainExclusive(_ word: UInt32, _ c: inout SequenceContext) -> UInt32? {
        var w = word
        let o2 = w.bit(23)
        let load = w.bit(22)
        let o1 = w.bit(21)
        let o0 = w.bit(15)
        let size = w.field(30, 2)
        if (!o2 && o1 && size < 2) || (o2 && (o1 || !o0)) {
            // CASP/CAS/LDLAR/STLLR (ARMv8.1): UNDEFINED here; keep it harmless.
            w.setField(5, 5, UInt32(DiffRegisters.windowBase))
            return w
        }
        let pair = !o2 && o1
        if c.wantStoreExclusive && (o2 || load) { return nil }
        if !o2 && !load, let monitor = c.monitor {
            // Match the size of the marked block (a mismatch is CONSTRAINED UNPREDICTABLE).
            let element = pair ? monitor.bytes / 2 : monitor.bytes
            guard element >= (pair ? 4 : 1) else { return nil }
            w.setField(30, 2, UInt32(element.trailingZeroBitCount))
        }
        let bytes: Int64 = (pair ? 2 : 1) << Int64(w.field(30, 2))
        if o2 || load { w.setField(16, 5, 31) }  // Rs: should be one
        if !pair { w.setField(10, 5, 31) }  // Rt2: should be one

        let known = c.known
        let (low, high) = (c.windowLow, c.windowHigh)
        func inWindow(_ base: Int) -> Bool {
            let address = Int64(bitPattern: known[base]!)
            return address >= low && address + bytes <= high
        }
        if load {
            guard let base = c.bases().first(where: inWindow) else { return nil }
            w.setField(5, 5, UInt32(base))
            let rt = c.destination(w.field(0, 5))
            w.setField(0, 5, rt)
            if pair { w.setField(10, 5, c.destination(w.field(10, 5), avoiding: [rt])) }
            if !o2 { c.monitor = (c.known[base]!, bytes) }
            return w
        }
        if o2 {
            // STLR: a plain store as far as the monitor goes.
            guard c.monitor == nil, let base = c.bases().first(where: inWindow) else { return nil }
            w.setField(5, 5, UInt32(base))
            return w
        }
        // Store-exclusive.
        var base: Int?
        if let monitor = c.monitor {
            guard monitor.bytes == bytes else { return nil }
            base = c.bases().first { c.known[$0]! == monitor.address }
        } else {
            base = c.bases().first { c.known[$0]! % UInt64(bytes) == 0 && inWindow($0) }
        }
        guard let base else { return nil }
        w.setField(5, 5, UInt32(base))
        let rt = w.field(0, 5)
        let rt2 = w.field(10, 5)
        // Rs == Rt, Rt2 or Rn is CONSTRAINED UNPREDICTABLE.
        w.setField(
            16, 5, c.destination(w.field(16, 5), avoiding: pair ? [rt, rt2, UInt32(base)] : [rt, UInt32(base)]))
        c.monitor = nil
        return w
    }

    // MARK: Initial state

    static let interestingValues: [UInt64] = [
        0, 1, 2, 3, 31, 32, 63, 64, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000, 0xFFFF_FFFF_8000_0000,
        0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ~0, ~1,
        0x5555_5555_5555_5555, 0xAAAA_AAAA_AAAA_AAAA, 0x0123_4567_89AB_CDEF,
    ]

    /// A register value: edge cases, small numbers, powers of two, random 32- and 64-bit values.
    static func randomValue(_ rng: inout DiffRandom) -> UInt64 {
        switch rng.below(10) {
        case 0, 1, 2: return rng.pick(interestingValues)
        case 3: return UInt64(rng.below(65))
        case 4: return UInt64(bitPattern: -Int64(rng.below(65)))
        case 5:
            let p: UInt64 = 1 << UInt64(rng.below(64))
            return [p, p &- 1, p &+ 1][rng.below(3)]
        case 6: return rng.next() & 0xFFFF_FFFF
        case 7: return UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: rng.next())))
        default: return rng.next()
        }
    }

    /// Doubles worth having in a register: zeros, infinities, NaNs with payloads (quiet and
    /// signalling), the smallest and largest denormals and normals, and values near integer
    /// boundaries.
    static let specialDoubles: [UInt64] = [
        0, 0x8000_0000_0000_0000, 0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000, 0x7FF8_0000_0000_0000,
        0xFFF8_0000_0000_0001, 0x7FF0_0000_0000_0001, 0xFFF4_0000_DEAD_BEEF, 0x0000_0000_0000_0001,
        0x000F_FFFF_FFFF_FFFF, 0x0010_0000_0000_0000, 0x7FEF_FFFF_FFFF_FFFF, 0x3FF0_0000_0000_0000,
        0xBFF0_0000_0000_0000, 0x3FE0_0000_0000_0000, 0x41DF_FFFF_FFC0_0000, 0x41E0_0000_0000_0000,
        0xC1E0_0000_0000_0000, 0x43E0_0000_0000_0000, 0x43F0_0000_0000_0000, 0xC3E0_0000_0000_0000,
        0x4330_0000_0000_0001, 0x3FF8_0000_0000_0000, 0x4004_0000_0000_0000,
    ]

    /// Singles likewise.
    static let specialFloats: [UInt32] = [
        0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0xFFC0_0001, 0x7F80_0001, 0xFFA0_BEEF, 1,
        0x007F_FFFF, 0x0080_0000, 0x7F7F_FFFF, 0x3F80_0000, 0xBF80_0000, 0x3F00_0000, 0x4EFF_FFFF, 0x4F00_0000,
        0xCF00_0000, 0x5F00_0000, 0x5F80_0000, 0x3FC0_0000, 0x4B00_0001,
    ]

    /// One 64-bit half of a Q register: random bits, a special double, or two special singles.
    static func randomVectorHalf(_ rng: inout DiffRandom) -> UInt64 {
        switch rng.below(6) {
        case 0, 1: return rng.next()
        case 2, 3: return rng.pick(specialDoubles)
        case 4: return UInt64(rng.pick(specialFloats)) | UInt64(rng.pick(specialFloats)) << 32
        default: return randomValue(&rng)
        }
    }

    /// Q0–Q31 from `randomVectorHalf`, FPCR with a random rounding mode, FZ, DN and AHP, and
    /// FPSR with some cumulative flags already set.
    static func randomVectorState(_ rng: inout DiffRandom) -> DiffVectorState {
        let q = (0..<64).map { _ in randomVectorHalf(&rng) }
        let fpcr = UInt64(rng.below(16)) << 22 | (rng.chance(0.3) ? FloatingPointControl.alternativeHalfPrecision : 0)
        let fpsr = rng.chance(0.5) ? 0 : rng.next() & FloatingPointControl.fpsrWritable
        return DiffVectorState(q: q, fpcr: fpcr, fpsr: fpsr)
    }

    static func randomState(_ rng: inout DiffRandom, layout: DiffLayout, memory: Bool) -> DiffState {
        var x = (0..<31).map { _ in randomValue(&rng) }
        if memory {
            // X28: middle of the window. X26: anywhere in the window, usually aligned (the
            // exclusives need alignment; misaligned ones must fault on both sides).
            x[DiffRegisters.windowBase] = layout.windowBase + UInt64(layout.windowSize / 2)
            let alignment: UInt64 = [16, 16, 16, 16, 16, 8, 8, 4, 2, 1][rng.below(10)]
            let offset = UInt64(rng.below(layout.windowSize - 15)) & ~(alignment - 1)
            x[DiffRegisters.movingBase] = layout.windowBase + offset
            x[DiffRegisters.index] = UInt64(rng.below(32))
        }
        let nzcv = UInt64(rng.below(16)) << 28
        var window = [UInt8](repeating: 0, count: layout.windowSize)
        var i = 0
        while i + 8 <= window.count {
            let value = rng.chance(0.3) ? rng.pick(interestingValues) : rng.next()
            for b in 0..<8 { window[i + b] = UInt8(truncatingIfNeeded: value >> UInt64(8 * b)) }
            i += 8
        }
        return DiffState(x: x, nzcv: nzcv, window: window)
    }
}

extension DiffGenerator {
    /// For a forward branch the generator made, the index its target has (the terminator is at
    /// the sequence's length); nil for anything else.
    static func branchTarget(_ w: UInt32, at index: Int) -> Int? {
        let groups: [(InstructionGroup, Int, Int)] = [
            (.conditionalBranch, 5, 19), (.compareBranch, 5, 19), (.testBranch, 5, 14), (.unconditionalBranch, 0, 26),
        ]
        for (group, lo, width) in groups {
            let p = group.pattern
            if w & p.mask == p.value {
                let raw = (Int64(w.field(lo, width)) << (64 - width)) >> (64 - width)
                return index + Int(raw)
            }
        }
        return nil
    }
}
