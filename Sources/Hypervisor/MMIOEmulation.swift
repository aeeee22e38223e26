import AArch64

/// Emulation of a guest load or store that hit an MMIO window (KVM `io_mem_abort`): the access is
/// decoded from the data-abort ISS (ISV, SAS, SSE, SRT, SF, WnR; Arm ARM D17.2.37), performed on
/// the bus synchronously on the vCPU's thread, and the load result written back to Rt.
public enum MMIOEmulation {
    /// ESR_EL2.ISS bits of a data abort this path reads (Arm ARM D17.2.37).
    private static let instructionSyndromeValid: UInt32 = 1 << 24
    private static let stage1Walk: UInt32 = 1 << 7
    private static let cacheMaintenance: UInt32 = 1 << 8

    /// Emulates the data abort recorded in `vcpu.cpu` on the bus. `outsideMemory`: the caller
    /// has established that the IPA is in no memory slot, so the window it resolves to may be
    /// remembered in `vcpu.mmioRoutes` for the next access.
    public static func handle(_ vcpu: VCPU, outsideMemory: Bool = false) -> ExitDisposition {
        let cpu = vcpu.cpu
        let s = cpu.state.pointee
        let iss = Syndrome.iss(s.exitSyndrome)
        let far = s.exitFaultAddress
        let ipa = Syndrome.ipa(hpfar: s.exitIPAPage, far: far)
        guard iss & instructionSyndromeValid != 0 else {
            // ISV=0 (pairs, writeback forms): no syndrome to emulate from. Issue "Memory
            // virtualization" decodes the instruction instead; until then the guest gets an
            // external abort, as on KVM without KVM_CAP_ARM_NISV_TO_USER.
            vcpu.counters.increment(.mmioUnclaimed)
            ExitHandlers.injectDataAbort(vcpu, address: far, write: iss & (1 << 6) != 0)
            return .resume
        }
        // (A remembered window was already tried by `handleKnownWindow` on the data-abort path.)
        guard let (device, offset, window) = vcpu.bus.resolve(ipa) else {
            vcpu.counters.increment(.mmioUnclaimed)
            ExitHandlers.injectDataAbort(vcpu, address: far, write: iss & (1 << 6) != 0)
            return .resume
        }
        let route = MMIORouteCache.Route(
            base: ipa &- offset, size: vcpu.bus.windows[window].size, window: window, device: device)
        if outsideMemory { vcpu.mmioRoutes.insert(route, for: ipa) }
        return perform(vcpu, iss: iss, route: route, offset: offset)
    }

    /// The MMIO fast path of a stage-2 data abort: a single-register access (ISV set, neither a
    /// stage-1 walk nor cache maintenance) to a window an earlier exit of this vCPU found
    /// outside memory needs neither the memory-slot search of `Stage2Faults` nor the bus's
    /// binary search. Nil when the abort is not such an access.
    @inline(__always)
    static func handleKnownWindow(_ vcpu: VCPU) -> ExitDisposition? {
        let s = vcpu.cpu.state.pointee
        let iss = Syndrome.iss(s.exitSyndrome)
        guard iss & (instructionSyndromeValid | stage1Walk | cacheMaintenance) == instructionSyndromeValid else {
            return nil
        }
        let ipa = Syndrome.ipa(hpfar: s.exitIPAPage, far: s.exitFaultAddress)
        guard let route = vcpu.mmioRoutes.route(containing: ipa) else { return nil }
        return perform(vcpu, iss: iss, route: route, offset: ipa &- route.base)
    }

    /// The access itself, on the device of `route` at `offset`.
    private static func perform(_ vcpu: VCPU, iss: UInt32, route: MMIORouteCache.Route, offset: UInt64)
        -> ExitDisposition
    {
        let cpu = vcpu.cpu
        let size = 1 << Int((iss >> 22) & 3)
        let rt = Int((iss >> 16) & 31)
        vcpu.counters.countMMIO(window: route.window)
        if iss & (1 << 6) != 0 {
            let value = size == 8 ? cpu.x(rt) : cpu.x(rt) & ((1 << UInt64(size * 8)) - 1)
            vcpu.counters.increment(.mmioWrites)
            route.device.busWrite(offset: offset, size: size, value: value, by: vcpu)
        } else {
            var value = route.device.busRead(offset: offset, size: size, by: vcpu)
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

/// The MMIO windows a vCPU's exits resolved recently, direct-mapped by IPA page (a cache of
/// `MMIOBus.resolve`; an entry is used only for an address inside its window). Only windows of
/// addresses outside every memory slot are entered, and a VM's slots and windows are fixed when
/// it is built, so an entry never goes stale. Used by its vCPU's thread only.
struct MMIORouteCache: ~Copyable {
    struct Route {
        var base: UInt64
        var size: UInt64
        /// The window's index on the bus (per-device exit counts).
        var window: Int
        /// The window's device: the bus holds it for the vCPU's life, so the route borrows it.
        unowned(unsafe) var device: any MMIODevice
    }

    private static let entryCount = 16
    private let entries: UnsafeMutablePointer<Route?>

    init() {
        entries = .allocate(capacity: Self.entryCount)
        entries.initialize(repeating: nil, count: Self.entryCount)
    }

    deinit { entries.deallocate() }

    @inline(__always)
    private func slot(_ ipa: UInt64) -> UnsafeMutablePointer<Route?> {
        entries + Int(truncatingIfNeeded: (ipa >> 12) & UInt64(Self.entryCount - 1))
    }

    @inline(__always)
    func route(containing ipa: UInt64) -> Route? {
        guard let route = slot(ipa).pointee, ipa &- route.base < route.size else { return nil }
        return route
    }

    func insert(_ route: Route, for ipa: UInt64) { slot(ipa).pointee = route }
}
