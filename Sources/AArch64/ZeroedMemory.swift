import Glibc

/// `count` values of `T` that start all zero: anonymous memory, which reads as zero and costs
/// nothing until touched (the block table and its links are large and mostly unused), or, if
/// the mapping fails, an allocation filled with `zero` (the all-zero value of `T`).
struct ZeroedMemory<T> {
    let pointer: UnsafeMutablePointer<T>
    let count: Int
    private let zero: T
    private let mapped: Bool

    init(count: Int, zero: T) {
        self.count = count
        self.zero = zero
        let bytes = count * MemoryLayout<T>.stride
        if let mapping = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            mapping != MAP_FAILED
        {
            pointer = mapping.bindMemory(to: T.self, capacity: count)
            mapped = true
        } else {
            pointer = .allocate(capacity: count)
            pointer.initialize(repeating: zero, count: count)
            mapped = false
        }
    }

    /// All zero again. Mapped pages are given back, which zeroes them (and returns their
    /// memory) without touching them.
    func clear() {
        let bytes = count * MemoryLayout<T>.stride
        if !mapped || madvise(UnsafeMutableRawPointer(pointer), bytes, MADV_DONTNEED) != 0 {
            pointer.update(repeating: zero, count: count)
        }
    }

    /// Unmaps or deallocates the memory; the owner's deinit calls it once.
    func release() {
        if mapped {
            munmap(UnsafeMutableRawPointer(pointer), count * MemoryLayout<T>.stride)
        } else {
            pointer.deallocate()
        }
    }
}
