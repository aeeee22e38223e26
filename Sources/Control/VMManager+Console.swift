import Hypervisor

/// `console`: attaching a client to a VM's PL011 console.
extension VMManager {
    /// An attached console session and the tap it reads from (to detach it and to send input).
    public struct ConsoleAttachment: Sendable {
        public let tap: ConsoleTap
        public let session: ConsoleSession
    }

    /// Attaches a session to the VM's console: from now on it gets the guest's output, and its
    /// input goes to the guest's UART. Legal in `created` (to see the boot from its first byte),
    /// `running` and `paused`; a guest reboot and the `reset` command keep the session (the tap is
    /// the run's `BoardHost`'s), and it ends when the VM stops otherwise.
    public func attachConsole(name: String) throws(ControlError) -> (VMSummary, ConsoleAttachment) {
        let entry = try lookup(name)
        let state = entry.vm.state
        guard state != .stopped else {
            throw ControlError(
                .vmNotRunning,
                "VM '\(name)' is stopped; only a created, running or paused VM has a console to attach to")
        }
        guard let tap = entry.vm.console else {
            throw ControlError(.noConsole, "VM '\(name)' has no console to attach to")
        }
        // The tap closes once the VM stops, which may have happened since the state was read.
        guard let session = tap.attach() else {
            throw ControlError(
                .vmNotRunning,
                "VM '\(name)' is stopped; only a created, running or paused VM has a console to attach to")
        }
        logger(for: name).info("console attached (\(tap.sessionCount) session(s))")
        return (VMSummary(name: name, state: VMState(entry.vm.state)), ConsoleAttachment(tap: tap, session: session))
    }
}
