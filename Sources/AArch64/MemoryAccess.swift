/// The slow paths of guest memory access: what runs when the interpreter's inline TLB lookup
/// misses (no entry, wrong permission, unaligned, crossing a page, LDTR/STTR at EL1). They walk
/// the tables, fill the TLB, and deliver faults: stage-1 faults and alignment faults become
/// exceptions taken to EL1 (Arm ARM D1.10), stage-2 faults become exits to EL2 with ESR_EL2,
/// FAR_EL2 and HPFAR_EL2 recorded (`CoreState.pendingExit` tells the interpreter which).
extension CPU {
    /// The highvisor installs a stage 2 (or changes an existing one: unmap, write-protect):
    /// drops every cached translation so the next access walks the new tables.
    public func setStage2(vttbr: UInt64, vtcr: UInt64) {
        state.pointee.vttbrEL2 = vttbr
        state.pointee.vtcrEL2 = vtcr
        invalidateStage2()
    }

    /// Drops every translation that depended on stage 2 (after the highvisor changed it).
    public func invalidateStage2() {
        tlb.invalidateAll()
        stage2Cache.invalidateAll()
        updateTranslationContext()
    }

    /// Writes HCR_EL2 (the highvisor's controls) and refreshes what depends on it.
    public func setHypervisorConfiguration(_ hcr: UInt64) {
        let old = state.pointee.hcrEL2
        state.pointee.hcrEL2 = hcr
        let translationBits = HypervisorConfiguration.vm | HypervisorConfiguration.dc
        if (old ^ hcr) & translationBits != 0 { invalidateStage2() }
    }

    /// A host pointer for `length` bytes at `va` (all in one page) for a data access, or nil
    /// after delivering a fault. `alignment` is the mask of address bits that must be zero if
    /// the memory is Device (an unaligned Device access is an alignment fault, Arm ARM B2.5.2);
    /// `deviceFaults` makes any Device access an alignment fault (DC ZVA). `maintenance` marks
    /// a cache maintenance or AT instruction (ESR.CM).
    ///
    /// The TLB hit is inlined into the caller; a miss goes to `dataPointerAfterMiss`.
    @inline(__always)
    func dataPointer(
        _ va: UInt64, length: UInt64, type: AccessType, unprivileged: Bool = false, alignment: UInt64 = 0,
        insn: UnsafePointer<DecodedInstruction>?, pc: UInt64, maintenance: Bool = false, deviceFaults: Bool = false
    ) -> UnsafeMutableRawPointer? {
        let privileged = state.pointee.exceptionLevel != 0 && !unprivileged
        let e = tlb.set(privileged) + TLB.index(va)
        let page = va >> 12
        let s = state.pointee
        if e.pointee.page == page && (e.pointee.context == s.tlbContext || e.pointee.context == s.tlbGlobalContext) {
            let tag =
                switch type {
                case .read: e.pointee.readTag
                case .write: e.pointee.writeTag
                case .fetch: e.pointee.fetchTag
                }
            let device = e.pointee.device != 0
            if tag == page && !(device && (va & alignment != 0 || deviceFaults)) {
                tlb.hits &+= 1
                return UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: va &+ e.pointee.addend))
            }
        }
        // An access the stage-2 fault memo already answers (stage 1 off, the page unmapped at
        // stage 2: an MMIO register the guest polls) exits without translating again.
        if let status = knownStage2FaultWithStage1Off(va) {
            tlb.misses &+= 1
            recordStage2Abort(
                TranslationFault(stage: .two, status: status, ipa: va, walk: false), va: va, type: type, insn: insn,
                pc: pc, maintenance: maintenance)
            return nil
        }
        return dataPointerAfterMiss(
            va, length: length, type: type, privileged: privileged, alignment: alignment, insn: insn, pc: pc,
            maintenance: maintenance, deviceFaults: deviceFaults)
    }

    /// `dataPointer` when the TLB does not hold the access: translate, fill, or fault.
    @inline(never)
    private func dataPointerAfterMiss(
        _ va: UInt64, length: UInt64, type: AccessType, privileged: Bool, alignment: UInt64,
        insn: UnsafePointer<DecodedInstruction>?, pc: UInt64, maintenance: Bool, deviceFaults: Bool
    ) -> UnsafeMutableRawPointer? {
        tlb.misses &+= 1
        let result: TranslationResult
        switch translate(va, type: type, privileged: privileged) {
        case .failure(let fault):
            deliver(fault, va: va, type: type, insn: insn, pc: pc, maintenance: maintenance)
            return nil
        case .success(let r):
            result = r
        }
        if result.device && (va & alignment != 0 || deviceFaults) {
            deliver(
                TranslationFault(stage: .one, status: FaultStatus.alignment), va: va, type: type, insn: insn, pc: pc,
                maintenance: maintenance)
            return nil
        }
        guard let host = memory.pointer(result.physical, length) else {
            // Stage 2 pointed outside machine memory: a broken stage 2 the highvisor must hear of.
            deliver(
                TranslationFault(
                    stage: .two, status: FaultStatus.synchronousExternalAbort, ipa: result.ipa, walk: false),
                va: va, type: type, insn: insn, pc: pc, maintenance: maintenance)
            return nil
        }
        fill(va: va, result: result, host: host, privileged: privileged, type: type)
        return host
    }

    /// Records a successful translation in the TLB set of the privilege that made it. With
    /// stage 1 off, a fetch's translation (Normal memory) says nothing about data accesses
    /// (Device-nGnRnE unless HCR_EL2.DC), so it fills only the fetch tag.
    private func fill(
        va: UInt64, result: TranslationResult, host: UnsafeMutableRawPointer, privileged: Bool, type: AccessType
    ) {
        let s = state.pointee
        let fetchOnly =
            type == .fetch && s.sctlrEL1 & 1 == 0 && s.hcrEL2 & HypervisorConfiguration.dc == 0
        let page = va >> 12
        let physicalPage = result.physical & ~0xFFF
        let hostPage = UInt64(UInt(bitPattern: host)) &- (va & 0xFFF)
        let entry = TLB.Entry(
            page: page, readTag: result.readable && !fetchOnly ? page : TLB.invalid,
            writeTag: result.writable && !fetchOnly && !memory.isCodePage(physicalPage) ? page : TLB.invalid,
            fetchTag: result.executable ? page : TLB.invalid, addend: hostPage &- (page << 12),
            context: result.global ? s.tlbGlobalContext : s.tlbContext, physical: physicalPage,
            mappingShift: UInt32(result.mappingShift), device: result.device ? 1 : 0)
        tlb.insert(entry, privileged: privileged)
    }

    /// The host address of the instruction at `pc` (translated for execution at the current
    /// EL), or nil after delivering an instruction abort.
    @inline(never)
    func fetchPointer(_ pc: UInt64) -> UnsafeMutableRawPointer? {
        dataPointer(pc, length: 4, type: .fetch, insn: nil, pc: pc)
    }

    /// Delivers a translation fault: stage 1 (and alignment) to EL1, stage 2 to EL2.
    func deliver(
        _ fault: TranslationFault, va: UInt64, type: AccessType, insn: UnsafePointer<DecodedInstruction>?, pc: UInt64,
        maintenance: Bool
    ) {
        let fromEL0 = state.pointee.exceptionLevel == 0
        switch fault.stage {
        case .one:
            let syndrome: UInt64
            if type == .fetch {
                syndrome = Syndrome.make(
                    fromEL0 ? .instructionAbortLowerEL : .instructionAbortSameEL, iss: fault.status & 0x3F)
            } else {
                var iss = Syndrome.dataAbortISSNoSyndrome(write: type == .write || maintenance, status: fault.status)
                if maintenance { iss |= 1 << 8 }
                syndrome = Syndrome.make(fromEL0 ? .dataAbortLowerEL : .dataAbortSameEL, iss: iss)
            }
            _ = takeExceptionToEL1(kind: .synchronous, syndrome: syndrome, preferredReturn: pc, faultAddress: va)
        case .two:
            recordStage2Abort(fault, va: va, type: type, insn: insn, pc: pc, maintenance: maintenance)
        }
    }

    /// A stage-2 abort, reported to EL2 as a real PE does (Arm ARM D17.2.37, ESR_EL2 ISS for a
    /// data/instruction abort): EC 0x24/0x20, DFSC/IFSC of the stage-2 level that failed, S1PTW
    /// for a fault on a stage-1 descriptor read, CM for cache maintenance and AT, and a full
    /// instruction syndrome (ISV = 1) for a single-register load/store without writeback.
    /// FAR_EL2 = the VA, HPFAR_EL2 = the IPA page.
    @inline(never)
    func recordStage2Abort(
        _ fault: TranslationFault, va: UInt64, type: AccessType, insn: UnsafePointer<DecodedInstruction>?, pc: UInt64,
        maintenance: Bool = false
    ) {
        let syndrome: UInt64
        if type == .fetch {
            var iss = fault.status & 0x3F
            if fault.walk { iss |= 1 << 7 }
            syndrome = Syndrome.make(.instructionAbortLowerEL, iss: iss)
        } else {
            let write = (type == .write || maintenance) && !fault.walk
            var iss: UInt32
            if let insn, !fault.walk, !maintenance, Self.hasInstructionSyndrome(insn) {
                let d = insn.pointee
                iss = Syndrome.dataAbortISS(
                    sizeLog2: Int(d.a), signExtend: d.kind == .loadSigned, register: min(Int(d.rd), 31),
                    sixtyFourBit: d.sf == 1, acquireRelease: d.flags & InstructionFlags.ordered != 0, write: write,
                    status: fault.status)
            } else {
                iss = Syndrome.dataAbortISSNoSyndrome(write: write, status: fault.status)
            }
            if fault.walk { iss |= 1 << 7 }
            if maintenance { iss |= 1 << 8 }
            syndrome = Syndrome.make(.dataAbortLowerEL, iss: iss)
        }
        let s = state
        s.pointee.exitSyndrome = syndrome
        s.pointee.exitFaultAddress = va
        s.pointee.exitIPAPage = Syndrome.hpfar(ipa: fault.ipa)
        s.pointee.pc = pc
        s.pointee.pendingExit = true
    }

    /// ISV is 1 only for loads/stores of a single general-purpose register without writeback
    /// (Arm ARM D17.2.37, ISV).
    @inline(__always)
    static func hasInstructionSyndrome(_ insn: UnsafePointer<DecodedInstruction>) -> Bool {
        // `kind`: the decoded opcode, whatever faster form `BlockCache.specialize` chose for `op`
        // (`.load64Register` and the other specialized loads and stores reach here on a miss).
        let kind = insn.pointee.kind
        let single =
            kind == .load || kind == .loadSigned || kind == .store || kind == .loadAcquire || kind == .storeRelease
        return single && insn.pointee.flags & InstructionFlags.writeback == 0
    }

    /// SCTLR_EL1.A: alignment checking of every data access (Arm ARM D5.2.x, B2.5.2). Returns
    /// false after taking the alignment fault.
    func checkAlignment(_ va: UInt64, element: UInt64, write: Bool, pc: UInt64) -> Bool {
        guard va & (element &- 1) != 0, state.pointee.sctlrEL1 & 2 != 0 else { return true }
        deliver(
            TranslationFault(stage: .one, status: FaultStatus.alignment), va: va, type: write ? .write : .read,
            insn: nil, pc: pc, maintenance: false)
        return false
    }

    /// A load of `length` bytes (elements of `element` bytes) that missed the inline lookup:
    /// returns where to read the bytes — guest memory, or the bounce buffer when the access
    /// crosses a page — or nil after delivering a fault.
    @inline(never)
    func slowLoad(
        _ va: UInt64, length: UInt64, element: UInt64, insn: UnsafePointer<DecodedInstruction>, pc: UInt64
    ) -> UnsafeMutableRawPointer? {
        guard checkAlignment(va, element: element, write: false, pc: pc) else { return nil }
        let unprivileged = insn.pointee.flags & InstructionFlags.unprivileged != 0
        let inPage = 0x1000 - (va & 0xFFF)
        if length <= inPage {
            return dataPointer(
                va, length: length, type: .read, unprivileged: unprivileged, alignment: element &- 1, insn: insn, pc: pc
            )
        }
        guard
            let first = dataPointer(
                va, length: inPage, type: .read, unprivileged: unprivileged, alignment: element &- 1, insn: insn,
                pc: pc),
            let second = dataPointer(
                va &+ inPage, length: length - inPage, type: .read, unprivileged: unprivileged,
                alignment: element &- 1, insn: insn, pc: pc)
        else { return nil }
        bounce.copyMemory(from: first, byteCount: Int(inPage))
        (bounce + Int(inPage)).copyMemory(from: second, byteCount: Int(length - inPage))
        return bounce
    }

    /// A store of one or two elements of `1 << sizeLog2` bytes that missed the inline lookup.
    /// Both pages of a page-crossing store are translated before any byte is written, so a
    /// fault leaves memory untouched. Stores to pages holding decoded code drop the blocks.
    @inline(never)
    func slowStore(
        _ va: UInt64, sizeLog2: UInt8, pair: Bool, first: UInt64, second: UInt64,
        insn: UnsafePointer<DecodedInstruction>, pc: UInt64
    ) -> Continuation {
        let element = UInt64(1) << UInt64(sizeLog2)
        let length = pair ? 2 * element : element
        guard checkAlignment(va, element: element, write: true, pc: pc) else { return .jumped(state.pointee.pc) }
        let unprivileged = insn.pointee.flags & InstructionFlags.unprivileged != 0
        let inPage = min(0x1000 - (va & 0xFFF), length)
        guard
            let head = dataPointer(
                va, length: inPage, type: .write, unprivileged: unprivileged, alignment: element &- 1, insn: insn,
                pc: pc)
        else { return failedAccess() }
        var tail: UnsafeMutableRawPointer?
        if inPage < length {
            tail = dataPointer(
                va &+ inPage, length: length - inPage, type: .write, unprivileged: unprivileged,
                alignment: element &- 1, insn: insn, pc: pc)
            if tail == nil { return failedAccess() }
        }
        Arithmetic.store(bounce, first, sizeLog2: sizeLog2)
        if pair { Arithmetic.store(bounce + Int(element), second, sizeLog2: sizeLog2) }
        head.copyMemory(from: bounce, byteCount: Int(inPage))
        var modified = storedToCode(head, length: inPage)
        if let tail {
            tail.copyMemory(from: bounce + Int(inPage), byteCount: Int(length - inPage))
            modified = storedToCode(tail, length: length - inPage) || modified
        }
        return modified ? .completedInNewBlock : .next
    }

    /// How the interpreter continues after a slow path delivered a fault.
    func failedAccess() -> Continuation {
        if state.pointee.pendingExit {
            state.pointee.pendingExit = false
            return .exit
        }
        return .jumped(state.pointee.pc)
    }

    /// After a store through the slow path: true (and every decoded block dropped) when it
    /// overwrote decoded instructions.
    @inline(__always)
    func storedToCode(_ host: UnsafeMutableRawPointer, length: UInt64) -> Bool {
        let physical = memory.physicalAddress(of: host)
        return memory.isCodePage(physical) && codeModified(physical, length)
    }
}
