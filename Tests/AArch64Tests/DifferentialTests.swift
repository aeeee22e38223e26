import AArch64
import Foundation
import TestSupport
import XCTest

/// Differential testing of the core against QEMU user mode (`qemu-aarch64 -cpu cortex-a57`):
/// random sequences of 1–8 instructions per class, from random register, flag, SIMD&FP and
/// memory state, must leave X0–X30, NZCV, Q0–Q31, FPCR, FPSR and the memory window identical
/// on both, and fault (UNDEF or abort) at the same instruction. See DifferentialGenerator.swift for what is generated and
/// DifferentialHarness.swift for how each side runs.
///
/// Each class has a fixed seed. `testFuzz` is for `scripts/fuzz-diff`: it does nothing unless
/// ARMVISOR_DIFF_COUNT (or ARMVISOR_DIFF_CASE) is set; see that script for the variables.
final class DifferentialTests: XCTestCase {
    static let casesPerClass = 1000

    func testDataProcessingImmediate() throws { try check(.dataProcessingImmediate, seed: 0xD1FF_0001) }
    func testDataProcessingRegister() throws { try check(.dataProcessingRegister, seed: 0xD1FF_0002) }
    func testBitfield() throws { try check(.bitfield, seed: 0xD1FF_0003) }
    func testConditional() throws { try check(.conditional, seed: 0xD1FF_0004) }
    func testMultiplyDivide() throws { try check(.multiplyDivide, seed: 0xD1FF_0005) }
    func testOneSource() throws { try check(.oneSource, seed: 0xD1FF_0006) }
    func testCRC32() throws { try check(.crc32, seed: 0xD1FF_0007) }
    func testLoadStore() throws { try check(.loadStore, seed: 0xD1FF_0008) }
    func testExclusive() throws { try check(.exclusive, seed: 0xD1FF_0009) }
    func testBranchCondition() throws { try check(.branchCondition, seed: 0xD1FF_000A) }
    func testMixed() throws { try check(.mixed, seed: 0xD1FF_000B) }
    func testVectorLoadStore() throws { try check(.vectorLoadStore, seed: 0xD1FF_000C) }
    func testVectorStructure() throws { try check(.vectorStructure, seed: 0xD1FF_000D) }
    func testSIMDData() throws { try check(.simdData, seed: 0xD1FF_000E) }
    func testSIMDInteger() throws { try check(.simdInteger, seed: 0xD1FF_000F) }
    func testFloatArithmetic() throws { try check(.floatArithmetic, seed: 0xD1FF_0010) }
    func testFloatCompare() throws { try check(.floatCompare, seed: 0xD1FF_0011) }
    func testFloatConvert() throws { try check(.floatConvert, seed: 0xD1FF_0012) }
    func testSIMDFloat() throws { try check(.simdFloat, seed: 0xD1FF_0013) }
    func testSIMDScalar() throws { try check(.simdScalar, seed: 0xD1FF_0014) }

    /// The harness itself: a known sequence gives the known result on both sides.
    func testHarnessAgreesOnAKnownSequence() throws {
        let layout = DiffLayout()
        var x = (0..<31).map { UInt64($0) }
        x[28] = layout.windowBase + 8
        let window = (0..<layout.windowSize).map { UInt8(truncatingIfNeeded: $0) }
        let words = try CrossAssembler.encode(["add x0, x1, x2", "subs x3, x3, #3", "ldr x4, [x28]", "adr x5, ."])
        let c = DiffCase(
            diffClass: .mixed, seed: 0, index: 0, address: layout.sequenceAddress(3), words: words,
            state: DiffState(x: x, nzcv: 0x9000_0000, window: window))
        let qemu = try QEMUDiffRunner.run([c], layout: layout)[0]
        let core = try ArmvisorDiffRunner(layout: layout).run(c)
        XCTAssertEqual(qemu.end, .completed)
        XCTAssertEqual(qemu.state.x[0], 3)
        XCTAssertEqual(qemu.state.x[3], 0)
        XCTAssertEqual(qemu.state.nzcv, 0x6000_0000, "Z and C after 3 - 3")
        XCTAssertEqual(qemu.state.x[4], 0x0F0E_0D0C_0B0A_0908)
        XCTAssertEqual(qemu.state.x[5], c.address + 12)
        XCTAssertEqual(DiffComparison.differences(qemu: qemu, armvisor: core), [])

        // A fault ends the case at the faulting instruction on both sides.
        let undefined = DiffCase(
            diffClass: .mixed, seed: 0, index: 1, address: layout.sequenceAddress(4),
            words: try CrossAssembler.encode(["movz x0, #7", "udf #1", "movz x1, #9"]),
            state: DiffState(x: x, nzcv: 0, window: window))
        let q2 = try QEMUDiffRunner.run([undefined], layout: layout)[0]
        XCTAssertEqual(q2.end, .undefined(pc: undefined.address + 4))
        XCTAssertEqual(q2.state.x[0], 7)
        XCTAssertEqual(q2.state.x[1], 1)
        XCTAssertEqual(
            DiffComparison.differences(qemu: q2, armvisor: try ArmvisorDiffRunner(layout: layout).run(undefined)), [])

        // A load-exclusive/store-exclusive pair succeeds (status 0) and stores; a lone one fails.
        let exclusive = DiffCase(
            diffClass: .exclusive, seed: 0, index: 2, address: layout.sequenceAddress(5),
            words: try CrossAssembler.encode([
                "ldxr x1, [x28]", "add x1, x1, #1", "stxr w2, x1, [x28]", "stxr w3, x1, [x28]",
            ]),
            state: DiffState(x: x, nzcv: 0, window: window))
        let q3 = try QEMUDiffRunner.run([exclusive], layout: layout)[0]
        XCTAssertEqual(q3.end, .completed)
        XCTAssertEqual(q3.state.x[2], 0, "paired store-exclusive succeeds")
        XCTAssertEqual(q3.state.x[3], 1, "store-exclusive with the monitor open fails")
        XCTAssertEqual(q3.state.window[8], 0x09)
        XCTAssertEqual(
            DiffComparison.differences(qemu: q3, armvisor: try ArmvisorDiffRunner(layout: layout).run(exclusive)), [])
    }

    /// The harness's FP/SIMD state path on the QEMU side: Q registers and FPSR in and out, also
    /// through a fault.
    func testHarnessCarriesVectorState() throws {
        var layout = DiffLayout()
        layout.vector = true
        var q = (0..<64).map { UInt64($0) &* 0x0101_0101_0101_0101 }
        q[2] = 0x3FF0_0000_0000_0000  // d1 = 1.0
        q[4] = 0x4000_0000_0000_0000  // d2 = 2.0
        let vector = DiffVectorState(q: q, fpcr: 0, fpsr: 0)
        let state = DiffState(
            x: Array(repeating: 0, count: 31), nzcv: 0, window: Array(repeating: 0, count: layout.windowSize),
            vector: vector)
        let words = try CrossAssembler.encode(["fadd d0, d1, d2", "fmov x3, d0", "udf #0"])
        let c = DiffCase(
            diffClass: .mixed, seed: 0, index: 0, address: layout.sequenceAddress(0), words: words, state: state)
        let out = try QEMUDiffRunner.run([c], layout: layout)[0]
        XCTAssertEqual(out.end, .undefined(pc: c.address + 8))
        XCTAssertEqual(out.state.x[3], 0x4008_0000_0000_0000, "1.0 + 2.0")
        XCTAssertEqual(out.state.vector?.q[0], 0x4008_0000_0000_0000, "d0 from the signal frame")
        XCTAssertEqual(out.state.vector?.q[1], 0, "fadd d0 clears the upper half")
        XCTAssertEqual(out.state.vector?.q[62], q[62], "q31 untouched")
    }

    func testFuzz() throws {
        let env = ProcessInfo.processInfo.environment
        if env["ARMVISOR_DIFF_LIST"] != nil {
            print(Self.classListing(DiffGenerator(layout: DiffLayout())))
            return
        }
        guard env["ARMVISOR_DIFF_COUNT"] != nil || env["ARMVISOR_DIFF_CASE"] != nil else { return }
        let seed = env["ARMVISOR_DIFF_SEED"].flatMap(Self.parseNumber) ?? UInt64(Date().timeIntervalSince1970 * 1000)
        let classSpec = env["ARMVISOR_DIFF_CLASS"] ?? "all"
        var classes: [DiffClass] = []
        for name in classSpec.split(separator: ",") {
            guard let named = DiffClass.named(String(name)) else {
                XCTFail(
                    "unknown class \(name); classes: all, \(DiffClass.allCases.map(\.rawValue).joined(separator: ", "))"
                )
                return
            }
            classes += named
        }
        let opcodes = env["ARMVISOR_DIFF_OPCODES"].map { Set($0.split(separator: ",").map(String.init)) }
        var excluded: [(mask: UInt32, value: UInt32)] = []
        for pattern in (env["ARMVISOR_DIFF_EXCLUDE"] ?? "").split(separator: ",") {
            let parts = pattern.split(separator: ":").compactMap {
                Self.parseNumber(String($0)).map(UInt32.init(truncatingIfNeeded:))
            }
            guard parts.count == 2 else {
                XCTFail("ARMVISOR_DIFF_EXCLUDE: \(pattern) is not MASK:VALUE")
                return
            }
            excluded.append((parts[0], parts[1]))
        }
        let generator = DiffGenerator(layout: DiffLayout(), opcodes: opcodes, excluded: excluded)
        if classes.count > 1 { classes = classes.filter { !generator.availableGroups($0).isEmpty } }
        guard !classes.isEmpty else {
            XCTFail("no EncodingTable rows for \(classSpec)")
            return
        }
        let indices: [Int]
        if let list = env["ARMVISOR_DIFF_CASE"] {
            indices = list.split(separator: ",").compactMap { Int($0) }
        } else {
            indices = Array(0..<(Int(env["ARMVISOR_DIFF_COUNT"]!) ?? 0))
        }
        if let show = env["ARMVISOR_DIFF_SHOW"].flatMap({ Int($0) }) {
            let layout = DiffLayout()
            for i in indices.prefix(show) {
                let c = generator.makeCase(classes[i % classes.count], seed: seed, index: i, slot: i % layout.batchSize)
                print("case \(i) (\(c.diffClass.rawValue)):")
                for line in DiffComparison.disassemble(c.words, at: c.address) { print("  " + line) }
            }
        }
        let summary = try DiffDriver.run(classes: classes, seed: seed, indices: indices, generator: generator)
        let reports = env["ARMVISOR_DIFF_REPORTS"].flatMap { Int($0) } ?? 10
        finish(summary, title: "fuzz-diff (classes \(classSpec))", seed: seed, reports: reports)
        print("fuzz-diff: \(summary.sequences) sequences, \(summary.mismatches.count) mismatches, seed \(seed)")
        fflush(nil)
    }

    // MARK: Helpers

    private func check(_ diffClass: DiffClass, seed: UInt64, count: Int = casesPerClass) throws {
        let generator = DiffGenerator(layout: DiffLayout())
        guard !generator.availableGroups(diffClass).isEmpty else {
            throw XCTSkip("no EncodingTable rows in the \(diffClass.rawValue) groups yet")
        }
        let summary = try DiffDriver.run(classes: [diffClass], seed: seed, indices: Array(0..<count))
        finish(summary, title: diffClass.rawValue, seed: seed, reports: 5)
    }

    /// Prints the summary and fails with detailed reports of the first mismatches.
    private func finish(_ summary: DiffRunSummary, title: String, seed: UInt64, reports: Int) {
        let opcodeCount = summary.opcodes.filter { $0.key != "undefined" }.count
        print(
            "difftest \(title): \(summary.sequences) sequences, \(summary.instructions) instructions, "
                + "\(opcodeCount) opcodes, qemu: \(summary.endsDescription); "
                + "\(summary.mismatches.count) mismatches, seed \(seed), "
                + String(format: "%.1f s", summary.seconds))
        fflush(nil)
        guard !summary.mismatches.isEmpty else { return }
        let shown = Array(summary.mismatches.prefix(reports))
        // Localize up to 200 mismatches: one line each, the first diverging instruction.
        let limit = ProcessInfo.processInfo.environment["ARMVISOR_DIFF_LOCALIZE"].flatMap { Int($0) } ?? 200
        let listed = Array(summary.mismatches.prefix(limit))
        let localized = (try? DiffDriver.localize(listed)) ?? [:]
        var text = "\(summary.mismatches.count) of \(summary.sequences) sequences differ from QEMU (seed \(seed))\n"
        text += Self.suspects(summary) + "\n"
        for m in shown {
            text += DiffComparison.report(m, localization: localized[m.testCase.index], layout: DiffLayout()) + "\n"
        }
        text += "first diverging instruction of each mismatch (class/case: instruction; first difference):\n"
        for m in listed {
            let c = m.testCase
            guard let l = localized[c.index] else {
                text += "  \(c.diffClass.rawValue)/\(c.index): not localized; \(m.differences.first ?? "")\n"
                continue
            }
            let culprit = DiffComparison.disassemble(Array(c.words[l.good..<l.bad]), at: c.address + UInt64(4 * l.good))
                .map { $0.split(separator: " ").dropFirst().joined(separator: " ") }
            text +=
                "  \(c.diffClass.rawValue)/\(c.index): \(culprit.joined(separator: " ; ")); \(l.differences.first ?? "")\n"
        }
        if summary.mismatches.count > listed.count {
            text += "  ... and \(summary.mismatches.count - listed.count) more\n"
        }
        XCTFail(text)
    }

    /// Opcodes ranked by how much more often they appear in mismatching sequences than overall.
    static func suspects(_ summary: DiffRunSummary) -> String {
        var inMismatches: [String: Int] = [:]
        for m in summary.mismatches {
            for name in Set(m.testCase.words.map { String(describing: Decoder.shared.decode($0).op) }) {
                inMismatches[name, default: 0] += 1
            }
        }
        let ranked = inMismatches.map { name, count in
            (name, count, Double(count) / Double(max(summary.opcodes[name] ?? 1, 1)))
        }.sorted { $0.2 > $1.2 }
        return "opcodes in mismatching sequences (sequences / all occurrences): "
            + ranked.prefix(12).map { "\($0.0) \($0.1)/\(summary.opcodes[$0.0] ?? 0)" }.joined(separator: ", ")
    }

    /// Per class: its groups and the EncodingTable rows (name, Opcode) each draws from today.
    static func classListing(_ generator: DiffGenerator) -> String {
        var lines: [String] = []
        for diffClass in DiffClass.allCases {
            lines.append("\(diffClass.rawValue):")
            var seen = Set<String>()
            for group in diffClass.groups where seen.insert(group.rawValue).inserted {
                let rows = (generator.rows[group] ?? []).map { "\($0.name) [\($0.op)]" }
                lines.append("  \(group.rawValue): " + (rows.isEmpty ? "(no rows yet)" : rows.joined(separator: ", ")))
            }
            let fillers = diffClass.fillers
            if !fillers.groups.isEmpty {
                lines.append(
                    "  fillers (\(Int(fillers.ratio * 100))%): "
                        + fillers.groups.map(\.rawValue).joined(separator: ", "))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func parseNumber(_ text: String) -> UInt64? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        return t.hasPrefix("0x") ? UInt64(t.dropFirst(2), radix: 16) : UInt64(t)
    }
}
