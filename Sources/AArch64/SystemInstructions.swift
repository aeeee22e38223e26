/// MRS, MSR and SYS as the interpreter executes them: the access itself, and the exceptions an
/// access that is not allowed takes — UNDEF, a trap to EL1, or a trap to EL2 (a world switch)
/// with the EC 0x18 syndrome (Arm ARM D17.2.37 "ISS encoding for an exception from MSR, MRS,
/// or System instruction execution").
extension CPU {
    @inline(never)
    func executeSystem(_ insn: UnsafePointer<DecodedInstruction>, pc: UInt64) -> Continuation {
        let d = insn.pointee
        if d.op == .mrs || d.op == .msrRegister {
            let key = SystemRegisterEncoding(key: UInt16(d.imm))
            if key == SystemRegister.fpcr || key == SystemRegister.fpsr, let trap = floatingPointTrap(pc: pc) {
                return trap
            }
        }
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
        case .exceptionTaken:
            return .jumped(state.pointee.pc)
        case .doneInNewBlock:
            return .completedInNewBlock
        case .trapToEL2:
            recordTrap(
                Syndrome.make(
                    .sys64, iss: Syndrome.sysRegISS(encoding: encoding, rt: min(Int(d.rd), 31), isRead: isRead)),
                pc: pc)
            return .exit
        }
    }

    /// SYS: cache maintenance, TLB maintenance and address translation (Arm ARM C5.3). The core
    /// has no data caches, so DC operations other than ZVA translate their address (faulting as
    /// the architecture says, with ESR.CM = 1) and otherwise do nothing; IC operations drop
    /// decoded blocks; TLBI drops TLB entries; AT walks stage 1 and fills PAR_EL1.
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
            // DC ZVA to Device memory is an alignment fault (Arm ARM C5.3.x DC ZVA).
            guard
                let p = dataPointer(
                    block, length: Identification.zvaBlockSize, type: .write, insn: nil, pc: pc, deviceFaults: true)
            else { return outcomeOfFailedAccess() }
            p.initializeMemory(as: UInt8.self, repeating: 0, count: Int(Identification.zvaBlockSize))
            if storedToCode(p, length: Identification.zvaBlockSize) { return .doneInNewBlock }
            return .done(0)
        case (3, 7, 10, 1), (3, 7, 11, 1), (3, 7, 14, 1):  // DC CVAC, CVAU, CIVAC
            if el == 0 && !uci { return .trapToEL1 }
            guard dataPointer(operand, length: 1, type: .read, insn: nil, pc: pc, maintenance: true) != nil else {
                return outcomeOfFailedAccess()
            }
            return .done(0)
        case (3, 7, 5, 1):  // IC IVAU
            if el == 0 && !uci { return .trapToEL1 }
            // Only a page that holds decoded code has anything to invalidate (Linux issues one
            // IC IVAU per cache line of every executable page it maps).
            guard let p = dataPointer(operand, length: 1, type: .read, insn: nil, pc: pc, maintenance: true) else {
                return outcomeOfFailedAccess()
            }
            let page = memory.physicalAddress(of: p) & ~0xFFF
            if memory.isCodePage(page) { invalidateDecodedCode(physicalPage: page) }
            if let broadcast = broadcastCodeInvalidation {
                broadcast(page)
                state.pointee.broadcastPending = true
            }
            return .done(0)
        default:
            break
        }
        guard el >= 1 else { return .undefined }
        switch (e.op1, e.crn, e.crm, e.op2) {
        case (0, 7, 5, 0):  // IC IALLU: this PE only
            invalidateDecodedCode()
            return .done(0)
        case (0, 7, 1, 0):  // IC IALLUIS: every PE of the Inner Shareable domain
            invalidateDecodedCode()
            if let broadcast = broadcastCodeInvalidation {
                broadcast(nil)
                state.pointee.broadcastPending = true
            }
            return .done(0)
        case (0, 7, 6, 1):  // DC IVAC: an invalidate is a write as far as permissions go
            guard dataPointer(operand, length: 1, type: .write, insn: nil, pc: pc, maintenance: true) != nil else {
                return outcomeOfFailedAccess()
            }
            return .done(0)
        case (0, 7, 6, 2), (0, 7, 10, 2), (0, 7, 14, 2):  // DC ISW, CSW, CISW: no caches to walk
            return .done(0)
        case (0, 8, 3, let op2), (0, 8, 7, let op2):  // TLBI ... E1IS (CRm = 3), E1 (CRm = 7)
            let asid = UInt16(truncatingIfNeeded: operand >> 48) & (s.pointee.tcrEL1 & (1 << 36) != 0 ? 0xFFFF : 0xFF)
            switch op2 {
            case 0: tlb.invalidateAll()  // VMALLE1
            case 1, 5: tlb.invalidate(page: operand, asid: asid)  // VAE1, VALE1
            case 2: tlb.invalidate(asid: asid)  // ASIDE1
            case 3, 7: tlb.invalidate(page: operand, asid: nil)  // VAAE1, VAALE1
            default: return .undefined
            }
            // The IS forms reach every vCPU of the VM: the others drop their whole TLB (more
            // than the operation names, which the architecture allows) at their next block
            // boundary, and this core's next DSB waits until they have (`completeBroadcasts`).
            if e.crm == 3, let broadcast = broadcastTLBInvalidation {
                broadcast()
                s.pointee.broadcastPending = true
            }
            return .done(0)
        case (0, 7, 8, 0), (0, 7, 8, 1), (0, 7, 8, 2), (0, 7, 8, 3):  // AT S1E1R/W, S1E0R/W
            return addressTranslation(operand, write: e.op2 & 1 != 0, privileged: e.op2 < 2, pc: pc)
        default:
            return .undefined
        }
    }

    /// AT S1E*: the stage-1 translation of `va` as a load/store of that privilege would see it,
    /// into PAR_EL1 (Arm ARM D17.2.x PAR_EL1): success — PA (the IPA) [47:12], ATTR [63:56],
    /// SH [8:7], bit 11 RES1; fault — F = 1, FST [6:1], bit 11 RES1. A stage-2 fault on one of
    /// the walk's descriptor reads is taken to EL2 instead (S1PTW = 1, CM = 1).
    func addressTranslation(_ va: UInt64, write: Bool, privileged: Bool, pc: UInt64) -> SystemAccess {
        switch translate(va, type: write ? .write : .read, privileged: privileged, throughStage2: false) {
        case .success(let r):
            state.pointee.parEL1 =
                UInt64(r.attributes) << 56 | (r.ipa & 0x0000_FFFF_FFFF_F000) | 1 << 11
                | UInt64(r.shareability) << 7
        case .failure(let fault) where fault.stage == .two:
            recordStage2Abort(fault, va: va, type: .read, insn: nil, pc: pc, maintenance: true)
            state.pointee.pendingExit = false
            return .exitRecorded
        case .failure(let fault):
            state.pointee.parEL1 = 1 | UInt64(fault.status & 0x3F) << 1 | 1 << 11
        }
        return .done(0)
    }

    /// Turns a failed `dataPointer` inside a system instruction into its outcome.
    private func outcomeOfFailedAccess() -> SystemAccess {
        switch failedAccess() {
        case .exit: .exitRecorded
        default: .exceptionTaken
        }
    }
}
