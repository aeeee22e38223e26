import AArch64
import Dispatch
import Synchronization

/// Pause and resume: every vCPU stops at a block boundary and parks on its own semaphore (no
/// polling, no host CPU) until `resume` or a stop releases it.
///
/// `pause` marks the VM as pausing and kicks every vCPU; each kicked vCPU calls `checkpoint`,
/// which parks it. When the last running vCPU has parked, the state becomes `paused` and the
/// pause waiters are told. A stop request while pausing or paused releases the parked vCPUs,
/// which then leave their loops as they do for any stop.
extension VirtualMachine {
    /// What a kicked vCPU does next.
    enum CheckpointAction {
        case proceed, stop
    }

    /// Pauses a running VM and returns once every vCPU has parked. Legal only in `running` (and
    /// not while another pause is in progress); throws, changing nothing, otherwise. Throws too
    /// when the VM stops (e.g. the guest powers off) before every vCPU has parked. Blocks the
    /// calling thread (never call it on a vCPU's queue): use `pause(then:)` from async code.
    public func pause() throws {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<StateError?>(nil)
        try pause { error in
            outcome.withLock { $0 = error }
            done.signal()
        }
        done.wait()
        if let error = outcome.withLock({ $0 }) { throw error }
    }

    /// Starts pausing a running VM; `completion` runs (on some thread) with nil once every vCPU
    /// has parked, or with an error if the VM stopped first. Throws at once, changing nothing,
    /// unless the VM is `running` with no pause or stop in progress.
    public func pause(then completion: @escaping @Sendable (StateError?) -> Void) throws {
        let alreadyComplete = try lifecycle.withLock { life -> Bool in
            guard life.state == .running else {
                throw StateError(message: "VM '\(name)' is \(life.state.rawValue); only a running VM can pause")
            }
            guard !life.stopRequested else { throw StateError(message: "VM '\(name)' is stopping; it cannot pause") }
            guard !life.pausing else { throw StateError(message: "VM '\(name)' is already pausing") }
            // Every vCPU powered off: nothing to stop, the VM is paused at once.
            if life.runningVCPUs == 0 {
                life.state = .paused
                return true
            }
            life.pausing = true
            life.pauseWaiters.append(completion)
            return false
        }
        if alreadyComplete {
            completion(nil)
            return
        }
        for vcpu in vcpus { vcpu.kick() }
    }

    /// Releases the parked vCPUs of a paused VM. Legal only in `paused`; throws, changing
    /// nothing, otherwise.
    public func resume() throws {
        let release = try lifecycle.withLock { life -> [Int] in
            guard life.state == .paused else {
                let what = life.pausing ? "still pausing" : life.state.rawValue
                throw StateError(message: "VM '\(name)' is \(what); only a paused VM can resume")
            }
            life.state = .running
            return life.unpark()
        }
        for index in release { vcpus[index].release() }
    }

    /// Called by a vCPU's own loop after a kick: parks the vCPU while the VM is pausing or
    /// paused (returning when it is released) and says whether to stop or go on.
    func checkpoint(_ vcpu: VCPU) -> CheckpointAction {
        while true {
            let (action, waiters) = lifecycle.withLock {
                life -> (CheckpointAction?, [@Sendable (StateError?) -> Void]) in
                if life.stopRequested { return (.stop, []) }
                guard life.pausing || life.state == .paused else { return (.proceed, []) }
                if !life.parked[vcpu.index] {
                    life.parked[vcpu.index] = true
                    life.parkedCount += 1
                }
                guard life.pauseComplete else { return (nil, []) }
                life.pausing = false
                life.state = .paused
                let waiters = life.pauseWaiters
                life.pauseWaiters = []
                return (nil, waiters)
            }
            for waiter in waiters { waiter(nil) }
            if let action { return action }
            vcpu.park()
        }
    }

    /// Each vCPU's index, MPIDR, state, and its PC when it is not running guest code.
    public var vcpuInfo: [VCPUInfo] {
        let (state, parked, power) = lifecycle.withLock { ($0.state, $0.parked, $0.power) }
        return vcpus.map { vcpu in
            let vcpuState: VCPUInfo.State
            switch state {
            case .created: vcpuState = .created
            case .stopped: vcpuState = .stopped
            case .running, .paused:
                if power[vcpu.index] == .off {
                    vcpuState = .offline
                } else {
                    vcpuState = parked[vcpu.index] || state == .paused ? .paused : .running
                }
            }
            let pc = vcpuState == .paused || vcpuState == .stopped ? vcpu.cpu.pc : nil
            return VCPUInfo(index: vcpu.index, mpidr: vcpu.mpidr, state: vcpuState, pc: pc)
        }
    }
}

/// One vCPU as `info` reports it.
public struct VCPUInfo: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// The VM has not started.
        case created
        /// Running guest code (or sleeping in WFI).
        case running
        /// Parked by a pause.
        case paused
        /// Powered off: secondary vCPUs until PSCI CPU_ON, and any vCPU after CPU_OFF.
        case offline
        case stopped
    }

    public var index: Int
    public var mpidr: UInt64
    public var state: State
    /// The PC, when the vCPU is paused or stopped (a running vCPU's PC is a moving target).
    public var pc: UInt64?

    public init(index: Int, mpidr: UInt64, state: VCPUInfo.State, pc: UInt64?) {
        self.index = index
        self.mpidr = mpidr
        self.state = state
        self.pc = pc
    }
}
