import AArch64
import Dispatch
import Foundation
import Synchronization

/// A virtual machine: guest RAM, the MMIO bus with its devices, and its vCPUs.
///
/// Lock order: `VirtualMachine.lifecycle` is the only lock here and is never held while calling
/// out (hooks, waiters and vCPU kicks run after it is released). vCPU threads take it only when
/// they stop.
public final class VirtualMachine: @unchecked Sendable {
    /// Lifecycle state, as the control protocol reports it.
    public enum RunState: String, Codable, Sendable {
        case created, running, stopped
    }

    public struct StateError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    private struct Lifecycle {
        var state: RunState = .created
        var stop: StopRecord?
        var startedAt: ContinuousClock.Instant?
        var stoppedAt: ContinuousClock.Instant?
        var stopRequested = false
        var runningVCPUs = 0
        var stopHandlers: [@Sendable (StopRecord) -> Void] = []
    }

    public let name: String
    public let memory: MachineMemory
    public let bus: MMIOBus
    public private(set) var vcpus: [VCPU] = []
    private let lifecycle = Mutex(Lifecycle())
    private let stopped = DispatchGroup()
    /// Work to do after every vCPU has stopped and before waiters are told (e.g. drain consoles).
    private let shutdownHooks: [@Sendable () -> Void]

    public init(
        name: String, memory: MachineMemory, bus: MMIOBus, vcpuCount: Int = 1,
        exitTable: ExitTable = .standard, shutdownHooks: [@Sendable () -> Void] = []
    ) {
        self.name = name
        self.memory = memory
        self.bus = bus
        self.shutdownHooks = shutdownHooks
        stopped.enter()
        vcpus = (0..<max(vcpuCount, 1)).map {
            VCPU(index: $0, vm: self, memory: memory, bus: bus, exitTable: exitTable)
        }
        for vcpu in vcpus { vcpu.cpu.state.pointee.mpidr = vcpu.mpidr }
    }

    public var state: RunState { lifecycle.withLock { $0.state } }
    public var stopRecord: StopRecord? { lifecycle.withLock { $0.stop } }
    var stopRequested: Bool { lifecycle.withLock { $0.stopRequested } }

    public func vcpu(mpidr: UInt64) -> VCPU? {
        vcpus.first { $0.mpidr & 0xFF_00FF_FFFF == mpidr & 0xFF_00FF_FFFF }
    }

    /// Sets the boot vCPU's entry state (Linux boot protocol: EL1h, MMU off, DAIF masked, X0).
    public func setBootState(entry: UInt64, x0: UInt64) {
        vcpus[0].cpu.reset(entry: entry, x0: x0, mpidr: vcpus[0].mpidr)
    }

    /// Starts the boot vCPU. Legal only in `created`.
    public func start() throws {
        try lifecycle.withLock { life in
            guard life.state == .created else {
                throw StateError(message: "VM '\(name)' is \(life.state.rawValue); only a created VM can start")
            }
            life.state = .running
            life.startedAt = .now
            life.runningVCPUs = 1
        }
        vcpus[0].start { [self] _, record in vcpuFinished(record) }
    }

    /// Requests an immediate stop (`killed`); every vCPU leaves at its next block boundary.
    /// Harmless when the VM is not running.
    public func requestStop() {
        let kick = lifecycle.withLock { life -> Bool in
            guard life.state == .running, !life.stopRequested else { return false }
            life.stopRequested = true
            return true
        }
        if kick { for vcpu in vcpus { vcpu.kick() } }
    }

    private func vcpuFinished(_ record: StopRecord?) {
        var first = false
        let done = lifecycle.withLock { life -> Bool in
            if let record, life.stop == nil {
                life.stop = record
                first = true
            }
            life.stopRequested = true
            life.runningVCPUs -= 1
            return life.runningVCPUs == 0
        }
        if first { for vcpu in vcpus { vcpu.kick() } }
        guard done else { return }
        for hook in shutdownHooks { hook() }
        let (record, handlers) = lifecycle.withLock { life in
            let record = life.stop ?? StopRecord(reason: .killed, detail: "stopped on request")
            life.stop = record
            life.state = .stopped
            life.stoppedAt = .now
            let handlers = life.stopHandlers
            life.stopHandlers = []
            return (record, handlers)
        }
        for handler in handlers { handler(record) }
        stopped.leave()
    }

    /// Calls `handler` once the VM has stopped (at once if it already has).
    public func onStop(_ handler: @escaping @Sendable (StopRecord) -> Void) {
        let record = lifecycle.withLock { life -> StopRecord? in
            if life.state == .stopped { return life.stop }
            life.stopHandlers.append(handler)
            return nil
        }
        if let record { handler(record) }
    }

    /// Blocks the calling thread (never a vCPU's) until the VM has stopped.
    public func waitUntilStopped() -> StopRecord {
        stopped.wait()
        return stopRecord ?? StopRecord(reason: .killed)
    }

    /// Blocks until the VM stops or `timeout` passes; nil on timeout.
    public func waitUntilStopped(timeout: DispatchTime) -> StopRecord? {
        stopped.wait(timeout: timeout) == .success ? stopRecord : nil
    }

    /// Everything the highvisor counted, summed over the vCPUs.
    public var statistics: VMStatistics {
        var stats = VMStatistics()
        for vcpu in vcpus { stats.add(vcpu.counters) }
        let (started, ended) = lifecycle.withLock { ($0.startedAt, $0.stoppedAt) }
        if let started {
            let elapsed = (ended ?? .now) - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            stats.uptimeSeconds = seconds
            if seconds > 0 { stats.mips = Double(stats.instructionsRetired) / seconds / 1e6 }
        }
        return stats
    }
}
