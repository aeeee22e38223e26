import AArch64
import TestSupport
import XCTest

/// Directed execution tests: small programs from the cross assembler, run on the core, with the
/// architectural results checked (Arm ARM C6 instruction descriptions).
final class InterpreterTests: XCTestCase {
    func testMoveWideBuildsConstants() throws {
        let m = TestMachine()
        try m.run([
            "movz x1, #0x1234, lsl #48", "movk x1, #0x5678, lsl #32", "movk x1, #0x9abc, lsl #16", "movk x1, #0xdef0",
            "movn x2, #0", "movn w3, #0", "movz w4, #0xffff, lsl #16", "movk w4, #1",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(1), 0x1234_5678_9ABC_DEF0)
        XCTAssertEqual(m.cpu.x(2), ~0)
        XCTAssertEqual(m.cpu.x(3), 0xFFFF_FFFF, "32-bit MOVN zeroes the upper half")
        XCTAssertEqual(m.cpu.x(4), 0xFFFF_0001)
    }

    func testAddSubImmediateAndFlags() throws {
        let m = TestMachine()
        try m.run([
            "movn x1, #0", "adds x2, x1, #1",  // carry out, zero
            "mrs x10, nzcv",
            "movz x3, #0x7fff, lsl #48", "movk x3, #0xffff, lsl #32", "movk x3, #0xffff, lsl #16", "movk x3, #0xffff",
            "adds x4, x3, #1",  // signed overflow
            "mrs x11, nzcv",
            "movz w5, #0", "subs w6, w5, #1",  // borrow: C = 0, N = 1
            "mrs x12, nzcv",
            "movn x7, #0", "add w8, w7, #1",  // 32-bit add wraps and zeroes the upper half
            "sub x9, x5, #1, lsl #12",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(2), 0)
        XCTAssertEqual(m.cpu.x(10), 0b0110 << 28)  // Z C
        XCTAssertEqual(m.cpu.x(4), 0x8000_0000_0000_0000)
        XCTAssertEqual(m.cpu.x(11), 0b1001 << 28)  // N V
        XCTAssertEqual(m.cpu.x(6), 0xFFFF_FFFF)
        XCTAssertEqual(m.cpu.x(12), 0b1000 << 28)  // N
        XCTAssertEqual(m.cpu.x(8), 0)
        XCTAssertEqual(m.cpu.x(9), UInt64(bitPattern: -4096))
    }

    func testStackPointerAndZeroRegister() throws {
        let m = TestMachine()
        let sp = m.cpu.sp
        try m.run([
            "movz x1, #5", "add sp, sp, #16",  // SP form
            "add x2, sp, #0",  // mov x2, sp
            "adds xzr, x1, #1",  // result discarded (cmn)
            "orr x3, xzr, x1",  // XZR reads as zero
        ])
        XCTAssertEqual(m.cpu.sp, sp + 16)
        XCTAssertEqual(m.cpu.x(2), sp + 16)
        XCTAssertEqual(m.cpu.x(31), 0)
        XCTAssertEqual(m.cpu.x(3), 5)
    }

    func testShiftedRegisterAndLogical() throws {
        let m = TestMachine()
        try m.run([
            "movz x1, #0xf0", "movz x2, #3",
            "add x3, x1, x2, lsl #4",  // 0xf0 + 0x30
            "sub x4, x1, x2, lsr #1",  // 0xf0 - 1
            "movn x5, #0", "add w6, wzr, w5, asr #31",  // arithmetic shift of a 32-bit -1
            "eor x7, x1, x2, ror #2",  // ror of 3 by 2 → 0xC000...0
            "bic x8, x1, x2, lsl #4",  // 0xf0 & ~0x30
            "orn w9, wzr, w1",  // ~0xf0 in 32 bits
            "ands x10, x1, x2",  // zero → Z
            "mrs x11, nzcv",
            "and x12, x5, #0xff00", "orr w13, wzr, #0x80000001", "eor x14, x1, #0xf",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(3), 0x120)
        XCTAssertEqual(m.cpu.x(4), 0xEF)
        XCTAssertEqual(m.cpu.x(6), 0xFFFF_FFFF)
        XCTAssertEqual(m.cpu.x(7), 0xC000_0000_0000_00F0)
        XCTAssertEqual(m.cpu.x(8), 0xC0)
        XCTAssertEqual(m.cpu.x(9), 0xFFFF_FF0F)
        XCTAssertEqual(m.cpu.x(10), 0)
        XCTAssertEqual(m.cpu.x(11), 0b0100 << 28)
        XCTAssertEqual(m.cpu.x(12), 0xFF00)
        XCTAssertEqual(m.cpu.x(13), 0x8000_0001)
        XCTAssertEqual(m.cpu.x(14), 0xFF)
    }

    func testConditionalBranchesFollowEveryCondition() throws {
        // For each condition, x1 counts how many of a fixed set of comparisons take the branch.
        let conditions = ["eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al"]
        // Pairs compared with cmp: (a, b) as 64-bit values built with movz/movn.
        let pairs: [(String, String)] = [
            ("movz x2, #1", "movz x3, #1"), ("movz x2, #1", "movz x3, #2"), ("movz x2, #2", "movz x3, #1"),
            ("movn x2, #0", "movz x3, #1"), ("movz x2, #0x8000, lsl #48", "movz x3, #1"),
        ]
        for cond in conditions {
            var program = ["movz x1, #0"]
            for (a, b) in pairs {
                program += [a, b, "cmp x2, x3", "b.\(cond) 1f", "b 2f", "1: add x1, x1, #1", "2: nop"]
            }
            let m = TestMachine()
            try m.run(program)
            XCTAssertTrue(m.reachedEnd)
            // Expected counts from the architecture's condition table on these five comparisons:
            // 1-1 (Z C), 1-2 (N), 2-1 (C), -1 vs 1 (N C), INT_MIN vs 1 (C V).
            let expected: [String: UInt64] = [
                "eq": 1, "ne": 4, "cs": 4, "cc": 1, "mi": 2, "pl": 3, "vs": 1, "vc": 4, "hi": 3, "ls": 2,
                "ge": 2, "lt": 3, "gt": 1, "le": 4, "al": 5,
            ]
            XCTAssertEqual(m.cpu.x(1), expected[cond], "b.\(cond)")
        }
    }

    func testCompareAndTestBranches() throws {
        let m = TestMachine()
        try m.run([
            "movz x1, #0", "movz x9, #0", "movz x2, #1, lsl #32",
            "cbz x1, 1f", "add x9, x9, #100", "1: cbnz x1, 2f", "add x9, x9, #1",
            "2: cbz w2, 3f", "add x9, x9, #100",  // w2 is zero: upper half ignored
            "3: tbnz x2, #32, 4f", "add x9, x9, #100", "4: tbz x2, #0, 5f", "add x9, x9, #100", "5: nop",
        ])
        XCTAssertEqual(m.cpu.x(9), 1)
    }

    func testCallAndReturn() throws {
        let m = TestMachine()
        try m.run([
            "movz x0, #0", "bl 1f", "bl 1f", "adr x5, 2f", "blr x5", "b 3f",
            "1: add x0, x0, #1", "ret",
            "2: add x0, x0, #10", "ret",
            "3: nop",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(0), 12)
    }

    func testLoadsAndStoresEverySizeAndExtension() throws {
        let m = TestMachine()
        let data = TestMachine.ramBase + 0x8000
        m.write64(data, 0x8899_AABB_CCDD_EEFF)
        try m.run([
            "movz x1, #0x4000, lsl #16", "add x1, x1, #8, lsl #12",  // x1 = data
            "ldrb w2, [x1]", "ldrsb x3, [x1]", "ldrsb w4, [x1]",
            "ldrh w5, [x1, #2]", "ldrsh x6, [x1, #2]", "ldr w7, [x1, #4]", "ldrsw x8, [x1, #4]", "ldr x9, [x1]",
            "str x9, [x1, #16]", "strb w2, [x1, #24]", "strh w5, [x1, #26]", "str w7, [x1, #28]",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(2), 0xFF)
        XCTAssertEqual(m.cpu.x(3), ~0)
        XCTAssertEqual(m.cpu.x(4), 0xFFFF_FFFF)
        XCTAssertEqual(m.cpu.x(5), 0xCCDD)
        XCTAssertEqual(m.cpu.x(6), 0xFFFF_FFFF_FFFF_CCDD)
        XCTAssertEqual(m.cpu.x(7), 0x8899_AABB)
        XCTAssertEqual(m.cpu.x(8), 0xFFFF_FFFF_8899_AABB)
        XCTAssertEqual(m.cpu.x(9), 0x8899_AABB_CCDD_EEFF)
        XCTAssertEqual(m.read64(data + 16), 0x8899_AABB_CCDD_EEFF)
        XCTAssertEqual(m.read64(data + 24), 0x8899_AABB_CCDD_00FF)
    }

    func testSelfModifyingCodeIsSeen() throws {
        // The loop body's `movz x0, #1` is overwritten with `movz x0, #2` after its first run.
        let m = TestMachine()
        let patch = try CrossAssembler.encode(["movz x0, #2"])[0]
        try m.run([
            "movz x5, #0", "adr x1, 1f",
            "movz w2, #\(patch & 0xFFFF)", "movk w2, #\(patch >> 16), lsl #16",
            "1: movz x0, #1", "add x5, x5, x0", "str w2, [x1]", "cmp x5, #3", "b.lt 1b",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(5), 3, "1 from the original instruction, then 2 from the patched one")
    }

    func testLinkedBranchesReachPatchedCodeAndEachReturnSite() throws {
        // Block links (`BlockCache.Link`): the `bl` and the `ret` go the same way twice, so the
        // second call follows their links; then the subroutine's first word is patched, and the
        // call after that must run the new word. The same `ret` also returns to two call sites in
        // turn, so its link is right for one of them at a time.
        let m = TestMachine()
        let patch = try CrossAssembler.encode(["movz x9, #2"])[0]
        try m.run([
            "movz x10, #0", "movz x11, #0", "movz x12, #0", "adr x1, 3f",
            "movz w2, #\(patch & 0xFFFF)", "movk w2, #\(patch >> 16), lsl #16",
            "movz x0, #3",
            "1: bl 3f", "add x10, x10, x9",  // three calls: 1, 1, then 2 after the patch
            "cmp x0, #2", "b.ne 2f", "str w2, [x1]",
            "2: subs x0, x0, #1", "b.ne 1b",
            "movz x0, #4",
            "4: bl 3f", "add x11, x11, #1", "bl 3f", "add x12, x12, #1", "subs x0, x0, #1", "b.ne 4b",
            "b 5f",
            "3: movz x9, #1", "ret",
            "5: nop",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(10), 1 + 1 + 2, "the third call ran the patched word")
        XCTAssertEqual(m.cpu.x(9), 2)
        XCTAssertEqual(m.cpu.x(11), 4, "each return reached its own call site")
        XCTAssertEqual(m.cpu.x(12), 4)
        XCTAssertEqual(m.cpu.blocks.pageInvalidations, 1)
    }

    func testInstructionsRetiredCountsExecutedInstructions() throws {
        let m = TestMachine()
        try m.run(["movz x0, #3", "1: subs x0, x0, #1", "b.ne 1b"])
        // movz + 3 × (subs, b.ne) + the final hvc.
        XCTAssertEqual(m.cpu.state.pointee.instructionsRetired, 8)
    }

    func testGuestLoopingOnExceptionsStillRunsOutOfBudget() throws {
        // UDF at the synchronous vector: every exception raises the next one and nothing
        // retires, but `run` must still return.
        let m = TestMachine()
        m.cpu.state.pointee.vbarEL1 = TestMachine.ramBase + 0x1000
        m.load([0], at: TestMachine.ramBase + 0x1200)
        m.load([0])
        XCTAssertEqual(m.runLoaded(budget: 1000), .budget)
        XCTAssertEqual(m.cpu.pc, TestMachine.ramBase + 0x1200)
    }

    func testBudgetAndKickStopAtBlockBoundaries() throws {
        let m = TestMachine()
        m.load(try CrossAssembler.assemble(["1: add x0, x0, #1", "b 1b"]))
        XCTAssertEqual(m.runLoaded(budget: 1000), .budget)
        XCTAssertGreaterThanOrEqual(m.cpu.x(0), 500)
        m.cpu.kick()
        XCTAssertEqual(m.runLoaded(), .kick)
        m.cpu.acknowledgeKick()
        XCTAssertEqual(m.runLoaded(budget: 10), .budget)
    }
    func testChainedLoopStopsForAKickFromAnotherThread() throws {
        // `b .` chains into itself without the block-entry checks; the chain still looks at the
        // request word, so a kick sent while it spins ends the run.
        try assertKickStopsEndlessLoop(["1: add x0, x0, #1", "b 1b"])
    }

    /// Runs `loop` (which never ends by itself) on another thread with no budget limit, kicks
    /// the core, and expects the run to end with `.kick`.
    private func assertKickStopsEndlessLoop(_ loop: [String], file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let m = TestMachine()
        m.load(try CrossAssembler.assemble(loop))
        let finished = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var exit: CoreExit?
        nonisolated(unsafe) let machine = m
        DispatchQueue.global().async {
            exit = machine.runLoaded(budget: .max)
            finished.signal()
        }
        m.cpu.kick()
        XCTAssertEqual(
            finished.wait(timeout: .now() + 30), .success, "the kick stopped the loop", file: file, line: line)
        XCTAssertEqual(exit, .kick, file: file, line: line)
    }

    func testConditionalLoopBackToItsBlockStopsAtTheBudgetAndForAKick() throws {
        // A B.cond back to its own block re-runs the block without going back to the block loop
        // (`bCondLoop`): the budget, a kick and the retired count must still hold there, after a
        // fused SUBS (`subsThenLoopWhileNonZero` for B.NE, `subsThenLoop` for B.GT and B.HI) and
        // after a flag-setting instruction that is not fused (CMN is ADDS).
        try assertLoopInPlaceKeepsTheBudgetAndKicks(["add x1, x1, #1", "subs x0, x0, #1"])
        try assertLoopInPlaceKeepsTheBudgetAndKicks(["add x1, x1, #1", "subs x0, x0, #1"], condition: "gt")
        try assertLoopInPlaceKeepsTheBudgetAndKicks(["add x1, x1, #1", "sub x0, x0, #1", "cmn x0, #0"])
        try assertKickStopsEndlessLoop(["1: add x0, x0, #1", "cmp x0, #0", "b.ne 1b"])
        try assertKickStopsEndlessLoop(["1: add x0, x0, #1", "cmn x0, #0", "b.ne 1b"])
        try assertKickStopsEndlessLoop(["1: add x0, x0, #1", "cmp x0, #0", "b.hi 1b"])
    }

    /// Runs `body` (which counts X1 up and X0 down) as `1: body; b.ne 1b` (or B.`condition`,
    /// which must also stop at X0 = 0) 5000 times: first to a budget of 1000, then with a kick
    /// pending, then to the end.
    private func assertLoopInPlaceKeepsTheBudgetAndKicks(
        _ body: [String], condition: String = "ne", file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let m = TestMachine()
        let length = UInt64(body.count + 1)
        var source = ["movz x0, #5000"] + body + ["b.\(condition) 1b", "hvc #0xffff"]
        source[1] = "1: " + source[1]
        m.load(try CrossAssembler.assemble(source))
        XCTAssertEqual(m.runLoaded(budget: 1000), .budget, file: file, line: line)
        let retired = m.cpu.state.pointee.instructionsRetired
        XCTAssertGreaterThanOrEqual(retired, 1000, file: file, line: line)
        XCTAssertLessThan(
            retired, 1000 + length, "stopped at the first block boundary past the budget", file: file, line: line)
        XCTAssertEqual(m.cpu.x(1), (retired - 1) / length, "the count and the work agree", file: file, line: line)
        XCTAssertEqual(m.cpu.pc, TestMachine.ramBase + 4, "at the loop's start", file: file, line: line)
        m.cpu.kick()
        XCTAssertEqual(m.runLoaded(), .kick, file: file, line: line)
        XCTAssertEqual(
            m.cpu.state.pointee.instructionsRetired, retired, "a pending kick runs nothing", file: file, line: line)
        m.cpu.acknowledgeKick()
        XCTAssertEqual(m.runLoaded(), .trap, file: file, line: line)
        XCTAssertTrue(m.reachedEnd, file: file, line: line)
        XCTAssertEqual(m.cpu.x(1), 5000, file: file, line: line)
        XCTAssertEqual(
            m.cpu.state.pointee.instructionsRetired, 1 + length * 5000 + 1, "movz, 5000 rounds, hvc", file: file,
            line: line)
    }

    func testStoreToOneCodePageKeepsOtherPagesDecoded() throws {
        // The subroutine at +0x1000 stays decoded when the caller's page is patched.
        let m = TestMachine()
        let patch = try CrossAssembler.encode(["movz x9, #7"])[0]
        m.load(try CrossAssembler.assemble(["add x2, x2, #1", "ret"]), at: TestMachine.ramBase + 0x1000)
        try m.run([
            "movz x9, #0", "movz x1, #\(TestMachine.ramBase >> 16), lsl #16", "add x1, x1, #0x1000",
            "movz w3, #\(patch & 0xFFFF)", "movk w3, #\(patch >> 16), lsl #16",
            "blr x1", "adr x4, 1f", "str w3, [x4]", "1: nop", "blr x1",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(9), 7, "the patched instruction ran")
        XCTAssertEqual(m.cpu.x(2), 2)
        // Blocks: the caller up to the first `blr`, the subroutine, the caller from the return
        // to the store (which leaves its block), from the patched word to the second `blr`, and
        // from the second return — the subroutine is not rebuilt.
        XCTAssertEqual(m.cpu.blocks.blocksBuilt, 5)
        XCTAssertEqual(m.cpu.blocks.invalidations, 1, "only the reset flushed everything")
        XCTAssertEqual(m.cpu.blocks.pageInvalidations, 1)
    }

    func testAnotherCoresInstructionCacheInvalidationDropsOnlyThePagesItNamed() throws {
        // Another vCPU's IC IVAU reaches this core as a request naming the page
        // (`requestCodeInvalidation(physicalPage:)`): at its next block boundary it drops that
        // page's blocks and keeps the rest; IC IALLUIS (nil), or more pages than the core
        // keeps before it gets to them, drop everything.
        let m = TestMachine()
        let subroutine = TestMachine.ramBase + 0x1000
        m.load(try CrossAssembler.assemble(["add x2, x2, #1", "ret"]), at: subroutine)
        m.load(
            try CrossAssembler.assemble([
                "movz x1, #\(TestMachine.ramBase >> 16), lsl #16", "add x1, x1, #0x1000", "blr x1", "hvc #0xffff",
            ]))
        func runAgain() {
            m.cpu.pc = TestMachine.ramBase
            XCTAssertEqual(m.runLoaded(), .trap)
            XCTAssertTrue(m.reachedEnd)
        }
        runAgain()
        let built = m.cpu.blocks.blocksBuilt
        let flushes = m.cpu.blocks.invalidations
        runAgain()
        XCTAssertEqual(m.cpu.blocks.blocksBuilt, built, "nothing rebuilt without a request")

        m.cpu.requestCodeInvalidation(physicalPage: subroutine)
        runAgain()
        XCTAssertEqual(m.cpu.blocks.blocksBuilt, built + 1, "only the subroutine's block is decoded again")
        XCTAssertEqual(m.cpu.blocks.invalidations, flushes)
        XCTAssertEqual(m.cpu.x(2), 3)

        m.cpu.requestCodeInvalidation(physicalPage: nil)
        runAgain()
        XCTAssertEqual(m.cpu.blocks.invalidations, flushes + 1, "IC IALLUIS drops every block")
        XCTAssertEqual(m.cpu.blocks.blocksBuilt, built + 1 + 3)

        // A page named again is still one page, even with the queue full (31 other pages, then
        // the subroutine's twice).
        let rebuilt = m.cpu.blocks.blocksBuilt
        for page in 0..<UInt64(31) {
            m.cpu.requestCodeInvalidation(physicalPage: TestMachine.ramBase + 0x10000 + page << 12)
        }
        m.cpu.requestCodeInvalidation(physicalPage: subroutine)
        m.cpu.requestCodeInvalidation(physicalPage: subroutine)
        runAgain()
        XCTAssertEqual(m.cpu.blocks.invalidations, flushes + 1)
        XCTAssertEqual(m.cpu.blocks.blocksBuilt, rebuilt + 1)

        // More distinct pages than the core keeps: everything goes.
        for page in 0..<UInt64(40) {
            m.cpu.requestCodeInvalidation(physicalPage: TestMachine.ramBase + 0x10000 + page << 12)
        }
        runAgain()
        XCTAssertEqual(m.cpu.blocks.invalidations, flushes + 2)
        XCTAssertEqual(m.cpu.x(2), 6)
    }

    func testSpecializedLoadsAndStoresKeepTheirAbortSyndrome() throws {
        // LDR X / STR W at base + offset run as `.load64` / `.store32`; outside RAM they still
        // exit with a full instruction syndrome (ISV, SAS, SRT, SF, WnR; Arm ARM D17.2.37).
        let m = TestMachine()
        m.cpu.setX(0, 0x0900_0000)
        XCTAssertEqual(try m.run(["ldr x3, [x0, #8]"]), .trap)
        XCTAssertEqual(m.exceptionClass, ExceptionClass.dataAbortLowerEL.rawValue)
        var iss = Syndrome.iss(m.syndrome)
        XCTAssertEqual(iss >> 24 & 1, 1, "ISV")
        XCTAssertEqual(iss >> 22 & 3, 3, "SAS: doubleword")
        XCTAssertEqual(iss >> 16 & 31, 3, "SRT")
        XCTAssertEqual(iss >> 15 & 1, 1, "SF")
        XCTAssertEqual(iss >> 6 & 1, 0, "WnR: a read")
        XCTAssertEqual(m.cpu.state.pointee.exitFaultAddress, 0x0900_0008)

        let n = TestMachine()
        n.cpu.setX(0, 0x0900_0000)
        XCTAssertEqual(try n.run(["str w4, [x0]"]), .trap)
        iss = Syndrome.iss(n.syndrome)
        XCTAssertEqual(iss >> 24 & 1, 1, "ISV")
        XCTAssertEqual(iss >> 22 & 3, 2, "SAS: word")
        XCTAssertEqual(iss >> 16 & 31, 4, "SRT")
        XCTAssertEqual(iss >> 15 & 1, 0, "SF")
        XCTAssertEqual(iss >> 6 & 1, 1, "WnR: a write")
    }

    func testSpecializedWordLoadAndStoreMissingTheTLBStayWordSized() throws {
        // `.load32`/`.store32` fall through `.load64`/`.store64` on a TLB miss (the first access
        // to a page): the 64-bit fast paths must not take them.
        let m = TestMachine()
        let data = TestMachine.ramBase + 0x9000
        m.write64(data, 0x1122_3344_5566_7788)
        m.write64(data + 0x1000, 0x1122_3344_5566_7788)
        m.cpu.setX(0, data)
        m.cpu.setX(3, 0xAAAA_BBBB_CCCC_DDDD)
        try m.run(["ldr w1, [x0]", "str w3, [x0, #0x1000]"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(1), 0x5566_7788)
        XCTAssertEqual(m.read64(data + 0x1000), 0x1122_3344_CCCC_DDDD)
    }

    func testSpecializedPairsWithWritebackAndMisalignedStackPointer() throws {
        // STP/LDP of X registers with pre- and post-index run as `.storePair64`/`.loadPair64`;
        // a misaligned SP base with SCTLR_EL1.SA set still takes the SP alignment fault.
        let m = TestMachine()
        try m.run([
            "movz x29, #0x1234", "movz x30, #0x5678", "stp x29, x30, [sp, #-16]!", "movz x29, #0",
            "movz x30, #0", "ldp x29, x30, [sp], #16",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(29), 0x1234)
        XCTAssertEqual(m.cpu.x(30), 0x5678)
        XCTAssertEqual(m.cpu.sp, TestMachine.ramBase + TestMachine.ramSize - 16)

        let n = TestMachine()
        n.cpu.state.pointee.sctlrEL1 |= 1 << 3
        n.cpu.state.pointee.vbarEL1 = TestMachine.ramBase + 0x2000
        n.cpu.sp = TestMachine.ramBase + 0x8008
        n.load(try CrossAssembler.assemble(["hvc #0xffff"]), at: TestMachine.ramBase + 0x2200)
        try n.run(["ldr x1, [sp, #8]"])
        XCTAssertTrue(n.reachedEnd)
        XCTAssertEqual(n.cpu.pc, TestMachine.ramBase + 0x2204, "from the vector: current EL with SPx, synchronous")
        XCTAssertEqual(
            Syndrome.exceptionClass(n.cpu.state.pointee.esrEL1), ExceptionClass.spAlignment.rawValue)
    }

    func testSpecializedDataProcessingFormsKeepEdgeCases() throws {
        // ADD/SUB (immediate) run as one addition, MOVZ/MOVN as constants and the 64-bit LSL
        // register forms without their shift and width tests (`BlockCache.specialize`): XZR as
        // destination discards, 32-bit forms still zero the upper half, inverted operands.
        let m = TestMachine()
        try m.run([
            "movn x1, #0", "movz x2, #3", "sub w3, w1, #1", "sub x4, x2, #4", "add x5, x2, x1, lsl #63",
            "sub x6, x2, x2, lsl #2", "add xzr, x1, x2", "orn x7, x2, x1, lsl #1", "bic x8, x1, x2, lsl #62",
            "eon x9, x2, xzr", "subs x10, x2, #3", "mrs x11, nzcv", "cmp x2, x2, lsl #1", "mrs x12, nzcv",
            "movn w13, #1, lsl #16", "add x14, x2, x1", "sub x15, x1, x2", "and x16, x1, x2", "orr x17, x2, x2",
            "eor x18, x1, x2", "mov x19, x2", "mov x20, xzr", "mvn x21, x2", "mov x22, x1",
            "orr x23, x2, x2, lsl #4", "add xzr, x2, x2", "mov x24, sp",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(3), 0xFFFF_FFFE, "32-bit SUB wraps in 32 bits")
        XCTAssertEqual(m.cpu.x(4), ~0, "3 - 4")
        XCTAssertEqual(m.cpu.x(5), 0x8000_0000_0000_0003)
        XCTAssertEqual(m.cpu.x(6), UInt64(bitPattern: -9))
        XCTAssertEqual(m.cpu.x(31), 0, "XZR stays zero")
        XCTAssertEqual(m.cpu.x(7), 3, "3 | NOT(~0 << 1)")
        XCTAssertEqual(m.cpu.x(8), ~(UInt64(3) << 62))
        XCTAssertEqual(m.cpu.x(9), ~UInt64(3))
        XCTAssertEqual(m.cpu.x(10), 0)
        XCTAssertEqual(m.cpu.x(11), 0b0110 << 28, "Z C")
        XCTAssertEqual(m.cpu.x(12), 0b1000 << 28, "3 - 6: N, borrow")
        XCTAssertEqual(m.cpu.x(13), 0xFFFE_FFFF, "32-bit MOVN")
        XCTAssertEqual(m.cpu.x(14), 2, "~0 + 3 wraps")
        XCTAssertEqual(m.cpu.x(15), ~UInt64(3))
        XCTAssertEqual(m.cpu.x(16), 3)
        XCTAssertEqual(m.cpu.x(17), 3)
        XCTAssertEqual(m.cpu.x(18), ~UInt64(3))
        XCTAssertEqual(m.cpu.x(19), 3, "MOV (register)")
        XCTAssertEqual(m.cpu.x(20), 0, "MOV from XZR")
        XCTAssertEqual(m.cpu.x(21), ~UInt64(3), "MVN is ORN: not a plain move")
        XCTAssertEqual(m.cpu.x(22), ~0)
        XCTAssertEqual(m.cpu.x(23), 0x33)
        XCTAssertEqual(m.cpu.x(24), m.cpu.sp, "MOV to/from SP is ADD (immediate)")
    }

    func testBlockCacheSpecializesAndFusesTheCommonestForms() throws {
        // What the interpreter's fast cases rely on: each form picked only where its
        // simplifications hold (`BlockCache.specialize`, `fuseCompareAndBranch`).
        let source = [
            "add x1, x2, x3", "add x1, x2, x3, lsl #1", "add w1, w2, w3", "add x1, x2, x3, lsr #1", "sub x1, x2, x3",
            "and x1, x2, x3", "bic x1, x2, x3", "orr x1, x2, x3", "mov x1, x3", "mvn x1, x3", "orr x1, xzr, x3, lsl #2",
            "eor x1, x2, x3", "eon x1, x2, x3", "subs x1, x2, x3", "mov x1, #5", "mov x1, sp",
        ]
        let expected: [Opcode] = [
            .addUnshifted64, .addRegister64, .addShifted, .addShifted, .subUnshifted64, .andUnshifted64,
            .andRegister64, .orrUnshifted64, .moveRegister64, .orrRegister64, .orrRegister64, .eorUnshifted64,
            .eorRegister64, .subsRegister64, .moveConstant, .addImmediate64,
        ]
        let words = try CrossAssembler.assemble(source)
        for (index, word) in words.enumerated() {
            let decoded = Decoder.shared.decode(word)
            let specialized = BlockCache.specialize(decoded)
            XCTAssertEqual(specialized.op, expected[index], source[index])
            XCTAssertEqual(specialized.kind, decoded.op, "\(source[index]): kind keeps the decoded opcode")
        }

        // CMP/SUBS of X before a B.cond fuses; a CMP of W, or a CMP before another branch, does not.
        for (pair, fuses) in [
            (["cmp x1, #3", "b.ne .-4"], true), (["subs x1, x1, x2, lsl #3", "b.lt .-4"], true),
            (["cmp w1, #3", "b.ne .-4"], false), (["cmp x1, #3", "cbz x1, .-4"], false),
            (["cmp x1, x2, lsr #1", "b.ne .-4"], false),
            // Conditions on N or V alone need NZCV itself: not fused.
            (["cmp x1, #3", "b.mi .-4"], false), (["cmp x1, #3", "b.vc .-4"], false),
            (["cmp x1, #3", "b.hi .-4"], true), (["cmp x1, #3", "b.al .-4"], true),
        ] {
            let decoded = try CrossAssembler.assemble(pair).map { BlockCache.specialize(Decoder.shared.decode($0)) }
            var block = decoded
            block.withUnsafeMutableBufferPointer { BlockCache.fuseCompareAndBranch($0.baseAddress.unsafelyUnwrapped) }
            XCTAssertEqual(block[0].op == .subsThenBranch, fuses, "\(pair)")
            XCTAssertEqual(block[1].op, decoded[1].op, "the branch keeps its slot")
            if fuses {
                XCTAssertEqual(block[0].imm2, Arithmetic.compareMask(block[1].a).map(UInt64.init), "\(pair)")
            }
        }
        // A B.cond to its own block's start (its offset is minus 4 × its position) is marked as
        // the loop form (`markLoop`), with or without a compare fused before it.
        for (offset, position, loops) in [("-4", 1, true), ("-8", 1, false), ("-8", 2, true), ("+8", 1, false)] {
            for (compare, fused) in [("cmp x1, #3", true), ("cmn x1, #3", false)] {
                var block = try CrossAssembler.assemble([compare, "b.ne .\(offset)"]).map {
                    BlockCache.specialize(Decoder.shared.decode($0))
                }
                block[1].position = UInt8(position)
                block.withUnsafeMutableBufferPointer {
                    BlockCache.markLoop($0.baseAddress.unsafelyUnwrapped + 1)
                    BlockCache.fuseCompareAndBranch($0.baseAddress.unsafelyUnwrapped)
                }
                let what = "\(compare); b.ne .\(offset) at \(position)"
                XCTAssertEqual(block[1].op, loops ? .bCondLoop : .bCond, what)
                XCTAssertEqual(block[1].kind, .bCond, what)
                XCTAssertEqual(
                    block[0].op, fused ? (loops ? .subsThenLoopWhileNonZero : .subsThenBranch) : .addsImmediate, what)
            }
        }
        // Only B.NE gets the NE loop form; other loop conditions keep the general one.
        for (cond, op) in [("ne", Opcode.subsThenLoopWhileNonZero), ("eq", .subsThenLoop), ("hi", .subsThenLoop)] {
            var block = try CrossAssembler.assemble(["subs x1, x1, #1", "b.\(cond) .-4"]).map {
                BlockCache.specialize(Decoder.shared.decode($0))
            }
            block[1].position = 1
            block.withUnsafeMutableBufferPointer {
                BlockCache.markLoop($0.baseAddress.unsafelyUnwrapped + 1)
                BlockCache.fuseCompareAndBranch($0.baseAddress.unsafelyUnwrapped)
            }
            XCTAssertEqual(block[0].op, op, "b.\(cond)")
        }
    }

    func testCompareFusedWithTheBranchEndingItsBlockKeepsFlagsAndTargets() throws {
        // SUBS/CMP of X right before a block-ending B.cond run as one `subsThenBranch`
        // (`BlockCache.fuseCompareAndBranch`): immediate (with LSL #12) and shifted-register
        // forms, a loop back to its own block, taken and not-taken branches, the flags left for
        // the code after, and a SUBS whose destination is its own source.
        let m = TestMachine()
        try m.run([
            "movz x0, #3", "movz x1, #0",
            "1: add x1, x1, #1", "subs x0, x0, #1", "b.ne 1b",  // 3 rounds
            "mrs x2, nzcv",
            "movz x3, #0x2000", "cmp x3, #2, lsl #12", "b.eq 2f", "movz x4, #0xbad",
            "2: movz x5, #1", "cmp x5, x3, lsl #1", "b.hs 3f", "movz x6, #7",
            "3: mrs x7, nzcv",
            "movz x8, #5", "subs x8, x8, x5, lsl #2", "b.lt 4f", "movz x9, #9",
            "4: nop",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(1), 3, "the loop ran three times")
        XCTAssertEqual(m.cpu.x(0), 0)
        XCTAssertEqual(m.cpu.x(2), 0b0110 << 28, "Z C after the last SUBS")
        XCTAssertEqual(m.cpu.x(4), 0, "CMP #2, LSL #12 was equal: B.EQ taken")
        XCTAssertEqual(m.cpu.x(6), 7, "1 < 0x4000: B.HS not taken")
        XCTAssertEqual(m.cpu.x(7), 0b1000 << 28, "N, borrow")
        XCTAssertEqual(m.cpu.x(8), 1, "5 - 4")
        XCTAssertEqual(m.cpu.x(9), 9, "5 ≥ 4: B.LT not taken")
        // movz ×2, 3 × (add, subs, b.ne), mrs, movz, cmp, b.eq, movz, cmp, b.hs, movz, mrs,
        // movz, subs, b.lt, movz, nop, hvc.
        XCTAssertEqual(m.cpu.state.pointee.instructionsRetired, 2 + 9 + 1 + 3 + 4 + 1 + 4 + 1 + 1)
    }

    func testCompareMaskAgreesWithTheConditionTableOnEveryComparison() {
        // `Arithmetic.compareMask` at `compareIndex(a, b)` against ConditionHolds on the NZCV of
        // a − b, for each condition but MI, PL, VS, VC (which it declines).
        let values: [UInt64] = [0, 1, 2, 0x7FFF_FFFF_FFFF_FFFE, 0x7FFF_FFFF_FFFF_FFFF, 1 << 63, (1 << 63) + 1, ~1, ~0]
        for cond in UInt8(0)..<16 {
            guard let mask = Arithmetic.compareMask(cond) else {
                XCTAssertTrue((4..<8).contains(cond), "only MI, PL, VS, VC are declined, not \(cond)")
                continue
            }
            for a in values {
                for b in values {
                    let holds = (mask >> Arithmetic.compareIndex(a, b)) & 1 == 1
                    XCTAssertEqual(
                        holds, Arithmetic.conditionHolds(cond, Arithmetic.subtractionFlags(a, b)),
                        "cond \(cond): \(a) − \(b)")
                }
            }
        }
    }

    func testFusedCompareTakesEachConditionAndLeavesTheFlagsItWouldHaveWritten() throws {
        // A fused CMP + B.cond tests the condition on the operands and leaves NZCV pending
        // (`CoreState.deferSubtractionFlags`). Against flags worked out here from the Arm ARM's
        // AddWithCarry(a, NOT(b), 1): the branch of every condition, on operands at the edges of
        // both orders, and NZCV as MRS, CSET, ADC, a later B.cond and the host then read it.
        let edges: [UInt64] = [0, 1, 2, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ~0, ~1]
        let conditions = ["eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al"]
        for (index, cond) in conditions.enumerated() {
            let m = TestMachine()
            m.load(
                try CrossAssembler.assemble([
                    "movz x9, #0", "cmp x1, x2", "b.\(cond) 1f", "b 2f", "1: movz x9, #1",
                    "2: mrs x3, nzcv", "cset x4, hi", "adc x5, xzr, xzr", "cmp x1, x2", "b.\(cond) 3f",
                    "movz x6, #0", "b 4f", "3: movz x6, #1", "4: hvc #0xffff",
                ]))
            for a in edges {
                for b in edges {
                    m.cpu.pc = TestMachine.ramBase
                    m.cpu.setX(1, a)
                    m.cpu.setX(2, b)
                    _ = m.runLoaded()
                    let r = a &- b
                    let n = r >> 63 == 1
                    let z = r == 0
                    let c = a >= b
                    let v = ((a ^ b) & (a ^ r)) >> 63 == 1
                    // ConditionHolds (Arm ARM J1): cond<3:1> picks the test, cond<0> inverts it
                    // (except for AL).
                    let base: Bool =
                        switch index >> 1 {
                        case 0: z
                        case 1: c
                        case 2: n
                        case 3: v
                        case 4: c && !z
                        case 5: n == v
                        case 6: n == v && !z
                        default: true
                        }
                    let holds = base != (index & 1 == 1 && index != 14)
                    let flags: UInt64 = (n ? 8 : 0) | (z ? 4 : 0) | (c ? 2 : 0) | (v ? 1 : 0)
                    let what = "cmp \(a), \(b); b.\(cond)"
                    XCTAssertTrue(m.reachedEnd, what)
                    XCTAssertEqual(m.cpu.x(9), holds ? 1 : 0, what)
                    XCTAssertEqual(m.cpu.x(3), flags << 28, "\(what): MRS NZCV")
                    XCTAssertEqual(m.cpu.x(4), c && !z ? 1 : 0, "\(what): CSET HI")
                    XCTAssertEqual(m.cpu.x(5), c ? 1 : 0, "\(what): ADC reads C")
                    XCTAssertEqual(m.cpu.x(6), holds ? 1 : 0, "\(what): the second compare")
                    XCTAssertEqual(UInt64(m.nzcv), flags, "\(what): NZCV as the host reads it")
                }
            }
        }
        // A fused loop leaves its flags for an exception to save in SPSR_EL1 (the vector reads
        // it and returns to the HVC).
        let m = TestMachine()
        m.cpu.state.pointee.vbarEL1 = TestMachine.ramBase + 0x2000
        m.load(try CrossAssembler.assemble(["mrs x7, spsr_el1", "hvc #0xffff"]), at: TestMachine.ramBase + 0x2200)
        try m.run(["movz x0, #2", "1: subs x0, x0, #1", "b.ge 1b", "svc #0"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(0), ~0, "the loop ran until x0 went negative")
        XCTAssertEqual(m.cpu.x(7) >> 28, 0b1000, "N (0 − 1), no carry: SPSR_EL1 has the pending flags")
    }

    func testAFlagWriteAfterAFusedCompareReplacesItsPendingFlags() throws {
        // 1 − 2 by a fused CMP leaves N pending (0b1000); whatever writes NZCV next is what the
        // MRS after it reads: an unfused SUBS (through the `nzcv` setter), MSR NZCV, and CCMP,
        // whose condition (MI) reads the pending N first.
        for (writer, expected) in [
            (["subs x3, x1, #1"], UInt64(0b0110)),
            (["movz x5, #0x3000, lsl #16", "msr nzcv, x5"], 0b0011),
            (["ccmp x2, x1, #0b1001, mi"], 0b0010),
        ] {
            let m = TestMachine()
            m.cpu.setX(1, 1)
            m.cpu.setX(2, 2)
            try m.run(["cmp x1, x2", "b.eq 1f", "1: nop"] + writer + ["mrs x4, nzcv"])
            XCTAssertTrue(m.reachedEnd)
            XCTAssertEqual(m.cpu.x(4) >> 28, expected, "\(writer)")
        }
        // The host's write keeps bits 31:28 only, so no value it writes reads as pending.
        let m = TestMachine()
        m.cpu.setX(1, 1)
        m.cpu.setX(2, 2)
        try m.run(["cmp x1, x2", "b.eq 1f", "1: nop"])
        XCTAssertEqual(m.nzcv, 0b1000, "pending, worked out for the host")
        m.cpu.state.pointee.nzcv = 0x6000_0001
        XCTAssertEqual(m.cpu.state.pointee.nzcv, 0x6000_0000)
    }

    func testRegisterOffsetDoublewordLoads() throws {
        // LDR Xt, [Xn, Xm, LSL #3] runs as `.load64Register`; an unscaled index, SXTX with a
        // negative index and the first access to the page (a TLB miss: the general path) load
        // the same bytes, and a W index (UXTW) stays on the general path.
        let m = TestMachine()
        let data = TestMachine.ramBase + 0x9000
        for i in 0..<4 { m.write64(data + UInt64(8 * i), 0x1111_1111_1111_1111 &* UInt64(i + 1)) }
        m.cpu.setX(0, data + 8)
        m.cpu.setX(1, 2)
        m.cpu.setX(2, UInt64(bitPattern: -8))
        m.cpu.setX(3, 0x1_0000_0001)
        try m.run([
            "ldr x4, [x0, x1, lsl #3]", "ldr x5, [x0, x2]", "ldr x6, [x0, x2, sxtx]", "ldr x8, [x0, w3, uxtw #3]",
        ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(4), 0x4444_4444_4444_4444)
        XCTAssertEqual(m.cpu.x(5), 0x1111_1111_1111_1111)
        XCTAssertEqual(m.cpu.x(6), 0x1111_1111_1111_1111)
        XCTAssertEqual(m.cpu.x(8), 0x3333_3333_3333_3333, "UXTW takes the low word")
    }

    func testChainedBranchAfterTranslationChangeTranslatesAgain() throws {
        // A branch within the page after an MSR that turns the MMU on still goes through the
        // TLB: MSR leaves its block unchained. With stage 1 on and no tables at TTBR0, the next
        // fetch faults instead of running on.
        let m = TestMachine()
        m.cpu.state.pointee.vbarEL1 = TestMachine.ramBase + 0x2000
        m.load(try CrossAssembler.assemble(["hvc #0xffff"]), at: TestMachine.ramBase + 0x2200)
        m.cpu.setX(1, 1)
        try m.run(["msr sctlr_el1, x1", "b 1f", "1: movz x2, #1"])
        XCTAssertFalse(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(2), 0, "the instruction after the MMU came on did not run")
    }
}
