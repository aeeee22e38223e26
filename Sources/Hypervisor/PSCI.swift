import AArch64

/// The Power State Coordination Interface 1.0 and SMCCC 1.1 calls the highvisor answers over the
/// HVC conduit (Arm DEN0022 PSCI; DEN0028 SMCCC; Linux `include/uapi/linux/psci.h`).
///
/// W0 holds the function ID, results go to X0. Issue "Interrupt and timer virtualization, PSCI
/// and SMP" adds CPU_ON/CPU_OFF/CPU_SUSPEND for secondary vCPUs.
public enum PSCI {
    public enum Function {
        public static let version: UInt32 = 0x8400_0000
        public static let cpuSuspend32: UInt32 = 0x8400_0001
        public static let cpuOff: UInt32 = 0x8400_0002
        public static let cpuOn32: UInt32 = 0x8400_0003
        public static let affinityInfo32: UInt32 = 0x8400_0004
        public static let migrateInfoType: UInt32 = 0x8400_0006
        public static let systemOff: UInt32 = 0x8400_0008
        public static let systemReset: UInt32 = 0x8400_0009
        public static let features: UInt32 = 0x8400_000A
        public static let cpuOn64: UInt32 = 0xC400_0003
        public static let affinityInfo64: UInt32 = 0xC400_0004
        public static let smcccVersion: UInt32 = 0x8000_0000
        public static let smcccArchFeatures: UInt32 = 0x8000_0001
    }

    public enum ReturnCode {
        public static let success: Int64 = 0
        public static let notSupported: Int64 = -1
        public static let invalidParameters: Int64 = -2
        public static let alreadyOn: Int64 = -4
    }

    /// PSCI 1.0.
    public static let versionValue: UInt64 = 0x0001_0000
    /// SMCCC 1.1.
    public static let smcccVersionValue: UInt64 = 0x0001_0001
    /// MIGRATE_INFO_TYPE: no trusted OS that needs migration (what KVM answers).
    public static let noTrustedOS: UInt64 = 2

    static let implemented: Set<UInt32> = [
        Function.version, Function.affinityInfo32, Function.affinityInfo64, Function.cpuOn32, Function.cpuOn64,
        Function.migrateInfoType, Function.systemOff, Function.systemReset, Function.features,
        Function.smcccVersion,
    ]

    public static func handleCall(_ vcpu: VCPU) -> ExitDisposition {
        let cpu = vcpu.cpu
        let function = UInt32(truncatingIfNeeded: cpu.x(0))
        func result(_ value: Int64) -> ExitDisposition {
            cpu.setX(0, UInt64(bitPattern: value))
            return .resume
        }
        switch function {
        case Function.version: return result(Int64(versionValue))
        case Function.smcccVersion: return result(Int64(smcccVersionValue))
        case Function.features:
            let queried = UInt32(truncatingIfNeeded: cpu.x(1))
            return result(implemented.contains(queried) ? ReturnCode.success : ReturnCode.notSupported)
        case Function.migrateInfoType: return result(Int64(noTrustedOS))
        case Function.affinityInfo32, Function.affinityInfo64:
            // Only affinity level 0 of vCPUs that exist; every vCPU of a 1-vCPU VM is ON (0).
            let target = cpu.x(1) & 0xFF_00FF_FFFF
            guard cpu.x(2) == 0 else { return result(ReturnCode.invalidParameters) }
            return result(vcpu.vm?.vcpu(mpidr: target) != nil ? 0 : ReturnCode.invalidParameters)
        case Function.cpuOn32, Function.cpuOn64:
            let target = cpu.x(1) & 0xFF_00FF_FFFF
            guard vcpu.vm?.vcpu(mpidr: target) != nil else { return result(ReturnCode.invalidParameters) }
            return result(ReturnCode.alreadyOn)
        case Function.systemOff:
            return .stop(.poweroff, detail: "PSCI SYSTEM_OFF")
        case Function.systemReset:
            return .stop(.reset, detail: "PSCI SYSTEM_RESET")
        default:
            return result(ReturnCode.notSupported)
        }
    }
}
