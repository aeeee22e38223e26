import Control
import Foundation
import Hypervisor
import Synchronization
import TestSupport
import XCTest

/// The `console` command against the server (docs/PROTOCOL.md, "console"), with an idling guest
/// whose console is a `ConsoleTap` the test drives directly: it plays the guest's UART (output
/// through `send`, input through the handler it installs).
final class ConsoleCommandTests: XCTestCase {
    /// Discards output; has no input.
    private final class NullBackend: CharacterBackend {
        func send(_ bytes: UnsafeRawBufferPointer) {}
        func drain() {}
    }

    private final class Taps: Sendable {
        let latest = Mutex<ConsoleTap?>(nil)
        let received = Mutex<[UInt8]>([])
    }

    func testConsoleExampleByteStreamAndErrors() async throws {
        let taps = Taps()
        let idle = rawGuest([0xD503_207F, 0x17FF_FFFF])  // wfi; b .-4, no console
        let manager = VMManager(logger: quietLogger) { name, configuration in
            guard name == "demo" else { return try idle(name, configuration) }
            let memory = try MachineMemory(base: guestRAMBase, size: 1 << 20)
            let code: [UInt32] = [0xD503_207F, 0x17FF_FFFF]
            _ = code.withUnsafeBytes { memory.write($0, at: guestRAMBase) }
            let tap = ConsoleTap(wrapping: NullBackend())
            tap.setInputHandler { bytes in taps.received.withLock { $0 += bytes } }
            let vm = VirtualMachine(
                name: name, memory: memory, bus: try MMIOBus(windows: []), shutdownHooks: [{ tap.close() }],
                console: tap)
            vm.setBootState(entry: guestRAMBase, x0: 0)
            taps.latest.withLock { $0 = tap }
            return vm
        }
        let server = try await TestServer.start(manager: manager)
        do {
            let control = try server.connect()
            _ = try control.exchangeLine(#"{"id":0,"command":"create","arguments":{"name":"demo"}}"#)
            _ = try control.exchangeLine(#"{"id":0,"command":"create","arguments":{"name":"bare"}}"#)

            // The protocol document's example.
            let console = try server.connect()
            XCTAssertEqual(
                try console.exchangeLine(#"{"id":1,"command":"console","arguments":{"name":"demo"}}"#),
                #"{"id":1,"ok":true,"result":{"name":"demo","state":"created"}}"#)
            let tap = try XCTUnwrap(taps.latest.withLock { $0 })
            XCTAssertEqual(tap.sessionCount, 1)
            // Raw bytes both ways: a newline is just a byte now, and so is a request.
            XCTAssertTrue(console.write(Array("ls\n{\"command\":\"ping\"}\r".utf8)))
            let deadline = Date().addingTimeInterval(10)
            while taps.received.withLock({ $0.count }) < 21, Date() < deadline { usleep(1_000) }
            XCTAssertEqual(
                String(decoding: taps.received.withLock { $0 }, as: UTF8.self), "ls\n{\"command\":\"ping\"}\r")
            Array("login: ".utf8).withUnsafeBytes { tap.send($0) }
            XCTAssertEqual(try console.readUntil("login: "), "login: ")

            // Errors: the connection stays a request connection.
            XCTAssertEqual(
                try control.exchangeLine(#"{"id":2,"command":"console","arguments":{"name":"bare"}}"#),
                #"{"error":{"code":"no-console","message":"VM 'bare' has no console to attach to"},"id":2,"ok":false}"#)
            XCTAssertEqual(
                try control.exchangeLine(#"{"id":3,"command":"console","arguments":{"name":"../x"}}"#).contains(
                    #""code":"invalid-name""#), true)
            XCTAssertEqual(
                try control.exchangeLine(#"{"id":4,"command":"console","arguments":{"name":7}}"#).contains(
                    #""code":"bad-request""#), true)

            // Destroying the VM ends the session: the daemon closes the connection.
            XCTAssertEqual(
                try control.exchangeLine(#"{"id":5,"command":"destroy","arguments":{"name":"demo"}}"#),
                #"{"id":5,"ok":true,"result":{}}"#)
            XCTAssertEqual(try console.readToEnd(), "")
            XCTAssertEqual(tap.sessionCount, 0)
            XCTAssertEqual(try control.exchangeLine(#"{"id":6,"command":"ping"}"#), #"{"id":6,"ok":true,"result":{}}"#)
        }
        try await server.stop()
    }

    /// A session that falls behind loses its oldest output, never the guest's progress.
    func testASlowSessionLosesItsOldestOutput() async {
        let tap = ConsoleTap(wrapping: NullBackend())
        guard let session = tap.attach() else { return XCTFail("no session") }
        let chunk = [UInt8](repeating: 0x41, count: 4096)
        for _ in 0..<(ConsoleTap.sessionCapacity / 4096 + 2) { chunk.withUnsafeBytes { tap.send($0) } }
        Array("end".utf8).withUnsafeBytes { tap.send($0) }
        let held = await session.next() ?? []
        XCTAssertEqual(held.count, ConsoleTap.sessionCapacity)
        XCTAssertEqual(Array(held.suffix(3)), Array("end".utf8))
        XCTAssertEqual(session.droppedBytes, 2 * 4096 + 3)
        tap.close()
        let after = await session.next()
        XCTAssertNil(after)
        XCTAssertNil(tap.attach())
    }

    /// A reader stalled for more than twice the capacity, fed a byte at a time as the PL011 does
    /// for part of it: it still gets exactly the newest `sessionCapacity` bytes, in order.
    func testAStalledSessionKeepsTheNewestCapacityInOrder() async {
        let tap = ConsoleTap(wrapping: NullBackend())
        guard let session = tap.attach() else { return XCTFail("no session") }
        let total = ConsoleTap.sessionCapacity * 5 / 2
        var sent = 0
        while sent < total - 1000 {
            let chunk = (0..<4096).map { UInt8(truncatingIfNeeded: (sent + $0) % 251) }
            chunk.withUnsafeBytes { tap.send($0) }
            sent += chunk.count
        }
        while sent < total {
            [UInt8(truncatingIfNeeded: sent % 251)].withUnsafeBytes { tap.send($0) }
            sent += 1
        }
        let held = await session.next() ?? []
        XCTAssertEqual(held.count, ConsoleTap.sessionCapacity)
        XCTAssertEqual(session.droppedBytes, total - ConsoleTap.sessionCapacity)
        let first = total - ConsoleTap.sessionCapacity
        XCTAssertEqual(held.first, UInt8(truncatingIfNeeded: first % 251))
        XCTAssertEqual(held.last, UInt8(truncatingIfNeeded: (total - 1) % 251))
        XCTAssertTrue(held.indices.allSatisfy { held[$0] == UInt8(truncatingIfNeeded: (first + $0) % 251) })
        tap.close()
    }
}
