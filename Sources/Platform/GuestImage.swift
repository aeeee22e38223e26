import Foundation

/// A guest image parsed and placed, but not yet copied into RAM: what goes where and where the
/// boot vCPU starts. Placement follows QEMU's `-kernel` loader (`hw/arm/boot.c`) so addresses
/// the guest sees match QEMU's.
public struct GuestImage: Sendable {
    public enum Kind: String, Sendable {
        case elf, linuxImage = "linux-image", raw
    }

    public struct Segment: Sendable {
        public var address: UInt64
        public var bytes: [UInt8]
        /// Size in memory; bytes beyond `bytes.count` are zero (ELF .bss).
        public var memorySize: UInt64
    }

    public var kind: Kind
    public var entry: UInt64
    public var segments: [Segment]

    /// Lowest and highest (exclusive) guest-physical address the image occupies.
    public var lowestAddress: UInt64 { segments.map(\.address).min() ?? entry }
    public var endAddress: UInt64 { segments.map { $0.address + $0.memorySize }.max() ?? entry }

    /// Parses `path` as an ELF64 for AArch64, a Linux arm64 `Image`, or a raw binary, in that
    /// order (QEMU's order of attempts), after gunzipping it if it is gzip-compressed, and
    /// checks it fits in RAM.
    public static func load(path: String, ramBase: UInt64, ramSize: UInt64) throws -> GuestImage {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigurationError("cannot read kernel \(path): No such file or directory")
        }
        guard !isDirectory.boolValue else { throw ConfigurationError("cannot read kernel \(path): Is a directory") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read kernel \(path): \(String(cString: strerror(errno)))")
        }
        var bytes = [UInt8](data)
        guard !bytes.isEmpty else { throw ConfigurationError("kernel \(path) is empty") }
        let image: GuestImage
        do {
            if bytes.starts(with: Gzip.magic) { bytes = try Gzip.inflate(bytes, limit: ramSize) }
            if bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]) {
                image = try ELFImage.parse(bytes)
            } else if let linux = try LinuxImage.parse(bytes, ramBase: ramBase) {
                image = linux
            } else {
                image = GuestImage(
                    kind: .raw, entry: LoadAddress.rawImage,
                    segments: [Segment(address: LoadAddress.rawImage, bytes: bytes, memorySize: UInt64(bytes.count))])
            }
        } catch let error as ConfigurationError {
            throw ConfigurationError("kernel \(path): \(error.message)")
        }
        let ramEnd = ramBase + ramSize
        for segment in image.segments {
            let (end, overflow) = segment.address.addingReportingOverflow(segment.memorySize)
            guard segment.address >= ramBase, !overflow, end <= ramEnd else {
                throw ConfigurationError(
                    "kernel \(path): \(image.kind.rawValue) segment at 0x\(String(segment.address, radix: 16)) "
                        + "(\(segment.memorySize) bytes) does not fit in RAM 0x\(String(ramBase, radix: 16))"
                        + "-0x\(String(ramEnd, radix: 16)) (\(ramSize >> 20) MiB)")
            }
        }
        return image
    }
}

/// ELF64 little-endian executables for EM_AARCH64 (System V gABI; AArch64 ELF ABI): PT_LOAD
/// segments at their physical addresses, entry at `e_entry`.
enum ELFImage {
    static let machineAArch64: UInt16 = 183
    static let programHeaderLoad: UInt32 = 1

    static func parse(_ bytes: [UInt8]) throws -> GuestImage {
        guard bytes.count >= 64 else { throw ConfigurationError("truncated ELF header (\(bytes.count) bytes)") }
        guard bytes[4] == 2 else { throw ConfigurationError("not a 64-bit ELF (EI_CLASS \(bytes[4]))") }
        guard bytes[5] == 1 else { throw ConfigurationError("not a little-endian ELF (EI_DATA \(bytes[5]))") }
        let machine = read16(bytes, 18)
        guard machine == machineAArch64 else {
            throw ConfigurationError("ELF is for machine \(machine), not AArch64 (183)")
        }
        let entry = read64(bytes, 24)
        let phoff = read64(bytes, 32)
        let phentsize = UInt64(read16(bytes, 54))
        let phnum = UInt64(read16(bytes, 56))
        guard phentsize >= 56 || phnum == 0 else { throw ConfigurationError("bad program header size \(phentsize)") }
        let (tableEnd, overflow) = phoff.addingReportingOverflow(phentsize * phnum)
        guard !overflow, tableEnd <= UInt64(bytes.count) else {
            throw ConfigurationError("truncated ELF: program headers end past the file (\(bytes.count) bytes)")
        }
        var segments: [GuestImage.Segment] = []
        for index in 0..<phnum {
            let header = Int(phoff + index * phentsize)
            guard read32(bytes, header) == programHeaderLoad else { continue }
            let offset = read64(bytes, header + 8)
            let physical = read64(bytes, header + 24)
            let fileSize = read64(bytes, header + 32)
            let memorySize = read64(bytes, header + 40)
            let (end, overflow) = offset.addingReportingOverflow(fileSize)
            guard !overflow, end <= UInt64(bytes.count) else {
                throw ConfigurationError("truncated ELF: segment \(index) ends past the file (\(bytes.count) bytes)")
            }
            guard fileSize <= memorySize else {
                throw ConfigurationError("ELF segment \(index) is larger in the file than in memory")
            }
            if memorySize == 0 { continue }
            segments.append(
                .init(address: physical, bytes: Array(bytes[Int(offset)..<Int(end)]), memorySize: memorySize))
        }
        guard !segments.isEmpty else { throw ConfigurationError("ELF has no loadable segment") }
        return GuestImage(kind: .elf, entry: entry, segments: segments)
    }
}

/// The arm64 Linux `Image` format (Documentation/arch/arm64/booting.rst): a 64-byte header with
/// "ARM\x64" at 0x38, `text_offset` at 0x08 and `image_size` at 0x10.
enum LinuxImage {
    static let magic: UInt32 = 0x644D_5241

    static func parse(_ bytes: [UInt8], ramBase: UInt64) throws -> GuestImage? {
        guard bytes.count >= 64, read32(bytes, 0x38) == magic else { return nil }
        let textOffset = read64(bytes, 0x08)
        let imageSize = read64(bytes, 0x10)
        let address: UInt64
        if imageSize == 0 {
            address = LoadAddress.rawImage
        } else {
            // QEMU: below 4 KiB the stub would overlap the image, so add 2 MiB (0x4020_0000).
            address = ramBase + (textOffset < 4096 ? textOffset + LoadAddress.twoMiB : textOffset)
        }
        let memorySize = max(UInt64(bytes.count), imageSize)
        return GuestImage(
            kind: .linuxImage, entry: address,
            segments: [.init(address: address, bytes: bytes, memorySize: memorySize)])
    }
}

@inline(__always) func read16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
@inline(__always) func read32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}
@inline(__always) func read64(_ b: [UInt8], _ i: Int) -> UInt64 {
    UInt64(read32(b, i)) | UInt64(read32(b, i + 4)) << 32
}
