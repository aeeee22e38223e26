import AArch64
import Foundation
import Hypervisor
import TestSupport
import XCTest

/// The highvisor's stage 2, driven by guest programs: demand paging (every first touch of a RAM
/// page is a stage-2 fault the highvisor answers by mapping the page), faults during the
/// guest's own table walks (S1PTW), read-only memory, dirty-page tracking, and what a large VM
/// costs the host.
final class Stage2Tests: XCTestCase {
    static let ramBase: UInt64 = 0x4000_0000

    private func makeVM(
        _ program: [String], ramSize: UInt64 = 1 << 20, romAddress: UInt64? = nil, rom: [UInt32] = []
    ) throws -> VirtualMachine {
        let memory = try MachineMemory(base: Self.ramBase, size: ramSize, romSize: rom.isEmpty ? 0 : 0x1_0000)
        let bus = try MMIOBus(windows: [])
        let vm = VirtualMachine(name: "stage2", memory: memory, bus: bus, romAddress: romAddress)
        let code = try CrossAssembler.assemble(program)
        code.withUnsafeBytes { _ = memory.write($0, at: Self.ramBase) }
        rom.withUnsafeBytes { _ = memory.writeROM($0, at: 0) }
        vm.setBootState(entry: Self.ramBase, x0: 0)
        return vm
    }

    private func read64(_ vm: VirtualMachine, _ address: UInt64) -> UInt64 {
        guard let bytes = vm.memory.read(address, count: 8) else { return 0 }
        return bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    func testFirstTouchOfEachPageIsOneStage2FaultAndDataSurvives() throws {
        // The image carries a value at +0x3000 the guest reads; the guest writes 16 pages from
        // +0x10000 and reads them back.
        var program = [
            "movz x1, #0x4000, lsl #16", "ldr x9, [x1, #0x3000]",
            "add x1, x1, #0x10000", "movz x2, #16", "mov x3, x1",
            "1: str x2, [x3]", "add x3, x3, #0x1000", "subs x2, x2, #1", "b.ne 1b",
            "movz x2, #16", "mov x3, x1", "movz x4, #0",
            "2: ldr x5, [x3]", "add x4, x4, x5", "add x3, x3, #0x1000", "subs x2, x2, #1", "b.ne 2b",
        ]
        program += powerOffProgram
        let vm = try makeVM(program)
        var marker: UInt64 = 0x1234_5678_9ABC_DEF0
        withUnsafeBytes(of: &marker) { _ = vm.memory.write($0, at: Self.ramBase + 0x3000) }
        XCTAssertEqual(vm.statistics.pagesMapped, 0, "nothing is mapped before the guest runs")

        XCTAssertEqual(try run(vm, timeout: 60).reason, .poweroff)
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(cpu.x(9), 0x1234_5678_9ABC_DEF0, "the loaded image survives demand paging")
        XCTAssertEqual(cpu.x(4), (1...16).reduce(0, +), "written data reads back")
        XCTAssertEqual(read64(vm, Self.ramBase + 0x10000), 16, "and is in machine memory")
        let stats = vm.statistics
        // Code page (an instruction fetch fault), the image page, 16 data pages.
        XCTAssertEqual(stats.stage2Faults["translation"], 18)
        XCTAssertEqual(stats.stage2Faults["fetch"], 1)
        XCTAssertEqual(stats.pagesMapped, 18)
        XCTAssertEqual(stats.residentBytes, 18 * 4096)
        XCTAssertEqual(stats.exitsByClass["DABT_LOW"], 17)
        XCTAssertEqual(stats.exitsByClass["IABT_LOW"], 1)
        XCTAssertGreaterThan(stats.tlbHits, 0)
        XCTAssertGreaterThanOrEqual(stats.tlbMisses, 18)
    }

    func testStage2FaultsDuringTheGuestsTableWalkAreReportedWithS1PTW() throws {
        // Identity-map the 1 MiB of RAM with 4 KB pages (tables at +0x80000, written by the
        // host, so their pages are not yet mapped at stage 2), MMU on from the first
        // instruction.
        let vm = try makeVM(["movz x1, #0x4000, lsl #16", "ldr x2, [x1, #0x800]"] + powerOffProgram)
        let l1 = Self.ramBase + 0x8_0000
        let l2 = l1 + 0x1000
        let l3 = l1 + 0x2000
        func put(_ address: UInt64, _ value: UInt64) {
            var v = value
            withUnsafeBytes(of: &v) { _ = vm.memory.write($0, at: address) }
        }
        put(l1 + 8, l2 | 3)  // VA[38:30] = 1
        put(l2, l3 | 3)
        for i in 0..<256 {
            put(l3 + UInt64(i * 8), (Self.ramBase + UInt64(i) * 0x1000) | 3 | 1 << 2 | 3 << 8 | 1 << 10)
        }
        let s = vm.vcpus[0].cpu.state
        s.pointee.mairEL1 = 0xFF00
        s.pointee.tcrEL1 = 25 | 25 << 16 | 1 << 23 | 2 << 30 | 2 << 32
        s.pointee.ttbr0EL1 = l1
        s.pointee.sctlrEL1 |= 1
        vm.vcpus[0].cpu.updateTranslationContext()

        XCTAssertEqual(try run(vm, timeout: 60).reason, .poweroff)
        let stats = vm.statistics
        XCTAssertEqual(stats.stage2Faults["walk"], 3, "one per table page, on the first walk that reads it")
        // Three table pages, the code page; the data is in the code page.
        XCTAssertEqual(stats.stage2Faults["translation"], 4)
        XCTAssertEqual(stats.pagesMapped, 4)

        let dump = try XCTUnwrap(vm.translationDump(of: Self.ramBase + 0x800))
        XCTAssertTrue(dump.stage1Enabled)
        XCTAssertNil(dump.fault)
        XCTAssertEqual(dump.physical, Self.ramBase + 0x800)
        XCTAssertEqual(dump.steps.filter { $0.stage == 1 }.map(\.level), [1, 2, 3])
        XCTAssertEqual(dump.steps.filter { $0.stage == 1 }.map(\.address), [l1 + 8, l2, l3])
        // Each stage-1 descriptor read and the final IPA walk stage 2 (levels 1–3).
        XCTAssertEqual(dump.steps.filter { $0.stage == 2 }.count, 12)
        let unmapped = try XCTUnwrap(vm.translationDump(of: Self.ramBase + 0x5_0000))
        XCTAssertEqual(unmapped.fault, "stage-2 translation fault, level 3")
    }

    func testGuestTablesInADeviceWindowStopTheGuestInsteadOfLooping() throws {
        // TTBR0 points at MMIO: every walk, including the fetch of the exception vector the
        // external abort goes to, fails. The VM must stop with a guest fault, not spin.
        let vm = try makeVM(["nop"] + powerOffProgram)
        let s = vm.vcpus[0].cpu.state
        s.pointee.tcrEL1 = 25 | 1 << 23 | 2 << 30 | 2 << 32
        s.pointee.ttbr0EL1 = 0x0900_0000
        s.pointee.vbarEL1 = Self.ramBase + 0x1000
        s.pointee.sctlrEL1 |= 1
        vm.vcpus[0].cpu.updateTranslationContext()
        let record = try run(vm, timeout: 60)
        XCTAssertEqual(record.reason, .guestFault)
        XCTAssertTrue(record.detail.contains("exception vector"), record.detail)
        XCTAssertEqual(vm.statistics.stage2Faults["walk"], 2, "the entry point, then the vector")
    }

    func testReadOnlyMemoryIgnoresWritesAndRunsCode() throws {
        // ROM at IPA 0 holds a value and a function; the guest reads, writes (dropped), calls.
        let function = try CrossAssembler.assemble(["movz x7, #0x77", "ret"])
        var rom = [UInt32](repeating: 0, count: 0x400)
        rom[0] = 0xCAFE_F00D
        for (i, word) in function.enumerated() { rom[0x100 + i] = word }
        let vm = try makeVM(
            [
                "movz x1, #0", "ldr w2, [x1]", "movz w3, #1", "str w3, [x1]", "ldr w4, [x1]", "add x5, x1, #0x400",
                "blr x5",
            ] + powerOffProgram, romAddress: 0, rom: rom)
        XCTAssertEqual(try run(vm, timeout: 60).reason, .poweroff)
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(cpu.x(2), 0xCAFE_F00D)
        XCTAssertEqual(cpu.x(4), 0xCAFE_F00D, "the write did not change ROM")
        XCTAssertEqual(cpu.x(7), 0x77, "code runs from ROM")
        let stats = vm.statistics
        XCTAssertEqual(stats.readOnlyWrites, 1)
        XCTAssertEqual(stats.stage2Faults["permission"], 1)
    }

    func testDirtyPageTrackingRecordsWrittenPagesOnly() throws {
        let vm = try makeVM(
            [
                "movz x1, #0x4000, lsl #16", "ldr x2, [x1, #0x4000]", "str x2, [x1, #0x5000]",
                "str x2, [x1, #0x5008]", "ldr x3, [x1, #0x6000]", "str x3, [x1, #0x6000]",
            ] + powerOffProgram)
        vm.startDirtyLog()
        XCTAssertEqual(try run(vm, timeout: 60).reason, .poweroff)
        XCTAssertEqual(vm.collectDirtyPages(), [Self.ramBase + 0x5000, Self.ramBase + 0x6000])
        XCTAssertEqual(vm.collectDirtyPages(), [], "collecting starts a new round")
        XCTAssertEqual(vm.statistics.stage2Faults["permission"], 1, "page 0x6000: read first, written later")
    }

    func testInnerShareableTLBIReachesTheOtherVCPUs() throws {
        let memory = try MachineMemory(base: Self.ramBase, size: 1 << 20, cores: 2)
        let vm = VirtualMachine(name: "smp", memory: memory, bus: try MMIOBus(windows: []), vcpuCount: 2)
        let code = try CrossAssembler.assemble(["tlbi vmalle1is", "tlbi vmalle1"] + powerOffProgram)
        code.withUnsafeBytes { _ = memory.write($0, at: Self.ramBase) }
        vm.setBootState(entry: Self.ramBase, x0: 0)
        let other = vm.vcpus[1].cpu
        let before = other.tlb.flushes
        XCTAssertEqual(try run(vm, timeout: 60).reason, .poweroff)
        // The second vCPU never ran; its next block boundary acts on the request.
        _ = other.run(budget: 1)
        XCTAssertEqual(other.tlb.flushes, before + 1, "one flush for the IS operation, none for the local one")
    }

    /// A VM configured with 1 GiB that touches 16 MiB adds at most about 24 MiB to the host
    /// process's resident memory (issue "Memory virtualization", memory cost).
    func testLargeVMCostsWhatItTouches() throws {
        let before = try Self.residentBytes()
        let vm = try makeVM(
            [
                "movz x1, #0x4100, lsl #16", "movz x2, #4096",
                "1: str x2, [x1]", "add x1, x1, #0x1000", "subs x2, x2, #1", "b.ne 1b",
            ] + powerOffProgram, ramSize: 1 << 30)
        XCTAssertEqual(try run(vm, timeout: 60).reason, .poweroff)
        let after = try Self.residentBytes()
        let added = after > before ? after - before : 0
        print("memory cost: 1 GiB VM touching 16 MiB added \(added >> 10) KiB resident")
        XCTAssertEqual(vm.statistics.pagesMapped, 4097, "16 MiB and the code page")
        XCTAssertLessThanOrEqual(added, 24 << 20, "resident memory grew by \(added >> 20) MiB")
    }

    /// VmRSS of this process (the second field of /proc/self/statm, in pages).
    static func residentBytes() throws -> UInt64 {
        let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else {
            throw NSError(domain: "statm", code: 1, userInfo: [NSLocalizedDescriptionKey: "cannot parse \(statm)"])
        }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
