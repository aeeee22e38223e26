/// MRS/MSR for the system registers the core models, with the EL0 access rules of Arm ARM D17
/// (each register's "Accessibility" pseudocode). A nil read or false write means UNDEFINED.
extension CPU {
    /// Identification values of an ARMv8.0 core as seen by a guest on the `virt` board
    /// (Cortex-A57 identity, QEMU `target/arm/cpu64.c`), advertising only what the core implements:
    /// AArch64-only EL0/EL1, no FP/AdvSIMD yet (issue "Floating point and Advanced SIMD"),
    /// 40-bit physical addresses, 16-bit ASIDs, 4 KB granule.
    public enum Identification {
        public static let idAA64PFR0: UInt64 = 0x00FF_0011
        public static let idAA64DFR0: UInt64 = 0x1030_5006
        public static let idAA64ISAR0: UInt64 = 0
        public static let idAA64MMFR0: UInt64 = 0x0F00_1022
        public static let ctrEL0: UInt64 = 0x8444_C004
        /// DZP set: DC ZVA is not implemented yet.
        public static let dczidEL0: UInt64 = 0x14
        public static let clidrEL1: UInt64 = 0x0A20_0023
    }

    @inline(never)
    public func readSystemRegister(_ encoding: SystemRegisterEncoding) -> UInt64? {
        let s = state
        let el = s.pointee.exceptionLevel
        switch encoding {
        case SystemRegister.nzcv: return UInt64(s.pointee.nzcv)
        case SystemRegister.daif:
            if el == 0 && s.pointee.sctlrEL1 & (1 << 9) == 0 { return nil }  // SCTLR_EL1.UMA
            return UInt64(s.pointee.daif)
        case SystemRegister.tpidrEL0: return s.pointee.tpidrEL0
        case SystemRegister.tpidrroEL0: return s.pointee.tpidrroEL0
        case SystemRegister.ctrEL0:
            if el == 0 && s.pointee.sctlrEL1 & (1 << 15) == 0 { return nil }  // SCTLR_EL1.UCT
            return Identification.ctrEL0
        case SystemRegister.dczidEL0: return Identification.dczidEL0
        default: break
        }
        guard el >= 1 else { return nil }
        switch encoding {
        case SystemRegister.midrEL1: return s.pointee.midr
        case SystemRegister.mpidrEL1: return s.pointee.mpidr
        case SystemRegister.revidrEL1: return 0
        case SystemRegister.idAA64PFR0EL1: return Identification.idAA64PFR0
        case SystemRegister.idAA64DFR0EL1: return Identification.idAA64DFR0
        case SystemRegister.idAA64ISAR0EL1: return Identification.idAA64ISAR0
        case SystemRegister.idAA64MMFR0EL1: return Identification.idAA64MMFR0
        case SystemRegisterEncoding(3, 1, 0, 0, 1): return Identification.clidrEL1
        case SystemRegister.sctlrEL1: return s.pointee.sctlrEL1
        case SystemRegister.actlrEL1: return s.pointee.actlrEL1
        case SystemRegister.cpacrEL1: return s.pointee.cpacrEL1
        case SystemRegister.ttbr0EL1: return s.pointee.ttbr0EL1
        case SystemRegister.ttbr1EL1: return s.pointee.ttbr1EL1
        case SystemRegister.tcrEL1: return s.pointee.tcrEL1
        case SystemRegister.spsrEL1: return s.pointee.spsrEL1
        case SystemRegister.elrEL1: return s.pointee.elrEL1
        case SystemRegister.spEL0:
            if s.pointee.spSel == 0 { return nil }  // SP_EL0 is not accessible while selected.
            return s.pointee.spEL0
        case SystemRegister.spSel: return UInt64(s.pointee.spSel)
        case SystemRegister.currentEL: return UInt64(el) << 2
        case SystemRegister.esrEL1: return s.pointee.esrEL1
        case SystemRegister.farEL1: return s.pointee.farEL1
        case SystemRegister.parEL1: return s.pointee.parEL1
        case SystemRegister.mairEL1: return s.pointee.mairEL1
        case SystemRegister.amairEL1: return s.pointee.amairEL1
        case SystemRegister.vbarEL1: return s.pointee.vbarEL1
        case SystemRegister.contextidrEL1: return s.pointee.contextidrEL1
        case SystemRegister.tpidrEL1: return s.pointee.tpidrEL1
        case SystemRegister.cntkctlEL1: return s.pointee.cntkctlEL1
        default:
            // The unallocated part of the ID space (op0=3, op1=0, CRn=0, CRm=1..7) is RAZ.
            if encoding.op0 == 3 && encoding.op1 == 0 && encoding.crn == 0 && (1...7).contains(encoding.crm) {
                return 0
            }
            return nil
        }
    }

    /// Writes a system register; false when the write is UNDEFINED at the current EL.
    @inline(never)
    public func writeSystemRegister(_ encoding: SystemRegisterEncoding, _ value: UInt64) -> Bool {
        let s = state
        let el = s.pointee.exceptionLevel
        switch encoding {
        case SystemRegister.nzcv:
            s.pointee.nzcv = UInt32(truncatingIfNeeded: value) & 0xF000_0000
            return true
        case SystemRegister.daif:
            if el == 0 && s.pointee.sctlrEL1 & (1 << 9) == 0 { return false }
            s.pointee.daif = UInt32(truncatingIfNeeded: value) & 0x3C0
            return true
        case SystemRegister.tpidrEL0:
            s.pointee.tpidrEL0 = value
            return true
        default: break
        }
        guard el >= 1 else { return false }
        switch encoding {
        case SystemRegister.sctlrEL1: s.pointee.sctlrEL1 = value
        case SystemRegister.actlrEL1: s.pointee.actlrEL1 = value
        case SystemRegister.cpacrEL1: s.pointee.cpacrEL1 = value
        case SystemRegister.ttbr0EL1: s.pointee.ttbr0EL1 = value
        case SystemRegister.ttbr1EL1: s.pointee.ttbr1EL1 = value
        case SystemRegister.tcrEL1: s.pointee.tcrEL1 = value
        case SystemRegister.spsrEL1: s.pointee.spsrEL1 = value
        case SystemRegister.elrEL1: s.pointee.elrEL1 = value
        case SystemRegister.spEL0:
            if s.pointee.spSel == 0 { return false }
            s.pointee.spEL0 = value
        case SystemRegister.spSel: switchStack(toEL: el, spSel: UInt8(value & 1))
        case SystemRegister.esrEL1: s.pointee.esrEL1 = value
        case SystemRegister.farEL1: s.pointee.farEL1 = value
        case SystemRegister.parEL1: s.pointee.parEL1 = value
        case SystemRegister.mairEL1: s.pointee.mairEL1 = value
        case SystemRegister.amairEL1: s.pointee.amairEL1 = value
        case SystemRegister.vbarEL1: s.pointee.vbarEL1 = value & ~0x7FF
        case SystemRegister.contextidrEL1: s.pointee.contextidrEL1 = value
        case SystemRegister.tpidrEL1: s.pointee.tpidrEL1 = value
        case SystemRegister.tpidrroEL0: s.pointee.tpidrroEL0 = value
        case SystemRegister.cntkctlEL1: s.pointee.cntkctlEL1 = value
        default: return false
        }
        return true
    }

    /// MSR (immediate) to a PSTATE field (Arm ARM C5.2.x): SPSel, DAIFSet, DAIFClr.
    @inline(never)
    public func writeProcessorStateField(op1: UInt8, op2: UInt8, crm: UInt64) -> Bool {
        let s = state
        let el = s.pointee.exceptionLevel
        switch (op1, op2) {
        case (0, 5):
            guard el >= 1 else { return false }
            switchStack(toEL: el, spSel: UInt8(crm & 1))
        case (3, 6):
            if el == 0 && s.pointee.sctlrEL1 & (1 << 9) == 0 { return false }
            s.pointee.daif |= UInt32(crm & 0xF) << 6
        case (3, 7):
            if el == 0 && s.pointee.sctlrEL1 & (1 << 9) == 0 { return false }
            s.pointee.daif &= ~(UInt32(crm & 0xF) << 6)
        default:
            return false
        }
        return true
    }
}
