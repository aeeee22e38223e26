import AArch64

/// A debug view of how one guest virtual address translates on one vCPU: every descriptor the
/// stage-1 and stage-2 walks read, and the outcome (the `translate` control command and
/// `armvisor translate`). Reading it walks the tables as the core would, without touching the
/// TLB, without faulting the guest and without mapping anything.
public struct TranslationDump: Codable, Sendable, Equatable {
    public struct Step: Codable, Sendable, Equatable {
        /// 1 or 2.
        public var stage: Int
        public var level: Int
        /// Where the descriptor was read: an IPA (stage 1) or a machine-physical address (stage 2).
        public var address: UInt64
        public var descriptor: UInt64
    }

    public var virtualAddress: UInt64
    public var exceptionLevel: Int
    /// True when SCTLR_EL1.M is set (stage 1 on).
    public var stage1Enabled: Bool
    public var steps: [Step] = []
    /// Set on success.
    public var ipa: UInt64?
    public var physical: UInt64?
    public var readable: Bool?
    public var writable: Bool?
    public var executable: Bool?
    public var device: Bool?
    public var global: Bool?
    /// Set on failure: `stage-1 translation fault, level 2` and the like.
    public var fault: String?
}

extension VirtualMachine {
    /// Walks `address` on vCPU `index` as a data read at the vCPU's current EL. Intended for a
    /// paused or stopped VM; on a running one the registers may change under the walk (which
    /// only reads guest memory, so it is safe, just not a snapshot).
    public func translationDump(of address: UInt64, vcpu index: Int = 0) -> TranslationDump? {
        guard vcpus.indices.contains(index) else { return nil }
        let cpu = vcpus[index].cpu
        let s = cpu.state.pointee
        var dump = TranslationDump(
            virtualAddress: address, exceptionLevel: Int(s.exceptionLevel), stage1Enabled: s.sctlrEL1 & 1 != 0)
        var steps: [WalkStep] = []
        let outcome = cpu.translate(address, type: .read, privileged: s.exceptionLevel != 0, steps: &steps)
        dump.steps = steps.map {
            TranslationDump.Step(
                stage: $0.stage == .one ? 1 : 2, level: $0.level, address: $0.address, descriptor: $0.descriptor)
        }
        switch outcome {
        case .success(let r):
            dump.ipa = r.ipa
            dump.physical = r.physical
            dump.readable = r.readable
            dump.writable = r.writable
            dump.executable = r.executable
            dump.device = r.device
            dump.global = r.global
        case .failure(let f):
            dump.ipa = f.stage == .two ? f.ipa : nil
            dump.fault = Self.describe(f)
        }
        return dump
    }

    static func describe(_ fault: TranslationFault) -> String {
        let kind: String
        switch fault.status & 0x3C {
        case 0x00: kind = "address size fault"
        case 0x04: kind = "translation fault"
        case 0x08: kind = "access flag fault"
        case 0x0C: kind = "permission fault"
        default: kind = fault.status == FaultStatus.alignment ? "alignment fault" : "external abort"
        }
        let stage = fault.stage == .one ? "stage-1" : "stage-2"
        let walk = fault.walk ? " on a stage-1 table walk" : ""
        return "\(stage) \(kind), level \(fault.level)\(walk)"
    }
}
