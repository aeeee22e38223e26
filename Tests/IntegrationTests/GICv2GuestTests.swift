import TestSupport
import XCTest

/// `armvisor run --gic v2 --cpus 2` on the `gicv2` guest (Tests/Guests/gicv2/gicv2.S): the GICv2
/// distributor (banked INTIDs 0–31, ITARGETSR, GICD_SGIR with per-source SGIs) and the
/// memory-mapped CPU interface served from the list registers — the timer PPI as an IRQ,
/// priority masking, preemption and priority order, EOImode split (EOIR then DIR, active state
/// visible in GICD_ISACTIVER), SGIs between two vCPUs sleeping in WFI with the source CPU ID in
/// GICC_IAR — compared with `qemu-system-aarch64 -M virt,gic-version=2 -smp 2`.
final class GICv2GuestTests: CheckGuestTestCase {
    func testGICv2DistributorAndCPUInterfaceOnTwoVCPUs() throws {
        try assertGuestPassesEveryCheck(
            "gicv2",
            checks: [
                "typer", "itargets_spi", "timer_irq", "spurious_after", "pmr_masks", "pmr_unmasks", "no_preemption",
                "preemption", "priority_order", "eoimode_split", "lr_overflow", "sgi_to_cpu1", "sgi_to_cpu0",
                "spi_to_cpu1",
            ],
            notModelledByQEMU: [], qemuMachine: "virt,gic-version=2", cpus: 2, arguments: ["--gic", "v2"])
    }

    /// GICD_SGIR writes are counted like ICC_SGI1R_EL1 ones: the guest sends SGIs 5–8 and 8–15
    /// to itself, 3 to CPU 1 and 4 back — 14 sent, of which 2 came from the other vCPU (IPIs
    /// received count only those, `VMStatistics.ipisReceived`). The eight at once of
    /// `lr_overflow` overflow the list registers, and the underflow maintenance interrupt
    /// refills them.
    func testGICv2SGIsAreCounted() throws {
        let result = try ProcessRunner.run(
            try TestPaths.product("armvisor"),
            ["run", "--kernel", try TestPaths.guest("gicv2"), "--cpus", "2", "--gic", "v2", "--stats"], timeout: 120)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains(statisticsRow("SGIs sent", 14)), result.stderr)
        XCTAssertTrue(result.stderr.contains(statisticsRow("IPIs received", 2)), result.stderr)
        XCTAssertFalse(result.stderr.contains(statisticsRow("list register overflows", 0)), result.stderr)
        XCTAssertFalse(result.stderr.contains(statisticsRow("maintenance interrupts", 0)), result.stderr)
    }
}
