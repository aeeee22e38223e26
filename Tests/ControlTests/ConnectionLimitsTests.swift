import Control
import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The server's connection limits in process: changing them while it runs, and a client that
/// sends requests but never reads the replies.
final class ConnectionLimitsTests: XCTestCase {
    func testSetLimitsAppliesToNewConnections() async throws {
        let server = try await TestServer.start(limits: ConnectionLimits(maximumConnections: 1, idleTimeout: nil))
        do {
            let first = try server.connect()
            XCTAssertEqual(try first.exchange(#"{"id":1,"command":"ping"}"#)["ok"], true)
            let refused = try server.connect()
            let line = try XCTUnwrap(try refused.readLine())
            XCTAssertEqual(try JSONValue(parsing: Data(line.utf8))["error"]?["code"], "too-many-connections")
            XCTAssertNil(try refused.readLine())

            server.server.setLimits(ConnectionLimits(maximumConnections: 2, idleTimeout: nil))
            XCTAssertEqual(server.server.currentLimits.maximumConnections, 2)
            let second = try server.connect()
            XCTAssertEqual(try second.exchange(#"{"id":2,"command":"ping"}"#)["ok"], true)
        }
        try await server.stop()
    }

    func testClientReportsTheRefusalEvenWhenTheServerClosedBeforeItsRequest() async throws {
        // The daemon answers a connection over the limit and closes it at once; a client whose
        // request goes out after the close gets EPIPE, but must still report the refusal.
        let server = try await TestServer.start(limits: ConnectionLimits(maximumConnections: 1, idleTimeout: nil))
        do {
            let first = try server.connect()
            XCTAssertEqual(try first.exchange(#"{"id":1,"command":"ping"}"#)["ok"], true)
            let client = try ControlClient(socketPath: server.socketPath)
            // Wait for the server's close (the refusal line is queued before it): a UNIX stream
            // socket whose peer has gone reports POLLHUP, which needs no event bit.
            var descriptor = pollfd(fd: client.fileDescriptor, events: 0, revents: 0)
            XCTAssertEqual(poll(&descriptor, 1, 30_000), 1, "the server closed the refused connection")
            XCTAssertNotEqual(Int32(descriptor.revents) & Int32(POLLHUP), 0)
            XCTAssertThrowsError(try client.call("ping")) { error in
                XCTAssertEqual((error as? ControlClientError)?.code, .tooManyConnections, "\(error)")
            }
        }
        try await server.stop()
    }

    /// Pipelined requests whose replies are never read: once the replies fill the socket, the
    /// server can deliver nothing more, the connection goes idle, and the idle timeout closes it
    /// (a reply the daemon cannot deliver does not keep a connection busy).
    func testAClientThatNeverReadsItsRepliesIsClosed() async throws {
        let server = try await TestServer.start(limits: ConnectionLimits(idleTimeout: .seconds(1)))
        do {
            let socket = try server.connect()
            // Batches of 1000 requests, until the socket is full in both directions (the server
            // stopped reading because it cannot deliver its replies).
            let batch = Array(String(repeating: #"{"id":1,"command":"ping"}"# + "\n", count: 1000).utf8)
            // The clock starts before the first request: the server's idle time can only start
            // after it has read it, so the close comes at least the idle timeout after this.
            let start = Date()
            var sent = 0
            while sent < 1_000_000 {
                let count = batch.withUnsafeBytes {
                    send(socket.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
                }
                if count > 0 { sent += count / (batch.count / 1000) }
                guard count == batch.count else { break }
            }
            XCTAssertLessThan(sent, 1_000_000, "the server read everything")
            // Without reading a byte: wait (at most 10 s) for the server to close its end.
            var descriptor = pollfd(fd: socket.fd, events: 0, revents: 0)
            XCTAssertEqual(poll(&descriptor, 1, 10_000), 1, "the connection was not closed")
            XCTAssertNotEqual(descriptor.revents & Int16(POLLHUP), 0)
            XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.5)
            var replies = 0
            while try socket.readLine() != nil { replies += 1 }
            XCTAssertGreaterThan(replies, 0)
            XCTAssertLessThan(replies, sent, "every reply was delivered")
        }
        try await server.stop()
    }
}
