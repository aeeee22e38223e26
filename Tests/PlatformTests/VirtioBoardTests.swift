import Backends
import Foundation
import Hypervisor
import Platform
import TestSupport
import XCTest

/// The virtio part of the board: 32 transports, where the configured devices go, and the
/// configuration keys that choose them.
final class VirtioBoardTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try TestPaths.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func image(_ name: String, sectors: Int = 4) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try Data(count: sectors * 512).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func deviceIDs(_ vm: VirtualMachine) -> [UInt64] {
        (0..<32).map { index in
            guard let (device, offset, _) = vm.bus.resolve(0x0A00_0000 + UInt64(index) * 0x200 + 8) else { return 99 }
            return device.read(offset: offset, size: 4)
        }
    }

    func testDevicesGoToTheHighestTransportsInOrderAndTheRestAnswerZero() throws {
        let configuration = VMConfiguration(
            kernel: try TestPaths.guest("demo"), console: "null",
            disks: [.init(path: try image("a.img")), .init(path: try image("b.img"), readonly: true)], rng: true,
            virtioConsole: "null")
        let vm = try Board.makeVM(name: "virtio", configuration: configuration)
        var expected = [UInt64](repeating: 0, count: 32)
        expected[31] = 2
        expected[30] = 2
        expected[29] = 4
        expected[28] = 3
        XCTAssertEqual(deviceIDs(vm), expected)
        let version = vm.bus.resolve(0x0A00_0004).map { $0.device.read(offset: $0.offset, size: 4) }
        XCTAssertEqual(version, 2, "modern by default")
        let legacy = try Board.makeVM(
            name: "legacy",
            configuration: VMConfiguration(kernel: try TestPaths.guest("demo"), console: "null", virtioVersion: 1))
        XCTAssertEqual(legacy.bus.resolve(0x0A00_0004).map { $0.device.read(offset: $0.offset, size: 4) }, 1)
        XCTAssertEqual(deviceIDs(legacy), [UInt64](repeating: 0, count: 32))
    }

    func testVirtioConfigurationMistakesAreOneLineErrors() throws {
        let demo = try TestPaths.guest("demo")
        let missing = directory.appendingPathComponent("missing.img").path
        let cases: [(VMConfiguration, String)] = [
            (
                VMConfiguration(kernel: demo, console: "null", disks: [.init(path: missing)]),
                "disk \(missing): No such file or directory"
            ),
            (
                VMConfiguration(kernel: demo, console: "null", disks: [.init(path: directory.path)]),
                "disk \(directory.path): Is a directory"
            ),
            (
                VMConfiguration(kernel: demo, console: "null", virtioVersion: 3),
                "virtio-version 3 is not 1 (legacy) or 2 (modern)"
            ),
            (
                VMConfiguration(kernel: demo, virtioConsole: "stdio"),
                "'console' and 'virtio-console' cannot both be stdio: give one of them another backend"
            ),
            (
                VMConfiguration(kernel: demo, console: "null", virtioConsole: "tty"),
                "invalid virtio-console 'tty' (expected stdio, null, file:PATH, unix:PATH, pty or pty:LINK)"
            ),
        ]
        for (configuration, message) in cases {
            XCTAssertThrowsError(try Board.makeVM(name: "bad", configuration: configuration)) { error in
                XCTAssertEqual("\(error)", message)
            }
        }
    }

    func testDiskKeysAreCheckedAndTheDiskFlagParses() throws {
        let json = #"{"kernel": "k", "disks": [{"path": "d.img", "readonly": true}], "rng": true, "virtio-version": 1}"#
        let configuration = try JSONDecoder().decode(VMConfiguration.self, from: Data(json.utf8))
        XCTAssertEqual(configuration.disks, [.init(path: "d.img", readonly: true)])
        XCTAssertEqual(configuration.rng, true)
        XCTAssertEqual(configuration.virtioVersion, 1)
        let typo = #"{"disks": [{"path": "d.img", "read-only": true}]}"#
        XCTAssertThrowsError(try JSONDecoder().decode(VMConfiguration.self, from: Data(typo.utf8))) { error in
            XCTAssertEqual("\(error)", "unknown disk key 'read-only' (known: path, readonly)")
        }
        XCTAssertEqual(VMConfiguration.Disk.parse("/x/d.img"), .init(path: "/x/d.img"))
        XCTAssertEqual(VMConfiguration.Disk.parse("/x/d.img,readonly"), .init(path: "/x/d.img", readonly: true))
        XCTAssertEqual(VMConfiguration.Disk.parse("a,b.img"), .init(path: "a,b.img"))
        XCTAssertNil(VMConfiguration.Disk.parse(""))
        XCTAssertNil(VMConfiguration.Disk.parse(",readonly"))
    }
}

/// A VM whose console is a `unix:` socket: a client attached before the start reads the
/// guest's output, and the socket goes away when the VM stops.
final class SocketConsoleBoardTests: XCTestCase {
    func testGuestOutputReachesASocketClientAndTheSocketGoesWhenTheVMStops() throws {
        let path = "/tmp/avsb-\(UUID().uuidString.prefix(8)).sock"
        let vm = try Board.makeVM(
            name: "socket", configuration: VMConfiguration(kernel: try TestPaths.guest("demo"), console: "unix:\(path)")
        )
        let client = try LineSocket(path: path)
        // The connection is accepted on the GLib loop, in the iteration whose poll first sees
        // it; two round trips through the loop make sure that iteration has finished (output
        // before the accept would be dropped, as on a serial line with nothing plugged in).
        MainLoop.shared.invokeAndWait {}
        MainLoop.shared.invokeAndWait {}
        try vm.start()
        XCTAssertEqual(vm.waitUntilStopped().reason, .poweroff)
        XCTAssertEqual(try client.readLine(), "Hello from the armvisor demo guest!")
        XCTAssertEqual(try client.readLine(), "EL1 guest: powering off through PSCI")
        XCTAssertNil(try client.readLine(), "closed when the VM stopped")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }
}
