/// The rule for VM names: 1–64 characters of `[A-Za-z0-9._-]`, not starting with `.` or `-`
/// (so a name is always a safe file-name component, e.g. of `<state-dir>/<name>.console.log`).
public enum VMName {
    public static let maximumLength = 64

    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...maximumLength).contains(bytes.count), let first = bytes.first,
            first != UInt8(ascii: "."), first != UInt8(ascii: "-")
        else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }

    /// Throws `invalid-name` unless `name` follows the rule.
    public static func validate(_ name: String) throws(ControlError) {
        guard isValid(name) else {
            throw ControlError(
                .invalidName,
                "invalid VM name \(String(reflecting: name).prefix(80)): use 1-\(maximumLength) characters "
                    + "of A-Z a-z 0-9 . _ - not starting with '.' or '-'")
        }
    }
}
