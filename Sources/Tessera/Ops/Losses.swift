import CTesseraKernels

/// How a per-sample loss is reduced, as PyTorch's `reduction` argument.
public enum Reduction: String, Sendable {
    /// The mean over samples.
    case mean
    /// The sum over samples.
    case sum
    /// No reduction: one loss per sample.
    case none
}

private func reduce(_ t: Tensor, _ reduction: Reduction) -> Tensor {
    switch reduction {
    case .mean: return t.mean()
    case .sum: return t.sum()
    case .none: return t
    }
}

private func classIndices(_ targets: Tensor, n: Int, classes: Int, op: String) -> [Int] {
    precondition(targets.shape == [n], "\(op): targets \(targets.shape) do not fit logits with batch \(n) (expects [\(n)])")
    return targets.scalars.map { v in
        precondition(v.isFinite && v.rounded() == v && v >= 0 && v < Float(classes),
                     "\(op): target \(v) is not a class index in 0..<\(classes)")
        return Int(v)
    }
}

/// Cross-entropy between logits and class indices, with optional label smoothing, as
/// `torch.nn.functional.cross_entropy`. Fused: one log-softmax pass forward, and the gradient
/// `softmax − target distribution` backward.
/// - Parameters:
///   - logits: [N, C] unnormalized scores.
///   - targets: [N] class indices (stored as Float).
///   - labelSmoothing: ε in [0, 1]; the target puts 1 − ε + ε/C on the class and ε/C elsewhere.
///   - reduction: mean or sum over the batch, or none (the [N] losses).
public func crossEntropy(_ logits: Tensor, _ targets: Tensor, labelSmoothing: Float = 0, reduction: Reduction = .mean) -> Tensor {
    let profile = Profiler.begin(.loss); defer { Profiler.end(profile) }
    precondition(logits.rank == 2, "crossEntropy: logits must be [N, C], got \(logits.shape)")
    let n = logits.shape[0], c = logits.shape[1]
    return crossEntropy(logits, classIndices(targets, n: n, classes: c, op: "crossEntropy"), labelSmoothing: labelSmoothing, reduction: reduction)
}

/// Cross-entropy between logits [N, C] and class indices given as an array (see the Tensor overload).
public func crossEntropy(_ logits: Tensor, _ targets: [Int], labelSmoothing: Float = 0, reduction: Reduction = .mean) -> Tensor {
    let profile = Profiler.begin(.loss); defer { Profiler.end(profile) }
    precondition(logits.rank == 2, "crossEntropy: logits must be [N, C], got \(logits.shape)")
    let n = logits.shape[0], c = logits.shape[1]
    precondition(targets.count == n, "crossEntropy: \(targets.count) targets for logits \(logits.shape)")
    precondition(labelSmoothing >= 0 && labelSmoothing <= 1, "crossEntropy: labelSmoothing must be in [0, 1], got \(labelSmoothing)")
    for t in targets { precondition(t >= 0 && t < c, "crossEntropy: target \(t) is not a class index in 0..<\(c)") }
    let eps = labelSmoothing
    let on = 1 - eps + eps / Float(c), off = eps / Float(c)
    let indices = targets.map { Int32($0) }
    let (losses, probs) = SoftmaxKernel.crossEntropy(logits.detach().contiguous(), targets: indices, on: on, off: off)
    guard Tensor.isRecording(logits) else { return reduce(losses, reduction) }
    let perSample = losses.recorded("cross_entropy", input: logits) { g in
        SoftmaxKernel.crossEntropyBackward(probs: probs, targets: indices, on: on, off: off, gradient: g.contiguous())
    }
    return reduce(perSample, reduction)
}

/// Negative log-likelihood of class indices under log-probabilities [N, C], as `torch.nn.functional.nll_loss`.
public func nllLoss(_ logProbs: Tensor, _ targets: Tensor, reduction: Reduction = .mean) -> Tensor {
    let profile = Profiler.begin(.loss); defer { Profiler.end(profile) }
    precondition(logProbs.rank == 2, "nllLoss: log-probabilities must be [N, C], got \(logProbs.shape)")
    let n = logProbs.shape[0], c = logProbs.shape[1]
    var onehot = [Float](repeating: 0, count: n * c)
    for (i, t) in classIndices(targets, n: n, classes: c, op: "nllLoss").enumerated() { onehot[i * c + t] = 1 }
    return reduce(-(logProbs * Tensor(onehot, shape: [n, c])).sum(axes: [1]), reduction)
}

/// Mean squared error, as `torch.nn.functional.mse_loss` (shapes broadcast).
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    let d = input - target
    return reduce(d * d, reduction)
}

/// Mean absolute error, as `torch.nn.functional.l1_loss`.
public func l1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    reduce((input - target).abs(), reduction)
}

/// Binary cross-entropy on logits, computed stably as max(x, 0) − x·y + log(1 + e^−|x|),
/// as `torch.nn.functional.binary_cross_entropy_with_logits`.
public func binaryCrossEntropyWithLogits(_ logits: Tensor, _ targets: Tensor, reduction: Reduction = .mean) -> Tensor {
    let profile = Profiler.begin(.loss); defer { Profiler.end(profile) }
    precondition(logits.shape == targets.shape, "binaryCrossEntropyWithLogits: logits \(logits.shape) and targets \(targets.shape) differ")
    let x = logits.detach(), y = targets.detach()
    let out = Elementwise.binary(TK_BINARY_BCE_WITH_LOGITS, x, y, name: "bce_with_logits")
    // d/dx = σ(x) − y;  d/dy = −x
    let losses = out.recorded("bce_with_logits", inputs: [logits, targets]) { g, needs in
        [needs[0] ? g * (x.sigmoid() - y) : nil, needs[1] ? g * (-x) : nil]
    }
    return reduce(losses, reduction)
}
