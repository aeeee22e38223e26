import CAtomicPair

/// The machine-physical address space the core reads and writes: the addresses stage 2 outputs
/// (or, with stage 2 off, the intermediate physical addresses themselves). One window —
/// `base`..`base + size` — backed by host memory, plus the `CodeMap` recording which of it holds
/// decoded code.
///
/// Everything outside the window is not memory: an access there is reported to EL2 as a stage-2
/// abort, which is how the highvisor learns about MMIO. Every access is bounds-checked, so no
/// guest address reaches host memory outside the VM's own mapping.
public struct PhysicalMemory: @unchecked Sendable {
    public let base: UInt64
    public let size: UInt64
    public let host: UnsafeMutableRawPointer
    /// One byte per page: non-zero when a decoded block was built from the page. Another
    /// vCPU's IC IVAU reads it (`CPU.holdsCode`), so it is accessed with relaxed atomics.
    public let codePages: UnsafeMutablePointer<UInt8>
    /// One bit per instruction word that a decoded block holds.
    public let codeWords: UnsafeMutablePointer<UInt64>

    public static let pageShift: UInt64 = 12
    public static let pageSize: UInt64 = 1 << pageShift

    /// `codeMap` must outlive every core using this view (the VM's memory owner keeps it).
    public init(base: UInt64, size: UInt64, host: UnsafeMutableRawPointer, codeMap: CodeMap) {
        self.base = base
        self.size = size
        self.host = host
        codePages = codeMap.pages
        codeWords = codeMap.words
    }

    /// The page index (in the code map) of a physical address inside the window.
    @inline(__always)
    func pageIndex(_ address: UInt64) -> Int { Int(truncatingIfNeeded: (address &- base) >> Self.pageShift) }

    /// True when a decoded block was built from the page of `address` (inside the window).
    @inline(__always)
    func isCodePage(_ address: UInt64) -> Bool { armvisor_load_byte_relaxed(codePages + pageIndex(address)) != 0 }

    /// Records that the page of `address` holds decoded code; returns true when it held none
    /// before (the TLB must then stop writing to the page without a check). A block marks its
    /// page before it reads a single instruction word, so another vCPU's IC IVAU that does not
    /// see the mark (`CPU.holdsCode`) made its store before this core reads the code.
    @inline(__always)
    func markCodePage(_ address: UInt64) -> Bool {
        let page = pageIndex(address)
        guard armvisor_load_byte_relaxed(codePages + page) == 0 else { return false }
        armvisor_store_byte_relaxed(codePages + page, 1)
        return true
    }

    /// Records that the instruction word at `address` is held decoded (its page is marked).
    @inline(__always)
    func markCodeWord(_ address: UInt64) {
        let word = Int((address &- base) >> 2)
        codeWords[word >> 6] |= 1 << UInt64(word & 63)
    }

    /// True when any of the `length` bytes at `address` (in the window) is held decoded.
    @inline(never)
    func overlapsCode(_ address: UInt64, _ length: UInt64) -> Bool {
        let first = Int((address &- base) >> 2)
        let last = Int((address &+ length &- 1 &- base) >> 2)
        for word in first...last where codeWords[word >> 6] & (1 << UInt64(word & 63)) != 0 { return true }
        return false
    }

    /// Forgets the decoded code of the page at `physical` (after the block cache is flushed).
    func clearCodePage(_ physical: UInt64) {
        let page = pageIndex(physical)
        armvisor_store_byte_relaxed(codePages + page, 0)
        (codeWords + page * CodeMap.bitmapWordsPerPage).update(repeating: 0, count: CodeMap.bitmapWordsPerPage)
    }

    /// Host pointer for `length` bytes at physical `address`, or nil when any byte falls outside
    /// the window.
    @inline(__always)
    public func pointer(_ address: UInt64, _ length: UInt64) -> UnsafeMutableRawPointer? {
        let offset = address &- base
        guard offset < size, size &- offset >= length else { return nil }
        return host + Int(offset)
    }

    public func contains(_ address: UInt64) -> Bool { address &- base < size }

    /// The physical address of a host pointer inside the window.
    @inline(__always)
    func physicalAddress(of pointer: UnsafeRawPointer) -> UInt64 {
        UInt64(UInt(bitPattern: pointer - UnsafeRawPointer(host))) &+ base
    }
}
