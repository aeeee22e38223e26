import AArch64
import XCTest

/// Random words executed as code never crash or hang the host: every outcome is an exception
/// inside the guest, an exit, or the budget running out.
final class RobustnessTests: XCTestCase {
    func testRandomWordsNeverCrashTheCore() {
        var generator = DiffRandom(seed: 0xA5A5_2026)
        for _ in 0..<50 {
            let m = TestMachine()
            let words = (0..<4096).map { _ in UInt32(truncatingIfNeeded: generator.next()) }
            m.load(words)
            m.cpu.state.pointee.vbarEL1 = TestMachine.ramBase + 0x800
            for _ in 0..<200 {
                switch m.runLoaded(budget: 2000) {
                case .trap:
                    // Resume somewhere else in the random page, as a hostile highvisor would.
                    m.cpu.pc = TestMachine.ramBase + (generator.next() & 0x3FFC)
                case .budget, .kick:
                    m.cpu.pc = TestMachine.ramBase + (generator.next() & 0x3FFC)
                }
            }
        }
    }
}
