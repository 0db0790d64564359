import CTesseraKernels
import Dispatch
import Foundation

/// The engine's process-wide settings: how many threads it computes with.
///
/// Every parallel loop of Tessera's kernels and every GEMM obeys ``threads``: a standalone
/// ``Tensor/matmul(_:)`` lets OpenBLAS use that many threads; Tessera's own kernels split their
/// work into that many parts and run single-threaded GEMMs inside them, so a threaded GEMM never
/// runs inside one of our parallel loops.
public enum Runtime {
    private static let threadCount = Locked(ProcessInfo.processInfo.activeProcessorCount)

    /// The number of threads Tessera computes with (default: all cores). Set it before a
    /// workload, from one thread; the kernels read it when they start.
    /// - Precondition: at least 1.
    public static var threads: Int {
        get { threadCount.value }
        set {
            precondition(newValue >= 1, "Runtime.threads: thread count must be at least 1, got \(newValue)")
            threadCount.value = newValue
        }
    }
}

/// A value handed to other threads whose safety the code around it guarantees (see each use).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A value guarded by a lock, for the few process-wide settings and caches the engine keeps.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }

    /// Runs `body` on the value while holding the lock.
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&stored)
    }
}

/// Fork–join parallelism for Tessera's own kernels.
///
/// Work is split into at most ``Runtime/threads`` parts that run on the calling thread and the
/// workers of Tessera's pool (`tessera_pool.h`: they spin briefly between jobs, so a loop's
/// parts start within a microsecond where a parked thread takes tens); a GEMM issued inside a
/// part runs single-threaded (see ``BLAS``), so OpenBLAS's threads never compete with ours for
/// the cores. When another thread's loop holds the pool, the parts run on Dispatch's threads.
enum Parallel {
    /// Elements below which an elementwise kernel stays on the calling thread.
    static let minimumElements = 1 << 15

    /// Runs `body(part)` for `part` in `0..<parts`, concurrently when `parts > 1`.
    ///
    /// `body` is not `@Sendable`: the kernels' parts share raw buffers, each writing only its own
    /// range. The pool (and Dispatch's `concurrentPerform`, when the pool is busy) returns only
    /// after every part has finished, so the closure never outlives this call; it crosses
    /// threads as a pointer to this frame's copy.
    @inline(__always)
    static func run(parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 { if parts == 1 { body(0) }; return }
        withoutActuallyEscaping(body) { body in
            var job = body
            let ran = withUnsafeMutablePointer(to: &job) { job in
                tk_pool_run(Int32(parts), Int32(Runtime.threads), { context, part in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(part))
                }, job)
            }
            if ran == 0 {
                let work = UncheckedSendable(body)
                DispatchQueue.concurrentPerform(iterations: parts) { work.value($0) }
            }
        }
    }

    /// The number of parts for `work` units when each part should get at least `minimum`.
    @inline(__always)
    static func parts(for work: Int, minimum: Int) -> Int {
        Swift.max(1, Swift.min(Runtime.threads, work / Swift.max(minimum, 1)))
    }

    /// Splits `0..<n` into `parts` nearly equal ranges and runs `body` on each, concurrently.
    @inline(__always)
    static func forRanges(_ n: Int, parts: Int, _ body: (Range<Int>) -> Void) {
        let p = Swift.max(1, Swift.min(parts, n))
        if n == 0 { return }
        run(parts: p) { i in body((n * i / p)..<(n * (i + 1) / p)) }
    }

    /// ``forRanges(_:parts:_:)`` with the parts sized for `n` elements of elementwise work.
    @inline(__always)
    static func forElements(_ n: Int, _ body: (Range<Int>) -> Void) {
        forRanges(n, parts: parts(for: n, minimum: minimumElements), body)
    }
}

/// The instruction set of Tessera's C kernels (GEMM stays in OpenBLAS, which picks its own).
public enum KernelISA: String, CaseIterable, Sendable, CustomStringConvertible {
    /// The build's own instruction set: SSE2 on x86-64 (4 floats per vector), NEON on arm64.
    case baseline
    /// AVX2 with FMA (8 floats per vector).
    case avx2
    /// AVX-512 F/BW/DQ/VL with FMA (16 floats per vector).
    case avx512

    var c: tk_isa {
        switch self {
        case .baseline: return TK_ISA_BASELINE
        case .avx2: return TK_ISA_AVX2
        case .avx512: return TK_ISA_AVX512
        }
    }

    init(_ isa: tk_isa) {
        switch isa {
        case TK_ISA_AVX2: self = .avx2
        case TK_ISA_AVX512: self = .avx512
        default: self = .baseline
        }
    }

    /// Whether this CPU runs the variant.
    public var isSupported: Bool { tk_isa_supported(c) != 0 }
    /// Floats per vector register.
    public var lanes: Int { Int(tk_isa_lanes(c)) }
    public var description: String { rawValue }
}

extension Runtime {
    /// The instruction set the C kernels run with: chosen at the first kernel call from
    /// `TESSERA_ISA` (`auto`, `baseline`, `avx2`, `avx512`) when it names one this CPU runs,
    /// else the best one. Setting it forces a variant (tests compare the variants this way);
    /// set it before kernels run on other threads.
    /// - Precondition: the CPU supports the variant set.
    public static var isa: KernelISA {
        get { KernelISA(tk_isa_active()) }
        set {
            precondition(newValue.isSupported, "Runtime.isa: this CPU does not support \(newValue)")
            _ = tk_isa_select(newValue.c)
        }
    }

    /// The best instruction set this CPU runs.
    public static var bestISA: KernelISA { KernelISA(tk_isa_best()) }

    /// Every instruction set this CPU runs, baseline first.
    public static var supportedISAs: [KernelISA] { KernelISA.allCases.filter(\.isSupported) }
}
