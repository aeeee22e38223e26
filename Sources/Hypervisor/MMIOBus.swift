/// The guest-physical MMIO address space: non-overlapping windows, each owned by one device.
///
/// The bus is immutable once built (the board maps every device before the VM starts), so the
/// vCPU threads look windows up without locking.
public final class MMIOBus: Sendable {
    public struct Window: Sendable {
        public let base: UInt64
        public let size: UInt64
        public let device: any MMIODevice

        public init(base: UInt64, size: UInt64, device: any MMIODevice) {
            self.base = base
            self.size = size
            self.device = device
        }
    }

    public struct OverlapError: Error, CustomStringConvertible {
        public let first: String
        public let second: String
        public var description: String { "MMIO window of \(first) overlaps \(second)" }
    }

    public let windows: [Window]

    public init(windows: [Window]) throws {
        let sorted = windows.sorted { $0.base < $1.base }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.base + a.size > b.base {
            throw OverlapError(first: b.device.name, second: a.device.name)
        }
        self.windows = sorted
    }

    /// The window containing `address` (its device, the offset within it, and its index in
    /// `windows`, by which the vCPU counts MMIO exits per device).
    @inline(__always)
    public func resolve(_ address: UInt64) -> (device: any MMIODevice, offset: UInt64, window: Int)? {
        var low = 0
        var high = windows.count
        while low < high {
            let mid = (low + high) / 2
            let w = windows[mid]
            if address < w.base {
                high = mid
            } else if address - w.base >= w.size {
                low = mid + 1
            } else {
                return (w.device, address - w.base, mid)
            }
        }
        return nil
    }
}
