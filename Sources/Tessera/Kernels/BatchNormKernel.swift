import CTesseraKernels

/// Batch normalization over raw buffers (tk_batchnorm_*), channels split across threads.
/// x, y, dy, dx: [N, C, S] with S the product of the dimensions after C.
struct BatchNormKernel {
    let N: Int, C: Int, S: Int

    init(shape: [Int]) {
        N = shape[0]; C = shape[1]; S = shape.dropFirst(2).reduce(1, *)
    }

    /// Values normalized per channel, M = N·S.
    var perChannel: Int { N * S }

    private func forChannels(_ body: (_ c0: Int, _ c1: Int) -> Void) {
        Parallel.forRanges(C, parts: Parallel.parts(for: N * C * S, minimum: Parallel.minimumElements)) { r in
            body(r.lowerBound, r.upperBound)
        }
    }

    /// Batch mean and 1/σ into stats [2, C] (overwritten); updates the running statistics
    /// (contiguous or strided [C] views) when given.
    func batchStatistics(x: Tensor, eps: Float, momentum: Float, runningMean: Tensor?, runningVar: Tensor?, into stats: Tensor) {
        let xp = x.ptr, mean = stats.ptr, invStd = stats.ptr + C
        let rm = runningMean.map { $0.storage.pointer + $0.offset }, rmStride = runningMean?.strides.first ?? 0
        let rv = runningVar.map { $0.storage.pointer + $0.offset }, rvStride = runningVar?.strides.first ?? 0
        defer { runningMean?.storage.markMutated(); runningVar?.storage.markMutated() }
        forChannels { c0, c1 in
            tk_batchnorm_statistics(N, C, S, xp, c0, c1, eps, momentum, rm, rmStride, rv, rvStride, mean, invStd)
        }
    }

    /// Running statistics as mean and 1/σ into stats [2, C] (overwritten), for evaluation.
    func runningStatistics(runningMean: Tensor, runningVar: Tensor, eps: Float, into stats: Tensor) {
        let rm = runningMean.contiguous(), rv = runningVar.contiguous()
        let mean = stats.ptr, invStd = stats.ptr + C, rmp = rm.ptr, rvp = rv.ptr
        for c in 0..<C { mean[c] = rmp[c]; invStd[c] = 1 / (rvp[c] + eps).squareRoot() }
    }

    /// y = BN(x) (ReLU'd when `relu`), overwritten.  gamma, beta: [C] or nil.
    func forward(x: Tensor, stats: Tensor, gamma: Tensor?, beta: Tensor?, relu: Bool, y: Tensor) {
        let xp = x.ptr, yp = y.ptr, mean = stats.ptr, invStd = stats.ptr + C
        let gp = gamma?.ptr, bp = beta?.ptr
        forChannels { c0, c1 in
            tk_batchnorm_forward(N, C, S, xp, c0, c1, mean, invStd, gp, bp, relu ? 1 : 0, yp)
        }
    }

    /// dx, dγ, dβ in one pass per channel (each overwritten; nil ones are skipped). `y` is the
    /// fused ReLU's output, or nil without the ReLU.
    func backward(x: Tensor, y: Tensor?, dy: Tensor, stats: Tensor, gamma: Tensor?, training: Bool,
                  dx: Tensor?, dGamma: Tensor?, dBeta: Tensor?) {
        let xp = x.ptr, yp = y?.ptr, gp = dy.ptr, mean = stats.ptr, invStd = stats.ptr + C
        let gammaP = gamma?.ptr, dxp = dx?.ptr, dgp = dGamma?.ptr, dbp = dBeta?.ptr
        forChannels { c0, c1 in
            tk_batchnorm_backward(N, C, S, xp, yp, gp, c0, c1, mean, invStd, gammaP, training ? 1 : 0, dxp, dgp, dbp)
        }
    }
}
