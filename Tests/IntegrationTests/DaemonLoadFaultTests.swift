import Foundation
import Synchronization
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Load and fault tests of a real daemon (issue 7): many VMs at once, many concurrent clients,
/// fuzzed requests, SIGKILL and restart, SIGTERM with running VMs that have disks.
final class DaemonLoadFaultTests: DaemonTestCase {
    /// 16 VMs of the `echo` guest run at once, each answering its own console.
    func testSixteenVMsRunAtOnce() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let echo = try TestPaths.guest("echo")
        try startStatefulDaemon(socketPath: socketPath)
        let names = (0..<16).map { "vm\($0)" }
        let client = try LineSocket(path: socketPath)
        for (index, name) in names.enumerated() {
            let config = #"{"kernel":"\#(echo)"}"#
            XCTAssertEqual(
                try client.exchangeLine(
                    #"{"id":\#(index),"command":"create","arguments":{"name":"\#(name)","config":\#(config)}}"#),
                #"{"id":\#(index),"ok":true,"result":{"name":"\#(name)","state":"created"}}"#)
        }
        var consoles: [LineSocket] = []
        for name in names {
            let console = try LineSocket(path: socketPath)
            _ = try console.exchangeLine(#"{"command":"console","arguments":{"name":"\#(name)"}}"#)
            consoles.append(console)
            XCTAssertTrue(
                try client.exchangeLine(#"{"command":"start","arguments":{"name":"\#(name)"}}"#).contains(#""ok":true"#)
            )
        }
        for console in consoles { XCTAssertEqual(try console.readUntil("READY\n"), "READY\n") }
        let list = try client.exchangeLine(#"{"id":"l","command":"list"}"#)
        XCTAssertEqual(list.components(separatedBy: #""state":"running""#).count - 1, 16, list)
        // Each VM echoes its own name: the consoles are not mixed up.
        for (name, console) in zip(names, consoles) { console.write(Array("\(name)\r".utf8)) }
        for (name, console) in zip(names, consoles) {
            XCTAssertEqual(try console.readUntil("\r\n"), "\(name)\r\n")
        }
        for console in consoles { console.write(Array("!".utf8)) }
        for console in consoles { XCTAssertEqual(try console.readToEnd(), "BYE\n") }
        for name in names {
            XCTAssertTrue(
                try client.exchangeLine(#"{"command":"wait","arguments":{"name":"\#(name)"}}"#).contains(
                    #""reason":"poweroff""#))
        }
        try stopDaemon()
    }

    /// A guest that faults fatally stops with reason `guest-fault` and its registers in the log;
    /// the other VMs keep running.
    func testAGuestFaultStopsOnlyThatVMWithARegisterDump() throws {
        let socketPath = "\(workDirectory)/d.sock"
        // movz x0, #0; br x0: a jump to 0x0, where there is no RAM (no --bios); with VBAR_EL1 = 0
        // that is the exception vector itself, so the guest can never recover.
        let faulty = "\(workDirectory)/fault.bin"
        let words: [UInt32] = [0xD280_0000, 0xD61F_0000]
        try Data(words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } })
            .write(to: URL(fileURLWithPath: faulty))
        try startStatefulDaemon(socketPath: socketPath)
        try armvisor([
            "create", "echo", "--kernel", try TestPaths.guest("echo"), "--stop-timeout", "0.2", "--socket", socketPath,
        ])
        try armvisor(["start", "echo", "--socket", socketPath])
        try armvisor(["create", "faulty", "--kernel", faulty, "--console", "null", "--socket", socketPath])
        try armvisor(["start", "faulty", "--socket", socketPath])
        let waited = try armvisor(["wait", "faulty", "--socket", socketPath]).stdout
        XCTAssertTrue(waited.hasPrefix("faulty: stopped (guest-fault): instruction fetch from 0x0 "), waited)
        try waitUntil("the register dump") { daemonLog.contains("X28 ") }
        let lines = daemonLog.split(separator: "\n").filter { $0.contains("vm=faulty") }
        XCTAssertTrue(lines.contains { $0.contains("error") && $0.contains("register dump:") }, daemonLog)
        XCTAssertTrue(lines.contains { $0.contains("PC  0x0000000000000") && $0.contains("EL1h") }, daemonLog)
        XCTAssertTrue(lines.contains { $0.contains("ESR_EL1") }, daemonLog)
        XCTAssertFalse(lines.contains { $0.contains("Q31") }, "no FP/SIMD registers in the log")
        // The other VM runs on and answers its console.
        let console = try LineSocket(path: socketPath)
        _ = try console.exchangeLine(#"{"id":1,"command":"console","arguments":{"name":"echo"}}"#)
        console.write(Array("ok\r".utf8))
        XCTAssertEqual(try console.readUntil("ok\r\n"), "ok\r\n")
        XCTAssertEqual(
            try armvisor(["list", "--socket", socketPath]).stdout, "NAME    STATE\necho    running\nfaulty  stopped\n")
        try stopDaemon()
    }

    /// 50 clients at once, 2,000 requests of every read-only kind (and some errors) in all;
    /// every reply is the right one for its request.
    func testFiftyConcurrentClientsTwoThousandMixedRequests() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let echo = try TestPaths.guest("echo")
        try startStatefulDaemon(socketPath: socketPath)
        // The echo guest ignores the power button: the shutdown forces it after 0.2 s.
        try armvisor(["create", "busy", "--kernel", echo, "--stop-timeout", "0.2", "--socket", socketPath])
        try armvisor(["start", "busy", "--socket", socketPath])
        try armvisor(["create", "idle", "--kernel", echo, "--socket", socketPath])

        let clients = 50, perClient = 40
        let tally = Tally()
        // A thread per client (GCD would run only as many at once as there are cores).
        let done = DispatchSemaphore(value: 0)
        for client in 0..<clients {
            Thread {
                defer { done.signal() }
                do {
                    let socket = try LineSocket(path: socketPath)
                    for index in 0..<perClient {
                        let id = client * 1000 + index
                        let (request, check) = Self.mixedRequest(id: id, kind: (client + index) % 9)
                        let reply = try socket.exchangeLine(request)
                        if let problem = check(reply) {
                            tally.failures.withLock { $0.append("\(request) → \(reply): \(problem)") }
                        }
                        tally.answered.add(1, ordering: .relaxed)
                    }
                } catch {
                    tally.failures.withLock { $0.append("client \(client): \(error)") }
                }
            }.start()
        }
        for _ in 0..<clients { done.wait() }
        XCTAssertEqual(tally.failures.withLock { $0 }, [])
        XCTAssertEqual(tally.answered.load(ordering: .relaxed), 2000)
        XCTAssertEqual(try armvisor(["ping", "--socket", socketPath]).stdout, "pong\n")
        try stopDaemon()
    }

    private final class Tally: Sendable {
        let failures = Mutex<[String]>([])
        let answered = Atomic<Int>(0)
    }

    /// Request `kind` (0-8) with `id`, and a check of its reply (nil: right).
    private static func mixedRequest(id: Int, kind: Int) -> (String, @Sendable (String) -> String?) {
        func expect(_ fragments: String...) -> @Sendable (String) -> String? {
            { reply in
                guard reply.hasPrefix("{"), reply.contains(#""id":\#(id)"#) || reply.contains(#""id":null"#) else {
                    return "not a reply to this request"
                }
                return fragments.first { !reply.contains($0) }.map { "missing \($0)" }
            }
        }
        switch kind {
        case 0: return (#"{"id":\#(id),"command":"ping"}"#, expect(#""id":\#(id),"ok":true,"result":{}}"#))
        case 1: return (#"{"id":\#(id),"command":"version"}"#, expect(#""protocol":1"#, #""ok":true"#))
        case 2:
            return (
                #"{"id":\#(id),"command":"list"}"#,
                expect(#"{"name":"busy","state":"running"}"#, #"{"name":"idle","state":"created"}"#)
            )
        case 3:
            return (
                #"{"id":\#(id),"command":"info","arguments":{"name":"busy"}}"#,
                expect(#""name":"busy""#, #""state":"running""#, #""ok":true"#)
            )
        case 4:
            return (
                #"{"id":\#(id),"command":"stats","arguments":{"name":"busy"}}"#,
                expect(#""exitsByClass":{"#, #""ok":true"#)
            )
        case 5:
            return (
                #"{"id":\#(id),"command":"stats","arguments":{"name":"ghost"}}"#,
                expect(#""code":"no-such-vm""#, #""ok":false"#)
            )
        case 6:
            return (
                #"{"id":\#(id),"command":"regs","arguments":{"name":"busy"}}"#,
                expect(#""code":"vm-not-paused""#)
            )
        case 7:
            return (
                #"{"id":\#(id),"command":"translate","arguments":{"name":"idle","address":"0x40080000"}}"#,
                expect(#""steps":["#, #""ok":true"#)
            )
        default:
            return (#"{"id":\#(id),"command":"frobnicate"}"#, expect(#""code":"unknown-command""#))
        }
    }

    /// 5,000 random and mutated requests: each gets one well-formed reply, and the daemon
    /// serves normally afterwards.
    func testFuzzedRequestsLeaveTheDaemonServing() throws {
        let socketPath = "\(workDirectory)/d.sock"
        try startStatefulDaemon(socketPath: socketPath)
        var random = SplitMix64(seed: 0x7A11_5EED)
        var requests: [String] = []
        for _ in 0..<5000 { requests.append(Self.fuzzedRequest(&random)) }
        var replies = 0
        var connection = try LineSocket(path: socketPath)
        // Pipelined in batches of 100 on one connection (a new one after an oversized line).
        for batch in stride(from: 0, to: requests.count, by: 100) {
            let lines = requests[batch..<min(batch + 100, requests.count)]
            connection.write(Array(lines.map { $0 + "\n" }.joined().utf8))
            for line in lines {
                guard let reply = try connection.readLine() else {
                    return XCTFail("the daemon closed the connection after \(String(reflecting: line.prefix(200)))")
                }
                guard let object = try? JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any],
                    object["ok"] is Bool
                else {
                    return XCTFail("malformed reply \(reply) to \(String(reflecting: line.prefix(200)))")
                }
                replies += 1
            }
            XCTAssertEqual(
                try connection.exchangeLine(#"{"id":"alive","command":"ping"}"#),
                #"{"id":"alive","ok":true,"result":{}}"#)
        }
        XCTAssertEqual(replies, 5000)
        // An oversized line closes only its connection.
        connection.write(Array(repeating: UInt8(ascii: "x"), count: (1 << 20) + 10) + [10])
        XCTAssertTrue(try connection.readLine()?.contains("request-too-large") ?? false)
        XCTAssertNil(try connection.readLine())
        connection = try LineSocket(path: socketPath)
        XCTAssertEqual(try connection.exchangeLine(#"{"id":1,"command":"ping"}"#), #"{"id":1,"ok":true,"result":{}}"#)
        XCTAssertTrue(daemon?.isRunning ?? false)
        XCTAssertEqual(try armvisor(["list", "--socket", socketPath]).status, 0)
        try stopDaemon()
    }

    /// One fuzzed request line: never blank, never containing a newline, never a command that
    /// takes over the connection (`events`, `console`).
    private static func fuzzedRequest(_ random: inout SplitMix64) -> String {
        let commands = [
            "ping", "version", "create", "define", "undefine", "start", "pause", "resume", "stop", "kill", "reset",
            "wait", "list", "info", "stats", "translate", "regs", "read-memory", "destroy", "", "PING", "x",
        ]
        let values: [String] = [
            "null", "true", "false", "0", "-1", "1e308", "-1e400", "18446744073709551616", "3.5", #""""#,
            #""demo""#, #""../etc/passwd""#, #""a\u0000b""#, #""\n""#, "[]", "{}", #"{"a":[1,2,{"b":null}]}"#,
            #""0xffffffffffffffff""#, #""0x""#, String(repeating: "[", count: 64) + String(repeating: "]", count: 64),
            "\"" + String(repeating: "é", count: 300) + "\"", #""\ud800""#,
        ]
        let keys = ["name", "config", "address", "length", "vcpu", "timeout", "autostart", "kernel", "memory", "cpus"]
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
        var line: String
        switch random.next() % 4 {
        case 0:
            // Random bytes (valid UTF-8 or not), starting with a non-blank byte.
            let count = Int(random.next() % 200)
            var bytes: [UInt8] = [UInt8(ascii: "#")]
            for _ in 0..<count {
                var byte = UInt8(truncatingIfNeeded: random.next())
                if byte == 10 { byte = 11 }
                bytes.append(byte)
            }
            line = String(decoding: bytes, as: UTF8.self)
        case 1:
            // A structured request with random members.
            var arguments: [String] = []
            for _ in 0..<Int(random.next() % 4) { arguments.append("\"\(pick(keys))\":\(pick(values))") }
            let config = #"{"memory":\#(pick(values)),"cpus":\#(pick(values)),"console":\#(pick(values))}"#
            if random.next() % 3 == 0 { arguments.append(#""config":\#(config)"#) }
            line =
                #"{"id":\#(pick(values)),"command":"\#(pick(commands))","arguments":{\#(arguments.joined(separator: ","))}}"#
        case 2:
            // Wrong shapes at the top level.
            line = #"{"id":\#(random.next() % 1000),"command":\#(pick(values)),"arguments":\#(pick(values))}"#
        default:
            // A valid request, then cut or with a byte flipped.
            var bytes = Array(
                #"{"id":7,"command":"\#(pick(commands))","arguments":{"name":"vm\#(random.next() % 4)"}}"#.utf8)
            if random.next() % 2 == 0 {
                bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count)) + 1))
            } else {
                let at = Int(random.next() % UInt64(bytes.count))
                bytes[at] ^= UInt8(truncatingIfNeeded: random.next() % 255 + 1)
                if bytes[at] == 10 { bytes[at] = 32 }
            }
            line = String(decoding: bytes, as: UTF8.self)
        }
        // The long-running or connection-changing commands stay out.
        for command in ["events", "console", "wait"] where line.contains(#""\#(command)""#) {
            line = line.replacingOccurrences(of: #""\#(command)""#, with: #""ping""#)
        }
        if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { line = "#" + line }
        return line
    }

    /// SIGKILL while definitions are being written: after a restart every definition the
    /// daemon acknowledged is there, byte for byte as it was stored.
    func testSIGKILLDuringDefinesAndRestartKeepsEveryDefinition() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let demo = try TestPaths.guest("demo")
        try startStatefulDaemon(socketPath: socketPath)
        let client = try LineSocket(path: socketPath)
        var acknowledged: [String] = []
        for index in 0..<20 {
            let reply = try client.exchangeLine(
                #"{"command":"define","arguments":{"name":"def\#(index)","config":{"kernel":"\#(demo)","memory":"\#(16 + index)M","console":"null"},"autostart":false}}"#
            )
            XCTAssertTrue(reply.contains(#""defined":true"#), reply)
            acknowledged.append("def\(index)")
        }
        // Redefinitions stream in on another connection while the daemon is killed.
        let writer = try LineSocket(path: socketPath)
        let stream = (0..<400).map {
            #"{"id":\#($0),"command":"define","arguments":{"name":"def\#($0 % 20)","config":{"kernel":"\#(demo)","memory":"\#(16 + $0 % 20)M","console":"null"}}}"#
                + "\n"
        }
        writer.write(Array(stream.joined().utf8))
        _ = try writer.readLine()  // at least one redefinition is done
        daemon?.forceKill()
        let stored = try Dictionary(
            uniqueKeysWithValues: acknowledged.map {
                ($0, try Data(contentsOf: URL(fileURLWithPath: "\(workDirectory)/state/\($0).json")))
            })

        try startStatefulDaemon(socketPath: socketPath)
        XCTAssertFalse(daemonLog.contains("skipping"), daemonLog)
        let list = try armvisor(["list", "--json", "--socket", socketPath]).stdout
        for (index, name) in acknowledged.enumerated() {
            XCTAssertTrue(
                list.contains(#"{"autostart":false,"defined":true,"name":"\#(name)","state":"inactive"}"#), list)
            let info = try armvisor(["info", name, "--json", "--socket", socketPath]).stdout
            XCTAssertTrue(info.contains(#""memory":"\#(16 + index)M""#), info)
            XCTAssertEqual(
                try Data(contentsOf: URL(fileURLWithPath: "\(workDirectory)/state/\(name).json")), stored[name])
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: "\(workDirectory)/state")
            .filter { !$0.hasSuffix(".json") && !$0.hasSuffix(".console.log") }
        XCTAssertEqual(leftovers, [], "temporary files left in the state directory")
        try armvisor(["start", "def3", "--socket", socketPath])
        XCTAssertEqual(
            try armvisor(["wait", "def3", "--socket", socketPath]).stdout, "def3: stopped (poweroff): PSCI SYSTEM_OFF\n"
        )
        try stopDaemon()
    }

    /// SIGTERM with running VMs that wrote to their disks: the daemon stops them, every disk
    /// holds what its guest wrote, and the daemon exits 0.
    func testSIGTERMWithRunningVMsLeavesTheirDisksWritten() throws {
        let socketPath = "\(workDirectory)/d.sock"
        let guest = try TestPaths.guest("virtio")
        try startStatefulDaemon(socketPath: socketPath)
        let pattern = (0..<512).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        let names = ["disk0", "disk1", "disk2"]
        for name in names {
            var image = [UInt8](repeating: 0, count: 64 << 10)
            image.replaceSubrange(0..<9, with: Array("DISK0HOLD".utf8))
            try Data(image).write(to: URL(fileURLWithPath: "\(workDirectory)/\(name).img"))
            try armvisor([
                "create", name, "--kernel", guest, "--disk", "\(workDirectory)/\(name).img", "--rng",
                "--virtio-console", "null", "--stop-timeout", "0.2", "--socket", socketPath,
            ])
            try armvisor(["start", name, "--socket", socketPath])
        }
        for name in names {
            try waitUntil("HOLDING from \(name)") {
                contents(of: "\(workDirectory)/state/\(name).console.log").contains("HOLDING\n")
            }
        }
        let list = try armvisor(["list", "--socket", socketPath]).stdout
        XCTAssertEqual(list, "NAME   STATE\ndisk0  running\ndisk1  running\ndisk2  running\n")
        try stopDaemon()
        let log = daemonLog
        for name in names {
            let console = contents(of: "\(workDirectory)/state/\(name).console.log")
            XCTAssertFalse(console.contains("FAIL"), console)
            let disk = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(workDirectory)/\(name).img")))
            XCTAssertEqual(Array(disk[512..<1024]), pattern, "\(name): the written sector is in the image")
            XCTAssertTrue(
                log.split(separator: "\n").contains { $0.contains("vm=\(name)") && $0.contains("VM stopped: killed") },
                log)
        }
    }
}

/// A small deterministic generator (SplitMix64), so a failing fuzz run can be repeated.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
