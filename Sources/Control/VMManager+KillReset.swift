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
    /// A running or paused VM keeps its consoles, as on a guest reboot: the fresh instance gets the
    /// same open backends, and attached console sessions go on with it.
    ///
    /// The configuration is first checked by building a throwaway instance without consoles: an
    /// image that no longer loads fails the reset while the VM goes on untouched. Only a failure of
    /// the real build after that (the image changed in between) leaves the VM stopped; the error
    /// says so.
    public func reset(name: String) async throws(ControlError) -> VMSummary {
        try refuseDuringShutdown("reset")
        let entry = try lookup(name)
        let log = logger(for: name)
        let wasRunning: Bool
        switch entry.vm.state {
        case .created:
            throw ControlError(
                .vmNotRunning, "VM '\(name)' is created; it has not run yet, so start it instead of resetting it")
        case .running, .paused:
            var probe = entry.configuration
            probe.console = "null"
            // Nor may it open the virtio console (truncate its file, take over its socket).
            if probe.virtioConsole != nil { probe.virtioConsole = "null" }
            let throwaway = BoardHost()
            defer { throwaway.close() }
            _ = try buildVM(name: name, configuration: probe, host: throwaway)
            log.info("VM reset requested")
            entry.vm.requestStop(Self.resetOnRequest)
            _ = await entry.stopped.wait()
            wasRunning = true
        case .stopped:
            wasRunning = false
        }
        // The fresh instance gets the stopped one's consoles: still open when it stopped for a
        // reset, opened again otherwise (a stop of any other kind closed them).
        let host = entry.host
        // Other commands ran while this one waited for the stop.
        guard let current = entries[name] else {
            host.close()
            throw ControlError(.noSuchVM, "VM '\(name)' was destroyed while it was being reset")
        }
        guard current.vm === entry.vm else {
            // A concurrent reset (or a start from the definition) already replaced the instance.
            if current.host !== host { host.close() }
            return VMSummary(name: name, state: VMState(current.vm.state))
        }
        do {
            try startFreshInstance(of: entry, name: name, host: host)
        } catch {
            guard wasRunning else { throw error }
            throw ControlError(
                error.code, "VM '\(name)' stopped for the reset but cannot be built again: \(error.message)")
        }
        log.info("VM reset: a fresh instance started")
        return VMSummary(name: name, state: .running)
    }

    /// Builds a fresh instance of `entry`'s VM on the consoles of `host`, puts it in the entry's
    /// place and starts it. A failed build closes `host` and leaves the entry as it was; a
    /// failed start (not expected: the instance was just built) leaves the fresh instance in
    /// the entry's place, `created`, with `host` open.
    private func startFreshInstance(of entry: Entry, name: String, host: BoardHost) throws(ControlError) {
        let fresh: Entry
        do {
            fresh = try makeEntry(name: name, configuration: entry.configuration, host: host)
        } catch {
            host.close()
            throw error
        }
        entries[name] = fresh
        // Published first, as `start` does: a guest that stops at once must not have its
        // `stopped` event come before `started`.
        events.publish(VMEvent(.started, name: name))
        do {
            // Cannot fail: the instance was just built, so it is `created`.
            try fresh.vm.start()
        } catch {
            throw ControlError(.internal, "the fresh instance of VM '\(name)' did not start: \(error)")
        }
    }

    /// After the guest of `instance` reset itself (PSCI SYSTEM_RESET): unless a command already
    /// replaced or removed the instance, builds a fresh one from the same configuration on the
    /// same consoles (`host`) and starts it (a `started` event follows the `stopped` one) —
    /// unless `stop`, `kill`, `destroy` or the daemon's shutdown was stopping it. A failure leaves
    /// the VM stopped, its consoles closed, and is logged.
    func rebootAfterGuestReset(name: String, instance: VirtualMachine, host: BoardHost) {
        guard let entry = entries[name], entry.vm === instance, instance.state == .stopped else {
            // Destroyed, or replaced by a command that opened consoles of its own.
            if entries[name]?.host !== host { host.close() }
            return
        }
        let log = logger(for: name)
        guard !entry.stopRequested, !shuttingDown else {
            // `stop`, `kill`, `destroy` or the daemon's shutdown was under way: the reset ends the VM.
            host.close()
            log.info("guest reset while stopping: the VM stays stopped")
            return
        }
        do {
            try startFreshInstance(of: entry, name: name, host: host)
            log.info("guest reset: a fresh instance booted")
        } catch {
            log.error("guest reset, but the VM cannot start again: \(error.message)")
        }
    }
}
