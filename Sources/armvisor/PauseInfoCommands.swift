import ArgumentParser
import Control
import Foundation

/// `armvisor pause NAME`: parks every vCPU of a running VM at a block boundary.
struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pause a running VM.")
    @Argument(help: "VM name.") var name: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("pause", ["name": .string(name)]), human: HumanText.state)
    }
}

/// `armvisor resume NAME`: lets a paused VM run again.
struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resume a paused VM.")
    @Argument(help: "VM name.") var name: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("resume", ["name": .string(name)]), human: HumanText.state)
    }
}

/// `armvisor info NAME`: state, configuration, uptime and vCPUs.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a VM's state, configuration and vCPUs.")
    @Argument(help: "VM name.") var name: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("info", ["name": .string(name)]), human: Self.text)
    }

    /// One "key: value" line per item, then one line per vCPU.
    static func text(_ result: JSONValue) throws -> String {
        guard let name = result["name"]?.stringValue, let state = result["state"]?.stringValue,
            let vcpus = result["vcpus"]?.arrayValue
        else { throw UnexpectedReply("no name, state or vcpus") }
        var status = state
        if let reason = result["reason"]?.stringValue {
            let detail = result["detail"]?.stringValue ?? ""
            status += " (\(reason))" + (detail.isEmpty ? "" : ": \(detail)")
        }
        let config = result["config"]?.objectValue ?? [:]
        let uptime: Double =
            switch result["uptimeSeconds"] {
            case .double(let value)?: value
            case .integer(let value)?: Double(value)
            default: 0
            }
        var lines = [
            ("name", name), ("state", status), ("uptime", String(format: "%.3f s", uptime)),
        ]
        if result["defined"] == true {
            lines.append(("defined", result["autostart"] == true ? "yes, autostart" : "yes"))
        }
        for key in ["kernel", "memory", "cpus", "console"] {
            guard let value = config[key] else { continue }
            lines.append((key, value.stringValue ?? value.jsonText()))
        }
        for vcpu in vcpus {
            let index = vcpu["index"]?.integerValue.map(String.init) ?? "?"
            var text = "\(vcpu["state"]?.stringValue ?? "?"), MPIDR \(vcpu["mpidr"]?.stringValue ?? "?")"
            if let pc = vcpu["pc"]?.stringValue { text += ", PC \(pc)" }
            lines.append(("vcpu \(index)", text))
        }
        let width = (lines.map(\.0.count).max() ?? 0) + 2
        return lines.map { ($0.0 + ":").padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 }
            .joined(separator: "\n")
    }
}

/// `armvisor events [NAME]`: prints state changes as they happen, until interrupted or the
/// daemon goes away.
struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow VM state changes (started, paused, resumed, stopped).",
        discussion: "Runs until interrupted (Ctrl-C) or until armvisord closes the connection.")
    @Argument(help: "Only this VM's events.") var name: String?
    @OptionGroup var client: ClientOptions

    func run() throws {
        let connection = try ControlClient(socketPath: client.socketPath)
        try connection.followEvents(name: name) { event in
            // Written at once (not through stdio's buffer), so a pipe sees each event as it happens.
            let line = (client.json ? event.jsonText() : Self.text(event)) + "\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
    }

    /// "2026-11-21T16:00:00.000Z demo stopped (poweroff): PSCI SYSTEM_OFF".
    static func text(_ event: JSONValue) -> String {
        var text = [event["timestamp"], event["name"], event["event"]].map { $0?.stringValue ?? "?" }
            .joined(separator: " ")
        if let reason = event["reason"]?.stringValue { text += " (\(reason))" }
        if let detail = event["detail"]?.stringValue { text += ": \(detail)" }
        return text
    }
}
