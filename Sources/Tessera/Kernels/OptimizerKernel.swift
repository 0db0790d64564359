import Foundation
import CTesseraKernels

/// The per-element updates of the optimizers over raw buffers (tk_sgd_update, tk_adam_update,
/// tk_rmsprop_update), on contiguous tensors updated in place, split across Tessera's threads
/// for large parameters. TesseraNN's optimizers call these; exactly torch.optim's formulas.
public enum OptimizerKernel {
    private static func check(_ op: String, _ tensors: [Tensor?], count: Int) {
        for case let t? in tensors {
            precondition(t.isContiguous && t.count == count, "\(op): tensor of shape \(t.shape) must be contiguous with \(count) elements")
        }
    }

    /// `torch.optim.SGD`'s step on one parameter: g ← g + wd·p; b ← g (first step) or
    /// μb + (1 − τ)g; d ← g + μb (Nesterov) or b; p ← p − lr·d. Without a momentum buffer, p ← p − lr·g.
    public static func sgd(parameter p: Tensor, gradient g: Tensor, momentumBuffer b: Tensor?, firstStep: Bool, lr: Float,
                           weightDecay: Float, momentum: Float, dampening: Float, nesterov: Bool) {
        check("OptimizerKernel.sgd", [g, b], count: p.count)
        defer { p.storage.markMutated() }
        let pp = p.ptr, gp = g.ptr, bp = b?.ptr
        Parallel.forElements(p.count) { r in
            let i = r.lowerBound
            tk_sgd_update(r.count, pp + i, gp + i, bp.map { $0 + i }, firstStep ? 1 : 0, lr, weightDecay, momentum, dampening, nesterov ? 1 : 0)
        }
    }

    /// The constants of one Adam or AdamW step.
    public struct AdamStep: Sendable {
        /// lr, lr / (1 − β₁ᵗ), β₁, β₂, √(1 − β₂ᵗ), ε, weight decay, and whether it is decoupled (AdamW).
        public var lr: Float, stepSize: Float, beta1: Float, beta2: Float, biasCorrection2Sqrt: Float, eps: Float, weightDecay: Float
        public var decoupled: Bool
        /// The constants of step `t` (1-based).
        public init(lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float, decoupled: Bool, step t: Int) {
            let bc1 = 1 - Foundation.pow(Double(beta1), Double(t))
            self.lr = lr
            stepSize = Float(Double(lr) / bc1)
            self.beta1 = beta1
            self.beta2 = beta2
            biasCorrection2Sqrt = Float((1 - Foundation.pow(Double(beta2), Double(t))).squareRoot())
            self.eps = eps
            self.weightDecay = weightDecay
            self.decoupled = decoupled
        }
    }

    /// `torch.optim.Adam` / `AdamW`'s step on one parameter (`maxExpAvgSq` for AMSGrad).
    public static func adam(parameter p: Tensor, gradient g: Tensor, expAvg m: Tensor, expAvgSq v: Tensor, maxExpAvgSq vmax: Tensor?,
                            step: AdamStep) {
        check("OptimizerKernel.adam", [g, m, v, vmax], count: p.count)
        defer { p.storage.markMutated() }
        let s = tk_adam_step(lr: step.lr, step_size: step.stepSize, beta1: step.beta1, beta2: step.beta2,
                             bias_correction2_sqrt: step.biasCorrection2Sqrt, eps: step.eps, weight_decay: step.weightDecay,
                             decoupled: step.decoupled ? 1 : 0)
        let pp = p.ptr, gp = g.ptr, mp = m.ptr, vp = v.ptr, xp = vmax?.ptr
        withUnsafePointer(to: s) { sp in
            Parallel.forElements(p.count) { r in
                let i = r.lowerBound
                tk_adam_update(r.count, pp + i, gp + i, mp + i, vp + i, xp.map { $0 + i }, sp)
            }
        }
    }

    /// `torch.optim.RMSprop`'s step on one parameter (`gradAvg` when centered, `momentumBuffer`
    /// when momentum > 0).
    public static func rmsprop(parameter p: Tensor, gradient g: Tensor, squareAvg s: Tensor, gradAvg a: Tensor?, momentumBuffer b: Tensor?,
                               lr: Float, alpha: Float, eps: Float, weightDecay: Float, momentum: Float) {
        check("OptimizerKernel.rmsprop", [g, s, a, b], count: p.count)
        defer { p.storage.markMutated() }
        let pp = p.ptr, gp = g.ptr, sp = s.ptr, ap = a?.ptr, bp = b?.ptr
        Parallel.forElements(p.count) { r in
            let i = r.lowerBound
            tk_rmsprop_update(r.count, pp + i, gp + i, sp + i, ap.map { $0 + i }, bp.map { $0 + i }, lr, alpha, eps, weightDecay, momentum)
        }
    }
}
