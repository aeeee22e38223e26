/// Decodes A64 instruction words into `DecodedInstruction`s, driven by `EncodingTable`.
///
/// Rows are bucketed by bits [28:25] (the top-level "op0" of the A64 encoding index, Arm ARM C4.1)
/// and tried most-specific first. Decoding happens once per instruction when a block is built,
/// never in the execution loop.
public struct Decoder: Sendable {
    private let buckets: [[Encoding]]

    public static let shared = Decoder(table: EncodingTable.all)

    public init(table: [Encoding]) {
        var buckets = Array(repeating: [Encoding](), count: 16)
        for encoding in table {
            // A row belongs to every bucket its bits [28:25] can take.
            for group in 0..<16 {
                let bits = UInt32(group) << 25
                let groupMask: UInt32 = 0xF << 25
                if (bits ^ encoding.value) & encoding.mask & groupMask == 0 {
                    buckets[group].append(encoding)
                }
            }
        }
        self.buckets = buckets.map { rows in
            rows.sorted { $0.mask.nonzeroBitCount > $1.mask.nonzeroBitCount }
        }
    }

    /// The table row that matches `word`, if any.
    public func encoding(for word: UInt32) -> Encoding? {
        buckets[Int((word >> 25) & 0xF)].first { $0.matches(word) }
    }

    /// Decodes one word; unallocated or unimplemented encodings become `.undefined`.
    public func decode(_ word: UInt32) -> DecodedInstruction {
        guard let row = encoding(for: word) else { return DecodedInstruction(op: .undefined, raw: word) }
        return Self.operands(of: row.op, word) ?? DecodedInstruction(op: .undefined, raw: word)
    }

    @inline(__always) private static func bits(_ w: UInt32, _ hi: Int, _ lo: Int) -> UInt32 {
        (w >> UInt32(lo)) & ((1 << UInt32(hi - lo + 1)) - 1)
    }

    @inline(__always) private static func signExtend(_ value: UInt32, bits: Int) -> UInt64 {
        let shift = 64 - bits
        return UInt64(bitPattern: Int64(bitPattern: UInt64(value) << UInt64(shift)) >> Int64(shift))
    }

    /// Register slot for a field where 31 means the stack pointer.
    @inline(__always) private static func spOr(_ r: UInt32) -> UInt8 { r == 31 ? 32 : UInt8(r) }

    /// Extracts operands; nil for encodings the table matches but the architecture leaves
    /// unallocated (reserved shift types, 32-bit forms with 64-bit-only fields, ...).
    static func operands(of op: Opcode, _ w: UInt32) -> DecodedInstruction? {
        var d = DecodedInstruction(op: op, raw: w)
        let sf = bits(w, 31, 31)
        let rd = bits(w, 4, 0)
        let rn = bits(w, 9, 5)
        let rm = bits(w, 20, 16)
        d.sf = UInt8(sf)
        switch op {
        case .undefined:
            return nil

        case .addImmediate, .subImmediate, .addsImmediate, .subsImmediate:
            d.rn = spOr(rn)
            d.rd = (op == .addImmediate || op == .subImmediate) ? spOr(rd) : UInt8(rd)
            let imm12 = UInt64(bits(w, 21, 10))
            d.imm = bits(w, 22, 22) == 1 ? imm12 << 12 : imm12

        case .andImmediate, .orrImmediate, .eorImmediate, .andsImmediate:
            let n = bits(w, 22, 22)
            if sf == 0 && n == 1 { return nil }
            guard let mask = decodeBitMasks(n: n, imms: bits(w, 15, 10), immr: bits(w, 21, 16), width: sf == 1 ? 64 : 32)
            else { return nil }
            d.imm = mask
            d.rn = UInt8(rn)
            d.rd = op == .andsImmediate ? UInt8(rd) : spOr(rd)

        case .movz, .movn, .movk:
            let hw = bits(w, 22, 21)
            if sf == 0 && hw >= 2 { return nil }
            d.rd = UInt8(rd)
            d.b = UInt8(hw * 16)
            d.imm = UInt64(bits(w, 20, 5))

        case .adr, .adrp:
            d.rd = UInt8(rd)
            let imm = bits(w, 23, 5) << 2 | bits(w, 30, 29)
            d.imm = op == .adr ? signExtend(imm, bits: 21) : signExtend(imm, bits: 21) << 12

        case .addShifted, .addsShifted, .subShifted, .subsShifted:
            let shift = bits(w, 23, 22)
            let amount = bits(w, 15, 10)
            if shift == 3 || (sf == 0 && amount >= 32) { return nil }
            d.rd = UInt8(rd)
            d.rn = UInt8(rn)
            d.rm = UInt8(rm)
            d.a = UInt8(shift)
            d.b = UInt8(amount)

        case .andShifted, .bicShifted, .orrShifted, .ornShifted, .eorShifted, .eonShifted, .andsShifted,
            .bicsShifted:
            let amount = bits(w, 15, 10)
            if sf == 0 && amount >= 32 { return nil }
            d.rd = UInt8(rd)
            d.rn = UInt8(rn)
            d.rm = UInt8(rm)
            d.a = UInt8(bits(w, 23, 22))
            d.b = UInt8(amount)

        case .b, .bl:
            d.imm = signExtend(bits(w, 25, 0), bits: 26) << 2
        case .bCond:
            d.a = UInt8(bits(w, 3, 0))
            d.imm = signExtend(bits(w, 23, 5), bits: 19) << 2
        case .cbz, .cbnz:
            d.rd = UInt8(rd)
            d.imm = signExtend(bits(w, 23, 5), bits: 19) << 2
        case .tbz, .tbnz:
            d.rd = UInt8(rd)
            d.b = UInt8(bits(w, 31, 31) << 5 | bits(w, 23, 19))
            d.imm = signExtend(bits(w, 18, 5), bits: 14) << 2
        case .br, .blr, .ret:
            d.rn = UInt8(rn)
        case .eret:
            break

        case .svc, .hvc, .smc, .brk, .hlt:
            d.imm = UInt64(bits(w, 20, 5))

        case .hint, .wfi, .wfe, .barrier, .isb, .clrex:
            d.a = UInt8(bits(w, 11, 5))

        case .msrImmediate:
            d.a = UInt8(bits(w, 18, 16))  // op1
            d.b = UInt8(bits(w, 7, 5))  // op2
            d.imm = UInt64(bits(w, 11, 8))  // CRm
        case .mrs, .msrRegister:
            d.rd = UInt8(rd)
            d.imm = UInt64(bits(w, 20, 5))

        case .storeUnsignedOffset, .loadUnsignedOffset:
            let size = bits(w, 31, 30)
            d.a = UInt8(size)
            d.rd = UInt8(rd)
            d.rn = spOr(rn)
            d.imm = UInt64(bits(w, 21, 10)) << UInt64(size)
            d.sf = size == 3 ? 1 : 0
        case .loadSignedUnsignedOffset:
            let size = bits(w, 31, 30)
            d.a = UInt8(size)
            d.rd = UInt8(rd)
            d.rn = spOr(rn)
            d.imm = UInt64(bits(w, 21, 10)) << UInt64(size)
            // opc<0> = 1 means the 32-bit destination form (LDRSB/LDRSH Wt).
            d.sf = size == 2 ? 1 : UInt8(1 - bits(w, 22, 22))
        case .prefetch:
            break
        }
        return d
    }

    /// `DecodeBitMasks` for logical immediates (Arm ARM J1, shared pseudocode
    /// `aarch64/instrs/integer/bitmasks`); nil for reserved encodings.
    public static func decodeBitMasks(n: UInt32, imms: UInt32, immr: UInt32, width: Int) -> UInt64? {
        let combined = (n << 6) | (~imms & 0x3F)
        guard combined != 0 else { return nil }
        let len = 31 - combined.leadingZeroBitCount
        guard len >= 1 else { return nil }
        let levels = UInt32((1 << len) - 1)
        guard imms & levels != levels else { return nil }
        let s = Int(imms & levels)
        let r = Int(immr & levels)
        let esize = 1 << len
        guard esize <= width else { return nil }
        let elementMask: UInt64 = esize == 64 ? ~0 : (1 << UInt64(esize)) - 1
        let ones: UInt64 = s + 1 == 64 ? ~0 : (1 << UInt64(s + 1)) - 1
        let rotated = r == 0 ? ones : ((ones >> UInt64(r)) | (ones << UInt64(esize - r))) & elementMask
        var pattern: UInt64 = 0
        var position = 0
        while position < width {
            pattern |= rotated << UInt64(position)
            position += esize
        }
        return width == 64 ? pattern : pattern & 0xFFFF_FFFF
    }
}
