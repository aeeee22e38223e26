/// The guest-physical RAM window as the core sees it: where it starts, how large it is, the host
/// memory behind it, and one byte per 4 KiB page recording whether decoded code came from it.
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

    public static let pageShift: UInt64 = 12

    public init(base: UInt64, size: UInt64, host: UnsafeMutableRawPointer, codePages: UnsafeMutablePointer<UInt8>) {
        self.base = base
        self.size = size
        self.host = host
        self.codePages = codePages
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
