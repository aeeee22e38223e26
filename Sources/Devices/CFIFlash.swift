#if canImport(Glibc)
    import Glibc
#endif
import Hypervisor
import Synchronization

/// One bank of the `virt` board's parallel NOR flash as QEMU models it (`cfi.pflash01`, made by
/// `hw/arm/virt.c` `virt_flash_create1`): 64 MiB, a 32-bit bus built from two 16-bit Intel/Sharp
/// devices side by side (bank width 4, device width 2, little-endian), 256 KiB erase blocks
/// (128 KiB in each device), manufacturer 0x89 and device 0x18.
///
/// The command set is Intel/Sharp's extended one (CFI primary vendor command set 0x0001) and
/// the query table follows JEDEC JESD68.01 (Common Flash Interface) — offsets 0x10–0x30 of the
/// query structure, and the "PRI" extended table at 0x31. Commands are the low byte of a
/// write (each device sees the same byte on its own lane); what a device answers in query,
/// identifier or status mode is a 16-bit value on its lane, so a 32-bit read returns it twice
/// (0x0051_0051 for the 'Q' of "QRY"). The state machine:
///
/// - 0xFF, 0x00, 0xF0 (the AMD reset a probe sends): read array; reads return the contents.
/// - 0x70: read status. The status register's bit 7 (ready) is always set, since every operation
///   completes at once; bit 5 is an erase error, bit 4 a program error, both together an
///   improper command sequence. 0x50 clears them (and returns to read array, as QEMU does).
/// - 0x90: read identifier (device address 0: manufacturer, 1: device, 2: block lock status 0).
/// - 0x98: CFI query (device address = bus offset / 4).
/// - 0x10 or 0x40, then data: program. As in QEMU the data is stored as written (a real device
///   can only clear bits; software erases first either way).
/// - 0x20 or 0x28, then 0xD0 at an address in the block: erase the 256 KiB block to 0xFF. Any
///   confirm but 0xD0 (or 0xFF, which cancels) is an improper sequence.
/// - 0xE8, then the count N−1 (in device words, one per bus write), N data writes, then 0xD0:
///   buffered program, committed on the confirm. More than the buffer (2 KiB per device, CFI
///   offset 0x2A) or a confirm but 0xD0 is an improper sequence and nothing is written.
/// - 0x60, then 0x01, 0xD0 or 0x2F: block lock, unlock, lock-down, accepted and not modelled
///   (blocks never lock, as in QEMU).
///
/// After a program, erase, lock or buffered program the device reads status until the next
/// command. Unknown commands return it to read array. The contents are a shared mapping of the
/// backing file when there is one, so every erase and program reaches the file (`flush()`
/// makes it durable); without a file they are volatile and start zeroed, like QEMU's pflash
/// with no drive.
public final class CFIFlash: MMIODevice {
    public let name: String

    /// One bank: 64 MiB.
    public static let bankSize = 64 << 20
    /// The bus width (bytes) and the width of each of the devices on it.
    public static let bankWidth = 4
    static let deviceWidth = 2
    static let deviceCount = bankWidth / deviceWidth
    /// QEMU virt's VIRT_FLASH_SECTOR_SIZE: an erase block of the bank.
    public static let blockSize = 256 << 10
    /// The write buffer of one device: 2^11 bytes (CFI offset 0x2A).
    static let deviceBufferBytes = 1 << 11
    public static let manufacturerID: UInt16 = 0x89
    public static let deviceID: UInt16 = 0x18

    /// Status register bits (Intel StrataFlash SR).
    public enum Status {
        public static let ready: UInt8 = 0x80
        public static let eraseError: UInt8 = 0x20
        public static let programError: UInt8 = 0x10
        /// Both error bits: an improper command sequence.
        public static let sequenceError: UInt8 = 0x30
    }

    public struct OpenError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "pflash \(path): \(reason)" }
    }

    enum Mode: Equatable {
        case readArray, readStatus, readIdentifier, query
        /// 0x10/0x40 given: the next write is the data.
        case programSetup
        /// 0x20/0x28 given: the next write must be 0xD0.
        case eraseSetup
        /// 0x60 given: the next write is the lock command.
        case lockSetup
        /// 0xE8 given: the next write is the word count.
        case bufferCount
        /// Collecting `remaining` more data writes.
        case bufferData(remaining: Int)
        /// The data is in: the next write must be 0xD0.
        case bufferConfirm
    }

    private struct State {
        let storage: UnsafeMutableRawPointer
        var mode = Mode.readArray
        var status = Status.ready
        /// Buffered-program writes waiting for the confirm: (offset, size, value).
        var buffer: [(offset: Int, size: Int, value: UInt64)] = []
    }

    private let state: Mutex<State>
    private let fd: Int32
    public let path: String?

    /// The device's bus port is the bank width: a 64-bit access is two 32-bit ones.
    public var maximumAccessSize: Int { Self.bankWidth }

    /// A bank backed by the file at `path` (exactly 64 MiB, opened read-write), or volatile and
    /// zeroed without one.
    public init(name: String = "pflash", path: String? = nil) throws {
        self.name = name
        self.path = path
        var descriptor: Int32 = -1
        var flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        if let path {
            descriptor = open(path, O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw OpenError(path: path, reason: String(cString: strerror(errno)))
            }
            var info = stat()
            guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                close(descriptor)
                throw OpenError(path: path, reason: "not a regular file")
            }
            guard info.st_size == Self.bankSize else {
                close(descriptor)
                throw OpenError(
                    path: path,
                    reason: "\(info.st_size) bytes; a flash bank is exactly \(Self.bankSize) bytes (64 MiB: "
                        + "`truncate -s 64M` makes one)")
            }
            flags = MAP_SHARED
        }
        let mapped = mmap(nil, Self.bankSize, PROT_READ | PROT_WRITE, flags, descriptor, 0)
        guard let mapped, mapped != MAP_FAILED else {
            let reason = String(cString: strerror(errno))
            if descriptor >= 0 { close(descriptor) }
            throw OpenError(path: path ?? "(volatile)", reason: "cannot map it: \(reason)")
        }
        fd = descriptor
        state = Mutex(State(storage: mapped))
    }

    deinit {
        state.withLock { _ = munmap($0.storage, Self.bankSize) }
        if fd >= 0 { close(fd) }
    }

    /// Writes what the guest erased and programmed back to the file and waits for it (`msync`).
    public func flush() {
        guard fd >= 0 else { return }
        state.withLock { _ = msync($0.storage, Self.bankSize, MS_SYNC) }
    }

    /// The JESD68 query structure of one device, indexed by device address (QEMU builds the same
    /// table in `pflash_cfi01_fill_cfi_table`).
    static let queryTable: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 0x40)
        let blocksPerDevice = bankSize / blockSize
        let deviceBlock = blockSize / deviceCount
        let deviceBytes = bankSize / deviceCount
        table[0x10] = 0x51; table[0x11] = 0x52; table[0x12] = 0x59  // "QRY"
        table[0x13] = 0x01; table[0x14] = 0x00  // primary command set: Intel/Sharp extended
        table[0x15] = 0x31; table[0x16] = 0x00  // primary extended table at 0x31
        table[0x1B] = 0x45; table[0x1C] = 0x55  // Vcc min/max 4.5 V, 5.5 V; no Vpp
        table[0x1F] = 0x07; table[0x20] = 0x07  // typical word / buffer program: 2^7 µs
        table[0x21] = 0x0A  // typical block erase: 2^10 ms; no chip erase
        table[0x23] = 0x04; table[0x24] = 0x04; table[0x25] = 0x04  // maximum = typical × 2^4
        table[0x27] = UInt8(deviceBytes.trailingZeroBitCount)  // device size 2^n bytes
        table[0x28] = 0x02; table[0x29] = 0x00  // x8/x16 asynchronous interface
        table[0x2A] = UInt8(deviceBufferBytes.trailingZeroBitCount); table[0x2B] = 0x00
        table[0x2C] = 0x01  // one erase block region, uniform:
        table[0x2D] = UInt8(truncatingIfNeeded: blocksPerDevice - 1)  // blocks − 1
        table[0x2E] = UInt8(truncatingIfNeeded: (blocksPerDevice - 1) >> 8)
        table[0x2F] = UInt8(truncatingIfNeeded: deviceBlock >> 8)  // block size / 256
        table[0x30] = UInt8(truncatingIfNeeded: deviceBlock >> 16)
        table[0x31] = 0x50; table[0x32] = 0x52; table[0x33] = 0x49  // "PRI"
        table[0x34] = 0x31; table[0x35] = 0x30  // version 1.0
        table[0x3F] = 0x01  // one protection register field
        return table
    }()

    /// What one device answers at device address `index` in the current mode (read array aside).
    private static func deviceValue(_ mode: Mode, index: Int, status: UInt8) -> UInt16 {
        switch mode {
        case .query:
            return index < queryTable.count ? UInt16(queryTable[index]) : 0
        case .readIdentifier:
            switch index & 0xFF {
            case 0: return manufacturerID
            case 1: return deviceID
            default: return 0  // block lock status and the rest: unlocked, zero
            }
        default:
            return UInt16(status)
        }
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        guard offset < UInt64(Self.bankSize), UInt64(Self.bankSize) - offset >= UInt64(size) else { return 0 }
        let start = Int(offset)
        return state.withLock { s in
            if s.mode == .readArray {
                var value: UInt64 = 0
                for i in 0..<size {
                    value |= UInt64(s.storage.load(fromByteOffset: start + i, as: UInt8.self)) << (8 * i)
                }
                return value
            }
            // Each byte comes from the bank word at its bus address: the device on that byte's
            // lane answers for device address = bus offset / bank width.
            var value: UInt64 = 0
            for i in 0..<size {
                let address = start + i
                let word = Self.deviceValue(s.mode, index: address / Self.bankWidth, status: s.status)
                let byte = (address % Self.deviceWidth) == 0 ? UInt8(truncatingIfNeeded: word) : UInt8(word >> 8)
                value |= UInt64(byte) << (8 * i)
            }
            return value
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard offset < UInt64(Self.bankSize), UInt64(Self.bankSize) - offset >= UInt64(size) else { return }
        let start = Int(offset)
        let command = UInt8(truncatingIfNeeded: value)
        state.withLock { s in
            switch s.mode {
            case .programSetup:
                Self.store(s.storage, at: start, size: size, value: value)
                s.mode = .readStatus
            case .eraseSetup:
                if command == 0xD0 {
                    let block = start & ~(Self.blockSize - 1)
                    (s.storage + block).initializeMemory(as: UInt8.self, repeating: 0xFF, count: Self.blockSize)
                    s.mode = .readStatus
                } else if command == 0xFF {
                    s.mode = .readArray
                } else {
                    s.status |= Status.sequenceError
                    s.mode = .readStatus
                }
            case .lockSetup:
                if command == 0x01 || command == 0xD0 || command == 0x2F {
                    s.mode = .readStatus
                } else if command == 0xFF {
                    s.mode = .readArray
                } else {
                    s.status |= Status.sequenceError
                    s.mode = .readStatus
                }
            case .bufferCount:
                // N − 1 in device words; each bus write carries one word to every device.
                let count = Int(value & 0xFFFF) + 1
                if count * Self.deviceWidth > Self.deviceBufferBytes {
                    s.status |= Status.sequenceError
                    s.mode = .readStatus
                } else {
                    s.buffer = []
                    s.mode = .bufferData(remaining: count)
                }
            case .bufferData(let remaining):
                s.buffer.append((start, size, value))
                s.mode = remaining > 1 ? .bufferData(remaining: remaining - 1) : .bufferConfirm
            case .bufferConfirm:
                if command == 0xD0 {
                    for entry in s.buffer {
                        Self.store(s.storage, at: entry.offset, size: entry.size, value: entry.value)
                    }
                } else {
                    s.status |= Status.sequenceError
                }
                s.buffer = []
                s.mode = .readStatus
            case .readArray, .readStatus, .readIdentifier, .query:
                switch command {
                case 0x00, 0xF0, 0xFF: s.mode = .readArray
                case 0x10, 0x40: s.mode = .programSetup
                case 0x20, 0x28: s.mode = .eraseSetup
                case 0x50:
                    s.status = Status.ready
                    s.mode = .readArray
                case 0x60: s.mode = .lockSetup
                case 0x70: s.mode = .readStatus
                case 0x90: s.mode = .readIdentifier
                case 0x98: s.mode = .query
                case 0xE8: s.mode = .bufferCount  // reads give the extended status: buffer free
                default: s.mode = .readArray
                }
            }
        }
    }

    private static func store(_ storage: UnsafeMutableRawPointer, at offset: Int, size: Int, value: UInt64) {
        for i in 0..<size {
            storage.storeBytes(
                of: UInt8(truncatingIfNeeded: value >> (8 * i)), toByteOffset: offset + i, as: UInt8.self)
        }
    }
}
