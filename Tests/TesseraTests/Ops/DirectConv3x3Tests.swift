import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// The direct 3×3 forward kernel (Kernels/Conv/DirectConv3x3.swift, body/direct3x3.h) against
/// im2col, where the plan takes it, and what it must not change.
final class DirectConv3x3Tests: XCTestCase {
    private func withThreads(_ threads: [Int], _ body: () -> Void) {
        let saved = Runtime.threads
        defer { Runtime.threads = saved }
        for t in threads {
            Runtime.threads = t
            body()
        }
    }

    /// Forward, with bias, residual and ReLU fused, against im2col + the same epilogue: stride 1
    /// and 2, channel counts that are not multiples of 4 (a last group of output channels with
    /// missing members), odd and rectangular images, outputs whose extended rows end inside a
    /// vector block, batch 1 (split by output channels) and batches smaller and larger than the
    /// thread count (split by images).
    func testDirectForwardMatchesIm2colForBothStridesEveryBatchSplitAndTheEpilogue() {
        let cases: [(n: Int, c: Int, o: Int, h: Int, w: Int, stride: Int)] = [
            (3, 3, 16, 32, 32, 1), (1, 16, 16, 32, 32, 1), (2, 5, 7, 9, 13, 1), (1, 1, 1, 1, 1, 1),
            (4, 17, 9, 3, 20, 1), (1, 16, 32, 32, 32, 2), (3, 32, 64, 16, 16, 2), (2, 3, 5, 10, 6, 2),
            (1, 9, 13, 2, 2, 2), (5, 6, 4, 8, 8, 2),
        ]
        for (k, t) in cases.enumerated() {
            let what = "[\(t.n), \(t.c), \(t.h), \(t.w)] → \(t.o), stride \(t.stride)"
            let x = TestData.randn([t.n, t.c, t.h, t.w], seed: UInt64(400 + k))
            let weight = TestData.randn([t.o, t.c, 3, 3], seed: UInt64(420 + k), std: 0.3)
            let bias = TestData.randn([t.o], seed: UInt64(440 + k))
            let stride = Size2(t.stride, t.stride)
            let plan = ConvPlan(input: x.shape, weight: weight.shape, stride: stride, padding: 1, policy: .direct)
            XCTAssertEqual(plan.forward.algorithm, .direct3x3, what)
            let reference = withNoGrad {
                x.conv2d(weight: weight, bias: bias, plan: ConvPlan(input: x.shape, weight: weight.shape, stride: stride, padding: 1, policy: .im2col))
            }
            let residual = TestData.randn(reference.shape, seed: UInt64(460 + k))
            let fusedReference = withNoGrad { (reference + residual).relu() }
            withThreads([1, 2, 3, 8]) {
                let y = withNoGrad { x.conv2d(weight: weight, bias: bias, plan: plan) }
                TensorCheck.close(y, reference, rtol: 1e-4, atol: 1e-4, "\(what) on \(Runtime.threads) threads")
                let kernel = Conv2dKernel(plan: plan)
                let fused = withNoGrad { kernel.forward(x, weight, bias: bias, reuseWeights: true, residual: residual, relu: true) }
                TensorCheck.close(fused, fusedReference, rtol: 1e-4, atol: 1e-4, "fused \(what) on \(Runtime.threads) threads")
            }
        }
    }

    /// Under `TESSERA_CONV=direct` the stride-1 input gradient (a convolution of dY with the
    /// flipped kernel) runs the direct kernel too; both gradients match im2col's.
    func testGradientsUnderTheDirectPolicyMatchIm2col() {
        let x = TestData.randn([2, 6, 12, 10], seed: 480), weight = TestData.randn([10, 6, 3, 3], seed: 481, std: 0.3)
        let direct = ConvPlan(input: x.shape, weight: weight.shape, padding: 1, policy: .direct)
        XCTAssertEqual(direct.inputGradient.algorithm, .direct3x3)
        let reference = ConvPlan(input: x.shape, weight: weight.shape, padding: 1, policy: .im2col)
        let upstream = TestData.randn([2, 10, 12, 10], seed: 482)
        func run(_ plan: ConvPlan) -> (Tensor, Tensor) {
            var xi = x.detach(), wi = weight.detach()
            xi.requiresGrad = true
            wi.requiresGrad = true
            xi.conv2d(weight: wi, bias: nil, plan: plan).backward(upstream)
            return (xi.grad!, wi.grad!)
        }
        let (dx, dw) = run(direct), (dxRef, dwRef) = run(reference)
        TensorCheck.close(dx, dxRef, rtol: 1e-4, atol: 1e-4, "input gradient")
        TensorCheck.close(dw, dwRef, rtol: 1e-4, atol: 1e-4, "weight gradient")
    }

    /// An inference pass keeps the packed weights with w's storage; changing w in place must
    /// repack them, not reuse the old ones.
    func testPackedWeightsKeptForInferenceFollowAChangeOfTheWeights() {
        let x = TestData.randn([1, 16, 16, 16], seed: 490)
        let weight = TestData.randn([16, 16, 3, 3], seed: 491, std: 0.3)
        let plan = ConvPlan(input: x.shape, weight: weight.shape, padding: 1, policy: .direct)
        let kernel = Conv2dKernel(plan: plan)
        let reference = ConvPlan(input: x.shape, weight: weight.shape, padding: 1, policy: .im2col)
        let first = withNoGrad { kernel.forward(x, weight, bias: nil, reuseWeights: true) }
        TensorCheck.close(first, withNoGrad { x.conv2d(weight: weight, bias: nil, plan: reference) }, rtol: 1e-4, atol: 1e-4, "first pass")
        withNoGrad { weight.assign(weight * -2) }
        let second = withNoGrad { kernel.forward(x, weight, bias: nil, reuseWeights: true) }
        TensorCheck.close(second, withNoGrad { x.conv2d(weight: weight, bias: nil, plan: reference) }, rtol: 1e-4, atol: 1e-4,
                          "after the weights changed")
    }

    /// A non-finite input value reaches only the outputs whose 3×3 window holds it (as in im2col;
    /// a Winograd tile would spread it to the whole tile), and the thrown-away extended columns
    /// never leak into a neighbouring row.
    func testANonFiniteInputReachesOnlyTheOutputsOfItsWindow() {
        for stride in [1, 2] {
            var values = [Float](repeating: 1, count: 2 * 8 * 8)
            values[8 * 8 + 3 * 8 + 7] = .infinity   // channel 1, row 3, last column
            let x = Tensor(values, shape: [1, 2, 8, 8])
            let weight = Tensor([Float](repeating: 1, count: 4 * 2 * 9), shape: [4, 2, 3, 3])
            let plan = ConvPlan(input: x.shape, weight: weight.shape, stride: Size2(stride, stride), padding: 1, policy: .direct)
            let y = withNoGrad { x.conv2d(weight: weight, bias: nil, plan: plan) }.scalars
            let side = 8 / stride
            for o in 0..<4 {
                for r in 0..<side {
                    for q in 0..<side {
                        // Output (r, q) reads input rows stride·r − 1 ... stride·r + 1, likewise columns.
                        let reads = (stride * r - 1...stride * r + 1).contains(3) && (stride * q - 1...stride * q + 1).contains(7)
                        let v = y[(o * side + r) * side + q]
                        XCTAssertEqual(v.isFinite, !reads, "stride \(stride), channel \(o), output (\(r), \(q)) = \(v)")
                    }
                }
            }
        }
    }

    /// Where `auto` takes the direct kernel: stride 1 with up to 16 input channels over images at
    /// least 16 wide where 4×4 Winograd tiles do not take them (the RGB stem, layers into fewer
    /// than 16 channels) at every batch, and layers up to 32 → 64 channels at batch 1 or 2 where
    /// they do not either (stride 2, or fewer than 8 tiles); Winograd or im2col keeps the rest.
    func testAutoTakesTheDirectKernelForThinLayersAndSmallBatchesOnly() {
        func forward(n: Int = 128, c: Int, o: Int, side: Int, stride: Int = 1, padding: Int = 1, kernel: Int = 3) -> ConvPlan.Algorithm {
            ConvPlan(input: [n, c, side, side], weight: [o, c, kernel, kernel], stride: Size2(stride, stride),
                     padding: Size2(padding, padding), policy: .auto).forward.algorithm
        }
        XCTAssertEqual(forward(c: 3, o: 16, side: 32), .direct3x3, "the RGB stem")
        XCTAssertEqual(forward(c: 3, o: 64, side: 32), .direct3x3, "resnet18_cifar's stem")
        XCTAssertEqual(forward(c: 16, o: 16, side: 32), .winogradF43)
        XCTAssertEqual(forward(n: 1, c: 16, o: 16, side: 32), .winogradF43)
        XCTAssertEqual(forward(c: 16, o: 8, side: 32), .direct3x3, "8 output channels")
        XCTAssertEqual(forward(c: 16, o: 3, side: 32), .direct3x3, "the stem's input gradient")
        XCTAssertEqual(forward(n: 2, c: 16, o: 32, side: 32, stride: 2), .direct3x3)
        XCTAssertEqual(forward(c: 16, o: 32, side: 32, stride: 2), .im2col, "from batch 3, im2col over the phase planes")
        XCTAssertEqual(forward(c: 16, o: 16, side: 8), .winogradF43, "an 8-wide image would waste 2 columns in 10")
        XCTAssertEqual(forward(c: 32, o: 32, side: 16), .winogradF43)
        XCTAssertEqual(forward(n: 2, c: 32, o: 32, side: 16), .winogradF43, "32 tiles of 4×4")
        XCTAssertEqual(forward(n: 1, c: 24, o: 32, side: 7), .direct3x3, "4 tiles of 4×4, 16 of 2×2")
        XCTAssertEqual(forward(n: 2, c: 24, o: 32, side: 7), .winogradF43, "8 tiles of 4×4")
        XCTAssertEqual(forward(n: 1, c: 32, o: 64, side: 16, stride: 2), .direct3x3)
        XCTAssertEqual(forward(c: 32, o: 64, side: 16, stride: 2), .winogradStride2)
        XCTAssertEqual(forward(n: 1, c: 64, o: 64, side: 8), .winogradF23)
        XCTAssertEqual(forward(c: 64, o: 64, side: 8), .winogradF43)
        XCTAssertEqual(forward(n: 1, c: 3, o: 16, side: 15, stride: 2), .im2col, "stride 2 over an odd image")
        XCTAssertEqual(forward(c: 3, o: 16, side: 32, padding: 0), .im2col, "padding 0")
        XCTAssertEqual(forward(c: 3, o: 16, side: 32, padding: 2, kernel: 5), .im2col, "a 5×5 kernel")
        for policy in [ConvPolicy.im2col, .winograd] {
            XCTAssertNotEqual(ConvPlan(input: [1, 3, 32, 32], weight: [16, 3, 3, 3], padding: 1, policy: policy).forward.algorithm, .direct3x3,
                              "TESSERA_CONV=\(policy.rawValue)")
        }
        let dilated = ConvPlan(input: [1, 3, 32, 32], weight: [16, 3, 3, 3], padding: 2, dilation: 2, policy: .direct)
        XCTAssertNotEqual(dilated.forward.algorithm, .direct3x3, "dilation 2")
        let grouped = ConvPlan(input: [1, 4, 32, 32], weight: [4, 2, 3, 3], padding: 1, groups: 2, policy: .direct)
        XCTAssertNotEqual(grouped.forward.algorithm, .direct3x3, "groups")
    }
}
