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

    /// `AddWithCarry(a, NOT(b), 1)` — SUBS and CMP — for 32 or 64 bits, with the flags worked
    /// out directly: C is "no borrow" (a ≥ b unsigned), V is set when a and b differ in sign and
    /// the result's sign differs from a's.
    @inline(__always)
    public static func subtract(_ a: UInt64, _ b: UInt64, sf: UInt8, nzcv: inout UInt32) -> UInt64 {
        if sf == 1 {
            // One host SUB gives the result, the borrow (CF) and the signed overflow (OF).
            let (result, borrow) = a.subtractingReportingOverflow(b)
            let overflow = Int64(bitPattern: a).subtractingReportingOverflow(Int64(bitPattern: b)).overflow
            let n = UInt32(truncatingIfNeeded: result >> 63) << 31
            let z: UInt32 = result == 0 ? 1 << 30 : 0
            let c: UInt32 = borrow ? 0 : 1 << 29
            let v: UInt32 = overflow ? 1 << 28 : 0
            nzcv = n | z | c | v
            return result
        }
        let a32 = UInt32(truncatingIfNeeded: a)
        let b32 = UInt32(truncatingIfNeeded: b)
        let result = a32 &- b32
        let z: UInt32 = result == 0 ? 1 : 0
        let c: UInt32 = a32 >= b32 ? 1 : 0
        let v = ((a32 ^ b32) & (a32 ^ result)) >> 31
        nzcv = (result >> 31) << 31 | z << 30 | c << 29 | v << 28
        return UInt64(result)
    }

    /// NZCV after the 64-bit SUBS `a` − `b` (`subtract` with `sf` = 1).
    @inline(__always)
    public static func subtractionFlags(_ a: UInt64, _ b: UInt64) -> UInt32 {
        var nzcv: UInt32 = 0
        _ = subtract(a, b, sf: 1, nzcv: &nzcv)
        return nzcv
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

    /// The 16 NZCV values for which `cond` holds, as a bit mask (bit n set when the condition
    /// holds with NZCV = n): computed once at decode so the loop tests a condition with a shift.
    public static func conditionMask(_ cond: UInt8) -> UInt16 {
        var mask: UInt16 = 0
        for nzcv in UInt32(0)..<16 where conditionHolds(cond, nzcv << 28) { mask |= 1 << UInt16(nzcv) }
        return mask
    }

    /// For a B.cond right after a 64-bit SUBS/CMP of `a` − `b`: the `compareIndex` values for
    /// which `cond` holds, as a bit mask, or nil when `cond` reads N or V alone (MI, PL, VS, VC).
    /// The other conditions depend only on a = b (Z), a < b unsigned (NOT C) and a < b signed
    /// (N ≠ V) (Arm ARM C1.2.4, Table C1-1), so a fused compare and branch tests them without
    /// working out NZCV.
    public static func compareMask(_ cond: UInt8) -> UInt8? {
        guard cond >> 1 != 2 && cond >> 1 != 3 else { return nil }
        var mask: UInt8 = 0
        for index in UInt8(0)..<8 {
            // An NZCV with these three facts: Z = equal, C = not lower, N ≠ V = less (V = 0).
            let equal = index & 4 != 0
            let lower = index & 2 != 0
            let less = index & 1 != 0
            let nzcv: UInt32 = (less ? 1 << 31 : 0) | (equal ? 1 << 30 : 0) | (lower ? 0 : 1 << 29)
            if conditionHolds(cond, nzcv) { mask |= 1 << index }
        }
        return mask
    }

    /// The index into a `compareMask` for the comparison of `a` with `b`: bit 2 a = b, bit 1
    /// a < b unsigned, bit 0 a < b signed.
    @inline(__always)
    public static func compareIndex(_ a: UInt64, _ b: UInt64) -> UInt8 {
        (a == b ? 4 : 0) | (a < b ? 2 : 0) | (Int64(bitPattern: a) < Int64(bitPattern: b) ? 1 : 0)
    }

    /// Whether the condition whose `conditionMask` is `mask` holds for `nzcv` (bits 31:28).
    @inline(__always)
    public static func holds(mask: UInt64, _ nzcv: UInt32) -> Bool { (mask >> UInt64(nzcv >> 28)) & 1 != 0 }

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

extension Arithmetic {
    /// `ExtendReg`: UXTB/UXTH/UXTW/UXTX/SXTB/SXTH/SXTW/SXTX of `value`, shifted left.
    @inline(__always)
    public static func extend(_ value: UInt64, option: UInt8, shift: UInt8) -> UInt64 {
        let extended: UInt64
        switch option & 7 {
        case 0: extended = value & 0xFF
        case 1: extended = value & 0xFFFF
        case 2: extended = value & 0xFFFF_FFFF
        case 3: extended = value
        case 4: extended = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: value)))
        case 5: extended = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: value)))
        case 6: extended = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: value)))
        default: extended = value
        }
        return extended << UInt64(shift)
    }

    @inline(__always)
    static func rotateRight(_ value: UInt64, _ amount: UInt8, sf: UInt8) -> UInt64 {
        let n = UInt64(amount)
        if sf == 1 { return n == 0 ? value : (value >> n) | (value << (64 - n)) }
        let v = value & 0xFFFF_FFFF
        return n == 0 ? v : ((v >> n) | (v << (32 - n))) & 0xFFFF_FFFF
    }

    /// SBFM/BFM/UBFM (Arm ARM C6.2 "SBFM", "BFM", "UBFM") with precomputed masks.
    @inline(never)
    public static func bitfieldMove(
        _ op: Opcode, source: UInt64, destination: UInt64, immr: UInt8, imms: UInt8, wmask: UInt64, tmask: UInt64,
        sf: UInt8
    ) -> UInt64 {
        let rotated = rotateRight(source, immr, sf: sf)
        switch op {
        case .ubfm:
            return rotated & wmask & tmask
        case .bfm:
            let bottom = (destination & ~wmask) | (rotated & wmask)
            return ((destination & ~tmask) | (bottom & tmask)) & widthMask(sf)
        default:  // SBFM: the top is the replicated sign bit imms of the source.
            let bottom = rotated & wmask
            let top: UInt64 = (source >> UInt64(imms)) & 1 == 1 ? ~0 : 0
            return ((top & ~tmask) | (bottom & tmask)) & widthMask(sf)
        }
    }

    /// EXTR: bits [lsb + width - 1 : lsb] of the concatenation Rn:Rm.
    @inline(__always)
    public static func extract(_ n: UInt64, _ m: UInt64, lsb: UInt8, sf: UInt8) -> UInt64 {
        let shift = UInt64(lsb)
        if sf == 1 { return shift == 0 ? m : (m >> shift) | (n << (64 - shift)) }
        let low = m & 0xFFFF_FFFF
        let high = n & 0xFFFF_FFFF
        return shift == 0 ? low : ((low >> shift) | (high << (32 - shift))) & 0xFFFF_FFFF
    }

    /// MADD, MSUB, SMADDL, SMSUBL, UMADDL, UMSUBL, SMULH, UMULH.
    @inline(never)
    public static func multiply(_ op: Opcode, _ n: UInt64, _ m: UInt64, accumulator a: UInt64, sf: UInt8) -> UInt64 {
        switch op {
        case .madd: return (a &+ n &* m) & widthMask(sf)
        case .msub: return (a &- n &* m) & widthMask(sf)
        case .smaddl, .smsubl:
            let product = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: n)) &* Int64(Int32(truncatingIfNeeded: m)))
            return op == .smaddl ? a &+ product : a &- product
        case .umaddl, .umsubl:
            let product = (n & 0xFFFF_FFFF) &* (m & 0xFFFF_FFFF)
            return op == .umaddl ? a &+ product : a &- product
        case .smulh:
            return UInt64(bitPattern: Int64(bitPattern: n).multipliedFullWidth(by: Int64(bitPattern: m)).high)
        default:
            return n.multipliedFullWidth(by: m).high
        }
    }

    /// UDIV/SDIV: division by zero gives 0; INT_MIN / -1 gives INT_MIN (Arm ARM C6.2 SDIV).
    @inline(never)
    public static func divide(_ n: UInt64, _ m: UInt64, signed: Bool, sf: UInt8) -> UInt64 {
        if sf == 1 {
            if m == 0 { return 0 }
            if signed {
                return UInt64(
                    bitPattern: Int64(bitPattern: n).dividedReportingOverflow(by: Int64(bitPattern: m)).partialValue)
            }
            return n / m
        }
        let n32 = UInt32(truncatingIfNeeded: n)
        let m32 = UInt32(truncatingIfNeeded: m)
        if m32 == 0 { return 0 }
        if signed {
            let q = Int32(bitPattern: n32).dividedReportingOverflow(by: Int32(bitPattern: m32)).partialValue
            return UInt64(UInt32(bitPattern: q))
        }
        return UInt64(n32 / m32)
    }

    /// RBIT, REV16, REV, REV32, CLZ, CLS.
    @inline(never)
    public static func oneSource(_ op: Opcode, _ value: UInt64, sf: UInt8) -> UInt64 {
        if sf == 1 {
            switch op {
            case .rbit: return reverseBits(value)
            case .rev16:
                return ((value & 0x00FF_00FF_00FF_00FF) << 8) | ((value >> 8) & 0x00FF_00FF_00FF_00FF)
            case .rev32:
                let swapped = value.byteSwapped
                return (swapped >> 32) | (swapped << 32)
            case .rev: return value.byteSwapped
            case .clz: return UInt64(value.leadingZeroBitCount)
            default:
                let t = (value >> 1) ^ (value & 0x7FFF_FFFF_FFFF_FFFF)
                return UInt64(t.leadingZeroBitCount - 1)
            }
        }
        let v = UInt32(truncatingIfNeeded: value)
        switch op {
        case .rbit: return UInt64(UInt32(truncatingIfNeeded: reverseBits(UInt64(v)) >> 32))
        case .rev16: return UInt64(((v & 0x00FF_00FF) << 8) | ((v >> 8) & 0x00FF_00FF))
        case .rev: return UInt64(v.byteSwapped)
        case .clz: return UInt64(v.leadingZeroBitCount)
        default:
            let t = (v >> 1) ^ (v & 0x7FFF_FFFF)
            return UInt64(t.leadingZeroBitCount - 1)
        }
    }

    static func reverseBits(_ value: UInt64) -> UInt64 {
        var v = value
        v = ((v >> 1) & 0x5555_5555_5555_5555) | ((v & 0x5555_5555_5555_5555) << 1)
        v = ((v >> 2) & 0x3333_3333_3333_3333) | ((v & 0x3333_3333_3333_3333) << 2)
        v = ((v >> 4) & 0x0F0F_0F0F_0F0F_0F0F) | ((v & 0x0F0F_0F0F_0F0F_0F0F) << 4)
        return v.byteSwapped
    }

    /// CRC32{B,H,W,X} and CRC32C{B,H,W,X} (Arm ARM C6.2 CRC32): the bit-reflected CRC of the low
    /// `bytes` bytes of `data` (little-endian order) updating `accumulator`, without inversion.
    @inline(never)
    public static func crc32(_ accumulator: UInt32, _ data: UInt64, bytes: Int, castagnoli: Bool) -> UInt32 {
        let polynomial: UInt32 = castagnoli ? 0x82F6_3B78 : 0xEDB8_8320
        var crc = accumulator
        for i in 0..<bytes {
            crc ^= UInt32(truncatingIfNeeded: data >> UInt64(8 * i)) & 0xFF
            for _ in 0..<8 {
                crc = (crc >> 1) ^ (polynomial & (0 &- (crc & 1)))
            }
        }
        return crc
    }
}
