// Softmax and log-softmax along an axis, computed stably (the maximum subtracted first).

extension Tensor {
    /// `kernel` applied to the lines along `axis`: the axis is moved last, the rows computed, and
    /// the result moved back.
    private func alongAxis(_ axis: Int, op: String, _ kernel: (Tensor) -> Tensor) -> Tensor {
        let a = Shape.axis(axis, rank: rank, op: op)
        if a == rank - 1 || rank == 0 { return kernel(detach().contiguous()) }
        var order = Array(0..<rank); order.remove(at: a); order.append(a)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in order.enumerated() { inverse[d] = i }
        return kernel(detach().permuted(order).contiguous()).permuted(inverse).contiguous()
    }

    /// Softmax along `axis`.
    public func softmax(axis: Int = -1) -> Tensor {
        let out = alongAxis(axis, op: "softmax") { SoftmaxKernel.rows($0, log: false) }
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("softmax", input: self) { g in
            // dx = y · (g − Σ g·y)
            let gy = g * y
            return gy - y * gy.sum(axes: [axis], keepDims: true)
        }
    }

    /// log(softmax(x)) along `axis`, computed as x − max − log Σ exp(x − max).
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let out = alongAxis(axis, op: "logSoftmax") { SoftmaxKernel.rows($0, log: true) }
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("log_softmax", input: self) { g in
            // dx = g − softmax · Σ g
            g - y.exp() * g.sum(axes: [axis], keepDims: true)
        }
    }
}
