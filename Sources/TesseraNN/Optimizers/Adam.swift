import Tessera

/// Adam and AdamW, with exactly `torch.optim.Adam`'s / `torch.optim.AdamW`'s update:
///
///     (Adam) g ← g + λ·p   (AdamW) p ← p·(1 − lr·λ)
///     m ← m + (1 − β₁)(g − m);  v ← β₂·v + (1 − β₂)·g²;  v̂ ← max(v̂, v) (amsgrad)
///     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
public class Adam: Optimizer {
    /// β₁ (first-moment decay; a schedule may cycle it through ``scheduledMomentum``).
    public private(set) var beta1: Float
    /// β₂ (second-moment decay).
    public let beta2: Float
    /// ε added to the denominator.
    public let eps: Float
    /// Weight decay λ (L2 for Adam, decoupled for AdamW).
    public let weightDecay: Float
    public override var defaultWeightDecay: Float { weightDecay }
    /// ``beta1``, which a cycling schedule sets as PyTorch's `OneCycleLR` sets `betas[0]`.
    public override var scheduledMomentum: Float? {
        get { beta1 }
        set { if let v = newValue { beta1 = v } }
    }
    /// Whether to use the maximum of past second moments (AMSGrad).
    public let amsgrad: Bool
    /// Whether the weight decay is decoupled from the gradient (AdamW).
    public let decoupled: Bool

    /// Adam over a module's parameters.
    public convenience init(_ module: Module, lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
                            weightDecay: Float = 0, amsgrad: Bool = false) {
        self.init(module: module, parameters: nil, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad, decoupled: false)
    }

    /// Adam over named parameters.
    public convenience init(parameters: [(name: String, tensor: Tensor)], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                            eps: Float = 1e-8, weightDecay: Float = 0, amsgrad: Bool = false) {
        self.init(module: nil, parameters: parameters, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad, decoupled: false)
    }

    init(module: Module?, parameters: [(name: String, tensor: Tensor)]?, lr: Float, betas: (Float, Float), eps: Float,
         weightDecay: Float, amsgrad: Bool, decoupled: Bool) {
        let n = decoupled ? "AdamW" : "Adam"
        checkHyper(lr >= 0 && lr.isFinite, "\(n): lr must be >= 0, got \(lr)")
        checkHyper(eps >= 0 && eps.isFinite, "\(n): eps must be >= 0, got \(eps)")
        checkHyper(betas.0 >= 0 && betas.0 < 1, "\(n): beta1 must be in [0, 1), got \(betas.0)")
        checkHyper(betas.1 >= 0 && betas.1 < 1, "\(n): beta2 must be in [0, 1), got \(betas.1)")
        checkHyper(weightDecay >= 0 && weightDecay.isFinite, "\(n): weightDecay must be >= 0, got \(weightDecay)")
        beta1 = betas.0
        beta2 = betas.1
        self.eps = eps
        self.weightDecay = weightDecay
        self.amsgrad = amsgrad
        self.decoupled = decoupled
        if let module { super.init(module, lr: lr) } else { super.init(parameters: parameters ?? [], lr: lr) }
    }

    public override func update(_ u: inout ParameterUpdate) {
        let m = u.buffer("exp_avg"), v = u.buffer("exp_avg_sq")
        let vmax = amsgrad ? u.buffer("max_exp_avg_sq") : nil
        let step = OptimizerKernel.AdamStep(lr: u.lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: u.weightDecay,
                                            decoupled: decoupled, step: u.state.step)
        OptimizerKernel.adam(parameter: u.parameter, gradient: u.gradient, expAvg: m, expAvgSq: v, maxExpAvgSq: vmax, step: step)
    }
}
