import Foundation

/// A child process driven like a person at a terminal: text written to its standard input,
/// its standard output collected as it arrives, and waits for a given text to appear (woken by
/// each chunk of output, bounded by a deadline — no fixed sleeps).
public final class InteractiveProcess: @unchecked Sendable {
    public struct Timeout: Error, CustomStringConvertible {
        public let description: String
    }

    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let received = ProcessOutput()

    public init(_ path: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        received.collect(from: output.fileHandleForReading)
        try process.run()
    }

    deinit {
        output.fileHandleForReading.readabilityHandler = nil
        if process.isRunning { process.terminate() }
    }

    /// Everything printed so far.
    public var text: String { received.text }

    /// How many bytes have been printed so far (a mark for `waitFor(_:after:)`).
    public var length: Int { received.length }

    /// Sends `signal` (SIGINT, SIGTERM, …) to the process.
    public func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    public func send(_ text: String) {
        input.fileHandleForWriting.write(Data(text.utf8))
    }

    /// Waits until `needle` appears in the output after byte `mark`; returns the output from
    /// `mark` to the end of the needle.
    @discardableResult
    public func waitFor(_ needle: String, after mark: Int = 0, timeout: TimeInterval = 60) throws -> String {
        try received.waitFor(needle, after: mark, timeout: timeout, process: process) { tail in
            Timeout(description: "no \(String(reflecting: needle)) within \(timeout) s; output:\n\(tail)")
        }
    }

    /// Waits for the process to exit; its exit status, or nil on timeout.
    public func waitForExit(timeout: TimeInterval = 60) -> Int32? { received.waitForExit(process, timeout: timeout) }
}
