import Foundation
import TestSupport
import XCTest

/// Runs a check-list guest — one that prints `PASS <check>` per check and then `DONE`
/// (Tests/Guests/README.md) — under `armvisor run`, asserts every check passed, and, when
/// `qemu-system-aarch64` is installed, runs the same image under QEMU, the reference, and
/// compares the console texts line by line, apart from the checks QEMU does not model (under
/// QEMU those print `SKIP <check> ...` or pass).
class CheckGuestTestCase: XCTestCase {
    func lines(_ text: String) -> [Substring] {
        text.split(separator: "\n", omittingEmptySubsequences: false)
    }

    /// `qemuMachine`: the `-M` argument of the QEMU reference run (`virt,gic-version=3` for
    /// guests that program the GICv3, which QEMU's `virt` does not select by default); `cpus`
    /// vCPUs on both; `arguments`: more `armvisor run` flags (`--gic v2`).
    func assertGuestPassesEveryCheck(
        _ name: String, checks: [String], notModelledByQEMU: [String], qemuMachine: String = "virt", cpus: Int = 1,
        arguments: [String] = [], file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let guest = try TestPaths.guest(name)
        let result = try ProcessRunner.run(
            try TestPaths.product("armvisor"), ["run", "--kernel", guest, "--cpus", "\(cpus)"] + arguments, timeout: 120
        )
        let output = result.stdout
        XCTAssertEqual(result.reason, .exit, "terminated by a signal", file: file, line: line)
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        XCTAssertEqual(result.stderr, "", file: file, line: line)

        let printed = Set(lines(output))
        let notPassed = checks.filter { !printed.contains("PASS \($0)") }
        XCTAssertEqual(notPassed, [], "checks without a `PASS <name>` line in:\n\(output)", file: file, line: line)
        let failures = lines(output).filter { $0.hasPrefix("FAIL") || $0.hasPrefix("SKIP") }
        XCTAssertEqual(failures, [], "in:\n\(output)", file: file, line: line)
        // Nothing but the check lines, in order, and DONE.
        XCTAssertEqual(output, checks.map { "PASS \($0)\n" }.joined() + "DONE\n", file: file, line: line)

        try compareWithQEMU(
            guest: guest, armvisorOutput: output, notModelled: notModelledByQEMU, machine: qemuMachine, cpus: cpus)
    }

    private func compareWithQEMU(
        guest: String, armvisorOutput: String, notModelled: [String], machine: String, cpus: Int
    ) throws {
        guard let qemu = Self.findOnPath("qemu-system-aarch64") else {
            // armvisor's own checks passed; the comparison is reported as skipped, not passed.
            throw XCTSkip("qemu-system-aarch64 not on PATH (scripts/bootstrap installs it): QEMU comparison skipped")
        }
        let result = try ProcessRunner.run(
            qemu,
            ["-M", machine, "-cpu", "cortex-a57", "-smp", "\(cpus)", "-nographic", "-m", "128M", "-kernel", guest],
            timeout: 60)
        XCTAssertEqual(result.reason, .exit, "QEMU terminated by a signal")
        XCTAssertEqual(result.status, 0, "QEMU: \(result.stderr)")
        let qemuOutput = result.stdout
        XCTAssertTrue(qemuOutput.hasSuffix("DONE\n"), "QEMU output does not end with DONE:\n\(qemuOutput)")

        func isNotModelled(_ line: Substring) -> Bool {
            notModelled.contains { line == "PASS \($0)" || line.hasPrefix("SKIP \($0) ") }
        }
        for check in notModelled {
            let line = lines(qemuOutput).first { $0.hasSuffix(" \(check)") || $0.contains(" \(check) ") }
            XCTAssertTrue(
                line.map(isNotModelled) ?? false, "QEMU printed \(line.map(String.init) ?? "nothing") for \(check)")
        }
        XCTAssertEqual(
            lines(armvisorOutput).filter { !isNotModelled($0) }, lines(qemuOutput).filter { !isNotModelled($0) },
            "armvisor and QEMU disagree:\narmvisor:\n\(armvisorOutput)\nQEMU:\n\(qemuOutput)")
    }

    /// A row of `armvisor run --stats`: the name padded to 28 columns, then the value.
    func statisticsRow(_ name: String, _ value: Int) -> String {
        "  " + name.padding(toLength: 28, withPad: " ", startingAt: 0) + "\(value)\n"
    }

    static func findOnPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
