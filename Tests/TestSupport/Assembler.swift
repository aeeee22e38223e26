import Foundation

/// Assembles AArch64 source with the cross toolchain (`aarch64-linux-gnu-as`), so instruction
/// encodings in tests come from the GNU assembler, not from our own decoder's view of them.
public enum CrossAssembler {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Assembles `lines` (one instruction or directive each) and returns the .text words.
    public static func assemble(_ lines: [String]) throws -> [UInt32] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("armvisor-as-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("t.s")
        let object = dir.appendingPathComponent("t.o")
        let binary = dir.appendingPathComponent("t.bin")
        try (".arch armv8-a+crc\n.text\n" + lines.joined(separator: "\n") + "\n").write(
            to: source, atomically: true, encoding: .utf8)
        try run("aarch64-linux-gnu-as", [source.path, "-o", object.path])
        try run("aarch64-linux-gnu-objcopy", ["-O", "binary", "-j", ".text", object.path, binary.path])
        let data = try Data(contentsOf: binary)
        let bytes = [UInt8](data)
        var words: [UInt32] = []
        var i = 0
        while i + 3 < bytes.count {
            let low = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8
            let high = UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
            words.append(low | high)
            i += 4
        }
        return words
    }

    /// Assembles each line separately: one encoding per instruction.
    public static func encode(_ instructions: [String]) throws -> [UInt32] {
        let words = try assemble(instructions)
        guard words.count == instructions.count else {
            throw Failure(description: "expected \(instructions.count) words, got \(words.count)")
        }
        return words
    }

    static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let errors = Pipe()
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot run \(tool): \(error) — run scripts/bootstrap")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(tool) failed (\(process.terminationStatus)): \(message)")
        }
    }
}
