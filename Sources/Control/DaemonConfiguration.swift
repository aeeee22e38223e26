import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The daemon's configuration file, `armvisord.conf` (docs/CONFIG.md, "Daemon configuration"):
/// `key = value` lines in a small subset of TOML. Every member is optional: what the file does
/// not set keeps its default, and command-line flags override the file (`overridden(by:)`).
public struct DaemonConfiguration: Sendable, Equatable {
    /// The control socket's path.
    public var socket: String?
    /// The permission bits of the socket file (e.g. `0o660`).
    public var socketMode: Int?
    /// The group the socket file is given.
    public var socketGroup: SocketGroup?
    /// Where definitions and default console logs live.
    public var stateDirectory: String?
    /// The directories requests may name host files in; nil: no restriction (every path).
    public var allowedImageDirectories: [String]?
    public var logLevel: Logger.Level?
    /// At most this many connections at once.
    public var maxConnections: Int?
    /// A connection silent for this many seconds is closed; 0: never.
    public var idleTimeoutSeconds: Int?

    public init(
        socket: String? = nil, socketMode: Int? = nil, socketGroup: SocketGroup? = nil, stateDirectory: String? = nil,
        allowedImageDirectories: [String]? = nil, logLevel: Logger.Level? = nil, maxConnections: Int? = nil,
        idleTimeoutSeconds: Int? = nil
    ) {
        self.socket = socket
        self.socketMode = socketMode
        self.socketGroup = socketGroup
        self.stateDirectory = stateDirectory
        self.allowedImageDirectories = allowedImageDirectories
        self.logLevel = logLevel
        self.maxConnections = maxConnections
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }

    /// The keys of the file.
    public enum Key: String, CaseIterable, Sendable {
        case socket
        case socketMode = "socket-mode"
        case socketGroup = "socket-group"
        case stateDirectory = "state-dir"
        case allowedImageDirectories = "allowed-image-dirs"
        case logLevel = "log-level"
        case maxConnections = "max-connections"
        case idleTimeout = "idle-timeout"
    }

    public static let defaultSocketMode = 0o660
    public static let defaultMaxConnections = 128
    public static let defaultIdleTimeoutSeconds = 300
    public static let maxConnectionsRange = 1...100_000
    /// Up to a year.
    public static let idleTimeoutRange = 0...31_536_000

    /// `other`'s settings where it has them, ours elsewhere (command-line flags over the file).
    public func overridden(by other: DaemonConfiguration) -> DaemonConfiguration {
        DaemonConfiguration(
            socket: other.socket ?? socket, socketMode: other.socketMode ?? socketMode,
            socketGroup: other.socketGroup ?? socketGroup, stateDirectory: other.stateDirectory ?? stateDirectory,
            allowedImageDirectories: other.allowedImageDirectories ?? allowedImageDirectories,
            logLevel: other.logLevel ?? logLevel, maxConnections: other.maxConnections ?? maxConnections,
            idleTimeoutSeconds: other.idleTimeoutSeconds ?? idleTimeoutSeconds)
    }

    /// Reads and parses a configuration file; errors name the file (and the line and key).
    public static func load(path: String) throws(DaemonConfigurationError) -> DaemonConfiguration {
        guard let data = readFile(path) else {
            let reason = String(cString: strerror(errno))
            throw DaemonConfigurationError("cannot read the configuration file \(path): \(reason)")
        }
        guard let text = String(bytes: data, encoding: .utf8) else {
            throw DaemonConfigurationError("\(path): not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    /// The bytes of `path` (`/dev/null` reads as an empty file); nil with `errno` set when it
    /// cannot be read. At most 1 MiB: a configuration is a few lines.
    private static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
            if bytes.count > 1 << 20 {
                errno = EFBIG
                return nil
            }
        }
    }

    /// Parses the text of a configuration file. `file` names it in errors; relative paths in it
    /// are taken relative to its directory.
    public static func parse(_ text: String, file: String) throws(DaemonConfigurationError) -> DaemonConfiguration {
        let directory = ControlPaths.absolute((file as NSString).deletingLastPathComponent)
        var parser = ConfigurationFileParser(text: text, file: file)
        var configuration = DaemonConfiguration()
        var seen: [Key: Int] = [:]
        while let entry = try parser.nextEntry() {
            guard let key = Key(rawValue: entry.key) else {
                let known = Key.allCases.map(\.rawValue).sorted().joined(separator: ", ")
                throw parser.error(line: entry.line, "unknown key '\(entry.key)' (known: \(known))")
            }
            if let first = seen[key] {
                throw parser.error(line: entry.line, key: entry.key, "set twice (first on line \(first))")
            }
            seen[key] = entry.line
            do {
                try configuration.set(key, entry.value, relativeTo: directory)
            } catch {
                throw parser.error(line: entry.line, key: entry.key, error.message)
            }
        }
        return configuration
    }

    private mutating func set(_ key: Key, _ value: ConfigurationValue, relativeTo directory: String) throws(ValueError)
    {
        switch key {
        case .socket:
            let path = ControlPaths.absolute(try value.path(), relativeTo: directory)
            try Self.checkSocketPath(path)
            socket = path
        case .socketMode:
            socketMode = try Self.parseMode(value.modeDigits())
        case .socketGroup:
            socketGroup = try SocketGroup.resolve(value.groupText())
        case .stateDirectory:
            stateDirectory = ControlPaths.absolute(try value.path(), relativeTo: directory)
        case .allowedImageDirectories:
            guard case .array(let elements) = value else {
                throw ValueError("must be a list of directories, like [\"/srv/images\"], not \(value.typeName)")
            }
            allowedImageDirectories = try elements.map { element throws(ValueError) in
                ControlPaths.absolute(try element.path(), relativeTo: directory)
            }
        case .logLevel:
            logLevel = try Self.parseLogLevel(value.string())
        case .maxConnections:
            maxConnections = try Self.checkRange(value.integer(), Self.maxConnectionsRange, "connections")
        case .idleTimeout:
            idleTimeoutSeconds = try Self.checkRange(value.integer(), Self.idleTimeoutRange, "seconds")
        }
    }

    // MARK: - Values (shared with the command-line flags)

    /// A socket mode written in octal (`0660`, `660` or `0o660`), at most `0777`.
    public static func parseMode(_ text: String) throws(ValueError) -> Int {
        var digits = Substring(text)
        if digits.hasPrefix("0o") || digits.hasPrefix("0O") { digits = digits.dropFirst(2) }
        guard (1...4).contains(digits.count), digits.allSatisfy({ ("0"..."7").contains($0) }),
            let mode = Int(digits, radix: 8), mode <= 0o777
        else {
            throw ValueError("'\(text)' is not an octal mode from 0000 to 0777 (like \"0660\")")
        }
        return mode
    }

    public static func parseLogLevel(_ text: String) throws(ValueError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: text) else {
            let known = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValueError("unknown log level '\(text)' (\(known))")
        }
        return level
    }

    public static func checkRange(_ value: Int, _ range: ClosedRange<Int>, _ unit: String) throws(ValueError) -> Int {
        guard range.contains(value) else {
            throw ValueError("\(value) is outside \(range.lowerBound)...\(range.upperBound) \(unit)")
        }
        return value
    }

    /// Socket paths are limited by `sockaddr_un` (107 bytes on Linux).
    public static func checkSocketPath(_ path: String) throws(ValueError) {
        let limit = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1
        guard path.utf8.count <= limit else {
            throw ValueError("the socket path \(path) is too long (\(path.utf8.count) bytes; at most \(limit))")
        }
    }

    /// The file's text for these settings (what `armvisord --check-config` prints); unset
    /// members are left out.
    public var fileText: String {
        var lines: [String] = []
        func quote(_ text: String) -> String { ConfigurationValue.quote(text) }
        if let socket { lines.append("socket = \(quote(socket))") }
        if let socketMode { lines.append("socket-mode = \"\(String(format: "%04o", socketMode))\"") }
        if let socketGroup { lines.append("socket-group = \(quote(socketGroup.name))") }
        if let stateDirectory { lines.append("state-dir = \(quote(stateDirectory))") }
        if let allowedImageDirectories {
            lines.append("allowed-image-dirs = [\(allowedImageDirectories.map(quote).joined(separator: ", "))]")
        }
        if let logLevel { lines.append("log-level = \(quote(logLevel.rawValue))") }
        if let maxConnections { lines.append("max-connections = \(maxConnections)") }
        if let idleTimeoutSeconds { lines.append("idle-timeout = \(idleTimeoutSeconds)") }
        return lines.map { $0 + "\n" }.joined()
    }

    /// A bad value, before the parser adds the file, line and key.
    public struct ValueError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }
}

/// The group the socket file is given: a group name or a numeric gid, resolved when the
/// configuration is read.
public struct SocketGroup: Sendable, Equatable, CustomStringConvertible {
    /// As written (a name, or the gid in decimal).
    public let name: String
    public let gid: gid_t

    public init(name: String, gid: gid_t) {
        self.name = name
        self.gid = gid
    }

    public var description: String { name == String(gid) ? name : "\(name) (\(gid))" }

    /// A decimal gid, or the name of a group in the group database.
    public static func resolve(_ text: String) throws(DaemonConfiguration.ValueError) -> SocketGroup {
        if !text.isEmpty, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber) {
            guard let gid = gid_t(text) else {
                throw DaemonConfiguration.ValueError("gid \(text) is out of range")
            }
            return SocketGroup(name: text, gid: gid)
        }
        guard let gid = lookup(text) else { throw DaemonConfiguration.ValueError("no group named '\(text)'") }
        return SocketGroup(name: text, gid: gid)
    }

    private static func lookup(_ name: String) -> gid_t? {
        guard !name.isEmpty else { return nil }
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 1 << 16)
        let status = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0, let result else { return nil }
        return result.pointee.gr_gid
    }
}

/// A problem with the configuration file: one line naming the file, the line and the key.
public struct DaemonConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A value in the file: a string, an integer, or a list.
enum ConfigurationValue: Equatable {
    case string(String)
    /// `text` is the number as written (a socket mode's octal digits).
    case integer(Int, text: String)
    case array([ConfigurationValue])

    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .array: "a list"
        }
    }

    func string() throws(DaemonConfiguration.ValueError) -> String {
        guard case .string(let text) = self else {
            throw DaemonConfiguration.ValueError("must be a string in quotes, not \(typeName)")
        }
        return text
    }

    func path() throws(DaemonConfiguration.ValueError) -> String {
        let text = try string()
        guard !text.isEmpty else { throw DaemonConfiguration.ValueError("must not be an empty path") }
        guard !text.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw DaemonConfiguration.ValueError("a path must not contain line breaks or NUL")
        }
        return text
    }

    func integer() throws(DaemonConfiguration.ValueError) -> Int {
        guard case .integer(let value, _) = self else {
            throw DaemonConfiguration.ValueError("must be an integer, not \(typeName)")
        }
        return value
    }

    /// A mode: a string or a bare number, read as octal digits either way.
    func modeDigits() throws(DaemonConfiguration.ValueError) -> String {
        switch self {
        case .string(let text), .integer(_, let text): text
        case .array: throw DaemonConfiguration.ValueError("must be an octal mode like \"0660\", not a list")
        }
    }

    /// A group: a name in quotes, or a gid.
    func groupText() throws(DaemonConfiguration.ValueError) -> String {
        switch self {
        case .string(let text): text
        case .integer(let value, _): String(value)
        case .array: throw DaemonConfiguration.ValueError("must be a group name or gid, not a list")
        }
    }

    /// `text` as a basic string (quotes, backslashes and control characters escaped).
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\u%04X", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// The reader of the file format: `key = value` per line; `#` starts a comment; values are
/// `"basic strings"` (escapes `\\ \" \n \t \r \uXXXX`), `'literal strings'`, integers (decimal,
/// `0o` octal, `0x` hex, `_` between digits) and lists `[v, v]` (which may span lines).
struct ConfigurationFileParser {
    struct Entry {
        var key: String
        var value: ConfigurationValue
        var line: Int
    }

    private let bytes: [UInt8]
    private let file: String
    private var index = 0
    private var line = 1

    init(text: String, file: String) {
        bytes = Array(text.utf8)
        self.file = file
    }

    func error(line: Int, key: String? = nil, _ message: String) -> DaemonConfigurationError {
        DaemonConfigurationError("\(file):\(line): \(key.map { "key '\($0)': " } ?? "")\(message)")
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private static func isKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }

    private mutating func skipBlanks() {
        while let byte = current, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { index += 1 }
    }

    /// Skips a `#` comment up to (not including) the end of the line.
    private mutating func skipComment() {
        guard current == UInt8(ascii: "#") else { return }
        while let byte = current, byte != UInt8(ascii: "\n") { index += 1 }
    }

    /// Consumes a line break (`\n` or `\r\n`); false when there is none here.
    private mutating func lineBreak() -> Bool {
        if current == UInt8(ascii: "\r"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") {
            index += 1
        }
        guard current == UInt8(ascii: "\n") else { return false }
        index += 1
        line += 1
        return true
    }

    /// The next `key = value`, or nil at the end of the file.
    mutating func nextEntry() throws(DaemonConfigurationError) -> Entry? {
        while true {
            skipBlanks()
            skipComment()
            guard let byte = current else { return nil }
            if lineBreak() { continue }
            let start = index
            let entryLine = line
            while let key = current, Self.isKeyByte(key) { index += 1 }
            guard index > start else {
                if byte == UInt8(ascii: "[") {
                    throw error(line: entryLine, "sections ([name]) are not supported: write 'key = value' lines")
                }
                throw error(line: entryLine, "expected 'key = value'")
            }
            let key = String(decoding: bytes[start..<index], as: UTF8.self)
            skipBlanks()
            guard current == UInt8(ascii: "=") else {
                throw error(line: entryLine, "expected '=' after '\(key)'")
            }
            index += 1
            skipBlanks()
            let value: ConfigurationValue
            do {
                value = try parseValue()
            } catch {
                throw self.error(line: line, key: key, error.message)
            }
            skipBlanks()
            skipComment()
            guard current == nil || lineBreak() else {
                throw error(line: line, key: key, "unexpected text after the value")
            }
            return Entry(key: key, value: value, line: entryLine)
        }
    }

    private mutating func parseValue() throws(DaemonConfiguration.ValueError) -> ConfigurationValue {
        guard let byte = current, byte != UInt8(ascii: "\n"), byte != UInt8(ascii: "#") else {
            throw DaemonConfiguration.ValueError("missing value")
        }
        switch byte {
        case UInt8(ascii: "\""): return .string(try basicString())
        case UInt8(ascii: "'"): return .string(try literalString())
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try integer()
        default:
            let start = index
            while let next = current, Self.isKeyByte(next) || next == UInt8(ascii: ".") { index += 1 }
            let word = String(decoding: bytes[start..<max(index, start + 1)], as: UTF8.self)
            if word == "true" || word == "false" {
                throw DaemonConfiguration.ValueError("booleans are not used by any key")
            }
            throw DaemonConfiguration.ValueError("'\(word)' is not a value (put strings in double quotes)")
        }
    }

    private mutating func basicString() throws(DaemonConfiguration.ValueError) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var run: [UInt8] = []
        func flush(_ run: inout [UInt8], into scalars: inout String.UnicodeScalarView) {
            scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars)
            run.removeAll()
        }
        while true {
            guard let byte = current, byte != UInt8(ascii: "\n") else {
                throw DaemonConfiguration.ValueError("unterminated string (a closing \" is missing)")
            }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                flush(&run, into: &scalars)
                return String(scalars)
            case UInt8(ascii: "\\"):
                flush(&run, into: &scalars)
                scalars.append(try escape())
            case 0..<0x20 where byte != UInt8(ascii: "\t"), 0x7F:
                throw DaemonConfiguration.ValueError("control character in a string (use an escape)")
            default:
                run.append(byte)
            }
        }
    }

    private mutating func escape() throws(DaemonConfiguration.ValueError) -> Unicode.Scalar {
        guard let byte = current else { throw DaemonConfiguration.ValueError("unterminated string") }
        index += 1
        switch byte {
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "u"):
            let end = index + 4
            let digits = end <= bytes.count ? String(decoding: bytes[index..<end], as: UTF8.self) : ""
            guard digits.count == 4, digits.allSatisfy(\.isHexDigit), let value = UInt32(digits, radix: 16),
                let scalar = Unicode.Scalar(value)
            else {
                throw DaemonConfiguration.ValueError("\\u needs 4 hex digits of a Unicode scalar")
            }
            index = end
            return scalar
        default:
            throw DaemonConfiguration.ValueError(
                "unknown escape '\\\(Character(Unicode.Scalar(byte)))' (use \\\\ \\\" \\n \\t \\r \\uXXXX)")
        }
    }

    private mutating func literalString() throws(DaemonConfiguration.ValueError) -> String {
        index += 1
        let start = index
        while let byte = current, byte != UInt8(ascii: "'") {
            guard byte != UInt8(ascii: "\n") else { break }
            if byte < 0x20, byte != UInt8(ascii: "\t") {
                throw DaemonConfiguration.ValueError("control character in a string")
            }
            index += 1
        }
        guard current == UInt8(ascii: "'") else {
            throw DaemonConfiguration.ValueError("unterminated string (a closing ' is missing)")
        }
        defer { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func integer() throws(DaemonConfiguration.ValueError) -> ConfigurationValue {
        let start = index
        while let byte = current, Self.isKeyByte(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") {
            index += 1
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        var body = Substring(text)
        var negative = false
        if body.first == "+" || body.first == "-" {
            negative = body.first == "-"
            body = body.dropFirst()
        }
        var radix = 10
        if body.count > 2, body.hasPrefix("0x") || body.hasPrefix("0o") || body.hasPrefix("0b") {
            radix = body.hasPrefix("0x") ? 16 : body.hasPrefix("0o") ? 8 : 2
            body = body.dropFirst(2)
        }
        let digits = body.replacingOccurrences(of: "_", with: "")
        guard !digits.isEmpty, !body.hasPrefix("_"), !body.hasSuffix("_"), !body.contains("__"),
            let magnitude = Int(digits, radix: radix), digits.allSatisfy(\.isHexDigit)
        else {
            throw DaemonConfiguration.ValueError("'\(text)' is not an integer")
        }
        return .integer(negative ? -magnitude : magnitude, text: text)
    }

    private mutating func array() throws(DaemonConfiguration.ValueError) -> ConfigurationValue {
        index += 1
        var elements: [ConfigurationValue] = []
        while true {
            skipSpaceInList()
            guard let byte = current else { throw DaemonConfiguration.ValueError("unterminated list (a ] is missing)") }
            if byte == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            let element = try parseValue()
            if case .array = element { throw DaemonConfiguration.ValueError("lists of lists are not supported") }
            elements.append(element)
            skipSpaceInList()
            if current == nil {
                throw DaemonConfiguration.ValueError("unterminated list (a ] is missing)")
            } else if current == UInt8(ascii: ",") {
                index += 1
            } else if current != UInt8(ascii: "]") {
                throw DaemonConfiguration.ValueError("expected ',' or ']' in the list")
            }
        }
    }

    /// Blanks, comments and line breaks, which may separate the elements of a list.
    private mutating func skipSpaceInList() {
        while true {
            skipBlanks()
            skipComment()
            guard lineBreak() else { return }
        }
    }
}
