import Hypervisor
import Platform

/// Persistent definitions: `define`, `undefine`, loading them when the daemon starts, and
/// building a VM from one when it is started.
extension VMManager {
    /// Stores (or replaces) `name`'s definition; it is used the next time the VM is started from
    /// it. Legal in every state. The file is written atomically before anything else changes.
    public func define(name: String, configuration: VMConfiguration, autostart: Bool) throws(ControlError)
        -> VMSummary
    {
        try VMName.validate(name)
        guard let store else { throw ControlError(.internal, "this daemon has no state directory for definitions") }
        // A value the board would refuse is refused now, not at the first start.
        try Self.checkSettings(configuration)
        // The request names host paths: they must be allowed now (and again when it is built).
        _ = try imagePaths.resolve(configuration, exemptConsole: defaultConsole(for: name))
        let definition = VMDefinition(name: name, config: configuration, autostart: autostart)
        try store.save(definition)
        definitions[name] = definition
        logger(for: name).info("VM defined", metadata: ["autostart": "\(autostart)"])
        let state = entries[name].map { VMState($0.vm.state) } ?? .inactive
        return VMSummary(name: name, state: state, definition: definition)
    }

    /// Removes `name`'s definition; a VM instance (if any) stays until destroyed. Not legal
    /// while the VM is running or paused (`vm-running`).
    public func undefine(name: String) throws(ControlError) -> VMSummary {
        try VMName.validate(name)
        guard definitions[name] != nil, let store else {
            throw ControlError(.vmNotDefined, "VM '\(name)' is not defined")
        }
        if let state = entries[name]?.vm.state, state == .running || state == .paused {
            throw ControlError(.vmRunning, "VM '\(name)' is \(state.rawValue); stop it before undefining it")
        }
        try store.remove(name)
        definitions[name] = nil
        logger(for: name).info("VM undefined")
        return VMSummary(name: name, state: entries[name].map { VMState($0.vm.state) } ?? .inactive)
    }

    /// Loads every definition from the store (a file that cannot be used is logged and
    /// skipped) and starts the autostart ones (a failure is logged; the others still start).
    /// Returns the names of the VMs it started.
    @discardableResult
    public func loadDefinitions() -> [String] {
        guard let store else { return [] }
        let (loaded, problems) = store.loadAll()
        for problem in problems { logger.error("skipping a definition: \(problem)") }
        for definition in loaded {
            definitions[definition.name] = definition
            logger(for: definition.name).info(
                "VM definition loaded", metadata: ["autostart": "\(definition.autostart)"])
        }
        var started: [String] = []
        for definition in loaded where definition.autostart {
            do {
                _ = try start(name: definition.name)
                started.append(definition.name)
            } catch {
                logger(for: definition.name).error("autostart failed: \(error.code.rawValue): \(error.message)")
            }
        }
        return started
    }

    /// Builds a VM from `name`'s definition when the name has one and no VM, or a stopped VM
    /// (which the new one replaces). A build failure leaves everything as it was.
    func instantiateDefinitionIfNeeded(_ name: String) throws(ControlError) {
        try VMName.validate(name)
        guard let definition = definitions[name] else { return }
        let old = entries[name]
        if let old, old.vm.state != .stopped { return }
        entries[name] = nil
        do {
            _ = try create(name: name, configuration: definition.config)
        } catch {
            entries[name] = old
            throw error
        }
    }
}
