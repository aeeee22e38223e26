import ArgumentParser
import Control

/// `armvisor start NAME`: starts a created VM.
struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a created VM, or a defined one that has no VM or a stopped one.")
    @Argument(help: "VM name.") var name: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("start", ["name": .string(name)]), human: HumanText.state)
    }
}

/// `armvisor stop NAME`: presses the VM's power button, forces the stop after the timeout, and
/// waits until it has stopped.
struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop a running or paused VM gracefully: power button, then forced after a timeout.",
        discussion: """
            Presses the power button (PL061 pin 3) and waits for the guest to power off (reason \
            poweroff); if it has not after --timeout seconds (default: the VM's stop-timeout, 30 s \
            unless configured), the VM is stopped at once (reason killed, "forced after ..."). A \
            paused VM is stopped at once.
            """)
    @Argument(help: "VM name.") var name: String
    @Option(help: "Seconds to wait for the guest to power off before forcing the stop (0-3600).")
    var timeout: Double?
    @OptionGroup var client: ClientOptions

    func validate() throws {
        if let timeout, !(timeout.isFinite && (0...3600).contains(timeout)) {
            throw ValidationError("--timeout must be a number of seconds from 0 to 3600")
        }
    }

    func run() throws {
        var arguments: [String: JSONValue] = ["name": .string(name)]
        if let timeout { arguments["timeout"] = .double(timeout) }
        try client.print(client.call("stop", arguments), human: HumanText.stopped)
    }
}

/// `armvisor wait NAME`: blocks until the VM stops and prints how it ended.
struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Wait until a VM stops.")
    @Argument(help: "VM name.") var name: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("wait", ["name": .string(name)]), human: HumanText.stopped)
    }
}

/// `armvisor destroy NAME`: stops the VM if it runs and removes it.
struct Destroy: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop (if running) and remove a VM.")
    @Argument(help: "VM name.") var name: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("destroy", ["name": .string(name)])) { _ in "\(name): destroyed" }
    }
}

/// `armvisor kill NAME`: stops a running or paused VM at once and waits until it has.
struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop a running or paused VM at once (no chance for the guest to shut down).")
    @Argument(help: "VM name.") var name: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("kill", ["name": .string(name)]), human: HumanText.stopped)
    }
}

/// `armvisor reset NAME`: restarts a VM from its boot state as a fresh instance.
struct Reset: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restart a running, paused or stopped VM from its boot state.",
        discussion: """
            Stops the VM at once if it runs, then starts a fresh instance built from the same configuration \
            (its counters start from zero).
            """)
    @Argument(help: "VM name.") var name: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("reset", ["name": .string(name)])) { result in
            "\(result["name"]?.stringValue ?? name): reset, \(result["state"]?.stringValue ?? "?")"
        }
    }
}
