/// The execution loop: runs decoded blocks until an exit to EL2, a kick, or the budget.
///
/// Hot-path rules (docs/ARCHITECTURE.md): only unsafe pointers and scalars are live in the loop,
/// no closures, existentials or arrays; rare work (exceptions, system registers, exits) is in
/// `@inline(never)` helpers. Kicks and the budget are checked once per block.
extension CPU {
    /// Runs the guest until something traps to EL2 (`.trap`, with `CoreState.exitSyndrome`
    /// set), another thread kicks the core (`.kick`), or at least `budget` instructions retired
    /// (`.budget`). On return `state.pc` is the architectural PC (ELR_EL2 for a trap). A trapped
    /// instruction whose preferred return is itself is not counted as retired: the highvisor
    /// counts it when it completes the instruction (`skipInstruction`).
    public func run(budget: UInt64) -> CoreExit {
        let x = registers
        let s = state
        let ram = self.ram
        let table = blocks.table
        let arena = blocks.arena
        var pc = s.pointee.pc
        var retired: UInt64 = 0
        defer { s.pointee.instructionsRetired &+= retired }

        blockLoop: while true {
            if requests.load(ordering: .relaxed) != 0 {
                s.pointee.pc = pc
                return .kick
            }
            if retired >= budget {
                s.pointee.pc = pc
                return .budget
            }
            if s.pointee.illegalState {
                pc = takeExceptionToEL1(
                    kind: .synchronous, syndrome: Syndrome.make(.illegalState), preferredReturn: pc)
                continue blockLoop
            }
            if pc & 3 != 0 {
                pc = takeExceptionToEL1(
                    kind: .synchronous, syndrome: Syndrome.make(.pcAlignment), preferredReturn: pc,
                    faultAddress: pc)
                continue blockLoop
            }
            var entry = table[BlockCache.slot(pc)]
            if entry.pc != pc {
                guard let built = blocks.build(pc: pc, ram: ram) else {
                    recordInstructionAbort(pc: pc)
                    return .trap
                }
                entry = built
            }

            var insn = arena + Int(entry.start)
            let end = insn + Int(entry.count)
            while insn < end {
                let d = insn.pointee
                retired &+= 1
                switch d.op {
                case .addImmediate:
                    let r = x[Int(d.rn)] &+ d.imm
                    x[Int(d.rd)] = d.sf == 1 ? r : r & 0xFFFF_FFFF
                    x[31] = 0
                case .subImmediate:
                    let r = x[Int(d.rn)] &- d.imm
                    x[Int(d.rd)] = d.sf == 1 ? r : r & 0xFFFF_FFFF
                    x[31] = 0
                case .addsImmediate:
                    x[Int(d.rd)] = Arithmetic.addWithCarry(x[Int(d.rn)], d.imm, 0, sf: d.sf, nzcv: &s.pointee.nzcv)
                    x[31] = 0
                case .subsImmediate:
                    x[Int(d.rd)] = Arithmetic.addWithCarry(x[Int(d.rn)], ~d.imm, 1, sf: d.sf, nzcv: &s.pointee.nzcv)
                    x[31] = 0

                case .andImmediate:
                    x[Int(d.rd)] = x[Int(d.rn)] & d.imm
                    x[31] = 0
                case .orrImmediate:
                    x[Int(d.rd)] = (x[Int(d.rn)] | d.imm) & Arithmetic.widthMask(d.sf)
                    x[31] = 0
                case .eorImmediate:
                    x[Int(d.rd)] = (x[Int(d.rn)] ^ d.imm) & Arithmetic.widthMask(d.sf)
                    x[31] = 0
                case .andsImmediate:
                    let r = x[Int(d.rn)] & d.imm & Arithmetic.widthMask(d.sf)
                    x[Int(d.rd)] = r
                    x[31] = 0
                    s.pointee.nzcv = Arithmetic.logicalFlags(r, sf: d.sf)

                case .movz:
                    x[Int(d.rd)] = d.imm << UInt64(d.b)
                    x[31] = 0
                case .movn:
                    x[Int(d.rd)] = ~(d.imm << UInt64(d.b)) & Arithmetic.widthMask(d.sf)
                    x[31] = 0
                case .movk:
                    let shift = UInt64(d.b)
                    let r = (x[Int(d.rd)] & ~(0xFFFF << shift)) | (d.imm << shift)
                    x[Int(d.rd)] = r & Arithmetic.widthMask(d.sf)
                    x[31] = 0
                case .adr:
                    x[Int(d.rd)] = pc &+ d.imm
                    x[31] = 0
                case .adrp:
                    x[Int(d.rd)] = (pc & ~0xFFF) &+ d.imm
                    x[31] = 0

                case .addShifted, .subShifted, .addsShifted, .subsShifted:
                    let operand = Arithmetic.shift(x[Int(d.rm)], type: d.a, amount: d.b, sf: d.sf)
                    let n = x[Int(d.rn)]
                    let r: UInt64
                    switch d.op {
                    case .addShifted: r = (n &+ operand) & Arithmetic.widthMask(d.sf)
                    case .subShifted: r = (n &- operand) & Arithmetic.widthMask(d.sf)
                    case .addsShifted: r = Arithmetic.addWithCarry(n, operand, 0, sf: d.sf, nzcv: &s.pointee.nzcv)
                    default: r = Arithmetic.addWithCarry(n, ~operand, 1, sf: d.sf, nzcv: &s.pointee.nzcv)
                    }
                    x[Int(d.rd)] = r
                    x[31] = 0

                case .andShifted, .bicShifted, .orrShifted, .ornShifted, .eorShifted, .eonShifted, .andsShifted,
                    .bicsShifted:
                    var operand = Arithmetic.shift(x[Int(d.rm)], type: d.a, amount: d.b, sf: d.sf)
                    let n = x[Int(d.rn)]
                    let r: UInt64
                    switch d.op {
                    case .andShifted, .andsShifted: r = n & operand
                    case .bicShifted, .bicsShifted:
                        operand = ~operand
                        r = n & operand
                    case .orrShifted: r = n | operand
                    case .ornShifted: r = n | ~operand
                    case .eorShifted: r = n ^ operand
                    default: r = n ^ ~operand
                    }
                    let result = r & Arithmetic.widthMask(d.sf)
                    x[Int(d.rd)] = result
                    x[31] = 0
                    if d.op == .andsShifted || d.op == .bicsShifted {
                        s.pointee.nzcv = Arithmetic.logicalFlags(result, sf: d.sf)
                    }

                case .b:
                    pc &+= d.imm
                    continue blockLoop
                case .bl:
                    x[30] = pc &+ 4
                    pc &+= d.imm
                    continue blockLoop
                case .bCond:
                    if Arithmetic.conditionHolds(d.a, s.pointee.nzcv) {
                        pc &+= d.imm
                        continue blockLoop
                    }
                case .cbz, .cbnz:
                    let value = x[Int(d.rd)] & Arithmetic.widthMask(d.sf)
                    if (value == 0) == (d.op == .cbz) {
                        pc &+= d.imm
                        continue blockLoop
                    }
                case .tbz, .tbnz:
                    let bit = (x[Int(d.rd)] >> UInt64(d.b)) & 1
                    if (bit == 0) == (d.op == .tbz) {
                        pc &+= d.imm
                        continue blockLoop
                    }
                case .br, .ret:
                    pc = x[Int(d.rn)]
                    continue blockLoop
                case .blr:
                    let target = x[Int(d.rn)]
                    x[30] = pc &+ 4
                    pc = target
                    continue blockLoop
                case .eret:
                    if s.pointee.exceptionLevel == 0 {
                        pc = undefinedInstruction(at: pc)
                    } else {
                        pc = exceptionReturn()
                    }
                    continue blockLoop

                case .svc:
                    pc = takeExceptionToEL1(
                        kind: .synchronous, syndrome: Syndrome.make(.svc64, iss: UInt32(d.imm)),
                        preferredReturn: pc &+ 4)
                    continue blockLoop
                case .brk:
                    pc = takeExceptionToEL1(
                        kind: .synchronous, syndrome: Syndrome.make(.brk64, iss: UInt32(d.imm)),
                        preferredReturn: pc)
                    continue blockLoop
                case .hvc:
                    if s.pointee.exceptionLevel == 0 || s.pointee.hcrEL2 & HypervisorConfiguration.hcd != 0 {
                        pc = undefinedInstruction(at: pc)
                        continue blockLoop
                    }
                    // HVC's preferred return is the next instruction (Arm ARM D1.10.1).
                    recordTrap(Syndrome.make(.hvc64, iss: UInt32(d.imm)), pc: pc &+ 4)
                    return .trap
                case .smc:
                    if s.pointee.exceptionLevel == 1 && s.pointee.hcrEL2 & HypervisorConfiguration.tsc != 0 {
                        retired &-= 1
                        recordTrap(Syndrome.make(.smc64, iss: UInt32(d.imm)), pc: pc)
                        return .trap
                    }
                    // No EL3: SMC is UNDEFINED (Arm ARM C6.2 SMC).
                    pc = undefinedInstruction(at: pc)
                    continue blockLoop

                case .wfi, .wfe:
                    let isWFE = d.op == .wfe
                    // EL0 execution is trapped to EL1 unless SCTLR_EL1.nTWI/nTWE allow it.
                    if s.pointee.exceptionLevel == 0 && s.pointee.sctlrEL1 & (isWFE ? 1 << 18 : 1 << 16) == 0 {
                        pc = takeExceptionToEL1(
                            kind: .synchronous, syndrome: Syndrome.make(.wfx, iss: Syndrome.wfxISS(isWFE: isWFE)),
                            preferredReturn: pc)
                        continue blockLoop
                    }
                    let trapBit = isWFE ? HypervisorConfiguration.twe : HypervisorConfiguration.twi
                    if s.pointee.hcrEL2 & trapBit != 0 {
                        retired &-= 1
                        recordTrap(Syndrome.make(.wfx, iss: Syndrome.wfxISS(isWFE: isWFE)), pc: pc)
                        return .trap
                    }
                case .hint, .barrier, .clrex, .prefetch:
                    break
                case .isb:
                    pc &+= 4
                    continue blockLoop

                case .mrs:
                    guard let value = readSystemRegister(SystemRegisterEncoding(key: UInt16(d.imm))) else {
                        pc = undefinedInstruction(at: pc)
                        continue blockLoop
                    }
                    x[Int(d.rd)] = value
                    x[31] = 0
                case .msrRegister:
                    if !writeSystemRegister(SystemRegisterEncoding(key: UInt16(d.imm)), x[Int(d.rd)]) {
                        pc = undefinedInstruction(at: pc)
                        continue blockLoop
                    }
                case .msrImmediate:
                    if !writeProcessorStateField(op1: d.a, op2: d.b, crm: d.imm) {
                        pc = undefinedInstruction(at: pc)
                        continue blockLoop
                    }

                case .loadUnsignedOffset, .loadSignedUnsignedOffset:
                    let address = x[Int(d.rn)] &+ d.imm
                    let size = UInt64(1) << UInt64(d.a)
                    guard let p = ram.pointer(address, size) else {
                        retired &-= 1
                        recordDataAbort(address: address, insn: d, write: false, pc: pc)
                        return .trap
                    }
                    x[Int(d.rd)] = Arithmetic.load(p, sizeLog2: d.a, signed: d.op == .loadSignedUnsignedOffset, sf: d.sf)
                    x[31] = 0
                case .storeUnsignedOffset:
                    let address = x[Int(d.rn)] &+ d.imm
                    let size = UInt64(1) << UInt64(d.a)
                    guard let p = ram.pointer(address, size) else {
                        retired &-= 1
                        recordDataAbort(address: address, insn: d, write: true, pc: pc)
                        return .trap
                    }
                    Arithmetic.store(p, x[Int(d.rd)], sizeLog2: d.a)
                    if ram.codePages[Int((address &- ram.base) >> GuestRAM.pageShift)] != 0 {
                        codeModified()
                        pc &+= 4
                        continue blockLoop
                    }

                case .hlt, .undefined:
                    pc = undefinedInstruction(at: pc)
                    continue blockLoop
                }
                pc &+= 4
                insn += 1
            }
        }
    }

    /// A store hit a page that decoded blocks came from: drop them (the current block is left
    /// right after the store, so the modified code is decoded afresh).
    @inline(never)
    func codeModified() {
        blocks.invalidateAll()
        ram.codePages.update(repeating: 0, count: Int(ram.size >> GuestRAM.pageShift))
    }

    @inline(never)
    func recordTrap(_ syndrome: UInt64, pc: UInt64) {
        state.pointee.exitSyndrome = syndrome
        state.pointee.pc = pc
    }

    /// A load/store to an IPA with no RAM behind it: the stage-2 translation fault a real PE
    /// reports to EL2 (EC 0x24) with a full instruction syndrome, `FAR_EL2` and `HPFAR_EL2`.
    /// The level is 1: the highvisor's stage 2 (40-bit IPA, 4 KB granule, start level 1) has no
    /// level-1 entry for the device windows below RAM.
    @inline(never)
    func recordDataAbort(address: UInt64, insn d: DecodedInstruction, write: Bool, pc: UInt64) {
        let signed = d.op == .loadSignedUnsignedOffset
        let iss = Syndrome.dataAbortISS(
            sizeLog2: Int(d.a), signExtend: signed, register: Int(d.rd), sixtyFourBit: d.sf == 1,
            write: write, status: FaultStatus.translation(level: 1))
        state.pointee.exitSyndrome = Syndrome.make(.dataAbortLowerEL, iss: iss)
        state.pointee.exitFaultAddress = address
        state.pointee.exitIPAPage = Syndrome.hpfar(ipa: address)
        state.pointee.pc = pc
    }

    /// An instruction fetch from an IPA with no RAM: stage-2 instruction abort (EC 0x20).
    @inline(never)
    func recordInstructionAbort(pc: UInt64) {
        state.pointee.exitSyndrome = Syndrome.make(
            .instructionAbortLowerEL, iss: FaultStatus.translation(level: 1))
        state.pointee.exitFaultAddress = pc
        state.pointee.exitIPAPage = Syndrome.hpfar(ipa: pc)
        state.pointee.pc = pc
    }
}
