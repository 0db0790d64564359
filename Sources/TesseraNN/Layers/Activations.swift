import Tessera

/// An elementwise activation, as a value: what an `MLP` puts between its layers, and what a
/// batch norm can be followed by in one call (`bn(x, then: .relu)`, fused for ReLU).
public enum Activation: String, CaseIterable, Sendable {
    case relu, leakyRelu, gelu, tanh, sigmoid

    /// A fresh module computing this activation.
    public func makeModule() -> Module {
        switch self {
        case .relu: return ReLU()
        case .leakyRelu: return LeakyReLU()
        case .gelu: return GELU()
        case .tanh: return Tanh()
        case .sigmoid: return Sigmoid()
        }
    }

    /// The activation of `x` (LeakyReLU with PyTorch's default slope 0.01).
    public func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .relu: return x.relu()
        case .leakyRelu: return x.leakyRelu()
        case .gelu: return x.gelu()
        case .tanh: return x.tanh()
        case .sigmoid: return x.sigmoid()
        }
    }
}

/// max(0, x), as `nn.ReLU`.
public final class ReLU: Module {
    /// A ReLU layer.
    public override init() { super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x.relu() }
}

/// x for x ≥ 0, `negativeSlope`·x otherwise, as `nn.LeakyReLU`.
public final class LeakyReLU: Module {
    /// Slope for negative inputs.
    public let negativeSlope: Float
    /// A leaky ReLU layer.
    public init(negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope; super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x.leakyRelu(negativeSlope: negativeSlope) }
    public override var extraDescription: String { "negative_slope=\(negativeSlope)" }
}

/// 1/(1 + e^−x), as `nn.Sigmoid`.
public final class Sigmoid: Module {
    /// A sigmoid layer.
    public override init() { super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
}

/// Hyperbolic tangent, as `nn.Tanh`.
public final class Tanh: Module {
    /// A tanh layer.
    public override init() { super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x.tanh() }
}

/// The Gaussian error linear unit x·Φ(x) (exact form), as `nn.GELU`.
public final class GELU: Module {
    /// A GELU layer.
    public override init() { super.init() }
    public override func forward(_ x: Tensor) -> Tensor { x.gelu() }
}
