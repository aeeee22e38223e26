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
    /// A 64 MiB file backing flash bank 1 at 0x0400_0000 (QEMU `-drive if=pflash,unit=1`, where
    /// firmware keeps its variables): a CFI flash the guest erases and programs, every change
    /// written to the file. Volatile flash without it.
    public var pflash: String?
    /// An initial ramdisk for a Linux kernel, placed where QEMU places it and announced in
    /// `/chosen` (`linux,initrd-start`/`-end`).
    public var initrd: String?
    /// The kernel command line (`/chosen/bootargs`).
    public var append: String?
    /// The PSCI conduit: `hvc` (default, as KVM) or `smc` (SMC calls are PSCI calls, as with
    /// QEMU's `virtualization=on` boards and firmware at EL3). Goes into the device tree's
    /// `/psci/method`.
    public var psci: String?
    /// The interrupt controller: `v3` (default: GICv3 with the system-register CPU interface)
    /// or `v2` (GICv2 with the memory-mapped CPU interface at 0x0801_0000, up to 8 vCPUs).
    public var gic: String?
    /// The guests' time base: `host` (default: CLOCK_MONOTONIC) or `icount` (deterministic:
    /// derived from instructions retired, WFI skips to the next timer deadline; 1 vCPU only).
    public var clock: String?
    /// Seconds a graceful `stop` (and the daemon's shutdown) waits, after pressing the power
    /// button, for the guest to power off through PSCI before it forces the stop. Default 30.
    public var stopTimeout: Double?
    /// Raw disk images, each a virtio-blk device (docs/CONFIG.md).
    public var disks: [Disk]?
    /// A virtio-rng device fed from the host's entropy pool. Default false.
    public var rng: Bool?
    /// The virtio-mmio register layout: 2 (modern, default) or 1 (legacy, QEMU virt's default).
    public var virtioVersion: Int?
    /// A virtio-console device on this backend (any `console` backend: `null`, `stdio`,
    /// `file:PATH`, `unix:PATH`, `pty`, `pty:LINK`); none by default.
    public var virtioConsole: String?

    /// A disk: a raw image file, read-write unless `readonly`.
    public struct Disk: Codable, Sendable, Equatable {
        public var path: String
        public var readonly: Bool?

        public init(path: String, readonly: Bool? = nil) {
            self.path = path
            self.readonly = readonly
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case path, readonly
        }

        public init(from decoder: any Decoder) throws {
            try VMConfiguration.rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue), in: "disk")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            path = try c.decode(String.self, forKey: .path)
            readonly = try c.decodeIfPresent(Bool.self, forKey: .readonly)
        }

        /// `--disk PATH[,readonly]`; nil when malformed.
        public static func parse(_ text: String) -> Disk? {
            var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            var readonly: Bool?
            if parts.count > 1, parts.last == "readonly" {
                readonly = true
                parts.removeLast()
            }
            let path = parts.joined(separator: ",")
            return path.isEmpty ? nil : Disk(path: path, readonly: readonly)
        }
    }

    public static let defaultMemory: UInt64 = 128 << 20
    public static let maximumMemory: UInt64 = 255 << 30
    public static let minimumMemory: UInt64 = 1 << 20
    public static let maximumCPUs = 8
    public static let defaultStopTimeout: Double = 30
    /// The longest `stop-timeout` accepted (one hour).
    public static let maximumStopTimeout: Double = 3600

    public init(
        memory: String? = nil, cpus: Int? = nil, kernel: String? = nil, console: String? = nil, dtb: String? = nil,
        bios: String? = nil, initrd: String? = nil, append: String? = nil, stopTimeout: Double? = nil,
        disks: [Disk]? = nil, rng: Bool? = nil, virtioVersion: Int? = nil, virtioConsole: String? = nil,
        psci: String? = nil, gic: String? = nil, clock: String? = nil, pflash: String? = nil
    ) {
        self.pflash = pflash
        self.clock = clock
        self.psci = psci
        self.gic = gic
        self.memory = memory
        self.cpus = cpus
        self.kernel = kernel
        self.console = console
        self.dtb = dtb
        self.bios = bios
        self.initrd = initrd
        self.append = append
        self.stopTimeout = stopTimeout
        self.disks = disks
        self.rng = rng
        self.virtioVersion = virtioVersion
        self.virtioConsole = virtioConsole
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case memory, cpus, kernel, console, dtb, bios, pflash, initrd, append, psci, gic, clock
        case stopTimeout = "stop-timeout"
        case disks, rng
        case virtioVersion = "virtio-version"
        case virtioConsole = "virtio-console"
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Throws for the first key of the object being decoded that is not in `known`.
    static func rejectUnknownKeys(_ decoder: any Decoder, known: [String], in what: String? = nil) throws {
        let all = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = all.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            let kind = what.map { "\($0) key" } ?? "configuration key"
            throw ConfigurationError("unknown \(kind) '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
    }

    public init(from decoder: any Decoder) throws {
        try Self.rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        memory = try c.decodeIfPresent(String.self, forKey: .memory)
        cpus = try c.decodeIfPresent(Int.self, forKey: .cpus)
        kernel = try c.decodeIfPresent(String.self, forKey: .kernel)
        console = try c.decodeIfPresent(String.self, forKey: .console)
        dtb = try c.decodeIfPresent(String.self, forKey: .dtb)
        bios = try c.decodeIfPresent(String.self, forKey: .bios)
        pflash = try c.decodeIfPresent(String.self, forKey: .pflash)
        initrd = try c.decodeIfPresent(String.self, forKey: .initrd)
        append = try c.decodeIfPresent(String.self, forKey: .append)
        psci = try c.decodeIfPresent(String.self, forKey: .psci)
        gic = try c.decodeIfPresent(String.self, forKey: .gic)
        clock = try c.decodeIfPresent(String.self, forKey: .clock)
        stopTimeout = try c.decodeIfPresent(Double.self, forKey: .stopTimeout)
        disks = try c.decodeIfPresent([Disk].self, forKey: .disks)
        rng = try c.decodeIfPresent(Bool.self, forKey: .rng)
        virtioVersion = try c.decodeIfPresent(Int.self, forKey: .virtioVersion)
        virtioConsole = try c.decodeIfPresent(String.self, forKey: .virtioConsole)
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
            stopTimeout: other.stopTimeout ?? stopTimeout, disks: other.disks ?? disks, rng: other.rng ?? rng,
            virtioVersion: other.virtioVersion ?? virtioVersion, virtioConsole: other.virtioConsole ?? virtioConsole,
            psci: other.psci ?? psci, gic: other.gic ?? gic, clock: other.clock ?? clock,
            pflash: other.pflash ?? pflash)
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

    /// The PSCI conduit named by `psci`.
    public enum PSCIConduit: String, Sendable {
        case hvc, smc
    }

    public func psciConduit() throws -> PSCIConduit {
        guard let psci else { return .hvc }
        guard let conduit = PSCIConduit(rawValue: psci) else {
            throw ConfigurationError("invalid psci '\(psci)' (expected hvc or smc)")
        }
        return conduit
    }

    /// The GIC architecture version named by `gic`: 2 or 3.
    public func gicVersion() throws -> Int {
        switch gic {
        case nil, "v3": return 3
        case "v2": return 2
        case let other?: throw ConfigurationError("invalid gic '\(other)' (expected v2 or v3)")
        }
    }

    /// True for `clock = "icount"`; checks the value and that the VM has one vCPU (parallel
    /// vCPU threads cannot be deterministic).
    public func usesInstructionCountClock() throws -> Bool {
        switch clock {
        case nil, "host": return false
        case "icount":
            guard (cpus ?? 1) == 1 else {
                throw ConfigurationError("clock = icount needs cpus = 1 (vCPUs run in parallel on host threads)")
            }
            return true
        case let other?: throw ConfigurationError("invalid clock '\(other)' (expected host or icount)")
        }
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
