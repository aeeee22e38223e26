import ArgumentParser
import Control
import Foundation

/// The options every daemon subcommand takes, and how it talks to the daemon.
struct ClientOptions: ParsableArguments {
    @Option(help: "armvisord's control socket (default: $ARMVISOR_SOCKET or the per-user path).")
    var socket: String?

    @Flag(help: "Print the raw JSON result instead of text.")
    var json = false

    var socketPath: String { socket ?? ControlPaths.defaultSocketPath() }

    /// Sends one command and returns its result.
    func call(_ command: String, _ arguments: [String: JSONValue] = [:]) throws -> JSONValue {
        let client = try ControlClient(socketPath: socketPath)
        return try client.call(command, arguments: arguments)
    }

    /// Prints `result` as JSON with `--json`, else the text `human` makes of it.
    func print(_ result: JSONValue, human: (JSONValue) throws -> String) throws {
        let text = json ? result.jsonText() : try human(result)
        Swift.print(text)
    }
}

/// A reply the CLI could not make sense of.
struct UnexpectedReply: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = "unexpected reply from armvisord: \(what)" }
}

/// Text forms of results.
enum HumanText {
    /// "demo: stopped (poweroff)", then ": detail" when there is one.
    static func stopped(_ result: JSONValue) -> String {
        let name = result["name"]?.stringValue ?? "?"
        let reason = result["reason"]?.stringValue ?? "?"
        let detail = result["detail"]?.stringValue ?? ""
        return "\(name): stopped (\(reason))" + (detail.isEmpty ? "" : ": \(detail)")
    }

    /// "demo: running".
    static func state(_ result: JSONValue) -> String {
        "\(result["name"]?.stringValue ?? "?"): \(result["state"]?.stringValue ?? "?")"
    }

    /// A NAME/STATE table.
    static func table(_ rows: [(String, String)]) -> String {
        let width = max(4, rows.map(\.0.count).max() ?? 0) + 2
        let header = "NAME".padding(toLength: width, withPad: " ", startingAt: 0) + "STATE"
        return ([header] + rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 })
            .joined(separator: "\n")
    }
}
