import Foundation

extension Tensor {
    /// Batch normalization over the channel dimension 1 of an [N, C] or [N, C, *] input, as
    /// `torch.nn.functional.batch_norm`.
    ///
    /// In training, the batch mean and (biased) variance normalize the input and the running
    /// statistics are updated in place: `running = (1 − momentum)·running + momentum·batch`,
    /// with the unbiased variance, as PyTorch. In evaluation the running statistics are used.
    /// - Parameters:
    ///   - runningMean, runningVar: [C] buffers (required in evaluation).
    ///   - weight, bias: [C] affine parameters (γ, β), or nil for none.
    public func batchNorm(runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
                          training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
        batchNorm(runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                  training: training, momentum: momentum, eps: eps, relu: false)
    }

    /// `batchNorm(…).relu()` in one pass over the data, forward and backward: the ReLU is applied
    /// as the normalized values are written, and its mask is folded into batch norm's gradient
    /// sums, so neither the activation before the ReLU nor its gradient is ever stored. The
    /// parameters and the running-statistics update are those of
    /// ``batchNorm(runningMean:runningVar:weight:bias:training:momentum:eps:)``.
    public func batchNormReLU(runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
                              training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
        batchNorm(runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                  training: training, momentum: momentum, eps: eps, relu: true)
    }

    private func batchNorm(runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
                           training: Bool, momentum: Float, eps: Float, relu: Bool) -> Tensor {
        precondition(rank >= 2, "batchNorm: expects [N, C] or [N, C, *] input, got \(shape)")
        let N = shape[0], C = shape[1], S = shape.dropFirst(2).reduce(1, *)
        for (name, t) in [("runningMean", runningMean), ("runningVar", runningVar), ("weight", weight), ("bias", bias)] {
            if let t { precondition(t.shape == [C], "batchNorm: \(name) \(t.shape) does not fit input \(shape) (expects [\(C)])") }
        }
        let M = N * S
        if training { precondition(M > 1, "batchNorm: training needs more than one value per channel, got input \(shape)") }
        else { precondition(runningMean != nil && runningVar != nil, "batchNorm: evaluation needs running statistics") }
        let x = detach().contiguous()
        let xp = x.ptr
        // Per-channel mean and inverse standard deviation used for normalization: [2, C].
        let stats = Tensor(empty: [2, C])
        let mean = stats.ptr, invStd = stats.ptr + C
        // Channels are independent: split them across threads.
        let parts = Parallel.parts(for: count, minimum: Parallel.minimumElements)
        if training {
            let rmp = runningMean.map { $0.storage.pointer + $0.offset }, rms = runningMean?.strides.first ?? 0
            let rvp = runningVar.map { $0.storage.pointer + $0.offset }, rvs = runningVar?.strides.first ?? 0
            Parallel.forRanges(C, parts: parts) { channels in for c in channels {
                var s: Double = 0
                for n in 0..<N { s += Double(RowSums.sum(xp + (n * C + c) * S, S)) }
                let m = Float(s / Double(M))
                var v: Double = 0
                for n in 0..<N { v += Double(RowSums.squaredDeviation(xp + (n * C + c) * S, S, mean: m)) }
                let biased = Float(v / Double(M))
                mean[c] = m; invStd[c] = 1 / (biased + eps).squareRoot()
                if let rmp, let rvp {
                    rmp[c * rms] = (1 - momentum) * rmp[c * rms] + momentum * m
                    rvp[c * rvs] = (1 - momentum) * rvp[c * rvs] + momentum * Float(v / Double(M - 1))
                }
            } }
        } else {
            let rm = runningMean!.contiguous(), rv = runningVar!.contiguous()
            for c in 0..<C { mean[c] = rm.ptr[c]; invStd[c] = 1 / (rv.ptr[c] + eps).squareRoot() }
        }
        let gammaT = weight.map { $0.detach().contiguous() } ?? Tensor.ones([C])
        let betaT = bias.map { $0.detach().contiguous() } ?? Tensor.zeros([C])
        let gamma = gammaT.ptr, beta = betaT.ptr
        let out = Tensor(empty: shape)
        let yp = out.ptr
        Parallel.forRanges(C, parts: parts) { channels in
            for n in 0..<N {
                for c in channels {
                    let scale = gamma[c] * invStd[c], shift = beta[c] - mean[c] * scale
                    let src = xp + (n * C + c) * S, dst = yp + (n * C + c) * S
                    if relu {
                        for k in 0..<S { let v = src[k] * scale + shift; dst[k] = v > 0 ? v : 0 }   // as relu(): NaN → 0
                    } else {
                        for k in 0..<S { dst[k] = src[k] * scale + shift }
                    }
                }
            }
        }
        let differentiable = [self, weight, bias].contains { $0.map { Tensor.isRecording($0) } ?? false }
        guard differentiable else { return out }

        // Σ dy and Σ dy·x̂ per channel, shared by the three backward closures of one call. With the
        // fused ReLU, dy is the incoming gradient where the output is positive and 0 elsewhere.
        let sums = BatchNormSums()
        let y = out   // the output, for the ReLU's mask (no autograd node yet: no cycle)
        func channelSums(_ g: Tensor) -> (dBeta: Tensor, dGamma: Tensor, gy: Tensor) {
            if let cached = sums.value, cached.gy.storage === g.storage && cached.gy.offset == g.offset { return cached }
            withExtendedLifetime((x, stats, y)) {}   // the raw pointers below point into these
            let gy = g.contiguous(), gp = gy.ptr
            let dBetaT = Tensor(empty: [C]), dGammaT = Tensor(empty: [C])
            let dBeta = dBetaT.ptr, dGamma = dGammaT.ptr
            Parallel.forRanges(C, parts: parts) { channels in for c in channels {
                var sb: Double = 0, sg: Double = 0
                for n in 0..<N {
                    let row = (n * C + c) * S
                    let (ab, ag) = relu ? RowSums.gradientSums(gp + row, xp + row, S, mean: mean[c], where: yp + row)
                                        : RowSums.gradientSums(gp + row, xp + row, S, mean: mean[c])
                    sb += Double(ab); sg += Double(ag)
                }
                dBeta[c] = Float(sb); dGamma[c] = Float(sg) * invStd[c]
            } }
            sums.value = (dBetaT, dGammaT, gy)
            return (dBetaT, dGammaT, gy)
        }
        var inputs: [(Tensor, (Tensor) -> Tensor)] = [(self, { g in
            let (dBetaT, dGammaT, gy) = channelSums(g)
            let dBeta = dBetaT.ptr, dGamma = dGammaT.ptr
            let dx = Tensor(empty: x.shape)
            let gp = gy.ptr, dp = dx.ptr
            _ = (stats, gammaT, y)   // keep the statistics, γ and the output alive for this closure
            Parallel.forRanges(C, parts: parts) { channels in for c in channels {
                let k1 = gamma[c] * invStd[c]
                // training: dx = γ·σ⁻¹·(dy − Σdy/M − x̂·Σ(dy·x̂)/M); evaluation: dx = γ·σ⁻¹·dy
                let a = training ? dBeta[c] / Float(M) : 0, b = training ? dGamma[c] / Float(M) : 0
                // The statistics in locals and dy loaded whatever the mask: read through the pointers
                // inside the loops, the statistics were reloaded at every element (dx might alias
                // them) and the masked load became a branch, which kept the loops scalar (17% of a
                // ResNet-20 training step in `perf`).
                let m = mean[c], sb = invStd[c] * b
                for n in 0..<N {
                    let gr = gp + (n * C + c) * S, xr = xp + (n * C + c) * S, dr = dp + (n * C + c) * S
                    if relu {
                        let yr = yp + (n * C + c) * S
                        for k in 0..<S { let g = gr[k]; dr[k] = k1 * ((yr[k] > 0 ? g : 0) - a - (xr[k] - m) * sb) }
                    } else {
                        for k in 0..<S { dr[k] = k1 * (gr[k] - a - (xr[k] - m) * sb) }
                    }
                }
            } }
            return dx
        })]
        if let weight { inputs.append((weight, { g in channelSums(g).dGamma.clone() })) }
        if let bias { inputs.append((bias, { g in channelSums(g).dBeta.clone() })) }
        return out.recordedList(relu ? "batch_norm_relu" : "batch_norm", inputs)
    }
}

/// Cache of the per-channel sums of one batch-norm backward.
private final class BatchNormSums {
    var value: (dBeta: Tensor, dGamma: Tensor, gy: Tensor)?
}
