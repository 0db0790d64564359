import Dispatch
import Foundation
#if os(Linux)
import Synchronization
#endif

// Time per class of operation, for `bench --breakdown`. Off by default: each instrumented op
// pays one load and one well-predicted branch at its entry (and one at its exit). On, inside
// `Profiler.measure`, the op's time is taken at its entry and exit on the thread that called
// `measure` only — the parts of an op that run on Tessera's other threads are inside that
// interval — and only for the outermost instrumented op: an op called inside another (the
// mean inside a cross-entropy, a sigmoid inside a loss's backward) counts as part of the outer
// one, so the classes never overlap and their sum never exceeds the wall time.

/// A class of operations whose time ``Profiler`` adds up.
public enum OpClass: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// `conv2d` forward.
    case convForward
    /// The input gradient of `conv2d`.
    case convInputGradient
    /// The weight (and bias) gradient of `conv2d`.
    case convWeightGradient
    /// Batch normalization forward (with the fused ReLU of `batchNormReLU`).
    case batchNormForward
    /// Batch normalization backward (with the fused ReLU's mask).
    case batchNormBackward
    /// ReLU, leaky ReLU, GELU, sigmoid and tanh, forward and backward.
    case activation
    /// Elementwise addition (`+` of two tensors), forward and backward.
    case add
    /// Max, average, adaptive and global average pooling, forward and backward.
    case pooling
    /// `linear` forward and backward.
    case linear
    /// Cross-entropy and BCE with logits forward and backward, NLL forward (MSE and L1 are
    /// made of other ops, which fall into the rest).
    case loss
    /// The optimizer: `Optimizer`'s step and `zeroGrad`.
    case optimizer
    /// Backward's sums of the gradients of a tensor used more than once (a residual block's input).
    case gradientAccumulation

    /// A short name for tables and JSON keys.
    public var description: String {
        switch self {
        case .convForward: return "conv_forward"
        case .convInputGradient: return "conv_input_grad"
        case .convWeightGradient: return "conv_weight_grad"
        case .batchNormForward: return "batchnorm_forward"
        case .batchNormBackward: return "batchnorm_backward"
        case .activation: return "activation"
        case .add: return "add"
        case .pooling: return "pooling"
        case .linear: return "linear"
        case .loss: return "loss"
        case .optimizer: return "optimizer"
        case .gradientAccumulation: return "grad_accumulation"
        }
    }

    /// The class of a recorded operation's backward function, by the op's name in the autograd
    /// graph; nil for ops not timed as a whole (`conv2d` times its input and weight gradients
    /// inside its backward; other ops fall into the rest).
    static func backward(ofOp op: String) -> OpClass? {
        switch op {
        case "batch_norm", "batch_norm_relu": return .batchNormBackward
        case "relu", "leaky_relu", "gelu", "sigmoid", "tanh": return .activation
        case "add": return .add
        case "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "global_avg_pool2d": return .pooling
        case "linear": return .linear
        case "cross_entropy", "bce_with_logits": return .loss
        default: return nil
        }
    }
}

/// What ``Profiler/measure(_:)`` found: the time and number of calls of each ``OpClass`` and the
/// wall time of the measured scope.
public struct Profile: Sendable {
    /// Seconds per class, indexed by `OpClass.rawValue` (0 for classes that did not run).
    public var seconds: [Double]
    /// Calls per class, indexed by `OpClass.rawValue`.
    public var calls: [Int]
    /// Wall time of the measured scope, seconds.
    public var wallSeconds: Double

    /// An empty profile (no time, no calls).
    public init() {
        seconds = Array(repeating: 0, count: OpClass.allCases.count)
        calls = Array(repeating: 0, count: OpClass.allCases.count)
        wallSeconds = 0
    }

    /// Seconds spent in `opClass`.
    public subscript(_ opClass: OpClass) -> Double { seconds[opClass.rawValue] }

    /// Calls of `opClass`.
    public func calls(_ opClass: OpClass) -> Int { calls[opClass.rawValue] }

    /// Seconds in all classes together.
    public var classifiedSeconds: Double { seconds.reduce(0, +) }

    /// Wall time outside every class: the ops that are not instrumented, autograd's own work
    /// (ordering the graph, bookkeeping), allocation.
    public var restSeconds: Double { wallSeconds - classifiedSeconds }

    /// The sum of two profiles (e.g. of several training steps).
    public static func + (a: Profile, b: Profile) -> Profile {
        var s = a
        for i in s.seconds.indices {
            s.seconds[i] += b.seconds[i]
            s.calls[i] += b.calls[i]
        }
        s.wallSeconds += b.wallSeconds
        return s
    }
}

/// An interval opened by ``Profiler/begin(_:)``: zero when nothing is being measured here.
public struct ProfilerToken: Sendable {
    @usableFromInline let start: UInt64
    @usableFromInline let opClass: Int

    @usableFromInline init(start: UInt64, opClass: Int) {
        self.start = start
        self.opClass = opClass
    }
}

/// Times Tessera's operations per ``OpClass`` inside ``measure(_:)``; off otherwise.
///
/// ```swift
/// let (_, profile) = Profiler.measure { trainStep() }
/// print(profile[.convForward], profile.restSeconds)
/// ```
///
/// Instrumented ops call ``begin(_:)`` at entry and ``end(_:)`` at exit (or wrap a part in
/// ``time(_:_:)``). Only the thread that called `measure` is recorded, and only the outermost
/// instrumented op at a time, so the classes' sum never exceeds the wall time. One `measure`
/// runs at a time in the process; a second one on another thread waits for the first.
public enum Profiler {
    #if os(Linux)
    /// 1 while a measurement is running: the only thing an op reads when profiling is off.
    private static let active = Atomic<Int>(0)
    @inline(__always) static var isActive: Bool { active.load(ordering: .relaxed) != 0 }
    private static func setActive(_ on: Bool) { active.store(on ? 1 : 0, ordering: .releasing) }
    #else
    // Synchronization's Atomic needs macOS 15 (the package supports 13): a plain flag, written
    // only by `measure` under `session`'s lock; a racy read sends an op on another thread to the
    // slow path, which rechecks under the lock.
    nonisolated(unsafe) private static var activeFlag = false
    @inline(__always) static var isActive: Bool { activeFlag }
    private static func setActive(_ on: Bool) { activeFlag = on }
    #endif

    /// The running measurement: its thread, whether an op is open, and the totals.
    private struct Session {
        var thread: pthread_t
        var open = false
        var profile = Profile()
    }

    private static let session = Locked<Session?>(nil)
    /// Held for the whole of a `measure` call: one measurement at a time.
    private static let exclusive = NSLock()

    /// Runs `body` with profiling on for the calling thread and returns its result with the
    /// time of each op class inside it.
    /// - Precondition: not called inside another `measure` on the same thread.
    public static func measure<R>(_ body: () throws -> R) rethrows -> (result: R, profile: Profile) {
        precondition(!(session.value.map { pthread_equal($0.thread, pthread_self()) != 0 } ?? false),
                     "Profiler.measure: already measuring on this thread")
        exclusive.lock()
        defer { exclusive.unlock() }
        session.value = Session(thread: pthread_self())
        setActive(true)
        let t0 = now()
        let result: R
        do {
            result = try body()
        } catch {
            setActive(false)
            session.value = nil
            throw error
        }
        let wall = now() - t0
        setActive(false)
        var profile = session.withLock { s -> Profile in
            defer { s = nil }
            return s?.profile ?? Profile()
        }
        profile.wallSeconds = Double(wall) / 1e9
        return (result, profile)
    }

    /// Whether a measurement is running somewhere in the process (ops on other threads than
    /// the measuring one are still not recorded).
    public static var isMeasuring: Bool { isActive }

    @inline(__always) static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Opens the interval of an op of class `opClass`; pass the token to ``end(_:)`` at the op's
    /// exit: `let profile = Profiler.begin(.add); defer { Profiler.end(profile) }`.
    @inline(__always)
    public static func begin(_ opClass: OpClass) -> ProfilerToken {
        guard _slowPath(isActive) else { return ProfilerToken(start: 0, opClass: 0) }
        return open(opClass)
    }

    /// Closes an interval opened by ``begin(_:)``, adding its time to its class.
    @inline(__always)
    public static func end(_ token: ProfilerToken) {
        guard _slowPath(token.start != 0) else { return }
        close(token)
    }

    /// `body`'s result, its time added to `opClass` (when it is the outermost op being measured).
    @inline(__always)
    public static func time<R>(_ opClass: OpClass, _ body: () throws -> R) rethrows -> R {
        let token = begin(opClass)
        defer { end(token) }
        return try body()
    }

    /// A recorded op's backward function run by autograd, timed under the class of its op name
    /// (``OpClass/backward(ofOp:)``); untimed for ops of no class.
    @inline(__always)
    static func timeBackward<R>(of op: String, _ body: () throws -> R) rethrows -> R {
        guard _slowPath(isActive), let c = OpClass.backward(ofOp: op) else { return try body() }
        return try time(c, body)
    }

    @inline(never)
    private static func open(_ opClass: OpClass) -> ProfilerToken {
        let me = pthread_self()
        let recording = session.withLock { s -> Bool in
            guard let current = s, pthread_equal(current.thread, me) != 0, !current.open else { return false }
            s!.open = true
            return true
        }
        return recording ? ProfilerToken(start: Swift.max(1, now()), opClass: opClass.rawValue) : ProfilerToken(start: 0, opClass: 0)
    }

    @inline(never)
    private static func close(_ token: ProfilerToken) {
        let elapsed = Double(now() - token.start) / 1e9
        session.withLock { s in
            guard s != nil else { return }
            s!.open = false
            s!.profile.seconds[token.opClass] += elapsed
            s!.profile.calls[token.opClass] += 1
        }
    }
}
