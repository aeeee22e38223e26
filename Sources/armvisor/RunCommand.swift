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
/// QEMU does, on the same open consoles (a `BoardHost` for the whole run: a console file keeps
/// appending, pty and socket clients stay connected); with `--no-reboot` it ends the run instead. Exit status: 0 when the guest powers
/// off (PSCI SYSTEM_OFF) or resets under `--no-reboot`, 2 on a guest fault, 130 when
/// interrupted (a signal, or the console escape Ctrl-A x on a terminal), 1 on any other error.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one guest in the foreground.",
        discussion: "Settings come from --config (a JSON file, see docs/CONFIG.md); flags override it.")

    @OptionGroup var settings: VMSettingsOptions
    @Option(name: .customLong("dump-dtb"), help: "Write the device tree the guest gets to FILE.") var dumpDTB: String?
    @Flag(help: "Print what the highvisor counted (exits by class, world switches, MMIO, instructions) to stderr.")
    var stats = false
    @Flag(name: .customLong("no-reboot"), help: "End the run when the guest resets instead of booting it again.")
    var noReboot = false

    func run() throws {
        // A console whose reader went away (`armvisor run … | head`) loses its output, not the
        // process: the VM still stops through its shutdown hooks.
        signal(SIGPIPE, SIG_IGN)
        do {
            let configuration = try settings.configuration()
            Board.announce = { Self.complain($0) }
            let current = CurrentVM()
            let interrupt = Self.stopOnSignals(current)
            // Called on the console's loop thread: stopping there could wait on that thread
            // (a VM whose vCPUs are all off finishes at once and drains its console).
            FileConsoleBackend.escapeQuit = {
                current.interrupted = true
                DispatchQueue.global().async { current.vm?.requestStop() }
            }
            defer { interrupt.forEach { $0.cancel() } }
            // Opened by the first instance, closed when the run ends.
            let host = BoardHost()
            defer { host.close() }
            var record: StopRecord
            var boots = 0
            repeat {
                // Interrupted while the previous instance stopped for its reset: end here.
                if current.interrupted { throw ExitCode(130) }
                boots += 1
                let vm = try Board.makeVM(
                    name: "run", configuration: configuration, host: host,
                    dumpDeviceTree: boots == 1 ? dumpDTB : nil)
                // Started first: a signal's requestStop only stops a running VM.
                try vm.start()
                current.vm = vm
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
