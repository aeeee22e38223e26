import Backends
import Devices
import Foundation
import Hypervisor
import Synchronization
import TestSupport
import XCTest

/// A character backend that keeps what it was sent.
final class CapturingBackend: CharacterBackend {
    private let bytes = Mutex<[UInt8]>([])
    var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
    func send(_ buffer: UnsafeRawBufferPointer) { bytes.withLock { $0.append(contentsOf: buffer) } }
    func drain() {}
}

/// PL011 register behaviour (Arm DDI 0183 / QEMU `hw/char/pl011.c`).
final class PL011Tests: XCTestCase {
    func testTransmitGoesToTheBackendAndRaisesTXInterruptStatus() {
        let backend = CapturingBackend()
        let uart = PL011(backend: backend)
        for byte in "hi\n".utf8 { uart.write(offset: 0, size: 1, value: UInt64(byte)) }
        XCTAssertEqual(backend.text, "hi\n")
        XCTAssertEqual(uart.read(offset: 0x3C, size: 4) & 0x20, 0x20, "RIS.TX")
        XCTAssertEqual(uart.read(offset: 0x40, size: 4), 0, "masked: MIS = 0")
        uart.write(offset: 0x38, size: 4, value: 0x20)
        XCTAssertEqual(uart.read(offset: 0x40, size: 4), 0x20, "unmasked: MIS.TX")
        uart.write(offset: 0x44, size: 4, value: 0x20)
        XCTAssertEqual(uart.read(offset: 0x3C, size: 4), 0, "ICR clears it")
    }

    func testFlagRegisterSaysTransmitFIFOEmptyAndReceiveFIFOEmpty() {
        let uart = PL011(backend: CapturingBackend())
        XCTAssertEqual(uart.read(offset: 0x18, size: 4), 0x90)
    }

    func testReceivedBytesAreReadFromDRWithFlagsAndRXInterruptStatus() {
        let uart = PL011(backend: CapturingBackend())
        uart.receive(Array("ab".utf8))
        XCTAssertEqual(uart.read(offset: 0x18, size: 4) & 0x50, 0x40, "FIFOs off: one byte fills it (RXFF, not RXFE)")
        uart.write(offset: 0x2C, size: 4, value: 0x10)  // LCR_H.FEN
        XCTAssertEqual(uart.read(offset: 0x18, size: 4) & 0x50, 0, "32-entry FIFO: neither empty nor full")
        XCTAssertEqual(uart.read(offset: 0x3C, size: 4) & 0x10, 0x10, "RIS.RX")
        uart.write(offset: 0x44, size: 4, value: 0x10)
        XCTAssertEqual(uart.read(offset: 0x3C, size: 4) & 0x10, 0x10, "RX stays raised while data waits")
        XCTAssertEqual(uart.read(offset: 0, size: 4), UInt64(UInt8(ascii: "a")))
        XCTAssertEqual(uart.read(offset: 0, size: 4), UInt64(UInt8(ascii: "b")))
        XCTAssertEqual(uart.read(offset: 0x18, size: 4) & 0x10, 0x10, "RXFE again")
        XCTAssertEqual(uart.read(offset: 0x3C, size: 4) & 0x10, 0, "and RIS.RX clear")
        XCTAssertEqual(uart.read(offset: 0, size: 4), 0, "an empty FIFO reads 0")
    }

    func testReceiveOverrunIsFlaggedInRSRAndClearedByECR() {
        let uart = PL011(backend: CapturingBackend())
        uart.receive([UInt8](repeating: 0x41, count: PL011.receiveLimit + 1))
        XCTAssertEqual(uart.read(offset: 4, size: 4), 0x8, "RSR.OE")
        uart.write(offset: 4, size: 4, value: 0)
        XCTAssertEqual(uart.read(offset: 4, size: 4), 0)
    }

    func testPrimeCellIdentification() {
        let uart = PL011(backend: CapturingBackend())
        let ids = stride(from: UInt64(0xFE0), to: 0x1000, by: 4).map { uart.read(offset: $0, size: 4) }
        XCTAssertEqual(ids, [0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1])
    }

    func testControlRegistersKeepTheirTRMWidthsAndResetValues() {
        let uart = PL011(backend: CapturingBackend())
        XCTAssertEqual(uart.read(offset: 0x30, size: 4), 0x300, "CR reset: TXE | RXE")
        XCTAssertEqual(uart.read(offset: 0x34, size: 4), 0x12, "IFLS reset")
        uart.write(offset: 0x24, size: 4, value: 0xFFFF_FFFF)
        uart.write(offset: 0x28, size: 4, value: 0xFFFF_FFFF)
        XCTAssertEqual(uart.read(offset: 0x24, size: 4), 0xFFFF, "IBRD is 16 bits")
        XCTAssertEqual(uart.read(offset: 0x28, size: 4), 0x3F, "FBRD is 6 bits")
        uart.write(offset: 0x2C, size: 4, value: 0x70)
        XCTAssertEqual(uart.read(offset: 0x2C, size: 4), 0x70)
    }

    func testGarbageOffsetsReadZeroAndIgnoreWrites() {
        let backend = CapturingBackend()
        let uart = PL011(backend: backend)
        for offset in stride(from: UInt64(0x4C), to: 0xFE0, by: 4) {
            uart.write(offset: offset, size: 4, value: 0xDEAD_BEEF)
            XCTAssertEqual(uart.read(offset: offset, size: 4), 0)
        }
        XCTAssertEqual(backend.text, "")
    }
}

/// The file console backend writes on the GLib loop thread and drains on request.
final class ConsoleBackendTests: XCTestCase {
    func testFileBackendWritesEverythingByDrain() throws {
        let dir = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("console").path
        let backend = try FileConsoleBackend(target: .file(path))
        let message = Array(String(repeating: "0123456789", count: 1000).utf8)
        for chunk in stride(from: 0, to: message.count, by: 7) {
            message[chunk..<min(chunk + 7, message.count)].withUnsafeBytes { backend.send($0) }
        }
        backend.drain()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data(message))
    }

    func testUnwritableConsoleFileIsAClearError() {
        XCTAssertThrowsError(try FileConsoleBackend(target: .file("/nonexistent-dir/console"))) { error in
            XCTAssertEqual("\(error)", "cannot open console file /nonexistent-dir/console: No such file or directory")
        }
    }
}
