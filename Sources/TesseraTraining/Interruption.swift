import Foundation

/// The signals that stop a run cleanly: Ctrl-C (SIGINT), a batch scheduler or `kill` (SIGTERM),
/// a closed terminal (SIGHUP). The handler only records the signal; the trainer checks after
/// every step, saves a checkpoint `--resume` continues from, and the command exits with
/// 128 + the signal number, as shells expect (130 for Ctrl-C).
public enum Interruption {
    /// The handled signals.
    public static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// The number of the first signal received since ``install()``, or 0.
    ///
    /// Written from a signal handler, where only a plain store is async-signal-safe, and read
    /// after each training step (ARCHITECTURE.md lists the engine's few process-wide variables).
    nonisolated(unsafe) static var received: Int32 = 0

    /// Routes ``signals`` and `extra` to the flag (a second signal of the same kind while the first
    /// is being handled has no further effect; `kill -9` cannot be caught, and the last checkpoint
    /// stands). A data-parallel run adds SIGUSR1, which `mpirun` forwards to every process.
    public static func install(adding extra: [Int32] = []) {
        for s in signals + extra {
            signal(s) { sig in if Interruption.received == 0 { Interruption.received = sig } }
        }
    }

    /// The signal received, if any.
    public static var pending: Int32? { received == 0 ? nil : received }

    /// Records `signal` as if it had been received (a test, or an embedding application that
    /// wants the trainer to stop and save at the next step).
    public static func request(_ signal: Int32 = SIGINT) { if received == 0 { received = signal } }

    /// Forgets a received signal (before starting another run in the same process).
    public static func reset() { received = 0 }

    /// The conventional name of a signal, for messages.
    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(signal)"
        }
    }
}
