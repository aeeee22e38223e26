import Foundation

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
    private let output = ProcessOutput()

    public init(_ path: String, _ arguments: [String]) throws {
        terminal = try PseudoTerminal()
        process = terminal.process(path, arguments)
        reader = FileHandle(fileDescriptor: terminal.manager, closeOnDealloc: false)
        output.collect(from: reader)
        try process.run()
    }

    deinit {
        reader.readabilityHandler = nil
        if process.isRunning { process.terminate() }
    }

    /// Everything the terminal showed so far.
    public var text: String { output.text }

    /// How many bytes the terminal showed so far (a mark for `waitFor(_:after:)`).
    public var length: Int { output.length }

    /// Types `text`.
    public func send(_ text: String) { terminal.write(text) }

    /// Sends `signal` to the process.
    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits until `needle` appears after byte `mark`; returns the text from `mark` to the end of
    /// the needle.
    @discardableResult
    public func waitFor(_ needle: String, after mark: Int = 0, timeout: TimeInterval = 60) throws -> String {
        try output.waitFor(needle, after: mark, timeout: timeout, process: process) { tail in
            PseudoTerminal.Failure(
                description: "no \(String(reflecting: needle)) within \(timeout) s on the terminal:\n\(tail)")
        }
    }

    /// Waits for the process to exit; its exit status, or nil on timeout.
    public func waitForExit(timeout: TimeInterval = 60) -> Int32? { output.waitForExit(process, timeout: timeout) }
}
