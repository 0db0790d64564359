import Foundation

// Activations and (log-)softmax. Forward and backward side by side over raw buffers.

extension Tensor {
    /// max(x, 0) elementwise.
    public func relu() -> Tensor {
        let out = map(kernel: ReLUKernel())
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("relu", (self, { g in Tensor.zipMap(g, y, op: "relu_backward", kernel: ReLUMaskKernel()) }))
    }

    /// x for x > 0, `negativeSlope`·x otherwise.
    public func leakyRelu(negativeSlope: Float = 0.01) -> Tensor {
        let s = negativeSlope
        let out = map { $0 > 0 ? $0 : s * $0 }
        guard Tensor.isRecording(self) else { return out }
        let x = detach()
        return out.recorded("leaky_relu", (self, { g in Tensor.zipMap(g, x, op: "leaky_relu_backward") { $1 > 0 ? $0 : s * $0 } }))
    }

    /// 1 / (1 + e⁻ˣ) elementwise.
    public func sigmoid() -> Tensor {
        let out = map { x in x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x)) }
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("sigmoid", (self, { g in Tensor.zipMap(g, y, op: "sigmoid_backward") { g, y in g * y * (1 - y) } }))
    }

    /// Hyperbolic tangent elementwise.
    public func tanh() -> Tensor {
        let out = map { Foundation.tanh($0) }
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("tanh", (self, { g in Tensor.zipMap(g, y, op: "tanh_backward") { g, y in g * (1 - y * y) } }))
    }

    /// Gaussian error linear unit, x·Φ(x) with the error function (PyTorch's default, not the
    /// tanh approximation). erf is ``VectorMath/erfAndGaussian(_:)`` (absolute error ≤ 5e-7, the
    /// approximation PyTorch's CPU kernels use), in loops that vectorize; calling libm's `erff`
    /// and `expf` per element made GELU 12% of a fastnet training step.
    public func gelu() -> Tensor {
        let x = detach().contiguous()
        // [count] → [count], split across Tessera's threads.
        let out = Tensor(empty: shape)
        let xp = x.ptr, yp = out.ptr
        withExtendedLifetime(x) {
            Parallel.forRanges(count, parts: Parallel.parts(for: count, minimum: Parallel.minimumElements)) { r in
                for i in r {
                    let v = xp[i]
                    yp[i] = 0.5 * v * (1 + VectorMath.erfAndGaussian(v * geluInvSqrt2).erf)
                }
            }
        }
        guard Tensor.isRecording(self) else { return out }
        return out.recorded("gelu", (self, { grad in
            let g = grad.contiguous()
            precondition(g.shape == x.shape, "gelu backward: gradient \(g.shape) does not match input \(x.shape)")
            let dx = Tensor(empty: x.shape)
            let gp = g.ptr, dp = dx.ptr
            Parallel.forRanges(x.count, parts: Parallel.parts(for: x.count, minimum: Parallel.minimumElements)) { r in
                for i in r {
                    let v = xp[i]
                    // Φ(x) = ½(1 + erf(x/√2)) and φ(x) = e^(−x²/2)/√(2π): the same exponential.
                    let (erf, gaussian) = VectorMath.erfAndGaussian(v * geluInvSqrt2)
                    dp[i] = gp[i] * (0.5 * (1 + erf) + v * geluInvSqrt2Pi * gaussian)
                }
            }
            return dx
        }))
    }

    /// Calls `body(rowPointer, outPointer, length)` for every line along `axis` of a contiguous
    /// copy of `self` moved so that `axis` is last, and moves the result back.
    private func alongAxis(_ axis: Int, op: String, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let a = Shape.axis(axis, rank: rank, op: op)
        var order = Array(0..<rank); order.remove(at: a); order.append(a)
        let moved = a == rank - 1 ? detach().contiguous() : detach().permuted(order).contiguous()
        let out = Tensor(empty: moved.shape)
        let n = shape.isEmpty ? 1 : shape[a]
        if n > 0 {
            for r in 0..<(moved.count / n) { body(moved.ptr + r * n, out.ptr + r * n, n) }
        }
        if a == rank - 1 { return out }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in order.enumerated() { inverse[d] = i }
        return out.permuted(inverse).contiguous()
    }

    /// Softmax along `axis`, computed stably (the row maximum is subtracted first).
    public func softmax(axis: Int = -1) -> Tensor {
        let out = alongAxis(axis, op: "softmax") { x, y, n in
            var m = -Float.infinity
            for i in 0..<n { m = Swift.max(m, x[i]) }
            var s: Float = 0
            for i in 0..<n { let e = Foundation.exp(x[i] - m); y[i] = e; s += e }
            let inv = 1 / s
            for i in 0..<n { y[i] *= inv }
        }
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("softmax", (self, { g in
            // dx = y · (g − Σ g·y)
            let gy = g * y
            return gy - y * gy.sum(axes: [axis], keepDims: true)
        }))
    }

    /// log(softmax(x)) along `axis`, computed as x − max − log Σ exp(x − max).
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let out = alongAxis(axis, op: "logSoftmax") { x, y, n in
            var m = -Float.infinity
            for i in 0..<n { m = Swift.max(m, x[i]) }
            var s: Float = 0
            for i in 0..<n { s += Foundation.exp(x[i] - m) }
            let lse = m + Foundation.log(s)
            for i in 0..<n { y[i] = x[i] - lse }
        }
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("log_softmax", (self, { g in
            // dx = g − softmax · Σ g
            g - y.exp() * g.sum(axes: [axis], keepDims: true)
        }))
    }

    /// x · weightᵀ + bias, as `torch.nn.functional.linear`: x [*, in], weight [out, in], bias [out].
    /// One GEMM with the weight passed transposed by flag; backward computes dW = gᵀ·x directly
    /// in the weight's layout (no transposed gradient to copy) and dx = g·W.
    public func linear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(weight.rank == 2 && rank >= 1 && shape[rank - 1] == weight.shape[1],
                     "linear: input \(shape) does not fit weight \(weight.shape) (expects [*, \(weight.rank == 2 ? weight.shape[1] : -1)])")
        let outF = weight.shape[0], inF = weight.shape[1]
        if let bias { precondition(bias.shape == [outF], "linear: bias \(bias.shape) does not fit weight \(weight.shape)") }
        let lead = Array(shape.dropLast()), rows = lead.reduce(1, *)
        let x = detach().contiguous(), w = weight.detach().contiguous()
        let out = Tensor(empty: lead + [outF])
        // out [rows, out] = x [rows, in] · wᵀ
        BLAS.gemmThreaded(transA: false, transB: true, m: rows, n: outF, k: inF, a: x.ptr, lda: inF, b: w.ptr, ldb: inF, c: out.ptr, ldc: outF)
        if let bias, rows > 0 {
            let b = bias.detach().contiguous()
            let bp = b.ptr, op = out.ptr
            for r in 0..<rows { let row = op + r * outF; for j in 0..<outF { row[j] += bp[j] } }
        }
        guard Tensor.isRecording(self, weight) || (bias.map { Tensor.isRecording($0) } ?? false) else { return out }
        let inShape = shape
        var inputs: [(Tensor, (Tensor) -> Tensor)] = [
            (self, { g in
                let gc = g.contiguous(), dx = Tensor(empty: inShape)
                // dx [rows, in] = g [rows, out] · w [out, in]
                BLAS.gemmThreaded(transA: false, transB: false, m: rows, n: inF, k: outF, a: gc.ptr, lda: outF, b: w.ptr, ldb: inF, c: dx.ptr, ldc: inF)
                return dx
            }),
            (weight, { g in
                let gc = g.contiguous(), dw = Tensor(empty: [outF, inF])
                // dw [out, in] = gᵀ [out, rows] · x [rows, in]
                BLAS.gemmThreaded(transA: true, transB: false, m: outF, n: inF, k: rows, a: gc.ptr, lda: outF, b: x.ptr, ldb: inF, c: dw.ptr, ldc: inF)
                return dw
            }),
        ]
        if let bias { inputs.append((bias, { g in g.reshaped([rows, outF]).sum(axes: [0]) })) }
        return out.recordedList("linear", inputs)
    }

    /// Zeroes each element with probability `p` and scales the rest by 1/(1−p) (training only).
    public func dropout(p: Float, training: Bool = true, generator: inout SeededGenerator) -> Tensor {
        precondition(p >= 0 && p <= 1, "dropout: p must be in [0, 1], got \(p)")
        guard training && p > 0 else { return self }
        if p == 1 { return self * 0 }
        let scale = 1 / (1 - p)
        let mask = Tensor(shape: shape) { buf in
            for i in buf.indices { buf[i] = generator.nextUniform() < p ? 0 : scale }
        }
        return self * mask
    }

    /// Dropout with the process-wide generator (see ``GlobalRandom``).
    public func dropout(p: Float, training: Bool = true) -> Tensor {
        GlobalRandom.with { dropout(p: p, training: training, generator: &$0) }
    }
}

/// 1/√2 and 1/√(2π), GELU's constants.
private let geluInvSqrt2: Float = 0.70710678118654752
private let geluInvSqrt2Pi: Float = 0.39894228040143268
