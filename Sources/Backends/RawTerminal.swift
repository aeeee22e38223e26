#if canImport(Glibc)
    import Glibc
#endif

/// Standard input's terminal in raw mode (no echo, no line editing, no signals from keys),
/// with output post-processing kept (the guest's `\n` starts a new line). `restore` puts the
/// saved settings back; so do the signals that end the process (SIGTERM, SIGHUP, SIGQUIT,
/// SIGINT, SIGPIPE: standard output went away while the terminal is still raw) and
/// `exit`, so that no way out leaves the terminal raw.
public final class RawTerminal: Sendable {
    /// The settings to put back, for the signal handlers and the exit handler (which cannot
    /// capture); only set while a `RawTerminal` is active.
    nonisolated(unsafe) private static var saved: termios?

    private init() {}

    nonisolated(unsafe) private static var exitHandlerInstalled = false

    /// Raw mode, when standard input is a terminal; nil otherwise (nothing to restore).
    /// `signals` are the ones that restore the terminal and then end the process as they would
    /// have (a caller that handles SIGINT/SIGTERM itself, as `armvisor run` does, leaves them
    /// out and restores on its own way out).
    public static func enter(restoringOn signals: [Int32] = [SIGTERM, SIGHUP, SIGQUIT, SIGINT, SIGPIPE])
        -> RawTerminal?
    {
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        var original = termios()
        guard tcgetattr(STDIN_FILENO, &original) == 0 else { return nil }
        saved = original
        var raw = original
        cfmakeraw(&raw)
        raw.c_oflag |= tcflag_t(OPOST | ONLCR)
        for signal in signals {
            Glibc.signal(signal) { number in
                RawTerminal.putBack()
                Glibc.signal(number, SIG_DFL)
                raise(number)
            }
        }
        if !exitHandlerInstalled {
            exitHandlerInstalled = true
            atexit { RawTerminal.putBack() }
        }
        guard tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0 else { return nil }
        return RawTerminal()
    }

    public func restore() { Self.putBack() }

    private static func putBack() {
        guard var original = saved else { return }
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
    }
}
