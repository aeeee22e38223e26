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

    /// Runs `work` on the loop thread and waits for it. Never call from the loop thread.
    public func invokeAndWait(_ work: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        invoke {
            work()
            done.signal()
        }
        done.wait()
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
