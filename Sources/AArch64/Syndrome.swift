/// Exception classes of `ESR_ELx.EC` (Arm ARM D17.2.37, "ESR_EL1/ESR_EL2"; Linux `esr.h`).
///
/// Only the classes an AArch64-only ARMv8.0 guest can produce are named; the highvisor's exit
/// table is indexed by the raw 6-bit value so unnamed classes still reach a handler.
public enum ExceptionClass: UInt8, Sendable, CaseIterable {
    case unknown = 0x00
    case wfx = 0x01
    case fpAccess = 0x07
    case illegalState = 0x0E
    case svc64 = 0x15
    case hvc64 = 0x16
    case smc64 = 0x17
    case sys64 = 0x18
    case instructionAbortLowerEL = 0x20
    case instructionAbortSameEL = 0x21
    case pcAlignment = 0x22
    case dataAbortLowerEL = 0x24
    case dataAbortSameEL = 0x25
    case spAlignment = 0x26
    case serror = 0x2F
    case brk64 = 0x3C

    /// The name Linux gives the class (`ESR_ELx_EC_*`), used in statistics output.
    public static func name(of ec: UInt8) -> String {
        switch ExceptionClass(rawValue: ec) {
        case .unknown: "UNKNOWN"
        case .wfx: "WFx"
        case .fpAccess: "FP_ASIMD"
        case .illegalState: "ILL"
        case .svc64: "SVC64"
        case .hvc64: "HVC64"
        case .smc64: "SMC64"
        case .sys64: "SYS64"
        case .instructionAbortLowerEL: "IABT_LOW"
        case .instructionAbortSameEL: "IABT_CUR"
        case .pcAlignment: "PC_ALIGN"
        case .dataAbortLowerEL: "DABT_LOW"
        case .dataAbortSameEL: "DABT_CUR"
        case .spAlignment: "SP_ALIGN"
        case .serror: "SERROR"
        case .brk64: "BRK64"
        case nil: "EC_0x" + String(ec, radix: 16, uppercase: true)
        }
    }
}

/// Fault status codes for `DFSC`/`IFSC` (Arm ARM D17.2.37; Linux `ESR_ELx_FSC_*`).
public enum FaultStatus {
    public static func translation(level: Int) -> UInt32 { 0x04 | UInt32(level & 3) }
    public static func accessFlag(level: Int) -> UInt32 { 0x08 | UInt32(level & 3) }
    public static func permission(level: Int) -> UInt32 { 0x0C | UInt32(level & 3) }
    public static func addressSize(level: Int) -> UInt32 { UInt32(level & 3) }
    public static let synchronousExternalAbort: UInt32 = 0x10
    public static let alignment: UInt32 = 0x21
}

/// Builds and takes apart `ESR_ELx` values (EC[31:26], IL[25], ISS[24:0]).
public enum Syndrome {
    public static let instructionLength32: UInt64 = 1 << 25

    @inline(__always)
    public static func make(_ ec: ExceptionClass, iss: UInt32 = 0) -> UInt64 {
        UInt64(ec.rawValue) << 26 | instructionLength32 | UInt64(iss & 0x1FF_FFFF)
    }

    @inline(__always)
    public static func exceptionClass(_ esr: UInt64) -> UInt8 { UInt8((esr >> 26) & 0x3F) }

    @inline(__always)
    public static func iss(_ esr: UInt64) -> UInt32 { UInt32(esr & 0x1FF_FFFF) }

    /// ISS of a data abort with a valid instruction syndrome (ISV=1): the form a stage-2 fault on
    /// a single-register load or store takes (Arm ARM D17.2.37, "ISS encoding for an exception
    /// from a Data Abort").
    public static func dataAbortISS(
        sizeLog2: Int, signExtend: Bool, register: Int, sixtyFourBit: Bool, acquireRelease: Bool = false,
        write: Bool, status: UInt32
    ) -> UInt32 {
        var iss: UInt32 = 1 << 24  // ISV
        iss |= UInt32(sizeLog2 & 3) << 22
        if signExtend { iss |= 1 << 21 }
        iss |= UInt32(register & 31) << 16
        if sixtyFourBit { iss |= 1 << 15 }
        if acquireRelease { iss |= 1 << 14 }
        if write { iss |= 1 << 6 }
        return iss | (status & 0x3F)
    }

    /// ISS of a data abort without a valid instruction syndrome (ISV=0).
    public static func dataAbortISSNoSyndrome(write: Bool, status: UInt32) -> UInt32 {
        (write ? 1 << 6 : 0) | (status & 0x3F)
    }

    /// ISS for a trapped WFI/WFE from AArch64: CV=1, COND=0b1110, TI[0] = 1 for WFE.
    public static func wfxISS(isWFE: Bool) -> UInt32 { 1 << 24 | 0xE << 20 | (isWFE ? 1 : 0) }

    /// ISS for a trapped MSR/MRS/SYS (EC 0x18).
    public static func sysRegISS(encoding: SystemRegisterEncoding, rt: Int, isRead: Bool) -> UInt32 {
        var iss = UInt32(encoding.op0) << 20 | UInt32(encoding.op2) << 17 | UInt32(encoding.op1) << 14
        iss |= UInt32(encoding.crn) << 10 | UInt32(rt & 31) << 5 | UInt32(encoding.crm) << 1
        return iss | (isRead ? 1 : 0)
    }

    /// `HPFAR_EL2` for an IPA: FIPA[43:4] = IPA[51:12].
    @inline(__always)
    public static func hpfar(ipa: UInt64) -> UInt64 { (ipa >> 12) << 4 }

    /// The IPA recorded by a stage-2 abort: the page from `HPFAR_EL2`, the offset from `FAR_EL2`.
    @inline(__always)
    public static func ipa(hpfar: UInt64, far: UInt64) -> UInt64 { (hpfar >> 4) << 12 | (far & 0xFFF) }
}
