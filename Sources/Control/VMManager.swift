import Devices
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
    /// Builds a VM from a configuration on the host side it shares with the VM's other instances
    /// (`Board.makeVM` in the daemon).
    public typealias InstanceFactory =
        @Sendable (_ name: String, _ configuration: VMConfiguration, _ host: BoardHost) throws -> VirtualMachine
    /// Builds a VM from a configuration alone (a fake in tests: it opens no host resources).
    public typealias Factory = @Sendable (_ name: String, _ configuration: VMConfiguration) throws -> VirtualMachine

    struct Entry {
        let vm: VirtualMachine
        let stopped: StopSignal
        /// The configuration the VM was built from (with the daemon's console default filled in).
        let configuration: VMConfiguration
        /// The consoles every instance of this run of the VM shares: a guest reboot and `reset`
        /// keep them open; any other stop closes them.
        let host: BoardHost
        /// Set by `stop`, `kill` and `destroy`: if the guest resets while it is stopping, it stays
        /// stopped instead of booting again (`rebootAfterGuestReset`).
        var stopRequested = false
    }

    var entries: [String: Entry] = [:]
    /// Set by the daemon's shutdown (`stopAll`): no guest reboots after it.
    var shuttingDown = false

    /// Refuses to bring up a VM once `stopAll` has begun: a VM started then would outlive the
    /// stop the shutdown waits for (and its disks would miss their final flush).
    func refuseDuringShutdown(_ command: String) throws(ControlError) {
        guard !shuttingDown else {
            throw ControlError(.shuttingDown, "the daemon is shutting down; it does not \(command) VMs any more")
        }
    }
    /// Persistent definitions by name (mirrors the store's files).
    var definitions: [String: VMDefinition] = [:]
    /// Where definitions live; nil: `define` fails (no state directory).
    let store: DefinitionStore?
    /// State changes for `events` subscribers.
    public nonisolated let events = EventHub()
    private let consoleDirectory: String?
    /// Which host paths a configuration may name (`allowed-image-dirs`); changed on SIGHUP.
    public private(set) var imagePaths: ImagePathPolicy
    let makeVM: InstanceFactory
    let logger: Logger
    /// What times the power button's press (`stop`, shutdown): the host's clock, or a test's.
    nonisolated let powerButtonClock: any DeviceClock

    /// - Parameters:
    ///   - consoleDirectory: where a VM created without a `console` writes it
    ///     (`file:<dir>/<name>.console.log`); nil keeps the board's default (stdio).
    ///   - store: where `define` keeps definitions; nil disables `define`.
    ///   - imagePaths: which host paths configurations may name (default: any).
    ///   - powerButtonClock: times the power button's 100 ms press (tests pass a manual clock,
    ///     so that a stalled host cannot release the button before the guest reads it).
    ///   - makeInstance: the VM factory.
    public init(
        consoleDirectory: String? = nil, store: DefinitionStore? = nil, imagePaths: ImagePathPolicy = .unrestricted,
        logger: Logger = Logger(label: "armvisord"), powerButtonClock: any DeviceClock = HostDeviceClock(),
        makeInstance: @escaping InstanceFactory = { try Board.makeVM(name: $0, configuration: $1, host: $2) }
    ) {
        self.consoleDirectory = consoleDirectory
        self.store = store
        self.imagePaths = imagePaths
        self.logger = logger
        self.powerButtonClock = powerButtonClock
        self.makeVM = makeInstance
    }

    /// A manager whose VMs come from `makeVM`, which takes no host (test fakes).
    public init(
        consoleDirectory: String? = nil, store: DefinitionStore? = nil, imagePaths: ImagePathPolicy = .unrestricted,
        logger: Logger = Logger(label: "armvisord"), powerButtonClock: any DeviceClock = HostDeviceClock(),
        makeVM: @escaping Factory
    ) {
        self.init(
            consoleDirectory: consoleDirectory, store: store, imagePaths: imagePaths, logger: logger,
            powerButtonClock: powerButtonClock,
            makeInstance: { name, configuration, _ in try makeVM(name, configuration) })
    }

    /// Creates a VM in `created`. Legal when no VM has the name.
    public func create(name: String, configuration: VMConfiguration) throws(ControlError) -> VMSummary {
        try refuseDuringShutdown("create")
        try VMName.validate(name)
        guard entries[name] == nil else { throw ControlError(.vmExists, "a VM named '\(name)' already exists") }
        var configuration = configuration
        if configuration.console == nil, let console = defaultConsole(for: name) {
            configuration.console = console
        }
        entries[name] = try makeEntry(name: name, configuration: configuration)
        logger(for: name).info("VM created")
        return VMSummary(name: name, state: .created)
    }

    /// Replaces the allowed image directories; later builds (`create`, `start`, `reset`) and
    /// `define`s are checked against the new ones. VMs that exist are left alone.
    public func setImagePaths(_ policy: ImagePathPolicy) {
        imagePaths = policy
    }

    /// The console of a VM created without one: `file:<consoleDirectory>/<name>.console.log`.
    func defaultConsole(for name: String) -> String? {
        consoleDirectory.map { "file:\($0)/\(name).console.log" }
    }

    /// Checks the settings of `configuration` that need no file — `memory`, `cpus`, `psci`, `gic`,
    /// `clock` (with `cpus`) and `stop-timeout` — with the board's own checks, in the board's
    /// order: `invalid-config` with the first one's message. `create` and `define` refuse a bad
    /// value up front, before any host path is looked at or anything is stored.
    static func checkSettings(_ configuration: VMConfiguration) throws(ControlError) {
        do {
            _ = try configuration.memoryBytes()
            _ = try configuration.cpuCount()
            _ = try configuration.psciConduit()
            _ = try configuration.gicVersion()
            _ = try configuration.usesInstructionCountClock()
            _ = try configuration.stopTimeoutSeconds()
        } catch let error as ConfigurationError {
            throw ControlError(.invalidConfig, error.message)
        } catch {
            throw ControlError(.invalidConfig, "\(error)")
        }
    }

    /// Checks the settings of `configuration` (`invalid-config`) and its host paths against the
    /// allowed image directories (`path-not-allowed`), and builds the VM from their resolved forms
    /// (`invalid-config` when the board refuses).
    func buildVM(name: String, configuration: VMConfiguration, host: BoardHost) throws(ControlError)
        -> VirtualMachine
    {
        try Self.checkSettings(configuration)
        let resolved = try imagePaths.resolve(configuration, exemptConsole: defaultConsole(for: name))
        do {
            return try makeVM(name, resolved, host)
        } catch {
            throw ControlError(.invalidConfig, "\(error)")
        }
    }

    /// Builds a VM from `configuration` (used as given: defaults already filled in) with its stop
    /// signal; its stop will be logged (a `guest-fault` or `error` stop with every vCPU's
    /// registers, one log line per line of the dump), published as a `stopped` event and resolve
    /// the signal. `host`: the previous instance's, for a reboot or `reset` (a new one otherwise);
    /// a stop other than a reset closes it.
    /// Records nothing: the caller puts the entry in `entries`.
    func makeEntry(name: String, configuration: VMConfiguration, host: BoardHost = BoardHost()) throws(ControlError)
        -> Entry
    {
        let vm = try buildVM(name: name, configuration: configuration, host: host)
        let stopped = StopSignal()
        let log = logger(for: name)
        let events = events
        vm.onStop { [weak self, weak vm] record in
            log.info("VM stopped: \(record.reason.rawValue)\(record.detail.isEmpty ? "" : " (\(record.detail))")")
            // Every vCPU has stopped, so its registers hold still: the state the guest died in.
            if record.reason == .guestFault || record.reason == .error, let vm {
                log.error("VM stopped with \(record.reason.rawValue); register dump:")
                for line in VMRegisters(name: name, vm: vm).faultReport { log.error("\(line)") }
            }
            // Any stop but a reset ends the run: its consoles close (attached sessions end).
            if record.reason != .reset { host.close() }
            events.publish(VMEvent(.stopped, name: name, stop: record))
            stopped.resolve(.success(record))
            // A reboot the guest asked for: boot a fresh instance, as libvirt's on_reboot=restart.
            if record.reason == .reset && record.detail == PSCI.systemResetDetail {
                guard let self, let vm else { return host.close() }
                Task { await self.rebootAfterGuestReset(name: name, instance: vm, host: host) }
            }
        }
        return Entry(vm: vm, stopped: stopped, configuration: configuration, host: host)
    }

    /// Starts a VM. Legal in `created`; a defined VM can also start when it has no instance or
    /// its instance is `stopped` (a fresh instance is built from the definition first).
    public func start(name: String) throws(ControlError) -> VMSummary {
        try refuseDuringShutdown("start")
        try instantiateDefinitionIfNeeded(name)
        let entry = try lookup(name)
        let state = entry.vm.state
        guard state == .created else {
            let hint =
                definitions[name] == nil ? "only a created VM can start" : "only a created or stopped VM can start"
            throw ControlError(.vmNotCreated, "VM '\(name)' is \(state.rawValue); \(hint)")
        }
        // Published first: a guest that stops at once must not have its `stopped` event come
        // before `started`.
        events.publish(VMEvent(.started, name: name))
        do {
            try entry.vm.start()
        } catch {
            throw ControlError(.vmNotCreated, "\(error)")
        }
        logger(for: name).info("VM started")
        return VMSummary(name: name, state: .running)
    }

    /// Pauses a running VM and returns once every vCPU has parked at a block boundary. Legal in
    /// `running` only (not while another pause of it is in progress).
    public func pause(name: String) async throws(ControlError) -> VMSummary {
        let entry = try lookup(name)
        let state = entry.vm.state
        guard state == .running else {
            throw ControlError(.vmNotRunning, "VM '\(name)' is \(state.rawValue); only a running VM can pause")
        }
        let vm = entry.vm
        let events = events
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<ControlError?, Never>) in
            do {
                // The completion runs on the vCPU thread before it parks, so `paused` is always
                // published before a later `stopped`.
                try vm.pause { error in
                    if error == nil { events.publish(VMEvent(.paused, name: name)) }
                    continuation.resume(returning: error.map { ControlError(.vmNotRunning, $0.message) })
                }
            } catch {
                continuation.resume(returning: ControlError(.vmNotRunning, "\(error)"))
            }
        }
        if let outcome { throw outcome }
        logger(for: name).info("VM paused")
        return VMSummary(name: name, state: .paused)
    }

    /// Lets a paused VM run again. Legal in `paused` only.
    public func resume(name: String) throws(ControlError) -> VMSummary {
        let entry = try lookup(name)
        let state = entry.vm.state
        guard state == .paused else {
            throw ControlError(.vmNotPaused, "VM '\(name)' is \(state.rawValue); only a paused VM can resume")
        }
        // Nothing but this actor changes a paused VM's state, so the resume below succeeds;
        // publishing first keeps `resumed` ahead of a `stopped` the guest may cause at once.
        events.publish(VMEvent(.resumed, name: name))
        do {
            try entry.vm.resume()
        } catch {
            throw ControlError(.vmNotPaused, "\(error)")
        }
        logger(for: name).info("VM resumed")
        return VMSummary(name: name, state: .running)
    }

    /// Stops a running or paused VM at once with `record` (unless the guest stopped by itself at
    /// the same moment) and returns once it has stopped: `kill`.
    func forceStop(name: String, command: String, record: StopRecord) async throws(ControlError) -> VMStopSummary {
        let entry = try lookup(name)
        let state = entry.vm.state
        guard state == .running || state == .paused else {
            throw ControlError(
                .vmNotRunning, "VM '\(name)' is \(state.rawValue); only a running or paused VM can \(command)")
        }
        logger(for: name).info("VM \(command) requested")
        entries[name]?.stopRequested = true
        entry.vm.requestStop(record)
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

    /// How many waits for the end of the VM's current instance are pending — `wait` requests,
    /// and the manager's own while a kill, reset or graceful stop runs (0 for a VM that does
    /// not exist): lets a test know a `wait` sent on another connection has arrived.
    func pendingWaits(name: String) -> Int {
        entries[name]?.stopped.waiterCount ?? 0
    }

    /// Every VM and every definition, sorted by name; a definition without a VM is `inactive`.
    public func list() -> [VMSummary] {
        Set(entries.keys).union(definitions.keys).sorted().map { name in
            let state = entries[name].map { VMState($0.vm.state) } ?? .inactive
            return VMSummary(name: name, state: state, definition: definitions[name])
        }
    }

    /// A VM's state, configuration, uptime and vCPUs (or a definition's, for a defined VM
    /// without an instance). Legal in every state.
    public func info(name: String) throws(ControlError) -> VMInfo {
        try VMName.validate(name)
        let definition = definitions[name]
        guard let entry = entries[name] else {
            guard let definition else { throw ControlError(.noSuchVM, "no VM named '\(name)'") }
            return VMInfo(
                name: name, state: .inactive, configuration: definition.config, uptimeSeconds: 0, vcpus: [],
                stop: nil, definition: definition)
        }
        let state = entry.vm.state
        return VMInfo(
            name: name, state: VMState(state), configuration: entry.configuration,
            uptimeSeconds: entry.vm.statistics.uptimeSeconds, vcpus: entry.vm.vcpuInfo.map(VMInfo.VCPU.init),
            stop: state == .stopped ? entry.vm.stopRecord : nil, definition: definition)
    }

    /// What the highvisor counted for a VM so far. Legal in every state.
    public func stats(name: String) throws(ControlError) -> VMStatsSummary {
        let entry = try lookup(name)
        return VMStatsSummary(name: name, state: entry.vm.state, statistics: entry.vm.statistics)
    }

    /// How `address` translates on vCPU `vcpu` (a data read at the vCPU's current EL): every
    /// descriptor both walks read and the outcome. Legal in every state; nothing in the guest
    /// changes (no TLB fill, no fault, no stage-2 mapping). A running VM's registers may change
    /// under the walk, so pause it for a consistent view.
    public func translate(name: String, address: UInt64, vcpu: Int) throws(ControlError) -> VMTranslation {
        let entry = try lookup(name)
        guard let dump = entry.vm.translationDump(of: address, vcpu: vcpu) else {
            let count = entry.vm.vcpus.count
            let range = count == 1 ? "1 vCPU (index 0)" : "\(count) vCPUs (indices 0-\(count - 1))"
            throw ControlError(.badRequest, "vCPU \(vcpu) is out of range: VM '\(name)' has \(range)")
        }
        return VMTranslation(name: name, state: entry.vm.state, vcpu: vcpu, dump: dump)
    }

    /// Stops the VM if it is running, then forgets it. Legal in every state.
    public func destroy(name: String) async throws(ControlError) {
        let entry = try lookup(name)
        let log = logger(for: name)
        switch entry.vm.state {
        case .created:
            entry.stopped.resolve(.failure(ControlError(.noSuchVM, "VM '\(name)' was destroyed before it ran")))
            Self.closeConsolesOfUnstarted(entry)
        case .running, .paused:
            log.info("VM stop requested (destroy)")
            entries[name]?.stopRequested = true
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

    /// A VM that never ran has no stop to close its consoles (nor the tap of a VM without a
    /// host): `destroy` and the daemon's shutdown close them.
    static func closeConsolesOfUnstarted(_ entry: Entry) {
        entry.host.close()
        entry.vm.console?.close()
    }

    func lookup(_ name: String) throws(ControlError) -> Entry {
        try VMName.validate(name)
        guard let entry = entries[name] else { throw ControlError(.noSuchVM, "no VM named '\(name)'") }
        return entry
    }

    func logger(for name: String) -> Logger {
        var logger = logger
        logger[metadataKey: "vm"] = "\(name)"
        return logger
    }
}
