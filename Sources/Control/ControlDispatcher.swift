import Foundation
import Platform

/// Turns request lines into replies: parses, checks the arguments of each command and runs it
/// on the `VMManager`.
public struct ControlDispatcher: Sendable {
    public let manager: VMManager

    public init(manager: VMManager) {
        self.manager = manager
    }

    /// The reply to one request line (without its newline).
    public func reply(toLine line: Data) async -> ControlReply {
        switch ControlRequest.parse(line) {
        case .failure(let failure):
            return .failure(id: failure.id, failure.error)
        case .success(let request):
            return await reply(to: request)
        }
    }

    /// The reply to a parsed request.
    public func reply(to request: ControlRequest) async -> ControlReply {
        do {
            return .success(id: request.id, try await execute(request))
        } catch {
            return .failure(id: request.id, error)
        }
    }

    private func execute(_ request: ControlRequest) async throws(ControlError) -> JSONValue {
        guard let command = ControlCommand(rawValue: request.command) else {
            let known = ControlCommand.allCases.map(\.rawValue).joined(separator: ", ")
            throw ControlError(
                .unknownCommand, "unknown command \(String(reflecting: request.command).prefix(80)) (known: \(known))")
        }
        let arguments = ControlArguments(request.arguments)
        switch command {
        case .ping:
            return [:]
        case .version:
            return [
                "protocol": .integer(Int64(ControlProtocol.version)),
                "version": .string(ControlProtocol.softwareVersion),
            ]
        case .create:
            let name = try arguments.string("name")
            let configuration = try arguments.configuration("config")
            return try encode(await manager.create(name: name, configuration: configuration))
        case .start:
            return try encode(await manager.start(name: arguments.string("name")))
        case .stop:
            return try encode(await manager.stop(name: arguments.string("name")))
        case .wait:
            return try encode(await manager.wait(name: arguments.string("name")))
        case .list:
            return try ["vms": encode(await manager.list())]
        case .stats:
            return try encode(await manager.stats(name: arguments.string("name")))
        case .destroy:
            try await manager.destroy(name: arguments.string("name"))
            return [:]
        }
    }

    private func encode(_ value: some Encodable) throws(ControlError) -> JSONValue {
        do {
            return try JSONValue(encoding: value)
        } catch {
            throw ControlError(.internal, "cannot encode the reply: \(error)")
        }
    }
}

/// Typed access to a request's `arguments`; every mistake is a `bad-request`.
struct ControlArguments {
    let members: [String: JSONValue]

    init(_ members: [String: JSONValue]) {
        self.members = members
    }

    func string(_ key: String) throws(ControlError) -> String {
        guard let value = members[key] else { throw ControlError(.badRequest, "missing argument '\(key)'") }
        guard let string = value.stringValue else {
            throw ControlError(.badRequest, "argument '\(key)' must be a string, not \(value.typeName)")
        }
        return string
    }

    /// A `VMConfiguration` object; absent or null means all defaults.
    func configuration(_ key: String) throws(ControlError) -> VMConfiguration {
        guard let value = members[key], value != .null else { return VMConfiguration() }
        guard case .object = value else {
            throw ControlError(.badRequest, "argument '\(key)' must be an object, not \(value.typeName)")
        }
        do {
            return try value.decode(as: VMConfiguration.self)
        } catch let error as ConfigurationError {
            throw ControlError(.invalidConfig, error.message)
        } catch {
            throw ControlError(.badRequest, "argument '\(key)': \(Self.describe(error))")
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(let type, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "'\(path)' must be \(type == Int.self ? "an integer" : type == String.self ? "a string" : "\(type)")"
        case DecodingError.valueNotFound(_, let context), DecodingError.keyNotFound(_, let context),
            DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "'\(path)': \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
