import AArch64
import TestSupport
import XCTest

/// Directed tests of scalar FP where Arm and the host FPU differ (Arm ARM J1 `FPRoundBase`,
/// `FPProcessNaNs`, `FPMulAdd`, `FPToFixed`): tininess before rounding, flush-to-zero, default
/// NaN, NaN operand order, saturating conversions. Differential coverage against QEMU is in
/// DifferentialTests (`floatArithmetic`, `floatCompare`, `floatConvert`).
final class FloatingPointTests: XCTestCase {
    static let ioc: UInt64 = 1 << 0
    static let dzc: UInt64 = 1 << 1
    static let ufc: UInt64 = 1 << 3
    static let ixc: UInt64 = 1 << 4
    static let idc: UInt64 = 1 << 7

    private func run(_ program: [String], fpcr: UInt64 = 0, setup: (CPU) -> Void) throws -> TestMachine {
        let m = TestMachine()
        m.cpu.state.pointee.cpacrEL1 = 3 << 20
        m.cpu.state.pointee.fpcr = fpcr
        setup(m.cpu)
        try m.run(program)
        XCTAssertTrue(m.reachedEnd)
        return m
    }

    func testUnderflowIsDetectedBeforeRounding() throws {
        // (1 - 2^-24) × 2^-126 rounds up to the smallest normal: tiny before rounding (Arm), not
        // after (x86), so UFC is set along with IXC.
        let m = try run(["fmul s2, s0, s1"]) { cpu in
            cpu.setQ(0, low: 0x3F7F_FFFF, high: 0)
            cpu.setQ(1, low: 0x0080_0000, high: 0)
        }
        XCTAssertEqual(m.cpu.q(2).low, 0x0080_0000)
        XCTAssertEqual(m.cpu.state.pointee.fpsr, Self.ufc | Self.ixc)
    }

    func testFlushToZeroFlushesTinyResultsWithUFCOnlyAndDenormalInputsWithIDC() throws {
        let fz: UInt64 = 1 << 24
        let m = try run(["fmul s2, s0, s1", "fadd d5, d3, d4"], fpcr: fz) { cpu in
            cpu.setQ(0, low: 0xBF7F_FFFF, high: 0)  // -(1 - 2^-24)
            cpu.setQ(1, low: 0x0080_0000, high: 0)
            cpu.setQ(3, low: 0x0000_0000_0000_0001, high: 0)  // the smallest denormal double
            cpu.setQ(4, low: 0x3FF0_0000_0000_0000, high: 0)
        }
        XCTAssertEqual(m.cpu.q(2).low, 0x8000_0000, "flushed to -0")
        XCTAssertEqual(m.cpu.q(5).low, 0x3FF0_0000_0000_0000, "the denormal input counts as zero: exact")
        XCTAssertEqual(m.cpu.state.pointee.fpsr, Self.ufc | Self.idc)
    }

    func testNaNsPropagateInArmOrderAndDefaultNaNIsPositive() throws {
        let m = try run([
            "fadd d2, d0, d1",  // QNaN, SNaN: the SNaN wins, quietened, IOC
            "fsub d3, d4, d4",  // inf - inf: default NaN 0x7ff8..., not x86's 0xfff8...
            "fnmul d5, d0, d4",  // the NaN result negated
            "fmadd d6, d4, d7, d8",  // QNaN addend with inf × 0: default NaN and IOC
        ]) { cpu in
            cpu.setQ(0, low: 0xFFF8_0000_0000_0005, high: 0)
            cpu.setQ(1, low: 0x7FF0_0000_0000_0009, high: 0)
            cpu.setQ(4, low: 0x7FF0_0000_0000_0000, high: 0)
            cpu.setQ(7, low: 0, high: 0)
            cpu.setQ(8, low: 0x7FF8_0000_0000_0001, high: 0)
        }
        XCTAssertEqual(m.cpu.q(2).low, 0x7FF8_0000_0000_0009)
        XCTAssertEqual(m.cpu.q(3).low, 0x7FF8_0000_0000_0000)
        XCTAssertEqual(m.cpu.q(5).low, 0x7FF8_0000_0000_0005)
        XCTAssertEqual(m.cpu.q(6).low, 0x7FF8_0000_0000_0000)
        XCTAssertEqual(m.cpu.state.pointee.fpsr, Self.ioc)
    }

    func testDefaultNaNModeAndMaxNumWithAQuietNaN() throws {
        let dn: UInt64 = 1 << 25
        let m = try run(["fadd s2, s0, s1", "fmaxnm s3, s0, s1", "fmin s4, s5, s6"], fpcr: dn) { cpu in
            cpu.setQ(0, low: 0x7FC0_1234, high: 0)
            cpu.setQ(1, low: 0xC000_0000, high: 0)  // -2.0
            cpu.setQ(5, low: 0x0000_0000, high: 0)
            cpu.setQ(6, low: 0x8000_0000, high: 0)
        }
        XCTAssertEqual(m.cpu.q(2).low, 0x7FC0_0000, "DN: the default NaN, not the operand")
        XCTAssertEqual(m.cpu.q(3).low, 0xC000_0000, "FMAXNM: the number beats a quiet NaN")
        XCTAssertEqual(m.cpu.q(4).low, 0x8000_0000, "FMIN(+0, -0) = -0")
        XCTAssertEqual(m.cpu.state.pointee.fpsr, 0)
    }

    func testConversionsToIntegerRoundAsAskedAndSaturate() throws {
        let m = try run([
            "fcvtas w0, d0", "fcvtns w1, d0", "fcvtms x2, d1", "fcvtzu w3, d1", "fcvtzs w4, d2", "fcvtzs x5, d3, #4",
            "ucvtf s6, x6", "scvtf d7, w7, #1",
        ]) { cpu in
            cpu.setQ(0, low: 0x4004_0000_0000_0000, high: 0)  // 2.5
            cpu.setQ(1, low: 0xBFE0_0000_0000_0000, high: 0)  // -0.5
            cpu.setQ(2, low: 0x41F0_0000_0000_0000, high: 0)  // 2^32
            cpu.setQ(3, low: 0x3FF8_0000_0000_0000, high: 0)  // 1.5
            cpu.setX(6, 0xFFFF_FFFF_FFFF_FFFF)
            cpu.setX(7, 0xFFFF_FFFD)  // -3
        }
        XCTAssertEqual(m.cpu.x(0), 3, "ties away")
        XCTAssertEqual(m.cpu.x(1), 2, "ties to even")
        XCTAssertEqual(m.cpu.x(2), 0xFFFF_FFFF_FFFF_FFFF, "-0.5 rounded down is -1")
        XCTAssertEqual(m.cpu.x(3), 0, "-0.5 towards zero is 0 (inexact, not invalid)")
        XCTAssertEqual(m.cpu.x(4), 0x7FFF_FFFF, "saturated")
        XCTAssertEqual(m.cpu.x(5), 24, "1.5 in fixed point with 4 fraction bits")
        XCTAssertEqual(m.cpu.q(6).low, 0x5F80_0000, "2^64 - 1 rounds to 2^64")
        XCTAssertEqual(m.cpu.q(7).low, 0xBFF8_0000_0000_0000, "-3 / 2")
        XCTAssertEqual(m.cpu.state.pointee.fpsr, Self.ioc | Self.ixc)
    }

    func testCompareSetsNZCVAndSignalsOnlyWhereAsked() throws {
        let m = try run([
            "fcmp d0, d1", "mrs x0, nzcv", "fcmp d0, #0.0", "mrs x1, nzcv", "fcmp d2, d0", "mrs x2, nzcv",
            "fcmpe d2, d0", "mrs x3, nzcv",
        ]) { cpu in
            cpu.setQ(0, low: 0x8000_0000_0000_0000, high: 0)  // -0
            cpu.setQ(1, low: 0x3FF0_0000_0000_0000, high: 0)
            cpu.setQ(2, low: 0x7FF8_0000_0000_0000, high: 0)
        }
        XCTAssertEqual(m.cpu.x(0), 0x8000_0000, "less")
        XCTAssertEqual(m.cpu.x(1), 0x6000_0000, "-0 == +0")
        XCTAssertEqual(m.cpu.x(2), 0x3000_0000, "unordered")
        XCTAssertEqual(m.cpu.x(3), 0x3000_0000)
        XCTAssertEqual(m.cpu.state.pointee.fpsr, Self.ioc, "only FCMPE raises IOC for a quiet NaN")
    }
}

extension FloatingPointTests {
    func testEstimatesFollowTheArchitecturesIntegerAlgorithms() throws {
        let m = try run([
            "frecpe d1, d0", "frsqrte s3, s2", "frecpx d5, d4", "frecps s7, s6, s6", "frsqrts d9, d8, d8",
            "frecpe s11, s10",
        ]) { cpu in
            cpu.setQ(0, low: 0x4008_0000_0000_0000, high: 0)  // 3.0
            cpu.setQ(2, low: 0x4080_0000, high: 0)  // 4.0f
            cpu.setQ(4, low: 0x4008_0000_0000_0000, high: 0)
            cpu.setQ(6, low: 0x7F80_0000, high: 0)  // inf: 2 - inf × inf
            cpu.setQ(8, low: 0x3FF0_0000_0000_0000, high: 0)  // (3 - 1 × 1) / 2 = 1
            cpu.setQ(10, low: 0x0000_0001, high: 0)  // the smallest denormal: reciprocal overflows
        }
        XCTAssertEqual(m.cpu.q(1).low, 0x3FD5_5000_0000_0000, "1/3 to 8 bits")
        XCTAssertEqual(m.cpu.q(3).low, 0x3EFF_8000, "1/sqrt(4): the 8-bit estimate just below 0.5")
        XCTAssertEqual(m.cpu.q(5).low, 0x3FF0_0000_0000_0000, "FRECPX: exponent 0x400 inverted, fraction 0")
        XCTAssertEqual(m.cpu.q(7).low, 0xFF80_0000, "2 - inf × inf = -inf")
        XCTAssertEqual(m.cpu.q(9).low, 0x3FF0_0000_0000_0000)
        XCTAssertEqual(m.cpu.q(11).low, 0x7F80_0000, "round to nearest: +inf")
        XCTAssertEqual(m.cpu.state.pointee.fpsr, (1 << 2) | Self.ixc, "OFC and IXC from the overflow")
    }
}

extension FloatingPointTests {
    func testHalfPrecisionConversionsIEEEAndAlternative() throws {
        let program = ["fcvt h1, s0", "fcvt h3, d2", "fcvt s5, h4", "fcvt h7, s6"]
        let ieee = try run(program) { cpu in
            cpu.setQ(0, low: 0x477F_F000, high: 0)  // 65520: rounds up past the largest half
            cpu.setQ(2, low: 0x3E70_0000_0000_0000, high: 0)  // 2^-24: the smallest denormal half
            cpu.setQ(4, low: 0x7C01, high: 0)  // a signalling NaN half
            cpu.setQ(6, low: 0x7F80_0000, high: 0)  // +inf
        }
        XCTAssertEqual(ieee.cpu.q(1).low, 0x7C00, "overflow to +inf")
        XCTAssertEqual(ieee.cpu.q(3).low, 0x0001)
        XCTAssertEqual(ieee.cpu.q(5).low, 0x7FC0_2000, "quietened, payload kept")
        XCTAssertEqual(ieee.cpu.q(7).low, 0x7C00)
        XCTAssertEqual(ieee.cpu.state.pointee.fpsr, Self.ioc | (1 << 2) | Self.ixc)

        let ahp: UInt64 = 1 << 26
        let alternative = try run(program, fpcr: ahp) { cpu in
            cpu.setQ(0, low: 0x477F_F000, high: 0)
            cpu.setQ(2, low: 0x3E70_0000_0000_0000, high: 0)
            cpu.setQ(4, low: 0x7C01, high: 0)  // exponent 31 is a normal number: 65536 + 64
            cpu.setQ(6, low: 0x7F80_0000, high: 0)
        }
        XCTAssertEqual(alternative.cpu.q(1).low, 0x7C00, "65520 rounds to 65536: exponent 31 is normal")
        XCTAssertEqual(alternative.cpu.q(5).low, 0x4780_2000, "65600.0")
        XCTAssertEqual(alternative.cpu.q(7).low, 0x7FFF, "no infinity: the largest magnitude, IOC")
        XCTAssertEqual(alternative.cpu.state.pointee.fpsr, Self.ioc | Self.ixc, "65520 is rounded")
    }
}
