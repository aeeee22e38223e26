import CFloatingPoint

/// An IEEE 754 binary format as the Arm ARM's FP pseudocode sees it (A1.4.3, J1 `FPUnpack`,
/// `FPDefaultNaN`): values are bit patterns in the low bits of a UInt64.
struct FPFormat {
    let exponentBits: Int
    let fractionBits: Int

    static let half = FPFormat(exponentBits: 5, fractionBits: 10)
    static let single = FPFormat(exponentBits: 8, fractionBits: 23)
    static let double = FPFormat(exponentBits: 11, fractionBits: 52)

    /// The format of a scalar FP instruction's `type` field (`DecodedInstruction.a` = log2 of
    /// the size in bytes: 1 half, 2 single, 3 double).
    static func of(sizeLog2: UInt8) -> FPFormat {
        switch sizeLog2 {
        case 1: .half
        case 2: .single
        default: .double
        }
    }

    var width: Int { 1 + exponentBits + fractionBits }
    var isDouble: Bool { fractionBits == 52 }
    var signBit: UInt64 { 1 << UInt64(exponentBits + fractionBits) }
    var exponentMask: UInt64 { ((1 << UInt64(exponentBits)) - 1) << UInt64(fractionBits) }
    var fractionMask: UInt64 { (1 << UInt64(fractionBits)) - 1 }
    var quietBit: UInt64 { 1 << UInt64(fractionBits - 1) }
    /// `FPDefaultNaN`: positive, quiet, zero payload.
    var defaultNaN: UInt64 { exponentMask | quietBit }
    var infinity: UInt64 { exponentMask }

    func isNaN(_ x: UInt64) -> Bool { x & exponentMask == exponentMask && x & fractionMask != 0 }
    func isSignalingNaN(_ x: UInt64) -> Bool { isNaN(x) && x & quietBit == 0 }
    func isQuietNaN(_ x: UInt64) -> Bool { isNaN(x) && x & quietBit != 0 }
    func isInfinity(_ x: UInt64) -> Bool { x & ~signBit == exponentMask }
    func isZero(_ x: UInt64) -> Bool { x & ~signBit == 0 }
    func isDenormal(_ x: UInt64) -> Bool { x & exponentMask == 0 && x & fractionMask != 0 }
    func isNegative(_ x: UInt64) -> Bool { x & signBit != 0 }
}

/// FPCR in, FPSR flags out: the state one FP instruction reads and the exceptions it raises
/// (Arm ARM J1 `FPProcessException` with all traps disabled: only the cumulative flags).
struct FPEnvironment {
    let fpcr: UInt64
    /// FPSR cumulative flags raised so far (IOC, DZC, OFC, UFC, IXC, IDC).
    var flags: UInt64 = 0

    init(fpcr: UInt64) { self.fpcr = fpcr }

    var roundingMode: Int { Int(fpcr >> FloatingPointControl.roundingModeShift & 3) }
    var flushToZero: Bool { fpcr & FloatingPointControl.flushToZero != 0 }
    var defaultNaNMode: Bool { fpcr & FloatingPointControl.defaultNaN != 0 }

    /// `FPUnpack`'s input flush: with FPCR.FZ a denormal single/double operand is ±0 and IDC
    /// is raised (half precision is not flushed without FP16's FZ16).
    mutating func unpack(_ x: UInt64, _ format: FPFormat) -> UInt64 {
        guard flushToZero && format.fractionBits != 10 && format.isDenormal(x) else { return x }
        flags |= FloatingPointControl.inputDenormal
        return x & format.signBit
    }

    /// `FPRound`'s overflow: raises OFC and IXC and says whether the rounding mode takes the
    /// result to infinity (nearest; towards +inf for a positive, towards -inf for a negative
    /// result) rather than to the largest finite number.
    mutating func overflowRoundsToInfinity(negative: Bool) -> Bool {
        flags |= FloatingPointControl.overflow | FloatingPointControl.inexact
        switch roundingMode {
        case 0: return true
        case 1: return !negative
        case 2: return negative
        default: return false
        }
    }

    /// `FPProcessNaN`: a signalling NaN raises IOC and is quietened; FPCR.DN gives the
    /// default NaN instead of the operand's payload.
    mutating func processNaN(_ x: UInt64, _ format: FPFormat) -> UInt64 {
        if format.isSignalingNaN(x) { flags |= FloatingPointControl.invalidOperation }
        return defaultNaNMode ? format.defaultNaN : x | format.quietBit
    }

    /// `FPProcessNaNs`: the first signalling NaN in operand order, else the first quiet NaN;
    /// nil when neither operand is a NaN.
    mutating func processNaNs(_ a: UInt64, _ b: UInt64, _ format: FPFormat) -> UInt64? {
        if format.isSignalingNaN(a) { return processNaN(a, format) }
        if format.isSignalingNaN(b) { return processNaN(b, format) }
        if format.isNaN(a) { return processNaN(a, format) }
        if format.isNaN(b) { return processNaN(b, format) }
        return nil
    }

    /// `FPProcessNaNs3`, likewise for three operands.
    mutating func processNaNs(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ format: FPFormat) -> UInt64? {
        if format.isSignalingNaN(a) { return processNaN(a, format) }
        if format.isSignalingNaN(b) { return processNaN(b, format) }
        if format.isSignalingNaN(c) { return processNaN(c, format) }
        if format.isNaN(a) { return processNaN(a, format) }
        if format.isNaN(b) { return processNaN(b, format) }
        if format.isNaN(c) { return processNaN(c, format) }
        return nil
    }

    /// A host result (non-NaN operands) made Arm's: an invalid operation's NaN is the default
    /// NaN (x86's is negative); the exact result tiny (`CFP_TINY`: before rounding, as Arm
    /// detects it) underflows if inexact, or with FPCR.FZ is flushed to a signed zero raising
    /// UFC and not IXC (Arm ARM J1 `FPRoundBase`).
    mutating func finish(_ result: cfp_result, _ format: FPFormat) -> UInt64 {
        var bits = result.bits
        var raised = UInt64(result.flags & 0x1F)
        let tiny = result.flags & UInt32(CFP_TINY) != 0
        if format.isNaN(bits) { bits = format.defaultNaN }
        raised &= ~FloatingPointControl.underflow
        if tiny {
            if flushToZero {
                bits &= format.signBit
                raised = (raised & ~FloatingPointControl.inexact) | FloatingPointControl.underflow
            } else if raised & FloatingPointControl.inexact != 0 {
                raised |= FloatingPointControl.underflow
            }
        }
        flags |= raised
        return bits
    }

    /// `op` on the host FPU in FPCR's rounding mode (operands already unpacked, not NaNs).
    mutating func host(_ op: Int32, _ a: UInt64, _ b: UInt64, _ c: UInt64 = 0, _ format: FPFormat) -> UInt64 {
        let result =
            format.isDouble
            ? cfp_double(op, a, b, c, Int32(roundingMode))
            : cfp_single(
                op, UInt32(truncatingIfNeeded: a), UInt32(truncatingIfNeeded: b),
                UInt32(truncatingIfNeeded: c), Int32(roundingMode))
        return finish(result, format)
    }
}
