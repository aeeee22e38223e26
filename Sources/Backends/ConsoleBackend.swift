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
    public func setInputHandler(_ handler: @escaping @Sendable ([UInt8]) -> Void) {
        guard fd == STDOUT_FILENO else { return }
        loop.watchInput(fd: STDIN_FILENO, handler)
    }

    /// A file or standard output holds nothing to release (the descriptor stays open until the
    /// backend goes away): closing is draining.
    public func close() { drain() }

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
