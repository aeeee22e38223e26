import Foundation

/// A virtual machine's configuration: the JSON object of `armvisor run --config`, the daemon's
/// `create` command and the files in `Configs/` (docs/CONFIG.md).
///
/// Unknown keys are rejected, so a misspelt setting is an error rather than a silent default.
public struct VMConfiguration: Codable, Sendable, Equatable {
    /// Guest RAM size: bytes, or a number with a K, M or G suffix (binary units). Default 128M.
    public var memory: String?
    /// Number of vCPUs. Default 1.
    public var cpus: Int?
    /// Path of the guest image: an AArch64 ELF, a Linux arm64 `Image`, or a raw binary.
    public var kernel: String?
    /// Where the PL011 console goes: `stdio`, `file:PATH` or `null`. Default `stdio`.
    public var console: String?
    /// A flattened device tree to give the guest instead of the generated one.
    public var dtb: String?
    /// Firmware executed in place from the read-only flash at 0x0 (QEMU `-bios`), with the DTB
    /// at the start of RAM; instead of `kernel`.
    public var bios: String?
    /// An initial ramdisk for a Linux kernel, placed where QEMU places it and announced in
    /// `/chosen` (`linux,initrd-start`/`-end`).
    public var initrd: String?
    /// The kernel command line (`/chosen/bootargs`).
    public var append: String?
    /// Seconds a graceful `stop` (and the daemon's shutdown) waits, after pressing the power
    /// button, for the guest to power off through PSCI before it forces the stop. Default 30.
    public var stopTimeout: Double?

    public static let defaultMemory: UInt64 = 128 << 20
    public static let maximumMemory: UInt64 = 255 << 30
    public static let minimumMemory: UInt64 = 1 << 20
    public static let maximumCPUs = 1
    public static let defaultStopTimeout: Double = 30
    /// The longest `stop-timeout` accepted (one hour).
    public static let maximumStopTimeout: Double = 3600

    public init(
        memory: String? = nil, cpus: Int? = nil, kernel: String? = nil, console: String? = nil, dtb: String? = nil,
        bios: String? = nil, initrd: String? = nil, append: String? = nil, stopTimeout: Double? = nil
    ) {
        self.memory = memory
        self.cpus = cpus
        self.kernel = kernel
        self.console = console
        self.dtb = dtb
        self.bios = bios
        self.initrd = initrd
        self.append = append
        self.stopTimeout = stopTimeout
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case memory, cpus, kernel, console, dtb, bios, initrd, append
        case stopTimeout = "stop-timeout"
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        let all = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = all.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw ConfigurationError(
                "unknown configuration key '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        memory = try c.decodeIfPresent(String.self, forKey: .memory)
        cpus = try c.decodeIfPresent(Int.self, forKey: .cpus)
        kernel = try c.decodeIfPresent(String.self, forKey: .kernel)
        console = try c.decodeIfPresent(String.self, forKey: .console)
        dtb = try c.decodeIfPresent(String.self, forKey: .dtb)
        bios = try c.decodeIfPresent(String.self, forKey: .bios)
        initrd = try c.decodeIfPresent(String.self, forKey: .initrd)
        append = try c.decodeIfPresent(String.self, forKey: .append)
        stopTimeout = try c.decodeIfPresent(Double.self, forKey: .stopTimeout)
    }

    /// Reads a configuration file; errors name the file.
    public static func load(path: String) throws -> VMConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read configuration \(path): \(String(cString: strerror(errno)))")
        }
        do {
            return try JSONDecoder().decode(VMConfiguration.self, from: data)
        } catch let error as ConfigurationError {
            throw ConfigurationError("\(path): \(error.message)")
        } catch {
            throw ConfigurationError("\(path): not a valid configuration: \(Self.describe(error))")
        }
    }

    /// `other`'s settings where it has them, ours elsewhere (command-line flags over a file).
    public func overridden(by other: VMConfiguration) -> VMConfiguration {
        VMConfiguration(
            memory: other.memory ?? memory, cpus: other.cpus ?? cpus, kernel: other.kernel ?? kernel,
            console: other.console ?? console, dtb: other.dtb ?? dtb, bios: other.bios ?? bios,
            initrd: other.initrd ?? initrd, append: other.append ?? append,
            stopTimeout: other.stopTimeout ?? stopTimeout)
    }

    public func memoryBytes() throws -> UInt64 {
        guard let memory else { return Self.defaultMemory }
        guard let bytes = Self.parseSize(memory) else {
            throw ConfigurationError("invalid memory size '\(memory)' (expected bytes or a number with K, M or G)")
        }
        guard bytes >= Self.minimumMemory, bytes <= Self.maximumMemory else {
            throw ConfigurationError("memory size '\(memory)' is outside 1M...255G")
        }
        guard bytes % 4096 == 0 else {
            throw ConfigurationError("memory size '\(memory)' is not a multiple of 4 KiB")
        }
        return bytes
    }

    /// `stop-timeout` in seconds (the default when unset); 0 presses the button and forces at once.
    public func stopTimeoutSeconds() throws -> Double {
        guard let stopTimeout else { return Self.defaultStopTimeout }
        guard stopTimeout.isFinite, stopTimeout >= 0, stopTimeout <= Self.maximumStopTimeout else {
            throw ConfigurationError(
                "stop-timeout \(stopTimeout) is outside 0...\(Int(Self.maximumStopTimeout)) seconds")
        }
        return stopTimeout
    }

    public func cpuCount() throws -> Int {
        let n = cpus ?? 1
        guard (1...Self.maximumCPUs).contains(n) else {
            throw ConfigurationError("cpus = \(n): this build supports 1...\(Self.maximumCPUs) vCPUs")
        }
        return n
    }

    /// Parses "4096", "512K", "128M", "2G" (binary multiples); nil when malformed or overflowing.
    public static func parseSize(_ text: String) -> UInt64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let last = trimmed.last else { return nil }
        let shift: UInt64
        var digits = Substring(trimmed)
        switch last {
        case "K", "k": shift = 10
        case "M", "m": shift = 20
        case "G", "g": shift = 30
        default: shift = 0
        }
        if shift != 0 { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = UInt64(digits) else { return nil }
        let (result, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : result
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}

/// A configuration or image problem, as a one-line message naming the file and the reason.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
