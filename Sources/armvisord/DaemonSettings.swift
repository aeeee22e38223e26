import Control
import Foundation
import Logging

/// The settings the daemon runs with: the built-in defaults, overridden by the configuration
/// file, overridden by the command-line flags.
struct DaemonSettings: Sendable, Equatable {
    var socketPath: String
    var socketMode: Int
    var socketGroup: SocketGroup?
    var stateDirectory: String
    /// nil: no restriction.
    var allowedImageDirectories: [String]?
    var logLevel: Logger.Level
    var maxConnections: Int
    /// 0: no idle timeout.
    var idleTimeoutSeconds: Int
    /// Whether the file or a flag set `socket-mode` or `socket-group` (which socket activation
    /// ignores).
    var socketPermissionsConfigured: Bool

    init(file: DaemonConfiguration?, flags: DaemonConfiguration) {
        let merged = (file ?? DaemonConfiguration()).overridden(by: flags)
        socketPath = merged.socket ?? ControlPaths.absolute(ControlPaths.defaultSocketPath())
        socketMode = merged.socketMode ?? DaemonConfiguration.defaultSocketMode
        socketGroup = merged.socketGroup
        stateDirectory = merged.stateDirectory ?? ControlPaths.absolute(ControlPaths.defaultStateDirectory())
        allowedImageDirectories = merged.allowedImageDirectories
        logLevel = merged.logLevel ?? .info
        maxConnections = merged.maxConnections ?? DaemonConfiguration.defaultMaxConnections
        idleTimeoutSeconds = merged.idleTimeoutSeconds ?? DaemonConfiguration.defaultIdleTimeoutSeconds
        socketPermissionsConfigured = merged.socketMode != nil || merged.socketGroup != nil
    }

    var limits: ConnectionLimits {
        ConnectionLimits(
            maximumConnections: maxConnections,
            idleTimeout: idleTimeoutSeconds == 0 ? nil : .seconds(idleTimeoutSeconds))
    }

    var imagePaths: ImagePathPolicy { ImagePathPolicy(allowedDirectories: allowedImageDirectories) }

    /// Every setting, in the file's format (`--check-config`); an unset group and an
    /// unrestricted directory list are comments.
    var fileText: String {
        var text = DaemonConfiguration(
            socket: socketPath, socketMode: socketMode, socketGroup: socketGroup, stateDirectory: stateDirectory,
            allowedImageDirectories: allowedImageDirectories, logLevel: logLevel, maxConnections: maxConnections,
            idleTimeoutSeconds: idleTimeoutSeconds
        ).fileText
        if socketGroup == nil { text += "# socket-group: not set (the daemon's own group)\n" }
        if allowedImageDirectories == nil { text += "# allowed-image-dirs: not set (every path is allowed)\n" }
        return text
    }

    /// The settings that only take effect when the daemon starts, as file keys, where `other`
    /// differs from `self`.
    func restartOnlyChanges(to other: DaemonSettings) -> [String] {
        var keys: [String] = []
        if other.socketPath != socketPath { keys.append("socket") }
        if other.socketMode != socketMode { keys.append("socket-mode") }
        if other.socketGroup != socketGroup { keys.append("socket-group") }
        if other.stateDirectory != stateDirectory { keys.append("state-dir") }
        return keys
    }

    /// `other` with the restart-only settings of `self`.
    func keepingRestartOnly(_ other: DaemonSettings) -> DaemonSettings {
        var merged = other
        merged.socketPath = socketPath
        merged.socketMode = socketMode
        merged.socketGroup = socketGroup
        merged.stateDirectory = stateDirectory
        merged.socketPermissionsConfigured = socketPermissionsConfigured
        return merged
    }

    /// What the log says about the settings a reload can change.
    var reloadableMetadata: Logger.Metadata {
        [
            "log-level": "\(logLevel.rawValue)",
            "allowed-image-dirs": "\(allowedImageDirectories.map { $0.joined(separator: ",") } ?? "(any)")",
            "max-connections": "\(maxConnections)", "idle-timeout": "\(idleTimeoutSeconds)",
        ]
    }
}

/// Where the configuration file comes from: `--config FILE` (which must exist), or the default
/// path (read only when it exists).
struct ConfigurationSource: Sendable {
    let path: String
    let explicit: Bool

    /// The file's settings; nil when there is no file to read.
    func load() throws(DaemonConfigurationError) -> DaemonConfiguration? {
        guard explicit || FileManager.default.fileExists(atPath: path) else { return nil }
        return try DaemonConfiguration.load(path: path)
    }
}

/// SIGHUP: reads the configuration file again and applies what can change while the daemon
/// runs — log level, allowed image directories, connection limits — to new requests and new
/// connections. Socket and state directory changes are logged as ignored (they need a
/// restart). A file with an error changes nothing.
actor DaemonReloader {
    private let source: ConfigurationSource
    private let flags: DaemonConfiguration
    private let server: ControlServer
    private let manager: VMManager
    private let logger: Logger
    private(set) var settings: DaemonSettings

    init(
        source: ConfigurationSource, flags: DaemonConfiguration, settings: DaemonSettings, server: ControlServer,
        manager: VMManager, logger: Logger
    ) {
        self.source = source
        self.flags = flags
        self.settings = settings
        self.server = server
        self.manager = manager
        self.logger = logger
    }

    func reload() async {
        Systemd.reloading()
        await apply()
        Systemd.notify("READY=1\nSTATUS=\(Systemd.status(await Systemd.runningVMs(manager)))")
    }

    private func apply() async {
        logger.info("SIGHUP: reloading the configuration", metadata: ["file": "\(source.path)"])
        let file: DaemonConfiguration?
        do {
            file = try source.load()
        } catch {
            logger.error("configuration not reloaded, the current settings stay: \(error.message)")
            return
        }
        let read = DaemonSettings(file: file, flags: flags)
        for key in settings.restartOnlyChanges(to: read) {
            logger.warning("configuration reload: '\(key)' changed; ignored until armvisord restarts")
        }
        let new = settings.keepingRestartOnly(read)
        DaemonLogHandler.setLevel(new.logLevel)
        await manager.setImagePaths(new.imagePaths)
        server.setLimits(new.limits)
        settings = new
        logger.notice("configuration reloaded", metadata: new.reloadableMetadata)
        if new.allowedImageDirectories == nil { Self.warnUnrestricted(logger) }
    }

    static func warnUnrestricted(_ logger: Logger) {
        logger.warning(
            "no allowed-image-dirs configured: requests may name any host file the daemon can read or write")
    }
}
