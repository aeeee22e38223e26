import CFloatingPoint

/// Scalar floating point (Arm ARM C3.6 "Floating-point"), single and double precision, bit-exact:
/// FADD, FSUB, FMUL, FDIV, FNMUL, FMAX, FMIN, FMAXNM, FMINNM; FMADD, FMSUB, FNMADD, FNMSUB;
/// FSQRT, FCVT (single ↔ double), FRINT{N,P,M,Z,A,X,I}; FCMP, FCMPE, FCCMP, FCCMPE, FCSEL; and
/// the conversions to and from integers and fixed point (FCVT{N,P,M,Z,A}{S,U}, SCVTF, UCVTF).
///
/// How it is exact: IEEE operations whose rounding matters (+, −, ×, ÷, √, fused multiply-add,
/// narrowing, integer → FP) run on the host FPU through `CFloatingPoint` under FPCR.RMode, and
/// everything the Arm and host FPUs do differently is done here around them, following the
/// Arm ARM pseudocode (J1 `FPUnpack`, `FPProcessNaNs`, `FPRoundBase`, `FPMulAdd`, `FPMax`, `FPCompare`,
/// `FPToFixed`, `FPRoundInt`): operand NaNs are propagated before the host sees them (SNaN
/// first, in Arm operand order), FPCR.DN and the default NaN, FPCR.FZ on inputs (IDC) and
/// outputs (UFC, no IXC), and underflow detected before rounding (`FPEnvironment.finish`).
/// Operations with no rounding (min/max, compares, FP → integer, round to integral) are
/// computed exactly in software. The FPSR flags raised are OR'ed into FPSR.
extension CPU {
    @inline(never)
    func executeFloatingPoint(_ insn: UnsafePointer<DecodedInstruction>, pc: UInt64) -> Continuation {
        if let trap = floatingPointTrap(pc: pc) { return trap }
        let d = insn.pointee
        var env = FPEnvironment(fpcr: state.pointee.fpcr)
        let format = FPFormat.of(sizeLog2: d.a)
        switch d.op {
        case .floatArithmetic:
            writeScalar(d.rd, arithmetic(d.b, scalar(d.rn, format), scalar(d.rm, format), format, &env), format)
        case .floatMultiplyAdd:
            var addend = scalar(UInt8(d.imm2), format)
            var multiplicand = scalar(d.rn, format)
            // FMSUB/FNMADD negate the multiplicand, FNMADD/FNMSUB the addend, before FPMulAdd
            // (so a NaN operand propagates with its sign flipped).
            if d.b == 1 || d.b == 2 { multiplicand ^= format.signBit }
            if d.b >= 2 { addend ^= format.signBit }
            writeScalar(d.rd, multiplyAdd(addend, multiplicand, scalar(d.rm, format), format, &env), format)
        case .floatUnary:
            unary(d, format, &env)
        case .floatCompare:
            let n = scalar(d.rn, format)
            let m = d.b & 1 == 1 ? 0 : scalar(d.rm, format)
            state.pointee.nzcv = compare(n, m, signaling: d.b & 2 != 0, format, &env)
        case .floatConditionalCompare:
            if Arithmetic.holds(mask: d.imm2, state.pointee.nzcv) {
                state.pointee.nzcv = compare(
                    scalar(d.rn, format), scalar(d.rm, format), signaling: d.imm == 1, format, &env)
            } else {
                state.pointee.nzcv = UInt32(d.b) << 28
            }
        case .floatConditionalSelect:
            let chosen = Arithmetic.holds(mask: d.imm2, state.pointee.nzcv) ? d.rn : d.rm
            writeScalar(d.rd, vector(chosen).low, format)
        case .floatIntegerConvert:
            integerConvert(d, format, &env)
        case .floatEstimate:
            writeScalar(d.rd, estimate(d, format, &env), format)
        case .simdFloatThreeSame:
            vectorFloatThreeSame(d, format, &env)
        case .simdFloatTwoRegisterMisc:
            vectorFloatTwoRegisterMisc(d, format, &env)
        case .simdByElement:
            byElement(d, format, &env)
        case .simdScalarPairwise:
            let n = vector(d.rn)
            if d.b == 8 {
                writeScalar(d.rd, n.low &+ n.high, .double)
            } else if d.imm == 1 {
                // FMAXV/FMINV/FMAXNMV/FMINNMV (4S): the architecture's `Reduce`, pairs first.
                let low = arithmetic(d.b, n.element(0, 2), n.element(1, 2), format, &env)
                let high = arithmetic(d.b, n.element(2, 2), n.element(3, 2), format, &env)
                writeScalar(d.rd, arithmetic(d.b, low, high, format, &env), format)
            } else {
                let size = Int(d.a)
                writeScalar(d.rd, arithmetic(d.b, n.element(0, size), n.element(1, size), format, &env), format)
            }
        default:
            return .jumped(undefinedInstruction(at: pc))
        }
        state.pointee.fpsr |= env.flags
        return .next
    }

    /// The low `format.width` bits of Vn: a scalar operand.
    func scalar(_ n: UInt8, _ format: FPFormat) -> UInt64 {
        vector(n).low & Vector128.mask(bits: format.width)
    }

    /// Writes a scalar result: the low `format.width` bits of Vd, the rest of it cleared.
    private func writeScalar(_ rd: UInt8, _ bits: UInt64, _ format: FPFormat) {
        setVector(rd, Vector128(low: bits & Vector128.mask(bits: format.width), high: 0))
    }

    /// The 2-source operations, by opcode<15:12>: FMUL, FDIV, FADD, FSUB, FMAX, FMIN, FMAXNM,
    /// FMINNM, FNMUL.
    func arithmetic(_ opcode: UInt8, _ a: UInt64, _ b: UInt64, _ format: FPFormat, _ env: inout FPEnvironment)
        -> UInt64
    {
        let x = env.unpack(a, format)
        let y = env.unpack(b, format)
        switch opcode {
        case 4, 5: return maximum(x, y, minimum: opcode == 5, format, &env)
        case 6, 7:
            // FMAXNM/FMINNM: a lone quiet NaN loses to a number (`FPMaxNum`, `FPMinNum`).
            let replacement = opcode == 6 ? format.infinity | format.signBit : format.infinity
            var p = x
            var q = y
            if format.isQuietNaN(p) && !format.isQuietNaN(q) {
                p = replacement
            } else if !format.isQuietNaN(p) && format.isQuietNaN(q) {
                q = replacement
            }
            return maximum(p, q, minimum: opcode == 7, format, &env)
        default:
            break
        }
        if let nan = env.processNaNs(x, y, format) { return opcode == 8 ? nan ^ format.signBit : nan }
        let op: Int32
        switch opcode {
        case 0, 8: op = Int32(CFP_MUL)
        case 1: op = Int32(CFP_DIV)
        case 2: op = Int32(CFP_ADD)
        default: op = Int32(CFP_SUB)
        }
        let result = env.host(op, x, y, 0, format)
        return opcode == 8 ? result ^ format.signBit : result
    }

    /// `FPMax`/`FPMin` of unpacked operands: NaNs propagate; of two zeros, max is +0 unless
    /// both are −0, min is −0 unless both are +0.
    private func maximum(_ x: UInt64, _ y: UInt64, minimum: Bool, _ format: FPFormat, _ env: inout FPEnvironment)
        -> UInt64
    {
        if let nan = env.processNaNs(x, y, format) { return nan }
        if format.isZero(x) && format.isZero(y) {
            let negative = minimum ? (x | y) & format.signBit : x & y & format.signBit
            return negative
        }
        let xGreater = Self.orderedGreater(x, y, format)
        return xGreater != minimum ? x : y
    }

    /// x > y for non-NaN, not-both-zero bit patterns, by sign-magnitude order.
    static func orderedGreater(_ x: UInt64, _ y: UInt64, _ format: FPFormat) -> Bool {
        let xNegative = format.isNegative(x)
        let yNegative = format.isNegative(y)
        let xMagnitude = x & ~format.signBit
        let yMagnitude = y & ~format.signBit
        if xNegative != yNegative { return !xNegative && (xMagnitude != 0 || yMagnitude != 0) }
        return xNegative ? xMagnitude < yMagnitude : xMagnitude > yMagnitude
    }

    /// `FPMulAdd(addend, op1, op2)`: NaNs in the order addend, op1, op2; a quiet-NaN addend
    /// with ∞ × 0 is still an invalid operation (default NaN, IOC); otherwise one rounding.
    func multiplyAdd(_ addend: UInt64, _ a: UInt64, _ b: UInt64, _ format: FPFormat, _ env: inout FPEnvironment)
        -> UInt64
    {
        let z = env.unpack(addend, format)
        let x = env.unpack(a, format)
        let y = env.unpack(b, format)
        let invalidProduct =
            (format.isInfinity(x) && format.isZero(y)) || (format.isZero(x) && format.isInfinity(y))
        if let nan = env.processNaNs(z, x, y, format) {
            if format.isQuietNaN(z) && invalidProduct {
                env.flags |= FloatingPointControl.invalidOperation
                return format.defaultNaN
            }
            return nan
        }
        return env.host(Int32(CFP_FMA), x, y, z, format)
    }

    /// `FPCompare`: NZCV of an unordered (0011), equal (0110), less (1000) or greater (0010)
    /// comparison. A signalling NaN raises IOC; FCMPE/FCCMPE (`signaling`) also a quiet one.
    func compare(_ a: UInt64, _ b: UInt64, signaling: Bool, _ format: FPFormat, _ env: inout FPEnvironment)
        -> UInt32
    {
        let x = env.unpack(a, format)
        let y = env.unpack(b, format)
        if format.isNaN(x) || format.isNaN(y) {
            if signaling || format.isSignalingNaN(x) || format.isSignalingNaN(y) {
                env.flags |= FloatingPointControl.invalidOperation
            }
            return 0x3000_0000
        }
        if x == y || (format.isZero(x) && format.isZero(y)) { return 0x6000_0000 }
        return Self.orderedGreater(x, y, format) ? 0x2000_0000 : 0x8000_0000
    }

    /// FSQRT, FCVT between single and double, FRINT*: `d.b` is opcode<20:15>.
    private func unary(_ d: DecodedInstruction, _ format: FPFormat, _ env: inout FPEnvironment) {
        let x = env.unpack(scalar(d.rn, format), format)
        switch d.b {
        case 0b000011:
            let result = env.processNaNs(x, x, format) ?? env.host(Int32(CFP_SQRT), x, 0, 0, format)
            writeScalar(d.rd, result, format)
        case 0b000100, 0b000101, 0b000111:
            let target: FPFormat = d.b == 0b000101 ? .double : d.b == 0b000100 ? .single : .half
            writeScalar(d.rd, convert(x, from: format, to: target, &env), target)
        default:
            writeScalar(d.rd, roundToIntegral(x, kind: d.b & 7, format, &env), format)
        }
    }

    /// `FPConvert` between half, single and double: NaNs keep their sign and the top of their
    /// payload (quietened; `FPConvertNaN`); widening is exact; narrowing to single rounds on
    /// the host, to half in software (`narrowToHalf`). With FPCR.AHP, half precision is the
    /// alternative format: no infinities or NaNs, exponent 31 is a normal number.
    func convert(_ x: UInt64, from source: FPFormat, to target: FPFormat, _ env: inout FPEnvironment) -> UInt64 {
        let alternative = env.fpcr & FloatingPointControl.alternativeHalfPrecision != 0
        if source.fractionBits == 10 {
            if alternative || !source.isNaN(x) {
                return Self.widenHalf(x, alternative: alternative, to: target)
            }
        } else if target.fractionBits == 10 && alternative {
            if source.isNaN(x) || source.isInfinity(x) {
                env.flags |= FloatingPointControl.invalidOperation
                return source.isNegative(x) ? 0x8000 | (source.isNaN(x) ? 0 : 0x7FFF) : (source.isNaN(x) ? 0 : 0x7FFF)
            }
        }
        if source.isNaN(x) {
            if source.isSignalingNaN(x) { env.flags |= FloatingPointControl.invalidOperation }
            if env.defaultNaNMode { return target.defaultNaN }
            let sign: UInt64 = source.isNegative(x) ? target.signBit : 0
            let payload = x & source.fractionMask
            let shifted =
                target.fractionBits > source.fractionBits
                ? payload << UInt64(target.fractionBits - source.fractionBits)
                : payload >> UInt64(source.fractionBits - target.fractionBits)
            return sign | target.exponentMask | target.quietBit | shifted
        }
        if target.fractionBits == 10 {
            if source.isInfinity(x) { return source.isNegative(x) ? 0xFC00 : 0x7C00 }
            let value =
                source.isDouble ? Double(bitPattern: x) : Double(Float(bitPattern: UInt32(truncatingIfNeeded: x)))
            return Self.narrowToHalf(value, alternative: alternative, &env)
        }
        if target.isDouble {
            return Double(Float(bitPattern: UInt32(truncatingIfNeeded: x))).bitPattern
        }
        return env.finish(cfp_double(Int32(CFP_NARROW), x, 0, 0, Int32(env.roundingMode)), target)
    }

    /// A half (IEEE, or alternative with `alternative`) widened exactly; NaNs are handled by
    /// the caller except for the alternative format, which has none.
    static func widenHalf(_ x: UInt64, alternative: Bool, to target: FPFormat) -> UInt64 {
        let negative = x & 0x8000 != 0
        let exponent = Int(x >> 10 & 0x1F)
        let fraction = Double(x & 0x3FF)
        var magnitude: Double
        if exponent == 0x1F && !alternative {
            magnitude = .infinity
        } else if exponent == 0 {
            magnitude = fraction * 0x1p-24
        } else {
            magnitude = (1024 + fraction) * Double(sign: .plus, exponent: exponent - 25, significand: 1)
        }
        if negative { magnitude = -magnitude }
        return target.isDouble ? magnitude.bitPattern : UInt64(Float(magnitude).bitPattern)
    }

    /// `FPRoundCV` to half precision of a finite `value` (every single and double is
    /// exact in a Double): rounding in FPCR's mode, underflow detected before rounding, no
    /// flush to zero (FZ16 is not FZ); IEEE overflow gives ∞ or the largest normal with OFC and
    /// IXC, alternative-format overflow the largest magnitude with IOC only.
    static func narrowToHalf(_ value: Double, alternative: Bool, _ env: inout FPEnvironment) -> UInt64 {
        let sign: UInt64 = value.sign == .minus ? 0x8000 : 0
        let magnitude = value.magnitude
        if magnitude == 0 { return sign }
        let exponent = Int(magnitude.exponent)
        var biased = max(exponent + 15, 0)
        // The magnitude in units of the result's last place: [1024, 2048) for normals.
        let units =
            biased == 0
            ? magnitude * 0x1p24 : magnitude * Double(sign: .plus, exponent: 10 - exponent, significand: 1)
        var mantissa = units.rounded(.down)
        let error = units - mantissa
        if biased > 40 {  // far beyond the range: the rounding does not matter
            biased = 40
            mantissa = 1024
        }
        var up: Bool
        switch env.roundingMode {
        case 0: up = error > 0.5 || (error == 0.5 && mantissa.truncatingRemainder(dividingBy: 2) == 1)
        case 1: up = error != 0 && sign == 0
        case 2: up = error != 0 && sign != 0
        default: up = false
        }
        if up { mantissa += 1 }
        if biased == 0 && error != 0 { env.flags |= FloatingPointControl.underflow }
        let bits = biased == 0 ? UInt64(mantissa) : UInt64(biased) << 10 + UInt64(mantissa) - 1024
        if alternative {
            if bits > 0x7FFF {
                env.flags |= FloatingPointControl.invalidOperation
                return sign | 0x7FFF
            }
        } else if bits >= 0x7C00 {
            return sign | (env.overflowRoundsToInfinity(negative: sign != 0) ? 0x7C00 : 0x7BFF)
        }
        if error != 0 { env.flags |= FloatingPointControl.inexact }
        return sign | bits
    }

    /// `FPRoundInt`: FRINTN (0), P (1), M (2), Z (3), A (4), X (6, FPCR mode, raises IXC when
    /// inexact), I (7, FPCR mode). A zero result keeps the operand's sign.
    func roundToIntegral(_ x: UInt64, kind: UInt8, _ format: FPFormat, _ env: inout FPEnvironment) -> UInt64 {
        if format.isNaN(x) { return env.processNaN(x, format) }
        let rule: FloatingPointRoundingRule
        switch kind >= 6 ? UInt8(env.roundingMode) : kind {
        case 0: rule = .toNearestOrEven
        case 1: rule = .up
        case 2: rule = .down
        case 3: rule = .towardZero
        default: rule = .toNearestOrAwayFromZero
        }
        let result: UInt64
        if format.isDouble {
            result = Double(bitPattern: x).rounded(rule).bitPattern
        } else {
            result = UInt64(Float(bitPattern: UInt32(truncatingIfNeeded: x)).rounded(rule).bitPattern)
        }
        if kind == 6 && result != x { env.flags |= FloatingPointControl.inexact }
        return result
    }
}
