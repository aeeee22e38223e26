/// One row of the encoding table: a 32-character bit pattern from the Arm ARM encoding diagrams
/// ('0'/'1' fixed, any letter a field bit, spaces and '_' ignored) and the operation it decodes to.
public struct Encoding: Sendable {
    public let name: String
    public let mask: UInt32
    public let value: UInt32
    public let op: Opcode

    public init(_ pattern: String, _ op: Opcode, _ name: String) {
        var mask: UInt32 = 0
        var value: UInt32 = 0
        var count = 0
        for ch in pattern where ch != " " && ch != "_" {
            mask <<= 1
            value <<= 1
            if ch == "0" || ch == "1" {
                mask |= 1
                if ch == "1" { value |= 1 }
            }
            count += 1
        }
        precondition(count == 32, "encoding pattern for \(name) has \(count) bits")
        self.name = name
        self.mask = mask
        self.value = value
        self.op = op
    }

    public func matches(_ word: UInt32) -> Bool { word & mask == value }
}

/// The A64 encodings the core implements: the single source of truth for decoding.
///
/// Patterns are the Arm ARM encoding diagrams (C4.1 "A64 instruction set encoding"), most
/// significant bit first. Field letters: s = sf, h = hw/shift, i = immediate, n = Rn, d = Rd/Rt,
/// m = Rm, a = Ra, T = Rt2, c = cond, z = size, o = opc/option, r/S = immr/imms, N = N, b = b5/b40,
/// v = nzcv, p = op2 and similar sub-opcodes. The decoder tries the most specific pattern first
/// (most fixed bits), so aliases such as RET win over the general form they specialise, and
/// `Decoder.operands` rejects the reserved values a pattern cannot express.
///
/// Deliberately absent (decode to UNDEF): everything after ARMv8.0 (LSE atomics, LDAPR, LDLAR,
/// pointer authentication, FP16 arithmetic, the FP16 forms of the AdvSIMD FP rows, SQRDMLAH,
/// ...) and the cryptographic extension (AES, SHA, 64-bit PMULL; ID_AA64ISAR0 says so).
/// Present: the SIMD&FP loads and stores (`simdAndFloatingPointMemory`), FPCR/FPSR, every
/// ARMv8.0 AdvSIMD integer, permute and move group, vector and scalar (`advancedSIMD`; the
/// scalar forms decode to their vector group's opcode), the FP register moves
/// (`floatingPointMoves`), all ARMv8.0 scalar FP (`floatingPoint`), the vector and scalar FP
/// three-same/two-misc/by-element/across-lanes rows (`advancedSIMDFloatingPoint`) and the
/// fixed-point conversions (`advancedSIMDFixedPoint`). A row per instruction (several rows
/// share a group's opcode), so what is absent stays visible.
public enum EncodingTable {
    public static let all: [Encoding] =
        dataProcessingImmediate + dataProcessingRegister + branchesAndSystem
        + loadsAndStores + simdAndFloatingPointMemory + advancedSIMD + floatingPointMoves + floatingPoint
        + advancedSIMDFloatingPoint + advancedSIMDFixedPoint

    static let dataProcessingImmediate: [Encoding] = [
        Encoding("s00_100010_h_iiiiiiiiiiii_nnnnn_ddddd", .addImmediate, "ADD (immediate)"),
        Encoding("s01_100010_h_iiiiiiiiiiii_nnnnn_ddddd", .addsImmediate, "ADDS (immediate)"),
        Encoding("s10_100010_h_iiiiiiiiiiii_nnnnn_ddddd", .subImmediate, "SUB (immediate)"),
        Encoding("s11_100010_h_iiiiiiiiiiii_nnnnn_ddddd", .subsImmediate, "SUBS (immediate)"),
        Encoding("s00_100100_N_rrrrrr_SSSSSS_nnnnn_ddddd", .andImmediate, "AND (immediate)"),
        Encoding("s01_100100_N_rrrrrr_SSSSSS_nnnnn_ddddd", .orrImmediate, "ORR (immediate)"),
        Encoding("s10_100100_N_rrrrrr_SSSSSS_nnnnn_ddddd", .eorImmediate, "EOR (immediate)"),
        Encoding("s11_100100_N_rrrrrr_SSSSSS_nnnnn_ddddd", .andsImmediate, "ANDS (immediate)"),
        Encoding("s00_100101_hh_iiiiiiiiiiiiiiii_ddddd", .movn, "MOVN"),
        Encoding("s10_100101_hh_iiiiiiiiiiiiiiii_ddddd", .movz, "MOVZ"),
        Encoding("s11_100101_hh_iiiiiiiiiiiiiiii_ddddd", .movk, "MOVK"),
        Encoding("s00_100110_N_rrrrrr_SSSSSS_nnnnn_ddddd", .sbfm, "SBFM"),
        Encoding("s01_100110_N_rrrrrr_SSSSSS_nnnnn_ddddd", .bfm, "BFM"),
        Encoding("s10_100110_N_rrrrrr_SSSSSS_nnnnn_ddddd", .ubfm, "UBFM"),
        Encoding("s00_100111_N_0_mmmmm_SSSSSS_nnnnn_ddddd", .extr, "EXTR"),
        Encoding("0ii_10000_iiiiiiiiiiiiiiiiiii_ddddd", .adr, "ADR"),
        Encoding("1ii_10000_iiiiiiiiiiiiiiiiiii_ddddd", .adrp, "ADRP"),
    ]

    static let dataProcessingRegister: [Encoding] = [
        Encoding("s00_01011_hh0_mmmmm_iiiiii_nnnnn_ddddd", .addShifted, "ADD (shifted register)"),
        Encoding("s01_01011_hh0_mmmmm_iiiiii_nnnnn_ddddd", .addsShifted, "ADDS (shifted register)"),
        Encoding("s10_01011_hh0_mmmmm_iiiiii_nnnnn_ddddd", .subShifted, "SUB (shifted register)"),
        Encoding("s11_01011_hh0_mmmmm_iiiiii_nnnnn_ddddd", .subsShifted, "SUBS (shifted register)"),
        Encoding("s00_01011_001_mmmmm_ooo_iii_nnnnn_ddddd", .addExtended, "ADD (extended register)"),
        Encoding("s01_01011_001_mmmmm_ooo_iii_nnnnn_ddddd", .addsExtended, "ADDS (extended register)"),
        Encoding("s10_01011_001_mmmmm_ooo_iii_nnnnn_ddddd", .subExtended, "SUB (extended register)"),
        Encoding("s11_01011_001_mmmmm_ooo_iii_nnnnn_ddddd", .subsExtended, "SUBS (extended register)"),
        Encoding("s00_11010000_mmmmm_000000_nnnnn_ddddd", .adc, "ADC"),
        Encoding("s01_11010000_mmmmm_000000_nnnnn_ddddd", .adcs, "ADCS"),
        Encoding("s10_11010000_mmmmm_000000_nnnnn_ddddd", .sbc, "SBC"),
        Encoding("s11_11010000_mmmmm_000000_nnnnn_ddddd", .sbcs, "SBCS"),
        Encoding("s00_01010_hh0_mmmmm_iiiiii_nnnnn_ddddd", .andShifted, "AND (shifted register)"),
        Encoding("s00_01010_hh1_mmmmm_iiiiii_nnnnn_ddddd", .bicShifted, "BIC (shifted register)"),
        Encoding("s01_01010_hh0_mmmmm_iiiiii_nnnnn_ddddd", .orrShifted, "ORR (shifted register)"),
        Encoding("s01_01010_hh1_mmmmm_iiiiii_nnnnn_ddddd", .ornShifted, "ORN (shifted register)"),
        Encoding("s10_01010_hh0_mmmmm_iiiiii_nnnnn_ddddd", .eorShifted, "EOR (shifted register)"),
        Encoding("s10_01010_hh1_mmmmm_iiiiii_nnnnn_ddddd", .eonShifted, "EON (shifted register)"),
        Encoding("s11_01010_hh0_mmmmm_iiiiii_nnnnn_ddddd", .andsShifted, "ANDS (shifted register)"),
        Encoding("s11_01010_hh1_mmmmm_iiiiii_nnnnn_ddddd", .bicsShifted, "BICS (shifted register)"),
        Encoding("s01_11010010_mmmmm_cccc_0_0_nnnnn_0_vvvv", .ccmnRegister, "CCMN (register)"),
        Encoding("s11_11010010_mmmmm_cccc_0_0_nnnnn_0_vvvv", .ccmpRegister, "CCMP (register)"),
        Encoding("s01_11010010_iiiii_cccc_1_0_nnnnn_0_vvvv", .ccmnImmediate, "CCMN (immediate)"),
        Encoding("s11_11010010_iiiii_cccc_1_0_nnnnn_0_vvvv", .ccmpImmediate, "CCMP (immediate)"),
        Encoding("s00_11010100_mmmmm_cccc_00_nnnnn_ddddd", .csel, "CSEL"),
        Encoding("s00_11010100_mmmmm_cccc_01_nnnnn_ddddd", .csinc, "CSINC"),
        Encoding("s10_11010100_mmmmm_cccc_00_nnnnn_ddddd", .csinv, "CSINV"),
        Encoding("s10_11010100_mmmmm_cccc_01_nnnnn_ddddd", .csneg, "CSNEG"),
        Encoding("s00_11011_000_mmmmm_0_aaaaa_nnnnn_ddddd", .madd, "MADD"),
        Encoding("s00_11011_000_mmmmm_1_aaaaa_nnnnn_ddddd", .msub, "MSUB"),
        Encoding("100_11011_001_mmmmm_0_aaaaa_nnnnn_ddddd", .smaddl, "SMADDL"),
        Encoding("100_11011_001_mmmmm_1_aaaaa_nnnnn_ddddd", .smsubl, "SMSUBL"),
        Encoding("100_11011_010_mmmmm_0_aaaaa_nnnnn_ddddd", .smulh, "SMULH"),
        Encoding("100_11011_101_mmmmm_0_aaaaa_nnnnn_ddddd", .umaddl, "UMADDL"),
        Encoding("100_11011_101_mmmmm_1_aaaaa_nnnnn_ddddd", .umsubl, "UMSUBL"),
        Encoding("100_11011_110_mmmmm_0_aaaaa_nnnnn_ddddd", .umulh, "UMULH"),
        Encoding("s00_11010110_mmmmm_000010_nnnnn_ddddd", .udiv, "UDIV"),
        Encoding("s00_11010110_mmmmm_000011_nnnnn_ddddd", .sdiv, "SDIV"),
        Encoding("s00_11010110_mmmmm_001000_nnnnn_ddddd", .lslv, "LSLV"),
        Encoding("s00_11010110_mmmmm_001001_nnnnn_ddddd", .lsrv, "LSRV"),
        Encoding("s00_11010110_mmmmm_001010_nnnnn_ddddd", .asrv, "ASRV"),
        Encoding("s00_11010110_mmmmm_001011_nnnnn_ddddd", .rorv, "RORV"),
        Encoding("s00_11010110_mmmmm_010_c_zz_nnnnn_ddddd", .crc32, "CRC32/CRC32C"),
        Encoding("s10_11010110_00000_000000_nnnnn_ddddd", .rbit, "RBIT"),
        Encoding("s10_11010110_00000_000001_nnnnn_ddddd", .rev16, "REV16"),
        Encoding("010_11010110_00000_000010_nnnnn_ddddd", .rev, "REV (32-bit)"),
        Encoding("110_11010110_00000_000010_nnnnn_ddddd", .rev32, "REV32"),
        Encoding("110_11010110_00000_000011_nnnnn_ddddd", .rev, "REV (64-bit)"),
        Encoding("s10_11010110_00000_000100_nnnnn_ddddd", .clz, "CLZ"),
        Encoding("s10_11010110_00000_000101_nnnnn_ddddd", .cls, "CLS"),
    ]

    static let branchesAndSystem: [Encoding] = [
        Encoding("000101_iiiiiiiiiiiiiiiiiiiiiiiiii", .b, "B"),
        Encoding("100101_iiiiiiiiiiiiiiiiiiiiiiiiii", .bl, "BL"),
        Encoding("01010100_iiiiiiiiiiiiiiiiiii_0_cccc", .bCond, "B.cond"),
        Encoding("s011010_0_iiiiiiiiiiiiiiiiiii_ddddd", .cbz, "CBZ"),
        Encoding("s011010_1_iiiiiiiiiiiiiiiiiii_ddddd", .cbnz, "CBNZ"),
        Encoding("b011011_0_bbbbb_iiiiiiiiiiiiii_ddddd", .tbz, "TBZ"),
        Encoding("b011011_1_bbbbb_iiiiiiiiiiiiii_ddddd", .tbnz, "TBNZ"),
        Encoding("1101011_0000_11111_000000_nnnnn_00000", .br, "BR"),
        Encoding("1101011_0001_11111_000000_nnnnn_00000", .blr, "BLR"),
        Encoding("1101011_0010_11111_000000_nnnnn_00000", .ret, "RET"),
        Encoding("1101011_0100_11111_000000_11111_00000", .eret, "ERET"),

        Encoding("11010100_000_iiiiiiiiiiiiiiii_000_01", .svc, "SVC"),
        Encoding("11010100_000_iiiiiiiiiiiiiiii_000_10", .hvc, "HVC"),
        Encoding("11010100_000_iiiiiiiiiiiiiiii_000_11", .smc, "SMC"),
        Encoding("11010100_001_iiiiiiiiiiiiiiii_000_00", .brk, "BRK"),
        Encoding("11010100_010_iiiiiiiiiiiiiiii_000_00", .hlt, "HLT"),

        Encoding("11010101_00000011_0010_0000_011_11111", .wfi, "WFI"),
        Encoding("11010101_00000011_0010_0000_010_11111", .wfe, "WFE"),
        Encoding("11010101_00000011_0010_0000_100_11111", .sev, "SEV"),
        Encoding("11010101_00000011_0010_0000_101_11111", .sevl, "SEVL"),
        Encoding("11010101_00000011_0010_mmmm_ppp_11111", .hint, "HINT"),
        Encoding("11010101_00000011_0011_mmmm_010_11111", .clrex, "CLREX"),
        Encoding("11010101_00000011_0011_mmmm_100_11111", .barrier, "DSB"),
        Encoding("11010101_00000011_0011_mmmm_101_11111", .barrier, "DMB"),
        Encoding("11010101_00000011_0011_mmmm_110_11111", .isb, "ISB"),
        Encoding("11010101_00000_ooo_0100_mmmm_ppp_11111", .msrImmediate, "MSR (immediate)"),
        Encoding("11010101_00001_ooo_nnnn_mmmm_ppp_ddddd", .sys, "SYS"),
        Encoding("11010101_00101_ooo_nnnn_mmmm_ppp_ddddd", .sysl, "SYSL"),
        Encoding("11010101_0011_rrrrrrrrrrrrrrr_ddddd", .mrs, "MRS"),
        Encoding("11010101_0001_rrrrrrrrrrrrrrr_ddddd", .msrRegister, "MSR (register)"),
    ]

    static let loadsAndStores: [Encoding] = [
        // Load register (literal).
        Encoding("0o_011_0_00_iiiiiiiiiiiiiiiiiii_ddddd", .loadLiteral, "LDR (literal)"),
        Encoding("10_011_0_00_iiiiiiiiiiiiiiiiiii_ddddd", .loadSignedLiteral, "LDRSW (literal)"),
        Encoding("11_011_0_00_iiiiiiiiiiiiiiiiiii_ddddd", .prefetch, "PRFM (literal)"),
        // Exclusives and acquire/release (ARMv8.0 forms only).
        Encoding("zz_001000_0_0_0_sssss_o_TTTTT_nnnnn_ddddd", .storeExclusive, "STXR/STLXR"),
        Encoding("zz_001000_0_1_0_sssss_o_TTTTT_nnnnn_ddddd", .loadExclusive, "LDXR/LDAXR"),
        Encoding("1z_001000_0_0_1_sssss_o_TTTTT_nnnnn_ddddd", .storeExclusivePair, "STXP/STLXP"),
        Encoding("1z_001000_0_1_1_sssss_o_TTTTT_nnnnn_ddddd", .loadExclusivePair, "LDXP/LDAXP"),
        Encoding("zz_001000_1_0_0_sssss_1_TTTTT_nnnnn_ddddd", .storeRelease, "STLR"),
        Encoding("zz_001000_1_1_0_sssss_1_TTTTT_nnnnn_ddddd", .loadAcquire, "LDAR"),
        // Pairs: no-allocate (offset), post-index, offset, pre-index.
        Encoding("oo_101_0_000_0_iiiiiii_TTTTT_nnnnn_ddddd", .storePair, "STNP"),
        Encoding("oo_101_0_000_1_iiiiiii_TTTTT_nnnnn_ddddd", .loadPair, "LDNP"),
        Encoding("oo_101_0_0pp_0_iiiiiii_TTTTT_nnnnn_ddddd", .storePair, "STP"),
        Encoding("oo_101_0_0pp_1_iiiiiii_TTTTT_nnnnn_ddddd", .loadPair, "LDP/LDPSW"),
        // Single register: unscaled, post-index, unprivileged, pre-index, register offset.
        Encoding(
            "zz_111_0_00_oo_0_iiiiiiiii_pp_nnnnn_ddddd", .loadStoreImmediate9, "LDUR/STUR/LDR/STR/LDTR/STTR (imm9)"),
        Encoding("zz_111_0_00_oo_1_mmmmm_ppp_S_10_nnnnn_ddddd", .loadStoreRegister, "LDR/STR (register)"),
        // Single register: unsigned offset.
        Encoding("zz_111_0_01_oo_iiiiiiiiiiii_nnnnn_ddddd", .loadStoreUnsigned, "LDR/STR (unsigned offset)"),
    ]

    /// SIMD&FP loads and stores (V = 1) and the AdvSIMD structure loads/stores (C4.1.88).
    static let simdAndFloatingPointMemory: [Encoding] = [
        Encoding("oo_011_1_00_iiiiiiiiiiiiiiiiiii_ddddd", .vectorLoadStore, "LDR (literal, SIMD&FP)"),
        Encoding("oo_101_1_0pp_L_iiiiiii_TTTTT_nnnnn_ddddd", .vectorLoadStore, "LDP/STP/LDNP/STNP (SIMD&FP)"),
        Encoding(
            "zz_111_1_00_oo_0_iiiiiiiii_pp_nnnnn_ddddd", .vectorLoadStore, "LDUR/STUR/LDR/STR (SIMD&FP, imm9)"),
        Encoding("zz_111_1_00_oo_1_mmmmm_ppp_S_10_nnnnn_ddddd", .vectorLoadStore, "LDR/STR (SIMD&FP, register)"),
        Encoding("zz_111_1_01_oo_iiiiiiiiiiii_nnnnn_ddddd", .vectorLoadStore, "LDR/STR (SIMD&FP, unsigned offset)"),
        Encoding("0Q_0011000_L_000000_oooo_zz_nnnnn_ddddd", .vectorStructure, "LD1-4/ST1-4 (multiple structures)"),
        Encoding(
            "0Q_0011001_L_0_mmmmm_oooo_zz_nnnnn_ddddd", .vectorStructure,
            "LD1-4/ST1-4 (multiple structures, post-index)"),
        Encoding(
            "0Q_0011010_L_R_00000_ooo_S_zz_nnnnn_ddddd", .vectorStructure, "LD1-4/ST1-4/LD1R-LD4R (single structure)"),
        Encoding(
            "0Q_0011011_L_R_mmmmm_ooo_S_zz_nnnnn_ddddd", .vectorStructure,
            "LD1-4/ST1-4/LD1R-LD4R (single structure, post-index)"),
    ]

    /// Advanced SIMD (C4.1.95): copy, modified immediate, three same, two-register misc, across
    /// lanes, permute, extract, table lookup and shift by immediate. Field letters: Q, U, z =
    /// size, i = imm5/imm4/abc:defgh, h = immh, b = immb, c = cmode, o = op/len.
    static let advancedSIMD: [Encoding] =
        [
            Encoding("0Q0_01110000_iiiii_0_0000_1_nnnnn_ddddd", .simdCopy, "DUP (element)"),
            Encoding("0Q0_01110000_iiiii_0_0001_1_nnnnn_ddddd", .simdCopy, "DUP (general)"),
            Encoding("0Q0_01110000_iiiii_0_0101_1_nnnnn_ddddd", .simdCopy, "SMOV"),
            Encoding("0Q0_01110000_iiiii_0_0111_1_nnnnn_ddddd", .simdCopy, "UMOV"),
            Encoding("010_01110000_iiiii_0_0011_1_nnnnn_ddddd", .simdCopy, "INS (general)"),
            Encoding("011_01110000_iiiii_0_jjjj_1_nnnnn_ddddd", .simdCopy, "INS (element)"),
            // One row per op value, so these (o2 = 0) are more specific than the shift-by-immediate
            // rows, whose immh = 0 space they occupy.
            Encoding("0Q0_0111100000_iii_cccc_0_1_iiiii_ddddd", .simdModifiedImmediate, "MOVI/ORR/FMOV (vector, op 0)"),
            Encoding(
                "0Q1_0111100000_iii_cccc_0_1_iiiii_ddddd", .simdModifiedImmediate, "MOVI/MVNI/BIC/FMOV (vector, op 1)"),

            Encoding("0Q0_01110_zz1_mmmmm_00011_1_nnnnn_ddddd", .simdThreeSame, "AND/BIC/ORR/ORN (vector)"),
            Encoding("0Q1_01110_zz1_mmmmm_00011_1_nnnnn_ddddd", .simdThreeSame, "EOR/BSL/BIT/BIF"),
            Encoding("0QU_01110_zz1_mmmmm_00000_1_nnnnn_ddddd", .simdThreeSame, "SHADD/UHADD"),
            Encoding("0QU_01110_zz1_mmmmm_00001_1_nnnnn_ddddd", .simdThreeSame, "SQADD/UQADD (vector)"),
            Encoding("0QU_01110_zz1_mmmmm_00101_1_nnnnn_ddddd", .simdThreeSame, "SQSUB/UQSUB (vector)"),
            Encoding("0QU_01110_zz1_mmmmm_00010_1_nnnnn_ddddd", .simdThreeSame, "SRHADD/URHADD"),
            Encoding("0QU_01110_zz1_mmmmm_00100_1_nnnnn_ddddd", .simdThreeSame, "SHSUB/UHSUB"),
            Encoding("0QU_01110_zz1_mmmmm_00110_1_nnnnn_ddddd", .simdThreeSame, "CMGT/CMHI (register)"),
            Encoding("0QU_01110_zz1_mmmmm_00111_1_nnnnn_ddddd", .simdThreeSame, "CMGE/CMHS (register)"),
            Encoding("0QU_01110_zz1_mmmmm_01100_1_nnnnn_ddddd", .simdThreeSame, "SMAX/UMAX"),
            Encoding("0QU_01110_zz1_mmmmm_01101_1_nnnnn_ddddd", .simdThreeSame, "SMIN/UMIN"),
            Encoding("0QU_01110_zz1_mmmmm_01110_1_nnnnn_ddddd", .simdThreeSame, "SABD/UABD"),
            Encoding("0QU_01110_zz1_mmmmm_01111_1_nnnnn_ddddd", .simdThreeSame, "SABA/UABA"),
            Encoding("0QU_01110_zz1_mmmmm_10000_1_nnnnn_ddddd", .simdThreeSame, "ADD/SUB (vector)"),
            Encoding("0QU_01110_zz1_mmmmm_10001_1_nnnnn_ddddd", .simdThreeSame, "CMTST/CMEQ (register)"),
            Encoding("0QU_01110_zz1_mmmmm_10010_1_nnnnn_ddddd", .simdThreeSame, "MLA/MLS (vector)"),
            Encoding("0Q0_01110_zz1_mmmmm_10011_1_nnnnn_ddddd", .simdThreeSame, "MUL (vector)"),
            Encoding("0Q1_01110_zz1_mmmmm_10011_1_nnnnn_ddddd", .simdThreeSame, "PMUL"),
            Encoding("0QU_01110_zz1_mmmmm_10100_1_nnnnn_ddddd", .simdThreeSame, "SMAXP/UMAXP"),
            Encoding("0QU_01110_zz1_mmmmm_10101_1_nnnnn_ddddd", .simdThreeSame, "SMINP/UMINP"),
            Encoding("0Q0_01110_zz1_mmmmm_10111_1_nnnnn_ddddd", .simdThreeSame, "ADDP (vector)"),
            Encoding("0QU_01110_zz1_mmmmm_01000_1_nnnnn_ddddd", .simdThreeSame, "SSHL/USHL (vector)"),
            Encoding("0QU_01110_zz1_mmmmm_01001_1_nnnnn_ddddd", .simdThreeSame, "SQSHL/UQSHL (vector, register)"),
            Encoding("0QU_01110_zz1_mmmmm_01010_1_nnnnn_ddddd", .simdThreeSame, "SRSHL/URSHL (vector)"),
            Encoding("0QU_01110_zz1_mmmmm_01011_1_nnnnn_ddddd", .simdThreeSame, "SQRSHL/UQRSHL (vector)"),
            Encoding("0QU_01110_zz1_mmmmm_10110_1_nnnnn_ddddd", .simdThreeSame, "SQDMULH/SQRDMULH (vector)"),

            Encoding("0QU_01110_zz_10000_00000_10_nnnnn_ddddd", .simdTwoRegisterMisc, "REV64/REV32"),
            Encoding("0Q0_01110_zz_10000_00001_10_nnnnn_ddddd", .simdTwoRegisterMisc, "REV16 (vector)"),
            Encoding("0QU_01110_zz_10000_00100_10_nnnnn_ddddd", .simdTwoRegisterMisc, "CLS/CLZ (vector)"),
            Encoding("0QU_01110_zz_10000_00101_10_nnnnn_ddddd", .simdTwoRegisterMisc, "CNT/NOT/RBIT (vector)"),
            Encoding("0QU_01110_zz_10000_01000_10_nnnnn_ddddd", .simdTwoRegisterMisc, "CMGT/CMGE (zero)"),
            Encoding("0QU_01110_zz_10000_01001_10_nnnnn_ddddd", .simdTwoRegisterMisc, "CMEQ/CMLE (zero)"),
            Encoding("0Q0_01110_zz_10000_01010_10_nnnnn_ddddd", .simdTwoRegisterMisc, "CMLT (zero)"),
            Encoding("0QU_01110_zz_10000_01011_10_nnnnn_ddddd", .simdTwoRegisterMisc, "ABS/NEG (vector)"),
            Encoding("0Q0_01110_zz_10000_10010_10_nnnnn_ddddd", .simdTwoRegisterMisc, "XTN/XTN2"),
            Encoding("0QU_01110_zz_10000_00010_10_nnnnn_ddddd", .simdTwoRegisterMisc, "SADDLP/UADDLP"),
            Encoding("0QU_01110_zz_10000_00110_10_nnnnn_ddddd", .simdTwoRegisterMisc, "SADALP/UADALP"),
            Encoding("0QU_01110_zz_10000_00011_10_nnnnn_ddddd", .simdTwoRegisterMisc, "SUQADD/USQADD (vector)"),
            Encoding("0QU_01110_zz_10000_00111_10_nnnnn_ddddd", .simdTwoRegisterMisc, "SQABS/SQNEG (vector)"),
            Encoding("0QU_01110_zz_10000_10100_10_nnnnn_ddddd", .simdTwoRegisterMisc, "SQXTN/UQXTN (vector)"),
            Encoding("0Q1_01110_zz_10000_10010_10_nnnnn_ddddd", .simdTwoRegisterMisc, "SQXTUN (vector)"),
            Encoding("0Q1_01110_zz_10000_10011_10_nnnnn_ddddd", .simdTwoRegisterMisc, "SHLL/SHLL2"),

            Encoding("0QU_01110_zz_11000_00011_10_nnnnn_ddddd", .simdAcrossLanes, "SADDLV/UADDLV"),
            Encoding("0QU_01110_zz_11000_01010_10_nnnnn_ddddd", .simdAcrossLanes, "SMAXV/UMAXV"),
            Encoding("0QU_01110_zz_11000_11010_10_nnnnn_ddddd", .simdAcrossLanes, "SMINV/UMINV"),
            Encoding("0Q0_01110_zz_11000_11011_10_nnnnn_ddddd", .simdAcrossLanes, "ADDV"),
            Encoding("0Q1_01110_00_11000_01100_10_nnnnn_ddddd", .simdScalarPairwise, "FMAXNMV"),
            Encoding("0Q1_01110_10_11000_01100_10_nnnnn_ddddd", .simdScalarPairwise, "FMINNMV"),
            Encoding("0Q1_01110_00_11000_01111_10_nnnnn_ddddd", .simdScalarPairwise, "FMAXV"),
            Encoding("0Q1_01110_10_11000_01111_10_nnnnn_ddddd", .simdScalarPairwise, "FMINV"),

            Encoding("0QU_01110_zz1_mmmmm_0000_00_nnnnn_ddddd", .simdThreeDifferent, "SADDL/UADDL"),
            Encoding("0QU_01110_zz1_mmmmm_0001_00_nnnnn_ddddd", .simdThreeDifferent, "SADDW/UADDW"),
            Encoding("0QU_01110_zz1_mmmmm_0010_00_nnnnn_ddddd", .simdThreeDifferent, "SSUBL/USUBL"),
            Encoding("0QU_01110_zz1_mmmmm_0011_00_nnnnn_ddddd", .simdThreeDifferent, "SSUBW/USUBW"),
            Encoding("0QU_01110_zz1_mmmmm_0100_00_nnnnn_ddddd", .simdThreeDifferent, "ADDHN/RADDHN"),
            Encoding("0QU_01110_zz1_mmmmm_0101_00_nnnnn_ddddd", .simdThreeDifferent, "SABAL/UABAL"),
            Encoding("0QU_01110_zz1_mmmmm_0110_00_nnnnn_ddddd", .simdThreeDifferent, "SUBHN/RSUBHN"),
            Encoding("0QU_01110_zz1_mmmmm_0111_00_nnnnn_ddddd", .simdThreeDifferent, "SABDL/UABDL"),
            Encoding("0QU_01110_zz1_mmmmm_1000_00_nnnnn_ddddd", .simdThreeDifferent, "SMLAL/UMLAL"),
            Encoding("0QU_01110_zz1_mmmmm_1010_00_nnnnn_ddddd", .simdThreeDifferent, "SMLSL/UMLSL"),
            Encoding("0QU_01110_zz1_mmmmm_1100_00_nnnnn_ddddd", .simdThreeDifferent, "SMULL/UMULL"),
            Encoding("0Q0_01110_zz1_mmmmm_1001_00_nnnnn_ddddd", .simdThreeDifferent, "SQDMLAL (vector)"),
            Encoding("0Q0_01110_zz1_mmmmm_1011_00_nnnnn_ddddd", .simdThreeDifferent, "SQDMLSL (vector)"),
            Encoding("0Q0_01110_zz1_mmmmm_1101_00_nnnnn_ddddd", .simdThreeDifferent, "SQDMULL (vector)"),
            Encoding("0Q0_01110_001_mmmmm_1110_00_nnnnn_ddddd", .simdThreeDifferent, "PMULL (8-bit)"),
            Encoding("0Q0_01110_zz0_mmmmm_0_ooo_10_nnnnn_ddddd", .simdPermute, "UZP1/UZP2/TRN1/TRN2/ZIP1/ZIP2"),
            Encoding("0Q1_01110_000_mmmmm_0_iiii_0_nnnnn_ddddd", .simdExtract, "EXT"),
            Encoding("0Q0_01110_000_mmmmm_0_oo_p_00_nnnnn_ddddd", .simdTableLookup, "TBL/TBX"),
            // AdvSIMD scalar (C4.1.95 "Advanced SIMD scalar ..."): the vector operations on one
            // element, decoded to the same opcodes with `sf` = 2.
            Encoding("01_0_11110000_iiiii_0_0000_1_nnnnn_ddddd", .simdCopy, "DUP (element, scalar)"),
            Encoding("01U_11110_zz1_mmmmm_00001_1_nnnnn_ddddd", .simdThreeSame, "SQADD/UQADD (scalar)"),
            Encoding("01U_11110_zz1_mmmmm_00101_1_nnnnn_ddddd", .simdThreeSame, "SQSUB/UQSUB (scalar)"),
            Encoding("01U_11110_zz1_mmmmm_00110_1_nnnnn_ddddd", .simdThreeSame, "CMGT/CMHI (scalar)"),
            Encoding("01U_11110_zz1_mmmmm_00111_1_nnnnn_ddddd", .simdThreeSame, "CMGE/CMHS (scalar)"),
            Encoding("01U_11110_zz1_mmmmm_01000_1_nnnnn_ddddd", .simdThreeSame, "SSHL/USHL (scalar)"),
            Encoding("01U_11110_zz1_mmmmm_01001_1_nnnnn_ddddd", .simdThreeSame, "SQSHL/UQSHL (scalar, register)"),
            Encoding("01U_11110_zz1_mmmmm_01010_1_nnnnn_ddddd", .simdThreeSame, "SRSHL/URSHL (scalar)"),
            Encoding("01U_11110_zz1_mmmmm_01011_1_nnnnn_ddddd", .simdThreeSame, "SQRSHL/UQRSHL (scalar)"),
            Encoding("01U_11110_zz1_mmmmm_10000_1_nnnnn_ddddd", .simdThreeSame, "ADD/SUB (scalar)"),
            Encoding("01U_11110_zz1_mmmmm_10001_1_nnnnn_ddddd", .simdThreeSame, "CMTST/CMEQ (scalar)"),
            Encoding("01U_11110_zz1_mmmmm_10110_1_nnnnn_ddddd", .simdThreeSame, "SQDMULH/SQRDMULH (scalar)"),
            Encoding("01U_11110_zz_10000_00011_10_nnnnn_ddddd", .simdTwoRegisterMisc, "SUQADD/USQADD (scalar)"),
            Encoding("01U_11110_zz_10000_00111_10_nnnnn_ddddd", .simdTwoRegisterMisc, "SQABS/SQNEG (scalar)"),
            Encoding("01U_11110_zz_10000_01000_10_nnnnn_ddddd", .simdTwoRegisterMisc, "CMGT/CMGE (zero, scalar)"),
            Encoding("01U_11110_zz_10000_01001_10_nnnnn_ddddd", .simdTwoRegisterMisc, "CMEQ/CMLE (zero, scalar)"),
            Encoding("01_0_11110_zz_10000_01010_10_nnnnn_ddddd", .simdTwoRegisterMisc, "CMLT (zero, scalar)"),
            Encoding("01U_11110_zz_10000_01011_10_nnnnn_ddddd", .simdTwoRegisterMisc, "ABS/NEG (scalar)"),
            Encoding("01U_11110_zz_10000_10100_10_nnnnn_ddddd", .simdTwoRegisterMisc, "SQXTN/UQXTN (scalar)"),
            Encoding("01_1_11110_zz_10000_10010_10_nnnnn_ddddd", .simdTwoRegisterMisc, "SQXTUN (scalar)"),
            Encoding("01_0_11110_zz1_mmmmm_1001_00_nnnnn_ddddd", .simdThreeDifferent, "SQDMLAL (scalar)"),
            Encoding("01_0_11110_zz1_mmmmm_1011_00_nnnnn_ddddd", .simdThreeDifferent, "SQDMLSL (scalar)"),
            Encoding("01_0_11110_zz1_mmmmm_1101_00_nnnnn_ddddd", .simdThreeDifferent, "SQDMULL (scalar)"),
        ]
        + shiftRows("0QU_011110_", "_bbb_00000_1_nnnnn_ddddd", "SSHR/USHR")
        + shiftRows("0QU_011110_", "_bbb_00010_1_nnnnn_ddddd", "SSRA/USRA")
        + shiftRows("0QU_011110_", "_bbb_00100_1_nnnnn_ddddd", "SRSHR/URSHR")
        + shiftRows("0QU_011110_", "_bbb_00110_1_nnnnn_ddddd", "SRSRA/URSRA")
        + shiftRows("0Q1_011110_", "_bbb_01000_1_nnnnn_ddddd", "SRI")
        + shiftRows("0QU_011110_", "_bbb_01010_1_nnnnn_ddddd", "SHL/SLI")
        + shiftRows("0Q0_011110_", "_bbb_10000_1_nnnnn_ddddd", "SHRN/SHRN2")
        + shiftRows("0Q0_011110_", "_bbb_10001_1_nnnnn_ddddd", "RSHRN/RSHRN2")
        + shiftRows("0QU_011110_", "_bbb_10100_1_nnnnn_ddddd", "SSHLL/USHLL")
        + shiftRows("0Q1_011110_", "_bbb_01100_1_nnnnn_ddddd", "SQSHLU (vector)")
        + shiftRows("0QU_011110_", "_bbb_01110_1_nnnnn_ddddd", "SQSHL/UQSHL (vector, immediate)")
        + shiftRows("0Q1_011110_", "_bbb_10000_1_nnnnn_ddddd", "SQSHRUN/SQSHRUN2")
        + shiftRows("0Q1_011110_", "_bbb_10001_1_nnnnn_ddddd", "SQRSHRUN/SQRSHRUN2")
        + shiftRows("0QU_011110_", "_bbb_10010_1_nnnnn_ddddd", "SQSHRN/UQSHRN (2)")
        + shiftRows("0QU_011110_", "_bbb_10011_1_nnnnn_ddddd", "SQRSHRN/UQRSHRN (2)")
        // Scalar: the 64-bit-only shifts have one row (immh = 1xxx).
        + shiftRows("01U_111110_", "_bbb_00000_1_nnnnn_ddddd", "SSHR/USHR (scalar)", sizes: 1)
        + shiftRows("01U_111110_", "_bbb_00010_1_nnnnn_ddddd", "SSRA/USRA (scalar)", sizes: 1)
        + shiftRows("01U_111110_", "_bbb_00100_1_nnnnn_ddddd", "SRSHR/URSHR (scalar)", sizes: 1)
        + shiftRows("01U_111110_", "_bbb_00110_1_nnnnn_ddddd", "SRSRA/URSRA (scalar)", sizes: 1)
        + shiftRows("011_111110_", "_bbb_01000_1_nnnnn_ddddd", "SRI (scalar)", sizes: 1)
        + shiftRows("01U_111110_", "_bbb_01010_1_nnnnn_ddddd", "SHL/SLI (scalar)", sizes: 1)
        + shiftRows("011_111110_", "_bbb_01100_1_nnnnn_ddddd", "SQSHLU (scalar)")
        + shiftRows("01U_111110_", "_bbb_01110_1_nnnnn_ddddd", "SQSHL/UQSHL (scalar, immediate)")
        + shiftRows("011_111110_", "_bbb_10000_1_nnnnn_ddddd", "SQSHRUN (scalar)")
        + shiftRows("011_111110_", "_bbb_10001_1_nnnnn_ddddd", "SQRSHRUN (scalar)")
        + shiftRows("01U_111110_", "_bbb_10010_1_nnnnn_ddddd", "SQSHRN/UQSHRN (scalar)")
        + shiftRows("01U_111110_", "_bbb_10011_1_nnnnn_ddddd", "SQRSHRN/UQRSHRN (scalar)")

    /// Shift by immediate, one row per element size (immh = 1xxx, 01xx, 001x, 0001: the
    /// arrangement tables of C4.1.95); immh = 0000 is the modified-immediate group.
    /// `sizes` rows from the widest: 1 for the 64-bit-only scalar shifts, 2 for the FP
    /// fixed-point conversions (single and double; the half-precision immh = 001x is FP16).
    static func shiftRows(
        _ head: String, _ tail: String, _ name: String, sizes: Int = 4, _ op: Opcode = .simdShiftImmediate
    ) -> [Encoding] {
        ["1hhh", "01hh", "001h", "0001"].prefix(sizes).map { Encoding(head + $0 + tail, op, name) }
    }

    /// FP register moves that need no arithmetic (C4.1.96 "Conversion between floating-point
    /// and integer", "Floating-point data-processing (1 source)", "Floating-point immediate").
    static let floatingPointMoves: [Encoding] = [
        Encoding("0_00_11110_00_1_00_110_000000_nnnnn_ddddd", .floatMove, "FMOV (Wd, Sn)"),
        Encoding("0_00_11110_00_1_00_111_000000_nnnnn_ddddd", .floatMove, "FMOV (Sd, Wn)"),
        Encoding("1_00_11110_01_1_00_110_000000_nnnnn_ddddd", .floatMove, "FMOV (Xd, Dn)"),
        Encoding("1_00_11110_01_1_00_111_000000_nnnnn_ddddd", .floatMove, "FMOV (Dd, Xn)"),
        Encoding("1_00_11110_10_1_01_110_000000_nnnnn_ddddd", .floatMove, "FMOV (Xd, Vn.D[1])"),
        Encoding("1_00_11110_10_1_01_111_000000_nnnnn_ddddd", .floatMove, "FMOV (Vd.D[1], Xn)"),
        Encoding("000_11110_0t_1_000000_10000_nnnnn_ddddd", .floatMove, "FMOV (register)"),
        Encoding("000_11110_0t_1_000001_10000_nnnnn_ddddd", .floatMove, "FABS (scalar)"),
        Encoding("000_11110_0t_1_000010_10000_nnnnn_ddddd", .floatMove, "FNEG (scalar)"),
        Encoding("000_11110_0t_1_iiiiiiii_100_00000_ddddd", .floatMove, "FMOV (scalar, immediate)"),
    ]

    /// Scalar FP, single and double (C4.1.96; `t` = type<0>, type<1> = 0).
    static let floatingPoint: [Encoding] = [
        Encoding(
            "000_11110_0t_1_mmmmm_0ooo_10_nnnnn_ddddd", .floatArithmetic, "FMUL/FDIV/FADD/FSUB/FMAX/FMIN/FMAXNM/FMINNM"),
        Encoding("000_11110_0t_1_mmmmm_1000_10_nnnnn_ddddd", .floatArithmetic, "FNMUL"),
        Encoding("000_11111_0t_o_mmmmm_p_aaaaa_nnnnn_ddddd", .floatMultiplyAdd, "FMADD/FMSUB/FNMADD/FNMSUB"),
        Encoding("000_11110_0t_1_000011_10000_nnnnn_ddddd", .floatUnary, "FSQRT"),
        Encoding("000_11110_00_1_000101_10000_nnnnn_ddddd", .floatUnary, "FCVT (double from single)"),
        Encoding("000_11110_01_1_000100_10000_nnnnn_ddddd", .floatUnary, "FCVT (single from double)"),
        Encoding("000_11110_11_1_000100_10000_nnnnn_ddddd", .floatUnary, "FCVT (single from half)"),
        Encoding("000_11110_11_1_000101_10000_nnnnn_ddddd", .floatUnary, "FCVT (double from half)"),
        Encoding("000_11110_0t_1_000111_10000_nnnnn_ddddd", .floatUnary, "FCVT (half from single/double)"),
        Encoding("000_11110_0t_1_0010oo_10000_nnnnn_ddddd", .floatUnary, "FRINTN/FRINTP/FRINTM/FRINTZ"),
        Encoding("000_11110_0t_1_001100_10000_nnnnn_ddddd", .floatUnary, "FRINTA"),
        Encoding("000_11110_0t_1_00111o_10000_nnnnn_ddddd", .floatUnary, "FRINTX/FRINTI"),
        Encoding("000_11110_0t_1_mmmmm_00_1000_nnnnn_ez_000", .floatCompare, "FCMP/FCMPE"),
        Encoding("000_11110_0t_1_mmmmm_cccc_01_nnnnn_e_vvvv", .floatConditionalCompare, "FCCMP/FCCMPE"),
        Encoding("000_11110_0t_1_mmmmm_cccc_11_nnnnn_ddddd", .floatConditionalSelect, "FCSEL"),
        Encoding("s_00_11110_0t_1_00_00u_000000_nnnnn_ddddd", .floatIntegerConvert, "FCVTNS/FCVTNU"),
        Encoding("s_00_11110_0t_1_00_01u_000000_nnnnn_ddddd", .floatIntegerConvert, "SCVTF/UCVTF"),
        Encoding("s_00_11110_0t_1_00_10u_000000_nnnnn_ddddd", .floatIntegerConvert, "FCVTAS/FCVTAU"),
        Encoding("s_00_11110_0t_1_01_00u_000000_nnnnn_ddddd", .floatIntegerConvert, "FCVTPS/FCVTPU"),
        Encoding("s_00_11110_0t_1_10_00u_000000_nnnnn_ddddd", .floatIntegerConvert, "FCVTMS/FCVTMU"),
        Encoding("s_00_11110_0t_1_11_00u_000000_nnnnn_ddddd", .floatIntegerConvert, "FCVTZS/FCVTZU"),
        Encoding("s_00_11110_0t_0_11_00u_ffffff_nnnnn_ddddd", .floatIntegerConvert, "FCVTZS/FCVTZU (fixed-point)"),
        Encoding("s_00_11110_0t_0_00_01u_ffffff_nnnnn_ddddd", .floatIntegerConvert, "SCVTF/UCVTF (fixed-point)"),
        Encoding("01_0_11110_1t_10000_11101_10_nnnnn_ddddd", .floatEstimate, "FRECPE (scalar)"),
        Encoding("01_1_11110_1t_10000_11101_10_nnnnn_ddddd", .floatEstimate, "FRSQRTE (scalar)"),
        Encoding("01_0_11110_1t_10000_11111_10_nnnnn_ddddd", .floatEstimate, "FRECPX"),
        Encoding("01_0_11110_0t_1_mmmmm_11111_1_nnnnn_ddddd", .floatEstimate, "FRECPS (scalar)"),
        Encoding("01_0_11110_1t_1_mmmmm_11111_1_nnnnn_ddddd", .floatEstimate, "FRSQRTS (scalar)"),
        Encoding("01_0_11110_11_11000_11011_10_nnnnn_ddddd", .simdScalarPairwise, "ADDP (scalar)"),
        Encoding("01_1_11110_0t_11000_01100_10_nnnnn_ddddd", .simdScalarPairwise, "FMAXNMP (scalar)"),
        Encoding("01_1_11110_0t_11000_01101_10_nnnnn_ddddd", .simdScalarPairwise, "FADDP (scalar)"),
        Encoding("01_1_11110_0t_11000_01111_10_nnnnn_ddddd", .simdScalarPairwise, "FMAXP (scalar)"),
        Encoding("01_1_11110_1t_11000_01100_10_nnnnn_ddddd", .simdScalarPairwise, "FMINNMP (scalar)"),
        Encoding("01_1_11110_1t_11000_01111_10_nnnnn_ddddd", .simdScalarPairwise, "FMINP (scalar)"),
    ]

    /// Advanced SIMD floating point (C4.1.95 "three same" and "two-register miscellaneous"
    /// rows with opcode 11xxx / 011xx): a = size<1>, s = sz (single or double lanes).
    static let advancedSIMDFloatingPoint: [Encoding] = [
        Encoding("0Q0_01110_0s1_mmmmm_11000_1_nnnnn_ddddd", .simdFloatThreeSame, "FMAXNM (vector)"),
        Encoding("0Q1_01110_0s1_mmmmm_11000_1_nnnnn_ddddd", .simdFloatThreeSame, "FMAXNMP (vector)"),
        Encoding("0Q0_01110_1s1_mmmmm_11000_1_nnnnn_ddddd", .simdFloatThreeSame, "FMINNM (vector)"),
        Encoding("0Q1_01110_1s1_mmmmm_11000_1_nnnnn_ddddd", .simdFloatThreeSame, "FMINNMP (vector)"),
        Encoding("0Q0_01110_0s1_mmmmm_11001_1_nnnnn_ddddd", .simdFloatThreeSame, "FMLA (vector)"),
        Encoding("0Q0_01110_1s1_mmmmm_11001_1_nnnnn_ddddd", .simdFloatThreeSame, "FMLS (vector)"),
        Encoding("0Q0_01110_0s1_mmmmm_11010_1_nnnnn_ddddd", .simdFloatThreeSame, "FADD (vector)"),
        Encoding("0Q1_01110_0s1_mmmmm_11010_1_nnnnn_ddddd", .simdFloatThreeSame, "FADDP (vector)"),
        Encoding("0Q0_01110_1s1_mmmmm_11010_1_nnnnn_ddddd", .simdFloatThreeSame, "FSUB (vector)"),
        Encoding("0Q1_01110_1s1_mmmmm_11010_1_nnnnn_ddddd", .simdFloatThreeSame, "FABD (vector)"),
        Encoding("0Q0_01110_0s1_mmmmm_11011_1_nnnnn_ddddd", .simdFloatThreeSame, "FMULX (vector)"),
        Encoding("0Q1_01110_0s1_mmmmm_11011_1_nnnnn_ddddd", .simdFloatThreeSame, "FMUL (vector)"),
        Encoding("0Q0_01110_0s1_mmmmm_11100_1_nnnnn_ddddd", .simdFloatThreeSame, "FCMEQ (register)"),
        Encoding("0Q1_01110_0s1_mmmmm_11100_1_nnnnn_ddddd", .simdFloatThreeSame, "FCMGE (register)"),
        Encoding("0Q1_01110_1s1_mmmmm_11100_1_nnnnn_ddddd", .simdFloatThreeSame, "FCMGT (register)"),
        Encoding("0Q1_01110_0s1_mmmmm_11101_1_nnnnn_ddddd", .simdFloatThreeSame, "FACGE"),
        Encoding("0Q1_01110_1s1_mmmmm_11101_1_nnnnn_ddddd", .simdFloatThreeSame, "FACGT"),
        Encoding("0Q0_01110_0s1_mmmmm_11110_1_nnnnn_ddddd", .simdFloatThreeSame, "FMAX (vector)"),
        Encoding("0Q1_01110_0s1_mmmmm_11110_1_nnnnn_ddddd", .simdFloatThreeSame, "FMAXP (vector)"),
        Encoding("0Q0_01110_1s1_mmmmm_11110_1_nnnnn_ddddd", .simdFloatThreeSame, "FMIN (vector)"),
        Encoding("0Q1_01110_1s1_mmmmm_11110_1_nnnnn_ddddd", .simdFloatThreeSame, "FMINP (vector)"),
        Encoding("0Q0_01110_0s1_mmmmm_11111_1_nnnnn_ddddd", .simdFloatThreeSame, "FRECPS (vector)"),
        Encoding("0Q0_01110_1s1_mmmmm_11111_1_nnnnn_ddddd", .simdFloatThreeSame, "FRSQRTS (vector)"),
        Encoding("0Q1_01110_0s1_mmmmm_11111_1_nnnnn_ddddd", .simdFloatThreeSame, "FDIV (vector)"),
        Encoding("0Q0_01110_1s_10000_01100_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCMGT (zero)"),
        Encoding("0Q1_01110_1s_10000_01100_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCMGE (zero)"),
        Encoding("0Q0_01110_1s_10000_01101_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCMEQ (zero)"),
        Encoding("0Q1_01110_1s_10000_01101_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCMLE (zero)"),
        Encoding("0Q0_01110_1s_10000_01110_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCMLT (zero)"),
        Encoding("0Q0_01110_1s_10000_01111_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FABS (vector)"),
        Encoding("0Q1_01110_1s_10000_01111_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FNEG (vector)"),
        Encoding("0Q0_01110_0s_10000_11000_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FRINTN (vector)"),
        Encoding("0Q0_01110_0s_10000_11001_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FRINTM (vector)"),
        Encoding("0Q0_01110_1s_10000_11000_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FRINTP (vector)"),
        Encoding("0Q0_01110_1s_10000_11001_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FRINTZ (vector)"),
        Encoding("0Q1_01110_0s_10000_11000_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FRINTA (vector)"),
        Encoding("0Q1_01110_0s_10000_11001_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FRINTX (vector)"),
        Encoding("0Q1_01110_1s_10000_11001_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FRINTI (vector)"),
        Encoding("0Q0_01110_0s_10000_11010_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTNS (vector)"),
        Encoding("0Q0_01110_0s_10000_11011_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTMS (vector)"),
        Encoding("0Q0_01110_0s_10000_11100_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTAS (vector)"),
        Encoding("0Q0_01110_0s_10000_11101_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "SCVTF (vector)"),
        Encoding("0Q0_01110_1s_10000_11010_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTPS (vector)"),
        Encoding("0Q0_01110_1s_10000_11011_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTZS (vector)"),
        Encoding("0Q0_01110_1s_10000_11101_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FRECPE (vector)"),
        Encoding("0Q1_01110_0s_10000_11010_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTNU (vector)"),
        Encoding("0Q1_01110_0s_10000_11011_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTMU (vector)"),
        Encoding("0Q1_01110_0s_10000_11100_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTAU (vector)"),
        Encoding("0Q1_01110_0s_10000_11101_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "UCVTF (vector)"),
        Encoding("0Q1_01110_1s_10000_11010_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTPU (vector)"),
        Encoding("0Q1_01110_1s_10000_11011_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTZU (vector)"),
        Encoding("0Q1_01110_1s_10000_11101_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FRSQRTE (vector)"),
        Encoding("0Q1_01110_1s_10000_11111_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FSQRT (vector)"),
        Encoding("0Q0_01111_zz_L_M_mmmm_1000_H_0_nnnnn_ddddd", .simdByElement, "MUL (by element)"),
        Encoding("0Q1_01111_zz_L_M_mmmm_0000_H_0_nnnnn_ddddd", .simdByElement, "MLA (by element)"),
        Encoding("0Q1_01111_zz_L_M_mmmm_0100_H_0_nnnnn_ddddd", .simdByElement, "MLS (by element)"),
        Encoding("0QU_01111_zz_L_M_mmmm_0010_H_0_nnnnn_ddddd", .simdByElement, "SMLAL/UMLAL (by element)"),
        Encoding("0QU_01111_zz_L_M_mmmm_0110_H_0_nnnnn_ddddd", .simdByElement, "SMLSL/UMLSL (by element)"),
        Encoding("0QU_01111_zz_L_M_mmmm_1010_H_0_nnnnn_ddddd", .simdByElement, "SMULL/UMULL (by element)"),
        Encoding("0Q0_01111_zz_L_M_mmmm_0011_H_0_nnnnn_ddddd", .simdByElement, "SQDMLAL (by element)"),
        Encoding("0Q0_01111_zz_L_M_mmmm_0111_H_0_nnnnn_ddddd", .simdByElement, "SQDMLSL (by element)"),
        Encoding("0Q0_01111_zz_L_M_mmmm_1011_H_0_nnnnn_ddddd", .simdByElement, "SQDMULL (by element)"),
        Encoding("0Q0_01111_zz_L_M_mmmm_1100_H_0_nnnnn_ddddd", .simdByElement, "SQDMULH (by element)"),
        Encoding("0Q0_01111_zz_L_M_mmmm_1101_H_0_nnnnn_ddddd", .simdByElement, "SQRDMULH (by element)"),
        Encoding("0Q0_01111_1s_L_M_mmmm_0001_H_0_nnnnn_ddddd", .simdByElement, "FMLA (by element)"),
        Encoding("0Q0_01111_1s_L_M_mmmm_0101_H_0_nnnnn_ddddd", .simdByElement, "FMLS (by element)"),
        Encoding("0Q0_01111_1s_L_M_mmmm_1001_H_0_nnnnn_ddddd", .simdByElement, "FMUL (by element)"),
        Encoding("0Q1_01111_1s_L_M_mmmm_1001_H_0_nnnnn_ddddd", .simdByElement, "FMULX (by element)"),
        Encoding("0Q0_01110_0s_10000_10110_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTN/FCVTN2"),
        Encoding("0Q0_01110_0s_10000_10111_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTL/FCVTL2"),
        Encoding("0Q1_01110_01_10000_10110_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTXN/FCVTXN2"),
        Encoding("01_1_11110_01_10000_10110_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTXN (scalar)"),
        Encoding("0Q0_01110_1s_10000_11100_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "URECPE"),
        Encoding("0Q1_01110_1s_10000_11100_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "URSQRTE"),
        Encoding("01_0_11111_zz_L_M_mmmm_0011_H_0_nnnnn_ddddd", .simdByElement, "SQDMLAL (by element, scalar)"),
        Encoding("01_0_11111_zz_L_M_mmmm_0111_H_0_nnnnn_ddddd", .simdByElement, "SQDMLSL (by element, scalar)"),
        Encoding("01_0_11111_zz_L_M_mmmm_1011_H_0_nnnnn_ddddd", .simdByElement, "SQDMULL (by element, scalar)"),
        Encoding("01_0_11111_zz_L_M_mmmm_1100_H_0_nnnnn_ddddd", .simdByElement, "SQDMULH (by element, scalar)"),
        Encoding("01_0_11111_zz_L_M_mmmm_1101_H_0_nnnnn_ddddd", .simdByElement, "SQRDMULH (by element, scalar)"),
        Encoding("01_0_11111_1s_L_M_mmmm_0001_H_0_nnnnn_ddddd", .simdByElement, "FMLA (by element, scalar)"),
        Encoding("01_0_11111_1s_L_M_mmmm_0101_H_0_nnnnn_ddddd", .simdByElement, "FMLS (by element, scalar)"),
        Encoding("01_0_11111_1s_L_M_mmmm_1001_H_0_nnnnn_ddddd", .simdByElement, "FMUL (by element, scalar)"),
        Encoding("01_1_11111_1s_L_M_mmmm_1001_H_0_nnnnn_ddddd", .simdByElement, "FMULX (by element, scalar)"),
        Encoding("01_1_11110_1s1_mmmmm_11010_1_nnnnn_ddddd", .simdFloatThreeSame, "FABD (scalar)"),
        Encoding("01_0_11110_0s1_mmmmm_11011_1_nnnnn_ddddd", .simdFloatThreeSame, "FMULX (scalar)"),
        Encoding("01_0_11110_0s1_mmmmm_11100_1_nnnnn_ddddd", .simdFloatThreeSame, "FCMEQ (register, scalar)"),
        Encoding("01_1_11110_0s1_mmmmm_11100_1_nnnnn_ddddd", .simdFloatThreeSame, "FCMGE (register, scalar)"),
        Encoding("01_1_11110_1s1_mmmmm_11100_1_nnnnn_ddddd", .simdFloatThreeSame, "FCMGT (register, scalar)"),
        Encoding("01_1_11110_0s1_mmmmm_11101_1_nnnnn_ddddd", .simdFloatThreeSame, "FACGE (scalar)"),
        Encoding("01_1_11110_1s1_mmmmm_11101_1_nnnnn_ddddd", .simdFloatThreeSame, "FACGT (scalar)"),
        Encoding(
            "01U_11110_1s_10000_01100_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCMGT/FCMGE (zero, scalar)"),
        Encoding(
            "01U_11110_1s_10000_01101_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCMEQ/FCMLE (zero, scalar)"),
        Encoding("01_0_11110_1s_10000_01110_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCMLT (zero, scalar)"),
        Encoding("01U_11110_0s_10000_11010_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTNS/FCVTNU (scalar)"),
        Encoding("01U_11110_0s_10000_11011_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTMS/FCVTMU (scalar)"),
        Encoding("01U_11110_0s_10000_11100_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTAS/FCVTAU (scalar)"),
        Encoding("01U_11110_0s_10000_11101_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "SCVTF/UCVTF (scalar)"),
        Encoding("01U_11110_1s_10000_11010_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTPS/FCVTPU (scalar)"),
        Encoding("01U_11110_1s_10000_11011_10_nnnnn_ddddd", .simdFloatTwoRegisterMisc, "FCVTZS/FCVTZU (scalar)"),
    ]

    /// SCVTF/UCVTF/FCVTZS/FCVTZU (vector and scalar, fixed-point; the "shift by immediate"
    /// encodings, C4.1.95): single and double lanes, one row each.
    static let advancedSIMDFixedPoint: [Encoding] =
        shiftRows(
            "0QU_011110_", "_bbb_11100_1_nnnnn_ddddd", "SCVTF/UCVTF (vector, fixed-point)", sizes: 2,
            .simdFloatTwoRegisterMisc)
        + shiftRows(
            "0QU_011110_", "_bbb_11111_1_nnnnn_ddddd", "FCVTZS/FCVTZU (vector, fixed-point)", sizes: 2,
            .simdFloatTwoRegisterMisc)
        + shiftRows(
            "01U_111110_", "_bbb_11100_1_nnnnn_ddddd", "SCVTF/UCVTF (scalar, fixed-point)", sizes: 2,
            .simdFloatTwoRegisterMisc)
        + shiftRows(
            "01U_111110_", "_bbb_11111_1_nnnnn_ddddd", "FCVTZS/FCVTZU (scalar, fixed-point)", sizes: 2,
            .simdFloatTwoRegisterMisc)
}
