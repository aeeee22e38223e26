import Foundation
import TestSupport
import XCTest

/// `armvisor run` on the `virtio` guest (Tests/Guests/virtio, freestanding C): virtio-blk,
/// virtio-rng and virtio-console driven end to end over both virtio-mmio interfaces, the data
/// the guest wrote and flushed checked in the host file and its console line in the console's
/// file, and everything compared with `qemu-system-aarch64 -M virt` on a copy of the same image
/// (QEMU's legacy default, and `force-legacy=false` for version 2; its virtio-console is a
/// virtconsole on port 0 of a virtio-serial device).
final class VirtioGuestTests: XCTestCase {
    static let expectedOutput = """
        console at 29
        rng at 30
        blk at 31
        PASS blk_features
        PASS blk_read
        PASS blk_interrupt
        PASS blk_write
        PASS blk_flush
        PASS blk_readback
        PASS blk_ioerr
        PASS blk_unsupp
        PASS blk_get_id
        PASS rng
        PASS console_tx
        DONE

        """

    private var directory: URL!

    override func setUpWithError() throws {
        directory = try TestPaths.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A 64 KiB image whose sector 0 starts with "DISK0" (what the guest checks it reads).
    private func makeImage(_ name: String) throws -> String {
        var bytes = [UInt8](repeating: 0, count: 64 * 1024)
        bytes.replaceSubrange(0..<5, with: Array("DISK0".utf8))
        let path = directory.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The pattern the guest writes to sector 1.
    private let pattern = (0..<512).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }

    private func contents(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func testBlockAndEntropyDevicesEndToEndOnBothInterfaces() throws {
        let guest = try TestPaths.guest("virtio")
        for version in ["1", "2"] {
            let image = try makeImage("armvisor-v\(version).img")
            let console = directory.appendingPathComponent("armvisor-v\(version).console").path
            let result = try ProcessRunner.run(
                try TestPaths.product("armvisor"),
                [
                    "run", "--kernel", guest, "--disk", image, "--rng", "--virtio-version", version,
                    "--virtio-console", "file:\(console)",
                ], timeout: 60)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertEqual(result.stdout, Self.expectedOutput, "virtio-version \(version)")
            let disk = try contents(image)
            XCTAssertEqual(Array(disk[512..<1024]), pattern, "the written sector is in the host file")
            XCTAssertEqual(Array(disk[0..<5]), Array("DISK0".utf8))
            XCTAssertTrue(disk[1024...].allSatisfy { $0 == 0 }, "nothing else written")
            XCTAssertEqual(try String(contentsOfFile: console, encoding: .utf8), "hello through virtio-console\n")
        }

        guard let qemu = CheckGuestTestCase.findOnPath("qemu-system-aarch64") else {
            print("\(Self.self): qemu-system-aarch64 not on PATH; QEMU comparison skipped")
            return
        }
        for (name, extra) in [("legacy", [String]()), ("modern", ["-global", "virtio-mmio.force-legacy=false"])] {
            let image = try makeImage("qemu-\(name).img")
            let console = directory.appendingPathComponent("qemu-\(name).console").path
            let result = try ProcessRunner.run(
                qemu,
                ["-M", "virt", "-cpu", "cortex-a57", "-nographic", "-m", "128M"] + extra + [
                    "-kernel", guest, "-drive", "file=\(image),if=none,format=raw,id=d0",
                    "-device", "virtio-blk-device,drive=d0,serial=armvisor-disk0", "-device", "virtio-rng-device",
                    "-chardev", "file,id=c0,path=\(console)", "-device", "virtio-serial-device",
                    "-device", "virtconsole,chardev=c0",
                ], timeout: 30)
            XCTAssertEqual(result.status, 0, "QEMU \(name): \(result.stderr)")
            XCTAssertEqual(result.stdout, Self.expectedOutput, "QEMU \(name)")
            XCTAssertEqual(try contents(image), try contents(directory.appendingPathComponent("armvisor-v2.img").path))
            XCTAssertEqual(try String(contentsOfFile: console, encoding: .utf8), "hello through virtio-console\n")
        }
    }

    func testReadOnlyDiskRefusesTheGuestsWriteAndStaysUnchanged() throws {
        let image = try makeImage("ro.img")
        let before = try contents(image)
        let result = try ProcessRunner.run(
            try TestPaths.product("armvisor"),
            ["run", "--kernel", try TestPaths.guest("virtio"), "--disk", "\(image),readonly", "--rng"], timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertTrue(lines.contains("FAIL blk_write"), result.stdout)
        XCTAssertTrue(lines.contains("FAIL blk_readback"), result.stdout)
        XCTAssertTrue(lines.contains("PASS blk_read"), result.stdout)
        XCTAssertEqual(try contents(image), before)
    }

    func testADiskThatCannotBeOpenedIsAOneLineError() throws {
        let missing = directory.appendingPathComponent("missing.img").path
        let result = try ProcessRunner.run(
            try TestPaths.product("armvisor"), ["run", "--kernel", try TestPaths.guest("demo"), "--disk", missing],
            timeout: 30)
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderr, "armvisor: disk \(missing): No such file or directory\n")
    }
}
