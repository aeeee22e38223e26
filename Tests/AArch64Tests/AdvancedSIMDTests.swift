import AArch64
import TestSupport
import XCTest

/// Directed tests of the Advanced SIMD groups and FP moves, on the idioms C libraries use
/// (strlen/memchr: CMEQ + UMAXV/ADDP + UMOV; popcount: CNT + ADDV) and on the edge cases of
/// each group. Differential coverage is in DifferentialTests (`simdData`, `simdInteger`).
final class AdvancedSIMDTests: XCTestCase {
    private func machine() -> TestMachine {
        let m = TestMachine()
        m.cpu.state.pointee.cpacrEL1 = 3 << 20
        return m
    }

    func testStrlenIdiomFindsTheFirstZeroByte() throws {
        let m = machine()
        m.cpu.setQ(1, low: 0x4847_4645_4443_4241, high: 0x5000_4E4D_4C4B_4A49)  // "ABCDEFGHIJKLMN\0P"
        try m.run([
            "cmeq v2.16b, v1.16b, #0", "umaxv b3, v2.16b", "fmov w4, s3",  // any zero byte?
            "shrn v5.8b, v2.8h, #4", "fmov x6, d5", "rbit x6, x6", "clz x6, x6", "lsr x6, x6, #2",  // its index
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(4), 0xFF)
        XCTAssertEqual(m.cpu.x(6), 14)
        XCTAssertEqual(m.cpu.q(3).high, 0, "UMAXV writes a scalar and clears the rest")
    }

    func testPopcountWithCNTAndADDV() throws {
        let m = machine()
        m.cpu.setX(1, 0xF0F0_0000_0000_0107)
        try m.run(["fmov d0, x1", "cnt v0.8b, v0.8b", "addv b0, v0.8b", "umov w2, v0.b[0]"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(2), 12)
    }

    func testCopyGroupMovesLanesBetweenRegisterFiles() throws {
        let m = machine()
        m.cpu.setQ(1, low: 0x8877_6655_4433_2211, high: 0xFFEE_DDCC_BBAA_9980)
        m.cpu.setX(9, 0x1234_5678_9ABC_DEF0)
        try m.run([
            "smov x2, v1.b[8]", "smov w3, v1.h[7]", "umov w4, v1.h[7]", "mov x5, v1.d[1]",
            "dup v6.8h, v1.h[1]", "dup v7.2s, w9", "mov v8.16b, v1.16b", "ins v8.s[1], w9", "mov v8.b[0], v1.b[15]",
            "fmov v10.d[1], x9", "fmov x11, v10.d[1]",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(2), 0xFFFF_FFFF_FFFF_FF80, "SMOV sign-extends to 64 bits")
        XCTAssertEqual(m.cpu.x(3), 0xFFFF_FFEE, "SMOV to W: upper 32 bits zero")
        XCTAssertEqual(m.cpu.x(4), 0xFFEE)
        XCTAssertEqual(m.cpu.x(5), 0xFFEE_DDCC_BBAA_9980)
        XCTAssertEqual(m.cpu.q(6).low, 0x4433_4433_4433_4433)
        XCTAssertEqual(m.cpu.q(6).high, 0x4433_4433_4433_4433)
        XCTAssertEqual(m.cpu.q(7).low, 0x9ABC_DEF0_9ABC_DEF0)
        XCTAssertEqual(m.cpu.q(7).high, 0, "64-bit arrangement")
        XCTAssertEqual(m.cpu.q(8).low, 0x9ABC_DEF0_4433_22FF, "INS keeps the other lanes")
        XCTAssertEqual(m.cpu.q(8).high, 0xFFEE_DDCC_BBAA_9980)
        XCTAssertEqual(m.cpu.x(11), 0x1234_5678_9ABC_DEF0)
        XCTAssertEqual(m.cpu.q(10).low, 0, "FMOV to the top half keeps the bottom half")
    }

    func testModifiedImmediatesAndFloatMoves() throws {
        let m = machine()
        m.cpu.setQ(3, low: ~0, high: ~0)
        m.cpu.setQ(5, low: 0xC000_0000_0000_0000, high: 7)
        try m.run([
            "movi v0.2d, #0xff00ff0000ff00ff", "movi d1, #0xffff", "mvni v2.4s, #0x12, msl #8",
            "bic v3.8h, #0x80, lsl #8",
            "fmov v4.4s, #-1.5", "fmov d6, #0.25", "fabs d7, d5", "fneg s8, s5", "fmov d9, d5",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.q(0).high, 0xFF00_FF00_00FF_00FF)
        XCTAssertEqual(m.cpu.q(1).low, 0xFFFF)
        XCTAssertEqual(m.cpu.q(1).high, 0)
        XCTAssertEqual(m.cpu.q(2).low, 0xFFFF_ED00_FFFF_ED00, "MVNI of 0x12FF (MSL fills with ones)")
        XCTAssertEqual(m.cpu.q(3).high, 0x7FFF_7FFF_7FFF_7FFF)
        XCTAssertEqual(m.cpu.q(4).low, 0xBFC0_0000_BFC0_0000)
        XCTAssertEqual(m.cpu.q(6).low, 0x3FD0_0000_0000_0000)
        XCTAssertEqual(m.cpu.q(7).low, 0x4000_0000_0000_0000)
        XCTAssertEqual(m.cpu.q(7).high, 0, "scalar FP writes clear the rest")
        XCTAssertEqual(m.cpu.q(8).low, 0x8000_0000, "FNEG (single) flips bit 31 of the low word only")
        XCTAssertEqual(m.cpu.q(9).low, 0xC000_0000_0000_0000)
    }

    func testTableLookupAndShiftsAtTheirLimits() throws {
        let m = machine()
        m.cpu.setQ(0, low: 0x0706_0504_0302_0100, high: 0x0F0E_0D0C_0B0A_0908)
        m.cpu.setQ(1, low: 0x1716_1514_1312_1110, high: 0x1F1E_1D1C_1B1A_1918)
        m.cpu.setQ(2, low: 0x20FF_1F10_0F00_0110, high: 0)
        m.cpu.setQ(3, low: 0xAAAA_AAAA_AAAA_AAAA, high: 0xAAAA_AAAA_AAAA_AAAA)
        m.cpu.setQ(4, low: 0x8000_0000_0000_0001, high: 0x7FFF_FFFF_FFFF_FFFF)
        try m.run([
            "tbl v5.8b, {v0.16b, v1.16b}, v2.8b", "tbx v3.8b, {v0.16b}, v2.8b", "sshr v6.2d, v4.2d, #64",
            "ushr v7.2d, v4.2d, #64", "urshr v8.2d, v4.2d, #64", "ext v9.16b, v0.16b, v1.16b, #15",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.q(5).low, 0x0000_1F10_0F00_0110, "indices past 31 give 0")
        XCTAssertEqual(m.cpu.q(3).low, 0xAAAA_AAAA_0F00_01AA, "TBX keeps out-of-range bytes")
        XCTAssertEqual(m.cpu.q(3).high, 0, "64-bit TBX clears the top")
        XCTAssertEqual(m.cpu.q(6).low, ~0)
        XCTAssertEqual(m.cpu.q(6).high, 0)
        XCTAssertEqual(m.cpu.q(7).low, 0)
        XCTAssertEqual(m.cpu.q(8).low, 1, "rounding shift by 64 keeps bit 63 as the carry-in")
        XCTAssertEqual(m.cpu.q(9).low, 0x1615_1413_1211_100F)
    }

    func testVectorFloatingPointDotProductIdiom() throws {
        let m = machine()
        m.cpu.setQ(0, low: 0x3FF0_0000_0000_0000, high: 0x4000_0000_0000_0000)  // (1, 2)
        m.cpu.setQ(1, low: 0x4008_0000_0000_0000, high: 0x4010_0000_0000_0000)  // (3, 4)
        m.cpu.setQ(2, low: 0x3FE0_0000_0000_0000, high: 0x3FD0_0000_0000_0000)  // (0.5, 0.25)
        m.cpu.setQ(5, low: 0x7F80_0000_4000_0000, high: 0xFFC0_0000_3F80_0000)  // (2, +inf, 1, NaN)
        try m.run([
            "fmla v2.2d, v0.2d, v1.2d", "faddp v3.2d, v2.2d, v2.2d", "fcvtzs v4.4s, v5.4s", "fcmgt v6.4s, v5.4s, #0.0",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.q(2).low, 0x400C_0000_0000_0000, "0.5 + 1 × 3 = 3.5")
        XCTAssertEqual(m.cpu.q(2).high, 0x4020_8000_0000_0000, "0.25 + 2 × 4 = 8.25")
        XCTAssertEqual(m.cpu.q(3).low, 0x4027_8000_0000_0000, "3.5 + 8.25 = 11.75")
        XCTAssertEqual(m.cpu.q(4).low, 0x7FFF_FFFF_0000_0002, "+inf saturates")
        XCTAssertEqual(m.cpu.q(4).high, 0x0000_0000_0000_0001, "a NaN converts to 0")
        XCTAssertEqual(m.cpu.q(6).low, 0xFFFF_FFFF_FFFF_FFFF)
        XCTAssertEqual(m.cpu.q(6).high, 0x0000_0000_FFFF_FFFF, "NaN > 0 is false")
        XCTAssertEqual(m.cpu.state.pointee.fpsr, 1, "IOC: the saturation and the NaN compare")
    }

    func testSaturatingArithmeticClampsAndSetsQC() throws {
        let m = machine()
        m.cpu.setQ(0, low: 0x8000_0000_0000_0000, high: 0x7F01)
        m.cpu.setQ(1, low: 0x8000_0000_0000_0000, high: 0x0102)
        try m.run(["sqadd v2.2d, v0.2d, v1.2d", "uqsub v3.16b, v1.16b, v0.16b", "sqadd v4.16b, v0.16b, v1.16b"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.q(2).low, 0x8000_0000_0000_0000, "INT64_MIN + INT64_MIN clamps")
        XCTAssertEqual(m.cpu.q(3).high, 0x0001, "0x01 - 0x7f clamps to 0, 0x02 - 0x01 = 1")
        XCTAssertEqual(m.cpu.q(4).high, 0x7F03, "0x7f + 0x01 clamps to 0x7f")
        XCTAssertEqual(m.cpu.state.pointee.fpsr, 1 << 27, "QC")
    }

    func testThreeDifferentWidensNarrowsAndMultipliesPolynomials() throws {
        let m = machine()
        m.cpu.setQ(0, low: 0x0000_0000_FFFF_8001, high: 0x0000_0000_0000_00FF)
        m.cpu.setQ(1, low: 0x0000_0000_0002_0003, high: 0x0000_0000_0000_0003)
        try m.run([
            "umull v2.4s, v0.4h, v1.4h", "smull v3.4s, v0.4h, v1.4h", "pmull2 v4.8h, v0.16b, v1.16b",
            "addhn v5.4h, v0.4s, v1.4s",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.q(2).low, 0x0001_FFFE_0001_8003, "0xffff × 2, 0x8001 × 3")
        XCTAssertEqual(m.cpu.q(3).low, 0xFFFF_FFFE_FFFE_8003, "-1 × 2, -32767 × 3")
        XCTAssertEqual(m.cpu.q(4).low, 0x0000_0000_0000_0101, "carry-less: 0xff ⊗ 0x03 = 0xff ^ 0x1fe")
        XCTAssertEqual(m.cpu.q(5).low, 0x0000_0000_0000_0001, "the high half of 0xffff8001 + 0x00020003 (mod 2^32)")
    }

    func testByElementUsesOneLaneOfVmForEveryLane() throws {
        let m = machine()
        m.cpu.setQ(0, low: 0x4000_0000_3F80_0000, high: 0x4080_0000_4040_0000)  // (1, 2, 3, 4)
        m.cpu.setQ(17, low: 0, high: 0x4120_0000_0000_0000)  // lane 3 = 10.0
        m.cpu.setQ(2, low: 0x0003_0002_0001_0000, high: 0)
        m.cpu.setQ(3, low: 0x0000_0007_0000_0000, high: 0)
        try m.run(["fmul v1.4s, v0.4s, v17.s[3]", "mul v4.4h, v2.4h, v3.h[2]"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.q(1).low, 0x41A0_0000_4120_0000, "(10, 20, ...)")
        XCTAssertEqual(m.cpu.q(1).high, 0x4220_0000_41F0_0000, "(..., 30, 40)")
        XCTAssertEqual(m.cpu.q(4).low, 0x0015_000E_0007_0000, "× 7")
    }
}
