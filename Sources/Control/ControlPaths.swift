import Foundation

/// The default locations shared by `armvisord` and `armvisor`.
public enum ControlPaths {
    /// `$ARMVISOR_SOCKET`; else `/run/armvisor/armvisord.sock` for root; else
    /// `${XDG_RUNTIME_DIR:-/tmp}/armvisor-$UID/armvisord.sock`.
    public static func defaultSocketPath(
        environment: [String: String] = ProcessInfo.processInfo.environment, uid: uid_t = getuid()
    ) -> String {
        if let path = environment["ARMVISOR_SOCKET"], !path.isEmpty { return path }
        return builtInSocketPath(environment: environment, uid: uid)
    }

    /// The default without `$ARMVISOR_SOCKET`.
    public static func builtInSocketPath(
        environment: [String: String] = ProcessInfo.processInfo.environment, uid: uid_t = getuid()
    ) -> String {
        if uid == 0 { return "/run/armvisor/armvisord.sock" }
        return "\(perUserRuntimeDirectory(environment: environment, uid: uid))/armvisord.sock"
    }

    /// `${XDG_RUNTIME_DIR:-/tmp}/armvisor-$UID`: the per-user socket directory (mode 0700).
    public static func perUserRuntimeDirectory(
        environment: [String: String] = ProcessInfo.processInfo.environment, uid: uid_t = getuid()
    ) -> String {
        let base = environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return "\(base)/armvisor-\(uid)"
    }

    /// `/var/lib/armvisor` for root, else `${XDG_STATE_HOME:-$HOME/.local/state}/armvisor`.
    public static func defaultStateDirectory(
        environment: [String: String] = ProcessInfo.processInfo.environment, uid: uid_t = getuid()
    ) -> String {
        if uid == 0 { return "/var/lib/armvisor" }
        if let state = environment["XDG_STATE_HOME"], !state.isEmpty { return "\(state)/armvisor" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return "\(home)/.local/state/armvisor"
    }

    /// The daemon's configuration file when `--config` is not given (read only if it exists):
    /// `/etc/armvisor/armvisord.conf` for root, else
    /// `${XDG_CONFIG_HOME:-$HOME/.config}/armvisor/armvisord.conf`.
    public static func defaultConfigPath(
        environment: [String: String] = ProcessInfo.processInfo.environment, uid: uid_t = getuid()
    ) -> String {
        if uid == 0 { return "/etc/armvisor/armvisord.conf" }
        if let config = environment["XDG_CONFIG_HOME"], !config.isEmpty { return "\(config)/armvisor/armvisord.conf" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return "\(home)/.config/armvisor/armvisord.conf"
    }

    /// `path` made absolute against `directory` (default: the current directory).
    public static func absolute(_ path: String, relativeTo directory: String = FileManager.default.currentDirectoryPath)
        -> String
    {
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: directory, isDirectory: true))
            .standardizedFileURL.path
    }
}
