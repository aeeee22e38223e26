import Hypervisor
import Platform

/// A VM's state as `list` and the lifecycle replies report it: the VM's own state, or
/// `inactive` for a definition that has no VM (not started since the daemon started, or destroyed).
public enum VMState: String, Codable, Sendable {
    case created, running, paused, stopped, inactive

    public init(_ state: VirtualMachine.RunState) {
        switch state {
        case .created: self = .created
        case .running: self = .running
        case .paused: self = .paused
        case .stopped: self = .stopped
        }
    }
}

/// A VM's name and state: the `create`/`start`/`pause`/`resume` reply and an element of
/// `list`'s `vms`. `defined` and `autostart` are present for defined VMs only.
public struct VMSummary: Codable, Sendable, Equatable {
    public var name: String
    public var state: VMState
    public var defined: Bool?
    public var autostart: Bool?

    public init(name: String, state: VMState, definition: VMDefinition? = nil) {
        self.name = name
        self.state = state
        if let definition {
            defined = true
            autostart = definition.autostart
        }
    }
}

/// How a VM ended: the `stop` and `wait` reply.
public struct VMStopSummary: Codable, Sendable, Equatable {
    public var name: String
    public var state: VirtualMachine.RunState
    public var reason: StopReason
    public var detail: String

    public init(name: String, record: StopRecord) {
        self.name = name
        self.state = .stopped
        self.reason = record.reason
        self.detail = record.detail
    }
}

/// A VM's counters: the `stats` reply.
public struct VMStatsSummary: Codable, Sendable, Equatable {
    public var name: String
    public var state: VirtualMachine.RunState
    public var statistics: VMStatistics

    public init(name: String, state: VirtualMachine.RunState, statistics: VMStatistics) {
        self.name = name
        self.state = state
        self.statistics = statistics
    }
}

/// A VM's state, configuration, uptime and vCPUs: the `info` reply.
public struct VMInfo: Codable, Sendable, Equatable {
    /// One vCPU; MPIDR and PC are hex strings (`"0x40000004"`), since 64-bit values do not
    /// survive every JSON reader as numbers.
    public struct VCPU: Codable, Sendable, Equatable {
        public var index: Int
        public var mpidr: String
        public var state: VCPUInfo.State
        /// Present when the vCPU is paused or stopped.
        public var pc: String?

        public init(_ info: VCPUInfo) {
            index = info.index
            mpidr = hex(info.mpidr)
            state = info.state
            pc = info.pc.map(hex)
        }
    }

    public var name: String
    public var state: VMState
    /// The configuration the VM was created with (the daemon's console default filled in); for
    /// an `inactive` VM, its definition's.
    public var config: VMConfiguration
    /// Seconds since `start` (until the stop, for a stopped VM); 0 before it starts.
    public var uptimeSeconds: Double
    public var vcpus: [VCPU]
    /// How the VM ended (stopped VMs only).
    public var reason: StopReason?
    public var detail: String?
    /// Present for defined VMs only.
    public var defined: Bool?
    public var autostart: Bool?

    public init(
        name: String, state: VMState, configuration: VMConfiguration, uptimeSeconds: Double,
        vcpus: [VCPU], stop: StopRecord?, definition: VMDefinition? = nil
    ) {
        self.name = name
        self.state = state
        self.config = configuration
        self.uptimeSeconds = uptimeSeconds
        self.vcpus = vcpus
        reason = stop?.reason
        detail = stop?.detail
        if let definition {
            defined = true
            autostart = definition.autostart
        }
    }
}

/// `0x` and lower-case hex digits.
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
