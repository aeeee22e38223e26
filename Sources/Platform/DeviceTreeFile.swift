import CFDT
import Foundation

/// A device tree supplied by the user (`dtb` / `--dtb`), checked with libfdt before a guest sees
/// it (`fdt_check_header`, and the blob must be as long as its header says).
public enum DeviceTreeFile {
    /// The Linux boot protocol limits the DTB to 2 MiB (Documentation/arch/arm64/booting.rst).
    public static let maximumSize = 2 << 20

    public static func load(path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read device tree \(path): \(String(cString: strerror(errno)))")
        }
        guard data.count <= maximumSize else {
            throw ConfigurationError("device tree \(path) is \(data.count) bytes; the limit is 2 MiB")
        }
        var bytes = [UInt8](data)
        // libfdt reads the header's fields, so give it at least a header's worth of bytes.
        if bytes.count < 64 { bytes += [UInt8](repeating: 0, count: 64 - bytes.count) }
        let status = bytes.withUnsafeBytes { fdt_check_header($0.baseAddress) }
        guard status == 0 else {
            throw ConfigurationError("device tree \(path): libfdt rejects it: \(String(cString: fdt_strerror(status)))")
        }
        let total = Int(
            UInt32(bigEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }))
        guard total <= data.count else {
            throw ConfigurationError(
                "device tree \(path) is truncated: its header says \(total) bytes, the file has \(data.count)")
        }
        return Array(bytes.prefix(total))
    }
}
