extension Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch). The algorithm of each pass — im2col + GEMM,
    /// a plain GEMM for 1×1, Winograd F(2×2, 3×3) or F(4×4, 3×3) for 3×3 stride 1, Winograd on
    /// phase planes for 3×3 stride 2, a direct 3×3 kernel for thin layers and small batches — is
    /// the ``ConvPlan`` of the call (``Runtime/convolutionPolicy`` and the geometry).
    ///
    /// - Parameters:
    ///   - weight: [outChannels, inChannels / groups, kh, kw].
    ///   - bias: [outChannels] or nil.
    ///   - stride: step of the kernel over the input (h, w).
    ///   - padding: zeros added on each side (h, w).
    ///   - dilation: spacing of the kernel's taps (h, w).
    ///   - groups: channel groups (inChannels and outChannels divisible by it).
    /// - Returns: [N, outChannels, outH, outW] for an input of [N, inChannels, H, W].
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: Size2 = 1, padding: Size2 = 0, dilation: Size2 = 1, groups: Int = 1) -> Tensor {
        let profile = Profiler.begin(.convForward); defer { Profiler.end(profile) }
        precondition(rank == 4 && weight.rank == 4, "conv2d: input \(shape) and weight \(weight.shape) must both be 4-D ([N, C, H, W] and [O, C/groups, kh, kw])")
        precondition(groups >= 1 && shape[1] % groups == 0 && weight.shape[0] % groups == 0 && weight.shape[1] == shape[1] / groups,
                     "conv2d: input \(shape) does not fit weight \(weight.shape) with groups \(groups)")
        if let bias { precondition(bias.shape == [weight.shape[0]], "conv2d: bias \(bias.shape) does not fit weight \(weight.shape)") }
        let plan = ConvPlan(input: shape, weight: weight.shape, stride: stride, padding: padding, dilation: dilation, groups: groups)
        return conv2d(weight: weight, bias: bias, plan: plan)
    }

    /// ``conv2d(weight:bias:stride:padding:dilation:groups:)`` with the given plan (tests run
    /// each algorithm this way).
    func conv2d(weight: Tensor, bias: Tensor?, plan: ConvPlan) -> Tensor {
        let kernel = Conv2dKernel(plan: plan)
        let x = detach().contiguous(), w = weight.detach().contiguous()
        let recording = Tensor.isRecording(self, weight, bias)
        // Without a gradient (inference), transformed weights are reused until the weights change.
        let out = kernel.forward(x, w, bias: bias.map { $0.detach().contiguous() }, reuseWeights: !recording)
        guard recording else { return out }
        let inShape = shape, wShape = weight.shape
        return out.recorded("conv2d", inputs: [self, weight, bias]) { g, needs in
            let gy = g.contiguous()
            return [needs[0] ? Profiler.time(.convInputGradient) { kernel.inputGradient(gy, w, inputShape: inShape) } : nil,
                    needs[1] ? Profiler.time(.convWeightGradient) { kernel.weightGradient(gy, x, weightShape: wShape) } : nil,
                    needs[2] ? Profiler.time(.convWeightGradient) { gy.sum(axes: [0, 2, 3]) } : nil]
        }
    }
}

/// A batch norm in evaluation mode, as what it applies: `(x − mean) / √(var + eps) · weight + bias`
/// per channel. ``Tensor/conv2d(weight:bias:stride:padding:dilation:groups:normalizedBy:adding:relu:)``
/// folds it into the convolution.
public struct InferenceBatchNorm {
    /// Running mean and variance [C].
    public var runningMean: Tensor, runningVar: Tensor
    /// Scale and shift [C], or nil (1 and 0).
    public var weight: Tensor?, bias: Tensor?
    /// Added to the variance.
    public var eps: Float

    /// The normalization with these statistics and parameters.
    public init(runningMean: Tensor, runningVar: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) {
        self.runningMean = runningMean
        self.runningVar = runningVar
        self.weight = weight
        self.bias = bias
        self.eps = eps
    }
}

extension Tensor {
    /// `relu(norm(conv2d(x)) + residual)` — a ResNet block's convolution, batch norm, shortcut and
    /// ReLU — with each part optional.
    ///
    /// When nothing records a gradient (inference), batch norm is folded into the convolution's
    /// weights and bias (`w·s`, `(b − mean)·s + β` with `s = γ / √(var + eps)`), which are kept
    /// with the weights' storage until the weights or the statistics change, and the residual and
    /// ReLU are applied as the output is written: one pass over the output instead of four. The
    /// result differs from the composed ops by rounding only. When a gradient is recorded, this
    /// is exactly the composition (convolution, ``batchNorm(runningMean:runningVar:weight:bias:training:momentum:eps:)``
    /// in evaluation, addition, ``relu()``).
    ///
    /// - Parameters:
    ///   - weight: [outChannels, inChannels / groups, kh, kw].
    ///   - bias: [outChannels] or nil.
    ///   - stride: step of the kernel over the input (h, w).
    ///   - padding: zeros added on each side (h, w).
    ///   - dilation: spacing of the kernel's taps (h, w).
    ///   - groups: channel groups.
    ///   - norm: the batch norm that follows the convolution, or nil.
    ///   - residual: [N, outChannels, outH, outW], added after the normalization, or nil.
    ///   - relu: whether max(·, 0) comes last.
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: Size2 = 1, padding: Size2 = 0, dilation: Size2 = 1, groups: Int = 1,
                       normalizedBy norm: InferenceBatchNorm?, adding residual: Tensor? = nil, relu: Bool = false) -> Tensor {
        let O = weight.shape.first ?? 0
        if let norm {
            for (name, t) in [("runningMean", norm.runningMean), ("runningVar", norm.runningVar), ("weight", norm.weight), ("bias", norm.bias)] {
                if let t { precondition(t.shape == [O], "conv2d: batch norm \(name) \(t.shape) does not fit weight \(weight.shape)") }
            }
        }
        let recording = Tensor.isRecording(self, weight, bias, norm?.weight, norm?.bias, residual)
        if recording {
            var y = conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
            if let norm {
                let fuseReLU = relu && residual == nil
                y = fuseReLU
                    ? y.batchNormReLU(runningMean: norm.runningMean, runningVar: norm.runningVar, weight: norm.weight, bias: norm.bias,
                                      training: false, momentum: 0, eps: norm.eps)
                    : y.batchNorm(runningMean: norm.runningMean, runningVar: norm.runningVar, weight: norm.weight, bias: norm.bias,
                                  training: false, momentum: 0, eps: norm.eps)
                if fuseReLU { return y }
            }
            if let residual { y = y + residual }
            return relu ? y.relu() : y
        }
        let profile = Profiler.begin(.convForward); defer { Profiler.end(profile) }
        precondition(rank == 4 && weight.rank == 4, "conv2d: input \(shape) and weight \(weight.shape) must both be 4-D ([N, C, H, W] and [O, C/groups, kh, kw])")
        precondition(groups >= 1 && shape[1] % groups == 0 && weight.shape[0] % groups == 0 && weight.shape[1] == shape[1] / groups,
                     "conv2d: input \(shape) does not fit weight \(weight.shape) with groups \(groups)")
        if let bias { precondition(bias.shape == [O], "conv2d: bias \(bias.shape) does not fit weight \(weight.shape)") }
        let plan = ConvPlan(input: shape, weight: weight.shape, stride: stride, padding: padding, dilation: dilation, groups: groups)
        let outShape = [shape[0], O, plan.geometry.outH, plan.geometry.outW]
        if let residual { precondition(residual.shape == outShape, "conv2d: residual \(residual.shape) does not fit the output \(outShape)") }
        var w = weight.contiguous(), b = bias?.contiguous()
        if let norm { (w, b) = Tensor.folding(norm, into: w, bias: b) }
        return Conv2dKernel(plan: plan).forward(contiguous(), w, bias: b, reuseWeights: true, residual: residual?.contiguous(), relu: relu)
    }
}
