import Foundation
import Platform

/// Turns request lines into replies: parses, checks the arguments of each command and runs it
/// on the `VMManager`.
public struct ControlDispatcher: Sendable {
    public let manager: VMManager

    public init(manager: VMManager) {
        self.manager = manager
    }

    /// The response to one request line (without its newline).
    public func respond(toLine line: Data) async -> ControlResponse {
        switch ControlRequest.parse(line) {
        case .failure(let failure):
            return ControlResponse(reply: .failure(id: failure.id, failure.error))
        case .success(let request):
            return await respond(to: request)
        }
    }

    /// The response to a parsed request. A successful `events` subscribes here, before the
    /// reply is written, so the subscriber misses nothing that happens after its reply.
    public func respond(to request: ControlRequest) async -> ControlResponse {
        if request.command == ControlCommand.console.rawValue { return await attachConsole(request) }
        do {
            let result = try await execute(request)
            var response = ControlResponse(reply: .success(id: request.id, result))
            if request.command == ControlCommand.events.rawValue {
                response.events = manager.events.subscribe(name: request.arguments["name"]?.stringValue)
            }
            return response
        } catch {
            return ControlResponse(reply: .failure(id: request.id, error))
        }
    }

    /// A `console` request: the reply, and the session the connection carries from then on.
    private func attachConsole(_ request: ControlRequest) async -> ControlResponse {
        do throws(ControlError) {
            let name = try ControlArguments(request.arguments).string("name")
            let (summary, attachment) = try await manager.attachConsole(name: name)
            let result: JSONValue
            do {
                result = try encode(summary)
            } catch {
                attachment.session.detach()
                throw error
            }
            return ControlResponse(reply: .success(id: request.id, result), console: attachment)
        } catch {
            return ControlResponse(reply: .failure(id: request.id, error))
        }
    }

    /// The reply to one request line (an `events` subscription is not kept).
    public func reply(toLine line: Data) async -> ControlReply {
        await respond(toLine: line).reply
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
        case .define:
            let name = try arguments.string("name")
            let configuration = try arguments.configuration("config")
            let autostart = try arguments.optionalBool("autostart") ?? false
            return try encode(await manager.define(name: name, configuration: configuration, autostart: autostart))
        case .undefine:
            return try encode(await manager.undefine(name: arguments.string("name")))
        case .start:
            return try encode(await manager.start(name: arguments.string("name")))
        case .pause:
            return try encode(await manager.pause(name: arguments.string("name")))
        case .resume:
            return try encode(await manager.resume(name: arguments.string("name")))
        case .stop:
            let name = try arguments.string("name")
            return try encode(await manager.stop(name: name, timeout: arguments.optionalNumber("timeout")))
        case .kill:
            return try encode(await manager.kill(name: arguments.string("name")))
        case .reset:
            return try encode(await manager.reset(name: arguments.string("name")))
        case .wait:
            return try encode(await manager.wait(name: arguments.string("name")))
        case .list:
            return try ["vms": encode(await manager.list())]
        case .info:
            return try encode(await manager.info(name: arguments.string("name")))
        case .stats:
            return try encode(await manager.stats(name: arguments.string("name")))
        case .translate:
            let name = try arguments.string("name")
            let address = try arguments.address("address")
            let vcpu = try arguments.optionalInteger("vcpu") ?? 0
            return try encode(await manager.translate(name: name, address: address, vcpu: vcpu))
        case .regs:
            return try encode(await manager.registers(name: arguments.string("name")))
        case .readMemory:
            let name = try arguments.string("name")
            let address = try arguments.address("address")
            let length = try arguments.readLength("length")
            return try encode(await manager.readMemory(name: name, address: address, length: length))
        case .events:
            // Only checks the optional filter; `respond(to:)` subscribes.
            if let name = try arguments.optionalString("name") { try VMName.validate(name) }
            return [:]
        case .destroy:
            try await manager.destroy(name: arguments.string("name"))
            return [:]
        case .console:
            // `respond(to:)` answers `console` itself (it attaches a session); never reached.
            throw ControlError(.internal, "console requests are answered by respond(to:)")
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

/// What the server does with one request: write `reply`, then, for an `events` subscription,
/// forward `events` (one line each) until the client closes its end; for a `console`
/// attachment, carry raw console bytes both ways until either side ends.
public struct ControlResponse: Sendable {
    public var reply: ControlReply
    public var events: AsyncStream<VMEvent>?
    public var console: VMManager.ConsoleAttachment?

    public init(
        reply: ControlReply, events: AsyncStream<VMEvent>? = nil, console: VMManager.ConsoleAttachment? = nil
    ) {
        self.reply = reply
        self.events = events
        self.console = console
    }
}

/// Typed access to a request's `arguments`; every mistake is a `bad-request`.
struct ControlArguments {
    let members: [String: JSONValue]

    init(_ members: [String: JSONValue]) {
        self.members = members
    }

    /// A boolean argument that may be absent (or null).
    func optionalBool(_ key: String) throws(ControlError) -> Bool? {
        switch members[key] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        case let other?: throw ControlError(.badRequest, "argument '\(key)' must be a boolean, not \(other.typeName)")
        }
    }

    /// A string argument that may be absent (or null).
    func optionalString(_ key: String) throws(ControlError) -> String? {
        guard let value = members[key], value != .null else { return nil }
        return try string(key)
    }

    /// An integer argument that may be absent (or null); a number with a fraction is refused.
    func optionalInteger(_ key: String) throws(ControlError) -> Int? {
        switch members[key] {
        case nil, .null?: return nil
        case let value?:
            guard let integer = value.integerValue, let int = Int(exactly: integer) else {
                throw ControlError(.badRequest, "argument '\(key)' must be an integer, not \(Self.quote(value))")
            }
            return int
        }
    }

    /// A number argument that may be absent (or null).
    func optionalNumber(_ key: String) throws(ControlError) -> Double? {
        switch members[key] {
        case nil, .null?: return nil
        case .integer(let value)?: return Double(value)
        case .double(let value)?: return value
        case let other?: throw ControlError(.badRequest, "argument '\(key)' must be a number, not \(other.typeName)")
        }
    }

    /// A 64-bit guest address: a non-negative JSON integer, or a string of `0x` and 1–16 hex
    /// digits. Numbers from 2^53 on may have lost bits on the way (JSON readers keep them as
    /// doubles), so they must be integers this side parsed exactly (below 2^63); send larger
    /// addresses, like the upper half of the address space, as hex strings.
    func address(_ key: String) throws(ControlError) -> UInt64 {
        guard let value = members[key], value != .null else {
            throw ControlError(.badRequest, "missing argument '\(key)'")
        }
        let expected = "an integer from 0 to 2^63-1 or a \"0x\" hex string of 1-16 digits"
        switch value {
        case .integer(let integer):
            guard integer >= 0 else {
                throw ControlError(.badRequest, "argument '\(key)' must be \(expected), not \(integer)")
            }
            return UInt64(integer)
        case .double(let double):
            guard let integer = value.integerValue, integer >= 0 else {
                throw ControlError(
                    .badRequest,
                    "argument '\(key)' must be \(expected), not \(double)"
                        + (double >= 0x1p53 && double.rounded() == double
                            ? " (send large addresses as hex strings)" : ""))
            }
            return UInt64(integer)
        case .string(let text):
            let digits = text.dropFirst(2)
            guard text.hasPrefix("0x") || text.hasPrefix("0X"), (1...16).contains(digits.count),
                digits.allSatisfy(\.isHexDigit), let address = UInt64(digits, radix: 16)
            else {
                throw ControlError(.badRequest, "argument '\(key)' must be \(expected), not \(Self.quote(value))")
            }
            return address
        default:
            throw ControlError(.badRequest, "argument '\(key)' must be \(expected), not \(value.typeName)")
        }
    }

    /// A short quoted form of a bad argument for a message: strings quoted, others as JSON.
    private static func quote(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): String(String(reflecting: text).prefix(80))
        case .integer, .double: value.jsonText()
        default: value.typeName
        }
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
