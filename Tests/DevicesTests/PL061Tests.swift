import Devices
import TestSupport
import XCTest

/// PL061 register behaviour (Arm DDI 0190; QEMU `hw/gpio/pl061.c`) and the power button on it.
final class PL061Tests: XCTestCase {
    enum Offset {
        static let dir: UInt64 = 0x400
        static let sense: UInt64 = 0x404
        static let bothEdges: UInt64 = 0x408
        static let event: UInt64 = 0x40C
        static let enable: UInt64 = 0x410
        static let raw: UInt64 = 0x414
        static let masked: UInt64 = 0x418
        static let clear: UInt64 = 0x41C
        static let afsel: UInt64 = 0x420
    }

    /// GPIODATA's address for the lines in `mask` (address bits [9:2]).
    func data(_ mask: UInt8) -> UInt64 { UInt64(mask) << 2 }

    func testDataIsMaskedByAddressBitsAndWritesReachOnlyOutputs() {
        let gpio = PL061()
        gpio.write(offset: Offset.dir, size: 4, value: 0x0F)
        XCTAssertEqual(gpio.read(offset: Offset.dir, size: 4), 0x0F)
        gpio.write(offset: data(0xFF), size: 4, value: 0xFF)
        XCTAssertEqual(gpio.read(offset: data(0xFF), size: 4), 0x0F, "inputs 4-7 are not written")
        gpio.write(offset: data(0x03), size: 4, value: 0x00)
        XCTAssertEqual(gpio.read(offset: data(0xFF), size: 4), 0x0C, "only lines 0 and 1 changed")
        XCTAssertEqual(gpio.read(offset: data(0x04), size: 4), 0x04, "a read sees the masked lines only")
        XCTAssertEqual(gpio.read(offset: data(0x00), size: 4), 0)
        gpio.setInput(pin: 5, level: true)
        gpio.setInput(pin: 2, level: false)
        XCTAssertEqual(gpio.read(offset: data(0xFF), size: 4), 0x2C, "input 5 rose; output 2 ignores the outside")
        gpio.setInput(pin: 9, level: true)
        XCTAssertEqual(gpio.read(offset: data(0xFF), size: 4), 0x2C, "no line 9")
    }

    func testRisingEdgeInterruptLatchesUntilCleared() {
        let gpio = PL061()
        let line = LineRecorder()
        gpio.interruptLine = line.handler
        gpio.write(offset: Offset.event, size: 4, value: 0x08)  // rising edge on line 3
        gpio.write(offset: Offset.enable, size: 4, value: 0x08)
        gpio.setInput(pin: 3, level: true)
        XCTAssertEqual(gpio.read(offset: Offset.raw, size: 4), 0x08)
        XCTAssertEqual(gpio.read(offset: Offset.masked, size: 4), 0x08)
        XCTAssertEqual(line.history, [true])
        gpio.setInput(pin: 3, level: false)
        XCTAssertEqual(gpio.read(offset: Offset.raw, size: 4), 0x08, "an edge stays latched")
        gpio.write(offset: Offset.clear, size: 4, value: 0x08)
        XCTAssertEqual(gpio.read(offset: Offset.raw, size: 4), 0)
        XCTAssertEqual(line.history, [true, false])
        gpio.setInput(pin: 3, level: false)
        XCTAssertEqual(gpio.read(offset: Offset.raw, size: 4), 0, "no change, no event")
    }

    func testFallingEdgeAndBothEdges() {
        let gpio = PL061()
        gpio.setInput(pin: 0, level: true)
        gpio.setInput(pin: 1, level: true)
        gpio.write(offset: Offset.clear, size: 4, value: 0xFF)
        gpio.write(offset: Offset.bothEdges, size: 4, value: 0x02)
        gpio.setInput(pin: 0, level: false)
        gpio.setInput(pin: 1, level: false)
        XCTAssertEqual(gpio.read(offset: Offset.raw, size: 4), 0x03, "IEV = 0: falling edges")
        gpio.write(offset: Offset.clear, size: 4, value: 0x03)
        gpio.setInput(pin: 0, level: true)
        gpio.setInput(pin: 1, level: true)
        XCTAssertEqual(gpio.read(offset: Offset.raw, size: 4), 0x02, "only the both-edges line sees a rise")
        XCTAssertEqual(gpio.read(offset: Offset.masked, size: 4), 0, "nothing enabled")
    }

    func testLevelInterruptReassertsWhileTheLevelHolds() {
        let gpio = PL061()
        let line = LineRecorder()
        gpio.interruptLine = line.handler
        gpio.write(offset: Offset.event, size: 4, value: 0x10)  // high level on line 4 (event first:
        gpio.write(offset: Offset.sense, size: 4, value: 0x10)  // a low-level sense would fire at once)
        gpio.write(offset: Offset.enable, size: 4, value: 0x10)
        XCTAssertEqual(line.history, [])
        gpio.setInput(pin: 4, level: true)
        XCTAssertEqual(line.history, [true])
        gpio.write(offset: Offset.clear, size: 4, value: 0x10)
        XCTAssertEqual(gpio.read(offset: Offset.raw, size: 4), 0x10, "still high: raised again")
        gpio.setInput(pin: 4, level: false)
        gpio.write(offset: Offset.clear, size: 4, value: 0x10)
        XCTAssertEqual(gpio.read(offset: Offset.raw, size: 4), 0)
        XCTAssertEqual(line.history, [true, false])
    }

    func testRegistersKeepEightBitsAndIdentificationIsWhatLinuxMatches() {
        let gpio = PL061()
        for offset in [Offset.dir, Offset.sense, Offset.bothEdges, Offset.event, Offset.enable, Offset.afsel] {
            gpio.write(offset: offset, size: 4, value: 0xFFFF_FF5A)
            XCTAssertEqual(gpio.read(offset: offset, size: 4), 0x5A, "offset 0x\(String(offset, radix: 16))")
        }
        gpio.write(offset: Offset.raw, size: 4, value: 0xFF)
        XCTAssertEqual(gpio.read(offset: Offset.raw, size: 4) & 0xA5, 0, "RIS is read-only")
        XCTAssertEqual(gpio.read(offset: 0xFD0, size: 4), 0)
        let ids = (0..<8).map { gpio.read(offset: 0xFE0 + UInt64($0) * 4, size: 4) }
        let periph = ids[0..<4].enumerated().reduce(0) { $0 | $1.element << UInt64($1.offset * 8) }
        let cell = ids[4..<8].enumerated().reduce(0) { $0 | $1.element << UInt64($1.offset * 8) }
        XCTAssertEqual(periph, 0x0004_1061)
        XCTAssertEqual(cell, 0xB105_F00D)
        XCTAssertEqual(gpio.read(offset: 0x800, size: 4), 0, "unknown offsets read 0")
    }

    func testPowerButtonPressIsAPulseOnItsLine() {
        let clock = ManualDeviceClock()
        let gpio = PL061()
        let line = LineRecorder()
        gpio.interruptLine = line.handler
        gpio.write(offset: Offset.bothEdges, size: 4, value: 0x08)
        gpio.write(offset: Offset.enable, size: 4, value: 0x08)
        let button = GPIOKey(gpio: gpio, pin: 3, clock: clock)
        button.press()
        XCTAssertEqual(gpio.read(offset: data(0x08), size: 4), 0x08, "pressed: line 3 high")
        XCTAssertEqual(line.history, [true])
        gpio.write(offset: Offset.clear, size: 4, value: 0x08)
        clock.advance(by: GPIOKey.pressDuration - 1)
        XCTAssertEqual(gpio.read(offset: data(0x08), size: 4), 0x08, "held for 100 ms")
        clock.advance(by: 1)
        XCTAssertEqual(gpio.read(offset: data(0x08), size: 4), 0, "released")
        XCTAssertEqual(gpio.read(offset: Offset.raw, size: 4), 0x08, "the release is an edge too")
        XCTAssertEqual(line.history, [true, false, true])
    }
}
