#if canImport(Glibc)
    import Glibc
#endif
import Hypervisor
import Synchronization

/// A host-side console a board device (PL011, virtio-console) talks to.
public protocol ConsoleBackend: CharacterBackend {
    /// Once the VM has stopped: writes out everything sent so far (as `drain`), then releases
    /// what the backend holds on the host (listening sockets, their files); output sent
    /// afterwards is dropped.
    func close()
}

/// A console backend that writes guest output to a file descriptor (stdout, or a file it
/// opened) from the GLib loop thread.
///
/// vCPU threads only append to a buffer under a lock; the first byte into an empty buffer asks
/// the loop to drain it, so a burst of console output costs one loop wake-up.
public final class FileConsoleBackend: ConsoleBackend {
    public enum Target: Sendable, Equatable {
        case standardOutput
        case file(String)
        case discard
    }

    public struct OpenError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot open console file \(path): \(reason)" }
    }

    private let fd: Int32
    private let ownsDescriptor: Bool
    private let loop: MainLoop
    private let pending = Mutex(PendingOutput())
    private let inputWatch = Mutex<MainLoop.InputWatchHandle?>(nil)
    private let rawTerminal = Mutex<RawTerminal?>(nil)
    /// Where standard input goes (the current instance's device).
    private let inputHandler = Mutex<(@Sendable ([UInt8]) -> Void)?>(nil)

    public init(target: Target, loop: MainLoop = .shared) throws {
        self.loop = loop
        switch target {
        case .standardOutput:
            fd = STDOUT_FILENO
            ownsDescriptor = false
        case .discard:
            fd = -1
            ownsDescriptor = false
        case .file(let path):
            let opened = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard opened >= 0 else { throw OpenError(path: path, reason: String(cString: strerror(errno))) }
            fd = opened
            ownsDescriptor = true
        }
    }

    deinit {
        if ownsDescriptor { Glibc.close(fd) }
    }

    public func send(_ bytes: UnsafeRawBufferPointer) {
        guard fd >= 0 else { return }
        let schedule = pending.withLock { $0.append(bytes) }
        if schedule { loop.invoke { [self] in flushPending() } }
    }

    /// The standard-output console reads the guest's input from standard input (as QEMU's
    /// `-nographic` does); file and null consoles have none.
    ///
    /// In a program that set `escapeQuit` (`armvisor run`), when standard input is a terminal
    /// it is switched to raw mode for as long as the console is open, so every key (Ctrl-C
    /// included) reaches the guest, and QEMU's escape applies: Ctrl-A x calls `escapeQuit`,
    /// Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A h prints a help line. The daemon sets none: a
    /// terminal it was started from keeps its settings and its signals.
    /// A later call (the device of the VM's next instance after a guest reboot) only changes
    /// where the input goes: the terminal stays as it is and no second watch starts.
    public func setInputHandler(_ handler: @escaping @Sendable ([UInt8]) -> Void) {
        guard fd == STDOUT_FILENO else { return }
        let first = inputHandler.withLock { current in
            defer { current = handler }
            return current == nil
        }
        guard first else { return }
        var forward: @Sendable ([UInt8]) -> Void = { [weak self] bytes in self?.inputHandler.withLock { $0 }?(bytes) }
        // SIGINT and SIGTERM stay with `armvisor run`, which stops the VM and closes this console
        // (and ignores SIGPIPE).
        if let quit = FileConsoleBackend.escapeQuit, let terminal = RawTerminal.enter(restoringOn: [SIGHUP, SIGQUIT]) {
            rawTerminal.withLock { $0 = terminal }
            let escape = Mutex(ConsoleEscape())
            let deliver = forward
            forward = { bytes in
                let (bytes, action) = escape.withLock { $0.filter(bytes) }
                if !bytes.isEmpty { deliver(bytes) }
                switch action {
                case .none: break
                case .quit: quit()
                case .help:
                    let help = "\nC-a x    exit\nC-a C-a  send C-a\nC-a h    this help\n"
                    _ = help.withCString { write(STDERR_FILENO, $0, strlen($0)) }
                }
            }
        }
        let watch = loop.watchInput(fd: STDIN_FILENO, forward)
        inputWatch.withLock { $0 = watch }
    }

    /// Drains; the standard-output console also stops reading standard input and gives the
    /// terminal its settings back (the descriptors stay open until the backend goes away).
    public func close() {
        drain()
        inputWatch.withLock { $0 }?.cancel()
        rawTerminal.withLock { $0 }?.restore()
    }

    private static let escapeAction = Mutex<(@Sendable () -> Void)?>(nil)

    /// What Ctrl-A x on a terminal console does (`armvisor run` stops the VM); nil (the
    /// default) leaves the terminal as it is.
    public static var escapeQuit: (@Sendable () -> Void)? {
        get { escapeAction.withLock { $0 } }
        set { escapeAction.withLock { $0 = newValue } }
    }

    public func drain() {
        guard fd >= 0 else { return }
        loop.invokeAndWait { [self] in flushPending() }
    }

    /// Runs on the loop thread.
    private func flushPending() {
        // A reader that went away (EPIPE, a closed terminal) loses the output.
        writeAll(pending.withLock { $0.take() }) { write(fd, $0, $1) }
    }
}

/// QEMU's terminal escape for a console on standard input: Ctrl-A (0x01) followed by `x` quits,
/// by Ctrl-A sends one Ctrl-A, by `h` asks for help; any other byte after Ctrl-A is sent with
/// the Ctrl-A before it.
public struct ConsoleEscape: Sendable {
    public enum Action: Equatable, Sendable { case none, quit, help }
    private var escaped = false

    public init() {}

    /// The bytes to send to the guest, and what the escape asked for.
    public mutating func filter(_ bytes: [UInt8]) -> ([UInt8], Action) {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var action = Action.none
        for byte in bytes {
            if escaped {
                escaped = false
                switch byte {
                case UInt8(ascii: "x"): return (out, .quit)
                case UInt8(ascii: "h"): action = .help
                case 0x01: out.append(0x01)
                default: out += [0x01, byte]
                }
            } else if byte == 0x01 {
                escaped = true
            } else {
                out.append(byte)
            }
        }
        return (out, action)
    }
}
