import Foundation
import Hypervisor
import Platform
import TestSupport
import XCTest

/// `BoardHost`: the console backends every instance of a run shares (a guest reboot builds a
/// fresh instance on them, as QEMU keeps its chardevs across a reset).
final class BoardHostTests: FileTestCase {
    private func runDemo(_ configuration: VMConfiguration, host: BoardHost?) throws -> VirtualMachine {
        let vm = try Board.makeVM(name: "demo", configuration: configuration, host: host)
        try vm.start()
        XCTAssertEqual(vm.waitUntilStopped(timeout: .now() + 30)?.reason, .poweroff)
        return vm
    }

    private static let demoOutput = "Hello from the armvisor demo guest!\nEL1 guest: powering off through PSCI\n"

    /// Two instances on one host: one tap, one console file that holds both runs, kept open
    /// (sessions stay attached) until the owner closes the host.
    func testInstancesOfARunShareTheConsoleUntilTheOwnerClosesIt() async throws {
        let console = dir.appendingPathComponent("console.log").path
        let configuration = VMConfiguration(kernel: try TestPaths.guest("demo"), console: "file:\(console)")
        let host = BoardHost()
        XCTAssertNil(host.tap, "nothing is opened before the first build")
        let first = try runDemo(configuration, host: host)
        let session = try XCTUnwrap(host.tap?.attach(), "the tap stays open after the instance stopped")
        let second = try runDemo(configuration, host: host)
        XCTAssertTrue(first.console === second.console, "both instances have the host's tap")
        XCTAssertEqual(try String(contentsOfFile: console, encoding: .utf8), Self.demoOutput + Self.demoOutput)
        host.close()
        XCTAssertNil(host.tap)
        var seen = ""
        while let bytes = await session.next() { seen += String(decoding: bytes, as: UTF8.self) }
        XCTAssertEqual(seen, Self.demoOutput, "the session saw the second run and ended with the close")

        // Without a host a VM opens its own console and closes it when it stops (file truncated).
        _ = try runDemo(configuration, host: nil)
        XCTAssertEqual(try String(contentsOfFile: console, encoding: .utf8), Self.demoOutput)
    }

    /// A first build that fails closes what it opened (the socket file goes, the host is empty);
    /// a later build that fails leaves the run's open consoles to their owner.
    func testAFailedBuildClosesOnlyWhatItOpened() throws {
        let socket = dir.appendingPathComponent("console.sock").path
        let good = VMConfiguration(kernel: try TestPaths.guest("demo"), console: "unix:\(socket)")
        var bad = good
        bad.disks = [VMConfiguration.Disk(path: dir.appendingPathComponent("missing.img").path)]
        let host = BoardHost()
        XCTAssertThrowsError(try Board.makeVM(name: "bad", configuration: bad, host: host))
        XCTAssertNil(host.tap)
        XCTAssertFalse(FileManager.default.fileExists(atPath: socket))

        _ = try runDemo(good, host: host)
        let tap = host.tap
        XCTAssertThrowsError(try Board.makeVM(name: "bad", configuration: bad, host: host))
        XCTAssertTrue(host.tap === tap, "the run's consoles stay open")
        XCTAssertTrue(FileManager.default.fileExists(atPath: socket))
        host.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: socket))
    }
}
