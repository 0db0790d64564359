import Tessera

/// A fully connected layer y = x·Wᵀ + b, as `nn.Linear`. Input `[*, inFeatures]`.
/// Parameters: `weight` `[out, in]`, `bias` `[out]`.
public final class Linear: Module {
    /// Input features.
    public let inFeatures: Int
    /// Output features.
    public let outFeatures: Int
    /// The weight `[outFeatures, inFeatures]`.
    @Parameter public var weight: Tensor
    /// The bias `[outFeatures]`, or nil when built with `bias: false`.
    @Parameter public var bias: Tensor?

    /// A layer with PyTorch's default initialization.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: features must be positive, got \(inFeatures) → \(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let (w, b) = Init.defaultWeightAndBias([outFeatures, inFeatures], bias: bias)
        self.weight = w
        self.bias = b
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor { x.linear(weight: weight, bias: bias) }

    public override var extraDescription: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(PythonStyle.bool(bias != nil))"
    }
}

/// Values printed the way PyTorch's `extra_repr` prints them.
enum PythonStyle {
    static func bool(_ b: Bool) -> String { b ? "True" : "False" }
    static func pair(_ s: Size2) -> String { "(\(s.h), \(s.w))" }
}
