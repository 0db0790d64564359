import Tessera

/// RMSProp, with exactly `torch.optim.RMSprop`'s update:
///
///     g ← g + λ·p;  s ← α·s + (1 − α)·g²;  a ← a + (1 − α)(g − a) (centered)
///     d ← √(s − a²) (centered) or √s, plus ε
///     b ← μ·b + g/d, p ← p − lr·b (momentum)  or  p ← p − lr·g/d
public final class RMSProp: Optimizer {
    /// Smoothing constant α.
    public let alpha: Float
    /// ε added to the denominator.
    public let eps: Float
    /// Momentum μ.
    public private(set) var momentum: Float
    /// ``momentum``, which a cycling schedule sets as PyTorch's `OneCycleLR` sets the group's `momentum`.
    public override var scheduledMomentum: Float? {
        get { momentum }
        set { if let v = newValue { momentum = v } }
    }
    /// Whether to normalize by the estimated variance (centered RMSProp).
    public let centered: Bool
    /// L2 weight decay λ.
    public let weightDecay: Float
    public override var defaultWeightDecay: Float { weightDecay }

    /// RMSProp over a module's parameters.
    public convenience init(_ module: Module, lr: Float = 1e-2, alpha: Float = 0.99, eps: Float = 1e-8, weightDecay: Float = 0,
                            momentum: Float = 0, centered: Bool = false) {
        self.init(module: module, parameters: nil, lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum, centered: centered)
    }

    /// RMSProp over named parameters.
    public convenience init(parameters: [(name: String, tensor: Tensor)], lr: Float = 1e-2, alpha: Float = 0.99, eps: Float = 1e-8,
                            weightDecay: Float = 0, momentum: Float = 0, centered: Bool = false) {
        self.init(module: nil, parameters: parameters, lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum, centered: centered)
    }

    init(module: Module?, parameters: [(name: String, tensor: Tensor)]?, lr: Float, alpha: Float, eps: Float, weightDecay: Float,
         momentum: Float, centered: Bool) {
        checkHyper(lr >= 0 && lr.isFinite, "RMSProp: lr must be >= 0, got \(lr)")
        checkHyper(alpha >= 0 && alpha <= 1, "RMSProp: alpha must be in [0, 1], got \(alpha)")
        checkHyper(eps >= 0 && eps.isFinite, "RMSProp: eps must be >= 0, got \(eps)")
        checkHyper(momentum >= 0 && momentum.isFinite, "RMSProp: momentum must be >= 0, got \(momentum)")
        checkHyper(weightDecay >= 0 && weightDecay.isFinite, "RMSProp: weightDecay must be >= 0, got \(weightDecay)")
        self.alpha = alpha
        self.eps = eps
        self.momentum = momentum
        self.centered = centered
        self.weightDecay = weightDecay
        if let module { super.init(module, lr: lr) } else { super.init(parameters: parameters ?? [], lr: lr) }
    }

    public override func update(_ u: inout ParameterUpdate) {
        let s = u.buffer("square_avg")
        let a = centered ? u.buffer("grad_avg") : nil
        let b = momentum > 0 ? u.buffer("momentum_buffer") : nil
        OptimizerKernel.rmsprop(parameter: u.parameter, gradient: u.gradient, squareAvg: s, gradAvg: a, momentumBuffer: b,
                                lr: u.lr, alpha: alpha, eps: eps, weightDecay: u.weightDecay, momentum: momentum)
    }
}
