import Backends
import XCTest

/// QEMU's `-nographic` escape on a terminal console (`ConsoleEscape`, used by the stdio console
/// of `armvisor run` when standard input is a terminal).
final class ConsoleEscapeTests: XCTestCase {
    func testPlainBytesPassAndCtrlCIsTheGuests() {
        var escape = ConsoleEscape()
        let (bytes, action) = escape.filter(Array("ls\u{03}\r".utf8))
        XCTAssertEqual(bytes, Array("ls\u{03}\r".utf8))
        XCTAssertEqual(action, .none)
    }

    func testCtrlAXQuitsAndCtrlACtrlASendsOneCtrlA() {
        var escape = ConsoleEscape()
        XCTAssertEqual(escape.filter([0x61, 0x01, 0x01, 0x62]).0, [0x61, 0x01, 0x62])
        let (bytes, action) = escape.filter([0x63, 0x01, UInt8(ascii: "x"), 0x64])
        XCTAssertEqual(bytes, [0x63], "what came before the escape is still sent")
        XCTAssertEqual(action, .quit)
    }

    func testEscapeSplitAcrossReadsAndUnknownCommands() {
        var escape = ConsoleEscape()
        XCTAssertEqual(escape.filter([0x01]).0, [], "held until the next byte")
        XCTAssertEqual(escape.filter([UInt8(ascii: "x")]).1, .quit)
        XCTAssertEqual(escape.filter([0x01, UInt8(ascii: "q")]).0, [0x01, UInt8(ascii: "q")], "not an escape command")
        let (afterHelp, help) = escape.filter([0x01, UInt8(ascii: "h"), UInt8(ascii: "l"), UInt8(ascii: "s")])
        XCTAssertEqual(help, .help)
        XCTAssertEqual(afterHelp, Array("ls".utf8), "bytes after C-a h in the same read are kept")
    }
}
