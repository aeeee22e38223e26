/// The load/store forms that are rare in hot loops: exclusives with the local monitor and
/// load-acquire/store-release (Arm ARM B2.9, C3.2.7).
extension CPU {
    @inline(never)
    func executeOrderedAccess(_ insn: UnsafePointer<DecodedInstruction>, pc: UInt64) -> Continuation {
        let d = insn.pointee
        let x = registers
        let base = x[Int(d.rn)]
        if d.rn == 32 && base & 0xF != 0, let vector = checkStackAlignment(pc: pc) { return .jumped(vector) }
        let size = UInt64(1) << UInt64(d.a)
        switch d.op {
        case .loadExclusive, .loadExclusivePair, .loadAcquire:
            let pair = d.op == .loadExclusivePair
            let length = pair ? 2 * size : size
            if base & (length - 1) != 0 { return .jumped(alignmentFault(address: base, write: false, pc: pc)) }
            guard let p = dataPointer(base, length: length, type: .read, insn: insn, pc: pc) else {
                return failedAccess()
            }
            let first = Arithmetic.load(p, sizeLog2: d.a, signed: false, sf: 1)
            if d.op != .loadAcquire {
                state.pointee.exclusiveArmed = true
                state.pointee.exclusiveAddress = base
                state.pointee.exclusiveSize = length
            }
            if pair {
                let second = Arithmetic.load(p + Int(size), sizeLog2: d.a, signed: false, sf: 1)
                x[Int(d.imm2)] = second
            }
            x[Int(d.rd)] = first
            return .next

        case .storeExclusive, .storeExclusivePair, .storeRelease:
            let pair = d.op == .storeExclusivePair
            let length = pair ? 2 * size : size
            if base & (length - 1) != 0 { return .jumped(alignmentFault(address: base, write: true, pc: pc)) }
            guard let p = dataPointer(base, length: length, type: .write, insn: insn, pc: pc) else {
                return failedAccess()
            }
            if d.op == .storeRelease {
                Arithmetic.store(p, x[Int(d.rd)], sizeLog2: d.a)
                return storedToCode(p, length: size) ? .completedInNewBlock : .next
            }
            let s = state
            let succeeds =
                s.pointee.exclusiveArmed && s.pointee.exclusiveAddress == base
                && s.pointee.exclusiveSize == length
            s.pointee.exclusiveArmed = false
            let first = x[Int(d.rd)]
            let second = x[Int(d.imm2)]
            x[Int(d.rm)] = succeeds ? 0 : 1
            guard succeeds else { return .next }
            Arithmetic.store(p, first, sizeLog2: d.a)
            if pair { Arithmetic.store(p + Int(size), second, sizeLog2: d.a) }
            return storedToCode(p, length: length) ? .completedInNewBlock : .next

        default:
            return .jumped(undefinedInstruction(at: pc))
        }
    }

    /// An alignment fault on a data access, taken to EL1 (Arm ARM D1.10: EC 0x25 from EL1 or
    /// 0x24 from EL0, DFSC 0x21, FAR = the address).
    @inline(never)
    func alignmentFault(address: UInt64, write: Bool, pc: UInt64) -> UInt64 {
        let ec: ExceptionClass = state.pointee.exceptionLevel == 0 ? .dataAbortLowerEL : .dataAbortSameEL
        let iss = Syndrome.dataAbortISSNoSyndrome(write: write, status: FaultStatus.alignment)
        return takeExceptionToEL1(
            kind: .synchronous, syndrome: Syndrome.make(ec, iss: iss), preferredReturn: pc, faultAddress: address)
    }
}
