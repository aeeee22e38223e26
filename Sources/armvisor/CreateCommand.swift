import ArgumentParser
import Control
import Foundation
import Platform

/// The VM settings `run`, `create` and `define` take, named after the configuration keys
/// (docs/CONFIG.md): a configuration file overridden by flags.
struct VMSettingsOptions: ParsableArguments {
    @Option(help: "VM configuration file (JSON).") var config: String?
    @Option(help: "Guest image: AArch64 ELF, Linux arm64 Image, or raw binary (loaded at 0x40080000).")
    var kernel: String?
    @Option(help: "Guest RAM size (bytes or with K/M/G; default 128M).") var memory: String?
    @Option(help: "Number of vCPUs.") var cpus: Int?
    @Option(help: "Initial ramdisk for a Linux kernel (placed as QEMU does, announced in /chosen).")
    var initrd: String?
    @Option(help: "Kernel command line (/chosen/bootargs).") var append: String?
    @Option(help: "Give the guest this device tree (a .dtb) instead of the generated one.") var dtb: String?
    @Option(help: "Firmware to execute in place from flash at 0x0 (DTB at 0x40000000; a --kernel waits in RAM).")
    var bios: String?
    @Option(help: "A 64 MiB file backing flash bank 1 at 0x4000000 (CFI flash; the guest's writes reach the file).")
    var pflash: String?
    @Option(
        help: """
            Console: stdio, null, file:PATH, unix:PATH (a socket clients attach to) or pty (default: stdio for \
            run; for create, a log in the daemon's state directory).
            """)
    var console: String?
    @Option(help: "Interrupt controller: v3 (default) or v2.") var gic: String?
    @Option(help: "Time base: host (default) or icount (deterministic, 1 vCPU).") var clock: String?
    @Option(help: "PSCI conduit: hvc (default) or smc.") var psci: String?
    @OptionGroup var virtio: VirtioOptions

    /// The configuration file (relative to the current directory) overridden by the flags.
    func configuration() throws -> VMConfiguration {
        var configuration = VMConfiguration()
        if let config { configuration = try VMConfiguration.load(path: ControlPaths.absolute(config)) }
        return configuration.overridden(
            by: VMConfiguration(
                memory: memory, cpus: cpus, kernel: kernel, console: console, dtb: dtb, bios: bios, initrd: initrd,
                append: append, psci: psci, gic: gic, clock: clock, pflash: pflash)
        ).overridden(by: virtio.configuration())
    }
}

/// The VM settings `create` and `define` take: those of `run`, and the daemon's `stop-timeout`.
struct ConfigOptions: ParsableArguments {
    @OptionGroup var vm: VMSettingsOptions
    @Option(
        name: .customLong("stop-timeout"),
        help: "Seconds stop waits for the guest to power off after the power button before forcing it (default 30).")
    var stopTimeout: Double?

    /// The configuration as JSON, with relative paths made absolute against the current directory.
    func json() throws -> JSONValue {
        var configuration = try vm.configuration().overridden(by: VMConfiguration(stopTimeout: stopTimeout))
        configuration.kernel = configuration.kernel.map { ControlPaths.absolute($0) }
        configuration.dtb = configuration.dtb.map { ControlPaths.absolute($0) }
        configuration.bios = configuration.bios.map { ControlPaths.absolute($0) }
        configuration.pflash = configuration.pflash.map { ControlPaths.absolute($0) }
        configuration.initrd = configuration.initrd.map { ControlPaths.absolute($0) }
        configuration.console = configuration.console.map(Self.absoluteConsole)
        configuration.virtioConsole = configuration.virtioConsole.map(Self.absoluteConsole)
        configuration.disks = configuration.disks?.map {
            VMConfiguration.Disk(path: ControlPaths.absolute($0.path), readonly: $0.readonly)
        }
        return try JSONValue(encoding: configuration)
    }

    /// A `file:PATH`, `unix:PATH` or `pty:LINK` console with its path made absolute; other specs
    /// (`stdio`, `null`, a bare `pty`) unchanged.
    static func absoluteConsole(_ spec: String) -> String {
        for scheme in ["file:", "unix:", "pty:"] where spec.hasPrefix(scheme) && spec.count > scheme.count {
            return scheme + ControlPaths.absolute(String(spec.dropFirst(scheme.count)))
        }
        return spec
    }
}

/// `armvisor create NAME`: asks armvisord to build a VM (it stays `created` until `start`).
struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a VM in the daemon.",
        discussion: """
            Settings come from --config (a JSON file, see docs/CONFIG.md); flags override it. \
            Relative paths (the config file, kernel, dtb, bios, pflash, initrd, disks, and the path of a \
            file:, unix: or pty: console) are taken relative to the current directory. Without a \
            console the daemon logs it to <state-dir>/NAME.console.log.
            """)

    @Argument(help: "VM name: 1-64 characters of A-Z a-z 0-9 . _ -, not starting with . or -.")
    var name: String
    @OptionGroup var settings: ConfigOptions
    @OptionGroup var client: ClientOptions

    func run() throws {
        let result = try client.call("create", ["name": .string(name), "config": settings.json()])
        try client.print(result, human: HumanText.state)
    }
}

/// `armvisor define NAME`: stores a persistent definition in the daemon's state directory.
struct Define: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Define a persistent VM (kept across daemon restarts).",
        discussion: """
            Settings as for create. The definition is stored as <state-dir>/NAME.json and used \
            by the next start of NAME that has no created VM to run; --autostart starts it \
            whenever the daemon starts.
            """)

    @Argument(help: "VM name: 1-64 characters of A-Z a-z 0-9 . _ -, not starting with . or -.")
    var name: String
    @Flag(help: "Start the VM when the daemon starts.") var autostart = false
    @OptionGroup var settings: ConfigOptions
    @OptionGroup var client: ClientOptions

    func run() throws {
        let result = try client.call(
            "define", ["name": .string(name), "config": settings.json(), "autostart": .bool(autostart)])
        try client.print(result) { _ in "\(name): defined" + (autostart ? " (autostart)" : "") }
    }
}

/// `armvisor undefine NAME`: removes a definition (not while the VM runs).
struct Undefine: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a VM's persistent definition.")
    @Argument(help: "VM name.") var name: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("undefine", ["name": .string(name)])) { _ in "\(name): undefined" }
    }
}
