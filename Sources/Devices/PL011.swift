import Hypervisor
import Synchronization

/// Arm PrimeCell UART PL011 (Arm DDI 0183; QEMU `hw/char/pl011.c`), the `virt` board's console
/// at 0x0900_0000.
///
/// Transmission is instant: a byte written to UARTDR goes straight to the backend, so TXFE stays
/// set and TXFF clear. Received bytes from the backend wait in a receive queue that the guest
/// sees through the 32-entry FIFO (one entry with UARTLCR_H.FEN clear): UARTDR pops a byte,
/// UARTFR.RXFE/RXFF and UARTRIS.RXRIS follow the queue. The register file follows the TRM's
/// widths. UARTINTR is driven while the register lock is held, so the line always matches the
/// registers, whichever thread (a vCPU, or the backend's loop delivering input) changed them.
public final class PL011: MMIODevice {
    public let name = "pl011"

    enum Register: UInt64 {
        case dr = 0x000
        case rsr = 0x004
        case fr = 0x018
        case ilpr = 0x020
        case ibrd = 0x024
        case fbrd = 0x028
        case lcrH = 0x02C
        case cr = 0x030
        case ifls = 0x034
        case imsc = 0x038
        case ris = 0x03C
        case mis = 0x040
        case icr = 0x044
        case dmacr = 0x048
    }

    /// UARTFR bits.
    enum Flag {
        static let rxfe: UInt64 = 1 << 4
        static let txff: UInt64 = 1 << 5
        static let rxff: UInt64 = 1 << 6
        static let txfe: UInt64 = 1 << 7
    }

    /// UARTPeriphID0–3 then UARTPCellID0–3 at 0xFE0–0xFFC: part 0x011, designer 'A', rev 1;
    /// cell ID 0xB105F00D. Linux's AMBA bus matches the driver on these.
    static let identification: [UInt64] = [0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1]

    /// Raw interrupt status bit for TX (UARTRIS.TXRIS).
    static let txInterrupt: UInt32 = 1 << 5
    /// Raw interrupt status bit for RX (UARTRIS.RXRIS).
    static let rxInterrupt: UInt32 = 1 << 4
    /// Input held for the guest beyond this is dropped (and counted as an overrun, UARTRSR.OE).
    public static let receiveLimit = 1 << 16

    private struct Registers {
        var ilpr: UInt32 = 0
        var ibrd: UInt32 = 0
        var fbrd: UInt32 = 0
        var lcrH: UInt32 = 0
        var cr: UInt32 = 0x300
        var ifls: UInt32 = 0x12
        var imsc: UInt32 = 0
        var ris: UInt32 = 0
        var dmacr: UInt32 = 0
        var rsr: UInt32 = 0
        /// Bytes received and not yet read, from `rxHead` on.
        var rx: [UInt8] = []
        var rxHead = 0
        /// UARTINTR: the board's handler and the level last driven.
        var handler: (@Sendable (Bool) -> Void)?
        var level = false

        /// Drives UARTINTR (RIS & IMSC ≠ 0) when it changed.
        mutating func updateLine() {
            let now = ris & imsc != 0
            guard now != level else { return }
            level = now
            handler?(now)
        }

        var rxCount: Int { rx.count - rxHead }

        mutating func pop() -> UInt8? {
            guard rxHead < rx.count else { return nil }
            let byte = rx[rxHead]
            rxHead += 1
            if rxHead == rx.count {
                rx.removeAll(keepingCapacity: true)
                rxHead = 0
            } else if rxHead >= 4096 {
                // A guest reading a little behind a steady stream: drop what it has read.
                rx.removeFirst(rxHead)
                rxHead = 0
            }
            if rxCount == 0 { ris &= ~PL011.rxInterrupt }
            return byte
        }
    }

    private let registers = Mutex(Registers())
    private let backend: any CharacterBackend

    /// The PL011 is a 32-bit APB peripheral: a 64-bit access is two 32-bit ones.
    public var maximumAccessSize: Int { 4 }

    /// The UARTINTR output (RIS & IMSC ≠ 0), wired by the board to the GIC. Called with the
    /// register lock held whenever the level changes.
    public var interruptLine: (@Sendable (Bool) -> Void)? {
        get { registers.withLock { $0.handler } }
        set { registers.withLock { $0.handler = newValue } }
    }

    public init(backend: any CharacterBackend) {
        self.backend = backend
        backend.setInputHandler { [weak self] bytes in self?.receive(bytes) }
    }

    /// Input from the backend (its loop thread).
    public func receive(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        registers.withLock { r in
            let room = max(Self.receiveLimit - r.rxCount, 0)
            if bytes.count > room { r.rsr |= 1 << 3 }  // OE: overrun
            r.rx.append(contentsOf: bytes.prefix(room))
            if r.rxCount > 0 { r.ris |= Self.rxInterrupt }
            r.updateLine()
        }
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        if offset >= 0xFE0 && offset < 0x1000 {
            return offset & 3 == 0 ? Self.identification[Int((offset - 0xFE0) >> 2)] : 0
        }
        guard let register = Register(rawValue: offset) else { return 0 }
        if register == .dr {
            // Reading the last byte lowers the RX interrupt.
            return UInt64(
                registers.withLock { r -> UInt8 in
                    let byte = r.pop()
                    r.updateLine()
                    return byte ?? 0  // no error bits: framing is perfect
                })
        }
        return registers.withLock { r in
            switch register {
            case .dr: return 0
            case .rsr: return UInt64(r.rsr)
            case .fr:
                let depth = r.lcrH & (1 << 4) != 0 ? 32 : 1  // FEN
                return Flag.txfe | (r.rxCount == 0 ? Flag.rxfe : 0) | (r.rxCount >= depth ? Flag.rxff : 0)
            case .ilpr: return UInt64(r.ilpr)
            case .ibrd: return UInt64(r.ibrd)
            case .fbrd: return UInt64(r.fbrd)
            case .lcrH: return UInt64(r.lcrH)
            case .cr: return UInt64(r.cr)
            case .ifls: return UInt64(r.ifls)
            case .imsc: return UInt64(r.imsc)
            case .ris: return UInt64(r.ris)
            case .mis: return UInt64(r.ris & r.imsc)
            case .icr: return 0
            case .dmacr: return UInt64(r.dmacr)
            }
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard let register = Register(rawValue: offset) else { return }
        let v = UInt32(truncatingIfNeeded: value)
        if register == .dr {
            var byte = UInt8(truncatingIfNeeded: value)
            withUnsafeBytes(of: &byte) { backend.send($0) }
            registers.withLock { r in
                r.ris |= Self.txInterrupt
                r.updateLine()
            }
            return
        }
        registers.withLock { r in
            defer { r.updateLine() }
            switch register {
            case .ilpr: r.ilpr = v & 0xFF
            case .ibrd: r.ibrd = v & 0xFFFF
            case .fbrd: r.fbrd = v & 0x3F
            case .lcrH: r.lcrH = v & 0xFF
            case .cr: r.cr = v & 0xFF87
            case .ifls: r.ifls = v & 0x3F
            case .imsc: r.imsc = v & 0x7FF
            case .icr:
                // RX stays raised while received data waits (the level the FIFO drives).
                r.ris &= ~v
                if r.rxCount > 0 { r.ris |= Self.rxInterrupt }
            case .dmacr: r.dmacr = v & 0x7
            case .rsr: r.rsr = 0  // a write to UARTECR clears the error flags
            case .dr, .fr, .ris, .mis: break
            }
        }
    }
}
