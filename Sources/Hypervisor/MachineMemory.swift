#if canImport(Glibc)
    import Glibc
#endif
import AArch64

/// The machine memory of one VM: a single anonymous private mapping reserved up front
/// (`MAP_NORESERVE`) and committed by the host kernel page by page on first touch, holding guest
/// RAM, then read-only memory (ROM, flash contents; optional), then the pool the stage-2 tables
/// are allocated from; plus the `CodeMap` the decoded-block cache uses.
///
/// Machine-physical addresses (what stage 2 outputs) start at the RAM's guest-physical base, so
/// RAM is mapped IPA = PA; the table pool sits above RAM where no stage-2 entry points. Guest
/// RAM is reserved, not allocated: a VM configured with 1 GiB that touches 16 MiB costs the host
/// about 16 MiB plus its page tables.
public final class MachineMemory: @unchecked Sendable {
    /// The first core's view of all of it (and the view the highvisor and devices use).
    public let physical: PhysicalMemory
    /// One view per core: the same memory, each with its own `CodeMap`, so a core's record of
    /// which pages it holds decoded is its own (vCPU threads never share a code map; code written
    /// for another vCPU reaches it through the guest's IC maintenance, which is broadcast).
    private let coreViews: [PhysicalMemory]
    public let ramBase: UInt64
    public let ramSize: UInt64
    /// Machine-physical address and size of the read-only memory after RAM.
    public let romPhysical: UInt64
    public let romSize: UInt64
    /// The machine-physical range of the stage-2 table pool.
    public let tablePool: Range<UInt64>
    private let codeMaps: [CodeMap]
    private let mappingLength: Int

    public struct AllocationError: Error, CustomStringConvertible {
        public let size: UInt64
        public let errno: Int32
        public var description: String {
            "cannot reserve \(size) bytes of guest RAM: \(String(cString: strerror(errno)))"
        }
    }

    /// `romSize` (a multiple of 4 KB) reserves read-only memory after RAM for `romSlot`; `cores`
    /// is the number of vCPUs that get their own view (`view(forCore:)`).
    public init(base: UInt64, size: UInt64, romSize: UInt64 = 0, cores: Int = 1) throws {
        let poolSize = Stage2.tablePagesNeeded(for: [size, romSize]) << 12
        let total = size + romSize + poolSize
        let length = Int(total)
        let mapping = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapping, mapping != MAP_FAILED else { throw AllocationError(size: size, errno: errno) }
        do {
            codeMaps = try (0..<max(cores, 1)).map { _ in try CodeMap(ramSize: total) }
        } catch {
            munmap(mapping, length)
            throw error
        }
        mappingLength = length
        ramBase = base
        ramSize = size
        romPhysical = base + size
        self.romSize = romSize
        tablePool = (base + size + romSize)..<(base + total)
        coreViews = codeMaps.map { PhysicalMemory(base: base, size: total, host: mapping, codeMap: $0) }
        physical = coreViews[0]
    }

    /// How many cores have a view of their own (`cores` at creation).
    public var coreCount: Int { coreViews.count }

    /// The view core `index` runs on; `index` must be below `coreCount` (two vCPU threads on
    /// one code map would clear each other's page marks).
    public func view(forCore index: Int) -> PhysicalMemory {
        precondition(index < coreViews.count, "MachineMemory made for \(coreViews.count) cores, not \(index + 1)")
        return coreViews[index]
    }

    deinit {
        munmap(physical.host, mappingLength)
    }

    /// The guest RAM slot: guest-physical RAM at machine-physical RAM, writable.
    public var ramSlot: Stage2.Slot {
        Stage2.Slot(name: "ram", ipa: ramBase, size: ramSize, physical: ramBase, writable: true)
    }

    /// The read-only slot at guest-physical `ipa`, backed by the ROM part of machine memory;
    /// nil without ROM.
    public func romSlot(at ipa: UInt64) -> Stage2.Slot? {
        guard romSize > 0 else { return nil }
        return Stage2.Slot(name: "rom", ipa: ipa, size: romSize, physical: romPhysical, writable: false)
    }

    /// Copies `bytes` into the ROM at `offset` (loading firmware or flash contents); false if
    /// it does not fit.
    @discardableResult
    public func writeROM(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Bool {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return true }
        guard offset <= romSize, romSize - offset >= UInt64(bytes.count),
            let p = physical.pointer(romPhysical + offset, UInt64(bytes.count))
        else { return false }
        p.copyMemory(from: source, byteCount: bytes.count)
        return true
    }

    /// Host pointer for `count` bytes of guest RAM at guest-physical `address`, or nil outside RAM.
    public func ramPointer(_ address: UInt64, count: Int) -> UnsafeMutableRawPointer? {
        guard address &- ramBase < ramSize, ramSize - (address &- ramBase) >= UInt64(count) else { return nil }
        return physical.pointer(address, UInt64(count))
    }

    /// Copies `bytes` into guest RAM at `address` (image loading); false if it does not fit.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer, at address: UInt64) -> Bool {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return true }
        guard let p = ramPointer(address, count: bytes.count) else { return false }
        p.copyMemory(from: source, byteCount: bytes.count)
        return true
    }

    public func read(_ address: UInt64, count: Int) -> [UInt8]? {
        guard let p = ramPointer(address, count: count) else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }
}
