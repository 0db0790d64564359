import Foundation
import XCTest
@testable import Tessera

/// Behaviour of the tensor core: views and storage, broadcasting, reductions, empty tensors,
/// printing, and the autograd engine (accumulation, no-grad, detach, deep graphs, leaks).
final class TensorTests: XCTestCase {
    private func iota(_ shape: [Int]) -> Tensor { Tensor.arange(0, Float(shape.reduce(1, *))).reshaped(shape) }

    // MARK: Creation

    func testCreationHelpersProduceTheDocumentedValues() {
        XCTAssertEqual(Tensor.arange(1, 2.5, step: 0.5).scalars, [1, 1.5, 2])
        XCTAssertEqual(Tensor.linspace(0, 1, count: 5).scalars, [0, 0.25, 0.5, 0.75, 1])
        XCTAssertEqual(Tensor.eye(2, 3).scalars, [1, 0, 0, 0, 1, 0])
        XCTAssertEqual(Tensor.full([2, 2], 7).scalars, [7, 7, 7, 7])
        XCTAssertEqual(Tensor(scalar: 3).shape, [])
        XCTAssertEqual(Tensor(scalar: 3).item(), 3)
        let t = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        XCTAssertEqual(t[1, 2], 6)
        XCTAssertEqual(t[-1, 0], 4)
    }

    func testSeededGeneratorsReproduceTheSameSamples() {
        var g1 = SeededGenerator(seed: 42), g2 = SeededGenerator(seed: 42), g3 = SeededGenerator(seed: 43)
        let a = Tensor.randn([50], generator: &g1), b = Tensor.randn([50], generator: &g2), c = Tensor.randn([50], generator: &g3)
        XCTAssertEqual(a.scalars, b.scalars)
        XCTAssertNotEqual(a.scalars, c.scalars)
        let bound = (6 / Float(3 * 9)).squareRoot()   // kaiming uniform, a = 0: gain √2 · √(3 / fanIn) with fanIn 27
        let k = Tensor.kaimingUniform([8, 3, 3, 3], generator: &g1)
        XCTAssertTrue(k.scalars.allSatisfy { Swift.abs($0) <= bound }, "kaimingUniform samples exceed ±\(bound)")
        XCTAssertEqual(Tensor.fans([8, 3, 3, 3]).fanIn, 27)
        XCTAssertEqual(Tensor.fans([8, 3, 3, 3]).fanOut, 72)
    }

    // MARK: Views and storage

    func testViewsShareStorageAndSeeWritesThroughAnyView() {
        let t = iota([2, 3])
        let r = t.reshaped([3, 2]), tr = t.T, s = t.slice(axis: 1, 1, 3), e = t.slice(axis: 0, 0, 1).expanded(to: [4, 3])
        for (name, v) in [("reshape", r), ("transpose", tr), ("slice", s), ("expand", e), ("select", t.select(axis: 0, 1))] {
            XCTAssertTrue(v.storage === t.storage, "\(name) should be a view of the same storage")
        }
        t[0, 2] = 100
        XCTAssertEqual(r[1, 0], 100)
        XCTAssertEqual(tr[2, 0], 100)
        XCTAssertEqual(s[0, 1], 100)
        XCTAssertEqual(e[3, 2], 100)
        tr[1, 1] = -5     // writes through the transpose land in t[1, 1]
        XCTAssertEqual(t[1, 1], -5)
        XCTAssertEqual(e.strides[0], 0, "expand broadcasts with stride 0")
        XCTAssertEqual(s.offset, 1)
    }

    func testContiguousCopiesOnlyWhenTheLayoutNeedsIt() {
        let t = iota([3, 4])
        XCTAssertTrue(t.isContiguous)
        XCTAssertTrue(t.contiguous().storage === t.storage, "contiguous() of a contiguous tensor must not copy")
        XCTAssertTrue(t[1..<3].isContiguous, "a row range of a contiguous tensor is contiguous")
        XCTAssertTrue(t[1..<3].contiguous().storage === t.storage)
        let tr = t.T
        XCTAssertFalse(tr.isContiguous)
        let c = tr.contiguous()
        XCTAssertFalse(c.storage === t.storage, "contiguous() of a transpose copies")
        XCTAssertTrue(c.isContiguous)
        XCTAssertEqual(c.scalars, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        XCTAssertFalse(t.slice(axis: 1, 0, 4, step: 2).isContiguous)
        // A reshape that the strides allow is a view; one that they do not copies.
        XCTAssertTrue(t.reshaped([2, 6]).storage === t.storage)
        XCTAssertEqual(tr.reshaped([12]).scalars, c.scalars)
    }

    func testAssignWritesIntoAViewInPlace() {
        let t = Tensor.zeros([3, 4])
        t.slice(axis: 1, 1, 3).assign(Tensor([1, 2], shape: [2]))
        XCTAssertEqual(t.scalars, [0, 1, 2, 0, 0, 1, 2, 0, 0, 1, 2, 0])
    }

    func testShapeOpsPadConcatStackAndFlatten() {
        let a = iota([2, 2])
        XCTAssertEqual(a.padded([(1, 0)], value: 9).scalars, [9, 0, 1, 9, 2, 3])
        XCTAssertEqual(a.padded([(0, 1), (1, 0)]).shape, [3, 3])
        XCTAssertEqual(Tensor.concat([a, a * 10], axis: 1).scalars, [0, 1, 0, 10, 2, 3, 20, 30])
        XCTAssertEqual(Tensor.stack([a, a + 1], axis: 0).shape, [2, 2, 2])
        XCTAssertEqual(Tensor.stack([a, a + 1], axis: 2).scalars, [0, 1, 1, 2, 2, 3, 3, 4])
        XCTAssertEqual(iota([2, 3, 4, 5]).flattened(from: 1).shape, [2, 60])
        XCTAssertEqual(iota([2, 3, 4]).permuted([2, 0, 1]).shape, [4, 2, 3])
        XCTAssertEqual(iota([2, 3, 4]).permuted([2, 0, 1])[3, 1, 2], iota([2, 3, 4])[1, 2, 3])
    }

    // MARK: Broadcasting and elementwise

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

    // MARK: Reductions

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

    // MARK: Empty tensors

    func testZeroSizeDimensionsGiveEmptyResultsWithoutCrashing() {
        let empty = Tensor.zeros([0, 3])
        XCTAssertEqual(empty.count, 0)
        XCTAssertEqual((empty + Tensor.ones([3])).shape, [0, 3])
        XCTAssertEqual((empty * empty).shape, [0, 3])
        XCTAssertEqual(empty.exp().shape, [0, 3])
        XCTAssertEqual(empty.relu().shape, [0, 3])
        XCTAssertEqual(empty.scalars, [])
        XCTAssertEqual(empty.sum().item(), 0)
        XCTAssertEqual(empty.sum(axis: 0).scalars, [0, 0, 0])
        XCTAssertEqual(empty.sum(axis: 1).shape, [0])
        XCTAssertEqual(empty.T.contiguous().shape, [3, 0])
        XCTAssertEqual(empty.reshaped([3, 0, 5]).shape, [3, 0, 5])
        XCTAssertEqual(Tensor.zeros([2, 0]).matmul(Tensor.zeros([0, 3])).scalars, [0, 0, 0, 0, 0, 0], "a sum over an empty inner dimension is 0")
        XCTAssertEqual(empty.matmul(Tensor.ones([3, 4])).shape, [0, 4])
        XCTAssertEqual(Tensor.ones([2, 3]).matmul(Tensor.ones([3, 0])).shape, [2, 0])
        XCTAssertEqual(Tensor.concat([Tensor.ones([2, 3]), empty], axis: 0).scalars, [1, 1, 1, 1, 1, 1])
        XCTAssertEqual(Tensor.concat([empty, empty], axis: 1).shape, [0, 6])
        XCTAssertEqual(Tensor.arange(0, 0).shape, [0])
    }

    func testFusedBatchNormReLUEqualsBatchNormThenReLUValuesGradientsAndRunningStatistics() {
        // Large enough to be split over two threads; the fused op must give exactly what the two
        // ops give (the masked gradient sums add zeros where the separate ReLU backward wrote them).
        let saved = BLAS.threads
        BLAS.setThreads(2)
        defer { BLAS.setThreads(saved) }
        let x = TestData.randn([8, 6, 33, 33], seed: 160), upstream = TestData.randn([8, 6, 33, 33], seed: 161)
        let weight = TestData.uniform([6], seed: 162, 0.5, 2), bias = TestData.randn([6], seed: 163)
        for training in [true, false] {
            func run(fused: Bool) -> [Tensor] {
                var xi = x.detach(), w = weight.detach(), b = bias.detach()
                xi.requiresGrad = true; w.requiresGrad = true; b.requiresGrad = true
                let rm = Tensor([0.1, 0, -0.1, 0.2, 0, 0], shape: [6]), rv = Tensor.full([6], 1.5)
                let y = fused ? xi.batchNormReLU(runningMean: rm, runningVar: rv, weight: w, bias: b, training: training, momentum: 0.3)
                              : xi.batchNorm(runningMean: rm, runningVar: rv, weight: w, bias: b, training: training, momentum: 0.3).relu()
                y.backward(upstream)
                return [y.detach(), xi.grad!, w.grad!, b.grad!, rm, rv]
            }
            let fused = run(fused: true), separate = run(fused: false)
            for (i, what) in ["output", "input gradient", "weight gradient", "bias gradient", "running mean", "running variance"].enumerated() {
                TensorCheck.close(fused[i], separate[i], rtol: 1e-6, atol: 1e-6, "batchNormReLU \(what), training \(training)")
            }
            XCTAssertTrue(fused[0].scalars.contains(0) && fused[0].scalars.contains { $0 > 0 }, "both sides of the ReLU are exercised")
        }
    }

    func testThreadedGeluAndMaxPoolAgreeWithTheirSingleThreadedResults() {
        // Big enough that GELU and max-pooling split the work across two threads; the reference
        // is the same op on pieces below the threshold (one thread) or the formula itself.
        let saved = BLAS.threads
        BLAS.setThreads(2)
        defer { BLAS.setThreads(saved) }
        var gen = SeededGenerator(seed: 21)
        var x = Tensor.randn([8, 8, 32, 32], generator: &gen) * 2   // 65,536 elements
        x.requiresGrad = true
        let seed = Tensor.randn([8, 8, 32, 32], generator: &gen)
        let y = x.gelu()
        y.backward(seed)
        let xs = x.detach().scalars, gs = seed.scalars
        for (i, v) in y.scalars.enumerated() {
            let expected = 0.5 * xs[i] * (1 + Foundation.erf(xs[i] / Float(2).squareRoot()))
            XCTAssertEqual(v, expected, accuracy: 1e-6)
        }
        for (i, g) in x.grad!.scalars.enumerated() {
            let cdf = 0.5 * (1 + Foundation.erf(xs[i] / Float(2).squareRoot())), pdf = Foundation.exp(-0.5 * xs[i] * xs[i]) / Float(2 * Float.pi).squareRoot()
            XCTAssertEqual(g, gs[i] * (cdf + xs[i] * pdf), accuracy: 1e-5)
        }

        x.grad = nil
        let pooled = x.maxPool2d(kernelSize: 3, stride: 2, padding: 1)
        pooled.backward(Tensor.ones(pooled.shape))
        for s in 0..<8 {
            var piece = x.detach().select(axis: 0, s).unsqueezed(0)                // [1, 8, 32, 32]: 8,192 elements
            piece.requiresGrad = true
            let p = piece.maxPool2d(kernelSize: 3, stride: 2, padding: 1)
            p.backward(Tensor.ones(p.shape))
            XCTAssertEqual(pooled.select(axis: 0, s).contiguous().scalars, p.scalars, "sample \(s) forward")
            XCTAssertEqual(x.grad!.select(axis: 0, s).contiguous().scalars, piece.grad!.scalars, "sample \(s) backward")
        }
    }

    /// Whole 2×2 windows at stride 2 run four outputs at a time; they keep the generic rule: the
    /// first maximum in row-major order wins a tie, a NaN wins its window, and the gradient goes
    /// to the winner. Rows of 19 give two vectors and a scalar tail; of 7 rows the last is dropped.
    func testMaxPool2x2PicksTheFirstMaximumOrANaNAndRoutesTheGradientThere() {
        var values: [Float] = (0..<(2 * 7 * 19)).map { (i: Int) -> Float in Float((i % 19 / 3 + i / 19) % 3) }   // many ties
        values[19 + 2] = Float.nan                  // plane 0, window (0, 1), position (1, 0)
        values[133 + 4 * 19 + 17] = Float.nan       // plane 1, window (2, 8): the tail
        values[2 * 19 + 5] = -Float.infinity
        var x = Tensor(values, shape: [1, 2, 7, 19])
        x.requiresGrad = true
        let y = x.maxPool2d(kernelSize: 2)
        XCTAssertEqual(y.shape, [1, 2, 3, 9])
        y.backward(Tensor.ones(y.shape))
        var expected = [Float](), winners = [Float](repeating: 0, count: values.count), ties = 0
        for p in 0..<2 {
            for oh in 0..<3 {
                for ow in 0..<9 {
                    var best = -Float.infinity, at = -1, window = [Float]()
                    for i in 0..<2 {
                        for j in 0..<2 {
                            let k = p * 7 * 19 + (2 * oh + i) * 19 + 2 * ow + j
                            window.append(values[k])
                            if at < 0 || values[k] > best || values[k].isNaN { best = values[k]; at = k }
                        }
                    }
                    if window.filter({ $0 == best }).count > 1 { ties += 1 }
                    expected.append(best)
                    winners[at] += 1
                }
            }
        }
        let got = y.scalars
        for (i, e) in expected.enumerated() {
            XCTAssertTrue(e.isNaN ? got[i].isNaN : got[i] == e, "output \(i): \(got[i]), expected \(e)")
        }
        XCTAssertEqual(expected.filter(\.isNaN).count, 2)
        XCTAssertGreaterThan(ties, 10, "windows whose maximum is tied")
        XCTAssertEqual(x.grad!.scalars, winners, "the gradient goes to each window's winner")
    }

    func testVectorExpAndErfStayWithinTheirStatedErrorsAndKeepSpecialValues() {
        var worstExp: Double = 0, worstErf: Double = 0
        for x in stride(from: Float(-90), through: 88, by: 0.0137) {
            let e = VectorMath.exp(x), want = Foundation.exp(Double(x))
            if x >= -87.3 { worstExp = Swift.max(worstExp, Swift.abs(Double(e) - want) / want) }
            else { XCTAssertEqual(e, 0, "exp(\(x)) below the normal range is 0") }
            let z = x * 0.1, (erf, gaussian) = VectorMath.erfAndGaussian(z)
            worstErf = Swift.max(worstErf, Swift.abs(Double(erf) - Foundation.erf(Double(z))))
            XCTAssertEqual(Double(gaussian), Foundation.exp(-Double(z) * Double(z)), accuracy: 1e-6)
        }
        XCTAssertLessThan(worstExp, 5e-7, "relative error of exp")
        XCTAssertLessThan(worstErf, 5e-7, "absolute error of erf (Abramowitz & Stegun 7.1.26: 1.5e-7, plus Float rounding)")
        XCTAssertEqual(VectorMath.exp(-.infinity), 0)
        XCTAssertEqual(VectorMath.exp(.infinity), .infinity)
        XCTAssertEqual(VectorMath.exp(89), .infinity, "Float overflows above 88.73")
        XCTAssertEqual(VectorMath.exp(0), 1)
        XCTAssertTrue(VectorMath.exp(.nan).isNaN, "exp(NaN) is NaN")
        XCTAssertTrue(VectorMath.erfAndGaussian(.nan).erf.isNaN, "erf(NaN) is NaN")
        XCTAssertEqual(VectorMath.erfAndGaussian(-.infinity).erf, -1)
        XCTAssertEqual(VectorMath.erfAndGaussian(.infinity).erf, 1)
        XCTAssertEqual(VectorMath.erfAndGaussian(0).erf, 0)
        XCTAssertEqual(VectorMath.erfAndGaussian(0.7).erf, -VectorMath.erfAndGaussian(-0.7).erf, "erf is odd")
    }

    func testGeluOfAnOddLengthMatchesTheFormulaEverywhere() {
        var x = Tensor((0..<13).map { Float($0) * 0.9 - 6 }, shape: [13])
        x.requiresGrad = true
        let y = x.gelu()
        y.backward(Tensor.ones([13]))
        for (i, v) in x.detach().scalars.enumerated() {
            let phi = 0.5 * (1 + Foundation.erf(Double(v) / 2.0.squareRoot()))
            let pdf = Foundation.exp(-0.5 * Double(v) * Double(v)) / (2 * Double.pi).squareRoot()
            XCTAssertEqual(Double(y.scalars[i]), Double(v) * phi, accuracy: 1e-6, "gelu(\(v))")
            XCTAssertEqual(Double(x.grad!.scalars[i]), phi + Double(v) * pdf, accuracy: 1e-6, "gelu′(\(v))")
        }
    }

    func testZeroSizeBatchesPassThroughConvolutionPoolingSoftmaxAndLinear() {
        let x = Tensor.zeros([0, 3, 5, 5])
        XCTAssertEqual(x.conv2d(weight: Tensor.ones([4, 3, 3, 3]), bias: Tensor.ones([4]), padding: 1).shape, [0, 4, 5, 5])
        XCTAssertEqual(x.conv2d(weight: Tensor.ones([4, 3, 1, 1])).shape, [0, 4, 5, 5])
        XCTAssertEqual(x.maxPool2d(kernelSize: 2).shape, [0, 3, 2, 2])
        XCTAssertEqual(x.avgPool2d(kernelSize: 2).shape, [0, 3, 2, 2])
        XCTAssertEqual(x.adaptiveAvgPool2d(1).shape, [0, 3, 1, 1])
        XCTAssertEqual(Tensor.zeros([0, 5]).softmax().shape, [0, 5])
        XCTAssertEqual(Tensor.zeros([0, 5]).logSoftmax().shape, [0, 5])
        XCTAssertEqual(Tensor.zeros([0, 4]).linear(weight: Tensor.ones([2, 4]), bias: Tensor.ones([2])).shape, [0, 2])
        XCTAssertEqual(crossEntropy(Tensor.zeros([0, 5]), [Int](), reduction: .sum).item(), 0)
    }

    func testZeroSizeTensorsBackpropagateEmptyGradients() {
        var x = Tensor.zeros([0, 3])
        x.requiresGrad = true
        (x * 2).sum().backward()
        XCTAssertEqual(x.grad?.shape, [0, 3])
    }

    // MARK: Printing

    func testDescriptionPrintsValuesLikePyTorchFollowedByTheShape() {
        let t = Tensor([1, 2.5, -3, 4, 5, 6], shape: [2, 3])
        XCTAssertEqual(t.description, "tensor([[ 1.0000,  2.5000, -3.0000],\n        [ 4.0000,  5.0000,  6.0000]], shape=[2, 3])")
        XCTAssertEqual(Tensor([1, 2, 30]).description, "tensor([ 1.,  2., 30.], shape=[3])")
        XCTAssertEqual(Tensor(scalar: 0.5).description, "tensor(0.5000, shape=[])")
        var w = Tensor([1, 2])
        w.requiresGrad = true
        XCTAssertTrue(w.description.contains("requiresGrad=true"), w.description)
        XCTAssertEqual(Tensor.zeros([0, 3]).description.contains("shape=[0, 3]"), true, Tensor.zeros([0, 3]).description)
    }

    func testDescriptionOfALargeTensorIsAbbreviated() {
        let big = Tensor.arange(0, 100_000).reshaped([100, 1000])
        let d = big.description
        XCTAssertTrue(d.contains("..."), "a large tensor is abbreviated with ...: \(d.prefix(300))")
        XCTAssertLessThan(d.count, 1_000, "abbreviated description should be short, got \(d.count) characters")
        XCTAssertTrue(d.hasPrefix("tensor([["), String(d.prefix(80)))
        XCTAssertTrue(d.hasSuffix("99999.]], shape=[100, 1000])"), "the last value and the shape end it: \(d.suffix(80))")
        XCTAssertFalse(d.contains("500."), "middle values are elided: \(d)")
        XCTAssertEqual(d.split(separator: "\n").filter { $0.contains("[") }.count, 6, "three leading and three trailing rows: \(d)")
    }

    // MARK: Autograd engine

    func testTensorUsedTwiceReceivesBothGradientContributions() {
        var x = Tensor([1, -2, 3])
        x.requiresGrad = true
        (x * x + x).sum().backward()          // d/dx (x² + x) = 2x + 1
        XCTAssertEqual(x.grad?.scalars, [3, -3, 7])
        var w = Tensor([0.5, 2])
        w.requiresGrad = true
        let h = w.exp()
        (h * 2 + h.log()).sum().backward()      // h used twice: 2·eʷ + 1
        TensorCheck.close(w.grad!, Tensor([2 * Float(M_E).squareRoot() + 1, 2 * Foundation.exp(2) + 1]), "grad of w through h used twice")
    }

    func testGradientsAccumulateAcrossBackwardCallsUntilCleared() {
        var x = Tensor([1, 2])
        x.requiresGrad = true
        (x * 3).sum().backward()
        (x * x).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [5, 7], "3 + 2x accumulated")
        x.grad = nil
        XCTAssertNil(x.grad)
        (x * 3).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [3, 3])
    }

    func testBackwardWithExplicitSeedAndRetainedGraph() {
        var x = Tensor([1, 2, 3])
        x.requiresGrad = true
        let y = x * x
        y.backward(Tensor([1, 0, -1]), retainGraph: true)
        XCTAssertEqual(x.grad?.scalars, [2, 0, -6])
        y.backward(Tensor([1, 1, 1]))
        XCTAssertEqual(x.grad?.scalars, [4, 4, 0])
    }

    func testStructCopiesOfALeafShareItsGradient() {
        var p = Tensor([1, 2])
        p.requiresGrad = true
        let copy = p
        (p * 2).sum().backward()
        XCTAssertEqual(copy.grad?.scalars, [2, 2])
        copy.grad = nil
        XCTAssertNil(p.grad)
    }

    func testNoGradScopeRecordsNothing() {
        var x = Tensor([1, 2])
        x.requiresGrad = true
        let y = withNoGrad { (x * 2).exp().sum() }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(y.isLeaf)
        XCTAssertTrue(Autograd.isEnabled, "recording is restored after the no-grad closure")
        let z = (x * 2).sum()
        XCTAssertTrue(z.requiresGrad)
        XCTAssertFalse(z.isLeaf)
    }

    func testDetachCutsTheGraphButSharesStorage() {
        var x = Tensor([1, 2])
        x.requiresGrad = true
        let d = x.detach()
        XCTAssertFalse(d.requiresGrad)
        XCTAssertTrue(d.storage === x.storage)
        var y = Tensor([3, 4])
        y.requiresGrad = true
        ((x * 2).detach() * y).sum().backward()
        XCTAssertNil(x.grad, "no gradient flows through detach")
        XCTAssertEqual(y.grad?.scalars, [2, 4])
    }

    func testDeepChainOf5000OpsBackpropagatesWithoutStackOverflow() {
        var x = Tensor([0.5, -0.25, 1, 2])
        x.requiresGrad = true
        var y = x
        let c: Float = 1.0001
        for _ in 0..<5000 { y = y * c }
        y.sum().backward()
        let expected = Float(Foundation.pow(Double(c), 5000))
        TensorCheck.close(x.grad!, Tensor.full([4], expected), rtol: 1e-3, atol: 0, "gradient through 5,000 multiplications (rtol 1e-3)")
    }

    func testDeepGraphDroppedWithoutBackwardIsFreedWithoutStackOverflow() {
        let before = LiveBuffers.count
        do {
            var x = Tensor([1, 2])
            x.requiresGrad = true
            var y = x
            for _ in 0..<5000 { y = y + 1 }
            XCTAssertTrue(y.requiresGrad)
        }
        XCTAssertEqual(LiveBuffers.count, before)
    }

    /// A 110-layer residual stack of tiny conv → batch norm → relu blocks (the depth of ResNet-110).
    func testResidualNetworkOf110LayersBackpropagatesToEveryWeight() {
        var g = SeededGenerator(seed: 7)
        var weights: [Tensor] = []
        for _ in 0..<110 {
            var w = Tensor.kaimingNormal([2, 2, 3, 3], generator: &g) * 0.1
            w.requiresGrad = true
            weights.append(w)
        }
        var h = Tensor.randn([2, 2, 4, 4], generator: &g)
        for w in weights {
            let r = h.conv2d(weight: w, padding: 1).batchNorm(runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true).relu()
            h = h + r
        }
        h.mean().backward()
        for (i, w) in weights.enumerated() {
            guard let gw = w.grad else { XCTFail("layer \(i): no gradient"); continue }
            XCTAssertTrue(gw.scalars.allSatisfy { $0.isFinite }, "layer \(i): non-finite gradient")
        }
    }

    // MARK: Memory

    private func trainingStep(seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        var w = Tensor.kaimingUniform([4, 3, 3, 3], generator: &g)
        var gamma = Tensor.ones([4]), beta = Tensor.zeros([4])
        var fc = Tensor.xavierUniform([5, 16], generator: &g)
        w.requiresGrad = true; gamma.requiresGrad = true; beta.requiresGrad = true; fc.requiresGrad = true
        let runningMean = Tensor.zeros([4]), runningVar = Tensor.ones([4])
        let x = Tensor.randn([2, 3, 5, 5], generator: &g)
        let p = x.conv2d(weight: w, padding: 1).batchNorm(runningMean: runningMean, runningVar: runningVar, weight: gamma, bias: beta, training: true)
            .relu().maxPool2d(kernelSize: 2).avgPool2d(kernelSize: 1)
        let logits = p.flattened(from: 1).linear(weight: fc).gelu().dropout(p: 0.2, generator: &g)
        let loss = crossEntropy(logits, [1, 4], labelSmoothing: 0.1) + mseLoss(logits.softmax(), Tensor.zeros([2, 5]))
            + p.adaptiveAvgPool2d(1).sum() * 0.01 + (logits.logSoftmax() * logits.sigmoid()).mean()
        loss.backward()
        XCTAssertNotNil(w.grad)
        XCTAssertNotNil(fc.grad)
    }

    func testLiveBuffersReturnToBaselineAfterForwardAndBackward() {
        trainingStep(seed: 1)       // warm-up: lets caches and workspaces settle
        let baseline = LiveBuffers.count
        trainingStep(seed: 2)
        trainingStep(seed: 3)
        XCTAssertEqual(LiveBuffers.count, baseline, "tensor buffers leaked by a forward/backward step")
        do {
            var x = Tensor.ones([3, 3])
            x.requiresGrad = true
            _ = (x.matmul(x).sigmoid() * x).logSoftmax().sum()     // graph dropped without backward
        }
        XCTAssertEqual(LiveBuffers.count, baseline, "tensor buffers leaked by a graph dropped before backward")
    }

    // MARK: Dropout

    func testDropoutWithTheSameGeneratorGivesTheSameMaskAndScalesSurvivors() {
        let x = Tensor.ones([1000])
        var g1 = SeededGenerator(seed: 5), g2 = SeededGenerator(seed: 5)
        let a = x.dropout(p: 0.25, generator: &g1), b = x.dropout(p: 0.25, generator: &g2)
        XCTAssertEqual(a.scalars, b.scalars)
        let kept = a.scalars.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { Swift.abs($0 - 1 / 0.75) < 1e-6 }, "survivors are scaled by 1/(1-p)")
        XCTAssertEqual(Double(kept.count) / 1000, 0.75, accuracy: 0.06)
        XCTAssertEqual(x.dropout(p: 0.5, training: false, generator: &g1).scalars, x.scalars, "evaluation mode is the identity")
        XCTAssertEqual(x.dropout(p: 0, generator: &g1).scalars, x.scalars, "p = 0 keeps everything")
        XCTAssertEqual(x.dropout(p: 1, generator: &g1).scalars, [Float](repeating: 0, count: 1000), "p = 1 drops everything")
    }

    func testDropoutWithTheGlobalGeneratorIsReproducibleAfterReseeding() {
        let x = Tensor.ones([200])
        GlobalRandom.seed(11)
        let a = x.dropout(p: 0.5)
        let b = x.dropout(p: 0.5)
        GlobalRandom.seed(11)
        let c = x.dropout(p: 0.5)
        XCTAssertEqual(a.scalars, c.scalars, "same seed, same mask")
        XCTAssertNotEqual(a.scalars, b.scalars, "the generator advances between calls")
    }
}

final class BufferPoolTests: XCTestCase {
    func testFreedLargeBuffersAreReusedAndCanBeReleased() {
        BufferPool.releaseCached()
        var first: UnsafeMutablePointer<Float>?
        do {
            let t = Tensor.zeros([256, 1024])            // 1 MiB: pooled
            first = t.storage.pointer
        }
        XCTAssertGreaterThanOrEqual(BufferPool.cachedBytes, 1 << 20, "a freed 1 MiB buffer is kept")
        let again = Tensor.ones([256, 1024])
        XCTAssertEqual(again.storage.pointer, first, "the same size gets the cached buffer back")
        XCTAssertEqual(again.scalars.allSatisfy { $0 == 1 }, true, "a reused buffer is initialized by its creator")
        BufferPool.releaseCached()
        XCTAssertEqual(BufferPool.cachedBytes, 0)
    }
}
