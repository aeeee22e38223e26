import Devices
import Hypervisor
import Logging
import Platform

/// `stop` and the daemon's shutdown: the graceful stop through the board's power button.
///
/// The button is pressed (a 100 ms pulse on PL061 pin 3, as QEMU's `system_powerdown` on `virt`
/// does); a guest that handles it powers off through PSCI SYSTEM_OFF and the VM ends with reason
/// `poweroff`. If it has not stopped when the timeout (the request's `timeout`, else the VM's
/// `stop-timeout`, else 30 s) runs out, the stop is forced: reason `killed`, with a detail that
/// says so. A paused VM cannot see the button, and a VM built without the board's GPIO has
/// none: both are stopped at once.
extension VMManager {
    /// How a VM that never answered the power button ends.
    static func forcedStop(after seconds: Double) -> StopRecord {
        StopRecord(
            reason: .killed,
            detail:
                "forced after \(Self.format(seconds)) s: the guest did not power off when the power button was pressed")
    }

    /// How a paused VM asked to stop ends.
    public static let stoppedWhilePaused = StopRecord(
        reason: .killed, detail: "stopped on request (paused: the guest cannot answer the power button)")

    /// Stops a running or paused VM gracefully and returns once it has stopped. Legal in
    /// `running` and `paused`. `timeout` (seconds, 0...3600) overrides the VM's `stop-timeout`.
    public func stop(name: String, timeout: Double? = nil) async throws(ControlError) -> VMStopSummary {
        let entry = try lookup(name)
        let state = entry.vm.state
        guard state == .running || state == .paused else {
            throw ControlError(
                .vmNotRunning, "VM '\(name)' is \(state.rawValue); only a running or paused VM can stop")
        }
        let seconds: Double
        do {
            seconds = try VMConfiguration(stopTimeout: timeout ?? entry.configuration.stopTimeout).stopTimeoutSeconds()
        } catch {
            throw ControlError(.badRequest, "argument 'timeout': \(error)")
        }
        entries[name]?.stopRequested = true
        let record = await Self.gracefullyStop(
            entry, timeout: seconds, clock: powerButtonClock, logger: logger(for: name), why: "stop")
        return VMStopSummary(name: name, record: record)
    }

    /// Stops every running or paused VM gracefully, all at once, and waits for all of them
    /// (daemon shutdown: SIGTERM, SIGINT). Each VM gets its own `stop-timeout`. A created VM's
    /// consoles are closed, and no guest that resets from now on boots again.
    public func stopAll() async {
        shuttingDown = true
        // VMs that never ran keep no socket or pty link behind.
        for entry in entries.values where entry.vm.state == .created { Self.closeConsolesOfUnstarted(entry) }
        let running = entries.values.filter { $0.vm.state == .running || $0.vm.state == .paused }
        for entry in running { entries[entry.vm.name]?.stopRequested = true }
        var timed: [(Entry, Double, Logger)] = []
        for entry in running {
            let seconds = (try? entry.configuration.stopTimeoutSeconds()) ?? VMConfiguration.defaultStopTimeout
            timed.append((entry, seconds, logger(for: entry.vm.name)))
        }
        await withTaskGroup(of: Void.self) { group in
            for (entry, seconds, log) in timed {
                group.addTask { [powerButtonClock] in
                    _ = await Self.gracefullyStop(
                        entry, timeout: seconds, clock: powerButtonClock, logger: log, why: "shutdown")
                }
            }
        }
    }

    /// Presses the VM's power button and waits up to `timeout` seconds for it to stop, then
    /// forces it; returns how it ended. Touches no actor state, so stops run side by side.
    nonisolated static func gracefullyStop(
        _ entry: Entry, timeout: Double, clock: any DeviceClock, logger: Logger, why: String
    ) async -> StopRecord {
        let vm = entry.vm
        guard vm.state == .running, let button = Board.powerButton(of: vm, clock: clock) else {
            let paused = vm.state == .paused
            logger.info("VM stop requested (\(why)): \(paused ? "paused" : "no power button"), stopping at once")
            vm.requestStop(paused ? stoppedWhilePaused : VirtualMachine.stoppedOnRequest)
            return await Self.outcome(entry)
        }
        logger.info("VM stop requested (\(why)): power button pressed, forcing in \(format(timeout)) s")
        button.press()
        let forced = forcedStop(after: timeout)
        let deadline = Task {
            try? await Task.sleep(for: .seconds(timeout))
            guard !Task.isCancelled else { return }
            vm.requestStop(forced)
        }
        let record = await Self.outcome(entry)
        deadline.cancel()
        return record
    }

    private nonisolated static func outcome(_ entry: Entry) async -> StopRecord {
        switch await entry.stopped.wait() {
        case .success(let record): record
        case .failure(let error): StopRecord(reason: .killed, detail: error.message)
        }
    }

    /// "30", "0.5": seconds without a needless fraction.
    nonisolated static func format(_ seconds: Double) -> String {
        seconds.rounded() == seconds && seconds < 1e9 ? String(Int(seconds)) : String(seconds)
    }
}
