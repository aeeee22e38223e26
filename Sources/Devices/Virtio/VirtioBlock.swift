#if canImport(Glibc)
    import Glibc
#endif

/// virtio-blk over a raw disk image (virtio 1.x §5.2; QEMU `hw/block/virtio-blk.c`), served
/// synchronously on the notifying vCPU's thread with `pread`/`pwrite` straight into and out of
/// guest RAM.
///
/// Each request is a 16-byte header (type, reserved, sector) in device-readable buffers, data,
/// and a status byte: the last byte of the last device-writable buffer. VIRTIO_BLK_T_IN reads,
/// T_OUT writes (VIRTIO_BLK_S_IOERR on a read-only disk, which offers VIRTIO_BLK_F_RO), T_FLUSH
/// `fsync`s (VIRTIO_BLK_F_FLUSH), T_GET_ID returns the serial (at most 20 bytes); a range
/// beyond the capacity or not a whole number of sectors is IOERR, other types UNSUPP. The used
/// length is every device-writable byte, as QEMU reports it. A chain too short for a header or
/// without a status byte is a driver error (the device needs a reset, as QEMU marks it broken).
public final class VirtioBlock: VirtioDevice {
    public let deviceID: UInt32 = 2
    public let queueCount = 1
    public let maximumQueueSize: UInt16 = 256

    /// Feature bits (§5.2.3).
    public enum Feature {
        public static let segmentMaximum: UInt64 = 1 << 2
        public static let readOnly: UInt64 = 1 << 5
        public static let flush: UInt64 = 1 << 9
    }

    /// Request types (§5.2.6).
    public enum RequestType {
        public static let read: UInt32 = 0
        public static let write: UInt32 = 1
        public static let flush: UInt32 = 4
        public static let getID: UInt32 = 8
        /// VIRTIO_BLK_T_BARRIER (legacy).
        public static let barrier: UInt32 = 0x8000_0000
    }

    /// Status values (§5.2.6).
    public enum RequestStatus {
        public static let ok: UInt8 = 0
        public static let ioError: UInt8 = 1
        public static let unsupported: UInt8 = 2
    }

    public static let sectorSize: UInt64 = 512
    /// VIRTIO_BLK_ID_BYTES.
    public static let idLength = 20

    public struct OpenError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "disk \(path): \(reason)" }
    }

    public let path: String
    public let readOnly: Bool
    /// Capacity in 512-byte sectors (the image size rounded down).
    public let capacity: UInt64
    public let serial: [UInt8]
    private let fd: Int32

    public var features: UInt64 {
        Feature.segmentMaximum | Feature.flush | (readOnly ? Feature.readOnly : 0)
    }

    /// Configuration space (§5.2.4): capacity (le64), size_max (le32, 0: none), seg_max (le32:
    /// the queue size − 2, as QEMU).
    public var configuration: [UInt8] {
        let segments = UInt32(maximumQueueSize) - 2
        return withUnsafeBytes(of: capacity.littleEndian, Array.init) + [0, 0, 0, 0]
            + withUnsafeBytes(of: segments.littleEndian, Array.init)
    }

    /// Opens the image (read-write, or read-only with `readOnly`); errors name the file.
    public init(path: String, readOnly: Bool = false, serial: String = "armvisor-disk") throws {
        let fd = open(path, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        guard fd >= 0 else { throw OpenError(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw OpenError(path: path, reason: "not a regular file")
        }
        self.fd = fd
        self.path = path
        self.readOnly = readOnly
        capacity = UInt64(info.st_size) / Self.sectorSize
        self.serial = Array(serial.utf8.prefix(Self.idLength))
    }

    deinit { close(fd) }

    /// `fsync`s the image (VM shutdown: what the guest wrote reaches the disk).
    public func flush() { _ = fsync(fd) }

    public func process(queue index: Int, _ queue: inout Virtqueue, memory: any GuestMemory) throws(VirtqueueError)
        -> Bool
    {
        var used = false
        while let chain = try queue.pop(memory) {
            let written = try serve(chain, memory)
            try queue.push(chain, written: written, memory)
            used = true
        }
        return used
    }

    /// Serves one request; returns the used length.
    private func serve(_ chain: Virtqueue.Chain, _ memory: any GuestMemory) throws(VirtqueueError) -> UInt32 {
        let readable = Scatter(chain.readable, memory)
        var writable = Scatter(chain.writable, memory)
        guard readable.count >= 16 else {
            throw VirtqueueError("virtio-blk request \(chain.head) has no 16-byte header")
        }
        guard writable.count >= 1, let status = writable.removeLast() else {
            throw VirtqueueError("virtio-blk request \(chain.head) has no status byte")
        }
        var header = [UInt8](repeating: 0, count: 16)
        readable.copy(from: 0, into: &header)
        let type = header.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) }
        let sector = header.withUnsafeBytes {
            UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
        let result: UInt8
        // As QEMU: the legacy OUT bit (0) and BARRIER bit (31) qualify a type rather than make a
        // new one, so 5 is a flush and 9 a GET_ID.
        switch type & ~(RequestType.write | RequestType.barrier) {
        case RequestType.read where type & RequestType.write == 0:
            result = transfer(sector: sector, data: writable, from: 0, write: false)
        case RequestType.read:
            result = readOnly ? RequestStatus.ioError : transfer(sector: sector, data: readable, from: 16, write: true)
        case RequestType.flush:
            result = fsync(fd) == 0 ? RequestStatus.ok : RequestStatus.ioError
        case RequestType.getID:
            // NUL-padded to 20 bytes, as QEMU writes a shorter serial.
            writable.fill(with: serial + [UInt8](repeating: 0, count: Self.idLength - serial.count))
            result = RequestStatus.ok
        default:
            result = RequestStatus.unsupported
        }
        status.storeBytes(of: result, as: UInt8.self)
        return UInt32(truncatingIfNeeded: writable.count + 1)
    }

    /// Reads or writes the bytes of `data` from byte `start` on at `sector`: IOERR unless they
    /// are whole sectors inside the disk, or when the host I/O fails.
    private func transfer(sector: UInt64, data: Scatter, from start: Int, write: Bool) -> UInt8 {
        let length = UInt64(data.count - start)
        guard length % Self.sectorSize == 0, sector <= capacity, length / Self.sectorSize <= capacity - sector else {
            return RequestStatus.ioError
        }
        var position = off_t(sector * Self.sectorSize)
        var skip = start
        for segment in data.segments {
            guard skip < segment.count else {
                skip -= segment.count
                continue
            }
            guard let base = segment.baseAddress else { continue }
            var done = skip
            skip = 0
            while done < segment.count {
                let n =
                    write
                    ? pwrite(fd, base + done, segment.count - done, position)
                    : pread(fd, base + done, segment.count - done, position)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return RequestStatus.ioError }
                done += n
                position += off_t(n)
            }
        }
        return RequestStatus.ok
    }
}

/// The guest buffers of one side of a chain as host byte ranges (validated by `Virtqueue.pop`).
struct Scatter {
    var segments: [UnsafeMutableRawBufferPointer]
    var count: Int { segments.reduce(0) { $0 + $1.count } }

    init(_ buffers: [Virtqueue.Buffer], _ memory: any GuestMemory) {
        segments = buffers.compactMap { memory.bytes(at: $0.address, count: Int($0.length)) }.filter { $0.count > 0 }
    }

    /// Takes the last byte off the end (the status byte) and returns where it is.
    mutating func removeLast() -> UnsafeMutableRawBufferPointer? {
        guard var last = segments.popLast(), let base = last.baseAddress else { return nil }
        let byte = UnsafeMutableRawBufferPointer(start: base + last.count - 1, count: 1)
        last = UnsafeMutableRawBufferPointer(start: base, count: last.count - 1)
        if last.count > 0 { segments.append(last) }
        return byte
    }

    /// Copies bytes from logical offset `start` into `destination` (as many as fit).
    func copy(from start: Int, into destination: inout [UInt8]) {
        var skip = start
        var filled = 0
        for segment in segments where filled < destination.count {
            guard skip < segment.count else {
                skip -= segment.count
                continue
            }
            let n = min(segment.count - skip, destination.count - filled)
            for i in 0..<n { destination[filled + i] = segment[skip + i] }
            filled += n
            skip = 0
        }
    }

    /// Writes `bytes` from the start (as many as fit).
    func fill(with bytes: [UInt8]) {
        var index = 0
        for segment in segments {
            for i in 0..<segment.count where index < bytes.count {
                segment[i] = bytes[index]
                index += 1
            }
        }
    }
}
