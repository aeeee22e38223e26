import AArch64

/// Stage-2 faults that are about memory, not devices (KVM `user_mem_abort`): the first touch of
/// a RAM page (translation or access-flag fault → map the page, retry the instruction), a write
/// to a read-only slot, a write to a write-protected page while dirty pages are tracked, and a
/// guest page-table walk or cache maintenance that reached an MMIO window.
public enum Stage2Faults {
    /// Handles the abort recorded in `vcpu.cpu`, or returns nil when it is an MMIO access for
    /// the device emulation (or an instruction fetch from outside RAM).
    public static func handle(_ vcpu: VCPU, fetch: Bool) -> ExitDisposition? {
        let stage2 = vcpu.stage2
        let cpu = vcpu.cpu
        let s = cpu.state.pointee
        let iss = Syndrome.iss(s.exitSyndrome)
        let status = iss & 0x3F
        let walk = iss & (1 << 7) != 0
        let maintenance = !fetch && iss & (1 << 8) != 0
        let write = !fetch && iss & (1 << 6) != 0
        let ipa = Syndrome.ipa(hpfar: s.exitIPAPage, far: s.exitFaultAddress)
        let kind = status & 0x3C

        guard let slot = stage2.slot(containing: ipa) else {
            // A fetch (even one whose walk reached a device) is the instruction-abort handler's:
            // it also stops a guest whose exception vector itself cannot be fetched.
            if walk && fetch { vcpu.counters.increment(.stage2WalkFaults) }
            if fetch { return nil }
            if walk {
                // The guest's own page tables point at a device: an external abort on the walk,
                // as KVM injects for a stage-1 walk outside memory.
                vcpu.counters.increment(.stage2WalkFaults)
                ExitHandlers.injectDataAbort(vcpu, address: s.exitFaultAddress, write: false, fetch: fetch)
                return .resume
            }
            if maintenance {
                // DC by VA (or AT) on MMIO: nothing to maintain (KVM skips the instruction).
                return .skipInstruction
            }
            return nil
        }
        // Memory, not a device: the VM for dirty-page tracking (the MMIO path above leaves its
        // weak reference alone).
        guard let vm = vcpu.vm else { return nil }
        if walk { vcpu.counters.increment(.stage2WalkFaults) }
        if fetch { vcpu.counters.increment(.stage2FetchFaults) }
        switch kind {
        case 0x04, 0x08:  // translation, access flag: demand paging
            vcpu.counters.increment(kind == 0x04 ? .stage2TranslationFaults : .stage2AccessFlagFaults)
            // While dirty pages are tracked, a page first touched by a write is dirty at once,
            // and one first touched by a read is mapped read-only so its first write is seen.
            let logging = vm.loggingDirtyPages
            if logging && write { vm.recordDirty(ipa: ipa) }
            do {
                _ = try stage2.mapPage(containing: ipa, readOnly: logging && !write)
            } catch {
                return .stop(.guestFault, detail: "cannot map guest page 0x\(hex(ipa)): \(error)")
            }
            return .resume
        case 0x0C:  // permission
            vcpu.counters.increment(.stage2PermissionFaults)
            if write && slot.writable && stage2.makeWritable(containing: ipa) {
                // Dirty-page tracking: the page was write-protected; record it and let the write in.
                vm.recordDirty(ipa: ipa)
                // Widening a permission needs no remote flush: another vCPU's stale read-only
                // entry faults, finds the page writable and flushes its own TLB here.
                vcpu.cpu.invalidateStage2()
                return .resume
            }
            if write && !slot.writable {
                // A write to read-only memory (ROM): ignored, as on a real ROM.
                vcpu.counters.increment(.readOnlyWrites)
                return .skipInstruction
            }
            ExitHandlers.injectDataAbort(vcpu, address: s.exitFaultAddress, write: write, fetch: fetch)
            return .resume
        default:
            // Address size faults cannot happen with the highvisor's own tables.
            ExitHandlers.injectDataAbort(vcpu, address: s.exitFaultAddress, write: write, fetch: fetch)
            return .resume
        }
    }
}
