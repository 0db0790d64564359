import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// Arithmetic with broadcasting, unary math, selection and comparisons (Ops/Arithmetic.swift): values and finite-difference gradients.
final class ArithmeticTests: XCTestCase {
    /// a holds multiples of 0.1 and b odd multiples of 0.05, so |a − b| ≥ 0.05 > eps everywhere.
    private func separated() -> (Tensor, Tensor) {
        (TestData.distinct([3, 4], seed: 36, spacing: 0.1), Tensor([-0.25, 0.05, 0.35, -0.55], shape: [4]))
    }

    func testAddGradientWithBroadcastingAndTransposedView() {
        GradCheck.check("add [3,1,4] + [2,4]", [randn([3, 1, 4], 1), randn([2, 4], 2)]) { $0[0] + $0[1] }
        GradCheck.check("add transposed [4,3]ᵀ + [4]", [randn([4, 3], 3), randn([4], 4)]) { $0[0].T + $0[1] }
        GradCheck.check("add transposed [4,3]ᵀ + [3,1]", [randn([4, 3], 3), randn([3, 1], 4)]) { $0[0].T + $0[1] }
    }

    func testSubGradientWithBroadcasting() {
        GradCheck.check("sub [2,3,4] - [3,1]", [randn([2, 3, 4], 5), randn([3, 1], 6)]) { $0[0] - $0[1] }
        GradCheck.check("sub [4] - [2,4] (broadcast on the left)", [randn([4], 7), randn([2, 4], 8)]) { $0[0] - $0[1] }
    }

    func testDivGradientWithBroadcasting() {
        GradCheck.check("div [3,4] / [4]", [randn([3, 4], 13), positive([4], 14)]) { $0[0] / $0[1] }
        GradCheck.check("div expanded [3,1]→[3,4] / [3,4]", [randn([3, 1], 15), positive([3, 4], 16)]) {
            $0[0].expanded(to: [3, 4]) / $0[1]
        }
    }

    func testScalarArithmeticGradients() {
        let x = randn([3, 4], 17)
        GradCheck.check("tensor + scalar", [x]) { $0[0] + 2 }
        GradCheck.check("scalar + tensor", [x]) { 2 + $0[0] }
        GradCheck.check("tensor - scalar", [x]) { $0[0] - 1.5 }
        GradCheck.check("scalar - tensor", [x]) { 1.5 - $0[0] }
        GradCheck.check("tensor * scalar", [x]) { $0[0] * 3 }
        GradCheck.check("scalar * tensor", [x]) { -0.5 * $0[0] }
        GradCheck.check("tensor / scalar", [x]) { $0[0] / 4 }
        GradCheck.check("scalar / tensor", [positive([3, 4], 18)]) { 4 / $0[0] }
    }

    func testNegGradient() {
        GradCheck.check("neg", [randn([2, 5], 19)]) { -$0[0] }
    }

    func testLogGradient() {
        GradCheck.check("log", [positive([3, 4], 22)]) { $0[0].log() }
        GradCheck.check("log of transposed view", [positive([4, 3], 23)]) { $0[0].T.log() }
    }

    func testSqrtGradient() {
        GradCheck.check("sqrt", [positive([3, 4], 24)]) { $0[0].sqrt() }
    }

    func testPowWithScalarExponentGradient() {
        GradCheck.check("pow 2", [randn([3, 4], 25)]) { $0[0].pow(2) }
        GradCheck.check("pow 3", [randn([3, 4], 26)]) { $0[0].pow(3) }
        GradCheck.check("pow 0.5", [positive([3, 4], 27)]) { $0[0].pow(0.5) }
        GradCheck.check("pow -1.5", [positive([3, 4], 28)]) { $0[0].pow(-1.5) }
    }

    func testPowWithTensorExponentGradientForBaseAndExponent() {
        GradCheck.check("pow [3,4] ^ [4]", [positive([3, 4], 29), randn([4], 30)]) { $0[0].pow($0[1]) }
        GradCheck.check("pow [4] ^ [3,4] (broadcast base)", [positive([4], 31), randn([3, 4], 32)]) { $0[0].pow($0[1]) }
    }

    func testAbsGradientAwayFromZero() {
        GradCheck.check("abs", [TestData.awayFrom([0], [3, 4], seed: 33)]) { $0[0].abs() }
    }

    func testClampGradientInsideAndOutsideTheBounds() {
        GradCheck.check("clamp(-0.5, 0.7)", [TestData.awayFrom([-0.5, 0.7], [4, 5], seed: 34)]) { $0[0].clamp(min: -0.5, max: 0.7) }
        GradCheck.check("clamp(min: 0.2)", [TestData.awayFrom([0.2], [4, 5], seed: 35)]) { $0[0].clamp(min: 0.2) }
    }

    func testMaximumGradientWithBroadcasting() {
        let (a, b) = separated()
        GradCheck.check("maximum [3,4] vs [4]", [a, b]) { $0[0].maximum($0[1]) }
    }

    func testMinimumGradientWithBroadcasting() {
        let (a, b) = separated()
        GradCheck.check("minimum [4] vs [3,4]", [b, a]) { $0[0].minimum($0[1]) }
    }

    func testWhereGradientReachesBothBranchesWithBroadcasting() {
        let cond = Tensor([1, 0, 1], shape: [3, 1])
        GradCheck.check("where([3,1], [3,4], [4])", [randn([3, 4], 37), randn([4], 38)]) { Tensor.where(cond, $0[0], $0[1]) }
    }

    func testBroadcastingCombinesShapesLikeNumPy() {
        let col = Tensor([1, 2, 3], shape: [3, 1]), row = Tensor([10, 20], shape: [1, 2])
        let s = col + row
        XCTAssertEqual(s.shape, [3, 2])
        XCTAssertEqual(s.scalars, [11, 21, 12, 22, 13, 23])
        let m = iota([2, 3, 2]) * Tensor([1, -1], shape: [2])
        XCTAssertEqual(m.shape, [2, 3, 2])
        XCTAssertEqual(m.scalars, [0, -1, 2, -3, 4, -5, 6, -7, 8, -9, 10, -11])
        XCTAssertEqual((Tensor(scalar: 2) - iota([2])).scalars, [2, 1])
        XCTAssertEqual((iota([2, 2]).T - iota([2])).scalars, [0, 1, 1, 2])
        XCTAssertEqual(Tensor.where(Tensor([1, 0], shape: [2]), iota([2, 2]), Tensor(scalar: -1)).scalars, [0, -1, 2, -1])
    }

    func testComparisonsGiveMasksOfZerosAndOnes() {
        let a = Tensor([1, 2, 3]), b = Tensor([3, 2, 1])
        XCTAssertEqual((a .< b).scalars, [1, 0, 0])
        XCTAssertEqual((a .== b).scalars, [0, 1, 0])
        XCTAssertEqual((a .>= b).scalars, [0, 1, 1])
        XCTAssertEqual((a .> 1.5).scalars, [0, 1, 1])
    }

    func testUnaryMathValues() {
        let x = Tensor([-2, 0.25, 4])
        XCTAssertEqual(x.abs().scalars, [2, 0.25, 4])
        XCTAssertEqual(x.clamp(min: 0, max: 1).scalars, [0, 0.25, 1])
        XCTAssertEqual(x.maximum(Tensor(scalar: 0)).scalars, [0, 0.25, 4])
        XCTAssertEqual(x.minimum(Tensor(scalar: 0)).scalars, [-2, 0, 0])
        TensorCheck.close(Tensor([0.25, 4]).sqrt(), Tensor([0.5, 2]), "sqrt")
        TensorCheck.close(Tensor([2, 3]).pow(Tensor([3, 0.5])), Tensor([8, 1.7320508]), "pow(Tensor)")
        TensorCheck.close(Tensor([0, 1]).exp().log(), Tensor([0, 1]), "log(exp(x))")
    }

    func testMulGradientWithBroadcastingAndSlicedView() {
        GradCheck.check("mul [2,3] * [2,1]", [randn([2, 3], 9), randn([2, 1], 10)]) { $0[0] * $0[1] }
        GradCheck.check("mul strided slice [4,6][:, ::2] * [4,3]", [randn([4, 6], 11), randn([4, 3], 12)]) {
            $0[0].slice(axis: 1, 0, 6, step: 2) * $0[1]
        }
    }

    func testExpGradientIncludingExpandedInput() {
        GradCheck.check("exp", [randn([3, 4], 20)]) { $0[0].exp() }
        GradCheck.check("exp of expanded [3,1]→[2,3,4]", [randn([3, 1], 21)]) { $0[0].expanded(to: [2, 3, 4]).exp() }
    }
}
