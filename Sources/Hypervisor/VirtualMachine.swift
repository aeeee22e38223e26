import AArch64
import Atomics
import Dispatch
import Foundation
import Synchronization

/// A virtual machine: guest RAM, the MMIO bus with its devices, and its vCPUs.
///
/// Lock order: `VirtualMachine.lifecycle` is the only lock here and is never held while calling
/// out (hooks, waiters, vCPU kicks and releases run after it is released). vCPU threads take it
/// when they are kicked (to learn whether to stop or park) and when they stop.
///
/// States: `created` → `running` ⇄ `paused`; `running` or `paused` → `stopped`. While a pause is
/// in progress (vCPUs kicked, not all parked yet) the state is still `running`.
public final class VirtualMachine: @unchecked Sendable {
    /// Lifecycle state, as the control protocol reports it.
    public enum RunState: String, Codable, Sendable {
        case created, running, paused, stopped
    }

    public struct StateError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    struct Lifecycle {
        var state: RunState = .created
        var stop: StopRecord?
        var startedAt: ContinuousClock.Instant?
        var stoppedAt: ContinuousClock.Instant?
        var stopRequested = false
        /// The record a stop from outside ends with (`requestStop`), unless the guest stopped first.
        var requestedStop: StopRecord?
        /// vCPU loops alive (on, or on-pending: started by CPU_ON and not yet running).
        var runningVCPUs = 0
        /// Each vCPU's PSCI power state.
        var power: [PowerState] = []
        var stopHandlers: [@Sendable (StopRecord) -> Void] = []
        /// Set by `pause` until every running vCPU has parked (then `state` becomes `paused`).
        var pausing = false
        /// Which vCPUs sit parked in `checkpoint`, waiting for `resume` or a stop.
        var parked: [Bool] = []
        var parkedCount = 0
        /// Called once a pause completes (nil) or fails because the VM stopped meanwhile.
        var pauseWaiters: [@Sendable (StateError?) -> Void] = []

        /// Takes every parked vCPU out of the parked set; the caller releases them after unlocking.
        mutating func unpark() -> [Int] {
            let indices = parked.indices.filter { parked[$0] }
            for index in indices { parked[index] = false }
            parkedCount = 0
            return indices
        }

        /// True when a pause is in progress and every running vCPU has parked (at once when every
        /// vCPU is powered off).
        var pauseComplete: Bool { pausing && !stopRequested && parkedCount == runningVCPUs }
    }

    /// A vCPU's power state as PSCI sees it (DEN0022 5.1.8 AFFINITY_INFO).
    enum PowerState {
        case off, onPending, on
    }

    public let name: String
    public let memory: MachineMemory
    /// The stage-2 tables the highvisor maintains for this VM.
    public let stage2: Stage2
    /// The virtual GICv3, when the board has one (its MMIO windows are on `bus`).
    public let gic: VGIC?
    public let bus: MMIOBus
    public private(set) var vcpus: [VCPU] = []
    let lifecycle = Mutex(Lifecycle())
    private let stopped = DispatchGroup()
    /// Work to do after every vCPU has stopped and before waiters are told (e.g. drain consoles).
    private let shutdownHooks: [@Sendable () -> Void]
    /// The console (the PL011's backend) that control-plane sessions attach to; nil when the
    /// VM has none (a bare VM built by a test).
    public let console: ConsoleTap?

    public init(
        name: String, memory: MachineMemory, bus: MMIOBus, vcpuCount: Int = 1,
        exitTable: ExitTable = .standard, shutdownHooks: [@Sendable () -> Void] = [], romAddress: UInt64? = nil,
        gic: VGIC? = nil, console: ConsoleTap? = nil
    ) {
        self.gic = gic
        self.console = console
        self.name = name
        self.memory = memory
        self.bus = bus
        self.shutdownHooks = shutdownHooks
        stage2 = Stage2(
            memory: memory.physical, pool: memory.tablePool,
            slots: [memory.ramSlot] + (romAddress.flatMap { memory.romSlot(at: $0) }.map { [$0] } ?? []),
            vmid: Self.nextVMID.wrappingAdd(1, ordering: .relaxed).newValue % 255 + 1)
        stopped.enter()
        vcpus = (0..<max(vcpuCount, 1)).map {
            VCPU(index: $0, vm: self, memory: memory, stage2: stage2, bus: bus, exitTable: exitTable)
        }
        for vcpu in vcpus {
            vcpu.cpu.state.pointee.mpidr = vcpu.mpidr
            vcpu.cpu.setStage2(vttbr: stage2.vttbr, vtcr: Stage2.vtcr)
            vcpu.cpu.setHypervisorConfiguration(HypervisorConfiguration.guestDefault | HypervisorConfiguration.vm)
            vcpu.cpu.state.pointee.gicVersion2 = gic?.version == 2
        }
        gic?.kick = { [weak self] index in
            guard let self, self.vcpus.indices.contains(index) else { return }
            self.vcpus[index].kick()
        }
        for vcpu in vcpus { vcpu.publishesGuestEntry = vcpus.count > 1 }
        for vcpu in vcpus where vcpus.count > 1 {
            vcpu.cpu.broadcastTLBInvalidation = { [weak self, unowned vcpu] in
                for other in self?.vcpus ?? [] where other !== vcpu { other.cpu.requestTLBInvalidation() }
            }
            vcpu.cpu.awaitBroadcastCompletion = { [weak self, unowned vcpu] in
                self?.awaitInvalidations(by: vcpu)
            }
            vcpu.cpu.broadcastEvent = { [weak self, unowned vcpu] in
                for other in self?.vcpus ?? [] where other !== vcpu {
                    other.cpu.postEvent()
                    other.wakeForEvent()
                }
            }
            vcpu.cpu.broadcastCodeInvalidation = { [weak self, unowned vcpu] page in
                for other in self?.vcpus ?? [] where other !== vcpu {
                    if let page, !other.cpu.holdsCode(physicalPage: page) { continue }
                    other.cpu.requestCodeInvalidation(physicalPage: page)
                }
            }
        }
        lifecycle.withLock {
            $0.parked = Array(repeating: false, count: vcpus.count)
            $0.power = Array(repeating: .off, count: vcpus.count)
        }
    }

    /// Pages written since `startDirtyLog` (guest-physical page addresses).
    private let dirty = Mutex<Set<UInt64>?>(nil)

    /// Starts dirty-page tracking (KVM_MEM_LOG_DIRTY_PAGES): every mapped RAM page becomes
    /// read-only at stage 2, so the first write to each comes back as a permission fault.
    public func startDirtyLog() {
        dirty.withLock { $0 = [] }
        stage2.writeProtect(memory.ramSlot)
        invalidateAllTLBs()
    }

    /// The pages written since the last call (or `startDirtyLog`), and write-protects them again
    /// (KVM_GET_DIRTY_LOG).
    public func collectDirtyPages() -> [UInt64] {
        let pages = dirty.withLock { set -> [UInt64] in
            let pages = set.map { Array($0).sorted() } ?? []
            if set != nil { set = [] }
            return pages
        }
        stage2.writeProtect(memory.ramSlot)
        invalidateAllTLBs()
        return pages
    }

    func recordDirty(ipa: UInt64) {
        _ = dirty.withLock { $0?.insert(ipa & ~0xFFF) }
    }

    /// True while dirty pages are tracked.
    var loggingDirtyPages: Bool { dirty.withLock { $0 != nil } }

    /// VMIDs 1...255 in turn (VTTBR_EL2.VMID, 8 bits).
    private static let nextVMID = Atomic<UInt64>(0)

    /// Drops every vCPU's cached translations after the highvisor took a stage-2 mapping away
    /// or narrowed it (TLBI VMALLS12E1IS; DSB ISH). The vCPU whose thread calls it (inside an
    /// exit handler) is flushed at once; the others flush at their next block boundary, and
    /// this returns once they have (so a page write-protected for the dirty log is not written
    /// through a stale entry after `collectDirtyPages`).
    public func invalidateAllTLBs(from caller: VCPU? = nil) {
        for vcpu in vcpus {
            if vcpu === caller { vcpu.cpu.invalidateStage2() } else { vcpu.cpu.requestStage2Invalidation() }
        }
        awaitInvalidations(by: caller)
    }

    /// The DSB that completes broadcast TLB and instruction-cache maintenance (Arm ARM D8.13.x:
    /// TLBI ... IS + DSB ISH; IC IVAU + DSB ISH): returns once every vCPU but `issuer` has
    /// serviced its invalidation requests, is outside the guest (it services them before running
    /// guest code again), or is itself waiting here (it services them before going on). The
    /// others reach a block boundary within one decoded block, so the wait is a short spin
    /// (yielding the host CPU, which may be running the vCPU waited for). This is the cheap and
    /// correct choice over applying the invalidation synchronously: a core's TLB and blocks are
    /// owned by its thread and lock-free.
    func awaitInvalidations(by issuer: VCPU?) {
        guard vcpus.count > 1 else { return }
        issuer?.waitingForBroadcast.store(true, ordering: .sequentiallyConsistent)
        defer { issuer?.waitingForBroadcast.store(false, ordering: .sequentiallyConsistent) }
        for other in vcpus where other !== issuer {
            var spins = 0
            while other.cpu.hasPendingInvalidation && other.inGuest.load(ordering: .sequentiallyConsistent)
                && !other.waitingForBroadcast.load(ordering: .sequentiallyConsistent)
            {
                spins += 1
                if spins > 100 { sched_yield() }
            }
        }
    }

    public var state: RunState { lifecycle.withLock { $0.state } }
    public var stopRecord: StopRecord? { lifecycle.withLock { $0.stop } }

    public func vcpu(mpidr: UInt64) -> VCPU? {
        vcpus.first { $0.mpidr & PSCI.affinityMask == mpidr & PSCI.affinityMask }
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
            life.power[0] = .on
        }
        vcpus[0].start { [self] vcpu, end in loopEnded(vcpu, end) }
    }

    // MARK: PSCI power management

    /// PSCI CPU_ON (DEN0022 5.1.4): powers on the vCPU whose MPIDR affinity is `target`, to
    /// start at `entry` with X0 = `context`. Returns the PSCI status: SUCCESS, ALREADY_ON,
    /// ON_PENDING, or INVALID_PARAMETERS for an affinity no vCPU has. The state change is made
    /// under the lifecycle lock, so of several concurrent CPU_ONs for one target exactly one
    /// succeeds.
    func powerOn(target: UInt64, entry: UInt64, context: UInt64) -> Int64 {
        guard let index = vcpu(mpidr: target)?.index else { return PSCI.ReturnCode.invalidParameters }
        let outcome = lifecycle.withLock { life -> Int64 in
            guard life.state == .running, !life.stopRequested else { return PSCI.ReturnCode.internalFailure }
            switch life.power[index] {
            case .on: return PSCI.ReturnCode.alreadyOn
            case .onPending: return PSCI.ReturnCode.onPending
            case .off:
                life.power[index] = .onPending
                life.runningVCPUs += 1
                return PSCI.ReturnCode.success
            }
        }
        if outcome == PSCI.ReturnCode.success {
            vcpus[index].start(entry: (entry, context)) { [self] vcpu, end in loopEnded(vcpu, end) }
        }
        return outcome
    }

    /// Called on a CPU_ON'd vCPU's own queue once its core is reset, before it runs.
    func poweredOn(_ vcpu: VCPU) {
        lifecycle.withLock { $0.power[vcpu.index] = .on }
    }

    /// PSCI AFFINITY_INFO (DEN0022 5.1.8): ON if any vCPU whose affinity matches `target` at
    /// levels `lowestLevel` and above is on, else ON_PENDING if one is being powered on, else
    /// OFF; INVALID_PARAMETERS when no vCPU matches.
    func affinityInfo(target: UInt64, lowestLevel: Int) -> Int64 {
        let ignored: UInt64 = lowestLevel >= 3 ? 0xFF_FFFF : (1 << (8 * UInt64(lowestLevel))) - 1
        let mask = PSCI.affinityMask & ~ignored
        let selected = vcpus.indices.filter { vcpus[$0].mpidr & mask == target & mask }
        guard !selected.isEmpty else { return PSCI.ReturnCode.invalidParameters }
        let states = lifecycle.withLock { life in selected.map { life.power[$0] } }
        if states.contains(.on) { return PSCI.AffinityState.on }
        if states.contains(.onPending) { return PSCI.AffinityState.onPending }
        return PSCI.AffinityState.off
    }

    /// A vCPU's loop ended: powered off by CPU_OFF, or leaving because the VM stops.
    private func loopEnded(_ vcpu: VCPU, _ end: VCPU.LoopEnd) {
        switch end {
        case .stopped(let record):
            vcpuFinished(record)
        case .poweredOff:
            let (finishNow, waiters) = lifecycle.withLock { life -> (Bool, [@Sendable (StateError?) -> Void]) in
                life.power[vcpu.index] = .off
                life.runningVCPUs -= 1
                if life.stopRequested { return (life.runningVCPUs == 0, []) }
                guard life.pauseComplete else { return (false, []) }
                life.pausing = false
                life.state = .paused
                defer { life.pauseWaiters = [] }
                return (false, life.pauseWaiters)
            }
            for waiter in waiters { waiter(nil) }
            if finishNow { finish() }
        }
    }

    /// The record of a stop requested from outside with no other reason.
    public static let stoppedOnRequest = StopRecord(reason: .killed, detail: "stopped on request")

    /// Requests an immediate stop; every vCPU leaves at its next block boundary, and parked vCPUs
    /// of a paused VM wake and leave. The VM ends with `record` (`killed` by default) unless the
    /// guest stopped it first. Harmless when the VM is created or stopped, or already stopping
    /// (the first request's record counts).
    public func requestStop(_ record: StopRecord = VirtualMachine.stoppedOnRequest) {
        let outcome = lifecycle.withLock { life -> (release: [Int], idle: Bool)? in
            guard life.state == .running || life.state == .paused, !life.stopRequested else { return nil }
            life.stopRequested = true
            life.requestedStop = record
            return (life.unpark(), life.runningVCPUs == 0)
        }
        guard let outcome else { return }
        // Every vCPU powered off (CPU_OFF on the last one): no loop is left to notice the stop.
        if outcome.idle {
            finish()
            return
        }
        for vcpu in vcpus { vcpu.kick() }
        for index in outcome.release { vcpus[index].release() }
    }

    private func vcpuFinished(_ record: StopRecord?) {
        var first = false
        let (done, release) = lifecycle.withLock { life -> (Bool, [Int]) in
            if let record, life.stop == nil {
                life.stop = record
                first = true
            }
            life.stopRequested = true
            life.runningVCPUs -= 1
            return (life.runningVCPUs == 0, life.unpark())
        }
        if first { for vcpu in vcpus { vcpu.kick() } }
        for index in release { vcpus[index].release() }
        if done { finish() }
    }

    /// Every vCPU loop has ended and a stop was requested or made: run the shutdown hooks, then
    /// move to `stopped` and tell the waiters.
    private func finish() {
        for hook in shutdownHooks { hook() }
        let (record, handlers, pauseWaiters) = lifecycle.withLock { life in
            let record = life.stop ?? life.requestedStop ?? Self.stoppedOnRequest
            life.stop = record
            life.state = .stopped
            life.stoppedAt = .now
            life.pausing = false
            let handlers = life.stopHandlers
            let pauseWaiters = life.pauseWaiters
            life.stopHandlers = []
            life.pauseWaiters = []
            return (record, handlers, pauseWaiters)
        }
        let failure = StateError(message: "VM '\(name)' stopped (\(record.reason.rawValue)) before it could pause")
        for waiter in pauseWaiters { waiter(failure) }
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
        for vcpu in vcpus { stats.add(vcpu.counters, bus: bus) }
        stats.pagesMapped = stage2.pagesMapped
        stats.residentBytes = stats.pagesMapped << 12
        stats.stage2TablePages = stage2.tablePages
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
