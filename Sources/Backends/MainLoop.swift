import CGLib
import Foundation

/// The GLib side of the simulator: one `GMainContext` driven by `g_main_loop_run` on a dedicated
/// thread. Backends do their I/O there, never on a vCPU thread.
///
/// Work reaches the loop through `g_main_context_invoke_full`, which wakes the loop; callers
/// never wait on it from a vCPU for a register access.
public final class MainLoop: @unchecked Sendable {
    /// The process-wide loop shared by every VM's backends.
    public static let shared = MainLoop(name: "armvisor-glib")

    let context: OpaquePointer
    private let loop: OpaquePointer
    private let thread: Thread

    public init(name: String) {
        let context = g_main_context_new()!
        let loop = g_main_loop_new(context, 0)!
        self.context = context
        self.loop = loop
        let ready = DispatchSemaphore(value: 0)
        let handles = LoopHandles(context: context, loop: loop)
        thread = Thread {
            g_main_context_push_thread_default(handles.context)
            ready.signal()
            g_main_loop_run(handles.loop)
            g_main_context_pop_thread_default(handles.context)
        }
        thread.name = name
        thread.start()
        ready.wait()
    }

    /// Runs `work` on the loop thread as soon as the loop gets to it.
    public func invoke(_ work: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Work(work)).toOpaque()
        g_main_context_invoke_full(
            context, G_PRIORITY_DEFAULT,
            { data in
                guard let data else { return 0 }
                Unmanaged<Work>.fromOpaque(data).takeRetainedValue().run()
                return 0  // G_SOURCE_REMOVE
            }, box, nil)
    }

    /// Runs `work` once on the loop thread, `milliseconds` from now (a GLib timeout source).
    public func after(milliseconds: UInt32, _ work: @escaping @Sendable () -> Void) {
        invoke { [self] in
            guard let source = g_timeout_source_new(milliseconds) else { return }
            let box = Unmanaged.passRetained(Work(work)).toOpaque()
            g_source_set_callback(
                source,
                { data in
                    guard let data else { return 0 }
                    Unmanaged<Work>.fromOpaque(data).takeUnretainedValue().run()
                    return 0  // G_SOURCE_REMOVE: the destroy notify releases the box
                }, box,
                { data in
                    guard let data else { return }
                    Unmanaged<Work>.fromOpaque(data).release()
                })
            g_source_attach(source, context)
            g_source_unref(source)
        }
    }

    /// Runs `work` on the loop thread and waits for it. Never call from the loop thread.
    public func invokeAndWait(_ work: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        invoke {
            work()
            done.signal()
        }
        done.wait()
    }

    /// Calls `handler` on the loop thread with the bytes read from `fd` whenever it is readable,
    /// until end of file or a read error (then once with an empty array). The descriptor is
    /// not closed.
    /// Returns a handle whose `cancel()` removes the watch (bytes not yet read stay in `fd` for
    /// whoever watches it next: a VM that reboots in the same process).
    @discardableResult
    public func watchInput(fd: Int32, _ handler: @escaping @Sendable ([UInt8]) -> Void) -> InputWatchHandle {
        let watch = InputWatch(fd: fd, handler: handler)
        let callback: @convention(c) (Int32, GIOCondition, gpointer?) -> gboolean = { fd, _, data in
            guard let data else { return 0 }
            let watch = Unmanaged<InputWatch>.fromOpaque(data).takeUnretainedValue()
            if watch.cancelled { return 0 }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { return 1 }  // G_SOURCE_CONTINUE
            guard n > 0 else {
                watch.handler([])
                return 0  // G_SOURCE_REMOVE: end of input
            }
            watch.handler(Array(buffer[0..<n]))
            return 1
        }
        invoke { [self] in
            guard let source = g_unix_fd_source_new(fd, G_IO_IN) else { return }
            let box = Unmanaged.passRetained(watch).toOpaque()
            g_source_set_callback(
                source, unsafeBitCast(callback, to: GSourceFunc.self), box,
                { data in
                    guard let data else { return }
                    Unmanaged<InputWatch>.fromOpaque(data).release()
                })
            g_source_attach(source, context)
            watch.source = source  // the reference from g_unix_fd_source_new, dropped on cancel
        }
        return InputWatchHandle { [self] in
            invoke {
                watch.cancelled = true
                guard let source = watch.source else { return }
                watch.source = nil
                g_source_destroy(source)
                g_source_unref(source)
            }
        }
    }

    /// Removes a `watchInput` watch.
    public struct InputWatchHandle: Sendable {
        fileprivate let action: @Sendable () -> Void
        public func cancel() { action() }
    }

    /// Calls `handler` on the loop thread whenever `fd` is readable, has hung up or has an
    /// error, for as long as it returns true. The descriptor is not closed (close it in the
    /// call that returns false, before the loop polls it again).
    public func watchReadable(fd: Int32, _ handler: @escaping @Sendable () -> Bool) {
        let watch = ReadableWatch(handler)
        let callback: @convention(c) (Int32, GIOCondition, gpointer?) -> gboolean = { _, _, data in
            guard let data else { return 0 }
            return Unmanaged<ReadableWatch>.fromOpaque(data).takeUnretainedValue().handler() ? 1 : 0
        }
        invoke { [self] in
            let conditions = GIOCondition(rawValue: G_IO_IN.rawValue | G_IO_HUP.rawValue | G_IO_ERR.rawValue)
            guard let source = g_unix_fd_source_new(fd, conditions) else { return }
            let box = Unmanaged.passRetained(watch).toOpaque()
            g_source_set_callback(
                source, unsafeBitCast(callback, to: GSourceFunc.self), box,
                { data in
                    guard let data else { return }
                    Unmanaged<ReadableWatch>.fromOpaque(data).release()
                })
            g_source_attach(source, context)
            g_source_unref(source)
        }
    }

    private final class ReadableWatch: @unchecked Sendable {
        let handler: @Sendable () -> Bool
        init(_ handler: @escaping @Sendable () -> Bool) { self.handler = handler }
    }

    /// Touched only on the loop thread after creation (`cancelled`, `source`).
    private final class InputWatch: @unchecked Sendable {
        let fd: Int32
        let handler: @Sendable ([UInt8]) -> Void
        var cancelled = false
        var source: UnsafeMutablePointer<GSource>?
        init(fd: Int32, handler: @escaping @Sendable ([UInt8]) -> Void) {
            self.fd = fd
            self.handler = handler
        }
    }

    /// GLib handles are thread-safe objects; this only carries them into the loop thread.
    private struct LoopHandles: @unchecked Sendable {
        let context: OpaquePointer
        let loop: OpaquePointer
    }

    private final class Work: @unchecked Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}
