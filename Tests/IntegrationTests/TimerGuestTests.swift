import XCTest

/// `armvisor run` on the `timer` guest (Tests/Guests/timer/timer.S): the EL1 virtual timer's
/// PPI 27 delivered through the virtual GICv3 — distributor and redistributor set up by the
/// guest, the interrupt acknowledged and ended through ICC_IAR1/EOIR1 served from a list
/// register — compared with `qemu-system-aarch64 -M virt,gic-version=3`.
final class TimerGuestTests: CheckGuestTestCase {
    func testVirtualTimerInterruptThroughTheVirtualGIC() throws {
        try assertGuestPassesEveryCheck(
            "timer", checks: ["timer_irq", "timer_istatus", "spurious_after", "running_idle"], notModelledByQEMU: [],
            qemuMachine: "virt,gic-version=3")
    }
}
