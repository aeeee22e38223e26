import NIOCore

/// What the line decoder yields: a request line (without its newline), or the news that a
/// line went over the limit (after which the rest of the connection's input is discarded).
public enum LineFrame: Sendable, Equatable {
    case line(ByteBuffer)
    case tooLong
}

/// Splits a byte stream on `\n` (a trailing `\r` is dropped), limiting a line to
/// `maximumLength` bytes. At EOF an unterminated last line still counts as a line.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = LineFrame

    public let maximumLength: Int
    /// How many bytes at the front of the buffer are known to hold no newline.
    private var scanned = 0
    private var discarding = false

    public init(maximumLength: Int = ControlProtocol.maximumRequestBytes) {
        self.maximumLength = maximumLength
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if discarding {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        let bytes = buffer.readableBytesView
        let searchStart = bytes.index(bytes.startIndex, offsetBy: scanned)
        guard let newline = bytes[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = bytes.count
            if bytes.count > maximumLength { giveUp(context: context, buffer: &buffer) }
            return .needMoreData
        }
        let length = bytes.distance(from: bytes.startIndex, to: newline)
        scanned = 0
        guard length <= maximumLength + 1, var line = buffer.readSlice(length: length) else {
            giveUp(context: context, buffer: &buffer)
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        guard line.readableBytes <= maximumLength else {
            giveUp(context: context, buffer: &buffer)
            return .needMoreData
        }
        context.fireChannelRead(wrapInboundOut(.line(line)))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if !discarding, buffer.readableBytes > 0, let line = buffer.readSlice(length: buffer.readableBytes) {
            context.fireChannelRead(wrapInboundOut(.line(line)))
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }

    private mutating func giveUp(context: ChannelHandlerContext, buffer: inout ByteBuffer) {
        discarding = true
        scanned = 0
        buffer.moveReaderIndex(to: buffer.writerIndex)
        context.fireChannelRead(wrapInboundOut(.tooLong))
    }
}
