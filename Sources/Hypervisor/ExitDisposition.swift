/// What the highvisor decides after handling an exit (KVM's `handle_exit` return value).
public enum ExitDisposition: Sendable, Equatable {
    /// Re-enter the guest at the PC the exit left (re-execute, or continue after HVC).
    case resume
    /// The trapped instruction was emulated: PC += 4, then re-enter.
    case skipInstruction
    /// A trapped WFI: sleep until an interrupt is pending or the vCPU is kicked, then skip it.
    case waitForInterrupt
    /// A trapped WFE (HCR_EL2.TWE, ESR ISS.TI = 1) with the event register clear: sleep until a
    /// WFE wake-up event (an SEV from another vCPU, the exclusive monitor cleared, an interrupt
    /// pending, a kick), then skip it.
    case waitForEvent
    /// PSCI CPU_SUSPEND: sleep as for WFI, then re-enter at the PC the exit left (after the HVC).
    case suspend
    /// PSCI CPU_OFF: this vCPU leaves its loop powered off until a CPU_ON names it.
    case powerOff
    /// Stop the whole VM.
    case stop(StopReason, detail: String)
}

/// Why a VM stopped (the control protocol's `stopped{reason}`).
public enum StopReason: String, Codable, Sendable, Equatable {
    /// PSCI SYSTEM_OFF.
    case poweroff
    /// PSCI SYSTEM_RESET with the VM configured to stop on reset.
    case reset
    /// Stopped from outside (`stop`, `kill`, daemon shutdown).
    case killed
    /// The guest did something it cannot recover from (e.g. its exception vector is not in RAM).
    case guestFault = "guest-fault"
    /// The host failed (it never means the guest is to blame).
    case error
}

/// How a VM ended: the reason and, for faults and errors, a one-line explanation.
public struct StopRecord: Codable, Sendable, Equatable {
    public var reason: StopReason
    public var detail: String

    public init(reason: StopReason, detail: String = "") {
        self.reason = reason
        self.detail = detail
    }
}
