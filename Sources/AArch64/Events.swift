import Atomics

/// The Wait For Event mechanism across cores (Arm ARM D1.16 "Mechanisms for entering a low-power
/// state"): each PE has an event register, set by SEVL (locally), by SEV on any PE of the
/// system, by an exception return, and by the clearing of its global exclusive monitor; WFE
/// clears it, or waits for a WFE wake-up event when it is clear. Waiting is the highvisor's
/// business (HCR_EL2.TWE traps the WFE, EC 0x01 with ISS.TI = 1); the core only keeps the
/// register and carries events posted by other threads.
extension CPU {
    /// SEV (Arm ARM C6.2 SEV): sets this PE's event register and sends the event to the other
    /// PEs of the VM through the highvisor (`broadcastEvent`).
    @inline(never)
    func sendEvent() {
        state.pointee.eventRegister = true
        broadcastEvent?()
    }

    /// Sets this core's event register on behalf of another PE's SEV: at its next block
    /// boundary while it runs, or through `consumeEvent` while its WFE is trapped. Thread-safe.
    public func postEvent() {
        _ = requests.loadThenBitwiseOr(with: Self.eventRequest, ordering: .sequentiallyConsistent)
    }

    /// For a trapped WFE: true, and the event register cleared, when an event is set (locally or
    /// posted by another PE), so the WFE completes at once. Only the core's own thread calls it.
    public func consumeEvent() -> Bool {
        let posted =
            requests.loadThenBitwiseAnd(with: ~Self.eventRequest, ordering: .sequentiallyConsistent) & Self.eventRequest
        if posted != 0 || state.pointee.eventRegister {
            state.pointee.eventRegister = false
            return true
        }
        return false
    }

    /// True while the local exclusive monitor is armed (a load-exclusive without its store):
    /// the case where a waiter in WFE expects the global monitor to wake it.
    public var exclusiveMonitorArmed: Bool { state.pointee.exclusiveArmed && state.pointee.exclusiveHost != 0 }

    /// True when the bytes the armed load-exclusive read have changed since: another PE stored to
    /// them, which on hardware clears the global monitor and is a WFE wake-up event (Arm ARM
    /// D1.16.2). The monitor is the value, as for the store-exclusive (`executeOrderedAccess`).
    public var exclusiveMonitorCleared: Bool {
        let s = state.pointee
        guard s.exclusiveArmed, let p = UnsafeMutableRawPointer(bitPattern: s.exclusiveHost) else { return false }
        if s.exclusiveSize == 16 {
            let (low, high) = Self.atomicLoad(p, sizeLog2: 3, pair: true)
            return low != s.exclusiveValue || high != s.exclusiveValue2
        }
        let sizeLog2 = UInt8(truncatingIfNeeded: max(s.exclusiveSize, 1).trailingZeroBitCount)
        return Self.atomicLoad(p, sizeLog2: sizeLog2, pair: false).0 != s.exclusiveValue
    }
}

/// Completing broadcast maintenance (Arm ARM D7.4.4 / D8.13 "TLB maintenance": a TLBI ... IS
/// or IC IVAU/IALLUIS is complete for every PE of the shareability domain only once a DSB
/// after it has completed). The issuing core asks the others to drop their entries at their
/// next block boundary (`requestTLBInvalidation`, `requestCodeInvalidation`) and marks
/// `broadcastPending`; its next barrier calls this, which waits through the highvisor until
/// each other core has acknowledged (serviced the request, or is outside `run`, where it
/// services it before running guest code again). A core that is itself waiting counts as
/// acknowledged, and drops what it was asked to drop before it goes on, so two cores
/// broadcasting at once do not wait for each other.
extension CPU {
    @inline(never)
    func completeBroadcasts() {
        state.pointee.broadcastPending = false
        awaitBroadcastCompletion?()
        serviceInvalidationsWhileWaiting()
    }

    /// True while another thread's invalidation request (TLB, stage 2, decoded code) waits for
    /// this core's next block boundary. Thread-safe.
    public var hasPendingInvalidation: Bool {
        requests.load(ordering: .sequentiallyConsistent)
            & (Self.tlbInvalidationRequest | Self.invalidationRequest | Self.codeInvalidationRequest) != 0
    }

    /// Drops the translations other cores asked this one to drop while it waited in a barrier
    /// (it counted as acknowledged there). Decoded code is left to the next block boundary,
    /// which the guest's ISB after its DSB reaches: until a context synchronization event a PE
    /// may run instructions fetched before the invalidation (Arm ARM B2.4.x).
    private func serviceInvalidationsWhileWaiting() {
        serviceTranslationRequests(requests.load(ordering: .sequentiallyConsistent))
    }
}
