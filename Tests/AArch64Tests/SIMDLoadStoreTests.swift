import AArch64
import TestSupport
import XCTest

/// SIMD&FP loads and stores (Arm ARM C3.2.8, C3.2.9): register views, page crossing, fault
/// atomicity and the structure (de-)interleaving. Differential coverage is in
/// DifferentialTests (`vectorLoadStore`, `vectorStructure`).
final class SIMDLoadStoreTests: XCTestCase {
    private func machine() -> TestMachine {
        let m = TestMachine()
        m.cpu.state.pointee.cpacrEL1 = 3 << 20
        return m
    }

    func testNarrowLoadsClearTheRestOfTheRegister() throws {
        let m = machine()
        let data = TestMachine.ramBase + 0x8000
        m.write64(data, 0x8877_6655_4433_2211)
        m.write64(data + 8, 0xFFEE_DDCC_BBAA_0099)
        for n in 0..<5 { m.cpu.setQ(n, low: ~0, high: ~0) }
        m.cpu.setX(1, data)
        try m.run(["ldr b0, [x1]", "ldr h1, [x1, #2]", "ldr s2, [x1], #4", "ldr d3, [x1, #-4]!", "ldur q4, [x1]"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.q(0).low, 0x11)
        XCTAssertEqual(m.cpu.q(0).high, 0)
        XCTAssertEqual(m.cpu.q(1).low, 0x4433)
        XCTAssertEqual(m.cpu.q(2).low, 0x4433_2211)
        XCTAssertEqual(m.cpu.q(3).low, 0x8877_6655_4433_2211)
        XCTAssertEqual(m.cpu.q(3).high, 0)
        XCTAssertEqual(m.cpu.q(4).low, 0x8877_6655_4433_2211)
        XCTAssertEqual(m.cpu.q(4).high, 0xFFEE_DDCC_BBAA_0099)
        XCTAssertEqual(m.cpu.x(1), data, "post-index +4 then pre-index -4")
    }

    func testPairOfQAcrossAPageBoundaryStoresAndLoadsEveryByte() throws {
        let m = machine()
        let address = TestMachine.ramBase + 0x9000 - 24
        m.cpu.setQ(0, low: 0x0706_0504_0302_0100, high: 0x0F0E_0D0C_0B0A_0908)
        m.cpu.setQ(1, low: 0x1716_1514_1312_1110, high: 0x1F1E_1D1C_1B1A_1918)
        m.cpu.setX(2, address)
        try m.run(["stp q0, q1, [x2]", "ldp q3, q4, [x2]", "ldr q5, [x2, #16]"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.read64(address + 16), 0x1716_1514_1312_1110)
        XCTAssertEqual(m.read64(address + 24), 0x1F1E_1D1C_1B1A_1918, "second page")
        XCTAssertEqual(m.cpu.q(3).high, 0x0F0E_0D0C_0B0A_0908)
        XCTAssertEqual(m.cpu.q(4).low, 0x1716_1514_1312_1110)
        XCTAssertEqual(m.cpu.q(5).high, 0x1F1E_1D1C_1B1A_1918)
    }

    func testStoreWhoseSecondPageFaultsWritesNothing() throws {
        let m = machine()
        let end = TestMachine.ramBase + TestMachine.ramSize
        m.write64(end - 8, 0x5555_5555_5555_5555)
        m.cpu.setQ(0, low: 0x1111, high: 0x2222)
        m.cpu.setX(2, end - 8)
        XCTAssertEqual(try m.run(["str q0, [x2]"]), .trap, "the tail is outside RAM: an abort to EL2")
        XCTAssertEqual(m.exceptionClass, ExceptionClass.dataAbortLowerEL.rawValue)
        XCTAssertEqual(m.read64(end - 8), 0x5555_5555_5555_5555, "the head was not written")
    }

    func testLD4DeinterleavesAndST4Interleaves() throws {
        let m = machine()
        let data = TestMachine.ramBase + 0x8000
        for i in 0..<4 { m.write64(data + UInt64(8 * i), 0x0706_0504_0302_0100 &+ UInt64(i) &* 0x0808_0808_0808_0808) }
        m.cpu.setX(1, data)
        try m.run(["ld4 {v4.8b-v7.8b}, [x1], #32", "st1 {v4.8b-v7.8b}, [x1]", "ld4r {v16.4s-v19.4s}, [x1]"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.q(4).low, 0x1C18_1410_0C08_0400, "bytes 0, 4, 8, ...")
        XCTAssertEqual(m.cpu.q(7).low, 0x1F1B_1713_0F0B_0703)
        XCTAssertEqual(m.cpu.q(7).high, 0, "64-bit arrangement clears the top half")
        XCTAssertEqual(m.cpu.x(1), data + 32)
        XCTAssertEqual(m.read64(data + 32), 0x1C18_1410_0C08_0400)
        XCTAssertEqual(m.cpu.q(16).low, 0x0C08_0400_0C08_0400, "LD4R replicates word 0")
        XCTAssertEqual(m.cpu.q(17).high, 0x1C18_1410_1C18_1410)
    }
}
