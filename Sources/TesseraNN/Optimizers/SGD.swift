import Tessera

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight
/// decay, with exactly `torch.optim.SGD`'s update:
///
///     g ← g + λ·p;  b ← g (first step) or μ·b + (1 − τ)·g;  g ← g + μ·b (Nesterov) or b;  p ← p − lr·g
public final class SGD: Optimizer {
    /// Momentum factor μ (a schedule may cycle it through ``scheduledMomentum``).
    public private(set) var momentum: Float
    /// Dampening τ.
    public let dampening: Float
    /// Nesterov momentum.
    public let nesterov: Bool
    /// L2 weight decay λ.
    public let weightDecay: Float
    public override var defaultWeightDecay: Float { weightDecay }
    /// ``momentum``: a cycling schedule sets it at every step, as PyTorch's `OneCycleLR` sets the
    /// group's `momentum` (which turns momentum on for an SGD built without it).
    public override var scheduledMomentum: Float? {
        get { momentum }
        set { if let v = newValue { momentum = v } }
    }

    /// SGD over a module's parameters (re-read at every step).
    public init(_ module: Module, lr: Float, momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        (self.momentum, self.dampening, self.nesterov, self.weightDecay) =
            SGD.checked(lr: lr, momentum: momentum, dampening: dampening, nesterov: nesterov, weightDecay: weightDecay)
        super.init(module, lr: lr)
    }

    /// SGD over named parameters.
    public init(parameters: [(name: String, tensor: Tensor)], lr: Float, momentum: Float = 0, dampening: Float = 0,
                nesterov: Bool = false, weightDecay: Float = 0) {
        (self.momentum, self.dampening, self.nesterov, self.weightDecay) =
            SGD.checked(lr: lr, momentum: momentum, dampening: dampening, nesterov: nesterov, weightDecay: weightDecay)
        super.init(parameters: parameters, lr: lr)
    }

    private static func checked(lr: Float, momentum: Float, dampening: Float, nesterov: Bool, weightDecay: Float) -> (Float, Float, Bool, Float) {
        checkHyper(lr >= 0 && lr.isFinite, "SGD: lr must be >= 0, got \(lr)")
        checkHyper(momentum >= 0 && momentum.isFinite, "SGD: momentum must be >= 0, got \(momentum)")
        checkHyper(dampening.isFinite, "SGD: dampening must be finite, got \(dampening)")
        checkHyper(weightDecay >= 0 && weightDecay.isFinite, "SGD: weightDecay must be >= 0, got \(weightDecay)")
        checkHyper(!nesterov || (momentum > 0 && dampening == 0),
                   "SGD: Nesterov momentum requires momentum > 0 and dampening 0, got momentum \(momentum), dampening \(dampening)")
        return (momentum, dampening, nesterov, weightDecay)
    }

    public override func update(_ u: inout ParameterUpdate) {
        let first = momentum != 0 && !u.hasBuffer("momentum_buffer")
        let buffer = momentum != 0 ? u.buffer("momentum_buffer") : nil
        OptimizerKernel.sgd(parameter: u.parameter, gradient: u.gradient, momentumBuffer: buffer, firstStep: first, lr: u.lr,
                            weightDecay: u.weightDecay, momentum: momentum, dampening: dampening, nesterov: nesterov)
    }
}
