import ArgumentParser
import Backends
import Control
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `armvisor console NAME`: an interactive console on a VM's PL011 (the protocol's `console`
/// command). The terminal goes raw (every key goes to the guest, Ctrl-C included) and comes
/// back as it was on every way out; the escape key (Ctrl-] by default, as in telnet and virsh)
/// detaches. Without a terminal on standard input it works the same, and the end of standard
/// input detaches too.
struct Console: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach to a VM's console (detach with Ctrl-]).",
        discussion: """
            Guest output is shown as it comes and what you type goes to the guest's UART. Press \
            the escape key (Ctrl-] unless --escape says otherwise) to detach; the VM keeps \
            running, and you can attach again at any time. Several consoles may be attached to \
            one VM at once: each sees all output and all of them type into the guest. The console \
            ends by itself when the VM stops.
            """)

    @Argument(help: "VM name.") var name: String
    @Option(help: "The detach key, as ^X (Ctrl-X): ^] (default), ^A ... ^Z, ^\\, ^^, ^_.")
    var escape = "^]"
    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard Self.escapeByte(escape) != nil else {
            throw ValidationError("--escape must be ^ followed by one of A-Z [ \\ ] ^ _ (e.g. ^]), not '\(escape)'")
        }
    }

    /// The control byte `^X` stands for.
    static func escapeByte(_ text: String) -> UInt8? {
        let bytes = Array(text.utf8)
        guard bytes.count == 2, bytes[0] == UInt8(ascii: "^") else { return nil }
        let key = bytes[1] >= UInt8(ascii: "a") && bytes[1] <= UInt8(ascii: "z") ? bytes[1] - 32 : bytes[1]
        guard key >= 0x40, key <= 0x5F else { return nil }
        return key & 0x1F
    }

    func run() throws {
        let connection = try ControlClient(socketPath: client.socketPath)
        let (_, pending) = try connection.attachConsole(name: name)
        let terminal = RawTerminal.enter()
        defer { terminal?.restore() }
        let newline = terminal == nil ? "\n" : "\r\n"
        note("Connected to VM '\(name)' (escape character is \(escape))\(newline)")
        writeOut(pending)
        let end = relay(socket: connection.fileDescriptor, escape: Self.escapeByte(escape) ?? 0x1D)
        switch end {
        case .detached:
            note("\(newline)Detached from VM '\(name)'.\n")
        case .closed:
            note("\(newline)The console of VM '\(name)' closed (the VM stopped).\n")
        }
    }

    enum End { case detached, closed }

    /// Copies standard input to the socket and the socket to standard output until the escape
    /// key, the end of standard input, or the daemon closing the console.
    private func relay(socket: Int32, escape: UInt8) -> End {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var fds = [
                pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                return .closed
            }
            if fds[1].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return .closed }
                writeOut(Array(buffer[..<n]))
            }
            if fds[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    shutdown(socket, Int32(SHUT_WR))
                    return .detached
                }
                let typed = buffer[..<n]
                if let at = typed.firstIndex(of: escape) {
                    sendAll(socket, Array(typed[..<at]))
                    shutdown(socket, Int32(SHUT_WR))
                    return .detached
                }
                guard sendAll(socket, Array(typed)) else { return .closed }
            }
        }
    }

    @discardableResult
    private func sendAll(_ socket: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    private func writeOut(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            offset += n
        }
    }

    private func note(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
