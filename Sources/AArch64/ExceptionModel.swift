/// Exception entry and return for the EL1&0 regime (Arm ARM D1.10 "Exception entry",
/// D1.11 "Exception return").
extension CPU {
    /// Offset of a vector from `VBAR_EL1`: the group by where it came from, plus the kind.
    public enum VectorKind: UInt64, Sendable {
        case synchronous = 0x000
        case irq = 0x080
        case fiq = 0x100
        case serror = 0x180
    }

    /// Takes an exception to EL1: saves PSTATE to `SPSR_EL1` and the return address to `ELR_EL1`,
    /// records the syndrome (and `FAR_EL1` for aborts), switches to EL1h with DAIF masked, and
    /// returns the vector address the PE continues at.
    @inline(never)
    public func takeExceptionToEL1(
        kind: VectorKind, syndrome: UInt64, preferredReturn: UInt64, faultAddress: UInt64? = nil
    ) -> UInt64 {
        let s = state
        let fromEL = s.pointee.exceptionLevel
        let group: UInt64 = fromEL == 0 ? 0x400 : (s.pointee.spSel == 1 ? 0x200 : 0x000)
        s.pointee.spsrEL1 = s.pointee.processorState
        s.pointee.elrEL1 = preferredReturn
        if kind == .synchronous || kind == .serror { s.pointee.esrEL1 = syndrome }
        if let faultAddress { s.pointee.farEL1 = faultAddress }
        switchStack(toEL: 1, spSel: 1)
        s.pointee.daif = 0x3C0
        s.pointee.illegalState = false
        let target = s.pointee.vbarEL1 &+ group &+ kind.rawValue
        s.pointee.pc = target
        return target
    }

    /// Injects an UNDEFINED-instruction exception (EC 0x00) for the instruction at `pc`.
    @inline(never)
    public func undefinedInstruction(at pc: UInt64) -> UInt64 {
        takeExceptionToEL1(kind: .synchronous, syndrome: Syndrome.make(.unknown), preferredReturn: pc)
    }

    /// ERET: restores PSTATE from `SPSR_EL1` and continues at `ELR_EL1`. A return to an EL or
    /// execution state this PE cannot enter (AArch32, EL2/EL3, reserved modes) is an illegal
    /// exception return: EL and SP stay, `PSTATE.IL` is set (Arm ARM D1.11.4).
    @inline(never)
    public func exceptionReturn() -> UInt64 {
        let s = state
        let spsr = s.pointee.spsrEL1
        let target = s.pointee.elrEL1
        let mode = spsr & 0x1F
        s.pointee.nzcv = UInt32(truncatingIfNeeded: spsr) & 0xF000_0000
        s.pointee.daif = UInt32(truncatingIfNeeded: spsr) & 0x3C0
        switch mode {
        case 0b00000:
            switchStack(toEL: 0, spSel: 0)
            s.pointee.illegalState = spsr & (1 << 20) != 0
        case 0b00100:
            switchStack(toEL: 1, spSel: 0)
            s.pointee.illegalState = spsr & (1 << 20) != 0
        case 0b00101:
            switchStack(toEL: 1, spSel: 1)
            s.pointee.illegalState = spsr & (1 << 20) != 0
        default:
            s.pointee.illegalState = true
        }
        // AArch64.ExceptionReturn: ClearExclusiveLocal and SendEventLocal — so a WFE right
        // after an interrupt handler returns (the handler may have set what the loop waits
        // for) completes at once instead of sleeping.
        s.pointee.exclusiveArmed = false
        s.pointee.eventRegister = true
        s.pointee.pc = target
        return target
    }
}
