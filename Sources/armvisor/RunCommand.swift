import ArgumentParser
import Dispatch
import Foundation
import Hypervisor
import Platform
import Synchronization
import Backends

/// `armvisor run`: one guest in the foreground, console on stdout, for scripts and tests.
///
/// A guest reset (PSCI SYSTEM_RESET) boots a fresh instance of the VM from the same images, as
/// QEMU does; with `--no-reboot` it ends the run instead. Exit status: 0 when the guest powers
/// off (PSCI SYSTEM_OFF) or resets under `--no-reboot`, 2 on a guest fault, 130 when
/// interrupted (a signal, or the console escape Ctrl-A x on a terminal), 1 on any other error.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one guest in the foreground.",
        discussion: "Settings come from --config (a JSON file, see docs/CONFIG.md); flags override it.")

    @Option(help: "VM configuration file (JSON).") var config: String?
    @Option(help: "Guest image: AArch64 ELF, Linux arm64 Image, or raw binary (loaded at 0x40080000).")
    var kernel: String?
    @Option(help: "Guest RAM size (bytes or with K/M/G; default 128M).") var memory: String?
    @Option(help: "Number of vCPUs.") var cpus: Int?
    @Option(help: "Console: stdio, null, file:PATH, unix:PATH (a socket clients attach to) or pty (default stdio).")
    var console: String?
    @Option(help: "Give the guest this device tree (a .dtb) instead of the generated one.") var dtb: String?
    @Option(help: "Firmware to execute in place from flash at 0x0 (DTB at 0x40000000; a --kernel waits in RAM).")
    var bios: String?
    @Option(help: "A 64 MiB file backing flash bank 1 at 0x4000000 (CFI flash; the guest's writes reach the file).")
    var pflash: String?
    @Option(help: "Initial ramdisk for a Linux kernel (placed as QEMU does, announced in /chosen).")
    var initrd: String?
    @Option(help: "Kernel command line (/chosen/bootargs).") var append: String?
    @Option(help: "PSCI conduit: hvc (default) or smc.") var psci: String?
    @Option(help: "Interrupt controller: v3 (default) or v2.") var gic: String?
    @Option(help: "Time base: host (default) or icount (deterministic, 1 vCPU).") var clock: String?
    @Option(name: .customLong("dump-dtb"), help: "Write the device tree the guest gets to FILE.") var dumpDTB: String?
    @OptionGroup var virtio: VirtioOptions
    @Flag(help: "Print what the highvisor counted (exits by class, world switches, MMIO, instructions) to stderr.")
    var stats = false
    @Flag(name: .customLong("no-reboot"), help: "End the run when the guest resets instead of booting it again.")
    var noReboot = false

    func run() throws {
        var configuration = VMConfiguration()
        do {
            if let config { configuration = try VMConfiguration.load(path: config) }
            configuration = configuration.overridden(
                by: VMConfiguration(
                    memory: memory, cpus: cpus, kernel: kernel, console: console, dtb: dtb, bios: bios, initrd: initrd,
                    append: append, psci: psci, gic: gic, clock: clock, pflash: pflash)
            ).overridden(by: virtio.configuration())
            Board.announce = { Self.complain($0) }
            let current = CurrentVM()
            let interrupt = Self.stopOnSignals(current)
            FileConsoleBackend.escapeQuit = {
                current.interrupted = true
                current.vm?.requestStop()
            }
            defer { interrupt.forEach { $0.cancel() } }
            var record: StopRecord
            var boots = 0
            repeat {
                // Interrupted while the previous instance stopped for its reset: end here.
                if current.interrupted { throw ExitCode(130) }
                boots += 1
                let vm = try Board.makeVM(
                    name: "run", configuration: configuration, dumpDeviceTree: boots == 1 ? dumpDTB : nil)
                current.vm = vm
                try vm.start()
                record = vm.waitUntilStopped()
                current.vm = nil
                if stats { FileHandle.standardError.write(Data((vm.statistics.report + "\n").utf8)) }
                guard record.reason == .reset && record.detail == PSCI.systemResetDetail && !noReboot else { break }
                Self.complain("guest reset (\(record.detail)); booting again")
            } while true
            switch record.reason {
            case .poweroff:
                return
            case .reset:
                Self.complain("guest requested a reset (\(record.detail)); stopping")
                return
            case .guestFault:
                Self.complain("guest fault: \(record.detail)")
                throw ExitCode(2)
            case .killed:
                throw ExitCode(130)
            case .error:
                Self.complain(record.detail)
                throw ExitCode.failure
            }
        } catch let error as ConfigurationError {
            Self.complain(error.message)
            throw ExitCode.failure
        } catch let error as VirtualMachine.StateError {
            Self.complain(error.message)
            throw ExitCode.failure
        }
    }

    static func complain(_ message: String) {
        FileHandle.standardError.write(Data("armvisor: \(message)\n".utf8))
    }

    /// SIGINT/SIGTERM stop the VM (it exits with status 130) instead of killing the process, so
    /// console output is drained.
    static func stopOnSignals(_ current: CurrentVM) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                current.interrupted = true
                current.vm?.requestStop()
            }
            source.resume()
            return source
        }
    }
}

/// The instance `armvisor run` is running now (a reset replaces it); a signal that arrives
/// between two instances ends the run before the next one starts.
final class CurrentVM: Sendable {
    private let state = Mutex<(vm: VirtualMachine?, interrupted: Bool)>((nil, false))

    var vm: VirtualMachine? {
        get { state.withLock { $0.vm } }
        set {
            let stopAtOnce = state.withLock { current -> Bool in
                current.vm = newValue
                return current.interrupted
            }
            if stopAtOnce { newValue?.requestStop() }
        }
    }

    var interrupted: Bool {
        get { state.withLock { $0.interrupted } }
        set { state.withLock { $0.interrupted = newValue } }
    }
}
