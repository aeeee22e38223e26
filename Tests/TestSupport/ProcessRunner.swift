import Foundation

/// Runs an executable to completion and collects its exit status and output.
public enum ProcessRunner {
    public struct Result: Sendable {
        public let status: Int32
        public let reason: Process.TerminationReason
        public let stdout: String
        public let stderr: String
    }

    public struct Timeout: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `path` with `arguments`; kills it and throws after `timeout` seconds.
    public static func run(_ path: String, _ arguments: [String], timeout: TimeInterval = 60) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        // Read both pipes concurrently so a chatty child never blocks on a full pipe.
        let outData = LockedData()
        let errData = LockedData()
        let readers = DispatchGroup()
        DispatchQueue.global().async(group: readers) { outData.set(out.fileHandleForReading.readDataToEndOfFile()) }
        DispatchQueue.global().async(group: readers) { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            finished.wait()
            readers.wait()
            throw Timeout(description: "\(path) \(arguments) did not finish within \(timeout) s")
        }
        readers.wait()
        return Result(
            status: process.terminationStatus, reason: process.terminationReason,
            stdout: String(decoding: outData.get(), as: UTF8.self),
            stderr: String(decoding: errData.get(), as: UTF8.self))
    }
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}
