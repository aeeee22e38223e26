import Foundation
import Hypervisor
import Platform
import TestSupport
import XCTest

/// The `psci` setting through `Board.makeVM`: with `smc` an SMC from the guest is a PSCI call and
/// the device tree says `method = "smc"`; with the default (`hvc`) the same SMC is UNDEFINED.
final class PSCIConduitTests: FileTestCase {
    /// A raw image (loaded and entered at 0x4008_0000): VBAR_EL1 = 0x4008_0800, then PSCI
    /// SYSTEM_OFF through `smc #0`. The UNDEF vector (current EL, SPx, synchronous: VBAR + 0x200)
    /// records ESR_EL1 in X21 and powers off through `hvc #0` instead.
    private func smcGuest() throws -> String {
        let systemOff = ["movz w0, #0x0008", "movk w0, #0x8400, lsl #16"]
        let program =
            ["movz x1, #0x4008, lsl #16", "movk x1, #0x0800", "msr vbar_el1, x1", "isb", "mov x21, #0"] + systemOff
            + ["smc #0"]
        let vector = ["mrs x21, esr_el1"] + systemOff + ["hvc #0"]
        var words = try CrossAssembler.assemble(program)
        XCTAssertLessThanOrEqual(words.count, 0xA00 / 4)
        words += [UInt32](repeating: 0, count: 0xA00 / 4 - words.count)
        words += try CrossAssembler.assemble(vector)
        return try file("smc-guest.bin", words.withUnsafeBytes { Array($0) })
    }

    typealias Outcome = (record: StopRecord?, x21: UInt64, smc: UInt64, hvc: UInt64, method: String)

    /// Boots the guest with `psci` (nil: the default) and returns the stop, the vCPU's X21, how
    /// many SMC and HVC exits there were, and the `/psci` node's `method` in the dumped tree.
    private func boot(psci: String?) throws -> Outcome {
        let dump = dir.appendingPathComponent("virt-\(psci ?? "default").dtb").path
        let vm = try Board.makeVM(
            name: "psci", configuration: VMConfiguration(kernel: try smcGuest(), console: "null", psci: psci),
            dumpDeviceTree: dump)
        try vm.start()
        let record = vm.waitUntilStopped(timeout: .now() + 20)
        if record == nil {
            vm.requestStop()
            _ = vm.waitUntilStopped()
        }
        let statistics = vm.statistics
        return (
            record, vm.vcpus[0].cpu.x(21), statistics.exitsByClass["SMC64"] ?? 0,
            statistics.exitsByClass["HVC64"] ?? 0, try psciMethod(dump)
        )
    }

    /// The `method` line of the `psci` node of the tree at `path`, as `dtc` decompiles it.
    private func psciMethod(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["dtc", "-I", "dtb", "-O", "dts", path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let dts = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "dtc failed on \(path)")
        guard let node = dts.range(of: "psci {") else { return "no psci node in:\n\(dts)" }
        let body = dts[node.upperBound...].prefix { $0 != "}" }
        return body.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("method = ") } ?? "no method in the psci node"
    }

    func testSMCConduitReachesTheBoard() throws {
        let smc = try boot(psci: "smc")
        XCTAssertEqual(smc.record, StopRecord(reason: .poweroff, detail: "PSCI SYSTEM_OFF"))
        XCTAssertEqual(smc.x21, 0, "the SMC took the UNDEF vector")
        XCTAssertEqual(smc.smc, 1)
        XCTAssertEqual(smc.hvc, 0)
        XCTAssertEqual(smc.method, #"method = "smc";"#)
    }

    func testWithTheDefaultConduitTheSMCIsUndefined() throws {
        let hvc = try boot(psci: nil)
        // The SMC did not power off: it trapped (HCR_EL2.TSC) and was reflected to the guest as
        // UNDEFINED (ESR_EL1 EC 0, IL 1), and the vector's HVC powered off.
        XCTAssertEqual(hvc.record, StopRecord(reason: .poweroff, detail: "PSCI SYSTEM_OFF"))
        XCTAssertEqual(hvc.x21, 0x0200_0000)
        XCTAssertEqual(hvc.smc, 1)
        XCTAssertEqual(hvc.hvc, 1)
        XCTAssertEqual(hvc.method, #"method = "hvc";"#)
    }
}
