import Foundation
import AArch64
import Atomics

/// Event counters of one vCPU. Only the vCPU's own thread writes them (relaxed atomic stores,
/// no read-modify-write), so counting costs a plain store; any thread may read a snapshot.
public final class VCPUCounters: @unchecked Sendable {
    public enum Counter: Int, CaseIterable, Sendable {
        case worldSwitches, instructionsRetired, mmioReads, mmioWrites, mmioUnclaimed, hypercalls,
            wfiSleeps, kicks, blocksBuilt, systemRegisterTraps, stage2TranslationFaults, stage2AccessFlagFaults,
            stage2PermissionFaults, stage2WalkFaults, stage2FetchFaults, readOnlyWrites, tlbHits, tlbMisses,
            tlbFlushes, interruptsInjected, maintenanceInterrupts, listRegisterOverflows, timerExpiries, sgisSent,
            wakeupsByInterrupt, wakeupsByTimer, wakeupsByKick, ipisReceived, fpTraps, wfeSleeps, wakeupsByEvent,
            wakeupsByIPI, wakeupsByCPUOn, injectedSGIs, injectedPPIs, injectedSPIs
    }

    /// Exits by exception class (64 of them) follow the named counters.
    private static let exitBase = Counter.allCases.count
    /// MMIO exits by bus window (`MMIOBus.windows` index); windows past the last slot share it.
    private static let mmioBase = exitBase + 64
    public static let mmioWindowSlots = 64
    private static let slots = mmioBase + mmioWindowSlots
    private let storage: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>

    public init() {
        storage = .allocate(capacity: Self.slots)
        storage.initialize(repeating: .init(0), count: Self.slots)
    }

    deinit { storage.deallocate() }

    @inline(__always)
    private func atomic(_ slot: Int) -> UnsafeAtomic<UInt64> { UnsafeAtomic(at: storage + slot) }

    @inline(__always)
    public func increment(_ counter: Counter, by amount: UInt64 = 1) {
        let a = atomic(counter.rawValue)
        a.store(a.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// An atomic increment, for the few counters other threads bump (`ipisReceived`).
    public func incrementFromAnyThread(_ counter: Counter, by amount: UInt64 = 1) {
        atomic(counter.rawValue).wrappingIncrement(by: amount, ordering: .relaxed)
    }

    @inline(__always)
    public func set(_ counter: Counter, _ value: UInt64) { atomic(counter.rawValue).store(value, ordering: .relaxed) }

    @inline(__always)
    public func countExit(exceptionClass ec: UInt8) {
        let a = atomic(Self.exitBase + Int(ec & 0x3F))
        a.store(a.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }

    @inline(__always)
    public func countMMIO(window: Int) {
        let a = atomic(Self.mmioBase + min(window, Self.mmioWindowSlots - 1))
        a.store(a.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }

    /// MMIO exits to the window with this index (the last slot also counts any later windows).
    public func mmioExits(window: Int) -> UInt64 {
        atomic(Self.mmioBase + min(window, Self.mmioWindowSlots - 1)).load(ordering: .relaxed)
    }

    public func value(_ counter: Counter) -> UInt64 { atomic(counter.rawValue).load(ordering: .relaxed) }

    public func exits(exceptionClass ec: UInt8) -> UInt64 {
        atomic(Self.exitBase + Int(ec & 0x3F)).load(ordering: .relaxed)
    }
}

/// A point-in-time view of what the highvisor counted for a VM (summed over its vCPUs): the
/// `stats` reply of the control protocol and `armvisor run --stats`.
public struct VMStatistics: Codable, Sendable, Equatable {
    public var worldSwitches: UInt64 = 0
    public var instructionsRetired: UInt64 = 0
    /// Exits by exception class, keyed by the Linux name of the class (`DABT_LOW`, `HVC64`, ...).
    public var exitsByClass: [String: UInt64] = [:]
    public var mmioReads: UInt64 = 0
    public var mmioWrites: UInt64 = 0
    /// MMIO accesses no device claimed (an external abort was injected into the guest).
    public var mmioUnclaimed: UInt64 = 0
    /// Emulated MMIO accesses by device name (`pl011`, `gicv3-distributor`, `virtio-mmio3`, …).
    public var mmioByDevice: [String: UInt64] = [:]
    public var hypercalls: UInt64 = 0
    public var wfiSleeps: UInt64 = 0
    public var blocksBuilt: UInt64 = 0
    /// Stage-2 faults by kind: `translation` and `access-flag` (demand paging), `permission`
    /// (read-only and write-protected pages), and — overlapping those — `walk` (during a guest
    /// page-table walk, S1PTW) and `fetch` (instruction fetches).
    public var stage2Faults: [String: UInt64] = [:]
    /// Writes to read-only guest memory that were dropped.
    public var readOnlyWrites: UInt64 = 0
    /// Guest pages the stage-2 tables map, and the host memory they stand for.
    public var pagesMapped: UInt64 = 0
    public var residentBytes: UInt64 = 0
    /// Machine pages holding the stage-2 tables themselves.
    public var stage2TablePages: UInt64 = 0
    public var tlbHits: UInt64 = 0
    public var tlbMisses: UInt64 = 0
    /// Full TLB flushes (TLBI VMALLE1, TCR/MAIR changes, stage-2 changes).
    public var tlbFlushes: UInt64 = 0
    /// Virtual interrupts loaded pending into list registers, underflow maintenance interrupts,
    /// flushes with more candidates than list registers, timer expiries, SGIs sent.
    public var interruptsInjected: UInt64 = 0
    public var maintenanceInterrupts: UInt64 = 0
    public var listRegisterOverflows: UInt64 = 0
    public var timerExpiries: UInt64 = 0
    public var sgisSent: UInt64 = 0
    /// SGIs (IPIs) that other vCPUs of the VM sent to these vCPUs.
    public var ipisReceived: UInt64 = 0
    /// What ended WFI/WFE sleeps and PSCI CPU_SUSPEND standbys, and what started powered-off
    /// vCPUs: `interrupt` (a PPI or SPI became pending), `ipi` (an SGI did), `timer` (the vCPU's
    /// timer deadline passed), `kick` (pause, stop, or a kick from another thread), `event` (a
    /// WFE woken by another vCPU's SEV or by its exclusive monitor being cleared), `cpu-on`
    /// (PSCI CPU_ON started the vCPU).
    public var wakeups: [String: UInt64] = [:]
    /// Trapped WFEs that slept (HCR_EL2.TWE; a WFE whose event was already set does not).
    public var wfeSleeps: UInt64 = 0
    /// `interruptsInjected` by INTID class: `sgi` (0–15), `ppi` (16–31), `spi` (32 and up).
    public var interruptsByClass: [String: UInt64] = [:]
    /// The same counters for each vCPU, by index (`VCPUStatistics`).
    public var vcpus: [VCPUStatistics] = []
    /// Lazy FP switches: first FP/AdvSIMD instructions after a world switch that trapped to
    /// the highvisor (CPTR_EL2.TFP, EC 0x07) and were resumed on the fast path.
    public var fpTraps: UInt64 = 0
    public var uptimeSeconds: Double = 0
    /// Guest instructions per microsecond of the VM's running time.
    public var mips: Double = 0

    public init() {}

    /// Adds one vCPU's counters; `bus` names the devices of the per-window MMIO counts.
    public mutating func add(_ counters: VCPUCounters, bus: MMIOBus? = nil) {
        if let bus {
            for (index, window) in bus.windows.enumerated() {
                let n = counters.mmioExits(window: index)
                if n > 0 && index < VCPUCounters.mmioWindowSlots - 1 {
                    mmioByDevice[window.device.name, default: 0] += n
                } else if n > 0 && index == VCPUCounters.mmioWindowSlots - 1 {
                    mmioByDevice["other", default: 0] += n
                }
            }
        }
        // What a vCPU row counts too is summed from the row, so the two cannot drift apart.
        let vcpu = VCPUStatistics(index: vcpus.count, counters)
        worldSwitches += vcpu.worldSwitches
        instructionsRetired += vcpu.instructionsRetired
        exitsByClass.merge(vcpu.exitsByClass, uniquingKeysWith: +)
        hypercalls += vcpu.hypercalls
        wfiSleeps += vcpu.wfiSleeps
        wfeSleeps += vcpu.wfeSleeps
        wakeups.merge(vcpu.wakeups, uniquingKeysWith: +)
        interruptsInjected += vcpu.interruptsInjected
        interruptsByClass.merge(vcpu.interruptsByClass, uniquingKeysWith: +)
        maintenanceInterrupts += vcpu.maintenanceInterrupts
        listRegisterOverflows += vcpu.listRegisterOverflows
        timerExpiries += vcpu.timerExpiries
        sgisSent += vcpu.ipisSent
        ipisReceived += vcpu.ipisReceived
        // The VM-wide counters.
        mmioReads += counters.value(.mmioReads)
        mmioWrites += counters.value(.mmioWrites)
        mmioUnclaimed += counters.value(.mmioUnclaimed)
        blocksBuilt += counters.value(.blocksBuilt)
        let kinds: [(String, VCPUCounters.Counter)] = [
            ("translation", .stage2TranslationFaults), ("access-flag", .stage2AccessFlagFaults),
            ("permission", .stage2PermissionFaults), ("walk", .stage2WalkFaults), ("fetch", .stage2FetchFaults),
        ]
        for (name, counter) in kinds {
            let n = counters.value(counter)
            if n > 0 { stage2Faults[name, default: 0] += n }
        }
        readOnlyWrites += counters.value(.readOnlyWrites)
        tlbHits += counters.value(.tlbHits)
        tlbMisses += counters.value(.tlbMisses)
        tlbFlushes += counters.value(.tlbFlushes)
        fpTraps += counters.value(.fpTraps)
        vcpus.append(vcpu)
    }

    /// The human-readable table `armvisor run --stats` prints (like `kvm_stat`'s one-shot view).
    public var report: String {
        var lines = ["armvisor statistics"]
        func row(_ name: String, _ value: String) {
            lines.append("  " + name.padding(toLength: 28, withPad: " ", startingAt: 0) + value)
        }
        row("instructions retired", "\(instructionsRetired)")
        row("world switches", "\(worldSwitches)")
        row("MMIO reads", "\(mmioReads)")
        row("MMIO writes", "\(mmioWrites)")
        row("MMIO unclaimed", "\(mmioUnclaimed)")
        for (name, count) in mmioByDevice.sorted(by: {
            $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key)
        }) {
            row("  MMIO \(name)", "\(count)")
        }
        row("hypercalls", "\(hypercalls)")
        row("WFI sleeps", "\(wfiSleeps)")
        row("blocks decoded", "\(blocksBuilt)")
        row("pages mapped", "\(pagesMapped) (\(residentBytes / 1024) KiB resident)")
        row("stage-2 table pages", "\(stage2TablePages)")
        for name in ["translation", "access-flag", "permission", "walk", "fetch"] {
            row("stage-2 \(name) faults", "\(stage2Faults[name] ?? 0)")
        }
        row("read-only writes", "\(readOnlyWrites)")
        row("TLB hits", "\(tlbHits)")
        row("TLB misses", "\(tlbMisses)")
        row("TLB flushes", "\(tlbFlushes)")
        row("interrupts injected", "\(interruptsInjected)")
        row("maintenance interrupts", "\(maintenanceInterrupts)")
        row("list register overflows", "\(listRegisterOverflows)")
        row("timer expiries", "\(timerExpiries)")
        row("SGIs sent", "\(sgisSent)")
        row("IPIs received", "\(ipisReceived)")
        for name in ["sgi", "ppi", "spi"] {
            row("  injected \(name.uppercased())s", "\(interruptsByClass[name] ?? 0)")
        }
        row("WFE sleeps", "\(wfeSleeps)")
        for (name, _) in VCPUStatistics.wakeupCounters {
            row("wake-ups by \(name)", "\(wakeups[name] ?? 0)")
        }
        row("FP traps (lazy switch)", "\(fpTraps)")
        row("uptime (s)", String(format: "%.3f", uptimeSeconds))
        row("MIPS", String(format: "%.1f", mips))
        lines.append("  exits by exception class:")
        for (name, count) in exitsByClass.sorted(by: {
            $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key)
        }) {
            row("  " + name, "\(count)")
        }
        lines.append("  per vCPU:")
        lines.append(VCPUStatistics.tableHeader)
        for vcpu in vcpus { lines.append(vcpu.tableRow) }
        return lines.joined(separator: "\n")
    }
}

/// One vCPU's share of `VMStatistics` (the `vcpus` array of the `stats` reply, the per-vCPU
/// rows of `armvisor run --stats`), like KVM's per-vCPU debugfs/binary stats: everything here
/// is counted at world switches and exits, never in the interpreter's loop.
public struct VCPUStatistics: Codable, Sendable, Equatable {
    public var index: Int = 0
    public var worldSwitches: UInt64 = 0
    public var instructionsRetired: UInt64 = 0
    /// Exits by exception class, as `VMStatistics.exitsByClass`.
    public var exitsByClass: [String: UInt64] = [:]
    public var hypercalls: UInt64 = 0
    public var wfiSleeps: UInt64 = 0
    public var wfeSleeps: UInt64 = 0
    /// Wake-ups by cause, as `VMStatistics.wakeups`.
    public var wakeups: [String: UInt64] = [:]
    public var interruptsInjected: UInt64 = 0
    /// Injected interrupts by INTID class: `sgi`, `ppi`, `spi`.
    public var interruptsByClass: [String: UInt64] = [:]
    public var maintenanceInterrupts: UInt64 = 0
    public var listRegisterOverflows: UInt64 = 0
    public var timerExpiries: UInt64 = 0
    /// SGIs this vCPU sent (one per target) and SGIs that arrived at it.
    public var ipisSent: UInt64 = 0
    public var ipisReceived: UInt64 = 0

    public init() {}

    /// The wake-up causes, by their name in `wakeups`, in report order.
    static let wakeupCounters: [(String, VCPUCounters.Counter)] = [
        ("interrupt", .wakeupsByInterrupt), ("ipi", .wakeupsByIPI), ("timer", .wakeupsByTimer),
        ("kick", .wakeupsByKick), ("event", .wakeupsByEvent), ("cpu-on", .wakeupsByCPUOn),
    ]

    static let interruptClassCounters: [(String, VCPUCounters.Counter)] = [
        ("sgi", .injectedSGIs), ("ppi", .injectedPPIs), ("spi", .injectedSPIs),
    ]

    public init(index: Int, _ counters: VCPUCounters) {
        self.index = index
        worldSwitches = counters.value(.worldSwitches)
        instructionsRetired = counters.value(.instructionsRetired)
        for ec in UInt8(0)..<64 {
            let n = counters.exits(exceptionClass: ec)
            if n > 0 { exitsByClass[ExceptionClass.name(of: ec), default: 0] += n }
        }
        hypercalls = counters.value(.hypercalls)
        wfiSleeps = counters.value(.wfiSleeps)
        wfeSleeps = counters.value(.wfeSleeps)
        for (name, counter) in Self.wakeupCounters { wakeups[name] = counters.value(counter) }
        interruptsInjected = counters.value(.interruptsInjected)
        for (name, counter) in Self.interruptClassCounters { interruptsByClass[name] = counters.value(counter) }
        maintenanceInterrupts = counters.value(.maintenanceInterrupts)
        listRegisterOverflows = counters.value(.listRegisterOverflows)
        timerExpiries = counters.value(.timerExpiries)
        ipisSent = counters.value(.sgisSent)
        ipisReceived = counters.value(.ipisReceived)
    }

    /// The columns of the per-vCPU rows of the report.
    static let columns = [
        "vcpu", "switches", "exits", "WFI", "WFE", "injected", "maint", "LR-ovf", "expiries", "IPI-tx", "IPI-rx",
        "wake:irq", "wake:ipi", "wake:timer", "wake:kick", "wake:event", "wake:cpu-on",
    ]

    static func format(_ cells: [String]) -> String {
        "  " + cells.map { String(repeating: " ", count: max(12 - $0.count, 1)) + $0 }.joined()
    }

    static var tableHeader: String { format(columns) }

    /// This vCPU's row under `tableHeader`.
    var tableRow: String {
        let exits = exitsByClass.values.reduce(0, +)
        let cells: [UInt64] =
            [
                UInt64(index), worldSwitches, exits, wfiSleeps, wfeSleeps, interruptsInjected, maintenanceInterrupts,
                listRegisterOverflows, timerExpiries, ipisSent, ipisReceived,
            ] + Self.wakeupCounters.map { wakeups[$0.0] ?? 0 }
        return Self.format(cells.map { "\($0)" })
    }
}
