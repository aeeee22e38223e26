/// The guest-physical RAM window as the core sees it: where it starts, how large it is, the host
/// memory behind it, and the `CodeMap` recording where decoded code came from.
///
/// The core only reads through this view; the highvisor's machine-memory owner provides it.
/// Every access is bounds-checked against `base`/`size`, so no guest address reaches host memory
/// outside the VM's own mapping.
public struct GuestRAM: @unchecked Sendable {
    public let base: UInt64
    public let size: UInt64
    public let host: UnsafeMutableRawPointer
    /// One byte per page: non-zero when a decoded block was built from the page.
    public let codePages: UnsafeMutablePointer<UInt8>
    /// One bit per instruction word that a decoded block holds.
    public let codeWords: UnsafeMutablePointer<UInt64>

    public static let pageShift: UInt64 = 12

    /// `codeMap` must outlive every core using this view (the VM's memory owner keeps it).
    public init(base: UInt64, size: UInt64, host: UnsafeMutableRawPointer, codeMap: CodeMap) {
        self.base = base
        self.size = size
        self.host = host
        codePages = codeMap.pages
        codeWords = codeMap.words
    }

    /// Records that the instruction word at `address` (in RAM) is held decoded.
    @inline(__always)
    func markCode(_ address: UInt64) {
        let word = Int((address &- base) >> 2)
        codePages[word >> 10] = 1
        codeWords[word >> 6] |= 1 << UInt64(word & 63)
    }

    /// True when any of the `length` bytes at `address` (in RAM) is held decoded.
    @inline(never)
    func overlapsCode(_ address: UInt64, _ length: UInt64) -> Bool {
        let first = Int((address &- base) >> 2)
        let last = Int((address &+ length &- 1 &- base) >> 2)
        for word in first...last where codeWords[word >> 6] & (1 << UInt64(word & 63)) != 0 { return true }
        return false
    }

    /// Forgets all decoded code (after the block cache is flushed).
    func clearCode() {
        let pages = Int(size >> GuestRAM.pageShift)
        for page in 0..<pages where codePages[page] != 0 {
            codePages[page] = 0
            (codeWords + page * CodeMap.bitmapWordsPerPage).update(repeating: 0, count: CodeMap.bitmapWordsPerPage)
        }
    }

    /// Host pointer for `length` bytes at guest-physical `address`, or nil when any byte falls
    /// outside RAM.
    @inline(__always)
    public func pointer(_ address: UInt64, _ length: UInt64) -> UnsafeMutableRawPointer? {
        let offset = address &- base
        guard offset < size, size &- offset >= length else { return nil }
        return host + Int(offset)
    }

    public func contains(_ address: UInt64) -> Bool { address &- base < size }
}
