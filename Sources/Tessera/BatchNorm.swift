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
        // Per-channel mean and inverse standard deviation used for normalization.
        var mean = [Float](repeating: 0, count: C), invStd = [Float](repeating: 0, count: C)
        if training {
            for c in 0..<C {
                var s: Double = 0
                for n in 0..<N { let p = xp + (n * C + c) * S; var a: Float = 0; for k in 0..<S { a += p[k] }; s += Double(a) }
                let m = Float(s / Double(M))
                var v: Double = 0
                for n in 0..<N { let p = xp + (n * C + c) * S; var a: Float = 0; for k in 0..<S { let d = p[k] - m; a += d * d }; v += Double(a) }
                let biased = Float(v / Double(M))
                mean[c] = m; invStd[c] = 1 / (biased + eps).squareRoot()
                if let rm = runningMean, let rv = runningVar {
                    let rmp = rm.storage.pointer + rm.offset, rvp = rv.storage.pointer + rv.offset
                    rmp[c * rm.strides[0]] = (1 - momentum) * rmp[c * rm.strides[0]] + momentum * m
                    rvp[c * rv.strides[0]] = (1 - momentum) * rvp[c * rv.strides[0]] + momentum * Float(v / Double(M - 1))
                }
            }
        } else {
            let rm = runningMean!.contiguous(), rv = runningVar!.contiguous()
            for c in 0..<C { mean[c] = rm.ptr[c]; invStd[c] = 1 / (rv.ptr[c] + eps).squareRoot() }
        }
        let gamma = weight.map { $0.detach().contiguous().scalars } ?? [Float](repeating: 1, count: C)
        let beta = bias.map { $0.detach().contiguous().scalars } ?? [Float](repeating: 0, count: C)
        let out = Tensor(empty: shape)
        let yp = out.ptr
        for n in 0..<N {
            for c in 0..<C {
                let scale = gamma[c] * invStd[c], shift = beta[c] - mean[c] * scale
                let src = xp + (n * C + c) * S, dst = yp + (n * C + c) * S
                for k in 0..<S { dst[k] = src[k] * scale + shift }
            }
        }
        let differentiable = [self, weight, bias].contains { $0.map { Tensor.isRecording($0) } ?? false }
        guard differentiable else { return out }

        // Σ dy and Σ dy·x̂ per channel, shared by the three backward closures of one call.
        let sums = BatchNormSums()
        func channelSums(_ g: Tensor) -> (dBeta: [Float], dGamma: [Float], gy: Tensor) {
            if let cached = sums.value, cached.gy.storage === g.storage && cached.gy.offset == g.offset { return cached }
            let gy = g.contiguous(), gp = gy.ptr
            var dBeta = [Float](repeating: 0, count: C), dGamma = [Float](repeating: 0, count: C)
            for c in 0..<C {
                var sb: Double = 0, sg: Double = 0
                for n in 0..<N {
                    let gr = gp + (n * C + c) * S, xr = xp + (n * C + c) * S
                    var ab: Float = 0, ag: Float = 0
                    for k in 0..<S { ab += gr[k]; ag += gr[k] * (xr[k] - mean[c]) }
                    sb += Double(ab); sg += Double(ag)
                }
                dBeta[c] = Float(sb); dGamma[c] = Float(sg) * invStd[c]
            }
            sums.value = (dBeta, dGamma, gy)
            return (dBeta, dGamma, gy)
        }
        var inputs: [(Tensor, (Tensor) -> Tensor)] = [(self, { g in
            let (dBeta, dGamma, gy) = channelSums(g)
            let dx = Tensor(empty: x.shape)
            let gp = gy.ptr, dp = dx.ptr
            for c in 0..<C {
                let k1 = gamma[c] * invStd[c]
                // training: dx = γ·σ⁻¹·(dy − Σdy/M − x̂·Σ(dy·x̂)/M); evaluation: dx = γ·σ⁻¹·dy
                let a = training ? dBeta[c] / Float(M) : 0, b = training ? dGamma[c] / Float(M) : 0
                for n in 0..<N {
                    let gr = gp + (n * C + c) * S, xr = xp + (n * C + c) * S, dr = dp + (n * C + c) * S
                    for k in 0..<S { dr[k] = k1 * (gr[k] - a - (xr[k] - mean[c]) * invStd[c] * b) }
                }
            }
            return dx
        })]
        if let weight { inputs.append((weight, { g in Tensor(channelSums(g).dGamma, shape: [C]) })) }
        if let bias { inputs.append((bias, { g in Tensor(channelSums(g).dBeta, shape: [C]) })) }
        return out.recordedList("batch_norm", inputs)
    }
}

/// Cache of the per-channel sums of one batch-norm backward.
private final class BatchNormSums {
    var value: (dBeta: [Float], dGamma: [Float], gy: Tensor)?
}
