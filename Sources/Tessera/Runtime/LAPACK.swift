// The one place Tessera calls LAPACKE (row-major entry points), over contiguous Float32 tensors
// that the caller owns and LAPACK may overwrite. Each routine returns LAPACK's `info` as it is;
// `Linalg` (Ops/Linalg.swift) checks shapes before and turns `info` into errors after.
//
// Dimensions are checked to fit LAPACK's 32-bit indices; `op` names the public operation in
// that message.

import CLAPACKE

enum LAPACK {
    // MARK: LU

    /// The 1-norm (largest column sum of magnitudes) of `a` [n, n] (`slange`).
    static func norm1(_ a: Tensor, n: Int, op: String) -> Float {
        LAPACKE_slange(LAPACK_ROW_MAJOR, char("1"), int32(n, op), int32(n, op), a.ptr, int32(n, op))
    }

    /// LU-factors `a` [n, n] in place with partial pivoting (`sgetrf`); `ipiv` [n] gets the
    /// 1-based pivot rows.
    static func getrf(_ a: Tensor, n: Int, ipiv: inout [Int32], op: String) -> Int32 {
        ipiv.withUnsafeMutableBufferPointer { ip in
            LAPACKE_sgetrf(LAPACK_ROW_MAJOR, int32(n, op), int32(n, op), a.ptr, int32(n, op), ip.baseAddress)
        }
    }

    /// Estimates the reciprocal condition number (1-norm) of the LU factors `lu` [n, n] of a
    /// matrix whose 1-norm was `anorm` (`sgecon`).
    static func gecon(_ lu: Tensor, n: Int, anorm: Float, rcond: inout Float, op: String) -> Int32 {
        LAPACKE_sgecon(LAPACK_ROW_MAJOR, char("1"), int32(n, op), lu.ptr, int32(n, op), anorm, &rcond)
    }

    /// Overwrites `x` [n, nrhs] (the right-hand sides) with the solutions of `A · x = b`, from
    /// `A`'s LU factors `lu` [n, n] and pivots (`sgetrs`).
    static func getrs(_ lu: Tensor, n: Int, ipiv: [Int32], _ x: Tensor, nrhs: Int, op: String) -> Int32 {
        ipiv.withUnsafeBufferPointer { p in
            LAPACKE_sgetrs(LAPACK_ROW_MAJOR, char("N"), int32(n, op), int32(nrhs, op), lu.ptr, int32(n, op),
                           p.baseAddress, x.ptr, int32(nrhs, op))
        }
    }

    /// Overwrites the LU factors `lu` [n, n] with the inverse of the matrix (`sgetri`).
    static func getri(_ lu: Tensor, n: Int, ipiv: [Int32], op: String) -> Int32 {
        ipiv.withUnsafeBufferPointer { p in
            LAPACKE_sgetri(LAPACK_ROW_MAJOR, int32(n, op), lu.ptr, int32(n, op), p.baseAddress)
        }
    }

    /// The determinant from LU factors `lu` [n, n] and pivots: the product of the diagonal,
    /// negated once per row interchange, accumulated in Double.
    static func luDeterminant(_ lu: Tensor, n: Int, ipiv: [Int32]) -> Double {
        var product = 1.0
        let p = lu.ptr
        for i in 0..<n {
            product *= Double(p[i * n + i])
            if Int(ipiv[i]) != i + 1 { product = -product }
        }
        return product
    }

    // MARK: Cholesky, QR, SVD, eigenvalues, least squares

    /// Overwrites `a` [n, n] with its Cholesky factor L (`spotrf`, lower triangle read), and
    /// zeroes the upper triangle LAPACK leaves as it was.
    static func potrfLower(_ a: Tensor, n: Int, op: String) -> Int32 {
        let info = LAPACKE_spotrf(LAPACK_ROW_MAJOR, char("L"), int32(n, op), a.ptr, int32(n, op))
        if info == 0 {
            let p = a.ptr
            for i in 0..<n { for j in (i + 1)..<n { p[i * n + j] = 0 } }
        }
        return info
    }

    /// Householder QR of `a` [m, n] in place (`sgeqrf`); `tau` [min(m, n)] gets the reflectors' scales.
    static func geqrf(_ a: Tensor, m: Int, n: Int, tau: inout [Float], op: String) -> Int32 {
        tau.withUnsafeMutableBufferPointer { t in
            LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, int32(m, op), int32(n, op), a.ptr, int32(n, op), t.baseAddress)
        }
    }

    /// R [k, n]: the upper triangle of the first k rows of `geqrf`'s result `a` [m, n].
    static func upperRows(of a: Tensor, k: Int, n: Int) -> Tensor {
        Tensor(shape: [k, n]) { dst in
            let src = a.ptr
            for i in 0..<k { for j in 0..<n { dst[i * n + j] = j >= i ? src[i * n + j] : 0 } }
        }
    }

    /// Generates Q's first k columns in place in `geqrf`'s result `a` [m, n] (`sorgqr`; the
    /// leading dimension stays n).
    static func orgqr(_ a: Tensor, m: Int, n: Int, k: Int, tau: [Float], op: String) -> Int32 {
        tau.withUnsafeBufferPointer { t in
            LAPACKE_sorgqr(LAPACK_ROW_MAJOR, int32(m, op), int32(k, op), int32(k, op), a.ptr, int32(n, op), t.baseAddress)
        }
    }

    /// The first k columns of `a` [m, n] as a new [m, k] matrix.
    static func leadingColumns(of a: Tensor, m: Int, n: Int, k: Int) -> Tensor {
        Tensor(shape: [m, k]) { dst in
            let src = a.ptr
            for i in 0..<m { for j in 0..<k { dst[i * k + j] = src[i * n + j] } }
        }
    }

    /// Singular values `s` [min(m, n)], `u` [m, m or k] and `vt` [n or k, n] of `a` [m, n], which
    /// is destroyed (`sgesdd`; `full` gives the square U and Vᵀ).
    static func gesdd(_ a: Tensor, m: Int, n: Int, full: Bool, s: Tensor, u: Tensor, vt: Tensor, op: String) -> Int32 {
        let uCols = full ? m : min(m, n)
        return LAPACKE_sgesdd(LAPACK_ROW_MAJOR, char(full ? "A" : "S"), int32(m, op), int32(n, op),
                              a.ptr, int32(n, op), s.ptr, u.ptr, int32(uCols, op), vt.ptr, int32(n, op))
    }

    /// Eigenvalues `w` [n] (ascending) of the symmetric `a` [n, n] (lower triangle read), whose
    /// columns are overwritten with the eigenvectors (`ssyevd`).
    static func syevd(_ a: Tensor, n: Int, w: Tensor, op: String) -> Int32 {
        LAPACKE_ssyevd(LAPACK_ROW_MAJOR, char("V"), char("L"), int32(n, op), a.ptr, int32(n, op), w.ptr)
    }

    /// The minimum-norm least-squares solution of `a` [m, n] · x ≈ b by SVD (`sgelsd`). `bx`
    /// [max(m, n), nrhs] holds b in its first m rows and gets x in its first n; `a` is destroyed.
    static func gelsd(_ a: Tensor, m: Int, n: Int, nrhs: Int, bx: Tensor, rcond: Float, op: String) -> Int32 {
        var s = [Float](repeating: 0, count: min(m, n))
        var rank: Int32 = 0
        return s.withUnsafeMutableBufferPointer { sp in
            LAPACKE_sgelsd(LAPACK_ROW_MAJOR, int32(m, op), int32(n, op), int32(nrhs, op), a.ptr, int32(n, op),
                           bx.ptr, int32(nrhs, op), sp.baseAddress, rcond, &rank)
        }
    }

    /// Copies `b` [m] or [m, nrhs] into the first m rows of a new zero [rows, nrhs] matrix.
    static func paddedRows(_ b: Tensor, rows: Int, nrhs: Int) -> Tensor {
        let out = Tensor.zeros([rows, nrhs])
        copyElements(from: b, into: out.ptr)
        return out
    }

    /// The first `count` elements of `a` as a new tensor of `shape`.
    static func prefix(of a: Tensor, count: Int, shape: [Int]) -> Tensor {
        Tensor(shape: shape) { dst in dst.baseAddress!.update(from: a.ptr, count: count) }
    }

    // MARK: Codes

    /// Whether `info` says LAPACKE could not allocate its workspace (-1010, -1011).
    static func isWorkspaceError(_ info: Int) -> Bool {
        info == Int(LAPACK_WORK_MEMORY_ERROR) || info == Int(LAPACK_TRANSPOSE_MEMORY_ERROR)
    }

    private static func int32(_ x: Int, _ op: String) -> Int32 {
        precondition(x <= Int(Int32.max), "\(op): dimension \(x) exceeds LAPACK's 32-bit index range")
        return Int32(x)
    }

    private static func char(_ c: Unicode.Scalar) -> CChar { CChar(UInt8(ascii: c)) }
}
