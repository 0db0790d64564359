import Tessera
import TesseraNN

/// A multi-layer perceptron: `Linear → activation → (Dropout) → … → Linear`, as the
/// `nn.Sequential` one would write in PyTorch (so parameters are named `0.weight`, `0.bias`,
/// `2.weight`, … exactly like that Sequential's state dict). Inputs of rank > 2 are flattened
/// from dimension 1 first.
public final class MLP: Sequential, ClassifierModel {
    /// Layer widths, input first and output last.
    public let widths: [Int]
    /// The hidden activation.
    public let activation: Activation
    /// The dropout probability after each hidden activation (0: no dropout layers).
    public let dropout: Float

    /// An MLP with `widths.count - 1` linear layers.
    /// - Precondition: at least two positive widths; dropout in [0, 1).
    public init(widths: [Int], activation: Activation = .relu, dropout: Float = 0) {
        precondition(widths.count >= 2 && widths.allSatisfy { $0 > 0 },
                     "MLP: needs at least 2 positive widths (input and output), got \(widths)")
        precondition(dropout >= 0 && dropout < 1, "MLP: dropout must be in [0, 1), got \(dropout)")
        self.widths = widths
        self.activation = activation
        self.dropout = dropout
        var layers: [Module] = []
        for i in 0..<(widths.count - 1) {
            layers.append(Linear(widths[i], widths[i + 1]))
            if i < widths.count - 2 {
                layers.append(activation.makeModule())
                if dropout > 0 { layers.append(Dropout(p: dropout)) }
            }
        }
        super.init(layers)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        super.forward(x.rank > 2 ? x.flattened(from: 1) : x)
    }

    /// The last Linear layer.
    public var headPath: String { String(count - 1) }

    /// The parameter count for `widths` without building the model.
    public static func parameterCount(widths: [Int]) -> Int {
        zip(widths, widths.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 + $1.1 }
    }
}
