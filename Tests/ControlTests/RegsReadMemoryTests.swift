import Control
import Foundation
import Hypervisor
import TestSupport
import XCTest

/// The debugging commands `regs` and `read-memory` over the socket, with tiny assembled guests in
/// 1 MiB of RAM at 0x4000_0000.
final class RegsReadMemoryTests: XCTestCase {
    private func startServer(_ factory: @escaping VMManager.Factory) async throws -> TestServer {
        try await TestServer.start(manager: VMManager(logger: quietLogger, makeVM: factory))
    }

    private func retired(_ socket: LineSocket, _ name: JSONValue) throws -> Int64 {
        let stats = assertOK(try socket.request("stats", ["name": name]))
        return stats["statistics"]?["instructionsRetired"]?.integerValue ?? -1
    }

    private func registers(_ socket: LineSocket, _ name: JSONValue) throws -> VMRegisters {
        try assertOK(try socket.request("regs", ["name": name])).decode(as: VMRegisters.self)
    }

    private static func hex64(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
    }

    // MARK: regs

    /// The guest sets registers the test knows, then loops at `loopAddress`.
    private static let registerProgram = [
        "movz x1, #0x1111", "movz x2, #0x2222, lsl #16", "movz x30, #0xbeef", "movk x30, #0xdead, lsl #48",
        "movz x5, #0x4009, lsl #16", "mov sp, x5", "movz x6, #0x4008, lsl #16", "msr sp_el0, x6",
        "movz x7, #0x4001, lsl #16", "msr vbar_el1, x7", "movz x8, #0xff", "msr mair_el1, x8", "msr elr_el1, x1",
        "subs x9, x1, x1",
        "1: b 1b",
    ]
    private static let loopAddress = guestRAMBase + 14 * 4

    func testRegistersOfCreatedPausedAndStoppedVMs() async throws {
        let server = try await startServer(try assembledGuest(Self.registerProgram))
        do {
            let socket = try server.connect()
            assertOK(try socket.request("create", ["name": "r"]))

            // Created: the boot state.
            let boot = try registers(socket, "r")
            XCTAssertEqual(boot.name, "r")
            XCTAssertEqual(boot.state, .created)
            let first = try XCTUnwrap(boot.vcpus.first)
            XCTAssertEqual(boot.vcpus.count, 1)
            XCTAssertEqual(first.index, 0)
            XCTAssertEqual(first.state, .created)
            XCTAssertEqual(first.mpidr, "0x0000000080000000")
            XCTAssertEqual(first.pc, "0x0000000040000000")
            XCTAssertEqual(first.x, Array(repeating: "0x0000000000000000", count: 31))
            XCTAssertEqual(first.pstate, "0x00000000000003c5", "EL1h with DAIF masked")
            XCTAssertEqual(first.exceptionLevel, 1)
            XCTAssertEqual(first.instructionsRetired, 0)
            XCTAssertEqual(Set(first.system.keys), Set(VMRegisters.systemRegisterNames))
            XCTAssertEqual(first.system["SCTLR_EL1"], "0x0000000030d50838")
            for name in VMRegisters.systemRegisterNames {
                XCTAssertEqual(first.system[name]?.count, 18, name)
            }

            assertOK(try socket.request("start", ["name": "r"]))
            let running = assertError(try socket.request("regs", id: 3, ["name": "r"]), .vmNotPaused, id: 3)
            XCTAssertEqual(running, "VM 'r' is running; pause it to read its registers")
            let deadline = Date().addingTimeInterval(10)
            while try retired(socket, "r") < 1000, Date() < deadline { usleep(1000) }
            assertOK(try socket.request("pause", ["name": "r"]))

            let paused = try registers(socket, "r")
            XCTAssertEqual(paused.state, .paused)
            let vcpu = try XCTUnwrap(paused.vcpus.first)
            XCTAssertEqual(vcpu.state, .paused)
            XCTAssertEqual(vcpu.pc, Self.hex64(Self.loopAddress))
            XCTAssertEqual(vcpu.x[0], "0x0000000000000000")
            XCTAssertEqual(vcpu.x[1], "0x0000000000001111")
            XCTAssertEqual(vcpu.x[2], "0x0000000022220000")
            XCTAssertEqual(vcpu.x[9], "0x0000000000000000")
            XCTAssertEqual(vcpu.x[30], "0xdead00000000beef")
            XCTAssertEqual(vcpu.sp, "0x0000000040090000", "EL1h: SP is SP_EL1")
            XCTAssertEqual(vcpu.system["SP_EL1"], "0x0000000040090000")
            XCTAssertEqual(vcpu.system["SP_EL0"], "0x0000000040080000")
            XCTAssertEqual(vcpu.system["VBAR_EL1"], "0x0000000040010000")
            XCTAssertEqual(vcpu.system["MAIR_EL1"], "0x00000000000000ff")
            XCTAssertEqual(vcpu.system["ELR_EL1"], "0x0000000000001111")
            XCTAssertEqual(vcpu.pstate, "0x00000000600003c5", "Z and C from subs x9, x1, x1")
            let hcr = try XCTUnwrap(vcpu.system["HCR_EL2"].flatMap { UInt64($0.dropFirst(2), radix: 16) })
            XCTAssertEqual(hcr & 1, 1, "HCR_EL2.VM")
            XCTAssertNotEqual(vcpu.system["VTTBR_EL2"], "0x0000000000000000")
            XCTAssertEqual(Int64(vcpu.instructionsRetired), try retired(socket, "r"))

            let report = paused.report.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(report.count, 2 + 8 + 7 + 16, paused.report)
            XCTAssertEqual(
                report[0], "vcpu 0  MPIDR 0x0000000080000000  paused  \(vcpu.instructionsRetired) instructions retired")
            XCTAssertEqual(
                report[1],
                "  PC  0x0000000040000038  SP  0x0000000040090000  PSTATE 0x00000000600003c5 -ZC- DAIF EL1h")
            XCTAssertEqual(
                report[2],
                "  X0  0x0000000000000000  X1  0x0000000000001111  X2  0x0000000022220000  X3  0x0000000000000000")
            XCTAssertEqual(
                report[9], "  X28 0x0000000000000000  X29 0x0000000000000000  X30 0xdead00000000beef")
            XCTAssertEqual(
                report[10],
                "  SP_EL0    0x0000000040080000  SP_EL1    0x0000000040090000  ELR_EL1   0x0000000000001111")
            XCTAssertTrue(report[15].hasPrefix("  VTCR_EL2  0x"), report[15])
            XCTAssertTrue(report[16].hasPrefix("  FPCR      0x"), report[16])
            XCTAssertEqual(
                report[17], "  Q0  0x\(String(repeating: "0", count: 32))  Q1  0x\(String(repeating: "0", count: 32))")
            XCTAssertEqual(vcpu.v.count, 32)

            // Stopped: the final registers stay readable.
            assertOK(try socket.request("stop", ["name": "r"]))
            let stopped = try registers(socket, "r")
            XCTAssertEqual(stopped.state, .stopped)
            XCTAssertEqual(stopped.vcpus.first?.state, .stopped)
            XCTAssertEqual(stopped.vcpus.first?.x[30], "0xdead00000000beef")

            assertError(try socket.request("regs", ["name": "ghost"]), .noSuchVM)
            assertError(try socket.request("regs", ["name": "../x"]), .invalidName)
            assertError(try socket.request("regs"), .badRequest)
        }
        try await server.stop()
    }

    func testPSTATEFlagsText() {
        XCTAssertEqual(VMRegisters.VCPU.flags(0x3C5), "---- DAIF")
        XCTAssertEqual(VMRegisters.VCPU.flags(0xF000_0000), "NZCV ----")
        XCTAssertEqual(VMRegisters.VCPU.flags(0x9010_0080), "N--V --I- IL")
    }

    // MARK: read-memory

    func testReadMemoryOfAGuestThatWroteAPattern() async throws {
        // Stores 0x0123456789abcdef and "Hi!\n" at RAM + 0x1_0000, then powers off.
        let program = [
            "movz x1, #0x4001, lsl #16", "movz x2, #0xcdef", "movk x2, #0x89ab, lsl #16", "movk x2, #0x4567, lsl #32",
            "movk x2, #0x0123, lsl #48", "str x2, [x1]", "movz w3, #0x6948", "movk w3, #0x0a21, lsl #16",
            "str w3, [x1, #8]",
        ]
        let code = try CrossAssembler.assemble(program + powerOffProgram)
        let server = try await startServer(try assembledGuest(program + powerOffProgram))
        do {
            let socket = try server.connect()
            assertOK(try socket.request("create", ["name": "m"]))

            // Created: the loaded image, byte for byte.
            let image = try assertOK(
                try socket.request("read-memory", ["name": "m", "address": "0x40000000", "length": 8])
            ).decode(as: VMMemoryRead.self)
            XCTAssertEqual(image.state, .created)
            XCTAssertEqual(image.address, "0x40000000")
            XCTAssertEqual(image.length, 8)
            XCTAssertEqual(
                image.bytes,
                code.prefix(2).flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } })

            assertOK(try socket.request("start", ["name": "m"]))
            XCTAssertEqual(assertOK(try socket.request("wait", ["name": "m"]))["reason"], "poweroff")
            let mapped = assertOK(try socket.request("stats", ["name": "m"]))["statistics"]?["pagesMapped"]

            let reply = assertOK(
                try socket.request("read-memory", ["name": "m", "address": .integer(0x4001_0000), "length": 16]))
            XCTAssertEqual(
                reply,
                [
                    "name": "m", "state": "stopped", "address": "0x40010000", "length": 16,
                    "data": "efcdab89674523014869210a00000000",
                ])
            let read = try reply.decode(as: VMMemoryRead.self)
            XCTAssertEqual(
                VMMemoryRead.hexdump(try XCTUnwrap(read.bytes), address: 0x4001_0000),
                "40010000: efcd ab89 6745 2301 4869 210a 0000 0000  ....gE#.Hi!.....")

            // A page the guest never touched reads as zeros and is not mapped by the read.
            let untouched = try assertOK(
                try socket.request("read-memory", ["name": "m", "address": "0x400ff000", "length": 4096])
            ).decode(as: VMMemoryRead.self)
            XCTAssertEqual(untouched.length, 4096)
            XCTAssertEqual(untouched.bytes, Array(repeating: 0, count: 4096))
            let largest = try assertOK(
                try socket.request("read-memory", ["name": "m", "address": "0x40040000", "length": 65536])
            ).decode(as: VMMemoryRead.self)
            XCTAssertEqual(largest.bytes?.count, 65536)
            XCTAssertEqual(largest.data.count, 2 * 65536)
            XCTAssertEqual(
                assertOK(try socket.request("stats", ["name": "m"]))["statistics"]?["pagesMapped"], mapped)
            XCTAssertEqual(
                assertOK(try socket.request("translate", ["name": "m", "address": "0x400ff000"]))["fault"],
                "stage-2 translation fault, level 3")
            // The last byte of RAM.
            XCTAssertEqual(
                assertOK(try socket.request("read-memory", ["name": "m", "address": "0x400fffff", "length": 1]))[
                    "data"],
                "00")
        }
        try await server.stop()
    }

    func testReadMemoryErrors() async throws {
        let server = try await TestServer.start(manager: VMManager(logger: quietLogger, makeVM: spinningGuest))
        do {
            let socket = try server.connect()
            assertOK(try socket.request("create", ["name": "e"]))
            func read(_ address: JSONValue, _ length: JSONValue?) throws -> JSONValue {
                var arguments: [String: JSONValue] = ["name": "e", "address": address]
                if let length { arguments["length"] = length }
                return try socket.request("read-memory", arguments)
            }
            XCTAssertEqual(
                assertError(try read("0x40000000", 65537), .badRequest),
                "argument 'length' must be from 1 to 65536 bytes, not 65537")
            XCTAssertEqual(
                assertError(try read("0x40000000", 0), .badRequest),
                "argument 'length' must be from 1 to 65536 bytes, not 0")
            XCTAssertEqual(
                assertError(try read("0x40000000", -4), .badRequest),
                "argument 'length' must be from 1 to 65536 bytes, not -4")
            XCTAssertEqual(
                assertError(try read("0x40000000", .double(1e20)), .badRequest),
                "argument 'length' must be from 1 to 65536 bytes, not 1e+20")
            XCTAssertEqual(
                assertError(try read("0x40000000", .double(1.5)), .badRequest),
                "argument 'length' must be an integer, not 1.5")
            XCTAssertEqual(
                assertError(try read("0x40000000", "16"), .badRequest),
                "argument 'length' must be an integer, not a string")
            XCTAssertEqual(assertError(try read("0x40000000", nil), .badRequest), "missing argument 'length'")
            XCTAssertEqual(assertOK(try read("0x40000000", .double(4)))["length"], 4)
            let address = assertError(try read("0x4000_0000", 4), .badRequest)
            XCTAssertTrue(address.hasPrefix("argument 'address' must be "), address)
            assertError(try socket.request("read-memory", ["name": "e", "length": 4]), .badRequest)

            XCTAssertEqual(
                assertError(try read("0x9000000", 16), .badRequest),
                "range 0x9000000–0x900000f is not guest RAM (RAM is 0x40000000–0x400fffff)")
            XCTAssertEqual(
                assertError(try read("0x400ffff8", 16), .badRequest),
                "range 0x400ffff8–0x40100007 is not entirely guest RAM (RAM is 0x40000000–0x400fffff)")
            XCTAssertEqual(
                assertError(try read("0x3ffffff0", 32), .badRequest),
                "range 0x3ffffff0–0x4000000f is not entirely guest RAM (RAM is 0x40000000–0x400fffff)")
            XCTAssertEqual(
                assertError(try read("0xfffffffffffffff0", 32), .badRequest),
                "range from 0xfffffffffffffff0 past 2^64 is not guest RAM (RAM is 0x40000000–0x400fffff)")

            assertOK(try socket.request("start", ["name": "e"]))
            XCTAssertEqual(
                assertError(try read("0x40000000", 4), .vmNotPaused), "VM 'e' is running; pause it to read its memory")
            assertOK(try socket.request("pause", ["name": "e"]))
            XCTAssertEqual(assertOK(try read("0x40000000", 8))["data"], "00040091ffffff17")
            assertOK(try socket.request("kill", ["name": "e"]))
            XCTAssertEqual(assertOK(try read("0x40000004", 4))["data"], "ffffff17")

            assertError(try socket.request("read-memory", ["name": "ghost", "address": 0, "length": 1]), .noSuchVM)
            assertError(try socket.request("read-memory", ["name": "/", "address": 0, "length": 1]), .invalidName)
        }
        try await server.stop()
    }

    func testHexdumpAndHexDecoding() {
        XCTAssertEqual(
            VMMemoryRead.hexdump([0x48, 0x65, 0x6C, 0x6C, 0x6F], address: 0),
            "00000000: 4865 6c6c 6f                             Hello")
        let bytes = (0..<20).map { UInt8($0 * 13 & 0xFF) }
        XCTAssertEqual(
            VMMemoryRead.hexdump(bytes, address: 0xFFFF_0000_0000_1000),
            """
            ffff000000001000: 000d 1a27 3441 4e5b 6875 828f 9ca9 b6c3  ...'4AN[hu......
            ffff000000001010: d0dd eaf7                                ....
            """)
        let read = VMMemoryRead(name: "x", state: .paused, address: 0x10, bytes: bytes)
        XCTAssertEqual(read.data, "000d1a2734414e5b6875828f9ca9b6c3d0ddeaf7")
        XCTAssertEqual(read.bytes, bytes)
        var bad = read
        bad.data = "abc"
        XCTAssertNil(bad.bytes)
        bad.data = "zz"
        XCTAssertNil(bad.bytes)
    }
}
