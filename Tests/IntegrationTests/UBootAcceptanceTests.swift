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

    /// U-Boot's own virtio-mmio and virtio-blk drivers (not ours) on an armvisor disk, over both
    /// interfaces: it finds the device, reads sector 0 (which the host filled), and writes
    /// sector 2, which lands in the host file.
    func testDebianUBootReadsAndWritesAVirtioDisk() throws {
        for version in ["2", "1"] { try readAndWriteVirtioDisk(version: version) }
    }

    /// On the modern (2) or legacy (1) virtio-mmio interface.
    private func readAndWriteVirtioDisk(version: String) throws {
        let uboot = try TestPaths.image("u-boot-qemu_arm64.bin")
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let disk = directory.appendingPathComponent("disk.img").path
        var bytes = [UInt8](repeating: 0, count: 1 << 20)
        bytes.replaceSubrange(0..<5, with: Array("DISK0".utf8))
        try Data(bytes).write(to: URL(fileURLWithPath: disk))
        let vm = try InteractiveProcess(
            try TestPaths.product("armvisor"), ["run", "--bios", uboot, "--disk", disk, "--virtio-version", version])
        try vm.waitFor("Hit any key to stop autoboot")
        vm.send("\n")
        try vm.waitFor("=> ")

        func command(_ text: String) throws -> String {
            let mark = vm.length
            vm.send(text + "\n")
            return try vm.waitFor("\n=> ", after: mark)
        }
        _ = try command("virtio scan")
        let info = try command("virtio info")
        XCTAssertTrue(info.contains("QEMU VirtIO Block Device"), "virtio-version \(version): \(info)")
        XCTAssertTrue(info.contains("(2048 x 512)"), info)
        let read = try command("virtio read 0x44000000 0 1")
        XCTAssertTrue(read.contains("1 blocks read: OK"), read)
        let dump = try command("md.b 0x44000000 5")
        XCTAssertTrue(dump.contains("44000000: 44 49 53 4b 30"), dump)
        let write = try command("virtio write 0x44000000 2 1")
        XCTAssertTrue(write.contains("1 blocks written: OK"), write)

        let mark = vm.length
        vm.send("poweroff\n")
        try vm.waitFor("poweroff ...", after: mark)
        XCTAssertEqual(vm.waitForExit(timeout: 30), 0, vm.text)
        let after = [UInt8](try Data(contentsOf: URL(fileURLWithPath: disk)))
        XCTAssertEqual(Array(after[1024..<1029]), Array("DISK0".utf8), "sector 2 now holds what U-Boot wrote")
        XCTAssertEqual(Array(after[0..<1024]), Array(bytes[0..<1024]))
    }

    /// U-Boot's own CFI flash driver on armvisor's flash bank 1 (`--pflash`): `flinfo` describes
    /// it as it does under QEMU (U-Boot probes it as one x16 device: 32 MB in 256 sectors), and
    /// `saveenv` erases and programs its environment there; the next boot loads it back from the
    /// host file. (Bank 0 holds U-Boot itself as read-only memory, which U-Boot reports as
    /// unknown flash; QEMU also answers CFI there.)
    func testDebianUBootSavesItsEnvironmentInFlash() throws {
        let uboot = try TestPaths.image("u-boot-qemu_arm64.bin")
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bank = directory.appendingPathComponent("flash1.img").path
        try Data(count: 64 << 20).write(to: URL(fileURLWithPath: bank))

        func boot() throws -> (InteractiveProcess, String) {
            let vm = try InteractiveProcess(
                try TestPaths.product("armvisor"), ["run", "--bios", uboot, "--pflash", bank])
            let banner = try vm.waitFor("Hit any key to stop autoboot")
            vm.send("\n")
            try vm.waitFor("=> ")
            return (vm, banner)
        }
        func command(_ vm: InteractiveProcess, _ text: String) throws -> String {
            let mark = vm.length
            vm.send(text + "\n")
            return try vm.waitFor("\n=> ", after: mark)
        }
        func powerOff(_ vm: InteractiveProcess) throws {
            let mark = vm.length
            vm.send("poweroff\n")
            try vm.waitFor("poweroff ...", after: mark)
            XCTAssertEqual(vm.waitForExit(timeout: 30), 0, vm.text)
        }

        let (first, banner) = try boot()
        XCTAssertTrue(banner.contains("Loading Environment from Flash... *** Warning - bad CRC"), banner)
        let info = try command(first, "flinfo")
        XCTAssertTrue(info.contains("Bank # 2: CFI conformant flash (16 x 16)  Size: 32 MB in 256 Sectors"), info)
        XCTAssertTrue(info.contains("Intel Extended command set, Manufacturer ID: 0x89, Device ID: 0x0018"), info)
        XCTAssertTrue(info.contains("buffer size: 2048 bytes"), info)
        _ = try command(first, "setenv armvisor_mark pflash-ok")
        let save = try command(first, "saveenv")
        XCTAssertTrue(save.contains("Writing to Flash... done"), save)
        XCTAssertTrue(save.contains("OK"), save)
        try powerOff(first)
        let file = try Data(contentsOf: URL(fileURLWithPath: bank))
        XCTAssertNotNil(file.range(of: Data("armvisor_mark=pflash-ok".utf8)), "the environment is in the file")

        let (second, again) = try boot()
        XCTAssertTrue(again.contains("Loading Environment from Flash... OK"), again)
        let printed = try command(second, "printenv armvisor_mark")
        XCTAssertTrue(printed.contains("armvisor_mark=pflash-ok"), printed)
        try powerOff(second)
    }
}
