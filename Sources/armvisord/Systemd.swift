import CSystemd
import Control
import Foundation
import Logging

/// The daemon's side of running under systemd (libsystemd's `sd-daemon`): readiness, status,
/// stopping and watchdog notifications, and the socket a socket unit passes. Without systemd
/// (`$NOTIFY_SOCKET`, `$LISTEN_FDS` and `$WATCHDOG_USEC` unset) every call does nothing.
enum Systemd {
    /// Sends `state` (`KEY=VALUE` lines) to the service manager; a no-op outside systemd.
    static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    /// `READY=1` plus the initial status: the socket is listening.
    static func ready(runningVMs: Int) {
        notify("READY=1\nSTATUS=\(status(runningVMs))")
    }

    /// `RELOADING=1` (with the `MONOTONIC_USEC=` systemd asks for): a SIGHUP reload has begun;
    /// `READY=1` follows when it is done.
    static func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        notify("RELOADING=1\nMONOTONIC_USEC=\(microseconds)\nSTATUS=reloading the configuration")
    }

    /// `STOPPING=1`: shutdown has begun.
    static func stopping() {
        notify("STOPPING=1\nSTATUS=stopping")
    }

    static func status(_ runningVMs: Int) -> String {
        "\(runningVMs) VM\(runningVMs == 1 ? "" : "s") running"
    }

    /// The inherited listening socket (fd 3) when systemd passed exactly one UNIX stream
    /// socket that listens; nil when nothing was passed. Unsets `$LISTEN_FDS` and friends, so
    /// VMs and children do not see them.
    static func inheritedSocket() throws -> CInt? {
        let count = sd_listen_fds(1)
        guard count != 0 else { return nil }
        guard count == 1 else {
            throw DaemonError(
                count < 0
                    ? "cannot read the sockets passed by systemd: \(String(cString: strerror(-count)))"
                    : "systemd passed \(count) sockets; armvisord takes exactly one")
        }
        let descriptor = SD_LISTEN_FDS_START
        guard sd_is_socket_unix(descriptor, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 else {
            throw DaemonError("the socket passed by systemd is not a listening UNIX stream socket")
        }
        return descriptor
    }

    /// The watchdog interval (`$WATCHDOG_USEC`, for this process), nil when not enabled.
    static func watchdogInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds))
    }

    /// Sends `READY=1`, then pings the watchdog every half interval while the daemon is
    /// healthy: the socket's event loop runs a task and the VM manager answers. Also refreshes
    /// `STATUS=` on each ping and on every VM state change. Runs until cancelled.
    static func supervise(server: ControlServer, manager: VMManager, logger: Logger) async {
        ready(runningVMs: await runningVMs(manager))
        let interval = watchdogInterval()
        if let interval { logger.info("systemd watchdog enabled", metadata: ["interval": "\(interval)"]) }
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in manager.events.subscribe() {
                    notify("STATUS=\(status(await runningVMs(manager)))")
                }
            }
            guard let interval else { return }
            group.addTask {
                while !Task.isCancelled {
                    guard await server.eventLoopResponds() else { return }
                    let running = await runningVMs(manager)
                    notify("WATCHDOG=1\nSTATUS=\(status(running))")
                    try? await Task.sleep(for: interval / 2)
                }
            }
        }
    }

    static func runningVMs(_ manager: VMManager) async -> Int {
        await manager.list().count { $0.state == .running }
    }
}
