import ArgumentParser
import Control
import Foundation

/// `armvisor read-memory NAME ADDRESS LENGTH`: bytes of guest RAM as a hexdump, or into a file.
struct ReadMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-memory",
        abstract: "Read guest RAM of a paused, stopped or not yet started VM.",
        discussion: """
            Prints the bytes as xxd does (address, 16 bytes in hex, ASCII); --output writes the raw bytes \
            to a file instead. ADDRESS is guest-physical. At most \(VMMemoryRead.maximumLength) bytes per call.
            """)
    @Argument(help: "VM name.") var name: String
    @Argument(help: "Guest-physical address: 0x-prefixed hex or decimal; '_' separators are ignored.")
    var address: String
    @Argument(help: "Number of bytes (1-\(VMMemoryRead.maximumLength)): decimal or 0x-prefixed hex.")
    var length: String
    @Option(help: "Write the raw bytes to this file instead of printing a hexdump.") var output: String?
    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard Translate.parseAddress(address) != nil else {
            throw ValidationError("'\(address)' is not an address: use 0x-prefixed hex or decimal, at most 64 bits")
        }
        guard let count = Translate.parseAddress(length), Int64(exactly: count) != nil else {
            throw ValidationError("'\(length)' is not a length: use decimal or 0x-prefixed hex")
        }
    }

    func run() throws {
        guard let start = Translate.parseAddress(address),
            let count = Translate.parseAddress(length).flatMap(Int64.init(exactly:))
        else { return }
        let result = try client.call(
            "read-memory",
            ["name": .string(name), "address": .string("0x" + String(start, radix: 16)), "length": .integer(count)])
        guard let read = try? result.decode(as: VMMemoryRead.self), let bytes = read.bytes else {
            throw UnexpectedReply("no valid memory read")
        }
        if let output {
            if let problem = Self.write(bytes, to: output) { Armvisor.fail("cannot write \(output): \(problem)") }
            if client.json { print(result.jsonText()) }
            return
        }
        try client.print(result) { _ in VMMemoryRead.hexdump(bytes, address: start) }
    }

    /// Writes `bytes` to `path` (created or truncated); the reason on failure.
    static func write(_ bytes: [UInt8], to path: String) -> String? {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            offset += written
        }
        return nil
    }
}
