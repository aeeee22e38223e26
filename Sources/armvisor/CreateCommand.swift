import ArgumentParser
import Control
import Foundation
import Platform

/// `armvisor create NAME`: asks armvisord to build a VM (it stays `created` until `start`).
struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a VM in the daemon.",
        discussion: """
            Settings come from --config (a JSON file, see docs/CONFIG.md); flags override it. \
            Relative paths (the config file, the kernel, a file: console) are taken relative to \
            the current directory. Without a console the daemon logs it to <state-dir>/NAME.console.log.
            """)

    @Argument(help: "VM name: 1-64 characters of A-Z a-z 0-9 . _ -, not starting with . or -.")
    var name: String
    @Option(help: "VM configuration file (JSON).") var config: String?
    @Option(help: "Guest image: AArch64 ELF, Linux arm64 Image, or raw binary.") var kernel: String?
    @Option(help: "Guest RAM size (bytes or with K/M/G; default 128M).") var memory: String?
    @Option(help: "Number of vCPUs.") var cpus: Int?
    @Option(help: "Console: stdio (the daemon's), null or file:PATH.") var console: String?
    @OptionGroup var client: ClientOptions

    func run() throws {
        var configuration = VMConfiguration()
        if let config { configuration = try VMConfiguration.load(path: ControlPaths.absolute(config)) }
        configuration = configuration.overridden(
            by: VMConfiguration(memory: memory, cpus: cpus, kernel: kernel, console: console))
        configuration.kernel = configuration.kernel.map { ControlPaths.absolute($0) }
        configuration.console = configuration.console.map(Self.absoluteConsole)
        let result = try client.call(
            "create", ["name": .string(name), "config": JSONValue(encoding: configuration)])
        try client.print(result, human: HumanText.state)
    }

    /// A `file:PATH` console with PATH made absolute; other specs unchanged.
    static func absoluteConsole(_ spec: String) -> String {
        guard spec.hasPrefix("file:"), spec.count > 5 else { return spec }
        return "file:" + ControlPaths.absolute(String(spec.dropFirst(5)))
    }
}
