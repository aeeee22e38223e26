import AArch64
import TestSupport
import XCTest

/// A bare core with 1 MiB of RAM at 0x4000_0000, for directed instruction tests.
/// Programs are assembled by the cross assembler and end with `hvc #0xffff`.
final class TestMachine {
    static let ramBase: UInt64 = 0x4000_0000
    static let ramSize: UInt64 = 1 << 20
    static let stop: UInt32 = 0xFFFF

    let memory: UnsafeMutableRawPointer
    let codeMap: CodeMap
    let cpu: CPU

    init() {
        memory = .allocate(byteCount: Int(Self.ramSize), alignment: 4096)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: Int(Self.ramSize))
        // Reserving a few MiB of address space cannot fail on a test host.
        codeMap = try! CodeMap(ramSize: Self.ramSize)
        cpu = CPU(memory: PhysicalMemory(base: Self.ramBase, size: Self.ramSize, host: memory, codeMap: codeMap))
        cpu.reset(entry: Self.ramBase, x0: 0, mpidr: 0x8000_0000)
        // Normal memory with the MMU off (HCR_EL2.DC), so directed tests of unaligned accesses
        // see what a kernel with its MMU on sees; MMUTests turn it off to test Device memory.
        cpu.setHypervisorConfiguration(cpu.state.pointee.hcrEL2 | HypervisorConfiguration.dc)
        cpu.sp = Self.ramBase + Self.ramSize - 16
    }

    deinit {
        memory.deallocate()
    }

    func load(_ words: [UInt32], at address: UInt64 = ramBase) {
        for (i, word) in words.enumerated() {
            memory.storeBytes(of: word.littleEndian, toByteOffset: Int(address - Self.ramBase) + i * 4, as: UInt32.self)
        }
    }

    func write64(_ address: UInt64, _ value: UInt64) {
        memory.storeBytes(of: value.littleEndian, toByteOffset: Int(address - Self.ramBase), as: UInt64.self)
    }

    func read64(_ address: UInt64) -> UInt64 {
        UInt64(littleEndian: memory.loadUnaligned(fromByteOffset: Int(address - Self.ramBase), as: UInt64.self))
    }

    /// Assembles `source` (one instruction per element), appends the stop hypercall, runs it.
    @discardableResult
    func run(_ source: [String], budget: UInt64 = 1_000_000, file: StaticString = #filePath, line: UInt = #line) throws
        -> CoreExit
    {
        load(try CrossAssembler.assemble(source + ["hvc #0xffff"]))
        return runLoaded(budget: budget)
    }

    func runLoaded(budget: UInt64 = 1_000_000) -> CoreExit {
        cpu.run(budget: budget)
    }

    var syndrome: UInt64 { cpu.state.pointee.exitSyndrome }
    var exceptionClass: UInt8 { Syndrome.exceptionClass(syndrome) }
    var nzcv: UInt32 { cpu.state.pointee.nzcv >> 28 }

    /// True when the program ran to its final `hvc #0xffff`.
    var reachedEnd: Bool {
        exceptionClass == ExceptionClass.hvc64.rawValue && Syndrome.iss(syndrome) == Self.stop
    }
}
