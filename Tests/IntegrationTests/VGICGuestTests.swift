import TestSupport
import XCTest

/// `armvisor run` on the `vgic` guest (Tests/Guests/vgic/vgic.c): more pending SGIs than list
/// registers, the physical timer (TVAL, CVAL, IMASK) and the virtual timer (CVAL, IMASK),
/// EOImode = 1, the priority mask, preemption, and a level SPI raised by a host timer (the
/// PL031's alarm) — compared with `qemu-system-aarch64 -M virt,gic-version=3`.
final class VGICGuestTests: CheckGuestTestCase {
    static let checks = [
        "lr_overflow", "ptimer_tval", "ptimer_cval", "ptimer_masked", "vtimer_cval", "vtimer_masked", "eoimode",
        "priority_mask", "preemption", "rtc_level_spi",
    ]

    func testListRegisterOverflowTimersPriorityAndHostSPIs() throws {
        try assertGuestPassesEveryCheck(
            "vgic", checks: Self.checks, notModelledByQEMU: [], qemuMachine: "virt,gic-version=3")
    }

    /// Eight SGIs pending at once do not fit the four list registers: the flush overflows and the
    /// underflow maintenance interrupt refills them; the RTC's level SPI was injected at least
    /// twice (taken again while its line stayed high); the timers' PPIs were injected.
    func testOverflowAndMaintenanceAreCounted() throws {
        let result = try ProcessRunner.run(
            try TestPaths.product("armvisor"), ["run", "--kernel", try TestPaths.guest("vgic"), "--stats"],
            timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasSuffix("DONE\n"), result.stdout)
        func value(_ name: String) -> UInt64? {
            let prefix = "  " + name.padding(toLength: 28, withPad: " ", startingAt: 0)
            return lines(result.stderr).first { $0.hasPrefix(prefix) }.flatMap {
                UInt64($0.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces))
            }
        }
        XCTAssertGreaterThan(value("list register overflows") ?? 0, 0, result.stderr)
        XCTAssertGreaterThan(value("maintenance interrupts") ?? 0, 0, result.stderr)
        XCTAssertGreaterThanOrEqual(value("  injected SPIs") ?? 0, 2, result.stderr)
        XCTAssertGreaterThanOrEqual(value("  injected PPIs") ?? 0, 3, result.stderr)
        XCTAssertGreaterThanOrEqual(value("  injected SGIs") ?? 0, 13, result.stderr)
        XCTAssertEqual(value("SGIs sent"), 13, result.stderr)
    }
}
