import ArgumentParser
import Control
import Foundation
import Hypervisor

#if canImport(Glibc)
    import Glibc
#endif

/// `armvisor top`: a live view of every VM's exits per second by exception class, like
/// `kvm_stat`, from periodic `list` and `stats` requests on one connection.
struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every VM's exits per second by exception class, refreshed live.",
        discussion: """
            Every --interval seconds the daemon's VMs are sampled with `stats`; each screen shows, \
            per VM, its exits per second over the last interval by exception class (EC), the \
            totals since it started, and its MIPS. On a terminal the screen is redrawn in place \
            until Ctrl-C; otherwise (or with --json, one JSON object per line) each screen is \
            printed after the last. --once prints one screen and exits; --iterations N prints N.
            """)

    @Option(help: "Seconds between screens.") var interval: Double = 1
    @Option(help: "Print this many screens, then exit (default: until interrupted).") var iterations: Int?
    @Flag(help: "Print one screen, then exit (as --iterations 1).") var once = false
    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard interval.isFinite, interval >= 0.01, interval <= 3600 else {
            throw ValidationError("--interval must be from 0.01 to 3600 seconds, not \(interval)")
        }
        if let iterations, iterations < 1 { throw ValidationError("--iterations must be at least 1") }
    }

    /// One VM in one sample.
    struct Sample {
        var state: String
        var statistics: VMStatistics
    }

    /// One VM on one screen.
    struct Row: Encodable {
        var name: String
        var state: String
        var exitsPerSecond: Double
        var exits: UInt64
        var mips: Double
        /// Per exception class: exits per second over the interval, and the total.
        var byClass: [String: ClassRates]

        struct ClassRates: Encodable {
            var perSecond: Double
            var total: UInt64
        }
    }

    struct Screen: Encodable {
        var interval: Double
        var vms: [Row]
    }

    func run() throws {
        let connection = try ControlClient(socketPath: client.socketPath)
        let screens = once ? 1 : iterations
        let redraw = !client.json && screens == nil && isatty(STDOUT_FILENO) == 1
        var previous = try sample(connection)
        var previousTime = ContinuousClock.now
        var shown = 0
        while screens.map({ shown < $0 }) ?? true {
            Thread.sleep(forTimeInterval: interval)
            let current = try sample(connection)
            let now = ContinuousClock.now
            let elapsed = max((now - previousTime) / .seconds(1), 1e-6)
            let screen = Self.screen(previous: previous, current: current, elapsed: elapsed)
            if client.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(screen), as: UTF8.self))
            } else {
                if redraw { print("\u{1B}[H\u{1B}[2J", terminator: "") } else if shown > 0 { print() }
                print(Self.text(screen))
            }
            fflush(nil)
            previous = current
            previousTime = now
            shown += 1
        }
    }

    /// Every VM that has an instance (not the `inactive` definitions), with its counters.
    private func sample(_ connection: ControlClient) throws -> [String: Sample] {
        guard let vms = try connection.call("list")["vms"]?.arrayValue else { throw UnexpectedReply("no 'vms' array") }
        var samples: [String: Sample] = [:]
        for vm in vms {
            guard let name = vm["name"]?.stringValue, vm["state"]?.stringValue != "inactive" else { continue }
            // nil: destroyed since the list.
            guard let reply = try Self.stats(of: name, connection) else { continue }
            guard let statistics = try? reply["statistics"]?.decode(as: VMStatistics.self) else {
                throw UnexpectedReply("no valid 'statistics' object for '\(name)'")
            }
            samples[name] = Sample(state: reply["state"]?.stringValue ?? "?", statistics: statistics)
        }
        return samples
    }

    /// The `stats` result of `name`; nil when there is no such VM (any more).
    private static func stats(of name: String, _ connection: ControlClient) throws -> JSONValue? {
        let outcome = Result { () throws(ControlClientError) -> JSONValue in
            try connection.call("stats", arguments: ["name": .string(name)])
        }
        if case .failure(let error) = outcome, error.code == .noSuchVM { return nil }
        return try outcome.get()
    }

    /// The rates between two samples `elapsed` seconds apart. A VM new in `current`, or whose
    /// counters went down (a `reset` started a fresh instance), counts from zero.
    static func screen(previous: [String: Sample], current: [String: Sample], elapsed: Double) -> Screen {
        let rows = current.keys.sorted().compactMap { name -> Row? in
            guard let now = current[name] else { return nil }
            let before = previous[name]?.statistics
            let exits = now.statistics.exitsByClass
            let restarted = before.map { old in old.exitsByClass.contains { (exits[$0.key] ?? 0) < $0.value } } ?? true
            var byClass: [String: Row.ClassRates] = [:]
            for (ec, total) in exits {
                let base = restarted ? 0 : before?.exitsByClass[ec] ?? 0
                byClass[ec] = Row.ClassRates(perSecond: Double(total - base) / elapsed, total: total)
            }
            return Row(
                name: name, state: now.state, exitsPerSecond: byClass.values.reduce(0) { $0 + $1.perSecond },
                exits: exits.values.reduce(0, +), mips: now.statistics.mips, byClass: byClass)
        }
        return Screen(interval: elapsed, vms: rows)
    }

    /// The screen as text: a line per VM, then its exception classes by rate (then total).
    static func text(_ screen: Screen) -> String {
        var lines = [
            String(
                format: "armvisor top: %d VM%@, exits per second over %.2f s", screen.vms.count,
                screen.vms.count == 1 ? "" : "s", screen.interval)
        ]
        if screen.vms.isEmpty { lines.append("(no VMs)") }
        for row in screen.vms {
            lines.append("")
            lines.append(
                "\(row.name) (\(row.state))  exits/s \(Self.rate(row.exitsPerSecond))  total \(row.exits)  "
                    + String(format: "MIPS %.1f", row.mips))
            guard !row.byClass.isEmpty else { continue }
            lines.append("  " + pad("EC", 14) + pad("PER S", 12, right: true) + pad("TOTAL", 14, right: true))
            let order = row.byClass.sorted {
                ($0.value.perSecond, $0.value.total, $1.key) > ($1.value.perSecond, $1.value.total, $0.key)
            }
            for (ec, rates) in order {
                lines.append(
                    "  " + pad(ec, 14) + pad(rate(rates.perSecond), 12, right: true)
                        + pad("\(rates.total)", 14, right: true))
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func rate(_ value: Double) -> String {
        value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
    }

    private static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(width - text.count, 0))
        return right ? fill + text : text + fill
    }
}
