import Foundation
import XCTest
import CTesseraKernels
import TesseraTestSupport
@testable import Tessera

/// Every C kernel (Sources/CTesseraKernels) under every instruction-set variant this CPU runs,
/// against the baseline variant on the same data, as PyTorch ATen tests its per-capability
/// kernels. The elementwise ops are called directly, for every op code, on lengths that are not
/// a whole number of vectors and on strided and broadcast operands; the rest through the ops that
/// call them, forward and backward. scripts/test.sh also runs all of TesseraTests once per variant
/// (TESSERA_ISA), so the variant is the default one there too.
///
/// Tolerances: the variants run the same C code at different widths, so sums are taken in another
/// order and multiply–adds may fuse; results agree to a few ulps of the values summed (1e-5
/// relative here, 1e-4 for convolutions and reductions over many terms).
final class KernelVariantTests: XCTestCase {
    /// Values with the edge cases every elementwise op should treat alike at every width: zeros of
    /// both signs, ±1, tiny and huge magnitudes, ±∞, NaN, and plain random ones.
    private func probe(_ n: Int, seed: UInt64, positive: Bool = false) -> [Float] {
        var g = SeededGenerator(seed: seed)
        let specials: [Float] = [0, -0.0, 1, -1, 1e-30, -1e-30, 80, -80, 1e30, .infinity, -.infinity, .nan, 0.5, 2]
        return (0..<n).map { i in
            let v = i < specials.count ? specials[i] : 3 * g.nextNormal()
            return positive ? Swift.abs(v) : v
        }
    }

    /// Whether a and b agree: both NaN, equal (including infinities), or within rtol·|b| + atol.
    private func agree(_ a: Float, _ b: Float, rtol: Float, atol: Float) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        if a == b { return true }
        return Swift.abs(a - b) <= atol + rtol * Swift.abs(b)
    }

    private func compare(_ got: [Float], _ want: [Float], rtol: Float = 1e-5, atol: Float = 1e-6, _ what: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        for i in 0..<Swift.min(got.count, want.count) where !agree(got[i], want[i], rtol: rtol, atol: atol) {
            XCTFail("\(what): element \(i) is \(got[i]) under the variant and \(want[i]) under the baseline", file: file, line: line)
            return
        }
    }

    /// Runs `body` under the baseline and under each other variant and compares the results.
    private func eachVariant(_ what: String, rtol: Float = 1e-5, atol: Float = 1e-6, file: StaticString = #filePath, line: UInt = #line,
                             _ body: () -> [Float]) {
        var compared = 0
        KernelVariants.forEach { isa in
            guard isa != .baseline else { return }
            let (base, variant) = KernelVariants.baselineAnd(isa, body)
            XCTAssertFalse(base.isEmpty, what, file: file, line: line)
            compare(variant, base, rtol: rtol, atol: atol, "\(what) under \(isa)", file: file, line: line)
            compared += 1
        }
        KernelVariantTests.comparisons.withLock { $0 += compared }
    }

    /// Comparisons made, for the check that this machine compared any variant at all.
    private static let comparisons = Locked(0)

    override class func tearDown() {
        let n = comparisons.value
        // TESSERA_TEST_ISA=baseline (scripts/test.sh's baseline run) compares nothing by design.
        if Runtime.supportedISAs.count > 1 && ProcessInfo.processInfo.environment["TESSERA_TEST_ISA"] != "baseline" {
            precondition(n > 0, "KernelVariantTests: \(Runtime.supportedISAs) are supported but no variant was compared")
        }
        print("KernelVariantTests: \(n) comparisons of \(Runtime.supportedISAs.filter { $0 != .baseline }) with the baseline")
        super.tearDown()
    }

    func testEveryUnaryOpAgreesWithTheBaselineContiguousStridedAndBroadcast() {
        let n = 1037   // not a multiple of any vector width
        for op in 0...Int(TK_UNARY_FINITE_OR_ZERO.rawValue) {
            let code = tk_unary_op(rawValue: UInt32(op))
            let positive = code == TK_UNARY_LOG || code == TK_UNARY_SQRT || code == TK_UNARY_POW
            let x = probe(2 * n, seed: UInt64(op), positive: positive)
            let (p0, p1): (Float, Float) = code == TK_UNARY_CLAMP ? (-1, 2) : code == TK_UNARY_POW ? (1.5, 0) : (0.3, -0.7)
            for (incx, incy, count) in [(1, 1, n), (2, 1, n), (1, 2, n), (0, 1, 37), (1, 1, 3)] {
                eachVariant("unary op \(op), incx \(incx), incy \(incy), n \(count)") {
                    var y = [Float](repeating: -7, count: 2 * n)
                    x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { yp in tk_unary(code, count, xp.baseAddress, incx, yp.baseAddress, incy, p0, p1) }
                    }
                    return y
                }
            }
        }
    }

    func testEveryBinaryOpAgreesWithTheBaselineContiguousStridedAndBroadcast() {
        let n = 1029
        for op in 0...Int(TK_BINARY_BCE_WITH_LOGITS.rawValue) {
            let code = tk_binary_op(rawValue: UInt32(op))
            let positiveB = code == TK_BINARY_POW || code == TK_BINARY_SQRT_BACKWARD || code == TK_BINARY_POW_BACKWARD
            let a = probe(2 * n, seed: UInt64(100 + op), positive: code == TK_BINARY_POW)
            let b = probe(2 * n, seed: UInt64(200 + op), positive: positiveB).reversed().map { $0 }
            let p0: Float = code == TK_BINARY_POW_BACKWARD ? 1.5 : code == TK_BINARY_CLAMP_BACKWARD ? -1 : 0.25
            for (inca, incb, count) in [(1, 1, n), (2, 2, n), (1, 0, n), (0, 1, n), (1, 1, 5)] {
                eachVariant("binary op \(op), inca \(inca), incb \(incb), n \(count)") {
                    var y = [Float](repeating: -7, count: 2 * n)
                    a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                            y.withUnsafeMutableBufferPointer { yp in
                                tk_binary(code, count, ap.baseAddress, inca, bp.baseAddress, incb, yp.baseAddress, 1, p0, 2)
                            }
                        }
                    }
                    return y
                }
            }
        }
    }

    func testSelectSumAndTheFMALoopAgreeWithTheBaseline() {
        let n = 4099
        let c = probe(n, seed: 1).map { $0 > 0 ? Float(1) : 0 }, a = probe(n, seed: 2), b = probe(n, seed: 3)
        eachVariant("select") {
            var y = [Float](repeating: 0, count: n)
            tk_select(n, c, a, b, &y)
            return y
        }
        let finite = (0..<n).map { Float(($0 * 37) % 101) / 50 - 1 }
        eachVariant("sum of \(n) values", rtol: 1e-5, atol: 1e-4) { [tk_sum(n, finite)] }
        eachVariant("sum of 3 values") { [tk_sum(3, finite)] }
        // The peak loop's chains are as wide as the variant, so its value differs between
        // variants; at each it is finite and the same for the same arguments.
        KernelVariants.forEach { isa in
            let a = tk_fma_loop(10, 0.5), b = tk_fma_loop(10, 0.5)
            XCTAssertTrue(a.isFinite && a == b, "FMA loop under \(isa): \(a), \(b)")
        }
    }

    func testTheLoadersNormalizeAndFlipAgree() {
        let x = probe(3 * 35 * 33, seed: 5)
        eachVariant("normalize planes", rtol: 0, atol: 0) {
            var y = x
            tk_normalize_planes(3, 35 * 33, &y, [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])
            return y
        }
        for w in [33, 32, 1] {
            eachVariant("reverse rows of \(w)", rtol: 0, atol: 0) {
                var y = x
                tk_reverse_rows(x.count / w, w, &y)
                return y
            }
        }
    }

    func testBatchNormForwardAndBackwardAgreeInTrainingAndEvaluationWithAndWithoutReLU() {
        let x = TestData.randn([3, 13, 5, 7], seed: 10)
        let upstream = TestData.randn([3, 13, 5, 7], seed: 11)
        for training in [true, false] {
            for relu in [false, true] {
                eachVariant("batch norm training \(training) relu \(relu)", rtol: 1e-4, atol: 1e-5) {
                    var xi = x.detach(), gamma = TestData.randn([13], seed: 12) + 1, beta = TestData.randn([13], seed: 13)
                    xi.requiresGrad = true; gamma.requiresGrad = true; beta.requiresGrad = true
                    let rm = Tensor.zeros([13]), rv = Tensor.ones([13])
                    let y = relu
                        ? xi.batchNormReLU(runningMean: rm, runningVar: rv, weight: gamma, bias: beta, training: training, momentum: 0.1, eps: 1e-5)
                        : xi.batchNorm(runningMean: rm, runningVar: rv, weight: gamma, bias: beta, training: training, momentum: 0.1, eps: 1e-5)
                    y.backward(upstream)
                    return y.scalars + xi.grad!.scalars + gamma.grad!.scalars + beta.grad!.scalars + rm.scalars + rv.scalars
                }
            }
        }
    }

    func testPoolingForwardAndBackwardAgree() {
        let x = TestData.randn([2, 5, 11, 9], seed: 20)
        let pools: [(String, (Tensor) -> Tensor)] = [
            ("max 2×2", { $0.maxPool2d(kernelSize: 2) }),
            ("max 3×3 stride 2 padding 1", { $0.maxPool2d(kernelSize: 3, stride: 2, padding: 1) }),
            ("average 3×3 stride 2 padding 1", { $0.avgPool2d(kernelSize: 3, stride: 2, padding: 1) }),
            ("average 2×2 ceil mode", { $0.avgPool2d(kernelSize: 2, ceilMode: true, countIncludePad: false) }),
            ("adaptive average to 3×2", { $0.adaptiveAvgPool2d(Size2(3, 2)) }),
            ("global average", { $0.globalAvgPool2d() }),
        ]
        for (name, pool) in pools {
            eachVariant("\(name) pooling", rtol: 1e-5, atol: 1e-6) {
                var xi = x.detach()
                xi.requiresGrad = true
                let y = pool(xi)
                y.backward(Tensor.ones(y.shape) * 0.5 + TestData.randn(y.shape, seed: 21) * 0.1)
                return y.scalars + xi.grad!.scalars
            }
        }
    }

    func testSoftmaxLogSoftmaxAndCrossEntropyAgreeForwardAndBackward() {
        let logits = TestData.randn([7, 19], seed: 30, std: 3)
        let targets = [0, 3, 18, 5, 5, 9, 1]
        for smoothing: Float in [0, 0.1] {
            eachVariant("cross-entropy, label smoothing \(smoothing)", rtol: 1e-5, atol: 1e-6) {
                var l = logits.detach()
                l.requiresGrad = true
                let loss = crossEntropy(l, targets, labelSmoothing: smoothing)
                loss.backward()
                return [loss.item()] + l.grad!.scalars
            }
        }
        eachVariant("softmax and log-softmax", rtol: 1e-5, atol: 1e-6) {
            var l = logits.detach()
            l.requiresGrad = true
            let s = l.softmax(axis: 1), ls = l.logSoftmax(axis: 1)
            (s * TestData.randn([7, 19], seed: 31)).sum().backward()
            return s.scalars + ls.scalars + l.grad!.scalars
        }
    }

    func testOptimizerUpdatesAgree() {
        let n = 1001
        let g = TestData.randn([n], seed: 40)
        eachVariant("SGD, Nesterov, weight decay") {
            let p = TestData.randn([n], seed: 41), b = Tensor.zeros([n])
            for step in 0..<3 {
                OptimizerKernel.sgd(parameter: p, gradient: g, momentumBuffer: b, firstStep: step == 0, lr: 0.1, weightDecay: 5e-4,
                                    momentum: 0.9, dampening: 0, nesterov: true)
            }
            return p.scalars + b.scalars
        }
        eachVariant("Adam with AMSGrad, and AdamW", rtol: 1e-5, atol: 1e-6) {
            let p = TestData.randn([n], seed: 42), m = Tensor.zeros([n]), v = Tensor.zeros([n]), vmax = Tensor.zeros([n])
            let q = TestData.randn([n], seed: 43), m2 = Tensor.zeros([n]), v2 = Tensor.zeros([n])
            for t in 1...3 {
                OptimizerKernel.adam(parameter: p, gradient: g, expAvg: m, expAvgSq: v, maxExpAvgSq: vmax,
                                     step: .init(lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled: false, step: t))
                OptimizerKernel.adam(parameter: q, gradient: g, expAvg: m2, expAvgSq: v2, maxExpAvgSq: nil,
                                     step: .init(lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled: true, step: t))
            }
            return p.scalars + m.scalars + v.scalars + vmax.scalars + q.scalars
        }
        eachVariant("RMSProp, centered, with momentum", rtol: 1e-5, atol: 1e-6) {
            let p = TestData.randn([n], seed: 44), s = Tensor.zeros([n]), a = Tensor.zeros([n]), b = Tensor.zeros([n])
            for _ in 0..<3 {
                OptimizerKernel.rmsprop(parameter: p, gradient: g, squareAvg: s, gradAvg: a, momentumBuffer: b,
                                        lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 1e-4, momentum: 0.9)
            }
            return p.scalars + s.scalars + a.scalars + b.scalars
        }
    }

    func testEveryConvolutionAlgorithmAgreesForwardAndBackward() {
        // (input, weight, stride, padding, groups, policy): im2col with phase planes, col2im,
        // pointwise, Winograd F(2×2, 3×3) and F(4×4, 3×3) with channels that are not whole vectors, stride-2
        // Winograd, the RGB stem (the direct kernel), the direct kernel at stride 2 over a
        // rectangular image with output channels that are not a multiple of 4.
        let cases: [([Int], [Int], Int, Int, Int, ConvPolicy)] = [
            ([1, 6, 10, 12], [9, 6, 3, 3], 2, 1, 1, .direct),
            ([2, 5, 9, 7], [7, 5, 3, 3], 1, 1, 1, .direct),
            ([2, 5, 9, 9], [7, 5, 3, 3], 2, 1, 1, .im2col),
            ([2, 6, 8, 8], [6, 3, 3, 3], 1, 1, 2, .im2col),
            ([2, 12, 5, 5], [20, 12, 1, 1], 1, 0, 1, .auto),
            ([2, 13, 9, 7], [21, 13, 3, 3], 1, 1, 1, .winograd),
            ([2, 13, 9, 7], [21, 13, 3, 3], 1, 1, 1, .winograd4),
            ([2, 16, 10, 10], [24, 16, 3, 3], 2, 1, 1, .winograd),
            ([3, 3, 16, 16], [16, 3, 3, 3], 1, 1, 1, .auto),
        ]
        for (k, (xs, ws, stride, padding, groups, policy)) in cases.enumerated() {
            let x = TestData.randn(xs, seed: UInt64(50 + k)), w = TestData.randn(ws, seed: UInt64(60 + k), std: 0.3)
            let plan = ConvPlan(input: xs, weight: ws, stride: Size2(stride, stride), padding: Size2(padding, padding), groups: groups, policy: policy)
            eachVariant("convolution \(xs) * \(ws) (\(plan.forward.algorithm), \(plan.inputGradient.algorithm), \(plan.weightGradient.algorithm))",
                        rtol: 1e-4, atol: 1e-4) {
                var xi = x.detach(), wi = w.detach()
                xi.requiresGrad = true; wi.requiresGrad = true
                let y = xi.conv2d(weight: wi, bias: nil, plan: plan)
                y.backward(TestData.randn(y.shape, seed: 70))
                let inference = withNoGrad { x.conv2d(weight: w, stride: Size2(stride, stride), padding: Size2(padding, padding), groups: groups,
                                                      normalizedBy: nil, adding: nil, relu: true) }
                return y.scalars + xi.grad!.scalars + wi.grad!.scalars + inference.scalars
            }
        }
    }
}
