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

/// Where the guests of the factories below live: 1 MiB of RAM at 0x4000_0000 (their entry point).
let guestRAMBase: UInt64 = 0x4000_0000

/// PSCI SYSTEM_OFF through HVC: the end of an assembled guest that powers off.
let powerOffProgram = ["movz w0, #0x0008", "movk w0, #0x8400, lsl #16", "hvc #0"]

/// A VM factory that ignores the configuration and builds a guest of the A64 instruction words
/// `code` at `guestRAMBase`, entered there with X0 = 0, then calls `setup` (registers, tables):
/// no image file needed.
func rawGuest(_ code: [UInt32], setup: @escaping @Sendable (VirtualMachine) -> Void = { _ in }) -> VMManager.Factory {
    { name, _ in
        let memory = try MachineMemory(base: guestRAMBase, size: 1 << 20)
        _ = code.withUnsafeBytes { memory.write($0, at: guestRAMBase) }
        let vm = VirtualMachine(name: name, memory: memory, bus: try MMIOBus(windows: []))
        vm.setBootState(entry: guestRAMBase, x0: 0)
        setup(vm)
        return vm
    }
}

/// `rawGuest(_:setup:)` of `program`, assembled once (`CrossAssembler`).
func assembledGuest(_ program: [String], setup: @escaping @Sendable (VirtualMachine) -> Void = { _ in }) throws
    -> VMManager.Factory
{
    rawGuest(try CrossAssembler.assemble(program), setup: setup)
}

/// A guest spinning forever (`add x0, x0, #1; b .-4`).
let spinningGuest: VMManager.Factory = rawGuest([0x9100_0400, 0x17FF_FFFF])
