import COpenBLAS
import CTesseraKernels
import Foundation

/// The one entry point to matrix multiplication: every GEMM in Tessera goes through `gemm`.
///
/// Threads: ``Runtime/threads`` — a large standalone product uses OpenBLAS's own threads, every
/// GEMM issued inside one of Tessera's parallel loops runs single-threaded.
public enum BLAS {
    /// The thread count last handed to OpenBLAS (-1: not yet set).
    private static let openBLASThreads = Locked(-1)

    /// Makes OpenBLAS use `n` threads for the next GEMMs. Call only outside parallel regions.
    /// With more than one, the idle workers of Tessera's pool stop spinning, so that none takes
    /// a core from OpenBLAS's threads.
    static func useOpenBLASThreads(_ n: Int) {
        if n > 1 { tk_pool_park_idle() }
        openBLASThreads.withLock { current in
            if current != n {
                openblas_set_num_threads(Int32(n))
                current = n
            }
        }
    }

    /// The kernel OpenBLAS chose for this CPU (e.g. "Haswell", "Cooperlake").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build configuration string (version, threading, core).
    public static var config: String { String(cString: openblas_get_config()) }

    /// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, row-major, where op transposes when
    /// the flag is set. `lda`, `ldb`, `ldc` are the row strides of A, B and C as stored.
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // C = beta · C (BLAS may skip the scaling when k == 0).
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Above this many multiply–adds a GEMM is handed to OpenBLAS's own threads; below it the rows
    /// of C are split across Tessera's threads, each running a single-threaded GEMM. OpenBLAS's
    /// idle workers spin after every threaded call, which on a small GEMM (an MLP layer) costs more
    /// than the threading gains: `perf` showed ~20% of an MLP step in `sched_yield`.
    static let openBLASThreadingThreshold = 1 << 28

    /// ``gemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)`` using all of Tessera's threads:
    /// OpenBLAS's threads for a large product, a split over the rows (or columns) of C otherwise.
    /// Call outside parallel regions.
    static func gemmThreaded(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let work = m * n * k
        let threads = Runtime.threads
        let parts = Swift.min(threads, Swift.max(1, work / (1 << 21)))
        if work >= openBLASThreadingThreshold || parts <= 1 || (m < 2 * parts && n < 2 * parts) {
            useOpenBLASThreads(work >= openBLASThreadingThreshold ? threads : 1)
            gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        useOpenBLASThreads(1)
        if m >= n || m >= 2 * parts {
            // Rows of C ↔ rows of op(A).
            Parallel.forRanges(m, parts: parts) { r in
                let aStart = transA ? a + r.lowerBound : a + r.lowerBound * lda
                gemm(transA: transA, transB: transB, m: r.count, n: n, k: k, alpha: alpha, a: aStart, lda: lda,
                     b: b, ldb: ldb, beta: beta, c: c + r.lowerBound * ldc, ldc: ldc)
            }
        } else {
            // Columns of C ↔ columns of op(B).
            Parallel.forRanges(n, parts: parts) { r in
                let bStart = transB ? b + r.lowerBound * ldb : b + r.lowerBound
                gemm(transA: transA, transB: transB, m: m, n: r.count, k: k, alpha: alpha, a: a, lda: lda,
                     b: bStart, ldb: ldb, beta: beta, c: c + r.lowerBound, ldc: ldc)
            }
        }
    }
}
