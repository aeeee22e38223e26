import Foundation

/// One parsed request line: `{"id": ..., "command": "...", "arguments": {...}}`.
public struct ControlRequest: Sendable, Equatable {
    /// Echoed in the reply; a number, a string, or absent (`null` in the reply).
    public var id: JSONValue
    public var command: String
    public var arguments: [String: JSONValue]

    public init(id: JSONValue = .null, command: String, arguments: [String: JSONValue] = [:]) {
        self.id = id
        self.command = command
        self.arguments = arguments
    }

    /// Parses a request line. A failure carries the id to echo (`null` when the line is not a
    /// JSON object or its id is unusable) and a `bad-request` error.
    public static func parse(_ line: Data) -> Result<ControlRequest, ControlFailure> {
        guard let value = try? JSONValue(parsing: line) else {
            return .failure(ControlFailure(id: .null, error: ControlError(.badRequest, "malformed JSON")))
        }
        guard case .object(let members) = value else {
            return .failure(
                ControlFailure(
                    id: .null,
                    error: ControlError(.badRequest, "a request must be a JSON object, not \(value.typeName)")))
        }
        let id = members["id"] ?? .null
        switch id {
        case .null, .integer, .double, .string: break
        default:
            return .failure(
                ControlFailure(
                    id: .null, error: ControlError(.badRequest, "'id' must be a number or a string, not \(id.typeName)")
                ))
        }
        func fail(_ message: String) -> Result<ControlRequest, ControlFailure> {
            .failure(ControlFailure(id: id, error: ControlError(.badRequest, message)))
        }
        guard let commandValue = members["command"] else { return fail("missing 'command'") }
        guard let command = commandValue.stringValue else {
            return fail("'command' must be a string, not \(commandValue.typeName)")
        }
        var arguments: [String: JSONValue] = [:]
        switch members["arguments"] {
        case nil, .null?: break
        case .object(let object)?: arguments = object
        case let other?: return fail("'arguments' must be an object, not \(other.typeName)")
        }
        return .success(ControlRequest(id: id, command: command, arguments: arguments))
    }

    /// The request as one line of JSON (without the newline).
    public func jsonText() -> String {
        var members: [String: JSONValue] = ["command": .string(command), "arguments": .object(arguments)]
        if id != .null { members["id"] = id }
        return JSONValue.object(members).jsonText()
    }
}

/// A request that failed, with the id its error reply echoes.
public struct ControlFailure: Error, Sendable, Equatable {
    public var id: JSONValue
    public var error: ControlError

    public init(id: JSONValue, error: ControlError) {
        self.id = id
        self.error = error
    }
}

/// One reply line: `{"id": ..., "ok": true, "result": {...}}` or
/// `{"id": ..., "ok": false, "error": {"code": "...", "message": "..."}}`.
public struct ControlReply: Sendable, Equatable {
    public var id: JSONValue
    public var outcome: Result<JSONValue, ControlError>

    public init(id: JSONValue, outcome: Result<JSONValue, ControlError>) {
        self.id = id
        self.outcome = outcome
    }

    public static func success(id: JSONValue, _ result: JSONValue) -> ControlReply {
        ControlReply(id: id, outcome: .success(result))
    }

    public static func failure(id: JSONValue, _ error: ControlError) -> ControlReply {
        ControlReply(id: id, outcome: .failure(error))
    }

    /// The reply as a JSON value (keys `id`, `ok`, and `result` or `error`).
    public var json: JSONValue {
        switch outcome {
        case .success(let result):
            return .object(["id": id, "ok": .bool(true), "result": result])
        case .failure(let error):
            return .object([
                "id": id, "ok": .bool(false),
                "error": .object(["code": .string(error.code.rawValue), "message": .string(error.message)]),
            ])
        }
    }

    /// The reply as one line of JSON (without the newline).
    public func jsonText() -> String { json.jsonText() }
}
