import Foundation
import TestSupport
import XCTest

/// Debian bookworm's stock arm64 kernels (`scripts/fetch-debian-guest`) booted to a BusyBox
/// shell: the proof that a kernel nobody here wrote finds the board from the device tree,
/// brings up its CPUs through PSCI, takes timer and device interrupts through the vGIC and
/// uses the virtio devices. CI covers the cloud kernel on 1 vCPU with GICv3 and on 2 vCPUs with
/// GICv2, directly and through the daemon; `scripts/test-linux-all` adds the generic kernel
/// and 4 vCPUs (`LinuxBootAllTests`).
final class LinuxBootTests: DaemonTestCase {
    /// One vCPU, GICv3, a virtio disk and virtio-rng: the boot log, the commands the issue
    /// names, the entropy device, Ctrl-C, a file written to an ext4 disk, `reboot -f` booting
    /// again and `poweroff -f` ending the run with status 0.
    func testCloudKernelOnOneVCPUWithGICv3() throws {
        let disk = try Self.makeExt4Disk(in: workDirectory)
        let (shell, log) = try LinuxShell.boot(flavour: "cloud", extra: ["--rng", "--disk", disk])
        let vm = shell.vm
        XCTAssertTrue(log.contains("[vda] 32768 512-byte logical blocks"), log)

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
        XCTAssertEqual(devices.split(whereSeparator: \.isWhitespace), ["virtio0", "virtio1"], devices)

        let entropy = try shell.run("head -c 64 /dev/hwrng | od -A n -t x1 | wc -w")
        XCTAssertEqual(entropy.trimmingCharacters(in: .whitespacesAndNewlines), "64", entropy)

        // Ctrl-C reaches the foreground command (the shell has a controlling terminal).
        var mark = vm.length
        vm.send("echo sl\"\"eeping; sleep 60\n")
        try vm.waitFor("\nsleeping", after: mark, timeout: 30)
        vm.send("\u{03}")
        XCTAssertEqual(try shell.run("echo back", timeout: 30), "back\n")

        let mounted = try shell.run(
            "mount -t ext4 /dev/vda /mnt && echo written-by-linux > /mnt/hello.txt && sync && umount /mnt && echo ok")
        XCTAssertTrue(mounted.hasSuffix("ok\n"), mounted)

        mark = vm.length
        vm.send("reboot -f\n")
        let again = try vm.waitFor("guest reset (PSCI SYSTEM_RESET); booting again", after: mark)
        XCTAssertTrue(again.contains("reboot: Restarting system"), again)
        try shell.waitForBoot(after: mark)
        XCTAssertEqual(try shell.run("cat /proc/uptime | wc -w").trimmingCharacters(in: .whitespacesAndNewlines), "2")

        try shell.powerOff()
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

    /// Through the daemon: `armvisor console` attached before the start sees the boot and
    /// drives the shell; the cloud kernel has no gpio-keys driver, so `stop` presses the
    /// power button in vain and forces the stop after its timeout.
    func testCloudKernelThroughTheDaemonWithItsConsole() throws {
        let socketPath = "\(workDirectory)/s"
        let shell = try LinuxShell.bootThroughDaemon(self, socketPath: socketPath, name: "linux", flavour: "cloud")
        let uname = try shell.run("uname -r")
        XCTAssertTrue(uname.hasSuffix("-cloud-arm64\n"), uname)

        let stopped = try armvisor(["stop", "linux", "--timeout", "3", "--json", "--socket", socketPath])
        XCTAssertTrue(stopped.stdout.contains(#""reason":"killed""#), stopped.stdout)
        XCTAssertTrue(stopped.stdout.contains("forced after"), stopped.stdout)
        XCTAssertEqual(shell.vm.waitForExit(timeout: 30), 0, shell.vm.text)
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
