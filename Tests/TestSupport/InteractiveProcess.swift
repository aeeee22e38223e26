import Foundation
import Synchronization

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
    private final class Received: Sendable {
        let data = Mutex(Data())
    }
    private let received = Received()
    private let arrived = DispatchSemaphore(value: 0)

    public init(_ path: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [received, arrived] handle in
            let chunk = handle.availableData
            received.data.withLock { $0.append(chunk) }
            arrived.signal()
        }
        try process.run()
    }

    deinit {
        output.fileHandleForReading.readabilityHandler = nil
        if process.isRunning { process.terminate() }
    }

    /// Everything printed so far.
    public var text: String { String(decoding: received.data.withLock { $0 }, as: UTF8.self) }

    /// How many bytes have been printed so far (a mark for `waitFor(_:after:)`).
    public var length: Int { received.data.withLock { $0.count } }

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
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let all = received.data.withLock { $0 }
            let tail = String(decoding: all.dropFirst(mark), as: UTF8.self)
            if let range = tail.range(of: needle) { return String(tail[..<range.upperBound]) }
            let left = deadline.timeIntervalSinceNow
            guard left > 0, process.isRunning || arrived.wait(timeout: .now()) == .success else {
                throw Timeout(description: "no \(String(reflecting: needle)) within \(timeout) s; output:\n\(tail)")
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
