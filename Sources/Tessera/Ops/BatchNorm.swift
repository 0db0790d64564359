extension Tensor {
    /// Batch normalization over the channel dimension 1 of an [N, C] or [N, C, *] input, as
    /// `torch.nn.functional.batch_norm`.
    ///
    /// In training, the batch mean and (biased) variance normalize the input and the running
    /// statistics are updated in place: `running = (1 − momentum)·running + momentum·batch`,
    /// with the unbiased variance, as PyTorch. In evaluation the running statistics are used.
    /// - Parameters:
    ///   - runningMean: [C] buffer (required in evaluation; updated in training when given).
    ///   - runningVar: [C] buffer, likewise.
    ///   - weight: [C] scale γ, or nil for none.
    ///   - bias: [C] shift β, or nil for none.
    ///   - training: whether the batch's statistics normalize (and update the running ones).
    ///   - momentum: weight of the batch statistic in the running average.
    ///   - eps: added to the variance.
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
        let profile = Profiler.begin(.batchNormForward); defer { Profiler.end(profile) }
        precondition(rank >= 2, "batchNorm: expects [N, C] or [N, C, *] input, got \(shape)")
        let C = shape[1]
        for (name, t) in [("runningMean", runningMean), ("runningVar", runningVar), ("weight", weight), ("bias", bias)] {
            if let t { precondition(t.shape == [C], "batchNorm: \(name) \(t.shape) does not fit input \(shape) (expects [\(C)])") }
        }
        let kernel = BatchNormKernel(shape: shape)
        if training {
            precondition(kernel.perChannel > 1, "batchNorm: training needs more than one value per channel, got input \(shape)")
        } else {
            precondition(runningMean != nil && runningVar != nil, "batchNorm: evaluation needs running statistics")
        }
        let x = detach().contiguous()
        // Per-channel mean and inverse standard deviation used for normalization: [2, C].
        let stats = Tensor(empty: [2, C])
        if training {
            kernel.batchStatistics(x: x, eps: eps, momentum: momentum, runningMean: runningMean, runningVar: runningVar, into: stats)
        } else {
            kernel.runningStatistics(runningMean: runningMean!, runningVar: runningVar!, eps: eps, into: stats)
        }
        let gamma = weight.map { $0.detach().contiguous() }, beta = bias.map { $0.detach().contiguous() }
        let out = Tensor(empty: shape)
        kernel.forward(x: x, stats: stats, gamma: gamma, beta: beta, relu: relu, y: out)
        guard Tensor.isRecording(self, weight, bias) else { return out }

        // One backward for the three inputs. It keeps x, the statistics, γ and (for the ReLU's
        // mask) the output; the output has no autograd node yet, so this makes no cycle.
        let y = relu ? out : nil
        return out.recorded(relu ? "batch_norm_relu" : "batch_norm", inputs: [self, weight, bias]) { g, needs in
            let gy = g.contiguous()
            let dx = needs[0] ? Tensor(empty: x.shape) : nil
            // dγ and dβ come out of the same channel sums as dx, so they are computed whenever dx is.
            let dGamma = Tensor(empty: [C]), dBeta = Tensor(empty: [C])
            kernel.backward(x: x, y: y, dy: gy, stats: stats, gamma: gamma, training: training, dx: dx, dGamma: dGamma, dBeta: dBeta)
            return [dx, needs[1] ? dGamma : nil, needs[2] ? dBeta : nil]
        }
    }
}
