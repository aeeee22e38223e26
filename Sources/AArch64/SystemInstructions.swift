/// MRS, MSR and SYS as the interpreter executes them: the access itself, and the exceptions an
/// access that is not allowed takes — UNDEF, a trap to EL1, or a trap to EL2 (a world switch)
/// with the EC 0x18 syndrome (Arm ARM D17.2.37 "ISS encoding for an exception from MSR, MRS,
/// or System instruction execution").
extension CPU {
    @inline(never)
    func executeSystem(_ insn: UnsafePointer<DecodedInstruction>, pc: UInt64) -> Continuation {
        let d = insn.pointee
        let outcome: SystemAccess
        let encoding: SystemRegisterEncoding
        let isRead: Bool
        switch d.op {
        case .mrs:
            encoding = SystemRegisterEncoding(key: UInt16(d.imm))
            isRead = true
            outcome = accessSystemRegister(encoding, write: false)
            if case .done(let value) = outcome { registers[Int(d.rd)] = value }
        case .msrRegister:
            encoding = SystemRegisterEncoding(key: UInt16(d.imm))
            isRead = false
            outcome = accessSystemRegister(encoding, write: true, value: registers[Int(d.rd)])
        case .msrImmediate:
            encoding = SystemRegisterEncoding(0, Int(d.a), 4, Int(d.imm), Int(d.b))
            isRead = false
            outcome = writeProcessorStateField(op1: d.a, op2: d.b, crm: d.imm)
        default:
            encoding = SystemRegisterEncoding(key: UInt16(d.imm))
            isRead = false
            outcome = systemInstruction(encoding, rt: Int(d.rd), pc: pc)
        }
        switch outcome {
        case .done:
            return .next
        case .undefined:
            return .jumped(undefinedInstruction(at: pc))
        case .trapToEL1:
            let iss = Syndrome.sysRegISS(encoding: encoding, rt: min(Int(d.rd), 31), isRead: isRead)
            return .jumped(
                takeExceptionToEL1(kind: .synchronous, syndrome: Syndrome.make(.sys64, iss: iss), preferredReturn: pc))
        case .exitRecorded:
            return .exit
        case .trapToEL2:
            recordTrap(
                Syndrome.make(
                    .sys64, iss: Syndrome.sysRegISS(encoding: encoding, rt: min(Int(d.rd), 31), isRead: isRead)),
                pc: pc)
            return .exit
        }
    }

    /// SYS: cache maintenance, TLB maintenance and address translation (Arm ARM C5.3). The core
    /// has no data caches, so DC operations other than ZVA only check they are allowed; IC
    /// operations drop decoded blocks; TLBI is accepted (the TLB arrives with issue "Memory
    /// virtualization"); AT translates with stage 1 disabled.
    @inline(never)
    func systemInstruction(_ e: SystemRegisterEncoding, rt: Int, pc: UInt64) -> SystemAccess {
        let s = state
        let el = s.pointee.exceptionLevel
        let sctlr = s.pointee.sctlrEL1
        let uci = sctlr & (1 << 26) != 0
        let operand = rt == 31 ? 0 : registers[rt]
        switch (e.op1, e.crn, e.crm, e.op2) {
        case (3, 7, 4, 1):  // DC ZVA
            if el == 0 && sctlr & (1 << 14) == 0 { return .trapToEL1 }  // SCTLR_EL1.DZE
            let block = operand & ~(Identification.zvaBlockSize - 1)
            guard let p = ram.pointer(block, Identification.zvaBlockSize) else {
                // Not RAM: the highvisor sees a stage-2 abort without syndrome (a write).
                state.pointee.exitSyndrome = Syndrome.make(
                    .dataAbortLowerEL,
                    iss: Syndrome.dataAbortISSNoSyndrome(write: true, status: FaultStatus.translation(level: 1)))
                state.pointee.exitFaultAddress = operand
                state.pointee.exitIPAPage = Syndrome.hpfar(ipa: block)
                state.pointee.pc = pc
                return .exitRecorded
            }
            p.initializeMemory(as: UInt8.self, repeating: 0, count: Int(Identification.zvaBlockSize))
            if ram.codePages[Int((block &- ram.base) >> GuestRAM.pageShift)] != 0 {
                _ = codeModified(block, Identification.zvaBlockSize)
            }
            return .done(0)
        case (3, 7, 10, 1), (3, 7, 11, 1), (3, 7, 14, 1):  // DC CVAC, CVAU, CIVAC
            if el == 0 && !uci { return .trapToEL1 }
            return .done(0)
        case (3, 7, 5, 1):  // IC IVAU
            if el == 0 && !uci { return .trapToEL1 }
            invalidateDecodedCode()
            return .done(0)
        default:
            break
        }
        guard el >= 1 else { return .undefined }
        switch (e.op1, e.crn, e.crm, e.op2) {
        case (0, 7, 5, 0), (0, 7, 1, 0):  // IC IALLU, IC IALLUIS
            invalidateDecodedCode()
            return .done(0)
        case (0, 7, 6, 1), (0, 7, 6, 2), (0, 7, 10, 2), (0, 7, 14, 2):  // DC IVAC, ISW, CSW, CISW
            return .done(0)
        case (0, 8, 3, _), (0, 8, 7, _):  // TLBI ... E1(IS)
            return Self.tlbiOperations.contains(e.op2) ? .done(0) : .undefined
        case (0, 7, 8, 0), (0, 7, 8, 1), (0, 7, 8, 2), (0, 7, 8, 3):  // AT S1E1R/W, S1E0R/W
            // Stage 1 disabled: PA = VA, Device-nGnRnE (ATTR 0x00), Outer Shareable.
            s.pointee.parEL1 = (operand & 0x0000_FFFF_FFFF_F000) | (0b10 << 7)
            return .done(0)
        default:
            return .undefined
        }
    }

    /// op2 values of the EL1&0 TLBI operations in CRm = 3 (IS) and 7: VMALLE1, VAE1, ASIDE1,
    /// VAAE1, VALE1, VAALE1.
    static let tlbiOperations: Set<Int> = [0, 1, 2, 3, 5, 7]
}
