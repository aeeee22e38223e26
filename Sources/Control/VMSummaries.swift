import Hypervisor

/// A VM's name and state: the `create`/`start` reply and an element of `list`'s `vms`.
public struct VMSummary: Codable, Sendable, Equatable {
    public var name: String
    public var state: VirtualMachine.RunState

    public init(name: String, state: VirtualMachine.RunState) {
        self.name = name
        self.state = state
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
