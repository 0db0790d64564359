// 2-D pooling over [N, C, H, W]: max, average, adaptive average. Forward and backward side by side.

extension Tensor {
    private func poolInput(_ op: String) -> (x: Tensor, planes: Int, h: Int, w: Int) {
        precondition(rank == 4, "\(op): expects a 4-D [N, C, H, W] input, got \(shape)")
        return (detach().contiguous(), shape[0] * shape[1], shape[2], shape[3])
    }

    /// Max pooling, as `torch.nn.functional.max_pool2d` (padding counts as −∞). The gradient goes
    /// to the first maximum of each window.
    public func maxPool2d(kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0, dilation: Size2 = 1, ceilMode: Bool = false) -> Tensor {
        let (x, planes, H, W) = poolInput("maxPool2d")
        precondition(padding.h * 2 <= kernelSize.h && padding.w * 2 <= kernelSize.w,
                     "maxPool2d: padding \(padding) must be at most half of kernel \(kernelSize)")
        let g = ConvGeometry(channels: 1, height: H, width: W, kernel: kernelSize, stride: stride ?? kernelSize,
                             padding: padding, dilation: dilation, op: "maxPool2d", ceilMode: ceilMode)
        let OH = g.outH, OW = g.outW
        let out = Tensor(empty: [shape[0], shape[1], OH, OW])
        var argmax = [Int32](repeating: -1, count: out.count)
        argmax.withUnsafeMutableBufferPointer { idxBuffer in
            let xp = x.ptr, yp = out.ptr, idx = idxBuffer.baseAddress!
            // Planes are independent: split them across Tessera's threads.
            let halving = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 && g.dh == 1 && g.dw == 1
                && 2 * OH <= H && 2 * OW <= W
            Parallel.forRanges(planes, parts: Parallel.parts(for: x.count, minimum: Parallel.minimumElements)) { range in
            for p in range {
                let src = xp + p * H * W
                if halving {
                    maxPool2x2(src, width: W, outHeight: OH, outWidth: OW, into: yp + p * OH * OW, indices: idx + p * OH * OW)
                    continue
                }
                for oh in 0..<OH {
                    for ow in 0..<OW {
                        var best = -Float.infinity, bi: Int32 = -1
                        for i in 0..<g.kh {
                            let ih = oh * g.sh - g.ph + i * g.dh
                            if ih < 0 || ih >= H { continue }
                            for j in 0..<g.kw {
                                let iw = ow * g.sw - g.pw + j * g.dw
                                if iw < 0 || iw >= W { continue }
                                let v = src[ih * W + iw]
                                if v > best || bi < 0 || v.isNaN { best = v; bi = Int32(ih * W + iw) }
                            }
                        }
                        let o = (p * OH + oh) * OW + ow
                        yp[o] = best; idx[o] = bi
                    }
                }
            }
            }
        }
        guard Tensor.isRecording(self) else { return out }
        let inShape = shape
        return out.recorded("max_pool2d", (self, { grad in
            let gy = grad.contiguous(), dx = Tensor.zeros(inShape)
            let gp = gy.ptr, dp = dx.ptr, per = OH * OW
            argmax.withUnsafeBufferPointer { idxBuffer in
                let idx = idxBuffer.baseAddress!
                Parallel.forRanges(planes, parts: Parallel.parts(for: planes * H * W, minimum: Parallel.minimumElements)) { range in
                    for p in range {
                        for k in 0..<per where idx[p * per + k] >= 0 { dp[p * H * W + Int(idx[p * per + k])] += gp[p * per + k] }
                    }
                }
            }
            return dx
        }))
    }

    /// Average pooling, as `torch.nn.functional.avg_pool2d`. With `countIncludePad` the divisor
    /// counts padded positions (clipped to the padded input); without, only real ones.
    public func avgPool2d(kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0, ceilMode: Bool = false, countIncludePad: Bool = true) -> Tensor {
        let (x, planes, H, W) = poolInput("avgPool2d")
        precondition(padding.h * 2 <= kernelSize.h && padding.w * 2 <= kernelSize.w,
                     "avgPool2d: padding \(padding) must be at most half of kernel \(kernelSize)")
        let g = ConvGeometry(channels: 1, height: H, width: W, kernel: kernelSize, stride: stride ?? kernelSize,
                             padding: padding, dilation: 1, op: "avgPool2d", ceilMode: ceilMode)
        let OH = g.outH, OW = g.outW
        // Window bounds and divisor of every output position (same for every plane).
        var windows: [PoolWindow] = []
        windows.reserveCapacity(OH * OW)
        for oh in 0..<OH {
            for ow in 0..<OW {
                var h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw
                var h1 = Swift.min(h0 + g.kh, H + g.ph), w1 = Swift.min(w0 + g.kw, W + g.pw)
                let padded = (h1 - h0) * (w1 - w0)
                h0 = Swift.max(h0, 0); w0 = Swift.max(w0, 0); h1 = Swift.min(h1, H); w1 = Swift.min(w1, W)
                let divisor = countIncludePad ? padded : (h1 - h0) * (w1 - w0)
                windows.append((h0, h1, w0, w1, divisor > 0 ? 1 / Float(divisor) : 0))
            }
        }
        return averagedOverWindows(x, windows: windows, planes: planes, H: H, W: W, OH: OH, OW: OW, op: "avg_pool2d")
    }

    /// Adaptive average pooling to `outputSize`, as `torch.nn.functional.adaptive_avg_pool2d`:
    /// output cell i covers input rows ⌊i·H/oh⌋ ..< ⌈(i+1)·H/oh⌉.
    public func adaptiveAvgPool2d(_ outputSize: Size2) -> Tensor {
        let (x, planes, H, W) = poolInput("adaptiveAvgPool2d")
        let OH = outputSize.h, OW = outputSize.w
        precondition(OH > 0 && OW > 0, "adaptiveAvgPool2d: output size \(outputSize) must be positive")
        if OH == 1 && OW == 1 { return globalAveragePooled(x: x, planes: planes, H: H, W: W) }
        var windows: [PoolWindow] = []
        for oh in 0..<OH {
            for ow in 0..<OW {
                let h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH
                let w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW
                let cnt = (h1 - h0) * (w1 - w0)
                windows.append((h0, h1, w0, w1, cnt > 0 ? 1 / Float(cnt) : 0))
            }
        }
        return averagedOverWindows(x, windows: windows, planes: planes, H: H, W: W, OH: OH, OW: OW, op: "adaptive_avg_pool2d")
    }

    /// A rectangle of input positions [h0, h1) × [w0, w1) averaged into one output, with 1/divisor.
    typealias PoolWindow = (h0: Int, h1: Int, w0: Int, w1: Int, scale: Float)

    /// Average pooling over precomputed windows (the same for every plane), forward and backward.
    /// x: [N, C, H, W] contiguous; output [N, C, OH, OW] with `windows` in row-major output order.
    private func averagedOverWindows(_ x: Tensor, windows: [PoolWindow], planes: Int, H: Int, W: Int, OH: Int, OW: Int, op: String) -> Tensor {
        let out = Tensor(empty: [shape[0], shape[1], OH, OW])
        let xp = x.ptr, yp = out.ptr, per = OH * OW
        for p in 0..<planes {
            let src = xp + p * H * W
            for (k, win) in windows.enumerated() {
                var s: Float = 0
                for ih in win.h0..<Swift.max(win.h0, win.h1) { for iw in win.w0..<Swift.max(win.w0, win.w1) { s += src[ih * W + iw] } }
                yp[p * per + k] = s * win.scale
            }
        }
        guard Tensor.isRecording(self) else { return out }
        let inShape = shape
        return out.recorded(op, (self, { grad in
            let gy = grad.contiguous(), dx = Tensor.zeros(inShape)
            let gp = gy.ptr, dp = dx.ptr
            for p in 0..<planes {
                let dst = dp + p * H * W
                for (k, win) in windows.enumerated() {
                    let v = gp[p * per + k] * win.scale
                    for ih in win.h0..<Swift.max(win.h0, win.h1) { for iw in win.w0..<Swift.max(win.w0, win.w1) { dst[ih * W + iw] += v } }
                }
            }
            return dx
        }))
    }

    /// Global average pooling: [N, C, H, W] → [N, C, 1, 1] (the mean of each plane).
    public func globalAvgPool2d() -> Tensor {
        let (x, planes, H, W) = poolInput("globalAvgPool2d")
        return globalAveragePooled(x: x, planes: planes, H: H, W: W)
    }

    private func globalAveragePooled(x: Tensor, planes: Int, H: Int, W: Int) -> Tensor {
        let S = H * W, scale = S > 0 ? 1 / Float(S) : 0
        let out = Tensor(empty: [shape[0], shape[1], 1, 1])
        let xp = x.ptr, yp = out.ptr
        for p in 0..<planes {
            var s: Float = 0
            let src = xp + p * S
            for k in 0..<S { s += src[k] }
            yp[p] = s * scale
        }
        guard Tensor.isRecording(self) else { return out }
        let inShape = shape
        return out.recorded("global_avg_pool2d", (self, { grad in
            let gy = grad.contiguous(), dx = Tensor(empty: inShape)
            let gp = gy.ptr, dp = dx.ptr
            for p in 0..<planes { (dp + p * S).update(repeating: gp[p] * scale, count: S) }
            return dx
        }))
    }
}

/// 2×2 max-pooling with stride 2 of one plane whose windows all lie inside it, four outputs at a
/// time: y[oh, ow] = max of x[2·oh + i, 2·ow + j] and `indices` its flat index in the plane, with
/// the generic loop's rule — the first maximum in row-major order, a NaN taking the place.
/// x: [H, width] (H ≥ 2·outHeight), y and indices: [outHeight, outWidth].
private func maxPool2x2(_ x: UnsafePointer<Float>, width W: Int, outHeight OH: Int, outWidth OW: Int,
                        into y: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>) {
    let lanes = SIMD4<Int32>(0, 2, 4, 6)
    for oh in 0..<OH {
        let r0 = x + 2 * oh * W, r1 = r0 + W, yr = y + oh * OW, ir = indices + oh * OW
        var ow = 0
        while ow + 4 <= OW {
            let top = UnsafeRawPointer(r0 + 2 * ow).loadUnaligned(as: SIMD8<Float>.self)
            let bottom = UnsafeRawPointer(r1 + 2 * ow).loadUnaligned(as: SIMD8<Float>.self)
            // Candidates in row-major order: (0, 0), (0, 1), (1, 0), (1, 1).
            var best = top.evenHalf, which = SIMD4<Int32>(repeating: 0)
            @inline(__always) func consider(_ v: SIMD4<Float>, _ k: Int32) {
                let take = (v .> best) .| (v .!= v)
                best.replace(with: v, where: take)
                which.replace(with: k, where: take)
            }
            consider(top.oddHalf, 1)
            consider(bottom.evenHalf, 2)
            consider(bottom.oddHalf, 3)
            UnsafeMutableRawPointer(yr + ow).storeBytes(of: best, as: SIMD4<Float>.self)
            let flat = SIMD4<Int32>(repeating: Int32(2 * oh * W + 2 * ow)) &+ lanes &+ (which &>> 1) &* Int32(W) &+ (which & 1)
            UnsafeMutableRawPointer(ir + ow).storeBytes(of: flat, as: SIMD4<Int32>.self)
            ow += 4
        }
        while ow < OW {
            let first = 2 * oh * W + 2 * ow
            var best = r0[2 * ow], bi = first
            @inline(__always) func consider(_ v: Float, _ k: Int) { if v > best || v.isNaN { best = v; bi = k } }
            consider(r0[2 * ow + 1], first + 1)
            consider(r1[2 * ow], first + W)
            consider(r1[2 * ow + 1], first + W + 1)
            yr[ow] = best; ir[ow] = Int32(bi)
            ow += 1
        }
    }
}
