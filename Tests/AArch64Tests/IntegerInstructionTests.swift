import AArch64
import TestSupport
import XCTest

/// Directed tests of the ARMv8.0 integer instructions beyond the foundation slice, with the
/// edge cases the Arm ARM pseudocode singles out.
final class IntegerInstructionTests: XCTestCase {
    private func run(_ program: [String], setup: (TestMachine) -> Void = { _ in }) throws -> TestMachine {
        let m = TestMachine()
        setup(m)
        try m.run(program)
        XCTAssertTrue(m.reachedEnd, "program did not reach its end: ESR 0x\(String(m.syndrome, radix: 16))")
        return m
    }

    func testBitfieldAliases() throws {
        let m = try run([
            "movz x1, #0x8765, lsl #16", "movk x1, #0x4321",  // x1 = 0x8765_4321
            "lsl x2, x1, #4", "lsr w3, w1, #28", "asr w4, w1, #28", "sxtb x5, w1", "sxth w6, w1", "sxtw x7, w1",
            "uxtb w8, w1", "uxth w9, w1", "ubfx x10, x1, #8, #12", "sbfx x11, x1, #28, #4",
            "movn x12, #0", "bfi x12, x1, #8, #8", "movz x13, #0", "bfxil x13, x1, #4, #8", "asr x14, x7, #63",
        ])
        let c = m.cpu
        XCTAssertEqual(c.x(2), 0x8_7654_3210)
        XCTAssertEqual(c.x(3), 0x8)
        XCTAssertEqual(c.x(4), 0xFFFF_FFF8, "32-bit ASR keeps the sign within W and zeroes the top")
        XCTAssertEqual(c.x(5), 0x21)
        XCTAssertEqual(c.x(6), 0x4321)
        XCTAssertEqual(c.x(7), 0xFFFF_FFFF_8765_4321)
        XCTAssertEqual(c.x(8), 0x21)
        XCTAssertEqual(c.x(9), 0x4321)
        XCTAssertEqual(c.x(10), 0x543)
        XCTAssertEqual(c.x(11), UInt64(bitPattern: -8))
        XCTAssertEqual(c.x(12), 0xFFFF_FFFF_FFFF_21FF)
        XCTAssertEqual(c.x(13), 0x32)
        XCTAssertEqual(c.x(14), ~0)
    }

    func testExtractAndRotate() throws {
        let m = try run([
            "movz x1, #0x1122, lsl #48", "movz x2, #0xaabb", "extr x3, x1, x2, #8", "ror x4, x2, #8",
            "ror w5, w2, #4", "extr w6, w1, w2, #0",
        ])
        XCTAssertEqual(m.cpu.x(3), 0x0000_0000_0000_00AA)
        XCTAssertEqual(m.cpu.x(4), 0xBB00_0000_0000_00AA)
        XCTAssertEqual(m.cpu.x(5), 0xB000_0AAB)
        XCTAssertEqual(m.cpu.x(6), 0xAABB)
    }

    func testExtendedRegisterArithmeticWithSP() throws {
        let sp = TestMachine.ramBase + 0x1000
        let m = try run([
            "movn x1, #0", "add x2, sp, w1, uxtw #2", "sub x3, sp, w1, sxtw", "add sp, sp, x1, uxtb #1",
            "adds x4, x1, w1, uxth", "mrs x5, nzcv", "cmp w1, w1, sxtb",
        ]) { $0.cpu.sp = sp }
        XCTAssertEqual(m.cpu.x(2), sp + 0x3_FFFF_FFFC)
        XCTAssertEqual(m.cpu.x(3), sp + 1)
        XCTAssertEqual(m.cpu.sp, sp + 0x1FE)
        XCTAssertEqual(m.cpu.x(4), 0xFFFE)
        XCTAssertEqual(m.cpu.x(5), 0b0010 << 28, "carry out")
        XCTAssertEqual(m.nzcv, 0b0110, "-1 - (-1): Z and C")
    }

    func testAddAndSubtractWithCarry() throws {
        let m = try run([
            "movn x1, #0", "movz x2, #1", "adds x3, x1, x2",  // C = 1
            "adc x4, x2, x2",  // 1 + 1 + 1
            "sbcs x5, x2, x2",  // 1 - 1 - (1 - C) with C = 1 → 0, flags Z C
            "mrs x6, nzcv", "sbc w7, wzr, wzr",  // 0 - 0 - 0 with C = 1 → 0
            "cmp x2, #2",  // C = 0
            "sbc x8, x2, xzr",  // 1 - 0 - 1 = 0
            "adcs w9, w1, wzr", "mrs x10, nzcv",
        ])
        XCTAssertEqual(m.cpu.x(4), 3)
        XCTAssertEqual(m.cpu.x(5), 0)
        XCTAssertEqual(m.cpu.x(6), 0b0110 << 28)
        XCTAssertEqual(m.cpu.x(7), 0)
        XCTAssertEqual(m.cpu.x(8), 0)
        XCTAssertEqual(m.cpu.x(9), 0xFFFF_FFFF)
        XCTAssertEqual(m.cpu.x(10), 0b1000 << 28)
    }

    func testConditionalCompareAndSelect() throws {
        let m = try run([
            "movz x1, #5", "cmp x1, #5", "ccmp x1, #3, #0b0100, eq", "mrs x2, nzcv",  // eq holds → compare 5-3
            "cmp x1, #4", "ccmp x1, #3, #0b0100, eq", "mrs x3, nzcv",  // eq fails → nzcv = 0100
            "ccmn x1, x1, #0, ne", "mrs x4, nzcv",  // ne holds (Z=1? no: Z=1 from imm → ne fails)
            "cmp x1, #5", "cset w5, eq", "csetm x6, ne", "cinc x7, x1, eq", "cneg x8, x1, eq", "csinv x9, x1, xzr, ne",
            "csel w10, w1, wzr, hi",
        ])
        XCTAssertEqual(m.cpu.x(2), 0b0010 << 28)
        XCTAssertEqual(m.cpu.x(3), 0b0100 << 28)
        XCTAssertEqual(m.cpu.x(4), 0)
        XCTAssertEqual(m.cpu.x(5), 1)
        XCTAssertEqual(m.cpu.x(6), 0)
        XCTAssertEqual(m.cpu.x(7), 6)
        XCTAssertEqual(m.cpu.x(8), UInt64(bitPattern: -5))
        XCTAssertEqual(m.cpu.x(9), ~0)
        XCTAssertEqual(m.cpu.x(10), 0)
    }

    func testMultiplyFamily() throws {
        let m = try run([
            "movn x1, #0", "movz x2, #3", "mul x3, x1, x2", "mneg w4, w1, w2", "smull x5, w1, w2", "umull x6, w1, w2",
            "smulh x7, x1, x2", "umulh x8, x1, x2", "madd w9, w2, w2, w1", "msub x10, x2, x2, xzr",
            "smaddl x11, w1, w1, x2", "umsubl x12, w2, w2, x2",
        ])
        let c = m.cpu
        XCTAssertEqual(c.x(3), UInt64(bitPattern: -3))
        XCTAssertEqual(c.x(4), 3)
        XCTAssertEqual(c.x(5), UInt64(bitPattern: -3))
        XCTAssertEqual(c.x(6), 0x2_FFFF_FFFD)
        XCTAssertEqual(c.x(7), ~0, "high half of -3")
        XCTAssertEqual(c.x(8), 2)
        XCTAssertEqual(c.x(9), 8)
        XCTAssertEqual(c.x(10), UInt64(bitPattern: -9))
        XCTAssertEqual(c.x(11), 4)
        XCTAssertEqual(c.x(12), UInt64(bitPattern: -6))
    }

    func testDivisionEdgeCases() throws {
        let m = try run([
            "movz x1, #7", "movz x2, #0", "udiv x3, x1, x2", "sdiv x4, x1, x2",  // divide by zero → 0
            "movz x5, #0x8000, lsl #48", "movn x6, #0", "sdiv x7, x5, x6",  // INT64_MIN / -1 → INT64_MIN
            "movz w8, #0x8000, lsl #16", "sdiv w9, w8, w6",  // INT32_MIN / -1
            "movn x10, #6", "movz x11, #2", "sdiv x12, x10, x11", "udiv w13, w10, w11",  // -7 / 2 → -3 (toward zero)
        ])
        let c = m.cpu
        XCTAssertEqual(c.x(3), 0)
        XCTAssertEqual(c.x(4), 0)
        XCTAssertEqual(c.x(7), 0x8000_0000_0000_0000)
        XCTAssertEqual(c.x(9), 0x8000_0000)
        XCTAssertEqual(c.x(12), UInt64(bitPattern: -3))
        XCTAssertEqual(c.x(13), 0x7FFF_FFFC)
    }

    func testVariableShiftsTakeTheAmountModuloTheWidth() throws {
        let m = try run([
            "movz x1, #1", "movz x2, #65", "lsl x3, x1, x2", "movz w4, #33", "lsl w5, w1, w4",
            "movn x6, #0", "lsr w7, w6, w4", "asr x8, x6, x2", "movz x9, #0x8000, lsl #48", "ror x10, x9, x2",
        ])
        XCTAssertEqual(m.cpu.x(3), 2)
        XCTAssertEqual(m.cpu.x(5), 2)
        XCTAssertEqual(m.cpu.x(7), 0x7FFF_FFFF)
        XCTAssertEqual(m.cpu.x(8), ~0)
        XCTAssertEqual(m.cpu.x(10), 0x4000_0000_0000_0000)
    }

    func testOneSourceOperations() throws {
        let m = try run([
            "movz x1, #0x1234, lsl #48", "movk x1, #0x00f0",
            "rbit x2, x1", "rev x3, x1", "rev16 x4, x1", "rev32 x5, x1", "rev w6, w1", "clz x7, x1", "clz w8, w1",
            "movz x9, #0", "cls x10, x9", "movn x11, #0", "cls w12, w11", "movz x13, #1", "cls x14, x13", "clz x15, x9",
        ])
        let c = m.cpu
        XCTAssertEqual(c.x(2), 0x0F00_0000_0000_2C48)
        XCTAssertEqual(c.x(3), 0xF000_0000_0000_3412)
        XCTAssertEqual(c.x(4), 0x3412_0000_0000_F000)
        XCTAssertEqual(c.x(5), 0x0000_3412_F000_0000)
        XCTAssertEqual(c.x(6), 0xF000_0000)
        XCTAssertEqual(c.x(7), 3)
        XCTAssertEqual(c.x(8), 24)
        XCTAssertEqual(c.x(10), 63)
        XCTAssertEqual(c.x(12), 31)
        XCTAssertEqual(c.x(14), 62)
        XCTAssertEqual(c.x(15), 64)
    }

    func testCRC32OfTheStandardCheckString() throws {
        // "123456789": CRC-32 check value 0xCBF43926, CRC-32C 0xE3069283 (with the usual
        // pre- and post-inversion, which the instructions leave to software).
        let m = try run([
            "movz x1, #0x3231", "movk x1, #0x3433, lsl #16", "movk x1, #0x3635, lsl #32", "movk x1, #0x3837, lsl #48",
            "movz w2, #0x39",
            "movn w3, #0", "crc32x w3, w3, x1", "crc32b w3, w3, w2", "mvn w3, w3",
            "movn w4, #0", "crc32cx w4, w4, x1", "crc32cb w4, w4, w2", "mvn w4, w4",
            "movn w5, #0", "crc32w w5, w5, w1", "lsr x6, x1, #32", "crc32h w5, w5, w6", "lsr x6, x1, #48",
            "crc32h w5, w5, w6",
            "crc32b w5, w5, w2", "mvn w5, w5",
        ])
        XCTAssertEqual(m.cpu.x(3), 0xCBF4_3926)
        XCTAssertEqual(m.cpu.x(4), 0xE306_9283)
        XCTAssertEqual(m.cpu.x(5), 0xCBF4_3926)
    }

    func testLoadStoreAddressingModes() throws {
        let data = TestMachine.ramBase + 0x8000
        let m = try run([
            "movz x1, #0x4000, lsl #16", "add x1, x1, #8, lsl #12", "mov x20, x1",
            "ldr x2, [x1, #8]!", "ldr x3, [x1], #-8", "ldur w4, [x1, #-1]", "movz x5, #2",
            "ldr x6, [x1, x5, lsl #3]", "ldrh w7, [x1, w5, uxtw #1]", "movn x8, #0", "ldrb w9, [x1, x8, sxtx]",
            "add x1, x1, #1", "ldrb w10, [x1, w8, sxtw]", "sub x1, x1, #1",
            "movz x11, #0xabcd", "str x11, [x1, #32]!", "strh w11, [x1], #2", "sturb w11, [x1, #-3]",
            "ldtr x12, [x20, #16]", "sttrb w11, [x20, #64]",
            "ldr x13, lit", "ldrsw x14, lit", "b 1f", "lit: .quad 0xfffffffe00000001", "1: nop",
        ]) { m in
            for i in 0..<8 { m.write64(data + UInt64(8 * i), 0x1111_1111_1111_1111 &* UInt64(i + 1)) }
            m.write64(data - 8, 0xEE00_0000_0000_0000)
        }
        let c = m.cpu
        XCTAssertEqual(c.x(2), 0x2222_2222_2222_2222)
        XCTAssertEqual(c.x(3), 0x2222_2222_2222_2222)
        XCTAssertEqual(c.x(4), 0x1111_11EE, "unscaled, negative offset")
        XCTAssertEqual(c.x(6), 0x3333_3333_3333_3333)
        XCTAssertEqual(c.x(7), 0x1111)
        XCTAssertEqual(c.x(9), 0xEE)
        XCTAssertEqual(c.x(10), 0x11)
        XCTAssertEqual(c.x(1), data + 34, "pre-index then post-index writeback")
        XCTAssertEqual(m.read64(data + 32), 0xABCD)
        XCTAssertEqual(m.read64(data + 24) >> 56, 0xCD, "STURB at base - 3")
        XCTAssertEqual(c.x(12), 0x3333_3333_3333_3333)
        XCTAssertEqual(m.read64(data + 64) & 0xFF, 0xCD)
        XCTAssertEqual(c.x(13), 0xFFFF_FFFE_0000_0001)
        XCTAssertEqual(c.x(14), 1)
    }

    func testPairs() throws {
        let sp = TestMachine.ramBase + 0x9000
        let m = try run([
            "movz x1, #1", "movz x2, #2", "stp x1, x2, [sp, #-16]!", "ldp x3, x4, [sp], #16",
            "movn w5, #0", "stp w5, w1, [sp, #-8]", "ldpsw x6, x7, [sp, #-8]", "ldp w8, w9, [sp, #-8]",
            "stnp x2, x1, [sp, #-32]", "ldnp x10, x11, [sp, #-32]",
        ]) { $0.cpu.sp = sp }
        let c = m.cpu
        XCTAssertEqual(c.sp, sp)
        XCTAssertEqual(m.read64(sp - 16), 1)
        XCTAssertEqual([c.x(3), c.x(4)], [1, 2])
        XCTAssertEqual([c.x(6), c.x(7)], [~0, 1])
        XCTAssertEqual([c.x(8), c.x(9)], [0xFFFF_FFFF, 1])
        XCTAssertEqual([c.x(10), c.x(11)], [2, 1])
    }

    func testExclusivesSucceedOnlyWithAnArmedMonitor() throws {
        let m = try run([
            "movz x1, #0x4000, lsl #16", "add x1, x1, #8, lsl #12",
            "ldxr x2, [x1]", "add x2, x2, #1", "stxr w3, x2, [x1]",  // succeeds: w3 = 0
            "stxr w4, x2, [x1]",  // monitor cleared by the first store: fails, w4 = 1
            "ldaxr w5, [x1]", "clrex", "stlxr w6, w5, [x1]",  // cleared by CLREX: fails
            "ldxp x7, x8, [x1]", "stxp w9, x8, x7, [x1]",  // pair succeeds and swaps
            "ldxr x10, [x1]", "add x15, x1, #8", "stxr w11, x10, [x15]",  // wrong address: fails
            "movz x12, #0x77", "add x16, x1, #16", "stlr x12, [x16]", "ldar x13, [x16]", "ldarb w14, [x1]",
        ]) { m in
            m.write64(TestMachine.ramBase + 0x8000, 41)
            m.write64(TestMachine.ramBase + 0x8008, 99)
        }
        let c = m.cpu
        XCTAssertEqual(c.x(3), 0)
        XCTAssertEqual(c.x(4), 1)
        XCTAssertEqual(c.x(6), 1)
        XCTAssertEqual(c.x(9), 0)
        XCTAssertEqual(m.read64(TestMachine.ramBase + 0x8000), 99)
        XCTAssertEqual(m.read64(TestMachine.ramBase + 0x8008), 42)
        XCTAssertEqual(c.x(11), 1)
        XCTAssertEqual(c.x(13), 0x77)
        XCTAssertEqual(c.x(14), 99)
    }

    func testUnalignedExclusiveTakesAnAlignmentFault() throws {
        let m = TestMachine()
        m.cpu.state.pointee.vbarEL1 = TestMachine.ramBase + 0x1000
        m.load(
            try CrossAssembler.assemble(["mrs x10, esr_el1", "mrs x11, far_el1", "hvc #0xffff"]),
            at: TestMachine.ramBase + 0x1200)
        try m.run(["movz x1, #0x4000, lsl #16", "movk x1, #0x8004", "ldxr x2, [x1]"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(10), 0x9600_0000 | 1 << 25 | 0x21, "DABT_CUR, alignment")
        XCTAssertEqual(m.cpu.x(11), TestMachine.ramBase + 0x8004)
    }

    func testSPAlignmentCheck() throws {
        let m = TestMachine()
        m.cpu.state.pointee.vbarEL1 = TestMachine.ramBase + 0x1000
        m.load(try CrossAssembler.assemble(["mrs x10, esr_el1", "hvc #0xffff"]), at: TestMachine.ramBase + 0x1200)
        m.cpu.sp = TestMachine.ramBase + 0x9008
        try m.run(["ldr x0, [sp]"])
        XCTAssertEqual(m.cpu.x(10), 0x9A00_0000 | 1 << 25, "EC 0x26 SP alignment")
    }

    func testDCZVAZeroesA64ByteBlock() throws {
        let block = TestMachine.ramBase + 0x8040
        let m = try run(["movz x1, #0x4000, lsl #16", "movk x1, #0x8050", "dc zva, x1", "mrs x2, dczid_el0"]) { m in
            for i in 0..<24 { m.write64(TestMachine.ramBase + 0x8000 + UInt64(8 * i), ~0) }
        }
        XCTAssertEqual(m.read64(block - 8), ~0)
        for i in 0..<8 { XCTAssertEqual(m.read64(block + UInt64(8 * i)), 0) }
        XCTAssertEqual(m.read64(block + 64), ~0)
        XCTAssertEqual(m.cpu.x(2), 4)
    }

    func testIdentificationRegisters() throws {
        let m = try run([
            "mrs x1, midr_el1", "mrs x2, id_aa64pfr0_el1", "mrs x3, id_aa64isar0_el1", "mrs x4, ctr_el0",
            "mrs x5, s3_0_c0_c7_7", "movz x6, #1", "msr csselr_el1, x6", "mrs x7, ccsidr_el1", "mrs x8, clidr_el1",
            "mrs x9, id_aa64isar1_el1",
        ])
        let c = m.cpu
        XCTAssertEqual(c.x(1), 0x411F_D070)
        XCTAssertEqual(c.x(2) & 0xFF, 0x11, "EL0 and EL1: AArch64 only")
        XCTAssertEqual((c.x(2) >> 16) & 0xFF, 0, "FP and AdvSIMD implemented, without half precision")
        XCTAssertEqual((c.x(3) >> 16) & 0xF, 1, "CRC32")
        XCTAssertEqual((c.x(3) >> 4) & 0xFFF, 0, "no AES, SHA1, SHA2 or 64-bit PMULL")
        XCTAssertEqual((c.x(3) >> 20) & 0xF, 0, "no LSE atomics")
        XCTAssertEqual(c.x(4), 0x8444_C004)
        XCTAssertEqual(c.x(5), 0, "unallocated ID register is RAZ")
        XCTAssertEqual(c.x(7), 0x201F_E012)
        XCTAssertEqual(c.x(8), 0x0A20_0023)
        XCTAssertEqual(c.x(9), 0, "no pointer authentication")
    }

    func testGenericTimerCounters() throws {
        var ticks: UInt64 = 1000
        let m = TestMachine()
        let counter = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        defer { counter.deallocate() }
        counter.pointee = ticks
        let address = UInt(bitPattern: counter)
        m.cpu.systemCounter = {
            let p = UnsafeMutablePointer<UInt64>(bitPattern: address)!
            p.pointee += 10
            return p.pointee
        }
        m.cpu.state.pointee.virtualCounterOffset = 500
        try m.run(["mrs x1, cntfrq_el0", "mrs x2, cntpct_el0", "mrs x3, cntvct_el0"])
        ticks += 10
        XCTAssertEqual(m.cpu.x(1), 62_500_000)
        XCTAssertEqual(m.cpu.x(2), ticks)
        XCTAssertEqual(m.cpu.x(3), ticks + 10 - 500, "CNTVCT = CNTPCT - CNTVOFF")
    }

    func testEL0CounterAccessFollowsCNTKCTL() throws {
        let m = TestMachine()
        let vbar = TestMachine.ramBase + 0x1000
        m.load(try CrossAssembler.assemble(["mrs x10, esr_el1", "hvc #0xffff"]), at: vbar + 0x400)
        m.load(
            try CrossAssembler.assemble(["mrs x0, cntpct_el0", "mrs x1, cntvct_el0"]), at: TestMachine.ramBase + 0x100)
        m.cpu.state.pointee.vbarEL1 = vbar
        m.cpu.state.pointee.cntkctlEL1 = 1  // EL0PCTEN only
        m.cpu.state.pointee.spsrEL1 = 0
        m.cpu.state.pointee.elrEL1 = TestMachine.ramBase + 0x100
        m.load(try CrossAssembler.assemble(["eret"]))
        _ = m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        XCTAssertNotEqual(m.cpu.x(0), 0, "CNTPCT_EL0 readable at EL0")
        // CNTVCT_EL0 trapped to EL1: EC 0x18, Op0 3, Op2 2, Op1 3, CRn 14, Rt 1, CRm 0, read.
        XCTAssertEqual(m.cpu.x(10), 0x6200_0000 | 3 << 20 | 2 << 17 | 3 << 14 | 14 << 10 | 1 << 5 | 1)
    }

    func testTVMTrapsWritesToEL2WithAFullSyndrome() throws {
        let m = TestMachine()
        m.cpu.state.pointee.hcrEL2 |= HypervisorConfiguration.tvm
        m.load(try CrossAssembler.assemble(["movz x3, #5", "msr ttbr0_el1, x3"]))
        XCTAssertEqual(m.runLoaded(), .trap)
        // EC 0x18, Op0 = 3, Op2 = 0, Op1 = 0, CRn = 2, Rt = 3, CRm = 0, write.
        XCTAssertEqual(m.syndrome, 0x6200_0000 | 3 << 20 | 2 << 10 | 3 << 5)
        XCTAssertEqual(m.cpu.pc, TestMachine.ramBase + 4)
        XCTAssertEqual(m.cpu.state.pointee.ttbr0EL1, 0, "the write did not happen")
    }

    func testEL0AccessesControlledByEL1TrapToEL1() throws {
        let m = TestMachine()
        let vbar = TestMachine.ramBase + 0x1000
        m.load(try CrossAssembler.assemble(["mrs x10, esr_el1", "hvc #0xffff"]), at: vbar + 0x400)
        m.load(try CrossAssembler.assemble(["mrs x0, ctr_el0"]), at: TestMachine.ramBase + 0x100)
        m.cpu.state.pointee.vbarEL1 = vbar
        m.cpu.state.pointee.sctlrEL1 &= ~(1 << 15)  // UCT = 0
        m.cpu.state.pointee.spsrEL1 = 0
        m.cpu.state.pointee.elrEL1 = TestMachine.ramBase + 0x100
        m.load(try CrossAssembler.assemble(["eret"]))
        _ = m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        // EC 0x18, Op0 = 3, Op2 = 1, Op1 = 3, CRn = 0, Rt = 0, CRm = 0, read.
        XCTAssertEqual(m.cpu.x(10), 0x6200_0000 | 3 << 20 | 1 << 17 | 3 << 14 | 1)
    }

    func testVirtualIRQIsTakenWhenUnmasked() throws {
        let m = TestMachine()
        let vbar = TestMachine.ramBase + 0x1000
        m.load(try CrossAssembler.assemble(["mrs x10, elr_el1", "mrs x11, spsr_el1", "hvc #0xffff"]), at: vbar + 0x280)
        m.cpu.state.pointee.vbarEL1 = vbar
        m.cpu.state.pointee.hcrEL2 |= HypervisorConfiguration.vi
        try m.run(["movz x1, #1", "msr daifclr, #2", "movz x2, #2"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(1), 1)
        XCTAssertEqual(m.cpu.x(2), 0, "the IRQ is taken right after DAIFClr")
        XCTAssertEqual(m.cpu.x(10), TestMachine.ramBase + 8)
        XCTAssertEqual(m.cpu.x(11), 0x345, "SPSR: EL1h with I clear")
    }
    func testSubtractFlagsEqualAddWithCarryOfTheInvertedOperand() {
        // `Arithmetic.subtract` (SUBS/CMP) works out C and V directly; it must agree with the
        // architecture's AddWithCarry(a, NOT(b), 1) for both widths.
        var generator = SystemRandomNumberGenerator()
        let edges: [UInt64] = [
            0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000, .max, 1 << 63, (1 << 63) - 1,
        ]
        var values = edges
        for _ in 0..<2000 { values.append(UInt64.random(in: 0...UInt64.max, using: &generator)) }
        for (i, a) in values.enumerated() {
            for b in edges + [values[(i * 7 + 3) % values.count]] {
                for sf: UInt8 in [0, 1] {
                    var expected: UInt32 = 0
                    var actual: UInt32 = 0
                    let r1 = Arithmetic.addWithCarry(a, ~b, 1, sf: sf, nzcv: &expected)
                    let r2 = Arithmetic.subtract(a, b, sf: sf, nzcv: &actual)
                    XCTAssertEqual(r2, r1, "result of \(a) - \(b), sf \(sf)")
                    XCTAssertEqual(actual, expected, "NZCV of \(a) - \(b), sf \(sf)")
                }
            }
        }
    }
}
