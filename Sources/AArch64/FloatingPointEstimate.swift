import CFloatingPoint

/// The reciprocal and reciprocal-square-root estimates and Newton-Raphson steps (Arm ARM J1
/// `FPRecipEstimate`, `FPRSqrtEstimate`, `RecipEstimate`, `RecipSqrtEstimate`, `FPRecpX`,
/// `FPRecipStepFused`, `FPRSqrtStepFused`), scalar single and double: FRECPE, FRSQRTE, FRECPX,
/// FRECPS, FRSQRTS. The estimates are the architecture's 8-bit table-free integer algorithms,
/// so every implementation gives the same bits.
extension CPU {
    /// `d.b`: 0 FRECPE, 1 FRSQRTE, 2 FRECPX, 3 FRECPS, 4 FRSQRTS.
    func estimate(_ d: DecodedInstruction, _ format: FPFormat, _ env: inout FPEnvironment) -> UInt64 {
        let n = scalar(d.rn, format)
        switch d.b {
        case 0: return Self.reciprocalEstimate(n, format, &env)
        case 1: return Self.reciprocalSquareRootEstimate(n, format, &env)
        case 2: return Self.reciprocalExponent(n, format, &env)
        default: return Self.step(n, scalar(d.rm, format), squareRoot: d.b == 4, format, &env)
        }
    }

    /// The fraction of `x` as 52 bits (single fractions shifted up) and its biased exponent.
    private static func wideFraction(_ x: UInt64, _ format: FPFormat) -> (fraction: UInt64, exponent: Int) {
        let fraction = (x & format.fractionMask) << UInt64(52 - format.fractionBits)
        return (fraction, Int((x & format.exponentMask) >> UInt64(format.fractionBits)))
    }

    /// Assembles sign, biased exponent and a 52-bit fraction into `format`.
    private static func assemble(_ sign: UInt64, _ exponent: Int, _ fraction: UInt64, _ format: FPFormat) -> UInt64 {
        let exponentField = UInt64(exponent) & ((1 << UInt64(format.exponentBits)) - 1)
        return sign | exponentField << UInt64(format.fractionBits) | fraction >> UInt64(52 - format.fractionBits)
    }

    static func reciprocalEstimate(_ operand: UInt64, _ format: FPFormat, _ env: inout FPEnvironment) -> UInt64 {
        let x = env.unpack(operand, format)
        if format.isNaN(x) { return env.processNaN(x, format) }
        let sign = x & format.signBit
        if format.isInfinity(x) { return sign }
        if format.isZero(x) {
            env.flags |= FloatingPointControl.divideByZero
            return sign | format.infinity
        }
        let magnitude = x & ~format.signBit
        // |x| < 2^-128 (single) or 2^-1024 (double): the reciprocal overflows.
        if magnitude < (format.isDouble ? 1 << 50 : 1 << 21) {
            let toInfinity = env.overflowRoundsToInfinity(negative: sign != 0)
            let largest = (format.exponentMask - (1 << UInt64(format.fractionBits))) | format.fractionMask
            return sign | (toInfinity ? format.infinity : largest)
        }
        // |x| >= 2^126 (single) or 2^1022 (double) with FZ: the denormal result is flushed.
        let flushLimit: UInt64 = format.isDouble ? 2045 << 52 : 253 << 23
        if env.flushToZero && magnitude >= flushLimit {
            env.flags |= FloatingPointControl.underflow
            return sign
        }
        var (fraction, exponent) = wideFraction(x, format)
        let mask52: UInt64 = (1 << 52) - 1
        if exponent == 0 {
            if fraction >> 51 & 1 == 0 {
                exponent = -1
                fraction = (fraction << 2) & mask52
            } else {
                fraction = (fraction << 1) & mask52
            }
        }
        let scaled = 0x100 | Int(fraction >> 44)
        var resultExponent = (format.isDouble ? 2045 : 253) - exponent
        let estimate = recipEstimate(scaled)
        var resultFraction = UInt64(estimate & 0xFF) << 44
        if resultExponent == 0 {
            resultFraction = 1 << 51 | resultFraction >> 1
        } else if resultExponent == -1 {
            resultFraction = 1 << 50 | resultFraction >> 2
            resultExponent = 0
        }
        return assemble(sign, resultExponent, resultFraction, format)
    }

    /// `RecipEstimate`: 256 ≤ a < 512 (0.5 ≤ x < 1 in steps of 1/512) to 256 ≤ r < 512.
    static func recipEstimate(_ value: Int) -> Int {
        let a = value * 2 + 1
        let b = (1 << 19) / a
        return (b + 1) / 2
    }

    static func reciprocalSquareRootEstimate(_ operand: UInt64, _ format: FPFormat, _ env: inout FPEnvironment)
        -> UInt64
    {
        let x = env.unpack(operand, format)
        if format.isNaN(x) { return env.processNaN(x, format) }
        let sign = x & format.signBit
        if format.isZero(x) {
            env.flags |= FloatingPointControl.divideByZero
            return sign | format.infinity
        }
        if sign != 0 {
            env.flags |= FloatingPointControl.invalidOperation
            return format.defaultNaN
        }
        if format.isInfinity(x) { return 0 }
        var (fraction, exponent) = wideFraction(x, format)
        let mask52: UInt64 = (1 << 52) - 1
        if exponent == 0 {
            while fraction >> 51 & 1 == 0 {
                fraction = (fraction << 1) & mask52
                exponent -= 1
            }
            fraction = (fraction << 1) & mask52
        }
        let scaled = exponent & 1 == 0 ? 0x100 | Int(fraction >> 44) : 0x80 | Int(fraction >> 45)
        let resultExponent = ((format.isDouble ? 3068 : 380) - exponent) / 2
        let estimate = recipSqrtEstimate(scaled)
        return assemble(0, resultExponent, UInt64(estimate & 0xFF) << 44, format)
    }

    /// `RecipSqrtEstimate`: 128 ≤ a < 512 (0.25 ≤ x < 1) to 256 ≤ r < 512.
    static func recipSqrtEstimate(_ value: Int) -> Int {
        var a = value
        if a < 256 {
            a = a * 2 + 1
        } else {
            a = (a >> 1) << 1
            a = (a + 1) * 2
        }
        var b = 512
        while a * (b + 1) * (b + 1) < 1 << 28 { b += 1 }
        return (b + 1) / 2
    }

    /// `FPRecpX`: the exponent inverted, fraction zero (a zero or denormal exponent gives the
    /// largest finite exponent).
    static func reciprocalExponent(_ operand: UInt64, _ format: FPFormat, _ env: inout FPEnvironment) -> UInt64 {
        let x = env.unpack(operand, format)
        if format.isNaN(x) { return env.processNaN(x, format) }
        let exponent = x & format.exponentMask
        let inverted =
            exponent == 0
            ? format.exponentMask - (1 << UInt64(format.fractionBits)) : ~exponent & format.exponentMask
        return x & format.signBit | inverted
    }

    /// FRECPS: 2 − a × b; FRSQRTS: (3 − a × b) / 2; each rounded once. ∞ × 0 gives 2 or 1.5.
    static func step(_ a: UInt64, _ b: UInt64, squareRoot: Bool, _ format: FPFormat, _ env: inout FPEnvironment)
        -> UInt64
    {
        let x = env.unpack(a ^ format.signBit, format)
        let y = env.unpack(b, format)
        if let nan = env.processNaNs(x, y, format) { return nan }
        let one = format.exponentMask >> 1 & format.exponentMask
        let two = one + (1 << UInt64(format.fractionBits))
        let onePointFive = one | format.quietBit
        let three = two | format.quietBit
        if (format.isInfinity(x) && format.isZero(y)) || (format.isZero(x) && format.isInfinity(y)) {
            return squareRoot ? onePointFive : two
        }
        if format.isInfinity(x) || format.isInfinity(y) {
            return (x ^ y) & format.signBit | format.infinity
        }
        guard squareRoot else { return env.host(Int32(CFP_FMA), x, y, two, format) }
        // (3 + x·y) / 2 as one rounding: halve an operand exactly when one is large enough.
        let unit = UInt64(1) << UInt64(format.fractionBits)
        if y & format.exponentMask >= 2 * unit {
            return env.host(Int32(CFP_FMA), x, y - unit, onePointFive, format)
        }
        if x & format.exponentMask >= 2 * unit {
            return env.host(Int32(CFP_FMA), x - unit, y, onePointFive, format)
        }
        // Both tiny: 3 + x·y is near 3, so halving the rounded sum is exact.
        return env.host(Int32(CFP_FMA), x, y, three, format) - unit
    }
}
