import Control
import Foundation
import Platform
import TestSupport
import XCTest

/// `define`/`undefine`, the definition files and loading them at daemon start.
final class DefinitionTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = "/tmp/avdef-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func makeManager() -> VMManager {
        VMManager(store: DefinitionStore(directory: directory), logger: quietLogger, makeVM: spinningGuest)
    }

    private func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    func testStoreWritesAtomicallyAndReadsBack() throws {
        let store = DefinitionStore(directory: directory)
        let definition = VMDefinition(
            name: "demo", config: VMConfiguration(memory: "64M", kernel: "/k"), autostart: true)
        try store.save(definition)
        XCTAssertEqual(try files(), ["demo.json"], "no temporary file left behind")
        let text = try String(contentsOfFile: store.path(of: "demo"), encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("}\n"), text)
        XCTAssertEqual(
            try JSONValue(parsing: Data(text.utf8)),
            ["name": "demo", "autostart": true, "config": ["memory": "64M", "kernel": "/k"]])
        // Replacing goes through a rename: an open reader keeps the old file intact.
        let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: store.path(of: "demo")))
        try store.save(VMDefinition(name: "demo", config: VMConfiguration(memory: "32M")))
        XCTAssertEqual(
            try JSONValue(parsing: reader.readToEnd() ?? Data())["config"], ["memory": "64M", "kernel": "/k"])
        try reader.close()
        XCTAssertEqual(
            store.loadAll().definitions, [VMDefinition(name: "demo", config: VMConfiguration(memory: "32M"))])
        try store.remove("demo")
        XCTAssertEqual(try files(), [])
        try store.remove("demo")  // already gone: fine
    }

    func testCorruptAndForeignFilesAreSkipped() throws {
        let store = DefinitionStore(directory: directory)
        try store.save(VMDefinition(name: "good", config: VMConfiguration(cpus: 1)))
        let junk: [String: String] = [
            "torn.json": #"{"name":"torn","config":{"mem"#,
            "empty.json": "",
            "array.json": "[1,2]",
            "other.json": #"{"name":"someone-else","config":{},"autostart":false}"#,
            "badkey.json": #"{"name":"badkey","config":{"memroy":"1M"},"autostart":false}"#,
            "notes.txt": "not a definition",
            "good.console.log": "console output",
            ".good.json.tmp-1-2": #"{"name":"good"#,
        ]
        for (file, text) in junk { try text.write(toFile: "\(directory)/\(file)", atomically: false, encoding: .utf8) }
        try "{}".write(toFile: "\(directory)/unreadable.json", atomically: false, encoding: .utf8)
        chmod("\(directory)/unreadable.json", 0)
        let (definitions, problems) = store.loadAll()
        XCTAssertEqual(definitions.map(\.name), ["good"])
        // Unreadable for a normal user; for root (who reads mode-0 files) "{}" lacks a name.
        XCTAssertEqual(problems.count, 6, "\(problems)")
        for file in ["torn", "empty", "array", "other", "badkey", "unreadable"] {
            XCTAssertTrue(problems.contains { $0.contains("\(file).json") }, "\(file): \(problems)")
        }
        XCTAssertTrue(problems.contains { $0.contains("memroy") }, "\(problems)")
        if geteuid() == 0 { XCTAssertTrue(problems.contains { $0.hasSuffix("unreadable.json: missing key 'name'") }) }
        XCTAssertTrue(problems.allSatisfy { !$0.contains("\n") })
        XCTAssertFalse(try files().contains(".good.json.tmp-1-2"), "a stale temporary file was kept")
    }

    func testDefineUndefineAndList() async throws {
        let server = try await TestServer.start(manager: makeManager())
        do {
            let socket = try server.connect()
            let defined = assertOK(
                try socket.request("define", ["name": "d", "config": ["memory": "1M"], "autostart": true]))
            XCTAssertEqual(defined, ["name": "d", "state": "inactive", "defined": true, "autostart": true])
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(directory)/d.json"))
            assertOK(try socket.request("create", ["name": "t"]))
            XCTAssertEqual(
                assertOK(try socket.request("list")),
                [
                    "vms": [
                        ["name": "d", "state": "inactive", "defined": true, "autostart": true],
                        ["name": "t", "state": "created"],
                    ]
                ])
            let info = assertOK(try socket.request("info", ["name": "d"]))
            XCTAssertEqual(info["state"], "inactive")
            XCTAssertEqual(info["config"], ["memory": "1M"])

            // Starting a defined VM builds it from the definition; a stopped one starts again.
            XCTAssertEqual(assertOK(try socket.request("start", ["name": "d"])), ["name": "d", "state": "running"])
            assertError(try socket.request("start", ["name": "d"]), .vmNotCreated)
            let message = assertError(try socket.request("undefine", ["name": "d"]), .vmRunning)
            XCTAssertEqual(message, "VM 'd' is running; stop it before undefining it")
            assertOK(try socket.request("pause", ["name": "d"]))
            assertError(try socket.request("undefine", ["name": "d"]), .vmRunning)
            XCTAssertTrue(
                FileManager.default.fileExists(atPath: "\(directory)/d.json"), "a refused undefine removed the file")
            assertOK(try socket.request("stop", ["name": "d"]))
            assertOK(try socket.request("start", ["name": "d"]))
            assertOK(try socket.request("stop", ["name": "d"]))

            XCTAssertEqual(assertOK(try socket.request("undefine", ["name": "d"])), ["name": "d", "state": "stopped"])
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(directory)/d.json"))
            assertError(try socket.request("undefine", ["name": "d"]), .vmNotDefined)
            // No longer defined: a stopped VM cannot start again.
            assertError(try socket.request("start", ["name": "d"]), .vmNotCreated)
            assertOK(try socket.request("destroy", ["name": "d"]))
            XCTAssertEqual(assertOK(try socket.request("list")), ["vms": [["name": "t", "state": "created"]]])

            assertError(try socket.request("define", ["name": "../d"]), .invalidName)
            assertError(try socket.request("define", ["name": "x", "autostart": "yes"]), .badRequest)
            assertError(try socket.request("define", ["name": "x", "config": ["turbo": true]]), .invalidConfig)
            assertError(try socket.request("undefine", ["name": "../d"]), .invalidName)
            XCTAssertEqual(try files(), [])
        }
        try await server.stop()
    }

    /// `create` and `define` refuse a setting the board would refuse, up front (the factory here
    /// ignores the configuration, so only the manager's own check can refuse it), with
    /// `invalid-config` and the board's message, and keep nothing.
    func testCreateAndDefineRefuseInvalidSettings() async throws {
        let cases: [(config: JSONValue, message: String)] = [
            (["gic": "v4"], "invalid gic 'v4' (expected v2 or v3)"),
            (["cpus": 9], "cpus = 9: this build supports 1...8 vCPUs"),
            (["cpus": 0], "cpus = 0: this build supports 1...8 vCPUs"),
            (["clock": "icount", "cpus": 2], "clock = icount needs cpus = 1 (vCPUs run in parallel on host threads)"),
            (["clock": "wall"], "invalid clock 'wall' (expected host or icount)"),
            (["stop-timeout": -1], "stop-timeout -1.0 is outside 0...3600 seconds"),
            (["stop-timeout": 3601], "stop-timeout 3601.0 is outside 0...3600 seconds"),
            (["psci": "svc"], "invalid psci 'svc' (expected hvc or smc)"),
            (["memory": "12Q"], "invalid memory size '12Q' (expected bytes or a number with K, M or G)"),
            (["memory": "512K"], "memory size '512K' is outside 1M...255G"),
            (["memory": "1048577"], "memory size '1048577' is not a multiple of 4 KiB"),
        ]
        let server = try await TestServer.start(manager: makeManager())
        do {
            let socket = try server.connect()
            for (config, expected) in cases {
                for command in ["create", "define"] {
                    let message = assertError(
                        try socket.request(command, ["name": "bad", "config": config]), .invalidConfig)
                    XCTAssertEqual(message, expected, "\(command) \(config.jsonText())")
                }
            }
            XCTAssertEqual(assertOK(try socket.request("list")), ["vms": []])
            XCTAssertEqual(try files(), [])
        }
        try await server.stop()
    }

    func testLoadingStartsAutostartVMs() async throws {
        let first = makeManager()
        _ = try await first.define(name: "auto", configuration: VMConfiguration(memory: "1M"), autostart: true)
        _ = try await first.define(name: "manual", configuration: VMConfiguration(), autostart: false)
        try "garbage".write(toFile: "\(directory)/broken.json", atomically: false, encoding: .utf8)

        // A new manager on the same directory: what a restarted daemon does.
        let second = makeManager()
        let started = await second.loadDefinitions()
        XCTAssertEqual(started, ["auto"])
        let listed = await second.list()
        XCTAssertEqual(
            listed,
            [
                VMSummary(
                    name: "auto", state: .running,
                    definition: VMDefinition(name: "auto", config: VMConfiguration(memory: "1M"), autostart: true)),
                VMSummary(
                    name: "manual", state: .inactive,
                    definition: VMDefinition(name: "manual", config: VMConfiguration(), autostart: false)),
            ])
        await second.stopAll()
    }

    func testDefineWithoutAStoreFails() async throws {
        let manager = VMManager(logger: quietLogger, makeVM: spinningGuest)
        do {
            _ = try await manager.define(name: "x", configuration: VMConfiguration(), autostart: false)
            XCTFail("define without a state directory succeeded")
        } catch {
            XCTAssertEqual(error.code, .internal)
        }
    }
}
