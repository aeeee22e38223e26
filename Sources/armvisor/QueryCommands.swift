import ArgumentParser
import Control
import Hypervisor

/// `armvisor list`: every VM and its state.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the daemon's VMs.")
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("list")) { result in
            guard let vms = result["vms"]?.arrayValue else { throw UnexpectedReply("no 'vms' array") }
            return HumanText.table(
                vms.map { vm in
                    let state = vm["state"]?.stringValue ?? "?"
                    let flags =
                        vm["defined"] == true ? (vm["autostart"] == true ? " (defined, autostart)" : " (defined)") : ""
                    return (vm["name"]?.stringValue ?? "?", state + flags)
                })
        }
    }
}

/// `armvisor stats NAME`: what the highvisor counted for a VM.
struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a VM's exit and instruction counters.")
    @Argument(help: "VM name.") var name: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("stats", ["name": .string(name)])) { result in
            guard let statistics = try? result["statistics"]?.decode(as: VMStatistics.self) else {
                throw UnexpectedReply("no valid 'statistics' object")
            }
            return statistics.report
        }
    }
}

/// `armvisor ping`: checks that the daemon answers.
struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that armvisord answers.")
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("ping")) { _ in "pong" }
    }
}

/// `armvisor version`: the daemon's software and protocol versions.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show armvisord's version and protocol version.")
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("version")) { result in
            let version = result["version"]?.stringValue ?? "?"
            let proto = result["protocol"]?.integerValue.map(String.init) ?? "?"
            return "armvisord \(version) (protocol \(proto)); armvisor \(ControlProtocol.softwareVersion)"
        }
    }
}
