import CTesseraKernels

// Activations. Forward and backward side by side, each one elementwise pass (see `Elementwise`).

extension Tensor {
    /// max(x, 0) elementwise (NaN → 0).
    public func relu() -> Tensor {
        let profile = Profiler.begin(.activation); defer { Profiler.end(profile) }
        let out = Elementwise.unary(TK_UNARY_RELU, self)
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("relu", input: self) { g in Elementwise.binary(TK_BINARY_RELU_BACKWARD, g, y, name: "relu_backward") }
    }

    /// x for x > 0, `negativeSlope`·x otherwise.
    public func leakyRelu(negativeSlope: Float = 0.01) -> Tensor {
        let profile = Profiler.begin(.activation); defer { Profiler.end(profile) }
        let s = negativeSlope
        let out = Elementwise.unary(TK_UNARY_LEAKY_RELU, self, s)
        guard Tensor.isRecording(self) else { return out }
        let x = detach()
        return out.recorded("leaky_relu", input: self) { g in Elementwise.binary(TK_BINARY_LEAKY_RELU_BACKWARD, g, x, name: "leaky_relu_backward", s) }
    }

    /// 1 / (1 + e⁻ˣ) elementwise.
    public func sigmoid() -> Tensor {
        let profile = Profiler.begin(.activation); defer { Profiler.end(profile) }
        let out = Elementwise.unary(TK_UNARY_SIGMOID, self)
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("sigmoid", input: self) { g in Elementwise.binary(TK_BINARY_SIGMOID_BACKWARD, g, y, name: "sigmoid_backward") }
    }

    /// Hyperbolic tangent elementwise.
    public func tanh() -> Tensor {
        let profile = Profiler.begin(.activation); defer { Profiler.end(profile) }
        let out = Elementwise.unary(TK_UNARY_TANH, self)
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("tanh", input: self) { g in Elementwise.binary(TK_BINARY_TANH_BACKWARD, g, y, name: "tanh_backward") }
    }

    /// Gaussian error linear unit, x·Φ(x) with the error function (PyTorch's default, not the
    /// tanh approximation). erf is Abramowitz & Stegun 7.1.26 (absolute error ≤ 5e-7, the
    /// approximation PyTorch's CPU kernels use), vectorized in the C kernels.
    public func gelu() -> Tensor {
        let profile = Profiler.begin(.activation); defer { Profiler.end(profile) }
        let out = Elementwise.unary(TK_UNARY_GELU, self)
        guard Tensor.isRecording(self) else { return out }
        let x = detach()
        return out.recorded("gelu", input: self) { g in Elementwise.binary(TK_BINARY_GELU_BACKWARD, g, x, name: "gelu_backward") }
    }
}
