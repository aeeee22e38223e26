#if canImport(Glibc)
    import Glibc
#endif

/// Guest output on its way to the host, shared by the console backends: vCPU threads append
/// under the backend's lock, and the first bytes into an empty buffer ask for one flush on the
/// GLib loop, so a burst of output costs one loop wake-up.
struct PendingOutput {
    private var bytes: [UInt8] = []
    private var flushScheduled = false

    /// Appends `new`; true when the caller must schedule a flush on the loop.
    mutating func append(_ new: UnsafeRawBufferPointer) -> Bool {
        bytes.append(contentsOf: new)
        guard !flushScheduled else { return false }
        flushScheduled = true
        return true
    }

    /// On the loop: everything appended so far; the next append schedules a flush again.
    mutating func take() -> [UInt8] {
        flushScheduled = false
        defer { bytes.removeAll(keepingCapacity: true) }
        return bytes
    }
}

/// Writes all of `bytes` through `write` (write(2) or send(2) on one descriptor), retrying
/// after EINTR and partial writes. Stops at the first error or zero-length write — a reader
/// gone, a full socket — and the rest is dropped: a console never blocks or fails the guest.
func writeAll(_ bytes: [UInt8], _ write: (UnsafeRawPointer, Int) -> Int) {
    bytes.withUnsafeBytes { buffer in
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let n = write(base + offset, buffer.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            offset += n
        }
    }
}
