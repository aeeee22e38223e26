/// The `(op0, op1, CRn, CRm, op2)` coordinates of a system register or system instruction
/// (Arm ARM C5.3, "A64 system instructions for ... register access").
///
/// `key` packs them as op0[15:14] op1[13:11] CRn[10:7] CRm[6:3] op2[2:0], the same bit order the
/// MRS/MSR encoding uses in bits [20:5], so the decoder extracts it with one shift.
public struct SystemRegisterEncoding: Hashable, Sendable, CustomStringConvertible {
    public let key: UInt16

    public init(key: UInt16) { self.key = key }

    public init(_ op0: Int, _ op1: Int, _ crn: Int, _ crm: Int, _ op2: Int) {
        key =
            UInt16(op0 & 3) << 14 | UInt16(op1 & 7) << 11 | UInt16(crn & 15) << 7
            | UInt16(crm & 15) << 3 | UInt16(op2 & 7)
    }

    public var op0: Int { Int(key >> 14) & 3 }
    public var op1: Int { Int(key >> 11) & 7 }
    public var crn: Int { Int(key >> 7) & 15 }
    public var crm: Int { Int(key >> 3) & 15 }
    public var op2: Int { Int(key) & 7 }

    public var description: String { "S\(op0)_\(op1)_C\(crn)_C\(crm)_\(op2)" }
}

/// Encodings of the system registers the core models (Arm ARM D17; Linux `sysreg.h`).
public enum SystemRegister {
    public static let midrEL1 = SystemRegisterEncoding(3, 0, 0, 0, 0)
    public static let mpidrEL1 = SystemRegisterEncoding(3, 0, 0, 0, 5)
    public static let revidrEL1 = SystemRegisterEncoding(3, 0, 0, 0, 6)
    public static let idAA64PFR0EL1 = SystemRegisterEncoding(3, 0, 0, 4, 0)
    public static let idAA64DFR0EL1 = SystemRegisterEncoding(3, 0, 0, 5, 0)
    public static let idAA64ISAR0EL1 = SystemRegisterEncoding(3, 0, 0, 6, 0)
    public static let idAA64MMFR0EL1 = SystemRegisterEncoding(3, 0, 0, 7, 0)
    public static let sctlrEL1 = SystemRegisterEncoding(3, 0, 1, 0, 0)
    public static let actlrEL1 = SystemRegisterEncoding(3, 0, 1, 0, 1)
    public static let cpacrEL1 = SystemRegisterEncoding(3, 0, 1, 0, 2)
    public static let ttbr0EL1 = SystemRegisterEncoding(3, 0, 2, 0, 0)
    public static let ttbr1EL1 = SystemRegisterEncoding(3, 0, 2, 0, 1)
    public static let tcrEL1 = SystemRegisterEncoding(3, 0, 2, 0, 2)
    public static let spsrEL1 = SystemRegisterEncoding(3, 0, 4, 0, 0)
    public static let elrEL1 = SystemRegisterEncoding(3, 0, 4, 0, 1)
    public static let spEL0 = SystemRegisterEncoding(3, 0, 4, 1, 0)
    public static let spSel = SystemRegisterEncoding(3, 0, 4, 2, 0)
    public static let currentEL = SystemRegisterEncoding(3, 0, 4, 2, 2)
    public static let esrEL1 = SystemRegisterEncoding(3, 0, 5, 2, 0)
    public static let farEL1 = SystemRegisterEncoding(3, 0, 6, 0, 0)
    public static let parEL1 = SystemRegisterEncoding(3, 0, 7, 4, 0)
    public static let mairEL1 = SystemRegisterEncoding(3, 0, 10, 2, 0)
    public static let amairEL1 = SystemRegisterEncoding(3, 0, 10, 3, 0)
    public static let vbarEL1 = SystemRegisterEncoding(3, 0, 12, 0, 0)
    public static let contextidrEL1 = SystemRegisterEncoding(3, 0, 13, 0, 1)
    public static let tpidrEL1 = SystemRegisterEncoding(3, 0, 13, 0, 4)
    public static let cntkctlEL1 = SystemRegisterEncoding(3, 0, 14, 1, 0)
    public static let ctrEL0 = SystemRegisterEncoding(3, 3, 0, 0, 1)
    public static let dczidEL0 = SystemRegisterEncoding(3, 3, 0, 0, 7)
    public static let nzcv = SystemRegisterEncoding(3, 3, 4, 2, 0)
    public static let daif = SystemRegisterEncoding(3, 3, 4, 2, 1)
    public static let fpcr = SystemRegisterEncoding(3, 3, 4, 4, 0)
    public static let fpsr = SystemRegisterEncoding(3, 3, 4, 4, 1)
    public static let tpidrEL0 = SystemRegisterEncoding(3, 3, 13, 0, 2)
    public static let tpidrroEL0 = SystemRegisterEncoding(3, 3, 13, 0, 3)
}
