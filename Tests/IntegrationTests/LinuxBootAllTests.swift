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
        let (shell, log) = try LinuxShell.boot(flavour: "generic", extra: ["--rng", "--disk", disk])
        XCTAssertTrue(log.contains("input: gpio-keys as /devices/platform/gpio-keys/input/input0"), log)
        let modules = try shell.run("cat /proc/modules | cut -d ' ' -f 1 | sort | tr '\\n' ' '")
        for module in ["virtio_mmio", "virtio_blk", "virtio_console", "virtio_rng", "gpio_keys", "ext4"] {
            XCTAssertTrue(modules.contains(module), modules)
        }
        let mounted = try shell.run(
            "mount -t ext4 /dev/vda /mnt && echo generic > /mnt/g.txt && sync && umount /mnt && echo ok")
        XCTAssertTrue(mounted.hasSuffix("ok\n"), mounted)
        try shell.powerOff()
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
        let shell = try LinuxShell.bootThroughDaemon(self, socketPath: socketPath, name: "linux", flavour: "generic")
        let console = shell.vm
        let stopped = try armvisor(["stop", "linux", "--timeout", "120", "--json", "--socket", socketPath])
        XCTAssertTrue(stopped.stdout.contains(#""reason":"poweroff""#), stopped.stdout)
        XCTAssertTrue(console.text.contains("armvisor-guest: power button"), console.text)
        XCTAssertEqual(console.waitForExit(timeout: 30), 0, console.text)
        try stopDaemon()
    }

    private func bootAndPowerOff(flavour: String, cpus: Int, gic: String) throws {
        let (shell, _) = try LinuxShell.boot(
            flavour: flavour, cpus: cpus, gic: gic, extra: ["--cpus", "\(cpus)", "--gic", gic])
        XCTAssertEqual(try shell.run("cat /sys/devices/system/cpu/online"), "0-\(cpus - 1)\n")
        try shell.powerOff()
    }
}
