/// Shared pseudocode of the Arm ARM (J1 "Shared pseudocode"), as the interpreter needs it.
/// Everything is `@inline(__always)`: these run in the hot loop.
public enum Arithmetic {
    @inline(__always)
    public static func widthMask(_ sf: UInt8) -> UInt64 { sf == 1 ? ~0 : 0xFFFF_FFFF }

    /// `AddWithCarry` for 32 or 64 bits: returns the zero-extended result and writes NZCV.
    @inline(__always)
    public static func addWithCarry(_ a: UInt64, _ b: UInt64, _ carry: UInt64, sf: UInt8, nzcv: inout UInt32)
        -> UInt64
    {
        if sf == 1 {
            let (partial, c1) = a.addingReportingOverflow(b)
            let (result, c2) = partial.addingReportingOverflow(carry)
            let n = UInt32(result >> 63)
            let z: UInt32 = result == 0 ? 1 : 0
            let c: UInt32 = (c1 || c2) ? 1 : 0
            let v = UInt32(((a ^ result) & (b ^ result)) >> 63)
            nzcv = n << 31 | z << 30 | c << 29 | v << 28
            return result
        }
        let a32 = UInt32(truncatingIfNeeded: a)
        let b32 = UInt32(truncatingIfNeeded: b)
        let (partial, c1) = a32.addingReportingOverflow(b32)
        let (result, c2) = partial.addingReportingOverflow(UInt32(carry))
        let n = result >> 31
        let z: UInt32 = result == 0 ? 1 : 0
        let c: UInt32 = (c1 || c2) ? 1 : 0
        let v = ((a32 ^ result) & (b32 ^ result)) >> 31
        nzcv = n << 31 | z << 30 | c << 29 | v << 28
        return UInt64(result)
    }

    /// NZCV after a logical operation: N and Z from the result, C = V = 0.
    @inline(__always)
    public static func logicalFlags(_ result: UInt64, sf: UInt8) -> UInt32 {
        let n = sf == 1 ? UInt32(result >> 63) : UInt32((result >> 31) & 1)
        return n << 31 | (result == 0 ? 1 << 30 : 0)
    }

    /// `ShiftReg`: LSL, LSR, ASR, ROR by an amount below the operand width.
    @inline(__always)
    public static func shift(_ value: UInt64, type: UInt8, amount: UInt8, sf: UInt8) -> UInt64 {
        let n = UInt64(amount)
        if sf == 1 {
            switch type {
            case 0: return value << n
            case 1: return value >> n
            case 2: return UInt64(bitPattern: Int64(bitPattern: value) >> Int64(n))
            default: return n == 0 ? value : (value >> n) | (value << (64 - n))
            }
        }
        let v = UInt32(truncatingIfNeeded: value)
        let m = UInt32(amount)
        switch type {
        case 0: return UInt64(v << m)
        case 1: return UInt64(v >> m)
        case 2: return UInt64(UInt32(bitPattern: Int32(bitPattern: v) >> Int32(m)))
        default: return UInt64(m == 0 ? v : (v >> m) | (v << (32 - m)))
        }
    }

    /// `ConditionHolds` (Arm ARM J1 shared/functions/system/ConditionHolds).
    @inline(__always)
    public static func conditionHolds(_ cond: UInt8, _ nzcv: UInt32) -> Bool {
        let n = nzcv & (1 << 31) != 0
        let z = nzcv & (1 << 30) != 0
        let c = nzcv & (1 << 29) != 0
        let v = nzcv & (1 << 28) != 0
        let result: Bool
        switch cond >> 1 {
        case 0: result = z
        case 1: result = c
        case 2: result = n
        case 3: result = v
        case 4: result = c && !z
        case 5: result = n == v
        case 6: result = !z && n == v
        default: result = true
        }
        return (cond & 1 == 1 && cond != 0xF) ? !result : result
    }

    /// Little-endian load of 1, 2, 4 or 8 bytes, zero- or sign-extended to 32 (`sf` = 0) or 64 bits.
    @inline(__always)
    public static func load(_ p: UnsafeMutableRawPointer, sizeLog2: UInt8, signed: Bool, sf: UInt8) -> UInt64 {
        let value: UInt64
        switch sizeLog2 {
        case 0: value = signed ? UInt64(bitPattern: Int64(p.load(as: Int8.self))) : UInt64(p.load(as: UInt8.self))
        case 1:
            let raw = UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))
            value = signed ? UInt64(bitPattern: Int64(Int16(bitPattern: raw))) : UInt64(raw)
        case 2:
            let raw = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))
            value = signed ? UInt64(bitPattern: Int64(Int32(bitPattern: raw))) : UInt64(raw)
        default: value = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
        }
        return sf == 1 ? value : value & 0xFFFF_FFFF
    }

    /// Little-endian store of the low 1, 2, 4 or 8 bytes of `value`.
    @inline(__always)
    public static func store(_ p: UnsafeMutableRawPointer, _ value: UInt64, sizeLog2: UInt8) {
        switch sizeLog2 {
        case 0: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        case 1: p.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, as: UInt16.self)
        case 2: p.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, as: UInt32.self)
        default: p.storeBytes(of: value.littleEndian, as: UInt64.self)
        }
    }
}
