import CMPI
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The ranks of an MPI job (`MPI_COMM_WORLD`) and the collectives between them, each guarded by
/// a watchdog.
///
/// Create one per process, on the thread that will make every distributed call (the training
/// thread: it also runs `backward()`, from which a gradient hook may call
/// ``GradientReducer/gradientReady(_:)``), and call ``finalize()`` at the end of a successful run:
///
/// ```swift
/// let comm = try Communicator()
/// defer { try? comm.finalize() }
/// try comm.checkConsistency(config, of: "training configuration")
/// try comm.broadcastParameters(of: model)
/// ```
///
/// **Threads.** MPI is initialized with `MPI_THREAD_FUNNELED`: the process has other threads
/// (Tessera's compute pool, OpenBLAS, the data loader's prefetch threads), but only the thread that
/// created the communicator calls MPI. Calling from another thread is a programmer error (a
/// precondition failure).
///
/// **Watchdog.** Every collective is started non-blocking and polled with `MPI_Test` against a
/// deadline. While it waits, a rank also answers small probe messages from the others. When a
/// collective has not completed after ``timeout`` minus ``probeWindow`` seconds, the waiting rank
/// probes every other rank and waits up to ``probeWindow`` for the answers: the ranks that do not
/// answer (dead, stopped, or outside every collective for the whole time) are named in a thrown
/// ``DistributedError/peerUnresponsive(operation:ranks:waitedSeconds:details:)``; when all answer,
/// their answers (which collective each is in, with how many elements) go into a
/// ``DistributedError/collectiveMismatch(operation:details:)``. Either way the communicator is
/// unusable afterwards (an MPI collective cannot be cancelled): print the error and exit with a
/// non-zero status; `mpirun` then stops the other ranks. The timeout is
/// `TESSERA_DIST_TIMEOUT` seconds (1 to 86,400; default 30).
///
/// When `mpirun` itself stops the job (it does so as soon as a rank is killed or exits non-zero),
/// the other ranks receive SIGTERM; unless `announceTermination` is false, each prints one line
/// saying so before terminating with SIGTERM's status, so its output is not silently cut.
///
/// Set-up is not guarded: `MPI_Init_thread`, the communicator duplications and
/// `MPI_Comm_split_type` have no form that can be polled, so a rank that never reaches
/// `Communicator()` blocks the others there (mpirun still stops them if it dies).
public final class Communicator {
    /// This process's rank, 0 ..< ``size``.
    public let rank: Int
    /// The number of ranks in the job.
    public let size: Int
    /// This process's rank among the ranks on the same host (`MPI_Comm_split_type` with
    /// `MPI_COMM_TYPE_SHARED`).
    public let localRank: Int
    /// The number of ranks on this host.
    public let localSize: Int
    /// Seconds a collective may take before the watchdog fails it, probe included
    /// (`TESSERA_DIST_TIMEOUT`, default 30).
    public let timeout: Double
    /// Seconds the watchdog waits for the answers to its probes: a tenth of ``timeout``, between
    /// 0.5 and 3 s. The probe starts after `timeout - probeWindow` seconds of waiting.
    public var probeWindow: Double { Communicator.probeWindow(timeout: timeout) }

    /// The environment variable that sets ``timeout``.
    public static let timeoutVariable = "TESSERA_DIST_TIMEOUT"
    /// The watchdog timeout when ``timeoutVariable`` is not set.
    public static let defaultTimeout: Double = 30

    /// Collectives run on a duplicate of `MPI_COMM_WORLD` (so other code's messages on the world
    /// communicator cannot match ours); the watchdog's probes on a second one.
    let comm: MPI_Comm
    let control: MPI_Comm
    /// Collectives started so far; the same on every rank that calls the same collectives.
    private(set) var sequence = 0
    /// Why the communicator became unusable, once it has.
    private var failure: String?
    private var finalized = false

    // Watchdog state: what this rank is waiting in (reported to probes), the current probe round
    // and the answers to it, and the probe sends not yet completed.
    private var activity = Activity(kind: .none, sequence: 0, count: 0, since: .now)
    private var probeRound: Int64 = 0
    private var answers: [Int: Activity] = [:]
    private var pendingSends: [(request: MPI_Request?, buffer: UnsafeMutablePointer<Int64>)] = []

    /// Initializes MPI (`MPI_Init_thread`, `MPI_THREAD_FUNNELED`), makes MPI calls return their
    /// errors (`MPI_ERRORS_RETURN`) so they are thrown, and finds this rank's place in the job.
    ///
    /// - Parameters:
    ///   - announceTermination: print a line when terminated by SIGTERM (see the type's notes).
    ///   - environment: where ``timeoutVariable`` is read.
    /// - Throws: ``DistributedError/invalidEnvironment(variable:value:expected:)`` for a bad
    ///   timeout; ``DistributedError/unavailable(_:)`` when MPI was already initialized or
    ///   finalized in this process, or lacks the thread support; ``DistributedError/mpi(call:code:message:)``.
    public init(announceTermination: Bool = true,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        timeout = try Communicator.timeout(environment: environment)
        var flag: Int32 = 0
        _ = MPI_Finalized(&flag)
        if flag != 0 { throw DistributedError.unavailable("MPI was already finalized in this process and cannot be initialized again") }
        _ = MPI_Initialized(&flag)
        if flag != 0 { throw DistributedError.unavailable("MPI is already initialized in this process: create one Communicator per process") }

        var provided: Int32 = 0
        try mpiCheck(MPI_Init_thread(nil, nil, tessera_mpi_thread_funneled(), &provided), "MPI_Init_thread")
        let world = tessera_mpi_comm_world()
        try mpiCheck(MPI_Comm_set_errhandler(world, tessera_mpi_errors_return()), "MPI_Comm_set_errhandler")
        guard provided >= tessera_mpi_thread_funneled() else {
            throw DistributedError.unavailable("this MPI provides thread level \(provided), below MPI_THREAD_FUNNELED (\(tessera_mpi_thread_funneled())), which TesseraDistributed needs")
        }
        var dup: MPI_Comm?
        try mpiCheck(MPI_Comm_dup(world, &dup), "MPI_Comm_dup")
        comm = dup!
        try mpiCheck(MPI_Comm_dup(world, &dup), "MPI_Comm_dup")
        control = dup!

        var value: Int32 = 0
        try mpiCheck(MPI_Comm_rank(comm, &value), "MPI_Comm_rank")
        rank = Int(value)
        try mpiCheck(MPI_Comm_size(comm, &value), "MPI_Comm_size")
        size = Int(value)
        var local: MPI_Comm?
        try mpiCheck(MPI_Comm_split_type(comm, tessera_mpi_comm_type_shared(), Int32(rank), tessera_mpi_info_null(), &local),
                     "MPI_Comm_split_type")
        try mpiCheck(MPI_Comm_rank(local, &value), "MPI_Comm_rank")
        localRank = Int(value)
        try mpiCheck(MPI_Comm_size(local, &value), "MPI_Comm_size")
        localSize = Int(value)
        try mpiCheck(MPI_Comm_free(&local), "MPI_Comm_free")

        if announceTermination && size > 1 { TerminationNote.install(rank: rank) }
    }

    /// ``timeout`` as read from `environment`: ``defaultTimeout`` when ``timeoutVariable`` is
    /// absent, else its value in seconds.
    /// - Throws: ``DistributedError/invalidEnvironment(variable:value:expected:)`` unless the value
    ///   is a number from 1 to 86,400.
    public static func timeout(environment: [String: String]) throws -> Double {
        guard let raw = environment[timeoutVariable] else { return defaultTimeout }
        guard let seconds = Double(raw.trimmingCharacters(in: .whitespaces)), seconds >= 1, seconds <= 86_400 else {
            throw DistributedError.invalidEnvironment(variable: timeoutVariable, value: raw,
                                                      expected: "a number of seconds from 1 to 86400 (default \(Int(defaultTimeout)))")
        }
        return seconds
    }

    /// The compute threads a rank should use (`Runtime.threads`) so that the ranks on this host
    /// share its cores instead of oversubscribing them: cores / ``localSize``, and no more than
    /// the CPUs this process may run on (mpirun binds each of one or two ranks to a core by
    /// default), at least 1.
    public var suggestedComputeThreads: Int {
        max(1, min(ProcessInfo.processInfo.activeProcessorCount / localSize, Communicator.allowedCPUs ?? .max))
    }

    /// The CPUs this process's affinity mask allows (Linux: `Cpus_allowed` in /proc/self/status),
    /// or nil where that is not known.
    static var allowedCPUs: Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        return allowedCPUs(mask: String(line.dropFirst("Cpus_allowed:".count)))
    }

    /// The CPUs in a `Cpus_allowed` mask (hexadecimal, groups separated by commas), or nil.
    static func allowedCPUs(mask: String) -> Int? {
        var count = 0
        for c in mask where c != "," && !c.isWhitespace {
            guard let digit = c.hexDigitValue else { return nil }
            count += digit.nonzeroBitCount
        }
        return count > 0 ? count : nil
    }

    /// The probe window for a timeout: a tenth of it, between 0.5 and 3 s.
    static func probeWindow(timeout: Double) -> Double { min(3, max(0.5, timeout / 10)) }

    /// Ends MPI after a watchdog-guarded barrier, so a rank that is gone is reported instead of
    /// `MPI_Finalize` blocking on it. Call it once at the end of a successful run; a process that
    /// exits without it makes `mpirun` report the job as failed.
    /// - Throws: ``DistributedError/communicatorFailed(earlier:)`` after an earlier failure
    ///   (MPI is then left as it is: finalizing would wait for the failed collective), and the
    ///   barrier's errors.
    public func finalize() throws {
        guard !finalized else { return }
        try barrier()
        try serviceControl()
        for s in pendingSends {
            var r = s.request
            if r != nil { _ = MPI_Request_free(&r) }
        }
        pendingSends = []
        var c: MPI_Comm? = comm
        try mpiCheck(MPI_Comm_free(&c), "MPI_Comm_free")
        c = control
        try mpiCheck(MPI_Comm_free(&c), "MPI_Comm_free")
        finalized = true
        try mpiCheck(MPI_Finalize(), "MPI_Finalize")
    }

    /// Stops every rank of the job now (`MPI_Abort`), with `exitCode` as the job's status.
    public func abort(exitCode: Int32 = 1) -> Never {
        _ = MPI_Abort(tessera_mpi_comm_world(), exitCode)
        exit(exitCode)
    }

    // MARK: - Running a collective under the watchdog

    /// Throws when the communicator cannot be used; traps when called from another thread.
    func ensureUsable() throws {
        if let failure { throw DistributedError.communicatorFailed(earlier: failure) }
        if finalized { throw DistributedError.unavailable("the communicator was finalized") }
        var main: Int32 = 0
        _ = MPI_Is_thread_main(&main)
        precondition(main != 0, "TesseraDistributed: MPI calls must come from the thread that created the Communicator (MPI_THREAD_FUNNELED)")
    }

    /// The sequence number of the next collective.
    func nextSequence() -> Int {
        sequence += 1
        return sequence
    }

    /// Starts one non-blocking collective with `start` and waits for it under the watchdog.
    func collective(_ kind: Activity.Kind, count: Int, call: String, _ start: (UnsafeMutablePointer<MPI_Request?>) -> Int32) throws {
        try ensureUsable()
        let seq = nextSequence()
        var requests: [MPI_Request?] = [nil]
        try mpiCheck(start(&requests[0]), call)
        try wait(&requests, activity: Activity(kind: kind, sequence: seq, count: count, since: .now))
    }

    /// Waits until every request completes. Answers probes meanwhile; after `timeout -
    /// probeWindow` seconds probes the other ranks and throws, naming those that stay silent —
    /// unless the requests complete during the probe. When MPI reports an error for the
    /// collective (a peer's connection lost), the others are probed as well, so that the error
    /// names the rank that is gone.
    func wait(_ requests: inout [MPI_Request?], activity waiting: Activity) throws {
        activity = waiting
        defer { activity = Activity(kind: .none, sequence: sequence, count: 0, since: .now) }
        let limit = timeout - probeWindow
        var backoff = Backoff()
        while true {
            let complete: Bool
            do { complete = try testAll(&requests, waiting) } catch let error as DistributedError {
                try probeOthers(&requests, waiting, cause: error)
                return
            }
            if complete { return }
            try serviceControl()
            let waited = waiting.seconds
            if waited >= limit {
                try probeOthers(&requests, waiting)
                return
            }
            backoff.pause(waited)
        }
    }

    /// Tests every request (which also moves MPI's progress engine); true when all completed.
    func testAll(_ requests: inout [MPI_Request?], _ waiting: Activity) throws -> Bool {
        var all = true
        for i in requests.indices where requests[i] != nil {
            var done: Int32 = 0
            try mpiCheck(MPI_Test(&requests[i], &done, tessera_mpi_status_ignore()), "MPI_Test (\(waiting.label))")
            if done == 0 { all = false } else { requests[i] = nil }
        }
        return all
    }

    /// Drives pending requests without waiting and answers probes: for callers that do other
    /// work between collectives (the gradient reducer calls it as gradients become ready).
    func progress(_ requests: inout [MPI_Request?], _ waiting: Activity) throws {
        _ = try testAll(&requests, waiting)
        try serviceControl()
    }

    // MARK: - Probes

    private static let probeTag: Int32 = 1
    private static let answerTag: Int32 = 2
    private static let messageLength = 5

    /// Receives every control message that has arrived: answers probes with this rank's
    /// activity and records answers to this rank's current probe round. Frees completed sends.
    func serviceControl() throws {
        while true {
            var flag: Int32 = 0
            var status = MPI_Status()
            try mpiCheck(MPI_Iprobe(tessera_mpi_any_source(), tessera_mpi_any_tag(), control, &flag, &status), "MPI_Iprobe (watchdog)")
            guard flag != 0 else { break }
            var message = [Int64](repeating: 0, count: Communicator.messageLength)
            try mpiCheck(MPI_Recv(&message, Int32(Communicator.messageLength), tessera_mpi_int64_t(), status.MPI_SOURCE,
                                  status.MPI_TAG, control, tessera_mpi_status_ignore()), "MPI_Recv (watchdog)")
            let source = Int(status.MPI_SOURCE)
            if status.MPI_TAG == Communicator.probeTag {
                // An answer that cannot be sent (the prober is gone) is no error of this rank's.
                let a = activity
                _ = send([message[0], a.kind.rawValue, Int64(a.sequence), Int64(a.count), Int64(a.seconds * 1000)],
                         to: source, tag: Communicator.answerTag)
            } else if status.MPI_TAG == Communicator.answerTag && message[0] == probeRound {
                let kind = Activity.Kind(rawValue: message[1]) ?? .none
                answers[source] = Activity(kind: kind, sequence: Int(message[2]), count: Int(message[3]),
                                           since: .now - .milliseconds(message[4]))
            }
        }
        var i = 0
        while i < pendingSends.count {
            var done: Int32 = 0
            let rc = MPI_Test(&pendingSends[i].request, &done, tessera_mpi_status_ignore())
            if rc != tessera_mpi_success() || done != 0 {
                // A failed send is dropped; its buffer is kept in case MPI still reads it.
                if rc == tessera_mpi_success() { pendingSends[i].buffer.deallocate() }
                pendingSends.swapAt(i, pendingSends.count - 1)
                pendingSends.removeLast()
            } else {
                i += 1
            }
        }
    }

    /// Starts a watchdog message to `peer`; false when MPI refuses (the peer is gone).
    private func send(_ message: [Int64], to peer: Int, tag: Int32) -> Bool {
        let buffer = UnsafeMutablePointer<Int64>.allocate(capacity: Communicator.messageLength)
        buffer.initialize(from: message, count: Communicator.messageLength)
        var request: MPI_Request?
        let rc = MPI_Isend(buffer, Int32(Communicator.messageLength), tessera_mpi_int64_t(), Int32(peer), tag, control, &request)
        guard rc == tessera_mpi_success() else {
            buffer.deallocate()
            return false
        }
        pendingSends.append((request, buffer))
        return true
    }

    /// The watchdog's second phase: probe every other rank, collect the answers for up to
    /// ``probeWindow`` seconds (returning if the collective completes meanwhile, unless it
    /// already failed with `cause`), then throw.
    private func probeOthers(_ requests: inout [MPI_Request?], _ waiting: Activity, cause: DistributedError? = nil) throws {
        probeRound += 1
        answers = [:]
        for peer in 0..<size where peer != rank {
            _ = send([probeRound, 0, 0, 0, 0], to: peer, tag: Communicator.probeTag)
        }
        let probeStart = ContinuousClock.now
        var backoff = Backoff()
        while answers.count < size - 1 {
            if cause == nil, (try? testAll(&requests, waiting)) == true { return }
            do { try serviceControl() } catch { break }
            let elapsed = Activity.seconds(since: probeStart)
            if elapsed >= probeWindow { break }
            backoff.pause(elapsed)
        }
        if cause == nil, (try? testAll(&requests, waiting)) == true { return }

        var states = answers
        states[rank] = waiting
        let silent = (0..<size).filter { states[$0] == nil }
        let summary = Communicator.describe(states, this: rank)
        let error: DistributedError
        if !silent.isEmpty {
            error = .peerUnresponsive(operation: waiting.label, ranks: silent, waitedSeconds: waiting.seconds,
                                      details: cause.map { "\($0); " + summary } ?? summary)
        } else if let cause {
            error = cause
        } else {
            error = .collectiveMismatch(operation: waiting.label, details: summary)
        }
        failure = error.description
        throw error
    }

    /// "ranks 0 (this one), 2 are waiting in allreduce #57 (1000 elements); rank 3 is outside collectives (last #56)".
    static func describe(_ states: [Int: Activity], this: Int) -> String {
        var groups: [(state: String, ranks: [Int])] = []
        for r in states.keys.sorted() {
            let s = states[r]!.stateDescription
            if let i = groups.firstIndex(where: { $0.state == s }) { groups[i].ranks.append(r) } else { groups.append((s, [r])) }
        }
        return groups.map { g in
            let names = g.ranks.map { $0 == this ? "\($0) (this one)" : String($0) }.joined(separator: ", ")
            return (g.ranks.count == 1 ? "rank " : "ranks ") + names + (g.ranks.count == 1 ? " is " : " are ") + g.state
        }.joined(separator: "; ")
    }
}

/// What a rank is doing, as reported to the watchdog's probes.
struct Activity {
    enum Kind: Int64 {
        case none = 0, barrier, broadcast, allreduce, allgather, gradientBuckets

        var name: String {
            switch self {
            case .none: return "no collective"
            case .barrier: return "barrier"
            case .broadcast: return "broadcast"
            case .allreduce: return "allreduce"
            case .allgather: return "allgather"
            case .gradientBuckets: return "gradient allreduce"
            }
        }
    }

    var kind: Kind
    /// The collective's sequence number (for `.none`, the last one started).
    var sequence: Int
    /// Elements in the collective's buffer.
    var count: Int
    var since: ContinuousClock.Instant

    var seconds: Double { Activity.seconds(since: since) }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// "allreduce #57 (1000 elements)".
    var label: String { "\(kind.name) #\(sequence) (\(count) elements)" }

    var stateDescription: String {
        kind == .none ? "outside collectives (last started: #\(sequence))" : "waiting in \(label)"
    }
}

/// Spins briefly, then yields the core, then sleeps between polls: a collective on local ranks
/// completes within microseconds to milliseconds, while waiting for a slow rank should leave the
/// cores to the ranks still computing (several ranks may share this host's cores).
struct Backoff {
    private var polls = 0

    mutating func pause(_ waited: Double) {
        polls += 1
        if polls < 64 { return }
        if waited < 0.02 { sched_yield() } else { usleep(200) }
    }
}

/// Throws ``DistributedError/mpi(call:code:message:)`` for a return code other than `MPI_SUCCESS`.
func mpiCheck(_ code: Int32, _ call: @autoclosure () -> String) throws {
    guard code != tessera_mpi_success() else { return }
    var text = [CChar](repeating: 0, count: Int(tessera_mpi_max_error_string()) + 1)
    var length: Int32 = 0
    let message: String
    if MPI_Error_string(code, &text, &length) == tessera_mpi_success() {
        message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    } else {
        message = "unknown error"
    }
    throw DistributedError.mpi(call: call(), code: code, message: message)
}

/// The SIGTERM handler that says why this rank stops when the launcher terminates the job.
///
/// The note is a C string allocated once, before the handler is installed, and never freed or
/// changed after: the handler may only read it (an allocation or a Swift string is not
/// async-signal-safe), so these two are written once and then only read.
enum TerminationNote {
    nonisolated(unsafe) private static var note: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var noteLength = 0

    static func install(rank: Int) {
        let text = "tessera: rank \(rank): terminated by SIGTERM from the launcher (mpirun stops every rank when one "
            + "fails or exits non-zero, or when the job is interrupted: see its message)\n"
        let utf8 = Array(text.utf8CString)
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
        buffer.initialize(from: utf8, count: utf8.count)
        note = buffer
        noteLength = utf8.count - 1
        _ = signal(SIGTERM) { sig in
            if let note = TerminationNote.note { _ = write(2, note, TerminationNote.noteLength) }
            _ = signal(sig, SIG_DFL)
            _ = raise(sig)
        }
    }
}
