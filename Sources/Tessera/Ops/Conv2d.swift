extension Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch). The algorithm of each pass — im2col + GEMM,
    /// a plain GEMM for 1×1, Winograd F(2×2, 3×3) for 3×3 stride 1, Winograd on phase planes for
    /// 3×3 stride 2 — is the ``ConvPlan`` of the call (``Runtime/convolutionPolicy`` and the geometry).
    ///
    /// - Parameters:
    ///   - weight: [outChannels, inChannels / groups, kh, kw].
    ///   - bias: [outChannels] or nil.
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
        let out = kernel.forward(x, w, bias: bias.map { $0.detach().contiguous() })
        guard Tensor.isRecording(self, weight, bias) else { return out }
        let inShape = shape, wShape = weight.shape
        return out.recorded("conv2d", inputs: [self, weight, bias]) { g, needs in
            let gy = g.contiguous()
            return [needs[0] ? Profiler.time(.convInputGradient) { kernel.inputGradient(gy, w, inputShape: inShape) } : nil,
                    needs[1] ? Profiler.time(.convWeightGradient) { kernel.weightGradient(gy, x, weightShape: wShape) } : nil,
                    needs[2] ? Profiler.time(.convWeightGradient) { gy.sum(axes: [0, 2, 3]) } : nil]
        }
    }
}
