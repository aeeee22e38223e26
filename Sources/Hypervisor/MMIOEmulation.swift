import AArch64

/// Emulation of a guest load or store that hit an MMIO window (KVM `io_mem_abort`): the access is
/// decoded from the data-abort ISS (ISV, SAS, SSE, SRT, SF, WnR; Arm ARM D17.2.37), performed on
/// the bus synchronously on the vCPU's thread, and the load result written back to Rt.
public enum MMIOEmulation {
    public static func handle(_ vcpu: VCPU) -> ExitDisposition {
        let cpu = vcpu.cpu
        let esr = cpu.state.pointee.exitSyndrome
        let iss = Syndrome.iss(esr)
        let far = cpu.state.pointee.exitFaultAddress
        let ipa = Syndrome.ipa(hpfar: cpu.state.pointee.exitIPAPage, far: far)
        let write = iss & (1 << 6) != 0
        guard iss & (1 << 24) != 0 else {
            // ISV=0 (pairs, writeback forms): no syndrome to emulate from. Issue "Memory
            // virtualization" decodes the instruction instead; until then the guest gets an
            // external abort, as on KVM without KVM_CAP_ARM_NISV_TO_USER.
            vcpu.counters.increment(.mmioUnclaimed)
            ExitHandlers.injectDataAbort(vcpu, address: far, write: write)
            return .resume
        }
        let sizeLog2 = Int((iss >> 22) & 3)
        let size = 1 << sizeLog2
        let rt = Int((iss >> 16) & 31)
        guard let (device, offset, window) = vcpu.bus.resolve(ipa) else {
            vcpu.counters.increment(.mmioUnclaimed)
            ExitHandlers.injectDataAbort(vcpu, address: far, write: write)
            return .resume
        }
        vcpu.counters.countMMIO(window: window)
        if write {
            let value = size == 8 ? cpu.x(rt) : cpu.x(rt) & ((1 << UInt64(size * 8)) - 1)
            vcpu.counters.increment(.mmioWrites)
            device.busWrite(offset: offset, size: size, value: value, by: vcpu)
        } else {
            var value = device.busRead(offset: offset, size: size, by: vcpu)
            if size < 8 { value &= (1 << UInt64(size * 8)) - 1 }
            if iss & (1 << 21) != 0 && size < 8 {  // SSE: sign-extend
                let shift = UInt64(64 - size * 8)
                value = UInt64(bitPattern: Int64(bitPattern: value << shift) >> Int64(shift))
            }
            if iss & (1 << 15) == 0 { value &= 0xFFFF_FFFF }  // SF=0: W register
            vcpu.counters.increment(.mmioReads)
            cpu.setX(rt, value)
        }
        return .skipInstruction
    }
}
