import AArch64
import Foundation
import Hypervisor
import TestSupport
import XCTest

/// PSCI power management and the VM lifecycle around it (Arm DEN0022): the SMC conduit, CPU_ON
/// errors and context IDs, CPU_OFF of every vCPU (a VM with no vCPU running still pauses and
/// stops), CPU_SUSPEND, AFFINITY_INFO levels, and the global exclusive monitor.
final class PSCITests: XCTestCase {
    static let ramBase: UInt64 = 0x4000_0000

    private func makeVM(
        _ program: [String], cpus: Int = 1, exitTable: ExitTable = .standard, at offset: UInt64 = 0,
        more: [(UInt64, [String])] = []
    ) throws -> VirtualMachine {
        let memory = try MachineMemory(base: Self.ramBase, size: 1 << 20, cores: cpus)
        let bus = try MMIOBus(windows: [])
        let vm = VirtualMachine(name: "psci", memory: memory, bus: bus, vcpuCount: cpus, exitTable: exitTable)
        for (address, code) in [(offset, program)] + more {
            let bytes = try CrossAssembler.assemble(code)
            bytes.withUnsafeBytes { _ = memory.write($0, at: Self.ramBase + address) }
        }
        vm.setBootState(entry: Self.ramBase + offset, x0: 0)
        return vm
    }

    private static func function(_ id: UInt32, into register: String = "w0") -> [String] {
        [
            "movz \(register), #0x\(String(id & 0xFFFF, radix: 16))",
            "movk \(register), #0x\(String(id >> 16, radix: 16)), lsl #16",
        ]
    }

    func testSMCConduitAnswersPSCIAndMovesPastTheSMC() throws {
        let program =
            Self.function(PSCI.Function.version) + ["smc #0", "mov x19, x0"]
            + Self.function(PSCI.Function.features) + Self.function(PSCI.Function.cpuSuspend64, into: "w1")
            + ["smc #0", "mov x20, x0"] + Self.function(PSCI.Function.systemOff) + ["smc #0"]
        let vm = try makeVM(program, exitTable: .smcConduit)
        XCTAssertEqual(try run(vm).reason, .poweroff)
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(cpu.x(19), PSCI.versionValue)
        XCTAssertEqual(cpu.x(20), 0)
        XCTAssertEqual(vm.statistics.exitsByClass["SMC64"], 3)
    }

    func testWithTheHVCConduitSMCIsUndefined() throws {
        // The UNDEF vector (current EL, SPx, synchronous: VBAR + 0x200) records ESR_EL1 and powers off.
        let program = ["movz x1, #0x4000, lsl #16", "add x1, x1, #0x1000", "msr vbar_el1, x1", "isb", "smc #0"]
        let vector = ["mrs x19, esr_el1"] + powerOffProgram
        let vm = try makeVM(program, more: [(0x1200, vector)])
        XCTAssertEqual(try run(vm).reason, .poweroff)
        XCTAssertEqual(vm.vcpus[0].cpu.x(19), 0x0200_0000)
    }

    func testCPUOnErrorsContextIDAndAffinityInfoLevels() throws {
        // vCPU 0 starts vCPU 1 at +0x400 with context 0x1234; vCPU 1 stores X0 and its MPIDR, then
        // turns itself off; vCPU 0 waits for AFFINITY_INFO = OFF and powers the VM off.
        let cpuOn = Self.function(PSCI.Function.cpuOn64)
        let affinity = Self.function(PSCI.Function.affinityInfo64)
        let program =
            cpuOn + [
                "mov x1, #0x7f", "mov x2, #0x400", "movk x2, #0x4000, lsl #16", "mov x3, #0", "hvc #0", "mov x19, x0",
            ]
            + cpuOn + ["mov x1, #0", "mov x2, #0x400", "movk x2, #0x4000, lsl #16", "hvc #0", "mov x20, x0"]
            + cpuOn + [
                "mov x1, #1", "mov x2, #0x400", "movk x2, #0x4000, lsl #16", "mov x3, #0x1234", "hvc #0", "mov x21, x0",
            ]
            + cpuOn + ["mov x1, #1", "mov x2, #0x400", "movk x2, #0x4000, lsl #16", "hvc #0", "mov x22, x0"]
            // Level 1 ignores Aff0: MPIDR 0x5 selects both vCPUs of cluster 0 (vCPU 0 is ON).
            + affinity + ["mov x1, #5", "mov x2, #1", "hvc #0", "mov x23, x0"]
            + affinity + ["mov x1, #1", "mov x2, #4", "hvc #0", "mov x24, x0"]
            + affinity + ["mov x1, #1", "mov x2, #0", "hvc #0", "cmp x0, #1", "b.ne #-24"]
            + ["mov x25, #0x800", "movk x25, #0x4000, lsl #16", "ldp x26, x27, [x25]"] + powerOffProgram
        let secondary =
            ["mov x25, #0x800", "movk x25, #0x4000, lsl #16", "mrs x1, mpidr_el1", "stp x0, x1, [x25]"]
            + Self.function(PSCI.Function.cpuOff) + ["hvc #0", "b #0"]
        let vm = try makeVM(program, cpus: 2, more: [(0x400, secondary)])
        XCTAssertEqual(vm.vcpuInfo.map(\.state), [.created, .created])
        XCTAssertEqual(try run(vm).reason, .poweroff)
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(Int64(bitPattern: cpu.x(19)), PSCI.ReturnCode.invalidParameters)
        XCTAssertEqual(Int64(bitPattern: cpu.x(20)), PSCI.ReturnCode.alreadyOn)
        XCTAssertEqual(Int64(bitPattern: cpu.x(21)), PSCI.ReturnCode.success)
        // The second CPU_ON finds vCPU 1 on (or still being powered on).
        XCTAssertTrue(
            [PSCI.ReturnCode.alreadyOn, PSCI.ReturnCode.onPending, PSCI.ReturnCode.success].contains(
                Int64(bitPattern: cpu.x(22))))
        XCTAssertEqual(Int64(bitPattern: cpu.x(23)), PSCI.AffinityState.on)
        XCTAssertEqual(Int64(bitPattern: cpu.x(24)), PSCI.ReturnCode.invalidParameters)
        XCTAssertEqual(cpu.x(26), 0x1234)
        XCTAssertEqual(cpu.x(27), 0x8000_0001)

        // Per-vCPU statistics, through their JSON form (the `stats` reply's `vcpus`): vCPU 1 was
        // started by CPU_ON and made one call (CPU_OFF); vCPU 0 made the others.
        let json = try JSONEncoder().encode(vm.statistics)
        let statistics = try JSONDecoder().decode(VMStatistics.self, from: json)
        XCTAssertEqual(statistics.vcpus.map(\.index), [0, 1])
        XCTAssertEqual(statistics.vcpus[0].wakeups["cpu-on"], 0)
        XCTAssertGreaterThanOrEqual(statistics.vcpus[1].wakeups["cpu-on"] ?? 0, 1)
        XCTAssertEqual(statistics.vcpus[0].hypercalls + statistics.vcpus[1].hypercalls, statistics.hypercalls)
        XCTAssertEqual(statistics.wakeups["cpu-on"], statistics.vcpus[1].wakeups["cpu-on"])
        XCTAssertEqual(statistics.vcpus[1].exitsByClass["HVC64"], statistics.vcpus[1].hypercalls)
    }

    func testAVMWhoseVCPUsAreAllOffPausesResumesAndStops() throws {
        let vm = try makeVM(Self.function(PSCI.Function.cpuOff) + ["hvc #0", "b #0"])
        try vm.start()
        let deadline = Date() + 10
        while vm.vcpuInfo[0].state != .offline && Date() < deadline { usleep(1000) }
        XCTAssertEqual(vm.vcpuInfo[0].state, .offline)
        XCTAssertEqual(vm.state, .running)
        try vm.pause()
        XCTAssertEqual(vm.state, .paused)
        try vm.resume()
        vm.requestStop()
        XCTAssertEqual(vm.waitUntilStopped(timeout: .now() + 10)?.reason, .killed)
    }

    func testCPUSuspendReturnsSuccessAfterAWakeUp() throws {
        // CPU_SUSPEND with power_state 0 (a standby) sleeps like WFI. No timer is programmed and
        // this VM has no GIC, so nothing in the guest can end the standby: a kick from outside
        // wakes it, and the call must return SUCCESS (x19 = 0) and continue after the HVC
        // (x20 = 1).
        let program =
            Self.function(PSCI.Function.cpuSuspend64) + ["mov x1, #0", "hvc #0", "mov x19, x0"]
            + ["mov x20, #1"] + powerOffProgram
        let vm = try makeVM(program)
        try vm.start()
        let deadline = Date() + 10
        while vm.statistics.wfiSleeps == 0 && Date() < deadline { usleep(1000) }
        XCTAssertEqual(vm.statistics.wfiSleeps, 1)
        vm.vcpus[0].kick()
        XCTAssertEqual(vm.waitUntilStopped(timeout: .now() + 10)?.reason, .poweroff)
        XCTAssertEqual(vm.vcpus[0].cpu.x(19), 0)
        XCTAssertEqual(vm.vcpus[0].cpu.x(20), 1)
        XCTAssertEqual(vm.statistics.wakeups["kick"], 1)
    }

    func testStoreExclusiveFailsWhenAnotherWriterChangedTheLocation() throws {
        // LDXR, then the "other vCPU" (the host) changes the word, then STXR must fail; a second
        // LDXR/STXR pair succeeds.
        let program =
            [
                "mov x1, #0x800", "movk x1, #0x4000, lsl #16", "ldxr x2, [x1]", "hvc #1", "mov x3, #42",
                "stxr w4, x3, [x1]", "ldxr x2, [x1]", "stxr w5, x3, [x1]",
            ] + powerOffProgram
        var table = ExitTable.standard
        table[.hvc64] = { vcpu in
            if vcpu.cpu.x(0) & 0xFFFF_FFFF == PSCI.Function.systemOff { return PSCI.handleCall(vcpu) }
            // HVC #1: another agent stores to the monitored word.
            _ = [UInt8](repeating: 7, count: 8).withUnsafeBytes { vcpu.vm?.memory.write($0, at: 0x4000_0800) }
            return .resume
        }
        let vm = try makeVM(program, exitTable: table)
        XCTAssertEqual(try run(vm).reason, .poweroff)
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(cpu.x(4), 1, "STXR after a foreign store must fail")
        XCTAssertEqual(cpu.x(5), 0)
        XCTAssertEqual(vm.memory.read(0x4000_0800, count: 8), [42, 0, 0, 0, 0, 0, 0, 0])
    }

    func testStoreExclusivePairFailsWhenAnotherWriterChangedEitherHalf() throws {
        // LDXP of two X registers, then the "other vCPU" changes the high half, then STXP must
        // fail and leave memory alone; a second LDXP/STXP writes both halves at once.
        let program =
            [
                "mov x1, #0x800", "movk x1, #0x4000, lsl #16", "ldxp x2, x3, [x1]", "hvc #1", "mov x5, #42",
                "mov x6, #43", "stxp w4, x5, x6, [x1]", "ldp x7, x8, [x1]", "ldxp x2, x3, [x1]",
                "stxp w9, x5, x6, [x1]",
            ] + powerOffProgram
        var table = ExitTable.standard
        table[.hvc64] = { vcpu in
            if vcpu.cpu.x(0) & 0xFFFF_FFFF == PSCI.Function.systemOff { return PSCI.handleCall(vcpu) }
            // HVC #1: another agent stores to the second doubleword of the monitored pair.
            _ = [UInt8](repeating: 7, count: 8).withUnsafeBytes { vcpu.vm?.memory.write($0, at: 0x4000_0808) }
            return .resume
        }
        let vm = try makeVM(program, exitTable: table)
        XCTAssertEqual(try run(vm).reason, .poweroff)
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(cpu.x(4), 1, "STXP after a foreign store to its high half must fail")
        XCTAssertEqual(cpu.x(7), 0, "the failed STXP wrote nothing")
        XCTAssertEqual(cpu.x(8), 0x0707_0707_0707_0707)
        XCTAssertEqual(cpu.x(9), 0)
        XCTAssertEqual(vm.memory.read(0x4000_0800, count: 16), [42, 0, 0, 0, 0, 0, 0, 0, 43, 0, 0, 0, 0, 0, 0, 0])
    }
}
