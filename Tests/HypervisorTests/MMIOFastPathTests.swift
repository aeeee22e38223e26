import AArch64
import Hypervisor
import TestSupport
import XCTest

/// The MMIO exit's shortcuts: the core's stage-2 fault memo (a repeated access to an unmapped
/// page exits without walking) and the vCPU's route cache (a repeated exit to a window skips
/// the memory-slot search and the bus look-up). Both must give exactly what the full path gives.
final class MMIOFastPathTests: XCTestCase {
    static let ramBase: UInt64 = 0x4000_0000

    /// Windows smaller than a page share one (virtio-mmio transports are 0x200 bytes each), and
    /// the third lands on the same route-cache entry as the first (16 pages apart): alternating
    /// accesses must each reach their own device, at their own offset, counted per window.
    func testAlternatingAccessesToWindowsSharingAPageOrACacheEntryReachTheirOwnDevices() throws {
        let a = RecordingDevice(readValue: 0xA)
        let b = RecordingDevice(readValue: 0xB)
        let c = RecordingDevice(readValue: 0xC)
        let memory = try MachineMemory(base: Self.ramBase, size: 1 << 20)
        let bus = try MMIOBus(windows: [
            .init(base: 0x0A00_0000, size: 0x200, device: a),
            .init(base: 0x0A00_0200, size: 0x200, device: b),
            .init(base: 0x0A01_0000, size: 0x1000, device: c),
        ])
        let vm = VirtualMachine(name: "routes", memory: memory, bus: bus)
        var program = ["movz x1, #0x0a00, lsl #16", "add x2, x1, #0x200", "movz x3, #0x0a01, lsl #16", "movz x9, #0"]
        for round in 0..<3 {
            program += [
                "ldr w4, [x1, #0x10]", "add x9, x9, x4",
                "ldr w5, [x2, #0x20]", "add x9, x9, x5",
                "ldr w6, [x3, #0x30]", "add x9, x9, x6",
                "str w9, [x2, #\(0x40 + round * 4)]",
            ]
        }
        let code = try CrossAssembler.assemble(program + powerOffProgram)
        code.withUnsafeBytes { _ = memory.write($0, at: Self.ramBase) }
        vm.setBootState(entry: Self.ramBase, x0: 0)
        XCTAssertEqual(try run(vm).reason, .poweroff)
        XCTAssertEqual(a.accesses, Array(repeating: .init(offset: 0x10, size: 4, value: nil), count: 3))
        XCTAssertEqual(
            b.accesses,
            [
                .init(offset: 0x20, size: 4, value: nil), .init(offset: 0x40, size: 4, value: 0x21),
                .init(offset: 0x20, size: 4, value: nil), .init(offset: 0x44, size: 4, value: 0x42),
                .init(offset: 0x20, size: 4, value: nil), .init(offset: 0x48, size: 4, value: 0x63),
            ])
        XCTAssertEqual(c.accesses, Array(repeating: .init(offset: 0x30, size: 4, value: nil), count: 3))
        XCTAssertEqual(vm.vcpus[0].cpu.x(9), 0x63)
        let counters = vm.vcpus[0].counters
        XCTAssertEqual((0..<3).map { counters.mmioExits(window: $0) }, [3, 6, 3])
        XCTAssertEqual(vm.statistics.mmioReads, 9)
        XCTAssertEqual(vm.statistics.mmioWrites, 3)
    }

    /// A page the memo knows to be unmapped keeps giving the syndrome a fresh walk gives: the
    /// fault level follows the tables as another page's mapping deepens them, and the access
    /// completes once the page itself is mapped.
    func testRepeatedStage2FaultsFollowTheTablesAsPagesAreMapped() throws {
        let memory = try MachineMemory(base: Self.ramBase, size: 4 << 20)
        let vm = VirtualMachine(name: "memo", memory: memory, bus: try MMIOBus(windows: []))
        let target = Self.ramBase + 0x20_0000  // the second 2 MiB block: no level-3 table yet
        let code = try CrossAssembler.assemble(["ldr w2, [x1]", "hvc #0xffff"])
        code.withUnsafeBytes { _ = memory.write($0, at: Self.ramBase) }
        XCTAssertTrue(try vm.stage2.mapPage(containing: Self.ramBase))  // the code page
        let cpu = vm.vcpus[0].cpu

        func load() -> (exit: CoreExit, syndrome: UInt64) {
            cpu.pc = Self.ramBase
            cpu.setX(1, target + 8)
            let exit = cpu.run(budget: 100)
            return (exit, cpu.state.pointee.exitSyndrome)
        }
        // ISV, SAS word, SRT 2, DABT_LOW with IL; translation fault at `level`.
        func abort(level: UInt64) -> UInt64 { 0x9200_0000 | 1 << 24 | 2 << 22 | 2 << 16 | (0x04 + level) }

        let first = load()
        XCTAssertEqual(first.exit, .trap)
        XCTAssertEqual(first.syndrome, abort(level: 2))
        XCTAssertEqual(load().syndrome, abort(level: 2), "the same fault again, from the memo")
        XCTAssertEqual(cpu.state.pointee.exitFaultAddress, target + 8)

        XCTAssertTrue(try vm.stage2.mapPage(containing: target + 0x1000))  // a neighbour: a level-3 table
        XCTAssertEqual(load().syndrome, abort(level: 3), "the walk now ends one level deeper")
        XCTAssertEqual(load().syndrome, abort(level: 3))

        memory.physical.pointer(target + 8, 4)?.storeBytes(of: UInt32(0x1234_5678), as: UInt32.self)
        XCTAssertTrue(try vm.stage2.mapPage(containing: target))
        let mapped = load()
        XCTAssertEqual(mapped.exit, .trap)
        XCTAssertEqual(Syndrome.exceptionClass(mapped.syndrome), ExceptionClass.hvc64.rawValue, "the load completed")
        XCTAssertEqual(cpu.x(2), 0x1234_5678)
    }
}
