import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// The inference convolution `relu(bn(conv(x)) + residual)` (Ops/Conv2d.swift): batch norm
/// folded into the weights, the epilogue applied as the output is written, transformed and
/// folded weights kept with the weights' storage until something they depend on changes.
final class FusedConvTests: XCTestCase {
    private struct Case {
        var n = 2, c: Int, o: Int, side: Int, kernel = 3, stride = 1, padding = 1, groups = 1
        var bias = false
        var label: String { "[\(n), \(c), \(side), \(side)] → \(o), \(kernel)×\(kernel) stride \(stride) groups \(groups) bias \(bias)" }
    }

    /// One geometry per algorithm: Winograd F(2×2, 3×3) and F(4×4, 3×3), stride-2 Winograd, the RGB
    /// stem (im2col), 1×1 (pointwise), grouped and odd-sized im2col.
    private let cases = [
        Case(n: 4, c: 16, o: 8, side: 8), Case(n: 4, c: 16, o: 16, side: 8), Case(c: 16, o: 32, side: 8, stride: 2), Case(c: 3, o: 16, side: 9, bias: true),
        Case(c: 8, o: 24, side: 6, kernel: 1, padding: 0, bias: true), Case(c: 8, o: 8, side: 7, groups: 2),
        Case(n: 1, c: 20, o: 12, side: 5),
    ]

    private func norm(_ o: Int, seed: UInt64) -> InferenceBatchNorm {
        InferenceBatchNorm(runningMean: TestData.randn([o], seed: seed, std: 0.3),
                           runningVar: TestData.randn([o], seed: seed + 1).abs() + 0.5,
                           weight: TestData.randn([o], seed: seed + 2, std: 0.5) + 1,
                           bias: TestData.randn([o], seed: seed + 3, std: 0.2), eps: 1e-5)
    }

    /// The composed ops, which the fused path must equal up to rounding.
    private func composed(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ c: Case, _ bn: InferenceBatchNorm?, _ residual: Tensor?, _ relu: Bool) -> Tensor {
        var y = x.conv2d(weight: w, bias: b, stride: Size2(c.stride, c.stride), padding: Size2(c.padding, c.padding), groups: c.groups)
        if let bn {
            y = y.batchNorm(runningMean: bn.runningMean, runningVar: bn.runningVar, weight: bn.weight, bias: bn.bias,
                            training: false, momentum: 0, eps: bn.eps)
        }
        if let residual { y = y + residual }
        return relu ? y.relu() : y
    }

    func testTheFusedInferenceConvolutionEqualsBatchNormAdditionAndReLUAfterItForEveryAlgorithmAndVariant() {
        KernelVariants.forEach { isa in
            for (k, c) in cases.enumerated() {
                let seed = UInt64(10 * k)
                let x = TestData.randn([c.n, c.c, c.side, c.side], seed: seed)
                let w = TestData.randn([c.o, c.c / c.groups, c.kernel, c.kernel], seed: seed + 1, std: 0.3)
                let b = c.bias ? TestData.randn([c.o], seed: seed + 2) : nil
                let out = (c.side + 2 * c.padding - c.kernel) / c.stride + 1
                let residual = TestData.randn([c.n, c.o, out, out], seed: seed + 3)
                for bn in [nil, norm(c.o, seed: seed + 4)] {
                    for (r, relu) in [(nil, false), (nil, true), (residual, false), (residual, true)] as [(Tensor?, Bool)] {
                        let fused = withNoGrad {
                            x.conv2d(weight: w, bias: b, stride: Size2(c.stride, c.stride), padding: Size2(c.padding, c.padding), groups: c.groups,
                                     normalizedBy: bn, adding: r, relu: relu)
                        }
                        let expected = withNoGrad { composed(x, w, b, c, bn, r, relu) }
                        TensorCheck.close(fused, expected, rtol: 1e-4, atol: 1e-4,
                                          "\(c.label), bn \(bn != nil), residual \(r != nil), relu \(relu), \(isa)")
                    }
                }
            }
        }
    }

    func testWithAGradientRecordedItIsTheCompositionAndItsGradients() {
        let c = cases[0]
        let bn = norm(c.o, seed: 40)
        var x = TestData.randn([c.n, c.c, c.side, c.side], seed: 41), w = TestData.randn([c.o, c.c, 3, 3], seed: 42, std: 0.3)
        let residual = TestData.randn([c.n, c.o, c.side, c.side], seed: 43)
        x.requiresGrad = true
        w.requiresGrad = true
        let y = x.conv2d(weight: w, padding: 1, normalizedBy: bn, adding: residual, relu: true)
        y.sum().backward()
        let (dx, dw) = (x.grad!, w.grad!)
        var x2 = x.detach(), w2 = w.detach()
        x2.requiresGrad = true
        w2.requiresGrad = true
        let y2 = composed(x2, w2, nil, c, bn, residual, true)
        y2.sum().backward()
        XCTAssertEqual(y.scalars, y2.scalars, "the same ops when recording")
        XCTAssertEqual(dx.scalars, x2.grad!.scalars)
        XCTAssertEqual(dw.scalars, w2.grad!.scalars)
    }

    func testCachedWeightsFollowEveryWayTheWeightsAndStatisticsChange() {
        let c = Case(n: 4, c: 16, o: 8, side: 8)
        XCTAssertEqual(ConvPlan(input: [c.n, c.c, c.side, c.side], weight: [c.o, c.c, 3, 3], padding: 1).forward.algorithm, .winogradF23)
        let x = TestData.randn([c.n, c.c, c.side, c.side], seed: 50)
        let w = TestData.randn([c.o, c.c, 3, 3], seed: 51, std: 0.3)
        let bn = norm(c.o, seed: 52)
        func check(_ what: String) {
            let fused = withNoGrad { x.conv2d(weight: w, padding: 1, normalizedBy: bn, relu: true) }
            let plain = withNoGrad { x.conv2d(weight: w, padding: 1) }
            TensorCheck.close(fused, withNoGrad { composed(x, w, nil, c, bn, nil, true) }, rtol: 1e-4, atol: 1e-4, what)
            TensorCheck.close(plain, withNoGrad { x.conv2d(weight: w, bias: nil, plan: ConvPlan(input: x.shape, weight: w.shape, padding: 1, policy: .im2col)) },
                              rtol: 1e-4, atol: 1e-4, "Winograd with cached U, \(what)")
        }
        check("first pass")
        check("second pass (from the cache)")
        let v0 = w.storage.version
        w.assign(w * 0.5)
        XCTAssertGreaterThan(w.storage.version, v0, "assign changes the version")
        check("after assign")
        w.withUnsafeMutableBufferPointer { $0[3] += 1 }
        check("after a write through withUnsafeMutableBufferPointer")
        w[0, 0, 1, 1] = 2
        check("after a subscript write")
        bn.runningVar.assign(bn.runningVar * 2)
        check("after the running variance changed")
        bn.bias!.withUnsafeMutableBufferPointer { $0[0] = 5 }
        check("after the batch norm's bias changed")
        // The optimizer kernels and a training batch norm write in place too.
        let grad = TestData.randn(w.shape, seed: 53)
        let v1 = w.storage.version
        OptimizerKernel.sgd(parameter: w, gradient: grad, momentumBuffer: nil, firstStep: true, lr: 0.1, weightDecay: 0,
                            momentum: 0, dampening: 0, nesterov: false)
        XCTAssertGreaterThan(w.storage.version, v1)
        check("after an SGD step")
        let v2 = bn.runningMean.storage.version
        _ = withNoGrad {
            x.conv2d(weight: w, padding: 1).batchNorm(runningMean: bn.runningMean, runningVar: bn.runningVar, weight: bn.weight,
                                                    bias: bn.bias, training: true, momentum: 0.5, eps: bn.eps)
        }
        XCTAssertGreaterThan(bn.runningMean.storage.version, v2, "batch statistics update the running mean in place")
        check("after a training batch norm updated the running statistics")
    }

    func testTheCacheIsPerVectorWidthAndPerWeightTensor() {
        let x = TestData.randn([1, 16, 8, 8], seed: 60)
        let w = TestData.randn([16, 16, 3, 3], seed: 61, std: 0.3)
        KernelVariants.forEach { isa in
            let y = withNoGrad { x.conv2d(weight: w, padding: 1) }
            let reference = x.conv2d(weight: w, bias: nil, plan: ConvPlan(input: x.shape, weight: w.shape, padding: 1, policy: .im2col))
            TensorCheck.close(y, reference, rtol: 1e-4, atol: 1e-4, "\(isa): transformed weights of this width")
        }
        // Two views of one storage are two cache entries.
        let both = TestData.randn([32, 16, 3, 3], seed: 62, std: 0.3)
        let first = both.slice(axis: 0, 0, 16), second = both.slice(axis: 0, 16, 32)
        let a = withNoGrad { x.conv2d(weight: first, padding: 1) }, b = withNoGrad { x.conv2d(weight: second, padding: 1) }
        TensorCheck.close(a, x.conv2d(weight: first.contiguous().detach(), bias: nil, plan: ConvPlan(input: x.shape, weight: [16, 16, 3, 3], padding: 1, policy: .im2col)),
                          rtol: 1e-4, atol: 1e-4, "first half")
        TensorCheck.close(b, x.conv2d(weight: second.contiguous().detach(), bias: nil, plan: ConvPlan(input: x.shape, weight: [16, 16, 3, 3], padding: 1, policy: .im2col)),
                          rtol: 1e-4, atol: 1e-4, "second half")
    }
}
