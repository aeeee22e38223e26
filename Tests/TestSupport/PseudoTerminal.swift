import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A pseudo-terminal for tests of programs that put their terminal in raw mode: the subsidiary
/// side is the program's standard input, output and error; the test reads and writes the
/// manager side and compares the terminal's settings with those it started with.
public final class PseudoTerminal {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let manager: Int32
    public let subsidiary: Int32
    /// The subsidiary's settings when it was opened (canonical, echoing).
    public private(set) var original = termios()
    /// Everything read from the manager side so far.
    public private(set) var output = ""

    /// posix_openpt/unlockpt/ptsname as glibc does them (Swift's Glibc leaves them out):
    /// /dev/ptmx, TIOCSPTLCK (_IOW('T', 0x31, int)), TIOCGPTN (_IOR('T', 0x30, unsigned int)).
    public init() throws {
        manager = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard manager >= 0 else { throw Failure(description: "cannot open /dev/ptmx") }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard ioctl(manager, 0x4004_5431, &unlock) == 0, ioctl(manager, 0x8004_5430, &number) == 0 else {
            close(manager)
            throw Failure(description: "cannot unlock the pseudo-terminal")
        }
        subsidiary = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard subsidiary >= 0 else {
            close(manager)
            throw Failure(description: "cannot open /dev/pts/\(number)")
        }
        tcgetattr(subsidiary, &original)
    }

    deinit {
        close(subsidiary)
        close(manager)
    }

    /// A process with the subsidiary as its standard input, output and error.
    public func process(_ path: String, _ arguments: [String]) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let terminal = FileHandle(fileDescriptor: subsidiary, closeOnDealloc: false)
        process.standardInput = terminal
        process.standardOutput = terminal
        process.standardError = terminal
        return process
    }

    /// Reads the terminal's output until `needle` shows up (at most `timeout` seconds).
    public func waitForOutput(_ needle: String, timeout: TimeInterval = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !output.contains(needle) {
            guard Date() < deadline else {
                throw Failure(description: "no \(String(reflecting: needle)) on the terminal: \(output)")
            }
            var fds = [pollfd(fd: manager, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 1, 100) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { read(manager, $0.baseAddress, $0.count) }
            if n > 0 { output += String(decoding: buffer[..<n], as: UTF8.self) }
        }
    }

    /// Forgets the output read so far.
    public func clearOutput() { output = "" }

    /// Types `text` on the terminal.
    public func write(_ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(manager, $0.baseAddress, $0.count) }
    }

    /// The subsidiary's settings now.
    public var settings: termios {
        var now = termios()
        tcgetattr(subsidiary, &now)
        return now
    }

    /// No line editing, no echo, no signals from keys.
    public var isRaw: Bool { settings.c_lflag & tcflag_t(ICANON | ECHO | ISIG) == 0 }

    /// The local, input and output modes are those the terminal was opened with.
    public var isRestored: Bool {
        let now = settings
        return now.c_lflag == original.c_lflag && now.c_iflag == original.c_iflag && now.c_oflag == original.c_oflag
    }
}
