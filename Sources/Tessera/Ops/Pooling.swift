// 2-D pooling over [N, C, H, W]: max, average, adaptive average, global average. Each op's
// backward sits beside its forward; the loops are in `PoolingKernel`.

extension Tensor {
    private func poolInput(_ op: String) -> (x: Tensor, planes: Int, h: Int, w: Int) {
        precondition(rank == 4, "\(op): expects a 4-D [N, C, H, W] input, got \(shape)")
        return (detach().contiguous(), shape[0] * shape[1], shape[2], shape[3])
    }

    /// Max pooling, as `torch.nn.functional.max_pool2d` (padding counts as −∞). The gradient goes
    /// to the first maximum of each window.
    public func maxPool2d(kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0, dilation: Size2 = 1, ceilMode: Bool = false) -> Tensor {
        let profile = Profiler.begin(.pooling); defer { Profiler.end(profile) }
        let (x, planes, H, W) = poolInput("maxPool2d")
        precondition(padding.h * 2 <= kernelSize.h && padding.w * 2 <= kernelSize.w,
                     "maxPool2d: padding \(padding) must be at most half of kernel \(kernelSize)")
        let g = ConvGeometry(channels: 1, height: H, width: W, kernel: kernelSize, stride: stride ?? kernelSize,
                             padding: padding, dilation: dilation, op: "maxPool2d", ceilMode: ceilMode)
        let kernel = PoolingKernel(planes: planes, H: H, W: W, OH: g.outH, OW: g.outW)
        let out = Tensor(empty: [shape[0], shape[1], g.outH, g.outW])
        let indices = IndexBuffer(count: out.count)
        kernel.maxForward(x: x, geometry: g, y: out, indices: indices)
        guard Tensor.isRecording(self) else { return out }
        let inShape = shape
        return out.recorded("max_pool2d", input: self) { grad in
            let dx = Tensor(empty: inShape)
            kernel.maxBackward(dy: grad.contiguous(), indices: indices, geometry: g, dx: dx)
            return dx
        }
    }

    /// Average pooling, as `torch.nn.functional.avg_pool2d`. With `countIncludePad` the divisor
    /// counts padded positions (clipped to the padded input); without, only real ones.
    public func avgPool2d(kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0, ceilMode: Bool = false, countIncludePad: Bool = true) -> Tensor {
        let profile = Profiler.begin(.pooling); defer { Profiler.end(profile) }
        let (x, planes, H, W) = poolInput("avgPool2d")
        precondition(padding.h * 2 <= kernelSize.h && padding.w * 2 <= kernelSize.w,
                     "avgPool2d: padding \(padding) must be at most half of kernel \(kernelSize)")
        let g = ConvGeometry(channels: 1, height: H, width: W, kernel: kernelSize, stride: stride ?? kernelSize,
                             padding: padding, dilation: 1, op: "avgPool2d", ceilMode: ceilMode)
        // Window bounds and divisor of every output position (the same for every plane).
        var bounds: [Int32] = [], scales: [Float] = []
        for oh in 0..<g.outH {
            for ow in 0..<g.outW {
                var h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw
                var h1 = Swift.min(h0 + g.kh, H + g.ph), w1 = Swift.min(w0 + g.kw, W + g.pw)
                let padded = (h1 - h0) * (w1 - w0)
                h0 = Swift.max(h0, 0); w0 = Swift.max(w0, 0); h1 = Swift.min(h1, H); w1 = Swift.min(w1, W)
                let divisor = countIncludePad ? padded : (h1 - h0) * (w1 - w0)
                bounds += [Int32(h0), Int32(Swift.max(h0, h1)), Int32(w0), Int32(Swift.max(w0, w1))]
                scales.append(divisor > 0 ? 1 / Float(divisor) : 0)
            }
        }
        return averaged(x, PoolingKernel(planes: planes, H: H, W: W, OH: g.outH, OW: g.outW), bounds: bounds, scales: scales, op: "avg_pool2d")
    }

    /// Adaptive average pooling to `outputSize`, as `torch.nn.functional.adaptive_avg_pool2d`:
    /// output cell i covers input rows ⌊i·H/oh⌋ ..< ⌈(i+1)·H/oh⌉.
    public func adaptiveAvgPool2d(_ outputSize: Size2) -> Tensor {
        let profile = Profiler.begin(.pooling); defer { Profiler.end(profile) }
        let (x, planes, H, W) = poolInput("adaptiveAvgPool2d")
        let OH = outputSize.h, OW = outputSize.w
        precondition(OH > 0 && OW > 0, "adaptiveAvgPool2d: output size \(outputSize) must be positive")
        if OH == 1 && OW == 1 { return globalAveraged(x, planes: planes, H: H, W: W) }
        var bounds: [Int32] = [], scales: [Float] = []
        for oh in 0..<OH {
            for ow in 0..<OW {
                let h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH
                let w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW
                let cells = (h1 - h0) * (w1 - w0)
                bounds += [Int32(h0), Int32(h1), Int32(w0), Int32(w1)]
                scales.append(cells > 0 ? 1 / Float(cells) : 0)
            }
        }
        return averaged(x, PoolingKernel(planes: planes, H: H, W: W, OH: OH, OW: OW), bounds: bounds, scales: scales, op: "adaptive_avg_pool2d")
    }

    /// Average pooling over precomputed windows, forward and backward.
    private func averaged(_ x: Tensor, _ kernel: PoolingKernel, bounds: [Int32], scales: [Float], op: String) -> Tensor {
        let out = Tensor(empty: [shape[0], shape[1], kernel.OH, kernel.OW])
        kernel.averageForward(x: x, bounds: bounds, scales: scales, y: out)
        guard Tensor.isRecording(self) else { return out }
        let inShape = shape
        return out.recorded(op, input: self) { grad in
            let dx = Tensor.zeros(inShape)
            kernel.averageBackward(dy: grad.contiguous(), bounds: bounds, scales: scales, dx: dx)
            return dx
        }
    }

    /// Global average pooling: [N, C, H, W] → [N, C, 1, 1] (the mean of each plane).
    public func globalAvgPool2d() -> Tensor {
        let profile = Profiler.begin(.pooling); defer { Profiler.end(profile) }
        let (x, planes, H, W) = poolInput("globalAvgPool2d")
        return globalAveraged(x, planes: planes, H: H, W: W)
    }

    private func globalAveraged(_ x: Tensor, planes: Int, H: Int, W: Int) -> Tensor {
        let kernel = PoolingKernel(planes: planes, H: H, W: W, OH: 1, OW: 1)
        let out = Tensor(empty: [shape[0], shape[1], 1, 1])
        kernel.globalForward(x: x, y: out)
        guard Tensor.isRecording(self) else { return out }
        let inShape = shape
        return out.recorded("global_avg_pool2d", input: self) { grad in
            let dx = Tensor(empty: inShape)
            kernel.globalBackward(dy: grad.contiguous(), dx: dx)
            return dx
        }
    }
}
