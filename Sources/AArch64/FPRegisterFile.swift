/// The SIMD&FP register file (Arm ARM B1.2.1 "Registers in AArch64 Execution state"): V0–V31,
/// 128 bits each, held in `CPU.vectors` beside the general-purpose registers so the
/// interpreter reaches them through one pointer (no ARC, no copies of CoreState). The B, H,
/// S, D and Q views of Vn are its low 1, 2, 4, 8 and 16 bytes; a write through a view narrower
/// than Q clears the rest of the register (Arm ARM C1.2.5).
///
/// FPCR and FPSR live in `CoreState`; `FloatingPointControl` says which of their bits exist.
extension CPU {
    /// Vn as (bits 63:0, bits 127:64).
    public func q(_ n: Int) -> (low: UInt64, high: UInt64) {
        (vectors[2 * (n & 31)], vectors[2 * (n & 31) + 1])
    }

    /// Sets all 128 bits of Vn.
    public func setQ(_ n: Int, low: UInt64, high: UInt64) {
        vectors[2 * (n & 31)] = low
        vectors[2 * (n & 31) + 1] = high
    }

    /// The host address of Vn's 16 bytes (little-endian, lane 0 first).
    @inline(__always)
    func vectorBytes(_ n: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(vectors + 2 * (n & 31))
    }

    /// Whether an FP/AdvSIMD instruction (or an FPCR/FPSR access) may execute at the current EL,
    /// and the trap it takes if not: `CheckFPAdvSIMDEnabled64` (Arm ARM J1.3 shared pseudocode,
    /// D1.10.x "Configurable instruction enables and disables"). CPACR_EL1.FPEN (bits 21:20)
    /// traps EL0 unless 0b11 and EL1 unless 0b01/0b11, to EL1; then CPTR_EL2.TFP traps EL0 and
    /// EL1 to EL2. The EL1 trap is checked first, so when both disable FP the guest OS sees it.
    /// Both report EC 0x07 with the AArch64 ISS: CV = 1, COND = 0b1110 (ESR 0x1FE0_0000).
    ///
    /// Returns nil when enabled; otherwise the continuation after the trap was taken (the
    /// instruction does not retire).
    @inline(never)
    func floatingPointTrap(pc: UInt64) -> Continuation? {
        let s = state
        let fpen = (s.pointee.cpacrEL1 >> 20) & 3
        let el = s.pointee.exceptionLevel
        if fpen == 0 || fpen == 2 || (el == 0 && fpen == 1) {
            return .jumped(
                takeExceptionToEL1(
                    kind: .synchronous, syndrome: Syndrome.make(.fpAccess, iss: Syndrome.fpAccessISS),
                    preferredReturn: pc))
        }
        if s.pointee.cptrEL2 & ArchitecturalFeatureTrap.tfp != 0 {
            recordTrap(Syndrome.make(.fpAccess, iss: Syndrome.fpAccessISS), pc: pc)
            return .exit
        }
        return nil
    }

    /// The highvisor's half of the lazy FP switch: trap the guest's next FP/AdvSIMD
    /// instruction to EL2 (CPTR_EL2.TFP = 1), or let FP run (0) once the state is the guest's.
    public func setFloatingPointTrap(_ enabled: Bool) {
        if enabled {
            state.pointee.cptrEL2 |= ArchitecturalFeatureTrap.tfp
        } else {
            state.pointee.cptrEL2 &= ~ArchitecturalFeatureTrap.tfp
        }
    }
}

/// Bits of `CPTR_EL2` the core consults (Arm ARM D17.2.31; Linux `CPTR_EL2_TFP`).
public enum ArchitecturalFeatureTrap {
    /// Trap FP/AdvSIMD at EL0/EL1 (and CPACR_EL1 accesses are not trapped: TCPAC stays 0).
    public static let tfp: UInt64 = 1 << 10
}

/// Which FPCR/FPSR bits exist on this ARMv8.0 core without FP16 (Arm ARM C5.2.8, C5.2.9), as
/// QEMU's Cortex-A57 model implements them: the exception trap enables (IDE, IXE, UFE, OFE,
/// DZE, IOE) are RAZ/WI because trapped FP exceptions are not implemented, FZ16 is RES0
/// without FP16, and Len/Stride read back as written.
public enum FloatingPointControl {
    /// AHP[26], DN[25], FZ[24], RMode[23:22], Stride[21:20], Len[18:16].
    public static let fpcrWritable: UInt64 = 0x07F7_0000
    /// N, Z, C, V [31:28], QC[27], IDC[7], IXC[4], UFC[3], OFC[2], DZC[1], IOC[0].
    public static let fpsrWritable: UInt64 = 0xF800_009F

    public static let defaultNaN: UInt64 = 1 << 25
    public static let flushToZero: UInt64 = 1 << 24
    public static let alternativeHalfPrecision: UInt64 = 1 << 26
    public static let roundingModeShift: UInt64 = 22

    // FPSR cumulative exception flags.
    public static let invalidOperation: UInt64 = 1 << 0
    public static let divideByZero: UInt64 = 1 << 1
    public static let overflow: UInt64 = 1 << 2
    public static let underflow: UInt64 = 1 << 3
    public static let inexact: UInt64 = 1 << 4
    public static let inputDenormal: UInt64 = 1 << 7
    public static let saturation: UInt64 = 1 << 27
}

extension Syndrome {
    /// ISS of a trapped FP/AdvSIMD access from AArch64 (EC 0x07): CV = 1, COND = 0b1110, as
    /// the Arm ARM requires for AArch64 and QEMU reports.
    public static let fpAccessISS: UInt32 = 1 << 24 | 0xE << 20
}
