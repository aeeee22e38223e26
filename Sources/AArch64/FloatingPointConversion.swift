import CFloatingPoint

/// Conversions between floating point and integer or fixed point (Arm ARM C3.6.x): FCVT{N,P,M,
/// Z,A}{S,U} (`FPToFixed`: exact rounding in software, saturation with IOC and no IXC on
/// overflow) and SCVTF/UCVTF (`FixedToFP`: the integer rounded on the host in FPCR's mode,
/// then scaled by 2^-fbits, which is exact for every fbits the encodings allow).
extension CPU {
    /// `d.b` = rmode << 3 | opcode (opcode 000/001 FCVT*S/U, 010/011 SCVTF/UCVTF, 100/101
    /// FCVTAS/AU); `d.imm` = fbits; `d.sf` = 64-bit integer.
    func integerConvert(_ d: DecodedInstruction, _ format: FPFormat, _ env: inout FPEnvironment) {
        let opcode = d.b & 7
        let unsigned = opcode & 1 == 1
        let bits = d.sf == 1 ? 64 : 32
        if opcode == 2 || opcode == 3 {
            var value = registers[Int(d.rn)]
            if bits == 32 {
                value = unsigned ? value & 0xFFFF_FFFF : UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: value)))
            }
            let rounded = cfp_from_integer(value, unsigned ? 0 : 1, format.isDouble ? 1 : 0, Int32(env.roundingMode))
            env.flags |= UInt64(rounded.flags & UInt32(CFP_INEXACT))
            setVector(d.rd, Vector128(low: Self.scaledDown(rounded.bits, fractionBits: Int(d.imm), format), high: 0))
            return
        }
        // Rounding: FCVTA* ties away; otherwise rmode N, P, M, Z.
        let rounding = opcode >= 4 ? 4 : Int(d.b >> 3)
        let result = toInteger(
            scalar(d.rn, format), format, rounding: rounding, fractionBits: Int(d.imm), unsigned: unsigned, bits: bits,
            &env)
        registers[Int(d.rd)] = bits == 32 ? result & 0xFFFF_FFFF : result
    }

    /// A converted integer scaled by 2^−fractionBits (exact: the rounded integer has at most 53
    /// significant bits and the result stays far from the subnormal range).
    static func scaledDown(_ bits: UInt64, fractionBits: Int, _ format: FPFormat) -> UInt64 {
        guard fractionBits > 0 else { return bits }
        if format.isDouble {
            return (Double(bitPattern: bits) * Double(sign: .plus, exponent: -fractionBits, significand: 1)).bitPattern
        }
        let scaled =
            Float(bitPattern: UInt32(truncatingIfNeeded: bits))
            * Float(sign: .plus, exponent: -fractionBits, significand: 1)
        return UInt64(scaled.bitPattern)
    }

    /// `FPToFixed`: `x` × 2^fractionBits rounded to an integer of `bits` bits; rounding 0 to
    /// nearest even, 1 up, 2 down, 3 towards zero, 4 to nearest with ties away.
    func toInteger(
        _ operand: UInt64, _ format: FPFormat, rounding: Int, fractionBits: Int, unsigned: Bool, bits: Int,
        _ env: inout FPEnvironment
    ) -> UInt64 {
        let x = env.unpack(operand, format)
        let negative = format.isNegative(x)
        let largest: UInt64 = unsigned ? Vector128.mask(bits: bits) : (1 << UInt64(bits - 1)) - 1
        let smallest: UInt64 = unsigned ? 0 : 0 &- (1 << UInt64(bits - 1))
        if format.isNaN(x) {
            env.flags |= FloatingPointControl.invalidOperation
            return 0
        }
        if format.isInfinity(x) {
            env.flags |= FloatingPointControl.invalidOperation
            return negative ? smallest : largest
        }
        if format.isZero(x) { return 0 }
        let biased = Int((x & format.exponentMask) >> UInt64(format.fractionBits))
        let bias = (1 << (format.exponentBits - 1)) - 1
        let mantissa = (x & format.fractionMask) | (biased == 0 ? 0 : 1 << UInt64(format.fractionBits))
        let shift = max(biased, 1) - bias - format.fractionBits + fractionBits
        var magnitude: UInt64
        var half = false
        var sticky = false
        var overflow = false
        if shift >= 0 {
            overflow = shift > mantissa.leadingZeroBitCount
            magnitude = overflow ? ~0 : mantissa << UInt64(shift)
        } else {
            let s = -shift
            magnitude = s >= 64 ? 0 : mantissa >> UInt64(s)
            if s - 1 < 64 {
                half = (mantissa >> UInt64(s - 1)) & 1 == 1
                sticky = mantissa & ((1 << UInt64(s - 1)) &- 1) != 0
            } else {
                sticky = true
            }
        }
        let inexact = half || sticky
        let increment: Bool
        switch rounding {
        case 0: increment = half && (sticky || magnitude & 1 == 1)
        case 1: increment = !negative && inexact
        case 2: increment = negative && inexact
        case 3: increment = false
        default: increment = half
        }
        if increment {
            if magnitude == ~0 { overflow = true } else { magnitude += 1 }
        }
        let result: UInt64
        if unsigned {
            if negative && magnitude != 0 {
                overflow = true
                result = 0
            } else if overflow || magnitude > largest {
                overflow = true
                result = largest
            } else {
                result = magnitude
            }
        } else if negative {
            if overflow || magnitude > (1 << UInt64(bits - 1)) {
                overflow = true
                result = smallest
            } else {
                result = 0 &- magnitude
            }
        } else if overflow || magnitude > largest {
            overflow = true
            result = largest
        } else {
            result = magnitude
        }
        if overflow {
            env.flags |= FloatingPointControl.invalidOperation
        } else if inexact {
            env.flags |= FloatingPointControl.inexact
        }
        return result
    }
}
