import Backends
import Hypervisor
import Synchronization

/// The host side of a VM that outlives its instances: the PL011's console backend with the
/// `ConsoleTap` the control plane attaches to, and the virtio console's backend.
///
/// A guest reboot (PSCI SYSTEM_RESET) builds a fresh instance of the VM; as on QEMU, where a
/// reset does not reopen character devices, the fresh instance gets the same open backends: a
/// `file:` console keeps appending, a `pty` keeps its number, `unix:` clients and `console`
/// sessions stay connected. Whoever runs the VM (`armvisor run`, the daemon) makes one host per
/// run and hands it to every `Board.makeVM` of that run; the first build opens the backends
/// (after its own checks, so a configuration the board refuses truncates no console file), and
/// the owner closes them with `close()` once the run ends. Disks and flash are not held here:
/// every instance flushes them when it stops, and the next one opens the same files again.
public final class BoardHost: Sendable {
    struct Backends: Sendable {
        let console: any ConsoleBackend
        let tap: ConsoleTap
        let virtioConsole: (any ConsoleBackend)?
    }

    private let backends = Mutex<Backends?>(nil)

    public init() {}

    /// The console sessions attach to (nil until a build opened it, and after `close`).
    public var tap: ConsoleTap? { backends.withLock { $0?.tap } }

    /// The backends, opened now from `configuration` unless an earlier build opened them;
    /// `opened` says which (a build that opened them closes them again when it fails).
    func open(_ configuration: VMConfiguration) throws -> (backends: Backends, opened: Bool) {
        try backends.withLock { current in
            if let current { return (current, false) }
            let console = try Board.makeConsole(configuration.console ?? "stdio")
            let virtioConsole: (any ConsoleBackend)?
            do {
                virtioConsole = try configuration.virtioConsole.map {
                    try Board.makeConsole($0, key: "virtio-console")
                }
            } catch {
                console.close()
                throw error
            }
            let opened = Backends(console: console, tap: ConsoleTap(wrapping: console), virtioConsole: virtioConsole)
            current = opened
            return (opened, true)
        }
    }

    /// Writes out everything the guest sent so far (an instance stopped; the next may follow).
    public func drain() {
        guard let backends = backends.withLock({ $0 }) else { return }
        backends.console.drain()
        backends.virtioConsole?.drain()
    }

    /// Ends the run's host side: attached console sessions end, the backends are drained and
    /// closed (sockets and their files removed, a terminal given its settings back). A later build
    /// with this host opens new backends.
    public func close() {
        let taken = backends.withLock { current in
            defer { current = nil }
            return current
        }
        guard let backends = taken else { return }
        backends.console.close()
        backends.tap.close()
        backends.virtioConsole?.close()
    }
}
