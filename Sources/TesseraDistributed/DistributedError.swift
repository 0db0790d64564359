/// Why a distributed operation failed. Everything caused by another process, by MPI or by the
/// environment is thrown as one of these; after a ``peerUnresponsive(operation:ranks:waitedSeconds:details:)``
/// or ``collectiveMismatch(operation:details:)`` the communicator is unusable (its collective
/// cannot be cancelled), and the process should print the error and exit non-zero — the
/// launcher then stops the other ranks.
public enum DistributedError: Error, CustomStringConvertible, Equatable, Sendable {
    /// An MPI call returned an error code; `message` is `MPI_Error_string`'s text.
    case mpi(call: String, code: Int32, message: String)
    /// A collective did not complete within the watchdog's timeout and these ranks did not
    /// answer the probe that followed: they died, are stopped, or have stayed outside every
    /// collective for the whole timeout.
    case peerUnresponsive(operation: String, ranks: [Int], waitedSeconds: Double, details: String)
    /// A collective did not complete within the timeout although every rank answered the probe:
    /// the ranks are in different collectives (or in the same one with different sizes).
    case collectiveMismatch(operation: String, details: String)
    /// The ranks passed arguments that must agree and do not (lengths, shapes, names).
    case inconsistentArguments(operation: String, details: String)
    /// The ranks' configurations differ (see `Communicator.checkConsistency(_:of:)`).
    case configurationMismatch(what: String, details: String)
    /// An environment variable has a value that cannot be used.
    case invalidEnvironment(variable: String, value: String, expected: String)
    /// MPI cannot be used as asked (thread support, initialized twice, already finalized, …).
    case unavailable(String)
    /// The communicator failed earlier and cannot be used any more.
    case communicatorFailed(earlier: String)

    /// Whether every rank throws this error at the same point, having decided it from data every
    /// rank gathered (a ``configurationMismatch(what:details:)``). A process that reports such an
    /// error can wait at a barrier before it exits, so that every rank's message is out before
    /// the launcher, seeing the first exit, stops the others.
    public var isRaisedOnEveryRank: Bool {
        if case .configurationMismatch = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case let .mpi(call, code, message):
            return "\(call) failed with MPI error \(code): \(message)"
        case let .peerUnresponsive(operation, ranks, waited, details):
            let who = ranks.count == 1 ? "rank \(ranks[0])" : "ranks " + ranks.map(String.init).joined(separator: ", ")
            return "\(operation) did not complete in \(formatSeconds(waited)): \(who) did not answer "
                + "(dead, stopped, or outside every collective for that long)" + (details.isEmpty ? "" : "; " + details)
        case let .collectiveMismatch(operation, details):
            return "\(operation) did not complete although every rank answered: \(details)"
        case let .inconsistentArguments(operation, details):
            return "\(operation): the ranks disagree: \(details)"
        case let .configurationMismatch(what, details):
            return "\(what) differs between ranks: \(details)"
        case let .invalidEnvironment(variable, value, expected):
            return "\(variable)='\(value)' is invalid: expected \(expected)"
        case let .unavailable(reason):
            return reason
        case let .communicatorFailed(earlier):
            return "the communicator failed earlier and cannot be used: \(earlier)"
        }
    }
}

/// `2.5 s`, `30 s`.
func formatSeconds(_ s: Double) -> String {
    let rounded = (s * 10).rounded() / 10
    return rounded == rounded.rounded() ? "\(Int(rounded)) s" : "\(rounded) s"
}
