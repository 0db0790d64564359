import Tessera

/// AdamW: Adam with decoupled weight decay (default λ = 0.01), as `torch.optim.AdamW`.
public final class AdamW: Adam {
    /// AdamW over a module's parameters.
    public convenience init(_ module: Module, lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
                            weightDecay: Float = 1e-2, amsgrad: Bool = false) {
        self.init(module: module, parameters: nil, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad, decoupled: true)
    }

    /// AdamW over named parameters.
    public convenience init(parameters: [(name: String, tensor: Tensor)], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                            eps: Float = 1e-8, weightDecay: Float = 1e-2, amsgrad: Bool = false) {
        self.init(module: nil, parameters: parameters, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad, decoupled: true)
    }
}
