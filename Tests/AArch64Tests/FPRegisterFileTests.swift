import AArch64
import TestSupport
import XCTest

/// The SIMD&FP register file, FPCR/FPSR, and the FP enable traps of CPACR_EL1.FPEN and
/// CPTR_EL2.TFP (Arm ARM D1.10.x, `CheckFPAdvSIMDEnabled64`).
final class FPRegisterFileTests: XCTestCase {
    /// ESR of a trapped FP/AdvSIMD access: EC 0x07, IL, CV = 1, COND = 0b1110.
    static let fpTrapSyndrome: UInt64 = 0x1FE0_0000

    private func machine(fpen: UInt64) -> TestMachine {
        let m = TestMachine()
        m.cpu.state.pointee.cpacrEL1 = fpen << 20
        return m
    }

    func testFPCRKeepsOnlyTheARMv8Point0BitsAndFPSRItsFlags() throws {
        let m = machine(fpen: 3)
        try m.run([
            "mov x0, #-1", "msr fpcr, x0", "mrs x1, fpcr", "msr fpsr, x0", "mrs x2, fpsr", "msr fpcr, xzr",
            "mrs x3, fpcr",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(1), 0x07F7_0000, "AHP, DN, FZ, RMode, Stride, Len; trap enables RAZ/WI (as QEMU)")
        XCTAssertEqual(m.cpu.x(2), 0xF800_009F, "NZCV, QC, IDC, IXC, UFC, OFC, DZC, IOC")
        XCTAssertEqual(m.cpu.x(3), 0)
        XCTAssertEqual(m.cpu.state.pointee.fpsr, 0xF800_009F)
    }

    private func expectTrapToEL1(fpen: UInt64, el0: Bool, _ instruction: String) throws {
        let m = machine(fpen: fpen)
        let vbar = TestMachine.ramBase + 0x1000
        m.cpu.state.pointee.vbarEL1 = vbar
        let handler = try CrossAssembler.assemble(["mrs x1, esr_el1", "mrs x2, elr_el1", "hvc #0xffff"])
        m.load(handler, at: vbar + (el0 ? 0x400 : 0x200))
        let code = TestMachine.ramBase + 0x100
        m.load(try CrossAssembler.assemble([instruction, "hvc #0xffff"]), at: code)
        if el0 {
            m.cpu.state.pointee.spsrEL1 = 0
            m.cpu.state.pointee.elrEL1 = code
            m.load(try CrossAssembler.assemble(["eret"]))
        } else {
            m.load(try CrossAssembler.assemble(["b .+0x100"]))
        }
        // Both controls disable FP: the EL1 trap is taken first (the guest OS sees it).
        m.cpu.state.pointee.cptrEL2 = ArchitecturalFeatureTrap.tfp
        _ = m.runLoaded()
        XCTAssertTrue(m.reachedEnd, "\(instruction) FPEN=\(fpen) el0=\(el0)")
        XCTAssertEqual(m.cpu.x(1), Self.fpTrapSyndrome, "\(instruction) FPEN=\(fpen) el0=\(el0)")
        XCTAssertEqual(m.cpu.x(2), code, "ELR: the trapped instruction")
    }

    func testCPACRFPENTrapsToEL1WithEC7AndWinsOverCPTRTFP() throws {
        for instruction in ["ldr q0, [sp]", "mrs x3, fpcr", "msr fpsr, xzr", "ld1 {v0.16b}, [sp]"] {
            try expectTrapToEL1(fpen: 0, el0: false, instruction)
            try expectTrapToEL1(fpen: 2, el0: false, instruction)
            try expectTrapToEL1(fpen: 0, el0: true, instruction)
            try expectTrapToEL1(fpen: 1, el0: true, instruction)
        }
    }

    func testFPENOneAllowsEL1AndCPTRTFPThenExitsToEL2() throws {
        let m = machine(fpen: 1)
        m.cpu.state.pointee.cptrEL2 = ArchitecturalFeatureTrap.tfp
        m.load(try CrossAssembler.assemble(["movz x5, #1", "ldr d0, [sp]", "movz x6, #1", "hvc #0xffff"]))
        XCTAssertEqual(m.runLoaded(), .trap)
        XCTAssertEqual(m.syndrome, Self.fpTrapSyndrome, "EC 0x07 to EL2")
        XCTAssertEqual(m.cpu.pc, TestMachine.ramBase + 4, "ELR_EL2: the trapped instruction")
        XCTAssertEqual(m.cpu.x(5), 1)
        XCTAssertEqual(m.cpu.x(6), 0)
        // The highvisor clears TFP and resumes: the instruction now runs.
        m.cpu.setFloatingPointTrap(false)
        m.write64(m.cpu.sp, 0x4000_0000_0000_0000)
        _ = m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.q(0).low, 0x4000_0000_0000_0000)
        XCTAssertEqual(m.cpu.x(6), 1)
    }

    func testIntegerCodeNeverTrapsOnFPControls() throws {
        let m = machine(fpen: 0)
        m.cpu.state.pointee.cptrEL2 = ArchitecturalFeatureTrap.tfp
        try m.run(["movz x0, #3", "add x1, x0, x0", "str x1, [sp]", "ldr x2, [sp]"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(2), 6)
    }

    func testResetClearsTheVectorRegisters() throws {
        let m = machine(fpen: 3)
        m.cpu.setQ(7, low: 1, high: 2)
        m.cpu.reset(entry: TestMachine.ramBase, x0: 0, mpidr: 0x8000_0000)
        XCTAssertEqual(m.cpu.q(7).low, 0)
        XCTAssertEqual(m.cpu.q(7).high, 0)
    }
}
