import Foundation
import Hypervisor
import XCTest

/// PSCI SYSTEM_OFF through HVC (function ID 0x8400_0008 in W0): the end of a guest program
/// that powers off.
let powerOffProgram = ["movz w0, #0x0008", "movk w0, #0x8400, lsl #16", "hvc #0"]

extension XCTestCase {
    /// Starts `vm` and waits until it stops, at most `seconds`: a VM still running then fails the
    /// test ("VM did not stop") and is stopped, and that stop's record is returned.
    func run(
        _ vm: VirtualMachine, timeout seconds: Double = 20, file: StaticString = #filePath, line: UInt = #line
    ) throws -> StopRecord {
        try vm.start()
        guard let record = vm.waitUntilStopped(timeout: .now() + seconds) else {
            vm.requestStop()
            XCTFail("VM did not stop", file: file, line: line)
            return vm.waitUntilStopped()
        }
        return record
    }
}
