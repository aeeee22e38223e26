import CZlib

/// gzip decompression (RFC 1952) with zlib, for compressed Linux Images (`Image.gz`, as QEMU's
/// `load_aarch64_image` accepts them).
enum Gzip {
    static let magic: [UInt8] = [0x1F, 0x8B]

    /// Decompresses `input`; the output may not exceed `limit` bytes. Errors are
    /// `ConfigurationError`s the caller prefixes with the file name.
    static func inflate(_ input: [UInt8], limit: UInt64) throws -> [UInt8] {
        var stream = z_stream()
        // inflateInit2 is a macro: 16 + MAX_WBITS selects the gzip wrapper.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ConfigurationError("cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var input = input
        return try input.withUnsafeMutableBufferPointer { source -> [UInt8] in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { target -> Int32 in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                guard UInt64(output.count + produced) <= limit else {
                    throw ConfigurationError("decompressed gzip data is larger than RAM (\(limit >> 20) MiB)")
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END:
                    return output
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw ConfigurationError("corrupt gzip data: truncated")
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw ConfigurationError("corrupt gzip data: \(message)")
                }
            }
        }
    }
}
