import AArch64
import Foundation
import Hypervisor

/// Every vCPU's registers: the `regs` reply. Register values are `0x` and 16 hex digits
/// (`"0x0000000040080000"`), since 64-bit values do not survive every JSON reader as numbers.
public struct VMRegisters: Codable, Sendable, Equatable {
    /// One vCPU's general-purpose registers, PSTATE and the system registers a debugger wants.
    public struct VCPU: Codable, Sendable, Equatable {
        public var index: Int
        public var mpidr: String
        /// As in `info`: `created`, `paused`, `offline` (never brought up) or `stopped`.
        public var state: VCPUInfo.State
        public var pc: String
        /// The stack pointer PSTATE selects (SP_EL0 or SP_EL1).
        public var sp: String
        /// X0–X30, by register number.
        public var x: [String]
        /// V0–V31 (Q view), by register number: `0x` and 32 hex digits, bits 127:0.
        public var v: [String]
        /// PSTATE in the `SPSR_ELx` layout: NZCV[31:28], IL[20], DAIF[9:6], M[3:0] = EL << 2 | SP.
        public var pstate: String
        public var exceptionLevel: Int
        public var instructionsRetired: UInt64
        /// By architectural name (`SP_EL0`, `SCTLR_EL1`, `HCR_EL2`, …; `systemRegisterNames`).
        public var system: [String: String]

        public init(_ vcpu: Hypervisor.VCPU, state: VCPUInfo.State) {
            let cpu = vcpu.cpu
            let core = cpu.state.pointee
            index = vcpu.index
            mpidr = hex64(core.mpidr)
            self.state = state
            pc = hex64(cpu.pc)
            sp = hex64(cpu.sp)
            x = (0..<31).map { hex64(cpu.x($0)) }
            v = (0..<32).map { n in
                let (low, high) = cpu.q(n)
                return hex64(high) + hex64(low).dropFirst(2)
            }
            pstate = hex64(core.processorState)
            exceptionLevel = Int(core.exceptionLevel)
            instructionsRetired = core.instructionsRetired
            // The selected stack pointer lives in the register file; its bank copy is stale.
            let values: [(String, UInt64)] = [
                ("SP_EL0", core.spSel == 0 ? cpu.sp : core.spEL0),
                ("SP_EL1", core.spSel == 1 ? cpu.sp : core.spEL1),
                ("ELR_EL1", core.elrEL1), ("SPSR_EL1", core.spsrEL1),
                ("SCTLR_EL1", core.sctlrEL1), ("TCR_EL1", core.tcrEL1),
                ("TTBR0_EL1", core.ttbr0EL1), ("TTBR1_EL1", core.ttbr1EL1),
                ("MAIR_EL1", core.mairEL1), ("VBAR_EL1", core.vbarEL1),
                ("ESR_EL1", core.esrEL1), ("FAR_EL1", core.farEL1), ("PAR_EL1", core.parEL1),
                ("HCR_EL2", core.hcrEL2), ("VTTBR_EL2", core.vttbrEL2), ("VTCR_EL2", core.vtcrEL2),
                ("CPTR_EL2", core.cptrEL2), ("CPACR_EL1", core.cpacrEL1), ("FPCR", core.fpcr), ("FPSR", core.fpsr),
            ]
            system = Dictionary(uniqueKeysWithValues: values.map { ($0.0, hex64($0.1)) })
        }
    }

    /// The members of `VCPU.system`, in the order `report` prints them.
    public static let systemRegisterNames = [
        "SP_EL0", "SP_EL1", "ELR_EL1", "SPSR_EL1", "SCTLR_EL1", "TCR_EL1", "TTBR0_EL1", "TTBR1_EL1", "MAIR_EL1",
        "VBAR_EL1", "ESR_EL1", "FAR_EL1", "PAR_EL1", "HCR_EL2", "VTTBR_EL2", "VTCR_EL2", "CPTR_EL2", "CPACR_EL1",
        "FPCR", "FPSR",
    ]

    public var name: String
    /// `created`, `paused` or `stopped`: a running VM's registers are not read.
    public var state: VirtualMachine.RunState
    public var vcpus: [VCPU]

    /// Reads every vCPU of `vm`; the caller makes sure none of them runs guest code meanwhile.
    public init(name: String, vm: VirtualMachine) {
        self.name = name
        state = vm.state
        let states = vm.vcpuInfo.map(\.state)
        vcpus = vm.vcpus.map { VCPU($0, state: states[$0.index]) }
    }

    /// The table `armvisor regs` prints, in the spirit of QEMU's `info registers`; per vCPU:
    ///
    ///     vcpu 0  MPIDR 0x0000000080000000  paused  1234 instructions retired
    ///       PC  0x0000000040080004  SP  0x0000000040100000  PSTATE 0x00000000600003c5 -ZC- DAIF EL1h
    ///       X0  0x…  X1  0x…  X2  0x…  X3  0x…
    ///       …
    ///       X28 0x…  X29 0x…  X30 0x…
    ///       SP_EL0    0x…  SP_EL1    0x…  ELR_EL1   0x…
    ///       …
    ///       Q0  0x<32 hex digits>  Q1  0x…
    ///       …
    ///
    /// vCPUs are separated by a blank line.
    public var report: String {
        vcpus.map(\.report).joined(separator: "\n\n")
    }

    /// The lines the daemon logs when a VM stops with `guest-fault` or `error`: `report` without
    /// the FP/SIMD registers and the blank lines (each line is one log line).
    public var faultReport: [String] {
        vcpus.flatMap { vcpu in vcpu.report.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("  Q") } }
    }
}

extension VMRegisters.VCPU {
    /// This vCPU's part of `VMRegisters.report`.
    public var report: String {
        let bits = UInt64(pstate.dropFirst(2), radix: 16) ?? 0
        let mode = "EL\(bits >> 2 & 3)\(bits & 1 == 1 ? "h" : "t")"
        var lines = ["vcpu \(index)  MPIDR \(mpidr)  \(state.rawValue)  \(instructionsRetired) instructions retired"]
        lines.append("  PC  \(pc)  SP  \(sp)  PSTATE \(pstate) \(Self.flags(bits)) \(mode)")
        let general = x.enumerated().map { ("X\($0.offset)", $0.element) }
        lines += Self.rows(general, perRow: 4)
        let system = VMRegisters.systemRegisterNames.map { ($0, self.system[$0] ?? "?") }
        lines += Self.rows(system, perRow: 3)
        lines += Self.rows(v.enumerated().map { ("Q\($0.offset)", $0.element) }, perRow: 2)
        return lines.joined(separator: "\n")
    }

    /// NZCV as QEMU prints it (`-ZC-`: the flags that are set), then the DAIF bits that are set
    /// (masked interrupts), `-` for clear ones, and ` IL` after an illegal exception return.
    public static func flags(_ pstate: UInt64) -> String {
        func letters(_ names: String, from top: UInt64) -> String {
            String(names.enumerated().map { pstate >> (top - UInt64($0.offset)) & 1 == 1 ? $0.element : "-" })
        }
        return letters("NZCV", from: 31) + " " + letters("DAIF", from: 9) + (pstate >> 20 & 1 == 1 ? " IL" : "")
    }

    /// `perRow` label/value cells per line, labels padded to the longest one.
    private static func rows(_ cells: [(String, String)], perRow: Int) -> [String] {
        let width = cells.map(\.0.count).max() ?? 0
        return stride(from: 0, to: cells.count, by: perRow).map { start in
            "  "
                + cells[start..<min(start + perRow, cells.count)].map {
                    $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + " " + $0.1
                }.joined(separator: "  ")
        }
    }
}

extension VMManager {
    /// Every vCPU's registers. Legal when the VM is created (its boot state), paused or stopped;
    /// a running VM's registers change under the read (`vm-not-paused`).
    public func registers(name: String) throws(ControlError) -> VMRegisters {
        let entry = try lookup(name)
        // Only this actor starts and resumes VMs, and a paused VM's vCPUs stay parked (a stop in
        // progress wakes them only to leave), so the registers hold still while they are read.
        let state = entry.vm.state
        guard state != .running else {
            throw ControlError(.vmNotPaused, "VM '\(name)' is running; pause it to read its registers")
        }
        return VMRegisters(name: name, vm: entry.vm)
    }
}

/// `0x` and 16 lower-case hex digits (`"0x0000000040080000"`): a 64-bit register value.
func hex64(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
}
