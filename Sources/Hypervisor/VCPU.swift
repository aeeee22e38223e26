import AArch64
import Atomics
import Dispatch

/// One virtual CPU: an emulated core run by the lowvisor loop on its own serial DispatchQueue.
///
/// Threads: `runLoop` runs only on `queue`; `kick()` may be called from anywhere. The loop is
/// the world switch: enter the guest (`cpu.run`), take the exit, count it, hand it to the exit
/// table, act on the disposition, re-enter.
public final class VCPU: @unchecked Sendable {
    public let index: Int
    /// What this vCPU's last vGIC flush found (`VGIC.flush`); only this vCPU's thread uses it.
    var flushMemo = VGIC.FlushMemo()
    public let cpu: CPU
    public let counters = VCPUCounters()
    public let bus: MMIOBus
    /// The bus windows this vCPU's MMIO exits resolved recently; only its thread uses it.
    let mmioRoutes = MMIORouteCache()
    public private(set) weak var vm: VirtualMachine?
    /// The VM's stage-2 tables, held directly: the memory-abort handler needs them on every
    /// data abort, and loading the weak `vm` (an object with weak references keeps its counts
    /// in a side table) cost a slow-path retain and release per exit.
    let stage2: Stage2
    let queue: DispatchQueue
    private let wakeup = DispatchSemaphore(value: 0)
    /// Where the vCPU sleeps while the VM is paused: one `release()` per `park()`.
    private let parking = DispatchSemaphore(value: 0)
    private let exitTable: ExitTable

    /// Instructions per `cpu.run` call before the loop comes back to publish statistics.
    static let budget: UInt64 = 1 << 22

    init(
        index: Int, vm: VirtualMachine, memory: MachineMemory, stage2: Stage2, bus: MMIOBus, exitTable: ExitTable
    ) {
        self.index = index
        self.vm = vm
        self.stage2 = stage2
        self.bus = bus
        self.exitTable = exitTable
        cpu = CPU(memory: memory.view(forCore: index))
        queue = DispatchQueue(label: "armvisor.\(vm.name).vcpu\(index)", qos: .userInitiated)
        timerSource.setEventHandler { [weak self] in self?.kick() }
        timerSource.schedule(deadline: .distantFuture)
        timerSource.activate()
        cpu.timerChanged = { [weak self] _ in self?.timerProgrammed() }
    }

    deinit { timerSource.cancel() }

    /// MPIDR_EL1 as the guest reads it (QEMU `virt` with GICv3: Aff0 = n mod 16, Aff1 = n / 16).
    public var mpidr: UInt64 { Self.mpidr(index: index) }

    public static func mpidr(index: Int) -> UInt64 { 0x8000_0000 | UInt64(index / 16) << 8 | UInt64(index % 16) }

    /// The host timer that stands for the generic timer's comparator while the guest runs: armed
    /// when the guest programs CNTV_*/CNTP_*, it kicks the vCPU at the deadline so the next
    /// flush sees the timer's line high.
    private let timerSource = DispatchSource.makeTimerSource(queue: .global(qos: .userInitiated))

    /// The host time `ticks` counter ticks from now.
    private func deadline(afterTicks ticks: UInt64) -> DispatchTime {
        .now() + .nanoseconds(Int(min(ticks, UInt64(Int.max / 32)) * CPU.nanosecondsPerTick))
    }

    /// The sooner of the two timers' deadlines, if either can fire.
    private var timerDeadline: DispatchTime? { ticksUntilTimer.map(deadline(afterTicks:)) }

    /// Counter ticks until the sooner of the two timers fires, if either can.
    private var ticksUntilTimer: UInt64? {
        switch (cpu.ticksUntilTimer(virtual: true), cpu.ticksUntilTimer(virtual: false)) {
        case (let v?, let p?): min(v, p)
        case (let v?, nil): v
        case (nil, let p): p
        }
    }

    private func timerProgrammed() {
        // With the icount clock the deadline is a count of instructions: `runBudget` stops the
        // core there, so no host timer is involved.
        guard !cpu.icount else { return }
        timerSource.schedule(deadline: timerDeadline ?? .distantFuture)
    }

    /// How many instructions the next `cpu.run` may retire. With the icount clock, at most up to
    /// the next timer deadline (one tick per instruction), so the expiry is seen at the same
    /// instruction in every run.
    private var runBudget: UInt64 {
        guard cpu.icount, let ticks = ticksUntilTimer, ticks > 0 else { return Self.budget }
        return min(ticks, Self.budget)
    }

    /// Interrupts the guest at its next block boundary and wakes it from WFI.
    public func kick() {
        cpu.kick()
        wakeup.signal()
    }

    /// How a vCPU's loop ended.
    enum LoopEnd: Sendable {
        /// The VM stops; the record when this vCPU stopped it, nil when it was stopped from
        /// elsewhere.
        case stopped(StopRecord?)
        /// PSCI CPU_OFF: the vCPU is off until a CPU_ON starts its loop again.
        case poweredOff
    }

    /// Runs the vCPU's loop on its queue. `entry`: a CPU_ON — the core is reset to start at
    /// `pc` with X0 = `context` (PSCI DEN0022 6.4: EL1h, MMU and caches off, DAIF masked).
    func start(entry: (pc: UInt64, context: UInt64)? = nil, _ finished: @escaping @Sendable (VCPU, LoopEnd) -> Void) {
        queue.async { [self] in
            if let entry {
                cpu.reset(entry: entry.pc, x0: entry.context, mpidr: mpidr)
                counters.increment(.wakeupsByCPUOn)
                vm?.poweredOn(self)
            }
            let end = runLoop()
            finished(self, end)
        }
    }

    /// The lowvisor loop.
    private func runLoop() -> LoopEnd {
        guard let vm else { return .stopped(nil) }
        // A vCPU started while the VM is pausing or stopping parks or leaves before running.
        if vm.checkpoint(self) == .stop { return .stopped(nil) }
        // The vGIC, borrowed for the loop: `vm` holds it, and `vm` lives as long as the loop, so
        // flush and sync need not retain and release it around every world switch.
        let gic = vm.gic.map { Unmanaged.passUnretained($0) }
        let cpuInterfaceWindow = vm.gic?.cpuInterfaceWindow
        // The lazy FP switch (KVM before "FP ownership"): every entry into the guest traps its
        // first FP/AdvSIMD instruction (CPTR_EL2.TFP), except the re-entry right after that
        // trap, which must run the instruction.
        var trapFloatingPoint = true
        while true {
            gic?._withUnsafeGuaranteedRef { $0.flush(self) }
            if trapFloatingPoint { cpu.setFloatingPointTrap(true) }
            trapFloatingPoint = true
            var exit = enterGuest()
            // A GICv2 guest's CPU-interface accesses are served from the loaded list registers
            // before they are synced, as KVM's hyp code does (`__vgic_v2_perform_cpuif_access`
            // in `fixup_guest_exit`), and the guest re-entered at once.
            while exit == .trap, let window = cpuInterfaceWindow, servedCPUInterfaceAccess(window) {
                exit = enterGuest()
            }
            gic?._withUnsafeGuaranteedRef { $0.sync(self) }
            if cpu.takeMaintenanceRequest() { counters.increment(.maintenanceInterrupts) }
            counters.increment(.worldSwitches)
            counters.set(.instructionsRetired, cpu.state.pointee.instructionsRetired)
            counters.set(.tlbHits, cpu.tlb.hits)
            counters.set(.tlbMisses, cpu.tlb.misses)
            counters.set(.tlbFlushes, cpu.tlb.flushes)
            switch exit {
            case .budget:
                counters.set(.blocksBuilt, cpu.blocks.blocksBuilt)
                continue
            case .kick:
                counters.increment(.kicks)
                cpu.acknowledgeKick()
                counters.set(.blocksBuilt, cpu.blocks.blocksBuilt)
                if vm.checkpoint(self) == .stop { return .stopped(nil) }
                continue
            case .trap:
                let ec = Syndrome.exceptionClass(cpu.state.pointee.exitSyndrome)
                counters.countExit(exceptionClass: ec)
                if ec == ExceptionClass.fpAccess.rawValue { trapFloatingPoint = false }
                switch exitTable.handle(self, exceptionClass: ec) {
                case .resume:
                    break
                case .skipInstruction:
                    cpu.skipInstruction()
                case .waitForInterrupt:
                    counters.increment(.wfiSleeps)
                    waitForWakeup()
                    cpu.skipInstruction()
                // A stop or pause kick that woke the WFI is still pending: the next
                // `cpu.run` returns `.kick` before running guest code.
                case .waitForEvent:
                    counters.increment(.wfeSleeps)
                    waitForEvent()
                    cpu.skipInstruction()
                case .suspend:
                    counters.increment(.wfiSleeps)
                    waitForWakeup()
                case .powerOff:
                    counters.set(.instructionsRetired, cpu.state.pointee.instructionsRetired)
                    counters.set(.blocksBuilt, cpu.blocks.blocksBuilt)
                    return .poweredOff
                case .stop(let reason, let detail):
                    counters.set(.instructionsRetired, cpu.state.pointee.instructionsRetired)
                    counters.set(.blocksBuilt, cpu.blocks.blocksBuilt)
                    return .stopped(StopRecord(reason: reason, detail: detail))
                }
            }
        }
    }

    /// True while the core runs guest code (`cpu.run`); outside it, the vCPU services other
    /// vCPUs' invalidation requests before it runs guest code again, so a broadcast TLBI or IC
    /// need not wait for it (`VirtualMachine.awaitInvalidations`).
    let inGuest = ManagedAtomic<Bool>(false)
    /// True while the vCPU waits in a barrier for other vCPUs to acknowledge its broadcast
    /// invalidations; it counts as having acknowledged theirs (`CPU.completeBroadcasts`).
    let waitingForBroadcast = ManagedAtomic<Bool>(false)

    /// Whether other vCPUs may wait for this one (`VirtualMachine.awaitInvalidations`), so that
    /// every world switch must publish `inGuest`: false for the only vCPU of a VM. Set before
    /// the vCPU first runs.
    var publishesGuestEntry = true

    /// One world switch into the guest. The flag's store is sequentially consistent (a full
    /// barrier on the host) before `run` first reads its request word, so a broadcaster that
    /// sees the vCPU outside the guest knows the vCPU will see its request. A VM's only vCPU
    /// has nobody to tell and skips both.
    private func enterGuest() -> CoreExit {
        guard publishesGuestEntry else { return cpu.run(budget: runBudget) }
        inGuest.store(true, ordering: .sequentiallyConsistent)
        // `run` reads its request word relaxed: the fence keeps that read after this store on
        // any host, not only on x86, whose locked store already orders it.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let exit = cpu.run(budget: runBudget)
        inGuest.store(false, ordering: .releasing)
        return exit
    }

    /// The GICv2 fast path: when the exit is a data abort on the CPU-interface window, performs
    /// the access on the list registers, completes the instruction and returns true.
    private func servedCPUInterfaceAccess(_ window: Range<UInt64>) -> Bool {
        let s = cpu.state.pointee
        let ec = Syndrome.exceptionClass(s.exitSyndrome)
        let iss = Syndrome.iss(s.exitSyndrome)
        // Register accesses only (ISV set, not a cache maintenance operation): anything else
        // takes the highvisor's normal path (`ExitHandlers.dataAbort`).
        guard ec == ExceptionClass.dataAbortLowerEL.rawValue, iss & (1 << 24) != 0, iss & (1 << 8) == 0,
            window.contains(Syndrome.ipa(hpfar: s.exitIPAPage, far: s.exitFaultAddress))
        else { return false }
        counters.increment(.worldSwitches)
        counters.countExit(exceptionClass: ec)
        switch MMIOEmulation.handle(self) {
        case .skipInstruction: cpu.skipInstruction()
        default: break
        }
        return true
    }

    /// Sleeps on the parking semaphore (no polling, no host CPU) until `release()`. Only the
    /// vCPU's own loop parks, from `VirtualMachine.checkpoint`.
    func park() {
        parking.wait()
    }

    /// Wakes the vCPU from `park()`; the VM calls it once per vCPU it takes out of its parked set.
    func release() {
        parking.signal()
    }

    /// Wakes the vCPU from a WFE sleep after another thread posted an event (`CPU.postEvent`),
    /// without interrupting it when it runs.
    func wakeForEvent() {
        // Only a sleeper needs the signal (one per SEV would pile up on the semaphore). The
        // poster's `postEvent` and this load, and the sleeper's store and `consumeEvent`, are
        // sequentially consistent, so either the sleeper sees the event or the poster sees it
        // sleeping.
        if sleepingInWFE.load(ordering: .sequentiallyConsistent) { wakeup.signal() }
    }

    /// True while the loop sleeps in a trapped WFE (`waitForEvent`).
    private let sleepingInWFE = ManagedAtomic<Bool>(false)

    /// Counts a wake-up by a pending interrupt: an SGI from another vCPU is an IPI wake-up.
    private func countInterruptWakeup(_ pending: VGIC.PendingKind) {
        counters.increment(pending == .sgi ? .wakeupsByIPI : .wakeupsByInterrupt)
    }

    /// A trapped WFE with the event register clear: sleeps until a WFE wake-up event (Arm ARM
    /// D1.16.2) — an event posted by another vCPU's SEV, the global exclusive monitor cleared
    /// (the bytes of the armed load-exclusive changed), a pending interrupt (even masked, as
    /// for WFI), a kick, or the timer — and leaves the event register clear. Without a monitor
    /// armed the sleep is on the wake-up semaphore (no host CPU); with one, nothing signals a
    /// plain store by another vCPU, so it polls the monitored bytes with a back-off from 20 µs
    /// to 1 ms (a WFE may complete early, D1.16.1; a waiter on a lock word is woken within
    /// the back-off of its release).
    private func waitForEvent() {
        var poll = 20_000
        sleepingInWFE.store(true, ordering: .sequentiallyConsistent)
        defer { sleepingInWFE.store(false, ordering: .relaxed) }
        // A timer that fires during the sleep kicks the vCPU (`timerSource`): that kick is the
        // timer's wake-up.
        let timerAlreadyFired = ticksUntilTimer == 0
        while true {
            if cpu.consumeEvent() {
                counters.increment(.wakeupsByEvent)
                return
            }
            if cpu.exclusiveMonitorCleared {
                counters.increment(.wakeupsByEvent)
                return
            }
            if let gic = vm?.gic, let pending = gic.pendingInterrupt(self) {
                countInterruptWakeup(pending)
                return
            }
            if cpu.hasPendingKick {
                counters.increment(!timerAlreadyFired && ticksUntilTimer == 0 ? .wakeupsByTimer : .wakeupsByKick)
                return
            }
            var deadline: DispatchTime = .distantFuture
            let timerTicks = ticksUntilTimer.flatMap { $0 > 0 ? $0 : nil }
            let streamTicks = cpu.ticksUntilEventStream()
            let streamFirst = streamTicks.map { stream in timerTicks.map { stream < $0 } ?? true } ?? false
            if cpu.icount, let ticks = streamFirst ? streamTicks : timerTicks {
                // Deterministic time: skip ahead to the timer or the event stream (as for WFI).
                cpu.state.pointee.icountSkippedTicks &+= ticks
                counters.increment(streamFirst ? .wakeupsByEvent : .wakeupsByTimer)
                return
            }
            if let ticks = streamFirst ? streamTicks : timerTicks { deadline = self.deadline(afterTicks: ticks) }
            if cpu.exclusiveMonitorArmed {
                let pollDeadline = DispatchTime.now() + .nanoseconds(poll)
                poll = min(poll * 2, 1_000_000)
                if pollDeadline < deadline {
                    _ = wakeup.wait(timeout: pollDeadline)
                    continue
                }
            }
            if wakeup.wait(timeout: deadline) == .timedOut, deadline != .distantFuture {
                counters.increment(streamFirst ? .wakeupsByEvent : .wakeupsByTimer)
                return
            }
        }
    }

    /// Sleeps (no polling, no host CPU) until an interrupt is pending for this vCPU: a kick (a
    /// device line, an SGI, a stop or pause) or its timer's deadline.
    private func waitForWakeup() {
        while true {
            if let gic = vm?.gic, let pending = gic.pendingInterrupt(self) {
                countInterruptWakeup(pending)
                return
            }
            if cpu.hasPendingKick {
                counters.increment(.wakeupsByKick)
                return
            }
            if cpu.icount {
                // Deterministic time: nothing to wait for but the timer, so skip ahead to it;
                // with no timer armed, only an outside event can wake the vCPU.
                if let ticks = ticksUntilTimer, ticks > 0 {
                    cpu.state.pointee.icountSkippedTicks &+= ticks
                    counters.increment(.wakeupsByTimer)
                    return
                }
                wakeup.wait()
                continue
            }
            // A timer that has already fired but cannot be signalled (its PPI disabled, the
            // distributor off) is no reason to wake: only a change made with a kick is.
            if let ticks = ticksUntilTimer, ticks > 0 {
                if wakeup.wait(timeout: self.deadline(afterTicks: ticks)) == .timedOut {
                    counters.increment(.wakeupsByTimer)
                    return
                }
            } else {
                wakeup.wait()
            }
        }
    }
}
