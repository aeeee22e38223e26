import Devices
import Dispatch
import Synchronization
import XCTest

/// The host clock's alarms: they fire once at their deadline, and a cancelled one never does.
final class HostDeviceClockTests: XCTestCase {
    func testAlarmFiresOnceAndACancelledOneNever() {
        let clock = HostDeviceClock()
        let fired = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        // Many alarms set and cancelled (as a guest rewriting RTCMR does), then one that fires.
        for _ in 0..<10_000 {
            clock.schedule(at: clock.nanoseconds() + 3_600_000_000_000) { fired.withLock { $0.append("late") } }
                .cancel()
        }
        let soon = clock.schedule(at: clock.nanoseconds() + 5_000_000) {
            fired.withLock { $0.append("soon") }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        soon.cancel()  // harmless after it ran
        XCTAssertEqual(fired.withLock { $0 }, ["soon"])
    }
}
