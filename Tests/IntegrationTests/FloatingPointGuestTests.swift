import Foundation
import TestSupport
import XCTest

/// `armvisor run` on the `fpmath` guest (Tests/Guests/fpmath: freestanding C compiled with
/// `aarch64-linux-gnu-gcc -O2 -ffreestanding`, FP/SIMD on): vectorised loops, double
/// arithmetic printed by the guest's own formatter, the FPCR rounding modes, FZ and DN, FPSR,
/// and the AdvSIMD saturating/narrowing/long/estimate/fixed-point instructions. Its console
/// text must be the same, byte for byte, as the same image's under `qemu-system-aarch64 -M
/// virt` (issue 8's bare-metal FP guest); the lines that do not depend on how the compiler
/// scheduled or fused the arithmetic are also checked against hand-worked values.
final class FloatingPointGuestTests: XCTestCase {
    /// Lines whose values follow from the source alone (Arm ARM semantics, worked by hand).
    static let knownLines = [
        "third 3.3333333333333330e-1 3fd5555555555555",
        "sqrt2 1.4142135623730951e0 3ff6a09e667f3bcd",
        "fma -5.5511151231257827e-17 bc90000000000000",  // 1/3 × 3 − 1, one rounding: −2^−54
        "overflow inf 7ff0000000000000",
        "rn 3fd5555555555555 bfd5555555555555 3eaaaaab",
        "rp 3fd5555555555556 bfd5555555555555 3eaaaaab",
        "rm 3fd5555555555555 bfd5555555555556 3eaaaaaa",
        "rz 3fd5555555555555 bfd5555555555555 3eaaaaaa",
        "fz 0000000000000000 dn 7ff8000000000000",
        "sqdmlal 7fffffffffffffff7fffffffffffffff",
        "sqshl 80000000000000007fffffffc0000000",
        "saturating fpsr 08000000",
        "fcvtxn 3f800001 fmulx c0000000",
    ]

    func testFreestandingFloatingPointProgramMatchesQEMU() throws {
        let guest = try TestPaths.guest("fpmath")
        let result = try ProcessRunner.run(try TestPaths.product("armvisor"), ["run", "--kernel", guest], timeout: 120)
        XCTAssertEqual(result.reason, .exit, "terminated by a signal")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        let output = result.stdout
        XCTAssertTrue(output.hasPrefix("fpmath\n"), output)
        XCTAssertTrue(output.hasSuffix("DONE\n"), output)
        let printed = Set(output.split(separator: "\n").map(String.init))
        for line in Self.knownLines {
            XCTAssertTrue(printed.contains(line), "missing \"\(line)\" in:\n\(output)")
        }

        guard let qemu = CheckGuestTestCase.findOnPath("qemu-system-aarch64") else {
            print("\(Self.self): qemu-system-aarch64 not on PATH; QEMU comparison skipped")
            return
        }
        let reference = try ProcessRunner.run(
            qemu, ["-M", "virt", "-cpu", "cortex-a57", "-nographic", "-m", "128M", "-kernel", guest], timeout: 60)
        XCTAssertEqual(reference.status, 0, "QEMU: \(reference.stderr)")
        XCTAssertEqual(output, reference.stdout, "armvisor and QEMU print different text")
    }
}
