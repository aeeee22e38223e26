import AArch64
import Control
import Foundation
import Hypervisor
import TestSupport
import XCTest

/// The `translate` command (a debug walk of a guest VA through stage 1 and stage 2) and the
/// memory-virtualization counters of `stats`, over the socket, with tiny assembled guests in
/// 1 MiB of RAM at 0x4000_0000 (RAM IPA = machine-physical address).
final class TranslateCommandTests: XCTestCase {
    private func startServer(_ factory: @escaping VMManager.Factory) async throws -> TestServer {
        try await TestServer.start(manager: VMManager(logger: quietLogger, makeVM: factory))
    }

    private func translate(_ socket: LineSocket, _ name: String, _ address: JSONValue) throws -> VMTranslation {
        let result = assertOK(try socket.request("translate", ["name": .string(name), "address": address]))
        return try result.decode(as: VMTranslation.self)
    }

    // MARK: Stage 1 off

    /// The guest stores to 0x4001_0000 with the MMU off and powers off.
    func testMMUOffBeforeAndAfterTheGuestTouchedThePage() async throws {
        let factory = try assembledGuest(["movz x1, #0x4001, lsl #16", "str x1, [x1]"] + powerOffProgram)
        let server = try await startServer(factory)
        do {
            let socket = try server.connect()
            assertOK(try socket.request("create", ["name": "flat"]))

            // Not started: nothing is mapped at stage 2 yet, so the stage-2 walk finds an invalid
            // entry at its start level (level 1) and the translation faults there.
            let before = try translate(socket, "flat", "0x40010008")
            XCTAssertEqual(before.state, .created)
            XCTAssertEqual(before.vcpu, 0)
            XCTAssertEqual(before.virtualAddress, "0x40010008")
            XCTAssertEqual(before.exceptionLevel, 1)
            XCTAssertFalse(before.stage1Enabled)
            XCTAssertEqual(before.steps.map(\.stage), [2])
            XCTAssertEqual(before.steps.map(\.level), [1])
            XCTAssertEqual(before.steps.first?.descriptor, "0x0")
            XCTAssertEqual(before.fault, "stage-2 translation fault, level 1")
            XCTAssertEqual(before.ipa, "0x40010008", "with stage 1 off the IPA is the VA")
            XCTAssertNil(before.physical)
            XCTAssertNil(before.readable)
            // The walk mapped nothing.
            let created = assertOK(try socket.request("stats", ["name": "flat"]))
            XCTAssertEqual(created["statistics"]?["pagesMapped"], 0)

            assertOK(try socket.request("start", ["name": "flat"]))
            XCTAssertEqual(assertOK(try socket.request("wait", ["name": "flat"]))["reason"], "poweroff")

            // The guest touched the page: stage 2 maps it 1:1 (RAM IPA = machine address), levels 1-3.
            let after = try translate(socket, "flat", .integer(0x4001_0008))
            XCTAssertEqual(after.state, .stopped)
            XCTAssertFalse(after.stage1Enabled)
            XCTAssertNil(after.fault)
            XCTAssertEqual(after.steps.map(\.stage), [2, 2, 2])
            XCTAssertEqual(after.steps.map(\.level), [1, 2, 3])
            XCTAssertEqual(after.ipa, "0x40010008")
            XCTAssertEqual(after.physical, "0x40010008")
            XCTAssertEqual([after.readable, after.writable, after.executable], [true, true, true])
            XCTAssertEqual(after.device, true, "stage-1-off data accesses are Device-nGnRnE (HCR_EL2.DC = 0)")
            XCTAssertEqual(after.global, true)
            // The level-3 descriptor maps the page: valid page, AF, S2AP = RW, output 0x40010000.
            let leaf = try XCTUnwrap(after.steps.last.flatMap { UInt64($0.descriptor.dropFirst(2), radix: 16) })
            XCTAssertEqual(leaf & 0xFFFF_FFFF_F000, 0x4001_0000)
            XCTAssertEqual(leaf & 0b11, 0b11)
            XCTAssertEqual(leaf >> 6 & 0b11, 0b11)
            XCTAssertNotEqual(leaf & 1 << 10, 0)

            // A RAM page in the same 2 MiB the guest never touched: the level-3 entry is invalid.
            let untouched = try translate(socket, "flat", "0x40050000")
            XCTAssertEqual(untouched.fault, "stage-2 translation fault, level 3")
            XCTAssertEqual(untouched.steps.map(\.level), [1, 2, 3])
            // The UART window is not RAM: never mapped at stage 2.
            XCTAssertEqual(try translate(socket, "flat", "0x9000000").fault, "stage-2 translation fault, level 1")

            let report = after.report.split(separator: "\n").map(String.init)
            XCTAssertEqual(report.first, "flat vcpu0 EL1  VA 0x40010008  stage 1 off")
            XCTAssertEqual(report.count, 5)
            XCTAssertTrue(report[1].hasPrefix("  stage 2 level 1  @pa  0x"), report[1])
            XCTAssertEqual(report.last, "  → IPA 0x40010008  PA 0x40010008  R W X  device  global")
            XCTAssertEqual(
                before.report.split(separator: "\n").last, "  → stage-2 translation fault, level 1  (IPA 0x40010008)")
        }
        try await server.stop()
    }

    // MARK: Stage 1 on

    /// Stage-1 tables the host writes into RAM: TTBR0 (39-bit VA, level 1) maps the RAM's
    /// first 2 MiB 1:1 with a block, for the code; TTBR1 (48-bit VA, level 0) maps the page
    /// 0xffff_0000_0000_1000 to RAM + 0x2_0000 through levels 0-3.
    private static let upperVA: UInt64 = 0xFFFF_0000_0000_1234
    private static let l0 = guestRAMBase + 0x8_0000
    private static let l1 = l0 + 0x1000
    private static let l2 = l0 + 0x2000
    private static let l3 = l0 + 0x3000
    private static let lowL1 = l0 + 0x4000
    private static let lowL2 = l0 + 0x5000

    private static let mmuOn: @Sendable (VirtualMachine) -> Void = { vm in
        func put(_ address: UInt64, _ value: UInt64) {
            var v = value
            _ = withUnsafeBytes(of: &v) { vm.memory.write($0, at: address) }
        }
        // AttrIndx 1 (Normal WB), SH inner, AF; AP = 00 (EL1 read/write).
        let attributes: UInt64 = 1 << 2 | 3 << 8 | 1 << 10
        put(l0 + (upperVA >> 39 & 0x1FF) * 8, l1 | 3)
        put(l1 + (upperVA >> 30 & 0x1FF) * 8, l2 | 3)
        put(l2 + (upperVA >> 21 & 0x1FF) * 8, l3 | 3)
        put(l3 + (upperVA >> 12 & 0x1FF) * 8, (guestRAMBase + 0x2_0000) | 3 | attributes)
        put(lowL1 + (guestRAMBase >> 30) * 8, lowL2 | 3)
        put(lowL2, guestRAMBase | 1 | attributes)
        let s = vm.vcpus[0].cpu.state
        s.pointee.mairEL1 = 0xFF00
        // T0SZ = 25, T1SZ = 16, TG1 = 4 KB, IPS = 40 bits.
        s.pointee.tcrEL1 = 25 | 16 << 16 | 2 << 30 | 2 << 32
        s.pointee.ttbr0EL1 = lowL1
        s.pointee.ttbr1EL1 = l0
        s.pointee.sctlrEL1 |= 1
        vm.vcpus[0].cpu.updateTranslationContext()
    }

    /// The guest runs with the MMU on from its first instruction, loads through the upper-half
    /// VA and powers off.
    func testStage1WalkOfAnUpperHalfAddress() async throws {
        let program = ["movz x1, #0xffff, lsl #48", "movk x1, #0x1234", "ldr x2, [x1]"] + powerOffProgram
        let server = try await startServer(try assembledGuest(program, setup: Self.mmuOn))
        do {
            let socket = try server.connect()
            assertOK(try socket.request("create", ["name": "paged"]))

            // Not started: the stage-1 tables are in RAM but not mapped at stage 2, so the very
            // first descriptor read faults at stage 2 (S1PTW), reporting the descriptor's IPA.
            let before = try translate(socket, "paged", "0xffff000000001234")
            XCTAssertTrue(before.stage1Enabled)
            XCTAssertEqual(before.virtualAddress, "0xffff000000001234")
            XCTAssertEqual(before.fault, "stage-2 translation fault, level 1 on a stage-1 table walk")
            XCTAssertEqual(before.ipa, "0x" + String(Self.l0 + (Self.upperVA >> 39 & 0x1FF) * 8, radix: 16))
            XCTAssertEqual(before.steps.map(\.stage), [2])

            assertOK(try socket.request("start", ["name": "paged"]))
            XCTAssertEqual(assertOK(try socket.request("wait", ["name": "paged"]))["reason"], "poweroff")

            // Hex strings of either case and JSON numbers name the same address.
            let after = try translate(socket, "paged", "0xFFFF000000001234")
            XCTAssertEqual(try translate(socket, "paged", .integer(0x4000_0000)).physical, "0x40000000")
            XCTAssertNil(after.fault, after.report)
            XCTAssertEqual(after.ipa, "0x40020234")
            XCTAssertEqual(after.physical, "0x40020234")
            XCTAssertEqual([after.readable, after.writable, after.executable], [true, true, true])
            XCTAssertEqual(after.device, false)
            XCTAssertEqual(after.global, true)
            let stage1 = after.steps.filter { $0.stage == 1 }
            XCTAssertEqual(stage1.map(\.level), [0, 1, 2, 3])
            let addresses = [
                Self.l0 + (Self.upperVA >> 39 & 0x1FF) * 8, Self.l1 + (Self.upperVA >> 30 & 0x1FF) * 8,
                Self.l2 + (Self.upperVA >> 21 & 0x1FF) * 8, Self.l3 + (Self.upperVA >> 12 & 0x1FF) * 8,
            ]
            XCTAssertEqual(stage1.map(\.address), addresses.map { "0x" + String($0, radix: 16) })
            XCTAssertEqual(stage1.last?.descriptor, "0x40020707")
            // Every stage-1 descriptor read and the final IPA go through a 3-level stage-2 walk.
            XCTAssertEqual(after.steps.count, 4 * 4 + 3)
            XCTAssertEqual(
                after.steps.map(\.stage), Array(repeating: [2, 2, 2, 1], count: 4).flatMap { $0 } + [2, 2, 2])

            let report = after.report.split(separator: "\n").map(String.init)
            XCTAssertEqual(report.first, "paged vcpu0 EL1  VA 0xffff000000001234  stage 1 on")
            XCTAssertEqual(report[4], "  stage 1 level 0  @ipa 0x40080000  desc 0x0000000040081003")
            XCTAssertEqual(report.last, "  → IPA 0x40020234  PA 0x40020234  R W X  normal  global")

            // An unmapped upper-half address: the level-3 entry of the guest's table is invalid.
            let unmapped = try translate(socket, "paged", "0xffff000000002000")
            XCTAssertEqual(unmapped.fault, "stage-1 translation fault, level 3")
            XCTAssertNil(unmapped.ipa)
            XCTAssertEqual(unmapped.report.split(separator: "\n").last, "  → stage-1 translation fault, level 3")
        }
        try await server.stop()
    }

    // MARK: Errors

    func testBadRequestsAndMissingVMs() async throws {
        let server = try await startServer(try assembledGuest(powerOffProgram))
        do {
            let socket = try server.connect()
            assertOK(try socket.request("create", ["name": "t"]))
            for bad: JSONValue in [
                "zz", "0x", "0xg1", "1234", "0x1_000", " 0x10", "0x10000000000000000", "-0x1", "0x+1", -1,
                .double(1.5), true, [1], ["a": 1],
            ] {
                let message = assertError(try socket.request("translate", ["name": "t", "address": bad]), .badRequest)
                XCTAssertTrue(message.hasPrefix("argument 'address' must be "), message)
            }
            assertError(try socket.request("translate", ["name": "t"]), .badRequest)
            assertError(try socket.request("translate", ["address": "0x0"]), .badRequest)
            // A number JSON readers cannot hold exactly (2^64 - 2^48 + 0x1234) is refused with a hint.
            let large = assertError(
                try socket.exchange(
                    #"{"id":1,"command":"translate","arguments":{"name":"t","address":18446462598732845620}}"#),
                .badRequest)
            XCTAssertTrue(large.hasSuffix("(send large addresses as hex strings)"), large)
            // Integers up to 2^63-1 are parsed exactly (2^53 + 1 here; beyond the 40-bit PARange with
            // stage 1 off, an address size fault).
            let exact = try socket.exchange(
                #"{"command":"translate","arguments":{"name":"t","address":9007199254740993}}"#)
            XCTAssertEqual(assertOK(exact)["virtualAddress"], "0x20000000000001")
            XCTAssertEqual(assertOK(exact)["fault"], "stage-1 address size fault, level 0")
            // Integral doubles below 2^53 are exact.
            XCTAssertEqual(try translate(socket, "t", .double(0x4000_0000)).ipa, "0x40000000")

            let range = assertError(
                try socket.request("translate", ["name": "t", "address": "0x0", "vcpu": 1]), .badRequest)
            XCTAssertEqual(range, "vCPU 1 is out of range: VM 't' has 1 vCPU (index 0)")
            assertError(try socket.request("translate", ["name": "t", "address": "0x0", "vcpu": -1]), .badRequest)
            let typed = assertError(
                try socket.request("translate", ["name": "t", "address": "0x0", "vcpu": "0"]), .badRequest)
            XCTAssertEqual(typed, #"argument 'vcpu' must be an integer, not "0""#)
            assertError(
                try socket.request("translate", ["name": "t", "address": "0x0", "vcpu": .double(0.5)]), .badRequest)
            XCTAssertEqual(
                assertOK(try socket.request("translate", ["name": "t", "address": "0x0", "vcpu": 0]))["vcpu"], 0)
            XCTAssertEqual(
                assertOK(try socket.request("translate", ["name": "t", "address": "0x0", "vcpu": nil]))["vcpu"], 0)

            let missing = assertError(
                try socket.request("translate", id: 7, ["name": "ghost", "address": "0x0"]), .noSuchVM, id: 7)
            XCTAssertEqual(missing, "no VM named 'ghost'")
            assertError(try socket.request("translate", ["name": "../x", "address": "0x0"]), .invalidName)
            let unknown = assertError(try socket.request("frobnicate"), .unknownCommand)
            XCTAssertTrue(unknown.contains("stats, translate, regs, read-memory, events"), unknown)
        }
        try await server.stop()
    }

    // MARK: Stats

    func testStatsReplyHasTheMemoryCounters() async throws {
        let factory = try assembledGuest(["movz x1, #0x4001, lsl #16", "str x1, [x1]"] + powerOffProgram)
        let server = try await startServer(factory)
        do {
            let socket = try server.connect()
            assertOK(try socket.request("create", ["name": "m"]))
            let keys = [
                "stage2Faults", "readOnlyWrites", "pagesMapped", "residentBytes", "stage2TablePages", "tlbHits",
                "tlbMisses", "tlbFlushes",
            ]
            let created = try XCTUnwrap(assertOK(try socket.request("stats", ["name": "m"]))["statistics"])
            for key in keys { XCTAssertNotNil(created[key], "\(key) missing in \(created.jsonText())") }
            XCTAssertEqual(created["stage2Faults"], [:])
            XCTAssertEqual(created["pagesMapped"], 0)
            XCTAssertEqual(created["residentBytes"], 0)
            XCTAssertEqual(created["stage2TablePages"], 2, "the 8 KB root")

            assertOK(try socket.request("start", ["name": "m"]))
            assertOK(try socket.request("wait", ["name": "m"]))
            let stats = try XCTUnwrap(assertOK(try socket.request("stats", ["name": "m"]))["statistics"])
            // The code page (an instruction fetch) and the data page.
            XCTAssertEqual(stats["stage2Faults"], ["translation": 2, "fetch": 1])
            XCTAssertEqual(stats["pagesMapped"], 2)
            XCTAssertEqual(stats["residentBytes"], 8192)
            XCTAssertEqual(stats["stage2TablePages"], 4, "root, one level-2 and one level-3 table")
            XCTAssertEqual(stats["readOnlyWrites"], 0)
            XCTAssertGreaterThan(stats["tlbMisses"]?.integerValue ?? 0, 0)
            XCTAssertNotNil(stats["tlbHits"]?.integerValue)
            XCTAssertNotNil(stats["tlbFlushes"]?.integerValue)

            let report = try stats.decode(as: VMStatistics.self).report
            for row in [
                "pages mapped", "stage-2 table pages", "stage-2 translation faults", "read-only writes",
                "TLB hits", "TLB misses", "TLB flushes",
            ] {
                XCTAssertTrue(report.contains(row), "\(row) missing in:\n\(report)")
            }
            XCTAssertTrue(report.contains("2 (8 KiB resident)"), report)
        }
        try await server.stop()
    }
}
