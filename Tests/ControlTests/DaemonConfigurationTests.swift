import Control
import Foundation
import Platform
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon configuration file format (`armvisord.conf`) and the allowed image directories.
final class DaemonConfigurationTests: XCTestCase {
    private func parse(_ text: String) throws(DaemonConfigurationError) -> DaemonConfiguration {
        try DaemonConfiguration.parse(text, file: "/etc/armvisor/armvisord.conf")
    }

    /// The one-line error for `text`.
    private func error(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            let configuration = try parse(text)
            XCTFail("parsed: \(configuration)", file: file, line: line)
            return ""
        } catch {
            XCTAssertFalse(error.message.contains("\n"), error.message, file: file, line: line)
            return error.message
        }
    }

    func testEveryKey() throws {
        let group = String(cString: getgrgid(getgid()).pointee.gr_name)
        let configuration = try parse(
            """
            # a comment
            socket = "run/a.sock"   # relative: to the file's directory
            socket-mode = "0640"
            socket-group = "\(group)"
            state-dir = '/var/lib/a b'
            allowed-image-dirs = [
                "/srv/images",  # trailing comments and commas are fine
                "images",
            ]
            log-level = "debug"
            max-connections = 1_000
            idle-timeout = 0\r

            """)
        XCTAssertEqual(
            configuration,
            DaemonConfiguration(
                socket: "/etc/armvisor/run/a.sock", socketMode: 0o640,
                socketGroup: SocketGroup(name: group, gid: getgid()),
                stateDirectory: "/var/lib/a b", allowedImageDirectories: ["/srv/images", "/etc/armvisor/images"],
                logLevel: .debug, maxConnections: 1000, idleTimeoutSeconds: 0))
        XCTAssertEqual(try parse(""), DaemonConfiguration())
        XCTAssertEqual(try parse("socket-mode = 0660").socketMode, 0o660)
        XCTAssertEqual(try parse("socket-mode = 0o600").socketMode, 0o600)
        XCTAssertEqual(try parse("socket-group = 4242").socketGroup, SocketGroup(name: "4242", gid: 4242))
        XCTAssertEqual(try parse("allowed-image-dirs = []").allowedImageDirectories, [])
        XCTAssertEqual(try parse(#"socket = "/a\"b\\c\u0041""#).socket, #"/a"b\cA"#)
        // What --check-config prints reads back the same.
        XCTAssertEqual(try parse(configuration.fileText), configuration)
    }

    func testErrorsNameTheFileLineAndKey() {
        let file = "/etc/armvisor/armvisord.conf"
        XCTAssertEqual(
            error("log-level = \"info\"\n\nsokcet = \"/x\""),
            "\(file):3: unknown key 'sokcet' (known: allowed-image-dirs, idle-timeout, log-level, max-connections, socket, socket-group, socket-mode, state-dir)"
        )
        XCTAssertEqual(
            error("socket-mode = \"0999\""),
            "\(file):1: key 'socket-mode': '0999' is not an octal mode from 0000 to 0777 (like \"0660\")")
        XCTAssertEqual(
            error("\nmax-connections = 0"), "\(file):2: key 'max-connections': 0 is outside 1...100000 connections")
        XCTAssertEqual(
            error("max-connections = \"5\""), "\(file):1: key 'max-connections': must be an integer, not a string")
        XCTAssertEqual(error("idle-timeout = -1"), "\(file):1: key 'idle-timeout': -1 is outside 0...31536000 seconds")
        XCTAssertEqual(
            error("log-level = \"loud\""),
            "\(file):1: key 'log-level': unknown log level 'loud' (trace, debug, info, notice, warning, error, critical)"
        )
        XCTAssertEqual(
            error("log-level = info"),
            "\(file):1: key 'log-level': 'info' is not a value (put strings in double quotes)")
        XCTAssertEqual(
            error("socket-group = \"no-such-group-xyz\""),
            "\(file):1: key 'socket-group': no group named 'no-such-group-xyz'")
        XCTAssertEqual(
            error("allowed-image-dirs = \"/srv\""),
            "\(file):1: key 'allowed-image-dirs': must be a list of directories, like [\"/srv/images\"], not a string")
        XCTAssertEqual(
            error("allowed-image-dirs = [\"/a\",\n\"/b\""),
            "\(file):2: key 'allowed-image-dirs': unterminated list (a ] is missing)")
        XCTAssertEqual(
            error("socket = \"/a\"\nsocket = \"/b\""), "\(file):2: key 'socket': set twice (first on line 1)")
        XCTAssertEqual(error("socket = \"/a"), "\(file):1: key 'socket': unterminated string (a closing \" is missing)")
        XCTAssertEqual(error("socket = \"/a\" /b"), "\(file):1: key 'socket': unexpected text after the value")
        XCTAssertEqual(error("socket = \"\""), "\(file):1: key 'socket': must not be an empty path")
        XCTAssertEqual(error("socket"), "\(file):1: expected '=' after 'socket'")
        XCTAssertEqual(error("= 5"), "\(file):1: expected 'key = value'")
        XCTAssertEqual(error("[daemon]"), "\(file):1: sections ([name]) are not supported: write 'key = value' lines")
        XCTAssertEqual(error("socket ="), "\(file):1: key 'socket': missing value")
        XCTAssertEqual(
            error("socket = \"\\q\""),
            "\(file):1: key 'socket': unknown escape '\\q' (use \\\\ \\\" \\n \\t \\r \\uXXXX)")
        XCTAssertTrue(error("socket = \"/\(String(repeating: "a", count: 120))\"").contains("is too long"))
    }

    func testFlagsOverrideTheFile() throws {
        let file = try parse("max-connections = 4\nlog-level = \"debug\"\nallowed-image-dirs = [\"/a\"]")
        let merged = file.overridden(by: DaemonConfiguration(allowedImageDirectories: ["/b"], maxConnections: 9))
        XCTAssertEqual(merged.maxConnections, 9)
        XCTAssertEqual(merged.logLevel, .debug)
        XCTAssertEqual(merged.allowedImageDirectories, ["/b"])
    }

    func testDefaultConfigPath() {
        XCTAssertEqual(ControlPaths.defaultConfigPath(environment: [:], uid: 0), "/etc/armvisor/armvisord.conf")
        XCTAssertEqual(
            ControlPaths.defaultConfigPath(environment: ["XDG_CONFIG_HOME": "/c"], uid: 1000),
            "/c/armvisor/armvisord.conf")
        XCTAssertEqual(
            ControlPaths.defaultConfigPath(environment: ["HOME": "/home/u"], uid: 1000),
            "/home/u/.config/armvisor/armvisord.conf")
    }

    // MARK: - Allowed image directories

    func testImagePathPolicy() throws {
        let root = "/tmp/avpp-\(getpid())-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let files = FileManager.default
        for directory in ["images/sub", "other"] {
            try files.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
        for file in ["images/k.bin", "images/sub/d.dtb", "other/secret"] {
            _ = files.createFile(atPath: "\(root)/\(file)", contents: Data([1]))
        }
        try files.createSymbolicLink(atPath: "\(root)/images/escape", withDestinationPath: "../other/secret")
        try files.createSymbolicLink(atPath: "\(root)/images/inside", withDestinationPath: "sub/d.dtb")
        try files.createSymbolicLink(atPath: "\(root)/images/dangling", withDestinationPath: "../other/new.log")
        try files.createSymbolicLink(atPath: "\(root)/link-to-images", withDestinationPath: "images")

        // The allowed directory itself may be named through a symbolic link.
        let policy = ImagePathPolicy(allowedDirectories: ["\(root)/link-to-images"])
        func allowed(_ configuration: VMConfiguration) throws -> VMConfiguration { try policy.resolve(configuration) }
        func refused(_ configuration: VMConfiguration, file: StaticString = #filePath, line: UInt = #line) -> String {
            do {
                let resolved = try policy.resolve(configuration)
                XCTFail("allowed: \(resolved)", file: file, line: line)
                return ""
            } catch {
                XCTAssertEqual(error.code, .pathNotAllowed, file: file, line: line)
                return error.message
            }
        }

        let resolved = try allowed(
            VMConfiguration(
                kernel: "\(root)/images/k.bin", console: "file:\(root)/images/new.log", dtb: "\(root)/images/inside",
                initrd: "\(root)/images/sub/../k.bin"))
        XCTAssertEqual(resolved.kernel, "\(root)/images/k.bin")
        XCTAssertEqual(resolved.dtb, "\(root)/images/sub/d.dtb")
        XCTAssertEqual(resolved.initrd, "\(root)/images/k.bin")
        XCTAssertEqual(resolved.console, "file:\(root)/images/new.log")
        // A missing file inside is allowed (the board then reports it), stdio and null are not paths.
        XCTAssertEqual(try allowed(VMConfiguration(bios: "\(root)/images/none.bin")).bios, "\(root)/images/none.bin")
        XCTAssertEqual(try allowed(VMConfiguration(console: "null")).console, "null")

        XCTAssertEqual(
            refused(VMConfiguration(kernel: "\(root)/other/secret")),
            "kernel \"\(root)/other/secret\" is not inside an allowed image directory (allowed: \(root)/link-to-images)"
        )
        XCTAssertTrue(refused(VMConfiguration(dtb: "\(root)/images/escape")).hasPrefix("dtb "))
        XCTAssertTrue(refused(VMConfiguration(initrd: "\(root)/images/../other/secret")).hasPrefix("initrd "))
        XCTAssertTrue(refused(VMConfiguration(bios: "/etc/passwd")).hasPrefix("bios "))
        XCTAssertTrue(refused(VMConfiguration(kernel: "\(root)/images/..")).hasPrefix("kernel "))
        XCTAssertTrue(refused(VMConfiguration(console: "file:\(root)/other/x.log")).hasPrefix("console file "))
        // A dangling link would let open(O_CREAT) create a file outside.
        XCTAssertTrue(refused(VMConfiguration(console: "file:\(root)/images/dangling")).hasPrefix("console file "))
        XCTAssertTrue(refused(VMConfiguration(console: "file:\(root)/nowhere/x.log")).hasPrefix("console file "))
        // Disks and the virtio console are host paths too.
        let withDisks = try allowed(
            VMConfiguration(
                disks: [.init(path: "\(root)/images/sub/../k.bin", readonly: true)],
                virtioConsole: "file:\(root)/images/v.log"))
        XCTAssertEqual(withDisks.disks, [.init(path: "\(root)/images/k.bin", readonly: true)])
        XCTAssertEqual(withDisks.virtioConsole, "file:\(root)/images/v.log")
        XCTAssertEqual(
            refused(
                VMConfiguration(disks: [.init(path: "\(root)/images/k.bin"), .init(path: "\(root)/images/escape")])),
            "disk \"\(root)/images/escape\" is not inside an allowed image directory (allowed: \(root)/link-to-images)")
        XCTAssertTrue(refused(VMConfiguration(virtioConsole: "file:/etc/x")).hasPrefix("virtio-console file "))
        XCTAssertTrue(refused(VMConfiguration(console: "unix:/run/x.sock")).hasPrefix("console socket "))
        XCTAssertEqual(
            try allowed(VMConfiguration(console: "unix:\(root)/images/c.sock")).console, "unix:\(root)/images/c.sock")
        // The daemon's own console default is exempt.
        let own = "file:\(root)/state/vm.console.log"
        XCTAssertEqual(try policy.resolve(VMConfiguration(console: own), exemptConsole: own).console, own)

        let none = ImagePathPolicy(allowedDirectories: [])
        XCTAssertThrowsError(try none.resolve(VMConfiguration(kernel: "\(root)/images/k.bin"))) { error in
            XCTAssertTrue("\(error)".contains("no directory is allowed"), "\(error)")
        }
        let anything = VMConfiguration(kernel: "../x", console: "file:/etc/x")
        XCTAssertEqual(try ImagePathPolicy.unrestricted.resolve(anything), anything)
    }

    func testManagerChecksCreateDefineAndStart() async throws {
        let root = "/tmp/avpm-\(getpid())-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/images", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root)/state", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(root)/images/k.bin", contents: Data([0]))
        _ = FileManager.default.createFile(atPath: "\(root)/k.bin", contents: Data([0]))
        let built = BuiltConfigurations()
        let manager = VMManager(
            consoleDirectory: "\(root)/state", store: DefinitionStore(directory: "\(root)/state"),
            imagePaths: ImagePathPolicy(allowedDirectories: ["\(root)/images"]), logger: quietLogger
        ) { name, configuration in
            built.append(configuration)
            return try spinningGuest(name, configuration)
        }
        let inside = VMConfiguration(kernel: "\(root)/images/../images/k.bin")
        let outside = VMConfiguration(kernel: "\(root)/k.bin", console: "null")
        _ = try await manager.create(name: "a", configuration: inside)
        // Built from the resolved path, with the daemon's default console.
        XCTAssertEqual(
            built.all.last, VMConfiguration(kernel: "\(root)/images/k.bin", console: "file:\(root)/state/a.console.log")
        )
        await assertCode(.pathNotAllowed) { try await manager.create(name: "b", configuration: outside) }
        await assertCode(.pathNotAllowed) {
            try await manager.define(name: "b", configuration: outside, autostart: false)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(root)/state/b.json"))
        // A definition made while the path was allowed does not start once it is not.
        await manager.setImagePaths(.unrestricted)
        _ = try await manager.define(name: "c", configuration: outside, autostart: false)
        await manager.setImagePaths(ImagePathPolicy(allowedDirectories: ["\(root)/images"]))
        await assertCode(.pathNotAllowed) { try await manager.start(name: "c") }
        let names = await manager.list().map(\.name)
        XCTAssertEqual(names, ["a", "c"])
        _ = try await manager.start(name: "a")
        await manager.stopAll()
    }

    private func assertCode(
        _ code: ControlErrorCode, file: StaticString = #filePath, line: UInt = #line,
        _ body: () async throws -> some Any
    ) async {
        do {
            _ = try await body()
            XCTFail("no error", file: file, line: line)
        } catch let error as ControlError {
            XCTAssertEqual(error.code, code, error.message, file: file, line: line)
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }
}

/// The configurations a test factory was asked to build.
private final class BuiltConfigurations: @unchecked Sendable {
    private let lock = NSLock()
    private var configurations: [VMConfiguration] = []

    func append(_ configuration: VMConfiguration) { lock.withLock { configurations.append(configuration) } }
    var all: [VMConfiguration] { lock.withLock { configurations } }
}
