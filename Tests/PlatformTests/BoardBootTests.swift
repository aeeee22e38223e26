import Foundation
import Hypervisor
import Platform
import TestSupport
import XCTest

/// Boots the bundled guest programs through `Board.makeVM`, the path `armvisor run` and the
/// daemon use, and checks what the guest printed and what the highvisor counted.
final class BoardBootTests: XCTestCase {
    private func boot(_ guest: String, memory: String = "128M") throws -> (StopRecord, String, VMStatistics) {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let consolePath = dir.appendingPathComponent("console").path
        let vm = try Board.makeVM(
            name: guest,
            configuration: VMConfiguration(
                memory: memory, kernel: try TestPaths.guest(guest), console: "file:\(consolePath)"))
        try vm.start()
        guard let record = vm.waitUntilStopped(timeout: .now() + 30) else {
            vm.requestStop()
            _ = vm.waitUntilStopped()
            XCTFail("\(guest) did not stop within 30 s")
            return (StopRecord(reason: .killed), "", vm.statistics)
        }
        let console = (try? String(contentsOfFile: consolePath, encoding: .utf8)) ?? ""
        return (record, console, vm.statistics)
    }

    func testDemoGuest_printsGreetingAndPowersOff() throws {
        let (record, console, stats) = try boot("demo")
        XCTAssertEqual(record.reason, .poweroff)
        XCTAssertEqual(
            console, "Hello from the armvisor demo guest!\nEL1 guest: powering off through PSCI\n")
        // One MMIO exit per FR poll and per DR write, and one HVC for SYSTEM_OFF.
        XCTAssertEqual(stats.mmioWrites, UInt64(console.utf8.count))
        XCTAssertGreaterThanOrEqual(stats.mmioReads, UInt64(console.utf8.count))
        XCTAssertEqual(stats.exitsByClass["DABT_LOW"], stats.mmioReads + stats.mmioWrites)
        // Every one of them went to the PL011.
        XCTAssertEqual(stats.mmioByDevice, ["pl011": stats.mmioReads + stats.mmioWrites])
        XCTAssertEqual(stats.exitsByClass["HVC64"], 1)
        XCTAssertEqual(stats.hypercalls, 1)
        XCTAssertGreaterThan(stats.instructionsRetired, 100)
        XCTAssertGreaterThanOrEqual(stats.worldSwitches, stats.mmioReads + stats.mmioWrites + 1)
    }

    func testDemoGuestELF_bootsLikeTheRawImage() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let consolePath = dir.appendingPathComponent("console").path
        let vm = try Board.makeVM(
            name: "elf",
            configuration: VMConfiguration(
                kernel: try TestPaths.guest("demo", kind: "elf"), console: "file:\(consolePath)"))
        try vm.start()
        XCTAssertEqual(vm.waitUntilStopped().reason, .poweroff)
        XCTAssertTrue(
            try String(contentsOfFile: consolePath, encoding: .utf8).hasPrefix("Hello from the armvisor demo guest!"))
    }

    func testUndefinedInstruction_isDeliveredToTheGuestVector() throws {
        let (record, console, stats) = try boot("undef")
        XCTAssertEqual(record.reason, .poweroff)
        XCTAssertEqual(console, "UNDEF trapped\n")
        // UNDEF is taken at EL1 inside the guest: it is not an exit.
        XCTAssertNil(stats.exitsByClass["UNKNOWN"])
    }

    func testStartTwice_isRejected() throws {
        let vm = try Board.makeVM(
            name: "twice", configuration: VMConfiguration(kernel: try TestPaths.guest("demo"), console: "null"))
        try vm.start()
        XCTAssertThrowsError(try vm.start())
        _ = vm.waitUntilStopped()
    }
}
