import Tessera

/// Randomly zeroes elements with probability `p` in training (scaling the rest by 1/(1−p)),
/// as `nn.Dropout`. Identity in evaluation mode.
public final class Dropout: Module {
    /// Drop probability.
    public let p: Float
    /// The generator for the masks; nil draws from `GlobalRandom`.
    public var generator: SeededGenerator?

    /// A dropout layer.
    public init(p: Float = 0.5, generator: SeededGenerator? = nil) {
        precondition(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got \(p)")
        self.p = p
        self.generator = generator
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        guard isTraining && p > 0 else { return x }
        guard var g = generator else { return x.dropout(p: p, training: true) }
        defer { generator = g }
        return x.dropout(p: p, training: true, generator: &g)
    }

    public override var extraDescription: String { "p=\(p)" }
}
