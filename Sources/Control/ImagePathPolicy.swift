import Foundation
import Platform

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Which host files a request may make the daemon open: the `allowed-image-dirs` of the daemon's
/// configuration (docs/CONFIG.md). Every host path a VM configuration names — `kernel`, `dtb`,
/// `bios`, `pflash`, `initrd`, the `disks`, and `file:`/`unix:`/`pty:` consoles — must resolve (symbolic links and `..` followed, as
/// `realpath(3)` does) to a place inside one of the directories; anything else is
/// `path-not-allowed`. The daemon then opens the resolved path, not the one sent.
public struct ImagePathPolicy: Sendable, Equatable {
    /// The allowed directories as configured; nil: no restriction (every path is allowed).
    public var allowedDirectories: [String]?

    public init(allowedDirectories: [String]?) {
        self.allowedDirectories = allowedDirectories
    }

    /// No `allowed-image-dirs` configured: every path is allowed (and used as sent).
    public static let unrestricted = ImagePathPolicy(allowedDirectories: nil)

    /// `configuration` with each host path replaced by its resolved form, or `path-not-allowed`
    /// for the first one outside the allowed directories. `exemptConsole` is a console the
    /// daemon chose itself (`file:<state-dir>/<name>.console.log`), which is always allowed.
    public func resolve(_ configuration: VMConfiguration, exemptConsole: String? = nil) throws(ControlError)
        -> VMConfiguration
    {
        guard let allowedDirectories else { return configuration }
        let roots = allowedDirectories.compactMap(Self.realPath)
        func check(_ path: String?, _ what: String) throws(ControlError) -> String? {
            guard let path, !path.isEmpty else { return path }
            if let resolved = Self.resolve(path), roots.contains(where: { Self.isInside(resolved, $0) }) {
                return resolved
            }
            let allowed =
                allowedDirectories.isEmpty
                ? "no directory is allowed (allowed-image-dirs is empty)"
                : "allowed: \(allowedDirectories.joined(separator: ", "))"
            throw ControlError(
                .pathNotAllowed,
                "\(what) \(String(reflecting: path)) is not inside an allowed image directory (\(allowed))")
        }
        var resolved = configuration
        resolved.kernel = try check(configuration.kernel, "kernel")
        resolved.dtb = try check(configuration.dtb, "dtb")
        resolved.bios = try check(configuration.bios, "bios")
        resolved.pflash = try check(configuration.pflash, "pflash")
        resolved.initrd = try check(configuration.initrd, "initrd")
        // A console names a file to create (`file:`), a socket to bind (`unix:`) or a link to
        // make (`pty:`).
        func checkConsole(_ spec: String?, _ what: String) throws(ControlError) -> String? {
            guard let spec, spec != exemptConsole else { return spec }
            for scheme in ["file:", "unix:", "pty:"] where spec.hasPrefix(scheme) {
                let kind = ["file:": "file", "unix:": "socket", "pty:": "link"][scheme] ?? "path"
                guard let path = try check(String(spec.dropFirst(scheme.count)), "\(what) \(kind)") else { break }
                return scheme + path
            }
            return spec
        }
        resolved.console = try checkConsole(configuration.console, "console")
        resolved.virtioConsole = try checkConsole(configuration.virtioConsole, "virtio-console")
        if let disks = configuration.disks {
            var checked: [VMConfiguration.Disk] = []
            for disk in disks {
                checked.append(
                    VMConfiguration.Disk(path: try check(disk.path, "disk") ?? disk.path, readonly: disk.readonly))
            }
            resolved.disks = checked
        }
        return resolved
    }

    /// Whether `path` (already resolved) is `directory` or below it.
    static func isInside(_ path: String, _ directory: String) -> Bool {
        directory == "/" || path == directory || path.hasPrefix(directory + "/")
    }

    /// The canonical absolute path of `path`: `realpath(3)` for an existing file; for one that
    /// does not exist yet (a console file to create), its resolved directory plus its name; nil
    /// when neither resolves (a dangling symbolic link, a missing directory, a `..` at the end).
    static func resolve(_ path: String) -> String? {
        if let real = realPath(path) { return real }
        guard errno == ENOENT else { return nil }
        var info = stat()
        // It exists but does not resolve: a dangling symbolic link, which open(O_CREAT) would follow.
        guard lstat(path, &info) != 0 else { return nil }
        let directory: String
        let name: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
            name = String(path[path.index(after: slash)...])
        } else {
            directory = "."
            name = path
        }
        guard !name.isEmpty, name != ".", name != "..", let parent = realPath(directory) else { return nil }
        return parent == "/" ? "/\(name)" : "\(parent)/\(name)"
    }

    /// `realpath(3)`; nil (with `errno` set) when it fails.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
