import Atomics

/// The execution loop: runs decoded blocks until an exit to EL2, a kick, or the budget.
///
/// Hot-path rules (docs/ARCHITECTURE.md): only unsafe pointers and scalars are live in the loop,
/// no closures, existentials or arrays; rare work (exceptions, system registers, exits,
/// exclusives, CRC) is in `@inline(never)` helpers. Kicks and the budget are checked at every
/// block entry; pending virtual interrupts at unchained entries, which follow everything that can
/// raise one (docs/ARCHITECTURE.md, "Block chaining").
extension CPU {
    /// Runs the guest until something traps to EL2 (`.trap`, with `CoreState.exitSyndrome`
    /// set), another thread kicks the core (`.kick`), or at least `budget` instructions retired
    /// (`.budget`). On return `state.pc` is the architectural PC (ELR_EL2 for a trap). A trapped
    /// instruction whose preferred return is itself is not counted as retired: the highvisor
    /// counts it when it completes the instruction (`skipInstruction`).
    public func run(budget: UInt64) -> CoreExit {
        let x = registers
        let s = state
        let table = blocks.table
        let tlbEntries = tlb.entries
        let arena = blocks.arena
        // An arena slot's link is at the same offset in `links` (equal strides).
        let linkOffset = UnsafeMutableRawPointer(blocks.links) - UnsafeMutableRawPointer(arena)
        let linkEpoch = blocks.linkEpoch
        let requests = requests
        var pc = s.pointee.pc
        var retired: UInt64 = 0
        // Unchained block entries (below).
        var entries: UInt64 = 0
        // Block chaining: a branch or block end that leaves EL, ASID and translation as they were
        // sets `chained`; the next block then comes from the leaving instruction's link when it
        // went to the same PC before (`BlockCache.Link`), else, if it is on the same page as the
        // last translated fetch, takes its host address from that translation instead of the
        // TLB (and is linked). Every other way to a new block (exceptions, ERET, MSR, SYS,
        // requests) leaves `chained` false.
        var chained = false
        var fetchPage: UInt64 = 0
        var fetchHostPage: UInt64 = 0
        // The TLB set and context of this block's accesses: EL and ASID change only at
        // exceptions, ERET and MSR, which all end the block unchained (an MSR to the GIC CPU
        // interface, which changes neither, does not end its block).
        var tlbSet = tlbEntries
        var context: UInt64 = 0
        var globalContext: UInt64 = 0
        // The block running, or that ran last: its first instruction and its length.
        var block = arena
        var blockLength: UInt64 = 0
        // The instruction running; after a chained exit from a block, the one that left it
        // (whose `BlockCache.Link` the next entry follows or records).
        var insn = arena
        defer {
            s.pointee.retiredInRun = 0
            s.pointee.instructionsRetired &+= retired
            tlb.hits &+= s.pointee.tlbHitsInRun
            s.pointee.tlbHitsInRun = 0
        }

        blockLoop: while true {
            if requests.load(ordering: .relaxed) != 0 {
                chained = false
                if serviceRequests() {
                    s.pointee.pc = pc
                    return .kick
                }
            }
            if retired >= budget {
                s.pointee.pc = pc
                return .budget
            }
            if chained, case let link = BlockCache.link(of: insn, offset: linkOffset), link.pointee.pc == pc,
                link.pointee.epoch == linkEpoch.pointee
            {
                // Where this branch went last time, with nothing dropped since.
                chained = false
                block = arena + Int(link.pointee.start)
                blockLength = UInt64(link.pointee.count)
            } else if chained && pc & ~0xFFF == fetchPage && pc & 3 == 0 {
                chained = false
                let epoch = linkEpoch.pointee
                let entry = findBlock(pc: pc, host: fetchHostPage &+ (pc & 0xFFF), table: table)
                block = arena + Int(entry.start)
                blockLength = UInt64(entry.count)
                // Unless the build dropped every block (the arena was full), `insn` is still
                // the branch that came here: link it to this block.
                if linkEpoch.pointee == epoch {
                    BlockCache.link(of: insn, offset: linkOffset).pointee = BlockCache.Link(
                        pc: pc, host: entry.host, start: entry.start, count: entry.count, epoch: epoch)
                }
            } else {
                chained = false
                // Unchained entries are also counted apart, so that a guest stuck taking
                // exceptions (an UNDEF at its own vector retires nothing) runs out of budget.
                entries &+= 1
                if entries > budget {
                    s.pointee.pc = pc
                    return .budget
                }
                // Pending virtual interrupts change only by MSR, ERET, exceptions (unchained),
                // an MSR to the CPU interface (which ends its block unchained when it raised
                // one) or from outside `run` (which kicks the core first), so only an unchained
                // block entry checks them.
                if (s.pointee.hcrEL2 | s.pointee.gicSignals) & HypervisorConfiguration.virtualInterrupts != 0,
                    let vector = takePendingVirtualInterrupt(pc: pc)
                {
                    pc = vector
                    continue blockLoop
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
                tlbSet = s.pointee.exceptionLevel == 0 ? tlbEntries : tlbEntries + TLB.entriesPerSet
                context = s.pointee.tlbContext
                globalContext = s.pointee.tlbGlobalContext
                // Instruction fetch: the PC's translation for execution, then the block decoded from
                // that memory.
                let fetch = tlbSet + TLB.index(pc)
                let host: UInt64
                if fetch.pointee.fetchTag == pc >> 12
                    && (fetch.pointee.context == context || fetch.pointee.context == globalContext)
                {
                    host = pc &+ fetch.pointee.addend
                    s.pointee.tlbHitsInRun &+= 1
                } else {
                    guard let translated = fetchPointer(pc) else {
                        if case .exit = failedAccess() { return .trap }
                        pc = s.pointee.pc
                        continue blockLoop
                    }
                    host = UInt64(UInt(bitPattern: translated))
                }
                fetchPage = pc & ~0xFFF
                // Host memory need not be page-aligned (only contiguous within the page).
                fetchHostPage = host &- (pc & 0xFFF)
                let entry = findBlock(pc: pc, host: host, table: table)
                block = arena + Int(entry.start)
                blockLength = UInt64(entry.count)
            }
            // Count the whole block up front; an exit part-way through takes back what did not
            // complete (`unrun(from:blockLength:)`), so the straight-line path pays nothing per
            // instruction.
            retired &+= blockLength

            // While the block runs, `pc` stays its first instruction's PC and each instruction
            // finds its own from its position (`pc(of:inBlockAt:)`): nothing counts the PC up.
            insn = block
            // Every block ends in a `.blockEnd` sentinel or an instruction that leaves it, so the
            // loop needs no end test.
            while true {
                switch insn.pointee.op {
                // MARK: Data processing, immediate
                case .addImmediate:
                    let d = insn.pointee
                    let r = x[Int(d.rn)] &+ d.imm
                    x[Int(d.rd)] = d.sf == 1 ? r : r & 0xFFFF_FFFF
                case .subImmediate:
                    let d = insn.pointee
                    let r = x[Int(d.rn)] &- d.imm
                    x[Int(d.rd)] = d.sf == 1 ? r : r & 0xFFFF_FFFF
                case .addsImmediate:
                    let d = insn.pointee
                    x[Int(d.rd)] = Arithmetic.addWithCarry(x[Int(d.rn)], d.imm, 0, sf: d.sf, nzcv: &s.pointee.nzcv)
                case .subsImmediate:
                    let d = insn.pointee
                    x[Int(d.rd)] = Arithmetic.subtract(x[Int(d.rn)], d.imm, sf: d.sf, nzcv: &s.pointee.nzcv)
                case .andImmediate:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] & d.imm
                case .orrImmediate:
                    let d = insn.pointee
                    x[Int(d.rd)] = (x[Int(d.rn)] | d.imm) & Arithmetic.widthMask(d.sf)
                case .eorImmediate:
                    let d = insn.pointee
                    x[Int(d.rd)] = (x[Int(d.rn)] ^ d.imm) & Arithmetic.widthMask(d.sf)
                case .andsImmediate:
                    let d = insn.pointee
                    let r = x[Int(d.rn)] & d.imm
                    x[Int(d.rd)] = r
                    s.pointee.nzcv = Arithmetic.logicalFlags(r, sf: d.sf)
                case .movz:
                    let d = insn.pointee
                    x[Int(d.rd)] = d.imm &<< UInt64(d.b)
                case .movn:
                    let d = insn.pointee
                    x[Int(d.rd)] = ~(d.imm &<< UInt64(d.b)) & Arithmetic.widthMask(d.sf)
                case .movk:
                    let d = insn.pointee
                    let shift = UInt64(d.b)
                    let r = (x[Int(d.rd)] & ~(0xFFFF << shift)) | (d.imm << shift)
                    x[Int(d.rd)] = r & Arithmetic.widthMask(d.sf)
                case .sbfm, .bfm, .ubfm:
                    let d = insn.pointee
                    x[Int(d.rd)] = Arithmetic.bitfieldMove(
                        d.kind, source: x[Int(d.rn)], destination: x[Int(d.rd)], immr: d.a, imms: d.b, wmask: d.imm,
                        tmask: d.imm2, sf: d.sf)
                case .extr:
                    let d = insn.pointee
                    x[Int(d.rd)] = Arithmetic.extract(x[Int(d.rn)], x[Int(d.rm)], lsb: d.b, sf: d.sf)
                case .adr:
                    let d = insn.pointee
                    x[Int(d.rd)] = Self.pc(of: insn, inBlockAt: pc) &+ d.imm
                case .adrp:
                    let d = insn.pointee
                    x[Int(d.rd)] = (Self.pc(of: insn, inBlockAt: pc) & ~0xFFF) &+ d.imm

                // Specialized forms (`BlockCache.specialize`).
                case .addImmediate64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] &+ d.imm
                case .addImmediate32:
                    let d = insn.pointee
                    x[Int(d.rd)] = (x[Int(d.rn)] &+ d.imm) & 0xFFFF_FFFF
                case .subsImmediate64:
                    let d = insn.pointee
                    x[Int(d.rd)] = Arithmetic.subtract(x[Int(d.rn)], d.imm, sf: 1, nzcv: &s.pointee.nzcv)
                case .moveConstant:
                    let d = insn.pointee
                    x[Int(d.rd)] = d.imm
                case .addRegister64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] &+ (x[Int(d.rm)] &<< UInt64(d.b))
                case .subRegister64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] &- (x[Int(d.rm)] &<< UInt64(d.b))
                case .subsRegister64:
                    let d = insn.pointee
                    x[Int(d.rd)] = Arithmetic.subtract(
                        x[Int(d.rn)], x[Int(d.rm)] &<< UInt64(d.b), sf: 1, nzcv: &s.pointee.nzcv)
                case .andRegister64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] & ((x[Int(d.rm)] &<< UInt64(d.b)) ^ d.imm)
                case .orrRegister64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] | ((x[Int(d.rm)] &<< UInt64(d.b)) ^ d.imm)
                case .eorRegister64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] ^ ((x[Int(d.rm)] &<< UInt64(d.b)) ^ d.imm)
                case .addUnshifted64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] &+ x[Int(d.rm)]
                case .subUnshifted64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] &- x[Int(d.rm)]
                case .andUnshifted64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] & x[Int(d.rm)]
                case .orrUnshifted64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] | x[Int(d.rm)]
                case .eorUnshifted64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rn)] ^ x[Int(d.rm)]
                case .moveRegister64:
                    let d = insn.pointee
                    x[Int(d.rd)] = x[Int(d.rm)]

                // MARK: Data processing, register
                // The second operand: LSL (and LSL #0, no shift) inline; for 32-bit forms the bits
                // it shifts above bit 31 leave with the result's upper half.
                case .addShifted:
                    let d = insn.pointee
                    let operand =
                        (d.a == 0
                            ? x[Int(d.rm)] &<< UInt64(d.b)
                            : Arithmetic.shift(x[Int(d.rm)], type: d.a, amount: d.b, sf: d.sf))
                    x[Int(d.rd)] = (x[Int(d.rn)] &+ operand) & Arithmetic.widthMask(d.sf)
                case .subShifted:
                    let d = insn.pointee
                    let operand =
                        (d.a == 0
                            ? x[Int(d.rm)] &<< UInt64(d.b)
                            : Arithmetic.shift(x[Int(d.rm)], type: d.a, amount: d.b, sf: d.sf))
                    x[Int(d.rd)] = (x[Int(d.rn)] &- operand) & Arithmetic.widthMask(d.sf)
                case .addsShifted:
                    let d = insn.pointee
                    let operand =
                        (d.a == 0
                            ? x[Int(d.rm)] &<< UInt64(d.b)
                            : Arithmetic.shift(x[Int(d.rm)], type: d.a, amount: d.b, sf: d.sf))
                    x[Int(d.rd)] = Arithmetic.addWithCarry(x[Int(d.rn)], operand, 0, sf: d.sf, nzcv: &s.pointee.nzcv)
                case .subsShifted:
                    let d = insn.pointee
                    let operand =
                        (d.a == 0
                            ? x[Int(d.rm)] &<< UInt64(d.b)
                            : Arithmetic.shift(x[Int(d.rm)], type: d.a, amount: d.b, sf: d.sf))
                    x[Int(d.rd)] = Arithmetic.subtract(x[Int(d.rn)], operand, sf: d.sf, nzcv: &s.pointee.nzcv)
                case .addExtended, .subExtended:
                    // `imm` is ~0 for SUB: n + ~m + 1 = n - m.
                    let d = insn.pointee
                    let operand = Arithmetic.extend(x[Int(d.rm)], option: d.a, shift: d.b) ^ d.imm
                    x[Int(d.rd)] = (x[Int(d.rn)] &+ operand &+ (d.imm & 1)) & Arithmetic.widthMask(d.sf)
                case .addsExtended, .subsExtended:
                    let d = insn.pointee
                    let operand = Arithmetic.extend(x[Int(d.rm)], option: d.a, shift: d.b) ^ d.imm
                    x[Int(d.rd)] = Arithmetic.addWithCarry(
                        x[Int(d.rn)], operand, d.imm & 1, sf: d.sf, nzcv: &s.pointee.nzcv)
                case .adc, .adcs, .sbc, .sbcs:
                    let d = insn.pointee
                    let carry = UInt64((s.pointee.nzcv >> 29) & 1)
                    let m = d.kind == .adc || d.kind == .adcs ? x[Int(d.rm)] : ~x[Int(d.rm)]
                    var flags = s.pointee.nzcv
                    let r = Arithmetic.addWithCarry(x[Int(d.rn)], m, carry, sf: d.sf, nzcv: &flags)
                    if d.kind == .adcs || d.kind == .sbcs { s.pointee.nzcv = flags }
                    x[Int(d.rd)] = r
                // Logical, shifted register: `imm` is ~0 for the forms that invert the operand
                // (BIC, ORN, EON, BICS), 0 otherwise.
                case .andShifted, .bicShifted:
                    let d = insn.pointee
                    let operand =
                        (d.a == 0
                            ? x[Int(d.rm)] &<< UInt64(d.b)
                            : Arithmetic.shift(x[Int(d.rm)], type: d.a, amount: d.b, sf: d.sf))
                    x[Int(d.rd)] = (x[Int(d.rn)] & (operand ^ d.imm)) & Arithmetic.widthMask(d.sf)
                case .orrShifted, .ornShifted:
                    let d = insn.pointee
                    let operand =
                        (d.a == 0
                            ? x[Int(d.rm)] &<< UInt64(d.b)
                            : Arithmetic.shift(x[Int(d.rm)], type: d.a, amount: d.b, sf: d.sf))
                    x[Int(d.rd)] = (x[Int(d.rn)] | (operand ^ d.imm)) & Arithmetic.widthMask(d.sf)
                case .eorShifted, .eonShifted:
                    let d = insn.pointee
                    let operand =
                        (d.a == 0
                            ? x[Int(d.rm)] &<< UInt64(d.b)
                            : Arithmetic.shift(x[Int(d.rm)], type: d.a, amount: d.b, sf: d.sf))
                    x[Int(d.rd)] = (x[Int(d.rn)] ^ (operand ^ d.imm)) & Arithmetic.widthMask(d.sf)
                case .andsShifted, .bicsShifted:
                    let d = insn.pointee
                    let operand =
                        (d.a == 0
                            ? x[Int(d.rm)] &<< UInt64(d.b)
                            : Arithmetic.shift(x[Int(d.rm)], type: d.a, amount: d.b, sf: d.sf))
                    let result = (x[Int(d.rn)] & (operand ^ d.imm)) & Arithmetic.widthMask(d.sf)
                    x[Int(d.rd)] = result
                    s.pointee.nzcv = Arithmetic.logicalFlags(result, sf: d.sf)
                case .ccmnRegister, .ccmpRegister, .ccmnImmediate, .ccmpImmediate:
                    let d = insn.pointee
                    if Arithmetic.holds(mask: d.imm2, s.pointee.nzcv) {
                        let m = (d.kind == .ccmnImmediate || d.kind == .ccmpImmediate) ? d.imm : x[Int(d.rm)]
                        if d.kind == .ccmnRegister || d.kind == .ccmnImmediate {
                            _ = Arithmetic.addWithCarry(x[Int(d.rn)], m, 0, sf: d.sf, nzcv: &s.pointee.nzcv)
                        } else {
                            _ = Arithmetic.addWithCarry(x[Int(d.rn)], ~m, 1, sf: d.sf, nzcv: &s.pointee.nzcv)
                        }
                    } else {
                        s.pointee.nzcv = UInt32(d.b) << 28
                    }
                case .csel, .csinc, .csinv, .csneg:
                    // The second result is (Rm XOR imm) + b (decoder: imm = ~0 inverts, b = 1 adds).
                    let d = insn.pointee
                    let r =
                        Arithmetic.holds(mask: d.imm2, s.pointee.nzcv)
                        ? x[Int(d.rn)] : (x[Int(d.rm)] ^ d.imm) &+ UInt64(d.b)
                    x[Int(d.rd)] = r & Arithmetic.widthMask(d.sf)
                case .madd, .msub, .smaddl, .smsubl, .umaddl, .umsubl, .smulh, .umulh:
                    let d = insn.pointee
                    x[Int(d.rd)] = Arithmetic.multiply(
                        d.kind, x[Int(d.rn)], x[Int(d.rm)], accumulator: x[Int(d.imm2)], sf: d.sf)
                case .udiv, .sdiv:
                    let d = insn.pointee
                    x[Int(d.rd)] = Arithmetic.divide(x[Int(d.rn)], x[Int(d.rm)], signed: d.kind == .sdiv, sf: d.sf)
                case .lslv, .lsrv, .asrv, .rorv:
                    let d = insn.pointee
                    let width: UInt64 = d.sf == 1 ? 64 : 32
                    let amount = UInt8(truncatingIfNeeded: x[Int(d.rm)] % width)
                    let type: UInt8 = d.kind == .lslv ? 0 : d.kind == .lsrv ? 1 : d.kind == .asrv ? 2 : 3
                    x[Int(d.rd)] = Arithmetic.shift(x[Int(d.rn)], type: type, amount: amount, sf: d.sf)
                case .rbit, .rev16, .rev, .rev32, .clz, .cls:
                    let d = insn.pointee
                    x[Int(d.rd)] = Arithmetic.oneSource(d.kind, x[Int(d.rn)], sf: d.sf)
                case .crc32:
                    let d = insn.pointee
                    x[Int(d.rd)] = UInt64(
                        Arithmetic.crc32(
                            UInt32(truncatingIfNeeded: x[Int(d.rn)]), x[Int(d.rm)], bytes: 1 << Int(d.a),
                            castagnoli: d.flags & InstructionFlags.castagnoli != 0))

                // MARK: Branches
                // Each continues chained (see `chained`): none changes the translation regime.
                case .b:
                    pc = Self.pc(of: insn, inBlockAt: pc) &+ insn.pointee.imm
                    chained = true
                    continue blockLoop
                case .bl:
                    let here = Self.pc(of: insn, inBlockAt: pc)
                    x[30] = here &+ 4
                    pc = here &+ insn.pointee.imm
                    chained = true
                    continue blockLoop
                // SUBS/CMP and the B.cond after it in one dispatch: the SUBS with its flags left
                // pending, the condition tested on its operands; then on with the B.cond's slot.
                // The three loop forms (these two and `bCondLoop`) each write out the in-place
                // re-run: Swift has no goto, one shared case would cost a second dispatch on
                // the op, and falling through into `bCondLoop` would work out the flags the
                // fused forms leave pending.
                case .subsThenLoopWhileNonZero:
                    // The commonest loop bottom of all, SUBS + B.NE: taken while Rn ≠ the operand.
                    let (n, m) = Self.fusedSubtract(insn, x, s)
                    insn += 1
                    if n != m {
                        if requests.load(ordering: .relaxed) == 0 && retired < budget {
                            retired &+= blockLength
                            insn = block
                            continue
                        }
                        chained = true
                        continue blockLoop
                    }
                case .subsThenLoop:
                    let taken = Self.fusedCompare(insn, x, s)
                    insn += 1
                    if taken {
                        if requests.load(ordering: .relaxed) == 0 && retired < budget {
                            retired &+= blockLength
                            insn = block
                            continue
                        }
                        chained = true
                        continue blockLoop
                    }
                case .bCondLoop:
                    // A loop back to this block's start (the commonest branch of all) re-runs the
                    // block at once unless a request or the budget stops it: nothing that could
                    // have dropped the block continues here. Stopped, it leaves chained with
                    // `pc` (the block's start) as the next PC; not taken, on to the sentinel.
                    if Arithmetic.holds(mask: insn.pointee.imm2, s.pointee.nzcv) {
                        if requests.load(ordering: .relaxed) == 0 && retired < budget {
                            retired &+= blockLength
                            insn = block
                            continue
                        }
                        chained = true
                        continue blockLoop
                    }
                case .subsThenBranch:
                    let taken = Self.fusedCompare(insn, x, s)
                    insn += 1
                    if taken {
                        pc = Self.pc(of: insn, inBlockAt: pc) &+ insn.pointee.imm
                        chained = true
                        continue blockLoop
                    }
                case .bCond:
                    let d = insn.pointee
                    if Arithmetic.holds(mask: d.imm2, s.pointee.nzcv) {
                        pc = Self.pc(of: insn, inBlockAt: pc) &+ d.imm
                        chained = true
                        continue blockLoop
                    }
                case .cbz, .cbnz:
                    let d = insn.pointee
                    let value = x[Int(d.rd)] & Arithmetic.widthMask(d.sf)
                    if (value == 0) == (d.kind == .cbz) {
                        pc = Self.pc(of: insn, inBlockAt: pc) &+ d.imm
                        chained = true
                        continue blockLoop
                    }
                case .tbz, .tbnz:
                    let d = insn.pointee
                    let bit = (x[Int(d.rd)] >> UInt64(d.b)) & 1
                    if (bit == 0) == (d.kind == .tbz) {
                        pc = Self.pc(of: insn, inBlockAt: pc) &+ d.imm
                        chained = true
                        continue blockLoop
                    }
                case .br, .ret:
                    pc = x[Int(insn.pointee.rn)]
                    chained = true
                    continue blockLoop
                case .blr:
                    let target = x[Int(insn.pointee.rn)]
                    x[30] = Self.pc(of: insn, inBlockAt: pc) &+ 4
                    pc = target
                    chained = true
                    continue blockLoop
                case .eret:
                    if s.pointee.exceptionLevel == 0 {
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        pc = undefinedInstruction(at: Self.pc(of: insn, inBlockAt: pc))
                    } else {
                        pc = exceptionReturn()
                    }
                    continue blockLoop

                // MARK: Exception generation
                case .svc:
                    pc = takeExceptionToEL1(
                        kind: .synchronous, syndrome: Syndrome.make(.svc64, iss: UInt32(insn.pointee.imm)),
                        preferredReturn: Self.pc(of: insn, inBlockAt: pc) &+ 4)
                    continue blockLoop
                case .brk:
                    retired &-= Self.unrun(from: insn, blockLength: blockLength)
                    pc = takeExceptionToEL1(
                        kind: .synchronous, syndrome: Syndrome.make(.brk64, iss: UInt32(insn.pointee.imm)),
                        preferredReturn: Self.pc(of: insn, inBlockAt: pc))
                    continue blockLoop
                case .hvc:
                    if s.pointee.exceptionLevel == 0 || s.pointee.hcrEL2 & HypervisorConfiguration.hcd != 0 {
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        pc = undefinedInstruction(at: Self.pc(of: insn, inBlockAt: pc))
                        continue blockLoop
                    }
                    // HVC's preferred return is the next instruction (Arm ARM D1.10.1).
                    recordTrap(
                        Syndrome.make(.hvc64, iss: UInt32(insn.pointee.imm)), pc: Self.pc(of: insn, inBlockAt: pc) &+ 4)
                    return .trap
                case .smc:
                    if s.pointee.exceptionLevel == 1 && s.pointee.hcrEL2 & HypervisorConfiguration.tsc != 0 {
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        recordTrap(
                            Syndrome.make(.smc64, iss: UInt32(insn.pointee.imm)), pc: Self.pc(of: insn, inBlockAt: pc))
                        return .trap
                    }
                    // No EL3: SMC is UNDEFINED (Arm ARM C6.2 SMC).
                    retired &-= Self.unrun(from: insn, blockLength: blockLength)
                    pc = undefinedInstruction(at: Self.pc(of: insn, inBlockAt: pc))
                    continue blockLoop
                case .hlt, .undefined, .sysl, .loadStoreUnsigned, .loadStoreImmediate9, .loadStoreRegister,
                    .loadLiteral, .loadSignedLiteral:
                    retired &-= Self.unrun(from: insn, blockLength: blockLength)
                    pc = undefinedInstruction(at: Self.pc(of: insn, inBlockAt: pc))
                    continue blockLoop

                // MARK: System
                case .wfi, .wfe:
                    let isWFE = insn.pointee.kind == .wfe
                    if isWFE && s.pointee.eventRegister {
                        s.pointee.eventRegister = false
                        break
                    }
                    // EL0 execution is trapped to EL1 unless SCTLR_EL1.nTWI/nTWE allow it.
                    if s.pointee.exceptionLevel == 0 && s.pointee.sctlrEL1 & (isWFE ? 1 << 18 : 1 << 16) == 0 {
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        pc = takeExceptionToEL1(
                            kind: .synchronous, syndrome: Syndrome.make(.wfx, iss: Syndrome.wfxISS(isWFE: isWFE)),
                            preferredReturn: Self.pc(of: insn, inBlockAt: pc))
                        continue blockLoop
                    }
                    let trapBit = isWFE ? HypervisorConfiguration.twe : HypervisorConfiguration.twi
                    if s.pointee.hcrEL2 & trapBit != 0 {
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        recordTrap(
                            Syndrome.make(.wfx, iss: Syndrome.wfxISS(isWFE: isWFE)),
                            pc: Self.pc(of: insn, inBlockAt: pc))
                        return .trap
                    }
                case .sev:
                    // Sets this PE's event register and signals every other PE (Events.swift).
                    sendEvent()
                case .sevl:
                    s.pointee.eventRegister = true
                case .clrex:
                    s.pointee.exclusiveArmed = false
                case .hint, .prefetch:
                    break
                case .barrier:
                    // A DSB after a broadcast TLBI or IC waits for the other vCPUs (Events.swift).
                    if s.pointee.broadcastPending { completeBroadcasts() }
                    // DMB/DSB order this vCPU's accesses for the others. CRm<1:0> (bits 4:3 of
                    // `a` = CRm:op2) says which: LD (01) and ST (10) orders x86 keeps by itself,
                    // so they only stop the compiler; the full barrier needs MFENCE, since x86 may
                    // satisfy a load before an earlier store is visible.
                    let types = (insn.pointee.a >> 3) & 3
                    if types == 1 || types == 2 {
                        atomicMemoryFence(ordering: .acquiringAndReleasing)
                    } else {
                        atomicMemoryFence(ordering: .sequentiallyConsistent)
                    }
                case .isb:
                    pc = Self.pc(of: insn, inBlockAt: pc) &+ 4
                    continue blockLoop
                case .mrs, .msrRegister, .msrImmediate, .sys, .loadExclusive, .storeExclusive, .loadExclusivePair,
                    .storeExclusivePair, .loadAcquire, .storeRelease, .vectorLoadStore, .vectorStructure, .simdCopy,
                    .simdModifiedImmediate, .simdThreeSame, .simdTwoRegisterMisc, .simdAcrossLanes, .simdPermute,
                    .simdExtract, .simdTableLookup, .simdShiftImmediate, .simdThreeDifferent, .floatMove,
                    .floatArithmetic,
                    .floatMultiplyAdd, .floatUnary, .floatCompare, .floatConditionalCompare, .floatConditionalSelect,
                    .floatIntegerConvert, .floatEstimate, .simdFloatThreeSame, .simdFloatTwoRegisterMisc,
                    .simdScalarPairwise, .simdByElement:
                    // Rare instructions run out of line; the helper says how to continue.
                    let op = insn.pointee.kind
                    let continuation: Continuation
                    switch op {
                    case .mrs, .msrRegister, .msrImmediate, .sys:
                        // What this run retired before the instruction: the icount clock reads it.
                        s.pointee.retiredInRun = retired &- Self.unrun(from: insn, blockLength: blockLength)
                        continuation = executeSystem(insn, pc: Self.pc(of: insn, inBlockAt: pc))
                    case .vectorLoadStore, .vectorStructure:
                        continuation = executeVectorMemory(insn, pc: Self.pc(of: insn, inBlockAt: pc))
                    case .loadExclusive, .storeExclusive, .loadExclusivePair, .storeExclusivePair, .loadAcquire,
                        .storeRelease:
                        continuation = executeOrderedAccess(insn, pc: Self.pc(of: insn, inBlockAt: pc))
                    case .floatArithmetic, .floatMultiplyAdd, .floatUnary, .floatCompare, .floatConditionalCompare,
                        .floatConditionalSelect, .floatIntegerConvert, .floatEstimate, .simdFloatThreeSame,
                        .simdFloatTwoRegisterMisc, .simdScalarPairwise, .simdByElement:
                        continuation = executeFloatingPoint(insn, pc: Self.pc(of: insn, inBlockAt: pc))
                    default: continuation = executeAdvancedSIMD(insn, pc: Self.pc(of: insn, inBlockAt: pc))
                    }
                    switch continuation {
                    case .next:
                        // MSR and SYS end their block and may change the translation regime
                        // (TLBI, TTBR, SCTLR): the next block starts unchained. An MSR to the GIC
                        // CPU interface goes on in its block unless it made a virtual interrupt
                        // pending, which the unchained entry then takes before the next
                        // instruction (`BlockCache.writesCPUInterface`).
                        if op == .msrRegister || op == .msrImmediate || op == .sys {
                            if BlockCache.writesCPUInterface(insn.pointee) {
                                let signals = s.pointee.hcrEL2 | s.pointee.gicSignals
                                if signals & HypervisorConfiguration.virtualInterrupts == 0 { break }
                                retired &-= Self.unrun(from: insn + 1, blockLength: blockLength)
                            }
                            pc = Self.pc(of: insn, inBlockAt: pc) &+ 4
                            continue blockLoop
                        }
                    case .jumped(let target):
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        pc = target
                        continue blockLoop
                    case .completedInNewBlock:
                        retired &-= Self.unrun(from: insn + 1, blockLength: blockLength)
                        pc = Self.pc(of: insn, inBlockAt: pc) &+ 4
                        continue blockLoop
                    case .exit:
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        return .trap
                    }

                // MARK: Loads and stores
                // Inline: an aligned access whose page the TLB holds with the needed permission
                // for this EL and context. Everything else (misses, unaligned, page-crossing,
                // LDTR/STTR, stores to code pages) takes the slow path.
                // Specialized forms (`BlockCache.specialize`): the inline TLB hit, or fall through
                // to the general case, which also does the SP alignment check.
                case .load32:
                    let d = insn.pointee
                    let base = x[Int(d.rn)]
                    let address = base &+ d.imm
                    let e = tlbSet + TLB.index(address)
                    if (address & 3) | (base & d.imm2) == 0
                        && TLB.holds(e, e.pointee.readTag, address, context: context, global: globalContext)
                    {
                        let p = TLB.host(e, address)
                        s.pointee.tlbHitsInRun &+= 1
                        x[Int(d.rd)] = UInt64(UInt32(littleEndian: p.load(as: UInt32.self)))
                    } else {
                        fallthrough
                    }
                case .load64:
                    // `.load32` falls through here on a miss: `d.a == 3` keeps it off this path.
                    let d = insn.pointee
                    let base = x[Int(d.rn)]
                    let address = base &+ d.imm
                    let e = tlbSet + TLB.index(address)
                    if d.a == 3 && (address & 7) | (base & d.imm2) == 0
                        && TLB.holds(e, e.pointee.readTag, address, context: context, global: globalContext)
                    {
                        let p = TLB.host(e, address)
                        s.pointee.tlbHitsInRun &+= 1
                        x[Int(d.rd)] = UInt64(littleEndian: p.load(as: UInt64.self))
                    } else {
                        fallthrough
                    }
                case .load64Register:
                    // `.load64` falls through here on a miss: the addressing-mode test keeps it off
                    // this path.
                    let d = insn.pointee
                    let address = x[Int(d.rn)] &+ (x[Int(d.rm)] &<< d.imm2)
                    let e = tlbSet + TLB.index(address)
                    if d.b == AddressingMode.register.rawValue && address & 7 == 0
                        && TLB.holds(e, e.pointee.readTag, address, context: context, global: globalContext)
                    {
                        let p = TLB.host(e, address)
                        s.pointee.tlbHitsInRun &+= 1
                        x[Int(d.rd)] = UInt64(littleEndian: p.load(as: UInt64.self))
                    } else {
                        fallthrough
                    }
                case .load, .loadSigned:
                    let d = insn.pointee
                    let base = d.b == AddressingMode.literal.rawValue ? Self.pc(of: insn, inBlockAt: pc) : x[Int(d.rn)]
                    if d.rn == 32 && base & 0xF != 0 && d.b != AddressingMode.literal.rawValue,
                        let vector = checkStackAlignment(pc: Self.pc(of: insn, inBlockAt: pc))
                    {
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        pc = vector
                        continue blockLoop
                    }
                    let address =
                        d.b == AddressingMode.register.rawValue
                        ? base &+ Arithmetic.extend(x[Int(d.rm)], option: UInt8(d.imm), shift: UInt8(d.imm2))
                        : (d.flags & InstructionFlags.postIndex != 0 ? base : base &+ d.imm)
                    let length = UInt64(1) << UInt64(d.a)
                    let p: UnsafeMutableRawPointer
                    let e = tlbSet + TLB.index(address)
                    if (address & (length &- 1)) | UInt64(d.flags & InstructionFlags.unprivileged) == 0
                        && TLB.holds(e, e.pointee.readTag, address, context: context, global: globalContext)
                    {
                        p = TLB.host(e, address)
                        s.pointee.tlbHitsInRun &+= 1
                    } else if let slow = slowLoad(
                        address, length: length, element: length, insn: insn, pc: Self.pc(of: insn, inBlockAt: pc))
                    {
                        p = slow
                    } else {
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        if case .exit = failedAccess() { return .trap }
                        pc = s.pointee.pc
                        continue blockLoop
                    }
                    let value = Arithmetic.load(p, sizeLog2: d.a, signed: d.kind == .loadSigned, sf: d.sf)
                    if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
                    x[Int(d.rd)] = value
                case .store32:
                    let d = insn.pointee
                    let base = x[Int(d.rn)]
                    let address = base &+ d.imm
                    let e = tlbSet + TLB.index(address)
                    if (address & 3) | (base & d.imm2) == 0
                        && TLB.holds(e, e.pointee.writeTag, address, context: context, global: globalContext)
                    {
                        let p = TLB.host(e, address)
                        s.pointee.tlbHitsInRun &+= 1
                        p.assumingMemoryBound(to: UInt32.self).pointee =
                            UInt32(truncatingIfNeeded: x[Int(d.rd)]).littleEndian
                    } else {
                        fallthrough
                    }
                case .store64:
                    // `.store32` falls through here on a miss: `d.a == 3` keeps it off this path.
                    let d = insn.pointee
                    let base = x[Int(d.rn)]
                    let address = base &+ d.imm
                    let e = tlbSet + TLB.index(address)
                    if d.a == 3 && (address & 7) | (base & d.imm2) == 0
                        && TLB.holds(e, e.pointee.writeTag, address, context: context, global: globalContext)
                    {
                        let p = TLB.host(e, address)
                        s.pointee.tlbHitsInRun &+= 1
                        p.assumingMemoryBound(to: UInt64.self).pointee = x[Int(d.rd)].littleEndian
                    } else {
                        fallthrough
                    }
                case .store:
                    let d = insn.pointee
                    let base = x[Int(d.rn)]
                    if d.rn == 32 && base & 0xF != 0,
                        let vector = checkStackAlignment(pc: Self.pc(of: insn, inBlockAt: pc))
                    {
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        pc = vector
                        continue blockLoop
                    }
                    let address =
                        d.b == AddressingMode.register.rawValue
                        ? base &+ Arithmetic.extend(x[Int(d.rm)], option: UInt8(d.imm), shift: UInt8(d.imm2))
                        : (d.flags & InstructionFlags.postIndex != 0 ? base : base &+ d.imm)
                    let length = UInt64(1) << UInt64(d.a)
                    let e = tlbSet + TLB.index(address)
                    if (address & (length &- 1)) | UInt64(d.flags & InstructionFlags.unprivileged) == 0
                        && TLB.holds(e, e.pointee.writeTag, address, context: context, global: globalContext)
                    {
                        let p = TLB.host(e, address)
                        s.pointee.tlbHitsInRun &+= 1
                        Arithmetic.store(p, x[Int(d.rd)], sizeLog2: d.a)
                        if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
                    } else {
                        let outcome = slowStore(
                            address, sizeLog2: d.a, pair: false, first: x[Int(d.rd)], second: 0, insn: insn,
                            pc: Self.pc(of: insn, inBlockAt: pc))
                        switch outcome {
                        case .next:
                            if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
                        case .completedInNewBlock:
                            if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
                            retired &-= Self.unrun(from: insn + 1, blockLength: blockLength)
                            pc = Self.pc(of: insn, inBlockAt: pc) &+ 4
                            continue blockLoop
                        case .jumped(let vector):
                            retired &-= Self.unrun(from: insn, blockLength: blockLength)
                            pc = vector
                            continue blockLoop
                        case .exit:
                            retired &-= Self.unrun(from: insn, blockLength: blockLength)
                            return .trap
                        }
                    }
                case .loadPair64:
                    let d = insn.pointee
                    let base = x[Int(d.rn)]
                    let address = d.flags & InstructionFlags.postIndex != 0 ? base : base &+ d.imm
                    let e = tlbSet + TLB.index(address)
                    if (address & 7) | (base & d.imm2) == 0 && address & 0xFFF <= 0xFF0
                        && TLB.holds(e, e.pointee.readTag, address, context: context, global: globalContext)
                    {
                        let p = TLB.host(e, address)
                        s.pointee.tlbHitsInRun &+= 1
                        let first = UInt64(littleEndian: p.load(as: UInt64.self))
                        let second = UInt64(littleEndian: p.load(fromByteOffset: 8, as: UInt64.self))
                        if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
                        x[Int(d.rd)] = first
                        x[Int(d.rm)] = second
                    } else {
                        fallthrough
                    }
                case .loadPair, .loadPairSigned:
                    let d = insn.pointee
                    let base = x[Int(d.rn)]
                    if d.rn == 32 && base & 0xF != 0,
                        let vector = checkStackAlignment(pc: Self.pc(of: insn, inBlockAt: pc))
                    {
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        pc = vector
                        continue blockLoop
                    }
                    let address = d.flags & InstructionFlags.postIndex != 0 ? base : base &+ d.imm
                    let size = UInt64(1) << UInt64(d.a)
                    let p: UnsafeMutableRawPointer
                    let e = tlbSet + TLB.index(address)
                    if address & (size &- 1) == 0 && address & 0xFFF <= 0x1000 &- 2 &* size
                        && TLB.holds(e, e.pointee.readTag, address, context: context, global: globalContext)
                    {
                        p = TLB.host(e, address)
                        s.pointee.tlbHitsInRun &+= 1
                    } else if let slow = slowLoad(
                        address, length: 2 &* size, element: size, insn: insn, pc: Self.pc(of: insn, inBlockAt: pc))
                    {
                        p = slow
                    } else {
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        if case .exit = failedAccess() { return .trap }
                        pc = s.pointee.pc
                        continue blockLoop
                    }
                    let signed = d.kind == .loadPairSigned
                    let first = Arithmetic.load(p, sizeLog2: d.a, signed: signed, sf: d.sf)
                    let second = Arithmetic.load(p + Int(size), sizeLog2: d.a, signed: signed, sf: d.sf)
                    if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
                    x[Int(d.rd)] = first
                    x[Int(d.rm)] = second
                case .storePair64:
                    let d = insn.pointee
                    let base = x[Int(d.rn)]
                    let address = d.flags & InstructionFlags.postIndex != 0 ? base : base &+ d.imm
                    let e = tlbSet + TLB.index(address)
                    if (address & 7) | (base & d.imm2) == 0 && address & 0xFFF <= 0xFF0
                        && TLB.holds(e, e.pointee.writeTag, address, context: context, global: globalContext)
                    {
                        let p = TLB.host(e, address)
                        s.pointee.tlbHitsInRun &+= 1
                        p.assumingMemoryBound(to: UInt64.self).pointee = x[Int(d.rd)].littleEndian
                        p.assumingMemoryBound(to: UInt64.self)[1] = x[Int(d.rm)].littleEndian
                        if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
                    } else {
                        fallthrough
                    }
                case .storePair:
                    let d = insn.pointee
                    let base = x[Int(d.rn)]
                    if d.rn == 32 && base & 0xF != 0,
                        let vector = checkStackAlignment(pc: Self.pc(of: insn, inBlockAt: pc))
                    {
                        retired &-= Self.unrun(from: insn, blockLength: blockLength)
                        pc = vector
                        continue blockLoop
                    }
                    let address = d.flags & InstructionFlags.postIndex != 0 ? base : base &+ d.imm
                    let size = UInt64(1) << UInt64(d.a)
                    let e = tlbSet + TLB.index(address)
                    if address & (size &- 1) == 0 && address & 0xFFF <= 0x1000 &- 2 &* size
                        && TLB.holds(e, e.pointee.writeTag, address, context: context, global: globalContext)
                    {
                        let p = TLB.host(e, address)
                        s.pointee.tlbHitsInRun &+= 1
                        Arithmetic.store(p, x[Int(d.rd)], sizeLog2: d.a)
                        Arithmetic.store(p + Int(size), x[Int(d.rm)], sizeLog2: d.a)
                        if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
                    } else {
                        let outcome = slowStore(
                            address, sizeLog2: d.a, pair: true, first: x[Int(d.rd)], second: x[Int(d.rm)], insn: insn,
                            pc: Self.pc(of: insn, inBlockAt: pc))
                        switch outcome {
                        case .next:
                            if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
                        case .completedInNewBlock:
                            if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
                            retired &-= Self.unrun(from: insn + 1, blockLength: blockLength)
                            pc = Self.pc(of: insn, inBlockAt: pc) &+ 4
                            continue blockLoop
                        case .jumped(let vector):
                            retired &-= Self.unrun(from: insn, blockLength: blockLength)
                            pc = vector
                            continue blockLoop
                        case .exit:
                            retired &-= Self.unrun(from: insn, blockLength: blockLength)
                            return .trap
                        }
                    }
                case .blockEnd:
                    // Only instructions that leave the translation regime alone reach the sentinel
                    // (MSR and SYS leave through their continuation).
                    pc = Self.pc(of: insn, inBlockAt: pc)
                    chained = true
                    continue blockLoop
                }
                insn += 1
            }
        }
    }

    /// The PC of `insn`, an instruction of the block whose first instruction is at `blockPC`
    /// (`DecodedInstruction.position`).
    @inline(__always)
    static func pc(of insn: UnsafeMutablePointer<DecodedInstruction>, inBlockAt blockPC: UInt64) -> UInt64 {
        blockPC &+ UInt64(insn.pointee.position) &<< 2
    }

    /// How many instructions of the running block, `blockLength` long, are from `insn` to its
    /// end (`insn + 1` after a completed instruction; the sentinel's position is the length):
    /// what the loop takes back from `retired`, which counted the whole block up front, when the
    /// block stops there.
    @inline(__always)
    static func unrun(from insn: UnsafeMutablePointer<DecodedInstruction>, blockLength: UInt64) -> UInt64 {
        blockLength &- UInt64(insn.pointee.position)
    }

    /// `subsThenBranch`/`subsThenLoop`: the SUBS/CMP Rd = Rn − ((Rm << `b`) + `imm`) (one of
    /// the two terms is zero: `BlockCache.fuseCompareAndBranch`), its NZCV left pending
    /// (`CoreState.deferSubtractionFlags`); returns whether the B.cond after it is taken, from
    /// the operands and the condition's `Arithmetic.compareMask` in `imm2`.
    @inline(__always)
    static func fusedCompare(
        _ insn: UnsafeMutablePointer<DecodedInstruction>, _ x: UnsafeMutablePointer<UInt64>,
        _ s: UnsafeMutablePointer<CoreState>
    ) -> Bool {
        let (n, m) = fusedSubtract(insn, x, s)
        return (insn.pointee.imm2 >> UInt64(Arithmetic.compareIndex(n, m))) & 1 != 0
    }

    /// The SUBS/CMP of the fused forms (`fusedCompare`), its NZCV left pending; returns its two
    /// operands.
    @inline(__always)
    static func fusedSubtract(
        _ insn: UnsafeMutablePointer<DecodedInstruction>, _ x: UnsafeMutablePointer<UInt64>,
        _ s: UnsafeMutablePointer<CoreState>
    ) -> (UInt64, UInt64) {
        let d = insn.pointee
        let n = x[Int(d.rn)]
        let m = (x[Int(d.rm)] &<< UInt64(d.b)) &+ d.imm
        x[Int(d.rd)] = n &- m
        s.pointee.deferSubtractionFlags(n, m)
        return (n, m)
    }

    /// What a rarely executed instruction's helper tells the loop to do next.
    enum Continuation {
        /// Continue with the next instruction of the block.
        case next
        /// An exception was taken: continue at this vector, in a new block.
        case jumped(UInt64)
        /// The instruction completed but decoded code may have changed: continue after it in a
        /// new block.
        case completedInNewBlock
        /// An exit to EL2 was recorded: leave `run` with `.trap` (the instruction did not retire).
        case exit
    }

    /// A store hit a page that decoded blocks came from. If it overwrote decoded instruction
    /// words, drop the blocks decoded from that page and return true (the loop then leaves the
    /// current block right after the store, so the modified code is decoded afresh).
    ///
    /// Only this core's blocks are dropped: another vCPU sees code written for it after the
    /// guest's IC IVAU / IC IALLUIS, which are broadcast (Arm ARM B2.4.4 requires them).
    @inline(never)
    func codeModified(_ address: UInt64, _ length: UInt64) -> Bool {
        guard memory.overlapsCode(address, length) else { return false }
        invalidateDecodedCode(physicalPage: address & ~0xFFF)
        return true
    }

    /// Drops the blocks decoded from one physical page, and the page's code marks (a store to
    /// its decoded words, IC IVAU). Linux patches its own text page by page while it boots
    /// (alternatives, static keys); dropping every block for each patch made it re-decode its
    /// whole working set hundreds of times.
    @inline(never)
    func invalidateDecodedCode(physicalPage page: UInt64) {
        guard let host = memory.pointer(page, 0x1000) else { return }
        blocks.invalidate(hostPage: UInt64(UInt(bitPattern: host)))
        memory.clearCodePage(page)
    }

    /// Drops every decoded block and the record of where code came from (IC IALLU/IVAU, SMC).
    @inline(never)
    public func invalidateDecodedCode() {
        blocks.invalidateAll()
        for page in markedCodePages { memory.clearCodePage(page) }
        markedCodePages.removeAll(keepingCapacity: true)
    }

    @inline(never)
    func recordTrap(_ syndrome: UInt64, pc: UInt64) {
        state.pointee.exitSyndrome = syndrome
        state.pointee.pc = pc
    }

    /// The decoded block for `pc` whose instructions are at `host`: from the table, or built.
    @inline(__always)
    func findBlock(pc: UInt64, host: UInt64, table: UnsafeMutablePointer<BlockCache.Entry>) -> BlockCache.Entry {
        let entry = table[BlockCache.slot(pc)]
        return entry.pc == pc && entry.host == host ? entry : buildBlock(pc: pc, host: host)
    }

    /// Decodes a block from host memory and, when it is the first code of its physical page,
    /// takes the page's write permission out of the TLB so stores to it are checked.
    @inline(never)
    func buildBlock(pc: UInt64, host: UInt64) -> BlockCache.Entry {
        var newCodePage = false
        let pointer = UnsafeMutableRawPointer(bitPattern: UInt(host)).unsafelyUnwrapped
        let entry = blocks.build(pc: pc, host: pointer, memory: memory, newCodePage: &newCodePage)
        if newCodePage {
            let page = memory.physicalAddress(of: pointer) & ~0xFFF
            markedCodePages.insert(page)
            tlb.revokeWrites(physicalPage: page)
        }
        return entry
    }

    /// SP alignment checking (Arm ARM D1.8.2): with SCTLR_EL1.SA (EL1) or SA0 (EL0) set, a
    /// load/store whose base is a misaligned SP takes an SP alignment fault (EC 0x26).
    /// Returns the vector to continue at, or nil when checking is off.
    @inline(never)
    func checkStackAlignment(pc: UInt64) -> UInt64? {
        let s = state.pointee
        let enabled = s.exceptionLevel == 0 ? s.sctlrEL1 & (1 << 4) != 0 : s.sctlrEL1 & (1 << 3) != 0
        guard enabled else { return nil }
        return takeExceptionToEL1(kind: .synchronous, syndrome: Syndrome.make(.spAlignment), preferredReturn: pc)
    }

    /// Takes a pending virtual IRQ/FIQ/SError (HCR_EL2.VI/VF/VSE) unless PSTATE masks it
    /// (Arm ARM D1.14: with HCR_EL2.{IMO,FMO,AMO} = 1 the virtual interrupt is masked by
    /// PSTATE.{I,F,A} at EL1 and EL0). Returns the vector, or nil when all are masked.
    @inline(never)
    func takePendingVirtualInterrupt(pc: UInt64) -> UInt64? {
        let s = state
        let hcr = s.pointee.hcrEL2 | s.pointee.gicSignals
        let daif = s.pointee.daif
        if hcr & HypervisorConfiguration.vse != 0 && daif & 0x100 == 0 {
            s.pointee.hcrEL2 &= ~HypervisorConfiguration.vse
            return takeExceptionToEL1(kind: .serror, syndrome: Syndrome.make(.serror), preferredReturn: pc)
        }
        if hcr & HypervisorConfiguration.vi != 0 && daif & 0x80 == 0 {
            return takeExceptionToEL1(kind: .irq, syndrome: 0, preferredReturn: pc)
        }
        if hcr & HypervisorConfiguration.vf != 0 && daif & 0x40 == 0 {
            return takeExceptionToEL1(kind: .fiq, syndrome: 0, preferredReturn: pc)
        }
        return nil
    }
}
