import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// Reductions (Ops/Reductions.swift): values and finite-difference gradients.
final class ReductionTests: XCTestCase {
    func testSumGradientOverAxesWithAndWithoutKeepDims() {
        let x = randn([2, 3, 4], 39)
        GradCheck.check("sum all", [x]) { $0[0].sum() }
        GradCheck.check("sum axes [0,2] keepDims", [x]) { $0[0].sum(axes: [0, 2], keepDims: true) }
        GradCheck.check("sum axis 1", [x]) { $0[0].sum(axis: 1) }
        GradCheck.check("sum axis -1 of a permuted view", [x]) { $0[0].permuted([2, 0, 1]).sum(axis: -1) }
    }

    func testMeanGradientOverAxesWithAndWithoutKeepDims() {
        let x = randn([2, 3, 4], 40)
        GradCheck.check("mean all", [x]) { $0[0].mean() }
        GradCheck.check("mean axes [1,2] keepDims", [x]) { $0[0].mean(axes: [1, 2], keepDims: true) }
        GradCheck.check("mean axis 0", [x]) { $0[0].mean(axis: 0) }
    }

    func testVarianceGradientBiasedAndUnbiased() {
        let x = randn([2, 3, 4], 41)
        GradCheck.check("variance axis 1 unbiased keepDims", [x]) { $0[0].variance(axes: [1], correction: 1, keepDims: true) }
        GradCheck.check("variance axes [0,2] population", [x]) { $0[0].variance(axes: [0, 2], correction: 0) }
        GradCheck.check("variance all", [x]) { $0[0].variance() }
    }

    func testMaxAndMinGradientOverAxesWithKeepDims() {
        let x = TestData.distinct([2, 3, 4], seed: 42)
        GradCheck.check("max all", [x]) { $0[0].max() }
        GradCheck.check("max axes [1] keepDims", [x]) { $0[0].max(axes: [1], keepDims: true) }
        GradCheck.check("max(axis: 2) values", [x]) { $0[0].max(axis: 2).values }
        GradCheck.check("min axes [0,2]", [x]) { $0[0].min(axes: [0, 2]) }
        GradCheck.check("min(axis: 0, keepDims) of a transposed view", [x]) { $0[0].transposed(0, 2).min(axis: 0, keepDims: true).values }
    }

    func testLogSumExpGradient() {
        let x = randn([2, 3, 4], 43, std: 2)
        GradCheck.check("logSumExp axis 1", [x]) { $0[0].logSumExp(axes: [1]) }
        GradCheck.check("logSumExp axes [0,2] keepDims", [x]) { $0[0].logSumExp(axes: [0, 2], keepDims: true) }
        GradCheck.check("logSumExp all", [x]) { $0[0].logSumExp() }
    }

    func testReductionsOverAxesWithKeepDims() {
        let x = iota([2, 3, 4])
        XCTAssertEqual(x.sum().item(), 276)
        XCTAssertEqual(x.sum().shape, [])
        let s = x.sum(axes: [0, 2], keepDims: true)
        XCTAssertEqual(s.shape, [1, 3, 1])
        XCTAssertEqual(s.scalars, [60, 92, 124])
        XCTAssertEqual(x.sum(axis: 1).shape, [2, 4])
        XCTAssertEqual(x.sum(axis: -1).scalars, [6, 22, 38, 54, 70, 86])
        XCTAssertEqual(x.mean(axes: [1], keepDims: true).shape, [2, 1, 4])
        XCTAssertEqual(x.mean(axis: 2).scalars, [1.5, 5.5, 9.5, 13.5, 17.5, 21.5])
        XCTAssertEqual(x.max(axes: [0, 1]).scalars, [20, 21, 22, 23])
        XCTAssertEqual(x.min(axes: [2], keepDims: true).shape, [2, 3, 1])
        TensorCheck.close(Tensor([1, 2, 3, 4]).variance(), Tensor(scalar: 5.0 / 3), "unbiased variance")
        TensorCheck.close(Tensor([1, 2, 3, 4]).variance(correction: 0), Tensor(scalar: 1.25), "population variance")
        TensorCheck.close(Tensor([1000, 1000]).logSumExp(), Tensor(scalar: 1000 + Float(M_LN2)), "logSumExp is stable for large values")
        XCTAssertEqual(x.transposed(0, 2).sum(axis: 0).scalars, x.sum(axis: 2).T.scalars, "reductions read non-contiguous views")
    }

    func testMaxWithIndicesAndArgmaxPickTheFirstMaximum() {
        let x = Tensor([1, 5, 5, 2,
                        7, 0, 7, -1], shape: [2, 4])
        let (v, i) = x.max(axis: 1)
        XCTAssertEqual(v.scalars, [5, 7])
        XCTAssertEqual(i.scalars, [1, 0])
        XCTAssertEqual(x.argmax(axis: 1).scalars, [1, 0])
        XCTAssertEqual(x.argmax(axis: 0).scalars, [1, 0, 1, 0])
        XCTAssertEqual(x.argmax(axis: 1, keepDims: true).shape, [2, 1])
        XCTAssertEqual(x.min(axis: 1).indices.scalars, [0, 3])
        XCTAssertEqual(x.argmin(axis: 0).scalars, [0, 1, 0, 1])
    }
}
