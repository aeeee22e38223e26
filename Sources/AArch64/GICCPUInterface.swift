/// The GICv3 virtual CPU interface of one PE (Arm IHI 0069, GICv3/v4 architecture, chapter 6
/// "Virtual interrupt handling"): the guest's ICC_* system-register accesses at EL1, with
/// HCR_EL2.IMO set, reach the ICV_* registers, which run from the hypervisor's list registers
/// (ICH_LR<n>_EL2), ICH_VMCR_EL2 and the active-priority register ICH_AP1R0_EL2 — so
/// acknowledging (IAR1) and ending (EOIR1, DIR) an interrupt never leaves the guest, exactly as
/// on hardware. Writes to ICC_SGI1R_EL1 trap to EL2 (the highvisor sends the SGI).
///
/// Implementation: 4 list registers, 5 bits of priority (32 levels), group 1 only for the
/// non-secure guest (group 0 reads as spurious). The virtual IRQ line (`CoreState.gicSignals`)
/// is recomputed whenever anything that decides it changes.
public enum GICVirtualInterface {
    public static let listRegisterCount = 4
    /// ICH_VTR_EL2: PRIbits = 5, PREbits = 5, ListRegs = 4 (each field holds value − 1).
    public static let vtr: UInt64 = 4 << 29 | 4 << 26 | UInt64(listRegisterCount - 1)
    public static let spurious: UInt64 = 1023
    /// GICC_IIDR of the GICv2 CPU interface: implementer Arm (0x43B), architecture version 2.
    public static let gicv2InterfaceIdentification: UInt64 = 0x0002_043B

    // ICH_LR<n>_EL2 fields.
    public static let stateShift: UInt64 = 62
    public static let statePending: UInt64 = 1 << 62
    public static let stateActive: UInt64 = 2 << 62
    public static let group1: UInt64 = 1 << 60
    public static let priorityShift: UInt64 = 48

    /// An ICH_LR value: a pending group-1 virtual interrupt.
    public static func pendingListRegister(intid: UInt32, priority: UInt8) -> UInt64 {
        statePending | group1 | UInt64(priority) << priorityShift | UInt64(intid)
    }

    // ICH_VMCR_EL2 fields.
    static let vmcrENG1: UInt64 = 1 << 1
    static let vmcrEOIM: UInt64 = 1 << 9
    // ICH_HCR_EL2 fields.
    public static let hcrEnable: UInt64 = 1 << 0
    /// Underflow interrupt enable: maintenance when at most one list register is valid.
    public static let hcrUnderflow: UInt64 = 1 << 1
}

/// The system-register encodings of the GICv3 CPU interface and the generic timer.
public enum GICRegister {
    public static let pmr = SystemRegisterEncoding(3, 0, 4, 6, 0)
    public static let iar1 = SystemRegisterEncoding(3, 0, 12, 12, 0)
    public static let eoir1 = SystemRegisterEncoding(3, 0, 12, 12, 1)
    public static let hppir1 = SystemRegisterEncoding(3, 0, 12, 12, 2)
    public static let bpr1 = SystemRegisterEncoding(3, 0, 12, 12, 3)
    public static let ctlr = SystemRegisterEncoding(3, 0, 12, 12, 4)
    public static let sre = SystemRegisterEncoding(3, 0, 12, 12, 5)
    public static let igrpen0 = SystemRegisterEncoding(3, 0, 12, 12, 6)
    public static let igrpen1 = SystemRegisterEncoding(3, 0, 12, 12, 7)
    public static let iar0 = SystemRegisterEncoding(3, 0, 12, 8, 0)
    public static let eoir0 = SystemRegisterEncoding(3, 0, 12, 8, 1)
    public static let hppir0 = SystemRegisterEncoding(3, 0, 12, 8, 2)
    public static let bpr0 = SystemRegisterEncoding(3, 0, 12, 8, 3)
    public static let ap0r0 = SystemRegisterEncoding(3, 0, 12, 8, 4)
    public static let ap1r0 = SystemRegisterEncoding(3, 0, 12, 9, 0)
    public static let dir = SystemRegisterEncoding(3, 0, 12, 11, 1)
    public static let rpr = SystemRegisterEncoding(3, 0, 12, 11, 3)
    public static let sgi1r = SystemRegisterEncoding(3, 0, 12, 11, 5)
    public static let asgi1r = SystemRegisterEncoding(3, 0, 12, 11, 6)
    public static let sgi0r = SystemRegisterEncoding(3, 0, 12, 11, 7)
    // Generic timer, EL1 physical and virtual (Arm ARM D11.2).
    public static let cntpTVAL = SystemRegisterEncoding(3, 3, 14, 2, 0)
    public static let cntpCTL = SystemRegisterEncoding(3, 3, 14, 2, 1)
    public static let cntpCVAL = SystemRegisterEncoding(3, 3, 14, 2, 2)
    public static let cntvTVAL = SystemRegisterEncoding(3, 3, 14, 3, 0)
    public static let cntvCTL = SystemRegisterEncoding(3, 3, 14, 3, 1)
    public static let cntvCVAL = SystemRegisterEncoding(3, 3, 14, 3, 2)
}

extension CPU {
    /// Reads or writes a list register (the highvisor's side, "at EL2").
    public func listRegister(_ n: Int) -> UInt64 {
        withUnsafeBytes(of: &state.pointee.ichLR) { $0.load(fromByteOffset: n * 8, as: UInt64.self) }
    }

    public func setListRegister(_ n: Int, _ value: UInt64) {
        withUnsafeMutableBytes(of: &state.pointee.ichLR) {
            $0.storeBytes(of: value, toByteOffset: n * 8, as: UInt64.self)
        }
    }

    /// After the highvisor changed list registers, ICH_HCR_EL2 or ICH_VMCR_EL2.
    public func virtualInterfaceChanged() { updateVirtualIRQ() }

    /// The group priority of `priority` under VBPR1 (5 priority bits: BPR1 is at least 3).
    private func groupPriority(_ priority: UInt64) -> UInt64 {
        let bpr = max((state.pointee.ichVMCR >> 18) & 7, 3)
        return priority & (0xFF << bpr) & 0xFF
    }

    /// The running priority: that of the highest active priority level of either group
    /// (ICH_AP0R0_EL2 | ICH_AP1R0_EL2, bit n for priority n << 3), or 0xFF (idle).
    private var runningPriority: UInt64 {
        let active = (state.pointee.ichAP0R0 | state.pointee.ichAP1R0) & 0xFFFF_FFFF
        return active == 0 ? 0xFF : UInt64(active.trailingZeroBitCount) << 3
    }

    /// The list register holding the highest-priority pending group-1 interrupt that may be
    /// signalled (priority below the mask and preempting the running priority), if any.
    private func highestPendingListRegister(checkPreemption: Bool) -> Int? {
        let s = state.pointee
        guard s.ichHCR & GICVirtualInterface.hcrEnable != 0 else { return nil }
        let mask = (s.ichVMCR >> 24) & 0xFF
        var best: Int?
        var bestPriority: UInt64 = 0x100
        for n in 0..<GICVirtualInterface.listRegisterCount {
            let lr = listRegister(n)
            guard lr >> GICVirtualInterface.stateShift & 1 == 1, lr & GICVirtualInterface.group1 != 0 else { continue }
            let priority = (lr >> GICVirtualInterface.priorityShift) & 0xFF
            if priority < bestPriority {
                best = n
                bestPriority = priority
            }
        }
        guard let best, bestPriority < mask else { return nil }
        if checkPreemption && groupPriority(bestPriority) >= groupPriority(runningPriority) && runningPriority != 0xFF {
            return nil
        }
        return best
    }

    /// Whether the virtual CPU interface signals interrupts: ICH_VMCR_EL2.VENG1 for GICv3; for a
    /// GICv2 guest, whose interrupts all go through the list registers as one group, either
    /// GICV_CTLR.EnableGrp0 or EnableGrp1.
    private var interfaceEnabled: Bool {
        let s = state.pointee
        return s.ichVMCR & (s.gicVersion2 ? 3 : GICVirtualInterface.vmcrENG1) != 0
    }

    /// Recomputes the virtual IRQ line the GIC drives into this PE.
    func updateVirtualIRQ() {
        let s = state
        let signal = interfaceEnabled && highestPendingListRegister(checkPreemption: true) != nil
        if signal {
            s.pointee.gicSignals |= HypervisorConfiguration.vi
        } else {
            s.pointee.gicSignals &= ~HypervisorConfiguration.vi
        }
    }

    /// True when at most one list register holds an interrupt: the underflow condition of
    /// ICH_MISR_EL2.U.
    var listRegistersUnderflow: Bool {
        var valid = 0
        for n in 0..<GICVirtualInterface.listRegisterCount where listRegister(n) >> GICVirtualInterface.stateShift != 0
        {
            valid += 1
        }
        return valid <= 1
    }

    /// Whether `e` is a GICv3 CPU-interface system register: ICC_PMR_EL1 (S3_0_C4_C6_0) or one
    /// of S3_0_C12_C8..C12_* (Arm IHI 0069 12.1, the ICC_* encodings).
    @inline(__always)
    static func isCPUInterfaceRegister(_ e: SystemRegisterEncoding) -> Bool {
        e.op0 == 3 && e.op1 == 0 && ((e.crn == 12 && e.crm >= 8) || (e.crn == 4 && e.crm == 6 && e.op2 == 0))
    }

    /// ICC_* accesses from the guest. Returns nil for an encoding that is not a CPU-interface
    /// register. With a GICv2 there is no system-register interface: ICC_SRE_EL1 reads as 0
    /// (SRE = 0: memory-mapped interface only) and every other ICC_* register is UNDEFINED.
    func accessVirtualCPUInterface(_ e: SystemRegisterEncoding, write: Bool, value: UInt64) -> SystemAccess? {
        if state.pointee.gicVersion2 {
            guard Self.isCPUInterfaceRegister(e) else { return nil }
            return e == GICRegister.sre ? .done(0) : .undefined
        }
        return virtualInterfaceAccess(e, write: write, value: value)
    }

    /// The GICv2 CPU interface as the guest sees it at 0x0801_0000 (Arm IHI 0048B, 4.3 and 5.3
    /// GICV_*): the same virtual interface as the ICV_* registers, addressed by offset. GICV_CTLR
    /// has ICH_VMCR_EL2's layout: EnableGrp0 [0], EnableGrp1 [1], AckCtl [2], FIQEn [3], CBPR [4],
    /// EOImode [9]. Both groups are signalled as virtual IRQs (FIQEn is stored, not acted on). The
    /// aliased group-1 registers (AIAR, AEOIR, AHPPIR) act as IAR, EOIR, HPPIR; GICV_BPR is the
    /// group-0 binary point and GICV_ABPR the group-1 one, which governs preemption. An SGI's
    /// INTID carries its source CPU in bits [12:10], as the highvisor loaded it.
    public func accessGICv2CPUInterface(offset: UInt64, write: Bool, value: UInt64) -> UInt64 {
        let s = state
        func register(_ e: SystemRegisterEncoding) -> UInt64 {
            guard case .done(let result) = virtualInterfaceAccess(e, write: write, value: value) else { return 0 }
            return write ? 0 : result
        }
        switch offset {
        case 0x000:
            if write {
                s.pointee.ichVMCR = (s.pointee.ichVMCR & ~0x21F) | (value & 0x21F)
                updateVirtualIRQ()
            }
            return s.pointee.ichVMCR & 0x21F
        case 0x004: return register(GICRegister.pmr)
        case 0x008: return register(GICRegister.bpr0)
        case 0x00C, 0x020: return write ? 0 : register(GICRegister.iar1)
        case 0x010, 0x024: return write ? register(GICRegister.eoir1) : 0
        case 0x014: return write ? 0 : register(GICRegister.rpr)
        case 0x018, 0x028: return write ? 0 : register(GICRegister.hppir1)
        case 0x01C: return register(GICRegister.bpr1)
        case 0x0D0, 0x0E0: return register(GICRegister.ap1r0)
        case 0x0FC: return write ? 0 : GICVirtualInterface.gicv2InterfaceIdentification
        case 0x1000: return write ? register(GICRegister.dir) : 0
        default: return 0
        }
    }

    /// ICV_* accesses (Arm IHI 0069 chapter 8 register descriptions). Returns nil for an
    /// encoding that is not a CPU-interface register.
    private func virtualInterfaceAccess(_ e: SystemRegisterEncoding, write: Bool, value: UInt64) -> SystemAccess? {
        let s = state
        switch e {
        case GICRegister.sre:
            // SRE = 1 (system registers), DFB = DIB = 1; writes ignored (RAO/WI).
            return .done(0x7)
        case GICRegister.pmr:
            if write {
                s.pointee.ichVMCR = (s.pointee.ichVMCR & ~(0xFF << 24)) | (value & 0xF8) << 24
                updateVirtualIRQ()
            }
            return .done((s.pointee.ichVMCR >> 24) & 0xFF)
        case GICRegister.igrpen1:
            if write {
                s.pointee.ichVMCR =
                    (s.pointee.ichVMCR & ~GICVirtualInterface.vmcrENG1)
                    | (value & 1 != 0 ? GICVirtualInterface.vmcrENG1 : 0)
                updateVirtualIRQ()
            }
            return .done(s.pointee.ichVMCR & GICVirtualInterface.vmcrENG1 != 0 ? 1 : 0)
        case GICRegister.igrpen0:
            if write { s.pointee.ichVMCR = (s.pointee.ichVMCR & ~1) | (value & 1) }
            return .done(s.pointee.ichVMCR & 1)
        case GICRegister.bpr1:
            if write {
                s.pointee.ichVMCR = (s.pointee.ichVMCR & ~(7 << 18)) | (max(value & 7, 3)) << 18
                updateVirtualIRQ()
            }
            return .done(max((s.pointee.ichVMCR >> 18) & 7, 3))
        case GICRegister.bpr0:
            if write { s.pointee.ichVMCR = (s.pointee.ichVMCR & ~(7 << 21)) | (max(value & 7, 2)) << 21 }
            return .done(max((s.pointee.ichVMCR >> 21) & 7, 2))
        case GICRegister.ctlr:
            // EOImode (bit 1) is ICH_VMCR_EL2.VEOIM; PRIbits [10:8] = 4 (5 bits), IDbits = 0.
            if write {
                s.pointee.ichVMCR =
                    (s.pointee.ichVMCR & ~GICVirtualInterface.vmcrEOIM)
                    | (value & 2 != 0 ? GICVirtualInterface.vmcrEOIM : 0)
            }
            return .done(4 << 8 | (s.pointee.ichVMCR & GICVirtualInterface.vmcrEOIM != 0 ? 2 : 0))
        case GICRegister.ap1r0:
            if write {
                s.pointee.ichAP1R0 = value & 0xFFFF_FFFF
                updateVirtualIRQ()
            }
            return .done(s.pointee.ichAP1R0)
        case GICRegister.ap0r0:
            // ICV_AP0R0_EL1: implemented with 5 priority bits (AP0R1–3 and AP1R1–3 are not,
            // so they stay UNDEFINED — IHI 0069 ICC_AP0R<n>_EL1).
            if write {
                s.pointee.ichAP0R0 = value & 0xFFFF_FFFF
                updateVirtualIRQ()
            }
            return .done(s.pointee.ichAP0R0)
        case GICRegister.rpr:
            return write ? .undefined : .done(runningPriority)
        case GICRegister.hppir1:
            if write { return .undefined }
            guard let n = highestPendingListRegister(checkPreemption: false) else {
                return .done(GICVirtualInterface.spurious)
            }
            return .done(listRegister(n) & 0xFFFF_FFFF)
        case GICRegister.iar1:
            if write { return .undefined }
            guard interfaceEnabled, let n = highestPendingListRegister(checkPreemption: true)
            else { return .done(GICVirtualInterface.spurious) }
            // Pending → active; the priority becomes the running priority.
            let lr = listRegister(n)
            setListRegister(n, lr & ~(3 << GICVirtualInterface.stateShift) | GICVirtualInterface.stateActive)
            let priority = (lr >> GICVirtualInterface.priorityShift) & 0xFF
            s.pointee.ichAP1R0 |= 1 << (groupPriority(priority) >> 3)
            updateVirtualIRQ()
            return .done(lr & 0xFFFF_FFFF)
        case GICRegister.eoir1:
            if !write { return .undefined }
            // Priority drop: the highest active priority.
            let active = s.pointee.ichAP1R0 & 0xFFFF_FFFF
            if active != 0 { s.pointee.ichAP1R0 &= ~(1 << UInt64(active.trailingZeroBitCount)) }
            if s.pointee.ichVMCR & GICVirtualInterface.vmcrEOIM == 0 { deactivate(intid: value & 0xFF_FFFF) }
            updateVirtualIRQ()
            return .done(0)
        case GICRegister.dir:
            if !write { return .undefined }
            deactivate(intid: value & 0xFF_FFFF)
            updateVirtualIRQ()
            return .done(0)
        case GICRegister.iar0, GICRegister.hppir0:
            return write ? .undefined : .done(GICVirtualInterface.spurious)
        case GICRegister.eoir0:
            return write ? .done(0) : .undefined
        case GICRegister.sgi1r:
            // Generating a group-1 SGI traps to EL2 with HCR_EL2.IMO set (the highvisor
            // delivers it, `SystemRegisterTraps`).
            return write ? .trapToEL2 : .undefined
        case GICRegister.asgi1r, GICRegister.sgi0r:
            // SGIs for the other Security state or for group 0, which this guest has no use for
            // (all its interrupts are group 1): UNDEFINED, without a world switch.
            return .undefined
        default:
            return nil
        }
    }

    /// Clears the active state of the list register holding `intid`; with ICH_HCR_EL2.UIE set
    /// and the list registers nearly empty, asks the highvisor to refill them (the underflow
    /// maintenance interrupt).
    private func deactivate(intid: UInt64) {
        for n in 0..<GICVirtualInterface.listRegisterCount {
            let lr = listRegister(n)
            guard lr & 0xFFFF_FFFF == intid, lr & GICVirtualInterface.stateActive != 0 else { continue }
            setListRegister(n, lr & ~GICVirtualInterface.stateActive)
            break
        }
        if state.pointee.ichHCR & GICVirtualInterface.hcrUnderflow != 0 && listRegistersUnderflow {
            requestMaintenance()
        }
    }

    // MARK: Generic timer

    /// CNTV_* / CNTP_* (Arm ARM D11.2.4): CTL (ENABLE, IMASK, ISTATUS), CVAL, TVAL (CVAL −
    /// counter, signed 32-bit). EL0 access needs CNTKCTL_EL1.EL0VTEN (bit 8) / EL0PTEN (bit 9).
    /// A change tells the highvisor (`timerChanged`) so it can arm the expiry.
    func accessTimer(_ e: SystemRegisterEncoding, write: Bool, value: UInt64, el: UInt8) -> SystemAccess? {
        let virtual: Bool
        switch e {
        case GICRegister.cntvCTL, GICRegister.cntvCVAL, GICRegister.cntvTVAL: virtual = true
        case GICRegister.cntpCTL, GICRegister.cntpCVAL, GICRegister.cntpTVAL: virtual = false
        default: return nil
        }
        let s = state
        if el == 0 && s.pointee.cntkctlEL1 & (virtual ? 1 << 8 : 1 << 9) == 0 { return .trapToEL1 }
        let counter = virtual ? currentCounter() &- s.pointee.virtualCounterOffset : currentCounter()
        let ctl = virtual ? \CoreState.cntvCTL : \CoreState.cntpCTL
        let cval = virtual ? \CoreState.cntvCVAL : \CoreState.cntpCVAL
        switch e {
        case GICRegister.cntvCTL, GICRegister.cntpCTL:
            if write {
                s.pointee[keyPath: ctl] = value & 3
                timerChanged?(self)
            }
            let status: UInt64 = s.pointee[keyPath: ctl] & 1 != 0 && counter >= s.pointee[keyPath: cval] ? 4 : 0
            return .done(s.pointee[keyPath: ctl] | status)
        case GICRegister.cntvCVAL, GICRegister.cntpCVAL:
            if write {
                s.pointee[keyPath: cval] = value
                timerChanged?(self)
            }
            return .done(s.pointee[keyPath: cval])
        default:
            if write {
                s.pointee[keyPath: cval] = counter &+ UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: value)))
                timerChanged?(self)
            }
            return .done((s.pointee[keyPath: cval] &- counter) & 0xFFFF_FFFF)
        }
    }

    /// The output of a timer: ENABLE, not IMASK, and the counter at or past CVAL.
    /// Inlinable, so the highvisor's flush on every world switch decides a disabled or masked
    /// timer (the common case) without a call.
    @inlinable
    public func timerCondition(virtual: Bool) -> Bool {
        let ctl = virtual ? state.pointee.cntvCTL : state.pointee.cntpCTL
        return ctl & 3 == 1 && ticksUntilTimer(virtual: virtual) == 0
    }

    /// The generic timer's event stream (CNTKCTL_EL1.EVNTEN, bit 2; Arm ARM D11.2.3): a WFE
    /// wake-up event each time bit EVNTI (bits 7:4) of the virtual count changes from 0 to 1, or
    /// from 1 to 0 with EVNTDIR (bit 3). Ticks until the next event (at least 1), nil when the
    /// stream is off. Linux turns it on and waits in `udelay` with WFE.
    public func ticksUntilEventStream() -> UInt64? {
        let control = state.pointee.cntkctlEL1
        guard control & (1 << 2) != 0 else { return nil }
        let bit = (control >> 4) & 0xF
        let period: UInt64 = 1 << (bit + 1)
        // The low bits of the count just after the triggering change.
        let trigger: UInt64 = control & (1 << 3) == 0 ? 1 << bit : 0
        let low = (currentCounter() &- state.pointee.virtualCounterOffset) & (period - 1)
        return low < trigger ? trigger - low : period - low + trigger
    }

    /// Counter ticks until the timer fires (0 when it already has), nil when it cannot fire.
    public func ticksUntilTimer(virtual: Bool) -> UInt64? {
        let s = state.pointee
        let ctl = virtual ? s.cntvCTL : s.cntpCTL
        guard ctl & 3 == 1 else { return nil }
        let counter = virtual ? currentCounter() &- s.virtualCounterOffset : currentCounter()
        let cval = virtual ? s.cntvCVAL : s.cntpCVAL
        return cval > counter ? cval - counter : 0
    }
}
