import Foundation
import TestSupport
import XCTest

/// Acceptance with a real image nobody here wrote: Debian's `u-boot-qemu` (fetched by
/// `scripts/fetch-images`), its `qemu_arm64/u-boot.bin` run with `armvisor run --bios`. It must
/// reach the `=>` prompt, answer `version` and `bdinfo` typed on the console, and `poweroff`
/// must end the run with exit status 0.
final class UBootAcceptanceTests: XCTestCase {
    func testDebianUBootReachesItsPromptAnswersCommandsAndPowersOff() throws {
        let uboot = try TestPaths.image("u-boot-qemu_arm64.bin")
        let vm = try InteractiveProcess(try TestPaths.product("armvisor"), ["run", "--bios", uboot])

        let banner = try vm.waitFor("Hit any key to stop autoboot")
        XCTAssertTrue(banner.contains("U-Boot 2023.01"), banner)
        XCTAssertTrue(banner.contains("DRAM:  128 MiB"), banner)
        XCTAssertTrue(banner.contains("In:    pl011@9000000"), banner)
        vm.send("\n")  // stop autoboot
        try vm.waitFor("=> ")

        var mark = vm.length
        vm.send("version\n")
        let version = try vm.waitFor("\n=> ", after: mark)
        XCTAssertTrue(version.contains("U-Boot 2023.01"), version)
        XCTAssertTrue(version.contains("aarch64-linux-gnu-gcc"), version)

        mark = vm.length
        vm.send("bdinfo\n")
        let bdinfo = try vm.waitFor("\n=> ", after: mark)
        XCTAssertTrue(bdinfo.contains("-> start    = 0x0000000040000000"), bdinfo)
        XCTAssertTrue(bdinfo.contains("-> size     = 0x0000000008000000"), bdinfo)

        mark = vm.length
        vm.send("poweroff\n")
        try vm.waitFor("poweroff ...", after: mark)
        XCTAssertEqual(vm.waitForExit(timeout: 30), 0, vm.text)
    }
}
