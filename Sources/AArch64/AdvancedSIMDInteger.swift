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
        let elements = (d.sf == 1 ? 16 : 8) >> size
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
            case 0b10011: value = a &* b
            default: value = a &+ b  // ADDP
            }
            result.setElement(e, size, value)
        }
        setVector(d.rd, result)
        if saturated { state.pointee.fpsr |= FloatingPointControl.saturation }
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
    /// narrow result there.
    func threeDifferent(_ d: DecodedInstruction) {
        let n = vector(d.rn)
        let m = vector(d.rm)
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
        for e in 0..<half {
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
            default:  // PMULL: carry-less product of two bytes
                var product: UInt64 = 0
                for bit in 0..<8 where (a >> UInt64(bit)) & 1 == 1 { product ^= (b & 0xFF) << UInt64(bit) }
                value = product
            }
            result.setElement(e, size + 1, value)
        }
        setVector(d.rd, result)
    }

    /// Two-register miscellaneous: `d.b` is opcode<16:12> (0b11111 for RBIT), `d.imm2` is U.
    func twoRegisterMisc(_ d: DecodedInstruction) {
        let n = vector(d.rn)
        let size = Int(d.a)
        let unsigned = d.imm2 == 1
        let bytes = d.sf == 1 ? 16 : 8
        if d.b == 0b10010 {  // XTN/XTN2: narrow each double-width element into one half
            var result = d.sf == 1 ? vector(d.rd) : Vector128.zero
            let half = 8 >> size
            for e in 0..<half { result.setElement(e + (d.sf == 1 ? half : 0), size, n.element(e, size + 1)) }
            setVector(d.rd, result)
            return
        }
        var result = Vector128.zero
        let elements = bytes >> size
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
            default: value = unsigned || sa < 0 ? 0 &- a : a  // NEG, ABS
            }
            result.setElement(e, size, value)
        }
        setVector(d.rd, result)
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
        switch d.b {
        case 0b10000, 0b10001:  // SHRN/RSHRN (2): the double-width elements of Vn, narrowed
            let half = 8 >> size
            var result = d.sf == 1 ? old : Vector128.zero
            for e in 0..<half {
                let a = n.element(e, size + 1)
                var value = a >> UInt64(shift)
                if d.b == 0b10001 { value &+= (a >> UInt64(shift - 1)) & 1 }
                result.setElement(e + (d.sf == 1 ? half : 0), size, value)
            }
            setVector(d.rd, result)
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
        let elements = (d.sf == 1 ? 16 : 8) >> size
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
            default:  // SHL, SLI
                let shiftedLeft = a << UInt64(shift)
                value = unsigned ? (old.element(e, size) & ~(ones << UInt64(shift))) | shiftedLeft : shiftedLeft
            }
            result.setElement(e, size, value)
        }
        setVector(d.rd, result)
    }
}
