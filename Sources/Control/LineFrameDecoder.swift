import NIOCore
import Synchronization

/// What the line decoder yields: a request line (without its newline; a `\r` before the newline
/// is kept, for the reader to drop), or the news that a line went over the limit (after which
/// the rest of the connection's input is discarded); after a switch to raw bytes (a `console`
/// attachment), the bytes as they came.
public enum LineFrame: Sendable, Equatable {
    case line(ByteBuffer)
    case tooLong
    case raw(ByteBuffer)
}

/// Whether a connection has left line framing for raw bytes (set on its event loop just
/// before the line decoder is removed, so that the decoder hands over what it holds as raw).
public final class LineFramingMode: Sendable {
    private let rawBytes = Atomic<Bool>(false)

    public init() {}

    public var isRaw: Bool { rawBytes.load(ordering: .relaxed) }
    public func switchToRaw() { rawBytes.store(true, ordering: .relaxed) }
}

/// Splits a byte stream on `\n`, limiting a line to `maximumLength` bytes (not counting a
/// trailing `\r`). At EOF an unterminated last line still counts as a line. When the decoder
/// is removed after `mode` switched to raw, the bytes it holds go on as plain bytes, for the
/// `RawFrameHandler` put after it to pass on as a `.raw` frame.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = LineFrame

    public let maximumLength: Int
    public let mode: LineFramingMode
    /// How many bytes at the front of the buffer are known to hold no newline.
    private var scanned = 0
    private var discarding = false

    public init(maximumLength: Int = ControlProtocol.maximumRequestBytes, mode: LineFramingMode = LineFramingMode()) {
        self.maximumLength = maximumLength
        self.mode = mode
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
        guard length <= maximumLength + 1, let line = buffer.readSlice(length: length) else {
            giveUp(context: context, buffer: &buffer)
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: 1)
        let carriageReturn = line.readableBytesView.last == UInt8(ascii: "\r") ? 1 : 0
        guard line.readableBytes - carriageReturn <= maximumLength else {
            giveUp(context: context, buffer: &buffer)
            return .needMoreData
        }
        context.fireChannelRead(wrapInboundOut(.line(line)))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        if mode.isRaw {
            // As plain bytes: the next handler is the `RawFrameHandler` that takes this one's place.
            if !discarding, buffer.readableBytes > 0, let bytes = buffer.readSlice(length: buffer.readableBytes) {
                context.fireChannelRead(NIOAny(bytes))
                // The async channel passes reads on at the end of a read burst, and no read
                // burst is under way during the removal.
                context.fireChannelReadComplete()
            }
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
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

/// Passes raw bytes on as `.raw` frames: takes the line decoder's place on a connection that
/// switched to raw bytes.
final class RawFrameHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = LineFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(wrapInboundOut(.raw(unwrapInboundIn(data))))
    }
}
