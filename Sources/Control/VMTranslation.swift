import Hypervisor

/// How one guest virtual address translates on one vCPU: the `translate` reply
/// (`VirtualMachine.translationDump`). Addresses and descriptors are hex strings
/// (`"0x40081000"`), since 64-bit values do not survive every JSON reader as numbers.
public struct VMTranslation: Codable, Sendable, Equatable {
    /// One descriptor read of the walk, in the order the core read them.
    public struct Step: Codable, Sendable, Equatable {
        /// 1 or 2.
        public var stage: Int
        public var level: Int
        /// Where the descriptor was read: an IPA (stage 1) or a machine-physical address (stage 2).
        public var address: String
        public var descriptor: String

        public init(_ step: TranslationDump.Step) {
            stage = step.stage
            level = step.level
            address = hex(step.address)
            descriptor = hex(step.descriptor)
        }
    }

    public var name: String
    /// The VM's state when it was walked (a running VM's walk is not a snapshot).
    public var state: VirtualMachine.RunState
    public var vcpu: Int
    public var virtualAddress: String
    public var exceptionLevel: Int
    /// SCTLR_EL1.M: false means the VA is the IPA (no stage-1 steps).
    public var stage1Enabled: Bool
    public var steps: [Step]
    /// On success; also on a stage-2 fault (the IPA that faulted).
    public var ipa: String?
    /// On success: the machine-physical address and what a data access at the vCPU's EL may
    /// do there after both stages.
    public var physical: String?
    public var readable: Bool?
    public var writable: Bool?
    public var executable: Bool?
    /// Device memory at either stage.
    public var device: Bool?
    /// The stage-1 mapping is global (nG = 0), or stage 1 is off.
    public var global: Bool?
    /// On failure: `stage-1 translation fault, level 2`, `stage-2 access flag fault, level 3 on
    /// a stage-1 table walk`, and the like.
    public var fault: String?

    public init(name: String, state: VirtualMachine.RunState, vcpu: Int, dump: TranslationDump) {
        self.name = name
        self.state = state
        self.vcpu = vcpu
        virtualAddress = hex(dump.virtualAddress)
        exceptionLevel = dump.exceptionLevel
        stage1Enabled = dump.stage1Enabled
        steps = dump.steps.map(Step.init)
        ipa = dump.ipa.map(hex)
        physical = dump.physical.map(hex)
        readable = dump.readable
        writable = dump.writable
        executable = dump.executable
        device = dump.device
        global = dump.global
        fault = dump.fault
    }

    /// The table `armvisor translate` prints:
    ///
    ///     vm1 vcpu0 EL1  VA 0xffff000000001234  stage 1 on
    ///       stage 1 level 0  @ipa 0x40081000  desc 0x0000000040082003
    ///       stage 2 level 1  @pa  0x40c02008  desc 0x0000000040c04003
    ///       …
    ///       → IPA 0x40201234  PA 0x40201234  R W X  normal  global
    ///
    /// or, on a fault, `  → stage-1 translation fault, level 2`.
    public var report: String {
        var lines = [
            "\(name) vcpu\(vcpu) EL\(exceptionLevel)  VA \(virtualAddress)  stage 1 \(stage1Enabled ? "on" : "off")"
        ]
        let width = steps.map(\.address.count).max() ?? 0
        for step in steps {
            let at = step.stage == 1 ? "@ipa" : "@pa "
            let address = step.address.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append(
                "  stage \(step.stage) level \(step.level)  \(at) \(address)  desc \(Self.padded(step.descriptor))")
        }
        if let fault {
            lines.append("  → \(fault)" + (ipa.map { "  (IPA \($0))" } ?? ""))
        } else {
            func flag(_ value: Bool?, _ letter: String) -> String { value == true ? letter : "-" }
            let permissions = [flag(readable, "R"), flag(writable, "W"), flag(executable, "X")].joined(separator: " ")
            lines.append(
                "  → IPA \(ipa ?? "?")  PA \(physical ?? "?")  \(permissions)  \(device == true ? "device" : "normal")"
                    + "  \(global == false ? "non-global" : "global")")
        }
        return lines.joined(separator: "\n")
    }

    /// `0x` and 16 hex digits (a descriptor is read as one 64-bit word).
    private static func padded(_ hex: String) -> String {
        let digits = hex.hasPrefix("0x") ? hex.dropFirst(2) : Substring(hex)
        return "0x" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}
