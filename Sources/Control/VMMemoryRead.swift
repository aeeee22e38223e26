import Hypervisor

/// Bytes of guest RAM: the `read-memory` reply. `data` is the bytes as lower-case hex digits
/// without separators (two per byte).
public struct VMMemoryRead: Codable, Sendable, Equatable {
    public var name: String
    /// `created`, `paused` or `stopped`: a running VM's memory is not read.
    public var state: VirtualMachine.RunState
    /// The guest-physical address of the first byte (`"0x40080000"`).
    public var address: String
    public var length: Int
    public var data: String

    /// The most one `read-memory` returns.
    public static let maximumLength = 65536

    public init(name: String, state: VirtualMachine.RunState, address: UInt64, bytes: [UInt8]) {
        self.name = name
        self.state = state
        self.address = hex(address)
        length = bytes.count
        data = Self.hexDigits(bytes)
    }

    /// `data` decoded; nil when it is not an even number of hex digits.
    public var bytes: [UInt8]? {
        let digits = Array(data.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = Self.nibble(digits[index]), let low = Self.nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    /// Lower-case hex digits, two per byte, no separators.
    static func hexDigits(_ bytes: [UInt8]) -> String {
        let alphabet = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(alphabet[Int(byte >> 4)])
            text.append(alphabet[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// `bytes` at guest-physical `address` as `xxd` prints them: the address (at least 8 hex
    /// digits), 16 bytes per line in groups of two, then the printable ASCII characters (`.` for
    /// the others):
    ///
    ///     40080000: 0000 80d2 0100 00d4 4865 6c6c 6f0a 0000  ........Hello...
    public static func hexdump(_ bytes: [UInt8], address: UInt64) -> String {
        let last = address &+ UInt64(max(bytes.count, 1) - 1)
        let width = max(8, String(last < address ? UInt64.max : last, radix: 16).count)
        let hexWidth = 16 * 2 + 7
        return stride(from: 0, to: bytes.count, by: 16).map { offset in
            let line = bytes[offset..<min(offset + 16, bytes.count)]
            let digits = String(address &+ UInt64(offset), radix: 16)
            let groups = stride(from: line.startIndex, to: line.endIndex, by: 2).map {
                hexDigits(Array(line[$0..<min($0 + 2, line.endIndex)]))
            }.joined(separator: " ")
            let ascii = String(line.map { (0x20...0x7E).contains($0) ? Character(UnicodeScalar($0)) : "." })
            return String(repeating: "0", count: max(0, width - digits.count)) + digits + ": " + groups
                + String(repeating: " ", count: hexWidth - groups.count) + "  " + ascii
        }.joined(separator: "\n")
    }
}

extension VMManager {
    /// `length` bytes of guest RAM from guest-physical `address`, read from host memory: a page
    /// the guest never touched reads as zeros and stays unmapped at stage 2. Legal when the VM
    /// is created, paused or stopped (a running guest changes memory under the read:
    /// `vm-not-paused`); the range must lie in guest RAM (`bad-request`).
    public func readMemory(name: String, address: UInt64, length: Int) throws(ControlError) -> VMMemoryRead {
        let entry = try lookup(name)
        let state = entry.vm.state
        guard state != .running else {
            throw ControlError(.vmNotPaused, "VM '\(name)' is running; pause it to read its memory")
        }
        guard (1...VMMemoryRead.maximumLength).contains(length) else {
            throw ControlError(.badRequest, VMMemoryRead.lengthMessage("\(length)"))
        }
        guard let bytes = entry.vm.memory.read(address, count: length) else {
            let memory = entry.vm.memory
            let ramLast = memory.ramBase + memory.ramSize - 1
            let (last, overflow) = address.addingReportingOverflow(UInt64(length - 1))
            let range = overflow ? "from \(hex(address)) past 2^64" : "\(hex(address))–\(hex(last))"
            let partly = address <= ramLast && (overflow || last >= memory.ramBase)
            throw ControlError(
                .badRequest,
                "range \(range) is not \(partly ? "entirely " : "")guest RAM (RAM is \(hex(memory.ramBase))–\(hex(ramLast)))"
            )
        }
        return VMMemoryRead(name: name, state: state, address: address, bytes: bytes)
    }
}

extension VMMemoryRead {
    /// The `bad-request` message for a length out of range (`length` as the request had it).
    static func lengthMessage(_ length: String) -> String {
        "argument 'length' must be from 1 to \(maximumLength) bytes, not \(length)"
    }
}

extension ControlArguments {
    /// The `read-memory` length: an integer from 1 to `VMMemoryRead.maximumLength`.
    func readLength(_ key: String) throws(ControlError) -> Int {
        guard let value = members[key], value != .null else {
            throw ControlError(.badRequest, "missing argument '\(key)'")
        }
        switch value {
        case .double(let double) where double.rounded() != double:
            throw ControlError(.badRequest, "argument '\(key)' must be an integer, not \(value.jsonText())")
        case .integer, .double:
            guard let length = value.integerValue.flatMap({ Int(exactly: $0) }),
                (1...VMMemoryRead.maximumLength).contains(length)
            else { throw ControlError(.badRequest, VMMemoryRead.lengthMessage(value.jsonText())) }
            return length
        default:
            throw ControlError(.badRequest, "argument '\(key)' must be an integer, not \(value.typeName)")
        }
    }
}
