import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// Convolution (Ops/Conv2d.swift, Kernels/Conv/): the plan, every algorithm against im2col, PyTorch fixtures, gradients.
final class Conv2dTests: XCTestCase {
    /// Output, input gradient and weight gradient of conv2d(x, w, padding) for random data, with
    /// Winograd F(tile×tile, 3×3) (`TESSERA_CONV=winograd`, or `winograd4` for 4×4 tiles, which
    /// `auto` narrows to where they pay: see DirectConv3x3Tests and
    /// testAutoTakesFourByFourTilesWhereTheyWereMeasuredFaster) and with im2col.
    /// `winogradInputGradient`: whether the input gradient (a stride-1 convolution from O to C
    /// channels, padded by 2 − padding) is expected to take Winograd too.
    private func compare(n: Int, c: Int, o: Int, h: Int, w: Int, padding: Size2, winogradInputGradient: Bool, seed: UInt64, tile: Int = 2,
                         file: StaticString = #filePath, line: UInt = #line) {
        let x = TestData.randn([n, c, h, w], seed: seed)
        let weight = TestData.randn([o, c, 3, 3], seed: seed + 1, std: 0.2)
        let upstream = TestData.randn([n, o, h + 2 * padding.h - 2, w + 2 * padding.w - 2], seed: seed + 2)
        let what = "[\(n), \(c), \(h), \(w)] → \(o), padding \(padding), \(tile)×\(tile) tiles"
        let algorithm: ConvPlan.Algorithm = tile == 4 ? .winogradF43 : .winogradF23
        let plan = ConvPlan(input: x.shape, weight: weight.shape, padding: padding, policy: tile == 4 ? .winograd4 : .winograd)
        XCTAssertEqual(plan.weightGradient.algorithm, algorithm, "\(what): the weight gradient should take Winograd", file: file, line: line)
        XCTAssertEqual(plan.forward.algorithm, algorithm, "\(what): forward", file: file, line: line)
        XCTAssertEqual(plan.inputGradient.algorithm == algorithm, winogradInputGradient, "\(what): Winograd for the input gradient", file: file, line: line)
        let reference = ConvPlan(input: x.shape, weight: weight.shape, padding: padding, policy: .im2col)

        func run(_ plan: ConvPlan) -> (Tensor, Tensor, Tensor) {
            var xi = x.detach(), wi = weight.detach()
            xi.requiresGrad = true
            wi.requiresGrad = true
            let y = xi.conv2d(weight: wi, bias: nil, plan: plan)
            y.backward(upstream)
            return (y.detach(), xi.grad!, wi.grad!)
        }
        onOneAndTwoThreads {
            let (y, dx, dw) = run(plan)
            let (yRef, dxRef, dwRef) = run(reference)
            let threads = "\(what), \(Runtime.threads) thread(s)"
            // Sums of up to C·9 products of values of order 1: the rounding of the transforms
            // shows at about 1e-6 of the output's scale with 2×2 tiles, a few times that with 4×4
            // tiles (whose transforms scale by up to 8 and 1/24).
            let tolerance = tile == 4 ? 1e-3 : 1e-4
            TensorCheck.close(y, yRef, rtol: tolerance, atol: tolerance, "Winograd forward \(threads)", file: file, line: line)
            TensorCheck.close(dx, dxRef, rtol: tolerance, atol: tolerance, "input gradient \(threads)", file: file, line: line)
            // The weight gradient sums N·H·W products per entry (5,120 at [5, 16, 32, 32]): entries of
            // order √(N·H·W), so an entry near zero keeps the rounding of its large partial sums, and
            // the reference's own order changes with the BLAS kernel and the thread count.
            let dwScale = Double((n * h * w)).squareRoot()
            TensorCheck.close(dw, dwRef, rtol: tolerance, atol: tolerance / 10 * dwScale, "Winograd weight gradient \(threads)", file: file, line: line)
        }
    }

    /// Runs `body` once on one thread and once on two (one range of images per thread).
    private func onOneAndTwoThreads(_ body: () -> Void) {
        let saved = Runtime.threads
        defer { Runtime.threads = saved }
        for threads in [1, 2] {
            Runtime.threads = threads
            body()
        }
    }

    /// The plan of a 3×3 convolution of [2, c, side, side] into o channels.
    private func plan(c: Int, o: Int, side: Int = 8, stride: Size2 = 1, padding: Size2 = 1, dilation: Size2 = 1, groups: Int = 1,
                      kernel: Size2 = 3, policy: ConvPolicy = .auto) -> ConvPlan {
        ConvPlan(input: [2, c, side, side], weight: [o, c / groups, kernel.h, kernel.w], stride: stride, padding: padding,
                 dilation: dilation, groups: groups, policy: policy)
    }

    func testOneImageRunsInBandsOfTileRowsOnEveryThreadAndAgreesWithIm2col() {
        let saved = Runtime.threads
        defer { Runtime.threads = saved }
        // (channels in, out, height, width): ResNet sizes, odd sizes whose last band is short or
        // hangs over the edge, more threads than tile rows.
        for (k, (c, o, h, w)) in [(16, 16, 32, 32), (13, 21, 9, 7), (8, 8, 4, 4), (24, 40, 3, 5)].enumerated() {
            let x = TestData.randn([1, c, h, w], seed: UInt64(300 + k)), weight = TestData.randn([o, c, 3, 3], seed: UInt64(310 + k), std: 0.2)
            let bias = TestData.randn([o], seed: UInt64(320 + k)), residual = TestData.randn([1, o, h, w], seed: UInt64(330 + k))
            let reference = withNoGrad {
                (x.conv2d(weight: weight, bias: bias, plan: ConvPlan(input: x.shape, weight: weight.shape, padding: 1, policy: .im2col)) + residual).relu()
            }
            for (policy, algorithm) in [(ConvPolicy.winograd, ConvPlan.Algorithm.winogradF23), (.winograd4, .winogradF43)] {
                let plan = ConvPlan(input: x.shape, weight: weight.shape, padding: 1, policy: policy)
                XCTAssertEqual(plan.forward.algorithm, algorithm)
                let tolerance = algorithm == .winogradF43 ? 1e-3 : 1e-4
                for threads in [1, 2, 3, 8] {
                    Runtime.threads = threads
                    let y = withNoGrad { x.conv2d(weight: weight, bias: bias, plan: plan) }
                    TensorCheck.close((y + residual).relu(), reference, rtol: tolerance, atol: tolerance,
                                      "\(algorithm), [1, \(c), \(h), \(w)] → \(o) on \(threads) threads")
                }
            }
            for threads in [1, 2, 3, 8] {
                Runtime.threads = threads
                let fused = withNoGrad { x.conv2d(weight: weight, bias: bias, padding: 1, normalizedBy: nil, adding: residual, relu: true) }
                TensorCheck.close(fused, reference, rtol: 1e-3, atol: 1e-3, "fused under auto, [1, \(c), \(h), \(w)] → \(o) on \(threads) threads")
            }
        }
    }

    func testWinogradMatchesIm2colOnResNetShapes() {
        // The RGB stem, and its input gradient: a convolution from 16 channels to 3.
        compare(n: 4, c: 3, o: 16, h: 32, w: 32, padding: 1, winogradInputGradient: true, seed: 5)
        compare(n: 5, c: 16, o: 16, h: 32, w: 32, padding: 1, winogradInputGradient: true, seed: 10)
        compare(n: 9, c: 32, o: 32, h: 16, w: 16, padding: 1, winogradInputGradient: true, seed: 20)
        // 37 images of 8×8 with 64 channels: several chunks per thread, and a last chunk that is short.
        compare(n: 37, c: 64, o: 64, h: 8, w: 8, padding: 1, winogradInputGradient: true, seed: 30)
    }

    func testWinogradMatchesIm2colOnOddSizesAndOtherPaddings() {
        compare(n: 3, c: 8, o: 11, h: 7, w: 13, padding: 1, winogradInputGradient: true, seed: 40)    // odd × odd output
        compare(n: 2, c: 10, o: 8, h: 8, w: 7, padding: 0, winogradInputGradient: true, seed: 50)     // even × odd
        compare(n: 2, c: 8, o: 9, h: 5, w: 10, padding: 2, winogradInputGradient: true, seed: 60)     // odd × even
        compare(n: 2, c: 8, o: 8, h: 6, w: 9, padding: [0, 2], winogradInputGradient: true, seed: 70) // unequal paddings
        compare(n: 2, c: 9, o: 8, h: 5, w: 6, padding: [1, 0], winogradInputGradient: true, seed: 75)
        // Output as wide as the input but not as high: im2col's one-copy-per-tap path with fewer
        // rows out than in (padding [0, 1]) and more (the input gradient of [2, 1]).
        compare(n: 2, c: 8, o: 8, h: 7, w: 6, padding: [0, 1], winogradInputGradient: true, seed: 76)
        compare(n: 2, c: 8, o: 8, h: 5, w: 6, padding: [2, 1], winogradInputGradient: true, seed: 77)
        // Padding 3: the input gradient would need padding −1, so it is im2col's col2im.
        compare(n: 2, c: 8, o: 8, h: 4, w: 5, padding: 3, winogradInputGradient: false, seed: 80)
        compare(n: 1, c: 12, o: 8, h: 4, w: 4, padding: 0, winogradInputGradient: true, seed: 90)    // one whole tile
    }

    func testFourByFourTilesMatchIm2colOnResNetShapesOddSizesAndOtherPaddings() {
        compare(n: 4, c: 3, o: 16, h: 32, w: 32, padding: 1, winogradInputGradient: true, seed: 105, tile: 4)   // the RGB stem
        compare(n: 9, c: 32, o: 32, h: 16, w: 16, padding: 1, winogradInputGradient: true, seed: 110, tile: 4)
        // 37 images of 8×8 with 64 channels: several chunks per thread, and a last chunk that is short.
        compare(n: 37, c: 64, o: 64, h: 8, w: 8, padding: 1, winogradInputGradient: true, seed: 115, tile: 4)
        // Outputs that are not whole 4×4 tiles (the last tiles hang over the edge), other paddings.
        compare(n: 3, c: 8, o: 11, h: 7, w: 13, padding: 1, winogradInputGradient: true, seed: 120, tile: 4)
        compare(n: 2, c: 10, o: 8, h: 10, w: 7, padding: 0, winogradInputGradient: true, seed: 125, tile: 4)
        compare(n: 2, c: 8, o: 9, h: 5, w: 10, padding: 2, winogradInputGradient: true, seed: 130, tile: 4)
        compare(n: 2, c: 9, o: 8, h: 6, w: 9, padding: [0, 2], winogradInputGradient: true, seed: 135, tile: 4)
        compare(n: 1, c: 12, o: 8, h: 6, w: 6, padding: 0, winogradInputGradient: true, seed: 140, tile: 4)   // one whole tile
    }

    /// 4×4 tiles where they were measured faster than 2×2 tiles and the direct kernel
    /// (ConvPlan.f43Reason): 6 to 256 input channels and 16 to 256 output channels (3 and 3 for
    /// the weight gradient) with at least 4 tiles per image and 8 in the batch; the direct kernel
    /// keeps the RGB stem and layers into few channels, 2×2 tiles the rest.
    func testAutoTakesFourByFourTilesWhereTheyWereMeasuredFaster() {
        func p(n: Int = 128, c: Int, o: Int, side: Int) -> ConvPlan {
            ConvPlan(input: [n, c, side, side], weight: [o, c, 3, 3], padding: 1, policy: .auto)
        }
        XCTAssertEqual(p(c: 32, o: 32, side: 16).forward.algorithm, .winogradF43)
        XCTAssertEqual(p(c: 32, o: 32, side: 16).inputGradient.algorithm, .winogradF43)
        XCTAssertEqual(p(n: 1, c: 32, o: 32, side: 16).forward.algorithm, .winogradF43, "16 tiles in one image")
        XCTAssertEqual(p(c: 64, o: 64, side: 8).forward.algorithm, .winogradF43)
        XCTAssertEqual(p(n: 2, c: 64, o: 64, side: 8).forward.algorithm, .winogradF43, "8 tiles in 2 images")
        XCTAssertEqual(p(n: 1, c: 64, o: 64, side: 8).forward.algorithm, .winogradF23, "4 tiles: a thread's band would hold 2")
        XCTAssertEqual(p(c: 256, o: 256, side: 8).forward.algorithm, .winogradF43)
        XCTAssertEqual(p(c: 512, o: 512, side: 8).forward.algorithm, .winogradF23, "U of 36 × 512 × 512 floats")
        XCTAssertEqual(p(c: 256, o: 256, side: 4).forward.algorithm, .winogradF23, "one 4×4 tile per image")
        XCTAssertEqual(p(c: 16, o: 16, side: 32).forward.algorithm, .winogradF43)
        XCTAssertEqual(p(c: 16, o: 8, side: 32).forward.algorithm, .direct3x3, "8 output channels")
        XCTAssertEqual(p(c: 16, o: 8, side: 8).forward.algorithm, .winogradF23, "8 output channels, the direct kernel's rows too short")
        XCTAssertEqual(p(c: 16, o: 16, side: 32).weightGradient.algorithm, .winogradF43)
        XCTAssertEqual(p(c: 3, o: 16, side: 32).weightGradient.algorithm, .winogradF43, "the RGB stem's weight gradient")
        XCTAssertEqual(p(c: 2, o: 16, side: 32).weightGradient.algorithm, .im2col)
        XCTAssertEqual(p(c: 5, o: 16, side: 8).forward.algorithm, .im2col, "too few channels for Winograd's transforms")
        XCTAssertEqual(p(c: 512, o: 512, side: 4).weightGradient.algorithm, .winogradF23)
        XCTAssertTrue(p(c: 32, o: 32, side: 16).forward.reason.contains("4×4 tiles"))
        let flat = ConvPlan(input: [128, 32, 3, 16], weight: [32, 32, 3, 3], padding: 1)
        XCTAssertEqual(flat.forward.algorithm, .winogradF23, "3 rows of output: less than a tile high")
        let direct = ConvPlan(input: [128, 32, 16, 16], weight: [32, 32, 3, 3], padding: 1, policy: .direct)
        XCTAssertEqual(direct.forward.algorithm, .direct3x3)
        XCTAssertEqual(direct.weightGradient.algorithm, .winogradF43, "TESSERA_CONV=direct leaves the weight gradient as under auto")
        XCTAssertEqual(ConvPlan(input: [8, 32, 16, 16], weight: [32, 32, 3, 3], padding: 1, policy: .winograd).forward.algorithm, .winogradF23,
                       "TESSERA_CONV=winograd keeps 2×2 tiles")
    }

    /// An inference pass keeps the transformed weights with w's storage, one slot per tile size;
    /// changing w in place, or the tile size, must not reuse another's.
    func testTransformedWeightsKeptForInferenceFollowTheWeightsAndTheTileSize() {
        let x = TestData.randn([2, 24, 12, 12], seed: 150)
        let weight = TestData.randn([16, 24, 3, 3], seed: 151, std: 0.3)
        let reference = ConvPlan(input: x.shape, weight: weight.shape, padding: 1, policy: .im2col)
        for step in 0..<2 {
            let expected = withNoGrad { x.conv2d(weight: weight, bias: nil, plan: reference) }
            for policy in [ConvPolicy.winograd4, .winograd, .winograd4] {
                let kernel = Conv2dKernel(plan: ConvPlan(input: x.shape, weight: weight.shape, padding: 1, policy: policy))
                let y = withNoGrad { kernel.forward(x, weight, bias: nil, reuseWeights: true) }
                TensorCheck.close(y, expected, rtol: 1e-3, atol: 1e-3, "\(policy.rawValue), step \(step)")
            }
            withNoGrad { weight.assign(weight * -2) }
        }
    }

    func testWinogradIsNotUsedWhereItDoesNotApplyOrDoesNotPay() {
        func winograd(_ p: ConvPlan) -> Bool { [.winogradF23, .winogradF43].contains(p.weightGradient.algorithm) }
        XCTAssertTrue(winograd(plan(c: 16, o: 16)))
        XCTAssertTrue(winograd(plan(c: 3, o: 16)), "an RGB stem")
        XCTAssertFalse(winograd(plan(c: 2, o: 16)), "fewer than 3 input channels")
        XCTAssertTrue(winograd(plan(c: 16, o: 3)), "the input gradient of an RGB stem")
        XCTAssertFalse(winograd(plan(c: 16, o: 2)), "fewer than 3 output channels")
        XCTAssertFalse(winograd(plan(c: 16, o: 16, stride: 2)))
        XCTAssertFalse(winograd(plan(c: 16, o: 16, padding: 2, dilation: 2)))
        XCTAssertFalse(winograd(plan(c: 16, o: 16, groups: 2)))
        XCTAssertFalse(winograd(plan(c: 16, o: 16, padding: 2, kernel: 5)))
        XCTAssertFalse(winograd(plan(c: 16, o: 16, padding: 0, kernel: 1)))
        XCTAssertFalse(winograd(plan(c: 16, o: 16, side: 3, padding: 0)), "a 1×1 output fills a quarter of its tile")
        XCTAssertFalse(winograd(plan(c: 256, o: 256, side: 64)), "one image's tiles would need more than 16 MiB of workspace")
        XCTAssertEqual(plan(c: 16, o: 16, padding: 0, kernel: 1).forward.algorithm, .pointwise)
        XCTAssertEqual(plan(c: 16, o: 16, padding: 0, kernel: 1).weightGradient.algorithm, .pointwise)
    }

    func testPolicyIm2colNeverChoosesWinogradAndPolicyWinogradTakesItWhereverTheGeometryAllows() {
        for p in [plan(c: 16, o: 16, policy: .im2col), plan(c: 32, o: 64, side: 16, stride: 2, policy: .im2col)] {
            XCTAssertEqual(p.forward.algorithm, .im2col)
            XCTAssertEqual(p.weightGradient.algorithm, .im2col)
            XCTAssertTrue([.im2col, .col2im].contains(p.inputGradient.algorithm), "\(p)")
            XCTAssertTrue(p.forward.reason.contains("TESSERA_CONV=im2col"))
        }
        // Below auto's thresholds, but Winograd-shaped: forced.
        let stem = plan(c: 3, o: 16, side: 32, policy: .winograd)
        XCTAssertEqual(stem.forward.algorithm, .winogradF23)
        let thin = plan(c: 2, o: 2, policy: .winograd)
        XCTAssertEqual(thin.weightGradient.algorithm, .winogradF23)
        XCTAssertEqual(plan(c: 4, o: 4, side: 16, stride: 2, policy: .winograd).forward.algorithm, .winogradStride2)
        // Not Winograd-shaped: still im2col.
        XCTAssertEqual(plan(c: 16, o: 16, padding: 2, kernel: 5, policy: .winograd).forward.algorithm, .im2col)
    }

    func testThePlanNamesEveryPassWithAReasonAndTheInputGradientsConvolution() {
        let p = plan(c: 64, o: 64, side: 16)
        XCTAssertEqual(p.forward.algorithm, .winogradF43)
        XCTAssertTrue(p.inputGradientIsTransposedConvolution)
        XCTAssertEqual(p.transposed?.forward.algorithm, p.inputGradient.algorithm, "dX runs the transposed convolution's forward")
        for pass in [p.forward, p.inputGradient, p.weightGradient] { XCTAssertFalse(pass.reason.isEmpty) }
        XCTAssertTrue(p.description.contains("forward winogradF43"), p.description)
        let down = plan(c: 16, o: 32, side: 32, stride: 2)
        XCTAssertFalse(down.inputGradientIsTransposedConvolution)
        XCTAssertEqual(down.inputGradient.algorithm, .col2im)
        XCTAssertNil(down.transposed)
    }

    /// A stride-2 convolution is the stride-1 one sampled at even rows and columns, and its
    /// gradients are the stride-1 gradients for an upstream gradient that is zero elsewhere. The
    /// stride-1 path copies whole planes; stride 2 unfolds even-sized images from four phase planes
    /// (kernels 1–4 below, with the paddings that halve the image) and other sizes by moving every
    /// other column in 8-wide vectors, and folds gradients back into every other column (col2im).
    /// Widths 16, 17 and 33 run the vector loops several times, with their scalar ends.
    func testStride2ConvolutionIsStride1SampledAtEvenPositionsForwardAndBackward() {
        let cases: [(h: Int, w: Int, k: Int, padding: Int, dilation: Int, n: Int, c: Int, groups: Int)] = [
            // Phase planes: kernels 2–4, two groups, and 9 images of 16 channels at 32² (chunks of
            // 7 images, so each thread's share ends in a short chunk).
            (6, 16, 3, 1, 1, 2, 2, 1), (6, 10, 2, 0, 1, 2, 2, 1), (8, 12, 4, 1, 1, 2, 2, 1),
            (8, 8, 3, 1, 1, 2, 4, 2), (32, 32, 3, 1, 1, 9, 16, 1),
            // Column gathers: odd sizes, dilation, and the 1×1 kernel that reads one phase only.
            (5, 16, 3, 1, 1, 2, 2, 1), (5, 17, 3, 0, 1, 2, 2, 1), (7, 33, 3, 1, 1, 2, 2, 1),
            (5, 17, 3, 2, 2, 2, 2, 1), (6, 33, 3, 0, 2, 2, 2, 1), (8, 8, 1, 0, 1, 2, 2, 1),
        ]
        for (h, side, k, padding, dilation, n, c, groups) in cases {
            let o = 2 * groups
            let x = TestData.randn([n, c, h, side], seed: UInt64(side * 10 + h + k))
            let weight = TestData.randn([o, c / groups, k, k], seed: 7, std: 0.5)
            func grads(stride: Int, upstream: Tensor) -> (Tensor, Tensor, Tensor) {
                var xi = x.detach(), wi = weight.detach()
                xi.requiresGrad = true
                wi.requiresGrad = true
                let y = xi.conv2d(weight: wi, stride: Size2(stride, stride), padding: Size2(padding, padding),
                                  dilation: Size2(dilation, dilation), groups: groups)
                y.backward(upstream)
                return (y.detach(), xi.grad!, wi.grad!)
            }
            let what = "[\(n), \(c), \(h), \(side)] kernel \(k), padding \(padding), dilation \(dilation), groups \(groups)"
            let h1 = h + 2 * padding - dilation * (k - 1), w1 = side + 2 * padding - dilation * (k - 1)
            let h2 = (h1 + 1) / 2, w2 = (w1 + 1) / 2
            let upstream2 = TestData.randn([n, o, h2, w2], seed: 99)
            // The same gradient at the even rows and columns of the stride-1 output, zero elsewhere.
            let u2 = upstream2.scalars
            let upstream1 = Tensor(shape: [n, o, h1, w1]) { buffer in
                buffer.update(repeating: 0)
                for plane in 0..<(n * o) {
                    for i in 0..<h2 { for j in 0..<w2 { buffer[(plane * h1 + 2 * i) * w1 + 2 * j] = u2[(plane * h2 + i) * w2 + j] } }
                }
            }
            let (y2, dx2, dw2) = grads(stride: 2, upstream: upstream2)
            let (y1, dx1, dw1) = grads(stride: 1, upstream: upstream1)
            // The two sides sum in different orders (the stride-1 side partly through Winograd), so an
            // entry that cancels to near 0 keeps the rounding of the large terms: allow 1e-5 of the
            // tensor's largest value on top of the relative 1e-4.
            func check(_ a: Tensor, _ b: Tensor, _ name: String) {
                let scale = Double(b.scalars.map { Swift.abs($0) }.max() ?? 0)
                TensorCheck.close(a, b, rtol: 1e-4, atol: Swift.max(1e-5, 1e-5 * scale), "stride-2 \(name), \(what)")
            }
            check(y2, y1.slice(axis: 2, 0, h1, step: 2).slice(axis: 3, 0, w1, step: 2).contiguous(), "forward")
            check(dx2, dx1, "input gradient")
            check(dw2, dw1, "weight gradient")
        }
    }

    /// The stride-2 Winograd forward (F(4×4, 2×2) over the four phase planes) against im2col: the
    /// ResNet downsampling shapes (chunks that end short on each thread), channel counts that are
    /// not whole 8-lane vectors nor multiples of 4, outputs that end inside a tile, one tile.
    func testStride2WinogradForwardMatchesIm2col() {
        let cases: [(n: Int, c: Int, o: Int, h: Int, w: Int)] = [
            (9, 16, 32, 32, 32), (15, 32, 64, 16, 16),
            (3, 9, 11, 10, 14), (2, 13, 8, 12, 8), (2, 8, 19, 18, 22), (1, 8, 8, 8, 8),
        ]
        for (n, c, o, h, w) in cases {
            let what = "[\(n), \(c), \(h), \(w)] → \(o), stride 2"
            let x = TestData.randn([n, c, h, w], seed: UInt64(c * 100 + h))
            let weight = TestData.randn([o, c, 3, 3], seed: UInt64(o), std: 0.2)
            let plan = ConvPlan(input: x.shape, weight: weight.shape, stride: 2, padding: 1, policy: .winograd)
            XCTAssertEqual(plan.forward.algorithm, .winogradStride2, "\(what) should take the Winograd path")
            let reference = ConvPlan(input: x.shape, weight: weight.shape, stride: 2, padding: 1, policy: .im2col)
            onOneAndTwoThreads {
                let y = x.conv2d(weight: weight, bias: nil, plan: plan)
                let yRef = x.conv2d(weight: weight, bias: nil, plan: reference)
                TensorCheck.close(y, yRef, rtol: 1e-4, atol: 1e-4, "stride-2 Winograd forward \(what), \(Runtime.threads) thread(s)")
            }
        }
    }

    func testStride2WinogradIsUsedOnlyForPaddedEvenDownsamplingFromSeventeenChannels() {
        func stride2(c: Int = 32, o: Int = 16, h: Int = 16, w: Int = 16, k: Int = 3, padding: Int = 1, dilation: Int = 1, groups: Int = 1) -> Bool {
            // Batch 8: at batch 1 or 2 the direct kernel takes stride 2 (DirectConv3x3Tests).
            ConvPlan(input: [8, c, h, w], weight: [o, c / groups, k, k], stride: 2, padding: Size2(padding, padding),
                     dilation: Size2(dilation, dilation), groups: groups, policy: .auto).forward.algorithm == .winogradStride2
        }
        XCTAssertTrue(stride2())
        XCTAssertTrue(stride2(o: 8, h: 8, w: 8), "one 4×4 output tile")
        XCTAssertFalse(stride2(c: 16), "16 input channels: im2col over the phase planes is faster")
        XCTAssertFalse(stride2(o: 7), "fewer than 8 output channels")
        XCTAssertFalse(stride2(h: 6), "an output of 3 rows is less than a tile")
        XCTAssertFalse(stride2(h: 15), "odd height")
        XCTAssertFalse(stride2(padding: 0))
        XCTAssertFalse(stride2(k: 5, padding: 2))
        XCTAssertFalse(stride2(padding: 2, dilation: 2))
        XCTAssertFalse(stride2(c: 32, groups: 2))
        XCTAssertNotEqual(plan(c: 16, o: 16, side: 16).forward.algorithm, .winogradStride2, "stride 1")
    }

    func testTheStemsForwardRunsDirectWhileItsWeightGradientStaysWinograd() {
        XCTAssertEqual(plan(c: 3, o: 16, side: 32).forward.algorithm, .direct3x3, "the RGB stem's forward is direct")
        // Not 3×3 with padding 1: the direct kernel does not apply, and 5 channels are too few for Winograd.
        XCTAssertEqual(plan(c: 5, o: 16, side: 32, padding: 0).forward.algorithm, .im2col)
        XCTAssertEqual(plan(c: 6, o: 16, side: 32, padding: 0).forward.algorithm, .winogradF43)
        let stem = plan(c: 3, o: 16, side: 32)
        XCTAssertEqual(stem.weightGradient.algorithm, .winogradF43, "the stem's weight gradient is Winograd")
        XCTAssertEqual(stem.inputGradient.algorithm, .direct3x3, "the stem's input gradient (16 → 3) is a direct forward")
    }

    /// The im2col forward runs one GEMM per image straight into the output from
    /// `directOutputPositions` positions up, and batches smaller images into one GEMM per chunk
    /// with a staging copy: both ways agree, with groups, stride 2 and bias, on one and two threads.
    func testIm2colForwardPerImageAndBatchedAgree() {
        let x = TestData.randn([5, 4, 12, 10], seed: 3)
        let weight = TestData.randn([6, 2, 3, 3], seed: 4)
        let bias = TestData.randn([6], seed: 5)
        for stride in [1, 2] {
            func forward(directFrom positions: Int) -> Tensor {
                let plan = ConvPlan(input: x.shape, weight: weight.shape, stride: Size2(stride, stride), padding: 1, groups: 2)
                return Conv2dKernel(plan: plan, directOutputPositions: positions).forward(x, weight, bias: bias)
            }
            onOneAndTwoThreads {
                TensorCheck.close(forward(directFrom: 1), forward(directFrom: Int.max), rtol: 1e-5, atol: 1e-5,
                                  "stride \(stride), \(Runtime.threads) thread(s)")
            }
        }
    }

    func testWinogradChunksFitL2UnlessTheTransformedKernelIsLargeAndStayBounded() {
        let MiB = 1 << 20
        // ResNet-20's 32 → 64 stride-2 forward: 77 KB per image, U_ξ of 8,192 floats: L2-sized.
        XCTAssertEqual(winogradChunk(bytesPerImage: 76_800, tilesPerImage: 4, kernelFloats: 8192, images: 128, parts: 2), 13)
        // ResNet-18's 256 → 512 at 8×8: one tile per image, U_ξ of 524,288 floats → 512 tiles
        // wanted, one thread's 32 images given.
        XCTAssertEqual(winogradChunk(bytesPerImage: 153_600, tilesPerImage: 1, kernelFloats: 524_288, images: 64, parts: 2), 32)
        // The same at batch 1,024: capped at 16 MiB of workspace per thread.
        let capped = winogradChunk(bytesPerImage: 153_600, tilesPerImage: 1, kernelFloats: 524_288, images: 1024, parts: 2)
        XCTAssertEqual(capped, 16 * (MiB / 153_600))
        XCTAssertLessThanOrEqual(capped * 153_600, 16 * MiB)
        // An image larger than the budget: one at a time.
        XCTAssertEqual(winogradChunk(bytesPerImage: 2 * MiB, tilesPerImage: 256, kernelFloats: 4096, images: 8, parts: 1), 1)
    }

    func testPhasePlanesAreUsedExactlyForStride2OverEvenImagesThatHalve() {
        func geo(_ h: Int, _ w: Int, k: Int, stride: Int = 2, padding: Int, dilation: Int = 1) -> ConvGeometry {
            ConvGeometry(channels: 2, height: h, width: w, kernel: Size2(k, k), stride: Size2(stride, stride), padding: Size2(padding, padding),
                         dilation: Size2(dilation, dilation), op: "test")
        }
        XCTAssertTrue(geo(32, 32, k: 3, padding: 1).usesPhasePlanes)
        XCTAssertTrue(geo(8, 12, k: 2, padding: 0).usesPhasePlanes)
        XCTAssertFalse(geo(8, 12, k: 1, padding: 0).usesPhasePlanes, "a 1×1 kernel reads one phase: gathered directly")
        XCTAssertFalse(geo(9, 32, k: 3, padding: 1).usesPhasePlanes, "odd height")
        XCTAssertFalse(geo(16, 16, k: 3, padding: 0).usesPhasePlanes, "output 7 × 7, not half")
        XCTAssertFalse(geo(16, 16, k: 3, padding: 2, dilation: 2).usesPhasePlanes, "dilated")
        XCTAssertFalse(geo(16, 16, k: 3, stride: 1, padding: 1).usesPhasePlanes, "stride 1")
    }

    func testConv2dMatchesPyTorchForStridePaddingDilationGroupsAndBias() throws {
        let all = try fixtureCases("conv2d", op: "conv2d")
        XCTAssertGreaterThanOrEqual(all.count, 6)
        for c in all {
            FixtureRunner.run(c, fixture: "conv2d") { t in
                t["input"]!.conv2d(weight: t["weight"]!, bias: t["bias"], stride: c.size2("stride")!,
                                   padding: c.size2("padding")!, dilation: c.size2("dilation")!, groups: c.int("groups"))
            }
        }
    }

    /// Finite differences through both Winograd tile sizes (forward, the input gradient's
    /// flipped convolution and the weight gradient's adjoint), over an output of 9×7: whole and
    /// overhanging tiles. A convolution is linear in each input, so central differences are exact
    /// at any step: a step of 0.1 keeps the forward's rounding (about 1e-5 of the output's scale
    /// with 4×4 tiles) from swamping them.
    func testConv2dGradientThroughWinogradTilesOfTwoAndFour() {
        let saved = Runtime.convolutionPolicy
        defer { Runtime.convolutionPolicy = saved }
        for policy in [ConvPolicy.winograd, .winograd4] {
            Runtime.convolutionPolicy = policy
            GradCheck.check("conv2d 3x3 pad 1 under TESSERA_CONV=\(policy.rawValue)", [randn([2, 6, 9, 7], 88), randn([5, 6, 3, 3], 89, std: 0.5)],
                            eps: 0.1) {
                $0[0].conv2d(weight: $0[1], padding: 1)
            }
        }
    }

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
}
