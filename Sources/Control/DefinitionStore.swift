import Foundation
import Platform

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A persistent VM definition: what `define` stores as `<state-dir>/<name>.json`.
public struct VMDefinition: Codable, Sendable, Equatable {
    public var name: String
    public var config: VMConfiguration
    /// Start the VM when the daemon starts.
    public var autostart: Bool

    public init(name: String, config: VMConfiguration, autostart: Bool = false) {
        self.name = name
        self.config = config
        self.autostart = autostart
    }
}

/// The definition files in the state directory. Every write is atomic: the JSON goes to a
/// temporary file in the same directory, which is fsynced, renamed over `<name>.json`, and the
/// directory fsynced, so a crash leaves either the old or the new file, never a torn one.
public struct DefinitionStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The file of `name`'s definition.
    public func path(of name: String) -> String { "\(directory)/\(name).json" }

    /// Writes `definition` atomically (replacing an older one).
    public func save(_ definition: VMDefinition) throws(ControlError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(definition) else {
            throw ControlError(.internal, "cannot encode the definition of '\(definition.name)'")
        }
        try Self.writeAtomically(data + Data("\n".utf8), to: path(of: definition.name), in: directory)
    }

    /// Deletes `name`'s definition file (and makes the deletion durable).
    public func remove(_ name: String) throws(ControlError) {
        guard unlink(path(of: name)) == 0 || errno == ENOENT else {
            throw ControlError(.internal, "cannot remove \(path(of: name)): \(Self.lastError())")
        }
        try Self.syncDirectory(directory)
    }

    /// Every readable definition, sorted by name, and a one-line problem for each file that
    /// could not be used (unreadable, not JSON, not a definition, or named differently from its
    /// file). Leftover temporary files of interrupted writes are removed.
    public func loadAll() -> (definitions: [VMDefinition], problems: [String]) {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            return ([], ["cannot read the state directory \(directory): \(Self.lastError())"])
        }
        var definitions: [VMDefinition] = []
        var problems: [String] = []
        for file in files.sorted() {
            if file.hasPrefix("."), file.contains(".json.tmp") {
                unlink("\(directory)/\(file)")
                continue
            }
            guard file.hasSuffix(".json"), !file.hasPrefix(".") else { continue }
            let path = "\(directory)/\(file)"
            guard let data = FileManager.default.contents(atPath: path) else {
                problems.append("cannot read \(path): \(Self.lastError())")
                continue
            }
            do {
                let definition = try JSONDecoder().decode(VMDefinition.self, from: data)
                guard VMName.isValid(definition.name), file == "\(definition.name).json" else {
                    problems.append("\(path): defines '\(definition.name)', which does not match the file name")
                    continue
                }
                definitions.append(definition)
            } catch let error as ConfigurationError {
                problems.append("\(path): \(error.message)")
            } catch {
                problems.append("\(path): \(Self.describe(error))")
            }
        }
        return (definitions, problems)
    }

    /// write(2) to a temporary file in `directory`, fsync, rename over `path`, fsync `directory`.
    static func writeAtomically(_ data: Data, to path: String, in directory: String) throws(ControlError) {
        let name = (path as NSString).lastPathComponent
        let temporary = "\(directory)/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ControlError(.internal, "cannot create \(temporary): \(lastError())") }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = "cannot write \(temporary): \(lastError())"
                    return
                }
                offset += written
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = "cannot fsync \(temporary): \(lastError())" }
        if close(fd) != 0, failure == nil { failure = "cannot close \(temporary): \(lastError())" }
        if failure == nil, rename(temporary, path) != 0 {
            failure = "cannot rename \(temporary) to \(path): \(lastError())"
        }
        if let failure {
            unlink(temporary)
            throw ControlError(.internal, failure)
        }
        try syncDirectory(directory)
    }

    /// fsync(2) on a directory, making a rename or unlink in it durable.
    static func syncDirectory(_ directory: String) throws(ControlError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ControlError(.internal, "cannot open \(directory): \(lastError())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ControlError(.internal, "cannot fsync \(directory): \(lastError())") }
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _):
            return "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            let reason = path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
            return oneLine("not a valid definition: \(reason)")
        default:
            return oneLine("not a valid definition: \(error)")
        }
    }
}
