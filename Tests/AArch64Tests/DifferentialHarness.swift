import AArch64
import Foundation
import TestSupport

// The two executors of the differential test — QEMU user mode running the harness program
// (Tests/Guests/difftest/harness.c) and armvisor's core — plus comparison, reports and the
// batch driver. Nothing here knows about instruction classes beyond `DiffCase`. With
// `DiffLayout.vector` (the default) both sides load and compare Q0–Q31, FPCR and FPSR too.

/// Addresses shared by both sides. The window and the code slots sit in RAM at 0x4000_0000 on
/// the armvisor side and in fixed mappings in the QEMU process, at the same addresses, so
/// PC-relative results (ADR, ADRP, literal loads, BL) agree.
struct DiffLayout: Sendable {
    var codeBase: UInt64 = 0x4020_0000
    /// Longest sequence.
    var maxWords = 8
    var windowBase: UInt64 = 0x4018_0000
    var windowSize = 512
    /// Whether cases carry FP/SIMD state (Q0–Q31, FPCR, FPSR). Cases of the integer classes
    /// start with all of it zero.
    var vector = true
    /// Cases per QEMU run; case i always runs in slot i % batchSize.
    var batchSize = 1000

    /// Prefix word + sequence + 3 suffix words. Not a divisor of 4096, so some sequences
    /// straddle a page boundary (where the core's decoded blocks end).
    var slotSize: UInt64 { UInt64(4 * (maxWords + 4)) }

    func sequenceAddress(_ slot: Int) -> UInt64 { codeBase + UInt64(slot) * slotSize + 4 }
}

struct DiffVectorState: Equatable, Sendable {
    /// Q0–Q31 as (low, high) 64-bit halves: q[2n] is the low half of Qn.
    var q: [UInt64]
    var fpcr: UInt64
    var fpsr: UInt64

    static let zero = DiffVectorState(q: Array(repeating: 0, count: 64), fpcr: 0, fpsr: 0)
}

/// Architectural state compared by the test.
struct DiffState: Equatable, Sendable {
    /// X0–X30.
    var x: [UInt64]
    /// NZCV in bits 31:28.
    var nzcv: UInt64
    /// The memory window.
    var window: [UInt8]
    var vector: DiffVectorState? = nil
}

/// One test: a sequence at a fixed address and the state it starts from.
struct DiffCase: Sendable {
    let diffClass: DiffClass
    let seed: UInt64
    let index: Int
    /// Where the first instruction sits (the same on both sides).
    let address: UInt64
    let words: [UInt32]
    let state: DiffState

    /// The same case cut to its first `count` instructions.
    func prefix(_ count: Int) -> DiffCase {
        DiffCase(
            diffClass: diffClass, seed: seed, index: index, address: address, words: Array(words.prefix(count)),
            state: state)
    }
}

/// How a sequence ended.
enum DiffEnd: Equatable, Sendable, CustomStringConvertible {
    case completed
    /// UNDEFINED instruction (armvisor: EC 0 at EL1; QEMU: SIGILL).
    case undefined(pc: UInt64)
    /// Abort (armvisor: data/instruction/alignment abort; QEMU: SIGSEGV/SIGBUS).
    case memoryFault(pc: UInt64)
    case other(String, pc: UInt64)

    var description: String {
        switch self {
        case .completed: "completed"
        case .undefined(let pc): "UNDEFINED at \(diffHex(pc))"
        case .memoryFault(let pc): "memory fault at \(diffHex(pc))"
        case .other(let what, let pc): "\(what) at \(diffHex(pc))"
        }
    }
}

struct DiffOutcome: Sendable {
    var end: DiffEnd
    var state: DiffState
    /// Raw evidence: the signal and fault address, or the syndrome registers.
    var detail: String
}

func diffHex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
/// A Q register as 32 hex digits, high half first.
func diffHex32Pair(_ high: UInt64, _ low: UInt64) -> String {
    func digits(_ v: UInt64) -> String {
        let d = String(v, radix: 16)
        return String(repeating: "0", count: 16 - d.count) + d
    }
    return "0x" + digits(high) + "_" + digits(low)
}

func diffHex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
}

// MARK: - QEMU side

enum QEMUDiffRunner {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let source = TestPaths.packageRoot.appendingPathComponent("Tests/Guests/difftest/harness.c")
    static let binary = TestPaths.packageRoot.appendingPathComponent(".build/difftest/harness")
    /// A v8.0 CPU model (the core's MIDR is a Cortex-A57): "max" would accept later extensions.
    static let cpuModel = ProcessInfo.processInfo.environment["ARMVISOR_DIFF_QEMU_CPU"] ?? "cortex-a57"
    static let qemu = ProcessInfo.processInfo.environment["ARMVISOR_QEMU"] ?? "qemu-aarch64"
    static let magic: UInt64 = 0x3146_4944_5652_4D41  // "ARMVDIF1"

    private static let built: Result<String, any Error> = Result { try build() }

    /// The harness executable, built once per test process (and only when harness.c changed).
    static func harness() throws -> String { try built.get() }

    private static func modified(_ url: URL) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
    }

    private static func build() throws -> String {
        if let built = modified(binary), let written = modified(source), built >= written { return binary.path }
        try FileManager.default.createDirectory(
            at: binary.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = binary.path + ".\(getpid()).tmp"
        let result = try ProcessRunner.run(
            "/usr/bin/env", ["aarch64-linux-gnu-gcc", "-static", "-O1", "-Wall", "-o", temporary, source.path],
            timeout: 120)
        guard result.status == 0 else {
            throw Failure(
                description: "building the difftest harness failed (run scripts/bootstrap?): \(result.stderr)")
        }
        guard rename(temporary, binary.path) == 0 else { throw Failure(description: "cannot install \(binary.path)") }
        return binary.path
    }

    static func inputRecordSize(_ layout: DiffLayout) -> Int {
        8 + pad8(4 * layout.maxWords) + 256 + (layout.vector ? 528 : 0) + pad8(layout.windowSize)
    }

    static func outputRecordSize(_ layout: DiffLayout) -> Int {
        24 + 256 + (layout.vector ? 528 : 0) + pad8(layout.windowSize)
    }

    private static func pad8(_ n: Int) -> Int { (n + 7) & ~7 }

    /// Runs `cases` (distinct slots) in one QEMU process.
    static func run(_ cases: [DiffCase], layout: DiffLayout) throws -> [DiffOutcome] {
        let executable = try harness()
        var input = DiffByteWriter()
        for value in [
            magic, UInt64(cases.count), layout.vector ? 1 : 0, layout.codeBase, layout.slotSize,
            UInt64(layout.maxWords), layout.windowBase, UInt64(layout.windowSize), 0,
        ] {
            input.u64(value)
        }
        for c in cases {
            precondition(c.words.count <= layout.maxWords)
            input.u32(UInt32(c.words.count))
            input.u32(UInt32((c.address - 4 - layout.codeBase) / layout.slotSize))
            for i in 0..<layout.maxWords { input.u32(i < c.words.count ? c.words[i] : 0) }
            input.pad8()
            for r in 0..<31 { input.u64(c.state.x[r]) }
            input.u64(c.state.nzcv)
            if layout.vector {
                let v = c.state.vector ?? DiffVectorState.zero
                for half in v.q { input.u64(half) }
                input.u64(v.fpcr)
                input.u64(v.fpsr)
            }
            input.bytes.append(contentsOf: c.state.window)
            input.pad8()
        }
        precondition(input.bytes.count == 72 + cases.count * inputRecordSize(layout))

        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let inputURL = directory.appendingPathComponent("in.bin")
        let outputURL = directory.appendingPathComponent("out.bin")
        try Data(input.bytes).write(to: inputURL)
        let result = try ProcessRunner.run(
            "/usr/bin/env", [qemu, "-cpu", cpuModel, executable, inputURL.path, outputURL.path], timeout: 300)
        guard result.status == 0 else {
            throw Failure(description: "\(qemu) \(executable) exited with \(result.status): \(result.stderr)")
        }
        let output = [UInt8](try Data(contentsOf: outputURL))
        let size = outputRecordSize(layout)
        guard output.count == cases.count * size else {
            throw Failure(description: "harness wrote \(output.count) bytes for \(cases.count) cases")
        }
        return (0..<cases.count).map { i in parse(output, at: i * size, layout: layout) }
    }

    private static func parse(_ data: [UInt8], at start: Int, layout: DiffLayout) -> DiffOutcome {
        var reader = DiffByteReader(bytes: data, offset: start)
        let signal = reader.u64()
        let pc = reader.u64()
        let faultAddress = reader.u64()
        let x = (0..<31).map { _ in reader.u64() }
        let nzcv = reader.u64()
        var vector: DiffVectorState?
        if layout.vector {
            let q = (0..<64).map { _ in reader.u64() }
            vector = DiffVectorState(q: q, fpcr: reader.u64(), fpsr: reader.u64())
        }
        let window = Array(data[reader.offset..<reader.offset + layout.windowSize])
        let end: DiffEnd
        let detail: String
        switch Int32(signal) {
        case 0:
            end = .completed
            detail = "exit"
        case SIGILL:
            end = .undefined(pc: pc)
            detail = "SIGILL"
        case SIGSEGV, SIGBUS:
            end = .memoryFault(pc: pc)
            detail = "\(signal == UInt64(SIGSEGV) ? "SIGSEGV" : "SIGBUS"), si_addr \(diffHex(faultAddress))"
        default:
            end = .other("signal \(signal)", pc: pc)
            detail = "signal \(signal), si_addr \(diffHex(faultAddress))"
        }
        return DiffOutcome(end: end, state: DiffState(x: x, nzcv: nzcv, window: window, vector: vector), detail: detail)
    }
}

struct DiffByteWriter {
    var bytes: [UInt8] = []
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(8 * i))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(8 * i))) } }
    mutating func pad8() { while bytes.count % 8 != 0 { bytes.append(0) } }
}

struct DiffByteReader {
    let bytes: [UInt8]
    var offset: Int
    mutating func u64() -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
        offset += 8
        return v
    }
}

// MARK: - armvisor side

/// A bare core running cases at EL0, the way QEMU user mode runs the harness: 64 MiB of RAM at
/// 0x4000_0000, the window and code slots at the layout's addresses, and VBAR_EL1 pointing at
/// `hvc #0xfffe` stubs. A case is `clrex` (the harness's trampoline clears the monitor too),
/// the sequence, `svc #0xffff`: reaching the SVC is completion, any other exception to EL1 (or
/// an abort straight to EL2) ends the case as a fault.
final class ArmvisorDiffRunner {
    static let ramBase: UInt64 = 0x4000_0000
    static let ramSize: UInt64 = 64 << 20
    static let vectorBase: UInt64 = ramBase + 0x1_0000
    static let budget: UInt64 = 10_000

    struct Stubs: Sendable {
        let svcEnd: UInt32
        let hvcVector: UInt32
        let clrex: UInt32
    }

    /// The fixed words, from the cross assembler (tests never take encodings from our decoder).
    private static let assembled: Result<Stubs, any Error> = Result {
        let words = try CrossAssembler.encode(["svc #0xffff", "hvc #0xfffe", "clrex"])
        return Stubs(svcEnd: words[0], hvcVector: words[1], clrex: words[2])
    }

    let layout: DiffLayout
    let stubs: Stubs
    let memory: UnsafeMutableRawPointer
    let codeMap: CodeMap
    let cpu: CPU

    init(layout: DiffLayout) throws {
        self.layout = layout
        stubs = try Self.assembled.get()
        // calloc: the 64 MiB is committed only where cases touch it.
        memory = calloc(1, Int(Self.ramSize))!
        // Reserving a few MiB of address space cannot fail on a test host.
        codeMap = try! CodeMap(ramSize: Self.ramSize)
        cpu = CPU(memory: PhysicalMemory(base: Self.ramBase, size: Self.ramSize, host: memory, codeMap: codeMap))
        // QEMU user mode runs the harness with Normal memory: HCR_EL2.DC makes the MMU-off
        // core's data accesses Normal too, so unaligned accesses behave alike.
        cpu.setHypervisorConfiguration(cpu.state.pointee.hcrEL2 | HypervisorConfiguration.dc)
    }

    /// The vector table: all `hvc #0xfffe`. Rewritten before every case, in case a previous one
    /// stored over it (a mis-decoded store can write anywhere in RAM).
    private func writeVectors() {
        for offset in stride(from: 0, to: 0x800, by: 4) {
            store32(Self.vectorBase + UInt64(offset), stubs.hvcVector)
        }
    }

    deinit {
        free(memory)
    }

    private func store32(_ address: UInt64, _ word: UInt32) {
        memory.storeBytes(of: word.littleEndian, toByteOffset: Int(address - Self.ramBase), as: UInt32.self)
    }

    func run(_ c: DiffCase) -> DiffOutcome {
        writeVectors()
        let entry = c.address - 4
        store32(entry, stubs.clrex)
        for (i, word) in c.words.enumerated() { store32(c.address + UInt64(4 * i), word) }
        let terminator = c.address + UInt64(4 * c.words.count)
        store32(terminator, stubs.svcEnd)
        let windowOffset = Int(layout.windowBase - Self.ramBase)
        c.state.window.withUnsafeBytes {
            (memory + windowOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
        }

        cpu.reset(entry: entry, x0: 0, mpidr: 0x8000_0000)
        for r in 0..<31 { cpu.setX(r, c.state.x[r]) }
        let s = cpu.state
        s.pointee.nzcv = UInt32(truncatingIfNeeded: c.state.nzcv) & 0xF000_0000
        s.pointee.exceptionLevel = 0
        s.pointee.spSel = 0
        s.pointee.daif = 0
        s.pointee.vbarEL1 = Self.vectorBase
        // QEMU user mode runs EL0 with FP enabled (CPACR_EL1.FPEN = 0b11).
        s.pointee.cpacrEL1 = 3 << 20
        if layout.vector {
            let v = c.state.vector ?? DiffVectorState.zero
            for n in 0..<32 { cpu.setQ(n, low: v.q[2 * n], high: v.q[2 * n + 1]) }
            s.pointee.fpcr = v.fpcr & FloatingPointControl.fpcrWritable
            s.pointee.fpsr = v.fpsr & FloatingPointControl.fpsrWritable
        }

        let exit = cpu.run(budget: Self.budget)

        var nzcv = UInt64(s.pointee.nzcv)
        let end: DiffEnd
        var detail: String
        let esr2 = s.pointee.exitSyndrome
        let ec2 = Syndrome.exceptionClass(esr2)
        switch exit {
        case .trap where ec2 == ExceptionClass.hvc64.rawValue && Syndrome.iss(esr2) == 0xFFFE:
            // Something was taken to EL1 from the sequence.
            let esr = s.pointee.esrEL1
            let ec = Syndrome.exceptionClass(esr)
            let elr = s.pointee.elrEL1
            nzcv = s.pointee.spsrEL1 & 0xF000_0000
            detail =
                "ESR_EL1 \(diffHex(esr)) (\(ExceptionClass.name(of: ec))), ELR_EL1 \(diffHex(elr)), FAR_EL1 \(diffHex(s.pointee.farEL1))"
            if ec == ExceptionClass.svc64.rawValue && Syndrome.iss(esr) == 0xFFFF && elr == terminator + 4 {
                end = .completed
                detail = "exit"
            } else {
                switch ExceptionClass(rawValue: ec) {
                case .unknown: end = .undefined(pc: elr)
                case .instructionAbortLowerEL, .instructionAbortSameEL, .pcAlignment, .dataAbortLowerEL,
                    .dataAbortSameEL,
                    .spAlignment:
                    end = .memoryFault(pc: elr)
                default: end = .other("exception \(ExceptionClass.name(of: ec)) to EL1", pc: elr)
                }
            }
        case .trap:
            detail =
                "exit to EL2: ESR_EL2 \(diffHex(esr2)) (\(ExceptionClass.name(of: ec2))), FAR_EL2 \(diffHex(s.pointee.exitFaultAddress))"
            if ec2 == ExceptionClass.dataAbortLowerEL.rawValue || ec2 == ExceptionClass.instructionAbortLowerEL.rawValue
            {
                end = .memoryFault(pc: s.pointee.pc)
            } else {
                end = .other("exit to EL2 (\(ExceptionClass.name(of: ec2)))", pc: s.pointee.pc)
            }
        case .budget:
            end = .other("no end after \(Self.budget) instructions", pc: s.pointee.pc)
            detail = "budget"
        case .kick:
            end = .other("kick", pc: s.pointee.pc)
            detail = "kick"
        }
        let x = (0..<31).map { cpu.x($0) }
        let window = Array(UnsafeRawBufferPointer(start: memory + windowOffset, count: layout.windowSize))
        var vector: DiffVectorState?
        if layout.vector {
            let q = (0..<32).flatMap { n -> [UInt64] in
                let (low, high) = cpu.q(n)
                return [low, high]
            }
            vector = DiffVectorState(q: q, fpcr: s.pointee.fpcr, fpsr: s.pointee.fpsr)
        }
        return DiffOutcome(
            end: end, state: DiffState(x: x, nzcv: nzcv, window: window, vector: vector), detail: detail)
    }
}

// MARK: - Comparison and reports

struct DiffMismatch: Sendable {
    let testCase: DiffCase
    let qemu: DiffOutcome
    let armvisor: DiffOutcome
    let differences: [String]
}

enum DiffComparison {
    /// What differs between the two outcomes (empty when they agree).
    static func differences(qemu q: DiffOutcome, armvisor a: DiffOutcome) -> [String] {
        var out: [String] = []
        if q.end != a.end { out.append("end: qemu \(q.end), armvisor \(a.end)") }
        for r in 0..<31 where q.state.x[r] != a.state.x[r] {
            out.append("x\(r): qemu \(diffHex(q.state.x[r])), armvisor \(diffHex(a.state.x[r]))")
        }
        if q.state.nzcv != a.state.nzcv {
            out.append("NZCV: qemu \(flags(q.state.nzcv)), armvisor \(flags(a.state.nzcv))")
        }
        var i = 0
        let qw = q.state.window
        let aw = a.state.window
        while i < min(qw.count, aw.count) {
            guard qw[i] != aw[i] else {
                i += 1
                continue
            }
            var j = i
            while j < qw.count && qw[j] != aw[j] && j - i < 16 { j += 1 }
            out.append(
                "window +\(diffHex(UInt64(i)))..+\(diffHex(UInt64(j - 1))): qemu \(bytes(qw[i..<j])), armvisor \(bytes(aw[i..<j]))"
            )
            i = j
        }
        if let qv = q.state.vector, let av = a.state.vector, qv != av {
            for n in 0..<32 where qv.q[2 * n] != av.q[2 * n] || qv.q[2 * n + 1] != av.q[2 * n + 1] {
                out.append(
                    "q\(n): qemu \(diffHex(qv.q[2 * n + 1])):\(diffHex(qv.q[2 * n])), armvisor \(diffHex(av.q[2 * n + 1])):\(diffHex(av.q[2 * n]))"
                )
            }
            if qv.fpcr != av.fpcr { out.append("FPCR: qemu \(diffHex(qv.fpcr)), armvisor \(diffHex(av.fpcr))") }
            if qv.fpsr != av.fpsr { out.append("FPSR: qemu \(diffHex(qv.fpsr)), armvisor \(diffHex(av.fpsr))") }
        }
        return out
    }

    static func flags(_ nzcv: UInt64) -> String {
        let names = ["N", "Z", "C", "V"]
        return (0..<4).map { nzcv >> UInt64(31 - $0) & 1 == 1 ? names[$0] : names[$0].lowercased() }.joined()
    }

    static func bytes<C: Collection>(_ b: C) -> String where C.Element == UInt8 {
        b.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// `aarch64-linux-gnu-objdump` disassembly, one line per word; hex words if objdump fails.
    static func disassemble(_ words: [UInt32], at address: UInt64) -> [String] {
        let fallback = words.enumerated().map {
            "\(diffHex(address + UInt64(4 * $0.offset)))  \(diffHex32($0.element))"
        }
        guard let directory = try? TestPaths.temporaryDirectory() else { return fallback }
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("seq.bin")
        var writer = DiffByteWriter()
        for w in words { writer.u32(w) }
        guard (try? Data(writer.bytes).write(to: file)) != nil,
            let result = try? ProcessRunner.run(
                "/usr/bin/env",
                [
                    "aarch64-linux-gnu-objdump", "-D", "-b", "binary", "-m", "aarch64",
                    "--adjust-vma=\(diffHex(address))", file.path,
                ]),
            result.status == 0
        else { return fallback }
        var text: [UInt64: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0].hasSuffix(":"),
                let at = UInt64(parts[0].dropLast().trimmingCharacters(in: .whitespaces), radix: 16)
            else { continue }
            text[at] = parts[2].replacingOccurrences(of: "\t", with: " ")
        }
        return words.enumerated().map { i, w in
            let at = address + UInt64(4 * i)
            let asm = text[at] ?? "?"
            return
                "\(diffHex(at))  \(diffHex32(w))  \(asm.padding(toLength: max(asm.count, 36), withPad: " ", startingAt: 0))  [armvisor: \(Decoder.shared.decode(w).op)]"
        }
    }

    static func describe(_ state: DiffState, window: Bool, layout: DiffLayout) -> [String] {
        var lines: [String] = []
        for row in stride(from: 0, to: 31, by: 4) {
            lines.append(
                (row..<min(row + 4, 31)).map { r in
                    let name = "x\(r)".padding(toLength: 3, withPad: " ", startingAt: 0)
                    return "\(name) = \(diffHex(state.x[r]))".padding(toLength: 26, withPad: " ", startingAt: 0)
                }.joined())
        }
        lines.append("NZCV = \(flags(state.nzcv))")
        if let v = state.vector, v != DiffVectorState.zero {
            for n in stride(from: 0, to: 32, by: 2) {
                lines.append(
                    (n..<n + 2).map { r in
                        "q\(r)".padding(toLength: 3, withPad: " ", startingAt: 0) + " = "
                            + diffHex32Pair(v.q[2 * r + 1], v.q[2 * r])
                    }.joined(separator: "  "))
            }
            lines.append("FPCR = \(diffHex(v.fpcr)), FPSR = \(diffHex(v.fpsr))")
        }
        if window {
            lines.append("window at \(diffHex(layout.windowBase)):")
            for offset in stride(from: 0, to: state.window.count, by: 32) {
                lines.append(
                    "  +\(String(offset, radix: 16)): \(bytes(state.window[offset..<min(offset + 32, state.window.count)]))"
                )
            }
        }
        return lines
    }

    /// The full report of one mismatch: how to reproduce it, the sequence, the initial state,
    /// both outcomes and what differs.
    static func report(_ m: DiffMismatch, layout: DiffLayout) -> String {
        let c = m.testCase
        var lines = [
            "MISMATCH class \(c.diffClass.rawValue), seed \(c.seed), case \(c.index)"
                + " (reproduce: scripts/fuzz-diff --seed \(c.seed) --class \(c.diffClass.rawValue) --case \(c.index))",
            "  sequence:",
        ]
        lines += disassemble(c.words, at: c.address).map { "    " + $0 }
        lines.append("  initial state:")
        lines += describe(c.state, window: c.diffClass.usesMemory, layout: layout).map { "    " + $0 }
        lines.append("  qemu:     \(m.qemu.end) (\(m.qemu.detail))")
        lines.append("  armvisor: \(m.armvisor.end) (\(m.armvisor.detail))")
        lines.append("  differences:")
        lines += m.differences.map { "    " + $0 }
        return lines.joined(separator: "\n")
    }
}

// MARK: - Driver

struct DiffRunSummary: Sendable {
    var sequences = 0
    var instructions = 0
    var mismatches: [DiffMismatch] = []
    /// QEMU outcomes: completed / UNDEFINED / memory fault / other.
    var ends: [String: Int] = [:]
    /// Opcodes (as armvisor decodes them) of the generated instructions.
    var opcodes: [String: Int] = [:]
    var seconds = 0.0

    mutating func merge(_ other: DiffRunSummary) {
        sequences += other.sequences
        instructions += other.instructions
        mismatches += other.mismatches
        ends.merge(other.ends, uniquingKeysWith: +)
        opcodes.merge(other.opcodes, uniquingKeysWith: +)
    }

    var endsDescription: String {
        ["completed", "UNDEFINED", "memory fault", "other"].compactMap { key in
            ends[key].map { "\(key) \($0)" }
        }.joined(separator: ", ")
    }
}

enum DiffDriver {
    /// Runs cases `indices` of `seed`: case i is of class `classes[i % classes.count]` and runs
    /// in slot i % batchSize. Batches run two at a time (QEMU in one, the core in the other).
    static func run(
        classes: [DiffClass], seed: UInt64, indices: [Int], layout: DiffLayout = DiffLayout(),
        generator: DiffGenerator? = nil
    ) throws -> DiffRunSummary {
        let start = Date()
        let generator = generator ?? DiffGenerator(layout: layout)
        _ = try QEMUDiffRunner.harness()
        var batches: [[Int]] = []
        for i in indices.sorted() {
            if let last = batches.last?.last, last / layout.batchSize == i / layout.batchSize {
                batches[batches.count - 1].append(i)
            } else {
                batches.append([i])
            }
        }
        let results = LockedResults()
        let work = batches
        DispatchQueue.concurrentPerform(iterations: work.count) { b in
            do {
                let cases = work[b].map { i in
                    generator.makeCase(classes[i % classes.count], seed: seed, index: i, slot: i % layout.batchSize)
                }
                let qemu = try QEMUDiffRunner.run(cases, layout: layout)
                let core = try ArmvisorDiffRunner(layout: layout)
                var summary = DiffRunSummary()
                for (c, q) in zip(cases, qemu) {
                    let a = core.run(c)
                    summary.sequences += 1
                    summary.instructions += c.words.count
                    let key: String
                    switch q.end {
                    case .completed: key = "completed"
                    case .undefined: key = "UNDEFINED"
                    case .memoryFault: key = "memory fault"
                    case .other: key = "other"
                    }
                    summary.ends[key, default: 0] += 1
                    for w in c.words {
                        summary.opcodes[String(describing: Decoder.shared.decode(w).op), default: 0] += 1
                    }
                    let differences = DiffComparison.differences(qemu: q, armvisor: a)
                    if !differences.isEmpty {
                        summary.mismatches.append(
                            DiffMismatch(testCase: c, qemu: q, armvisor: a, differences: differences))
                    }
                }
                results.add(summary)
            } catch {
                results.fail(error)
            }
        }
        var summary = try results.get()
        summary.mismatches.sort { $0.testCase.index < $1.testCase.index }
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }
}

private final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var summary = DiffRunSummary()
    private var error: (any Error)?

    func add(_ s: DiffRunSummary) { lock.withLock { summary.merge(s) } }
    func fail(_ e: any Error) { lock.withLock { error = error ?? e } }
    func get() throws -> DiffRunSummary {
        try lock.withLock {
            if let error { throw error }
            return summary
        }
    }
}

// MARK: - Localization

/// Where in a mismatching sequence the two sides first part: the prefix of `good` instructions
/// agrees, the prefix of `bad` does not, so instructions good..<bad (usually one) diverge.
struct DiffLocalization: Sendable {
    let good: Int
    let bad: Int
    /// The state both sides reach after the good prefix.
    let before: DiffState
    let qemu: DiffOutcome
    let armvisor: DiffOutcome
    let differences: [String]
}

extension DiffDriver {
    /// Re-runs prefixes of each mismatching sequence to find the first diverging instruction.
    /// Prefixes that cut a forward branch short (its target beyond the cut) are not used.
    static func localize(_ mismatches: [DiffMismatch], layout: DiffLayout = DiffLayout()) throws -> [Int:
        DiffLocalization]
    {
        let core = try ArmvisorDiffRunner(layout: layout)
        // Valid prefix lengths per mismatch.
        var lengths: [[Int]] = []
        for m in mismatches {
            let words = m.testCase.words
            lengths.append(
                (1..<max(words.count, 1)).filter { k in
                    (0..<k).allSatisfy { i in (DiffGenerator.branchTarget(words[i], at: i) ?? 0) <= k }
                })
        }
        var results: [[Int: (DiffOutcome, DiffOutcome)]] = Array(repeating: [:], count: mismatches.count)
        for k in 1..<layout.maxWords {
            // One QEMU run per group of cases with distinct slots.
            var groups: [[Int]] = []
            var used: [Set<UInt64>] = []
            for (m, valid) in lengths.enumerated() where valid.contains(k) {
                let address = mismatches[m].testCase.address
                if let g = used.firstIndex(where: { !$0.contains(address) }) {
                    groups[g].append(m)
                    used[g].insert(address)
                } else {
                    groups.append([m])
                    used.append([address])
                }
            }
            for group in groups {
                let cases = group.map { mismatches[$0].testCase.prefix(k) }
                let qemu = try QEMUDiffRunner.run(cases, layout: layout)
                for (m, (c, q)) in zip(group, zip(cases, qemu)) { results[m][k] = (q, core.run(c)) }
            }
        }
        var out: [Int: DiffLocalization] = [:]
        for (m, mismatch) in mismatches.enumerated() {
            let n = mismatch.testCase.words.count
            results[m][n] = (mismatch.qemu, mismatch.armvisor)
            let tried = (lengths[m] + [n]).sorted()
            guard
                let bad = tried.first(where: { k in
                    let (q, a) = results[m][k]!
                    return !DiffComparison.differences(qemu: q, armvisor: a).isEmpty
                })
            else { continue }
            let good = tried.last { $0 < bad } ?? 0
            let before = good == 0 ? mismatch.testCase.state : results[m][good]!.0.state
            let (q, a) = results[m][bad]!
            out[mismatch.testCase.index] = DiffLocalization(
                good: good, bad: bad, before: before, qemu: q, armvisor: a,
                differences: DiffComparison.differences(qemu: q, armvisor: a))
        }
        return out
    }
}

extension DiffComparison {
    /// `report` plus the first diverging instruction and the state it started from.
    static func report(_ m: DiffMismatch, localization: DiffLocalization?, layout: DiffLayout) -> String {
        var text = report(m, layout: layout)
        guard let l = localization else { return text }
        let c = m.testCase
        var lines = [
            l.bad - l.good == 1
                ? "  first divergence: instruction \(l.good + 1) of \(c.words.count):"
                : "  first divergence: instructions \(l.good + 1)...\(l.bad) of \(c.words.count):"
        ]
        lines += disassemble(Array(c.words[l.good..<l.bad]), at: c.address + UInt64(4 * l.good)).map { "    " + $0 }
        if l.good > 0 {
            lines.append("  state before it (both agree):")
            lines += describe(l.before, window: c.diffClass.usesMemory, layout: layout).map { "    " + $0 }
        }
        lines.append("  after it: qemu \(l.qemu.end), armvisor \(l.armvisor.end)")
        lines += l.differences.map { "    " + $0 }
        text += "\n" + lines.joined(separator: "\n")
        return text
    }
}
