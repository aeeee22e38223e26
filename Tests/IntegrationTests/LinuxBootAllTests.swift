import Foundation
import TestSupport
import XCTest

/// The Debian kernel boots beyond CI's (`scripts/test-linux-all`, which sets
/// `ARMVISOR_LINUX_ALL=1` and fetches both kernels): the generic kernel on 1 and 4 vCPUs with
/// both GICs, the cloud kernel on 4 vCPUs, and the power button: the generic kernel loads
/// gpio_keys from the initramfs and BusyBox acpid powers the guest off when `stop` presses it.
final class LinuxBootAllTests: DaemonTestCase {
    override func setUpWithError() throws {
        guard LinuxGuest.all else { throw XCTSkip("set ARMVISOR_LINUX_ALL=1 (scripts/test-linux-all) to run these") }
        try super.setUpWithError()
    }

    func testGenericKernelOnOneVCPUWithGICv3AndItsModules() throws {
        let disk = try LinuxBootTests.makeExt4Disk(in: workDirectory)
        let vm = try InteractiveProcess(
            try LinuxGuest.releaseProduct("armvisor"),
            try LinuxGuest.runArguments(flavour: "generic", extra: ["--rng", "--disk", disk]))
        let shell = LinuxShell(vm: vm)
        let log = try shell.waitForBoot()
        shell.checkBootLog(log, cpus: 1, gic: "v3")
        XCTAssertTrue(log.contains("input: gpio-keys as /devices/platform/gpio-keys/input/input0"), log)
        let modules = try shell.run("cat /proc/modules | cut -d ' ' -f 1 | sort | tr '\\n' ' '")
        for module in ["virtio_mmio", "virtio_blk", "virtio_console", "virtio_rng", "gpio_keys", "ext4"] {
            XCTAssertTrue(modules.contains(module), modules)
        }
        let mounted = try shell.run(
            "mount -t ext4 /dev/vda /mnt && echo generic > /mnt/g.txt && sync && umount /mnt && echo ok")
        XCTAssertTrue(mounted.hasSuffix("ok\n"), mounted)
        try powerOff(vm)
        XCTAssertEqual(try LinuxBootTests.readFile("/g.txt", fromExt4: disk), "generic\n")
    }

    func testGenericKernelOnFourVCPUsWithGICv2() throws {
        try bootAndPowerOff(flavour: "generic", cpus: 4, gic: "v2")
    }

    func testGenericKernelOnFourVCPUsWithGICv3() throws {
        try bootAndPowerOff(flavour: "generic", cpus: 4, gic: "v3")
    }

    func testCloudKernelOnFourVCPUsWithGICv3() throws {
        try bootAndPowerOff(flavour: "cloud", cpus: 4, gic: "v3")
    }

    /// `stop` presses the power button; gpio-keys reports KEY_POWER, acpid runs the guest's
    /// power-off script, and the VM stops with reason `poweroff`, not forced.
    func testGenericKernelPowersOffOnThePowerButton() throws {
        let socketPath = "\(workDirectory)/s"
        try launchDaemon(
            executable: try LinuxGuest.releaseProduct("armvisord"),
            arguments: ["--socket", socketPath, "--state-dir", "\(workDirectory)/state", "--log-level", "info"],
            socketPath: socketPath)
        let boot = try LinuxGuest.runArguments(flavour: "generic")
        try armvisor(["create", "linux"] + boot.dropFirst() + ["--socket", socketPath])
        let console = try InteractiveProcess(
            try LinuxGuest.releaseProduct("armvisor"), ["console", "linux", "--socket", socketPath])
        try armvisor(["start", "linux", "--socket", socketPath])
        let shell = LinuxShell(vm: console)
        shell.checkBootLog(try shell.waitForBoot(), cpus: 1, gic: "v3")
        let stopped = try armvisor(["stop", "linux", "--timeout", "120", "--json", "--socket", socketPath])
        XCTAssertTrue(stopped.stdout.contains(#""reason":"poweroff""#), stopped.stdout)
        XCTAssertTrue(console.text.contains("armvisor-guest: power button"), console.text)
        XCTAssertEqual(console.waitForExit(timeout: 30), 0, console.text)
        try stopDaemon()
    }

    private func bootAndPowerOff(flavour: String, cpus: Int, gic: String) throws {
        let vm = try InteractiveProcess(
            try LinuxGuest.releaseProduct("armvisor"),
            try LinuxGuest.runArguments(flavour: flavour, extra: ["--cpus", "\(cpus)", "--gic", gic]))
        let shell = LinuxShell(vm: vm)
        shell.checkBootLog(try shell.waitForBoot(), cpus: cpus, gic: gic)
        XCTAssertEqual(try shell.run("cat /sys/devices/system/cpu/online"), "0-\(cpus - 1)\n")
        try powerOff(vm)
    }

    private func powerOff(_ vm: InteractiveProcess) throws {
        let mark = vm.length
        vm.send("poweroff -f\n")
        try vm.waitFor("reboot: Power down", after: mark)
        XCTAssertEqual(vm.waitForExit(timeout: 60), 0, vm.text)
    }
}
