/// MRS/MSR for the system registers the core models, with the EL0 access rules of Arm ARM D17
/// (each register's "Accessibility" pseudocode) and the EL2 traps of HCR_EL2 (TVM, TRVM, TID3,
/// TACR, TIDCP; Arm ARM D17.2.48).
extension CPU {
    /// Identification values of an ARMv8.0 core as seen by a guest on the `virt` board
    /// (Cortex-A57 identity, QEMU `target/arm/cpu64.c`), advertising only what the core implements:
    /// AArch64-only EL0/EL1, FP and AdvSIMD, CRC32 (no cryptographic extension), 40-bit physical
    /// addresses, 16-bit ASIDs, 4 KB granule.
    public enum Identification {
        /// EL0/EL1 AArch64-only, FP = 0 and AdvSIMD = 0 (implemented, no half precision), GIC = 1:
        /// the GICv3 system-register CPU interface (served by the virtual CPU interface,
        /// `GICCPUInterface.swift`). Issue 8 lists the FP/AdvSIMD instructions still missing.
        public static let idAA64PFR0: UInt64 = 0x0100_0011
        public static let idAA64DFR0: UInt64 = 0x1030_5006
        public static let idAA64ISAR0: UInt64 = 0x0001_0000
        public static let idAA64MMFR0: UInt64 = 0x0F00_1022
        public static let ctrEL0: UInt64 = 0x8444_C004
        /// DC ZVA zeroes 64-byte blocks (BS = 4), permitted (DZP = 0).
        public static let dczidEL0: UInt64 = 0x4
        public static let clidrEL1: UInt64 = 0x0A20_0023
        /// CCSIDR_EL1 for CSSELR = L1D, L1I, L2 (Cortex-A57).
        public static let ccsidr: [UInt64] = [0x701F_E00A, 0x201F_E012, 0x70FF_E07A]
        public static let zvaBlockSize: UInt64 = 64
        /// ID_AA64MMFR0_EL1.PARange = 0b0010: 40-bit physical (and intermediate physical)
        /// addresses.
        public static let physicalAddressBits: UInt64 = 40
        /// CNTFRQ_EL0: 62.5 MHz, as QEMU's `virt` board programs it.
        public static let counterFrequency: UInt64 = 62_500_000
    }

    /// The result of a system register access attempt.
    public enum SystemAccess: Equatable {
        case done(UInt64)
        case undefined
        /// Trapped to EL1 with EC 0x18 (EL0 access disabled by an EL1 control).
        case trapToEL1
        /// Trapped to EL2 with EC 0x18: a world switch.
        case trapToEL2
        /// An exit to EL2 whose syndrome the operation recorded itself (a stage-2 abort of DC ZVA,
        /// DC by VA or AT).
        case exitRecorded
        /// The operation took an exception to EL1 itself (a stage-1 fault of DC by VA); the PC
        /// is the vector.
        case exceptionTaken
        /// Done, and decoded code may have changed (DC ZVA over code): continue in a new block.
        case doneInNewBlock
    }

    /// The registers `HCR_EL2.TVM` (writes) and `TRVM` (reads) trap.
    static let virtualMemoryControls: Set<SystemRegisterEncoding> = [
        SystemRegister.sctlrEL1, SystemRegister.ttbr0EL1, SystemRegister.ttbr1EL1, SystemRegister.tcrEL1,
        SystemRegister.esrEL1, SystemRegister.farEL1, SystemRegisterEncoding(3, 0, 5, 1, 0),
        SystemRegisterEncoding(3, 0, 5, 1, 1), SystemRegister.mairEL1, SystemRegister.amairEL1,
        SystemRegister.contextidrEL1,
    ]

    /// The EL2 trap (if any) an EL1/EL0 access to `encoding` takes under the current HCR_EL2.
    func trapsToEL2(_ encoding: SystemRegisterEncoding, write: Bool) -> Bool {
        let hcr = state.pointee.hcrEL2
        if hcr & HypervisorConfiguration.tid3 != 0 && !write && encoding.op0 == 3 && encoding.op1 == 0
            && encoding.crn == 0 && (1...7).contains(encoding.crm)
        {
            return true
        }
        if hcr & HypervisorConfiguration.tacr != 0 && encoding == SystemRegister.actlrEL1 { return true }
        if hcr & HypervisorConfiguration.tidcp != 0 && encoding.op0 == 3 && (encoding.crn == 11 || encoding.crn == 15) {
            return true
        }
        let controls = write ? HypervisorConfiguration.tvm : HypervisorConfiguration.trvm
        return hcr & controls != 0 && Self.virtualMemoryControls.contains(encoding)
    }

    /// Reads or writes a system register as MRS/MSR at the current EL would. `fromEL2` performs
    /// the access on the highvisor's behalf (emulating a trapped access): no EL2 traps apply.
    @inline(never)
    public func accessSystemRegister(
        _ encoding: SystemRegisterEncoding, write: Bool, value: UInt64 = 0, fromEL2: Bool = false
    ) -> SystemAccess {
        let s = state
        let el = fromEL2 ? 1 : s.pointee.exceptionLevel
        let sctlr = s.pointee.sctlrEL1
        // The GIC CPU interface first: acknowledge and EOI run on every interrupt. At EL1 with
        // HCR_EL2.IMO none of the EL0 cases or EL2 trap controls below concerns an ICC_*
        // encoding (TID3 is CRn 0, TIDCP CRn 11 and 15, TACR ACTLR, TVM/TRVM the MMU controls).
        if el >= 1 && s.pointee.hcrEL2 & HypervisorConfiguration.imo != 0 && Self.isCPUInterfaceRegister(encoding),
            let gic = accessVirtualCPUInterface(encoding, write: write, value: value)
        {
            return gic
        }
        if let timer = accessTimer(encoding, write: write, value: value, el: el) { return timer }
        // Registers EL0 may reach (subject to EL1 controls).
        switch encoding {
        case SystemRegister.nzcv:
            if write { s.pointee.nzcv = UInt32(truncatingIfNeeded: value) & 0xF000_0000 }
            return .done(UInt64(s.pointee.nzcv))
        case SystemRegister.daif:
            if el == 0 && sctlr & (1 << 9) == 0 { return .trapToEL1 }  // SCTLR_EL1.UMA
            if write { s.pointee.daif = UInt32(truncatingIfNeeded: value) & 0x3C0 }
            return .done(UInt64(s.pointee.daif))
        // FPCR/FPSR: `executeSystem` has applied the FP enable traps (CPACR_EL1, CPTR_EL2).
        case SystemRegister.fpcr:
            if write { s.pointee.fpcr = value & FloatingPointControl.fpcrWritable }
            return .done(s.pointee.fpcr)
        case SystemRegister.fpsr:
            if write { s.pointee.fpsr = value & FloatingPointControl.fpsrWritable }
            return .done(s.pointee.fpsr)
        case SystemRegister.tpidrEL0:
            if write { s.pointee.tpidrEL0 = value }
            return .done(s.pointee.tpidrEL0)
        case SystemRegister.tpidrroEL0:
            if write {
                guard el >= 1 else { return .undefined }
                s.pointee.tpidrroEL0 = value
            }
            return .done(s.pointee.tpidrroEL0)
        case SystemRegister.ctrEL0:
            if write { return .undefined }
            if el == 0 && sctlr & (1 << 15) == 0 { return .trapToEL1 }  // SCTLR_EL1.UCT
            return .done(Identification.ctrEL0)
        // Generic timer counters (Arm ARM D11.2): EL0 access is governed by CNTKCTL_EL1
        // EL0PCTEN (bit 0) and EL0VCTEN (bit 1); CNTFRQ_EL0 needs either.
        case SystemRegisterEncoding(3, 3, 14, 0, 0):  // CNTFRQ_EL0
            // Writable only at the highest EL, which is the hypervisor's.
            if write { return .undefined }
            if el == 0 && s.pointee.cntkctlEL1 & 3 == 0 { return .trapToEL1 }
            return .done(Identification.counterFrequency)
        case SystemRegisterEncoding(3, 3, 14, 0, 1):  // CNTPCT_EL0
            if write { return .undefined }
            if el == 0 && s.pointee.cntkctlEL1 & 1 == 0 { return .trapToEL1 }
            return .done(currentCounter())
        case SystemRegisterEncoding(3, 3, 14, 0, 2):  // CNTVCT_EL0
            if write { return .undefined }
            if el == 0 && s.pointee.cntkctlEL1 & 2 == 0 { return .trapToEL1 }
            return .done(currentCounter() &- s.pointee.virtualCounterOffset)
        case SystemRegister.dczidEL0:
            if write { return .undefined }
            // DZP reads as 1 where DC ZVA is not permitted at this EL (SCTLR_EL1.DZE at EL0).
            let prohibited = el == 0 && sctlr & (1 << 14) == 0
            return .done(Identification.dczidEL0 | (prohibited ? 0x10 : 0))
        default:
            break
        }
        guard el >= 1 else { return .undefined }
        if !fromEL2 && trapsToEL2(encoding, write: write) { return .trapToEL2 }

        // Read-only identification registers.
        if encoding.op0 == 3 && encoding.op1 == 0 && encoding.crn == 0 {
            if write { return .undefined }
            switch encoding {
            case SystemRegister.midrEL1: return .done(s.pointee.midr)
            case SystemRegister.mpidrEL1: return .done(s.pointee.mpidr)
            case SystemRegister.revidrEL1: return .done(0)
            case SystemRegister.idAA64PFR0EL1:
                // GIC [27:24] = 0 for a GICv2 VM: no system-register CPU interface.
                let pfr0 = Identification.idAA64PFR0
                return .done(state.pointee.gicVersion2 ? pfr0 & ~(0xF << 24) : pfr0)
            case SystemRegister.idAA64DFR0EL1: return .done(Identification.idAA64DFR0)
            case SystemRegister.idAA64ISAR0EL1: return .done(Identification.idAA64ISAR0)
            case SystemRegister.idAA64MMFR0EL1: return .done(Identification.idAA64MMFR0)
            default:
                // The rest of the ID space (CRm = 1..7) is RAZ; CRm = 0 op2 = 1..4, 7 are
                // unallocated aliases of MIDR on real cores but UNDEFINED architecturally here.
                return (1...7).contains(encoding.crm) ? .done(0) : .undefined
            }
        }
        switch encoding {
        case SystemRegisterEncoding(3, 1, 0, 0, 1):  // CLIDR_EL1
            return write ? .undefined : .done(Identification.clidrEL1)
        case SystemRegisterEncoding(3, 1, 0, 0, 0):  // CCSIDR_EL1, selected by CSSELR_EL1
            if write { return .undefined }
            let selection = Int(s.pointee.csselrEL1 & 0xF)
            return .done(selection < Identification.ccsidr.count ? Identification.ccsidr[selection] : 0)
        case SystemRegisterEncoding(3, 1, 0, 0, 7):  // AIDR_EL1
            return write ? .undefined : .done(0)
        case SystemRegisterEncoding(3, 2, 0, 0, 0):  // CSSELR_EL1
            if write { s.pointee.csselrEL1 = value & 0xF }
            return .done(s.pointee.csselrEL1)
        case SystemRegister.sctlrEL1:
            // ARMv8.0 fields only; EE/E0E are RES0 (no big-endian support); RES1 bits 29, 28,
            // 23, 22, 20, 11.
            if write {
                let old = s.pointee.sctlrEL1
                s.pointee.sctlrEL1 = (value & 0x040D_D3BF) | 0x30D0_0800
                // WXN changes what the TLB's execute tags mean; M changes the context.
                if (old ^ s.pointee.sctlrEL1) & (1 << 19) != 0 { tlb.invalidateAll() }
                updateTranslationContext()
            }
            return .done(s.pointee.sctlrEL1)
        case SystemRegister.currentEL:
            return write ? .undefined : .done(UInt64(s.pointee.exceptionLevel) << 2)
        case SystemRegister.spSel:
            if write { switchStack(toEL: s.pointee.exceptionLevel, spSel: UInt8(value & 1)) }
            return .done(UInt64(s.pointee.spSel))
        case SystemRegister.spEL0:
            // SP_EL0 is not accessible through MRS/MSR while it is the selected stack pointer.
            if s.pointee.spSel == 0 && !fromEL2 { return .undefined }
            if write { currentSPEL0 = value }
            return .done(currentSPEL0)
        case SystemRegister.vbarEL1:
            if write { s.pointee.vbarEL1 = value & ~0x7FF }
            return .done(s.pointee.vbarEL1)
        // Self-hosted debug (Arm ARM D2): the core generates no debug exceptions, as under KVM
        // while no host debugger is attached; the registers are storage so that a kernel can
        // save, reset and restore them. OSLSR_EL1.OSLM = 0 (no OS lock); OSDLR_EL1 RAZ/WI.
        case SystemRegisterEncoding(2, 0, 1, 0, 4):  // OSLAR_EL1 (write-only)
            return write ? .done(0) : .undefined
        case SystemRegisterEncoding(2, 0, 1, 1, 4):  // OSLSR_EL1 (read-only)
            return write ? .undefined : .done(0)
        case SystemRegisterEncoding(2, 0, 1, 3, 4):  // OSDLR_EL1
            return .done(0)
        case SystemRegisterEncoding(2, 0, 0, 2, 2):  // MDSCR_EL1
            // SS [0], TDCC [12], KDE [13], HDE [14], MDE [15]: the fields a kernel programs.
            if write { s.pointee.mdscrEL1 = value & 0xF001 }
            return .done(s.pointee.mdscrEL1)
        default:
            break
        }
        if let index = Self.debugRegisterIndex(encoding) {
            let offset = index * 8
            if write {
                // Writable fields: BVR/WVR bits [1:0] RES0; BCR BT, LBN, SSC, HMC, BAS, PMC, E;
                // WCR MASK, WT, LBN, SSC, HMC, BAS, LSC, PAC, E.
                let mask: UInt64 =
                    switch encoding.op2 {
                    case 5: 0x00FF_E1E7
                    case 7: 0x1F1F_FFFF
                    default: 0xFFFF_FFFF_FFFF_FFFC
                    }
                withUnsafeMutableBytes(of: &s.pointee.debugRegisters) {
                    $0.storeBytes(of: value & mask, toByteOffset: offset, as: UInt64.self)
                }
            }
            return .done(
                withUnsafeBytes(of: &s.pointee.debugRegisters) { $0.load(fromByteOffset: offset, as: UInt64.self) })
        }
        guard let keyPath = Self.plainRegister(encoding) else { return .undefined }
        if write {
            s.pointee[keyPath: keyPath] = value
            switch encoding {
            case SystemRegister.ttbr0EL1, SystemRegister.ttbr1EL1:
                // A new ASID selects other TLB entries; no TLB maintenance is implied.
                updateTranslationContext()
            case SystemRegister.tcrEL1, SystemRegister.mairEL1:
                // Cached translations depend on these; the architecture requires TLB
                // maintenance after changing them, and dropping everything is always allowed.
                tlb.invalidateAll()
                updateTranslationContext()
            default:
                break
            }
        }
        return .done(s.pointee[keyPath: keyPath])
    }

    /// The slot of DBGBVR<n>_EL1 (op2 4, n < 6), DBGBCR<n>_EL1 (op2 5, n < 6), DBGWVR<n>_EL1
    /// (op2 6, n < 4) or DBGWCR<n>_EL1 (op2 7, n < 4) in `CoreState.debugRegisters`
    /// (op0 2, op1 0, CRn 0, CRm n); nil for other encodings or an unimplemented n.
    static func debugRegisterIndex(_ e: SystemRegisterEncoding) -> Int? {
        guard e.op0 == 2, e.op1 == 0, e.crn == 0, e.op2 >= 4 else { return nil }
        let n = Int(e.crm)
        switch e.op2 {
        case 4 where n < 6: return n
        case 5 where n < 6: return 6 + n
        case 6 where n < 4: return 12 + n
        case 7 where n < 4: return 16 + n
        default: return nil
        }
    }

    /// EL1 registers that are plain storage.
    static func plainRegister(_ encoding: SystemRegisterEncoding) -> WritableKeyPath<CoreState, UInt64>? {
        switch encoding {
        case SystemRegister.actlrEL1: \.actlrEL1
        case SystemRegister.cpacrEL1: \.cpacrEL1
        case SystemRegister.ttbr0EL1: \.ttbr0EL1
        case SystemRegister.ttbr1EL1: \.ttbr1EL1
        case SystemRegister.tcrEL1: \.tcrEL1
        case SystemRegister.spsrEL1: \.spsrEL1
        case SystemRegister.elrEL1: \.elrEL1
        case SystemRegister.esrEL1: \.esrEL1
        case SystemRegister.farEL1: \.farEL1
        case SystemRegister.parEL1: \.parEL1
        case SystemRegisterEncoding(3, 0, 5, 1, 0): \.afsr0EL1
        case SystemRegisterEncoding(3, 0, 5, 1, 1): \.afsr1EL1
        case SystemRegister.mairEL1: \.mairEL1
        case SystemRegister.amairEL1: \.amairEL1
        case SystemRegister.contextidrEL1: \.contextidrEL1
        case SystemRegister.tpidrEL1: \.tpidrEL1
        case SystemRegister.cntkctlEL1: \.cntkctlEL1
        default: nil
        }
    }

    /// Compatibility wrappers for callers outside the interpreter (highvisor, tests).
    public func readSystemRegister(_ encoding: SystemRegisterEncoding) -> UInt64? {
        if case .done(let value) = accessSystemRegister(encoding, write: false) { return value }
        return nil
    }

    /// MSR (immediate) to a PSTATE field (Arm ARM C5.2.x): SPSel, DAIFSet, DAIFClr.
    @inline(never)
    public func writeProcessorStateField(op1: UInt8, op2: UInt8, crm: UInt64) -> SystemAccess {
        let s = state
        let el = s.pointee.exceptionLevel
        switch (op1, op2) {
        case (0, 5):
            guard el >= 1 else { return .undefined }
            switchStack(toEL: el, spSel: UInt8(crm & 1))
        case (3, 6):
            if el == 0 && s.pointee.sctlrEL1 & (1 << 9) == 0 { return .trapToEL1 }
            s.pointee.daif |= UInt32(crm & 0xF) << 6
        case (3, 7):
            if el == 0 && s.pointee.sctlrEL1 & (1 << 9) == 0 { return .trapToEL1 }
            s.pointee.daif &= ~(UInt32(crm & 0xF) << 6)
        default:
            return .undefined
        }
        return .done(0)
    }
}
