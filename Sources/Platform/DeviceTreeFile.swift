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

    /// A user's tree with its /chosen node patched for this boot, as QEMU `hw/arm/boot.c`
    /// `arm_load_dtb` does with libfdt's read-write API (`fdt_open_into`, `fdt_add_subnode`,
    /// `fdt_setprop`, `fdt_pack`): `bootargs` when there is a command line, `linux,initrd-start`
    /// and `linux,initrd-end` (sized by the root's `#address-cells`, as QEMU does) when there is
    /// an initrd, `stdout-path` when the tree has none, and fresh `kaslr-seed` / `rng-seed`
    /// values (QEMU virt's `create_randomness`; fixed ones with `deterministicSeeds`). /chosen is created if missing.
    ///
    /// libfdt's full structure check (`fdt_check_full`) runs first, so a blob whose header is
    /// sound but whose structure block is not is a one-line error naming the file.
    public static func patchChosen(
        _ blob: [UInt8], path: String, bootargs: String?, initrd: Range<UInt64>?, stdoutPath: String,
        deterministicSeeds: Bool = false
    ) throws -> [UInt8] {
        func failure(_ what: String, _ code: Int32) -> ConfigurationError {
            ConfigurationError("device tree \(path): \(what): \(String(cString: fdt_strerror(code)))")
        }
        let checked = blob.withUnsafeBytes { fdt_check_full($0.baseAddress, $0.count) }
        guard checked == 0 else { throw failure("libfdt rejects it", checked) }
        // Room for the new properties (the seeds, the command line, the initrd cells, a node).
        let capacity = blob.count + (bootargs?.utf8.count ?? 0) + stdoutPath.utf8.count + 512
        var buffer = [UInt8](repeating: 0, count: capacity)
        return try buffer.withUnsafeMutableBytes { raw -> [UInt8] in
            guard let fdt = raw.baseAddress else { throw ConfigurationError("device tree \(path): empty") }
            let opened = blob.withUnsafeBytes { fdt_open_into($0.baseAddress, fdt, Int32(capacity)) }
            guard opened == 0 else { throw failure("libfdt cannot open it for editing", opened) }
            var chosen = fdt_path_offset(fdt, "/chosen")
            if chosen == -FDT_ERR_NOTFOUND { chosen = fdt_add_subnode(fdt, 0, "chosen") }
            guard chosen >= 0 else { throw failure("no /chosen node", chosen) }

            func set(_ name: String, _ bytes: [UInt8]) throws {
                let status = bytes.withUnsafeBytes { fdt_setprop(fdt, chosen, name, $0.baseAddress, Int32($0.count)) }
                guard status == 0 else { throw failure("cannot set /chosen/\(name)", status) }
            }
            func cells(_ value: UInt64, wide: Bool) -> [UInt8] {
                wide
                    ? withUnsafeBytes(of: value.bigEndian, Array.init)
                    : withUnsafeBytes(of: UInt32(truncatingIfNeeded: value).bigEndian, Array.init)
            }
            if let bootargs, !bootargs.isEmpty { try set("bootargs", Array(bootargs.utf8) + [0]) }
            if let initrd {
                var length: Int32 = 0
                let property = fdt_getprop(fdt, 0, "#address-cells", &length)
                // The Devicetree Specification's default is 2 when the root does not say.
                var addressCells: UInt32 = 2
                if let property, length == 4 {
                    addressCells = UInt32(bigEndian: property.loadUnaligned(as: UInt32.self))
                }
                if addressCells < 2 && initrd.upperBound > UInt64(UInt32.max) {
                    throw ConfigurationError(
                        "device tree \(path): its #address-cells of \(addressCells) cannot hold the initrd's address")
                }
                try set("linux,initrd-start", cells(initrd.lowerBound, wide: addressCells >= 2))
                try set("linux,initrd-end", cells(initrd.upperBound, wide: addressCells >= 2))
            }
            var length: Int32 = 0
            if fdt_getprop(fdt, chosen, "stdout-path", &length) == nil {
                try set("stdout-path", Array(stdoutPath.utf8) + [0])
            }
            try set("kaslr-seed", BoardDeviceTree.seedBytes(8, deterministic: deterministicSeeds))
            try set("rng-seed", BoardDeviceTree.seedBytes(32, deterministic: deterministicSeeds))
            let packed = fdt_pack(fdt)
            guard packed == 0 else { throw failure("libfdt cannot pack it", packed) }
            let total = Int(UInt32(bigEndian: UnsafeRawPointer(fdt).loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
            guard total <= maximumSize else {
                throw ConfigurationError("device tree \(path) is \(total) bytes once patched; the limit is 2 MiB")
            }
            return Array(UnsafeRawBufferPointer(start: fdt, count: min(total, capacity)))
        }
    }
}
