import Backends
import Foundation
import Synchronization
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The `pty` console: a terminal program opens the pseudo-terminal, closes it and opens it
/// again; bytes pass unchanged both ways (raw mode).
final class PTYConsoleBackendTests: XCTestCase {
    /// Reads what arrives on `fd` within 10 s until `count` bytes came.
    private func read(_ fd: Int32, count: Int) -> [UInt8] {
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(10)
        while received.count < count, Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            received += buffer[0..<n]
        }
        return received
    }

    private func send(_ backend: PTYConsoleBackend, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { backend.send($0) }
        backend.drain()
    }

    func testATerminalProgramSeesRawOutputTypesInputAndMayReopen() throws {
        let backend = try PTYConsoleBackend()
        XCTAssertTrue(backend.path.hasPrefix("/dev/pts/"), backend.path)
        let typed = Mutex<[UInt8]>([])
        backend.setInputHandler { bytes in typed.withLock { $0 += bytes } }

        var terminal = open(backend.path, O_RDWR | O_NOCTTY)
        XCTAssertGreaterThanOrEqual(terminal, 0)
        send(backend, Array("hello\r\n\u{1B}[0m".utf8))
        XCTAssertEqual(read(terminal, count: 11), Array("hello\r\n\u{1B}[0m".utf8), "raw: no translation")
        XCTAssertEqual(Glibc.write(terminal, "ls\r", 3), 3)
        let deadline = Date().addingTimeInterval(10)
        while typed.withLock({ $0.count }) < 3, Date() < deadline { usleep(1000) }
        XCTAssertEqual(typed.withLock { $0 }, Array("ls\r".utf8), "raw: CR stays CR, no echo processing")

        close(terminal)
        send(backend, Array("while nobody looks\n".utf8))  // the guest does not wait
        terminal = open(backend.path, O_RDWR | O_NOCTTY)
        XCTAssertGreaterThanOrEqual(terminal, 0)
        XCTAssertEqual(read(terminal, count: 19), Array("while nobody looks\n".utf8), "buffered in the terminal")
        send(backend, Array("again\n".utf8))
        XCTAssertEqual(read(terminal, count: 6), Array("again\n".utf8))
        close(terminal)
        backend.close()
    }

    /// Keys typed before the device asked for input (while the VM is built) reach it first, in
    /// order, when it does.
    func testInputTypedBeforeTheDeviceAskedForItIsKept() throws {
        let backend = try PTYConsoleBackend()
        let terminal = open(backend.path, O_RDWR | O_NOCTTY)
        XCTAssertGreaterThanOrEqual(terminal, 0)
        XCTAssertEqual(Glibc.write(terminal, "early", 5), 5)
        let deadline = Date().addingTimeInterval(10)
        while backend.earlyInputCount < 5, Date() < deadline { usleep(1000) }
        XCTAssertEqual(backend.earlyInputCount, 5)
        let typed = Mutex<[UInt8]>([])
        backend.setInputHandler { bytes in typed.withLock { $0 += bytes } }
        XCTAssertEqual(Glibc.write(terminal, "late", 4), 4)
        while typed.withLock({ $0.count }) < 9, Date() < deadline { usleep(1000) }
        XCTAssertEqual(typed.withLock { $0 }, Array("earlylate".utf8))
        close(terminal)
        backend.close()
    }

    func testALinkNamesTheTerminalUntilTheConsoleCloses() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let link = directory.appendingPathComponent("console").path
        let backend = try PTYConsoleBackend(link: link)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), backend.path)
        backend.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: link))

        // Two consoles given the same link: the second takes it over, and closing the first
        // leaves the second's link alone.
        let first = try PTYConsoleBackend(link: link)
        let second = try PTYConsoleBackend(link: link)
        first.close()
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), second.path)
        second.close()
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: link))

        let file = directory.appendingPathComponent("file").path
        FileManager.default.createFile(atPath: file, contents: Data("keep".utf8))
        XCTAssertThrowsError(try PTYConsoleBackend(link: file)) { error in
            XCTAssertEqual("\(error)", "console pty: \(file) exists and is not a symbolic link")
        }
    }
}
