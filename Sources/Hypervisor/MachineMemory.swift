#if canImport(Glibc)
    import Glibc
#endif
import AArch64

/// The host memory behind a VM's guest RAM: one anonymous private mapping reserved for the whole
/// configured size (`MAP_NORESERVE`), which the host kernel commits page by page on first touch,
/// plus the `CodeMap` the decoded-block cache uses.
///
/// Issue "Memory virtualization" replaces direct access with real stage-2 tables that map this
/// memory on demand; the reservation stays the same.
public final class MachineMemory: @unchecked Sendable {
    public let ram: GuestRAM
    private let codeMap: CodeMap
    private let mappingLength: Int

    public struct AllocationError: Error, CustomStringConvertible {
        public let size: UInt64
        public let errno: Int32
        public var description: String {
            "cannot reserve \(size) bytes of guest RAM: \(String(cString: strerror(errno)))"
        }
    }

    public init(base: UInt64, size: UInt64) throws {
        let length = Int(size)
        let mapping = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapping, mapping != MAP_FAILED else { throw AllocationError(size: size, errno: errno) }
        do {
            codeMap = try CodeMap(ramSize: size)
        } catch {
            munmap(mapping, length)
            throw error
        }
        mappingLength = length
        ram = GuestRAM(base: base, size: size, host: mapping, codeMap: codeMap)
    }

    deinit {
        munmap(ram.host, mappingLength)
    }

    /// Copies `bytes` into guest RAM at `address` (image loading); false if it does not fit.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer, at address: UInt64) -> Bool {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return true }
        guard let p = ram.pointer(address, UInt64(bytes.count)) else { return false }
        p.copyMemory(from: source, byteCount: bytes.count)
        return true
    }

    public func read(_ address: UInt64, count: Int) -> [UInt8]? {
        guard let p = ram.pointer(address, UInt64(count)) else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }
}
