import Foundation
import Hypervisor
import Platform
import TestSupport
import XCTest

/// Linux boot inputs besides the kernel: gzip-compressed Images, the initrd and the command
/// line, placed and announced as QEMU does (hw/arm/boot.c).
final class KernelBootArgumentsTests: FileTestCase {
    /// A minimal arm64 Image: header with image_size 0x1000 and the "ARM\x64" magic.
    private func linuxImage() -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 0x1000)
        header[0x11] = 0x10
        header[0x38] = 0x41; header[0x39] = 0x52; header[0x3A] = 0x4D; header[0x3B] = 0x64
        header[0x800] = 0x5A
        return header
    }

    private func gzip(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-n", "-k", path]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        return path + ".gz"
    }

    func testGzipCompressedImageIsDecompressedAndPlacedLikeTheImage() throws {
        let plain = try file("Image", linuxImage())
        let image = try GuestImage.load(path: try gzip(plain), ramBase: 0x4000_0000, ramSize: 128 << 20)
        XCTAssertEqual(image.kind, .linuxImage)
        XCTAssertEqual(image.entry, 0x4020_0000)
        XCTAssertEqual(image.segments.first?.bytes, linuxImage())
    }

    func testCorruptGzipIsAOneLineError() throws {
        var compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try gzip(try file("Image", linuxImage())))))
        let truncated = try file("truncated.gz", Array(compressed.prefix(compressed.count / 2)))
        for i in 10..<20 { compressed[i] ^= 0xFF }
        let mangled = try file("mangled.gz", compressed)
        for (path, reason) in [(truncated, "corrupt gzip data: truncated"), (mangled, "corrupt gzip data: ")] {
            do {
                _ = try GuestImage.load(path: path, ramBase: 0x4000_0000, ramSize: 128 << 20)
                XCTFail("\(path) loaded")
            } catch {
                XCTAssertTrue("\(error)".hasPrefix("kernel \(path): \(reason)"), "\(error)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
    }

    func testInitrdAndCommandLineArePlacedAndAnnouncedAsQEMUDoes() throws {
        let initrd = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let dtbPath = dir.appendingPathComponent("out.dtb").path
        let vm = try Board.makeVM(
            name: "linux",
            configuration: VMConfiguration(
                memory: "128M", kernel: try file("Image", linuxImage()), console: "null",
                initrd: try file("initrd", initrd), append: "console=ttyAMA0 rdinit=/bin/sh"),
            dumpDeviceTree: dtbPath)
        // RAM base + min(RAM / 2, 128 MiB) = 0x44000000 (above the kernel's end); DTB at the
        // next 2 MiB boundary after the initrd.
        XCTAssertEqual(vm.memory.read(0x4400_0000, count: initrd.count), initrd)
        XCTAssertEqual(vm.vcpus[0].cpu.x(0), 0x4420_0000, "x0 = the DTB, after the initrd")
        XCTAssertEqual(vm.memory.read(0x4420_0000, count: 4), [0xD0, 0x0D, 0xFE, 0xED])
        XCTAssertEqual(vm.memory.read(0x4020_0800, count: 1), [0x5A], "the kernel at 0x40200000")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["dtc", "-I", "dtb", "-O", "dts", dtbPath]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let dts = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertTrue(dts.contains("linux,initrd-start = <0x00 0x44000000>"), dts)
        XCTAssertTrue(dts.contains("linux,initrd-end = <0x00 0x44001388>"), dts)
        XCTAssertTrue(dts.contains("bootargs = \"console=ttyAMA0 rdinit=/bin/sh\""), dts)
    }

    func testInitrdErrors() throws {
        let kernel = try file("Image", linuxImage())
        XCTAssertEqual(
            buildError(VMConfiguration(kernel: kernel, console: "null", initrd: dir.path + "/none")),
            "initrd \(dir.path)/none: no such file")
        let big = try file("big", [UInt8](repeating: 1, count: 3 << 20))
        XCTAssertEqual(
            buildError(VMConfiguration(memory: "4M", kernel: kernel, console: "null", initrd: big)),
            "initrd \(big): 3145728 bytes at 0x40201000 do not fit in RAM (ends at 0x40400000)")
        XCTAssertEqual(
            buildError(VMConfiguration(console: "null", bios: kernel, append: "x")),
            "'initrd' and 'append' are for a Linux 'kernel', not for 'bios'")
        // Rejected configurations open no backend: a file console keeps what it had.
        let log = try file("console.log", Array("earlier run\n".utf8))
        XCTAssertEqual(
            buildError(VMConfiguration(kernel: kernel, console: "file:" + log, initrd: dir.path + "/none")),
            "initrd \(dir.path)/none: no such file")
        XCTAssertEqual(
            buildError(VMConfiguration(console: "file:" + log, bios: kernel, append: "x")),
            "'initrd' and 'append' are for a Linux 'kernel', not for 'bios'")
        XCTAssertEqual(FileManager.default.contents(atPath: log), Data("earlier run\n".utf8))
    }
}
