import Foundation
import TestSupport
import XCTest

/// What the Debian kernel tests need: the kernels and initramfs images built by
/// `scripts/fetch-debian-guest` (in `.build/images/debian/`) and a release build of the
/// executables (`.build/release/`; a debug build boots a distribution kernel some 15 times more
/// slowly). `scripts/test` provides both and sets `ARMVISOR_REQUIRE_LINUX=1`, which turns a
/// missing piece into a failure; a plain `swift test` without them skips these tests.
enum LinuxGuest {
    /// The marker line the initramfs `/init` prints before it starts the shell.
    static let marker = "armvisor-guest: ready"

    static var required: Bool { ProcessInfo.processInfo.environment["ARMVISOR_REQUIRE_LINUX"] == "1" }

    /// Everything `scripts/test-linux-all` adds (the generic kernel's tests) runs only with
    /// `ARMVISOR_LINUX_ALL=1`.
    static var all: Bool { ProcessInfo.processInfo.environment["ARMVISOR_LINUX_ALL"] == "1" }

    /// `.build/images/debian/NAME`.
    static func image(_ name: String) throws -> String {
        try present(
            TestPaths.packageRoot.appendingPathComponent(".build/images/debian/\(name)").path,
            hint: "run scripts/fetch-debian-guest")
    }

    /// `.build/release/NAME`.
    static func releaseProduct(_ name: String) throws -> String {
        try present(
            TestPaths.packageRoot.appendingPathComponent(".build/release/\(name)").path,
            hint: "run swift build -c release")
    }

    private static func present(_ path: String, hint: String) throws -> String {
        if FileManager.default.fileExists(atPath: path) { return path }
        let message = "\(path) is missing: \(hint) (scripts/test does)"
        if required { throw TestPaths.Missing(description: message) }
        throw XCTSkip(message)
    }

    /// `armvisor run` arguments that boot `flavour` ("cloud" or "generic") with the console on
    /// standard input and output.
    static func runArguments(flavour: String, extra: [String] = []) throws -> [String] {
        [
            "run", "--kernel", try image("Image-\(flavour)"), "--initrd", try image("initrd-\(flavour)"),
            "--memory", "256M", "--append", "console=ttyAMA0",
        ] + extra
    }
}

/// Where a `LinuxShell` types and reads: a process on pipes (`InteractiveProcess`) or on a
/// pseudo-terminal (`TerminalProcess`).
protocol ShellConsole: AnyObject {
    var length: Int { get }
    var text: String { get }
    func send(_ text: String)
    @discardableResult func waitFor(_ needle: String, after mark: Int, timeout: TimeInterval) throws -> String
    func waitForExit(timeout: TimeInterval) -> Int32?
}

extension ShellConsole {
    @discardableResult func waitFor(_ needle: String, after mark: Int = 0) throws -> String {
        try waitFor(needle, after: mark, timeout: 60)
    }
}

extension InteractiveProcess: ShellConsole {}
extension TerminalProcess: ShellConsole {}

/// A BusyBox shell on a booted Linux guest, driven through its console.
struct LinuxShell {
    let vm: any ShellConsole

    /// Boots `flavour` with `armvisor run` (release) and `extra` arguments, checks the boot log
    /// for `cpus` and `gic`, and returns the shell and the log.
    /// `onTerminal`: on a pseudo-terminal (`vm` is a `TerminalProcess`) instead of pipes.
    static func boot(
        flavour: String, cpus: Int = 1, gic: String = "v3", extra: [String] = [], onTerminal: Bool = false
    ) throws -> (shell: LinuxShell, log: String) {
        let path = try LinuxGuest.releaseProduct("armvisor")
        let arguments = try LinuxGuest.runArguments(flavour: flavour, extra: extra)
        let vm: any ShellConsole =
            onTerminal ? try TerminalProcess(path, arguments) : try InteractiveProcess(path, arguments)
        let shell = LinuxShell(vm: vm)
        let log = try shell.waitForBoot()
        shell.checkBootLog(log, cpus: cpus, gic: gic)
        return (shell, log)
    }

    /// Through the daemon of `test` (release `armvisord`, started here on `socketPath`): creates
    /// VM `name` booting `flavour` (with `extra` settings), attaches `armvisor console` before the
    /// start (so it sees the whole boot), calls `beforeStart`, starts the VM and waits for the
    /// shell.
    static func bootThroughDaemon(
        _ test: DaemonTestCase, socketPath: String, name: String, flavour: String, extra: [String] = [],
        beforeStart: () throws -> Void = {}
    ) throws -> LinuxShell {
        try test.launchDaemon(
            executable: try LinuxGuest.releaseProduct("armvisord"),
            arguments: ["--socket", socketPath, "--state-dir", "\(test.workDirectory)/state", "--log-level", "info"],
            socketPath: socketPath)
        // runArguments starts with "run"; `create` takes the same settings after the name.
        let boot = try LinuxGuest.runArguments(flavour: flavour, extra: extra)
        try test.armvisor(["create", name] + boot.dropFirst() + ["--socket", socketPath])
        let console = try InteractiveProcess(
            try LinuxGuest.releaseProduct("armvisor"), ["console", name, "--socket", socketPath])
        try beforeStart()
        try test.armvisor(["start", name, "--socket", socketPath])
        let shell = LinuxShell(vm: console)
        shell.checkBootLog(try shell.waitForBoot(), cpus: 1, gic: "v3")
        return shell
    }

    /// `poweroff -f`: the kernel's last words, then the run ends with status 0.
    func powerOff(file: StaticString = #filePath, line: UInt = #line) throws {
        let mark = vm.length
        vm.send("poweroff -f\n")
        try vm.waitFor("reboot: Power down", after: mark)
        XCTAssertEqual(vm.waitForExit(timeout: 60), 0, vm.text, file: file, line: line)
    }

    /// Waits for the initramfs marker and the first prompt; returns the boot log.
    @discardableResult
    func waitForBoot(after mark: Int = 0, timeout: TimeInterval = 300) throws -> String {
        let log = try vm.waitFor(LinuxGuest.marker, after: mark, timeout: timeout)
        try vm.waitFor("# ", after: mark + log.utf8.count, timeout: 60)
        return log
    }

    /// Runs `command` in the shell and returns what it printed (without the echoed command
    /// line). The end is found by a marker the command line cannot contain literally.
    func run(_ command: String, timeout: TimeInterval = 120) throws -> String {
        let mark = vm.length
        vm.send(command + "; echo @@\"\"done@@\n")
        let text = try vm.waitFor("@@done@@", after: mark, timeout: timeout)
        // The terminal echoes the command line (once or twice, with line editing); the output
        // starts after the last echo.
        let echoed = "echo @@\"\"done@@"
        let output = text.range(of: echoed, options: .backwards).map { String(text[$0.upperBound...]) } ?? text
        let lines = String(output.dropLast("@@done@@".count)).replacingOccurrences(of: "\r", with: "")
        // The echoed line ends with its newline, which is not output.
        return lines.hasPrefix("\n") ? String(lines.dropFirst()) : lines
    }

    /// Checks what a boot log must show on a correctly modelled board: no kernel warnings or
    /// crashes, every CPU online, the arch timer, the GIC, the PL011 as ttyAMA0 and the RTC.
    func checkBootLog(_ log: String, cpus: Int, gic: String, file: StaticString = #filePath, line: UInt = #line) {
        for bad in ["WARNING:", "BUG:", "Oops", "Call trace:", "Kernel panic", "failed to"] {
            XCTAssertFalse(log.contains(bad), "boot log contains \(bad):\n\(log)", file: file, line: line)
        }
        var expected = [
            "arch_timer: cp15 timer(s) running at 62.50MHz (virt)",
            "ttyAMA0 at MMIO 0x9000000", "rtc-pl031 9010000.pl031: setting system clock",
            "smp: Brought up 1 node, \(cpus) CPU", "Root IRQ handler: gic_handle_irq",
        ]
        if gic == "v3" { expected.append("GICv3: CPU0: found redistributor 0") }
        for text in expected {
            XCTAssertTrue(log.contains(text), "boot log lacks \(text):\n\(log)", file: file, line: line)
        }
    }
}
