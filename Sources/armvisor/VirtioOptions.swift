import ArgumentParser
import Platform

/// The virtio settings `run`, `create` and `define` take (docs/CONFIG.md: `disks`, `rng`,
/// `virtio-version`, `virtio-console`).
struct VirtioOptions: ParsableArguments {
    @Option(
        name: .customLong("disk"),
        help: "A raw disk image as a virtio-blk device: PATH or PATH,readonly (repeatable, in order).")
    var disks: [String] = []
    @Flag(help: "Add a virtio-rng device fed from the host's entropy.") var rng = false
    @Option(
        name: .customLong("virtio-version"), help: "virtio-mmio register layout: 2 (modern, default) or 1 (legacy).")
    var virtioVersion: Int?
    @Option(
        name: .customLong("virtio-console"),
        help: "Add a virtio-console on this backend: stdio, null, file:PATH, unix:PATH or pty.")
    var virtioConsole: String?

    func validate() throws {
        for text in disks where VMConfiguration.Disk.parse(text) == nil {
            throw ValidationError("--disk \(String(reflecting: text)): expected PATH or PATH,readonly")
        }
    }

    /// The settings as a configuration to lay over a file's.
    func configuration() -> VMConfiguration {
        let parsed = disks.compactMap(VMConfiguration.Disk.parse)
        return VMConfiguration(
            disks: parsed.isEmpty ? nil : parsed, rng: rng ? true : nil, virtioVersion: virtioVersion,
            virtioConsole: virtioConsole)
    }
}
