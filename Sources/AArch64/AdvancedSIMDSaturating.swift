/// The saturating and register-shift arithmetic of the Advanced SIMD integer groups (Arm ARM
/// J1 `SatQ`, `SignedSatQ`, `UnsignedSatQ`), shared by the vector and scalar forms of three
/// same, two-register miscellaneous, three different, shift by immediate and by element.
/// Intermediate values are exact in 128 bits (the widest is a doubled product of two 64-bit
/// elements, or a 64-bit element shifted left by less than 64); a clamped result sets FPSR.QC.
extension CPU {
    /// `SatQ(value, esize, unsigned)`: `value` clamped to the range of an `esize`-bit integer,
    /// and whether it had to be.
    @inline(__always)
    static func clamp(_ value: Int128, esize: Int, unsigned: Bool) -> (Int128, Bool) {
        let maximum: Int128 = unsigned ? (Int128(1) << esize) - 1 : (Int128(1) << (esize - 1)) - 1
        let minimum: Int128 = unsigned ? 0 : -(Int128(1) << (esize - 1))
        if value > maximum { return (maximum, true) }
        if value < minimum { return (minimum, true) }
        return (value, false)
    }

    /// `SatQ` as element bits: the clamped value's low `esize` bits, and whether it saturated.
    @inline(__always)
    static func saturate(_ value: Int128, esize: Int, unsigned: Bool) -> (UInt64, Bool) {
        let (clamped, saturated) = clamp(value, esize: esize, unsigned: unsigned)
        return (UInt64(truncatingIfNeeded: clamped) & Vector128.mask(bits: esize), saturated)
    }

    /// SSHL/USHL, SRSHL/URSHL, SQSHL/UQSHL (register), SQRSHL/UQRSHL (Arm ARM C7.2, the
    /// pseudocode of each): the element shifted left by the
    /// signed low byte of the shift operand, right (arithmetic or logical) when it is negative;
    /// the rounding forms add 1 << (−shift − 1) first, the saturating forms clamp to `esize`
    /// bits, the others truncate.
    static func shiftByRegister(
        _ a: UInt64, _ sa: Int64, by b: UInt64, esize: Int, unsigned: Bool, rounding: Bool, saturating: Bool
    ) -> (UInt64, Bool) {
        let shift = Int(Int8(truncatingIfNeeded: b))
        let element = unsigned ? Int128(a) : Int128(sa)
        var result: Int128
        if shift >= 0 {
            if saturating && shift >= esize && element != 0 {
                result = element < 0 ? Int128.min : Int128.max  // far out of range either way
            } else {
                result = element << shift  // saturating: shift < 64, exact; otherwise truncated
            }
        } else {
            // Beyond 65 places every element (|element| < 2^64) gives the same result.
            let amount = min(-shift, 65)
            let roundConstant: Int128 = rounding ? Int128(1) << (amount - 1) : 0
            result = (element + roundConstant) >> amount
        }
        if saturating { return saturate(result, esize: esize, unsigned: unsigned) }
        return (UInt64(truncatingIfNeeded: result) & Vector128.mask(bits: esize), false)
    }

    /// SQDMULH/SQRDMULH (C7.2): the high half of the doubled product, rounded for
    /// SQRDMULH; only (−2^(esize−1))² saturates.
    @inline(__always)
    static func doublingMultiplyHigh(_ a: Int64, _ b: Int64, esize: Int, rounding: Bool) -> (UInt64, Bool) {
        let product = 2 * Int128(a) * Int128(b) + (rounding ? Int128(1) << (esize - 1) : 0)
        return saturate(product >> esize, esize: esize, unsigned: false)
    }

    /// SQDMULL/SQDMLAL/SQDMLSL (C7.2): the doubled product saturated
    /// to `2 × esize` bits, then (accumulating forms) added to or subtracted from `accumulator`
    /// and saturated again.
    @inline(__always)
    static func doublingMultiplyLong(
        _ a: Int64, _ b: Int64, accumulator: Int64, operation: UInt8, esize: Int
    ) -> (UInt64, Bool) {
        let (product, productSaturated) = clamp(2 * Int128(a) * Int128(b), esize: 2 * esize, unsigned: false)
        let sum: Int128
        switch operation {
        case 0b1001: sum = Int128(accumulator) + product
        case 0b1011: sum = Int128(accumulator) - product
        default: sum = product
        }
        let (value, sumSaturated) = saturate(sum, esize: 2 * esize, unsigned: false)
        return (value, productSaturated || sumSaturated)
    }
}
