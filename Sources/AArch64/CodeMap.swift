#if canImport(Glibc)
    import Glibc
#endif

/// Which guest RAM holds decoded code: one byte per 4 KiB page (the cheap test every store
/// makes) and one bit per 4-byte word (the precise test made only for stores to code pages), so
/// data that shares a page with code does not throw decoded blocks away.
///
/// Both maps are reserved with `MAP_NORESERVE` and committed by the host only where code is
/// decoded, so a large VM pays for the code it runs, not for its RAM size.
public final class CodeMap: @unchecked Sendable {
    public let pages: UnsafeMutablePointer<UInt8>
    public let words: UnsafeMutablePointer<UInt64>
    public let pageCount: Int
    private let pageBytes: Int
    private let wordBytes: Int

    /// 64 words of 4 bytes per bitmap word: 16 bitmap words per 4 KiB page.
    public static let bitmapWordsPerPage = 16

    /// Reserving address space fails only when the host has none left (or a ulimit forbids it).
    public struct ReservationError: Error, CustomStringConvertible {
        public let length: Int
        public let errno: Int32
        public var description: String {
            "cannot reserve \(length) bytes of address space for the code map: \(String(cString: strerror(errno)))"
        }
    }

    public init(ramSize: UInt64) throws {
        pageCount = max(Int(ramSize >> PhysicalMemory.pageShift), 1)
        pageBytes = pageCount
        wordBytes = pageCount * Self.bitmapWordsPerPage * 8
        let pages = try Self.reserve(pageBytes)
        do {
            words = try Self.reserve(wordBytes).assumingMemoryBound(to: UInt64.self)
        } catch {
            munmap(pages, pageBytes)
            throw error
        }
        self.pages = pages.assumingMemoryBound(to: UInt8.self)
    }

    deinit {
        munmap(pages, pageBytes)
        munmap(words, wordBytes)
    }

    private static func reserve(_ length: Int) throws -> UnsafeMutableRawPointer {
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let p, p != MAP_FAILED else { throw ReservationError(length: length, errno: errno) }
        return p
    }
}
