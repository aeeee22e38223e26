import Hypervisor
import Logging
import Platform

/// The daemon's VMs by name and the lifecycle rules of the control commands.
///
/// Every command either happens completely or not at all: checks come first, and nothing is
/// recorded until the VM exists. Waiting for a VM to stop suspends the caller without blocking a
/// thread; other commands proceed meanwhile (actor reentrancy), so each waiting command
/// re-checks what it changes after it resumes.
public actor VMManager {
    /// Builds a VM from a configuration (`Board.makeVM` in the daemon; a fake in tests).
    public typealias Factory = @Sendable (_ name: String, _ configuration: VMConfiguration) throws -> VirtualMachine

    private struct Entry {
        let vm: VirtualMachine
        let stopped: StopSignal
    }

    private var entries: [String: Entry] = [:]
    private let consoleDirectory: String?
    private let makeVM: Factory
    private let logger: Logger

    /// - Parameters:
    ///   - consoleDirectory: where a VM created without a `console` writes it
    ///     (`file:<dir>/<name>.console.log`); nil keeps the board's default (stdio).
    ///   - makeVM: the VM factory.
    public init(
        consoleDirectory: String? = nil, logger: Logger = Logger(label: "armvisord"),
        makeVM: @escaping Factory = { try Board.makeVM(name: $0, configuration: $1) }
    ) {
        self.consoleDirectory = consoleDirectory
        self.logger = logger
        self.makeVM = makeVM
    }

    /// Creates a VM in `created`. Legal when no VM has the name.
    public func create(name: String, configuration: VMConfiguration) throws(ControlError) -> VMSummary {
        try VMName.validate(name)
        guard entries[name] == nil else { throw ControlError(.vmExists, "a VM named '\(name)' already exists") }
        var configuration = configuration
        if configuration.console == nil, let consoleDirectory {
            configuration.console = "file:\(consoleDirectory)/\(name).console.log"
        }
        let vm: VirtualMachine
        do {
            vm = try makeVM(name, configuration)
        } catch {
            throw ControlError(.invalidConfig, "\(error)")
        }
        let stopped = StopSignal()
        let log = logger(for: name)
        vm.onStop { record in
            log.info("VM stopped: \(record.reason.rawValue)\(record.detail.isEmpty ? "" : " (\(record.detail))")")
            stopped.resolve(.success(record))
        }
        entries[name] = Entry(vm: vm, stopped: stopped)
        log.info("VM created")
        return VMSummary(name: name, state: .created)
    }

    /// Starts a VM. Legal in `created` only.
    public func start(name: String) throws(ControlError) -> VMSummary {
        let entry = try lookup(name)
        let state = entry.vm.state
        guard state == .created else {
            throw ControlError(.vmNotCreated, "VM '\(name)' is \(state.rawValue); only a created VM can start")
        }
        do {
            try entry.vm.start()
        } catch {
            throw ControlError(.vmNotCreated, "\(error)")
        }
        logger(for: name).info("VM started")
        return VMSummary(name: name, state: .running)
    }

    /// Forces a running VM to stop and returns once it has. Legal in `running` only.
    public func stop(name: String) async throws(ControlError) -> VMStopSummary {
        let entry = try lookup(name)
        let state = entry.vm.state
        guard state == .running else {
            throw ControlError(.vmNotRunning, "VM '\(name)' is \(state.rawValue); only a running VM can stop")
        }
        logger(for: name).info("VM stop requested")
        entry.vm.requestStop()
        let record = try await entry.stopped.wait().get()
        return VMStopSummary(name: name, record: record)
    }

    /// Returns once the VM has stopped (at once if it has). Legal in every state; a created VM
    /// is waited for until it is started and stops (or is destroyed: `no-such-vm`).
    public func wait(name: String) async throws(ControlError) -> VMStopSummary {
        let entry = try lookup(name)
        let record = try await entry.stopped.wait().get()
        return VMStopSummary(name: name, record: record)
    }

    /// Every VM, sorted by name.
    public func list() -> [VMSummary] {
        entries.keys.sorted().compactMap { name in
            entries[name].map { VMSummary(name: name, state: $0.vm.state) }
        }
    }

    /// What the highvisor counted for a VM so far. Legal in every state.
    public func stats(name: String) throws(ControlError) -> VMStatsSummary {
        let entry = try lookup(name)
        return VMStatsSummary(name: name, state: entry.vm.state, statistics: entry.vm.statistics)
    }

    /// Stops the VM if it is running, then forgets it. Legal in every state.
    public func destroy(name: String) async throws(ControlError) {
        let entry = try lookup(name)
        let log = logger(for: name)
        switch entry.vm.state {
        case .created:
            entry.stopped.resolve(.failure(ControlError(.noSuchVM, "VM '\(name)' was destroyed before it ran")))
        case .running:
            log.info("VM stop requested (destroy)")
            entry.vm.requestStop()
            _ = await entry.stopped.wait()
        case .stopped:
            break
        }
        // Another destroy may have finished while this one waited.
        if entries[name]?.vm === entry.vm {
            entries[name] = nil
            log.info("VM destroyed")
        }
    }

    /// Stops every running VM and waits for all of them (daemon shutdown).
    public func stopAll() async {
        let running = entries.values.filter { $0.vm.state == .running }
        for entry in running {
            logger(for: entry.vm.name).info("VM stop requested (shutdown)")
            entry.vm.requestStop()
        }
        for entry in running { _ = await entry.stopped.wait() }
    }

    private func lookup(_ name: String) throws(ControlError) -> Entry {
        try VMName.validate(name)
        guard let entry = entries[name] else { throw ControlError(.noSuchVM, "no VM named '\(name)'") }
        return entry
    }

    private func logger(for name: String) -> Logger {
        var logger = logger
        logger[metadataKey: "vm"] = "\(name)"
        return logger
    }
}
