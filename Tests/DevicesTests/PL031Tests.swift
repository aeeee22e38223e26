import Devices
import Foundation
import Synchronization
import TestSupport
import XCTest

/// Records the levels an interrupt line was driven to.
final class LineRecorder: Sendable {
    private let levels = Mutex<[Bool]>([])
    var history: [Bool] { levels.withLock { $0 } }
    var level: Bool { history.last ?? false }
    var handler: @Sendable (Bool) -> Void { { [self] level in levels.withLock { $0.append(level) } } }
}

/// PL031 register behaviour (Arm DDI 0224; QEMU `hw/rtc/pl031.c`), on a manual clock.
final class PL031Tests: XCTestCase {
    enum Offset {
        static let dr: UInt64 = 0x00
        static let mr: UInt64 = 0x04
        static let lr: UInt64 = 0x08
        static let cr: UInt64 = 0x0C
        static let imsc: UInt64 = 0x10
        static let ris: UInt64 = 0x14
        static let mis: UInt64 = 0x18
        static let icr: UInt64 = 0x1C
    }
    static let second: UInt64 = 1_000_000_000

    func testDataRegisterIsSeededFromTheWallClockAndAdvancesWithTheVMClock() {
        let clock = ManualDeviceClock(nanoseconds: 7 * Self.second + 400_000_000, wallClockSeconds: 1_700_000_000)
        let rtc = PL031(clock: clock)
        XCTAssertEqual(rtc.read(offset: Offset.dr, size: 4), 1_700_000_000)
        clock.advance(by: 500_000_000)
        XCTAssertEqual(rtc.read(offset: Offset.dr, size: 4), 1_700_000_000, "still within the same second")
        clock.advance(by: 100_000_000)
        XCTAssertEqual(rtc.read(offset: Offset.dr, size: 4), 1_700_000_001, "the VM clock crossed a second")
        clock.advance(by: 60 * Self.second)
        XCTAssertEqual(rtc.read(offset: Offset.dr, size: 4), 1_700_000_061)
        rtc.write(offset: Offset.dr, size: 4, value: 5)
        XCTAssertEqual(rtc.read(offset: Offset.dr, size: 4), 1_700_000_061, "RTCDR is read-only")
    }

    func testTheHostClockSeedsFromRealTime() {
        let before = UInt64(Date().timeIntervalSince1970)
        let value = PL031().read(offset: Offset.dr, size: 4)
        let after = UInt64(Date().timeIntervalSince1970)
        XCTAssertTrue((before...after).contains(value), "\(value) not in \(before)...\(after)")
    }

    func testLoadRegisterSetsTheCountWhichKeepsAdvancing() {
        let clock = ManualDeviceClock()
        let rtc = PL031(clock: clock)
        rtc.write(offset: Offset.lr, size: 4, value: 1000)
        XCTAssertEqual(rtc.read(offset: Offset.lr, size: 4), 1000)
        XCTAssertEqual(rtc.read(offset: Offset.dr, size: 4), 1000)
        clock.advance(by: 3 * Self.second)
        XCTAssertEqual(rtc.read(offset: Offset.dr, size: 4), 1003)
        XCTAssertEqual(rtc.read(offset: Offset.lr, size: 4), 1000, "RTCLR keeps the loaded value")
    }

    func testMatchRaisesTheInterruptAtTheSecondTheCountReachesIt() {
        let clock = ManualDeviceClock(nanoseconds: 10 * Self.second + 250_000_000)
        let rtc = PL031(clock: clock)
        let line = LineRecorder()
        rtc.interruptLine = line.handler
        rtc.write(offset: Offset.lr, size: 4, value: 100)
        rtc.write(offset: Offset.imsc, size: 4, value: 0xFF)
        XCTAssertEqual(rtc.read(offset: Offset.imsc, size: 4), 1, "only bit 0 exists")
        rtc.write(offset: Offset.mr, size: 4, value: 103)
        XCTAssertEqual(rtc.read(offset: Offset.mr, size: 4), 103)
        XCTAssertEqual(clock.pendingAlarms, 1)
        clock.advance(by: 2 * Self.second + 700_000_000)  // count 102, 50 ms before the next second
        XCTAssertEqual(rtc.read(offset: Offset.ris, size: 4), 0)
        XCTAssertEqual(line.history, [])
        clock.advance(by: 50_000_000)
        XCTAssertEqual(rtc.read(offset: Offset.dr, size: 4), 103)
        XCTAssertEqual(rtc.read(offset: Offset.ris, size: 4), 1)
        XCTAssertEqual(rtc.read(offset: Offset.mis, size: 4), 1)
        XCTAssertEqual(line.history, [true], "RTCINTR rose")
        rtc.write(offset: Offset.icr, size: 4, value: 1)
        XCTAssertEqual(rtc.read(offset: Offset.ris, size: 4), 0)
        XCTAssertEqual(line.history, [true, false], "RTCICR lowered it")
        clock.advance(by: 10 * Self.second)
        XCTAssertEqual(rtc.read(offset: Offset.ris, size: 4), 0, "a match happens once per wrap")
    }

    func testMaskedMatchSetsRawStatusOnlyAndAMatchEqualToTheCountFiresAtOnce() {
        let clock = ManualDeviceClock()
        let rtc = PL031(clock: clock)
        let line = LineRecorder()
        rtc.interruptLine = line.handler
        let now = rtc.read(offset: Offset.dr, size: 4)
        rtc.write(offset: Offset.mr, size: 4, value: now)
        XCTAssertEqual(rtc.read(offset: Offset.ris, size: 4), 1)
        XCTAssertEqual(rtc.read(offset: Offset.mis, size: 4), 0)
        XCTAssertEqual(line.history, [], "masked")
        rtc.write(offset: Offset.imsc, size: 4, value: 1)
        XCTAssertEqual(line.history, [true], "unmasking a raised match drives RTCINTR")
        rtc.write(offset: Offset.imsc, size: 4, value: 0)
        XCTAssertEqual(line.history, [true, false])
    }

    func testRewritingTheMatchCancelsTheEarlierAlarmAndLoadReArmsIt() {
        let clock = ManualDeviceClock()
        let rtc = PL031(clock: clock)
        rtc.write(offset: Offset.lr, size: 4, value: 0)
        XCTAssertEqual(rtc.read(offset: Offset.ris, size: 4), 1, "the count now equals RTCMR (0): a match")
        rtc.write(offset: Offset.icr, size: 4, value: 1)
        rtc.write(offset: Offset.mr, size: 4, value: 5)
        rtc.write(offset: Offset.mr, size: 4, value: 50)
        XCTAssertEqual(clock.pendingAlarms, 1, "the first alarm was cancelled")
        clock.advance(by: 10 * Self.second)
        XCTAssertEqual(rtc.read(offset: Offset.ris, size: 4), 0)
        rtc.write(offset: Offset.lr, size: 4, value: 49)
        clock.advance(by: Self.second)
        XCTAssertEqual(rtc.read(offset: Offset.ris, size: 4), 1, "loading 49 put the match 1 s away")
    }

    func testMatchBehindTheCountWaitsForTheCounterToWrap() {
        let clock = ManualDeviceClock(nanoseconds: 0)
        let rtc = PL031(clock: clock)
        rtc.write(offset: Offset.lr, size: 4, value: 0xFFFF_FFFE)
        rtc.write(offset: Offset.mr, size: 4, value: 1)
        clock.advance(by: 2 * Self.second)
        XCTAssertEqual(rtc.read(offset: Offset.dr, size: 4), 0, "wrapped")
        XCTAssertEqual(rtc.read(offset: Offset.ris, size: 4), 0)
        clock.advance(by: Self.second)
        XCTAssertEqual(rtc.read(offset: Offset.ris, size: 4), 1)
    }

    func testControlReadsStartedAndIdentificationIsWhatLinuxMatches() {
        let rtc = PL031(clock: ManualDeviceClock())
        XCTAssertEqual(rtc.read(offset: Offset.cr, size: 4), 1)
        rtc.write(offset: Offset.cr, size: 4, value: 0)
        XCTAssertEqual(rtc.read(offset: Offset.cr, size: 4), 1, "the RTC cannot be stopped")
        let ids = (0..<8).map { rtc.read(offset: 0xFE0 + UInt64($0) * 4, size: 4) }
        let periph = ids[0..<4].enumerated().reduce(0) { $0 | $1.element << UInt64($1.offset * 8) }
        let cell = ids[4..<8].enumerated().reduce(0) { $0 | $1.element << UInt64($1.offset * 8) }
        XCTAssertEqual(periph, 0x0014_1031)
        XCTAssertEqual(cell, 0xB105_F00D)
        XCTAssertEqual(rtc.read(offset: Offset.icr, size: 4), 0, "RTCICR is write-only")
        XCTAssertEqual(rtc.read(offset: 0x800, size: 4), 0, "unknown offsets read 0")
    }
}
