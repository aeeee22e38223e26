import Control
import Foundation

/// The file-system preparation the daemon does before it listens.
enum DaemonSetup {
    /// Creates the socket's directory: mode 0700 for the per-user default directory (which must
    /// then belong to us), the usual 0755 otherwise.
    static func prepareSocketDirectory(for socketPath: String) throws {
        let limit = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1
        guard socketPath.utf8.count <= limit else {
            throw DaemonError(
                "socket path \(socketPath) is too long (\(socketPath.utf8.count) bytes; at most \(limit))")
        }
        let directory = (socketPath as NSString).deletingLastPathComponent
        guard !directory.isEmpty else { return }
        if directory == ControlPaths.perUserRuntimeDirectory() {
            try makeDirectory(directory, mode: 0o700, what: "socket directory")
            var info = stat()
            guard stat(directory, &info) == 0, info.st_uid == getuid() else {
                throw DaemonError("socket directory \(directory) belongs to another user")
            }
            if info.st_mode & 0o077 != 0 { chmod(directory, 0o700) }
        } else {
            try makeDirectory(directory, mode: 0o755, what: "socket directory")
        }
    }

    /// `mkdir -p` with `mode` for the directories it creates.
    static func makeDirectory(_ path: String, mode: Int, what: String) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        } catch {
            throw DaemonError("cannot create the \(what) \(path): \(describe(error))")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DaemonError("the \(what) \(path) is not a directory")
        }
    }

    /// Fails when a daemon already answers on the socket (binding would steal its socket file).
    static func ensureNoOtherDaemon(at socketPath: String) throws {
        guard FileManager.default.fileExists(atPath: socketPath),
            let client = try? ControlClient(socketPath: socketPath)
        else { return }
        _ = client
        throw DaemonError("another armvisord is already listening on \(socketPath)")
    }

    private static func describe(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain
        {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return nsError.localizedDescription
    }
}
