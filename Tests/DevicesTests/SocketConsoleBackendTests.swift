import Backends
import Foundation
import Synchronization
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The `unix:PATH` console: clients attach and detach while the guest's output flows, input
/// from any client reaches the device, and the guest never waits for anyone.
/// `RLIMIT_NOFILE` as `setrlimit` takes it (an enum constant in Glibc's Swift overlay).
private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

final class SocketConsoleBackendTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        // Short: sun_path holds 108 bytes.
        directory = URL(fileURLWithPath: "/tmp/avsc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Waits (up to 10 s) for a condition another thread makes true.
    private func waitUntil(_ what: String, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(10)
        while !condition() {
            guard Date() < deadline else { return XCTFail("timed out waiting for \(what)") }
            usleep(1000)
        }
    }

    private func send(_ backend: SocketConsoleBackend, _ text: String) {
        Array(text.utf8).withUnsafeBytes { backend.send($0) }
        backend.drain()
    }

    func testClientsAttachAndDetachWhileOutputFlowsAndInputReachesTheGuest() throws {
        let path = directory.appendingPathComponent("console.sock").path
        let backend = try SocketConsoleBackend(path: path)
        let typed = Mutex<[UInt8]>([])
        backend.setInputHandler { bytes in typed.withLock { $0.append(contentsOf: bytes) } }

        send(backend, "nobody listens\n")  // dropped: no client yet, and the call returns
        let first = try LineSocket(path: path)
        var second: LineSocket? = try LineSocket(path: path)
        waitUntil("two clients") { backend.clientCount == 2 }
        send(backend, "one\n")
        XCTAssertEqual(try first.readLine(), "one", "output before a client attached is not replayed")
        XCTAssertEqual(try second?.readLine(), "one")

        second = nil  // detaches mid-output
        waitUntil("the second client to go") { backend.clientCount == 1 }
        send(backend, "two\n")
        XCTAssertEqual(try first.readLine(), "two")

        let third = try LineSocket(path: path)
        waitUntil("the third client") { backend.clientCount == 2 }
        send(backend, "three\n")
        XCTAssertEqual(try first.readLine(), "three")
        XCTAssertEqual(try third.readLine(), "three", "a late client sees output from when it attached")

        first.write(Array("ls\n".utf8))
        third.write(Array("pwd\n".utf8))
        waitUntil("input from both clients") { typed.withLock { $0.count } == 7 }
        XCTAssertEqual(
            Set(String(decoding: typed.withLock { $0 }, as: UTF8.self).split(separator: "\n")), ["ls", "pwd"])

        backend.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the socket file is removed")
        XCTAssertNil(try first.readLine(), "clients see end of file")
        XCTAssertThrowsError(try LineSocket(path: path))
        send(backend, "after the end\n")  // harmless
    }

    func testRunningOutOfDescriptorsPausesAcceptingInsteadOfSpinning() throws {
        // A connection that cannot be accepted (EMFILE) stays queued and keeps the listening
        // socket readable: the backend stops watching it for a while instead of calling
        // accept again at once, forever, and takes the connection once descriptors are back.
        let path = directory.appendingPathComponent("console.sock").path
        let backend = try SocketConsoleBackend(path: path)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        // The client's descriptor is made first; connecting needs none.
        let client = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(client, 0)
        defer { Glibc.close(client) }
        // Every descriptor number below `ceiling` taken, and the limit at `ceiling`: no new one
        // can be made. (A limit of 0 would not do: GLib's poll fails when it watches more
        // descriptors than the limit.)
        let ceiling: Int32 = 256
        var fillers: [Int32] = []
        while true {
            let fd = open("/dev/null", O_RDONLY)
            guard fd >= 0, fd < ceiling else {
                if fd >= 0 { Glibc.close(fd) }
                break
            }
            fillers.append(fd)
        }
        defer { for fd in fillers { Glibc.close(fd) } }
        var saved = rlimit()
        XCTAssertEqual(getrlimit(RLIMIT_NOFILE_VALUE, &saved), 0)
        var none = saved
        none.rlim_cur = rlim_t(ceiling)
        XCTAssertEqual(setrlimit(RLIMIT_NOFILE_VALUE, &none), 0)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(client, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        // Once accept has failed, a third of a second more without descriptors: a retry every
        // 100 ms is a few more failures; watching on would have been a busy loop of them. The
        // bound follows the time that really passed, so a stalled host cannot break it.
        waitUntil("accept to fail for want of descriptors") { backend.acceptFailures >= 1 }
        let first = backend.acceptFailures
        let start = DispatchTime.now().uptimeNanoseconds
        usleep(350_000)
        let failures = backend.acceptFailures - first
        let elapsed = Int((DispatchTime.now().uptimeNanoseconds - start) / 1_000_000)
        XCTAssertEqual(setrlimit(RLIMIT_NOFILE_VALUE, &saved), 0)
        XCTAssertEqual(connected, 0)
        XCTAssertLessThanOrEqual(
            failures, elapsed / Int(SocketConsoleBackend.acceptRetryMilliseconds) + 3,
            "accept was not retried in a busy loop (\(failures) failures in \(elapsed) ms)")
        waitUntil("the queued client to be accepted") { backend.clientCount == 1 }
        backend.close()
    }

    /// A client may connect and type as soon as the socket exists, before the VM's device has
    /// asked for input (`armvisor run` opens the console, then builds the VM): the device gets
    /// those bytes first, in order, when it does.
    func testInputTypedBeforeTheDeviceAskedForItIsKept() throws {
        let path = directory.appendingPathComponent("console.sock").path
        let backend = try SocketConsoleBackend(path: path)
        let client = try LineSocket(path: path)
        client.write(Array("early\r".utf8))
        waitUntil("the early input to be read") { backend.earlyInputCount == 6 }
        let typed = Mutex<[UInt8]>([])
        backend.setInputHandler { bytes in typed.withLock { $0.append(contentsOf: bytes) } }
        client.write(Array("late\r".utf8))
        waitUntil("all the input") { typed.withLock { $0.count } == 11 }
        XCTAssertEqual(String(decoding: typed.withLock { $0 }, as: UTF8.self), "early\rlate\r")
        XCTAssertEqual(backend.earlyInputCount, 0)
        backend.close()
    }

    func testAClientThatDoesNotReadNeverHoldsUpTheGuest() throws {
        let path = directory.appendingPathComponent("slow.sock").path
        let backend = try SocketConsoleBackend(path: path)
        let sleeper = try LineSocket(path: path)
        waitUntil("the client") { backend.clientCount == 1 }
        // Far more than a socket buffer holds; the client never reads, and every send returns.
        let line = String(repeating: "x", count: 1023) + "\n"
        for _ in 0..<2048 { send(backend, line) }
        // Still serving: a new client gets what comes next.
        let reader = try LineSocket(path: path)
        waitUntil("the reader") { backend.clientCount == 2 }
        send(backend, "hello\n")
        XCTAssertEqual(try reader.readLine(), "hello")
        _ = sleeper
        backend.close()
    }

    func testAStaleSocketIsReplacedAndALiveOneOrOtherFilesAreRefused() throws {
        let path = directory.appendingPathComponent("stale.sock").path
        let first = try SocketConsoleBackend(path: path)
        XCTAssertThrowsError(try SocketConsoleBackend(path: path)) { error in
            XCTAssertEqual("\(error)", "console socket \(path): in use (something is listening on it)")
        }
        first.close()
        // A socket file nobody listens on (left by a crash) is replaced.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(stale) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        XCTAssertEqual(bound, 0)
        let second = try SocketConsoleBackend(path: path)
        let client = try LineSocket(path: path)
        waitUntil("the client") { second.clientCount == 1 }
        _ = client
        second.close()

        let file = directory.appendingPathComponent("regular").path
        FileManager.default.createFile(atPath: file, contents: Data("keep".utf8))
        XCTAssertThrowsError(try SocketConsoleBackend(path: file)) { error in
            XCTAssertEqual("\(error)", "console socket \(file): exists and is not a socket")
        }
        XCTAssertEqual(FileManager.default.contents(atPath: file), Data("keep".utf8))
    }
}

/// Backends of VMs that never ran (a failed build, a created VM destroyed) give their host
/// resources back when they are dropped.
final class DroppedConsoleBackendTests: XCTestCase {
    func testADroppedSocketBackendRemovesItsSocket() throws {
        let path = "/tmp/avdrop-\(UUID().uuidString.prefix(8)).sock"
        var backend: SocketConsoleBackend? = try SocketConsoleBackend(path: path)
        let client = try LineSocket(path: path)
        XCTAssertNotNil(backend)
        backend = nil
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        // The client sees the end: end of file, or a reset when the close beat its read.
        do {
            let line = try client.readLine()
            XCTAssertNil(line, "the client sees end of file")
        } catch {
            XCTAssertTrue("\(error)".contains("Connection reset by peer"), "\(error)")
        }
        // The path is free for the next VM.
        let next = try SocketConsoleBackend(path: path)
        next.close()
    }

    func testADroppedPTYBackendRemovesItsLink() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let link = directory.appendingPathComponent("tty").path
        var backend: PTYConsoleBackend? = try PTYConsoleBackend(link: link)
        XCTAssertNotNil(backend)
        backend = nil
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: link))
    }
}
