import ArgumentParser
import Control
import Dispatch
import Foundation
import Logging
import Synchronization

/// `armvisord`: the daemon that owns VMs and serves the control socket (docs/PROTOCOL.md).
@main
struct Armvisord: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "armvisord",
        abstract: "The armvisor daemon: runs VMs and serves the control socket.",
        discussion: """
            The socket defaults to $ARMVISOR_SOCKET, else /run/armvisor/armvisord.sock for root, \
            else ${XDG_RUNTIME_DIR:-/tmp}/armvisor-$UID/armvisord.sock. SIGTERM or SIGINT stops \
            every VM, removes the socket and exits 0. Under systemd (Configs/armvisord.service) it \
            sends READY/STATUS/STOPPING/WATCHDOG notifications, and with socket activation \
            (Configs/armvisord.socket) it serves the inherited socket instead of --socket.
            """)

    @Option(help: "Path of the control socket.") var socket: String?
    @Option(
        name: .customLong("state-dir"),
        help:
            "State directory (VM definitions <name>.json, console logs of VMs created without a console); default /var/lib/armvisor for root, else ${XDG_STATE_HOME:-$HOME/.local/state}/armvisor."
    )
    var stateDirectory: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.") var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "unknown log level '\(logLevel)' (trace, debug, info, notice, warning, error, critical)")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "armvisord")
        do {
            try await serve(logger: logger)
        } catch {
            Self.fail("\(error)")
        }
    }

    private func serve(logger: Logger) async throws {
        let inherited = try Systemd.inheritedSocket()
        var socketPath = ControlPaths.absolute(socket ?? ControlPaths.defaultSocketPath())
        let stateDirectory = ControlPaths.absolute(stateDirectory ?? ControlPaths.defaultStateDirectory())
        if inherited == nil {
            try DaemonSetup.prepareSocketDirectory(for: socketPath)
        }
        try DaemonSetup.makeDirectory(stateDirectory, mode: 0o700, what: "state directory")
        if inherited == nil {
            try DaemonSetup.ensureNoOtherDaemon(at: socketPath)
        }

        let manager = VMManager(
            consoleDirectory: stateDirectory, store: DefinitionStore(directory: stateDirectory), logger: logger)
        // Before listening: a client that connects sees every definition and autostart VM.
        await manager.loadDefinitions()
        let server: ControlServer
        do {
            if let inherited {
                server = try await ControlServer.adopt(descriptor: inherited, manager: manager, logger: logger)
                socketPath = server.socketPath
            } else {
                server = try await ControlServer.bind(socketPath: socketPath, manager: manager, logger: logger)
            }
        } catch {
            throw DaemonError("cannot listen on \(socketPath): \(error)")
        }
        // READY=1 (the socket listens), then STATUS= updates and watchdog pings.
        let supervisor = Task { await Systemd.supervise(server: server, manager: manager, logger: logger) }
        let signals = ShutdownSignals.install { [logger] in
            logger.info("shutting down: stopping every VM")
            Systemd.stopping()
            supervisor.cancel()
            await manager.stopAll()
            await server.close()
            logger.info("stopped")
            terminateProcess(0)
        }
        let activated = inherited == nil ? "" : " (socket activation)"
        FileHandle.standardError.write(Data("armvisord: listening on \(socketPath)\(activated)\n".utf8))
        logger.info(
            "listening",
            metadata: [
                "socket": "\(socketPath)", "state-dir": "\(stateDirectory)",
                "activated": "\(inherited != nil)",
            ])
        try await server.run()
        withExtendedLifetime(signals) {}
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("armvisord: error: \(message)\n".utf8))
        terminateProcess(1)
    }
}

/// Ends the process (`exit(3)`; the name avoids `ParsableCommand.exit`).
func terminateProcess(_ status: Int32) -> Never {
    exit(status)
}

/// A fatal setup problem, with a one-line message.
struct DaemonError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// SIGTERM and SIGINT handling: the first signal runs `shutdown` (once); the signals never
/// kill the process, so it cannot die halfway through stopping VMs.
enum ShutdownSignals {
    /// Installs the handlers; keep the returned sources alive for as long as they should work.
    static func install(shutdown: @escaping @Sendable () async -> Void) -> [any DispatchSourceSignal] {
        let queue = DispatchQueue(label: "armvisord.signals")
        let once = Once()
        return [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                guard once.claim() else { return }
                Task { await shutdown() }
            }
            source.resume()
            return source
        }
    }

    private final class Once: Sendable {
        private let done = Atomic<Bool>(false)
        /// True the first time only.
        func claim() -> Bool { !done.exchange(true, ordering: .relaxed) }
    }
}
