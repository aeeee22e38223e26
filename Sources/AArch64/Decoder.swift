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

    @inline(__always) static func bits(_ w: UInt32, _ hi: Int, _ lo: Int) -> UInt32 {
        (w >> UInt32(lo)) & ((1 << UInt32(hi - lo + 1)) - 1)
    }

    @inline(__always) private static func signExtend(_ value: UInt32, bits: Int) -> UInt64 {
        let shift = 64 - bits
        return UInt64(bitPattern: Int64(bitPattern: UInt64(value) << UInt64(shift)) >> Int64(shift))
    }

    /// Register slot for a field where 31 means the stack pointer.
    @inline(__always) private static func spOr(_ r: UInt32) -> UInt8 { r == 31 ? 32 : UInt8(r) }

    /// Register slot for a destination-only field where 31 means the zero register: writes go to
    /// the discard slot, so slot 31 stays zero without a test in the hot loop.
    @inline(__always) static func dest(_ r: UInt32) -> UInt8 { r == 31 ? UInt8(CPU.discard) : UInt8(r) }

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
        case .undefined, .blockEnd, .load32, .load64, .store32, .store64, .loadPair64, .storePair64, .load64Register,
            .addImmediate64, .addImmediate32, .subsImmediate64, .moveConstant, .addRegister64, .subRegister64,
            .subsRegister64, .andRegister64, .orrRegister64, .eorRegister64, .addUnshifted64, .subUnshifted64,
            .andUnshifted64, .orrUnshifted64, .eorUnshifted64, .moveRegister64, .subsThenBranch,
            .subsThenLoop, .subsThenLoopWhileNonZero, .bCondLoop:
            return nil

        case .addImmediate, .subImmediate, .addsImmediate, .subsImmediate:
            d.rn = spOr(rn)
            d.rd = (op == .addImmediate || op == .subImmediate) ? spOr(rd) : dest(rd)
            let imm12 = UInt64(bits(w, 21, 10))
            d.imm = bits(w, 22, 22) == 1 ? imm12 << 12 : imm12

        case .andImmediate, .orrImmediate, .eorImmediate, .andsImmediate:
            let n = bits(w, 22, 22)
            if sf == 0 && n == 1 { return nil }
            guard
                let mask = decodeBitMasks(n: n, imms: bits(w, 15, 10), immr: bits(w, 21, 16), width: sf == 1 ? 64 : 32)
            else { return nil }
            d.imm = mask
            d.rn = UInt8(rn)
            d.rd = op == .andsImmediate ? dest(rd) : spOr(rd)

        case .movz, .movn, .movk:
            let hw = bits(w, 22, 21)
            if sf == 0 && hw >= 2 { return nil }
            d.rd = dest(rd)
            d.b = UInt8(hw * 16)
            d.imm = UInt64(bits(w, 20, 5))

        case .adr, .adrp:
            d.rd = dest(rd)
            let imm = bits(w, 23, 5) << 2 | bits(w, 30, 29)
            d.imm = op == .adr ? signExtend(imm, bits: 21) : signExtend(imm, bits: 21) << 12

        case .addShifted, .addsShifted, .subShifted, .subsShifted:
            let shift = bits(w, 23, 22)
            let amount = bits(w, 15, 10)
            if shift == 3 || (sf == 0 && amount >= 32) { return nil }
            d.rd = dest(rd)
            d.rn = UInt8(rn)
            d.rm = UInt8(rm)
            d.a = UInt8(shift)
            d.b = UInt8(amount)

        case .andShifted, .bicShifted, .orrShifted, .ornShifted, .eorShifted, .eonShifted, .andsShifted,
            .bicsShifted:
            let amount = bits(w, 15, 10)
            if sf == 0 && amount >= 32 { return nil }
            d.rd = dest(rd)
            d.rn = UInt8(rn)
            d.rm = UInt8(rm)
            d.a = UInt8(bits(w, 23, 22))
            d.b = UInt8(amount)
            // BIC, ORN, EON and BICS invert the second operand: the interpreter XORs it with this.
            if op == .bicShifted || op == .ornShifted || op == .eonShifted || op == .bicsShifted { d.imm = ~0 }

        case .sbfm, .bfm, .ubfm:
            let n = bits(w, 22, 22)
            let immr = bits(w, 21, 16)
            let imms = bits(w, 15, 10)
            if n != sf || (sf == 0 && (immr >= 32 || imms >= 32)) { return nil }
            guard let (wmask, tmask) = bitfieldMasks(n: n, imms: imms, immr: immr, width: sf == 1 ? 64 : 32)
            else { return nil }
            d.rd = dest(rd)
            d.rn = UInt8(rn)
            d.a = UInt8(immr)
            d.b = UInt8(imms)
            d.imm = wmask
            d.imm2 = tmask
        case .extr:
            let lsb = bits(w, 15, 10)
            if bits(w, 22, 22) != sf || (sf == 0 && lsb >= 32) { return nil }
            d.rd = dest(rd)
            d.rn = UInt8(rn)
            d.rm = UInt8(rm)
            d.b = UInt8(lsb)

        case .addExtended, .addsExtended, .subExtended, .subsExtended:
            let amount = bits(w, 12, 10)
            if amount > 4 { return nil }
            d.rd = (op == .addExtended || op == .subExtended) ? spOr(rd) : dest(rd)
            d.rn = spOr(rn)
            d.rm = UInt8(rm)
            d.a = UInt8(bits(w, 15, 13))
            d.b = UInt8(amount)
            // Subtraction is addition of the inverted operand with a carry in of 1.
            if op == .subExtended || op == .subsExtended { d.imm = ~0 }
        case .adc, .adcs, .sbc, .sbcs, .madd, .msub, .smaddl, .smsubl, .smulh, .umaddl, .umsubl, .umulh, .udiv, .sdiv,
            .lslv, .lsrv, .asrv, .rorv, .csel, .csinc, .csinv, .csneg:
            d.rd = dest(rd)
            d.rn = UInt8(rn)
            d.rm = UInt8(rm)
            d.a = UInt8(bits(w, 15, 12))  // cond
            let isSelect = op == .csel || op == .csinc || op == .csinv || op == .csneg
            // Ra for the multiply-accumulates; the condition mask for the selects.
            d.imm2 = isSelect ? UInt64(Arithmetic.conditionMask(d.a)) : UInt64(bits(w, 14, 10))
            // The selects' second result is (Rm XOR imm) + b: CSINV and CSNEG invert, CSINC and
            // CSNEG add one.
            if op == .csinv || op == .csneg { d.imm = ~0 }
            if op == .csinc || op == .csneg { d.b = 1 }
        case .ccmnRegister, .ccmpRegister, .ccmnImmediate, .ccmpImmediate:
            d.rn = UInt8(rn)
            d.rm = UInt8(rm)
            d.imm = UInt64(rm)  // imm5 in the immediate forms
            d.a = UInt8(bits(w, 15, 12))
            d.b = UInt8(bits(w, 3, 0))
            d.imm2 = UInt64(Arithmetic.conditionMask(d.a))
        case .crc32:
            let size = bits(w, 11, 10)
            if (size == 3) != (sf == 1) { return nil }
            d.rd = dest(rd)
            d.rn = UInt8(rn)
            d.rm = UInt8(rm)
            d.a = UInt8(size)
            if bits(w, 12, 12) == 1 { d.flags = InstructionFlags.castagnoli }
        case .rbit, .rev16, .rev, .rev32, .clz, .cls:
            d.rd = dest(rd)
            d.rn = UInt8(rn)

        case .b, .bl:
            d.imm = signExtend(bits(w, 25, 0), bits: 26) << 2
        case .bCond:
            d.a = UInt8(bits(w, 3, 0))
            d.imm2 = UInt64(Arithmetic.conditionMask(d.a))
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

        case .hint, .wfi, .wfe, .sev, .sevl, .barrier, .isb, .clrex:
            d.a = UInt8(bits(w, 11, 5))

        case .msrImmediate:
            d.a = UInt8(bits(w, 18, 16))  // op1
            d.b = UInt8(bits(w, 7, 5))  // op2
            d.imm = UInt64(bits(w, 11, 8))  // CRm
        case .mrs, .msrRegister:
            d.rd = op == .mrs ? dest(rd) : UInt8(rd)
            d.imm = UInt64(bits(w, 20, 5))
        case .sys, .sysl:
            d.rd = UInt8(rd)
            let encoding = SystemRegisterEncoding(
                1, Int(bits(w, 18, 16)), Int(bits(w, 15, 12)), Int(bits(w, 11, 8)), Int(bits(w, 7, 5)))
            d.imm = UInt64(encoding.key)

        case .loadLiteral, .loadSignedLiteral:
            d.op = op == .loadLiteral ? .load : .loadSigned
            d.a = op == .loadSignedLiteral ? 2 : UInt8(2 + bits(w, 30, 30))
            d.sf = op == .loadSignedLiteral ? 1 : UInt8(bits(w, 30, 30))
            d.b = AddressingMode.literal.rawValue
            d.rd = dest(rd)
            d.imm = signExtend(bits(w, 23, 5), bits: 19) << 2
        case .prefetch:
            break

        case .loadStoreUnsigned, .loadStoreImmediate9, .loadStoreRegister:
            return singleRegister(op, w)
        case .load, .loadSigned, .store, .loadPairSigned:
            return nil  // Produced by the decoder from other rows, never matched directly.

        case .loadPair, .storePair:
            let opc = bits(w, 31, 30)
            let mode = bits(w, 25, 23)
            let isLoad = op == .loadPair
            if opc == 3 || (opc == 1 && (!isLoad || mode == 0)) { return nil }
            d.op = opc == 1 ? .loadPairSigned : op
            d.a = opc == 2 ? 3 : 2
            d.sf = opc == 0 ? 0 : 1
            d.rd = isLoad ? dest(rd) : UInt8(rd)
            d.rm = isLoad ? dest(bits(w, 14, 10)) : UInt8(bits(w, 14, 10))  // Rt2
            d.rn = spOr(rn)
            d.b = AddressingMode.immediate.rawValue
            d.imm = signExtend(bits(w, 21, 15), bits: 7) << UInt64(d.a)
            switch mode {
            case 1: d.flags = InstructionFlags.writeback | InstructionFlags.postIndex
            case 3: d.flags = InstructionFlags.writeback
            default: break
            }

        case .vectorLoadStore:
            return vectorRegisterAccess(w)
        case .vectorStructure:
            return structureAccess(w)
        case .simdCopy, .simdModifiedImmediate, .simdThreeSame, .simdTwoRegisterMisc, .simdAcrossLanes, .simdPermute,
            .simdExtract, .simdTableLookup, .simdShiftImmediate, .floatMove, .simdThreeDifferent:
            return advancedSIMD(op, w)
        case .floatArithmetic, .floatMultiplyAdd, .floatUnary, .floatCompare, .floatConditionalCompare,
            .floatConditionalSelect, .floatIntegerConvert, .floatEstimate:
            return floatingPoint(op, w)
        case .simdFloatThreeSame, .simdFloatTwoRegisterMisc, .simdScalarPairwise:
            return vectorFloatingPoint(op, w)
        case .simdByElement:
            return byElement(w)

        case .loadExclusive, .storeExclusive, .loadExclusivePair, .storeExclusivePair, .loadAcquire, .storeRelease:
            let pair = op == .loadExclusivePair || op == .storeExclusivePair
            d.a = pair ? UInt8(2 + bits(w, 30, 30)) : UInt8(bits(w, 31, 30))
            d.sf = pair ? UInt8(bits(w, 30, 30)) : (bits(w, 31, 30) == 3 ? 1 : 0)
            let isLoad = op == .loadExclusive || op == .loadExclusivePair || op == .loadAcquire
            d.rd = isLoad ? dest(rd) : UInt8(rd)
            d.rn = spOr(rn)
            d.rm = dest(bits(w, 20, 16))  // Rs: the status register of a store-exclusive
            d.imm2 = UInt64(isLoad ? dest(bits(w, 14, 10)) : UInt8(bits(w, 14, 10)))  // Rt2
            if bits(w, 15, 15) == 1 || op == .loadAcquire || op == .storeRelease { d.flags = InstructionFlags.ordered }
        }
        return d
    }

    /// LDR/STR/LDRS*/PRFM with one register and an immediate or register offset (Arm ARM
    /// C4.1.88 "Load/store register ..."): size[31:30] and opc[23:22] give the direction, the
    /// access size and the sign extension.
    static func singleRegister(_ format: Opcode, _ w: UInt32) -> DecodedInstruction? {
        let size = bits(w, 31, 30)
        let opc = bits(w, 23, 22)
        var d = DecodedInstruction(op: .store, raw: w)
        d.a = UInt8(size)
        d.rd = opc == 0 ? UInt8(bits(w, 4, 0)) : dest(bits(w, 4, 0))
        d.rn = spOr(bits(w, 9, 5))
        var isPrefetch = false
        switch opc {
        case 0:
            d.op = .store
            d.sf = size == 3 ? 1 : 0
        case 1:
            d.op = .load
            d.sf = size == 3 ? 1 : 0
        case 2:
            if size == 3 {
                isPrefetch = true
            } else {
                d.op = .loadSigned
                d.sf = 1
            }
        default:
            if size >= 2 { return nil }
            d.op = .loadSigned
            d.sf = 0
        }
        switch format {
        case .loadStoreUnsigned:
            d.b = AddressingMode.immediate.rawValue
            d.imm = UInt64(bits(w, 21, 10)) << UInt64(size)
        case .loadStoreImmediate9:
            d.b = AddressingMode.immediate.rawValue
            d.imm = signExtend(bits(w, 20, 12), bits: 9)
            switch bits(w, 11, 10) {
            case 0: break
            case 1:
                if isPrefetch { return nil }
                d.flags = InstructionFlags.writeback | InstructionFlags.postIndex
            case 2:
                if isPrefetch { return nil }
                d.flags = InstructionFlags.unprivileged
            default:
                if isPrefetch { return nil }
                d.flags = InstructionFlags.writeback
            }
        default:  // .loadStoreRegister
            let option = bits(w, 15, 13)
            if option & 2 == 0 { return nil }
            d.b = AddressingMode.register.rawValue
            d.rm = UInt8(bits(w, 20, 16))
            d.imm = UInt64(option)
            d.imm2 = bits(w, 12, 12) == 1 ? UInt64(size) : 0
        }
        if isPrefetch { return DecodedInstruction(op: .prefetch, raw: w) }
        return d
    }

    /// LDR/STR/LDUR/STUR/LDP/STP/LDNP/STNP of B/H/S/D/Q registers and LDR (literal) of S/D/Q
    /// (Arm ARM C4.1.88, V = 1): `a` = log2 of the register size (0–4), `b` = the addressing
    /// mode, `rd` = Rt and `rm` = Rt2 or the offset register (V register numbers for Rt/Rt2).
    static func vectorRegisterAccess(_ w: UInt32) -> DecodedInstruction? {
        var d = DecodedInstruction(op: .vectorLoadStore, raw: w)
        d.rd = UInt8(bits(w, 4, 0))
        d.rn = spOr(bits(w, 9, 5))
        switch bits(w, 29, 27) {
        case 0b011:  // LDR (literal): opc 00 S, 01 D, 10 Q
            let opc = bits(w, 31, 30)
            if opc == 3 { return nil }
            d.a = UInt8(2 + opc)
            d.b = AddressingMode.literal.rawValue
            d.imm = signExtend(bits(w, 23, 5), bits: 19) << 2
            d.flags = InstructionFlags.vectorLoad
        case 0b101:  // pairs: opc 00 S, 01 D, 10 Q; mode 00 no-allocate, 01 post, 10 offset, 11 pre
            let opc = bits(w, 31, 30)
            if opc == 3 { return nil }
            d.a = UInt8(2 + opc)
            d.b = AddressingMode.immediate.rawValue
            d.rm = UInt8(bits(w, 14, 10))
            d.imm = signExtend(bits(w, 21, 15), bits: 7) << UInt64(d.a)
            d.flags = InstructionFlags.vectorPair | (bits(w, 22, 22) == 1 ? InstructionFlags.vectorLoad : 0)
            switch bits(w, 24, 23) {
            case 1: d.flags |= InstructionFlags.writeback | InstructionFlags.postIndex
            case 3: d.flags |= InstructionFlags.writeback
            default: break
            }
        default:  // single register: size:opc<1> gives B, H, S, D or (size 00, opc 1x) Q
            let size = bits(w, 31, 30)
            let opc = bits(w, 23, 22)
            if opc & 2 != 0 && size != 0 { return nil }
            d.a = UInt8(opc & 2 != 0 ? 4 : size)
            if opc & 1 != 0 { d.flags = InstructionFlags.vectorLoad }
            if bits(w, 24, 24) == 1 {
                d.b = AddressingMode.immediate.rawValue
                d.imm = UInt64(bits(w, 21, 10)) << UInt64(d.a)
            } else if bits(w, 21, 21) == 0 {
                d.b = AddressingMode.immediate.rawValue
                d.imm = signExtend(bits(w, 20, 12), bits: 9)
                switch bits(w, 11, 10) {
                case 0: break
                case 1: d.flags |= InstructionFlags.writeback | InstructionFlags.postIndex
                case 3: d.flags |= InstructionFlags.writeback
                default: return nil  // no unprivileged SIMD&FP forms
                }
            } else {
                let option = bits(w, 15, 13)
                if option & 2 == 0 { return nil }
                d.b = AddressingMode.register.rawValue
                d.rm = UInt8(bits(w, 20, 16))
                d.imm = UInt64(option)
                d.imm2 = bits(w, 12, 12) == 1 ? UInt64(d.a) : 0
            }
        }
        return d
    }

    /// The AdvSIMD structure loads and stores (Arm ARM C4.1.88 "Advanced SIMD load/store
    /// multiple structures" / "single structure", and their post-index forms): `a` = log2 of
    /// the element size, `b` = elements per structure (selem), `imm` = repeat count or lane,
    /// `imm2` = `StructureKind`, `sf` = 1 for a 128-bit (Q = 1) register, `rm` = the
    /// post-index register (31: the immediate, which is the bytes transferred).
    static func structureAccess(_ w: UInt32) -> DecodedInstruction? {
        var d = DecodedInstruction(op: .vectorStructure, raw: w)
        let q = bits(w, 30, 30)
        let load = bits(w, 22, 22) == 1
        let size = bits(w, 11, 10)
        let post = bits(w, 23, 23) == 1
        d.rd = UInt8(bits(w, 4, 0))
        d.rn = spOr(bits(w, 9, 5))
        d.rm = UInt8(bits(w, 20, 16))
        d.sf = UInt8(q)
        d.flags = (load ? InstructionFlags.vectorLoad : 0) | (post ? InstructionFlags.writeback : 0)
        if bits(w, 24, 24) == 0 {
            // Multiple structures: opcode -> (repeats, elements per structure).
            let layout: (UInt8, UInt8)
            switch bits(w, 15, 12) {
            case 0b0000: layout = (1, 4)
            case 0b0010: layout = (4, 1)
            case 0b0100: layout = (1, 3)
            case 0b0110: layout = (3, 1)
            case 0b0111: layout = (1, 1)
            case 0b1000: layout = (1, 2)
            case 0b1010: layout = (2, 1)
            default: return nil
            }
            if size == 3 && q == 0 && layout.1 != 1 { return nil }
            d.a = UInt8(size)
            d.imm = UInt64(layout.0)
            d.b = layout.1
            d.imm2 = StructureKind.multiple.rawValue
            return d
        }
        let opcode = bits(w, 15, 13)
        let s = bits(w, 12, 12)
        d.b = UInt8((opcode & 1) << 1 | bits(w, 21, 21)) + 1
        d.imm2 = StructureKind.single.rawValue
        switch opcode >> 1 {
        case 0:
            d.a = 0
            d.imm = UInt64(q << 3 | s << 2 | size)
        case 1:
            if size & 1 != 0 { return nil }
            d.a = 1
            d.imm = UInt64(q << 2 | s << 1 | size >> 1)
        case 2:
            if size & 2 != 0 { return nil }
            if size == 0 {
                d.a = 2
                d.imm = UInt64(q << 1 | s)
            } else {
                if s != 0 { return nil }
                d.a = 3
                d.imm = UInt64(q)
            }
        default:
            if !load || s != 0 { return nil }
            d.a = UInt8(size)
            d.imm = 0
            d.imm2 = StructureKind.replicate.rawValue
        }
        return d
    }

    /// `DecodeBitMasks(N, imms, immr, immediate = FALSE)` for the bitfield moves: the `wmask`
    /// that selects the rotated source field and the `tmask` that selects the destination bits.
    public static func bitfieldMasks(n: UInt32, imms: UInt32, immr: UInt32, width: Int) -> (UInt64, UInt64)? {
        let combined = (n << 6) | (~imms & 0x3F)
        guard combined != 0 else { return nil }
        let len = 31 - combined.leadingZeroBitCount
        guard len >= 1 else { return nil }
        let levels = UInt32((1 << len) - 1)
        let s = Int(imms & levels)
        let r = Int(immr & levels)
        let diff = (s - r) & Int(levels)
        let esize = 1 << len
        let elementMask: UInt64 = esize == 64 ? ~0 : (1 << UInt64(esize)) - 1
        func ones(_ count: Int) -> UInt64 { count >= 64 ? ~0 : (1 << UInt64(count)) - 1 }
        let welem = ones(s + 1)
        let telem = ones(diff + 1)
        let rotated = r == 0 ? welem : ((welem >> UInt64(r)) | (welem << UInt64(esize - r))) & elementMask
        var wmask: UInt64 = 0
        var tmask: UInt64 = 0
        var position = 0
        while position < width {
            wmask |= rotated << UInt64(position)
            tmask |= telem << UInt64(position)
            position += esize
        }
        let widthMask: UInt64 = width == 64 ? ~0 : 0xFFFF_FFFF
        return (wmask & widthMask, tmask & widthMask)
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
