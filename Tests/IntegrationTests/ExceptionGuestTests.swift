import Foundation
import TestSupport
import XCTest

/// `armvisor run` on the `exceptions` guest (Tests/Guests/exceptions/exceptions.S): an EL1 kernel
/// that takes synchronous exceptions at EL1 and from EL0 and checks ESR/ELR/SPSR/FAR and the
/// vector offset of each against the Arm ARM, one `PASS`/`FAIL` line per check. When
/// `qemu-system-aarch64` is installed, the same image runs under QEMU, the reference, and the
/// console texts must match.
final class ExceptionGuestTests: CheckGuestTestCase {
    /// Every check the guest runs, in order.
    static let checks = [
        "svc_el1",
        "undef_el1",
        "brk_el1",
        "eret_to_el0",
        "svc_el0",
        "undef_el0_sysreg",
        "wfi_el0_trapped",
        "alignment_el0",
        "sp_alignment_el1",
        "pc_alignment",
        "illegal_return",
        "hvc_el0_undef",
    ]

    /// Checks of architecture rules QEMU does not model. QEMU 7.2 performs no SP alignment check
    /// (SCTLR_EL1.SA; `gen_check_sp_alignment` in target/arm/translate-a64.c is empty), so under
    /// QEMU the guest prints `SKIP sp_alignment_el1 ...` where armvisor must print `PASS`.
    static let notModelledByQEMU = ["sp_alignment_el1"]

    func testExceptionGuestPassesEveryCheck() throws {
        try assertGuestPassesEveryCheck("exceptions", checks: Self.checks, notModelledByQEMU: Self.notModelledByQEMU)
    }
}
