/// Constants of the armvisord control protocol (docs/PROTOCOL.md): newline-delimited JSON
/// requests and replies over a UNIX stream socket.
public enum ControlProtocol {
    /// The protocol version `version` reports; bumped on incompatible changes.
    public static let version = 1
    /// The daemon's software version.
    public static let softwareVersion = "0.1.0"
    /// The longest request line accepted, in bytes (without the newline).
    public static let maximumRequestBytes = 1 << 20
}

/// The stable, machine-readable error codes of the protocol (the `error.code` of a reply).
public enum ControlErrorCode: String, Codable, Sendable, CaseIterable {
    /// Malformed JSON, or a missing or wrongly typed field.
    case badRequest = "bad-request"
    case unknownCommand = "unknown-command"
    /// A VM name that is not 1–64 characters of `[A-Za-z0-9._-]` or starts with `.` or `-`.
    case invalidName = "invalid-name"
    case vmExists = "vm-exists"
    case noSuchVM = "no-such-vm"
    /// The board rejected the configuration (bad size, unreadable image, ...).
    case invalidConfig = "invalid-config"
    /// `start` on a VM that is not in `created`.
    case vmNotCreated = "vm-not-created"
    /// `stop` or `kill` on a VM that is neither `running` nor `paused`; `pause` on a VM that is
    /// not `running` (or is already pausing); `reset` of a VM that has not run yet; `console` of
    /// a stopped VM.
    case vmNotRunning = "vm-not-running"
    /// `resume` on a VM that is not `paused`; `regs` or `read-memory` on a running VM.
    case vmNotPaused = "vm-not-paused"
    /// `undefine` of a VM that is running or paused.
    case vmRunning = "vm-running"
    /// `undefine` of a name that has no definition.
    case vmNotDefined = "vm-not-defined"
    /// A request line longer than `ControlProtocol.maximumRequestBytes`; the connection closes.
    case requestTooLarge = "request-too-large"
    /// A host path in a configuration (kernel, dtb, bios, pflash, initrd, each disk, and the path of a
    /// `file:`, `unix:` or `pty:` console or virtio-console) that does not resolve to a place
    /// inside the daemon's allowed image directories (`ImagePathPolicy`).
    case pathNotAllowed = "path-not-allowed"
    /// The daemon already serves its maximum number of connections; this one is closed.
    case tooManyConnections = "too-many-connections"
    /// The connection was silent for longer than the daemon's idle timeout; it is closed.
    case idleTimeout = "idle-timeout"
    /// `console` on a VM that has no console to attach to (only VMs built without the board).
    case noConsole = "no-console"
    /// `create`, `start` or `reset` while the daemon is shutting down: it starts no VM then.
    case shuttingDown = "shutting-down"
    /// The daemon failed; never the client's fault.
    case `internal`
}

/// A failed request: a stable code and a one-line message (the `error` object of a reply).
public struct ControlError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public var code: ControlErrorCode
    public var message: String

    public init(_ code: ControlErrorCode, _ message: String) {
        self.code = code
        // Replies are one line and so are the CLI's error messages.
        self.message = oneLine(message)
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// `text` with line breaks turned into spaces, so it fits a one-line message.
func oneLine(_ text: String) -> String {
    String(text.map { $0.isNewline ? " " : $0 })
}

/// The commands of protocol version 1.
public enum ControlCommand: String, Sendable, CaseIterable {
    case ping, version, create, define, undefine, start, pause, resume, stop, kill, reset, wait, list, info, stats,
        translate, regs
    case readMemory = "read-memory"
    case events, destroy, console
}
