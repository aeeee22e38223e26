import Foundation
import Synchronization

/// What a child process printed, collected by a reader of its own as it arrives (so the child
/// never blocks on a full pipe or terminal), and the waits on it that `InteractiveProcess`
/// and `TerminalProcess` share: each is woken by a chunk of output and bounded by a deadline —
/// no fixed sleeps.
final class ProcessOutput: Sendable {
    private let data = Mutex(Data())
    private let arrived = DispatchSemaphore(value: 0)

    /// Starts collecting what `handle` delivers.
    func collect(from handle: FileHandle) {
        handle.readabilityHandler = { [self] handle in
            let chunk = handle.availableData
            data.withLock { $0.append(chunk) }
            arrived.signal()
        }
    }

    var text: String { String(decoding: data.withLock { $0 }, as: UTF8.self) }
    var length: Int { data.withLock { $0.count } }

    /// Waits until `needle` appears after byte `mark` and returns the text from `mark` to the end
    /// of the needle; `failure` makes the error from the text seen when the wait ends.
    func waitFor(
        _ needle: String, after mark: Int, timeout: TimeInterval, process: Process,
        failure: (_ tail: String) -> any Error
    ) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let tail = String(decoding: data.withLock { $0 }.dropFirst(mark), as: UTF8.self)
            if let range = tail.range(of: needle) { return String(tail[..<range.upperBound]) }
            let left = deadline.timeIntervalSinceNow
            // A process that has exited may still have output in flight: one more look.
            guard left > 0, process.isRunning || arrived.wait(timeout: .now()) == .success else {
                throw failure(tail)
            }
            _ = arrived.wait(timeout: .now() + min(left, 1))
        }
    }

    /// Waits for `process` to exit; its exit status, or nil on timeout.
    func waitForExit(_ process: Process, timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            guard deadline.timeIntervalSinceNow > 0 else { return nil }
            _ = arrived.wait(timeout: .now() + 0.1)
        }
        return process.terminationStatus
    }
}
