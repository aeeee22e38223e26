import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A child process on a pseudo-terminal, driven like a person at a real terminal: keys typed
/// on the manager side, everything the terminal shows collected as it arrives by a reader of
/// its own (so the program never blocks on a full terminal), and waits for a given text.
/// The same waits as `InteractiveProcess`, which uses pipes.
public final class TerminalProcess: @unchecked Sendable {
    public let terminal: PseudoTerminal
    private let process: Process
    private let reader: FileHandle
    private final class Received: Sendable {
        let data = Mutex(Data())
    }
    private let received = Received()
    private let arrived = DispatchSemaphore(value: 0)

    public init(_ path: String, _ arguments: [String]) throws {
        terminal = try PseudoTerminal()
        process = terminal.process(path, arguments)
        reader = FileHandle(fileDescriptor: terminal.manager, closeOnDealloc: false)
        reader.readabilityHandler = { [received, arrived] handle in
            let chunk = handle.availableData
            received.data.withLock { $0.append(chunk) }
            arrived.signal()
        }
        try process.run()
    }

    deinit {
        reader.readabilityHandler = nil
        if process.isRunning { process.terminate() }
    }

    /// Everything the terminal showed so far.
    public var text: String { String(decoding: received.data.withLock { $0 }, as: UTF8.self) }

    /// How many bytes the terminal showed so far (a mark for `waitFor(_:after:)`).
    public var length: Int { received.data.withLock { $0.count } }

    /// Types `text`.
    public func send(_ text: String) { terminal.write(text) }

    /// Sends `signal` to the process.
    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits until `needle` appears after byte `mark`; returns the text from `mark` to the end of
    /// the needle.
    @discardableResult
    public func waitFor(_ needle: String, after mark: Int = 0, timeout: TimeInterval = 60) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let tail = String(decoding: received.data.withLock { $0 }.dropFirst(mark), as: UTF8.self)
            if let range = tail.range(of: needle) { return String(tail[..<range.upperBound]) }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else {
                throw PseudoTerminal.Failure(
                    description: "no \(String(reflecting: needle)) within \(timeout) s on the terminal:\n\(tail)")
            }
            _ = arrived.wait(timeout: .now() + min(left, 1))
        }
    }

    /// Waits for the process to exit; its exit status, or nil on timeout.
    public func waitForExit(timeout: TimeInterval = 60) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            guard deadline.timeIntervalSinceNow > 0 else { return nil }
            _ = arrived.wait(timeout: .now() + 0.1)
        }
        return process.terminationStatus
    }
}
