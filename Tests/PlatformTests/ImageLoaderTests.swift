import Foundation
import Platform
import TestSupport
import XCTest

/// Image loaders: placement as QEMU's `-kernel` does it, and one-line errors for bad images.
final class ImageLoaderTests: FileTestCase {
    private func loadError(_ path: String, ramSize: UInt64 = 128 << 20) -> String {
        do {
            _ = try GuestImage.load(path: path, ramBase: 0x4000_0000, ramSize: ramSize)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testRawImageLoadsAt0x40080000() throws {
        let image = try GuestImage.load(path: try file("raw", [1, 2, 3, 4]), ramBase: 0x4000_0000, ramSize: 128 << 20)
        XCTAssertEqual(image.kind, .raw)
        XCTAssertEqual(image.entry, 0x4008_0000)
        XCTAssertEqual(image.segments.first?.address, 0x4008_0000)
    }

    func testELFSegmentsLoadAtTheirPhysicalAddresses() throws {
        let image = try GuestImage.load(
            path: try TestPaths.guest("demo", kind: "elf"), ramBase: 0x4000_0000, ramSize: 128 << 20)
        XCTAssertEqual(image.kind, .elf)
        XCTAssertEqual(image.entry, 0x4008_0000)
        XCTAssertEqual(image.lowestAddress, 0x4008_0000)
    }

    func testLinuxImageHeaderPlacesTheKernelAt0x40200000() throws {
        var header = [UInt8](repeating: 0, count: 64)
        header[0x10] = 0x00; header[0x11] = 0x10  // image_size = 0x1000
        header[0x38] = 0x41; header[0x39] = 0x52; header[0x3A] = 0x4D; header[0x3B] = 0x64  // "ARM\x64"
        let image = try GuestImage.load(path: try file("Image", header), ramBase: 0x4000_0000, ramSize: 128 << 20)
        XCTAssertEqual(image.kind, .linuxImage)
        XCTAssertEqual(image.entry, 0x4020_0000)
    }

    func testMissingFile() {
        XCTAssertEqual(
            loadError("/nonexistent/kernel"), "cannot read kernel /nonexistent/kernel: No such file or directory")
    }

    func testNonAArch64ELF() throws {
        var elf = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try TestPaths.guest("demo", kind: "elf"))))
        elf[18] = 62  // EM_X86_64
        let path = try file("x86.elf", elf)
        XCTAssertEqual(loadError(path), "kernel \(path): ELF is for machine 62, not AArch64 (183)")
    }

    func testThirtyTwoBitELF() throws {
        var elf = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try TestPaths.guest("demo", kind: "elf"))))
        elf[4] = 1
        let path = try file("elf32", elf)
        XCTAssertEqual(loadError(path), "kernel \(path): not a 64-bit ELF (EI_CLASS 1)")
    }

    func testTruncatedELF() throws {
        let elf = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try TestPaths.guest("demo", kind: "elf"))))
        let header = try file("header-only", Array(elf[0..<40]))
        XCTAssertEqual(loadError(header), "kernel \(header): truncated ELF header (40 bytes)")
        let cut = try file("cut", Array(elf[0..<100]))
        XCTAssertTrue(loadError(cut).hasPrefix("kernel \(cut): truncated ELF"), loadError(cut))
    }

    func testELFWithNoLoadableSegment() throws {
        var elf = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try TestPaths.guest("demo", kind: "elf"))))
        elf[56] = 0; elf[57] = 0  // e_phnum = 0
        let path = try file("noload", elf)
        XCTAssertEqual(loadError(path), "kernel \(path): ELF has no loadable segment")
    }

    func testImageLargerThanRAM() throws {
        let path = try file("big", [UInt8](repeating: 0xAA, count: 2 << 20))
        XCTAssertEqual(
            loadError(path, ramSize: 1 << 20),
            "kernel \(path): raw segment at 0x40080000 (2097152 bytes) does not fit in RAM 0x40000000-0x40100000 (1 MiB)"
        )
    }

    func testEmptyFileAndDirectory() throws {
        let empty = try file("empty", [])
        XCTAssertEqual(loadError(empty), "kernel \(empty) is empty")
        XCTAssertEqual(loadError(dir.path), "cannot read kernel \(dir.path): Is a directory")
    }
}

/// VM configuration parsing.
final class ConfigurationTests: XCTestCase {
    func testMemorySizes() throws {
        XCTAssertEqual(VMConfiguration.parseSize("128M"), 128 << 20)
        XCTAssertEqual(VMConfiguration.parseSize("1g"), 1 << 30)
        XCTAssertEqual(VMConfiguration.parseSize("4096"), 4096)
        XCTAssertNil(VMConfiguration.parseSize("12Q"))
        XCTAssertNil(VMConfiguration.parseSize("M"))
        XCTAssertNil(VMConfiguration.parseSize("99999999999999999999G"))
        XCTAssertThrowsError(try VMConfiguration(memory: "300G").memoryBytes())
        XCTAssertThrowsError(try VMConfiguration(memory: "1000").memoryBytes())
        XCTAssertEqual(try VMConfiguration().memoryBytes(), 128 << 20)
    }

    func testUnknownKeysAreRejected() {
        let json = Data(#"{"kernel": "x", "memroy": "1G"}"#.utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(VMConfiguration.self, from: json)) { error in
            XCTAssertTrue("\(error)".contains("unknown configuration key 'memroy'"), "\(error)")
        }
    }

    func testFlagsOverrideTheFile() {
        let file = VMConfiguration(memory: "256M", kernel: "a", console: "null")
        let merged = file.overridden(by: VMConfiguration(kernel: "b"))
        XCTAssertEqual(merged, VMConfiguration(memory: "256M", kernel: "b", console: "null"))
    }
}
