/// Address translation for the EL1&0 regime: the guest's stage 1 (VMSAv8-64, 4 KB granule,
/// TTBR0/TTBR1) followed by the highvisor's stage 2 (VTTBR_EL2/VTCR_EL2), as Arm ARM D5.2
/// "The VMSAv8-64 address translation system" and the `AArch64.FullTranslate` /
/// `AArch64.TranslationTableWalk` / `AArch64.CheckPermission` pseudocode describe them for
/// ARMv8.0 (no hardware AF/dirty update, no PAN, no 52-bit addresses).
///
/// The walker is the slow path behind the `TLB`: it runs on a miss, for AT, and for the debug
/// dump. Only the 4 KB granule is implemented and advertised (ID_AA64MMFR0_EL1.TGran16 = 0,
/// TGran64 = 0xF); a TG field selecting another size is treated as 4 KB, the IMPLEMENTATION
/// DEFINED choice the Arm ARM allows for an unsupported granule.

/// The kind of access being translated.
public enum AccessType: UInt8, Sendable {
    case read, write, fetch
}

/// Which stage faulted and how (the DFSC/IFSC value includes the level).
public struct TranslationFault: Error, Sendable, Equatable {
    public enum Stage: UInt8, Sendable { case one, two }
    public var stage: Stage
    /// DFSC/IFSC: translation 0x04+level, access flag 0x08+level, permission 0x0C+level, address
    /// size 0x00+level, alignment 0x21.
    public var status: UInt32
    /// Stage 2 only: the IPA that failed, and whether it was a stage-1 descriptor read (S1PTW).
    public var ipa: UInt64 = 0
    public var walk: Bool = false

    public var level: Int { Int(status & 3) }
}

/// A successful translation of one address.
public struct TranslationResult: Sendable, Equatable {
    /// The intermediate physical address (stage-1 output).
    public var ipa: UInt64
    /// The machine-physical address (stage-2 output).
    public var physical: UInt64
    /// What the privilege that asked may do there, after both stages.
    public var readable: Bool
    public var writable: Bool
    public var executable: Bool
    /// Device memory at either stage (unaligned data accesses fault).
    public var device: Bool
    /// nG = 0, or stage 1 off.
    public var global: Bool
    /// The MAIR attribute byte stage 1 selected (0x00 Device-nGnRnE with stage 1 off).
    public var attributes: UInt8
    /// SH of the stage-1 descriptor (0b10, outer shareable, for Device memory and stage 1 off).
    public var shareability: UInt8 = 0b10
    /// log2 of the size of the stage-1 mapping (12 for a page, and with stage 1 off).
    public var mappingShift: UInt64
}

/// One descriptor read of a walk, for the debug dump (`translate` command).
public struct WalkStep: Sendable, Equatable {
    public var stage: TranslationFault.Stage
    public var level: Int
    /// Where the descriptor was read (an IPA for stage 1, a machine-physical address for stage 2).
    public var address: UInt64
    public var descriptor: UInt64
}

extension CPU {
    /// Stage-1 walk state that accumulates down the levels.
    private struct Stage1Walk {
        var apTable: UInt64 = 0
        var uxnTable = false
        var pxnTable = false
    }

    /// Output size in bits for an IPS/PS code, capped at the PARange this core advertises (40).
    static func outputSize(_ code: UInt64) -> UInt64 {
        let sizes: [UInt64] = [32, 36, 40, 42, 44, 48]
        let size = code < 6 ? sizes[Int(code)] : 48
        return min(size, Identification.physicalAddressBits)
    }

    /// The ASID of the current stage-1 context (TCR_EL1.A1 selects TTBR1's; TCR_EL1.AS = 0 keeps
    /// the low 8 bits).
    var currentASID: UInt16 {
        let s = state.pointee
        let ttbr = s.tcrEL1 & (1 << 22) != 0 ? s.ttbr1EL1 : s.ttbr0EL1
        let asid = UInt16(truncatingIfNeeded: ttbr >> 48)
        return s.tcrEL1 & (1 << 36) != 0 ? asid : asid & 0xFF
    }

    /// The VMID of the current stage 2 (VTTBR_EL2[55:48]), 0 with stage 2 off.
    var currentVMID: UInt64 {
        state.pointee.hcrEL2 & HypervisorConfiguration.vm != 0 ? (state.pointee.vttbrEL2 >> 48) & 0xFF : 0
    }

    /// Recomputes the TLB context tags after a change to SCTLR_EL1.M, TTBRn_EL1, TCR_EL1,
    /// HCR_EL2 or VTTBR_EL2. Entries of other ASIDs stay in the TLB, unused until their ASID
    /// comes back: switching ASID needs no TLB maintenance (Arm ARM D5.9.1).
    public func updateTranslationContext() {
        let s = state
        let vmid = currentVMID << 32
        if s.pointee.sctlrEL1 & 1 == 0 {
            s.pointee.tlbContext = vmid | TLB.flatBit
            s.pointee.tlbGlobalContext = vmid | TLB.flatBit
        } else {
            s.pointee.tlbContext = vmid | UInt64(currentASID)
            s.pointee.tlbGlobalContext = vmid | TLB.globalBit
        }
    }

    // MARK: The full translation

    /// Translates `va` for an access of `type` by EL1 (`privileged`) or EL0, through stage 1 and
    /// stage 2. `steps`, when given, receives every descriptor read (debug dump).
    /// `throughStage2` = false stops after stage 1 (AT S1E*: PAR_EL1 reports the IPA), though
    /// the stage-1 walk's own descriptor reads still go through stage 2.
    public func translate(
        _ va: UInt64, type: AccessType, privileged: Bool, throughStage2: Bool = true,
        steps: UnsafeMutablePointer<[WalkStep]>? = nil
    ) -> Result<TranslationResult, TranslationFault> {
        let s = state.pointee
        var ipa: UInt64
        var readable = true
        var writable = true
        var executable = true
        var device: Bool
        var global = true
        var attributes: UInt8
        var shareability: UInt8 = 0b10
        var mappingShift: UInt64 = 12

        if s.sctlrEL1 & 1 == 0 {
            // Stage 1 off (Arm ARM D5.2.9): flat, Device-nGnRnE data (Normal with HCR_EL2.DC),
            // Normal instruction fetches; an address beyond PARange is an address size fault.
            if va >> Identification.physicalAddressBits != 0 {
                return .failure(TranslationFault(stage: .one, status: FaultStatus.addressSize(level: 0)))
            }
            ipa = va
            let normal = type == .fetch || s.hcrEL2 & HypervisorConfiguration.dc != 0
            device = !normal
            attributes = normal ? 0xFF : 0x00
        } else {
            switch stage1(va, type: type, privileged: privileged, steps: steps) {
            case .failure(let fault): return .failure(fault)
            case .success(let leaf):
                ipa = leaf.ipa
                readable = leaf.readable
                writable = leaf.writable
                executable = leaf.executable
                device = leaf.device
                global = leaf.global
                attributes = leaf.attributes
                shareability = leaf.shareability
                mappingShift = leaf.mappingShift
            }
            let permitted =
                switch type {
                case .read: readable
                case .write: writable
                case .fetch: executable
                }
            if !permitted {
                return .failure(
                    TranslationFault(stage: .one, status: FaultStatus.permission(level: Int(leafLevel(mappingShift)))))
            }
        }

        if !throughStage2 {
            return .success(
                TranslationResult(
                    ipa: ipa, physical: ipa, readable: readable, writable: writable, executable: executable,
                    device: device, global: global, attributes: attributes, shareability: shareability,
                    mappingShift: mappingShift))
        }
        switch stage2(ipa, type: type, walk: false, steps: steps) {
        case .failure(let fault): return .failure(fault)
        case .success(let out):
            readable = readable && out.readable
            writable = writable && out.writable
            executable = executable && out.executable
            device = device || out.device
            return .success(
                TranslationResult(
                    ipa: ipa, physical: out.physical, readable: readable, writable: writable, executable: executable,
                    device: device, global: global, attributes: attributes, shareability: shareability,
                    mappingShift: mappingShift))
        }
    }

    /// The stage-2 translation fault that `translate` would return for an access to `va` with
    /// stage 1 off (flat: the IPA is the VA) when the stage-2 cache's fault memo knows it, without
    /// walking: the fast path of an MMIO exit.
    @inline(__always)
    func knownStage2FaultWithStage1Off(_ va: UInt64) -> UInt32? {
        let s = state
        guard s.pointee.sctlrEL1 & 1 == 0, s.pointee.hcrEL2 & HypervisorConfiguration.vm != 0,
            va >> Identification.physicalAddressBits == 0
        else { return nil }
        return stage2Cache.knownTranslationFault(va)
    }

    private func leafLevel(_ shift: UInt64) -> UInt64 { shift >= 39 ? 0 : 3 - (shift - 12) / 9 }

    // MARK: Stage 1

    /// The stage-1 walk (Arm ARM D5.2, `AArch64.TranslationTableWalk` for EL1&0): region
    /// selection by VA[55] (with top-byte-ignore for data), TxSZ range checks, EPDn, table,
    /// block and page descriptors, hierarchical APTable/UXNTable/PXNTable, output-address size
    /// and access flag checks. Permissions are computed for the asking privilege
    /// (`AArch64.CheckPermission`); the caller decides whether the access is allowed.
    private func stage1(
        _ va: UInt64, type: AccessType, privileged: Bool, steps: UnsafeMutablePointer<[WalkStep]>?
    ) -> Result<TranslationResult, TranslationFault> {
        let s = state.pointee
        let tcr = s.tcrEL1
        let upper = va & (1 << 55) != 0
        let tbi = type != .fetch && tcr & (upper ? 1 << 38 : 1 << 37) != 0
        let top: UInt64 = tbi ? 55 : 63
        let txsz = upper ? (tcr >> 16) & 0x3F : tcr & 0x3F
        // TxSZ outside 16...39 is CONSTRAINED UNPREDICTABLE; this core clamps it.
        let inputSize = 64 - min(max(txsz, 16), 39)
        let disabled = tcr & (upper ? 1 << 23 : 1 << 7) != 0
        // VA[top:inputSize] must be all 0 (TTBR0) or all 1 (TTBR1).
        let checkedBits = (va << (63 - top)) >> (63 - top + inputSize)
        let expected: UInt64 = upper ? (UInt64(1) << (top + 1 - inputSize)) &- 1 : 0
        if disabled || checkedBits != expected {
            return .failure(TranslationFault(stage: .one, status: FaultStatus.translation(level: 0)))
        }
        let outputSize = Self.outputSize((tcr >> 32) & 7)
        let ttbr = upper ? s.ttbr1EL1 : s.ttbr0EL1
        var level = 4 - (1 + (inputSize - 12 - 1) / 9)
        var shift = 12 + 9 * (3 - level)
        let startBits = inputSize - shift
        var table = ttbr & 0x0000_FFFF_FFFF_FFFE & ~((UInt64(8) << startBits) &- 1)
        if table >> outputSize != 0 {
            return .failure(TranslationFault(stage: .one, status: FaultStatus.addressSize(level: 0)))
        }
        var walk = Stage1Walk()
        var indexBits = startBits
        while true {
            let index = (va >> shift) & ((1 << indexBits) - 1)
            let descriptorIPA = table | index << 3
            let descriptor: UInt64
            switch readDescriptor(ipa: descriptorIPA, steps: steps, level: Int(level)) {
            case .failure(let fault): return .failure(fault)
            case .success(let value): descriptor = value
            }
            let valid = descriptor & 1 != 0
            let isTable = descriptor & 2 != 0
            if !valid || (!isTable && (level == 0 || level == 3)) {
                return .failure(TranslationFault(stage: .one, status: FaultStatus.translation(level: Int(level))))
            }
            if isTable && level < 3 {
                walk.apTable |= (descriptor >> 61) & 3
                walk.uxnTable = walk.uxnTable || descriptor & (1 << 60) != 0
                walk.pxnTable = walk.pxnTable || descriptor & (1 << 59) != 0
                table = descriptor & 0x0000_FFFF_FFFF_F000
                if table >> outputSize != 0 {
                    return .failure(
                        TranslationFault(stage: .one, status: FaultStatus.addressSize(level: Int(level))))
                }
                level += 1
                shift -= 9
                indexBits = 9
                continue
            }
            // Block or page.
            let outputBase = descriptor & 0x0000_FFFF_FFFF_F000 & ~((UInt64(1) << shift) &- 1)
            if outputBase >> outputSize != 0 {
                return .failure(TranslationFault(stage: .one, status: FaultStatus.addressSize(level: Int(level))))
            }
            if descriptor & (1 << 10) == 0 {
                return .failure(TranslationFault(stage: .one, status: FaultStatus.accessFlag(level: Int(level))))
            }
            let ap = (descriptor >> 6) & 3
            let pxn = descriptor & (1 << 53) != 0 || walk.pxnTable
            let uxn = descriptor & (1 << 54) != 0 || walk.uxnTable
            // APTable[0]: no EL0 access below; APTable[1]: no write access below.
            let el0Readable = ap & 1 != 0 && walk.apTable & 1 == 0
            let el0Writable = ap == 1 && walk.apTable & 3 == 0
            let el1Writable = ap & 2 == 0 && walk.apTable & 2 == 0
            let wxn = s.sctlrEL1 & (1 << 19) != 0
            let readable: Bool
            let writable: Bool
            var executable: Bool
            if privileged {
                readable = true
                writable = el1Writable
                // A location writable at EL0 is never executable at EL1 (Arm ARM D5.4.x).
                executable = !pxn && !(ap == 1 && walk.apTable & 3 == 0)
            } else {
                readable = el0Readable
                writable = el0Writable
                executable = !uxn
            }
            if wxn && writable { executable = false }
            let attributeIndex = (descriptor >> 2) & 7
            let attributes = UInt8(truncatingIfNeeded: s.mairEL1 >> (attributeIndex * 8))
            return .success(
                TranslationResult(
                    ipa: outputBase | (va & ((UInt64(1) << shift) &- 1)), physical: 0, readable: readable,
                    writable: writable, executable: executable, device: attributes & 0xF0 == 0,
                    global: descriptor & (1 << 11) == 0, attributes: attributes,
                    shareability: attributes & 0xF0 == 0 ? 0b10 : UInt8((descriptor >> 8) & 3), mappingShift: shift))
        }
    }

    /// Reads a stage-1 descriptor at `ipa` through stage 2; a stage-2 fault here is reported with
    /// S1PTW = 1.
    private func readDescriptor(ipa: UInt64, steps: UnsafeMutablePointer<[WalkStep]>?, level: Int)
        -> Result<UInt64, TranslationFault>
    {
        switch stage2(ipa, type: .read, walk: true, steps: steps) {
        case .failure(let fault):
            return .failure(fault)
        case .success(let out):
            guard let p = memory.pointer(out.physical, 8) else {
                return .failure(
                    TranslationFault(stage: .two, status: FaultStatus.translation(level: 0), ipa: ipa, walk: true))
            }
            let value = UInt64(littleEndian: p.load(as: UInt64.self))
            steps?.pointee.append(WalkStep(stage: .one, level: level, address: ipa, descriptor: value))
            return .success(value)
        }
    }

    // MARK: Stage 2

    /// The stage-2 walk of the highvisor's tables (VTTBR_EL2/VTCR_EL2; Arm ARM D5.2, stage 2):
    /// start level from SL0 with up to 16 concatenated tables, S2AP, XN, MemAttr, AF. With
    /// HCR_EL2.VM = 0 the IPA is the physical address. An IPA with no machine memory behind it
    /// is a translation fault at level 0 (only reachable with stage 2 off, or a broken table).
    func stage2(_ ipa: UInt64, type: AccessType, walk: Bool, steps: UnsafeMutablePointer<[WalkStep]>? = nil)
        -> Result<TranslationResult, TranslationFault>
    {
        let s = state.pointee
        func fault(_ status: UInt32) -> Result<TranslationResult, TranslationFault> {
            .failure(TranslationFault(stage: .two, status: status, ipa: ipa, walk: walk))
        }
        if s.hcrEL2 & HypervisorConfiguration.vm == 0 {
            // No stage 2: the IPA is the physical address; what is not memory is reported as a
            // level-1 translation fault, the way a 40-bit stage 2 without that entry would.
            guard memory.contains(ipa) else { return fault(FaultStatus.translation(level: 1)) }
            return .success(
                TranslationResult(
                    ipa: ipa, physical: ipa, readable: true, writable: true, executable: true, device: false,
                    global: true, attributes: 0xFF, mappingShift: 12))
        }
        if let cached = stage2Cache.lookup(ipa) {
            let permitted =
                switch type {
                case .read: cached.readable
                case .write: cached.writable
                case .fetch: cached.executable
                }
            if permitted && steps == nil { return .success(cached.result(for: ipa)) }
        } else if steps == nil, let status = stage2Cache.knownTranslationFault(ipa) {
            return fault(status)
        }
        let vtcr = s.vtcrEL2
        let inputSize = 64 - min(max(vtcr & 0x3F, 16), 39)
        if ipa >> inputSize != 0 { return fault(FaultStatus.translation(level: 0)) }
        let outputSize = Self.outputSize((vtcr >> 16) & 7)
        var level: UInt64 = 2 - min((vtcr >> 6) & 3, 2)
        var shift = 12 + 9 * (3 - level)
        // Up to 16 concatenated tables at the start level.
        guard inputSize > shift, inputSize - shift <= 13 else {
            return fault(FaultStatus.translation(level: Int(level)))
        }
        var indexBits = inputSize - shift
        var table = s.vttbrEL2 & 0x0000_FFFF_FFFF_FFFE & ~((UInt64(8) << indexBits) &- 1)
        if table >> outputSize != 0 { return fault(FaultStatus.addressSize(level: 0)) }
        while true {
            let index = (ipa >> shift) & ((1 << indexBits) - 1)
            let address = table | index << 3
            guard let p = memory.pointer(address, 8) else { return fault(FaultStatus.synchronousExternalAbort) }
            let descriptor = UInt64(littleEndian: p.load(as: UInt64.self))
            steps?.pointee.append(WalkStep(stage: .two, level: Int(level), address: address, descriptor: descriptor))
            let valid = descriptor & 1 != 0
            let isTable = descriptor & 2 != 0
            if !valid || (!isTable && (level == 0 || level == 3)) {
                let status = FaultStatus.translation(level: Int(level))
                if !valid && steps == nil { stage2Cache.noteTranslationFault(ipa, descriptor: p, status: status) }
                return fault(status)
            }
            if isTable && level < 3 {
                table = descriptor & 0x0000_FFFF_FFFF_F000
                if table >> outputSize != 0 { return fault(FaultStatus.addressSize(level: Int(level))) }
                level += 1
                shift -= 9
                indexBits = 9
                continue
            }
            let outputBase = descriptor & 0x0000_FFFF_FFFF_F000 & ~((UInt64(1) << shift) &- 1)
            if outputBase >> outputSize != 0 { return fault(FaultStatus.addressSize(level: Int(level))) }
            if descriptor & (1 << 10) == 0 { return fault(FaultStatus.accessFlag(level: Int(level))) }
            let s2ap = (descriptor >> 6) & 3
            let memAttr = (descriptor >> 2) & 0xF
            let result = TranslationResult(
                ipa: ipa, physical: outputBase | (ipa & ((UInt64(1) << shift) &- 1)), readable: s2ap & 1 != 0,
                writable: s2ap & 2 != 0, executable: descriptor & (1 << 54) == 0, device: memAttr & 0xC == 0,
                global: true, attributes: UInt8(memAttr), mappingShift: 12)
            // A debug walk (`steps` given) may run on another thread: it leaves the cache alone.
            if steps == nil { stage2Cache.insert(ipa: ipa, result) }
            let permitted =
                switch type {
                case .read: result.readable
                case .write: result.writable
                case .fetch: result.executable
                }
            if !permitted { return fault(FaultStatus.permission(level: Int(level))) }
            // Instruction fetch from stage-2 Device memory is a permission fault (Arm ARM
            // D5.5.x: Device memory is execute-never).
            if type == .fetch && result.device { return fault(FaultStatus.permission(level: Int(level))) }
            return .success(result)
        }
    }
}

/// A small cache of stage-2 page translations (IPA page → machine page with permissions), so a
/// stage-1 walk does not repeat the stage-2 walk for every descriptor (a "walk cache"). Flushed
/// with the TLB whenever the highvisor changes stage 2. Direct-mapped, in memory the owning
/// `CPU` allocates and frees.
///
/// It also remembers the last translation fault's page and the invalid descriptor that ended
/// its walk, so that repeated accesses to an unmapped page (an MMIO register, exiting on every
/// access) skip the walk. Hardware caches no faults; this memo gives the walk's answer exactly:
/// stage-2 entries only go from invalid to valid while a VM runs, and anything that takes a
/// mapping away flushes this cache with the TLB, so while that descriptor is still invalid a
/// fresh walk would stop at it with the same fault level.
struct Stage2Cache {
    struct Entry {
        var ipaPage: UInt64 = TLB.invalid
        var physicalPage: UInt64 = 0
        var readable = false
        var writable = false
        var executable = false
        var device = false

        func result(for ipa: UInt64) -> TranslationResult {
            TranslationResult(
                ipa: ipa, physical: physicalPage << 12 | (ipa & 0xFFF), readable: readable, writable: writable,
                executable: executable, device: device, global: true, attributes: device ? 0 : 0xF,
                mappingShift: 12)
        }
    }

    /// The last stage-2 translation fault (see the type's comment).
    struct FaultMemo {
        var ipaPage: UInt64 = TLB.invalid
        var descriptor: UnsafeMutableRawPointer?
        var status: UInt32 = 0
    }

    static let size = 256
    let entries: UnsafeMutablePointer<Entry>
    let faultMemo: UnsafeMutablePointer<FaultMemo>

    init() {
        entries = .allocate(capacity: Self.size)
        entries.initialize(repeating: Entry(), count: Self.size)
        faultMemo = .allocate(capacity: 1)
        faultMemo.initialize(to: FaultMemo())
    }

    func deallocate() {
        entries.deallocate()
        faultMemo.deallocate()
    }

    /// The status of the translation fault a walk of `ipa` would end in, if it is the page of
    /// the last one and the descriptor that ended that walk is still invalid.
    @inline(__always)
    func knownTranslationFault(_ ipa: UInt64) -> UInt32? {
        let memo = faultMemo.pointee
        guard memo.ipaPage == ipa >> 12, let descriptor = memo.descriptor,
            UInt64(littleEndian: descriptor.load(as: UInt64.self)) & 1 == 0
        else { return nil }
        return memo.status
    }

    func noteTranslationFault(_ ipa: UInt64, descriptor: UnsafeMutableRawPointer, status: UInt32) {
        faultMemo.pointee = FaultMemo(ipaPage: ipa >> 12, descriptor: descriptor, status: status)
    }

    @inline(__always)
    private func slot(_ ipa: UInt64) -> UnsafeMutablePointer<Entry> {
        entries + Int(truncatingIfNeeded: (ipa >> 12) & UInt64(Self.size - 1))
    }

    func lookup(_ ipa: UInt64) -> Entry? {
        let e = slot(ipa).pointee
        return e.ipaPage == ipa >> 12 ? e : nil
    }

    func insert(ipa: UInt64, _ result: TranslationResult) {
        slot(ipa).pointee = Entry(
            ipaPage: ipa >> 12, physicalPage: result.physical >> 12, readable: result.readable,
            writable: result.writable, executable: result.executable, device: result.device)
    }

    func invalidateAll() {
        entries.update(repeating: Entry(), count: Self.size)
        faultMemo.pointee = FaultMemo()
    }
}
