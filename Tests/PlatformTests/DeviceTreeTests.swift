import Foundation
import Hypervisor
import Platform
import TestSupport
import XCTest

/// `dtc -I dtb -O dts` of `blob`: the source text, after asserting dtc accepted it silently.
func decompile(_ blob: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let dir = try TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("virt.dtb")
    try Data(blob).write(to: path)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["dtc", "-I", "dtb", "-O", "dts", path.path]
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let dts = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let warnings = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0, file: file, line: line)
    XCTAssertEqual(warnings, "", "dtc warnings", file: file, line: line)
    return dts
}

/// The generated device tree, decompiled by `dtc`, which must accept it without warnings.
final class DeviceTreeTests: XCTestCase {
    private func assertContains(_ dts: String, _ lines: [String], file: StaticString = #filePath, line: UInt = #line) {
        for expected in lines {
            // dtc 1.6 prints string lists as "a\0b"; newer versions as "a", "b".
            let alternative = expected.replacingOccurrences(of: #"\0"#, with: #"", ""#)
            XCTAssertTrue(
                dts.contains(expected) || dts.contains(alternative), "missing \(expected) in:\n\(dts)", file: file,
                line: line)
        }
    }

    func testGICv2FourCPUsAndTheSMCConduit() throws {
        let blob = try BoardDeviceTree.build(
            memorySize: 256 << 20, cpuMPIDRs: (0..<4).map { 0x8000_0000 | UInt64($0) }, psciMethod: "smc",
            gicVersion: 2)
        let dts = try decompile(blob)
        assertContains(
            dts,
            [
                "cpu@3", "method = \"smc\"", "compatible = \"arm,cortex-a15-gic\"",
                "reg = <0x00 0x8000000 0x00 0x10000 0x00 0x8010000 0x00 0x10000>",
                // PPIs name their CPUs in bits [15:8] with a GICv2: 4 CPUs -> 0xf04.
                "interrupts = <0x01 0x0d 0xf04 0x01 0x0e 0xf04 0x01 0x0b 0xf04 0x01 0x0a 0xf04>",
            ])
        XCTAssertFalse(dts.contains("arm,gic-v3"))
    }

    func testDeviceTreeDecompilesCleanlyAndDescribesTheBoard() throws {
        let blob = try BoardDeviceTree.build(memorySize: 256 << 20, cpuMPIDRs: [0x8000_0000])
        let dts = try decompile(blob)
        assertContains(
            dts,
            [
                "compatible = \"linux,dummy-virt\"", "memory@40000000", "reg = <0x00 0x40000000 0x00 0x10000000>",
                "enable-method = \"psci\"", "method = \"hvc\"", #"compatible = "arm,pl011\0arm,primecell""#,
                "stdout-path = \"/pl011@9000000\"", #"clock-names = "uartclk\0apb_pclk""#,
                "compatible = \"arm,gic-v3\"", "reg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0x20000>",
                "interrupt-parent = <0x8001>",
                "interrupts = <0x01 0x0d 0x04 0x01 0x0e 0x04 0x01 0x0b 0x04 0x01 0x0a 0x04>",
                "interrupts = <0x00 0x01 0x04>",
                // The two CFI flash banks (QEMU virt_flash_fdt).
                "flash@0 {", "compatible = \"cfi-flash\"",
                "reg = <0x00 0x00 0x00 0x4000000 0x00 0x4000000 0x00 0x4000000>", "bank-width = <0x04>",
                // PL031 RTC on SPI 2.
                "pl031@9010000 {", #"compatible = "arm,pl031\0arm,primecell""#,
                "reg = <0x00 0x9010000 0x00 0x1000>", "interrupts = <0x00 0x02 0x04>", "clocks = <0x8000>",
                "clock-names = \"apb_pclk\"",
                // PL061 GPIO on SPI 7, and the power button on its pin 3.
                "pl061@9030000 {", #"compatible = "arm,pl061\0arm,primecell""#,
                "reg = <0x00 0x9030000 0x00 0x1000>", "interrupts = <0x00 0x07 0x04>", "#gpio-cells = <0x02>",
                "gpio-controller;", "phandle = <0x8002>", "gpio-keys {", "compatible = \"gpio-keys\"", "poweroff {",
                "label = \"GPIO Key Poweroff\"", "linux,code = <0x74>", "gpios = <0x8002 0x03 0x00>",
                // 32 virtio-mmio transports, SPI 16 + i, rising edge, DMA coherent.
                "virtio_mmio@a000000 {", "compatible = \"virtio,mmio\"", "reg = <0x00 0xa000000 0x00 0x200>",
                "interrupts = <0x00 0x10 0x01>", "dma-coherent;", "virtio_mmio@a003e00 {",
                "reg = <0x00 0xa003e00 0x00 0x200>", "interrupts = <0x00 0x2f 0x01>",
            ])
        XCTAssertEqual(dts.components(separatedBy: "compatible = \"virtio,mmio\"").count - 1, 32)
    }

    /// The value cells of `property` in decompiled source ("kaslr-seed = <0x12 0x34>;").
    static func cells(_ property: String, in dts: String) -> String? {
        guard let line = dts.split(separator: "\n").first(where: { $0.contains("\(property) = ") }) else { return nil }
        return line.split(separator: "=", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// /chosen/kaslr-seed (8 bytes) and rng-seed (32 bytes) come from the host's entropy, fresh for
    /// every tree, as QEMU virt's `create_randomness` writes them; dtc accepts them silently.
    func testChosenCarriesFreshKASLRAndRNGSeeds() throws {
        let first = try decompile(BoardDeviceTree.build(memorySize: 64 << 20, cpuMPIDRs: [0x8000_0000]))
        let second = try decompile(BoardDeviceTree.build(memorySize: 64 << 20, cpuMPIDRs: [0x8000_0000]))
        let seeds = try [first, second].map { try XCTUnwrap(Self.cells("kaslr-seed", in: $0), $0) }
        // Two cells: a 64-bit value, as the kernel reads it (of_get_property, 8 bytes).
        XCTAssertEqual(seeds[0].split(separator: " ").count, 2, seeds[0])
        XCTAssertNotEqual(seeds[0], seeds[1])
        let rng = try [first, second].map { try XCTUnwrap(Self.cells("rng-seed", in: $0), $0) }
        XCTAssertEqual(rng[0].split(separator: " ").count, 8, rng[0])
        XCTAssertNotEqual(rng[0], rng[1])
    }

    /// With the icount clock two runs must repeat exactly, so the seeds are fixed: the whole
    /// tree comes out the same twice.
    func testDeterministicSeedsMakeTheSameTreeTwice() throws {
        let trees = try (0..<2).map { _ in
            try BoardDeviceTree.build(memorySize: 64 << 20, cpuMPIDRs: [0x8000_0000], deterministicSeeds: true)
        }
        XCTAssertEqual(trees[0], trees[1])
        // Not zero: the kernel still randomizes its layout, the same way each run.
        XCTAssertNotEqual(BoardDeviceTree.seedBytes(8, deterministic: true), [UInt8](repeating: 0, count: 8))
    }
}

/// `--dump-dtb` and `--dtb`: the tree the guest gets can be written out and given back.
final class DeviceTreeFileTests: XCTestCase {
    func testDumpedTreeBootsTheGuestWhenGivenBack() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dump = dir.appendingPathComponent("virt.dtb").path
        let demo = try TestPaths.guest("demo")
        let first = try Board.makeVM(
            name: "dump", configuration: VMConfiguration(kernel: demo, console: "null"), dumpDeviceTree: dump)
        let blob = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dump)))
        XCTAssertEqual(Array(blob.prefix(4)), [0xD0, 0x0D, 0xFE, 0xED], "FDT magic")
        XCTAssertEqual(try DeviceTreeFile.load(path: dump), blob)
        try first.start()
        XCTAssertEqual(first.waitUntilStopped().reason, .poweroff)

        let second = try Board.makeVM(
            name: "given", configuration: VMConfiguration(kernel: demo, console: "null", dtb: dump))
        // The boot vCPU's X0 points at the tree in RAM: the file with fresh seeds in /chosen,
        // nothing else changed.
        let x0 = second.vcpus[0].cpu.x(0)
        let given = try XCTUnwrap(second.memory.read(x0, count: blob.count))
        func withoutSeeds(_ dts: String) -> [Substring] {
            dts.split(separator: "\n").filter { !$0.contains("kaslr-seed") && !$0.contains("rng-seed") }
        }
        XCTAssertEqual(withoutSeeds(try decompile(given)), withoutSeeds(try decompile(blob)))
        XCTAssertNotEqual(given, blob, "the seeds are new")
        try second.start()
        XCTAssertEqual(second.waitUntilStopped().reason, .poweroff)
    }

    func testATreeLibfdtRejectsIsAOneLineError() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let garbage = dir.appendingPathComponent("bad.dtb").path
        try Data("not a device tree".utf8).write(to: URL(fileURLWithPath: garbage))
        XCTAssertThrowsError(try DeviceTreeFile.load(path: garbage)) { error in
            XCTAssertTrue("\(error)".hasPrefix("device tree \(garbage): libfdt rejects it: "), "\(error)")
        }
        XCTAssertThrowsError(try DeviceTreeFile.load(path: dir.appendingPathComponent("missing.dtb").path)) { error in
            XCTAssertTrue("\(error)".contains("No such file or directory"), "\(error)")
        }
        let blob = try BoardDeviceTree.build(memorySize: 64 << 20, cpuMPIDRs: [0x8000_0000])
        let cut = dir.appendingPathComponent("cut.dtb").path
        try Data(blob.prefix(blob.count / 2)).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try DeviceTreeFile.load(path: cut)) { error in
            XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
        }
    }
}
