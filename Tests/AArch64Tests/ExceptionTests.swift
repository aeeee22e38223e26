import AArch64
import TestSupport
import XCTest

/// Exception entry and return (Arm ARM D1.10/D1.11) and the syndromes of exits to EL2.
final class ExceptionTests: XCTestCase {
    func testUndefinedInstructionIsTakenToEL1WithSyndromeAndReturnState() throws {
        let m = TestMachine()
        let vbar = TestMachine.ramBase + 0x1000
        m.load(
            try CrossAssembler.assemble(["mrs x1, esr_el1", "mrs x2, elr_el1", "mrs x3, spsr_el1", "hvc #0xffff"]),
            at: vbar + 0x200)
        m.cpu.state.pointee.vbarEL1 = vbar
        m.cpu.state.pointee.nzcv = 0x6000_0000
        m.load([0x0000_0000])  // UDF #0
        _ = m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(1), 0x0200_0000, "EC 0x00, IL = 1")
        XCTAssertEqual(m.cpu.x(2), TestMachine.ramBase)
        XCTAssertEqual(m.cpu.x(3), 0x6000_03C5, "NZCV, DAIF masked, EL1h")
    }

    func testSVCFromEL0UsesTheLowerELVectorAndEretReturns() throws {
        let m = TestMachine()
        let vbar = TestMachine.ramBase + 0x1000
        // EL0 code at +0x100: svc #42, then back here after ERET.
        m.load(try CrossAssembler.assemble(["svc #42", "movz x9, #7", "hvc #0xffff"]), at: TestMachine.ramBase + 0x100)
        // Lower-EL synchronous vector: on the first entry (the SVC) record ESR/ELR/SPSR and
        // return; on the second (the HVC, UNDEFINED at EL0) stop.
        m.load(
            try CrossAssembler.assemble([
                "cbnz x8, 1f", "mrs x1, esr_el1", "mrs x2, elr_el1", "mrs x3, spsr_el1", "mrs x4, currentel",
                "movz x8, #1", "eret", "1: mrs x5, esr_el1", "hvc #0xffff",
            ]),
            at: vbar + 0x400)
        m.cpu.state.pointee.vbarEL1 = vbar
        m.cpu.state.pointee.spsrEL1 = 0  // EL0t, interrupts unmasked
        m.cpu.state.pointee.elrEL1 = TestMachine.ramBase + 0x100
        m.load(try CrossAssembler.assemble(["eret"]))
        _ = m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(1), 0x5600_002A, "EC 0x15 (SVC64), IL, imm16 = 42")
        XCTAssertEqual(m.cpu.x(2), TestMachine.ramBase + 0x104, "ELR: the instruction after the SVC")
        XCTAssertEqual(m.cpu.x(3), 0, "SPSR: EL0t with interrupts unmasked")
        XCTAssertEqual(m.cpu.x(5), 0x0200_0000, "HVC at EL0 is UNDEFINED")
        XCTAssertEqual(m.cpu.x(4), 1 << 2, "handler runs at EL1")
        XCTAssertEqual(m.cpu.x(9), 7, "ERET resumed EL0 after the SVC")
    }

    func testIllegalExceptionReturnSetsPSTATEIL() throws {
        let m = TestMachine()
        let vbar = TestMachine.ramBase + 0x1000
        m.load(try CrossAssembler.assemble(["mrs x1, esr_el1", "hvc #0xffff"]), at: vbar + 0x200)
        m.cpu.state.pointee.vbarEL1 = vbar
        m.cpu.state.pointee.spsrEL1 = 0b01001  // EL2h: not an EL this guest can return to
        m.cpu.state.pointee.elrEL1 = TestMachine.ramBase + 0x100
        m.load(try CrossAssembler.assemble(["eret"]))
        _ = m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(1), 0x3A00_0000, "EC 0x0E illegal execution state")
    }

    func testHVCExitsWithImmediateAndNextPC() throws {
        let m = TestMachine()
        m.load(try CrossAssembler.assemble(["nop", "hvc #0x1234"]))
        XCTAssertEqual(m.runLoaded(), .trap)
        XCTAssertEqual(m.syndrome, 0x5A00_1234, "EC 0x16, IL, imm16")
        XCTAssertEqual(m.cpu.pc, TestMachine.ramBase + 8)
    }

    func testMMIOLoadExitCarriesAFullDataAbortSyndrome() throws {
        let m = TestMachine()
        m.load(try CrossAssembler.assemble(["movz x1, #0x900, lsl #16", "ldrsh w3, [x1, #6]"]))
        XCTAssertEqual(m.runLoaded(), .trap)
        let esr = m.syndrome
        XCTAssertEqual(Syndrome.exceptionClass(esr), 0x24)
        let iss = Syndrome.iss(esr)
        XCTAssertEqual(iss >> 24 & 1, 1, "ISV")
        XCTAssertEqual(iss >> 22 & 3, 1, "SAS halfword")
        XCTAssertEqual(iss >> 21 & 1, 1, "SSE")
        XCTAssertEqual(iss >> 16 & 31, 3, "SRT")
        XCTAssertEqual(iss >> 15 & 1, 0, "SF: W register")
        XCTAssertEqual(iss >> 6 & 1, 0, "WnR: read")
        XCTAssertEqual(iss & 0x3F, 0x05, "translation fault, level 1")
        XCTAssertEqual(m.cpu.state.pointee.exitFaultAddress, 0x0900_0006)
        XCTAssertEqual(m.cpu.state.pointee.exitIPAPage, 0x0900_0000 >> 8)
        XCTAssertEqual(Syndrome.ipa(hpfar: m.cpu.state.pointee.exitIPAPage, far: 0x0900_0006), 0x0900_0006)
        XCTAssertEqual(m.cpu.pc, TestMachine.ramBase + 4, "ELR_EL2 is the faulting load")
    }

    func testMMIOStoreSyndrome() throws {
        let m = TestMachine()
        m.load(try CrossAssembler.assemble(["movz x1, #0x900, lsl #16", "str x7, [x1, #8]"]))
        XCTAssertEqual(m.runLoaded(), .trap)
        XCTAssertEqual(m.syndrome, 0x9200_0000 | 1 << 24 | 3 << 22 | 7 << 16 | 1 << 15 | 1 << 6 | 0x05)
    }

    func testWFIExitsWhenTrappedAndSMCUndefinedWithoutTSC() throws {
        let m = TestMachine()
        m.load(try CrossAssembler.assemble(["wfi"]))
        XCTAssertEqual(m.runLoaded(), .trap)
        XCTAssertEqual(m.syndrome, 0x0600_0000 | 1 << 25 | 1 << 24 | 0xE << 20)
        XCTAssertEqual(m.cpu.pc, TestMachine.ramBase, "ELR_EL2 is the WFI itself")

        let n = TestMachine()
        n.cpu.state.pointee.hcrEL2 &= ~HypervisorConfiguration.tsc
        n.cpu.state.pointee.vbarEL1 = TestMachine.ramBase + 0x1000
        n.load(try CrossAssembler.assemble(["mrs x1, esr_el1", "hvc #0xffff"]), at: TestMachine.ramBase + 0x1200)
        n.load(try CrossAssembler.assemble(["smc #0"]))
        _ = n.runLoaded()
        XCTAssertTrue(n.reachedEnd)
        XCTAssertEqual(n.cpu.x(1), 0x0200_0000)
    }

    func testInstructionFetchOutsideRAMIsAStage2InstructionAbort() {
        let m = TestMachine()
        m.cpu.pc = 0x0800_0000
        XCTAssertEqual(m.runLoaded(), .trap)
        XCTAssertEqual(Syndrome.exceptionClass(m.syndrome), 0x20)
        XCTAssertEqual(m.cpu.state.pointee.exitFaultAddress, 0x0800_0000)
    }

    func testEL0CannotReadEL1SystemRegisters() throws {
        let m = TestMachine()
        let vbar = TestMachine.ramBase + 0x1000
        m.load(try CrossAssembler.assemble(["mrs x1, esr_el1", "hvc #0xffff"]), at: vbar + 0x400)
        m.load(try CrossAssembler.assemble(["mrs x0, sctlr_el1"]), at: TestMachine.ramBase + 0x100)
        m.cpu.state.pointee.vbarEL1 = vbar
        m.cpu.state.pointee.spsrEL1 = 0
        m.cpu.state.pointee.elrEL1 = TestMachine.ramBase + 0x100
        m.load(try CrossAssembler.assemble(["eret"]))
        _ = m.runLoaded()
        XCTAssertEqual(m.cpu.x(1), 0x0200_0000, "UNDEF")
    }
}
