/// The Advanced SIMD integer groups (Arm ARM C3.5): three same (logic, add/sub, compares,
/// halving, min/max, absolute difference, multiply, pairwise), two-register miscellaneous
/// (REV, CLS/CLZ, CNT, NOT, RBIT, compares with zero, ABS/NEG, XTN), across lanes (ADDV,
/// S/UADDLV, S/UMAXV, S/UMINV) and shift by immediate (SSHR … SSHLL/USHLL). Element-wise
/// arithmetic is modulo the element size, as the pseudocode's `Elem[...] = result<esize-1:0>`.
extension CPU {
    /// Three same: `d.b` is opcode<15:11>, `d.imm2` is U.
    /// `second` replaces Vm (the by-element forms pass the element replicated).
    func threeSame(_ d: DecodedInstruction, second: Vector128? = nil) {
        let n = vector(d.rn)
        let m = second ?? vector(d.rm)
        let old = vector(d.rd)
        let unsigned = d.imm2 == 1
        if d.b == 0b00011 {
            let result: Vector128
            switch (unsigned, d.a) {
            case (false, 0): result = Vector128(low: n.low & m.low, high: n.high & m.high)
            case (false, 1): result = Vector128(low: n.low & ~m.low, high: n.high & ~m.high)
            case (false, 2): result = Vector128(low: n.low | m.low, high: n.high | m.high)
            case (false, _): result = Vector128(low: n.low | ~m.low, high: n.high | ~m.high)
            case (true, 0): result = Vector128(low: n.low ^ m.low, high: n.high ^ m.high)
            case (true, 1):  // BSL: select n where the destination has ones, m elsewhere
                result = Vector128(
                    low: m.low ^ ((m.low ^ n.low) & old.low), high: m.high ^ ((m.high ^ n.high) & old.high))
            case (true, 2):  // BIT: insert n where m has ones
                result = Vector128(
                    low: old.low ^ ((old.low ^ n.low) & m.low), high: old.high ^ ((old.high ^ n.high) & m.high))
            case (true, _):  // BIF: insert n where m has zeros
                result = Vector128(
                    low: old.low ^ ((old.low ^ n.low) & ~m.low), high: old.high ^ ((old.high ^ n.high) & ~m.high))
            }
            setVector(d.rd, result.sized(d.sf))
            return
        }
        let size = Int(d.a)
        let elements = Self.laneCount(d, size)
        var result = Vector128.zero
        let pairwise = d.b == 0b10100 || d.b == 0b10101 || d.b == 0b10111
        var saturated = false
        for e in 0..<elements {
            // Pairwise forms combine adjacent elements of the concatenation m:n.
            let (a, sa, b, sb): (UInt64, Int64, UInt64, Int64)
            if pairwise {
                let first = 2 * e
                let source = first < elements ? n : m
                let index = first < elements ? first : first - elements
                (a, sa) = (source.element(index, size), source.signedElement(index, size))
                (b, sb) = (source.element(index + 1, size), source.signedElement(index + 1, size))
            } else {
                (a, sa) = (n.element(e, size), n.signedElement(e, size))
                (b, sb) = (m.element(e, size), m.signedElement(e, size))
            }
            let ones = Vector128.mask(bits: 8 << size)
            let greater = unsigned ? a > b : sa > sb
            let value: UInt64
            switch d.b {
            case 0b00001, 0b00101:
                let (saturatedValue, clamped) = Self.saturatingAddSubtract(
                    a, sa, b, sb, subtract: d.b == 0b00101, unsigned: unsigned, esize: 8 << size)
                if clamped { saturated = true }
                value = saturatedValue
            case 0b01000, 0b01001, 0b01010, 0b01011:  // SSHL, SQSHL, SRSHL, SQRSHL and U forms
                let (shifted, clamped) = Self.shiftByRegister(
                    a, sa, by: b, esize: 8 << size, unsigned: unsigned, rounding: d.b & 2 != 0,
                    saturating: d.b & 1 != 0)
                if clamped { saturated = true }
                value = shifted
            case 0b10110:  // SQDMULH, SQRDMULH (U)
                let (high, clamped) = Self.doublingMultiplyHigh(sa, sb, esize: 8 << size, rounding: unsigned)
                if clamped { saturated = true }
                value = high
            case 0b00000: value = unsigned ? (a &+ b) >> 1 : UInt64(bitPattern: (sa &+ sb) >> 1)
            case 0b00010: value = unsigned ? (a &+ b &+ 1) >> 1 : UInt64(bitPattern: (sa &+ sb &+ 1) >> 1)
            case 0b00100:
                value = unsigned ? UInt64(bitPattern: (Int64(a) &- Int64(b)) >> 1) : UInt64(bitPattern: (sa &- sb) >> 1)
            case 0b00110: value = greater ? ones : 0
            case 0b00111: value = (unsigned ? a >= b : sa >= sb) ? ones : 0
            case 0b01100, 0b10100: value = greater ? a : b
            case 0b01101, 0b10101: value = greater ? b : a
            case 0b01110, 0b01111:
                let difference =
                    unsigned ? (a > b ? a &- b : b &- a) : UInt64(bitPattern: sa > sb ? sa &- sb : sb &- sa)
                value = d.b == 0b01111 ? old.element(e, size) &+ difference : difference
            case 0b10000: value = unsigned ? a &- b : a &+ b
            case 0b10001: value = (unsigned ? a == b : a & b != 0) ? ones : 0
            case 0b10010:
                let product = a &* b
                value = unsigned ? old.element(e, size) &- product : old.element(e, size) &+ product
            case 0b10011: value = unsigned ? Self.polynomialMultiply(a, b) : a &* b  // PMUL, MUL
            default: value = a &+ b  // ADDP
            }
            result.setElement(e, size, value)
        }
        setVector(d.rd, result)
        if saturated { state.pointee.fpsr |= FloatingPointControl.saturation }
    }

    /// The carry-less product of two bytes (PMUL keeps its low byte, PMULL all 16 bits).
    static func polynomialMultiply(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var product: UInt64 = 0
        for bit in 0..<8 where (a >> UInt64(bit)) & 1 == 1 { product ^= (b & 0xFF) << UInt64(bit) }
        return product
    }

    /// SQADD/UQADD/SQSUB/UQSUB of one element: the result clamped to the element's range, and
    /// whether it was (FPSR.QC; Arm ARM J1 `SignedSatQ`/`UnsignedSatQ`).
    static func saturatingAddSubtract(
        _ a: UInt64, _ sa: Int64, _ b: UInt64, _ sb: Int64, subtract: Bool, unsigned: Bool, esize: Int
    ) -> (UInt64, Bool) {
        let ones = Vector128.mask(bits: esize)
        if unsigned {
            if subtract { return a < b ? (0, true) : (a &- b, false) }
            let (sum, overflow) = a.addingReportingOverflow(b)
            return overflow || sum > ones ? (ones, true) : (sum, false)
        }
        let largest = Int64(bitPattern: ones >> 1)
        let smallest = ~largest
        let (result, overflow) = subtract ? sa.subtractingReportingOverflow(sb) : sa.addingReportingOverflow(sb)
        if overflow { return (UInt64(bitPattern: sa < 0 ? smallest : largest), true) }
        if result > largest { return (UInt64(bitPattern: largest), true) }
        if result < smallest { return (UInt64(bitPattern: smallest), true) }
        return (UInt64(bitPattern: result), false)
    }

    /// Three different (Arm ARM C3.5): long (L: both sources narrow), wide (W: Vn wide), high
    /// narrow (HN) and PMULL of bytes. `d.b` = opcode<15:12>, `d.a` = the narrow element size,
    /// `d.imm2` = U, Q = 1 (the "2" forms) takes the narrow sources from bits 127:64 and puts a
    /// narrow result there; the scalar forms (`sf` = 2) use element 0. SQDMLAL (1001), SQDMLSL
    /// (1011) and SQDMULL (1101) saturate (`doublingMultiplyLong`). `second` replaces Vm (the
    /// long by-element forms pass the element replicated).
    func threeDifferent(_ d: DecodedInstruction, second: Vector128? = nil) {
        let n = vector(d.rn)
        let m = second ?? vector(d.rm)
        let old = vector(d.rd)
        let size = Int(d.a)
        let esize = 8 << size
        let unsigned = d.imm2 == 1
        let half = 8 >> size
        let offset = d.sf == 1 ? half : 0
        func narrow(_ v: Vector128, _ e: Int) -> UInt64 {
            unsigned ? v.element(offset + e, size) : UInt64(bitPattern: v.signedElement(offset + e, size))
        }
        func wide(_ v: Vector128, _ e: Int) -> UInt64 {
            unsigned ? v.element(e, size + 1) : UInt64(bitPattern: v.signedElement(e, size + 1))
        }
        if d.b == 0b0100 || d.b == 0b0110 {  // ADDHN/RADDHN, SUBHN/RSUBHN
            var result = d.sf == 1 ? old : Vector128.zero
            let round: UInt64 = unsigned ? 1 << UInt64(esize - 1) : 0
            for e in 0..<half {
                let a = n.element(e, size + 1)
                let b = m.element(e, size + 1)
                let sum = (d.b == 0b0100 ? a &+ b : a &- b) &+ round
                result.setElement(offset + e, size, sum >> UInt64(esize))
            }
            setVector(d.rd, result)
            return
        }
        var result = Vector128.zero
        var saturated = false
        for e in 0..<(d.sf == 2 ? 1 : half) {
            let a = d.b == 0b0001 || d.b == 0b0011 ? wide(n, e) : narrow(n, e)
            let b = narrow(m, e)
            let value: UInt64
            switch d.b {
            case 0b0000, 0b0001: value = a &+ b
            case 0b0010, 0b0011: value = a &- b
            case 0b0101, 0b0111:
                let difference =
                    unsigned
                    ? (a > b ? a &- b : b &- a)
                    : UInt64(
                        bitPattern: Int64(bitPattern: a) > Int64(bitPattern: b)
                            ? Int64(bitPattern: a &- b)
                            : Int64(bitPattern: b &- a))
                value = d.b == 0b0101 ? old.element(e, size + 1) &+ difference : difference
            case 0b1000: value = old.element(e, size + 1) &+ a &* b
            case 0b1010: value = old.element(e, size + 1) &- a &* b
            case 0b1100: value = a &* b
            case 0b1001, 0b1011, 0b1101:
                let (product, clamped) = Self.doublingMultiplyLong(
                    Int64(bitPattern: a), Int64(bitPattern: b), accumulator: old.signedElement(e, size + 1),
                    operation: d.b, esize: esize)
                if clamped { saturated = true }
                value = product
            default: value = Self.polynomialMultiply(a, b)  // PMULL
            }
            result.setElement(e, size + 1, value)
        }
        setVector(d.rd, result)
        if saturated { state.pointee.fpsr |= FloatingPointControl.saturation }
    }

    /// Two-register miscellaneous: `d.b` is opcode<16:12> (0b11111 for RBIT), `d.imm2` is U.
    /// Saturating forms (SUQADD/USQADD, SQABS/SQNEG, SQXTN/UQXTN/SQXTUN) set FPSR.QC.
    func twoRegisterMisc(_ d: DecodedInstruction) {
        let n = vector(d.rn)
        let old = vector(d.rd)
        let size = Int(d.a)
        let unsigned = d.imm2 == 1
        let half = 8 >> size
        var saturated = false
        switch d.b {
        case 0b10010, 0b10100:
            // XTN (10010, U = 0), SQXTUN (10010, U = 1), SQXTN/UQXTN (10100): each double-width
            // element narrowed into the low half, or the high half for the "2" forms.
            var result = d.sf == 1 ? old : Vector128.zero
            for e in 0..<(d.sf == 2 ? 1 : half) {
                var value = n.element(e, size + 1)
                if d.b == 0b10100 || unsigned {
                    let source = d.b == 0b10100 && unsigned ? Int128(value) : Int128(n.signedElement(e, size + 1))
                    let (narrowed, clamped) = Self.saturate(source, esize: 8 << size, unsigned: unsigned)
                    if clamped { saturated = true }
                    value = narrowed
                }
                result.setElement(e + (d.sf == 1 ? half : 0), size, value)
            }
            setVector(d.rd, result)
            if saturated { state.pointee.fpsr |= FloatingPointControl.saturation }
            return
        case 0b10011:  // SHLL/SHLL2: one half of Vn widened and shifted left by the element size
            var result = Vector128.zero
            for e in 0..<half {
                result.setElement(e, size + 1, n.element(e + (d.sf == 1 ? half : 0), size) << UInt64(8 << size))
            }
            setVector(d.rd, result)
            return
        case 0b00010, 0b00110:  // SADDLP/UADDLP, SADALP/UADALP: adjacent pairs added, widened
            var result = Vector128.zero
            for e in 0..<Self.laneCount(d, size + 1) {
                let x = unsigned ? n.element(2 * e, size) : UInt64(bitPattern: n.signedElement(2 * e, size))
                let y = unsigned ? n.element(2 * e + 1, size) : UInt64(bitPattern: n.signedElement(2 * e + 1, size))
                let sum = x &+ y
                result.setElement(e, size + 1, d.b == 0b00110 ? old.element(e, size + 1) &+ sum : sum)
            }
            setVector(d.rd, result)
            return
        default:
            break
        }
        var result = Vector128.zero
        let elements = Self.laneCount(d, size)
        if d.b <= 0b00001 {  // REV64 / REV32 / REV16: reverse elements within each container
            let container = d.b == 1 ? 1 : (unsigned ? 2 : 3)
            let perContainer = 1 << (container - size)
            for e in 0..<elements {
                let reversed = (e & ~(perContainer - 1)) + (perContainer - 1 - (e & (perContainer - 1)))
                result.setElement(reversed, size, n.element(e, size))
            }
            setVector(d.rd, result)
            return
        }
        let esize = 8 << size
        let ones = Vector128.mask(bits: esize)
        for e in 0..<elements {
            let a = n.element(e, size)
            let sa = n.signedElement(e, size)
            let value: UInt64
            switch d.b {
            case 0b00100:
                if unsigned {
                    value = UInt64(a.leadingZeroBitCount - (64 - esize))
                } else {
                    let folded = (a ^ (a >> 1)) & (ones >> 1)
                    value = UInt64(folded.leadingZeroBitCount - (64 - esize + 1))
                }
            case 0b00101: value = unsigned ? ~a : UInt64(a.nonzeroBitCount)
            case 0b11111: value = Arithmetic.reverseBits(a & 0xFF) >> 56  // RBIT of a byte
            case 0b01000: value = (unsigned ? sa >= 0 : sa > 0) ? ones : 0
            case 0b01001: value = (unsigned ? sa <= 0 : sa == 0) ? ones : 0
            case 0b01010: value = sa < 0 ? ones : 0
            case 0b00011:  // SUQADD: unsigned Vn + signed Vd; USQADD: signed Vn + unsigned Vd
                let addend = unsigned ? Int128(sa) : Int128(a)
                let accumulator = unsigned ? Int128(old.element(e, size)) : Int128(old.signedElement(e, size))
                let (sum, clamped) = Self.saturate(addend + accumulator, esize: esize, unsigned: unsigned)
                if clamped { saturated = true }
                value = sum
            case 0b00111:  // SQABS, SQNEG (U)
                let (magnitude, clamped) = Self.saturate(
                    unsigned || sa < 0 ? -Int128(sa) : Int128(sa), esize: esize, unsigned: false)
                if clamped { saturated = true }
                value = magnitude
            default: value = unsigned || sa < 0 ? 0 &- a : a  // NEG, ABS
            }
            result.setElement(e, size, value)
        }
        setVector(d.rd, result)
        if saturated { state.pointee.fpsr |= FloatingPointControl.saturation }
    }

    /// Across lanes: `d.b` is opcode<16:12>; the scalar result clears the rest of Vd.
    func acrossLanes(_ d: DecodedInstruction) {
        let n = vector(d.rn)
        let size = Int(d.a)
        let elements = (d.sf == 1 ? 16 : 8) >> size
        let unsigned = d.imm2 == 1
        var accumulator: Int64 = unsigned ? Int64(bitPattern: n.element(0, size)) : n.signedElement(0, size)
        var resultSize = size
        for e in 1..<elements {
            let value = unsigned ? Int64(bitPattern: n.element(e, size)) : n.signedElement(e, size)
            switch d.b {
            case 0b01010: accumulator = max(accumulator, value)
            case 0b11010: accumulator = min(accumulator, value)
            default: accumulator = accumulator &+ value
            }
        }
        if d.b == 0b00011 { resultSize = size + 1 }
        let result = UInt64(bitPattern: accumulator) & Vector128.mask(bits: 8 << resultSize)
        setVector(d.rd, Vector128(low: result, high: 0))
    }

    /// Shift by immediate: `d.b` is opcode<15:11>, `d.a` the (narrow) element size, `d.imm` the
    /// shift, `d.imm2` U. Rounding shifts add the last bit shifted out, which is exact for
    /// every element size without a wider intermediate.
    func shiftImmediate(_ d: DecodedInstruction) {
        let n = vector(d.rn)
        let old = vector(d.rd)
        let size = Int(d.a)
        let esize = 8 << size
        let shift = Int(d.imm)
        let unsigned = d.imm2 == 1
        let ones = Vector128.mask(bits: esize)
        var saturated = false
        switch d.b {
        case 0b10000, 0b10001, 0b10010, 0b10011:
            // The double-width elements of Vn shifted right and narrowed (into the high half for
            // the "2" forms): SHRN/RSHRN (U = 0, 1000x), SQSHRUN/SQRSHRUN (U = 1, 1000x: signed
            // to unsigned), SQSHRN/SQRSHRN, UQSHRN/UQRSHRN (1001x); odd opcodes round.
            let half = 8 >> size
            var result = d.sf == 1 ? old : Vector128.zero
            let rounding = d.b & 1 == 1
            for e in 0..<(d.sf == 2 ? 1 : half) {
                let a = n.element(e, size + 1)
                var value: UInt64
                if d.b <= 0b10001 && !unsigned {
                    value = a >> UInt64(shift)
                    if rounding { value &+= (a >> UInt64(shift - 1)) & 1 }
                } else {
                    let source = d.b >= 0b10010 && unsigned ? Int128(a) : Int128(n.signedElement(e, size + 1))
                    let shifted = (source + (rounding ? Int128(1) << (shift - 1) : 0)) >> shift
                    let (narrowed, clamped) = Self.saturate(shifted, esize: esize, unsigned: unsigned)
                    if clamped { saturated = true }
                    value = narrowed
                }
                result.setElement(e + (d.sf == 1 ? half : 0), size, value)
            }
            setVector(d.rd, result)
            if saturated { state.pointee.fpsr |= FloatingPointControl.saturation }
            return
        case 0b10100:  // SSHLL/USHLL (2): widen one half of Vn
            let half = 8 >> size
            var result = Vector128.zero
            for e in 0..<half {
                let index = e + (d.sf == 1 ? half : 0)
                let a = unsigned ? n.element(index, size) : UInt64(bitPattern: n.signedElement(index, size))
                result.setElement(e, size + 1, a << UInt64(shift))
            }
            setVector(d.rd, result)
            return
        default:
            break
        }
        let elements = Self.laneCount(d, size)
        var result = Vector128.zero
        for e in 0..<elements {
            let a = n.element(e, size)
            let sa = n.signedElement(e, size)
            // The element shifted right (arithmetic for signed), and the last bit shifted out.
            let shifted = unsigned ? a >> UInt64(shift) : UInt64(bitPattern: sa >> Int64(shift))
            let roundBit = shift == 0 ? 0 : (a >> UInt64(shift - 1)) & 1
            let value: UInt64
            switch d.b {
            case 0b00000: value = shifted
            case 0b00010: value = old.element(e, size) &+ shifted
            case 0b00100: value = shifted &+ roundBit
            case 0b00110: value = old.element(e, size) &+ shifted &+ roundBit
            case 0b01000:  // SRI
                let mask = shift >= esize ? 0 : ones >> UInt64(shift)
                value = (old.element(e, size) & ~mask) | (a >> UInt64(shift))
            case 0b01100, 0b01110:  // SQSHLU (signed to unsigned); SQSHL, UQSHL (immediate)
                let source = unsigned && d.b == 0b01110 ? Int128(a) : Int128(sa)
                let (shiftedLeft, clamped) = Self.saturate(source << shift, esize: esize, unsigned: unsigned)
                if clamped { saturated = true }
                value = shiftedLeft
            default:  // SHL, SLI
                let shiftedLeft = a << UInt64(shift)
                value = unsigned ? (old.element(e, size) & ~(ones << UInt64(shift))) | shiftedLeft : shiftedLeft
            }
            result.setElement(e, size, value)
        }
        setVector(d.rd, result)
        if saturated { state.pointee.fpsr |= FloatingPointControl.saturation }
    }
}
