/// What the interpreter executes: one instruction with its operand fields already extracted.
///
/// A plain struct of scalars (24 bytes), stored in the block arena, so the hot loop touches no
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
    public var imm: UInt64 = 0
    /// The encoding, kept for syndromes and diagnostics.
    public var raw: UInt32 = 0

    public init(op: Opcode, raw: UInt32) {
        self.op = op
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
    case adr, adrp
    // Data processing, register (C4.1.87).
    case addShifted, addsShifted, subShifted, subsShifted
    case andShifted, bicShifted, orrShifted, ornShifted, eorShifted, eonShifted, andsShifted, bicsShifted
    // Branches, exception generation and system (C4.1.85).
    case b, bl, bCond, cbz, cbnz, tbz, tbnz, br, blr, ret, eret
    case svc, hvc, smc, brk, hlt
    case hint, wfi, wfe, barrier, isb, clrex
    case mrs, msrRegister, msrImmediate
    // Loads and stores (C4.1.88).
    case storeUnsignedOffset, loadUnsignedOffset, loadSignedUnsignedOffset, prefetch
}
