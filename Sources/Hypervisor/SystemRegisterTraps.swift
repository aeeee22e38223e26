import AArch64

/// EC 0x18: an MSR/MRS the guest made with an HCR_EL2 trap set (TVM, TRVM, TID3, TACR, TIDCP).
/// The highvisor emulates the access from the ISS (Op0, Op1, CRn, CRm, Op2, Rt, direction;
/// Arm ARM D17.2.37), writes Rt for a read, and completes the instruction — KVM's
/// `kvm_handle_sys_reg`. A register it cannot emulate gets UNDEF in the guest.
public enum SystemRegisterTraps {
    @Sendable public static func handle(_ vcpu: VCPU) -> ExitDisposition {
        let cpu = vcpu.cpu
        let iss = Syndrome.iss(cpu.state.pointee.exitSyndrome)
        let encoding = SystemRegisterEncoding(
            Int((iss >> 20) & 3), Int((iss >> 14) & 7), Int((iss >> 10) & 15), Int((iss >> 1) & 15),
            Int((iss >> 17) & 7))
        let rt = Int((iss >> 5) & 31)
        let isRead = iss & 1 == 1
        if encoding == GICRegister.sgi1r && !isRead, let gic = vcpu.vm?.gic {
            gic.deliver(sgiTargets: gic.sendSGI(cpu.x(rt), from: vcpu.index), from: vcpu)
            return .skipInstruction
        }
        let outcome = cpu.accessSystemRegister(encoding, write: !isRead, value: cpu.x(rt), fromEL2: true)
        guard case .done(let value) = outcome else { return ExitHandlers.injectUndefined(vcpu) }
        if isRead { cpu.setX(rt, value) }
        vcpu.counters.increment(.systemRegisterTraps)
        return .skipInstruction
    }
}
