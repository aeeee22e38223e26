import Hypervisor
import Synchronization

/// Arm PrimeCell Real Time Clock PL031 (Arm DDI 0224; QEMU `hw/rtc/pl031.c`), the `virt`
/// board's RTC at 0x0901_0000 on SPI 2, as Linux's `rtc-pl031` drives it.
///
/// RTCDR counts seconds: seeded from the host's wall clock when the device is built, then
/// advancing with the VM's clock (`DeviceClock`). RTCLR loads a new count (RTCDR reads it back
/// from then on, still advancing); RTCMR is the match value, and the match interrupt (RTCRIS bit
/// 0) is raised the moment the count equals it — at once when it already does. RTCIMSC masks it
/// onto RTCINTR, RTCMIS = RIS & IMSC, a write to RTCICR clears the RIS bits it sets. The counter
/// is always running: RTCCR reads 1 and writes are ignored (TRM 3.3.4: once started, RTCCR.RTCStart
/// cannot be cleared; QEMU does the same). Writes to read-only registers and unknown offsets are
/// ignored, reads of them return 0.
public final class PL031: MMIODevice {
    public let name = "pl031"

    enum Register: UInt64 {
        case dr = 0x00
        case mr = 0x04
        case lr = 0x08
        case cr = 0x0C
        case imsc = 0x10
        case ris = 0x14
        case mis = 0x18
        case icr = 0x1C
    }

    /// RTCPeriphID0–3 then RTCPCellID0–3 at 0xFE0–0xFFC: part 0x031, designer 'A' (0x41),
    /// revision 1 — peripheral ID 0x00141031 — and the PrimeCell ID 0xB105F00D that Linux's AMBA
    /// bus checks before it matches `rtc-pl031`.
    static let identification: [UInt64] = [0x31, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1]

    private static let nanosecondsPerSecond: UInt64 = 1_000_000_000

    private struct State {
        /// RTCDR = `tickOffset` + the VM clock's whole seconds (modulo 2^32, as the counter wraps).
        var tickOffset: UInt32
        var match: UInt32 = 0
        var load: UInt32 = 0
        var mask: UInt32 = 0
        var raw: UInt32 = 0
        /// The pending match alarm, and a generation number that makes a stale one harmless.
        var alarm: (any DeviceAlarm)?
        var alarmGeneration: UInt64 = 0
        var handler: (@Sendable (Bool) -> Void)?
        var level = false
    }

    private let clock: any DeviceClock
    private let state: Mutex<State>

    /// The PL031 is a 32-bit APB peripheral: a 64-bit access is two 32-bit ones.
    public var maximumAccessSize: Int { 4 }

    /// `wallClockSeconds` seeds RTCDR (default: the clock's wall-clock time now).
    public init(clock: any DeviceClock = HostDeviceClock(), wallClockSeconds: UInt64? = nil) {
        self.clock = clock
        let seconds = wallClockSeconds ?? clock.wallClockSeconds()
        let elapsed = clock.nanoseconds() / Self.nanosecondsPerSecond
        state = Mutex(State(tickOffset: UInt32(truncatingIfNeeded: seconds &- elapsed)))
    }

    deinit {
        state.withLock { $0.alarm?.cancel() }
    }

    /// The RTCINTR output (RIS & IMSC ≠ 0), wired by the board to the GIC. Called with the
    /// device's lock held whenever the level changes (the GIC's lock is a leaf below it).
    public var interruptLine: (@Sendable (Bool) -> Void)? {
        get { state.withLock { $0.handler } }
        set { state.withLock { $0.handler = newValue } }
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        if offset >= 0xFE0 && offset < 0x1000 {
            return offset & 3 == 0 ? Self.identification[Int((offset - 0xFE0) >> 2)] : 0
        }
        guard let register = Register(rawValue: offset) else { return 0 }
        return state.withLock { s in
            switch register {
            case .dr: return UInt64(count(s))
            case .mr: return UInt64(s.match)
            case .lr: return UInt64(s.load)
            case .cr: return 1
            case .imsc: return UInt64(s.mask)
            case .ris: return UInt64(s.raw)
            case .mis: return UInt64(s.raw & s.mask)
            case .icr: return 0
            }
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard let register = Register(rawValue: offset) else { return }
        let v = UInt32(truncatingIfNeeded: value)
        state.withLock { s in
            switch register {
            case .lr:
                s.load = v
                s.tickOffset = s.tickOffset &+ (v &- count(s))
                armMatch(&s)
            case .mr:
                s.match = v
                armMatch(&s)
            case .imsc: s.mask = v & 1
            case .icr: s.raw &= ~v
            case .cr, .dr, .ris, .mis: break
            }
            updateLine(&s)
        }
    }

    private func count(_ s: State) -> UInt32 {
        s.tickOffset &+ UInt32(truncatingIfNeeded: clock.nanoseconds() / Self.nanosecondsPerSecond)
    }

    /// Raises the match interrupt now if the count equals RTCMR, or sets an alarm for the second
    /// boundary where it will (the count wraps, so a match value behind it is 2^32 − n seconds
    /// away, as on the hardware).
    private func armMatch(_ s: inout State) {
        s.alarm?.cancel()
        s.alarm = nil
        s.alarmGeneration &+= 1
        let now = clock.nanoseconds()
        let ticks = s.match &- (s.tickOffset &+ UInt32(truncatingIfNeeded: now / Self.nanosecondsPerSecond))
        if ticks == 0 {
            s.raw |= 1
            return
        }
        let deadline = (now / Self.nanosecondsPerSecond + UInt64(ticks)) * Self.nanosecondsPerSecond
        let generation = s.alarmGeneration
        s.alarm = clock.schedule(at: deadline) { [weak self] in self?.matchReached(generation: generation) }
    }

    private func matchReached(generation: UInt64) {
        state.withLock { s in
            guard s.alarmGeneration == generation else { return }
            s.alarm = nil
            s.raw |= 1
            updateLine(&s)
        }
    }

    private func updateLine(_ s: inout State) {
        let level = s.raw & s.mask != 0
        guard level != s.level else { return }
        s.level = level
        s.handler?(level)
    }
}
