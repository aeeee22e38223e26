import ArgumentParser
import Control

/// `armvisor regs NAME`: every vCPU's registers, as a table.
struct Regs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the registers of every vCPU of a paused, stopped or not yet started VM.",
        discussion: """
            Prints PC, SP, PSTATE, X0-X30, the banked stack pointers, the EL1/EL2 system registers \
            a debugger wants (SCTLR/TCR/TTBRn/MAIR/VBAR/ESR/FAR/ELR/SPSR/PAR_EL1, HCR/VTTBR/VTCR/CPTR_EL2, \
            CPACR_EL1), the FP control and status registers FPCR and FPSR, and the SIMD&FP registers \
            Q0-Q31 (128 bits each). A running VM is refused (vm-not-paused): pause it first.
            """)
    @Argument(help: "VM name.") var name: String
    @OptionGroup var client: ClientOptions

    func run() throws {
        try client.print(client.call("regs", ["name": .string(name)])) { result in
            guard let registers = try? result.decode(as: VMRegisters.self) else {
                throw UnexpectedReply("no valid register dump")
            }
            return "\(registers.name): \(registers.state.rawValue)\n" + registers.report
        }
    }
}
