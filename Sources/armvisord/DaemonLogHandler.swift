import Logging
import Synchronization

/// The daemon's log handler: swift-log's `StreamLogHandler` on standard error (journald adds
/// its own timestamps and priority), with one log level for the whole process that SIGHUP can
/// change while the daemon runs (`log-level` in the configuration file).
struct DaemonLogHandler: LogHandler {
    /// `Logger.Level.allCases` index of the process-wide level.
    private static let level = Atomic<Int>(Logger.Level.allCases.firstIndex(of: .info) ?? 0)

    /// Sets the level of every logger of the process.
    static func setLevel(_ newLevel: Logger.Level) {
        level.store(Logger.Level.allCases.firstIndex(of: newLevel) ?? 0, ordering: .relaxed)
    }

    static var currentLevel: Logger.Level {
        Logger.Level.allCases[level.load(ordering: .relaxed)]
    }

    private var stream: StreamLogHandler

    init(label: String) {
        stream = StreamLogHandler.standardError(label: label)
        // `Logger` filters with `logLevel` below; the stream writes whatever reaches it.
        stream.logLevel = .trace
    }

    /// Always the process-wide level: setting it on one logger is ignored, so that a reload
    /// reaches every logger (swift-log allows this global override).
    var logLevel: Logger.Level {
        get { Self.currentLevel }
        set {}
    }

    var metadata: Logger.Metadata {
        get { stream.metadata }
        set { stream.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stream[metadataKey: key] }
        set { stream[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        stream.log(event: event)
    }
}
