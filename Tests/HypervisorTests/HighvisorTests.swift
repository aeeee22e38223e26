import AArch64
import Foundation
import Hypervisor
import Synchronization
import TestSupport
import XCTest

/// A device that records every access and answers reads with a fixed pattern.
final class RecordingDevice: MMIODevice {
    struct Access: Equatable {
        var offset: UInt64
        var size: Int
        var value: UInt64?
    }
    let name = "recorder"
    let readValue: UInt64
    private let log = Mutex<[Access]>([])

    init(readValue: UInt64) { self.readValue = readValue }

    var accesses: [Access] { log.withLock { $0 } }

    func read(offset: UInt64, size: Int) -> UInt64 {
        log.withLock { $0.append(Access(offset: offset, size: size, value: nil)) }
        return readValue
    }

    func write(offset: UInt64, size: Int, value: UInt64) {
        log.withLock { $0.append(Access(offset: offset, size: size, value: value)) }
    }
}

/// The highvisor's exit handling, driven by guest programs on a VM with a recording device at
/// 0x0900_0000 (1 MiB of RAM at 0x4000_0000, vectors at +0x1000).
final class HighvisorTests: XCTestCase {
    static let ramBase: UInt64 = 0x4000_0000
    static let device: UInt64 = 0x0900_0000

    private func makeVM(_ program: [String], vectors: [String]? = nil, device: RecordingDevice) throws -> VirtualMachine
    {
        let memory = try MachineMemory(base: Self.ramBase, size: 1 << 20)
        let bus = try MMIOBus(windows: [.init(base: Self.device, size: 0x1000, device: device)])
        let vm = VirtualMachine(name: "test", memory: memory, bus: bus)
        let code = try CrossAssembler.assemble(program)
        code.withUnsafeBytes { _ = memory.write($0, at: Self.ramBase) }
        if let vectors {
            let handler = try CrossAssembler.assemble(vectors)
            handler.withUnsafeBytes { _ = memory.write($0, at: Self.ramBase + 0x1200) }
        }
        vm.setBootState(entry: Self.ramBase, x0: 0)
        vm.vcpus[0].cpu.state.pointee.vbarEL1 = Self.ramBase + 0x1000
        return vm
    }

    func testMMIOReadsAreSizedAndSignExtendedFromTheSyndrome() throws {
        let device = RecordingDevice(readValue: 0xFFFF_FFFF_FFFF_FF80)
        let vm = try makeVM(
            [
                "movz x1, #0x900, lsl #16",
                "ldrb w2, [x1, #1]", "ldrsb w3, [x1]", "ldrsb x4, [x1]", "ldrh w5, [x1, #2]", "ldrsh x6, [x1, #2]",
                "ldr w7, [x1, #4]", "ldrsw x8, [x1, #4]", "ldr x9, [x1, #8]", "ldr xzr, [x1, #8]",
            ] + powerOffProgram, device: device)
        XCTAssertEqual(try run(vm).reason, .poweroff)
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(cpu.x(2), 0x80)
        XCTAssertEqual(cpu.x(3), 0xFFFF_FF80)
        XCTAssertEqual(cpu.x(4), 0xFFFF_FFFF_FFFF_FF80)
        XCTAssertEqual(cpu.x(5), 0xFF80)
        XCTAssertEqual(cpu.x(6), 0xFFFF_FFFF_FFFF_FF80)
        XCTAssertEqual(cpu.x(7), 0xFFFF_FF80)
        XCTAssertEqual(cpu.x(8), 0xFFFF_FFFF_FFFF_FF80)
        XCTAssertEqual(cpu.x(9), 0xFFFF_FFFF_FFFF_FF80)
        XCTAssertEqual(
            device.accesses.map { [$0.offset, UInt64($0.size)] },
            [[1, 1], [0, 1], [0, 1], [2, 2], [2, 2], [4, 4], [4, 4], [8, 8], [8, 8]])
        let stats = vm.statistics
        XCTAssertEqual(stats.mmioReads, 9)
        XCTAssertEqual(stats.exitsByClass["DABT_LOW"], 9)
        XCTAssertEqual(stats.exitsByClass["HVC64"], 1)
    }

    /// LDR X with a register offset runs as a specialized opcode; on its way to the MMIO exit
    /// it must still carry the instruction syndrome of a plain LDR (ISV, SRT), not be refused
    /// as an ISV=0 access.
    func testRegisterOffsetLoadFromMMIOIsEmulated() throws {
        let device = RecordingDevice(readValue: 0x1122_3344_5566_7788)
        let vm = try makeVM(
            ["movz x1, #0x900, lsl #16", "movz x2, #3", "movz x5, #16", "ldr x3, [x1, x2, lsl #3]", "ldr x4, [x1, x5]"]
                + powerOffProgram, device: device)
        XCTAssertEqual(try run(vm).reason, .poweroff)
        XCTAssertEqual(vm.vcpus[0].cpu.x(3), 0x1122_3344_5566_7788)
        XCTAssertEqual(vm.vcpus[0].cpu.x(4), 0x1122_3344_5566_7788)
        XCTAssertEqual(
            device.accesses, [.init(offset: 24, size: 8, value: nil), .init(offset: 16, size: 8, value: nil)])
        XCTAssertEqual(vm.statistics.mmioUnclaimed, 0)
    }

    func testMMIOWritesCarryTheRegisterTruncatedToTheAccessSize() throws {
        let device = RecordingDevice(readValue: 0)
        let vm = try makeVM(
            [
                "movz x1, #0x900, lsl #16", "movn x2, #0",
                "strb w2, [x1]", "strh w2, [x1, #2]", "str w2, [x1, #4]", "str x2, [x1, #8]", "str xzr, [x1, #16]",
            ] + powerOffProgram, device: device)
        XCTAssertEqual(try run(vm).reason, .poweroff)
        XCTAssertEqual(
            device.accesses,
            [
                .init(offset: 0, size: 1, value: 0xFF), .init(offset: 2, size: 2, value: 0xFFFF),
                .init(offset: 4, size: 4, value: 0xFFFF_FFFF), .init(offset: 8, size: 8, value: ~0),
                .init(offset: 16, size: 8, value: 0),
            ])
        XCTAssertEqual(vm.statistics.mmioWrites, 5)
    }

    func testUnclaimedMMIOInjectsASynchronousExternalAbort() throws {
        let vm = try makeVM(
            ["movz x1, #0x0a00, lsl #16", "str w2, [x1, #8]"],
            vectors: ["mrs x10, esr_el1", "mrs x11, far_el1", "mrs x12, elr_el1"] + powerOffProgram,
            device: RecordingDevice(readValue: 0))
        XCTAssertEqual(try run(vm).reason, .poweroff)
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(cpu.x(10), 0x9600_0000 | 1 << 25 | 1 << 6 | 0x10, "DABT_CUR, WnR, external abort")
        XCTAssertEqual(cpu.x(11), 0x0A00_0008)
        XCTAssertEqual(cpu.x(12), Self.ramBase + 4)
        XCTAssertEqual(vm.statistics.mmioUnclaimed, 1)
    }

    func testPSCICallsAnswerAsPSCI10() throws {
        let vm = try makeVM(
            [
                "movz w0, #0", "movk w0, #0x8400, lsl #16", "hvc #0", "mov x10, x0",  // PSCI_VERSION
                "movz w0, #6", "movk w0, #0x8400, lsl #16", "hvc #0", "mov x11, x0",  // MIGRATE_INFO_TYPE
                "movz w0, #0xa", "movk w0, #0x8400, lsl #16", "movz w1, #8", "movk w1, #0x8400, lsl #16", "hvc #0",
                "mov x12, x0",  // PSCI_FEATURES(SYSTEM_OFF)
                "movz w0, #0x1234", "movk w0, #0xc500, lsl #16", "hvc #0", "mov x13, x0",  // unknown
                "movz w0, #0", "movk w0, #0x8000, lsl #16", "hvc #0", "mov x14, x0",  // SMCCC_VERSION
                "movz w0, #4", "movk w0, #0xc400, lsl #16", "movz x1, #0", "movz x2, #0", "hvc #0", "mov x15, x0",
            ] + powerOffProgram, device: RecordingDevice(readValue: 0))
        XCTAssertEqual(try run(vm), StopRecord(reason: .poweroff, detail: "PSCI SYSTEM_OFF"))
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(cpu.x(10), 0x1_0000)
        XCTAssertEqual(cpu.x(11), 2)
        XCTAssertEqual(cpu.x(12), 0)
        XCTAssertEqual(cpu.x(13), UInt64(bitPattern: -1), "NOT_SUPPORTED")
        XCTAssertEqual(cpu.x(14), 0x1_0001)
        XCTAssertEqual(cpu.x(15), 0, "AFFINITY_INFO of the running vCPU: ON")
        XCTAssertEqual(vm.statistics.hypercalls, 7)
    }

    func testTrappedSystemRegisterAccessesAreEmulatedByTheHighvisor() throws {
        // TID3 traps ID register reads, TVM writes of the VM controls, TACR ACTLR_EL1: each is
        // an EC 0x18 exit that the highvisor emulates, and the guest sees the architectural value.
        let vm = try makeVM(
            [
                "mrs x10, id_aa64isar0_el1", "movz x1, #0x1234", "msr mair_el1, x1", "mrs x11, mair_el1",
                "msr actlr_el1, x1", "mrs x12, actlr_el1",
            ] + powerOffProgram, device: RecordingDevice(readValue: 0))
        vm.vcpus[0].cpu.state.pointee.hcrEL2 |=
            HypervisorConfiguration.tid3 | HypervisorConfiguration.tvm | HypervisorConfiguration.tacr
        XCTAssertEqual(try run(vm).reason, .poweroff)
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(cpu.x(10), 0x1_0000, "ID_AA64ISAR0_EL1: CRC32")
        XCTAssertEqual(cpu.x(11), 0x1234)
        XCTAssertEqual(cpu.x(12), 0x1234)
        // ID read, MAIR write, ACTLR write, ACTLR read trap; the MAIR read does not (TRVM clear).
        XCTAssertEqual(vm.statistics.exitsByClass["SYS64"], 4)
    }

    func testSystemResetStopsWithReasonReset() throws {
        let vm = try makeVM(
            ["movz w0, #9", "movk w0, #0x8400, lsl #16", "hvc #0"], device: RecordingDevice(readValue: 0))
        XCTAssertEqual(try run(vm).reason, .reset)
        XCTAssertEqual(vm.state, .stopped)
    }

    func testExceptionVectorOutsideRAMStopsWithGuestFault() throws {
        let vm = try makeVM([".word 0"], device: RecordingDevice(readValue: 0))
        vm.vcpus[0].cpu.state.pointee.vbarEL1 = 0
        let record = try run(vm)
        XCTAssertEqual(record.reason, .guestFault)
        XCTAssertTrue(record.detail.contains("0x200"), record.detail)
    }

    func testStopRequestEndsASpinningGuest() throws {
        let vm = try makeVM(["1: b 1b"], device: RecordingDevice(readValue: 0))
        try vm.start()
        vm.requestStop()
        XCTAssertEqual(vm.waitUntilStopped().reason, .killed)
    }

    func testStopRequestWakesAGuestSleepingInWFI() throws {
        let vm = try makeVM(["1: wfi", "b 1b"], device: RecordingDevice(readValue: 0))
        try vm.start()
        // Wait (without sleeping blind) until the vCPU has gone to sleep in WFI.
        let deadline = Date().addingTimeInterval(10)
        while vm.statistics.wfiSleeps == 0 && Date() < deadline { usleep(1000) }
        XCTAssertEqual(vm.statistics.wfiSleeps, 1)
        vm.requestStop()
        XCTAssertEqual(vm.waitUntilStopped().reason, .killed)
        XCTAssertEqual(vm.statistics.exitsByClass["WFx"], 1)
    }

    /// HCR_EL2.TWE is set for guests: a WFE after SEVL completes in the core (the event register
    /// was set) without an exit; one with the event register clear exits (WFx), sleeps, and is
    /// woken by the timer's deadline (Arm ARM D1.16.2) — with the icount clock, deterministically:
    /// the sleep skips ahead to the deadline.
    func testWFESleepsUntilAWakeUpEventUnlessTheEventRegisterIsSet() throws {
        let vm = try makeVM(
            [
                "sevl", "wfe",  // completes at once, clearing the event register
                "mov x0, #1000", "msr cntv_tval_el0, x0", "mov x0, #1", "msr cntv_ctl_el0, x0", "isb",
                "wfe",  // sleeps until the virtual timer fires
            ] + powerOffProgram, device: RecordingDevice(readValue: 0))
        vm.vcpus[0].cpu.icount = true
        XCTAssertEqual(try run(vm).reason, .poweroff)
        XCTAssertEqual(vm.statistics.exitsByClass["WFx"], 1)
        XCTAssertEqual(vm.statistics.wfeSleeps, 1)
        XCTAssertEqual(vm.statistics.wakeups["timer"], 1)
        XCTAssertEqual(vm.statistics.vcpus.first?.wfeSleeps, 1)
    }

    /// The event stream (CNTKCTL_EL1.EVNTEN, EVNTI = 4: an event every 32 ticks) wakes a WFE
    /// with no timer armed and interrupts masked — Linux's `udelay` waits so — and an exception
    /// return sets the event register, so a WFE right after an ERET does not exit at all.
    func testEventStreamAndExceptionReturnWakeWFE() throws {
        let vm = try makeVM(
            [
                "msr daifset, #0xf", "mov x0, #0x44", "msr cntkctl_el1, x0", "isb",
                "mrs x1, cntvct_el0", "wfe", "wfe", "mrs x2, cntvct_el0",  // the second sleeps
                "mov x0, #0", "msr cntkctl_el1, x0",
                "adr x0, 1f", "msr elr_el1, x0", "mov x0, #0x3c5", "msr spsr_el1, x0", "eret",
                "1: wfe",  // completes: the ERET set the event register
            ] + powerOffProgram, device: RecordingDevice(readValue: 0))
        vm.vcpus[0].cpu.icount = true
        XCTAssertEqual(try run(vm).reason, .poweroff)
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(vm.statistics.wfeSleeps, 2, "two WFEs slept: the event register was clear")
        XCTAssertEqual(vm.statistics.wakeups["event"], 2, "each woken by the event stream")
        XCTAssertLessThanOrEqual(cpu.x(2) &- cpu.x(1), 64 + 16, "two events at most 32 ticks apart")
        XCTAssertEqual(vm.statistics.exitsByClass["WFx"], 2, "the WFE after the ERET did not exit")
    }

    func testStopRequestWakesAGuestSleepingInWFE() throws {
        let vm = try makeVM(["1: wfe", "b 1b"], device: RecordingDevice(readValue: 0))
        try vm.start()
        let deadline = Date().addingTimeInterval(10)
        while vm.statistics.wfeSleeps == 0 && Date() < deadline { usleep(1000) }
        XCTAssertEqual(vm.statistics.wfeSleeps, 1)
        vm.requestStop()
        XCTAssertEqual(vm.waitUntilStopped().reason, .killed)
        XCTAssertEqual(vm.statistics.wakeups["kick"], 1)
    }

    func testUnhandledExceptionClassInjectsUndefined() throws {
        // With HCR_EL2.TWE set and no WFx handler, the trapped WFE reaches the default handler.
        var table = ExitTable.standard
        table[.wfx] = nil
        let memory = try MachineMemory(base: Self.ramBase, size: 1 << 20)
        let vm = VirtualMachine(name: "t", memory: memory, bus: try MMIOBus(windows: []), exitTable: table)
        let code = try CrossAssembler.assemble(["wfe"])
        code.withUnsafeBytes { _ = memory.write($0, at: Self.ramBase) }
        let handler = try CrossAssembler.assemble(["mrs x10, esr_el1"] + powerOffProgram)
        handler.withUnsafeBytes { _ = memory.write($0, at: Self.ramBase + 0x1200) }
        vm.setBootState(entry: Self.ramBase, x0: 0)
        vm.vcpus[0].cpu.state.pointee.vbarEL1 = Self.ramBase + 0x1000
        vm.vcpus[0].cpu.state.pointee.hcrEL2 |= HypervisorConfiguration.twe
        XCTAssertEqual(try run(vm).reason, .poweroff)
        XCTAssertEqual(vm.vcpus[0].cpu.x(10), 0x0200_0000)
    }

    func testLazyFPSwitchTrapsTheFirstFPInstructionAfterEachWorldSwitchOnce() throws {
        let device = RecordingDevice(readValue: 0)
        let vm = try makeVM(
            [
                "movz x0, #0x30, lsl #16", "msr cpacr_el1, x0", "isb",  // CPACR_EL1.FPEN = 0b11
                "movz x9, #0x4000, lsl #16", "movz x10, #0x0900, lsl #16",
                "ldr q0, [x9]", "ldr q1, [x9]", "str q1, [x9, #0x800]",  // first trap, then none
                "str w0, [x10]",  // an MMIO exit: a world switch
                "ldr d2, [x9]", "str d2, [x9, #0x808]",  // second trap, then none
            ] + powerOffProgram, device: device)
        XCTAssertEqual(try run(vm).reason, .poweroff)
        XCTAssertEqual(device.accesses.count, 1)
        XCTAssertEqual(vm.statistics.fpTraps, 2)
        XCTAssertEqual(vm.statistics.exitsByClass["FP_ASIMD"], 2)
        XCTAssertEqual(vm.vcpus[0].cpu.q(1).low, vm.vcpus[0].cpu.q(0).low)
        XCTAssertTrue(vm.statistics.report.contains("FP traps (lazy switch)"))
    }
}
