import Hypervisor
import Synchronization

/// Arm PrimeCell General Purpose Input/Output PL061 (Arm DDI 0190; QEMU `hw/gpio/pl061.c`),
/// the `virt` board's GPIO controller at 0x0903_0000 on SPI 7, with its eight lines as Linux's
/// `gpio-pl061` drives them. Pin 3 carries the power button (`GPIOKey`).
///
/// GPIODATA is addressed through a mask: address bits [9:2] select which lines an access sees
/// (TRM 3.3.1), so a read returns DATA & mask and a write changes only the masked lines that
/// are outputs (GPIODIR = 1). Lines that are inputs follow `setInput`. Interrupts (TRM 3.3.3–3.3.9):
/// GPIOIS selects level (1) or edge (0) sensing, GPIOIBE both edges, GPIOIEV the rising edge or
/// high level (1) or falling edge or low level (0); GPIORIS latches detected events, GPIOIE masks
/// them onto GPIOINTR (GPIOMIS = RIS & IE), a write to GPIOIC clears edge events (a level that is
/// still asserted sets RIS again at once). GPIOAFSEL is kept and has no effect: nothing else
/// drives the lines. The virt board's instance has no pull-ups (QEMU sets `pullups = 0`), so
/// nothing changes on an input line until something drives it.
public final class PL061: MMIODevice {
    public let name = "pl061"

    enum Register: UInt64 {
        case dir = 0x400
        case interruptSense = 0x404
        case bothEdges = 0x408
        case event = 0x40C
        case interruptEnable = 0x410
        case rawStatus = 0x414
        case maskedStatus = 0x418
        case interruptClear = 0x41C
        case alternateFunction = 0x420
    }

    /// GPIOPeriphID0–3 and GPIOPCellID0–3 at 0xFE0–0xFFC, after four reserved words at 0xFD0:
    /// peripheral ID 0x00041061 (part 0x061, designer 'A', revision 0) and the PrimeCell ID
    /// 0xB105F00D.
    static let identification: [UInt64] = [0, 0, 0, 0, 0x61, 0x10, 0x04, 0x00, 0x0D, 0xF0, 0x05, 0xB1]

    /// Number of lines.
    public static let lineCount = 8

    private struct State {
        var data: UInt8 = 0
        var dir: UInt8 = 0
        var interruptSense: UInt8 = 0
        var bothEdges: UInt8 = 0
        var event: UInt8 = 0
        var interruptEnable: UInt8 = 0
        var rawStatus: UInt8 = 0
        var alternateFunction: UInt8 = 0
        /// The input lines' values when the interrupt logic last looked (edge detection).
        var previousInputs: UInt8 = 0
        var handler: (@Sendable (Bool) -> Void)?
        var level = false

        /// Detects edges on input lines and asserted levels, then drives GPIOINTR (QEMU
        /// `pl061_update`).
        mutating func update() {
            let inputs = ~dir
            let changed = (previousInputs ^ data) & inputs
            if changed != 0 {
                previousInputs = data
                let edgeSensed = changed & ~interruptSense
                // Any edge where IBE is set; otherwise only the edge GPIOIEV selects.
                rawStatus |= edgeSensed & (bothEdges | ~(data ^ event))
            }
            rawStatus |= ~(data ^ event) & interruptSense
            let newLevel = rawStatus & interruptEnable != 0
            guard newLevel != level else { return }
            level = newLevel
            handler?(newLevel)
        }
    }

    private let state = Mutex(State())

    /// The PL061 is a 32-bit APB peripheral: a 64-bit access is two 32-bit ones.
    public var maximumAccessSize: Int { 4 }

    public init() {}

    /// The GPIOINTR output (RIS & IE ≠ 0), wired by the board to the GIC. Called with the
    /// device's lock held whenever the level changes (the GIC's lock is a leaf below it).
    public var interruptLine: (@Sendable (Bool) -> Void)? {
        get { state.withLock { $0.handler } }
        set { state.withLock { $0.handler = newValue } }
    }

    /// Drives input line `pin` (0–7) from outside the chip; ignored while the line is an output
    /// (the PL061 drives it then), as in QEMU `pl061_set_irq`.
    public func setInput(pin: Int, level: Bool) {
        guard (0..<Self.lineCount).contains(pin) else { return }
        let bit = UInt8(1) << UInt8(pin)
        state.withLock { s in
            guard s.dir & bit == 0 else { return }
            s.data = level ? s.data | bit : s.data & ~bit
            s.update()
        }
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        if offset < 0x400 {
            return state.withLock { UInt64($0.data & UInt8(truncatingIfNeeded: offset >> 2)) }
        }
        if offset >= 0xFD0 && offset < 0x1000 {
            return offset & 3 == 0 ? Self.identification[Int((offset - 0xFD0) >> 2)] : 0
        }
        guard let register = Register(rawValue: offset) else { return 0 }
        return state.withLock { s in
            switch register {
            case .dir: return UInt64(s.dir)
            case .interruptSense: return UInt64(s.interruptSense)
            case .bothEdges: return UInt64(s.bothEdges)
            case .event: return UInt64(s.event)
            case .interruptEnable: return UInt64(s.interruptEnable)
            case .rawStatus: return UInt64(s.rawStatus)
            case .maskedStatus: return UInt64(s.rawStatus & s.interruptEnable)
            case .interruptClear: return 0
            case .alternateFunction: return UInt64(s.alternateFunction)
            }
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let v = UInt8(truncatingIfNeeded: value)
        if offset < 0x400 {
            state.withLock { s in
                let mask = UInt8(truncatingIfNeeded: offset >> 2) & s.dir
                s.data = (s.data & ~mask) | (v & mask)
                s.update()
            }
            return
        }
        guard let register = Register(rawValue: offset) else { return }
        state.withLock { s in
            switch register {
            case .dir: s.dir = v
            case .interruptSense: s.interruptSense = v
            case .bothEdges: s.bothEdges = v
            case .event: s.event = v
            case .interruptEnable: s.interruptEnable = v
            case .interruptClear: s.rawStatus &= ~v
            case .alternateFunction: s.alternateFunction = v
            case .rawStatus, .maskedStatus: return
            }
            s.update()
        }
    }
}
