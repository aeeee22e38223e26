import AArch64
import TestSupport
import XCTest

/// System registers a distribution kernel touches early (found booting Debian's arm64 kernel):
/// the self-hosted debug registers (Arm ARM D2, D19.3) and the GICv3 group-0 active-priority
/// register (IHI 0069 ICC_AP0R<n>_EL1 / ICV_AP0R<n>_EL1).
final class SystemRegisterTests: XCTestCase {
    /// ID_AA64DFR0_EL1 announces 6 breakpoints and 4 watchpoints: their registers exist and keep
    /// their writable fields (Linux's hw_breakpoint_reset writes every one at boot).
    func testBreakpointAndWatchpointRegistersKeepTheirWritableFields() throws {
        let m = TestMachine()
        m.cpu.setX(1, ~0)
        m.load(
            try CrossAssembler.assemble([
                "msr dbgbvr5_el1, x1", "msr dbgbcr0_el1, x1", "msr dbgwvr3_el1, x1", "msr dbgwcr1_el1, x1",
                "msr mdscr_el1, x1", "mrs x2, dbgbvr5_el1", "mrs x3, dbgbcr0_el1", "mrs x4, dbgwvr3_el1",
                "mrs x5, dbgwcr1_el1", "mrs x6, mdscr_el1", "mrs x7, dbgbcr1_el1", "mrs x8, id_aa64dfr0_el1",
                "hvc #0xffff",
            ]))
        _ = m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(2), 0xFFFF_FFFF_FFFF_FFFC, "DBGBVR bits [1:0] are RES0")
        XCTAssertEqual(m.cpu.x(3), 0x00FF_E1E7, "DBGBCR: BT, LBN, SSC, HMC, BAS, PMC, E")
        XCTAssertEqual(m.cpu.x(4), 0xFFFF_FFFF_FFFF_FFFC)
        XCTAssertEqual(m.cpu.x(5), 0x1F1F_FFFF, "DBGWCR: MASK, WT, LBN, SSC, HMC, BAS, LSC, PAC, E")
        XCTAssertEqual(m.cpu.x(6), 0xF001, "MDSCR_EL1: SS, TDCC, KDE, HDE, MDE")
        XCTAssertEqual(m.cpu.x(7), 0, "an untouched breakpoint")
        XCTAssertEqual((m.cpu.x(8) >> 12) & 0xF, 5, "BRPs - 1")
        XCTAssertEqual((m.cpu.x(8) >> 20) & 0xF, 3, "WRPs - 1")
    }

    /// A breakpoint beyond those announced is UNDEFINED.
    func testSeventhBreakpointIsUndefined() throws {
        let m = TestMachine()
        let vbar = TestMachine.ramBase + 0x1000
        m.load(try CrossAssembler.assemble(["mrs x1, esr_el1", "hvc #0xffff"]), at: vbar + 0x200)
        m.cpu.state.pointee.vbarEL1 = vbar
        m.load(try CrossAssembler.assemble(["msr dbgbcr6_el1, x1"]))
        _ = m.runLoaded()
        XCTAssertEqual(m.cpu.x(1), 0x0200_0000, "EC 0x00, UNDEFINED")
    }

    /// ICV_AP0R0_EL1 (what ICC_AP0R0_EL1 reaches with HCR_EL2.IMO set) keeps its value and
    /// takes part in the running priority; AP0R1 does not exist with 5 priority bits.
    func testGroupZeroActivePrioritiesAreStorageAndSetTheRunningPriority() throws {
        let m = TestMachine()
        m.cpu.state.pointee.hcrEL2 |= HypervisorConfiguration.imo
        m.cpu.setX(1, 1 << 2)  // priority 0x10 active
        m.load(
            try CrossAssembler.assemble([
                "mrs x4, icc_rpr_el1", "msr icc_ap0r0_el1, x1", "mrs x2, icc_ap0r0_el1", "mrs x3, icc_rpr_el1",
                "msr icc_ap0r0_el1, xzr", "mrs x5, icc_rpr_el1", "hvc #0xffff",
            ]))
        _ = m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(4), 0xFF, "idle")
        XCTAssertEqual(m.cpu.x(2), 1 << 2)
        XCTAssertEqual(m.cpu.x(3), 0x10, "running priority from the group-0 active priority")
        XCTAssertEqual(m.cpu.x(5), 0xFF, "idle again")

        let n = TestMachine()
        n.cpu.state.pointee.hcrEL2 |= HypervisorConfiguration.imo
        let vbar = TestMachine.ramBase + 0x1000
        n.load(try CrossAssembler.assemble(["mrs x1, esr_el1", "hvc #0xffff"]), at: vbar + 0x200)
        n.cpu.state.pointee.vbarEL1 = vbar
        n.load(try CrossAssembler.assemble(["msr icc_ap0r1_el1, xzr"]))
        _ = n.runLoaded()
        XCTAssertEqual(n.cpu.x(1), 0x0200_0000, "AP0R1 is UNDEFINED with 5 priority bits")
    }
    /// The CPU-interface registers are EL1's: at EL0 an ICC_* access is UNDEFINED (taken to EL1,
    /// EC 0x00) even with HCR_EL2.IMO set, and with TIDCP, which traps only CRn 11 and 15, an
    /// EL1 access still reaches the virtual interface without an exit.
    func testCPUInterfaceRegistersAreUndefinedAtEL0AndUntrappedByTIDCP() throws {
        let m = TestMachine()
        m.cpu.state.pointee.hcrEL2 |= HypervisorConfiguration.imo | HypervisorConfiguration.tidcp
        let vbar = TestMachine.ramBase + 0x1000
        // Lower EL, AArch64, synchronous: vector offset 0x400.
        m.load(try CrossAssembler.assemble(["mrs x1, esr_el1", "mrs x2, elr_el1", "hvc #0xffff"]), at: vbar + 0x400)
        m.cpu.state.pointee.vbarEL1 = vbar
        m.load(
            try CrossAssembler.assemble(["mrs x3, icc_pmr_el1", "msr icc_eoir1_el1, x3"]),
            at: TestMachine.ramBase + 0x100)
        m.load(
            try CrossAssembler.assemble([
                "mrs x4, icc_rpr_el1", "msr spsr_el1, xzr", "adr x5, 1f", "add x5, x5, #0xe8", "msr elr_el1, x5",
                "eret", "1: nop",
            ]))
        _ = m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(4), 0xFF, "EL1 read ICV_RPR_EL1 without an exit")
        XCTAssertEqual(m.cpu.x(1), 0x0200_0000, "EL0's ICC_PMR_EL1 read is UNDEFINED")
        XCTAssertEqual(m.cpu.x(2), TestMachine.ramBase + 0x100)
    }
    /// An MSR to the CPU interface goes on in its block, but one that makes a virtual interrupt
    /// deliverable (ICC_PMR_EL1 unmasking a pending list register) has the IRQ taken before the
    /// next instruction, and what the block did not run is not counted as retired.
    func testCPUInterfaceWriteThatUnmasksAPendingInterruptTakesItBeforeTheNextInstruction() throws {
        let m = TestMachine()
        m.cpu.state.pointee.hcrEL2 |= HypervisorConfiguration.imo
        m.cpu.state.pointee.ichHCR = GICVirtualInterface.hcrEnable
        m.cpu.state.pointee.ichVMCR = 1 << 1  // VENG1; VPMR 0 masks every priority
        m.cpu.setListRegister(
            0,
            GICVirtualInterface.statePending | GICVirtualInterface.group1 | 0x80 << GICVirtualInterface.priorityShift
                | 40)
        m.cpu.virtualInterfaceChanged()
        let vbar = TestMachine.ramBase + 0x1000
        m.cpu.state.pointee.vbarEL1 = vbar
        // Current EL with SP_ELx, IRQ: vector offset 0x280.
        m.load(
            try CrossAssembler.assemble(["mrs x10, elr_el1", "mov x11, x9", "mrs x12, icc_iar1_el1", "hvc #0xffff"]),
            at: vbar + 0x280)
        m.load(
            try CrossAssembler.assemble([
                "msr daifclr, #2", "movz x1, #0xff", "msr icc_pmr_el1, x1", "add x9, x9, #1", "add x9, x9, #1",
                "hvc #0xffff",
            ]))
        _ = m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(10), TestMachine.ramBase + 12, "ELR_EL1: the instruction after the MSR")
        XCTAssertEqual(m.cpu.x(11), 0, "nothing after the MSR ran")
        XCTAssertEqual(m.cpu.x(12), 40, "the interrupt the PMR write unmasked")
        XCTAssertEqual(m.cpu.state.pointee.instructionsRetired, 3 + 4, "DAIFClr, MOVZ, MSR, then the handler")
    }
}
