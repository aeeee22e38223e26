/// A 128-bit SIMD&FP register value as two little-endian halves, with element access for the
/// Advanced SIMD arrangements (Arm ARM A1.4 "Supported data types": 8-, 16-, 32- and 64-bit
/// elements, element 0 in the least significant bits). A plain value: no ARC.
struct Vector128 {
    var low: UInt64
    var high: UInt64

    static let zero = Vector128(low: 0, high: 0)

    /// All-ones in the low `bits` bits (1...64).
    @inline(__always)
    static func mask(bits: Int) -> UInt64 { bits >= 64 ? ~0 : (1 << UInt64(bits)) &- 1 }

    /// Element `index` of `1 << sizeLog2` bytes, zero-extended.
    @inline(__always)
    func element(_ index: Int, _ sizeLog2: Int) -> UInt64 {
        let bits = 8 << sizeLog2
        let position = index * bits
        let word = position < 64 ? low : high
        return bits == 64 ? word : (word >> UInt64(position & 63)) & Self.mask(bits: bits)
    }

    /// Element `index` sign-extended to 64 bits.
    @inline(__always)
    func signedElement(_ index: Int, _ sizeLog2: Int) -> Int64 {
        let shift = UInt64(64 - (8 << sizeLog2))
        return Int64(bitPattern: element(index, sizeLog2) << shift) >> Int64(shift)
    }

    /// Replaces element `index` with the low bits of `value`.
    @inline(__always)
    mutating func setElement(_ index: Int, _ sizeLog2: Int, _ value: UInt64) {
        let bits = 8 << sizeLog2
        let position = index * bits
        let shift = UInt64(position & 63)
        let mask = Self.mask(bits: bits) << shift
        let bitsIn = (value << shift) & mask
        if position < 64 {
            low = (low & ~mask) | bitsIn
        } else {
            high = (high & ~mask) | bitsIn
        }
    }

    /// Byte `index` (0–15).
    @inline(__always)
    func byte(_ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: element(index, 0)) }

    /// `value` (of `1 << sizeLog2` bytes) in every element of the low `bytes` bytes.
    static func replicated(_ value: UInt64, _ sizeLog2: Int, bytes: Int) -> Vector128 {
        var pattern = value & mask(bits: 8 << sizeLog2)
        var width = 8 << sizeLog2
        while width < 64 {
            pattern |= pattern << UInt64(width)
            width *= 2
        }
        return Vector128(low: pattern, high: bytes == 16 ? pattern : 0)
    }

    /// This value with bits 127:64 cleared when only 64 bits (Q = 0) were written.
    @inline(__always)
    func sized(_ q: UInt8) -> Vector128 { q == 1 ? self : Vector128(low: low, high: 0) }
}

extension CPU {
    /// The elements of `1 << sizeLog2` bytes an AdvSIMD instruction processes: 16 or 8 bytes'
    /// worth for Q = 1 or 0 (`d.sf`), one for the scalar forms (`d.sf` = 2).
    @inline(__always)
    static func laneCount(_ d: DecodedInstruction, _ sizeLog2: Int) -> Int {
        d.sf == 2 ? 1 : (d.sf == 1 ? 16 : 8) >> sizeLog2
    }

    @inline(__always)
    func vector(_ n: UInt8) -> Vector128 {
        Vector128(low: vectors[2 * Int(n & 31)], high: vectors[2 * Int(n & 31) + 1])
    }

    @inline(__always)
    func setVector(_ n: UInt8, _ value: Vector128) {
        vectors[2 * Int(n & 31)] = value.low
        vectors[2 * Int(n & 31) + 1] = value.high
    }
}
