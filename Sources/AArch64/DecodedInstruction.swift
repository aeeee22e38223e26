/// What the interpreter executes: one instruction with its operand fields already extracted.
///
/// A plain struct of scalars (32 bytes), stored in the block arena, so the hot loop touches no
/// reference-counted value. Register fields are slot numbers into `CPU.registers`: 31 is the
/// zero register, 32 the current stack pointer (the decoder resolves "SP or ZR" per encoding).
public struct DecodedInstruction: Sendable {
    public var op: Opcode
    public var rd: UInt8 = 31
    public var rn: UInt8 = 31
    public var rm: UInt8 = 31
    /// 1 for 64-bit (X) operation, 0 for 32-bit (W).
    public var sf: UInt8 = 1
    /// Per-format: condition, shift type, access size (log2), hint number.
    public var a: UInt8 = 0
    /// Per-format: shift amount, bit position, sign-extension target.
    public var b: UInt8 = 0
    /// The opcode as decoded, before `BlockCache.specialize` picks a faster form for `op`. The
    /// interpreter dispatches on `op` and tells the members of a grouped case apart by `kind`: a
    /// case that read `op` again would keep the dispatch value alive past the jump, and LLVM then
    /// copied it into three registers on every dispatch (three host instructions per guest
    /// instruction).
    public var kind: Opcode
    public var imm: UInt64 = 0
    /// Second immediate: the `tmask` of bitfield moves, Rt2 of pairs, Rs of exclusives.
    public var imm2: UInt64 = 0
    /// The encoding, kept for syndromes and diagnostics.
    public var raw: UInt32 = 0
    /// Per-format flags (`Flags`).
    public var flags: UInt8 = 0
    /// The instruction's place in its decoded block (0 for the first; the `.blockEnd` sentinel
    /// holds the block's length): its PC is the block's PC + 4 × `position`
    /// (`CPU.pc(of:inBlockAt:)`), so the interpreter keeps the block's PC and never counts the PC
    /// up instruction by instruction.
    public var position: UInt8 = 0

    public init(op: Opcode, raw: UInt32) {
        self.op = op
        self.kind = op
        self.raw = raw
    }
}

/// Every operation the interpreter implements. The decoder maps encodings to these through
/// `EncodingTable`; anything it cannot map becomes `.undefined`.
public enum Opcode: UInt8, Sendable, CaseIterable {
    case undefined
    // Data processing, immediate (Arm ARM C4.1.86).
    case addImmediate, addsImmediate, subImmediate, subsImmediate
    case andImmediate, orrImmediate, eorImmediate, andsImmediate
    case movz, movn, movk
    case sbfm, bfm, ubfm, extr
    case adr, adrp
    // Data processing, register (C4.1.87).
    case addShifted, addsShifted, subShifted, subsShifted
    case addExtended, addsExtended, subExtended, subsExtended
    case adc, adcs, sbc, sbcs
    case andShifted, bicShifted, orrShifted, ornShifted, eorShifted, eonShifted, andsShifted, bicsShifted
    case ccmnRegister, ccmpRegister, ccmnImmediate, ccmpImmediate
    case csel, csinc, csinv, csneg
    case madd, msub, smaddl, smsubl, smulh, umaddl, umsubl, umulh
    case udiv, sdiv, lslv, lsrv, asrv, rorv, crc32
    case rbit, rev16, rev, rev32, clz, cls
    // Branches, exception generation and system (C4.1.85).
    case b, bl, bCond, cbz, cbnz, tbz, tbnz, br, blr, ret, eret
    case svc, hvc, smc, brk, hlt
    case hint, wfi, wfe, sev, sevl, barrier, isb, clrex
    case mrs, msrRegister, msrImmediate, sys, sysl
    // Loads and stores (C4.1.88).
    case loadLiteral, loadSignedLiteral, prefetch
    case loadStoreUnsigned, loadStoreImmediate9, loadStoreRegister
    case load, loadSigned, store
    case loadPair, loadPairSigned, storePair
    case loadExclusive, storeExclusive, loadExclusivePair, storeExclusivePair, loadAcquire, storeRelease
    // SIMD&FP loads and stores (C4.1.88 with V = 1; `SIMDLoadStore.swift`): one or two
    // registers (every addressing mode, `AddressingMode` in `b`), and the AdvSIMD structure
    // loads/stores LD1–LD4/ST1–ST4/LD1R–LD4R (`StructureKind` in `imm2`).
    case vectorLoadStore, vectorStructure
    // Advanced SIMD data processing (C4.1.95 "Data Processing -- Scalar Floating-Point and
    // Advanced SIMD"), one opcode per encoding group; `DecoderAdvancedSIMD.swift` puts the
    // operation in `b`, the element size (log2) in `a`, Q in `sf` and U in `imm2`.
    case simdCopy, simdModifiedImmediate, simdThreeSame, simdTwoRegisterMisc, simdAcrossLanes
    case simdPermute, simdExtract, simdTableLookup, simdShiftImmediate, simdThreeDifferent
    /// FMOV (general, register, scalar immediate), FABS/FNEG (scalar): moves of FP register
    /// bits that need no FP arithmetic (`AdvancedSIMD.swift`, `floatMove`).
    case floatMove
    /// Scalar FP arithmetic (`FloatingPoint.swift`): `a` = log2 of the size (2 single, 3
    /// double), `b` = the group's opcode. 2-source (FMUL … FNMUL), 3-source (`b` = o1:o0, Ra
    /// in `imm2`), 1-source (FSQRT, FCVT, FRINT*), compare (`b` bit 0 = with zero, bit 1 =
    /// signalling), conditional compare (`b` = nzcv, `imm` = signalling, `imm2` = condition
    /// mask), conditional select (`imm2` = condition mask), and conversions to and from
    /// integers and fixed point (`b` = rmode:opcode, `imm` = fbits).
    case floatArithmetic, floatMultiplyAdd, floatUnary, floatCompare, floatConditionalCompare
    case floatConditionalSelect, floatIntegerConvert
    /// FRECPE, FRSQRTE, FRECPX, FRECPS, FRSQRTS (scalar; `b` 0–4, `FloatingPointEstimate.swift`).
    case floatEstimate
    /// Advanced SIMD FP, lane by lane (`FloatingPointVector.swift`).
    case simdFloatThreeSame, simdFloatTwoRegisterMisc
    /// ADDP, FADDP, FMAXP, FMINP, FMAXNMP, FMINNMP (scalar): the two lanes of Vn combined.
    case simdScalarPairwise
    /// MUL/MLA/MLS and FMUL/FMULX/FMLA/FMLS by element (vector forms).
    case simdByElement
    /// Specialized forms of the commonest loads and stores, chosen by `BlockCache.specialize`
    /// (the decoder never returns them): LDR/STR of an X or W register at base + immediate with
    /// no writeback, and LDP/STP of X registers in any index mode. `imm2` is 0xF when the base is
    /// SP (its alignment is checked on the slow path), 0 otherwise. Each runs an inline TLB hit
    /// and otherwise falls through to the general case.
    case load32, load64, store32, store64, loadPair64, storePair64
    // LDR Xt, [Xn, Xm{, LSL #3}] (register offset, UXTX/SXTX/LSL; operands as `.load` decodes them).
    case load64Register
    // Specialized data processing (`BlockCache.specialize`): the commonest forms with their
    // variants resolved at decode time. ADD/SUB (immediate) as one addition of a possibly negated
    // `imm`; MOVZ/MOVN as the constant they produce; the 64-bit shifted-register forms with LSL
    // (shift in `b`; for the logical ones `imm` is ~0 when the operand is inverted).
    case addImmediate64, addImmediate32, subsImmediate64, moveConstant
    case addRegister64, subRegister64, subsRegister64, andRegister64, orrRegister64, eorRegister64
    /// The same 64-bit register forms with no shift and no inverted operand, Rd = Rn op Rm (the
    /// forms compilers emit most), and MOV (register), which is ORR Xd, XZR, Xm: Rd = Rm.
    case addUnshifted64, subUnshifted64, andUnshifted64, orrUnshifted64, eorUnshifted64, moveRegister64
    /// SUBS/CMP of X right before the B.cond that ends its block (the bottom of a counted loop),
    /// run in one dispatch with that B.cond, which stays in the next slot for its operands
    /// (`BlockCache.fuseCompareAndBranch`): Rd = Rn − ((Rm << `b`) + `imm`), one of the two
    /// terms zero (Rm = XZR for the immediate form, `imm` = 0 for the register form); `imm2` is
    /// the B.cond's `Arithmetic.compareMask`, tested on the operands, and NZCV is left pending
    /// (`CoreState.deferSubtractionFlags`).
    case subsThenBranch
    /// `subsThenBranch` whose B.cond is a `bCondLoop`.
    case subsThenLoop
    /// `subsThenLoop` whose B.cond is B.NE (a counted loop's bottom): taken while the operands
    /// differ.
    case subsThenLoopWhileNonZero
    /// A B.cond back to the start of its own block (the bottom of a loop of one block; marked at
    /// build by `BlockCache.markLoop`): taken, it re-runs the block in place, with no target to
    /// work out.
    case bCondLoop
    /// Not an instruction: the sentinel `BlockCache` puts after every block, so the interpreter
    /// needs no end-of-block test.
    case blockEnd
}

/// Bits of `DecodedInstruction.flags`.
public enum InstructionFlags {
    /// Load-acquire / store-release semantics (exclusives, LDAR/STLR).
    public static let ordered: UInt8 = 1 << 0
    /// LDTR/STTR: the access is checked as if made from EL0.
    public static let unprivileged: UInt8 = 1 << 1
    /// Immediate form (CCMP/CCMN).
    public static let immediate: UInt8 = 1 << 2
    /// CRC32C (Castagnoli polynomial) rather than CRC32.
    public static let castagnoli: UInt8 = 1 << 3
    /// Write the computed address back to the base register.
    public static let writeback: UInt8 = 1 << 4
    /// Post-index: access at the base, then write back base + offset.
    public static let postIndex: UInt8 = 1 << 5
    /// SIMD&FP and structure accesses: a load (otherwise a store).
    public static let vectorLoad: UInt8 = 1 << 6
    /// SIMD&FP pair (LDP/STP/LDNP/STNP): Rt2 in `rm`.
    public static let vectorPair: UInt8 = 1 << 7
}

/// The AdvSIMD structure access a `.vectorStructure` instruction makes (Arm ARM C3.2.8).
public enum StructureKind: UInt64 {
    /// LD1–LD4/ST1–ST4 (multiple structures): `imm` = repeat count, `b` = elements per structure.
    case multiple = 0
    /// LD1–LD4/ST1–ST4 (single structure): `imm` = lane index, `b` = elements per structure.
    case single = 1
    /// LD1R–LD4R: one structure replicated to every lane, `b` = elements per structure.
    case replicate = 2
}

/// How a load/store forms its address (`DecodedInstruction.b` for `.load`/`.store`/pairs).
public enum AddressingMode: UInt8 {
    /// base + immediate (unsigned offset, unscaled, pre/post-index with `flags`).
    case immediate = 0
    /// base + extend(Rm) << amount; `imm` holds the extend option and `imm2` the shift.
    case register = 1
    /// PC + immediate.
    case literal = 2
}
