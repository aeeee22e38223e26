import AArch64

/// The Power State Coordination Interface 1.0 and SMCCC 1.1 calls the highvisor answers (Arm
/// DEN0022 PSCI; DEN0028 SMCCC; Linux `include/uapi/linux/psci.h`; KVM `arch/arm64/kvm/psci.c`),
/// over HVC, or over SMC when the VM is configured with `psci = "smc"`.
///
/// W0 holds the function ID, arguments X1–X3, results go to X0. Secondary vCPUs start powered
/// off; CPU_ON brings one up at its entry point with the context ID in X0 (`VirtualMachine
/// .powerOn`), CPU_OFF takes the caller down, CPU_SUSPEND is a standby (it sleeps as WFI does),
/// AFFINITY_INFO reports the power state of the vCPUs an affinity selects.
public enum PSCI {
    /// The stop detail of a guest-requested SYSTEM_RESET (a reboot: `armvisor run` and the
    /// daemon boot the VM again).
    public static let systemResetDetail = "PSCI SYSTEM_RESET"

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
        public static let cpuSuspend64: UInt32 = 0xC400_0001
        public static let cpuOn64: UInt32 = 0xC400_0003
        public static let affinityInfo64: UInt32 = 0xC400_0004
        public static let smcccVersion: UInt32 = 0x8000_0000
        public static let smcccArchFeatures: UInt32 = 0x8000_0001
    }

    public enum ReturnCode {
        public static let success: Int64 = 0
        public static let notSupported: Int64 = -1
        public static let invalidParameters: Int64 = -2
        public static let denied: Int64 = -3
        public static let alreadyOn: Int64 = -4
        public static let onPending: Int64 = -5
        public static let internalFailure: Int64 = -6
        public static let invalidAddress: Int64 = -9
    }

    /// AFFINITY_INFO results (DEN0022 5.1.8).
    public enum AffinityState {
        public static let on: Int64 = 0
        public static let off: Int64 = 1
        public static let onPending: Int64 = 2
    }

    /// PSCI 1.0.
    public static let versionValue: UInt64 = 0x0001_0000
    /// SMCCC 1.1.
    public static let smcccVersionValue: UInt64 = 0x0001_0001
    /// MIGRATE_INFO_TYPE: no trusted OS that needs migration (what KVM answers).
    public static let noTrustedOS: UInt64 = 2
    /// The affinity fields of MPIDR_EL1 (Aff3 [39:32], Aff2–Aff0 [23:0]).
    public static let affinityMask: UInt64 = 0xFF_00FF_FFFF

    static let implemented: Set<UInt32> = [
        Function.version, Function.cpuSuspend32, Function.cpuSuspend64, Function.cpuOff, Function.cpuOn32,
        Function.cpuOn64, Function.affinityInfo32, Function.affinityInfo64, Function.migrateInfoType,
        Function.systemOff, Function.systemReset, Function.features, Function.smcccVersion,
        Function.smcccArchFeatures,
    ]

    public static func handleCall(_ vcpu: VCPU) -> ExitDisposition {
        let cpu = vcpu.cpu
        let function = UInt32(truncatingIfNeeded: cpu.x(0))
        // SMC32/HVC32 calls take 32-bit arguments (SMCCC 2.6): the upper halves are ignored.
        let is64 = function & 0x4000_0000 != 0
        func argument(_ n: Int) -> UInt64 { is64 ? cpu.x(n) : cpu.x(n) & 0xFFFF_FFFF }
        func result(_ value: Int64) -> ExitDisposition {
            cpu.setX(0, UInt64(bitPattern: value))
            return .resume
        }
        switch function {
        case Function.version: return result(Int64(versionValue))
        case Function.smcccVersion: return result(Int64(smcccVersionValue))
        case Function.smcccArchFeatures:
            // SMCCC_ARCH_FEATURES(SMCCC_ARCH_FEATURES) is implemented; the Spectre workarounds
            // (ARCH_WORKAROUND_1/2/3) are not needed by an emulated core and not offered.
            let queried = UInt32(truncatingIfNeeded: cpu.x(1))
            return result(queried == Function.smcccArchFeatures ? ReturnCode.success : ReturnCode.notSupported)
        case Function.features:
            let queried = UInt32(truncatingIfNeeded: cpu.x(1))
            // CPU_SUSPEND's feature flags: the original power_state format (bit 1 = 0), no
            // OS-initiated mode (bit 0 = 0).
            return result(implemented.contains(queried) ? ReturnCode.success : ReturnCode.notSupported)
        case Function.migrateInfoType: return result(Int64(noTrustedOS))
        case Function.affinityInfo32, Function.affinityInfo64:
            let level = argument(2)
            guard level <= 3 else { return result(ReturnCode.invalidParameters) }
            // The VM only for the calls about other vCPUs: every other call, the unknown ones
            // included, leaves its weak reference alone (`VCPU.stage2`).
            guard let vm = vcpu.vm else { return result(ReturnCode.internalFailure) }
            return result(vm.affinityInfo(target: argument(1), lowestLevel: Int(level)))
        case Function.cpuOn32, Function.cpuOn64:
            guard let vm = vcpu.vm else { return result(ReturnCode.internalFailure) }
            return result(vm.powerOn(target: argument(1), entry: argument(2), context: argument(3)))
        case Function.cpuOff:
            return .powerOff
        case Function.cpuSuspend32, Function.cpuSuspend64:
            // A standby state (power_state.StateType = 0) or a power-down one: both return to the
            // caller as a standby would, the simplification KVM makes (kvm_psci_vcpu_suspend).
            cpu.setX(0, UInt64(bitPattern: ReturnCode.success))
            return .suspend
        case Function.systemOff:
            return .stop(.poweroff, detail: "PSCI SYSTEM_OFF")
        case Function.systemReset:
            return .stop(.reset, detail: systemResetDetail)
        default:
            return result(ReturnCode.notSupported)
        }
    }
}
