import AArch64

/// A highvisor exit handler: given the vCPU whose core just exited with a syndrome in
/// `cpu.state.exitSyndrome`, handle it and decide how to continue.
public typealias ExitHandler = @Sendable (VCPU) -> ExitDisposition

/// The highvisor's exit handlers, indexed by `ESR_EL2.EC` (KVM's `arm_exit_handlers[]`).
/// A class with no handler injects UNDEF into the guest: an exit never crashes the host.
public struct ExitTable: Sendable {
    private var handlers: [ExitHandler?] = Array(repeating: nil, count: 64)

    public init() {}

    public subscript(ec: ExceptionClass) -> ExitHandler? {
        get { handlers[Int(ec.rawValue)] }
        set { handlers[Int(ec.rawValue)] = newValue }
    }

    public func handle(_ vcpu: VCPU, exceptionClass ec: UInt8) -> ExitDisposition {
        if let handler = handlers[Int(ec & 0x3F)] { return handler(vcpu) }
        return ExitHandlers.injectUndefined(vcpu)
    }

    /// The standard handlers with PSCI over SMC instead of HVC-only (`psci = "smc"`).
    public static let smcConduit: ExitTable = {
        var table = standard
        table[.smc64] = ExitHandlers.secureMonitorCallPSCI
        return table
    }()

    /// The handlers every VM gets.
    public static let standard: ExitTable = {
        var table = ExitTable()
        table[.wfx] = ExitHandlers.waitForInterrupt
        table[.fpAccess] = ExitHandlers.floatingPointAccess
        table[.hvc64] = ExitHandlers.hypercall
        table[.smc64] = ExitHandlers.secureMonitorCall
        table[.sys64] = SystemRegisterTraps.handle
        table[.dataAbortLowerEL] = ExitHandlers.dataAbort
        table[.instructionAbortLowerEL] = ExitHandlers.instructionAbort
        return table
    }()
}

/// The exit handlers themselves (KVM `arch/arm64/kvm/handle_exit.c`, `mmio.c`).
public enum ExitHandlers {
    /// EC 0x01: WFI/WFE trapped by HCR_EL2.TWI/TWE; ISS bit 0 (TI) tells them apart (Arm ARM
    /// D17.2.37 "ISS encoding for an exception from a WFI or WFE instruction"). A WFE whose event
    /// register is already set (an SEV from another vCPU arrived after the core looked) completes
    /// at once, clearing it.
    @Sendable public static func waitForInterrupt(_ vcpu: VCPU) -> ExitDisposition {
        guard Syndrome.iss(vcpu.cpu.state.pointee.exitSyndrome) & 1 != 0 else { return .waitForInterrupt }
        if vcpu.cpu.consumeEvent() { return .skipInstruction }
        return .waitForEvent
    }

    /// EC 0x07: the guest's first FP/AdvSIMD instruction since the highvisor set CPTR_EL2.TFP
    /// (the lazy FP switch, KVM's `kvm_hyp_handle_fpsimd`). The guest's V registers, FPCR and
    /// FPSR already live in the core, so "loading" them is clearing the trap; the instruction
    /// then runs on re-entry. Traps the guest OS asked for (CPACR_EL1) never get here: the core
    /// takes those to EL1 first.
    @Sendable public static func floatingPointAccess(_ vcpu: VCPU) -> ExitDisposition {
        vcpu.cpu.setFloatingPointTrap(false)
        vcpu.counters.increment(.fpTraps)
        return .resume
    }

    /// EC 0x16: HVC from EL1 — the PSCI/SMCCC conduit.
    @Sendable public static func hypercall(_ vcpu: VCPU) -> ExitDisposition {
        vcpu.counters.increment(.hypercalls)
        return PSCI.handleCall(vcpu)
    }

    /// EC 0x17: SMC trapped by HCR_EL2.TSC, with the HVC conduit. With no EL3 the SMC is
    /// UNDEFINED, so the guest gets the UNDEF it would get without a hypervisor.
    @Sendable public static func secureMonitorCall(_ vcpu: VCPU) -> ExitDisposition {
        injectUndefined(vcpu)
    }

    /// EC 0x17 with the SMC conduit (`psci = "smc"`): the call is PSCI/SMCCC, as KVM handles it.
    /// A trapped SMC's preferred return is the SMC itself (Arm ARM D1.10.1), so completing the
    /// call moves past it.
    @Sendable public static func secureMonitorCallPSCI(_ vcpu: VCPU) -> ExitDisposition {
        vcpu.counters.increment(.hypercalls)
        let disposition = PSCI.handleCall(vcpu)
        switch disposition {
        case .resume, .suspend, .powerOff: vcpu.cpu.skipInstruction()
        default: break
        }
        return disposition
    }

    /// EC 0x24: a stage-2 data abort (KVM `kvm_handle_guest_abort`). In a memory slot it is
    /// demand paging (`Stage2Faults`); outside every slot it is MMIO: emulate the access from the
    /// instruction syndrome on the bus and complete the instruction.
    @Sendable public static func dataAbort(_ vcpu: VCPU) -> ExitDisposition {
        if let disposition = MMIOEmulation.handleKnownWindow(vcpu) { return disposition }
        if let disposition = Stage2Faults.handle(vcpu, fetch: false) { return disposition }
        return MMIOEmulation.handle(vcpu, outsideMemory: true)
    }

    /// EC 0x20: instruction fetch from an IPA with no RAM. The guest gets a synchronous external
    /// abort on instruction fetch; if the fetch was the exception vector itself the guest can
    /// never recover, so the VM stops with `guest-fault` instead of looping forever.
    @Sendable public static func instructionAbort(_ vcpu: VCPU) -> ExitDisposition {
        if let disposition = Stage2Faults.handle(vcpu, fetch: true) { return disposition }
        let cpu = vcpu.cpu
        let s = cpu.state.pointee
        let address = s.exitFaultAddress
        let offset = address &- s.vbarEL1
        if offset < 0x800 && offset & 0x7F == 0 {
            return .stop(
                .guestFault,
                detail:
                    "instruction fetch from 0x\(hex(address)) (not RAM, or walked through tables that are not) at an exception vector "
                    + "(VBAR_EL1=0x\(hex(s.vbarEL1)), ESR_EL1=0x\(hex(s.esrEL1)), ELR_EL1=0x\(hex(s.elrEL1)))")
        }
        let ec: ExceptionClass = s.exceptionLevel == 0 ? .instructionAbortLowerEL : .instructionAbortSameEL
        _ = cpu.takeExceptionToEL1(
            kind: .synchronous, syndrome: Syndrome.make(ec, iss: FaultStatus.synchronousExternalAbort),
            preferredReturn: address, faultAddress: address)
        return .resume
    }

    /// Injects UNDEFINED (EC 0x00) for the instruction at the exit PC.
    @Sendable public static func injectUndefined(_ vcpu: VCPU) -> ExitDisposition {
        _ = vcpu.cpu.undefinedInstruction(at: vcpu.cpu.pc)
        return .resume
    }

    /// Injects a synchronous external abort for an access at `address` (Arm ARM D1.10): a data
    /// abort (EC 0x25 from EL1, 0x24 from EL0; DFSC 0x10; WnR) or, for `fetch`, a prefetch abort
    /// (EC 0x21/0x20, IFSC 0x10) at the faulting PC. FAR_EL1 = the address.
    public static func injectDataAbort(_ vcpu: VCPU, address: UInt64, write: Bool, fetch: Bool = false) {
        let cpu = vcpu.cpu
        let fromEL0 = cpu.state.pointee.exceptionLevel == 0
        let syndrome: UInt64
        if fetch {
            syndrome = Syndrome.make(
                fromEL0 ? .instructionAbortLowerEL : .instructionAbortSameEL, iss: FaultStatus.synchronousExternalAbort)
        } else {
            let iss = Syndrome.dataAbortISSNoSyndrome(write: write, status: FaultStatus.synchronousExternalAbort)
            syndrome = Syndrome.make(fromEL0 ? .dataAbortLowerEL : .dataAbortSameEL, iss: iss)
        }
        _ = cpu.takeExceptionToEL1(
            kind: .synchronous, syndrome: syndrome, preferredReturn: cpu.pc, faultAddress: address)
    }
}

/// Lower-case hexadecimal without prefix, for diagnostics.
public func hex(_ value: UInt64) -> String { String(value, radix: 16) }
