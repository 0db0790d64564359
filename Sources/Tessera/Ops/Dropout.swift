extension Tensor {
    /// Zeroes each element with probability `p` and scales the rest by 1/(1−p) (training only).
    public func dropout(p: Float, training: Bool = true, generator: inout SeededGenerator) -> Tensor {
        precondition(p >= 0 && p <= 1, "dropout: p must be in [0, 1], got \(p)")
        guard training && p > 0 else { return self }
        if p == 1 { return self * 0 }
        return self * Tensor.bernoulliMask(shape, dropProbability: p, scale: 1 / (1 - p), generator: &generator)
    }

    /// Dropout with the process-wide generator (see ``GlobalRandom``).
    public func dropout(p: Float, training: Bool = true) -> Tensor {
        GlobalRandom.with { dropout(p: p, training: training, generator: &$0) }
    }
}
