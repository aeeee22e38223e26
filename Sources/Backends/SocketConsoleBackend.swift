#if canImport(Glibc)
    import Glibc
#endif
import Hypervisor
import Synchronization

/// A console on a listening UNIX stream socket (`console = "unix:PATH"`, like QEMU's
/// `-serial unix:PATH,server,nowait`): any number of clients may connect and disconnect at any
/// time. Guest output goes to every connected client; input from any client goes to the guest.
/// The guest never waits for a client: with none connected output is discarded (a serial line
/// with nothing plugged in), and a client that does not read fast enough loses what its socket
/// buffer cannot take, never the guest's progress or the other clients' output.
///
/// All socket work happens on the GLib loop; vCPU threads only append to a buffer, as with
/// `FileConsoleBackend`. The socket file is created with mode 0600 (the console is the guest's
/// keyboard); a stale socket at the path (nobody accepts on it) is replaced; a live one or any
/// other file is an error.
public final class SocketConsoleBackend: ConsoleBackend {
    public struct OpenError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "console socket \(path): \(reason)" }
    }

    private struct State {
        var pending = PendingOutput()
        var clients: Set<Int32> = []
        var listening: Int32
        var closed = false
        var input = ConsoleInput()
        var acceptFailures = 0
    }

    public let path: String
    private let loop: MainLoop
    private let state: Mutex<State>

    public init(path: String, loop: MainLoop = .shared) throws {
        self.path = path
        self.loop = loop
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity, !path.isEmpty else {
            throw OpenError(path: path, reason: "the path must be 1 to \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw OpenError(path: path, reason: "exists and is not a socket")
            }
            guard !Self.isListening(&address) else {
                throw OpenError(path: path, reason: "in use (something is listening on it)")
            }
            unlink(path)  // stale: left by a process that died
        }
        let fd = socket(
            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw OpenError(path: path, reason: String(cString: strerror(errno))) }
        let mask = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        umask(mask)
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw OpenError(path: path, reason: reason)
        }
        state = Mutex(State(listening: fd))
        watchListening(fd)
    }

    /// Accepts connections on the listening socket `fd` whenever one waits.
    private func watchListening(_ fd: Int32) {
        loop.watchReadable(fd: fd) { [weak self] in
            guard let self else { return Self.release(fd) }
            return self.acceptClients()
        }
    }

    /// How long the listening socket goes unwatched after the process ran out of descriptors.
    public static let acceptRetryMilliseconds: UInt32 = 100

    /// Times `accept` failed for want of descriptors (EMFILE, ENFILE) or memory, for tests.
    public var acceptFailures: Int { state.withLock { $0.acceptFailures } }

    /// A VM built and dropped without running (a failed build, a created VM destroyed) never
    /// calls `close`: the descriptors are shut down here, which wakes their watches to close
    /// them, and the socket file goes.
    deinit {
        let (closed, listening, clients) = state.withLock { ($0.closed, $0.listening, $0.clients) }
        guard !closed else { return }
        for client in clients { shutdown(client, Int32(SHUT_RDWR)) }
        shutdown(listening, Int32(SHUT_RDWR))
        unlink(path)
    }

    /// A watch's last act once its backend is gone: closes the descriptor, stops watching.
    private static func release(_ fd: Int32) -> Bool {
        Glibc.close(fd)
        return false
    }

    /// Whether a process accepts connections on the socket at `address` (a stale socket file
    /// refuses them).
    private static func isListening(_ address: inout sockaddr_un) -> Bool {
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { Glibc.close(probe) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return connected == 0
    }

    /// Number of clients connected now.
    public var clientCount: Int { state.withLock { $0.clients.count } }

    public func send(_ bytes: UnsafeRawBufferPointer) {
        let schedule = state.withLock { s -> Bool in
            guard !s.closed, !s.clients.isEmpty else { return false }
            return s.pending.append(bytes)
        }
        if schedule { loop.invoke { [self] in flush() } }
    }

    /// Input a client typed before the first handler was set goes to it first (on the loop
    /// thread).
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

    /// Stops listening, disconnects every client and removes the socket file (the VM stopped).
    /// The descriptors are shut down here and closed by their own watches, which the shutdown
    /// wakes, so the loop never polls a closed descriptor.
    public func close() {
        loop.invokeAndWait { [self] in
            flush()
            let (listening, clients) = state.withLock { s -> (Int32, Set<Int32>) in
                guard !s.closed else { return (-1, []) }
                s.closed = true
                return (s.listening, s.clients)
            }
            guard listening >= 0 else { return }
            for client in clients { shutdown(client, Int32(SHUT_RDWR)) }
            shutdown(listening, Int32(SHUT_RDWR))
            unlink(path)
        }
    }

    /// Loop thread: takes every waiting connection.
    private func acceptClients() -> Bool {
        let (closed, listening) = state.withLock { ($0.closed, $0.listening) }
        guard !closed else {
            Glibc.close(listening)
            return false
        }
        while true {
            let client = accept(listening, nil, nil)
            guard client >= 0 else {
                let error = errno
                guard error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM else { break }
                // The connection stays queued and the socket readable: watching on would call
                // this again at once, forever. Stop watching and look again a little later.
                state.withLock { $0.acceptFailures += 1 }
                loop.after(milliseconds: Self.acceptRetryMilliseconds) { [weak self] in
                    guard let self else {
                        _ = Self.release(listening)
                        return
                    }
                    self.watchListening(listening)
                }
                return false
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            state.withLock { _ = $0.clients.insert(client) }
            loop.watchReadable(fd: client) { [weak self] in
                guard let self else { return Self.release(client) }
                return self.readClient(client)
            }
        }
        return true
    }

    /// Loop thread: input from a client, or its departure.
    private func readClient(_ client: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return true }
        guard n > 0 else {
            state.withLock { _ = $0.clients.remove(client) }
            Glibc.close(client)
            return false
        }
        let bytes = Array(buffer[0..<n])
        let handler = state.withLock { s in s.input.route(bytes) }
        handler?(bytes)
        return true
    }

    /// Loop thread: writes what the guest sent to every client, without waiting for any.
    private func flush() {
        let (bytes, clients) = state.withLock { s in (s.pending.take(), s.clients) }
        guard !bytes.isEmpty else { return }
        // A full socket (a slow client) or a gone one loses this output; the others get it.
        for client in clients { writeAll(bytes) { Glibc.send(client, $0, $1, Int32(MSG_NOSIGNAL)) } }
    }
}
