import Hypervisor
import Platform

/// `kill` (the immediate stop) and `reset` (a fresh instance of the VM, started).
extension VMManager {
    /// How a `kill`ed VM ends.
    public static let killedOnRequest = StopRecord(reason: .killed, detail: "killed on request")
    /// How the old instance of a VM `reset` while running or paused ends.
    public static let resetOnRequest = StopRecord(reason: .reset, detail: "reset on request")

    /// Stops a running or paused VM at once (`killed`, unless the guest stopped by itself at the
    /// same moment) and returns once it has stopped. Legal in `running` and `paused`.
    public func kill(name: String) async throws(ControlError) -> VMStopSummary {
        try await forceStop(name: name, command: "kill", record: Self.killedOnRequest)
    }

    /// Restarts a VM from its boot state: stops the instance if it is running or paused (it ends
    /// with reason `reset`), builds a fresh one from the same configuration as `create` would, puts
    /// it in the old one's place and starts it. Legal in `running`, `paused` and `stopped`.
    /// Console sessions attached to the old instance go on with the fresh one (what the old one
    /// wrote while it stopped is not shown).
    ///
    /// The old instance must stop before the new one is built (both would open the same console),
    /// so the configuration is first checked by building a throwaway instance without a console:
    /// an image that no longer loads fails the reset while the VM goes on untouched. Only a failure
    /// of the real build after that (the console can no longer be opened, the image changed in
    /// between) leaves the VM stopped; the error says so.
    public func reset(name: String) async throws(ControlError) -> VMSummary {
        let entry = try lookup(name)
        let log = logger(for: name)
        let wasRunning: Bool
        var consoles: [ConsoleSession] = []
        switch entry.vm.state {
        case .created:
            throw ControlError(
                .vmNotRunning, "VM '\(name)' is created; it has not run yet, so start it instead of resetting it")
        case .running, .paused:
            var probe = entry.configuration
            probe.console = "null"
            // Nor may it open the virtio console (truncate its file, take over its socket).
            if probe.virtioConsole != nil { probe.virtioConsole = "null" }
            _ = try buildVM(name: name, configuration: probe)
            log.info("VM reset requested")
            // Attached consoles move to the fresh instance (they would end with this one).
            consoles = entry.vm.console?.takeSessions() ?? []
            entry.vm.requestStop(Self.resetOnRequest)
            _ = await entry.stopped.wait()
            wasRunning = true
        case .stopped:
            wasRunning = false
        }
        // Sessions that found no new home end (their clients see the connection close).
        defer { for session in consoles { session.detach() } }
        // Other commands ran while this one waited for the stop.
        guard let current = entries[name] else {
            throw ControlError(.noSuchVM, "VM '\(name)' was destroyed while it was being reset")
        }
        guard current.vm === entry.vm else {
            // A concurrent reset (or a start from the definition) already replaced the instance.
            current.vm.console?.adopt(consoles)
            consoles = []
            return VMSummary(name: name, state: VMState(current.vm.state))
        }
        let fresh: Entry
        do {
            fresh = try makeEntry(name: name, configuration: entry.configuration)
        } catch {
            guard wasRunning else { throw error }
            throw ControlError(
                error.code, "VM '\(name)' stopped for the reset but cannot be built again: \(error.message)")
        }
        entries[name] = fresh
        fresh.vm.console?.adopt(consoles)
        consoles = []
        // Published first, as `start` does: a guest that stops at once must not have its
        // `stopped` event come before `started`.
        events.publish(VMEvent(.started, name: name))
        do {
            try fresh.vm.start()
        } catch {
            throw ControlError(.internal, "the fresh instance of VM '\(name)' did not start: \(error)")
        }
        log.info("VM reset: a fresh instance started")
        return VMSummary(name: name, state: .running)
    }

    /// After the guest of `instance` reset itself (PSCI SYSTEM_RESET): unless a command already
    /// replaced or removed the instance, builds a fresh one from the same configuration and starts
    /// it (a `started` event follows the `stopped` one). A failure leaves the VM stopped and is
    /// logged.
    func rebootAfterGuestReset(name: String, instance: VirtualMachine) {
        guard let entry = entries[name], entry.vm === instance, instance.state == .stopped else { return }
        let log = logger(for: name)
        let fresh: Entry
        do {
            fresh = try makeEntry(name: name, configuration: entry.configuration)
        } catch {
            log.error("guest reset, but the VM cannot be built again: \(error.message)")
            return
        }
        entries[name] = fresh
        events.publish(VMEvent(.started, name: name))
        do {
            try fresh.vm.start()
            log.info("guest reset: a fresh instance booted")
        } catch {
            log.error("guest reset, but the fresh instance did not start: \(error)")
        }
    }
}
