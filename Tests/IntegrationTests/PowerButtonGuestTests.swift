import Foundation
import TestSupport
import XCTest

/// The `powerbutton` guest (Tests/Guests/powerbutton/powerbutton.S): the PL031's identification
/// and time, then the power button on PL061 pin 3 delivered as SPI 7 through the GICv3.
enum PowerButtonGuest {
    static let expectedOutput =
        "PASS rtc_id\nPASS rtc_time\nREADY\nPASS gpio_irq\nPASS gpio_mis\nPASS gpio_data\nDONE\n"
}

/// The reference: the same image on `qemu-system-aarch64 -M virt,gic-version=3`, whose monitor
/// command `system_powerdown` presses the same button (QEMU `virt_powerdown_req`). What armvisor
/// prints for it is checked in `DaemonTests.testStopAndShutdownPressThePowerButton` and
/// `GracefulStopTests` (ControlTests).
final class PowerButtonGuestTests: XCTestCase {
    func testQEMUVirtPrintsTheSameChecksOnSystemPowerdown() throws {
        guard let qemu = CheckGuestTestCase.findOnPath("qemu-system-aarch64") else {
            throw XCTSkip("qemu-system-aarch64 not on PATH")
        }
        let guest = try TestPaths.guest("powerbutton")
        // -nographic multiplexes the monitor on standard input: Ctrl-A c switches to it.
        let process = try InteractiveProcess(
            qemu, ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-nographic", "-m", "128M", "-kernel", guest])
        try process.waitFor("READY\n", timeout: 30)
        process.send("\u{01}c")
        try process.waitFor("(qemu)", timeout: 30)
        process.send("system_powerdown\n")
        try process.waitFor("DONE\n", timeout: 30)
        XCTAssertEqual(process.waitForExit(timeout: 30), 0)
        // The guest's lines after the command share the terminal with the monitor's prompt.
        let lines = process.text.replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "(qemu) ", with: "")
            .split(separator: "\n")
        let guestLines = lines.filter { $0.hasPrefix("PASS") || $0.hasPrefix("FAIL") || $0 == "READY" || $0 == "DONE" }
        XCTAssertEqual(guestLines.map { "\($0)\n" }.joined(), PowerButtonGuest.expectedOutput, process.text)
    }
}
