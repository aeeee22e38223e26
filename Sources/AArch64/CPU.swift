import Atomics
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// One emulated AArch64 core: its register file, PSTATE and system registers (`CoreState`), its
/// decoded-block cache, and the request word other threads use to stop it at a block boundary.
///
/// A `CPU` is driven by exactly one thread at a time (its vCPU's serial queue); only `kick()` and
/// the request word may be touched from elsewhere.
public final class CPU: @unchecked Sendable {
    /// X0–X30, the zero register (slot 31, always 0), the current SP (slot 32), and a sink
    /// (slot 33) that instructions whose destination is XZR write to, so no write needs a test.
    public let registers: UnsafeMutablePointer<UInt64>
    /// V0–V31, 128 bits each, little-endian: Vn occupies slots 2n (bits 63:0) and 2n + 1
    /// (bits 127:64), so B/H/S/D views are the low bytes of its 16 (`FPRegisterFile.swift`).
    public let vectors: UnsafeMutablePointer<UInt64>
    public let state: UnsafeMutablePointer<CoreState>
    public let blocks: BlockCache
    /// The machine-physical memory stage 2 outputs into.
    public let memory: PhysicalMemory
    /// The combined stage-1 + stage-2 TLB.
    public let tlb: TLB
    /// Stage-2 page translations the stage-1 walker reuses (flushed with stage-2 changes).
    let stage2Cache = Stage2Cache()
    /// Machine pages this core marked as holding decoded code, so dropping the blocks clears
    /// just those pages of the `CodeMap` rather than scanning all of it.
    var markedCodePages: Set<UInt64> = []
    /// Gathers the bytes of a load that crosses a page boundary (at most 16).
    let bounce: UnsafeMutableRawPointer
    /// Gathers and scatters the bytes of one SIMD&FP load or store (at most 64: LD4 of four Q).
    let vectorScratch: UnsafeMutableRawPointer
    let requests: UnsafeAtomic<UInt32>
    /// The code pages other vCPUs' IC IVAU named since this core last serviced its requests
    /// (`requestCodeInvalidation`), or every page.
    let remoteCodeInvalidations = Mutex(RemoteCodeInvalidations())

    /// What `remoteCodeInvalidations` holds: the machine-physical pages to drop decoded code
    /// from, or `all` (IC IALLUIS, or more pages than `limit` before the core got to them).
    struct RemoteCodeInvalidations {
        static let limit = 32
        var pages: [UInt64] = []
        var all = false
    }

    /// The host-time source behind `currentCounter()` (what CNTPCT_EL0 reads unless the icount
    /// clock is on), in ticks of `Identification.counterFrequency`: host monotonic time; tests
    /// may replace it.
    public var systemCounter: @Sendable () -> UInt64 = CPU.hostMonotonicCounter

    /// Deterministic time (`clock = icount`, like QEMU's `-icount`): when set, the system counter
    /// is derived from instructions retired — one tick (16 ns at 62.5 MHz) per instruction —
    /// plus the ticks WFI skipped to reach a timer deadline, instead of host time. Two runs of a
    /// guest then see the same counter values at the same instructions.
    public var icount = false

    /// CNTPCT_EL0 as the guest reads it now.
    @inline(never)
    public func currentCounter() -> UInt64 {
        guard icount else { return systemCounter() }
        let s = state.pointee
        return s.instructionsRetired &+ s.retiredInRun &+ s.icountSkippedTicks
    }

    public static let registerSlots = 34
    public static let zeroRegister = 31
    public static let stackPointer = 32
    public static let discard = 33
    /// 64-bit slots of `vectors`: two per V register.
    public static let vectorSlots = 64

    public init(memory: PhysicalMemory) {
        self.memory = memory
        tlb = TLB()
        bounce = .allocate(byteCount: 16, alignment: 16)
        registers = .allocate(capacity: Self.registerSlots)
        registers.initialize(repeating: 0, count: Self.registerSlots)
        vectors = .allocate(capacity: Self.vectorSlots)
        vectors.initialize(repeating: 0, count: Self.vectorSlots)
        vectorScratch = .allocate(byteCount: 64, alignment: 16)
        state = .allocate(capacity: 1)
        state.initialize(to: CoreState())
        blocks = BlockCache()
        requests = .create(0)
    }

    /// Nanoseconds per tick of the system counter (16 at 62.5 MHz).
    public static let nanosecondsPerTick: UInt64 = 1_000_000_000 / Identification.counterFrequency

    /// Host CLOCK_MONOTONIC scaled to the counter frequency (`Identification.counterFrequency`).
    @Sendable public static func hostMonotonicCounter() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanoseconds = UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
        return nanoseconds / nanosecondsPerTick
    }

    deinit {
        registers.deallocate()
        vectors.deallocate()
        vectorScratch.deallocate()
        state.deallocate()
        bounce.deallocate()
        stage2Cache.deallocate()
        requests.destroy()
    }

    /// Asks the core to leave `run` at the next block boundary with `CoreExit.kick`. Thread-safe.
    public func kick() { _ = requests.loadThenBitwiseOr(with: Self.kickRequest, ordering: .releasing) }

    /// Clears a pending kick; called by the vCPU thread once it has acted on it.
    public func acknowledgeKick() { _ = requests.loadThenBitwiseAnd(with: ~Self.kickRequest, ordering: .relaxed) }

    public var hasPendingKick: Bool { requests.load(ordering: .acquiring) & Self.kickRequest != 0 }

    /// Asks the core to drop its TLB at its next block boundary, without leaving `run` (another
    /// vCPU executed a TLBI ... IS). Thread-safe.
    public func requestTLBInvalidation() {
        _ = requests.loadThenBitwiseOr(with: Self.tlbInvalidationRequest, ordering: .sequentiallyConsistent)
    }

    /// Asks the core to drop its cached translations at its next block boundary, without
    /// leaving `run` (another vCPU's highvisor changed stage 2). Thread-safe.
    public func requestStage2Invalidation() {
        _ = requests.loadThenBitwiseOr(with: Self.invalidationRequest, ordering: .sequentiallyConsistent)
    }

    /// Set by the highvisor: called on this core's thread when the guest executes an
    /// Inner-Shareable TLBI, so every other vCPU of the VM drops its translations too.
    public var broadcastTLBInvalidation: (@Sendable () -> Void)?

    /// Set by the highvisor: called on this core's thread by the first barrier after a broadcast
    /// TLB or instruction-cache invalidation; returns once every other vCPU of the VM has
    /// dropped its entries (or is outside the guest, where it drops them before re-entering).
    public var awaitBroadcastCompletion: (@Sendable () -> Void)?

    /// Set by the highvisor: called on this core's thread when the guest executes SEV, so every
    /// other vCPU of the VM gets the event (`postEvent`) and wakes from a trapped WFE.
    public var broadcastEvent: (@Sendable () -> Void)?

    /// Set by the highvisor: called on this core's thread when the guest executes IC IVAU (with
    /// the machine-physical page it names) or IC IALLUIS (nil), both broadcast to the Inner
    /// Shareable domain (Arm ARM D7.4.4), so the other vCPUs drop decoded code of that page.
    public var broadcastCodeInvalidation: (@Sendable (UInt64?) -> Void)?

    /// Asks the core to drop its decoded blocks from the machine-physical page `physicalPage`
    /// (another vCPU's IC IVAU), or all of them (nil: IC IALLUIS), at its next block boundary,
    /// without leaving `run`. Thread-safe. The page is recorded before the request bit is set
    /// and taken after the bit is cleared (`serviceRequests`), so a request the core sees
    /// always finds its page.
    public func requestCodeInvalidation(physicalPage: UInt64?) {
        remoteCodeInvalidations.withLock { pending in
            guard !pending.all else { return }
            if let page = physicalPage, pending.pages.contains(page) { return }
            if let page = physicalPage, pending.pages.count < RemoteCodeInvalidations.limit {
                pending.pages.append(page)
            } else {
                pending.all = true
                pending.pages.removeAll()
            }
        }
        _ = requests.loadThenBitwiseOr(with: Self.codeInvalidationRequest, ordering: .sequentiallyConsistent)
    }

    /// Whether this core holds decoded code from the machine-physical page (read by other
    /// vCPUs' threads deciding whom an IC IVAU concerns). A block marks its page, and fences,
    /// before it reads its code (`BlockCache.build`), so a mark this misses belongs to a block
    /// that reads the code after the issuer's store: a stale answer costs at most a needless
    /// flush.
    public func holdsCode(physicalPage: UInt64) -> Bool {
        memory.contains(physicalPage) && memory.isCodePage(physicalPage)
    }

    /// Set by the highvisor: called on this core's thread when the guest writes a timer control
    /// or compare register, so the expiry can be armed.
    public var timerChanged: (@Sendable (CPU) -> Void)?

    /// The virtual CPU interface's underflow maintenance interrupt: leave `run` (as a kick) so
    /// the highvisor refills the list registers. Only the core's own thread calls it.
    func requestMaintenance() {
        _ = requests.loadThenBitwiseOr(with: Self.kickRequest | Self.maintenanceRequest, ordering: .relaxed)
    }

    /// True (once) when the last kick was a maintenance interrupt; the vCPU loop counts it.
    public func takeMaintenanceRequest() -> Bool {
        requests.loadThenBitwiseAnd(with: ~Self.maintenanceRequest, ordering: .relaxed) & Self.maintenanceRequest != 0
    }

    static let maintenanceRequest: UInt32 = 4
    static let kickRequest: UInt32 = 1
    static let invalidationRequest: UInt32 = 2
    static let codeInvalidationRequest: UInt32 = 8
    static let tlbInvalidationRequest: UInt32 = 16
    static let eventRequest: UInt32 = 32

    /// Acts on the request word; true when `run` must return `.kick`.
    @inline(never)
    func serviceRequests() -> Bool {
        let pending = requests.load(ordering: .acquiring)
        serviceTranslationRequests(pending)
        if pending & Self.codeInvalidationRequest != 0 {
            _ = requests.loadThenBitwiseAnd(with: ~Self.codeInvalidationRequest, ordering: .acquiring)
            let taken = remoteCodeInvalidations.withLock { pending in
                defer { pending = RemoteCodeInvalidations() }
                return pending
            }
            if taken.all {
                invalidateDecodedCode()
            } else {
                for page in taken.pages { invalidateDecodedCode(physicalPage: page) }
            }
        }
        if pending & Self.eventRequest != 0 {
            _ = requests.loadThenBitwiseAnd(with: ~Self.eventRequest, ordering: .acquiring)
            state.pointee.eventRegister = true
        }
        return pending & Self.kickRequest != 0
    }

    /// Clears and acts on the stage-2 and TLB invalidation requests among `pending`.
    func serviceTranslationRequests(_ pending: UInt32) {
        if pending & Self.invalidationRequest != 0 {
            _ = requests.loadThenBitwiseAnd(with: ~Self.invalidationRequest, ordering: .acquiring)
            invalidateStage2()
        }
        if pending & Self.tlbInvalidationRequest != 0 {
            _ = requests.loadThenBitwiseAnd(with: ~Self.tlbInvalidationRequest, ordering: .acquiring)
            tlb.invalidateAll()
        }
    }

    // MARK: Register access outside the hot loop

    public func x(_ n: Int) -> UInt64 { n == 31 ? 0 : registers[n] }

    public func setX(_ n: Int, _ value: UInt64) {
        guard n < 31 else { return }
        registers[n] = value
    }

    public var sp: UInt64 {
        get { registers[Self.stackPointer] }
        set { registers[Self.stackPointer] = newValue }
    }

    public var pc: UInt64 {
        get { state.pointee.pc }
        set { state.pointee.pc = newValue }
    }

    /// Puts the core in the state the Linux boot protocol and PSCI CPU_ON require (Arm ARM
    /// D1.9 reset; booting.rst): EL1h, DAIF masked, MMU off, X0 = `x0`, other registers zero.
    public func reset(entry: UInt64, x0: UInt64, mpidr: UInt64) {
        registers.update(repeating: 0, count: Self.registerSlots)
        vectors.update(repeating: 0, count: Self.vectorSlots)
        let hcr = state.pointee.hcrEL2
        let vttbr = state.pointee.vttbrEL2
        let vtcr = state.pointee.vtcrEL2
        let cptr = state.pointee.cptrEL2
        let retired = state.pointee.instructionsRetired
        let skipped = state.pointee.icountSkippedTicks
        let gicVersion2 = state.pointee.gicVersion2
        state.pointee = CoreState()
        state.pointee.gicVersion2 = gicVersion2
        state.pointee.icountSkippedTicks = skipped
        state.pointee.hcrEL2 = hcr
        state.pointee.vttbrEL2 = vttbr
        state.pointee.vtcrEL2 = vtcr
        state.pointee.cptrEL2 = cptr
        state.pointee.instructionsRetired = retired
        state.pointee.mpidr = mpidr
        state.pointee.pc = entry
        registers[0] = x0
        invalidateDecodedCode()
        tlb.invalidateAll()
        updateTranslationContext()
    }

    /// Selects the stack pointer for the current `PSTATE.{EL,SP}`, saving the old one to its bank.
    @inline(__always)
    func switchStack(toEL el: UInt8, spSel: UInt8) {
        let s = state
        if s.pointee.spSel == 0 {
            s.pointee.spEL0 = registers[Self.stackPointer]
        } else {
            s.pointee.spEL1 = registers[Self.stackPointer]
        }
        s.pointee.exceptionLevel = el
        s.pointee.spSel = spSel
        registers[Self.stackPointer] = spSel == 0 ? s.pointee.spEL0 : s.pointee.spEL1
    }

    /// The stack pointer of `PSTATE.SP` = 0 (SP_EL0), whichever one is live.
    var currentSPEL0: UInt64 {
        get { state.pointee.spSel == 0 ? registers[Self.stackPointer] : state.pointee.spEL0 }
        set {
            if state.pointee.spSel == 0 {
                registers[Self.stackPointer] = newValue
            } else {
                state.pointee.spEL0 = newValue
            }
        }
    }
}

extension CPU {
    /// Completes a trapped instruction the highvisor emulated: PC += 4 (ESR.IL = 1), counted
    /// as retired.
    public func skipInstruction() {
        state.pointee.pc &+= 4
        state.pointee.instructionsRetired &+= 1
    }
}
