import AArch64
import TestSupport
import XCTest

/// Directed tests of the AdvSIMD forms issue 8 added last: the saturating arithmetic (FPSR.QC),
/// register shifts, long pairwise adds, the long and scalar by-element forms, the AdvSIMD scalar
/// groups, FMAXV & co., URECPE/URSQRTE, FCVTXN and the fixed-point conversions. Every program
/// runs under `qemu-aarch64` and on the core from the same registers: the two must agree on
/// everything (`DiffComparison`), and the values asserted are worked out by hand from the Arm
/// ARM pseudocode. Random coverage of the same rows is `DifferentialTests.testSIMDScalar`,
/// `testSIMDInteger` and `testSIMDFloat`.
final class AdvancedSIMDSaturatingTests: XCTestCase {
    private static let qc: UInt64 = FloatingPointControl.saturation
    private static let ioc: UInt64 = FloatingPointControl.invalidOperation
    private static let ixc: UInt64 = FloatingPointControl.inexact

    /// Runs `source` (at most 8 instructions) from Q registers `q` (the rest zero), FPCR `fpcr`
    /// and FPSR 0 on QEMU and on the core, requires both to complete with identical state, and
    /// returns the final SIMD&FP state.
    private func run(
        _ source: [String], _ q: [Int: (low: UInt64, high: UInt64)], fpcr: UInt64 = 0, file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> DiffVectorState {
        let layout = DiffLayout()
        var registers = [UInt64](repeating: 0, count: 64)
        for (n, value) in q {
            registers[2 * n] = value.low
            registers[2 * n + 1] = value.high
        }
        let state = DiffState(
            x: Array(repeating: 0, count: 31), nzcv: 0, window: Array(repeating: 0, count: layout.windowSize),
            vector: DiffVectorState(q: registers, fpcr: fpcr, fpsr: 0))
        let c = DiffCase(
            diffClass: .simdScalar, seed: 0, index: 0, address: layout.sequenceAddress(0),
            words: try CrossAssembler.encode(source), state: state)
        let qemu = try QEMUDiffRunner.run([c], layout: layout)[0]
        let core = try ArmvisorDiffRunner(layout: layout).run(c)
        XCTAssertEqual(qemu.end, .completed, "QEMU", file: file, line: line)
        XCTAssertEqual(core.end, .completed, "armvisor", file: file, line: line)
        XCTAssertEqual(DiffComparison.differences(qemu: qemu, armvisor: core), [], file: file, line: line)
        return try XCTUnwrap(core.state.vector, file: file, line: line)
    }

    private func q(_ s: DiffVectorState, _ n: Int) -> [UInt64] { [s.q[2 * n], s.q[2 * n + 1]] }

    func testDoublingMultiplyHighSaturatesOnlyTheMostNegativeSquare() throws {
        let s = try run(
            [
                "sqdmulh v0.8h, v1.8h, v2.8h", "sqrdmulh h3, h4, h5", "sqdmulh h6, h4, h5", "sqdmulh s9, s7, v8.s[1]",
                "sqrdmulh v10.4s, v7.4s, v8.s[1]",
            ],
            [
                1: (0x8000_8000_8000_8000, 0x8000_8000_8000_8000), 2: (0x8000_8000_8000_8000, 0x8000_8000_8000_8000),
                4: (0x4000, 0), 5: (3, 0), 7: (0x4000_0000, 0), 8: (0x4000_0000_0000_0000, 0),
            ])
        XCTAssertEqual(q(s, 0), [0x7FFF_7FFF_7FFF_7FFF, 0x7FFF_7FFF_7FFF_7FFF], "(-1) × (-1) × 2 saturates")
        XCTAssertEqual(q(s, 3), [2, 0], "0x18000 + 0x8000 rounds up")
        XCTAssertEqual(q(s, 6), [1, 0], "0x18000 truncated")
        XCTAssertEqual(q(s, 9), [0x2000_0000, 0], "scalar by element: 2 × 2^30 × 2^30 >> 32")
        XCTAssertEqual(q(s, 10), [0x2000_0000, 0])
        XCTAssertEqual(s.fpsr, Self.qc)

        let quiet = try run(["sqrdmulh h3, h4, h5"], [4: (0x4000, 0), 5: (3, 0)])
        XCTAssertEqual(quiet.fpsr, 0, "no saturation, no QC")
    }

    func testRegisterShiftsTakeTheSignedLowByteAndRoundOrSaturate() throws {
        let v1: (low: UInt64, high: UInt64) = (0x0000_0001_8000_0000, 0x1234_5678_FFFF_FFF8)
        let v2: (low: UInt64, high: UInt64) = (0x0000_001F_0000_00FF, 0x0000_0100_0000_00FC)  // -1, 31, -4, 0
        let s = try run(
            [
                "sshl v0.4s, v1.4s, v2.4s", "srshl v3.4s, v1.4s, v2.4s", "ushl v4.4s, v1.4s, v2.4s",
                "urshl v5.4s, v1.4s, v2.4s", "sqshl v6.4s, v1.4s, v2.4s", "uqshl d7, d8, d9", "uqrshl d10, d8, d11",
                "sqrshl b12, b13, b14",
            ],
            [
                1: v1, 2: v2, 8: (0x8000_0000_0000_0000, 0), 9: (1, 0), 11: (0xC1, 0), 13: (0x40, 0),
                14: (2, 0),
            ])
        XCTAssertEqual(q(s, 0), [0x8000_0000_C000_0000, 0x1234_5678_FFFF_FFFF], "arithmetic right, left, 0x100 = 0")
        XCTAssertEqual(q(s, 3), [0x8000_0000_C000_0000, 0x1234_5678_0000_0000], "(-8 + 8) >> 4 = 0")
        XCTAssertEqual(q(s, 4), [0x8000_0000_4000_0000, 0x1234_5678_0FFF_FFFF])
        XCTAssertEqual(q(s, 5), [0x8000_0000_4000_0000, 0x1234_5678_1000_0000])
        XCTAssertEqual(q(s, 6), [0x7FFF_FFFF_C000_0000, 0x1234_5678_FFFF_FFFF], "1 << 31 saturates")
        XCTAssertEqual(q(s, 7), [~0, 0])
        XCTAssertEqual(q(s, 10), [1, 0], "(2^63 + 2^62) >> 63")
        XCTAssertEqual(q(s, 12), [0x7F, 0])
        XCTAssertEqual(s.fpsr, Self.qc)
    }

    func testSaturatingNarrowing() throws {
        let s = try run(
            [
                "sqxtn v0.8b, v1.8h", "uqxtn2 v2.16b, v1.8h", "sqxtun h3, s4", "sqxtun h5, s6", "sqshrn s7, d8, #16",
                "sqrshrun v9.8b, v10.8h, #4", "uqrshrn b11, h12, #1",
            ],
            [
                1: (0xFF80_007F_FF00_0100, 0xFFFF_0001_0000_0080),
                2: (0x1111_1111_1111_1111, 0x2222_2222_2222_2222),
                4: (0xFFFF_FFFF, 0), 6: (0x0001_2345, 0), 8: (0x0001_0000_0000_0000, 0),
                10: (0x0008_0007_0FF8_FFF0, 0x0017_8000_0010_7FFF), 12: (0x01FF, 0),
            ])
        XCTAssertEqual(q(s, 0), [0xFF01_007F_807F_807F, 0])
        XCTAssertEqual(q(s, 2), [0x1111_1111_1111_1111, 0xFF01_0080_FF7F_FFFF], "the 2 form keeps the low half")
        XCTAssertEqual(q(s, 3), [0, 0], "-1 to unsigned")
        XCTAssertEqual(q(s, 5), [0xFFFF, 0])
        XCTAssertEqual(q(s, 7), [0x7FFF_FFFF, 0])
        XCTAssertEqual(q(s, 9), [0x0100_01FF_0100_FF00, 0])
        XCTAssertEqual(q(s, 11), [0xFF, 0], "(511 + 1) >> 1 = 256")
        XCTAssertEqual(s.fpsr, Self.qc)
    }

    func testSaturatingUnaryAccumulateAndLongPairwise() throws {
        let s = try run(
            [
                "sqabs v0.4s, v1.4s", "sqneg d2, d3", "suqadd b4, b5", "usqadd h6, h7", "saddlp v8.4s, v9.8h",
                "uadalp v10.2d, v11.4s", "shll2 v12.4s, v13.8h, #16", "saddlp v14.1d, v1.2s",
            ],
            [
                1: (0xFFFF_FFFF_8000_0000, 0x7FFF_FFFF_0000_0005), 3: (0x8000_0000_0000_0000, 0),
                4: (0xAAAA_AAAA_AAAA_AA70, 0xAAAA_AAAA_AAAA_AAAA), 5: (0x20, 0), 6: (5, 0), 7: (0xFFF0, 0),
                9: (0x7FFF_7FFF_FFFF_FFFF, 0x0004_0003_0002_0001), 10: (1, 2),
                11: (0xFFFF_FFFF_FFFF_FFFF, 0x0000_0002_0000_0001), 13: (0, 0x0004_0003_0002_8001),
            ])
        XCTAssertEqual(q(s, 0), [0x0000_0001_7FFF_FFFF, 0x7FFF_FFFF_0000_0005])
        XCTAssertEqual(q(s, 2), [0x7FFF_FFFF_FFFF_FFFF, 0])
        XCTAssertEqual(q(s, 4), [0x7F, 0], "112 + 32 saturates; the scalar clears the rest")
        XCTAssertEqual(q(s, 6), [0, 0], "5 - 16 to unsigned")
        XCTAssertEqual(q(s, 8), [0x0000_FFFE_FFFF_FFFE, 0x0000_0007_0000_0003])
        XCTAssertEqual(q(s, 10), [0x1_FFFF_FFFF, 5])
        XCTAssertEqual(q(s, 12), [0x0002_0000_8001_0000, 0x0004_0000_0003_0000])
        XCTAssertEqual(q(s, 14), [0xFFFF_FFFF_7FFF_FFFF, 0])
        XCTAssertEqual(s.fpsr, Self.qc)
    }

    func testSaturatingShiftLeftByImmediate() throws {
        let s = try run(
            [
                "sqshlu v0.4s, v1.4s, #4", "uqshl b2, b3, #1", "sqshl d4, d5, #63", "sqshl v6.8h, v7.8h, #3",
                "uqshl s8, s9, #31",
            ],
            [
                1: (0x1000_0000_FFFF_FFFF, 0x0000_0007_0100_0000), 3: (0x80, 0), 5: (1, 0),
                7: (0xEFFF_1000_F000_0FFF, 0x0004_0003_0002_0001), 9: (1, 0),
            ])
        XCTAssertEqual(q(s, 0), [0xFFFF_FFFF_0000_0000, 0x0000_0070_1000_0000], "negative to 0, 2^32 to the max")
        XCTAssertEqual(q(s, 2), [0xFF, 0])
        XCTAssertEqual(q(s, 4), [0x7FFF_FFFF_FFFF_FFFF, 0])
        XCTAssertEqual(q(s, 6), [0x8000_7FFF_8000_7FF8, 0x0020_0018_0010_0008])
        XCTAssertEqual(q(s, 8), [0x8000_0000, 0])
        XCTAssertEqual(s.fpsr, Self.qc)
    }

    func testDoublingLongAndLongByElement() throws {
        let s = try run(
            [
                "sqdmull v0.4s, v1.4h, v2.4h", "sqdmlal d3, s4, s5", "sqdmlsl2 v6.2d, v7.4s, v8.4s",
                "smull v9.4s, v10.4h, v11.h[3]", "umlal2 v12.2d, v13.4s, v14.s[1]", "sqdmull s15, h16, v15.h[7]",
            ],
            [
                1: (0xFFFF_0002_8000_8000, 0), 2: (0xFFFF_0003_0001_8000, 0), 3: (0x7FFF_FFFF_FFFF_FFF0, 0),
                4: (0x10, 0), 5: (1, 0), 6: (0, 5), 7: (0, 0x0000_0003_8000_0000), 8: (0, 0x0000_0004_8000_0000),
                10: (0x0004_0003_FFFF_0001, 0), 11: (0xFFFE_0000_0000_0000, 0), 12: (1, 2),
                13: (0, 0x0000_0002_FFFF_FFFF), 14: (0xFFFF_FFFF_0000_0000, 0), 16: (0x8000, 0),
                15: (0, 0x8000_0000_0000_0000),
            ])
        XCTAssertEqual(q(s, 0), [0xFFFF_0000_7FFF_FFFF, 0x0000_0002_0000_000C])
        XCTAssertEqual(q(s, 3), [0x7FFF_FFFF_FFFF_FFFF, 0], "the accumulation saturates")
        XCTAssertEqual(q(s, 6), [0x8000_0000_0000_0001, 0xFFFF_FFFF_FFFF_FFED], "0 - saturated product; 5 - 24")
        XCTAssertEqual(q(s, 9), [0x0000_0002_FFFF_FFFE, 0xFFFF_FFF8_FFFF_FFFA])
        XCTAssertEqual(q(s, 12), [0xFFFF_FFFE_0000_0002, 0x2_0000_0000])
        XCTAssertEqual(q(s, 15), [0x7FFF_FFFF, 0])
        XCTAssertEqual(s.fpsr, Self.qc)
    }

    func testAcrossLanesEstimatesAndFixedPoint() throws {
        let s = try run(
            [
                "fmaxv s0, v1.4s", "fminnmv s2, v3.4s", "fminv s4, v3.4s", "urecpe v5.4s, v6.4s",
                "ursqrte v7.2s, v8.2s", "scvtf v9.4s, v10.4s, #16", "fcvtzu d11, d12, #8",
                "fcvtzs v13.2d, v14.2d, #1",
            ],
            [
                1: (0xC040_0000_3F80_0000, 0x3F00_0000_4020_0000), 3: (0x4080_0000_7FC0_0000, 0x4100_0000_BF80_0000),
                6: (0x8000_0000_7FFF_FFFF, 0xC000_0000_FFFF_FFFF), 8: (0x4000_0000_3FFF_FFFF, 0),
                10: (0xFFFF_8000_0001_0000, 0x0000_0001_0001_8000), 12: (0x4004_0000_0000_0000, 0),
                14: (0xBFFC_0000_0000_0000, 0x7E37_E43C_8800_759C),
            ])
        XCTAssertEqual(q(s, 0), [0x4020_0000, 0], "max(max(1, -3), max(2.5, 0.5))")
        XCTAssertEqual(q(s, 2), [0xBF80_0000, 0], "FMINNM ignores the quiet NaN")
        XCTAssertEqual(q(s, 4), [0x7FC0_0000, 0], "FMIN propagates it")
        XCTAssertEqual(q(s, 5), [0xFF80_0000_FFFF_FFFF, 0xAA80_0000_8000_0000])
        XCTAssertEqual(q(s, 7), [0xFF80_0000_FFFF_FFFF, 0])
        XCTAssertEqual(q(s, 9), [0xBF00_0000_3F80_0000, 0x3780_0000_3FC0_0000], "1, -0.5, 1.5, 2^-16")
        XCTAssertEqual(q(s, 11), [640, 0])
        XCTAssertEqual(q(s, 13), [0xFFFF_FFFF_FFFF_FFFD, 0x7FFF_FFFF_FFFF_FFFF], "-3.5 truncated; 1e300 saturates")
        XCTAssertEqual(s.fpsr, Self.ioc | Self.ixc, "no QC from the FP conversions")
    }

    func testScalarIntegerFormsUseOneElementAndClearTheRest() throws {
        let s = try run(
            [
                "add d0, d1, d2", "cmgt d3, d1, d2", "cmeq d4, d1, #0", "neg d5, d2", "sshr d6, d2, #1",
                "mov h7, v8.h[5]", "sqadd b9, b10, b11", "ushr d12, d2, #64",
            ],
            [
                1: (5, 0xDEAD), 2: (0xFFFF_FFFF_FFFF_FFFE, 0xBEEF), 3: (~0, ~0), 7: (~0, ~0),
                8: (0, 0x1234_5678_9ABC_DEF0), 10: (0x7F, 0), 11: (1, 0), 12: (~0, ~0),
            ])
        XCTAssertEqual(q(s, 0), [3, 0])
        XCTAssertEqual(q(s, 3), [~0, 0], "5 > -2 signed")
        XCTAssertEqual(q(s, 4), [0, 0])
        XCTAssertEqual(q(s, 5), [2, 0])
        XCTAssertEqual(q(s, 6), [~0, 0])
        XCTAssertEqual(q(s, 7), [0x9ABC, 0], "DUP (element, scalar)")
        XCTAssertEqual(q(s, 9), [0x7F, 0])
        XCTAssertEqual(q(s, 12), [0, 0], "USHR #64")
        XCTAssertEqual(s.fpsr, Self.qc)
    }

    func testScalarFloatingPointForms() throws {
        let s = try run(
            [
                "fabd s0, s1, s2", "fcmgt d3, d4, #0.0", "facgt s6, s2, s1", "fmul s7, s1, v2.s[0]",
                "fmulx d8, d9, v10.d[1]", "fcvtzs s11, s12", "scvtf d13, d14", "fcvtxn s15, d16",
            ],
            [
                1: (0x3F80_0000, 0), 2: (0x4060_0000, 0), 4: (0x8000_0000_0000_0000, 0),
                9: (0x7FF0_0000_0000_0000, 0), 10: (0, 0x8000_0000_0000_0000), 12: (0xC020_0000, 0),
                14: (0xFFFF_FFFF_FFFF_FFFD, 0), 16: (0x3FF0_0000_0400_0000, 0),
            ])
        XCTAssertEqual(q(s, 0), [0x4020_0000, 0], "|1 - 3.5|")
        XCTAssertEqual(q(s, 3), [0, 0], "-0 > 0 is false")
        XCTAssertEqual(q(s, 6), [0xFFFF_FFFF, 0])
        XCTAssertEqual(q(s, 7), [0x4060_0000, 0])
        XCTAssertEqual(q(s, 8), [0xC000_0000_0000_0000, 0], "FMULX: ∞ × -0 = -2")
        XCTAssertEqual(q(s, 11), [0xFFFF_FFFE, 0])
        XCTAssertEqual(q(s, 13), [0xC008_0000_0000_0000, 0])
        XCTAssertEqual(q(s, 15), [0x3F80_0001, 0], "1 + 2^-30 rounded to odd")
        XCTAssertEqual(s.fpsr, Self.ixc)
    }
}
