import CFloatingPoint

/// Advanced SIMD floating point, single and double lanes (Arm ARM C3.5): the FP rows of
/// "three same" and "two-register miscellaneous". Each lane is the scalar operation of
/// `FloatingPoint.swift` (same NaN, flush and rounding rules, flags OR'ed together); a 64-bit
/// (Q = 0) result clears bits 127:64.
///
/// `d.b` = U << 6 | a << 5 | opcode (the size field's high bit `a` selects between pairs of
/// operations; case labels are written 0bU_a_opcode), `d.a` = 2 + sz, `d.sf` = Q, `d.imm` = 1
/// for the pairwise forms (FADDP, FMAXP, FMINP, FMAXNMP, FMINNMP).
extension CPU {
    /// `second` replaces Vm (the by-element forms pass the element replicated).
    func vectorFloatThreeSame(
        _ d: DecodedInstruction, _ format: FPFormat, _ env: inout FPEnvironment, second: Vector128? = nil
    ) {
        let size = Int(d.a)
        let lanes = Self.laneCount(d, size)
        let n = vector(d.rn)
        let m = second ?? vector(d.rm)
        let old = vector(d.rd)
        let ones = Vector128.mask(bits: format.width)
        var result = Vector128.zero
        let operation = d.b
        let pairwise = d.imm == 1
        for e in 0..<lanes {
            var a: UInt64
            var b: UInt64
            if pairwise {
                let first = 2 * e
                let source = first < lanes ? n : m
                let index = first < lanes ? first : first - lanes
                a = source.element(index, size)
                b = source.element(index + 1, size)
            } else {
                a = n.element(e, size)
                b = m.element(e, size)
            }
            let value: UInt64
            switch operation {
            case 0b0_0_11000, 0b1_0_11000: value = arithmetic(6, a, b, format, &env)  // FMAXNM(P)
            case 0b0_1_11000, 0b1_1_11000: value = arithmetic(7, a, b, format, &env)  // FMINNM(P)
            case 0b0_0_11001: value = multiplyAdd(old.element(e, size), a, b, format, &env)  // FMLA
            case 0b0_1_11001: value = multiplyAdd(old.element(e, size), a ^ format.signBit, b, format, &env)
            case 0b0_0_11010, 0b1_0_11010: value = arithmetic(2, a, b, format, &env)  // FADD(P)
            case 0b0_1_11010: value = arithmetic(3, a, b, format, &env)  // FSUB
            case 0b1_1_11010:  // FABD
                value = arithmetic(3, a, b, format, &env) & ~format.signBit
            case 0b0_0_11011: value = multiplyExtended(a, b, format, &env)  // FMULX
            case 0b1_0_11011: value = arithmetic(0, a, b, format, &env)  // FMUL
            case 0b0_0_11100: value = compareLane(a, b, .equal, format, &env) ? ones : 0  // FCMEQ
            case 0b1_0_11100: value = compareLane(a, b, .greaterOrEqual, format, &env) ? ones : 0
            case 0b1_1_11100: value = compareLane(a, b, .greater, format, &env) ? ones : 0
            case 0b1_0_11101:  // FACGE
                value =
                    compareLane(a & ~format.signBit, b & ~format.signBit, .greaterOrEqual, format, &env) ? ones : 0
            case 0b1_1_11101:  // FACGT
                value = compareLane(a & ~format.signBit, b & ~format.signBit, .greater, format, &env) ? ones : 0
            case 0b0_0_11110, 0b1_0_11110: value = arithmetic(4, a, b, format, &env)  // FMAX(P)
            case 0b0_1_11110, 0b1_1_11110: value = arithmetic(5, a, b, format, &env)  // FMIN(P)
            case 0b0_0_11111: value = Self.step(a, b, squareRoot: false, format, &env)  // FRECPS
            case 0b0_1_11111: value = Self.step(a, b, squareRoot: true, format, &env)  // FRSQRTS
            default: value = arithmetic(1, a, b, format, &env)  // FDIV
            }
            result.setElement(e, size, value)
        }
        setVector(d.rd, result)
    }

    enum LaneComparison { case equal, greaterOrEqual, greater }

    /// `FPCompareEQ` (IOC for a signalling NaN only), `FPCompareGE`/`GT` (IOC for any NaN).
    private func compareLane(
        _ a: UInt64, _ b: UInt64, _ kind: LaneComparison, _ format: FPFormat, _ env: inout FPEnvironment
    ) -> Bool {
        let x = env.unpack(a, format)
        let y = env.unpack(b, format)
        if format.isNaN(x) || format.isNaN(y) {
            if kind != .equal || format.isSignalingNaN(x) || format.isSignalingNaN(y) {
                env.flags |= FloatingPointControl.invalidOperation
            }
            return false
        }
        let equal = x == y || (format.isZero(x) && format.isZero(y))
        switch kind {
        case .equal: return equal
        case .greaterOrEqual: return equal || Self.orderedGreater(x, y, format)
        case .greater: return !equal && Self.orderedGreater(x, y, format)
        }
    }

    /// `FPMulX`: FMUL, except that ∞ × 0 is ±2 (no exception).
    private func multiplyExtended(_ a: UInt64, _ b: UInt64, _ format: FPFormat, _ env: inout FPEnvironment)
        -> UInt64
    {
        let x = env.unpack(a, format)
        let y = env.unpack(b, format)
        if !format.isNaN(x) && !format.isNaN(y)
            && ((format.isInfinity(x) && format.isZero(y)) || (format.isZero(x) && format.isInfinity(y)))
        {
            let two = (format.exponentMask >> 1 & format.exponentMask) + (1 << UInt64(format.fractionBits))
            return (x ^ y) & format.signBit | two
        }
        return arithmetic(0, a, b, format, &env)
    }

    func vectorFloatTwoRegisterMisc(_ d: DecodedInstruction, _ format: FPFormat, _ env: inout FPEnvironment) {
        if d.b == 0b0_0_10110 || d.b == 0b0_0_10111 || d.b == 0b1_0_10110 {
            convertPrecision(d, narrowing: d.b != 0b0_0_10111, &env)
            return
        }
        let size = Int(d.a)
        let lanes = Self.laneCount(d, size)
        let n = vector(d.rn)
        let ones = Vector128.mask(bits: format.width)
        let zero: UInt64 = 0
        var result = Vector128.zero
        for e in 0..<lanes {
            let a = n.element(e, size)
            let value: UInt64
            switch d.b {
            case 0b0_1_01100: value = compareLane(a, zero, .greater, format, &env) ? ones : 0  // FCMGT #0
            case 0b1_1_01100: value = compareLane(a, zero, .greaterOrEqual, format, &env) ? ones : 0
            case 0b0_1_01101: value = compareLane(a, zero, .equal, format, &env) ? ones : 0  // FCMEQ #0
            case 0b1_1_01101: value = compareLane(zero, a, .greaterOrEqual, format, &env) ? ones : 0  // FCMLE
            case 0b0_1_01110: value = compareLane(zero, a, .greater, format, &env) ? ones : 0  // FCMLT
            case 0b0_1_01111: value = a & ~format.signBit  // FABS
            case 0b1_1_01111: value = a ^ format.signBit  // FNEG
            case 0b0_0_11000: value = roundToIntegral(env.unpack(a, format), kind: 0, format, &env)
            case 0b0_0_11001: value = roundToIntegral(env.unpack(a, format), kind: 2, format, &env)
            case 0b0_1_11000: value = roundToIntegral(env.unpack(a, format), kind: 1, format, &env)
            case 0b0_1_11001: value = roundToIntegral(env.unpack(a, format), kind: 3, format, &env)
            case 0b1_0_11000: value = roundToIntegral(env.unpack(a, format), kind: 4, format, &env)
            case 0b1_0_11001: value = roundToIntegral(env.unpack(a, format), kind: 6, format, &env)
            case 0b1_1_11001: value = roundToIntegral(env.unpack(a, format), kind: 7, format, &env)
            case 0b1_1_11111:  // FSQRT
                let x = env.unpack(a, format)
                value = env.processNaNs(x, x, format) ?? env.host(Int32(CFP_SQRT), x, 0, 0, format)
            case 0b0_1_11101: value = Self.reciprocalEstimate(a, format, &env)
            case 0b1_1_11101: value = Self.reciprocalSquareRootEstimate(a, format, &env)
            case 0b0_1_11100:  // URECPE (UnsignedRecipEstimate): no FP exceptions
                value =
                    a & 0x8000_0000 == 0
                    ? 0xFFFF_FFFF : UInt64(Self.recipEstimate(Int(a >> 23) & 0x1FF) & 0x1FF) << 23
            case 0b1_1_11100:  // URSQRTE (UnsignedRSqrtEstimate)
                value =
                    a & 0xC000_0000 == 0
                    ? 0xFFFF_FFFF : UInt64(Self.recipSqrtEstimate(Int(a >> 23) & 0x1FF) & 0x1FF) << 23
            case 0b0_0_11101, 0b1_0_11101:  // SCVTF, UCVTF (fixed point: `d.imm` = fbits)
                let unsigned = d.b & 0b1_0_00000 != 0
                let integer =
                    unsigned || size == 3 ? a : UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: a)))
                let rounded = cfp_from_integer(
                    integer, unsigned ? 0 : 1, format.isDouble ? 1 : 0, Int32(env.roundingMode))
                env.flags |= UInt64(rounded.flags & UInt32(CFP_INEXACT))
                value = Self.scaledDown(rounded.bits, fractionBits: Int(d.imm), format)
            default:  // FCVT{N,M,A,P,Z}{S,U}: opcode 1101x/11100 with a selecting the rounding
                let rounding: Int
                switch d.b & 0b0_1_11111 {
                case 0b0_0_11010: rounding = 0  // N
                case 0b0_0_11011: rounding = 2  // M
                case 0b0_0_11100: rounding = 4  // A
                case 0b0_1_11010: rounding = 1  // P
                default: rounding = 3  // Z
                }
                value = toInteger(
                    a, format, rounding: rounding, fractionBits: Int(d.imm), unsigned: d.b & 0b1_0_00000 != 0,
                    bits: format.width, &env)
            }
            result.setElement(e, size, value)
        }
        setVector(d.rd, result)
    }

    /// FCVTN(2) (double → single, single → half, into the low or, for Q = 1, the high half of
    /// Vd) and FCVTL(2) (the low or high half of Vn widened): `FPConvert` per lane. `d.a` = 3
    /// for the double/single pair, 2 for single/half. FCVTXN(2) and FCVTXN (scalar, `sf` = 2)
    /// narrow double to single rounding to odd (`FPRounding_ODD`): towards zero, then the
    /// lowest fraction bit set if the result is inexact (overflow gives the largest normal, as
    /// towards zero does).
    private func convertPrecision(_ d: DecodedInstruction, narrowing: Bool, _ env: inout FPEnvironment) {
        let wide: FPFormat = d.a == 3 ? .double : .single
        let narrow: FPFormat = d.a == 3 ? .single : .half
        let wideSize = Int(d.a)
        let lanes = 16 >> wideSize
        let offset = d.sf == 1 ? lanes : 0
        let n = vector(d.rn)
        var result = narrowing && d.sf == 1 ? vector(d.rd) : Vector128.zero
        let toOdd = d.b == 0b1_0_10110
        for e in 0..<(d.sf == 2 ? 1 : lanes) {
            if narrowing {
                let x = env.unpack(n.element(e, wideSize), wide)
                var narrowed: UInt64
                if toOdd {
                    var towardsZero = FPEnvironment(fpcr: env.fpcr | 3 << FloatingPointControl.roundingModeShift)
                    narrowed = convert(x, from: wide, to: narrow, &towardsZero)
                    if towardsZero.flags & FloatingPointControl.inexact != 0 { narrowed |= 1 }
                    env.flags |= towardsZero.flags
                } else {
                    narrowed = convert(x, from: wide, to: narrow, &env)
                }
                result.setElement(offset + e, wideSize - 1, narrowed)
            } else {
                let x = env.unpack(n.element(offset + e, wideSize - 1), narrow)
                result.setElement(e, wideSize, convert(x, from: narrow, to: wide, &env))
            }
        }
        setVector(d.rd, result)
    }

    /// MUL, MLA, MLS, SQDMULH, SQRDMULH, FMUL, FMULX, FMLA, FMLS (by element, vector and scalar):
    /// the three-same operation with Vm[index] in every lane; the long forms (S/UMULL, S/UMLAL,
    /// S/UMLSL, SQDMULL, SQDMLAL, SQDMLSL) the three-different one. `d.b` is the operation it
    /// becomes (integer: opcode with U in `imm2`; FP: U:a:opcode), `d.imm` the index, `d.flags`
    /// 1 for FP, 2 for the long forms.
    func byElement(_ d: DecodedInstruction, _ format: FPFormat, _ env: inout FPEnvironment) {
        let size = Int(d.a)
        let element = vector(d.rm).element(Int(d.imm), size)
        let replicated = Vector128.replicated(element, size, bytes: 16)
        var same = d
        same.imm = 0  // not pairwise
        switch d.flags {
        case 1: vectorFloatThreeSame(same, format, &env, second: replicated)
        case 2: threeDifferent(same, second: replicated)
        default: threeSame(same, second: replicated)
        }
    }
}
