#if canImport(Glibc)
    import Glibc
#endif
import Hypervisor
import Synchronization

/// A console on a new pseudo-terminal (`console = "pty"`, like QEMU's `-serial pty`): a terminal
/// program (`screen /dev/pts/N`, `minicom -p`, `picocom`) opens the subsidiary side, `path`, and
/// may close and reopen it at any time. `pty:LINK` also makes LINK a symbolic link to it, a
/// stable name for scripts (QEMU `-chardev pty,path=LINK`).
///
/// The terminal is in raw mode (`cfmakeraw`), so bytes pass unchanged both ways. The backend
/// keeps the subsidiary side open itself, so the manager side never sees a hang-up when the last
/// program closes it; output nobody reads waits in the terminal's buffer (a few KiB, which a
/// program that opens it later reads first) and beyond that is dropped — the guest never waits.
public final class PTYConsoleBackend: ConsoleBackend {
    public struct OpenError: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "console pty: \(reason)" }
    }

    private struct State {
        var pending = PendingOutput()
        var closed = false
        var input = ConsoleInput()
        /// Our own descriptor of the subsidiary side (-1 once closed).
        var subsidiary: Int32
    }

    /// Linux `<asm-generic/ioctls.h>`: TIOCSPTLCK = _IOW('T', 0x31, int), TIOCGPTN =
    /// _IOR('T', 0x30, unsigned int) (function-like macros Swift cannot import).
    static let setLock: UInt = 0x4004_5431
    static let getNumber: UInt = 0x8004_5430

    /// The subsidiary side's device, e.g. `/dev/pts/3`.
    public let path: String
    /// The symbolic link made to `path`, if one was asked for.
    public let link: String?
    private let manager: Int32
    private let loop: MainLoop
    private let state: Mutex<State>

    public init(link: String? = nil, loop: MainLoop = .shared) throws {
        func failure(_ call: String) -> OpenError { OpenError(reason: "\(call): \(String(cString: strerror(errno)))") }
        // posix_openpt/unlockpt/ptsname, as glibc implements them on Linux (Swift's Glibc
        // module leaves out the XSI functions): /dev/ptmx, then TIOCSPTLCK and TIOCGPTN.
        let manager = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard manager >= 0 else { throw failure("open /dev/ptmx") }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard ioctl(manager, Self.setLock, &unlock) == 0, ioctl(manager, Self.getNumber, &number) == 0 else {
            let error = failure("unlockpt/ptsname")
            Glibc.close(manager)
            throw error
        }
        let path = "/dev/pts/\(number)"
        var attributes = termios()
        if tcgetattr(manager, &attributes) == 0 {
            cfmakeraw(&attributes)
            tcsetattr(manager, TCSANOW, &attributes)
        }
        _ = fcntl(manager, F_SETFL, fcntl(manager, F_GETFL) | O_NONBLOCK)
        let subsidiary = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard subsidiary >= 0 else {
            let error = failure("open \(path)")
            Glibc.close(manager)
            throw error
        }
        if let link {
            var info = stat()
            if lstat(link, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFLNK else {
                    Glibc.close(subsidiary)
                    Glibc.close(manager)
                    throw OpenError(reason: "\(link) exists and is not a symbolic link")
                }
                unlink(link)
            }
            guard symlink(path, link) == 0 else {
                let error = failure("symlink \(link)")
                Glibc.close(subsidiary)
                Glibc.close(manager)
                throw error
            }
        }
        self.manager = manager
        self.path = path
        self.link = link
        self.loop = loop
        state = Mutex(State(subsidiary: subsidiary))
        // Once the backend is gone (after `close`, or dropped without it) the hang-up of the
        // last subsidiary descriptor lets the watch close the manager side.
        loop.watchReadable(fd: manager) { [weak self] in
            guard let self else {
                var byte: UInt8 = 0
                if read(manager, &byte, 1) < 0 && errno == EIO {
                    Glibc.close(manager)
                    return false
                }
                return true
            }
            return self.readInput()
        }
    }

    /// Dropped without `close` (a VM that never ran): gives up the terminal the same way.
    deinit {
        let subsidiary = state.withLock { $0.subsidiary }
        guard subsidiary >= 0 else { return }
        Glibc.close(subsidiary)
        removeLink()
    }

    public func send(_ bytes: UnsafeRawBufferPointer) {
        let schedule = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            return s.pending.append(bytes)
        }
        if schedule { loop.invoke { [self] in flush() } }
    }

    /// Input typed before the first handler was set goes to it first (on the loop thread).
    public func setInputHandler(_ handler: @escaping @Sendable ([UInt8]) -> Void) {
        // On the loop, where input is read: what waited goes first, in order.
        loop.invoke { [self] in
            let early = state.withLock { $0.input.adopt(handler) }
            if !early.isEmpty { handler(early) }
        }
    }

    /// Bytes typed before the device asked for input, waiting for it.
    public var earlyInputCount: Int { state.withLock { $0.input.earlyCount } }

    public func drain() {
        loop.invokeAndWait { [self] in flush() }
    }

    /// Gives up the terminal (the VM stopped): the link is removed and our subsidiary descriptor
    /// closed; the manager side is closed by its watch once no program holds the terminal open.
    public func close() {
        loop.invokeAndWait { [self] in
            flush()
            let subsidiary = state.withLock { s -> Int32 in
                s.closed = true
                defer { s.subsidiary = -1 }
                return s.subsidiary
            }
            guard subsidiary >= 0 else { return }
            Glibc.close(subsidiary)
            removeLink()
        }
    }

    /// Removes the link if it still names our terminal: another VM given the same `pty:LINK`
    /// since then has replaced it with its own, which must stay.
    private func removeLink() {
        guard let link else { return }
        var target = [CChar](repeating: 0, count: 4096)
        let n = readlink(link, &target, target.count)
        guard n > 0, String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == path else {
            return
        }
        unlink(link)
    }

    /// Loop thread: input typed into the terminal, or the hang-up after `close`.
    private func readInput() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(manager, $0.baseAddress, $0.count) }
        if n > 0 {
            let bytes = Array(buffer[0..<n])
            let handler = state.withLock { s in s.closed ? nil : s.input.route(bytes) }
            handler?(bytes)
            return true
        }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return true }
        // EIO: no subsidiary descriptor is open. Only possible once we closed ours.
        guard state.withLock({ $0.closed }) else { return true }
        Glibc.close(manager)
        return false
    }

    /// Loop thread: writes what the guest sent, dropping what the terminal cannot take.
    private func flush() {
        let bytes = state.withLock { s -> [UInt8] in
            let bytes = s.pending.take()
            return s.closed ? [] : bytes
        }
        writeAll(bytes) { write(manager, $0, $1) }
    }
}
