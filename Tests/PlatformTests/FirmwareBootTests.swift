import Foundation
import Hypervisor
import Platform
import TestSupport
import XCTest

/// `--bios`: firmware executed in place from read-only flash bank 0 at 0x0, with the DTB at the
/// start of RAM in x0 (QEMU `-bios` on `virt`), flash bank 1 a volatile CFI flash, and a kernel
/// given too waiting in RAM for the firmware.
final class FirmwareBootTests: FileTestCase {
    private func firmwareFile(_ source: [String]) throws -> String {
        let words = try CrossAssembler.assemble(source)
        return try file("firmware.bin", words.withUnsafeBytes { Array($0) })
    }

    func testFirmwareRunsInPlaceFromFlashWithTheDTBAtTheStartOfRAM() throws {
        // x0 = DTB address; read the FDT magic there; read our own first word from flash; try
        // to overwrite it (dropped: flash is read-only); read flash bank 1 (volatile: zero); power off.
        let path = try firmwareFile([
            "mov x9, x0", "ldr w10, [x0]", "movz x1, #0", "ldr w11, [x1]", "str wzr, [x1]", "ldr w12, [x1]",
            "movz x2, #0x400, lsl #16", "ldr w13, [x2]", "adr x14, .",
            "movz w0, #0x0008", "movk w0, #0x8400, lsl #16", "hvc #0",
        ])
        let vm = try Board.makeVM(name: "fw", configuration: VMConfiguration(console: "null", bios: path))
        try vm.start()
        let record = try XCTUnwrap(vm.waitUntilStopped(timeout: .now() + 20))
        XCTAssertEqual(record.reason, .poweroff)
        let cpu = vm.vcpus[0].cpu
        XCTAssertEqual(cpu.x(9), 0x4000_0000, "x0 = the DTB at the start of RAM")
        XCTAssertEqual(cpu.x(10), 0xEDFE_0DD0, "FDT magic (big-endian 0xd00dfeed)")
        let firstWord = try CrossAssembler.assemble(["mov x9, x0"])[0]
        XCTAssertEqual(UInt32(cpu.x(11)), firstWord)
        XCTAssertEqual(UInt32(cpu.x(12)), firstWord, "the store to flash was dropped")
        XCTAssertEqual(cpu.x(13), 0, "flash bank 1 without a file: zeroed, as QEMU's pflash without a drive")
        XCTAssertEqual(cpu.x(14), 0x20, "the code runs at its flash address")
        XCTAssertEqual(vm.statistics.readOnlyWrites, 1)
    }

    func testBadFirmwareConfigurations() throws {
        let path = try firmwareFile(["nop"])
        XCTAssertEqual(
            buildError(VMConfiguration(console: "null", bios: dir.path + "/missing.bin")),
            "bios \(dir.path)/missing.bin: no such file")
        let empty = dir.appendingPathComponent("empty").path
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        XCTAssertEqual(buildError(VMConfiguration(console: "null", bios: empty)), "bios \(empty): empty file")
        let pflash = try file("small.img", [1, 2, 3])
        var configuration = VMConfiguration(console: "null", bios: path)
        configuration.pflash = pflash
        XCTAssertEqual(
            buildError(configuration),
            "pflash \(pflash): 3 bytes; a flash bank is exactly 67108864 bytes (64 MiB: `truncate -s 64M` makes one)")
        configuration.pflash = dir.path + "/missing.img"
        XCTAssertEqual(buildError(configuration), "pflash \(dir.path)/missing.img: No such file or directory")
        XCTAssertEqual(
            buildError(VMConfiguration(console: "null")),
            "no guest image: set 'kernel' (or --kernel FILE) or 'bios' (or --bios FILE)")
    }

    /// `--bios` with `--kernel` (QEMU allows both): the firmware runs from flash with x0 = the DTB
    /// at the start of RAM, and the kernel is already in RAM where the firmware jumps to it.
    func testFirmwareAndKernelTogether() throws {
        let firmware = try firmwareFile(["mov x9, x0", "movz x1, #0x4008, lsl #16", "br x1"])
        let kernelWords = try CrossAssembler.assemble([
            "movz x15, #0x77", "movz w0, #0x0008", "movk w0, #0x8400, lsl #16", "hvc #0",
        ])
        let kernel = try file("kernel.bin", kernelWords.withUnsafeBytes { Array($0) })
        let vm = try Board.makeVM(
            name: "fw+kernel", configuration: VMConfiguration(kernel: kernel, console: "null", bios: firmware))
        XCTAssertEqual(vm.vcpus[0].cpu.pc, 0, "the vCPU starts in the firmware")
        try vm.start()
        XCTAssertEqual(try XCTUnwrap(vm.waitUntilStopped(timeout: .now() + 20)).reason, .poweroff)
        XCTAssertEqual(vm.vcpus[0].cpu.x(9), 0x4000_0000)
        XCTAssertEqual(vm.vcpus[0].cpu.x(15), 0x77, "the raw kernel ran at 0x40080000")
    }
}
