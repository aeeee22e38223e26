import AArch64
import Atomics
import Synchronization

/// The virtual GIC of one VM (Arm IHI 0069 GICv3, IHI 0048B GICv2; KVM `arch/arm64/kvm/vgic/`):
/// for GICv3 the distributor and one redistributor per vCPU emulated over MMIO, for GICv2 the
/// distributor (with INTIDs 0–31 banked per CPU, ITARGETSR, GICD_SGIR) and the memory-mapped CPU
/// interface (`VGICv2Registers.swift`); the interrupt state of every INTID, and the
/// flush/sync of pending and active interrupts into each vCPU's list registers, which the core's
/// virtual CPU interface (`GICVirtualInterface`) serves to the guest without exits.
///
/// INTIDs 0–15 are SGIs and 16–31 PPIs (per vCPU, in the redistributor), 32–287 SPIs (in the
/// distributor, routed by GICD_IROUTER). Affinity routing only (GICD_CTLR.ARE = 1), one
/// security state (DS = 1), group 1 for the guest. Lock: `state`, a leaf lock taken by vCPU
/// threads (MMIO, flush, sync, SGIs) and by device or timer threads raising lines.
public final class VGIC: @unchecked Sendable {
    public static let spiCount = 256
    public static let intidCount = 32 + spiCount
    /// The PPIs of the EL1 virtual and physical timers (device tree PPI 11 and 14).
    public static let virtualTimerPPI = 27
    public static let physicalTimerPPI = 30

    struct Interrupt {
        var enabled = false
        /// Pending set by an edge, a GICD_ISPENDR write or an SGI (cleared when acknowledged).
        var latched = false
        /// The input line of a level-sensitive interrupt.
        var level = false
        var active = false
        var priority: UInt8 = 0
        var edge = false
        var group1 = false
        /// GICD_IROUTER (GICv3 SPIs), or the GICD_ITARGETSR byte (GICv2 SPIs).
        var route: UInt64 = 0
        /// GICv2 SGIs: the CPUs whose pending request waits (bit n = from CPU n); each source is
        /// delivered separately, with its CPU ID in the INTID bits [12:10].
        var sources: UInt8 = 0
        var pending: Bool { latched || (!edge && level) }
    }

    struct State {
        /// SGIs and PPIs of each vCPU.
        var local: [[Interrupt]]
        var shared: [Interrupt]
        var distributorControl: UInt32 = 0
        /// GICR_WAKER.ProcessorSleep per vCPU.
        var asleep: [Bool]
        /// The INTID each list register of each vCPU was loaded with (nil: empty).
        var loaded: [[Int?]]
        /// Bumped by every access that may change interrupt state (`update`); flush and sync,
        /// which run on every world switch, do not bump it. A flush that found nothing to load
        /// records it in the vCPU (`FlushMemo`): while it and the timer lines stay the same, the
        /// next flush has nothing to do either and skips the lock and the scan of every INTID.
        var generation: UInt64 = 0

        subscript(intid: Int, vcpu: Int) -> Interrupt {
            get { intid < 32 ? local[vcpu][intid] : shared[intid - 32] }
            set {
                if intid < 32 { local[vcpu][intid] = newValue } else { shared[intid - 32] = newValue }
            }
        }
    }

    let state: Mutex<State>
    let mpidrs: [UInt64]
    /// `State.generation`, published for the flush fast path (stored under the lock).
    /// (An `UnsafeAtomic`: `ManagedAtomic`'s storage getter is a call on every access.)
    private let publishedGeneration = UnsafeAtomic<UInt64>.create(0)

    /// What one vCPU's last flush found, read without the lock by its next flush and sync. It
    /// lives in the vCPU (`VCPU.flushMemo`) and only flush and sync, on its thread, touch it.
    struct FlushMemo {
        /// The last flush loaded nothing, at `generation` with these timer lines.
        var idle = false
        var generation: UInt64 = 0
        var virtualTimer = false
        var physicalTimer = false
        /// Some list register holds an interrupt for sync to fold back.
        var loaded = false
    }

    /// Runs `body` on the interrupt state as a change: every access from a device, a register
    /// or an SGI goes through here, so `flush` knows when an idle vCPU must look again. A pure
    /// read passes `changes: false`.
    func update<R: Sendable>(changes: Bool = true, _ body: (inout State) -> R) -> R {
        state.withLock { s in
            if changes { bumpGeneration(&s) }
            return body(&s)
        }
    }

    /// A change that may give a vCPU something to load: its next flush must look again.
    private func bumpGeneration(_ s: inout State) {
        s.generation &+= 1
        publishedGeneration.store(s.generation, ordering: .releasing)
    }

    /// 2 or 3: the architecture the guest sees.
    public let version: Int
    /// GICv2: where the guest finds the CPU interface (the GICV frame), whose accesses the vCPU
    /// loop serves on its fast path, before the list registers are synced.
    public let cpuInterfaceWindow: Range<UInt64>?
    /// Kicks a vCPU (to flush a newly pending interrupt into it, or wake it from WFI).
    var kick: @Sendable (Int) -> Void = { _ in }

    public init(vcpuCount: Int, mpidrs: [UInt64], version: Int = 3, cpuInterfaceWindow: Range<UInt64>? = nil) {
        self.mpidrs = mpidrs
        self.version = version == 2 ? 2 : 3
        self.cpuInterfaceWindow = version == 2 ? cpuInterfaceWindow : nil
        var sgiPPI = [Interrupt](repeating: Interrupt(), count: 32)
        for i in 0..<16 {
            sgiPPI[i].edge = true
            // GICv2 SGIs are always enabled (KVM's vGICv2); GICv3 ones start disabled.
            sgiPPI[i].enabled = version == 2
        }
        state = Mutex(
            State(
                local: Array(repeating: sgiPPI, count: vcpuCount),
                shared: Array(repeating: Interrupt(), count: Self.spiCount),
                asleep: Array(repeating: true, count: vcpuCount),
                loaded: Array(
                    repeating: Array(repeating: nil, count: GICVirtualInterface.listRegisterCount), count: vcpuCount)
            ))
    }

    deinit { publishedGeneration.destroy() }

    /// The vCPU an SPI is routed to: GICv3 GICD_IROUTER affinity (1-of-N routing picks vCPU 0);
    /// GICv2 the lowest CPU of the GICD_ITARGETSR byte (as KVM), nil when it names none; with one
    /// CPU, GICv2 targets are RAZ/WI and every SPI goes to CPU 0 (IHI 0048B 4.3.12).
    func target(of route: UInt64) -> Int? {
        if version == 2 {
            if mpidrs.count == 1 { return 0 }
            let targets = route & 0xFF
            guard targets != 0 else { return nil }
            let cpu = targets.trailingZeroBitCount
            return cpu < mpidrs.count ? cpu : nil
        }
        if route & (1 << 31) != 0 { return 0 }
        let affinity = route & 0xFF_00FF_FFFF
        return mpidrs.firstIndex { $0 & 0xFF_00FF_FFFF == affinity } ?? 0
    }

    /// Group 1 for GICv3 (the non-secure guest's group); for GICv2 every interrupt, whatever
    /// its GICD_IGROUPR bit, is signalled as an IRQ (FIQs are not modelled).
    func deliverable(_ irq: Interrupt) -> Bool { version == 2 || irq.group1 }

    /// GICD_CTLR enables forwarding: EnableGrp1 (GICv3), Enable or EnableGrp1 (GICv2).
    func forwarding(_ control: UInt32) -> Bool { control & (version == 2 ? 3 : 2) != 0 }

    // MARK: Lines from devices and timers

    /// Drives the input line of an SPI (INTID 32 + `spi`), from any thread.
    public func setSPI(_ spi: Int, level: Bool) {
        guard spi >= 0, spi < Self.spiCount else { return }
        let kickTarget = update { s -> Int? in
            var irq = s.shared[spi]
            let wasPending = irq.pending
            if irq.edge {
                if level && !irq.level { irq.latched = true }
            }
            irq.level = level
            s.shared[spi] = irq
            return irq.pending && !wasPending && irq.enabled ? target(of: irq.route) : nil
        }
        if let kickTarget { kick(kickTarget) }
    }

    // MARK: Flush and sync (the vCPU's own thread)

    /// Before entering the guest: samples the timer lines, then loads the list registers with
    /// the vCPU's active interrupts and its pending, enabled ones in priority order; when they do
    /// not all fit, asks for the underflow maintenance interrupt.
    @inline(__always)
    func flush(_ vcpu: VCPU) {
        let cpu = vcpu.cpu
        let virtualTimer = cpu.timerCondition(virtual: true)
        let physicalTimer = cpu.timerCondition(virtual: false)
        // Nothing changed since a flush that loaded nothing: the list registers are still empty
        // from `sync`. (A change publishes its generation before it kicks the vCPU.)
        let last = vcpu.flushMemo
        if last.idle && last.virtualTimer == virtualTimer && last.physicalTimer == physicalTimer
            && publishedGeneration.load(ordering: .acquiring) == last.generation
        {
            cpu.state.pointee.ichHCR = GICVirtualInterface.hcrEnable
            cpu.virtualInterfaceChanged()
            return
        }
        load(vcpu, virtualTimer: virtualTimer, physicalTimer: physicalTimer)
    }

    /// `flush` when the list registers must be loaded (or looked at again).
    @inline(never)
    private func load(_ vcpu: VCPU, virtualTimer: Bool, physicalTimer: Bool) {
        let cpu = vcpu.cpu
        let index = vcpu.index
        var injectedByClass = (sgi: 0, ppi: 0, spi: 0)
        var memo = FlushMemo(virtualTimer: virtualTimer, physicalTimer: physicalTimer)
        let (loaded, overflow, injected, expiries) = state.withLock { s -> ([UInt64], Bool, Int, Int) in
            memo.generation = s.generation
            var expiries = 0
            if virtualTimer && !s.local[index][Self.virtualTimerPPI].level { expiries += 1 }
            if physicalTimer && !s.local[index][Self.physicalTimerPPI].level { expiries += 1 }
            s.local[index][Self.virtualTimerPPI].level = virtualTimer
            s.local[index][Self.physicalTimerPPI].level = physicalTimer
            let groupEnabled = forwarding(s.distributorControl)
            var candidates: [(intid: Int, priority: UInt8, active: Bool)] = []
            for intid in 0..<32 {
                let irq = s.local[index][intid]
                if irq.active || (groupEnabled && irq.enabled && irq.pending && deliverable(irq)) {
                    candidates.append((intid, irq.priority, irq.active))
                }
            }
            for spi in 0..<Self.spiCount {
                let irq = s.shared[spi]
                guard irq.active || (irq.pending && irq.enabled) else { continue }
                guard target(of: irq.route) == index else { continue }
                if irq.active || (groupEnabled && deliverable(irq)) {
                    candidates.append((32 + spi, irq.priority, irq.active))
                }
            }
            // Active interrupts first (they must stay visible to EOI/DIR), then by priority.
            candidates.sort { ($0.active ? 0 : 1, $0.priority, $0.intid) < ($1.active ? 0 : 1, $1.priority, $1.intid) }
            var values: [UInt64] = []
            var injected = 0
            for n in 0..<GICVirtualInterface.listRegisterCount {
                guard n < candidates.count else {
                    s.loaded[index][n] = nil
                    values.append(0)
                    continue
                }
                let c = candidates[n]
                var irq = s[c.intid, index]
                var lr = GICVirtualInterface.group1 | UInt64(irq.priority) << GICVirtualInterface.priorityShift
                lr |= UInt64(c.intid)
                if irq.active { lr |= GICVirtualInterface.stateActive }
                if irq.pending && irq.enabled {
                    lr |= GICVirtualInterface.statePending
                    injected += 1
                    if c.intid < 16 {
                        injectedByClass.sgi += 1
                    } else if c.intid < 32 {
                        injectedByClass.ppi += 1
                    } else {
                        injectedByClass.spi += 1
                    }
                    if version == 2 && c.intid < 16 && irq.sources != 0 {
                        // One source at a time: its CPU ID goes in vINTID [12:10] (as KVM loads
                        // a GICv2 SGI); the SGI stays pending while other sources wait.
                        let source = irq.sources.trailingZeroBitCount
                        irq.sources &= ~(1 << UInt8(source))
                        lr |= UInt64(source) << 10
                        irq.latched = irq.sources != 0
                    } else if irq.edge {
                        // The list register now holds the pending state of an edge interrupt.
                        irq.latched = false
                    }
                }
                s[c.intid, index] = irq
                s.loaded[index][n] = c.intid
                values.append(lr)
            }
            memo.idle = candidates.isEmpty
            memo.loaded = !candidates.isEmpty
            return (values, candidates.count > GICVirtualInterface.listRegisterCount, injected, expiries)
        }
        vcpu.flushMemo = memo
        for (n, value) in loaded.enumerated() { cpu.setListRegister(n, value) }
        cpu.state.pointee.ichHCR = GICVirtualInterface.hcrEnable | (overflow ? GICVirtualInterface.hcrUnderflow : 0)
        cpu.virtualInterfaceChanged()
        if overflow { vcpu.counters.increment(.listRegisterOverflows) }
        vcpu.counters.increment(.interruptsInjected, by: UInt64(injected))
        if injected > 0 {
            vcpu.counters.increment(.injectedSGIs, by: UInt64(injectedByClass.sgi))
            vcpu.counters.increment(.injectedPPIs, by: UInt64(injectedByClass.ppi))
            vcpu.counters.increment(.injectedSPIs, by: UInt64(injectedByClass.spi))
        }
        vcpu.counters.increment(.timerExpiries, by: UInt64(expiries))
    }

    /// After an exit: folds what the guest did with the list registers (acknowledged, ended,
    /// deactivated) back into the interrupt state.
    @inline(__always)
    func sync(_ vcpu: VCPU) {
        // The last flush loaded no list register: nothing to fold back.
        guard vcpu.flushMemo.loaded else { return }
        fold(vcpu)
    }

    /// `sync` when the last flush loaded list registers.
    @inline(never)
    private func fold(_ vcpu: VCPU) {
        let cpu = vcpu.cpu
        let index = vcpu.index
        vcpu.flushMemo.loaded = false
        let (anyLoaded, retargeted) = state.withLock { s -> (Bool, Int?) in
            var loadedSome = false
            var retargeted: Int?
            for n in 0..<GICVirtualInterface.listRegisterCount {
                guard let intid = s.loaded[index][n] else { continue }
                let lr = cpu.listRegister(n)
                var irq = s[intid, index]
                let pending = lr & GICVirtualInterface.statePending != 0
                irq.active = lr & GICVirtualInterface.stateActive != 0
                if version == 2 && intid < 16 && pending {
                    // Not acknowledged yet: the source waits for the next flush.
                    irq.sources |= 1 << UInt8((lr >> 10) & 7)
                    irq.latched = true
                } else if irq.edge {
                    irq.latched = irq.latched || pending
                } else if !pending {
                    irq.latched = false  // a software-set pending state was acknowledged
                }
                s[intid, index] = irq
                s.loaded[index][n] = nil
                loadedSome = true
                // An SPI rerouted while this vCPU held it: its pending or active state now
                // belongs to the new target, whose flush may be skipping as idle.
                if intid >= 32, irq.pending || irq.active, let t = target(of: irq.route), t != index {
                    bumpGeneration(&s)
                    retargeted = t
                }
            }
            return (loadedSome, retargeted)
        }
        if let retargeted { kick(retargeted) }
        guard anyLoaded else { return }
        for n in 0..<GICVirtualInterface.listRegisterCount { cpu.setListRegister(n, 0) }
    }

    /// What kind of interrupt woke a vCPU: an SGI (an IPI), or any other (PPI, SPI).
    enum PendingKind: Sendable { case sgi, other }

    /// The kind of an interrupt that could be signalled to the vCPU (WFI/WFE wake-up
    /// condition; an SGI counts first), nil when there is none.
    func pendingInterrupt(_ vcpu: VCPU) -> PendingKind? {
        let index = vcpu.index
        let virtualTimer = vcpu.cpu.timerCondition(virtual: true)
        let physicalTimer = vcpu.cpu.timerCondition(virtual: false)
        return state.withLock { s -> PendingKind? in
            guard forwarding(s.distributorControl) else { return nil }
            if s.local[index][0..<16].contains(where: { $0.enabled && $0.pending && deliverable($0) }) { return .sgi }
            if (virtualTimer && s.local[index][Self.virtualTimerPPI].enabled)
                || (physicalTimer && s.local[index][Self.physicalTimerPPI].enabled)
            {
                return .other
            }
            if s.local[index].contains(where: { $0.enabled && $0.pending && deliverable($0) }) { return .other }
            let spi = s.shared.contains {
                $0.enabled && $0.pending && deliverable($0) && target(of: $0.route) == index
            }
            return spi ? .other : nil
        }
    }

    /// ICC_SGI1R_EL1 (Arm IHI 0069 12.2.x): INTID [27:24], TargetList [15:0] with Aff1 [23:16],
    /// Aff2 [39:32], Aff3 [55:48], RS [47:44]; IRM [40] = all but self.
    func sendSGI(_ value: UInt64, from sender: Int) -> [Int] {
        let intid = Int((value >> 24) & 0xF)
        var targets: [Int] = []
        for (index, mpidr) in mpidrs.enumerated() {
            if value & (1 << 40) != 0 {
                if index != sender { targets.append(index) }
                continue
            }
            let aff0 = mpidr & 0xFF
            let sameCluster =
                (mpidr >> 8) & 0xFF == (value >> 16) & 0xFF && (mpidr >> 16) & 0xFF == (value >> 32) & 0xFF
                && (mpidr >> 32) & 0xFF == (value >> 48) & 0xFF
            let rangeBase = ((value >> 44) & 0xF) * 16
            guard sameCluster, aff0 >= rangeBase, aff0 < rangeBase + 16 else { continue }
            if value & (1 << (aff0 - rangeBase)) != 0 { targets.append(index) }
        }
        update { s in
            for t in targets { s.local[t][intid].latched = true }
        }
        return targets
    }

    /// After an SGI was made pending (`sendSGI`, `sendSGIv2`): counts it for the sender and each
    /// target, and kicks the other targets so they flush it (or wake from WFI).
    func deliver(sgiTargets targets: [Int], from sender: VCPU) {
        sender.counters.increment(.sgisSent, by: UInt64(targets.count))
        let vcpus = sender.vm?.vcpus ?? []
        // IPIs received are those other vCPUs sent (`VMStatistics.ipisReceived`).
        for target in targets where target != sender.index && vcpus.indices.contains(target) {
            vcpus[target].counters.incrementFromAnyThread(.ipisReceived)
        }
        for target in targets where target != sender.index { kick(target) }
    }

    /// GICD_SGIR (GICv2, IHI 0048B 4.3.15): TargetListFilter [25:24] (0: the CPUTargetList
    /// [23:16], 1: every CPU but the sender, 2: the sender), SGIINTID [3:0]. Each target
    /// records the sender as a source. Returns the targets.
    func sendSGIv2(_ value: UInt64, from sender: Int) -> [Int] {
        let intid = Int(value & 0xF)
        let targets: [Int]
        switch (value >> 24) & 3 {
        case 0: targets = mpidrs.indices.filter { (value >> 16) & 0xFF & (1 << UInt64($0)) != 0 }
        case 1: targets = mpidrs.indices.filter { $0 != sender }
        case 2: targets = [sender]
        default: targets = []
        }
        update { s in
            for t in targets {
                s.local[t][intid].sources |= 1 << UInt8(sender & 7)
                s.local[t][intid].latched = true
            }
        }
        return targets
    }
}
