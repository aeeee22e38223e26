import Control
import Foundation
import TestSupport
import Hypervisor
import Logging

/// A `ControlServer` on a fresh short socket path under /tmp, served by a background task.
final class TestServer: Sendable {
    let server: ControlServer
    let socketPath: String
    let manager: VMManager
    private let serving: Task<Void, any Error>

    private init(server: ControlServer, manager: VMManager) {
        self.server = server
        self.manager = manager
        socketPath = server.socketPath
        serving = Task { try await server.run() }
    }

    /// Starts a server for `manager` (default: a manager with the real board).
    static func start(manager: VMManager? = nil, limits: ConnectionLimits = .default) async throws -> TestServer {
        let path = "/tmp/avct-\(getpid())-\(UUID().uuidString.prefix(8)).sock"
        let logger = quietLogger
        let manager = manager ?? VMManager(logger: logger)
        return TestServer(
            server: try await ControlServer.bind(socketPath: path, manager: manager, logger: logger, limits: limits),
            manager: manager)
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

/// A VM factory that ignores the configuration and builds a guest spinning forever
/// (`add x0, x0, #1; b .-4`) in 1 MiB of RAM at 0x4000_0000: no image file needed.
let spinningGuest: VMManager.Factory = { name, _ in
    let ramBase: UInt64 = 0x4000_0000
    let memory = try MachineMemory(base: ramBase, size: 1 << 20)
    let program: [UInt32] = [0x9100_0400, 0x17FF_FFFF]
    let bytes = program.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
    _ = bytes.withUnsafeBytes { memory.write($0, at: ramBase) }
    let vm = VirtualMachine(name: name, memory: memory, bus: try MMIOBus(windows: []))
    vm.setBootState(entry: ramBase, x0: 0)
    return vm
}
