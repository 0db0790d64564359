import XCTest
@testable import Tessera

/// Winograd F(2×2, 3×3) against the im2col path it replaces for 3×3 stride-1 convolutions of at
/// least 3 channels in and 8 out (the PyTorch fixtures `winograd_*` in conv2d.json pin it too).
final class WinogradTests: XCTestCase {
    /// Runs `body` with Winograd switched off, so the im2col path gives the reference.
    private func withoutWinograd<R>(_ body: () -> R) -> R {
        let saved = Conv2dKernel.winograd
        Conv2dKernel.winograd = false
        defer { Conv2dKernel.winograd = saved }
        return body()
    }

    /// Output, input gradient and weight gradient with and without Winograd, for random data.
    private func compare(n: Int, c: Int, o: Int, h: Int, w: Int, padding: Int, seed: UInt64,
                         file: StaticString = #filePath, line: UInt = #line) {
        let x = TestData.randn([n, c, h, w], seed: seed)
        let weight = TestData.randn([o, c, 3, 3], seed: seed + 1, std: 0.2)
        let upstream = TestData.randn([n, o, h + 2 * padding - 2, w + 2 * padding - 2], seed: seed + 2)
        func run() -> (Tensor, Tensor, Tensor) {
            var xi = x.detach(), wi = weight.detach()
            xi.requiresGrad = true
            wi.requiresGrad = true
            let y = xi.conv2d(weight: wi, padding: Size2(padding, padding))
            y.backward(upstream)
            return (y.detach(), xi.grad!, wi.grad!)
        }
        XCTAssertNotNil(WinogradF23(geo: ConvGeometry(channels: c, height: h, width: w, kernel: 3, stride: 1, padding: Size2(padding, padding),
                                                      dilation: 1, op: "test"), n: n, groups: 1, outChannels: o),
                        "shape [\(n), \(c), \(h), \(w)] → \(o) should take the Winograd path", file: file, line: line)
        let (y, dx, dw) = run()
        let (yRef, dxRef, dwRef) = withoutWinograd(run)
        let what = "[\(n), \(c), \(h), \(w)] → \(o), padding \(padding)"
        // Sums of up to C·9 products: absolute error scales with the output's magnitude (≈ 1 here).
        TensorCheck.close(y, yRef, rtol: 1e-4, atol: 1e-4, "Winograd forward \(what)", file: file, line: line)
        TensorCheck.close(dx, dxRef, rtol: 1e-4, atol: 1e-4, "Winograd input gradient \(what)", file: file, line: line)
        TensorCheck.close(dw, dwRef, rtol: 1e-4, atol: 1e-4, "weight gradient \(what)", file: file, line: line)
    }

    func testWinogradMatchesIm2colOnResNetShapes() {
        compare(n: 4, c: 3, o: 16, h: 32, w: 32, padding: 1, seed: 5)   // the stem (its input gradient stays im2col)
        compare(n: 5, c: 16, o: 16, h: 32, w: 32, padding: 1, seed: 10)
        compare(n: 9, c: 32, o: 32, h: 16, w: 16, padding: 1, seed: 20)
        // 37 images of 8×8 with 64 channels: several chunks per thread, and a last chunk that is short.
        compare(n: 37, c: 64, o: 64, h: 8, w: 8, padding: 1, seed: 30)
    }

    func testWinogradMatchesIm2colOnOddSizesAndOtherPaddings() {
        compare(n: 3, c: 8, o: 11, h: 7, w: 13, padding: 1, seed: 40)   // odd output: half tiles on two edges
        compare(n: 2, c: 10, o: 8, h: 9, w: 6, padding: 0, seed: 50)
        compare(n: 2, c: 8, o: 9, h: 5, w: 11, padding: 2, seed: 60)
        compare(n: 1, c: 12, o: 8, h: 3, w: 3, padding: 0, seed: 70)    // a single output pixel
    }

    func testWinogradIsNotUsedWhereItDoesNotApply() {
        func plan(c: Int, o: Int, stride: Size2 = 1, dilation: Size2 = 1, groups: Int = 1, kernel: Size2 = 3) -> WinogradF23? {
            WinogradF23(geo: ConvGeometry(channels: c / groups, height: 8, width: 8, kernel: kernel, stride: stride, padding: 1,
                                          dilation: dilation, op: "test"), n: 2, groups: groups, outChannels: o)
        }
        XCTAssertNotNil(plan(c: 16, o: 16))
        XCTAssertNotNil(plan(c: 3, o: 16), "an RGB stem")
        XCTAssertNil(plan(c: 2, o: 16), "fewer than 3 input channels")
        XCTAssertNil(plan(c: 16, o: 4), "fewer than 8 output channels")
        XCTAssertNil(plan(c: 16, o: 16, stride: 2))
        XCTAssertNil(plan(c: 16, o: 16, dilation: 2))
        XCTAssertNil(plan(c: 16, o: 16, groups: 2))
        XCTAssertNil(plan(c: 16, o: 16, kernel: 5))
    }
}
