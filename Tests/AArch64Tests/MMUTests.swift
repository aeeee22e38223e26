import AArch64
import TestSupport
import XCTest

/// Stage-1 translation (Arm ARM D5, VMSAv8-64 with the 4 KB granule) as directed guest programs:
/// tables built in guest memory, a program run with the MMU on, and the exact syndromes, fault
/// addresses and results checked on the host. Stage 2 is off in this bare core (IPA = PA);
/// HighvisorTests and the `mmu` guest cover it.
final class MMUTests: XCTestCase {
    static let base = TestMachine.ramBase
    /// Vector table: every entry is `hvc #1`, so a fault taken to EL1 exits at once.
    static let vectors = base + 0x1000
    /// Data pages, mapped per test.
    static let dataPA = base + 0x4_0000
    static let faultStop: UInt32 = 1

    /// Stage-1 descriptors (Arm ARM D5.3): AttrIndx[4:2], AP[7:6], SH[9:8], AF[10], nG[11],
    /// PXN[53], UXN[54].
    static func leaf(
        _ pa: UInt64, attrIndex: UInt64 = 1, ap: UInt64 = 0, af: Bool = true, nG: Bool = false, pxn: Bool = false,
        uxn: Bool = false, page: Bool = true
    ) -> UInt64 {
        var d = pa | (page ? 0b11 : 0b01) | attrIndex << 2 | ap << 6 | 3 << 8
        if af { d |= 1 << 10 }
        if nG { d |= 1 << 11 }
        if pxn { d |= 1 << 53 }
        if uxn { d |= 1 << 54 }
        return d
    }

    /// Allocates translation tables in the top half of the test machine's RAM.
    final class Tables {
        let m: TestMachine
        var next: UInt64 = MMUTests.base + 0x8_0000
        let startLevel: Int

        init(_ m: TestMachine, startLevel: Int) {
            self.m = m
            self.startLevel = startLevel
        }

        func allocate() -> UInt64 {
            let table = next
            next += 0x1000
            for i in 0..<512 { m.write64(table + UInt64(i * 8), 0) }
            return table
        }

        /// The address of the descriptor for `va` at `level` under `root`, creating table
        /// descriptors above it as needed.
        func slot(root: UInt64, va: UInt64, level: Int) -> UInt64 {
            var table = root
            var l = startLevel
            while true {
                let shift = UInt64(12 + 9 * (3 - l))
                let address = table + ((va >> shift) & 0x1FF) * 8
                if l == level { return address }
                var d = m.read64(address)
                if d & 3 != 3 {
                    d = allocate() | 3
                    m.write64(address, d)
                }
                table = d & 0x0000_FFFF_FFFF_F000
                l += 1
            }
        }

        func map(root: UInt64, va: UInt64, descriptor: UInt64, level: Int = 3) {
            m.write64(slot(root: root, va: va, level: level), descriptor)
        }
    }

    /// A machine with the MMU on: TTBR0 maps all of RAM identically with 4 KB pages (Normal
    /// memory, EL1 RW, EL0 no data access — executable at both), T0SZ = 25 (walks start at
    /// level 1), MAIR attr0 = Device-nGnRnE, attr1 = Normal WB. The vectors are `hvc #1`.
    func machine(t0sz: UInt64 = 25, tcr extra: UInt64 = 0) -> (TestMachine, Tables, UInt64) {
        let m = TestMachine()
        let start = t0sz <= 24 ? 0 : t0sz <= 33 ? 1 : 2
        let tables = Tables(m, startLevel: start)
        let root = tables.allocate()
        for page in stride(from: UInt64(0), to: TestMachine.ramSize, by: 0x1000) {
            tables.map(root: root, va: Self.base + page, descriptor: Self.leaf(Self.base + page))
        }
        m.load(Array(repeating: 0xD400_0002 | Self.faultStop << 5, count: 0x200), at: Self.vectors)
        let s = m.cpu.state
        s.pointee.mairEL1 = 0xFF00
        // EPD1: no TTBR1 walks unless a test sets one up; TG1 = 4 KB; IPS = 40 bits.
        s.pointee.tcrEL1 = t0sz | 25 << 16 | 1 << 23 | 2 << 30 | 2 << 32 | extra
        s.pointee.ttbr0EL1 = root
        s.pointee.vbarEL1 = Self.vectors
        s.pointee.sctlrEL1 |= 1
        m.cpu.tlb.invalidateAll()
        m.cpu.updateTranslationContext()
        return (m, tables, root)
    }

    func run(_ m: TestMachine, _ source: [String]) throws {
        try m.run(source)
    }

    /// Runs a new program on a machine that already ran one: the host wrote the code behind the
    /// core's back, so the decoded blocks of the old one are dropped first.
    func rerun(_ m: TestMachine, _ source: [String]) throws {
        m.cpu.invalidateDecodedCode()
        m.cpu.pc = Self.base
        try m.run(source)
    }

    /// True when the program stopped in the vector table (a fault was taken to EL1).
    func faulted(_ m: TestMachine) -> Bool {
        m.exceptionClass == ExceptionClass.hvc64.rawValue && Syndrome.iss(m.syndrome) == Self.faultStop
    }

    func assertFault(
        _ m: TestMachine, esr: UInt64, far: UInt64, elr: UInt64? = nil, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertTrue(
            faulted(m), "no exception taken (ESR_EL2 0x\(String(m.syndrome, radix: 16)))", file: file, line: line)
        let s = m.cpu.state.pointee
        XCTAssertEqual(String(s.esrEL1, radix: 16), String(esr, radix: 16), "ESR_EL1", file: file, line: line)
        XCTAssertEqual(String(s.farEL1, radix: 16), String(far, radix: 16), "FAR_EL1", file: file, line: line)
        if let elr { XCTAssertEqual(s.elrEL1, elr, "ELR_EL1", file: file, line: line) }
    }

    /// Loads `value` into x1 with MOVZ/MOVK.
    static func mov(_ register: String, _ value: UInt64) -> [String] {
        (0..<4).map { i in
            let part = (value >> (16 * UInt64(i))) & 0xFFFF
            return i == 0 ? "movz \(register), #\(part)" : "movk \(register), #\(part), lsl #\(16 * i)"
        }
    }

    // MARK: Mappings

    func testPageMappingTranslatesAndFillsTheTLB() throws {
        let (m, tables, root) = machine()
        let va: UInt64 = 0x12_3456_7000
        tables.map(root: root, va: va, descriptor: Self.leaf(Self.dataPA))
        m.write64(Self.dataPA + 8, 0xDEAD_BEEF_F00D)
        try run(m, Self.mov("x1", va) + ["ldr x2, [x1, #8]", "ldr x3, [x1, #8]", "str x2, [x1, #16]"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(2), 0xDEAD_BEEF_F00D)
        XCTAssertEqual(m.read64(Self.dataPA + 16), 0xDEAD_BEEF_F00D)
        XCTAssertGreaterThan(m.cpu.tlb.misses, 0)
        XCTAssertGreaterThan(m.cpu.tlb.hits, 0, "the second access hits")
    }

    func testTTBR1HighMapping() throws {
        let (m, tables, root) = machine()
        let high = tables.allocate()
        let va: UInt64 = 0xFFFF_FF80_0004_2000  // T1SZ = 25: the top 2^39 bytes
        tables.map(root: high, va: va, descriptor: Self.leaf(Self.dataPA))
        m.cpu.state.pointee.ttbr1EL1 = high
        m.cpu.state.pointee.tcrEL1 &= ~(1 << 23)  // EPD1 = 0
        _ = root
        m.write64(Self.dataPA, 77)
        try run(m, Self.mov("x1", va) + ["ldr x2, [x1]"])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(2), 77)
    }

    func testLevel1AndLevel2BlocksAliasThePagesTheyCover() throws {
        let (m, tables, root) = machine()
        // 1 GB block at VA 0x80000000 → PA 0x40000000; 2 MB block at VA 0x60200000 → PA 0x40000000.
        tables.map(root: root, va: 0x8000_0000, descriptor: Self.leaf(Self.base, page: false), level: 1)
        tables.map(root: root, va: 0x6020_0000, descriptor: Self.leaf(Self.base, page: false), level: 2)
        let offset = Self.dataPA - Self.base
        m.write64(Self.dataPA, 5)
        try run(
            m,
            Self.mov("x1", 0x8000_0000 + offset) + Self.mov("x2", 0x6020_0000 + offset) + [
                "ldr x3, [x1]", "movz x4, #9", "str x4, [x2]", "ldr x5, [x1]", "ldr x6, [x2]",
            ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(3), 5)
        XCTAssertEqual(m.cpu.x(5), 9, "a write through the 2 MB alias is seen through the 1 GB alias")
        XCTAssertEqual(m.cpu.x(6), 9)
    }

    func testPageCrossingAccessesToDiscontiguousPages() throws {
        let (m, tables, root) = machine()
        let va: UInt64 = 0x7000_0000
        tables.map(root: root, va: va, descriptor: Self.leaf(Self.dataPA))
        tables.map(root: root, va: va + 0x1000, descriptor: Self.leaf(Self.dataPA + 0x3000))
        m.write64(Self.dataPA + 0xFF8, 0x1122_3344_5566_7788)
        m.write64(Self.dataPA + 0x3000, 0x99AA_BBCC_DDEE_FF00)
        try run(
            m,
            Self.mov("x1", va + 0xFFC) + Self.mov("x4", 0x0102_0304_0506_0708) + [
                "ldr x2, [x1]", "ldp w5, w6, [x1]", "str x4, [x1]",
            ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(2), 0xDDEE_FF00_1122_3344)
        XCTAssertEqual(m.cpu.x(5), 0x1122_3344)
        XCTAssertEqual(m.cpu.x(6), 0xDDEE_FF00)
        XCTAssertEqual(m.read64(Self.dataPA + 0xFF8) >> 32, 0x0506_0708, "low half in the first page")
        XCTAssertEqual(m.read64(Self.dataPA + 0x3000) & 0xFFFF_FFFF, 0x0102_0304, "high half in the second")
    }

    // MARK: Faults

    func testTranslationFaultAtEveryLevel() throws {
        // T0SZ = 16: 48-bit VAs, walks start at level 0.
        for level in 0...3 {
            let (m, tables, root) = machine(t0sz: 16)
            let va: UInt64 = 0x0000_8123_4567_8000
            if level > 0 {
                // Make the walk reach `level` and find an invalid descriptor there.
                _ = tables.slot(root: root, va: va, level: level)
            }
            try run(m, Self.mov("x1", va + 0x10) + ["str x2, [x1]"])
            let store = UInt64(0x9600_0044) | UInt64(level)
            assertFault(m, esr: store, far: va + 0x10)
            let (n, tables2, root2) = machine(t0sz: 16)
            if level > 0 { _ = tables2.slot(root: root2, va: va, level: level) }
            try run(n, Self.mov("x1", va + 0x10) + ["ldr x2, [x1]"])
            assertFault(n, esr: 0x9600_0004 | UInt64(level), far: va + 0x10)
        }
    }

    func testAddressOutsideBothRangesIsALevel0TranslationFault() throws {
        let (m, _, _) = machine()
        let va: UInt64 = 0x0000_0100_0000_0000  // above 2^39 in the TTBR0 half
        try run(m, Self.mov("x1", va) + ["ldr x2, [x1]"])
        assertFault(m, esr: 0x9600_0004, far: va)
    }

    func testAccessFlagFaultAtEveryLeafLevel() throws {
        for level in 1...3 {
            let (m, tables, root) = machine()
            let va: UInt64 = level == 1 ? 0x8000_0000 : level == 2 ? 0x6020_0000 : 0x7000_0000
            tables.map(
                root: root, va: va, descriptor: Self.leaf(Self.base, af: false, page: level == 3), level: level)
            try run(m, Self.mov("x1", va + 8) + ["ldr x2, [x1]"])
            assertFault(m, esr: 0x9600_0008 | UInt64(level), far: va + 8)
        }
    }

    func testWriteToReadOnlyPageIsAPermissionFault() throws {
        let (m, tables, root) = machine()
        let va: UInt64 = 0x7000_0000
        tables.map(root: root, va: va, descriptor: Self.leaf(Self.dataPA, ap: 0b10))
        m.write64(Self.dataPA, 3)
        try run(m, Self.mov("x1", va) + ["ldr x2, [x1]", "str x2, [x1, #8]"])
        assertFault(m, esr: 0x9600_004F, far: va + 8)
        XCTAssertEqual(m.cpu.x(2), 3, "reading the read-only page works")
        XCTAssertEqual(m.read64(Self.dataPA + 8), 0, "the store did not happen")
    }

    func testPermissionFaultOnABlockReportsTheBlocksLevel() throws {
        let (m, tables, root) = machine()
        tables.map(root: root, va: 0x6020_0000, descriptor: Self.leaf(Self.base, ap: 0b10, page: false), level: 2)
        try run(m, Self.mov("x1", 0x6020_0010) + ["str x2, [x1]"])
        assertFault(m, esr: 0x9600_004E, far: 0x6020_0010)
    }

    func testInstructionCacheInvalidationDropsBlocksOnlyForCodePages() throws {
        let (m, _, _) = machine()
        try run(
            m,
            Self.mov("x1", Self.dataPA) + ["ic ivau, x1", "isb", "nop"] + Self.mov("x1", Self.base) + ["ic ivau, x1"])
        XCTAssertTrue(m.reachedEnd)
        // The data page holds no decoded code: nothing dropped; the code page: its blocks only.
        XCTAssertEqual(m.cpu.blocks.invalidations, 1, "only the machine's reset flushed everything")
        XCTAssertEqual(m.cpu.blocks.pageInvalidations, 1, "the IC IVAU of the code page dropped that page")
    }

    func testEL0CannotTouchEL1OnlyDataAndLDTRChecksEL0Permissions() throws {
        let (m, tables, root) = machine()
        let va: UInt64 = 0x7000_0000
        tables.map(root: root, va: va, descriptor: Self.leaf(Self.dataPA, ap: 0b00))
        // EL1: LDTR is checked with EL0 permissions (Arm ARM C6.2 LDTR).
        try run(m, Self.mov("x1", va) + ["ldr x2, [x1]", "ldtr x3, [x1]"])
        assertFault(m, esr: 0x9600_000F, far: va)
        // EL0: the same load is a lower-EL permission fault.
        let (n, tables2, root2) = machine()
        tables2.map(root: root2, va: va, descriptor: Self.leaf(Self.dataPA, ap: 0b00))
        n.cpu.state.pointee.exceptionLevel = 0
        n.cpu.state.pointee.spSel = 0
        try run(n, Self.mov("x1", va) + ["ldr x2, [x1]"])
        assertFault(n, esr: 0x9200_000F, far: va)
    }

    func testExecuteNeverControls() throws {
        let target: UInt64 = 0x7000_0000
        func check(
            _ descriptor: UInt64, el: UInt8, wxn: Bool = false, esr: UInt64, line: UInt = #line
        ) throws {
            let (m, tables, root) = machine()
            tables.map(root: root, va: target, descriptor: descriptor)
            m.load(try CrossAssembler.assemble(["hvc #0xffff"]), at: Self.dataPA)
            if wxn {
                // With WXN every writable page is execute-never: make the code read-only.
                m.cpu.state.pointee.sctlrEL1 |= 1 << 19
                for page in [Self.base, Self.vectors] {
                    tables.map(root: root, va: page, descriptor: Self.leaf(page, ap: 0b10))
                }
            }
            m.cpu.tlb.invalidateAll()
            if el == 0 {
                m.cpu.state.pointee.exceptionLevel = 0
                m.cpu.state.pointee.spSel = 0
            }
            try run(m, Self.mov("x1", target) + ["br x1"])
            assertFault(m, esr: esr, far: target, elr: target, line: line)
        }
        // PXN: EL1 may not execute.
        try check(Self.leaf(Self.dataPA, pxn: true), el: 1, esr: 0x8600_000F)
        // UXN: EL0 may not execute.
        try check(Self.leaf(Self.dataPA, ap: 0b01, uxn: true), el: 0, esr: 0x8200_000F)
        // Writable at EL0 (AP = 01) is never executable at EL1.
        try check(Self.leaf(Self.dataPA, ap: 0b01), el: 1, esr: 0x8600_000F)
        // SCTLR_EL1.WXN: writable means execute-never.
        try check(Self.leaf(Self.dataPA), el: 1, wxn: true, esr: 0x8600_000F)
        // Execute-only at EL0 is allowed (AP = 00, UXN = 0): no fault, the HVC runs.
        let (m, tables, root) = machine()
        tables.map(root: root, va: target, descriptor: Self.leaf(Self.dataPA, ap: 0b00))
        m.load(try CrossAssembler.assemble(["movz x7, #1", "svc #0"]), at: Self.dataPA)
        m.cpu.state.pointee.exceptionLevel = 0
        m.cpu.state.pointee.spSel = 0
        try run(m, Self.mov("x1", target) + ["br x1"])
        XCTAssertTrue(faulted(m))
        XCTAssertEqual(m.cpu.x(7), 1)
        XCTAssertEqual(m.cpu.state.pointee.esrEL1, 0x5600_0000, "SVC from EL0, not an abort")
    }

    func testAddressSizeFaults() throws {
        // IPS = 32 bits; a page whose output address is above 4 GB.
        let (m, tables, root) = machine()
        m.cpu.state.pointee.tcrEL1 &= ~(7 << 32)
        m.cpu.tlb.invalidateAll()
        let va: UInt64 = 0x7000_0000
        tables.map(root: root, va: va, descriptor: Self.leaf(0x1_0000_0000))
        try run(m, Self.mov("x1", va) + ["ldr x2, [x1]"])
        assertFault(m, esr: 0x9600_0003, far: va)
        // MMU off: an address beyond the 40-bit PARange.
        let n = TestMachine()
        n.load(Array(repeating: 0xD400_0002 | Self.faultStop << 5, count: 0x200), at: Self.vectors)
        n.cpu.state.pointee.vbarEL1 = Self.vectors
        try n.run(Self.mov("x1", 1 << 40) + ["ldr x2, [x1]"])
        assertFault(n, esr: 0x9600_0000, far: 1 << 40)
    }

    func testUnalignedAccessToDeviceMemoryIsAnAlignmentFault() throws {
        let (m, tables, root) = machine()
        let va: UInt64 = 0x7000_0000
        tables.map(root: root, va: va, descriptor: Self.leaf(Self.dataPA, attrIndex: 0))
        m.write64(Self.dataPA, 0x8877_6655_4433_2211)
        try run(m, Self.mov("x1", va) + ["ldr w2, [x1, #4]", "ldr w3, [x1, #1]"])
        assertFault(m, esr: 0x9600_0021, far: va + 1)
        XCTAssertEqual(m.cpu.x(2), 0x8877_6655, "aligned Device access works")

        // MMU off without HCR_EL2.DC: data is Device-nGnRnE.
        let n = TestMachine()
        n.cpu.setHypervisorConfiguration(n.cpu.state.pointee.hcrEL2 & ~HypervisorConfiguration.dc)
        n.load(Array(repeating: 0xD400_0002 | Self.faultStop << 5, count: 0x200), at: Self.vectors)
        n.cpu.state.pointee.vbarEL1 = Self.vectors
        try n.run(Self.mov("x1", Self.dataPA + 2) + ["ldr w2, [x1]"])
        assertFault(n, esr: 0x9600_0021, far: Self.dataPA + 2)
        // Also on the page the code runs from: its instruction fetches are Normal memory, its
        // data accesses still Device.
        try rerun(n, Self.mov("x1", Self.base + 2) + ["ldr w2, [x1]"])
        assertFault(n, esr: 0x9600_0021, far: Self.base + 2)
    }

    func testSCTLRAlignmentCheckOnNormalMemory() throws {
        let (m, _, _) = machine()
        m.cpu.state.pointee.sctlrEL1 |= 2  // A
        try run(m, Self.mov("x1", Self.dataPA + 2) + ["ldrh w2, [x1]", "ldr w3, [x1]"])
        assertFault(m, esr: 0x9600_0021, far: Self.dataPA + 2)
    }

    // MARK: TLB maintenance and ASIDs

    func testASIDSwitchWithoutTLBIAndTLBIByVAAndASID() throws {
        let (m, tables, rootA) = machine()
        let rootB = tables.allocate()
        // Copy the identity map into B's root (same level-1 entry), then give each ASID its own
        // non-global page at `va`.
        for i in 0..<512 {
            m.write64(rootB + UInt64(i * 8), m.read64(rootA + UInt64(i * 8)))
        }
        // Outside the first GB, so the two roots do not share lower-level tables, and in a TLB
        // slot the program's code and vectors do not use.
        let va: UInt64 = 0x1_0000_5000
        let pageA = Self.dataPA
        let pageB = Self.dataPA + 0x1000
        let pageC = Self.dataPA + 0x2000
        tables.map(root: rootA, va: va, descriptor: Self.leaf(pageA, nG: true))
        tables.map(root: rootB, va: va, descriptor: Self.leaf(pageB, nG: true))
        m.write64(pageA, 0xA)
        m.write64(pageB, 0xB)
        m.write64(pageC, 0xC)
        let ttbrA = rootA | 1 << 48
        let ttbrB = rootB | 2 << 48
        m.cpu.state.pointee.ttbr0EL1 = ttbrA
        m.cpu.state.pointee.tcrEL1 |= 1 << 36  // 16-bit ASIDs
        m.cpu.updateTranslationContext()
        let flushes = m.cpu.tlb.flushes
        try run(
            m,
            Self.mov("x1", va) + Self.mov("x10", ttbrA) + Self.mov("x11", ttbrB) + [
                "ldr x2, [x1]", "msr ttbr0_el1, x11", "isb", "ldr x3, [x1]", "msr ttbr0_el1, x10", "isb",
                "ldr x4, [x1]",
            ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual([m.cpu.x(2), m.cpu.x(3), m.cpu.x(4)], [0xA, 0xB, 0xA])
        XCTAssertEqual(m.cpu.tlb.flushes, flushes, "switching ASIDs flushes nothing")
        let missesAfterSwitching = m.cpu.tlb.misses

        // Remap ASID 1's page to C without TLB maintenance: the TLB may (and here does) keep
        // the old translation; TLBI VAE1 for ASID 2 does not touch ASID 1's entry; TLBI VAE1
        // for ASID 1 does.
        let slot = tables.slot(root: rootA, va: va, level: 3)
        m.write64(slot, Self.leaf(pageC, nG: true))
        let operandA = va >> 12 | 1 << 48
        let operandB = va >> 12 | 2 << 48
        try rerun(
            m,
            Self.mov("x1", va) + Self.mov("x12", operandA) + Self.mov("x13", operandB) + [
                "ldr x2, [x1]", "tlbi vae1, x13", "dsb sy", "isb", "ldr x3, [x1]", "tlbi vae1, x12", "dsb sy", "isb",
                "ldr x4, [x1]",
            ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual([m.cpu.x(2), m.cpu.x(3), m.cpu.x(4)], [0xA, 0xA, 0xC])
        XCTAssertGreaterThan(m.cpu.tlb.misses, missesAfterSwitching)

        // TLBI ASIDE1 and VAAE1.
        m.write64(slot, Self.leaf(pageB, nG: true))
        try rerun(
            m,
            Self.mov("x1", va) + ["ldr x2, [x1]", "movz x5, #1, lsl #48", "tlbi aside1, x5", "dsb sy", "isb"]
                + ["ldr x3, [x1]"])
        XCTAssertEqual([m.cpu.x(2), m.cpu.x(3)], [0xC, 0xB])
        m.write64(slot, Self.leaf(pageA, nG: true))
        try rerun(m, Self.mov("x1", va) + ["lsr x6, x1, #12", "tlbi vaae1, x6", "dsb sy", "isb", "ldr x3, [x1]"])
        XCTAssertEqual(m.cpu.x(3), 0xA)
    }

    func testTLBIByVADropsEveryFragmentOfABlock() throws {
        let (m, tables, root) = machine()
        tables.map(root: root, va: 0x6020_0000, descriptor: Self.leaf(Self.base, page: false), level: 2)
        m.write64(Self.dataPA, 1)
        m.write64(Self.dataPA + 0x1000, 2)
        try run(
            m, Self.mov("x1", 0x6020_0000 + 0x4_0000) + ["ldr x2, [x1]", "ldr x3, [x1, #0x1000]"])
        XCTAssertEqual([m.cpu.x(2), m.cpu.x(3)], [1, 2])
        // Unmap the block; TLBI by the block's first page must drop the fragment at +0x41000 too.
        m.write64(tables.slot(root: root, va: 0x6020_0000, level: 2), 0)
        try rerun(
            m,
            Self.mov("x1", 0x6020_0000 + 0x4_1000) + Self.mov("x5", 0x6020_0000 >> 12) + [
                "tlbi vaae1, x5", "dsb sy", "isb", "ldr x2, [x1]",
            ])
        assertFault(m, esr: 0x9600_0006, far: 0x6020_0000 + 0x4_1000)
    }

    // MARK: AT and PAR_EL1

    func testAddressTranslationInstructions() throws {
        let (m, tables, root) = machine()
        let va: UInt64 = 0x7000_0000
        tables.map(root: root, va: va, descriptor: Self.leaf(Self.dataPA, ap: 0b10))  // EL1 read-only
        try run(
            m,
            Self.mov("x1", va + 0x123) + [
                "at s1e1r, x1", "isb", "mrs x2, par_el1", "at s1e1w, x1", "isb", "mrs x3, par_el1", "at s1e0r, x1",
                "isb", "mrs x4, par_el1",
            ] + Self.mov("x5", 0x55_0000_0000) + ["at s1e1r, x5", "isb", "mrs x6, par_el1"])
        XCTAssertTrue(m.reachedEnd)
        // Success: ATTR = 0xFF (Normal WB), PA, SH = inner (0b11), bit 11 RES1.
        XCTAssertEqual(String(m.cpu.x(2), radix: 16), String(0xFF00_0000_0000_0000 | Self.dataPA | 0x980, radix: 16))
        // Faults: F = 1, FST = permission level 3 (0x0F) / translation level 1 (0x05), bit 11.
        XCTAssertEqual(m.cpu.x(3), 0x800 | 0x0F << 1 | 1)
        XCTAssertEqual(m.cpu.x(4), 0x800 | 0x0F << 1 | 1, "EL0 has no access to an AP = 10 page")
        XCTAssertEqual(m.cpu.x(6), 0x800 | 0x05 << 1 | 1)
    }

    // MARK: Code

    func testSelfModifyingCodeThroughAWritableAlias() throws {
        let (m, tables, root) = machine()
        let exec: UInt64 = 0x7000_0000
        let write: UInt64 = 0x7100_0000
        tables.map(root: root, va: exec, descriptor: Self.leaf(Self.dataPA, ap: 0b10))  // read-only, executable
        tables.map(root: root, va: write, descriptor: Self.leaf(Self.dataPA, pxn: true, uxn: true))
        let function = try CrossAssembler.assemble(["movz x0, #1", "ret"])
        m.load(function, at: Self.dataPA)
        let replacement = try CrossAssembler.assemble(["movz x0, #2"])[0]
        try run(
            m,
            Self.mov("x1", exec) + Self.mov("x2", write) + Self.mov("x3", UInt64(replacement)) + [
                "blr x1", "mov x9, x0", "str w3, [x2]", "dc cvau, x2", "dsb ish", "ic ivau, x1", "dsb ish", "isb",
                "blr x1", "mov x10, x0",
            ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(9), 1)
        XCTAssertEqual(m.cpu.x(10), 2)
    }

    func testBlockLinksDoNotOutliveAFlushOfEveryBlock() throws {
        // A `bl` linked to its subroutine (`BlockCache.Link`); then the page is mapped to other
        // memory, whose subroutine differs, and every decoded block is dropped (IC IALLU). The
        // caller is decoded again into the same arena slot as before, where its old link still
        // lies: the flush must have retired it, or the call would run the old subroutine.
        let (m, tables, root) = machine()
        let code: UInt64 = 0x7000_0000
        let first = Self.dataPA
        let second = Self.dataPA + 0x1000
        let caller = try CrossAssembler.assemble(["bl .+0x100", "hvc #0xffff"])
        m.load(caller, at: first)
        m.load(try CrossAssembler.assemble(["movz x9, #1", "ret"]), at: first + 0x100)
        m.load(caller, at: second)
        m.load(try CrossAssembler.assemble(["movz x9, #2", "ret"]), at: second + 0x100)
        tables.map(root: root, va: code, descriptor: Self.leaf(first))
        m.cpu.pc = code
        m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(9), 1)

        tables.map(root: root, va: code, descriptor: Self.leaf(second))
        m.cpu.tlb.invalidateAll()
        m.cpu.invalidateDecodedCode()
        m.cpu.pc = code
        m.runLoaded()
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(9), 2, "the subroutine now mapped ran")
    }

    func testStoreToCodeIsSeenWithoutCacheMaintenanceWithinTheSamePage() throws {
        // The decoded-block cache is coherent with stores even without IC IVAU (what QEMU does),
        // because pages holding decoded code lose their TLB write permission.
        let (m, _, _) = machine()
        let replacement = try CrossAssembler.assemble(["movz x0, #7"])[0]
        try run(
            m,
            Self.mov("x3", UInt64(replacement)) + [
                "adr x1, 1f", "movz x5, #2", "2: subs x5, x5, #1", "b.eq 3f", "str w3, [x1]", "1: movz x0, #5",
                "b 2b", "3: nop",
            ])
        XCTAssertTrue(m.reachedEnd)
        XCTAssertEqual(m.cpu.x(0), 7, "the instruction the store wrote is the one that ran")
    }
}
