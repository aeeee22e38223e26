import ArgumentParser
import Control
import Platform
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
            Settings come from the configuration file (--config, else \(ControlPaths.defaultConfigPath()) \
            when it exists; docs/CONFIG.md, "Daemon configuration"), and the flags below override it. \
            The socket defaults to $ARMVISOR_SOCKET, else /run/armvisor/armvisord.sock for root, \
            else ${XDG_RUNTIME_DIR:-/tmp}/armvisor-$UID/armvisord.sock. SIGHUP reloads the file (log \
            level, allowed image directories, connection limits). SIGTERM or SIGINT stops every VM, \
            removes the socket and exits 0. Under systemd (Configs/armvisord.service) it sends \
            READY/RELOADING/STATUS/STOPPING/WATCHDOG notifications, and with socket activation \
            (Configs/armvisord.socket) it serves the inherited socket instead of --socket. A bad \
            configuration file exits 78 (EX_CONFIG) with one line naming the file, line and key.
            """)

    @Option(help: "Configuration file (must exist when given).") var config: String?
    @Option(help: "Path of the control socket.") var socket: String?
    @Option(
        name: .customLong("socket-mode"), help: "Permission bits of the socket file, in octal (default 0660).")
    var socketMode: String?
    @Option(name: .customLong("socket-group"), help: "Group of the socket file: a group name or a gid.")
    var socketGroup: String?
    @Option(
        name: .customLong("state-dir"),
        help:
            "State directory (VM definitions <name>.json, console logs of VMs created without a console); default /var/lib/armvisor for root, else ${XDG_STATE_HOME:-$HOME/.local/state}/armvisor."
    )
    var stateDirectory: String?
    @Option(
        name: .customLong("allowed-image-dir"),
        help: ArgumentHelp(
            "A directory requests may name host files in (repeat for several; replaces the file's list).",
            valueName: "dir"))
    var allowedImageDirectories: [String] = []
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?
    @Option(name: .customLong("max-connections"), help: "Connections served at once (default 128).")
    var maxConnections: Int?
    @Option(
        name: .customLong("idle-timeout"),
        help: "Seconds a silent connection stays open (default 300; 0: no limit).")
    var idleTimeout: Int?
    @Flag(
        name: .customLong("check-config"),
        help: "Read the configuration, print the settings it gives and exit (0 when it is valid).")
    var checkConfig = false

    func validate() throws {
        _ = try flags()
    }

    /// The flags as a configuration layer over the file; a bad value is a usage error.
    func flags() throws -> DaemonConfiguration {
        func value<T>(_ flag: String, _ parse: () throws(DaemonConfiguration.ValueError) -> T) throws -> T {
            do {
                return try parse()
            } catch {
                throw ValidationError("--\(flag): \(error.message)")
            }
        }
        var layer = DaemonConfiguration()
        if let socket {
            layer.socket = ControlPaths.absolute(socket)
            try value("socket") { () throws(DaemonConfiguration.ValueError) in
                try DaemonConfiguration.checkSocketPath(ControlPaths.absolute(socket))
            }
        }
        if let socketMode {
            layer.socketMode = try value("socket-mode") { () throws(DaemonConfiguration.ValueError) in
                try DaemonConfiguration.parseMode(socketMode)
            }
        }
        if let socketGroup {
            layer.socketGroup = try value("socket-group") { () throws(DaemonConfiguration.ValueError) in
                try SocketGroup.resolve(socketGroup)
            }
        }
        layer.stateDirectory = stateDirectory.map { ControlPaths.absolute($0) }
        if !allowedImageDirectories.isEmpty {
            layer.allowedImageDirectories = allowedImageDirectories.map { ControlPaths.absolute($0) }
        }
        if let logLevel {
            layer.logLevel = try value("log-level") { () throws(DaemonConfiguration.ValueError) in
                try DaemonConfiguration.parseLogLevel(logLevel)
            }
        }
        if let maxConnections {
            layer.maxConnections = try value("max-connections") { () throws(DaemonConfiguration.ValueError) in
                try DaemonConfiguration.checkRange(
                    maxConnections, DaemonConfiguration.maxConnectionsRange, "connections")
            }
        }
        if let idleTimeout {
            layer.idleTimeoutSeconds = try value("idle-timeout") { () throws(DaemonConfiguration.ValueError) in
                try DaemonConfiguration.checkRange(idleTimeout, DaemonConfiguration.idleTimeoutRange, "seconds")
            }
        }
        return layer
    }

    var configurationSource: ConfigurationSource {
        if let config { return ConfigurationSource(path: ControlPaths.absolute(config), explicit: true) }
        return ConfigurationSource(path: ControlPaths.defaultConfigPath(), explicit: false)
    }

    func run() async throws {
        // Until the reload handler is installed, a SIGHUP must not end the process; a console
        // or client that went away must never end it.
        signal(SIGHUP, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let source = configurationSource
        let flags = try flags()
        let file: DaemonConfiguration?
        do {
            file = try source.load()
        } catch {
            Self.fail(error.message, status: Self.configurationErrorStatus)
        }
        let settings = DaemonSettings(file: file, flags: flags)
        if checkConfig {
            let origin = file == nil ? "no configuration file (\(source.path) does not exist)" : source.path
            print("# armvisord settings from \(origin) and the command line")
            print(settings.fileText, terminator: "")
            return
        }
        DaemonLogHandler.setLevel(settings.logLevel)
        LoggingSystem.bootstrap { DaemonLogHandler(label: $0) }
        let logger = Logger(label: "armvisord")
        Board.announce = { logger.info("\($0)") }
        if file != nil { logger.info("configuration read", metadata: ["file": "\(source.path)"]) }
        do {
            try await serve(settings: settings, source: source, flags: flags, logger: logger)
        } catch {
            Self.fail("\(error)")
        }
    }

    private func serve(
        settings: DaemonSettings, source: ConfigurationSource, flags: DaemonConfiguration, logger: Logger
    ) async throws {
        let inherited = try Systemd.inheritedSocket()
        var socketPath = settings.socketPath
        let stateDirectory = settings.stateDirectory
        if inherited == nil {
            try DaemonSetup.prepareSocketDirectory(for: socketPath)
        }
        try DaemonSetup.makeDirectory(stateDirectory, mode: 0o700, what: "state directory")
        if inherited == nil {
            try DaemonSetup.ensureNoOtherDaemon(at: socketPath)
        }
        if settings.allowedImageDirectories == nil { DaemonReloader.warnUnrestricted(logger) }

        let manager = VMManager(
            consoleDirectory: stateDirectory, store: DefinitionStore(directory: stateDirectory),
            imagePaths: settings.imagePaths, logger: logger)
        // Before listening: a client that connects sees every definition and autostart VM.
        await manager.loadDefinitions()
        let server: ControlServer
        do {
            if let inherited {
                server = try await ControlServer.adopt(
                    descriptor: inherited, manager: manager, logger: logger, limits: settings.limits)
                socketPath = server.socketPath
                if settings.socketPermissionsConfigured {
                    logger.notice(
                        "socket-mode and socket-group do not apply to the socket systemd passed: set SocketMode= and SocketGroup= in armvisord.socket"
                    )
                }
            } else {
                server = try await ControlServer.bind(
                    socketPath: socketPath, manager: manager, logger: logger, mode: settings.socketMode,
                    owningGroup: settings.socketGroup?.gid, limits: settings.limits)
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
        let reloader = DaemonReloader(
            source: source, flags: flags, settings: settings, server: server, manager: manager, logger: logger)
        let reload = ReloadSignal.install { await reloader.reload() }
        let activated = inherited == nil ? "" : " (socket activation)"
        FileHandle.standardError.write(Data("armvisord: listening on \(socketPath)\(activated)\n".utf8))
        var metadata: Logger.Metadata = [
            "socket": "\(socketPath)", "state-dir": "\(stateDirectory)", "activated": "\(inherited != nil)",
        ]
        if inherited == nil {
            metadata["socket-mode"] = "\(String(format: "%04o", settings.socketMode))"
            if let group = settings.socketGroup { metadata["socket-group"] = "\(group)" }
        }
        metadata.merge(settings.reloadableMetadata) { $1 }
        logger.info("listening", metadata: metadata)
        try await server.run()
        withExtendedLifetime((signals, reload)) {}
    }

    /// EX_CONFIG (sysexits.h): the unit's `RestartPreventExitStatus=` keeps systemd from
    /// restarting a daemon whose configuration cannot work.
    static let configurationErrorStatus: Int32 = 78

    static func fail(_ message: String, status: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("armvisord: error: \(message)\n".utf8))
        terminateProcess(status)
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

/// SIGHUP handling: each signal runs `reload` (reloads run one after another).
enum ReloadSignal {
    /// Installs the handler; keep the returned source alive for as long as it should work.
    static func install(reload: @escaping @Sendable () async -> Void) -> any DispatchSourceSignal {
        let queue = DispatchQueue(label: "armvisord.reload")
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        source.setEventHandler {
            Task { await reload() }
        }
        source.resume()
        return source
    }
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
