import Foundation
import XCTest
@testable import Tessera

/// A finite-difference gradient check for every differentiable op of the core, on small random
/// shapes, including broadcast operands and non-contiguous views (transposed, sliced, expanded).
///
/// Each check compares autograd's gradient of Σ f(x)·r (fixed random r) with central differences
/// (eps 1e-2, objective accumulated in Double): |numeric − autograd| ≤ 2e-3 + 1e-2·max(|numeric|, |autograd|)
/// (see ``GradCheck``). Inputs of non-smooth ops are kept more than eps away from their kinks.
final class GradCheckTests: XCTestCase {
    private func randn(_ shape: [Int], _ seed: UInt64, std: Float = 1) -> Tensor { TestData.randn(shape, seed: seed, std: std) }
    private func positive(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.uniform(shape, seed: seed, 0.5, 2) }

    // MARK: The checker itself

    func testGradCheckerRejectsAWrongGradientAndAMissingOne() {
        let x = randn([2, 3], 200)
        // x² whose recorded backward is off by a factor of 1.1 (through the internal recording API).
        let wrong = GradCheck.problems("wrong square", [x]) { t in
            let y = withNoGrad { t[0] * t[0] }
            let xd = t[0].detach()
            return y.recorded("wrong_square", (t[0], { g in g * xd * 2.2 }))
        }
        XCTAssertEqual(wrong.count, 1, "a gradient 10% off must be reported: \(wrong)")
        let missing = GradCheck.problems("detached input", [x, x]) { t in t[0] * t[1].detach() }
        XCTAssertEqual(missing.count, 1, "an input without a gradient must be reported: \(missing)")
        XCTAssertEqual(GradCheck.problems("square", [x]) { $0[0] * $0[0] }, [], "a correct gradient passes")
    }

    // MARK: Arithmetic

    func testAddGradientWithBroadcastingAndTransposedView() {
        GradCheck.check("add [3,1,4] + [2,4]", [randn([3, 1, 4], 1), randn([2, 4], 2)]) { $0[0] + $0[1] }
        GradCheck.check("add transposed [4,3]ᵀ + [4]", [randn([4, 3], 3), randn([4], 4)]) { $0[0].T + $0[1] }
        GradCheck.check("add transposed [4,3]ᵀ + [3,1]", [randn([4, 3], 3), randn([3, 1], 4)]) { $0[0].T + $0[1] }
    }

    func testSubGradientWithBroadcasting() {
        GradCheck.check("sub [2,3,4] - [3,1]", [randn([2, 3, 4], 5), randn([3, 1], 6)]) { $0[0] - $0[1] }
        GradCheck.check("sub [4] - [2,4] (broadcast on the left)", [randn([4], 7), randn([2, 4], 8)]) { $0[0] - $0[1] }
    }

    func testMulGradientWithBroadcastingAndSlicedView() {
        GradCheck.check("mul [2,3] * [2,1]", [randn([2, 3], 9), randn([2, 1], 10)]) { $0[0] * $0[1] }
        GradCheck.check("mul strided slice [4,6][:, ::2] * [4,3]", [randn([4, 6], 11), randn([4, 3], 12)]) {
            $0[0].slice(axis: 1, 0, 6, step: 2) * $0[1]
        }
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

    // MARK: Unary math

    func testExpGradientIncludingExpandedInput() {
        GradCheck.check("exp", [randn([3, 4], 20)]) { $0[0].exp() }
        GradCheck.check("exp of expanded [3,1]→[2,3,4]", [randn([3, 1], 21)]) { $0[0].expanded(to: [2, 3, 4]).exp() }
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

    /// a holds multiples of 0.1 and b odd multiples of 0.05, so |a − b| ≥ 0.05 > eps everywhere.
    private func separated() -> (Tensor, Tensor) {
        (TestData.distinct([3, 4], seed: 36, spacing: 0.1), Tensor([-0.25, 0.05, 0.35, -0.55], shape: [4]))
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

    // MARK: Reductions

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

    // MARK: Views and shape ops

    func testReshapeAndFlattenGradientIncludingCopyingReshapeOfTransposedView() {
        let x = randn([4, 6], 44)
        GradCheck.check("reshape [4,6]→[2,3,4]", [x]) { $0[0].reshaped([2, 3, -1]) }
        GradCheck.check("reshape of transposed view (copies)", [x]) { $0[0].T.reshaped([24]) }
        GradCheck.check("flatten from 1 to 2", [randn([2, 3, 2, 2], 45)]) { $0[0].flattened(from: 1, to: 2) }
        GradCheck.check("unsqueeze then squeeze", [randn([3, 4], 46)]) { $0[0].unsqueezed(1).exp().squeezed(1) }
    }

    func testPermuteAndTransposeGradient() {
        let x = randn([2, 3, 4], 47)
        GradCheck.check("permute [2,0,1]", [x]) { $0[0].permuted([2, 0, 1]) }
        GradCheck.check("transpose 0,2", [x]) { $0[0].transposed(0, 2) }
        GradCheck.check("T", [randn([3, 5], 48)]) { $0[0].T }
    }

    func testSliceAndSelectGradient() {
        let x = randn([5, 6], 49)
        GradCheck.check("slice axis 1, 1..<6 step 2", [x]) { $0[0].slice(axis: 1, 1, 6, step: 2) }
        GradCheck.check("subscript rows 1..<4", [x]) { $0[0][1..<4] }
        GradCheck.check("select axis 1 index 2", [x]) { $0[0].select(axis: 1, 2) }
        GradCheck.check("select axis 0 index -1 of a transposed view", [x]) { $0[0].T.select(axis: 0, -1) }
    }

    func testExpandGradientSumsOverBroadcastDimensions() {
        GradCheck.check("expand [3,1]→[2,3,4]", [randn([3, 1], 50)]) { $0[0].expanded(to: [2, 3, 4]) }
    }

    func testConcatAndStackGradientIncludingNonContiguousInput() {
        GradCheck.check("concat axis 1 of [2,3], [3,2]ᵀ, [2,1]", [randn([2, 3], 51), randn([3, 2], 52), randn([2, 1], 53)]) {
            Tensor.concat([$0[0], $0[1].T, $0[2]], axis: 1)
        }
        GradCheck.check("concat axis 0", [randn([1, 3], 54), randn([2, 3], 55)]) { Tensor.concat([$0[0], $0[1]], axis: 0) }
        GradCheck.check("stack axis 1", [randn([2, 3], 56), randn([2, 3], 57)]) { Tensor.stack([$0[0], $0[1]], axis: 1) }
    }

    func testPadGradient() {
        GradCheck.check("pad last two dims with 0.5", [randn([2, 3, 4], 58)]) { $0[0].padded([(1, 2), (0, 1)], value: 0.5) }
    }

    func testContiguousGradientOfTransposedView() {
        GradCheck.check("contiguous of transposed view", [randn([3, 4], 59)]) { $0[0].T.contiguous() }
    }

    // MARK: Matmul

    func testMatmulGradient2DBatchedAndBroadcast() {
        GradCheck.check("matmul [3,4]@[4,5]", [randn([3, 4], 60), randn([4, 5], 61)]) { $0[0].matmul($0[1]) }
        GradCheck.check("matmul [2,3,4]@[2,4,5]", [randn([2, 3, 4], 62), randn([2, 4, 5], 63)]) { $0[0].matmul($0[1]) }
        GradCheck.check("matmul broadcast [2,1,3,4]@[3,4,2]", [randn([2, 1, 3, 4], 64), randn([3, 4, 2], 65)]) { $0[0].matmul($0[1]) }
        GradCheck.check("matmul [3,4]@[2,4,2] (matrix broadcast over batch)", [randn([3, 4], 66), randn([2, 4, 2], 67)]) { $0[0].matmul($0[1]) }
        GradCheck.check("matmul vector [4]@[4,3]", [randn([4], 68), randn([4, 3], 69)]) { $0[0].matmul($0[1]) }
        GradCheck.check("matmul [3,4]@vector [4]", [randn([3, 4], 70), randn([4], 71)]) { $0[0].matmul($0[1]) }
    }

    func testMatmulGradientWithTransposedAndExpandedOperands() {
        GradCheck.check("matmul [4,3]ᵀ@[4,5]", [randn([4, 3], 72), randn([4, 5], 73)]) { $0[0].T.matmul($0[1]) }
        GradCheck.check("matmul [3,4]@[5,4]ᵀ", [randn([3, 4], 74), randn([5, 4], 75)]) { $0[0].matmul($0[1].T) }
        GradCheck.check("matmul batched transposed both", [randn([2, 4, 3], 76), randn([2, 5, 4], 77)]) {
            $0[0].transposed(-1, -2).matmul($0[1].transposed(-1, -2))
        }
        GradCheck.check("matmul expanded [1,3,4]→[2,3,4] @ [2,4,2]", [randn([1, 3, 4], 78), randn([2, 4, 2], 79)]) {
            $0[0].expanded(to: [2, 3, 4]).matmul($0[1])
        }
        GradCheck.check("matmul sliced columns [3,8][:, ::2] @ [4,2]", [randn([3, 8], 80), randn([4, 2], 81)]) {
            $0[0].slice(axis: 1, 0, 8, step: 2).matmul($0[1])
        }
    }

    // MARK: Activations

    func testReluAndLeakyReluGradientAwayFromZero() {
        let x = TestData.awayFrom([0], [3, 5], seed: 82)
        GradCheck.check("relu", [x]) { $0[0].relu() }
        GradCheck.check("leakyRelu default slope", [x]) { $0[0].leakyRelu() }
        GradCheck.check("leakyRelu 0.2 of transposed view", [x]) { $0[0].T.leakyRelu(negativeSlope: 0.2) }
    }

    func testSigmoidTanhAndGeluGradient() {
        let x = randn([3, 5], 83, std: 2)
        GradCheck.check("sigmoid", [x]) { $0[0].sigmoid() }
        GradCheck.check("tanh", [x]) { $0[0].tanh() }
        GradCheck.check("gelu", [x]) { $0[0].gelu() }
        GradCheck.check("gelu of sliced view", [x]) { $0[0].slice(axis: 1, 0, 5, step: 2).gelu() }
    }

    func testSoftmaxAndLogSoftmaxGradientAlongEachAxis() {
        let x = randn([2, 3, 4], 84, std: 2)
        GradCheck.check("softmax axis -1", [x]) { $0[0].softmax() }
        GradCheck.check("softmax axis 1", [x]) { $0[0].softmax(axis: 1) }
        GradCheck.check("softmax axis 0 of permuted view", [x]) { $0[0].permuted([1, 2, 0]).softmax(axis: 0) }
        GradCheck.check("logSoftmax axis -1", [x]) { $0[0].logSoftmax() }
        GradCheck.check("logSoftmax axis 1", [x]) { $0[0].logSoftmax(axis: 1) }
        GradCheck.check("logSoftmax of transposed view", [x]) { $0[0].transposed(1, 2).logSoftmax(axis: -1) }
    }

    // MARK: Convolution and pooling

    func testConv2dGradientWithStridePaddingAndBias() {
        GradCheck.check("conv2d 3x3 stride 2 pad 1 bias", [randn([2, 3, 6, 5], 85), randn([4, 3, 3, 3], 86, std: 0.5), randn([4], 87)]) {
            $0[0].conv2d(weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
    }

    func testConv2dGradientWithDilationAndGroups() {
        GradCheck.check("conv2d 3x3 dilation 2 pad 2 groups 2", [randn([1, 4, 6, 6], 88), randn([4, 2, 3, 3], 89, std: 0.5)]) {
            $0[0].conv2d(weight: $0[1], padding: 2, dilation: 2, groups: 2)
        }
        GradCheck.check("conv2d depthwise stride 2 pad 1 bias", [randn([1, 3, 5, 5], 90), randn([3, 1, 3, 3], 91, std: 0.5), randn([3], 92)]) {
            $0[0].conv2d(weight: $0[1], bias: $0[2], stride: 2, padding: 1, groups: 3)
        }
    }

    func testConv2dGradientForOneByOneKernels() {
        GradCheck.check("conv2d 1x1 bias", [randn([2, 3, 4, 4], 93), randn([5, 3, 1, 1], 94, std: 0.5), randn([5], 95)]) {
            $0[0].conv2d(weight: $0[1], bias: $0[2])
        }
        GradCheck.check("conv2d 1x1 stride 2", [randn([1, 2, 5, 5], 96), randn([3, 2, 1, 1], 97, std: 0.5)]) {
            $0[0].conv2d(weight: $0[1], stride: 2)
        }
    }

    func testConv2dGradientWithRectangularKernelStridePaddingAndNonContiguousInput() {
        GradCheck.check("conv2d 2x3 kernel stride [2,1] pad [1,0]", [randn([1, 2, 5, 6], 98), randn([3, 2, 2, 3], 99, std: 0.5), randn([3], 100)]) {
            $0[0].conv2d(weight: $0[1], bias: $0[2], stride: [2, 1], padding: [1, 0])
        }
        GradCheck.check("conv2d of a permuted (NHWC→NCHW) input", [randn([2, 4, 4, 3], 101), randn([2, 3, 3, 3], 102, std: 0.5)]) {
            $0[0].permuted([0, 3, 1, 2]).conv2d(weight: $0[1], padding: 1)
        }
    }

    func testMaxPool2dGradient() {
        let x = TestData.distinct([2, 2, 5, 6], seed: 103)
        GradCheck.check("maxPool2d k3 s2 p1", [x]) { $0[0].maxPool2d(kernelSize: 3, stride: 2, padding: 1) }
        GradCheck.check("maxPool2d k2 default stride", [x]) { $0[0].maxPool2d(kernelSize: 2) }
        GradCheck.check("maxPool2d k[3,2] s1", [x]) { $0[0].maxPool2d(kernelSize: [3, 2], stride: 1) }
        GradCheck.check("maxPool2d of a transposed (H↔W) view", [x]) { $0[0].transposed(2, 3).maxPool2d(kernelSize: 3, stride: 2) }
        GradCheck.check("maxPool2d k2 s2 dilation 2 ceilMode", [x]) { $0[0].maxPool2d(kernelSize: 2, stride: 2, dilation: 2, ceilMode: true) }
    }

    func testAvgPool2dGradientWithAndWithoutCountIncludePad() {
        let x = randn([2, 2, 5, 6], 104)
        GradCheck.check("avgPool2d k3 s2 p1 include pad", [x]) { $0[0].avgPool2d(kernelSize: 3, stride: 2, padding: 1) }
        GradCheck.check("avgPool2d k3 s2 p1 exclude pad", [x]) { $0[0].avgPool2d(kernelSize: 3, stride: 2, padding: 1, countIncludePad: false) }
        GradCheck.check("avgPool2d k2", [x]) { $0[0].avgPool2d(kernelSize: 2) }
        GradCheck.check("avgPool2d k2 ceilMode exclude pad", [x]) { $0[0].avgPool2d(kernelSize: 2, stride: 2, ceilMode: true, countIncludePad: false) }
        GradCheck.check("avgPool2d of a transposed (H↔W) view", [x]) { $0[0].transposed(2, 3).avgPool2d(kernelSize: 2, stride: 1) }
    }

    func testAdaptiveAndGlobalAvgPool2dGradient() {
        let x = randn([2, 3, 3, 4], 105)
        GradCheck.check("adaptiveAvgPool2d to 1x1", [x]) { $0[0].adaptiveAvgPool2d(1) }
        GradCheck.check("adaptiveAvgPool2d to 2x3", [x]) { $0[0].adaptiveAvgPool2d([2, 3]) }
        GradCheck.check("globalAvgPool2d", [x]) { $0[0].globalAvgPool2d() }
    }

    // MARK: Normalization, dropout, linear

    func testBatchNormTrainingGradientForInputWeightAndBias() {
        GradCheck.check("batchNorm train 4-D", [randn([3, 2, 3, 3], 106, std: 1.5), positive([2], 107), randn([2], 108)]) { t in
            t[0].batchNorm(runningMean: Tensor.zeros([2]), runningVar: Tensor.ones([2]), weight: t[1], bias: t[2], training: true)
        }
        GradCheck.check("batchNorm train 2-D", [randn([5, 3], 109), positive([3], 110), randn([3], 111)]) { t in
            t[0].batchNorm(runningMean: Tensor.zeros([3]), runningVar: Tensor.ones([3]), weight: t[1], bias: t[2], training: true)
        }
    }

    func testBatchNormTrainingGradientOfANonContiguousInputWithoutAffineParameters() {
        GradCheck.check("batchNorm train of a permuted input, no weight/bias, no running stats", [randn([3, 3, 2, 2], 140)]) { t in
            t[0].permuted([0, 3, 1, 2]).batchNorm(runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true)
        }
    }

    func testBatchNormEvaluationGradient() {
        let mean = Tensor([0.3, -0.2], shape: [2]), variance = Tensor([0.8, 1.3], shape: [2])
        GradCheck.check("batchNorm eval 4-D", [randn([2, 2, 3, 3], 112), positive([2], 113), randn([2], 114)]) { t in
            t[0].batchNorm(runningMean: mean, runningVar: variance, weight: t[1], bias: t[2], training: false)
        }
    }

    func testBatchNormReLUGradientInTrainingAndEvaluationAwayFromTheKink() {
        let x = randn([3, 2, 3, 3], 156, std: 1.5), weight = positive([2], 157), bias = randn([2], 158)
        let mean = Tensor([0.3, -0.2], shape: [2]), variance = Tensor([0.8, 1.3], shape: [2])
        for training in [true, false] {
            // Finite differences mean nothing at ReLU's kink: the data (seeds picked for it) keeps every
            // normalized value, the ReLU's input, at least 0.1 from 0, and a third to two thirds below it.
            let pre = x.batchNorm(runningMean: mean, runningVar: variance, weight: weight, bias: bias, training: training).scalars
            XCTAssertGreaterThan(pre.map { Swift.abs($0) }.min()!, 0.1, "training \(training): the test data comes near the kink")
            XCTAssertTrue((18...36).contains(pre.filter { $0 < 0 }.count), "training \(training): \(pre.filter { $0 < 0 }.count) of 54 negative")
            GradCheck.check("batchNormReLU training \(training)", [x, weight, bias]) { t in
                t[0].batchNormReLU(runningMean: mean.clone(), runningVar: variance.clone(), weight: t[1], bias: t[2], training: training)
            }
        }
    }

    func testDropoutGradientWithAFixedGeneratorUsesTheSameMask() {
        GradCheck.check("dropout p 0.3 fixed generator", [randn([4, 5], 115)]) { t in
            var g = SeededGenerator(seed: 116)
            return t[0].dropout(p: 0.3, generator: &g)
        }
    }

    func testLinearGradientWithAndWithoutBias() {
        GradCheck.check("linear [3,4] weight [5,4] bias", [randn([3, 4], 117), randn([5, 4], 118), randn([5], 119)]) {
            $0[0].linear(weight: $0[1], bias: $0[2])
        }
        GradCheck.check("linear of a transposed input and a transposed weight", [randn([4, 3], 141), randn([4, 5], 142)]) {
            $0[0].T.linear(weight: $0[1].T)
        }
        GradCheck.check("linear [2,3,4] weight [2,4]", [randn([2, 3, 4], 120), randn([2, 4], 121)]) { $0[0].linear(weight: $0[1]) }
    }

    // MARK: Losses

    func testCrossEntropyGradientWithLabelSmoothingAndEachReduction() {
        let logits = randn([4, 5], 122, std: 2)
        let targets = Tensor([0, 3, 4, 1], shape: [4])
        for ls: Float in [0, 0.1] {
            for red in [Reduction.mean, .sum, .none] {
                GradCheck.check("crossEntropy labelSmoothing \(ls) reduction \(red)", [logits]) {
                    crossEntropy($0[0], targets, labelSmoothing: ls, reduction: red)
                }
            }
        }
        GradCheck.check("crossEntropy [Int] targets of transposed logits", [randn([5, 4], 123)]) {
            crossEntropy($0[0].T, [2, 2, 0, 4])
        }
    }

    func testNLLLossGradient() {
        let targets = Tensor([1, 0, 4, 2], shape: [4])
        for red in [Reduction.mean, .sum, .none] {
            GradCheck.check("nllLoss \(red)", [randn([4, 5], 124)]) { nllLoss($0[0], targets, reduction: red) }
        }
        GradCheck.check("nllLoss of logSoftmax", [randn([4, 5], 125)]) { nllLoss($0[0].logSoftmax(axis: 1), targets) }
    }

    func testMSELossGradientForInputAndTarget() {
        for red in [Reduction.mean, .sum, .none] {
            GradCheck.check("mseLoss \(red)", [randn([3, 4], 126), randn([3, 4], 127)]) { mseLoss($0[0], $0[1], reduction: red) }
        }
    }

    func testL1LossGradientForInputAndTargetAwayFromTies() {
        let input = randn([3, 4], 128)
        let target = input + TestData.awayFrom([0], [3, 4], seed: 129)
        for red in [Reduction.mean, .sum, .none] {
            GradCheck.check("l1Loss \(red)", [input, target]) { l1Loss($0[0], $0[1], reduction: red) }
        }
    }

    func testBinaryCrossEntropyWithLogitsGradient() {
        let targets = TestData.uniform([3, 4], seed: 130, 0, 1)
        for red in [Reduction.mean, .sum, .none] {
            GradCheck.check("binaryCrossEntropyWithLogits \(red)", [randn([3, 4], 131, std: 3)]) {
                binaryCrossEntropyWithLogits($0[0], targets, reduction: red)
            }
        }
    }
}
