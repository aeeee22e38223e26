import Foundation
import Hypervisor
import TestSupport
import XCTest

/// Pause and resume on a guest that spins forever (`add x0, x0, #1; b 1b`).
final class PauseResumeTests: XCTestCase {
    static let ramBase: UInt64 = 0x4000_0000

    private func makeSpinningVM() throws -> VirtualMachine {
        let memory = try MachineMemory(base: Self.ramBase, size: 1 << 20)
        let vm = VirtualMachine(name: "spin", memory: memory, bus: try MMIOBus(windows: []))
        let code = try CrossAssembler.assemble(["1: add x0, x0, #1", "b 1b"])
        code.withUnsafeBytes { _ = memory.write($0, at: Self.ramBase) }
        vm.setBootState(entry: Self.ramBase, x0: 0)
        return vm
    }

    /// Waits until the guest has retired more than `count` instructions (the counters are
    /// published once per `cpu.run` call, so this takes a few milliseconds).
    private func waitForProgress(_ vm: VirtualMachine, beyond count: UInt64) {
        let deadline = Date().addingTimeInterval(10)
        while vm.statistics.instructionsRetired <= count, Date() < deadline { usleep(1000) }
        XCTAssertGreaterThan(vm.statistics.instructionsRetired, count, "the guest made no progress")
    }

    private func stopAndWait(_ vm: VirtualMachine) -> StopRecord? {
        vm.requestStop()
        return vm.waitUntilStopped(timeout: .now() + 10)
    }

    func testPauseStopsProgressAndResumeRestartsIt() throws {
        let vm = try makeSpinningVM()
        try vm.start()
        waitForProgress(vm, beyond: 0)
        try vm.pause()
        XCTAssertEqual(vm.state, .paused)
        let first = vm.statistics.instructionsRetired
        usleep(50_000)
        let second = vm.statistics.instructionsRetired
        XCTAssertEqual(first, second, "a paused guest retired instructions")
        XCTAssertEqual(vm.vcpus[0].cpu.x(0), first / 2, "x0 counts loop iterations: two instructions each")
        let info = vm.vcpuInfo
        XCTAssertEqual(info.map(\.state), [.paused])
        XCTAssertEqual(info.first?.mpidr, 0x8000_0000)
        let pc = try XCTUnwrap(info.first?.pc)
        XCTAssertTrue(pc == Self.ramBase || pc == Self.ramBase + 4, String(pc, radix: 16))

        try vm.resume()
        XCTAssertEqual(vm.state, .running)
        waitForProgress(vm, beyond: second)
        XCTAssertEqual(vm.vcpuInfo.map(\.state), [.running])
        XCTAssertNil(vm.vcpuInfo.first?.pc)

        // Again: parking twice works.
        try vm.pause()
        let third = vm.statistics.instructionsRetired
        usleep(20_000)
        XCTAssertEqual(vm.statistics.instructionsRetired, third)
        try vm.resume()
        waitForProgress(vm, beyond: third)
        XCTAssertEqual(stopAndWait(vm)?.reason, .killed)
    }

    func testStopWhilePausedStopsTheVM() throws {
        let vm = try makeSpinningVM()
        try vm.start()
        try vm.pause()
        let record = stopAndWait(vm)
        XCTAssertEqual(record?.reason, .killed)
        XCTAssertEqual(vm.state, .stopped)
        XCTAssertEqual(vm.vcpuInfo.map(\.state), [.stopped])
        XCTAssertNotNil(vm.vcpuInfo.first?.pc)
    }

    func testWrongStatesThrowAndChangeNothing() throws {
        let vm = try makeSpinningVM()
        XCTAssertThrowsError(try vm.pause()) { error in
            XCTAssertEqual("\(error)", "VM 'spin' is created; only a running VM can pause")
        }
        XCTAssertThrowsError(try vm.resume()) { error in
            XCTAssertEqual("\(error)", "VM 'spin' is created; only a paused VM can resume")
        }
        XCTAssertEqual(vm.state, .created)
        try vm.start()
        XCTAssertThrowsError(try vm.resume()) { error in
            XCTAssertEqual("\(error)", "VM 'spin' is running; only a paused VM can resume")
        }
        XCTAssertEqual(vm.state, .running)
        try vm.pause()
        XCTAssertThrowsError(try vm.pause()) { error in
            XCTAssertEqual("\(error)", "VM 'spin' is paused; only a running VM can pause")
        }
        XCTAssertThrowsError(try vm.start())
        XCTAssertEqual(vm.state, .paused)
        _ = stopAndWait(vm)
        XCTAssertThrowsError(try vm.pause()) { error in
            XCTAssertEqual("\(error)", "VM 'spin' is stopped; only a running VM can pause")
        }
        XCTAssertThrowsError(try vm.resume())
        XCTAssertEqual(vm.state, .stopped)
    }

    func testManyPauseResumeCycles() throws {
        let vm = try makeSpinningVM()
        try vm.start()
        for _ in 0..<300 {
            try vm.pause()
            XCTAssertEqual(vm.state, .paused)
            try vm.resume()
        }
        XCTAssertEqual(stopAndWait(vm)?.reason, .killed)
    }

    func testStopRacingWithAPauseEndsBoth() throws {
        for _ in 0..<20 {
            let vm = try makeSpinningVM()
            try vm.start()
            let told = DispatchSemaphore(value: 0)
            try vm.pause { _ in told.signal() }
            vm.requestStop()
            XCTAssertEqual(told.wait(timeout: .now() + 10), .success, "the pause was never completed")
            XCTAssertEqual(vm.waitUntilStopped(timeout: .now() + 10)?.reason, .killed)
            XCTAssertEqual(vm.state, .stopped)
        }
    }

    func testRequestStopWithAReason() throws {
        let vm = try makeSpinningVM()
        vm.requestStop(StopRecord(reason: .reset, detail: "too early"))
        XCTAssertEqual(vm.state, .created, "a created VM ignores the request")
        try vm.start()
        try vm.pause()
        vm.requestStop(StopRecord(reason: .reset, detail: "reset on request"))
        // A second request while the first is under way does not change the record.
        vm.requestStop()
        XCTAssertEqual(
            vm.waitUntilStopped(timeout: .now() + 10), StopRecord(reason: .reset, detail: "reset on request"))
        XCTAssertEqual(vm.stopRecord, StopRecord(reason: .reset, detail: "reset on request"))
        XCTAssertEqual(makeStoppedVMRecord(), VirtualMachine.stoppedOnRequest)
    }

    private func makeStoppedVMRecord() -> StopRecord? {
        guard let vm = try? makeSpinningVM(), (try? vm.start()) != nil else { return nil }
        return stopAndWait(vm)
    }

    func testPauseOfAnIdleGuestInWFI() throws {
        let memory = try MachineMemory(base: Self.ramBase, size: 1 << 20)
        let vm = VirtualMachine(name: "idle", memory: memory, bus: try MMIOBus(windows: []))
        let code = try CrossAssembler.assemble(["1: wfi", "b 1b"])
        code.withUnsafeBytes { _ = memory.write($0, at: Self.ramBase) }
        vm.setBootState(entry: Self.ramBase, x0: 0)
        try vm.start()
        usleep(10_000)
        try vm.pause()
        XCTAssertEqual(vm.state, .paused)
        try vm.resume()
        XCTAssertEqual(stopAndWait(vm)?.reason, .killed)
    }

    func testPausedVCPUUsesNoHostCPU() throws {
        let vm = try makeSpinningVM()
        try vm.start()
        waitForProgress(vm, beyond: 0)
        try vm.pause()
        // The whole test process is measured, so a one-second window keeps a short burst from
        // another thread (a previous test's VM winding down) from dominating: a parked vCPU
        // must stay under 10 % of a core, stricter than the 25 % the 0.2 s window allowed.
        let before = Self.processCPUSeconds()
        usleep(1_000_000)
        let used = Self.processCPUSeconds() - before
        XCTAssertLessThan(used, 0.1, "a paused VM burned \(used) s of CPU in 1 s")
        XCTAssertEqual(stopAndWait(vm)?.reason, .killed)
    }

    private static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return user + system
    }
}
