import XCTest
import TesseraTestSupport
@testable import Tessera

/// Linear algebra is checked by reconstruction: each factorization, multiplied back together,
/// must give the input again. Matrices are random from fixed seeds. Unless a test says
/// otherwise, "≈" means a relative Frobenius-norm error below `tolerance` (1e-5; Float32
/// epsilon is 1.2e-7 and the matrices are at most 8×8 and well conditioned).
final class LinalgTests: XCTestCase {
    private let tolerance = 1e-5

    // MARK: - Helpers

    /// ‖a − b‖_F / ‖b‖_F, computed in Double (absolute error when b is zero).
    private func relativeError(_ a: Tensor, _ b: Tensor, file: StaticString = #filePath, line: UInt = #line) -> Double {
        XCTAssertEqual(a.shape, b.shape, "shapes differ", file: file, line: line)
        let x = a.scalars, y = b.scalars
        guard x.count == y.count else { return .infinity }
        var diff = 0.0, norm = 0.0
        for i in x.indices {
            let d = Double(x[i]) - Double(y[i])
            diff += d * d
            norm += Double(y[i]) * Double(y[i])
        }
        return norm == 0 ? diff.squareRoot() : (diff / norm).squareRoot()
    }

    private func assertClose(_ a: Tensor, _ b: Tensor, tolerance tol: Double? = nil, _ what: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        let err = relativeError(a, b, file: file, line: line)
        XCTAssertLessThan(err, tol ?? tolerance, "\(what): relative error \(err)", file: file, line: line)
    }

    /// A random square matrix shifted by `shift·I`, so it is comfortably invertible.
    private func wellConditioned(_ n: Int, seed: UInt64, shift: Float = 4) -> Tensor {
        var gen = SeededGenerator(seed: seed)
        return Tensor.randn([n, n], generator: &gen) + Tensor.eye(n) * shift
    }

    private func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var gen = SeededGenerator(seed: seed)
        return Tensor.randn(shape, generator: &gen)
    }

    /// Asserts that `body` throws exactly `expected`, and that its message mentions `phrase`.
    private func assertThrows<T>(_ expected: LinalgError, mentioning phrase: String, _ body: () throws -> T,
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(error as? LinalgError, expected, file: file, line: line)
            XCTAssertTrue("\(error)".contains(phrase), "message was: \(error)", file: file, line: line)
        }
    }

    // MARK: - solve

    func testSolveSatisfiesAxEqualsBForVectorAndMatrixRightHandSides() throws {
        let a = wellConditioned(6, seed: 1)
        let b = random([6], seed: 2)
        let x = try Linalg.solve(a, b)
        XCTAssertEqual(x.shape, [6])
        assertClose(a.matmul(x.reshaped([6, 1])).reshaped([6]), b, "A·x vs b (vector)")

        let bm = random([6, 3], seed: 3)
        let xm = try Linalg.solve(a, bm)
        XCTAssertEqual(xm.shape, [6, 3])
        assertClose(a.matmul(xm), bm, "A·X vs B (matrix)")
    }

    func testSolveLeavesInputsUnchangedAndAcceptsTransposedViews() throws {
        let a = wellConditioned(5, seed: 4)
        let b = random([5, 2], seed: 5)
        let aBefore = a.scalars, bBefore = b.scalars
        let view = a.T  // non-contiguous
        XCTAssertFalse(view.isContiguous)
        let x = try Linalg.solve(view, b)
        XCTAssertEqual(a.scalars, aBefore, "solve overwrote A")
        XCTAssertEqual(b.scalars, bBefore, "solve overwrote b")
        assertClose(view.contiguous().matmul(x), b, "Aᵀ·x vs b")
    }

    func testSolveThrowsSingularNamingTheZeroPivot() {
        // Row 2 is twice row 1: elimination leaves an exactly zero second pivot.
        let a = Tensor([1, 2, 2, 4], shape: [2, 2])
        let b = Tensor([1, 1])
        assertThrows(.singular(op: "solve", info: 2), mentioning: "singular", { try Linalg.solve(a, b) })
        XCTAssertEqual(LinalgError.singular(op: "solve", info: 2).description,
                       "solve: matrix is singular: U(2,2) is exactly zero (LAPACK info 2)")
    }

    func testSolveRejectsMatrixThatIsSingularOnlyUpToRounding() {
        // Mathematically singular, but rounding may leave a tiny non-zero pivot; either way the
        // answer would be noise, so solve must throw rather than return it.
        let a = Tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], shape: [3, 3])
        XCTAssertThrowsError(try Linalg.solve(a, Tensor([1, 2, 3]))) { error in
            guard let e = error as? LinalgError else { return XCTFail("unexpected error \(error)") }
            switch e {
            case .singular, .nearlySingular: XCTAssertTrue("\(e)".hasPrefix("solve: matrix is singular"), "\(e)")
            default: XCTFail("unexpected error \(e)")
            }
        }
    }

    func testSolveThrowsNearlySingularWhenConditionExceedsFloatPrecision() {
        // Pivots 1 and 1.2e-7 (one ulp): non-zero, but the condition number is about 3e7.
        let a = Tensor([1, 1, 1, 1 + Float.ulpOfOne], shape: [2, 2])
        XCTAssertThrowsError(try Linalg.solve(a, Tensor([1, 2]))) { error in
            guard case let .nearlySingular(op, rcond, threshold)? = error as? LinalgError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(op, "solve")
            XCTAssertLessThan(rcond, threshold)
            XCTAssertTrue("\(error)".contains("singular to working precision"), "\(error)")
        }
    }

    func testSolveAcceptsModeratelyIllConditionedHilbertMatrix() throws {
        // The 3×3 Hilbert matrix has condition number ≈ 524: well within Float32's reach.
        let h = Tensor(shape: [3, 3]) { buf in
            for i in 0..<3 { for j in 0..<3 { buf[i * 3 + j] = 1 / Float(i + j + 1) } }
        }
        let x = try Linalg.solve(h, h.matmul(Tensor([1, 1, 1], shape: [3, 1])))
        assertClose(x, Tensor.ones([3, 1]), tolerance: 1e-4, "x for H·x = H·1")
    }

    // MARK: - inverse and det

    func testInverseTimesMatrixIsIdentityOnBothSides() throws {
        let a = wellConditioned(7, seed: 6)
        let inv = try Linalg.inverse(a)
        XCTAssertEqual(inv.shape, [7, 7])
        assertClose(a.matmul(inv), Tensor.eye(7), "A·inv(A) vs I")
        assertClose(inv.matmul(a), Tensor.eye(7), "inv(A)·A vs I")
    }

    func testInverseThrowsSingularForMatrixWithZeroColumn() {
        let a = Tensor([1, 0, 2,
                        3, 0, 4,
                        5, 0, 6], shape: [3, 3])
        assertThrows(.singular(op: "inverse", info: 2), mentioning: "U(2,2) is exactly zero",
                     { try Linalg.inverse(a) })
    }

    func testDetMatchesKnownValuesIncludingPivotSign() {
        // Hand-computed: 6(−14−40) − 1(28−10) + 1(32+4) = −306.
        let a = Tensor([6, 1, 1,
                        4, -2, 5,
                        2, 8, 7], shape: [3, 3])
        XCTAssertEqual(Linalg.det(a).item(), -306, accuracy: 306 * 1e-5)
        XCTAssertEqual(Linalg.det(a).shape, [])
        // A row swap: the permutation matrix has det −1; LU needs one interchange.
        XCTAssertEqual(Linalg.det(Tensor([0, 1, 1, 0], shape: [2, 2])).item(), -1)
        XCTAssertEqual(Linalg.det(Tensor.eye(4) * 2).item(), 16)
    }

    func testDetOfSingularMatrixIsZeroWithoutThrowing() {
        XCTAssertEqual(Linalg.det(Tensor([1, 2, 2, 4], shape: [2, 2])).item(), 0)
    }

    func testDetIsMultiplicative() {
        let a = wellConditioned(4, seed: 7, shift: 1), b = wellConditioned(4, seed: 8, shift: 1)
        let lhs = Double(Linalg.det(a.matmul(b)).item())
        let rhs = Double(Linalg.det(a).item()) * Double(Linalg.det(b).item())
        XCTAssertEqual(lhs, rhs, accuracy: abs(rhs) * 1e-4, "det(AB) vs det(A)·det(B)")
    }

    // MARK: - cholesky

    func testCholeskyIsLowerTriangularAndReconstructs() throws {
        let m = random([5, 5], seed: 9)
        let a = m.matmul(m.T) + Tensor.eye(5)  // symmetric positive definite
        let l = try Linalg.cholesky(a)
        for i in 0..<5 {
            XCTAssertGreaterThan(l[i, i], 0, "diagonal \(i)")
            for j in (i + 1)..<5 { XCTAssertEqual(l[i, j], 0, "upper entry (\(i),\(j)) not zeroed") }
        }
        assertClose(l.matmul(l.T), a, "L·Lᵀ vs A")
    }

    func testCholeskyThrowsForIndefiniteMatrix() {
        // Eigenvalues 3 and −1: the second leading minor (1 − 4) is negative.
        let a = Tensor([1, 2, 2, 1], shape: [2, 2])
        assertThrows(.notPositiveDefinite(op: "cholesky", info: 2), mentioning: "not positive definite",
                     { try Linalg.cholesky(a) })
    }

    // MARK: - qr

    func testQRReconstructsWithOrthonormalQAndUpperTriangularR() throws {
        for (shape, seed) in [([7, 4], UInt64(10)), ([3, 5], 11), ([4, 4], 12)] {
            let a = random(shape, seed: seed)
            let (q, r) = try Linalg.qr(a)
            let k = min(shape[0], shape[1])
            XCTAssertEqual(q.shape, [shape[0], k], "Q shape for \(shape)")
            XCTAssertEqual(r.shape, [k, shape[1]], "R shape for \(shape)")
            for i in 0..<k { for j in 0..<i { XCTAssertEqual(r[i, j], 0, "R(\(i),\(j)) for \(shape)") } }
            assertClose(q.T.matmul(q), Tensor.eye(k), "QᵀQ vs I for \(shape)")
            assertClose(q.matmul(r), a, "Q·R vs A for \(shape)")
        }
    }

    // MARK: - svd

    func testSVDReconstructsWithOrthonormalFactorsAndDescendingValues() throws {
        for (shape, seed) in [([6, 4], UInt64(13)), ([3, 5], 14)] {
            let a = random(shape, seed: seed)
            let (m, n) = (shape[0], shape[1]), k = min(m, n)
            let (u, s, vt) = try Linalg.svd(a)
            XCTAssertEqual(u.shape, [m, k]); XCTAssertEqual(s.shape, [k]); XCTAssertEqual(vt.shape, [k, n])
            let sv = s.scalars
            for i in 1..<k { XCTAssertGreaterThanOrEqual(sv[i - 1], sv[i], "S not descending for \(shape)") }
            XCTAssertGreaterThanOrEqual(sv[k - 1], 0)
            assertClose((u * s).matmul(vt), a, "U·diag(S)·Vᵀ vs A for \(shape)")  // u * s scales columns
            assertClose(u.T.matmul(u), Tensor.eye(k), "UᵀU vs I for \(shape)")
            assertClose(vt.matmul(vt.T), Tensor.eye(k), "Vᵀ·V vs I for \(shape)")

            let (uf, sf, vtf) = try Linalg.svd(a, fullMatrices: true)
            XCTAssertEqual(uf.shape, [m, m]); XCTAssertEqual(vtf.shape, [n, n])
            assertClose(sf, s, "singular values, full vs reduced")
            assertClose(uf.T.matmul(uf), Tensor.eye(m), "full UᵀU vs I for \(shape)")
            assertClose(vtf.matmul(vtf.T), Tensor.eye(n), "full Vᵀ·V vs I for \(shape)")
            let sigma = Tensor.eye(m, n) * Tensor.concat([s, Tensor.zeros([n - k])]).reshaped([1, n])
            assertClose(uf.matmul(sigma).matmul(vtf), a, "full U·Σ·Vᵀ vs A for \(shape)")
        }
    }

    // MARK: - eigh

    func testEighReconstructsWithAscendingEigenvaluesAndOrthonormalVectors() throws {
        let m = random([6, 6], seed: 15)
        let a = m + m.T
        let (w, v) = try Linalg.eigh(a)
        XCTAssertEqual(w.shape, [6]); XCTAssertEqual(v.shape, [6, 6])
        let wv = w.scalars
        for i in 1..<6 { XCTAssertLessThanOrEqual(wv[i - 1], wv[i], "eigenvalues not ascending") }
        assertClose((v * w).matmul(v.T), a, "V·diag(λ)·Vᵀ vs A")
        assertClose(v.T.matmul(v), Tensor.eye(6), "VᵀV vs I")
        assertClose(a.matmul(v), v * w, "A·V vs V·diag(λ) (eigenvectors are columns)")
    }

    func testEighOfKnownMatrix() throws {
        let (w, _) = try Linalg.eigh(Tensor([2, 1, 1, 2], shape: [2, 2]))
        assertClose(w, Tensor([1, 3]), "eigenvalues of [[2,1],[1,2]]")
    }

    // MARK: - lstsq

    func testLstsqOnOverdeterminedSystemMatchesNormalEquations() throws {
        let a = random([9, 3], seed: 16)
        let b = random([9, 2], seed: 17)
        let x = try Linalg.lstsq(a, b)
        XCTAssertEqual(x.shape, [3, 2])
        let normal = try Linalg.solve(a.T.matmul(a), a.T.matmul(b))
        assertClose(x, normal, tolerance: 1e-4, "lstsq vs (AᵀA)⁻¹Aᵀb")
        // The residual is orthogonal to the column space of A.
        let residual = a.matmul(x) - b
        XCTAssertLessThan(relativeError(a.T.matmul(residual), Tensor.zeros([3, 2])), 1e-4, "Aᵀ(Ax − b) ≠ 0")
    }

    func testLstsqOnUnderdeterminedSystemGivesMinimumNormSolution() throws {
        let a = random([2, 5], seed: 18)
        let b = random([2], seed: 19)
        let x = try Linalg.lstsq(a, b)
        XCTAssertEqual(x.shape, [5], "a vector right-hand side gives a vector")
        assertClose(a.matmul(x.reshaped([5, 1])).reshaped([2]), b, "A·x vs b")
        // Minimum-norm solution: x = Aᵀ (A Aᵀ)⁻¹ b.
        let minNorm = a.T.matmul(try Linalg.solve(a.matmul(a.T), b).reshaped([2, 1])).reshaped([5])
        assertClose(x, minNorm, tolerance: 1e-4, "lstsq vs Aᵀ(AAᵀ)⁻¹b")
    }

    // MARK: - Edge cases

    func testZeroSizeMatricesGiveEmptyResults() throws {
        let empty = Tensor.zeros([0, 0])
        XCTAssertEqual(try Linalg.solve(empty, Tensor.zeros([0])).shape, [0])
        XCTAssertEqual(try Linalg.solve(Tensor.eye(3), Tensor.zeros([3, 0])).shape, [3, 0])
        XCTAssertEqual(try Linalg.inverse(empty).shape, [0, 0])
        XCTAssertEqual(Linalg.det(empty).item(), 1, "det of a 0×0 matrix is the empty product")
        XCTAssertEqual(try Linalg.cholesky(empty).shape, [0, 0])
        let (q, r) = try Linalg.qr(Tensor.zeros([3, 0]))
        XCTAssertEqual(q.shape, [3, 0]); XCTAssertEqual(r.shape, [0, 0])
        let (u, s, vt) = try Linalg.svd(Tensor.zeros([0, 4]))
        XCTAssertEqual(u.shape, [0, 0]); XCTAssertEqual(s.shape, [0]); XCTAssertEqual(vt.shape, [0, 4])
        let (w, v) = try Linalg.eigh(empty)
        XCTAssertEqual(w.shape, [0]); XCTAssertEqual(v.shape, [0, 0])
        let x = try Linalg.lstsq(Tensor.zeros([0, 3]), Tensor.zeros([0, 2]))
        XCTAssertEqual(x.shape, [3, 2]); XCTAssertEqual(x.scalars, [Float](repeating: 0, count: 6))
    }

    func testResultsCarryNoGradientHistory() throws {
        var a = wellConditioned(3, seed: 20)
        a.requiresGrad = true
        XCTAssertFalse(try Linalg.inverse(a).requiresGrad)
        XCTAssertFalse(try Linalg.solve(a, Tensor([1, 2, 3])).requiresGrad)
        XCTAssertFalse(Linalg.det(a).requiresGrad)
        XCTAssertFalse(try Linalg.qr(a).Q.requiresGrad)
    }

    func testInputContainingNaNThrowsInvalidArgumentAndDetIsNaN() {
        let a = Tensor([1, .nan, 0, 1], shape: [2, 2])
        XCTAssertThrowsError(try Linalg.inverse(a)) { error in
            guard case .invalidArgument(op: "inverse", _)? = error as? LinalgError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertTrue("\(error)".contains("NaN"), "\(error)")
        }
        XCTAssertTrue(Linalg.det(a).item().isNaN)
    }
}
