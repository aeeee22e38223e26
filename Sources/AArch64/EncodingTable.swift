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
/// Field letters follow the Arm ARM: s = sf, o = opc, h = hw/shift, i = immediate, n = Rn,
/// d = Rd/Rt, m = Rm, c = cond, z = size, r/S = immr/imms, N = N bit, b = b5/b40.
/// The decoder tries the most specific pattern first (most fixed bits), so aliases such as RET
/// win over the general form they specialise.
///
/// Not yet implemented (decode to UNDEF; issue "A64 integer core"): extended-register and
/// with-carry arithmetic, bitfield moves, EXTR, conditional select/compare, multiply/divide,
/// one-source ops (RBIT/REV/CLZ), CRC32, every load/store form other than unsigned offset,
/// exclusives and acquire/release, SYS/SYSL (DC/IC/AT/TLBI), and all FP/AdvSIMD.
public enum EncodingTable {
    public static let all: [Encoding] = [
        // Data processing, immediate.
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
        Encoding("0ii_10000_iiiiiiiiiiiiiiiiiii_ddddd", .adr, "ADR"),
        Encoding("1ii_10000_iiiiiiiiiiiiiiiiiii_ddddd", .adrp, "ADRP"),

        // Data processing, shifted register.
        Encoding("s00_01011_hh0_mmmmm_iiiiii_nnnnn_ddddd", .addShifted, "ADD (shifted register)"),
        Encoding("s01_01011_hh0_mmmmm_iiiiii_nnnnn_ddddd", .addsShifted, "ADDS (shifted register)"),
        Encoding("s10_01011_hh0_mmmmm_iiiiii_nnnnn_ddddd", .subShifted, "SUB (shifted register)"),
        Encoding("s11_01011_hh0_mmmmm_iiiiii_nnnnn_ddddd", .subsShifted, "SUBS (shifted register)"),
        Encoding("s00_01010_hh0_mmmmm_iiiiii_nnnnn_ddddd", .andShifted, "AND (shifted register)"),
        Encoding("s00_01010_hh1_mmmmm_iiiiii_nnnnn_ddddd", .bicShifted, "BIC (shifted register)"),
        Encoding("s01_01010_hh0_mmmmm_iiiiii_nnnnn_ddddd", .orrShifted, "ORR (shifted register)"),
        Encoding("s01_01010_hh1_mmmmm_iiiiii_nnnnn_ddddd", .ornShifted, "ORN (shifted register)"),
        Encoding("s10_01010_hh0_mmmmm_iiiiii_nnnnn_ddddd", .eorShifted, "EOR (shifted register)"),
        Encoding("s10_01010_hh1_mmmmm_iiiiii_nnnnn_ddddd", .eonShifted, "EON (shifted register)"),
        Encoding("s11_01010_hh0_mmmmm_iiiiii_nnnnn_ddddd", .andsShifted, "ANDS (shifted register)"),
        Encoding("s11_01010_hh1_mmmmm_iiiiii_nnnnn_ddddd", .bicsShifted, "BICS (shifted register)"),

        // Branches.
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

        // Exception generation.
        Encoding("11010100_000_iiiiiiiiiiiiiiii_000_01", .svc, "SVC"),
        Encoding("11010100_000_iiiiiiiiiiiiiiii_000_10", .hvc, "HVC"),
        Encoding("11010100_000_iiiiiiiiiiiiiiii_000_11", .smc, "SMC"),
        Encoding("11010100_001_iiiiiiiiiiiiiiii_000_00", .brk, "BRK"),
        Encoding("11010100_010_iiiiiiiiiiiiiiii_000_00", .hlt, "HLT"),

        // System: hints, barriers, PSTATE, system-register moves.
        Encoding("11010101_00000011_0010_0000_011_11111", .wfi, "WFI"),
        Encoding("11010101_00000011_0010_0000_010_11111", .wfe, "WFE"),
        Encoding("11010101_00000011_0010_mmmm_ooo_11111", .hint, "HINT"),
        Encoding("11010101_00000011_0011_mmmm_010_11111", .clrex, "CLREX"),
        Encoding("11010101_00000011_0011_mmmm_100_11111", .barrier, "DSB"),
        Encoding("11010101_00000011_0011_mmmm_101_11111", .barrier, "DMB"),
        Encoding("11010101_00000011_0011_mmmm_110_11111", .isb, "ISB"),
        Encoding("11010101_00000_ooo_0100_mmmm_ooo_11111", .msrImmediate, "MSR (immediate)"),
        Encoding("11010101_0011_rrrrrrrrrrrrrrr_ddddd", .mrs, "MRS"),
        Encoding("11010101_0001_rrrrrrrrrrrrrrr_ddddd", .msrRegister, "MSR (register)"),

        // Loads and stores, unsigned offset (GPR only; V=0).
        Encoding("zz_111_0_01_00_iiiiiiiiiiii_nnnnn_ddddd", .storeUnsignedOffset, "STR (immediate, unsigned offset)"),
        Encoding("zz_111_0_01_01_iiiiiiiiiiii_nnnnn_ddddd", .loadUnsignedOffset, "LDR (immediate, unsigned offset)"),
        Encoding("11_111_0_01_10_iiiiiiiiiiii_nnnnn_ddddd", .prefetch, "PRFM (immediate)"),
        Encoding("0z_111_0_01_1o_iiiiiiiiiiii_nnnnn_ddddd", .loadSignedUnsignedOffset, "LDRSB/LDRSH (immediate, unsigned offset)"),
        Encoding("10_111_0_01_10_iiiiiiiiiiii_nnnnn_ddddd", .loadSignedUnsignedOffset, "LDRSW (immediate, unsigned offset)"),
    ]
}
