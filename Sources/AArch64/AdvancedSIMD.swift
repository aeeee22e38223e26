/// The Advanced SIMD data-movement groups (Arm ARM C3.5 "Advanced SIMD"): copy (DUP, INS,
/// UMOV, SMOV), modified immediate (MOVI, MVNI, ORR, BIC, FMOV), permute (ZIP, UZP, TRN), EXT,
/// TBL/TBX, and the FP register moves (FMOV, FABS, FNEG). Each follows the Arm ARM pseudocode
/// of its instruction; a 64-bit (Q = 0) result clears bits 127:64 of the destination.
///
/// Run out of line from the interpreter (`executeAdvancedSIMD`), after the FP enable check.
extension CPU {
    @inline(never)
    func executeAdvancedSIMD(_ insn: UnsafePointer<DecodedInstruction>, pc: UInt64) -> Continuation {
        if let trap = floatingPointTrap(pc: pc) { return trap }
        let d = insn.pointee
        switch d.op {
        case .simdCopy: copy(d)
        case .simdModifiedImmediate: modifiedImmediate(d)
        case .simdThreeSame: threeSame(d)
        case .simdThreeDifferent: threeDifferent(d)
        case .simdTwoRegisterMisc: twoRegisterMisc(d)
        case .simdAcrossLanes: acrossLanes(d)
        case .simdShiftImmediate: shiftImmediate(d)
        case .simdPermute: permute(d)
        case .simdExtract: extract(d)
        case .simdTableLookup: tableLookup(d)
        case .floatMove: floatMove(d)
        default: return .jumped(undefinedInstruction(at: pc))
        }
        return .next
    }

    private func copy(_ d: DecodedInstruction) {
        let size = Int(d.a)
        let bytes = d.sf == 1 ? 16 : 8
        switch Decoder.CopyOperation(rawValue: d.b) {
        case .duplicateElement:
            let element = vector(d.rn).element(Int(d.imm), size)
            // DUP (element, scalar), `sf` = 2: the element alone, the rest of Vd cleared.
            setVector(d.rd, d.sf == 2 ? Vector128(low: element, high: 0) : .replicated(element, size, bytes: bytes))
        case .duplicateGeneral:
            setVector(d.rd, .replicated(registers[Int(d.rn)], size, bytes: bytes))
        case .signedMove:
            let value = UInt64(bitPattern: vector(d.rn).signedElement(Int(d.imm), size))
            registers[Int(d.rd)] = d.sf == 1 ? value : value & 0xFFFF_FFFF
        case .unsignedMove:
            registers[Int(d.rd)] = vector(d.rn).element(Int(d.imm), size)
        case .insertGeneral:
            var v = vector(d.rd)
            v.setElement(Int(d.imm), size, registers[Int(d.rn)])
            setVector(d.rd, v)
        case .insertElement, nil:
            var v = vector(d.rd)
            v.setElement(Int(d.imm), size, vector(d.rn).element(Int(d.imm2), size))
            setVector(d.rd, v)
        }
    }

    private func modifiedImmediate(_ d: DecodedInstruction) {
        let imm = Vector128(low: d.imm, high: d.imm)
        let old = vector(d.rd)
        let result: Vector128
        switch Decoder.ImmediateOperation(rawValue: d.b) {
        case .move, nil: result = imm
        case .moveInverted: result = Vector128(low: ~imm.low, high: ~imm.high)
        case .or: result = Vector128(low: old.low | imm.low, high: old.high | imm.high)
        case .bitClear: result = Vector128(low: old.low & ~imm.low, high: old.high & ~imm.high)
        }
        setVector(d.rd, result.sized(d.sf))
    }

    /// UZP1/UZP2 (opcode x01), TRN1/TRN2 (x10), ZIP1/ZIP2 (x11); opcode<2> selects part 2.
    private func permute(_ d: DecodedInstruction) {
        let size = Int(d.a)
        let elements = (d.sf == 1 ? 16 : 8) >> size
        let n = vector(d.rn)
        let m = vector(d.rm)
        let part = Int(d.b >> 2)
        var result = Vector128.zero
        for e in 0..<elements {
            let value: UInt64
            switch d.b & 3 {
            case 1:  // UZP: the even (odd) elements of n:m
                let index = 2 * e + part
                value = index < elements ? n.element(index, size) : m.element(index - elements, size)
            case 2:  // TRN
                let index = (e & ~1) + part
                value = e & 1 == 0 ? n.element(index, size) : m.element(index, size)
            default:  // ZIP
                let index = part * elements / 2 + e / 2
                value = e & 1 == 0 ? n.element(index, size) : m.element(index, size)
            }
            result.setElement(e, size, value)
        }
        setVector(d.rd, result)
    }

    /// EXT: bytes imm.. of the concatenation Vm:Vn (Vn least significant).
    private func extract(_ d: DecodedInstruction) {
        let bytes = d.sf == 1 ? 16 : 8
        let n = vector(d.rn)
        let m = vector(d.rm)
        var result = Vector128.zero
        for i in 0..<bytes {
            let source = Int(d.imm) + i
            result.setElement(i, 0, UInt64(source < bytes ? n.byte(source) : m.byte(source - bytes)))
        }
        setVector(d.rd, result)
    }

    /// TBL/TBX: each byte of Vm indexes the table of 1–4 consecutive registers from Vn; an index
    /// past the table gives 0 (TBL) or leaves the destination byte (TBX).
    private func tableLookup(_ d: DecodedInstruction) {
        let bytes = d.sf == 1 ? 16 : 8
        let tableBytes = 16 * (Int(d.b) + 1)
        let indices = vector(d.rm)
        let old = vector(d.rd)
        var result = Vector128.zero
        for i in 0..<bytes {
            let index = Int(indices.byte(i))
            let value: UInt8
            if index < tableBytes {
                value = vector(UInt8((Int(d.rn) + index / 16) & 31)).byte(index % 16)
            } else {
                value = d.imm2 == 1 ? old.byte(i) : 0
            }
            result.setElement(i, 0, UInt64(value))
        }
        setVector(d.rd, result)
    }

    /// FMOV (general, register, immediate), FABS and FNEG (scalar): bit moves, no FP exceptions
    /// (FPAbs/FPNeg only touch the sign bit, Arm ARM J1).
    private func floatMove(_ d: DecodedInstruction) {
        let x = registers
        let signBit: UInt64 = d.a == 3 ? 1 << 63 : 1 << 31
        let width = Vector128.mask(bits: 8 << Int(d.a))
        switch Decoder.FloatMoveOperation(rawValue: d.b) {
        case .toGeneral32: x[Int(d.rd)] = vector(d.rn).low & 0xFFFF_FFFF
        case .fromGeneral32: setVector(d.rd, Vector128(low: x[Int(d.rn)] & 0xFFFF_FFFF, high: 0))
        case .toGeneral64: x[Int(d.rd)] = vector(d.rn).low
        case .fromGeneral64: setVector(d.rd, Vector128(low: x[Int(d.rn)], high: 0))
        case .toGeneralHigh: x[Int(d.rd)] = vector(d.rn).high
        case .fromGeneralHigh: setVector(d.rd, Vector128(low: vector(d.rd).low, high: x[Int(d.rn)]))
        case .register: setVector(d.rd, Vector128(low: vector(d.rn).low & width, high: 0))
        case .absolute: setVector(d.rd, Vector128(low: vector(d.rn).low & width & ~signBit, high: 0))
        case .negate: setVector(d.rd, Vector128(low: (vector(d.rn).low ^ signBit) & width, high: 0))
        case .immediate, nil: setVector(d.rd, Vector128(low: d.imm, high: 0))
        }
    }
}
