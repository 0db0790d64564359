// Dense linear algebra on 2-D Float32 tensors through LAPACK (the calls are in Runtime/LAPACK.swift).
//
// Every routine checks shapes, copies its inputs first (LAPACK overwrites its arguments), checks
// LAPACK's `info` and turns a failure into a `LinalgError` that says what went wrong. None of
// these operations is differentiable: results carry no gradient history, whatever the inputs.

/// Why a ``Linalg`` routine could not produce a result. Built from LAPACK's `info` code.
public enum LinalgError: Error, Equatable, CustomStringConvertible {
    /// An LU factorization met an exactly zero pivot: `U(info, info) == 0` (1-based).
    case singular(op: String, info: Int)
    /// The matrix is so close to singular that a Float32 result would have no correct digits:
    /// LAPACK's estimate of the reciprocal condition number (1-norm) is below `threshold`.
    case nearlySingular(op: String, rcond: Float, threshold: Float)
    /// Cholesky factorization failed: the leading minor of order `info` is not positive.
    case notPositiveDefinite(op: String, info: Int)
    /// An iterative algorithm (SVD, symmetric eigensolver) did not converge; `info` is LAPACK's code.
    case didNotConverge(op: String, info: Int)
    /// LAPACK(E) rejected argument number `-info`. LAPACKE reports this when an input contains
    /// NaN; codes -1010 and -1011 mean it could not allocate workspace.
    case invalidArgument(op: String, info: Int)

    /// A one-line message naming the operation, what went wrong and LAPACK's `info` code.
    public var description: String {
        switch self {
        case let .singular(op, info):
            return "\(op): matrix is singular: U(\(info),\(info)) is exactly zero (LAPACK info \(info))"
        case let .nearlySingular(op, rcond, threshold):
            return "\(op): matrix is singular to working precision: estimated reciprocal condition number \(rcond) is below \(threshold) (Float32 epsilon), so the result would have no correct digits"
        case let .notPositiveDefinite(op, info):
            return "\(op): matrix is not positive definite: the leading minor of order \(info) is not positive (LAPACK info \(info))"
        case let .didNotConverge(op, info):
            return "\(op): the iterative algorithm did not converge: \(info) intermediate value(s) failed to converge (LAPACK info \(info))"
        case let .invalidArgument(op, info):
            if LAPACK.isWorkspaceError(info) {
                return "\(op): LAPACKE could not allocate its workspace (LAPACK info \(info))"
            }
            return "\(op): LAPACK rejected argument \(-info) (LAPACK info \(info)); LAPACKE does this when an input contains NaN"
        }
    }
}

/// Linear algebra on 2-D tensors, computed by LAPACK in Float32.
///
/// These functions are **not differentiable**: their results have no gradient history, even
/// when an input has `requiresGrad` set. Use them for analysis, initialisation (e.g. orthogonal
/// init from ``qr(_:)``) or evaluation, not inside a loss that is back-propagated.
///
/// Shapes that do not fit (a non-square matrix where a square one is needed, a right-hand side
/// with the wrong number of rows) stop with a precondition failure naming the operation and the
/// shapes. Numerical failures (a singular matrix, a non-positive-definite matrix, no
/// convergence) throw a ``LinalgError``. Zero-size matrices give empty results.
public enum Linalg {

    // MARK: - Linear systems

    /// Solves `A · x = b` for `x` by LU factorization with partial pivoting (`sgetrf` + `sgetrs`).
    ///
    /// - Parameters:
    ///   - a: a square matrix `[n, n]`.
    ///   - b: the right-hand side, a vector `[n]` or a matrix `[n, k]` (one system per column).
    /// - Returns: `x`, with the shape of `b`.
    /// - Throws: ``LinalgError/singular(op:info:)`` when a pivot is exactly zero;
    ///   ``LinalgError/nearlySingular(op:rcond:threshold:)`` when the estimated reciprocal
    ///   condition number is below Float32 epsilon (the answer would be noise).
    public static func solve(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let op = "solve"
        let n = squareSize(a, op)
        precondition(b.rank == 1 || b.rank == 2,
                     "\(op): b must be a vector or a matrix, got shape \(b.shape) (A has shape \(a.shape))")
        precondition(b.shape[0] == n,
                     "\(op): A of shape \(a.shape) and b of shape \(b.shape) do not fit (b needs \(n) rows)")
        let nrhs = b.rank == 1 ? 1 : b.shape[1]
        let x = b.clone()
        if n == 0 || nrhs == 0 { return x }
        let lu = a.clone()
        var ipiv = [Int32](repeating: 0, count: n)
        try factorLU(lu, n: n, ipiv: &ipiv, op: op)
        try check(LAPACK.getrs(lu, n: n, ipiv: ipiv, x, nrhs: nrhs, op: op), op)
        return x
    }

    /// The inverse of a square matrix (`sgetrf` + `sgetri`).
    ///
    /// Prefer ``solve(_:_:)`` to multiplying by an inverse: it is faster and more accurate.
    /// - Parameter a: a square matrix `[n, n]`.
    /// - Returns: `A⁻¹`, `[n, n]`.
    /// - Throws: ``LinalgError/singular(op:info:)`` or ``LinalgError/nearlySingular(op:rcond:threshold:)``.
    public static func inverse(_ a: Tensor) throws -> Tensor {
        let op = "inverse"
        let n = squareSize(a, op)
        let out = a.clone()
        if n == 0 { return out }
        var ipiv = [Int32](repeating: 0, count: n)
        try factorLU(out, n: n, ipiv: &ipiv, op: op)
        try check(LAPACK.getri(out, n: n, ipiv: ipiv, op: op), op)
        return out
    }

    /// The determinant of a square matrix, from its LU factorization (`sgetrf`): the product of
    /// `U`'s diagonal, negated once per row interchange.
    ///
    /// Does not throw: a singular matrix has determinant 0, and an input containing NaN gives NaN.
    /// The product is accumulated in `Double`, so it overflows to ±infinity only when the
    /// determinant itself is out of Float32 range.
    /// - Parameter a: a square matrix `[n, n]` (`n == 0` gives 1, the empty product).
    /// - Returns: a 0-dimensional tensor.
    public static func det(_ a: Tensor) -> Tensor {
        let op = "det"
        let n = squareSize(a, op)
        if n == 0 { return Tensor(scalar: 1) }
        let lu = a.clone()
        var ipiv = [Int32](repeating: 0, count: n)
        let info = LAPACK.getrf(lu, n: n, ipiv: &ipiv, op: op)
        if info > 0 { return Tensor(scalar: 0) }
        if info < 0 { return Tensor(scalar: .nan) }  // LAPACKE's NaN check rejected the input
        return Tensor(scalar: Float(LAPACK.luDeterminant(lu, n: n, ipiv: ipiv)))
    }

    /// The Cholesky factor `L` of a symmetric positive-definite matrix: `A = L · Lᵀ`, with `L`
    /// lower triangular (`spotrf`). Only the lower triangle of `a` is read; it is not checked
    /// for symmetry.
    /// - Parameter a: a square matrix `[n, n]`.
    /// - Returns: `L`, `[n, n]`, zero above the diagonal.
    /// - Throws: ``LinalgError/notPositiveDefinite(op:info:)``.
    public static func cholesky(_ a: Tensor) throws -> Tensor {
        let op = "cholesky"
        let n = squareSize(a, op)
        let l = a.clone()
        if n == 0 { return l }
        let info = LAPACK.potrfLower(l, n: n, op: op)
        if info > 0 { throw LinalgError.notPositiveDefinite(op: op, info: Int(info)) }
        try check(info, op)
        return l
    }

    // MARK: - Factorizations

    /// The reduced QR factorization `A = Q · R` (`sgeqrf` + `sorgqr`).
    ///
    /// - Parameter a: a matrix `[m, n]`; let `k = min(m, n)`.
    /// - Returns: `Q`, `[m, k]` with orthonormal columns, and `R`, `[k, n]`, upper triangular.
    ///   As with LAPACK, the diagonal of `R` may be negative.
    public static func qr(_ a: Tensor) throws -> (Q: Tensor, R: Tensor) {
        let op = "qr"
        let (m, n) = matrixSize(a, op)
        let k = min(m, n)
        if k == 0 { return (Tensor.zeros([m, 0]), Tensor.zeros([0, n])) }
        let work = a.clone()
        var tau = [Float](repeating: 0, count: k)
        try check(LAPACK.geqrf(work, m: m, n: n, tau: &tau, op: op), op)
        let r = LAPACK.upperRows(of: work, k: k, n: n)
        // Q: generated in place in the first k columns.
        try check(LAPACK.orgqr(work, m: m, n: n, k: k, tau: tau, op: op), op)
        return (LAPACK.leadingColumns(of: work, m: m, n: n, k: k), r)
    }

    /// The singular value decomposition `A = U · diag(S) · Vt` by divide and conquer (`sgesdd`).
    ///
    /// - Parameters:
    ///   - a: a matrix `[m, n]`; let `k = min(m, n)`.
    ///   - fullMatrices: `false` (default) gives `U` `[m, k]` and `Vt` `[k, n]`; `true` gives
    ///     square `U` `[m, m]` and `Vt` `[n, n]`.
    /// - Returns: `U`, the singular values `S` `[k]` in descending order, and `Vt` (`Vᵀ`).
    /// - Throws: ``LinalgError/didNotConverge(op:info:)``.
    public static func svd(_ a: Tensor, fullMatrices: Bool = false) throws -> (U: Tensor, S: Tensor, Vt: Tensor) {
        let op = "svd"
        let (m, n) = matrixSize(a, op)
        let k = min(m, n)
        let uCols = fullMatrices ? m : k
        let vtRows = fullMatrices ? n : k
        if k == 0 {
            let u = fullMatrices ? Tensor.eye(m) : Tensor.zeros([m, 0])
            let vt = fullMatrices ? Tensor.eye(n) : Tensor.zeros([0, n])
            return (u, Tensor.zeros([0]), vt)
        }
        let work = a.clone()
        let u = Tensor(empty: [m, uCols])
        let s = Tensor(empty: [k])
        let vt = Tensor(empty: [vtRows, n])
        let info = LAPACK.gesdd(work, m: m, n: n, full: fullMatrices, s: s, u: u, vt: vt, op: op)
        if info > 0 { throw LinalgError.didNotConverge(op: op, info: Int(info)) }
        try check(info, op)
        return (u, s, vt)
    }

    /// Eigenvalues and eigenvectors of a real symmetric matrix (`ssyevd`, divide and conquer).
    ///
    /// Only the lower triangle of `a` is read; it is not checked for symmetry.
    /// - Parameter a: a square symmetric matrix `[n, n]`.
    /// - Returns: the eigenvalues `[n]` in ascending order, and the orthonormal eigenvectors as
    ///   the columns of an `[n, n]` matrix `V` (column `j` belongs to eigenvalue `j`), so that
    ///   `A = V · diag(λ) · Vᵀ`.
    /// - Throws: ``LinalgError/didNotConverge(op:info:)``.
    public static func eigh(_ a: Tensor) throws -> (eigenvalues: Tensor, eigenvectors: Tensor) {
        let op = "eigh"
        let n = squareSize(a, op)
        let v = a.clone()
        let w = Tensor(empty: [n])
        if n == 0 { return (w, v) }
        let info = LAPACK.syevd(v, n: n, w: w, op: op)
        if info > 0 { throw LinalgError.didNotConverge(op: op, info: Int(info)) }
        try check(info, op)
        return (w, v)
    }

    /// The least-squares solution of `A · x ≈ b`: the `x` minimizing `‖A·x − b‖₂`, and of those
    /// the one of smallest norm (`sgelsd`, SVD-based). Works for over- (`m > n`) and
    /// under-determined (`m < n`) systems and for rank-deficient `A`.
    ///
    /// - Parameters:
    ///   - a: a matrix `[m, n]`.
    ///   - b: a vector `[m]` or a matrix `[m, nrhs]` (one problem per column).
    ///   - rcond: singular values below `rcond · S[0]` are treated as zero; `nil` uses Float32
    ///     machine precision.
    /// - Returns: `x`, `[n, nrhs]` (or `[n]` when `b` is a vector).
    /// - Throws: ``LinalgError/didNotConverge(op:info:)`` when the SVD fails to converge.
    public static func lstsq(_ a: Tensor, _ b: Tensor, rcond: Float? = nil) throws -> Tensor {
        let op = "lstsq"
        let (m, n) = matrixSize(a, op)
        precondition(b.rank == 1 || b.rank == 2,
                     "\(op): b must be a vector or a matrix, got shape \(b.shape) (A has shape \(a.shape))")
        precondition(b.shape[0] == m,
                     "\(op): A of shape \(a.shape) and b of shape \(b.shape) do not fit (b needs \(m) rows)")
        let nrhs = b.rank == 1 ? 1 : b.shape[1]
        let outShape = b.rank == 1 ? [n] : [n, nrhs]
        // With no equations or no unknowns the minimum-norm solution is zero.
        if m == 0 || n == 0 || nrhs == 0 { return Tensor.zeros(outShape) }
        let work = a.clone()
        // sgelsd reads b from, and writes x to, a buffer of max(m, n) rows.
        let rows = max(m, n)
        let bx = LAPACK.paddedRows(b, rows: rows, nrhs: nrhs)
        let info = LAPACK.gelsd(work, m: m, n: n, nrhs: nrhs, bx: bx, rcond: rcond ?? -1, op: op)
        if info > 0 { throw LinalgError.didNotConverge(op: op, info: Int(info)) }
        try check(info, op)
        if rows == n { return bx.reshaped(outShape) }
        return LAPACK.prefix(of: bx, count: n * nrhs, shape: outShape)
    }

    // MARK: - Helpers

    /// LU-factors `lu` in place and rejects exactly singular and numerically singular matrices.
    private static func factorLU(_ lu: Tensor, n: Int, ipiv: inout [Int32], op: String) throws {
        // The 1-norm of A, needed for the condition estimate.
        let anorm = LAPACK.norm1(lu, n: n, op: op)
        let info = LAPACK.getrf(lu, n: n, ipiv: &ipiv, op: op)
        if info > 0 { throw LinalgError.singular(op: op, info: Int(info)) }
        try check(info, op)
        var rcond: Float = 0
        try check(LAPACK.gecon(lu, n: n, anorm: anorm, rcond: &rcond, op: op), op)
        let threshold = Float.ulpOfOne
        if !(rcond >= threshold) {
            throw LinalgError.nearlySingular(op: op, rcond: rcond, threshold: threshold)
        }
    }

    /// Throws for a negative `info`; positive codes are handled by each caller.
    private static func check(_ info: Int32, _ op: String) throws {
        if info < 0 { throw LinalgError.invalidArgument(op: op, info: Int(info)) }
    }

    private static func matrixSize(_ a: Tensor, _ op: String) -> (Int, Int) {
        precondition(a.rank == 2, "\(op): expected a 2-D matrix, got shape \(a.shape)")
        return (a.shape[0], a.shape[1])
    }

    private static func squareSize(_ a: Tensor, _ op: String) -> Int {
        precondition(a.rank == 2 && a.shape[0] == a.shape[1],
                     "\(op): expected a square matrix, got shape \(a.shape)")
        return a.shape[0]
    }
}
