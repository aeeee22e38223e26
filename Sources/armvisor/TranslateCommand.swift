import ArgumentParser
import Control

/// `armvisor translate NAME ADDRESS [--vcpu N]`: how a guest virtual address translates, with
/// every descriptor of the stage-1 and stage-2 walks.
struct Translate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how a guest virtual address translates through stage 1 and stage 2.",
        discussion: """
            Walks the guest's and the highvisor's tables as the vCPU would for a data read at its current \
            exception level, without touching its TLB, faulting the guest or mapping anything. A running VM's \
            registers may change under the walk: pause it first for a consistent view.
            """)
    @Argument(help: "VM name.") var name: String
    @Argument(help: "Guest virtual address: 0x-prefixed hex or decimal; '_' separators are ignored.")
    var address: String
    @Option(help: "The vCPU whose registers (SCTLR/TCR/TTBRn_EL1, EL) are used.") var vcpu: Int?
    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard Self.parseAddress(address) != nil else {
            throw ValidationError("'\(address)' is not an address: use 0x-prefixed hex or decimal, at most 64 bits")
        }
    }

    func run() throws {
        guard let value = Self.parseAddress(address) else { return }
        var arguments: [String: JSONValue] = [
            "name": .string(name), "address": .string("0x" + String(value, radix: 16)),
        ]
        if let vcpu { arguments["vcpu"] = .integer(Int64(vcpu)) }
        try client.print(client.call("translate", arguments)) { result in
            guard let translation = try? result.decode(as: VMTranslation.self) else {
                throw UnexpectedReply("no valid translation")
            }
            return translation.report
        }
    }

    /// `0x1234`, `0X1234`, `0xffff_0000_0000_1234` or `4660`; nil for anything else or more
    /// than 64 bits.
    static func parseAddress(_ text: String) -> UInt64? {
        let cleaned = text.filter { $0 != "_" }
        let isHex = cleaned.hasPrefix("0x") || cleaned.hasPrefix("0X")
        let digits = isHex ? cleaned.dropFirst(2) : Substring(cleaned)
        guard !digits.isEmpty, digits.allSatisfy({ isHex ? $0.isHexDigit : $0.isASCII && $0.isNumber }) else {
            return nil
        }
        return UInt64(digits, radix: isHex ? 16 : 10)
    }
}
