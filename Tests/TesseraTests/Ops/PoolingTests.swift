import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// Pooling (Ops/Pooling.swift, Kernels/PoolingKernel.swift): PyTorch fixtures, gradients, the 2×2 fast path, threads.
final class PoolingTests: XCTestCase {
    func testMaxPool2dMatchesPyTorch() throws {
        for c in try fixtureCases("pool", op: "max_pool2d") {
            FixtureRunner.run(c, fixture: "pool") { t in
                t["input"]!.maxPool2d(kernelSize: c.size2("kernel_size")!, stride: c.size2("stride"), padding: c.size2("padding")!,
                                      dilation: c.size2("dilation") ?? 1, ceilMode: c.bool("ceil_mode"))
            }
        }
    }

    func testAvgPool2dMatchesPyTorchWithAndWithoutCountIncludePad() throws {
        let all = try fixtureCases("pool", op: "avg_pool2d")
        XCTAssertTrue(all.contains { $0.bool("count_include_pad") } && all.contains { !$0.bool("count_include_pad") })
        for c in all {
            FixtureRunner.run(c, fixture: "pool") { t in
                t["input"]!.avgPool2d(kernelSize: c.size2("kernel_size")!, stride: c.size2("stride"), padding: c.size2("padding")!,
                                      ceilMode: c.bool("ceil_mode"), countIncludePad: c.bool("count_include_pad"))
            }
        }
    }

    func testAdaptiveAvgPool2dMatchesPyTorchForGlobalAndOverlappingWindows() throws {
        for c in try fixtureCases("pool", op: "adaptive_avg_pool2d") {
            FixtureRunner.run(c, fixture: "pool") { t in t["input"]!.adaptiveAvgPool2d(c.size2("output_size")!) }
        }
    }

    func testGlobalAvgPool2dMatchesPyTorchAdaptivePoolingToOneByOne() throws {
        for c in try fixtureCases("pool", op: "adaptive_avg_pool2d") where c.size2("output_size") == Size2(1, 1) {
            FixtureRunner.run(c, fixture: "pool") { t in t["input"]!.globalAvgPool2d() }
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

    func testThreadedGeluAndMaxPoolAgreeWithTheirSingleThreadedResults() {
        // Big enough that GELU and max-pooling split the work across two threads; the reference
        // is the same op on pieces below the threshold (one thread) or the formula itself.
        let saved = Runtime.threads
        Runtime.threads = 2
        defer { Runtime.threads = saved }
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

    /// Whole 2×2 windows at stride 2 take their own vectorized loops (forward, and a backward that
    /// overwrites the input gradient); they keep the generic rule: the first maximum in row-major
    /// order wins a tie, a NaN wins its window, and the gradient goes to the winner, 0 elsewhere.
    /// Rows of 19 give vectors and a scalar tail, and a last column no window covers; of 7 rows
    /// the last is dropped.
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
}
