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

    /// A user's tree (`dtb`) the way `DeviceTreeWriter` makes one: a root with `addressCells` and,
    /// optionally, a /chosen with `chosen`'s string properties.
    private func userTree(addressCells: UInt32, chosen: [String: String]?) throws -> [UInt8] {
        let fdt = try DeviceTreeWriter()
        try fdt.beginNode("")
        try fdt.property("#address-cells", cells: [addressCells])
        try fdt.property("#size-cells", cells: [1])
        try fdt.property("compatible", string: "user,board")
        if let chosen {
            try fdt.beginNode("chosen")
            for (name, value) in chosen.sorted(by: { $0.key < $1.key }) { try fdt.property(name, string: value) }
            try fdt.endNode()
        }
        try fdt.endNode()
        return try fdt.finish()
    }

    /// The tree the boot vCPU's X0 points at, decompiled (dtc must accept it silently).
    private func treeInRAM(_ vm: VirtualMachine) throws -> String {
        let x0 = vm.vcpus[0].cpu.x(0)
        let header = try XCTUnwrap(vm.memory.read(x0, count: 8))
        let size = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
        return try decompile(try XCTUnwrap(vm.memory.read(x0, count: size)))
    }

    /// `--dtb`: /chosen is patched as QEMU's `arm_load_dtb` does: created when missing, the
    /// command line and the initrd (cells sized by the root's #address-cells), stdout-path only
    /// when the tree has none, fresh seeds; the rest of the tree untouched.
    func testAUserTreeGetsItsChosenNodePatched() throws {
        let kernel = try file("Image", linuxImage())
        let initrd = try file("initrd", [UInt8](repeating: 7, count: 100))
        let bare = try file("bare.dtb", try userTree(addressCells: 2, chosen: nil))
        let first = try treeInRAM(
            try Board.makeVM(
                name: "bare",
                configuration: VMConfiguration(
                    memory: "128M", kernel: kernel, console: "null", dtb: bare, initrd: initrd, append: "quiet")))
        for expected in [
            "compatible = \"user,board\"", "chosen {", "bootargs = \"quiet\"", "stdout-path = \"/pl011@9000000\"",
            "linux,initrd-start = <0x00 0x44000000>", "linux,initrd-end = <0x00 0x44000064>", "kaslr-seed = <0x",
            "rng-seed = <0x",
        ] {
            XCTAssertTrue(first.contains(expected), "missing \(expected) in:\n\(first)")
        }

        let own = try file(
            "own.dtb", try userTree(addressCells: 1, chosen: ["bootargs": "keep me", "stdout-path": "/serial@0"]))
        let second = try treeInRAM(
            try Board.makeVM(
                name: "own",
                configuration: VMConfiguration(
                    memory: "128M", kernel: kernel, console: "null", dtb: own, initrd: initrd)))
        for expected in [
            "bootargs = \"keep me\"", "stdout-path = \"/serial@0\"", "linux,initrd-start = <0x44000000>",
            "linux,initrd-end = <0x44000064>", "kaslr-seed = <0x",
        ] {
            XCTAssertTrue(second.contains(expected), "missing \(expected) in:\n\(second)")
        }
        XCTAssertFalse(second.contains("pl011"), second)
    }

    /// A tree whose header libfdt accepts but whose structure block is broken is a one-line error.
    func testAUserTreeWithABrokenStructureIsAOneLineError() throws {
        var blob = try userTree(addressCells: 2, chosen: nil)
        let structure = Int(blob[8]) << 24 | Int(blob[9]) << 16 | Int(blob[10]) << 8 | Int(blob[11])
        for i in 0..<4 { blob[structure + i] = 0xEE }
        let broken = try file("broken.dtb", blob)
        XCTAssertEqual(
            buildError(VMConfiguration(kernel: try file("Image", linuxImage()), console: "null", dtb: broken)),
            "device tree \(broken): libfdt rejects it: FDT_ERR_BADSTRUCTURE")
    }
}
