/// SIMD&FP loads and stores (Arm ARM C3.2.8 "Load/Store of SIMD and floating-point registers",
/// C3.2.9 "Advanced SIMD load/store structures"), out of the interpreter's hot loop.
///
/// Every access translates its whole byte range first — at most 64 bytes, so at most two
/// pages — through the same `dataPointer` path as integer accesses (TLB, stage-1 and stage-2
/// faults, Device-memory alignment), checks SCTLR_EL1.A alignment of its elements, and only
/// then moves data: a faulting load changes no register and a faulting store writes nothing.
/// Stores over decoded code drop the decoded blocks as integer stores do.
extension CPU {
    @inline(never)
    func executeVectorMemory(_ insn: UnsafePointer<DecodedInstruction>, pc: UInt64) -> Continuation {
        if let trap = floatingPointTrap(pc: pc) { return trap }
        let d = insn.pointee
        return d.op == .vectorStructure ? structureAccess(d, insn: insn, pc: pc) : registerAccess(d, insn: insn, pc: pc)
    }

    /// LDR/STR/LDUR/STUR/LDP/STP/LDNP/STNP (SIMD&FP) and LDR (literal, SIMD&FP).
    private func registerAccess(_ d: DecodedInstruction, insn: UnsafePointer<DecodedInstruction>, pc: UInt64)
        -> Continuation
    {
        let x = registers
        let literal = d.b == AddressingMode.literal.rawValue
        let base = literal ? pc : x[Int(d.rn)]
        if !literal && d.rn == 32 && base & 0xF != 0, let vector = checkStackAlignment(pc: pc) {
            return .jumped(vector)
        }
        let address: UInt64
        if d.b == AddressingMode.register.rawValue {
            address = base &+ Arithmetic.extend(x[Int(d.rm)], option: UInt8(d.imm), shift: UInt8(d.imm2))
        } else {
            address = d.flags & InstructionFlags.postIndex != 0 ? base : base &+ d.imm
        }
        let size = 1 << Int(d.a)
        let pair = d.flags & InstructionFlags.vectorPair != 0
        let length = pair ? 2 * size : size
        let scratch = vectorScratch
        if d.flags & InstructionFlags.vectorLoad != 0 {
            if let failure = readGuest(address, length: length, element: UInt64(size), insn: insn, pc: pc) {
                return failure
            }
            writeWhole(d.rd, from: scratch, bytes: size)
            if pair { writeWhole(d.rm, from: scratch + size, bytes: size) }
        } else {
            scratch.copyMemory(from: vectorBytes(Int(d.rd)), byteCount: size)
            if pair { (scratch + size).copyMemory(from: vectorBytes(Int(d.rm)), byteCount: size) }
            let outcome = writeGuest(address, length: length, element: UInt64(size), insn: insn, pc: pc)
            switch outcome {
            case .next, .completedInNewBlock:
                if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
            default:
                break
            }
            return outcome
        }
        if d.flags & InstructionFlags.writeback != 0 { x[Int(d.rn)] = base &+ d.imm }
        return .next
    }

    /// Writes `bytes` bytes to Vn and clears the rest of its 128 bits (a B/H/S/D write).
    private func writeWhole(_ n: UInt8, from source: UnsafeRawPointer, bytes: Int) {
        let target = vectorBytes(Int(n))
        target.storeBytes(of: 0, as: UInt64.self)
        target.storeBytes(of: 0, toByteOffset: 8, as: UInt64.self)
        target.copyMemory(from: source, byteCount: bytes)
    }

    /// LD1–LD4/ST1–ST4 (multiple and single structure) and LD1R–LD4R, following the Arm ARM
    /// pseudocode `aarch64/instrs/memory/vector/multiple/...` and `.../single/...`: structures
    /// are interleaved in memory, element s of each structure going to register (t + s) mod 32.
    private func structureAccess(_ d: DecodedInstruction, insn: UnsafePointer<DecodedInstruction>, pc: UInt64)
        -> Continuation
    {
        let x = registers
        let base = x[Int(d.rn)]
        if d.rn == 32 && base & 0xF != 0, let vector = checkStackAlignment(pc: pc) { return .jumped(vector) }
        let ebytes = 1 << Int(d.a)
        let selem = Int(d.b)
        let t = Int(d.rd)
        let load = d.flags & InstructionFlags.vectorLoad != 0
        let registerBytes = d.sf == 1 ? 16 : 8
        let kind = StructureKind(rawValue: d.imm2) ?? .multiple
        let length: Int
        switch kind {
        case .multiple: length = Int(d.imm) * selem * registerBytes
        case .single, .replicate: length = selem * ebytes
        }
        let scratch = vectorScratch
        if load {
            if let failure = readGuest(base, length: length, element: UInt64(ebytes), insn: insn, pc: pc) {
                return failure
            }
            switch kind {
            case .multiple:
                let elements = registerBytes / ebytes
                var offset = 0
                for r in 0..<Int(d.imm) {
                    for e in 0..<elements {
                        for s in 0..<selem {
                            let register = vectorBytes((t + r + s) & 31)
                            if e == 0 && registerBytes == 8 {
                                register.storeBytes(of: 0, toByteOffset: 8, as: UInt64.self)
                            }
                            (register + e * ebytes).copyMemory(from: scratch + offset, byteCount: ebytes)
                            offset += ebytes
                        }
                    }
                }
            case .single:
                for s in 0..<selem {
                    (vectorBytes((t + s) & 31) + Int(d.imm) * ebytes).copyMemory(
                        from: scratch + s * ebytes, byteCount: ebytes)
                }
            case .replicate:
                for s in 0..<selem {
                    let register = vectorBytes((t + s) & 31)
                    register.storeBytes(of: 0, toByteOffset: 8, as: UInt64.self)
                    for e in 0..<(registerBytes / ebytes) {
                        (register + e * ebytes).copyMemory(from: scratch + s * ebytes, byteCount: ebytes)
                    }
                }
            }
        } else {
            switch kind {
            case .multiple:
                let elements = registerBytes / ebytes
                var offset = 0
                for r in 0..<Int(d.imm) {
                    for e in 0..<elements {
                        for s in 0..<selem {
                            (scratch + offset).copyMemory(
                                from: vectorBytes((t + r + s) & 31) + e * ebytes, byteCount: ebytes)
                            offset += ebytes
                        }
                    }
                }
            case .single, .replicate:
                for s in 0..<selem {
                    (scratch + s * ebytes).copyMemory(
                        from: vectorBytes((t + s) & 31) + Int(d.imm) * ebytes, byteCount: ebytes)
                }
            }
            let outcome = writeGuest(base, length: length, element: UInt64(ebytes), insn: insn, pc: pc)
            switch outcome {
            case .next, .completedInNewBlock:
                if d.flags & InstructionFlags.writeback != 0 {
                    x[Int(d.rn)] = base &+ (d.rm == 31 ? UInt64(length) : x[Int(d.rm)])
                }
            default:
                break
            }
            return outcome
        }
        if d.flags & InstructionFlags.writeback != 0 {
            x[Int(d.rn)] = base &+ (d.rm == 31 ? UInt64(length) : x[Int(d.rm)])
        }
        return .next
    }

    /// The host spans of `length` bytes (at most 64) at `va`, translated for `type`; nil after a
    /// fault was delivered.
    private func guestSpans(
        _ va: UInt64, length: Int, element: UInt64, type: AccessType, insn: UnsafePointer<DecodedInstruction>,
        pc: UInt64
    ) -> (head: UnsafeMutableRawPointer, headBytes: Int, tail: UnsafeMutableRawPointer?)? {
        guard checkAlignment(va, element: element, write: type == .write, pc: pc) else { return nil }
        let inPage = min(Int(0x1000 - (va & 0xFFF)), length)
        guard
            let head = dataPointer(
                va, length: UInt64(inPage), type: type, alignment: element &- 1, insn: insn, pc: pc)
        else { return nil }
        guard inPage < length else { return (head, inPage, nil) }
        guard
            let tail = dataPointer(
                va &+ UInt64(inPage), length: UInt64(length - inPage), type: type, alignment: element &- 1,
                insn: insn, pc: pc)
        else { return nil }
        return (head, inPage, tail)
    }

    /// Reads `length` bytes at `va` into `vectorScratch`; nil on success, else how to continue.
    private func readGuest(
        _ va: UInt64, length: Int, element: UInt64, insn: UnsafePointer<DecodedInstruction>, pc: UInt64
    ) -> Continuation? {
        guard let spans = guestSpans(va, length: length, element: element, type: .read, insn: insn, pc: pc) else {
            return failedAccess()
        }
        vectorScratch.copyMemory(from: spans.head, byteCount: spans.headBytes)
        if let tail = spans.tail {
            (vectorScratch + spans.headBytes).copyMemory(from: tail, byteCount: length - spans.headBytes)
        }
        return nil
    }

    /// Writes `length` bytes from `vectorScratch` to `va`.
    private func writeGuest(
        _ va: UInt64, length: Int, element: UInt64, insn: UnsafePointer<DecodedInstruction>, pc: UInt64
    ) -> Continuation {
        guard let spans = guestSpans(va, length: length, element: element, type: .write, insn: insn, pc: pc) else {
            return failedAccess()
        }
        spans.head.copyMemory(from: vectorScratch, byteCount: spans.headBytes)
        var modified = storedToCode(spans.head, length: UInt64(spans.headBytes))
        if let tail = spans.tail {
            tail.copyMemory(from: vectorScratch + spans.headBytes, byteCount: length - spans.headBytes)
            modified = storedToCode(tail, length: UInt64(length - spans.headBytes)) || modified
        }
        return modified ? .completedInNewBlock : .next
    }
}
