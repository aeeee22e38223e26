import Foundation
import TestSupport
import XCTest

/// Debian bookworm's stock arm64 kernels (`scripts/fetch-debian-guest`) booted to a BusyBox
/// shell: the proof that a kernel nobody here wrote finds the board from the device tree,
/// brings up its CPUs through PSCI, takes timer and device interrupts through the vGIC and
/// uses the virtio devices. CI covers the cloud kernel on 1 vCPU with GICv3 (on a terminal, with
/// a disk, virtio-rng and hvc0) and on 2 vCPUs with GICv2, directly and through the daemon (with
/// a disk and a `unix:` console); `scripts/test-linux-all` adds the generic kernel and 4 vCPUs
/// (`LinuxBootAllTests`).
final class LinuxBootTests: DaemonTestCase {
    /// One vCPU, GICv3, a virtio disk, virtio-rng and a virtio console, run on a terminal (a
    /// pseudo-terminal, as a person runs it): the boot log, the commands the issue names, the
    /// entropy device, hvc0 both ways, Ctrl-C reaching the foreground command (the terminal is
    /// raw), a file written to an ext4 disk, `reboot -f` booting again on the same terminal and
    /// virtio console, and Ctrl-A x ending the run with the terminal restored.
    func testCloudKernelOnOneVCPUWithGICv3() throws {
        let disk = try Self.makeExt4Disk(in: workDirectory)
        let hvcPath = "\(workDirectory)/hvc.sock"
        let (shell, log) = try LinuxShell.boot(
            flavour: "cloud", extra: ["--rng", "--disk", disk, "--virtio-console", "unix:\(hvcPath)"],
            onTerminal: true)
        let vm = try XCTUnwrap(shell.vm as? TerminalProcess)
        XCTAssertTrue(vm.terminal.isRaw, "the terminal is raw while the VM runs")
        XCTAssertTrue(log.contains("[vda] 32768 512-byte logical blocks"), log)
        let hvc = try LineSocket(path: hvcPath)

        let uname = try shell.run("uname -a")
        XCTAssertTrue(uname.contains("Linux armvisor 6.1.0-"), uname)
        XCTAssertTrue(uname.contains("-cloud-arm64"), uname)
        XCTAssertTrue(uname.hasSuffix("aarch64 GNU/Linux\n"), uname)

        let cpuinfo = try shell.run("cat /proc/cpuinfo")
        XCTAssertEqual(cpuinfo.components(separatedBy: "processor\t:").count - 1, 1, cpuinfo)
        XCTAssertTrue(cpuinfo.contains("CPU part\t: 0xd07"), cpuinfo)
        XCTAssertTrue(cpuinfo.contains("Features\t: fp asimd evtstrm crc32 cpuid"), cpuinfo)

        let interrupts = try shell.run("cat /proc/interrupts")
        XCTAssertGreaterThan(try Self.count(of: "arch_timer", in: interrupts).reduce(0, +), 0, interrupts)
        XCTAssertGreaterThan(try Self.count(of: "uart-pl011", in: interrupts).reduce(0, +), 0, interrupts)
        XCTAssertTrue(interrupts.contains("GICv3  27 Level     arch_timer"), interrupts)

        let devices = try shell.run("ls /sys/bus/virtio/devices")
        XCTAssertEqual(devices.split(whereSeparator: \.isWhitespace), ["virtio0", "virtio1", "virtio2"], devices)

        let entropy = try shell.run("head -c 64 /dev/hwrng | od -A n -t x1 | wc -w")
        XCTAssertEqual(entropy.trimmingCharacters(in: .whitespacesAndNewlines), "64", entropy)

        // hvc0, the virtio console: output reaches the host's socket, and a line from the host
        // reaches a read in the guest (fd 3 is open before the guest says it is ready, so the
        // tty keeps what arrives before the read starts).
        XCTAssertEqual(try shell.run("echo hello-from-hvc0 > /dev/hvc0; echo sent"), "sent\n")
        XCTAssertTrue(try hvc.readUntil("hello-from-hvc0").hasSuffix("hello-from-hvc0"))
        var mark = vm.length
        vm.send("exec 3<>/dev/hvc0; echo hvc-rea\"\"dy >&3; read -r line <&3; echo \"got:$line\"; exec 3<&-\n")
        _ = try hvc.readUntil("hvc-ready")
        hvc.write(Array("typed-on-the-host\n".utf8))
        try vm.waitFor("got:typed-on-the-host", after: mark, timeout: 30)

        // Ctrl-C at the terminal reaches the foreground command: the prompt is back at once and
        // the VM runs on. The subshell prints, then becomes the sleep: a Ctrl-C that arrives
        // between the two still ends it (a subshell takes SIGINT's default action), where after
        // `echo; sleep` it reached the shell before the sleep had started, and the sleep ran its
        // full 60 s (failed once on CI).
        mark = vm.length
        vm.send("(echo sl\"\"eeping; exec sleep 60)\n")
        try vm.waitFor("\nsleeping", after: mark, timeout: 30)
        let interrupted = Date()
        vm.send("\u{03}")
        XCTAssertEqual(try shell.run("echo back", timeout: 30), "back\n")
        XCTAssertLessThan(Date().timeIntervalSince(interrupted), 20, "the prompt came back only after the sleep")

        let mounted = try shell.run(
            "mount -t ext4 /dev/vda /mnt && echo written-by-linux > /mnt/hello.txt && sync && umount /mnt && echo ok")
        XCTAssertTrue(mounted.hasSuffix("ok\n"), mounted)

        mark = vm.length
        vm.send("reboot -f\n")
        let again = try vm.waitFor("guest reset (PSCI SYSTEM_RESET); booting again", after: mark)
        XCTAssertTrue(again.contains("reboot: Restarting system"), again)
        try shell.waitForBoot(after: mark)
        XCTAssertEqual(try shell.run("cat /proc/uptime | wc -w").trimmingCharacters(in: .whitespacesAndNewlines), "2")
        // The same terminal (still raw) and the same virtio console connection after the reboot.
        XCTAssertTrue(vm.terminal.isRaw)
        XCTAssertEqual(try shell.run("echo after-reboot > /dev/hvc0; echo sent"), "sent\n")
        XCTAssertTrue(try hvc.readUntil("after-reboot").hasSuffix("after-reboot"))

        // Ctrl-A x ends the run (status 130) and gives the terminal its settings back.
        vm.send("\u{01}x")
        XCTAssertEqual(vm.waitForExit(timeout: 60), 130, vm.text)
        XCTAssertTrue(vm.terminal.isRestored, "the terminal's settings are back")
        XCTAssertEqual(try Self.readFile("/hello.txt", fromExt4: disk), "written-by-linux\n")
    }

    /// Two vCPUs on GICv2: the secondary comes up through PSCI CPU_ON and both take timer
    /// interrupts through the memory-mapped CPU interface.
    func testCloudKernelOnTwoVCPUsWithGICv2() throws {
        let (shell, _) = try LinuxShell.boot(
            flavour: "cloud", cpus: 2, gic: "v2", extra: ["--cpus", "2", "--gic", "v2"])
        let cpuinfo = try shell.run("cat /proc/cpuinfo")
        XCTAssertEqual(cpuinfo.components(separatedBy: "processor\t:").count - 1, 2, cpuinfo)
        XCTAssertEqual(try shell.run("cat /sys/devices/system/cpu/online"), "0-1\n")

        let interrupts = try shell.run("cat /proc/interrupts")
        XCTAssertTrue(interrupts.contains("GIC-0  27 Level     arch_timer"), interrupts)
        let timer = try Self.count(of: "arch_timer", in: interrupts)
        XCTAssertEqual(timer.count, 2, interrupts)
        XCTAssertTrue(timer.allSatisfy { $0 > 0 }, "each CPU takes timer interrupts:\n\(interrupts)")
        // Both CPUs took IPIs (SGIs through GICD_SGIR).
        let rescheduling = try Self.count(of: "Rescheduling interrupts", in: interrupts)
        let calls = try Self.count(of: "Function call interrupts", in: interrupts)
        XCTAssertGreaterThan(zip(rescheduling, calls).map { $0 + $1 }.min() ?? 0, 0, interrupts)
        try shell.powerOff()
    }

    /// Through the daemon, with a disk and the console on a `unix:` socket: `armvisor console`
    /// attached before the start sees the boot and drives the shell; a client of the console
    /// socket, connected before the start too, types `uname -a` and reads its output; the guest
    /// writes a file to the ext4 disk, which is in the image on the host once the VM stopped. The
    /// cloud kernel has no gpio-keys driver, so `stop` presses the power button in vain and
    /// forces the stop after its timeout.
    func testCloudKernelThroughTheDaemonWithItsConsoleAndADisk() throws {
        let socketPath = "\(workDirectory)/s"
        let consolePath = "\(workDirectory)/console.sock"
        let disk = try Self.makeExt4Disk(in: workDirectory)
        var client: LineSocket?
        let shell = try LinuxShell.bootThroughDaemon(
            self, socketPath: socketPath, name: "linux", flavour: "cloud",
            extra: ["--disk", disk, "--console", "unix:\(consolePath)"]
        ) { client = try LineSocket(path: consolePath) }
        let uname = try shell.run("uname -r")
        XCTAssertTrue(uname.hasSuffix("-cloud-arm64\n"), uname)

        // The socket client types into the same shell and reads the output. (It did not read
        // while the kernel booted, so it lost most of the boot log: the guest never waits for a
        // console client. What it still holds is skipped up to the marker.)
        let socket = try XCTUnwrap(client)
        socket.write(Array("uname -a; echo @@\"\"socket@@\n".utf8))
        let output = try socket.readUntil("@@socket@@")
        XCTAssertTrue(output.contains("Linux armvisor 6.1.0-"), output)
        XCTAssertTrue(output.contains("aarch64 GNU/Linux"), output)

        let written = try shell.run(
            "mount -t ext4 /dev/vda /mnt && echo written-through-the-daemon > /mnt/d.txt && sync && umount /mnt"
                + " && echo ok")
        XCTAssertTrue(written.hasSuffix("ok\n"), written)

        let stopped = try armvisor(["stop", "linux", "--timeout", "3", "--json", "--socket", socketPath])
        XCTAssertTrue(stopped.stdout.contains(#""reason":"killed""#), stopped.stdout)
        XCTAssertTrue(stopped.stdout.contains("forced after"), stopped.stdout)
        XCTAssertEqual(shell.vm.waitForExit(timeout: 30), 0, shell.vm.text)
        XCTAssertEqual(try Self.readFile("/d.txt", fromExt4: disk), "written-through-the-daemon\n")
        try stopDaemon()
    }

    // MARK: Helpers

    /// A 16 MiB ext4 image made on the host with mke2fs.
    static func makeExt4Disk(in directory: String) throws -> String {
        let path = "\(directory)/disk.img"
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 16 << 20)
        try handle.close()
        let result = try Self.host("mke2fs", ["-q", "-t", "ext4", "-F", path])
        XCTAssertEqual(result.status, 0, result.output)
        return path
    }

    /// A file of an ext4 image, read on the host with debugfs (e2fsprogs).
    static func readFile(_ file: String, fromExt4 image: String) throws -> String {
        let result = try host("debugfs", ["-R", "cat \(file)", image])
        return result.output.components(separatedBy: "\n").filter { !$0.hasPrefix("debugfs ") }.joined(
            separator: "\n")
    }

    /// Runs a host tool from /sbin, /usr/sbin or PATH; its status and standard output.
    static func host(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        let candidates = ["/sbin/\(tool)", "/usr/sbin/\(tool)", "/usr/bin/\(tool)", "/bin/\(tool)"]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestPaths.Missing(description: "\(tool) not found: install e2fsprogs (scripts/bootstrap does)")
        }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The per-CPU counts of the /proc/interrupts line that ends with `name`.
    static func count(of name: String, in interrupts: String) throws -> [Int] {
        guard let line = interrupts.split(separator: "\n").first(where: { $0.hasSuffix(name) }) else {
            throw TestPaths.Missing(description: "no \(name) line in /proc/interrupts:\n\(interrupts)")
        }
        let fields = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst()
        return fields.prefix { Int($0) != nil }.compactMap { Int($0) }
    }
}
