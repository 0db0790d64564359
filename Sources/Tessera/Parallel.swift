import Dispatch

/// Fork–join parallelism for Tessera's own kernels.
///
/// Work is split into at most ``BLAS/threads`` parts that run on Dispatch's pool; a GEMM issued
/// inside a part runs single-threaded (see ``BLAS/gemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``),
/// so OpenBLAS's threads never compete with ours for the cores.
enum Parallel {
    /// Elements below which an elementwise kernel stays on the calling thread.
    static let minimumElements = 1 << 15

    /// Runs `body(part)` for `part` in `0..<parts`, concurrently when `parts > 1`.
    @inline(__always)
    static func run(parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 { if parts == 1 { body(0) }; return }
        DispatchQueue.concurrentPerform(iterations: parts, execute: body)
    }

    /// The number of parts for `work` units when each part should get at least `minimum`.
    @inline(__always)
    static func parts(for work: Int, minimum: Int) -> Int {
        Swift.max(1, Swift.min(BLAS.threads, work / Swift.max(minimum, 1)))
    }

    /// Splits `0..<n` into `parts` nearly equal ranges and runs `body` on each, concurrently.
    @inline(__always)
    static func forRanges(_ n: Int, parts: Int, _ body: (Range<Int>) -> Void) {
        let p = Swift.max(1, Swift.min(parts, n))
        if n == 0 { return }
        run(parts: p) { i in body((n * i / p)..<(n * (i + 1) / p)) }
    }
}
