/// The architectural state of one AArch64 processing element (PE) running a guest at EL1/EL0,
/// plus the EL2 controls that decide which guest actions trap (Arm ARM D1.2 "PSTATE", D17 system
/// registers).
///
/// General-purpose registers live apart, in `CPU.registers`, so the interpreter can index them
/// with one pointer: slots 0–30 are X0–X30, slot 31 is the zero register (re-zeroed after every
/// write), slot 32 is the stack pointer currently selected by `PSTATE.{EL,SP}`.
public struct CoreState: Sendable {
    // PSTATE (Arm ARM D1.2).
    public var pc: UInt64 = 0
    /// N, Z, C, V at bits 31:28, as in `NZCV` and `SPSR_ELx`. A fused SUBS/CMP and B.cond
    /// (`CPU.run`) leaves them pending (`deferSubtractionFlags`); reading works them out.
    public var nzcv: UInt32 {
        @inline(__always) get {
            storedNZCV & Self.flagsPending == 0
                ? storedNZCV : Arithmetic.subtractionFlags(pendingMinuend, pendingSubtrahend)
        }
        // Bits 31:28 only, so no write can look like `flagsPending` (free where the value is
        // already known to be in those bits, as in the interpreter's flag writes).
        @inline(__always) set { storedNZCV = newValue & 0xF000_0000 }
    }
    /// NZCV as last written (bits 31:28), or `flagsPending`: NZCV is then that of the 64-bit
    /// subtraction `pendingMinuend` − `pendingSubtrahend`.
    var storedNZCV: UInt32 = 0
    var pendingMinuend: UInt64 = 0
    var pendingSubtrahend: UInt64 = 0
    /// A value of `storedNZCV` no NZCV write makes (NZCV is bits 31:28 only).
    static let flagsPending: UInt32 = 1

    /// Records that NZCV is that of the 64-bit subtraction `a` − `b`, to be worked out only if
    /// something reads it: most loops' compare is read by its branch alone, which tests the
    /// operands directly (`Arithmetic.compareMask`).
    @inline(__always)
    public mutating func deferSubtractionFlags(_ a: UInt64, _ b: UInt64) {
        pendingMinuend = a
        pendingSubtrahend = b
        storedNZCV = Self.flagsPending
    }
    /// D, A, I, F at bits 9:6, as in `DAIF` and `SPSR_ELx`.
    public var daif: UInt32 = 0x3C0
    public var exceptionLevel: UInt8 = 1
    /// `PSTATE.SP`: 0 selects SP_EL0, 1 selects SP_ELx.
    public var spSel: UInt8 = 1
    /// `PSTATE.IL`: set by an illegal exception return (Arm ARM D1.4.5).
    public var illegalState: Bool = false

    /// Banked stack pointers; the selected one is held in register slot 32 while running.
    public var spEL0: UInt64 = 0
    public var spEL1: UInt64 = 0

    // EL1 and EL0 system registers (Arm ARM D17.2).
    /// Reset value: QEMU's Cortex-A57 value with the ARMv8.0 RES1 bits set.
    public var sctlrEL1: UInt64 = 0x30D5_0838
    public var actlrEL1: UInt64 = 0
    public var cpacrEL1: UInt64 = 0
    public var ttbr0EL1: UInt64 = 0
    public var ttbr1EL1: UInt64 = 0
    public var tcrEL1: UInt64 = 0
    public var mairEL1: UInt64 = 0
    public var amairEL1: UInt64 = 0
    public var vbarEL1: UInt64 = 0
    public var contextidrEL1: UInt64 = 0
    public var tpidrEL1: UInt64 = 0
    public var tpidrEL0: UInt64 = 0
    public var tpidrroEL0: UInt64 = 0
    public var elrEL1: UInt64 = 0
    public var spsrEL1: UInt64 = 0
    public var esrEL1: UInt64 = 0
    public var farEL1: UInt64 = 0
    public var parEL1: UInt64 = 0
    public var afsr0EL1: UInt64 = 0
    public var afsr1EL1: UInt64 = 0
    public var cntkctlEL1: UInt64 = 0
    /// MDSCR_EL1 (stored; the core generates no debug exceptions).
    public var mdscrEL1: UInt64 = 0
    /// DBGBVR0–5_EL1, DBGBCR0–5_EL1, DBGWVR0–3_EL1, DBGWCR0–3_EL1 in that order
    /// (`CPU.debugRegisterIndex`): the breakpoint and watchpoint registers ID_AA64DFR0_EL1
    /// announces, kept as storage.
    public var debugRegisters:
        (
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64
        ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    public var csselrEL1: UInt64 = 0
    /// FPCR (Arm ARM C5.2.8): AHP, DN, FZ, RMode, Stride, Len; `FloatingPointControl`.
    public var fpcr: UInt64 = 0
    /// FPSR (Arm ARM C5.2.9): N, Z, C, V, QC and the cumulative IDC, IXC, UFC, OFC, DZC, IOC.
    public var fpsr: UInt64 = 0

    /// The local exclusive monitor (Arm ARM B2.9.2): armed by a load-exclusive for
    /// `exclusiveAddress`/`exclusiveSize`, cleared by a store-exclusive, CLREX and exception return.
    public var exclusiveArmed: Bool = false
    public var exclusiveAddress: UInt64 = 0
    public var exclusiveSize: UInt64 = 0
    /// What the load-exclusive read (the first and, for a pair, the second register). The global
    /// monitor is the memory itself: a store-exclusive succeeds only if an atomic compare-and-swap
    /// finds these values still there, so a store by another vCPU in between makes it fail
    /// (`CPU.executeOrderedAccess`).
    public var exclusiveValue: UInt64 = 0
    public var exclusiveValue2: UInt64 = 0
    /// Where the armed load-exclusive read in host memory, so a vCPU sleeping in a trapped WFE
    /// can tell when another vCPU's store cleared the global monitor (`CPU.exclusiveMonitorCleared`).
    public var exclusiveHost: UInt = 0
    /// The event register of WFE/SEV (Arm ARM D1.16.1).
    public var eventRegister: Bool = false
    /// A TLBI ... IS, IC IVAU or IC IALLUIS was broadcast to the other vCPUs since the last
    /// barrier: the next DSB waits for them to drop their entries (`CPU.completeBroadcasts`).
    public var broadcastPending: Bool = false

    // Identity as the guest sees it (VPIDR_EL2 / VMPIDR_EL2 under virtualization).
    public var midr: UInt64 = 0x411F_D070
    public var mpidr: UInt64 = 0x8000_0000

    /// CNTVOFF_EL2: CNTVCT_EL0 = CNTPCT_EL0 - this offset.
    public var virtualCounterOffset: UInt64 = 0

    // EL2 controls, written by the highvisor (Arm ARM D17.2.48 HCR_EL2).
    public var hcrEL2: UInt64 = HypervisorConfiguration.guestDefault
    /// VTTBR_EL2: VMID[55:48] and the stage-2 root table's machine-physical address.
    public var vttbrEL2: UInt64 = 0
    /// VTCR_EL2: the stage-2 translation controls (T0SZ, SL0, TG0, PS).
    public var vtcrEL2: UInt64 = 0
    /// CPTR_EL2 (Arm ARM D17.2.31): TFP (bit 10) traps FP/AdvSIMD use at EL0/EL1 to EL2; the
    /// highvisor sets it on guest entry to switch FP state lazily (`FPRegisterFile.swift`).
    public var cptrEL2: UInt64 = 0

    /// The TLB context of the running translation regime: VMID << 32 | ASID, or with stage 1
    /// off VMID << 32 | `TLB.flatBit` (`CPU.updateTranslationContext`).
    public var tlbContext: UInt64 = TLB.flatBit
    /// The context global (nG = 0) entries carry: VMID << 32 | `TLB.globalBit`.
    public var tlbGlobalContext: UInt64 = TLB.flatBit
    // The GICv3 virtual CPU interface (`GICCPUInterface.swift`), written by the highvisor.
    /// ICH_LR0–3_EL2.
    public var ichLR: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    public var ichHCR: UInt64 = 0
    /// ICH_VMCR_EL2: VPMR [31:24], VBPR1 [20:18], VEOIM [9], VENG1 [1], VENG0 [0].
    public var ichVMCR: UInt64 = 3 << 18
    public var ichAP1R0: UInt64 = 0
    /// ICH_AP0R0_EL2: the group-0 active priorities (the guest's ICV_AP0R0_EL1). No group-0
    /// interrupt is ever listed, so only the guest's own writes change it.
    public var ichAP0R0: UInt64 = 0
    /// The VM's GIC is a GICv2: the PE has no system-register CPU interface (ICC_* accesses are
    /// UNDEFINED, ID_AA64PFR0_EL1.GIC = 0) and the guest uses the memory-mapped GICv2 CPU
    /// interface instead (`CPU.accessGICv2CPUInterface`), served from the same list registers.
    public var gicVersion2: Bool = false
    /// Interrupt lines the virtual GIC drives into the PE (HCR_EL2.VI's bit position), OR'd with
    /// HCR_EL2.{VI,VF,VSE} when the core decides whether an interrupt is due.
    public var gicSignals: UInt64 = 0

    // The EL1 generic timers (Arm ARM D11.2.4).
    public var cntvCTL: UInt64 = 0
    public var cntvCVAL: UInt64 = 0
    public var cntpCTL: UInt64 = 0
    public var cntpCVAL: UInt64 = 0

    /// Set when a memory access recorded an exit to EL2 (a stage-2 abort) instead of taking an
    /// exception to EL1; the interpreter clears it as it returns `.trap`.
    public var pendingExit: Bool = false

    // The record of the last exit to EL2: what a real PE writes to ESR/FAR/HPFAR_EL2.
    public var exitSyndrome: UInt64 = 0
    public var exitFaultAddress: UInt64 = 0
    public var exitIPAPage: UInt64 = 0

    /// Instructions retired since the vCPU was created.
    public var instructionsRetired: UInt64 = 0
    /// Instructions the current `CPU.run` call retired before the system instruction being
    /// executed (0 outside `run`): with `instructionsRetired`, the icount clock's exact reading.
    public var retiredInRun: UInt64 = 0
    /// Inline TLB hits of the current `CPU.run` call, added to `TLB.hits` when it returns (a
    /// counter in memory: a local one costs the loop a register it cannot spare).
    public var tlbHitsInRun: UInt64 = 0
    /// The icount clock (`CPU.icount`): counter ticks added by WFI sleeps skipped ahead to the
    /// next timer deadline.
    public var icountSkippedTicks: UInt64 = 0

    public init() {}

    /// `SPSR_ELx` view of PSTATE: NZCV, DAIF, IL[20], M[3:0] = EL<<2 | SP.
    public var processorState: UInt64 {
        UInt64(nzcv) | UInt64(daif) | (illegalState ? 1 << 20 : 0)
            | UInt64(exceptionLevel) << 2 | UInt64(spSel)
    }
}

/// Bits of `HCR_EL2` the core consults (Arm ARM D17.2.48; Linux `kvm_arm.h`).
public enum HypervisorConfiguration {
    public static let vm: UInt64 = 1 << 0
    public static let swio: UInt64 = 1 << 1
    public static let fmo: UInt64 = 1 << 3
    public static let imo: UInt64 = 1 << 4
    public static let amo: UInt64 = 1 << 5
    /// Default Cacheable: with stage 1 off, data accesses are Normal memory, not Device.
    public static let dc: UInt64 = 1 << 12
    public static let twi: UInt64 = 1 << 13
    public static let twe: UInt64 = 1 << 14
    public static let vf: UInt64 = 1 << 6
    public static let vi: UInt64 = 1 << 7
    public static let vse: UInt64 = 1 << 8
    public static let tid3: UInt64 = 1 << 18
    public static let tsc: UInt64 = 1 << 19
    public static let tidcp: UInt64 = 1 << 20
    public static let tacr: UInt64 = 1 << 21
    public static let tvm: UInt64 = 1 << 26
    public static let hcd: UInt64 = 1 << 29
    public static let trvm: UInt64 = 1 << 30
    /// The virtual interrupt lines (VF, VI, VSE): any set means an exception may be due.
    public static let virtualInterrupts: UInt64 = vf | vi | vse
    public static let rw: UInt64 = 1 << 31

    /// What the highvisor sets for a guest, as KVM does for an ARMv8.0 guest: WFI, WFE (KVM when
    /// the vCPU shares its host CPU; here always, so a waiting vCPU sleeps) and SMC trapped, interrupts routed to EL2, lower ELs AArch64. Stage 2 (`vm`) is added by the
    /// highvisor once it has built the VM's stage-2 tables; a bare core has none.
    public static let guestDefault: UInt64 = swio | fmo | imo | amo | twi | twe | tsc | rw
}

/// Why `CPU.run` returned: the world switch's reason.
public enum CoreExit: UInt8, Sendable {
    /// A trap to EL2; `CoreState.exitSyndrome` holds the `ESR_EL2` value.
    case trap
    /// Another thread asked the vCPU to stop at a block boundary (pause, stop, interrupt).
    case kick
    /// The instruction budget given to `run` is used up.
    case budget
}
