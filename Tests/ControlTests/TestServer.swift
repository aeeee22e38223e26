import Control
import Foundation
import TestSupport
import Logging

/// A `ControlServer` on a fresh short socket path under /tmp, served by a background task.
final class TestServer: Sendable {
    let server: ControlServer
    let socketPath: String
    private let serving: Task<Void, any Error>

    private init(server: ControlServer) {
        self.server = server
        socketPath = server.socketPath
        serving = Task { try await server.run() }
    }

    /// Starts a server for `manager` (default: a manager with the real board).
    static func start(manager: VMManager? = nil) async throws -> TestServer {
        let path = "/tmp/avct-\(getpid())-\(UUID().uuidString.prefix(8)).sock"
        let logger = quietLogger
        let manager = manager ?? VMManager(logger: logger)
        return TestServer(server: try await ControlServer.bind(socketPath: path, manager: manager, logger: logger))
    }

    func connect() throws -> LineSocket { try LineSocket(path: socketPath) }

    /// Closes the listener (open test connections must be closed first) and waits for it.
    func stop() async throws {
        await server.close()
        try await serving.value
    }
}

/// A logger that only reports critical problems (keeps test output readable).
let quietLogger: Logger = {
    var logger = Logger(label: "ControlTests")
    logger.logLevel = .critical
    return logger
}()
