import Foundation
import Platform
import TestSupport
import XCTest

/// The generated device tree, decompiled by `dtc`, which must accept it without warnings.
final class DeviceTreeTests: XCTestCase {
    func testDeviceTreeDecompilesCleanlyAndDescribesTheBoard() throws {
        let blob = try BoardDeviceTree.build(memorySize: 256 << 20, cpuMPIDRs: [0x8000_0000])
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
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(warnings, "", "dtc warnings")
        for expected in [
            "compatible = \"linux,dummy-virt\"", "memory@40000000", "reg = <0x00 0x40000000 0x00 0x10000000>",
            "enable-method = \"psci\"", "method = \"hvc\"", #"compatible = "arm,pl011\0arm,primecell""#,
            "stdout-path = \"/pl011@9000000\"", #"clock-names = "uartclk\0apb_pclk""#,
        ] {
            // dtc 1.6 prints string lists as "a\0b"; newer versions as "a", "b".
            let alternative = expected.replacingOccurrences(of: #"\0"#, with: #"", ""#)
            XCTAssertTrue(dts.contains(expected) || dts.contains(alternative), "missing \(expected) in:\n\(dts)")
        }
    }
}
