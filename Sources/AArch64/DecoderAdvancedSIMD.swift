/// Operand extraction for the Advanced SIMD and FP-move encoding groups (Arm ARM C4.1.95,
/// C4.1.96): each group's sub-operation is decoded once here, and the reserved combinations of
/// size, Q and immediate fields the table rows cannot express become UNDEFINED (nil).
///
/// Layout in `DecodedInstruction`: `rd`/`rn`/`rm` are V register numbers (general registers
/// where an instruction moves to or from one), `a` = log2 of the element size, `b` = the
/// group's opcode field (the operation), `sf` = Q (1: 128-bit vector), `imm2` = the U bit,
/// `imm` = an immediate (shift, lane index, expanded constant).
///
/// The AdvSIMD scalar groups (bits 31:28 = 01x1) decode to the opcode of their vector group
/// with `sf` = 2: one element, the rest of Vd cleared (`CPU.laneCount`).
extension Decoder {
    /// The operations of `.simdCopy` (C4.1.95 "Advanced SIMD copy"), in `b`.
    public enum CopyOperation: UInt8 {
        case duplicateElement, duplicateGeneral, signedMove, unsignedMove, insertGeneral, insertElement
    }

    /// The operations of `.simdModifiedImmediate`, in `b`.
    public enum ImmediateOperation: UInt8 {
        case move, moveInverted, or, bitClear
    }

    /// The operations of `.floatMove`, in `b`.
    public enum FloatMoveOperation: UInt8 {
        case toGeneral32, fromGeneral32, toGeneral64, fromGeneral64, toGeneralHigh, fromGeneralHigh
        case register, absolute, negate, immediate
    }

    static func advancedSIMD(_ op: Opcode, _ w: UInt32) -> DecodedInstruction? {
        var d = DecodedInstruction(op: op, raw: w)
        let q = bits(w, 30, 30)
        let size = bits(w, 23, 22)
        d.rd = UInt8(bits(w, 4, 0))
        d.rn = UInt8(bits(w, 9, 5))
        d.rm = UInt8(bits(w, 20, 16))
        d.sf = UInt8(q)
        d.a = UInt8(size)
        d.imm2 = UInt64(bits(w, 29, 29))
        let scalar = bits(w, 28, 28) == 1
        if scalar { d.sf = 2 }
        switch op {
        case .simdCopy:
            return copy(d, w)
        case .simdModifiedImmediate:
            return modifiedImmediate(d, w)
        case .simdThreeSame:
            let opcode = bits(w, 15, 11)
            d.b = UInt8(opcode)
            switch opcode {
            case 0b00001, 0b00101, 0b01001, 0b01011:  // saturating: every size, scalar too
                if size == 3 && q == 0 && !scalar { return nil }
            case 0b10110:  // SQDMULH/SQRDMULH: 16- and 32-bit
                if size == 0 || size == 3 { return nil }
            case 0b10011 where d.imm2 == 1:  // PMUL: bytes only
                if size != 0 { return nil }
            case _ where scalar:  // the other scalar rows: 64-bit only
                if size != 3 { return nil }
            case 0b00011: break
            case 0b10000, 0b10001, 0b00110, 0b00111, 0b10111, 0b01000, 0b01010:
                if size == 3 && q == 0 { return nil }
            default:
                if size == 3 { return nil }
            }
        case .simdTwoRegisterMisc:
            let opcode = bits(w, 16, 12)
            let u = bits(w, 29, 29)
            d.b = UInt8(opcode)
            switch opcode {
            case 0b00011, 0b00111:  // SUQADD/USQADD, SQABS/SQNEG: every size, scalar too
                if size == 3 && q == 0 && !scalar { return nil }
            case _ where scalar && opcode >= 0b01000 && opcode <= 0b01011:  // compares, ABS/NEG: 64-bit
                if size != 3 { return nil }
            case 0b00000: if size + u >= 3 { return nil }  // REV64: 8–32-bit; REV32: 8–16-bit
            case 0b00001: if size != 0 { return nil }
            case 0b00100, 0b10010, 0b10100, 0b00010, 0b00110, 0b10011: if size == 3 { return nil }
            case 0b00101: if size > u { return nil }  // CNT, NOT: bytes; RBIT: size 01 → reserved
            default: if size == 3 && q == 0 { return nil }
            }
            if opcode == 0b00101 && u == 1 && size == 1 {  // RBIT: bytes, like CNT and NOT
                d.b = 0b11111
                d.a = 0
            }
        case .simdThreeDifferent:
            if size == 3 { return nil }
            d.b = UInt8(bits(w, 15, 12))
            if d.b & 1 == 1 && d.b >= 0b1001 && size == 0 { return nil }  // SQDMLAL/SQDMLSL/SQDMULL
        case .simdAcrossLanes:
            if size == 3 || (size == 2 && q == 0) { return nil }
            d.b = UInt8(bits(w, 16, 12))
        case .simdPermute:
            let opcode = bits(w, 14, 12)
            if opcode & 3 == 0 || (size == 3 && q == 0) { return nil }
            d.b = UInt8(opcode)
        case .simdExtract:
            let index = bits(w, 14, 11)
            if q == 0 && index & 8 != 0 { return nil }
            d.imm = UInt64(index)
        case .simdTableLookup:
            d.b = UInt8(bits(w, 14, 13))
            d.imm2 = UInt64(bits(w, 12, 12))
        case .simdShiftImmediate:
            let immh = bits(w, 22, 19)
            if immh == 0 { return nil }  // the modified-immediate group: no shift row matches it
            let opcode = bits(w, 15, 11)
            let highest = 31 - immh.leadingZeroBitCount
            let esize = UInt32(8) << UInt32(highest)
            let amount = bits(w, 22, 16)
            d.b = UInt8(opcode)
            d.a = UInt8(highest)
            switch opcode {
            case 0b10000, 0b10001, 0b10010, 0b10011, 0b10100:  // narrowing / lengthening: 8–32-bit
                if immh & 8 != 0 { return nil }
            case _ where scalar:
                if opcode < 0b01100 && immh & 8 == 0 { return nil }  // SSHR … SLI: 64-bit only
            default:
                if immh & 8 != 0 && q == 0 { return nil }
            }
            switch opcode {
            case 0b01010, 0b10100, 0b01100, 0b01110:  // SHL, SLI, SSHLL/USHLL, SQSHL(U)/UQSHL
                d.imm = UInt64(amount - esize)
            default: d.imm = UInt64(2 * esize - amount)  // right shifts, SHRN, RSHRN
            }
        case .floatMove:
            return floatMove(d, w)
        default:
            return nil
        }
        return d
    }

    private static func copy(_ decoded: DecodedInstruction, _ w: UInt32) -> DecodedInstruction? {
        var d = decoded
        let imm5 = bits(w, 20, 16)
        let q = bits(w, 30, 30)
        // DUP (element, scalar) keeps `sf` = 2 from `advancedSIMD`: the element alone.
        guard imm5 & 0xF != 0 else { return nil }
        let size = UInt32(imm5.trailingZeroBitCount)
        d.a = UInt8(size)
        d.imm = UInt64(imm5 >> (size + 1))
        let operation: CopyOperation
        if bits(w, 29, 29) == 1 {
            operation = .insertElement
            d.imm2 = UInt64(bits(w, 14, 11) >> size)
        } else {
            switch bits(w, 14, 11) {
            case 0b0000:
                if size == 3 && q == 0 { return nil }
                operation = .duplicateElement
            case 0b0001:
                if size == 3 && q == 0 { return nil }
                operation = .duplicateGeneral
            case 0b0101:
                if size >= 2 + q { return nil }
                operation = .signedMove
                d.rd = dest(bits(w, 4, 0))
            case 0b0111:
                if q == 0 ? size == 3 : size != 3 { return nil }
                operation = .unsignedMove
                d.rd = dest(bits(w, 4, 0))
            default:
                operation = .insertGeneral
            }
        }
        d.b = operation.rawValue
        return d
    }

    /// MOVI/MVNI/ORR/BIC/FMOV (vector, immediate): `AdvSIMDExpandImm` (Arm ARM J1) into `imm`.
    private static func modifiedImmediate(_ decoded: DecodedInstruction, _ w: UInt32) -> DecodedInstruction? {
        var d = decoded
        d.rd = UInt8(bits(w, 4, 0))
        d.sf = UInt8(bits(w, 30, 30))
        let op = bits(w, 29, 29)
        let cmode = bits(w, 15, 12)
        if bits(w, 11, 11) == 1 { return nil }  // o2: FMOV (half precision) is FEAT_FP16
        let imm8 = UInt64(bits(w, 18, 16) << 5 | bits(w, 9, 5))
        func twice(_ v: UInt64) -> UInt64 { v | v << 32 }
        func four(_ v: UInt64) -> UInt64 { v | v << 16 | v << 32 | v << 48 }
        var operation: ImmediateOperation = op == 0 ? .move : .moveInverted
        let logical = cmode & 1 == 1 && cmode < 0b1100
        if logical { operation = op == 0 ? .or : .bitClear }
        switch cmode >> 1 {
        case 0b000, 0b001, 0b010, 0b011: d.imm = twice(imm8 << (8 * UInt64(cmode >> 1)))
        case 0b100, 0b101: d.imm = four(imm8 << (8 * UInt64((cmode >> 1) & 1)))
        case 0b110: d.imm = twice(cmode & 1 == 0 ? imm8 << 8 | 0xFF : imm8 << 16 | 0xFFFF)
        default:
            operation = .move
            switch (cmode & 1, op) {
            case (0, 0):
                d.imm = four(imm8 | imm8 << 8)
            case (0, _):
                var bytes: UInt64 = 0
                for bit in 0..<8 where imm8 >> UInt64(bit) & 1 == 1 { bytes |= 0xFF << UInt64(8 * bit) }
                d.imm = bytes
            case (_, 0):
                d.imm = twice(expandSingle(imm8))
            default:
                if d.sf == 0 { return nil }
                d.imm = expandDouble(imm8)
            }
        }
        d.b = operation.rawValue
        return d
    }

    /// `VFPExpandImm` for a double: sign, NOT(b6), b6 replicated 8 times, imm8<5:0>, zeros.
    static func expandDouble(_ imm8: UInt64) -> UInt64 {
        let b6 = imm8 >> 6 & 1
        return (imm8 >> 7) << 63 | (b6 ^ 1) << 62 | (b6 == 1 ? 0xFF << 54 : 0) | (imm8 & 0x3F) << 48
    }

    /// `VFPExpandImm` for a single.
    static func expandSingle(_ imm8: UInt64) -> UInt64 {
        let b6 = imm8 >> 6 & 1
        return (imm8 >> 7) << 31 | (b6 ^ 1) << 30 | (b6 == 1 ? 0x1F << 25 : 0) | (imm8 & 0x3F) << 19
    }

    private static func floatMove(_ decoded: DecodedInstruction, _ w: UInt32) -> DecodedInstruction? {
        var d = decoded
        d.a = UInt8(2 + bits(w, 22, 22))
        let operation: FloatMoveOperation
        if bits(w, 28, 24) == 0b11110 && bits(w, 15, 10) == 0 {
            // Conversion between FP and integer: sf, type, rmode, opcode.
            let toGeneral = bits(w, 16, 16) == 0
            switch (bits(w, 31, 31), bits(w, 23, 22)) {
            case (0, 0): operation = toGeneral ? .toGeneral32 : .fromGeneral32
            case (1, 1): operation = toGeneral ? .toGeneral64 : .fromGeneral64
            default: operation = toGeneral ? .toGeneralHigh : .fromGeneralHigh
            }
            if toGeneral { d.rd = dest(bits(w, 4, 0)) }
        } else if bits(w, 12, 10) == 0b100 {
            operation = .immediate
            let imm8 = UInt64(bits(w, 20, 13))
            d.imm = d.a == 3 ? expandDouble(imm8) : expandSingle(imm8)
        } else {
            switch bits(w, 16, 15) {
            case 0: operation = .register
            case 1: operation = .absolute
            default: operation = .negate
            }
        }
        d.b = operation.rawValue
        return d
    }

    /// Scalar FP data processing and conversions (C4.1.96), single and double precision.
    static func floatingPoint(_ op: Opcode, _ w: UInt32) -> DecodedInstruction? {
        var d = DecodedInstruction(op: op, raw: w)
        d.rd = UInt8(bits(w, 4, 0))
        d.rn = UInt8(bits(w, 9, 5))
        d.rm = UInt8(bits(w, 20, 16))
        let type = bits(w, 23, 22)
        // type: 00 single, 01 double, 11 half (FCVT only); the AdvSIMD scalar rows of
        // `.floatEstimate` have sz in bit 22 instead.
        d.a = UInt8(op == .floatEstimate ? 2 + (type & 1) : type == 3 ? 1 : 2 + type)
        switch op {
        case .floatArithmetic:
            d.b = UInt8(bits(w, 15, 12))
        case .floatMultiplyAdd:
            d.b = UInt8(bits(w, 21, 21) << 1 | bits(w, 15, 15))
            d.imm2 = UInt64(bits(w, 14, 10))
        case .floatUnary:
            d.b = UInt8(bits(w, 20, 15))
        case .floatCompare:
            d.b = UInt8(bits(w, 4, 3))
        case .floatConditionalCompare:
            d.b = UInt8(bits(w, 3, 0))
            d.imm = UInt64(bits(w, 4, 4))
            d.imm2 = UInt64(Arithmetic.conditionMask(UInt8(bits(w, 15, 12))))
        case .floatConditionalSelect:
            d.imm2 = UInt64(Arithmetic.conditionMask(UInt8(bits(w, 15, 12))))
        case .floatEstimate:
            if bits(w, 10, 10) == 1 {
                d.b = bits(w, 23, 23) == 0 ? 3 : 4  // FRECPS, FRSQRTS
            } else {
                d.b = bits(w, 13, 13) == 1 ? 2 : UInt8(bits(w, 29, 29))  // FRECPX; FRECPE, FRSQRTE
            }
        default:  // .floatIntegerConvert
            let sf = bits(w, 31, 31)
            d.sf = UInt8(sf)
            d.b = UInt8(bits(w, 20, 16))
            if bits(w, 21, 21) == 0 {
                let scale = bits(w, 15, 10)
                if sf == 0 && scale < 32 { return nil }
                d.imm = UInt64(64 - scale)
            }
            let toFloat = bits(w, 18, 17) == 0b01
            if toFloat { d.rn = UInt8(bits(w, 9, 5)) } else { d.rd = dest(bits(w, 4, 0)) }
        }
        return d
    }

    /// The Advanced SIMD FP rows: `b` = U:a:opcode, `a` = 2 + sz, `sf` = Q; double lanes need
    /// Q = 1.
    static func vectorFloatingPoint(_ op: Opcode, _ w: UInt32) -> DecodedInstruction? {
        var d = DecodedInstruction(op: op, raw: w)
        let q = bits(w, 30, 30)
        let sz = bits(w, 22, 22)
        if op == .simdScalarPairwise {
            // b: the 2-source scalar opcode of the operation (2 FADD, 4 FMAX, 5 FMIN, 6 FMAXNM,
            // 7 FMINNM), or 8 for the integer ADDP of two doublewords.
            d.rd = UInt8(bits(w, 4, 0))
            d.rn = UInt8(bits(w, 9, 5))
            d.a = UInt8(2 + sz)
            let minimum = bits(w, 23, 23) == 1
            switch bits(w, 16, 12) {
            case 0b11011: d.b = 8
            case 0b01100: d.b = minimum ? 7 : 6
            case 0b01101: d.b = 2
            default: d.b = minimum ? 5 : 4
            }
            if d.b == 8 { d.a = 3 }
            // FMAXV, FMINV, FMAXNMV, FMINNMV (C7.2.x, across lanes): 4S only; `imm` = 1.
            if bits(w, 28, 28) == 0 {
                if q == 0 || sz == 1 { return nil }
                d.imm = 1
            }
            return d
        }
        let scalar = bits(w, 28, 28) == 1
        d.rd = UInt8(bits(w, 4, 0))
        d.rn = UInt8(bits(w, 9, 5))
        d.rm = UInt8(bits(w, 20, 16))
        d.sf = scalar ? 2 : UInt8(q)
        if op == .simdFloatTwoRegisterMisc && bits(w, 24, 24) == 1 {
            // SCVTF/UCVTF/FCVTZS/FCVTZU (vector and scalar, fixed-point; shift by immediate
            // group): immh 01xx single, 1xxx double; `imm` = fbits = 2 × esize − immh:immb.
            let immh = bits(w, 22, 19)
            if immh & 0b1100 == 0 || (immh & 8 != 0 && q == 0 && !scalar) { return nil }
            let double = immh & 8 != 0
            d.a = double ? 3 : 2
            d.imm = UInt64((double ? 128 : 64) - bits(w, 22, 16))
            let u = bits(w, 29, 29) << 6
            d.b = UInt8(bits(w, 15, 11) == 0b11100 ? u | 0b0_0_11101 : u | 0b0_1_11011)
            return d
        }
        let precisionConversion = op == .simdFloatTwoRegisterMisc && bits(w, 16, 13) == 0b1011  // FCVTN/FCVTL
        if sz == 1 && q == 0 && !precisionConversion && !scalar { return nil }
        d.a = UInt8(2 + sz)
        let opcode = op == .simdFloatThreeSame ? bits(w, 15, 11) : bits(w, 16, 12)
        d.b = UInt8(bits(w, 29, 29) << 6 | bits(w, 23, 23) << 5 | opcode)
        if op == .simdFloatTwoRegisterMisc && opcode == 0b11100 && bits(w, 23, 23) == 1 && sz == 1 {
            return nil  // URECPE/URSQRTE: 32-bit lanes only
        }
        // FMAXNMP, FMINNMP, FADDP, FMAXP, FMINP: U = 1 and opcode 11000, 11010 (a = 0), 11110.
        if op == .simdFloatThreeSame && bits(w, 29, 29) == 1
            && (opcode == 0b11000 || opcode == 0b11110 || (opcode == 0b11010 && bits(w, 23, 23) == 0))
        {
            d.imm = 1
        }
        return d
    }

    /// The vector by-element forms (C4.1.95 "Advanced SIMD vector x indexed element"): the
    /// element index from H:L:M (16-bit, Rm limited to V0–V15), H:L (32-bit) or H (64-bit).
    static func byElement(_ w: UInt32) -> DecodedInstruction? {
        var d = DecodedInstruction(op: .simdByElement, raw: w)
        let q = bits(w, 30, 30)
        let u = bits(w, 29, 29)
        let size = bits(w, 23, 22)
        let h = bits(w, 11, 11)
        let l = bits(w, 21, 21)
        let m = bits(w, 20, 20)
        let opcode = bits(w, 15, 12)
        d.rd = UInt8(bits(w, 4, 0))
        d.rn = UInt8(bits(w, 9, 5))
        d.sf = bits(w, 28, 28) == 1 ? 2 : UInt8(q)  // scalar: one element
        let floating = opcode == 0b0001 || opcode == 0b0101 || opcode == 0b1001  // FMLA, FMLS, FMUL(X)
        if floating {
            let sz = size & 1
            if sz == 1 && (l == 1 || (q == 0 && d.sf != 2)) { return nil }
            d.a = UInt8(2 + sz)
            d.imm = UInt64(sz == 1 ? h : h << 1 | l)
            d.rm = UInt8(m << 4 | bits(w, 19, 16))
            d.flags = 1
            switch opcode {
            case 0b0001: d.b = 0b0_0_11001  // FMLA
            case 0b0101: d.b = 0b0_1_11001  // FMLS
            default: d.b = u == 1 ? 0b0_0_11011 : 0b1_0_11011  // FMULX, FMUL
            }
        } else {
            switch size {
            case 1:
                d.imm = UInt64(h << 2 | l << 1 | m)
                d.rm = UInt8(bits(w, 19, 16))
            case 2:
                d.imm = UInt64(h << 1 | l)
                d.rm = UInt8(m << 4 | bits(w, 19, 16))
            default:
                return nil
            }
            d.a = UInt8(size)
            switch opcode {
            case 0b0000, 0b0100:  // MLA, MLS: three same 10010 with U = 1 for MLS
                d.imm2 = opcode == 0b0100 ? 1 : 0
                d.b = 0b10010
            case 0b1000:  // MUL
                d.b = 0b10011
            case 0b1100, 0b1101:  // SQDMULH, SQRDMULH: three same 10110 with U = rounding
                d.imm2 = UInt64(opcode & 1)
                d.b = 0b10110
            default:
                // The long forms: the three-different operation (SMLAL/UMLAL 1000, SQDMLAL
                // 1001, SMLSL/UMLSL 1010, SQDMLSL 1011, SMULL/UMULL 1100, SQDMULL 1101), U in
                // `imm2`, `flags` 2.
                d.imm2 = UInt64(u)
                d.flags = 2
                switch opcode {
                case 0b0010: d.b = 0b1000
                case 0b0011: d.b = 0b1001
                case 0b0110: d.b = 0b1010
                case 0b0111: d.b = 0b1011
                case 0b1010: d.b = 0b1100
                default: d.b = 0b1101
                }
            }
        }
        return d
    }
}
