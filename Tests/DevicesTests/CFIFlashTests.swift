import Devices
import Foundation
import TestSupport
import XCTest

/// The CFI flash bank (Intel/Sharp command set, JEDEC JESD68.01 query; QEMU `cfi.pflash01` as
/// the `virt` board wires it: two 16-bit devices on a 32-bit bus), register by register.
final class CFIFlashTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws { dir = try TestPaths.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// A command on both lanes, as a driver of the 32-bit bank writes it.
    private func command(_ flash: CFIFlash, _ value: UInt64, at offset: UInt64 = 0) {
        flash.write(offset: offset, size: 4, value: value | value << 16)
    }

    private func bankFile(_ name: String = "bank.img") throws -> String {
        let path = dir.appendingPathComponent(name).path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(CFIFlash.bankSize))
        try handle.close()
        return path
    }

    func testQueryIdentifierAndStatusAnswerOnBothLanesAndInEveryWidth() throws {
        let flash = try CFIFlash()
        command(flash, 0x98)
        XCTAssertEqual(flash.read(offset: 0x10 * 4, size: 4), 0x0051_0051)
        XCTAssertEqual(flash.read(offset: 0x11 * 4, size: 4), 0x0052_0052)
        XCTAssertEqual(flash.read(offset: 0x10 * 4, size: 8), 0x0052_0052_0051_0051, "two bank words")
        XCTAssertEqual(flash.read(offset: 0x12 * 4, size: 1), 0x59, "a byte read: device 0's low byte")
        XCTAssertEqual(flash.read(offset: 0x12 * 4 + 2, size: 2), 0x59, "device 1's lane")
        XCTAssertEqual(flash.read(offset: 0x27 * 4, size: 4), 0x0019_0019, "2^25 bytes per device")
        XCTAssertEqual(flash.read(offset: 0x2A * 4, size: 4), 0x000B_000B, "2 KiB write buffer per device")
        XCTAssertEqual(flash.read(offset: 0x2F * 4, size: 4), 0, "block size / 256 = 0x200: low byte")
        XCTAssertEqual(flash.read(offset: 0x30 * 4, size: 4), 0x0002_0002)
        XCTAssertEqual(flash.read(offset: 0x31 * 4, size: 4), 0x0050_0050, "'P' of PRI")
        XCTAssertEqual(flash.read(offset: 0x1000 * 4, size: 4), 0, "beyond the table")
        command(flash, 0x90)
        XCTAssertEqual(flash.read(offset: 0, size: 4), 0x0089_0089)
        XCTAssertEqual(flash.read(offset: 4, size: 4), 0x0018_0018)
        XCTAssertEqual(flash.read(offset: 8, size: 4), 0, "block 0 unlocked")
        command(flash, 0x70)
        XCTAssertEqual(flash.read(offset: 0x1234, size: 4), 0x0080_0080, "ready, at any address")
        command(flash, 0xFF)
        XCTAssertEqual(flash.read(offset: 0, size: 4), 0, "read array: a volatile bank starts zeroed")
    }

    func testEraseProgramAndBufferedProgramReachTheFile() throws {
        let path = try bankFile()
        do {
            let flash = try CFIFlash(path: path)
            command(flash, 0x20, at: 0x4_0010)
            command(flash, 0xD0, at: 0x4_0010)
            XCTAssertEqual(flash.read(offset: 0, size: 4), 0x0080_0080, "status after the erase")
            command(flash, 0xFF)
            XCTAssertEqual(flash.read(offset: 0x4_0000, size: 4), 0xFFFF_FFFF)
            XCTAssertEqual(flash.read(offset: 0x7_FFFC, size: 4), 0xFFFF_FFFF, "the whole 256 KiB block")
            XCTAssertEqual(flash.read(offset: 0x8_0000, size: 4), 0, "the next block untouched")
            command(flash, 0x40)
            flash.write(offset: 0x4_0000, size: 2, value: 0xBEEF)
            command(flash, 0xFF)
            XCTAssertEqual(flash.read(offset: 0x4_0000, size: 4), 0xFFFF_BEEF)
            command(flash, 0xE8, at: 0x4_0100)
            command(flash, 1, at: 0x4_0100)  // two bus writes
            flash.write(offset: 0x4_0100, size: 4, value: 0x1111_1111)
            XCTAssertEqual(flash.read(offset: 0x4_0100, size: 4), 0x0080_0080, "status while buffering")
            flash.write(offset: 0x4_0104, size: 4, value: 0x2222_2222)
            XCTAssertEqual(flash.read(offset: 0x4_0100, size: 4), 0x0080_0080, "waiting for the confirm")
            command(flash, 0xFF)
            XCTAssertEqual(flash.read(offset: 0, size: 4), 0x00B0_00B0, "not 0xD0: improper command sequence")
            command(flash, 0xFF)
            XCTAssertEqual(flash.read(offset: 0x4_0100, size: 4), 0xFFFF_FFFF, "and nothing written")
            command(flash, 0x50)
            command(flash, 0xE8, at: 0x4_0100)
            command(flash, 1, at: 0x4_0100)
            flash.write(offset: 0x4_0100, size: 4, value: 0x1111_1111)
            flash.write(offset: 0x4_0104, size: 4, value: 0x2222_2222)
            command(flash, 0xD0, at: 0x4_0100)
            command(flash, 0xFF)
            XCTAssertEqual(flash.read(offset: 0x4_0100, size: 8), 0x2222_2222_1111_1111)
            flash.flush()
        }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(bytes.count, CFIFlash.bankSize)
        XCTAssertEqual(Array(bytes[0x4_0000..<0x4_0004]), [0xEF, 0xBE, 0xFF, 0xFF])
        XCTAssertEqual(Array(bytes[0x4_0100..<0x4_0108]), [0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22])
        XCTAssertTrue(bytes[0x4_0108..<0x8_0000].allSatisfy { $0 == 0xFF })
        XCTAssertTrue(bytes[0..<0x4_0000].allSatisfy { $0 == 0 })
        XCTAssertEqual(try CFIFlash(path: path).read(offset: 0x4_0100, size: 4), 0x1111_1111, "reopened")
    }

    func testWildSequencesGetStatusErrorsNotCrashes() throws {
        let flash = try CFIFlash()
        // An oversized buffer count (more than 2 KiB per device) is an improper sequence.
        command(flash, 0xE8)
        command(flash, 0x400)
        XCTAssertEqual(flash.read(offset: 0, size: 4), 0x00B0_00B0)
        command(flash, 0x50)
        // An erase with a bad confirm erases nothing.
        command(flash, 0x20)
        command(flash, 0x55)
        XCTAssertEqual(flash.read(offset: 0, size: 4), 0x00B0_00B0)
        command(flash, 0xFF)
        XCTAssertEqual(flash.read(offset: 0, size: 4), 0)
        command(flash, 0x50)
        // Lock commands are accepted (locking is not modelled); a bad one is a sequence error.
        command(flash, 0x60)
        command(flash, 0x01)
        XCTAssertEqual(flash.read(offset: 0, size: 4), 0x0080_0080)
        command(flash, 0x60)
        command(flash, 0x99)
        XCTAssertEqual(flash.read(offset: 0, size: 4), 0x00B0_00B0)
        // Unknown commands return to read array; accesses past the bank read zero, write nothing.
        command(flash, 0x50)
        command(flash, 0x33)
        XCTAssertEqual(flash.read(offset: 0, size: 4), 0)
        XCTAssertEqual(flash.read(offset: UInt64(CFIFlash.bankSize) - 2, size: 4), 0)
        flash.write(offset: UInt64.max - 1, size: 4, value: 0x40)
        flash.write(offset: UInt64(CFIFlash.bankSize), size: 4, value: 0xFFFF)
    }

    func testBackingFileErrorsNameTheFile() throws {
        let missing = dir.appendingPathComponent("missing.img").path
        XCTAssertThrowsError(try CFIFlash(path: missing)) { error in
            XCTAssertEqual("\(error)", "pflash \(missing): No such file or directory")
        }
        XCTAssertThrowsError(try CFIFlash(path: dir.path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("pflash \(dir.path): "), "\(error)")
        }
    }
}
