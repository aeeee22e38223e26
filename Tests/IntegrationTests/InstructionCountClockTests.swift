import TestSupport
import XCTest

/// `clock = icount` (`armvisor run --clock icount`): deterministic virtual time. The `timer`
/// guest programs a 1 ms virtual timer and sleeps in WFI; in icount mode the counter follows
/// retired instructions and WFI skips ahead to the deadline, so two runs print the same output
/// and count the same exits, world switches and instructions.
final class InstructionCountClockTests: XCTestCase {
    private func run(_ arguments: [String]) throws -> ProcessRunner.Result {
        try ProcessRunner.run(try TestPaths.product("armvisor"), ["run"] + arguments, timeout: 60)
    }

    /// The `--stats` report without the lines that measure host time.
    private func deterministicStatistics(_ stderr: String) -> [Substring] {
        stderr.split(separator: "\n").filter { !$0.contains("uptime") && !$0.contains("MIPS") }
    }

    func testTwoIcountRunsOfTheTimerGuestAreIdentical() throws {
        let guest = try TestPaths.guest("timer")
        let first = try run(["--kernel", guest, "--clock", "icount", "--stats"])
        let second = try run(["--kernel", guest, "--clock", "icount", "--stats"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(first.stdout.hasSuffix("DONE\n"), first.stdout)
        XCTAssertFalse(first.stdout.contains("FAIL"), first.stdout)
        XCTAssertEqual(first.stdout, second.stdout)
        let statistics = deterministicStatistics(first.stderr)
        XCTAssertEqual(statistics, deterministicStatistics(second.stderr))
        // The WFI was ended by skipping ahead to the timer, not by host time.
        XCTAssertTrue(statistics.contains { $0.contains("wake-ups by timer") && $0.hasSuffix(" 1") }, "\(statistics)")
        XCTAssertTrue(statistics.contains { $0.contains("timer expiries") && $0.hasSuffix(" 1") }, "\(statistics)")
    }

    func testIcountIsRefusedWithSeveralVCPUsAndUnknownClocks() throws {
        let guest = try TestPaths.guest("demo")
        let smp = try run(["--kernel", guest, "--clock", "icount", "--cpus", "2"])
        XCTAssertNotEqual(smp.status, 0)
        XCTAssertTrue(smp.stderr.contains("clock = icount needs cpus = 1"), smp.stderr)
        let bad = try run(["--kernel", guest, "--clock", "tsc"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("invalid clock 'tsc' (expected host or icount)"), bad.stderr)
    }
}
