import CTesseraKernels

/// Softmax, log-softmax and cross-entropy over raw buffers (tk_softmax_rows, tk_cross_entropy_*).
enum SoftmaxKernel {
    /// Softmax (or log-softmax) of every row of a contiguous x [rows, n] (the last dimension);
    /// rows split across threads.
    static func rows(_ x: Tensor, log: Bool) -> Tensor {
        let out = Tensor(empty: x.shape)
        let n = x.shape.last ?? 1
        guard n > 0, x.count > 0 else { return out }
        let rows = x.count / n, xp = x.ptr, yp = out.ptr
        Parallel.forRanges(rows, parts: Parallel.parts(for: x.count, minimum: Parallel.minimumElements)) { r in
            let o = r.lowerBound * n
            if log { tk_log_softmax_rows(r.count, n, xp + o, yp + o) } else { tk_softmax_rows(r.count, n, xp + o, yp + o) }
        }
        return out
    }

    /// Cross-entropy of logits [n, c] against `targets` (class indices) with the target
    /// distribution `on` / `off`: the per-sample losses [n] and the softmax [n, c] (for backward).
    static func crossEntropy(_ logits: Tensor, targets: [Int32], on: Float, off: Float) -> (losses: Tensor, probs: Tensor) {
        let n = logits.shape[0], c = logits.shape[1]
        let probs = Tensor(empty: [n, c]), losses = Tensor(empty: [n])
        let xp = logits.ptr, pp = probs.ptr, lp = losses.ptr
        targets.withUnsafeBufferPointer { t in
            Parallel.forRanges(n, parts: Parallel.parts(for: n * c, minimum: Parallel.minimumElements)) { r in
                let i = r.lowerBound
                tk_cross_entropy_forward(r.count, c, xp + i * c, t.baseAddress! + i, on, off, pp + i * c, lp + i)
            }
        }
        return (losses, probs)
    }

    /// d loss_i / d x_ij = g_i · (p_ij − q_ij), for the per-sample gradient g [n].
    static func crossEntropyBackward(probs: Tensor, targets: [Int32], on: Float, off: Float, gradient g: Tensor) -> Tensor {
        let n = probs.shape[0], c = probs.shape[1]
        let dx = Tensor(empty: [n, c])
        let pp = probs.ptr, gp = g.ptr, dp = dx.ptr
        targets.withUnsafeBufferPointer { t in
            Parallel.forRanges(n, parts: Parallel.parts(for: n * c, minimum: Parallel.minimumElements)) { r in
                let i = r.lowerBound
                tk_cross_entropy_backward(r.count, c, pp + i * c, t.baseAddress! + i, on, off, gp + i, 1, dp + i * c)
            }
        }
        return dx
    }
}
